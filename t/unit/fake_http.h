/* fake_http: the unit tests' hold on the local services their HTTP clients talk to.
 *
 * A fake is a program that listens on 127.0.0.1 and says so on stdout: the fakes in
 * t/fakes/ (shared with the API tests) print "ready <port>" once listening, answer from
 * their own route tables and keep a log of what they received (GET /__requests), a mode
 * (POST /__mode?mode=M) and a reset (POST /__reset); `openssl s_server` prints "ACCEPT".
 * A dp_fake runs one as a child of the test binary (it dies with the binary, even a crashed
 * one), gives its URLs, calls its control endpoints and stops it.
 *
 * Each start, each dp_fake_call and the teardown are checks (dp_test.h): a failure is
 * recorded naming what went wrong, and the caller may simply return. */
#ifndef DP_FAKE_HTTP_H
#define DP_FAKE_HTTP_H

#include <apr_pools.h>
#include <jansson.h>
#include <sys/types.h>

typedef struct dp_fake {
    pid_t pid;  /* the running process, or 0 */
    int port;   /* where it listens on 127.0.0.1 */
    int out_fd; /* the read end of its stdout, or -1 */
} dp_fake;

#define DP_FAKE_NONE                                                                               \
    {                                                                                              \
        0, 0, -1                                                                                   \
    }

/* Flags of dp_fake_spawn. */
#define DP_FAKE_QUIET 1 /* stdin and stderr to /dev/null (else inherited) */

/* A loopback port nobody listened on a moment ago (bound, then closed), or 0. */
int dp_fake_free_port(void);

/* The fake named file (e.g. "stripe_fake.pl"): the path in environment variable env_var
 * when set, else t/fakes/file next to the cases directory. */
const char *dp_fake_script(apr_pool_t *p, const char *cases_dir, const char *env_var,
                           const char *file);

/* Run argv (argv[0] looked up on PATH; NULL-terminated) and wait up to ms for a line on its
 * stdout: with ready_text NULL, "ready <port>", which sets f->port; else any line holding
 * ready_text (f->port is then the caller's to set). A fake still running in f is stopped
 * first. One check: 1 once ready; 0 (a failed check) when it did not start. */
int dp_fake_spawn(dp_fake *f, const char *const *argv, const char *ready_text, int flags, int ms);

/* SIGTERM, wait, close its stdout; nothing when none runs. */
void dp_fake_stop(dp_fake *f);

/* The last stop of a suite: two checks that the fake was still serving (it exits through
 * the SIGTERM sent here, not on its own), then dp_fake_stop. */
void dp_fake_teardown(dp_fake *f);

/* http://127.0.0.1:<port><path> */
const char *dp_fake_url(apr_pool_t *p, const dp_fake *f, const char *path);

/* One request to the fake (body NULL: none) that must answer 200 with JSON: the parsed
 * answer (tied to p), or NULL after a failed check (one check when it answered 200). */
json_t *dp_fake_call(apr_pool_t *p, const dp_fake *f, const char *method, const char *path,
                     const char *body);

/* GET /__requests as an array (empty when the fake answered anything else). */
json_t *dp_fake_log(apr_pool_t *p, const dp_fake *f);

#endif
