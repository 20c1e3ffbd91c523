# Who may message whom, read which conversation and mark what read: messages pass only between
# a client and that client's provider; someone of the same practice who is not the counterpart
# is a 403, anyone of another practice a 404 (indistinguishable from an unknown id). Then the
# audit trail: one event per send, conversation read and mark-read, denied attempts included.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my $IP_RE = qr/^(?:127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/;

# audit_one($res, {field => want...}, $name): exactly one audit row for the response's
# X-Request-Id, matching (want '' for NULL).
sub audit_one {
    my ($res, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $rid = $res->header('X-Request-Id');
    my @rows = audit_events_for($rid);
    my @p;
    push @p, scalar(@rows) . " audit rows for request_id '" . ($rid // 'undef') . "', expected 1" if @rows != 1;
    if (@rows) {
        my $r = $rows[0];
        for my $k (sort keys %$want) {
            push @p, "$k is '$r->{$k}', expected '$want->{$k}'" unless $r->{$k} eq $want->{$k};
        }
        push @p, "ip '$r->{ip}' is not loopback" unless $r->{ip} =~ $IP_RE;
    }
    ok(!@p, $name) or diag(join("\n", @p) . "\nrequest: " . $res->request->method . ' ' . $res->request->uri
                          . ' -> ' . $res->code . "\nrows: "
                          . join("\n", map { my $r = $_; join ' ', map { "$_=$r->{$_}" } sort keys %$r } @rows));
}

sub count_rows { return scalar psql('SELECT count(*) FROM messages') }
sub unread_of { return scalar psql(q{SELECT is_read FROM messages WHERE id = } . sql_quote($_[0]) . '::uuid') }

# practice A: provider, two clients; practice B: provider, one client; a client of no practice
my ($patok, $pa) = provider_session(name => 'Dr Practice A');
my ($a1tok, $a1) = client_session($pa->{id}, name => 'A One');
my ($a2tok, $a2) = client_session($pa->{id}, name => 'A Two');
my ($pbtok, $pb) = provider_session(name => 'Dr Practice B');
my ($b1tok, $b1) = client_session($pb->{id}, name => 'B One');
my ($lonetok, $lone) = client_session(undef, name => 'No Provider');

# ---- sending ------------------------------------------------------------------------------------
my ($st, $m_a1, $res) = send_message($a1tok, $pa->{id}, 'from A1 to its provider');
is($st, 201, 'client -> its provider: 201');
audit_one($res, { action => 'message.create', outcome => 'success', actor_id => $a1->{id}, actor_type => 'client',
                  resource_type => 'message', resource_id => $m_a1->{id}, client_id => $a1->{id} },
          'send: message.create success, the message and the client recorded');
($st, my $m_pa, $res) = send_message($patok, $a1->{id}, 'from the provider to A1');
is($st, 201, 'provider -> its client: 201');
audit_one($res, { action => 'message.create', outcome => 'success', actor_id => $pa->{id}, actor_type => 'provider',
                  resource_type => 'message', resource_id => $m_pa->{id}, client_id => $a1->{id} },
          'provider send: message.create success with the client of the pair');
my (undef, $m_b) = send_message($b1tok, $pb->{id}, 'a message in practice B');

my $rows_before = count_rows();
my (undef, undef, $unknown404) = send_message($a1tok, uuid_v4(), 'to nobody');
my $unknown_body = error_is($unknown404, 404, 'not_found', undef, 'to an unknown id: 404');

sub refused {
    my ($tok, $to, $status, $code, $name, $actor) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, $d, $r) = send_message($tok, $to, "should not be stored: $name");
    error_is($r, $status, $code, undef, $name);
    audit_one($r, { action => 'message.create', outcome => 'denied', actor_id => $actor, resource_type => 'message' },
              "$name: audited as denied");
    return $d;
}
my $d = refused($a1tok, $pb->{id}, 404, 'not_found', 'client -> another practice\'s provider: 404', $a1->{id});
is_deeply([@{$d}{qw(code detail)}], [@{$unknown_body}{qw(code detail)}],
          'the 404 for another practice says exactly what the 404 for an unknown id says');
refused($a1tok, $b1->{id}, 404, 'not_found', 'client -> another practice\'s client: 404', $a1->{id});
refused($a1tok, $a2->{id}, 403, 'forbidden', 'client -> another client of the same provider: 403', $a1->{id});
refused($patok, $b1->{id}, 404, 'not_found', 'provider -> another provider\'s client: 404', $pa->{id});
# Providers are separate practices, so another provider is "a user of another practice": 404.
refused($patok, $pb->{id}, 404, 'not_found', 'provider -> another provider (another practice): 404', $pa->{id});
refused($lonetok, $pa->{id}, 404, 'not_found', 'a client without a provider -> a provider: 404', $lone->{id});
(undef, undef, $res) = send_message($a1tok, $a1->{id}, 'to myself');
error_is($res, [403, 422], ['forbidden', 'validation_error'], undef, 'client -> itself: 403 or 422, never stored');
note('client -> itself answers ' . $res->code);
(undef, undef, $res) = send_message($patok, $pa->{id}, 'to myself');
error_is($res, [403, 422], ['forbidden', 'validation_error'], undef, 'provider -> itself: 403 or 422');
note('provider -> itself answers ' . $res->code);
is(count_rows(), $rows_before, 'no refused message was stored');

# ---- reading conversations -------------------------------------------------------------------------
($st, my $conv, $res) = conversation($a1tok, $pa->{id});
is($st, 200, 'A1 reads its conversation');
is_deeply([map { $_->{id} } @{ $conv || [] }], [$m_a1->{id}, $m_pa->{id}], 'both messages, oldest first');
audit_one($res, { action => 'message.read', outcome => 'success', actor_id => $a1->{id}, actor_type => 'client',
                  resource_type => 'message', resource_id => $pa->{id}, client_id => $a1->{id} },
          'reading a conversation: exactly one message.read event, resource = the counterpart, client = A1');
($st, $conv, $res) = conversation($patok, $a1->{id});
audit_one($res, { action => 'message.read', outcome => 'success', actor_id => $pa->{id}, actor_type => 'provider',
                  resource_id => $a1->{id}, client_id => $a1->{id} },
          'provider reading it: one message.read event, resource = the client, client = the client');
($st, $conv, $res) = conversation($patok, $a1->{id}, limit => 1, before => $m_pa->{id});
is_deeply([map { $_->{id} } @{ $conv || [] }], [$m_a1->{id}], 'a paged read');
audit_one($res, { action => 'message.read', outcome => 'success', resource_id => $a1->{id}, client_id => $a1->{id} },
          'a paged read: still exactly one event');

($st, $conv, $res) = conversation($a2tok, $pa->{id});
is($st, 200, 'A2 reads its (empty) conversation with the same provider');
is_deeply($conv, [], 'A2 does not see A1\'s messages');
($st, $conv) = conversation($patok, $a2->{id});
is_deeply($conv, [], 'nor does the provider\'s conversation with A2 hold them');

sub refused_read {
    my ($tok, $with, $status, $code, $name, $actor) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, $d, $r) = conversation($tok, $with);
    error_is($r, $status, $code, undef, $name);
    unlike($r->content, qr/from A1|from the provider|practice B/, "$name: no message text in the answer");
    audit_one($r, { action => 'message.read', outcome => 'denied', actor_id => $actor }, "$name: audited as denied");
}
refused_read($a1tok, $pb->{id}, 404, 'not_found', 'conversationWith another practice\'s provider: 404', $a1->{id});
refused_read($a1tok, $b1->{id}, 404, 'not_found', 'conversationWith another practice\'s client: 404', $a1->{id});
refused_read($pbtok, $a1->{id}, 404, 'not_found', 'provider B reading A1\'s conversation: 404', $pb->{id});
refused_read($b1tok, $pa->{id}, 404, 'not_found', 'B1 reading with provider A: 404', $b1->{id});
refused_read($patok, $pb->{id}, 404, 'not_found', 'provider with provider: 404', $pa->{id});
refused_read($a2tok, $a1->{id}, 403, 'forbidden', 'conversationWith another client of the same provider: 403', $a2->{id});
refused_read($a1tok, uuid_v4(), 404, 'not_found', 'conversationWith an unknown id: 404', $a1->{id});
(undef, undef, $res) = conversation($a1tok, 'not-a-uuid');
error_is($res, [404, 422], ['not_found', 'validation_error'], undef, 'conversationWith a malformed id: 404 or 422');

# `before` names a message of another practice's conversation: that row is outside the caller's
# scope and must not steer the page (docs/api.md: out of scope reads as does not exist).
($st, $conv, $res) = conversation($a1tok, $pa->{id}, before => $m_b->{id});
ok(($res->code == 200 && ref $conv eq 'ARRAY' && !@$conv) || $res->code == 404 || $res->code == 422,
   'before=<a message of another practice\'s conversation>: treated as unknown ([] or 404/422), not used as a cursor')
    or diag('got ' . $res->code . ' with ' . (ref $conv eq 'ARRAY' ? scalar(@$conv) . ' messages' : 'no array')
            . "\n" . dump_res($res));

# the list of conversations: only one's own
($st, my $list, $res) = message_list($a2tok);
is_deeply($list, [], 'A2\'s conversation list is empty');
audit_one($res, { action => 'message.list', outcome => 'success', actor_id => $a2->{id}, client_id => $a2->{id} },
          'listing conversations: one message.list event');
($st, $list) = message_list($pbtok);
is_deeply([map { $_->{counterpartId} } @{ $list || [] }], [$b1->{id}], 'provider B lists only its own client');
($st, $list) = message_list($patok);
is_deeply([map { $_->{counterpartId} } @{ $list || [] }], [$a1->{id}], 'provider A lists only A1');

# ---- marking read --------------------------------------------------------------------------------------
sub refused_mark {
    my ($tok, $id, $status, $code, $name, $actor) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, $d, $r) = mark_read($tok, $id);
    error_is($r, $status, $code, undef, $name);
    unlike($r->content, qr/from A1|from the provider/, "$name: no message text in the answer");
    audit_one($r, { action => 'message.update', outcome => 'denied', actor_id => $actor, resource_id => $id },
              "$name: audited as denied");
}
refused_mark($a1tok, $m_a1->{id}, 403, 'forbidden', 'the sender marking its own message read: 403', $a1->{id});
refused_mark($a2tok, $m_a1->{id}, 404, 'not_found', 'another client of the same provider marking it: 404', $a2->{id});
refused_mark($pbtok, $m_a1->{id}, 404, 'not_found', 'another practice\'s provider marking it: 404', $pb->{id});
refused_mark($b1tok, $m_a1->{id}, 404, 'not_found', 'another practice\'s client marking it: 404', $b1->{id});
refused_mark($patok, $m_b->{id}, 404, 'not_found', 'provider A marking a message of practice B: 404', $pa->{id});
refused_mark($a1tok, uuid_v4(), 404, 'not_found', 'an unknown message id: 404', $a1->{id});
(undef, undef, $res) = mark_read($a1tok, 'not-a-uuid');
error_is($res, 404, 'not_found', undef, 'a malformed message id: 404');
refused_mark($patok, $m_pa->{id}, 403, 'forbidden', 'the provider marking its own message read: 403', $pa->{id});
is(unread_of($m_a1->{id}), 'f', 'after all refusals the message is still unread');
is(unread_of($m_pa->{id}), 'f', 'and the provider\'s message too');

# the receiver: 200, read true, counts drop
my (undef, $dash) = api(GET => '/api/provider/dashboard', token => $patok);
my $pa_unread = $dash->{unreadMessages};
is($pa_unread, 1, 'provider A: 1 unread before');
($st, $list) = message_list($patok);
is($list->[0]{unreadCount}, 1, 'provider A list: unreadCount 1 before');
($st, my $m, $res) = mark_read($patok, $m_a1->{id});
success_is($res, 200, 'the receiver marks it read: 200');
ok($m && $m->{read} && JSON::PP::is_bool($m->{read}) && $m->{id} eq $m_a1->{id}
   && ($m->{message} // '') eq 'from A1 to its provider', 'read true, the message decrypted') or diag(dump_res($res));
audit_one($res, { action => 'message.update', outcome => 'success', actor_id => $pa->{id}, actor_type => 'provider',
                  resource_type => 'message', resource_id => $m_a1->{id}, client_id => $a1->{id} },
          'marking read: message.update success, client = the sender');
(undef, $dash) = api(GET => '/api/provider/dashboard', token => $patok);
is($dash->{unreadMessages}, 0, 'provider A dashboard: 0 unread after');
($st, $list) = message_list($patok);
is($list->[0]{unreadCount}, 0, 'provider A list: unreadCount 0 after');
(undef, $dash) = api(GET => '/api/client/dashboard', token => $a1tok);
is($dash->{unreadMessages}, 1, 'A1 dashboard: the provider\'s message still unread');
($st, $m, $res) = mark_read($a1tok, $m_pa->{id});
success_is($res, 200, 'A1 marks the provider\'s message read');
audit_one($res, { action => 'message.update', outcome => 'success', actor_id => $a1->{id}, actor_type => 'client',
                  resource_id => $m_pa->{id}, client_id => $a1->{id} }, 'client marking read: message.update, client = A1');
(undef, $dash) = api(GET => '/api/client/dashboard', token => $a1tok);
is($dash->{unreadMessages}, 0, 'A1 dashboard: 0 unread');
(undef, $dash) = api(GET => '/api/client/dashboard', token => $b1tok);
is($dash->{unreadMessages}, 0, 'B1 dashboard: nothing to it (its own message does not count)');
(undef, $dash) = api(GET => '/api/provider/dashboard', token => $pbtok);
is($dash->{unreadMessages}, 1, 'provider B dashboard: B1\'s message, untouched by practice A');

done_testing();
