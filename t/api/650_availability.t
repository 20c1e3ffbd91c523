# Availability: working hours, time off and the open slots of a day.
#  - GET /api/provider/working-hours before any save: Monday-Friday 09:00-17:00, weekend off,
#    slotDuration 60, configured false. PUT takes all seven days (HH:MM or "9:00 AM", answered
#    as HH:MM) and slotDuration (15..240, default 60); GET then answers the same with
#    configured true. Validation: 422 with the field at fault (tuesday.endTime when the day
#    does not end after it starts, tuesday.breakStart / tuesday.breakEnd for a break outside
#    the day or half given, slotDuration out of range, a missing day); a refused PUT saves
#    nothing.
#  - Time off {from, to, reason?}: whole local days, both included; list, delete (204, then 404).
#  - Slots {date, timeZone, slotDuration, slots: [{time "09:00 AM", time24h, startsAt}]}: exact
#    lists with UTC instants computed here (fixed offsets, or PostgreSQL for today): the
#    default template; breaks (also one not aligned to the slots); shorter days; 45- and
#    15-minute slots; time off; pending and confirmed appointments of other lengths (a 90-minute
#    one blocks two 60-minute slots, a 15-minute one one slot, back-to-back ones none; a
#    cancelled one nothing; another practice's nothing); today's past times (a zone where it
#    is mid-day) and, on docportal_limits, the minimum notice (120) and the horizon (180 days);
#    daylight saving in New York (no 02:00/02:30 on the spring-forward Sunday, no slot running
#    past the day's end through the gap, 01:00 once on the fall-back Sunday) and in
#    Europe/Ljubljana (last Sundays of March and October; New York's change day is a plain day
#    there and the reverse); the client's route answers its provider's slots; a date that is
#    not YYYY-MM-DD (or not a real day) is 422 field date.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DocPortal::Test;
use Time::Local qw(timegm);

my $Y = next_year();
my @DAYS = qw(monday tuesday wednesday thursday friday saturday sunday);

# ---- dates ---------------------------------------------------------------------------------------
sub ymd_epoch { my ($y, $m, $d) = split /-/, $_[0]; return timegm(0, 0, 12, $d, $m - 1, $y) }
sub add_days {
    my ($d, $n) = @_;
    my @t = gmtime(ymd_epoch($d) + $n * 86400);
    return sprintf '%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3];
}
sub isodow { my $w = (gmtime ymd_epoch($_[0]))[6]; return $w == 0 ? 7 : $w }
# the first date of that month with that ISO weekday (1 Monday .. 7 Sunday)
sub first_weekday {
    my ($y, $m, $dow) = @_;
    my $d = sprintf '%04d-%02d-01', $y, $m;
    $d = add_days($d, 1) while isodow($d) != $dow;
    return $d;
}
sub last_sunday {
    my ($y, $m) = @_;
    my $d = sprintf '%04d-%02d-31', $y, $m;
    $d = add_days($d, -1) while isodow($d) != 7;
    return $d;
}
# utc($date, 'HH:MM', $offset_minutes): the instant of that wall-clock time at that UTC offset
sub utc {
    my ($date, $hm, $off) = @_;
    my ($y, $mo, $d) = split /-/, $date;
    my ($h, $mi) = split /:/, $hm;
    my @t = gmtime(timegm(0, $mi, $h, $d, $mo - 1, $y) - $off * 60);
    return sprintf '%04d-%02d-%02dT%02d:%02d:00.000Z', $t[5] + 1900, $t[4] + 1, $t[3], $t[2], $t[1];
}
# the same, computed by PostgreSQL from the zone's rules
sub pg_utc {
    my ($date, $hm, $zone) = @_;
    return scalar psql(q{SELECT to_char((} . sql_quote("$date $hm") . q{::timestamp AT TIME ZONE }
                     . sql_quote($zone) . q{) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')});
}
sub h12 {
    my ($hm) = @_;
    my ($h, $m) = split /:/, $hm;
    return sprintf '%02d:%s %s', ($h % 12) || 12, $m, $h < 12 ? 'AM' : 'PM';
}
# [[time24h, startsAt]...] for @times at one fixed offset
sub at_offset { my ($date, $off, @times) = @_; return [map { [$_, utc($date, $_, $off)] } @times] }

# ---- requests ------------------------------------------------------------------------------------
sub limits {
    my (@args) = @_;
    local $Apache::TestRequest::Module = 'docportal_limits';
    local $DocPortal::Test::TLS = 0;
    return api(@args);
}

# week(tuesday => [start, end, breakStart?, breakEnd?], ..., slot => N): the PUT body; the
# days not named are off
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
sub put_hours { my ($tok, $body) = @_; return api(PUT => '/api/provider/working-hours', token => $tok, json => $body) }
sub set_hours {
    my ($tok, $name, @week) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, $d, $res) = put_hours($tok, week(@week));
    success_is($res, 200, "setup: $name: working hours saved");
    return $d;
}
sub slots {
    my ($tok, $date, %o) = @_;
    my $path = ($o{client} ? '/api/client/provider' : '/api/provider') . "/available-slots/$date";
    return $o{limits} ? limits(GET => $path, token => $tok) : api(GET => $path, token => $tok);
}

# slots_are($res, $zone, $slot_minutes, [[time24h, startsAt]...], $name): 200, the exact shape,
# the date and zone, and exactly those slots in that order (time the 12-hour form of time24h)
sub slots_are {
    my ($res, $zone, $slot, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @p;
    push @p, 'status ' . $res->code . ', expected 200' unless $res->code == 200;
    my $d = json_body($res);
    my ($date) = $res->request->uri->path =~ m{/available-slots/([^/]+)$};
    if (ref $d ne 'HASH') {
        push @p, 'body is not a JSON object';
    }
    else {
        my $k = join ',', sort keys %$d;
        push @p, "keys $k, expected date,slotDuration,slots,timeZone" unless $k eq 'date,slotDuration,slots,timeZone';
        push @p, 'date ' . ($d->{date} // 'undef') . ", expected $date" unless ($d->{date} // '') eq $date;
        push @p, 'timeZone ' . ($d->{timeZone} // 'undef') . ", expected $zone" unless ($d->{timeZone} // '') eq $zone;
        push @p, 'slotDuration ' . ($d->{slotDuration} // 'undef') . ", expected $slot"
            unless defined $d->{slotDuration} && !ref $d->{slotDuration} && $d->{slotDuration} eq $slot;
        my @got;
        for my $s (@{ ref $d->{slots} eq 'ARRAY' ? $d->{slots} : [] }) {
            my $sk = join ',', sort keys %$s;
            push @p, "slot keys $sk, expected startsAt,time,time24h" unless $sk eq 'startsAt,time,time24h';
            my $t24 = $s->{time24h} // '';
            push @p, "slot $t24: time '" . ($s->{time} // 'undef') . "', expected '" . h12($t24) . "'"
                unless $t24 =~ /^\d\d:\d\d$/ && ($s->{time} // '') eq h12($t24);
            push @got, "$t24 " . ($s->{startsAt} // 'undef');
        }
        push @p, 'slots is not an array' unless ref $d->{slots} eq 'ARRAY';
        my @exp = map { "$_->[0] $_->[1]" } @$want;
        push @p, "slots:\n    got:      " . (join(' | ', @got) || '(none)')
               . "\n    expected: " . (join(' | ', @exp) || '(none)') unless "@got" eq "@exp";
    }
    # (the answers of docportal_limits come over plain HTTP, also in the TLS pass)
    push @p, do { local $DocPortal::Test::TLS = tls_of($res); common_headers_problems($res) };
    ok(!@p, $name) or diag(join("\n", @p) . "\n" . dump_res($res));
}
sub tls_of { my ($res) = @_; my $req = $res->request; return $req && $req->uri->scheme eq 'https' ? 1 : 0 }

sub is_true  { my ($v) = @_; return ref $v eq 'JSON::PP::Boolean' && $v }
sub is_false { my ($v) = @_; return ref $v eq 'JSON::PP::Boolean' && !$v }

my $NY = 'America/New_York';
my $LJ = 'Europe/Ljubljana';

# ==== working hours ===============================================================================
my ($ptok, $prov) = provider_session(name => 'Dr Hours');
{
    my (undef, $h, $res) = api(GET => '/api/provider/working-hours', token => $ptok);
    success_is($res, 200, 'GET working-hours before any save: 200');
    is(join(',', sort keys %{ $h || {} }), join(',', sort(@DAYS, 'configured', 'slotDuration')),
       'the answer has the seven days, slotDuration and configured');
    ok(is_false($h->{configured}), 'configured: false until saved');
    is($h->{slotDuration}, 60, 'slotDuration defaults to 60');
    for my $day (@DAYS[0 .. 4]) {
        my $x = $h->{$day} || {};
        ok(is_true($x->{enabled}) && ($x->{startTime} // '') eq '09:00' && ($x->{endTime} // '') eq '17:00'
           && exists $x->{breakStart} && !defined $x->{breakStart} && exists $x->{breakEnd} && !defined $x->{breakEnd},
           "default $day: enabled 09:00-17:00, breakStart and breakEnd null")
            or diag(explain($x));
    }
    ok(is_false(($h->{saturday} || {})->{enabled}) && is_false(($h->{sunday} || {})->{enabled}),
       'default saturday and sunday: not enabled');

    # validation: every refused PUT names its field; nothing is saved
    my %ok = (tuesday => ['09:00', '17:00', '12:00', '13:00'], slot => 60);
    my @bad = (
        ['the day ends before it starts',        { tuesday => ['17:00', '09:00'] }, 'tuesday.endTime'],
        ['the day ends when it starts',          { tuesday => ['09:00', '09:00'] }, 'tuesday.endTime'],
        ['12-hour times, end before start',      { tuesday => ['5:00 PM', '9:00 AM'] }, 'tuesday.endTime'],
        ['the break starts before the day',      { tuesday => ['09:00', '17:00', '08:30', '09:30'] }, 'tuesday.breakStart'],
        ['the break ends after the day',         { tuesday => ['09:00', '17:00', '16:30', '17:30'] }, 'tuesday.breakEnd'],
        ['the break ends before it starts',      { tuesday => ['09:00', '17:00', '13:00', '12:00'] }, 'tuesday.breakEnd'],
        ['an empty break',                       { tuesday => ['09:00', '17:00', '12:00', '12:00'] }, 'tuesday.breakEnd'],
        ['a break wholly after the day',         { tuesday => ['09:00', '17:00', '18:00', '19:00'] }, qr/^tuesday\.break(?:Start|End)$/],
        ['a startTime that is no time',          { tuesday => ['25:00', '17:00'] }, 'tuesday.startTime'],
        ['a startTime like 9am',                 { tuesday => ['9am', '17:00'] }, 'tuesday.startTime'],
        ['an endTime like 13:00 PM',             { tuesday => ['09:00', '13:00 PM'] }, 'tuesday.endTime'],
        ['slotDuration 10',                      { %ok, slot => 10 }, 'slotDuration'],
        ['slotDuration 241',                     { %ok, slot => 241 }, 'slotDuration'],
    );
    for my $b (@bad) {
        my ($name, $w, $field) = @$b;
        my (undef, undef, $r) = put_hours($ptok, week(%$w));
        error_is($r, 422, 'validation_error', $field, "PUT working-hours, $name: 422 field " . (ref $field ? 'tuesday.break*' : $field));
    }
    my $w = week(%ok);
    $w->{tuesday}{breakStart} = '12:00';
    delete $w->{tuesday}{breakEnd};
    (undef, undef, $res) = put_hours($ptok, $w);
    error_is($res, 422, 'validation_error', 'tuesday.breakEnd', 'a breakStart without breakEnd: 422 field tuesday.breakEnd');
    $w = week(%ok);
    delete $w->{tuesday}{breakStart};
    (undef, undef, $res) = put_hours($ptok, $w);
    error_is($res, 422, 'validation_error', 'tuesday.breakStart', 'a breakEnd without breakStart: 422 field tuesday.breakStart');
    $w = week(%ok);
    delete $w->{tuesday}{startTime};
    (undef, undef, $res) = put_hours($ptok, $w);
    error_is($res, 422, 'validation_error', 'tuesday.startTime', 'an enabled day without startTime: 422 field tuesday.startTime');
    $w = week(%ok);
    $w->{tuesday}{startTime} = 900;
    (undef, undef, $res) = put_hours($ptok, $w);
    error_is($res, 422, 'validation_error', 'tuesday.startTime', 'a startTime that is a number: 422 field tuesday.startTime');
    $w = week(%ok);
    delete $w->{tuesday}{enabled};
    (undef, undef, $res) = put_hours($ptok, $w);
    error_is($res, 422, 'validation_error', 'tuesday.enabled', 'a day without enabled: 422 field tuesday.enabled');
    $w = week(%ok);
    delete $w->{friday};
    (undef, undef, $res) = put_hours($ptok, $w);
    error_is($res, 422, 'validation_error', 'friday', 'a missing day: 422 field friday');
    $w = week(%ok);
    $w->{slotDuration} = '60';
    (undef, undef, $res) = put_hours($ptok, $w);
    error_is($res, 422, 'validation_error', 'slotDuration', 'slotDuration as a string: 422 field slotDuration');

    (undef, $h, $res) = api(GET => '/api/provider/working-hours', token => $ptok);
    ok(is_false($h->{configured}) && ($h->{tuesday}{breakStart} // 'null') eq 'null',
       'after the refused PUTs nothing is saved: configured still false, no break')
        or diag(explain($h));
    is(psql('SELECT count(*) FROM working_days WHERE provider_id = ' . sql_quote($prov->{id})), '0',
       '... no working_days rows');

    # a save: 12-hour input answered as HH:MM, slotDuration omitted -> 60
    $w = week(monday => ['8:30 AM', '5:15 PM', '12:00 PM', '1:00 PM'], tuesday => ['09:00', '17:00'],
              wednesday => ['12:00 AM', '11:45 PM']);
    (undef, $h, $res) = put_hours($ptok, $w);
    success_is($res, 200, 'PUT working-hours: 200');
    ok(is_true($h->{configured}), 'the answer says configured: true');
    is($h->{slotDuration}, 60, 'slotDuration omitted: 60');
    is_deeply([@{ $h->{monday} || {} }{qw(startTime endTime breakStart breakEnd)}], ['08:30', '17:15', '12:00', '13:00'],
              'monday given as 8:30 AM-5:15 PM, break 12:00 PM-1:00 PM: answered 08:30-17:15, 12:00-13:00');
    ok(is_true($h->{monday}{enabled}), 'monday enabled');
    is_deeply([@{ $h->{wednesday} || {} }{qw(startTime endTime)}], ['00:00', '23:45'],
              '12:00 AM is 00:00 and 11:45 PM is 23:45');
    ok(!defined $h->{tuesday}{breakStart} && !defined $h->{tuesday}{breakEnd}, 'tuesday without a break: null');
    ok(is_false($h->{thursday}{enabled}) && is_false($h->{sunday}{enabled}), 'the days given as off are off');
    my $rid = $res->header('X-Request-Id');
    my @ev = audit_events_for($rid);
    ok(@ev == 1 && $ev[0]{action} eq 'working_hours.update' && $ev[0]{outcome} eq 'success'
       && $ev[0]{actor_id} eq $prov->{id}, 'the save leaves one working_hours.update success event')
        or diag(explain(\@ev));

    my (undef, $g, $gres) = api(GET => '/api/provider/working-hours', token => $ptok);
    success_is($gres, 200, 'GET after the save: 200');
    is_deeply($g, $h, 'GET answers exactly what the PUT answered');

    # a second save replaces the first
    (undef, $h, $res) = put_hours($ptok, week(friday => ['10:00', '11:00'], slot => 15));
    success_is($res, 200, 'a second PUT: 200');
    (undef, $g) = api(GET => '/api/provider/working-hours', token => $ptok);
    ok(is_false($g->{monday}{enabled}) && is_true($g->{friday}{enabled}) && $g->{slotDuration} == 15
       && $g->{friday}{startTime} eq '10:00', 'the second save replaced the first (monday off, friday 10:00, 15-minute slots)')
        or diag(explain($g));
}

# ==== slots: the default template ================================================================
my $JAN_MON = first_weekday($Y, 1, 1);
my $JAN_TUE = first_weekday($Y, 1, 2);
my $JAN_WED = add_days($JAN_TUE, 1);
my $JAN_THU = add_days($JAN_TUE, 2);
my $JAN_FRI = add_days($JAN_TUE, 3);
my $JAN_SAT = first_weekday($Y, 1, 6);
{
    my ($t, $p) = provider_session(name => 'Dr Default');
    slots_are((slots($t, $JAN_TUE))[2], $NY, 60, at_offset($JAN_TUE, -300, map { sprintf '%02d:00', $_ } 9 .. 16),
              "unconfigured: $JAN_TUE (a Tuesday in January) has 09:00..16:00, 14:00Z..21:00Z");
    slots_are((slots($t, $JAN_SAT))[2], $NY, 60, [], "unconfigured: $JAN_SAT (a Saturday) has no slots");
}

# ==== slots: breaks, shorter days, time off ======================================================
my ($ttok, $tp) = provider_session(name => 'Dr Timeoff');
my ($tctok, $tc) = client_session($tp->{id}, name => 'Timeoff Client');
set_hours($ttok, 'Dr Timeoff', tuesday => ['09:00', '17:00', '12:00', '13:00'], wednesday => ['08:30', '11:00'],
          thursday => ['9:00 AM', '11:00 AM'], friday => ['09:00', '10:00'], slot => 60);
my %TEXP = (
    $JAN_MON => [],
    $JAN_TUE => at_offset($JAN_TUE, -300, qw(09:00 10:00 11:00 13:00 14:00 15:00 16:00)),
    $JAN_WED => at_offset($JAN_WED, -300, qw(08:30 09:30)),
    $JAN_THU => at_offset($JAN_THU, -300, qw(09:00 10:00)),
    $JAN_FRI => at_offset($JAN_FRI, -300, qw(09:00)),
);
slots_are((slots($ttok, $JAN_MON))[2], $NY, 60, [], 'a day off (monday): no slots');
slots_are((slots($ttok, $JAN_TUE))[2], $NY, 60, $TEXP{$JAN_TUE}, 'tuesday 09-17, break 12-13: no 12:00 slot');
slots_are((slots($ttok, $JAN_WED))[2], $NY, 60, $TEXP{$JAN_WED},
          'wednesday 08:30-11:00: 08:30 and 09:30 (10:30 would end after 11:00)');
slots_are((slots($ttok, $JAN_THU))[2], $NY, 60, $TEXP{$JAN_THU}, 'thursday saved as 9:00 AM-11:00 AM: 09:00 and 10:00');
slots_are((slots($tctok, $JAN_TUE, client => 1))[2], $NY, 60, $TEXP{$JAN_TUE},
          "the client's route answers its provider's slots");
{
    my (undef, $to, $res) = api(POST => '/api/provider/time-off', token => $ttok,
                                json => { from => $JAN_WED, to => $JAN_THU, reason => 'Conference' });
    success_is($res, 201, 'POST time-off (wednesday..thursday): 201');
    is(join(',', sort keys %{ $to || {} }), 'createdAt,from,id,reason,to', 'time off: {id, from, to, reason, createdAt}');
    like($to->{id} // '', $UUID_RE, 'id is a UUID');
    is_deeply([@{ $to || {} }{qw(from to reason)}], [$JAN_WED, $JAN_THU, 'Conference'], 'from, to and reason as given');
    like($to->{createdAt} // '', $TS_RE, 'createdAt RFC 3339 UTC');
    my (undef, $fri, $fres) = api(POST => '/api/provider/time-off', token => $ttok, json => { from => $JAN_FRI, to => $JAN_FRI });
    success_is($fres, 201, 'POST time-off of one day without a reason: 201');
    ok(exists $fri->{reason} && !defined $fri->{reason}, '... reason null');

    slots_are((slots($ttok, $JAN_WED))[2], $NY, 60, [], 'time off: its first day has no slots');
    slots_are((slots($ttok, $JAN_THU))[2], $NY, 60, [], 'time off: its last day has no slots (both included)');
    slots_are((slots($ttok, $JAN_FRI))[2], $NY, 60, [], 'a one-day time off: no slots that day');
    slots_are((slots($ttok, $JAN_TUE))[2], $NY, 60, $TEXP{$JAN_TUE}, 'the day before the time off keeps its slots');
    slots_are((slots($ttok, add_days($JAN_WED, 7)))[2], $NY, 60, at_offset(add_days($JAN_WED, 7), -300, qw(08:30 09:30)),
              'the next wednesday keeps its slots');
    slots_are((slots($tctok, $JAN_WED, client => 1))[2], $NY, 60, [], 'the client sees the time off too');

    my (undef, $list, $lres) = api(GET => '/api/provider/time-off', token => $ttok);
    success_is($lres, 200, 'GET time-off: 200');
    is_deeply([map { [$_->{id}, $_->{from}, $_->{to}] } @{ ref $list eq 'ARRAY' ? $list : [] }],
              [[$to->{id}, $JAN_WED, $JAN_THU], [$fri->{id}, $JAN_FRI, $JAN_FRI]], 'the list: both entries, earliest first');

    my (undef, undef, $dres) = api(DELETE => "/api/provider/time-off/$to->{id}", token => $ttok);
    is($dres->code, 204, 'DELETE time-off: 204') or diag(dump_res($dres));
    slots_are((slots($ttok, $JAN_WED))[2], $NY, 60, $TEXP{$JAN_WED}, 'after the delete wednesday has its slots again');
    slots_are((slots($ttok, $JAN_THU))[2], $NY, 60, $TEXP{$JAN_THU}, '... and thursday');
    (undef, $list) = api(GET => '/api/provider/time-off', token => $ttok);
    is_deeply([map { $_->{id} } @{ ref $list eq 'ARRAY' ? $list : [] }], [$fri->{id}], 'the list keeps the other entry');
    (undef, undef, $dres) = api(DELETE => "/api/provider/time-off/$to->{id}", token => $ttok);
    error_is($dres, 404, 'not_found', undef, 'DELETE it again: 404');
    (undef, undef, $dres) = api(DELETE => '/api/provider/time-off/not-a-uuid', token => $ttok);
    error_is($dres, 404, 'not_found', undef, 'DELETE time-off/not-a-uuid: 404');

    # validation
    my @bad = (
        [{ to => $JAN_FRI }, 'from', 'from missing'],
        [{ from => $JAN_FRI }, 'to', 'to missing'],
        [{ from => $JAN_FRI, to => $JAN_THU }, 'to', 'to before from'],
        [{ from => "$Y-02-30", to => "$Y-03-01" }, 'from', 'from not a real day'],
        [{ from => $JAN_FRI, to => "$Y/01/31" }, 'to', 'to not YYYY-MM-DD'],
        [{ from => $JAN_FRI, to => $JAN_FRI, reason => 'x' x 501 }, 'reason', 'a reason of 501 characters'],
    );
    for my $b (@bad) {
        my (undef, undef, $r) = api(POST => '/api/provider/time-off', token => $ttok, json => $b->[0]);
        error_is($r, 422, 'validation_error', $b->[1], "POST time-off, $b->[2]: 422 field $b->[1]");
    }
}

# breaks that are not on the slots' grid, and other slot lengths
{
    my ($t) = provider_session(name => 'Dr FortyFive');
    set_hours($t, 'Dr FortyFive', tuesday => ['09:00', '17:00', '12:30', '13:15'], slot => 45);
    slots_are((slots($t, $JAN_TUE))[2], $NY, 45,
              at_offset($JAN_TUE, -300, qw(09:00 09:45 10:30 11:15 13:30 14:15 15:00 15:45)),
              '45-minute slots, break 12:30-13:15: 12:00 and 12:45 overlap the break, 16:30 would end after 17:00');
    my ($t2) = provider_session(name => 'Dr Thirty');
    set_hours($t2, 'Dr Thirty', tuesday => ['09:00', '11:00', '09:00', '09:30'], slot => 30);
    slots_are((slots($t2, $JAN_TUE))[2], $NY, 30, at_offset($JAN_TUE, -300, qw(09:30 10:00 10:30)),
              'a break at the very start of the day (09:00-09:30) removes the 09:00 slot only');
}

# ==== slots around existing appointments ==========================================================
{
    my ($t, $p) = provider_session(name => 'Dr Busy');
    my ($ct, $c) = client_session($p->{id}, name => 'Busy Client');
    set_hours($t, 'Dr Busy', tuesday => ['09:00', '17:00'], slot => 60);
    my $day = add_days($JAN_TUE, 7);
    my (undef, $a90, $r1) = book($ct, date => $day, time => '10:00', duration => 90);
    success_is($r1, 201, 'setup: a 90-minute appointment at 10:00');
    my (undef, $a15a, $r2) = book($ct, date => $day, time => '14:45', duration => 15);
    success_is($r2, 201, 'setup: a 15-minute appointment at 14:45');
    my (undef, $a15b, $r3) = book($ct, date => $day, time => '15:00', duration => 15);
    success_is($r3, 201, 'setup: a 15-minute appointment at 15:00');
    # another practice's appointment at 09:00 is not this provider's
    my ($ot, $op) = provider_session(name => 'Dr Other');
    my ($oct) = client_session($op->{id});
    my (undef, undef, $r4) = book($oct, date => $day, time => '09:00', duration => 60);
    success_is($r4, 201, "setup: another practice's appointment at 09:00");

    slots_are((slots($t, $day))[2], $NY, 60, at_offset($day, -300, qw(09:00 12:00 13:00 16:00)),
              'a 90-minute appointment at 10:00 takes 10:00 and 11:00; 14:45-15:00 takes 14:00 only; '
            . '15:00-15:15 takes 15:00 only; 09:00 (other practice) and 12:00 (right after 11:30) stay');
    slots_are((slots($ct, $day, client => 1))[2], $NY, 60, at_offset($day, -300, qw(09:00 12:00 13:00 16:00)),
              "the client's route: the same");

    my (undef, undef, $cr) = api(PATCH => "/api/appointments/$a15b->{id}", token => $t, json => { status => 'confirmed' });
    is($cr->code, 200, 'setup: the 15:00 appointment confirmed') or diag(dump_res($cr));
    my (undef, undef, $xr) = api(DELETE => "/api/appointments/$a90->{id}", token => $ct);
    is($xr->code, 200, 'setup: the 90-minute appointment cancelled') or diag(dump_res($xr));
    slots_are((slots($t, $day))[2], $NY, 60, at_offset($day, -300, qw(09:00 10:00 11:00 12:00 13:00 16:00)),
              'a cancelled appointment frees its slots; a confirmed one still blocks 15:00');

    # 15-minute slots around an appointment off their grid
    my ($qt, $qp) = provider_session(name => 'Dr Quarter');
    my ($qct) = client_session($qp->{id});
    set_hours($qt, 'Dr Quarter', tuesday => ['09:00', '10:30'], slot => 15);
    my (undef, undef, $qr) = book($qct, date => $day, time => '09:20', duration => 50);
    success_is($qr, 201, 'setup: a 50-minute appointment at 09:20');
    slots_are((slots($qt, $day))[2], $NY, 15, at_offset($day, -300, qw(09:00 10:15)),
              '15-minute slots around 09:20-10:10: 09:00 and 10:15 only');
}

# ==== today: past times, minimum notice, horizon =================================================
# a zone where it is about mid-day now, so that today has both past and future slots
my @ZONES = qw(Pacific/Kiritimati Pacific/Auckland Australia/Sydney Asia/Tokyo Asia/Shanghai Asia/Bangkok
               Asia/Dhaka Asia/Karachi Asia/Dubai Europe/Moscow Europe/Athens Europe/Ljubljana Europe/London
               Atlantic/Azores America/Noronha America/Sao_Paulo America/Halifax America/New_York
               America/Chicago America/Denver America/Los_Angeles America/Anchorage Pacific/Honolulu
               Pacific/Pago_Pago);
sub midday_zone {
    my $best;
    for my $z (@ZONES) {
        my $h = psql(q{SELECT extract(hour FROM now() AT TIME ZONE } . sql_quote($z) . q{)});
        $best = [$z, $h] if !$best || abs($h - 11) < abs($best->[1] - 11);
    }
    return $best->[0];
}
# (hour, minute, second) now in $zone, after waiting out the last 20 s of an hour
sub local_hms {
    my ($zone) = @_;
    my $q = q{SELECT to_char(now() AT TIME ZONE } . sql_quote($zone) . q{, 'HH24 MI SS')};
    my ($h, $m, $s) = split / /, scalar psql($q);
    if ($m == 59 && $s >= 40) {
        sleep 61 - $s;
        ($h, $m, $s) = split / /, scalar psql($q);
    }
    return ($h + 0, $m + 0, $s + 0);
}
{
    my $zone = midday_zone();
    my ($t, $p) = provider_session(name => 'Dr Today', timeZone => $zone);
    set_hours($t, 'Dr Today', (map { $_ => ['06:00', '20:00'] } @DAYS), slot => 60);
    my $today = local_today($zone);
    my ($h) = local_hms($zone);
    note("today in $zone is $today, hour $h");
    my @future = grep { $_ > $h } 6 .. 19;
    my $want = [map { my $hm = sprintf '%02d:00', $_; [$hm, pg_utc($today, $hm, $zone)] } @future];
    slots_are((slots($t, $today))[2], $zone, 60, $want,
              "today ($today in $zone, $h h): only the slots still ahead (" . scalar(@future) . ')');
    ok(@future < 14, 'setup: some of today\'s slots are past') or diag("hour $h");
    slots_are((slots($t, add_days($today, -1)))[2], $zone, 60, [], 'yesterday: no slots');
    slots_are((slots($t, "2020-01-07"))[2], $zone, 60, [], 'a day years ago: no slots');

    # docportal_limits: DocPortalMinNotice 120, DocPortalBookingHorizonDays 180
    my ($h2, $m2, $s2) = local_hms($zone);
    my @ahead = grep { $_ * 60 >= ($h2 * 60 + $m2 + ($s2 > 0 ? 1 : 0)) + 120 } 6 .. 19;
    $want = [map { my $hm = sprintf '%02d:00', $_; [$hm, pg_utc($today, $hm, $zone)] } @ahead];
    slots_are((slots($t, $today, limits => 1))[2], $zone, 60, $want,
              "minimum notice 120 (docportal_limits): today only from 2 hours ahead (" . scalar(@ahead) . ')');
    ok(@ahead < @future || @future == 0, 'setup: the notice removes slots the main server offers');
    my $h180 = add_days($today, 180);
    slots_are((slots($t, $h180, limits => 1))[2], $zone, 60,
              [map { my $hm = sprintf '%02d:00', $_; [$hm, pg_utc($h180, $hm, $zone)] } 6 .. 19],
              'horizon 180 (docportal_limits): today + 180 days has its slots');
    slots_are((slots($t, add_days($today, 181), limits => 1))[2], $zone, 60, [],
              'horizon 180 (docportal_limits): today + 181 days has none');
    my $h181 = add_days($today, 181);
    slots_are((slots($t, $h181))[2], $zone, 60,
              [map { my $hm = sprintf '%02d:00', $_; [$hm, pg_utc($h181, $hm, $zone)] } 6 .. 19],
              'the main server (horizon 3650) offers today + 181 days');
}

# ==== daylight saving: New York ===================================================================
my $SPRING = us_dst_start($Y);          # second Sunday of March
my $SPRING_SAT = add_days($SPRING, -1);
my $FALL = first_weekday($Y, 11, 7);    # first Sunday of November
my $LJ_SPRING = last_sunday($Y, 3);
my $LJ_FALL = last_sunday($Y, 10);
{
    my ($t, $p) = provider_session(name => 'Dr Spring');
    my ($ct) = client_session($p->{id});
    set_hours($t, 'Dr Spring', saturday => ['01:00', '04:00'], sunday => ['01:00', '04:00'], slot => 30);
    # independent check of the offsets this part relies on
    is(pg_utc($SPRING, '01:30', $NY) . ' ' . pg_utc($SPRING, '03:00', $NY), utc($SPRING, '01:30', -300) . ' ' . utc($SPRING, '03:00', -240),
       "setup: $SPRING 01:30 is EST, 03:00 is EDT");
    slots_are((slots($t, $SPRING_SAT))[2], $NY, 30, at_offset($SPRING_SAT, -300, qw(01:00 01:30 02:00 02:30 03:00 03:30)),
              "the Saturday before spring forward ($SPRING_SAT): 01:00..03:30, all EST");
    slots_are((slots($t, $SPRING))[2], $NY, 30,
              [@{ at_offset($SPRING, -300, qw(01:00 01:30)) }, @{ at_offset($SPRING, -240, qw(03:00 03:30)) }],
              "spring forward ($SPRING): no 02:00 or 02:30; 01:30 EST (06:30Z) is followed by 03:00 EDT (07:00Z)");
    slots_are((slots($ct, $SPRING, client => 1))[2], $NY, 30,
              [@{ at_offset($SPRING, -300, qw(01:00 01:30)) }, @{ at_offset($SPRING, -240, qw(03:00 03:30)) }],
              "spring forward, the client's route: the same");
    slots_are((slots($t, $LJ_SPRING))[2], $NY, 30, at_offset($LJ_SPRING, -240, qw(01:00 01:30 02:00 02:30 03:00 03:30)),
              "Ljubljana's spring-forward Sunday ($LJ_SPRING) is a plain EDT day in New York");

    set_hours($t, 'Dr Spring, 60-minute slots', sunday => ['01:00', '04:00'], slot => 60);
    slots_are((slots($t, $SPRING))[2], $NY, 60, [[ '01:00', utc($SPRING, '01:00', -300) ], [ '03:00', utc($SPRING, '03:00', -240) ]],
              'spring forward, 60-minute slots: 01:00 (06:00Z) and 03:00 (07:00Z), no 02:00');

    # a slot is 60 real minutes: 01:30 EST + 60 min is 03:30 EDT, past a day that ends at 03:00
    set_hours($t, 'Dr Spring, 01:30-03:00', sunday => ['01:30', '03:00'], slot => 60);
    slots_are((slots($t, $SPRING))[2], $NY, 60, [],
              'spring forward, hours 01:30-03:00, 60-minute slots: none (01:30 EST would end at 03:30 EDT, after the day)');
}
{
    my ($t, $p) = provider_session(name => 'Dr Fall');
    my ($ct) = client_session($p->{id});
    set_hours($t, 'Dr Fall', sunday => ['00:00', '03:00'], slot => 60);
    # PostgreSQL reads an ambiguous local time as standard time (documented); bookings use the
    # same rule, so 01:00 is 06:00Z
    is(pg_utc($FALL, '01:00', $NY), utc($FALL, '01:00', -300), "setup: $FALL 01:00 reads as EST");
    my $want = [['00:00', utc($FALL, '00:00', -240)], ['01:00', utc($FALL, '01:00', -300)], ['02:00', utc($FALL, '02:00', -300)]];
    slots_are((slots($t, $FALL))[2], $NY, 60, $want,
              "fall back ($FALL): 00:00 EDT (04:00Z), 01:00 once (06:00Z), 02:00 EST (07:00Z)");
    my (undef, $a, $r) = book($ct, date => $FALL, time => '01:00', duration => 60);
    success_is($r, 201, 'fall back: a booking at 01:00: 201');
    is($a->{startsAt}, $want->[1][1], "... it starts at the 01:00 slot's instant");
    slots_are((slots($t, $FALL))[2], $NY, 60, [$want->[0], $want->[2]], 'fall back: the booked 01:00 slot is gone, its neighbours stay');
}

# ==== daylight saving: Europe/Ljubljana ===========================================================
{
    my ($t, $p) = provider_session(name => 'Dr Ljubljana', timeZone => $LJ);
    set_hours($t, 'Dr Ljubljana', tuesday => ['09:00', '12:00'], sunday => ['01:00', '04:00'], slot => 60);
    is(pg_utc($LJ_SPRING, '01:00', $LJ) . ' ' . pg_utc($LJ_SPRING, '03:00', $LJ), utc($LJ_SPRING, '01:00', 60) . ' ' . utc($LJ_SPRING, '03:00', 120),
       "setup: $LJ_SPRING 01:00 is CET, 03:00 is CEST");
    slots_are((slots($t, $JAN_TUE))[2], $LJ, 60, at_offset($JAN_TUE, 60, qw(09:00 10:00 11:00)),
              'Ljubljana in January: 09:00 is 08:00Z (CET)');
    my $jul = first_weekday($Y, 7, 2);
    slots_are((slots($t, $jul))[2], $LJ, 60, at_offset($jul, 120, qw(09:00 10:00 11:00)),
              'Ljubljana in July: 09:00 is 07:00Z (CEST)');
    slots_are((slots($t, $LJ_SPRING))[2], $LJ, 60, [['01:00', utc($LJ_SPRING, '01:00', 60)], ['03:00', utc($LJ_SPRING, '03:00', 120)]],
              "Ljubljana spring forward ($LJ_SPRING, last Sunday of March): no 02:00; 01:00 is 00:00Z, 03:00 is 01:00Z");
    slots_are((slots($t, $LJ_FALL))[2], $LJ, 60,
              [['01:00', utc($LJ_FALL, '01:00', 120)], ['02:00', utc($LJ_FALL, '02:00', 60)], ['03:00', utc($LJ_FALL, '03:00', 60)]],
              "Ljubljana fall back ($LJ_FALL, last Sunday of October): 01:00 CEST (23:00Z the day before), 02:00 once (01:00Z), 03:00 CET (02:00Z)");
    slots_are((slots($t, $SPRING))[2], $LJ, 60, at_offset($SPRING, 60, qw(01:00 02:00 03:00)),
              "New York's spring-forward Sunday ($SPRING) is a plain CET day in Ljubljana: 02:00 exists");
}

# ==== a date that is not YYYY-MM-DD ===============================================================
for my $bad ('tomorrow', "$Y-1-05", "${Y}0105", "$Y-13-01", "$Y-02-30", "$Y-01-05T00:00") {
    my (undef, undef, $r) = slots($ptok, $bad);
    error_is($r, 422, 'validation_error', 'date', "provider slots for '$bad': 422 field date");
}
{
    my ($ct) = client_session($prov->{id});
    my (undef, undef, $r) = slots($ct, "$Y-02-30", client => 1);
    error_is($r, 422, 'validation_error', 'date', "client slots for '$Y-02-30': 422 field date");
}

done_testing();
