# The dashboards' figures (docs/api.md, "Dashboards"), computed from the database in the
# provider's time zone:
#   provider  totalIncome, monthlyIncome (paid invoices: all, and paid this local month),
#             appointmentsToday, appointmentsWeek (this local ISO week, Monday to Sunday),
#             pendingNotes (completed, or confirmed and started, without a signed note),
#             activeClients (a non-cancelled appointment in the last 90 days or to come),
#             messagesUnread, upcomingAppointments
#   client    upcomingAppointments, pendingPayments (pending and overdue invoices),
#             unreadMessages, completedSessions
# Every figure of an answer is asserted exactly, each scenario in a practice of its own, with
# another practice's data present all along. Times are moved with psql (superuser) where the
# API cannot (the past, local midnights, paid_at); everything else goes through the API.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;

my $Y = next_year();
my $DAY = 24 * 60;    # minutes

# Every key of each answer; a figure known under two names (docs/api.md's and the mock's)
# carries the same value under both.
my @P_COUNTS = qw(totalClients upcomingAppointments pendingAppointments appointmentsToday
                  todayAppointments appointmentsWeek pendingNotes activeClients messagesUnread
                  unreadMessages pendingInvoices);
my @P_MONEY  = qw(outstandingAmount revenueThisMonth totalIncome monthlyIncome);
my %P_ALIAS  = (todayAppointments => 'appointmentsToday', unreadMessages => 'messagesUnread',
                revenueThisMonth => 'monthlyIncome');
my @C_COUNTS = qw(upcomingAppointments completedAppointments completedSessions unreadMessages
                  pendingPayments);
my @C_MONEY  = qw(outstandingAmount);
my %C_ALIAS  = (completedAppointments => 'completedSessions');

sub dash {
    my ($role, $token) = @_;
    my (undef, $d, $res) = api(GET => "/api/$role/dashboard", token => $token);
    return ($d // {}, $res);
}

# The figures as printed: counts must be JSON integers, money as dp_json_set_money prints it.
sub figures_of {
    my ($res, $counts, $money) = @_;
    my $c = $res->content // '';
    my %got;
    $got{$_} = $c =~ /"\Q$_\E":(-?\d+)[,}]/ ? $1 : 'missing or not an integer' for @$counts;
    $got{$_} = money_in_json($res, $_) // 'missing' for @$money;
    return \%got;
}

# want: only the figures that are not 0; an alias gets its twin's value
sub expand {
    my ($want, $counts, $money, $alias) = @_;
    my %w = map { $_ => 0 } @$counts;
    $w{$_} = '0' for @$money;
    %w = (%w, %$want);
    $w{$_} = $w{ $alias->{$_} } for keys %$alias;
    return \%w;
}

sub pdash_is {
    my ($token, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, $res) = dash(provider => $token);
    is_deeply(figures_of($res, \@P_COUNTS, \@P_MONEY), expand($want, \@P_COUNTS, \@P_MONEY, \%P_ALIAS),
              $name) or diag(dump_res($res));
}

# next: the id of the expected nextAppointment, undef for null
sub cdash_is {
    my ($token, $want, $next, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($d, $res) = dash(client => $token);
    my $got = figures_of($res, \@C_COUNTS, \@C_MONEY);
    $got->{next} = !exists $d->{nextAppointment} ? 'missing'
                 : ref $d->{nextAppointment} eq 'HASH' ? $d->{nextAppointment}{id} // 'no id'
                 : defined $d->{nextAppointment} ? 'not an object' : 'null';
    my $w = expand($want, \@C_COUNTS, \@C_MONEY, \%C_ALIAS);
    $w->{next} = $next // 'null';
    is_deeply($got, $w, $name) or diag(dump_res($res));
}

# ---- setup helpers -----------------------------------------------------------------------------

my $slot = 0;

# appt($ptok, $ctok, $status, ago => minutes) -> id: booked through the API on a free future
# day of its own, then brought to $status by the API's own transitions; with ago it ends up
# having started that many minutes ago (a completed one always goes through the past first).
sub appt {
    my ($ptok, $ctok, $status, %o) = @_;
    $slot++;
    my $date = sprintf '%d-%02d-%02d', $Y, 1 + int(($slot - 1) / 28), 1 + ($slot - 1) % 28;
    my ($st, $a, $res) = book($ctok, date => $date, time => '10:00');
    die "appt: booking answered $st\n" . dump_res($res) unless $st == 201;
    my $id = $a->{id};
    if ($status eq 'cancelled') {
        ($st, undef, $res) = api(DELETE => "/api/appointments/$id", token => $ctok);
        die "appt: cancel answered $st\n" . dump_res($res) unless $st == 200;
    }
    elsif ($status ne 'pending') {
        ($st, undef, $res) = appt_patch($ptok, $id, status => 'confirmed');
        die "appt: confirm answered $st\n" . dump_res($res) unless $st == 200;
    }
    # a completed one first starts in a past far from every other (200 days + its slot)
    my $ago = $o{ago} // ($status eq 'completed' ? 200 * $DAY + 180 * $slot : undef);
    appt_to_past($id, $ago) if defined $ago;
    if ($status eq 'completed') {
        ($st, undef, $res) = appt_patch($ptok, $id, status => 'completed');
        die "appt: complete answered $st\n" . dump_res($res) unless $st == 200;
    }
    return $id;
}

# place($id, $zone, 'YYYY-MM-DD HH:MM'): the appointment starts at that local time of $zone
sub place {
    my ($id, $zone, $local) = @_;
    my $at = sql_quote($local) . '::timestamp AT TIME ZONE ' . sql_quote($zone);
    psql_must("UPDATE appointments SET starts_at = $at, "
            . "ends_at = $at + duration_minutes * interval '1 minute' WHERE id = "
            . sql_quote($id) . '::uuid');
}

# frame($zone) -> {today, yesterday, tomorrow, monday, prev_sunday, sunday, next_monday}: local dates of $zone
# (not in the last minute before its midnight: local_today waits that out)
sub frame {
    my ($zone) = @_;
    local_today($zone);
    my $z = sql_quote($zone);
    my %f;
    @f{qw(today yesterday tomorrow monday prev_sunday sunday next_monday)} = split /\|/, psql_must(
        "SELECT d, d - 1, d + 1, m, m - 1, m + 6, m + 7 FROM (SELECT d, date_trunc('week', d)::date AS m "
      . "FROM (SELECT (now() AT TIME ZONE $z)::date AS d) x) y");
    return \%f;
}

sub new_invoice {
    my ($ptok, $client_id, $amount) = @_;
    my ($st, $inv, $res) = create_invoice($ptok, clientId => $client_id, amount => $amount);
    die "new_invoice: $st\n" . dump_res($res) unless $st == 201;
    return $inv->{id};
}

# mark_paid($id, $sql_instant): paid at that instant; in it, TZ stands for the provider's zone
sub mark_paid {
    my ($id, $when) = @_;
    $when =~ s/\bTZ\b/p.time_zone/g;
    psql_must("UPDATE invoices i SET status = 'paid', payment_method = 'card', "
            . "paid_at = $when, updated_at = now() FROM users p "
            . 'WHERE p.id = i.provider_id AND i.id = ' . sql_quote($id) . '::uuid');
}

sub month_start { "(date_trunc('month', now() AT TIME ZONE TZ) + interval '$_[0]') AT TIME ZONE TZ" }

sub message {
    my ($token, $to, $text) = @_;
    my ($st, $m, $res) = send_message($token, $to, $text);
    die "message: $st\n" . dump_res($res) unless $st == 201;
    return $m->{id};
}

sub write_note {
    my ($ptok, $appt, $sign) = @_;
    my ($st, undef, $res) = note_create($ptok, appointmentId => $appt, type => 'Progress',
                                        content => PROGRESS_CONTENT);
    die "note: create answered $st\n" . dump_res($res) unless $st == 201;
    return unless $sign;
    ($st, undef, $res) = note_sign($ptok, $appt);
    die "note: sign answered $st\n" . dump_res($res) unless $st == 200;
}

# ---- another practice, busy in every way, present from the start ----------------------------------
my $QZONE = 'Pacific/Kiritimati';
my ($qtok, $q) = provider_session(name => 'Dr Elsewhere', timeZone => $QZONE);
my ($qctok, $qc) = client_session($q->{id}, name => 'Elsewhere Client');
my ($qnext, $qday);
my %QFIG;
{
    my $f = frame($QZONE);
    $qday = $f->{today};
    place(appt($qtok, $qctok, 'confirmed'), $QZONE, "$f->{today} 00:00");
    appt($qtok, $qctok, 'completed', ago => 8 * $DAY);
    $qnext = appt($qtok, $qctok, 'pending');
    mark_paid(new_invoice($qtok, $qc->{id}, 12.34), 'now()');
    new_invoice($qtok, $qc->{id}, 5);
    message($qctok, $q->{id}, 'to the provider elsewhere');
    message($qtok, $qc->{id}, 'to the client elsewhere');
    %QFIG = (totalClients => 1, upcomingAppointments => 1, pendingAppointments => 1,
             appointmentsToday => 1, appointmentsWeek => 1, pendingNotes => 2, activeClients => 1,
             messagesUnread => 1, pendingInvoices => 1, outstandingAmount => '5',
             totalIncome => '12.34', monthlyIncome => '12.34');
    pdash_is($qtok, \%QFIG, 'the other practice: its own figures');
}
cdash_is($qctok, { upcomingAppointments => 1, completedSessions => 1, unreadMessages => 1,
                   outstandingAmount => '5', pendingPayments => 1 }, $qnext,
         "the other practice's client: its own figures");

# ---- shapes ----------------------------------------------------------------------------------------------
my ($ptok, $prov) = provider_session(name => 'Dr Empty');
my ($ctok, $cli) = client_session($prov->{id}, name => 'Empty Client');
my ($d, $res) = dash(provider => $ptok);
success_is($res, 200, 'GET /api/provider/dashboard: 200');
is_deeply([sort keys %$d], [sort @P_COUNTS, @P_MONEY],
          'provider dashboard: the addendum\'s keys and the mock\'s, nothing else');
pdash_is($ptok, { totalClients => 1 }, 'a new provider with one client: every other figure 0');
($d, $res) = dash(client => $ctok);
success_is($res, 200, 'GET /api/client/dashboard: 200');
is_deeply([sort keys %$d], [sort @C_COUNTS, @C_MONEY, 'nextAppointment'],
          'client dashboard: the addendum\'s keys and the mock\'s, nothing else');
cdash_is($ctok, {}, undef, 'a new client: zeros, nextAppointment null');
audit_single($res, { action => 'dashboard.read', outcome => 'success', actor_id => $cli->{id},
                     client_id => $cli->{id} }, 'the client dashboard: one dashboard.read event');
(undef, $res) = dash(provider => $ptok);
audit_single($res, { action => 'dashboard.read', outcome => 'success', actor_id => $prov->{id},
                     client_id => '' }, 'the provider dashboard: one dashboard.read event');

# ---- today and this week, in the provider's zone ---------------------------------------------------
# Edges at local midnights, in a zone ahead of UTC by 14 hours and one behind by 8: counted
# in UTC days or weeks, some of them would fall on the other side. A placement whose relation
# to now is unknown (later today, Sunday night) is completed, so that it is never upcoming.
for my $zone ('Pacific/Kiritimati', 'America/Los_Angeles') {
    my ($tp, $zp) = provider_session(name => 'Dr Week', timeZone => $zone);
    my ($c1tok, $c1) = client_session($zp->{id}, name => 'Week One');
    my ($c2tok, $c2) = client_session($zp->{id}, name => 'Week Two');
    my $f = frame($zone);
    my %at = (
        w1 => [appt($tp, $c1tok, 'completed'), "$f->{monday} 00:00"],     # the week's first minute
        w2 => [appt($tp, $c1tok, 'completed'), "$f->{sunday} 23:45"],     # its last quarter hour
        w3 => [appt($tp, $c2tok, 'completed'), "$f->{prev_sunday} 23:45"],  # last week
        w4 => [appt($tp, $c2tok, 'pending'), "$f->{next_monday} 00:00"],    # next week, to come
        w5 => [appt($tp, $c1tok, 'confirmed'), "$f->{today} 00:00"],      # today, started
        w6 => [appt($tp, $c1tok, 'cancelled'), "$f->{today} 12:00"],      # today, cancelled
        w7 => [appt($tp, $c1tok, 'completed'), "$f->{today} 23:45"],      # today's last quarter hour
        w8 => [appt($tp, $c2tok, 'cancelled'), "$f->{monday} 00:00"],     # this week, cancelled
        w9 => [appt($tp, $c2tok, 'completed'), "$f->{yesterday} 23:45"],  # yesterday's last quarter hour
    );
    # tomorrow's first minute (on a Sunday that is w4 already: the same slot cannot be booked twice)
    my $sunday = $f->{today} eq $f->{sunday};
    $at{w10} = [appt($tp, $c2tok, 'pending'), "$f->{tomorrow} 00:00"] unless $sunday;
    place(@{ $at{$_} }[0], $zone, $at{$_}[1]) for sort keys %at;
    # today: w5, w7, and w1 on a Monday, w2 on a Sunday; never w9 (yesterday) nor w10 (tomorrow)
    my $today = 2 + ($f->{today} eq $f->{monday} ? 1 : 0) + ($sunday ? 1 : 0);
    # week: w1, w2, w5, w7, w9 unless yesterday was last week's Sunday, w10 unless today is Sunday
    my $week = 4 + ($f->{today} eq $f->{monday} ? 0 : 1) + ($sunday ? 0 : 1);
    my $upcoming = $sunday ? 1 : 2;
    pdash_is($tp, { totalClients => 2, upcomingAppointments => $upcoming,
                    pendingAppointments => $upcoming, appointmentsToday => $today,
                    appointmentsWeek => $week, pendingNotes => 6, activeClients => 2 },
             "$zone ($f->{today}, week of $f->{monday}): today $today, week $week (Monday 00:00 to "
           . 'Sunday 23:45 local), not last week, not next, not the cancelled ones')
        or diag(psql("SELECT status, starts_at AT TIME ZONE '$zone' FROM appointments "
                   . 'WHERE provider_id = ' . sql_quote($zp->{id}) . ' ORDER BY starts_at'));
    cdash_is($c1tok, { completedSessions => 3 }, undef,
             "$zone: client one: 3 completed; the started confirmed one is not upcoming");
    cdash_is($c2tok, { upcomingAppointments => $upcoming, completedSessions => 2 },
             $sunday ? $at{w4}[0] : $at{w10}[0],
             "$zone: client two: tomorrow's (or next Monday's) is next");
}

# ---- pendingNotes: sessions that took place without a signed note -------------------------------------
my ($np, $nprov) = provider_session(name => 'Dr Notes');
my ($nctok, $nc) = client_session($nprov->{id}, name => 'Noted Client');
my %n;
$n{no_note}     = appointment_for_note($np, $nctok, status => 'completed')->{id};
$n{draft}       = appointment_for_note($np, $nctok, status => 'completed')->{id};
write_note($np, $n{draft}, 0);
$n{signed}      = appointment_for_note($np, $nctok, status => 'completed')->{id};
write_note($np, $n{signed}, 1);
$n{started}     = appointment_for_note($np, $nctok, status => 'confirmed')->{id};
$n{future}      = appointment_for_note($np, $nctok, status => 'confirmed')->{id};
$n{pending}     = appointment_for_note($np, $nctok, status => 'pending')->{id};
$n{cancelled}   = appointment_for_note($np, $nctok, status => 'cancelled')->{id};
$n{started_signed} = appointment_for_note($np, $nctok, status => 'confirmed')->{id};
write_note($np, $n{started_signed}, 1);
$n{started_draft} = appointment_for_note($np, $nctok, status => 'confirmed')->{id};
write_note($np, $n{started_draft}, 0);
# all in the past (8 days and more: never today or this week), but the future one
my $k = 8;
appt_to_past($n{$_}, $DAY * $k++)
    for qw(no_note draft signed started pending cancelled started_signed started_draft);
pdash_is($np, { totalClients => 1, upcomingAppointments => 1, pendingNotes => 4, activeClients => 1 },
         'pendingNotes 4: completed without a note, completed with a draft, confirmed and started '
       . 'without a note or with a draft; not signed ones, not pending, cancelled or future ones');
note_sign($np, $n{draft});
pdash_is($np, { totalClients => 1, upcomingAppointments => 1, pendingNotes => 3, activeClients => 1 },
         'signing the draft: pendingNotes 3');
appt_patch($np, $n{started}, status => 'completed');
pdash_is($np, { totalClients => 1, upcomingAppointments => 1, pendingNotes => 3, activeClients => 1 },
         'completing a started one changes nothing: it still waits for its note');
write_note($np, $n{started}, 1);
pdash_is($np, { totalClients => 1, upcomingAppointments => 1, pendingNotes => 2, activeClients => 1 },
         'its note signed: pendingNotes 2');

# ---- messages, both ways -----------------------------------------------------------------------
my @to_provider = map { message($nctok, $nprov->{id}, "to the provider $_") } 1 .. 3;
my @to_client = map { message($np, $nc->{id}, "to the client $_") } 1 .. 2;
mark_read($np, $to_provider[0]);
mark_read($nctok, $to_client[1]);
pdash_is($np, { totalClients => 1, upcomingAppointments => 1, pendingNotes => 2, activeClients => 1,
                messagesUnread => 2 },
         'messagesUnread 2: three received, one read; sent ones never count');
cdash_is($nctok, { upcomingAppointments => 1, completedSessions => 4, unreadMessages => 1 }, $n{future},
         'the client: one upcoming (next), 4 completed sessions, one unread message');

# ---- activeClients: the last 90 days and what is to come -------------------------------------------------
my ($ap, $aprov) = provider_session(name => 'Dr Caseload');
my %ac;
$ac{$_} = [client_session($aprov->{id}, name => "Caseload $_")] for qw(a b c d e g h);
invite_client($ap, name => 'Caseload f (invited, no appointment)');
appt($ap, $ac{a}[0], 'completed', ago => 89 * $DAY);    # active: 89 days ago
appt($ap, $ac{b}[0], 'completed', ago => 91 * $DAY);    # not: 91 days ago ...
appt($ap, $ac{b}[0], 'cancelled', ago => 5 * $DAY);     # ... and a cancelled one since
appt($ap, $ac{c}[0], 'cancelled');                      # not: only a cancelled one to come
my $d1 = appt($ap, $ac{d}[0], 'pending');               # active: a request to come
appt($ap, $ac{e}[0], 'pending');                        # active once: to come ...
appt($ap, $ac{e}[0], 'completed', ago => 8 * $DAY);     # ... and 8 days ago
appt($ap, $ac{g}[0], 'pending', ago => 12 * $DAY);      # active: a request never answered, 12 days ago
appt($ap, $ac{h}[0], 'confirmed', ago => 95 * $DAY);    # not: 95 days ago (its note is pending)
pdash_is($ap, { totalClients => 8, upcomingAppointments => 2, pendingAppointments => 2,
                pendingNotes => 4, activeClients => 4 },
         'activeClients 4 of 8: 89 days ago, to come (counted once), a stale request; '
       . 'not 91 or 95 days ago, not cancelled, not the invited client without appointments');
cdash_is($ac{d}[0], { upcomingAppointments => 1 }, $d1, 'a client with one request to come');
cdash_is($ac{c}[0], {}, undef, 'a client whose only appointment is cancelled: nothing');

# ---- income, in the provider's month --------------------------------------------------------------------
# America/Los_Angeles: its month begins 8 hours after UTC's, so a minute before it is in UTC's
# new month already.
my $IZONE = 'America/Los_Angeles';
my ($ip, $iprov) = provider_session(name => 'Dr Income', timeZone => $IZONE);
my ($i1tok, $i1) = client_session($iprov->{id}, name => 'Payer One');
my ($i2tok, $i2) = client_session($iprov->{id}, name => 'Payer Two');
local_today($IZONE);
my %v = (
    month_in  => new_invoice($ip, $i1->{id}, 100.10),
    month_out => new_invoice($ip, $i2->{id}, 50.05),
    now       => new_invoice($ip, $i2->{id}, 0.7),
    old       => new_invoice($ip, $i2->{id}, 20),
    pending   => new_invoice($ip, $i1->{id}, 30.30),
    overdue   => new_invoice($ip, $i1->{id}, 9.99),
);
pdash_is($ip, { totalClients => 2, pendingInvoices => 6, outstandingAmount => '211.14' },
         'six pending invoices: no income yet');
cdash_is($i1tok, { pendingPayments => 3, outstandingAmount => '140.39' }, undef,
         'payer one: three pending payments');
mark_paid($v{month_in}, month_start('1 minute'));
mark_paid($v{month_out}, month_start('-1 minute'));
mark_paid($v{now}, 'now()');
mark_paid($v{old}, "now() - interval '400 days'");
invoice_to_overdue($v{overdue}, 3);
pdash_is($ip, { totalClients => 2, pendingInvoices => 2, outstandingAmount => '40.29',
                totalIncome => '170.85', monthlyIncome => '100.8' },
         "totalIncome 170.85: every paid invoice; monthlyIncome 100.8: paid since the month began "
       . "in $IZONE (not a minute before, not 400 days ago)");
cdash_is($i1tok, { pendingPayments => 2, outstandingAmount => '40.29' }, undef,
         'payer one: pendingPayments 2, a pending and an overdue invoice; not the paid one');
cdash_is($i2tok, {}, undef, 'payer two: everything paid, nothing pending');

# ---- and nothing of all this reached the other practice ------------------------------------------------
SKIP: {
    # its today and week move with its clock: only while its day is the one it started on
    skip "midnight passed in $QZONE during the test", 2 unless frame($QZONE)->{today} eq $qday;
    pdash_is($qtok, \%QFIG, 'the other practice: its figures unchanged at the end');
    cdash_is($qctok, { upcomingAppointments => 1, completedSessions => 1, unreadMessages => 1,
                       outstandingAmount => '5', pendingPayments => 1 }, $qnext,
             "the other practice's client: unchanged at the end");
}
done_testing();
