# Clinical notes: writing and reading one note per appointment (docs/api.md, "Notes").
# Every type (SOAP, DAP, Progress) round trip with the full note shape; validation of type and
# content (missing, unknown, non-string, too long fields, with `field` like content.plan); the
# appointment states a note may be written for; one note per appointment (also when two POSTs
# race); PATCH while unsigned (content replaced whole, diagnosis and privateNotes, a type change
# needs the new type's content).
use strict;
use warnings FATAL => 'all';
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my ($ptok, $p) = provider_session(name => 'Dr Notes');
my ($ctok, $c) = client_session($p->{id}, name => 'Noted Client');

sub content_copy { return { %{ $_[0] } } }

# note_shape($note, \%want, $name): the full note object, exact key set, and the given values.
sub note_shape {
    my ($n, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @p;
    if (ref $n ne 'HASH') {
        ok(0, $name) or diag('not an object');
        return;
    }
    my @keys = sort keys %$n;
    push @p, "keys [@keys], expected [@{ NOTE_KEYS() }]" unless "@keys" eq "@{ NOTE_KEYS() }";
    push @p, "id '" . ($n->{id} // 'undef') . "' is not a UUID" unless ($n->{id} // '') =~ $UUID_RE;
    for my $k (qw(createdAt updatedAt)) {
        push @p, "$k '" . ($n->{$k} // 'undef') . "' is not RFC 3339 UTC" unless ($n->{$k} // '') =~ $TS_RE;
    }
    push @p, 'addenda is not an array' unless ref $n->{addenda} eq 'ARRAY';
    for my $k (sort keys %$want) {
        my ($g, $w) = ($n->{$k}, $want->{$k});
        my $same = ref $w ? JSON::PP->new->canonical->encode([$g]) eq JSON::PP->new->canonical->encode([$w])
                          : (defined $g ? (defined $w && !ref $g && $g eq $w) : !defined $w);
        push @p, "$k is " . JSON::PP->new->canonical->allow_nonref->encode($g) . ', expected '
               . JSON::PP->new->canonical->allow_nonref->encode($w) unless $same;
    }
    ok(!@p, $name) or diag(join "\n", @p);
}

# ---- every type: create and read back --------------------------------------------------------------
my %TYPES = (
    SOAP => { subjective => 'S: "can\'t sleep" — since März', objective => "O: tearful\nrestless",
              assessment => 'A: GAD, moderate', plan => 'P: CBT weekly / review in 4 weeks' },
    DAP => { data => 'D: talked about work ✓', assessment => 'A: insight improving', plan => 'P: journaling' },
    Progress => { text => 'Progress: 🙂 better mood this week' },
);
my %note_of;
for my $type (qw(SOAP DAP Progress)) {
    my $a = appointment_for_note($ptok, $ctok);
    my %body = (appointmentId => $a->{id}, type => $type, content => $TYPES{$type});
    if ($type ne 'Progress') {
        $body{diagnosis} = "F41.1 ($type)";
        $body{privateNotes} = "private impression ($type)";
    }
    my ($st, $n, $res) = note_create($ptok, %body);
    success_is($res, 201, "$type: POST /api/provider/clinical-notes 201");
    my %want = (appointmentId => $a->{id}, clientId => $c->{id}, providerId => $p->{id},
                date => $a->{date}, type => $type, content => $TYPES{$type},
                diagnosis => $body{diagnosis}, privateNotes => $body{privateNotes},
                signedAt => undef, signedBy => undef, contentHash => undef, addenda => []);
    note_shape($n, \%want, "$type: the created note has every field, unsigned, no addenda");
    my ($gst, $g, $gres) = note_get($ptok, $a->{id});
    success_is($gres, 200, "$type: GET /api/provider/clinical-notes/:appointmentId 200");
    note_shape($g, \%want, "$type: GET returns the same note");
    is_deeply($g, $n, "$type: GET answers exactly what POST answered");
    my $row = note_row($a->{id});
    is($row && $row->{id}, $n && $n->{id}, "$type: one row in clinical_notes with that id");
    is($row && $row->{type}, $type, "$type: stored type");
    is($row && $row->{client_id}, $c->{id}, "$type: stored client_id is the appointment's client");
    $note_of{$type} = { appt => $a, note => $n };
}
is($note_of{Progress}{note}{diagnosis}, undef, 'Progress without diagnosis: diagnosis null');
is($note_of{Progress}{note}{privateNotes}, undef, 'Progress without privateNotes: privateNotes null');

# upper-case appointment id in the path: the same note
{
    my $a = $note_of{DAP}{appt};
    my (undef, $g, $res) = note_get($ptok, uc $a->{id});
    success_is($res, 200, 'GET with the appointment id in upper case: 200');
    is($g && $g->{appointmentId}, $a->{id}, 'and it answers the canonical (lower-case) id');
}

# ---- validation ----------------------------------------------------------------------------------
my $va = appointment_for_note($ptok, $ctok);
my $vid = $va->{id};
sub refused {
    my ($body, $status, $code, $field, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, undef, $res) = api(POST => '/api/provider/clinical-notes', token => $ptok, json => $body);
    error_is($res, $status, $code, $field, $name);
}
my $soap = SOAP_CONTENT;
refused({ appointmentId => $vid, type => 'BIRP', content => $soap }, 422, 'validation_error', 'type', 'unknown type: 422 field type');
refused({ appointmentId => $vid, type => 'soap', content => $soap }, 422, 'validation_error', 'type', 'type is case-sensitive (soap): 422 field type');
refused({ appointmentId => $vid, content => $soap }, 422, 'validation_error', 'type', 'type missing: 422 field type');
refused({ appointmentId => $vid, type => ['SOAP'], content => $soap }, 422, 'validation_error', 'type', 'type an array: 422 field type');
refused({ type => 'SOAP', content => $soap }, 422, 'validation_error', 'appointmentId', 'appointmentId missing: 422 field appointmentId');
refused({ appointmentId => 42, type => 'SOAP', content => $soap }, 422, 'validation_error', 'appointmentId', 'appointmentId a number: 422');
refused({ appointmentId => $vid, type => 'SOAP' }, 422, 'validation_error', 'content', 'content missing: 422 field content');
refused({ appointmentId => $vid, type => 'SOAP', content => undef }, 422, 'validation_error', 'content', 'content null: 422 field content');
refused({ appointmentId => $vid, type => 'Progress', content => 'just text' }, 422, 'validation_error', 'content', 'content a string: 422 field content');
refused({ appointmentId => $vid, type => 'Progress', content => ['text'] }, 422, 'validation_error', 'content', 'content an array: 422 field content');
for my $f (qw(subjective objective assessment plan)) {
    my $cc = content_copy($soap);
    delete $cc->{$f};
    refused({ appointmentId => $vid, type => 'SOAP', content => $cc }, 422, 'validation_error', "content.$f", "SOAP without $f: 422 field content.$f");
}
for my $f (qw(data assessment plan)) {
    my $cc = content_copy(DAP_CONTENT);
    delete $cc->{$f};
    refused({ appointmentId => $vid, type => 'DAP', content => $cc }, 422, 'validation_error', "content.$f", "DAP without $f: 422 field content.$f");
}
refused({ appointmentId => $vid, type => 'Progress', content => {} }, 422, 'validation_error', 'content.text', 'Progress with {}: 422 field content.text');
refused({ appointmentId => $vid, type => 'SOAP', content => { %$soap, mood => 'low' } }, 422, 'validation_error', 'content.mood', 'SOAP with an unknown field mood: 422 field content.mood');
refused({ appointmentId => $vid, type => 'DAP', content => { %{ DAP_CONTENT() }, subjective => 'x' } }, 422, 'validation_error', 'content.subjective', 'DAP with a SOAP field: 422 content.subjective');
refused({ appointmentId => $vid, type => 'Progress', content => { text => 'x', plan => 'y' } }, 422, 'validation_error', 'content.plan', 'Progress with plan: 422 content.plan');
refused({ appointmentId => $vid, type => 'Progress', content => SOAP_CONTENT }, 422, 'validation_error', qr/^content\.(?:subjective|objective|assessment|plan)$/, 'Progress with SOAP content: 422 on a SOAP field');
refused({ appointmentId => $vid, type => 'SOAP', content => { %$soap, plan => 7 } }, 422, 'validation_error', 'content.plan', 'a number in content.plan: 422 content.plan');
refused({ appointmentId => $vid, type => 'SOAP', content => { %$soap, objective => { x => 1 } } }, 422, 'validation_error', 'content.objective', 'an object in content.objective: 422');
refused({ appointmentId => $vid, type => 'SOAP', content => { %$soap, assessment => ['a'] } }, 422, 'validation_error', 'content.assessment', 'an array in content.assessment: 422');
refused({ appointmentId => $vid, type => 'Progress', content => { text => JSON::PP::true } }, 422, 'validation_error', 'content.text', 'a boolean in content.text: 422');
refused({ appointmentId => $vid, type => 'Progress', content => { text => undef } }, 422, 'validation_error', 'content.text', 'null in content.text: 422');
refused({ appointmentId => $vid, type => 'Progress', content => { text => '' } }, 422, 'validation_error', 'content.text', 'empty content.text: 422');
refused({ appointmentId => $vid, type => 'Progress', content => { text => "a\x01b" } }, 422, 'validation_error', 'content.text', 'a control character in content.text: 422');
refused({ appointmentId => $vid, type => 'Progress', content => PROGRESS_CONTENT, diagnosis => 12 }, 422, 'validation_error', 'diagnosis', 'diagnosis a number: 422 field diagnosis');
refused({ appointmentId => $vid, type => 'Progress', content => PROGRESS_CONTENT, privateNotes => { a => 1 } }, 422, 'validation_error', 'privateNotes', 'privateNotes an object: 422 field privateNotes');

# lengths: 20,000 characters per field (characters, not bytes), one more is refused
my $max = 'x' x 20000;
my $max_mb = "\x{e9}" x 20000;    # 2 bytes each in UTF-8
refused({ appointmentId => $vid, type => 'Progress', content => { text => $max . 'y' } }, 422, 'validation_error', 'content.text', 'content.text of 20,001 characters: 422');
refused({ appointmentId => $vid, type => 'SOAP', content => { %$soap, plan => $max . 'y' } }, 422, 'validation_error', 'content.plan', 'content.plan of 20,001 characters: 422');
refused({ appointmentId => $vid, type => 'Progress', content => PROGRESS_CONTENT, diagnosis => $max . 'y' }, 422, 'validation_error', 'diagnosis', 'diagnosis of 20,001 characters: 422');
refused({ appointmentId => $vid, type => 'Progress', content => PROGRESS_CONTENT, privateNotes => $max . 'y' }, 422, 'validation_error', 'privateNotes', 'privateNotes of 20,001 characters: 422');
refused({ appointmentId => $vid, type => 'Progress', content => { text => $max_mb . "\x{e9}" } }, 422, 'validation_error', 'content.text', '20,001 two-byte characters: 422');
is(note_row($vid), undef, 'none of the refused requests wrote a note');
{
    my ($st, $n, $res) = note_create($ptok, appointmentId => $vid, type => 'SOAP',
                                     content => { subjective => $max, objective => $max_mb, assessment => $max, plan => $max_mb },
                                     diagnosis => $max_mb, privateNotes => $max);
    success_is($res, 201, 'every field at exactly 20,000 characters (also 2-byte ones): 201');
    ok($n && $n->{content} && ($n->{content}{objective} // '') eq $max_mb && ($n->{diagnosis} // '') eq $max_mb
       && ($n->{privateNotes} // '') eq $max, 'the long fields come back intact');
}

# ---- the appointment's state ------------------------------------------------------------------------
for my $status (qw(pending cancelled)) {
    my $a = appointment_for_note($ptok, $ctok, status => $status);
    my (undef, undef, $res) = note_create($ptok, appointmentId => $a->{id}, type => 'Progress', content => PROGRESS_CONTENT);
    error_is($res, 409, 'invalid_transition', undef, "a $status appointment: 409 invalid_transition");
    is(note_row($a->{id}), undef, "no note stored for the $status appointment");
}
{
    my $a = appointment_for_note($ptok, $ctok, status => 'completed');
    my (undef, $n, $res) = note_create($ptok, appointmentId => $a->{id}, type => 'DAP', content => DAP_CONTENT);
    success_is($res, 201, 'a completed appointment: 201');
    is($n && $n->{appointmentId}, $a->{id}, 'the note belongs to the completed appointment');
    # and the note outlives a later change of the appointment's status
}
{
    my $a = appointment_for_note($ptok, $ctok);
    my (undef, undef, $res) = note_create($ptok, appointmentId => $a->{id}, type => 'Progress', content => PROGRESS_CONTENT);
    is($res->code, 201, 'setup: note on a confirmed appointment');
    my ($cst) = api(DELETE => "/api/appointments/$a->{id}", token => $ctok);
    ok($cst == 200 || $cst == 204, 'setup: the appointment is then cancelled');
    my (undef, $g, $gres) = note_get($ptok, $a->{id});
    success_is($gres, 200, 'the note of an appointment cancelled afterwards still reads: 200');
    is($g && $g->{content} && $g->{content}{text}, PROGRESS_CONTENT->{text}, '... with its content');
}

# ---- one note per appointment -----------------------------------------------------------------------
{
    my $a = $note_of{SOAP}{appt};
    my $before = note_row($a->{id});
    my (undef, undef, $res) = note_create($ptok, appointmentId => $a->{id}, type => 'Progress', content => { text => 'second note' });
    error_is($res, 409, 'note_exists', undef, 'a second note for the appointment: 409 note_exists');
    is_deeply(note_row($a->{id}), $before, 'the first note is untouched');
    (undef, undef, $res) = note_create($ptok, appointmentId => uc $a->{id}, type => 'Progress', content => { text => 'second note' });
    error_is($res, 409, 'note_exists', undef, 'the same, with the id in upper case: 409 note_exists');
    is(scalar psql('SELECT count(*) FROM clinical_notes WHERE appointment_id = ' . sql_quote($a->{id}) . '::uuid'), 1,
       'still exactly one row');
}
for my $round (1 .. 3) {
    my $a = appointment_for_note($ptok, $ctok);
    my @r = race(map { { method => 'POST', path => '/api/provider/clinical-notes', token => $ptok,
                         json => { appointmentId => $a->{id}, type => 'Progress', content => { text => "racer $_" } } } } 1 .. 2);
    my @st = sort map { $_->{status} } @r;
    is("@st", '201 409', "round $round: two parallel POSTs for one appointment: one 201, one 409") or diag(join "\n", map { $_->{raw} } @r);
    my ($loser) = grep { $_->{status} == 409 } @r;
    is($loser && $loser->{body} && $loser->{body}{code}, 'note_exists', "round $round: the loser's code is note_exists");
    my ($winner) = grep { $_->{status} == 201 } @r;
    is(scalar psql('SELECT count(*) FROM clinical_notes WHERE appointment_id = ' . sql_quote($a->{id}) . '::uuid'), 1,
       "round $round: one row stored");
    my (undef, $g) = note_get($ptok, $a->{id});
    is($g && $g->{content}{text}, $winner && $winner->{body} && $winner->{body}{content}{text},
       "round $round: the stored note is the winner's");
}

# ---- PATCH while unsigned ----------------------------------------------------------------------------
{
    my $a = appointment_for_note($ptok, $ctok);
    my $id = $a->{id};
    my (undef, $n, $res) = note_create($ptok, appointmentId => $id, type => 'SOAP', content => $soap,
                                       diagnosis => 'F32.0', privateNotes => 'first impression');
    is($res->code, 201, 'setup: a SOAP note to edit') or diag(dump_res($res));
    my $row0 = note_row($id);
    sleep 1;    # updatedAt must move visibly

    my $new = { subjective => 'new S', objective => 'new O', assessment => 'new A', plan => 'new P' };
    my (undef, $u, $ures) = note_patch($ptok, $id, content => $new);
    success_is($ures, 200, 'PATCH content: 200');
    note_shape($u, { id => $n->{id}, type => 'SOAP', content => $new, diagnosis => 'F32.0', privateNotes => 'first impression',
                     createdAt => $n->{createdAt}, signedAt => undef, addenda => [] },
               'PATCH content: the whole content replaced, diagnosis and privateNotes kept, still unsigned');
    ok((ts_epoch($u->{updatedAt}) // 0) > (ts_epoch($n->{updatedAt}) // 9e9), 'updatedAt moved forward');
    my (undef, $g) = note_get($ptok, $id);
    is_deeply($g && $g->{content}, $new, 'GET shows the new content');
    my $row1 = note_row($id);
    isnt($row1->{nonce_hex}, $row0->{nonce_hex}, 'the edit is sealed under a fresh nonce');
    isnt($row1->{ct_hex}, $row0->{ct_hex}, 'the ciphertext changed');
    is($row1->{id}, $row0->{id}, 'same note id');

    # replaced whole: a partial content is not merged, it is refused
    my (undef, undef, $pres) = note_patch($ptok, $id, content => { plan => 'only the plan' });
    error_is($pres, 422, 'validation_error', qr/^content\.(?:subjective|objective|assessment)$/,
             'PATCH with a partial SOAP content: 422 on a missing field (no merge)');
    (undef, undef, $pres) = note_patch($ptok, $id, content => { %$new, mood => 'x' });
    error_is($pres, 422, 'validation_error', 'content.mood', 'PATCH with an unknown content field: 422 content.mood');
    (undef, undef, $pres) = note_patch($ptok, $id, content => 'text');
    error_is($pres, 422, 'validation_error', 'content', 'PATCH with content a string: 422 content');
    (undef, undef, $pres) = note_patch($ptok, $id, content => { %$new, plan => 'z' x 20001 });
    error_is($pres, 422, 'validation_error', 'content.plan', 'PATCH with a 20,001-character plan: 422 content.plan');
    (undef, undef, $pres) = note_patch($ptok, $id, type => 'Narrative');
    error_is($pres, 422, 'validation_error', 'type', 'PATCH with an unknown type: 422 type');
    is_deeply(note_row($id), $row1, 'the refused PATCHes changed nothing');

    # diagnosis and privateNotes
    (undef, $u, $ures) = note_patch($ptok, $id, diagnosis => 'F33.1');
    success_is($ures, 200, 'PATCH diagnosis: 200');
    ok($u && ($u->{diagnosis} // '') eq 'F33.1' && ($u->{privateNotes} // '') eq 'first impression'
       && JSON::PP->new->canonical->encode($u->{content}) eq JSON::PP->new->canonical->encode($new),
       'only the diagnosis changed') or diag(explain($u));
    (undef, $u, $ures) = note_patch($ptok, $id, privateNotes => 'second impression');
    success_is($ures, 200, 'PATCH privateNotes: 200');
    is($u && $u->{privateNotes}, 'second impression', 'privateNotes changed');
    is($u && $u->{diagnosis}, 'F33.1', 'diagnosis kept');
    (undef, $u, $ures) = note_patch($ptok, $id, privateNotes => undef);
    success_is($ures, 200, 'PATCH privateNotes null: 200');
    is($u && $u->{privateNotes}, undef, 'privateNotes cleared to null');
    (undef, undef, $pres) = note_patch($ptok, $id, diagnosis => 5);
    error_is($pres, 422, 'validation_error', 'diagnosis', 'PATCH diagnosis a number: 422 diagnosis');

    # a type change needs the new type's content
    my $row2 = note_row($id);
    (undef, undef, $pres) = note_patch($ptok, $id, type => 'Progress');
    error_is($pres, 422, 'validation_error', qr/^content(?:\.text)?$/, 'PATCH type Progress without content: 422 content');
    (undef, undef, $pres) = note_patch($ptok, $id, type => 'DAP', content => $new);
    error_is($pres, 422, 'validation_error', qr/^content\.(?:subjective|objective)$/,
             'PATCH type DAP with the old SOAP content: 422 on a SOAP field');
    (undef, undef, $pres) = note_patch($ptok, $id, type => 'DAP', content => { data => 'd', assessment => 'a' });
    error_is($pres, 422, 'validation_error', 'content.plan', 'PATCH type DAP with content lacking plan: 422 content.plan');
    is_deeply(note_row($id), $row2, 'refused type changes left the row as it was');
    is(note_row($id)->{type}, 'SOAP', 'still SOAP');
    my $dap = { data => 'DAP data', assessment => 'DAP assessment', plan => 'DAP plan' };
    (undef, $u, $ures) = note_patch($ptok, $id, type => 'DAP', content => $dap);
    success_is($ures, 200, 'PATCH type DAP with DAP content: 200');
    is($u && $u->{type}, 'DAP', 'the note is now DAP');
    is_deeply($u && $u->{content}, $dap, 'with exactly the DAP content');
    is(note_row($id)->{type}, 'DAP', 'stored type DAP');
    (undef, $u, $ures) = note_patch($ptok, $id, type => 'DAP');
    success_is($ures, 200, 'PATCH type unchanged without content: 200');
    is_deeply($u && $u->{content}, $dap, 'content kept');
    (undef, $u, $ures) = api(PATCH => "/api/provider/clinical-notes/$id", token => $ptok, json => {});
    is($ures->code, 200, 'an empty PATCH: 200 (nothing to change)') or diag(dump_res($ures));
}

# ---- server-owned fields are not settable ------------------------------------------------------------
{
    my $a = appointment_for_note($ptok, $ctok);
    my ($other_id, $fake_hash) = (uuid_v4(), 'ab' x 32);
    my (undef, $n, $res) = note_create($ptok, appointmentId => $a->{id}, type => 'Progress', content => PROGRESS_CONTENT,
                                       id => $other_id, clientId => $p->{id}, providerId => $c->{id},
                                       signedAt => '2020-01-01T00:00:00Z', signedBy => $p->{id}, contentHash => $fake_hash,
                                       addenda => [{ text => 'smuggled' }], createdAt => '2020-01-01T00:00:00Z');
    success_is($res, 201, 'create with server-owned fields in the body: 201 (they are ignored)');
    ok($n && $n->{id} ne $other_id && $n->{clientId} eq $c->{id} && $n->{providerId} eq $p->{id}
       && !defined $n->{signedAt} && !defined $n->{signedBy} && !defined $n->{contentHash} && !@{ $n->{addenda} || [1] }
       && $n->{createdAt} !~ /^2020/, 'id, clientId, providerId, signing fields, addenda and createdAt are the server\'s')
        or diag(explain($n));
    my (undef, $u, $ures) = note_patch($ptok, $a->{id}, signedAt => '2020-01-01T00:00:00Z', signedBy => $p->{id},
                                       contentHash => $fake_hash, appointmentId => uuid_v4(), id => $other_id);
    is($ures->code, 200, 'PATCH with only server-owned fields: 200') or diag(dump_res($ures));
    my $row = note_row($a->{id});
    ok($row && $row->{signed_at} eq '' && $row->{content_hash} eq '' && $row->{id} eq $n->{id},
       'the note is still unsigned, same id, same appointment') or diag(explain($row));
    is($u && $u->{appointmentId}, $a->{id}, 'PATCH answers the note of the path\'s appointment');
}

# ---- no note yet ----------------------------------------------------------------------------------
{
    my $a = appointment_for_note($ptok, $ctok);
    my (undef, undef, $res) = note_get($ptok, $a->{id});
    error_is($res, 404, 'not_found', undef, 'GET before a note exists: 404 not_found');
    (undef, undef, $res) = note_patch($ptok, $a->{id}, content => PROGRESS_CONTENT);
    error_is($res, 404, 'not_found', undef, 'PATCH before a note exists: 404');
    (undef, undef, $res) = note_sign($ptok, $a->{id});
    error_is($res, 404, 'not_found', undef, 'sign before a note exists: 404');
    (undef, undef, $res) = note_addendum($ptok, $a->{id}, 'x');
    error_is($res, 404, 'not_found', undef, 'addendum before a note exists: 404');
    (undef, undef, $res) = note_get($ptok, uuid_v4());
    error_is($res, 404, 'not_found', undef, 'GET for an unknown appointment: 404');
    (undef, undef, $res) = note_create($ptok, appointmentId => uuid_v4(), type => 'Progress', content => PROGRESS_CONTENT);
    error_is($res, 404, 'not_found', undef, 'POST for an unknown appointment: 404');
}

# ---- methods ------------------------------------------------------------------------------------------
{
    my $id = $note_of{DAP}{appt}{id};
    my (undef, undef, $res) = api(DELETE => "/api/provider/clinical-notes/$id", token => $ptok);
    error_is($res, 405, 'method_not_allowed', undef, 'DELETE a note: 405');
    my $allow = join ', ', $res->header('Allow');
    ok($allow =~ /\bGET\b/ && $allow =~ /\bPATCH\b/, "Allow names GET and PATCH ($allow)");
    (undef, undef, $res) = api(GET => "/api/provider/clinical-notes/$id/sign", token => $ptok);
    error_is($res, 405, 'method_not_allowed', undef, 'GET .../sign: 405');
    (undef, undef, $res) = api(GET => '/api/provider/clinical-notes', token => $ptok);
    error_is($res, 405, 'method_not_allowed', undef, 'GET /api/provider/clinical-notes: 405');
    is(note_row($id)->{id}, $note_of{DAP}{note}{id}, 'the DAP note is still stored after the refused DELETE');
    (undef, undef, $res) = api(POST => '/api/provider/clinical-notes', token => $ptok, body => '{"appointmentId":',
                               ctype => 'application/json');
    error_is($res, 400, 'invalid_json', undef, 'malformed JSON: 400 invalid_json');
    (undef, undef, $res) = api(POST => '/api/provider/clinical-notes', token => $ptok, body => 'appointmentId=x',
                               ctype => 'application/x-www-form-urlencoded');
    error_is($res, 400, 'invalid_json', undef, 'a form body: 400 invalid_json');
}

done_testing();
