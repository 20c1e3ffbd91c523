# Audit events for practice and scheduling: every read and write of a client's data leaves one
# row with the actor, the outcome, the client, the resource and the request's X-Request-Id;
# refused attempts on another's appointment are recorded as denied.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my $Y = next_year();
my $IP_RE = qr/^(?:127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/;

# audit_one($res, {field => want...}, $name): exactly one row for the response's X-Request-Id
# and it matches (want '' for NULL).
sub audit_one {
    my ($res, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $rid = $res->header('X-Request-Id');
    my @rows = audit_events_for($rid);
    my @p;
    push @p, scalar(@rows) . " audit rows for request_id '" . ($rid // 'undef') . "', expected 1" if @rows != 1;
    if (@rows) {
        my $r = $rows[0];
        for my $k (sort keys %$want) {
            my $w = $want->{$k};
            push @p, "$k is '$r->{$k}', expected '$w'" unless $r->{$k} eq $w;
        }
        push @p, "ip '$r->{ip}' is not loopback" unless $r->{ip} =~ $IP_RE;
    }
    ok(!@p, $name) or diag(join("\n", @p) . "\nrequest: " . $res->request->method . ' ' . $res->request->uri
                          . ' -> ' . $res->code . "\nlatest rows:\n"
                          . psql(q{SELECT seq, action, outcome, actor_id, actor_type, resource_id, client_id, request_id }
                               . q{FROM audit_events ORDER BY seq DESC LIMIT 5}));
}

my ($ptok, $p) = provider_session(name => 'Dr Audit');
my ($ctok, $c) = client_session($p->{id}, name => 'Audited Client');
my ($p2tok, $p2) = provider_session();
my ($c2tok, $c2) = client_session($p2->{id});
my ($cbtok, $cb) = client_session($p->{id});

# ---- writes --------------------------------------------------------------------------------------
my (undef, $a, $res) = book($ctok, date => "$Y-09-06", time => '10:00');
is($res->code, 201, 'setup: booked');
my $id = $a->{id};
audit_one($res, { action => 'appointment.create', outcome => 'success', actor_id => $c->{id}, actor_type => 'client',
                  resource_type => 'appointment', resource_id => $id, client_id => $c->{id} },
          'booking: appointment.create success, resource and client');
(undef, undef, $res) = book($cbtok, date => "$Y-09-06", time => '10:10');
is($res->code, 409, 'setup: slot taken');
audit_one($res, { action => 'appointment.create', outcome => 'failure', actor_id => $cb->{id}, client_id => $cb->{id} },
          'slot_taken: appointment.create failure');
(undef, undef, $res) = book($ptok, date => "$Y-09-06", time => '12:00');
audit_one($res, { action => 'appointment.create', outcome => 'denied', actor_id => $p->{id}, actor_type => 'provider' },
          'a provider on the booking route: appointment.create denied');

(undef, undef, $res) = appt_patch($ptok, $id, status => 'confirmed');
is($res->code, 200, 'setup: confirmed');
audit_one($res, { action => 'appointment.update', outcome => 'success', actor_id => $p->{id}, actor_type => 'provider',
                  resource_id => $id, client_id => $c->{id} },
          'confirm: appointment.update success by the provider, client recorded');
(undef, undef, $res) = appt_patch($ctok, $id, time => '11:00');
audit_one($res, { action => 'appointment.update', outcome => 'success', actor_id => $c->{id}, resource_id => $id,
                  client_id => $c->{id} }, 'reschedule: appointment.update success by the client');

(undef, undef, $res) = api(POST => "/api/appointments/$id/join", token => $ctok);
audit_one($res, { action => 'appointment.join', outcome => 'success', actor_id => $c->{id}, resource_id => $id,
                  client_id => $c->{id} }, 'join: appointment.join success');
(undef, undef, $res) = api(POST => "/api/appointments/$id/join", token => $ptok);
audit_one($res, { action => 'appointment.join', outcome => 'success', actor_id => $p->{id}, resource_id => $id,
                  client_id => $c->{id} }, 'provider join: appointment.join success, client recorded');

# ---- reads ----------------------------------------------------------------------------------------
(undef, undef, $res) = appt_get($ptok, $id);
audit_one($res, { action => 'appointment.read', outcome => 'success', actor_id => $p->{id}, actor_type => 'provider',
                  resource_type => 'appointment', resource_id => $id, client_id => $c->{id} },
          "provider GET: appointment.read success with the client");
(undef, undef, $res) = appt_get($ctok, $id);
audit_one($res, { action => 'appointment.read', outcome => 'success', actor_id => $c->{id}, actor_type => 'client',
                  resource_id => $id, client_id => $c->{id} }, 'client GET: appointment.read success');
(undef, undef, $res) = api(GET => '/api/provider/appointments', token => $ptok);
audit_one($res, { action => 'appointment.list', outcome => 'success', actor_id => $p->{id} },
          'provider list: appointment.list success');
(undef, undef, $res) = api(GET => '/api/client/appointments?status=upcoming', token => $ctok);
audit_one($res, { action => 'appointment.list', outcome => 'success', actor_id => $c->{id}, client_id => $c->{id} },
          'client list: appointment.list success with the client');
(undef, undef, $res) = api(GET => '/api/provider/dashboard', token => $ptok);
audit_one($res, { action => 'dashboard.read', outcome => 'success', actor_id => $p->{id} }, 'provider dashboard.read');
(undef, undef, $res) = api(GET => '/api/client/dashboard', token => $ctok);
audit_one($res, { action => 'dashboard.read', outcome => 'success', actor_id => $c->{id}, client_id => $c->{id} },
          'client dashboard.read');
(undef, undef, $res) = api(GET => '/api/client/provider', token => $ctok);
audit_one($res, { action => 'provider.read', outcome => 'success', actor_id => $c->{id}, resource_id => $p->{id},
                  client_id => $c->{id} }, 'provider.read with the provider as resource');
(undef, undef, $res) = api(GET => '/api/provider/clients', token => $ptok);
audit_one($res, { action => 'client.list', outcome => 'success', actor_id => $p->{id} }, 'client.list');
my (undef, $ni);
(undef, $ni, $res) = invite_client($ptok, name => 'Audit Invite');
audit_one($res, { action => 'client.create', outcome => 'success', actor_id => $p->{id}, resource_id => $ni->{id},
                  client_id => $ni->{id} }, 'client.create with the new client');
(undef, undef, $res) = api(PATCH => '/api/auth/me', token => $ctok, json => { insurance => 'Audit Plan' });
audit_one($res, { action => 'user.update', outcome => 'success', actor_id => $c->{id}, resource_id => $c->{id},
                  client_id => $c->{id} }, "a client's own profile update: user.update with the client");

# ---- denied and refused ------------------------------------------------------------------------------
for my $o (['provider of another practice', $p2tok, $p2], ['client of another practice', $c2tok, $c2],
           ['another client of the same practice', $cbtok, $cb]) {
    my ($who, $tok, $u) = @$o;
    (undef, undef, $res) = appt_get($tok, $id);
    is($res->code, 404, "setup: $who GET 404");
    audit_one($res, { action => 'appointment.read', outcome => 'denied', actor_id => $u->{id}, resource_id => $id },
              "$who reading the appointment: appointment.read denied, actor and resource recorded");
    (undef, undef, $res) = api(POST => "/api/appointments/$id/join", token => $tok);
    audit_one($res, { action => 'appointment.join', outcome => 'denied', actor_id => $u->{id}, resource_id => $id },
              "$who joining: appointment.join denied");
    (undef, undef, $res) = appt_patch($tok, $id, status => 'cancelled');
    is($res->code, 404, "setup: $who PATCH 404");
    audit_one($res, { action => 'appointment.update', outcome => 'denied', actor_id => $u->{id}, resource_id => $id },
              "$who changing the appointment: appointment.update denied");
    (undef, undef, $res) = api(DELETE => "/api/appointments/$id", token => $tok);
    is($res->code, 404, "setup: $who DELETE 404");
    audit_one($res, { action => 'appointment.cancel', outcome => 'denied', actor_id => $u->{id}, resource_id => $id },
              "$who cancelling the appointment: appointment.cancel denied");
}
# whatever the outsiders tried, nothing was recorded as their success on this appointment
is(psql(q{SELECT count(*) FROM audit_events WHERE resource_id = } . sql_quote($id)
      . q{ AND outcome = 'success' AND actor_id NOT IN (} . sql_quote($p->{id}) . ', ' . sql_quote($c->{id}) . ')'),
   '0', 'no success row on the appointment for anyone but its provider and client');

(undef, undef, $res) = api(GET => '/api/provider/appointments', token => $ctok);
audit_one($res, { action => 'appointment.list', outcome => 'denied', actor_id => $c->{id}, actor_type => 'client' },
          'a client on the provider list: appointment.list denied');
(undef, undef, $res) = api(GET => '/api/provider/clients', token => $ctok);
audit_one($res, { action => 'client.list', outcome => 'denied', actor_id => $c->{id} }, 'a client on client.list: denied');
(undef, undef, $res) = api(GET => "/api/appointments/$id");
audit_one($res, { action => 'appointment.read', outcome => 'denied', actor_id => '', actor_type => 'anonymous' },
          'no token: appointment.read denied, anonymous');

# a read that found nothing is not a successful read
my ($c0tok, $c0) = client_session(undef);
(undef, undef, $res) = api(GET => '/api/client/provider', token => $c0tok);
is($res->code, 404, 'setup: a client without a provider reads its provider: 404');
my @pr = audit_events_for($res->header('X-Request-Id'));
is(scalar @pr, 1, 'provider.read without a provider: one audit row');
ok(@pr && $pr[0]{action} eq 'provider.read' && $pr[0]{outcome} ne 'success',
   'provider.read that answered 404 is not recorded as success')
    or diag(join ', ', map { "$_->{action}/$_->{outcome}" } @pr);

# ---- cancel ---------------------------------------------------------------------------------------------
(undef, undef, $res) = api(DELETE => "/api/appointments/$id", token => $ctok);
is($res->code, 200, 'setup: the owner cancels');
audit_one($res, { action => 'appointment.cancel', outcome => 'success', actor_id => $c->{id}, resource_id => $id,
                  client_id => $c->{id} }, 'DELETE: appointment.cancel success');
(undef, undef, $res) = api(POST => "/api/appointments/$id/join", token => $ctok);
is($res->code, 409, 'setup: join a cancelled one 409');
my @ev = audit_events_for($res->header('X-Request-Id'));
is(join(',', map { "$_->{action}/$_->{actor_id}/$_->{resource_id}" } @ev), "appointment.join/$c->{id}/$id",
   'join of a cancelled appointment: one appointment.join row');

# ---- concurrent bookings: one row each --------------------------------------------------------------------
my @res = race(map { { method => 'POST', path => '/api/client/appointments', token => $ctok,
                       json => { date => "$Y-09-07", time => '10:00' } } } 1 .. 6);
my %outc;
my $rows_ok = 1;
for my $r (@res) {
    my @rows = audit_events_for($r->{request_id});
    $rows_ok = 0 unless @rows == 1 && $rows[0]{action} eq 'appointment.create';
    $outc{ $rows[0] ? $rows[0]{outcome} : 'none' }++;
}
ok($rows_ok, 'six concurrent bookings: one appointment.create row each');
is_deeply(\%outc, { success => 1, failure => 5 }, 'one success row, five failure rows');

done_testing();
