package DocPortal::ErrorLog;
# The suite server's error_log: what a test logged, and the error lines it provoked on purpose.
use strict;
use warnings;

use Exporter 'import';
use Apache::Test ();
use Time::HiRes ();

our @EXPORT = qw(error_log_mark error_log_since expect_error_lines);

sub _error_log_path {
    require File::Spec;
    return File::Spec->catfile(Apache::Test::vars('t_logs'), 'error_log');
}

# expect_error_lines($text): the error-level lines in $text (from error_log_since) were provoked
# on purpose; 999_error_log.t accepts exactly those lines (t/logs/expected_error_lines).
sub expect_error_lines {
    my ($text) = @_;
    require File::Spec;
    my $file = File::Spec->catfile(Apache::Test::vars('t_logs'), 'expected_error_lines');
    open my $fh, '>>', $file or die "open $file: $!";
    print {$fh} "$_\n" for grep { /^\[[^\]]*\] \[[\w.-]*:(?:error|crit|alert|emerg)\]/ }
                            split /\n/, $text // '';
    close $fh;
}

# error_log_mark() -> the suite server's error_log size now; error_log_since($mark) -> what was
# logged after it (waits a moment for lines still being written).
sub error_log_mark { return -s _error_log_path() || 0 }

sub error_log_since {
    my ($mark, $want) = @_;
    my $text = '';
    for (1 .. 20) {
        open my $fh, '<', _error_log_path() or return '';
        seek $fh, $mark, 0;
        local $/;
        $text = <$fh> // '';
        close $fh;
        last if !defined $want || $text =~ $want;
        Time::HiRes::sleep(0.1);
    }
    return $text;
}

1;
