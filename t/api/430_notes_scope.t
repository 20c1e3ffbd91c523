# Who may touch a clinical note, and the audit trail of every attempt. Only the
# appointment's provider writes and reads its note: another provider gets 404 on every route
# (never 403, never a hint that a note exists or is signed), every client gets 403 forbidden on
# every notes route (the appointment's own client too), a malformed appointment id is 404, no
# token is 401. Each read and write leaves one audit event (note.create, note.read, note.update,
# note.sign, note.addendum) with the actor, the outcome (success, failure, denied), the
# resource and, for the provider's own notes, client_id = the appointment's client.
use strict;
use warnings FATAL => 'all';
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my ($ptok, $p)   = provider_session(name => 'Dr Owner');
my ($ctok, $c)   = client_session($p->{id}, name => 'Own Client');
my ($c2tok, $c2) = client_session($p->{id}, name => 'Second Client');
my ($xtok, $x)   = provider_session(name => 'Dr Other Practice');
my ($xctok, $xc) = client_session($x->{id}, name => 'Other Practice Client');

my $PRIVATE = 'MONGOOSE-PRIVATE-6174 not for the client';
my $aU = appointment_for_note($ptok, $ctok);    # unsigned note
my $aS = appointment_for_note($ptok, $ctok);    # signed note with an addendum
my $aN = appointment_for_note($ptok, $ctok);    # confirmed, no note
my $aX = appointment_for_note($xtok, $xctok);   # the other practice's, with a note
my (undef, $nU, $r) = note_create($ptok, appointmentId => $aU->{id}, type => 'Progress', content => { text => 'unsigned' },
                                  privateNotes => $PRIVATE);
$r->code == 201 or BAIL_OUT('setup: note U ' . $r->code);
(undef, undef, $r) = note_create($ptok, appointmentId => $aS->{id}, type => 'DAP', content => DAP_CONTENT, privateNotes => $PRIVATE);
$r->code == 201 or BAIL_OUT('setup: note S ' . $r->code);
(undef, undef, $r) = note_sign($ptok, $aS->{id});
$r->code == 200 or BAIL_OUT('setup: sign S ' . $r->code);
my $nS;
(undef, $nS, $r) = note_addendum($ptok, $aS->{id}, 'an addendum');
$r->code == 201 or BAIL_OUT('setup: addendum S ' . $r->code);
my (undef, $nX) = note_create($xtok, appointmentId => $aX->{id}, type => 'Progress', content => { text => 'the other practice' });
ok($nX && $nX->{id}, 'setup: the other practice has its own note');

my %snap = map { $_->{id} => note_row($_->{id}) } $aU, $aS, $aN, $aX;
sub unchanged {
    my ($name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my %now = map { $_ => note_row($_) } keys %snap;
    is_deeply(\%now, \%snap, $name);
    is(scalar(addendum_rows($nS->{id})), 1, "$name (addenda)");
}

# every notes route for an appointment id: [name, method, path, json]
sub routes_for {
    my ($id) = @_;
    return (
        ['create', 'POST', '/api/provider/clinical-notes', { appointmentId => $id, type => 'Progress', content => { text => 'intruder' } }],
        ['read', 'GET', "/api/provider/clinical-notes/$id", undef],
        ['update', 'PATCH', "/api/provider/clinical-notes/$id", { content => { text => 'intruder' } }],
        ['sign', 'POST', "/api/provider/clinical-notes/$id/sign", undef],
        ['addendum', 'POST', "/api/provider/clinical-notes/$id/addenda", { text => 'intruder' }],
    );
}
sub call {
    my ($tok, $rt) = @_;
    my (undef, undef, $res) = api($rt->[1], $rt->[2], (defined $tok ? (token => $tok) : ()),
                                  (defined $rt->[3] ? (json => $rt->[3]) : ()));
    return $res;
}

# ---- another provider: 404 everywhere, audited as denied ---------------------------------------------------
for my $case ([$aN, 'an appointment without a note'], [$aU, 'an unsigned note'], [$aS, 'a signed note']) {
    my ($a, $what) = @$case;
    for my $rt (routes_for($a->{id})) {
        my $res = call($xtok, $rt);
        error_is($res, 404, 'not_found', undef, "another provider, $rt->[0] on $what: 404 not_found");
        unlike($res->content, qr/signed|exists|MONGOOSE/i, "another provider, $rt->[0] on $what: no hint in the answer");
        note_audit_is($res, { action => "note.$rt->[0]", outcome => 'denied', actor_id => $x->{id}, actor_type => 'provider',
                         resource_type => 'clinical_note', resource_id => $a->{id} },
                 "another provider, $rt->[0] on $what: audited note.$rt->[0] denied with the resource");
    }
}
unchanged('the other provider changed nothing');
# and the owner cannot reach the other practice's note either
for my $rt (routes_for($aX->{id})) {
    my $res = call($ptok, $rt);
    error_is($res, 404, 'not_found', undef, "the owner on the other practice's appointment, $rt->[0]: 404");
}
unchanged('nothing changed in the other practice');

# ---- clients: 403 on every route -----------------------------------------------------------------------------
for my $case ([$ctok, $c, 'the appointment\'s own client'], [$c2tok, $c2, 'another client of the provider'],
              [$xctok, $xc, 'a client of another practice']) {
    my ($tok, $u, $who) = @$case;
    for my $a ($aU, $aS, $aN) {
        for my $rt (routes_for($a->{id})) {
            my $res = call($tok, $rt);
            error_is($res, 403, 'forbidden', undef, "$who, $rt->[0]: 403 forbidden");
            unlike($res->content, qr/MONGOOSE|unsigned/, "$who, $rt->[0]: nothing of the note in the answer");
            note_audit_is($res, { action => "note.$rt->[0]", outcome => 'denied', actor_id => $u->{id}, actor_type => 'client' },
                     "$who, $rt->[0]: audited note.$rt->[0] denied");
        }
    }
}
{
    # a client whose body is broken or empty still gets 403 (the role is checked first)
    my (undef, undef, $res) = api(POST => '/api/provider/clinical-notes', token => $ctok, body => '{', ctype => 'application/json');
    error_is($res, 403, 'forbidden', undef, 'a client with malformed JSON: 403 forbidden');
    (undef, undef, $res) = api(PATCH => "/api/provider/clinical-notes/$aU->{id}", token => $ctok);
    error_is($res, 403, 'forbidden', undef, 'a client PATCHing without a body: 403 forbidden');
}
unchanged('the clients changed nothing');
# the client's own views of the appointment carry nothing of the note
{
    my (undef, undef, $res) = appt_get($ctok, $aU->{id});
    is($res->code, 200, 'the client reads its appointment');
    unlike($res->content, qr/MONGOOSE|privateNotes|clinical/i, 'no note, no privateNotes in the client\'s appointment');
    (undef, undef, $res) = api(GET => '/api/client/appointments', token => $ctok);
    unlike($res->content, qr/MONGOOSE/, 'nothing in the client\'s appointment list');
}

# ---- no token, bad token ---------------------------------------------------------------------------------------
for my $rt (routes_for($aU->{id})) {
    my $res = call(undef, $rt);
    error_is($res, 401, 'unauthorized', undef, "no token, $rt->[0]: 401");
    note_audit_is($res, { action => "note.$rt->[0]", outcome => 'denied', actor_type => 'anonymous' },
             "no token, $rt->[0]: audited as anonymous denied");
    $res = call('not.a.token', $rt);
    error_is($res, 401, 'unauthorized', undef, "a garbage token, $rt->[0]: 401");
}
unchanged('anonymous callers changed nothing');

# ---- malformed appointment ids ---------------------------------------------------------------------------------
for my $bad ('not-a-uuid', '12345', "$aU->{id}-1", substr($aU->{id}, 0, 35), '00000000-0000-0000-0000-00000000000g',
             "$aU->{id}x") {
    for my $rt (routes_for($bad)) {
        my $res = call($ptok, $rt);
        error_is($res, 404, 'not_found', undef, "malformed id '$bad', $rt->[0]: 404 not_found");
    }
}
{
    my $res = call($ptok, ['create', 'POST', '/api/provider/clinical-notes',
                           { appointmentId => "'; DROP TABLE clinical_notes; --", type => 'Progress', content => { text => 'x' } }]);
    error_is($res, 404, 'not_found', undef, 'an SQL-looking appointmentId: 404');
    is(scalar psql(q{SELECT count(*) > 0 FROM clinical_notes}), 't', 'and the table is still there');
}
unchanged('malformed ids changed nothing');

# ---- the owner's own audit trail ----------------------------------------------------------------------------------
my %mine = (actor_id => $p->{id}, actor_type => 'provider', resource_type => 'clinical_note', client_id => $c->{id});
my $RES = sub { my ($a, $n) = @_; qr/^(?:\Q$a\E|\Q$n\E)$/ };    # the appointment id (or the note id)
{
    my $a = appointment_for_note($ptok, $c2tok);    # the second client's appointment
    my %own = (%mine, client_id => $c2->{id});
    my (undef, $n, $res) = note_create($ptok, appointmentId => $a->{id}, type => 'SOAP', content => SOAP_CONTENT,
                                       privateNotes => $PRIVATE);
    is($res->code, 201, 'owner: created');
    my $rid = $RES->($a->{id}, $n->{id});
    note_audit_is($res, { %own, action => 'note.create', outcome => 'success', resource_id => $rid },
             'create: note.create success, client_id = the appointment\'s client');
    (undef, undef, $res) = note_create($ptok, appointmentId => $a->{id}, type => 'Progress', content => PROGRESS_CONTENT);
    is($res->code, 409, 'owner: second note 409');
    note_audit_is($res, { %own, action => 'note.create', outcome => 'failure', resource_id => $rid },
             'note_exists: note.create failure with the client');
    (undef, undef, $res) = note_get($ptok, $a->{id});
    is($res->code, 200, 'owner: read');
    note_audit_is($res, { %own, action => 'note.read', outcome => 'success', resource_id => $rid },
             'read: note.read success with the client');
    (undef, undef, $res) = note_patch($ptok, $a->{id}, diagnosis => 'F40.1');
    is($res->code, 200, 'owner: update');
    note_audit_is($res, { %own, action => 'note.update', outcome => 'success', resource_id => $rid },
             'update: note.update success with the client');
    (undef, undef, $res) = note_addendum($ptok, $a->{id}, 'too early');
    is($res->code, 409, 'owner: addendum before signing 409');
    note_audit_is($res, { %own, action => 'note.addendum', outcome => 'failure', resource_id => $rid },
             'addendum before signing: note.addendum failure with the client');
    (undef, undef, $res) = note_sign($ptok, $a->{id});
    is($res->code, 200, 'owner: sign');
    note_audit_is($res, { %own, action => 'note.sign', outcome => 'success', resource_id => $rid },
             'sign: note.sign success with the client');
    (undef, undef, $res) = note_sign($ptok, $a->{id});
    is($res->code, 409, 'owner: sign again 409');
    note_audit_is($res, { %own, action => 'note.sign', outcome => 'failure', resource_id => $rid },
             'second sign: note.sign failure with the client');
    (undef, undef, $res) = note_patch($ptok, $a->{id}, diagnosis => 'after');
    is($res->code, 409, 'owner: edit after signing 409');
    note_audit_is($res, { %own, action => 'note.update', outcome => 'failure', resource_id => $rid },
             'edit after signing: note.update failure with the client');
    (undef, undef, $res) = note_addendum($ptok, $a->{id}, 'late entry');
    is($res->code, 201, 'owner: addendum');
    note_audit_is($res, { %own, action => 'note.addendum', outcome => 'success', resource_id => $rid },
             'addendum: note.addendum success with the client');
    my $trail = psql_must(q{SELECT string_agg(coalesce(action, '') || ' ' || coalesce(resource_id, '') || ' ' || coalesce(client_id::text, ''), E'\n') }
                        . q{FROM audit_events WHERE actor_id = } . sql_quote($p->{id}) . '::uuid');
    unlike($trail, qr/MONGOOSE/, 'no note text in the audit trail');

    my $pend = appointment_for_note($ptok, $c2tok, status => 'pending');
    (undef, undef, $res) = note_create($ptok, appointmentId => $pend->{id}, type => 'Progress', content => PROGRESS_CONTENT);
    is($res->code, 409, 'owner: note on a pending appointment 409');
    note_audit_is($res, { %own, action => 'note.create', outcome => 'failure', resource_id => $pend->{id} },
             'pending appointment: note.create failure with the client');
    (undef, undef, $res) = note_get($ptok, $aN->{id});
    is($res->code, 404, 'owner: read with no note yet 404');
    note_audit_is($res, { %mine, action => 'note.read', outcome => qr/^(?:denied|failure)$/, resource_id => $aN->{id},
                     client_id => qr/^(?:|\Q$c->{id}\E)$/ },
             'no note yet: note.read recorded as a refused read');
}

# ---- no route answers without an audit event (the module's own DP01003 check) -------------------------------
{
    my $log = error_log_since(0);
    unlike($log, qr/DP01003: \S+ \/api\/provider\/clinical-notes/, 'no "answered without writing an audit event" for the notes routes');
}

done_testing();
