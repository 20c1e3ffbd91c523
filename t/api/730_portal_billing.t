# The client's Billing screen in a real browser, paying through Stripe.js. The
# docportal_billing virtual host loads Stripe.js from the suite's Stripe fake, which serves a
# stand-in (t/fakes/stripe_js.js) and is the Stripe the API talks to, and its
# Content-Security-Policy lets in exactly that origin. First, as HTTP: that policy, the
# billing config naming the stand-in (stripeJsUrl), the stand-in served as JavaScript. Then a
# practice with a client (who claimed its invitation, so its address counts as confirmed) and
# five invoices, one overdue, and the browser tests of portal/e2e/billing.spec.ts as that
# client: pay by card, a declined card, 3-D Secure completed and failed (the fake announces the
# outcome to the API's webhook, which settles the invoice), a phone-sized screen, axe on each
# state, and an instance without a publishable key. Last, the invoices' rows and what the fake received.
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

my $hostport = Apache::Test::config()->{vhosts}{docportal_billing}{hostport}
    or BAIL_OUT('no docportal_billing virtual host in t/conf/extra.conf.in');
my $base = "http://$hostport";
my $fake = $ENV{DOCPORTAL_STRIPE_API_BASE} or BAIL_OUT('DOCPORTAL_STRIPE_API_BASE is not set');
my $ua = Apache::TestRequest::user_agent(requests_redirectable => 0);
stripe_reset();

# ---- the policy, the config, the stand-in ---------------------------------------------------------
my $page = $ua->get("$base/billing");
is($page->code, 200, 'GET /billing: 200 (a client-side route)');
my $csp = $page->header('Content-Security-Policy') // '';
like($csp, qr/(?:^|; )script-src 'self' \Q$fake\E(?:;|$)/, "CSP: scripts from the portal and the Stripe.js origin only ($csp)");
like($csp, qr/(?:^|; )connect-src 'self' \Q$fake\E(?:;|$)/, 'CSP: requests to the portal and that origin only');
like($csp, qr/frame-ancestors 'none'/, 'CSP: never framed');
unlike($page->decoded_content, qr{<script(?![^>]*\bsrc=)[^>]*>}i, 'no inline script');

my $js = $ua->get("$fake/v3/");
is($js->code, 200, 'the stand-in: 200');
like($js->header('Content-Type') // '', qr{^text/javascript}, '... as JavaScript');
like($js->decoded_content, qr/window\.Stripe = Stripe/, '... defining Stripe');

# ---- a practice, its client and the invoices ----------------------------------------------------
my ($ptok) = provider_session(name => 'Dr Billing Portal');
my $email = unique_email('payer');
my ($ist, $invited) = invite_client($ptok, email => $email, name => 'Pat Payer');
is($ist, 201, 'the client is invited');
my ($rst, $reg) = register({ email => $email, password => $DocPortal::Test::PASSWORD, name => 'Pat Payer',
                             userType => 'client', inviteToken => invite_token_of($invited->{inviteUrl}) });
is($rst, 201, '... and claims the invitation');
ok($reg->{user}{emailVerified}, '... so its address counts as confirmed');
my $client_id = $reg->{user}{id};

my ($st, $d) = api(GET => "$base/api/billing/config", token => $reg->{token});
is($st, 200, 'GET /api/billing/config on the billing host: 200');
is($d->{stripeJsUrl}, "$fake/v3/", 'stripeJsUrl: the stand-in (DocPortalStripeJsURL, as given)');
is($d->{publishableKey}, 'pk_test_docportal_suite', 'publishableKey');
($st, $d) = api(GET => '/api/billing/config', token => $reg->{token});
is($d->{stripeJsUrl}, 'https://js.stripe.com/v3/', "the main server's: Stripe's own (the default)");

my %invoices;
for my $i ([visa => 75, 'Session on 1 May'], [declined => 80.5, 'Session on 8 May'],
           [threeDS => 95.25, 'Session on 15 May'], [threeDSFailed => 70, 'Session on 29 May'],
           [overdue => 60, 'Session on 22 April']) {
    my ($role, $amount, $desc) = @$i;
    my ($cst, $inv) = create_invoice($ptok, clientId => $client_id, amount => $amount, description => $desc);
    is($cst, 201, "invoice '$desc' created");
    $invoices{$role} = { id => $inv->{id}, description => $desc, amount => sprintf('$%.2f', $amount) };
}
invoice_to_overdue($invoices{overdue}{id}, 3);

# the 3-D Secure outcome goes to this host's webhook, signed with the server's secret
my ($wst) = stripe_fake(POST => '/__webhook',
                        { url => "$base/api/billing/webhook", secret => webhook_secret() });
is($wst, 200, 'the Stripe fake announces 3-D Secure outcomes to the webhook');

# ---- the portal in a browser ------------------------------------------------------------------
{
    local $ENV{PORTAL_BILLING} = JSON::PP->new->canonical->encode(
        { email => $email, password => $DocPortal::Test::PASSWORD, invoices => \%invoices });
    playwright_tap(base_url => $base, files => ['billing.spec.ts']);
}

# ---- what happened ----------------------------------------------------------------------------------
my %row = map { $_ => invoice_row($invoices{$_}{id}) } keys %invoices;
is($row{visa}{status}, 'paid', 'the invoice paid with 4242...: paid');
is($row{visa}{payment_method}, 'pm_card_visa', '... with pm_card_visa');
is($row{declined}{status}, 'pending', 'the declined one: still pending');
is($row{threeDS}{status}, 'paid', 'the 3-D Secure one: paid (by the webhook)');
is($row{threeDS}{payment_method}, 'pm_card_authenticationRequired', '... with pm_card_authenticationRequired');
like($row{threeDS}{transaction_id}, qr/^pi_/, '... its PaymentIntent recorded');
is($row{threeDSFailed}{status}, 'pending', 'the one whose 3-D Secure step failed: still pending');
is($row{overdue}{status}, 'paid', 'the overdue one, paid on a phone: paid');

my @log = @{ stripe_requests() };
my @posted = grep { $_->{path} eq '/v1/payment_intents' && $_->{method} eq 'POST' } @log;
my %cards = map { ($_->{form}{payment_method} // '') => 1 } @posted;
ok($cards{$_}, "Stripe was asked to charge $_")
    for qw(pm_card_visa pm_card_chargeDeclined pm_card_authenticationRequired);
my @auth = grep { $_->{path} =~ m{^/js/payment_intents/} } @log;
is(scalar @auth, 2, 'two 3-D Secure steps, from the browser');
is_deeply([sort map { $_->{form}{key} // '' } @auth], [('pk_test_docportal_suite') x 2],
          '... with the publishable key (never the secret one)');
my %step = map { ($_->{form}{outcome} // '') => $_ } @auth;
is($step{complete}{webhook}{type}, 'payment_intent.succeeded', 'one completed, announced as payment_intent.succeeded');
is($step{fail}{webhook}{type}, 'payment_intent.payment_failed', 'one failed, announced as payment_intent.payment_failed');
is($_->{webhook}{status}, 200, "... the webhook took the $_->{form}{outcome} one") for @auth;
unlike(JSON::PP->new->encode(\@auth), qr/sk_test_|whsec_/, 'no secret ever went to the browser side');

stripe_reset();
done_testing();
