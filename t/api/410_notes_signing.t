# Signing a clinical note and its addenda: POST .../sign answers signedAt, signedBy
# (the provider) and contentHash, the SHA-256 of the canonical note (JSON, sorted keys, compact,
# UTF-8, of {appointmentId, content, diagnosis, privateNotes, type}); a signed note is final:
# a second sign and every PATCH are 409 note_signed, the stored row stays as it was, and the
# database itself refuses an UPDATE of a signed row, even from the app role. Changes go in as
# addenda ({text}), each signed (author, time, SHA-256 of the text), kept in order; an addendum
# to an unsigned note is refused.
use strict;
use warnings FATAL => 'all';
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use Digest::SHA qw(sha256_hex);

my ($ptok, $p) = provider_session(name => 'Dr Signer');
my ($ctok, $c) = client_session($p->{id}, name => 'Signed Client');

# sign_ok($appt_id, $note_before, $name) -> the signed note: 200, signed fields, hash over the
# canonical note.
sub sign_ok {
    my ($appt, $before, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $t0 = time;
    my (undef, $s, $res) = note_sign($ptok, $appt);
    success_is($res, 200, "$name: POST .../sign 200");
    my @p;
    if (ref $s ne 'HASH') {
        push @p, 'no note in the answer';
    }
    else {
        push @p, "signedAt '" . ($s->{signedAt} // 'undef') . "' is not RFC 3339 UTC" unless ($s->{signedAt} // '') =~ $TS_RE;
        my $at = ts_epoch($s->{signedAt}) // 0;
        push @p, "signedAt $s->{signedAt} is not now" unless abs($at - $t0) <= 5;
        push @p, "signedBy '" . ($s->{signedBy} // 'undef') . "', expected the provider $p->{id}"
            unless ($s->{signedBy} // '') eq $p->{id};
        push @p, "contentHash '" . ($s->{contentHash} // 'undef') . "' is not 64 lower-case hex"
            unless ($s->{contentHash} // '') =~ /^[0-9a-f]{64}$/;
        for my $k (qw(id appointmentId type content diagnosis privateNotes createdAt)) {
            my $same = JSON::PP->new->canonical->allow_nonref->encode($s->{$k})
                    eq JSON::PP->new->canonical->allow_nonref->encode($before->{$k});
            push @p, "$k changed by signing" unless $same;
        }
        my @keys = sort keys %$s;
        push @p, "keys [@keys]" unless "@keys" eq "@{ NOTE_KEYS() }";
    }
    ok(!@p, "$name: signedAt now, signedBy the provider, a 64-hex contentHash, nothing else changed")
        or diag(join("\n", @p) . "\n" . dump_res($res));
    my ($want, $canon) = note_hash_expected($before);
    is($s && $s->{contentHash}, $want, "$name: contentHash = SHA-256 of the canonical note")
        or diag("canonical form hashed by the test:\n$canon");
    return $s;
}

# ---- signing each type ------------------------------------------------------------------------------
my %cases = (
    SOAP => { type => 'SOAP',
              content => { subjective => "Client says: \"I'm fine\" \\ not really\n\tdetails", objective => 'ruhig, müde — 😴',
                           assessment => 'a/b <c> & d', plan => 'plan ✓' },
              diagnosis => 'F41.1 — GAD', privateNotes => 'hunch: family stress' },
    DAP => { type => 'DAP', content => { data => 'd', assessment => 'a', plan => 'p' }, diagnosis => 'Z63.0' },
    Progress => { type => 'Progress', content => { text => 'only text, nothing else set' } },
);
my %signed;
for my $name (qw(SOAP DAP Progress)) {
    my $a = appointment_for_note($ptok, $ctok, status => $name eq 'DAP' ? 'completed' : 'confirmed');
    my (undef, $n, $res) = note_create($ptok, appointmentId => $a->{id}, %{ $cases{$name} });
    is($res->code, 201, "setup: $name note") or diag(dump_res($res));
    my $s = sign_ok($a->{id}, $n, $name);
    my $row = note_row($a->{id});
    ok($row->{signed_at} ne '' && $row->{signed_by} eq $p->{id} && $row->{content_hash} eq ($s->{contentHash} // ''),
       "$name: the row records signed_at, signed_by and the same content_hash") or diag(explain($row));
    my (undef, $g, $gres) = note_get($ptok, $a->{id});
    success_is($gres, 200, "$name: GET the signed note 200");
    is_deeply($g, $s, "$name: GET answers the signed note as sign answered it");
    $signed{$name} = { appt => $a, note => $s, row => $row };
}

# the canonical form, spelled out once (and independently of note_hash_expected)
{
    my $s = $signed{Progress}{note};
    my $canon = '{"appointmentId":"' . $s->{appointmentId} . '","content":{"text":"only text, nothing else set"},'
              . '"diagnosis":null,"privateNotes":null,"type":"Progress"}';
    is($s->{contentHash}, sha256_hex($canon), 'Progress: the hash is over exactly ' . $canon);
}

# the hash covers the content at signing time, after an edit
{
    my $a = appointment_for_note($ptok, $ctok);
    my (undef, $n) = note_create($ptok, appointmentId => $a->{id}, type => 'DAP', content => DAP_CONTENT, privateNotes => 'p1');
    my (undef, $u, $ures) = note_patch($ptok, $a->{id}, type => 'Progress', content => { text => 'rewritten before signing' },
                                       diagnosis => 'F43.2');
    is($ures->code, 200, 'setup: edited (type, content, diagnosis) before signing');
    my $s = sign_ok($a->{id}, $u, 'edited note');
    isnt($s && $s->{contentHash}, (note_hash_expected($n))[0], 'the hash is not the one of the first version');
}

# ---- after signing: no second sign, no edit ---------------------------------------------------------
{
    my $a = $signed{SOAP}{appt};
    my $row = note_row($a->{id});
    my (undef, undef, $res) = note_sign($ptok, $a->{id});
    error_is($res, 409, 'note_signed', undef, 'signing twice: 409 note_signed');
    is_deeply(note_row($a->{id}), $row, 'signing twice changed nothing (signed_at, hash)');
    my @edits = (
        [content => { subjective => 's', objective => 'o', assessment => 'a', plan => 'p' }],
        [diagnosis => 'changed'],
        [privateNotes => 'changed'],
        [privateNotes => undef],
        [type => 'Progress', content => { text => 'x' }],
        [type => 'SOAP'],
    );
    for my $e (@edits) {
        my (undef, undef, $r) = note_patch($ptok, $a->{id}, @$e);
        error_is($r, 409, 'note_signed', undef, 'PATCH of a signed note (' . join(',', grep { !ref && defined } @$e) . '): 409 note_signed');
    }
    is_deeply(note_row($a->{id}), $row, 'the stored row is unchanged after the refused edits (psql)');
    my (undef, $g) = note_get($ptok, $a->{id});
    is_deeply($g, $signed{SOAP}{note}, 'and GET reads the note as signed');
}

# ---- the database refuses changes to a signed row --------------------------------------------------
{
    my $a = $signed{DAP}{appt};
    my $id = $signed{DAP}{note}{id};
    my $row = note_row($a->{id});
    my ($out, $rc, $err) = psql_app(q{UPDATE clinical_notes SET type = 'Progress' WHERE id = } . sql_quote($id) . '::uuid');
    isnt($rc, 0, 'app role: UPDATE clinical_notes SET type of a signed note fails');
    like($err, qr/signed|ERROR/, 'with an error') or diag($err);
    ($out, $rc, $err) = psql_app(q{UPDATE clinical_notes SET signed_at = NULL, signed_by = NULL, content_hash = NULL WHERE id = }
                               . sql_quote($id) . '::uuid');
    isnt($rc, 0, 'app role: un-signing a signed note (signed_at NULL) fails');
    ($out, $rc, $err) = psql_app(q{UPDATE clinical_notes SET ciphertext = ciphertext || '\x00'::bytea WHERE id = } . sql_quote($id) . '::uuid');
    isnt($rc, 0, 'app role: changing the ciphertext of a signed note fails');
    ($out, $rc, $err) = psql_app(q{UPDATE clinical_notes SET content_hash = repeat('0', 64) WHERE id = } . sql_quote($id) . '::uuid');
    isnt($rc, 0, 'app role: rewriting the content_hash of a signed note fails');
    ($out, $rc, $err) = psql_app(q{UPDATE clinical_notes SET updated_at = now() WHERE id = } . sql_quote($id) . '::uuid');
    isnt($rc, 0, 'app role: even touching updated_at of a signed note fails');
    ($out, $rc, $err) = psql_app(q{DELETE FROM clinical_notes WHERE id = } . sql_quote($id) . '::uuid');
    isnt($rc, 0, 'app role: DELETE of a note fails');
    ($out, $rc, $err) = psql(q{UPDATE clinical_notes SET type = 'Progress' WHERE id = } . sql_quote($id) . '::uuid');
    isnt($rc, 0, 'even the superuser\'s plain UPDATE of a signed note fails (the trigger)');
    is_deeply(note_row($a->{id}), $row, 'the signed row is unchanged');
    # an unsigned note is not blocked by the trigger (so the refusals above are about signing)
    my $u = appointment_for_note($ptok, $ctok);
    my (undef, $un) = note_create($ptok, appointmentId => $u->{id}, type => 'Progress', content => PROGRESS_CONTENT);
    ($out, $rc, $err) = psql_app(q{UPDATE clinical_notes SET updated_at = updated_at WHERE id = } . sql_quote($un->{id}) . '::uuid');
    is($rc, 0, 'app role: the same kind of UPDATE on an unsigned note works') or diag($err);
    # note_addenda: append-only for the app role
    my (undef, undef, $ar) = note_addendum($ptok, $a->{id}, 'an addendum that must stay');
    is($ar->code, 201, 'setup: an addendum');
    ($out, $rc, $err) = psql_app(q{UPDATE note_addenda SET content_hash = repeat('0', 64) WHERE note_id = } . sql_quote($id) . '::uuid');
    isnt($rc, 0, 'app role: UPDATE note_addenda fails');
    ($out, $rc, $err) = psql_app(q{DELETE FROM note_addenda WHERE note_id = } . sql_quote($id) . '::uuid');
    isnt($rc, 0, 'app role: DELETE FROM note_addenda fails');
    is(scalar(addendum_rows($id)), 1, 'the addendum is still there');
}

# ---- addenda ------------------------------------------------------------------------------------------
{
    my $a = appointment_for_note($ptok, $ctok);
    my (undef, $n) = note_create($ptok, appointmentId => $a->{id}, type => 'Progress', content => { text => 'session one' });
    my (undef, undef, $res) = note_addendum($ptok, $a->{id}, 'too early');
    error_is($res, 409, ['invalid_transition', 'note_signed'], undef, 'an addendum to an unsigned note: 409');
    is(scalar(addendum_rows($n->{id})), 0, 'nothing stored');
    my $s = sign_ok($a->{id}, $n, 'note for addenda');

    for my $bad ([{}, 'text missing'], [{ text => '' }, 'empty text'], [{ text => undef }, 'text null'],
                 [{ text => 12 }, 'text a number'], [{ text => ['x'] }, 'text an array'],
                 [{ text => 'y' x 20001 }, 'text of 20,001 characters']) {
        (undef, undef, $res) = note_addendum($ptok, $a->{id}, $bad->[0]);
        error_is($res, 422, 'validation_error', 'text', "addendum with $bad->[1]: 422 field text");
    }
    is(scalar(addendum_rows($n->{id})), 0, 'no addendum stored by the refused requests');

    # the third one is the longest allowed (20,000 characters)
    my @texts = ('Addendum 1: client called, "feeling better"', "Addendum 2: corrected date\nline two — ü ✓",
                 'z' x 20000);
    my @got;
    my $t0 = time;
    for my $i (0 .. $#texts) {
        my (undef, $d, $r) = note_addendum($ptok, $a->{id}, $texts[$i]);
        success_is($r, 201, 'addendum ' . ($i + 1) . ': 201');
        push @got, $d;
        my $ad = ref $d eq 'HASH' && ref $d->{addenda} eq 'ARRAY' ? $d->{addenda} : [];
        is(scalar @$ad, $i + 1, 'addendum ' . ($i + 1) . ': the answer lists ' . ($i + 1) . ' addenda');
        my $last = $ad->[-1] || {};
        my @keys = sort keys %$last;
        is("@keys", "@{ ADDENDUM_KEYS() }", 'addendum ' . ($i + 1) . ': keys id, text, signedBy, signedAt, contentHash');
        ok(($last->{id} // '') =~ $UUID_RE, 'addendum ' . ($i + 1) . ': a UUID id');
        is($last->{text}, $texts[$i], 'addendum ' . ($i + 1) . ': its text');
        is($last->{signedBy}, $p->{id}, 'addendum ' . ($i + 1) . ': signedBy the provider');
        ok(($last->{signedAt} // '') =~ $TS_RE && abs((ts_epoch($last->{signedAt}) // 0) - $t0) <= 10,
           'addendum ' . ($i + 1) . ': signedAt RFC 3339, now') or diag($last->{signedAt});
        is($last->{contentHash}, sha256_text($texts[$i]), 'addendum ' . ($i + 1) . ': contentHash = SHA-256 of the text (UTF-8)');
    }
    my (undef, $g, $gres) = note_get($ptok, $a->{id});
    success_is($gres, 200, 'GET the note with addenda');
    is_deeply([map { $_->{text} } @{ $g->{addenda} || [] }], \@texts, 'GET lists the three addenda, oldest first');
    is_deeply($g->{addenda}, $got[-1]{addenda}, 'GET and the last POST agree on the addenda');
    my @at = map { ts_epoch($_->{signedAt}) // 0 } @{ $g->{addenda} || [] };
    ok($at[0] <= $at[1] && $at[1] <= $at[2], 'signedAt never goes backwards along the list');
    is($g->{contentHash}, $s->{contentHash}, 'the note\'s own contentHash is unchanged by addenda');
    is($g->{signedAt}, $s->{signedAt}, 'the note\'s signedAt is unchanged by addenda');
    is_deeply($g->{content}, $n->{content}, 'the note\'s content is unchanged by addenda');
    my @rows = addendum_rows($n->{id});
    is(scalar @rows, 3, 'three rows in note_addenda');
    is_deeply([map { $_->{id} } @rows], [map { $_->{id} } @{ $g->{addenda} || [] }], 'rows and answer in the same order');
    is_deeply([map { $_->{author_id} } @rows], [($p->{id}) x 3], 'author_id is the provider on every row');
    is_deeply([map { $_->{content_hash} } @rows], [map { sha256_text($_) } @texts], 'content_hash stored per addendum');
    # still no edits
    (undef, undef, $res) = note_patch($ptok, $a->{id}, content => { text => 'edit after addenda' });
    error_is($res, 409, 'note_signed', undef, 'PATCH after addenda: still 409 note_signed');
}

# ---- races around signing ---------------------------------------------------------------------------------
for my $round (1 .. 3) {
    my $a = appointment_for_note($ptok, $ctok);
    my (undef, $n) = note_create($ptok, appointmentId => $a->{id}, type => 'Progress', content => { text => "before $round" });
    my $path = "/api/provider/clinical-notes/$a->{id}";
    my @r = race({ method => 'PATCH', path => $path, token => $ptok, json => { content => { text => "patched $round" } } },
                 { method => 'POST', path => "$path/sign", token => $ptok },
                 { method => 'POST', path => "$path/sign", token => $ptok });
    my ($patch, @signs) = @r;
    my @sst = sort map { $_->{status} } @signs;
    is("@sst", '200 409', "round $round: two parallel signs: one 200, one 409") or diag(join "\n---\n", map { $_->{raw} } @signs);
    ok($patch->{status} == 200 || ($patch->{status} == 409 && ($patch->{body}{code} // '') eq 'note_signed'),
       "round $round: the racing PATCH is 200 (before signing) or 409 note_signed") or diag($patch->{raw});
    my (undef, $g) = note_get($ptok, $a->{id});
    my $want_text = $patch->{status} == 200 ? "patched $round" : "before $round";
    is($g && $g->{content}{text}, $want_text, "round $round: the stored content agrees with the PATCH's answer");
    is($g && $g->{contentHash}, (note_hash_expected($g))[0], "round $round: the hash matches the content that was signed");
    my ($won) = grep { $_->{status} == 200 } @signs;
    is($g && $g->{signedAt}, $won && $won->{body} && $won->{body}{signedAt}, "round $round: signedAt is the winning sign's");
}
{
    my $a = appointment_for_note($ptok, $ctok);
    my (undef, $n) = note_create($ptok, appointmentId => $a->{id}, type => 'Progress', content => { text => 'for parallel addenda' });
    note_sign($ptok, $a->{id});
    my @r = race(map { { method => 'POST', path => "/api/provider/clinical-notes/$a->{id}/addenda", token => $ptok,
                         json => { text => "parallel addendum $_" } } } 1 .. 4);
    is_deeply([map { $_->{status} } @r], [(201) x 4], 'four parallel addenda: all 201');
    my (undef, $g) = note_get($ptok, $a->{id});
    is_deeply([sort map { $_->{text} } @{ $g->{addenda} || [] }], [map { "parallel addendum $_" } 1 .. 4],
              'all four are listed, none lost');
}

done_testing();
