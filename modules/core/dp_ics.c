#include "dp_ics.h"

#include "dp_buf.h"

#include <apr_strings.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

dp_ics *dp_ics_make(apr_pool_t *p, apr_size_t hint)
{
    dp_ics *w = apr_pcalloc(p, sizeof(*w));
    w->p = p;
    w->cap = hint < 256 ? 256 : hint;
    w->buf = apr_palloc(p, w->cap);
    return w;
}

/* Room for n more bytes and the final NUL. */
static void reserve(dp_ics *w, apr_size_t n)
{
    dp_buf_reserve(w->p, &w->buf, w->len, &w->cap, n);
}

/* ------------------------------------------------------------------------ values */

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0 when s does not start one. */
static apr_size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return (s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return (s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80) ? 4 : 0;
    }
    return 0;
}

/* A value made safe for a content line, into out (NULL: only count). Control characters
 * (RFC 5545's CTL: all below 0x20 but TAB, and DEL) never pass; with escape (TEXT), line
 * breaks become \n and \ ; , are escaped. Invalid UTF-8 becomes U+FFFD, so that the
 * document is UTF-8 and a fold can always find where a character starts. Returns the
 * length. */
static apr_size_t clean(char *out, const char *text, int escape)
{
    const unsigned char *s = (const unsigned char *)text;
    apr_size_t n = 0;

#define EMIT(str, k)                                                                               \
    do {                                                                                           \
        if (out != NULL) {                                                                         \
            memcpy(out + n, (str), (k));                                                           \
        }                                                                                          \
        n += (k);                                                                                  \
    } while (0)

    while (*s != '\0') {
        apr_size_t k;

        if (*s == '\r' || *s == '\n') {
            if (escape) {
                EMIT("\\n", 2);
            }
            s += (s[0] == '\r' && s[1] == '\n') ? 2 : 1;
            continue;
        }
        if ((*s < 0x20 && *s != '\t') || *s == 0x7F) {
            s++;
            continue;
        }
        if (escape && (*s == '\\' || *s == ';' || *s == ',')) {
            EMIT("\\", 1);
            EMIT(s, 1);
            s++;
            continue;
        }
        if ((k = utf8_seq(s)) == 0) {
            EMIT("\xEF\xBF\xBD", 3);
            s++;
            continue;
        }
        EMIT(s, k);
        s += k;
    }
#undef EMIT
    return n;
}

static const char *cleaned(apr_pool_t *p, const char *text, int escape, apr_size_t *len)
{
    apr_size_t n = clean(NULL, text, escape);
    char *out = apr_palloc(p, n + 1);

    clean(out, text, escape);
    out[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return out;
}

const char *dp_ics_escape(apr_pool_t *p, const char *text)
{
    return cleaned(p, text ? text : "", 1, NULL);
}

/* ------------------------------------------------------------------------ lines */

/* Byte i of name ":" value, seen as one line. */
#define AT(i) ((i) < nlen ? name[(i)] : (i) == nlen ? ':' : value[(i)-nlen - 1])

/* One content line, folded: at most DP_ICS_LINE_MAX octets before each CRLF, a continuation
 * starting with a space that counts toward its line, and every fold before the first byte
 * of a UTF-8 sequence (value is valid UTF-8: cleaned). */
static void put_line(dp_ics *w, const char *name, const char *value, apr_size_t vlen)
{
    apr_size_t nlen = strlen(name), total = nlen + 1 + vlen, at = 0;
    char *out;

    /* a fold backs off at most 3 bytes, so each physical line carries at least 71 bytes of
     * the line and adds at most 3 (its CRLF, a continuation's space) */
    reserve(w, total + 3 * (total / 71 + 2));
    out = w->buf + w->len;
    while (1) {
        apr_size_t room = at == 0 ? DP_ICS_LINE_MAX : DP_ICS_LINE_MAX - 1;
        apr_size_t n = total - at < room ? total - at : room;

        if (at + n < total) {
            apr_size_t back = n;
            while (back > 0 && (((unsigned char)AT(at + back)) & 0xC0) == 0x80) {
                back--;
            }
            if (back > 0) {
                n = back;
            }
        }
        if (at > 0) {
            *out++ = ' ';
        }
        for (apr_size_t i = 0; i < n; i++) {
            *out++ = AT(at + i);
        }
        *out++ = '\r';
        *out++ = '\n';
        at += n;
        if (at >= total) {
            break;
        }
    }
    w->len = (apr_size_t)(out - w->buf);
}
#undef AT

void dp_ics_prop(dp_ics *w, const char *name, const char *value)
{
    apr_size_t n;
    const char *v = cleaned(w->p, value ? value : "", 0, &n);
    put_line(w, name, v, n);
}

void dp_ics_text(dp_ics *w, const char *name, const char *text)
{
    apr_size_t n;
    const char *v = cleaned(w->p, text ? text : "", 1, &n);
    put_line(w, name, v, n);
}

void dp_ics_int(dp_ics *w, const char *name, long long v)
{
    char num[32];
    int n = snprintf(num, sizeof(num), "%lld", v);
    put_line(w, name, num, (apr_size_t)n);
}

/* ------------------------------------------------------------------------ times, URIs */

#define EPOCH_0001  (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define EPOCH_10000 (253402300800LL) /* 10000-01-01T00:00:00Z */

/* v (0 <= v < 10^n) as n decimal digits */
static void digits(char *out, long long v, int n)
{
    while (n-- > 0) {
        out[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

int dp_ics_utc(char *out, long long t)
{
    long long days, secs, z, era, doe, yoe, y, doy, mp, d, m;

    if (t < EPOCH_0001 || t >= EPOCH_10000) {
        return -1;
    }
    days = t / 86400;
    secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    /* civil date of a day count (H. Hinnant, "chrono-compatible low-level date algorithms") */
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    digits(out, y, 4);
    digits(out + 4, m, 2);
    digits(out + 6, d, 2);
    out[8] = 'T';
    digits(out + 9, secs / 3600, 2);
    digits(out + 11, secs / 60 % 60, 2);
    digits(out + 13, secs % 60, 2);
    out[15] = 'Z';
    out[16] = '\0';
    return 0;
}

int dp_ics_time(dp_ics *w, const char *name, long long epoch_seconds)
{
    char v[DP_ICS_UTC_LEN + 1];

    if (dp_ics_utc(v, epoch_seconds) != 0) {
        return -1;
    }
    put_line(w, name, v, DP_ICS_UTC_LEN);
    return 0;
}

int dp_ics_uri(dp_ics *w, const char *name, const char *uri)
{
    if (uri == NULL || *uri == '\0') {
        return -1;
    }
    for (const unsigned char *s = (const unsigned char *)uri; *s; s++) {
        if (*s <= 0x20 || *s >= 0x7F || strchr("\"<>\\^`{|}", *s) != NULL) {
            return -1;
        }
    }
    put_line(w, name, uri, strlen(uri));
    return 0;
}

const char *dp_ics_finish(dp_ics *w, apr_size_t *len)
{
    reserve(w, 0);
    w->buf[w->len] = '\0';
    *len = w->len;
    return w->buf;
}

const char *dp_ics_domain(apr_pool_t *p, const char *url)
{
    const char *host, *end;
    char *out;
    apr_size_t n;

    if (url == NULL) {
        return NULL;
    }
    if (strncasecmp(url, "https://", 8) == 0) {
        host = url + 8;
    }
    else if (strncasecmp(url, "http://", 7) == 0) {
        host = url + 7;
    }
    else {
        return NULL;
    }
    n = strcspn(host, ":/?#");
    end = host + n;
    if (n == 0 || (*end != '\0' && *end != ':' && *end != '/' && *end != '?' && *end != '#')) {
        return NULL;
    }
    out = apr_pstrmemdup(p, host, n);
    for (char *c = out; *c; c++) {
        if (*c >= 'A' && *c <= 'Z') {
            *c = (char)(*c - 'A' + 'a');
        }
        else if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.'
                   || *c == '-')) {
            return NULL; /* userinfo (@), an IPv6 literal ([), anything odd */
        }
    }
    return out;
}
