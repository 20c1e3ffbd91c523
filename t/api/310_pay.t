# POST /api/billing/pay {invoiceId, paymentMethod: {cardToken}}: the invoice's client pays it
# through Stripe's PaymentIntents API (here the suite's Stripe fake, t/fakes/stripe_fake.pl,
# which records what it was sent). Asserts the exact request made, idempotency keys, declines,
# 3-D Secure, Stripe failures and timeouts, double clicks, scope and the audit trail.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Server qw(start_httpd stop_httpd);
use File::Temp qw(tempdir);
use Time::HiRes qw(time);

# the Stripe fake is shared by the whole run: leave it reset and in mode ok, even on a die
END { eval { stripe_reset() } }

stripe_reset();

my $SECRET_KEY = do {
    open my $fh, '<', $ENV{DOCPORTAL_STRIPE_KEY_FILE} or die "stripe key file: $!";
    local $/;
    my $k = <$fh>;
    $k =~ s/\s+//g;
    $k;
};

sub tally {
    my (@res) = @_;
    my %t;
    for my $r (@res) {
        my $code = ref $r->{body} eq 'HASH' ? ($r->{body}{code} // '') : '';
        $t{ $r->{status} . ($code ne '' ? " $code" : '') }++;
    }
    return join ', ', map { "$_ x$t{$_}" } sort keys %t;
}

my ($ptok, $prov, $ctok, $cli) = billing_practice(timeZone => 'America/Chicago');
my ($c2tok, $cli2) = client_session($prov->{id}, name => 'Neighbour Client');
my ($qtok, $prov2) = provider_session(name => 'Dr Elsewhere');
my ($dtok, $cli_b) = client_session($prov2->{id});

# ---- a successful payment ------------------------------------------------------------------------
my $inv = make_invoice($ptok, $cli->{id}, 149.99);
my ($st, $d, $res) = pay_invoice($ctok, $inv->{id}, 'pm_card_visa');
success_is($res, 200, 'pay with pm_card_visa: 200');
is_deeply([sort keys %{ $d // {} }], [qw(success transactionId)], 'answer is {success, transactionId}');
ok(ref $d->{success} && $d->{success} && $res->content =~ /"success":true/, 'success: true');
like($d->{transactionId} // '', qr/^pi_[A-Za-z0-9]+$/, 'transactionId is a PaymentIntent id');
my $pi1 = $d->{transactionId} // '';

my @posts = stripe_intents_for($inv->{id});
is(scalar @posts, 1, 'Stripe received exactly one POST /v1/payment_intents');
is(scalar(stripe_intents_posted()), 1, '... and nothing else was posted');
my $p = $posts[0] // { form => {}, headers => {} };
is_deeply($p->{form}, {
    amount => '14999', currency => 'usd', payment_method => 'pm_card_visa', confirm => 'true',
    'automatic_payment_methods[enabled]' => 'true',
    'automatic_payment_methods[allow_redirects]' => 'never',
    'metadata[invoice_id]' => $inv->{id},
}, 'the form: amount in cents, currency, payment_method, confirm, automatic payment methods without redirects, metadata[invoice_id]')
    or diag explain $p;
is($p->{headers}{authorization}, "Bearer $SECRET_KEY", 'Authorization: Bearer <the configured sk_test_ key>');
like($SECRET_KEY, qr/^sk_test_/, '(the configured key is a test key)');
like($p->{headers}{'stripe-version'} // '', qr/^\d{4}-\d\d-\d\d$/, 'a pinned Stripe-Version');
like($p->{headers}{'content-type'} // '', qr{^application/x-www-form-urlencoded}, 'form content type');
my $key1 = $p->{headers}{'idempotency-key'} // '';
ok(length $key1 >= 16 && length $key1 <= 255 && $key1 !~ /\s/, 'an Idempotency-Key');
is($p->{status}, 200, 'the fake answered 200');
is($p->{response}{status}, 'succeeded', '... a succeeded PaymentIntent');
is($p->{response}{id}, $pi1, 'transactionId is the PaymentIntent Stripe created');
unlike($p->{body}, qr/\Q$cli->{email}\E|Billed Client|\@/i, 'no client name or email sent to Stripe');
audit_single($res, { action => 'invoice.pay', outcome => 'success', actor_id => $cli->{id},
                     actor_type => 'client', resource_type => 'invoice', resource_id => $inv->{id},
                     client_id => $cli->{id} }, 'one invoice.pay success event');

my ($row) = grep { $_->{id} eq $inv->{id} } @{ (invoice_list($ctok))[1] // [] };
is($row->{status}, 'paid', 'the invoice reads paid');
is($row->{paymentMethod}, 'pm_card_visa', 'paymentMethod recorded');
is($row->{transactionId}, $pi1, 'transactionId recorded');
like($row->{paidAt} // '', $TS_RE, 'paidAt set');
is($row->{amount}, 149.99, 'amount unchanged');
my $db = invoice_row($inv->{id});
is($db->{status}, 'paid', 'the row is paid');
is($db->{transaction_id}, $pi1, 'the row has the PaymentIntent id');
my ($prow) = grep { $_->{id} eq $inv->{id} } @{ (invoice_list($ptok))[1] // [] };
is($prow->{status}, 'paid', 'the provider sees it paid');

# paying again: 409 before Stripe is asked
($st, $d, $res) = pay_invoice($ctok, $inv->{id}, 'pm_card_visa');
error_is($res, 409, 'already_paid', undef, 'paying a paid invoice again: 409 already_paid');
($st, $d, $res) = pay_invoice($ctok, $inv->{id}, 'pm_card_mastercard');
error_is($res, 409, 'already_paid', undef, '... also with another card');
is(scalar(stripe_intents_for($inv->{id})), 1, 'no new Stripe request for a paid invoice');
audit_single($res, { action => 'invoice.pay', outcome => 'failure', actor_id => $cli->{id},
                     resource_id => $inv->{id}, client_id => $cli->{id} },
             'already paid: one invoice.pay failure event');
is(invoice_row($inv->{id})->{transaction_id}, $pi1, 'the recorded transaction is unchanged');

# ---- declines, then another card -------------------------------------------------------------------
my $inv2 = make_invoice($ptok, $cli->{id}, 50);
($st, $d, $res) = pay_invoice($ctok, $inv2->{id}, 'pm_card_chargeDeclined');
my $e = error_is($res, 402, 'card_declined', undef, 'a declined card: 402 card_declined');
is($e->{detail}, 'Your card was declined.', "detail is Stripe's message");
is(invoice_row($inv2->{id})->{status}, 'pending', 'the invoice stays pending');
audit_single($res, { action => 'invoice.pay', outcome => 'failure', actor_id => $cli->{id},
                     resource_id => $inv2->{id}, client_id => $cli->{id} },
             'decline: one invoice.pay failure event');
@posts = stripe_intents_for($inv2->{id});
is(scalar @posts, 1, 'one request for the declined attempt');
is($posts[0]{form}{amount}, '5000', 'amount 5000 cents');
is($posts[0]{status}, 402, 'Stripe answered 402');
my $kdecl = $posts[0]{headers}{'idempotency-key'} // '';
isnt($kdecl, $key1, 'another invoice: another Idempotency-Key');

# the same card again: the same key, and Stripe replays its answer instead of charging
($st, $d, $res) = pay_invoice($ctok, $inv2->{id}, 'pm_card_chargeDeclined');
$e = error_is($res, 402, 'card_declined', undef, 'retrying the declined card: 402 again');
@posts = stripe_intents_for($inv2->{id});
is(scalar @posts, 2, 'the retry was sent');
is($posts[1]{headers}{'idempotency-key'}, $kdecl, 'with the same Idempotency-Key');
ok($posts[1]{replayed}, 'Stripe replayed the first answer (nothing executed twice)');

($st, $d, $res) = pay_invoice($ctok, $inv2->{id}, 'pm_card_chargeDeclinedInsufficientFunds');
$e = error_is($res, 402, 'card_declined', undef, 'insufficient funds: 402 card_declined');
is($e->{detail}, 'Your card has insufficient funds.', "... with Stripe's own message");

($st, $d, $res) = pay_invoice($ctok, $inv2->{id}, 'pm_card_visa');
success_is($res, 200, 'a new card after the decline: 200');
ok($d->{success}, '... success');
@posts = stripe_intents_for($inv2->{id});
is(scalar @posts, 4, 'four attempts reached Stripe for this invoice');
my %keys = map { ($_->{headers}{'idempotency-key'} // '') => 1 } @posts;
is(scalar keys %keys, 3, 'three cards, three Idempotency-Keys');
isnt($posts[3]{headers}{'idempotency-key'}, $kdecl, "the new card's key differs from the declined card's");
ok(!$posts[3]{replayed}, 'the new card was charged, not replayed');
is(invoice_row($inv2->{id})->{status}, 'paid', 'the invoice is paid');
is(invoice_row($inv2->{id})->{payment_method}, 'pm_card_visa', 'paid with the new card');

# ---- 3-D Secure and other non-final states -------------------------------------------------------------
my $inv3 = make_invoice($ptok, $cli->{id}, 75.5);
($st, $d, $res) = pay_invoice($ctok, $inv3->{id}, 'pm_card_authenticationRequired');
success_is($res, 200, 'a card that needs authentication: 200');
ok(defined $d->{success} && !$d->{success} && $res->content =~ /"success":false/, 'success: false');
ok($d->{requiresAction} && $res->content =~ /"requiresAction":true/, 'requiresAction: true');
like($d->{clientSecret} // '', qr/^pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+$/, 'a clientSecret');
@posts = stripe_intents_for($inv3->{id});
is($d->{clientSecret}, $posts[0]{response}{client_secret}, "it is the PaymentIntent's client_secret");
is($posts[0]{form}{amount}, '7550', 'amount 7550 cents');
is(invoice_row($inv3->{id})->{status}, 'pending', 'the invoice stays pending until Stripe confirms');
my $a3 = audit_single($res, { action => 'invoice.pay', actor_id => $cli->{id},
                              resource_id => $inv3->{id} }, 'requires_action: one invoice.pay event');
like($a3->{outcome} // '', qr/^(?:success|failure)$/, '... with an outcome');

my $inv4 = make_invoice($ptok, $cli->{id}, 80);
($st, $d, $res) = pay_invoice($ctok, $inv4->{id}, 'pm_card_threeDSecure2Required');
ok($st == 200 && !$d->{success} && $d->{requiresAction} && $d->{clientSecret}, '3DS2 card: requiresAction');
($st, $d, $res) = pay_invoice($ctok, $inv4->{id}, 'pm_card_fake_processing');
success_is($res, 200, 'a payment still processing: 200');
ok(defined $d->{success} && !$d->{success}, '... success false');
is(invoice_row($inv4->{id})->{status}, 'pending', '... the invoice stays pending');

# ---- Stripe failing ----------------------------------------------------------------------------------
my $inv5 = make_invoice($ptok, $cli->{id}, 42);
my $mark = error_log_mark();
for my $mode (qw(down500 rate_limited garbage)) {
    stripe_mode($mode);
    ($st, $d, $res) = pay_invoice($ctok, $inv5->{id}, 'pm_card_visa');
    error_is($res, 502, 'upstream_error', undef, "Stripe in mode $mode: 502 upstream_error");
    unlike($res->content, qr/sk_test_|pm_card_visa|_secret_/, "... nothing secret in the answer ($mode)");
    is(invoice_row($inv5->{id})->{status}, 'pending', "... the invoice stays pending ($mode)");
    audit_single($res, { action => 'invoice.pay', outcome => 'failure', actor_id => $cli->{id},
                         resource_id => $inv5->{id} }, "... one invoice.pay failure event ($mode)");
}
stripe_mode('ok');
my $log = error_log_since($mark, qr/DP07001/);
like($log, qr/DP07001: Stripe payment for invoice \Q$inv5->{id}\E failed/, 'the Stripe failures are logged');
unlike($log, qr/\Q$SECRET_KEY\E/, 'the secret key is never logged');
($st, $d, $res) = pay_invoice($ctok, $inv5->{id}, 'pm_card_visa');
success_is($res, 200, 'Stripe back: the same card pays');
ok($d->{success}, '... success');
@posts = stripe_intents_for($inv5->{id});
is(scalar @posts, 4, 'four requests for this invoice');
is(scalar(grep { ($_->{response}{status} // '') eq 'succeeded' } @posts), 1, 'exactly one succeeded');
is(invoice_row($inv5->{id})->{status}, 'paid', 'the invoice is paid');

# a PaymentIntent that is not the one asked for settles nothing
my $inv6 = make_invoice($ptok, $cli->{id}, 60);
stripe_mode('tampered');
($st, $d, $res) = pay_invoice($ctok, $inv6->{id}, 'pm_card_visa');
stripe_mode('ok');
error_is($res, 502, 'upstream_error', undef, 'Stripe answers an intent for another amount: 502');
is(invoice_row($inv6->{id})->{status}, 'pending', '... the invoice is not marked paid');

# slow, within the module's 20 s timeout: the payment waits and goes through
my $inv7 = make_invoice($ptok, $cli->{id}, 30);
stripe_mode('slow');
my $t0 = time;
($st, $d, $res) = pay_invoice($ctok, $inv7->{id}, 'pm_card_visa');
my $took = time - $t0;
stripe_mode('ok');
success_is($res, 200, sprintf('Stripe slow (%.1f s, fake delay 3 s): 200', $took));
ok($took >= 2.5, 'the module waited for Stripe');
is(invoice_row($inv7->{id})->{status}, 'paid', '... paid');

# ---- scope and roles -----------------------------------------------------------------------------------
my $inv8 = make_invoice($ptok, $cli->{id}, 99);
my $n = scalar stripe_intents_posted();
($st, $d, $res) = pay_invoice($c2tok, $inv8->{id}, 'pm_card_visa');
error_is($res, 404, 'not_found', undef, "another client's invoice (same practice): 404");
audit_single($res, { action => 'invoice.pay', outcome => 'denied', actor_id => $cli2->{id},
                     resource_id => $inv8->{id} }, '... one denied invoice.pay event');
($st, $d, $res) = pay_invoice($dtok, $inv8->{id}, 'pm_card_visa');
error_is($res, 404, 'not_found', undef, "another practice's client: 404");
($st, $d, $res) = pay_invoice($ctok, uuid_v4(), 'pm_card_visa');
error_is($res, 404, 'not_found', undef, 'an unknown invoice: 404');
audit_single($res, { action => 'invoice.pay', outcome => 'denied', actor_id => $cli->{id} },
             '... one denied invoice.pay event');
($st, $d, $res) = pay_invoice($ptok, $inv8->{id}, 'pm_card_visa');
error_is($res, 403, 'forbidden', undef, 'the provider paying: 403');
audit_single($res, { action => 'invoice.pay', outcome => 'denied', actor_id => $prov->{id} },
             '... one denied invoice.pay event');
($st, $d, $res) = pay_invoice($qtok, $inv8->{id}, 'pm_card_visa');
error_is($res, 403, 'forbidden', undef, 'another provider paying: 403');
($st, $d, $res) = pay_invoice(undef, $inv8->{id}, 'pm_card_visa');
error_is($res, 401, 'unauthorized', undef, 'no token: 401');

# validation, before Stripe
($st, $d, $res) = api(POST => '/api/billing/pay', token => $ctok,
                      json => { paymentMethod => { cardToken => 'pm_card_visa' } });
error_is($res, 422, 'validation_error', 'invoiceId', 'invoiceId missing: 422');
($st, $d, $res) = api(POST => '/api/billing/pay', token => $ctok, json => { invoiceId => $inv8->{id} });
error_is($res, 422, 'validation_error', qr/^paymentMethod/, 'paymentMethod missing: 422');
($st, $d, $res) = api(POST => '/api/billing/pay', token => $ctok,
                      json => { invoiceId => $inv8->{id}, paymentMethod => {} });
error_is($res, 422, 'validation_error', qr/^paymentMethod/, 'cardToken missing: 422');
($st, $d, $res) = pay_invoice($ctok, $inv8->{id}, "pm_card_visa&amount=1");
error_is($res, 422, 'validation_error', qr/^paymentMethod/, 'a card token that would inject form fields: 422');
($st, $d, $res) = pay_invoice($ctok, $inv8->{id}, 'pm_unknown_card');
ok($st == 402 || $st == 502 || $st == 422, "a payment method Stripe does not know: refused ($st)");
is(invoice_row($inv8->{id})->{status}, 'pending', 'the invoice is still pending');
ok(!(grep { ($_->{form}{amount} // '') =~ /&/ || exists $_->{form}{'amount=1'} } stripe_intents_posted()),
   'nothing injected reached Stripe');
is(scalar(grep { $_->{form}{payment_method} ne 'pm_unknown_card' } stripe_intents_for($inv8->{id})), 0,
   'none of the refused requests reached Stripe');

# overdue invoices can be paid
my $inv9 = make_invoice($ptok, $cli->{id}, 64);
invoice_to_overdue($inv9->{id}, 3);
($st, $d, $res) = pay_invoice($ctok, $inv9->{id}, 'pm_card_amex');
success_is($res, 200, 'an overdue invoice can be paid');
is(invoice_row($inv9->{id})->{status}, 'paid', '... and is paid');

# the largest invoice: 999,999.99, the most a card payment can be, is payable
my $big = make_invoice($ptok, $cli->{id}, 999999.99);
($st, $d, $res) = pay_invoice($ctok, $big->{id}, 'pm_card_visa');
success_is($res, 200, 'an invoice of 999,999.99 is paid');
is(invoice_row($big->{id})->{status}, 'paid', '... and is paid');

# ---- double click --------------------------------------------------------------------------------------
for my $cards (['pm_card_visa', 'pm_card_visa'], ['pm_card_visa', 'pm_card_mastercard'],
               [('pm_card_visa') x 3, ('pm_card_mastercard') x 3]) {
    my $label = join '+', @$cards;
    my $invr = make_invoice($ptok, $cli->{id}, 88.88);
    my @r = race(map { { method => 'POST', path => '/api/billing/pay', token => $ctok,
                         json => { invoiceId => $invr->{id}, paymentMethod => { cardToken => $_ } } } }
                 @$cards);
    my @ok = grep { $_->{status} == 200 && ref $_->{body} eq 'HASH' && $_->{body}{success} } @r;
    # the others are refused at once while the first is with Stripe, or find it paid after
    my @paid = grep { $_->{status} == 409 && ($_->{body}{code} // '') =~ /^(?:already_paid|payment_in_progress)$/ } @r;
    is(scalar @ok, 1, "concurrent payments ($label): exactly one success") or diag tally(@r);
    is(scalar @paid, @$cards - 1, "... the others 409 payment_in_progress or already_paid") or diag tally(@r);
    my @succeeded = grep { ($_->{response}{status} // '') eq 'succeeded' } stripe_intents_for($invr->{id});
    my %intents = map { $_->{response}{id} => 1 } @succeeded;
    is(scalar keys %intents, 1, '... Stripe charged once (one succeeded PaymentIntent)');
    is(invoice_row($invr->{id})->{transaction_id}, $ok[0] ? $ok[0]{body}{transactionId} : 'none',
       '... the invoice records the winning PaymentIntent');
    my @ev = map { audit_events_for($_->{request_id}) } @r;
    is(scalar(grep { $_->{action} eq 'invoice.pay' } @ev), scalar @$cards, '... every attempt audited');
}

# ---- a second httpd: Stripe unreachable, Stripe too slow, no Stripe key -------------------------------
# "slow" talks to a private Stripe fake that answers after 24 s, past the module's 20 s timeout,
# yet executes the charge: the retry must get Stripe's stored answer, not charge again.
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $dead_port = DocPortal::Server::free_port();
my $slow_pid = open(my $slow_fh, '-|', 'perl', "$FindBin::Bin/../fakes/stripe_fake.pl", '--port', '0',
                    '--mode', 'slow', '--delay', '24') or die "slow fake: $!";
my ($slow_port) = (scalar(<$slow_fh>) // '') =~ /^ready (\d+)/ or die 'the slow fake did not start';
my %srv;
for my $cfg (['dead', "DocPortalStripeAPIBase http://127.0.0.1:$dead_port"],
             ['slow', "DocPortalStripeAPIBase http://127.0.0.1:$slow_port"],
             ['nokey', undef]) {
    my ($name, $base) = @$cfg;
    $srv{$name} = start_httpd(
        name => $name, dir => $dir, params => $ENV{DOCPORTAL_DBDPARAMS}, secs => 15,
        until => \&DocPortal::Server::listening,
        extra => join("\n", "DocPortalJWTSecretFile $ENV{DOCPORTAL_JWT_SECRET_FILE}",
                      'DocPortalRequireTLS Off',
                      (defined $base ? ("DocPortalStripeSecretKeyFile $ENV{DOCPORTAL_STRIPE_KEY_FILE}",
                                        $base) : ())));
    ok(!defined $srv{$name}{status}, "second httpd '$name' starts") or diag $srv{$name}{log};
}
my $inv10 = make_invoice($ptok, $cli->{id}, 12.34);
my $payload = { invoiceId => $inv10->{id}, paymentMethod => { cardToken => 'pm_card_visa' } };
$t0 = time;
($st, $d) = api_at($srv{dead}{port}, POST => '/api/billing/pay', token => $ctok, json => $payload);
is($st, 502, sprintf('Stripe unreachable (connection refused): 502 (%.1f s)', time - $t0));
is($d->{code}, 'upstream_error', '... upstream_error');
is(invoice_row($inv10->{id})->{status}, 'pending', '... the invoice stays pending');
($st, $d) = api_at($srv{nokey}{port}, POST => '/api/billing/pay', token => $ctok, json => $payload);
is($st, 502, 'payments not configured: 502');
is($d->{code}, 'upstream_error', '... upstream_error');
($st, $d) = api_at($srv{nokey}{port}, POST => '/api/billing/pay', token => $ctok,
                   json => { %$payload, invoiceId => $inv->{id} });
is($st, 409, 'payments not configured, a paid invoice: still 409');

require HTTP::Tiny;
my $tiny = HTTP::Tiny->new(timeout => 45);   # api_at's client gives up at 20 s
my $slow_pay = sub {
    my $r = $tiny->request(POST => "http://127.0.0.1:$srv{slow}{port}/api/billing/pay",
        { headers => { Authorization => "Bearer $ctok", 'Content-Type' => 'application/json' },
          content => JSON::PP::encode_json($payload) });
    return ($r->{status}, eval { JSON::PP::decode_json($r->{content}) } // {});
};
my $slow_log = sub {
    my $r = $tiny->get("http://127.0.0.1:$slow_port/__requests");
    return eval { JSON::PP::decode_json($r->{content}) } // [];
};
$t0 = time;
($st, $d) = $slow_pay->();
$took = time - $t0;
is($st, 502, sprintf('Stripe slower than the timeout: 502 (%.1f s)', $took));
is($d->{code}, 'upstream_error', '... upstream_error');
ok($took >= 15 && $took < 24, '... after the module\'s 20 s timeout, before Stripe answered');
is(invoice_row($inv10->{id})->{status}, 'pending', '... the invoice stays pending');
my $sl = $slow_log->();   # waits for the fake to finish the late answer
is(scalar @$sl, 1, 'the slow Stripe received the payment');
is($sl->[0]{response}{status}, 'succeeded', '... and executed it after the module had given up');
$tiny->post("http://127.0.0.1:$slow_port/__mode?mode=ok");
($st, $d) = $slow_pay->();
is($st, 200, 'the client retries with the same card: 200');
ok($d->{success}, '... success');
$sl = $slow_log->();
is(scalar @$sl, 2, 'the retry reached Stripe');
is($sl->[1]{headers}{'idempotency-key'}, $sl->[0]{headers}{'idempotency-key'}, '... with the same Idempotency-Key');
ok($sl->[1]{replayed}, '... and Stripe replayed the first charge instead of charging again');
is($d->{transactionId}, $sl->[0]{response}{id}, 'the invoice is settled with the one PaymentIntent');
is(invoice_row($inv10->{id})->{status}, 'paid', 'the invoice is paid');
kill 'TERM', $slow_pid;
close $slow_fh;
for my $name (sort keys %srv) {
    stop_httpd($srv{$name});
    unlike($srv{$name}{log}, qr/\[docportal:error\]/, "no error-level lines from '$name'");
    unlike($srv{$name}{log}, qr/\Q$SECRET_KEY\E/, "the secret key is not in the log of '$name'");
}
like($srv{dead}{log}, qr/DP07001/, 'the unreachable Stripe is logged');
like($srv{slow}{log}, qr/DP07001/, 'the timeout is logged');

# ---- the invoice id as the client spelt it -----------------------------------------------------------
# UUIDs are case-insensitive: the same invoice in upper case is the same invoice, so the same card
# must send the same Idempotency-Key (a retry after a lost answer must not charge twice), and
# Stripe's metadata and the audit trail name the invoice by its canonical id.
my $inv11 = make_invoice($ptok, $cli->{id}, 21);
($st, $d, $res) = pay_invoice($ctok, $inv11->{id}, 'pm_card_authenticationRequired');
ok($st == 200 && $d->{requiresAction}, 'a payment waiting for 3-D Secure');
($st, $d, $res) = pay_invoice($ctok, uc $inv11->{id}, 'pm_card_authenticationRequired');
ok($st == 200 && $d->{requiresAction}, 'the same retried with the invoice id in upper case');
my @p11 = grep { lc($_->{form}{'metadata[invoice_id]'} // '') eq $inv11->{id} } stripe_intents_posted();
is(scalar @p11, 2, 'both reached Stripe');
is($p11[1]{headers}{'idempotency-key'}, $p11[0]{headers}{'idempotency-key'},
   'same invoice, same card: the same Idempotency-Key whatever the case of the id');
is($p11[1]{form}{'metadata[invoice_id]'}, $inv11->{id}, "metadata[invoice_id] is the invoice's id as stored");
audit_single($res, { action => 'invoice.pay', resource_id => $inv11->{id} },
             'the audit event names the invoice by its id as stored');
is(scalar(keys %{ { map { ($_->{response}{id} // '') => 1 } @p11 } }), 1, 'one PaymentIntent, not two');

stripe_reset();
done_testing();
