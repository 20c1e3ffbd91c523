#!/usr/bin/perl
# The data of `make bench`: 20 providers with 5 clients each (registered through the API, so
# passwords are bcrypt at the configured cost), 50 appointments per provider and 2 invoices per
# client (SQL as the module's role, the same columns and audit events the API writes), and
# messages through the API (the module encrypts them): 60 in the benchmarked conversation
# (provider 1 and its client 1), one in every other provider-client pair.
#   seed.pl BASE_URL APP_PSQL_URL OUTDIR
# Writes OUTDIR/vars (name=value, read by pgbench-gen.pl and bench.sh) and
# OUTDIR/login.bodies (the providers' login bodies, one per line).
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(decode_base64);

my ($base, $app_url, $out) = @ARGV;
die "usage: $0 BASE_URL APP_PSQL_URL OUTDIR\n" unless defined $out;

my $PROVIDERS = 20;
my $CLIENTS = 5;
my $APPTS = 50;         # per provider
my $CONVERSATION = 60;  # messages between provider 1 and its client 1
my $PASSWORD = 'bench passphrase 2026';
# every seeded and posted message has this length, so answers keep their size
my $TEXT = 'Bench message: how did the breathing exercise go this week? Tell me more. #';

my $json = JSON::PP->new->canonical;
my $http = HTTP::Tiny->new(verify_SSL => 0, keep_alive => 1, timeout => 120);

sub api {
    my ($method, $path, $body, $token, $want) = @_;
    my %h = ('Content-Type' => 'application/json');
    $h{Authorization} = "Bearer $token" if $token;
    my $r = $http->request($method, "$base$path",
                           {headers => \%h, ($body ? (content => $json->encode($body)) : ())});
    die "seed: $method $path: $r->{status} $r->{content}\n" unless $r->{status} == $want;
    return $json->decode($r->{content});
}

# Registrations cost one bcrypt each: 4 processes.
sub register_all {
    my @todo = @_;
    my @kids;
    my $n = 4;
    for my $w (0 .. $n - 1) {
        my $file = "$out/.reg.$w";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            $http = HTTP::Tiny->new(verify_SSL => 0, keep_alive => 1, timeout => 120);
            open my $f, '>', $file or die;
            for (my $i = $w; $i < @todo; $i += $n) {
                my $r = api('POST', '/api/auth/register', $todo[$i]{body}, undef, 201);
                print $f $json->encode({key => $todo[$i]{key}, id => $r->{user}{id},
                                        token => $r->{token}}), "\n";
            }
            close $f;
            exit 0;
        }
        push @kids, [$pid, $file];
    }
    my %res;
    for my $k (@kids) {
        waitpid($k->[0], 0);
        die "seed: a registration worker failed\n" if $?;
        open my $f, '<', $k->[1] or die;
        while (<$f>) { my $r = $json->decode($_); $res{$r->{key}} = $r; }
        close $f;
        unlink $k->[1];
    }
    return %res;
}

print STDERR "seed: registering $PROVIDERS providers and ", $PROVIDERS * $CLIENTS, " clients\n";
my %prov = register_all(map {
    {key => "p$_", body => {email => "bench-p$_\@example.com", password => $PASSWORD,
                            name => "Dr. Bench $_", userType => 'provider',
                            hourlyRate => 150, timeZone => 'America/New_York'}}
} 1 .. $PROVIDERS);
my %cli = register_all(map {
    my $p = $_;
    map { {key => "p$p-c$_", body => {email => "bench-p$p-c$_\@example.com",
                                      password => $PASSWORD, name => "Client $p-$_",
                                      userType => 'client', providerId => $prov{"p$p"}{id}}} }
        1 .. $CLIENTS
} 1 .. $PROVIDERS);

print STDERR "seed: appointments and invoices (SQL as the module's role)\n";
my $sql = <<"SQL";
\\set ON_ERROR_STOP 1
BEGIN;
WITH slots AS (
    SELECT p.id AS provider_id, c.id AS client_id, p.hourly_rate_cents,
           (((now() AT TIME ZONE p.time_zone)::date + 1 + k / 5) + make_time(9 + k % 5, 0, 0))
               AT TIME ZONE p.time_zone AS starts_at
      FROM users p
      CROSS JOIN generate_series(0, $APPTS - 1) k
      JOIN LATERAL (SELECT id, row_number() OVER (ORDER BY email) - 1 AS n FROM users
                     WHERE provider_id = p.id) c ON c.n = k % $CLIENTS
     WHERE p.user_type = 'provider' AND p.email LIKE 'bench-p%'),
appts AS (
    INSERT INTO appointments (id, provider_id, client_id, starts_at, duration_minutes, ends_at,
                              type, status, notes, video_link, video_provider, google_event_id,
                              amount_cents)
    SELECT gen_random_uuid(), provider_id, client_id, starts_at, 50,
           starts_at + interval '50 minutes', 'Video Session', 'pending', NULL,
           'https://meet.jit.si/DocPortal-' || md5(random()::text), 'jitsi', NULL,
           (hourly_rate_cents * 50 + 30) / 60
      FROM slots
    RETURNING id, client_id)
INSERT INTO audit_events (actor_id, actor_type, action, resource_type, resource_id, client_id,
                          ip, outcome, request_id)
SELECT client_id, 'client', 'appointment.create', 'appointment', id::text, client_id,
       '127.0.0.1', 'success', substr(md5(random()::text), 1, 24)
  FROM appts;
WITH inv AS (
    INSERT INTO invoices (provider_id, client_id, appointment_id, amount_cents, currency,
                          description, issued_on, due_date)
    SELECT c.provider_id, c.id,
           CASE WHEN n = 1 THEN (SELECT a.id FROM appointments a WHERE a.client_id = c.id
                                  ORDER BY a.starts_at LIMIT 1) END,
           12500, 'usd', 'Therapy session', (now() AT TIME ZONE p.time_zone)::date,
           (now() AT TIME ZONE p.time_zone)::date + 30
      FROM users c JOIN users p ON p.id = c.provider_id CROSS JOIN generate_series(1, 2) n
     WHERE c.email LIKE 'bench-p%'
    RETURNING id, provider_id, client_id)
INSERT INTO audit_events (actor_id, actor_type, action, resource_type, resource_id, client_id,
                          ip, outcome, request_id)
SELECT provider_id, 'provider', 'invoice.create', 'invoice', id::text, client_id,
       '127.0.0.1', 'success', substr(md5(random()::text), 1, 24)
  FROM inv;
COMMIT;
SQL
open my $psql, '|-', 'psql', '-X', '-q', $app_url or die "psql: $!";
print $psql $sql;
close $psql or die "seed: the SQL part failed\n";

print STDERR "seed: messages through the API\n";
my ($p1, $c1, $c2) = ($prov{p1}, $cli{'p1-c1'}, $cli{'p1-c2'});
my $text = sub { my $t = $TEXT . sprintf('%04d', shift); $t };
for my $i (1 .. $CONVERSATION) {
    my ($from, $to) = $i % 2 ? ($p1, $c1) : ($c1, $p1);
    api('POST', '/api/messages', {receiverId => $to->{id}, message => $text->($i)},
        $from->{token}, 201);
}
for my $p (1 .. $PROVIDERS) {
    for my $c (1 .. $CLIENTS) {
        next if $p == 1 && $c == 1;
        api('POST', '/api/messages', {receiverId => $cli{"p$p-c$c"}{id}, message => $text->(0)},
            $prov{"p$p"}{token}, 201);
    }
}

# a sealed row of the posted length, for the database ceiling's message insert
my ($keyid, $nonce, $ct) = split /\|/, `psql -X -At -F'|' '$app_url' -c "SELECT key_id, encode(nonce, 'base64'), translate(encode(ciphertext, 'base64'), E'\\n', '') FROM messages WHERE sender_id = '$p1->{id}' LIMIT 1"`;
chomp $ct;
die "seed: no message row\n" unless $ct;

# a claim of the token (jti, iat), for statements the handler binds it to
sub claim {
    my ($token, $name) = @_;
    my (undef, $payload) = split /\./, $token;
    $payload =~ tr{-_}{+/};
    $payload .= '=' x ((4 - length($payload) % 4) % 4);
    return $json->decode(decode_base64($payload))->{$name};
}

my %vars = (
    uid => $p1->{id}, role => 'provider', jti => claim($p1->{token}, 'jti'),
    iat => claim($p1->{token}, 'iat'), token => $p1->{token},
    cid => $c1->{id}, cid2 => $c2->{id}, email => 'bench-p1@example.com',
    password => $PASSWORD, ip => '127.0.0.1', reqid => substr(unpack('H*', pack('N*', map { int rand 2**32 } 1 .. 3)), 0, 24),
    limit => 50, keyid => $keyid, nonce => $nonce, ct => $ct,
    message_body => $json->encode({receiverId => $c2->{id}, message => $text->(9999)}),
);
open my $v, '>', "$out/vars" or die;
print $v map { "$_=$vars{$_}\n" } sort keys %vars;
close $v;
open my $l, '>', "$out/login.bodies" or die;
print $l $json->encode({email => "bench-p$_\@example.com", password => $PASSWORD}), "\n"
    for 1 .. $PROVIDERS;
close $l;
print STDERR "seed: done\n";
