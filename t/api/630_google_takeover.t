# Google sign-in and accounts. A second httpd on the suite's database and JWT secret
# is configured with an OAuth client id and a certs URL served by a local fake
# (t/fakes/google_certs_fake.pl); the test signs ID tokens with its own RSA key, as Google does.
# Everything else goes to the suite's server.
#  - pre-hijack: an attacker registers the victim's address with a password (unverified) and
#    keeps its session; the victim's Google sign-in takes the account over: password removed,
#    the attacker's tokens revoked, emailVerified true, linked to Google;
#  - an account verified through the mailed link is linked and keeps its password;
#  - a new Google account is created verified (201);
#  - an invitation can no longer be claimed once the record is active (Google or password);
#  - Google's profile data is bounded: name truncated to 200 characters, a picture that is not
#    an http(s) URL (or too long) dropped, an email over 254 characters a 4xx, never a 500.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Mail;
use DocPortal::Record ();
use DocPortal::Server qw(start_httpd stop_httpd);
use File::Temp qw(tempdir);
use JSON::PP ();
use MIME::Base64 qw(encode_base64);

my $PW = $DocPortal::Test::PASSWORD;
my $CLIENT_ID = '5678-docportal-takeover.apps.googleusercontent.com';
my $json = JSON::PP->new->utf8->canonical;
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;

system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/k1.key -out $dir/k1.crt"
       . " -days 2 -subj /CN=k1 2>/dev/null") == 0 or die "openssl req: $?";
my $fake_pid = open(my $fake, '-|', 'perl', "$FindBin::Bin/../fakes/google_certs_fake.pl",
                    '--port', '0', '--cert', "kid-1=$dir/k1.crt") or die "certs fake: $!";
my ($fport) = (<$fake> // '') =~ /^ready (\d+)/ or die 'certs fake did not start';

sub b64url { my $s = encode_base64($_[0], ''); $s =~ tr{+/}{-_}; $s =~ s/=+$//; $s }

# id_token(sub => ..., email => ..., claims => {...}): signed RS256 with k1 under kid-1
sub id_token {
    my (%o) = @_;
    my $now = time;
    my %claims = (iss => 'https://accounts.google.com', aud => $CLIENT_ID, sub => $o{sub},
                  email => $o{email}, email_verified => JSON::PP::true, name => 'Google Person',
                  iat => $now, exp => $now + 3600, %{ $o{claims} // {} });
    my $input = b64url($json->encode({ alg => 'RS256', kid => 'kid-1', typ => 'JWT' })) . '.'
              . b64url($json->encode(\%claims));
    open my $in, '>', "$dir/input" or die $!;
    print $in $input;
    close $in;
    my $sig = `openssl dgst -sha256 -sign $dir/k1.key $dir/input`;
    return $input . '.' . b64url($sig);
}

# the second server: Google sign-in on, the suite's JWT secret (its tokens are good on the
# suite's server and back), its mail to the suite's SMTP sink like the suite's server (either
# server may deliver a row of the shared outbox), and (Server.pm's default) the suite server's
# limits: the register throttle row of 127.0.0.1 is shared through the database
my $mail_conf = join "\n", "DocPortalSMTPURL $ENV{DOCPORTAL_SMTP_URL}", 'DocPortalMailInterval 1',
    'DocPortalMailFrom "DocPortal <no-reply@portal.example.test>"',
    'DocPortalPublicURL https://portal.example.test';
my $srv = start_httpd(
    name => 'gtakeover', dir => $dir, params => $ENV{DOCPORTAL_DBDPARAMS}, secs => 15,
    until => \&DocPortal::Server::listening, mail => $mail_conf,
    extra => join("\n", "DocPortalJWTSecretFile $ENV{DOCPORTAL_JWT_SECRET_FILE}",
                  'DocPortalRequireTLS Off', 'DocPortalCookieSessions On',
                  "DocPortalGoogleClientID $CLIENT_ID",
                  "DocPortalGoogleCertsURL http://127.0.0.1:$fport/oauth2/v1/certs"));
ok(!defined $srv->{status}, 'httpd with Google sign-in starts') or diag $srv->{log};
my $gport = $srv->{port};

# google(%id_token_opts[, userType => ..., session => ...]) -> (status, body, HTTP::Tiny response)
sub google {
    my (%o) = @_;
    my %body = (googleToken => id_token(%o));
    $body{userType} = $o{userType} if defined $o{userType};
    $body{session} = $o{session} if defined $o{session};
    my @answer = http_at($gport, POST => '/api/auth/google', json => \%body);
    DocPortal::Record::answer_tiny(POST => '/api/auth/google', $answer[2]);    # for t/api/990_openapi.t
    return @answer;
}

sub me_code {
    my ($token) = @_;
    my (undef, undef, $res) = api(GET => '/api/auth/me', token => $token);
    return $res->code;
}

sub user_row {
    my ($id) = @_;
    my ($ph, $gs, $ev) = split /\|/, psql(
        q{SELECT (password_hash IS NULL)::text, coalesce(google_sub, ''), email_verified::text }
      . q{FROM users WHERE id = } . sql_quote($id // uuid_v4())), -1;
    return { no_password => $ph // '', google_sub => $gs // '', verified => $ev // '' };
}

sub is_true { my ($v, $n) = @_; local $Test::Builder::Level = $Test::Builder::Level + 1;
              ok(JSON::PP::is_bool($v) && $v, "$n: JSON true") or diag(explain($v)) }

sub err_ok {
    my ($st, $d, $status, $code, $field, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = $st == $status && ref $d eq 'HASH' && ($d->{code} // '') eq $code
          && (!defined $field || ($d->{field} // '') eq $field) && length($d->{detail} // '');
    ok($ok, $name) or diag("status $st, body " . $json->encode($d // {}));
}

my $n = int rand 1e9;
my $subn = 0;
sub new_sub { return '1' . $n . sprintf('%04d', ++$subn) }

SKIP: {
skip 'the Google httpd did not start', 1 if defined $srv->{status};

# ==== pre-hijack: the attacker's unverified account is taken over ===============================
my $victim = unique_email('victim');
my ($ast, $ad, $ares) = register_provider(email => $victim, name => 'Attacker Chosen');
is($ast, 201, 'the attacker registers the victim\'s address with a password') or diag(dump_res($ares));
my $atok = $ad->{token} // '';
my $vid = $ad->{user}{id};
ok(JSON::PP::is_bool($ad->{user}{emailVerified}) && !$ad->{user}{emailVerified},
   '... unverified (emailVerified false)');
is(me_code($atok), 200, '... and the attacker\'s session works');

my $vsub = new_sub();
my ($gst, $gd) = google(sub => $vsub, email => $victim);
is($gst, 200, 'the victim signs in with Google: 200 (an existing account)')
    or diag($json->encode($gd // {}));
is($gd->{user}{id}, $vid, '... the same account');
is_true($gd->{user}{emailVerified}, 'the taken-over account is verified');
my $vrow = user_row($vid);
is($vrow->{google_sub}, $vsub, 'the account is linked to the victim\'s Google account');
is($vrow->{no_password}, 'true', 'the attacker\'s password is removed');
is($vrow->{verified}, 'true', 'users.email_verified is true');
is(me_code($atok), 401, 'the attacker\'s token is revoked (401 on the suite server)');
my ($a2) = http_at($gport, GET => '/api/auth/me', token => $atok);
is($a2, 401, '... and on the Google server');
my (undef, undef, $alog) = login($victim, $PW);
error_is($alog, 401, 'invalid_credentials', undef, 'the attacker\'s password no longer logs in');
is(me_code($gd->{token} // ''), 200, 'the victim\'s Google session works');
my ($g2st, $g2d) = google(sub => $vsub, email => $victim);
is($g2st, 200, 'the victim signs in with Google again: 200');
is($g2d->{user}{id}, $vid, '... the same account');
is(me_code($atok), 401, 'the attacker\'s token stays revoked');

# ==== a verified account is linked and keeps its password =======================================
my $wemail = unique_email('verified');
my ($wtok, $wuser) = provider_session(email => $wemail, name => 'Dr Verified');
my $vmail = wait_mail(to => $wemail, kind => 'verify-email', timeout => 20);
ok($vmail, 'setup: a verify-email mail for the new account');
my $vtoken = $vmail ? link_token($vmail, 'verify-email') // '' : '';
my (undef, $vd, $vres) = api(POST => '/api/auth/verify-email', json => { token => $vtoken });
success_is($vres, 200, 'setup: the account verifies its email through the mailed link');
is_true(($vd->{user} || {})->{emailVerified}, 'setup: emailVerified');
my $wsub = new_sub();
my ($wst, $wd) = google(sub => $wsub, email => $wemail);
is($wst, 200, 'Google sign-in with a verified account\'s email: 200') or diag($json->encode($wd // {}));
is($wd->{user}{id}, $wuser->{id}, '... linked to that account');
is_true($wd->{user}{emailVerified}, '... still verified');
my $wrow = user_row($wuser->{id});
is($wrow->{google_sub}, $wsub, 'google_sub recorded');
is($wrow->{no_password}, 'false', 'the password is kept');
my ($wlog) = login($wemail, $PW);
is($wlog, 200, 'password login still works');
is(me_code($wd->{token} // ''), 200, 'the Google session works');

# ==== a new Google account is verified ===========================================================
my $nemail = unique_email('gnew');
my ($nst, $nd) = google(sub => new_sub(), email => $nemail, userType => 'client');
is($nst, 201, 'a new Google account: 201') or diag($json->encode($nd // {}));
is_true($nd->{user}{emailVerified}, 'the new Google account');
is(user_row($nd->{user}{id})->{verified}, 'true', 'users.email_verified is true');

# with "session": "cookie" the Google answer is {user} only and the cookies carry the session
my ($cst, $cd, $cr) = google(sub => new_sub(), email => unique_email('gcookie'), userType => 'client',
                             session => 'cookie');
is($cst, 201, 'a new Google account with session cookie: 201');
is_deeply([sort keys %{ $cd || {} }], ['user'], '... the answer is {user}');
unlike($cr->{content} // '', qr/"token"/, '... no token key anywhere');
my $ck = set_cookies($cr->{headers});
ok($ck->{dp_session} && $ck->{dp_csrf}, '... dp_session and dp_csrf cookies set');
my ($bogus, $bd) = google(sub => new_sub(), email => unique_email('gbogus'), userType => 'client',
                          session => 'bogus');
err_ok($bogus, $bd, 422, 'validation_error', 'session', 'Google sign-in with session bogus: 422 field session');

# ==== invitations cannot be claimed once the record is active ====================================
my ($ptok, $prov) = provider_session(name => 'Dr Inviter');
my $iemail = unique_email('ginvited');
my (undef, $inv, $ires) = invite_client($ptok, email => $iemail, name => 'Invited Person');
success_is($ires, 201, 'setup: the provider invites a client');
my $itok = invite_token_of($inv->{inviteUrl}) // '';
my ($ist, $id) = google(sub => new_sub(), email => $iemail);
is($ist, 200, 'the invited client signs in with Google first');
is($id->{user}{id}, $inv->{id}, '... claiming the invited record');
my (undef, undef, $claim) = register({ email => $iemail, password => $PW, inviteToken => $itok });
error_is($claim, 422, 'validation_error', 'inviteToken',
         'then registering with the invitation: 422 field inviteToken');
is(user_row($inv->{id})->{no_password}, 'true', '... and no password was set on the record');
my (undef, undef, $ilog) = login($iemail, $PW);
is($ilog->code, 401, '... nor does that password log in');
is(me_code($id->{token} // ''), 200, 'the client\'s Google session lives on');

my $jemail = unique_email('pinvited');
my (undef, $jinv, $jres) = invite_client($ptok, email => $jemail, name => 'Password Person');
success_is($jres, 201, 'setup: a second invitation');
my $jtok = invite_token_of($jinv->{inviteUrl}) // '';
my ($j1) = register({ email => $jemail, password => $PW, inviteToken => $jtok });
is($j1, 201, 'the client claims it with a password: 201');
my (undef, undef, $j2) = register({ email => $jemail, password => 'Other-passw0rd-xyz', inviteToken => $jtok });
error_is($j2, 422, 'validation_error', 'inviteToken', 'a second claim of the same invitation: 422 field inviteToken');
my ($jlog) = login($jemail, $PW);
is($jlog, 200, '... the first password still logs in');
my ($jlog2) = login($jemail, 'Other-passw0rd-xyz');
is($jlog2, 401, '... the second does not');

# ==== an invitation claimed by whoever saw its link is not proof against the address's owner ====
# The provider gets the invitation link too (inviteUrl): a provider that claims it with its own
# password holds a verified account in the client's name. The real owner's Google sign-in takes
# that account over instead of linking to it.
my $kemail = unique_email('kinvited');
my (undef, $kinv, $kres) = invite_client($ptok, email => $kemail, name => 'Kept Person');
success_is($kres, 201, 'setup: the provider invites a client');
my (undef, $kclaim) = register({ email => $kemail, password => 'Provider-kept-pw1',
                                 inviteToken => invite_token_of($kinv->{inviteUrl}) // '' });
ok($kclaim && $kclaim->{user}{emailVerified}, 'the invitation is claimed (by whoever held the link): verified');
my $ksub = new_sub();
my ($kst, $kd) = google(sub => $ksub, email => $kemail);
is($kst, 200, "the address's Google owner signs in");
is($kd->{user}{id}, $kinv->{id}, '... on that account');
my $krow = user_row($kinv->{id});
is($krow->{no_password}, 'true', '... whose password is gone');
is($krow->{google_sub}, $ksub, '... now linked to the Google account');
is(me_code($kclaim->{token}), 401, "the claimer's session is revoked");
my ($klog) = login($kemail, 'Provider-kept-pw1');
is($klog, 401, "the claimer's password no longer logs in");

# ==== Google's profile data is bounded ==========================================================
my $long = join '', map { chr(ord('a') + $_ % 26) } 0 .. 299;
my ($lst, $ld) = google(sub => new_sub(), email => unique_email('glong'), userType => 'client',
                        claims => { name => $long });
ok($lst == 200 || $lst == 201, "a 300-character name: $lst (not an error)") or diag($json->encode($ld // {}));
is($ld->{user}{name}, substr($long, 0, 200), '... truncated to its first 200 characters');
my $wide = "\x{e9}" x 300;
my ($ust, $ud) = google(sub => new_sub(), email => unique_email('gwide'), userType => 'client',
                        claims => { name => $wide });
ok($ust == 200 || $ust == 201, "a 300-character non-ASCII name: $ust (not an error)");
is($ud->{user}{name}, "\x{e9}" x 200, '... truncated to 200 characters, not bytes');

my ($pst, $pd) = google(sub => new_sub(), email => unique_email('gpic'), userType => 'client',
                        claims => { picture => 'javascript:alert(1)' });
is($pst, 201, 'a picture that is not a URL: the account is created');
ok(exists(($pd->{user} || {})->{avatar}) && !defined $pd->{user}{avatar}, '... with avatar null')
    or diag($json->encode($pd // {}));
my $biglink = 'https://lh3.example.com/' . ('a' x 2100);
my ($bst, $bbd) = google(sub => new_sub(), email => unique_email('gpicl'), userType => 'client',
                         claims => { picture => $biglink });
is($bst, 201, 'a picture URL over 2048 characters: the account is created');
ok(exists(($bbd->{user} || {})->{avatar}) && !defined $bbd->{user}{avatar}, '... with avatar null');
my $okpic = 'https://lh3.googleusercontent.com/a/photo.jpg';
my ($ost, $od) = google(sub => new_sub(), email => unique_email('gpicok'), userType => 'client',
                        claims => { picture => $okpic });
is($ost, 201, 'a good picture URL: created');
is(($od->{user} || {})->{avatar}, $okpic, '... and kept as the avatar');

for my $len (280, 400) {
    my $local = 'x' x ($len - length('@example.com'));
    my $huge = "$local\@example.com";
    my ($hst, $hd) = google(sub => new_sub(), email => $huge, userType => 'client');
    ok($hst >= 400 && $hst < 500 && ref $hd eq 'HASH' && length($hd->{code} // '') && length($hd->{detail} // ''),
       "an email of $len characters: a 4xx JSON error ($hst)") or diag($json->encode($hd // {}));
    is(psql('SELECT count(*) FROM users WHERE email = ' . sql_quote($huge)), '0', '... no account');
}
}

stop_httpd($srv);
unlike($srv->{log} // '', qr/\[docportal:error\]|\[dbd:error\]/, 'no error-level lines from the Google server');
unlike($srv->{log} // '', qr/eyJ[\w-]{20,}/, 'no token in its log');
kill 'TERM', $fake_pid;
close $fake;
done_testing();
