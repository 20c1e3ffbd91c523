package Cluster;
# Helpers of the cluster tests (t/cluster/*.t) against the cluster of build/cluster.sh, which
# t/cluster/run.sh starts: its ports from var/cluster/env, requests to the load balancer or to
# one node, psql on either database, and a load of forked workers that book and send messages
# through HAProxy, logging every answer, with the check that each acknowledged write is there.
use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use HTTP::Tiny ();
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
    %PORT $ROOT cluster_sh lb node api is_json_error psql primary practice
    load_start load_stop acked_writes missing_writes lsn_num lb_status wait_for
);

our $ROOT = $ENV{DP_ROOT} // die "DP_ROOT not set (run t/cluster/run.sh)\n";
our $DIR  = $ENV{DP_CLUSTER_DIR} // die "DP_CLUSTER_DIR not set (run t/cluster/run.sh)\n";
our %PORT;
{
    open my $fh, '<', "$DIR/env" or die "$DIR/env: $!\n";
    while (<$fh>) { $PORT{$1} = $2 if /^(\w+)=(.*)$/ }
}
my $JSON = JSON::PP->new->utf8->canonical;
# a request that takes longer than this counts as a hang
use constant TIMEOUT => 30;
my $PASSWORD = 'cluster-Pass-1234';

sub lb   { "http://127.0.0.1:$PORT{LB_PORT}" }
sub node { my ($n) = @_; "http://127.0.0.1:" . $PORT{"NODE${n}_PORT"} }

# cluster_sh(ARGS) -> exit status of build/cluster.sh ARGS (its output goes to the test's)
sub cluster_sh { system('bash', "$ROOT/build/cluster.sh", @_) >> 8 }

# api($base, $method, $path, token => T, json => {...}, ua => U) -> {s, d (decoded JSON or
# undef), json (Content-Type JSON), t (seconds), e (transport error, s = 0)}
sub api {
    my ($base, $method, $path, %o) = @_;
    my $ua = $o{ua} // HTTP::Tiny->new(timeout => TIMEOUT, keep_alive => 0);
    my %h = ('Content-Type' => 'application/json');
    $h{Authorization} = "Bearer $o{token}" if $o{token};
    my $t0 = time;
    my $r = $ua->request($method, "$base$path",
                         { headers => \%h, (defined $o{json} ? (content => $JSON->encode($o{json})) : ()) });
    my %a = (s => $r->{status}, t => time - $t0);
    if ($r->{status} == 599) {
        $a{s} = 0;
        ($a{e}) = split /\n/, $r->{content} // '';
        return \%a;
    }
    $a{json} = ($r->{headers}{'content-type'} // '') =~ m{^application/json\b}i ? 1 : 0;
    $a{d} = eval { $JSON->decode($r->{content}) } if length($r->{content} // '');
    return \%a;
}

# is_json_error($answer) -> true when it is a JSON {"detail","code"}
sub is_json_error {
    my ($a) = @_;
    my $d = $a->{d};
    return $a->{json} && ref $d eq 'HASH' && defined $d->{code} && !ref $d->{code}
        && defined $d->{detail} && !ref $d->{detail} && $d->{detail} =~ /\S/;
}

# lb_status() -> {node1 => 'UP'|'DOWN'|..., node2 => ...}: HAProxy's view (its admin socket)
sub lb_status {
    require IO::Socket::UNIX;
    my $s = IO::Socket::UNIX->new(Peer => "$DIR/lb/admin.sock") or return {};
    print $s "show stat\n";
    my @lines = <$s>;
    close $s;
    my $head = shift(@lines) // return {};
    $head =~ s/^# //;
    my @f = split /,/, $head;
    my ($sv) = grep { $f[$_] eq 'svname' } 0 .. $#f;
    my ($st) = grep { $f[$_] eq 'status' } 0 .. $#f;
    my %status;
    for (@lines) {
        my @v = split /,/;
        $status{ $v[$sv] } = $v[$st] if @v > $st && $v[$sv] =~ /^node\d$/;
    }
    return \%status;
}

# wait_for($seconds, sub { ... }) -> the sub's first true value, or undef after $seconds
sub wait_for {
    my ($secs, $cond) = @_;
    my $end = time + $secs;
    while (time < $end) {
        my $v = $cond->();
        return $v if $v;
        sleep 0.2;
    }
    return undef;
}

# psql($n, $sql) -> its rows (psql -At) on database n as superuser, or undef if it failed
sub psql {
    my ($n, $sql) = @_;
    local $ENV{DP_VAR} = "$DIR/db$n";
    open my $ph, '-|', 'bash', "$ROOT/build/pg.sh", 'psql', '-At', '-c', $sql or return undef;
    my $out = do { local $/; <$ph> };
    close $ph or return undef;
    chomp $out;
    return $out;
}

# primary() -> 1 or 2: the database that takes writes (undef if none does)
sub primary {
    for my $n (1, 2) {
        my $r = psql($n, 'SELECT pg_is_in_recovery()') // next;
        return $n if $r eq 'f';
    }
    return undef;
}

# lsn_num('0/3023488') -> a number that orders WAL positions
sub lsn_num {
    my ($l) = @_;
    return undef unless defined $l && $l =~ m{^([0-9A-F]+)/([0-9A-F]+)$}i;
    return hex($1) * 4294967296 + hex($2);
}

# practice(clients => N) -> {ptok, provider, clients => [{token, user, email}]}: a provider in
# UTC working 06:00-22:00 every day, and N clients of it, all registered through the balancer.
sub practice {
    my (%o) = @_;
    my $tag = sprintf('%d-%d', time, $$);
    my $r = api(lb(), POST => '/api/auth/register',
                json => { email => "prov-$tag\@cluster.test", password => $PASSWORD,
                          name => 'Dr Cluster', userType => 'provider', timeZone => 'UTC' });
    die "practice: register answered $r->{s}\n" unless $r->{s} == 201;
    my %p = (ptok => $r->{d}{token}, provider => $r->{d}{user}, clients => []);
    my %week = (slotDuration => 30, map { $_ => { enabled => JSON::PP::true, startTime => '06:00',
                                                  endTime => '22:00' } }
                qw(monday tuesday wednesday thursday friday saturday sunday));
    $r = api(lb(), PUT => '/api/provider/working-hours', token => $p{ptok}, json => \%week);
    die "practice: working hours answered $r->{s}\n" unless $r->{s} == 200;
    for my $n (1 .. ($o{clients} // 4)) {
        my $email = "client$n-$tag\@cluster.test";
        $r = api(lb(), POST => '/api/auth/register',
                 json => { email => $email, password => $PASSWORD, name => "Client $n",
                           userType => 'client', providerId => $p{provider}{id} });
        die "practice: client register answered $r->{s}\n" unless $r->{s} == 201;
        push @{ $p{clients} }, { token => $r->{d}{token}, user => $r->{d}{user}, email => $email };
    }
    return \%p;
}
sub password { $PASSWORD }

# ---- the load --------------------------------------------------------------------------------

# load_start($practice, workers => N, base => URL) -> a run: N forked workers, each a client of
# the practice, loop until load_stop: book a slot no other worker books (its own days), send the
# provider a message, read its messages. Every answer is one JSON line in the worker's file:
#   {w, i, k (book|message|read), s (status, 0: no HTTP answer), e, id, err (a JSON error),
#    t0, t1 (epoch seconds before sending and after the answer)}
sub load_start {
    my ($pr, %o) = @_;
    my $n = $o{workers} // 4;
    my $dir = tempdir(CLEANUP => 1);
    my %run = (dir => $dir, pids => [], workers => $n);
    for my $w (0 .. $n - 1) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $ok = eval { _worker($pr, $w, "$dir/w$w.jsonl", "$dir/stop", %o); 1 };
            warn $@ unless $ok;
            POSIX::_exit($ok ? 0 : 1);
        }
        push @{ $run{pids} }, $pid;
    }
    return \%run;
}

sub _worker {
    my ($pr, $w, $file, $stop, %o) = @_;
    my $ua = HTTP::Tiny->new(timeout => TIMEOUT, keep_alive => 0);
    my $base = $o{base} // lb();
    my $cl = $pr->{clients}[$w % @{ $pr->{clients} }];
    open my $log, '>>', $file or die "$file: $!";
    # 32 slots a day; each worker books on its own days, starting tomorrow
    my $first = int(time / 86400) + 1 + $w * 100 + ($o{day_offset} // 0);
    for (my $i = 0; !-e $stop && $i < 3200; $i++) {
        my @d = gmtime(($first + int($i / 32)) * 86400);
        my $min = 6 * 60 + ($i % 32) * 30;
        my $date = sprintf('%04d-%02d-%02d', $d[5] + 1900, $d[4] + 1, $d[3]);
        my $hm = sprintf('%02d:%02d', int($min / 60), $min % 60);
        my @calls = (
            [book => POST => '/api/client/appointments', { date => $date, time => $hm, duration => 30 }],
            [message => POST => '/api/messages',
             { receiverId => $pr->{provider}{id}, message => "cluster w$w i$i" }],
            [read => GET => '/api/messages?limit=5'],
        );
        for my $c (@calls) {
            my ($k, $method, $path, $body) = @$c;
            my $t0 = time;
            my $a = api($base, $method, $path, token => $cl->{token}, json => $body, ua => $ua);
            my %rec = (w => $w, i => $i, k => $k, s => $a->{s}, t0 => $t0, t1 => time);
            $rec{e} = $a->{e} if $a->{e};
            $rec{id} = $a->{d}{id} if ref $a->{d} eq 'HASH' && $a->{s} == 201;
            $rec{err} = is_json_error($a) ? 1 : 0 if $a->{s} >= 400;
            syswrite $log, $JSON->encode(\%rec) . "\n";
            last if -e $stop;
        }
        sleep($o{pause}) if $o{pause};
    }
    close $log;
}

# load_stop($run) -> every record of the run, in order of t0
sub load_stop {
    my ($run) = @_;
    open my $fh, '>', "$run->{dir}/stop" or die $!;
    close $fh;
    waitpid $_, 0 for @{ $run->{pids} };
    my @recs;
    for my $w (0 .. $run->{workers} - 1) {
        open my $in, '<', "$run->{dir}/w$w.jsonl" or next;
        push @recs, map { $JSON->decode($_) } <$in>;
    }
    return [ sort { $a->{t0} <=> $b->{t0} } @recs ];
}

# acked_writes($records) -> the acknowledged writes: {k, id, t1}
sub acked_writes {
    my ($recs) = @_;
    return [ grep { $_->{k} ne 'read' && $_->{s} == 201 && defined $_->{id} } @$recs ];
}

# missing_writes($db, $writes) -> the writes whose row database n does not have
sub missing_writes {
    my ($n, $writes) = @_;
    my %table = (book => 'appointments', message => 'messages');
    my @missing;
    for my $k (keys %table) {
        my @ids = map { $_->{id} } grep { $_->{k} eq $k } @$writes;
        next unless @ids;
        my %have;
        while (my @chunk = splice(@ids, 0, 500)) {
            my $list = join(',', map { "'$_'" } grep { /^[0-9a-f-]{36}$/ } @chunk);
            my $rows = psql($n, "SELECT id FROM $table{$k} WHERE id IN ($list)");
            die "missing_writes: psql on db$n failed\n" unless defined $rows;
            $have{$_} = 1 for split /\n/, $rows;
        }
        push @missing, grep { $_->{k} eq $k && !$have{ $_->{id} } } @$writes;
    }
    return \@missing;
}

1;
