# A provider's private calendar feed: POST/DELETE /api/provider/calendar-feed and
# GET /api/calendar/<token>.ics. The feed is read by Debian's python3-icalendar (through
# t/lib/ics_events.py, which also checks the octets: CRLF, 75-octet lines, folds outside UTF-8
# sequences) and compared with what the API says of each appointment: UTC times, statuses,
# SEQUENCE going up on a reschedule or a status change, cancelled and completed ones gone, the
# 30-day/365-day window, the client's initials and nothing else of the client. Then the link:
# stored only as a hash, a new one kills the old at once, DELETE kills it, another provider's
# feed shows its own appointments only, clients are refused, every fetch leaves one audit
# event and every refused one a denied event. Last, a long video link (a second server with a
# long DocPortalJitsiBase) is folded and round-trips through the parser.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempfile);
use JSON::PP ();
use DocPortal::Test;
use DocPortal::Server qw(stop_httpd);

# Debian's python3 (python3-icalendar is a Debian package; a python3 earlier in PATH may be
# another installation without it)
my $PY = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
my $PARSER = "$FindBin::Bin/../lib/ics_events.py";
my $JSON = JSON::PP->new->utf8->canonical;
my $PUBLIC = 'https://portal.example.test';    # DocPortalPublicURL of the suite's server
my $HEX64 = qr/[0-9a-f]{64}/;

# parse_feed($bytes) -> the parser's JSON (hashref); dies when python3 or icalendar is missing
sub parse_feed {
    my ($bytes) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    binmode $fh;
    print $fh $bytes;
    close $fh;
    my $out = `$PY $PARSER < $file 2>&1`;
    my $d = eval { $JSON->decode($out) };
    die "ics_events.py did not answer JSON (is python3-icalendar installed?):\n$out\n" unless $d;
    return $d;
}

# the path of a feed URL the API answered, or undef
sub feed_path {
    my ($url) = @_;
    return undef unless defined $url && $url =~ m{^\Q$PUBLIC\E(/api/calendar/$HEX64\.ics)$};
    return $1;
}

sub token_of { my ($path) = @_; return $path =~ m{/($HEX64)\.ics$} ? $1 : undef }

# fetch($path) -> (response, parsed feed or undef): a 200 must be a clean text/calendar feed
sub fetch {
    my ($path, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, undef, $res) = api(GET => $path);
    if ($res->code != 200) {
        fail($name);
        diag(dump_res($res));
        return ($res, { events => [], calendar => {}, problems => ['no feed'], folded => 0, longest => 0 });
    }
    my @p = common_headers_problems($res);
    my $ct = $res->header('Content-Type') // '';
    push @p, "Content-Type '$ct'" unless $ct =~ m{^text/calendar;\s*charset=utf-8$}i;
    my $feed = parse_feed($res->content);
    push @p, map { "feed: $_" } @{ $feed->{problems} };
    push @p, 'not parsed' unless $feed->{parsed};
    ok(!@p, $name) or diag(join("\n", @p) . "\n" . dump_res($res));
    return ($res, $feed);
}

sub events_by_uid { return { map { ($_->{uid} => $_) } @{ $_[0]{events} || [] } } }
sub uid { return "$_[0]\@portal.example.test" }
# '2027-01-12T15:00:00.000Z' -> '2027-01-12T15:00:00Z'
sub utc_s { my ($t) = @_; $t =~ s/\.\d+Z$/Z/; return $t }

sub create_feed {
    my ($token, $name) = @_;
    my (undef, $d, $res) = api(POST => '/api/provider/calendar-feed', token => $token);
    success_is($res, 201, $name);
    my $path = feed_path($d && $d->{url});
    ok($path, '... {url} is DocPortalPublicURL/api/calendar/<64 hex>.ics')
        or diag(dump_res($res));
    is_deeply([sort keys %{ $d || {} }], ['url'], '... and nothing else');
    return ($path // '/api/calendar/none.ics', $res);
}

# move($id, $days): the appointment starts at the current minute + $days days (straight in the
# database: the API books only the future)
sub move {
    my ($id, $days) = @_;
    psql_must(q{UPDATE appointments SET starts_at = date_trunc('minute', now()) + }
            . sql_quote("$days days") . q{::interval, ends_at = date_trunc('minute', now()) + }
            . sql_quote("$days days") . q{::interval + duration_minutes * interval '1 minute' }
            . q{WHERE id = } . sql_quote($id));
}

sub booked {
    my ($token, %b) = @_;
    my ($st, $a, $res) = book($token, time => '10:00', duration => 50, %b);
    die "booking answered $st\n" . dump_res($res) unless $st == 201;
    return $a;
}

sub appt_now { my ($tok, $id) = @_; my (undef, $a) = appt_get($tok, $id); return $a }

sub read_events {
    my ($provider_id) = @_;
    return scalar psql(q{SELECT count(*) FROM audit_events WHERE action = 'calendar_feed.read' }
                     . q{AND outcome = 'success' AND actor_id = } . sql_quote($provider_id));
}

my $log_mark = error_log_mark();

# ---- a practice, its clients, and another practice ------------------------------------------
my ($ptok, $p) = provider_session(name => 'Dr Calendar');
my $c1_email = unique_email('calfeed');
my ($c1tok, $c1) = client_session($p->{id}, name => 'ana María de la Cruz', email => $c1_email);
my ($c2tok, $c2) = client_session($p->{id}, name => "\x{c9}mile Zola");
my ($qtok, $q) = provider_session(name => 'Dr Elsewhere');
my ($dtok, $d) = client_session($q->{id}, name => 'Quentin Other');
my $NOTES = 'canary-notes-' . int(rand 1e9) . ' panic attacks since May';

# ---- who may manage a feed -------------------------------------------------------------------
{
    my (undef, undef, $res) = api(POST => '/api/provider/calendar-feed', token => $c1tok);
    error_is($res, 403, 'forbidden', undef, 'a client POSTing a calendar feed: 403');
    audit_single($res, { action => 'calendar_feed.create', outcome => 'denied', actor_id => $c1->{id} },
                 '... one denied event');
    (undef, undef, $res) = api(DELETE => '/api/provider/calendar-feed', token => $c1tok);
    error_is($res, 403, 'forbidden', undef, 'a client DELETEing a calendar feed: 403');
    audit_single($res, { action => 'calendar_feed.delete', outcome => 'denied', actor_id => $c1->{id} },
                 '... one denied event');
    (undef, undef, $res) = api(POST => '/api/provider/calendar-feed');
    error_is($res, 401, 'unauthorized', undef, 'without a session: 401');
    (undef, undef, $res) = api(GET => '/api/provider/calendar-feed', token => $ptok);
    error_is($res, 405, 'method_not_allowed', undef, 'GET /api/provider/calendar-feed: 405');
}

# ---- a new feed ----------------------------------------------------------------------------------
my ($feed, $cres) = create_feed($ptok, 'the provider creates its feed: 201');
audit_single($cres, { action => 'calendar_feed.create', resource_type => 'calendar_feed', outcome => 'success',
                      actor_id => $p->{id}, actor_type => 'provider', resource_id => $p->{id}, client_id => '' },
             '... one calendar_feed.create event');
my $token = token_of($feed);
is(scalar psql(q{SELECT token_hash FROM calendar_feeds WHERE provider_id = } . sql_quote($p->{id})),
   sha256_hex($token), 'only the SHA-256 of the token is stored');
is(scalar psql(q{SELECT count(*) FROM calendar_feeds f WHERE strpos(f::text, } . sql_quote($token) . ') > 0'),
   0, 'the token itself is nowhere in the table');

{
    my ($res, $f) = fetch($feed, 'an empty feed: 200, a clean iCalendar document');
    is_deeply($f->{events}, [], '... without events');
    my $cal = $f->{calendar} || {};
    is($cal->{VERSION}, '2.0', '... VERSION:2.0');
    like($cal->{PRODID} // '', qr/DocPortal/, '... PRODID');
    is($cal->{CALSCALE}, 'GREGORIAN', '... CALSCALE:GREGORIAN');
    is($cal->{METHOD}, 'PUBLISH', '... METHOD:PUBLISH');
    ok(length($cal->{'X-WR-CALNAME'} // ''), '... X-WR-CALNAME');
    like($res->content, qr/\ABEGIN:VCALENDAR\r\n.*\r\nEND:VCALENDAR\r\n\z/s, '... one VCALENDAR, CRLF line ends');
    audit_single($res, { action => 'calendar_feed.read', resource_type => 'calendar_feed', outcome => 'success',
                         actor_id => $p->{id}, actor_type => 'provider', resource_id => $p->{id}, client_id => '' },
                 '... one calendar_feed.read event, the feed\'s provider as actor');
}

# ---- appointments of every kind --------------------------------------------------------------------
my $a1 = booked($c1tok, date => day_offset(3), notes => $NOTES);               # pending
my $a2 = booked($c2tok, date => day_offset(4), time => '11:00');               # confirmed
is((appt_patch($ptok, $a2->{id}, status => 'confirmed'))[0], 200, 'setup: a2 confirmed');
my $a3 = booked($c1tok, date => day_offset(5));                                # cancelled
is((api(DELETE => "/api/appointments/$a3->{id}", token => $c1tok))[0], 200, 'setup: a3 cancelled');
my $a4 = booked($c1tok, date => day_offset(6));  move($a4->{id}, -29);         # 29 days ago
my $a5 = booked($c2tok, date => day_offset(7));  move($a5->{id}, -31);         # 31 days ago
my $a6 = booked($c1tok, date => day_offset(8));  move($a6->{id}, 364);         # in 364 days
my $a7 = booked($c2tok, date => day_offset(9));  move($a7->{id}, 366);         # in 366 days
my $a8 = appointment_for_note($ptok, $c1tok, status => 'completed');           # completed
my $qa = booked($dtok, date => day_offset(3), time => '10:00');                # the other practice
($a1, $a2, $a4, $a6) = map { appt_now($ptok, $_->{id}) } $a1, $a2, $a4, $a6;

my %want = ($a1->{id} => ['TENTATIVE', 0, 'Session: A. C.', $a1],
            $a2->{id} => ['CONFIRMED', 1, "Session: \x{c9}. Z.", $a2],
            $a4->{id} => ['TENTATIVE', 1, 'Session: A. C.', $a4],    # moved in the database: one change
            $a6->{id} => ['TENTATIVE', 1, 'Session: A. C.', $a6]);
my %allowed_props = map { ($_ => 1) } qw(UID DTSTAMP DTSTART DTEND SEQUENCE STATUS SUMMARY CLASS TRANSP URL
                                         LOCATION CREATED LAST-MODIFIED);
{
    my $t0 = time;
    my ($res, $f) = fetch($feed, 'the feed with appointments: 200, clean');
    my $ev = events_by_uid($f);
    is_deeply([sort keys %$ev], [sort map { uid($_) } keys %want],
              'pending and confirmed ones within 30 days back and 365 ahead; not cancelled, completed, '
            . 'out of the window, or another practice\'s');
    for my $id (sort keys %want) {
        my ($status, $seq, $summary, $a) = @{ $want{$id} };
        my $e = $ev->{ uid($id) } or next;
        is($e->{dtstart}, utc_s($a->{startsAt}), "$id: DTSTART is startsAt, in UTC");
        is($e->{dtend}, utc_s($a->{endsAt}), "$id: DTEND is endsAt, in UTC");
        is($e->{status}, $status, "$id: STATUS:$status");
        is($e->{sequence}, $seq, "$id: SEQUENCE:$seq");
        is($e->{summary}, $summary, "$id: SUMMARY is the client's initials");
        is($e->{url}, $a->{videoLink}, "$id: URL is the video link");
        is($e->{location}, $a->{videoLink}, "$id: LOCATION is the video link");
        is($e->{class}, 'PRIVATE', "$id: CLASS:PRIVATE");
        my @extra = grep { !$allowed_props{$_} } @{ $e->{props} };
        is_deeply(\@extra, [], "$id: no other property (no DESCRIPTION, ATTENDEE, ORGANIZER)");
        my $stamp = ts_epoch($e->{dtstamp}) // 0;
        ok(abs($stamp - $t0) < 300, "$id: DTSTAMP is now ($e->{dtstamp})");
    }
    my $body = $res->content;
    utf8::decode(my $text = $body);
    for my $secret ('Mar' . "\x{ed}" . 'a', 'Cruz', 'Zola', 'mile', 'Quentin', $c1_email, $c2->{email}, $NOTES,
                    'canary-notes', $a1->{type}, 'Dr Calendar') {
        unlike(lc $text, qr/\Q@{[lc $secret]}\E/, "the feed never says '$secret'");
    }
    audit_single($res, { action => 'calendar_feed.read', outcome => 'success', actor_id => $p->{id},
                         actor_type => 'provider', client_id => '' }, '... one audit event');

    # the UIDs come from DocPortalPublicURL, not from the Host a request names
    (undef, undef, $res) = api(GET => $feed, headers => [Host => 'evil.example']);
    is($res->code, 200, 'a fetch naming another Host: 200');
    my $f2 = parse_feed($res->content);
    is_deeply([sort map { $_->{uid} } @{ $f2->{events} || [] }], [sort keys %$ev], '... the same UIDs');
}

# ---- SEQUENCE: a reschedule and status changes raise it, other edits do not -----------------------------
sub seq_of {
    my ($id) = @_;
    my (undef, $f) = fetch($feed, "feed after a change of $id");
    my $e = events_by_uid($f)->{ uid($id) };
    return $e;
}
{
    my (undef, $moved, $res) = appt_patch($ptok, $a1->{id}, date => day_offset(10), time => '14:30');
    is($res->code, 200, 'the provider reschedules a1') or diag(dump_res($res));
    my $e = seq_of($a1->{id});
    is($e->{sequence}, 1, 'a1 rescheduled: SEQUENCE 0 -> 1');
    is($e->{dtstart}, utc_s($moved->{startsAt}), '... DTSTART is the new startsAt');
    is($e->{dtend}, utc_s($moved->{endsAt}), '... DTEND the new endsAt');
    isnt($e->{dtstart}, utc_s($a1->{startsAt}), '... not the old one');

    is((appt_patch($ptok, $a1->{id}, notes => 'other notes'))[0], 200, 'a1: notes edited');
    is(seq_of($a1->{id})->{sequence}, 1, '... SEQUENCE stays 1');

    is((appt_patch($ptok, $a1->{id}, status => 'confirmed'))[0], 200, 'a1 confirmed');
    $e = seq_of($a1->{id});
    is($e->{sequence}, 2, '... SEQUENCE 2');
    is($e->{status}, 'CONFIRMED', '... STATUS:CONFIRMED');

    # a client's reschedule of a confirmed appointment: new time and back to pending, one change
    (undef, $moved, $res) = appt_patch($c1tok, $a1->{id}, time => '16:00');
    is($res->code, 200, 'the client reschedules a1 (back to pending)') or diag(dump_res($res));
    $e = seq_of($a1->{id});
    is($e->{sequence}, 3, '... SEQUENCE 3 (one update, one step)');
    is($e->{status}, 'TENTATIVE', '... STATUS:TENTATIVE');
    is($e->{dtstart}, utc_s($moved->{startsAt}), '... the new DTSTART');

    psql_must(q{UPDATE appointments SET calendar_sequence = 99 WHERE id = } . sql_quote($a1->{id}));
    is(seq_of($a1->{id})->{sequence}, 3, 'the column belongs to the trigger: setting it changes nothing');

    is((api(DELETE => "/api/appointments/$a2->{id}", token => $ptok))[0], 200, 'a2 cancelled');
    my (undef, $f) = fetch($feed, 'feed after the cancellation');
    ok(!events_by_uid($f)->{ uid($a2->{id}) }, '... a2 is gone from the feed');
}

# ---- every fetch is one audit event ------------------------------------------------------------------
{
    my $before = read_events($p->{id});
    my @rids;
    for (1 .. 3) {
        my ($res) = fetch($feed, "fetch $_ of 3");
        push @rids, $res->header('X-Request-Id');
    }
    is(read_events($p->{id}) - $before, 3, 'three fetches, three calendar_feed.read events');
    is(scalar(audit_events_for($_)), 1, "... one per request ($_)") for @rids;
}

# ---- another provider's feed ---------------------------------------------------------------------------
my ($qfeed) = create_feed($qtok, 'another provider creates its feed');
isnt($qfeed, $feed, '... with a link of its own');
{
    my ($res, $f) = fetch($qfeed, "the other provider's feed: 200");
    is_deeply([map { $_->{uid} } @{ $f->{events} }], [uid($qa->{id})], '... only its own appointment');
    is($f->{events}[0]{summary}, 'Session: Q. O.', '... with its client\'s initials');
    audit_single($res, { action => 'calendar_feed.read', outcome => 'success', actor_id => $q->{id} },
                 '... its event names that provider');
    (undef, $f) = fetch($feed, 'the first feed again');
    ok(!events_by_uid($f)->{ uid($qa->{id}) }, '... without the other practice\'s appointment');
}

# ---- refused links: 404 JSON, one denied event each -------------------------------------------------------
sub refused_is {
    my ($path, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, undef, $res) = api(GET => $path);
    error_is($res, 404, 'not_found', undef, "$name: 404 not_found");
    unlike($res->content, qr/$HEX64/, '... the answer does not repeat the token');
    audit_single($res, { action => 'calendar_feed.read', resource_type => 'calendar_feed', outcome => 'denied',
                         actor_type => 'anonymous', actor_id => '', resource_id => '', client_id => '' },
                 '... one denied event, anonymous');
}
refused_is('/api/calendar/' . ('0' x 64) . '.ics', 'an unknown token');
refused_is('/api/calendar/' . uc($token) . '.ics', 'the token in upper case');
refused_is("/api/calendar/$token", 'the token without .ics');
refused_is("/api/calendar/$token.ICS", 'the token with .ICS');
refused_is("/api/calendar/$token.ics.ics", 'the token with .ics twice');
refused_is('/api/calendar/' . substr($token, 1) . '.ics', '63 hex digits');
refused_is('/api/calendar/feed.ics', 'a word');
{
    my (undef, undef, $res) = api(POST => $feed);
    error_is($res, 405, 'method_not_allowed', undef, 'POST to a feed link: 405');
}

# ---- a new link replaces the old one at once; DELETE turns the feed off ---------------------------------------
{
    my ($new) = create_feed($ptok, 'the provider asks for a new link: 201');
    isnt($new, $feed, '... a different link');
    is(scalar psql(q{SELECT count(*) FROM calendar_feeds WHERE provider_id = } . sql_quote($p->{id})), 1,
       '... still one feed');
    refused_is($feed, 'the old link after the new one');
    my (undef, $f) = fetch($new, 'the new link: 200');
    ok(events_by_uid($f)->{ uid($a1->{id}) }, '... the same appointments');

    my (undef, undef, $res) = api(DELETE => '/api/provider/calendar-feed', token => $ptok);
    success_is($res, 204, 'DELETE turns the feed off: 204', empty => 1);
    is($res->content, '', '... no body');
    audit_single($res, { action => 'calendar_feed.delete', resource_type => 'calendar_feed', outcome => 'success',
                         actor_id => $p->{id}, resource_id => $p->{id} }, '... one calendar_feed.delete event');
    refused_is($new, 'the link after DELETE');
    (undef, undef, $res) = api(DELETE => '/api/provider/calendar-feed', token => $ptok);
    success_is($res, 204, 'DELETE again: 204 (nothing to turn off)', empty => 1);
    my (undef, $qf) = fetch($qfeed, 'the other provider\'s feed is untouched');

    ($feed) = create_feed($ptok, 'a feed can be created again');
    fetch($feed, '... and answers');
}

# ---- a long video link is folded, and unfolds to the link --------------------------------------------------
{
    my $long = 'https://video-rooms.of-a-practice-with-a-rather-long-name.example.test/'
             . join('/', ('jitsi-rooms-for-our-clients') x 4);
    my $srv = session_server('calendar_jitsi', "DocPortalJitsiBase $long\nDocPortalMaxPendingPerClient 100000");
    SKIP: {
        skip 'the second httpd did not start', 10 if defined $srv->{status};
        my ($st, $a) = http_at($srv->{port}, POST => '/api/client/appointments', token => $c2tok,
                               json => { date => day_offset(12), time => '09:00', duration => 50 });
        is($st, 201, 'a booking through a server with a long DocPortalJitsiBase');
        like($a->{videoLink} // '', qr{^\Q$long\E/DocPortal-[0-9a-f]{32}$}, '... has a long video link');
        ok(length('URL:' . ($a->{videoLink} // '')) > 150, '... longer than two lines');
        my ($res, $f) = fetch($feed, 'the feed with the long link: clean');
        ok(($f->{folded} // 0) >= 4, '... lines were folded (' . ($f->{folded} // 0) . ')');
        ok(($f->{longest} // 99) <= 75, '... none longer than 75 octets (' . ($f->{longest} // '?') . ')');
        my $e = events_by_uid($f)->{ uid($a->{id}) } || {};
        is($e->{url}, $a->{videoLink}, '... URL unfolds to the video link');
        is($e->{location}, $a->{videoLink}, '... LOCATION too');

        # that server has no DocPortalPublicURL: its UIDs name its ServerName (127.0.0.1)
        my ($st2, undef, $r2) = http_at($srv->{port}, GET => $feed);
        is($st2, 200, 'the feed from the second server') or diag($r2->{content});
        my $f2 = parse_feed($r2->{content});
        is_deeply([sort map { $_->{uid} =~ s/\@127\.0\.0\.1$//r } @{ $f2->{events} }],
                  [sort map { $_->{uid} =~ s/\@portal\.example\.test$//r } @{ $f->{events} }],
                  '... the same events, their UIDs at its ServerName without DocPortalPublicURL');
    }
    stop_httpd($srv);
}

# ---- no token in the error log ------------------------------------------------------------------------------
{
    my $log = error_log_since($log_mark);
    unlike($log, qr/$HEX64\.ics|\Q$token\E/, 'no feed token in the error log');
}

done_testing();
