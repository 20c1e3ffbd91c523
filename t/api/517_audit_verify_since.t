# dp-audit-verify --since-seq SEQ: the chain over the audit rows from SEQ on, on a database
# whose older part the whole-table check reports (here a back-dated row the sealer never
# chains, as the audit report tests leave on purpose). The range's own faults are still
# found: a row altered in it, a back-dated row in it, the seal its first link follows from
# gone. Each change is put back before the next.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::AuditChain;

sub traffic {
    my ($name) = @_;
    my ($tok) = provider_session(name => $name);
    api(GET => '/api/auth/me', token => $tok) for 1 .. 3;
}

sub backdated {
    my ($tag) = @_;
    return tamper_must(q{INSERT INTO audit_events (actor_type, action, outcome, request_id, at) }
                     . qq{VALUES ('anonymous', 't517.backdated', 'success', '$tag', now() - interval '1 hour') }
                     . q{RETURNING seq});
}

# sealed rows before the mark, so that the range does not start the chain
traffic('Dr Before');
ok(wait_sealed(20), 'setup: the rows so far are sealed') or diag('unsealed: ' . unsealed_count());
my $old = backdated('t517-old');
like($old, qr/^\d+$/, "setup: a back-dated row before the mark (seq $old)");
my $mark = psql(q{SELECT max(seq) FROM audit_events}) + 1;
traffic('Dr Since');
ok(wait_sealed(20, "e.seq >= $mark"), "setup: the rows from seq $mark on are sealed");
my $first = psql(qq{SELECT min(position) FROM audit_seals WHERE event_seq >= $mark});
ok($first > 1, "setup: their first seal is at position $first");

my ($rc, $out, $err) = chain_verify();
is($rc, 1, 'the whole table: dp-audit-verify exits 1') or diag("$out\n$err");
like($out, qr/BROKEN: unsealed row outside the sealing window: event seq $old\b/, '... naming the back-dated row');

($rc, $out, $err) = chain_verify('--since-seq', $mark);
is($rc, 0, "--since-seq $mark: exits 0") or diag("$out\n$err");
like($out, qr/chain intact: \d+ sealed rows \(positions $first\.\.\d+\), from the first seal of a row from seq $mark\b/,
     '... it says where the walk started');
like($out, qr/unsealed rows pending from seq $mark: \d+/, '... and counts only the range\'s unsealed rows');
like($out, qr/^dp-audit-verify: OK$/m, '... OK');

# a row altered inside the range
my $pos = psql(q{SELECT max(position) FROM audit_seals}) - 1;
my $seq = psql(qq{SELECT event_seq FROM audit_seals WHERE position = $pos});
tamper_must(qq{UPDATE audit_events SET action = action || '.changed' WHERE seq = $seq});
($rc, $out) = chain_verify('--since-seq', $mark);
is($rc, 1, 'a row altered in the range: exits 1');
like($out, qr/BROKEN: row altered at position $pos \(event seq $seq\b/, '... naming it');
tamper_must(qq{UPDATE audit_events SET action = left(action, -8) WHERE seq = $seq});
is((chain_verify('--since-seq', $mark))[0], 0, '... put back: exits 0');

# the seal the range's first link follows from (the sealer chains its row anew at the end of
# the chain, which is undone with it). Only the sealer's search of the whole window finds a
# row below the frontier; it runs every DocPortalAuditSweepInterval (10 s here) across all the
# children's sealers. The seal goes while the sealers' lock is held for longer than that, so the search
# is due when the lock is released, whichever child's turn it would have been.
my ($head) = chain_head();
my $anchor = psql(q{SELECT event_seq FROM audit_seals WHERE position = } . ($first - 1));
my $swept0 = psql(q{SELECT swept_at FROM audit_sweep});
tamper_must(q{CREATE TABLE t517_seal AS SELECT * FROM audit_seals WHERE position = } . ($first - 1)
          . q{; DELETE FROM audit_seals WHERE position = } . ($first - 1) . q{; SELECT pg_sleep(11)});
my $released = Time::HiRes::time();
($rc, $out) = chain_verify('--since-seq', $mark);
is($rc, 1, 'the seal before the range gone: exits 1');
like($out, qr/BROKEN: seal missing at position @{[$first - 1]}, before the first seal of a row from seq $mark\b/,
     '... naming the gap');
ok(wait_sealed(5, "e.seq = $anchor"), '... its row is chained anew within 5 s of the lock\'s release')
    or diag(sprintf('%.1f s after the release; last search %s', Time::HiRes::time() - $released,
                    scalar psql(q{SELECT swept_at FROM audit_sweep})));
is(psql(qq{SELECT swept_at > '$swept0' AND swept_at > now() - interval '10 seconds' FROM audit_sweep}), 't',
   '... by a search of the whole window, recorded');

# the next search: one for all the children, a period after the last
{
    my @seen = (scalar psql(q{SELECT extract(epoch FROM swept_at) FROM audit_sweep}));
    my $until = Time::HiRes::time() + 12.5;
    while (Time::HiRes::time() < $until) {
        my $at = psql(q{SELECT extract(epoch FROM swept_at) FROM audit_sweep});
        push @seen, $at if defined $at && length $at && $at ne $seen[-1];
        Time::HiRes::sleep(0.1);
    }
    is(scalar @seen, 2, 'within 12.5 s of a search of the whole window, one more') or diag("@seen");
    cmp_ok($seen[1] - $seen[0], '>=', 10, '... no sooner than 10 s after it') if @seen > 1;
}
tamper_must(qq{DELETE FROM audit_seals WHERE position > $head; DELETE FROM audit_checkpoints WHERE position > $head; }
          . q{INSERT INTO audit_seals SELECT * FROM t517_seal; DROP TABLE t517_seal});
is((chain_verify('--since-seq', $mark))[0], 0, '... put back: exits 0');

# a back-dated row inside the range
my $new = backdated('t517-new');
($rc, $out) = chain_verify('--since-seq', $mark);
is($rc, 1, 'a back-dated row in the range: exits 1');
like($out, qr/BROKEN: unsealed row outside the sealing window: event seq $new and 0 more\b/, '... naming it (and not the older one)');
($rc, $out) = chain_verify('--since-seq', $new + 1);
is($rc, 0, '... a range that begins after it: exits 0') or diag($out);
tamper_must(q{DELETE FROM audit_events WHERE action = 't517.backdated'});

for my $bad ('0', '-1', 'x', '12x', '') {
    my ($brc, undef, $berr) = chain_verify('--since-seq', $bad);
    is($brc, 2, "--since-seq '$bad': exit 2");
    like($berr, qr/--since-seq takes a seq from 1 on/, '... it says why');
}

done_testing();
