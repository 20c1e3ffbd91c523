# CORS with DocPortalCORSOrigin http://localhost:3000
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my $ORIGIN = 'http://localhost:3000';

sub vary_has_origin {
    my ($r) = @_;
    my $v = join ', ', $r->header('Vary');
    return $v =~ /(?:^|,)\s*Origin\s*(?:,|$)/i || $v =~ /^\s*\*\s*$/;
}

# simple request from the allowed origin
my (undef, undef, $r) = api(GET => '/api/health', headers => [Origin => $ORIGIN]);
is($r->code, 200, 'GET health with allowed Origin: 200');
is($r->header('Access-Control-Allow-Origin'), $ORIGIN, 'ACAO is the configured origin');
ok(vary_has_origin($r), 'Vary: Origin') or diag('Vary: ' . (join ', ', $r->header('Vary')));
my @acao = $r->header('Access-Control-Allow-Origin');
is(scalar @acao, 1, 'a single ACAO header');

# errors also carry CORS headers (so the front end can read them)
my (undef, undef, $er) = api(GET => '/api/auth/me', headers => [Origin => $ORIGIN]);
is($er->code, 401, 'me without token with Origin: 401');
is($er->header('Access-Control-Allow-Origin'), $ORIGIN, 'ACAO on a 401 error too');
my (undef, undef, $nf) = api(GET => '/api/nope', headers => [Origin => $ORIGIN]);
is($nf->header('Access-Control-Allow-Origin'), $ORIGIN, 'ACAO on a 404 error too');

# POST from the allowed origin
my (undef, undef, $pr) = api(POST => '/api/auth/login', headers => [Origin => $ORIGIN],
                             json => { email => unique_email('cors'), password => 'whatever-123' });
is($pr->code, 401, 'POST login with Origin: processed (401)');
is($pr->header('Access-Control-Allow-Origin'), $ORIGIN, 'ACAO on POST');

# preflight
my (undef, undef, $pf) = api(OPTIONS => '/api/auth/login', headers => [
    Origin => $ORIGIN,
    'Access-Control-Request-Method'  => 'POST',
    'Access-Control-Request-Headers' => 'authorization, content-type',
]);
is($pf->code, 204, 'preflight: 204') or diag(dump_res($pf));
is($pf->content // '', '', 'preflight: empty body');
is($pf->header('Access-Control-Allow-Origin'), $ORIGIN, 'preflight: ACAO');
my $acam = join ', ', $pf->header('Access-Control-Allow-Methods');
like($acam, qr/\bPOST\b/, 'preflight: Allow-Methods has POST') or diag("ACAM: $acam");
my $acah = join ', ', $pf->header('Access-Control-Allow-Headers');
like($acah, qr/\bAuthorization\b/i, 'preflight: Allow-Headers has Authorization') or diag("ACAH: $acah");
like($acah, qr/\bContent-Type\b/i, 'preflight: Allow-Headers has Content-Type') or diag("ACAH: $acah");
ok(vary_has_origin($pf), 'preflight: Vary Origin');

# preflight for a protected GET and for a PATCH route
my (undef, undef, $pf2) = api(OPTIONS => '/api/auth/me', headers => [
    Origin => $ORIGIN, 'Access-Control-Request-Method' => 'GET',
    'Access-Control-Request-Headers' => 'Authorization']);
is($pf2->code, 204, 'preflight for GET /api/auth/me: 204 (no token needed)') or diag(dump_res($pf2));
is($pf2->header('Access-Control-Allow-Origin'), $ORIGIN, 'preflight for me: ACAO');

# another origin gets no ACAO, on simple requests and preflights
for my $o ('http://evil.example', 'http://localhost:3000.evil.example', 'http://localhost:3001',
           'https://localhost:3000', 'null') {
    my (undef, undef, $x) = api(GET => '/api/health', headers => [Origin => $o]);
    is($x->code, 200, "GET health with Origin $o: still 200");
    ok(!defined $x->header('Access-Control-Allow-Origin'), "Origin $o: no ACAO")
        or diag('ACAO: ' . $x->header('Access-Control-Allow-Origin'));
    my (undef, undef, $xp) = api(OPTIONS => '/api/auth/login', headers => [
        Origin => $o, 'Access-Control-Request-Method' => 'POST']);
    ok(!defined $xp->header('Access-Control-Allow-Origin'), "preflight from $o: no ACAO")
        or diag(dump_res($xp));
    ok(!defined $xp->header('Access-Control-Allow-Credentials') || defined $xp->header('Access-Control-Allow-Origin'),
       "preflight from $o: no Allow-Credentials without ACAO");
}

# no Origin: no ACAO needed, and never a wildcard
my (undef, undef, $no) = api(GET => '/api/health');
my $w = $no->header('Access-Control-Allow-Origin');
ok(!defined $w || $w ne '*', 'never Access-Control-Allow-Origin: *');

done_testing();
