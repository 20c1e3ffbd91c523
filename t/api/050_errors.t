# Routing and error shapes: 404, 405, 413; errors are always JSON, never HTML.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use JSON::PP ();

# 404
for my $case (['GET', '/api/nope'], ['POST', '/api/nope'], ['GET', '/api/auth/nope'],
              ['GET', '/api/auth'], ['GET', '/api/'], ['GET', '/api/health/extra'],
              ['GET', '/api/auth/login/x']) {
    my ($m, $p) = @$case;
    my (undef, undef, $r) = api($m => $p, ($m eq 'POST' ? (json => {}) : ()));
    error_is($r, 404, 'not_found', undef, "$m $p: 404 not_found JSON");
}

# 405 with Allow
for my $case (['GET', '/api/auth/login', 'POST'], ['GET', '/api/auth/register', 'POST'],
              ['GET', '/api/auth/logout', 'POST'], ['DELETE', '/api/health', 'GET'],
              ['POST', '/api/health', 'GET'], ['PUT', '/api/auth/login', 'POST'],
              ['DELETE', '/api/auth/me', 'GET']) {
    my ($m, $p, $allow) = @$case;
    my (undef, undef, $r) = api($m => $p);
    error_is($r, 405, 'method_not_allowed', undef, "$m $p: 405 method_not_allowed JSON");
    my $a = join ', ', $r->header('Allow');
    like($a, qr/\b$allow\b/, "$m $p: Allow header contains $allow") or diag("Allow: '$a'");
}

# 413: 2 MB body with Content-Length; the server may answer before reading it and close.
my $big = '{"email":"' . ('a' x (2 * 1024 * 1024)) . '@example.com","password":"Sup3r-secret-pw"}';
my $head = "POST /api/auth/login HTTP/1.1\r\nHost: " . Apache::TestRequest::hostport() . "\r\n"
         . "Content-Type: application/json\r\nContent-Length: " . length($big) . "\r\n"
         . "Connection: close\r\n\r\n";
my ($st, $h, $body, $raw, $werr) = raw_http($head, [$big]);
is($st, 413, '2 MB body with Content-Length: 413') or diag("write: $werr\n" . substr($raw, 0, 1000));
like($h->{'content-type'} // '', qr{^application/json}i, '413 is application/json');
my $d = eval { JSON::PP::decode_json($body) } || {};
is($d->{code}, 'payload_too_large', '413 code payload_too_large') or diag($body);
ok(defined $d->{detail} && length $d->{detail}, '413 has a detail');
ok(defined $h->{'x-request-id'}, '413 has X-Request-Id');

# 413: same body chunked (no Content-Length): the limit applies while reading.
my $chead = "POST /api/auth/login HTTP/1.1\r\nHost: " . Apache::TestRequest::hostport() . "\r\n"
          . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
          . "Connection: close\r\n\r\n";
my @chunks;
for (my $i = 0; $i < length $big; $i += 65536) {
    my $c = substr $big, $i, 65536;
    push @chunks, sprintf("%x\r\n", length $c) . $c . "\r\n";
}
push @chunks, "0\r\n\r\n";
my ($cst, $ch, $cbody, $craw, $cwerr) = raw_http($chead, \@chunks);
is($cst, 413, '2 MB chunked body: 413') or diag("write: $cwerr\n" . substr($craw, 0, 1000));
my $cd = eval { JSON::PP::decode_json($cbody) } || {};
is($cd->{code}, 'payload_too_large', 'chunked 413 code payload_too_large') or diag($cbody);

# a body just under DocPortalMaxBody is not refused for its size on a route without a cap of
# its own (the public auth routes and the webhook have smaller ones: 020, 010, 320)
my ($utok) = provider_session(name => 'Dr Big Body');
my $under = '{"name":"Dr Under","pad":"' . ('b' x (1024 * 1024 - 200)) . '"}';
my (undef, undef, $ures) = api(PATCH => '/api/auth/me', token => $utok, json => $under);
ok($ures->code != 413, 'body just under 1 MiB is not 413') or diag(dump_res($ures));
success_is($ures, 200, 'body just under 1 MiB is processed (the profile updated)');

# the server still works after those
my (undef, undef, $hres) = api(GET => '/api/health');
is($hres->code, 200, 'health still 200 after the large bodies');

# a sample of error answers: all JSON {detail, code}, never HTML
my @samples = (
    [GET  => '/api/nope'],
    [GET  => '/api/auth/me'],
    [GET  => '/api/auth/me', headers => ['Authorization' => 'Bearer x']],
    [POST => '/api/auth/login', json => '{'],
    [POST => '/api/auth/login', json => {}],
    [POST => '/api/auth/register', json => {}],
    [POST => '/api/auth/register', ctype => 'application/xml', body => '<a/>'],
    [PATCH => '/api/health', json => {}],
    [GET  => '/api/%zz'],
    [GET  => '/api/auth/login?x=1'],
);
for my $s (@samples) {
    my ($m, $p, %o) = @$s;
    my (undef, $b, $r) = api($m => $p, %o);
    my @p;
    push @p, 'status ' . $r->code . ' not 4xx' unless $r->code >= 400 && $r->code < 500;
    push @p, 'Content-Type ' . ($r->header('Content-Type') // 'none')
        unless ($r->header('Content-Type') // '') =~ m{^application/json}i;
    push @p, 'HTML body' if ($r->content // '') =~ /<html|<!DOCTYPE/i;
    push @p, 'no detail/code' unless ref $b eq 'HASH' && defined $b->{detail} && defined $b->{code};
    push @p, common_headers_problems($r);
    ok(!@p, "$m $p: JSON error {detail, code}") or diag(join("\n", @p) . "\n" . dump_res($r));
}

done_testing();
