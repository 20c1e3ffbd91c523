package DocPortal::Routes;
# The route table as mod_docportal.c declares it, for the tests that walk every route.
# route_table() -> (list of {method, path, roles, flags, action, rtype, handler}, rows): roles
# is PUBLIC, PROVIDER, CLIENT or ANY (the DP_ROLE_ name without its prefix), flags the
# expression as written; rows counts the table's handlers, so that a caller can check that
# every row was understood.
use strict;
use warnings;
use Exporter 'import';
use FindBin;

our @EXPORT_OK = qw(route_table);

sub route_table {
    my $path = ($ENV{DP_ROOT} // "$FindBin::Bin/../..") . '/mod_docportal.c';
    open my $fh, '<', $path or die "open $path: $!\n";
    my $src = do { local $/; <$fh> };
    close $fh;
    my ($table) = $src =~ /static const dp_route routes\[\] = \{(.*?)\n\};/s
        or die "no route table in $path\n";
    $table =~ s{/\*.*?\*/}{}gs;
    my @routes;
    while ($table =~ /\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*DP_ROLE_([A-Z]+)\s*,\s*([^,]+?)\s*,
                      \s*(NULL|"[^"]*")\s*,\s*(NULL|"[^"]*")\s*,\s*(dp_\w+)\s*\}/gsx) {
        my ($method, $path, $roles, $flags, $action, $rtype, $handler) = ($1, $2, $3, $4, $5, $6, $7);
        s/"//g for $action, $rtype;
        push @routes, { method => $method, path => $path, roles => $roles, flags => $flags,
                        action => $action eq 'NULL' ? undef : $action,
                        rtype => $rtype eq 'NULL' ? undef : $rtype, handler => $handler };
    }
    my $rows = () = $table =~ /,\s*dp_\w+\s*\}/g;
    return (\@routes, $rows);
}

1;
