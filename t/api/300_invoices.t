# Invoices: POST /api/billing/invoices (provider, for its own client, optionally tied to one of
# that client's appointments) and GET /api/billing/invoices (?status=paid|pending|overdue).
# Amounts are integer cents in the database and exact two-decimal numbers in JSON; dates are in
# the provider's time zone; overdue is computed at read time.
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

# date arithmetic in PostgreSQL: ($date + $n days)
sub date_plus {
    my ($date, $n) = @_;
    return scalar psql(q{SELECT (} . sql_quote($date) . q{::date + } . ($n + 0) . q{)::text});
}

sub ids_of {
    my ($list) = @_;
    return [sort map { $_->{id} } @{ ref $list eq 'ARRAY' ? $list : [] }];
}

# UTC+14 and UTC-11: at any hour of the day at least one of them is on another date than UTC
my $ZA = 'Pacific/Kiritimati';
my $ZB = 'Pacific/Pago_Pago';
my ($ptok, $prov) = provider_session(name => 'Dr Ledger', timeZone => $ZA);
if (($prov->{timeZone} // '') ne $ZA) {
    my (undef, $d) = api(PATCH => '/api/auth/me', token => $ptok, json => { timeZone => $ZA });
    $prov = $d->{user} if ref $d eq 'HASH';
}
is($prov->{timeZone}, $ZA, "provider A works in $ZA");
my ($ctok, $cli) = client_session($prov->{id}, name => 'Ada Client');
my ($c2tok, $cli2) = client_session($prov->{id}, name => 'Second Client');
my ($qtok, $prov2) = provider_session(name => 'Dr Other');
api(PATCH => '/api/auth/me', token => $qtok, json => { timeZone => $ZB });
my ($dtok, $cli_b) = client_session($prov2->{id}, name => 'Other Practice Client');

# ---- create ----------------------------------------------------------------------------------------
my $today = local_today($ZA);
my ($st, $inv, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 149.99,
                                      description => 'Intake session');
success_is($res, 201, 'POST /api/billing/invoices: 201');
is_deeply([sort keys %{ $inv // {} }], INVOICE_KEYS, 'the invoice carries exactly the model fields');
like($inv->{id} // '', $UUID_RE, 'id is a UUID');
is($inv->{clientId}, $cli->{id}, 'clientId');
is($inv->{providerId}, $prov->{id}, 'providerId is the caller');
ok(exists $inv->{appointmentId} && !defined $inv->{appointmentId}, 'appointmentId null');
is($inv->{clientName}, 'Ada Client', 'clientName is the client\'s name');
is(money_in_json($res, 'amount'), '149.99', 'amount printed exactly as 149.99');
is($inv->{amount}, 149.99, 'amount 149.99');
is($inv->{currency}, 'usd', 'currency usd');
is($inv->{date}, $today, "date is today in the provider's zone ($ZA)");
is($inv->{dueDate}, date_plus($today, 30), 'dueDate defaults to 30 days later');
is($inv->{status}, 'pending', 'status pending');
is($inv->{description}, 'Intake session', 'description');
for my $k (qw(paymentMethod transactionId paidAt)) {
    ok(exists $inv->{$k} && !defined $inv->{$k}, "$k null");
}
like($inv->{createdAt} // '', $TS_RE, 'createdAt RFC 3339 UTC');
like($inv->{updatedAt} // '', $TS_RE, 'updatedAt RFC 3339 UTC');
my $row = invoice_row($inv->{id} // uuid_v4());
is($row->{amount_cents}, '14999', 'stored as 14999 integer cents');
is($row->{currency}, 'usd', 'stored currency');
is($row->{issued_on}, $today, 'stored issue date');
audit_single($res, { action => 'invoice.create', outcome => 'success', actor_id => $prov->{id},
                     actor_type => 'provider', resource_type => 'invoice',
                     resource_id => $inv->{id} // '', client_id => $cli->{id} },
             'create writes one invoice.create success event');
my $first = $inv;

# exact amounts: the printed number is the number sent, the cents are exact
for my $case ([0.5, '0.5', 50], [0.57, '0.57', 57], [1.1, '1.1', 110], [19.99, '19.99', 1999],
              [10, '10', 1000], [4.35, '4.35', 435], [1.29, '1.29', 129], [999999.99, '999999.99', 99999999]) {
    my ($amount, $text, $cents) = @$case;
    ($st, $inv, $res) = create_invoice($ptok, clientId => $cli2->{id}, amount => $amount);
    success_is($res, 201, "amount $text: 201");
    is(money_in_json($res, 'amount'), $text, "amount $text printed as $text");
    is(invoice_row($inv->{id} // uuid_v4())->{amount_cents}, $cents, "amount $text stored as $cents cents")
        if $st == 201;
}
# amount as JSON text exactly as a browser would send it
for my $raw (['149.99', 14999], ['20.10', 2010], ['0.50', 50], ['2.50', 250], ['1e2', 10000], ['33.3', 3330]) {
    my ($text, $cents) = @$raw;
    my $body = qq({"clientId":"$cli2->{id}","amount":$text,"description":"raw"});
    ($st, $inv, $res) = api(POST => '/api/billing/invoices', token => $ptok, json => $body);
    success_is($res, 201, "amount written as $text: 201");
    is(invoice_row($inv->{id} // uuid_v4())->{amount_cents}, $cents, "amount $text stored as $cents cents")
        if $st == 201;
}

# amounts refused
for my $bad ([0, '0'], [-1, '-1'], [0.49, '0.49 (below what a card can be charged)'],
             [1.234, '1.234 (3 decimals)'], ['10', 'the string "10"'],
             [1000000, '1000000 (over the 999,999.99 a card payment can be)'],
             [1000000.01, '1000000.01 (over the maximum)'], [2000000, '2000000'],
             [undef, 'missing'], [JSON::PP::true(), 'true'], [[10], 'an array'],
             [-0.5, '-0.5'], [1e300, '1e300']) {
    my ($amount, $name) = @$bad;
    my %b = (clientId => $cli2->{id}, description => 'refused');
    $b{amount} = $amount if defined $amount;
    ($st, undef, $res) = api(POST => '/api/billing/invoices', token => $ptok, json => \%b);
    error_is($res, 422, 'validation_error', 'amount', "amount $name: 422 field amount");
}
for my $text ('1.001', '149.999', '0.001', '1E-3', 'NaN') {
    ($st, undef, $res) = api(POST => '/api/billing/invoices', token => $ptok,
                             json => qq({"clientId":"$cli2->{id}","amount":$text,"description":"x"}));
    error_is($res, [400, 422], ['validation_error', 'invalid_json'], undef,
             "amount written as $text: refused");
}
is(psql(q{SELECT count(*) FROM invoices WHERE description IN ('refused', 'x')}), '0',
   'no refused amount reached the table');

# other fields
($st, undef, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 10, description => undef);
error_is($res, 422, 'validation_error', 'description', 'description missing: 422');
($st, undef, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 10, description => '');
error_is($res, 422, 'validation_error', 'description', 'description empty: 422');
($st, undef, $res) = create_invoice($ptok, amount => 10);
error_is($res, 422, 'validation_error', 'clientId', 'clientId missing: 422');
($st, undef, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 10, dueDate => '2027-13-01');
error_is($res, 422, 'validation_error', 'dueDate', 'dueDate not a date: 422');
for my $bad ("$Y-02-30", "$Y-04-31", "$Y-1-05", "$Y/01/05", 'tomorrow', "${Y}-01-05T00:00:00Z") {
    ($st, undef, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 10, dueDate => $bad);
    error_is($res, 422, 'validation_error', 'dueDate', "dueDate $bad: 422 field dueDate");
}
($st, undef, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 10, description => 'd' x 1001);
error_is($res, 422, 'validation_error', 'description', 'description of 1001 characters: 422');
($st, $inv, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 10,
                                   description => "\x{e9}" x 1000);
success_is($res, 201, 'description of 1000 characters (2000 UTF-8 bytes): 201');
is($inv->{description}, "\x{e9}" x 1000, '... read back intact');
$today = local_today($ZA);    # again: the day may have turned since the start
($st, undef, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 10,
                                    dueDate => date_plus($today, -1));
error_is($res, 422, 'validation_error', 'dueDate', "dueDate yesterday (provider's zone): 422");
($st, $inv, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 10, dueDate => $today);
success_is($res, 201, 'dueDate today: 201');
is($inv->{dueDate}, $today, 'dueDate as given');
is($inv->{status}, 'pending', 'due today is pending, not overdue');
($st, $inv, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 10, dueDate => "$Y-12-31");
success_is($res, 201, 'dueDate next year: 201');
is($inv->{dueDate}, "$Y-12-31", 'dueDate next year as given');
($st, $inv, $res) = create_invoice($ptok, clientId => $cli->{id}, amount => 25,
                                   status => 'paid', id => uuid_v4(), providerId => $prov2->{id},
                                   currency => 'eur', paidAt => '2020-01-01T00:00:00Z',
                                   transactionId => 'pi_forged');
success_is($res, 201, 'server-owned fields in the body are ignored: 201');
is($inv->{status}, 'pending', '... status stays pending');
is($inv->{providerId}, $prov->{id}, '... providerId is the caller');
is($inv->{currency}, 'usd', '... currency is the configured one');
ok(!defined $inv->{paidAt} && !defined $inv->{transactionId}, '... not paid');

# scope: the client must be the provider's, the appointment that client's
my $before = psql(q{SELECT count(*) FROM invoices});
($st, undef, $res) = create_invoice($ptok, clientId => $cli_b->{id}, amount => 10);
error_is($res, 404, 'not_found', 'clientId', "another provider's client: 404 field clientId");
audit_single($res, { action => 'invoice.create', outcome => 'denied', actor_id => $prov->{id} },
             "... recorded as a denied invoice.create");
($st, undef, $res) = create_invoice($ptok, clientId => uuid_v4(), amount => 10);
error_is($res, 404, 'not_found', 'clientId', 'an unknown client: 404 field clientId');
($st, undef, $res) = create_invoice($ptok, clientId => $prov->{id}, amount => 10);
error_is($res, 404, 'not_found', 'clientId', 'the provider itself as client: 404 field clientId');
($st, undef, $res) = create_invoice($ptok, clientId => $prov2->{id}, amount => 10);
error_is($res, 404, 'not_found', 'clientId', 'another provider as client: 404 field clientId');
($st, undef, $res) = create_invoice($ptok, clientId => 'not-a-uuid', amount => 10);
error_is($res, [404, 422], ['not_found', 'validation_error'], 'clientId', 'clientId not a UUID: refused');

my ($bst, $appt) = book($ctok, date => "$Y-03-10", time => '10:00', duration => 50);
is($bst, 201, 'client A books an appointment');
my (undef, $appt2) = book($c2tok, date => "$Y-03-11", time => '10:00', duration => 50);
my (undef, $appt_b) = book($dtok, date => "$Y-03-12", time => '10:00', duration => 50);
($st, $inv, $res) = create_invoice($ptok, clientId => $cli->{id}, appointmentId => $appt->{id},
                                   amount => 120, description => 'Session 10 March');
success_is($res, 201, "an invoice for the client's own appointment: 201");
is($inv->{appointmentId}, $appt->{id}, 'appointmentId kept');
is(money_in_json($res, 'amount'), '120', 'amount 120 printed as an integer');
$before = psql(q{SELECT count(*) FROM invoices});
($st, undef, $res) = create_invoice($ptok, clientId => $cli->{id}, appointmentId => $appt2->{id},
                                    amount => 120);
error_is($res, 404, 'not_found', 'appointmentId', "an appointment of another client: 404 field appointmentId");
($st, undef, $res) = create_invoice($ptok, clientId => $cli->{id}, appointmentId => $appt_b->{id},
                                    amount => 120);
error_is($res, 404, 'not_found', 'appointmentId', "another practice's appointment: 404 field appointmentId");
($st, undef, $res) = create_invoice($ptok, clientId => $cli->{id}, appointmentId => uuid_v4(),
                                    amount => 120);
error_is($res, 404, 'not_found', 'appointmentId', 'an unknown appointment: 404 field appointmentId');
is(psql(q{SELECT count(*) FROM invoices}), $before, 'no invoice was created by the refusals');

# roles
($st, undef, $res) = create_invoice($ctok, clientId => $cli->{id}, amount => 10);
error_is($res, 403, 'forbidden', undef, 'a client creating an invoice: 403');
audit_single($res, { action => 'invoice.create', outcome => 'denied', actor_id => $cli->{id},
                     actor_type => 'client' }, '... recorded as denied');
($st, undef, $res) = create_invoice(undef, clientId => $cli->{id}, amount => 10);
error_is($res, 401, 'unauthorized', undef, 'no token: 401');
($st, undef, $res) = api(GET => '/api/billing/invoices');
error_is($res, 401, 'unauthorized', undef, 'listing without a token: 401');
is(psql(q{SELECT count(*) FROM invoices}), $before, 'still no new invoice');
($st, undef, $res) = api(POST => '/api/billing/invoices', token => $ptok, body => 'amount=10',
                         ctype => 'application/x-www-form-urlencoded');
error_is($res, 400, 'invalid_json', undef, 'a form body: 400 invalid_json');
($st, undef, $res) = api(DELETE => '/api/billing/invoices', token => $ptok);
error_is($res, 405, 'method_not_allowed', undef, 'DELETE /api/billing/invoices: 405');

# ---- list --------------------------------------------------------------------------------------------
my @mine = grep { length } split /\n/,
    psql(q{SELECT id FROM invoices WHERE provider_id = } . sql_quote($prov->{id}) . q{ ORDER BY id});
my @of_a = grep { length } split /\n/,
    psql(q{SELECT id FROM invoices WHERE client_id = } . sql_quote($cli->{id}) . q{ ORDER BY id});
my ($bst2, $inv_b, $bres) = create_invoice($qtok, clientId => $cli_b->{id}, amount => 77.77);
success_is($bres, 201, 'provider B invoices its own client');

my ($lst, $list);
($lst, $list, $res) = invoice_list($ptok);
success_is($res, 200, 'GET /api/billing/invoices as provider: 200');
is(ref $list, 'ARRAY', 'an array');
is_deeply(ids_of($list), [sort @mine], "provider A sees exactly its clients' invoices");
ok(!(grep { $_->{id} eq ($inv_b->{id} // '') } @{ $list // [] }), "... never provider B's");
is_deeply([sort keys %{ $list->[0] // {} }], INVOICE_KEYS, 'list entries carry the model fields');
my ($listed_first) = grep { $_->{id} eq $first->{id} } @{ $list // [] };
is_deeply($listed_first, $first, 'a listed invoice reads as it was created');
audit_single($res, { action => 'invoice.list', outcome => 'success', actor_id => $prov->{id},
                     actor_type => 'provider', resource_type => 'invoice' },
             'list writes one invoice.list success event');

($lst, $list, $res) = invoice_list($ctok);
success_is($res, 200, 'GET /api/billing/invoices as client: 200');
is_deeply(ids_of($list), [sort @of_a], 'client A sees exactly its own invoices');
audit_single($res, { action => 'invoice.list', outcome => 'success', actor_id => $cli->{id},
                     actor_type => 'client', client_id => $cli->{id} },
             "client's list writes one invoice.list event about that client");
($lst, $list) = invoice_list($c2tok);
ok(@$list >= 8 && !(grep { $_->{clientId} ne $cli2->{id} } @$list), 'client A2 sees only its own');
($lst, $list) = invoice_list($dtok);
is_deeply(ids_of($list), [$inv_b->{id}], "the other practice's client sees only its own invoice");
is($list->[0]{amount}, 77.77, '... 77.77');
($lst, $list) = invoice_list($qtok);
is_deeply(ids_of($list), [$inv_b->{id}], 'provider B sees only its own invoice');
my ($nt, $nc) = client_session($prov->{id});
($lst, $list, $res) = invoice_list($nt);
success_is($res, 200, 'a client without invoices: 200');
is_deeply($list, [], '... an empty array');

# ---- status: paid, pending, overdue ---------------------------------------------------------------------
my ($s1, $i_pending) = create_invoice($ptok, clientId => $nc->{id}, amount => 11);
my ($s2, $i_overdue) = create_invoice($ptok, clientId => $nc->{id}, amount => 22);
my ($s3, $i_paid)    = create_invoice($ptok, clientId => $nc->{id}, amount => 33);
invoice_to_overdue($i_overdue->{id}, 1);
psql(q{UPDATE invoices SET status = 'paid', paid_at = now(), payment_method = 'pm_card_visa', }
   . q{transaction_id = 'pi_statusfilter' || md5(random()::text) WHERE id = } . sql_quote($i_paid->{id}));
my %want = (pending => [$i_pending->{id}], overdue => [$i_overdue->{id}], paid => [$i_paid->{id}]);
($lst, $list) = invoice_list($nt);
my %status = map { $_->{id} => $_->{status} } @$list;
is($status{ $i_overdue->{id} }, 'overdue', 'a pending invoice past its due date reads overdue');
is($status{ $i_pending->{id} }, 'pending', 'a pending invoice within its due date reads pending');
is($status{ $i_paid->{id} }, 'paid', 'a paid invoice reads paid');
is(invoice_row($i_overdue->{id})->{status}, 'pending', 'overdue is not stored (the row says pending)');
for my $s (qw(pending overdue paid)) {
    ($lst, $list, $res) = invoice_list($nt, $s);
    success_is($res, 200, "client ?status=$s: 200");
    is_deeply(ids_of($list), $want{$s}, "client ?status=$s: exactly the $s invoice");
    ($lst, $list, $res) = invoice_list($ptok, $s);
    my @ids = grep { my $id = $_; grep { $_ eq $id } map { @$_ } values %want } @{ ids_of($list) };
    is_deeply(\@ids, $want{$s}, "provider ?status=$s: of these, exactly the $s one");
    ok(!(grep { $_->{status} ne $s } @$list), "provider ?status=$s: every entry reads $s");
}
my ($paid_entry) = grep { $_->{id} eq $i_paid->{id} } @{ (invoice_list($nt, 'paid'))[1] };
like($paid_entry->{paidAt} // '', $TS_RE, 'a paid invoice has paidAt');
is($paid_entry->{paymentMethod}, 'pm_card_visa', 'a paid invoice has its paymentMethod');
for my $bad ('unpaid', 'PAID', 'all', 'pending,paid') {
    ($lst, undef, $res) = invoice_list($ptok, $bad);
    error_is($res, 422, 'validation_error', 'status', "?status=$bad: 422 field status");
}

# overdue is the provider's date, not UTC's: due "today" in UTC-11 is never overdue
my ($bs, $due_today) = create_invoice($qtok, clientId => $cli_b->{id}, amount => 5);
psql(q{UPDATE invoices SET issued_on = (now() AT TIME ZONE 'Pacific/Pago_Pago')::date, }
   . q{due_date = (now() AT TIME ZONE 'Pacific/Pago_Pago')::date WHERE id = } . sql_quote($due_today->{id}));
($lst, $list) = invoice_list($dtok);
my ($dt) = grep { $_->{id} eq $due_today->{id} } @$list;
is($dt->{status}, 'pending', "due today in the provider's zone ($ZB) reads pending");
is($dt->{dueDate}, local_today($ZB), "... its dueDate is today there");

stripe_reset();
done_testing();
