# PostgreSQL down: clean 503 JSON answers; recovery without restarting httpd.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use Time::HiRes qw(sleep time);

unless ($ENV{DP_PG_SH} && -x $ENV{DP_PG_SH}) {
    Test::More::plan(skip_all => 'DP_PG_SH not set or not executable');
}

my $stopped = 0;

sub pg {
    my ($what) = @_;
    my $out = `$ENV{DP_PG_SH} $what 2>&1`;
    my $rc = $? >> 8;
    return ($rc, $out);
}

# whatever happens below, PostgreSQL is started again
END {
    if ($stopped) {
        my $keep = $?;
        my ($rc, $out) = pg('start');
        print STDERR "# 90_db_down END: '$ENV{DP_PG_SH} start' failed (rc $rc): $out\n" if $rc;
        $? = $keep;
    }
}
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

# a user to log in with, created while the database is up
my ($st, $reg, $rres, $sent) = register_provider();
is($st, 201, 'setup: provider registered while PostgreSQL is up') or diag(dump_res($rres));

my ($hs) = api(GET => '/api/health');
is($hs, 200, 'health 200 before stopping PostgreSQL');

# Fill the children's connection pools: a burst of concurrent requests leaves several idle
# pooled connections behind (DBDKeep and DBDExptime keep them), each of which dies with the
# server below. Every one of them must come back without a client seeing a 503.
my @burst = map { { method => 'GET', path => '/api/auth/me', token => $reg->{token} } } 1 .. 40;
my @before = race(@burst);
is(scalar(grep { $_->{status} == 200 } @before), 40, 'setup: 40 concurrent requests answered 200');

$stopped = 1;
my ($rc, $out) = pg('stop');
is($rc, 0, "'$ENV{DP_PG_SH} stop' succeeded") or diag($out);

# health: 503 JSON with the database state
my $t0 = time;
my (undef, $hd, $hres) = api(GET => '/api/health');
my $elapsed = time - $t0;
error_is($hres, 503, 'unavailable', undef, 'health with PostgreSQL down: 503 unavailable JSON');
is($hd->{status}, 'error', 'health down: status error');
is($hd->{database}, 'down', 'health down: database down');
ok($elapsed < 15, 'health answers within 15 s while the database is down')
    or diag(sprintf 'took %.1f s', $elapsed);

# a second health request (the pool may have tried to reconnect in between)
my (undef, undef, $hres2) = api(GET => '/api/health');
error_is($hres2, 503, 'unavailable', undef, 'second health with PostgreSQL down: 503');

# routes that need the database
my (undef, undef, $lres) = login($sent->{email});
error_is($lres, 503, 'unavailable', undef, 'login with PostgreSQL down: 503 unavailable JSON');
my (undef, undef, $gres) = register_provider();
error_is($gres, 503, 'unavailable', undef, 'register with PostgreSQL down: 503 unavailable JSON');
my (undef, undef, $mres) = api(GET => '/api/auth/me', token => $reg->{token});
error_is($mres, 503, 'unavailable', undef, 'me with a valid token and PostgreSQL down: 503 unavailable JSON');

# routes that do not need the database still answer as before
my (undef, undef, $nres) = api(GET => '/api/nope');
error_is($nres, 404, 'not_found', undef, 'unknown route with PostgreSQL down: still 404');
my (undef, undef, $jres) = api(POST => '/api/auth/login', json => '{');
error_is($jres, 400, 'invalid_json', undef, 'malformed JSON with PostgreSQL down: still 400');

# start it again; the module recovers by itself
($rc, $out) = pg('start');
is($rc, 0, "'$ENV{DP_PG_SH} start' succeeded") or diag($out);
$stopped = 0 if $rc == 0;

# pg.sh start returns once PostgreSQL accepts connections: from then on, no request may fail,
# however many dead connections the pools still hold
my @after = race(@burst);
my %codes;
$codes{$_->{status}}++ for @after;
is(scalar(grep { $_->{status} == 200 } @after), 40,
   'right after the restart, 40 concurrent requests all answered 200')
    or diag(join ', ', map { "$_: $codes{$_}" } sort keys %codes);

my $deadline = time + 30;
my $up = 0;
my $last;
while (time < $deadline) {
    my ($s, undef, $r) = api(GET => '/api/health');
    $last = $r;
    if ($s == 200) { $up = 1; last }
    sleep 0.5;
}
ok($up, 'health back to 200 within 30 s of PostgreSQL restarting') or diag(dump_res($last));

# every pooled connection must have recovered: several logins in a row
for my $i (1 .. 4) {
    my (undef, $ld, $l2) = login($sent->{email});
    success_is($l2, 200, "login $i after recovery: 200");
    is($ld->{user}{id}, $reg->{user}{id}, "login $i after recovery: the right user");
}
my (undef, undef, $me2) = api(GET => '/api/auth/me', token => $reg->{token});
is($me2->code, 200, 'me after recovery: 200') or diag(dump_res($me2));

done_testing();
