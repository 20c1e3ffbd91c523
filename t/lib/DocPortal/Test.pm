package DocPortal::Test;
# Helpers for the mod_docportal Apache::Test suite (t/api/*.t).
#
# The test files say `use Apache::Test qw(-withtestmore);`, which loads Test::More into them;
# this module only calls Test::More through its fully qualified names.
use strict;
use warnings;

use Exporter 'import';
use Apache::Test ();
use Apache::TestRequest ();
use HTTP::Request ();
use JSON::PP ();
use Digest::SHA qw(hmac_sha256 hmac_sha384);
use MIME::Base64 qw(encode_base64url decode_base64url);
use IO::Socket::INET ();
use IO::Select ();
use IPC::Open3 qw(open3);
use Symbol qw(gensym);
use Text::ParseWords qw(shellwords);
use Time::HiRes ();

our @EXPORT = qw(
    api json_body error_is success_is common_headers_problems
    unique_email register_provider register_client register login
    psql psql_app sql_quote
    jwt_make jwt_parts jwt_secret uuid_v4
    raw_http dump_res
    PROVIDER_KEYS CLIENT_KEYS
    $UUID_RE $TS_RE
    provider_session client_session invite_client invite_token_of
    day_offset local_today next_year us_dst_start
    book appt_get appt_patch appt_to_past ts_epoch
    audit_events_for race
    APPOINTMENT_KEYS PUBLIC_PROVIDER_KEYS $JITSI_RE
);

our $UUID_RE = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
our $TS_RE   = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$/;

use constant PROVIDER_KEYS => [sort qw(id email name userType phone avatar specialty license bio
                                       hourlyRate timeZone emailVerified notificationPrefs
                                       createdAt updatedAt)];
use constant CLIENT_KEYS   => [sort qw(id email name userType phone avatar dateOfBirth address
                                       insurance providerId emergencyContact emailVerified
                                       notificationPrefs createdAt updatedAt)];

use constant APPOINTMENT_KEYS => [sort qw(id clientId providerId clientName providerName date time
                                          duration type status notes videoLink amount timeZone
                                          startsAt endsAt createdAt updatedAt)];
use constant PUBLIC_PROVIDER_KEYS => [sort qw(id name email phone avatar specialty bio hourlyRate
                                              timeZone)];
our $JITSI_RE = qr{^https://meet\.jit\.si/DocPortal-[0-9a-f]{32}$};

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# ---------------------------------------------------------------------------------------------
# TLS. build/test.sh runs the suite twice; with DP_TLS=1 every request of these
# helpers goes over https to the suite's TLS virtual host (t/conf/extra.conf.in), whose
# certificate (DOCPORTAL_TLS_CERT, made for localhost) is the only one trusted.

our $TLS = $ENV{DP_TLS} ? 1 : 0;
push @EXPORT, qw($TLS tls_connect);
# (the vhost's port; the scheme is set per URL in api(): Apache::TestRequest's own https
# handling looks for a mod_ssl virtual host, which this suite does not use)
Apache::TestRequest::module('docportal_tls') if $TLS;

# tls_connect($host, $port) -> a connected socket: TLS (verified) in the TLS pass, else TCP
sub tls_connect {
    my ($host, $port, %opt) = @_;
    my %tcp = (PeerAddr => $host, PeerPort => $port, Proto => 'tcp', Timeout => 10);
    return IO::Socket::INET->new(%tcp) unless $opt{tls} // $TLS;
    require IO::Socket::SSL;
    return IO::Socket::SSL->new(%tcp, SSL_ca_file => $ENV{DOCPORTAL_TLS_CERT},
                                SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER(),
                                SSL_verifycn_name => 'localhost', SSL_verifycn_scheme => 'http',
                                %{ $opt{ssl} || {} });
}

# _read_nb($sock, \$buf) -> bytes appended (0: the peer closed), -1 (nothing yet: a TLS record
# that held no data), undef (error)
sub _read_nb {
    my ($sock, $buf) = @_;
    $sock->blocking(0);
    my $n = sysread($sock, my $chunk, 65536);
    my $again = !defined $n && ($!{EAGAIN} || $!{EWOULDBLOCK}
                                || ($sock->can('errstr') && ($sock->errstr // '') =~ /want read/i));
    $sock->blocking(1);
    return -1 if $again;
    $$buf .= $chunk if $n;
    return $n;
}

# readable now, counting bytes TLS has already decrypted into its buffer
sub _readable {
    my ($sel, $sock, $timeout) = @_;
    return 1 if $sock->can('pending') && $sock->pending;
    return $sel->can_read($timeout);
}

# ---------------------------------------------------------------------------------------------
# HTTP

sub _ua {
    my $ua = Apache::TestRequest::user_agent(requests_redirectable => 0);
    $ua->ssl_opts(SSL_ca_file => $ENV{DOCPORTAL_TLS_CERT}, verify_hostname => 1) if $TLS;
    return $ua;
}

# api(METHOD, PATH, %opt) -> (status, decoded body or undef, HTTP::Response)
#   json    => hashref/arrayref (encoded) or a string (sent as is), Content-Type application/json
#   body    => raw string body (no Content-Type unless ctype given)
#   ctype   => Content-Type to send
#   token   => bearer token
#   headers => [name => value, ...]
sub api {
    my ($method, $path, %opt) = @_;
    my $url = Apache::TestRequest::resolve_url($path);
    $url =~ s{^http://}{https://} if $TLS;
    my $req = HTTP::Request->new($method => $url);
    my $body;
    my $ctype = $opt{ctype};
    if (exists $opt{json}) {
        $body = ref $opt{json} ? $JSON->encode($opt{json}) : $opt{json};
        $ctype //= 'application/json';
    }
    elsif (exists $opt{body}) {
        $body = $opt{body};
    }
    $req->header('Content-Type' => $ctype) if defined $ctype;
    $req->header('Authorization' => "Bearer $opt{token}") if defined $opt{token};
    my @h = @{ $opt{headers} || [] };
    while (my ($k, $v) = splice @h, 0, 2) {
        $req->header($k => $v);
    }
    if (defined $body) {
        utf8::encode($body) if utf8::is_utf8($body);
        $req->content($body);
        $req->header('Content-Length' => length $body);
    }
    elsif ($method eq 'POST' || $method eq 'PUT' || $method eq 'PATCH') {
        $req->header('Content-Length' => 0);
    }
    my $res = _ua()->request($req);
    require DocPortal::Record; DocPortal::Record::answer($res);    # for t/api/990_openapi.t
    return ($res->code, json_body($res), $res);
}

# Decoded JSON body of a response, or undef when empty / not JSON.
sub json_body {
    my ($res) = @_;
    my $c = $res->content;
    return undef unless defined $c && length $c;
    my $d = eval { $JSON->decode($c) };
    return $d;
}

sub dump_res {
    my ($res) = @_;
    return '(no response)' unless $res;
    my $req = $res->request;
    my $s = '';
    if ($req) {
        my $rc = $req->content // '';
        $rc = substr($rc, 0, 300) . '...(' . length($rc) . ' bytes)' if length $rc > 300;
        $s .= '>> ' . $req->method . ' ' . $req->uri . "\n";
        $s .= '>> ' . $_ . "\n" for grep { length } split /\n/, $req->headers->as_string;
        $s .= ">> $rc\n" if length $rc;
    }
    my $c = $res->content // '';
    $c = substr($c, 0, 1500) . '...' if length $c > 1500;
    $s .= '<< ' . $res->status_line . "\n";
    $s .= '<< ' . $_ . "\n" for grep { length } split /\n/, $res->headers->as_string;
    $s .= "<< $c\n";
    return $s;
}

# Problems with the headers every response must carry.
sub common_headers_problems {
    my ($res) = @_;
    my @p;
    my $rid = $res->header('X-Request-Id');
    push @p, 'X-Request-Id missing or empty' unless defined $rid && $rid =~ /\S/;
    my $cc = $res->header('Cache-Control') // '';
    push @p, "Cache-Control is '$cc', expected no-store" unless $cc =~ /\bno-store\b/i;
    my $nos = $res->header('X-Content-Type-Options') // '';
    push @p, "X-Content-Type-Options is '$nos', expected nosniff" unless $nos =~ /^\s*nosniff\s*$/i;
    # HSTS on every answer over TLS, never over plain HTTP
    my $hsts = $res->header('Strict-Transport-Security');
    if ($TLS) {
        push @p, 'Strict-Transport-Security missing over TLS'
            unless ($hsts // '') =~ /^max-age=\d+/;
    }
    elsif (defined $hsts) {
        push @p, "Strict-Transport-Security '$hsts' over plain HTTP";
    }
    if (($res->header('Client-Warning') // '') =~ /internal response/i) {
        push @p, 'no HTTP response from the server (LWP internal response: '
               . $res->status_line . ')';
    }
    return @p;
}

# error_is($res, $status, $code, $field_or_undef_or_regex, $name): one assertion that the
# response is the JSON error {detail, code[, field]} with that status, JSON content type, no
# HTML, and the common headers. Returns the decoded body.
sub error_is {
    my ($res, $status, $code, $field, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @p;
    my @status = ref $status eq 'ARRAY' ? @$status : ($status);
    push @p, 'status ' . $res->code . ', expected ' . join(' or ', @status)
        unless grep { $res->code == $_ } @status;
    my $ct = $res->header('Content-Type') // '';
    push @p, "Content-Type '$ct', expected application/json"
        unless $ct =~ m{^application/json\s*(?:;|$)}i;
    push @p, 'body looks like HTML' if ($res->content // '') =~ /<html|<!DOCTYPE|<body/i;
    my $d = json_body($res);
    if (ref $d ne 'HASH') {
        push @p, 'body is not a JSON object';
    }
    else {
        push @p, 'detail missing or empty'
            unless defined $d->{detail} && !ref $d->{detail} && $d->{detail} =~ /\S/;
        my @codes = ref $code eq 'ARRAY' ? @$code : ($code);
        push @p, "code is '" . ($d->{code} // 'undef') . "', expected " . join(' or ', @codes)
            unless defined $d->{code} && grep { $d->{code} eq $_ } @codes;
        if (defined $field) {
            my $f = $d->{field};
            if (ref $field eq 'Regexp') {
                push @p, "field is '" . ($f // 'undef') . "', expected $field"
                    unless defined $f && $f =~ $field;
            }
            else {
                push @p, "field is '" . ($f // 'undef') . "', expected '$field'"
                    unless defined $f && $f eq $field;
            }
        }
    }
    push @p, common_headers_problems($res);
    Test::More::ok(!@p, $name)
        or Test::More::diag(join("\n", @p) . "\n" . dump_res($res));
    return $d;
}

# success_is($res, $status, $name): status, JSON content type (when there is a body), common
# headers. Returns the decoded body.
sub success_is {
    my ($res, $status, $name, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @p;
    push @p, 'status ' . $res->code . ", expected $status" unless $res->code == $status;
    my $d = json_body($res);
    unless ($opt{empty}) {
        my $ct = $res->header('Content-Type') // '';
        push @p, "Content-Type '$ct', expected application/json"
            unless $ct =~ m{^application/json\s*(?:;|$)}i;
        push @p, 'body is not JSON' unless defined $d;
    }
    push @p, common_headers_problems($res);
    Test::More::ok(!@p, $name)
        or Test::More::diag(join("\n", @p) . "\n" . dump_res($res));
    return $d;
}

# Raw HTTP exchange over a socket (for bodies the server may refuse before reading them).
# raw_http($request_head, $body_chunks_arrayref, %opt) -> (status, headers hashref (lc names),
# body, raw response, write_error). Stops writing as soon as the server answers or closes.
sub raw_http {
    my ($head, $chunks, %opt) = @_;
    my $hostport = Apache::TestRequest::hostport();
    my ($host, $port) = split /:/, $hostport;
    $host = '127.0.0.1' if $host eq 'localhost';
    my $sock = tls_connect($host, $port)
        or return (0, {}, '', '', "connect: $!");
    $sock->autoflush(1);
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($sock);
    my $out = $head;
    my @queue = @{ $chunks || [] };
    my $werr = '';
    my $resp = '';
    my $deadline = time + ($opt{timeout} || 30);
    WRITE: while ((length $out || @queue) && time < $deadline) {
        $out = shift @queue if !length $out && @queue;
        # the server may answer early: stop writing then
        if (_readable($sel, $sock, 0)) {
            # over TLS the socket is also readable for records that are not data (TLS 1.3
            # session tickets): only an answer or the server's close stops the writing
            my $n = _read_nb($sock, \$resp);
            last WRITE if !defined $n || $n >= 0;
        }
        next WRITE unless $sel->can_write(1);
        my $n = syswrite($sock, $out, 65536);
        if (!defined $n) {
            $werr = "write: $!";
            last WRITE;
        }
        substr($out, 0, $n, '');
    }
    while (time < $deadline && !_raw_complete($resp)) {
        last unless _readable($sel, $sock, $deadline - time);
        my $n = sysread($sock, my $buf, 65536);
        last unless $n;    # EOF or reset (keep what we have)
        $resp .= $buf;
        last if _raw_complete($resp);
    }
    close $sock;
    my ($status, %h, $body) = (0);
    if ($resp =~ /^HTTP\/\d\.\d (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n(.*)$/s) {
        $status = $1;
        my ($hdrs, $b) = ($2, $3);
        for (split /\r\n/, $hdrs) {
            my ($k, $v) = split /:\s*/, $_, 2;
            next unless defined $v;
            $h{lc $k} = exists $h{lc $k} ? "$h{lc $k}, $v" : $v;
        }
        if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
            my $dec = '';
            while ($b =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                my $len = hex $1;
                last unless $len;
                $dec .= substr($b, 0, $len, '');
                $b =~ s/^\r\n//;
            }
            $b = $dec;
        }
        $body = $b;
    }
    return ($status, \%h, $body // '', $resp, $werr);
}

sub _raw_complete {
    my ($r) = @_;
    return 0 unless $r =~ /^(.*?)\r\n\r\n(.*)$/s;
    my ($hdrs, $b) = ($1, $2);
    if ($hdrs =~ /^Content-Length:\s*(\d+)/mi) { return length($b) >= $1 }
    if ($hdrs =~ /^Transfer-Encoding:\s*chunked/mi) { return $b =~ /(?:^|\r\n)0\r\n\r\n$/ }
    return 0;    # read until close
}

# ---------------------------------------------------------------------------------------------
# Users

my $counter = 0;
sub unique_email {
    my ($tag) = @_;
    $tag //= 'user';
    $counter++;
    return sprintf '%s.%d.%d.%d.%04x@example.com', $tag, time, $$, $counter, int rand 65536;
}

our $PASSWORD = 'Sup3r-secret-pw';

# register(\%body) -> (status, body, res)
sub register {
    my ($body) = @_;
    return api(POST => '/api/auth/register', json => $body);
}

# register_provider(%override) -> (status, body, res, sent body)
sub register_provider {
    my %b = (email => unique_email('prov'), password => $PASSWORD, name => 'Dr Test Provider',
             userType => 'provider', @_);
    delete @b{ grep { !defined $b{$_} } keys %b };    # undef = leave the field out
    return (register(\%b), \%b);
}

# register_client($provider_id, %override) -> (status, body, res, sent body)
sub register_client {
    my ($provider_id, %o) = @_;
    my %b = (email => unique_email('client'), password => $PASSWORD, name => 'Test Client',
             userType => 'client', (defined $provider_id ? (providerId => $provider_id) : ()), %o);
    delete @b{ grep { !defined $b{$_} } keys %b };    # undef = leave the field out
    return (register(\%b), \%b);
}

# login($email, $password) -> (status, body, res)
sub login {
    my ($email, $password) = @_;
    return api(POST => '/api/auth/login',
               json => { email => $email, password => $password // $PASSWORD });
}

# ---------------------------------------------------------------------------------------------
# Database (psql as superuser / as the app role)

sub sql_quote {
    my ($s) = @_;
    $s =~ s/'/''/g;
    return "'$s'";
}

sub _run_psql {
    my ($prefix, $sql) = @_;
    die "psql command prefix not set\n" unless defined $prefix && length $prefix;
    my @cmd = (shellwords($prefix), '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', $sql);
    my $err = gensym;
    my $pid = open3(my $in, my $out, $err, @cmd);
    close $in;
    # psql's stderr is small: read stdout fully, then stderr
    my $stdout = do { local $/; <$out> } // '';
    my $stderr = do { local $/; <$err> } // '';
    waitpid $pid, 0;
    my $rc = $? >> 8;
    chomp $stdout;
    return wantarray ? ($stdout, $rc, $stderr) : $stdout;
}

# psql(SQL): output of `$DP_PSQL -At -c SQL` (superuser); list context: (out, exit code, stderr)
sub psql     { _run_psql($ENV{DP_PSQL}, @_) }
# psql_app(SQL): same with the app role ($DP_PSQL_APP)
sub psql_app { _run_psql($ENV{DP_PSQL_APP}, @_) }

# ---------------------------------------------------------------------------------------------
# JWT

sub jwt_secret {
    my $f = $ENV{DOCPORTAL_JWT_SECRET_FILE} or die "DOCPORTAL_JWT_SECRET_FILE not set\n";
    open my $fh, '<', $f or die "open $f: $!\n";
    my $s = do { local $/; <$fh> };
    close $fh;
    $s =~ s/\s+\z//;
    $s =~ s/\A\s+//;
    return $s;
}

# jwt_make(\%header, \%claims, $secret): HS256/HS384 per header alg; 'none' gives an empty
# signature. The header and claims are encoded exactly as given.
sub jwt_make {
    my ($header, $claims, $secret) = @_;
    my $h = ref $header ? $JSON->encode($header) : $header;
    my $c = ref $claims ? $JSON->encode($claims) : $claims;
    my $input = encode_base64url($h) . '.' . encode_base64url($c);
    my $alg = ref $header ? ($header->{alg} // '') : '';
    my $sig = '';
    if ($alg eq 'HS256') {
        $sig = encode_base64url(hmac_sha256($input, $secret));
    }
    elsif ($alg eq 'HS384') {
        $sig = encode_base64url(hmac_sha384($input, $secret));
    }
    return "$input.$sig";
}

# jwt_parts($token) -> (header hashref, claims hashref) or () when not a 3-part JWT
sub jwt_parts {
    my ($t) = @_;
    return () unless defined $t && $t =~ /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;
    my ($h, $c) = eval { ($JSON->decode(decode_base64url($1)), $JSON->decode(decode_base64url($2))) };
    return () unless ref $h eq 'HASH' && ref $c eq 'HASH';
    return ($h, $c);
}

sub uuid_v4 {
    my @b = map { int rand 256 } 1 .. 16;
    $b[6] = ($b[6] & 0x0f) | 0x40;
    $b[8] = ($b[8] & 0x3f) | 0x80;
    my $h = join '', map { sprintf '%02x', $_ } @b;
    return join '-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4), substr($h, 16, 4),
                     substr($h, 20, 12);
}


# ---------------------------------------------------------------------------------------------
# Practice and scheduling

# provider_session(%register_override) -> ($token, $user, $res): a new provider, registered.
# Dies when registering fails (every later assertion would be noise).
sub provider_session {
    my ($st, $d, $res) = register_provider(@_);
    die "provider_session: register answered $st\n" . dump_res($res) unless $st == 201;
    return ($d->{token}, $d->{user}, $res);
}

# client_session($provider_id_or_undef, %override) -> ($token, $user, $res)
sub client_session {
    my ($pid, %o) = @_;
    my ($st, $d, $res) = register_client($pid, %o);
    die "client_session: register answered $st\n" . dump_res($res) unless $st == 201;
    return ($d->{token}, $d->{user}, $res);
}

# invite_client($provider_token, %body) -> (status, body, res): POST /api/provider/clients with
# a unique email and a name unless given.
sub invite_client {
    my ($token, %b) = @_;
    $b{email} //= unique_email('invited');
    $b{name}  //= 'Invited Client';
    delete @b{ grep { !defined $b{$_} } keys %b };
    return api(POST => '/api/provider/clients', token => $token, json => \%b);
}

# The token of an inviteUrl (".../invite?token=<64 hex>"), or undef.
sub invite_token_of {
    my ($url) = @_;
    return undef unless defined $url && $url =~ /[?&]token=([0-9a-f]{64})$/;
    return $1;
}

# day_offset($n): the UTC calendar date $n days from now, YYYY-MM-DD. With $n >= 2 it is a
# future day in every zone of the Americas and Europe.
sub day_offset {
    my ($n) = @_;
    my @t = gmtime(time + $n * 86400);
    return sprintf '%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3];
}

# local_today($zone): today's date in that zone (from PostgreSQL).
# local_today($zone): today's date in $zone, as PostgreSQL sees it. Within a minute of local
# midnight it waits for the new day first, so that the date stays today for the requests the
# test makes next (a test run at 10:00 UTC met midnight in Pacific/Kiritimati mid-test).
sub local_today {
    my ($zone) = @_;
    my $z = sql_quote($zone);
    my ($day, $left) = split /\|/, scalar psql(
        qq{SELECT to_char(now() AT TIME ZONE $z, 'YYYY-MM-DD'), }
      . qq{extract(epoch FROM date_trunc('day', now() AT TIME ZONE $z) + interval '1 day' }
      . qq{- (now() AT TIME ZONE $z))});
    return $day unless defined $left && $left < 60;
    Time::HiRes::sleep($left + 0.5);
    return scalar psql(qq{SELECT to_char(now() AT TIME ZONE $z, 'YYYY-MM-DD')});
}

# next calendar year (every date in it is in the future)
sub next_year { return (gmtime)[5] + 1900 + 1 }

# us_dst_start($year): the second Sunday of March (US clocks spring forward at 02:00).
sub us_dst_start {
    my ($year) = @_;
    require Time::Local;
    my $mar1 = Time::Local::timegm(0, 0, 12, 1, 2, $year);
    my $wday = (gmtime $mar1)[6];                     # 0 = Sunday
    my $first_sunday = 1 + ((7 - $wday) % 7);
    return sprintf '%04d-03-%02d', $year, $first_sunday + 7;
}

# book($client_token, %body) -> (status, body, res): POST /api/client/appointments
sub book {
    my ($token, %b) = @_;
    return api(POST => '/api/client/appointments', token => $token, json => \%b);
}

sub appt_get {
    my ($token, $id) = @_;
    return api(GET => "/api/appointments/$id", token => $token);
}

sub appt_patch {
    my ($token, $id, %b) = @_;
    return api(PATCH => "/api/appointments/$id", token => $token, json => \%b);
}

# appt_to_past($id, $minutes_ago): moves the appointment so that it started that many minutes
# ago (keeping its duration), straight in the database.
sub appt_to_past {
    my ($id, $ago) = @_;
    my ($out, $rc, $err) = psql(
        q{UPDATE appointments SET starts_at = now() - } . sql_quote("$ago minutes") . q{::interval, }
      . q{ends_at = now() - } . sql_quote("$ago minutes") . q{::interval + duration_minutes * interval '1 minute' }
      . q{WHERE id = } . sql_quote($id));
    die "appt_to_past($id): $err\n" if $rc;
    return 1;
}

# ts_epoch('2027-01-12T15:00:00.000Z') -> epoch seconds (undef when not RFC 3339 UTC)
sub ts_epoch {
    my ($ts) = @_;
    return undef unless defined $ts && $ts =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?Z$/;
    require Time::Local;
    return Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1);
}

# audit_events_for($request_id) -> list of hashrefs {seq, action, outcome, actor_id, actor_type,
# resource_type, resource_id, client_id, ip} (NULL as ''), in order.
sub audit_events_for {
    my ($rid) = @_;
    return () unless defined $rid && length $rid;
    my @cols = qw(seq action outcome actor_id actor_type resource_type resource_id client_id ip);
    my $out = psql(q{SELECT seq, action, outcome, coalesce(actor_id::text, ''), actor_type, }
                 . q{coalesce(resource_type, ''), coalesce(resource_id, ''), }
                 . q{coalesce(client_id::text, ''), coalesce(ip, '') }
                 . q{FROM audit_events WHERE request_id = } . sql_quote($rid) . q{ ORDER BY seq});
    my @rows;
    for my $line (grep { length } split /\n/, $out) {
        my %r;
        @r{@cols} = split /\|/, $line, -1;
        push @rows, \%r;
    }
    return @rows;
}

# race(@specs): sends every request at about the same time, each from its own process over its
# own connection. A spec is {method, path, token, json}. All children connect first, then wait
# on one pipe; closing it releases them together. Returns one hashref per spec, in order:
# {status, body (decoded or undef), raw, request_id}.
sub race {
    my (@specs) = @_;
    require POSIX;
    my $hostport = Apache::TestRequest::hostport();
    my ($host, $port) = split /:/, $hostport;
    $host = '127.0.0.1' if $host eq 'localhost';
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    pipe(my $ready_r, my $ready_w) or die "pipe: $!";
    my @kids;
    for my $s (@specs) {
        pipe(my $res_r, my $res_w) or die "pipe: $!";
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            close $go_w;
            close $ready_r;
            close $res_r;
            my $body = exists $s->{json}
                ? (ref $s->{json} ? $JSON->encode($s->{json}) : $s->{json}) : undef;
            my $req = "$s->{method} $s->{path} HTTP/1.1\r\nHost: $hostport\r\nConnection: close\r\n";
            $req .= "Authorization: Bearer $s->{token}\r\n" if defined $s->{token};
            if (defined $body) {
                $req .= "Content-Type: application/json\r\nContent-Length: " . length($body)
                      . "\r\n\r\n$body";
            }
            else {
                $req .= "Content-Length: 0\r\n\r\n";
            }
            my $sock = tls_connect($host, $port);
            syswrite $ready_w, '.';
            close $ready_w;
            my $resp = '';
            if ($sock) {
                my $x;
                sysread $go_r, $x, 1;    # EOF when the parent releases everyone
                local $SIG{PIPE} = 'IGNORE';
                my $off = 0;
                while ($off < length $req) {
                    my $n = syswrite $sock, $req, length($req) - $off, $off;
                    last unless defined $n && $n > 0;
                    $off += $n;
                }
                while (1) {
                    my $n = sysread $sock, my $buf, 65536;
                    last unless $n;
                    $resp .= $buf;
                }
                close $sock;
            }
            print {$res_w} $resp;
            close $res_w;
            POSIX::_exit(0);
        }
        close $res_w;
        push @kids, [$pid, $res_r];
    }
    close $go_r;
    close $ready_w;
    # wait until every child has connected (or failed to)
    my $got = 0;
    while ($got < @specs) {
        my $n = sysread $ready_r, my $buf, 64;
        last unless $n;
        $got += $n;
    }
    close $ready_r;
    close $go_w;    # go
    my @out;
    for my $k (@kids) {
        my ($pid, $fh) = @$k;
        my $raw = do { local $/; <$fh> } // '';
        close $fh;
        waitpid $pid, 0;
        my ($status, $rid, $body) = (0, undef, undef);
        if ($raw =~ /^HTTP\/\d\.\d (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n(.*)$/s) {
            $status = $1;
            my ($h, $b) = ($2, $3);
            $rid = $1 if $h =~ /^X-Request-Id:\s*(\S+)/mi;
            if ($h =~ /^Transfer-Encoding:\s*chunked/mi) {
                my $dec = '';
                while ($b =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                    my $len = hex $1;
                    last unless $len;
                    $dec .= substr($b, 0, $len, '');
                    $b =~ s/^\r\n//;
                }
                $b = $dec;
            }
            $body = eval { $JSON->decode($b) };
        }
        push @out, { status => $status, body => $body, raw => $raw, request_id => $rid };
    }
    return @out;
}

# ---------------------------------------------------------------------------------------------
# Secure messaging

push @EXPORT, qw(
    send_message conversation message_list mark_read message_row message_rows
    utf8_hex error_log_mark error_log_since expect_error_lines api_at owner_url dp_rekey
    MESSAGE_KEYS
);

use constant MESSAGE_KEYS => [sort qw(id senderId receiverId senderType message timestamp read
                                      createdAt)];

# send_message($token, $receiver_id, $text, %extra_fields) -> (status, body, res)
sub send_message {
    my ($token, $to, $text, %extra) = @_;
    my %b = (receiverId => $to, message => $text, %extra);
    delete @b{ grep { !defined $b{$_} } keys %b };    # undef = leave the field out
    return api(POST => '/api/messages', token => $token, json => \%b);
}

sub _query {
    my (%q) = @_;
    my @kv;
    for my $k (sort keys %q) {
        next unless defined $q{$k};
        my $v = $q{$k};
        $v =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
        push @kv, "$k=$v";
    }
    return @kv ? '?' . join('&', @kv) : '';
}

# conversation($token, $with, %query) -> (status, body, res): GET /api/messages?conversationWith=
sub conversation {
    my ($token, $with, %q) = @_;
    return api(GET => '/api/messages' . _query(conversationWith => $with, %q), token => $token);
}

# message_list($token, %query) -> (status, body, res): GET /api/messages (latest per conversation)
sub message_list {
    my ($token, %q) = @_;
    return api(GET => '/api/messages' . _query(%q), token => $token);
}

# mark_read($token, $id) -> (status, body, res): PATCH /api/messages/:id/read
sub mark_read {
    my ($token, $id) = @_;
    return api(PATCH => "/api/messages/$id/read", token => $token);
}

my @MSG_COLS = qw(id sender_id receiver_id sender_type key_id nonce_hex ct_hex nonce_len ct_len
                  is_read);

# message_rows($where_sql) -> list of hashrefs (superuser psql), ordered by created_at, id:
# {id, sender_id, receiver_id, sender_type, key_id, nonce_hex, ct_hex, nonce_len, ct_len, is_read}
sub message_rows {
    my ($where) = @_;
    my ($out, $rc, $err) = psql(
        q{SELECT id, sender_id, receiver_id, sender_type, key_id, encode(nonce, 'hex'), }
      . q{encode(ciphertext, 'hex'), length(nonce), length(ciphertext), is_read }
      . q{FROM messages } . ($where // '') . q{ ORDER BY created_at, id});
    die "message_rows: $err\n" if $rc;
    my @rows;
    for my $line (grep { length } split /\n/, $out) {
        my %r;
        @r{@MSG_COLS} = split /\|/, $line, -1;
        push @rows, \%r;
    }
    return @rows;
}

# message_row($id) -> hashref as message_rows gives, or undef when there is no such row
sub message_row {
    my ($id) = @_;
    my @r = message_rows('WHERE id = ' . sql_quote($id) . '::uuid');
    return $r[0];
}

# utf8_hex($text): lower-case hex of the text's UTF-8 bytes (what encode(bytea, 'hex') prints)
sub utf8_hex {
    my ($s) = @_;
    my $b = $s;
    utf8::encode($b) if utf8::is_utf8($b);
    return unpack 'H*', $b;
}

sub _error_log_path {
    require File::Spec;
    return File::Spec->catfile(Apache::Test::vars('t_logs'), 'error_log');
}

# expect_error_lines($text): the error-level lines in $text (from error_log_since) were provoked
# on purpose; 999_error_log.t accepts exactly those lines (t/logs/expected_error_lines).
sub expect_error_lines {
    my ($text) = @_;
    require File::Spec;
    my $file = File::Spec->catfile(Apache::Test::vars('t_logs'), 'expected_error_lines');
    open my $fh, '>>', $file or die "open $file: $!";
    print {$fh} "$_\n" for grep { /^\[[^\]]*\] \[[\w.-]*:(?:error|crit|alert|emerg)\]/ }
                            split /\n/, $text // '';
    close $fh;
}

# error_log_mark() -> the suite server's error_log size now; error_log_since($mark) -> what was
# logged after it (waits a moment for lines still being written).
sub error_log_mark { return -s _error_log_path() || 0 }

sub error_log_since {
    my ($mark, $want) = @_;
    my $text = '';
    for (1 .. 20) {
        open my $fh, '<', _error_log_path() or return '';
        seek $fh, $mark, 0;
        local $/;
        $text = <$fh> // '';
        close $fh;
        last if !defined $want || $text =~ $want;
        Time::HiRes::sleep(0.1);
    }
    return $text;
}

# api_at($port, METHOD, PATH, %opt) -> (status, decoded body or undef, raw body): a request to
# another httpd on 127.0.0.1:$port (DocPortal::Server). opt: token, json.
sub api_at {
    my ($status, $d, $r) = http_at(@_);    # http_at: under "Sessions and lockout" below
    return ($status, $d, $r->{content});
}

# owner_url(): libpq URI of the database owner (the role dp-rekey runs as)
sub owner_url {
    my $url = `bash "$ENV{DP_PG_SH}" url owner`;
    die "owner_url: pg.sh url owner failed\n" if $? || !defined $url;
    chomp $url;
    return $url;
}

# dp_rekey(@args) -> (exit status, stdout, stderr): build/out/dp-rekey with DATABASE_URL the
# owner's URI (unless the caller's %ENV already says otherwise through local).
sub dp_rekey {
    my (@args) = @_;
    my $tool = ($ENV{DP_ROOT} // '.') . '/build/out/dp-rekey';
    local $ENV{DATABASE_URL} = $ENV{DATABASE_URL} // owner_url();
    require File::Temp;
    my $errfh = File::Temp->new;    # stderr to a file: no pipe to fill while stdout is read
    open my $null, '<', '/dev/null' or die "/dev/null: $!";
    my $pid = open3('<&' . fileno($null), my $out, '>&' . fileno($errfh), $tool, @args);
    my $stdout = do { local $/; <$out> } // '';
    waitpid $pid, 0;
    my $rc = $? >> 8;
    my $stderr = do { local (@ARGV, $/) = ($errfh->filename); <> } // '';
    return ($rc, $stdout, $stderr);
}

# ---------------------------------------------------------------------------------------------
# Billing and Stripe

push @EXPORT, qw(
    stripe_fake stripe_reset stripe_mode stripe_requests stripe_intents_posted
    webhook_secret stripe_sign webhook_post stripe_event_json
    billing_practice create_invoice invoice_list pay_invoice invoice_row invoice_to_overdue
    audit_single money_in_json INVOICE_KEYS
);

use constant INVOICE_KEYS => [sort qw(id clientId providerId appointmentId clientName amount currency
                                      date dueDate status description paymentMethod transactionId
                                      paidAt createdAt updatedAt)];

# stripe_fake(METHOD, PATH, $json_or_undef) -> (status, decoded body): a request to the suite's
# Stripe fake ($DOCPORTAL_STRIPE_API_BASE).
sub stripe_fake {
    my ($method, $path, $json) = @_;
    require HTTP::Tiny;
    my $base = $ENV{DOCPORTAL_STRIPE_API_BASE} or die "DOCPORTAL_STRIPE_API_BASE not set\n";
    my %args;
    if (defined $json) {
        $args{headers} = { 'Content-Type' => 'application/json' };
        $args{content} = ref $json ? $JSON->encode($json) : $json;
    }
    my $r = HTTP::Tiny->new(timeout => 30)->request($method, "$base$path", \%args);
    my $d = eval { $JSON->decode($r->{content}) };
    return ($r->{status}, $d);
}

# stripe_reset(): forget the fake's log, idempotency keys and intents, and put it in mode ok.
sub stripe_reset {
    my ($st) = stripe_fake(POST => '/__reset');
    die "stripe_reset: the fake answered $st\n" unless $st == 200;
    stripe_mode('ok');
    return 1;
}

sub stripe_mode {
    my ($mode) = @_;
    my ($st) = stripe_fake(POST => "/__mode?mode=$mode");
    die "stripe_mode($mode): the fake answered $st\n" unless $st == 200;
    return 1;
}

# stripe_requests() -> arrayref of what the fake's /v1/ received since the last reset
sub stripe_requests {
    my ($st, $d) = stripe_fake(GET => '/__requests');
    die "stripe_requests: the fake answered $st\n" unless $st == 200 && ref $d eq 'ARRAY';
    return $d;
}

# stripe_intents_posted() -> list of the POST /v1/payment_intents entries of the log
sub stripe_intents_posted {
    return grep { $_->{method} eq 'POST' && $_->{path} eq '/v1/payment_intents' }
           @{ stripe_requests() };
}

# The suite server's webhook signing secret (DOCPORTAL_STRIPE_WEBHOOK_FILE).
sub webhook_secret {
    my $f = $ENV{DOCPORTAL_STRIPE_WEBHOOK_FILE} or die "DOCPORTAL_STRIPE_WEBHOOK_FILE not set\n";
    open my $fh, '<', $f or die "open $f: $!\n";
    my $s = do { local $/; <$fh> };
    close $fh;
    $s =~ s/\s+\z//;
    $s =~ s/\A\s+//;
    return $s;
}

# stripe_sign($payload_bytes, %opt) -> the Stripe-Signature header value Stripe would send:
# "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>". opt: t (default now), secret
# (default the suite's webhook secret).
sub stripe_sign {
    my ($payload, %o) = @_;
    require Digest::SHA;
    my $t = $o{t} // time;
    my $secret = $o{secret} // webhook_secret();
    my $bytes = $payload;
    utf8::encode($bytes) if utf8::is_utf8($bytes);
    return "t=$t,v1=" . Digest::SHA::hmac_sha256_hex("$t.$bytes", $secret);
}

# webhook_post($payload, $signature_header_or_undef, %opt) -> (status, body, res):
# POST /api/billing/webhook with the raw payload as application/json.
sub webhook_post {
    my ($payload, $sig, %o) = @_;
    return api(POST => '/api/billing/webhook', body => $payload,
               ctype => $o{ctype} // 'application/json',
               headers => [defined $sig ? ('Stripe-Signature' => $sig) : ()]);
}

# stripe_event_json(%o) -> (event id, JSON text) of a Stripe Event about a PaymentIntent:
# o: type (payment_intent.succeeded), id (evt_ random), intent (pi_ random), invoice (its id in
# metadata.invoice_id; undef: no metadata), amount (cents), received (amount_received; default
# amount for succeeded, 0 otherwise), currency (usd), pm (pm_card_visa), status.
sub stripe_event_json {
    my (%o) = @_;
    my $type = $o{type} // 'payment_intent.succeeded';
    my $id = $o{id} // 'evt_' . join('', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9)[rand 62] } 1 .. 24);
    my $pi = $o{intent} // 'pi_' . join('', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9)[rand 62] } 1 .. 24);
    my $succeeded = $type eq 'payment_intent.succeeded';
    my $amount = $o{amount} // 1000;
    my %obj = (
        id => $pi, object => 'payment_intent', amount => $amount + 0,
        amount_received => ($o{received} // ($succeeded ? $amount : 0)) + 0,
        currency => $o{currency} // 'usd', client_secret => "${pi}_secret_x",
        status => $o{status} // ($succeeded ? 'succeeded' : 'requires_payment_method'),
        metadata => { (defined $o{invoice} ? (invoice_id => $o{invoice}) : ()) },
        payment_method => $o{pm} // 'pm_card_visa', livemode => JSON::PP::false(),
        last_payment_error => $succeeded ? undef
            : { type => 'card_error', code => 'card_declined', message => 'Your card was declined.' },
    );
    my %ev = (id => $id, object => 'event', api_version => '2024-06-20', created => time,
              livemode => JSON::PP::false(), pending_webhooks => 1, type => $type,
              data => { object => \%obj });
    return ($id, $JSON->encode(\%ev));
}

# billing_practice(%provider_override) -> ($provider_token, $provider, $client_token, $client)
sub billing_practice {
    my (%o) = @_;
    my ($ptok, $prov) = provider_session(name => 'Dr Billing', %o);
    my ($ctok, $cli) = client_session($prov->{id}, name => 'Billed Client');
    return ($ptok, $prov, $ctok, $cli);
}

# create_invoice($provider_token, %body) -> (status, body, res): POST /api/billing/invoices;
# description defaults to 'Session'. undef values leave the field out.
sub create_invoice {
    my ($token, %b) = @_;
    $b{description} = 'Session' unless exists $b{description};
    delete @b{ grep { !defined $b{$_} } keys %b };
    return api(POST => '/api/billing/invoices', token => $token, json => \%b);
}

# invoice_list($token, $status_or_undef) -> (status, body, res): GET /api/billing/invoices
sub invoice_list {
    my ($token, $status) = @_;
    return api(GET => '/api/billing/invoices' . (defined $status ? "?status=$status" : ''),
               token => $token);
}

# pay_invoice($client_token, $invoice_id, $card_token) -> (status, body, res)
sub pay_invoice {
    my ($token, $id, $card) = @_;
    return api(POST => '/api/billing/pay', token => $token,
               json => { invoiceId => $id, paymentMethod => { cardToken => $card } });
}

# invoice_row($id) -> hashref {amount_cents, currency, status, payment_method, transaction_id,
# paid_at, issued_on, due_date, updated_at} straight from the table (NULL as ''), or undef.
sub invoice_row {
    my ($id) = @_;
    my @cols = qw(amount_cents currency status payment_method transaction_id paid_at issued_on
                  due_date updated_at);
    my $out = psql(q{SELECT amount_cents, currency, status, coalesce(payment_method, ''), }
                 . q{coalesce(transaction_id, ''), coalesce(paid_at::text, ''), issued_on, }
                 . q{due_date, updated_at FROM invoices WHERE id = } . sql_quote($id) . q{::uuid});
    return undef unless length $out;
    my %r;
    @r{@cols} = split /\|/, $out, -1;
    return \%r;
}

# invoice_to_overdue($id, $days): due date (and issue date) moved $days days into the past in
# the provider's time zone.
sub invoice_to_overdue {
    my ($id, $days) = @_;
    $days //= 1;
    my ($out, $rc, $err) = psql(
        q{UPDATE invoices i SET issued_on = (now() AT TIME ZONE p.time_zone)::date - } . ($days + 0)
      . q{ - 1, due_date = (now() AT TIME ZONE p.time_zone)::date - } . ($days + 0)
      . q{ FROM users p WHERE p.id = i.provider_id AND i.id = } . sql_quote($id) . q{::uuid});
    die "invoice_to_overdue($id): $err\n" if $rc;
    return 1;
}

# audit_single($res_or_request_id, {column => want (string, or a Regexp)}, $name): exactly one
# audit row carries that request's X-Request-Id and it matches.
sub audit_single {
    my ($res, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $rid = ref $res ? $res->header('X-Request-Id') : $res;
    my @rows = audit_events_for($rid);
    my @p;
    push @p, scalar(@rows) . " audit rows for request_id '" . ($rid // 'undef') . "', expected 1"
        if @rows != 1;
    if (@rows) {
        my $r = $rows[0];
        for my $k (sort keys %$want) {
            my $w = $want->{$k};
            my $ok = ref $w eq 'Regexp' ? $r->{$k} =~ $w : $r->{$k} eq $w;
            push @p, "$k is '$r->{$k}', expected '$w'" unless $ok;
        }
    }
    Test::More::ok(!@p, $name)
        or Test::More::diag(join("\n", @p, map { my $r = $_; join ' ', map { "$_=$r->{$_}" } sort keys %$r } @rows));
    return $rows[0];
}

# money_in_json($res, $key) -> the literal JSON text of "key":<number> in the body (first one),
# to check how an amount is printed (149.99, not 149.99000000000001).
sub money_in_json {
    my ($res, $key) = @_;
    my $c = ref $res ? $res->content : $res;
    return $c =~ /"\Q$key\E":(-?[0-9.eE+-]+)/ ? $1 : undef;
}


# ---------------------------------------------------------------------------------------------
# Clinical notes

push @EXPORT, qw(
    note_create note_get note_patch note_sign note_addendum
    appointment_for_note note_row addendum_rows psql_must
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

# psql_must(SQL) -> stdout (superuser); dies with psql's stderr when it fails.
sub psql_must {
    my ($sql) = @_;
    my ($out, $rc, $err) = psql($sql);
    die "psql failed: $err\n$sql\n" if $rc;
    return $out;
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
    my @rows;
    for my $line (grep { length } split /\n/, $out) {
        my %r;
        @r{@ADD_COLS} = split /\|/, $line, -1;
        push @rows, \%r;
    }
    return @rows;
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
    my @rows = audit_events_for($rid);
    my @p;
    push @p, scalar(@rows) . " audit rows for request_id '" . ($rid // 'undef') . "', expected 1"
        if @rows != 1;
    if (@rows) {
        my $r = $rows[0];
        for my $k (sort keys %$want) {
            my $w = $want->{$k};
            my $ok = ref $w eq 'Regexp' ? $r->{$k} =~ $w : $r->{$k} eq $w;
            push @p, "$k is '$r->{$k}', expected '$w'" unless $ok;
        }
    }
    Test::More::ok(!@p, $name)
        or Test::More::diag(join("\n", @p) . "\nrequest: " . $res->request->method . ' '
                            . $res->request->uri . ' -> ' . $res->code);
    return $rows[0];
}


# ---------------------------------------------------------------------------------------------
# Sessions and lockout (cookie sessions, lockout, idle timeout)

push @EXPORT, qw(set_cookies csrf_of http_at session_server login_race);

# set_cookies($res) -> {name => the whole Set-Cookie header} (LWP response or HTTP::Tiny's
# headers hashref)
sub set_cookies {
    my ($res) = @_;
    my @h = ref $res eq 'HASH' ? (ref $res->{'set-cookie'} ? @{ $res->{'set-cookie'} }
                                  : grep { defined } $res->{'set-cookie'})
                               : $res->header('Set-Cookie');
    my %c;
    for my $h (@h) {
        $c{$1} = $h if $h =~ /^([^=;\s]+)=/;
    }
    return \%c;
}

# csrf_of($token) -> the CSRF token the module binds to that session: hex HMAC-SHA256 under
# the suite's JWT secret of "csrf:" . jti
sub csrf_of {
    my ($token) = @_;
    my (undef, $c) = jwt_parts($token);
    return Digest::SHA::hmac_sha256_hex('csrf:' . ($c->{jti} // ''), jwt_secret());
}

# http_at($port, METHOD, PATH, %opt) -> (status, decoded body or undef, HTTP::Tiny response
# with its headers): a request to another httpd on 127.0.0.1:$port. opt: token, json,
# headers => {name => value}.
sub http_at {
    my ($port, $method, $path, %opt) = @_;
    require HTTP::Tiny;
    my %h = %{ $opt{headers} || {} };
    my %args;
    $h{Authorization} = "Bearer $opt{token}" if defined $opt{token};
    if (exists $opt{json}) {
        $h{'Content-Type'} = 'application/json';
        $args{content} = ref $opt{json} ? $JSON->encode($opt{json}) : $opt{json};
    }
    $args{headers} = \%h;
    my $r = HTTP::Tiny->new(timeout => 20)->request($method, "http://127.0.0.1:$port$path", \%args);
    my $d = eval { $JSON->decode($r->{content}) };
    return ($r->{status}, $d, $r);
}

# session_server($name, $directives) -> a second httpd (DocPortal::Server) on the suite's
# database, JWT secret and message key, over plain HTTP, with those directives added; one
# test that it started.
sub session_server {
    my ($name, $extra) = @_;
    require DocPortal::Server;
    my $srv = DocPortal::Server::start_httpd(
        name => $name, params => $ENV{DOCPORTAL_DBDPARAMS}, secs => 15,
        until => \&DocPortal::Server::listening,
        extra => "DocPortalJWTSecretFile $ENV{DOCPORTAL_JWT_SECRET_FILE}\n"
               . "DocPortalRequireTLS Off\n$extra");
    Test::More::ok(!defined $srv->{status}, "second httpd '$name' starts")
        or Test::More::diag($srv->{log});
    return $srv;
}

# login_race($n, $email, $password) -> race() results of $n logins at once
sub login_race {
    my ($n, $email, $password) = @_;
    return race(map { { method => 'POST', path => '/api/auth/login',
                        json => { email => $email, password => $password } } } 1 .. $n);
}

# ---------------------------------------------------------------------------------------------
# Audit report

push @EXPORT, qw(audit_report audit_insert_events csv_parse csv_cell_for EVENT_KEYS);

use constant EVENT_KEYS => [sort qw(id at actorId actorType action resourceType resourceId clientId
                                    ip outcome)];

# audit_report($token, \%query, @headers) -> (status, body, res): GET /api/audit?query, with
# extra request headers (e.g. Accept => 'text/csv').
sub audit_report {
    my ($token, $q, @headers) = @_;
    return api(GET => '/api/audit' . _query(%{ $q || {} }), token => $token,
               headers => \@headers);
}

my @EVENT_COLS = qw(at actor_id actor_type action resource_type resource_id client_id ip outcome
                    request_id);
my %EVENT_KEY = (at => 'at', actor_id => 'actorId', actor_type => 'actorType', action => 'action',
                 resource_type => 'resourceType', resource_id => 'resourceId',
                 client_id => 'clientId', ip => 'ip', outcome => 'outcome');

# audit_insert_events(\%row, ...) -> the rows as the report answers them (hashrefs with the
# event keys, plus seq): inserted straight into audit_events as the superuser, in order. A
# row gives columns (at, actor_id, actor_type, action, resource_type, resource_id, client_id,
# ip, outcome, request_id); undef or absent is NULL (actor_type defaults to anonymous,
# outcome to success, action to test.event).
sub audit_insert_events {
    my (@rows) = @_;
    my @values;
    for my $r (@rows) {
        my %r = (actor_type => 'anonymous', outcome => 'success', action => 'test.event', %$r);
        push @values, '(' . join(', ', map {
            my $v = $r{$_};
            !defined $v ? 'NULL'
                : $_ eq 'at' ? sql_quote($v) . '::timestamptz'
                : /_id$/ && $_ ne 'resource_id' && $_ ne 'request_id' ? sql_quote($v) . '::uuid'
                : sql_quote($v);
        } @EVENT_COLS) . ')';
    }
    my $sql = 'INSERT INTO audit_events (' . join(', ', @EVENT_COLS) . ') VALUES '
            . join(', ', @values) . ' RETURNING seq, id, dp_ts(at)';
    my $out = psql_must($sql);
    my @lines = grep { length } split /\n/, $out;
    die "audit_insert_events: " . scalar(@lines) . ' rows back for ' . scalar(@rows) . "\n"
        unless @lines == @rows;
    my @events;
    for my $i (0 .. $#rows) {
        my ($seq, $id, $at) = split /\|/, $lines[$i], -1;
        my %e = (seq => $seq, id => $id, at => $at, actorType => 'anonymous',
                 outcome => 'success', action => 'test.event');
        for my $c (grep { $_ ne 'at' && $_ ne 'request_id' } @EVENT_COLS) {
            $e{ $EVENT_KEY{$c} } = $rows[$i]{$c} if exists $rows[$i]{$c};
        }
        $e{$_} //= undef for @{ EVENT_KEYS() };
        push @events, \%e;
    }
    return @events;
}

# csv_parse($text) -> list of records (arrayrefs of cells), or dies when the text is not
# RFC 4180 CSV with CRLF record ends.
sub csv_parse {
    my ($text) = @_;
    my (@records, @cells);
    my $pos = 0;
    my $len = length $text;
    while ($pos < $len) {
        my $cell;
        if (substr($text, $pos, 1) eq '"') {
            $pos++;
            $cell = '';
            while (1) {
                my $q = index($text, '"', $pos);
                die "csv_parse: unterminated quoted cell at $pos\n" if $q < 0;
                $cell .= substr($text, $pos, $q - $pos);
                $pos = $q + 1;
                last unless substr($text, $pos, 1) eq '"';
                $cell .= '"';
                $pos++;
            }
        }
        else {
            substr($text, $pos) =~ /^([^,"\r\n]*)/;
            $cell = $1;
            $pos += length $cell;
        }
        push @cells, $cell;
        my $sep = substr($text, $pos, 1);
        if ($sep eq ',') {
            $pos++;
            push @cells, '' if $pos == $len;    # a trailing empty cell before the end
            next;
        }
        die "csv_parse: expected CRLF at $pos, found " . sprintf('%vd', substr($text, $pos, 2)) . "\n"
            unless substr($text, $pos, 2) eq "\r\n";
        $pos += 2;
        push @records, [@cells];
        @cells = ();
    }
    die "csv_parse: the last record has no CRLF\n" if @cells;
    return @records;
}

# csv_cell_for($value) -> the CSV cell the report writes for a JSON value: '' for null, and a
# leading apostrophe before = + - @ TAB CR (formula neutralisation).
sub csv_cell_for {
    my ($v) = @_;
    return '' unless defined $v;
    return $v =~ /^[=+\-\@\t\r]/ ? "'$v" : $v;
}

1;
