#!/usr/bin/perl
# google_certs_fake.pl: a local stand-in for Google's published sign-in keys, for the unit
# and API tests of mod_docportal's Google ID token verification.
#
#   perl t/fakes/google_certs_fake.pl --port N --cert KID=CERTFILE [--cert KID=CERTFILE ...]
#                                     [--max-age SECONDS] [--mode ok|down|garbage]
#                                     [--signer KID=KEYFILE --client-id ID]
#
# --port 0 picks a free port. Once listening it prints "ready <port>" on stdout, then serves
# one connection at a time (HTTP/1.1, Connection: close) until killed. Each CERTFILE is a PEM
# "BEGIN CERTIFICATE" holding an RSA key; it is read once, when given.
#
#   GET  /oauth2/v1/certs   {"KID": "-----BEGIN CERTIFICATE-----\n...", ...}   (Google's v1)
#   GET  /oauth2/v3/certs   {"keys": [{"kid", "kty": "RSA", "alg": "RS256", "use": "sig",
#                            "n", "e"}, ...]}   (JWKS; n and e from `openssl x509`)
#        both with "Cache-Control: public, max-age=N, must-revalidate, no-transform"
#        (N from --max-age, default 21600) and an Expires header, like Google's
#   GET  /__requests        {"/oauth2/v1/certs": count, "/oauth2/v3/certs": count}: the
#                           key fetches received (whatever the mode answered)
#   POST /__reset           counts to 0, mode to ok, the keys back to the --cert ones,
#                           max-age back to --max-age
#   POST /__mode?mode=M     ok | down (the certs paths answer 500) | garbage (200, not JSON)
#   POST /__add?kid=K&cert=PATH     serve one more key (rotation); PATH is read now
#   POST /__remove?kid=K            stop serving a key
#   POST /__max_age?s=N             change the max-age answered
#   POST /__delay?ms=N              answer the certs paths N ms late (0 after a reset), so
#                                   that concurrent fetches would overlap
#
# For the portal's browser tests, with --signer (the RSA private key of one of the --cert
# keys, PEM), a stand-in for Google Identity Services (t/fakes/google_gsi.js, not Google's
# code) and the ID tokens it hands to the page, both for any origin
# (Access-Control-Allow-Origin: *):
#   GET  /gsi/client    the stand-in script
#   POST /gsi/token     form: email, client_id: {"credential": an ID token as Google makes it
#                       (RS256, kid KID, iss https://accounts.google.com, aud client_id, sub
#                       derived from the email, email_verified true, an hour to live)}
#   POST /__claims      a JSON object of claims that every later token carries instead (e.g.
#                       {"email_verified": false}, {"aud": "another-client"}), until /__reset
#
# Core Perl only: Digest::SHA, JSON::PP, MIME::Base64, POSIX, and the fakes' server loop
# (t/lib/DocPortal/FakeServer.pm); keys through the openssl command line.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use DocPortal::FakeServer qw(serve_http);
use Getopt::Long qw(GetOptions);
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(encode_base64);
use POSIX qw(strftime);
use Time::HiRes ();

my %MODES = map { $_ => 1 } qw(ok down garbage);
my @V = ('/oauth2/v1/certs', '/oauth2/v3/certs');

my ($port, $mode, $max_age0, $signer, @certs) = (0, 'ok', 21600);
GetOptions('port=i' => \$port, 'cert=s' => \@certs, 'max-age=i' => \$max_age0,
           'mode=s' => \$mode, 'signer=s' => \$signer)
    or die "usage: $0 --port N --cert KID=CERTFILE ... [--max-age S] [--mode M] [--signer KID=KEYFILE]\n";
die "google_certs_fake: unknown mode '$mode'\n" unless $MODES{$mode};

my $json = JSON::PP->new->canonical;
my (%initial, @initial_order);
for my $c (@certs) {
    my ($kid, $path) = $c =~ /^([^=]+)=(.+)$/
        or die "google_certs_fake: --cert wants KID=CERTFILE, not '$c'\n";
    my $k = load_key($path) or die "google_certs_fake: cannot read an RSA certificate in $path\n";
    push @initial_order, $kid unless exists $initial{$kid};
    $initial{$kid} = $k;
}
my ($signer_kid, $signer_key) = defined $signer ? $signer =~ /^([^=]+)=(.+)$/ : ();
die "google_certs_fake: --signer wants KID=KEYFILE (a readable PEM key)\n"
    if defined $signer && !(defined $signer_key && -r $signer_key);
my $GSI_JS = "$FindBin::Bin/google_gsi.js";
my @CORS = (['Access-Control-Allow-Origin', '*'], ['Cache-Control', 'no-store']);
my $mode0 = $mode;
my ($keys, $order, %count, $max_age, %claims, $delay_ms);
reset_state();

serve_http(name => 'google_certs_fake', port => $port, route => \&route, json => $json,
           max_body => 65536,
           control => { requests => sub { \%count }, reset => \&reset_state,
                        modes => \%MODES, mode => \$mode });

sub reset_state {
    $keys = { %initial };
    $order = [@initial_order];
    %count = map { $_ => 0 } @V;
    $mode = $mode0;
    $max_age = $max_age0;
    %claims = ();
    $delay_ms = 0;
}

# ---- keys ------------------------------------------------------------------------------------

sub b64url {
    my ($bytes) = @_;
    (my $s = encode_base64($bytes, '')) =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

# openssl's output, or undef when it failed; stderr silenced.
sub run_openssl {
    my @args = @_;
    open(my $saved, '>&', \*STDERR) or die "dup stderr: $!";
    open(STDERR, '>', '/dev/null') or die "stderr: $!";
    my $text;
    if (open(my $out, '-|', 'openssl', @args)) {
        $text = do { local $/; <$out> };
        $text = undef unless close $out;
    }
    open(STDERR, '>&', $saved) or die "restore stderr: $!";
    return $text;
}

# {pem, n, e} of an RSA certificate file, or undef.
sub load_key {
    my ($path) = @_;
    return undef unless defined $path && -r $path;
    my $pem = do { local $/; open(my $f, '<', $path) or return undef; <$f> };
    return undef unless $pem =~ /(-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?)/s;
    $pem = $1;
    $pem .= "\n" unless $pem =~ /\n$/;
    my $mod = run_openssl('x509', '-in', $path, '-noout', '-modulus') // '';
    my $text = run_openssl('x509', '-in', $path, '-noout', '-text') // '';
    my ($hex) = $mod =~ /^Modulus=([0-9A-Fa-f]+)\s*$/m;
    my ($exp) = $text =~ /Exponent:\s*(\d+)/;
    return undef unless defined $hex && defined $exp;
    $hex = "0$hex" if length($hex) % 2;
    my $n = pack('H*', $hex);
    $n =~ s/^\x00+//;
    my $e = '';
    while ($exp > 0) { $e = chr($exp & 0xff) . $e; $exp >>= 8; }
    return { pem => $pem, n => b64url($n), e => b64url($e) };
}

sub certs_v1 {
    return { map { $_ => $keys->{$_}{pem} } @$order };
}

sub certs_jwks {
    return { keys => [ map { { kid => $_, kty => 'RSA', alg => 'RS256', use => 'sig',
                               n => $keys->{$_}{n}, e => $keys->{$_}{e} } } @$order ] };
}

# ---- HTTP ------------------------------------------------------------------------------------

sub route {
    my ($r) = @_;
    my ($m, $p, $q) = ($r->{method}, $r->{path}, $r->{query});
    return gsi_script() if $m eq 'GET' && $p eq '/gsi/client';
    return gsi_token($r) if $m eq 'POST' && $p eq '/gsi/token';
    return set_claims($r) if $m eq 'POST' && $p eq '/__claims';
    if (grep { $_ eq $p } @V) {
        return (405, { error => 'method' }) unless $m eq 'GET';
        $count{$p}++;
        Time::HiRes::sleep($delay_ms / 1000) if $delay_ms;
        return (500, { error => { code => 500, message => 'Backend Error' } }) if $mode eq 'down';
        return (200, 'this is not JSON {', { type => 'text/plain' }) if $mode eq 'garbage';
        my @cache = (
            [ 'Cache-Control', "public, max-age=$max_age, must-revalidate, no-transform" ],
            [ 'Expires', strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime(time + $max_age)) ],
            [ 'Date', strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime) ],
        );
        return (200, $p eq $V[0] ? certs_v1() : certs_jwks(), { headers => \@cache });
    }
    return (405, { error => 'method' }) unless $m eq 'POST';
    if ($p eq '/__add') {
        my ($kid, $path) = ($q->{kid} // '', $q->{cert});
        return (400, { error => 'kid and cert are required' }) unless length $kid && defined $path;
        my $k = load_key($path) or return (400, { error => 'not an RSA certificate' });
        push @$order, $kid unless exists $keys->{$kid};
        $keys->{$kid} = $k;
        return (200, { kids => $order });
    }
    if ($p eq '/__remove') {
        my $kid = $q->{kid} // '';
        return (404, { error => 'no such kid' }) unless exists $keys->{$kid};
        delete $keys->{$kid};
        @$order = grep { $_ ne $kid } @$order;
        return (200, { kids => $order });
    }
    if ($p eq '/__max_age') {
        my $s = $q->{s} // '';
        return (400, { error => 's must be a number' }) unless $s =~ /^\d+$/;
        $max_age = $s;
        return (200, { max_age => $max_age + 0 });
    }
    if ($p eq '/__delay') {
        my $ms = $q->{ms} // '';
        return (400, { error => 'ms must be a number' }) unless $ms =~ /^\d{1,5}$/;
        $delay_ms = $ms;
        return (200, { delay_ms => $delay_ms + 0 });
    }
    return (404, { error => 'not found' });
}

# ---- the Google Identity Services stand-in and its ID tokens ----------------------------------

sub gsi_script {
    open my $fh, '<:raw', $GSI_JS or return (500, { error => "$GSI_JS: $!" });
    local $/;
    my $js = <$fh>;
    return (200, $js, { type => 'text/javascript; charset=utf-8', headers => \@CORS });
}

sub set_claims {
    my ($r) = @_;
    my $c = eval { $json->decode($r->{body}) };
    return (400, { error => 'a JSON object of claims' }) unless ref $c eq 'HASH';
    %claims = %$c;
    return (200, { claims => \%claims });
}

# The RS256 signature of INPUT under the signer's key (openssl reads it from a file).
sub rs256 {
    my ($input) = @_;
    my $tmp = "/tmp/google_certs_fake.$$.in";
    open(my $f, '>:raw', $tmp) or die "$tmp: $!";
    print {$f} $input;
    close $f;
    my $sig = run_openssl('dgst', '-sha256', '-sign', $signer_key, $tmp);
    unlink $tmp;
    return $sig;
}

sub gsi_token {
    my ($r) = @_;
    return (404, { error => 'no --signer' }, { headers => \@CORS }) unless defined $signer;
    my $f = DocPortal::FakeServer::parse_form($r->{body} // '');
    my ($email, $aud) = ($f->{email} // '', $f->{client_id} // '');
    return (400, { error => 'email and client_id are required' }, { headers => \@CORS })
        unless $email =~ /^[^@\s]+@[^@\s]+$/ && length $aud;
    my $now = time;
    my $sub = '1' . substr(sha256_hex(lc $email), 0, 20);
    my %c = (iss => 'https://accounts.google.com', azp => $aud, aud => $aud,
             sub => $sub, email => lc $email, email_verified => JSON::PP::true,
             name => (split /@/, $email)[0], iat => $now, exp => $now + 3600, %claims);
    my $input = b64url($json->encode({ alg => 'RS256', kid => $signer_kid, typ => 'JWT' }))
        . '.' . b64url($json->encode(\%c));
    my $sig = rs256($input);
    return (500, { error => 'signing failed' }, { headers => \@CORS }) unless defined $sig;
    return (200, { credential => "$input." . b64url($sig) }, { headers => \@CORS });
}
