/* The audit chain's canonical form, links and checkpoint signatures (see dp_auditchain.h). */
#include "dp_auditchain.h"
#include "dp_crypto.h"

#include <apr_strings.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const dp_auditchain_columns[DP_AUDITCHAIN_NFIELDS] = {
    "seq",           "id",          "at_us",     "actor_id", "actor_type", "action",
    "resource_type", "resource_id", "client_id", "ip",       "outcome",    "request_id",
};

static const char ROW_LABEL[] = "dp-audit-row-v1";               /* written with its NUL */
static const char CHECKPOINT_LABEL[] = "dp-audit-checkpoint-v1"; /* likewise */

#define TAG_NULL  0x00
#define TAG_VALUE 0x01

static void put_be32(unsigned char *b, apr_uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static void put_be64(unsigned char *b, unsigned long long v)
{
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)v;
        v >>= 8;
    }
}

/* One field's encoding: its header (tag, and for a value the length) into hdr; returns the
 * header's size. A field longer than 4 GiB cannot come out of a text column of this table. */
static apr_size_t field_header(const char *v, unsigned char hdr[5])
{
    if (v == NULL) {
        hdr[0] = TAG_NULL;
        return 1;
    }
    hdr[0] = TAG_VALUE;
    put_be32(hdr + 1, (apr_uint32_t)strlen(v));
    return 5;
}

const unsigned char *dp_auditchain_canonical(apr_pool_t *p, const char *const *fields,
                                             apr_size_t *len)
{
    apr_size_t n = sizeof(ROW_LABEL);
    unsigned char *out, *w;

    for (int i = 0; i < DP_AUDITCHAIN_NFIELDS; i++) {
        n += fields[i] == NULL ? 1 : 5 + strlen(fields[i]);
    }
    out = w = apr_palloc(p, n);
    memcpy(w, ROW_LABEL, sizeof(ROW_LABEL));
    w += sizeof(ROW_LABEL);
    for (int i = 0; i < DP_AUDITCHAIN_NFIELDS; i++) {
        unsigned char hdr[5];
        apr_size_t h = field_header(fields[i], hdr);
        memcpy(w, hdr, h);
        w += h;
        if (fields[i] != NULL) {
            memcpy(w, fields[i], strlen(fields[i]));
            w += strlen(fields[i]);
        }
    }
    *len = n;
    return out;
}

void dp_auditchain_genesis(unsigned char out[DP_AUDITCHAIN_MAC_LEN])
{
    memset(out, 0, DP_AUDITCHAIN_MAC_LEN);
}

/* An HMAC-SHA256 context keyed with key, or NULL. */
static EVP_MAC_CTX *hmac_start(const unsigned char *key, apr_size_t keylen)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[2];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;

    EVP_MAC_free(mac); /* the context holds its own reference */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (ctx != NULL && EVP_MAC_init(ctx, key, keylen, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

static int hmac_finish(EVP_MAC_CTX *ctx, int ok, unsigned char out[DP_AUDITCHAIN_MAC_LEN])
{
    size_t outl = 0;
    ok = ok && EVP_MAC_final(ctx, out, &outl, DP_AUDITCHAIN_MAC_LEN) == 1
        && outl == DP_AUDITCHAIN_MAC_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -1;
}

int dp_auditchain_link(const unsigned char *key, apr_size_t keylen,
                       const unsigned char prev[DP_AUDITCHAIN_MAC_LEN], const char *const *fields,
                       unsigned char out[DP_AUDITCHAIN_MAC_LEN])
{
    EVP_MAC_CTX *ctx = hmac_start(key, keylen);
    int ok;

    if (ctx == NULL) {
        return -1;
    }
    ok = EVP_MAC_update(ctx, prev, DP_AUDITCHAIN_MAC_LEN) == 1
        && EVP_MAC_update(ctx, (const unsigned char *)ROW_LABEL, sizeof(ROW_LABEL)) == 1;
    for (int i = 0; ok && i < DP_AUDITCHAIN_NFIELDS; i++) {
        unsigned char hdr[5];
        apr_size_t h = field_header(fields[i], hdr);
        ok = EVP_MAC_update(ctx, hdr, h) == 1
            && (fields[i] == NULL || fields[i][0] == '\0'
                || EVP_MAC_update(ctx, (const unsigned char *)fields[i], strlen(fields[i])) == 1);
    }
    return hmac_finish(ctx, ok, out);
}

int dp_auditchain_checkpoint_sign(const unsigned char *key, apr_size_t keylen, long long position,
                                  const unsigned char mac[DP_AUDITCHAIN_MAC_LEN], long long at_us,
                                  unsigned char out[DP_AUDITCHAIN_MAC_LEN])
{
    unsigned char pos_b[8], at_b[8];
    EVP_MAC_CTX *ctx = hmac_start(key, keylen);
    int ok;

    if (ctx == NULL) {
        return -1;
    }
    put_be64(pos_b, (unsigned long long)position);
    put_be64(at_b, (unsigned long long)at_us);
    ok = EVP_MAC_update(ctx, (const unsigned char *)CHECKPOINT_LABEL, sizeof(CHECKPOINT_LABEL)) == 1
        && EVP_MAC_update(ctx, pos_b, sizeof(pos_b)) == 1
        && EVP_MAC_update(ctx, mac, DP_AUDITCHAIN_MAC_LEN) == 1
        && EVP_MAC_update(ctx, at_b, sizeof(at_b)) == 1;
    return hmac_finish(ctx, ok, out);
}

/* "name=" then a decimal number without sign, ending at a space or the end. */
static int parse_num(const char **s, const char *name, long long *out)
{
    apr_size_t n = strlen(name);
    char *end;
    long long v;

    if (strncmp(*s, name, n) != 0 || (*s)[n] < '0' || (*s)[n] > '9') {
        return -1;
    }
    v = strtoll(*s + n, &end, 10);
    if (*end != ' ') {
        return -1;
    }
    *out = v;
    *s = end + 1;
    return 0;
}

/* "name=" then 64 hex digits, ending at a space, a line end or the end. */
static int parse_mac(const char **s, const char *name, unsigned char out[DP_AUDITCHAIN_MAC_LEN])
{
    apr_size_t n = strlen(name);
    char hex[2 * DP_AUDITCHAIN_MAC_LEN + 1];
    const char *after;

    if (strncmp(*s, name, n) != 0) {
        return -1;
    }
    if (strnlen(*s + n, 2 * DP_AUDITCHAIN_MAC_LEN) != 2 * DP_AUDITCHAIN_MAC_LEN) {
        return -1;
    }
    after = *s + n + 2 * DP_AUDITCHAIN_MAC_LEN;
    if (*after != '\0' && *after != ' ' && *after != '\n' && *after != '\r') {
        return -1;
    }
    memcpy(hex, *s + n, 2 * DP_AUDITCHAIN_MAC_LEN);
    hex[2 * DP_AUDITCHAIN_MAC_LEN] = '\0';
    *s = *after == ' ' ? after + 1 : after;
    return dp_hex_decode(hex, out, DP_AUDITCHAIN_MAC_LEN);
}

/* The message of an error log line: the text after the leading bracketed fields ("[time]
 * [module:level] [pid ...] "), as httpd's default ErrorLogFormat writes them. NULL when a
 * field is not closed. */
static const char *log_message(const char *line)
{
    const char *s = line;

    while (*s == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ' ') {
            return NULL;
        }
        s = close + 2;
    }
    return s;
}

/* The end of the line: nothing but an optional line break. */
static int line_end(const char *s)
{
    return s[strspn(s, "\r\n")] == '\0';
}

int dp_auditchain_checkpoint_parse(const char *line, long long *position, long long *at_us,
                                   unsigned char mac[DP_AUDITCHAIN_MAC_LEN],
                                   unsigned char sig[DP_AUDITCHAIN_MAC_LEN])
{
    const char *s = log_message(line);
    apr_size_t digits;

    if (s == NULL
        || strncmp(s, DP_AUDITCHAIN_CHECKPOINT_TAG, strlen(DP_AUDITCHAIN_CHECKPOINT_TAG)) != 0) {
        return -1;
    }
    s += strlen(DP_AUDITCHAIN_CHECKPOINT_TAG);
    if (parse_num(&s, "position=", position) != 0 || *position <= 0
        || parse_num(&s, "at=", at_us) != 0 || parse_mac(&s, "mac=", mac) != 0
        || parse_mac(&s, "sig=", sig) != 0) {
        return -1;
    }
    if (strncmp(s, "rows=", 5) == 0) { /* the batch size, not signed */
        s += 5;
        digits = strspn(s, "0123456789");
        if (digits == 0) {
            return -1;
        }
        s += digits;
    }
    return line_end(s) ? 0 : -1;
}
