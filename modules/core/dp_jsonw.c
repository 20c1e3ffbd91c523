#include "dp_jsonw.h"

#include "dp_buf.h"

#include <apr_strings.h>
#include <stdio.h>
#include <string.h>

/* has_items[] per open container: whether it has an item yet, and which bracket closes it */
#define HAS_ITEMS  1
#define KIND_ARRAY 2

dp_jw *dp_jw_make(apr_pool_t *p, apr_size_t hint)
{
    dp_jw *w = apr_pcalloc(p, sizeof(*w));
    w->p = p;
    w->cap = hint < 64 ? 64 : hint;
    w->buf = apr_palloc(p, w->cap);
    return w;
}

/* Room for n more bytes and the final NUL. */
static void reserve(dp_jw *w, apr_size_t n)
{
    dp_buf_reserve(w->p, &w->buf, w->len, &w->cap, n);
}

static void put(dp_jw *w, const char *s, apr_size_t n)
{
    reserve(w, n);
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

void dp_jw_raw(dp_jw *w, const char *s, apr_size_t n)
{
    put(w, s, n);
}

/* Before a value or a key: the comma between items of the open container. */
static void item(dp_jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        if (w->has_items[w->depth - 1] & HAS_ITEMS) {
            put(w, ",", 1);
        }
        w->has_items[w->depth - 1] |= HAS_ITEMS;
    }
}

static void open_container(dp_jw *w, char c)
{
    item(w);
    if (w->depth >= DP_JW_DEPTH) {
        w->broken = 1;
        return;
    }
    put(w, &c, 1);
    w->has_items[w->depth++] = c == '[' ? KIND_ARRAY : 0;
}

void dp_jw_object(dp_jw *w)
{
    open_container(w, '{');
}

void dp_jw_array(dp_jw *w)
{
    open_container(w, '[');
}

void dp_jw_end(dp_jw *w)
{
    if (w->depth == 0 || w->after_key) {
        w->broken = 1;
        return;
    }
    w->depth--;
    put(w, (w->has_items[w->depth] & KIND_ARRAY) ? "]" : "}", 1);
}

/* The string s (len bytes) quoted and escaped as jansson's dump does without flags:
 * backslash, quote and the control characters; other characters as they are. Bytes that do
 * not form UTF-8 become U+FFFD (text from PostgreSQL is always valid UTF-8). */
static void quoted(dp_jw *w, const char *s, apr_size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *c = (const unsigned char *)s, *end = c + len;

    reserve(w, len + 2);
    w->buf[w->len++] = '"';
    while (c < end) {
        const unsigned char *run = c;
        while (c < end && *c >= 0x20 && *c < 0x80 && *c != '"' && *c != '\\') {
            c++;
        }
        if (c > run) {
            put(w, (const char *)run, (apr_size_t)(c - run));
        }
        if (c >= end) {
            break;
        }
        if (*c < 0x80) {
            char esc[6] = {'\\', 0, 0, 0, 0, 0};
            apr_size_t n = 2;
            switch (*c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[*c >> 4];
                esc[5] = hex[*c & 15];
                n = 6;
            }
            put(w, esc, n);
            c++;
            continue;
        }
        {
            /* one UTF-8 sequence: 2 to 4 bytes, no overlong forms, no surrogates, <= U+10FFFF */
            apr_size_t n = *c >= 0xF0 ? 4 : *c >= 0xE0 ? 3 : *c >= 0xC0 ? 2 : 0;
            unsigned long cp = n == 4 ? (*c & 0x07u) : n == 3 ? (*c & 0x0Fu) : (*c & 0x1Fu);
            int ok = n != 0 && *c <= 0xF4 && (apr_size_t)(end - c) >= n;
            for (apr_size_t k = 1; ok && k < n; k++) {
                ok = (c[k] & 0xC0) == 0x80;
                cp = (cp << 6) | (c[k] & 0x3Fu);
            }
            ok = ok && !(n == 2 && cp < 0x80) && !(n == 3 && cp < 0x800)
                && !(n == 4 && cp < 0x10000) && !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
            if (ok) {
                put(w, (const char *)c, n);
                c += n;
            }
            else {
                put(w, "\xEF\xBF\xBD", 3);
                c++;
            }
        }
    }
    put(w, "\"", 1);
}

void dp_jw_key(dp_jw *w, const char *key)
{
    item(w);
    quoted(w, key, strlen(key));
    put(w, ":", 1);
    w->after_key = 1;
}

void dp_jw_str(dp_jw *w, const char *s)
{
    if (s == NULL) {
        dp_jw_null(w);
        return;
    }
    item(w);
    quoted(w, s, strlen(s));
}

void dp_jw_int(dp_jw *w, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", v);
    item(w);
    put(w, num, (apr_size_t)n);
}

void dp_jw_bool(dp_jw *w, int v)
{
    item(w);
    if (v) {
        put(w, "true", 4);
    }
    else {
        put(w, "false", 5);
    }
}

void dp_jw_null(dp_jw *w)
{
    item(w);
    put(w, "null", 4);
}

void dp_jw_money(dp_jw *w, long long cents, int present)
{
    char num[32];
    int n;
    unsigned long long a;

    if (!present) {
        dp_jw_null(w);
        return;
    }
    a = cents < 0 ? 0ULL - (unsigned long long)cents : (unsigned long long)cents;
    if (a % 100 == 0) {
        n = snprintf(num, sizeof(num), "%s%llu", cents < 0 ? "-" : "", a / 100);
    }
    else if (a % 10 == 0) {
        n = snprintf(num, sizeof(num), "%s%llu.%llu", cents < 0 ? "-" : "", a / 100,
                     (a % 100) / 10);
    }
    else {
        n = snprintf(num, sizeof(num), "%s%llu.%02llu", cents < 0 ? "-" : "", a / 100, a % 100);
    }
    item(w);
    put(w, num, (apr_size_t)n);
}

void dp_jw_kstr(dp_jw *w, const char *key, const char *s)
{
    dp_jw_key(w, key);
    dp_jw_str(w, s);
}

void dp_jw_kint(dp_jw *w, const char *key, long long v)
{
    dp_jw_key(w, key);
    dp_jw_int(w, v);
}

const char *dp_jw_finish(dp_jw *w, apr_size_t *len)
{
    if (w->broken || w->depth != 0 || w->after_key || w->len == 0) {
        return NULL;
    }
    w->buf[w->len] = '\0';
    if (len != NULL) {
        *len = w->len;
    }
    return w->buf;
}
