package DocPortal::Messaging;
# Secure messaging: sending, listing and reading messages, their encrypted rows, and the
# dp-rekey tool that rotates the message key.
use strict;
use warnings;

use Exporter 'import';
use IPC::Open3 qw(open3);
use DocPortal::Http qw(api query_string);
use DocPortal::Db qw(psql psql_rows sql_quote owner_url);

our @EXPORT = qw(
    send_message conversation message_list mark_read message_row message_rows
    utf8_hex dp_rekey MESSAGE_KEYS
);

use constant MESSAGE_KEYS => [sort qw(id senderId receiverId senderType message timestamp read
                                      createdAt)];

# send_message($token, $receiver_id, $text, %extra_fields) -> (status, body, res)
sub send_message {
    my ($token, $to, $text, %extra) = @_;
    my %b = (receiverId => $to, message => $text, %extra);
    delete @b{ grep { !defined $b{$_} } keys %b };    # undef = leave the field out
    return api(POST => '/api/messages', token => $token, json => \%b);
}

# conversation($token, $with, %query) -> (status, body, res): GET /api/messages?conversationWith=
sub conversation {
    my ($token, $with, %q) = @_;
    return api(GET => '/api/messages' . query_string(conversationWith => $with, %q), token => $token);
}

# message_list($token, %query) -> (status, body, res): GET /api/messages (latest per conversation)
sub message_list {
    my ($token, %q) = @_;
    return api(GET => '/api/messages' . query_string(%q), token => $token);
}

# mark_read($token, $id) -> (status, body, res): PATCH /api/messages/:id/read
sub mark_read {
    my ($token, $id) = @_;
    return api(PATCH => "/api/messages/$id/read", token => $token);
}

my @MSG_COLS = qw(id sender_id receiver_id sender_type key_id nonce_hex ct_hex nonce_len ct_len
                  is_read);

# message_rows($where_sql) -> list of hashrefs (superuser psql), ordered by created_at, id:
# {id, sender_id, receiver_id, sender_type, key_id, nonce_hex, ct_hex, nonce_len, ct_len, is_read}
sub message_rows {
    my ($where) = @_;
    my ($out, $rc, $err) = psql(
        q{SELECT id, sender_id, receiver_id, sender_type, key_id, encode(nonce, 'hex'), }
      . q{encode(ciphertext, 'hex'), length(nonce), length(ciphertext), is_read }
      . q{FROM messages } . ($where // '') . q{ ORDER BY created_at, id});
    die "message_rows: $err\n" if $rc;
    return psql_rows($out, @MSG_COLS);
}

# message_row($id) -> hashref as message_rows gives, or undef when there is no such row
sub message_row {
    my ($id) = @_;
    my @r = message_rows('WHERE id = ' . sql_quote($id) . '::uuid');
    return $r[0];
}

# utf8_hex($text): lower-case hex of the text's UTF-8 bytes (what encode(bytea, 'hex') prints)
sub utf8_hex {
    my ($s) = @_;
    my $b = $s;
    utf8::encode($b) if utf8::is_utf8($b);
    return unpack 'H*', $b;
}

# dp_rekey(@args) -> (exit status, stdout, stderr): build/out/dp-rekey with DATABASE_URL the
# owner's URI (unless the caller's %ENV already says otherwise through local).
sub dp_rekey {
    my (@args) = @_;
    my $tool = ($ENV{DP_TOOLS} // ($ENV{DP_ROOT} // '.') . '/build/out') . '/dp-rekey';
    local $ENV{DATABASE_URL} = $ENV{DATABASE_URL} // owner_url();
    require File::Temp;
    my $errfh = File::Temp->new;    # stderr to a file: no pipe to fill while stdout is read
    open my $null, '<', '/dev/null' or die "/dev/null: $!";
    my $pid = open3('<&' . fileno($null), my $out, '>&' . fileno($errfh), $tool, @args);
    my $stdout = do { local $/; <$out> } // '';
    waitpid $pid, 0;
    my $rc = $? >> 8;
    my $stderr = do { local (@ARGV, $/) = ($errfh->filename); <> } // '';
    return ($rc, $stdout, $stderr);
}

1;
