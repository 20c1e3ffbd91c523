#!/usr/bin/env bash
# `make test-cluster`: the cluster tests (t/cluster/*.t) against a cluster of build/cluster.sh,
# once with synchronous replication and once with asynchronous (CLUSTER_MODES="1 0"; 1 = sync).
# The cluster is started new for each mode and stopped on exit, pass or fail.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
state=$(bash build/var.sh "$root")
export DP_ROOT=$root DP_CLUSTER_DIR=$state/cluster
trap 'bash build/cluster.sh stop' EXIT
rc=0
for sync in ${CLUSTER_MODES:-1 0}; do
    echo "== cluster tests, $([ "$sync" = 1 ] && echo synchronous || echo asynchronous) replication =="
    CLUSTER_SYNC=$sync bash build/cluster.sh start
    CLUSTER_SYNC=$sync prove -I t/cluster/lib t/cluster/*.t || rc=1
done
exit $rc
