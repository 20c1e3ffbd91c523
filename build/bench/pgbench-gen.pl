#!/usr/bin/perl
# The database ceilings of `make bench`: one pgbench script per endpoint of endpoints.spec,
# with each statement's text taken by name from sql/statements.sql (parsed as
# build/gen-statements.sh does) and its %s placeholders replaced by the spec's arguments.
#   pgbench-gen.pl SPEC STATEMENTS VARS OUTDIR
# VARS: name=value lines (the seeded ids). Writes for every endpoint NAME:
#   OUTDIR/NAME.sql    the pgbench script (run with -M prepared)
#   OUTDIR/NAME.args   pgbench arguments, one per line (-Dname=value)
#   OUTDIR/NAME.names  the statement names in order, space-separated
# or OUTDIR/NAME.error with the reason the script could not be made (the run goes on).
use strict;
use warnings;

my ($spec, $stmts, $varsfile, $out) = @ARGV;
die "usage: $0 SPEC STATEMENTS VARS OUTDIR\n" unless defined $out;

my (%sql, $name);
open my $sf, '<', $stmts or die "$stmts: $!\n";
while (my $line = <$sf>) {
    chomp $line;
    if ($line =~ /^-- name: (\S+)/) { $name = $1; $sql{$name} = ''; next; }
    next if $line =~ /^\s*--/ || $line =~ /^\s*$/;
    $sql{$name} .= ($sql{$name} eq '' ? '' : "\n") . $line if defined $name;
}
close $sf;
s/\s*;\s*\z// for values %sql;

my %vars;
open my $vf, '<', $varsfile or die "$varsfile: $!\n";
while (<$vf>) {
    chomp;
    $vars{$1} = $2 if /^([a-z][a-z0-9_]*)=(.*)$/;
}
close $vf;

# endpoint => [ [statement, [args...]], ... ]
my (@order, %eps, $ep);
open my $pf, '<', $spec or die "$spec: $!\n";
while (my $line = <$pf>) {
    next if $line =~ /^\s*(#|$)/;
    if ($line =~ /^endpoint\s+(\S+)\s*$/) { $ep = $1; push @order, $ep; $eps{$ep} = []; next; }
    die "$spec:$.: a statement line before any 'endpoint'\n" unless defined $ep;
    $line =~ s/^\s+|\s+$//g;
    my @tok = $line =~ /('(?:[^']|'')*'|\S+)/g;
    push @{$eps{$ep}}, [shift @tok, \@tok];
}
close $pf;

sub quote_lit { my $s = shift; $s =~ s/^'|'$//g; $s =~ s/''/'/g; return $s; }

for my $e (@order) {
    my (@script, @args, @names, %used, $err);
    my $k = 0;
    for my $st (@{$eps{$e}}) {
        my ($n, $a) = @$st;
        if ($n =~ /^(BEGIN|COMMIT|ROLLBACK)$/) {
            push @script, "$n;";
            push @names, $n;
            next;
        }
        # dp_db_pair: the statements between go in one libpq pipeline with one Sync (pgbench
        # 14+); PostgreSQL's log shows them as usual, so they stay out of .names
        if ($n =~ /^(PIPELINE|SYNC)$/) {
            push @script, $n eq 'PIPELINE' ? '\\startpipeline' : '\\endpipeline';
            next;
        }
        unless (exists $sql{$n}) {
            $err = "statement $n is not in $stmts (renamed?): update $spec";
            last;
        }
        my $text = $sql{$n};
        (my $count = $text) =~ s/%%//g;
        my $want = () = $count =~ /%[a-zA-Z]/g;
        if ($want != @$a) {
            $err = sprintf("statement %s takes %d arguments now, %s gives %d: update it to "
                           . "what the handler binds", $n, $want, $spec, scalar @$a);
            last;
        }
        my $i = 0;
        $text =~ s{%(%|[a-zA-Z])}{
            if ($1 eq '%') { '%' }
            else {
                my $arg = $a->[$i++];
                if ($arg eq 'NULL') { 'NULL' }
                elsif ($arg =~ /^=(.+)$/) {
                    my $x = $1;
                    # seeded variables used inside the expression (not the casts' "::type")
                    for my $v ($x =~ /(?<!:):([a-z][a-z0-9_]*)/g) {
                        $err //= "variable :$v of $n is not seeded (bench.sh vars)" unless exists $vars{$v};
                        push @args, "-D$v=" . ($vars{$v} // '') unless $used{$v}++;
                    }
                    $x;
                }
                elsif ($arg =~ /^'/) {
                    my $v = 'k' . ++$k;
                    push @args, "-D$v=" . quote_lit($arg);
                    ":$v";
                }
                elsif ($arg =~ /^:([a-z][a-z0-9_]*)$/) {
                    my $v = $1;
                    $err //= "variable :$v of $n is not seeded (bench.sh vars)" unless exists $vars{$v};
                    push @args, "-D$v=" . ($vars{$v} // '') unless $used{$v}++;
                    ":$v";
                }
                else { $err //= "argument '$arg' of $n is not :var, 'text', NULL or =expr"; '' }
            }
        }ge;
        push @script, "-- $n\n$text;";
        push @names, $n;
    }
    unlink "$out/$e.sql", "$out/$e.args", "$out/$e.names", "$out/$e.error";
    if (defined $err) {
        open my $f, '>', "$out/$e.error" or die; print $f "$err\n"; close $f;
        print STDERR "pgbench-gen: $e: $err\n";
        next;
    }
    open my $f, '>', "$out/$e.sql" or die;
    print $f join("\n", @script), "\n";
    close $f;
    open $f, '>', "$out/$e.args" or die; print $f map { "$_\n" } @args; close $f;
    open $f, '>', "$out/$e.names" or die; print $f join(' ', @names), "\n"; close $f;
}
