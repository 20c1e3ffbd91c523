# The portal's sign-in screens in a real browser. First, as HTTP: the test server serves the
# built portal at / as production does (conf/docportal-portal.conf): index.html for client-side
# routes with a strict Content-Security-Policy and no-cache, the hashed assets for a year, and
# /api still the module's (an unknown API path is its JSON 404, not the portal's page). Then the
# browser tests of portal/e2e/ (Playwright driving Debian's chromium, axe-core for
# accessibility) against the docportal_portal virtual host (an email must be verified), with
# the mailed links read from the suite's SMTP sink: a therapist registers, confirms the mailed
# link and logs out; a wrong password shows the API's detail; an invited client claims the
# mailed invitation and sees its dashboard; a forgotten password is reset; a phone-sized screen.
# Skipped when node or chromium is missing, except in CI (CI=true), where that fails.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DocPortal::Portal qw(portal_require playwright_tap);
use JSON::PP ();

plan skip_all => 'the browser tests run once, in the plain HTTP pass' if $ENV{DP_TLS};
portal_require();

my $hostport = Apache::Test::config()->{vhosts}{docportal_portal}{hostport}
    or BAIL_OUT('no docportal_portal virtual host in t/conf/extra.conf.in');
my $base = "http://$hostport";
my $ua = Apache::TestRequest::user_agent(requests_redirectable => 0);

# ---- the portal as HTTP -----------------------------------------------------------------------
my $index = $ua->get("$base/");
is($index->code, 200, 'GET /: 200');
like($index->header('Content-Type') // '', qr{^text/html}, '... HTML');
like($index->decoded_content, qr{<div id="root"></div>}, '... the portal\'s page');
my $csp = $index->header('Content-Security-Policy') // '';
like($csp, qr/(?:^|; )script-src 'self'(?:;|$)/, "CSP: scripts only from the portal ($csp)");
like($csp, qr/frame-ancestors 'none'/, 'CSP: never framed');
like($csp, qr/default-src 'self'/, 'CSP: default-src self');
is($index->header('Cache-Control'), 'no-cache', 'index.html: revalidated on every load');
is($index->header('X-Content-Type-Options'), 'nosniff', 'nosniff');
unlike($index->decoded_content, qr{<script(?![^>]*\bsrc=)[^>]*>}i, 'no inline script in index.html');

for my $route ('/login', '/invite?token=abc', '/dashboard', '/verify-email?token=x') {
    my $r = $ua->get("$base$route");
    is($r->code, 200, "GET $route: 200 (a client-side route)");
    like($r->decoded_content, qr{<div id="root"></div>}, '... the portal\'s page');
    like($r->header('Content-Security-Policy') // '', qr/frame-ancestors 'none'/, '... with the CSP');
}

my ($asset) = $index->decoded_content =~ m{src="(/assets/[^"]+\.js)"};
ok($asset, "index.html loads a hashed script ($asset)");
my $js = $ua->get("$base$asset");
is($js->code, 200, 'the script: 200');
like($js->header('Content-Type') // '', qr{^(?:text|application)/javascript}, '... as JavaScript');
is($js->header('Cache-Control'), 'public, max-age=31536000, immutable', '... cached for a year');
is($ua->get("$base/assets/no-such-file.js")->code, 404, 'a missing asset: 404, not the page');

for my $path ('/api/nope', '/api', '/api/auth/nope/deeper') {
    my $r = $ua->get("$base$path");
    is($r->code, 404, "GET $path: 404");
    like($r->header('Content-Type') // '', qr{^application/json}, '... JSON');
    my $d = eval { JSON::PP->new->decode($r->decoded_content) } // {};
    is($d->{code}, 'not_found', '... the module\'s not_found');
    ok(!defined $r->header('Content-Security-Policy'), '... without the portal\'s headers');
}

# ---- the portal in a browser ------------------------------------------------------------------
playwright_tap(base_url => $base, files => ['signin.spec.ts']);

done_testing();
