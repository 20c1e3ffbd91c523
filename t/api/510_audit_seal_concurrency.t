# The sealer keeps up without making requests wait: concurrent requests all get
# their audit rows chained, one sealer works at a time (no position twice, no gap), and a
# row whose transaction commits after later rows were sealed (rows commit out of seq order)
# is still chained, at a later position, and the chain verifies.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::AuditChain;
use Time::HiRes qw(time sleep);

my $mark = error_log_mark();
my ($ptok, $p) = provider_session(name => 'Dr Concurrent');

# ---- concurrent requests ---------------------------------------------------------------------
my @specs = map { { method => 'GET', path => '/api/auth/me', token => $ptok } } 1 .. 40;
my $t0 = time;
my @res = race(@specs);
my $took = time - $t0;
is(scalar(grep { $_->{status} == 200 } @res), 40, '40 concurrent audited requests answered 200');
ok($took < 20, sprintf('they did not wait on the sealer (%.1f s)', $took));
my @rids = map { $_->{request_id} // '' } @res;
my $in = join ',', map { sql_quote($_) } @rids;
ok(wait_sealed(20, "e.request_id IN ($in)"), 'every one of their audit rows is sealed')
    or diag('unsealed: ' . unsealed_count());
is(psql(qq{SELECT count(*) FROM audit_seals s JOIN audit_events e ON e.seq = s.event_seq WHERE e.request_id IN ($in)}),
   40, 'one seal each');
my ($head) = chain_head();
is(psql(q{SELECT count(*) FROM audit_seals}), $head, 'positions 1..head, none twice, no gap');

# ---- a row that commits late -------------------------------------------------------------------
# A session of the app role inserts an audit row (taking its seq now) and holds the
# transaction open while later rows are written and sealed; then it commits.
my ($held_pid, $sleeping) = hold_audit_row('t510', 8);
ok($sleeping, 'setup: the late row is inserted and its transaction is open');

my (undef, undef, $r1) = api(GET => '/api/auth/me', token => $ptok);
my (undef, undef, $r2) = api(GET => '/api/provider/dashboard', token => $ptok);
my $later = join ',', map { sql_quote($_->header('X-Request-Id')) } $r1, $r2;
ok(wait_sealed(20, "e.request_id IN ($later)"), 'rows written after it are sealed meanwhile');
is(psql(q{SELECT count(*) FROM audit_events WHERE request_id = 't510-held'}), '0',
   'the late row is not visible yet');
my ($rc0, $v0) = chain_verify();
is($rc0, 0, 'the chain verifies while a row is still in flight') or diag($v0);

waitpid $held_pid, 0;
is($? >> 8, 0, 'setup: the late transaction committed');
ok(wait_sealed(20, q{e.request_id = 't510-held'}), 'the late row gets sealed after it commits');
my ($late_seq, $late_pos) = split /\|/, psql(q{SELECT e.seq, s.position FROM audit_events e JOIN audit_seals s }
                                          . q{ON s.event_seq = e.seq WHERE e.request_id = 't510-held'});
my ($max_seq, $max_pos) = split /\|/, psql(qq{SELECT max(e.seq), max(s.position) FROM audit_events e JOIN audit_seals s }
                                        . qq{ON s.event_seq = e.seq WHERE e.request_id IN ($later)});
ok($late_seq < $max_seq, "its seq ($late_seq) is lower than that of rows written after it ($max_seq)");
ok($late_pos > $max_pos, "its position ($late_pos) comes after theirs ($max_pos): chain order is commit order");

# the whole chain, and the checkpoints the sealer logged during this test
my $since = error_log_since($mark);
my $copy = "$ENV{DP_ROOT}/t/logs/t510_checkpoints";
open my $o, '>', $copy or die "$copy: $!";
print $o grep { /DP09001: audit checkpoint/ } split /^/, $since;
close $o;
ok(-s $copy, 'the sealer logged checkpoints during the test');
my ($rc, $out, $err) = chain_verify('--log', $copy);
is($rc, 0, 'the chain verifies, with this test\'s logged checkpoints') or diag("$out\n$err");
like($out, qr/error log checkpoints: \d+ match the chain/, 'the logged checkpoints match');
unlink $copy;

# no request logged an error meanwhile, and the sealer had nothing to warn about
unlike($since, qr/DP09002/, 'no sealer warning');

done_testing();
