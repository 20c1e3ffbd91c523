# Dashboards computed from the database and scoped to the caller:
#   provider {totalClients, upcomingAppointments, todayAppointments, pendingAppointments}
#   client   {upcomingAppointments, completedAppointments, nextAppointment}
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my $Y = next_year();
my @PKEYS = qw(totalClients upcomingAppointments todayAppointments pendingAppointments);
my @CKEYS = qw(upcomingAppointments completedAppointments);

sub pdash {
    my ($token) = @_;
    my (undef, $d, $res) = api(GET => '/api/provider/dashboard', token => $token);
    return ($d, $res);
}
sub cdash {
    my ($token) = @_;
    my (undef, $d, $res) = api(GET => '/api/client/dashboard', token => $token);
    return ($d, $res);
}

sub pdash_is {
    my ($token, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($d, $res) = pdash($token);
    my %got = map { $_ => (ref $d eq 'HASH' ? $d->{$_} : undef) } @PKEYS;
    is_deeply(\%got, $want, $name) or diag(dump_res($res));
}
sub cdash_is {
    my ($token, $want, $next_id, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($d, $res) = cdash($token);
    my %got = map { $_ => (ref $d eq 'HASH' ? $d->{$_} : undef) } @CKEYS;
    $got{next} = ref $d eq 'HASH' && ref $d->{nextAppointment} eq 'HASH' ? $d->{nextAppointment}{id}
               : ref $d eq 'HASH' && exists $d->{nextAppointment} && !defined $d->{nextAppointment} ? 'null'
               : 'missing';
    is_deeply(\%got, { %$want, next => $next_id // 'null' }, $name) or diag(dump_res($res));
}

# a start time today in the provider's zone (local noon; may already be past)
sub move_to_today {
    my ($id, $zone, $hhmm) = @_;
    my ($out, $rc, $err) = psql(
        q{UPDATE appointments SET starts_at = (date_trunc('day', now() AT TIME ZONE } . sql_quote($zone)
      . q{) + } . sql_quote($hhmm) . q{::interval) AT TIME ZONE } . sql_quote($zone)
      . q{, ends_at = ((date_trunc('day', now() AT TIME ZONE } . sql_quote($zone) . q{) + }
      . sql_quote($hhmm) . q{::interval) AT TIME ZONE } . sql_quote($zone)
      . q{) + duration_minutes * interval '1 minute' WHERE id = } . sql_quote($id));
    die "move_to_today: $err" if $rc;
}

my ($ptok, $prov) = provider_session(name => 'Dr Dash');
my ($p2tok, $prov2) = provider_session(name => 'Dr Noise');

# ---- shapes --------------------------------------------------------------------------------------
my ($d, $res) = pdash($ptok);
success_is($res, 200, 'GET /api/provider/dashboard: 200');
for my $k (@PKEYS) {
    ok(defined $d->{$k} && !ref $d->{$k} && $d->{$k} =~ /^\d+$/ && $res->content =~ /"$k":\d+[,}]/,
       "provider dashboard: $k is a JSON integer");
}
pdash_is($ptok, { totalClients => 0, upcomingAppointments => 0, todayAppointments => 0, pendingAppointments => 0 },
         'a new provider: all zero');

my ($ctok, $cli) = client_session($prov->{id}, name => 'Dana');
($d, $res) = cdash($ctok);
success_is($res, 200, 'GET /api/client/dashboard: 200');
for my $k (@CKEYS) {
    ok($res->content =~ /"$k":\d+[,}]/, "client dashboard: $k is a JSON integer");
}
ok(exists $d->{nextAppointment} && !defined $d->{nextAppointment}, 'nextAppointment null without appointments');
cdash_is($ctok, { upcomingAppointments => 0, completedAppointments => 0 }, undef, 'a new client: zeros, next null');

my (undef, undef, $r) = api(GET => '/api/client/dashboard', token => $ptok);
error_is($r, 403, 'forbidden', undef, 'a provider on the client dashboard: 403');
(undef, undef, $r) = api(GET => '/api/provider/dashboard', token => $ctok);
error_is($r, 403, 'forbidden', undef, 'a client on the provider dashboard: 403');
(undef, undef, $r) = api(GET => '/api/provider/dashboard');
error_is($r, 401, 'unauthorized', undef, 'no token: 401');

# ---- totalClients counts registered and invited clients, of this provider only ----------------------
my (undef, $inv, $ires) = invite_client($ptok, name => 'Invited Ian');
is($ires->code, 201, 'setup: invited a client');
my ($c2tok, $c2) = client_session($prov->{id}, name => 'Eve');
invite_client($p2tok, name => 'Other practice');
client_session($prov2->{id});
client_session(undef);
pdash_is($ptok, { totalClients => 3, upcomingAppointments => 0, todayAppointments => 0, pendingAppointments => 0 },
         'totalClients 3: two registered, one invited; not the other practice\'s');
pdash_is($p2tok, { totalClients => 2, upcomingAppointments => 0, todayAppointments => 0, pendingAppointments => 0 },
         'provider 2: its own two clients');

# ---- appointments move the counters -----------------------------------------------------------------------------
my (undef, $a1) = book($ctok, date => "$Y-03-02", time => '10:00');
pdash_is($ptok, { totalClients => 3, upcomingAppointments => 1, todayAppointments => 0, pendingAppointments => 1 },
         'one future pending appointment: upcoming 1, pending 1, today 0');
cdash_is($ctok, { upcomingAppointments => 1, completedAppointments => 0 }, $a1->{id}, 'client: upcoming 1, next is it');
cdash_is($c2tok, { upcomingAppointments => 0, completedAppointments => 0 }, undef, 'the other client sees nothing of it');

my (undef, $a2) = book($ctok, date => "$Y-02-20", time => '09:00');
my (undef, $a3) = book($c2tok, date => "$Y-02-25", time => '09:00');
pdash_is($ptok, { totalClients => 3, upcomingAppointments => 3, todayAppointments => 0, pendingAppointments => 3 },
         'three pending: upcoming 3, pending 3');
cdash_is($ctok, { upcomingAppointments => 2, completedAppointments => 0 }, $a2->{id},
         'client: two upcoming; next is the earlier one (booked later)');
my ($cd) = cdash($ctok);
is_deeply([sort keys %{ $cd->{nextAppointment} || {} }], APPOINTMENT_KEYS, 'nextAppointment is a full appointment');
is($cd->{nextAppointment}{startsAt}, "$Y-02-20T14:00:00.000Z", 'nextAppointment startsAt');

appt_patch($ptok, $a2->{id}, status => 'confirmed');
pdash_is($ptok, { totalClients => 3, upcomingAppointments => 3, todayAppointments => 0, pendingAppointments => 2 },
         'confirming: pending 2, upcoming still 3');
cdash_is($ctok, { upcomingAppointments => 2, completedAppointments => 0 }, $a2->{id}, 'client: a confirmed one is upcoming');

api(DELETE => "/api/appointments/$a1->{id}", token => $ctok);
pdash_is($ptok, { totalClients => 3, upcomingAppointments => 2, todayAppointments => 0, pendingAppointments => 1 },
         'cancelling a pending one: upcoming 2, pending 1');
cdash_is($ctok, { upcomingAppointments => 1, completedAppointments => 0 }, $a2->{id}, 'client: upcoming 1');

# completed: moved into the past first
appt_to_past($a2->{id}, 2 * 24 * 60);
pdash_is($ptok, { totalClients => 3, upcomingAppointments => 1, todayAppointments => 0, pendingAppointments => 1 },
         'a confirmed appointment in the past is no longer upcoming');
cdash_is($ctok, { upcomingAppointments => 0, completedAppointments => 0 }, undef, 'client: nothing upcoming, next null');
my (undef, undef, $cres) = appt_patch($ptok, $a2->{id}, status => 'completed');
is($cres->code, 200, 'setup: completed');
cdash_is($ctok, { upcomingAppointments => 0, completedAppointments => 1 }, undef, 'client: completed 1');
cdash_is($c2tok, { upcomingAppointments => 1, completedAppointments => 0 }, $a3->{id}, 'the other client: its own upcoming one');

# a pending appointment that has already started is neither upcoming nor pending-to-decide
my (undef, $a4) = book($c2tok, date => "$Y-03-10", time => '09:00');
appt_to_past($a4->{id}, 5 * 24 * 60);
pdash_is($ptok, { totalClients => 3, upcomingAppointments => 1, todayAppointments => 0, pendingAppointments => 1 },
         'a past pending appointment counts in neither upcoming nor pending');

# ---- today, in the provider's zone ------------------------------------------------------------------------------
for my $zone ('America/New_York', 'Pacific/Kiritimati', 'Pacific/Pago_Pago') {
    local_today($zone);    # not in the last minute before midnight there (it waits it out)
    my ($tp, $zp) = provider_session(timeZone => $zone);
    my ($tc) = client_session($zp->{id});
    my (undef, $t1) = book($tc, date => "$Y-04-01", time => '10:00');
    my (undef, $t2) = book($tc, date => "$Y-04-02", time => '10:00');
    my (undef, $t3) = book($tc, date => "$Y-04-03", time => '10:00');
    my (undef, $t4) = book($tc, date => "$Y-04-04", time => '10:00');
    move_to_today($t1->{id}, $zone, '00:00');
    move_to_today($t2->{id}, $zone, '23:00');
    move_to_today($t3->{id}, $zone, '12:00');
    api(DELETE => "/api/appointments/$t3->{id}", token => $tc);
    my ($pd, $pres) = pdash($tp);
    is($pd->{todayAppointments}, 2, "$zone: today counts the local day's 00:00 and 23:00 appointments, not the cancelled one")
        or diag(dump_res($pres) . psql(q{SELECT starts_at, status FROM appointments WHERE provider_id = } . sql_quote($zp->{id})));
}

# ---- the other provider's activity never shows ------------------------------------------------------------------
my ($oc) = client_session($prov2->{id});
my (undef, $o1) = book($oc, date => "$Y-02-20", time => '09:00');
my (undef, $o2) = book($oc, date => "$Y-02-21", time => '09:00');
move_to_today($o2->{id}, 'America/New_York', '12:00');
pdash_is($ptok, { totalClients => 3, upcomingAppointments => 1, todayAppointments => 0, pendingAppointments => 1 },
         "provider 1's dashboard unchanged by provider 2's bookings");
my ($p2d) = pdash($p2tok);
is($p2d->{todayAppointments}, 1, "provider 2 sees its own appointment today");
is($p2d->{totalClients}, 3, 'provider 2: three clients now');

# ---- audit ---------------------------------------------------------------------------------------------------------
(undef, $res) = pdash($ptok);
my @ev = audit_events_for($res->header('X-Request-Id'));
is(join(',', map { "$_->{action}/$_->{outcome}/$_->{actor_id}/$_->{actor_type}" } @ev),
   "dashboard.read/success/$prov->{id}/provider", 'provider dashboard: dashboard.read row');
(undef, $res) = cdash($ctok);
@ev = audit_events_for($res->header('X-Request-Id'));
is(join(',', map { "$_->{action}/$_->{outcome}/$_->{actor_id}/$_->{client_id}" } @ev),
   "dashboard.read/success/$cli->{id}/$cli->{id}", 'client dashboard: dashboard.read row with the client');

done_testing();
