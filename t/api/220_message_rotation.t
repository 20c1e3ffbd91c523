# Key rotation: messages written under the suite's key t1; a second httpd with t1 (old) and a
# new t2 (current) reads them and seals new ones under t2; dp-rekey (with that server's
# configuration) moves every readable row to t2 in batches, skipping and counting a tampered
# one; a third httpd with only t2 then reads everything; a second run changes nothing. At the
# end the rows go back under t1 (dp-rekey again, with --key) so the suite's server reads them.
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
my $t2_file = "$dir/message_key_t2";
my $t2_hex = do {
    open my $r, '<:raw', '/dev/urandom' or die "urandom: $!";
    read($r, my $b, 32) == 32 or die 'short read';
    unpack 'H*', $b;
};
{
    my $old = umask 077;
    open my $f, '>', $t2_file or die "$t2_file: $!";
    print $f "$t2_hex\n";
    close $f;
    umask $old;
}
is(sprintf('%o', (stat $t2_file)[2] & 07777), '600', 'the new key file t2 is 0600');
my $t1_hex = do { local (@ARGV, $/) = ($t1_file); my $k = <>; $k =~ s/\s+//g; lc $k };

my $jwt = "DocPortalJWTSecretFile $ENV{DOCPORTAL_JWT_SECRET_FILE}\nDocPortalRequireTLS Off";
sub start {
    my ($name, $keys) = @_;
    my $srv = start_httpd(name => $name, dir => $dir, params => $ENV{DOCPORTAL_DBDPARAMS}, keys => $keys,
                          extra => $jwt, secs => 15, until => \&DocPortal::Server::listening);
    ok(!defined $srv->{status}, "httpd '$name' starts") or diag($srv->{log});
    return $srv;
}

sub sql_exec {
    my ($sql) = @_;
    my ($out, $rc, $err) = psql($sql);
    die "psql failed: $err\n$sql\n" if $rc;
    return $out;
}
sub key_of { return message_row($_[0])->{key_id} }
sub count_where { return scalar sql_exec("SELECT count(*) FROM messages WHERE $_[0]") }
sub snapshot { return { map { $_->{id} => "$_->{key_id}|$_->{nonce_hex}|$_->{ct_hex}" } message_rows() } }

# summary line of a run
sub summary {
    my ($out) = @_;
    return undef unless $out =~ /^(dry run: )?(\d+) (?:rekeyed|would be rekeyed), (\d+) skipped \((\d+) unknown key, (\d+) tampered, (\d+) without sender, (\d+) changed meanwhile\); current key (\S+); (\d+) rows under other keys remain$/m;
    return { dry => !!$1, rekeyed => $2, skipped => $3, unknown => $4, tampered => $5, nosender => $6,
             raced => $7, current => $8, remain => $9 };
}
sub skipped_ids {
    my ($err, $why) = @_;
    return [sort $err =~ /^dp-rekey: skipped (\S+) \(key \S+\): \Q$why\E$/mg];
}

# ---- messages under t1, written by the suite's server ----------------------------------------------
my ($ptok, $p) = provider_session(name => 'Dr Rotation');
my ($ctok, $c) = client_session($p->{id}, name => 'Rotation Client');
my @old_text = ('old one, sealed under t1', 'old two, to be tampered with', 'old three', 'old four from the provider');
my @old;
for my $i (0 .. $#old_text) {
    my ($tok, $to) = $i == 3 ? ($ptok, $c->{id}) : ($ctok, $p->{id});
    my ($st, $d, $res) = send_message($tok, $to, $old_text[$i]);
    $st == 201 or BAIL_OUT("setup: send answered $st\n" . dump_res($res));
    push @old, $d;
}
is_deeply([map { key_of($_->{id}) } @old], [('t1') x 4], 'the suite\'s server sealed them under t1');

# ---- a server with t1 (old) and t2 (current) -----------------------------------------------------------
my $rot = start('rot', "DocPortalMessageKey t1 file:$t1_file\nDocPortalMessageKey t2 file:$t2_file current");
my $rp = $rot->{port};
my ($st, $conv) = api_at($rp, GET => "/api/messages?conversationWith=$p->{id}", token => $ctok);
is($st, 200, 'the rotated server reads the conversation');
is_deeply([map { $_->{message} } @{ ref $conv eq 'ARRAY' ? $conv : [] }], \@old_text,
          'it decrypts the messages the suite\'s server wrote under t1');

($st, my $new1) = api_at($rp, POST => '/api/messages', token => $ptok,
                         json => { receiverId => $c->{id}, message => 'new one, sealed under t2' });
is($st, 201, 'the rotated server accepts a new message');
is($new1->{message}, 'new one, sealed under t2', 'and answers it in plain text');
is(key_of($new1->{id}), 't2', 'new messages are sealed under the current key t2 (psql)');
($st, my $new2) = api_at($rp, POST => '/api/messages', token => $ctok,
                         json => { receiverId => $p->{id}, message => 'new two from the client' });
is(key_of($new2->{id} // ''), 't2', 'the client\'s new message: t2 as well');
my @all_text = (@old_text, 'new one, sealed under t2', 'new two from the client');
my @all_ids = (map({ $_->{id} } @old), $new1->{id}, $new2->{id});
($st, $conv) = api_at($rp, GET => "/api/messages?conversationWith=$c->{id}", token => $ptok);
is_deeply([map { $_->{message} } @{ ref $conv eq 'ARRAY' ? $conv : [] }], \@all_text,
          'the rotated server reads old (t1) and new (t2) messages together');

# the suite's server has only t1: the t2 rows do not open there, the others do
{
    my (undef, $d, $res) = conversation($ctok, $p->{id});
    is($res->code, 200, 'the t1-only server still answers the mixed conversation');
    my %by = map { $_->{id} => $_ } @{ ref $d eq 'ARRAY' ? $d : [] };
    is_deeply([map { $by{$_->{id}}{message} } @old], \@old_text, 't1-only server: the t1 rows open');
    ok(!defined $by{ $new1->{id} }{message} && defined $by{ $new1->{id} }{decryptError},
       't1-only server: a t2 row reads message null with a decryptError') or diag(dump_res($res));
}

# ---- dp-rekey --------------------------------------------------------------------------------------------
my ($rc, $out, $err) = dp_rekey('--help');
is($rc, 0, 'dp-rekey --help: exit 0');
like($out, qr/--keys-from-conf/, '--help lists --keys-from-conf');
($rc, $out, $err) = dp_rekey();
is($rc, 2, 'dp-rekey without keys: exit 2');
($rc, $out, $err) = dp_rekey('--key', "t1=file:$t1_file,current", '--key', "t2=file:$t2_file,current");
is($rc, 2, 'two current keys: exit 2');
($rc, $out, $err) = dp_rekey('--key', "t1=file:$t1_file");
is($rc, 2, 'no current key: exit 2');
($rc, $out, $err) = dp_rekey('--key', "t1=file:$dir/missing,current");
is($rc, 2, 'a key file that does not exist: exit 2');
($rc, $out, $err) = dp_rekey('--keys-from-conf', "$dir/rot.conf", '--batch', '0');
is($rc, 2, '--batch 0: exit 2');
($rc, $out, $err) = dp_rekey('--keys-from-conf', "$dir/rot.conf", '--bogus');
is($rc, 2, 'an unknown option: exit 2');
{
    local $ENV{DATABASE_URL} = '';
    ($rc, $out, $err) = dp_rekey('--keys-from-conf', "$dir/rot.conf");
    is($rc, 2, 'no database: exit 2');
}

# tamper one t1 row: the tool must skip it, count it, and leave it alone
my $bad = $old[1]{id};
sql_exec(q{UPDATE messages SET ciphertext = set_byte(ciphertext, 2, get_byte(ciphertext, 2) # 4) WHERE id = }
       . sql_quote($bad) . '::uuid');
my $bad_row = message_row($bad);

my $to_move = count_where(q{key_id <> 't2'});
cmp_ok($to_move, '>=', 4, "setup: $to_move rows are under other keys than t2");
my $snap0 = snapshot();

# a wrong key under the right id: nothing opens, nothing is rewritten
($rc, $out, $err) = dp_rekey('--key', 't1=' . ('ab' x 32), '--key', "t2=file:$t2_file,current");
is($rc, 0, 'a wrong t1 key: the run still ends normally') or diag("stdout:\n$out\nstderr:\n$err");
{
    my $w = summary($out) || {};
    my $wrong = skipped_ids($err, 'tampered');
    is_deeply([grep { my $id = $_; grep { $_ eq $id } @$wrong } map { $_->{id} } @old], [map { $_->{id} } @old],
              'a wrong t1 key: every old row of the conversation is skipped as tampered');
    is($w->{rekeyed}, 0, 'a wrong t1 key: nothing rekeyed') or diag($out);
}
is_deeply(snapshot(), $snap0, 'a wrong t1 key: no row changed');

($rc, $out, $err) = dp_rekey('--keys-from-conf', "$dir/rot.conf", '--dry-run');
is($rc, 0, 'dry run: exit 0') or diag("stdout:\n$out\nstderr:\n$err");
my $s = summary($out);
ok($s && $s->{dry}, 'dry run: a summary that says dry run') or diag($out);
is_deeply(snapshot(), $snap0, 'dry run: no row changed');
is($s && $s->{rekeyed} + $s->{skipped}, $to_move, 'dry run: every row under another key visited once') if $s;

($rc, $out, $err) = dp_rekey('--keys-from-conf', "$dir/rot.conf", '--batch', '2');
is($rc, 0, 'dp-rekey --keys-from-conf <the rotated server\'s conf>: exit 0') or diag("stdout:\n$out\nstderr:\n$err");
note("dp-rekey said:\n$out$err");
$s = summary($out);
ok($s, 'a summary line') or diag("stdout:\n$out\nstderr:\n$err");
$s ||= {};
like($out, qr/^dp-rekey: 2 keys, current t2, batches of 2$/m, 'it read both keys from the configuration, t2 current');
cmp_ok(scalar(() = $out =~ /^batch \d+: /mg), '>=', 2, 'it worked in more than one batch');
is($s->{current}, 't2', 'summary: current key t2');
is($s->{rekeyed} + $s->{skipped}, $to_move, 'rekeyed + skipped = the rows that were under other keys');
my $tampered = skipped_ids($err, 'tampered');
ok(scalar(grep { $_ eq $bad } @$tampered), 'the tampered row is reported as skipped (tampered), by id')
    or diag("stderr:\n$err");
is($s->{tampered}, scalar @$tampered, 'the tampered count matches the rows it names');
cmp_ok($s->{tampered} // 0, '>=', 1, 'the tampered row is counted');
is($s->{remain}, $s->{skipped}, 'what remains under other keys is exactly what was skipped');
is(count_where(q{key_id <> 't2'}), $s->{remain}, 'the database agrees with the summary');
is_deeply([map { key_of($_) } @all_ids], [qw(t2 t1 t2 t2 t2 t2)],
          'every readable row of the conversation is now under t2; the tampered one stays t1');
is_deeply(message_row($bad), $bad_row, 'the tampered row is left exactly as it was');
my $rows_after = { map { $_->{id} => $_ } message_rows() };
for my $i (0, 2, 3) {
    my $id = $old[$i]{id};
    my $before = (split /\|/, $snap0->{$id})[1];
    isnt($rows_after->{$id}{nonce_hex}, $before, "old message $i: a fresh nonce");
    is($rows_after->{$id}{ct_len}, length($old_text[$i]) + 16, "old message $i: same length of ciphertext");
}
for my $text (@all_text) {
    unlike("$out\n$err", qr/\Q$text\E/, "the tool prints no message body ('$text')");
}
unlike("$out\n$err", qr/\Q$t1_hex\E|\Q$t2_hex\E/i, 'the tool prints no key material');

# ---- a server with only t2 reads everything -----------------------------------------------------------
my $only2 = start('only2', "DocPortalMessageKey t2 file:$t2_file current");
($st, $conv) = api_at($only2->{port}, GET => "/api/messages?conversationWith=$p->{id}", token => $ctok);
is($st, 200, 'the t2-only server reads the conversation');
my @got = @{ ref $conv eq 'ARRAY' ? $conv : [] };
is_deeply([map { $_->{id} } @got], \@all_ids, 'all six messages, oldest first');
my @want = @all_text;
$want[1] = undef;
is_deeply([map { $_->{message} } @got], \@want, 'the old messages (rekeyed) and the new ones open with t2 alone');
ok(@got == 6 && !defined $got[1]{message} && defined $got[1]{decryptError},
   'the tampered row reads message null with a decryptError') or diag(explain($got[1]));
ok(!grep({ exists $_->{decryptError} } @got[0, 2 .. $#got]), 'no other row has a decryptError');
($st, my $new3) = api_at($only2->{port}, POST => '/api/messages', token => $ptok,
                         json => { receiverId => $c->{id}, message => 'after the rotation' });
is($st, 201, 'the t2-only server sends');
is(key_of($new3->{id} // ''), 't2', 'under t2');
push @all_ids, $new3->{id};
push @all_text, 'after the rotation';

# ---- a second run does nothing -------------------------------------------------------------------------
my $snap1 = snapshot();
($rc, $out, $err) = dp_rekey('--keys-from-conf', "$dir/rot.conf");
is($rc, 0, 'second run: exit 0') or diag("stdout:\n$out\nstderr:\n$err");
my $s2 = summary($out) || {};
is($s2->{rekeyed}, 0, 'second run: 0 rekeyed') or diag($out);
is($s2->{skipped}, $s->{skipped}, 'second run: the same rows skipped again');
is_deeply(snapshot(), $snap1, 'second run: no row changed');

# ---- back under t1 (dp-rekey --key), so that the suite's server reads everything again ---------------
sql_exec(q{UPDATE messages SET ciphertext = decode(} . sql_quote($bad_row->{ct_hex}) . q{, 'hex') WHERE id = }
       . sql_quote($bad) . '::uuid');
sql_exec(q{UPDATE messages SET ciphertext = set_byte(ciphertext, 2, get_byte(ciphertext, 2) # 4) WHERE id = }
       . sql_quote($bad) . '::uuid');    # undo the flip: the original bytes
($rc, $out, $err) = dp_rekey('--key', "t1=file:$t1_file,current", '--key', "t2=file:$t2_file");
is($rc, 0, 'dp-rekey --key t1=...,current --key t2=...: exit 0') or diag("stdout:\n$out\nstderr:\n$err");
my $s3 = summary($out) || {};
is($s3->{current}, 't1', 'back to t1');
is($s3->{remain}, $s3->{skipped}, 'everything readable moved back');
is_deeply([map { key_of($_) } @all_ids], [('t1') x 7], 'every row of the conversation is under t1 again');
{
    my (undef, $d, $res) = conversation($ptok, $c->{id});
    is($res->code, 200, 'the suite\'s server reads the conversation');
    is_deeply([map { $_->{message} } @{ ref $d eq 'ARRAY' ? $d : [] }], \@all_text,
              'the suite\'s server (t1 only) reads all seven messages, the restored one too');
}

stop_httpd($_) for $rot, $only2;
for my $srv ($rot, $only2) {
    unlike($srv->{log}, qr/^\[[^\]]*\] \[[\w.-]+:(?:error|crit|alert|emerg)\]/m, "no error-level lines in $srv->{logfile}")
        or diag($srv->{log});
}
like($only2->{log}, qr/DP06001: message \Q$bad\E does not decrypt/, 'the t2-only server logged the row it could not open');
for my $text (@all_text) {
    unlike($rot->{log} . $only2->{log}, qr/\Q$text\E/, "no message body in the second servers' logs ('$text')");
}

done_testing();
