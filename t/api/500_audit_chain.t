# Tamper evidence: the sealer chains every audit row with an HMAC keyed outside the
# database, and dp-audit-verify names the first broken link when a superuser changes the
# trail behind the database's back (session_replication_role = replica bypasses the
# append-only triggers). Each scenario changes one thing, checks the verifier's verdict, and
# puts the original back, so the next one starts from an intact chain.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::AuditChain;

sub verify_ok {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = chain_verify(@args);
    is($rc, 0, "$name: dp-audit-verify exits 0") or diag("stdout: $out\nstderr: $err");
    like($out, qr/^dp-audit-verify: OK$/m, "$name: it says OK");
    return $out;
}

sub verify_broken {
    my ($name, $want, @args) = @_;
    my ($rc, $out, $err) = chain_verify(@args);
    is($rc, 1, "$name: dp-audit-verify exits 1") or diag("stdout: $out\nstderr: $err");
    like($out, $want, "$name: it names the first broken link") or diag("stderr: $err");
    return $out;
}

# ---- traffic, sealing, an intact chain -----------------------------------------------------
my ($ptok, $p) = provider_session(name => 'Dr Chain');
my ($ctok, $c) = client_session($p->{id}, name => 'Chain Client');
for (1 .. 3) {
    api(GET => '/api/auth/me', token => $ptok);
    api(GET => '/api/client/dashboard', token => $ctok);
}
login('nobody.' . time . '@example.com', 'wrong-password-1');    # an anonymous failure row

ok(wait_sealed(20), 'the sealer chains every audit row within a few seconds')
    or diag('unsealed: ' . unsealed_count());
my ($head) = chain_head();
ok($head >= 8, "the chain has rows (head at position $head)");
my $cps = psql(q{SELECT count(*) FROM audit_checkpoints});
ok($cps >= 1, "signed checkpoints recorded ($cps)");
is(psql(q{SELECT count(*) FROM (SELECT position, lag(position) OVER (ORDER BY position) AS prev }
      . q{FROM audit_seals) x WHERE prev IS NOT NULL AND position <> prev + 1}), '0',
   'positions have no gaps');
is(psql(q{SELECT position FROM audit_seals ORDER BY position LIMIT 1}), '1', 'the chain starts at 1');

my $log = error_log_since(0);
like($log, qr/\[docportal:notice\] .*DP09001: audit checkpoint position=\d+ at=\d+ mac=[0-9a-f]{64} sig=[0-9a-f]{64}/,
     'each checkpoint is also in the error log at notice level');

my ($head_now) = chain_head();
my $out = verify_ok('intact chain', '--log', suite_error_log());
like($out, qr/chain intact: (\d+) sealed rows \(positions 1\.\.\1\)/, 'it counts the sealed rows');
like($out, qr/unsealed rows pending: \d+/, 'it counts the rows waiting for the sealer');
like($out, qr/last checkpoint position \d+ at /, 'it names the last checkpoint');
like($out, qr/error log checkpoints: \d+ match the chain; the newest, position $head_now .* matches/,
     'the error log\'s checkpoints match the chain');

# only the sealer's own message is a checkpoint: lines that merely carry its text (another
# message id, another module's message quoting it, the text without an id, a piece of an
# over-long line) are not read, so they can neither fake a checkpoint nor raise a false alarm
{
    my $copy = "$ENV{DP_ROOT}/t/logs/t500_log_forged";
    my $fake = sprintf 'audit checkpoint position=%d at=1700000000000000 mac=%s sig=%s rows=1',
                       $head_now, 'ab' x 32, 'cd' x 32;
    my $pre = '[Sun Dec 06 12:00:00.000000 2026]';
    open my $in, '<', suite_error_log() or die $!;
    open my $o, '>', $copy or die "$copy: $!";
    print $o $_ while <$in>;
    close $in;
    print $o "$pre [docportal:notice] [pid 1:tid 1] DP09002: $fake\n",
             "$pre [core:error] [pid 1:tid 1] [client 127.0.0.1:1] AH00128: File does not exist: /x] DP09001: $fake\n",
             "$pre [docportal:notice] [pid 1:tid 1] $fake\n",
             "$pre [docportal:warn] [pid 1:tid 1] DP01999: " . ('x' x 5000) . "\n",
             "$pre [docportal:warn] [pid 1:tid 1] DP01999: " . ('y' x (4095 - length("$pre [docportal:warn] [pid 1:tid 1] DP01999: "))) . "DP09001: $fake\n";
    close $o;
    my $out2 = verify_ok('forged checkpoint text in the error log', '--log', $copy);
    my ($n_real) = $out =~ /error log checkpoints: (\d+) match/;
    like($out2, qr/error log checkpoints: $n_real match the chain; the newest, position $head_now .* matches/,
         'the forged lines are not counted as checkpoints');
    unlink $copy;
}

# a wrong key: the very first link fails
{
    my $bad = "$ENV{DOCPORTAL_AUDIT_KEY_FILE}.wrong";
    open my $f, '>', $bad or die "$bad: $!";
    print $f 'f' x 64, "\n";
    close $f;
    my (undef, $o) = chain_verify('--key-file', $bad);    # the later --key-file wins
    like($o, qr/BROKEN: .*position 1\b/, 'another key: the chain fails at position 1');
    unlink $bad;
}

($head) = chain_head();
my $mid = int($head / 2);
my $mid_seal = seal_at($mid);
my $mid_row = event_row($mid_seal->{event_seq});
my $mid_where = "seq = $mid_seal->{event_seq}";

# ---- 1. a middle row updated -----------------------------------------------------------------
tamper_must(qq{UPDATE audit_events SET action = action || '.changed' WHERE $mid_where});
is(event_row($mid_seal->{event_seq})->{action}, "$mid_row->{action}.changed", 'setup: the middle row was changed');
verify_broken('middle row updated',
              qr/BROKEN: row altered at position $mid \(event seq $mid_seal->{event_seq}, id \Q$mid_row->{id}\E\)/);
tamper_must(qq{UPDATE audit_events SET action = '$mid_row->{action}' WHERE $mid_where});
verify_ok('middle row restored');

# every column counts: a change to the time alone is found too
tamper_must(qq{UPDATE audit_events SET at = at + interval '1 microsecond' WHERE $mid_where});
verify_broken('middle row\'s time moved by 1 us', qr/BROKEN: row altered at position $mid\b/);
tamper_must(qq{UPDATE audit_events SET at = at - interval '1 microsecond' WHERE $mid_where});
# NULL and '' are different values
my ($npos, $nseq) = split /\|/, psql(qq{SELECT s.position, e.seq FROM audit_seals s JOIN audit_events e ON e.seq = s.event_seq }
                                   . qq{WHERE e.resource_id IS NULL AND s.position < $head ORDER BY s.position LIMIT 1});
ok($nseq, "setup: a sealed row with a NULL resource_id (position $npos)");
tamper_must(qq{UPDATE audit_events SET resource_id = '' WHERE seq = $nseq});
verify_broken('a NULL made empty', qr/BROKEN: row altered at position $npos\b/);
tamper_must(qq{UPDATE audit_events SET resource_id = NULL WHERE seq = $nseq});
verify_ok('middle row restored again');

# ---- 2. a middle row deleted -----------------------------------------------------------------
tamper_must(qq{CREATE TABLE t500_saved AS SELECT * FROM audit_events WHERE $mid_where; }
          . qq{DELETE FROM audit_events WHERE $mid_where});
verify_broken('middle row deleted',
              qr/BROKEN: row missing at position $mid \(event seq $mid_seal->{event_seq}\)/);
tamper_must(q{INSERT INTO audit_events OVERRIDING SYSTEM VALUE SELECT * FROM t500_saved; DROP TABLE t500_saved});
verify_ok('middle row put back');

# ---- 3. a seal's MAC altered -------------------------------------------------------------------
tamper_must(qq{UPDATE audit_seals SET mac = sha256(mac) WHERE position = $mid});
verify_broken('a middle seal\'s MAC altered',
              qr/BROKEN: seal altered at position $mid \(event seq $mid_seal->{event_seq}\b/);
tamper_must(qq{UPDATE audit_seals SET mac = decode('$mid_seal->{mac}', 'hex') WHERE position = $mid});
verify_ok('seal MAC put back');

# ---- 4. the last sealed row deleted --------------------------------------------------------------
($head) = chain_head();
my $last = seal_at($head);
my $last_where = "seq = $last->{event_seq}";
tamper_must(qq{CREATE TABLE t500_saved AS SELECT * FROM audit_events WHERE $last_where; }
          . qq{DELETE FROM audit_events WHERE $last_where});
verify_broken('last sealed row deleted',
              qr/BROKEN: row missing at position $head \(event seq $last->{event_seq}\)/);
tamper_must(q{INSERT INTO audit_events OVERRIDING SYSTEM VALUE SELECT * FROM t500_saved; DROP TABLE t500_saved});

# the last sealed row altered: nothing follows it, the checkpoint at its position tells
my $last_ip = psql(qq{SELECT coalesce(ip, '<null>') FROM audit_events WHERE $last_where});
tamper_must(qq{UPDATE audit_events SET ip = '10.9.8.7' WHERE $last_where});
verify_broken('last sealed row updated', qr/BROKEN: row altered at position $head\b/);
tamper_must(qq{UPDATE audit_events SET ip = nullif('$last_ip', '<null>') WHERE $last_where});
verify_ok('last sealed row restored');

# ---- 5. the tail cut: last row, its seal and its checkpoint deleted ---------------------------------
my $tail_cps = psql(qq{SELECT count(*) FROM audit_checkpoints WHERE position >= $head});
ok($tail_cps >= 1, "setup: a checkpoint names the last position ($head)");
tamper_must(qq{CREATE TABLE t500_saved_e AS SELECT * FROM audit_events WHERE $last_where; }
          . qq{CREATE TABLE t500_saved_s AS SELECT * FROM audit_seals WHERE position = $head; }
          . qq{CREATE TABLE t500_saved_c AS SELECT * FROM audit_checkpoints WHERE position >= $head; }
          . qq{DELETE FROM audit_events WHERE $last_where; DELETE FROM audit_seals WHERE position = $head; }
          . qq{DELETE FROM audit_checkpoints WHERE position >= $head});
verify_ok('tail cut, database only: what the database holds is consistent');
verify_broken('tail cut, with the error log',
              qr/BROKEN: chain shorter than the checkpoint in .*error_log line \d+ .*: the chain ends at position @{[$head - 1]}, the log names position $head/,
              '--log', suite_error_log());

# the cut chain grows on: a new row gets the freed position with another MAC
my $mark = error_log_mark();
my (undef, undef, $res) = api(GET => '/api/auth/me', token => $ptok);
my $rid = $res->header('X-Request-Id');
ok(wait_sealed(20, "e.request_id = '$rid'"), 'setup: a new row sealed on the cut chain');
is(psql(qq{SELECT s.position FROM audit_seals s JOIN audit_events e ON e.seq = s.event_seq WHERE e.request_id = '$rid'}),
   $head, 'it took the freed position');
ok(error_log_since($mark, qr/DP09001: audit checkpoint position=$head /) =~ /position=$head /,
   'setup: its checkpoint is logged');
verify_broken('tail cut and sealed anew, with the error log',
              qr/BROKEN: two different checkpoints for position $head in the error log \(.*error_log line \d+ and .*error_log line \d+\)/,
              '--log', suite_error_log());
{
    # the log as an auditor kept it before the cut: the walk meets the difference
    my $copy = "$ENV{DP_ROOT}/t/logs/t500_log_before_cut";
    open my $in, '<', suite_error_log() or die $!;
    my $before = "";
    read($in, $before, $mark);
    close $in;
    open my $o, '>', $copy or die "$copy: $!";
    print $o $before;
    close $o;
    verify_broken('tail cut and sealed anew, with the error log from before',
                  qr/BROKEN: chain differs at position $head from the checkpoint in \Q$copy\E line \d+/,
                  '--log', $copy);
    unlink $copy;
}
# put the old tail back: the new row's seal and checkpoint go, the new row is sealed again
tamper_must(qq{DELETE FROM audit_checkpoints WHERE position >= $head; DELETE FROM audit_seals WHERE position >= $head; }
          . q{INSERT INTO audit_events OVERRIDING SYSTEM VALUE SELECT * FROM t500_saved_e; }
          . q{INSERT INTO audit_seals SELECT * FROM t500_saved_s; }
          . q{INSERT INTO audit_checkpoints OVERRIDING SYSTEM VALUE SELECT * FROM t500_saved_c; }
          . q{DROP TABLE t500_saved_e, t500_saved_s, t500_saved_c});
ok(wait_sealed(20), 'the new row is sealed again after the old tail');
is(psql(qq{SELECT s.position FROM audit_seals s JOIN audit_events e ON e.seq = s.event_seq WHERE e.request_id = '$rid'}),
   $head + 1, 'after the restored tail');

# ---- 6. a seal deleted (a gap) ---------------------------------------------------------------
# The sealer then sees the row as unsealed and chains it again at the end; the gap stays.
($head) = chain_head();
tamper_must(qq{CREATE TABLE t500_saved AS SELECT * FROM audit_seals WHERE position = $mid; }
          . qq{DELETE FROM audit_seals WHERE position = $mid});
ok(wait_sealed(20), 'setup: the sealer chained the row again');
is(psql(qq{SELECT position FROM audit_seals WHERE event_seq = $mid_seal->{event_seq}}), $head + 1,
   'at the end of the chain');
verify_broken('a middle seal deleted',
              qr/BROKEN: seal missing at position $mid: the chain goes from position @{[$mid - 1]} to @{[$mid + 1]}/);
tamper_must(qq{DELETE FROM audit_seals WHERE position > $head; DELETE FROM audit_checkpoints WHERE position > $head; }
          . q{INSERT INTO audit_seals SELECT * FROM t500_saved; DROP TABLE t500_saved});
verify_ok('seal put back (the database)');

# ---- 7. a forged checkpoint ----------------------------------------------------------------------
($head) = chain_head();
tamper_must(qq{INSERT INTO audit_checkpoints (position, mac, signature) }
          . qq{SELECT position, mac, sha256(mac) FROM audit_seals WHERE position = $head});
verify_broken('a forged checkpoint', qr/BROKEN: checkpoint id \d+ at position $head .*signature wrong/);
tamper_must(qq{DELETE FROM audit_checkpoints WHERE signature = (SELECT sha256(mac) FROM audit_seals WHERE position = $head)});

# ---- 8. a back-dated row added by hand never enters the chain, and that is reported -------------
tamper_must(q{INSERT INTO audit_events (actor_type, action, outcome, at) }
          . q{VALUES ('anonymous', 't500.backdated', 'success', now() - interval '1 hour')});
sleep 3;    # three sealer runs
is(psql(q{SELECT count(*) FROM audit_seals s JOIN audit_events e ON e.seq = s.event_seq WHERE e.action = 't500.backdated'}),
   '0', 'the sealer leaves a row back-dated beyond its window alone');
verify_broken('a back-dated row', qr/BROKEN: unsealed row outside the sealing window: event seq \d+/);
tamper_must(q{DELETE FROM audit_events WHERE action = 't500.backdated'});

verify_ok('everything put back in the database');
# the sealer's error log lines outlive the repair: the cut chain sealed anew stays visible
verify_broken('everything put back, but the error log remembers',
              qr/BROKEN: two different checkpoints for position \d+ in the error log/,
              '--log', suite_error_log());

# the verifier's own errors: exit 2, never a verdict
my ($rc2, $o2, $e2) = chain_verify('--key-file', '/nonexistent/audit.key');
is($rc2, 2, 'an unreadable key file: exit 2');
like($e2, qr/cannot read the key file/, 'and it says why');

done_testing();
