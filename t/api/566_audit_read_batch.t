# Reads whose events are committed in groups (modules/dp_audit.c) and whose session check
# comes in the read's own round trip (DP_ROUTE_FOLD_AUTH: GET /api/auth/me, the appointment
# lists, GET /api/messages):
#  - under concurrency every read's audit row is committed when its answer arrives, and
#    several reads share one transaction (their rows' xmin);
#  - an event PostgreSQL refuses fails its read: an error, no data, no row; in a batch with
#    other reads' events, those are written again one by one and their reads answer;
#  - a read that cannot see its batch commit within DocPortalAuditBatchWaitMs is 503 with no
#    data (a second server with a short wait, while a test session holds back audit inserts);
#  - a revoked token, an old session version and an idle session are 401 with no data on the
#    folded reads, also when the request would otherwise have been refused for its arguments
#    or its role.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Server qw(stop_httpd);
use POSIX ();
use Time::HiRes ();

my $PW = $DocPortal::Test::PASSWORD;

my ($ptok, $p) = provider_session(name => 'Dr Batch');
my ($ctok, $c) = client_session($p->{id}, name => 'Batch Client');
my ($st) = send_message($ctok, $p->{id}, 'batched hello');
is($st, 201, 'setup: the client wrote to its provider');
my (undef, $appt) = book($ctok, date => next_year() . '-03-03', time => '10:00');
ok(defined $appt && $appt->{id}, 'setup: an appointment was booked');

# the folded reads, each with a check that its answer holds the data
my %has = (
    me       => sub { my $d = shift; ref $d eq 'HASH' && ref $d->{user} eq 'HASH' && $d->{user}{id} },
    list     => sub { my $d = shift; ref $d eq 'ARRAY' && grep { ref $_ eq 'HASH' && $_->{id} } @$d },
    page     => sub { my $d = shift; ref $d eq 'ARRAY' && grep { ref $_ eq 'HASH' && ($_->{message} // '') eq 'batched hello' } @$d },
    latest   => sub { my $d = shift; ref $d eq 'ARRAY' && grep { ref $_ eq 'HASH' && $_->{counterpartId} } @$d },
);
sub reads {
    my ($pt, $ct, $client, $provider) = @_;
    return (
        ['provider GET /api/auth/me', $pt, '/api/auth/me', 'user.read', $has{me}],
        ['client GET /api/auth/me', $ct, '/api/auth/me', 'user.read', $has{me}],
        ['GET /api/provider/appointments', $pt, '/api/provider/appointments', 'appointment.list', $has{list}],
        ['GET /api/client/appointments', $ct, '/api/client/appointments', 'appointment.list', $has{list}],
        ['provider conversation page', $pt, "/api/messages?conversationWith=$client", 'message.read', $has{page}],
        ['client conversation page', $ct, "/api/messages?conversationWith=$provider", 'message.read', $has{page}],
        ['GET /api/messages (latest)', $ct, '/api/messages', 'message.list', $has{latest}],
    );
}
my @reads = reads($ptok, $ctok, $c->{id}, $p->{id});

# hold_audit($secs, $sleep): every INSERT into audit_events waits while a psql session holds
# an advisory lock for $secs seconds (none for 0), and then $sleep seconds more (a trigger
# for each statement); release_audit() ends it. The statements stay prepared and planned: a
# lock on the table itself would also stop a new connection from preparing them.
sub hold_audit {
    my ($secs, $sleep) = @_;
    psql_must(q{CREATE FUNCTION dp_test_hold_audit() RETURNS trigger LANGUAGE plpgsql AS $$ }
            . q{BEGIN PERFORM pg_advisory_lock_shared(4242); PERFORM pg_advisory_unlock_shared(4242); }
            . qq{PERFORM pg_sleep($sleep); RETURN NULL; END \$\$; }
            . q{CREATE TRIGGER dp_test_hold_audit BEFORE INSERT ON audit_events }
            . q{FOR EACH STATEMENT EXECUTE FUNCTION dp_test_hold_audit()});
    return 0 unless $secs;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        psql("SELECT pg_advisory_lock(4242), pg_sleep($secs)");
        POSIX::_exit(0);
    }
    my $held = 0;
    for (1 .. 100) {
        last if ($held = psql(q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' }
                            . q{AND objid = 4242 AND mode = 'ExclusiveLock' AND granted}) eq '1');
        Time::HiRes::sleep(0.05);
    }
    die "hold_audit: the advisory lock was not seen\n" unless $held;
    return $pid;
}
sub release_audit {
    my ($pid) = @_;
    waitpid $pid, 0 if $pid;
    psql(q{DROP TRIGGER IF EXISTS dp_test_hold_audit ON audit_events; DROP FUNCTION IF EXISTS dp_test_hold_audit()});
}
END { release_audit(0) }

# parallel($call, @items): $call->($item) in one process each, all released together; each
# returns a string, handed back in order
sub parallel {
    my ($call, @items) = @_;
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    my @kids;
    for my $it (@items) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            close $go_w;
            close $r;
            my $x;
            sysread $go_r, $x, 1;    # EOF: go
            print {$w} $call->($it);
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    close $go_r;
    close $go_w;
    my @out;
    for my $k (@kids) {
        my $fh = $k->[1];
        push @out, do { local $/; <$fh> } // '';
        close $fh;
        waitpid $k->[0], 0;
    }
    return @out;
}

sub rows_of_request {
    my ($rid) = @_;
    return scalar psql(q{SELECT count(*) FROM audit_events WHERE request_id = } . sql_quote($rid));
}

# first_read_held($port, $token) -> the pid of a process whose GET /api/auth/me (on that
# server, while hold_audit holds the lock) is the writer of a batch of read events now waiting
# on the lock; it exits 0 if the read answered 200 with its data and its one event row
sub first_read_held {
    my ($port, $tok) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my ($s1, $d1, $r1) = http_at($port, GET => '/api/auth/me', token => $tok);
        my $rid = $r1->{headers}{'x-request-id'} // '';
        POSIX::_exit(($s1 // 0) == 200 && $has{me}->($d1) && rows_of_request($rid) eq '1' ? 0 : 1);
    }
    my $waiting = 0;
    for (1 .. 100) {
        # a batch of read events (audit_insert_batch's unnest), not another writer of events
        last if ($waiting = psql(q{SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' }
                               . q{AND wait_event = 'advisory' AND query LIKE '%unnest(%'}) ne '0');
        Time::HiRes::sleep(0.05);
    }
    ok($waiting, 'setup: the first read\'s batch waits on the lock');
    return $pid;
}

# ---- 32 reads at once: each one's row is there when its answer arrives; fewer commits ----------
{
    my @items = map { $reads[$_ % @reads] } 0 .. 31;
    # each INSERT takes 300 ms more: the reads queue up behind each batch, and a batch commits
    # well after its events left the queue
    my $holder = hold_audit(0, 0.3);
    my @got = parallel(sub {
        my ($rd) = @_;
        my ($s, $d, $res) = api(GET => $rd->[2], token => $rd->[1]);
        my $arrived = Time::HiRes::time();
        my $rid = $res->header('X-Request-Id') // '';
        # at once, before anything else: is its event committed?
        my $n = rows_of_request($rid);
        return join '|', $s, $rid, $n, ($rd->[4]->($d) ? 1 : 0), $arrived;
    }, @items);
    release_audit($holder);
    my (@bad, @rids);
    for my $i (0 .. $#got) {
        my ($s, $rid, $n, $data, $arrived) = split /\|/, $got[$i];
        push @rids, $rid if $rid;
        # the row's time is taken after the 300 ms, just before its COMMIT: the answer
        # arrives after it (one clock, the machine's)
        my $at = $rid ? psql(q{SELECT extract(epoch FROM at) FROM audit_events WHERE request_id = } . sql_quote($rid)) : '';
        push @bad, "$items[$i][0]: status $s, $n rows at arrival, data $data, answer at $arrived, row at $at"
            unless ($s // '') eq '200' && ($n // '') eq '1' && $data && $at ne '' && $arrived > $at;
    }
    ok(!@bad, '32 concurrent reads: each answered 200 with its data, after its one audit row was committed')
        or diag(join "\n", @bad);
    my @wrong;
    for my $i (0 .. $#got) {
        my ($rid) = (split /\|/, $got[$i])[1];
        my @ev = audit_events_for($rid);
        push @wrong, "$items[$i][0]: " . join(',', map { "$_->{action}/$_->{outcome}/$_->{actor_id}" } @ev)
            unless @ev == 1 && $ev[0]{action} eq $items[$i][3] && $ev[0]{outcome} eq 'success'
                && $ev[0]{actor_id} eq ($items[$i][1] eq $ptok ? $p->{id} : $c->{id});
    }
    ok(!@wrong, '... each row is its read\'s success event, by its caller') or diag(join "\n", @wrong);
    my $xacts = psql(q{SELECT count(DISTINCT xmin::text) FROM audit_events WHERE request_id IN ('}
                   . join("','", @rids) . q{')});
    ok($xacts > 0 && $xacts < 32, "... written by fewer transactions than reads ($xacts for 32)");
}

# ---- one read after another: the row is committed before the answer ----------------------------
for my $rd (@reads) {
    my ($s, $d, $res) = api(GET => $rd->[2], token => $rd->[1]);
    is($s, 200, "$rd->[0]: 200");
    ok($rd->[4]->($d), "$rd->[0]: the answer holds the data");
    audit_single($res, { action => $rd->[3], outcome => 'success' }, "$rd->[0]: its one success event");
}

# ---- a batch PostgreSQL refuses: no answer from the read, no row ---------------------------------
{
    my ($btok, $b) = provider_session(name => 'Dr Refused Batch');
    my $constraint = 'dp_test_refuse_batch';
    psql_must(qq{ALTER TABLE audit_events ADD CONSTRAINT $constraint CHECK }
            . q{(actor_id IS DISTINCT FROM } . sql_quote($b->{id}) . q{::uuid OR action <> 'user.read') NOT VALID});
    my $mark = error_log_mark();
    my ($s, $d, $res) = api(GET => '/api/auth/me', token => $btok);
    psql_must(qq{ALTER TABLE audit_events DROP CONSTRAINT $constraint});
    error_is($res, 500, 'internal_error', undef, 'its event refused by PostgreSQL: 500');
    ok(!$has{me}->($d), '... the answer holds no data');
    is(rows_of_request($res->header('X-Request-Id')), 0, '... no event row');
    my $logged = error_log_since($mark, qr/DP01002:/);
    like($logged, qr/DP02008: statement user_by_id \+ audit_insert failed: .*\Q$constraint\E/,
         '... DP02008 names the read and the constraint');
    like($logged, qr/DP01201: audit event user\.read could not be written/, '... DP01201');
    expect_error_lines($logged);
    ($s, $d, $res) = api(GET => '/api/auth/me', token => $btok);
    is($s, 200, 'the constraint gone: 200');
    audit_single($res, { action => 'user.read', outcome => 'success' }, '... with its one event');
}

# ---- the session check folded into the read: 401 and no data ---------------------------------------
sub refused_everywhere {
    my ($what, $pt, $ct) = @_;
    for my $rd (reads($pt, $ct, $c->{id}, $p->{id}),
                ["$what: GET /api/provider/appointments?date=bad", $pt, '/api/provider/appointments?date=bad', 'appointment.list', $has{list}],
                ["$what: a client's token on GET /api/provider/appointments", $ct, '/api/provider/appointments', 'appointment.list', $has{list}]) {
        my ($s, $d, $res) = api(GET => $rd->[2], token => $rd->[1]);
        error_is($res, 401, 'unauthorized', undef, "$what: $rd->[0]: 401");
        ok(!$rd->[4]->($d), "$what: $rd->[0]: no data");
        is(join(',', map { "$_->{outcome}/$_->{actor_type}" } audit_events_for($res->header('X-Request-Id'))),
           'denied/anonymous', "$what: $rd->[0]: audited once as an anonymous refusal");
    }
}

{
    my (undef, $lp) = login($p->{email}, $PW);
    my (undef, $lc) = login($c->{email}, $PW);
    my ($pt, $ct) = ($lp->{token}, $lc->{token});
    is((api(GET => '/api/auth/me', token => $pt))[0], 200, 'setup: fresh sessions work');
    is((api(POST => '/api/auth/logout', token => $pt))[0], 204, 'setup: the provider signed out');
    is((api(POST => '/api/auth/logout', token => $ct))[0], 204, 'setup: the client signed out');
    refused_everywhere('revoked', $pt, $ct);
}

{
    my ($pt, $pu) = provider_session(name => 'Dr Changed Password');
    my ($ct, $cu) = client_session($pu->{id}, name => 'Changed Password Client');
    for my $t ([$pt, 'provider'], [$ct, 'client']) {
        my ($s) = api(POST => '/api/auth/change-password', token => $t->[0],
                      json => { currentPassword => $PW, newPassword => 'Another-password-42' });
        ok($s == 200 || $s == 204, "setup: the $t->[1] changed its password ($s)");
    }
    # the other session's version is old now: its token is refused
    my ($s, $d, $res) = api(GET => '/api/auth/me', token => $pt);
    error_is($res, 401, 'unauthorized', undef, 'password changed: provider GET /api/auth/me: 401');
    ok(!$has{me}->($d), '... no data');
    ($s, $d, $res) = api(GET => '/api/client/appointments', token => $ct);
    error_is($res, 401, 'unauthorized', undef, 'password changed: GET /api/client/appointments: 401');
    ($s, $d, $res) = api(GET => "/api/messages?conversationWith=$pu->{id}", token => $ct);
    error_is($res, 401, 'unauthorized', undef, 'password changed: the conversation page: 401');
    ($s, $d, $res) = api(GET => '/api/provider/appointments', token => $pt);
    error_is($res, 401, 'unauthorized', undef, 'password changed: GET /api/provider/appointments: 401');
}

# ---- a second server: idle sessions, and the batch's bounded wait -----------------------------------
my $srv = session_server('batch', "DocPortalIdleTimeout 60\nDocPortalAuditBatchWaitMs 200\nDocPortalAuditBatchMax 8");
SKIP: {
    skip 'second httpd did not start', 10 if defined $srv->{status};
    my $port = $srv->{port};
    my ($s, $d) = http_at($port, POST => '/api/auth/login', json => { email => $p->{email}, password => $PW });
    my $t = $d->{token} // '';
    my (undef, $claims) = jwt_parts($t);
    psql_must('INSERT INTO session_activity (jti, user_id, last_used_at, expires_at) VALUES ('
            . sql_quote($claims->{jti}) . '::uuid, ' . sql_quote($p->{id})
            . "::uuid, now() - interval '180 seconds', now() + interval '1 day')");
    for my $path ('/api/auth/me', '/api/provider/appointments', "/api/messages?conversationWith=$c->{id}") {
        my ($s401, $d401) = http_at($port, GET => $path, token => $t);
        is($s401, 401, "idle session: GET $path: 401");
        ok(ref $d401 eq 'HASH' && ($d401->{code} // '') eq 'unauthorized' && !exists $d401->{user},
           '... unauthorized, no data');
    }

    # the first read's batch waits on the lock until the three reads sent once it waits have
    # their answers: they queue behind it (one batch is written at a time) and give up after
    # 200 ms, their events never written
    my $holder = hold_audit(60, 0);
    my $first = first_read_held($port, $ptok);
    my @got = parallel(sub {
        my ($s1, $d1, $r1) = http_at($port, GET => '/api/auth/me', token => $ptok);
        my $rid = $r1->{headers}{'x-request-id'} // '';
        return join '|', $s1, (ref $d1 eq 'HASH' ? ($d1->{code} // '') : ''),
            ($has{me}->($d1) ? 1 : 0), $rid;
    }, 1 .. 3);
    psql(q{SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' }
       . q{AND objid = 4242 AND mode = 'ExclusiveLock' AND granted});
    release_audit($holder);
    waitpid $first, 0;
    is($?, 0, 'the read whose batch was held answered 200 once it committed, with its data and its event');
    my @bad = grep {
        my ($s1, $code, $data, $rid) = split /\|/, $_, -1;
        $s1 ne '503' || $code ne 'unavailable' || $data || rows_of_request($rid) ne '0'
    } @got;
    ok(!@bad, 'the three reads queued behind it: 503 unavailable, with no data and no event row')
        or diag(join "\n", @got);
    open my $lf, '<', $srv->{logfile};
    my $slog = do { local $/; <$lf> } // '';
    like($slog, qr/DP01203: the audit batch holding the event of user_by_id did not commit within 200 ms/,
         '... DP01203 in that server\'s error log');
}
stop_httpd($srv);

# ---- a refused event in a batch with others: its own read fails, the others answer -----------------
# On a server of one child: a first read's batch is held back (every INSERT into audit_events
# waits on a lock a psql session holds), so the next four reads queue behind it and go in one
# batch once it is released; one of the four is of a caller whose user.read events PostgreSQL
# refuses (a CHECK constraint). The batch is refused whole; each of its reads writes its event
# alone: the refused caller's read fails (500, no data, no row), the other three answer 200,
# each with its one event.
# (The server's reads wait up to 10 s for their batch, beyond the 3 s it is held.)
my $one = session_server('refuse', 'DocPortalAuditBatchWaitMs 10000');
END { psql(q{ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS dp_test_refuse_one}) }
SKIP: {
    skip 'second httpd did not start', 6 if defined $one->{status};
    my $port = $one->{port};
    my ($btok, $b) = provider_session(name => 'Dr Refused Among Others');
    my @others = map { (provider_session(name => "Dr Batched Beside $_"))[0] } 1 .. 3;
    # warm-up: five reads at once, so that each of the server's threads has its connection
    # and prepared statements before the timed part
    parallel(sub { http_at($port, GET => '/api/auth/me', token => $_[0]); '' }, $ptok, $btok, @others);
    my $constraint = 'dp_test_refuse_one';
    psql_must(qq{ALTER TABLE audit_events ADD CONSTRAINT $constraint CHECK }
            . q{(actor_id IS DISTINCT FROM } . sql_quote($b->{id}) . q{::uuid OR action <> 'user.read') NOT VALID});
    my $holder = hold_audit(3, 0);
    my $first = first_read_held($port, $ptok);
    my @got = parallel(sub {
        my ($tok) = @_;
        my ($s1, $d1, $r1) = http_at($port, GET => '/api/auth/me', token => $tok);
        return join '|', $s1 // '', (ref $d1 eq 'HASH' ? ($d1->{code} // '') : ''),
            ($has{me}->($d1) ? 1 : 0), $r1->{headers}{'x-request-id'} // '';
    }, $btok, @others);
    release_audit($holder);
    waitpid $first, 0;
    is($?, 0, 'the first read answered 200, with its data and its event');
    psql_must(qq{ALTER TABLE audit_events DROP CONSTRAINT $constraint});
    my ($bs, $bcode, $bdata, $brid) = split /\|/, $got[0], -1;
    is("$bs $bcode", '500 internal_error', 'the refused caller\'s read: 500 internal_error');
    ok(!$bdata && rows_of_request($brid) eq '0', '... no data, no event row');
    my @bad = grep {
        my ($s1, undef, $data, $rid) = split /\|/, $_, -1;
        $s1 ne '200' || !$data || rows_of_request($rid) ne '1'
    } @got[1 .. $#got];
    ok(!@bad, 'the three reads it shared a batch with: 200, each with its data and its one event')
        or diag(join "\n", @got);
    open my $lf, '<', $one->{logfile};
    my $olog = do { local $/; <$lf> } // '';
    like($olog, qr/DP01205: PostgreSQL refused a batch of [2-5] read events \(.*\Q$constraint\E.*\); each is written again on its own/,
         '... DP01205: their batch was refused, its events written again one by one');
}
stop_httpd($one);

done_testing();
