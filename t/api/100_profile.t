# PATCH /api/auth/me: a user's own profile fields, by role; validation; null clears; the
# fields of the other role and server-owned fields are ignored.
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

sub me_patch {
    my ($token, $body) = @_;
    return api(PATCH => '/api/auth/me', token => $token, json => $body);
}

sub db_user {
    my ($id, @cols) = @_;
    my $out = psql('SELECT ' . join(', ', map { "coalesce(${_}::text, '<null>')" } @cols)
                 . ' FROM users WHERE id = ' . sql_quote($id));
    my %r;
    @r{@cols} = split /\|/, $out, -1;
    return \%r;
}

# ---- provider -----------------------------------------------------------------------------
my ($ptok, $prov) = provider_session(name => 'Dr Before');
my ($p2tok, $prov2) = provider_session();

my ($st, $d, $res) = me_patch($ptok, {
    name => 'Dr After', phone => '+1 555 0142', avatar => 'https://example.com/p.png',
    specialty => 'EMDR', license => 'NY-12345', bio => "Line one\nLine two",
    hourlyRate => 149.99, timeZone => 'Europe/Berlin',
});
success_is($res, 200, 'provider PATCH /api/auth/me: 200 JSON');
keys_are($d, ['user'], 'answer is exactly {user}');
my $u = $d->{user} || {};
keys_are($u, PROVIDER_KEYS, 'provider user object keeps exactly the provider keys');
is($u->{id}, $prov->{id}, 'same user id');
is($u->{name}, 'Dr After', 'name updated');
is($u->{phone}, '+1 555 0142', 'phone updated');
is($u->{avatar}, 'https://example.com/p.png', 'avatar updated');
is($u->{specialty}, 'EMDR', 'specialty updated');
is($u->{license}, 'NY-12345', 'license updated');
is($u->{bio}, "Line one\nLine two", 'bio updated (newline kept)');
is($u->{timeZone}, 'Europe/Berlin', 'timeZone updated');
like($res->content, qr/"hourlyRate":149\.99[,}]/, 'hourlyRate 149.99 printed exactly') or diag($res->content);
is($u->{createdAt}, $prov->{createdAt}, 'createdAt unchanged');
like($u->{updatedAt} // '', $TS_RE, 'updatedAt RFC 3339 UTC');
ok((ts_epoch($u->{updatedAt}) // 0) >= (ts_epoch($prov->{updatedAt}) // 9e9), 'updatedAt did not go back');
is(db_user($prov->{id}, 'hourly_rate_cents')->{hourly_rate_cents}, '14999', 'hourlyRate stored as 14999 cents');

my (undef, $med, $meres) = api(GET => '/api/auth/me', token => $ptok);
is_deeply($med->{user}, $u, 'GET /api/auth/me shows the same profile as the PATCH answer')
    or diag(dump_res($meres));

# only some fields: the others are kept
($st, $d, $res) = me_patch($ptok, { bio => 'Short bio' });
success_is($res, 200, 'PATCH with one field: 200');
is($d->{user}{bio}, 'Short bio', 'bio changed');
is($d->{user}{specialty}, 'EMDR', 'specialty kept when not sent');
is($d->{user}{name}, 'Dr After', 'name kept when not sent');

# null clears
($st, $d, $res) = me_patch($ptok, { phone => undef, avatar => undef, specialty => undef,
                                    license => undef, bio => undef, hourlyRate => undef });
success_is($res, 200, 'PATCH with nulls: 200');
for my $k (qw(phone avatar specialty license bio hourlyRate)) {
    ok(exists $d->{user}{$k} && !defined $d->{user}{$k}, "null clears $k");
}
is(db_user($prov->{id}, 'hourly_rate_cents')->{hourly_rate_cents}, '<null>', 'hourly_rate_cents NULL in the database');
is($d->{user}{name}, 'Dr After', 'name untouched by the nulls');
is($d->{user}{timeZone}, 'Europe/Berlin', 'timeZone untouched');

# hourlyRate variants
($st, $d, $res) = me_patch($ptok, { hourlyRate => 100 });
success_is($res, 200, 'hourlyRate 100: 200');
like($res->content, qr/"hourlyRate":100(?:\.0+)?[,}]/, 'hourlyRate 100 answered as the number 100');
($st, $d, $res) = me_patch($ptok, { hourlyRate => 0 });
success_is($res, 200, 'hourlyRate 0: 200');
like($res->content, qr/"hourlyRate":0(?:\.0+)?[,}]/, 'hourlyRate 0 answered as 0, not null');

# validation: 422 with the field, nothing changed
my $before = db_user($prov->{id}, qw(name phone time_zone hourly_rate_cents avatar));
my @bad = (
    [{ timeZone => 'Mars/Base' },          'timeZone',   'timeZone Mars/Base (not in PostgreSQL)'],
    [{ timeZone => '../../etc/passwd' },   'timeZone',   'timeZone with ..'],
    [{ timeZone => 'America/New York' },   'timeZone',   'timeZone with a space'],
    [{ timeZone => 42 },                   'timeZone',   'timeZone a number'],
    [{ name => undef },                    'name',       'name null (cannot be cleared)'],
    [{ name => '' },                       'name',       'name empty'],
    [{ name => 'x' x 201 },                'name',       'name of 201 characters'],
    [{ hourlyRate => -5 },                 'hourlyRate', 'hourlyRate negative'],
    [{ hourlyRate => 10.555 },             'hourlyRate', 'hourlyRate with 3 decimals'],
    [{ hourlyRate => '100' },              'hourlyRate', 'hourlyRate a string'],
    [{ phone => 'call me' },               'phone',      'phone with letters'],
    [{ avatar => 'javascript:alert(1)' },  'avatar',     'avatar not http(s)'],
    [{ specialty => ['CBT'] },             'specialty',  'specialty an array'],
    [{ timeZone => 'Asia/Tokyo', name => '' }, 'name',   'a valid field with an invalid one'],
);
for my $c (@bad) {
    my ($body, $field, $name) = @$c;
    my (undef, undef, $r) = me_patch($ptok, $body);
    error_is($r, 422, 'validation_error', $field, "provider PATCH $name: 422 field $field");
}
is_deeply(db_user($prov->{id}, qw(name phone time_zone hourly_rate_cents avatar)), $before,
          'the refused PATCHes changed nothing (not even the valid field sent with an invalid one)');

# a real zone from PostgreSQL's list that is not a continent/city pair
($st, $d, $res) = me_patch($ptok, { timeZone => 'UTC' });
success_is($res, 200, 'timeZone UTC: 200');
is($d->{user}{timeZone}, 'UTC', 'timeZone UTC stored');
($st, $d, $res) = me_patch($ptok, { timeZone => 'America/Argentina/Buenos_Aires' });
success_is($res, 200, 'three-part zone America/Argentina/Buenos_Aires: 200');
is($d->{user}{timeZone}, 'America/Argentina/Buenos_Aires', 'three-part zone stored');

# client fields, server-owned fields and the account's identity are not the provider's to set
($st, $d, $res) = me_patch($ptok, {
    dateOfBirth => '1980-01-01', address => '1 Side St', insurance => 'Acme',
    emergencyContact => { name => 'X', phone => '555-0100', relationship => 'friend' },
    providerId => $prov2->{id}, userType => 'client', email => unique_email('steal'),
    id => $prov2->{id}, createdAt => '2000-01-01T00:00:00Z', specialty => 'Family therapy',
});
success_is($res, 200, 'provider PATCH with client and server-owned fields: 200 (ignored)');
$u = $d->{user} || {};
keys_are($u, PROVIDER_KEYS, 'still exactly the provider keys');
is($u->{specialty}, 'Family therapy', 'the provider field in the same body applied');
is($u->{id}, $prov->{id}, 'id not changed');
is($u->{userType}, 'provider', 'userType not changed');
is($u->{email}, $prov->{email}, 'email not changed');
is($u->{createdAt}, $prov->{createdAt}, 'createdAt not changed');
is_deeply(db_user($prov->{id}, qw(date_of_birth address insurance emergency_contact provider_id user_type)),
          { date_of_birth => '<null>', address => '<null>', insurance => '<null>',
            emergency_contact => '<null>', provider_id => '<null>', user_type => 'provider' },
          'no client column written for the provider');
my (undef, undef, $lres) = login($prov->{email});
is($lres->code, 200, 'the provider still logs in with its email and password');

# ---- client -------------------------------------------------------------------------------
my ($ctok, $cli) = client_session($prov->{id}, name => 'Client Before');
my $ec = { name => 'Ada', phone => '+1 555 0177', relationship => 'mother' };
($st, $d, $res) = me_patch($ctok, {
    name => 'Client After', phone => '555-0102', avatar => 'https://example.com/c.png',
    dateOfBirth => '1991-02-03', address => '2 Main St, Springfield', insurance => 'Blue Plan 7',
    emergencyContact => $ec,
});
success_is($res, 200, 'client PATCH /api/auth/me: 200');
$u = $d->{user} || {};
keys_are($u, CLIENT_KEYS, 'client user object keeps exactly the client keys');
is($u->{name}, 'Client After', 'client name');
is($u->{phone}, '555-0102', 'client phone');
is($u->{avatar}, 'https://example.com/c.png', 'client avatar');
is($u->{dateOfBirth}, '1991-02-03', 'dateOfBirth');
is($u->{address}, '2 Main St, Springfield', 'address');
is($u->{insurance}, 'Blue Plan 7', 'insurance');
is_deeply($u->{emergencyContact}, $ec, 'emergencyContact');
is($u->{providerId}, $prov->{id}, 'providerId unchanged');

# emergencyContact: unknown keys are not stored, missing ones read null
($st, $d, $res) = me_patch($ctok, { emergencyContact => { name => 'Bob', ssn => '123-45-6789' } });
success_is($res, 200, 'emergencyContact with an unknown key: 200');
is_deeply($d->{user}{emergencyContact}, { name => 'Bob', phone => undef, relationship => undef },
          'emergencyContact keeps only name, phone, relationship');
unlike(db_user($cli->{id}, 'emergency_contact')->{emergency_contact}, qr/ssn|6789/, 'the unknown key is not stored');

# provider fields and scope-changing fields are ignored for a client
($st, $d, $res) = me_patch($ctok, {
    specialty => 'Hacker', license => 'L', bio => 'B', hourlyRate => 1, timeZone => 'Asia/Tokyo',
    providerId => $prov2->{id}, userType => 'provider', insurance => 'Green Plan',
});
success_is($res, 200, 'client PATCH with provider fields and providerId: 200 (ignored)');
$u = $d->{user} || {};
keys_are($u, CLIENT_KEYS, 'still exactly the client keys');
is($u->{insurance}, 'Green Plan', 'the client field in the same body applied');
is($u->{providerId}, $prov->{id}, 'a client cannot move itself to another provider');
is($u->{userType}, 'client', 'a client cannot become a provider');
is_deeply(db_user($cli->{id}, qw(specialty license bio hourly_rate_cents time_zone provider_id user_type)),
          { specialty => '<null>', license => '<null>', bio => '<null>', hourly_rate_cents => '<null>',
            time_zone => 'America/New_York', provider_id => $prov->{id}, user_type => 'client' },
          'no provider column written for the client, provider_id unchanged');
my (undef, $cp) = api(GET => '/api/client/provider', token => $ctok);
is($cp->{id}, $prov->{id}, 'the client still sees its own provider');

# client validation
my @cbad = (
    [{ dateOfBirth => '2999-01-01' },      'dateOfBirth', 'dateOfBirth in the future'],
    [{ dateOfBirth => '1990-13-01' },      'dateOfBirth', 'dateOfBirth month 13'],
    [{ dateOfBirth => '01/02/1990' },      'dateOfBirth', 'dateOfBirth not YYYY-MM-DD'],
    [{ emergencyContact => 'mom' },        qr/^emergencyContact/, 'emergencyContact a string'],
    [{ emergencyContact => { name => 5 } }, qr/^emergencyContact/, 'emergencyContact.name a number'],
    [{ address => 'a' x 501 },             'address',     'address of 501 characters'],
    [{ name => undef },                    'name',        'name null'],
);
for my $c (@cbad) {
    my ($body, $field, $name) = @$c;
    my (undef, undef, $r) = me_patch($ctok, $body);
    error_is($r, 422, 'validation_error', $field, "client PATCH $name: 422");
}

# null clears the client's fields
($st, $d, $res) = me_patch($ctok, { phone => undef, avatar => undef, dateOfBirth => undef,
                                    address => undef, insurance => undef, emergencyContact => undef });
success_is($res, 200, 'client PATCH with nulls: 200');
for my $k (qw(phone avatar dateOfBirth address insurance emergencyContact)) {
    ok(exists $d->{user}{$k} && !defined $d->{user}{$k}, "null clears the client's $k");
}
is($d->{user}{name}, 'Client After', 'client name kept');

# an empty object changes nothing and still answers the profile
($st, $d, $res) = me_patch($ctok, {});
success_is($res, 200, 'empty object: 200');
is($d->{user}{id}, $cli->{id}, 'empty object: answers the own profile');

# ---- requests that are not a profile update -------------------------------------------------
my (undef, undef, $r) = api(PATCH => '/api/auth/me', json => { name => 'Nobody' });
error_is($r, 401, 'unauthorized', undef, 'PATCH without a token: 401');
(undef, undef, $r) = api(PATCH => '/api/auth/me', token => $ctok, json => '{"name": ');
error_is($r, 400, 'invalid_json', undef, 'malformed JSON: 400 invalid_json');
(undef, undef, $r) = api(PATCH => '/api/auth/me', token => $ctok, ctype => 'text/plain', body => '{"name":"X"}');
error_is($r, 400, 'invalid_json', undef, 'text/plain body: 400 invalid_json');
(undef, undef, $r) = api(PATCH => '/api/auth/me', token => $ctok, json => '["name"]');
error_is($r, [400, 422], ['invalid_json', 'validation_error'], undef, 'a JSON array: 400/422');
is(db_user($cli->{id}, 'name')->{name}, 'Client After', 'the refused requests changed nothing');

# after logout the token cannot change the profile
my (undef, undef, $lo) = api(POST => '/api/auth/logout', token => $ctok);
is($lo->code, 204, 'setup: logout');
(undef, undef, $r) = me_patch($ctok, { name => 'After logout' });
error_is($r, 401, 'unauthorized', undef, 'PATCH with a revoked token: 401');
is(db_user($cli->{id}, 'name')->{name}, 'Client After', 'the revoked token changed nothing');

# audit: user.update with actor, resource and outcome
my ($p3tok, $p3) = provider_session();
(undef, undef, $res) = me_patch($p3tok, { bio => 'audited' });
my @ev = audit_events_for($res->header('X-Request-Id'));
is(scalar @ev, 1, 'one audit row for the PATCH');
is($ev[0]{action}, 'user.update', 'action user.update');
is($ev[0]{outcome}, 'success', 'outcome success');
is($ev[0]{actor_id}, $p3->{id}, 'actor is the provider');
is($ev[0]{actor_type}, 'provider', 'actor_type provider');
is($ev[0]{resource_id}, $p3->{id}, 'resource is the user');

done_testing();
