# Passwords: POST /api/auth/password-reset (no account enumeration: the same 202 and
# byte-identical body for an unknown, a known and a malformed address, in about the same time;
# at most 3 reset mails per account per hour), POST /api/auth/password-reset/confirm (the
# mailed single-use token; password rules; every earlier token and every other reset link of
# the user dies; emailVerified becomes true; a password-changed mail), and
# POST /api/auth/change-password (wrong current password counts toward the login lockout;
# newPassword rules; every earlier token revoked, the calling one too; 409 no_password for an
# account without a password).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Mail;
use Time::HiRes ();

my $PW      = $DocPortal::Test::PASSWORD;
my $NEW_PW  = 'N3w-and-longer-passphrase';
my $RESET_BODY = { message => 'If an account exists for that address, a link to reset its '
                            . 'password has been sent.' };
my $HEX64   = qr/^[0-9a-f]{64}$/;
my $MAIL_WAIT = 20;    # seconds a mail may take to reach the sink (normally well under one)

sub reset_request {
    my ($email) = @_;
    return api(POST => '/api/auth/password-reset', json => { email => $email });
}

sub confirm {
    my (%b) = @_;
    return api(POST => '/api/auth/password-reset/confirm', json => \%b);
}

sub change_password {
    my ($token, %b) = @_;
    return api(POST => '/api/auth/change-password', token => $token, json => \%b);
}

# the status GET /api/auth/me answers for a bearer token
sub me_code {
    my ($token) = @_;
    my (undef, undef, $res) = api(GET => '/api/auth/me', token => $token);
    return $res->code;
}

sub hash_sql { 'encode(sha256(convert_to(' . sql_quote($_[0]) . q{, 'UTF8')), 'hex')} }

# a 202 with exactly the spec'd body
sub reset_202_is {
    my ($res, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $d = success_is($res, 202, "$name: 202 JSON");
    is_deeply($d, $RESET_BODY, "$name: the one reset message") or diag(dump_res($res));
}

# wait for $n mails of $kind to $to; returns them (fewer on timeout)
sub mails_of {
    my ($to, $kind, $n) = @_;
    my @m = wait_mail(to => $to, kind => $kind, count => $n // 1, timeout => $MAIL_WAIT);
    return @m;
}

sub outbox_count {
    my ($to, $kind) = @_;
    return psql('SELECT count(*) FROM outbox WHERE recipient = ' . sql_quote($to)
              . ' AND kind = ' . sql_quote($kind));
}

sub keys_are {
    my ($h, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is_deeply([sort keys %{ ref $h eq 'HASH' ? $h : {} }], $want, $name)
        or diag('got keys: ' . join(',', sort keys %{ ref $h eq 'HASH' ? $h : {} }));
}

sub is_true  { my ($v, $n) = @_; local $Test::Builder::Level = $Test::Builder::Level + 1;
               ok(JSON::PP::is_bool($v) && $v, "$n: JSON true") or diag(explain($v)) }
sub is_false { my ($v, $n) = @_; local $Test::Builder::Level = $Test::Builder::Level + 1;
               ok(JSON::PP::is_bool($v) && !$v, "$n: JSON false") or diag(explain($v)) }

# ==== no enumeration ===========================================================================
my ($atok, $auser) = provider_session(email => unique_email('pwreset.a'), name => 'Dr Reset');
my $aemail = $auser->{email};
is_false($auser->{emailVerified}, 'a new account is unverified (emailVerified)');

my (undef, undef, $known)   = reset_request($aemail);
my (undef, undef, $unknown) = reset_request(unique_email('pwreset.nobody'));
my (undef, undef, $bad)     = reset_request('not-an-email');
my (undef, $xuser) = provider_session(email => unique_email('pwreset.crlf'));
my $xemail = $xuser->{email};
my (undef, undef, $crlf)    = reset_request("$xemail\r\nBcc: evil\@attacker.example");
reset_202_is($known,   'reset for a known email');
reset_202_is($unknown, 'reset for an unknown email');
reset_202_is($bad,     'reset for a malformed email');
reset_202_is($crlf,    'reset for an email with CR LF in it');
is($unknown->content, $known->content, 'unknown and known email: byte-identical bodies');
is($bad->content, $known->content, 'malformed and known email: byte-identical bodies');
is($crlf->content, $known->content, 'CR LF email and known email: byte-identical bodies');
is($unknown->header('Content-Type'), $known->header('Content-Type'), 'same Content-Type');
unlike($known->content, qr/\Q$aemail\E|token/i, 'the answer names neither the address nor a token');
is(psql(q{SELECT count(*) FROM outbox WHERE recipient ~ '[\r\n]' OR recipient ~* 'attacker'}), '0',
   'nothing is queued for the CR LF address');
is(outbox_count($xemail, 'password-reset'), '0', '... nor for the account the CR LF address begins with');

# the mail for the known account
my ($rmail) = mails_of($aemail, 'password-reset', 1);
ok($rmail, 'a password-reset mail reaches the known account');
$rmail //= { headers => {}, body => '' };
is($rmail->{subject}, 'Reset your password', 'its subject');
is($rmail->{to}, $aemail, 'addressed to the account');
like(mail_link($rmail) // '', qr{^https://portal\.example\.test/reset-password\?token=[0-9a-f]{64}$},
     'the link is PUBLIC_URL/reset-password?token=<64 hex>');
my $rtok1 = link_token($rmail, 'reset-password') // '';
like($rtok1, $HEX64, 'the reset token is 64 lowercase hex');
is(psql('SELECT purpose || \'|\' || (abs(extract(epoch FROM expires_at - now()) - 3600) < 120)::text '
      . 'FROM email_tokens WHERE token_hash = ' . hash_sql($rtok1)),
   'password-reset|true', 'stored as its SHA-256 hex, purpose password-reset, valid for an hour');
is(psql('SELECT count(*) FROM email_tokens WHERE token_hash = ' . sql_quote($rtok1)), '0',
   'the token itself is not stored');

# timing: the known path does no work the unknown path does not mimic (medians of 5 each)
{
    my @known = map { (provider_session(email => unique_email("pwtime.$_")))[1]{email} } 1 .. 5;
    my (@tk, @tu);
    for my $i (0 .. 4) {
        for my $which ($i % 2 ? qw(u k) : qw(k u)) {
            my $e = $which eq 'k' ? $known[$i] : unique_email('pwtime.nobody');
            my $t0 = Time::HiRes::time();
            my (undef, undef, $r) = reset_request($e);
            my $dt = Time::HiRes::time() - $t0;
            push @{ $which eq 'k' ? \@tk : \@tu }, $dt;
            $r->code == 202 or diag("timing request answered " . $r->code);
        }
    }
    my $median = sub { my @s = sort { $a <=> $b } @_; $s[@s / 2] };
    my ($mk, $mu) = ($median->(@tk), $median->(@tu));
    ok(abs($mk - $mu) < 0.150, sprintf('median time known %.1f ms vs unknown %.1f ms: within 150 ms',
                                       $mk * 1000, $mu * 1000));
}

# ==== confirm ===================================================================================
# the user has two sessions (the register token and a login) and asks for a second link
my (undef, $alogin) = login($aemail);
my $atok2 = $alogin->{token} // '';
is(me_code($atok), 200, 'setup: the register session works');
is(me_code($atok2), 200, 'setup: the login session works');
my (undef, undef, $again) = reset_request($aemail);
reset_202_is($again, 'a second reset request');
my @two = mails_of($aemail, 'password-reset', 2);
is(scalar @two, 2, 'two reset mails for the account');
my ($rtok2) = grep { $_ ne $rtok1 } map { link_token($_, 'reset-password') // '' } @two;
like($rtok2 // '', $HEX64, 'the second mail has another token');
$rtok2 //= '';

# password rules (the token is not used up by a refused password)
my (undef, undef, $short) = confirm(token => $rtok1, password => 'short');
error_is($short, 422, 'validation_error', 'password', 'confirm with a 5-byte password: 422 field password');
my (undef, undef, $long) = confirm(token => $rtok1, password => 'x' x 73);
error_is($long, 422, 'validation_error', 'password', 'confirm with a 73-byte password: 422 field password');
my (undef, undef, $nopw) = confirm(token => $rtok1);
error_is($nopw, 422, 'validation_error', 'password', 'confirm without password: 422 field password');
my (undef, undef, $unk) = confirm(token => join('', map { sprintf '%x', int rand 16 } 1 .. 64),
                                  password => $NEW_PW);
error_is($unk, 400, 'invalid_token', 'token', 'confirm with an unknown token: 400 invalid_token field token');
is(me_code($atok), 200, 'refused confirms revoke nothing');

# success
my (undef, $cd, $cres) = confirm(token => $rtok1, password => $NEW_PW);
success_is($cres, 200, 'confirm: 200');
keys_are($cd, [qw(token user)], 'confirm answers {token, user}');
is($cd->{user}{id}, $auser->{id}, '... for the account');
is_true($cd->{user}{emailVerified}, 'after a reset emailVerified');
is(psql('SELECT email_verified FROM users WHERE id = ' . sql_quote($auser->{id})), 't',
   'users.email_verified is true');
my $newtok = $cd->{token} // '';
is(me_code($newtok), 200, 'the returned token works');
is(me_code($atok), 401, 'the register session is revoked (401)');
is(me_code($atok2), 401, 'the login session is revoked (401)');
my (undef, undef, $oldpw) = login($aemail, $PW);
error_is($oldpw, 401, 'invalid_credentials', undef, 'the old password no longer logs in');
my ($nls, $nld) = login($aemail, $NEW_PW);
is($nls, 200, 'the new password logs in');
is(me_code($nld->{token} // ''), 200, '... and that session works');
my (undef, undef, $reuse) = confirm(token => $rtok1, password => 'An0ther-passphrase');
error_is($reuse, 400, 'invalid_token', 'token', 'the same reset token again: 400 invalid_token');
my (undef, undef, $other) = confirm(token => $rtok2, password => 'An0ther-passphrase');
error_is($other, 400, 'invalid_token', 'token', 'the other reset link asked for before: dead (400)');
my ($still) = login($aemail, $NEW_PW);
is($still, 200, 'neither refused confirm changed the password');

# the password-changed mail
my ($chg) = mails_of($aemail, 'password-changed', 1);
ok($chg, 'a password-changed mail arrives');
$chg //= { body => '' };
is($chg->{subject}, 'Your password was changed', '... subject');
unlike($chg->{body}, qr/token=|[0-9a-f]{64}/, '... no token link in it');

# an expired token
my ($btok, $buser) = provider_session(email => unique_email('pwreset.b'));
my $bemail = $buser->{email};
reset_request($bemail);
my ($bmail) = mails_of($bemail, 'password-reset', 1);
my $btoken = $bmail ? link_token($bmail, 'reset-password') // '' : '';
like($btoken, $HEX64, 'setup: a reset token for account B');
psql(q{UPDATE email_tokens SET expires_at = now() - interval '1 s' WHERE token_hash = } . hash_sql($btoken));
my (undef, undef, $exp) = confirm(token => $btoken, password => $NEW_PW);
error_is($exp, 400, 'invalid_token', 'token', 'an expired reset token: 400 invalid_token field token');
is(me_code($btok), 200, '... the account\'s session lives on');
my ($bold) = login($bemail, $PW);
is($bold, 200, '... and its password is unchanged');

# ==== at most 3 reset mails per account per hour =================================================
my (undef, $cuser) = provider_session(email => unique_email('pwreset.c'));
my $cemail = $cuser->{email};
my @c202 = map { (reset_request($cemail))[2] } 1 .. 4;
is_deeply([map { $_->code } @c202], [202, 202, 202, 202], 'four reset requests for one account: each 202');
is(scalar(grep { $_->content eq $known->content } @c202), 4, '... with the same body');
is(outbox_count($cemail, 'password-reset'), '3', 'three reset mails queued, not four');
my @cm = mails_of($cemail, 'password-reset', 3);
is(scalar @cm, 3, 'three reset mails delivered');
# nothing more may come: give a fourth mail time to show up (it must not)
wait_mail(to => $cemail, kind => 'password-reset', count => 4, timeout => 5);
is(scalar(my @c4 = mails_to($cemail, kind => 'password-reset')), 3, 'no fourth reset mail after waiting 5 s');

# ==== change-password ===========================================================================
my ($dtok, $duser) = provider_session(email => unique_email('pwchange.d'));
my $demail = $duser->{email};
my (undef, $dlogin) = login($demail);
my $dtok2 = $dlogin->{token} // '';
is(me_code($dtok2), 200, 'setup: a second session of account D');

my (undef, undef, $wrong) = change_password($dtok, currentPassword => 'Wrong-password-9',
                                            newPassword => $NEW_PW);
error_is($wrong, 400, 'invalid_credentials', undef, 'change-password, wrong current: 400 invalid_credentials');
for my $case (['5 bytes', 'short'], ['73 bytes', 'y' x 73]) {
    my (undef, undef, $r) = change_password($dtok, currentPassword => $PW, newPassword => $case->[1]);
    error_is($r, 422, 'validation_error', 'newPassword', "change-password, newPassword of $case->[0]: 422 field newPassword");
}
my (undef, undef, $nonew) = change_password($dtok, currentPassword => $PW);
error_is($nonew, 422, 'validation_error', 'newPassword', 'change-password without newPassword: 422 field newPassword');
my (undef, undef, $noauth) = api(POST => '/api/auth/change-password',
                                 json => { currentPassword => $PW, newPassword => $NEW_PW });
error_is($noauth, 401, 'unauthorized', undef, 'change-password without a token: 401');
is(me_code($dtok), 200, 'the refused changes revoked nothing');
my ($dold) = login($demail, $PW);
is($dold, 200, '... and the password is unchanged');

my (undef, $pd, $pres) = change_password($dtok, currentPassword => $PW, newPassword => $NEW_PW);
success_is($pres, 200, 'change-password: 200');
keys_are($pd, [qw(token user)], 'change-password answers {token, user}');
is($pd->{user}{id}, $duser->{id}, '... for the caller');
my $dnew = $pd->{token} // '';
is(me_code($dtok), 401, 'the token that made the call is revoked (401)');
is(me_code($dtok2), 401, 'the other session of the user is revoked (401)');
is(me_code($dnew), 200, 'the returned token works');
my (undef, undef, $dfail) = login($demail, $PW);
error_is($dfail, 401, 'invalid_credentials', undef, 'the old password no longer logs in');
my ($dok) = login($demail, $NEW_PW);
is($dok, 200, 'the new password logs in');
my ($dchg) = mails_of($demail, 'password-changed', 1);
ok($dchg, 'a password-changed mail arrives');
is($dchg ? $dchg->{subject} : '', 'Your password was changed', '... subject');

# wrong current passwords count toward the login lockout of the email (a fresh account)
my ($etok, $euser) = provider_session(email => unique_email('pwchange.e'));
my $eemail = $euser->{email};
for my $i (1 .. 5) {
    my (undef, undef, $r) = change_password($etok, currentPassword => "Wrong-password-$i",
                                            newPassword => $NEW_PW);
    error_is($r, 400, 'invalid_credentials', undef, "account E, wrong current password $i: 400");
}
my (undef, undef, $elock) = login($eemail, $PW);
error_is($elock, 429, 'rate_limited', undef, 'after 5 wrong current passwords the login is 429 rate_limited');
like($elock->header('Retry-After') // '', qr/^[1-9]\d*$/, '... with Retry-After');
my (undef, undef, $clock) = change_password($etok, currentPassword => $PW, newPassword => $NEW_PW);
error_is($clock, 429, 'rate_limited', undef, '... and change-password, even with the right one, is 429');
psql('DELETE FROM auth_throttle WHERE key = ' . sql_quote("a:$eemail"));

# an account without a password (Google-only)
my ($gtok, $guser) = provider_session(email => unique_email('pwchange.g'));
psql('UPDATE users SET password_hash = NULL WHERE id = ' . sql_quote($guser->{id}));
is(me_code($gtok), 200, 'setup: the password-less account\'s session works');
my (undef, undef, $nop) = change_password($gtok, currentPassword => $PW, newPassword => $NEW_PW);
error_is($nop, 409, 'no_password', undef, 'change-password without a password on the account: 409 no_password');
is(me_code($gtok), 200, '... revoking nothing');

done_testing();
