# No double booking under concurrency: requests for one slot sent at the same moment, each from
# its own process over its own connection, yield exactly one success.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my $Y = next_year();

sub tally {
    my (@res) = @_;
    my %t;
    for my $r (@res) {
        my $code = ref $r->{body} eq 'HASH' ? ($r->{body}{code} // '') : '';
        $t{ $r->{status} . ($code ne '' ? " $code" : '') }++;
    }
    return join ', ', map { "$_ x$t{$_}" } sort keys %t;
}

sub live_count {
    my ($provider_id, $from, $to) = @_;
    return scalar psql(q{SELECT count(*) FROM appointments WHERE provider_id = } . sql_quote($provider_id)
                     . q{ AND status IN ('pending', 'confirmed') AND tstzrange(starts_at, ends_at) && }
                     . q{tstzrange(} . sql_quote($from) . q{::timestamptz, } . sql_quote($to) . q{::timestamptz)});
}

sub book_spec {
    my ($token, %b) = @_;
    return { method => 'POST', path => '/api/client/appointments', token => $token, json => \%b };
}

# ---- 20 identical requests from one client ----------------------------------------------------------
my ($ptok, $prov) = provider_session(name => 'Dr Busy');
my ($ctok, $cli) = client_session($prov->{id});
my $date = "$Y-06-15";
my @res = race(map { book_spec($ctok, date => $date, time => '10:00', duration => 50) } 1 .. 20);
my @ok   = grep { $_->{status} == 201 } @res;
my @busy = grep { $_->{status} == 409 && ref $_->{body} eq 'HASH' && ($_->{body}{code} // '') eq 'slot_taken' } @res;
is(scalar @ok, 1, '20 concurrent bookings of one slot: exactly one 201') or diag(tally(@res));
is(scalar @busy, 19, '... and nineteen 409 slot_taken') or diag(tally(@res));
is(scalar(@ok) + scalar(@busy), 20, 'no other answer (no 500, no 503)') or diag(tally(@res));
ok(!(grep { !defined $_->{request_id} } @res), 'every answer carries X-Request-Id');
my $winner = $ok[0] ? $ok[0]{body} : {};
like($winner->{id} // '', $UUID_RE, 'the winner got an appointment');
is(psql(q{SELECT count(*) FROM appointments WHERE provider_id = } . sql_quote($prov->{id})), '1',
   'exactly one row in the database');
is(live_count($prov->{id}, "${date}T00:00:00Z", "${date}T23:59:59Z"), '1', 'one live appointment that day');
my (undef, $g) = appt_get($ctok, $winner->{id} // uuid_v4());
is($g->{status}, 'pending', 'the winner reads back as pending');

# ---- one slot, ten clients of the same provider ----------------------------------------------------------
my @clients = map { [client_session($prov->{id})] } 1 .. 10;
@res = race(map { book_spec($_->[0], date => $date, time => '14:00', duration => 60) } @clients);
@ok = grep { $_->{status} == 201 } @res;
is(scalar @ok, 1, '10 clients racing for one slot: exactly one 201') or diag(tally(@res));
is(scalar(grep { $_->{status} == 409 && ($_->{body}{code} // '') eq 'slot_taken' } @res), 9,
   '... nine 409 slot_taken') or diag(tally(@res));
is(live_count($prov->{id}, "${date}T18:00:00Z", "${date}T19:00:00Z"), '1', 'one appointment in that hour');
my %owner = map { $_->[1]{id} => 1 } @clients;
ok($ok[0] && $owner{ $ok[0]{body}{clientId} // '' }, 'it belongs to one of the racing clients');

# ---- overlapping but different slots ---------------------------------------------------------------------------
# 12 requests 16:00, 16:05, ... 16:55, each 60 minutes: every pair overlaps
my @times = map { sprintf '16:%02d', 5 * $_ } 0 .. 11;
@res = race(map { book_spec($clients[$_ % 10][0], date => $date, time => $times[$_], duration => 60) } 0 .. $#times);
@ok = grep { $_->{status} == 201 } @res;
is(scalar @ok, 1, '12 mutually overlapping bookings: exactly one 201') or diag(tally(@res));
is(scalar(grep { $_->{status} == 409 } @res), 11, '... the others 409') or diag(tally(@res));
is(live_count($prov->{id}, "${date}T20:00:00Z", "${date}T22:00:00Z"), '1', 'no overlap in the database');

# ---- disjoint slots at the same moment all succeed ------------------------------------------------------------
my ($p2tok, $prov2) = provider_session();
my @c2 = map { [client_session($prov2->{id})] } 1 .. 8;
@res = race(map { book_spec($c2[$_][0], date => $date, time => sprintf('%02d:00', 8 + $_), duration => 60) } 0 .. 7);
is(scalar(grep { $_->{status} == 201 } @res), 8, '8 concurrent bookings of 8 adjacent hours: all 201') or diag(tally(@res));
is(psql(q{SELECT count(*) FROM appointments WHERE provider_id = } . sql_quote($prov2->{id})), '8', 'eight rows');

# ---- two providers do not block each other -----------------------------------------------------------------------
my ($p3tok, $prov3) = provider_session();
my ($c3tok) = client_session($prov3->{id});
my ($p4tok, $prov4) = provider_session();
my ($c4tok) = client_session($prov4->{id});
@res = race((map { book_spec($c3tok, date => $date, time => '12:00') } 1 .. 5),
            (map { book_spec($c4tok, date => $date, time => '12:00') } 1 .. 5));
is(scalar(grep { $_->{status} == 201 } @res[0 .. 4]), 1, 'provider 3: one of five') or diag(tally(@res[0 .. 4]));
is(scalar(grep { $_->{status} == 201 } @res[5 .. 9]), 1, 'provider 4: one of five') or diag(tally(@res[5 .. 9]));

# ---- reschedules racing for one slot -----------------------------------------------------------------------------------
my @mine;
for my $h (8 .. 13) {
    my (undef, $x, $xr) = book($clients[$h - 8][0], date => "$Y-06-16", time => sprintf('%02d:00', $h), duration => 50);
    is($xr->code, 201, "reschedule race setup: $h:00") or diag(dump_res($xr));
    push @mine, [$clients[$h - 8][0], $x];
}
@res = race(map { { method => 'PATCH', path => "/api/appointments/$_->[1]{id}", token => $_->[0],
                    json => { date => "$Y-06-17", time => '09:00' } } } @mine);
is(scalar(grep { $_->{status} == 200 } @res), 1, '6 reschedules onto one slot: exactly one 200') or diag(tally(@res));
is(scalar(grep { $_->{status} == 409 && ($_->{body}{code} // '') eq 'slot_taken' } @res), 5, '... five 409 slot_taken')
    or diag(tally(@res));
is(live_count($prov->{id}, "$Y-06-17T00:00:00Z", "$Y-06-17T23:59:59Z"), '1', 'one appointment on the new day');
is(live_count($prov->{id}, "$Y-06-16T00:00:00Z", "$Y-06-16T23:59:59Z"), '5', 'the losers kept their old slots');

# a booking and a reschedule racing for the same slot
my (undef, $mv) = book($clients[0][0], date => "$Y-06-18", time => '08:00');
@res = race({ method => 'PATCH', path => "/api/appointments/$mv->{id}", token => $clients[0][0],
              json => { time => '11:00' } },
            map { book_spec($clients[$_][0], date => "$Y-06-18", time => '11:00') } 1 .. 5);
is(scalar(grep { $_->{status} == 200 || $_->{status} == 201 } @res), 1,
   'a reschedule and five bookings for one slot: exactly one wins') or diag(tally(@res));
is(live_count($prov->{id}, "$Y-06-18T15:00:00Z", "$Y-06-18T15:50:00Z"), '1', 'one appointment at 11:00');

# ---- a cancel and a booking: the slot is never held twice ---------------------------------------------------------------
my (undef, $held) = book($clients[1][0], date => "$Y-06-19", time => '10:00');
@res = race({ method => 'DELETE', path => "/api/appointments/$held->{id}", token => $clients[1][0] },
            map { book_spec($clients[$_][0], date => "$Y-06-19", time => '10:00') } 2 .. 6);
is($res[0]{status}, 200, 'the cancel succeeds') or diag($res[0]{raw});
my $wins = grep { $_->{status} == 201 } @res[1 .. 5];
ok($wins <= 1, 'at most one booking took the freed slot') or diag(tally(@res));
is(live_count($prov->{id}, "$Y-06-19T14:00:00Z", "$Y-06-19T14:50:00Z"), "$wins", 'the database agrees');

# ---- a confirmation and a cancellation at once: the cancellation is never lost --------------------------------
for my $round (1 .. 3) {
    my (undef, $x) = book($clients[2][0], date => "$Y-06-20", time => sprintf('%02d:00', 8 + $round));
    @res = race({ method => 'PATCH', path => "/api/appointments/$x->{id}", token => $ptok, json => { status => 'confirmed' } },
                { method => 'DELETE', path => "/api/appointments/$x->{id}", token => $clients[2][0] });
    is($res[1]{status}, 200, "round $round: the client's cancel succeeds (pending or confirmed)") or diag(tally(@res));
    ok($res[0]{status} == 200 || ($res[0]{status} == 409 && ($res[0]{body}{code} // '') eq 'invalid_transition'),
       "round $round: the confirmation is 200 or 409 invalid_transition") or diag(tally(@res));
    is(psql('SELECT status FROM appointments WHERE id = ' . sql_quote($x->{id})), 'cancelled',
       "round $round: the appointment ends cancelled");
}

# ---- one invitation used by several registrations at once: single use --------------------------------------------------
my (undef, $inv) = invite_client($ptok, name => 'Racing Invitee');
my $itok = invite_token_of($inv->{inviteUrl});
my @pw = map { "Race-pass-$_-xyz" } 1 .. 6;
@res = race(map { { method => 'POST', path => '/api/auth/register',
                    json => { email => $inv->{email}, password => $_, inviteToken => $itok } } } @pw);
my @won = grep { $res[$_]{status} == 201 } 0 .. $#res;
is(scalar @won, 1, 'six registrations with one invitation at once: exactly one 201') or diag(tally(@res));
is(scalar(grep { $_->{status} == 422 && ($_->{body}{field} // '') eq 'inviteToken' } @res), 5,
   '... five 422 inviteToken') or diag(tally(@res));
if (@won == 1) {
    my (undef, undef, $lres) = login($inv->{email}, $pw[$won[0]]);
    is($lres->code, 200, "the winner's password is the one that works");
    my $others_ok = grep { (login($inv->{email}, $pw[$_]))[0] == 200 } grep { $_ != $won[0] } 0 .. $#pw;
    is($others_ok, 0, "none of the losers' passwords works");
}
else {
    fail('no single winner to log in with') for 1 .. 2;
}

# ---- the same new client created by several requests at once --------------------------------------------------------
my $em = unique_email('race.create');
@res = race(map { { method => 'POST', path => '/api/provider/clients', token => $ptok,
                    json => { email => $em, name => "Racer $_" } } } 1 .. 6);
is(scalar(grep { $_->{status} == 201 } @res), 1, 'six creations of one client email at once: one 201') or diag(tally(@res));
is(scalar(grep { $_->{status} == 409 && ($_->{body}{code} // '') eq 'email_taken' } @res), 5, '... five 409 email_taken')
    or diag(tally(@res));
is(psql('SELECT count(*) FROM users WHERE email = ' . sql_quote($em)), '1', 'one user row');
is(psql('SELECT count(*) FROM invites i JOIN users u ON u.id = i.client_id WHERE u.email = ' . sql_quote($em)), '1',
   'one invitation');

done_testing();
