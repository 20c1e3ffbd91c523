use strict; use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use DocPortal::Test;
my $hp = Apache::TestRequest::hostport();
my @r = raw_http("GET /api/health HTTP/1.1\r\nHost: $hp\r\nConnection: close\r\n\r\n", []);
print STDERR "status=$r[0] werr=$r[4] raw=$r[3]\n";
ok(1);
done_testing;
