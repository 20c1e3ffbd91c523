# Messages at rest: a row changed behind the module's back (a flipped ciphertext, nonce or tag
# byte, a ciphertext moved to another row, another sender, an unknown key id) reads
# `"message": null, "decryptError": "tampered"` for that message only: the request still answers
# 200, the other messages read fine, nothing half-decrypted comes out, and the server logs a
# DP06001 warning naming the message (never its text). Every row is restored afterwards.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my ($ptok, $p) = provider_session(name => 'Dr Tamper');
my ($ctok, $c) = client_session($p->{id}, name => 'Tamper Client');
my ($otok, $op) = provider_session(name => 'Dr Elsewhere');
my ($octok, $oc) = client_session($op->{id});

my @TEXT = ('first from the client: insomnia again',
            'reply from the provider: noted, see you Thursday',
            'second from the client: thank you',
            'third from the client: one more question');
my @msg;
for my $i (0 .. $#TEXT) {
    my ($tok, $to) = $i == 1 ? ($ptok, $c->{id}) : ($ctok, $p->{id});
    my ($st, $d, $res) = send_message($tok, $to, $TEXT[$i]);
    $st == 201 or BAIL_OUT("setup: sending message $i answered $st\n" . dump_res($res));
    push @msg, $d;
}
my (undef, $foreign) = send_message($octok, $op->{id}, 'a message in another practice');
my %orig = map { $_->{id} => message_row($_->{id}) } @msg, $foreign;

sub sql_exec {
    my ($sql) = @_;
    my ($out, $rc, $err) = psql($sql);
    die "psql failed: $err\n$sql\n" if $rc;
    return $out;
}

sub restore_all {
    for my $r (values %orig) {
        sql_exec(q{UPDATE messages SET key_id = } . sql_quote($r->{key_id})
               . q{, nonce = decode(} . sql_quote($r->{nonce_hex}) . q{, 'hex'), ciphertext = decode(}
               . sql_quote($r->{ct_hex}) . q{, 'hex'), sender_id = } . sql_quote($r->{sender_id})
               . q{::uuid, receiver_id = } . sql_quote($r->{receiver_id}) . q{::uuid, sender_type = }
               . sql_quote($r->{sender_type}) . q{ WHERE id = } . sql_quote($r->{id}) . q{::uuid});
    }
}

# read_as($token, $with) -> (\%by_id, $res, \@list)
sub read_as {
    my ($token, $with) = @_;
    my (undef, $d, $res) = conversation($token, $with);
    my %by = map { $_->{id} => $_ } @{ ref $d eq 'ARRAY' ? $d : [] };
    return (\%by, $res, $d);
}

# conversation_state($token, $with, {$id => 'tampered' | 'unknown' ...}, $name): 200, every
# message present in order, the named ones null with decryptError, all others intact.
sub conversation_state {
    my ($token, $with, $bad, $name, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($by, $res, $list) = read_as($token, $with);
    my @p;
    push @p, 'status ' . $res->code . ', expected 200' unless $res->code == 200;
    push @p, 'not an array' unless ref $list eq 'ARRAY';
    my @ids = map { $_->{id} } @{ ref $list eq 'ARRAY' ? $list : [] };
    push @p, "ids [@ids], expected the four messages in order" unless "@ids" eq join ' ', map { $_->{id} } @msg;
    for my $i (0 .. $#msg) {
        my $id = $msg[$i]{id};
        my $m = $by->{$id} or next;
        if (exists $bad->{$id}) {
            push @p, "message $i: 'message' is " . (exists $m->{message} ? ($m->{message} // 'null') : 'missing')
                   . ', expected null'
                unless exists $m->{message} && !defined $m->{message};
            my $want = $bad->{$id};
            push @p, "message $i: decryptError is '" . ($m->{decryptError} // 'undef') . "', expected '$want'"
                unless defined $m->{decryptError} && $m->{decryptError} eq $want;
            # everything but the body still there
            for my $k (qw(senderId receiverId senderType timestamp createdAt)) {
                push @p, "message $i: $k missing on the undecryptable row" unless defined $m->{$k};
            }
        }
        else {
            push @p, "message $i: '" . ($m->{message} // 'null') . "', expected its text"
                unless defined $m->{message} && $m->{message} eq $TEXT[$i];
            push @p, "message $i: unexpected decryptError '$m->{decryptError}'" if exists $m->{decryptError};
        }
    }
    ok(!@p, $name) or diag(join("\n", @p) . "\n" . dump_res($res));
    return $res;
}

my %none;
conversation_state($ctok, $p->{id}, \%none, 'baseline: the four messages read fine');

# the DP06001 warning for each id, and nothing of the bodies in the log
sub logged_ok {
    my ($mark, $ids, $status, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $last = $ids->[-1];
    my $log = error_log_since($mark, qr/DP06001: message \Q$last\E/);
    my @p;
    for my $id (@$ids) {
        push @p, "no DP06001 warning for $id"
            unless $log =~ /\[[\w.]+:warn\] .*DP06001: message \Q$id\E does not decrypt \(\Q$status\E, key \S+\)/;
    }
    for my $t (@TEXT) {
        push @p, "the log holds a message body ('$t')" if index($log, $t) >= 0;
    }
    push @p, 'an error-level line was logged' if $log =~ /^\[[^\]]*\] \[[\w.-]+:(?:error|crit|alert|emerg)\]/m;
    ok(!@p, $name) or diag(join("\n", @p) . "\nlog since the request:\n" . substr($log, 0, 3000));
}

my $id0 = $msg[0]{id};
my $id1 = $msg[1]{id};
my $id2 = $msg[2]{id};
my $id3 = $msg[3]{id};
my $W = sub { ' WHERE id = ' . sql_quote($_[0]) . '::uuid' };

# ---- one flipped ciphertext byte -----------------------------------------------------------------
sql_exec(q{UPDATE messages SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1)} . $W->($id1));
isnt(message_row($id1)->{ct_hex}, $orig{$id1}{ct_hex}, 'setup: one byte of the reply flipped (superuser psql)');
my $mark = error_log_mark();
my $res = conversation_state($ctok, $p->{id}, { $id1 => 'tampered' },
                             'flipped ciphertext byte: 200, that message null + tampered, the others fine');
unlike($res->content, qr/noted, see you/, 'no part of the tampered body comes out');
like($res->content, qr/"message"\s*:\s*null/, 'the JSON says "message": null');
logged_ok($mark, [$id1], 'tampered', 'a DP06001 warning names the message, without its text');
conversation_state($ptok, $c->{id}, { $id1 => 'tampered' }, 'the provider sees the same');

# the read route on a tampered row: 200, read true, body null
my ($st, $mr, $mres) = mark_read($ctok, $id1);
is($st, 200, 'marking a tampered message read: 200, no 500') or diag(dump_res($mres));
ok($mr && $mr->{read} && !defined $mr->{message} && ($mr->{decryptError} // '') eq 'tampered',
   'the read route answers it as read, message null, decryptError tampered') or diag(dump_res($mres));
sql_exec(q{UPDATE messages SET is_read = false} . $W->($id1));

restore_all();
conversation_state($ctok, $p->{id}, \%none, 'restored: every message reads fine again (nothing cached)');

# ---- the tag, the nonce, the length ---------------------------------------------------------------
sql_exec(q{UPDATE messages SET ciphertext = set_byte(ciphertext, length(ciphertext) - 1, }
       . q{get_byte(ciphertext, length(ciphertext) - 1) # 128)} . $W->($id0));
conversation_state($ctok, $p->{id}, { $id0 => 'tampered' }, 'flipped tag byte: tampered');
restore_all();
sql_exec(q{UPDATE messages SET nonce = set_byte(nonce, 11, get_byte(nonce, 11) # 1)} . $W->($id2));
conversation_state($ctok, $p->{id}, { $id2 => 'tampered' }, 'flipped nonce byte: tampered');
restore_all();
sql_exec(q{UPDATE messages SET ciphertext = substring(ciphertext from 1 for 10)} . $W->($id3));
conversation_state($ctok, $p->{id}, { $id3 => 'tampered' }, 'ciphertext shorter than a tag: tampered');
restore_all();
sql_exec(q{UPDATE messages SET ciphertext = ''::bytea} . $W->($id3));
conversation_state($ctok, $p->{id}, { $id3 => 'tampered' }, 'empty ciphertext: tampered');
restore_all();
sql_exec(q{UPDATE messages SET ciphertext = ciphertext || '\x00'::bytea} . $W->($id3));
conversation_state($ctok, $p->{id}, { $id3 => 'tampered' }, 'a byte appended: tampered');
restore_all();
sql_exec(q{UPDATE messages SET ciphertext = substring(ciphertext from 1 for length(ciphertext) - 16)} . $W->($id3));
conversation_state($ctok, $p->{id}, { $id3 => 'tampered' }, 'the tag cut off: tampered');
restore_all();

# ---- ciphertexts moved between rows (the AAD binds the message id and the sender) -------------------
# m0 and m2: same sender, same receiver, same key: only the message id tells them apart
sql_exec(q{UPDATE messages m SET nonce = o.nonce, ciphertext = o.ciphertext FROM messages o }
       . q{WHERE (m.id, o.id) IN ((} . sql_quote($id0) . '::uuid, ' . sql_quote($id2) . q{::uuid), (}
       . sql_quote($id2) . '::uuid, ' . sql_quote($id0) . q{::uuid))});
is(message_row($id0)->{ct_hex}, $orig{$id2}{ct_hex}, 'setup: ciphertext and nonce of two rows swapped');
$mark = error_log_mark();
conversation_state($ctok, $p->{id}, { $id0 => 'tampered', $id2 => 'tampered' },
                   'swapped ciphertext+nonce (same sender and receiver): both rows tampered');
logged_ok($mark, [$id0, $id2], 'tampered', 'both swapped rows logged');
restore_all();
sql_exec(q{UPDATE messages SET nonce = decode(} . sql_quote($orig{$id0}{nonce_hex}) . q{, 'hex'), ciphertext = decode(}
       . sql_quote($orig{$id0}{ct_hex}) . q{, 'hex')} . $W->($id3));
conversation_state($ctok, $p->{id}, { $id3 => 'tampered' }, 'a copy of another row\'s ciphertext: tampered (the original fine)');
restore_all();
my $fid = $foreign->{id};
sql_exec(q{UPDATE messages SET nonce = decode(} . sql_quote($orig{$fid}{nonce_hex}) . q{, 'hex'), ciphertext = decode(}
       . sql_quote($orig{$fid}{ct_hex}) . q{, 'hex')} . $W->($id2));
conversation_state($ctok, $p->{id}, { $id2 => 'tampered' }, 'another practice\'s ciphertext moved in: tampered');
restore_all();

# ---- the sender changed ------------------------------------------------------------------------------
sql_exec(q{UPDATE messages SET sender_id = receiver_id, receiver_id = sender_id, sender_type = 'provider'} . $W->($id0));
{
    my ($by, $r) = read_as($ctok, $p->{id});
    my $m = $by->{$id0};
    is($r->code, 200, 'sender and receiver swapped: 200');
    ok($m && exists $m->{message} && !defined $m->{message} && ($m->{decryptError} // '') eq 'tampered',
       'a row whose sender was changed: tampered') or diag(dump_res($r));
    is($m && $m->{senderId}, $p->{id}, 'the row shows the (changed) sender, nothing else');
}
restore_all();
my (undef, $other_client) = client_session($p->{id}, name => 'Second Client');
sql_exec(q{UPDATE messages SET sender_id = } . sql_quote($other_client->{id}) . q{::uuid} . $W->($id2));
{
    my (undef, $d, $r) = conversation($ptok, $other_client->{id});
    my ($m) = grep { $_->{id} eq $id2 } @{ ref $d eq 'ARRAY' ? $d : [] };
    is($r->code, 200, 'a row moved to another sender: that conversation answers 200');
    ok($m && !defined $m->{message} && ($m->{decryptError} // '') eq 'tampered',
       'a row moved to another sender (and conversation): tampered') or diag(dump_res($r));
}
restore_all();

# ---- a key id that is not in the ring ----------------------------------------------------------------
sql_exec(q{UPDATE messages SET key_id = 'retired'} . $W->($id3));
$mark = error_log_mark();
{
    my ($by, $r) = read_as($ctok, $p->{id});
    my $m = $by->{$id3};
    is($r->code, 200, 'a row under an unknown key: the conversation answers 200');
    ok($m && exists $m->{message} && !defined $m->{message}, 'unknown key: message null') or diag(dump_res($r));
    ok($m && defined $m->{decryptError}, 'unknown key: a decryptError is given');
    note('decryptError for an unknown key id: ' . ($m && $m->{decryptError} // 'undef'));
    # docs/api.md: a row that does not decrypt reads "message": null, "decryptError": "tampered".
    is($m && $m->{decryptError}, 'tampered',
       'an undecryptable row (key id not in the ring) reads decryptError "tampered" (docs/api.md, "Messages")');
    for my $i (0 .. 2) {
        is($by->{ $msg[$i]{id} } && $by->{ $msg[$i]{id} }{message}, $TEXT[$i], "message $i unaffected");
    }
}
{
    my $log = error_log_since($mark, qr/DP06001: message \Q$id3\E/);
    like($log, qr/\[[\w.]+:warn\] .*DP06001: message \Q$id3\E does not decrypt .*retired/,
         'the unknown key is logged as a warning with the key id');
}
restore_all();

# ---- the list of conversations and many bad rows at once ------------------------------------------
sql_exec(q{UPDATE messages SET ciphertext = set_byte(ciphertext, 3, get_byte(ciphertext, 3) # 255)} . $W->($id3));
{
    my ($st, $list, $r) = message_list($ptok);
    is($r->code, 200, 'conversation list with a tampered latest message: 200') or diag(dump_res($r));
    my ($e) = grep { ($_->{counterpartId} // '') eq $c->{id} } @{ ref $list eq 'ARRAY' ? $list : [] };
    ok($e && $e->{id} eq $id3 && !defined $e->{message} && ($e->{decryptError} // '') eq 'tampered',
       'the entry is the tampered message: null + tampered') or diag(dump_res($r));
    is($e && $e->{counterpartName}, 'Tamper Client', 'counterpartName still there');
    is($e && $e->{unreadCount}, 3, 'unreadCount still counted (3 unread from the client)');
}
sql_exec(q{UPDATE messages SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) WHERE id IN (}
       . join(', ', map { sql_quote($_->{id}) . '::uuid' } @msg) . ')');
conversation_state($ctok, $p->{id}, { map { $_->{id} => 'tampered' } @msg }, 'all four rows tampered: 200, four nulls');
restore_all();
conversation_state($ctok, $p->{id}, \%none, 'everything restored: the conversation reads fine');
conversation_state($ptok, $c->{id}, \%none, '... for both parties');

done_testing();
