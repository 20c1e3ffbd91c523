# The audit trail is append-only in the database itself: the app role (the one
# DBDParams names) may only INSERT and SELECT audit_events and the chain's tables; UPDATE,
# DELETE and TRUNCATE are refused by its grants, and the triggers refuse them even to the
# owner and to a superuser who does not switch them off. The app role cannot switch them off.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use DocPortal::Test;
use DocPortal::AuditChain;

# rows to aim at: an audit row and its seal and checkpoint (made by a request, then sealed)
my (undef, undef, $res) = register_provider();
is($res->code, 201, 'setup: a request that writes an audit row');
ok(wait_sealed(20), 'setup: and it is sealed');
my ($pos, $seq) = chain_head();
my $cp = psql(q{SELECT max(id) FROM audit_checkpoints});
ok($pos && $seq && $cp, "setup: seal at position $pos, event seq $seq, checkpoint $cp");

my %target = (
    audit_events      => "seq = $seq",
    audit_seals       => "position = $pos",
    audit_checkpoints => "id = $cp",
);
my %set = (audit_events => q{action = 'x'}, audit_seals => q{mac = sha256(mac)},
           audit_checkpoints => q{position = position + 1});

sub snapshot {
    return join ';', map { scalar psql("SELECT md5(t::text) FROM $_ t WHERE $target{$_}") } sort keys %target;
}
my $before = snapshot();

my $owner = 'psql -X -q ' . owner_url();
sub owner_psql { return DocPortal::Test::_run_psql($owner, @_) }

for my $table (sort keys %target) {
    my %sql = (
        UPDATE   => "UPDATE $table SET $set{$table} WHERE $target{$table}",
        DELETE   => "DELETE FROM $table WHERE $target{$table}",
        TRUNCATE => "TRUNCATE $table",
    );
    for my $op (qw(UPDATE DELETE TRUNCATE)) {
        my ($out, $rc, $err) = psql_app($sql{$op});
        isnt($rc, 0, "app role: $op on $table is refused");
        like($err, qr/permission denied for table $table/, "app role: $op on $table: permission denied");

        ($out, $rc, $err) = owner_psql($sql{$op});
        isnt($rc, 0, "owner: $op on $table is refused");
        like($err, qr/$table is append-only: $op refused/, "owner: $op on $table: the trigger refuses");

        ($out, $rc, $err) = psql($sql{$op});
        isnt($rc, 0, "superuser: $op on $table is refused");
        like($err, qr/$table is append-only: $op refused/, "superuser: $op on $table: the trigger refuses");
    }
    my ($n, $rc, $err) = psql_app("SELECT count(*) FROM $table");
    is($rc, 0, "app role: SELECT on $table is allowed") or diag($err);
}
is(snapshot(), $before, 'the rows are unchanged');

# INSERT is what the module (and its sealer) does
my ($out, $rc, $err) = psql_app(q{INSERT INTO audit_events (actor_type, action, outcome, request_id) }
                              . q{VALUES ('anonymous', 't505.insert', 'success', 't505') RETURNING seq});
is($rc, 0, 'app role: INSERT into audit_events is allowed') or diag($err);
ok(wait_sealed(20, q{e.request_id = 't505'}), 'and the row is sealed like any other');

# the triggers stay on: only a superuser may set session_replication_role
($out, $rc, $err) = psql_app(q{SET session_replication_role = replica});
isnt($rc, 0, 'app role: cannot switch the triggers off');
like($err, qr/permission denied to set parameter "session_replication_role"/, 'permission denied');
($out, $rc, $err) = psql_app(q{ALTER TABLE audit_events DISABLE TRIGGER ALL});
isnt($rc, 0, 'app role: cannot disable the triggers');

my ($vrc, $vout) = chain_verify();
is($vrc, 0, 'the chain verifies') or diag($vout);

done_testing();
