# Reads of several requests in one round trip (modules/dp_pq.c, DocPortalReadPipelines): on
# the docportal_shared virtual host one such round trip is in flight per child, so reads that
# come together queue and go to PostgreSQL in one pipeline, each request's statements a
# transaction of their own (the test makes them come together: a psql session holds a table
# the session check reads, so the first round trip of each child waits and the rest queue).
#  - many callers at once, several endpoints: each answer is its own caller's data, each read
#    has its one success event by its caller, and reads did share round trips (DP02013);
#  - a revoked token among them is 401 with no data, the others are not affected;
#  - with every pooled connection cut beforehand, the reads still answer: a request whose
#    shared round trip was lost sends its statements itself on a connection made anew.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use POSIX ();
use Time::HiRes ();

my @who;    # [token, user]
for my $i (1 .. 6) {
    my ($tok, $u) = provider_session(name => "Dr Shared $i");
    push @who, [$tok, $u];
}
my ($ctok, $c) = client_session($who[0][1]{id}, name => 'Shared Client');
my ($st) = send_message($ctok, $who[0][1]{id}, 'shared hello');
is($st, 201, 'setup: the client wrote to its provider');
my ($rtok, $revoked) = provider_session(name => 'Dr Signed Out');
is((api(POST => '/api/auth/logout', token => $rtok))[0], 204, 'setup: one provider signed out');

# one request spec and what its answer must hold
sub me_of {
    my ($tok, $u) = @_;
    return [{method => 'GET', path => '/api/auth/me', token => $tok}, 'user.read', $u->{id},
            sub { my $d = shift; ref $d eq 'HASH' && ref $d->{user} eq 'HASH' && ($d->{user}{id} // '') eq $u->{id} }];
}
sub page_of {
    my ($tok, $u, $other, $text) = @_;
    return [{method => 'GET', path => "/api/messages?conversationWith=$other", token => $tok},
            'message.read', $u->{id},
            sub { my $d = shift; ref $d eq 'ARRAY' && grep { ref $_ eq 'HASH' && ($_->{message} // '') eq $text } @$d }];
}
sub list_of {
    my ($tok, $u) = @_;
    return [{method => 'GET', path => '/api/provider/appointments', token => $tok},
            'appointment.list', $u->{id}, sub { ref $_[0] eq 'ARRAY' }];
}

# race on the docportal_shared virtual host, over plain HTTP
sub shared_race {
    local $Apache::TestRequest::Module = 'docportal_shared';
    local $DocPortal::Http::TLS = 0;
    return race(@_);
}

# hold_reads($secs): a psql session holds revoked_tokens (which every session check reads)
# for $secs seconds, so that the first round trip of each child waits and the reads that come
# meanwhile queue behind it; returns once the lock is held, with the session's pid
sub hold_reads {
    my ($secs) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        psql("BEGIN; LOCK TABLE revoked_tokens IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($secs); COMMIT");
        POSIX::_exit(0);
    }
    for (1 .. 100) {
        return $pid if psql(q{SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation }
                          . q{WHERE c.relname = 'revoked_tokens' AND l.mode = 'AccessExclusiveLock' AND l.granted}) eq '1';
        Time::HiRes::sleep(0.05);
    }
    die "hold_reads: the lock was not seen\n";
}

# ---- many callers at once: their own data each, shared round trips ----------------------------
{
    my @items;
    for my $w (@who) {
        push @items, me_of(@$w), me_of(@$w), list_of(@$w);
    }
    push @items, page_of($who[0][0], $who[0][1], $c->{id}, 'shared hello'),
                 page_of($ctok, $c, $who[0][1]{id}, 'shared hello'), me_of($ctok, $c);
    my $refused = {method => 'GET', path => '/api/auth/me', token => $rtok};
    my (@bad, @badrefused, $shared);
    # the reads queue while the first round trip of their child waits on the lock; up to
    # three tries, should the requests land one per child
    for my $try (1 .. 3) {
        # first the children's pooled connections, opened and their statements prepared (a
        # connection opened under the lock would wait in its PREPARE instead of in the queue)
        shared_race(map { $_->[0] } @items);
        my $mark = error_log_mark();
        my $holder = hold_reads(1.5);
        my @res = shared_race((map { $_->[0] } @items), ($refused) x 3);
        waitpid $holder, 0;
        @bad = @badrefused = ();
        for my $i (0 .. $#items) {
            my ($spec, $action, $actor, $holds) = @{ $items[$i] };
            my $r = $res[$i];
            my @ev = $r->{request_id} ? audit_events_for($r->{request_id}) : ();
            push @bad, "$spec->{path} as $actor: status $r->{status}, data "
                     . ($holds->($r->{body}) ? 'its own' : 'missing or not its caller\'s')
                     . ', events ' . join(',', map { "$_->{action}/$_->{outcome}/" . ($_->{actor_id} // '') } @ev)
                unless $r->{status} == 200 && $holds->($r->{body}) && @ev == 1
                    && $ev[0]{action} eq $action && $ev[0]{outcome} eq 'success'
                    && ($ev[0]{actor_id} // '') eq $actor;
        }
        for my $r (@res[@items .. $#res]) {
            push @badrefused, "status $r->{status}, body " . ($r->{raw} // '')
                unless $r->{status} == 401 && !(ref $r->{body} eq 'HASH' && $r->{body}{user});
        }
        my $logged = error_log_since($mark, qr/DP02013:/);
        ($shared) = sort { $b <=> $a } ($logged =~ /DP02013: the reads of (\d+) requests in one round trip/g);
        last if $shared || @bad || @badrefused;
    }
    ok(!@bad, scalar(@items) . ' reads at once: each 200 with its own caller\'s data and one success event by its caller')
        or diag(join "\n", @bad);
    ok(!@badrefused, '... the revoked token among them: 401, no data') or diag(join "\n", @badrefused);
    ok(($shared // 0) >= 2, '... and reads shared a round trip (DP02013: up to ' . ($shared // 0) . ' requests in one)');
}

# ---- every pooled connection cut: the reads still answer -----------------------------------------
{
    my ($before) = api(GET => '/api/auth/me', token => $who[1][0]);
    is($before, 200, 'setup: a read before the cut');
    psql_must(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'docportal_app'});
    my @items = map { me_of(@{ $who[$_ % @who] }) } 0 .. 11;
    my @res = shared_race(map { $_->[0] } @items);
    my @bad;
    for my $i (0 .. $#items) {
        my $r = $res[$i];
        push @bad, "$items[$i][2]: status $r->{status}"
            unless $r->{status} == 200 && $items[$i][3]->($r->{body});
    }
    ok(!@bad, '12 reads at once after every pooled connection was cut: each 200 with its own data')
        or diag(join "\n", @bad);
}

done_testing();
