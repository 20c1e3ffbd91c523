/* dp_mail: composing messages whose headers no input can break, the SMTP URL rules, and
 * sending: a refused connection is a retryable failure, and smtp:// to an address that is
 * not loopback never goes on without STARTTLS. */
#include "dp_test.h"
#include "fake_http.h"
#include "dp_mail.h"

#include <apr_strings.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static dp_mail sample(void)
{
    dp_mail m = {"DocPortal <no-reply@portal.example.test>",
                 "ana@example.com",
                 "Confirm your email address",
                 "verify-email",
                 "<0f8e2b2c-1a4d-4c5e-9e0f-1b2c3d4e5f60@portal.example.test>",
                 1796551861LL, /* 2026-12-06 10:11:01 UTC */
                 "Hello,\n\nOpen https://portal.example.test/verify-email?token=abc\n"};
    return m;
}

static void test_compose(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_mail m = sample();
    const char *err = NULL, *msg = dp_mail_compose(p, &m, &err);

    if (!CHECK_NOT_NULL(msg)) {
        return;
    }
    CHECK_STR(msg,
              "From: DocPortal <no-reply@portal.example.test>\r\n"
              "To: ana@example.com\r\n"
              "Subject: Confirm your email address\r\n"
              "Date: Sun, 06 Dec 2026 10:11:01 +0000\r\n"
              "Message-ID: <0f8e2b2c-1a4d-4c5e-9e0f-1b2c3d4e5f60@portal.example.test>\r\n"
              "MIME-Version: 1.0\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: 8bit\r\n"
              "X-DocPortal-Kind: verify-email\r\n"
              "\r\n"
              "Hello,\r\n\r\nOpen https://portal.example.test/verify-email?token=abc\r\n");
    /* CRLF already there stays one CRLF; a body without a final newline gets one */
    m.body = "a\r\nb";
    msg = dp_mail_compose(p, &m, &err);
    CHECK(msg && strstr(msg, "\r\n\r\na\r\nb\r\n") != NULL && strstr(msg, "\r\r") == NULL);
}

static void test_header_injection(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    static const char *const bad[] = {"x\r\nBcc: evil@x.test",
                                      "x\nBcc: evil@x.test",
                                      "x\rBcc: evil@x.test",
                                      "x\tTab",
                                      "x\x7f",
                                      ""};
    const char *err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (int field = 0; field < 5; field++) {
            dp_mail m = sample();
            const char *v = bad[i];
            switch (field) {
            case 0: m.from = *v ? apr_pstrcat(p, "no-reply@x.test", v, NULL) : v; break;
            case 1: m.to = *v ? apr_pstrcat(p, "a@b.test", v, NULL) : v; break;
            case 2: m.subject = v; break;
            case 3: m.kind = v; break;
            default: m.message_id = v; break;
            }
            err = NULL;
            CHECK_MSG(dp_mail_compose(p, &m, &err) == NULL && err != NULL,
                      "field %d with value %zu was not refused", field, i);
        }
        CHECK(!dp_mail_header_safe(bad[i]) || *bad[i] == '\0');
    }
    CHECK(dp_mail_header_safe("Plain subject, with punctuation: yes!"));
    CHECK(dp_mail_header_safe("Réinitialiser")); /* UTF-8 is fine; it gets encoded */
    CHECK(!dp_mail_header_safe(NULL));
}

static void test_encoding(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_mail m = sample();
    const char *err, *msg;

    m.subject = "Réinitialisez votre mot de passe";
    m.from = "Cabinet Médical <no-reply@cabinet.example>";
    msg = dp_mail_compose(p, &m, &err);
    if (!CHECK_NOT_NULL(msg)) {
        return;
    }
    /* base64 of the UTF-8 text, as RFC 2047 words; no raw 8-bit byte in any header */
    CHECK(strstr(msg, "Subject: =?UTF-8?B?UsOpaW5pdGlhbGlzZXogdm90cmUgbW90IGRlIHBhc3Nl?=") != NULL);
    CHECK(strstr(msg, "From: =?UTF-8?B?Q2FiaW5ldCBNw6lkaWNhbA==?= <no-reply@cabinet.example>")
          != NULL);
    for (const char *c = msg; c < strstr(msg, "\r\n\r\n"); c++) {
        if (!CHECK_MSG((unsigned char)*c < 0x80, "8-bit byte in the headers at %ld",
                       (long)(c - msg))) {
            break;
        }
    }
    /* a long subject becomes several words, never splitting a character */
    m.subject = "ééééééééééééééééééééééééééééééééééééééééééééééééééééééé";
    msg = dp_mail_compose(p, &m, &err);
    CHECK(msg && strstr(msg, "?=\r\n =?UTF-8?B?") != NULL);
    /* bytes that are not UTF-8 (60 continuation bytes) still end: cut at the word's size */
    m.subject = apr_pstrcat(p, "x",
                            apr_pstrndup(p,
                                         "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"
                                         "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"
                                         "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"
                                         "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"
                                         "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"
                                         "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80",
                                         60),
                            NULL);
    CHECK_NOT_NULL(dp_mail_compose(p, &m, &err));
}

static void test_limits(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_mail m = sample();
    const char *err = NULL;
    char *line = apr_palloc(p, DP_MAIL_MAX_LINE + 2);

    memset(line, 'a', DP_MAIL_MAX_LINE);
    line[DP_MAIL_MAX_LINE] = '\0';
    m.body = line;
    CHECK_NOT_NULL(dp_mail_compose(p, &m, &err)); /* 998 octets: the limit itself */
    line[DP_MAIL_MAX_LINE] = 'a';
    line[DP_MAIL_MAX_LINE + 1] = '\0';
    CHECK_NULL(dp_mail_compose(p, &m, &err));
    m = sample();
    m.to = "ana@exämple.com"; /* not plain ASCII: no SMTPUTF8 here */
    CHECK_NULL(dp_mail_compose(p, &m, &err));
}

static void test_addresses(dp_test_env *env)
{
    apr_pool_t *p = env->pool;

    CHECK_STR(dp_mail_from_address(p, "no-reply@x.test"), "no-reply@x.test");
    CHECK_STR(dp_mail_from_address(p, "DocPortal <no-reply@x.test>"), "no-reply@x.test");
    CHECK_STR(dp_mail_from_address(p, "\"Dr <Who>\" <who@x.test>"), "who@x.test");
    CHECK_NULL(dp_mail_from_address(p, "DocPortal <no-reply@x.test> trailing"));
    CHECK_NULL(dp_mail_from_address(p, "no at sign"));
    CHECK_NULL(dp_mail_from_address(p, "a@x.test\r\nBcc: b@y.test"));
    CHECK_NULL(dp_mail_from_address(p, "Name <a b@x.test>"));
    CHECK_STR(dp_mail_domain("a@b.example"), "b.example");
    CHECK_NULL(dp_mail_domain("a@"));
    CHECK_STR(dp_mail_date(p, 0), "Thu, 01 Jan 1970 00:00:00 +0000");
}

static void test_urls(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    int lo = -1;

    CHECK_NULL(dp_smtp_check_url(p, "smtps://smtp.example.com:465", &lo));
    CHECK_EQ(lo, 0);
    CHECK_NULL(dp_smtp_check_url(p, "smtp://smtp.example.com:587", &lo));
    CHECK_EQ(lo, 0);
    CHECK_NULL(dp_smtp_check_url(p, "smtp://127.0.0.1:2525", &lo));
    CHECK_EQ(lo, 1);
    CHECK_NULL(dp_smtp_check_url(p, "smtp://localhost:25", &lo));
    CHECK_EQ(lo, 1);
    CHECK_NULL(dp_smtp_check_url(p, "smtp://[::1]:25", &lo));
    CHECK_EQ(lo, 1);
    /* a name that only starts like a loopback address is not one */
    CHECK_NULL(dp_smtp_check_url(p, "smtp://127.mail.example:25", &lo));
    CHECK_EQ(lo, 0);
    CHECK_NOT_NULL(dp_smtp_check_url(p, "http://smtp.example.com", &lo));
    CHECK_NOT_NULL(dp_smtp_check_url(p, "smtp://user:pw@smtp.example.com", &lo));
    CHECK_NOT_NULL(dp_smtp_check_url(p, "smtp://", &lo));
    CHECK_NOT_NULL(dp_smtp_check_url(p, "smtp://h.example?x=1", &lo));
    CHECK_NOT_NULL(dp_smtp_check_url(p, NULL, &lo));
}

/* A refused connection: a failure worth retrying later, not a permanent one. */
static void test_send_refused(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    int port = dp_fake_free_port(), permanent = -1;
    const char *err;
    dp_smtp_cfg cfg = {NULL, NULL, NULL, 5000, NULL, NULL, NULL};

    if (!CHECK(port > 0)) { /* a port that was just free: bound, then closed */
        return;
    }
    cfg.url = apr_psprintf(p, "smtp://127.0.0.1:%d", port);
    long reply = -1;
    err = dp_smtp_send(p, &cfg, "a@x.test", "b@y.test", "x\r\n", 3, &permanent, &reply);
    CHECK_NOT_NULL(err);
    CHECK_EQ(permanent, 0);
    CHECK_EQ(reply, 0);                            /* nobody answered */
    CHECK(err && strstr(err, "b@y.test") == NULL); /* never the recipient in a log line */
}

/* A server without STARTTLS on an address that is not loopback: nothing may be sent. */
typedef struct plain_server {
    int listener;
    int saw_mail_from;
} plain_server;

static void *serve_plain(void *data)
{
    plain_server *srv = data;
    int c = accept(srv->listener, NULL, NULL);
    char buf[512];
    ssize_t n;

    if (c < 0) {
        return NULL;
    }
    (void)!write(c, "220 plain.test ESMTP\r\n", 22);
    while ((n = read(c, buf, sizeof(buf) - 1)) > 0) {
        buf[n] = '\0';
        if (strncasecmp(buf, "EHLO", 4) == 0) {
            (void)!write(c, "250-plain.test\r\n250 8BITMIME\r\n", 30);
        }
        else if (strncasecmp(buf, "MAIL", 4) == 0) {
            srv->saw_mail_from = 1;
            (void)!write(c, "250 ok\r\n", 8);
        }
        else if (strncasecmp(buf, "QUIT", 4) == 0) {
            (void)!write(c, "221 bye\r\n", 9);
            break;
        }
        else {
            (void)!write(c, "502 no\r\n", 8);
        }
    }
    close(c);
    return NULL;
}

/* This machine's first IPv4 address that is not loopback, or 0. */
static in_addr_t outside_address(void)
{
    struct ifaddrs *ifs, *i;
    in_addr_t found = 0;

    if (getifaddrs(&ifs) != 0) {
        return 0;
    }
    for (i = ifs; i != NULL && found == 0; i = i->ifa_next) {
        if (i->ifa_addr != NULL && i->ifa_addr->sa_family == AF_INET) {
            in_addr_t v = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
            if ((ntohl(v) >> 24) != 127) {
                found = v;
            }
        }
    }
    freeifaddrs(ifs);
    return found;
}

static void test_starttls_required(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    plain_server srv = {-1, 0};
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    in_addr_t ip = outside_address();
    dp_smtp_cfg cfg = {NULL, NULL, NULL, 5000, NULL, NULL, NULL};
    pthread_t th;
    const char *err;
    char text[INET_ADDRSTRLEN];
    int permanent = -1;

    if (ip == 0) {
        printf("# mail/starttls_required: no address outside loopback here; skipped\n");
        return;
    }
    a.sin_addr.s_addr = ip;
    srv.listener = socket(AF_INET, SOCK_STREAM, 0);
    if (!CHECK(srv.listener >= 0 && bind(srv.listener, (struct sockaddr *)&a, sizeof(a)) == 0
               && listen(srv.listener, 1) == 0
               && getsockname(srv.listener, (struct sockaddr *)&a, &len) == 0
               && pthread_create(&th, NULL, serve_plain, &srv) == 0)) {
        if (srv.listener >= 0) close(srv.listener);
        return;
    }
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof(text));
    cfg.url = apr_psprintf(p, "smtp://%s:%d", text, ntohs(a.sin_port));
    long reply = -1;
    err = dp_smtp_send(p, &cfg, "a@x.test", "b@y.test", "Subject: x\r\n\r\nsecret\r\n", 21,
                       &permanent, &reply);
    pthread_join(th, NULL);
    close(srv.listener);
    CHECK_MSG(err != NULL, "sent over %s without STARTTLS", cfg.url);
    CHECK_EQ(srv.saw_mail_from, 0);
}

const dp_test_case dp_suite_mail[] = {
    {"compose",           test_compose          },
    {"header_injection",  test_header_injection },
    {"encoding",          test_encoding         },
    {"limits",            test_limits           },
    {"addresses",         test_addresses        },
    {"urls",              test_urls             },
    {"send_refused",      test_send_refused     },
    {"starttls_required", test_starttls_required},
    {NULL,                NULL                  },
};
