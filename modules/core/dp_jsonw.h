/* dp_jsonw: a JSON writer that appends straight into one growing pool buffer, for answers
 * of many rows (lists of appointments, messages). Building a jansson tree for such an answer
 * costs a malloc and a free per value and a hash insert per key, then a second walk to print
 * it: about half of httpd's CPU for a 50-row list. The writer's output is byte for byte what
 * dp_json_dump prints for the same values (compact, keys in the order written, strings
 * escaped as jansson escapes them, money as dp_json_set_money gives it), so an endpoint can
 * switch without its answers changing. Pure C, no httpd headers.
 *
 * Values and keys are written in document order; commas come by themselves. Nesting is
 * limited to DP_JW_DEPTH levels: deeper writes are ignored and dp_jw_finish answers NULL. */
#ifndef DP_JSONW_H
#define DP_JSONW_H

#include <apr_pools.h>

#define DP_JW_DEPTH 16

typedef struct dp_jw {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap;
    int depth;     /* open objects and arrays */
    int after_key; /* a key was written: the next value follows it without a comma */
    int broken;    /* nesting too deep or closed unopened */
    unsigned char has_items[DP_JW_DEPTH]; /* per level: an item written yet; [ or { */
} dp_jw;

/* A writer whose buffer starts at `hint` bytes (it doubles as needed). */
dp_jw *dp_jw_make(apr_pool_t *p, apr_size_t hint);

void dp_jw_object(dp_jw *w); /* { */
void dp_jw_array(dp_jw *w);  /* [ */
void dp_jw_end(dp_jw *w);    /* } or ], whichever is open */

void dp_jw_key(dp_jw *w, const char *key);
void dp_jw_str(dp_jw *w, const char *s); /* a string, or null when s is NULL */
void dp_jw_int(dp_jw *w, long long v);
void dp_jw_bool(dp_jw *w, int v);
void dp_jw_null(dp_jw *w);
/* cents / 100: an integer when whole, else at most two decimals; null when !present */
void dp_jw_money(dp_jw *w, long long cents, int present);

/* Bytes as they are, with no comma before them (dp_json_dump uses a writer as its buffer). */
void dp_jw_raw(dp_jw *w, const char *s, apr_size_t n);

/* key and value in one call */
void dp_jw_kstr(dp_jw *w, const char *key, const char *s);
void dp_jw_kint(dp_jw *w, const char *key, long long v);

/* The document (NUL-terminated) and its length; NULL when it is not complete and well
 * nested. */
const char *dp_jw_finish(dp_jw *w, apr_size_t *len);

#endif
