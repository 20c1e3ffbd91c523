# Outbound mail: every kind of mail the module sends (verify-email, invite,
# password-reset, password-changed) has the spec'd headers and link and no names and no health
# information; a mail is queued in the transaction of the change that causes it (a refused
# change queues none); an address with CR or LF never reaches a mail header; while the SMTP
# server is down a mail stays pending (attempts, last_error) and is delivered exactly once
# when it is back, its sealed body erased; and a server with several children, each with its
# delivery thread, sends each of 40 mails exactly once.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::Mail;
use DocPortal::Server qw(start_httpd stop_httpd);
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes ();
use Time::Local ();

my $PW        = $DocPortal::Test::PASSWORD;
my $MAIL_WAIT = 20;    # seconds a mail may take to reach the sink (normally well under one)
my $PUBLIC    = 'https://portal.example.test';
my $FROM      = 'DocPortal <no-reply@portal.example.test>';
my $ENV_FROM  = 'no-reply@portal.example.test';
my $HEX64     = qr/[0-9a-f]{64}/;
my $UUID      = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
my $RESET_MSG = 'If an account exists for that address, a link to reset its password has been sent.';
my %SUBJECT = ('verify-email'     => 'Confirm your email address',
               'password-reset'   => 'Reset your password',
               'password-changed' => 'Your password was changed',
               'invite'           => 'You are invited to your client portal');
my %LINK = ('verify-email' => 'verify-email', 'password-reset' => 'reset-password',
            'invite' => 'invite');
my %MON = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5, Jul => 6, Aug => 7,
           Sep => 8, Oct => 9, Nov => 10, Dec => 11);

END { eval { smtp_up() } }    # never leave the suite's sink down for the tests after this one

# poll($timeout, sub { ... }) -> the sub's first true answer, or undef after $timeout seconds
sub poll {
    my ($timeout, $probe) = @_;
    my $until = Time::HiRes::time() + $timeout;
    while (1) {
        my $v = $probe->();
        return $v if $v;
        return undef if Time::HiRes::time() > $until;
        Time::HiRes::sleep(0.1);
    }
}

my @OUTBOX_COLS = qw(id kind recipient subject status attempts last_error message_id body_key_id
                     body_nonce body_ct sent_at next_in);

# outbox_rows($where_sql, $psql_prefix) -> hashrefs of outbox rows (NULL as undef), oldest
# first. next_in: seconds until next_attempt_at.
sub outbox_rows {
    my ($where, $prefix) = @_;
    my $sql = q{SELECT id, kind, recipient, subject, status, attempts, }
            . q{coalesce(translate(last_error, E'|\n\r', '/  '), E'\\\\N'), message_id, coalesce(body_key_id, E'\\\\N'), }
            . q{coalesce(body_nonce, E'\\\\N'), coalesce(body_ct, E'\\\\N'), }
            . q{coalesce(sent_at::text, E'\\\\N'), extract(epoch FROM next_attempt_at - now()) }
            . qq{FROM outbox $where ORDER BY created_at, id};
    my ($out, $rc, $err) = defined $prefix ? DocPortal::Test::_run_psql($prefix, $sql) : psql($sql);
    die "outbox_rows: $err\n$sql\n" if $rc;
    my @rows;
    for my $line (grep { length } split /\n/, $out) {
        my %r;
        @r{@OUTBOX_COLS} = split /\|/, $line, -1;
        $_ = ($_ eq '\N' ? undef : $_) for values %r;
        push @rows, \%r;
    }
    return @rows;
}

sub outbox_for {
    my ($to, $kind) = @_;
    return outbox_rows('WHERE recipient = ' . sql_quote($to)
                       . (defined $kind ? ' AND kind = ' . sql_quote($kind) : ''));
}

sub rows_diag { join "\n", map { my $r = $_; join ' ', map { "$_=" . ($r->{$_} // 'NULL') }
                                 grep { $_ ne 'body_ct' } @OUTBOX_COLS } @_ }

# one mail of $kind to $to, or undef (one failing test) after $MAIL_WAIT s
sub the_mail {
    my ($to, $kind, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $m = wait_mail(to => $to, kind => $kind, timeout => $MAIL_WAIT);
    ok($m, "$name: a $kind mail reaches the sink")
        or diag("outbox rows for $to:\n" . rows_diag(outbox_for($to)));
    return $m;
}

# header_count($mail, $name) -> how many times that header occurs in the message
sub header_count {
    my ($m, $name) = @_;
    my $n = 0;
    for my $h (@{ $m->{header_list} || [] }) {
        my $hn = ref $h eq 'ARRAY' ? $h->[0] : ref $h eq 'HASH' ? $h->{name} : ($h =~ /^([^:]+):/)[0];
        $n++ if defined $hn && lc $hn eq lc $name;
    }
    return $n;
}

# the message's own header block (after the sink's X-Envelope-* lines), CRLF kept
sub header_block {
    my ($m) = @_;
    my $raw = $m->{raw} // '';
    my ($head) = $raw =~ /\A(.*?)\r?\n\r?\n/s;
    return $head // '';
}

# rfc5322_epoch('Sat, 06 Dec 2025 10:13:00 +0000') -> epoch, or undef
sub rfc5322_epoch {
    my ($d) = @_;
    return undef unless defined $d
        && $d =~ /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d\d):(\d\d):(\d\d) \+0000$/;
    my $t = eval { Time::Local::timegm($6, $5, $4, $1, $MON{$2}, $3) };
    return undef unless defined $t;
    # the weekday must be the date's
    my $wd = (qw(Sun Mon Tue Wed Thu Fri Sat))[(gmtime $t)[6]];
    return substr($d, 0, 3) eq $wd ? $t : undef;
}

# mail_shape_ok($mail, $kind, $to, $name, %opt) -> the token of its link (undef for
# password-changed). Checks every header, the envelope, CRLF line ends, the link, and the
# outbox row. opt: public (base URL), from, env_from, msgid_domain, prefix (psql of the db).
sub mail_shape_ok {
    my ($m, $kind, $to, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $public = $o{public} // $PUBLIC;
    my $from = $o{from} // $FROM;
    my $domain = $o{msgid_domain} // 'portal.example.test';
    my $h = $m->{headers} || {};
    is($h->{'x-docportal-kind'}, $kind, "$name: X-DocPortal-Kind $kind");
    is($h->{from}, $from, "$name: From is DocPortalMailFrom");
    is($h->{to}, $to, "$name: To is the bare address");
    is($h->{subject}, $SUBJECT{$kind}, "$name: Subject '$SUBJECT{$kind}'");
    my $t = rfc5322_epoch($h->{date});
    ok(defined $t, "$name: Date is RFC 5322 in +0000") or diag('Date: ' . ($h->{date} // 'none'));
    ok(defined $t && abs($t - time) < 600, "$name: Date is now") or diag('Date: ' . ($h->{date} // 'none'));
    like($h->{'message-id'} // '', qr/^<$UUID\@\Q$domain\E>$/, "$name: Message-ID <uuid\@$domain>");
    is($h->{'mime-version'}, '1.0', "$name: MIME-Version 1.0");
    like($h->{'content-type'} // '', qr{^text/plain;\s*charset="?utf-8"?$}i,
         "$name: Content-Type text/plain; charset=utf-8");
    is(lc($h->{'content-transfer-encoding'} // ''), '8bit', "$name: Content-Transfer-Encoding 8bit");
    my @once = grep { header_count($m, $_) != 1 }
               qw(From To Subject Date Message-ID MIME-Version Content-Type X-DocPortal-Kind);
    ok(!@once, "$name: each header exactly once") or diag("not exactly once: @once\n" . header_block($m));
    ok(!header_count($m, 'Bcc') && !header_count($m, 'Cc') && !exists $h->{bcc} && !exists $h->{cc},
       "$name: no Bcc or Cc header");
    is_deeply($m->{env_to}, [$to], "$name: the envelope has the one recipient");
    is($m->{env_from}, $o{env_from} // $ENV_FROM, "$name: envelope sender is the From address");
    my $raw = $m->{raw} // '';
    $raw =~ s/\A(?:X-Envelope-[^\r\n]*\r\n)+//;    # the sink's lines
    ok(length $raw && $raw !~ /(?<!\r)\n/ && $raw !~ /\r(?!\n)/, "$name: every line ends CRLF");
    my $body = $m->{body} // '';
    ok($body =~ /\S/, "$name: the body is not empty");
    my @tokenlinks = $body =~ m{(\S*token=\S*)}g;
    my $token;
    if (my $path = $LINK{$kind}) {
        is(scalar @tokenlinks, 1, "$name: one link with a token in the body") or diag($body);
        like($tokenlinks[0] // '', qr{^\Q$public/$path?token=\E$HEX64$},
             "$name: the link is exactly $public/$path?token=<64 hex>") or diag($body);
        ($token) = ($tokenlinks[0] // '') =~ /token=($HEX64)$/;
        is(link_token($m, $path), $token, "$name: link_token agrees") if defined $token;
    }
    else {
        ok(!@tokenlinks && $body !~ $HEX64, "$name: no token and no link with a token") or diag($body);
    }
    # the outbox row of this mail: sent, body erased, Message-ID as in the header
    my $id = $h->{'message-id'} // '';
    my @rows = grep { $_->{message_id} eq $id }
               outbox_rows('WHERE recipient = ' . sql_quote($to), $o{prefix});
    is(scalar @rows, 1, "$name: one outbox row has that Message-ID") or diag(rows_diag(outbox_for($to)));
    if (@rows) {
        my $r = $rows[0];
        is($r->{kind}, $kind, "$name: outbox row kind");
        is($r->{subject}, $SUBJECT{$kind}, "$name: outbox row subject");
        # the row turns 'sent' just after the sink answered 250: wait for it
        my $sent = poll(10, sub {
            my ($x) = outbox_rows('WHERE id = ' . sql_quote($r->{id}), $o{prefix});
            $x && $x->{status} eq 'sent' ? $x : undef });
        ok($sent, "$name: outbox row status sent") or diag(rows_diag($r));
        ok($sent && !defined $sent->{body_ct} && !defined $sent->{body_nonce},
           "$name: the sealed body is erased once sent") if $sent;
        ok($sent && defined $sent->{sent_at}, "$name: sent_at set") if $sent;
    }
    return $token;
}

sub keys_are {
    my ($h, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is_deeply([sort keys %{ ref $h eq 'HASH' ? $h : {} }], $want, $name)
        or diag('got keys: ' . join(',', sort keys %{ ref $h eq 'HASH' ? $h : {} }));
}

sub reset_request {
    my ($email) = @_;
    return api(POST => '/api/auth/password-reset', json => { email => $email });
}

sub token_row {
    my ($token) = @_;
    my $out = psql(q{SELECT purpose, used_at IS NULL, extract(epoch FROM expires_at - now())::int }
                 . q{FROM email_tokens WHERE token_hash = } . sql_quote(sha256_hex($token)));
    return unless length $out;
    return split /\|/, $out;
}

my $tag = sprintf '%x%04x', time, int rand 65536;
# the mails earlier files left in the sink: section 6 judges this file's own. (A file that kills
# an httpd child or PostgreSQL while mail is in flight may see a mail sent twice, with one
# Message-ID: delivery is at least once, docs/security.md "Mail".)
my %earlier = map { $_->{file} => 1 } mail_all();

# =============================================================================================
# 1. every kind of mail, with a practice whose data holds things that must never be mailed
# =============================================================================================
my $prov_name   = "Dr Quillon Verhoeven-$tag";
my $client_name = "Ottoline Brackenbury-$tag";
my %phi = (
    appt_notes   => "PHIAPPT-$tag panic attacks since the accident",
    message_in   => "PHIMSG1-$tag my medication makes me dizzy",
    message_out  => "PHIMSG2-$tag let us lower the sertraline dose",
    note_text    => "PHINOTE-$tag patient disclosed suicidal ideation",
    diagnosis    => "PHIDX-$tag F41.1",
    private      => "PHIPRIV-$tag private observation",
    invoice_desc => "PHIINV-$tag trauma-focused CBT session",
    address      => "PHIADDR-$tag 12 Larkspur Lane",
    insurance    => "PHIINS-$tag Acme Gold",
    emergency    => "PHIEC-$tag Mother",
    bio          => "PHIBIO-$tag",
);

my $pemail = unique_email('mailprov');
my ($pst, $preg, $pres) = register_provider(email => $pemail, name => $prov_name, bio => $phi{bio});
is($pst, 201, 'provider registers') or diag(dump_res($pres));
my $ptok = $preg->{token};
my $P = $preg->{user};
# queued in the transaction of the registration: the row is there when the answer is
my @at_once = outbox_for(lc $pemail, 'verify-email');
is(scalar @at_once, 1, 'the verify-email mail is in the outbox when register has answered');

my $vmail = the_mail(lc $pemail, 'verify-email', 'register');
my $vtoken = $vmail ? mail_shape_ok($vmail, 'verify-email', lc $pemail, 'verify-email') : undef;
if (defined $vtoken) {
    my ($purpose, $unused, $left) = token_row($vtoken);
    is($purpose, 'verify-email', 'verify-email: the token is stored as its SHA-256 (purpose verify-email)');
    is($unused, 't', 'verify-email: the stored token is unused');
    ok(defined $left && abs($left - 48 * 3600) < 300, 'verify-email: valid 48 h')
        or diag('seconds left: ' . ($left // 'none'));
    is(psql(q{SELECT count(*) FROM email_tokens WHERE token_hash = } . sql_quote($vtoken)), '0',
       'verify-email: the token itself is not stored');
}

# invite: the mailed link is the inviteUrl of the answer
my $cemail = unique_email('mailclient');
my ($ist, $inv, $ires) = invite_client($ptok, email => $cemail, name => $client_name,
                                       address => $phi{address}, insurance => $phi{insurance},
                                       dateOfBirth => '1984-03-09', phone => '+1 555 0177',
                                       emergencyContact => { name => $phi{emergency}, phone => '+1 555 0178',
                                                             relationship => 'mother' });
is($ist, 201, 'provider invites a client') or diag(dump_res($ires));
like($inv->{inviteUrl} // '', qr{^\Q$PUBLIC\E/invite\?token=$HEX64$}, 'inviteUrl is PUBLIC_URL/invite?token=<64 hex>');
my $imail = the_mail(lc $cemail, 'invite', 'invite');
my $itoken = $imail ? mail_shape_ok($imail, 'invite', lc $cemail, 'invite') : undef;
is($itoken, invite_token_of($inv->{inviteUrl}), 'invite: the mailed link is the inviteUrl of the answer');

# the client claims the invitation, then books, writes, is written to, gets a note and a bill
my ($cst, $creg, $cres) = register({ email => $cemail, password => $PW, inviteToken => $itoken // 'none' });
is($cst, 201, 'the client registers through the invitation') or diag(dump_res($cres));
my $ctok = $creg->{token};
my $C = $creg->{user};
my ($bst, $appt, $bres) = book($ctok, date => day_offset(9), time => '11:00', duration => 50,
                               notes => $phi{appt_notes});
is($bst, 201, 'the client books with notes') or diag(dump_res($bres));
my ($m1) = send_message($ctok, $P->{id}, $phi{message_in});
my ($m2) = send_message($ptok, $C->{id}, $phi{message_out});
is_deeply([$m1, $m2], [201, 201], 'messages both ways');
my $napt = eval { appointment_for_note($ptok, $ctok) };
ok($napt, 'an appointment for a note') or diag($@);
my ($nst, undef, $nres) = note_create($ptok, appointmentId => $napt->{id}, type => 'Progress',
                                      content => { text => $phi{note_text} },
                                      diagnosis => $phi{diagnosis}, privateNotes => $phi{private});
is($nst, 201, 'a clinical note') or diag(dump_res($nres));
my ($ivst, undef, $ivres) = create_invoice($ptok, clientId => $C->{id}, amount => 140,
                                           description => $phi{invoice_desc});
is($ivst, 201, 'an invoice') or diag(dump_res($ivres));

# password-reset for the client
my (undef, $rd, $rres) = reset_request($cemail);
success_is($rres, 202, 'password-reset: 202');
is_deeply($rd, { message => $RESET_MSG }, 'password-reset: the one message');
my $rmail = the_mail(lc $cemail, 'password-reset', 'password-reset');
my $rtoken = $rmail ? mail_shape_ok($rmail, 'password-reset', lc $cemail, 'password-reset') : undef;
if (defined $rtoken) {
    my ($purpose, $unused, $left) = token_row($rtoken);
    is($purpose, 'password-reset', 'password-reset: the token is stored as its SHA-256');
    ok(defined $left && abs($left - 3600) < 120, 'password-reset: valid 1 h') or diag('left: ' . ($left // 'none'));
}

# password-changed, through the reset link (client) and through change-password (provider)
my (undef, $cd, $cfres) = api(POST => '/api/auth/password-reset/confirm',
                              json => { token => $rtoken // 'none', password => 'N3w-client-passphrase' });
is($cfres->code, 200, 'password-reset/confirm: 200') or diag(dump_res($cfres));
my $pc1 = the_mail(lc $cemail, 'password-changed', 'after a reset');
mail_shape_ok($pc1, 'password-changed', lc $cemail, 'password-changed (reset)') if $pc1;
my (undef, $chd, $chres) = api(POST => '/api/auth/change-password', token => $ptok,
                               json => { currentPassword => $PW, newPassword => 'N3w-provider-passphrase' });
is($chres->code, 200, 'change-password: 200') or diag(dump_res($chres));
$ptok = $chd->{token} if ref $chd eq 'HASH' && $chd->{token};    # the old one is revoked
my $pc2 = the_mail(lc $pemail, 'password-changed', 'after change-password');
mail_shape_ok($pc2, 'password-changed', lc $pemail, 'password-changed (change)') if $pc2;

# no names, no health information, nothing of the practice in any mail at all
# (the practice's booking and messages also brought notifications: they are checked for PHI
# with the rest, and counted by t/api/680_notifications.t)
my @mine = (mails_to(lc $pemail), mails_to(lc $cemail));
my %account_kinds = map { $_ => 1 } qw(verify-email invite password-reset password-changed);
my @account = grep { $account_kinds{$_->{kind} // ''} } @mine;
is(scalar @account, 5, 'five account mails to the practice (verify, invite, reset, two password-changed)')
    or diag(join "\n", map { "$_->{kind} -> $_->{to}" } @mine);
ok(scalar(grep { ($_->{kind} // '') eq 'new-message' } @mine) >= 1,
   'the practice also got message notices, checked below like every mail');
my @all = mail_all();
ok(@all >= 5, 'the sink holds the mails (' . scalar(@all) . ')');
my @words = (values %phi, $prov_name, $client_name, 'Verhoeven', 'Brackenbury', 'Quillon', 'Ottoline',
             '1984-03-09', '555 0177', '555 0178');
for my $w (sort @words) {
    my @hits = grep { index($_->{raw} // '', $w) >= 0 || index($_->{body} // '', $w) >= 0 } @all;
    ok(!@hits, "no mail contains '$w'")
        or diag(join "\n", map { "$_->{kind} to $_->{to} ($_->{file})" } @hits);
}
# no user's name either: the names of everyone the suite registered so far
my %names = map { $_ => 1 } grep { length > 3 && $_ ne 'DocPortal' }
            split /\n/, psql(q{SELECT DISTINCT name FROM users WHERE name IS NOT NULL AND email IN (}
                             . join(', ', map { sql_quote(lc $_->{to}) } grep { defined $_->{to} } @mine)
                             . q{)});
ok(%names, 'the practice has names in the database (' . join(', ', sort keys %names) . ')');
for my $n (sort keys %names) {
    my @hits = grep { index($_->{body} // '', $n) >= 0 || index(header_block($_), $n) >= 0 } @mine;
    ok(!@hits, "no mail to the practice names '$n'");
}

# =============================================================================================
# 2. queued in the same transaction: a refused change queues nothing
# =============================================================================================
my (undef, undef, $dup) = register_provider(email => uc $pemail, name => 'Dr Duplicate');
error_is($dup, 409, 'email_taken', undef, 'register with a taken email: 409 email_taken');
my (undef, undef, $dupc) = register_client(undef, email => $cemail, name => 'Dup Client');
error_is($dupc, 409, 'email_taken', undef, 'client register with a taken email: 409 email_taken');
my (undef, undef, $dupi) = invite_client($ptok, email => $pemail, name => 'Dup Invite');
error_is($dupi, 409, 'email_taken', undef, 'invite of a taken email: 409 email_taken');
my (undef, undef, $badreg, $badbody) = register_provider(email => unique_email('short'), password => 'short');
is($badreg->code, 422, 'register with a short password: 422');
my $bademail = lc $badbody->{email};
# a later mail as a marker: once it arrived, a mail queued by the refused requests would have
my $marker = unique_email('marker');
my ($mst) = register_provider(email => $marker);
is($mst, 201, 'marker: one more registration');
ok(the_mail(lc $marker, 'verify-email', 'marker'), 'the marker mail arrived');
is(scalar(outbox_for(lc $pemail, 'verify-email')), 1, 'still one verify-email row for the taken provider email');
is(scalar(outbox_for(lc $cemail, 'verify-email')), 0, 'no verify-email row for the taken client email');
is(scalar(outbox_for(lc $pemail, 'invite')), 0, 'no invite row for the refused invitation');
is(scalar(outbox_for($bademail)), 0, 'no row for the refused registration');
is(scalar(mails_to(lc $pemail, kind => 'verify-email')), 1, 'one verify-email mail to the taken provider email');
is(scalar(mails_to(lc $cemail, kind => 'verify-email')), 0, 'no verify-email mail to the taken client email');
is(scalar(mails_to(lc $pemail, kind => 'invite')), 0, 'no invite mail for the refused invitation');

# =============================================================================================
# 3. header injection: an address with CR or LF
# =============================================================================================
my $EVIL = 'evil@x.test';
my @inject = ("\r\nBcc: $EVIL", "\nBcc: $EVIL", "\rBcc: $EVIL", "\r\n Bcc: $EVIL");
my $before_rows = psql(q{SELECT count(*) FROM outbox});
for my $i (0 .. $#inject) {
    my $sfx = $inject[$i];
    (my $show = $sfx) =~ s/\r/\\r/g;
    $show =~ s/\n/\\n/g;
    my $e1 = unique_email('inj') . $sfx;
    my (undef, undef, $r1) = register_provider(email => $e1);
    error_is($r1, 422, 'validation_error', 'email', "register with '...$show': 422 email");
    my (undef, undef, $r2) = invite_client($ptok, email => unique_email('injinv') . $sfx);
    error_is($r2, 422, 'validation_error', 'email', "invite with '...$show': 422 email");
    # reset: an existing account's address with the injection: still 202, no mail
    my (undef, $d3, $r3) = reset_request(lc($pemail) . $sfx);
    success_is($r3, 202, "password-reset with '...$show': 202");
    is_deeply($d3, { message => $RESET_MSG }, '... the one message');
    my (undef, undef, $r4) = reset_request("$EVIL$sfx");
    success_is($r4, 202, "password-reset of '$EVIL...$show': 202");
}
my (undef, undef, $r5) = register_client(undef, email => "inj.$tag\@example.com\r\nBcc: $EVIL", name => 'Inj');
error_is($r5, 422, 'validation_error', 'email', 'client register with CRLF in the email: 422 email');
my (undef, undef, $r6) = register_provider(email => "inj2.$tag\@example.com\r\n", name => 'Inj');
error_is($r6, 422, 'validation_error', 'email', 'register with a trailing CRLF: 422 email');
is(psql(q{SELECT count(*) FROM outbox}), $before_rows, 'the injection attempts queued no mail');
is(psql(q{SELECT count(*) FROM outbox WHERE recipient ~ '[\r\n]' OR recipient ILIKE '%evil@x.test%'}), '0',
   'no outbox row for a CR/LF address or for evil@x.test');
is(psql(q{SELECT count(*) FROM users WHERE email ~ '[\r\n]'}), '0', 'no account with CR/LF in its email');
my $marker2 = unique_email('marker2');
register_provider(email => $marker2);
ok(the_mail(lc $marker2, 'verify-email', 'marker after the injection attempts'), 'the marker mail arrived');
is(scalar(outbox_for(lc $pemail, 'password-reset')), 0, 'no reset row for the provider from the injected requests');
is(scalar(mails_to(lc $pemail, kind => 'password-reset')), 0,
   'the provider got no reset mail from the injected requests');

# =============================================================================================
# 4. the SMTP server down, then up: pending with attempts and an error, then sent exactly once
# =============================================================================================
smtp_down();
my $down = unique_email('smtpdown');
my ($dst, undef, $dres) = register_provider(email => $down);
is($dst, 201, 'register while the SMTP server is down: 201 all the same') or diag(dump_res($dres));
my $failed_once = poll(20, sub {
    my ($r) = outbox_for(lc $down, 'verify-email');
    $r && $r->{attempts} >= 1 && defined $r->{last_error} ? $r : undef });
ok($failed_once, 'the mail is tried and fails: attempts >= 1 and last_error set')
    or diag(rows_diag(outbox_for(lc $down)));
my $pending_ct;
if ($failed_once) {
    is($failed_once->{status}, 'pending', '... status stays pending');
    ok(length($failed_once->{last_error}) > 0, "... last_error: $failed_once->{last_error}");
    ok(defined $failed_once->{body_ct} && length $failed_once->{body_ct}, '... the sealed body is kept while pending');
    ok(defined $failed_once->{body_key_id} && defined $failed_once->{body_nonce}, '... with its key id and nonce');
    ok($failed_once->{next_in} > -5, '... the next attempt is scheduled (not long overdue)')
        or diag("next_attempt_at in $failed_once->{next_in} s");
    $pending_ct = $failed_once->{body_ct};
}
is(scalar(mails_to(lc $down)), 0, 'nothing reached the sink while it was down');
smtp_up();
my $upmail = the_mail(lc $down, 'verify-email', 'SMTP back up');
my $uptoken = $upmail ? mail_shape_ok($upmail, 'verify-email', lc $down, 'delivered after the outage') : undef;
my ($after) = outbox_for(lc $down, 'verify-email');
ok($after && $after->{attempts} >= 2, 'the delivered row counts its failed attempts too')
    or diag(rows_diag($after // ()));
if (defined $pending_ct && defined $uptoken) {
    ok(index($pending_ct, $uptoken) < 0 && index(lc $pending_ct, "verify-email?token") < 0,
       'the pending body was sealed: neither the link nor its token in the clear');
}
is(scalar(outbox_for(lc $down)), 1, 'one outbox row for it');
is(scalar(mails_to(lc $down)), 1, 'the mail arrived exactly once');

# =============================================================================================
# 5. several children racing: a second httpd (3 children, each with its delivery thread) on a
#    database of its own (the suite's server would otherwise deliver its outbox too), with its
#    own sink that takes 30 ms per message
# =============================================================================================
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $sink = "$dir/sink";
mkdir $sink or die "mkdir $sink: $!";
chmod 0777, $sink;
my $fake_pid = open(my $fake, '-|', 'perl', "$FindBin::Bin/../fakes/smtp_fake.pl", '--port', '0',
                    '--dir', $sink, '--delay-ms', '30') or die "smtp fake: $!";
my $ready = <$fake>;
my ($fport) = ($ready // '') =~ /^ready (\d+)/;
ok($fport, 'a second SMTP sink starts (30 ms per message)') or diag($ready // 'no ready line');
END { if ($fake_pid) { kill 'TERM', $fake_pid; waitpid $fake_pid, 0 } }

my $racedb = "docportal_race_$$";
my ($o, $rc, $err) = psql("CREATE DATABASE $racedb OWNER docportal_owner");
is($rc, 0, "a database of its own ($racedb)") or diag($err);
psql("REVOKE ALL ON DATABASE $racedb FROM PUBLIC");
psql("GRANT CONNECT ON DATABASE $racedb TO docportal_app");
(my $race_owner = owner_url()) =~ s{/[^/?]+(\?|$)}{/$racedb$1};
my $mig = `DATABASE_URL='$race_owner' bash '$ENV{DP_ROOT}/build/migrate.sh' 2>&1`;
is($? >> 8, 0, '... migrated') or diag($mig);
(my $race_params = $ENV{DOCPORTAL_DBDPARAMS}) =~ s/dbname=\S+/dbname=$racedb/;
(my $race_psql = $ENV{DP_PSQL}) =~ s/-d \S+/-d $racedb/;
END { psql("DROP DATABASE IF EXISTS $racedb WITH (FORCE)") if $racedb }

my $srv = start_httpd(
    name => 'race', dir => $dir, params => $race_params, secs => 20,
    until => \&DocPortal::Server::listening,
    mpm => "StartServers 3\nServerLimit 3\nThreadsPerChild 10\nMaxRequestWorkers 30\n"
         . "MinSpareThreads 5\nMaxSpareThreads 30",
    mail => "DocPortalSMTPURL smtp://127.0.0.1:" . ($fport // 1) . "\nDocPortalMailInterval 1\n"
          . "DocPortalPublicURL https://race.example.test\n"
          . "DocPortalMailFrom no-reply\@race.example.test",
    extra => "DocPortalJWTSecretFile $ENV{DOCPORTAL_JWT_SECRET_FILE}\nDocPortalRequireTLS Off\n"
           . "DocPortalRegisterLimit 100000\nDocPortalRequireVerifiedEmail Off");
ok(!defined $srv->{status}, 'the racing httpd starts') or diag($srv->{log});
END { stop_httpd($srv) if $srv }

my $N = 40;
my @race_emails = map { lc unique_email("race$_") } 1 .. $N;
# 8 processes register 5 each, all at once, on their own connections
my @statuses;
{
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    my @kids;
    for my $k (0 .. 7) {
        pipe(my $res_r, my $res_w) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $go_w;
            close $res_r;
            my $x;
            sysread $go_r, $x, 1;
            my @s;
            for my $i (grep { $_ % 8 == $k } 0 .. $N - 1) {
                my ($st) = http_at($srv->{port}, POST => '/api/auth/register',
                                   json => { email => $race_emails[$i], password => $PW,
                                             name => 'Race Provider', userType => 'provider' });
                push @s, "$i=$st";
            }
            print {$res_w} join(' ', @s);
            close $res_w;
            POSIX::_exit(0);
        }
        close $res_w;
        push @kids, [$pid, $res_r];
    }
    close $go_r;
    close $go_w;
    for my $k (@kids) {
        my $out = do { local $/; readline $k->[1] } // '';
        waitpid $k->[0], 0;
        push @statuses, split ' ', $out;
    }
}
my @created = grep { /=201$/ } @statuses;
is(scalar @created, $N, "$N registrations on the racing server: all 201")
    or diag("@statuses\n" . DocPortal::Server::_slurp($srv->{logfile}));

my $race_in = join(', ', map { sql_quote($_) } @race_emails);
my $all_sent = poll(90, sub {
    my $n = DocPortal::Test::_run_psql($race_psql,
        "SELECT count(*) FROM outbox WHERE status = 'sent' AND recipient IN ($race_in)");
    $n eq $N ? 1 : undef });
ok($all_sent, "all $N outbox rows become sent")
    or diag(rows_diag(outbox_rows("WHERE recipient IN ($race_in)", $race_psql)));
my @race_mails;
{
    local $ENV{DP_SMTP_DIR} = $sink;
    poll(30, sub { @race_mails = mail_all(); @race_mails >= $N });
    # a second sending of a row would arrive just after the row turned sent: give it the time
    # of a few deliveries to show up
    my $until = Time::HiRes::time() + 2;
    while (Time::HiRes::time() < $until) {
        @race_mails = mail_all();
        last if @race_mails > $N;
        Time::HiRes::sleep(0.1);
    }
}
is(scalar @race_mails, $N, "exactly $N messages reached the racing sink");
my %by_to;
$by_to{ lc($_->{to} // '') }++ for @race_mails;
my @twice = grep { $by_to{$_} != 1 } @race_emails;
ok(!@twice, 'each recipient got exactly one message') or diag(join "\n", map { "$_: " . ($by_to{$_} // 0) } @twice);
my %ids;
$ids{ $_->{message_id} // '' }++ for @race_mails;
my @dupids = grep { $ids{$_} > 1 || $_ eq '' } keys %ids;
ok(!@dupids, 'every Message-ID once') or diag("@dupids");
is(scalar(keys %ids), $N, "$N distinct Message-IDs");
my @race_rows = outbox_rows("WHERE recipient IN ($race_in)", $race_psql);
is(scalar @race_rows, $N, "$N outbox rows");
my @bad_rows = grep { $_->{status} ne 'sent' || $_->{attempts} != 1 || defined $_->{body_ct} } @race_rows;
ok(!@bad_rows, "every row: sent, attempts = 1, body erased") or diag(rows_diag(@bad_rows));
my %row_ids = map { $_->{message_id} => 1 } @race_rows;
my @unmatched = grep { !$row_ids{$_} } keys %ids;
ok(!@unmatched, 'every Message-ID is that of an outbox row') or diag("@unmatched");
if (@race_mails) {
    my $m = $race_mails[0];
    mail_shape_ok($m, 'verify-email', lc $m->{to}, 'a mail of the racing server',
                  public => 'https://race.example.test', from => 'no-reply@race.example.test',
                  env_from => 'no-reply@race.example.test', msgid_domain => 'race.example.test',
                  prefix => $race_psql);
}
stop_httpd($srv);
ok(!defined $srv->{status} || $srv->{status} == 0, 'the racing httpd stops cleanly') or diag($srv->{log});
# (mpm_event's notice that all workers were busy, AH00484, is about capacity, not a fault)
my @errs = grep { /\[[\w.-]*:(?:error|crit|alert|emerg)\]/ && !/AH00484/ } split /\n/, $srv->{log} // '';
ok(!@errs, 'the racing httpd logged no error') or diag(join "\n", @errs);
kill 'TERM', $fake_pid;
waitpid $fake_pid, 0;
undef $fake_pid;
undef $srv;

# =============================================================================================
# 6. over the whole run of this file: nothing to evil@x.test, no Bcc anywhere, no duplicates
# =============================================================================================
@all = grep { !$earlier{ $_->{file} } } mail_all();
my @evil = grep { grep { /evil\@x\.test/i } @{ $_->{env_to} || [] } } @all;
ok(!@evil, 'no message was ever sent to evil@x.test');
my @bcc = grep { header_count($_, 'Bcc') || exists(($_->{headers} || {})->{bcc})
                 || header_block($_) =~ /^Bcc:/mi || ($_->{raw} // '') =~ /evil\@x\.test/i } @all;
ok(!@bcc, 'no message has a Bcc header or names evil@x.test') or diag(join "\n", map { $_->{file} } @bcc);
my %mid;
$mid{ $_->{message_id} // '' }++ for @all;
my @dups = grep { $mid{$_} > 1 } keys %mid;
ok(!@dups, 'no Message-ID reached the suite\'s sink twice') or diag("@dups");
is(scalar(mails_to(lc $down)), 1, 'the mail delayed by the outage still arrived only once');

done_testing();
