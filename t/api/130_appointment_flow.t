# An appointment's life: GET, status changes by the rules, reschedules, cancel (row kept),
# join; the provider's and the client's lists with their filters.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my $Y = next_year();

sub status_of {
    my ($id) = @_;
    return scalar psql('SELECT status FROM appointments WHERE id = ' . sql_quote($id));
}

sub row_of {
    my ($id) = @_;
    return scalar psql(q{SELECT status || '|' || starts_at || '|' || duration_minutes || '|' || amount_cents }
                     . q{|| '|' || coalesce(notes, '') || '|' || video_link FROM appointments WHERE id = } . sql_quote($id));
}

sub ids { return [map { $_->{id} } @{ $_[0] || [] }] }

my ($ptok, $prov) = provider_session(name => 'Dr Flow', hourlyRate => 120);
my ($ctok, $cli)  = client_session($prov->{id}, name => 'Flo Client');

my (undef, $a, $ares) = book($ctok, date => "$Y-04-06", time => '09:00', notes => 'n1');
is($ares->code, 201, 'setup: booked') or diag(dump_res($ares));
my $id = $a->{id};

# ---- GET ------------------------------------------------------------------------------------------
my (undef, $gp, $gpres) = appt_get($ptok, $id);
success_is($gpres, 200, 'provider GET /api/appointments/:id: 200');
is_deeply($gp, $a, 'the provider reads the same appointment');
my (undef, $gc, $gcres) = appt_get($ctok, $id);
success_is($gcres, 200, 'client GET: 200');
is_deeply($gc, $a, 'the client reads the same appointment');
for my $bad ('not-a-uuid', '12345', uc($id) . 'x', "$id-1", '00000000-0000-0000-0000-00000000000g') {
    my (undef, undef, $r) = appt_get($ptok, $bad);
    error_is($r, 404, 'not_found', undef, "GET with malformed id '$bad': 404 not_found");
}
my (undef, undef, $r) = appt_get($ptok, uuid_v4());
error_is($r, 404, 'not_found', undef, 'GET an unknown id: 404');
(undef, undef, $r) = api(GET => "/api/appointments/$id");
error_is($r, 401, 'unauthorized', undef, 'GET without a token: 401');
(undef, undef, $r) = api(PUT => "/api/appointments/$id", token => $ptok, json => {});
error_is($r, 405, 'method_not_allowed', undef, 'PUT: 405');
my $allow = join ', ', $r->header('Allow');
ok($allow =~ /\bGET\b/ && $allow =~ /\bPATCH\b/ && $allow =~ /\bDELETE\b/, 'PUT: Allow names GET, PATCH and DELETE')
    or diag("Allow: '$allow'");

# ---- confirm, complete ---------------------------------------------------------------------------------
(undef, undef, $r) = appt_patch($ctok, $id, status => 'confirmed');
error_is($r, 403, 'forbidden', undef, 'client confirming: 403 forbidden');
is(status_of($id), 'pending', 'still pending');
(undef, undef, $r) = appt_patch($ctok, $id, status => 'completed');
error_is($r, 403, 'forbidden', undef, 'client completing: 403 forbidden');
(undef, undef, $r) = appt_patch($ptok, $id, status => 'completed');
error_is($r, 409, 'invalid_transition', undef, 'provider pending -> completed: 409 invalid_transition');
is(status_of($id), 'pending', 'still pending');
(undef, undef, $r) = appt_patch($ptok, $id, status => 'done');
error_is($r, 422, 'validation_error', 'status', 'unknown status: 422 field status');
(undef, undef, $r) = appt_patch($ptok, $id, status => 5);
error_is($r, 422, 'validation_error', 'status', 'status a number: 422');

my (undef, $cfd, $cfres) = appt_patch($ptok, $id, status => 'confirmed');
success_is($cfres, 200, 'provider pending -> confirmed: 200');
is($cfd->{status}, 'confirmed', 'answer shows confirmed');
is($cfd->{videoLink}, $a->{videoLink}, 'videoLink unchanged by confirming');
is($cfd->{startsAt}, $a->{startsAt}, 'time unchanged by confirming');
ok((ts_epoch($cfd->{updatedAt}) // 0) >= (ts_epoch($a->{updatedAt}) // 9e9), 'updatedAt moved forward');
is(status_of($id), 'confirmed', 'stored confirmed');

(undef, undef, $r) = appt_patch($ptok, $id, status => 'completed');
error_is($r, 409, 'invalid_transition', undef, 'confirmed -> completed before startsAt: 409 invalid_transition');
(undef, undef, $r) = appt_patch($ptok, $id, status => 'pending');
error_is($r, 409, 'invalid_transition', undef, 'provider confirmed -> pending: 409');
(undef, undef, $r) = appt_patch($ctok, $id, status => 'pending');
error_is($r, [409, 403], ['invalid_transition', 'forbidden'], undef, 'client confirmed -> pending by status: refused');
is(status_of($id), 'confirmed', 'still confirmed');

# notes by either party
my (undef, $nd, $nres) = appt_patch($ctok, $id, notes => 'Please call first');
success_is($nres, 200, 'client edits notes: 200');
is($nd->{notes}, 'Please call first', 'notes changed');
is($nd->{status}, 'confirmed', 'editing notes keeps confirmed');
(undef, $nd, $nres) = appt_patch($ptok, $id, notes => undef);
success_is($nres, 200, 'provider clears notes: 200');
ok(exists $nd->{notes} && !defined $nd->{notes}, 'notes cleared by null');

# move it into the past, then complete it
appt_to_past($id, 30);
(undef, undef, $r) = appt_patch($ctok, $id, status => 'completed');
error_is($r, 403, 'forbidden', undef, 'client completing a started appointment: 403');
my (undef, $cmp, $cmres) = appt_patch($ptok, $id, status => 'completed');
success_is($cmres, 200, 'provider confirmed -> completed after startsAt: 200');
is($cmp->{status}, 'completed', 'completed');
is(status_of($id), 'completed', 'stored completed');
my $row = row_of($id);
(undef, undef, $r) = appt_patch($ptok, $id, status => 'pending');
error_is($r, 409, 'invalid_transition', undef, 'completed -> pending: 409');
(undef, undef, $r) = appt_patch($ptok, $id, status => 'confirmed');
error_is($r, 409, 'invalid_transition', undef, 'completed -> confirmed: 409');
(undef, undef, $r) = appt_patch($ptok, $id, status => 'cancelled');
error_is($r, 409, 'invalid_transition', undef, 'completed -> cancelled by PATCH: 409');
(undef, undef, $r) = api(DELETE => "/api/appointments/$id", token => $ctok);
error_is($r, 409, 'invalid_transition', undef, 'DELETE a completed appointment: 409');
(undef, undef, $r) = appt_patch($ptok, $id, date => "$Y-04-20", time => '09:00');
error_is($r, 409, 'invalid_transition', undef, 'rescheduling a completed appointment: 409');
(undef, undef, $r) = appt_patch($ptok, $id, duration => 30);
error_is($r, 409, 'invalid_transition', undef, 'changing the duration of a completed appointment: 409');
is(row_of($id), $row, 'the completed appointment is unchanged');
my (undef, $jn, $jres) = api(POST => "/api/appointments/$id/join", token => $ctok);
success_is($jres, 200, 'join a completed appointment: 200');

# completing is only for an appointment that has started: completing and moving it into the
# future in one PATCH must not give a completed appointment that has not happened yet
{
    my (undef, $s, $sres) = book($ctok, date => "$Y-04-13", time => '09:00');
    appt_patch($ptok, $s->{id}, status => 'confirmed');
    appt_to_past($s->{id}, 20);
    my $srow = row_of($s->{id});
    my (undef, $sd, $sr) = appt_patch($ptok, $s->{id}, status => 'completed', date => "$Y-04-14", time => '09:00');
    ok($sr->code == 409 || $sr->code == 422,
       'complete + reschedule into the future in one PATCH: refused (409/422)')
        or diag(dump_res($sr));
    is(row_of($s->{id}), $srow, 'the started appointment is unchanged (not completed with a future start)');
    is(psql(q{SELECT count(*) FROM appointments WHERE status = 'completed' AND starts_at > now() AND provider_id = }
          . sql_quote($prov->{id})), '0', 'no completed appointment starts in the future');
}

# ---- cancel ---------------------------------------------------------------------------------------------
my (undef, $b, $bres) = book($ctok, date => "$Y-04-07", time => '09:00');
my $bid = $b->{id};
my (undef, $del, $delres) = api(DELETE => "/api/appointments/$bid", token => $ctok);
success_is($delres, 200, 'client DELETE a pending appointment: 200');
is($del->{id}, $bid, 'DELETE answers the appointment');
is($del->{status}, 'cancelled', 'DELETE answers status cancelled');
is(status_of($bid), 'cancelled', 'the row is kept, cancelled');
my (undef, $gb, $gbres) = appt_get($ptok, $bid);
success_is($gbres, 200, 'GET a cancelled appointment still works');
is($gb->{status}, 'cancelled', 'GET shows cancelled');
$row = row_of($bid);
for my $c (['confirmed', $ptok, 'provider'], ['pending', $ptok, 'provider'], ['completed', $ptok, 'provider']) {
    my ($to, $tok, $who) = @$c;
    (undef, undef, $r) = appt_patch($tok, $bid, status => $to);
    error_is($r, 409, 'invalid_transition', undef, "$who cancelled -> $to: 409 invalid_transition");
}
(undef, undef, $r) = appt_patch($ctok, $bid, date => "$Y-04-21", time => '09:00');
error_is($r, 409, 'invalid_transition', undef, 'rescheduling a cancelled appointment: 409');
(undef, undef, $r) = api(POST => "/api/appointments/$bid/join", token => $ctok);
error_is($r, 409, 'invalid_transition', undef, 'join a cancelled appointment: 409');
(undef, undef, $r) = api(POST => "/api/appointments/$bid/join", token => $ptok);
error_is($r, 409, 'invalid_transition', undef, 'provider join a cancelled appointment: 409');
(undef, undef, $r) = api(DELETE => "/api/appointments/$bid", token => $ptok);
ok($r->code == 200 || $r->code == 409, 'DELETE again: 200 or 409, no error') or diag(dump_res($r));
is(status_of($bid), 'cancelled', 'still cancelled');
is((split /\|/, row_of($bid))[1], (split /\|/, $row)[1], 'the cancelled appointment kept its time');

# provider cancels a confirmed one by PATCH
my (undef, $c2) = book($ctok, date => "$Y-04-08", time => '09:00');
appt_patch($ptok, $c2->{id}, status => 'confirmed');
my (undef, $cx, $cxres) = appt_patch($ptok, $c2->{id}, status => 'cancelled');
success_is($cxres, 200, 'provider confirmed -> cancelled by PATCH: 200');
is($cx->{status}, 'cancelled', 'cancelled');
# provider cancels a pending one by DELETE
my (undef, $c3) = book($ctok, date => "$Y-04-09", time => '09:00');
(undef, $cx, $cxres) = api(DELETE => "/api/appointments/$c3->{id}", token => $ptok);
success_is($cxres, 200, 'provider DELETE a pending appointment: 200');
is($cx->{status}, 'cancelled', 'cancelled');
# client cancels a confirmed one by PATCH
my (undef, $c4) = book($ctok, date => "$Y-04-10", time => '09:00');
appt_patch($ptok, $c4->{id}, status => 'confirmed');
(undef, $cx, $cxres) = appt_patch($ctok, $c4->{id}, status => 'cancelled');
success_is($cxres, 200, 'client confirmed -> cancelled by PATCH: 200');
is($cx->{status}, 'cancelled', 'cancelled');
(undef, undef, $r) = api(DELETE => '/api/appointments/not-a-uuid', token => $ptok);
error_is($r, 404, 'not_found', undef, 'DELETE a malformed id: 404');
(undef, undef, $r) = api(DELETE => '/api/appointments/' . uuid_v4(), token => $ptok);
error_is($r, 404, 'not_found', undef, 'DELETE an unknown id: 404');

# ---- reschedule -----------------------------------------------------------------------------------------
my (undef, $m, $mres) = book($ctok, date => "$Y-05-03", time => '10:00', duration => 50);
my $mid = $m->{id};
appt_patch($ptok, $mid, status => 'confirmed');
my (undef, $mv, $mvres) = appt_patch($ctok, $mid, date => "$Y-05-04", time => '11:30');
success_is($mvres, 200, 'client reschedules a confirmed appointment: 200');
is($mv->{date}, "$Y-05-04", 'new date');
is($mv->{time}, '11:30', 'new time');
is($mv->{startsAt}, "$Y-05-04T15:30:00.000Z", 'new startsAt (EDT)');
is($mv->{endsAt}, "$Y-05-04T16:20:00.000Z", 'new endsAt');
is($mv->{status}, 'pending', "the client's reschedule puts it back to pending");
is($mv->{videoLink}, $m->{videoLink}, 'the videoLink stays the same across a reschedule');
is($mv->{id}, $mid, 'same id');
is($mv->{createdAt}, $m->{createdAt}, 'createdAt unchanged');

appt_patch($ptok, $mid, status => 'confirmed');
(undef, $mv, $mvres) = appt_patch($ptok, $mid, time => '13:00');
success_is($mvres, 200, 'provider reschedules (time only): 200');
is($mv->{date}, "$Y-05-04", 'date kept when only time is sent');
is($mv->{startsAt}, "$Y-05-04T17:00:00.000Z", 'startsAt follows the new time');
is($mv->{status}, 'confirmed', "the provider's reschedule keeps it confirmed");
(undef, $mv, $mvres) = appt_patch($ptok, $mid, date => "$Y-01-11");
success_is($mvres, 200, 'reschedule (date only) across the DST change: 200');
is($mv->{time}, '13:00', 'time kept when only the date is sent');
is($mv->{startsAt}, "$Y-01-11T18:00:00.000Z", 'January 13:00 New York is 18:00Z');
(undef, $mv, $mvres) = appt_patch($ctok, $mid, duration => 90);
success_is($mvres, 200, 'duration change: 200');
is($mv->{duration}, 90, 'duration 90');
is($mv->{endsAt}, "$Y-01-11T19:30:00.000Z", 'endsAt follows the duration');
like($mvres->content, qr/"amount":180(?:\.0+)?[,}]/, 'amount recomputed: 120.00 x 90 / 60 = 180');
is($mv->{status}, 'pending', 'the client changing the duration of a confirmed appointment: pending again');
is($mv->{videoLink}, $m->{videoLink}, 'videoLink still the same');

# a reschedule combined with a confirmation by the provider
my (undef, $both, $bothres) = appt_patch($ptok, $mid, time => '14:00', status => 'confirmed');
success_is($bothres, 200, 'provider reschedules and confirms at once: 200');
is($both->{status}, 'confirmed', 'confirmed');
is($both->{time}, '14:00', 'moved');
# a client may not confirm even while rescheduling
(undef, undef, $r) = appt_patch($ctok, $mid, time => '15:00', status => 'confirmed');
ok($r->code == 403 || ($r->code == 200 && (json_body($r) || {})->{status} eq 'pending'),
   'a client rescheduling with status confirmed: 403, or pending (never confirmed by a client)') or diag(dump_res($r));

# validation of a reschedule, nothing changed
my (undef, $other, $otres) = book($ctok, date => "$Y-05-10", time => '10:00', duration => 60);
is($otres->code, 201, 'setup: a second appointment on 05-10 10:00-11:00');
appt_patch($ptok, $other->{id}, status => 'confirmed');
$row = row_of($mid);
my $dst = us_dst_start($Y);
my @bad = (
    [{ date => day_offset(-3) },                             422, 'validation_error', 'date', 'into the past'],
    [{ date => $dst, time => '02:30' },                      422, 'validation_error', 'time', 'into the DST gap'],
    [{ duration => 14 },                                     422, 'validation_error', 'duration', 'duration 14'],
    [{ duration => 241 },                                    422, 'validation_error', 'duration', 'duration 241'],
    [{ duration => '30' },                                   422, 'validation_error', 'duration', 'duration "30"'],
    [{ date => "$Y-13-01" },                                 422, 'validation_error', 'date', 'bad date'],
    [{ time => '24:00' },                                    422, 'validation_error', 'time', 'bad time'],
    [{ date => "$Y-05-10", time => '10:00' },                409, 'slot_taken', undef, 'onto a taken slot'],
    [{ date => "$Y-05-10", time => '09:30', duration => 45 }, 409, 'slot_taken', undef, 'overlapping a taken slot'],
    [{ date => "$Y-05-10", time => '10:59', duration => 15 }, 409, 'slot_taken', undef, 'overlapping its last minute'],
);
for my $c (@bad) {
    my ($body, $status, $code, $field, $name) = @$c;
    (undef, undef, $r) = appt_patch($ctok, $mid, %$body);
    error_is($r, $status, $code, $field, "reschedule $name: $status $code");
}
is(row_of($mid), $row, 'the refused reschedules changed nothing');
my (undef, $touch, $tres) = appt_patch($ctok, $mid, date => "$Y-05-10", time => '11:00', duration => 30);
success_is($tres, 200, 'reschedule to start exactly when the other ends: 200');
(undef, $touch, $tres) = appt_patch($ctok, $mid, time => '11:10');
success_is($tres, 200, 'reschedule overlapping only its own old slot: 200');
is($touch->{startsAt}, "$Y-05-10T15:10:00.000Z", 'moved by 10 minutes');
# a cancelled appointment's slot is free for a reschedule
my (undef, $cc) = book($ctok, date => "$Y-05-11", time => '10:00');
api(DELETE => "/api/appointments/$cc->{id}", token => $ctok);
(undef, $touch, $tres) = appt_patch($ptok, $mid, date => "$Y-05-11", time => '10:00');
success_is($tres, 200, "reschedule onto a cancelled appointment's slot: 200");

# ---- join ---------------------------------------------------------------------------------------------------
my (undef, $j, $jr) = api(POST => "/api/appointments/$mid/join", token => $ctok);
success_is($jr, 200, 'client join: 200');
is_deeply($j, { videoLink => $m->{videoLink} }, 'join answers exactly {videoLink} of the appointment');
(undef, $j, $jr) = api(POST => "/api/appointments/$mid/join", token => $ptok);
success_is($jr, 200, 'provider join: 200');
is($j->{videoLink}, $m->{videoLink}, 'the provider joins the same room');
(undef, undef, $r) = api(POST => '/api/appointments/not-a-uuid/join', token => $ptok);
error_is($r, 404, 'not_found', undef, 'join a malformed id: 404');
(undef, undef, $r) = api(GET => "/api/appointments/$mid/join", token => $ptok);
error_is($r, 405, 'method_not_allowed', undef, 'GET .../join: 405');

# ---- lists -------------------------------------------------------------------------------------------------------
my ($ltok, $lp) = provider_session(name => 'Dr Lists');
my ($lc1tok, $lc1) = client_session($lp->{id}, name => 'List One');
my ($lc2tok, $lc2) = client_session($lp->{id}, name => 'List Two');
my $D = "$Y-01-19";    # a Tuesday in winter: New York is UTC-5
my $D1 = "$Y-01-20";
my %ap;
for my $s (['late',   $lc1tok, $D,  '23:30', 30],
           ['noon',   $lc2tok, $D,  '12:00', 50],
           ['early',  $lc1tok, $D,  '08:00', 50],
           ['next',   $lc2tok, $D1, '00:15', 30],
           ['cancel', $lc1tok, $D,  '15:00', 50],
           ['conf',   $lc2tok, $D,  '16:00', 50]) {
    my ($k, $t, $date, $time, $dur) = @$s;
    my (undef, $x, $xr) = book($t, date => $date, time => $time, duration => $dur);
    is($xr->code, 201, "list setup: $k booked") or diag(dump_res($xr));
    $ap{$k} = $x;
}
is($ap{late}{startsAt}, "${D1}T04:30:00.000Z", '23:30 New York is 04:30Z the next UTC day');
api(DELETE => "/api/appointments/$ap{cancel}{id}", token => $ltok);
appt_patch($ltok, $ap{conf}{id}, status => 'confirmed');

my (undef, $all, $allres) = api(GET => '/api/provider/appointments', token => $ltok);
success_is($allres, 200, 'GET /api/provider/appointments: 200');
is_deeply(ids($all), [map { $ap{$_}{id} } qw(early noon cancel conf late next)],
          'all of the provider\'s appointments, sorted by startsAt');
my @st = map { $_->{startsAt} } @$all;
is_deeply(\@st, [sort @st], 'startsAt ascending');
is_deeply([sort keys %{ $all->[0] || {} }], APPOINTMENT_KEYS, 'list items are full appointments');
# The lists format their timestamps in the module (core/dp_epoch.c), the single appointment
# in SQL (the appointments_api view): every item reads as GET answers it, the local date and
# time and each instant to the millisecond (created and updated carry fractions of a second).
for my $item (@$all) {
    my (undef, $one) = appt_get($ltok, $item->{id});
    is_deeply($item, $one, "the provider list's item of $item->{date} $item->{time} is the appointment as GET answers it");
}
for my $ctok ($lc1tok, $lc2tok) {
    my (undef, $mine) = api(GET => '/api/client/appointments', token => $ctok);
    ok(ref $mine eq 'ARRAY' && @$mine >= 3, 'a client\'s list of its own appointments');
    for my $item (ref $mine eq 'ARRAY' ? @$mine : ()) {
        my (undef, $one) = appt_get($ctok, $item->{id});
        is_deeply($item, $one, "the client list's item of $item->{date} $item->{time} is the appointment as GET answers it");
    }
}

my (undef, $day, $dayres) = api(GET => "/api/provider/appointments?date=$D", token => $ltok);
success_is($dayres, 200, '?date=: 200');
is_deeply(ids($day), [map { $ap{$_}{id} } qw(early noon cancel conf late)],
          "?date=$D: the provider-zone day, including 23:30 (04:30Z the next UTC day)");
my (undef, $day1) = api(GET => "/api/provider/appointments?date=$D1", token => $ltok);
is_deeply(ids($day1), [$ap{next}{id}], "?date=$D1: only the 00:15 appointment, not the previous evening's 23:30");
my (undef, $pend) = api(GET => "/api/provider/appointments?status=pending", token => $ltok);
is_deeply(ids($pend), [map { $ap{$_}{id} } qw(early noon late next)], '?status=pending');
my (undef, $conf) = api(GET => "/api/provider/appointments?status=confirmed", token => $ltok);
is_deeply(ids($conf), [$ap{conf}{id}], '?status=confirmed');
my (undef, $canc) = api(GET => "/api/provider/appointments?status=cancelled", token => $ltok);
is_deeply(ids($canc), [$ap{cancel}{id}], '?status=cancelled');
my (undef, $dp) = api(GET => "/api/provider/appointments?date=$D&status=pending", token => $ltok);
is_deeply(ids($dp), [map { $ap{$_}{id} } qw(early noon late)], '?date=&status= combined');
my (undef, $none, $noneres) = api(GET => "/api/provider/appointments?date=$Y-06-01", token => $ltok);
success_is($noneres, 200, 'a day without appointments: 200');
is_deeply($none, [], 'a day without appointments: []');
for my $q ('status=bogus', 'status=upcoming', "date=$Y-13-01", 'date=tomorrow', "date=${D}T00:00") {
    (undef, undef, $r) = api(GET => "/api/provider/appointments?$q", token => $ltok);
    error_is($r, 422, 'validation_error', ($q =~ /^(\w+)/)[0], "?$q: 422");
}
(undef, undef, $r) = api(GET => '/api/provider/appointments', token => $lc1tok);
error_is($r, 403, 'forbidden', undef, 'a client on the provider list: 403');

# a Berlin provider's day is Berlin's
my ($bt, $bp) = provider_session(timeZone => 'Europe/Berlin');
my ($bct) = client_session($bp->{id});
my (undef, $bb) = book($bct, date => $D, time => '00:30');
is($bb->{startsAt}, "$Y-01-18T23:30:00.000Z", '00:30 Berlin is 23:30Z the previous UTC day');
my (undef, $bday) = api(GET => "/api/provider/appointments?date=$D", token => $bt);
is_deeply(ids($bday), [$bb->{id}], "Berlin ?date=$D includes it");
my (undef, $bprev) = api(GET => "/api/provider/appointments?date=$Y-01-18", token => $bt);
is_deeply(ids($bprev), [], 'Berlin: not on the previous (UTC) day');

# the client's list
my $lc1_past;
{
    my (undef, $p1) = book($lc1tok, date => "$Y-02-01", time => '10:00');
    appt_patch($ltok, $p1->{id}, status => 'confirmed');
    appt_to_past($p1->{id}, 3 * 24 * 60);
    appt_patch($ltok, $p1->{id}, status => 'completed');
    $lc1_past = $p1;
}
my (undef, $pp2) = book($lc1tok, date => "$Y-02-02", time => '10:00');
appt_to_past($pp2->{id}, 2 * 24 * 60);    # pending, but already in the past: not upcoming
my (undef, $call, $callres) = api(GET => '/api/client/appointments', token => $lc1tok);
success_is($callres, 200, 'GET /api/client/appointments: 200');
is_deeply(ids($call), [map { $_->{id} } $lc1_past, $pp2, $ap{early}, $ap{cancel}, $ap{late}],
          "all of the client's own appointments by startsAt (none of the other client's)");
my (undef, $up, $upres) = api(GET => '/api/client/appointments?status=upcoming', token => $lc1tok);
success_is($upres, 200, '?status=upcoming: 200');
is_deeply(ids($up), [map { $ap{$_}{id} } qw(early late)],
          'upcoming: pending or confirmed, in the future (no cancelled, no past pending, no completed)');
my (undef, $done) = api(GET => '/api/client/appointments?status=completed', token => $lc1tok);
is_deeply(ids($done), [$lc1_past->{id}], 'completed: only the completed one');
my (undef, $up2) = api(GET => '/api/client/appointments?status=upcoming', token => $lc2tok);
is_deeply(ids($up2), [map { $ap{$_}{id} } qw(noon conf next)], 'the other client: its own upcoming, confirmed included');
for my $q ('status=pending', 'status=bogus', 'status=cancelled') {
    (undef, undef, $r) = api(GET => "/api/client/appointments?$q", token => $lc1tok);
    error_is($r, 422, 'validation_error', 'status', "client ?$q: 422");
}
(undef, undef, $r) = api(GET => '/api/client/appointments', token => $ltok);
error_is($r, 403, 'forbidden', undef, 'a provider on the client list: 403');
my ($emptytok) = client_session($lp->{id});
my (undef, $empty, $emptyres) = api(GET => '/api/client/appointments', token => $emptytok);
success_is($emptyres, 200, 'a client without appointments: 200');
is_deeply($empty, [], 'a client without appointments: []');

done_testing();
