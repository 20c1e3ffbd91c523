#include "dp_waiter.h"

apr_status_t dp_waitroom_init(dp_waitroom *room, apr_pool_t *pchild)
{
    apr_status_t rv;

    room->free = NULL;
    rv = apr_thread_mutex_create(&room->lock, APR_THREAD_MUTEX_DEFAULT, pchild);
    if (rv == APR_SUCCESS && (rv = apr_pool_create(&room->pool, pchild)) != APR_SUCCESS) {
        apr_thread_mutex_destroy(room->lock);
    }
    if (rv != APR_SUCCESS) {
        room->lock = NULL;
        return rv;
    }
    apr_pool_tag(room->pool, "dp_waitroom");
    return APR_SUCCESS;
}

dp_waiter *dp_waiter_take(dp_waitroom *room)
{
    dp_waiter *w = room->free;

    if (w != NULL) {
        room->free = w->next;
        return w;
    }
    /* at most one per thread of the child in each room: a thread waits in one place at a time */
    w = apr_palloc(room->pool, sizeof(*w));
    if (apr_thread_cond_create(&w->cond, room->pool) != APR_SUCCESS) {
        return NULL;
    }
    return w;
}

void dp_waiter_give(dp_waitroom *room, dp_waiter *w)
{
    w->next = room->free;
    room->free = w;
}
