/* dp_pgbin: PostgreSQL's binary result format to the handlers' text (see dp_pgbin.h). The
 * formats are PostgreSQL's send functions: integers big-endian two's complement, a boolean one
 * byte, a uuid its 16 bytes, a timestamp an int64 of microseconds since 2000-01-01 00:00
 * (integer datetimes, the only kind since PostgreSQL 10), with INT64_MIN and INT64_MAX for
 * -infinity and infinity. */
#include "dp_pgbin.h"
#include "dp_uuid.h"

#include <apr_base64.h>
#include <apr_strings.h>

#include <stdint.h>

/* Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
#define PG_EPOCH_US 946684800000000LL

static uint64_t be(const char *v, int len)
{
    uint64_t x = 0;
    for (int i = 0; i < len; i++) {
        x = (x << 8) | (unsigned char)v[i];
    }
    return x;
}

/* v in decimal, in the pool (without the formatter: a list renders hundreds). */
static const char *i64_text(apr_pool_t *p, int64_t v)
{
    char buf[21], *o = buf + sizeof(buf);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        *--o = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        *--o = '-';
    }
    return apr_pstrmemdup(p, o, (apr_size_t)(buf + sizeof(buf) - o));
}

/* The rendering of a fixed-size or text value; NULL when it has none. */
static const char *render(apr_pool_t *p, unsigned int oid, const char *v, int len)
{
    switch (oid) {
    case DP_PGBIN_BOOL: return len == 1 ? (v[0] ? "t" : "f") : NULL;
    case DP_PGBIN_INT2: return len == 2 ? apr_itoa(p, (int16_t)be(v, 2)) : NULL;
    case DP_PGBIN_INT4: return len == 4 ? apr_ltoa(p, (long)(int32_t)be(v, 4)) : NULL;
    case DP_PGBIN_INT8: return len == 8 ? i64_text(p, (int64_t)be(v, 8)) : NULL;
    case DP_PGBIN_NAME:
    case DP_PGBIN_TEXT:
    case DP_PGBIN_BPCHAR:
    case DP_PGBIN_VARCHAR:
        /* the text itself, in the database's encoding (UTF-8), as the text format sends it */
        return apr_pstrmemdup(p, v, (apr_size_t)len);
    case DP_PGBIN_BYTEA: {
        char *s = apr_palloc(p, (apr_size_t)apr_base64_encode_len(len));
        apr_base64_encode_binary(s, (const unsigned char *)v, len);
        return s;
    }
    case DP_PGBIN_UUID:
        return len == DP_UUID_BYTES ? dp_uuid_text(p, (const unsigned char *)v) : NULL;
    default: return NULL;
    }
}

int dp_pgbin_text(apr_pool_t *p, unsigned int oid, const char *v, int len, const char **out)
{
    int64_t t;

    *out = NULL;
    if (v == NULL || len < 0) {
        return 0;
    }
    if (oid != DP_PGBIN_TIMESTAMP && oid != DP_PGBIN_TIMESTAMPTZ) {
        return (*out = render(p, oid, v, len)) != NULL;
    }
    if (len != 8) {
        return 0;
    }
    t = (int64_t)be(v, 8);
    /* +/-infinity, and the last 30 years before PostgreSQL's end of time (294276), which do
     * not fit once moved to 1970: no instant to write, as to_char gives none */
    if (t == INT64_MIN || t > INT64_MAX - PG_EPOCH_US) {
        return 1;
    }
    *out = i64_text(p, t + PG_EPOCH_US);
    return 1;
}
