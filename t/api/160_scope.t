# Scope: another practice's provider and client, and another client of the same practice, can
# neither read nor change nor cancel nor join an appointment (404, never data); role checks 403.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my $Y = next_year();

sub row_of {
    my ($id) = @_;
    return scalar psql(q{SELECT status || '|' || starts_at || '|' || duration_minutes || '|' || amount_cents }
                     . q{|| '|' || coalesce(notes, '') || '|' || video_link || '|' || updated_at }
                     . q{FROM appointments WHERE id = } . sql_quote($id));
}

sub ids { return [map { $_->{id} } @{ ref $_[0] eq 'ARRAY' ? $_[0] : [] }] }

# no trace of the appointment in an answer
sub leaks {
    my ($res, $appt) = @_;
    my $c = $res->content // '';
    my ($room) = ($appt->{videoLink} // '') =~ /DocPortal-([0-9a-f]+)/;
    return grep { defined && length && index($c, $_) >= 0 }
        ($room, $appt->{clientName}, $appt->{notes}, $appt->{startsAt});
}

my ($p1tok, $p1) = provider_session(name => 'Dr One', hourlyRate => 90);
my ($c1tok, $c1) = client_session($p1->{id}, name => 'Owner Olga');
my ($c1btok, $c1b) = client_session($p1->{id}, name => 'Neighbour Ned');
my ($p2tok, $p2) = provider_session(name => 'Dr Two');
my ($c2tok, $c2) = client_session($p2->{id}, name => 'Stranger Sam');
my ($c0tok, $c0) = client_session(undef, name => 'Loner Lou');

my (undef, $a, $ares) = book($c1tok, date => "$Y-08-03", time => '10:00', notes => 'private-note-7731');
is($ares->code, 201, 'setup: the owner booked') or diag(dump_res($ares));
my (undef, undef, $cf) = appt_patch($p1tok, $a->{id}, status => 'confirmed');
is($cf->code, 200, 'setup: its provider confirmed it');
(undef, $a) = appt_get($c1tok, $a->{id});
my $id = $a->{id};
my $before = row_of($id);

my @others = (
    ['provider of another practice', $p2tok],
    ['client of another practice',   $c2tok],
    ['another client of the same practice', $c1btok],
    ['a client without a provider',  $c0tok],
);
for my $o (@others) {
    my ($who, $tok) = @$o;
    my (undef, undef, $r) = appt_get($tok, $id);
    error_is($r, 404, 'not_found', undef, "$who: GET -> 404 not_found");
    ok(!leaks($r, $a), "$who: GET answer holds nothing of the appointment");
    (undef, undef, $r) = appt_patch($tok, $id, status => 'cancelled');
    error_is($r, 404, 'not_found', undef, "$who: PATCH status cancelled -> 404");
    (undef, undef, $r) = appt_patch($tok, $id, status => 'completed');
    error_is($r, 404, 'not_found', undef, "$who: PATCH status completed -> 404 (not 403: the record is not visible)");
    (undef, undef, $r) = appt_patch($tok, $id, date => "$Y-08-04", time => '11:00');
    error_is($r, 404, 'not_found', undef, "$who: PATCH reschedule -> 404");
    (undef, undef, $r) = appt_patch($tok, $id, notes => 'defaced');
    error_is($r, 404, 'not_found', undef, "$who: PATCH notes -> 404");
    ok(!leaks($r, $a), "$who: PATCH answer holds nothing of the appointment");
    (undef, undef, $r) = api(DELETE => "/api/appointments/$id", token => $tok);
    error_is($r, 404, 'not_found', undef, "$who: DELETE -> 404");
    (undef, undef, $r) = api(POST => "/api/appointments/$id/join", token => $tok);
    error_is($r, 404, 'not_found', undef, "$who: join -> 404");
    ok(!leaks($r, $a), "$who: join answer holds no video link");
    is(row_of($id), $before, "$who: the appointment is unchanged");
}
# the same answer as for an id that does not exist (no existence oracle)
my (undef, undef, $ghost) = appt_get($p2tok, uuid_v4());
my (undef, undef, $real) = appt_get($p2tok, $id);
is(json_body($real)->{code} . '|' . $real->code, json_body($ghost)->{code} . '|' . $ghost->code,
   "another's appointment answers like one that does not exist");

# the owner and its provider still can
my (undef, $ok1, $okres1) = appt_get($c1tok, $id);
is($okres1->code, 200, 'the owner reads it');
my (undef, $ok2, $okres2) = appt_get($p1tok, $id);
is($okres2->code, 200, 'its provider reads it');
is($ok2->{notes}, 'private-note-7731', 'with the notes');

# ---- lists never show another's appointments ------------------------------------------------------
my (undef, $p2own) = book($c2tok, date => "$Y-08-03", time => '10:00');
my (undef, $c1bown) = book($c1btok, date => "$Y-08-03", time => '12:00');
my (undef, $l) = api(GET => '/api/provider/appointments', token => $p2tok);
is_deeply(ids($l), [$p2own->{id}], "provider 2's list: only its own");
(undef, $l) = api(GET => "/api/provider/appointments?date=$Y-08-03", token => $p2tok);
is_deeply(ids($l), [$p2own->{id}], "provider 2's list for that day: only its own");
(undef, $l) = api(GET => "/api/provider/appointments?providerId=$p1->{id}", token => $p2tok);
is_deeply(ids($l), [$p2own->{id}], 'a providerId in the query is ignored');
(undef, $l) = api(GET => '/api/provider/appointments', token => $p1tok);
is_deeply([sort @{ ids($l) }], [sort($id, $c1bown->{id})], "provider 1's list: its two, not provider 2's");
(undef, $l) = api(GET => '/api/client/appointments', token => $c1btok);
is_deeply(ids($l), [$c1bown->{id}], "the neighbour's list: only its own");
(undef, $l) = api(GET => '/api/client/appointments?status=upcoming', token => $c2tok);
is_deeply(ids($l), [$p2own->{id}], "the stranger's upcoming: only its own");
(undef, $l) = api(GET => "/api/client/appointments?clientId=$c1->{id}", token => $c2tok);
is_deeply(ids($l), [$p2own->{id}], 'a clientId in the query is ignored');
(undef, $l) = api(GET => '/api/client/appointments', token => $c0tok);
is_deeply($l, [], 'a client without a provider: empty list');

# ---- clients and providers of another practice ------------------------------------------------------------
my (undef, $cl) = api(GET => '/api/provider/clients', token => $p2tok);
ok(!(grep { $_->{id} eq $c1->{id} } @{ $cl || [] }), "provider 2 does not list provider 1's clients");
my (undef, undef, $steal) = invite_client($p2tok, email => $c1->{email}, name => 'Stolen');
error_is($steal, 409, 'email_taken', undef, "provider 2 'inviting' provider 1's client: 409 email_taken");
is(psql('SELECT provider_id FROM users WHERE id = ' . sql_quote($c1->{id})), $p1->{id}, 'the client still belongs to provider 1');
my (undef, undef, $xb) = book($c2tok, providerId => $p1->{id}, date => "$Y-08-05", time => '10:00');
error_is($xb, 404, 'not_found', undef, "a client of provider 2 booking with provider 1: 404");
is(psql('SELECT count(*) FROM appointments WHERE client_id = ' . sql_quote($c2->{id}) . ' AND provider_id = '
      . sql_quote($p1->{id})), '0', 'no cross-practice appointment exists');
my (undef, $cp) = api(GET => '/api/client/provider', token => $c2tok);
is($cp->{id}, $p2->{id}, 'a client sees only its own provider');
my (undef, $d2) = api(GET => '/api/client/dashboard', token => $c1btok);
ok(!defined $d2->{nextAppointment} || $d2->{nextAppointment}{id} ne $id, "the neighbour's dashboard never shows the owner's appointment");

# ---- role checks ----------------------------------------------------------------------------------------------
my @provider_routes = (['GET', '/api/provider/dashboard'], ['GET', '/api/provider/clients'],
                       ['POST', '/api/provider/clients', { email => unique_email('rc'), name => 'R' }],
                       ['GET', '/api/provider/appointments'], ['GET', "/api/provider/appointments?date=$Y-08-03"]);
my @client_routes = (['GET', '/api/client/dashboard'], ['GET', '/api/client/provider'],
                     ['GET', '/api/client/appointments'], ['GET', '/api/client/appointments?status=upcoming'],
                     ['POST', '/api/client/appointments', { date => "$Y-08-06", time => '10:00' }]);
for my $rt (@provider_routes) {
    my ($m, $path, $body) = @$rt;
    for my $who (['client of the practice', $c1tok], ['client of another practice', $c2tok]) {
        my (undef, undef, $r) = api($m => $path, token => $who->[1], ($body ? (json => $body) : ()));
        error_is($r, 403, 'forbidden', undef, "$who->[0] on $m $path: 403 forbidden");
        ok(!leaks($r, $a), "$who->[0] on $m $path: nothing leaks");
    }
}
for my $rt (@client_routes) {
    my ($m, $path, $body) = @$rt;
    for my $who (['provider of the practice', $p1tok], ['provider of another practice', $p2tok]) {
        my (undef, undef, $r) = api($m => $path, token => $who->[1], ($body ? (json => $body) : ()));
        error_is($r, 403, 'forbidden', undef, "$who->[0] on $m $path: 403 forbidden");
    }
}
for my $rt (@provider_routes, @client_routes, ['GET', "/api/appointments/$id"], ['DELETE', "/api/appointments/$id"],
            ['PATCH', "/api/appointments/$id", { notes => 'x' }], ['POST', "/api/appointments/$id/join"]) {
    my ($m, $path, $body) = @$rt;
    my (undef, undef, $r) = api($m => $path, ($body ? (json => $body) : ()));
    error_is($r, 401, 'unauthorized', undef, "no token on $m $path: 401");
}
is(psql(q{SELECT count(*) FROM users WHERE name = 'R'}), '0', 'the refused client creations created nothing');
is(psql(q{SELECT count(*) FROM appointments WHERE starts_at::date = } . sql_quote("$Y-08-06")), '0',
   'the refused bookings booked nothing');
is(row_of($id), $before, 'the appointment is still unchanged');

# ---- forged and stale tokens --------------------------------------------------------------------------------------
my $now = time;
my $forged = jwt_make({ alg => 'HS256', typ => 'JWT' },
                      { sub => $c1->{id}, role => 'provider', jti => uuid_v4(), iat => $now, exp => $now + 600 },
                      jwt_secret());
my (undef, undef, $fr) = api(GET => '/api/provider/appointments', token => $forged);
error_is($fr, 401, 'unauthorized', undef, "a validly signed token claiming role provider for a client: 401");
$forged = jwt_make({ alg => 'HS256', typ => 'JWT' },
                   { sub => $p2->{id}, role => 'client', jti => uuid_v4(), iat => $now, exp => $now + 600 },
                   jwt_secret());
(undef, undef, $fr) = api(POST => '/api/client/appointments', token => $forged,
                          json => { providerId => $p1->{id}, date => "$Y-08-07", time => '10:00' });
error_is($fr, 401, 'unauthorized', undef, "a validly signed token claiming role client for a provider: 401");
$forged = jwt_make({ alg => 'HS256', typ => 'JWT' },
                   { sub => $c1->{id}, role => 'client', jti => uuid_v4(), iat => $now, exp => $now + 600 },
                   'not-the-secret-not-the-secret-not-the-secret');
(undef, undef, $fr) = appt_get($forged, $id);
error_is($fr, 401, 'unauthorized', undef, 'a token for the owner signed with another key: 401');
my (undef, undef, $lo) = api(POST => '/api/auth/logout', token => $c1btok);
is($lo->code, 204, 'setup: the neighbour logs out');
(undef, undef, $fr) = api(GET => '/api/client/appointments', token => $c1btok);
error_is($fr, 401, 'unauthorized', undef, 'a revoked token cannot list appointments');
(undef, undef, $fr) = api(DELETE => "/api/appointments/$c1bown->{id}", token => $c1btok);
error_is($fr, 401, 'unauthorized', undef, 'a revoked token cannot cancel even its own appointment');
is(psql('SELECT status FROM appointments WHERE id = ' . sql_quote($c1bown->{id})), 'pending', 'still pending');

done_testing();
