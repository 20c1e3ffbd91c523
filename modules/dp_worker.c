/* A background thread per child (see dp_worker.h). */
#include "dp_worker.h"

#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

struct dp_worker {
    apr_pool_t *pool; /* the thread's, with its own allocator */
    apr_thread_t *thread;
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *cv;
    int stop;   /* under mu: the child is going away */
    int kicked; /* under mu: run now */
    apr_interval_time_t every;
    dp_worker_fn fn;
    void *baton;
};

int dp_worker_stopping(dp_worker *w)
{
    int stop;
    apr_thread_mutex_lock(w->mu);
    stop = w->stop;
    apr_thread_mutex_unlock(w->mu);
    return stop;
}

void dp_worker_kick(dp_worker *w)
{
    if (w == NULL) {
        return;
    }
    apr_thread_mutex_lock(w->mu);
    w->kicked = 1;
    apr_thread_cond_signal(w->cv);
    apr_thread_mutex_unlock(w->mu);
}

/* Ends by returning, which APR supports like apr_thread_exit (the worker_stop join ignores the
 * exit status): apr_thread_exit's pthread_exit would leave this frame without unwinding it, and
 * AddressSanitizer sees its stale redzones when the thread's exit code reuses the stack. */
static void *APR_THREAD_FUNC worker_main(apr_thread_t *thd, void *data)
{
    dp_worker *w = data;
    apr_pool_t *iter;

    if (apr_pool_create(&iter, w->pool) != APR_SUCCESS) {
        return NULL;
    }
    apr_thread_mutex_lock(w->mu);
    while (!w->stop) {
        apr_time_t due = apr_time_now() + w->every;
        while (!w->stop && !w->kicked && apr_time_now() < due) {
            apr_thread_cond_timedwait(w->cv, w->mu, due - apr_time_now());
        }
        if (w->stop) {
            break;
        }
        w->kicked = 0;
        apr_thread_mutex_unlock(w->mu);
        w->fn(w, w->baton, iter);
        apr_pool_clear(iter);
        apr_thread_mutex_lock(w->mu);
    }
    apr_thread_mutex_unlock(w->mu);
    return NULL;
}

/* Wake the thread, let it finish the step it is in, and join it. */
static apr_status_t worker_stop(void *data)
{
    dp_worker *w = data;
    apr_status_t rv;

    apr_thread_mutex_lock(w->mu);
    w->stop = 1;
    apr_thread_cond_signal(w->cv);
    apr_thread_mutex_unlock(w->mu);
    apr_thread_join(&rv, w->thread);
    return APR_SUCCESS;
}

apr_status_t dp_worker_start(apr_pool_t *pchild, int interval_s, apr_size_t max_free,
                             dp_worker_fn fn, void *baton, dp_worker **out)
{
    dp_worker *w = apr_pcalloc(pchild, sizeof(*w));
    apr_allocator_t *alloc = NULL;
    apr_status_t rv;

    *out = NULL;
    w->every = apr_time_from_sec(interval_s);
    w->fn = fn;
    w->baton = baton;
    rv = apr_allocator_create(&alloc);
    if (rv == APR_SUCCESS && (rv = apr_pool_create_ex(&w->pool, pchild, NULL, alloc))) {
        apr_allocator_destroy(alloc);
    }
    if (rv == APR_SUCCESS) {
        apr_allocator_owner_set(alloc, w->pool);
        apr_allocator_max_free_set(alloc, max_free);
        rv = apr_thread_mutex_create(&w->mu, APR_THREAD_MUTEX_DEFAULT, pchild);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_thread_cond_create(&w->cv, pchild);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_thread_create(&w->thread, NULL, worker_main, w, w->pool);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_pool_pre_cleanup_register(pchild, w, worker_stop);
    *out = w;
    return APR_SUCCESS;
}

dp_health_say dp_worker_health_update(dp_worker_health *h, int failed, int rewarn_s)
{
    apr_time_t now = apr_time_now();
    if (failed) {
        int warn = !h->failing || now - h->warned >= apr_time_from_sec(rewarn_s);
        h->failing = 1;
        if (warn) {
            h->warned = now;
            return DP_HEALTH_WARN;
        }
        return DP_HEALTH_QUIET;
    }
    if (h->failing) {
        h->failing = 0;
        return DP_HEALTH_RECOVERED;
    }
    return DP_HEALTH_QUIET;
}
