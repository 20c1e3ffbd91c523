package DocPortal::Billing;
# Billing: the suite's Stripe fake (mode, log, reset), signed webhooks, invoices and their rows.
use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use DocPortal::Http qw(api dump_res $JSON);
use DocPortal::Db qw(psql sql_quote);
use DocPortal::Users qw(provider_session client_session secret_file);

our @EXPORT = qw(
    stripe_fake stripe_reset stripe_mode stripe_requests stripe_intents_posted
    webhook_secret stripe_sign webhook_post stripe_event_json
    billing_practice create_invoice make_invoice invoice_list pay_invoice invoice_row
    invoice_to_overdue money_in_json INVOICE_KEYS stripe_intents_for
);

use constant INVOICE_KEYS => [sort qw(id clientId providerId appointmentId clientName amount currency
                                      date dueDate status description paymentMethod transactionId
                                      paidAt createdAt updatedAt)];

# stripe_fake(METHOD, PATH, $json_or_undef) -> (status, decoded body): a request to the suite's
# Stripe fake ($DOCPORTAL_STRIPE_API_BASE).
sub stripe_fake {
    my ($method, $path, $json) = @_;
    require HTTP::Tiny;
    my $base = $ENV{DOCPORTAL_STRIPE_API_BASE} or die "DOCPORTAL_STRIPE_API_BASE not set\n";
    my %args;
    if (defined $json) {
        $args{headers} = { 'Content-Type' => 'application/json' };
        $args{content} = ref $json ? $JSON->encode($json) : $json;
    }
    my $r = HTTP::Tiny->new(timeout => 30)->request($method, "$base$path", \%args);
    my $d = eval { $JSON->decode($r->{content}) };
    return ($r->{status}, $d);
}

# stripe_reset(): forget the fake's log, idempotency keys and intents, and put it in mode ok.
sub stripe_reset {
    my ($st) = stripe_fake(POST => '/__reset');
    die "stripe_reset: the fake answered $st\n" unless $st == 200;
    stripe_mode('ok');
    return 1;
}

sub stripe_mode {
    my ($mode) = @_;
    my ($st) = stripe_fake(POST => "/__mode?mode=$mode");
    die "stripe_mode($mode): the fake answered $st\n" unless $st == 200;
    return 1;
}

# stripe_requests() -> arrayref of what the fake's /v1/ received since the last reset
sub stripe_requests {
    my ($st, $d) = stripe_fake(GET => '/__requests');
    die "stripe_requests: the fake answered $st\n" unless $st == 200 && ref $d eq 'ARRAY';
    return $d;
}

# stripe_intents_posted() -> list of the POST /v1/payment_intents entries of the log
sub stripe_intents_posted {
    return grep { $_->{method} eq 'POST' && $_->{path} eq '/v1/payment_intents' }
           @{ stripe_requests() };
}

# stripe_intents_for($invoice_id) -> the POST /v1/payment_intents entries for one invoice
# (metadata[invoice_id])
sub stripe_intents_for {
    my ($invoice_id) = @_;
    return grep { ($_->{form}{'metadata[invoice_id]'} // '') eq $invoice_id } stripe_intents_posted();
}

# The suite server's webhook signing secret (DOCPORTAL_STRIPE_WEBHOOK_FILE).
sub webhook_secret { return secret_file('DOCPORTAL_STRIPE_WEBHOOK_FILE') }

# stripe_sign($payload_bytes, %opt) -> the Stripe-Signature header value Stripe would send:
# "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>". opt: t (default now), secret
# (default the suite's webhook secret).
sub stripe_sign {
    my ($payload, %o) = @_;
    require Digest::SHA;
    my $t = $o{t} // time;
    my $secret = $o{secret} // webhook_secret();
    my $bytes = $payload;
    utf8::encode($bytes) if utf8::is_utf8($bytes);
    return "t=$t,v1=" . Digest::SHA::hmac_sha256_hex("$t.$bytes", $secret);
}

# webhook_post($payload, $signature_header_or_undef, %opt) -> (status, body, res):
# POST /api/billing/webhook with the raw payload as application/json.
sub webhook_post {
    my ($payload, $sig, %o) = @_;
    return api(POST => '/api/billing/webhook', body => $payload,
               ctype => $o{ctype} // 'application/json',
               headers => [defined $sig ? ('Stripe-Signature' => $sig) : ()]);
}

# stripe_event_json(%o) -> (event id, JSON text) of a Stripe Event about a PaymentIntent:
# o: type (payment_intent.succeeded), id (evt_ random), intent (pi_ random), invoice (its id in
# metadata.invoice_id; undef: no metadata), amount (cents), received (amount_received; default
# amount for succeeded, 0 otherwise), currency (usd), pm (pm_card_visa), status.
sub stripe_event_json {
    my (%o) = @_;
    my $type = $o{type} // 'payment_intent.succeeded';
    my $id = $o{id} // 'evt_' . join('', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9)[rand 62] } 1 .. 24);
    my $pi = $o{intent} // 'pi_' . join('', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9)[rand 62] } 1 .. 24);
    my $succeeded = $type eq 'payment_intent.succeeded';
    my $amount = $o{amount} // 1000;
    my %obj = (
        id => $pi, object => 'payment_intent', amount => $amount + 0,
        amount_received => ($o{received} // ($succeeded ? $amount : 0)) + 0,
        currency => $o{currency} // 'usd', client_secret => "${pi}_secret_x",
        status => $o{status} // ($succeeded ? 'succeeded' : 'requires_payment_method'),
        metadata => { (defined $o{invoice} ? (invoice_id => $o{invoice}) : ()) },
        payment_method => $o{pm} // 'pm_card_visa', livemode => JSON::PP::false(),
        last_payment_error => $succeeded ? undef
            : { type => 'card_error', code => 'card_declined', message => 'Your card was declined.' },
    );
    my %ev = (id => $id, object => 'event', api_version => '2024-06-20', created => time,
              livemode => JSON::PP::false(), pending_webhooks => 1, type => $type,
              data => { object => \%obj });
    return ($id, $JSON->encode(\%ev));
}

# billing_practice(%provider_override) -> ($provider_token, $provider, $client_token, $client)
sub billing_practice {
    my (%o) = @_;
    my ($ptok, $prov) = provider_session(name => 'Dr Billing', %o);
    my ($ctok, $cli) = client_session($prov->{id}, name => 'Billed Client');
    return ($ptok, $prov, $ctok, $cli);
}

# create_invoice($provider_token, %body) -> (status, body, res): POST /api/billing/invoices;
# description defaults to 'Session'. undef values leave the field out.
sub create_invoice {
    my ($token, %b) = @_;
    $b{description} = 'Session' unless exists $b{description};
    delete @b{ grep { !defined $b{$_} } keys %b };
    return api(POST => '/api/billing/invoices', token => $token, json => \%b);
}

# make_invoice($provider_token, $client_id, $amount) -> the invoice created (dies otherwise)
sub make_invoice {
    my ($ptok, $client_id, $amount) = @_;
    my ($st, $inv, $res) = create_invoice($ptok, clientId => $client_id, amount => $amount);
    die "make_invoice: $st\n" . dump_res($res) unless $st == 201;
    return $inv;
}

# invoice_list($token, $status_or_undef) -> (status, body, res): GET /api/billing/invoices
sub invoice_list {
    my ($token, $status) = @_;
    return api(GET => '/api/billing/invoices' . (defined $status ? "?status=$status" : ''),
               token => $token);
}

# pay_invoice($client_token, $invoice_id, $card_token) -> (status, body, res)
sub pay_invoice {
    my ($token, $id, $card) = @_;
    return api(POST => '/api/billing/pay', token => $token,
               json => { invoiceId => $id, paymentMethod => { cardToken => $card } });
}

# invoice_row($id) -> hashref {amount_cents, currency, status, payment_method, transaction_id,
# paid_at, issued_on, due_date, updated_at} straight from the table (NULL as ''), or undef.
sub invoice_row {
    my ($id) = @_;
    my @cols = qw(amount_cents currency status payment_method transaction_id paid_at issued_on
                  due_date updated_at);
    my $out = psql(q{SELECT amount_cents, currency, status, coalesce(payment_method, ''), }
                 . q{coalesce(transaction_id, ''), coalesce(paid_at::text, ''), issued_on, }
                 . q{due_date, updated_at FROM invoices WHERE id = } . sql_quote($id) . q{::uuid});
    return undef unless length $out;
    my %r;
    @r{@cols} = split /\|/, $out, -1;
    return \%r;
}

# invoice_to_overdue($id, $days): due date (and issue date) moved $days days into the past in
# the provider's time zone.
sub invoice_to_overdue {
    my ($id, $days) = @_;
    $days //= 1;
    my ($out, $rc, $err) = psql(
        q{UPDATE invoices i SET issued_on = (now() AT TIME ZONE p.time_zone)::date - } . ($days + 0)
      . q{ - 1, due_date = (now() AT TIME ZONE p.time_zone)::date - } . ($days + 0)
      . q{ FROM users p WHERE p.id = i.provider_id AND i.id = } . sql_quote($id) . q{::uuid});
    die "invoice_to_overdue($id): $err\n" if $rc;
    return 1;
}

# money_in_json($res, $key) -> the literal JSON text of "key":<number> in the body (first one),
# to check how an amount is printed (149.99, not 149.99000000000001).
sub money_in_json {
    my ($res, $key) = @_;
    my $c = ref $res ? $res->content : $res;
    return $c =~ /"\Q$key\E":(-?[0-9.eE+-]+)/ ? $1 : undef;
}

1;
