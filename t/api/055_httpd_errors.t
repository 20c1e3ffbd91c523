# Errors httpd raises before the module's handler runs. Under /api, where httpd lets an
# ErrorDocument apply (conf: ErrorDocument <status> /api/.error in <Location /api>), the answer
# is the API's JSON error with httpd's original status; where httpd answers before it reads
# any per-directory configuration, its own page stays (docs/install.md lists them).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use JSON::PP;

my $hostport = Apache::TestRequest::hostport();

sub exchange {
    my ($head, @body) = @_;
    my ($st, $h, $body, $raw, $werr) = raw_http($head, \@body, timeout => 20);
    my $j = eval { decode_json($body) };
    return ($st, $h, $body, $j);
}

sub is_json_error {
    my ($name, $want, $st, $h, $body, $j, $code) = @_;
    is($st, $want, "$name: $want");
    ok(ref $j eq 'HASH' && defined $j->{detail} && defined $j->{code}, "$name: the JSON error shape")
        or diag(substr($body // '', 0, 300));
    is($j->{code}, $code, "$name: code $code") if defined $code && ref $j eq 'HASH';
    like($h->{'content-type'} // '', qr{^application/json}, "$name: application/json");
    is($h->{'x-content-type-options'}, 'nosniff', "$name: the API's nosniff");
    is($h->{'cache-control'}, 'no-store', "$name: the API's no-store");
    ok($h->{'x-request-id'}, "$name: a request id");
    ok($h->{'strict-transport-security'}, "$name: HSTS over TLS") if $ENV{DP_TLS};
    unlike($body // '', qr/<html|<!DOCTYPE/i, "$name: no HTML");
}

my $H = "Host: $hostport\r\nConnection: close\r\n";

# errors httpd raises while it reads the request: JSON with the original status
my @cases = (
    ['a header over LimitRequestFieldSize', 400, 'bad_request',
     "GET /api/health HTTP/1.1\r\n${H}X-Big: " . ('a' x 10000) . "\r\n\r\n"],
    ['more headers than LimitRequestFields', 400, 'bad_request',
     "GET /api/health HTTP/1.1\r\n$H" . join('', map { "X-H$_: 1\r\n" } 1 .. 120) . "\r\n"],
    ['HTTP/1.1 without Host', 400, 'bad_request', "GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n"],
    ['an unknown Transfer-Encoding', 400, 'bad_request',
     "POST /api/auth/login HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n"],
    ['a request line over LimitRequestLine', 414, 'uri_too_long',
     "GET /api/health?" . ('a' x 10000) . " HTTP/1.1\r\n$H\r\n"],
    ['an unknown Expect', 417, 'bad_request', "GET /api/health HTTP/1.1\r\n${H}Expect: something\r\n\r\n"],
    ['a POST refused by httpd', 400, 'bad_request',
     "POST /api/auth/login HTTP/1.1\r\n${H}Content-Length: 12\r\nContent-Length: 13\r\n\r\n{}"],
);
for my $c (@cases) {
    my ($name, $status, $code, $req) = @$c;
    is_json_error($name, $status, exchange($req), $code);
}

# a body over httpd's own LimitRequestBody (100 bytes on this virtual host, below the module's
# cap): httpd refuses it while the module reads it; 413 JSON, by Content-Length and chunked
SKIP: {
    skip 'the virtual host with LimitRequestBody is plain HTTP', 16 if $ENV{DP_TLS};
    my $main = Apache::TestRequest::module();
    Apache::TestRequest::module('docportal_httpd_limits');
    my $lhost = "Host: " . Apache::TestRequest::hostport() . "\r\nConnection: close\r\n"
        . "Content-Type: application/json\r\n";
    my $json = '{"email":"a@b.example","password":"' . ('x' x 400) . '"}';
    is_json_error('a body over LimitRequestBody (Content-Length)', 413,
                  exchange("POST /api/auth/login HTTP/1.1\r\n${lhost}Content-Length: " . length($json)
                           . "\r\n\r\n", $json), 'payload_too_large');
    is_json_error('a body over LimitRequestBody (chunked)', 413,
                  exchange("POST /api/auth/login HTTP/1.1\r\n${lhost}Transfer-Encoding: chunked\r\n\r\n",
                           sprintf("%x\r\n%s\r\n0\r\n\r\n", length $json, $json)), 'payload_too_large');
    Apache::TestRequest::module($main);
}

# a bad %-escape reaches the module (the path is pointed at no route): its 404
is_json_error('a bad %-escape', 404, exchange("GET /api/health%zz HTTP/1.1\r\n$H\r\n"), 'not_found');

# the error path itself, asked for directly, is an unknown endpoint, and no audit event
my ($st, $h, $body, $j) = exchange("GET /api/.error HTTP/1.1\r\n$H\r\n");
is_json_error('GET /api/.error directly', 404, $st, $h, $body, $j, 'not_found');
($st, $h, $body, $j) = exchange("GET /api/.error HTTP/1.1\r\n${H}X-Big: " . ('a' x 10000) . "\r\n\r\n");
is_json_error('the error path with a header over the limit', 400, $st, $h, $body, $j, 'bad_request');

# outside /api (the portal's pages) the same server-level ErrorDocument answers plain text
($st, $h, $body) = exchange("GET /index.html HTTP/1.1\r\n${H}X-Big: " . ('a' x 10000) . "\r\n\r\n");
is($st, 400, 'outside /api: 400 as well');
like($h->{'content-type'} // '', qr{^text/plain}, 'outside /api: plain text');
is($body, "400 Bad Request\n", "outside /api: httpd's status line");

done_testing();
