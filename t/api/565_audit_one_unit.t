# A read or a message and its audit event go to PostgreSQL in one round trip and are
# one unit: when the event cannot be written, the request fails, nothing is answered from the
# read, and a message is not stored. When it can, there is exactly one event per request.
# The event is made to fail with a CHECK constraint on audit_events for one action at a time
# (added NOT VALID, so existing rows are not checked; dropped again right after).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my ($ptok, $p) = provider_session(name => 'Dr One Unit');
my ($ctok, $c) = client_session($p->{id}, name => 'One Unit Client');
my ($st) = send_message($ctok, $p->{id}, 'hello from the client');
is($st, 201, 'setup: the client wrote to its provider');
my (undef, $appt) = book($ctok, date => next_year() . '-03-02', time => '10:00');

my $constraint = 'dp_test_refuse_action';

sub refuse {
    my ($action) = @_;
    my (undef, $rc, $err) = psql(qq{ALTER TABLE audit_events ADD CONSTRAINT $constraint }
                               . qq{CHECK (action <> } . sql_quote($action) . q{) NOT VALID});
    die "could not add the constraint: $err\n" if $rc;
}

sub allow {
    my (undef, $rc, $err) = psql(qq{ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS $constraint});
    die "could not drop the constraint: $err\n" if $rc;
}
END { allow() }

sub message_count {
    return psql(q{SELECT count(*) FROM messages WHERE sender_id = } . sql_quote($p->{id}) . q{::uuid});
}

my @cases = (
    ['user.read', 'GET /api/auth/me', sub { api(GET => '/api/auth/me', token => $ptok) },
     sub { my $d = shift; ref $d eq 'HASH' && ref $d->{user} eq 'HASH' && $d->{user}{id} eq $p->{id} }],
    ['appointment.list', 'GET /api/provider/appointments',
     sub { api(GET => '/api/provider/appointments', token => $ptok) },
     sub { my $d = shift; ref $d eq 'ARRAY' && grep { ref $_ eq 'HASH' && ($_->{id} // '') eq ($appt->{id} // '') } @$d }],
    ['message.read', 'GET /api/messages?conversationWith=',
     sub { api(GET => "/api/messages?conversationWith=$c->{id}", token => $ptok) },
     sub { my $d = shift; ref $d eq 'ARRAY' && grep { ($_->{message} // '') eq 'hello from the client' } @$d }],
    ['message.create', 'POST /api/messages',
     sub { api(POST => '/api/messages', token => $ptok, json => { receiverId => $c->{id}, message => 'one unit' }) },
     sub { my $d = shift; ref $d eq 'HASH' && ($d->{message} // '') eq 'one unit' }],
);

ok(defined $appt && $appt->{id}, 'setup: an appointment was booked');

for my $case (@cases) {
    my ($action, $what, $call, $good) = @$case;
    my $before = message_count();

    # the event cannot be written: the request fails and gives nothing away
    my $mark = error_log_mark();
    refuse($action);
    my ($s, $d, $res) = $call->();
    allow();
    error_is($res, 500, 'internal_error', undef, "$what, its $action event refused: 500");
    ok(!$good->($d), "$what, its event refused: the answer holds no data");
    is(scalar(audit_events_for($res->header('X-Request-Id'))), 0, "$what, its event refused: no event row");
    is(message_count(), $before, "$what, its event refused: no message stored");
    my $logged = error_log_since($mark, qr/DP01002:/);
    like($logged, qr/DP02008: statement \S+ \+ audit_insert failed: .*\Q$constraint\E/,
         "$what, its event refused: DP02008 names the constraint in the error log");
    like($logged, qr/DP01201: audit event \Q$action\E could not be written/,
         "$what, its event refused: DP01201 in the error log");
    expect_error_lines($logged);    # provoked on purpose: 999_error_log.t accepts these lines

    # the event can be written: one success event, and the answer
    ($s, $d, $res) = $call->();
    ok($s == 200 || $s == 201, "$what: answered ($s)") or diag(dump_res($res));
    ok($good->($d), "$what: the answer holds the data");
    my @ev = audit_events_for($res->header('X-Request-Id'));
    is(scalar(@ev), 1, "$what: exactly one event");
    is(join(',', map { "$_->{action}/$_->{outcome}" } @ev), "$action/success", "$what: the $action success event");
    is(message_count(), $before + ($action eq 'message.create' ? 1 : 0),
       "$what: messages stored as expected");
}

done_testing();
