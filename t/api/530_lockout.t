# Lockout: failed logins counted in PostgreSQL per account (lower-cased email, whether or not
# it exists; the suite's server keeps the default 5 failures / 900 s / 900 s) and per client
# address (default 50 / 900 / 900, tested on a second httpd with every lockout default). A
# locked login is 429 rate_limited with Retry-After, even with the right password; a success
# resets the account's count; a lock ends when locked_until passes; a second server on the
# database sees the lock; a burst of concurrent wrong logins gets no more than the limit
# checked; every failure is audited.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Server qw(stop_httpd);
use Time::HiRes qw(time);

my $PW = $DocPortal::Test::PASSWORD;

sub throttle_row {
    my ($key) = @_;
    my $out = psql('SELECT failures, coalesce(extract(epoch FROM locked_until - now())::int::text, \'\') '
                 . 'FROM auth_throttle WHERE key = ' . sql_quote($key));
    my ($f, $left) = split /\|/, $out, -1;
    return { failures => $f, lock_left => $left };
}

# a wrong login: 401 invalid_credentials, one audit event (failure)
sub wrong_login_is {
    my ($email, $name) = @_;
    my (undef, undef, $res) = login($email, 'Wrong-password-9');
    error_is($res, 401, 'invalid_credentials', undef, "$name: 401 invalid_credentials");
    audit_single($res, { action => 'auth.login', outcome => 'failure' }, "$name: audited (failure)");
    return $res;
}

# a locked login: 429 rate_limited with Retry-After close to the lock, one audit event (denied)
sub locked_is {
    my ($res, $name, $lock) = @_;
    $lock //= 900;
    error_is($res, 429, 'rate_limited', undef, "$name: 429 rate_limited");
    my $ra = $res->header('Retry-After') // '';
    ok($ra =~ /^\d+$/ && $ra > $lock - 60 && $ra <= $lock, "$name: Retry-After $ra is close to $lock s");
    audit_single($res, { action => 'auth.login', outcome => 'denied', actor_type => 'anonymous' },
                 "$name: audited (denied)");
}

# ---- 5 failures lock the account; the 6th attempt is refused even with the right password ------
my (undef, $pu, undef, $psent) = register_provider(name => 'Dr Locked');
my $email = $psent->{email};
wrong_login_is($email, "account A, wrong password $_") for 1 .. 5;
my $row = throttle_row("a:$email");
is($row->{failures}, 5, 'five failures counted for the lower-cased email');
ok($row->{lock_left} ne '' && $row->{lock_left} > 850, 'the fifth failure set the lock (~900 s)')
    or diag(explain($row));
my (undef, undef, $l6) = login($email, $PW);
locked_is($l6, 'account A, 6th attempt with the right password');
ok(!exists((json_body($l6) // {})->{token}), '... and no token');
my (undef, undef, $l6u) = login(uc $email, $PW);
locked_is($l6u, 'account A, the email upper-cased');

# a locked attempt does no password check: it answers much faster than a wrong password
{
    my ($locked_t, $wrong_t) = (0, 0);
    for (1 .. 4) {
        my $t0 = time;
        login($email, 'Wrong-password-9');
        $locked_t += time - $t0;
        $t0 = time;
        login(unique_email('timing'), 'Wrong-password-9');
        $wrong_t += time - $t0;
    }
    ok($locked_t * 2 < $wrong_t, sprintf('locked answers take no bcrypt time (%.3f s vs %.3f s for 4 each)',
                                          $locked_t, $wrong_t));
}

# another account from the same address is not locked
my (undef, $pu2, undef, $psent2) = register_provider(name => 'Dr Neighbour');
my ($n2, $nd) = login($psent2->{email});
is($n2, 200, 'another account from the same address logs in');

# ---- the lock lives in PostgreSQL: a second server (every lockout default) refuses too ---------
my $def = session_server('lockout_defaults', 'DocPortalBcryptCost 4');
my $port = $def->{port};
SKIP: {
    skip 'second httpd did not start', 3 if defined $def->{status};
    my ($s, $d, $r) = http_at($port, POST => '/api/auth/login', json => { email => $email, password => $PW });
    is($s, 429, 'a second server on the same database refuses the locked account');
    is($d->{code}, 'rate_limited', '... rate_limited');
    ok(($r->{headers}{'retry-after'} // 0) > 800, '... with Retry-After');
}

# ---- the lock runs out ------------------------------------------------------------------------------
psql_must(q{UPDATE auth_throttle SET locked_until = now() - interval '1 second' WHERE key = }
          . sql_quote("a:$email"));
my ($ex, $exd, $exres) = login($email, $PW);
success_is($exres, 200, 'once locked_until has passed, the right password logs in');
is(throttle_row("a:$email")->{failures}, 0, '... and the account\'s count starts over');

# ---- a success before the limit resets the account's count ----------------------------------------
my (undef, undef, undef, $rsent) = register_provider(name => 'Dr Reset');
my $remail = $rsent->{email};
wrong_login_is($remail, "account B, wrong password $_") for 1 .. 4;
my ($ok4) = login($remail);
is($ok4, 200, 'account B: the right password after 4 failures logs in');
is(throttle_row("a:$remail")->{failures}, 0, 'account B: the success reset the count');
wrong_login_is($remail, "account B after the reset, wrong password $_") for 1 .. 5;
my (undef, undef, $b6) = login($remail);
locked_is($b6, 'account B, 5 failures after the reset');

# ---- an unknown email locks the same way ---------------------------------------------------------
my $ghost = unique_email('ghost');
wrong_login_is($ghost, "unknown email, attempt $_") for 1 .. 5;
my (undef, undef, $g6) = login($ghost, 'Wrong-password-9');
locked_is($g6, 'unknown email, 6th attempt');
is(psql('SELECT count(*) FROM users WHERE email = ' . sql_quote($ghost)), '0', 'no account was created for it');

# ---- a burst of concurrent wrong logins: at most 5 are checked, the rest are 429 -----------------
my (undef, undef, undef, $csent) = register_provider(name => 'Dr Burst');
my @res = login_race(20, $csent->{email}, 'Wrong-password-9');
my $checked = grep { $_->{status} == 401 } @res;
my $refused = grep { $_->{status} == 429 && ($_->{body}{code} // '') eq 'rate_limited' } @res;
ok($checked <= 5 && $checked >= 1, "20 concurrent wrong logins: $checked password checks (at most 5)")
    or diag(join ' ', map { $_->{status} } @res);
is($checked + $refused, 20, '... every other one is 429 rate_limited')
    or diag(join ' ', map { $_->{status} } @res);
my @outcomes = map { join ',', map { $_->{outcome} } audit_events_for($_->{request_id}) } @res;
is_deeply(\@outcomes, [map { $_->{status} == 401 ? 'failure' : 'denied' } @res],
          '... each audited once: failure for a checked one, denied for a refused one');
my (undef, undef, $after) = login($csent->{email});
is($after->code, 429, '... and the account is locked afterwards, right password or not');

# ---- per address: default 50 failures in 900 s lock the address for 900 s (second server) -------
SKIP: {
    skip 'second httpd did not start', 9 if defined $def->{status};
    my $ipkey = 'i:127.0.0.1';
    psql_must('DELETE FROM auth_throttle WHERE key = ' . sql_quote($ipkey));
    my @st = map {
        (http_at($port, POST => '/api/auth/login',
                 json => { email => unique_email("ip$_"), password => 'Wrong-password-9' }))[0]
    } 1 .. 49;
    is_deeply([grep { $_ != 401 } @st], [], '49 failures for 49 different emails: each 401');
    is(throttle_row($ipkey)->{failures}, 49, '... counted for the address');
    my ($s) = http_at($port, POST => '/api/auth/login', json => { email => $psent2->{email}, password => $PW });
    is($s, 200, 'a success from the address below its limit');
    is(throttle_row($ipkey)->{failures}, 49, '... gives its attempt back to the address');
    ($s) = http_at($port, POST => '/api/auth/login',
                   json => { email => unique_email('ip50'), password => 'Wrong-password-9' });
    is($s, 401, 'the 50th failure from the address is still checked (401)');
    my ($s51, $d51, $r51) = http_at($port, POST => '/api/auth/login',
                                    json => { email => $psent2->{email}, password => $PW });
    is($s51, 429, 'then the address is locked: a fresh account with the right password is 429');
    is($d51->{code}, 'rate_limited', '... rate_limited');
    my $ra = $r51->{headers}{'retry-after'} // 0;
    ok($ra > 840 && $ra <= 900, "... Retry-After $ra close to 900");
    my ($cnt) = psql(q{SELECT count(*) FROM audit_events WHERE action = 'auth.login' AND outcome = 'denied' }
                   . q{AND request_id = } . sql_quote($r51->{headers}{'x-request-id'} // ''));
    is($cnt, '1', '... audited (denied)');
    # the suite's server shares the row: lift the lock before anything else logs in
    psql_must('DELETE FROM auth_throttle WHERE key = ' . sql_quote($ipkey));
}
stop_httpd($def);

# ---- dead rows go: an expired row of another key is purged by the next attempt -----------------
psql_must(q{INSERT INTO auth_throttle (key, failures, window_start, expires_at) }
        . q{VALUES ('a:stale@example.com', 3, now() - interval '2 hours', now() - interval '1 hour')});
login(unique_email('purge'), 'Wrong-password-9');
is(psql(q{SELECT count(*) FROM auth_throttle WHERE key = 'a:stale@example.com'}), '0',
   'an expired throttle row is purged by a later attempt');
my $stale = unique_email('stale');
psql_must(q{INSERT INTO auth_throttle (key, failures, window_start, locked_until, expires_at) VALUES (}
        . sql_quote("a:$stale") . q{, 4, now() - interval '2 hours', now() - interval '70 minutes', }
        . q{now() - interval '1 hour')});
wrong_login_is($stale, 'an email whose own row has expired');
is(throttle_row("a:$stale")->{failures}, 1, '... starts a new count at 1');

done_testing();
