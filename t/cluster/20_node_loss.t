# One node is killed (SIGKILL, parent and children) while workers write and read through
# HAProxy: its health check takes the node out, the other node carries the load, the requests
# that fail meanwhile are answered (a JSON error, no hang), and no acknowledged write is lost.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Cluster;

ok(wait_for(20, sub { my $s = lb_status(); ($s->{node1} // '') eq 'UP' && ($s->{node2} // '') eq 'UP' }),
   'HAProxy sees both nodes up');
my $pr = practice(clients => 4);
my $run = load_start($pr, workers => 4);
sleep 3;
my $t_kill = time;
is(cluster_sh('kill-node', 1), 0, 'node1 killed');
my $down = wait_for(20, sub { (lb_status()->{node1} // '') =~ /^DOWN/ });
my $t_down = time;
ok($down, 'the health check marks node1 down');
note(sprintf('node1 marked down %.1f s after the kill', $t_down - $t_kill));
sleep 4;
my $recs = load_stop($run);

my @before = grep { $_->{t1} < $t_kill } @$recs;
my @after = grep { $_->{t0} > $t_down } @$recs;
my @failed = grep { $_->{s} < 200 || $_->{s} >= 300 } @$recs;
ok(@before > 10, 'the workers made requests before the kill (' . @before . ')');
ok(@after > 10, 'and after node1 was marked down (' . @after . ')');
is_deeply([ grep { $_->{s} != 200 && $_->{s} != 201 } @after ], [],
          'every request after node1 was marked down succeeded');
# a record as the failures below show it: which call, when (seconds from the kill), what came back
sub shown {
    my ($r) = @_;
    return sprintf('%s %s at %+.3f s (%.3f s): %s', $r->{k}, $r->{s}, $r->{t0} - $t_kill,
                   $r->{t1} - $r->{t0}, $r->{e} // '');
}
my @cut = grep { $_->{s} == 0 } @$recs;
ok(!@cut, 'every request got an answer (none hung or was cut)') or diag(join "\n", map { shown($_) } @cut);
my @bare = grep { !$_->{err} } @failed;
ok(!@bare, 'each failed request was answered with a JSON error') or diag(join "\n", map { shown($_) } @bare);
ok(@failed <= 4 * 5, 'a bounded number of requests failed while node1 was being detected (' . @failed . ')');
note(scalar(@$recs) . ' requests, ' . scalar(@failed) . ' failed: '
     . join(' ', map { $_->{s} } @failed));

my $writes = acked_writes($recs);
ok(@$writes > 10, 'acknowledged writes: ' . @$writes);
is_deeply(missing_writes(primary(), $writes), [], 'every acknowledged write is in the database');

# node1 again, for the tests after this one
is(cluster_sh('start-node', 1), 0, 'node1 started again');
ok(wait_for(20, sub { (lb_status()->{node1} // '') eq 'UP' }), 'HAProxy takes it back');

done_testing;
