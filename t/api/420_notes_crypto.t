# Clinical notes at rest: content, diagnosis and private notes (and addenda) are
# sealed with the message key ring (AES-256-GCM, 12-byte nonce, key id t1): no plaintext of them
# anywhere in clinical_notes or note_addenda, as text or as hex. A row changed behind the
# module's back (a flipped ciphertext, nonce or tag byte, ciphertexts swapped between notes, a
# note moved to another appointment, an addendum's ciphertext swapped) reads 200 with the
# sealed fields null and decryptError "tampered", logs a DP08001 warning, and never answers 500.
# Rows are restored after each case.
use strict;
use warnings FATAL => 'all';
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my ($ptok, $p) = provider_session(name => 'Dr Sealed');
my ($ctok, $c) = client_session($p->{id}, name => 'Sealed Client');

# distinctive strings, one per sealed field
my %S = (
    subjective => 'ZEBRA-SUBJ-7319 client reports nightmares',
    objective  => 'QUOKKA-OBJ-2284 psychomotor agitation',
    assessment => 'NARWHAL-ASSESS-5521 PTSD, chronic',
    plan       => 'AXOLOTL-PLAN-8830 prolonged exposure',
    diagnosis  => 'PANGOLIN-DX-F43.10',
    private    => 'OCELOT-PRIV-4407 suspects abuse at home — ñ',
    data       => 'MARMOT-DATA-1190 talked about the divorce',
    text       => 'WOMBAT-PROG-6602 progress steady',
    addendum1  => 'TAPIR-ADD-3317 late entry: self-harm risk reviewed',
    addendum2  => 'GECKO-ADD-9054 correction to the plan',
    edited     => 'IBEX-EDIT-4471 replaced subjective',
);

# note A (SOAP, signed, two addenda), note B (DAP, unsigned), note C (Progress, unsigned)
my $aA = appointment_for_note($ptok, $ctok);
my $aB = appointment_for_note($ptok, $ctok);
my $aC = appointment_for_note($ptok, $ctok);
my $aD = appointment_for_note($ptok, $ctok);    # no note (a note gets moved here)
my (undef, $nA, $r) = note_create($ptok, appointmentId => $aA->{id}, type => 'SOAP',
    content => { subjective => $S{subjective}, objective => $S{objective}, assessment => $S{assessment}, plan => $S{plan} },
    diagnosis => $S{diagnosis}, privateNotes => $S{private});
$r->code == 201 or BAIL_OUT("setup: note A answered " . $r->code . "\n" . dump_res($r));
(undef, undef, $r) = note_patch($ptok, $aA->{id}, content => { subjective => $S{edited}, objective => $S{objective},
                                                               assessment => $S{assessment}, plan => $S{plan} });
$r->code == 200 or BAIL_OUT('setup: edit of note A answered ' . $r->code);
(undef, undef, $r) = note_sign($ptok, $aA->{id});
$r->code == 200 or BAIL_OUT('setup: sign A answered ' . $r->code);
note_addendum($ptok, $aA->{id}, $S{addendum1});
(undef, $nA, $r) = note_addendum($ptok, $aA->{id}, $S{addendum2});
$r->code == 201 or BAIL_OUT('setup: addenda of A answered ' . $r->code);
my (undef, $nB) = note_create($ptok, appointmentId => $aB->{id}, type => 'DAP',
    content => { data => $S{data}, assessment => $S{assessment}, plan => $S{plan} }, diagnosis => $S{diagnosis}, privateNotes => $S{private});
my (undef, $nC) = note_create($ptok, appointmentId => $aC->{id}, type => 'Progress', content => { text => $S{text} });
ok($nB && $nC, 'setup: notes B (DAP) and C (Progress)') or BAIL_OUT('setup failed');

my %appt_of = (A => $aA->{id}, B => $aB->{id}, C => $aC->{id});
my %note = (A => $nA, B => $nB, C => $nC);
my %orig_row = map { $_ => note_row($appt_of{$_}) } keys %appt_of;
my @orig_add = addendum_rows($nA->{id});
is(scalar @orig_add, 2, 'setup: two addenda of A');

# ---- nothing readable at rest ---------------------------------------------------------------------------
{
    my $notes_dump = psql_must(q{SELECT row_to_json(n)::text FROM clinical_notes n});
    my $add_dump = psql_must(q{SELECT row_to_json(a)::text FROM note_addenda a});
    my $hex_dump = psql_must(q{SELECT encode(nonce, 'hex') || ':' || encode(ciphertext, 'hex') FROM clinical_notes }
                           . q{UNION ALL SELECT encode(nonce, 'hex') || ':' || encode(ciphertext, 'hex') FROM note_addenda});
    my $esc_dump = psql_must(q{SELECT encode(ciphertext, 'escape') FROM clinical_notes UNION ALL }
                           . q{SELECT encode(ciphertext, 'escape') FROM note_addenda});
    my $audit_dump = psql_must(q{SELECT row_to_json(e)::text FROM audit_events e});
    ok(length $notes_dump && length $add_dump, 'setup: the tables have rows');
    for my $k (sort keys %S) {
        my $s = $S{$k};
        my ($tag) = $s =~ /^(\S+)/;
        my @where;
        push @where, 'clinical_notes (as text)' if index($notes_dump, $tag) >= 0;
        push @where, 'note_addenda (as text)' if index($add_dump, $tag) >= 0;
        push @where, 'a ciphertext (as hex)' if index($hex_dump, utf8_hex($tag)) >= 0 || index($hex_dump, utf8_hex($s)) >= 0;
        push @where, 'a ciphertext (escaped bytes)' if index($esc_dump, $tag) >= 0;
        push @where, 'audit_events' if index($audit_dump, $tag) >= 0;
        ok(!@where, "no plaintext of $k ($tag) at rest") or diag('found in: ' . join(', ', @where));
    }
    # nothing in any other table either (a whole-database dump of text and bytea columns)
    my $all = psql_must(q{SELECT string_agg(t::text, E'\n') FROM (SELECT row_to_json(x)::text AS t FROM users x UNION ALL }
                      . q{SELECT row_to_json(x)::text FROM appointments x UNION ALL SELECT row_to_json(x)::text FROM messages x) s});
    my @hits = grep { index($all, ($S{$_} =~ /^(\S+)/)[0]) >= 0 } sort keys %S;
    ok(!@hits, 'no note plaintext in users, appointments or messages') or diag("@hits");
}

for my $k (qw(A B C)) {
    my $row = note_row($appt_of{$k});
    is($row->{nonce_len}, 12, "note $k: nonce is 12 bytes");
    is($row->{key_id}, 't1', "note $k: key_id t1");
    cmp_ok($row->{ct_len}, '>', 16, "note $k: ciphertext longer than a GCM tag");
}
for my $i (0, 1) {
    is($orig_add[$i]{nonce_len}, 12, "addendum $i: nonce 12 bytes");
    is($orig_add[$i]{key_id}, 't1', "addendum $i: key_id t1");
}
{
    my @nonces = (map { $orig_row{$_}{nonce_hex} } qw(A B C)), map { $_->{nonce_hex} } @orig_add;
    my %seen;
    ok(!grep({ $seen{$_}++ } @nonces), 'every sealed row has its own nonce');
}

# ---- helpers: restore and read ----------------------------------------------------------------------------
sub bypass { return 'SET session_replication_role = replica; ' . $_[0] }    # past the signed-note trigger

sub restore_all {
    for my $k (qw(A B C)) {
        my $o = $orig_row{$k};
        psql_must(bypass(q{UPDATE clinical_notes SET appointment_id = } . sql_quote($o->{appointment_id})
                . q{::uuid, type = } . sql_quote($o->{type}) . q{, key_id = } . sql_quote($o->{key_id})
                . q{, nonce = decode(} . sql_quote($o->{nonce_hex})
                . q{, 'hex'), ciphertext = decode(} . sql_quote($o->{ct_hex}) . q{, 'hex') WHERE id = } . sql_quote($o->{id}) . '::uuid'));
    }
    for my $o (@orig_add) {
        psql_must(q{UPDATE note_addenda SET note_id = } . sql_quote($o->{note_id}) . q{::uuid, key_id = } . sql_quote($o->{key_id})
                . q{, nonce = decode(} . sql_quote($o->{nonce_hex}) . q{, 'hex'), ciphertext = decode(} . sql_quote($o->{ct_hex})
                . q{, 'hex') WHERE id = } . sql_quote($o->{id}) . '::uuid');
    }
}

my $WN = sub { ' WHERE id = ' . sql_quote($note{ $_[0] }{id}) . '::uuid' };

# reads_fine($k, $name): 200 and the note exactly as it was written
sub reads_fine {
    my ($k, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, $g, $res) = note_get($ptok, $appt_of{$k});
    ok($res->code == 200 && ref $g eq 'HASH' && !exists $g->{decryptError}
       && JSON::PP->new->canonical->encode($g) eq JSON::PP->new->canonical->encode($note{$k}), $name)
        or diag(dump_res($res));
}

# reads_tampered($appt_id, $name, %opt): 200, content/diagnosis/privateNotes null, decryptError
# tampered, the unsealed fields still there, none of the plaintext in the answer.
sub reads_tampered {
    my ($appt, $name, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, $g, $res) = note_get($ptok, $appt);
    my @p;
    push @p, 'status ' . $res->code . ', expected 200' unless $res->code == 200;
    if (ref $g eq 'HASH') {
        for my $f (qw(content diagnosis privateNotes)) {
            push @p, "$f is not null" unless exists $g->{$f} && !defined $g->{$f};
        }
        push @p, "decryptError is '" . ($g->{decryptError} // 'undef') . "', expected 'tampered'"
            unless ($g->{decryptError} // '') eq 'tampered';
        for my $f (qw(id appointmentId clientId providerId type createdAt)) {
            push @p, "$f missing on the undecryptable note" unless defined $g->{$f};
        }
        push @p, 'appointmentId is not the requested one' unless ($g->{appointmentId} // '') eq $appt;
    }
    else {
        push @p, 'no JSON object';
    }
    for my $k (grep { !/^addendum/ || !$opt{addenda_ok} } sort keys %S) {
        my ($tag) = $S{$k} =~ /^(\S+)/;
        push @p, "the answer holds $tag" if index($res->content, $tag) >= 0;
    }
    ok(!@p, $name) or diag(join("\n", @p) . "\n" . dump_res($res));
    return $g;
}

sub logged_ok {
    my ($mark, $ids, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $last = $ids->[-1];
    my $log = error_log_since($mark, qr/DP08001: clinical note data \Q$last\E/);
    my @p;
    for my $id (@$ids) {
        push @p, "no DP08001 warning for $id"
            unless $log =~ /\[[\w.]+:warn\] .*DP08001: clinical note data \Q$id\E does not decrypt/;
    }
    for my $k (sort keys %S) {
        my ($tag) = $S{$k} =~ /^(\S+)/;
        push @p, "the log holds $tag" if index($log, $tag) >= 0;
    }
    push @p, 'an error-level line was logged' if $log =~ /^\[[^\]]*\] \[[\w.-]+:(?:error|crit|alert|emerg)\]/m;
    ok(!@p, $name) or diag(join("\n", @p) . "\nlog since the request:\n" . substr($log, 0, 3000));
}

reads_fine($_, "baseline: note $_ reads as written") for qw(A B C);

# ---- a flipped ciphertext byte ---------------------------------------------------------------------------
psql_must(q{UPDATE clinical_notes SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1)} . $WN->('B'));
isnt(note_row($appt_of{B})->{ct_hex}, $orig_row{B}{ct_hex}, 'setup: one ciphertext byte of B flipped');
my $mark = error_log_mark();
my $g = reads_tampered($appt_of{B}, 'flipped ciphertext byte (unsigned B): 200, sealed fields null, decryptError tampered');
logged_ok($mark, [$note{B}{id}], 'a DP08001 warning names the note, without its text');
like(($g && $g->{type}) // '', qr/^DAP$/, 'type still reads DAP');
reads_fine('C', 'note C unaffected');
{
    # writing to an undecryptable note: refused cleanly (never 500), nothing changes
    my $before = note_row($appt_of{B});
    my (undef, undef, $res) = note_patch($ptok, $appt_of{B}, diagnosis => 'new');
    ok($res->code >= 400 && $res->code < 500, 'PATCH diagnosis of an undecryptable note: a 4xx, not 500 (' . $res->code . ')')
        or diag(dump_res($res));
    (undef, undef, $res) = note_sign($ptok, $appt_of{B});
    ok($res->code >= 400 && $res->code < 500, 'signing an undecryptable note: a 4xx, not 500 (' . $res->code . ')')
        or diag(dump_res($res));
    is(note_row($appt_of{B})->{signed_at}, '', 'an undecryptable note is not signed (no hash over unknown content)');
    note_audit_is($res, { action => 'note.sign', outcome => 'failure', client_id => $c->{id} },
             'the refused sign of an undecryptable note is audited as failure');
    is_deeply(note_row($appt_of{B}), $before, 'the undecryptable row is left as it was');
}
restore_all();
reads_fine('B', 'restored: B reads again');

# a signed note: flip a byte past the trigger
psql_must(bypass(q{UPDATE clinical_notes SET ciphertext = set_byte(ciphertext, 5, get_byte(ciphertext, 5) # 64)} . $WN->('A')));
$mark = error_log_mark();
$g = reads_tampered($appt_of{A}, 'flipped byte in signed A: 200, tampered', addenda_ok => 1);
ok($g && ($g->{signedAt} // '') =~ $TS_RE && ($g->{contentHash} // '') =~ /^[0-9a-f]{64}$/,
   'signedAt and contentHash still shown');
is_deeply([map { $_->{text} } @{ $g && $g->{addenda} || [] }], [$S{addendum1}, $S{addendum2}],
          'the addenda (sealed on their own) still read');
logged_ok($mark, [$note{A}{id}], 'DP08001 for the signed note');
restore_all();
reads_fine('A', 'restored: A reads again');

# ---- tag, nonce, length -------------------------------------------------------------------------------
for my $case (
    [q{ciphertext = set_byte(ciphertext, length(ciphertext) - 1, get_byte(ciphertext, length(ciphertext) - 1) # 128)}, 'flipped tag byte'],
    [q{nonce = set_byte(nonce, 11, get_byte(nonce, 11) # 1)}, 'flipped nonce byte'],
    [q{ciphertext = substring(ciphertext from 1 for 10)}, 'ciphertext shorter than a tag'],
    [q{ciphertext = ''::bytea}, 'empty ciphertext'],
    [q{ciphertext = ciphertext || '\x00'::bytea}, 'a byte appended'],
    [q{ciphertext = substring(ciphertext from 1 for length(ciphertext) - 16)}, 'the tag cut off'],
    [q{key_id = 'retired'}, 'a key id not in the ring'],
) {
    psql_must(q{UPDATE clinical_notes SET } . $case->[0] . $WN->('C'));
    reads_tampered($appt_of{C}, "$case->[1] (C): 200, tampered");
    reads_fine('B', "$case->[1]: B unaffected");
    restore_all();
}
reads_fine('C', 'restored: C reads again');

# ---- ciphertexts moved between notes (AAD = note id + appointment id) -----------------------------------------
psql_must(q{UPDATE clinical_notes m SET nonce = o.nonce, ciphertext = o.ciphertext, type = o.type FROM clinical_notes o }
        . q{WHERE (m.id, o.id) IN ((} . sql_quote($note{B}{id}) . '::uuid, ' . sql_quote($note{C}{id}) . q{::uuid), (}
        . sql_quote($note{C}{id}) . '::uuid, ' . sql_quote($note{B}{id}) . q{::uuid))});
is(note_row($appt_of{B})->{ct_hex}, $orig_row{C}{ct_hex}, 'setup: nonce and ciphertext of B and C swapped');
$mark = error_log_mark();
reads_tampered($appt_of{B}, 'swapped B <- C: tampered');
reads_tampered($appt_of{C}, 'swapped C <- B: tampered');
logged_ok($mark, [$note{B}{id}, $note{C}{id}], 'both swapped notes logged');
restore_all();
psql_must(q{UPDATE clinical_notes SET nonce = decode(} . sql_quote($orig_row{B}{nonce_hex}) . q{, 'hex'), ciphertext = decode(}
        . sql_quote($orig_row{B}{ct_hex}) . q{, 'hex'), type = 'DAP'} . $WN->('C'));
reads_tampered($appt_of{C}, 'a copy of B\'s ciphertext in C: tampered');
reads_fine('B', 'the original B still reads');
restore_all();

# the note moved to another appointment of the same provider (same note id, other appointment id)
psql_must(q{UPDATE clinical_notes SET appointment_id = } . sql_quote($aD->{id}) . '::uuid' . $WN->('C'));
reads_tampered($aD->{id}, 'note C moved to appointment D: tampered under D');
{
    my (undef, undef, $res) = note_get($ptok, $appt_of{C});
    error_is($res, 404, 'not_found', undef, 'and C\'s appointment has no note');
}
restore_all();
reads_fine('C', 'restored: C reads again');

# the type column is sealed with the content: changed behind the module's back, the note reads
# as tampered (so a later signature cannot cover a type its content does not have)
psql_must(q{UPDATE clinical_notes SET type = 'Progress'} . $WN->('B'));
reads_tampered($appt_of{B}, 'the type of unsigned B changed in the row (DAP -> Progress): tampered');
restore_all();
reads_fine('B', 'restored: B reads again');

# a message's ciphertext moved into a note (same key ring, other associated data)
{
    my ($mst, $m) = send_message($ctok, $p->{id}, 'a message whose ciphertext wanders');
    is($mst, 201, 'setup: a message');
    my $mr = message_row($m->{id});
    psql_must(q{UPDATE clinical_notes SET nonce = decode(} . sql_quote($mr->{nonce_hex}) . q{, 'hex'), ciphertext = decode(}
            . sql_quote($mr->{ct_hex}) . q{, 'hex')} . $WN->('C'));
    reads_tampered($appt_of{C}, 'a message ciphertext in a note row: tampered');
    restore_all();
}

# ---- addenda --------------------------------------------------------------------------------------------
my $W1 = ' WHERE id = ' . sql_quote($orig_add[0]{id}) . '::uuid';
psql_must(q{UPDATE note_addenda SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1)} . $W1);
$mark = error_log_mark();
{
    my (undef, $d, $res) = note_get($ptok, $appt_of{A});
    is($res->code, 200, 'a flipped addendum byte: GET 200') or diag(dump_res($res));
    my @ad = @{ ref $d eq 'HASH' && $d->{addenda} || [] };
    ok(@ad == 2 && !defined $ad[0]{text} && ($ad[0]{decryptError} // '') eq 'tampered',
       'that addendum reads text null, decryptError tampered') or diag(explain(\@ad));
    is($ad[0] && $ad[0]{contentHash}, $orig_add[0]{content_hash}, 'its contentHash, signedBy, signedAt still shown');
    ok($ad[1] && ($ad[1]{text} // '') eq $S{addendum2} && !exists $ad[1]{decryptError}, 'the other addendum reads fine');
    ok($d && $d->{content} && !exists $d->{decryptError}, 'the note itself reads fine');
    unlike($res->content, qr/TAPIR-ADD/, 'nothing of the tampered addendum comes out');
    logged_ok($mark, [$orig_add[0]{id}], 'the addendum is logged by id');
}
restore_all();
my ($a0, $a1) = map { ' WHERE id = ' . sql_quote($_->{id}) . '::uuid' } @orig_add;
psql_must(q{UPDATE note_addenda m SET nonce = o.nonce, ciphertext = o.ciphertext FROM note_addenda o WHERE (m.id, o.id) IN ((}
        . sql_quote($orig_add[0]{id}) . '::uuid, ' . sql_quote($orig_add[1]{id}) . q{::uuid), (}
        . sql_quote($orig_add[1]{id}) . '::uuid, ' . sql_quote($orig_add[0]{id}) . q{::uuid))});
{
    my (undef, $d, $res) = note_get($ptok, $appt_of{A});
    my @ad = @{ ref $d eq 'HASH' && $d->{addenda} || [] };
    ok($res->code == 200 && @ad == 2 && !grep({ defined $_->{text} || ($_->{decryptError} // '') ne 'tampered' } @ad),
       'two addenda with swapped ciphertexts: both tampered') or diag(dump_res($res));
}
restore_all();
# an addendum moved to another note (same addendum id, other note id)
{
    psql_must(q{UPDATE clinical_notes SET signed_at = now(), signed_by = provider_id, content_hash = repeat('0', 64)} . $WN->('C'));
    psql_must(q{UPDATE note_addenda SET note_id = } . sql_quote($note{C}{id}) . '::uuid' . $a1);
    my (undef, $d, $res) = note_get($ptok, $appt_of{C});
    my @ad = @{ ref $d eq 'HASH' && $d->{addenda} || [] };
    ok($res->code == 200 && @ad == 1 && !defined $ad[0]{text} && ($ad[0]{decryptError} // '') eq 'tampered',
       'an addendum moved to another note: tampered there') or diag(dump_res($res));
    psql_must(bypass(q{UPDATE clinical_notes SET signed_at = NULL, signed_by = NULL, content_hash = NULL} . $WN->('C')));
    restore_all();
}
reads_fine($_, "at the end: note $_ reads as written") for qw(A B C);

done_testing();
