# The server's error_log has no error/crit/alert/emerg lines, except the few that stopping
# PostgreSQL in 090_db_down.t provokes on purpose and the exact lines other tests provoked and
# listed (565_audit_one_unit.t).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use File::Spec;

# Narrow allowlist: what a database outage produces.
my @ALLOW = (
    # mod_dbd while PostgreSQL is down: AH00629 cannot connect, AH00639 driver error on
    # (re)connect, AH02655 failed to acquire a pooled connection; AH0063x pool setup.
    qr/\[dbd:(?:error|crit|alert)\] .*\bAH0(?:0628|0629|0630|0631|0632|0633|0639|2655):/,
    # mod_docportal's own "database unavailable" lines: DP02004 (no connection, 503) and
    # DP02007 (connection lost during a statement, 503). Not DP02008 (a statement failed: 500).
    qr/\[[\w.]+:error\] .*\bDP0200[47]:/,
);

# And the exact lines a test provoked on purpose and listed (DocPortal::Test::expect_error_lines).
my %expected;
my $listed = File::Spec->catfile(Apache::Test::vars('t_logs'), 'expected_error_lines');
if (open my $lf, '<', $listed) {
    chomp(my @l = <$lf>);
    @expected{@l} = ();
    close $lf;
}

my $log = File::Spec->catfile(Apache::Test::vars('t_logs'), 'error_log');
ok(-e $log, "error log exists ($log)") or do { done_testing(); exit };

open my $fh, '<', $log or die "open $log: $!";
my (@bad, $allowed, $total);
while (my $line = <$fh>) {
    $total++;
    next unless $line =~ /^\[[^\]]*\] \[([\w.-]*):(error|crit|alert|emerg)\]/;
    chomp(my $bare = $line);
    if (exists $expected{$bare} || grep { $line =~ $_ } @ALLOW) {
        $allowed++;
        next;
    }
    chomp $line;
    push @bad, $line;
}
close $fh;

ok($total, 'error log is not empty (the server logged its start)');
is(scalar @bad, 0, 'no unexpected error/crit/alert/emerg lines in error_log')
    or diag(join "\n", 'unexpected lines:', @bad[0 .. ($#bad > 49 ? 49 : $#bad)],
            (@bad > 50 ? ('... and ' . (@bad - 50) . ' more') : ()));
note(($allowed // 0) . ' allowlisted database-outage lines');

# also no segfaults / child crashes (logged at notice level)
open $fh, '<', $log or die "open $log: $!";
my @crash = grep { /exit signal (?:Segmentation|Aborted|Bus error|Illegal)|AH00052/ } <$fh>;
close $fh;
is(scalar @crash, 0, 'no child process crashed') or diag(join '', @crash);

done_testing();
