# Clinical notes and key rotation (notes are sealed "with the same key ring as
# messages"; docs/security.md: after `make rekey`, remove the old key's line). Notes and addenda written
# under t1; dp-rekey with t1 (old) and t2 (current) must leave no note data under t1, and a
# server with only t2 must read every note, signed ones and addenda included. At the end every
# row goes back under t1 (dp-rekey again) so the suite's server reads everything.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Server qw(start_httpd stop_httpd);
use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $t1_file = $ENV{DOCPORTAL_MESSAGE_KEY_FILE} or die 'DOCPORTAL_MESSAGE_KEY_FILE not set';
my $t2_file = "$dir/note_key_t2";
{
    open my $r, '<:raw', '/dev/urandom' or die "urandom: $!";
    read($r, my $b, 32) == 32 or die 'short read';
    my $old = umask 077;
    open my $f, '>', $t2_file or die "$t2_file: $!";
    print $f unpack('H*', $b), "\n";
    close $f;
    umask $old;
}

my ($ptok, $p) = provider_session(name => 'Dr Rotate Notes');
my ($ctok, $c) = client_session($p->{id}, name => 'Rotated Client');
my $aU = appointment_for_note($ptok, $ctok);
my $aS = appointment_for_note($ptok, $ctok);
my (undef, $nU, $r) = note_create($ptok, appointmentId => $aU->{id}, type => 'Progress', content => { text => 'unsigned, under t1' },
                                  privateNotes => 'private under t1');
$r->code == 201 or BAIL_OUT('setup: note U ' . $r->code);
(undef, undef, $r) = note_create($ptok, appointmentId => $aS->{id}, type => 'DAP', content => DAP_CONTENT, diagnosis => 'F41.9');
$r->code == 201 or BAIL_OUT('setup: note S ' . $r->code);
note_sign($ptok, $aS->{id});
my $nS;
(undef, $nS, $r) = note_addendum($ptok, $aS->{id}, 'addendum under t1');
$r->code == 201 or BAIL_OUT('setup: addendum ' . $r->code);
is(note_row($aU->{id})->{key_id}, 't1', 'setup: note U under t1');
is(note_row($aS->{id})->{key_id}, 't1', 'setup: note S under t1');

sub note_keys_not {
    my ($k) = @_;
    return scalar psql_must(q{SELECT (SELECT count(*) FROM clinical_notes WHERE key_id <> } . sql_quote($k)
                          . q{) + (SELECT count(*) FROM note_addenda WHERE key_id <> } . sql_quote($k) . ')');
}

# ---- rotate: t2 current, t1 old ------------------------------------------------------------------------
my ($rc, $out, $err) = dp_rekey('--key', "t1=file:$t1_file", '--key', "t2=file:$t2_file,current");
is($rc, 0, 'dp-rekey (t1 old, t2 current): exit 0') or diag("stdout:\n$out\nstderr:\n$err");
note("dp-rekey said:\n$out$err");
is(note_row($aU->{id})->{key_id}, 't2', 'after dp-rekey: the unsigned note is under t2');
is(note_row($aS->{id})->{key_id}, 't2', 'after dp-rekey: the signed note is under t2');
is_deeply([map { $_->{key_id} } addendum_rows($nS->{id})], ['t2'], 'after dp-rekey: the addendum is under t2');
is(note_keys_not('t2'), 0, 'after dp-rekey: no clinical_notes or note_addenda row is left under another key');
is(note_row($aS->{id})->{content_hash}, $nS->{contentHash}, 'the signed note keeps its signature (hash, signed_at)');

# ---- a server that no longer has t1 -----------------------------------------------------------------------
my $jwt = "DocPortalJWTSecretFile $ENV{DOCPORTAL_JWT_SECRET_FILE}\nDocPortalRequireTLS Off";
my $only2 = start_httpd(name => 'notes-t2', dir => $dir, params => $ENV{DOCPORTAL_DBDPARAMS},
                        keys => "DocPortalMessageKey t2 file:$t2_file current", extra => $jwt, secs => 15,
                        until => \&DocPortal::Server::listening);
ok(!defined $only2->{status}, 'a server with only t2 starts') or diag($only2->{log});
for my $case ([$aU, $nU, 'unsigned'], [$aS, $nS, 'signed']) {
    my ($a, $n, $what) = @$case;
    my ($st, $d) = api_at($only2->{port}, GET => "/api/provider/clinical-notes/$a->{id}", token => $ptok);
    is($st, 200, "t2-only server: GET the $what note 200");
    ok(ref $d eq 'HASH' && !exists $d->{decryptError}, "t2-only server: the $what note opens (old key removed)")
        or diag(explain($d));
    is_deeply(ref $d eq 'HASH' ? $d->{content} : undef, $n->{content}, "t2-only server: the $what note's content");
    if ($what eq 'signed') {
        is(ref $d eq 'HASH' && $d->{addenda}[0] ? $d->{addenda}[0]{text} : undef, 'addendum under t1',
           't2-only server: the addendum opens');
    }
}
stop_httpd($only2);

# ---- back under t1 ------------------------------------------------------------------------------------------
($rc, $out, $err) = dp_rekey('--key', "t1=file:$t1_file,current", '--key', "t2=file:$t2_file");
is($rc, 0, 'dp-rekey back to t1: exit 0') or diag("stdout:\n$out\nstderr:\n$err");
for my $case ([$aU, $nU], [$aS, $nS]) {
    my (undef, $d, $res) = note_get($ptok, $case->[0]{id});
    ok($res->code == 200 && ref $d eq 'HASH' && !exists $d->{decryptError}, 'the suite\'s server (t1) reads the note again')
        or diag(dump_res($res));
}
is(scalar psql_must(q{SELECT count(*) FROM messages WHERE key_id <> 't1'}), 0, 'every message is under t1 again');

done_testing();
