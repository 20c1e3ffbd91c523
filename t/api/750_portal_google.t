# Sign in with Google in the portal, in a real browser. The docportal_google virtual host has
# a Google client id, trusts the keys of the suite's Google fake (t/fakes/google_certs_fake.pl)
# and names the fake's stand-in for Google Identity Services (t/fakes/google_gsi.js) as the
# script to load; its Content-Security-Policy lets in exactly that origin. First, as HTTP: that
# policy, GET /api/auth/config there and on a host without Google, the stand-in served as
# JavaScript, and an ID token the fake mints accepted by the API. Then the browser tests of
# portal/e2e/google.spec.ts: a therapist signs in with Google from /login; an invited client
# continues with Google from the mailed invitation; refused ID tokens (an unverified address, a
# wrong audience) show the API's detail; a host without a client id shows no Google button and
# asks nothing of Google; axe on each screen. Last, what the audit trail recorded.
# Skipped when node or chromium is missing, except in CI (CI=true), where that fails.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DocPortal::Portal qw(portal_require playwright_tap);
use DocPortal::Test;
use JSON::PP ();

plan skip_all => 'the browser tests run once, in the plain HTTP pass' if $ENV{DP_TLS};
portal_require();

my $vhosts = Apache::Test::config()->{vhosts};
my $hostport = $vhosts->{docportal_google}{hostport}
    or BAIL_OUT('no docportal_google virtual host in t/conf/extra.conf.in');
my $plain = $vhosts->{docportal_portal}{hostport}
    or BAIL_OUT('no docportal_portal virtual host in t/conf/extra.conf.in');
my $base = "http://$hostport";
my $fake = $ENV{DOCPORTAL_GOOGLE_FAKE} or BAIL_OUT('DOCPORTAL_GOOGLE_FAKE is not set');
my $CLIENT_ID = '750-docportal-suite.apps.googleusercontent.com';
my $ua = Apache::TestRequest::user_agent(requests_redirectable => 0);
$ua->post("$fake/__reset");

# ---- the policy, the config, the stand-in -----------------------------------------------------
my $page = $ua->get("$base/login");
is($page->code, 200, 'GET /login: 200 (a client-side route)');
my $csp = $page->header('Content-Security-Policy') // '';
like($csp, qr/(?:^|; )script-src 'self' \Q$fake\E(?:;|$)/, "CSP: scripts from the portal and the Google origin only ($csp)");
like($csp, qr/(?:^|; )connect-src 'self' \Q$fake\E(?:;|$)/, 'CSP: requests to the portal and that origin only');
like($csp, qr/frame-ancestors 'none'/, 'CSP: never framed');
unlike($page->decoded_content, qr{<script(?![^>]*\bsrc=)[^>]*>}i, 'no inline script');

my ($st, $d, $res) = api(GET => "$base/api/auth/config");
success_is($res, 200, 'GET /api/auth/config on the Google host, without a session: 200');
is_deeply($d, { googleClientId => $CLIENT_ID, googleGsiUrl => "$fake/gsi/client" },
          '{googleClientId: the host\'s, googleGsiUrl: the stand-in (DocPortalGoogleGsiURL, as given)}');
is(scalar(audit_events_for($res->header('X-Request-Id'))), 0, '... not audited');
($st, $d) = api(GET => "http://$plain/api/auth/config");
is_deeply($d, { googleClientId => undef, googleGsiUrl => 'https://accounts.google.com/gsi/client' },
          'on a host without a client id: googleClientId null, googleGsiUrl Google\'s (the default)');

my $js = $ua->get("$fake/gsi/client");
is($js->code, 200, 'the stand-in: 200');
like($js->header('Content-Type') // '', qr{^text/javascript}, '... as JavaScript');
like($js->decoded_content, qr/google\.accounts\.id = \{/, '... defining google.accounts.id');

# the fake's ID tokens are ones the API takes: a new Google account of this address
my $email = unique_email('gfake');
my $tok = $ua->post("$fake/gsi/token", { email => $email, client_id => $CLIENT_ID });
is($tok->code, 200, 'the fake mints an ID token');
is($tok->header('Access-Control-Allow-Origin'), '*', '... for any origin (the page asks for it)');
my $credential = (json_body($tok) // {})->{credential} // '';
($st, $d) = api(POST => "$base/api/auth/google", json => { googleToken => $credential, userType => 'client' });
is($st, 201, 'POST /api/auth/google with it: 201, a new account');
is($d->{user}{email}, $email, '... of that address');
ok($d->{user}{emailVerified}, '... verified (Google vouches for it)');

# ---- the portal in a browser ------------------------------------------------------------------
{
    local $ENV{PORTAL_GOOGLE} = JSON::PP->new->canonical->encode(
        { fake => $fake, plainBaseUrl => "http://$plain", clientId => $CLIENT_ID });
    playwright_tap(base_url => $base, files => ['google.spec.ts']);
}

# ---- what the audit trail recorded ------------------------------------------------------------
my %n = map { $_->{outcome} => $_->{n} }
    DocPortal::Db::psql_rows(psql_must(q{SELECT outcome, count(*) FROM audit_events WHERE action = 'auth.google' GROUP BY outcome}),
              qw(outcome n));
cmp_ok($n{success} // 0, '>=', 4, 'Google sign-ins audited as successes (auth.google)');
cmp_ok($n{failure} // 0, '>=', 2, '... and the refused ID tokens as failures');

$ua->post("$fake/__reset");
done_testing();
