# Every read of patient data produces exactly one audit event. The GET routes are
# read from mod_docportal.c's route table itself: each must be walked here (or be a route that
# touches no user data, flagged DP_ROUTE_NO_AUDIT, which must then write none), so a GET route
# added to the table without a walk fails this file. Each walk makes the request as a practice
# (provider, client, an appointment, a clinical note, messages both ways, an invoice) or as
# another practice, reads the answer's X-Request-Id and finds exactly one audit row with it,
# with the route's action, the caller as actor, the outcome and the client whose data it is.
# Reads done by POST (joining an appointment answers its video link) are walked too. Every
# audited GET route without a token (401) and with the wrong role (403) writes one denied
# event as well; a public one (the calendar feed, whose link is its key) is walked with an
# unknown link instead.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Routes qw(route_table);

# ---- the route table, as the module declares it ------------------------------------------------
my ($routes, $rows_in_table) = eval { route_table() } or BAIL_OUT("route table: $@");
my @routes = @$routes;
is(scalar @routes, $rows_in_table, "every row of the route table is understood ($rows_in_table)");
my %route = map { ("$_->{method} $_->{path}" => $_) } @routes;
my @gets = grep { $_->{method} eq 'GET' } @routes;
ok(@gets >= 15, 'the table has its GET routes (' . scalar(@gets) . ')');

# ---- a practice with data of every kind, and another practice ------------------------------------
stripe_reset();
END { eval { stripe_reset() } }
my ($ptok, $p) = provider_session(name => 'Dr Walked');
my ($ctok, $c) = client_session($p->{id}, name => 'Walked Client');
my ($qtok, $q) = provider_session(name => 'Dr Other');
my ($dtok, $dcl) = client_session($q->{id}, name => 'Other Client');
my ($P, $C) = ($p->{id}, $c->{id});
my $appt = appointment_for_note($ptok, $ctok)->{id};
my $other_appt = appointment_for_note($qtok, $dtok)->{id};
my @setup = (
    [note_create($ptok, appointmentId => $appt, type => 'Progress', content => PROGRESS_CONTENT)],
    [send_message($ctok, $P, 'a question from the client')],
    [send_message($ptok, $C, 'the answer from the provider')],
    [create_invoice($ptok, clientId => $C, amount => 120, appointmentId => $appt)],
    [note_create($qtok, appointmentId => $other_appt, type => 'Progress', content => PROGRESS_CONTENT)],
);
is_deeply([map { $_->[0] } @setup], [201, 201, 201, 201, 201], 'setup: note, messages both ways, invoice, the other note');
# the provider's calendar feed: a public route whose link is the key; read "as feed"
# (no token: the feed's provider is the actor) or "as anonymous" (an unknown link: denied)
my (undef, $feed) = api(POST => '/api/provider/calendar-feed', token => $ptok);
my ($feed_path) = ($feed->{url} // '') =~ m{(/api/calendar/[0-9a-f]{64}\.ics)$};
ok($feed_path, 'setup: the provider\'s calendar feed') or $feed_path = '/api/calendar/none.ics';

my %tok = (provider => $ptok, client => $ctok, other_provider => $qtok, other_client => $dtok,
           feed => undef, anonymous => undef);
my %uid = (provider => $P, client => $C, other_provider => $q->{id}, other_client => $dcl->{id},
           feed => $P, anonymous => '');
my %type = (provider => 'provider', client => 'client', other_provider => 'provider', other_client => 'client',
            feed => 'provider', anonymous => 'anonymous');

# ---- the walks: route => [[as, path, status, outcome, client_id, action?], ...] -----------------
my %walk = (
    'GET /api/auth/me' => [['provider', '/api/auth/me', 200, 'success', ''],
                           ['client', '/api/auth/me', 200, 'success', $C]],
    'GET /api/provider/dashboard' => [['provider', '/api/provider/dashboard', 200, 'success', '']],
    'GET /api/provider/clients' => [['provider', '/api/provider/clients', 200, 'success', '']],
    'GET /api/provider/appointments' => [['provider', '/api/provider/appointments', 200, 'success', ''],
                                         ['provider', '/api/provider/appointments?status=confirmed', 200, 'success', '']],
    'GET /api/client/dashboard' => [['client', '/api/client/dashboard', 200, 'success', $C]],
    'GET /api/client/provider' => [['client', '/api/client/provider', 200, 'success', $C]],
    'GET /api/client/appointments' => [['client', '/api/client/appointments', 200, 'success', $C]],
    'GET /api/appointments/:id' => [['provider', "/api/appointments/$appt", 200, 'success', $C],
                                    ['client', "/api/appointments/$appt", 200, 'success', $C],
                                    ['other_provider', "/api/appointments/$appt", 404, 'denied', ''],
                                    ['other_client', "/api/appointments/$appt", 404, 'denied', '']],
    'GET /api/messages' => [['provider', '/api/messages', 200, 'success', '', 'message.list'],
                            ['client', '/api/messages', 200, 'success', $C, 'message.list'],
                            ['provider', "/api/messages?conversationWith=$C", 200, 'success', $C],
                            ['client', "/api/messages?conversationWith=$P", 200, 'success', $C],
                            ['other_provider', "/api/messages?conversationWith=$C", 404, 'denied', '']],
    'GET /api/provider/clinical-notes/:appointmentId' =>
        [['provider', "/api/provider/clinical-notes/$appt", 200, 'success', $C],
         ['other_provider', "/api/provider/clinical-notes/$appt", 404, 'denied', '']],
    'GET /api/billing/invoices' => [['provider', '/api/billing/invoices', 200, 'success', ''],
                                    ['client', '/api/billing/invoices', 200, 'success', $C]],
    'GET /api/billing/payment-intent' => [['client', '/api/billing/payment-intent?amount=120', 200, 'success', $C]],
    'GET /api/audit' => [['provider', '/api/audit', 200, 'success', ''],
                         ['provider', "/api/audit?clientId=$C", 200, 'success', $C],
                         ['provider', "/api/audit?clientId=$dcl->{id}", 404, 'denied', '']],
    'GET /api/provider/working-hours' => [['provider', '/api/provider/working-hours', 200, 'success', '']],
    'GET /api/provider/time-off' => [['provider', '/api/provider/time-off', 200, 'success', '']],
    'GET /api/provider/available-slots/:date' =>
        [['provider', '/api/provider/available-slots/' . next_year() . '-02-01', 200, 'success', '']],
    'GET /api/client/provider/available-slots/:date' =>
        [['client', '/api/client/provider/available-slots/' . next_year() . '-02-01', 200, 'success', $C]],
    'GET /api/calendar/:token' => [['feed', $feed_path, 200, 'success', ''],
                                   ['anonymous', '/api/calendar/' . ('0' x 64) . '.ics', 404, 'denied', '']],
    # reads by POST: the video link of an appointment
    'POST /api/appointments/:id/join' => [['provider', "/api/appointments/$appt/join", 200, 'success', $C],
                                          ['client', "/api/appointments/$appt/join", 200, 'success', $C],
                                          ['other_provider', "/api/appointments/$appt/join", 404, 'denied', '']],
);
# routes that touch no user data: flagged so in the table, and they write nothing
my %exempt = ('GET /api/health' => ['provider', '/api/health'],
              'GET /api/openapi.json' => ['provider', '/api/openapi.json'],
              'GET /api/auth/config' => ['provider', '/api/auth/config'],
              'GET /api/billing/config' => ['provider', '/api/billing/config']);

for my $r (@gets) {
    my $key = "GET $r->{path}";
    ok($walk{$key} || $exempt{$key}, "$key is walked by this test")
        or diag("a GET route was added to mod_docportal.c: add its walk to %walk in $0");
}
ok($route{$_}, "$_ (walked) is in the route table") for sort keys %walk, keys %exempt;

for my $key (sort keys %walk) {
    my $r = $route{$key} or next;
    for my $w (@{ $walk{$key} }) {
        my ($as, $path, $status, $outcome, $client, $action) = @$w;
        my (undef, undef, $res) = api($r->{method} => $path, token => $tok{$as});
        is($res->code, $status, "$r->{method} $path as $as: $status") or diag(dump_res($res));
        audit_single($res, { action => $action // $r->{action}, resource_type => $r->{rtype}, outcome => $outcome,
                          actor_id => $uid{$as}, actor_type => $type{$as}, client_id => $client },
                  "... one $outcome event, client " . ($client eq '' ? 'none' : $client eq $C ? 'the client' : $client));
    }
}
for my $key (sort keys %exempt) {
    my ($as, $path) = @{ $exempt{$key} };
    like($route{$key}{flags} // '', qr/NO_AUDIT/, "$key is flagged DP_ROUTE_NO_AUDIT");
    my (undef, undef, $res) = api(GET => $path, token => $tok{$as});
    is($res->code, 200, "$key: 200");
    is(scalar(audit_events_for($res->header('X-Request-Id'))), 0, '... and writes no event');
}

# ---- refused before the handler: no token, the wrong role -------------------------------------------
my %sample = map { my $k = $_; ($k => $walk{$k}[0][1]) } keys %walk;
for my $key (sort keys %walk) {
    my $r = $route{$key} or next;
    next if $r->{roles} eq 'PUBLIC';    # no token to refuse: the walk's unknown key is its refusal
    my (undef, undef, $res) = api($r->{method} => $sample{$key});
    is($res->code, 401, "$key without a token: 401");
    audit_single($res, { action => $r->{action}, outcome => 'denied', actor_type => 'anonymous', actor_id => '',
                      client_id => '' }, '... one denied event, anonymous');
    next if $r->{roles} eq 'ANY';
    my $wrong = $r->{roles} eq 'PROVIDER' ? 'client' : 'provider';
    (undef, undef, $res) = api($r->{method} => $sample{$key}, token => $tok{$wrong});
    is($res->code, 403, "$key as a $wrong: 403");
    audit_single($res, { action => $r->{action}, outcome => 'denied', actor_id => $uid{$wrong}, client_id => '' },
              '... one denied event');
}

done_testing();
