/* dp_cookie: what cookie sessions need that is not httpd's business: reading one cookie out of
 * a Cookie header, and the CSRF token bound to a session. Pure C, no httpd headers. */
#ifndef DP_COOKIE_H
#define DP_COOKIE_H

#include <apr_pools.h>

/* The value of the first non-empty cookie called name in a Cookie header value (pairs split
 * by ';' or ',', blanks around names and values ignored, one pair of double quotes around a
 * value removed), copied into the pool; NULL when there is none. Names match exactly. */
const char *dp_cookie_get(apr_pool_t *p, const char *header, const char *name);

/* The CSRF token of the session jti: lower-case hex of HMAC-SHA256(key, "csrf:" jti), so it
 * cannot be made for another session without the key. NULL if OpenSSL fails. */
const char *dp_cookie_csrf(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                           const char *jti);

#endif
