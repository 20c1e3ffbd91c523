# Outbox housekeeping: after a delivery pass, mail sent or given up more than 30 days ago and
# mailed links a week past their expiry are deleted; pending mail and recent rows stay.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Mail;
use Time::HiRes ();

my ($token, $user) = provider_session();
my $uid = sql_quote($user->{id});
my $to = sql_quote($user->{email});

# rows as they would look after a month: one sent, one given up, one recent, one still pending
my @ids = map { scalar psql('SELECT gen_random_uuid()') } 1 .. 4;
my ($old_sent, $old_failed, $recent_sent, $old_pending) = map { sql_quote($_) } @ids;
my (undef, $rc, $err) = psql(<<"SQL");
INSERT INTO outbox (id, kind, recipient, subject, status, message_id, created_at, body_ct)
VALUES ($old_sent, 'invite', $to, 'x', 'sent', '<a\@x>', now() - interval '31 days', NULL),
       ($old_failed, 'invite', $to, 'x', 'failed', '<b\@x>', now() - interval '40 days', NULL),
       ($recent_sent, 'invite', $to, 'x', 'sent', '<c\@x>', now() - interval '29 days', NULL),
       ($old_pending, 'invite', $to, 'x', 'pending', '<d\@x>', now() - interval '31 days', 'zz');
UPDATE outbox SET next_attempt_at = now() + interval '1 day' WHERE id = $old_pending;
INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at)
VALUES (repeat('a', 64), $uid, 'password-reset', now() - interval '9 days', now() - interval '8 days'),
       (repeat('b', 64), $uid, 'password-reset', now() - interval '6 days', now() - interval '6 days');
SQL
is($rc, 0, 'old rows inserted') or diag $err;

# a new mail makes a delivery pass happen now; the prune follows it
my ($st) = api(POST => '/api/auth/verify-email/resend', token => $token);
ok($st == 202 || $st == 429, 'a mail is queued (or one went out a moment ago)');
ok(scalar(wait_mail(to => $user->{email}, kind => 'verify-email')), 'a delivery pass ran');

my $left;
for (1 .. 100) {
    $left = psql(qq{SELECT string_agg(message_id, ' ' ORDER BY message_id) FROM outbox
                     WHERE id IN ($old_sent, $old_failed, $recent_sent, $old_pending)});
    last if $left eq '<c@x> <d@x>';
    Time::HiRes::sleep(0.1);
}
is($left, '<c@x> <d@x>', 'sent and failed mail over 30 days old is deleted; recent and pending mail stays');
is(psql(qq{SELECT string_agg(left(token_hash, 1), '') FROM email_tokens
            WHERE token_hash IN (repeat('a', 64), repeat('b', 64))}), 'b',
   'a link a week past its expiry is deleted, a newer expired one stays');

psql("DELETE FROM outbox WHERE id IN ($recent_sent, $old_pending)");
done_testing();
