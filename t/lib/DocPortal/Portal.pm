package DocPortal::Portal;
# The portal's browser tests (portal/e2e/*.spec.ts, Playwright driving Debian's chromium) run
# from an Apache::Test file against the suite's server, and their results come back as TAP.
#
#   portal_missing()             -> undef when node, chromium, the built portal and its test
#                                   packages are all there, else a sentence saying what is not
#   portal_require()             plans skip_all with that sentence, or (in CI, CI=true) fails:
#                                   there a missing browser is a broken machine, not a choice
#   playwright_tap(%opt)         runs the specs against base_url (with DP_SMTP_DIR passed on,
#                                   so they read the mailed links) and reports one TAP test per
#                                   browser test; opt: base_url, files (spec file names,
#                                   default all), out (a scratch directory)
use strict;
use warnings;

use Exporter 'import';
use Cwd ();
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;
use JSON::PP ();
use Test::More ();
use Time::HiRes qw(time);

our @EXPORT_OK = qw(portal_missing portal_require playwright_tap portal_dir);

my $ROOT = Cwd::abs_path(File::Spec->rel2abs(dirname(__FILE__) . '/../../..'));

sub portal_dir { return "$ROOT/portal" }

sub _which {
    my ($name) = @_;
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/$name" if length $d && -x "$d/$name";
    }
    return undef;
}

# Debian's chromium, or the one CHROMIUM names
sub chromium {
    my $c = $ENV{CHROMIUM} // _which('chromium');
    return defined $c && -x $c ? $c : undef;
}

sub portal_missing {
    my $dir = portal_dir();
    return 'node is not installed (bash build/deps.sh --test)' unless _which('node');
    return 'chromium is not installed (bash build/deps.sh --test)' unless chromium();
    return 'the portal is not built (make portal)' unless -f "$ROOT/build/out/portal/index.html";
    return 'the portal\'s test packages are not installed (make portal)'
        unless -f "$dir/node_modules/\@playwright/test/cli.js"
            && -d "$dir/node_modules/\@axe-core/playwright";
    return undef;
}

sub portal_require {
    my $missing = portal_missing() or return;
    if (($ENV{CI} // '') eq 'true') {
        Test::More::plan(tests => 1);
        Test::More::fail("the portal's browser tests can run (CI=true): $missing");
        exit 1;
    }
    Test::More::plan(skip_all => "browser tests not run: $missing");
}

# The tests of a Playwright JSON report, depth first: [title path, status, errors]
sub _tests_of {
    my ($suite, $path, $out) = @_;
    my @here = (@$path, length($suite->{title} // '') ? $suite->{title} : ());
    for my $spec (@{ $suite->{specs} || [] }) {
        for my $t (@{ $spec->{tests} || [] }) {
            my @errors = map { @{ $_->{errors} || [] } } @{ $t->{results} || [] };
            my $secs = 0;
            $secs += ($_->{duration} // 0) / 1000 for @{ $t->{results} || [] };
            push @$out, { title => join(' > ', @here, $spec->{title}), status => $t->{status},
                          errors => \@errors, seconds => $secs };
        }
    }
    _tests_of($_, \@here, $out) for @{ $suite->{suites} || [] };
    return $out;
}

sub playwright_tap {
    my (%o) = @_;
    my $dir = portal_dir();
    my $out = $o{out} // "$ROOT/t/logs/portal-e2e";
    make_path($out);
    my $report = "$out/report.json";
    unlink $report;
    local $ENV{PORTAL_BASE_URL} = $o{base_url};
    local $ENV{PORTAL_E2E_OUT} = "$out/results";
    local $ENV{PORTAL_E2E_REPORT} = $report;
    local $ENV{CHROMIUM} = chromium();
    local $ENV{PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD} = 1;
    local $ENV{PLAYWRIGHT_BROWSERS_PATH} = "$out/no-browsers";    # never a downloaded one
    my @cmd = ('node', "$dir/node_modules/\@playwright/test/cli.js", 'test',
               '--config', "$dir/e2e/playwright.config.ts", @{ $o{files} || [] });
    chomp(my $version = `node --version 2>&1` // '?');
    Test::More::note("playwright with node $version, $ENV{CHROMIUM}");
    my $t0 = time;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        chdir $dir or die "$dir: $!";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or die "exec node: $!";
    }
    my @lines = <$fh>;
    close $fh;
    my $rc = $? >> 8;
    Test::More::note(sprintf 'playwright: exit %d after %.1f s', $rc, time - $t0);

    my $data = eval {
        open my $r, '<', $report or die "$report: $!\n";
        local $/;
        JSON::PP->new->decode(<$r>);
    };
    if (!$data) {
        Test::More::fail('the browser tests ran and wrote their report');
        Test::More::diag($@, @lines);
        return;
    }
    my $tests = [];
    _tests_of($_, [], $tests) for @{ $data->{suites} || [] };
    Test::More::fail('the browser tests ran') unless @$tests;
    for my $e (@{ $data->{errors} || [] }) {
        Test::More::fail('playwright: ' . ($e->{message} // 'an error outside the tests'));
    }
    for my $t (@$tests) {
        my $name = sprintf 'browser: %s (%.1f s)', $t->{title}, $t->{seconds};
        if ($t->{status} eq 'skipped') {
            SKIP: { Test::More::skip($name, 1) }
            next;
        }
        Test::More::ok($t->{status} eq 'expected', $name)
            or Test::More::diag(map { ($_->{message} // '') . "\n" . ($_->{stack} // '') } @{ $t->{errors} });
    }
    Test::More::diag(@lines) if $rc != 0;
    return $tests;
}

1;
