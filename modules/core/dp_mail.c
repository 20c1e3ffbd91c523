/* Composing and sending mail (see dp_mail.h). */
#include "dp_mail.h"

#include <apr_base64.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_uri.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <string.h>

int dp_mail_header_safe(const char *s)
{
    if (s == NULL) {
        return 0;
    }
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            return 0; /* CR, LF, TAB, NUL and the rest: none belongs in our headers */
        }
    }
    return 1;
}

static int is_ascii(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c >= 0x80) {
            return 0;
        }
    }
    return 1;
}

const char *dp_mail_from_address(apr_pool_t *p, const char *from)
{
    const char *lt, *gt, *addr;

    if (!dp_mail_header_safe(from) || *from == '\0') {
        return NULL;
    }
    lt = strrchr(from, '<');
    if (lt == NULL) {
        addr = from;
    }
    else if ((gt = strchr(lt, '>')) == NULL || gt[1] != '\0') {
        return NULL;
    }
    else {
        addr = apr_pstrmemdup(p, lt + 1, (apr_size_t)(gt - lt - 1));
    }
    if (strchr(addr, '@') == NULL || strpbrk(addr, " <>\",;") != NULL || !is_ascii(addr)) {
        return NULL;
    }
    return addr;
}

const char *dp_mail_domain(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return (at != NULL && at[1] != '\0') ? at + 1 : NULL;
}

const char *dp_mail_date(apr_pool_t *p, long long epoch)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    apr_time_exp_t t;

    if (apr_time_exp_gmt(&t, apr_time_from_sec((apr_time_t)epoch)) != APR_SUCCESS) {
        return NULL;
    }
    return apr_psprintf(p, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[t.tm_wday], t.tm_mday,
                        months[t.tm_mon], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
}

/* RFC 2047 B-encoded words of at most 45 input bytes each (60 characters of base64), never
 * splitting a UTF-8 sequence, joined by folding whitespace. */
static const char *encode_words(apr_pool_t *p, const char *s)
{
    const char *out = NULL;
    apr_size_t len = strlen(s), at = 0;

    while (at < len) {
        apr_size_t n = len - at > 45 ? 45 : len - at;
        char *b64;
        const char *word;
        while (at + n < len && n > 0 && ((unsigned char)s[at + n] & 0xc0) == 0x80) {
            n--; /* back off to the start of a UTF-8 sequence */
        }
        if (n == 0) { /* not UTF-8 at all: cut where the word is full */
            n = len - at > 45 ? 45 : len - at;
        }
        b64 = apr_palloc(p, (apr_size_t)apr_base64_encode_len((int)n));
        apr_base64_encode(b64, s + at, (int)n);
        word = apr_pstrcat(p, "=?UTF-8?B?", b64, "?=", NULL);
        out = out ? apr_pstrcat(p, out, "\r\n ", word, NULL) : word;
        at += n;
    }
    return out ? out : "";
}

static const char *header_text(apr_pool_t *p, const char *s)
{
    return is_ascii(s) ? s : encode_words(p, s);
}

/* From: an address as is; "Name <addr>" with a non-ASCII name as encoded words. */
static const char *from_header(apr_pool_t *p, const char *from)
{
    const char *lt = strrchr(from, '<');
    const char *name;
    apr_size_t n;

    if (lt == NULL || is_ascii(from)) {
        return from;
    }
    n = (apr_size_t)(lt - from);
    while (n > 0 && from[n - 1] == ' ') {
        n--;
    }
    name = apr_pstrmemdup(p, from, n);
    if (name[0] == '"' && n >= 2 && name[n - 1] == '"') {
        name = apr_pstrmemdup(p, name + 1, n - 2);
    }
    return apr_pstrcat(p, encode_words(p, name), " ", lt, NULL);
}

/* The body with CRLF line ends (a lone CR is dropped); NULL if a line is too long. */
static const char *crlf_body(apr_pool_t *p, const char *body)
{
    apr_size_t len = strlen(body), line = 0, o = 0;
    char *out = apr_palloc(p, 2 * len + 3);

    for (apr_size_t i = 0; i < len; i++) {
        char ch = body[i];
        if (ch == '\r') {
            continue;
        }
        if (ch == '\n') {
            out[o++] = '\r';
            out[o++] = '\n';
            line = 0;
            continue;
        }
        if (++line > DP_MAIL_MAX_LINE) {
            return NULL;
        }
        out[o++] = ch;
    }
    if (o < 2 || out[o - 1] != '\n') {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    out[o] = '\0';
    return out;
}

const char *dp_mail_compose(apr_pool_t *p, const dp_mail *m, const char **err)
{
    const char *values[] = {m->from, m->to, m->subject, m->kind, m->message_id};
    const char *date, *body;

    for (apr_size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        if (values[i] == NULL || *values[i] == '\0' || !dp_mail_header_safe(values[i])) {
            *err = "a header value is empty or holds a control character (CR, LF...)";
            return NULL;
        }
    }
    if (!is_ascii(m->to) || !is_ascii(m->kind) || !is_ascii(m->message_id)
        || dp_mail_from_address(p, m->from) == NULL) {
        *err = "an address or the message id is not plain ASCII";
        return NULL;
    }
    if ((date = dp_mail_date(p, m->date)) == NULL) {
        *err = "the date cannot be represented";
        return NULL;
    }
    if (m->body == NULL || (body = crlf_body(p, m->body)) == NULL) {
        *err = "the body is missing or has a line longer than 998 octets";
        return NULL;
    }
    return apr_pstrcat(p, "From: ", from_header(p, m->from), "\r\n", "To: ", m->to, "\r\n",
                       "Subject: ", header_text(p, m->subject), "\r\n", "Date: ", date, "\r\n",
                       "Message-ID: ", m->message_id, "\r\n", "MIME-Version: 1.0\r\n",
                       "Content-Type: text/plain; charset=utf-8\r\n",
                       "Content-Transfer-Encoding: 8bit\r\n", "X-DocPortal-Kind: ", m->kind, "\r\n",
                       "\r\n", body, NULL);
}

const char *dp_smtp_check_url(apr_pool_t *p, const char *url, int *loopback)
{
    apr_uri_t u;
    const char *h;

    *loopback = 0;
    if (url == NULL || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL) {
        return "is not a URL";
    }
    if (strcasecmp(u.scheme, "smtp") != 0 && strcasecmp(u.scheme, "smtps") != 0) {
        return "must start with smtp:// (STARTTLS) or smtps:// (TLS)";
    }
    if (u.hostname == NULL || *u.hostname == '\0') {
        return "names no host";
    }
    if (u.user != NULL || u.password != NULL) {
        return "must not hold credentials (use the user and password files)";
    }
    if (u.query != NULL || u.fragment != NULL || !dp_mail_header_safe(url)) {
        return "must not have a query, a fragment or control characters";
    }
    h = u.hostname;
    {
        struct in_addr v4;
        struct in6_addr v6;
        *loopback = strcasecmp(h, "localhost") == 0
            || (inet_pton(AF_INET, h, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127)
            || (inet_pton(AF_INET6, h, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6));
    }
    return NULL;
}

typedef struct upload {
    const char *data;
    apr_size_t len, at;
} upload;

static int progress_cb(void *baton, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const dp_smtp_cfg *cfg = baton;
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return cfg->cancelled != NULL && cfg->cancelled(cfg->cancel_baton);
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *baton)
{
    upload *u = baton;
    size_t room = size * nitems, n = u->len - u->at;
    if (n > room) {
        n = room;
    }
    memcpy(buf, u->data + u->at, n);
    u->at += n;
    return n;
}

/* The host of the URL, for messages. */
static const char *url_host(apr_pool_t *p, const char *url)
{
    apr_uri_t u;
    return (apr_uri_parse(p, url, &u) == APR_SUCCESS && u.hostname) ? u.hostname : "?";
}

const char *dp_smtp_send(apr_pool_t *p, const dp_smtp_cfg *cfg, const char *env_from,
                         const char *rcpt, const char *msg, apr_size_t len, int *permanent,
                         long *reply)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *to = NULL;
    upload up = {msg, len, 0};
    long timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000L, code = 0;
    int loopback = 0, ok;
    const char *bad;
    CURLcode rc;
    CURL *h;

    *permanent = 0;
    *reply = 0;
    if ((bad = dp_smtp_check_url(p, cfg->url, &loopback)) != NULL) {
        return apr_psprintf(p, "the SMTP URL %s", bad);
    }
    if (!dp_mail_header_safe(env_from) || !dp_mail_header_safe(rcpt)) {
        *permanent = 1;
        return "an envelope address holds a control character";
    }
    if ((h = curl_easy_init()) == NULL) {
        return "could not create a curl handle";
    }
    to = curl_slist_append(NULL, apr_pstrcat(p, "<", rcpt, ">", NULL));
    ok = to != NULL && curl_easy_setopt(h, CURLOPT_URL, cfg->url) == CURLE_OK
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
        && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps") == CURLE_OK
#else
        && curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS))
            == CURLE_OK
#endif
        /* TLS: smtps from the start; smtp upgrades with STARTTLS or fails, except on a
          * loopback address, where STARTTLS is used when offered */
        && curl_easy_setopt(h, CURLOPT_USE_SSL, (long)(loopback ? CURLUSESSL_TRY : CURLUSESSL_ALL))
            == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK
        && (cfg->ca_file == NULL || curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file) == CURLE_OK)
        && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000L ? timeout : 10000L)
            == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_MAIL_FROM, apr_pstrcat(p, "<", env_from, ">", NULL))
            == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_MAIL_RCPT, to) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb) == CURLE_OK
        && curl_easy_setopt(h, CURLOPT_READDATA, &up) == CURLE_OK
        && (cfg->cancelled == NULL
            || (curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb) == CURLE_OK
                && curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)cfg) == CURLE_OK
                && curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) == CURLE_OK))
        && (cfg->user == NULL
            || (curl_easy_setopt(h, CURLOPT_USERNAME, cfg->user) == CURLE_OK
                && curl_easy_setopt(h, CURLOPT_PASSWORD, cfg->password ? cfg->password : "")
                    == CURLE_OK));
    if (!ok) {
        curl_slist_free_all(to);
        curl_easy_cleanup(h);
        return "could not set up the SMTP transfer";
    }
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    *reply = code;
    curl_slist_free_all(to);
    curl_easy_cleanup(h);
    if (rc == CURLE_OK) {
        return NULL;
    }
    /* only the recipient's refusal is this mail's for good; libcurl names the step */
    *permanent = code >= 500 && code < 600 && strncmp(errbuf, "RCPT failed", 11) == 0;
    return apr_psprintf(p, "SMTP to %s: %s (reply %ld)", url_host(p, cfg->url),
                        *errbuf ? errbuf : curl_easy_strerror(rc), code);
}
