# Cookie sessions (DocPortalCookieSessions On on the suite's server): register and login set
# dp_session (HttpOnly, Path=/api) and dp_csrf (readable, Path=/); a cookie alone
# authenticates a GET; an unsafe method with the cookie needs X-CSRF-Token equal to dp_csrf and
# to the session's own CSRF token (403 csrf_failed otherwise, audited); a Bearer header wins
# over any cookie; logout clears both cookies and revokes the token. With the option Off (a
# second httpd) cookies are ignored.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Server qw(stop_httpd);

my $LIFE = 24 * 3600;    # the suite's token lifetime (default 24 h)

sub cookie_headers_are {
    my ($res, $token, $name) = @_;
    my $c = set_cookies($res);
    my $csrf = csrf_of($token);
    is($c->{dp_session}, "dp_session=$token; Path=/api; HttpOnly; Secure; SameSite=Strict; Max-Age=$LIFE",
       "$name: dp_session cookie carries the token, with exactly these attributes");
    is($c->{dp_csrf}, "dp_csrf=$csrf; Path=/; Secure; SameSite=Strict; Max-Age=$LIFE",
       "$name: dp_csrf cookie carries the session's CSRF token, readable (no HttpOnly)");
    is(scalar(my @all = $res->header('Set-Cookie')), 2, "$name: exactly two Set-Cookie headers");
    like($csrf, qr/^[0-9a-f]{64}$/, "$name: the CSRF token is 64 hex characters");
}

# cookie(token[, csrf]) -> a Cookie header value
sub cookie {
    my ($tok, $csrf) = @_;
    return "dp_session=$tok" . (defined $csrf ? "; dp_csrf=$csrf" : '');
}

# ---- register and login set both cookies; the body still has the token ----------------------
my ($rst, $reg, $rres) = register_provider(name => 'Dr Cookie');
is($rst, 201, 'setup: provider registered') or diag(dump_res($rres));
ok(length($reg->{token} // ''), 'register still answers the token in the body');
cookie_headers_are($rres, $reg->{token}, 'register');
my $me = $reg->{user};
my $email = $me->{email};

my ($lst, $ld, $lres) = login($email);
is($lst, 200, 'setup: login') or diag(dump_res($lres));
cookie_headers_are($lres, $ld->{token}, 'login');
my $tok = $ld->{token};
my $csrf = csrf_of($tok);
is(set_cookies($lres)->{dp_csrf} =~ /^dp_csrf=([0-9a-f]+);/ ? $1 : '', $csrf,
   'the dp_csrf value is HMAC-SHA256(secret, "csrf:" jti)');
isnt(csrf_of($reg->{token}), $csrf, 'two sessions of one user have different CSRF tokens');

my (undef, undef, $fail) = login($email, 'wrong-password-cookie');
is(scalar(my @none = $fail->header('Set-Cookie')), 0, 'a failed login sets no cookie');

# ---- a cookie alone authenticates safe methods ------------------------------------------------
my (undef, $gd, $gres) = api(GET => '/api/auth/me', headers => [Cookie => cookie($tok)]);
success_is($gres, 200, 'GET with the dp_session cookie only: 200');
is($gd->{user}{id}, $me->{id}, '... as the session\'s user');
for my $h ("theme=dark; dp_session=$tok; lang=en", "  theme=dark ;dp_session=\"$tok\" ;  x=1",
           "a=1, dp_session=$tok", "dp_session=; dp_session=$tok") {
    my (undef, $d, $res) = api(GET => '/api/auth/me', headers => [Cookie => $h]);
    is($res->code, 200, "cookie found in '" . substr($h, 0, 30) . "...'") or diag(dump_res($res));
}
my (undef, undef, $head) = api(HEAD => '/api/auth/me', headers => [Cookie => cookie($tok)]);
is($head->code, 200, 'HEAD with the cookie only: 200 (a safe method)');
my (undef, undef, $nock) = api(GET => '/api/auth/me', headers => [Cookie => 'theme=dark; dp_csrf=' . $csrf]);
error_is($nock, 401, 'unauthorized', undef, 'no dp_session among the cookies: 401');
my (undef, undef, $badck) = api(GET => '/api/auth/me', headers => [Cookie => 'dp_session=garbage']);
error_is($badck, 401, 'unauthorized', undef, 'a dp_session cookie that is no token: 401');

# ---- unsafe methods with the cookie need the session's CSRF token ----------------------------
my (undef, $o2) = login($email);
my $other_csrf = csrf_of($o2->{token});
my @bad = (
    ['no X-CSRF-Token',                  [Cookie => cookie($tok, $csrf)]],
    ['no dp_csrf cookie',                [Cookie => cookie($tok), 'X-CSRF-Token' => $csrf]],
    ['wrong X-CSRF-Token',               [Cookie => cookie($tok, $csrf), 'X-CSRF-Token' => 'abc123']],
    ['header and cookie equal but made up', [Cookie => cookie($tok, 'f' x 64), 'X-CSRF-Token' => 'f' x 64]],
    ['another session\'s CSRF token',    [Cookie => cookie($tok, $other_csrf), 'X-CSRF-Token' => $other_csrf]],
    ['header differs from the cookie',   [Cookie => cookie($tok, $csrf), 'X-CSRF-Token' => $other_csrf]],
    ['token in upper case',              [Cookie => cookie($tok, uc $csrf), 'X-CSRF-Token' => uc $csrf]],
);
for my $b (@bad) {
    my ($what, $h) = @$b;
    my (undef, undef, $res) = api(PATCH => '/api/auth/me', headers => $h, json => { name => 'Dr Forged' });
    error_is($res, 403, 'csrf_failed', undef, "PATCH with the cookie, $what: 403 csrf_failed");
    audit_single($res, { action => 'user.update', outcome => 'denied', actor_id => $me->{id},
                         actor_type => 'provider' }, "... one audit event, denied, naming the user");
}
my (undef, $still) = api(GET => '/api/auth/me', token => $tok);
is($still->{user}{name}, 'Dr Cookie', 'none of the refused PATCHes changed the profile');

my (undef, undef, $lo403) = api(POST => '/api/auth/logout', headers => [Cookie => cookie($tok, $csrf)]);
error_is($lo403, 403, 'csrf_failed', undef, 'POST logout with the cookie and no X-CSRF-Token: 403');
my (undef, undef, $alive) = api(GET => '/api/auth/me', headers => [Cookie => cookie($tok)]);
is($alive->code, 200, '... and the session was not logged out') or diag(dump_res($alive));

# the right token: success
my (undef, $pd, $pres) = api(PATCH => '/api/auth/me', json => { name => 'Dr Cookie Jar' },
                             headers => [Cookie => cookie($tok, $csrf), 'X-CSRF-Token' => $csrf]);
success_is($pres, 200, 'PATCH with the cookie and the right X-CSRF-Token: 200');
is($pd->{user}{name}, 'Dr Cookie Jar', '... the change is made');
audit_single($pres, { action => 'user.update', outcome => 'success' }, '... audited as a success');

# POST and DELETE on a real record, as a client with its cookie
my ($ctok, $cu) = client_session($me->{id}, name => 'Cookie Client');
my $ccsrf = csrf_of($ctok);
my %appt = (date => day_offset(9), time => '11:00', duration => 50, type => 'video');
my (undef, undef, $bk403) = api(POST => '/api/client/appointments', json => \%appt,
                                headers => [Cookie => cookie($ctok, $ccsrf)]);
error_is($bk403, 403, 'csrf_failed', undef, 'POST (booking) with the cookie and no X-CSRF-Token: 403');
is(psql('SELECT count(*) FROM appointments WHERE client_id = ' . sql_quote($cu->{id})), '0',
   '... nothing was booked');
my (undef, $ap, $bk) = api(POST => '/api/client/appointments', json => \%appt,
                           headers => [Cookie => cookie($ctok, $ccsrf), 'X-CSRF-Token' => $ccsrf]);
success_is($bk, 201, 'POST (booking) with the cookie and the right X-CSRF-Token: 201');
my $aid = $ap->{id} // 'none';
my (undef, undef, $del403) = api(DELETE => "/api/appointments/$aid",
                                 headers => [Cookie => cookie($ctok, $ccsrf), 'X-CSRF-Token' => $csrf]);
error_is($del403, 403, 'csrf_failed', undef, 'DELETE with the cookie and the provider\'s CSRF token: 403');
is(psql('SELECT status FROM appointments WHERE id = ' . sql_quote($aid) . '::uuid'), 'pending',
   '... the appointment is not cancelled');
my (undef, $dd, $del) = api(DELETE => "/api/appointments/$aid",
                            headers => [Cookie => cookie($ctok, $ccsrf), 'X-CSRF-Token' => $ccsrf]);
success_is($del, 200, 'DELETE with the cookie and the right X-CSRF-Token: 200');
is($dd->{status}, 'cancelled', '... cancelled');

# ---- a Bearer header wins over cookies ----------------------------------------------------------
my (undef, $bw, $bwres) = api(GET => '/api/auth/me', token => $tok,
                              headers => [Cookie => 'dp_session=garbage']);
success_is($bwres, 200, 'a valid Bearer with a bad dp_session cookie: 200');
is($bw->{user}{id}, $me->{id}, '... the Bearer\'s user');
my (undef, $bc) = api(GET => '/api/auth/me', token => $tok, headers => [Cookie => cookie($ctok)]);
is($bc->{user}{id}, $me->{id}, 'Bearer of one user with the cookie of another: the Bearer\'s user');
my (undef, undef, $bb) = api(GET => '/api/auth/me', token => 'garbage', headers => [Cookie => cookie($tok)]);
error_is($bb, 401, 'unauthorized', undef, 'a bad Bearer with a good cookie: 401 (the cookie is not tried)');
my (undef, undef, $bp) = api(PATCH => '/api/auth/me', token => $tok, json => { name => 'Dr Bearer' },
                             headers => [Cookie => cookie($tok, $csrf)]);
success_is($bp, 200, 'PATCH with a Bearer (and the cookie) needs no X-CSRF-Token');

# ---- logout clears both cookies and revokes the token -------------------------------------------
my (undef, undef, $lo) = api(POST => '/api/auth/logout',
                             headers => [Cookie => cookie($tok, $csrf), 'X-CSRF-Token' => $csrf]);
is($lo->code, 204, 'logout with the cookie and the CSRF token: 204') or diag(dump_res($lo));
my $cleared = set_cookies($lo);
is($cleared->{dp_session}, 'dp_session=; Path=/api; HttpOnly; Secure; SameSite=Strict; Max-Age=0',
   'logout clears dp_session (same attributes, Max-Age=0)');
is($cleared->{dp_csrf}, 'dp_csrf=; Path=/; Secure; SameSite=Strict; Max-Age=0',
   'logout clears dp_csrf (same attributes, Max-Age=0)');
my (undef, undef, $gone) = api(GET => '/api/auth/me', headers => [Cookie => cookie($tok)]);
error_is($gone, 401, 'unauthorized', undef, 'the logged-out cookie no longer works');
my (undef, undef, $goneb) = api(GET => '/api/auth/me', token => $tok);
error_is($goneb, 401, 'unauthorized', undef, '... nor the same token as Bearer (revoked)');
my (undef, undef, $o2res) = api(GET => '/api/auth/me', headers => [Cookie => cookie($o2->{token})]);
is($o2res->code, 200, 'the other session of the user still works') or diag(dump_res($o2res));

# ---- option Off (the default): cookies are ignored ------------------------------------------------
my $off = session_server('cookies_off', '');
SKIP: {
    skip 'second httpd did not start', 6 if defined $off->{status};
    my ($s, $d, $r) = http_at($off->{port}, POST => '/api/auth/login',
                              json => { email => $email, password => $DocPortal::Test::PASSWORD });
    is($s, 200, 'cookie sessions Off: login 200');
    is_deeply(set_cookies($r->{headers}), {}, '... and no Set-Cookie');
    my $t = $d->{token} // '';
    ($s) = http_at($off->{port}, GET => '/api/auth/me', headers => { Cookie => cookie($t) });
    is($s, 401, 'cookie sessions Off: the cookie alone is 401');
    ($s) = http_at($off->{port}, GET => '/api/auth/me', token => $t, headers => { Cookie => cookie($t) });
    is($s, 200, 'cookie sessions Off: Bearer works');
    ($s, $d) = http_at($off->{port}, PATCH => '/api/auth/me', token => $t, json => { name => 'Dr Off' });
    is($s, 200, 'cookie sessions Off: a Bearer PATCH needs no CSRF token');
    my (undef, undef, $lr) = http_at($off->{port}, POST => '/api/auth/logout', token => $t);
    is_deeply(set_cookies($lr->{headers}), {}, 'cookie sessions Off: logout sets no cookie');
}
stop_httpd($off);

done_testing();
