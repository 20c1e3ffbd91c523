# Helpers for the audit chain tests (tamper evidence: t/api/500-519): waiting for the
# sealer, running dp-audit-verify, and changing the audit tables behind the database's back
# the way a superuser could.
package DocPortal::AuditChain;
use strict;
use warnings;

use Exporter 'import';
use IPC::Open3 qw(open3);
use Time::HiRes ();
use DocPortal::Test qw(psql psql_app owner_url);

our @EXPORT = qw(
    SEAL_LOCK chain_verify wait_sealed unsealed_count tamper tamper_must chain_head
    seal_at event_row suite_error_log hold_audit_row
);

# The advisory lock key every sealer takes for a batch (sql/statements.sql audit_seal_lock).
# Tampering takes it too, so that a change never lands in the middle of a batch.
use constant SEAL_LOCK => 1146110293;

# chain_verify(@args) -> (exit status, stdout, stderr): build/out/dp-audit-verify with the
# suite's key (--key-file) and the owner's database URI, plus @args (e.g. --log FILE).
sub chain_verify {
    my (@args) = @_;
    my $tool = ($ENV{DP_TOOLS} // ($ENV{DP_ROOT} // '.') . '/build/out') . '/dp-audit-verify';
    local $ENV{DATABASE_URL} = owner_url();
    require File::Temp;
    my $errfh = File::Temp->new;
    open my $null, '<', '/dev/null' or die "/dev/null: $!";
    my $pid = open3('<&' . fileno($null), my $out, '>&' . fileno($errfh), $tool,
                    '--key-file', $ENV{DOCPORTAL_AUDIT_KEY_FILE}, @args);
    my $stdout = do { local $/; <$out> } // '';
    waitpid $pid, 0;
    my $rc = $? >> 8;
    my $stderr = do { local (@ARGV, $/) = ($errfh->filename); <> } // '';
    return ($rc, $stdout, $stderr);
}

sub unsealed_count {
    return scalar psql(q{SELECT count(*) FROM audit_events e WHERE NOT EXISTS }
                     . q{(SELECT 1 FROM audit_seals s WHERE s.event_seq = e.seq)});
}

# wait_sealed($secs, $where): polls until no audit row (matching the SQL condition $where on
# audit_events e, if given) is without a seal. 1 when that happened in time.
sub wait_sealed {
    my ($secs, $where) = @_;
    my $cond = defined $where ? "AND ($where)" : '';
    my $deadline = Time::HiRes::time() + ($secs // 20);
    while (Time::HiRes::time() < $deadline) {
        my $n = psql(qq{SELECT count(*) FROM audit_events e WHERE NOT EXISTS }
                   . qq{(SELECT 1 FROM audit_seals s WHERE s.event_seq = e.seq) $cond});
        return 1 if defined $n && $n eq '0';
        Time::HiRes::sleep(0.2);
    }
    return 0;
}

# tamper($sql) -> (stdout, exit status, stderr): $sql as the superuser in one transaction
# that holds the sealers' lock and bypasses the append-only triggers (replica role). The lock
# is taken in a DO block: a query that only calls it (and returns no row) can be planned
# without calling it at all.
sub tamper {
    my ($sql) = @_;
    return psql('BEGIN; DO $$BEGIN PERFORM pg_advisory_xact_lock(' . SEAL_LOCK . '); END$$; '
              . "SET LOCAL session_replication_role = replica; $sql; COMMIT;");
}

sub tamper_must {
    my ($sql) = @_;
    my ($out, $rc, $err) = tamper($sql);
    die "tamper failed: $err\n$sql\n" if $rc;
    return $out;
}

# chain_head() -> (position, event_seq) of the last seal, or (0, undef)
sub chain_head {
    my $out = psql(q{SELECT position, event_seq FROM audit_seals ORDER BY position DESC LIMIT 1});
    return (0, undef) unless length $out;
    return split /\|/, $out;
}

# seal_at($position) -> hashref {position, event_seq, mac} (mac as hex), or undef
sub seal_at {
    my ($pos) = @_;
    my $out = psql(qq{SELECT position, event_seq, encode(mac, 'hex') FROM audit_seals }
                 . qq{WHERE position = $pos});
    return undef unless length $out;
    my %s;
    @s{qw(position event_seq mac)} = split /\|/, $out;
    return \%s;
}

# event_row($seq) -> hashref {seq, id, action, outcome} of audit_events, or undef
sub event_row {
    my ($seq) = @_;
    my $out = psql(qq{SELECT seq, id, action, outcome FROM audit_events WHERE seq = $seq});
    return undef unless length $out;
    my %r;
    @r{qw(seq id action outcome)} = split /\|/, $out;
    return \%r;
}

# hold_audit_row($tag, $secs) -> (pid, 1 when the row is in): a session of the app role
# inserts an audit row (action "$tag.late", request_id "$tag-held"), taking its seq now, and
# holds its transaction open for $secs seconds before it commits; returns once the insert is
# done and the session sleeps inside the transaction. waitpid the pid for the commit.
sub hold_audit_row {
    my ($tag, $secs) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my @cmd = (split(' ', $ENV{DP_PSQL_APP}), '-X', '-q', '-c',
                   q{BEGIN; INSERT INTO audit_events (actor_type, action, outcome, request_id) }
                 . qq{VALUES ('anonymous', '$tag.late', 'success', '$tag-held'); }
                 . qq{SELECT pg_sleep($secs); COMMIT;});
        open STDOUT, '>', '/dev/null';
        exec @cmd;
        exit 127;
    }
    my $sleeping = 0;
    for (1 .. 100) {
        $sleeping = psql(q{SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' }
                       . qq{AND query LIKE '%$tag-held%'});
        last if $sleeping;
        Time::HiRes::sleep(0.05);
    }
    return ($pid, $sleeping ? 1 : 0);
}

sub suite_error_log {
    require File::Spec;
    return File::Spec->catfile(Apache::Test::vars('t_logs'), 'error_log');
}

1;
