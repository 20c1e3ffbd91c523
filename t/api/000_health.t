# GET /api/health: body, common headers, request ids.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my ($st, $d, $res) = api(GET => '/api/health');
success_is($res, 200, 'GET /api/health is 200 JSON with the common headers');
is_deeply($d, { status => 'ok', database => 'ok' }, 'health body is {status:ok, database:ok}')
    or diag(dump_res($res));
like($res->header('Content-Type') // '', qr{^application/json\s*(?:;\s*charset=utf-8\s*)?$}i,
     'Content-Type application/json');
my $rid1 = $res->header('X-Request-Id');
ok(defined $rid1 && length $rid1 >= 8, 'X-Request-Id present and not trivially short')
    or diag('X-Request-Id: ' . ($rid1 // 'undef'));
like($res->header('Cache-Control') // '', qr/\bno-store\b/, 'Cache-Control: no-store');
is($res->header('X-Content-Type-Options'), 'nosniff', 'X-Content-Type-Options: nosniff');
unlike($res->header('Content-Type') // '', qr/html/i, 'not HTML');

my (undef, undef, $res2) = api(GET => '/api/health');
is($res2->code, 200, 'second health request 200');
my $rid2 = $res2->header('X-Request-Id');
ok(defined $rid2 && length $rid2, 'second X-Request-Id present');
isnt($rid2, $rid1, 'X-Request-Id differs between two requests');

# a single header value, not a list of them
my @rids = $res2->header('X-Request-Id');
is(scalar @rids, 1, 'exactly one X-Request-Id header');

# query strings do not change the route
my (undef, $dq, $resq) = api(GET => '/api/health?x=1');
is($resq->code, 200, 'GET /api/health?x=1 is 200');

done_testing();
