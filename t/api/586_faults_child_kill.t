# An httpd child is killed (SIGKILL) under a full load of writes: sixteen workers book, write,
# bill and pay while one of the children serving them dies mid-request. Requests in flight on
# it lose their connection (counted; never an HTTP 500); every other request is answered in
# time with the flow's own answer; every write answered 2xx is there and reads back through
# the API; what Stripe charged and what the invoices say agree; the server keeps serving with
# the same parent; every audit row written since the test began is sealed and the chain over
# them verifies.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Load;
use Time::HiRes qw(time sleep);

END { eval { stripe_reset() } }

stripe_reset();
my $mark = error_log_mark();
my $seq0 = audit_mark();
my $parent = httpd_parent_pid();
ok($parent, 'setup: the pid of the suite\'s httpd');

sub children { return grep { /^\d+$/ } split /\s+/, `pgrep -P $parent` }

my $run = load_running('the kill', tag => 't586');
my $WORKERS = $run->{workers};

# the child that serves the most connections right now: the one with the most requests in flight
my @kids = children();
ok(scalar @kids, 'setup: the httpd has children (' . join(', ', @kids) . ')');
my %conns;
for my $k (@kids) {
    $conns{$k} = () = glob("/proc/$k/fd/*") if -d "/proc/$k/fd";
}
my ($victim) = sort { ($conns{$b} // 0) <=> ($conns{$a} // 0) } @kids;
my $t_kill = time;
ok(kill('KILL', $victim), "SIGKILL to child $victim");
my $deadline = time + 10;
sleep 0.05 while kill(0, $victim) && time < $deadline;
ok(!kill(0, $victim), 'the child is gone (its parent reaped it)');

my $ok_after = sub { $_[0]{at} > $t_kill + 0.5 && $_[0]{s} >= 200 && $_[0]{s} < 300 };
ok($run->wait_for(6 * $WORKERS, 60, $ok_after), 'after the kill, writes are answered 2xx again')
    or diag('answers since: ' . $run->count(sub { $_[0]{at} > $t_kill }));
$run->stop;

answers_ok($run, 'kill', transport => 1);
is($run->count(sub { $_[0]{s} == 503 }), 0, 'no 503: the database never went away');

is(httpd_parent_pid(), $parent, 'the same httpd parent serves');
my @now = children();
ok(!grep({ $_ == $victim } @now) && @now, 'the killed child is replaced or its load taken over ('
   . join(', ', @now) . ')');
my ($hs, undef, $hres) = api(GET => '/api/health');
is($hs, 200, 'health 200 after the kill') or diag(dump_res($hres));

my $refused_there = writes_ok($run, 'kill');
is($refused_there, 0, 'no refused write is there');
payments_ok($run, 'kill');

# the audit rows written since the test began: the sealer catches up after the kill and the
# chain over them verifies
audit_sealed_ok($seq0, 'kill');

# httpd reaps a child killed by SIGKILL without a word, and nothing else went wrong: no line
# at error level for 999_error_log.t to explain
my @err = grep { /^\[[^\]]*\] \[[\w.-]*:(?:error|crit|alert|emerg)\]/ } split /\n/, error_log_since($mark);
is(scalar @err, 0, 'no error-level line in the log') or diag(join "\n", @err[0 .. ($#err > 9 ? 9 : $#err)]);

done_testing();
