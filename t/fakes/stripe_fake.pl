#!/usr/bin/perl
# stripe_fake.pl: a local stand-in for the part of Stripe's API mod_docportal uses
# (PaymentIntents, idempotent requests, error objects) and a webhook signer, for the unit and
# API tests of the billing integration. It speaks Stripe's documented request and response
# shapes; it is not a model of Stripe beyond them.
#
#   perl t/fakes/stripe_fake.pl --port N [--mode MODE] [--delay SECONDS] [--key SECRET_KEY]
#
# --port 0 picks a free port. Once listening it prints "ready <port>" on stdout, then serves
# one connection at a time (HTTP/1.1, Connection: close) until killed.
#
#   POST /v1/payment_intents      form body; needs "Authorization: Bearer sk_test_..." (with
#                                 --key: exactly that key), a Stripe-Version header (stricter
#                                 than Stripe, which falls back to the account's version: the
#                                 module must pin one), the form content type, amount and
#                                 currency; unknown parameters are refused as Stripe does.
#                                 Honours Idempotency-Key (see below). With confirm=true the
#                                 payment method decides, as Stripe's test payment methods do:
#                                   pm_card_visa, pm_card_mastercard, pm_card_amex  succeeded
#                                   pm_card_chargeDeclined, pm_card_visa_chargeDeclined
#                                       402 card_error card_declined / generic_decline
#                                   pm_card_chargeDeclinedInsufficientFunds (and _visa_)
#                                       402 card_error card_declined / insufficient_funds
#                                   pm_card_threeDSecure2Required, pm_card_authenticationRequired
#                                       200 requires_action (next_action use_stripe_sdk)
#                                   pm_card_fake_processing (this fake only)  200 processing
#                                   anything else: 400 resource_missing
#                                 Without confirm: requires_payment_method (no payment method)
#                                 or requires_confirmation. confirm=true with
#                                 automatic_payment_methods[enabled]=true needs
#                                 allow_redirects=never or a return_url, as at Stripe.
#   GET  /v1/payment_intents/ID   the stored PaymentIntent (same auth)
#
#   GET  /__requests    JSON array of what /v1/ received: method, path, query, some headers
#                       (authorization, content-type, stripe-version, idempotency-key, accept,
#                       user-agent, expect), the raw body and the parsed form, the status
#                       answered, replayed (true for an idempotent replay), and the response's
#                       id / status / client_secret
#   POST /__reset       forget the request log, the idempotency keys and the intents
#   POST /__mode?mode=M switch mode without a restart
#   POST /__sign        {"payload": "...", "secret": "whsec_...", "timestamp": 1700000000?}
#                       -> {"header": "t=...,v1=...", "timestamp": T, "signature": HEX}: the
#                       Stripe-Signature value Stripe would send (timestamp defaults to now)
#   POST /__event       {"type": "payment_intent.succeeded"|"payment_intent.payment_failed"|
#                       any, "intent": "pi_..."} -> a Stripe Event object for that stored
#                       intent (whose status it first moves to succeeded, or back to
#                       requires_payment_method with a last_payment_error), ready to be signed
#                       and posted to a webhook
#   POST /__webhook     {"url": "http://.../api/billing/webhook", "secret": "whsec_..."}: where
#                       the outcome of a 3-D Secure step is announced, signed as Stripe signs
#                       (until /__reset)
#
# For the portal's browser tests, a stand-in for Stripe.js (t/fakes/stripe_js.js, not Stripe's
# code) and what it calls, both for any origin (Access-Control-Allow-Origin: *):
#   GET  /v3/           the stand-in script
#   POST /js/payment_intents/ID/authenticate
#                       form: key (a publishable test key, pk_test_...), client_secret (the
#                       intent's), outcome (complete | fail): the card holder's answer to the
#                       3-D Secure step of an intent in requires_action. complete moves it to
#                       succeeded, fail back to requires_payment_method with
#                       payment_intent_authentication_failure; then, when /__webhook named a
#                       webhook, the matching payment_intent.succeeded / .payment_failed event
#                       is posted to it before the answer: {"payment_intent": the intent} or
#                       Stripe's {"error": ...}. Logged in /__requests with the webhook's status.
#
# Idempotency (keys are scoped to the secret key, as Stripe scopes them to the account): the
# first answer to a key is stored once the endpoint "executed" (a 200 or a 402 decline;
# not a 400/401 validation refusal, nor a mode-made failure). The same key with the same
# method, path and parameters replays it byte for byte with "Idempotent-Replayed: true" and
# "Original-Request"; with other parameters it is a 400 idempotency_error.
#
# Modes: ok | down500 (/v1/: 500 api_error, before anything executes) | slow (/v1/ answers
# after --delay seconds, default 3, and does execute) | garbage (/v1/: 200 with an HTML body)
# | rate_limited (/v1/: 429) | tampered (/v1/ executes, but answers an amount 1 higher than
# asked: a client must not trust an intent that is not the one it asked for).
#
# Core Perl only: JSON::PP, Digest::SHA, Getopt::Long, Time::HiRes, and the fakes' server
# loop (t/lib/DocPortal/FakeServer.pm).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Digest::SHA qw(hmac_sha256_hex);
use DocPortal::FakeServer qw(parse_form serve_http);
use Getopt::Long qw(GetOptions);
use JSON::PP;
use Time::HiRes qw(sleep);

my %MODES = map { $_ => 1 } qw(ok down500 slow garbage rate_limited tampered);
my $DOCS = 'https://stripe.com/docs/error-codes';

# test payment method => outcome of a confirm
my %CARDS = (
    pm_card_visa => 'succeeded', pm_card_mastercard => 'succeeded', pm_card_amex => 'succeeded',
    pm_card_chargeDeclined => 'generic_decline',
    pm_card_visa_chargeDeclined => 'generic_decline',
    pm_card_chargeDeclinedInsufficientFunds => 'insufficient_funds',
    pm_card_visa_chargeDeclinedInsufficientFunds => 'insufficient_funds',
    pm_card_threeDSecure2Required => 'requires_action',
    pm_card_authenticationRequired => 'requires_action',
    pm_card_fake_processing => 'processing',
);
my %DECLINE_MESSAGE = (
    generic_decline => 'Your card was declined.',
    insufficient_funds => 'Your card has insufficient funds.',
);

my ($port, $mode, $delay, $only_key) = (0, 'ok', 3, undef);
GetOptions('port=i' => \$port, 'mode=s' => \$mode, 'delay=f' => \$delay, 'key=s' => \$only_key)
    or die "usage: $0 --port N [--mode MODE] [--delay SECONDS] [--key SECRET_KEY]\n";
die "stripe_fake: unknown mode '$mode'\n" unless $MODES{$mode};

my $json = JSON::PP->new->utf8->canonical->allow_nonref;
my @log;       # what /v1/ (and the stand-in's /js/) received
my %idem;      # "secret key\nidempotency key" => { fp, code, body, request_id }
my %intents;   # id => PaymentIntent (a hash, as last answered)
my %webhook;   # url, secret: where 3-D Secure outcomes are announced
my $STRIPE_JS = "$FindBin::Bin/stripe_js.js";
my @CORS = (['Access-Control-Allow-Origin', '*']);   # the stand-in's answers, for any page

serve_http(name => 'stripe_fake', port => $port, route => \&route, json => $json,
           type => 'application/json', parse_query => sub { parse_form($_[0], utf8 => 1) },
           control => { requests => sub { \@log },
                        reset => sub { @log = (); %idem = (); %intents = (); %webhook = () },
                        modes => \%MODES, mode => \$mode });

# ---- HTTP ----------------------------------------------------------------------------------

sub route {
    my ($r) = @_;
    my ($m, $p) = ($r->{method}, $r->{path});
    return sign($r) if $m eq 'POST' && $p eq '/__sign';
    return make_event($r) if $m eq 'POST' && $p eq '/__event';
    return set_webhook($r) if $m eq 'POST' && $p eq '/__webhook';
    return stripe_js() if $m eq 'GET' && $p =~ m{^/v3/?$};
    return authenticate($r, $1)
        if $m eq 'POST' && $p =~ m{^/js/payment_intents/([A-Za-z0-9_]+)/authenticate$};
    return api($r) if $p =~ m{^/v1/};
    return (404, { error => 'not found' });
}

sub rand_id {
    my ($n) = @_;
    my @c = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
    return join '', map { $c[int rand @c] } 1 .. $n;
}

# A number from a form string, leaving the string alone (JSON::PP would print a string used
# as a number as a number).
sub num {
    my ($s) = @_;
    return $s + 0;
}

sub header_subset {
    my ($h) = @_;
    my %keep;
    for (qw(authorization content-type stripe-version idempotency-key accept user-agent
            expect)) {
        $keep{$_} = $h->{$_} if exists $h->{$_};
    }
    return \%keep;
}

# ---- the API -------------------------------------------------------------------------------

sub stripe_error {
    my ($code, %e) = @_;
    $e{type} //= 'invalid_request_error';
    $e{doc_url} = "$DOCS/" . ($e{code} =~ tr/_/-/r) if defined $e{code};
    $e{request_log_url} = 'https://dashboard.stripe.com/test/logs/req_' . rand_id(14);
    return ($code, { error => \%e });
}

sub mask_key {
    my ($k) = @_;
    return $k if length($k) <= 12;
    return substr($k, 0, 8) . ('*' x (length($k) - 12)) . substr($k, -4);
}

sub api {
    my ($r) = @_;
    my ($form, $dup) = parse_form($r->{body}, utf8 => 1);
    my $entry = { method => $r->{method}, path => $r->{path}, query => $r->{query},
                  headers => header_subset($r->{headers}), body => $r->{body}, form => { %$form },
                  replayed => JSON::PP::false };
    push @log, $entry;
    my $request_id = 'req_' . rand_id(14);
    my @hdrs = (['Request-Id', $request_id]);
    my $answer = sub {
        my ($code, $body, @more) = @_;
        $entry->{status} = $code;
        if (ref $body eq 'HASH' && ($body->{object} // '') eq 'payment_intent') {
            $entry->{response} = { map { $_ => $body->{$_} } qw(id status client_secret) };
        }
        elsif (ref $body eq 'HASH' && ref $body->{error} eq 'HASH') {
            $entry->{response} = { error_type => $body->{error}{type},
                                   error_code => $body->{error}{code} };
        }
        return ($code, $body, { headers => [@hdrs, @more] });
    };

    # authentication comes first, as at Stripe
    my ($key) = ($r->{headers}{authorization} // '') =~ /^Bearer (\S+)$/;
    unless (defined $key) {
        return $answer->(stripe_error(401, message =>
            'You did not provide an API key. Send it in the Authorization header, using '
            . 'Bearer auth.'));
    }
    my $good = defined $only_key ? $key eq $only_key : $key =~ /^sk_test_[A-Za-z0-9]{8,}$/;
    return $answer->(stripe_error(401, message => 'Invalid API Key provided: ' . mask_key($key)))
        unless $good;
    my $ver = $r->{headers}{'stripe-version'};
    return $answer->(stripe_error(400, message =>
        'This fake requires a Stripe-Version header: pin the API version.'))
        unless defined $ver;
    return $answer->(stripe_error(400, message => "Invalid Stripe API version: $ver"))
        unless $ver =~ /^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/;
    push @hdrs, ['Stripe-Version', $ver];

    if ($r->{method} eq 'GET' && $r->{path} =~ m{^/v1/payment_intents/([A-Za-z0-9_]+)$}) {
        my $pi = $intents{$1};
        return $answer->(stripe_error(404, code => 'resource_missing', param => 'intent',
                                      message => "No such payment_intent: '$1'"))
            unless $pi;
        return $answer->(200, $pi);
    }
    return $answer->(stripe_error(404, message =>
        "Unrecognized request URL ($r->{method}: $r->{path})."))
        unless $r->{path} eq '/v1/payment_intents';
    return $answer->(stripe_error(405, message => 'Use POST to create a PaymentIntent.'))
        unless $r->{method} eq 'POST';

    # idempotency: replay, or refuse a reused key, before anything else happens
    my $ikey = $r->{headers}{'idempotency-key'};
    my $slot;
    if (defined $ikey) {
        return $answer->(stripe_error(400, code => 'idempotency_key_too_long',
                                      message => 'Idempotency keys are at most 255 characters.'))
            if length($ikey) > 255 || $ikey eq '';
        $slot = "$key\n$ikey";
        my $fp = $json->encode([$r->{method}, $r->{path}, $form]);
        if (my $saved = $idem{$slot}) {
            if ($saved->{fp} ne $fp) {
                return $answer->(stripe_error(400, type => 'idempotency_error',
                    message => 'Keys for idempotent requests can only be used with the same '
                        . "parameters they were first used with. Try using a key other than "
                        . "'$ikey' if you meant to execute a different request."));
            }
            $entry->{replayed} = JSON::PP::true;
            $entry->{original_request} = $saved->{request_id};
            $entry->{status} = $saved->{code};
            my $b = $json->decode($saved->{body});
            $entry->{response} = ref $b->{error} eq 'HASH'
                ? { error_type => $b->{error}{type}, error_code => $b->{error}{code} }
                : { map { $_ => $b->{$_} } qw(id status client_secret) };
            return ($saved->{code}, $saved->{body},
                    { headers => [@hdrs, ['Idempotent-Replayed', 'true'],
                                  ['Original-Request', $saved->{request_id}]] });
        }
        $slot = { key => $slot, fp => $fp };
    }

    return $answer->(stripe_error(400, message =>
        'Requests must be form-encoded (Content-Type: application/x-www-form-urlencoded).'))
        unless ($r->{headers}{'content-type'} // '') =~ m{^application/x-www-form-urlencoded\b};
    my @why = validate($form, $dup);
    return $answer->(stripe_error(400, %{ $why[0] })) if @why;

    if ($mode eq 'down500') {
        return $answer->(stripe_error(500, type => 'api_error',
            message => 'An unknown error occurred while processing this request.'));
    }
    if ($mode eq 'rate_limited') {
        return $answer->(stripe_error(429, code => 'rate_limit',
            message => 'Too many requests hit the API too quickly.'));
    }
    if ($mode eq 'garbage') {
        $entry->{status} = 200;
        return (200, "<html><body>Bad gateway, sort of</body></html>\n",
                { type => 'text/html', headers => \@hdrs });
    }
    sleep($delay) if $mode eq 'slow';

    my ($code, $body) = create_intent($form);
    $body = { %$body, amount => $body->{amount} + 1 } if $mode eq 'tampered' && $code == 200;
    if ($slot) { # the endpoint executed: the answer is now the key's answer
        $idem{ $slot->{key} } = { fp => $slot->{fp}, code => $code,
                                  body => $json->encode($body), request_id => $request_id };
    }
    return $answer->($code, $body);
}

sub validate {
    my ($f, $dup) = @_;
    my @why;
    my $bool = qr/^(true|false)$/;
    my %known = map { $_ => 1 } qw(amount currency payment_method confirm description
        return_url automatic_payment_methods[enabled] automatic_payment_methods[allow_redirects]);

    push @why, { code => 'parameter_duplicated', param => $dup->[0],
                 message => "Received the parameter $dup->[0] more than once." } if @$dup;
    for my $k (sort keys %$f) {
        if ($k =~ /^metadata\[(.*)\]$/) {
            push @why, { code => 'parameter_invalid_string_blank', param => $k,
                         message => 'Metadata keys are 1 to 40 characters.' }
                if length($1) == 0 || length($1) > 40;
            push @why, { code => 'parameter_invalid_string_too_long', param => $k,
                         message => 'Metadata values are at most 500 characters.' }
                if length($f->{$k}) > 500;
            next;
        }
        push @why, { code => 'parameter_unknown', param => $k,
                     message => "Received unknown parameter: $k" } unless $known{$k};
    }
    for my $k (qw(amount currency)) {
        push @why, { code => 'parameter_missing', param => $k,
                     message => "Missing required param: $k." } unless defined $f->{$k};
    }
    return @why if @why;
    my $amount = $f->{amount}; # a copy: numeric use would turn the logged string into a number
    if ($amount !~ /^\d+$/) {
        push @why, { code => 'parameter_invalid_integer', param => 'amount',
                     message => "Invalid integer: $amount" };
    }
    elsif ($amount < 50) {
        push @why, { code => 'amount_too_small', param => 'amount',
                     message => 'Amount must be at least $0.50 usd' };
    }
    elsif ($amount > 99999999) {
        push @why, { code => 'amount_too_large', param => 'amount',
                     message => 'Amount must be no more than $999,999.99' };
    }
    push @why, { param => 'currency', message => "Invalid currency: $f->{currency}." }
        unless $f->{currency} =~ /^[A-Za-z]{3}$/;
    for my $k (qw(confirm automatic_payment_methods[enabled])) {
        push @why, { param => $k, message => "Invalid boolean: $f->{$k}" }
            if defined $f->{$k} && $f->{$k} !~ $bool;
    }
    my $ar = $f->{'automatic_payment_methods[allow_redirects]'};
    push @why, { param => 'automatic_payment_methods[allow_redirects]',
                 message => "Invalid allow_redirects: must be one of always, never" }
        if defined $ar && $ar !~ /^(always|never)$/;
    push @why, { code => 'parameter_invalid_string_too_long', param => 'description',
                 message => 'The description is too long.' }
        if defined $f->{description} && length($f->{description}) > 1000;
    my $pm = $f->{payment_method};
    push @why, { code => 'resource_missing', param => 'payment_method',
                 message => "No such PaymentMethod: '$pm'" }
        if defined $pm && !$CARDS{$pm};
    if (($f->{confirm} // 'false') eq 'true') {
        push @why, { code => 'parameter_missing', param => 'payment_method',
                     message => "You cannot confirm this PaymentIntent because it's missing a "
                         . 'payment method.' } unless defined $pm;
        push @why, { param => 'return_url',
                     message => 'This PaymentIntent accepts payment methods that may redirect '
                         . 'the customer (automatic_payment_methods[enabled]=true): confirming '
                         . 'it needs a return_url, or '
                         . 'automatic_payment_methods[allow_redirects]=never.' }
            if ($f->{'automatic_payment_methods[enabled]'} // '') eq 'true'
            && ($ar // 'always') ne 'never' && !defined $f->{return_url};
    }
    return @why;
}

sub create_intent {
    my ($f) = @_;
    my $id = 'pi_' . rand_id(24);
    my %meta = map { /^metadata\[(.*)\]$/ ? ($1 => $f->{$_}) : () } keys %$f;
    my $apm = ($f->{'automatic_payment_methods[enabled]'} // '') eq 'true';
    my %pi = (
        id => $id, object => 'payment_intent', amount => num($f->{amount}),
        amount_capturable => 0, amount_received => 0, currency => lc $f->{currency},
        client_secret => "${id}_secret_" . rand_id(25), capture_method => 'automatic',
        confirmation_method => 'automatic', created => time, livemode => JSON::PP::false,
        description => $f->{description}, metadata => \%meta, latest_charge => undef,
        last_payment_error => undef, next_action => undef,
        payment_method => $f->{payment_method}, payment_method_types => ['card'],
        automatic_payment_methods => $apm
            ? { enabled => JSON::PP::true,
                allow_redirects => $f->{'automatic_payment_methods[allow_redirects]'}
                    // 'always' }
            : undef,
    );
    my $pm = $f->{payment_method};
    if (($f->{confirm} // 'false') ne 'true') {
        $pi{status} = defined $pm ? 'requires_confirmation' : 'requires_payment_method';
        $intents{$id} = \%pi;
        return (200, \%pi);
    }
    my $outcome = $CARDS{$pm};
    if ($outcome eq 'succeeded') {
        @pi{qw(status amount_received latest_charge)} =
            ('succeeded', $pi{amount}, 'ch_' . rand_id(24));
    }
    elsif ($outcome eq 'requires_action') {
        $pi{status} = 'requires_action';
        $pi{next_action} = { type => 'use_stripe_sdk',
                             use_stripe_sdk => { type => 'stripe_3ds2_fingerprint' } };
    }
    elsif ($outcome eq 'processing') {
        $pi{status} = 'processing';
    }
    else { # a decline: 402, the intent (back to requires_payment_method) inside the error
        my $charge = 'ch_' . rand_id(24);
        my %err = (type => 'card_error', code => 'card_declined', decline_code => $outcome,
                   message => $DECLINE_MESSAGE{$outcome}, charge => $charge,
                   doc_url => "$DOCS/card-declined",
                   payment_method => { id => $pm, object => 'payment_method', type => 'card' });
        @pi{qw(status latest_charge)} = ('requires_payment_method', $charge);
        $pi{last_payment_error} = { %err };
        $pi{payment_method} = undef;
        $intents{$id} = \%pi;
        $err{payment_intent} = \%pi;
        $err{request_log_url} = 'https://dashboard.stripe.com/test/logs/req_' . rand_id(14);
        return (402, { error => \%err });
    }
    $intents{$id} = \%pi;
    return (200, \%pi);
}

# ---- helpers for webhook tests ---------------------------------------------------------------

sub json_body {
    my ($r) = @_;
    my $b = eval { $json->decode($r->{body}) };
    return ref $b eq 'HASH' ? $b : undef;
}

sub sign {
    my ($r) = @_;
    my $b = json_body($r);
    return (400, { error => 'need {"payload": string, "secret": string}' })
        unless $b && defined $b->{payload} && !ref $b->{payload}
        && defined $b->{secret} && !ref $b->{secret};
    my $t = $b->{timestamp} // time;
    return (400, { error => 'timestamp must be an integer' }) unless $t =~ /^\d+$/;
    my ($payload, $secret) = ($b->{payload}, $b->{secret});
    utf8::encode($payload);   # Stripe signs the bytes it sends
    my $sig = signature($payload, $secret, $t);
    return (200, { header => "t=$t,v1=$sig", timestamp => $t + 0, signature => $sig });
}

# the hex HMAC-SHA256 of "t.payload" (payload as bytes) under the secret
sub signature {
    my ($payload, $secret, $t) = @_;
    utf8::encode($secret);
    return hmac_sha256_hex("$t.$payload", $secret);
}

sub make_event {
    my ($r) = @_;
    my $b = json_body($r);
    return (400, { error => 'need {"type": string, "intent": "pi_..."}' })
        unless $b && defined $b->{type} && defined $b->{intent};
    my $pi = $intents{ $b->{intent} };
    return (404, { error => "no intent $b->{intent}" }) unless $pi;
    if ($b->{type} eq 'payment_intent.succeeded') {
        succeed($pi);
    }
    elsif ($b->{type} eq 'payment_intent.payment_failed') {
        fail($pi, { type => 'card_error', code => 'card_declined',
                    decline_code => 'generic_decline', message => 'Your card was declined.' });
    }
    return (200, event($b->{type}, $pi));
}

sub succeed {
    my ($pi) = @_;
    @$pi{qw(status amount_received last_payment_error next_action)} =
        ('succeeded', $pi->{amount}, undef, undef);
    $pi->{latest_charge} //= 'ch_' . rand_id(24);
}

sub fail {
    my ($pi, $error) = @_;
    @$pi{qw(status last_payment_error next_action)} = ('requires_payment_method', $error, undef);
}

# a Stripe Event object of that type about the intent as it is now
sub event {
    my ($type, $pi) = @_;
    return {
        id => 'evt_' . rand_id(24), object => 'event', api_version => '2024-06-20',
        created => time, livemode => JSON::PP::false, pending_webhooks => 1,
        request => { id => 'req_' . rand_id(14), idempotency_key => undef },
        type => $type, data => { object => $pi },
    };
}

# ---- the Stripe.js stand-in and its 3-D Secure step --------------------------------------------

sub set_webhook {
    my ($r) = @_;
    my $b = json_body($r);
    return (400, { error => 'need {"url": "http://...", "secret": "whsec_..."}' })
        unless $b && ($b->{url} // '') =~ m{^https?://\S+$} && ($b->{secret} // '') =~ /^whsec_/;
    %webhook = (url => $b->{url}, secret => $b->{secret});
    return (200, {});
}

sub stripe_js {
    open my $fh, '<:raw', $STRIPE_JS or return (500, { error => "$STRIPE_JS: $!" });
    local $/;
    my $js = <$fh>;
    return (200, $js, { type => 'text/javascript; charset=utf-8',
                        headers => [@CORS, ['Cache-Control', 'no-store']] });
}

# Stripe's answer to the stand-in: an error object (type, code, message) or the intent
sub js_answer {
    my ($entry, $code, $body) = @_;
    $entry->{status} = $code;
    $entry->{response} = $body->{error}
        ? { error_type => $body->{error}{type}, error_code => $body->{error}{code} }
        : { map { $_ => $body->{payment_intent}{$_} } qw(id status) };
    return ($code, $body, { headers => \@CORS });
}

sub authenticate {
    my ($r, $id) = @_;
    my ($form) = parse_form($r->{body}, utf8 => 1);
    my $entry = { method => $r->{method}, path => $r->{path}, query => $r->{query},
                  headers => header_subset($r->{headers}), body => $r->{body}, form => { %$form },
                  replayed => JSON::PP::false };
    push @log, $entry;
    my $pi = $intents{$id};
    my $outcome = $form->{outcome} // '';
    return js_answer($entry, 401, { error => { type => 'invalid_request_error',
        message => 'A publishable test key (pk_test_...) is needed here.' } })
        unless ($form->{key} // '') =~ /^pk_test_\w+$/;
    return js_answer($entry, 404, { error => { type => 'invalid_request_error',
        code => 'resource_missing', message => "No such payment_intent: '$id'" } })
        unless $pi && ($form->{client_secret} // '') eq $pi->{client_secret};
    return js_answer($entry, 400, { error => { type => 'invalid_request_error',
        message => 'outcome must be complete or fail.' } })
        unless $outcome =~ /^(complete|fail)$/;
    return js_answer($entry, 200, { payment_intent => $pi }) unless $pi->{status} eq 'requires_action';

    my $type;
    if ($outcome eq 'complete') {
        succeed($pi);
        $type = 'payment_intent.succeeded';
    }
    else {
        fail($pi, { type => 'card_error', code => 'payment_intent_authentication_failure',
                    message => 'We are unable to authenticate your payment method. Please '
                        . 'choose a different payment method and try again.' });
        $type = 'payment_intent.payment_failed';
    }
    $entry->{webhook} = deliver(event($type, $pi)) if $webhook{url};
    return js_answer($entry, 200, { payment_intent => $pi }) if $outcome eq 'complete';
    return js_answer($entry, 402, { error => { %{ $pi->{last_payment_error} },
                                               payment_intent => $pi } });
}

# posts the event to the configured webhook, signed; -> {type, status}
sub deliver {
    my ($ev) = @_;
    require HTTP::Tiny;
    my $payload = $json->encode($ev);
    my $t = time;
    my $res = HTTP::Tiny->new(timeout => 10)->post($webhook{url}, {
        headers => { 'Content-Type' => 'application/json',
                     'Stripe-Signature' => "t=$t,v1=" . signature($payload, $webhook{secret}, $t) },
        content => $payload });
    return { type => $ev->{type}, status => $res->{status} };
}
