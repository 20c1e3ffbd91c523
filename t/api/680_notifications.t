# Notifications: the mail about appointments and messages.
#
#  1. notificationPrefs ({reminders, messages, appointments}, default true) in every user
#     object, updated through PATCH /api/auth/me (partial; 422 with field
#     notificationPrefs.<key> for an unknown key or a non-boolean, and nothing changes then);
#  2. appointment-booked (to the provider), appointment-confirmed, appointment-cancelled,
#     appointment-rescheduled (to the other party), and a provider's own booking (confirmed at
#     once, appointment-confirmed to the client): each to the right person only (never to the
#     one who acted), with the start in the provider's zone (Europe/Ljubljana, at 00:30 local,
#     so that the UTC date and time differ), the zone named, and the link
#     https://portal.example.test/appointments/<id>;
#  3. reminders (DocPortalReminderLead 1 on the suite's server): a session confirmed to start
#     in ~30 minutes gets its reminder at once and only once (several delivery passes later
#     still one), a reschedule within the hour re-arms it, a provider's own booking within the
#     hour gets one, a confirmed session cancelled before its reminder was due gets none, a
#     pending one none, a client with reminders off none; appointment_reminders holds one row
#     per (appointment, start); each reminder writes one audit event (actor_type system,
#     action reminder.queue), which the provider's audit report shows and the chain seals;
#  4. new-message: to the receiver, at most one per conversation per 15 minutes (a second
#     message gives none; 14 minutes later still none; 16 minutes later another), the link
#     https://portal.example.test/messages and never the message text;
#  5. each off-switch honoured; verification, reset and password-changed mails are sent
#     whatever the switches say;
#  6. no mail of this file carries a note, a diagnosis, a name, an address of the other party
#     or a message text;
#  7. reminders with racing children: a second httpd (3 children, each with its delivery
#     thread) on its own database and sink, 15 sessions confirmed within the hour at once:
#     exactly one reminder mail, one appointment_reminders row and one audit event each.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Mail;
use DocPortal::AuditChain qw(wait_sealed chain_verify);
use DocPortal::Server qw(start_httpd stop_httpd);
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes ();
use Time::Local ();

my $PW        = $DocPortal::Test::PASSWORD;
my $MAIL_WAIT = 20;     # seconds a mail may take to reach the sink (normally well under one)
my $PASSES    = 4;      # seconds of "no further mail": four delivery passes (DocPortalMailInterval 1)
my $PUBLIC    = 'https://portal.example.test';
my $ZONE      = 'Europe/Ljubljana';
my $UUID      = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
my @DAYS      = qw(Sunday Monday Tuesday Wednesday Thursday Friday Saturday);
my @MONTHS    = qw(January February March April May June July August September October
                   November December);
my $tag       = sprintf '%x%04x', time, int rand 65536;

# every address this file registers, and everything that must never be in a mail
my @ADDRESSES;
my %SECRET;    # label => text

# ---------------------------------------------------------------------------------------------
# helpers

sub poll {
    my ($timeout, $probe) = @_;
    my $until = Time::HiRes::time() + $timeout;
    while (1) {
        my $v = $probe->();
        return $v if $v;
        return undef if Time::HiRes::time() > $until;
        Time::HiRes::sleep(0.1);
    }
}

sub must {
    my ($what, $st, $want, $res) = @_;
    die "$what answered $st, expected $want\n" . dump_res($res) . "\n" unless $st == $want;
}

# a provider in Ljubljana (name with a marker), its token and user
sub provider {
    my ($label) = @_;
    my $email = lc unique_email("n15p$label");
    my $name = "Dr Zephyrine Quarrington-$label-$tag";
    my ($tok, $u) = provider_session(email => $email, name => $name, timeZone => $ZONE);
    push @ADDRESSES, $email;
    $SECRET{"provider name $label"} = $name;
    return ($tok, $u);
}

sub client {
    my ($label, $pid) = @_;
    my $email = lc unique_email("n15c$label");
    my $name = "Cosimo Wetherell-$label-$tag";
    my ($tok, $u) = client_session($pid, email => $email, name => $name);
    push @ADDRESSES, $email;
    $SECRET{"client name $label"} = $name;
    return ($tok, $u);
}

# (date, time) in $ZONE $min minutes from now (the time truncated to the minute: the session
# starts between $min - 1 and $min minutes from now)
sub local_in {
    my ($min) = @_;
    my $z = sql_quote($ZONE);
    my $out = psql(qq{SELECT to_char((now() + interval '$min minutes') AT TIME ZONE $z, }
                 . q{'YYYY-MM-DD|HH24:MI')});
    return split /\|/, $out;
}

sub provider_book {
    my ($ptok, %b) = @_;
    return api(POST => '/api/provider/appointments', token => $ptok, json => \%b);
}

# the mails that name this appointment (its id anywhere in them), arrival order
sub appt_mails {
    my ($id, %o) = @_;
    return grep { index($_->{raw} // '', $id) >= 0 || index($_->{body} // '', $id) >= 0 }
           mail_all_kind($o{kind});
}

sub mail_all_kind {
    my ($kind) = @_;
    return grep { !defined $kind || ($_->{kind} // '') eq $kind } mail_all();
}

# waits until $count mails of $kind name the appointment; returns them
sub wait_appt_mail {
    my ($id, $kind, $count, $timeout) = @_;
    $count //= 1;
    my @m;
    poll($timeout // $MAIL_WAIT, sub { @m = appt_mails($id, kind => $kind); @m >= $count });
    return @m;
}

sub outbox_count {
    my ($to, $kind, $prefix) = @_;
    my $sql = 'SELECT count(*) FROM outbox WHERE recipient = ' . sql_quote(lc $to)
            . (defined $kind ? ' AND kind = ' . sql_quote($kind) : '');
    return defined $prefix ? scalar DocPortal::Test::_run_psql($prefix, $sql) : scalar psql($sql);
}

sub describe { join "\n", map { ($_->{kind} // '?') . ' -> ' . join(',', @{ $_->{env_to} || [] })
                                . " ($_->{file})" } @_ }

# the start of an appointment in words, as a regex: "Tuesday 04 May 2027" (or 4 May, or
# "Tuesday, May 4, 2027"), from its local date
sub when_re {
    my ($date) = @_;
    my ($y, $m, $d) = split /-/, $date;
    my $t = Time::Local::timegm(0, 0, 12, $d, $m - 1, $y);
    my $wd = $DAYS[(gmtime $t)[6]];
    my $mon = $MONTHS[$m - 1];
    my $dd = $d + 0;
    return qr/\b\Q$wd\E,?\s+(?:0?$dd\s+\Q$mon\E,?|\Q$mon\E\s+0?$dd,?)\s+$y\b/;
}

# utc HH:MM of an appointment's startsAt
sub utc_hhmm {
    my ($ts) = @_;
    my @t = gmtime(ts_epoch($ts) // 0);
    return sprintf '%02d:%02d', $t[2], $t[1];
}

# checks one appointment mail: kind, recipient only, the start in the provider's zone, the
# zone named, the link, no other link
sub appt_mail_ok {
    my ($m, $kind, $to, $appt, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $public = $o{public} // $PUBLIC;
    unless (ok($m, "$name: a $kind mail arrived")) {
        return;
    }
    my $body = $m->{body} // '';
    my @p;
    push @p, 'X-DocPortal-Kind is ' . ($m->{kind} // 'none') if ($m->{kind} // '') ne $kind;
    push @p, 'envelope recipients ' . join(',', @{ $m->{env_to} || [] })
        unless @{ $m->{env_to} || [] } == 1 && lc $m->{env_to}[0] eq lc $to;
    push @p, 'To is ' . ($m->{to} // 'none') unless lc($m->{to} // '') eq lc $to;
    ok(!@p, "$name: $kind to $to only") or diag(join("\n", @p));
    my @links = $body =~ m{(https?://[^\s<>"')]+)}g;
    is_deeply(\@links, ["$public/appointments/$appt->{id}"],
              "$name: the one link is $public/appointments/<id>") or diag($body);
    like($body, when_re($appt->{date}), "$name: the local date ($appt->{date} in $ZONE) in words")
        or diag($body);
    like($body, qr/(?<![\d:])\Q$appt->{time}\E(?![\d:])/, "$name: the local time $appt->{time}")
        or diag($body);
    my $utc = utc_hhmm($appt->{startsAt});
    unlike($body, qr/(?<![\d:])\Q$utc\E(?![\d:])/, "$name: not the UTC time $utc") if $utc ne $appt->{time};
    like($body, qr/\Q$ZONE\E/, "$name: the zone is named ($ZONE)") or diag($body);
}

# exact tally: the (kind, recipient) pairs of every mail naming the appointment
sub tally_is {
    my ($id, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @got = sort map { ($_->{kind} // '?') . ' ' . lc join(',', @{ $_->{env_to} || [] }) }
              appt_mails($id);
    my @exp = sort map { "$_->[0] " . lc $_->[1] } @$want;
    is_deeply(\@got, \@exp, $name) or diag("got:\n  " . join("\n  ", @got) . "\nexpected:\n  "
                                           . join("\n  ", @exp));
}

# appointment_reminders rows of an appointment: starts_at as epoch, in order
sub reminder_rows {
    my ($id, $prefix) = @_;
    my $sql = q{SELECT extract(epoch FROM starts_at)::bigint FROM appointment_reminders }
            . q{WHERE appointment_id = } . sql_quote($id) . q{::uuid ORDER BY starts_at};
    my $out = defined $prefix ? DocPortal::Test::_run_psql($prefix, $sql) : psql($sql);
    return grep { length } split /\n/, $out // '';
}

# the audit events of reminders for an appointment: "actor_type|actor_id|action|resource_type|
# resource_id|client_id|outcome|ip|request_id" per row
sub reminder_audit {
    my ($id, $prefix) = @_;
    my $sql = q{SELECT actor_type, coalesce(actor_id::text, ''), action, coalesce(resource_type, ''), }
            . q{coalesce(resource_id, ''), coalesce(client_id::text, ''), outcome, coalesce(ip, ''), }
            . q{coalesce(request_id, '') FROM audit_events WHERE action = 'reminder.queue' }
            . q{AND resource_id = } . sql_quote($id) . q{ ORDER BY seq};
    my $out = defined $prefix ? DocPortal::Test::_run_psql($prefix, $sql) : psql($sql);
    return grep { length } split /\n/, $out // '';
}

sub me_prefs {
    my ($tok) = @_;
    my ($st, $d) = api(GET => '/api/auth/me', token => $tok);
    return $st == 200 && ref $d eq 'HASH' ? $d->{user}{notificationPrefs} : undef;
}

sub set_prefs {
    my ($tok, %p) = @_;
    my %json = map { $_ => ($p{$_} ? JSON::PP::true() : JSON::PP::false()) } keys %p;
    my ($st, $d, $res) = api(PATCH => '/api/auth/me', token => $tok,
                             json => { notificationPrefs => \%json });
    must('PATCH /api/auth/me notificationPrefs', $st, 200, $res);
    return $d->{user}{notificationPrefs};
}

sub prefs { my (%p) = @_; return { map { $_ => ($p{$_} ? JSON::PP::true() : JSON::PP::false()) } keys %p } }
my $ALL_ON = prefs(reminders => 1, messages => 1, appointments => 1);

# =============================================================================================
# 1. notificationPrefs: default, round trip through PATCH and GET /me, partial, 422
# =============================================================================================
my ($st, $d, $res);
my $pfemail = lc unique_email('n15prefs');
($st, $d, $res) = register_provider(email => $pfemail, name => "Dr Prefs $tag", timeZone => $ZONE);
is($st, 201, 'a provider registers') or diag(dump_res($res));
push @ADDRESSES, $pfemail;
my $pftok = $d->{token};
is_deeply($d->{user}{notificationPrefs}, $ALL_ON, 'register: notificationPrefs all true by default');
is_deeply(me_prefs($pftok), $ALL_ON, 'GET /me: all true by default');
is(psql(q{SELECT notification_prefs::text FROM users WHERE email = } . sql_quote($pfemail)), '{}',
   'nothing stored until the user says otherwise');

($st, $d, $res) = api(PATCH => '/api/auth/me', token => $pftok,
                      json => { notificationPrefs => { messages => JSON::PP::false() } });
my $u = success_is($res, 200, 'PATCH /me {notificationPrefs: {messages: false}}: 200');
is_deeply($u->{user}{notificationPrefs}, prefs(reminders => 1, messages => 0, appointments => 1),
          '... the answer has messages false, the rest true');
is_deeply(me_prefs($pftok), prefs(reminders => 1, messages => 0, appointments => 1),
          '... and GET /me says so');
($st, $d, $res) = api(PATCH => '/api/auth/me', token => $pftok,
                      json => { notificationPrefs => { reminders => JSON::PP::false() } });
is($st, 200, 'PATCH /me {reminders: false}: 200') or diag(dump_res($res));
is_deeply($d->{user}{notificationPrefs}, prefs(reminders => 0, messages => 0, appointments => 1),
          '... partial: messages stays false');
($st, $d, $res) = api(PATCH => '/api/auth/me', token => $pftok, json => { name => "Dr Prefs Renamed $tag" });
is($st, 200, 'PATCH /me {name} only: 200') or diag(dump_res($res));
is_deeply($d->{user}{notificationPrefs}, prefs(reminders => 0, messages => 0, appointments => 1),
          '... a PATCH without notificationPrefs leaves them as they are');
($st, $d, $res) = api(PATCH => '/api/auth/me', token => $pftok, json => { notificationPrefs => {} });
is($st, 200, 'PATCH /me {notificationPrefs: {}}: 200') or diag(dump_res($res));
is_deeply($d->{user}{notificationPrefs}, prefs(reminders => 0, messages => 0, appointments => 1),
          '... an empty object changes nothing');
($st, $d, $res) = login($pfemail, $PW);
is($st, 200, 'login: 200') or diag(dump_res($res));
is_deeply($d->{user}{notificationPrefs}, prefs(reminders => 0, messages => 0, appointments => 1),
          'login: the user object has the stored prefs');
($st, $d, $res) = api(PATCH => '/api/auth/me', token => $pftok,
                      json => { notificationPrefs => { appointments => JSON::PP::false(),
                                                       messages => JSON::PP::true() } });
is($st, 200, 'PATCH /me two keys at once: 200') or diag(dump_res($res));
is_deeply($d->{user}{notificationPrefs}, prefs(reminders => 0, messages => 1, appointments => 0),
          '... both applied, the third kept');
is_deeply(me_prefs($pftok), prefs(reminders => 0, messages => 1, appointments => 0), '... GET /me agrees');

my $before = psql(q{SELECT notification_prefs::text || '|' || name FROM users WHERE email = } . sql_quote($pfemail));
my @bad = (
    [{ bogus => JSON::PP::true() }, 'notificationPrefs.bogus', 'an unknown key'],
    [{ email => JSON::PP::false() }, 'notificationPrefs.email', 'a mandatory kind (email)'],
    [{ verification => JSON::PP::false() }, 'notificationPrefs.verification', 'verification'],
    [{ messages => 'no' }, 'notificationPrefs.messages', 'a string'],
    [{ reminders => 0 }, 'notificationPrefs.reminders', 'a number'],
    [{ appointments => undef }, 'notificationPrefs.appointments', 'null'],
    [{ messages => 'false' }, 'notificationPrefs.messages', "the string 'false'"],
    [{ reminders => [JSON::PP::false()] }, 'notificationPrefs.reminders', 'an array'],
    [{ messages => JSON::PP::true(), bogus => JSON::PP::false() }, 'notificationPrefs.bogus',
     'a good key beside an unknown one'],
);
for my $b (@bad) {
    my ($np, $field, $what) = @$b;
    (undef, undef, $res) = api(PATCH => '/api/auth/me', token => $pftok, json => { notificationPrefs => $np });
    error_is($res, 422, 'validation_error', $field, "PATCH /me notificationPrefs with $what: 422 $field");
}
for my $np ('off', JSON::PP::false(), [], 1) {
    (undef, undef, $res) = api(PATCH => '/api/auth/me', token => $pftok, json => { notificationPrefs => $np });
    error_is($res, 422, 'validation_error', qr/^notificationPrefs(?:\.|$)/,
             'PATCH /me notificationPrefs ' . (ref $np ? ref $np : "'$np'") . ': 422 notificationPrefs');
}
(undef, undef, $res) = api(PATCH => '/api/auth/me', token => $pftok,
                           json => { name => "Dr Never Saved $tag", notificationPrefs => { bogus => JSON::PP::true() } });
error_is($res, 422, 'validation_error', 'notificationPrefs.bogus', 'PATCH /me {name, bad prefs}: 422');
is(psql(q{SELECT notification_prefs::text || '|' || name FROM users WHERE email = } . sql_quote($pfemail)),
   $before, 'the refused PATCHes changed nothing (prefs nor name)');
is_deeply(me_prefs($pftok), prefs(reminders => 0, messages => 1, appointments => 0), '... GET /me as before');
set_prefs($pftok, reminders => 1, messages => 1, appointments => 1);
is_deeply(me_prefs($pftok), $ALL_ON, 'all back on');

# a client's prefs round-trip too, and its provider's client list shows them
{
    my ($ctok, $cu) = client('prefs', undef);
    is_deeply($cu->{notificationPrefs}, $ALL_ON, 'client register: all true');
    ($st, $d, $res) = api(PATCH => '/api/auth/me', token => $ctok,
                          json => { notificationPrefs => { reminders => JSON::PP::false() } });
    is($st, 200, 'client PATCH /me {reminders: false}: 200') or diag(dump_res($res));
    is_deeply($d->{user}{notificationPrefs}, prefs(reminders => 0, messages => 1, appointments => 1),
              '... answered');
    is_deeply(me_prefs($ctok), prefs(reminders => 0, messages => 1, appointments => 1), '... GET /me');
}

# =============================================================================================
# 2. the appointment mails, each once, to the other party only
# =============================================================================================
my ($ptok, $P) = provider('main');
my ($ctok, $C) = client('main', $P->{id});
is($P->{timeZone}, $ZONE, "the provider's zone is $ZONE");
$SECRET{'appointment notes'} = "PHIAPPTNOTE-$tag recurring nightmares since the accident";
$SECRET{'diagnosis'}         = "PHIDX-$tag F43.10";
$SECRET{'private notes'}     = "PHIPRIV-$tag private observation";
$SECRET{'note content'}      = "PHINOTE-$tag patient disclosed self-harm";
$SECRET{'provider email'}    = lc $P->{email};
$SECRET{'client email'}      = lc $C->{email};

($st, $d, $res) = api(GET => '/api/provider/clients', token => $ptok);
is($st, 200, 'the provider lists its clients') or diag(dump_res($res));
my ($listed) = grep { $_->{id} eq $C->{id} } @{ ref $d eq 'ARRAY' ? $d : ref $d eq 'HASH' ? ($d->{clients} || []) : [] };
is_deeply($listed ? $listed->{notificationPrefs} : undef, $ALL_ON, '... its client object has notificationPrefs');

# a: the client asks for a session at 00:30 in Ljubljana (22:30 or 23:30 UTC the day before)
($st, my $A, $res) = book($ctok, date => day_offset(12), time => '00:30', duration => 50,
                          notes => $SECRET{'appointment notes'});
is($st, 201, 'the client books (pending) at 00:30 local') or diag(dump_res($res));
is($A->{status}, 'pending', '... pending');
is(outbox_count($P->{email}, 'appointment-booked'), 1,
   '... the appointment-booked mail is queued with the booking (in the outbox when it answered)');
my ($m) = wait_appt_mail($A->{id}, 'appointment-booked');
appt_mail_ok($m, 'appointment-booked', $P->{email}, $A, 'booked');

# b: the provider confirms; a clinical note with a diagnosis exists from then on
($st, $d, $res) = appt_patch($ptok, $A->{id}, status => 'confirmed');
is($st, 200, 'the provider confirms') or diag(dump_res($res));
($m) = wait_appt_mail($A->{id}, 'appointment-confirmed');
appt_mail_ok($m, 'appointment-confirmed', $C->{email}, $A, 'confirmed');
($st, undef, $res) = note_create($ptok, appointmentId => $A->{id}, type => 'Progress',
                                 content => { text => $SECRET{'note content'} },
                                 diagnosis => $SECRET{diagnosis}, privateNotes => $SECRET{'private notes'});
is($st, 201, 'a clinical note with a diagnosis') or diag(dump_res($res));

# c: the provider moves it (it stays confirmed): the client hears
($st, my $A2, $res) = appt_patch($ptok, $A->{id}, date => day_offset(13), time => '00:15');
is($st, 200, 'the provider reschedules') or diag(dump_res($res));
is($A2->{status}, 'confirmed', '... still confirmed');
($m) = wait_appt_mail($A->{id}, 'appointment-rescheduled');
appt_mail_ok($m, 'appointment-rescheduled', $C->{email}, $A2, 'rescheduled by the provider (new time)');

# d: the client moves it (back to pending): the provider hears
($st, my $A3, $res) = appt_patch($ctok, $A->{id}, date => day_offset(14), time => '00:45');
is($st, 200, 'the client reschedules') or diag(dump_res($res));
is($A3->{status}, 'pending', '... pending again');
my @rs = wait_appt_mail($A->{id}, 'appointment-rescheduled', 2);
($m) = grep { lc($_->{env_to}[0] // '') eq lc $P->{email} } @rs;
appt_mail_ok($m, 'appointment-rescheduled', $P->{email}, $A3, 'rescheduled by the client');

# e: confirmed again, f: the client cancels: the provider hears
($st, undef, $res) = appt_patch($ptok, $A->{id}, status => 'confirmed');
is($st, 200, 'the provider confirms again') or diag(dump_res($res));
my @cf = wait_appt_mail($A->{id}, 'appointment-confirmed', 2);
appt_mail_ok($cf[1], 'appointment-confirmed', $C->{email}, $A3, 'confirmed again');
($st, undef, $res) = api(DELETE => "/api/appointments/$A->{id}", token => $ctok);
is($st, 200, 'the client cancels') or diag(dump_res($res));
($m) = wait_appt_mail($A->{id}, 'appointment-cancelled');
appt_mail_ok($m, 'appointment-cancelled', $P->{email}, $A3, 'cancelled by the client');

# g: another request, cancelled by the provider: the client hears
($st, my $B, $res) = book($ctok, date => day_offset(15), time => '00:30', duration => 50);
is($st, 201, 'a second request') or diag(dump_res($res));
($st, undef, $res) = api(DELETE => "/api/appointments/$B->{id}", token => $ptok);
is($st, 200, 'the provider declines it (cancels)') or diag(dump_res($res));
($m) = wait_appt_mail($B->{id}, 'appointment-cancelled');
appt_mail_ok($m, 'appointment-cancelled', $C->{email}, $B, 'cancelled by the provider');
($m) = wait_appt_mail($B->{id}, 'appointment-booked');
appt_mail_ok($m, 'appointment-booked', $P->{email}, $B, 'second request booked');

# h: the provider's own booking: confirmed at once, the client hears appointment-confirmed
($st, my $O, $res) = provider_book($ptok, clientId => $C->{id}, date => day_offset(16), time => '00:30',
                                   duration => 50, notes => $SECRET{'appointment notes'});
is($st, 201, "the provider's own booking: 201") or diag(dump_res($res));
is($O->{status}, 'confirmed', '... confirmed at once');
($m) = wait_appt_mail($O->{id}, 'appointment-confirmed');
appt_mail_ok($m, 'appointment-confirmed', $C->{email}, $O, "provider's own booking");

# a completion mails nobody
($st, my $Q, $res) = provider_book($ptok, clientId => $C->{id}, date => day_offset(17), time => '00:30',
                                   duration => 50);
is($st, 201, 'one more booking, to be completed') or diag(dump_res($res));
appt_to_past($Q->{id}, 120);
($st, undef, $res) = appt_patch($ptok, $Q->{id}, status => 'completed');
is($st, 200, '... completed') or diag(dump_res($res));

# the tally, a few delivery passes later: nothing to the one who acted, nothing twice
Time::HiRes::sleep($PASSES);
tally_is($A->{id}, [['appointment-booked', $P->{email}], ['appointment-confirmed', $C->{email}],
                    ['appointment-rescheduled', $C->{email}], ['appointment-rescheduled', $P->{email}],
                    ['appointment-confirmed', $C->{email}], ['appointment-cancelled', $P->{email}]],
         'appointment A: exactly booked->provider, confirmed->client (x2), rescheduled each way, '
       . 'cancelled->provider');
tally_is($B->{id}, [['appointment-booked', $P->{email}], ['appointment-cancelled', $C->{email}]],
         'appointment B: booked->provider, cancelled->client');
tally_is($O->{id}, [['appointment-confirmed', $C->{email}]],
         "the provider's own booking: only confirmed->client (no appointment-booked)");
tally_is($Q->{id}, [['appointment-confirmed', $C->{email}]], 'a completion mails nobody');
for my $id ($A->{id}, $B->{id}, $O->{id}, $Q->{id}) {
    is(scalar(reminder_rows($id)), 0, "no reminder for a session days ahead ($id)");
}

# =============================================================================================
# 3. reminders (DocPortalReminderLead 1 hour)
# =============================================================================================
# R1: confirmed to start in ~30 minutes: its reminder at once, and only one
my ($r1p, $R1P) = provider('r1');
my ($r1c, $R1C) = client('r1', $R1P->{id});
my ($day, $time) = local_in(31);
($st, my $R1, $res) = book($r1c, date => $day, time => $time, duration => 15);
is($st, 201, "R1: a session in ~30 minutes ($day $time $ZONE)") or diag(dump_res($res));
Time::HiRes::sleep(2.5);
is(scalar(appt_mails($R1->{id}, kind => 'reminder')), 0, 'R1: no reminder while it is pending');
is(scalar(reminder_rows($R1->{id})), 0, 'R1: no appointment_reminders row while pending');
my $t0 = Time::HiRes::time();
($st, undef, $res) = appt_patch($r1p, $R1->{id}, status => 'confirmed');
is($st, 200, 'R1: confirmed') or diag(dump_res($res));
my ($rm) = wait_appt_mail($R1->{id}, 'reminder');
my $took = Time::HiRes::time() - $t0;
ok($rm && $took < 10, sprintf('R1: the reminder comes at once (%.1f s after the confirmation)', $took));
appt_mail_ok($rm, 'reminder', $R1C->{email}, $R1, 'R1 reminder');
note("a reminder as mailed:\n" . ($rm->{subject} // '') . "\n" . ($rm->{body} // '')) if $rm;
Time::HiRes::sleep($PASSES);
is(scalar(appt_mails($R1->{id}, kind => 'reminder')), 1, "R1: still exactly one reminder $PASSES s later");
is(outbox_count($R1C->{email}, 'reminder'), 1, 'R1: one reminder row in the outbox');
is_deeply([reminder_rows($R1->{id})], [ts_epoch($R1->{startsAt})],
          'R1: one appointment_reminders row, for its start');
my @aud = reminder_audit($R1->{id});
is(scalar @aud, 1, 'R1: one reminder.queue audit event');
is($aud[0], join('|', 'system', '', 'reminder.queue', 'appointment', $R1->{id}, $R1C->{id}, 'success', '', ''),
   'R1: the event: actor_type system, no actor, appointment, the client, success') if @aud;

# R1 moved within the hour by the provider (stays confirmed): a new reminder for the new start
($day, $time) = local_in(48);
($st, my $R1b, $res) = appt_patch($r1p, $R1->{id}, date => $day, time => $time);
is($st, 200, "R1: moved to $day $time") or diag(dump_res($res));
is($R1b->{status}, 'confirmed', '... still confirmed');
my @rm = wait_appt_mail($R1->{id}, 'reminder', 2);
is(scalar @rm, 2, 'R1: a second reminder after the move');
appt_mail_ok($rm[1], 'reminder', $R1C->{email}, $R1b, 'R1 reminder after the move (new time)') if @rm >= 2;
Time::HiRes::sleep($PASSES);
is(scalar(appt_mails($R1->{id}, kind => 'reminder')), 2, 'R1: two reminders in all, no third');
is_deeply([reminder_rows($R1->{id})], [sort { $a <=> $b } ts_epoch($R1->{startsAt}), ts_epoch($R1b->{startsAt})],
          'R1: two appointment_reminders rows, one per start');
is(scalar(reminder_audit($R1->{id})), 2, 'R1: two reminder.queue events');
tally_is($R1->{id}, [['appointment-booked', $R1P->{email}], ['appointment-confirmed', $R1C->{email}],
                     ['reminder', $R1C->{email}], ['appointment-rescheduled', $R1C->{email}],
                     ['reminder', $R1C->{email}]], 'R1: every mail about it');

# R2: the provider's own booking in ~25 minutes: confirmed, and the reminder at once
my ($r2p, $R2P) = provider('r2');
my ($r2c, $R2C) = client('r2', $R2P->{id});
($day, $time) = local_in(26);
($st, my $R2, $res) = provider_book($r2p, clientId => $R2C->{id}, date => $day, time => $time, duration => 15);
is($st, 201, "R2: the provider books $day $time") or diag(dump_res($res));
my ($r2m) = wait_appt_mail($R2->{id}, 'reminder');
appt_mail_ok($r2m, 'reminder', $R2C->{email}, $R2, 'R2 reminder');

# R3: confirmed 3 hours ahead (no reminder yet), cancelled, then its start comes within the
# hour: no reminder; R3b: a pending session in ~40 minutes, cancelled: none either
my ($r3p, $R3P) = provider('r3');
my ($r3c, $R3C) = client('r3', $R3P->{id});
($day, $time) = local_in(181);
($st, my $R3, $res) = book($r3c, date => $day, time => $time, duration => 15);
is($st, 201, 'R3: a session 3 hours ahead') or diag(dump_res($res));
($st, undef, $res) = appt_patch($r3p, $R3->{id}, status => 'confirmed');
is($st, 200, 'R3: confirmed') or diag(dump_res($res));
wait_appt_mail($R3->{id}, 'appointment-confirmed');
($day, $time) = local_in(41);
($st, my $R3b, $res) = book($r3c, date => $day, time => $time, duration => 15);
is($st, 201, 'R3b: a pending session in ~40 minutes') or diag(dump_res($res));
Time::HiRes::sleep(2.5);
is(scalar(reminder_rows($R3->{id})), 0, 'R3: no reminder 3 hours ahead (outside the lead)');
($st, undef, $res) = api(DELETE => "/api/appointments/$R3->{id}", token => $r3c);
is($st, 200, 'R3: the client cancels the confirmed session') or diag(dump_res($res));
($st, undef, $res) = api(DELETE => "/api/appointments/$R3b->{id}", token => $r3c);
is($st, 200, 'R3b: the client cancels the pending one') or diag(dump_res($res));
# time passes: the cancelled session now starts in 50 minutes
psql(q{UPDATE appointments SET starts_at = now() + interval '50 minutes', }
   . q{ends_at = now() + interval '65 minutes' WHERE id = } . sql_quote($R3->{id}) . '::uuid');
Time::HiRes::sleep($PASSES);
is(scalar(appt_mails($R3->{id}, kind => 'reminder')), 0, 'R3: a cancelled session gets no reminder');
is(scalar(reminder_rows($R3->{id})), 0, 'R3: no appointment_reminders row');
is(scalar(appt_mails($R3b->{id}, kind => 'reminder')), 0, 'R3b: a pending then cancelled session gets none');
is(outbox_count($R3C->{email}, 'reminder'), 0, 'R3: no reminder row in the outbox for the client');

# R4: a client with reminders off: confirmed in ~30 minutes, no reminder (appointment mail still)
my ($r4p, $R4P) = provider('r4');
my ($r4c, $R4C) = client('r4', $R4P->{id});
is_deeply(set_prefs($r4c, reminders => 0), prefs(reminders => 0, messages => 1, appointments => 1),
          'R4: the client turns reminders off');
($day, $time) = local_in(31);
($st, my $R4, $res) = provider_book($r4p, clientId => $R4C->{id}, date => $day, time => $time, duration => 15);
is($st, 201, 'R4: the provider books it in ~30 minutes') or diag(dump_res($res));
ok(scalar(wait_appt_mail($R4->{id}, 'appointment-confirmed')), 'R4: appointment-confirmed still comes');
Time::HiRes::sleep($PASSES);
is(scalar(appt_mails($R4->{id}, kind => 'reminder')), 0, 'R4: no reminder for a client who turned them off');
is(scalar(reminder_rows($R4->{id})), 0, 'R4: no appointment_reminders row');
is(scalar(reminder_audit($R4->{id})), 0, 'R4: no reminder.queue event');

# R5: appointments off, reminders on: the reminder comes, the confirmation mail does not
my ($r5p, $R5P) = provider('r5');
my ($r5c, $R5C) = client('r5', $R5P->{id});
set_prefs($r5c, appointments => 0);
($day, $time) = local_in(35);
($st, my $R5, $res) = provider_book($r5p, clientId => $R5C->{id}, date => $day, time => $time, duration => 15);
is($st, 201, 'R5: the provider books it in ~35 minutes') or diag(dump_res($res));
my ($r5m) = wait_appt_mail($R5->{id}, 'reminder');
appt_mail_ok($r5m, 'reminder', $R5C->{email}, $R5, 'R5 reminder (appointment mail off, reminders on)');
Time::HiRes::sleep($PASSES);
tally_is($R5->{id}, [['reminder', $R5C->{email}]], 'R5: only the reminder');

# the audit report shows a reminder as the system's event; the chain seals and verifies
($st, $d, $res) = audit_report($r1p, { action => 'reminder.queue', resourceId => $R1->{id} });
is($st, 200, "R1's provider reads its audit report for reminder.queue") or diag(dump_res($res));
my @ev = ref $d eq 'HASH' ? @{ $d->{events} || [] } : ();
is(scalar @ev, 2, '... two events (one per start)');
is_deeply([map { [$_->{actorType}, $_->{actorId}, $_->{resourceType}, $_->{clientId}, $_->{outcome}] } @ev],
          [map { ['system', undef, 'appointment', $R1C->{id}, 'success'] } 1 .. 2],
          '... actorType system, no actorId, the appointment and client');
($st, $d, $res) = audit_report($r1p, { actorType => 'system' });
is($st, 200, '... actorType=system filter: 200') or diag(dump_res($res));
ok(ref $d eq 'HASH' && @{ $d->{events} || [] } >= 2, '... lists them');
# (only this file's reminder events: earlier files of the suite leave back-dated rows on
# purpose, which the verifier reports whatever this test does)
ok(wait_sealed(20, q{e.action = 'reminder.queue' AND e.actor_type = 'system'}),
   'every reminder event gets sealed into the chain');
my ($vrc, $vout, $verr) = chain_verify();
unlike("$vout\n$verr", qr/reminder|system|actor_type/i,
       'dp-audit-verify has nothing to say about the system events') or diag("$vout\n$verr");

# =============================================================================================
# 4. new-message: one per conversation per 15 minutes, no text
# =============================================================================================
my ($mp, $MP) = provider('msg');
my ($mc, $MC) = client('msg', $MP->{id});
my @texts = map { "PHIMSG$_-$tag I stopped taking the lithium" } 1 .. 6;
$SECRET{"message $_"} = $texts[$_ - 1] for 1 .. 6;
sub nm_to { my ($to) = @_; return grep { ($_->{kind} // '') eq 'new-message' } mails_to($to) }

($st, undef, $res) = send_message($mc, $MP->{id}, $texts[0]);
is($st, 201, 'the client writes to the provider') or diag(dump_res($res));
my $nm = wait_mail(to => $MP->{email}, kind => 'new-message', timeout => $MAIL_WAIT);
ok($nm, 'the provider gets a new-message mail');
if ($nm) {
    my @links = ($nm->{body} // '') =~ m{(https?://[^\s<>"')]+)}g;
    is_deeply(\@links, ["$PUBLIC/messages"], 'new-message: the one link is https://portal.example.test/messages')
        or diag($nm->{body});
    is_deeply([map { lc } @{ $nm->{env_to} }], [lc $MP->{email}], 'new-message: to the receiver only');
    unlike($nm->{body} // '', qr/PHIMSG|lithium/, 'new-message: no message text');
}
($st, undef, $res) = send_message($mc, $MP->{id}, $texts[1]);
is($st, 201, 'a second message right after') or diag(dump_res($res));
Time::HiRes::sleep($PASSES);
is(scalar(nm_to($MP->{email})), 1, 'two messages within 15 minutes: one mail');
is(outbox_count($MP->{email}, 'new-message'), 1, '... one outbox row');
is(scalar(nm_to($MC->{email})), 0, 'the sender gets no new-message mail');
my $notice_where = q{WHERE receiver_id = } . sql_quote($MP->{id}) . q{::uuid AND sender_id = }
                 . sql_quote($MC->{id}) . q{::uuid};
is(psql(qq{SELECT count(*) FROM message_notices $notice_where}), '1', 'one message_notices row for the conversation');
psql(qq{UPDATE message_notices SET notified_at = now() - interval '14 minutes' $notice_where});
($st, undef, $res) = send_message($mc, $MP->{id}, $texts[2]);
is($st, 201, 'a third message, 14 minutes after the mail') or diag(dump_res($res));
Time::HiRes::sleep($PASSES);
is(scalar(nm_to($MP->{email})), 1, '... still within 15 minutes: no mail');
psql(qq{UPDATE message_notices SET notified_at = now() - interval '16 minutes' $notice_where});
($st, undef, $res) = send_message($mc, $MP->{id}, $texts[3]);
is($st, 201, 'a fourth message, 16 minutes after the mail') or diag(dump_res($res));
my @nms = wait_mail(to => $MP->{email}, kind => 'new-message', count => 2, timeout => $MAIL_WAIT);
is(scalar @nms, 2, '... another mail');
Time::HiRes::sleep($PASSES);
is(scalar(nm_to($MP->{email})), 2, '... and only that one');
# the other direction is the client's own conversation
($st, undef, $res) = send_message($mp, $MC->{id}, $texts[4]);
is($st, 201, 'the provider answers') or diag(dump_res($res));
ok(wait_mail(to => $MC->{email}, kind => 'new-message', timeout => $MAIL_WAIT), 'the client gets a new-message mail');
Time::HiRes::sleep($PASSES);
is(scalar(nm_to($MC->{email})), 1, '... one');
is(scalar(nm_to($MP->{email})), 2, '... and the provider none for its own message');
# A notice that fails after its message committed leaves the message sent, and the answer
# says so (201): a 5xx would have the sender send it again.
{
    my $mark = error_log_mark();
    psql(q{CREATE FUNCTION dp_test_fail_notice() RETURNS trigger LANGUAGE plpgsql AS }
       . q{$$ BEGIN RAISE EXCEPTION 'dp_test: the notice is refused'; END $$; }
       . q{CREATE TRIGGER dp_test_fail_notice BEFORE INSERT ON message_notices }
       . q{FOR EACH ROW EXECUTE FUNCTION dp_test_fail_notice()});
    psql(qq{UPDATE message_notices SET notified_at = now() - interval '16 minutes' $notice_where});
    my $text = "PHIMSG7-$tag its notice fails";
    $SECRET{'message 7'} = $text;
    my ($fst, $sent, $fres) = send_message($mc, $MP->{id}, $text);
    psql(q{DROP TRIGGER dp_test_fail_notice ON message_notices; DROP FUNCTION dp_test_fail_notice()});
    is($fst, 201, 'a message whose notice fails after the message committed: 201') or diag(dump_res($fres));
    my (undef, $page) = conversation($mp, $MC->{id});
    my $id = ref $sent eq 'HASH' ? $sent->{id} // '' : '';
    ok($id ne '' && (grep { ($_->{id} // '') eq $id && ($_->{message} // '') eq $text }
                     @{ ref $page eq 'ARRAY' ? $page : [] }),
       '... the message is there, as answered');
    Time::HiRes::sleep($PASSES);
    is(scalar(nm_to($MP->{email})), 2, '... and no mail was queued for it');
    my $lines = error_log_since($mark);
    like($lines, qr/DP02008: statement message_notice_queue failed: .*dp_test: the notice is refused/,
         '... the failed notice is logged');
    expect_error_lines($lines);
}
# messages off: no mail, even when the 15 minutes are over
set_prefs($mc, messages => 0);
psql(q{UPDATE message_notices SET notified_at = now() - interval '16 minutes' WHERE receiver_id = }
   . sql_quote($MC->{id}) . '::uuid');
($st, undef, $res) = send_message($mp, $MC->{id}, $texts[5]);
is($st, 201, 'the provider writes to a client with message mail off') or diag(dump_res($res));
Time::HiRes::sleep($PASSES);
is(scalar(nm_to($MC->{email})), 1, 'messages off: no new-message mail');
is(outbox_count($MC->{email}, 'new-message'), 1, '... no outbox row either');
# messages sent at the same moment into a new conversation: one mail
{
    my ($rp, $RP) = provider('msgrace');
    my ($rcl, $RC) = client('msgrace', $RP->{id});
    my @r = race(map { { method => 'POST', path => '/api/messages', token => $rcl,
                         json => { receiverId => $RP->{id}, message => "PHIMSGRACE-$tag $_" } } } 1 .. 6);
    is(scalar(grep { $_->{status} == 201 } @r), 6, 'six messages at once into a new conversation: all 201')
        or diag(join ' ', map { $_->{status} } @r);
    ok(wait_mail(to => $RP->{email}, kind => 'new-message', timeout => $MAIL_WAIT), '... a new-message mail');
    Time::HiRes::sleep($PASSES);
    is(scalar(nm_to($RP->{email})), 1, '... exactly one');
    is(outbox_count($RP->{email}, 'new-message'), 1, '... one outbox row');
    $SECRET{'raced message'} = "PHIMSGRACE-$tag";
}
for my $nmail (nm_to($MP->{email}), nm_to($MC->{email})) {
    unlike($nmail->{body} // '', qr/PHIMSG|lithium|Wetherell|Quarrington/, "new-message to $nmail->{to}: no text, no name");
}

# =============================================================================================
# 5. the other off-switches; the mandatory mails
# =============================================================================================
# the provider with appointment mail off: no appointment-booked, no appointment-cancelled
my ($op, $OP) = provider('off');
my ($oc, $OC) = client('off', $OP->{id});
set_prefs($op, appointments => 0);
($st, my $OA, $res) = book($oc, date => day_offset(20), time => '00:30', duration => 50);
is($st, 201, 'a client books with a provider who turned appointment mail off') or diag(dump_res($res));
is(outbox_count($OP->{email}, 'appointment-booked'), 0, '... no appointment-booked queued');
($st, undef, $res) = appt_patch($oc, $OA->{id}, date => day_offset(21));
is($st, 200, '... the client moves it') or diag(dump_res($res));
($st, undef, $res) = api(DELETE => "/api/appointments/$OA->{id}", token => $oc);
is($st, 200, '... and cancels it') or diag(dump_res($res));
is(outbox_count($OP->{email}), 1, '... no appointment mail queued for the provider (only its verify-email)')
    or diag(psql(q{SELECT kind FROM outbox WHERE recipient = } . sql_quote(lc $OP->{email})));
# the client with appointment mail off: no confirmed, rescheduled, cancelled
set_prefs($op, appointments => 1);
set_prefs($oc, appointments => 0);
($st, my $OB, $res) = book($oc, date => day_offset(22), time => '00:30', duration => 50);
is($st, 201, 'a client with appointment mail off books') or diag(dump_res($res));
($st, undef, $res) = appt_patch($op, $OB->{id}, status => 'confirmed');
is($st, 200, '... confirmed') or diag(dump_res($res));
($st, undef, $res) = appt_patch($op, $OB->{id}, date => day_offset(23));
is($st, 200, '... moved by the provider') or diag(dump_res($res));
($st, undef, $res) = api(DELETE => "/api/appointments/$OB->{id}", token => $op);
is($st, 200, '... cancelled by the provider') or diag(dump_res($res));
($st, my $OC2, $res) = provider_book($op, clientId => $OC->{id}, date => day_offset(24), time => '00:30');
is($st, 201, "... and the provider's own booking") or diag(dump_res($res));
Time::HiRes::sleep($PASSES);
tally_is($OA->{id}, [], 'provider off: no mail at all about the first appointment');
tally_is($OB->{id}, [['appointment-booked', $OP->{email}]],
         'client off: only the provider (who has it on again) heard of the second');
tally_is($OC2->{id}, [], "client off: no mail about the provider's own booking");

# verification, reset and password-changed mails cannot be turned off
set_prefs($oc, reminders => 0, messages => 0, appointments => 0);
psql(q{UPDATE email_tokens SET created_at = created_at - interval '2 minutes' WHERE user_id = }
   . sql_quote($OC->{id}) . q{::uuid AND purpose = 'verify-email'});
($st, undef, $res) = api(POST => '/api/auth/verify-email/resend', token => $oc);
is($st, 202, 'every kind off: verify-email/resend 202') or diag(dump_res($res));
my @vm = wait_mail(to => $OC->{email}, kind => 'verify-email', count => 2, timeout => $MAIL_WAIT);
is(scalar @vm, 2, '... the verification mail is sent all the same (with the one of the registration)');
($st, undef, $res) = api(POST => '/api/auth/password-reset', json => { email => $OC->{email} });
is($st, 202, 'every kind off: password-reset 202') or diag(dump_res($res));
ok(wait_mail(to => $OC->{email}, kind => 'password-reset', timeout => $MAIL_WAIT),
   '... the reset mail is sent all the same');
($st, $d, $res) = api(POST => '/api/auth/change-password', token => $oc,
                      json => { currentPassword => $PW, newPassword => 'An0ther-secret-pw' });
is($st, 200, 'every kind off: change-password 200') or diag(dump_res($res));
ok(wait_mail(to => $OC->{email}, kind => 'password-changed', timeout => $MAIL_WAIT),
   '... the password-changed mail is sent all the same');
# an invitation goes out whatever its provider's switches say
set_prefs($op, reminders => 0, messages => 0, appointments => 0);
my $invemail = lc unique_email('n15inv');
($st, $d, $res) = invite_client($op, email => $invemail, name => "Invited Person $tag");
is($st, 201, 'a provider with every kind off invites a client') or diag(dump_res($res));
ok(wait_mail(to => $invemail, kind => 'invite', timeout => $MAIL_WAIT), '... the invite mail is sent');
push @ADDRESSES, $invemail;

# =============================================================================================
# 6. nothing of the practice in any mail of this file
# =============================================================================================
my %mine = map { lc $_ => 1 } @ADDRESSES;
my @mine = grep { grep { $mine{ lc $_ } } @{ $_->{env_to} || [] } } mail_all();
ok(@mine >= 30, 'this file sent ' . scalar(@mine) . ' mails');
my %kinds;
$kinds{ $_->{kind} // '?' }++ for @mine;
for my $k (qw(appointment-booked appointment-confirmed appointment-cancelled appointment-rescheduled
              reminder new-message)) {
    ok($kinds{$k}, "at least one $k mail ($k: " . ($kinds{$k} // 0) . ')');
}
for my $label (sort keys %SECRET) {
    my $w = $SECRET{$label};
    my @hits = grep { index($_->{body} // '', $w) >= 0 || index($_->{subject} // '', $w) >= 0 } @mine;
    # a recipient's own address is in its To header; never in a body
    ok(!@hits, "no mail body or subject holds the $label") or diag(describe(@hits));
}
for my $w (qw(Zephyrine Quarrington Cosimo Wetherell)) {
    my @hits = grep { index($_->{body} // '', $w) >= 0 || index($_->{subject} // '', $w) >= 0 } @mine;
    ok(!@hits, "no mail names '$w'") or diag(describe(@hits));
}
my @phi = grep { ($_->{body} // '') =~ /PHI|nightmare|lithium|F43|self-harm/ } @mine;
ok(!@phi, 'no mail holds health information') or diag(describe(@phi));

# =============================================================================================
# 7. reminders with racing children: a second httpd (3 children) on its own database and sink
# =============================================================================================
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $sink = "$dir/sink";
mkdir $sink or die "mkdir $sink: $!";
chmod 0777, $sink;
my $fake_pid = open(my $fake, '-|', 'perl', "$FindBin::Bin/../fakes/smtp_fake.pl", '--port', '0',
                    '--dir', $sink, '--delay-ms', '20') or die "smtp fake: $!";
my $ready = <$fake>;
my ($fport) = ($ready // '') =~ /^ready (\d+)/;
ok($fport, 'a second SMTP sink starts') or diag($ready // 'no ready line');
END { if ($fake_pid) { kill 'TERM', $fake_pid; waitpid $fake_pid, 0 } }

my $racedb = "docportal_remind_$$";
my ($o, $rc, $err) = psql("CREATE DATABASE $racedb OWNER docportal_owner");
is($rc, 0, "a database of its own ($racedb)") or diag($err);
psql("REVOKE ALL ON DATABASE $racedb FROM PUBLIC");
psql("GRANT CONNECT ON DATABASE $racedb TO docportal_app");
(my $race_owner = owner_url()) =~ s{/[^/?]+(\?|$)}{/$racedb$1};
my $mig = `DATABASE_URL='$race_owner' bash '$ENV{DP_ROOT}/build/migrate.sh' 2>&1`;
is($? >> 8, 0, '... migrated') or diag($mig);
(my $race_params = $ENV{DOCPORTAL_DBDPARAMS}) =~ s/dbname=\S+/dbname=$racedb/;
(my $race_psql = $ENV{DP_PSQL}) =~ s/-d \S+/-d $racedb/;
END { psql("DROP DATABASE IF EXISTS $racedb WITH (FORCE)") if $racedb }
sub rpsql { return scalar DocPortal::Test::_run_psql($race_psql, $_[0]) }

# the public URL with a trailing slash: links must not get a double slash
my $RPUBLIC = 'https://remind.example.test';
my $srv = start_httpd(
    name => 'remind', dir => $dir, params => $race_params, secs => 20,
    until => \&DocPortal::Server::listening,
    mpm => "StartServers 3\nServerLimit 3\nThreadsPerChild 10\nMaxRequestWorkers 30\n"
         . "MinSpareThreads 5\nMaxSpareThreads 30",
    mail => "DocPortalSMTPURL smtp://127.0.0.1:" . ($fport // 1) . "\nDocPortalMailInterval 1\n"
          . "DocPortalPublicURL $RPUBLIC/\n"
          . "DocPortalMailFrom no-reply\@remind.example.test",
    extra => "DocPortalJWTSecretFile $ENV{DOCPORTAL_JWT_SECRET_FILE}\nDocPortalRequireTLS Off\n"
           . "DocPortalReminderLead 1\n");
ok(!defined $srv->{status}, 'the racing httpd starts (3 children)') or diag($srv->{log});
END { stop_httpd($srv) if $srv }

my $port = $srv->{port};
my (@race_appts, @race_clients, @race_ptoks);
my $NPROV = 5;
my $PER   = 3;
for my $k (1 .. $NPROV) {
    my ($s, $rd) = api_at($port, POST => '/api/auth/register',
                          json => { email => lc unique_email("n15rp$k"), password => $PW,
                                    name => "Race Provider $k", userType => 'provider', timeZone => $ZONE });
    my $rptok = ref $rd eq 'HASH' ? $rd->{token} : undef;
    ok($s == 201 && $rptok, "racing server: provider $k registers") or next;
    for my $j (0 .. $PER - 1) {
        my $cemail = lc unique_email("n15rc$k.$j");
        my ($s2, $cd) = api_at($port, POST => '/api/auth/register',
                               json => { email => $cemail, password => $PW, name => "Race Client $k.$j",
                                         userType => 'client', providerId => $rd->{user}{id} });
        next unless $s2 == 201;
        # sessions at ~+10, ~+28, ~+46 minutes, 15 minutes each: within the hour, no overlap
        my ($dd, $tt) = local_in(11 + 18 * $j);
        my ($s3, $ad, $araw) = api_at($port, POST => '/api/client/appointments', token => $cd->{token},
                                      json => { date => $dd, time => $tt, duration => 15 });
        ok($s3 == 201, "racing server: client $k.$j books $dd $tt") or diag($araw);
        next unless $s3 == 201;
        push @race_appts, $ad;
        push @race_clients, $cemail;
        push @race_ptoks, $rptok;
    }
}
my $N = $NPROV * $PER;
is(scalar @race_appts, $N, "$N pending sessions within the hour on the racing server");
{
    local $ENV{DP_SMTP_DIR} = $sink;
    Time::HiRes::sleep(2.5);
    is(scalar(grep { ($_->{kind} // '') eq 'reminder' } mail_all()), 0, 'no reminder while they are pending');
}

# the providers confirm all of them at once, each from its own process
my @statuses;
{
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    my @kids;
    for my $i (0 .. $#race_appts) {
        pipe(my $res_r, my $res_w) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $go_w;
            close $res_r;
            my $x;
            sysread $go_r, $x, 1;
            my ($s) = http_at($port, PATCH => "/api/appointments/$race_appts[$i]{id}",
                              token => $race_ptoks[$i], json => { status => 'confirmed' });
            print {$res_w} $s;
            close $res_w;
            POSIX::_exit(0);
        }
        close $res_w;
        push @kids, [$pid, $res_r];
    }
    close $go_r;
    close $go_w;
    for my $k (@kids) {
        my $out = do { local $/; readline $k->[1] } // '';
        waitpid $k->[0], 0;
        push @statuses, $out;
    }
}
is(scalar(grep { $_ eq '200' } @statuses), $N, "$N confirmations at once: all 200") or diag("@statuses");

my @race_rem;
{
    local $ENV{DP_SMTP_DIR} = $sink;
    poll(60, sub { @race_rem = grep { ($_->{kind} // '') eq 'reminder' } mail_all(); @race_rem >= $N });
    Time::HiRes::sleep($PASSES + 1);    # a second reminder would come within a pass or two
    @race_rem = grep { ($_->{kind} // '') eq 'reminder' } mail_all();
}
is(scalar @race_rem, $N, "exactly $N reminder mails reached the racing sink");
my (%per_appt, @unnamed);
for my $rm (@race_rem) {
    my ($id) = ($rm->{body} // '') =~ m{/appointments/($UUID)};
    if ($id) { $per_appt{$id}++ } else { push @unnamed, $rm }
}
my @not_once = grep { ($per_appt{ $_->{id} } // 0) != 1 } @race_appts;
ok(!@not_once && !@unnamed, 'one reminder per appointment')
    or diag(join("\n", map { "$_->{id}: " . ($per_appt{ $_->{id} } // 0) } @not_once), describe(@unnamed));
my %to_count;
$to_count{ lc($_->{env_to}[0] // '') }++ for @race_rem;
my @rc_bad = grep { ($to_count{$_} // 0) != 1 } @race_clients;
ok(!@rc_bad, 'each client got exactly one reminder') or diag(join "\n", map { "$_: " . ($to_count{$_} // 0) } @rc_bad);
my $ids_in = join(', ', map { sql_quote($_->{id}) . '::uuid' } @race_appts) || 'NULL';
is(rpsql(qq{SELECT count(*) FROM appointment_reminders WHERE appointment_id IN ($ids_in)}), $N,
   "$N appointment_reminders rows");
is(rpsql(qq{SELECT count(*) FROM (SELECT appointment_id FROM appointment_reminders WHERE appointment_id IN ($ids_in) }
        . q{GROUP BY appointment_id HAVING count(*) = 1) x}), $N, '... one per appointment');
is(rpsql(q{SELECT count(*) FROM appointment_reminders r JOIN appointments a ON a.id = r.appointment_id }
        . qq{WHERE r.appointment_id IN ($ids_in) AND r.starts_at = a.starts_at}), $N, '... each for its start');
is(rpsql(qq{SELECT count(*) FROM outbox WHERE kind = 'reminder'}), $N, "$N reminder rows in the outbox");
is(rpsql(q{SELECT count(*) FROM audit_events WHERE action = 'reminder.queue' AND actor_type = 'system' }
        . q{AND actor_id IS NULL AND resource_type = 'appointment' AND outcome = 'success'}), $N,
   "$N reminder.queue audit events (actor_type system)");
is(rpsql(q{SELECT count(DISTINCT resource_id) FROM audit_events WHERE action = 'reminder.queue'}), $N,
   '... one per appointment');
is(rpsql(q{SELECT count(*) FROM audit_events e JOIN appointments a ON a.id::text = e.resource_id }
        . q{WHERE e.action = 'reminder.queue' AND e.client_id = a.client_id}), $N, '... each with its client');
if (@race_rem) {
    my $rm = $race_rem[0];
    my ($id) = ($rm->{body} // '') =~ m{/appointments/($UUID)};
    my ($appt) = grep { $_->{id} eq ($id // '') } @race_appts;
    appt_mail_ok($rm, 'reminder', $rm->{env_to}[0], $appt, 'a reminder of the racing server',
                 public => $RPUBLIC) if $appt;
}
{
    local $ENV{DP_SMTP_DIR} = $sink;
    my @conf = grep { ($_->{kind} // '') eq 'appointment-confirmed' } mail_all();
    is(scalar @conf, $N, "$N appointment-confirmed mails on the racing sink");
    my @links = map { (($_->{body} // '') =~ m{(https?://\S+)})[0] // '' } @conf;
    my @bad_links = grep { !m{^\Q$RPUBLIC\E/appointments/$UUID$} } @links;
    ok(!@bad_links, "appointment-confirmed links are $RPUBLIC/appointments/<id> (trailing / of the public URL dropped)")
        or diag(join "\n", @bad_links[0 .. ($#bad_links > 2 ? 2 : $#bad_links)]);
}
stop_httpd($srv);
ok(!defined $srv->{status} || $srv->{status} == 0, 'the racing httpd stops cleanly') or diag($srv->{log});
# (mpm_event's notice that all workers were busy, AH00484, is about capacity, not a fault)
my @errs = grep { /\[[\w.-]*:(?:error|crit|alert|emerg)\]/ && !/AH00484/ } split /\n/, $srv->{log} // '';
ok(!@errs, 'the racing httpd logged no error') or diag(join "\n", @errs);
kill 'TERM', $fake_pid;
waitpid $fake_pid, 0;
undef $fake_pid;
undef $srv;

done_testing();
