/* dp_worker: a background thread in each httpd child that runs one job every few seconds
 * (the audit sealer, the mail delivery), and sooner when a request asks it to. Started by a
 * child_init hook; stopped and joined before the child's pool goes (a pre-cleanup, so before
 * mod_dbd's own pools), also across graceful restarts. The job runs with a pool of its own
 * allocator, cleared after every run, so a large run gives its memory back. */
#ifndef DP_WORKER_H
#define DP_WORKER_H

#include <httpd.h>

typedef struct dp_worker dp_worker;

/* One run of the job: p is cleared when it returns. */
typedef void (*dp_worker_fn)(dp_worker *w, void *baton, apr_pool_t *p);

/* Start the thread: fn(baton) every interval_s seconds until the child goes. max_free:
 * bytes the job's allocator keeps between runs. APR_SUCCESS, or why not (the caller logs). */
apr_status_t dp_worker_start(apr_pool_t *pchild, int interval_s, apr_size_t max_free,
                             dp_worker_fn fn, void *baton, dp_worker **out);

/* Run the job now rather than at its next time (from any thread; never blocks on the job). */
void dp_worker_kick(dp_worker *w);

/* 1 once the child is going away: a long run should stop at its next step. */
int dp_worker_stopping(dp_worker *w);

/* A job's run that fails is a warning (the database or the mail server may just be away; the
 * next run retries), logged when it starts failing and again every rewarn_s seconds while it
 * lasts, and once at INFO when it works again. The job logs with its own message ids. */
typedef struct dp_worker_health {
    int failing;       /* the last run failed */
    apr_time_t warned; /* when the last warning was logged */
} dp_worker_health;

typedef enum { DP_HEALTH_QUIET, DP_HEALTH_WARN, DP_HEALTH_RECOVERED } dp_health_say;

/* Record how a run went (failed: 1); answers what to log now. */
dp_health_say dp_worker_health_update(dp_worker_health *h, int failed, int rewarn_s);

#endif
