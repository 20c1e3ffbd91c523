# Where the sealer looks for unsealed rows (sql/009_audit_seal_frontier.sql): each
# checkpoint records a frontier, the highest sealed seq and the seqs below it that still had
# no seal (with when each was first found missing), and the next batch searches only above
# it and at those seqs instead of every row of the last ten minutes. A row that rolled back
# or commits late is kept open, not lost; an open seq is given up after ten minutes; a
# checkpoint without a frontier makes the next batch search the whole window and record a
# frontier again. The chain verifies throughout.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::AuditChain;
use File::Temp ();
use JSON::PP ();

my $t0 = psql(q{SELECT now()});
my ($ptok, $p) = provider_session(name => 'Dr Frontier');

# The head checkpoint's frontier: (seq_hi, [open seqs], [open since]); seq_hi undef when it
# has none.
sub frontier {
    my $out = psql(q{SELECT coalesce(k.seq_hi::text, 'none'), array_to_string(k.open_seqs, ','), }
                 . q{array_to_string(k.open_since, ',') FROM audit_checkpoints k }
                 . q{JOIN (SELECT position, mac FROM audit_seals ORDER BY position DESC LIMIT 1) h }
                 . q{ON k.position = h.position AND k.mac = h.mac ORDER BY k.id DESC LIMIT 1});
    my ($hi, $seqs, $since) = split /\|/, $out, -1;
    return (undef, [], []) if !defined $hi || $hi eq 'none';
    return ($hi, [grep { length } split /,/, $seqs // ''], [grep { length } split /,/, $since // '']);
}

# One audited request, and wait until its row and every row before it are sealed.
sub sealed_request {
    my (undef, undef, $res) = api(GET => '/api/auth/me', token => $ptok);
    my $rid = $res->header('X-Request-Id');
    return wait_sealed(20, 'e.request_id = ' . sql_quote($rid)) && wait_sealed(20);
}

sub app_psql_lines {
    my (@sql) = @_;
    my @cmd = (split(' ', $ENV{DP_PSQL_APP}), '-X', '-q', '-At', map { ('-c', $_) } @sql);
    open my $fh, '-|', @cmd or die "psql: $!";
    my @out = <$fh>;
    close $fh;
    chomp @out;
    return ($? >> 8, @out);
}

my $insert = q{INSERT INTO audit_events (actor_type, action, outcome, request_id) VALUES }
           . q{('anonymous', 't512.%s', 'success', 't512-%s') RETURNING seq};

# ---- traffic: every checkpoint records a frontier --------------------------------------------
api(GET => '/api/auth/me', token => $ptok) for 1 .. 5;
ok(sealed_request(), 'setup: traffic sealed') or diag('unsealed: ' . unsealed_count());
my ($hi, $open) = frontier();
ok(defined $hi, 'the head checkpoint records a frontier');
is($hi, psql(q{SELECT max(event_seq) FROM audit_seals}), 'seq_hi is the highest sealed seq');
is(psql(q{SELECT count(*) FROM audit_checkpoints WHERE seq_hi IS NULL AND created_at >= } . sql_quote($t0)),
   '0', 'no checkpoint of this test without a frontier');

# ---- a row that rolls back: its seq stays open, the rows after it are sealed -------------------
my ($rc, $gone) = app_psql_lines('BEGIN', sprintf($insert, 'rolled', 'rolled'), 'ROLLBACK');
is($rc, 0, 'setup: an audit insert rolled back');
like($gone // '', qr/^\d+$/, "setup: it took seq $gone");
ok(sealed_request(), 'a row written after it is sealed');
my ($hi2, $open2, $since2) = frontier();
ok($hi2 > $gone, "the frontier moved past it ($hi2)");
my %since = map { $open2->[$_] => $since2->[$_] } 0 .. $#$open2;
ok(exists $since{$gone}, 'the rolled-back seq is open in the frontier') or diag("open: @$open2");
my $now_us = psql(q{SELECT (extract(epoch FROM now()) * 1000000)::bigint});
ok(exists $since{$gone} && $now_us - $since{$gone} < 60e6 && $now_us >= $since{$gone},
   'with the time it was first found missing');
is(psql(qq{SELECT count(*) FROM audit_seals WHERE event_seq = $gone}), '0', 'no seal for it');

# ---- a row in flight while later rows are sealed: open, then sealed when it commits -------------
my ($held_pid, $sleeping) = hold_audit_row('t512', 5);
ok($sleeping, 'setup: the late row is inserted and its transaction is open');
ok(sealed_request(), 'a row written after it is sealed meanwhile');
my ($hi3, $open3) = frontier();
waitpid $held_pid, 0;
is($? >> 8, 0, 'setup: the late transaction committed');
ok(wait_sealed(20, q{e.request_id = 't512-held'}), 'the late row is sealed after it commits');
my $late = psql(q{SELECT seq FROM audit_events WHERE request_id = 't512-held'});
ok($late < $hi3, "its seq ($late) is below the frontier of the batch that sealed later rows ($hi3)");
ok((grep { $_ == $late } @$open3), 'and that frontier held it open') or diag("open: @$open3");
ok(sealed_request(), 'setup: one more batch');
my (undef, $open4) = frontier();
ok(!(grep { $_ == $late } @$open4), 'once sealed, it is no longer open');
ok((grep { $_ == $gone } @$open4), 'the rolled-back seq still is');

# ---- ten minutes later an open seq is given up --------------------------------------------------
# (the head checkpoint's times moved back by eleven minutes, behind the database's back)
tamper_must(q{UPDATE audit_checkpoints k SET open_since = (SELECT array_agg(x - 660000000 ORDER BY o) }
          . q{FROM unnest(k.open_since) WITH ORDINALITY AS u (x, o)) }
          . q{WHERE k.id = (SELECT max(id) FROM audit_checkpoints)});
ok(sealed_request(), 'a batch after the open seqs aged');
my (undef, $open5) = frontier();
ok(!(grep { $_ == $gone } @$open5), 'the rolled-back seq was given up') or diag("open: @$open5");

# ---- a checkpoint without a frontier: the whole window is searched, and a frontier recorded -------
tamper_must(q{UPDATE audit_checkpoints SET seq_hi = NULL, open_seqs = NULL, open_since = NULL }
          . q{WHERE id = (SELECT max(id) FROM audit_checkpoints)});
is((frontier())[0], undef, 'setup: the head checkpoint has no frontier');
ok(sealed_request(), 'rows are still sealed');
my ($hi6) = frontier();
is($hi6, psql(q{SELECT max(event_seq) FROM audit_seals}), 'and the new checkpoint records a frontier again');

# ---- a frontier that misses a row: the periodic whole-window search still seals it -------------
# A seal deleted below the frontier (as in 500's gap case) is not among the seqs a frontier
# search looks at; the sealer's periodic search of the whole window chains the row again.
my ($head, $head_seq) = chain_head();
my $victim = psql(qq{SELECT event_seq FROM audit_seals WHERE position = $head - 1});
tamper_must(qq{CREATE TABLE t512_saved AS SELECT * FROM audit_seals WHERE event_seq = $victim; }
          . qq{DELETE FROM audit_seals WHERE event_seq = $victim});
ok(wait_sealed(30, "e.seq = $victim"), 'a row whose seal went missing is chained again');
is(psql(qq{SELECT position > $head FROM audit_seals WHERE event_seq = $victim}), 't', 'at the end of the chain');
my ($vrc, $vout) = chain_verify();
is($vrc, 1, 'and the verifier reports the missing seal') or diag($vout);
like($vout, qr/seal missing at position @{[$head - 1]}/, 'at its old position');
# put it back as 500 does: the later seals and checkpoints go, the saved seal returns
my ($now_head) = chain_head();
tamper_must(qq{DELETE FROM audit_seals WHERE position > $head; DELETE FROM audit_checkpoints WHERE position > $head; }
          . q{INSERT INTO audit_seals SELECT * FROM t512_saved; DROP TABLE t512_saved});
ok(sealed_request(), 'sealing goes on after the repair');
my ($frc, $fout) = chain_verify();
is($frc, 0, 'the chain verifies') or diag($fout);

# ---- the search above the frontier reads one batch, however long the backlog ----------------
# The sealer's statement as sql/statements.sql has it, in a transaction with the settings its
# lock statement gives the sealer's own, over a backlog of 3,000 rows above the frontier
# (inserted in that transaction and rolled back: no sealer ever sees them; the table analyzed
# with them, so that it is not so small that reading it all is the planner's best plan).
# Asked for a batch of 100, it reads about 100 rows of audit_events, not the backlog: a batch
# costs the same however far behind the sealer is, and however many rows the last ten
# minutes hold.
{
    my $stmt = statement_sql('audit_unsealed_after');
    my $lock = statement_sql('audit_seal_lock');
    my $script = "BEGIN;\n$lock;\n"
        . "SELECT max(seq) AS frontier FROM audit_events \\gset\n"
        . "INSERT INTO audit_events (actor_type, action, outcome) "
        . "SELECT 'system', 'test.backlog', 'success' FROM generate_series(1, 3000);\n"
        . "ANALYZE audit_events;\n"
        . "PREPARE t512_after (bigint, int, bigint[], int) AS $stmt;\n"
        . "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE t512_after(:frontier, 100, '{}', 100);\n"
        . "EXECUTE t512_after(:frontier, 100, '{}', 100);\n"
        . "ROLLBACK;\n";
    my $out = psql_script($script);
    my ($json, $read) = rows_read($out, 'audit_events');
    ok($json, 'the plan of the search above the frontier') or diag($out);
    my @found = grep { /^\d+\|/ } split /\n/, $out;
    is(scalar(@found), 100, 'a batch of 100 unsealed rows is found');
    cmp_ok($read, '<=', 110, 'reading about one batch of audit_events rows, not the 3,000 of the backlog')
        or diag("rows of audit_events read: $read");
}

# ---- the search of the whole window reads the window's seals, not the whole trail ------------
# The whole-window search (audit_unsealed), with the sealer's settings, beside 20,000 seals
# of rows outside the window (seqs below every row's, as years of a trail are; inserted in the
# transaction and rolled back, the table analyzed with them): the seals it reads are at most
# one per row of the window, where a hash join (PostgreSQL's choice without the settings)
# reads every seal of the table.
{
    my $stmt = statement_sql('audit_unsealed');
    my $lock = statement_sql('audit_seal_lock');
    # one snapshot for the count and the search: a row committed between them is not a probe
    # more than the window holds
    my $script = "BEGIN ISOLATION LEVEL REPEATABLE READ;\n$lock;\n"
        . "SELECT count(*) AS window_rows FROM audit_events WHERE at >= audit_unsealed_from() \\gset\n"
        . "SELECT :window_rows AS window_rows;\n"
        . "INSERT INTO audit_seals (position, event_seq, mac) "
        . "SELECT 1000000000000 + g, -g, decode(repeat('00', 32), 'hex') FROM generate_series(1, 20000) g;\n"
        . "ANALYZE audit_seals;\n"
        . "PREPARE t512_sweep (int) AS $stmt;\n"
        . "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE t512_sweep(1000);\n"
        . "ROLLBACK;\n";
    my $out = psql_script($script);
    my ($json, $read) = rows_read($out, 'audit_seals');
    ok($json, 'the plan of the search of the whole window') or diag($out);
    my ($window) = $out =~ /^(\d+)$/m;
    cmp_ok($window // 0, '>', 0, 'the window holds rows');
    cmp_ok($read, '<=', $window // 0, 'it reads at most one seal per row of the window, not the 20,000 outside it')
        or diag("seals read: $read, rows in the window: " . ($window // 'none'));
}

# The JSON plan in psql's output (EXPLAIN (ANALYZE, FORMAT JSON)) and the rows its nodes read
# from a table (actual rows times loops): (plan found, rows).
sub rows_read {
    my ($out, $relation) = @_;
    my ($json) = $out =~ /^(\[\n.*?\n\])$/ms;
    my $read = 0;
    my $walk;
    $walk = sub {
        my ($n) = @_;
        $read += ($n->{'Actual Rows'} // 0) * ($n->{'Actual Loops'} // 1)
            if ($n->{'Relation Name'} // '') eq $relation;
        $walk->($_) for @{$n->{Plans} // []};
    };
    $walk->(JSON::PP::decode_json($json // '[{"Plan":{}}]')->[0]{Plan});
    return (defined $json, $read);
}

# A named statement of sql/statements.sql, its comments left out and its %s placeholders
# numbered as the module's statement loader numbers them.
sub statement_sql {
    my ($name) = @_;
    open my $fh, '<', "$FindBin::Bin/../../sql/statements.sql" or die "statements.sql: $!";
    local $/;
    my $all = <$fh>;
    my ($body) = $all =~ /^-- name: \Q$name\E\n(.*?)(?:\n\n|\n-- name: |\z)/ms or die "no statement $name";
    $body = join "\n", grep { !/^--/ } split /\n/, $body;
    my $i = 0;
    $body =~ s/%s/'$' . ++$i/ge;
    $body =~ s/;\s*\z//;
    return $body;
}

# A psql script on its standard input, as the superuser: its output.
sub psql_script {
    my ($script) = @_;
    my ($fh, $file) = File::Temp::tempfile('t512-XXXXXX', SUFFIX => '.sql', TMPDIR => 1, UNLINK => 1);
    print $fh $script;
    close $fh;
    my $out = `$ENV{DP_PSQL} -X -At -v ON_ERROR_STOP=1 -f '$file' 2>&1`;
    return $out;
}

done_testing();
