# Google Meet links: a second httpd configured with a service-account key talks to a local fake
# of Google's OAuth token endpoint and Calendar API (t/fakes/google_fake.pl), which checks the
# shape of what it receives. Then the fallback: when Google fails, the appointment still gets a
# working (Jitsi) room and the failure is logged.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use DocPortal::Server qw(start_httpd stop_httpd);

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $json = JSON::PP->new->canonical;

# an RSA key for the service account; the fake verifies the assertion with the public half
system("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $dir/sa.pem 2>/dev/null") == 0
    or die 'openssl genpkey failed';
system("openssl pkey -in $dir/sa.pem -pubout -out $dir/sa.pub 2>/dev/null") == 0 or die 'pubout';
my $pem = do { local (@ARGV, $/) = ("$dir/sa.pem"); <> };

my $fake_pid = open(my $fake, '-|', 'perl', "$FindBin::Bin/../fakes/google_fake.pl",
                    '--port', '0', '--pubkey', "$dir/sa.pub") or die "fake: $!";
my $ready = <$fake>;
my ($fport) = ($ready // '') =~ /^ready (\d+)/ or die "fake did not start: " . ($ready // '');
my $fake_url = "http://127.0.0.1:$fport";
my $http = HTTP::Tiny->new(timeout => 20);

open my $kf, '>', "$dir/sa.json" or die $!;
print $kf $json->encode({
    type => 'service_account', project_id => 'dp-test', private_key_id => 'kid-1',
    private_key => $pem, client_email => 'docportal@dp-test.iam.gserviceaccount.com',
    client_id => '1234567890', token_uri => "$fake_url/token",
});
close $kf;
chmod 0600, "$dir/sa.json";
my $secret = "$dir/jwt";
{ open my $s, '>', $secret or die $!; print $s ('g' x 48), "\n"; close $s; chmod 0600, $secret }

my $srv = start_httpd(
    name => 'google', dir => $dir, params => $ENV{DOCPORTAL_DBDPARAMS}, secs => 15,
    until => \&DocPortal::Server::listening,
    extra => join("\n", "DocPortalJWTSecretFile $secret", 'DocPortalRequireTLS Off',
                  "DocPortalGoogleKeyFile $dir/sa.json", "DocPortalGoogleAPIBase $fake_url",
                  "DocPortalGoogleTokenURL $fake_url/token"));
ok(!defined $srv->{status}, 'httpd with a Google key starts') or diag $srv->{log};
my $base = "http://127.0.0.1:$srv->{port}/api";

sub call {
    my ($method, $path, $body, $token) = @_;
    my %h = ('Content-Type' => 'application/json');
    $h{Authorization} = "Bearer $token" if $token;
    my $r = $http->request($method, "$base$path",
                           { headers => \%h, defined $body ? (content => $json->encode($body)) : () });
    my $d = eval { decode_json($r->{content}) };
    return ($r->{status}, $d);
}

sub fake_requests {
    my $r = $http->get("$fake_url/__requests");
    return decode_json($r->{content});
}

# This server writes its mail as files into $dir/mail (DocPortal::Server's default). A
# provider's email is verified through the link mailed to it.
sub verify_by_mail {
    my ($email) = @_;
    for (1 .. 150) {
        for my $f (sort glob "$dir/mail/*.eml") {
            open my $fh, '<', $f or next;
            my $m = do { local $/; <$fh> };
            next unless $m =~ /^To: \Q$email\E\r?$/m && $m =~ /^X-DocPortal-Kind: verify-email\r?$/m;
            my ($tok) = $m =~ m{/verify-email\?token=([0-9a-f]{64})} or next;
            my ($st) = call(POST => '/auth/verify-email', { token => $tok });
            return $st;
        }
        select undef, undef, undef, 0.1;
    }
    return 0;
}

my $n = int(rand(1e9));
my ($st, $prov) = call(POST => '/auth/register', {
    email => "meet.provider.$n\@clinic.example", password => 'correct horse', name => 'Dr Meet',
    userType => 'provider', hourlyRate => 150 });
is($st, 201, 'provider registered');
($st, my $cli) = call(POST => '/auth/register', {
    email => "meet.client.$n\@example.com", password => 'correct horse', name => 'C Meet',
    userType => 'client', providerId => $prov->{user}{id} });
is($st, 201, 'client registered');

my $year = 1900 + (localtime)[5] + 1;
# Google acts in a provider's name only once the provider proved its address
($st, my $unv) = call(POST => '/client/appointments',
                      { date => "$year-02-09", time => '09:00', duration => 50 }, $cli->{token});
is($st, 201, 'booked while the provider is unverified');
like($unv->{videoLink} // '', qr{^https://meet\.jit\.si/DocPortal-[0-9a-f]{32}$},
     'an unverified provider gets a Jitsi room, not a Google event in its name');
is(scalar(@{ fake_requests() }), 0, 'Google was not asked');
is(verify_by_mail("meet.provider.$n\@clinic.example"), 200,
   'the provider verifies its email through the mailed link (a file in DocPortalMailDir)');

($st, my $appt) = call(POST => '/client/appointments',
                       { date => "$year-02-10", time => '09:00', duration => 50 }, $cli->{token});
is($st, 201, 'booked with Google configured');
like($appt->{videoLink} // '', qr{^https://meet\.google\.com/[a-z]{3}-[a-z]{4}-[a-z]{3}$},
     'videoLink is the Meet link Google returned');

my $reqs = fake_requests();
my ($tok) = grep { $_->{path} eq '/token' } @$reqs;
my ($ev)  = grep { $_->{path} =~ m{/calendar/v3/calendars/primary/events$} } @$reqs;
ok($tok, 'the module asked the token endpoint');
is($tok->{body}{grant_type}, 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'JWT bearer grant')
    if $tok;
ok($tok->{jwt}{verified}, 'assertion signature verifies with the service account key') if $tok;
is($tok->{jwt}{header}{alg}, 'RS256', 'assertion is RS256') if $tok;
is($tok->{jwt}{claims}{sub}, "meet.provider.$n\@clinic.example",
   'assertion acts as the provider (domain-wide delegation subject)') if $tok;
is($tok->{jwt}{claims}{iss}, 'docportal@dp-test.iam.gserviceaccount.com', 'issuer is the service account')
    if $tok;
like($tok->{jwt}{claims}{scope} // '', qr{https://www\.googleapis\.com/auth/calendar\.events},
     'calendar.events scope') if $tok;
ok($ev, 'the module inserted a calendar event');
if ($ev) {
    is($ev->{query}{conferenceDataVersion}, '1', 'events.insert asks for conference data');
    is($ev->{body}{conferenceData}{createRequest}{conferenceSolutionKey}{type}, 'hangoutsMeet',
       'createRequest for a Meet conference');
    is($ev->{body}{conferenceData}{createRequest}{requestId}, $appt->{id},
       'requestId is the appointment id (idempotent on Google\'s side)');
    is($ev->{body}{start}{dateTime}, $appt->{startsAt}, 'event starts at the appointment');
    is($ev->{body}{end}{dateTime}, $appt->{endsAt}, 'event ends at the appointment');
    unlike($json->encode($ev->{body}), qr/C Meet|meet\.client/, 'no client name or email sent to Google');
}

# a reschedule keeps the link and creates no second event
$http->post("$fake_url/__reset");
($st, my $moved) = call(PATCH => "/appointments/$appt->{id}", { time => '11:00' }, $cli->{token});
is($st, 200, 'rescheduled');
is($moved->{videoLink}, $appt->{videoLink}, 'the rescheduled appointment keeps its Meet link');
is(scalar(grep { $_->{path} =~ /events/ } @{ fake_requests() }), 0, 'no new event for a reschedule');

# Google fails: the appointment still gets a room, and the failure is logged
$http->post("$fake_url/__mode?mode=api_fail");
($st, my $fb) = call(POST => '/client/appointments',
                     { date => "$year-02-11", time => '09:00', duration => 50 }, $cli->{token});
is($st, 201, 'booking still succeeds when Google fails');
like($fb->{videoLink} // '', qr{^https://meet\.jit\.si/DocPortal-[0-9a-f]{32}$},
     'fallback is a Jitsi room with a 128-bit name');
# a provider whose token is not cached yet, with the token endpoint refusing the grant
$http->post("$fake_url/__mode?mode=token_fail");
($st, my $prov2) = call(POST => '/auth/register', {
    email => "meet.provider2.$n\@clinic.example", password => 'correct horse', name => 'Dr Two',
    userType => 'provider' });
is(verify_by_mail("meet.provider2.$n\@clinic.example"), 200, 'the second provider verifies its email');
($st, my $cli2) = call(POST => '/auth/register', {
    email => "meet.client2.$n\@example.com", password => 'correct horse', name => 'C Two',
    userType => 'client', providerId => $prov2->{user}{id} });
($st, $fb) = call(POST => '/client/appointments',
                  { date => "$year-02-12", time => '09:00', duration => 50 }, $cli2->{token});
is($st, 201, 'booking succeeds when the token is refused');
like($fb->{videoLink} // '', qr{^https://meet\.jit\.si/DocPortal-}, 'fallback room again');

stop_httpd($srv);
like($srv->{log}, qr/DP05001: Google Meet room for appointment \S+ failed/, 'the Google failure is logged');
unlike($srv->{log}, qr/\[docportal:error\]/, 'no error-level lines from the module');
unlike($srv->{log}, qr/BEGIN PRIVATE KEY|fake-[0-9a-f]/, 'no key or token material in the log');

# DocPortalGoogleDomain: Google acts only for providers of that Workspace domain, even verified
$http->post("$fake_url/__mode?mode=ok");
$http->post("$fake_url/__reset");
$srv = start_httpd(
    name => 'google-domain', dir => $dir, params => $ENV{DOCPORTAL_DBDPARAMS}, secs => 15,
    until => \&DocPortal::Server::listening,
    extra => join("\n", "DocPortalJWTSecretFile $secret", 'DocPortalRequireTLS Off',
                  "DocPortalGoogleKeyFile $dir/sa.json", "DocPortalGoogleAPIBase $fake_url",
                  "DocPortalGoogleTokenURL $fake_url/token",
                  'DocPortalGoogleDomain other-clinic.example'));
ok(!defined $srv->{status}, 'httpd with a Google domain starts') or diag $srv->{log};
$base = "http://127.0.0.1:$srv->{port}/api";
($st, $fb) = call(POST => '/client/appointments',
                  { date => "$year-02-13", time => '09:00', duration => 50 }, $cli->{token});
is($st, 201, 'booked with the verified provider outside the configured domain');
like($fb->{videoLink} // '', qr{^https://meet\.jit\.si/DocPortal-[0-9a-f]{32}$},
     'a provider outside DocPortalGoogleDomain gets a Jitsi room');
is(scalar(@{ fake_requests() }), 0, 'Google was not asked to act as that provider');
stop_httpd($srv);

kill 'TERM', $fake_pid;
close $fake;
done_testing();
