# POST /api/client/appointments: shape, defaults, validation, provider scope, time zones and
# daylight saving, amount, overlaps (slot_taken), a cancelled appointment frees its slot.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my $Y = next_year();

my $T0 = psql('SELECT now()');    # rows created from here on are this file's
sub psql_rows { return [map { [split /\|/, $_, -1] } grep { length } split /\n/, scalar psql($_[0])] }

sub keys_are {
    my ($h, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is_deeply([sort keys %{ $h || {} }], $want, $name)
        or diag('got keys: ' . join(',', sort keys %{ $h || {} }));
}

# amount printed as a JSON number with at most 2 decimals, equal to the expected string
sub amount_is {
    my ($res, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($got) = ($res->content // '') =~ /"amount":(-?[0-9.eE+-]+)[,}]/;
    my $ok = defined $got && $got =~ /^\d+(?:\.\d{1,2})?$/ && sprintf('%.2f', $got) eq sprintf('%.2f', $want);
    ok($ok, $name) or diag("amount in body: " . ($got // 'none') . ", expected $want\n" . dump_res($res));
}

my ($ptok, $prov) = provider_session(name => 'Dr Booker', hourlyRate => 100);
my ($ctok, $cli) = client_session($prov->{id}, name => 'Carl Client');

# ---- a booking and its shape ---------------------------------------------------------------------
my $jan = "$Y-01-12";
my ($st, $a, $res) = book($ctok, date => $jan, time => '10:00', notes => 'First visit',
                          type => 'Initial Consultation');
success_is($res, 201, 'book: 201 JSON');
keys_are($a, APPOINTMENT_KEYS, 'appointment has exactly the documented keys');
like($a->{id} // '', $UUID_RE, 'id is a UUID');
is($a->{clientId}, $cli->{id}, 'clientId');
is($a->{providerId}, $prov->{id}, 'providerId is the client\'s provider');
is($a->{clientName}, 'Carl Client', 'clientName');
is($a->{providerName}, 'Dr Booker', 'providerName');
is($a->{date}, $jan, 'date echoed in the provider zone');
is($a->{time}, '10:00', 'time echoed');
is($a->{duration}, 50, 'duration defaults to 50');
is($a->{type}, 'Initial Consultation', 'type');
is($a->{status}, 'pending', 'status pending');
is($a->{notes}, 'First visit', 'notes');
like($a->{videoLink} // '', $JITSI_RE, 'videoLink is a Jitsi room https://meet.jit.si/DocPortal-<32 hex>');
is($a->{timeZone}, 'America/New_York', 'timeZone of the provider');
is($a->{startsAt}, "$Y-01-12T15:00:00.000Z", 'January 10:00 New York is 15:00Z');
is($a->{endsAt}, "$Y-01-12T15:50:00.000Z", 'endsAt = startsAt + 50 minutes');
like($a->{createdAt} // '', $TS_RE, 'createdAt RFC 3339 UTC');
like($a->{updatedAt} // '', $TS_RE, 'updatedAt RFC 3339 UTC');
ok(abs((ts_epoch($a->{createdAt}) // 0) - time) < 300, 'createdAt is now');
amount_is($res, '83.33', 'amount = 100.00 x 50 / 60 = 83.33');
is(psql('SELECT amount_cents FROM appointments WHERE id = ' . sql_quote($a->{id} // uuid_v4())), '8333',
   'amount stored as 8333 cents');

my (undef, $ag) = appt_get($ctok, $a->{id});
is_deeply($ag, $a, 'GET answers the same appointment as the booking');

# defaults
my (undef, $def, $dres) = book($ctok, date => "$Y-01-13", time => '10:00');
success_is($dres, 201, 'book with only date and time: 201');
ok(defined $def->{type} && length $def->{type}, 'a default type is set') or diag(dump_res($dres));
ok(exists $def->{notes} && !defined $def->{notes}, 'notes null when not given');
is($def->{status}, 'pending', 'pending');
isnt($def->{videoLink}, $a->{videoLink}, 'every appointment gets its own room');

# server-owned fields in the body are ignored
my (undef, $own, $ores) = book($ctok, date => "$Y-01-14", time => '10:00', status => 'confirmed',
                               amount => 0, id => uuid_v4(), videoLink => 'https://evil.example/room',
                               clientId => uuid_v4());
success_is($ores, 201, 'book with server-owned fields: 201');
is($own->{status}, 'pending', 'status in the body ignored');
amount_is($ores, '83.33', 'amount in the body ignored');
like($own->{videoLink} // '', $JITSI_RE, 'videoLink in the body ignored');
is($own->{clientId}, $cli->{id}, 'clientId in the body ignored');

# explicit providerId: own provider OK, another one 404
my (undef, $exp, $eres) = book($ctok, providerId => $prov->{id}, date => "$Y-01-15", time => '10:00');
success_is($eres, 201, 'book with its own providerId: 201');
my ($p2tok, $prov2) = provider_session(name => 'Dr Elsewhere');
my $count_before = psql('SELECT count(*) FROM appointments WHERE provider_id = ' . sql_quote($prov2->{id}));
my (undef, undef, $xres) = book($ctok, providerId => $prov2->{id}, date => "$Y-01-16", time => '10:00');
error_is($xres, 404, 'not_found', undef, "book with another provider's id: 404 not_found");
(undef, undef, $xres) = book($ctok, providerId => uuid_v4(), date => "$Y-01-16", time => '10:00');
error_is($xres, 404, 'not_found', undef, 'book with an unknown providerId: 404');
is(psql('SELECT count(*) FROM appointments WHERE provider_id = ' . sql_quote($prov2->{id})), $count_before,
   'nothing booked with the other provider');

# ---- validation -------------------------------------------------------------------------------
my $yday = day_offset(-2);
my @bad = (
    [{ date => $yday, time => '10:00' },                    'date',     'a past date'],
    [{ date => day_offset(-400), time => '10:00' },         'date',     'last year'],
    [{ date => "$Y-01-20", time => '10:00', duration => 14 },  'duration', 'duration 14'],
    [{ date => "$Y-01-20", time => '10:00', duration => 241 }, 'duration', 'duration 241'],
    [{ date => "$Y-01-20", time => '10:00', duration => '60' }, 'duration', 'duration the string "60"'],
    [{ date => "$Y-01-20", time => '10:00', duration => 50.5 }, 'duration', 'duration 50.5'],
    [{ date => "$Y-01-20", time => '10:00', duration => 0 },   'duration', 'duration 0'],
    [{ date => "$Y-01-20", time => '10:00', duration => -30 }, 'duration', 'duration -30'],
    [{ time => '10:00' },                                    'date',     'no date'],
    [{ date => "$Y-01-20" },                                 'time',     'no time'],
    [{ date => "$Y-1-20", time => '10:00' },                 'date',     'date Y-M-DD'],
    [{ date => "$Y-02-30", time => '10:00' },                'date',     'date February 30'],
    [{ date => "20/01/$Y", time => '10:00' },                'date',     'date DD/MM/YYYY'],
    [{ date => "${Y}-01-20T10:00", time => '10:00' },        'date',     'date with a time'],
    [{ date => 20270120, time => '10:00' },                  'date',     'date a number'],
    [{ date => "$Y-01-20", time => '25:00' },                'time',     'time 25:00'],
    [{ date => "$Y-01-20", time => '10:60' },                'time',     'time 10:60'],
    [{ date => "$Y-01-20", time => '9:00' },                 'time',     'time 9:00'],
    [{ date => "$Y-01-20", time => '10:00:00' },             'time',     'time with seconds'],
    [{ date => "$Y-01-20", time => '10am' },                 'time',     'time 10am'],
    [{ date => "$Y-01-20", time => '10:00', type => 'x' x 101 }, 'type', 'type of 101 characters'],
    [{ date => "$Y-01-20", time => '10:00', notes => 5 },    'notes',    'notes a number'],
);
for my $c (@bad) {
    my ($body, $field, $name) = @$c;
    my (undef, undef, $r) = book($ctok, %$body);
    error_is($r, 422, 'validation_error', $field, "book with $name: 422 field $field");
}
# an earlier time today (in the provider's zone) is in the past too
my $today_ny = local_today('America/New_York');
my (undef, undef, $early) = book($ctok, date => $today_ny, time => '00:00');
error_is($early, 422, 'validation_error', 'date', 'today 00:00 (already past): 422 date');

my (undef, undef, $r) = api(POST => '/api/client/appointments', token => $ctok, json => '{"date":');
error_is($r, 400, 'invalid_json', undef, 'malformed JSON: 400');
(undef, undef, $r) = api(POST => '/api/client/appointments', token => $ctok, ctype => 'text/plain',
                         body => qq({"date":"$Y-01-20","time":"10:00"}));
error_is($r, 400, 'invalid_json', undef, 'text/plain: 400');
(undef, undef, $r) = book($ptok, date => "$Y-01-20", time => '10:00');
error_is($r, 403, 'forbidden', undef, 'a provider booking as a client: 403 forbidden');
(undef, undef, $r) = api(POST => '/api/client/appointments', json => { date => "$Y-01-20", time => '10:00' });
error_is($r, 401, 'unauthorized', undef, 'booking without a token: 401');

# a client without a provider has no one to book with
my ($lonetok) = client_session(undef);
(undef, undef, $r) = book($lonetok, date => "$Y-01-20", time => '10:00');
ok($r->code >= 400 && $r->code < 500, 'a client without a provider cannot book (4xx)') or diag(dump_res($r));
(undef, undef, $r) = book($lonetok, providerId => $prov->{id}, date => "$Y-01-20", time => '11:00');
ok($r->code >= 400 && $r->code < 500, 'a client without a provider cannot book by naming one (4xx)')
    or diag(dump_res($r));
is(psql(q{SELECT count(*) FROM appointments a JOIN users u ON u.id = a.client_id WHERE u.provider_id IS NULL}), '0',
   'no appointment exists for a client without a provider');

# boundaries of duration
my (undef, $d15, $r15) = book($ctok, date => "$Y-01-21", time => '08:00', duration => 15);
success_is($r15, 201, 'duration 15: 201');
is($d15->{endsAt}, "$Y-01-21T13:15:00.000Z", 'duration 15: endsAt');
amount_is($r15, '25.00', 'amount for 15 minutes at 100.00: 25.00');
my (undef, $d240, $r240) = book($ctok, date => "$Y-01-21", time => '09:00', duration => 240);
success_is($r240, 201, 'duration 240: 201');
is($d240->{endsAt}, "$Y-01-21T18:00:00.000Z", 'duration 240: endsAt');
amount_is($r240, '400.00', 'amount for 240 minutes: 400.00');

# ---- time zones and daylight saving ------------------------------------------------------------------
my (undef, $jul, $jres) = book($ctok, date => "$Y-07-13", time => '10:00');
success_is($jres, 201, 'July booking: 201');
is($jul->{startsAt}, "$Y-07-13T14:00:00.000Z", 'July 10:00 New York is 14:00Z (EDT)');
is($jul->{time}, '10:00', 'July: time stays the local 10:00');
my $dst = us_dst_start($Y);
my (undef, undef, $gap) = book($ctok, date => $dst, time => '02:30');
error_is($gap, 422, 'validation_error', 'time', "02:30 on $dst (US spring forward, no such local time): 422 time");
(undef, undef, $gap) = book($ctok, date => $dst, time => '02:00');
error_is($gap, 422, 'validation_error', 'time', "02:00 on $dst (the first minute of the gap): 422 time");
my (undef, $after_gap, $agres) = book($ctok, date => $dst, time => '03:00');
success_is($agres, 201, "03:00 on $dst: 201");
is($after_gap->{startsAt}, "${dst}T07:00:00.000Z", "03:00 EDT on $dst is 07:00Z");
my (undef, $before_gap, $bgres) = book($ctok, date => $dst, time => '01:00', duration => 60);
success_is($bgres, 201, "01:00 on $dst: 201");
is($before_gap->{startsAt}, "${dst}T06:00:00.000Z", "01:00 EST on $dst is 06:00Z");
is($before_gap->{endsAt}, "${dst}T07:00:00.000Z", 'a 60-minute session across the change ends at 03:00 EDT (07:00Z)');
(undef, undef, $r) = book($ctok, date => $dst, time => '01:30', duration => 30);
error_is($r, 409, 'slot_taken', undef, "01:30 EST on $dst overlaps the 01:00 session: 409");

# a provider in another zone
my ($btok, $berlin) = provider_session(timeZone => 'Europe/Berlin', name => 'Dr Berlin');
my ($bctok) = client_session($berlin->{id});
my (undef, $bw, $bwres) = book($bctok, date => "$Y-01-12", time => '10:00');
success_is($bwres, 201, 'Berlin provider, January: 201');
is($bw->{startsAt}, "$Y-01-12T09:00:00.000Z", 'January 10:00 Berlin is 09:00Z');
is($bw->{timeZone}, 'Europe/Berlin', 'timeZone Europe/Berlin');
my (undef, $bs) = book($bctok, date => "$Y-07-13", time => '10:00');
is($bs->{startsAt}, "$Y-07-13T08:00:00.000Z", 'July 10:00 Berlin is 08:00Z');
# Europe springs forward on the last Sunday of March at 02:00: 02:30 does not exist there
my $eu_dst = do {
    require Time::Local;
    my $d = 31;
    $d-- while (gmtime(Time::Local::timegm(0, 0, 12, $d, 2, $Y)))[6] != 0;
    sprintf '%04d-03-%02d', $Y, $d;
};
(undef, undef, $r) = book($bctok, date => $eu_dst, time => '02:30');
error_is($r, 422, 'validation_error', 'time', "02:30 on $eu_dst in Berlin: 422 time");
(undef, $bs, $r) = book($bctok, date => $dst, time => '02:30');
success_is($r, 201, "02:30 on $dst exists in Berlin: 201 (the gap is the provider's zone's)");

# ---- amount -------------------------------------------------------------------------------------------
sub rate_case {
    my ($rate, $minutes, $want, $name) = @_;
    my ($tok, $p) = provider_session(defined $rate ? (hourlyRate => $rate) : ());
    my ($ct) = client_session($p->{id});
    my (undef, $ap, $rr) = book($ct, date => "$Y-02-02", time => '10:00', duration => $minutes);
    is($rr->code, 201, "$name: booked") or diag(dump_res($rr));
    amount_is($rr, $want, $name);
}
rate_case(undef,  50, '0',     'no hourly rate: amount 0');
rate_case(0,      50, '0',     'hourly rate 0: amount 0');
rate_case(100,    20, '33.33', '100.00 x 20 min = 33.333.. -> 33.33');
rate_case(100,    40, '66.67', '100.00 x 40 min = 66.666.. -> 66.67');
rate_case(99.99,  45, '74.99', '99.99 x 45 min = 74.9925 -> 74.99');
rate_case(1.5,    15, '0.38',  '1.50 x 15 min = 0.375 -> 0.38 (half up)');
rate_case(100.01, 30, '50.01', '100.01 x 30 min = 50.005 -> 50.01 (half up, not to even)');
rate_case(150,    60, '150',   '150 x 60 min = 150');
rate_case(175.5,  90, '263.25', '175.50 x 90 min = 263.25');

# the rate at booking time counts; a later rate change does not touch the booked amount
my ($rtok, $rp) = provider_session(hourlyRate => 60);
my ($rct) = client_session($rp->{id});
my (undef, $ra) = book($rct, date => "$Y-02-03", time => '10:00', duration => 30);
my (undef, undef, $pr) = api(PATCH => '/api/auth/me', token => $rtok, json => { hourlyRate => 120 });
is($pr->code, 200, 'setup: provider raises the rate');
my (undef, undef, $rares) = appt_get($rct, $ra->{id});
amount_is($rares, '30', 'an existing booking keeps the amount of its rate');
my (undef, undef, $rbres) = book($rct, date => "$Y-02-03", time => '11:00', duration => 30);
amount_is($rbres, '60', 'a new booking uses the new rate');

# ---- overlaps ----------------------------------------------------------------------------------------------
# provider 3, one appointment 10:00-10:50
my ($otok, $op) = provider_session();
my ($oct, $oc) = client_session($op->{id});
my ($oct2, $oc2) = client_session($op->{id});
my $od = "$Y-03-03";
my (undef, $base, $bres) = book($oct, date => $od, time => '10:00');
success_is($bres, 201, 'overlap setup: 10:00-10:50');
my @overlaps = (
    ['the same slot',                       '10:00', 50],
    ['10:30, inside',                       '10:30', 30],
    ['09:30 for 60 min, ending inside',     '09:30', 60],
    ['09:00 for 120 min, covering it',      '09:00', 120],
    ['10:49 for 15 min, its last minute',   '10:49', 15],
    ['09:15 for 46 min, its first minute',  '09:15', 46],
);
for my $c (@overlaps) {
    my ($name, $time, $dur) = @$c;
    my (undef, undef, $or) = book($oct, date => $od, time => $time, duration => $dur);
    error_is($or, 409, 'slot_taken', undef, "overlap: $name: 409 slot_taken");
}
(undef, undef, $r) = book($oct2, date => $od, time => '10:15', duration => 15);
error_is($r, 409, 'slot_taken', undef, 'another client of the same provider, overlapping: 409 slot_taken');
is(psql(q{SELECT count(*) FROM appointments WHERE provider_id = } . sql_quote($op->{id})), '1',
   'the refused bookings left no rows');

my (undef, $after, $afres) = book($oct2, date => $od, time => '10:50', duration => 30);
success_is($afres, 201, 'starting exactly at the end (10:50): 201');
my (undef, $before, $bfres) = book($oct, date => $od, time => '09:10', duration => 50);
success_is($bfres, 201, 'ending exactly at the start (09:10-10:00): 201');
is($before->{endsAt}, $base->{startsAt}, 'touching end-to-start');

# other providers are not affected
my (undef, undef, $orres) = book($bctok, date => $od, time => '10:00');
success_is($orres, 201, 'another provider at the same time: 201');

# a cancelled appointment frees its slot; a confirmed one holds it
my (undef, undef, $cres) = api(DELETE => "/api/appointments/$base->{id}", token => $oct);
is($cres->code, 200, 'setup: cancel the 10:00 appointment');
my (undef, $rebook, $rbres2) = book($oct2, date => $od, time => '10:00');
success_is($rbres2, 201, 'the cancelled slot can be booked again: 201');
is($rebook->{clientId}, $oc2->{id}, 'by the other client');
my (undef, undef, $cf) = appt_patch($otok, $rebook->{id}, status => 'confirmed');
is($cf->code, 200, 'setup: provider confirms it');
(undef, undef, $r) = book($oct, date => $od, time => '10:20', duration => 15);
error_is($r, 409, 'slot_taken', undef, 'a confirmed appointment holds its slot: 409');
my $completed_id = $after->{id};
appt_patch($otok, $completed_id, status => 'confirmed');
appt_to_past($completed_id, 24 * 60);
my (undef, undef, $cm) = appt_patch($otok, $completed_id, status => 'completed');
is($cm->code, 200, 'setup: an appointment completed (moved into the past)');
is(psql(q{SELECT count(*) FROM appointments WHERE provider_id = } . sql_quote($op->{id})
      . q{ AND status IN ('pending','confirmed') AND tstzrange(starts_at, ends_at) && }
      . q{tstzrange(} . sql_quote("${od}T14:00:00Z") . q{::timestamptz, } . sql_quote("${od}T16:00:00Z") . q{::timestamptz)}),
   '2', 'the database holds exactly the two live appointments in that window');

# every appointment has its own room
my @links = grep { defined } map { $_->[0] } @{ psql_rows(q{SELECT video_link FROM appointments WHERE created_at >= } . sql_quote($T0) . q{::timestamptz}) };
my %seen;
$seen{$_}++ for @links;
ok(@links >= 20, 'many appointments booked in this file (checked below)') or diag(scalar @links);
is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, 'no two appointments share a video room');
is(scalar(grep { $_ !~ $JITSI_RE } @links), 0, 'every stored link is a Jitsi room with a 128-bit name');
is(psql(q{SELECT count(*) FROM appointments WHERE (video_provider <> 'jitsi' OR google_event_id IS NOT NULL) AND created_at >= }
      . sql_quote($T0) . q{::timestamptz}), '0',
   'without Google configured every room is Jitsi, no Google event id');

# ---- audit ------------------------------------------------------------------------------------------------
my @ev = audit_events_for($res->header('X-Request-Id'));
is(join(',', map { "$_->{action}/$_->{outcome}/$_->{actor_id}/$_->{resource_id}/$_->{client_id}" } @ev),
   "appointment.create/success/$cli->{id}/$a->{id}/$cli->{id}", 'booking: appointment.create success row');
@ev = audit_events_for($r->header('X-Request-Id'));
is(join(',', map { "$_->{action}/$_->{outcome}/$_->{actor_id}" } @ev), "appointment.create/failure/$oc->{id}",
   'slot_taken: appointment.create failure row');

done_testing();
