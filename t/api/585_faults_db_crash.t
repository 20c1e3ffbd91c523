# PostgreSQL crashes under a full load of writes: sixteen workers book, write, bill and pay
# while the database is stopped at once (pg_ctl stop -m immediate: no checkpoint, every
# connection cut) and started again. Every request is answered in time, with the flow's own
# answer or 503 unavailable JSON, never a 500; every write answered 2xx is there after the
# crash recovery and reads back through the API; no refused write is there unless its COMMIT
# reached the database as the connection was cut (bounded by the log's DP02007 lines); what
# Stripe charged and what the invoices say agree; the module serves again without an httpd
# restart; every audit row written since the test began is sealed and the chain over them
# verifies.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Load;
use Time::HiRes qw(time sleep);

unless ($ENV{DP_PG_SH} && -x $ENV{DP_PG_SH}) {
    Test::More::plan(skip_all => 'DP_PG_SH not set or not executable');
}

my $down = 0;

sub pg {
    my ($what) = @_;
    my $out = `$ENV{DP_PG_SH} $what 2>&1`;
    return ($? >> 8, $out);
}

# The suite's cluster runs with synchronous_commit off for speed: a crash then loses commits
# that were acknowledged. Production keeps PostgreSQL's default (on), and so does the module's
# role while this test runs.
sub durable {
    my ($on) = @_;
    psql_must('ALTER ROLE docportal_app ' . ($on ? 'SET synchronous_commit = on' : 'RESET synchronous_commit'));
}

# whatever happens below, PostgreSQL runs again, the role has the suite's setting back and the
# Stripe fake is reset
END {
    my $keep = $?;
    if ($down) {
        my ($rc, $out) = pg('start');
        print STDERR "# 585 END: '$ENV{DP_PG_SH} start' failed (rc $rc): $out\n" if $rc;
    }
    eval { durable(0) };
    eval { stripe_reset() };
    $? = $keep;
}
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

stripe_reset();
my $mark = error_log_mark();
my $seq0 = audit_mark();
my $parent = httpd_parent_pid();
ok($parent, 'setup: the pid of the suite\'s httpd');

durable(1);
# the pooled connections that exist already had the old setting: they end, and the module
# opens new ones as it needs them
psql_must(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'docportal_app'});
my $run = load_running('the crash', tag => 't585');
my $WORKERS = $run->{workers};

my $t_stop = time;
my ($rc, $out) = pg('crash');
$down = 1;
is($rc, 0, "'pg.sh crash': PostgreSQL stopped at once (-m immediate)") or diag($out);
my $is503 = sub { $_[0]{s} == 503 && $_[0]{at} > $t_stop };
ok($run->wait_for(2 * $WORKERS, 30, $is503), 'while it is down, requests are answered 503')
    or diag('answers since: ' . $run->count(sub { $_[0]{at} > $t_stop }));
sleep 0.2 while time < $t_stop + 2;    # down for about two seconds under load

($rc, $out) = pg('start');
is($rc, 0, "'pg.sh start': PostgreSQL recovered and accepts connections") or diag($out);
$down = 0 unless $rc;
my $t_up = time;
my $ok_after = sub { $_[0]{at} > $t_up + 0.5 && $_[0]{s} >= 200 && $_[0]{s} < 300 };
ok($run->wait_for(6 * $WORKERS, 60, $ok_after), 'once it is back, writes are answered 2xx again')
    or diag('answers since: ' . $run->count(sub { $_[0]{at} > $t_up }));
$run->stop;

my $n503 = $run->count(sub { $_[0]{s} == 503 });
ok($n503 > 0, "the crash was felt: $n503 answers 503");
ok($run->count(sub { $_[0]{s} == 503 && $_[0]{at} > $t_up + 5 }) == 0,
   'no 503 later than 5 s after PostgreSQL accepts connections again');
answers_ok($run, 'crash');

# the module recovered by itself: same httpd, health 200
is(httpd_parent_pid(), $parent, 'the same httpd serves (no restart)');
my ($hs, $hd, $hres) = api(GET => '/api/health');
is($hs, 200, 'health 200 after the crash') or diag(dump_res($hres));

# A write whose COMMIT reached the database while the connection was being cut is there
# although its request was answered 503: the module cannot know. Each such request logged
# DP02007 for its commit, which bounds how many refused writes may be there: an explicit
# COMMIT, or a write sent in one pipeline with its audit row (a message), which commits at the
# pipeline's end.
my $since = error_log_since($mark);
my $lost_re = qr/DP02007: database connection lost during (?:COMMIT|msg_insert \+ audit_insert)\b/;
my $commit_lost = () = $since =~ /$lost_re/g;
# the lines as modules/dp_db.c and modules/dp_pq.c write them are counted
is(scalar(() = ("DP02007: database connection lost during COMMIT: server closed the connection unexpectedly\n"
                . "DP02007: database connection lost during msg_insert + audit_insert: no connection to the server\n"
                . "DP02007: database connection lost during appt_insert: server closed the connection unexpectedly\n")
               =~ /$lost_re/g),
   2, 'setup: a lost COMMIT and a lost message pipeline are counted, a lost statement before them is not');
my $refused_there = writes_ok($run, 'crash');
my ($paid_refused) = payments_ok($run, 'crash');
ok($refused_there + $paid_refused <= $commit_lost,
   "refused writes that are there ($refused_there + $paid_refused) are at most those whose "
   . "COMMIT lost its connection ($commit_lost)");

# the audit rows written since the test began: the sealer catches up after the crash and the
# chain over them verifies
audit_sealed_ok($seq0, 'crash');

# The error lines the crash provoked: the outage's own, which 999_error_log.t knows (DP02004,
# DP02007, mod_dbd's), and, where the statement that met the lost connection was a request's
# audit row, the refusal that follows it in the same thread (DP01201), listed here for 999.
# Nothing else, in particular no statement that failed on a live connection (a 500).
my (%lost, @declared, @other);
for my $l (split /\n/, error_log_since($mark)) {
    next unless $l =~ /^\[[^\]]*\] \[[\w.-]*:(?:error|crit|alert|emerg)\]/;
    next if $l =~ /^\[[^\]]*\] \[dbd:/;
    my ($thread) = $l =~ /\[pid (\d+:tid \d+)\]/;
    $thread //= '';
    if ($l =~ /\] DP0200[47]: /) {
        $lost{$thread} = 1;
    }
    elsif ($l =~ /\] DP01201: / && delete $lost{$thread}) {
        push @declared, $l;
    }
    else {
        delete $lost{$thread};
        push @other, $l;
    }
}
expect_error_lines(join "\n", @declared);
is(scalar @other, 0, 'no other error-level line in the log')
    or diag(join "\n", @other[0 .. ($#other > 9 ? 9 : $#other)]);
note(scalar(@declared) . ' requests refused because their audit row met the lost connection')
    if @declared;

done_testing();
