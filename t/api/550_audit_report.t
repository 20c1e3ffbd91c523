# GET /api/audit (docs/api.md "Audit"): a provider's audit report as JSON.
# Scope: the events about its own clients, and of the events without a client those it or one
# of its clients caused; never another practice's. Every filter, every sort field in both
# directions with stable paging, limit/offset bounds, 422 for invalid parameters, 404 for a
# clientId outside the practice, 403 for clients, 401 without a token, and the one audit.read
# event every answered report writes (before the rows are read, so the report shows it).
#
# The fixed rows this file inserts lie in March 2020 and January 2019; the checks on them
# bound the period with from/to, so the events that requests write meanwhile stay out.
# Text order is the suite database's (C.UTF-8: byte order, as Perl's cmp).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use Time::Local qw(timegm);

# ---- two practices --------------------------------------------------------------------------
my ($ptok, $p, $preg) = provider_session(name => 'Dr Audit', timeZone => 'America/New_York');
my ($a1tok, $a1, $a1reg) = client_session($p->{id}, name => 'Audited One');
my ($st, $inv, $ires) = invite_client($ptok, name => 'Audited Two');
$st == 201 or BAIL_OUT('setup: invite ' . $st);
my $a2 = $inv->{id};
my ($qtok, $q, $qreg) = provider_session(name => 'Dr Elsewhere');
my ($b1tok, $b1, $b1reg) = client_session($q->{id}, name => 'Elsewhere Client');

# refused calls without a client id: a1's is about practice A, b1's about practice B
my (undef, undef, $a1deny) = api(GET => '/api/provider/dashboard', token => $a1tok);
my (undef, undef, $b1deny) = api(GET => '/api/provider/dashboard', token => $b1tok);
is($a1deny->code, 403, 'setup: a client calling a provider route is refused');

sub event_id_of {
    my ($res) = @_;
    return scalar psql(q{SELECT id FROM audit_events WHERE request_id = }
                       . sql_quote($res->header('X-Request-Id')) . q{ ORDER BY seq LIMIT 1});
}
my %real = (p_register => event_id_of($preg), a1_register => event_id_of($a1reg),
            a2_invite => event_id_of($ires), a1_denied => event_id_of($a1deny),
            q_register => event_id_of($qreg), b1_register => event_id_of($b1reg),
            b1_denied => event_id_of($b1deny));
ok(!grep({ !length } values %real), 'setup: every real event found') or diag(explain \%real);

# ---- scope ----------------------------------------------------------------------------------
my %mine_clients = ($a1->{id} => 1, $a2 => 1);
my %mine_actors = (%mine_clients, $p->{id} => 1);

my ($d, $res);
($st, $d, $res) = audit_report($ptok, { limit => 1000 });
success_is($res, 200, 'GET /api/audit as a provider: 200');
is_deeply([sort keys %{ $d // {} }], [qw(events limit offset total)], 'answer is {events, total, limit, offset}');
my @ev = @{ $d->{events} // [] };
ok(@ev >= 5, 'the report has the practice\'s events') or diag(scalar @ev);
my @outside = grep {
    defined $_->{clientId} ? !$mine_clients{ $_->{clientId} }
                           : !(defined $_->{actorId} && $mine_actors{ $_->{actorId} })
} @ev;
is(scalar @outside, 0, 'every event is about its clients, or caused by it or its clients without a client')
    or diag(explain \@outside);
my %seen = map { $_->{id} => 1 } @ev;
ok($seen{ $real{$_} }, "includes $_") for qw(p_register a1_register a2_invite a1_denied);
ok(!$seen{ $real{$_} }, "leaves out the other practice's $_") for qw(q_register b1_register b1_denied);
my $in_scope = psql(q{SELECT count(*) FROM audit_events e WHERE e.client_id IN (}
    . join(', ', map { sql_quote($_) . '::uuid' } sort keys %mine_clients) . q{) OR (e.client_id IS NULL AND e.actor_id IN (}
    . join(', ', map { sql_quote($_) . '::uuid' } sort keys %mine_actors) . q{))});
is($d->{total}, $in_scope, 'total counts exactly the practice\'s events (independent count)');
is($res->header('X-Total-Count'), $d->{total}, 'X-Total-Count carries the total too');
like($res->header('Vary') // '', qr/\bAccept\b/, 'Vary: Accept (the answer depends on it)');

my @misshapen = grep {
    my $e = $_;
    join(',', sort keys %$e) ne join(',', @{ EVENT_KEYS() }) || ($e->{id} // '') !~ $UUID_RE
        || ($e->{at} // '') !~ $TS_RE || ($e->{actorType} // '') !~ /^(provider|client|anonymous|system)$/
        || ($e->{outcome} // '') !~ /^(success|failure|denied)$/
        || grep({ defined $e->{$_} && $e->{$_} !~ $UUID_RE } qw(actorId clientId))
} @ev;
is(scalar @misshapen, 0, 'every event has the ten fields, UUID ids, RFC 3339 UTC at, known types')
    or diag(explain \@misshapen);
my @ats = map { $_->{at} } @ev;
is_deeply(\@ats, [sort { $b cmp $a } @ats], 'newest first by default');

# the other practice sees its own, not A's
my (undef, $dq) = audit_report($qtok, { limit => 1000 });
my %qseen = map { $_->{id} => 1 } @{ $dq->{events} // [] };
ok($qseen{ $real{$_} }, "practice B's report includes its $_") for qw(q_register b1_register b1_denied);
ok(!$qseen{ $real{$_} }, "practice B's report leaves out A's $_") for qw(p_register a1_register a2_invite a1_denied);

# ---- who may ask --------------------------------------------------------------------------------
(undef, undef, $res) = audit_report($a1tok, {});
error_is($res, 403, 'forbidden', undef, 'a client: 403 forbidden');
audit_single($res, { action => 'audit.read', resource_type => 'audit', outcome => 'denied',
                     actor_id => $a1->{id}, actor_type => 'client' }, '... one audit.read denied event');
(undef, undef, $res) = audit_report(undef, {});
error_is($res, 401, 'unauthorized', undef, 'no token: 401 unauthorized');
audit_single($res, { action => 'audit.read', outcome => 'denied', actor_type => 'anonymous', actor_id => '' },
             '... one audit.read denied event, anonymous');
(undef, undef, $res) = audit_report($ptok, { clientId => $b1->{id} });
error_is($res, 404, 'not_found', 'clientId', "another practice's client: 404 not_found (never a hint)");
audit_single($res, { action => 'audit.read', outcome => 'denied', actor_id => $p->{id}, client_id => '',
                     resource_id => $b1->{id} }, '... one audit.read denied event, without a client');
(undef, undef, $res) = audit_report($ptok, { clientId => uuid_v4() });
error_is($res, 404, 'not_found', 'clientId', 'an unknown client: the same 404');
(undef, undef, $res) = audit_report($ptok, { clientId => $p->{id} });
error_is($res, 404, 'not_found', 'clientId', 'the provider itself as clientId: 404 (not a client)');

# ---- the report's own event -----------------------------------------------------------------------
($st, $d, $res) = audit_report($ptok, {});
success_is($res, 200, 'a plain report');
my $own = audit_single($res, { action => 'audit.read', resource_type => 'audit', outcome => 'success',
                               actor_id => $p->{id}, actor_type => 'provider', client_id => '',
                               resource_id => '' }, 'one audit.read success event per report');
is(($d->{events}[0] // {})->{id}, event_id_of($res), 'written before the rows were read: it heads its own report');
is(($d->{events}[0] // {})->{action}, 'audit.read', '... as audit.read');
($st, $d, $res) = audit_report($ptok, { clientId => $a1->{id}, limit => 5 });
success_is($res, 200, 'a report about one client');
audit_single($res, { action => 'audit.read', outcome => 'success', client_id => $a1->{id},
                     resource_id => $a1->{id} }, '... its event names that client');

# ---- fixed events: March 2020 ---------------------------------------------------------------
my %P = (from => '2020-03-01', to => '2020-03-31');    # days: the whole of March (New York)
my $pid = $p->{id};
my @actors = ([$pid, 'provider'], [$a1->{id}, 'client'], [undef, 'anonymous'], [$a2, 'client']);
my @actions = qw(appointment.read note.read message.read auth.login invoice.list);
my @rtypes = ('appointment', 'clinical_note', undef, 'message');
my @rids = ('r-07', 'r-03', undef, 'r-11', 'r-03', 'R-5');
my @ips = ('10.0.0.1', '10.0.0.2', undef, '::1', '192.168.1.7');
my @outcomes = qw(success failure denied);
my @clients = ($a1->{id}, $a2, undef);
my $t0 = timegm(0, 0, 0, 12, 2, 2020);    # 2020-03-12T00:00:00Z
my @rows;
for my $i (0 .. 23) {
    my ($actor, $atype) = @{ $actors[$i % 4] };
    my $client = $clients[$i % 3];
    ($actor, $atype) = ($pid, 'provider') if !defined $client && !defined $actor;
    my $t = $t0 + 5 * 3600 * $i - ($i == 8 ? 5 * 3600 : 0);    # rows 7 and 8 share their instant
    my @g = gmtime $t;
    push @rows, { at => sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0]),
                  actor_id => $actor, actor_type => $atype, action => $actions[$i % 5],
                  resource_type => $rtypes[$i % 4], resource_id => $rids[$i % 6],
                  client_id => $client, ip => $ips[$i % 5], outcome => $outcomes[$i % 3] };
}
# around midnight in New York (EDT, UTC-4, since 8 March) on 10 and 11 March
push @rows, map { { at => $_, actor_id => $a1->{id}, actor_type => 'client', action => 'edge.read',
                    client_id => $a1->{id}, outcome => 'success', ip => '10.0.0.9' } }
            '2020-03-10T03:59:59Z', '2020-03-10T04:00:00Z', '2020-03-11T03:59:59.999Z', '2020-03-11T04:00:00Z';
my @mine = audit_insert_events(@rows);
# the same month, outside practice A: B's client (even with A as actor), anonymous, B, B's
# client as actor, a client id that belongs to nobody
my @theirs = audit_insert_events(
    { at => '2020-03-15T12:00:00Z', actor_id => $pid, actor_type => 'provider', client_id => $b1->{id}, action => 'appointment.read' },
    { at => '2020-03-15T12:00:01Z', actor_type => 'anonymous', action => 'auth.login', outcome => 'failure' },
    { at => '2020-03-15T12:00:02Z', actor_id => $q->{id}, actor_type => 'provider', action => 'client.list' },
    { at => '2020-03-15T12:00:03Z', actor_id => $b1->{id}, actor_type => 'client', action => 'dashboard.read', outcome => 'denied' },
    { at => '2020-03-15T12:00:04Z', actor_id => $pid, actor_type => 'provider', client_id => uuid_v4(), action => 'note.read' },
);

sub by_default { $b->{at} cmp $a->{at} || $b->{seq} <=> $a->{seq} }
sub ids { [map { $_->{id} } @_] }

# report(\%query) -> (all events of every page of 1000, total); one request when it fits
sub report_ids {
    my (%qy) = @_;
    my ($s, $body, $r) = audit_report($ptok, { limit => 1000, %qy });
    return (undef, undef, $r) unless $s == 200;
    return ([map { $_->{id} } @{ $body->{events} }], $body->{total}, $r, $body);
}

my ($got, $total);
($got, $total, $res) = report_ids(%P);
is_deeply($got, ids(sort by_default @mine), 'March 2020: exactly the practice\'s fixed events, newest first, ties by event order')
    or diag(dump_res($res));
is($total, scalar @mine, '... total ' . scalar @mine);
my %theirs = map { $_->{id} => 1 } @theirs;
ok(!grep({ $theirs{$_} } @{ $got // [] }), "... none of the other practices' (nor A's about B's client)");

# ---- filters ----------------------------------------------------------------------------------
my @filters = (
    [{ clientId => $a1->{id} }, sub { ($_->{clientId} // '') eq $a1->{id} }],
    [{ clientId => $a2 }, sub { ($_->{clientId} // '') eq $a2 }],
    [{ clientId => uc $a2 }, sub { ($_->{clientId} // '') eq $a2 }],
    [{ action => 'note.read' }, sub { $_->{action} eq 'note.read' }],
    [{ actorId => $pid }, sub { ($_->{actorId} // '') eq $pid }],
    [{ actorId => $a1->{id} }, sub { ($_->{actorId} // '') eq $a1->{id} }],
    [{ actorType => 'client' }, sub { $_->{actorType} eq 'client' }],
    [{ actorType => 'provider' }, sub { $_->{actorType} eq 'provider' }],
    [{ actorType => 'anonymous' }, sub { $_->{actorType} eq 'anonymous' }],
    [{ resourceType => 'clinical_note' }, sub { ($_->{resourceType} // '') eq 'clinical_note' }],
    [{ resourceId => 'r-03' }, sub { ($_->{resourceId} // '') eq 'r-03' }],
    [{ outcome => 'denied' }, sub { $_->{outcome} eq 'denied' }],
    [{ outcome => 'failure' }, sub { $_->{outcome} eq 'failure' }],
    [{ clientId => $a1->{id}, outcome => 'success', actorType => 'client' },
     sub { ($_->{clientId} // '') eq $a1->{id} && $_->{outcome} eq 'success' && $_->{actorType} eq 'client' }],
    [{ action => 'no.such.action' }, sub { 0 }],
    # from: a day starts at midnight New York time; an instant is inclusive
    [{ from => '2020-03-10' }, sub { $_->{at} ge '2020-03-10T04:00:00.000Z' }],
    [{ from => '2020-03-10T00:00:00-04:00' }, sub { $_->{at} ge '2020-03-10T04:00:00.000Z' }],
    [{ from => '2020-03-11T03:59:59.999Z' }, sub { $_->{at} ge '2020-03-11T03:59:59.999Z' }],
    # to: a day is included whole; an instant is exclusive
    [{ to => '2020-03-10' }, sub { $_->{at} lt '2020-03-11T04:00:00.000Z' }],
    [{ to => '2020-03-10T04:00:00Z' }, sub { $_->{at} lt '2020-03-10T04:00:00.000Z' }],
    [{ to => '2020-03-10T04:00:00.001Z' }, sub { $_->{at} le '2020-03-10T04:00:00.000Z' }],
    [{ from => '2020-03-10', to => '2020-03-10' }, sub { $_->{at} ge '2020-03-10T04:00:00.000Z' && $_->{at} lt '2020-03-11T04:00:00.000Z' }],
);
for my $f (@filters) {
    my ($qy, $keep) = @$f;
    my %qq = (%P, %$qy);
    my $name = join('&', map { "$_=$qy->{$_}" } sort keys %$qy);
    my @want = sort by_default grep { $keep->() } @mine;
    ($got, $total, $res) = report_ids(%qq);
    is_deeply($got, ids(@want), "filter $name: " . scalar(@want) . ' events') or diag(dump_res($res));
    is($total, scalar @want, "... total " . scalar @want);
}
ok(scalar(grep { $_->{action} eq 'edge.read' } @mine) == 4, 'the midnight rows are there to be told apart');
# an offset's '+' may come unencoded (a query string is not a form: '+' is not a space)
($st, $d, $res) = api(GET => '/api/audit?from=2020-03-10T06:00:00+02:00&to=2020-03-31&limit=1000', token => $ptok);
is_deeply(ids(@{ $d->{events} // [] }), ids(sort by_default grep { $_->{at} ge '2020-03-10T04:00:00.000Z' } @mine),
          "from=2020-03-10T06:00:00+02:00 with a bare '+': from 04:00Z") or diag(dump_res($res));

# ---- sorting and paging -------------------------------------------------------------------------
my @SORT_FIELDS = qw(id at actorId actorType action resourceType resourceId clientId ip outcome);
for my $field (@SORT_FIELDS) {
    # ascending: NULLs last; ties in event order. Descending is the exact reverse.
    my @asc = sort {
        my ($x, $y) = ($a->{$field}, $b->{$field});
        (!defined $x && !defined $y ? 0 : !defined $x ? 1 : !defined $y ? -1 : $x cmp $y)
            || $a->{seq} <=> $b->{seq}
    } @mine;
    for my $dir ('', '-') {
        my @want = $dir ? reverse(@asc) : @asc;
        my $sort = "$dir$field";
        ($got, $total, $res) = report_ids(%P, sort => $sort);
        is_deeply($got, ids(@want), "sort=$sort: in that order, ties in event order") or diag(dump_res($res));
        my (@paged, %dup, $bad);
        for (my $off = 0; $off < @want + 5; $off += 5) {
            my ($s, $body, $r) = audit_report($ptok, { %P, sort => $sort, limit => 5, offset => $off });
            if ($s != 200 || $body->{total} != @want || $body->{limit} != 5 || $body->{offset} != $off) {
                $bad = dump_res($r);
                last;
            }
            push @paged, map { $_->{id} } @{ $body->{events} };
        }
        ok(!$bad, "sort=$sort: every page answers 200 with total, limit and offset") or diag($bad);
        is_deeply(\@paged, ids(@want), "sort=$sort: pages of 5 add up to the whole, no duplicate, no gap");
    }
}

# ---- limit and offset ---------------------------------------------------------------------------
my @jan = audit_insert_events(map {
    { at => sprintf('2019-01-%02dT10:%02d:00Z', 1 + $_ % 28, $_ % 60), actor_id => $pid,
      actor_type => 'provider', action => 'bulk.read', client_id => $a2 }
} 1 .. 130);
my %J = (from => '2019-01-01T00:00:00Z', to => '2019-02-01T00:00:00Z');
($st, $d, $res) = audit_report($ptok, \%J);
success_is($res, 200, 'January 2019 without a limit');
is(scalar @{ $d->{events} }, 100, 'default limit: 100 events');
is_deeply([@$d{qw(total limit offset)}], [130, 100, 0], 'total 130, limit 100, offset 0');
is_deeply(ids(@{ $d->{events} }), [@{ ids(sort by_default @jan) }[0 .. 99]], 'the newest 100');
($st, $d, $res) = audit_report($ptok, { %J, offset => 100 });
is_deeply(ids(@{ $d->{events} }), [@{ ids(sort by_default @jan) }[100 .. 129]], 'offset 100: the other 30');
($st, $d, $res) = audit_report($ptok, { %J, offset => 130 });
success_is($res, 200, 'offset at the end: 200');
is_deeply([scalar @{ $d->{events} }, $d->{total}], [0, 130], '... no events, total still 130');
($st, $d, $res) = audit_report($ptok, { %J, offset => 5000, limit => 1 });
is_deeply([$st, scalar @{ $d->{events} // [] }, $d->{total}], [200, 0, 130], 'offset far past the end: empty page');
($st, $d, $res) = audit_report($ptok, { %J, limit => 1000 });
is_deeply([$st, scalar @{ $d->{events} // [] }], [200, 130], 'limit=1000 (the maximum) is accepted');
($st, $d, $res) = audit_report($ptok, { %J, limit => 1 });
is_deeply(ids(@{ $d->{events} // [] }), [ids(sort by_default @jan)->[0]], 'limit=1: the newest one');

# ---- invalid parameters: 422 with the field, and no event ---------------------------------------
my @bad = (
    [limit => '0'], [limit => '1001'], [limit => '-1'], [limit => 'ten'], [limit => '10.5'],
    [limit => ' 5'], [limit => '99999999999999999999'],
    [offset => '-1'], [offset => 'x'], [offset => '1e3'], [offset => '1000000001'],
    [sort => 'name'], [sort => '--at'], [sort => '+at'], [sort => 'AT'], [sort => 'actor_id'], [sort => 'seq'],
    [clientId => 'not-a-uuid'], [actorId => '12345'],
    [actorType => 'robot'], [outcome => 'maybe'], [outcome => 'SUCCESS'],
    [from => '2020-13-01'], [from => 'yesterday'], [from => '2020-03-10T25:00:00Z'], [from => '2020-03-10T10:00:00'],
    [to => '2020-02-30'], [to => '10/03/2020'], [to => '2020-03-10 10:00:00Z'],
    [action => 'a' x 201], [resourceType => 'r' x 201], [resourceId => 'i' x 201],
);
for my $case (@bad) {
    my ($field, $value) = @$case;
    (undef, undef, $res) = audit_report($ptok, { $field => $value });
    error_is($res, 422, 'validation_error', $field, "$field=" . (length $value > 20 ? substr($value, 0, 20) . '...' : $value) . ": 422 naming $field");
    is(scalar(audit_events_for($res->header('X-Request-Id'))), 0, '... reads nothing, writes no event');
}
(undef, undef, $res) = audit_report($ptok, { from => '2020-03-10T05:00:00Z', to => '2020-03-09' });
error_is($res, 422, 'validation_error', 'to', 'to before from: 422 naming to');
(undef, undef, $res) = audit_report($ptok, { from => '2020-03-10T00:00:00Z', to => '2020-03-10T00:00:00Z' });
error_is($res, 422, 'validation_error', 'to', 'to equal to from (an empty period): 422');
(undef, undef, $res) = audit_report($ptok, { from => '2020-03-10', to => '2020-03-10' });
is($res->code, 200, 'from and to the same day: that whole day, 200');
(undef, undef, $res) = audit_report($ptok, { action => 'a' x 200, sort => '-ip', limit => 1000, offset => 0 });
is($res->code, 200, 'the longest filter value and the bounds themselves are accepted');
(undef, $d, $res) = audit_report($ptok, { %P, unknown => 'x', limit => 3 });
is($res->code, 200, 'an unknown parameter is ignored');

done_testing();
