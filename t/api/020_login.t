# POST /api/auth/login
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my ($st, $reg, $rres, $sent) = register_provider(hourlyRate => 80);
is($st, 201, 'setup: provider registered') or diag(dump_res($rres));
my $user = $reg->{user} || {};
my $email = $sent->{email};

my ($ls, $ld, $lres) = login($email);
success_is($lres, 200, 'login: 200 JSON');
is_deeply([sort keys %{ $ld || {} }], [qw(token user)], 'login body has exactly token and user');
is_deeply([sort keys %{ $ld->{user} || {} }], PROVIDER_KEYS, 'login user has the provider keys');
is($ld->{user}{id}, $user->{id}, 'login user is the registered user');
is_deeply($ld->{user}, $user, 'login user object equals the one register returned');
my ($h, $c) = jwt_parts($ld->{token});
ok($c, 'login token is a JWT') or diag($ld->{token} // 'undef');
is($c->{sub}, $user->{id}, 'login token sub');
is($c->{role}, 'provider', 'login token role');
is(($c->{exp} // 0) - ($c->{iat} // 0), 86400, 'login token lifetime 24 h');
my (undef, $rc) = jwt_parts($reg->{token});
isnt($c->{jti}, $rc->{jti}, 'login token has a new jti (differs from the register token)');

# email in other letter case
my (undef, $ud, $ures) = login(uc $email);
success_is($ures, 200, 'login with the email upper-cased: 200');
is($ud->{user}{id}, $user->{id}, 'upper-case login is the same user');
my (undef, undef, $sres) = login("  $email  ");
ok($sres->code >= 200 && $sres->code < 500, 'login with surrounding spaces: not 5xx')
    or diag(dump_res($sres));

# failures: same body for wrong password and unknown email
my (undef, $wd, $wres) = login($email, 'wrong-password-1');
error_is($wres, 401, 'invalid_credentials', undef, 'wrong password: 401 invalid_credentials');
my (undef, $nd, $nres) = login(unique_email('nobody'), 'wrong-password-1');
error_is($nres, 401, 'invalid_credentials', undef, 'unknown email: 401 invalid_credentials');
is($nres->content, $wres->content, 'unknown email and wrong password give identical bodies');
ok(!exists $wd->{token} && !exists $wd->{user}, 'no token or user in a failed login');
my (undef, undef, $cres) = login($email, uc $sent->{password});
error_is($cres, 401, 'invalid_credentials', undef, 'password is case-sensitive: 401');

# a client can log in too, with role client
my ($cst, $creg, $crr, $csent) = register_client($user->{id});
is($cst, 201, 'setup: client registered') or diag(dump_res($crr));
my (undef, $cld, $clres) = login($csent->{email});
success_is($clres, 200, 'client login: 200');
is_deeply([sort keys %{ $cld->{user} || {} }], CLIENT_KEYS, 'client login user has the client keys');
my (undef, $cc) = jwt_parts($cld->{token});
is($cc->{role}, 'client', 'client token role is client');

# validation
my (undef, undef, $mp) = api(POST => '/api/auth/login', json => { email => $email });
error_is($mp, 422, 'validation_error', 'password', 'missing password: 422 field password');
my (undef, undef, $me) = api(POST => '/api/auth/login', json => { password => 'whatever-123' });
error_is($me, 422, 'validation_error', 'email', 'missing email: 422 field email');
my (undef, undef, $mj) = api(POST => '/api/auth/login', json => '{"email":');
error_is($mj, 400, 'invalid_json', undef, 'malformed JSON: 400 invalid_json');
my (undef, undef, $tp) = api(POST => '/api/auth/login', ctype => 'text/plain',
                             body => qq({"email":"$email","password":"$sent->{password}"}));
error_is($tp, 400, 'invalid_json', undef, 'login as text/plain: 400 invalid_json');

# the body cap of the public auth routes: 16 KiB, not DocPortalMaxBody (1 MiB)
my (undef, undef, $big) = api(POST => '/api/auth/login',
                              json => { email => $email, password => $sent->{password}, pad => 'p' x (20 * 1024) });
my $bd = error_is($big, 413, 'payload_too_large', undef, 'a 20 KiB login body: 413 payload_too_large');
like($bd->{detail} // '', qr/16384 bytes/, '... naming the route\'s cap');
my (undef, undef, $okres) = login($email, $sent->{password});
success_is($okres, 200, 'a normal login still works');
my (undef, undef, $edge) = api(POST => '/api/auth/login',
                               json => { email => $email, password => $sent->{password}, pad => 'p' x (15 * 1024) });
success_is($edge, 200, 'a 15 KiB login body is read (unknown members are ignored)');

done_testing();
