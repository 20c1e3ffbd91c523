# A second httpd with the module, started from a minimal configuration beside the suite's own
# server: for startup refusals and for configurations the suite's server does not have
# (Google Meet against a local fake).
package DocPortal::Server;
use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ':sys_wait_h';

our @EXPORT_OK = qw(free_port start_httpd stop_httpd http_get_raw);

my $HTTPD = $ENV{DP_HTTPD} // '/usr/sbin/apache2';    # build/test.sh
my $MODS  = '/usr/lib/apache2/modules';

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die $!;
    my $p = $s->sockport;
    close $s;
    return $p;
}

# start_httpd(name => ..., params => DBDParams, extra => directives, dir => tempdir,
#             secs => how long to wait, until => sub { ready? }($port),
#             mail => mail transport directives (default: DocPortalMailDir "$dir/mail", a
#                     directory made writable for the children; '' for none),
#             mpm => directives that replace the StartServers .. MaxSpareThreads block,
#             accounts => account and booking directives (default: verified email not
#                     required, per-address and booking limits the suite stays under, as on
#                     the suite's main server; a directive in extra overrides them))
# Returns a hash: status (exit status, or undef while it runs), pid, port, log (text so far).
sub start_httpd {
    my (%o) = @_;
    my $dir  = $o{dir} // tempdir(CLEANUP => 1);
    my $port = free_port();
    my $name = $o{name};
    my $log  = "$dir/$name.log";
    my $user = $> == 0 ? "User nobody\nGroup nogroup\n" : '';
    # the suite's message key unless the caller brings its own ring (keys => '...')
    my $keys = $o{keys} // "DocPortalMessageKey t1 file:$ENV{DOCPORTAL_MESSAGE_KEY_FILE} current";
    # audit chain: the suite's audit key unless the caller brings its own (audit => ''); the
    # sealer's periods and every anonymous refusal its own row, as on the suite's server
    my $audit = $o{audit} // join("\n", "DocPortalAuditKeyFile $ENV{DOCPORTAL_AUDIT_KEY_FILE}",
                                  'DocPortalAuditSealInterval 1',
                                  'DocPortalAuditSweepInterval 10',
                                  'DocPortalAnonymousAuditLimit 100000');
    chmod 0755, $dir;
    # outbound mail: the module refuses to start without a transport
    my $mail = $o{mail};
    if (!defined $mail) {
        mkdir "$dir/mail" unless -d "$dir/mail";
        chmod 0777, "$dir/mail";
        $mail = qq{DocPortalMailDir "$dir/mail"};
    }
    my $accounts = $o{accounts} // join("\n", 'DocPortalRequireVerifiedEmail Off',
                                        'DocPortalRegisterLimit 100000',
                                        'DocPortalPasswordResetLimit 100000',
                                        'DocPortalMaxPendingPerClient 100000',
                                        'DocPortalBookingHorizonDays 3650');
    my $mpm = $o{mpm} // <<'MPM';
StartServers 1
ServerLimit 1
ThreadsPerChild 5
MaxRequestWorkers 5
MinSpareThreads 1
MaxSpareThreads 5
MPM
    open my $fh, '>', "$dir/$name.conf" or die $!;
    print $fh <<"CONF";
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/$name.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$log"
LogLevel warn
$user
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule dbd_module $MODS/mod_dbd.so
LoadModule docportal_module $ENV{DOCPORTAL_MODULE}
$mpm
DBDriver pgsql
DBDParams "$o{params}"
$keys
$audit
$mail
$accounts
$o{extra}
<Location /api>
    SetHandler docportal-api
</Location>
CONF
    close $fh;
    my $pid = fork // die $!;
    if (!$pid) {
        open STDOUT, '>>', $log;
        open STDERR, '>>', $log;
        exec $HTTPD, '-f', "$dir/$name.conf", '-DFOREGROUND';
        exit 127;
    }
    my %srv = (pid => $pid, port => $port, logfile => $log);
    for (1 .. ($o{secs} || 10) * 10) {
        if (waitpid($pid, WNOHANG) == $pid) { $srv{status} = $? >> 8; last }
        last if $o{until} && $o{until}->($port);
        select undef, undef, undef, 0.1;
    }
    $srv{log} = _slurp($log);
    return \%srv;
}

sub stop_httpd {
    my ($srv) = @_;
    return if defined $srv->{status};
    kill 'TERM', $srv->{pid};
    waitpid($srv->{pid}, 0);
    $srv->{status} = $? >> 8;
    $srv->{log} = _slurp($srv->{logfile});
}

# Is anything answering on the port yet?
sub listening {
    my ($port) = @_;
    return IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1) ? 1 : 0;
}

sub http_get_raw {
    my ($port, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or return '';
    print $s "GET $path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    local $/;
    return <$s> // '';
}

sub _slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return <$fh> // '';
}

1;
