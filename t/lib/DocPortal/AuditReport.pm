package DocPortal::AuditReport;
# The audit report (GET /api/audit): the request, audit rows inserted for it, and its CSV.
use strict;
use warnings;

use Exporter 'import';
use DocPortal::Http qw(api query_string);
use DocPortal::Db qw(sql_quote psql_must);

our @EXPORT = qw(audit_report audit_insert_events csv_parse csv_cell_for EVENT_KEYS);

use constant EVENT_KEYS => [sort qw(id at actorId actorType action resourceType resourceId clientId
                                    ip outcome)];

# audit_report($token, \%query, @headers) -> (status, body, res): GET /api/audit?query, with
# extra request headers (e.g. Accept => 'text/csv').
sub audit_report {
    my ($token, $q, @headers) = @_;
    return api(GET => '/api/audit' . query_string(%{ $q || {} }), token => $token,
               headers => \@headers);
}

my @EVENT_COLS = qw(at actor_id actor_type action resource_type resource_id client_id ip outcome
                    request_id);
my %EVENT_KEY = (at => 'at', actor_id => 'actorId', actor_type => 'actorType', action => 'action',
                 resource_type => 'resourceType', resource_id => 'resourceId',
                 client_id => 'clientId', ip => 'ip', outcome => 'outcome');

# audit_insert_events(\%row, ...) -> the rows as the report answers them (hashrefs with the
# event keys, plus seq): inserted straight into audit_events as the superuser, in order. A
# row gives columns (at, actor_id, actor_type, action, resource_type, resource_id, client_id,
# ip, outcome, request_id); undef or absent is NULL (actor_type defaults to anonymous,
# outcome to success, action to test.event).
sub audit_insert_events {
    my (@rows) = @_;
    my @values;
    for my $r (@rows) {
        my %r = (actor_type => 'anonymous', outcome => 'success', action => 'test.event', %$r);
        push @values, '(' . join(', ', map {
            my $v = $r{$_};
            !defined $v ? 'NULL'
                : $_ eq 'at' ? sql_quote($v) . '::timestamptz'
                : /_id$/ && $_ ne 'resource_id' && $_ ne 'request_id' ? sql_quote($v) . '::uuid'
                : sql_quote($v);
        } @EVENT_COLS) . ')';
    }
    my $sql = 'INSERT INTO audit_events (' . join(', ', @EVENT_COLS) . ') VALUES '
            . join(', ', @values) . ' RETURNING seq, id, dp_ts(at)';
    my $out = psql_must($sql);
    my @lines = grep { length } split /\n/, $out;
    die "audit_insert_events: " . scalar(@lines) . ' rows back for ' . scalar(@rows) . "\n"
        unless @lines == @rows;
    my @events;
    for my $i (0 .. $#rows) {
        my ($seq, $id, $at) = split /\|/, $lines[$i], -1;
        my %e = (seq => $seq, id => $id, at => $at, actorType => 'anonymous',
                 outcome => 'success', action => 'test.event');
        for my $c (grep { $_ ne 'at' && $_ ne 'request_id' } @EVENT_COLS) {
            $e{ $EVENT_KEY{$c} } = $rows[$i]{$c} if exists $rows[$i]{$c};
        }
        $e{$_} //= undef for @{ EVENT_KEYS() };
        push @events, \%e;
    }
    return @events;
}

# csv_parse($text) -> list of records (arrayrefs of cells), or dies when the text is not
# RFC 4180 CSV with CRLF record ends.
sub csv_parse {
    my ($text) = @_;
    my (@records, @cells);
    my $pos = 0;
    my $len = length $text;
    while ($pos < $len) {
        my $cell;
        if (substr($text, $pos, 1) eq '"') {
            $pos++;
            $cell = '';
            while (1) {
                my $q = index($text, '"', $pos);
                die "csv_parse: unterminated quoted cell at $pos\n" if $q < 0;
                $cell .= substr($text, $pos, $q - $pos);
                $pos = $q + 1;
                last unless substr($text, $pos, 1) eq '"';
                $cell .= '"';
                $pos++;
            }
        }
        else {
            substr($text, $pos) =~ /^([^,"\r\n]*)/;
            $cell = $1;
            $pos += length $cell;
        }
        push @cells, $cell;
        my $sep = substr($text, $pos, 1);
        if ($sep eq ',') {
            $pos++;
            push @cells, '' if $pos == $len;    # a trailing empty cell before the end
            next;
        }
        die "csv_parse: expected CRLF at $pos, found " . sprintf('%vd', substr($text, $pos, 2)) . "\n"
            unless substr($text, $pos, 2) eq "\r\n";
        $pos += 2;
        push @records, [@cells];
        @cells = ();
    }
    die "csv_parse: the last record has no CRLF\n" if @cells;
    return @records;
}

# csv_cell_for($value) -> the CSV cell the report writes for a JSON value: '' for null, and a
# leading apostrophe before = + - @ TAB CR (formula neutralisation).
sub csv_cell_for {
    my ($v) = @_;
    return '' unless defined $v;
    return $v =~ /^[=+\-\@\t\r]/ ? "'$v" : $v;
}

1;
