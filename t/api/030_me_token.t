# GET /api/auth/me and token verification
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my ($st, $reg, $rres) = register_provider();
is($st, 201, 'setup: provider registered') or diag(dump_res($rres));
my $user  = $reg->{user} || {};
my $token = $reg->{token} // '';
my ($hdr, $claims) = jwt_parts($token);
$claims ||= {};

# the good case
my (undef, $md, $mres) = api(GET => '/api/auth/me', token => $token);
success_is($mres, 200, 'me with the bearer token: 200 JSON');
is_deeply([sort keys %{ $md || {} }], ['user'], 'me body is {user}');
is_deeply($md->{user}, $user, 'me user equals the registered user');

# a client's me has the client shape
my ($cst, $creg) = register_client($user->{id});
my (undef, $cmd, $cmres) = api(GET => '/api/auth/me', token => $creg->{token});
success_is($cmres, 200, 'client me: 200');
is_deeply([sort keys %{ $cmd->{user} || {} }], CLIENT_KEYS, 'client me has the client keys');
is($cmd->{user}{providerId}, $user->{id}, 'client me providerId');

my $secret = jwt_secret();
ok(length $secret >= 32, 'JWT secret file readable and at least 32 bytes');
my $now = time;
my %good = (sub => $user->{id}, role => 'provider', jti => uuid_v4(), iat => $now - 10, exp => $now + 3600);

my @unauth = (
    ['no Authorization header',     []],
    ['Authorization: Bearer (empty)', ['Authorization' => 'Bearer']],
    ['Authorization: Bearer + space', ['Authorization' => 'Bearer ']],
    ['Basic credentials',           ['Authorization' => 'Basic dXNlcjpwYXNz']],
    ['garbage token',               ['Authorization' => 'Bearer garbage']],
    ['garbage 3-part token',        ['Authorization' => 'Bearer abc.def.ghi']],
    ['token without signature',     ['Authorization' => 'Bearer ' . join('.', (split /\./, $token)[0, 1])]],
    ['token with signature cut',    ['Authorization' => 'Bearer ' . substr($token, 0, -3)]],
    ['token signed with another secret',
        ['Authorization' => 'Bearer ' . jwt_make({ alg => 'HS256', typ => 'JWT' }, \%good, 'x' x 64)]],
    ['alg none token',
        ['Authorization' => 'Bearer ' . jwt_make({ alg => 'none', typ => 'JWT' }, \%good, $secret)]],
    ['alg none token signed anyway',
        ['Authorization' => 'Bearer ' . do {
            my $t = jwt_make({ alg => 'HS256', typ => 'JWT' }, \%good, $secret);
            my ($s) = $t =~ /\.([^.]+)$/;
            jwt_make({ alg => 'none', typ => 'JWT' }, \%good, $secret) . $s }]],
    ['HS384 token with the right secret',
        ['Authorization' => 'Bearer ' . jwt_make({ alg => 'HS384', typ => 'JWT' }, \%good, $secret)]],
    ['expired token with the right secret',
        ['Authorization' => 'Bearer ' . jwt_make({ alg => 'HS256', typ => 'JWT' },
            { %good, iat => $now - 7200, exp => $now - 3600 }, $secret)]],
    ['token without exp',
        ['Authorization' => 'Bearer ' . do { my %c = %good; delete $c{exp};
            jwt_make({ alg => 'HS256', typ => 'JWT' }, \%c, $secret) }]],
    ['token for a user that does not exist',
        ['Authorization' => 'Bearer ' . jwt_make({ alg => 'HS256', typ => 'JWT' },
            { %good, sub => uuid_v4() }, $secret)]],
    ['registered token with payload changed (role client) and old signature',
        ['Authorization' => 'Bearer ' . do {
            my ($h64, undef, $s64) = split /\./, $token;
            my $forged = jwt_make({ alg => 'HS256' }, { %$claims, role => 'client' }, $secret);
            my (undef, $p64) = split /\./, $forged;
            "$h64.$p64.$s64" }]],
    ['token followed by extra text',
        ['Authorization' => "Bearer $token extra"]],
);
for my $case (@unauth) {
    my ($name, $headers) = @$case;
    my (undef, undef, $r) = api(GET => '/api/auth/me', headers => $headers);
    error_is($r, 401, 'unauthorized', undef, "me with $name: 401 unauthorized");
}

# A correctly forged token (right secret, HS256, real user id) is accepted: the check above
# is the signature, not luck.
my $forged = jwt_make({ alg => 'HS256', typ => 'JWT' }, \%good, $secret);
my (undef, $fd, $fres) = api(GET => '/api/auth/me', token => $forged);
success_is($fres, 200, 'me with a valid HS256 token forged with the right secret: 200');
is($fd->{user}{id}, $user->{id}, 'forged valid token identifies the user');

# the same claims, header without typ: still fine
my $forged2 = jwt_make({ alg => 'HS256' }, { %good, jti => uuid_v4() }, $secret);
my (undef, undef, $f2res) = api(GET => '/api/auth/me', token => $forged2);
is($f2res->code, 200, 'valid token without typ header: 200') or diag(dump_res($f2res));

# the scheme name is case-insensitive (RFC 7235)
my (undef, undef, $lcres) = api(GET => '/api/auth/me', headers => ['Authorization' => "bearer $token"]);
is($lcres->code, 200, 'scheme "bearer" in lower case accepted') or diag(dump_res($lcres));

done_testing();
