package DocPortal::Db;
# The suite's database straight through psql: as the superuser ($DP_PSQL), as the app role
# ($DP_PSQL_APP), the owner's URI, and the audit rows a request wrote.
use strict;
use warnings;

use Exporter 'import';
use IPC::Open3 qw(open3);
use Symbol qw(gensym);
use Text::ParseWords qw(shellwords);

our @EXPORT = qw(psql psql_app sql_quote psql_must owner_url audit_events_for audit_single);
# _run_psql($command_prefix, SQL): psql as another role (the tests call it as
# DocPortal::Test::_run_psql); psql_rows: psql's output as rows; audit_problems: the check
# behind audit_single
our @EXPORT_OK = qw(_run_psql psql_rows audit_problems);

sub sql_quote {
    my ($s) = @_;
    $s =~ s/'/''/g;
    return "'$s'";
}

sub _run_psql {
    my ($prefix, $sql) = @_;
    die "psql command prefix not set\n" unless defined $prefix && length $prefix;
    my @cmd = (shellwords($prefix), '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', $sql);
    my $err = gensym;
    my $pid = open3(my $in, my $out, $err, @cmd);
    close $in;
    # psql's stderr is small: read stdout fully, then stderr
    my $stdout = do { local $/; <$out> } // '';
    my $stderr = do { local $/; <$err> } // '';
    waitpid $pid, 0;
    my $rc = $? >> 8;
    chomp $stdout;
    return wantarray ? ($stdout, $rc, $stderr) : $stdout;
}

# psql(SQL): output of `$DP_PSQL -At -c SQL` (superuser); list context: (out, exit code, stderr)
sub psql     { _run_psql($ENV{DP_PSQL}, @_) }
# psql_app(SQL): same with the app role ($DP_PSQL_APP)
sub psql_app { _run_psql($ENV{DP_PSQL_APP}, @_) }

# psql_rows($psql_output, @columns) -> a hashref per line of `psql -At` output, its cells
# under the column names
sub psql_rows {
    my ($out, @cols) = @_;
    my @rows;
    for my $line (grep { length } split /\n/, $out) {
        my %r;
        @r{@cols} = split /\|/, $line, -1;
        push @rows, \%r;
    }
    return @rows;
}

# psql_must(SQL) -> stdout (superuser); dies with psql's stderr when it fails.
sub psql_must {
    my ($sql) = @_;
    my ($out, $rc, $err) = psql($sql);
    die "psql failed: $err\n$sql\n" if $rc;
    return $out;
}

# owner_url(): libpq URI of the database owner (the role dp-rekey runs as)
sub owner_url {
    my $url = `bash "$ENV{DP_PG_SH}" url owner`;
    die "owner_url: pg.sh url owner failed\n" if $? || !defined $url;
    chomp $url;
    return $url;
}

# ---------------------------------------------------------------------------------------------
# Audit rows

# audit_events_for($request_id) -> list of hashrefs {seq, action, outcome, actor_id, actor_type,
# resource_type, resource_id, client_id, ip} (NULL as ''), in order.
sub audit_events_for {
    my ($rid) = @_;
    return () unless defined $rid && length $rid;
    my @cols = qw(seq action outcome actor_id actor_type resource_type resource_id client_id ip);
    my $out = psql(q{SELECT seq, action, outcome, coalesce(actor_id::text, ''), actor_type, }
                 . q{coalesce(resource_type, ''), coalesce(resource_id, ''), }
                 . q{coalesce(client_id::text, ''), coalesce(ip, '') }
                 . q{FROM audit_events WHERE request_id = } . sql_quote($rid) . q{ ORDER BY seq});
    return psql_rows($out, @cols);
}

# audit_problems($request_id, {column => want (string, or a Regexp)}) -> (\@problems, @rows):
# what keeps the audit rows of that request from being exactly one row that matches
sub audit_problems {
    my ($rid, $want) = @_;
    my @rows = audit_events_for($rid);
    my @p;
    push @p, scalar(@rows) . " audit rows for request_id '" . ($rid // 'undef') . "', expected 1"
        if @rows != 1;
    if (@rows) {
        my $r = $rows[0];
        for my $k (sort keys %$want) {
            my $w = $want->{$k};
            my $ok = ref $w eq 'Regexp' ? $r->{$k} =~ $w : $r->{$k} eq $w;
            push @p, "$k is '$r->{$k}', expected '$w'" unless $ok;
        }
    }
    return (\@p, @rows);
}

# audit_single($res_or_request_id, {column => want (string, or a Regexp)}, $name): exactly one
# audit row carries that request's X-Request-Id and it matches.
sub audit_single {
    my ($res, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $rid = ref $res ? $res->header('X-Request-Id') : $res;
    my ($p, @rows) = audit_problems($rid, $want);
    Test::More::ok(!@$p, $name)
        or Test::More::diag(join("\n", @$p, map { my $r = $_; join ' ', map { "$_=$r->{$_}" } sort keys %$r } @rows));
    return $rows[0];
}

1;
