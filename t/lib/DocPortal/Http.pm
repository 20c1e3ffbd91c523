package DocPortal::Http;
# Requests to the suite's server and checks of its answers: api() (LWP, over TLS in the TLS
# pass), raw_http() over a socket, http_at()/api_at() to another httpd, the JSON error and
# success assertions, the headers every answer carries, and the formats of ids and times.
use strict;
use warnings;

use Exporter 'import';
use Apache::TestRequest ();
use HTTP::Request ();
use JSON::PP ();
use IO::Socket::INET ();
use IO::Select ();

our @EXPORT = qw(
    api json_body error_is success_is common_headers_problems raw_http dump_res
    $TLS tls_connect http_at api_at $UUID_RE $TS_RE
);
# for the other helper modules
our @EXPORT_OK = qw($JSON query_string dechunk);

our $UUID_RE = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
our $TS_RE   = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$/;

# the one JSON codec of the helpers: UTF-8, sorted keys
our $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# ---------------------------------------------------------------------------------------------
# TLS. build/test.sh runs the suite twice; with DP_TLS=1 every request of these
# helpers goes over https to the suite's TLS virtual host (t/conf/extra.conf.in), whose
# certificate (DOCPORTAL_TLS_CERT, made for localhost) is the only one trusted.

our $TLS = $ENV{DP_TLS} ? 1 : 0;
# (the vhost's port; the scheme is set per URL in api(): Apache::TestRequest's own https
# handling looks for a mod_ssl virtual host, which this suite does not use)
Apache::TestRequest::module('docportal_tls') if $TLS;

# tls_connect($host, $port) -> a connected socket: TLS (verified) in the TLS pass, else TCP
sub tls_connect {
    my ($host, $port, %opt) = @_;
    my %tcp = (PeerAddr => $host, PeerPort => $port, Proto => 'tcp', Timeout => 10);
    return IO::Socket::INET->new(%tcp) unless $opt{tls} // $TLS;
    require IO::Socket::SSL;
    return IO::Socket::SSL->new(%tcp, SSL_ca_file => $ENV{DOCPORTAL_TLS_CERT},
                                SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER(),
                                SSL_verifycn_name => 'localhost', SSL_verifycn_scheme => 'http',
                                %{ $opt{ssl} || {} });
}

# _read_nb($sock, \$buf) -> bytes appended (0: the peer closed), -1 (nothing yet: a TLS record
# that held no data), undef (error)
sub _read_nb {
    my ($sock, $buf) = @_;
    $sock->blocking(0);
    my $n = sysread($sock, my $chunk, 65536);
    my $again = !defined $n && ($!{EAGAIN} || $!{EWOULDBLOCK}
                                || ($sock->can('errstr') && ($sock->errstr // '') =~ /want read/i));
    $sock->blocking(1);
    return -1 if $again;
    $$buf .= $chunk if $n;
    return $n;
}

# readable now, counting bytes TLS has already decrypted into its buffer
sub _readable {
    my ($sel, $sock, $timeout) = @_;
    return 1 if $sock->can('pending') && $sock->pending;
    return $sel->can_read($timeout);
}

# ---------------------------------------------------------------------------------------------
# HTTP

sub _ua {
    my $ua = Apache::TestRequest::user_agent(requests_redirectable => 0);
    $ua->ssl_opts(SSL_ca_file => $ENV{DOCPORTAL_TLS_CERT}, verify_hostname => 1) if $TLS;
    return $ua;
}

# api(METHOD, PATH, %opt) -> (status, decoded body or undef, HTTP::Response)
#   json    => hashref/arrayref (encoded) or a string (sent as is), Content-Type application/json
#   body    => raw string body (no Content-Type unless ctype given)
#   ctype   => Content-Type to send
#   token   => bearer token
#   headers => [name => value, ...]
sub api {
    my ($method, $path, %opt) = @_;
    my $url = Apache::TestRequest::resolve_url($path);
    $url =~ s{^http://}{https://} if $TLS;
    my $req = HTTP::Request->new($method => $url);
    my $body;
    my $ctype = $opt{ctype};
    if (exists $opt{json}) {
        $body = ref $opt{json} ? $JSON->encode($opt{json}) : $opt{json};
        $ctype //= 'application/json';
    }
    elsif (exists $opt{body}) {
        $body = $opt{body};
    }
    $req->header('Content-Type' => $ctype) if defined $ctype;
    $req->header('Authorization' => "Bearer $opt{token}") if defined $opt{token};
    my @h = @{ $opt{headers} || [] };
    while (my ($k, $v) = splice @h, 0, 2) {
        $req->header($k => $v);
    }
    if (defined $body) {
        utf8::encode($body) if utf8::is_utf8($body);
        $req->content($body);
        $req->header('Content-Length' => length $body);
    }
    elsif ($method eq 'POST' || $method eq 'PUT' || $method eq 'PATCH') {
        $req->header('Content-Length' => 0);
    }
    my $res = _ua()->request($req);
    require DocPortal::Record; DocPortal::Record::answer($res);    # for t/api/990_openapi.t
    return ($res->code, json_body($res), $res);
}

# Decoded JSON body of a response, or undef when empty / not JSON.
sub json_body {
    my ($res) = @_;
    my $c = $res->content;
    return undef unless defined $c && length $c;
    my $d = eval { $JSON->decode($c) };
    return $d;
}

sub dump_res {
    my ($res) = @_;
    return '(no response)' unless $res;
    my $req = $res->request;
    my $s = '';
    if ($req) {
        my $rc = $req->content // '';
        $rc = substr($rc, 0, 300) . '...(' . length($rc) . ' bytes)' if length $rc > 300;
        $s .= '>> ' . $req->method . ' ' . $req->uri . "\n";
        $s .= '>> ' . $_ . "\n" for grep { length } split /\n/, $req->headers->as_string;
        $s .= ">> $rc\n" if length $rc;
    }
    my $c = $res->content // '';
    $c = substr($c, 0, 1500) . '...' if length $c > 1500;
    $s .= '<< ' . $res->status_line . "\n";
    $s .= '<< ' . $_ . "\n" for grep { length } split /\n/, $res->headers->as_string;
    $s .= "<< $c\n";
    return $s;
}

# Problems with the headers every response must carry.
sub common_headers_problems {
    my ($res) = @_;
    my @p;
    my $rid = $res->header('X-Request-Id');
    push @p, 'X-Request-Id missing or empty' unless defined $rid && $rid =~ /\S/;
    my $cc = $res->header('Cache-Control') // '';
    push @p, "Cache-Control is '$cc', expected no-store" unless $cc =~ /\bno-store\b/i;
    my $nos = $res->header('X-Content-Type-Options') // '';
    push @p, "X-Content-Type-Options is '$nos', expected nosniff" unless $nos =~ /^\s*nosniff\s*$/i;
    # HSTS on every answer over TLS, never over plain HTTP
    my $hsts = $res->header('Strict-Transport-Security');
    if ($TLS) {
        push @p, 'Strict-Transport-Security missing over TLS'
            unless ($hsts // '') =~ /^max-age=\d+/;
    }
    elsif (defined $hsts) {
        push @p, "Strict-Transport-Security '$hsts' over plain HTTP";
    }
    if (($res->header('Client-Warning') // '') =~ /internal response/i) {
        push @p, 'no HTTP response from the server (LWP internal response: '
               . $res->status_line . ')';
    }
    return @p;
}

# error_is($res, $status, $code, $field_or_undef_or_regex, $name): one assertion that the
# response is the JSON error {detail, code[, field]} with that status, JSON content type, no
# HTML, and the common headers. Returns the decoded body.
sub error_is {
    my ($res, $status, $code, $field, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @p;
    my @status = ref $status eq 'ARRAY' ? @$status : ($status);
    push @p, 'status ' . $res->code . ', expected ' . join(' or ', @status)
        unless grep { $res->code == $_ } @status;
    my $ct = $res->header('Content-Type') // '';
    push @p, "Content-Type '$ct', expected application/json"
        unless $ct =~ m{^application/json\s*(?:;|$)}i;
    push @p, 'body looks like HTML' if ($res->content // '') =~ /<html|<!DOCTYPE|<body/i;
    my $d = json_body($res);
    if (ref $d ne 'HASH') {
        push @p, 'body is not a JSON object';
    }
    else {
        push @p, 'detail missing or empty'
            unless defined $d->{detail} && !ref $d->{detail} && $d->{detail} =~ /\S/;
        my @codes = ref $code eq 'ARRAY' ? @$code : ($code);
        push @p, "code is '" . ($d->{code} // 'undef') . "', expected " . join(' or ', @codes)
            unless defined $d->{code} && grep { $d->{code} eq $_ } @codes;
        if (defined $field) {
            my $f = $d->{field};
            if (ref $field eq 'Regexp') {
                push @p, "field is '" . ($f // 'undef') . "', expected $field"
                    unless defined $f && $f =~ $field;
            }
            else {
                push @p, "field is '" . ($f // 'undef') . "', expected '$field'"
                    unless defined $f && $f eq $field;
            }
        }
    }
    push @p, common_headers_problems($res);
    Test::More::ok(!@p, $name)
        or Test::More::diag(join("\n", @p) . "\n" . dump_res($res));
    return $d;
}

# success_is($res, $status, $name): status, JSON content type (when there is a body), common
# headers. Returns the decoded body.
sub success_is {
    my ($res, $status, $name, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @p;
    push @p, 'status ' . $res->code . ", expected $status" unless $res->code == $status;
    my $d = json_body($res);
    unless ($opt{empty}) {
        my $ct = $res->header('Content-Type') // '';
        push @p, "Content-Type '$ct', expected application/json"
            unless $ct =~ m{^application/json\s*(?:;|$)}i;
        push @p, 'body is not JSON' unless defined $d;
    }
    push @p, common_headers_problems($res);
    Test::More::ok(!@p, $name)
        or Test::More::diag(join("\n", @p) . "\n" . dump_res($res));
    return $d;
}

# Raw HTTP exchange over a socket (for bodies the server may refuse before reading them).
# raw_http($request_head, $body_chunks_arrayref, %opt) -> (status, headers hashref (lc names),
# body, raw response, write_error). Stops writing as soon as the server answers or closes.
sub raw_http {
    my ($head, $chunks, %opt) = @_;
    my $hostport = Apache::TestRequest::hostport();
    my ($host, $port) = split /:/, $hostport;
    $host = '127.0.0.1' if $host eq 'localhost';
    my $sock = tls_connect($host, $port)
        or return (0, {}, '', '', "connect: $!");
    $sock->autoflush(1);
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($sock);
    my $out = $head;
    my @queue = @{ $chunks || [] };
    my $werr = '';
    my $resp = '';
    my $deadline = time + ($opt{timeout} || 30);
    WRITE: while ((length $out || @queue) && time < $deadline) {
        $out = shift @queue if !length $out && @queue;
        # the server may answer early: stop writing then
        if (_readable($sel, $sock, 0)) {
            # over TLS the socket is also readable for records that are not data (TLS 1.3
            # session tickets): only an answer or the server's close stops the writing
            my $n = _read_nb($sock, \$resp);
            last WRITE if !defined $n || $n >= 0;
        }
        next WRITE unless $sel->can_write(1);
        my $n = syswrite($sock, $out, 65536);
        if (!defined $n) {
            $werr = "write: $!";
            last WRITE;
        }
        substr($out, 0, $n, '');
    }
    while (time < $deadline && !_raw_complete($resp)) {
        last unless _readable($sel, $sock, $deadline - time);
        my $n = sysread($sock, my $buf, 65536);
        last unless $n;    # EOF or reset (keep what we have)
        $resp .= $buf;
        last if _raw_complete($resp);
    }
    close $sock;
    my ($status, %h, $body) = (0);
    if ($resp =~ /^HTTP\/\d\.\d (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n(.*)$/s) {
        $status = $1;
        my ($hdrs, $b) = ($2, $3);
        for (split /\r\n/, $hdrs) {
            my ($k, $v) = split /:\s*/, $_, 2;
            next unless defined $v;
            $h{lc $k} = exists $h{lc $k} ? "$h{lc $k}, $v" : $v;
        }
        $b = dechunk($b) if ($h{'transfer-encoding'} // '') =~ /chunked/i;
        $body = $b;
    }
    return ($status, \%h, $body // '', $resp, $werr);
}

sub _raw_complete {
    my ($r) = @_;
    return 0 unless $r =~ /^(.*?)\r\n\r\n(.*)$/s;
    my ($hdrs, $b) = ($1, $2);
    if ($hdrs =~ /^Content-Length:\s*(\d+)/mi) { return length($b) >= $1 }
    if ($hdrs =~ /^Transfer-Encoding:\s*chunked/mi) { return $b =~ /(?:^|\r\n)0\r\n\r\n$/ }
    return 0;    # read until close
}

# ---------------------------------------------------------------------------------------------
# Pieces shared with the other helper modules, and requests to other servers

# dechunk($body) -> the body of a chunked transfer encoding, decoded
sub dechunk {
    my ($b) = @_;
    my $dec = '';
    while ($b =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
        my $len = hex $1;
        last unless $len;
        $dec .= substr($b, 0, $len, '');
        $b =~ s/^\r\n//;
    }
    return $dec;
}

# query_string(%q) -> "?k=v&..." (keys sorted, values percent-encoded, undef left out) or ''
sub query_string {
    my (%q) = @_;
    my @kv;
    for my $k (sort keys %q) {
        next unless defined $q{$k};
        my $v = $q{$k};
        $v =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
        push @kv, "$k=$v";
    }
    return @kv ? '?' . join('&', @kv) : '';
}

# http_at($port, METHOD, PATH, %opt) -> (status, decoded body or undef, HTTP::Tiny response
# with its headers): a request to another httpd on 127.0.0.1:$port. opt: token, json,
# headers => {name => value}.
sub http_at {
    my ($port, $method, $path, %opt) = @_;
    require HTTP::Tiny;
    my %h = %{ $opt{headers} || {} };
    my %args;
    $h{Authorization} = "Bearer $opt{token}" if defined $opt{token};
    if (exists $opt{json}) {
        $h{'Content-Type'} = 'application/json';
        $args{content} = ref $opt{json} ? $JSON->encode($opt{json}) : $opt{json};
    }
    $args{headers} = \%h;
    my $r = HTTP::Tiny->new(timeout => 20)->request($method, "http://127.0.0.1:$port$path", \%args);
    my $d = eval { $JSON->decode($r->{content}) };
    return ($r->{status}, $d, $r);
}

# api_at($port, METHOD, PATH, %opt) -> (status, decoded body or undef, raw body): a request to
# another httpd on 127.0.0.1:$port (DocPortal::Server). opt: token, json.
sub api_at {
    my ($status, $d, $r) = http_at(@_);
    return ($status, $d, $r->{content});
}

1;
