# A provider's clients: POST /api/provider/clients (client record + single-use 7-day invitation),
# registering through the invitation, GET /api/provider/clients, GET /api/client/provider.
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

sub list_clients {
    my ($token) = @_;
    my (undef, $d, $res) = api(GET => '/api/provider/clients', token => $token);
    return (ref $d eq 'ARRAY' ? $d : [], $res);
}

sub by_id { my ($list, $id) = @_; return (grep { ($_->{id} // '') eq $id } @$list)[0] }

my ($ptok, $prov) = provider_session(name => 'Dr Inviter', specialty => 'CBT', license => 'LIC-SECRET-1',
                                     bio => 'About me', hourlyRate => 120.5, phone => '+1 555 0100',
                                     avatar => 'https://example.com/dr.png', timeZone => 'America/Chicago');
my ($p2tok, $prov2) = provider_session(name => 'Dr Other');

# ---- creating a client ----------------------------------------------------------------------
my $email = unique_email('Invited.MiXeD');
my $ec = { name => 'Mum', phone => '+1 555 0111', relationship => 'mother' };
my ($st, $c1, $res) = invite_client($ptok, email => $email, name => 'Ivy Invited', phone => '555-0123',
                                    dateOfBirth => '1988-08-08', address => '3 Elm St',
                                    insurance => 'Acme Gold', emergencyContact => $ec);
success_is($res, 201, 'POST /api/provider/clients: 201 JSON');
keys_are($c1, [sort(@{ CLIENT_KEYS() }, 'invited', 'inviteUrl')], 'client object + invited + inviteUrl');
like($c1->{id} // '', $UUID_RE, 'client id is a UUID');
is($c1->{email}, lc $email, 'email lower-cased');
is($c1->{name}, 'Ivy Invited', 'name');
is($c1->{userType}, 'client', 'userType client');
is($c1->{providerId}, $prov->{id}, 'providerId is the inviting provider');
is($c1->{phone}, '555-0123', 'phone');
is($c1->{dateOfBirth}, '1988-08-08', 'dateOfBirth');
is($c1->{address}, '3 Elm St', 'address');
is($c1->{insurance}, 'Acme Gold', 'insurance');
is_deeply($c1->{emergencyContact}, $ec, 'emergencyContact');
ok(JSON::PP::is_bool($c1->{invited}) && $c1->{invited}, 'invited is JSON true');
like($c1->{inviteUrl} // '', qr{^https?://[^?]+/invite\?token=[0-9a-f]{64}$}, 'inviteUrl .../invite?token=<64 hex>');
my $token1 = invite_token_of($c1->{inviteUrl});
unlike($res->content, qr/password|hash/i, 'no password or hash in the answer');

# only a hash of the token is stored, expiring in 7 days, unused
my $inv = psql(q{SELECT token_hash, used_at IS NULL, }
             . q{abs(extract(epoch FROM (expires_at - now() - interval '7 days'))) < 120 }
             . q{FROM invites WHERE client_id = } . sql_quote($c1->{id} // uuid_v4()));
my ($thash, $unused, $seven) = split /\|/, $inv;
ok(defined $thash && length $thash, 'an invites row exists for the client');
isnt($thash, $token1, 'the token itself is not stored');
ok(index($inv, $token1 // 'none') < 0, 'the token appears nowhere in the invites row');
is($unused, 't', 'the invitation is unused');
is($seven, 't', 'the invitation expires 7 days from now');
is(psql('SELECT password_hash IS NULL FROM users WHERE id = ' . sql_quote($c1->{id} // uuid_v4())), 't',
   'the invited client has no password yet');

# a second invitation gets another token
my (undef, $c1b, $r1b) = invite_client($ptok, name => 'Second Invited');
success_is($r1b, 201, 'second invitation: 201');
isnt(invite_token_of($c1b->{inviteUrl}), $token1, 'each invitation has its own token');

# ---- validation and conflicts ----------------------------------------------------------------
my @bad = (
    ['missing email',    { email => undef, name => 'X' },                 'email'],
    ['bad email',        { email => 'not-an-email', name => 'X' },        'email'],
    ['missing name',     { email => unique_email('nn'), name => undef },  'name'],
    ['empty name',       { email => unique_email('en'), name => '' },     'name'],
    ['dateOfBirth future', { dateOfBirth => '2999-01-01' },               'dateOfBirth'],
    ['bad phone',        { phone => 'phone me' },                         'phone'],
    ['emergencyContact a string', { emergencyContact => 'dad' },          qr/^emergencyContact/],
);
for my $c (@bad) {
    my ($name, $body, $field) = @$c;
    my %b = %$body;
    my $sent_email = exists $b{email} ? $b{email} : unique_email('bad');
    my (undef, undef, $r) = api(POST => '/api/provider/clients', token => $ptok,
        json => { email => $sent_email, name => 'Bad Case', %b });
    error_is($r, 422, 'validation_error', $field, "create client with $name: 422");
}
my (undef, undef, $dup) = invite_client($ptok, email => uc $email, name => 'Dup');
error_is($dup, 409, 'email_taken', undef, 'create client with a taken email (other case): 409 email_taken');
my (undef, undef, $dup2) = invite_client($ptok, email => $prov2->{email}, name => 'Dup');
error_is($dup2, 409, 'email_taken', undef, "create client with another provider's email: 409 email_taken");
is(psql('SELECT provider_id IS NULL FROM users WHERE id = ' . sql_quote($prov2->{id})), 't',
   'the existing account was not touched');

# a client may not create clients
my ($ctok_plain, $cplain) = client_session($prov->{id}, name => 'Plain Client');
my (undef, undef, $fr) = invite_client($ctok_plain, name => 'Sneaky');
error_is($fr, 403, 'forbidden', undef, 'client POST /api/provider/clients: 403 forbidden');
my (undef, undef, $nr) = api(POST => '/api/provider/clients', json => { email => unique_email('x'), name => 'X' });
error_is($nr, 401, 'unauthorized', undef, 'POST /api/provider/clients without a token: 401');

# ---- the invited email is taken until and after the client registers ----------------------------
my (undef, undef, $pr) = register_client($prov->{id}, email => $email);
error_is($pr, 409, 'email_taken', undef, 'plain register with the invited email: 409 email_taken');
my (undef, undef, $pr2) = register_provider(email => $email);
error_is($pr2, 409, 'email_taken', undef, 'provider register with the invited email: 409 email_taken');
my (undef, undef, $li) = login($email, 'anything-at-all');
error_is($li, 401, 'invalid_credentials', undef, 'login as the invited client before it registered: 401');

# ---- list ---------------------------------------------------------------------------------------
my ($list, $lres) = list_clients($ptok);
success_is($lres, 200, 'GET /api/provider/clients: 200');
ok(ref json_body($lres) eq 'ARRAY', 'the list is a JSON array');
my $e1 = by_id($list, $c1->{id});
ok($e1, 'the invited client is listed');
ok($e1 && JSON::PP::is_bool($e1->{invited}) && $e1->{invited}, 'invited: true before registering');
ok($e1 && !exists $e1->{inviteUrl}, 'the list does not hand out invite URLs');
my $ep = by_id($list, $cplain->{id});
ok($ep && JSON::PP::is_bool($ep->{invited}) && !$ep->{invited}, 'a client registered with providerId: invited false');
keys_are($ep, [sort(@{ CLIENT_KEYS() }, 'invited')], 'listed client: client keys + invited');
is(scalar(grep { ($_->{providerId} // '') ne $prov->{id} } @$list), 0, 'every listed client has this providerId');
is(scalar @$list, 3, 'exactly the three clients of this provider');

# another provider's clients never appear
my (undef, $o1, $or1) = invite_client($p2tok, name => 'Other Practice Client');
success_is($or1, 201, 'provider 2 invites a client');
my ($o2tok, $o2) = client_session($prov2->{id});
($list) = list_clients($ptok);
ok(!by_id($list, $o1->{id}), "provider 2's invited client is not in provider 1's list");
ok(!by_id($list, $o2->{id}), "provider 2's registered client is not in provider 1's list");
my ($list2) = list_clients($p2tok);
is_deeply([sort map { $_->{id} } @$list2], [sort($o1->{id}, $o2->{id})], "provider 2 sees exactly its own two clients");
my ($p3tok) = provider_session();
my ($list3, $l3res) = list_clients($p3tok);
success_is($l3res, 200, 'a provider without clients: 200');
is_deeply($list3, [], 'a provider without clients: empty array');
my (undef, undef, $cl) = api(GET => '/api/provider/clients', token => $ctok_plain);
error_is($cl, 403, 'forbidden', undef, 'client GET /api/provider/clients: 403 forbidden');

# ---- registering through the invitation ---------------------------------------------------------
my (undef, undef, $r) = register({ email => $email, password => 'An0ther-pass', inviteToken => 'f' x 64 });
error_is($r, 422, 'validation_error', 'inviteToken', 'register with an unknown inviteToken: 422 inviteToken');
(undef, undef, $r) = register({ email => $email, password => 'An0ther-pass', inviteToken => $token1,
                                userType => 'provider' });
error_is($r, 422, 'validation_error', 'userType', 'register with inviteToken and userType provider: 422 userType');
(undef, undef, $r) = register({ email => $email, password => 'short', inviteToken => $token1 });
error_is($r, 422, 'validation_error', 'password', 'register with inviteToken and a short password: 422 password');

# wrong email with a valid token: refused, and the token is not burnt
(undef, undef, $r) = register({ email => unique_email('wrong'), password => 'An0ther-pass', inviteToken => $token1 });
error_is($r, 422, 'validation_error', 'email', 'valid token, another email: 422 email');
(undef, undef, $r) = register({ email => $cplain->{email}, password => 'An0ther-pass', inviteToken => $token1 });
error_is($r, 422, 'validation_error', 'email', "valid token, another client's email: 422 email");
is(psql('SELECT used_at IS NULL FROM invites WHERE client_id = ' . sql_quote($c1->{id})), 't',
   'the failed attempts did not use the invitation');
my (undef, undef, $pl) = login($cplain->{email});
is($pl->code, 200, "the other client's password was not changed by the attempt");

my ($rst, $rd, $rres) = register({ email => uc $email, password => 'An0ther-pass', inviteToken => $token1,
                                   name => 'Ivy Registered', insurance => 'Acme Platinum',
                                   providerId => $prov2->{id}, userType => 'client' });
success_is($rres, 201, 'register with the invitation (email in other case): 201');
keys_are($rd, [qw(token user)], 'answer {token, user}');
my $ru = $rd->{user} || {};
is($ru->{id}, $c1->{id}, 'the same user id as the created client');
is($ru->{providerId}, $prov->{id}, 'providerId is the inviting provider (a providerId in the body is ignored)');
is($ru->{userType}, 'client', 'userType client');
is($ru->{name}, 'Ivy Registered', 'name given at registration applied');
is($ru->{insurance}, 'Acme Platinum', 'profile field given at registration applied');
is($ru->{phone}, '555-0123', "the provider's data for the client kept");
is($ru->{dateOfBirth}, '1988-08-08', 'dateOfBirth kept');
keys_are($ru, CLIENT_KEYS, 'registered user: exactly the client keys');
my ($jh, $jc) = jwt_parts($rd->{token});
is($jc && $jc->{sub}, $c1->{id}, 'token sub is the client');
is($jc && $jc->{role}, 'client', 'token role client');
is(psql('SELECT used_at IS NOT NULL FROM invites WHERE client_id = ' . sql_quote($c1->{id})), 't',
   'the invitation is marked used');
is(psql('SELECT count(*) FROM users WHERE email = ' . sql_quote(lc $email)), '1', 'still one user row for the email');

my (undef, $me) = api(GET => '/api/auth/me', token => $rd->{token});
is($me->{user}{id}, $c1->{id}, 'the new token works: GET /api/auth/me');
my (undef, undef, $lo) = login($email, 'An0ther-pass');
is($lo->code, 200, 'login with the password set through the invitation');

# second use
(undef, undef, $r) = register({ email => $email, password => 'Th1rd-password', inviteToken => $token1 });
error_is($r, 422, 'validation_error', 'inviteToken', 'second use of the invitation: 422 inviteToken');
(undef, undef, $lo) = login($email, 'Th1rd-password');
is($lo->code, 401, 'the second use did not change the password');
(undef, undef, $lo) = login($email, 'An0ther-pass');
is($lo->code, 200, 'the first password still works');

($list) = list_clients($ptok);
my $after = by_id($list, $c1->{id});
ok($after && JSON::PP::is_bool($after->{invited}) && !$after->{invited}, 'invited: false after registering');
is($after && $after->{name}, 'Ivy Registered', 'the list shows the name the client chose');

# an invitation for another client cannot claim this account
my $tok1b = invite_token_of($c1b->{inviteUrl});
(undef, undef, $r) = register({ email => $email, password => 'Hijack-pass-1', inviteToken => $tok1b });
error_is($r, 422, 'validation_error', 'email', "another invitation with the registered client's email: 422 email");
(undef, undef, $lo) = login($email, 'Hijack-pass-1');
is($lo->code, 401, 'the registered client\'s password was not replaced');

# ---- an expired invitation -----------------------------------------------------------------------
my (undef, $c3, $r3) = invite_client($ptok, name => 'Late Larry');
my $tok3 = invite_token_of($c3->{inviteUrl});
psql(q{UPDATE invites SET expires_at = now() - interval '1 day' WHERE client_id = } . sql_quote($c3->{id}));
(undef, undef, $r) = register({ email => $c3->{email}, password => 'Late-pass-11', inviteToken => $tok3 });
error_is($r, 422, 'validation_error', 'inviteToken', 'expired invitation: 422 inviteToken');
is(psql('SELECT password_hash IS NULL FROM users WHERE id = ' . sql_quote($c3->{id})), 't',
   'the expired invitation set no password');
# expiring is sharp: one minute left still works
my (undef, $c4) = invite_client($ptok, name => 'Just In Time');
psql(q{UPDATE invites SET expires_at = now() + interval '1 minute' WHERE client_id = } . sql_quote($c4->{id}));
my (undef, undef, $r4) = register({ email => $c4->{email}, password => 'OnTime-pass-1',
                                   inviteToken => invite_token_of($c4->{inviteUrl}) });
success_is($r4, 201, 'an invitation with a minute left: 201');

# ---- GET /api/client/provider ---------------------------------------------------------------------
my ($cpst, $cpd, $cpres) = api(GET => '/api/client/provider', token => $rd->{token});
success_is($cpres, 200, 'GET /api/client/provider: 200');
keys_are($cpd, PUBLIC_PROVIDER_KEYS, 'exactly id, name, email, phone, avatar, specialty, bio, hourlyRate, timeZone');
is($cpd->{id}, $prov->{id}, 'the client\'s own provider');
is($cpd->{name}, 'Dr Inviter', 'name');
is($cpd->{email}, $prov->{email}, 'email');
is($cpd->{phone}, '+1 555 0100', 'phone');
is($cpd->{avatar}, 'https://example.com/dr.png', 'avatar');
is($cpd->{specialty}, 'CBT', 'specialty');
is($cpd->{bio}, 'About me', 'bio');
is($cpd->{timeZone}, 'America/Chicago', 'timeZone');
like($cpres->content, qr/"hourlyRate":120\.5[,}]/, 'hourlyRate 120.5');
unlike($cpres->content, qr/LIC-SECRET-1/, 'the license is not shown to the client');
unlike($cpres->content, qr/password|hash|userType|createdAt/i, 'no private or account fields');

my (undef, $cpd2) = api(GET => '/api/client/provider', token => $o2tok);
is($cpd2->{id}, $prov2->{id}, "provider 2's client sees provider 2");
my (undef, undef, $cpres3) = api(GET => '/api/client/provider', token => $ctok_plain);
is(json_body($cpres3)->{id}, $prov->{id}, 'a client registered with providerId sees that provider');

my ($lonetok) = client_session(undef, name => 'No Provider');
my (undef, undef, $nres) = api(GET => '/api/client/provider', token => $lonetok);
error_is($nres, 404, 'not_found', undef, 'a client without a provider: 404 not_found');
my (undef, undef, $pres) = api(GET => '/api/client/provider', token => $ptok);
error_is($pres, 403, 'forbidden', undef, 'a provider on GET /api/client/provider: 403');

# a provider without a rate: hourlyRate null
my ($p4tok, $p4) = provider_session();
my ($c5tok) = client_session($p4->{id});
my (undef, $cpd5, $cpres5) = api(GET => '/api/client/provider', token => $c5tok);
ok(exists $cpd5->{hourlyRate} && !defined $cpd5->{hourlyRate}, 'hourlyRate null for a provider without a rate')
    or diag(dump_res($cpres5));
ok(exists $cpd5->{specialty} && !defined $cpd5->{specialty}, 'unset fields are null');

# ---- audit -------------------------------------------------------------------------------------
my (undef, $ca, $cares) = invite_client($ptok, name => 'Audited');
my @ev = audit_events_for($cares->header('X-Request-Id'));
is(scalar @ev, 1, 'client.create: one audit row');
is($ev[0]{action}, 'client.create', 'action client.create');
is($ev[0]{outcome}, 'success', 'outcome success');
is($ev[0]{actor_id}, $prov->{id}, 'actor is the provider');
is($ev[0]{client_id}, $ca->{id}, 'client_id is the new client');
(undef, $lres) = list_clients($ptok);
@ev = audit_events_for($lres->header('X-Request-Id'));
is(join(',', map { "$_->{action}/$_->{outcome}/$_->{actor_id}" } @ev), "client.list/success/$prov->{id}",
   'client.list audit row');
@ev = audit_events_for($cpres->header('X-Request-Id'));
is(join(',', map { "$_->{action}/$_->{outcome}/$_->{actor_id}/$_->{client_id}" } @ev),
   "provider.read/success/$c1->{id}/$c1->{id}", 'provider.read audit row with the client');
@ev = audit_events_for($rres->header('X-Request-Id'));
is(join(',', map { "$_->{action}/$_->{outcome}/$_->{actor_id}" } @ev), "auth.register/success/$c1->{id}",
   'registering through an invitation: auth.register success row for the client');
@ev = audit_events_for($dup->header('X-Request-Id'));
is(join(',', map { "$_->{action}/$_->{outcome}" } @ev), 'client.create/failure', 'email_taken: client.create failure row');
@ev = audit_events_for($fr->header('X-Request-Id'));
is(join(',', map { "$_->{action}/$_->{outcome}/$_->{actor_id}" } @ev), "client.create/denied/$cplain->{id}",
   'a client creating a client: denied row');

done_testing();
