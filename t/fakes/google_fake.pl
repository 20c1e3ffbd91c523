#!/usr/bin/perl
# google_fake.pl: a local stand-in for Google's OAuth 2.0 token endpoint and the Calendar
# events API, for the unit and API tests of mod_docportal's Google Meet integration.
#
#   perl t/fakes/google_fake.pl --port N --pubkey PEMFILE [--mode MODE] [--delay SECONDS]
#
# --port 0 picks a free port. Once listening it prints "ready <port>" on stdout, then serves
# one connection at a time (HTTP/1.1, Connection: close) until killed.
#
#   POST /token                                  JWT-bearer grant; the assertion must be RS256,
#                                                verify under PEMFILE (openssl dgst) and carry
#                                                iss, sub, scope, aud (= this URL), iat, exp
#   POST /calendar/v3/calendars/primary/events   needs a Bearer token this process issued,
#                                                ?conferenceDataVersion=1 and a hangoutsMeet
#                                                createRequest; answers a Google-shaped event
#                                                and keeps it (in the token subject's calendar)
#   PATCH  /calendar/v3/calendars/primary/events/ID   events.patch: a Bearer token this process
#                                                issued, a JSON body whose start/end (if
#                                                given) carry dateTime; answers the moved event.
#                                                404 when the subject's calendar has no such
#                                                live event
#   DELETE /calendar/v3/calendars/primary/events/ID   events.delete: a Bearer token this
#                                                process issued; 204, or 404 (unknown in the
#                                                subject's calendar), or 410 (deleted already)
#   GET  /__requests    JSON array of what the endpoints above received (method, path,
#                       query, some headers, parsed body; for /token the decoded JWT and
#                       whether its signature verified; for events the link answered; for
#                       PATCH and DELETE the event_id; for all of them the status answered)
#   GET  /__events      JSON object: every event created, by id (organizer, start, end,
#                       deleted)
#   POST /__reset       forget the request log
#   POST /__mode?mode=M switch mode without a restart
#   GET  /__redirect    302 to /__requests     (HTTP client tests)
#   GET  /__big?n=N     N bytes of "x"
#   GET  /__sleep?ms=N  answer after N ms
#
# Modes: ok | token_fail (token: 400 invalid_grant) | api_fail (every events call: 500) |
# change_fail (PATCH and DELETE of an event: 500; creating one works) | api_401 (every events
# call: 401) | no_link (event without conference data) | pending (conference still pending,
# no link) | entry_only (link only in conferenceData.entryPoints) | bad_link (link not on
# meet.google.com) | slow (token and events answer after --delay seconds, default 3).
#
# Core Perl only: JSON::PP, MIME::Base64, Digest::SHA, File::Temp, and the fakes' server
# loop (t/lib/DocPortal/FakeServer.pm).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Digest::SHA qw(sha256_hex);
use DocPortal::FakeServer qw(parse_form serve_http);
use File::Temp qw(tempfile);
use Getopt::Long qw(GetOptions);
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(sleep);

my %MODES = map { $_ => 1 }
    qw(ok token_fail api_fail change_fail api_401 no_link pending entry_only bad_link slow);
my $GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
my $SCOPE = 'https://www.googleapis.com/auth/calendar.events';
my $EVENTS = '/calendar/v3/calendars/primary/events';

my ($port, $pubkey, $mode, $delay) = (0, undef, 'ok', 3);
GetOptions('port=i' => \$port, 'pubkey=s' => \$pubkey, 'mode=s' => \$mode,
           'delay=f' => \$delay)
    or die "usage: $0 --port N --pubkey PEMFILE [--mode MODE] [--delay SECONDS]\n";
die "google_fake: --pubkey PEMFILE is required and must be readable\n"
    unless defined $pubkey && -r $pubkey;
die "google_fake: unknown mode '$mode'\n" unless $MODES{$mode};

my $json = JSON::PP->new->canonical->allow_nonref;
my @log;       # what /token and the events endpoint received
my %issued;    # access token => subject
my %events;    # event id => { organizer, start, end, summary, deleted }

serve_http(name => 'google_fake', port => $port, route => \&route, json => $json,
           control => { requests => sub { \@log }, reset => sub { @log = () },
                        modes => \%MODES, mode => \$mode });

# ---- HTTP ----------------------------------------------------------------------------------

sub route {
    my ($r) = @_;
    my ($m, $p) = ($r->{method}, $r->{path});
    return (200, \%events) if $m eq 'GET' && $p eq '/__events';
    if ($m eq 'GET' && $p eq '/__redirect') {
        return (302, '', { headers => [['Location', "http://$r->{headers}{host}/__requests"]],
                           type => 'text/plain' });
    }
    if ($m eq 'GET' && $p eq '/__big') {
        my $n = $r->{query}{n} // 0;
        return (200, 'x' x ($n =~ /^\d+$/ ? $n : 0), { type => 'text/plain' });
    }
    if ($m eq 'GET' && $p eq '/__sleep') {
        my $ms = $r->{query}{ms} // 0;
        sleep(($ms =~ /^\d+$/ ? $ms : 0) / 1000);
        return (200, { slept_ms => $ms + 0 });
    }
    return token($r) if $p eq '/token';
    return event($r) if $p eq $EVENTS;
    if ($p =~ m{^\Q$EVENTS\E/([^/]+)$}) {
        (my $id = $1) =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        return event_change($r, $id);
    }
    return (404, { error => { code => 404, message => 'Not Found', status => 'NOT_FOUND' } });
}

sub header_subset {
    my ($h) = @_;
    my %keep;
    for (qw(content-type authorization accept user-agent expect host)) {
        $keep{$_} = $h->{$_} if exists $h->{$_};
    }
    return \%keep;
}

sub record {
    my ($r, %more) = @_;
    my $entry = { method => $r->{method}, path => $r->{path}, query => $r->{query},
                  headers => header_subset($r->{headers}), %more };
    push @log, $entry;
    return $entry;
}

# ---- the token endpoint ----------------------------------------------------------------------

sub b64url_decode {
    my ($s) = @_;
    return undef unless defined $s && $s =~ /^[A-Za-z0-9_-]*$/;
    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return decode_base64($s);
}

# The RS256 signature over "header.claims", checked by the openssl command line.
sub signature_ok {
    my ($signing_input, $sig) = @_;
    my ($in_fh, $in) = tempfile(UNLINK => 1);
    my ($sig_fh, $sigf) = tempfile(UNLINK => 1);
    binmode $_ for $in_fh, $sig_fh;
    print {$in_fh} $signing_input;
    print {$sig_fh} $sig;
    close $in_fh;
    close $sig_fh;
    open(my $saved, '>&', \*STDERR) or die "dup stderr: $!";
    open(STDERR, '>', '/dev/null') or die "stderr: $!";
    my $ok = 0;
    if (open(my $out, '-|', 'openssl', 'dgst', '-sha256', '-verify', $pubkey,
             '-signature', $sigf, $in)) {
        my $text = do { local $/; <$out> } // '';
        $ok = (close($out) && $text =~ /Verified OK/) ? 1 : 0;
    }
    open(STDERR, '>&', $saved) or die "restore stderr: $!";
    unlink $in, $sigf;
    return $ok;
}

sub decode_assertion {
    my ($a) = @_;
    my %jwt = (verified => JSON::PP::false, problems => []);
    my @parts = split /\./, ($a // ''), -1;
    if (@parts != 3) {
        push @{ $jwt{problems} }, 'not three parts';
        return \%jwt;
    }
    for my $i (0, 1) {
        my $raw = b64url_decode($parts[$i]);
        my $v = defined $raw ? eval { $json->decode($raw) } : undef;
        $jwt{ $i ? 'claims' : 'header' } = $v;
        push @{ $jwt{problems} }, ($i ? 'claims' : 'header') . ' not JSON'
            unless ref $v eq 'HASH';
    }
    my $sig = b64url_decode($parts[2]);
    if (defined $sig && length $sig && signature_ok("$parts[0].$parts[1]", $sig)) {
        $jwt{verified} = JSON::PP::true;
    }
    else {
        push @{ $jwt{problems} }, 'signature does not verify';
    }
    return \%jwt;
}

sub token {
    my ($r) = @_;
    return (405, { error => 'invalid_request' }) unless $r->{method} eq 'POST';
    my $form = parse_form($r->{body});
    my %shown = %$form;
    my $jwt = decode_assertion($form->{assertion});
    my $entry = record($r, body => \%shown, jwt => $jwt);
    my @why = @{ $jwt->{problems} };

    push @why, 'content type is not a form'
        unless ($r->{headers}{'content-type'} // '') =~ m{^application/x-www-form-urlencoded\b};
    push @why, 'grant_type' unless ($form->{grant_type} // '') eq $GRANT;
    my ($h, $c) = ($jwt->{header}, $jwt->{claims});
    if (ref $h eq 'HASH' && ref $c eq 'HASH') {
        push @why, 'alg is not RS256' unless ($h->{alg} // '') eq 'RS256';
        for my $k (qw(iss sub scope aud iat exp)) {
            push @why, "claim $k missing" unless defined $c->{$k} && length $c->{$k};
        }
        my $aud = 'http://' . ($r->{headers}{host} // '') . '/token';
        push @why, 'aud is not this token URL' unless ($c->{aud} // '') eq $aud;
        push @why, 'scope' unless ($c->{scope} // '') eq $SCOPE;
        push @why, 'expired' unless ($c->{exp} // 0) =~ /^\d+$/ && $c->{exp} > time;
        push @why, 'lifetime over one hour'
            unless ($c->{iat} // '') =~ /^\d+$/ && ($c->{exp} // 0) - $c->{iat} <= 3600;
    }
    $entry->{problems} = \@why;
    sleep($delay) if $mode eq 'slow';

    if (@why || $mode eq 'token_fail') {
        $entry->{status} = 400;
        return (400, { error => 'invalid_grant',
                       error_description => @why ? join('; ', @why) : 'refused by mode' });
    }
    my $tok = 'fake-' . join '', map { sprintf '%02x', int rand 256 } 1 .. 16;
    $issued{$tok} = $c->{sub};
    $entry->{status} = 200;
    return (200, { access_token => $tok, expires_in => 3600, token_type => 'Bearer' });
}

# ---- the events endpoint ---------------------------------------------------------------------

sub api_error {
    my ($code, $status, $message) = @_;
    return ($code, { error => { code => $code, message => $message, status => $status,
                                errors => [ { message => $message, reason => lc $status } ] } });
}

# A Meet code like Google's (abc-defg-hij), a pure function of the request id.
sub meet_code {
    my ($request_id) = @_;
    my @hex = split //, sha256_hex("meet:$request_id");
    my $letters = join '', map { chr(ord('a') + hex $_) } @hex[0 .. 9];
    return substr($letters, 0, 3) . '-' . substr($letters, 3, 4) . '-' . substr($letters, 7, 3);
}

sub event {
    my ($r) = @_;
    my $body = eval { $json->decode($r->{body}) };
    my $entry = record($r, body => $body // $r->{body});
    my $reply = sub { my ($code, $b) = @_; $entry->{status} = $code; return ($code, $b) };

    return $reply->(api_error(405, 'METHOD_NOT_ALLOWED', 'Use POST')) unless $r->{method} eq 'POST';
    my ($tok) = ($r->{headers}{authorization} // '') =~ /^Bearer (\S+)$/;
    return $reply->(api_error(401, 'UNAUTHENTICATED',
                              'Request had invalid authentication credentials.'))
        unless defined $tok && exists $issued{$tok};
    return $reply->(api_error(400, 'INVALID_ARGUMENT', 'conferenceDataVersion must be 1'))
        unless ($r->{query}{conferenceDataVersion} // '') eq '1';
    return $reply->(api_error(400, 'INVALID_ARGUMENT', 'Content-Type must be JSON'))
        unless ($r->{headers}{'content-type'} // '') =~ m{^application/json\b};
    my $cr = ref $body eq 'HASH' && ref $body->{conferenceData} eq 'HASH'
        ? $body->{conferenceData}{createRequest} : undef;
    return $reply->(api_error(400, 'INVALID_ARGUMENT', 'Invalid event body'))
        unless ref $body eq 'HASH'
        && ref $body->{start} eq 'HASH' && defined $body->{start}{dateTime}
        && ref $body->{end} eq 'HASH' && defined $body->{end}{dateTime}
        && ref $cr eq 'HASH' && defined $cr->{requestId} && length $cr->{requestId}
        && ref $cr->{conferenceSolutionKey} eq 'HASH'
        && ($cr->{conferenceSolutionKey}{type} // '') eq 'hangoutsMeet';

    sleep($delay) if $mode eq 'slow';
    return $reply->(api_error(500, 'INTERNAL', 'Backend Error')) if $mode eq 'api_fail';
    return $reply->(api_error(401, 'UNAUTHENTICATED', 'Invalid Credentials'))
        if $mode eq 'api_401';

    my $code = meet_code($cr->{requestId});
    my $link = ($mode eq 'bad_link' ? 'https://meet.example.org/' : 'https://meet.google.com/')
        . $code;
    my $id = substr(sha256_hex("event:$cr->{requestId}"), 0, 26);
    $events{$id} = { organizer => $issued{$tok}, start => $body->{start}{dateTime},
                     end => $body->{end}{dateTime}, summary => $body->{summary},
                     deleted => JSON::PP::false };
    my %ev = (
        kind => 'calendar#event', id => $id, status => 'confirmed',
        htmlLink => "https://www.google.com/calendar/event?eid=$id",
        summary => $body->{summary}, start => $body->{start}, end => $body->{end},
        organizer => { email => $issued{$tok}, self => JSON::PP::true },
    );
    my %conf = (
        createRequest => { requestId => $cr->{requestId},
                           conferenceSolutionKey => { type => 'hangoutsMeet' },
                           status => { statusCode => 'success' } },
        entryPoints => [
            { entryPointType => 'video', uri => $link, label => substr($link, 8) },
            { entryPointType => 'more', uri => "https://tel.meet/$code?pin=1234" },
        ],
        conferenceSolution => { key => { type => 'hangoutsMeet' }, name => 'Google Meet' },
        conferenceId => $code,
    );
    if ($mode eq 'pending') {
        $conf{createRequest}{status}{statusCode} = 'pending';
        delete $conf{entryPoints};
        delete $conf{conferenceId};
    }
    $ev{conferenceData} = \%conf unless $mode eq 'no_link';
    $ev{hangoutLink} = $link unless $mode =~ /^(no_link|pending|entry_only)$/;
    $entry->{response} = { id => $id, hangoutLink => $ev{hangoutLink}, link => $link };
    return $reply->(200, \%ev);
}

# events.patch and events.delete of one event of the token subject's primary calendar.
sub event_change {
    my ($r, $id) = @_;
    my $body;
    if ($r->{method} eq 'PATCH') {
        $body = eval { $json->decode($r->{body}) } // $r->{body};
    }
    my $entry = record($r, event_id => $id, defined $body ? (body => $body) : ());
    my $reply = sub { my ($code, $b) = @_; $entry->{status} = $code; return ($code, $b) };

    return $reply->(api_error(405, 'METHOD_NOT_ALLOWED', 'Use PATCH or DELETE'))
        unless $r->{method} eq 'PATCH' || $r->{method} eq 'DELETE';
    my ($tok) = ($r->{headers}{authorization} // '') =~ /^Bearer (\S+)$/;
    return $reply->(api_error(401, 'UNAUTHENTICATED',
                              'Request had invalid authentication credentials.'))
        unless defined $tok && exists $issued{$tok};
    if ($r->{method} eq 'PATCH') {
        return $reply->(api_error(400, 'INVALID_ARGUMENT', 'Content-Type must be JSON'))
            unless ($r->{headers}{'content-type'} // '') =~ m{^application/json\b};
        return $reply->(api_error(400, 'INVALID_ARGUMENT', 'Invalid event body'))
            unless ref $body eq 'HASH'
            && !grep { exists $body->{$_}
                       && !(ref $body->{$_} eq 'HASH' && defined $body->{$_}{dateTime}) }
                    qw(start end);
    }
    elsif (length $r->{body}) {
        return $reply->(api_error(400, 'INVALID_ARGUMENT', 'DELETE takes no body'));
    }

    sleep($delay) if $mode eq 'slow';
    return $reply->(api_error(500, 'INTERNAL', 'Backend Error'))
        if $mode eq 'api_fail' || $mode eq 'change_fail';
    return $reply->(api_error(401, 'UNAUTHENTICATED', 'Invalid Credentials'))
        if $mode eq 'api_401';

    # the primary calendar is the subject's own: another provider's event is not there
    my $ev = $events{$id};
    $ev = undef if $ev && ($ev->{organizer} // '') ne ($issued{$tok} // '');
    if ($r->{method} eq 'DELETE') {
        return $reply->(api_error(404, 'NOT_FOUND', 'Not Found')) unless $ev;
        return $reply->(api_error(410, 'GONE', 'Resource has been deleted')) if $ev->{deleted};
        $ev->{deleted} = JSON::PP::true;
        $entry->{status} = 204;
        return (204, '', { type => 'text/plain' });
    }
    return $reply->(api_error(404, 'NOT_FOUND', 'Not Found')) unless $ev && !$ev->{deleted};
    $ev->{start} = $body->{start}{dateTime} if $body->{start};
    $ev->{end} = $body->{end}{dateTime} if $body->{end};
    return $reply->(200, {
        kind => 'calendar#event', id => $id, status => 'confirmed',
        summary => $ev->{summary}, start => { dateTime => $ev->{start} },
        end => { dateTime => $ev->{end} },
        organizer => { email => $ev->{organizer}, self => JSON::PP::true },
    });
}
