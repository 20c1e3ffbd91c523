# audit_events rows for register / login / failed login / me / logout, and append-only.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

# rows written for the request with that X-Request-Id:
#   list of { action, outcome, actor_id, actor_type, ip, seq, resource_type, recent }
sub audit_rows {
    my ($rid) = @_;
    return () unless defined $rid && length $rid;
    my $out = psql(q{SELECT action, outcome, coalesce(actor_id::text, ''), coalesce(actor_type, ''), }
                 . q{coalesce(ip, ''), seq, coalesce(resource_type, ''), }
                 . q{(at > now() - interval '5 minutes' AND at <= now() + interval '1 minute') }
                 . q{FROM audit_events WHERE request_id = } . sql_quote($rid) . q{ ORDER BY seq});
    my @rows;
    for my $line (grep { length } split /\n/, $out) {
        my %r;
        @r{qw(action outcome actor_id actor_type ip seq resource_type recent)} = split /\|/, $line, -1;
        push @rows, \%r;
    }
    return @rows;
}

my $IP_RE = qr/^(?:127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/;

sub audit_is {
    my ($res, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $rid = $res->header('X-Request-Id');
    my @rows = audit_rows($rid);
    my @p;
    if (@rows != 1) {
        push @p, scalar(@rows) . " audit rows with request_id '" . ($rid // 'undef') . "', expected 1";
    }
    else {
        my $r = $rows[0];
        for my $k (sort keys %$want) {
            my $w = $want->{$k};
            my $g = $r->{$k};
            if (ref $w eq 'Regexp') { push @p, "$k '$g' !~ $w" unless $g =~ $w }
            else                    { push @p, "$k '$g' ne '$w'" unless $g eq $w }
        }
        push @p, "ip '$r->{ip}' is not the loopback address" unless $r->{ip} =~ $IP_RE;
        push @p, "at is not recent" unless $r->{recent} eq 't';
    }
    ok(!@p, $name) or diag(join("\n", @p) . "\n" . dump_res($res)
        . "\nlatest audit rows:\n" . psql(q{SELECT seq, action, outcome, actor_id, actor_type, ip, request_id }
                                         . q{FROM audit_events ORDER BY seq DESC LIMIT 8}));
    return $rows[0];
}

my @seq;

# register
my ($st, $reg, $rres, $sent) = register_provider();
is($st, 201, 'setup: register') or diag(dump_res($rres));
my $uid = $reg->{user}{id} // 'none';
my $r = audit_is($rres, { action => 'auth.register', outcome => 'success', actor_id => $uid,
                          actor_type => 'provider' }, 'register: auth.register success row with actor, ip, request_id');
push @seq, $r->{seq} if $r;

# register conflict
my (undef, undef, $cres) = register_provider(email => $sent->{email});
is($cres->code, 409, 'setup: duplicate register 409');
audit_is($cres, { action => 'auth.register', outcome => 'failure' }, 'duplicate register: auth.register failure row');

# login
my (undef, $ld, $lres) = login($sent->{email});
is($lres->code, 200, 'setup: login');
$r = audit_is($lres, { action => 'auth.login', outcome => 'success', actor_id => $uid, actor_type => 'provider' },
              'login: auth.login success row');
push @seq, $r->{seq} if $r;

# failed login (known email, wrong password)
my (undef, undef, $fres) = login($sent->{email}, 'wrong-password-1');
is($fres->code, 401, 'setup: failed login 401');
audit_is($fres, { action => 'auth.login', outcome => 'failure' }, 'failed login: auth.login failure row');

# failed login (unknown email): still recorded, no actor
my (undef, undef, $ures) = login(unique_email('ghost'), 'wrong-password-1');
audit_is($ures, { action => 'auth.login', outcome => 'failure', actor_id => '' },
         'failed login with unknown email: auth.login failure row without actor_id');

# me
my (undef, undef, $mres) = api(GET => '/api/auth/me', token => $ld->{token});
is($mres->code, 200, 'setup: me');
$r = audit_is($mres, { action => 'user.read', outcome => 'success', actor_id => $uid, actor_type => 'provider' },
              'me: user.read success row');
push @seq, $r->{seq} if $r;

# me without a token: denied, anonymous
my (undef, undef, $dres) = api(GET => '/api/auth/me');
is($dres->code, 401, 'setup: me without token 401');
audit_is($dres, { action => 'user.read', outcome => 'denied', actor_id => '', actor_type => 'anonymous' },
         'me without token: user.read denied row, anonymous');

# me with a bad token: denied
my (undef, undef, $bres) = api(GET => '/api/auth/me', token => 'bad.token.here');
audit_is($bres, { action => 'user.read', outcome => 'denied' }, 'me with a bad token: user.read denied row');

# logout
my (undef, undef, $ores) = api(POST => '/api/auth/logout', token => $ld->{token});
is($ores->code, 204, 'setup: logout');
$r = audit_is($ores, { action => 'auth.logout', outcome => 'success', actor_id => $uid, actor_type => 'provider' },
              'logout: auth.logout success row');
push @seq, $r->{seq} if $r;

# logout without token: denied
my (undef, undef, $odres) = api(POST => '/api/auth/logout');
audit_is($odres, { action => 'auth.logout', outcome => 'denied' }, 'logout without token: auth.logout denied row');

# order
is(scalar @seq, 4, 'four success rows found');
is_deeply([sort { $a <=> $b } @seq], \@seq, 'seq increases in request order')
    or diag("seq: @seq");

# the health check is not an audited action
my (undef, undef, $hres) = api(GET => '/api/health');
is(scalar(audit_rows($hres->header('X-Request-Id'))), 0, 'no audit row for /api/health');

# ---- append-only for the app role -------------------------------------------------------
SKIP: {
    skip 'DP_PSQL_APP not set', 6 unless $ENV{DP_PSQL_APP};
    my ($one, $rc0, $err0) = psql_app('SELECT 1');
    is($one, '1', 'app role can connect with DP_PSQL_APP') or diag("rc $rc0: $err0");

    my $id = psql(q{SELECT id FROM audit_events WHERE actor_id = } . sql_quote($uid) . q{ ORDER BY seq LIMIT 1});
    my $before = psql(q{SELECT action || '/' || outcome FROM audit_events WHERE id = } . sql_quote($id || uuid_v4()));
    my $count  = psql(q{SELECT count(*) FROM audit_events});

    my ($o1, $rc1, $e1) = psql_app(q{UPDATE audit_events SET outcome = 'denied' WHERE id = } . sql_quote($id || uuid_v4()));
    ok($rc1 != 0 && $e1 =~ /ERROR/, 'app role UPDATE audit_events: error') or diag("rc $rc1 out '$o1' err '$e1'");
    my ($o2, $rc2, $e2) = psql_app(q{DELETE FROM audit_events WHERE id = } . sql_quote($id || uuid_v4()));
    ok($rc2 != 0 && $e2 =~ /ERROR/, 'app role DELETE audit_events: error') or diag("rc $rc2 out '$o2' err '$e2'");
    my ($o3, $rc3, $e3) = psql_app(q{UPDATE audit_events SET outcome = outcome});
    ok($rc3 != 0 && $e3 =~ /ERROR/, 'app role UPDATE of all rows: error') or diag("rc $rc3 out '$o3' err '$e3'");
    my ($o4, $rc4, $e4) = psql_app(q{TRUNCATE audit_events});
    ok($rc4 != 0 && $e4 =~ /ERROR/, 'app role TRUNCATE audit_events: error') or diag("rc $rc4 out '$o4' err '$e4'");

    is(psql(q{SELECT action || '/' || outcome FROM audit_events WHERE id = } . sql_quote($id || uuid_v4())), $before,
       'the audit row is unchanged');
    ok(psql(q{SELECT count(*) FROM audit_events}) >= $count, 'no audit row was removed');
}

done_testing();
