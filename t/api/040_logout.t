# POST /api/auth/logout: revocation at once, other tokens unaffected
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my ($st, $reg, $rres, $sent) = register_provider();
is($st, 201, 'setup: provider registered') or diag(dump_res($rres));
my $user = $reg->{user} || {};

my ($s1, $l1) = login($sent->{email});
my ($s2, $l2) = login($sent->{email});
is($s1, 200, 'setup: first login');
is($s2, 200, 'setup: second login');
my $ta = $l1->{token} // '';
my $tb = $l2->{token} // '';
my (undef, $ca) = jwt_parts($ta);
$ca ||= {};
isnt($ta, $tb, 'two logins give two different tokens');

my (undef, undef, $pre) = api(GET => '/api/auth/me', token => $ta);
is($pre->code, 200, 'token A works before logout') or diag(dump_res($pre));

my (undef, undef, $lo) = api(POST => '/api/auth/logout', token => $ta);
is($lo->code, 204, 'logout: 204') or diag(dump_res($lo));
is($lo->content // '', '', 'logout: empty body');
is_deeply([common_headers_problems($lo)], [], 'logout: common headers present');

my (undef, undef, $after) = api(GET => '/api/auth/me', token => $ta);
error_is($after, 401, 'unauthorized', undef, 'me with the logged-out token: 401 at once');
my (undef, undef, $again) = api(POST => '/api/auth/logout', token => $ta);
error_is($again, 401, 'unauthorized', undef, 'logout again with the revoked token: 401');

my (undef, $bd, $bres) = api(GET => '/api/auth/me', token => $tb);
success_is($bres, 200, 'second login token still works');
is($bd->{user}{id}, $user->{id}, 'second token is the same user');
my (undef, undef, $rgres) = api(GET => '/api/auth/me', token => $reg->{token});
is($rgres->code, 200, 'the register token still works') or diag(dump_res($rgres));

my (undef, undef, $none) = api(POST => '/api/auth/logout');
error_is($none, 401, 'unauthorized', undef, 'logout without a token: 401');
my (undef, undef, $bad) = api(POST => '/api/auth/logout', token => 'x.y.z');
error_is($bad, 401, 'unauthorized', undef, 'logout with a garbage token: 401');

# a logout with a JSON body (some clients send {}) also works
my (undef, undef, $lob) = api(POST => '/api/auth/logout', token => $tb, json => {});
is($lob->code, 204, 'logout with an empty JSON object body: 204') or diag(dump_res($lob));
my (undef, undef, $afterb) = api(GET => '/api/auth/me', token => $tb);
is($afterb->code, 401, 'second token revoked by its own logout') or diag(dump_res($afterb));

# revoked_tokens
my $jti = $ca->{jti} // 'none';
my $row = psql('SELECT user_id, extract(epoch FROM expires_at)::bigint, (revoked_at IS NOT NULL) '
             . 'FROM revoked_tokens WHERE jti::text = ' . sql_quote($jti));
ok(length $row, 'revoked_tokens has the jti of the logged-out token') or diag("jti $jti");
my ($ruid, $rexp, $rat) = split /\|/, $row;
is($ruid, $user->{id}, 'revoked_tokens.user_id is the user');
ok(defined $rexp && defined $ca->{exp} && abs($rexp - $ca->{exp}) <= 2,
   'revoked_tokens.expires_at is the token exp') or diag('expires_at ' . ($rexp // 'undef') . ' exp ' . ($ca->{exp} // 'undef'));
is($rat, 't', 'revoked_at set');
is(psql('SELECT count(*) FROM revoked_tokens WHERE jti::text = ' . sql_quote($jti)), '1',
   'exactly one revoked_tokens row for that jti (second logout added none)');

done_testing();
