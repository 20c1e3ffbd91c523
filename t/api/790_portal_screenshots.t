# Not a check: `make screenshots` runs this file with DP_SCREENSHOTS=1 to write PNGs of the
# portal's main screens (desktop 1280x800 and phone 375x740) into docs/screenshots/, taken by
# portal/e2e/screenshots.spec.ts in Debian's chromium against the docportal_portal virtual host
# with a small demo practice seeded through the API. Skipped otherwise, so `make test` never
# rewrites the committed pictures.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Cwd ();
use DocPortal::Portal qw(portal_require playwright_tap portal_dir);

plan skip_all => 'screenshots are taken by make screenshots (DP_SCREENSHOTS=1)' unless $ENV{DP_SCREENSHOTS};
plan skip_all => 'screenshots are taken in the plain HTTP pass' if $ENV{DP_TLS};
portal_require();

my $hostport = Apache::Test::config()->{vhosts}{docportal_portal}{hostport}
    or BAIL_OUT('no docportal_portal virtual host in t/conf/extra.conf.in');
my $dir = Cwd::abs_path(portal_dir() . '/..') . '/docs/screenshots';

{
    local $ENV{DP_SCREENSHOTS_DIR} = $dir;
    playwright_tap(base_url => "http://$hostport", files => ['screenshots.spec.ts']);
}

opendir(my $dh, $dir) or die "$dir: $!";
my @png = sort grep { /\.png$/ } readdir $dh;
ok(scalar @png, 'PNGs written to docs/screenshots/');
diag(sprintf '%-32s %6.1f kB', $_, (-s "$dir/$_") / 1024) for @png;

done_testing();
