package DocPortal::Race;
# Concurrent requests: race() sends several at the same moment, one process and one
# connection each.
use strict;
use warnings;

use Exporter 'import';
use Apache::TestRequest ();
use DocPortal::Http qw(tls_connect dechunk $JSON);

our @EXPORT = qw(race);

# race(@specs): sends every request at about the same time, each from its own process over its
# own connection. A spec is {method, path, token, json}. All children connect first, then wait
# on one pipe; closing it releases them together. Returns one hashref per spec, in order:
# {status, body (decoded or undef), raw, request_id}.
sub race {
    my (@specs) = @_;
    require POSIX;
    my $hostport = Apache::TestRequest::hostport();
    my ($host, $port) = split /:/, $hostport;
    $host = '127.0.0.1' if $host eq 'localhost';
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    pipe(my $ready_r, my $ready_w) or die "pipe: $!";
    my @kids;
    for my $s (@specs) {
        pipe(my $res_r, my $res_w) or die "pipe: $!";
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            close $go_w;
            close $ready_r;
            close $res_r;
            my $body = exists $s->{json}
                ? (ref $s->{json} ? $JSON->encode($s->{json}) : $s->{json}) : undef;
            my $req = "$s->{method} $s->{path} HTTP/1.1\r\nHost: $hostport\r\nConnection: close\r\n";
            $req .= "Authorization: Bearer $s->{token}\r\n" if defined $s->{token};
            if (defined $body) {
                $req .= "Content-Type: application/json\r\nContent-Length: " . length($body)
                      . "\r\n\r\n$body";
            }
            else {
                $req .= "Content-Length: 0\r\n\r\n";
            }
            my $sock = tls_connect($host, $port);
            syswrite $ready_w, '.';
            close $ready_w;
            my $resp = '';
            if ($sock) {
                my $x;
                sysread $go_r, $x, 1;    # EOF when the parent releases everyone
                local $SIG{PIPE} = 'IGNORE';
                my $off = 0;
                while ($off < length $req) {
                    my $n = syswrite $sock, $req, length($req) - $off, $off;
                    last unless defined $n && $n > 0;
                    $off += $n;
                }
                while (1) {
                    my $n = sysread $sock, my $buf, 65536;
                    last unless $n;
                    $resp .= $buf;
                }
                close $sock;
            }
            print {$res_w} $resp;
            close $res_w;
            POSIX::_exit(0);
        }
        close $res_w;
        push @kids, [$pid, $res_r];
    }
    close $go_r;
    close $ready_w;
    # wait until every child has connected (or failed to)
    my $got = 0;
    while ($got < @specs) {
        my $n = sysread $ready_r, my $buf, 64;
        last unless $n;
        $got += $n;
    }
    close $ready_r;
    close $go_w;    # go
    my @out;
    for my $k (@kids) {
        my ($pid, $fh) = @$k;
        my $raw = do { local $/; <$fh> } // '';
        close $fh;
        waitpid $pid, 0;
        my ($status, $rid, $body) = (0, undef, undef);
        if ($raw =~ /^HTTP\/\d\.\d (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n(.*)$/s) {
            $status = $1;
            my ($h, $b) = ($2, $3);
            $rid = $1 if $h =~ /^X-Request-Id:\s*(\S+)/mi;
            $b = dechunk($b) if $h =~ /^Transfer-Encoding:\s*chunked/mi;
            $body = eval { $JSON->decode($b) };
        }
        push @out, { status => $status, body => $body, raw => $raw, request_id => $rid };
    }
    return @out;
}

1;
