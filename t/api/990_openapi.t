# GET /api/openapi.json and the document it serves, docs/openapi.json. The answer is the file,
# byte for byte, public, not audited, revalidated by its ETag. The document and the route table
# of mod_docportal.c name the same operations, with the same roles and audit actions. The
# document is an OpenAPI 3.1 document (t/lib/openapi_check.py: the structure the specification
# asks for, and every schema a JSON Schema 2020-12 schema). Every answer the suite got so far in
# this pass (recorded by DocPortal::Test's api() through DocPortal::Record) is validated against
# the operation it came from: its status must be declared (a success status explicitly), its
# content type and body must match. When the run holds every test file, every operation must
# also have been answered with a 2xx at least once.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Record qw(answers_file);
use DocPortal::Routes qw(route_table);
use File::Basename qw(basename);
use JSON::PP ();

my $root = $ENV{DP_ROOT} // "$FindBin::Bin/../..";
my $doc_file = "$root/docs/openapi.json";
# Debian's python3, whose python3-jsonschema is the validator (as t/api/670_calendar_feed.t)
my $PY = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
my $JSON = JSON::PP->new->utf8->canonical;

my $file_bytes = do { open my $fh, '<:raw', $doc_file or BAIL_OUT("$doc_file: $!"); local $/; <$fh> };
my $doc = eval { $JSON->decode($file_bytes) } or BAIL_OUT("$doc_file is not JSON: $@");

# ---- served by the module ------------------------------------------------------------------------
my ($st, undef, $res) = api(GET => '/api/openapi.json');
is($st, 200, 'GET /api/openapi.json: 200') or diag(dump_res($res));
like($res->header('Content-Type') // '', qr{^application/json\s*(?:;|$)}i, '... application/json');
ok($res->content eq $file_bytes, '... the answer is docs/openapi.json, byte for byte (the module embeds the file it was built with)')
    or diag('answer: ' . length($res->content) . ' bytes, file: ' . length($file_bytes) . ' bytes: rebuild the module');
my $etag = $res->header('ETag') // '';
like($etag, qr/^"[0-9a-f]{32}"$/, '... a strong ETag');
is($res->header('Cache-Control'), 'no-cache', '... Cache-Control: no-cache (kept, revalidated by its ETag)');
is($res->header('X-Content-Type-Options'), 'nosniff', '... nosniff');
ok(length($res->header('X-Request-Id') // ''), '... X-Request-Id');
is(scalar(audit_events_for($res->header('X-Request-Id'))), 0, '... and no audit event (no user data)');

my (undef, undef, $r304) = api(GET => '/api/openapi.json', headers => ['If-None-Match' => $etag]);
is($r304->code, 304, 'If-None-Match with the current ETag: 304');
is($r304->content, '', '... with no body');
my (undef, undef, $rother) = api(GET => '/api/openapi.json', headers => ['If-None-Match' => '"0123"']);
is($rother->code, 200, 'If-None-Match with another ETag: 200');
my (undef, undef, $rhead) = api(HEAD => '/api/openapi.json');
is($rhead->code, 200, 'HEAD: 200');
is($rhead->content, '', '... no body');
is($rhead->header('Content-Length'), length $file_bytes, '... the length of the document');
my (undef, undef, $rtok) = api(GET => '/api/openapi.json', token => 'not.a.token');
is($rtok->code, 200, 'public: a token is not looked at');
my (undef, undef, $rpost) = api(POST => '/api/openapi.json', json => {});
error_is($rpost, 405, 'method_not_allowed', undef, 'POST: 405 method_not_allowed');

# ---- the route table and the document name the same operations --------------------------------------
my ($routes, $rows_in_table) = eval { route_table() } or BAIL_OUT("route table: $@");
is(scalar @$routes, $rows_in_table, "every row of the route table is understood ($rows_in_table)");
my %roles_of = (PUBLIC => [], PROVIDER => ['provider'], CLIENT => ['client'], ANY => ['provider', 'client']);
my %in_table;
for my $r (@$routes) {
    (my $path = $r->{path}) =~ s{/:(\w+)}{/{$1}}g;
    my $key = "$r->{method} $path";
    $in_table{$key} = 1;
    my $op = $doc->{paths}{$path}{lc $r->{method}};
    ok($op, "$key is in the document") or next;
    is_deeply($op->{'x-roles'}, $roles_of{ $r->{roles} }, "$key: x-roles are the table's ($r->{roles})");
    is($op->{'x-audit-action'}, $r->{action}, "$key: x-audit-action is the table's (" . ($r->{action} // 'none') . ')');
    my @schemes = map { sort keys %$_ } @{ $op->{security} // [undef] };
    if ($r->{roles} eq 'PUBLIC') {
        is_deeply($op->{security}, [], "$key: public, security []");
    }
    else {
        ok((grep { $_ eq 'bearerAuth' } @schemes) && (grep { $_ eq 'sessionCookie' } @schemes),
           "$key: security is the bearer token or the session cookie");
    }
    like($r->{flags}, qr/PLAIN_HTTP/, "$key: answered over plain HTTP too") if $key eq 'GET /api/openapi.json';
    like($r->{flags}, qr/NO_AUDIT/, "$key: not audited") if $key eq 'GET /api/openapi.json';
}
for my $path (sort keys %{ $doc->{paths} }) {
    for my $m (grep { /^(get|put|post|delete|patch|head|options|trace)$/ } sort keys %{ $doc->{paths}{$path} }) {
        ok($in_table{ uc($m) . " $path" }, uc($m) . " $path (document) is routed by mod_docportal.c");
    }
}

# ---- the document's structure, and the answers of this pass -----------------------------------------
my $answers = answers_file();
my @cmd = ($PY, "$root/t/lib/openapi_check.py", $doc_file, defined $answers ? ($answers) : ());
my $out = do { open my $ph, '-|', @cmd or BAIL_OUT("@cmd: $!"); local $/; <$ph> };
my $report = eval { $JSON->decode($out // '') } or BAIL_OUT("openapi_check.py did not answer JSON (python3-jsonschema missing?)");
is_deeply($report->{structure}, [], 'docs/openapi.json is an OpenAPI 3.1 document (structure, references, schemas)')
    or diag(join "\n", @{ $report->{structure} });

SKIP: {
    skip 'no record of answers (DP_VAR unset: not run by build/test.sh)', 3 unless defined $answers;
    my $cov = $report->{coverage};
    my @lines;
    for my $op (sort keys %$cov) {
        my $s = $cov->{$op};
        push @lines, sprintf '%-58s %s', $op, join(' ', map { "$_ x$s->{$_}" } sort keys %$s) || '-';
    }
    diag("answers per operation and status:\n" . join("\n", @lines)) if $ENV{DP_OPENAPI_COVERAGE};
    my %skipped = %{ $report->{skipped} };
    note("$report->{answers} answers recorded, $report->{validated} validated"
         . join('', map { "; $skipped{$_} skipped: $_" } sort keys %skipped));
    ok($report->{validated} > 0, "answers validated against the document: $report->{validated} of $report->{answers}");
    is($report->{failure_count}, 0, 'every recorded answer matches its operation in the document')
        or diag(join "\n", map {
            "$_->{method} $_->{path} -> $_->{status} ($_->{operation}, $_->{file}):\n    "
            . join("\n    ", @{ $_->{problems} }) . "\n    body: $_->{body}"
        } @{ $report->{failures} });
    my $und = $report->{undeclared};
    note('error statuses answered that their operation does not declare (validated as its default): '
         . join('; ', map { my $o = $_; "$o " . join(',', sort keys %{ $und->{$o} }) } sort keys %$und)) if %$und;

    # a run of every test file: every operation has a success example
    my @all = map { basename($_) } glob("$root/t/api/*.t");
    my $named = $ENV{DP_API_TESTS} // '';
    my %ran = map { $_ => 1 } split ' ', $named;
    my $full = $named eq 'all' || (@all && !grep { !$ran{$_} } @all);
    SKIP: {
        skip 'not a run of every test file: the examples are validated, their coverage not required', 1 unless $full;
        my @none = grep { my $s = $cov->{$_}; !grep { /^2/ } keys %$s } sort keys %$cov;
        is_deeply(\@none, [], 'every operation was answered with a 2xx in this run')
            or diag("operations without a 2xx example: add a test that calls them through api()\n  "
                    . join("\n  ", @none));
    }
}

done_testing();
