/* dp_ics: an iCalendar document (RFC 5545) written straight into one growing pool buffer,
 * for the providers' calendar feed. Every property is one content line ended by CRLF and
 * folded so that no line is longer than 75 octets (a continuation line starts with a space,
 * and a fold never falls inside a UTF-8 sequence). TEXT values are escaped (backslash,
 * semicolon, comma, newline), and no value can carry a control character into the document,
 * so nothing a user typed can end a line or start a property. Pure C, no httpd headers. */
#ifndef DP_ICS_H
#define DP_ICS_H

#include <apr_pools.h>

#define DP_ICS_LINE_MAX 75 /* octets of a content line, CRLF excluded (RFC 5545 3.1) */
#define DP_ICS_UTC_LEN  16 /* "20270112T150000Z" */

typedef struct dp_ics {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap;
} dp_ics;

/* A writer whose buffer starts at `hint` bytes (it doubles as needed). */
dp_ics *dp_ics_make(apr_pool_t *p, apr_size_t hint);

/* NAME:value for values the caller composed (constants, numbers, identifiers): written as
 * given, less any control character (invalid UTF-8 becomes U+FFFD). name is the caller's
 * constant and may carry parameters ("REFRESH-INTERVAL;VALUE=DURATION"). */
void dp_ics_prop(dp_ics *w, const char *name, const char *value);

/* NAME:text for a TEXT value: escaped, invalid UTF-8 replaced by U+FFFD. */
void dp_ics_text(dp_ics *w, const char *name, const char *text);

/* NAME:n */
void dp_ics_int(dp_ics *w, const char *name, long long n);

/* NAME:yyyymmddThhmmssZ, the UTC form of a DATE-TIME. Returns 0; -1 (nothing written)
 * for an instant outside years 0001-9999. */
int dp_ics_time(dp_ics *w, const char *name, long long epoch_seconds);

/* NAME:uri for a URI value (not escaped: RFC 5545 3.3.13). Returns 0; -1 (nothing written)
 * when uri is NULL, empty, or holds anything but printable ASCII other than space, double
 * quote, < > \ ^ ` { | } (what RFC 3986 never allows in a URI). */
int dp_ics_uri(dp_ics *w, const char *name, const char *uri);

/* The document (NUL-terminated) and its length. */
const char *dp_ics_finish(dp_ics *w, apr_size_t *len);

/* Helpers, also for the glue and the tests. */

/* text escaped as a TEXT value: \ ; , become \\ \; \, ; a newline (LF, CRLF or a lone CR)
 * becomes \n; other control characters but TAB are dropped; invalid UTF-8 becomes U+FFFD. */
const char *dp_ics_escape(apr_pool_t *p, const char *text);

/* The UTC DATE-TIME of an instant into out (DP_ICS_UTC_LEN characters and a NUL). Returns 0,
 * or -1 outside years 0001-9999. */
int dp_ics_utc(char *out, long long epoch_seconds);

/* The host of an http(s) URL in lower case, for the domain part of UIDs; NULL when url is
 * NULL or not an http(s) URL with a host name of letters, digits, dots and hyphens. */
const char *dp_ics_domain(apr_pool_t *p, const char *url);

#endif
