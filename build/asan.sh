#!/usr/bin/env bash
# The running half of `make test-asan`: the unit tests and the API suite against the module
# built by clang with AddressSanitizer and UBSan (-fsanitize=address,undefined
# -fno-sanitize-recover=undefined, the shared runtime) in OUT. Debian's httpd is not
# instrumented, so the ASan runtime must be the first library of the process: OUT/httpd is a
# small wrapper that execs /usr/sbin/apache2 with clang's runtime in LD_PRELOAD and the
# sanitizer options in its environment at exec, which its children inherit (PassEnv/SetEnv
# come too late for the loader). The runtime reads its options once, at httpd's start as root
# (a child that dropped to nobody could not read /proc/self/environ). The suite's own server
# (Apache::Test's -httpd) and the second servers the tests start (t/lib/DocPortal/Server.pm,
# DP_HTTPD) both go through it; the CLI tools the suite runs (dp-rekey, dp-audit-verify,
# dp-test-seal-v1) are the instrumented ones in OUT (DP_TOOLS).
#
# Every report goes to a file in VAR/sanitizer-reports/NAME (log_path: asan.PID per process
# that reports); the run fails when any file appears there (an ASan error, a UBSan "runtime
# error", a LeakSanitizer report), or when a test fails. Options:
#   log_path             ASan's and UBSan's reports (UBSan is part of clang's ASan runtime)
#   abort_on_error=0     a reporting process exits with exitcode=23 instead of abort(): no core
#                        file; httpd's parent logs the child's exit and starts another
#   halt_on_error=1      (UBSan) stop at the first finding, as -fno-sanitize-recover does
#   print_stacktrace=1   (UBSan) with the stack that led to it
#   handle_segv=1, handle_abort=1   a SIGSEGV/SIGBUS or an abort() (assert, APR's abort
#                        function) in httpd is reported with its stack, and so fails the run
#   strip_path_prefix    stacks name files relative to the checkout
#   detect_leaks=1 for the unit tests and the CLI tools (they free what they allocate; no
#                        suppression needed), detect_leaks=0 for httpd: with LeakSanitizer on,
#                        every httpd process reports at exit the configuration-lifetime memory
#                        of httpd and its libraries, which a child never frees because it exits
#                        without destroying the configuration pool (seen: OpenSSL objects of
#                        mod_ssl's SSL_CTX and certificates, 26 KB in 407 blocks per child;
#                        pcre2 regexes; the configuration pool's allocator). The stacks end in
#                        the first Debian library (built without frame pointers), so a
#                        suppression could only name whole libraries (libcrypto, libapr), which
#                        would hide the module's own leaks through them as well. Leaks per
#                        request are valgrind's (build/bench/leakcheck.sh, docs/performance.md).
#                        ASAN_HTTPD_LEAKS=1 turns LeakSanitizer on for httpd, to look.
# Usage: build/asan.sh OUT [t/api/FILE.t ...]   (no file: the whole suite)
# DP_TEST_PASSES (build/test.sh) chooses the passes; the default here is the plain pass.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$(cd "$1" && pwd)
shift

state=$(bash build/var.sh "$root")
reports=$state/sanitizer-reports/$(basename "$out")
rm -rf "$reports"
mkdir -p "$reports"
chmod 755 "$state/sanitizer-reports"
chmod 1777 "$reports" # httpd's children write as nobody

runtime=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
[ -f "$runtime" ] || { echo "asan.sh: no ASan runtime ($runtime): bash build/deps.sh --fuzz" >&2; exit 1; }

common="log_path=$reports/asan:abort_on_error=0:exitcode=23:handle_segv=1:handle_abort=1:strip_path_prefix=$root/"
export UBSAN_OPTIONS="$common:print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="$common:detect_leaks=1"
httpd_asan="$common:detect_leaks=${ASAN_HTTPD_LEAKS:-0}"

cat >"$out/httpd" <<EOF
#!/bin/sh
# Written by build/asan.sh: Debian's httpd with the ASan runtime of $out/mod_docportal.so first
LD_PRELOAD=$runtime\${LD_PRELOAD:+:\$LD_PRELOAD} ASAN_OPTIONS='$httpd_asan' UBSAN_OPTIONS='$UBSAN_OPTIONS' \\
    exec /usr/sbin/apache2 "\$@"
EOF
chmod 755 "$out/httpd"

# What the reports say: per file its first error line and the first frames in our code.
verdict() {
    local files f
    files=$(find "$reports" -type f | sort)
    if [ -z "$files" ]; then
        echo "asan: no sanitizer report ($1)"
        return 0
    fi
    echo "asan: FAILED: $(echo "$files" | wc -l) sanitizer report(s) in $reports ($1):" >&2
    for f in $files; do
        echo "  $f" >&2
        grep -m1 -E 'ERROR: |runtime error:' "$f" | sed 's/^/    /' >&2 || true
        grep -m2 -E '#[0-9]+ .*(modules/|mod_docportal\.c|build/|t/unit/|t/tools/)' "$f" | sed 's/^/    /' >&2 || true
    done
    return 1
}

start=$(date +%s)
echo "== unit tests (ASan, UBSan, LeakSanitizer) =="
"$out/unit-tests" t/unit/cases
verdict "unit tests" || exit 1

echo "== API tests under ASan and UBSan (module $out/mod_docportal.so) =="
rc=0
DOCPORTAL_MODULE=$out/mod_docportal.so DP_HTTPD=$out/httpd DP_TOOLS=$out \
    DP_TEST_PASSES=${DP_TEST_PASSES:-plain} bash build/test.sh "$@" || rc=$?
secs=$(($(date +%s) - start))
verdict "API suite, exit $rc, ${secs}s" || exit 1
[ "$rc" -eq 0 ] || { echo "asan: the API suite failed (exit $rc)" >&2; exit "$rc"; }
echo "asan: passed in ${secs}s"
