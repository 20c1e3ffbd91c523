package DocPortal::Users;
# Accounts and sessions: registering providers and clients, logging in, invitations, JWTs,
# cookie sessions and CSRF tokens, a second httpd for session settings, concurrent logins.
use strict;
use warnings;

use Exporter 'import';
use Digest::SHA qw(hmac_sha256 hmac_sha384);
use MIME::Base64 qw(encode_base64url decode_base64url);
use DocPortal::Http qw(api dump_res $JSON);
use DocPortal::Race qw(race);

our @EXPORT = qw(
    unique_email register_provider register_client register login
    jwt_make jwt_parts jwt_secret uuid_v4
    PROVIDER_KEYS CLIENT_KEYS PUBLIC_PROVIDER_KEYS
    provider_session client_session invite_client invite_token_of
    set_cookies csrf_of session_server login_race
);
# $PASSWORD: the password of every account these helpers register (the tests read it as
# $DocPortal::Test::PASSWORD); secret_file: a secret the suite keeps in a file
our @EXPORT_OK = qw($PASSWORD secret_file);

use constant PROVIDER_KEYS => [sort qw(id email name userType phone avatar specialty license bio
                                       hourlyRate timeZone emailVerified notificationPrefs
                                       createdAt updatedAt)];
use constant CLIENT_KEYS   => [sort qw(id email name userType phone avatar dateOfBirth address
                                       insurance providerId emergencyContact emailVerified
                                       notificationPrefs createdAt updatedAt)];
use constant PUBLIC_PROVIDER_KEYS => [sort qw(id name email phone avatar specialty bio hourlyRate
                                              timeZone)];

# ---------------------------------------------------------------------------------------------
# Registering and logging in

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

# ---------------------------------------------------------------------------------------------
# JWT

# secret_file($env_name) -> the secret in the file that environment variable names, trimmed
sub secret_file {
    my ($var) = @_;
    my $f = $ENV{$var} or die "$var not set\n";
    open my $fh, '<', $f or die "open $f: $!\n";
    my $s = do { local $/; <$fh> };
    close $fh;
    $s =~ s/\s+\z//;
    $s =~ s/\A\s+//;
    return $s;
}

sub jwt_secret { return secret_file('DOCPORTAL_JWT_SECRET_FILE') }

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
# Sessions and lockout (cookie sessions, lockout, idle timeout)

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

1;
