#!/usr/bin/perl
# smtp_fake.pl: a local SMTP sink for the tests of mod_docportal's outbound mail.
# It speaks the part of ESMTP (RFC 5321, RFC 4954 for AUTH) that libcurl's SMTP client uses,
# accepts every message and writes it to a directory, one file per message, where the API
# tests (t/lib/DocPortal/Mail.pm) read it. It delivers nothing anywhere.
#
#   perl t/fakes/smtp_fake.pl --port N --dir DIR [--delay-ms N] [--verbose]
#
# --port 0 picks a free port. It listens on 127.0.0.1 (SO_REUSEADDR: a restart can take the
# port back at once), writes its pid to DIR/.pid, then prints "ready <port>" on stdout. Every
# connection is served by its own forked process, with any number of messages per connection.
# SIGTERM (or SIGINT): the listener closes at once; connections still open are told
# "421" at their next command (a message being received is finished and stored first); the
# process exits when they are gone (after 5 s they are killed).
#
# Session: greeting 220; EHLO (250 with 8BITMIME, SIZE 10485760, AUTH PLAIN LOGIN; no
# STARTTLS), HELO; AUTH PLAIN and AUTH LOGIN, with or without an initial response, any
# credentials accepted (the user name is recorded; "*" cancels: 501); MAIL FROM:<addr>
# (parameters SIZE=, BODY=7BIT|8BITMIME, AUTH=, SMTPUTF8 accepted, others 555; SIZE over the
# limit 552); RCPT TO:<addr> (up to 100; an address needs an "@", except postmaster); DATA
# (354, then lines until "."; dot-stuffing undone; 250 once stored); RSET, NOOP, VRFY (252),
# HELP, QUIT (221). Unknown command 500, bad arguments 501, bad sequence 503. Commands may
# end in CRLF or a bare LF.
#
# Failure injection by recipient, for retry tests: a local part that starts with
# "smtp-reject" gets 550 5.1.1 at RCPT, one that starts with "smtp-tempfail" gets 451 4.3.0.
# --delay-ms N: wait N ms after the final "." of DATA before storing the message and
# answering 250 (makes a delivery take time, for race tests).
# --verbose: the transcript of every session on stderr.
#
# Each accepted message is written to DIR/.tmp-<pid>-<n>, then renamed, under a lock
# (DIR/.lock) that also guards a counter (DIR/.counter, kept across restarts on the same DIR),
# to DIR/NNNNNN-<epoch_ms>-<pid>.eml: sorted by name, files are in the order the messages
# were accepted. The file holds, each line ending CRLF:
#   X-Envelope-From: addr          (the MAIL FROM address without <>; empty for <>)
#   X-Envelope-To: addr            (one per accepted RCPT, in order)
#   X-Envelope-Auth: user          (only when the session authenticated)
# then the message exactly as received (line endings kept), dot-stuffing undone, without the
# terminating ".".
#
# Core Perl only: IO::Select, Getopt::Long, Time::HiRes, Fcntl, MIME::Base64, and the fakes'
# server loop (t/lib/DocPortal/FakeServer.pm: listening, the forked children, stopping).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use DocPortal::FakeServer qw(serve stopping write_atomic);
use Fcntl qw(:flock O_WRONLY O_CREAT O_EXCL);
use Getopt::Long qw(GetOptions);
use IO::Select;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(time sleep);

my $HOST     = 'smtp-fake.test';
my $MAX_SIZE = 10_485_760;
my $MAX_RCPT = 100;
my $IDLE     = 300;    # seconds without a command before a session is dropped (421)

my ($port, $dir, $delay_ms, $verbose) = (0, undef, 0, 0);
GetOptions('port=i' => \$port, 'dir=s' => \$dir, 'delay-ms=i' => \$delay_ms,
           'verbose' => \$verbose)
    && defined $dir
    or die "usage: $0 --port N --dir DIR [--delay-ms N] [--verbose]\n";
-d $dir or mkdir $dir or die "smtp_fake: cannot create $dir: $!\n";

serve(name => 'smtp_fake', port => $port, backlog => 64, pidfile => "$dir/.pid", forked => 1,
      session => \&session, quiet => qr/^(?:write|connection closed)\b/,
      busy => sub { print {$_[0]} "421 4.3.2 $HOST cannot fork\r\n" });

# ---- one SMTP session (in its own process) -------------------------------------------------

my ($C, $BUF, $EOF);

sub say_ {
    my (@lines) = @_;
    my $out = '';
    for my $i (0 .. $#lines) {
        my ($code, $text) = $lines[$i] =~ /^(\d{3})\s?(.*)$/s;
        $out .= $code . ($i < $#lines ? '-' : ' ') . $text . "\r\n";
    }
    print STDERR map { "S[$$]: $_\n" } split /\r\n/, $out if $verbose;
    my $off = 0;
    while ($off < length $out) {
        my $n = syswrite $C, $out, length($out) - $off, $off;
        die "write: $!\n" unless defined $n;
        $off += $n;
    }
}

# The next line from the client, with its line ending ("\r\n" or "\n"), or undef: end of
# stream, idle timeout, or (when $stoppable) a stop request. $max: longest line accepted
# (longer: the part read so far is returned, flagged by no line ending).
sub read_line {
    my ($stoppable, $max) = @_;
    my $sel = IO::Select->new($C);
    my $idle_until = time + $IDLE;
    my $stop_until;
    while (1) {
        if ($BUF =~ s/\A(.*?\n)//s) {
            return $1;
        }
        if (length $BUF > $max) {
            return substr($BUF, 0, length $BUF, '');
        }
        return undef if $EOF;
        if (stopping()) {
            return undef if $stoppable;
            $stop_until //= time + 5;    # in DATA: give the client a little time to finish
            return undef if time > $stop_until;
        }
        return undef if time > $idle_until;
        next unless $sel->can_read(0.2);
        my $n = sysread $C, $BUF, 65536, length $BUF;
        if (!$n) {
            next if !defined $n && $!{EINTR};
            $EOF = 1;
        }
    }
}

sub session {
    ($C) = @_;
    binmode $C;
    ($BUF, $EOF) = ('', 0);
    my ($helo, $user) = (0, undef);
    my ($from, @rcpt);    # the transaction: $from defined once MAIL was accepted
    my $reset = sub { ($from, @rcpt) = () };
    say_("220 $HOST ESMTP smtp_fake ready");
    while (1) {
        my $line = read_line(1, 4096);
        if (!defined $line) {
            say_("421 4.3.2 $HOST shutting down") if stopping() && !$EOF;
            say_("421 4.4.2 $HOST idle timeout") if !stopping() && !$EOF;
            return;
        }
        if ($line !~ /\n\z/) {
            say_('500 5.5.2 Line too long');
            $BUF = '';
            next;
        }
        $line =~ s/\r?\n\z//;
        print STDERR "C[$$]: $line\n" if $verbose;
        my ($verb, $arg) = $line =~ /^\s*(\S+)\s*(.*?)\s*$/s;
        $verb = uc($verb // '');
        $arg //= '';

        if ($verb eq 'EHLO' || $verb eq 'HELO') {
            if ($arg eq '') { say_("501 5.5.4 Syntax: $verb hostname"); next }
            $reset->();
            $helo = 1;
            if ($verb eq 'HELO') { say_("250 $HOST") }
            else {
                say_("250 $HOST greets $arg", '250 8BITMIME', "250 SIZE $MAX_SIZE",
                     '250 AUTH PLAIN LOGIN', '250 HELP');
            }
        }
        elsif ($verb eq 'AUTH') {
            if (!$helo)         { say_('503 5.5.1 Send EHLO first'); next }
            if (defined $user)  { say_('503 5.5.1 Already authenticated'); next }
            if (defined $from)  { say_('503 5.5.1 AUTH not allowed during a mail transaction'); next }
            my ($mech, $ir) = split ' ', $arg, 2;
            $mech = uc($mech // '');
            my $got = $mech eq 'PLAIN' ? auth_plain($ir)
                    : $mech eq 'LOGIN' ? auth_login($ir)
                    : do { say_('504 5.5.4 Unrecognized authentication type'); next };
            next unless defined $got;    # answered already
            $user = $got;
            say_('235 2.7.0 Authentication successful');
        }
        elsif ($verb eq 'MAIL') {
            if (!$helo)        { say_('503 5.5.1 Send EHLO/HELO first'); next }
            if (defined $from) { say_('503 5.5.1 Nested MAIL command'); next }
            my ($addr, $params) = parse_path($arg, 'FROM');
            if (!defined $addr) { say_('501 5.5.4 Syntax: MAIL FROM:<address>'); next }
            if ($addr ne '' && $addr !~ /^[^\s@<>]+@[^\s@<>]+$/) {
                say_('501 5.1.7 Bad sender address syntax');
                next;
            }
            my $bad;
            for my $p (split ' ', $params) {
                my ($k, $v) = split /=/, $p, 2;
                $k = uc $k;
                if ($k eq 'SIZE' && defined $v && $v =~ /^\d+$/) {
                    $bad = "552 5.3.4 Message size exceeds fixed limit" if $v > $MAX_SIZE;
                }
                elsif ($k eq 'BODY' && defined $v && $v =~ /^(7BIT|8BITMIME)$/i) { }
                elsif ($k eq 'AUTH' && defined $v) { }
                elsif ($k eq 'SMTPUTF8' && !defined $v) { }
                else { $bad = "555 5.5.4 Unsupported option: $p" }
                last if $bad;
            }
            if ($bad) { say_($bad); next }
            $from = $addr;
            say_('250 2.1.0 Ok');
        }
        elsif ($verb eq 'RCPT') {
            if (!defined $from) { say_('503 5.5.1 Need MAIL command'); next }
            my ($addr, $params) = parse_path($arg, 'TO');
            if (!defined $addr || $params ne '') { say_('501 5.5.4 Syntax: RCPT TO:<address>'); next }
            if ($addr !~ /^[^\s@<>]+@[^\s@<>]+$/ && lc $addr ne 'postmaster') {
                say_('501 5.1.3 Bad recipient address syntax');
                next;
            }
            if (@rcpt >= $MAX_RCPT) { say_('452 4.5.3 Too many recipients'); next }
            if ($addr =~ /^smtp-reject/i) {
                say_("550 5.1.1 <$addr>: Recipient address rejected: User unknown");
                next;
            }
            if ($addr =~ /^smtp-tempfail/i) {
                say_("451 4.3.0 <$addr>: Temporary failure, try again later");
                next;
            }
            push @rcpt, $addr;
            say_('250 2.1.5 Ok');
        }
        elsif ($verb eq 'DATA') {
            if ($arg ne '')     { say_('501 5.5.4 Syntax: DATA'); next }
            if (!defined $from) { say_('503 5.5.1 Need MAIL command'); next }
            if (!@rcpt)         { say_('503 5.5.1 Need RCPT command (no valid recipients)'); next }
            say_('354 End data with <CR><LF>.<CR><LF>');
            my ($msg, $size, $complete) = ('', 0, 0);
            while (defined(my $l = read_line(0, 1 << 20))) {
                if ($l eq ".\r\n" || $l eq ".\n") { $complete = 1; last }
                $l =~ s/^\.//;
                $size += length $l;
                $msg .= $l if $size <= $MAX_SIZE;
            }
            return unless $complete;    # the client went away (or a stop timed out)
            print STDERR "C[$$]: <" . length($msg) . " bytes>\nC[$$]: .\n" if $verbose;
            if ($size > $MAX_SIZE) {
                say_('552 5.3.4 Message size exceeds fixed limit');
                $reset->();
                next;
            }
            if ($delay_ms > 0) {
                my $until = time + $delay_ms / 1000;
                while (!stopping() && (my $left = $until - time) > 0) { sleep($left > 0.1 ? 0.1 : $left) }
            }
            my $name = store($from, \@rcpt, $user, $msg);
            say_("250 2.0.0 Ok: queued as $name");
            $reset->();
        }
        elsif ($verb eq 'RSET') {
            $reset->();
            say_('250 2.0.0 Ok');
        }
        elsif ($verb eq 'NOOP') { say_('250 2.0.0 Ok') }
        elsif ($verb eq 'VRFY') {
            if ($arg eq '') { say_('501 5.5.4 Syntax: VRFY address'); next }
            say_('252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery');
        }
        elsif ($verb eq 'HELP') { say_("214 2.0.0 $HOST: EHLO HELO AUTH MAIL RCPT DATA RSET NOOP VRFY QUIT") }
        elsif ($verb eq 'QUIT') {
            say_('221 2.0.0 Bye');
            return;
        }
        elsif ($verb eq 'STARTTLS') { say_('502 5.5.1 STARTTLS not offered') }
        else { say_('500 5.5.2 Error: command not recognized') }
    }
}

# "FROM:<a@b> PARAMS" -> (address without <> and source route, params) or undef
sub parse_path {
    my ($arg, $kw) = @_;
    return undef unless $arg =~ /^\Q$kw\E:\s*(<[^<>]*>|[^\s<>]+)\s*(.*)$/i;
    my ($path, $params) = ($1, $2);
    $path =~ s/^<(.*)>$/$1/;
    $path =~ s/^@[^:]*://;    # an old source route
    return ($path, $params);
}

# AUTH PLAIN [initial-response] -> user name, or undef after answering the error
sub auth_plain {
    my ($ir) = @_;
    my $resp = $ir;
    if (!defined $resp) {
        say_('334 ');
        $resp = read_auth_line() // return undef;
    }
    if ($resp eq '*') { say_('501 5.7.0 Authentication cancelled'); return undef }
    $resp = '' if $resp eq '=';
    my @f = split /\0/, b64($resp) // "\x01", -1;
    if (@f != 3 || $f[1] eq '') { say_('501 5.5.2 Cannot decode AUTH PLAIN response'); return undef }
    return $f[1];
}

# AUTH LOGIN [initial-response]: "Username:", "Password:" -> user name, or undef
sub auth_login {
    my ($ir) = @_;
    my $u = $ir;
    if (!defined $u) {
        say_('334 VXNlcm5hbWU6');
        $u = read_auth_line() // return undef;
    }
    if ($u eq '*') { say_('501 5.7.0 Authentication cancelled'); return undef }
    my $user = b64($u);
    if (!defined $user || $user eq '') { say_('501 5.5.2 Cannot decode AUTH LOGIN response'); return undef }
    say_('334 UGFzc3dvcmQ6');
    my $p = read_auth_line() // return undef;
    if ($p eq '*') { say_('501 5.7.0 Authentication cancelled'); return undef }
    if (!defined b64($p)) { say_('501 5.5.2 Cannot decode AUTH LOGIN response'); return undef }
    return $user;
}

sub read_auth_line {
    my $l = read_line(1, 4096);
    die "connection closed during AUTH\n" unless defined $l;
    $l =~ s/\r?\n\z//;
    print STDERR "C[$$]: $l\n" if $verbose;
    return $l;
}

# strict base64 -> bytes, or undef
sub b64 {
    my ($s) = @_;
    return undef unless defined $s && $s =~ m{^[A-Za-z0-9+/]*={0,2}$} && length($s) % 4 == 0;
    return decode_base64($s);
}

# store the message; returns the file's name
sub store {
    my ($from, $rcpt, $user, $msg) = @_;
    my $head = "X-Envelope-From: $from\r\n";
    $head .= "X-Envelope-To: $_\r\n" for @$rcpt;
    $head .= "X-Envelope-Auth: $user\r\n" if defined $user;
    my $tmp = sprintf '%s/.tmp-%d-%d', $dir, $$, int(time * 1e6);
    sysopen my $fh, $tmp, O_WRONLY | O_CREAT | O_EXCL, 0644 or die "$tmp: $!\n";
    binmode $fh;
    print {$fh} $head, $msg or die "$tmp: $!\n";
    close $fh or die "$tmp: $!\n";
    open my $lock, '>>', "$dir/.lock" or die "$dir/.lock: $!\n";
    flock $lock, LOCK_EX or die "flock: $!\n";
    my $n = 0;
    if (open my $cf, '<', "$dir/.counter") {
        my $l = <$cf> // '';
        close $cf;
        $n = $1 if $l =~ /^(\d+)/;
    }
    $n++;
    write_atomic("$dir/.counter", "$n\n");
    my $name = sprintf '%06d-%d-%d.eml', $n, int(time * 1000), $$;
    rename $tmp, "$dir/$name" or die "rename $tmp: $!\n";
    close $lock;    # releases the lock
    return $name;
}
