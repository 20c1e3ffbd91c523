# Dashboards' invoice fields, computed from the invoices table: provider pendingInvoices,
# outstandingAmount (pending + overdue) and revenueThisMonth (paid in the provider-zone calendar
# month); client outstandingAmount. They follow invoices as they are created and paid (through
# POST /api/billing/pay and through the webhook), and are exact sums of cents.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

stripe_reset();
my $ZONE = 'Pacific/Kiritimati';   # UTC+14: its month starts ten hours before UTC's

# the Stripe fake is shared by the whole run: leave it reset and in mode ok, even on a die
END { eval { stripe_reset() } }

sub pdash {
    my ($token) = @_;
    my (undef, $d, $res) = api(GET => '/api/provider/dashboard', token => $token);
    return ($d // {}, $res);
}
sub cdash {
    my ($token) = @_;
    my (undef, $d, $res) = api(GET => '/api/client/dashboard', token => $token);
    return ($d // {}, $res);
}

# pmoney_is($token, {pendingInvoices => n | [n, m], outstandingAmount => 'text', revenueThisMonth => 'text'}, name):
# the numbers as printed in the JSON (so 200.5 is "200.5", never 200.49999999999997)
sub pmoney_is {
    my ($token, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($d, $res) = pdash($token);
    my @p;
    for my $k (qw(outstandingAmount revenueThisMonth)) {
        next unless exists $want->{$k};
        my $got = money_in_json($res, $k) // 'missing';
        push @p, "$k is $got, expected $want->{$k}" unless $got eq $want->{$k};
    }
    if (exists $want->{pendingInvoices}) {
        my @ok = ref $want->{pendingInvoices} ? @{ $want->{pendingInvoices} } : ($want->{pendingInvoices});
        my $got = $res->content =~ /"pendingInvoices":(\d+)[,}]/ ? $1 : 'missing';
        push @p, "pendingInvoices is $got, expected " . join(' or ', @ok) unless grep { $got eq $_ } @ok;
    }
    ok(!@p, $name) or diag(join("\n", @p) . "\n" . $res->content);
}

sub cmoney_is {
    my ($token, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($d, $res) = cdash($token);
    is(money_in_json($res, 'outstandingAmount') // 'missing', $want, $name) or diag($res->content);
}

# paid_at moved to the provider-zone start of this month plus an offset ('1 minute', '-1 minute')
sub paid_at_month_start {
    my ($id, $offset) = @_;
    my ($out, $rc, $err) = psql(
        q{UPDATE invoices i SET paid_at = (date_trunc('month', now() AT TIME ZONE p.time_zone) + }
      . sql_quote($offset) . q{::interval) AT TIME ZONE p.time_zone FROM users p }
      . q{WHERE p.id = i.provider_id AND i.id = } . sql_quote($id) . q{::uuid});
    die "paid_at_month_start: $err" if $rc;
}

my ($ptok, $prov) = provider_session(name => 'Dr Revenue', timeZone => $ZONE);
my ($c1tok, $c1) = client_session($prov->{id}, name => 'First Payer');
my ($c2tok, $c2) = client_session($prov->{id}, name => 'Second Payer');
my ($qtok, $q, $qctok, $qc) = billing_practice(name => 'Dr Noise');

# ---- shapes and zeros ---------------------------------------------------------------------------------
my ($d, $res) = pdash($ptok);
success_is($res, 200, 'provider dashboard: 200');
for my $k (qw(pendingInvoices outstandingAmount revenueThisMonth)) {
    ok(exists $d->{$k} && defined $d->{$k} && !ref $d->{$k}, "provider dashboard has $k");
}
like($res->content, qr/"pendingInvoices":0[,}]/, 'pendingInvoices 0 (a JSON integer)');
pmoney_is($ptok, { pendingInvoices => 0, outstandingAmount => '0', revenueThisMonth => '0' },
          'a new provider: no invoices, nothing outstanding, no revenue');
($d, $res) = cdash($c1tok);
success_is($res, 200, 'client dashboard: 200');
ok(exists $d->{outstandingAmount}, 'client dashboard has outstandingAmount');
ok(!exists $d->{revenueThisMonth} && !exists $d->{pendingInvoices}, "no provider figures on a client's dashboard");
cmoney_is($c1tok, '0', 'a new client: nothing outstanding');

# ---- invoices created ---------------------------------------------------------------------------------
my $i1 = make_invoice($ptok, $c1->{id}, 149.99);
pmoney_is($ptok, { pendingInvoices => 1, outstandingAmount => '149.99', revenueThisMonth => '0' },
          'one invoice of 149.99: 1 pending, 149.99 outstanding');
cmoney_is($c1tok, '149.99', 'client 1 owes 149.99');
cmoney_is($c2tok, '0', 'client 2 owes nothing');
my $i2 = make_invoice($ptok, $c2->{id}, 50.01);
pmoney_is($ptok, { pendingInvoices => 2, outstandingAmount => '200' }, '+ 50.01: 2 pending, 200 outstanding (exact)');
cmoney_is($c2tok, '50.01', 'client 2 owes 50.01');
my $i3 = make_invoice($ptok, $c1->{id}, 0.6);
my $i4 = make_invoice($ptok, $c1->{id}, 0.7);
pmoney_is($ptok, { pendingInvoices => 4, outstandingAmount => '201.3' }, '+ 0.60 + 0.70: 201.3 outstanding (cents, not floats)');
cmoney_is($c1tok, '151.29', 'client 1 owes 151.29');

# another practice's invoices change nothing here
my $qi = make_invoice($qtok, $qc->{id}, 1000);
pmoney_is($ptok, { pendingInvoices => 4, outstandingAmount => '201.3', revenueThisMonth => '0' },
          "another practice's invoice: unchanged");
cmoney_is($qctok, '1000', "the other practice's client owes 1000");

# overdue still counts as outstanding
invoice_to_overdue($i3->{id}, 2);
pmoney_is($ptok, { pendingInvoices => [3, 4], outstandingAmount => '201.3' },
          'an overdue invoice is still outstanding');
cmoney_is($c1tok, '151.29', "... and still on the client's dashboard");

# ---- paid through POST /api/billing/pay ----------------------------------------------------------------
my ($st, $pd, $pres) = pay_invoice($c1tok, $i1->{id}, 'pm_card_visa');
success_is($pres, 200, 'client 1 pays 149.99');
pmoney_is($ptok, { pendingInvoices => [2, 3], outstandingAmount => '51.31', revenueThisMonth => '149.99' },
          'after the payment: 51.31 outstanding, revenue 149.99');
cmoney_is($c1tok, '1.3', 'client 1 owes 1.30');
($st, $pd, $pres) = pay_invoice($c1tok, $i3->{id}, 'pm_card_chargeDeclined');
is($st, 402, 'a declined payment');
pmoney_is($ptok, { outstandingAmount => '51.31', revenueThisMonth => '149.99' }, '... changes nothing');
($st, $pd, $pres) = pay_invoice($c1tok, $i4->{id}, 'pm_card_authenticationRequired');
ok($st == 200 && !$pd->{success}, 'a payment waiting for 3-D Secure');
pmoney_is($ptok, { outstandingAmount => '51.31', revenueThisMonth => '149.99' }, '... changes nothing yet');

# ---- paid through the webhook -----------------------------------------------------------------------------
my ($eid, $payload) = stripe_event_json(invoice => $i2->{id}, amount => 5001);
my (undef, undef, $wres) = webhook_post($payload, stripe_sign($payload));
success_is($wres, 200, 'the webhook settles 50.01');
pmoney_is($ptok, { pendingInvoices => [1, 2], outstandingAmount => '1.3', revenueThisMonth => '200' },
          'revenue 200, 1.30 outstanding');
cmoney_is($c2tok, '0', 'client 2 owes nothing');
(undef, undef, $wres) = webhook_post($payload, stripe_sign($payload));
pmoney_is($ptok, { outstandingAmount => '1.3', revenueThisMonth => '200' }, 'the replayed event counts once');
cmoney_is($qctok, '1000', "the other practice's client still owes 1000");
pmoney_is($qtok, { pendingInvoices => 1, outstandingAmount => '1000', revenueThisMonth => '0' },
          "the other practice's dashboard: its own figures only");

# ---- this month is the provider's month ---------------------------------------------------------------------
paid_at_month_start($i1->{id}, '-1 minute');
pmoney_is($ptok, { revenueThisMonth => '50.01' },
          "paid a minute before this month began in $ZONE: not this month's revenue");
paid_at_month_start($i1->{id}, '1 minute');
pmoney_is($ptok, { revenueThisMonth => '200' },
          "paid a minute after this month began in $ZONE: this month's revenue");
psql(q{UPDATE invoices SET paid_at = now() - interval '40 days' WHERE id = } . sql_quote($i2->{id}));
pmoney_is($ptok, { revenueThisMonth => '149.99', outstandingAmount => '1.3' },
          'paid 40 days ago: not this month, and not outstanding either');

stripe_reset();
done_testing();
