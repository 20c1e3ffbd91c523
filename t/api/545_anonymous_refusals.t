# Refusals of anonymous requests under DocPortalAnonymousAuditLimit, on the docportal_anon
# virtual host (limit 5 a minute; plain HTTP on its own port, also in the TLS pass), from
# addresses of this test's own (127.0.0.3 and 127.0.0.4, so the rest of the suite's refusals
# from 127.0.0.1 never share its counts):
#  - within the limit each refusal is one audit row (anonymous, denied, the address), as on a
#    server without the limit;
#  - a burst of 50 refusals from one address (bad and missing tokens, bad Stripe signatures)
#    answers exactly as the first ones (401 unauthorized with WWW-Authenticate, 400
#    invalid_signature), writes rows for the first 5 only and counts all 50;
#  - another address is counted on its own; a wrong password for an existing account is always
#    its own row;
#  - when the minute has closed (the test moves its counts back two minutes) the sealer writes
#    one audit.refusals event per address that went past the limit (the address, the minute,
#    refused=50 recorded=5, the most frequent action and outcome), deletes the counts, and the
#    event is sealed into a chain that dp-audit-verify finds intact.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DocPortal::Test;
use DocPortal::AuditChain;
use DocPortal::Db qw(psql_rows);
use Time::HiRes ();

my $LIMIT = 5;
my ($FLOOD, $OTHER) = ('127.0.0.3', '127.0.0.4');
my $ADDRS = join ', ', map { sql_quote($_) } $FLOOD, $OTHER;

# from($address, METHOD, PATH, %opt): api() against docportal_anon over plain HTTP, sent from
# $address (any address of the loopback range is this machine's)
sub from {
    my ($addr, @args) = @_;
    local $Apache::TestRequest::Module = 'docportal_anon';
    local $DocPortal::Test::TLS = 0;
    my $ua = Apache::TestRequest::user_agent(requests_redirectable => 0);
    my $was = $ua->local_address;
    $ua->local_address($addr);
    my @r = eval { api(@args) };
    my $err = $@;
    $ua->local_address($was);
    die $err if $err;
    return @r;
}

sub bad_token  { from($_[0], GET => '/api/auth/me', token => 'not.a.token') }
sub no_token   { from($_[0], GET => '/api/messages') }
sub bad_hook   { from($_[0], POST => '/api/billing/webhook', body => '{"id":"evt_x"}',
                      ctype => 'application/json', headers => ['Stripe-Signature' => 't=1,v1=00']) }

sub rid { $_[0]->header('X-Request-Id') }

sub counts {
    my ($addr) = @_;
    my $out = psql('SELECT refused, recorded, tally::text FROM audit_refusal_counts WHERE ip = '
                 . sql_quote($addr));
    my @rows = psql_rows($out, qw(refused recorded tally));
    return \@rows;
}

sub unauthorized_is {
    my ($res, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    local $DocPortal::Test::TLS = 0;    # a plain-HTTP answer, also in the TLS pass
    error_is($res, 401, 'unauthorized', undef, "$name: 401 unauthorized");
    is($res->header('WWW-Authenticate'), 'Bearer', "$name: WWW-Authenticate Bearer");
}

# ---- setup ------------------------------------------------------------------------------------
psql_must("DELETE FROM audit_refusal_counts WHERE ip IN ($ADDRS)");
my $t0 = psql(q{SELECT now()});
# the burst must fit in one minute: start it early in one
my $sec = psql(q{SELECT extract(second FROM now())::int});
if ($sec > 40) {
    Time::HiRes::sleep(61 - $sec);
}
my ($st0) = from($FLOOD, GET => '/api/health');
is($st0, 200, "setup: docportal_anon answers from $FLOOD");

# ---- within the limit: each refusal its own row -----------------------------------------------
my @other;
for my $i (1 .. 3) {
    my (undef, undef, $res) = bad_token($OTHER);
    unauthorized_is($res, "$OTHER refusal $i");
    audit_single($res, { action => 'user.read', outcome => 'denied', actor_type => 'anonymous',
                         actor_id => '', ip => $OTHER }, "$OTHER refusal $i: its own audit row");
    push @other, $res;
}
is_deeply([map { [@$_{qw(refused recorded)}] } @{ counts($OTHER) }], [[3, 3]],
          "$OTHER: 3 refused, 3 recorded");

# ---- a burst of 50 from one address -------------------------------------------------------------
my (@burst, @answers);
for my $i (1 .. 50) {
    my $kind = $i % 10 == 0 ? 'hook' : $i % 10 == 5 ? 'none' : 'bad';
    my (undef, $d, $res) = $kind eq 'hook' ? bad_hook($FLOOD)
                         : $kind eq 'none' ? no_token($FLOOD) : bad_token($FLOOD);
    push @burst, [$kind, $res];
}
my ($bad_ok, $none_ok, $hook_ok, $shape_ok) = (0, 0, 0, 1);
my %first;
for my $b (@burst) {
    my ($kind, $res) = @$b;
    my $d = json_body($res) // {};
    if ($kind eq 'hook') {
        $hook_ok++ if $res->code == 400 && ($d->{code} // '') eq 'invalid_signature';
    }
    else {
        my $ok = $res->code == 401 && ($d->{code} // '') eq 'unauthorized'
              && ($res->header('WWW-Authenticate') // '') eq 'Bearer';
        $kind eq 'bad' ? $bad_ok++ : $none_ok++ if $ok;
    }
    # every answer of a kind is the same, past the limit as within it
    my $body = $res->content;
    $first{$kind} //= $body;
    $shape_ok = 0 if $body ne $first{$kind};
}
is($bad_ok, 40, 'burst: 40 bad tokens, each 401 unauthorized with WWW-Authenticate');
is($none_ok, 5, 'burst: 5 without a token, each 401 unauthorized');
is($hook_ok, 5, 'burst: 5 bad Stripe signatures, each 400 invalid_signature');
ok($shape_ok, 'burst: the answers past the limit are the same bytes as those within it');

my @rids = map { rid($_->[1]) } @burst;
my $rid_list = join ', ', map { sql_quote($_) } @rids;
my @rows = psql_rows(scalar psql(qq{SELECT request_id, action, outcome, actor_type, ip FROM audit_events }
                        . qq{WHERE request_id IN ($rid_list) ORDER BY seq}),
                     qw(request_id action outcome actor_type ip));
is(scalar @rows, $LIMIT, "burst: $LIMIT audit rows for 50 refusals");
is_deeply([map { $_->{request_id} } @rows], [@rids[0 .. $LIMIT - 1]], '... those of the first 5');
is_deeply([map { "$_->{actor_type} $_->{outcome} $_->{ip}" } @rows],
          [("anonymous denied $FLOOD") x $LIMIT], '... anonymous, denied, from the address');
my ($c) = @{ counts($FLOOD) };
is("$c->{refused} $c->{recorded}", '50 5', 'burst: 50 refused, 5 recorded for the address');
like($c->{tally}, qr/"user\.read denied": 40\b/, 'burst: the tally by action and outcome')
    or diag($c->{tally});

# the other address is counted on its own: still within its limit
{
    my (undef, undef, $res) = bad_token($OTHER);
    unauthorized_is($res, "$OTHER during the burst");
    audit_single($res, { action => 'user.read', outcome => 'denied', ip => $OTHER },
                 "$OTHER during the burst: its own audit row");
}

# a wrong password for an existing account names it: always its own row
my (undef, $pu) = register_provider(name => 'Dr Refused');
{
    my (undef, undef, $res) = from($FLOOD, POST => '/api/auth/login',
                                   json => { email => $pu->{user}{email}, password => 'Wrong-password-9' });
    {
        local $DocPortal::Test::TLS = 0;
        error_is($res, 401, 'invalid_credentials', undef, 'a wrong password past the limit: 401');
    }
    audit_single($res, { action => 'auth.login', outcome => 'failure', actor_type => 'anonymous',
                         resource_id => $pu->{user}{id}, ip => $FLOOD },
                 '... still its own audit row, naming the account');
}
($c) = @{ counts($FLOOD) };
is($c->{refused}, 50, '... and not counted with the anonymous refusals');

# ---- the minute closes: one event for the address, the counts go -------------------------------
# (the minute the event names is the one the counts were moved to)
my $minute = psql_must(qq{UPDATE audit_refusal_counts SET window_start = window_start - interval '2 minutes' }
                     . qq{WHERE ip IN ($ADDRS) RETURNING CASE WHEN ip = } . sql_quote($FLOOD)
                     . q{ THEN to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') END});
($minute) = grep { length } split /\n/, $minute;
my $deadline = Time::HiRes::time() + 20;
while (Time::HiRes::time() < $deadline
       && psql(qq{SELECT count(*) FROM audit_refusal_counts WHERE ip IN ($ADDRS)}) ne '0') {
    Time::HiRes::sleep(0.2);
}
is(psql(qq{SELECT count(*) FROM audit_refusal_counts WHERE ip IN ($ADDRS)}), '0',
   'the closed counts are deleted by the sealer');
is(psql(q{SELECT count(*) FROM audit_refusal_counts WHERE window_start < now() - interval '3 minutes'}),
   '0', 'no count older than its minute and the margin is left');

my @ev = psql_rows(scalar psql(q{SELECT coalesce(actor_id::text, ''), actor_type, action, resource_type, }
                      . q{resource_id, ip, outcome, coalesce(request_id, ''), seq FROM audit_events }
                      . q{WHERE action = 'audit.refusals' AND at >= } . sql_quote($t0)
                      . qq{ AND ip IN ($ADDRS) ORDER BY seq}),
                   qw(actor_id actor_type action resource_type resource_id ip outcome request_id seq));
is(scalar @ev, 1, 'one audit.refusals event: for the address past the limit only');
my $e = $ev[0] // {};
is($e->{ip}, $FLOOD, '... from that address');
is($e->{resource_id}, "minute=$minute refused=50 recorded=5 action=user.read",
   '... with its minute, the counts and the most frequent action');
is("$e->{actor_type}|$e->{actor_id}|$e->{resource_type}|$e->{outcome}|$e->{request_id}",
   'anonymous||refusals|denied|', '... anonymous, resource type refusals, outcome denied');

# ---- the event is chained like any other row ------------------------------------------------------
ok(wait_sealed(20), 'the sealer chains the event') or diag('unsealed: ' . unsealed_count());
is(psql(qq{SELECT count(*) FROM audit_seals WHERE event_seq = } . ($e->{seq} // 0)), '1',
   '... it has a seal');
# (the database's chain: t/api/500_audit_chain.t leaves cut chains' checkpoints in the log)
my ($rc, $out, $err) = chain_verify();
is($rc, 0, 'dp-audit-verify: the chain with the event is intact') or diag("$out\n$err");
like($out, qr/^dp-audit-verify: OK$/m, '... it says OK');

done_testing();
