#include "dp_cookie.h"

#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_sep(char c)
{
    /* ',' too: httpd joins repeated Cookie headers with ", " */
    return c == ';' || c == ',';
}

const char *dp_cookie_get(apr_pool_t *p, const char *header, const char *name)
{
    const apr_size_t nlen = name != NULL ? strlen(name) : 0;
    const char *cur = header;

    if (header == NULL || nlen == 0) {
        return NULL;
    }
    while (*cur != '\0') {
        const char *k, *kend, *v, *vend;

        while (is_blank(*cur) || is_sep(*cur)) {
            cur++;
        }
        for (k = cur; *cur != '\0' && !is_sep(*cur) && *cur != '='; cur++) {
        }
        for (kend = cur; kend > k && is_blank(kend[-1]); kend--) {
        }
        if (*cur != '=') {
            continue; /* a bare word, or the end: no value to take */
        }
        for (v = ++cur; *cur != '\0' && !is_sep(*cur); cur++) {
        }
        for (vend = cur; vend > v && is_blank(vend[-1]); vend--) {
        }
        while (v < vend && is_blank(*v)) {
            v++;
        }
        if (vend - v >= 2 && *v == '"' && vend[-1] == '"') {
            v++;
            vend--;
        }
        if ((apr_size_t)(kend - k) == nlen && memcmp(k, name, nlen) == 0 && vend > v) {
            return apr_pstrmemdup(p, v, (apr_size_t)(vend - v));
        }
    }
    return NULL;
}

const char *dp_cookie_csrf(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                           const char *jti)
{
    static const char digits[] = "0123456789abcdef";
    static const char label[] = "csrf:";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    apr_size_t jlen = jti != NULL ? strlen(jti) : 0;
    unsigned char *msg;
    char *out;

    if (jti == NULL || key == NULL) {
        return NULL;
    }
    msg = apr_palloc(p, sizeof(label) - 1 + jlen);
    memcpy(msg, label, sizeof(label) - 1);
    memcpy(msg + sizeof(label) - 1, jti, jlen);
    if (HMAC(EVP_sha256(), key, (int)keylen, msg, sizeof(label) - 1 + jlen, md, &mdlen) == NULL
        || mdlen != 32) {
        return NULL;
    }
    out = apr_palloc(p, 2 * mdlen + 1);
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 0x0f];
    }
    out[2 * mdlen] = '\0';
    return out;
}
