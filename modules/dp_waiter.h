/* dp_waiter: threads of one httpd child that wait, under one mutex, for work that another of
 * them does on their behalf (a shared round trip of reads, a batch of audit events). Each
 * waiting thread sleeps on a condition variable of its own, so the thread that finishes a
 * piece of work wakes the threads it was for and no others: a broadcast to every waiter would
 * wake them all to find, most of them, that their turn has not come, and on a busy child each
 * such wake-up is a context switch that costs more than the work it waits for.
 *
 * The condition variables are kept for the child's life and handed out again: a thread that
 * gave up waiting (a timeout) may still be signalled by the work it left, which then wakes the
 * next holder of that variable once for nothing; every wait is in a loop that checks its own
 * state, so such a wake-up is harmless. */
#ifndef DP_WAITER_H
#define DP_WAITER_H

#include <apr_pools.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

typedef struct dp_waiter {
    apr_thread_cond_t *cond;
    struct dp_waiter *next; /* in the room's free list */
} dp_waiter;

typedef struct dp_waitroom {
    apr_thread_mutex_t *lock; /* NULL when the room could not be made */
    apr_pool_t *pool;         /* the variables', used under the lock only */
    dp_waiter *free;
} dp_waitroom;

/* The room's lock and pool, from the child's pool. APR_SUCCESS, or why not (room->lock is then
 * NULL, and the caller does without). */
apr_status_t dp_waitroom_init(dp_waitroom *room, apr_pool_t *pchild);

/* With the lock held: a condition variable for the calling thread to wait on, NULL when none
 * could be made. */
dp_waiter *dp_waiter_take(dp_waitroom *room);

/* With the lock held: w back to the room, once its thread no longer waits. */
void dp_waiter_give(dp_waitroom *room, dp_waiter *w);

#endif
