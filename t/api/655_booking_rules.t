# Booking rules: client bookings against the provider's availability, the
# provider's own booking, the per-client limits, 12-hour input and access control.
#  - Before the provider saves its hours a client books as before (a Saturday evening too);
#    once saved, a booking must lie inside one day's hours, outside its break and time off:
#    otherwise 422 outside_availability (field time), nothing stored, an appointment.create
#    failure event. Boundaries are half-open (ending at the break or the day's end is fine).
#    On New York's spring-forward day a 60-minute session at 01:30 ends at 03:30 EDT: refused
#    when the day ends at 03:00.
#  - POST /api/provider/appointments {clientId, date, time, duration, type, notes?}: 201,
#    confirmed, a video link, outside working hours allowed; 409 slot_taken on overlap with
#    any pending or confirmed appointment; another practice's client, an unknown or malformed
#    id: 404 field clientId, nothing stored; validation 422 with the field.
#  - On docportal_limits (DocPortalMaxPendingPerClient 3, DocPortalBookingHorizonDays 180,
#    DocPortalMinNotice 120): the 4th pending appointment is 409 too_many_pending (confirmed,
#    cancelled and past ones do not count; ten racing bookings with two pending: one 201);
#    today + 180 days is bookable, + 181 is 422 field date (bookable on the main server);
#    a start less than 120 minutes ahead is 422 outside_availability (fine on the main server);
#    the provider's own booking is held to none of these.
#  - Times as HH:MM or "10:00 AM"/"9:00 AM" (12:00 AM is 00:00, 12:00 PM noon), answered as
#    HH:MM, in client and provider bookings and reschedules; malformed ones 422 field time.
#  - Access control: a client on every provider route 403; a provider on the client's slots
#    route 403; no token 401; another provider's time-off id 404 (entry kept, a denied event);
#    a client without a provider gets 404 for slots.
#  - a client's reschedule is held to the same rules as its booking (the provider's is not).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DocPortal::Test;
use Time::Local qw(timegm);

my $Y = next_year();
my $NY = 'America/New_York';
my @DAYS = qw(monday tuesday wednesday thursday friday saturday sunday);

sub ymd_epoch { my ($y, $m, $d) = split /-/, $_[0]; return timegm(0, 0, 12, $d, $m - 1, $y) }
sub add_days {
    my ($d, $n) = @_;
    my @t = gmtime(ymd_epoch($d) + $n * 86400);
    return sprintf '%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3];
}
sub isodow { my $w = (gmtime ymd_epoch($_[0]))[6]; return $w == 0 ? 7 : $w }
sub first_weekday {
    my ($y, $m, $dow) = @_;
    my $d = sprintf '%04d-%02d-01', $y, $m;
    $d = add_days($d, 1) while isodow($d) != $dow;
    return $d;
}

# error_is / success_is with the header expectations of the transport the request used: the
# answers of docportal_limits come over plain HTTP, also in the TLS pass
sub tls_of { my ($res) = @_; my $req = $res->request; return $req && $req->uri->scheme eq 'https' ? 1 : 0 }
sub error_is_sent {
    local $DocPortal::Test::TLS = tls_of($_[0]);
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return error_is(@_);
}
sub success_is_sent {
    local $DocPortal::Test::TLS = tls_of($_[0]);
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return success_is(@_);
}

sub limits {
    my (@args) = @_;
    local $Apache::TestRequest::Module = 'docportal_limits';
    local $DocPortal::Test::TLS = 0;
    return api(@args);
}
sub week {
    my (%o) = @_;
    my $slot = delete $o{slot};
    my %w = map { $_ => { enabled => \0 } } @DAYS;
    for my $d (keys %o) {
        my ($s, $e, $bs, $be) = @{ $o{$d} };
        $w{$d} = { enabled => \1, startTime => $s, endTime => $e,
                   (defined $bs ? (breakStart => $bs, breakEnd => $be) : ()) };
    }
    $w{slotDuration} = $slot if defined $slot;
    return \%w;
}
sub set_hours {
    my ($tok, $name, @week) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, $d, $res) = api(PUT => '/api/provider/working-hours', token => $tok, json => week(@week));
    success_is_sent($res, 200, "setup: $name: working hours saved");
    return $d;
}
sub pbook { my ($tok, %b) = @_; return api(POST => '/api/provider/appointments', token => $tok, json => \%b) }
sub appt_count {
    my ($client_id, $extra) = @_;
    return psql('SELECT count(*) FROM appointments WHERE client_id = ' . sql_quote($client_id) . ($extra // ''));
}
# the single audit event of a response, as a hashref (undef unless exactly one)
sub one_event {
    my ($res) = @_;
    my @ev = audit_events_for($res->header('X-Request-Id'));
    return @ev == 1 ? $ev[0] : undef;
}
sub event_is {
    my ($res, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $e = one_event($res);
    my @p = $e ? (grep { ($e->{$_} // '') ne $want->{$_} } sort keys %$want) : ('not exactly one event');
    ok(!@p, $name) or diag('mismatch: ' . join(',', @p) . "\n" . explain([audit_events_for($res->header('X-Request-Id'))]));
}

# ==== booking against availability ================================================================
my ($ptok, $prov) = provider_session(name => 'Dr Rules', hourlyRate => 120);
my ($ctok, $cli) = client_session($prov->{id}, name => 'Rule Client');
my $SAT = first_weekday($Y, 2, 6);
my $TUE = first_weekday($Y, 2, 2);
my $WED = add_days($TUE, 1);
{
    my (undef, $a, $r) = book($ctok, date => $SAT, time => '20:00', duration => 60);
    success_is_sent($r, 201, 'unconfigured hours: a Saturday 20:00 booking is accepted as before');
    is($a->{status}, 'pending', '... pending');
    (undef, undef, $r) = book($ctok, date => $TUE, time => '06:00', duration => 30);
    success_is_sent($r, 201, 'unconfigured hours: a Tuesday 06:00 booking is accepted as before');

    set_hours($ptok, 'Dr Rules', (map { $_ => ['09:00', '17:00', '12:00', '13:00'] } @DAYS[0 .. 4]), slot => 60);
    my $sat2 = add_days($SAT, 7);
    my $tue2 = add_days($TUE, 7);
    my @out = (
        [$sat2, '20:00', 60, 'a Saturday (a day off)'],
        [$tue2, '08:00', 60, 'before the day starts (08:00)'],
        [$tue2, '08:30', 60, 'starting before the day and ending in it (08:30-09:30)'],
        [$tue2, '16:30', 60, 'running past the end (16:30-17:30)'],
        [$tue2, '17:00', 15, 'at the end (17:00)'],
        [$tue2, '12:00', 30, 'in the break (12:00-12:30)'],
        [$tue2, '11:30', 60, 'into the break (11:30-12:30)'],
        [$tue2, '12:45', 30, 'out of the break (12:45-13:15)'],
        [$tue2, '11:00', 150, 'across the break (11:00-13:30)'],
    );
    my $before = appt_count($cli->{id});
    for my $o (@out) {
        my (undef, undef, $res) = book($ctok, date => $o->[0], time => $o->[1], duration => $o->[2]);
        error_is_sent($res, 422, 'outside_availability', 'time', "configured hours: $o->[3]: 422 outside_availability field time");
    }
    is(appt_count($cli->{id}), $before, 'the refused bookings stored nothing');
    my (undef, undef, $lr) = book($ctok, date => $sat2, time => '20:00', duration => 60);
    event_is($lr, { action => 'appointment.create', outcome => 'failure', actor_id => $cli->{id}, client_id => $cli->{id} },
             'a refused booking leaves one appointment.create failure event');

    my @in = (
        [$tue2, '09:00', 60, 'the first hour (09:00-10:00)'],
        [$tue2, '11:00', 60, 'up to the break (11:00-12:00)'],
        [$tue2, '13:00', 50, 'from the end of the break (13:00-13:50)'],
        [$tue2, '16:00', 60, 'up to the end of the day (16:00-17:00)'],
        [$tue2, '14:15', 30, 'inside the afternoon, off the slot grid (14:15-14:45)'],
    );
    for my $i (@in) {
        my (undef, $a2, $res) = book($ctok, date => $i->[0], time => $i->[1], duration => $i->[2]);
        success_is_sent($res, 201, "configured hours: $i->[3]: 201");
    }

    # time off
    my (undef, $to, $tr) = api(POST => '/api/provider/time-off', token => $ptok, json => { from => $WED, to => $WED });
    success_is_sent($tr, 201, 'setup: wednesday off');
    my (undef, undef, $res) = book($ctok, date => $WED, time => '10:00', duration => 60);
    error_is_sent($res, 422, 'outside_availability', 'time', 'a booking on a day off: 422 outside_availability');
    my (undef, undef, $dr) = api(DELETE => "/api/provider/time-off/$to->{id}", token => $ptok);
    is($dr->code, 204, 'setup: the time off deleted') or diag(dump_res($dr));
    (undef, undef, $res) = book($ctok, date => $WED, time => '10:00', duration => 60);
    success_is_sent($res, 201, 'the same booking once the time off is gone: 201');

    # a booking that fits but overlaps: still 409
    (undef, undef, $res) = book($ctok, date => $tue2, time => '09:30', duration => 15);
    error_is_sent($res, 409, 'slot_taken', undef, 'inside the hours but overlapping: 409 slot_taken');
}

# spring forward: a session is its real length
{
    my ($t, $p) = provider_session(name => 'Dr Gap');
    my ($ct, $c) = client_session($p->{id});
    my $spring = us_dst_start($Y);
    set_hours($t, 'Dr Gap', sunday => ['01:30', '03:00'], slot => 30);
    my (undef, $a, $r) = book($ct, date => $spring, time => '01:30', duration => 30);
    success_is_sent($r, 201, "spring forward ($spring): 01:30 for 30 minutes (ends 03:00 EDT) fits");
    is($a->{endsAt}, "$spring" . 'T07:00:00.000Z', '... it ends at 07:00Z, 03:00 EDT');
    my (undef, undef, $x) = api(DELETE => "/api/appointments/$a->{id}", token => $ct);
    is($x->code, 200, 'setup: cancelled again');
    (undef, $a, $r) = book($ct, date => $spring, time => '01:30', duration => 60);
    error_is_sent($r, 422, 'outside_availability', 'time',
             'spring forward: 01:30 for 60 minutes ends at 03:30 EDT, after the day ends at 03:00: 422 outside_availability');
}

# ==== the provider books ==========================================================================
{
    my (undef, $a, $r) = pbook($ptok, clientId => $cli->{id}, date => $SAT, time => '18:00', duration => 60,
                               type => 'Evening Session', notes => 'Set by the therapist');
    success_is_sent($r, 201, 'provider booking on a Saturday evening (outside its hours): 201');
    is_deeply([sort keys %{ $a || {} }], APPOINTMENT_KEYS, '... the appointment model');
    is($a->{status}, 'confirmed', '... confirmed at once');
    like($a->{videoLink} // '', $JITSI_RE, '... with a video link');
    is_deeply([@{ $a || {} }{qw(clientId providerId date time duration type notes timeZone)}],
              [$cli->{id}, $prov->{id}, $SAT, '18:00', 60, 'Evening Session', 'Set by the therapist', $NY],
              '... clientId, providerId, date, time, duration, type, notes, timeZone');
    is($a->{startsAt}, "${SAT}T23:00:00.000Z", '... 18:00 EST is 23:00Z');
    like($r->content, qr/"amount":120(?:\.0+)?[,}]/, '... amount 120.00 for 60 minutes at 120/h');
    event_is($r, { action => 'appointment.create', outcome => 'success', actor_id => $prov->{id}, actor_type => 'provider',
                   resource_type => 'appointment', resource_id => $a->{id}, client_id => $cli->{id} },
             '... one appointment.create success event with the client');
    my (undef, $ca, $cr) = appt_get($ctok, $a->{id});
    success_is_sent($cr, 200, 'the client reads it');
    is($ca->{status}, 'confirmed', '... confirmed');

    # overlaps: with the provider's own confirmed one and with a client's pending one
    my (undef, undef, $o1) = pbook($ptok, clientId => $cli->{id}, date => $SAT, time => '18:30', duration => 30);
    error_is_sent($o1, 409, 'slot_taken', undef, 'provider booking overlapping its confirmed one: 409 slot_taken');
    my (undef, undef, $o2) = pbook($ptok, clientId => $cli->{id}, date => $SAT, time => '20:30', duration => 30);
    error_is_sent($o2, 409, 'slot_taken', undef, "provider booking overlapping the client's pending one (20:00-21:00): 409 slot_taken");
    my (undef, undef, $o3) = pbook($ptok, clientId => $cli->{id}, date => $SAT, time => '19:00', duration => 60);
    success_is_sent($o3, 201, 'provider booking back to back (19:00-20:00): 201');

    # the confirmed booking blocks that slot for clients
    my $tue3 = add_days($TUE, 14);
    my (undef, undef, $o4) = pbook($ptok, clientId => $cli->{id}, date => $tue3, time => '10:00', duration => 60);
    success_is_sent($o4, 201, 'provider booking inside its hours: 201');
    my (undef, $sl) = api(GET => "/api/client/provider/available-slots/$tue3", token => $ctok);
    is_deeply([map { $_->{time24h} } @{ ($sl || {})->{slots} || [] }], [qw(09:00 11:00 13:00 14:00 15:00 16:00)],
              'the confirmed 10:00 is not offered to the client');
    my (undef, undef, $o5) = book($ctok, date => $tue3, time => '10:30', duration => 30);
    error_is_sent($o5, 409, 'slot_taken', undef, 'a client booking over it: 409 slot_taken');

    # 12-hour time
    my (undef, $a12, $r12) = pbook($ptok, clientId => $cli->{id}, date => $tue3, time => '2:30 PM', duration => 30);
    success_is_sent($r12, 201, 'provider booking at "2:30 PM": 201');
    is($a12->{time}, '14:30', '... time answered as 14:30');

    # whose client
    my ($p2tok, $p2) = provider_session(name => 'Dr Elsewhere');
    my ($c2tok, $c2) = client_session($p2->{id});
    my $n2 = appt_count($c2->{id});
    my (undef, undef, $x1) = pbook($ptok, clientId => $c2->{id}, date => $tue3, time => '16:00', duration => 30);
    error_is_sent($x1, 404, 'not_found', 'clientId', "another practice's client: 404 field clientId");
    is(appt_count($c2->{id}), $n2, '... nothing stored for that client');
    event_is($x1, { action => 'appointment.create', outcome => 'denied', actor_id => $prov->{id} },
             '... one appointment.create denied event');
    my (undef, undef, $x2) = pbook($ptok, clientId => uuid_v4(), date => $tue3, time => '16:00');
    error_is_sent($x2, 404, 'not_found', 'clientId', 'an unknown clientId: 404');
    my (undef, undef, $x3) = pbook($ptok, clientId => 'nope', date => $tue3, time => '16:00');
    error_is_sent($x3, 404, 'not_found', 'clientId', 'a malformed clientId: 404');
    my (undef, undef, $x4) = pbook($ptok, clientId => $p2->{id}, date => $tue3, time => '16:00');
    error_is_sent($x4, 404, 'not_found', 'clientId', "a provider's id as clientId: 404");
    my ($nctok, $nc) = client_session(undef);
    my (undef, undef, $x5) = pbook($ptok, clientId => $nc->{id}, date => $tue3, time => '16:00');
    error_is_sent($x5, 404, 'not_found', 'clientId', 'a client of no practice: 404');

    # validation
    my @bad = (
        [{ date => $tue3, time => '16:00' }, 'clientId', 'clientId missing'],
        [{ clientId => $cli->{id}, time => '16:00' }, 'date', 'date missing'],
        [{ clientId => $cli->{id}, date => $tue3 }, 'time', 'time missing'],
        [{ clientId => $cli->{id}, date => "$Y-02-30", time => '16:00' }, 'date', 'date not a real day'],
        [{ clientId => $cli->{id}, date => $tue3, time => '25:00' }, 'time', 'time 25:00'],
        [{ clientId => $cli->{id}, date => $tue3, time => '16:00', duration => 10 }, 'duration', 'duration 10'],
        [{ clientId => $cli->{id}, date => '2020-01-07', time => '16:00' }, 'date', 'a past date'],
        [{ clientId => $cli->{id}, date => us_dst_start($Y), time => '02:30' }, 'time', 'a time in the spring-forward gap'],
    );
    for my $b (@bad) {
        my (undef, undef, $res) = pbook($ptok, %{ $b->[0] });
        error_is_sent($res, 422, 'validation_error', $b->[1], "provider booking, $b->[2]: 422 field $b->[1]");
    }
}

# ==== limits (docportal_limits: 3 pending, 180 days, 120 minutes' notice) =========================
{
    my ($lt, $lp) = provider_session(name => 'Dr Limits');
    my ($ct, $c) = client_session($lp->{id}, name => 'Pending Client');
    my $today = local_today($NY);
    my @ids;
    for my $i (1 .. 3) {
        my (undef, $a, $r) = limits(POST => '/api/client/appointments', token => $ct,
                                    json => { date => add_days($today, 3 + $i), time => '10:00', duration => 30 });
        success_is_sent($r, 201, "limits: pending booking $i: 201");
        push @ids, $a->{id};
    }
    my $n = appt_count($c->{id});
    my $fourth = { date => add_days($today, 10), time => '10:00', duration => 30 };
    my (undef, undef, $r4) = limits(POST => '/api/client/appointments', token => $ct, json => $fourth);
    error_is_sent($r4, 409, 'too_many_pending', undef, 'limits: a 4th pending booking: 409 too_many_pending');
    is(appt_count($c->{id}), $n, '... nothing stored');
    event_is($r4, { action => 'appointment.create', outcome => 'failure', actor_id => $c->{id}, client_id => $c->{id} },
             '... one appointment.create failure event');
    my (undef, undef, $m4) = book($ct, %$fourth, time => '11:00');
    success_is_sent($m4, 201, 'the main server (limit 100000) takes a 4th');
    my (undef, undef, $x) = api(DELETE => "/api/appointments/" . (json_body($m4) || {})->{id}, token => $ct);
    is($x->code, 200, 'setup: that one cancelled again');

    my (undef, undef, $pc) = api(PATCH => "/api/appointments/$ids[0]", token => $lt, json => { status => 'confirmed' });
    is($pc->code, 200, 'setup: the provider confirms one');
    my (undef, $a5, $r5) = limits(POST => '/api/client/appointments', token => $ct, json => $fourth);
    success_is_sent($r5, 201, 'limits: with one confirmed (2 pending) a booking is taken');
    (undef, undef, $r4) = limits(POST => '/api/client/appointments', token => $ct, json => { %$fourth, time => '12:00' });
    error_is_sent($r4, 409, 'too_many_pending', undef, 'limits: 3 pending again: 409');
    (undef, undef, $x) = api(DELETE => "/api/appointments/$ids[1]", token => $ct);
    is($x->code, 200, 'setup: the client cancels one');
    (undef, undef, $r5) = limits(POST => '/api/client/appointments', token => $ct, json => { %$fourth, time => '12:00' });
    success_is_sent($r5, 201, 'limits: a cancelled one does not count');
    appt_to_past($ids[2], 120);    # 30 minutes long: ended 90 minutes ago
    (undef, undef, $r5) = limits(POST => '/api/client/appointments', token => $ct, json => { %$fourth, time => '13:00' });
    success_is_sent($r5, 201, 'limits: a pending one in the past does not count');
    (undef, undef, $r4) = limits(POST => '/api/client/appointments', token => $ct, json => { %$fourth, time => '14:00' });
    error_is_sent($r4, 409, 'too_many_pending', undef, 'limits: 3 pending ahead: 409');
    my (undef, $pa, $pr) = limits(POST => '/api/provider/appointments', token => $lt,
                                  json => { clientId => $c->{id}, date => $fourth->{date}, time => '15:00', duration => 30 });
    success_is_sent($pr, 201, "limits: the provider books for a client at the limit: 201");
    is($pa->{status}, 'confirmed', '... confirmed');

    # ten racing bookings of different slots with two pending: the count under the lock lets one through
    my ($rt, $rc) = client_session($lp->{id}, name => 'Racing Client');
    for my $i (1 .. 2) {
        my (undef, undef, $r) = limits(POST => '/api/client/appointments', token => $rt,
                                       json => { date => add_days($today, 20), time => sprintf('%02d:00', 8 + $i), duration => 30 });
        success_is_sent($r, 201, "setup: racing client, pending $i");
    }
    # the provider's row is held locked meanwhile, so that every racer passes the first count
    # and waits at the lock: only the count under the lock can stop them
    my $holder = fork // die "fork: $!";
    if (!$holder) {
        psql('BEGIN; SELECT id FROM users WHERE id = ' . sql_quote($lp->{id}) . ' FOR NO KEY UPDATE; '
           . 'SELECT pg_sleep(3); COMMIT;');
        require POSIX;
        POSIX::_exit(0);
    }
    my $held = 0;
    for (1 .. 50) {
        last if ($held = psql(q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' }
                            . q{AND state = 'active' AND pid <> pg_backend_pid()})) eq '1';
        select undef, undef, undef, 0.1;
    }
    is($held, '1', "setup: the provider's row is held locked");
    my @res = do {
        local $Apache::TestRequest::Module = 'docportal_limits';
        local $DocPortal::Test::TLS = 0;
        race(map { { method => 'POST', path => '/api/client/appointments', token => $rt,
                     json => { date => add_days($today, 21), time => sprintf('%02d:00', 8 + $_), duration => 30 } } } 0 .. 9);
    };
    waitpid $holder, 0;
    my @st = sort map { $_->{status} } @res;
    is("@st", '201' . ' 409' x 9, 'ten racing bookings of different slots with two pending: one 201, nine 409');
    is(scalar(grep { ($_->{body} || {})->{code} && $_->{body}{code} eq 'too_many_pending' } @res), 9,
       '... the 409s are too_many_pending');
    is(appt_count($rc->{id}, q{ AND status = 'pending'}), '3', '... 3 pending stored');

    # horizon
    my ($ht, $hc) = client_session($lp->{id}, name => 'Far Client');
    my (undef, $h1, $hr) = limits(POST => '/api/client/appointments', token => $ht,
                                  json => { date => add_days($today, 180), time => '10:00', duration => 30 });
    success_is_sent($hr, 201, 'limits: today + 180 days (New York): 201');
    (undef, undef, $hr) = limits(POST => '/api/client/appointments', token => $ht,
                                 json => { date => add_days($today, 181), time => '10:00', duration => 30 });
    error_is_sent($hr, 422, 'validation_error', 'date', 'limits: today + 181 days: 422 field date');
    (undef, undef, $hr) = book($ht, date => add_days($today, 181), time => '10:00', duration => 30);
    success_is_sent($hr, 201, 'the main server (3650 days) takes today + 181');
    (undef, undef, $hr) = limits(POST => '/api/provider/appointments', token => $lt,
                                 json => { clientId => $hc->{id}, date => add_days($today, 200), time => '10:00', duration => 30 });
    success_is_sent($hr, 201, 'limits: the provider may book beyond the horizon');
}

# minimum notice: a configured provider where it is about mid-day, every day 00:00-23:59
{
    my @zones = qw(Pacific/Kiritimati Pacific/Auckland Australia/Sydney Asia/Tokyo Asia/Shanghai Asia/Bangkok
                   Asia/Dhaka Asia/Karachi Asia/Dubai Europe/Moscow Europe/Athens Europe/Ljubljana Europe/London
                   Atlantic/Azores America/Noronha America/Sao_Paulo America/Halifax America/New_York
                   America/Chicago America/Denver America/Los_Angeles America/Anchorage Pacific/Honolulu
                   Pacific/Pago_Pago);
    my $zone;
    my $best;
    for my $z (@zones) {
        my $h = psql(q{SELECT extract(hour FROM now() AT TIME ZONE } . sql_quote($z) . q{)});
        ($zone, $best) = ($z, $h) if !defined $best || abs($h - 11) < abs($best - 11);
    }
    my ($t, $p) = provider_session(name => 'Dr Notice', timeZone => $zone);
    set_hours($t, 'Dr Notice', (map { $_ => ['00:00', '23:59'] } @DAYS), slot => 15);
    my ($ct, $c) = client_session($p->{id});
    # date and time $min minutes from now in the zone (rounded down to the minute)
    my $ahead = sub {
        my ($min) = @_;
        my ($d, $hm) = split / /, scalar psql(q{SELECT to_char((now() + interval '} . $min . q{ minutes') AT TIME ZONE }
                                            . sql_quote($zone) . q{, 'YYYY-MM-DD HH24:MI')});
        return (date => $d, time => $hm);
    };
    my (undef, undef, $r) = limits(POST => '/api/client/appointments', token => $ct, json => { $ahead->(110), duration => 15 });
    error_is_sent($r, 422, 'outside_availability', 'time', "limits: 110 minutes ahead ($zone): 422 outside_availability");
    (undef, undef, $r) = limits(POST => '/api/client/appointments', token => $ct, json => { $ahead->(126), duration => 15 });
    success_is_sent($r, 201, 'limits: 126 minutes ahead: 201');
    (undef, undef, $r) = book($ct, $ahead->(30), duration => 15);
    success_is_sent($r, 201, 'the main server (no notice) takes 30 minutes ahead');
    (undef, undef, $r) = limits(POST => '/api/provider/appointments', token => $t,
                                json => { clientId => $c->{id}, $ahead->(60), duration => 15 });
    success_is_sent($r, 201, 'limits: the provider may book 60 minutes ahead');
}

# ==== 12-hour input ===============================================================================
{
    my ($t, $p) = provider_session(name => 'Dr Twelve');
    my ($ct) = client_session($p->{id});
    my $d = first_weekday($Y, 1, 3);
    my @ok = (['10:00 AM', '10:00', '15:00'], ['9:00 AM', '09:00', '14:00'], ['2:30 PM', '14:30', '19:30'],
              ['12:00 PM', '12:00', '17:00'], ['12:15 AM', '00:15', '05:15'], ['11:30 PM', '23:30', '04:30']);
    for my $o (@ok) {
        my (undef, $a, $r) = book($ct, date => $d, time => $o->[0], duration => 15);
        success_is_sent($r, 201, "client booking at '$o->[0]': 201");
        is($a->{time}, $o->[1], "... time answered as $o->[1]");
        my $day = $o->[1] eq '23:30' ? add_days($d, 1) : $d;
        is($a->{startsAt}, "${day}T$o->[2]:00.000Z", "... starts $o->[2]Z (EST)");
    }
    for my $bad ('13:00 PM', '0:30 AM', '9:60 AM', '9:00', '9 AM', '09:00 XM', '10:00 AM extra', '9:0 AM') {
        my (undef, undef, $r) = book($ct, date => $d, time => $bad);
        error_is_sent($r, 422, 'validation_error', 'time', "client booking at '$bad': 422 field time");
    }
    my (undef, $a, $r) = book($ct, date => add_days($d, 1), time => '10:00', duration => 15);
    my (undef, $pa, $pr) = appt_patch($ct, $a->{id}, time => '3:00 PM');
    success_is_sent($pr, 200, "reschedule to '3:00 PM': 200");
    is($pa->{time}, '15:00', '... time answered as 15:00');
    (undef, undef, $pr) = appt_patch($ct, $a->{id}, time => '15:00 PM');
    error_is_sent($pr, 422, 'validation_error', 'time', "reschedule to '15:00 PM': 422 field time");
}

# ==== access control ==============================================================================
{
    my ($at, $ap) = provider_session(name => 'Dr Access');
    my ($act, $ac) = client_session($ap->{id});
    my ($bt, $bp) = provider_session(name => 'Dr Bystander');
    set_hours($bt, 'Dr Bystander', (map { $_ => ['07:00', '09:00'] } @DAYS), slot => 60);
    my (undef, $to, $tr) = api(POST => '/api/provider/time-off', token => $at, json => { from => "$Y-03-20", to => "$Y-03-21" });
    success_is_sent($tr, 201, 'setup: a time off of Dr Access');
    my $d = first_weekday($Y, 3, 2);
    my @provider_routes = (
        [GET => '/api/provider/working-hours'],
        [PUT => '/api/provider/working-hours', week(monday => ['09:00', '10:00'])],
        [GET => '/api/provider/time-off'],
        [POST => '/api/provider/time-off', { from => "$Y-03-05", to => "$Y-03-05" }],
        [DELETE => "/api/provider/time-off/$to->{id}"],
        [GET => "/api/provider/available-slots/$d"],
        [POST => '/api/provider/appointments', { clientId => $ac->{id}, date => $d, time => '10:00' }],
    );
    for my $rt (@provider_routes) {
        my ($m, $path, $body) = @$rt;
        my (undef, undef, $r) = api($m => $path, token => $act, ($body ? (json => $body) : ()));
        error_is_sent($r, 403, 'forbidden', undef, "a client on $m $path: 403");
        (undef, undef, $r) = api($m => $path, ($body ? (json => $body) : ()));
        error_is_sent($r, 401, 'unauthorized', undef, "no token on $m $path: 401");
    }
    my (undef, $l) = api(GET => '/api/provider/time-off', token => $at);
    is_deeply([map { $_->{id} } @{ ref $l eq 'ARRAY' ? $l : [] }], [$to->{id}], "the client's DELETE left the time off");
    is(psql('SELECT count(*) FROM working_hours WHERE provider_id = ' . sql_quote($ap->{id})), '0',
       "the client's PUT saved no hours");
    is(appt_count($ac->{id}), '0', "the client's POST booked nothing");

    my (undef, undef, $r) = api(GET => "/api/client/provider/available-slots/$d", token => $at);
    error_is_sent($r, 403, 'forbidden', undef, "a provider on the client's slots route: 403");
    (undef, undef, $r) = api(GET => "/api/client/provider/available-slots/$d");
    error_is_sent($r, 401, 'unauthorized', undef, "no token on the client's slots route: 401");

    # another provider's time off
    (undef, undef, $r) = api(DELETE => "/api/provider/time-off/$to->{id}", token => $bt);
    error_is_sent($r, 404, 'not_found', undef, "another provider's time-off id: 404");
    event_is($r, { action => 'time_off.delete', outcome => 'denied', actor_id => $bp->{id}, resource_id => $to->{id} },
             '... one time_off.delete denied event');
    (undef, $l) = api(GET => '/api/provider/time-off', token => $at);
    is_deeply([map { $_->{id} } @{ ref $l eq 'ARRAY' ? $l : [] }], [$to->{id}], '... the entry is still there');
    (undef, $l) = api(GET => '/api/provider/time-off', token => $bt);
    is_deeply($l, [], "... and not in the other provider's list");

    # a client sees its own provider's slots (Dr Access: the default 09-17), not another's
    my (undef, $s) = api(GET => "/api/client/provider/available-slots/$d", token => $act);
    is_deeply([map { $_->{time24h} } @{ ($s || {})->{slots} || [] }], [map { sprintf '%02d:00', $_ } 9 .. 16],
              "a client's slots are its own provider's");
    my ($nt) = client_session(undef);
    (undef, undef, $r) = api(GET => "/api/client/provider/available-slots/$d", token => $nt);
    error_is_sent($r, 404, 'not_found', undef, 'a client without a provider: 404');
}

# ==== a client's reschedule is held to the booking rules ==========================================
{
    my ($t, $p) = provider_session(name => 'Dr Move');
    my ($ct, $c) = client_session($p->{id});
    set_hours($t, 'Dr Move', (map { $_ => ['09:00', '17:00'] } @DAYS[0 .. 4]), slot => 60);
    my $tue = first_weekday($Y, 4, 2);
    my (undef, $a, $r) = book($ct, date => $tue, time => '10:00', duration => 60);
    success_is_sent($r, 201, 'setup: a booking inside the hours');
    my (undef, undef, $pr) = appt_patch($ct, $a->{id}, date => first_weekday($Y, 4, 6), time => '20:00');
    error_is_sent($pr, 422, 'outside_availability', 'time', "a client's reschedule to a Saturday evening: 422 outside_availability");
    my $today = local_today($NY);
    (undef, undef, $pr) = limits(PATCH => "/api/appointments/$a->{id}", token => $ct,
                                 json => { date => add_days($today, 400), time => '10:00' });
    error_is_sent($pr, 422, 'validation_error', 'date', "limits: a client's reschedule beyond the horizon: 422 field date");
    my (undef, $moved, $ok) = appt_patch($ct, $a->{id}, time => '14:00');
    success_is_sent($ok, 200, "a client's reschedule inside the hours: 200");
    my (undef, $pmoved, $pok) = appt_patch($t, $a->{id}, date => first_weekday($Y, 4, 6), time => '20:00');
    success_is_sent($pok, 200, "the provider may move it outside its hours: 200");
}

done_testing();
