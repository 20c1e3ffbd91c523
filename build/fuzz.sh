#!/usr/bin/env bash
# The running half of `make fuzz`: each harness OUT/fuzz_<name> for SECONDS seconds on a fresh
# copy of its seed corpus (t/fuzz/corpus/<name> -> OUT/corpus/<name>; the seeds in the repo are
# never rewritten), with t/fuzz/<name>.dict when there is one. A crash, a leak, undefined
# behaviour, a failed property or a timeout fails the run; what libFuzzer saved of the input
# is in OUT/artifacts/ and its log in OUT/<name>.log. Prints per target the corpus at the end
# (files, bytes), executions per second, coverage (cov: edges, ft: features) and runs, from
# libFuzzer's final stats.
# Usage: build/fuzz.sh OUT SECONDS NAME...
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$1
seconds=$2
shift 2

export UBSAN_OPTIONS=print_stacktrace=1
mkdir -p "$out/artifacts"
failed=()
rows=()
for name in "$@"; do
    work=$out/corpus/$name
    log=$out/$name.log
    rm -rf "$work"
    mkdir -p "$work"
    if [ -d "t/fuzz/corpus/$name" ]; then
        cp t/fuzz/corpus/"$name"/* "$work"/
    fi
    seeds=$(find "$work" -type f | wc -l)
    args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
        -artifact_prefix="$out/artifacts/$name-")
    [ ! -f "t/fuzz/$name.dict" ] || args+=(-dict="t/fuzz/$name.dict")
    printf 'fuzz: %-11s %ss from %s seeds ... ' "$name" "$seconds" "$seeds"
    rc=0
    "$out/fuzz_$name" "${args[@]}" "$work" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    # the last status line: "#N DONE cov: EDGES ft: FEATURES corp: ..."
    read -r cov ft < <(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 | awk '{print $2, $4}') || true
    files=$(find "$work" -type f | wc -l)
    bytes=$(find "$work" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (Address|Leak|libFuzzer)|runtime error:|property failed' "$log"; then
        echo "FAILED (exit $rc)"
        grep -E 'ERROR|runtime error|property failed|SUMMARY|Test unit written' "$log" | head -8 | sed 's/^/    /'
        failed+=("$name")
        continue
    fi
    echo "ok"
    rows+=("$(printf '%-11s %7s %9s %8s %6s %7s %10s' "$name" "$files" "$bytes" "${execs:-?}" \
        "${cov:-?}" "${ft:-?}" "${runs:-?}")")
done

echo
printf '%-11s %7s %9s %8s %6s %7s %10s\n' target corpus bytes exec/s cov ft runs
for row in ${rows[@]+"${rows[@]}"}; do
    echo "$row"
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in $out/artifacts, logs in $out/<name>.log)" >&2
    exit 1
fi
echo "fuzz: all ${#rows[@]} targets ran ${seconds}s each without a finding"
