# Writes at full concurrency for the fault tests (t/api/585, 586): a practice, workers that
# book, write, bill and pay in a loop and log every answer, and the checks that hold those
# answers against what the API reads back afterwards and the audit chain over the test's rows.
package DocPortal::Load;
use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use HTTP::Tiny ();
use POSIX ();
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use Apache::TestRequest ();
use DocPortal::Test;
use DocPortal::Http qw($JSON);
use DocPortal::AuditChain qw(wait_sealed chain_verify);

our @EXPORT = qw(load_practice load_start load_running answers_ok writes_ok payments_ok httpd_parent_pid
                 audit_mark audit_sealed_ok);

# a request that takes longer than this is a hang (the workers' own timeout is CLIENT_TIMEOUT)
use constant { CLIENT_TIMEOUT => 30, HANG => 20 };

my @DAYS = qw(monday tuesday wednesday thursday friday saturday sunday);
my $SLOT = 30;                          # minutes; 06:00-22:00 every day: 32 slots a day
my $SLOTS_A_DAY = (22 - 6) * 60 / $SLOT;

# load_practice(clients => N) -> {ptok, provider, clients => [{token, user}]}: a provider in
# UTC with working hours every day from 06:00 to 22:00, and N clients who registered through
# its invitations. Dies when a step fails.
sub load_practice {
    my (%o) = @_;
    my ($ptok, $prov) = provider_session(name => 'Dr Load', timeZone => 'UTC');
    my %week = (slotDuration => $SLOT,
                map { $_ => { enabled => \1, startTime => '06:00', endTime => '22:00' } } @DAYS);
    my ($st, undef, $res) = api(PUT => '/api/provider/working-hours', token => $ptok, json => \%week);
    die "load_practice: working hours answered $st\n" . dump_res($res) unless $st == 200;
    my @clients;
    for my $n (1 .. ($o{clients} // 8)) {
        my ($ist, $inv, $ires) = invite_client($ptok, name => "Load Client $n");
        die "load_practice: invitation answered $ist\n" . dump_res($ires) unless $ist == 201;
        my ($rst, $reg, $rres) = register({ email => $inv->{email}, password => $DocPortal::Test::PASSWORD,
                                            inviteToken => invite_token_of($inv->{inviteUrl}) });
        die "load_practice: claiming the invitation answered $rst\n" . dump_res($rres) unless $rst == 201;
        push @clients, { token => $reg->{token}, user => $reg->{user} };
    }
    return { ptok => $ptok, provider => $prov, clients => \@clients };
}

# the pid of the suite's httpd parent (Apache::Test's pid file)
sub httpd_parent_pid {
    my $f = Apache::Test::vars('t_logs') . '/httpd.pid';
    open my $fh, '<', $f or return undef;
    my $pid = <$fh>;
    close $fh;
    return $pid && $pid =~ /^(\d+)/ ? $1 : undef;
}

# ---- the drive -------------------------------------------------------------------------------

# load_start($practice, workers => N, year => Y, tag => T) -> a run: N forked workers, each
# with its own HTTP client and a new connection per request, loop until $run->stop: book a
# slot no other worker uses, send its provider a message with a unique text, have the provider
# bill it (the invoice's description unique), pay that invoice with the Stripe fake's card.
# Every answer goes to the worker's file as one JSON line:
#   {w, i, k (book|message|invoice|pay), m (the marker: "date time", the text, the
#    description, the invoice id), s (status; 0 for no HTTP answer), e (the transport error),
#    code, shape (a JSON error with detail and code), id, tx, success, t (seconds), at (epoch)}
sub load_start {
    my ($pr, %o) = @_;
    my $n = $o{workers} // 16;
    my $dir = tempdir(CLEANUP => 1);
    my %run = (dir => $dir, records => [], pids => [], fhs => [], practice => $pr, workers => $n);
    my $days = int(360 / $n);
    for my $w (0 .. $n - 1) {
        my $file = "$dir/w$w.jsonl";
        open my $touch, '>', $file or die "$file: $!";
        close $touch;
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $rc = eval { _worker($pr, $w, $file, "$dir/stop", %o, first_day => $w * $days,
                                    days => $days); 0 } // do { print STDERR "# worker $w: $@"; 1 };
            POSIX::_exit($rc);    # no END blocks of the test in a worker
        }
        push @{ $run{pids} }, $pid;
        open my $fh, '<', $file or die "$file: $!";
        push @{ $run{fhs} }, $fh;
    }
    return bless \%run, 'DocPortal::Load::Run';
}

# load_running($before, tag => T, workers => N): a practice, its N workers (default 16)
# started and 10 answers a worker logged before what the test does next ($before names it).
# -> the run
sub load_running {
    my ($before, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $pr = load_practice(clients => 8);
    Test::More::pass('setup: a provider with working hours and eight clients who claimed their invitations');
    my $run = load_start($pr, workers => $o{workers} // 16, year => next_year(), tag => $o{tag});
    my $n = 10 * $run->{workers};
    Test::More::ok($run->wait_for($n, 60), "$run->{workers} workers: $n answers before $before")
        or Test::More::diag('answers: ' . scalar @{ $run->poll });
    return $run;
}

sub _base {
    my ($host, $port) = split /:/, Apache::TestRequest::hostport();
    return ($DocPortal::Test::TLS ? 'https' : 'http') . "://127.0.0.1:$port";
}

sub _worker {
    my ($pr, $w, $file, $stop, %o) = @_;
    srand($$ ^ time);
    my $ua = HTTP::Tiny->new(timeout => CLIENT_TIMEOUT, keep_alive => 0,
                             ($DocPortal::Test::TLS
                              ? (verify_SSL => 1, SSL_options => { SSL_ca_file => $ENV{DOCPORTAL_TLS_CERT},
                                                                   SSL_verifycn_name => 'localhost' })
                              : ()));
    my $base = _base();
    my $cl = $pr->{clients}[$w % @{ $pr->{clients} }];
    my $tag = $o{tag} // 'load';
    open my $log, '>>', $file or die "$file: $!";
    my $hard = time + ($o{max_secs} // 120);
    my ($y) = $o{year};
    my $jan1 = timegm(0, 0, 12, 1, 0, $y);
    for (my $i = 0; $i < $o{days} * $SLOTS_A_DAY && !-e $stop && time < $hard; $i++) {
        my @d = gmtime($jan1 + ($o{first_day} + int($i / $SLOTS_A_DAY)) * 86400);
        my $min = 6 * 60 + ($i % $SLOTS_A_DAY) * $SLOT;
        my ($date, $hm) = (sprintf('%04d-%02d-%02d', $d[5] + 1900, $d[4] + 1, $d[3]),
                           sprintf('%02d:%02d', int($min / 60), $min % 60));
        my $call = sub {
            my ($k, $m, $method, $path, $tok, $body) = @_;
            my $t0 = time;
            my $r = $ua->request($method, "$base$path",
                                 { headers => { Authorization => "Bearer $tok",
                                                'Content-Type' => 'application/json' },
                                   content => $JSON->encode($body) });
            my %rec = (w => $w, i => $i, k => $k, m => $m, t => time - $t0, at => time,
                       s => $r->{status});
            if ($r->{status} == 599) {    # HTTP::Tiny: no HTTP answer
                $rec{s} = 0;
                ($rec{e}) = split /\n/, $r->{content} // '';
            }
            else {
                my $d = eval { $JSON->decode($r->{content}) };
                my $json = ($r->{headers}{'content-type'} // '') =~ m{^application/json\b}i;
                if (ref $d eq 'HASH') {
                    $rec{code} = $d->{code};
                    $rec{shape} = $json && defined $d->{code} && !ref $d->{code}
                        && defined $d->{detail} && !ref $d->{detail} && $d->{detail} =~ /\S/ ? 1 : 0;
                    $rec{id} = $d->{id};
                    $rec{tx} = $d->{transactionId};
                    $rec{success} = $d->{success} ? 1 : 0 if exists $d->{success};
                }
            }
            syswrite $log, $JSON->encode(\%rec) . "\n";
            return \%rec;
        };
        my $mark = "$tag w$w i$i " . int(rand 1e9);
        $call->(book => "$date $hm", POST => '/api/client/appointments', $cl->{token},
                { date => $date, time => $hm, duration => $SLOT });
        last if -e $stop;
        $call->(message => "message $mark", POST => '/api/messages', $cl->{token},
                { receiverId => $pr->{provider}{id}, message => "message $mark" });
        last if -e $stop;
        my $inv = $call->(invoice => "invoice $mark", POST => '/api/billing/invoices', $pr->{ptok},
                          { clientId => $cl->{user}{id}, amount => 20 + $w + ($i % 100) / 100,
                            description => "invoice $mark" });
        next unless $inv->{s} == 201 && defined $inv->{id};
        $call->(pay => $inv->{id}, POST => '/api/billing/pay', $cl->{token},
                { invoiceId => $inv->{id}, paymentMethod => { cardToken => 'pm_card_visa' } });
    }
    close $log;
    return 1;
}

package DocPortal::Load::Run;
use Time::HiRes qw(time sleep);

# the answers logged so far (read incrementally; a line still being written waits)
sub poll {
    my ($run) = @_;
    for my $fh (@{ $run->{fhs} }) {
        seek $fh, 0, 1;    # clear EOF
        while (defined(my $line = <$fh>)) {
            if ($line !~ /\n\z/) {
                seek $fh, -length($line), 1;
                last;
            }
            push @{ $run->{records} }, $DocPortal::Http::JSON->decode($line);
        }
    }
    return $run->{records};
}

# count(sub { record -> bool }) -> how many answers so far match
sub count {
    my ($run, $want) = @_;
    return scalar grep { $want->($_) } @{ $run->poll };
}

# wait_for($n, $secs, sub { record -> bool }): until $n answers match, at most $secs seconds.
# 1 when they did.
sub wait_for {
    my ($run, $n, $secs, $want) = @_;
    my $deadline = time + $secs;
    while (1) {
        return 1 if $run->count($want // sub { 1 }) >= $n;
        return 0 if time > $deadline;
        sleep 0.1;
    }
}

# stop(): the workers finish the request they are in and exit; -> every answer logged
sub stop {
    my ($run) = @_;
    open my $fh, '>', "$run->{dir}/stop" or die "stop: $!";
    close $fh;
    my $deadline = time + DocPortal::Load::CLIENT_TIMEOUT() + 10;
    my %left = map { $_ => 1 } @{ $run->{pids} };
    while (%left && time < $deadline) {
        for my $pid (keys %left) {
            delete $left{$pid} if waitpid($pid, POSIX::WNOHANG()) == $pid;
        }
        sleep 0.1 if %left;
    }
    $run->{stuck} = [sort keys %left];
    kill 'KILL', $_ for @{ $run->{stuck} };
    waitpid $_, 0 for @{ $run->{stuck} };
    return $run->poll;
}

package DocPortal::Load;

sub _tally {
    my (@r) = @_;
    my %t;
    $t{ "$_->{k} " . ($_->{s} || 'no answer') . (defined $_->{code} ? " $_->{code}" : '') }++ for @r;
    return join ', ', map { "$_ x$t{$_}" } sort keys %t;
}

# answers_ok($run, $name, transport => 0|1): every request was answered in time; the answers
# are what the flow gives (201, a paid 200) or 503 unavailable in the JSON error shape, never
# a 500; with transport => 1 a request may also end without an HTTP answer (its connection
# was cut), but never by the client's timeout.
sub answers_ok {
    my ($run, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @r = @{ $run->{records} };
    my %ok = (book => 201, message => 201, invoice => 201, pay => 200);
    Test::More::is(scalar @{ $run->{stuck} || [] }, 0, "$name: every worker stopped when told");
    my @hung = grep { $_->{t} >= HANG } @r;
    Test::More::is(scalar @hung, 0, "$name: no request took " . HANG . ' s or more')
        or Test::More::diag(_tally(@hung));
    my @timeout = grep { !$_->{s} && ($_->{e} // '') =~ /time/i } @r;
    Test::More::is(scalar @timeout, 0, "$name: no request ran into the client's timeout") or Test::More::diag(_tally(@timeout));
    my @e500 = grep { $_->{s} >= 500 && $_->{s} != 503 } @r;
    Test::More::is(scalar @e500, 0, "$name: no 500 (nor another 5xx than 503)") or Test::More::diag(_tally(@e500));
    my @bad503 = grep { $_->{s} == 503 && !($_->{shape} && ($_->{code} // '') eq 'unavailable') } @r;
    Test::More::is(scalar @bad503, 0, "$name: every 503 is the JSON error with code unavailable") or Test::More::diag(_tally(@bad503));
    my @odd = grep { $_->{s} && $_->{s} != 503 && !($_->{s} == $ok{ $_->{k} }
                                                    && ($_->{k} ne 'pay' || $_->{success})) } @r;
    Test::More::is(scalar @odd, 0, "$name: no other answer than the flow's own and 503") or Test::More::diag(_tally(@odd));
    my @cut = grep { !$_->{s} } @r;
    if ($o{transport}) {
        Test::More::note("$name: " . scalar(@cut) . ' requests lost their connection: '
             . join('; ', map { "$_->{k}: $_->{e}" } @cut[0 .. ($#cut > 4 ? 4 : $#cut)]));
    }
    else {
        Test::More::is(scalar @cut, 0, "$name: every request got an HTTP answer") or Test::More::diag(_tally(@cut));
    }
    my ($slowest) = sort { $b <=> $a } map { $_->{t} } @r;
    Test::More::note(sprintf '%s: %s; the slowest answer took %.2f s', $name, _tally(@r), $slowest // 0);
    return 1;
}

# the records of one kind, by marker
sub _by_marker {
    my ($run, $k) = @_;
    my %m;
    push @{ $m{ $_->{m} } }, $_ for grep { $_->{k} eq $k } @{ $run->{records} };
    return \%m;
}

# sorted the way the diagnostics print them
sub _sample { my @x = sort @_; return join(', ', @x[0 .. ($#x > 9 ? 9 : $#x)]) . (@x > 10 ? ', ...' : '') }

# writes_ok($run, $name, in_doubt => N): what the API reads back agrees with the answers.
#   - every write answered 2xx is there, readable through the API as answered: the appointment
#     at its slot with its id, the message's decrypted text with its id, the invoice with its
#     description;
#   - no write answered 503 is there, except at most N whose COMMIT the database received
#     while the connection was lost (the client cannot tell those from a refusal);
#   - nothing is there that no request asked for.
# Returns the number of refused writes found (they count against in_doubt with the payments').
sub writes_ok {
    my ($run, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $pr = $run->{practice};
    my (%appt, %msg);    # marker -> the row the API answers
    for my $cl (@{ $pr->{clients} }) {
        my ($st, $list, $res) = api(GET => '/api/client/appointments', token => $cl->{token});
        Test::More::is($st, 200, "$name: setup: a client's appointments read back") or Test::More::diag(dump_res($res));
        $appt{"$_->{date} $_->{time}"} = $_ for @{ ref $list eq 'ARRAY' ? $list : [] };
        my $before;
        for (1 .. 100) {
            my ($cst, $page, $cres) = conversation($cl->{token}, $pr->{provider}{id}, limit => 200,
                                                   before => $before);
            if ($cst != 200) {
                Test::More::fail("$name: setup: a page of a conversation read back");
                Test::More::diag(dump_res($cres));
                last;
            }
            last unless ref $page eq 'ARRAY' && @$page;
            $msg{ $_->{message} } = $_ for @$page;
            last if @$page < 200;
            $before = $page->[0]{id};
        }
    }
    my ($ist, $invs, $ires) = invoice_list($pr->{ptok});
    Test::More::is($ist, 200, "$name: setup: the practice's invoices read back") or Test::More::diag(dump_res($ires));
    my %inv = map { $_->{description} => $_ } @{ ref $invs eq 'ARRAY' ? $invs : [] };

    my %kinds = (book => \%appt, message => \%msg, invoice => \%inv);
    my $refused_there = 0;
    for my $k (sort keys %kinds) {
        my $there = $kinds{$k};
        my $asked = _by_marker($run, $k);
        my (@lost, @wrong, @refused_there, @phantom);
        for my $m (keys %$asked) {
            my ($r) = @{ $asked->{$m} };    # one request per marker
            if ($r->{s} >= 200 && $r->{s} < 300) {
                if (!$there->{$m}) { push @lost, $m }
                elsif (($there->{$m}{id} // '') ne ($r->{id} // '')) { push @wrong, $m }
            }
            elsif ($r->{s} == 503 && $there->{$m}) {
                push @refused_there, $m;
            }
        }
        for my $m (keys %$there) {
            push @phantom, $m unless $asked->{$m};
        }
        my $ok2xx = grep { $_->[0]{s} >= 200 && $_->[0]{s} < 300 } values %$asked;
        Test::More::is(scalar @lost, 0, "$name: every $k answered 2xx ($ok2xx) reads back through the API")
            or Test::More::diag('missing: ' . _sample(@lost));
        Test::More::is(scalar @wrong, 0, "$name: ... with the id it was answered with") or Test::More::diag(_sample(@wrong));
        Test::More::is(scalar @phantom, 0, "$name: no $k is there that no request asked for") or Test::More::diag(_sample(@phantom));
        $refused_there += @refused_there;
        Test::More::diag("$name: $k answered 503 yet there: " . _sample(@refused_there)) if @refused_there;
    }
    return $refused_there;
}

# payments_ok($run, $name): what Stripe (the fake) charged and what the invoices say agree.
#   - no invoice was charged twice (one succeeded PaymentIntent at most), also after the
#     client tried again every payment that was refused or cut off;
#   - every pay answered 200 left its invoice paid by the PaymentIntent it answered;
#   - every paid invoice was paid by a PaymentIntent that succeeded at Stripe;
#   - a payment refused with 503 before Stripe charged left its invoice unpaid;
#   - a payment Stripe charged while its answer could not be recorded (the database away, the
#     child killed) holds its claim: the client's retry is 409 payment_in_progress and reaches
#     no Stripe (or, once the claim went stale, replays the same PaymentIntent); Stripe's
#     webhook then settles the invoice, as in production.
# Returns (the number of invoices paid although the pay was answered 503, the number the
# webhook settled).
sub payments_ok {
    my ($run, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $pr = $run->{practice};
    my %pays = %{ _by_marker($run, 'pay') };
    my $charges = sub {
        my %c;    # invoice -> {intent => 1}
        for my $e (stripe_intents_posted()) {
            my $inv = $e->{form}{'metadata[invoice_id]'} // next;
            next unless $pays{$inv} && ($e->{response}{status} // '') eq 'succeeded';
            $c{$inv}{ $e->{response}{id} } = 1;
        }
        return \%c;
    };
    my $read = sub {
        my ($st, $list, $res) = invoice_list($pr->{ptok});
        Test::More::is($st, 200, "$name: setup: the invoices read back") or Test::More::diag(dump_res($res));
        return { map { $_->{id} => $_ } @{ ref $list eq 'ARRAY' ? $list : [] } };
    };
    my $paid = sub { ($_[0]{status} // '') eq 'paid' };
    my $charged = $charges->();
    my $inv = $read->();
    my (@unsettled, @paid_uncharged, @paid_refused, @refused_paid, @unpaid_charge);
    for my $id (keys %pays) {
        my $r = $pays{$id}[0];
        my $row = $inv->{$id} // {};
        if ($r->{s} == 200) {
            push @unsettled, $id unless $paid->($row) && ($row->{transactionId} // '') eq ($r->{tx} // '');
        }
        elsif ($paid->($row) && $r->{s} == 503) {
            # refused, yet paid: charged (its answer lost in doubt) or not charged at all
            push @{ $charged->{$id} ? \@paid_refused : \@refused_paid }, $id;
        }
        push @paid_uncharged, $id if $paid->($row) && !$charged->{$id}{ $row->{transactionId} // '' };
        push @unpaid_charge, $id if !$paid->($row) && $charged->{$id};
    }
    my $n200 = grep { $_->[0]{s} == 200 } values %pays;
    Test::More::is(scalar @unsettled, 0, "$name: every pay answered 200 ($n200) left its invoice paid by its PaymentIntent")
        or Test::More::diag(_sample(@unsettled));
    Test::More::is(scalar @paid_uncharged, 0, "$name: every paid invoice was paid by a PaymentIntent Stripe charged")
        or Test::More::diag(_sample(@paid_uncharged));
    my $n503 = grep { $_->[0]{s} == 503 && !$charged->{ $_->[0]{m} } } values %pays;
    Test::More::is(scalar @refused_paid, 0, "$name: no pay refused before Stripe charged ($n503) left a paid invoice")
        or Test::More::diag(_sample(@refused_paid));
    my @answered = grep { $pays{$_}[0]{s} == 200 } @unpaid_charge;
    Test::More::is(scalar @answered, 0, "$name: a charge the invoice does not show is one whose pay was not answered 200")
        or Test::More::diag(_sample(@answered));

    # the client tries again every payment that went unanswered or was refused
    my (@retry_bad, %retried);
    for my $id (sort grep { $pays{$_}[0]{s} != 200 && !$paid->($inv->{$_} // {}) } keys %pays) {
        my ($st, $d, $res) = pay_invoice($pr->{clients}[ $pays{$id}[0]{w} % @{ $pr->{clients} } ]{token},
                                         $id, 'pm_card_visa');
        my $code = ref $d eq 'HASH' ? $d->{code} // '' : '';
        $retried{$id} = $st;
        my $fine = $charged->{$id}
            ? ($st == 409 && $code eq 'payment_in_progress')
              || ($st == 200 && $charged->{$id}{ $d->{transactionId} // '' })
            : ($st == 200 || ($st == 409 && $code eq 'payment_in_progress'));
        push @retry_bad, "$id: $st $code" unless $fine;
    }
    Test::More::is(scalar @retry_bad, 0, "$name: retries of the payments refused or cut off (" . scalar(keys %retried)
                   . ') pay what was not charged and hold back what was') or Test::More::diag(_sample(@retry_bad));
    $charged = $charges->();
    my @twice = grep { keys %{ $charged->{$_} } > 1 } keys %$charged;
    Test::More::is(scalar @twice, 0, "$name: no invoice charged twice") or Test::More::diag(_sample(@twice));

    # Stripe announces what it charged: deliver those events, as Stripe would
    $inv = $read->();
    my $settled = 0;
    for my $id (sort grep { !$paid->($inv->{$_} // {}) } keys %$charged) {
        my ($pi) = keys %{ $charged->{$id} };
        my ($est, $event) = stripe_fake(POST => '/__event', { type => 'payment_intent.succeeded', intent => $pi });
        my $payload = $JSON->encode($event // {});
        my ($wst, undef, $wres) = webhook_post($payload, stripe_sign($payload));
        Test::More::is($wst, 200, "$name: Stripe's webhook for $pi, charged while its pay went unanswered: 200")
            or Test::More::diag(dump_res($wres));
        $settled++;
    }
    $inv = $read->();
    my @wrong = grep { !$paid->($inv->{$_} // {}) || !$charged->{$_}{ $inv->{$_}{transactionId} // '' } }
                keys %$charged;
    Test::More::is(scalar @wrong, 0, "$name: every invoice Stripe charged reads paid by that PaymentIntent "
                   . "($settled settled by the webhook)") or Test::More::diag(_sample(@wrong));
    my @extra = grep { $paid->($inv->{$_} // {}) && !$charged->{$_} } keys %pays;
    Test::More::is(scalar @extra, 0, "$name: no invoice reads paid that Stripe did not charge")
        or Test::More::diag(_sample(@extra));
    return (scalar @paid_refused, $settled);
}

# ---- the audit chain --------------------------------------------------------------------------

# audit_mark() -> the highest audit_events.seq now: the audit rows a test writes after this
# call are those above it
sub audit_mark {
    my $seq = psql(q{SELECT coalesce(max(seq), 0) FROM audit_events});
    die "audit_mark: no answer from the database\n" unless defined $seq && $seq =~ /^\d+$/;
    return $seq;
}

# audit_sealed_ok($mark, $name): the audit rows written since audit_mark() answered $mark are
# all sealed within 60 s (the sealer caught up after the fault), and dp-audit-verify
# --since-seq verifies the chain over them: every link from the first seal of such a row to
# the chain's end, its checkpoints, and none of those rows left outside the sealer's window.
# Rows of earlier test files are not judged: the suite's audit report tests leave back-dated
# rows on purpose, which the sealer never chains and a whole-table check reports.
sub audit_sealed_ok {
    my ($mark, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $mine = 'e.seq > ' . int($mark);
    Test::More::ok(wait_sealed(60, $mine), "$name: every audit row written since the test began is sealed")
        or Test::More::diag('unsealed: ' . psql(qq{SELECT count(*) FROM audit_events e WHERE $mine AND NOT EXISTS }
                                               . q{(SELECT 1 FROM audit_seals s WHERE s.event_seq = e.seq)}));
    my ($rc, $out, $err) = chain_verify('--since-seq', $mark + 1);
    Test::More::is($rc, 0, "$name: dp-audit-verify --since-seq: the chain over those rows verifies")
        or Test::More::diag("$out\n$err");
    return $rc == 0;
}

1;
