# Billing scope and roles: a provider sees and invoices only its own clients; a client sees and
# pays only its own invoices; another practice's invoice is a 404 (never a 403) for everyone in
# it; clients never create invoices; invited clients can be billed before they register.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

stripe_reset();
my $Y = next_year();

# the Stripe fake is shared by the whole run: leave it reset and in mode ok, even on a die
END { eval { stripe_reset() } }

sub ids {
    my ($token, $status) = @_;
    my ($st, $list) = invoice_list($token, $status);
    return [sort map { $_->{id} } @{ ref $list eq 'ARRAY' ? $list : [] }];
}

sub charges_for {
    my ($invoice_id) = @_;
    return scalar grep { ($_->{form}{'metadata[invoice_id]'} // '') eq $invoice_id } stripe_intents_posted();
}

# practice A: provider, two clients; practice B: provider, one client
my ($atok, $pa, $a1tok, $a1) = billing_practice(name => 'Dr Alpha');
my ($a2tok, $a2) = client_session($pa->{id}, name => 'Alpha Two');
my ($btok, $pb, $b1tok, $b1) = billing_practice(name => 'Dr Beta');

my (undef, $ia1, $r1) = create_invoice($atok, clientId => $a1->{id}, amount => 100);
my (undef, $ia1b)     = create_invoice($atok, clientId => $a1->{id}, amount => 60.25);
my (undef, $ia2)      = create_invoice($atok, clientId => $a2->{id}, amount => 200);
my (undef, $ib1, $r3) = create_invoice($btok, clientId => $b1->{id}, amount => 300);
success_is($r1, 201, 'provider A invoices its client');
success_is($r3, 201, 'provider B invoices its client');

# ---- reading -------------------------------------------------------------------------------------------
is_deeply(ids($atok), [sort($ia1->{id}, $ia1b->{id}, $ia2->{id})], 'provider A lists exactly its three invoices');
is_deeply(ids($btok), [$ib1->{id}], 'provider B lists exactly its one invoice');
is_deeply(ids($a1tok), [sort($ia1->{id}, $ia1b->{id})], 'client A1 lists exactly its two');
is_deeply(ids($a2tok), [$ia2->{id}], 'client A2 lists exactly its one');
is_deeply(ids($b1tok), [$ib1->{id}], 'client B1 lists exactly its one');
for my $s (qw(pending paid overdue)) {
    ok(!(grep { $_ eq $ib1->{id} } @{ ids($atok, $s) }), "provider A never sees B's invoice (?status=$s)");
    ok(!(grep { $_ eq $ia1->{id} } @{ ids($b1tok, $s) }), "client B1 never sees A's invoice (?status=$s)");
    ok(!(grep { $_ eq $ia1->{id} } @{ ids($a2tok, $s) }), "client A2 never sees A1's invoice (?status=$s)");
}
my (undef, $blist, $bres) = invoice_list($btok);
unlike($bres->content, qr/\Q$a1->{id}\E|\Q$pa->{id}\E|Alpha/, "nothing of practice A in B's list");

# ---- writing: only providers, only for their own clients --------------------------------------------------
my $n = psql(q{SELECT count(*) FROM invoices});
my ($st, $d, $res) = create_invoice($a1tok, clientId => $a1->{id}, amount => 5);
error_is($res, 403, 'forbidden', undef, 'a client invoicing itself: 403');
($st, $d, $res) = create_invoice($b1tok, clientId => $a1->{id}, amount => 5);
error_is($res, 403, 'forbidden', undef, "a client invoicing another practice's client: 403");
($st, $d, $res) = create_invoice($btok, clientId => $a1->{id}, amount => 5);
error_is($res, 404, 'not_found', 'clientId', "provider B invoicing A's client: 404 field clientId");
my (undef, $appt) = book($a1tok, date => "$Y-04-14", time => '09:00', duration => 50);
($st, $d, $res) = create_invoice($btok, clientId => $b1->{id}, appointmentId => $appt->{id}, amount => 5);
error_is($res, 404, 'not_found', 'appointmentId', "provider B tying its invoice to A's appointment: 404 field appointmentId");
($st, $d, $res) = create_invoice($atok, clientId => $a2->{id}, appointmentId => $appt->{id}, amount => 5);
error_is($res, 404, 'not_found', 'appointmentId', "provider A tying A2's invoice to A1's appointment: 404");
is(psql(q{SELECT count(*) FROM invoices}), $n, 'no invoice was created');

# ---- paying: only the invoice's own client ---------------------------------------------------------------
($st, $d, $res) = pay_invoice($b1tok, $ia1->{id}, 'pm_card_visa');
my $e = error_is($res, 404, 'not_found', undef, "client B1 paying A1's invoice: 404");
unlike($res->content, qr/paid|pending|100/, '... and learns nothing about it');
($st, $d, $res) = pay_invoice($a2tok, $ia1->{id}, 'pm_card_visa');
error_is($res, 404, 'not_found', undef, "client A2 paying A1's invoice (same practice): 404");
($st, $d, $res) = pay_invoice($atok, $ia1->{id}, 'pm_card_visa');
error_is($res, 403, 'forbidden', undef, 'provider A paying its own client\'s invoice: 403');
($st, $d, $res) = pay_invoice($btok, $ia1->{id}, 'pm_card_visa');
error_is($res, 403, 'forbidden', undef, 'provider B paying: 403');
is(charges_for($ia1->{id}), 0, 'none of these reached Stripe');
is(invoice_row($ia1->{id})->{status}, 'pending', "A1's invoice is still pending");

# a paid invoice is still a 404 to others (no 409 that would reveal it)
($st, $d, $res) = pay_invoice($a1tok, $ia1->{id}, 'pm_card_visa');
success_is($res, 200, 'A1 pays its own invoice');
($st, $d, $res) = pay_invoice($b1tok, $ia1->{id}, 'pm_card_visa');
error_is($res, 404, 'not_found', undef, "client B1 paying A1's paid invoice: still 404, not 409");
($st, $d, $res) = pay_invoice($a2tok, $ia1->{id}, 'pm_card_visa');
error_is($res, 404, 'not_found', undef, "client A2 paying A1's paid invoice: still 404");
is_deeply(ids($btok, 'paid'), [], "provider B's paid list stays empty");
is_deeply(ids($atok, 'paid'), [$ia1->{id}], "provider A's paid list has A1's invoice");
is_deeply(ids($a2tok, 'paid'), [], "client A2's paid list is empty");

# a client whose session was revoked
my ($xtok, $x) = client_session($pa->{id});
my (undef, $ix) = create_invoice($atok, clientId => $x->{id}, amount => 9);
api(POST => '/api/auth/logout', token => $xtok);
($st, $d, $res) = pay_invoice($xtok, $ix->{id}, 'pm_card_visa');
error_is($res, 401, 'unauthorized', undef, 'a logged-out token paying: 401');
($st, $d, $res) = invoice_list($xtok);
error_is($res, 401, 'unauthorized', undef, 'a logged-out token listing: 401');

# ---- invited clients -----------------------------------------------------------------------------------
my ($ist, $inv_c, $ires) = invite_client($atok, name => 'Invited Ivy');
success_is($ires, 201, 'provider A invites a client');
($st, my $iinv, $res) = create_invoice($atok, clientId => $inv_c->{id}, amount => 45);
success_is($res, 201, 'an invited client (not registered yet) can be invoiced');
is($iinv->{clientName}, 'Invited Ivy', '... clientName from the invitation');
($st, $d, $res) = create_invoice($btok, clientId => $inv_c->{id}, amount => 45);
error_is($res, 404, 'not_found', 'clientId', "provider B invoicing A's invited client: 404");
my $itok = invite_token_of($inv_c->{inviteUrl});
my ($rst, $rd) = register({ email => $inv_c->{email}, password => 'Inv1ted-pass', inviteToken => $itok });
is($rst, 201, 'the invited client registers');
is_deeply(ids($rd->{token}), [$iinv->{id}], 'and sees the invoice made before it registered');
($st, $d, $res) = pay_invoice($rd->{token}, $iinv->{id}, 'pm_card_visa');
success_is($res, 200, '... and pays it');

stripe_reset();
done_testing();
