/* dp_ics: the calendar feed's writer. Content lines end in CRLF and fold at 75 octets,
 * never inside a UTF-8 sequence, and unfold to what was written; TEXT escaping; nothing a
 * value holds ends a line; UTC times against the C library; URI and domain checks. */
#include "dp_test.h"
#include "dp_ics.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <time.h>

/* Is s[0..n) valid UTF-8 on its own (no sequence cut at either end)? */
static int utf8_ok(const unsigned char *s, apr_size_t n)
{
    apr_size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        apr_size_t k = c < 0x80  ? 1
            : (c & 0xE0) == 0xC0 ? 2
            : (c & 0xF0) == 0xE0 ? 3
            : (c & 0xF8) == 0xF0 ? 4
                                 : 0;
        if (k == 0 || i + k > n) {
            return 0;
        }
        for (apr_size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) {
                return 0;
            }
        }
        i += k;
    }
    return 1;
}

/* Check the physical lines of a document: each ends in CRLF, holds no other CR or LF, is at
 * most 75 octets and valid UTF-8 by itself. Returns the number of lines, -1 on a problem. */
static int check_lines(const char *doc, apr_size_t len)
{
    apr_size_t at = 0;
    int lines = 0;

    while (at < len) {
        const char *crlf = strstr(doc + at, "\r\n");
        apr_size_t n;
        if (!CHECK_MSG(crlf != NULL, "line %d has no CRLF: \"%s\"", lines + 1, doc + at)) {
            return -1;
        }
        n = (apr_size_t)(crlf - (doc + at));
        if (!CHECK_MSG(n <= DP_ICS_LINE_MAX, "line %d is %zu octets", lines + 1, n)
            || !CHECK_MSG(memchr(doc + at, '\r', n) == NULL && memchr(doc + at, '\n', n) == NULL,
                          "line %d holds a bare CR or LF", lines + 1)
            || !CHECK_MSG(utf8_ok((const unsigned char *)doc + at, n),
                          "line %d cuts a UTF-8 sequence", lines + 1)) {
            return -1;
        }
        at += n + 2;
        lines++;
    }
    return lines;
}

/* RFC 5545 3.1 unfolding: every CRLF followed by one space or tab goes away. */
static const char *unfold(apr_pool_t *p, const char *doc)
{
    char *out = apr_pstrdup(p, doc), *o = out;
    for (const char *s = doc; *s; s++) {
        if (s[0] == '\r' && s[1] == '\n' && (s[2] == ' ' || s[2] == '\t')) {
            s += 2;
            continue;
        }
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

static const char *doc_of(dp_ics *w)
{
    apr_size_t len;
    const char *d = dp_ics_finish(w, &len);
    CHECK_EQ(strlen(d), len);
    return d;
}

static void test_escape(dp_test_env *env)
{
    apr_pool_t *p = env->pool;

    CHECK_STR(dp_ics_escape(p, "plain text"), "plain text");
    CHECK_STR(dp_ics_escape(p, "a\\b;c,d"), "a\\\\b\\;c\\,d");
    CHECK_STR(dp_ics_escape(p, "one\ntwo\r\nthree\rfour"), "one\\ntwo\\nthree\\nfour");
    CHECK_STR(dp_ics_escape(p, "\r\n\r\n"), "\\n\\n");
    /* a colon and a double quote need no escape in a TEXT value */
    CHECK_STR(dp_ics_escape(p, "Re: \"x\""), "Re: \"x\"");
    /* control characters but TAB never pass */
    CHECK_STR(dp_ics_escape(p,
                            "a\x01"
                            "b\x1b[31m\x7f"
                            "c\td"),
              "ab[31mc\td");
    CHECK_STR(dp_ics_escape(p, ""), "");
    CHECK_STR(dp_ics_escape(p, NULL), "");
    /* UTF-8 kept; what is not UTF-8 becomes U+FFFD */
    CHECK_STR(dp_ics_escape(p, "\xc3\x89mile \xe2\x82\xac \xf0\x9f\x98\x80"),
              "\xc3\x89mile \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK_STR(dp_ics_escape(p,
                            "a\xff"
                            "b"),
              "a\xef\xbf\xbd"
              "b");
    CHECK_STR(dp_ics_escape(p, "\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd"); /* overlong */
    CHECK_STR(dp_ics_escape(p, "\xed\xa0\x80"),
              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");                     /* surrogate */
    CHECK_STR(dp_ics_escape(p, "x\xe2\x82"), "x\xef\xbf\xbd\xef\xbf\xbd"); /* cut short */
    CHECK_STR(dp_ics_escape(p, "\xf4\x90\x80\x80"),                        /* > U+10FFFF */
              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

static void test_lines(dp_test_env *env)
{
    dp_ics *w = dp_ics_make(env->pool, 0);

    dp_ics_prop(w, "BEGIN", "VCALENDAR");
    dp_ics_prop(w, "VERSION", "2.0");
    dp_ics_prop(w, "REFRESH-INTERVAL;VALUE=DURATION", "PT1H");
    dp_ics_text(w, "SUMMARY", "Session: A. B.");
    dp_ics_text(w, "LOCATION", "Room 1, floor 2; \\ east\nwing");
    dp_ics_int(w, "SEQUENCE", 3);
    dp_ics_int(w, "X-N", -12);
    /* a value the caller composed still cannot start a line of its own */
    dp_ics_prop(w, "X-INJECT", "a\r\nEND:VCALENDAR\r\nb");
    dp_ics_prop(w, "END", "VCALENDAR");
    CHECK_STR(doc_of(w),
              "BEGIN:VCALENDAR\r\n"
              "VERSION:2.0\r\n"
              "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n"
              "SUMMARY:Session: A. B.\r\n"
              "LOCATION:Room 1\\, floor 2\\; \\\\ east\\nwing\r\n"
              "SEQUENCE:3\r\n"
              "X-N:-12\r\n"
              "X-INJECT:aEND:VCALENDARb\r\n"
              "END:VCALENDAR\r\n");
    /* the empty document */
    {
        apr_size_t len = 99;
        CHECK_STR(dp_ics_finish(dp_ics_make(env->pool, 0), &len), "");
        CHECK_EQ(len, 0);
    }
}

static void test_fold_ascii(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_ics *w;
    const char *d;
    char v[400];

    /* "X:" + 73 = 75 octets: one line; one more octet folds it */
    memset(v, 'a', 73);
    v[73] = '\0';
    w = dp_ics_make(p, 0);
    dp_ics_prop(w, "X", v);
    d = doc_of(w);
    CHECK_EQ(strlen(d), 77);
    CHECK_EQ(check_lines(d, strlen(d)), 1);

    v[73] = 'b';
    v[74] = '\0';
    w = dp_ics_make(p, 0);
    dp_ics_prop(w, "X", v);
    d = doc_of(w);
    CHECK_STR(d, apr_pstrcat(p, "X:", apr_pstrndup(p, v, 73), "\r\n b\r\n", NULL));

    /* long values, at every length around the fold points: lines of at most 75 octets, the
     * continuation (space included) 75 too, and unfolding gives the line back */
    for (int n = 1; n < 380; n++) {
        const char *want;
        for (int i = 0; i < n; i++) {
            v[i] = (char)('a' + i % 26);
        }
        v[n] = '\0';
        w = dp_ics_make(p, 16); /* a small start: the buffer must grow */
        dp_ics_text(w, "DESCRIPTION", v);
        d = doc_of(w);
        want = apr_pstrcat(p, "DESCRIPTION:", v, "\r\n", NULL);
        if (!CHECK_MSG(check_lines(d, strlen(d)) >= 1, "n=%d", n)
            || !CHECK_MSG(strcmp(unfold(p, d), want) == 0, "n=%d unfolds wrong", n)) {
            return;
        }
        /* full lines until the last: 75, then space + 74 */
        if (strlen(want) - 2 > 75) {
            CHECK_MSG(strncmp(d + 75, "\r\n ", 3) == 0, "n=%d: first line not 75 octets", n);
        }
    }
}

static void test_fold_utf8(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\\",
                                        ","}; /* 2, 3, 4 bytes; escapes double */

    for (size_t c = 0; c < sizeof(chars) / sizeof(chars[0]); c++) {
        for (int lead = 0; lead < 8; lead++) {
            /* the multi-byte characters land on every position around each fold */
            const char *text = apr_pstrndup(p, "xxxxxxx", (apr_size_t)lead);
            dp_ics *w = dp_ics_make(p, 0);
            const char *d, *want;

            for (int i = 0; i < 90; i++) {
                text = apr_pstrcat(p, text, chars[c], NULL);
            }
            dp_ics_text(w, "SUMMARY", text);
            d = doc_of(w);
            want = apr_pstrcat(p, "SUMMARY:", dp_ics_escape(p, text), "\r\n", NULL);
            dp_t_context(apr_psprintf(p, "char %zu, lead %d", c, lead));
            CHECK(check_lines(d, strlen(d)) > 1);
            CHECK_STR(unfold(p, d), want);
        }
    }
    dp_t_context(NULL);
}

static void test_utc(dp_test_env *env)
{
    char out[DP_ICS_UTC_LEN + 1];
    dp_ics *w;

    CHECK(dp_ics_utc(out, 0) == 0 && strcmp(out, "19700101T000000Z") == 0);
    CHECK(dp_ics_utc(out, 1796551861LL) == 0 && strcmp(out, "20261206T101101Z") == 0);
    CHECK(dp_ics_utc(out, -1) == 0 && strcmp(out, "19691231T235959Z") == 0);
    CHECK(dp_ics_utc(out, 1709208000LL) == 0 && strcmp(out, "20240229T120000Z") == 0);
    CHECK(dp_ics_utc(out, 951782400LL) == 0 && strcmp(out, "20000229T000000Z") == 0);
    CHECK(dp_ics_utc(out, 253402300799LL) == 0 && strcmp(out, "99991231T235959Z") == 0);
    CHECK(dp_ics_utc(out, -62135596800LL) == 0 && strcmp(out, "00010101T000000Z") == 0);
    CHECK_EQ(dp_ics_utc(out, 253402300800LL), -1);
    CHECK_EQ(dp_ics_utc(out, -62135596801LL), -1);

    /* against the C library, over 1900-2100, at odd steps */
    for (long long t = -2208988800LL; t < 4102444800LL; t += 86400LL * 13 + 3607) {
        time_t tt = (time_t)t;
        struct tm tm;
        char want[32];
        gmtime_r(&tt, &tm);
        strftime(want, sizeof(want), "%Y%m%dT%H%M%SZ", &tm);
        if (!CHECK_MSG(dp_ics_utc(out, t) == 0 && strcmp(out, want) == 0, "%lld: %s, want %s", t,
                       out, want)) {
            break;
        }
    }

    w = dp_ics_make(env->pool, 0);
    CHECK_EQ(dp_ics_time(w, "DTSTART", 1796551861LL), 0);
    CHECK_EQ(dp_ics_time(w, "DTEND", 253402300800LL), -1);
    CHECK_STR(doc_of(w), "DTSTART:20261206T101101Z\r\n");
}

static void test_uri(dp_test_env *env)
{
    static const char *const bad[] = {"",
                                      "https://x/a b",
                                      "https://x/\r\nEND:VEVENT",
                                      "https://x/\"",
                                      "https://x/<a>",
                                      "https://x/\xc3\xa9",
                                      "https://x/\x7f",
                                      "https://x/{a}",
                                      "https://x/a|b",
                                      "https://x/a\\b",
                                      "https://x/\t"};
    dp_ics *w = dp_ics_make(env->pool, 0);
    char longuri[300];

    CHECK_EQ(dp_ics_uri(w, "URL", "https://meet.jit.si/DocPortal-0a1b"), 0);
    CHECK_EQ(dp_ics_uri(w, "URL", "https://x/a;b,c?d=%20#f"), 0);
    CHECK_EQ(dp_ics_uri(w, "URL", NULL), -1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_MSG(dp_ics_uri(w, "URL", bad[i]) == -1, "accepted bad URI %zu", i);
    }
    CHECK_STR(doc_of(w),
              "URL:https://meet.jit.si/DocPortal-0a1b\r\nURL:https://x/a;b,c?d=%20#f\r\n");

    /* a long URI folds and unfolds like any value */
    strcpy(longuri, "https://video.example.test");
    for (int i = 0; i < 20; i++) {
        strcat(longuri, "/segment");
    }
    strcat(longuri, "/DocPortal-0123456789abcdef0123456789abcdef");
    w = dp_ics_make(env->pool, 0);
    CHECK_EQ(dp_ics_uri(w, "URL", longuri), 0);
    {
        const char *d = doc_of(w);
        CHECK_EQ(check_lines(d, strlen(d)), 4); /* 233 octets: 75 + 74 + 74 + 10 */
        CHECK_STR(unfold(env->pool, d), apr_pstrcat(env->pool, "URL:", longuri, "\r\n", NULL));
    }
}

static void test_domain(dp_test_env *env)
{
    apr_pool_t *p = env->pool;

    CHECK_STR(dp_ics_domain(p, "https://portal.example.test"), "portal.example.test");
    CHECK_STR(dp_ics_domain(p, "HTTPS://Portal.Example.TEST:8443/app/?x#y"), "portal.example.test");
    CHECK_STR(dp_ics_domain(p, "http://127.0.0.1:8080"), "127.0.0.1");
    CHECK_STR(dp_ics_domain(p, "https://my-practice.example/"), "my-practice.example");
    CHECK_NULL(dp_ics_domain(p, NULL));
    CHECK_NULL(dp_ics_domain(p, ""));
    CHECK_NULL(dp_ics_domain(p, "https://"));
    CHECK_NULL(dp_ics_domain(p, "https://:443/"));
    CHECK_NULL(dp_ics_domain(p, "ftp://portal.example.test"));
    CHECK_NULL(dp_ics_domain(p, "portal.example.test"));
    CHECK_NULL(dp_ics_domain(p, "https://user@portal.example.test"));
    CHECK_NULL(dp_ics_domain(p, "https://[::1]:8443/"));
    CHECK_NULL(dp_ics_domain(p, "https://bad_host.example"));
}

const dp_test_case dp_suite_ics[] = {
    {"escape",     test_escape    },
    {"lines",      test_lines     },
    {"fold_ascii", test_fold_ascii},
    {"fold_utf8",  test_fold_utf8 },
    {"utc",        test_utc       },
    {"uri",        test_uri       },
    {"domain",     test_domain    },
    {NULL,         NULL           },
};
