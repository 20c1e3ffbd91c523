#include "dp_uuid.h"
#include "dp_crypto.h"

#include <apr_strings.h>
#include <string.h>

const char *dp_uuid_text(apr_pool_t *p, const unsigned char b[DP_UUID_BYTES])
{
    /* each group's hex, then its dash over the NUL dp_hex_encode left (binary results render
     * several uuids a row, so without the formatter) */
    static const int group[] = {4, 2, 2, 2, 6};
    char *s = apr_palloc(p, 2 * DP_UUID_BYTES + 5), *o = s;

    for (int g = 0; g < 5; g++) {
        if (g > 0) {
            *o++ = '-';
        }
        dp_hex_encode(o, b, (apr_size_t)group[g]);
        o += 2 * group[g];
        b += group[g];
    }
    return s;
}

const char *dp_uuid_new(apr_pool_t *p)
{
    unsigned char b[DP_UUID_BYTES];

    if (dp_random_bytes(b, sizeof(b)) != 0) {
        return NULL;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    return dp_uuid_text(p, b);
}

int dp_uuid_valid(const char *s)
{
    unsigned char b[DP_UUID_BYTES];

    return dp_uuid_to_bytes(s, b) == 0;
}

int dp_uuid_to_bytes(const char *uuid, unsigned char out[DP_UUID_BYTES])
{
    unsigned char b[DP_UUID_BYTES];
    const char *s = uuid;

    if (s == NULL) {
        return -1;
    }
    for (int i = 0; i < DP_UUID_BYTES; i++) {
        int hi, lo;
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            if (*s++ != '-') {
                return -1;
            }
        }
        /* && stops at the terminating NUL: nothing past it is read */
        if ((hi = dp_hex_value(s[0])) < 0 || (lo = dp_hex_value(s[1])) < 0) {
            return -1;
        }
        b[i] = (unsigned char)((hi << 4) | lo);
        s += 2;
    }
    if (*s != '\0') {
        return -1;
    }
    memcpy(out, b, sizeof(b));
    return 0;
}
