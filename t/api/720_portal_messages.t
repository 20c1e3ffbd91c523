# The client's Messages screen in a real browser (portal/e2e/messages.spec.ts, Playwright driving
# Debian's chromium, axe-core for accessibility) against the docportal_portal virtual host: the
# conversation with the provider oldest first, a message that no longer decrypts shown as such,
# sending with Enter (the provider reads it through the API), a message from the provider
# appearing within seconds without a reload and marked read (in the database too), polling one
# request at a time, none while the page is hidden and slower after errors, older pages with
# "Load earlier messages", a refused message keeping its text, and a phone-sized screen.
# Skipped when node or chromium is missing, except in CI (CI=true), where that fails.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DocPortal::Portal qw(portal_require playwright_tap);

plan skip_all => 'the browser tests run once, in the plain HTTP pass' if $ENV{DP_TLS};
portal_require();

my $hostport = Apache::Test::config()->{vhosts}{docportal_portal}{hostport}
    or BAIL_OUT('no docportal_portal virtual host in t/conf/extra.conf.in');
my $base = "http://$hostport";

my $r = Apache::TestRequest::user_agent(requests_redirectable => 0)->get("$base/messages");
is($r->code, 200, 'GET /messages: 200 (a client-side route)');
like($r->decoded_content, qr{<div id="root"></div>}, '... the portal\'s page');

playwright_tap(base_url => $base, files => ['messages.spec.ts']);

done_testing();
