# Transport: HTTPS only, HSTS, DocPortalTrustForwardedProto, the example mod_ssl site
# (conf/docportal-ssl.conf) and the security headers. Runs against second servers on the
# suite's database, so it means the same in the plain and the TLS pass.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Server qw(free_port start_httpd stop_httpd);
use File::Temp qw(tempdir);
use HTTP::Tiny ();
use JSON::PP ();

my $CERT = $ENV{DOCPORTAL_TLS_CERT};
my $KEY  = $ENV{DOCPORTAL_TLS_KEY};
my $MODS = '/usr/lib/apache2/modules';
my $secret = "DocPortalJWTSecretFile $ENV{DOCPORTAL_JWT_SECRET_FILE}";
my $tiny = HTTP::Tiny->new(timeout => 20, max_redirect => 0, verify_SSL => 1,
                           SSL_options => { SSL_ca_file => $CERT });

# call($url, %opt) -> (status, decoded body or undef, headers (lower-case names), raw body)
sub call {
    my ($url, %opt) = @_;
    my %h = @{ $opt{headers} || [] };
    $h{Authorization} = "Bearer $opt{token}" if defined $opt{token};
    my %args = (headers => \%h);
    if (exists $opt{json}) {
        $h{'Content-Type'} = 'application/json';
        $args{content} = JSON::PP::encode_json($opt{json});
    }
    my $r = $tiny->request($opt{method} // 'GET', $url, \%args);
    my $d = eval { JSON::PP::decode_json($r->{content}) };
    return ($r->{status}, $d, $r->{headers}, $r->{content});
}

sub server {
    my ($name, $extra) = @_;
    my $srv = start_httpd(name => $name, params => $ENV{DOCPORTAL_DBDPARAMS},
                          extra => "$secret\n$extra", until => \&DocPortal::Server::listening);
    die "server $name did not start:\n$srv->{log}" if defined $srv->{status};
    return $srv;
}

my ($token, $user) = provider_session();
my $email = $user->{email};

# ---- the suite's own TLS virtual host: HSTS on every answer over TLS, never over plain ------
{
    my $hp = Apache::Test::config()->{vhosts}{docportal_tls}{hostport};
    (my $tls_base = "https://$hp") =~ s/localhost/127.0.0.1/;
    my ($st, $d, $h) = call("$tls_base/api/health");
    is($st, 200, 'TLS virtual host: /api/health 200');
    is($h->{'strict-transport-security'}, 'max-age=31536000',
       'TLS answer carries Strict-Transport-Security max-age=31536000 (the default)');
    ($st, $d, $h) = call("$tls_base/api/auth/me");
    is($st, 401, 'TLS: /api/auth/me without a token is 401');
    ok(defined $h->{'strict-transport-security'}, '... and an error answer over TLS has HSTS too');
    ($st, $d, $h) = call("$tls_base/api/auth/me", token => $token);
    is($st, 200, 'TLS with DocPortalRequireTLS On: the API answers');
    is($d->{user}{id}, $user->{id}, '... with the caller');
}

# ---- defaults: DocPortalRequireTLS On unless said otherwise -------------------------------
my $strict = server('strict', '');
my $base = "http://127.0.0.1:$strict->{port}";
{
    my ($st, $d, $h) = call("$base/api/health");
    is($st, 200, 'default config, plain HTTP: /api/health stays open (load balancers)');
    ok(!defined $h->{'strict-transport-security'}, '... without HSTS over plain HTTP');

    my $mark_sql = q{SELECT count(*) FROM audit_events WHERE action = 'user.read' AND actor_id = }
                 . sql_quote($user->{id});
    my $before = psql($mark_sql);
    ($st, $d, $h) = call("$base/api/auth/me", token => $token);
    is($st, 403, 'default config, plain HTTP: a valid token still gets 403');
    is($d->{code}, 'tls_required', '... code tls_required');
    is_deeply([sort keys %{ $d || {} }], [qw(code detail)], '... and nothing but the error: no data');
    ok(!defined $h->{'strict-transport-security'}, '... no HSTS on a plain answer');
    is($h->{'cache-control'}, 'no-store', '... Cache-Control: no-store');
    is($h->{'x-content-type-options'}, 'nosniff', '... nosniff');
    is(psql($mark_sql), $before, '... refused before the record was read (no user.read event)');

    ($st, $d) = call("$base/api/auth/login", method => 'POST',
                     json => { email => $email, password => $DocPortal::Test::PASSWORD });
    is($st, 403, 'plain HTTP login with the right password: 403');
    ok(!exists $d->{token}, '... no token handed out in the clear');

    ($st, $d) = call("$base/api/auth/me", token => $token,
                     headers => ['X-Forwarded-Proto' => 'https']);
    is($st, 403, 'X-Forwarded-Proto: https is not trusted by default (DocPortalTrustForwardedProto Off)');
}
stop_httpd($strict);

# ---- behind a TLS-terminating proxy: DocPortalTrustForwardedProto On -------------------------
my $proxy = server('proxied', "DocPortalTrustForwardedProto On\n"
                            . 'DocPortalHSTS "max-age=63072000; includeSubDomains"');
$base = "http://127.0.0.1:$proxy->{port}";
{
    my ($st, $d, $h) = call("$base/api/auth/me", token => $token,
                            headers => ['X-Forwarded-Proto' => 'https']);
    is($st, 200, 'TrustForwardedProto On: X-Forwarded-Proto https is TLS');
    is($h->{'strict-transport-security'}, 'max-age=63072000; includeSubDomains',
       '... and the answer carries the configured DocPortalHSTS value');
    for my $xfp ('http', 'https, http', 'httpsx', '') {
        ($st, $d, $h) = call("$base/api/auth/me", token => $token,
                             headers => ['X-Forwarded-Proto' => $xfp]);
        is($st, 403, "TrustForwardedProto On: X-Forwarded-Proto '$xfp' is plain: 403");
        ok(!defined $h->{'strict-transport-security'}, "... no HSTS for '$xfp'");
    }
    ($st, $d, $h) = call("$base/api/auth/me", token => $token);
    is($st, 403, 'TrustForwardedProto On: no X-Forwarded-Proto at all is plain: 403');
    ($st, $d, $h) = call("$base/api/auth/me", token => $token,
                         headers => ['X-Forwarded-Proto' => 'HTTPS']);
    is($st, 200, 'the scheme is case-insensitive (HTTPS)');
}
stop_httpd($proxy);

my $nohsts = server('nohsts', "DocPortalTrustForwardedProto On\nDocPortalHSTS Off");
{
    my ($st, $d, $h) = call("http://127.0.0.1:$nohsts->{port}/api/health",
                            headers => ['X-Forwarded-Proto' => 'https']);
    is($st, 200, 'DocPortalHSTS Off: health 200');
    ok(!defined $h->{'strict-transport-security'}, 'DocPortalHSTS Off: no HSTS header');
}
stop_httpd($nohsts);

for my $bad ('max-age=abc', 'includeSubDomains', 'max-age=') {
    my $srv = start_httpd(name => 'badhsts', params => $ENV{DOCPORTAL_DBDPARAMS},
                          extra => "$secret\nDocPortalHSTS \"$bad\"", secs => 5);
    ok(defined $srv->{status} && $srv->{status} != 0, "DocPortalHSTS '$bad': httpd refuses to start");
    like($srv->{log}, qr/DocPortalHSTS: .* is not a Strict-Transport-Security value/,
         "... and says why");
    stop_httpd($srv);
}

# ---- the example site, conf/docportal-ssl.conf, run as shipped (ports and names adapted) -----
{
    my $dir = tempdir(CLEANUP => 1);
    my ($https_port, $http_port) = (free_port(), free_port());
    open my $in, '<', "$ENV{DP_ROOT}/conf/docportal-ssl.conf" or die $!;
    my $site = do { local $/; <$in> };
    close $in;
    $site =~ s/^Define DOCPORTAL_HOST .*$/Define DOCPORTAL_HOST 127.0.0.1/m or die;
    $site =~ s/^Define DOCPORTAL_CERT .*$/Define DOCPORTAL_CERT $CERT/m or die;
    $site =~ s/^Define DOCPORTAL_KEY .*$/Define DOCPORTAL_KEY $KEY/m or die;
    $site =~ s/<VirtualHost \*:443>/<VirtualHost *:$https_port>/ or die;
    $site =~ s/<VirtualHost \*:80>/<VirtualHost *:$http_port>/ or die;
    open my $out, '>', "$dir/example-ssl.conf" or die $!;
    print $out $site;
    close $out;
    chmod 0755, $dir;
    my $srv = start_httpd(name => 'site', params => $ENV{DOCPORTAL_DBDPARAMS}, dir => $dir,
                          until => sub { DocPortal::Server::listening($https_port) },
                          extra => join("\n", $secret,
                                        "LoadModule socache_shmcb_module $MODS/mod_socache_shmcb.so",
                                        "LoadModule ssl_module $MODS/mod_ssl.so",
                                        "LoadModule alias_module $MODS/mod_alias.so",
                                        "Listen 127.0.0.1:$https_port", "Listen 127.0.0.1:$http_port",
                                        "Include $dir/example-ssl.conf"));
    ok(!defined $srv->{status}, 'the example site starts as shipped') or diag($srv->{log});

    my $tls_base = "https://127.0.0.1:$https_port";
    my ($st, $d, $h) = call("$tls_base/api/auth/me", token => $token);
    is($st, 200, 'example site: the API over https');
    is($h->{'strict-transport-security'}, 'max-age=31536000', 'example site: HSTS');
    unlike($h->{server} // '', qr/docportal/i, 'the Server header names no module version');
    ok(!defined $h->{'x-powered-by'}, 'no X-Powered-By');

    ($st, $d, $h) = call("http://127.0.0.1:$http_port/index.html");
    is($st, 301, 'example site, port 80: a page is redirected');
    is($h->{location}, 'https://127.0.0.1/index.html', '... to https');
    ($st, $d) = call("http://127.0.0.1:$http_port/api/auth/me", token => $token);
    is($st, 403, 'example site, port 80: the API is refused, not redirected');
    is($d->{code}, 'tls_required', '... tls_required');
    ($st, $d) = call("http://127.0.0.1:$http_port/api/health");
    is($st, 200, 'example site, port 80: /api/health open');

    # The protocol and cipher floor, from the server's side: the client offers everything it
    # knows (security level 0) and only the server can refuse.
    my $try = sub {
        my (@args) = @_;
        my ($o, $proto, $cipher) = ('');
        for (1 .. 3) {    # a loaded machine may drop a connection: only a handshake counts
            $o = `echo | openssl s_client -connect 127.0.0.1:$https_port -servername 127.0.0.1 @args 2>&1`;
            ($proto, $cipher) = $o =~ /^(?:New|Reused), (\S+), Cipher is (\S+)/m;
            ($proto) = $o =~ /^\s*Protocol\s*:\s*(\S+)/m unless defined $proto;
            ($cipher) = $o =~ /^\s*Cipher\s*:\s*(\S+)/m unless defined $cipher;
            last if $o =~ /^CONNECTED/m;
            select undef, undef, undef, 0.5;
        }
        Test::More::note("openssl s_client @args:\n$o") unless defined $proto;
        return ($proto // '', $cipher // '');
    };
    my ($p, $c) = $try->('-tls1_3');
    is($p, 'TLSv1.3', 'TLS 1.3 is accepted');
    ($p, $c) = $try->('-tls1_2');
    is($p, 'TLSv1.2', 'TLS 1.2 is accepted');
    like($c, qr/^ECDHE-ECDSA-(?:AES\d+-GCM|CHACHA20)/, "... with a forward-secret AEAD cipher ($c)");
    for my $old ('-tls1_1', '-tls1') {
        ($p, $c) = $try->($old, '-cipher', 'ALL@SECLEVEL=0');
        ok($c eq '' || $c eq '0000' || $c eq '(NONE)', "$old is refused by the server")
            or diag("protocol $p cipher $c");
    }
    for my $weak ('ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'AES128-GCM-SHA256',
                  'ECDHE-ECDSA-AES128-SHA256') {
        ($p, $c) = $try->('-tls1_2', '-cipher', "$weak\@SECLEVEL=0");
        ok($c eq '' || $c eq '0000' || $c eq '(NONE)', "TLS 1.2 with $weak (CBC or no forward secrecy) is refused")
            or diag("protocol $p cipher $c");
    }
    stop_httpd($srv);
}

done_testing();
