# Token lifetime and idle sessions: DocPortalTokenLifetime (JWT_EXPIRE_HOURS under make run)
# sets exp - iat; a session's last use is recorded in session_activity at most once a minute
# (a token without a row counts from its iat); with DocPortalIdleTimeout a session unused for
# longer than the timeout (plus the minute of recording slack) is 401, audited. Expired tokens
# are 401 in t/api/30_me_token.t. The new directives refuse bad values at startup.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Server qw(start_httpd stop_httpd);
use File::Temp qw(tempdir);

my $PW = $DocPortal::Test::PASSWORD;

sub jti_of { my (undef, $c) = jwt_parts($_[0]); return $c->{jti} }

# seconds since the recorded last use of the session, or '' when it has no row
sub last_used_age {
    my ($jti) = @_;
    return scalar psql('SELECT floor(extract(epoch FROM now() - last_used_at))::int '
                     . 'FROM session_activity WHERE jti = ' . sql_quote($jti) . '::uuid');
}
sub last_used_exact {
    my ($jti) = @_;
    return scalar psql('SELECT last_used_at FROM session_activity WHERE jti = ' . sql_quote($jti) . '::uuid');
}
# put the session's last use $secs seconds back (creating its row if needed)
sub used_ago {
    my ($jti, $user, $secs) = @_;
    psql_must('INSERT INTO session_activity (jti, user_id, last_used_at, expires_at) VALUES ('
            . sql_quote($jti) . '::uuid, ' . sql_quote($user) . "::uuid, now() - interval '$secs seconds', "
            . "now() + interval '1 day') ON CONFLICT (jti) DO UPDATE SET last_used_at = excluded.last_used_at");
}
sub me_status { my ($tok) = @_; return (api(GET => '/api/auth/me', token => $tok))[0] }

# ---- the last use is recorded at most once a minute -----------------------------------------------
my ($tok, $user) = provider_session(name => 'Dr Idle');
my $jti = jti_of($tok);
is(me_status($tok), 200, 'a fresh token works');
is(last_used_age($jti), '', 'a session used within its first minute has no row (its iat counts)');

used_ago($jti, $user->{id}, 300);
is(me_status($tok), 200, 'a request 5 minutes after the recorded last use');
my $age = last_used_age($jti);
ok($age ne '' && $age <= 5, "... records the use now (age $age s)");

used_ago($jti, $user->{id}, 30);
my $before = last_used_exact($jti);
is(me_status($tok), 200, 'a request 30 s after the recorded last use');
is(me_status($tok), 200, '... and another one');
is(last_used_exact($jti), $before, '... leave the record alone (under a minute old)');

used_ago($jti, $user->{id}, 61);
is(me_status($tok), 200, 'a request 61 s after the recorded last use');
is(me_status($tok), 200, '... and another one right after');
$age = last_used_age($jti);
ok($age ne '' && $age <= 5, "... moved the record once, to now (age $age s)");

# rows of expired tokens go when another session's use is recorded
my $dead = uuid_v4();
psql_must(q{INSERT INTO session_activity (jti, user_id, last_used_at, expires_at) VALUES (}
        . sql_quote($dead) . '::uuid, ' . sql_quote($user->{id})
        . q{::uuid, now() - interval '2 days', now() - interval '1 day')});

# a token with no row whose iat is older than a minute gets its row on use
my $secret = jwt_secret();
my $now = time;
my $old = jwt_make({ alg => 'HS256', typ => 'JWT' },
                   { sub => $user->{id}, role => 'provider', jti => uuid_v4(), iat => $now - 120,
                     exp => $now + 3600 }, $secret);
is(me_status($old), 200, 'a token issued 2 minutes ago, never used');
$age = last_used_age(jti_of($old));
ok($age ne '' && $age <= 5, "... now has its last use recorded (age $age s)");
is(psql('SELECT user_id FROM session_activity WHERE jti = ' . sql_quote(jti_of($old)) . '::uuid'),
   $user->{id}, '... under its user');
is(last_used_age($dead), '', '... and the row of an expired token went on the way');

# ---- a second server: DocPortalIdleTimeout 60, DocPortalTokenLifetime 2 -------------------------
my $srv = session_server('idle', "DocPortalIdleTimeout 60\nDocPortalTokenLifetime 2");
SKIP: {
    skip 'second httpd did not start', 12 if defined $srv->{status};
    my $port = $srv->{port};
    my ($s, $d) = http_at($port, POST => '/api/auth/login', json => { email => $user->{email}, password => $PW });
    is($s, 200, 'login on the server with a 2-hour token lifetime');
    my (undef, $c) = jwt_parts($d->{token} // '');
    is(($c->{exp} // 0) - ($c->{iat} // 0), 7200, '... its token lives exactly 2 h (exp - iat)');
    my $t = $d->{token} // '';
    my $j = jti_of($t);
    ($s) = http_at($port, GET => '/api/auth/me', token => $t);
    is($s, 200, 'idle timeout 60 s: a fresh session works');

    used_ago($j, $user->{id}, 100);
    ($s) = http_at($port, GET => '/api/auth/me', token => $t);
    is($s, 200, 'recorded last use 100 s ago: still allowed (the record may lag up to a minute)');
    $age = last_used_age($j);
    ok($age ne '' && $age <= 5, "... and the use is recorded (age $age s)");

    used_ago($j, $user->{id}, 180);
    my ($s401, $d401, $r401) = http_at($port, GET => '/api/auth/me', token => $t);
    is($s401, 401, 'recorded last use 3 minutes ago: 401');
    is($d401->{code}, 'unauthorized', '... unauthorized');
    my $rid = $r401->{headers}{'x-request-id'} // '';
    is(join(',', map { "$_->{action}/$_->{outcome}/$_->{actor_type}" } audit_events_for($rid)),
       'user.read/denied/anonymous', '... audited once as a denied read');
    my $kept = last_used_age($j);
    ok($kept ne '' && $kept >= 175, "... and a refused request records no use (age $kept s)");
    is(me_status($t), 200, 'the suite\'s server (no idle timeout) still takes that token');

    ($s) = http_at($port, GET => '/api/auth/me', token => $old);
    is($s, 200, 'a token whose recorded last use is fresh is allowed whatever its iat');
    my $stale = jwt_make({ alg => 'HS256', typ => 'JWT' },
                         { sub => $user->{id}, role => 'provider', jti => uuid_v4(),
                           iat => time - 180, exp => time + 3600 }, $secret);
    ($s) = http_at($port, GET => '/api/auth/me', token => $stale);
    is($s, 401, 'a token never used, issued 3 minutes ago: 401 (idle since its iat)');
}
stop_httpd($srv);

# ---- bad values of the new directives stop httpd at startup ----------------------------------------
my $dir = tempdir(CLEANUP => 1);
for my $case (['DocPortalIdleTimeout 30', qr/DocPortalIdleTimeout: 30 is below 60 seconds/],
              ['DocPortalIdleTimeout -1', qr/DocPortalIdleTimeout: '-1' is not a whole number/],
              ['DocPortalLockout 0 900 900', qr/DocPortalLockout: '0' is not a whole number from 1/],
              ['DocPortalLockoutIP 50 900', qr/DocPortalLockoutIP takes three arguments/],
              ['DocPortalCookieSessions maybe', qr/DocPortalCookieSessions must be On or Off/]) {
    my ($line, $want) = @$case;
    (my $name = lc $line) =~ s/[^a-z0-9]+/_/g;
    my $bad = start_httpd(name => $name, dir => $dir, params => $ENV{DOCPORTAL_DBDPARAMS}, secs => 10,
                          extra => "DocPortalJWTSecretFile $ENV{DOCPORTAL_JWT_SECRET_FILE}\n$line");
    ok(defined $bad->{status} && $bad->{status} != 0, "'$line': httpd refuses to start");
    like($bad->{log}, $want, "... and says why");
    stop_httpd($bad);
}

done_testing();
