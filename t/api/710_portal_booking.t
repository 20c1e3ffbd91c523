# The client's booking and appointment screens in a real browser (portal/e2e/booking.spec.ts,
# Playwright driving Debian's chromium, axe-core for accessibility) against the
# docportal_portal virtual host. The provider is set up through the API (working hours, the
# invitation, its confirmations and own bookings); the client claims the mailed invitation and
# then, in the browser: books from the open slots (pending, with its video link), sees the
# provider's confirmation, reschedules (back to pending) and cancels with a confirmation step;
# meets a day without open times, a time taken while choosing and, where the production
# limits hold, one request too many (the API's 409s in plain words); joins a confirmed session about to start from the page its mails link to; books on a
# phone-sized screen. First, as HTTP: the mailed links' path /appointments/<id> is the portal's
# page. Skipped when node or chromium is missing, except in CI (CI=true), where that fails.
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
my $ua = Apache::TestRequest::user_agent(requests_redirectable => 0);

for my $route ('/appointments', '/appointments/book',
               '/appointments/4f1d2c3b-5a69-4e7f-8a1b-2c3d4e5f6a7b',
               '/appointments/4f1d2c3b-5a69-4e7f-8a1b-2c3d4e5f6a7b/reschedule') {
    my $r = $ua->get("$base$route");
    is($r->code, 200, "GET $route: 200 (a client-side route)");
    like($r->decoded_content, qr{<div id="root"></div>}, '... the portal\'s page');
}

# the booking limits' defaults (three pending requests per client, two hours' notice) are on
# docportal_limits, which serves the same portal
my $limits = Apache::Test::config()->{vhosts}{docportal_limits}{hostport}
    or BAIL_OUT('no docportal_limits virtual host in t/conf/extra.conf.in');
local $ENV{PORTAL_LIMITS_URL} = "http://$limits";
playwright_tap(base_url => $base, files => ['booking.spec.ts']);

done_testing();
