# Sessions and lockouts live in PostgreSQL: what one node decides, the other knows at once.
# The requests go to the nodes directly, around the load balancer.
use strict;
use warnings;
use Test::More;
use Cluster;

my $pr = practice(clients => 1);
my $c = $pr->{clients}[0];

# a session from node1, used on node2, ended on node1: node2 refuses it at the next request
my $in = api(node(1), POST => '/api/auth/login', json => { email => $c->{email}, password => Cluster::password() });
is($in->{s}, 200, 'login on node1');
my $tok = $in->{d}{token};
is(api(node(2), GET => '/api/auth/me', token => $tok)->{s}, 200, 'node2 accepts the session node1 issued');
is(api(node(1), POST => '/api/auth/logout', token => $tok)->{s}, 204, 'logout on node1');
my $me = api(node(2), GET => '/api/auth/me', token => $tok);
is($me->{s}, 401, 'node2 refuses the session ended on node1, at the next request');
ok(is_json_error($me), 'as a JSON error');
is(api(node(1), GET => '/api/auth/me', token => $tok)->{s}, 401, 'so does node1');

# failed logins on node1 lock the account; node2 holds the lock, even for the right password
my $locked;
for (1 .. 10) {
    my $r = api(node(1), POST => '/api/auth/login', json => { email => $c->{email}, password => 'wrong-password-1' });
    if ($r->{s} == 429) { $locked = 1; last }
    is($r->{s}, 401, 'a wrong password on node1') or last;
}
ok($locked, 'node1 locks the account after repeated failures');
my $r = api(node(2), POST => '/api/auth/login', json => { email => $c->{email}, password => Cluster::password() });
is($r->{s}, 429, 'node2 refuses the right password while the account is locked');
is($r->{d}{code}, 'rate_limited', 'with code rate_limited');

done_testing;
