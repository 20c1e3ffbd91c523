# The server loop of the local fakes in t/fakes/ (Stripe, Google, Google's certs, SMTP).
# Each fake keeps its protocol in its own file; this module listens, says "ready <port>",
# accepts, runs the fake's code on each connection and stops.
#
#   serve(name => 'smtp_fake', port => N, session => sub { my ($conn) = @_; ... },
#         forked => 1, backlog => 64, pidfile => PATH, busy => sub { my ($conn) = @_; ... },
#         quiet => qr/.../)
#
# Both kinds listen on 127.0.0.1 (SO_REUSEADDR: a restart can take the port back at once;
# port 0 picks a free one), ignore SIGPIPE, write the pid to `pidfile` (if given, atomically),
# then print "ready <port>" on stdout: whoever started the fake may connect from then on.
#
# - serial (the default): one connection at a time in this process, so the fake's state
#   (request log, mode, stored objects) is plain variables. SIGTERM ends it at once, by the
#   signal (the C unit tests check it was still serving when they stop it).
# - forked: each connection in its own child; state shared between connections lives in
#   files. SIGTERM or SIGINT closes the listener at once and passes SIGTERM on to the
#   children, which see stopping() turn true and finish what they are doing; after 5 s the
#   ones left are killed, the pidfile (if it still names this process) removed, exit 0.
#   `busy` answers a connection no child could be forked for.
#
# A session that dies is reported on stderr as "name: error" (forked: "name[pid]: error"),
# unless the error matches `quiet`; the connection is closed either way.
#
#   serve_http(name => 'stripe_fake', port => N, route => \&route, json => $json, ...)
#
# The serial loop for an HTTP/1.1 fake (Connection: close, one request per connection):
# connections are read side by side (a browser opens connections it sends nothing on for a
# while, which must not hold up the others) and answered one at a time, in the order their
# requests are complete. Each request is read into {method, path, query, headers, body}
# (`query` parsed by `parse_query`, default parse_form; headers by lower-case name; a body up
# to `max_body` bytes, default 1 000 000; 10 s to send it all) and given to route, which returns
# (status, body, {type, headers => [[name, value], ...]}); a reference body is sent as JSON
# (`json`), a string as it is, with `type` (default: `type` given to serve_http, else
# "application/json; charset=UTF-8"). The test-control endpoints the fakes share come
# before the route when `control` gives their state:
#   control => { requests => sub { data }, reset => sub { ... }, modes => \%MODES,
#                mode => \$mode }
#   GET  /__requests      200 with requests->()
#   POST /__reset         reset->(), 200 {}
#   POST /__mode?mode=M   $mode = M when $MODES{M} (200 {"mode": M}), else 400
#
# Core Perl only: IO::Socket::INET, IO::Select, POSIX, Time::HiRes.
package DocPortal::FakeServer;
use strict;
use warnings;

use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(serve serve_http parse_form stopping write_atomic);

my $NAME = 'fake';
my $STOP = 0;

# true once a forked fake was asked to stop (in the listener and in its children)
sub stopping { return $STOP }

sub serve {
    my (%o) = @_;
    $NAME = $o{name} // $NAME;
    if ($o{forked}) {
        $SIG{TERM} = $SIG{INT} = sub { $STOP = 1 };
    }
    $SIG{PIPE} = 'IGNORE';
    my $port = $o{port} // 0;
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                    Proto => 'tcp', Listen => $o{backlog} // 16,
                                    ReuseAddr => 1)
        or die "$NAME: cannot listen on 127.0.0.1:$port: $!\n";
    write_atomic($o{pidfile}, "$$\n") if defined $o{pidfile};
    $| = 1;
    print 'ready ', $srv->sockport, "\n";
    return $o{loop}->($srv) if $o{loop};
    $o{forked} ? _forked($srv, %o) : _serial($srv, %o);
}

sub _serial {
    my ($srv, %o) = @_;
    while (1) {
        my $c = $srv->accept or next;
        eval { $o{session}->($c); 1 } or _report($NAME, $@, $o{quiet});
        close $c;
    }
}

sub _report {
    my ($who, $err, $quiet) = @_;
    warn "$who: $err" unless $quiet && $err =~ $quiet;
}

sub _forked {
    my ($srv, %o) = @_;
    my %kids;
    my $reap = sub { while ((my $k = waitpid(-1, WNOHANG)) > 0) { delete $kids{$k} } };
    my $sel = IO::Select->new($srv);
    until ($STOP) {
        $reap->();
        next unless $sel->can_read(0.25);
        my $c = $srv->accept or next;
        my $pid = fork;
        if (!defined $pid) {
            warn "$NAME: fork: $!\n";
            $o{busy}->($c) if $o{busy};
            close $c;
            next;
        }
        if ($pid == 0) {
            close $srv;
            $STOP = 0;
            $SIG{TERM} = $SIG{INT} = sub { $STOP = 1 };
            eval { $o{session}->($c); 1 } or _report("$NAME\[$$]", $@, $o{quiet});
            close $c;
            POSIX::_exit(0);
        }
        $kids{$pid} = 1;
        close $c;
    }

    # stopping: no more connections; sessions end at their next step
    close $srv;
    kill 'TERM', keys %kids;
    my $until = time + 5;
    while (%kids && time < $until) {
        $reap->();
        sleep 0.05 if %kids;
    }
    kill 'KILL', keys %kids;
    while (%kids) {
        my $k = waitpid(-1, 0);
        last if $k <= 0;
        delete $kids{$k};
    }
    if (defined $o{pidfile} && open my $fh, '<', $o{pidfile}) {
        my $p = <$fh> // '';
        close $fh;
        unlink $o{pidfile} if $p =~ /^\Q$$\E\b/;
    }
    exit 0;
}

# content to path through a temporary file and a rename: readers see all of it or nothing
sub write_atomic {
    my ($path, $content) = @_;
    my $tmp = "$path.tmp-$$";
    open my $fh, '>', $tmp or die "$NAME: $tmp: $!\n";
    print {$fh} $content;
    close $fh or die "$NAME: $tmp: $!\n";
    rename $tmp, $path or die "$NAME: $path: $!\n";
}

# ---- HTTP ------------------------------------------------------------------------------------

my %REASON = (200 => 'OK', 204 => 'No Content', 302 => 'Found', 400 => 'Bad Request',
              401 => 'Unauthorized', 402 => 'Payment Required', 404 => 'Not Found',
              405 => 'Method Not Allowed', 410 => 'Gone', 429 => 'Too Many Requests',
              500 => 'Internal Server Error');

sub serve_http {
    my (%o) = @_;
    my %http = (max_body => $o{max_body} // 1_000_000, parse_query => $o{parse_query}
                // \&parse_form, type => $o{type} // 'application/json; charset=UTF-8',
                json => $o{json}, route => $o{route}, control => $o{control});
    serve(name => $o{name}, port => $o{port}, loop => sub { _http_loop($_[0], \%http) });
}

sub _http_loop {
    my ($srv, $http) = @_;
    my $sel = IO::Select->new($srv);
    my %open;    # fileno => {sock, buf, since}
    my $drop = sub {
        my ($st) = @_;
        $sel->remove($st->{sock});
        delete $open{ fileno $st->{sock} };
        close $st->{sock};
    };
    while (1) {
        for my $s ($sel->can_read(1)) {
            if ($s == $srv) {
                my $c = $srv->accept or next;
                $sel->add($c);
                $open{ fileno $c } = { sock => $c, buf => '', since => time };
                next;
            }
            my $st = $open{ fileno $s };
            my $n = sysread($s, $st->{buf}, 65536, length $st->{buf});
            if (!$n) {
                $drop->($st);
                next;
            }
            my $req = eval { _parse_request(\$st->{buf}, $http) };
            if (!defined $req && $@) {
                _report($NAME, $@);
                $drop->($st);
                next;
            }
            next unless $req;    # more to come
            $sel->remove($s);
            delete $open{ fileno $s };
            if (ref $req) {
                eval { _http_answer($s, $http, $req); 1 } or _report($NAME, $@);
            }
            close $s;
        }
        for my $st (grep { time - $_->{since} > 10 } values %open) {
            _report($NAME, "timeout reading a request\n") if length $st->{buf};
            $drop->($st);
        }
    }
}

sub _http_answer {
    my ($c, $http, $req) = @_;
    my @answer = _control($req, $http->{control});
    @answer = $http->{route}->($req) unless @answer;
    _respond($c, $http, @answer);
}

# The request in a connection's bytes so far: undef while it is incomplete, 0 for one that is
# not HTTP (closed without an answer), else {method, path, query, headers, body}. Dies on a
# bad Content-Length.
sub _parse_request {
    my ($buf, $http) = @_;
    my $end = index($$buf, "\n");
    return undef if $end < 0;
    return 0 unless substr($$buf, 0, $end + 1) =~ m{^([A-Z]+) (\S+) HTTP/1\.[01]\r?\n$};
    my ($method, $target) = ($1, $2);
    return undef unless $$buf =~ /\r?\n\r?\n/;
    my $head_end = $+[0];
    my %h;
    for my $hl (split /\r?\n/, substr($$buf, $end + 1, $head_end - $end - 1)) {
        $h{lc $1} = $2 if $hl =~ /^([^:]+):\s*(.*?)\s*$/;
    }
    my $len = $h{'content-length'} // 0;
    die "bad Content-Length\n" unless $len =~ /^\d+$/ && $len <= $http->{max_body};
    return undef if length($$buf) - $head_end < $len;
    my $body = substr($$buf, $head_end, $len);
    my ($path, $query) = split /\?/, $target, 2;
    my ($q) = $http->{parse_query}->($query // '');
    return { method => $method, path => $path, query => $q, headers => \%h, body => $body };
}

sub _control {
    my ($r, $ctl) = @_;
    return () unless $ctl;
    my ($m, $p) = ($r->{method}, $r->{path});
    return (200, $ctl->{requests}->()) if $m eq 'GET' && $p eq '/__requests';
    return () unless $m eq 'POST';
    if ($p eq '/__reset') {
        $ctl->{reset}->();
        return (200, {});
    }
    if ($p eq '/__mode') {
        my $want = $r->{query}{mode} // '';
        return (400, { error => 'unknown mode' }) unless $ctl->{modes}{$want};
        ${ $ctl->{mode} } = $want;
        return (200, { mode => $want });
    }
    return ();
}

sub _respond {
    my ($c, $http, $code, $body, $extra) = @_;
    $body = $http->{json}->encode($body) if ref $body;
    $body //= '';
    $extra //= {};
    my $head = "HTTP/1.1 $code " . ($REASON{$code} // 'Status') . "\r\n"
        . 'Content-Type: ' . ($extra->{type} // $http->{type}) . "\r\n"
        . 'Content-Length: ' . length($body) . "\r\n";
    for my $h (@{ $extra->{headers} // [] }) {
        $head .= "$h->[0]: $h->[1]\r\n";
    }
    print {$c} $head, "Connection: close\r\n\r\n", $body;
}

# A form or query string to a hash (the last value of a repeated key wins); in list context
# also the keys given more than once. utf8 => 1: values (and keys) decoded from UTF-8 when
# they are UTF-8.
sub parse_form {
    my ($s, %o) = @_;
    my (%f, @dup);
    for my $pair (split /&/, $s) {
        my ($k, $v) = split /=/, $pair, 2;
        next unless defined $k && length $k;
        for ($k, $v) {
            $_ //= '';
            tr/+/ /;
            s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
            utf8::decode($_) if $o{utf8};
        }
        push @dup, $k if exists $f{$k};
        $f{$k} = $v;
    }
    return wantarray ? (\%f, \@dup) : \%f;
}

1;
