# Sign-in with Google: a second httpd is configured with an OAuth client id and a certs URL
# that points at a local fake serving certificates in Google's v1 shape. The test signs ID
# tokens with its own RSA keys, the way Google does (RS256, kid in the header).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use Digest::SHA qw(hmac_sha256);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use DocPortal::Record ();
use DocPortal::Server qw(start_httpd stop_httpd free_port);

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $json = JSON::PP->new->canonical;
my $http = HTTP::Tiny->new(timeout => 20);
my $CLIENT_ID = '1234-docportal.apps.googleusercontent.com';

sub keypair {
    my ($name) = @_;
    system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/$name.key -out $dir/$name.crt"
           . " -days 2 -subj /CN=$name 2>/dev/null") == 0 or die "openssl req: $?";
}
keypair('k1');
keypair('k2');
keypair('other');

my $fake_pid = open(my $fake, '-|', 'perl', "$FindBin::Bin/../fakes/google_certs_fake.pl",
                    '--port', '0', '--cert', "kid-1=$dir/k1.crt") or die "fake: $!";
my ($fport) = (<$fake> // '') =~ /^ready (\d+)/ or die 'certs fake did not start';
my $fake_url = "http://127.0.0.1:$fport";

sub b64url { my $s = encode_base64($_[0], ''); $s =~ tr{+/}{-_}; $s =~ s/=+$//; $s }

# An ID token: header and claims as Google makes them, signed RS256 with KEY (or raw parts).
sub id_token {
    my (%o) = @_;
    my $now = time;
    my %claims = (iss => 'https://accounts.google.com', aud => $CLIENT_ID, sub => $o{sub},
                  email => $o{email}, email_verified => JSON::PP::true, name => 'Test Person',
                  iat => $now, exp => $now + 3600, %{ $o{claims} // {} });
    my $hdr = { alg => $o{alg} // 'RS256', kid => $o{kid} // 'kid-1', typ => 'JWT' };
    my $input = b64url($json->encode($hdr)) . '.' . b64url($json->encode(\%claims));
    my $sig;
    if (($o{alg} // 'RS256') eq 'RS256') {
        open my $in, '>', "$dir/input" or die $!;
        print $in $input;
        close $in;
        $sig = `openssl dgst -sha256 -sign $dir/$o{key}.key $dir/input`;
    }
    elsif ($o{alg} eq 'HS256') {
        $sig = hmac_sha256($input, $o{hmac_key});
    }
    else {
        $sig = '';
    }
    return $input . '.' . b64url($sig);
}

my $secret = "$dir/jwt";
{ open my $s, '>', $secret or die $!; print $s ('s' x 48), "\n"; close $s; chmod 0600, $secret }

sub server {
    my ($name, $certs, @more) = @_;
    return start_httpd(name => $name, dir => $dir, params => $ENV{DOCPORTAL_DBDPARAMS}, secs => 15,
                       until => \&DocPortal::Server::listening,
                       extra => join("\n", "DocPortalJWTSecretFile $secret", 'DocPortalRequireTLS Off',
                                     "DocPortalGoogleClientID $CLIENT_ID",
                                     "DocPortalGoogleCertsURL $certs", @more));
}

my $srv = server('gsignin', "$fake_url/oauth2/v1/certs");
ok(!defined $srv->{status}, 'httpd with Google sign-in starts') or diag $srv->{log};
my $base = "http://127.0.0.1:$srv->{port}/api";

sub call {
    my ($method, $path, $body, $token, $b) = @_;
    my %h = ('Content-Type' => 'application/json');
    $h{Authorization} = "Bearer $token" if $token;
    my $r = $http->request($method, ($b // $base) . $path,
                           { headers => \%h, defined $body ? (content => $json->encode($body)) : () });
    DocPortal::Record::answer_tiny($method, ($b // $base) . $path, $r);    # for t/api/990_openapi.t
    return ($r->{status}, eval { decode_json($r->{content}) });
}

sub fetches { decode_json($http->get("$fake_url/__requests")->{content})->{'/oauth2/v1/certs'} // 0 }

# what a sign-in page learns before anyone signs in: the client id, where Google Identity
# Services comes from (the default here); on the main server, which has no client id, null
my ($cst, $cfg) = call(GET => '/auth/config');
is($cst, 200, 'GET /api/auth/config without a session: 200');
is_deeply($cfg, { googleClientId => $CLIENT_ID, googleGsiUrl => 'https://accounts.google.com/gsi/client' },
          '... {googleClientId: the configured one, googleGsiUrl: Google\'s (the default)}');
($cst, $cfg) = call(GET => '/auth/config', undef, undef, Apache::TestRequest::resolve_url('/api'));
is($cst, 200, "the main server's: 200");
is_deeply($cfg, { googleClientId => undef, googleGsiUrl => 'https://accounts.google.com/gsi/client' },
          '... googleClientId null (Google sign-in is off)');

my $n = int(rand(1e9));
my $email = "g.person.$n\@gmail.example";
my $sub = "1" . int(rand(1e15));

# a new Google account: userType is required, then the account is created
my ($st, $b) = call(POST => '/auth/google', { googleToken => id_token(key => 'k1', sub => $sub, email => $email) });
is($st, 422, 'new Google account without userType: 422');
is($b->{field}, 'userType', '... field userType');
($st, $b) = call(POST => '/auth/google',
                 { googleToken => id_token(key => 'k1', sub => $sub, email => uc $email), userType => 'client' });
is($st, 201, 'new Google account with userType: 201');
ok($b->{token} && $b->{user}, '{token, user}');
is($b->{user}{email}, $email, 'email stored lower-case');
is($b->{user}{userType}, 'client', 'as a client');
my $uid = $b->{user}{id};
($st, my $me) = call(GET => '/auth/me', undef, $b->{token});
is($me->{user}{id}, $uid, 'the session token works');

# the same Google account again logs in
($st, $b) = call(POST => '/auth/google', { googleToken => id_token(key => 'k1', sub => $sub, email => $email) });
is($st, 200, 'known Google account logs in: 200');
is($b->{user}{id}, $uid, '... as the same user');

# every failed check is the same 401, with no detail that helps an attacker
my @bad = (
    ['wrong aud', id_token(key => 'k1', sub => $sub, email => $email, claims => { aud => 'other-client' })],
    ['wrong iss', id_token(key => 'k1', sub => $sub, email => $email, claims => { iss => 'https://evil.example' })],
    ['expired', id_token(key => 'k1', sub => $sub, email => $email, claims => { exp => time - 3600, iat => time - 7200 })],
    ['unverified email', id_token(key => 'k1', sub => $sub, email => $email, claims => { email_verified => JSON::PP::false })],
    ['signed by another key', id_token(key => 'other', sub => $sub, email => $email)],
    ['HS256 with the certificate as secret',
     id_token(alg => 'HS256', sub => $sub, email => $email,
              hmac_key => do { local (@ARGV, $/) = ("$dir/k1.crt"); <> })],
    ['alg none', id_token(alg => 'none', sub => $sub, email => $email)],
    ['garbage', 'not.a.token'],
);
my %bodies;
for my $case (@bad) {
    ($st, $b) = call(POST => '/auth/google', { googleToken => $case->[1] });
    is($st, 401, "$case->[0]: 401");
    is($b->{code}, 'unauthorized', "$case->[0]: code unauthorized");
    $bodies{ $json->encode($b) }++;
}
is(scalar keys %bodies, 1, 'every refusal has the same body');

# key rotation: an unknown kid makes the module fetch the keys again (once)
my $before = fetches();
$http->post("$fake_url/__add?kid=kid-2&cert=$dir/k2.crt");
($st, $b) = call(POST => '/auth/google', { googleToken => id_token(key => 'k2', kid => 'kid-2', sub => $sub, email => $email) });
is($st, 200, 'a token under a newly published key verifies');
is(fetches(), $before + 1, 'the unknown kid caused exactly one refetch');
($st, $b) = call(POST => '/auth/google', { googleToken => id_token(key => 'other', kid => 'kid-9', sub => $sub, email => $email) });
is($st, 401, 'another unknown kid: 401');
is(fetches(), $before + 1, 'no second refetch within a minute');

# a client the provider invited claims its record with a verified Google email
($st, my $prov) = call(POST => '/auth/register', { email => "g.provider.$n\@clinic.example",
    password => 'correct horse', name => 'Dr G', userType => 'provider' });
is($st, 201, 'provider registered');
my $invited = "g.invited.$n\@example.com";
($st, my $client) = call(POST => '/provider/clients', { email => $invited, name => 'Invited Person' }, $prov->{token});
is($st, 201, 'provider invited a client');
($st, $b) = call(POST => '/auth/google', { googleToken => id_token(key => 'k1', sub => "2$n", email => $invited) });
is($st, 200, 'the invited client signs in with Google');
is($b->{user}{id}, $client->{id}, '... claiming the invited record');
is($b->{user}{providerId}, $prov->{user}{id}, '... under its provider');
my $row = `$ENV{DP_PSQL} -At -c "SELECT google_sub FROM users WHERE id = '$client->{id}'"`;
chomp $row;
is($row, "2$n", 'the Google account is linked to the record');
($st, $b) = call(POST => '/auth/google', { googleToken => id_token(key => 'k1', sub => "3$n", email => $invited) });
is($st, 401, 'another Google account with the same email is refused');

# Google's keys unreachable and nothing cached: 502
my $down = server('gdown', 'http://127.0.0.1:' . free_port() . '/oauth2/v1/certs');
($st, $b) = call(POST => '/auth/google', { googleToken => id_token(key => 'k1', sub => $sub, email => $email) },
                 undef, "http://127.0.0.1:$down->{port}/api");
is($st, 502, 'certs unreachable, nothing cached: 502');
is($b->{code}, 'upstream_error', '... upstream_error');
stop_httpd($down);

# Google's keys failing and nothing cached: one fetch, then none while the back-off runs (the
# server has one child: one key cache), however many sign-ins come
my $dfake_pid = open(my $dfake, '-|', 'perl', "$FindBin::Bin/../fakes/google_certs_fake.pl",
                     '--port', '0', '--mode', 'down', '--cert', "kid-1=$dir/k1.crt") or die "fake: $!";
my ($dport) = (<$dfake> // '') =~ /^ready (\d+)/ or die 'second certs fake did not start';
my $failing = server('gfailing', "http://127.0.0.1:$dport/oauth2/v1/certs");
my %fst;
for (1 .. 6) {
    ($st, $b) = call(POST => '/auth/google', { googleToken => id_token(key => 'k1', sub => $sub, email => $email) },
                     undef, "http://127.0.0.1:$failing->{port}/api");
    $fst{$st}++;
}
is_deeply(\%fst, { 502 => 6 }, 'certs failing: six sign-ins, six 502');
is(decode_json($http->get("http://127.0.0.1:$dport/__requests")->{content})->{'/oauth2/v1/certs'}, 1,
   '... and one fetch of the failing certs URL');
stop_httpd($failing);
kill 'TERM', $dfake_pid;
close $dfake;

# The token is verified before a database connection is taken: with PostgreSQL down a bad
# token is still refused by the verification (logged before the audit's failure), and the
# refusal, which cannot be audited, answers 503 like every refusal then. A server of its own,
# whose log holds the database's errors.
SKIP: {
    skip 'DP_PG_SH not set or not executable', 5 unless $ENV{DP_PG_SH} && -x $ENV{DP_PG_SH};
    my $gdb = server('gdbdown', "$fake_url/oauth2/v1/certs", 'LogLevel warn docportal:info');
    my $pg = sub { my $out = `$ENV{DP_PG_SH} $_[0] 2>&1`; return ($? >> 8, $out) };
    my ($rc, $out) = $pg->('stop');
    ok($rc == 0, 'PostgreSQL stopped') or diag($out);
    ($st, $b) = call(POST => '/auth/google', { googleToken => id_token(key => 'other', sub => $sub, email => $email) },
                     undef, "http://127.0.0.1:$gdb->{port}/api");
    my ($rc2, $out2) = $rc == 0 ? $pg->('start') : (0, '');
    is($rc2, 0, 'PostgreSQL started again') or diag($out2);
    is($st, 503, 'a bad token with PostgreSQL down: 503 (the refusal cannot be audited)');
    is($b->{code}, 'unavailable', '... unavailable');
    stop_httpd($gdb);
    like($gdb->{log}, qr/DP04004: Google sign-in refused \(The signature does not verify.*DP01201/s,
         '... after the verification refused the token')
        or diag($gdb->{log});
}

stop_httpd($srv);
unlike($srv->{log}, qr/\[docportal:error\]/, 'no error-level lines from the module');
unlike($srv->{log}, qr/eyJ[\w-]{20,}/, 'no token in the log');
kill 'TERM', $fake_pid;
close $fake;
done_testing();
