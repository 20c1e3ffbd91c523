package DocPortal::Record;
# A record of the answers the API suite gets, for t/api/990_openapi.t, which validates each
# against the OpenAPI document (docs/openapi.json). DocPortal::Test's api() hands every
# response to answer(); it appends one JSON line (test file, method, path with query, status,
# content type, and the body when it is JSON) to answers_file(), which lies in the test run's
# state directory (DP_VAR, set by build/test.sh) and is one per pass (plain, tls). Without
# DP_VAR nothing is recorded. A test that talks to a second server of its own through HTTP::Tiny
# records its answers with answer_tiny().
use strict;
use warnings;

use Exporter 'import';
use Fcntl qw(:flock);
use File::Basename qw(basename);
use JSON::PP ();

our @EXPORT_OK = qw(answer answer_tiny answers_file);

use constant MAX_BODY => 4 * 1024 * 1024;    # larger bodies are noted, not kept

my $JSON = JSON::PP->new->utf8->canonical;

# answers_file() -> the path of this pass's record, or undef without a state directory
sub answers_file {
    my $dir = $ENV{DP_VAR};
    return undef unless defined $dir && length $dir && -d $dir;
    return "$dir/api-answers-" . ($ENV{DP_TLS} ? 'tls' : 'plain') . '.jsonl';
}

# answer($res): record one HTTP::Response (its request says the method and the path)
sub answer {
    my ($res) = @_;
    my $req = $res->request or return;
    # LWP's own answer when no HTTP answer came (refused, reset): nothing of the API's
    my $internal = ($res->header('Client-Warning') // '') =~ /internal response/i;
    _append($req->method, $req->uri->path_query, $res->code, $res->header('Content-Type'),
            $res->content, $internal);
}

# answer_tiny($method, $url_or_path, $response): the same for an HTTP::Tiny response (a test's
# second server); its status 599 is HTTP::Tiny's own answer
sub answer_tiny {
    my ($method, $url, $r) = @_;
    my ($path) = $url =~ m{^(?:https?://[^/]+)?(/.*)?$};
    _append($method, $path // '/', $r->{status}, $r->{headers}{'content-type'}, $r->{content},
            $r->{status} == 599);
}

sub _append {
    my ($method, $path, $status, $ctype, $body, $internal) = @_;
    my $file = answers_file() // return;
    $ctype //= '';
    $body //= '';
    my %rec = (file => basename($0), method => $method, path => $path, status => $status + 0,
               ctype => $ctype);
    $rec{internal} = 1 if $internal;
    $rec{length} = length $body;
    if ($ctype =~ m{^application/json\s*(?:;|$)}i) {
        if (length $body > MAX_BODY) {
            $rec{truncated} = 1;
        }
        else {
            utf8::decode($body);    # kept as text; a body that is not UTF-8 stays as bytes
            $rec{body} = $body;
        }
    }
    my $line = $JSON->encode(\%rec) . "\n";
    # several processes of one test may answer at once (race tests fork): one locked append each
    open my $fh, '>>', $file or return;
    flock $fh, LOCK_EX;
    print {$fh} $line;
    close $fh;
    return;
}

1;
