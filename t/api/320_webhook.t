# POST /api/billing/webhook: Stripe's events, signed as Stripe signs them (Stripe-Signature:
# t=<unix time>,v1=<hex HMAC-SHA256(webhook secret, "<t>.<raw body>")>, computed here with
# Digest::SHA). Bad, missing and stale signatures are 400 invalid_signature; events settle
# idempotently by id; unknown types are acknowledged and ignored; a payment_intent.succeeded
# settles only the invoice it names, for its exact amount and currency.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP;

# the Stripe fake is shared by the whole run: leave it reset and in mode ok, even on a die
END { eval { stripe_reset() } }

stripe_reset();
my $JSON = JSON::PP->new->canonical->utf8;
my $secret = webhook_secret();
like($secret, qr/^whsec_/, 'the suite has a webhook signing secret');

sub event_count {
    my ($id) = @_;
    return scalar psql(q{SELECT count(*) FROM stripe_events WHERE id = } . sql_quote($id));
}

my ($ptok, $prov, $ctok, $cli) = billing_practice();

# ---- a real flow: 3-D Secure at pay time, then Stripe's payment_intent.succeeded --------------------
my $inv = make_invoice($ptok, $cli->{id}, 149.99);
my ($st, $d, $res) = pay_invoice($ctok, $inv->{id}, 'pm_card_authenticationRequired');
ok($st == 200 && $d->{requiresAction}, 'pay with a 3-D Secure card: requiresAction');
my $pi = $d->{transactionId} // (map { $_->{response}{id} } stripe_intents_posted())[-1];
like($pi // '', qr/^pi_/, 'the PaymentIntent id');
is(invoice_row($inv->{id})->{status}, 'pending', 'pending until Stripe says otherwise');
my ($est, $event) = stripe_fake(POST => '/__event', { type => 'payment_intent.succeeded', intent => $pi });
is($est, 200, 'the fake made the payment_intent.succeeded event');
is($event->{data}{object}{metadata}{invoice_id}, $inv->{id}, '... naming the invoice in metadata');
is($event->{data}{object}{amount_received}, 14999, '... for 14999 cents');
my $payload = $JSON->encode($event);

my $t = time;
my $sig = "t=$t,v1=" . hmac_sha256_hex("$t.$payload", $secret);
($st, $d, $res) = webhook_post($payload, $sig);
success_is($res, 200, 'a correctly signed payment_intent.succeeded: 200');
my $row = invoice_row($inv->{id});
is($row->{status}, 'paid', 'the invoice is paid');
is($row->{transaction_id}, $pi, 'transactionId is the PaymentIntent');
is($row->{payment_method}, 'pm_card_authenticationRequired', 'paymentMethod is the intent\'s');
ok(length $row->{paid_at}, 'paidAt set');
is(event_count($event->{id}), '1', 'stripe_events records the event id');
is(scalar psql(q{SELECT type FROM stripe_events WHERE id = } . sql_quote($event->{id})),
   'payment_intent.succeeded', '... and its type');
audit_single($res, { action => 'billing.webhook', outcome => 'success', actor_type => 'anonymous',
                     resource_type => 'invoice', resource_id => $inv->{id}, client_id => $cli->{id} },
             'one billing.webhook success event about the invoice and its client');
my ($listed) = grep { $_->{id} eq $inv->{id} } @{ (invoice_list($ctok))[1] // [] };
is($listed->{status}, 'paid', 'the client sees it paid');
($st, $d, $res) = pay_invoice($ctok, $inv->{id}, 'pm_card_visa');
error_is($res, 409, 'already_paid', undef, 'paying it now: 409 already_paid');

# the same event again: 200, nothing changes
($st, $d, $res) = webhook_post($payload, $sig);
success_is($res, 200, 'the same delivery again: 200');
($st, $d, $res) = webhook_post($payload, stripe_sign($payload, t => time + 1));
success_is($res, 200, 'the same event re-signed (a Stripe retry): 200');
is_deeply(invoice_row($inv->{id}), $row, 'nothing changed (paidAt, updatedAt, transaction)');
is(event_count($event->{id}), '1', 'the event id is recorded once');

# ---- signatures -----------------------------------------------------------------------------------
my $inv2 = make_invoice($ptok, $cli->{id}, 50);
my ($eid2, $p2) = stripe_event_json(invoice => $inv2->{id}, amount => 5000);
my $before = psql(q{SELECT count(*) FROM stripe_events});
my @bad = (
    [undef, 'no Stripe-Signature header'],
    ['', 'an empty header'],
    ['garbage', 'a header that is not t=...,v1=...'],
    ["t=$t", 'a timestamp and no v1'],
    ["v1=" . hmac_sha256_hex("$t.$p2", $secret), 'a v1 and no timestamp'],
    ["t=$t,v1=" . hmac_sha256_hex("$t.$p2", 'whsec_not_the_secret'), 'signed with another secret'],
    ["t=$t,v1=" . hmac_sha256_hex("$t.$payload", $secret), 'the signature of another payload'],
    ["t=" . ($t + 1) . ",v1=" . hmac_sha256_hex("$t.$p2", $secret), 'another timestamp than signed'],
    ["t=$t,v1=" . hmac_sha256_hex($p2, $secret), 'HMAC over the payload alone'],
    ["t=$t,v0=" . hmac_sha256_hex("$t.$p2", $secret), 'only a v0 signature'],
    ["t=$t,v1=" . substr(hmac_sha256_hex("$t.$p2", $secret), 0, 32), 'a truncated signature'],
    ["t=$t,v1=", 'an empty v1'],
    (map { my $old = $t - $_; ["t=$old,v1=" . hmac_sha256_hex("$old.$p2", $secret), "a genuine signature $_ s old"] }
         360, 86400),
    (map { my $new = $t + $_; ["t=$new,v1=" . hmac_sha256_hex("$new.$p2", $secret), "a genuine signature $_ s ahead"] }
         360),
);
for my $b (@bad) {
    my ($h, $name) = @$b;
    ($st, $d, $res) = webhook_post($p2, $h);
    error_is($res, 400, 'invalid_signature', undef, "$name: 400 invalid_signature");
}
audit_single($res, { action => 'billing.webhook', outcome => 'denied', actor_type => 'anonymous' },
             'a refused delivery: one denied billing.webhook event');
is(invoice_row($inv2->{id})->{status}, 'pending', 'no refused delivery settled the invoice');
is(psql(q{SELECT count(*) FROM stripe_events}), $before, 'no refused delivery recorded an event id');
($st, $d, $res) = webhook_post($p2 . ' ', stripe_sign($p2));
error_is($res, 400, 'invalid_signature', undef, 'a body changed after signing (one byte added): 400');

# within the 5-minute tolerance, several v1 values, another scheme, spaces: accepted
my $t4 = time - 240;
my $good4 = hmac_sha256_hex("$t4.$p2", $secret);
my $wrong = hmac_sha256_hex("$t4.$p2", 'whsec_rotated_out');
($st, $d, $res) = webhook_post($p2, "t=$t4,v1=$wrong,v1=$good4,v0=abcdef");
success_is($res, 200, 'several v1 values (one valid, 4 minutes old) and a v0: 200');
is(invoice_row($inv2->{id})->{status}, 'paid', 'the event the refusals carried settles now (its id was not burnt)');
is(event_count($eid2), '1', 'its id is recorded');

my ($eid3, $p3) = stripe_event_json(type => 'customer.created');
my $t3 = time;
($st, $d, $res) = webhook_post($p3, "v1=" . uc(hmac_sha256_hex("$t3.$p3", $secret)) . ", t=$t3");
success_is($res, 200, 'v1 before t, upper-case hex, a space after the comma: 200');

# ---- event types --------------------------------------------------------------------------------------
my $inv4 = make_invoice($ptok, $cli->{id}, 80);
my $snap4 = invoice_row($inv4->{id});
for my $type ('customer.created', 'charge.succeeded', 'payment_intent.created',
              'payment_intent.requires_action', 'invoice.paid') {
    my ($eid, $pl) = stripe_event_json(type => $type, invoice => $inv4->{id}, amount => 8000,
                                       received => 8000, status => 'succeeded');
    ($st, $d, $res) = webhook_post($pl, stripe_sign($pl));
    success_is($res, 200, "unknown or ignored event type $type: 200");
}
is_deeply(invoice_row($inv4->{id}), $snap4, 'none of them changed the invoice');

my ($eidf, $pf) = stripe_event_json(type => 'payment_intent.payment_failed', invoice => $inv4->{id},
                                    amount => 8000);
($st, $d, $res) = webhook_post($pf, stripe_sign($pf));
success_is($res, 200, 'payment_intent.payment_failed: 200');
is_deeply(invoice_row($inv4->{id}), $snap4, 'the invoice stays pending, unchanged');
is(event_count($eidf), '1', 'the failed event is recorded');
my $af = audit_single($res, { action => 'billing.webhook', actor_type => 'anonymous' },
                      'payment_failed: one billing.webhook event');

# amount or currency not the invoice's: acknowledged, never settled
for my $case ([{ amount => 7999, received => 7999 }, 'one cent less'],
              [{ amount => 8001, received => 8001 }, 'one cent more'],
              [{ amount => 80, received => 80 }, 'the amount in dollars instead of cents'],
              [{ amount => 8000, received => 0 }, 'nothing received'],
              [{ amount => 8000, received => 8000, currency => 'eur' }, 'another currency']) {
    my ($o, $name) = @$case;
    my ($eid, $pl) = stripe_event_json(invoice => $inv4->{id}, %$o);
    ($st, $d, $res) = webhook_post($pl, stripe_sign($pl));
    success_is($res, 200, "payment_intent.succeeded for $name: 200");
    is(invoice_row($inv4->{id})->{status}, 'pending', "... the invoice stays pending ($name)");
}
for my $case ([uuid_v4(), 'an unknown invoice'], ['not-a-uuid', 'an invoice id that is no UUID'],
              [undef, 'no invoice in metadata']) {
    my ($inv_id, $name) = @$case;
    my ($eid, $pl) = stripe_event_json(invoice => $inv_id, amount => 8000);
    ($st, $d, $res) = webhook_post($pl, stripe_sign($pl));
    success_is($res, 200, "payment_intent.succeeded for $name: 200");
}
is_deeply(invoice_row($inv4->{id}), $snap4, 'the invoice is still untouched');
my ($eid5, $p5) = stripe_event_json(invoice => $inv4->{id}, amount => 8000, pm => 'pm_card_mastercard');
($st, $d, $res) = webhook_post($p5, stripe_sign($p5), ctype => 'application/json; charset=utf-8');
success_is($res, 200, 'the matching event (application/json; charset=utf-8): 200');
$row = invoice_row($inv4->{id});
is($row->{status}, 'paid', 'now the invoice is paid');
is($row->{payment_method}, 'pm_card_mastercard', 'with the payment method of the event');
like($row->{transaction_id}, qr/^pi_/, 'and its PaymentIntent');
my ($eid6, $p6) = stripe_event_json(invoice => $inv4->{id}, amount => 8000);
($st, $d, $res) = webhook_post($p6, stripe_sign($p6));
success_is($res, 200, 'another succeeded event for the paid invoice: 200');
is_deeply(invoice_row($inv4->{id}), $row, '... the first settlement stands');

# an overdue invoice is still pending underneath: the webhook settles it
my $inv8 = make_invoice($ptok, $cli->{id}, 33.33);
invoice_to_overdue($inv8->{id}, 5);
my ($eid8, $p8) = stripe_event_json(invoice => $inv8->{id}, amount => 3333);
($st, $d, $res) = webhook_post($p8, stripe_sign($p8));
success_is($res, 200, 'succeeded for an overdue invoice: 200');
is(invoice_row($inv8->{id})->{status}, 'paid', '... it is paid');

# the same event delivered eight times at once: all acknowledged, settled once
my $inv9 = make_invoice($ptok, $cli->{id}, 19.19);
my ($eid9, $p9) = stripe_event_json(invoice => $inv9->{id}, amount => 1919);
my $sig9 = stripe_sign($p9);
my $hostport = Apache::TestRequest::hostport();
my @kids;
for (1 .. 8) {
    pipe(my $r, my $w) or die $!;
    my $pid = fork // die $!;
    if (!$pid) {
        close $r;
        my ($s) = raw_http("POST /api/billing/webhook HTTP/1.1\r\nHost: $hostport\r\nConnection: close\r\n"
                         . "Content-Type: application/json\r\nStripe-Signature: $sig9\r\n"
                         . 'Content-Length: ' . length($p9) . "\r\n\r\n", [$p9]);
        print {$w} $s;
        close $w;
        require POSIX;
        POSIX::_exit(0);
    }
    close $w;
    push @kids, [$pid, $r];
}
my @codes = map { my ($pid, $r) = @$_; my $c = <$r> // ''; close $r; waitpid $pid, 0; $c } @kids;
is_deeply(\@codes, [(200) x 8], 'eight concurrent deliveries of one event: all 200');
is(event_count($eid9), '1', 'the event is recorded once');
is(invoice_row($inv9->{id})->{status}, 'paid', 'the invoice is paid');
is(psql(q{SELECT count(*) FROM audit_events WHERE action = 'billing.webhook' AND resource_id = }
      . sql_quote($inv9->{id})), '8', 'every delivery is audited');

# non-ASCII bytes are signed as bytes
my $inv7 = make_invoice($ptok, $cli->{id}, 12.5);
my ($eid7, $p7) = stripe_event_json(invoice => $inv7->{id}, amount => 1250);
$p7 =~ s/^\{/{"note":"Zo\x{c3}\x{ab} \x{e2}\x{82}\x{ac}",/;
($st, $d, $res) = webhook_post($p7, stripe_sign($p7));
success_is($res, 200, 'a payload with UTF-8 bytes: 200');
is(invoice_row($inv7->{id})->{status}, 'paid', '... settled');

# ---- body size: one event, up to 256 KiB ------------------------------------------------------------------
{
    my $invb = make_invoice($ptok, $cli->{id}, 42.00);
    my (undef, $bjson) = stripe_event_json(invoice => $invb->{id}, amount => 4200);
    my $ev = $JSON->decode($bjson);
    my $o = $ev->{data}{object};
    # the most metadata Stripe keeps: 50 keys of up to 40 characters, values of up to 500
    $o->{metadata}{ sprintf 'practice_note_%026d', $_ } = 'm' x 500 for 1 .. 49;
    $o->{description} = 'd' x 1000;
    # the charges list that API versions before 2022-11-15 embed in a PaymentIntent
    my %card = (brand => 'visa', last4 => '4242', exp_month => 12, exp_year => 2030,
                country => 'US', funding => 'credit', fingerprint => 'Xt5EWLLDS7FJjR1c',
                checks => { cvc_check => 'pass', address_line1_check => undef, address_postal_code_check => 'pass' },
                network => 'visa', three_d_secure => undef, wallet => undef);
    $o->{charges} = {
        object => 'list', has_more => JSON::PP::false(), total_count => 10,
        url => "/v1/charges?payment_intent=$o->{id}",
        data => [map { {
            id => "ch_3Kq${_}abcdefghijklmnop", object => 'charge', amount => 4200,
            amount_captured => 4200, amount_refunded => 0, currency => 'usd', captured => JSON::PP::true(),
            paid => JSON::PP::true(), status => 'succeeded', payment_intent => $o->{id},
            payment_method => 'pm_card_visa', created => time, livemode => JSON::PP::false(),
            billing_details => { name => 'Billed Client', email => 'billed@example.com', phone => undef,
                                 address => { city => 'Springfield', country => 'US', line1 => '1 Main St',
                                              line2 => undef, postal_code => '12345', state => 'IL' } },
            outcome => { network_status => 'approved_by_network', reason => undef, risk_level => 'normal',
                         risk_score => 32, seller_message => 'Payment complete.', type => 'authorized' },
            payment_method_details => { type => 'card', card => \%card },
            receipt_url => 'https://pay.stripe.com/receipts/payment/' . ('C' x 120),
            metadata => {}, refunds => { object => 'list', data => [], has_more => JSON::PP::false(),
                                         total_count => 0, url => "/v1/charges/ch_$_/refunds" },
        } } 1 .. 10],
    };
    my $big = $JSON->encode($ev);
    ok(length($big) > 40 * 1024 && length($big) < 256 * 1024,
       'setup: a large realistic event of ' . length($big) . ' bytes');
    ($st, $d, $res) = webhook_post($big, stripe_sign($big));
    success_is($res, 200, 'a large event below the cap: 200');
    is(invoice_row($invb->{id})->{status}, 'paid', '... settled');

    # beyond 256 KiB: refused before it is read (the server may answer early and close)
    my $huge = '{"id":"evt_huge","pad":"' . ('h' x (300 * 1024)) . '"}';
    my $head = "POST /api/billing/webhook HTTP/1.1\r\nHost: " . Apache::TestRequest::hostport() . "\r\n"
             . "Content-Type: application/json\r\nStripe-Signature: " . stripe_sign($huge) . "\r\n"
             . "Content-Length: " . length($huge) . "\r\nConnection: close\r\n\r\n";
    my ($hst, $hh, $hbody, $hraw, $hwerr) = raw_http($head, [$huge]);
    is($hst, 413, 'an event over 256 KiB: 413') or diag("write: $hwerr\n" . substr($hraw, 0, 500));
    my $hd = eval { decode_json($hbody) } || {};
    is($hd->{code}, 'payload_too_large', '... payload_too_large') or diag($hbody);
    is(event_count('evt_huge'), '0', '... and nothing recorded');
}

# ---- bodies that are not events ---------------------------------------------------------------------------
for my $b (['this is not json', 'a non-JSON body'], ['[1,2,3]', 'a JSON array'],
           ['{"type":"payment_intent.succeeded","data":{"object":{}}}', 'an event without id'],
           ['{"id":"evt_x1","type":"payment_intent.succeeded"}', 'an event without data.object']) {
    my ($pl, $name) = @$b;
    ($st, $d, $res) = webhook_post($pl, stripe_sign($pl));
    error_is($res, 400, ['invalid_json', 'validation_error'], undef, "$name with a valid signature: 400");
}
($st, $d, $res) = webhook_post('', stripe_sign(''));
error_is($res, 400, ['invalid_json', 'validation_error', 'invalid_signature'], undef, 'an empty body with a valid signature: 400');
is(event_count('evt_x1'), '0', 'an unreadable event records nothing');
($st, $d, $res) = api(GET => '/api/billing/webhook');
error_is($res, 405, 'method_not_allowed', undef, 'GET /api/billing/webhook: 405');

stripe_reset();
done_testing();
