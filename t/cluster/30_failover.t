# The primary dies (pg_ctl stop -m immediate) under load and the standby is promoted: the
# nodes answer 503 JSON meanwhile and find the new primary by themselves (multi-host DBDParams,
# target_session_attrs=read-write), acknowledged writes survive (synchronous replication: all
# of them; asynchronous: all that the standby had received), the audit chain verifies on the
# new primary. Before that, under the same load: the audit sealer and the mail delivery run
# on one node at a time (their advisory locks in pg_locks; every mail written by one node).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Cluster;

my $sync = $ENV{CLUSTER_SYNC} // $PORT{CLUSTER_SYNC} // 0;
note($sync ? 'synchronous replication' : 'asynchronous replication');
is(primary(), 1, 'db1 is the primary');
my $pr = practice(clients => 4);

# A sampler on db1, every 0.1 s: the time, the WAL position, and who holds the sealer's and
# the mailer's advisory locks (the node's application_name and the lock key).
my $samples = "$Cluster::DIR/lsn-samples.$$";
my $q = q{SELECT extract(epoch FROM clock_timestamp()), pg_current_wal_lsn(),
  coalesce((SELECT string_agg(a.application_name || '=' || ((l.classid::bigint << 32) | l.objid::bigint), ' ')
              FROM pg_locks l JOIN pg_stat_activity a USING (pid)
             WHERE l.locktype = 'advisory' AND l.granted), '');};
$q =~ s/\n/ /g;
my $sampler = fork // die "fork: $!";
if (!$sampler) {
    open STDOUT, '>', $samples or die $!;
    open STDERR, '>', '/dev/null';    # psql's words when db1 goes away
    open my $psql, '|-', 'psql', '-X', '-q', '-At', '-F', '|', '-h', "$Cluster::DIR/db1/pg/run",
        '-p', $PORT{DB1_PORT}, '-U', 'postgres', '-d', 'docportal' or die $!;
    $psql->autoflush(1);
    $SIG{PIPE} = sub { exit 0 };
    while (1) { print $psql "$q\n" or exit 0; sleep 0.1 }
}
sub read_samples {
    open my $fh, '<', $samples or return [];
    return [ map { chomp; [ split /\|/, $_, 3 ] } <$fh> ];
}

my $run = load_start($pr, workers => 4);
sleep 8;

# -- one sealer and one mailer at a time, across the nodes
my (%seen, @two);
for my $s (@{ read_samples() }) {
    my %holders;
    for (split ' ', $s->[2] // '') {
        my ($node, $key) = split /=/;
        $seen{"$node holds $key"}++;
        push @{ $holders{$key} }, $node;
    }
    push @two, $s for grep { @{ $holders{$_} } > 1 } keys %holders;
}
is_deeply(\@two, [], 'no sample shows two holders of the sealer\'s or the mailer\'s lock');
note("advisory locks seen: " . join(', ', map { "$_ ($seen{$_}x)" } sort keys %seen));
# every mail was delivered by one node: no outbox id in both nodes' mail directories. The load
# goes on queueing mail, so what must be drained is the mail queued up to now, but for a mail
# the node killed in 20_node_loss.t had claimed: its claim is leased (five minutes) before
# another node may send it. A mail whose attempt failed is waited for, whenever it is due.
my $queued_by = psql(1, 'SELECT now()') // BAIL_OUT('the primary does not answer');
my $queued = "status = 'pending' AND created_at <= '$queued_by'";
my $leased = "next_attempt_at > now() AND last_error IS NULL"; # a claim, no attempt failed
my $waited = "$queued AND NOT ($leased)";
ok(wait_for(30, sub { (psql(1, "SELECT count(*) FROM outbox WHERE $waited") // 1) == 0 }),
   'the outbox is drained of the mail queued so far (but for a claim of the node killed before)')
    or diag(psql(1, "SELECT count(*), min(created_at), max(attempts), max(last_error) FROM outbox WHERE $waited") // '');
note('mail queued so far and leased by a claim not yet settled: '
     . (psql(1, "SELECT count(*) FROM outbox WHERE $queued AND $leased") // '?'));
my @sent = split /\n/, psql(1, "SELECT id FROM outbox WHERE status = 'sent'") // '';
my %by;
for my $n (1, 2) {
    opendir my $d, "$Cluster::DIR/node$n/mail" or next;
    push @{ $by{$_} }, $n for map { /-([0-9a-f-]{36})\.eml$/ ? $1 : () } readdir $d;
}
ok(@sent > 0, 'mails were sent: ' . @sent);
is_deeply([ grep { !$by{$_} } @sent ], [], 'every sent mail is a file on a node');
is_deeply([ grep { @{ $by{$_} } > 1 } keys %by ], [], 'and none on both nodes');
note('mails by node1: ' . scalar(grep { $by{$_}[0] == 1 } keys %by) . ', by node2: '
     . scalar(grep { $by{$_}[0] == 2 } keys %by));

# -- the failover, the load still running
my $t_kill = time;
is(cluster_sh('kill-db', 1), 0, 'db1 stopped (immediate)');
waitpid $sampler, 0;
my $received = lsn_num(psql(2, 'SELECT pg_last_wal_receive_lsn()'));
ok(defined $received, 'the standby says how far it received the WAL');

my $token = $pr->{ptok};
for my $n (1, 2) {
    my $a = api(node($n), GET => '/api/auth/me', token => $token);
    is($a->{s}, 503, "node$n answers 503 while no database takes writes");
    ok(is_json_error($a), 'as a JSON error');
}
my $t_promote = time;
is(cluster_sh('promote', 2), 0, 'db2 promoted');
for my $n (1, 2) {
    ok(wait_for(60, sub { api(node($n), GET => '/api/auth/me', token => $token)->{s} == 200 }),
       "node$n serves again without a restart");
}
my $t_back = time;
note(sprintf('nodes back %.1f s after the promotion', $t_back - $t_promote));
ok(wait_for(20, sub { my $s = lb_status(); ($s->{node1} // '') eq 'UP' && ($s->{node2} // '') eq 'UP' }),
   'HAProxy sees both nodes up again');
sleep 3;
my $recs = load_stop($run);

is_deeply([ grep { $_->{s} == 0 } @$recs ], [], 'every request got an answer (none hung or was cut)');
is_deeply([ grep { ($_->{s} < 200 || $_->{s} >= 300) && !$_->{err} } @$recs ], [],
          'each failed request was answered with a JSON error');
ok(scalar(grep { $_->{t0} > $t_back + 2 && $_->{s} == 201 } @$recs) > 5, 'writes succeed through HAProxy after the switch');

# -- the acknowledged writes on the new primary
my $writes = acked_writes($recs);
my @before = grep { $_->{t1} < $t_kill } @$writes;
my @after = grep { $_->{t0} > $t_promote } @$writes;
ok(@before > 10, 'writes acknowledged before the kill: ' . @before);
ok(@after > 5, 'after the promotion: ' . @after);
my $samp = read_samples();
# a write acknowledged at t1 is in the WAL before any position sampled after t1
my $received_before = sub {
    my ($w) = @_;
    for my $s (@$samp) {
        return lsn_num($s->[1]) <= $received if $s->[0] >= $w->{t1};
    }
    return 0;
};
my @must = $sync ? @$writes : ((grep { $received_before->($_) } @before), @after);
note(scalar(@must) . ' writes must be on db2 (' . scalar(@$writes) . ' acknowledged)');
ok(@must >= @before, 'the standby had received the writes acknowledged before the kill')
    if $sync;
is_deeply(missing_writes(2, \@must), [], 'every one of them is on the promoted primary');
if (!$sync) {
    my $lost = missing_writes(2, $writes);
    note(scalar(@$lost) . ' acknowledged writes not on db2 (asynchronous replication)');
}

# -- the audit chain on the new primary
local $ENV{DP_VAR} = "$Cluster::DIR/db2";
my $url = `bash $ROOT/build/pg.sh url owner`;
chomp $url;
my @logs = $sync ? map { ('--log', "$Cluster::DIR/node$_/error.log") } 1, 2 : ();
my $out = `DATABASE_URL='$url' $ROOT/build/out/dp-audit-verify --key-file $Cluster::DIR/secrets/audit_key @logs 2>&1`;
is($? >> 8, 0, 'dp-audit-verify passes on the promoted primary' . ($sync ? ', with the nodes\' logs' : ''))
    or diag($out);
like($out, qr/^dp-audit-verify: OK$/m, 'it says OK');
unlink $samples;

done_testing;
