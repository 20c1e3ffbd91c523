# GET /api/audit as CSV: chosen by the Accept header (q-values honoured, JSON the
# default), text/csv; charset=utf-8 as an attachment named audit-<date>.csv, a header row,
# RFC 4180 quoting (comma, quote, CR, LF), spreadsheet formulas neutralised with a leading
# apostrophe (= + - @ TAB CR), the same rows, filters, sort and paging as the JSON answer, a
# larger limit (100000) streamed in chunks, one audit.read event, errors still JSON.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DocPortal::Test;

my ($ptok, $p) = provider_session(name => 'Dr Export');
my ($ctok, $c) = client_session($p->{id}, name => 'Exported Client');
my $pid = $p->{id};
my $cid = $c->{id};
my @CSV = (Accept => 'text/csv');
my @HEADER = qw(id at actorId actorType action resourceType resourceId clientId ip outcome);

# ---- values a spreadsheet would mangle ----------------------------------------------------------
my %J = (from => '2020-06-01T00:00:00Z', to => '2020-07-01T00:00:00Z');
my @tricky = ('a,b', 'say "hi"', "line1\nline2", "cr\r\nlf", '+1', '-2', '@SUM(A1)', "\tTAB", "\rCR",
              '-a,b', "Jos\xc3\xa9", 'plain', '=1+1', "'already", '');
my $i = 0;
my @events = audit_insert_events(
    (map { { at => sprintf('2020-06-10T10:%02d:00Z', $i++), actor_id => $cid, actor_type => 'client',
             action => 'test.read', resource_type => 'thing', resource_id => $_, client_id => $cid,
             ip => '10.1.1.1' } } @tricky),
    { at => '2020-06-11T08:00:00Z', actor_id => $pid, actor_type => 'provider',
      action => '=HYPERLINK("http://evil.example","x")', client_id => $cid, outcome => 'denied' },
    { at => '2020-06-11T09:00:00Z', actor_type => 'anonymous', action => 'x,y', client_id => $cid,
      outcome => 'failure' },
);

my ($st, $d, $res) = audit_report($ptok, { %J, sort => 'at', limit => 1000 }, @CSV);
is($res->code, 200, 'Accept: text/csv: 200') or diag(dump_res($res));
is($res->header('Content-Type'), 'text/csv; charset=utf-8', 'Content-Type: text/csv; charset=utf-8');
require HTTP::Date;
my @date = gmtime(HTTP::Date::str2time($res->header('Date') // '') // time);
my $day = sprintf '%04d-%02d-%02d', $date[5] + 1900, $date[4] + 1, $date[3];
is($res->header('Content-Disposition'), qq{attachment; filename="audit-$day.csv"},
   'Content-Disposition: attachment; filename="audit-<date>.csv"');
is($res->header('X-Total-Count'), scalar @events, 'X-Total-Count: ' . scalar @events);
like($res->header('Vary') // '', qr/\bAccept\b/, 'Vary: Accept');
is_deeply([common_headers_problems($res)], [], 'X-Request-Id, no-store, nosniff as on every answer');
audit_single($res, { action => 'audit.read', resource_type => 'audit', outcome => 'success',
                     actor_id => $pid, client_id => '' }, 'one audit.read event for the export');

my $body = $res->content;
my @records = eval { csv_parse($body) };
ok(!$@, 'the body is RFC 4180 CSV with CRLF line ends') or diag($@);
is_deeply($records[0], \@HEADER, 'a header row with the JSON field names');
is(scalar @records, 1 + @events, 'one record per event after it');

my ($jst, $jd) = audit_report($ptok, { %J, sort => 'at', limit => 1000 });
is($jst, 200, 'the same report as JSON');
my @want = map { my $e = $_; [map { my $v = csv_cell_for($e->{$_}); utf8::encode($v); $v } @HEADER] } @{ $jd->{events} };
is_deeply([@records[1 .. $#records]], \@want, 'the same rows as JSON, cell for cell (formulas neutralised)');
is_deeply([map { $_->{id} } @{ $jd->{events} }], [map { $_->{id} } @events], '... in the asked order');

# what the bytes look like
my $row_of = sub { my ($id) = @_; (grep { $_->[0] eq $id } @records)[0] // [] };
is($row_of->($events[0]{id})[6], 'a,b', 'a comma stays inside its cell');
like($body, qr/,"a,b",/, '... quoted');
like($body, qr/,"say ""hi""",/, 'a quote is doubled, the cell quoted');
like($body, qr/,"line1\nline2",/, 'a newline is kept inside quotes');
like($body, qr/,"cr\r\nlf",/, 'a CR LF pair too');
like($body, qr/,'\+1,/, '+1 gets an apostrophe');
like($body, qr/,'-2,/, '-2 gets an apostrophe');
like($body, qr/,'\@SUM\(A1\),/, '@SUM(A1) gets an apostrophe');
like($body, qr/,'\tTAB,/, 'a leading TAB gets an apostrophe');
like($body, qr/,"'\rCR",/, 'a leading CR gets an apostrophe, and quotes');
like($body, qr/,"'-a,b",/, 'neutralised first, then quoted');
like($body, qr/,"'=HYPERLINK\(""http:\/\/evil.example"",""x""\)",/, 'a formula in action is neutralised and quoted');
like($body, qr/,'=1\+1,/, '=1+1 gets an apostrophe');
unlike($body, qr/(?:^|,)=1\+1,/m, '... never bare');
like($body, qr/,Jos\xc3\xa9,/, 'UTF-8 bytes pass through');
like($body, qr/,'already,/, 'a cell that starts with an apostrophe is left as it is');
like($body, qr/,test\.read,thing,,$cid,/, 'an empty resource id is an empty cell');
my @lines = split /(?<=\r\n)/, $body;
is(scalar(grep { !/\r\n\z/ } @lines), 0, 'every line ends with CRLF');

# ---- Accept negotiation --------------------------------------------------------------------------
my @accept = (
    [undef, 'json'], ['text/csv', 'csv'], ['application/json', 'json'], ['*/*', 'json'],
    ['text/*', 'csv'], ['text/csv, application/json', 'json'],
    ['application/json;q=0.9, text/csv', 'csv'], ['text/csv;q=0.5, application/json', 'json'],
    ['text/csv;q=0, */*', 'json'], ['text/html', 'json'], ['text/csv;q=0.8, application/json;q=0.3', 'csv'],
    ['application/*;q=0.2, text/csv;q=0.3', 'csv'], ['TEXT/CSV', 'csv'], ['text/csv; charset=utf-8', 'csv'],
    ['*/*;q=0.1, text/csv;q=0.9', 'csv'], ['text/csv;q=1.5', 'json'],
);
for my $a (@accept) {
    my ($h, $want) = @$a;
    my (undef, undef, $r) = audit_report($ptok, { %J, limit => 1 }, defined $h ? (Accept => $h) : ());
    my $ct = $r->header('Content-Type') // '';
    my $got = $ct =~ m{^text/csv} ? 'csv' : $ct =~ m{^application/json} ? 'json' : "other ($ct)";
    is($got, $want, 'Accept: ' . ($h // '(none)') . " -> $want") or diag(dump_res($r));
}

# ---- filters, sort and paging are the JSON ones ---------------------------------------------------
for my $qy ({ sort => 'resourceId', limit => 5, offset => 2 }, { sort => '-actorType', outcome => 'success', limit => 4 },
            { action => 'x,y' }, { clientId => $cid, sort => '-id', offset => 10 }) {
    my $name = join('&', map { "$_=$qy->{$_}" } sort keys %$qy);
    my (undef, $jj) = audit_report($ptok, { %J, %$qy });
    my (undef, undef, $rr) = audit_report($ptok, { %J, %$qy }, @CSV);
    my @recs = eval { csv_parse($rr->content) };
    shift @recs;
    is_deeply([map { $_->[0] } @recs], [map { $_->{id} } @{ $jj->{events} // [] }], "CSV $name: the JSON rows, in order");
    is($rr->header('X-Total-Count'), $jj->{total}, '... and the same total');
}

# ---- limits: default 100, up to 100000 streamed --------------------------------------------------
psql_must(q{INSERT INTO audit_events (at, actor_id, actor_type, action, resource_type, resource_id, client_id, ip, outcome) }
    . q{SELECT timestamptz '2018-01-10T00:00:00Z' + g * interval '1 minute', } . sql_quote($cid) . q{::uuid, 'client', 'bulk.read', 'appointment', }
    . q{'res-' || g, } . sql_quote($cid) . q{::uuid, '10.2.2.2', 'success' FROM generate_series(1, 3000) g});
my %B = (from => '2018-01-01', to => '2018-01-31');
(undef, undef, $res) = audit_report($ptok, \%B, @CSV);
my @recs = eval { csv_parse($res->content) };
is(scalar @recs, 101, 'CSV without a limit: the header and 100 rows (the default)');
is($res->header('X-Total-Count'), 3000, '... X-Total-Count 3000');
(undef, undef, $res) = audit_report($ptok, { %B, limit => 100000 }, @CSV);
is($res->code, 200, 'limit=100000 (the CSV maximum): 200');
@recs = eval { csv_parse($res->content) };
is(scalar @recs, 3001, '... the header and all 3000 rows');
is_deeply([$recs[1][6], $recs[-1][6]], ['res-3000', 'res-1'], '... newest first');
my %uniq = map { $_->[0] => 1 } @recs[1 .. $#recs];
is(scalar keys %uniq, 3000, '... each event once');
audit_single($res, { action => 'audit.read', outcome => 'success' }, '... one audit.read event');

# streamed: chunked, no Content-Length computed from a buffered whole
my $hostport = Apache::TestRequest::hostport();
my ($rst, $rh, $rbody) = raw_http("GET /api/audit?from=2018-01-01&to=2018-01-31&limit=100000 HTTP/1.1\r\n"
    . "Host: $hostport\r\nAuthorization: Bearer $ptok\r\nAccept: text/csv\r\nConnection: close\r\n\r\n", [], timeout => 60);
is($rst, 200, 'raw HTTP/1.1 export: 200');
like($rh->{'transfer-encoding'} // '', qr/chunked/i, '... sent in chunks as the rows come (Transfer-Encoding: chunked)');
ok(!defined $rh->{'content-length'}, '... without a Content-Length');
is(scalar(() = $rbody =~ /\r\n/g), 3001, '... all 3001 lines');

(undef, undef, $res) = audit_report($ptok, { %B, limit => 100001 }, @CSV);
error_is($res, 422, 'validation_error', 'limit', 'limit=100001 for CSV: 422, as JSON');
(undef, undef, $res) = audit_report($ptok, { %B, limit => 5000 });
error_is($res, 422, 'validation_error', 'limit', 'limit=5000 for JSON: 422 (JSON stops at 1000)');
(undef, undef, $res) = audit_report($ptok, { %B, limit => 5000 }, @CSV);
is($res->code, 200, 'limit=5000 for CSV: 200');

# ---- the database fails mid-export: the answer is cut short, never passed off as complete ------
# 100000 rows (about 25 MB) do not fit in the sockets' buffers: once this client stops reading,
# the export stalls with its database session busy; ending that session breaks it off.
psql_must(q{INSERT INTO audit_events (at, actor_id, actor_type, action, resource_type, resource_id, client_id, ip, outcome) }
    . q{SELECT timestamptz '2016-01-10T00:00:00Z' + g * interval '1 second', } . sql_quote($cid) . q{::uuid, 'client', 'bulk.read', 'appointment', }
    . q{repeat('x', 100) || g, } . sql_quote($cid) . q{::uuid, '10.3.3.3', 'success' FROM generate_series(1, 100000) g});
{
    my $mark = error_log_mark();
    my ($host, $port) = split /:/, $hostport;
    $host = '127.0.0.1' if $host eq 'localhost';
    my $sock = tls_connect($host, $port) or BAIL_OUT("connect: $!");    # TLS in the TLS pass
    local $SIG{ALRM} = sub { die "timed out\n" };
    alarm 120;
    syswrite $sock, "GET /api/audit?from=2016-01-01&to=2016-01-31&limit=100000 HTTP/1.1\r\nHost: $hostport\r\n"
                  . "Authorization: Bearer $ptok\r\nAccept: text/csv\r\nConnection: close\r\n\r\n";
    my $raw = '';
    while (length $raw < 65536) {
        my $n = sysread $sock, my $buf, 65536;
        last unless $n;
        $raw .= $buf;
    }
    my $pid = '';
    for (1 .. 100) {
        $pid = psql(q{SELECT pid FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() }
                  . q{AND query LIKE '%hits AS NOT MATERIALIZED%' LIMIT 1});
        last if $pid;
        select undef, undef, undef, 0.1;
    }
    ok($pid, "the export is under way and its database session busy ($pid)");
    psql_must("SELECT pg_terminate_backend($pid)") if $pid;
    while (1) {
        my $n = sysread $sock, my $buf, 65536;
        last unless $n;
        $raw .= $buf;
    }
    alarm 0;
    close $sock;
    like($raw, qr{^HTTP/1\.1 200 }, 'it had started with 200');
    like($raw, qr{\r\nTransfer-Encoding: chunked\r\n}i, '... in chunks');
    unlike($raw, qr{\r\n0\r\n\r\n\z}, '... and ends without the last chunk: the client sees it is cut short');
    my $lines = () = $raw =~ /\r\n/g;
    ok($lines < 100001, "... with fewer lines than the export has ($lines)");
    my $log = error_log_since($mark, qr/DP11001/);
    like($log, qr/\[[\w.]+:warn\] .*DP11001:/, 'the broken export is logged (DP11001, a warning)');
    like($log, qr/DP02007: database connection lost during audit_report/, '... and its cause (DP02007)');
}
my (undef, undef, $after) = audit_report($ptok, { %B, limit => 1 }, @CSV);
is($after->code, 200, 'the next export works (a fresh database connection)');

# ---- an empty export, HEAD, errors -----------------------------------------------------------------
(undef, undef, $res) = audit_report($ptok, { from => '2001-01-01', to => '2001-01-31' }, @CSV);
is($res->code, 200, 'a period without events: 200');
is($res->content, join(',', @HEADER) . "\r\n", '... the header row alone');
is($res->header('X-Total-Count'), 0, '... X-Total-Count 0');

(undef, undef, $res) = api(HEAD => '/api/audit?from=2018-01-01&to=2018-01-31', token => $ptok,
                           headers => [Accept => 'text/csv']);
is($res->code, 200, 'HEAD with Accept: text/csv: 200');
is($res->header('Content-Type'), 'text/csv; charset=utf-8', '... the CSV headers');
is($res->content, '', '... no body');
audit_single($res, { action => 'audit.read', outcome => 'success' }, '... one audit.read event');

(undef, undef, $res) = audit_report($ptok, { sort => 'nope' }, @CSV);
error_is($res, 422, 'validation_error', 'sort', 'a bad parameter with Accept: text/csv: a JSON 422');
(undef, undef, $res) = audit_report($ctok, {}, @CSV);
error_is($res, 403, 'forbidden', undef, 'a client with Accept: text/csv: a JSON 403');
audit_single($res, { action => 'audit.read', outcome => 'denied' }, '... one denied event');
(undef, undef, $res) = audit_report($ptok, { clientId => uuid_v4() }, @CSV);
error_is($res, 404, 'not_found', 'clientId', 'a foreign clientId with Accept: text/csv: a JSON 404');

done_testing();
