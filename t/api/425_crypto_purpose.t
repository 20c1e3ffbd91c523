# Sealed rows bind what they are for (dp_aead.h, format version 2): a message's ciphertext
# moved to another receiver, copied into another receiver's row, or a note's ciphertext copied
# into a message row reads "tampered"; the aead_version column changed reads "tampered". Rows
# in format version 1 (written here with build/out/dp-test-seal-v1 under the suite's key t1)
# still read; dp-rekey moves them to version 2, after which they still read, and a second run
# finds nothing to do. A signed note, and each addendum, whose stored contentHash or content no
# longer matches reads as tampered (content null, decryptError "tampered"), logged by id only.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use JSON::PP ();

my $root = $ENV{DP_ROOT} // "$FindBin::Bin/../..";
# from DP_TOOLS when the run names a directory of built tools (make test-asan), else built here
my $seal_tool = ($ENV{DP_TOOLS} // "$root/build/out") . '/dp-test-seal-v1';
($ENV{DP_TOOLS} || system('make', '-s', '--no-print-directory', '-C', $root, 'build/out/dp-test-seal-v1') == 0)
    && -x $seal_tool or BAIL_OUT("cannot build $seal_tool");
my $key_spec = 'file:' . ($ENV{DOCPORTAL_MESSAGE_KEY_FILE} or die 'DOCPORTAL_MESSAGE_KEY_FILE not set');

# seal_v1($row_id, $owner_id, $plaintext) -> (nonce_hex, ct_hex), sealed in format version 1
sub seal_v1 {
    my ($id, $owner, $plain) = @_;
    require IPC::Open2;
    my $pid = IPC::Open2::open2(my $out, my $in, $seal_tool, $key_spec, $id, $owner);
    binmode $in;
    print $in $plain;
    close $in;
    my $line = <$out> // '';
    waitpid $pid, 0;
    die "dp-test-seal-v1 failed\n" if $? || $line !~ /^(\S+) (\S+)$/;
    require MIME::Base64;
    return map { unpack 'H*', MIME::Base64::decode_base64($_) } $1, $2;
}

sub q_uuid { return sql_quote($_[0]) . '::uuid' }
sub bypass { return 'SET session_replication_role = replica; ' . $_[0] }    # past the signed-note trigger
sub version_of {
    my ($table, $id) = @_;
    return scalar psql_must("SELECT aead_version FROM $table WHERE id = " . q_uuid($id));
}
sub sealed_of {
    my ($table, $id) = @_;
    my ($n, $c) = split /\|/, scalar psql_must("SELECT encode(nonce, 'hex'), encode(ciphertext, 'hex') FROM $table WHERE id = "
                                            . q_uuid($id));
    return ($n, $c);
}
sub set_sealed {
    my ($table, $id, $nonce_hex, $ct_hex, $version) = @_;
    psql_must(bypass("UPDATE $table SET nonce = decode(" . sql_quote($nonce_hex) . ", 'hex'), ciphertext = decode("
                   . sql_quote($ct_hex) . ", 'hex'), aead_version = $version WHERE id = " . q_uuid($id)));
}

# message_in($token, $with, $id) -> (the message as the conversation shows it, res)
sub message_in {
    my ($token, $with, $id) = @_;
    my (undef, $d, $res) = conversation($token, $with);
    my ($m) = grep { $_->{id} eq $id } @{ ref $d eq 'ARRAY' ? $d : [] };
    return ($m, $res);
}
sub message_reads {
    my ($token, $with, $id, $text, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($m, $res) = message_in($token, $with, $id);
    ok($res->code == 200 && $m && defined $m->{message} && $m->{message} eq $text && !exists $m->{decryptError}, $name)
        or diag(dump_res($res));
}
sub message_tampered {
    my ($token, $with, $id, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($m, $res) = message_in($token, $with, $id);
    ok($res->code == 200 && $m && exists $m->{message} && !defined $m->{message}
       && ($m->{decryptError} // '') eq 'tampered', $name) or diag(dump_res($res));
}

my ($ptok, $p) = provider_session(name => 'Dr Purpose');
my ($c1tok, $c1) = client_session($p->{id}, name => 'Purpose One');
my ($c2tok, $c2) = client_session($p->{id}, name => 'Purpose Two');

# ---- new rows are written in format version 2 ------------------------------------------------------
my ($st, $m1) = send_message($ptok, $c1->{id}, 'KESTREL-1 to the first client');
my (undef, $m2) = send_message($ptok, $c2->{id}, 'HERON-2 to the second client');
is($st, 201, 'setup: two messages');
is(version_of('messages', $m1->{id}), 2, 'a new message is format version 2');
my $aN = appointment_for_note($ptok, $c1tok);
my (undef, $nN, $r) = note_create($ptok, appointmentId => $aN->{id}, type => 'Progress', content => { text => 'OSPREY-NOTE-3 progress' });
is($r->code, 201, 'setup: a note') or diag(dump_res($r));
is(version_of('clinical_notes', $nN->{id}), 2, 'a new note is format version 2');

# ---- a message moved to another receiver ---------------------------------------------------------
psql_must('UPDATE messages SET receiver_id = ' . q_uuid($c2->{id}) . ' WHERE id = ' . q_uuid($m1->{id}));
my $mark = error_log_mark();
message_tampered($c2tok, $p->{id}, $m1->{id}, 'a message moved to another receiver: tampered there');
like(error_log_since($mark, qr/DP06001: message \Q$m1->{id}\E/), qr/DP06001: message \Q$m1->{id}\E does not decrypt \(tampered/,
     'logged by id');
psql_must('UPDATE messages SET receiver_id = ' . q_uuid($c1->{id}) . ' WHERE id = ' . q_uuid($m1->{id}));
message_reads($c1tok, $p->{id}, $m1->{id}, 'KESTREL-1 to the first client', 'restored: it reads again');

# ---- a message's ciphertext copied into another receiver's row ---------------------------------------
my @m1_sealed = sealed_of('messages', $m1->{id});
my @m2_sealed = sealed_of('messages', $m2->{id});
set_sealed('messages', $m2->{id}, @m1_sealed, 2);
message_tampered($c2tok, $p->{id}, $m2->{id}, 'a message ciphertext copied into another receiver\'s row: tampered');
message_reads($c1tok, $p->{id}, $m1->{id}, 'KESTREL-1 to the first client', 'the original still reads');
set_sealed('messages', $m2->{id}, @m2_sealed, 2);
message_reads($c2tok, $p->{id}, $m2->{id}, 'HERON-2 to the second client', 'restored');

# ---- a note's ciphertext copied into a message row -------------------------------------------------
set_sealed('messages', $m1->{id}, sealed_of('clinical_notes', $nN->{id}), 2);
message_tampered($c1tok, $p->{id}, $m1->{id}, 'a note ciphertext in a message row: tampered');
unlike((conversation($c1tok, $p->{id}))[2]->content, qr/OSPREY/, 'nothing of the note comes out');
set_sealed('messages', $m1->{id}, @m1_sealed, 2);

# ---- the version column changed ------------------------------------------------------------------------
psql_must('UPDATE messages SET aead_version = 1 WHERE id = ' . q_uuid($m1->{id}));
message_tampered($c1tok, $p->{id}, $m1->{id}, 'a version 2 row marked version 1: tampered');
psql_must('UPDATE messages SET aead_version = 2 WHERE id = ' . q_uuid($m1->{id}));
message_reads($c1tok, $p->{id}, $m1->{id}, 'KESTREL-1 to the first client', 'restored');

# ---- rows in format version 1 ------------------------------------------------------------------------------
# a message from the provider to the first client
my $old_id = uuid_v4();
my $old_text = 'PLOVER-OLD-4 written in format 1';
{
    my ($n, $c) = seal_v1($old_id, $p->{id}, $old_text);
    psql_must('INSERT INTO messages (id, sender_id, receiver_id, sender_type, key_id, nonce, ciphertext, aead_version) VALUES ('
            . join(', ', q_uuid($old_id), q_uuid($p->{id}), q_uuid($c1->{id}), q{'provider'}, q{'t1'},
                   "decode('$n', 'hex')", "decode('$c', 'hex')", 1) . ')');
}
message_reads($c1tok, $p->{id}, $old_id, $old_text, 'a version 1 message reads');
message_reads($ptok, $c1->{id}, $old_id, $old_text, '... for the provider too');
psql_must('UPDATE messages SET aead_version = 2 WHERE id = ' . q_uuid($old_id));
message_tampered($c1tok, $p->{id}, $old_id, 'a version 1 row marked version 2: tampered');
psql_must('UPDATE messages SET aead_version = 1 WHERE id = ' . q_uuid($old_id));
# what version 2 adds: version 1 did not bind the receiver
psql_must('UPDATE messages SET receiver_id = ' . q_uuid($c2->{id}) . ' WHERE id = ' . q_uuid($old_id));
message_reads($c2tok, $p->{id}, $old_id, $old_text, 'version 1 bound no receiver: moved to another client, it still opens');
psql_must('UPDATE messages SET receiver_id = ' . q_uuid($c1->{id}) . ' WHERE id = ' . q_uuid($old_id));

# an unsigned note
my $json = JSON::PP->new->canonical;
my $note_v1 = $json->encode({ content => { text => 'SWIFT-OLD-5 old progress' }, type => 'Progress',
                              diagnosis => 'F41.1', privateNotes => undef });
set_sealed('clinical_notes', $nN->{id}, seal_v1($nN->{id}, $aN->{id}, $note_v1), 1);
my (undef, $g) = note_get($ptok, $aN->{id});
ok($g && !exists $g->{decryptError} && ($g->{content}{text} // '') eq 'SWIFT-OLD-5 old progress'
   && ($g->{diagnosis} // '') eq 'F41.1', 'a version 1 note reads') or diag(explain($g));

# a signed note with an addendum, both in format version 1
my $aS = appointment_for_note($ptok, $c1tok);
my (undef, $nS) = note_create($ptok, appointmentId => $aS->{id}, type => 'Progress', content => { text => 'WREN-SIGNED-6 steady' });
(undef, undef, $r) = note_sign($ptok, $aS->{id});
is($r->code, 200, 'setup: the note is signed') or diag(dump_res($r));
(undef, my $withadd, $r) = note_addendum($ptok, $aS->{id}, 'ROBIN-ADD-7 late entry');
is($r->code, 201, 'setup: an addendum') or diag(dump_res($r));
my ($add) = addendum_rows($nS->{id});
my $signed_v1 = $json->encode({ content => { text => 'WREN-SIGNED-6 steady' }, type => 'Progress',
                                diagnosis => undef, privateNotes => undef });
set_sealed('clinical_notes', $nS->{id}, seal_v1($nS->{id}, $aS->{id}, $signed_v1), 1);
set_sealed('note_addenda', $add->{id}, seal_v1($add->{id}, $nS->{id}, $json->encode({ text => 'ROBIN-ADD-7 late entry' })), 1);
my $signed_ok = sub {
    my ($name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, $d, $res) = note_get($ptok, $aS->{id});
    ok($res->code == 200 && $d && !exists $d->{decryptError} && ($d->{content}{text} // '') eq 'WREN-SIGNED-6 steady'
       && $d->{contentHash} && @{ $d->{addenda} || [] } == 1 && ($d->{addenda}[0]{text} // '') eq 'ROBIN-ADD-7 late entry'
       && !exists $d->{addenda}[0]{decryptError}, $name) or diag(dump_res($res));
};
$signed_ok->('a signed version 1 note and its version 1 addendum read (their hashes still hold)');

# ---- dp-rekey moves them to version 2 -----------------------------------------------------------------
my $old_rows = psql_must(q{SELECT (SELECT count(*) FROM messages WHERE aead_version = 1) + }
                       . q{(SELECT count(*) FROM clinical_notes WHERE aead_version = 1) + }
                       . q{(SELECT count(*) FROM note_addenda WHERE aead_version = 1)});
cmp_ok($old_rows, '>=', 4, "setup: $old_rows rows in format version 1");
my @keys = ('--key', "t1=$key_spec,current");
my ($rc, $out, $err) = dp_rekey(@keys, '--dry-run');
is($rc, 0, 'dry run: exit 0') or diag("$out\n$err");
like($out, qr/^format: \Q$old_rows\E rows would be moved to version 2; \Q$old_rows\E rows in an older format remain$/m,
     'dry run: it counts the version 1 rows, and moves none') or diag($out);
is(version_of('messages', $old_id), 1, 'dry run: the message is still version 1');
($rc, $out, $err) = dp_rekey(@keys, '--batch', '2');
is($rc, 0, 'dp-rekey: exit 0') or diag("$out\n$err");
like($out, qr/^format: \Q$old_rows\E rows moved to version 2; 0 rows in an older format remain$/m,
     'every version 1 row moved to version 2') or diag("$out\n$err");
like($out, qr/^messages: \d+ moved from format version 1 to 2; 0 rows in an older format remain$/m, 'a line per table');
is(version_of('messages', $old_id), 2, 'the message is version 2');
is(version_of('clinical_notes', $nN->{id}), 2, 'the unsigned note is version 2');
is(version_of('clinical_notes', $nS->{id}), 2, 'the signed note is version 2 (the trigger lets dp-rekey through)');
is(version_of('note_addenda', $add->{id}), 2, 'the addendum is version 2');
for my $t ($old_text, 'SWIFT-OLD-5', 'WREN-SIGNED-6', 'ROBIN-ADD-7') {
    unlike("$out\n$err", qr/\Q$t\E/, "dp-rekey prints no plaintext ($t)");
}
message_reads($c1tok, $p->{id}, $old_id, $old_text, 'after dp-rekey the message still reads');
(undef, $g) = note_get($ptok, $aN->{id});
ok($g && !exists $g->{decryptError} && ($g->{content}{text} // '') eq 'SWIFT-OLD-5 old progress',
   'after dp-rekey the unsigned note still reads') or diag(explain($g));
$signed_ok->('after dp-rekey the signed note and its addendum still read');
# in version 2 the receiver is bound: the old message moved to another receiver no longer opens
psql_must('UPDATE messages SET receiver_id = ' . q_uuid($c2->{id}) . ' WHERE id = ' . q_uuid($old_id));
message_tampered($c2tok, $p->{id}, $old_id, 'the upgraded message moved to another client: tampered');
psql_must('UPDATE messages SET receiver_id = ' . q_uuid($c1->{id}) . ' WHERE id = ' . q_uuid($old_id));
message_reads($c1tok, $p->{id}, $old_id, $old_text, 'moved back: it reads');

my $snap = psql_must(q{SELECT string_agg(id::text || key_id || encode(nonce, 'hex') || aead_version, ',' ORDER BY id) FROM messages});
($rc, $out, $err) = dp_rekey(@keys);
is($rc, 0, 'a second run: exit 0');
like($out, qr/^format: 0 rows moved to version 2; 0 rows in an older format remain$/m, 'a second run moves nothing')
    or diag($out);
is(psql_must(q{SELECT string_agg(id::text || key_id || encode(nonce, 'hex') || aead_version, ',' ORDER BY id) FROM messages}),
   $snap, 'a second run changes no row');

# ---- a signed note no longer matching its contentHash ----------------------------------------------------
my $note_row = note_row($aS->{id});
my $signed_tampered = sub {
    my ($name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, $d, $res) = note_get($ptok, $aS->{id});
    my @p;
    push @p, 'status ' . $res->code unless $res->code == 200;
    if ($o{addendum}) {
        push @p, 'the note itself does not read' unless $d && ($d->{content}{text} // '') eq 'WREN-SIGNED-6 steady'
                                                        && !exists $d->{decryptError};
        my $a = $d && $d->{addenda} && $d->{addenda}[0];
        push @p, 'the addendum is not text null + tampered'
            unless $a && exists $a->{text} && !defined $a->{text} && ($a->{decryptError} // '') eq 'tampered';
    }
    else {
        for my $f (qw(content diagnosis privateNotes)) {
            push @p, "$f is not null" unless $d && exists $d->{$f} && !defined $d->{$f};
        }
        push @p, 'decryptError is not tampered' unless $d && ($d->{decryptError} // '') eq 'tampered';
        push @p, 'contentHash, signedAt or signedBy missing' unless $d && $d->{contentHash} && $d->{signedAt} && $d->{signedBy};
    }
    push @p, 'plaintext in the answer' if $res->content =~ /WREN-SIGNED-6|CHANGED-8/ && !$o{addendum};
    ok(!@p, $name) or diag(join("\n", @p) . "\n" . dump_res($res));
};
$mark = error_log_mark();
psql_must(bypass(q{UPDATE clinical_notes SET content_hash = repeat('a', 64) WHERE id = } . q_uuid($nS->{id})));
$signed_tampered->('a signed note whose contentHash was changed: tampered');
{
    my $log = error_log_since($mark, qr/DP08002: clinical note \Q$nS->{id}\E/);
    like($log, qr/\[[\w.]+:warn\] .*DP08002: clinical note \Q$nS->{id}\E does not match its signed content hash/,
         'a DP08002 warning names the note');
    unlike($log, qr/WREN-SIGNED-6|ROBIN-ADD-7/, 'and holds none of its text');
}
psql_must(bypass(q{UPDATE clinical_notes SET content_hash = } . sql_quote($note_row->{content_hash}) . ' WHERE id = ' . q_uuid($nS->{id})));
$signed_ok->('the hash restored: it reads again');

# the content changed (sealed validly, but not what was signed)
my @signed_sealed = sealed_of('clinical_notes', $nS->{id});
my $changed = $json->encode({ content => { text => 'CHANGED-8 rewritten after signing' }, type => 'Progress',
                              diagnosis => undef, privateNotes => undef });
set_sealed('clinical_notes', $nS->{id}, seal_v1($nS->{id}, $aS->{id}, $changed), 1);
$signed_tampered->('a signed note whose content was changed (validly sealed): tampered');
set_sealed('clinical_notes', $nS->{id}, @signed_sealed, 2);
$signed_ok->('the content restored: it reads again');

# an addendum whose hash was changed
$mark = error_log_mark();
psql_must(q{UPDATE note_addenda SET content_hash = repeat('b', 64) WHERE id = } . q_uuid($add->{id}));
$signed_tampered->('an addendum whose contentHash was changed: that addendum tampered, the note fine', addendum => 1);
like(error_log_since($mark, qr/DP08002: note addendum/), qr/DP08002: note addendum \Q$add->{id}\E does not match/,
     'a DP08002 warning names the addendum');
psql_must(q{UPDATE note_addenda SET content_hash = } . sql_quote($add->{content_hash}) . ' WHERE id = ' . q_uuid($add->{id}));
$signed_ok->('restored: note and addendum read');

done_testing();
