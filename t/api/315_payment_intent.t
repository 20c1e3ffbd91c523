# GET /api/billing/payment-intent?amount= and POST {amount}: a client gets a PaymentIntent's
# clientSecret (from the Stripe fake) for Stripe.js; GET /api/billing/config answers what
# Stripe.js needs and nothing secret.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

stripe_reset();

# the Stripe fake is shared by the whole run: leave it reset and in mode ok, even on a die
END { eval { stripe_reset() } }

my $secret_key = do {
    open my $fh, '<', $ENV{DOCPORTAL_STRIPE_KEY_FILE} or die $!;
    local $/;
    my $k = <$fh>;
    $k =~ s/\s+//g;
    $k;
};
my $hook_secret = webhook_secret();

my ($ptok, $prov, $ctok, $cli) = billing_practice();

# ---- GET ?amount= ---------------------------------------------------------------------------------------
my ($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=20.50', token => $ctok);
success_is($res, 200, 'GET /api/billing/payment-intent?amount=20.50: 200');
is_deeply([sort keys %{ $d // {} }], ['clientSecret'], 'answer is {clientSecret}');
like($d->{clientSecret} // '', qr/^pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+$/, 'a PaymentIntent client secret');
my @posts = stripe_intents_posted();
is(scalar @posts, 1, 'one POST /v1/payment_intents');
my $p = $posts[0] // { form => {}, headers => {} };
is($p->{form}{amount}, '2050', 'amount=2050 (cents)');
is($p->{form}{currency}, 'usd', 'currency=usd');
is($p->{form}{'automatic_payment_methods[enabled]'}, 'true', 'automatic payment methods');
ok(!exists $p->{form}{confirm} || $p->{form}{confirm} eq 'false', 'not confirmed server-side');
ok(!exists $p->{form}{payment_method}, 'no payment method');
is($p->{headers}{authorization}, "Bearer $secret_key", 'the secret key as Bearer');
like($p->{headers}{'stripe-version'} // '', qr/^\d{4}-\d\d-\d\d$/, 'a pinned Stripe-Version');
is($p->{status}, 200, 'the fake created it');
is($d->{clientSecret}, $p->{response}{client_secret}, "the answer is that intent's client_secret");
audit_single($res, { action => 'payment_intent.create', outcome => 'success', actor_id => $cli->{id},
                     actor_type => 'client', resource_type => 'payment_intent',
                     resource_id => $p->{response}{id} // 'none', client_id => $cli->{id} },
             'one payment_intent.create success event naming the intent');

for my $q (['10', 1000], ['0.5', 50], ['149.99', 14999], ['999999.99', 99999999]) {
    my ($a, $cents) = @$q;
    ($st, $d, $res) = api(GET => "/api/billing/payment-intent?amount=$a", token => $ctok);
    success_is($res, 200, "?amount=$a: 200");
    is((stripe_intents_posted())[-1]{form}{amount}, $cents, "... amount=$cents sent");
}

# ---- POST {amount} ------------------------------------------------------------------------------------
($st, $d, $res) = api(POST => '/api/billing/payment-intent', token => $ctok, json => { amount => 20.5 });
success_is($res, 200, 'POST /api/billing/payment-intent {amount: 20.5}: 200');
like($d->{clientSecret} // '', qr/^pi_\w+_secret_\w+$/, 'a clientSecret');
is((stripe_intents_posted())[-1]{form}{amount}, '2050', 'amount=2050 sent');
($st, $d, $res) = api(POST => '/api/billing/payment-intent', token => $ctok,
                      json => '{"amount":149.99}');
success_is($res, 200, 'POST {amount: 149.99}: 200');
is((stripe_intents_posted())[-1]{form}{amount}, '14999', 'amount=14999 sent');

# ---- bad amounts: 422, nothing sent ---------------------------------------------------------------------
my $n = scalar stripe_intents_posted();
for my $a ('0', '-1', '0.49', '1.234', 'abc', '', '1000000.01', '20,50', '1e400', 'null', '%2210%22',
           '20.50;x') {
    ($st, $d, $res) = api(GET => "/api/billing/payment-intent?amount=$a", token => $ctok);
    error_is($res, 422, 'validation_error', 'amount', "?amount=$a: 422 field amount");
}
($st, $d, $res) = api(GET => '/api/billing/payment-intent', token => $ctok);
error_is($res, 422, 'validation_error', 'amount', 'no amount: 422 field amount');
for my $b ({ amount => 0 }, { amount => -5 }, { amount => 0.49 }, { amount => 1.234 },
           { amount => '10' }, { amount => 1000000.01 }, {}, { amount => undef }) {
    my $txt = JSON::PP->new->canonical->allow_nonref->encode($b);
    ($st, $d, $res) = api(POST => '/api/billing/payment-intent', token => $ctok, json => $b);
    error_is($res, 422, 'validation_error', 'amount', "POST $txt: 422 field amount");
}
is(scalar(stripe_intents_posted()), $n, 'no refused amount reached Stripe');

# the general money maximum, 1,000,000.00, is more than Stripe takes in one charge (999,999.99):
# refused as an amount, not blamed on Stripe
($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=1000000', token => $ctok);
error_is($res, 422, 'validation_error', 'amount',
         '?amount=1000000 (nothing was asked of Stripe): 422 field amount, not 502');
is(scalar(stripe_intents_posted()), $n, '... and nothing reached Stripe');

# ---- roles ----------------------------------------------------------------------------------------------
($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=20', token => $ptok);
error_is($res, 403, 'forbidden', undef, 'a provider: 403');
audit_single($res, { action => 'payment_intent.create', outcome => 'denied', actor_id => $prov->{id} },
             '... a denied payment_intent.create event');
($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=20');
error_is($res, 401, 'unauthorized', undef, 'no token: 401');
($st, $d, $res) = api(POST => '/api/billing/payment-intent', token => $ctok, body => 'amount=20',
                      ctype => 'application/x-www-form-urlencoded');
error_is($res, 400, 'invalid_json', undef, 'POST with a form body: 400 invalid_json');
is(scalar(stripe_intents_posted()), $n, 'none of these reached Stripe');

# ---- Stripe failing ---------------------------------------------------------------------------------------
for my $mode (qw(down500 garbage rate_limited tampered)) {
    stripe_mode($mode);
    ($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=20', token => $ctok);
    error_is($res, 502, 'upstream_error', undef, "Stripe in mode $mode: 502 upstream_error");
    unlike($res->content, qr/_secret_|sk_test_/, "... no secret in the answer ($mode)");
    audit_single($res, { action => 'payment_intent.create', outcome => 'failure', actor_id => $cli->{id} },
                 "... a payment_intent.create failure event ($mode)");
}
stripe_mode('ok');
($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=20', token => $ctok);
success_is($res, 200, 'Stripe back: 200');

# ---- config -----------------------------------------------------------------------------------------------
for my $who ([$ctok, 'client'], [$ptok, 'provider']) {
    ($st, $d, $res) = api(GET => '/api/billing/config', token => $who->[0]);
    success_is($res, 200, "GET /api/billing/config as $who->[1]: 200");
    is_deeply($d, { publishableKey => 'pk_test_docportal_suite', currency => 'usd',
                    stripeJsUrl => 'https://js.stripe.com/v3/' },
              '{publishableKey: pk_test_docportal_suite, stripeJsUrl: Stripe\'s (the default), currency: usd}');
    unlike($res->content, qr/sk_test_|whsec_|\Q$secret_key\E|\Q$hook_secret\E/, 'no secret in it');
}
# config is for signed-in users (the route is ANY): without a valid token it is a 401 like every
# other such route (200 would do too: a publishable key is public), never a 500
for my $t ([undef, 'no token'], ['not.a.jwt', 'a malformed token']) {
    ($st, $d, $res) = api(GET => '/api/billing/config', (defined $t->[0] ? (token => $t->[0]) : ()));
    if ($st == 200) {
        is_deeply($d, { publishableKey => 'pk_test_docportal_suite', currency => 'usd',
                        stripeJsUrl => 'https://js.stripe.com/v3/' },
                  "GET /api/billing/config with $t->[1]: 200 with the public config");
    }
    else {
        error_is($res, 401, 'unauthorized', undef, "GET /api/billing/config with $t->[1]: 401 unauthorized");
    }
    unlike($res->content, qr/sk_test_|whsec_/, '... no secret either way');
}
($st, $d, $res) = api(POST => '/api/billing/config', token => $ctok, json => {});
error_is($res, 405, 'method_not_allowed', undef, 'POST /api/billing/config: 405');

stripe_reset();
done_testing();
