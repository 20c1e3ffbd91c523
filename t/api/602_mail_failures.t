# How delivery failures end. A recipient the SMTP server refuses for good (550 to RCPT) is
# given up at once, logged with its Message-ID, and its body erased; a temporary refusal (451)
# keeps the mail pending for the next attempt, body kept. Mailed links never follow the
# request's Host header.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Mail;
use Time::HiRes ();

sub row_of {
    my ($to) = @_;
    return scalar psql(q{SELECT status || '|' || attempts || '|' || (body_ct IS NULL)::text || '|' }
                     . q{|| coalesce(last_error, '') || '|' || message_id FROM outbox WHERE recipient = }
                     . sql_quote(lc $to) . q{ ORDER BY created_at LIMIT 1});
}

sub wait_row {
    my ($to, $re) = @_;
    my $row = '';
    for (1 .. 150) {
        $row = row_of($to);
        return $row if $row =~ $re;
        Time::HiRes::sleep(0.1);
    }
    return $row;
}

# 550 at RCPT (the sink refuses local parts starting smtp-reject): given up after one attempt
my $rejected = unique_email('smtp-reject');
my ($st, $d, $res) = register_provider(email => $rejected);
is($st, 201, 'an account whose address the mail server will refuse is created');
my $row = wait_row($rejected, qr/^failed\|/);
like($row, qr/^failed\|1\|true\|.*RCPT failed: 550/, 'a 550 to RCPT is given up after one attempt, body erased');
my ($mid) = $row =~ /\|(<[^|]+>)$/;

# 451 at RCPT: still pending, retried later with its body kept
my $deferred = unique_email('smtp-tempfail');
($st) = register_provider(email => $deferred);
is($st, 201, 'an account whose address the mail server defers is created');
$row = wait_row($deferred, qr/^pending\|[1-9]/);
like($row, qr/^pending\|[1-9]\d*\|false\|.*451/, 'a 451 keeps the mail pending, body kept, for another attempt');

# the give-up is in the error log with the Message-ID
my $log = '';
for (1 .. 50) {
    open my $fh, '<', "$FindBin::Bin/../logs/error_log" or last;
    $log = do { local $/; <$fh> };
    last if defined $mid && $log =~ /DP13011: mail \Q$mid\E \(verify-email\) given up/;
    Time::HiRes::sleep(0.1);
}
like($log, qr/DP13011: mail \Q$mid\E \(verify-email\) given up after 1 attempt/,
     'the give-up is logged with the Message-ID') if defined $mid;
unlike($log, qr/\Q$rejected\E|\Q$deferred\E/i, 'the log never names a recipient');

# a forged Host header does not move the link
my $victim = unique_email('hostvictim');
($st) = register_provider(email => $victim);
my $first = wait_mail(to => $victim, kind => 'verify-email');
($st, $d, $res) = api(POST => '/api/auth/password-reset', json => { email => $victim },
                      headers => [Host => 'evil.attacker.example']);
is($st, 202, 'a reset asked for with a forged Host header');
my ($m) = grep { ($_->{kind} // '') eq 'password-reset' } wait_mail(to => $victim, kind => 'password-reset');
like(mail_link($m) // '', qr{^https://portal\.example\.test/reset-password\?token=[0-9a-f]{64}$},
     'the link still starts with DocPortalPublicURL');

# the deferred mail is not left behind for the next test files' sink counts
psql(q{UPDATE outbox SET status = 'failed', body_key_id = NULL, body_nonce = NULL, body_ct = NULL }
   . q{WHERE recipient = } . sql_quote(lc $deferred));
done_testing();
