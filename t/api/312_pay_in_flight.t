# POST /api/billing/pay while another payment of the same invoice waits for Stripe: the first
# claims the invoice in a short statement of its own and asks Stripe with no transaction (and
# no row lock) open; a second payment meanwhile is 409 payment_in_progress at once and never
# reaches Stripe; the answer settles the invoice and ends the claim. A claim left by a request
# that died (a crashed child) goes stale and no longer blocks the invoice.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use JSON::PP ();
use Time::HiRes qw(time sleep);

my $JSON = JSON::PP->new->utf8;

# the Stripe fake is shared by the whole run: leave it reset and in mode ok, even on a die
END { eval { stripe_reset() } }

stripe_reset();

sub claimed_at {
    my ($id) = @_;
    return scalar psql(q{SELECT coalesce(pay_claimed_at::text, '') FROM invoices WHERE id = }
                     . sql_quote($id) . q{::uuid});
}

# pay in a child process; returns a sub that waits for it and gives (status, body)
sub pay_in_background {
    my ($tok, $id, $card) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        my ($st, $d) = pay_invoice($tok, $id, $card);
        print $w $JSON->encode({ status => $st, body => $d });
        close $w;
        require POSIX;
        POSIX::_exit(0);
    }
    close $w;
    return sub {
        my $out = do { local $/; <$r> };
        waitpid $pid, 0;
        my $x = eval { $JSON->decode($out // '') } || { status => 0 };
        return ($x->{status}, $x->{body});
    };
}

my ($ptok, $prov, $ctok, $cli) = billing_practice();

# ---- a payment in flight --------------------------------------------------------------------------
my $inv = make_invoice($ptok, $cli->{id}, 77.70);
stripe_mode('slow');    # the fake answers after 3 s
my $first = pay_in_background($ctok, $inv->{id}, 'pm_card_visa');
my $deadline = time + 5;
sleep 0.05 while claimed_at($inv->{id}) eq '' && time < $deadline;
isnt(claimed_at($inv->{id}), '', 'the first payment claimed the invoice');

my ($lock_out, $lock_rc, $lock_err) = psql(q{BEGIN; SELECT 1 FROM invoices WHERE id = }
    . sql_quote($inv->{id}) . q{::uuid FOR UPDATE NOWAIT; ROLLBACK;});
is($lock_rc, 0, 'while Stripe answers, the invoice row is not locked') or diag($lock_err);
is(psql(q{SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation }
      . q{WHERE c.relname = 'invoices' AND l.mode = 'RowShareLock'}), '0',
   '... and no transaction holds a row lock on invoices');

for my $card ('pm_card_visa', 'pm_card_mastercard') {
    my $t0 = time;
    my ($st, $d, $res) = pay_invoice($ctok, $inv->{id}, $card);
    my $took = time - $t0;
    error_is($res, 409, 'payment_in_progress', undef, "a second payment ($card) meanwhile: 409 payment_in_progress");
    ok($took < 1, sprintf('... answered at once (%.2f s)', $took));
}
my ($st, $d) = $first->();
is($st, 200, 'the first payment completes: 200');
ok(ref $d eq 'HASH' && $d->{success}, '... success');
stripe_mode('ok');
is(scalar(stripe_intents_for($inv->{id})), 1, 'Stripe received one PaymentIntent for the invoice');
my $row = invoice_row($inv->{id});
is($row->{status}, 'paid', 'the invoice is paid');
is($row->{transaction_id}, $d->{transactionId}, '... by the first payment\'s PaymentIntent');
is(claimed_at($inv->{id}), '', '... and its claim ended');
($st, $d, my $res) = pay_invoice($ctok, $inv->{id}, 'pm_card_visa');
error_is($res, 409, 'already_paid', undef, 'afterwards: 409 already_paid');
is(psql(q{SELECT count(*) FROM audit_events WHERE action = 'invoice.pay' AND resource_id = }
      . sql_quote($inv->{id})), '4', 'every attempt is audited');

# ---- a claim left by a request that died ----------------------------------------------------------
my $inv2 = make_invoice($ptok, $cli->{id}, 12.34);
psql_must(q{UPDATE invoices SET pay_claimed_at = now() - interval '10 minutes' WHERE id = }
        . sql_quote($inv2->{id}) . q{::uuid});
($st, $d, $res) = pay_invoice($ctok, $inv2->{id}, 'pm_card_visa');
success_is($res, 200, 'a stale claim (a crashed child) does not block the invoice: 200');
is(invoice_row($inv2->{id})->{status}, 'paid', '... paid');
is(claimed_at($inv2->{id}), '', '... the claim ended');

my $inv3 = make_invoice($ptok, $cli->{id}, 56.78);
psql_must(q{UPDATE invoices SET pay_claimed_at = now() WHERE id = } . sql_quote($inv3->{id}) . q{::uuid});
($st, $d, $res) = pay_invoice($ctok, $inv3->{id}, 'pm_card_visa');
error_is($res, 409, 'payment_in_progress', undef, 'a fresh claim: 409 payment_in_progress');
is(scalar(stripe_intents_for($inv3->{id})), 0, '... without asking Stripe');

# ---- answers that do not settle end the claim too ----------------------------------------------------
my $inv4 = make_invoice($ptok, $cli->{id}, 9.99);
($st, $d, $res) = pay_invoice($ctok, $inv4->{id}, 'pm_card_chargeDeclined');
error_is($res, 402, 'card_declined', undef, 'a declined card: 402');
is(claimed_at($inv4->{id}), '', '... the claim ended');
($st, $d, $res) = pay_invoice($ctok, $inv4->{id}, 'pm_card_authenticationRequired');
ok($st == 200 && ref $d eq 'HASH' && $d->{requiresAction}, '3-D Secure: 200 requiresAction');
is(claimed_at($inv4->{id}), '', '... the claim ended');
($st, $d, $res) = pay_invoice($ctok, $inv4->{id}, 'pm_card_visa');
success_is($res, 200, 'another card then pays at once');

# another client's invoice stays 404, claimed or not
my ($otok) = client_session($prov->{id}, name => 'Other Client');
($st, $d, $res) = pay_invoice($otok, $inv3->{id}, 'pm_card_visa');
error_is($res, 404, 'not_found', 'invoiceId', 'another client\'s claimed invoice: 404');

stripe_reset();
done_testing();
