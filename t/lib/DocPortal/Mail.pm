package DocPortal::Mail;
# Helpers for the mail tests: reading what the suite's SMTP sink
# (t/fakes/smtp_fake.pl) received, and stopping / restarting the sink.
#
# build/test.sh starts the sink and exports DP_SMTP_DIR (where it writes one .eml file per
# message) and DP_SMTP_PORT. Tests tell their mails apart by recipient (unique_email()), so
# nothing here ever clears the directory.
#
# A parsed mail is a hashref:
#   file         the file's path
#   env_from     the envelope sender (MAIL FROM, without <>; '' for the null sender)
#   env_to       [envelope recipients], in RCPT order
#   auth         the user name the session authenticated as, or undef
#   raw          the message bytes as received (line endings kept), without the envelope lines
#   header_list  [[name, value], ...] in order; values unfolded, not decoded
#   headers      {lc name => value}; a name given more than once: its values joined with "\n"
#   body         the body as text: transfer encoding (quoted-printable, base64) and charset
#                (Content-Type's, default utf-8) decoded, CRLF turned into LF
#   kind, to, subject, message_id   the X-DocPortal-Kind, To, Subject (RFC 2047 decoded) and
#                Message-ID headers (undef when absent)
use strict;
use warnings;

use Exporter 'import';
use Cwd ();
use Encode ();
use File::Basename qw(dirname);
use File::Spec;
use IO::Socket::INET;
use MIME::Base64 qw(decode_base64);
use MIME::QuotedPrint qw(decode_qp);
use POSIX ();
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
    mail_all mails_to wait_mail no_mail_within link_token mail_link parse_mail
    smtp_down smtp_up smtp_restart
);

my $FAKE = Cwd::abs_path(File::Spec->rel2abs(dirname(__FILE__) . '/../../fakes/smtp_fake.pl'));

sub _dir {
    my $d = $ENV{DP_SMTP_DIR} or die "DP_SMTP_DIR is not set (is the SMTP sink running?)\n";
    return $d;
}

sub _port {
    my $p = $ENV{DP_SMTP_PORT} or die "DP_SMTP_PORT is not set (is the SMTP sink running?)\n";
    return $p;
}

# ---- reading ----------------------------------------------------------------------------------

my %CACHE;    # file name => parsed mail (the files never change once they exist)

# mail_all() -> every mail in the sink, in arrival order
sub mail_all {
    my $dir = _dir();
    opendir my $dh, $dir or die "$dir: $!\n";
    my @names = sort { _seq($a) <=> _seq($b) || $a cmp $b }
                grep { /^\d+-\d+-\d+\.eml$/ } readdir $dh;
    closedir $dh;
    my @out;
    for my $n (@names) {
        my $m = $CACHE{$n} //= parse_mail("$dir/$n");
        push @out, $m if $m;
    }
    return @out;
}

sub _seq { return $_[0] =~ /^(\d+)/ ? $1 : 0 }

# mails_to($addr, kind => $kind) -> the mails with $addr among their envelope recipients
# (case-insensitive), optionally only those of one X-DocPortal-Kind; arrival order
sub mails_to {
    my ($addr, %opt) = @_;
    return grep { _match($_, $addr, $opt{kind}) } mail_all();
}

sub _match {
    my ($m, $addr, $kind) = @_;
    return 0 if defined $kind && ($m->{kind} // '') ne $kind;
    return 1 unless defined $addr;
    return scalar grep { lc $_ eq lc $addr } @{ $m->{env_to} };
}

# wait_mail(to => $addr, kind => $kind, timeout => 15, count => 1): polls every 50 ms until at
# least `count` matching mails exist (to and kind optional). Returns them all (list context)
# or the first (scalar context); on timeout () / undef.
sub wait_mail {
    my (%o) = @_;
    my $count = $o{count} // 1;
    my $until = time + ($o{timeout} // 15);
    while (1) {
        my @m = grep { _match($_, $o{to}, $o{kind}) } mail_all();
        return wantarray ? @m : $m[0] if @m >= $count;
        last if time >= $until;
        sleep 0.05;
    }
    return wantarray ? () : undef;
}

# no_mail_within($seconds, to => $addr, kind => $kind) -> true when no matching mail exists
# and none arrives within $seconds (for "no mail is sent" checks; give the delivery thread
# time to have sent one)
sub no_mail_within {
    my ($secs, %o) = @_;
    my $until = time + $secs;
    while (1) {
        return 0 if grep { _match($_, $o{to}, $o{kind}) } mail_all();
        return 1 if time >= $until;
        sleep 0.05;
    }
}

# link_token($mail, $path) -> the 64-hex token of the first ".../$path?token=<hex>" link in the
# body, or undef
sub link_token {
    my ($m, $path) = @_;
    return undef unless $m && defined $m->{body};
    return $m->{body} =~ m{/\Q$path\E\?token=([0-9a-f]{64})(?![0-9A-Za-z])} ? $1 : undef;
}

# mail_link($mail) -> the first http(s) URL in the body, or undef
sub mail_link {
    my ($m) = @_;
    return undef unless $m && defined $m->{body};
    return $m->{body} =~ m{(https?://[^\s<>"']+)} ? $1 : undef;
}

# parse_mail($file) -> a parsed mail (see the top of this file), or undef when unreadable
sub parse_mail {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return undef;
    my $data = do { local $/; <$fh> } // '';
    close $fh;
    my %m = (file => $file, env_from => undef, env_to => [], auth => undef);
    # the envelope: one From, then the recipients, then maybe Auth
    if ($data =~ s/\AX-Envelope-From: ?([^\r\n]*)\r?\n//) {
        $m{env_from} = $1;
    }
    while ($data =~ s/\AX-Envelope-To: ?([^\r\n]*)\r?\n//) {
        push @{ $m{env_to} }, $1;
    }
    $m{auth} = $1 if $data =~ s/\AX-Envelope-Auth: ?([^\r\n]*)\r?\n//;
    $m{raw} = $data;

    my ($head, $body) = $data =~ /\A(.*?)\r?\n\r?\n(.*)\z/s ? ($1, $2)
                      : $data =~ /\A\r?\n(.*)\z/s           ? ('', $1)
                      :                                       ($data, '');
    $head =~ s/\r?\n(?=[ \t])//g;    # unfold
    my (@list, %h);
    for my $line (split /\r?\n/, $head) {
        next unless $line =~ /^([^:\s]+):[ \t]*(.*?)\s*$/;
        push @list, [$1, $2];
        my $k = lc $1;
        $h{$k} = defined $h{$k} ? "$h{$k}\n$2" : $2;
    }
    $m{header_list} = \@list;
    $m{headers} = \%h;

    my $cte = lc($h{'content-transfer-encoding'} // '');
    $body = decode_qp($body) if $cte eq 'quoted-printable';
    $body = decode_base64($body) if $cte eq 'base64';
    my $charset = ($h{'content-type'} // '') =~ /charset="?([\w.:-]+)"?/i ? $1 : 'utf-8';
    my $enc = Encode::find_encoding($charset) // Encode::find_encoding('utf-8');
    $body = $enc->decode($body, Encode::FB_DEFAULT);
    $body =~ s/\r\n/\n/g;
    $m{body} = $body;

    $m{kind} = $h{'x-docportal-kind'};
    $m{to} = $h{to};
    $m{message_id} = $h{'message-id'};
    $m{subject} = $h{subject};
    $m{subject} = eval { Encode::decode('MIME-Header', $m{subject}) } // $m{subject}
        if defined $m{subject} && $m{subject} =~ /=\?/;
    return \%m;
}

# ---- the sink's life --------------------------------------------------------------------------

sub _port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                  Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

sub _fake_pid {
    open my $fh, '<', _dir() . '/.pid' or return undef;
    my $l = <$fh> // '';
    close $fh;
    return $l =~ /^(\d+)/ ? $1 : undef;
}

# a process that exists and is not a zombie
sub _alive {
    my ($pid) = @_;
    return 0 unless $pid && kill 0, $pid;
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $st = <$fh> // '';
        return 0 if $st =~ /\)\s+Z\b/;
    }
    return 1;
}

# smtp_down() -> true once the sink is gone: SIGTERM to the pid in DP_SMTP_DIR/.pid, then
# waits (10 s at most) until that process has exited (its open sessions are closed with 421)
# and DP_SMTP_PORT refuses connections.
sub smtp_down {
    my $port = _port();
    my $pid = _fake_pid();
    kill 'TERM', $pid if _alive($pid);
    my $until = time + 10;
    while (time < $until) {
        return 1 if !_alive($pid) && !_port_open($port);
        sleep 0.05;
    }
    if (_alive($pid)) {
        kill 'KILL', $pid;
        sleep 0.2;
    }
    return !_port_open($port);
}

# smtp_up(delay_ms => N, timeout => 10) -> true once a new sink listens on DP_SMTP_PORT and
# writes to DP_SMTP_DIR (its pid in DIR/.pid, its stderr appended to DIR/.log). It runs
# detached (its own session), so it outlives the test file; build/test.sh stops it at the end.
# When a sink is already running (the pid in DIR/.pid lives and the port accepts), it returns
# true at once and starts nothing (use smtp_restart to change its options).
sub smtp_up {
    my (%o) = @_;
    my $dir = _dir();
    my $port = _port();
    return 1 if _alive(_fake_pid()) && _port_open($port);
    my @cmd = ($^X, $FAKE, '--port', $port, '--dir', $dir);
    push @cmd, '--delay-ms', int $o{delay_ms} if $o{delay_ms};
    my $until = time + ($o{timeout} // 10);
    while (1) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $r;
            POSIX::setsid();
            my $pid2 = fork;
            POSIX::_exit(defined $pid2 ? 0 : 1) if !defined $pid2 || $pid2;
            open STDIN, '<', '/dev/null';
            open STDOUT, '>&', $w;
            open STDERR, '>>', "$dir/.log";
            { no warnings 'exec'; exec @cmd; }
            POSIX::_exit(127);
        }
        close $w;
        waitpid $pid, 0;
        my $line = _read_line_until($r, $until);
        close $r;
        return 1 if defined $line && $line =~ /^ready \d+/;    # listening since before that line
        return 0 if time >= $until;
        sleep 0.2;    # the port may still be taken: try again
    }
}

sub _read_line_until {
    my ($fh, $until) = @_;
    my $buf = '';
    require IO::Select;
    my $sel = IO::Select->new($fh);
    while ((my $left = $until - time) > 0) {
        next unless $sel->can_read($left);
        my $n = sysread $fh, $buf, 256, length $buf;
        return undef unless $n;
        return $1 if $buf =~ /^(.*)\n/;
    }
    return undef;
}

# smtp_restart(%opt): smtp_down, then smtp_up(%opt) (e.g. delay_ms => 1500; restart without
# it to turn the delay off again)
sub smtp_restart {
    my (%o) = @_;
    smtp_down() or return 0;
    return smtp_up(%o);
}

1;
