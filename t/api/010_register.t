# POST /api/auth/register: success shapes, token, conflicts, validation, body handling, storage.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

sub keys_are {
    my ($h, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is_deeply([sort keys %{ $h || {} }], $want, $name)
        or diag('got keys: ' . join(',', sort keys %{ $h || {} }));
}

sub no_secret_keys {
    my ($h, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @bad = grep { /pass|hash|secret/i } keys %{ $h || {} };
    ok(!@bad, $name) or diag("secret-looking keys: @bad");
}

sub token_ok {
    my ($token, $user, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    like($token // '', qr/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, "$name: token is a 3-part JWT");
    my ($h, $c) = jwt_parts($token);
    ok($h && $c, "$name: token header and payload are base64url JSON") or return;
    is($h->{alg}, 'HS256', "$name: alg HS256");
    is($c->{sub}, $user->{id}, "$name: sub is the user id");
    is($c->{role}, $user->{userType}, "$name: role is the user type");
    ok(defined $c->{jti} && length $c->{jti}, "$name: jti present");
    like($c->{iat} // '', qr/^\d+$/, "$name: iat is an integer");
    like($c->{exp} // '', qr/^\d+$/, "$name: exp is an integer");
    is(($c->{exp} // 0) - ($c->{iat} // 0), 86400, "$name: exp - iat = 86400");
    ok(abs(($c->{iat} // 0) - time) < 300, "$name: iat is now") or diag("iat $c->{iat}, now " . time);
    return $c;
}

# --- provider, with optional fields -------------------------------------------------------
my $pemail_mixed = unique_email('Prov.MiXeD');
$pemail_mixed =~ s/example\.com$/Example.COM/;
# hourlyRate written literally: 149.99 must come back as 149.99, not 149.99000000000001
my $pbody = sprintf '{"email":"%s","password":"%s","name":"Dr. Ada Lovelace","userType":"provider",'
    . '"phone":"+1 555 0100","specialty":"CBT","license":"LIC-42","bio":"Hello","hourlyRate":149.99}',
    $pemail_mixed, 'Sup3r-secret-pw';
my ($st, $d, $res) = api(POST => '/api/auth/register', json => $pbody);
success_is($res, 201, 'register provider: 201 JSON');
keys_are($d, [qw(token user)], 'register provider: body has exactly token and user');
my $prov = $d->{user} || {};
keys_are($prov, PROVIDER_KEYS, 'provider user object has exactly the spec keys');
no_secret_keys($prov, 'provider user has no password/hash key');
unlike($res->content, qr/\$2[aby]\$/, 'no bcrypt hash anywhere in the response');
like($prov->{id} // '', $UUID_RE, 'provider id is a UUID');
is($prov->{email}, lc $pemail_mixed, 'provider email returned lower-case');
is($prov->{name}, 'Dr. Ada Lovelace', 'provider name');
is($prov->{userType}, 'provider', 'provider userType');
is($prov->{phone}, '+1 555 0100', 'provider phone');
ok(exists $prov->{avatar} && !defined $prov->{avatar}, 'provider avatar null when unset');
is($prov->{specialty}, 'CBT', 'provider specialty');
is($prov->{license}, 'LIC-42', 'provider license');
is($prov->{bio}, 'Hello', 'provider bio');
is($prov->{timeZone}, 'America/New_York', 'provider timeZone defaults to America/New_York');
like($res->content, qr/"hourlyRate"\s*:\s*149\.99\s*[,}]/, 'hourlyRate 149.99 comes back as the JSON number 149.99 exactly')
    or diag($res->content);
like($prov->{createdAt} // '', $TS_RE, 'createdAt RFC 3339 UTC');
like($prov->{updatedAt} // '', $TS_RE, 'updatedAt RFC 3339 UTC');
token_ok($d->{token}, $prov, 'provider token');

# --- provider with nothing optional: every optional key null -----------------------------
my ($st2, $d2, $res2) = register_provider();
success_is($res2, 201, 'register minimal provider: 201');
my $p2 = $d2->{user} || {};
keys_are($p2, PROVIDER_KEYS, 'minimal provider has exactly the spec keys');
for my $k (qw(phone avatar specialty license bio hourlyRate)) {
    ok(exists $p2->{$k} && !defined $p2->{$k}, "minimal provider: $k is null");
}
is($p2->{timeZone}, 'America/New_York', 'minimal provider timeZone default');

# explicit valid timeZone and integer hourlyRate
my (undef, $d3, $res3) = register_provider(timeZone => 'Europe/Berlin', hourlyRate => 100);
success_is($res3, 201, 'provider with timeZone Europe/Berlin and hourlyRate 100: 201');
is($d3->{user}{timeZone}, 'Europe/Berlin', 'timeZone stored as given');
like($res3->content, qr/"hourlyRate"\s*:\s*100(?:\.0+)?\s*[,}]/, 'hourlyRate 100 returned as a number 100');

# --- client of that provider --------------------------------------------------------------
my ($cst, $cd, $cres, $cbody) = register_client($prov->{id});
success_is($cres, 201, 'register client with providerId: 201 JSON');
keys_are($cd, [qw(token user)], 'register client: body has exactly token and user');
my $cli = $cd->{user} || {};
keys_are($cli, CLIENT_KEYS, 'client user object has exactly the spec keys');
no_secret_keys($cli, 'client user has no password/hash key');
like($cli->{id} // '', $UUID_RE, 'client id is a UUID');
is($cli->{providerId}, $prov->{id}, 'client providerId is the provider id');
is($cli->{userType}, 'client', 'client userType');
is($cli->{email}, lc $cbody->{email}, 'client email');
for my $k (qw(phone avatar dateOfBirth address insurance emergencyContact)) {
    ok(exists $cli->{$k} && !defined $cli->{$k}, "client: $k is null when unset");
}
token_ok($cd->{token}, $cli, 'client token');

# client with every optional field
my $ec = { name => 'Grace Hopper', phone => '+1 555 0199', relationship => 'sister' };
my (undef, $cfd, $cfres) = register_client($prov->{id}, phone => '555-0101', avatar => 'https://example.com/a.png',
    dateOfBirth => '1990-05-17', address => '1 Main St', insurance => 'Acme Health',
    emergencyContact => $ec);
success_is($cfres, 201, 'register client with all optional fields: 201');
my $cf = $cfd->{user} || {};
is($cf->{dateOfBirth}, '1990-05-17', 'dateOfBirth returned as YYYY-MM-DD');
is($cf->{address}, '1 Main St', 'address');
is($cf->{insurance}, 'Acme Health', 'insurance');
is($cf->{phone}, '555-0101', 'phone');
is($cf->{avatar}, 'https://example.com/a.png', 'avatar');
is_deeply($cf->{emergencyContact}, $ec, 'emergencyContact object round-trips');

# Content-Type with parameters is accepted
my (undef, undef, $csres) = api(POST => '/api/auth/register', ctype => 'application/json; charset=utf-8',
    json => { email => unique_email('cs'), password => 'Sup3r-secret-pw', name => 'Charset', userType => 'provider' });
success_is($csres, 201, 'Content-Type "application/json; charset=utf-8" accepted');

# password length is counted in bytes: 72 bytes OK (36 x U+00E9), 74 bytes not
my $pw72 = "\x{e9}" x 36;
my ($s72, $d72, $r72) = register_provider(password => $pw72);
success_is($r72, 201, 'password of 72 bytes (36 two-byte chars) accepted');
my ($l72) = ($d72 && $d72->{user}) ? login($d72->{user}{email}, $pw72) : (0);
is($l72, 200, 'login with the 72-byte UTF-8 password works');
my (undef, undef, $r74) = register_provider(password => "\x{e9}" x 37);
error_is($r74, 422, 'validation_error', 'password', 'password of 74 bytes but 37 characters: 422 password');
my (undef, undef, $r8) = register_provider(password => '12345678');
success_is($r8, 201, 'password of exactly 8 bytes accepted');

# --- conflicts ----------------------------------------------------------------------------
my $dup = uc $prov->{email};
my (undef, undef, $dres) = register_provider(email => $dup);
error_is($dres, 409, 'email_taken', undef, 'same email in other letter case: 409 email_taken');
my (undef, undef, $dres2) = register_client($prov->{id}, email => $prov->{email});
error_is($dres2, 409, 'email_taken', undef, 'same email as a client: 409 email_taken');
is(psql('SELECT count(*) FROM users WHERE lower(email) = lower(' . sql_quote($prov->{email}) . ')'), '1',
   'only one users row for that email');

# --- validation: each bad field gives 422 with that field ---------------------------------
my @bad = (
    ['bad email',                  'email',       sub { register_provider(email => 'not-an-email') }],
    ['email without domain',       'email',       sub { register_provider(email => 'someone@') }],
    ['missing email',              'email',       sub { register_provider(email => undef) }],
    ['email a number',             'email',       sub { register_provider(email => 12345) }],
    ['password 7 bytes',           'password',    sub { register_provider(password => 'abcdefg') }],
    ['password 73 bytes',          'password',    sub { register_provider(password => 'a' x 73) }],
    ['missing password',           'password',    sub { register_provider(password => undef) }],
    ['missing name',               'name',        sub { register_provider(name => undef) }],
    ['empty name',                 'name',        sub { register_provider(name => '') }],
    ['bad userType',               'userType',    sub { register_provider(userType => 'admin') }],
    ['missing userType',           'userType',    sub { register_provider(userType => undef) }],
    ['client with unknown providerId', 'providerId', sub { register_client(uuid_v4()) }],
    ['client with non-UUID providerId', 'providerId', sub { register_client('not-a-uuid') }],
    ['client with providerId of a client', 'providerId', sub { register_client($cli->{id}) }],
    ['hourlyRate -1',              'hourlyRate',  sub { register_provider(hourlyRate => -1) }],
    ['hourlyRate 1.234',           'hourlyRate',  sub { register_provider(hourlyRate => 1.234) }],
    ['hourlyRate a string',        'hourlyRate',  sub { register_provider(hourlyRate => 'lots') }],
    ['timeZone Mars/Base',         'timeZone',    sub { register_provider(timeZone => 'Mars/Base') }],
    ['dateOfBirth 2020-13-45',     'dateOfBirth', sub { register_client($prov->{id}, dateOfBirth => '2020-13-45') }],
    ['dateOfBirth 2021-02-29',     'dateOfBirth', sub { register_client($prov->{id}, dateOfBirth => '2021-02-29') }],
    ['emergencyContact a string',  qr/^emergencyContact/, sub { register_client($prov->{id}, emergencyContact => 'mom') }],
);
for my $case (@bad) {
    my ($name, $field, $call) = @$case;
    my (undef, undef, $r, $sent) = $call->();
    error_is($r, 422, 'validation_error', $field, "register with $name: 422 field " . (ref $field ? 'emergencyContact*' : $field));
    if (defined $sent->{email} && !ref $sent->{email} && $sent->{email} =~ /\@example\.com$/) {
        is(psql('SELECT count(*) FROM users WHERE email = lower(' . sql_quote($sent->{email}) . ')'), '0',
           "register with $name: no user row created");
    }
}

# --- bodies that are not a JSON object ----------------------------------------------------
my (undef, undef, $mj) = api(POST => '/api/auth/register', json => '{"email": "a@b.c", "password":');
error_is($mj, 400, 'invalid_json', undef, 'malformed JSON: 400 invalid_json');
my (undef, undef, $tp) = api(POST => '/api/auth/register', ctype => 'text/plain',
    body => '{"email":"' . unique_email('tp') . '","password":"Sup3r-secret-pw","name":"X","userType":"provider"}');
error_is($tp, 400, 'invalid_json', undef, 'valid JSON sent as text/plain: 400 invalid_json');
my (undef, undef, $nct) = api(POST => '/api/auth/register',
    body => '{"email":"' . unique_email('nct') . '","password":"Sup3r-secret-pw","name":"X","userType":"provider"}');
error_is($nct, 400, 'invalid_json', undef, 'JSON body without Content-Type: 400 invalid_json');
my (undef, undef, $arr) = api(POST => '/api/auth/register', json => '[1,2,3]');
error_is($arr, [400, 422], ['invalid_json', 'validation_error'], undef, 'JSON array body: 400 or 422 JSON error');
my (undef, undef, $emp) = api(POST => '/api/auth/register', json => '');
error_is($emp, [400, 422], ['invalid_json', 'validation_error'], undef, 'empty body: 400 or 422 JSON error');
my (undef, undef, $trail) = api(POST => '/api/auth/register', json => '{"email":"x@example.com"} garbage');
error_is($trail, 400, 'invalid_json', undef, 'JSON followed by garbage: 400 invalid_json');

# --- body cap: 64 KiB, above the longest valid profile -----------------------------------
{
    my %long = (email => unique_email('long'), password => 'Sup3r-secret-pw', userType => 'provider',
                name => "\x{e9}" x 200, specialty => "\x{e9}" x 200, license => 'L' x 100,
                bio => "\x{1f600}" x 5000, phone => '+1 555 0100');
    my (undef, $ld, $lres) = api(POST => '/api/auth/register', json => \%long);
    my $sent = length $lres->request->content;
    ok($sent > 16 * 1024 && $sent < 64 * 1024, "setup: a provider with the longest bio is $sent bytes");
    success_is($lres, 201, 'a registration with every profile field at its longest: 201');
    is(length($ld->{user}{bio} // ''), 5000, '... with the whole bio');
    my (undef, undef, $bres) = api(POST => '/api/auth/register',
        json => { %long, email => unique_email('toolong'), pad => 'x' x (64 * 1024) });
    error_is($bres, 413, 'payload_too_large', undef, 'a registration body over 64 KiB: 413');
}

# --- storage ------------------------------------------------------------------------------
my $row = psql('SELECT email, password_hash FROM users WHERE id = ' . sql_quote($prov->{id} // uuid_v4()));
my ($db_email, $db_hash) = split /\|/, $row, 2;
is($db_email, lc $pemail_mixed, 'email stored lower-case in users');
like($db_hash // '', qr/^\$2y\$11\$[.\/A-Za-z0-9]{53}$/, 'password_hash is bcrypt $2y$11$ (60 chars)')
    or diag("row: $row");
isnt($db_hash, 'Sup3r-secret-pw', 'password not stored in clear');
my $crow = psql('SELECT provider_id FROM users WHERE id = ' . sql_quote($cli->{id} // uuid_v4()));
my ($pcol) = psql(q{SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'provider_id'});
SKIP: {
    skip 'users has no provider_id column', 1 unless $pcol;
    is($crow, $prov->{id}, 'client row stored with provider_id');
}

done_testing();
