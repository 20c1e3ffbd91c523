# GET /api/billing/payment-intent?amount=&invoiceId= and POST {amount, invoiceId?}: a client
# gets the clientSecret of a PaymentIntent (from the Stripe fake) for Stripe.js, only for what
# one of its own unpaid invoices owes; the invoice's live intent is handed out again instead of
# a new one; each client may ask 30 times an hour. GET /api/billing/config answers what
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

sub intent_of {
    my ($id) = @_;
    return scalar psql(q{SELECT coalesce(intent_id, '') FROM invoices WHERE id = } . sql_quote($id) . q{::uuid});
}

sub intent_gets {
    return grep { $_->{method} eq 'GET' && $_->{path} =~ m{^/v1/payment_intents/} } @{ stripe_requests() };
}

my ($ptok, $prov, $ctok, $cli) = billing_practice();
my ($c2tok, $cli2) = client_session($prov->{id}, name => 'Neighbour Client');

# ---- GET ?amount=: the one unpaid invoice of that amount ----------------------------------------------
my $inv = make_invoice($ptok, $cli->{id}, 20.50);
my ($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=20.50', token => $ctok);
success_is($res, 200, 'GET /api/billing/payment-intent?amount=20.50 (an unpaid invoice of 20.50): 200');
is_deeply([sort keys %{ $d // {} }], ['clientSecret'], 'answer is {clientSecret}');
like($d->{clientSecret} // '', qr/^pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+$/, 'a PaymentIntent client secret');
my @posts = stripe_intents_posted();
is(scalar @posts, 1, 'one POST /v1/payment_intents');
my $p = $posts[0] // { form => {}, headers => {} };
is($p->{form}{amount}, '2050', 'amount=2050 (cents)');
is($p->{form}{currency}, 'usd', 'currency=usd');
is($p->{form}{'automatic_payment_methods[enabled]'}, 'true', 'automatic payment methods');
is($p->{form}{'metadata[invoice_id]'}, $inv->{id}, 'metadata[invoice_id] names the invoice (the webhook settles it)');
ok(!exists $p->{form}{confirm} || $p->{form}{confirm} eq 'false', 'not confirmed server-side');
ok(!exists $p->{form}{payment_method}, 'no payment method');
like($p->{headers}{'idempotency-key'} // '', qr/^dp-pi-[0-9a-f]{64}$/, 'an idempotency key of the invoice');
is($p->{headers}{authorization}, "Bearer $secret_key", 'the secret key as Bearer');
like($p->{headers}{'stripe-version'} // '', qr/^\d{4}-\d\d-\d\d$/, 'a pinned Stripe-Version');
is($p->{status}, 200, 'the fake created it');
my $secret1 = $d->{clientSecret} // '';
is($secret1, $p->{response}{client_secret}, "the answer is that intent's client_secret");
my $pi1 = $p->{response}{id} // 'none';
is(intent_of($inv->{id}), $pi1, 'the intent is recorded on the invoice');
audit_single($res, { action => 'payment_intent.create', outcome => 'success', actor_id => $cli->{id},
                     actor_type => 'client', resource_type => 'payment_intent',
                     resource_id => $pi1, client_id => $cli->{id} },
             'one payment_intent.create success event naming the intent');

# ---- the live intent is handed out again -------------------------------------------------------------------
for my $again ([GET => '/api/billing/payment-intent?amount=20.50'],
               [GET => "/api/billing/payment-intent?amount=20.5&invoiceId=$inv->{id}"],
               [POST => '/api/billing/payment-intent', json => { amount => 20.5 }],
               [POST => '/api/billing/payment-intent', json => { amount => 20.5, invoiceId => uc $inv->{id} }]) {
    my ($m, $path, @o) = @$again;
    ($st, $d, $res) = api($m => $path, token => $ctok, @o);
    success_is($res, 200, "$m $path again: 200");
    is($d->{clientSecret}, $secret1, '... the same client secret');
}
is(scalar(stripe_intents_posted()), 1, 'no second PaymentIntent was created');
my @gets = intent_gets();
is(scalar @gets, 4, 'each time the recorded intent was read back from Stripe');
is($gets[0]{path}, "/v1/payment_intents/$pi1", '... by its id');

for my $q (['10', 1000], ['0.5', 50], ['149.99', 14999], ['999999.99', 99999999]) {
    my ($a, $cents) = @$q;
    my $i = make_invoice($ptok, $cli->{id}, $a + 0);
    ($st, $d, $res) = api(GET => "/api/billing/payment-intent?amount=$a", token => $ctok);
    success_is($res, 200, "?amount=$a (an invoice of $a): 200");
    is((stripe_intents_posted())[-1]{form}{amount}, $cents, "... amount=$cents sent");
    is((stripe_intents_posted())[-1]{form}{'metadata[invoice_id]'}, $i->{id}, '... for that invoice');
}

# ---- which invoice: anything but one payable invoice of the caller for that amount is 422 ----------------
my $n = scalar stripe_intents_posted();
my ($twin1, $twin2) = map { make_invoice($ptok, $cli->{id}, 44.44) } 1 .. 2;
my $theirs = make_invoice($ptok, $cli2->{id}, 55.55);
my $paid = make_invoice($ptok, $cli->{id}, 66.66);
($st) = pay_invoice($ctok, $paid->{id}, 'pm_card_visa');
is($st, 200, 'setup: an invoice of 66.66 paid');
$n = scalar stripe_intents_posted();
for my $c (['?amount=33.33', 'amount', 'no unpaid invoice of that amount'],
           ['?amount=44.44', 'invoiceId', 'two unpaid invoices of that amount'],
           ['?amount=55.55', 'amount', 'only another client has an invoice of that amount'],
           ["?amount=55.55&invoiceId=$theirs->{id}", 'invoiceId', 'another client\'s invoice named'],
           ['?amount=66.66', 'amount', 'the invoice of that amount is paid'],
           ["?amount=66.66&invoiceId=$paid->{id}", 'invoiceId', 'a paid invoice named'],
           ["?amount=44.45&invoiceId=$twin1->{id}", 'amount', 'another amount than the invoice owes'],
           ['?amount=44.44&invoiceId=' . uuid_v4(), 'invoiceId', 'an unknown invoice'],
           ['?amount=44.44&invoiceId=abc', 'invoiceId', 'an invoiceId that is no id']) {
    my ($q, $field, $name) = @$c;
    ($st, $d, $res) = api(GET => "/api/billing/payment-intent$q", token => $ctok);
    my $b = error_is($res, 422, 'validation_error', $field, "$name: 422 field $field");
    ok(length($b->{detail} // '') > 10, "... with a detail: " . ($b->{detail} // ''));
}
($st, $d, $res) = api(POST => '/api/billing/payment-intent', token => $ctok,
                      json => { amount => 55.55, invoiceId => $theirs->{id} });
error_is($res, 422, 'validation_error', 'invoiceId', 'POST naming another client\'s invoice: 422 field invoiceId');
is(scalar(stripe_intents_posted()), $n, 'none of these reached Stripe');
is(intent_of($theirs->{id}), '', 'the other client\'s invoice has no intent');
($st, $d, $res) = api(GET => "/api/billing/payment-intent?amount=44.44&invoiceId=$twin2->{id}", token => $ctok);
success_is($res, 200, 'one of two invoices of the same amount, named: 200');
is((stripe_intents_posted())[-1]{form}{'metadata[invoice_id]'}, $twin2->{id}, '... for the one named');

# ---- an intent that succeeded is not replaced --------------------------------------------------------------
my ($est) = stripe_fake(POST => '/__event', { type => 'payment_intent.succeeded', intent => $pi1 });
is($est, 200, 'setup: the first intent succeeded at Stripe (its webhook not yet received)');
$n = scalar stripe_intents_posted();
($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=20.50', token => $ctok);
error_is($res, 409, 'already_paid', undef, 'its invoice: 409 already_paid');
is(scalar(stripe_intents_posted()), $n, '... and no new intent');

# ---- bad amounts: 422, nothing sent ---------------------------------------------------------------------
$n = scalar stripe_intents_posted();
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
my %fail_amount = (down500 => 21, garbage => 22, rate_limited => 23, tampered => 24);
make_invoice($ptok, $cli->{id}, $_) for values %fail_amount;
for my $mode (qw(down500 garbage rate_limited tampered)) {
    stripe_mode($mode);
    ($st, $d, $res) = api(GET => "/api/billing/payment-intent?amount=$fail_amount{$mode}", token => $ctok);
    error_is($res, 502, 'upstream_error', undef, "Stripe in mode $mode: 502 upstream_error");
    unlike($res->content, qr/_secret_|sk_test_/, "... no secret in the answer ($mode)");
    audit_single($res, { action => 'payment_intent.create', outcome => 'failure', actor_id => $cli->{id} },
                 "... a payment_intent.create failure event ($mode)");
}
stripe_mode('ok');
($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=21', token => $ctok);
success_is($res, 200, 'Stripe back: 200');

# ---- 30 requests an hour per client ---------------------------------------------------------------------
{
    my ($rtok, $rcli) = client_session($prov->{id}, name => 'Eager Client');
    make_invoice($ptok, $rcli->{id}, 12.00);
    my @codes = map { (api(GET => '/api/billing/payment-intent?amount=12', token => $rtok))[0] } 1 .. 30;
    is(scalar(grep { $_ == 200 } @codes), 30, '30 requests in an hour: 200 each');
    ($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=12', token => $rtok);
    error_is($res, 429, 'rate_limited', undef, 'the 31st: 429 rate_limited');
    like($res->header('Retry-After') // '', qr/^[1-9]\d*$/, '... with Retry-After');
    audit_single($res, { action => 'payment_intent.create', outcome => 'denied', actor_id => $rcli->{id} },
                 '... a denied payment_intent.create event');
    ($st, $d, $res) = api(POST => '/api/billing/payment-intent', token => $rtok, json => { amount => 12 });
    error_is($res, 429, 'rate_limited', undef, '... POST too');
    ($st, $d, $res) = api(GET => '/api/billing/payment-intent?amount=21', token => $ctok);
    success_is($res, 200, 'another client is not limited by it');
}

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
