# Startup refusals: httpd must not come up with a configuration that cannot be trusted (no or
# a short JWT secret, a database older than the module's migrations), and must come up (and
# answer 503) when the database is merely unreachable. Each case starts its own httpd from a
# minimal configuration beside the suite's server.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);

use DocPortal::Server qw(free_port start_httpd stop_httpd http_get_raw);

my $params = $ENV{DOCPORTAL_DBDPARAMS} or die 'DOCPORTAL_DBDPARAMS not set';
my $dir    = tempdir(CLEANUP => 1);
chmod 0755, $dir;

sub psql {
    my ($sql) = @_;
    my $out = `$ENV{DP_PSQL} -At -c "$sql" 2>&1`;
    return ($? >> 8, $out);
}

# Start, and answer (exit status or undef if it kept running, log text, probe answer).
sub try_start {
    my (%o) = @_;
    my $srv = start_httpd(%o, dir => $dir);
    my $body = !defined $srv->{status} && $o{probe} ? $o{probe}->($srv->{port}) : undef;
    my $ran = defined $srv->{status} ? $srv->{status} : undef;
    stop_httpd($srv);
    return ($ran, $srv->{log}, $body);
}

my $secret_file = "$dir/secret";
{ open my $s, '>', $secret_file or die $!; print $s ('k' x 40), "\n"; close $s; chmod 0600, $secret_file }
my $short_file = "$dir/short";
{ open my $s, '>', $short_file or die $!; print $s "too-short\n"; close $s; chmod 0600, $short_file }

# 1. no JWT secret at all
my ($st, $log) = try_start(name => 'nosecret', params => $params, extra => '');
ok(defined $st && $st != 0, 'no JWT secret: httpd refuses to start');
like($log, qr/no JWT secret is configured: set DocPortalJWTSecretFile/, 'no JWT secret: the log says what to set');

# 2. a secret shorter than 32 bytes
($st, $log) = try_start(name => 'short', params => $params,
                          extra => "DocPortalJWTSecretFile $short_file");
ok(defined $st && $st != 0, 'short JWT secret: httpd refuses to start');
like($log, qr/is 9 bytes; at least 32 are needed/, 'short JWT secret: the log gives the length');

# 3. a secret file that does not exist
($st, $log) = try_start(name => 'missingfile', params => $params,
                          extra => "DocPortalJWTSecretFile $dir/nope");
ok(defined $st && $st != 0, 'missing secret file: httpd refuses to start');
like($log, qr/cannot read .*nope.*openssl rand -hex 32/s, 'missing secret file: the log says how to make one');

# 3b. no message key: messages could not be encrypted at rest
($st, $log) = try_start(name => 'nomsgkey', params => $params, keys => '',
                        extra => "DocPortalJWTSecretFile $secret_file");
ok(defined $st && $st != 0, 'no message key: httpd refuses to start');
like($log, qr/no DocPortalMessageKey is configured: messages are encrypted at rest/,
     'no message key: the log says what to add');

# 3c. two current keys, and a key of the wrong length
($st, $log) = try_start(name => 'twocurrent', params => $params,
                        keys => "DocPortalMessageKey a @{['ab' x 32]} current\n"
                              . "DocPortalMessageKey b @{['cd' x 32]} current",
                        extra => "DocPortalJWTSecretFile $secret_file");
ok(defined $st && $st != 0, 'two current message keys: httpd refuses to start');
like($log, qr/DocPortalMessageKey: .*current/i, 'two current keys: the log says so');
($st, $log) = try_start(name => 'shortkey', params => $params,
                        keys => "DocPortalMessageKey a @{['ab' x 31]} current",
                        extra => "DocPortalJWTSecretFile $secret_file");
ok(defined $st && $st != 0, 'a 31-byte message key: httpd refuses to start');
unlike($log, qr/abababab/, 'the key itself is not in the log');

# 3d. no mail transport: accounts are verified and passwords reset through mailed links
($st, $log) = try_start(name => 'nomail', params => $params, mail => '',
                        extra => "DocPortalJWTSecretFile $secret_file");
ok(defined $st && $st != 0, 'no mail transport: httpd refuses to start');
like($log, qr/no mail transport is configured: .*DocPortalSMTPURL.*DocPortalMailDir/,
     'no mail transport: the log names both ways');

# 3e. SMTP without the portal's address: links would otherwise follow a request's Host header
($st, $log) = try_start(name => 'nopublicurl', params => $params,
                        mail => 'DocPortalSMTPURL smtp://127.0.0.1:25',
                        extra => "DocPortalJWTSecretFile $secret_file");
ok(defined $st && $st != 0, 'SMTP without DocPortalPublicURL: httpd refuses to start');
like($log, qr/DocPortalPublicURL is needed with DocPortalSMTPURL/,
     'SMTP without DocPortalPublicURL: the log says what to set');

# 3f. SMTP URLs that would send in the clear or are not SMTP at all
for my $bad ('http://smtp.example.com', 'smtp://user:pw@smtp.example.com') {
    ($st, $log) = try_start(name => 'badsmtp', params => $params,
                            mail => "DocPortalSMTPURL $bad\nDocPortalPublicURL https://p.example",
                            extra => "DocPortalJWTSecretFile $secret_file");
    ok(defined $st && $st != 0, "DocPortalSMTPURL $bad: httpd refuses to start");
    like($log, qr/DocPortalSMTPURL: '\Q$bad\E'/, "DocPortalSMTPURL $bad: the log names it");
}

my $body;

# 4. a database at an older migration level
my $olddb = "docportal_old_$$";
my ($rc, $out) = psql("CREATE DATABASE $olddb");
is($rc, 0, 'created an empty database for the old-schema case') or diag $out;
($rc, $out) = psql_db($olddb, 'CREATE TABLE schema_migrations (version int primary key, name text not null, applied_at timestamptz not null default now()); GRANT SELECT ON schema_migrations TO docportal_app');
is($rc, 0, 'old database has an empty schema_migrations') or diag $out;
(my $oldparams = $params) =~ s/dbname=\S+/dbname=$olddb/;
($st, $log) = try_start(name => 'oldschema', params => $oldparams,
                          extra => "DocPortalJWTSecretFile $secret_file");
ok(defined $st && $st != 0, 'database at level 0: httpd refuses to start');
like($log, qr/database is at migration level 0 but this module needs level \d+: run 'make migrate/,
     'database at level 0: the log names both levels and the fix');
psql("DROP DATABASE $olddb");

# 4b. the database going away during the startup check (a shutdown, a failover): as if it had
# not been reachable, not a database without migrations. Here the check's own query ends its
# connection: schema_migrations is a view whose function terminates the backend reading it.
my $gonedb = "docportal_gone_$$";
($rc, $out) = psql("CREATE DATABASE $gonedb");
is($rc, 0, 'created a database whose schema check ends its own connection') or diag $out;
($rc, $out) = psql_db($gonedb, 'CREATE FUNCTION dp_test_gone() RETURNS int LANGUAGE sql AS '
    . "'SELECT pg_terminate_backend(pg_backend_pid())::int + pg_sleep(1)::text::int'; "
    . 'CREATE VIEW schema_migrations AS SELECT 1000 + dp_test_gone() AS version; '
    . 'GRANT SELECT ON schema_migrations TO docportal_app');
is($rc, 0, '... its schema_migrations is that view') or diag $out;
(my $goneparams = $params) =~ s/dbname=\S+/dbname=$gonedb/;
($st, $log, $body) = try_start(
    name   => 'dbgone', params => $goneparams, secs => 10,
    extra  => "DocPortalJWTSecretFile $secret_file\nDocPortalRequireTLS Off",
    until  => \&DocPortal::Server::listening,
    probe  => sub { http_get_raw($_[0], '/api/health') });
ok(!defined $st, 'database gone during the startup check: httpd still starts');
like($log, qr/DP02001: database connection lost during the startup check/,
     '... a warning says so') or diag($log);
unlike($log, qr/no migrations applied/, '... not the message of a database without migrations');
psql("DROP DATABASE $gonedb WITH (FORCE)");

# 5. the database unreachable at startup: httpd starts, the API answers 503, health says down
(my $downparams = $params) =~ s/port=\d+/port=@{[free_port()]}/;
($st, $log, $body) = try_start(
    name   => 'dbdown', params => $downparams, secs => 10,
    extra  => "DocPortalJWTSecretFile $secret_file\nDocPortalRequireTLS Off",
    until  => \&DocPortal::Server::listening,
    probe  => sub { http_get_raw($_[0], '/api/health') });
ok(!defined $st, 'database unreachable at startup: httpd still starts');
like($body // '', qr{^HTTP/1\.\d 503}, 'database unreachable: /api/health answers 503');
like($body // '', qr/"database":"down"/, 'database unreachable: health body says database down');
like($log, qr/DP02001: database not reachable at startup/, 'database unreachable: a warning is logged');

sub psql_db {
    my ($db, $sql) = @_;
    (my $cmd = $ENV{DP_PSQL}) =~ s/-d \S+/-d $db/;
    my $o = `$cmd -At -c "$sql" 2>&1`;
    return ($? >> 8, $o);
}

done_testing();
