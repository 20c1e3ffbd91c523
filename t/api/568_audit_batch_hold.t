# The child's batch of read events waits, at most a millisecond, for the events of the reads
# under way in that child (modules/dp_audit.c, dp_audit_coming), so that reads answered
# together commit their events together. The wait is bounded: a read held up between its read
# and its event must not hold back the events of the child's other reads.
#  - a session whose last use is over a minute old records it (session_touch) before its read
#    is answered; a psql session holds that record's row, so three reads of the session stop
#    there, after their read, before their event;
#  - meanwhile reads of other callers answer 200, each with its data and its one success
#    event, while the three are still waiting;
#  - once the row is released, the three answer 200, each with its event.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use POSIX ();
use Time::HiRes ();

sub jti_of { my (undef, $c) = jwt_parts($_[0]); return $c->{jti} }

my ($htok, $held) = provider_session(name => 'Dr Held Back');
my @others;
for my $i (1 .. 3) {
    my ($tok, $u) = provider_session(name => "Dr Goes On $i");
    push @others, [$tok, $u];
}
my $jti = jti_of($htok);
is((api(GET => '/api/auth/me', token => $htok))[0], 200, 'setup: the held session reads');
# its last use two minutes back: its next read records it again, after its read
psql_must('INSERT INTO session_activity (jti, user_id, last_used_at, expires_at) VALUES ('
        . sql_quote($jti) . '::uuid, ' . sql_quote($held->{id}) . "::uuid, now() - interval '120 seconds', "
        . "now() + interval '1 day') ON CONFLICT (jti) DO UPDATE SET last_used_at = excluded.last_used_at");

# a psql session holds the record's row for $secs seconds; returns once it holds it
my $HOLD = 8;
my $holder = fork;
die "fork: $!" unless defined $holder;
if ($holder == 0) {
    psql('BEGIN; SELECT 1 FROM session_activity WHERE jti = ' . sql_quote($jti)
       . "::uuid FOR UPDATE; SELECT pg_sleep($HOLD); COMMIT");
    POSIX::_exit(0);
}
my $holding;
for (1 .. 100) {
    last if ($holding = psql(q{SELECT count(*) FROM pg_stat_activity WHERE state = 'active' }
                           . qq{AND query LIKE '%pg_sleep($HOLD)%' AND pid <> pg_backend_pid()}) eq '1');
    Time::HiRes::sleep(0.05);
}
ok($holding, 'setup: a psql session holds the session\'s record');

# three reads of the held session, each in a process of its own; each reports its answer
my @stuck;
for (1 .. 3) {
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $r;
        my ($status, $body, $res) = api(GET => '/api/auth/me', token => $htok);
        my $ok = ref $body eq 'HASH' && ref $body->{user} eq 'HASH' && ($body->{user}{id} // '') eq $held->{id};
        print {$w} join(' ', $status, $ok ? 'own' : 'not-own', $res->header('X-Request-Id') // '-');
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    push @stuck, [$pid, $r];
}
my $waiting = 0;
for (1 .. 100) {
    $waiting = psql(q{SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' }
                  . q{AND query LIKE '%session_activity%'});
    last if $waiting >= 3;
    Time::HiRes::sleep(0.05);
}
is($waiting, 3, 'the three reads of the held session wait on its record, after their read');

# the others' reads, all at once, while the three wait
my @items;
for my $o (@others) {
    my ($tok, $u) = @$o;
    push @items, [{method => 'GET', path => '/api/auth/me', token => $tok}, 'user.read', $u->{id},
                  sub { ref $_[0] eq 'HASH' && ref $_[0]{user} eq 'HASH' && ($_[0]{user}{id} // '') eq $u->{id} }],
                 [{method => 'GET', path => '/api/provider/appointments', token => $tok}, 'appointment.list', $u->{id},
                  sub { ref $_[0] eq 'ARRAY' }];
}
my @res = race(map { $_->[0] } @items);
my $still = grep { waitpid($_->[0], POSIX::WNOHANG()) == 0 } @stuck;
my @bad;
for my $i (0 .. $#items) {
    my ($spec, $action, $actor, $holds) = @{ $items[$i] };
    my $r = $res[$i];
    my @ev = $r->{request_id} ? audit_events_for($r->{request_id}) : ();
    push @bad, "$spec->{path} as $actor: status $r->{status}, " . scalar(@ev) . ' event(s)'
        unless $r->{status} == 200 && $holds->($r->{body}) && @ev == 1 && $ev[0]{action} eq $action
            && $ev[0]{outcome} eq 'success' && ($ev[0]{actor_id} // '') eq $actor;
}
ok(!@bad, scalar(@items) . ' reads of other callers: each 200 with its data and its one success event')
    or diag(join "\n", @bad);
is($still, 3, '... answered while the three held reads were still waiting for their event');

# the row released: the three answer, each with its event
waitpid $holder, 0;
my @late;
for my $s (@stuck) {
    my ($pid, $r) = @$s;
    local $/;
    my $line = <$r> // '';
    waitpid $pid, 0;
    my ($status, $own, $rid) = split / /, $line;
    my @ev = ($rid // '-') ne '-' ? audit_events_for($rid) : ();
    push @late, "status " . ($status // '?') . ", data " . ($own // '?') . ', ' . scalar(@ev) . ' event(s)'
        unless ($status // '') eq '200' && $own eq 'own' && @ev == 1 && $ev[0]{action} eq 'user.read'
            && $ev[0]{outcome} eq 'success';
}
ok(!@late, 'once the record is released, the three held reads answer 200 with their data and their event')
    or diag(join "\n", @late);

done_testing();
