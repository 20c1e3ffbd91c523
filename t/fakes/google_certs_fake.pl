#!/usr/bin/perl
# google_certs_fake.pl: a local stand-in for Google's published sign-in keys, for the unit
# and API tests of mod_docportal's Google ID token verification.
#
#   perl t/fakes/google_certs_fake.pl --port N --cert KID=CERTFILE [--cert KID=CERTFILE ...]
#                                     [--max-age SECONDS] [--mode ok|down|garbage]
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
#
# Core Perl only: IO::Socket::INET, JSON::PP, MIME::Base64, POSIX; keys through the openssl
# command line.
use strict;
use warnings;

use Getopt::Long qw(GetOptions);
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(strftime);

my %MODES = map { $_ => 1 } qw(ok down garbage);
my @V = ('/oauth2/v1/certs', '/oauth2/v3/certs');

my ($port, $mode, $max_age0, @certs) = (0, 'ok', 21600);
GetOptions('port=i' => \$port, 'cert=s' => \@certs, 'max-age=i' => \$max_age0,
           'mode=s' => \$mode)
    or die "usage: $0 --port N --cert KID=CERTFILE ... [--max-age S] [--mode M]\n";
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
my $mode0 = $mode;
my ($keys, $order, %count, $max_age);
reset_state();

my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Proto => 'tcp',
                                Listen => 16, ReuseAddr => 1)
    or die "google_certs_fake: cannot listen on 127.0.0.1:$port: $!\n";
$SIG{PIPE} = 'IGNORE';
$| = 1;
print 'ready ', $srv->sockport, "\n";

while (1) {
    my $c = $srv->accept or next;
    eval { serve($c); 1 } or warn "google_certs_fake: $@";
    close $c;
}

sub reset_state {
    $keys = { %initial };
    $order = [@initial_order];
    %count = map { $_ => 0 } @V;
    $mode = $mode0;
    $max_age = $max_age0;
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

sub serve {
    my ($c) = @_;
    my $req = read_request($c) or return;
    my ($code, $body, $extra) = route($req);
    respond($c, $code, $body, $extra);
}

sub read_request {
    my ($c) = @_;
    local $SIG{ALRM} = sub { die "timeout reading a request\n" };
    alarm 10;
    my $line = <$c>;
    unless (defined $line && $line =~ m{^([A-Z]+) (\S+) HTTP/1\.[01]\r?\n$}) {
        alarm 0;
        return undef;
    }
    my ($method, $target) = ($1, $2);
    my %h;
    while (defined(my $hl = <$c>)) {
        $hl =~ s/\r?\n$//;
        last if $hl eq '';
        $h{lc $1} = $2 if $hl =~ /^([^:]+):\s*(.*?)\s*$/;
    }
    my $len = $h{'content-length'} // 0;
    die "bad Content-Length\n" unless $len =~ /^\d+$/ && $len <= 65536;
    my $body = '';
    while (length($body) < $len) {
        my $n = read($c, $body, $len - length($body), length($body));
        die "short body\n" unless $n;
    }
    alarm 0;
    my ($path, $query) = split /\?/, $target, 2;
    return { method => $method, path => $path, query => parse_form($query // ''),
             headers => \%h };
}

sub parse_form {
    my ($s) = @_;
    my %f;
    for my $pair (split /&/, $s) {
        my ($k, $v) = split /=/, $pair, 2;
        next unless defined $k && length $k;
        for ($k, $v) {
            $_ //= '';
            tr/+/ /;
            s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        }
        $f{$k} = $v;
    }
    return \%f;
}

sub respond {
    my ($c, $code, $body, $extra) = @_;
    my %reason = (200 => 'OK', 400 => 'Bad Request', 404 => 'Not Found',
                  405 => 'Method Not Allowed', 500 => 'Internal Server Error');
    $body = $json->encode($body) if ref $body;
    $body //= '';
    my $type = ($extra && $extra->{type}) || 'application/json; charset=UTF-8';
    my $head = "HTTP/1.1 $code " . ($reason{$code} // 'Status') . "\r\n"
        . "Content-Type: $type\r\nContent-Length: " . length($body) . "\r\n";
    for my $h (@{ ($extra && $extra->{headers}) || [] }) {
        $head .= "$h->[0]: $h->[1]\r\n";
    }
    print {$c} $head, "Connection: close\r\n\r\n", $body;
}

sub route {
    my ($r) = @_;
    my ($m, $p, $q) = ($r->{method}, $r->{path}, $r->{query});
    if (grep { $_ eq $p } @V) {
        return (405, { error => 'method' }) unless $m eq 'GET';
        $count{$p}++;
        return (500, { error => { code => 500, message => 'Backend Error' } }) if $mode eq 'down';
        return (200, 'this is not JSON {', { type => 'text/plain' }) if $mode eq 'garbage';
        my @cache = (
            [ 'Cache-Control', "public, max-age=$max_age, must-revalidate, no-transform" ],
            [ 'Expires', strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime(time + $max_age)) ],
            [ 'Date', strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime) ],
        );
        return (200, $p eq $V[0] ? certs_v1() : certs_jwks(), { headers => \@cache });
    }
    return (200, \%count) if $m eq 'GET' && $p eq '/__requests';
    return (405, { error => 'method' }) unless $m eq 'POST';
    if ($p eq '/__reset') { reset_state(); return (200, {}); }
    if ($p eq '/__mode') {
        my $want = $q->{mode} // '';
        return (400, { error => 'unknown mode' }) unless $MODES{$want};
        $mode = $want;
        return (200, { mode => $mode });
    }
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
    return (404, { error => 'not found' });
}
