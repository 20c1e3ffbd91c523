/* dp_mail: outbound mail. Composing an RFC 5322 message (plain UTF-8 text) whose headers no
 * input can break, and sending it over SMTP with libcurl.
 *
 * Every header value is refused (not cleaned) when it holds CR, LF or another control
 * character, so a value can never start a header of its own. Non-ASCII in the Subject or
 * the From display name is encoded as RFC 2047 words; the body goes as 8bit UTF-8 with CRLF
 * line ends.
 *
 * SMTP: smtps:// (TLS from the first byte) or smtp:// with STARTTLS required; plain smtp://
 * without TLS only to a loopback address. Peers and host names are verified, nothing but
 * smtp and smtps is spoken, and the whole exchange has a time limit. Errors are sentences
 * for the log that name the host and the SMTP reply code, never a recipient.
 *
 * curl_global_init must have run before any thread sends (see dp_http.h).
 * Pure C (APR, APR-util, libcurl), no httpd headers. */
#ifndef DP_MAIL_H
#define DP_MAIL_H

#include <apr_pools.h>

#define DP_MAIL_MAX_LINE 998 /* octets per line, CRLF excluded (RFC 5322 2.1.1) */

typedef struct dp_mail {
    const char *from; /* "addr@host" or "Display Name <addr@host>" */
    const char *to;   /* one bare address */
    const char *subject;
    const char *kind;       /* X-DocPortal-Kind: [a-z-]+ */
    const char *message_id; /* "<local@domain>" */
    long long date;         /* seconds since the epoch, for the Date header */
    const char *body;       /* UTF-8 text, LF or CRLF line ends */
} dp_mail;

/* 1 when s may be a header value: printable, no CR, LF or other control character. */
int dp_mail_header_safe(const char *s);

/* The address of a From value ("Name <a@b>" or "a@b"), or NULL when it has none or is not
 * safe in a header. */
const char *dp_mail_from_address(apr_pool_t *p, const char *from);

/* The domain of an address (after the last '@'), or NULL. */
const char *dp_mail_domain(const char *addr);

/* RFC 5322 date-time in UTC: "Sun, 06 Dec 2026 10:11:01 +0000". */
const char *dp_mail_date(apr_pool_t *p, long long epoch);

/* The message as sent, CRLF line ends. NULL with *err (a static sentence) when a header
 * value is unsafe or empty, or a body line is longer than DP_MAIL_MAX_LINE octets. */
const char *dp_mail_compose(apr_pool_t *p, const dp_mail *m, const char **err);

typedef struct dp_smtp_cfg {
    const char *url;  /* smtp://host[:port] or smtps://host[:port] */
    const char *user; /* AUTH user, or NULL for none */
    const char *password;
    long timeout_ms;               /* the whole exchange; <= 0: 30 s */
    const char *ca_file;           /* trust anchors instead of the system's, or NULL (tests) */
    int (*cancelled)(void *baton); /* polled during the exchange: non-zero aborts it */
    void *cancel_baton;
} dp_smtp_cfg;

/* Check an SMTP URL at configuration time: the scheme, a host, no path or credentials in
 * it. NULL, or a sentence saying what is wrong. *loopback: the host is 127.0.0.0/8, ::1 or
 * localhost (plain smtp:// needs no STARTTLS there). */
const char *dp_smtp_check_url(apr_pool_t *p, const char *url, int *loopback);

/* Send msg[0..len) from env_from to rcpt. NULL when the server accepted it; else a sentence
 * for the log, with *permanent 1 when the server refused this recipient for good (a 5xx
 * reply to RCPT), 0 when a later try may succeed: no connection, TLS, a timeout, a 4xx, and
 * also a refusal that is about the server or our settings rather than this mail (greeting,
 * AUTH, MAIL FROM), or a 5xx after the data (retried, then given up by the caller).
 * *reply: the server's last reply code, 0 when it never answered (down, unreachable, TLS). */
const char *dp_smtp_send(apr_pool_t *p, const dp_smtp_cfg *cfg, const char *env_from,
                         const char *rcpt, const char *msg, apr_size_t len, int *permanent,
                         long *reply);

#endif
