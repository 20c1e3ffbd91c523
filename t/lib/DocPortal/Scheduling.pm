package DocPortal::Scheduling;
# Appointments and the calendar: booking, reading and changing an appointment, moving one into
# the past, and the days and times the tests book on.
use strict;
use warnings;

use Exporter 'import';
use Time::HiRes ();
use DocPortal::Http qw(api);
use DocPortal::Db qw(psql sql_quote);

our @EXPORT = qw(
    day_offset local_today next_year us_dst_start
    book appt_get appt_patch appt_to_past ts_epoch
    APPOINTMENT_KEYS $JITSI_RE
);

use constant APPOINTMENT_KEYS => [sort qw(id clientId providerId clientName providerName date time
                                          duration type status notes videoLink amount timeZone
                                          startsAt endsAt createdAt updatedAt)];
our $JITSI_RE = qr{^https://meet\.jit\.si/DocPortal-[0-9a-f]{32}$};

# day_offset($n): the UTC calendar date $n days from now, YYYY-MM-DD. With $n >= 2 it is a
# future day in every zone of the Americas and Europe.
sub day_offset {
    my ($n) = @_;
    my @t = gmtime(time + $n * 86400);
    return sprintf '%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3];
}

# local_today($zone): today's date in $zone, as PostgreSQL sees it. Within a minute of local
# midnight it waits for the new day first, so that the date stays today for the requests the
# test makes next (a test run at 10:00 UTC met midnight in Pacific/Kiritimati mid-test).
sub local_today {
    my ($zone) = @_;
    my $z = sql_quote($zone);
    my ($day, $left) = split /\|/, scalar psql(
        qq{SELECT to_char(now() AT TIME ZONE $z, 'YYYY-MM-DD'), }
      . qq{extract(epoch FROM date_trunc('day', now() AT TIME ZONE $z) + interval '1 day' }
      . qq{- (now() AT TIME ZONE $z))});
    return $day unless defined $left && $left < 60;
    Time::HiRes::sleep($left + 0.5);
    return scalar psql(qq{SELECT to_char(now() AT TIME ZONE $z, 'YYYY-MM-DD')});
}

# next calendar year (every date in it is in the future)
sub next_year { return (gmtime)[5] + 1900 + 1 }

# us_dst_start($year): the second Sunday of March (US clocks spring forward at 02:00).
sub us_dst_start {
    my ($year) = @_;
    require Time::Local;
    my $mar1 = Time::Local::timegm(0, 0, 12, 1, 2, $year);
    my $wday = (gmtime $mar1)[6];                     # 0 = Sunday
    my $first_sunday = 1 + ((7 - $wday) % 7);
    return sprintf '%04d-03-%02d', $year, $first_sunday + 7;
}

# book($client_token, %body) -> (status, body, res): POST /api/client/appointments
sub book {
    my ($token, %b) = @_;
    return api(POST => '/api/client/appointments', token => $token, json => \%b);
}

sub appt_get {
    my ($token, $id) = @_;
    return api(GET => "/api/appointments/$id", token => $token);
}

sub appt_patch {
    my ($token, $id, %b) = @_;
    return api(PATCH => "/api/appointments/$id", token => $token, json => \%b);
}

# appt_to_past($id, $minutes_ago): moves the appointment so that it started that many minutes
# ago (keeping its duration), straight in the database.
sub appt_to_past {
    my ($id, $ago) = @_;
    my ($out, $rc, $err) = psql(
        q{UPDATE appointments SET starts_at = now() - } . sql_quote("$ago minutes") . q{::interval, }
      . q{ends_at = now() - } . sql_quote("$ago minutes") . q{::interval + duration_minutes * interval '1 minute' }
      . q{WHERE id = } . sql_quote($id));
    die "appt_to_past($id): $err\n" if $rc;
    return 1;
}

# ts_epoch('2027-01-12T15:00:00.000Z') -> epoch seconds (undef when not RFC 3339 UTC)
sub ts_epoch {
    my ($ts) = @_;
    return undef unless defined $ts && $ts =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?Z$/;
    require Time::Local;
    return Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1);
}

1;
