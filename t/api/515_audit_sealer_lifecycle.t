# The sealer's life inside httpd: httpd refuses to start without a usable audit key
# (sealing is on by default, as HIPAA's audit controls want); with the database away the
# sealer only warns and retries; across a graceful restart and a stop its threads end
# promptly and sealing goes on in the new children. Each case runs its own httpd.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::AuditChain;
use DocPortal::Server qw(free_port start_httpd stop_httpd);
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);

my $params = $ENV{DOCPORTAL_DBDPARAMS} or die 'DOCPORTAL_DBDPARAMS not set';
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $jwt = "DocPortalJWTSecretFile $ENV{DOCPORTAL_JWT_SECRET_FILE}\nDocPortalRequireTLS Off";

sub write_file {
    my ($path, $text) = @_;
    my $old = umask 077;
    open my $f, '>', $path or die "$path: $!";
    print $f $text;
    close $f;
    umask $old;
}

sub refused {
    my ($name, $audit, $want, $what) = @_;
    my $srv = start_httpd(name => $name, dir => $dir, params => $params, audit => $audit,
                          extra => $jwt);
    my $st = $srv->{status};
    stop_httpd($srv);
    ok(defined $st && $st != 0, "$what: httpd refuses to start");
    like($srv->{log}, $want, "$what: the log says what to do");
}

# ---- startup refusals ---------------------------------------------------------------------------
refused('noauditkey', '', qr/DP03003: .*no DocPortalAuditKeyFile is configured: audit events are sealed .*openssl rand -hex 32/,
        'no audit key');
write_file("$dir/short.key", "too-short-a-key\n");
refused('shortauditkey', "DocPortalAuditKeyFile $dir/short.key",
        qr/the audit key from DocPortalAuditKeyFile \Q$dir\E\/short\.key is 15 bytes; at least 32 are needed/,
        'a 15-byte audit key');
refused('missingauditkey', "DocPortalAuditKeyFile $dir/nope.key",
        qr/DocPortalAuditKeyFile: cannot read .*nope\.key.*openssl rand -hex 32/s, 'a missing key file');
refused('badinterval', "DocPortalAuditKeyFile $ENV{DOCPORTAL_AUDIT_KEY_FILE}\nDocPortalAuditSealInterval 0",
        qr/DocPortalAuditSealInterval: '0' is not a whole number from 1 to 3600/, 'a zero interval');
refused('badsweep', "DocPortalAuditKeyFile $ENV{DOCPORTAL_AUDIT_KEY_FILE}\nDocPortalAuditSweepInterval 301",
        qr/DocPortalAuditSweepInterval: '301' is not a whole number from 1 to 300/,
        'a search of the whole window less often than every half of the window\'s ten minutes');

# ---- the database unreachable: warnings, not errors, and retries -----------------------------------
(my $down = $params) =~ s/port=\d+/port=@{[free_port()]}/;
my $srv = start_httpd(name => 'dbdown', dir => $dir, params => $down, extra => $jwt, secs => 10,
                      until => \&DocPortal::Server::listening);
ok(!defined $srv->{status}, 'database unreachable: httpd starts');
my $log = '';
for (1 .. 50) {
    sleep 0.2;
    $log = do { local (@ARGV, $/) = ($srv->{logfile}); <> } // '';
    last if $log =~ /DP09002/;
}
like($log, qr/\[docportal:warn\] .*DP09002: audit sealer: (?:no database connection|the database connection is not usable); retrying every 1 s/,
     'the sealer warns that it cannot reach the database');
unlike($log, qr/\[docportal:(?:error|crit|alert|emerg)\]/, 'and logs nothing of its own at error level');
my $t0 = time;
stop_httpd($srv);
ok(time - $t0 < 10, sprintf('httpd stops promptly while the sealer retries (%.1f s)', time - $t0));
my $warns = () = $srv->{log} =~ /DP09002/g;
ok($warns <= 2, "the warning is not repeated every second ($warns)");

# ---- a second server on the same database: graceful restart and stop -----------------------------------
$srv = start_httpd(name => 'graceful', dir => $dir, params => $params, extra => $jwt, secs => 15,
                   until => \&DocPortal::Server::listening);
ok(!defined $srv->{status}, 'a second server starts') or diag($srv->{log});
my ($st, $d) = api_at($srv->{port}, 'POST', '/api/auth/register',
                      json => { email => unique_email('t515'), password => 'a long passphrase 1',
                                name => 'Dr Graceful', userType => 'provider' });
is($st, 201, 'it writes an audit row');
ok(wait_sealed(20), 'its rows are sealed (by whichever sealer holds the lock)');

kill 'USR1', $srv->{pid};    # graceful restart: the old children finish, new ones start
sleep 2;
($st) = api_at($srv->{port}, 'GET', '/api/auth/me', token => $d->{token});
is($st, 200, 'after a graceful restart it answers');
ok(wait_sealed(20), 'and sealing goes on');
$t0 = time;
stop_httpd($srv);
ok(time - $t0 < 10, sprintf('it stops promptly (%.1f s)', time - $t0));
unlike($srv->{log}, qr/AH00045|AH00046|exit signal|\[docportal:(?:error|crit)\]/,
       'no child had to be killed, none crashed, no sealer error');
like($srv->{log}, qr/AH00493: SIGUSR1 received/, 'the graceful restart happened');

my ($rc, $out) = chain_verify();
is($rc, 0, 'the chain verifies, with rows sealed by both servers') or diag($out);

done_testing();
