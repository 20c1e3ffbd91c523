# Google Meet links: a second httpd configured with a service-account key talks to a local fake
# of Google's OAuth token endpoint and Calendar API (t/fakes/google_fake.pl), which checks the
# shape of what it receives. The event then follows the appointment: a reschedule moves it
# (events.patch), a cancellation deletes it (events.delete), and so does a booking that loses
# its slot under the provider's lock after the event was made. Then the fallbacks: when Google
# fails, the appointment still gets a working (Jitsi) room, a move or a deletion that fails
# leaves the appointment as the database has it, and every failure is logged.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use DocPortal::Server qw(start_httpd stop_httpd);
use DocPortal::Test qw(psql sql_quote);

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $json = JSON::PP->new->canonical;

# an RSA key for the service account; the fake verifies the assertion with the public half
system("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $dir/sa.pem 2>/dev/null") == 0
    or die 'openssl genpkey failed';
system("openssl pkey -in $dir/sa.pem -pubout -out $dir/sa.pub 2>/dev/null") == 0 or die 'pubout';
my $pem = do { local (@ARGV, $/) = ("$dir/sa.pem"); <> };

my $fake_pid = open(my $fake, '-|', 'perl', "$FindBin::Bin/../fakes/google_fake.pl",
                    '--port', '0', '--pubkey', "$dir/sa.pub") or die "fake: $!";
my $ready = <$fake>;
my ($fport) = ($ready // '') =~ /^ready (\d+)/ or die "fake did not start: " . ($ready // '');
my $fake_url = "http://127.0.0.1:$fport";
my $http = HTTP::Tiny->new(timeout => 20);

open my $kf, '>', "$dir/sa.json" or die $!;
print $kf $json->encode({
    type => 'service_account', project_id => 'dp-test', private_key_id => 'kid-1',
    private_key => $pem, client_email => 'docportal@dp-test.iam.gserviceaccount.com',
    client_id => '1234567890', token_uri => "$fake_url/token",
});
close $kf;
chmod 0600, "$dir/sa.json";
my $secret = "$dir/jwt";
{ open my $s, '>', $secret or die $!; print $s ('g' x 48), "\n"; close $s; chmod 0600, $secret }

my $srv = start_httpd(
    name => 'google', dir => $dir, params => $ENV{DOCPORTAL_DBDPARAMS}, secs => 15,
    until => \&DocPortal::Server::listening,
    extra => join("\n", "DocPortalJWTSecretFile $secret", 'DocPortalRequireTLS Off',
                  "DocPortalGoogleKeyFile $dir/sa.json", "DocPortalGoogleAPIBase $fake_url",
                  "DocPortalGoogleTokenURL $fake_url/token"));
ok(!defined $srv->{status}, 'httpd with a Google key starts') or diag $srv->{log};
my $base = "http://127.0.0.1:$srv->{port}/api";

sub call {
    my ($method, $path, $body, $token) = @_;
    my %h = ('Content-Type' => 'application/json');
    $h{Authorization} = "Bearer $token" if $token;
    my $r = $http->request($method, "$base$path",
                           { headers => \%h, defined $body ? (content => $json->encode($body)) : () });
    my $d = eval { decode_json($r->{content}) };
    return ($r->{status}, $d);
}

sub fake_requests {
    my $r = $http->get("$fake_url/__requests");
    return decode_json($r->{content});
}

sub fake_events {
    my $r = $http->get("$fake_url/__events");
    return decode_json($r->{content});
}

# What the fake received for one event (PATCH and DELETE), and every creation (POST).
sub changes_of {
    my ($event_id) = @_;
    return grep { ($_->{event_id} // '') eq $event_id } @{ fake_requests() };
}
sub creations { return grep { $_->{method} eq 'POST' && $_->{path} =~ /events$/ } @{ fake_requests() } }

# The id of the event made for an appointment (its requestId), among those logged since the
# last reset.
sub event_made_for {
    my ($appt_id) = @_;
    my ($c) = grep { $_->{body}{conferenceData}{createRequest}{requestId} eq $appt_id } creations();
    return $c ? $c->{response}{id} : '';
}

# This server writes its mail as files into $dir/mail (DocPortal::Server's default). A
# provider's email is verified through the link mailed to it. The suite's own server shares
# the database and its outbox, and its delivery pass (every second) may take the mail first:
# then it is in the suite's SMTP sink (DP_SMTP_DIR), with the same token.
sub verify_by_mail {
    my ($email) = @_;
    my @dirs = ("$dir/mail", $ENV{DP_SMTP_DIR} ? ($ENV{DP_SMTP_DIR}) : ());
    for (1 .. 150) {
        for my $f (map { sort glob "$_/*.eml" } @dirs) {
            open my $fh, '<', $f or next;
            my $m = do { local $/; <$fh> };
            next unless $m =~ /^To: \Q$email\E\r?$/m && $m =~ /^X-DocPortal-Kind: verify-email\r?$/m;
            my ($tok) = $m =~ m{/verify-email\?token=([0-9a-f]{64})} or next;
            my ($st) = call(POST => '/auth/verify-email', { token => $tok });
            return $st;
        }
        select undef, undef, undef, 0.1;
    }
    return 0;
}

my $n = int(rand(1e9));
my ($st, $prov) = call(POST => '/auth/register', {
    email => "meet.provider.$n\@clinic.example", password => 'correct horse', name => 'Dr Meet',
    userType => 'provider', hourlyRate => 150 });
is($st, 201, 'provider registered');
($st, my $cli) = call(POST => '/auth/register', {
    email => "meet.client.$n\@example.com", password => 'correct horse', name => 'C Meet',
    userType => 'client', providerId => $prov->{user}{id} });
is($st, 201, 'client registered');

my $year = 1900 + (localtime)[5] + 1;
# Google acts in a provider's name only once the provider proved its address
($st, my $unv) = call(POST => '/client/appointments',
                      { date => "$year-02-09", time => '09:00', duration => 50 }, $cli->{token});
is($st, 201, 'booked while the provider is unverified');
like($unv->{videoLink} // '', qr{^https://meet\.jit\.si/DocPortal-[0-9a-f]{32}$},
     'an unverified provider gets a Jitsi room, not a Google event in its name');
is(scalar(@{ fake_requests() }), 0, 'Google was not asked');
is(verify_by_mail("meet.provider.$n\@clinic.example"), 200,
   'the provider verifies its email through the mailed link (a file in DocPortalMailDir)');

($st, my $appt) = call(POST => '/client/appointments',
                       { date => "$year-02-10", time => '09:00', duration => 50 }, $cli->{token});
is($st, 201, 'booked with Google configured');
like($appt->{videoLink} // '', qr{^https://meet\.google\.com/[a-z]{3}-[a-z]{4}-[a-z]{3}$},
     'videoLink is the Meet link Google returned');

my $reqs = fake_requests();
my ($tok) = grep { $_->{path} eq '/token' } @$reqs;
my ($ev)  = grep { $_->{path} =~ m{/calendar/v3/calendars/primary/events$} } @$reqs;
ok($tok, 'the module asked the token endpoint');
is($tok->{body}{grant_type}, 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'JWT bearer grant')
    if $tok;
ok($tok->{jwt}{verified}, 'assertion signature verifies with the service account key') if $tok;
is($tok->{jwt}{header}{alg}, 'RS256', 'assertion is RS256') if $tok;
is($tok->{jwt}{claims}{sub}, "meet.provider.$n\@clinic.example",
   'assertion acts as the provider (domain-wide delegation subject)') if $tok;
is($tok->{jwt}{claims}{iss}, 'docportal@dp-test.iam.gserviceaccount.com', 'issuer is the service account')
    if $tok;
like($tok->{jwt}{claims}{scope} // '', qr{https://www\.googleapis\.com/auth/calendar\.events},
     'calendar.events scope') if $tok;
ok($ev, 'the module inserted a calendar event');
if ($ev) {
    is($ev->{query}{conferenceDataVersion}, '1', 'events.insert asks for conference data');
    is($ev->{body}{conferenceData}{createRequest}{conferenceSolutionKey}{type}, 'hangoutsMeet',
       'createRequest for a Meet conference');
    is($ev->{body}{conferenceData}{createRequest}{requestId}, $appt->{id},
       'requestId is the appointment id (idempotent on Google\'s side)');
    is($ev->{body}{start}{dateTime}, $appt->{startsAt}, 'event starts at the appointment');
    is($ev->{body}{end}{dateTime}, $appt->{endsAt}, 'event ends at the appointment');
    unlike($json->encode($ev->{body}), qr/C Meet|meet\.client/, 'no client name or email sent to Google');
}

# a reschedule keeps the link, creates no second event and moves the one there is
my $evid = $ev ? $ev->{response}{id} : '';
is(scalar(psql('SELECT google_event_id FROM appointments WHERE id = ' . sql_quote($appt->{id}))),
   $evid, 'the appointment keeps the event id Google answered');
$http->post("$fake_url/__reset");
($st, my $moved) = call(PATCH => "/appointments/$appt->{id}", { time => '11:00' }, $cli->{token});
is($st, 200, 'rescheduled');
is($moved->{videoLink}, $appt->{videoLink}, 'the rescheduled appointment keeps its Meet link');
is(scalar(creations()), 0, 'no new event for a reschedule');
my @ch = changes_of($evid);
is(scalar(@ch), 1, 'one request about the event');
is(scalar(@{ fake_requests() }), 1, '... and nothing else (the token is cached)');
if (@ch) {
    is($ch[0]{method}, 'PATCH', 'the event is patched (events.patch)');
    is($ch[0]{path}, "/calendar/v3/calendars/primary/events/$evid", '... by its id, in the primary calendar');
    is($ch[0]{status}, 200, '... and Google took it');
    like($ch[0]{headers}{authorization} // '', qr/^Bearer fake-/, '... with a token of the fake');
    is($ch[0]{body}{start}{dateTime}, $moved->{startsAt}, 'the event starts at the new start');
    is($ch[0]{body}{end}{dateTime}, $moved->{endsAt}, 'the event ends at the new end');
    is_deeply([sort keys %{ $ch[0]{body} }], [qw(end start)], 'only start and end are sent');
}
isnt($moved->{startsAt}, $appt->{startsAt}, 'the appointment did move');
is(fake_events()->{$evid}{start}, $moved->{startsAt}, "Google's copy moved with it");

# a new duration moves the end only
$http->post("$fake_url/__reset");
($st, my $longer) = call(PATCH => "/appointments/$appt->{id}", { duration => 80 }, $prov->{token});
is($st, 200, 'the provider makes it longer');
@ch = changes_of($evid);
is(scalar(@ch), 1, 'one PATCH for a new duration');
is($ch[0]{body}{end}{dateTime}, $longer->{endsAt}, 'the event ends at the new end') if @ch;
is($ch[0]{body}{start}{dateTime}, $moved->{startsAt}, 'and starts where it did') if @ch;

# no move, no call: a confirmation, notes, the same date and time again
$http->post("$fake_url/__reset");
($st) = call(PATCH => "/appointments/$appt->{id}", { status => 'confirmed' }, $prov->{token});
is($st, 200, 'the provider confirms');
($st) = call(PATCH => "/appointments/$appt->{id}", { notes => 'bring the forms' }, $prov->{token});
is($st, 200, 'notes edited');
($st) = call(PATCH => "/appointments/$appt->{id}",
             { date => $longer->{date}, time => $longer->{time}, duration => 80 }, $prov->{token});
is($st, 200, 'rescheduled to where it already is');
is(scalar(@{ fake_requests() }), 0, 'Google is not asked when the time does not change');

# a refused reschedule (the slot is the provider's other appointment) leaves Google alone
($st, my $other) = call(POST => '/client/appointments',
                        { date => "$year-02-14", time => '09:00', duration => 50 }, $cli->{token});
is($st, 201, 'a second Google appointment');
my $evid2 = event_made_for($other->{id});
$http->post("$fake_url/__reset");
($st, my $err) = call(PATCH => "/appointments/$other->{id}",
                      { date => $longer->{date}, time => $longer->{time} }, $cli->{token});
is($st, 409, 'a reschedule onto a taken slot is refused');
is(scalar(@{ fake_requests() }), 0, '... and Google is not asked');

# cancelling deletes the event; cancelling again (a no-op) asks nothing
$http->post("$fake_url/__reset");
($st, my $gone) = call(DELETE => "/appointments/$appt->{id}", undef, $cli->{token});
is($st, 200, 'cancelled');
is($gone->{status}, 'cancelled', 'the appointment reads as cancelled');
@ch = changes_of($evid);
is(scalar(@ch), 1, 'one request about the event');
if (@ch) {
    is($ch[0]{method}, 'DELETE', 'the event is deleted (events.delete)');
    is($ch[0]{path}, "/calendar/v3/calendars/primary/events/$evid", '... by its id');
    is($ch[0]{status}, 204, '... and Google took it');
}
ok(fake_events()->{$evid}{deleted}, "Google's copy is gone");
($st) = call(DELETE => "/appointments/$appt->{id}", undef, $cli->{token});
is($st, 200, 'cancelling it again answers as before');
is(scalar(changes_of($evid)), 1, '... and asks Google nothing');

# cancelling by PATCH status does the same
$http->post("$fake_url/__reset");
($st) = call(PATCH => "/appointments/$other->{id}", { status => 'cancelled' }, $prov->{token});
is($st, 200, 'the provider cancels the second one by PATCH');
is(scalar(grep { $_->{method} eq 'DELETE' && $_->{status} == 204 } @{ fake_requests() }), 1,
   'one DELETE');
ok($evid2 && fake_events()->{$evid2}{deleted}, '... of its event');

# a Jitsi appointment has no event: nothing to move or delete
$http->post("$fake_url/__reset");
($st) = call(PATCH => "/appointments/$unv->{id}", { time => '10:00' }, $cli->{token});
is($st, 200, 'the Jitsi appointment is rescheduled');
($st) = call(DELETE => "/appointments/$unv->{id}", undef, $cli->{token});
is($st, 200, 'and cancelled');
is(scalar(@{ fake_requests() }), 0, 'without a word to Google');

# Google fails to move or delete: the change stands, and the failure is logged
$http->post("$fake_url/__mode?mode=change_fail");
($st, my $shaky) = call(POST => '/client/appointments',
                        { date => "$year-02-15", time => '09:00', duration => 50 }, $cli->{token});
is($st, 201, 'booked (creating events still works)');
like($shaky->{videoLink} // '', qr{^https://meet\.google\.com/}, 'with a Meet link');
my $evid3 = event_made_for($shaky->{id});
$http->post("$fake_url/__reset");
($st, my $m3) = call(PATCH => "/appointments/$shaky->{id}", { time => '13:30' }, $cli->{token});
is($st, 200, 'the reschedule succeeds although Google fails to move the event');
is($m3->{time}, '13:30', 'the appointment moved');
($st, my $g3) = call(GET => "/appointments/$shaky->{id}", undef, $cli->{token});
is($g3->{time}, '13:30', '... and reads back moved');
($st, my $c3) = call(DELETE => "/appointments/$shaky->{id}", undef, $cli->{token});
is($st, 200, 'the cancellation succeeds although Google fails to delete the event');
is($c3->{status}, 'cancelled', 'the appointment is cancelled');
is_deeply([map { "$_->{method} $_->{status}" } changes_of($evid3)], ['PATCH 500', 'DELETE 500'],
          'Google was asked to move, then to delete, and failed both times');
ok(!fake_events()->{$evid3}{deleted}, "(Google's copy stays)");

# an event made without a usable link is taken back at once
$http->post("$fake_url/__mode?mode=no_link");
$http->post("$fake_url/__reset");
($st, my $nolink) = call(POST => '/client/appointments',
                         { date => "$year-02-15", time => '15:00', duration => 50 }, $cli->{token});
is($st, 201, 'booked when Google gives no Meet link');
like($nolink->{videoLink} // '', qr{^https://meet\.jit\.si/DocPortal-}, 'a Jitsi room instead');
my ($made) = creations();
my $nl_id = $made ? $made->{response}{id} : '';
is_deeply([map { "$_->{method} $_->{status}" } changes_of($nl_id)], ['DELETE 204'],
          'the link-less event is deleted');
is(scalar(psql(q{SELECT coalesce(google_event_id, 'none') || ' ' || video_provider }
               . q{FROM appointments WHERE id = } . sql_quote($nolink->{id}))),
   'none jitsi', 'the appointment keeps no event id');
$http->post("$fake_url/__mode?mode=ok");

# A booking that loses its slot under the provider's lock after its event was made: the event
# goes again. Deterministic: a psql session holds the provider's row lock (the lock a booking
# takes before its insert) while two bookings of one slot pass the cheap checks, make their
# events and queue behind it; then it commits, one booking inserts, and the other's insert
# finds the slot taken (409) and deletes its event after its rollback.
sub book_in_child {
    my ($token, $body) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        my $res = HTTP::Tiny->new(timeout => 60)->request(POST => "$base/client/appointments", {
            headers => { 'Content-Type' => 'application/json', Authorization => "Bearer $token" },
            content => $json->encode($body) });
        print {$w} "$res->{status}\n$res->{content}";
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    return [$pid, $r];
}
sub reaped {
    my ($kid) = @_;
    my ($pid, $r) = @$kid;
    my $out = do { local $/; <$r> } // '';
    close $r;
    waitpid $pid, 0;
    my ($status, $body) = split /\n/, $out, 2;
    return { status => $status // 0, body => eval { decode_json($body // '') } // {} };
}
sub waiting_on_lock {
    return scalar psql(q{SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' }
                     . q{AND query LIKE '%FOR NO KEY UPDATE%' AND query NOT LIKE '%held-by-test%'});
}
($st, my $cli3) = call(POST => '/auth/register', {
    email => "meet.client3.$n\@example.com", password => 'correct horse', name => 'C Three',
    userType => 'client', providerId => $prov->{user}{id} });
is($st, 201, 'a second client of the provider');
$http->post("$fake_url/__reset");
open(my $locker, '|-', "$ENV{DP_PSQL} -v ON_ERROR_STOP=1 >/dev/null 2>&1") or die "psql: $!";
{ my $old = select $locker; $| = 1; select $old; }
print {$locker} "BEGIN;\nSELECT 'held-by-test', id FROM users WHERE id = "
    . sql_quote($prov->{user}{id}) . " FOR NO KEY UPDATE;\n";
my $held = 0;
for (1 .. 100) {
    last if ($held = psql(q{SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' }
                        . q{AND query LIKE '%held-by-test%'})) > 0;
    select undef, undef, undef, 0.1;
}
ok($held, "psql holds the provider's lock");
my $slot = { date => "$year-02-16", time => '09:00', duration => 50 };
my @kids = (book_in_child($cli->{token}, $slot), book_in_child($cli3->{token}, $slot));
my $queued = 0;
for (1 .. 200) {
    last if ($queued = waiting_on_lock()) >= 2;
    select undef, undef, undef, 0.1;
}
is($queued, 2, 'both bookings made their events and wait for the lock');
is(scalar(creations()), 2, 'two events were made');
print {$locker} "COMMIT;\n";
close $locker;
my @res = map { reaped($_) } @kids;
my ($won) = grep { $_->{status} == 201 } @res;
my ($lost) = grep { $_->{status} == 409 } @res;
ok($won && $lost, 'one booking wins (201), the other finds the slot taken (409)')
    or diag(join ', ', map { $_->{status} } @res);
is($lost->{body}{code}, 'slot_taken', '... slot_taken') if $lost;
my @made = map { $_->{response}{id} } creations();
my $won_ev = $won ? event_made_for($won->{body}{id}) : '';
my ($lost_ev) = grep { $_ ne $won_ev } @made;
ok($won_ev && $lost_ev, "the winner's and the loser's events are told apart");
my @dels = grep { $_->{method} eq 'DELETE' } @{ fake_requests() };
is(scalar(@dels), 1, 'one DELETE');
is($dels[0]{event_id}, $lost_ev, "... of the loser's event") if @dels;
is($dels[0]{status}, 204, '... which Google took') if @dels;
ok(fake_events()->{$lost_ev}{deleted}, "the loser's event is gone") if $lost_ev;
ok(!fake_events()->{$won_ev}{deleted}, "the winner's stays") if $won_ev;
is(scalar(psql('SELECT google_event_id FROM appointments WHERE id = ' . sql_quote($won->{body}{id}))),
   $won_ev, "the winner's appointment holds its event") if $won && $won->{body}{id};

# Google fails: the appointment still gets a room, and the failure is logged
$http->post("$fake_url/__mode?mode=api_fail");
($st, my $fb) = call(POST => '/client/appointments',
                     { date => "$year-02-11", time => '09:00', duration => 50 }, $cli->{token});
is($st, 201, 'booking still succeeds when Google fails');
like($fb->{videoLink} // '', qr{^https://meet\.jit\.si/DocPortal-[0-9a-f]{32}$},
     'fallback is a Jitsi room with a 128-bit name');
# a provider whose token is not cached yet, with the token endpoint refusing the grant
$http->post("$fake_url/__mode?mode=token_fail");
($st, my $prov2) = call(POST => '/auth/register', {
    email => "meet.provider2.$n\@clinic.example", password => 'correct horse', name => 'Dr Two',
    userType => 'provider' });
is(verify_by_mail("meet.provider2.$n\@clinic.example"), 200, 'the second provider verifies its email');
($st, my $cli2) = call(POST => '/auth/register', {
    email => "meet.client2.$n\@example.com", password => 'correct horse', name => 'C Two',
    userType => 'client', providerId => $prov2->{user}{id} });
($st, $fb) = call(POST => '/client/appointments',
                  { date => "$year-02-12", time => '09:00', duration => 50 }, $cli2->{token});
is($st, 201, 'booking succeeds when the token is refused');
like($fb->{videoLink} // '', qr{^https://meet\.jit\.si/DocPortal-}, 'fallback room again');

stop_httpd($srv);
like($srv->{log}, qr/DP05001: Google Meet room for appointment \S+ failed/, 'the Google failure is logged');
my $refused = '\(Google Calendar refused to (\w+) the event \(HTTP 500, INTERNAL\)\.\)';
my ($verb) = $srv->{log} =~ /\[docportal:warn\] .*DP05003: Google event of appointment \Q$shaky->{id}\E not moved $refused/;
is($verb, 'move', 'the failed move is logged (a warning) with the appointment and the reason');
($verb) = $srv->{log} =~ /\[docportal:warn\] .*DP05004: Google event of appointment \Q$shaky->{id}\E not deleted $refused/;
is($verb, 'delete', 'the failed deletion is logged (a warning) with the appointment and the reason');
is(scalar(() = $srv->{log} =~ /DP0500[34]:/g), 2, 'and no other move or deletion failed');
unlike($srv->{log}, qr/\Qmeet.provider.$n\E/, "the provider's address is not in the log");
unlike($srv->{log}, qr/\[docportal:error\]/, 'no error-level lines from the module');
unlike($srv->{log}, qr/BEGIN PRIVATE KEY|fake-[0-9a-f]/, 'no key or token material in the log');

# DocPortalGoogleDomain: Google acts only for providers of that Workspace domain, even verified
$http->post("$fake_url/__mode?mode=ok");
$http->post("$fake_url/__reset");
$srv = start_httpd(
    name => 'google-domain', dir => $dir, params => $ENV{DOCPORTAL_DBDPARAMS}, secs => 15,
    until => \&DocPortal::Server::listening,
    extra => join("\n", "DocPortalJWTSecretFile $secret", 'DocPortalRequireTLS Off',
                  "DocPortalGoogleKeyFile $dir/sa.json", "DocPortalGoogleAPIBase $fake_url",
                  "DocPortalGoogleTokenURL $fake_url/token",
                  'DocPortalGoogleDomain other-clinic.example'));
ok(!defined $srv->{status}, 'httpd with a Google domain starts') or diag $srv->{log};
$base = "http://127.0.0.1:$srv->{port}/api";
($st, $fb) = call(POST => '/client/appointments',
                  { date => "$year-02-13", time => '09:00', duration => 50 }, $cli->{token});
is($st, 201, 'booked with the verified provider outside the configured domain');
like($fb->{videoLink} // '', qr{^https://meet\.jit\.si/DocPortal-[0-9a-f]{32}$},
     'a provider outside DocPortalGoogleDomain gets a Jitsi room');
is(scalar(@{ fake_requests() }), 0, 'Google was not asked to act as that provider');
stop_httpd($srv);

kill 'TERM', $fake_pid;
close $fake;
done_testing();
