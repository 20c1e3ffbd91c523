#!/usr/bin/perl
# The table and the JSON of `make bench`, from the runs' JSON lines.
#   report.pl RESULTS.jsonl ENDPOINTS.tsv RSS.before RSS.after OUT.json   (BENCH_META: run facts)
# Per endpoint and round: the API's req/s against the lower of its HTTP and database ceilings
# measured in that same round; the ratio reported is the median of the rounds' ratios, the
# other figures the medians of the rounds. Login: 32 logins share the cores, so they finish in
# waves and a fixed window cuts one off; its rate is completions / (last completion - first
# request) (wrk.lua, BENCH_TIMED), compared with the bcrypt ceiling, which is timed the same
# way (its threads finish the hash they started).
# The reads against the baseline (kind "base", the same requests to an earlier commit's module
# in the same rounds): per round the module's figure over the baseline's, the median of the
# rounds. Commits per request: the application database's xact_commit over the run (bench.sh),
# over the run's requests.
use strict;
use warnings;
use JSON::PP;

my ($results, $eptsv, $rss_b, $rss_a, $out) = @ARGV;
die "usage: $0 RESULTS ENDPOINTS RSS_BEFORE RSS_AFTER OUT\n" unless defined $out;
my $json = JSON::PP->new->canonical->pretty;
my $meta = decode_json($ENV{BENCH_META} // '{}');
my $conns = $meta->{connections} // 32;
$meta->{baseline} = decode_json($ENV{BENCH_BASELINE_META} // '{"status":"none"}');

my (@order, %ep);
open my $t, '<', $eptsv or die "$eptsv: $!\n";
while (<$t>) {
    chomp;
    my @f = split /\t/;
    if ($f[1] eq 'error') { $ep{$f[0]}{db_script_error} = $f[2]; next; }
    push @order, $f[0];
    $ep{$f[0]} = {request => $f[1], answer_bytes => $f[2] + 0,
                  statements_spec => $f[3], statements_seen => $f[4]};
}
close $t;

my %runs; # ep => kind => round => record
open my $r, '<', $results or die "$results: $!\n";
while (<$r>) {
    my $j = decode_json($_);
    push @{$runs{$j->{endpoint}}{$j->{kind}}}, $j;
}
close $r;

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}
sub by_round { my ($ep, $kind) = @_; return { map { $_->{round} => $_ } @{$runs{$ep}{$kind} // []} }; }

my @targets;
sub target {
    my ($what, $value, $op, $limit, $fmt) = @_;
    my $ok = defined $value && ($op eq '>=' ? $value >= $limit : $op eq '<=' ? $value <= $limit : $value < $limit);
    push @targets, {target => $what, value => $value, limit => "$op $limit", met => $ok ? JSON::PP::true : JSON::PP::false,
                    text => sprintf("%-66s %s (%s %s)", $what,
                                    defined $value ? sprintf($fmt, $value) : 'n/a', $op,
                                    sprintf($fmt, $limit))};
}

my %report;
for my $e (@order) {
    my ($app, $http, $db, $bc, $low) = map { by_round($e, $_) } qw(app http db bcrypt low);
    my (@ratios, @rps);
    my $errors = 0;
    for my $round (sort { $a <=> $b } keys %$app) {
        my $one = $app->{$round};
        $errors += $one->{errors}{$_} for keys %{$one->{errors}};
        my $rate = $e eq 'login' ? ($one->{timed_rps} // 0) : $one->{rps};
        push @rps, $rate;
        my @ceil = grep { defined && $_ > 0 } 
            $e eq 'login' ? ($bc->{$round} ? $bc->{$round}{rps} : undef)
                          : (map { $_->{$round} ? $_->{$round}{rps} : undef } $http, $db);
        my $lower = @ceil ? (sort { $a <=> $b } @ceil)[0] : undef;
        push @ratios, $lower ? $rate / $lower : undef;
    }
    my $x = $ep{$e};
    $x->{rps} = median(@rps);
    $x->{rps_raw} = median(map { $_->{rps} } values %$app) if $e eq 'login';
    $x->{p50_us} = median(map { $_->{p50_us} } values %$app);
    $x->{p99_us} = median(map { $_->{p99_us} } values %$app);
    $x->{http_ceiling_rps} = median(map { $_->{rps} } values %$http);
    $x->{http_ceiling_p99_us} = median(map { $_->{p99_us} } values %$http);
    if (%$low) {
        $x->{low_connections_p50_us} = median(map { $_->{p50_us} } values %$low);
        $x->{low_connections_p99_us} = median(map { $_->{p99_us} } values %$low);
        $x->{low_connections_rps} = median(map { $_->{rps} } values %$low);
    }
    $x->{db_ceiling_rps} = median(map { $_->{rps} } values %$db);
    $x->{bcrypt_ceiling_rps} = median(map { $_->{rps} } values %$bc) if $e eq 'login';
    $x->{ratio} = median(@ratios);
    # CPU per request (ms) by process kind, medians of the rounds; the ratio they imply when
    # every run is CPU-bound on the same cores: lower ceiling's CPU per request over the API's
    my $dbrate = by_round($e, 'dbrate');
    $x->{db_at_api_rate_rps} = median(map { $_->{rps} } values %$dbrate) if %$dbrate;
    for my $k (['app', $app], ['http', $http], ['db', $db], ['dbrate', $dbrate]) {
        my @r = grep { $_->{cpu_ms} } values %{$k->[1]};
        next unless @r;
        my %c = map { my $w = $_; $w => median(map { $_->{cpu_ms}{$w} } @r) } qw(httpd pg client);
        $c{total} = $c{httpd} + $c{pg} + $c{client};
        $x->{cpu_ms}{$k->[0]} = \%c;
    }
    if ($x->{cpu_ms}{app} && $x->{cpu_ms}{http} && $x->{cpu_ms}{db} && $x->{cpu_ms}{app}{total} > 0) {
        my ($h, $d) = ($x->{cpu_ms}{http}{total}, $x->{cpu_ms}{db}{total});
        $x->{ratio_by_cpu} = ($h > $d ? $h : $d) / $x->{cpu_ms}{app}{total};
    }
    # The same comparison with the database work costed at the API's rate (PostgreSQL spends
    # more per transaction at a lower rate): the static file's CPU per request plus that of the
    # endpoint's statements at the API's rate, over the API's. 100% would be an API that adds
    # nothing to serving a file and running its statements at that rate.
    if ($x->{cpu_ms}{app} && $x->{cpu_ms}{http} && $x->{cpu_ms}{dbrate} && $x->{cpu_ms}{app}{total} > 0) {
        $x->{ratio_by_cpu_at_rate} = ($x->{cpu_ms}{http}{total} + $x->{cpu_ms}{dbrate}{total})
                                   / $x->{cpu_ms}{app}{total};
    }
    # Both ceilings are measured alone; the API needs the HTTP work and the database work on
    # the same cores, so with both CPU-bound it cannot beat 1 / (1/HTTP + 1/DB).
    if ($x->{http_ceiling_rps} && $x->{db_ceiling_rps}) {
        $x->{shared_bound_rps} = 1 / (1 / $x->{http_ceiling_rps} + 1 / $x->{db_ceiling_rps});
        $x->{ratio_shared_bound} = $x->{rps} / $x->{shared_bound_rps};
    }
    # commits per request; p99 over the static file's of the same round
    # Net of the background: what the module's threads commit when no request comes (measured
    # before the rounds, per second) times the counted window; the audit sealer's batches of
    # the run's own events stay in. Transaction ids taken: the transactions that wrote (a
    # read-only one takes none).
    my $net = sub { my ($j, $what, $bg) = @_;
                    return undef unless defined $j->{$what} && $j->{requests};
                    return ($j->{$what} - ($meta->{$bg} // 0) * ($j->{commits_window_s} // 0)) / $j->{requests} };
    my $per_req = sub { $net->($_[0], 'commits', 'background_commits_per_s') };
    my $xids_req = sub { $net->($_[0], 'xids', 'background_xids_per_s') };
    $x->{commits_per_request} = median(map { $per_req->($_) } values %$app);
    $x->{commits_per_request_gross} = median(map { defined $_->{commits} && $_->{requests} ? $_->{commits} / $_->{requests} : undef } values %$app);
    $x->{xids_per_request} = median(map { $xids_req->($_) } values %$app);
    $x->{p99_over_static} = median(map { $http->{$_} && $http->{$_}{p99_us} ? $app->{$_}{p99_us} / $http->{$_}{p99_us} : undef }
                                   keys %$app) if %$http;
    # the baseline: its medians, and per round the module's figure over the baseline's
    my $base = by_round($e, 'base');
    if (%$base) {
        my @r = grep { $_->{cpu_ms} } values %$base;
        my %bx = (rps => median(map { $_->{rps} } values %$base),
                  p50_us => median(map { $_->{p50_us} } values %$base),
                  p99_us => median(map { $_->{p99_us} } values %$base),
                  commits_per_request => median(map { $per_req->($_) } values %$base),
                  xids_per_request => median(map { $xids_req->($_) } values %$base),
                  cpu_ms => {map { my $w = $_; $w => median(map { $_->{cpu_ms}{$w} } @r) } qw(httpd pg client)});
        $bx{errors} = 0;
        for my $one (values %$base) { $bx{errors} += $one->{errors}{$_} for keys %{$one->{errors}} }
        $x->{baseline} = \%bx;
        my $ratio = sub { my ($f) = @_; median(map { my ($n, $b) = ($f->($app->{$_}), $f->($base->{$_}));
                                                     defined $n && $b ? $n / $b : undef } grep { $base->{$_} } keys %$app) };
        $x->{vs_baseline} = {rps => $ratio->(sub { $_[0]{rps} }),
                             pg_cpu => $ratio->(sub { $_[0]{cpu_ms} ? $_[0]{cpu_ms}{pg} : undef }),
                             commits_per_request => $ratio->($per_req)};
    }
    $x->{errors} = $errors;
    $x->{rounds} = {map { $_ => [sort { $a->{round} <=> $b->{round} } @{$runs{$e}{$_}}] }
                    grep { !/^(warmup|base_warmup|soak|low)$/ } keys %{$runs{$e} // {}}};
    $x->{statements_match} = ($x->{statements_spec} // '') eq ($x->{statements_seen} // '')
        ? JSON::PP::true : JSON::PP::false;
    $report{$e} = $x;
}

sub rss {
    my $f = shift;
    my %m;
    open my $h, '<', $f or return {};
    while (<$h>) { my ($pid, $kib) = split; $m{$pid} = $kib + 0; }
    return \%m;
}
my ($rb, $ra) = (rss($rss_b), rss($rss_a));
my ($sb, $sa) = (0, 0);
$sb += $_ for values %$rb;
$sa += $_ for values %$ra;
my $same = join(',', sort keys %$rb) eq join(',', sort keys %$ra);
# API requests between the two readings (bench.sh counts them)
my $soak = $meta->{mem_requests_between} // 0;
my $memory = {before_kib => $rb, after_kib => $ra, sum_before_kib => $sb, sum_after_kib => $sa,
              growth_pct => $sb ? 100 * ($sa - $sb) / $sb : undef,
              same_children => $same ? JSON::PP::true : JSON::PP::false,
              api_requests_between => $soak};

# ---- the table
sub ms { defined $_[0] ? sprintf('%.2f', $_[0] / 1000) : '-' }
sub n { defined $_[0] ? sprintf('%.0f', $_[0]) : '-' }
my $line = '-' x 120;
printf "\n%-34s %8s %7s %7s %9s %8s %8s %9s %9s\n", 'endpoint (' . ($meta->{connections} // 32) . ' connections)',
    'req/s', 'p50 ms', 'p99 ms', 'HTTP ceil', '(p99 ms)', 'DB ceil', 'ratio to', 'to H+D';
printf "%-34s %8s %7s %7s %9s %8s %8s %9s %9s\n", '', '', '', '', '', '', '', 'lower', 'bound';
print "$line\n";
for my $e (@order) {
    my $x = $report{$e};
    my $ratio = defined $x->{ratio} ? sprintf('%.0f%%', 100 * $x->{ratio}) : 'n/a';
    if ($e eq 'login') {
        printf "%-34s %8.1f %7s %7s %9s %8s %8s %9s %9s\n", $x->{request}, $x->{rps} // 0,
            ms($x->{p50_us}), ms($x->{p99_us}), '-', '', n($x->{db_ceiling_rps}),
            "$ratio", 'of bcrypt';
        printf "%-34s %8s\n", "  bcrypt ceiling (cost $meta->{bcrypt_cost}, $conns threads)",
            sprintf('%.1f', $x->{bcrypt_ceiling_rps} // 0);
        next;
    }
    printf "%-34s %8s %7s %7s %9s %8s %8s %9s %9s\n", $x->{request}, n($x->{rps}), ms($x->{p50_us}),
        ms($x->{p99_us}), n($x->{http_ceiling_rps}), ms($x->{http_ceiling_p99_us}),
        n($x->{db_ceiling_rps}), $ratio,
        defined $x->{ratio_shared_bound} ? sprintf('%.0f%%', 100 * $x->{ratio_shared_bound}) : '-';
}
print "$line\n";
for my $e (@order) {
    my $x = $report{$e};
    next unless defined $x->{low_connections_p99_us};
    printf "%-34s at %d connections: %s req/s, p50 %s ms, p99 %s ms\n", $x->{request},
        $meta->{low_connections} // 4, n($x->{low_connections_rps}),
        ms($x->{low_connections_p50_us}), ms($x->{low_connections_p99_us});
}
printf "\n%-34s %-21s %-21s %-21s %6s %-28s %9s\n", 'CPU ms per request', 'API', 'static file', 'pgbench',
    'ratio', "pgbench at the API's rate", 'static +';
printf "%-34s %-21s %-21s %-21s %6s %-28s %9s\n", '(httpd + PostgreSQL + wrk/pgbench)', '', '', '', 'by CPU',
    '(its req/s)', 'at rate';
for my $e (@order) {
    my $x = $report{$e};
    # a login's CPU is mostly in flight at the end of a run: its rate says more
    next unless $x->{cpu_ms}{app} && $e ne 'login';
    my $f = sub { my $c = $x->{cpu_ms}{$_[0]} or return '-';
                  sprintf('%.2f+%.2f+%.2f=%.2f', @$c{qw(httpd pg client total)}) };
    printf "%-34s %-21s %-21s %-21s %6s %-28s %9s\n", $x->{request}, $f->('app'), $f->('http'), $f->('db'),
        defined $x->{ratio_by_cpu} ? sprintf('%.0f%%', 100 * $x->{ratio_by_cpu}) : '-',
        $x->{cpu_ms}{dbrate} ? sprintf('%s (%.0f)', $f->('dbrate'), $x->{db_at_api_rate_rps}) : '-',
        defined $x->{ratio_by_cpu_at_rate} ? sprintf('%.0f%%', 100 * $x->{ratio_by_cpu_at_rate}) : '-';
}
my $bl = $meta->{baseline};
my $bl_ran = grep { $report{$_}{baseline} } @order;
if (!$bl_ran && ($bl->{status} // 'none') ne 'none') {
    print "\nbaseline $bl->{requested}: $bl->{status}; left out\n";
}
if (grep { defined $report{$_}{commits_per_request} } @order) {
    printf "\n%-34s %15s %5s %17s %5s %17s %17s %7s\n",
        $bl_ran ? "against the baseline $bl->{short}" : 'database work (no baseline)',
        'req/s', 'x', 'PG CPU ms/req', 'x', 'commits/request', 'writing tx/req', 'p99 /';
    printf "%-34s %15s %5s %17s %5s %17s %17s %7s\n", $bl_ran ? '(this module / baseline)' : '', '', '', '', '', '', '', 'static';
    for my $e (@order) {
        my $x = $report{$e};
        next unless defined $x->{commits_per_request};
        my ($b, $v) = ($x->{baseline} // {}, $x->{vs_baseline} // {});
        my $two = sub { my ($fmt, $p, $q) = @_; join(' / ', map { defined $_ ? sprintf($fmt, $_) : '-' } $p, $q) };
        my $times = sub { defined $_[0] ? sprintf('%.2f', $_[0]) : '-' };
        printf "%-34s %15s %5s %17s %5s %17s %17s %7s\n", $x->{request},
            $two->('%.0f', $x->{rps}, $b->{rps}), $times->($v->{rps}),
            $two->('%.3f', $x->{cpu_ms}{app} ? $x->{cpu_ms}{app}{pg} : undef, $b->{cpu_ms} ? $b->{cpu_ms}{pg} : undef),
            $times->($v->{pg_cpu}),
            $two->('%.3f', $x->{commits_per_request}, $b->{commits_per_request}),
            $two->('%.3f', $x->{xids_per_request}, $b->{xids_per_request}), $times->($x->{p99_over_static});
    }
}
printf "httpd children RSS (KiB) after the warm-up: %s = %d; after %d more API requests: %s = %d; growth %s%s\n",
    join(' + ', map { $rb->{$_} } sort keys %$rb), $sb, $soak,
    join(' + ', map { $ra->{$_} } sort keys %$ra), $sa,
    defined $memory->{growth_pct} ? sprintf('%+.2f%%', $memory->{growth_pct}) : 'n/a',
    $same ? '' : ' (the children changed!)';
for my $e (@order) {
    my $x = $report{$e};
    print "errors in $e runs: $x->{errors}\n" if $x->{errors};
    print "$e: no database ceiling: $x->{db_script_error}\n" if $x->{db_script_error};
    unless ($x->{statements_match}) {
        print "$e: statements differ from build/bench/endpoints.spec (update it):\n"
            . "    spec: $x->{statements_spec}\n    seen: $x->{statements_seen}\n";
    }
}

# ---- targets
for my $e (qw(me appointments conversation)) {
    next unless $report{$e};
    target("$report{$e}{request}: >= 70% of lower ceiling", $report{$e}{ratio}, '>=', 0.70, '%.2f');
    target("$report{$e}{request}: p99 < 10 ms", $report{$e}{p99_us} / 1000, '<', 10, '%.2f ms');
}
# less database work per read: fewer commits (audit events group-committed), a cheaper token
# check; measured against the baseline where there is one
for my $e (qw(me appointments conversation)) {
    my $x = $report{$e} or next;
    target("$x->{request}: p99 < 2x the static file's", $x->{p99_over_static}, '<', 2, '%.2fx');
    # the commits that flush the WAL: a read's own statement is a read-only transaction, which
    # pg_stat_database counts as a commit too (so at least 1 a read) but which writes nothing
    target("$x->{request}: writing commits per request <= 0.25", $x->{xids_per_request}, '<=', 0.25, '%.3f');
    next if ($bl->{status} // 'none') eq 'none';
    target("$x->{request}: PostgreSQL CPU <= 0.5x baseline's", $x->{vs_baseline}{pg_cpu}, '<=', 0.5, '%.2fx');
    target("$x->{request}: req/s >= 1.5x baseline's", $x->{vs_baseline}{rps}, '>=', 1.5, '%.2fx');
}
target("POST /api/messages: >= 60% of lower ceiling", $report{message_send}{ratio}, '>=', 0.60, '%.2f')
    if $report{message_send};
target("POST /api/auth/login: >= 90% of bcrypt ceiling", $report{login}{ratio}, '>=', 0.90, '%.2f')
    if $report{login};
target("httpd children memory growth < 5%", $memory->{growth_pct}, '<', 5, '%.2f%%');
print "\ntargets:\n";
printf "  %-6s %s\n", $_->{met} ? 'met' : 'MISSED', $_->{text} for @targets;
printf "\n%s, commit %s%s, %d cores, load %s before / %s after; %d s x %d rounds, TLS\n",
    $meta->{date} // '?', $meta->{commit} // '?', $meta->{dirty} ? ' (with local changes)' : '',
    $meta->{cores} // 0, $meta->{load_before} // '?', $meta->{load_after} // '?',
    $meta->{duration_s} // 0, $meta->{rounds} // 0;

open my $o, '>', $out or die "$out: $!\n";
print $o $json->encode({meta => $meta, endpoints => \%report, order => \@order,
                        memory => $memory, targets => \@targets});
close $o;
