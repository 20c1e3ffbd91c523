# Abuse limits and cookie-mode answers.
#  - On the docportal_limits virtual host (DocPortalRegisterLimit 3, DocPortalPasswordResetLimit
#    3; plain HTTP on its own port, also in the TLS pass): the 4th registration from an address
#    within the hour that passes validation (409 email_taken counts too) is 429 rate_limited with
#    Retry-After, creates no user and sends no mail; a registration that fails validation is
#    422 before the limit is looked at; the 4th password-reset request is 429 with Retry-After,
#    whether or not the account exists.
#  - On the suite's server (DocPortalCookieSessions On): "session": "cookie" in register,
#    login, password-reset/confirm and change-password answers {user} with no "token" key
#    anywhere, sets dp_session and dp_csrf, and that cookie session works; any other value of
#    "session" is 422 field session; without it the answer is {token, user} as before.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DocPortal::Test;
use DocPortal::Mail;

my $PW = $DocPortal::Test::PASSWORD;

# limits(METHOD, PATH, %opt): api() against the docportal_limits virtual host, over plain HTTP
sub limits {
    my (@args) = @_;
    local $Apache::TestRequest::Module = 'docportal_limits';
    local $DocPortal::Test::TLS = 0;
    return api(@args);
}

sub retry_after_ok {
    my ($res, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ra = $res->header('Retry-After') // '';
    ok($ra =~ /^[1-9]\d*$/ && $ra <= 3600, "$name: Retry-After '$ra' is a positive integer <= 3600");
}

sub user_count {
    my ($email) = @_;
    return psql('SELECT count(*) FROM users WHERE email = ' . sql_quote(lc $email));
}

sub outbox_count {
    my ($to, $kind) = @_;
    return psql('SELECT count(*) FROM outbox WHERE recipient = ' . sql_quote($to)
              . (defined $kind ? ' AND kind = ' . sql_quote($kind) : ''));
}

sub provider_body {
    my (%o) = @_;
    return { email => unique_email('lim'), password => $PW, name => 'Dr Limited',
             userType => 'provider', %o };
}

# keys named "token" anywhere in a decoded JSON value
sub token_keys {
    my ($v, $path) = @_;
    $path //= '';
    return () unless ref $v;
    if (ref $v eq 'HASH') {
        return map { ($_ eq 'token' ? ("$path/$_") : ()), token_keys($v->{$_}, "$path/$_") } sort keys %$v;
    }
    return map { token_keys($v->[$_], "$path/$_") } 0 .. $#$v if ref $v eq 'ARRAY';
    return ();
}

# an account for the reset limit test, made on the suite's server before the limits start
my ($ktok, $kuser) = provider_session(email => unique_email('limknown'));
my $kemail = $kuser->{email};

# ==== registration limit ========================================================================
# (the checks of these answers run with the plain-HTTP expectations, also in the TLS pass)
{
local $DocPortal::Test::TLS = 0;
psql(q{DELETE FROM auth_throttle WHERE key IN ('r:127.0.0.1','p:127.0.0.1')});
is(psql(q{SELECT count(*) FROM auth_throttle WHERE key IN ('r:127.0.0.1','p:127.0.0.1')}), '0',
   'setup: no register or reset throttle rows for 127.0.0.1');

my $b1 = provider_body();
my ($s1, undef, $r1) = limits(POST => '/api/auth/register', json => $b1);
success_is($r1, 201, 'limits vhost: registration 1: 201');
like($r1->request->uri, qr{^http://}, 'setup: the limits vhost is reached over plain HTTP');
isnt(Apache::TestRequest::hostport(), do { local $Apache::TestRequest::Module = 'docportal_limits';
                                           Apache::TestRequest::hostport() },
     'setup: the limits vhost has a port of its own');
my (undef, undef, $r2) = limits(POST => '/api/auth/register', json => provider_body());
success_is($r2, 201, 'limits vhost: registration 2: 201');
my (undef, undef, $rbad) = limits(POST => '/api/auth/register', json => provider_body(password => 'short'));
error_is($rbad, 422, 'validation_error', 'password', 'a registration that fails validation: 422 (not counted)');
my (undef, undef, $r3) = limits(POST => '/api/auth/register', json => { %$b1 });
error_is($r3, 409, 'email_taken', undef, 'registration 3, a taken email: 409 (counted)');

my $b4 = provider_body();
my (undef, undef, $r4) = limits(POST => '/api/auth/register', json => $b4);
error_is($r4, 429, 'rate_limited', undef, 'registration 4 from the address: 429 rate_limited');
retry_after_ok($r4, 'registration 4');
ok(!exists((json_body($r4) // {})->{token}), '... no token');
is(user_count($b4->{email}), '0', '... no user row for it');
is(outbox_count(lc $b4->{email}), '0', '... no mail queued for it');
my (undef, undef, $r5) = limits(POST => '/api/auth/register', json => provider_body(email => 'not-an-email'));
error_is($r5, 422, 'validation_error', 'email', 'over the limit, an invalid registration is still 422 (validation first)');
my (undef, undef, $r6) = limits(POST => '/api/auth/register', json => provider_body());
error_is($r6, 429, 'rate_limited', undef, 'registration 5: 429 as well');
# the refused registration sends nothing: give a mail time to show up (none may)
ok(no_mail_within(3, to => lc $b4->{email}), 'no mail to the refused address within 3 s');

# ==== password-reset limit ======================================================================
my $RESET = 'If an account exists for that address, a link to reset its password has been sent.';
my @pr = (unique_email('limnobody'), $kemail, unique_email('limnobody'));
for my $i (0 .. $#pr) {
    my (undef, $d, $res) = limits(POST => '/api/auth/password-reset', json => { email => $pr[$i] });
    success_is($res, 202, 'limits vhost: reset request ' . ($i + 1) . ': 202');
    is(($d // {})->{message}, $RESET, '... the reset message');
}
my (undef, undef, $p4) = limits(POST => '/api/auth/password-reset', json => { email => unique_email('limnobody') });
error_is($p4, 429, 'rate_limited', undef, 'reset request 4 from the address (unknown email): 429 rate_limited');
retry_after_ok($p4, 'reset request 4');
my (undef, undef, $p5) = limits(POST => '/api/auth/password-reset', json => { email => $kemail });
error_is($p5, 429, 'rate_limited', undef, 'reset request 5 (a known email): 429 rate_limited');
retry_after_ok($p5, 'reset request 5');
is(outbox_count($kemail, 'password-reset'), '1', 'only the request under the limit queued a reset mail');
ok(scalar wait_mail(to => $kemail, kind => 'password-reset', timeout => 20),
   'the reset mail of the request under the limit arrives');
wait_mail(to => $kemail, kind => 'password-reset', count => 2, timeout => 4);
is(scalar(my @km = mails_to($kemail, kind => 'password-reset')), 1,
   'one reset mail reached the known account after 4 s more (none for the refused request)');
}

# ==== cookie mode on the suite's server ========================================================
# cookie_answer_is($res, $status, $name) -> ($session_token, $csrf) from the cookies
sub cookie_answer_is {
    my ($res, $status, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $d = success_is($res, $status, "$name: $status");
    is_deeply([sort keys %{ ref $d eq 'HASH' ? $d : {} }], ['user'], "$name: the answer is {user}");
    is_deeply([token_keys($d)], [], "$name: no key \"token\" anywhere in the JSON");
    my $c = set_cookies($res);
    my ($sess) = ($c->{dp_session} // '') =~ /^dp_session=([^;]+);/;
    my ($csrf) = ($c->{dp_csrf} // '') =~ /^dp_csrf=([0-9a-f]{64});/;
    ok(defined $sess && length $sess, "$name: dp_session cookie set") or diag(dump_res($res));
    ok(defined $csrf, "$name: dp_csrf cookie set");
    $sess //= 'none';
    $csrf //= 'none';
    my (undef, $me, $mres) = api(GET => '/api/auth/me', headers => [Cookie => "dp_session=$sess"]);
    is($mres->code, 200, "$name: the cookie works for GET /api/auth/me") or diag(dump_res($mres));
    is(($me->{user} || {})->{id}, $d->{user}{id}, "$name: ... as the answer's user");
    return ($sess, $csrf);
}

# POST with a cookie session (CSRF header and cookie)
sub cookie_post {
    my ($sess, $csrf, $path, $json) = @_;
    return api(POST => $path, (defined $json ? (json => $json) : ()),
               headers => [Cookie => "dp_session=$sess; dp_csrf=$csrf", 'X-CSRF-Token' => $csrf]);
}

my $cemail = unique_email('cookiemode');
my (undef, undef, $creg) = register({ email => $cemail, password => $PW, name => 'Dr Cookie Mode',
                                      userType => 'provider', session => 'cookie' });
my ($s_reg, $c_reg) = cookie_answer_is($creg, 201, 'register with session cookie');
my (undef, undef, $clog) = api(POST => '/api/auth/login',
                               json => { email => $cemail, password => $PW, session => 'cookie' });
my ($s_log, $c_log) = cookie_answer_is($clog, 200, 'login with session cookie');

# change-password with the cookie session, answered in cookie mode
my $PW2 = 'Cookie-changed-passw0rd';
my (undef, undef, $cchg) = cookie_post($s_log, $c_log, '/api/auth/change-password',
                                       { currentPassword => $PW, newPassword => $PW2, session => 'cookie' });
my ($s_chg, $c_chg) = cookie_answer_is($cchg, 200, 'change-password with session cookie');
my (undef, undef, $oldc) = api(GET => '/api/auth/me', headers => [Cookie => "dp_session=$s_log"]);
is($oldc->code, 401, 'the cookie session that changed the password is revoked');
my (undef, undef, $oldr) = api(GET => '/api/auth/me', headers => [Cookie => "dp_session=$s_reg"]);
is($oldr->code, 401, 'the register cookie session is revoked');

# password-reset/confirm in cookie mode
my (undef, undef, $rq) = api(POST => '/api/auth/password-reset', json => { email => $cemail });
is($rq->code, 202, 'setup: reset requested for the cookie account');
my $rmail = wait_mail(to => $cemail, kind => 'password-reset', timeout => 20);
my $rtok = $rmail ? link_token($rmail, 'reset-password') // '' : '';
like($rtok, qr/^[0-9a-f]{64}$/, 'setup: the reset token from the mail');
my $PW3 = 'Cookie-reset-passw0rd';
my (undef, undef, $bogusc) = api(POST => '/api/auth/password-reset/confirm',
                                 json => { token => $rtok, password => $PW3, session => 'bogus' });
error_is($bogusc, 422, 'validation_error', 'session', 'confirm with session bogus: 422 field session');
my (undef, undef, $ccf) = api(POST => '/api/auth/password-reset/confirm',
                              json => { token => $rtok, password => $PW3, session => 'cookie' });
my ($s_cf, $c_cf) = cookie_answer_is($ccf, 200, 'password-reset/confirm with session cookie');
my (undef, undef, $oldchg) = api(GET => '/api/auth/me', headers => [Cookie => "dp_session=$s_chg"]);
is($oldchg->code, 401, 'the earlier cookie session is revoked by the reset');

is($c_cf, csrf_of($s_cf), 'the dp_csrf cookie is the CSRF token of the new session');
# a POST with the confirm's cookie session: refused without X-CSRF-Token, done with it (logout)
my (undef, undef, $lo403) = api(POST => '/api/auth/logout',
                                headers => [Cookie => "dp_session=$s_cf; dp_csrf=$c_cf"]);
error_is($lo403, 403, 'csrf_failed', undef, 'a POST with the cookie and no X-CSRF-Token: 403 csrf_failed');
my (undef, undef, $lo) = cookie_post($s_cf, $c_cf, '/api/auth/logout', undef);
is($lo->code, 204, 'the cookie session with X-CSRF-Token can POST (logout: 204)') or diag(dump_res($lo));
my (undef, undef, $gone) = api(GET => '/api/auth/me', headers => [Cookie => "dp_session=$s_cf"]);
is($gone->code, 401, '... and the logged-out cookie is 401 afterwards');

# "session" other than "cookie"
my (undef, undef, $rb) = register({ email => unique_email('cookiebogus'), password => $PW, name => 'Dr Bogus',
                                    userType => 'provider', session => 'bogus' });
error_is($rb, 422, 'validation_error', 'session', 'register with session bogus: 422 field session');
my (undef, undef, $lb) = api(POST => '/api/auth/login',
                             json => { email => $cemail, password => $PW3, session => 'bogus' });
error_is($lb, 422, 'validation_error', 'session', 'login with session bogus: 422 field session');
my (undef, undef, $lb2) = api(POST => '/api/auth/login',
                              json => { email => $cemail, password => $PW3, session => JSON::PP::true });
error_is($lb2, 422, 'validation_error', 'session', 'login with session true: 422 field session');
my ($bst, $bd) = login($cemail, $PW3);
my (undef, undef, $cpb) = api(POST => '/api/auth/change-password', token => $bd->{token},
                              json => { currentPassword => $PW3, newPassword => $PW2, session => 'bogus' });
error_is($cpb, 422, 'validation_error', 'session', 'change-password with session bogus: 422 field session');

# without "session": {token, user} as before
is($bst, 200, 'login without session: 200');
is_deeply([sort keys %{ $bd || {} }], [qw(token user)], '... the answer is {token, user}');
my (undef, undef, $bm) = api(GET => '/api/auth/me', token => $bd->{token});
is($bm->code, 200, '... and the token works');

done_testing();
