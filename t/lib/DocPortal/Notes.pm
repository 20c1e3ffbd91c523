package DocPortal::Notes;
# Clinical notes: the endpoints, an appointment in the state a note needs, the encrypted rows,
# the content hash, and the audit row of a note request.
use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use DocPortal::Http qw(api dump_res);
use DocPortal::Db qw(sql_quote psql_must psql_rows audit_problems);
use DocPortal::Scheduling qw(book appt_get appt_patch appt_to_past day_offset);

our @EXPORT = qw(
    note_create note_get note_patch note_sign note_addendum
    appointment_for_note note_row addendum_rows
    note_hash_expected sha256_text note_audit_is
    NOTE_KEYS ADDENDUM_KEYS SOAP_CONTENT DAP_CONTENT PROGRESS_CONTENT
);

use constant NOTE_KEYS => [sort qw(id appointmentId clientId providerId date type content diagnosis
                                   privateNotes signedAt signedBy contentHash addenda createdAt
                                   updatedAt)];
use constant ADDENDUM_KEYS => [sort qw(id text signedBy signedAt contentHash)];

# Content of each type, with every field filled (callers copy and change them).
use constant SOAP_CONTENT => { subjective => 'reports poor sleep', objective => 'flat affect',
                               assessment => 'mild depressive episode', plan => 'weekly CBT' };
use constant DAP_CONTENT => { data => 'discussed the week', assessment => 'progressing',
                              plan => 'continue' };
use constant PROGRESS_CONTENT => { text => 'steady progress on goals' };

# note_create($token, %body) -> (status, body, res): POST /api/provider/clinical-notes.
# A field given as undef is left out.
sub note_create {
    my ($token, %b) = @_;
    delete @b{ grep { !defined $b{$_} } keys %b };
    return api(POST => '/api/provider/clinical-notes', token => $token, json => \%b);
}

# note_get($token, $appointment_id) -> (status, body, res)
sub note_get {
    my ($token, $appt) = @_;
    return api(GET => "/api/provider/clinical-notes/$appt", token => $token);
}

# note_patch($token, $appointment_id, %body) -> (status, body, res); a field given as undef is
# sent as JSON null.
sub note_patch {
    my ($token, $appt, %b) = @_;
    return api(PATCH => "/api/provider/clinical-notes/$appt", token => $token, json => \%b);
}

# note_sign($token, $appointment_id) -> (status, body, res): a body-less POST
sub note_sign {
    my ($token, $appt) = @_;
    return api(POST => "/api/provider/clinical-notes/$appt/sign", token => $token);
}

# note_addendum($token, $appointment_id, $text_or_hashref) -> (status, body, res)
sub note_addendum {
    my ($token, $appt, $text) = @_;
    my $body = ref $text ? $text : { text => $text };
    return api(POST => "/api/provider/clinical-notes/$appt/addenda", token => $token,
               json => $body);
}

my $note_slot = 0;

# appointment_for_note($provider_token, $client_token, %opt) -> the appointment (hashref) in the
# state opt status asks for: confirmed (default), completed (confirmed, moved 2 h into the past,
# completed), pending or cancelled. Each call books its own future day (no overlaps). Dies
# when a setup step fails.
sub appointment_for_note {
    my ($ptok, $ctok, %o) = @_;
    my $status = $o{status} // 'confirmed';
    $note_slot++;
    my ($st, $a, $res) = book($ctok, date => day_offset(20 + $note_slot),
                              time => $o{time} // '10:00', duration => 50);
    die "appointment_for_note: booking answered $st\n" . dump_res($res) unless $st == 201;
    my $id = $a->{id};
    if ($status eq 'cancelled') {
        ($st, undef, $res) = api(DELETE => "/api/appointments/$id", token => $ctok);
        die "appointment_for_note: cancel answered $st\n" . dump_res($res) unless $st == 200 || $st == 204;
    }
    elsif ($status ne 'pending') {
        ($st, $a, $res) = appt_patch($ptok, $id, status => 'confirmed');
        die "appointment_for_note: confirm answered $st\n" . dump_res($res) unless $st == 200;
        if ($status eq 'completed') {
            appt_to_past($id, 120);
            ($st, $a, $res) = appt_patch($ptok, $id, status => 'completed');
            die "appointment_for_note: complete answered $st\n" . dump_res($res) unless $st == 200;
        }
    }
    ($st, $a, $res) = appt_get($ptok, $id);
    die "appointment_for_note: GET answered $st\n" . dump_res($res) unless $st == 200;
    die "appointment_for_note: status is $a->{status}, wanted $status\n" unless $a->{status} eq $status;
    return $a;
}

my @NOTE_COLS = qw(id appointment_id provider_id client_id type key_id nonce_hex ct_hex nonce_len
                   ct_len signed_at signed_by content_hash created_at updated_at);

# note_row($appointment_id) -> hashref of the clinical_notes row (superuser psql; NULL as ''):
# {id, appointment_id, provider_id, client_id, type, key_id, nonce_hex, ct_hex, nonce_len,
#  ct_len, signed_at, signed_by, content_hash, created_at, updated_at}, or undef when none.
sub note_row {
    my ($appt) = @_;
    my $out = psql_must(
        q{SELECT id, appointment_id, provider_id, client_id, type, key_id, encode(nonce, 'hex'), }
      . q{encode(ciphertext, 'hex'), length(nonce), length(ciphertext), }
      . q{coalesce(signed_at::text, ''), coalesce(signed_by::text, ''), coalesce(content_hash, ''), }
      . q{created_at::text, updated_at::text }
      . q{FROM clinical_notes WHERE appointment_id = } . sql_quote($appt) . q{::uuid});
    return undef unless length $out;
    my %r;
    @r{@NOTE_COLS} = split /\|/, $out, -1;
    return \%r;
}

my @ADD_COLS = qw(id note_id author_id key_id nonce_hex ct_hex nonce_len content_hash signed_at);

# addendum_rows($note_id) -> list of hashrefs of note_addenda rows, oldest first:
# {id, note_id, author_id, key_id, nonce_hex, ct_hex, nonce_len, content_hash, signed_at}
sub addendum_rows {
    my ($note_id) = @_;
    my $out = psql_must(
        q{SELECT id, note_id, author_id, key_id, encode(nonce, 'hex'), encode(ciphertext, 'hex'), }
      . q{length(nonce), content_hash, signed_at::text FROM note_addenda WHERE note_id = }
      . sql_quote($note_id) . q{::uuid ORDER BY signed_at, id});
    return psql_rows($out, @ADD_COLS);
}

# sha256_text($text): SHA-256 hex of the text's UTF-8 bytes
sub sha256_text {
    my ($s) = @_;
    require Digest::SHA;
    my $b = $s;
    utf8::encode($b) if utf8::is_utf8($b);
    return Digest::SHA::sha256_hex($b);
}

# note_hash_expected($note) -> (hash, canonical text): SHA-256 hex over the canonical note, JSON
# with sorted keys, compact, UTF-8, of {appointmentId, content, diagnosis, privateNotes, type}
# (null for an unset diagnosis or privateNotes), from a note as the API answers it.
sub note_hash_expected {
    my ($n) = @_;
    my $canon = JSON::PP->new->utf8->canonical->encode({
        appointmentId => $n->{appointmentId}, content => $n->{content},
        diagnosis => $n->{diagnosis}, privateNotes => $n->{privateNotes}, type => $n->{type} });
    require Digest::SHA;
    return (Digest::SHA::sha256_hex($canon), $canon);
}

# note_audit_is($res, {field => want ...}, $name): exactly one audit row for the response's
# X-Request-Id and it has those values ('' for NULL; a Regexp matches). Returns the row.
sub note_audit_is {
    my ($res, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $rid = $res->header('X-Request-Id');
    my ($p, @rows) = audit_problems($rid, $want);
    Test::More::ok(!@$p, $name)
        or Test::More::diag(join("\n", @$p) . "\nrequest: " . $res->request->method . ' '
                            . $res->request->uri . ' -> ' . $res->code);
    return $rows[0];
}

1;
