#!/usr/bin/perl
# CPU used so far, in milliseconds, by: httpd's children, PostgreSQL (the postmaster's live
# children plus those it has reaped), and the load generators (the reaped children of the
# bench script: wrk, pgbench). bench.sh takes the difference around each run.
#   cpu.pl HTTPD_PID POSTMASTER_PID BENCH_PID   ->  "httpd_ms pg_ms client_ms"
use strict;
use warnings;
use POSIX ();

my ($httpd, $pm, $bench) = @ARGV;
my $hz = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

# utime, stime, cutime, cstime of a process (fields 14-17 of /proc/PID/stat)
sub times_of {
    open my $f, '<', "/proc/$_[0]/stat" or return (0, 0, 0, 0);
    my $s = <$f>;
    close $f;
    return (0, 0, 0, 0) unless defined $s; # it has just exited
    $s =~ s/^.*\) //;
    my @f = split ' ', $s;
    return @f[11 .. 14];
}
sub children {
    my $parent = shift;
    opendir my $d, '/proc' or return ();
    my @kids;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $f, '<', "/proc/$p/stat" or next;
        my $s = <$f>;
        close $f;
        push @kids, $p if defined $s && $s =~ /\) \S+ (\d+)/ && $1 == $parent;
    }
    return @kids;
}

my ($h, $p) = (0, 0);
for (children($httpd)) { my @t = times_of($_); $h += $t[0] + $t[1]; }
for (children($pm)) { my @t = times_of($_); $p += $t[0] + $t[1]; }
my @m = times_of($pm);
$p += $m[0] + $m[1] + $m[2] + $m[3];
my @b = times_of($bench);
printf "%.0f %.0f %.0f\n", map { $_ * 1000 / $hz } $h, $p, $b[2] + $b[3];
