# The portal's Profile screen in a real browser (portal/e2e/profile.spec.ts: Playwright driving
# Debian's chromium, axe-core for accessibility) against the docportal_portal virtual host: a
# client and a provider save their details and mail preferences (a reload and the API show them
# saved), the API's refusal of a bad phone, a too-long name or an unknown time zone is shown next
# to its field, a password change with a wrong current password says so and with the right one
# ends the other sessions while this one continues; a phone-sized screen.
# Skipped when node or chromium is missing, except in CI (CI=true), where that fails.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Portal qw(portal_require playwright_tap);

plan skip_all => 'the browser tests run once, in the plain HTTP pass' if $ENV{DP_TLS};
portal_require();

my $hostport = Apache::Test::config()->{vhosts}{docportal_portal}{hostport}
    or BAIL_OUT('no docportal_portal virtual host in t/conf/extra.conf.in');

playwright_tap(base_url => "http://$hostport", files => ['profile.spec.ts']);

done_testing();
