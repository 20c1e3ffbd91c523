/* dp_epoch: see dp_epoch.h. The civil date of a day count is computed directly (the proleptic
 * Gregorian calendar in 400-year eras), with floor division, so instants before 1970 come out
 * right as well. */
#include "dp_epoch.h"

#include <apr_strings.h>

#define USEC_PER_DAY 86400000000LL

int dp_epoch_parse(const char *s, long long *usec)
{
    long long v = 0;
    int neg = 0, n = 0;

    if (s == NULL) {
        return 0;
    }
    if (*s == '-') {
        neg = 1;
        s++;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (++n > 18) {
            return 0;
        }
        v = v * 10 + (*s - '0');
    }
    if (n == 0 || *s != '\0') {
        return 0;
    }
    *usec = neg ? -v : v;
    return 1;
}

typedef struct civil {
    long long y;
    int m, d, hh, mm, ss, ms;
} civil;

static void civil_of(long long usec, civil *c)
{
    long long days = usec / USEC_PER_DAY, rem = usec % USEC_PER_DAY;
    long long era, doe, yoe, doy, mp, z;

    if (rem < 0) {
        rem += USEC_PER_DAY;
        days--;
    }
    c->hh = (int)(rem / 3600000000LL);
    c->mm = (int)(rem / 60000000LL % 60);
    c->ss = (int)(rem / 1000000LL % 60);
    c->ms = (int)(rem / 1000 % 1000);
    /* days since 1970-01-01 to a date: shift to 0000-03-01, so that a year's leap day is its
     * last day, then split into 400-year eras of 146097 days */
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;                                      /* [0, 146096] */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    c->d = (int)(doy - (153 * mp + 2) / 5 + 1);
    c->m = (int)(mp < 10 ? mp + 3 : mp - 9);
    c->y = yoe + era * 400 + (c->m <= 2);
}

/* n as width digits, zero-padded, at out (n in [0, 10^width)). */
static char *digits(char *out, int n, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + n % 10);
        n /= 10;
    }
    return out + width;
}

/* A year of four digits is written by hand (every call of a list writes several); the years
 * outside 0 to 9999, which PostgreSQL also holds, through the formatter. */
static int plain_year(const civil *c)
{
    return c->y >= 0 && c->y <= 9999;
}

const char *dp_epoch_iso(apr_pool_t *p, const char *usec)
{
    long long v;
    civil c;
    char *s, *o;

    if (!dp_epoch_parse(usec, &v)) {
        return NULL;
    }
    civil_of(v, &c);
    if (!plain_year(&c)) {
        return apr_psprintf(p, "%04" APR_INT64_T_FMT "-%02d-%02dT%02d:%02d:%02d.%03dZ",
                            (apr_int64_t)c.y, c.m, c.d, c.hh, c.mm, c.ss, c.ms);
    }
    s = o = apr_palloc(p, sizeof("YYYY-MM-DDTHH:MM:SS.mmmZ"));
    o = digits(o, (int)c.y, 4);
    *o++ = '-';
    o = digits(o, c.m, 2);
    *o++ = '-';
    o = digits(o, c.d, 2);
    *o++ = 'T';
    o = digits(o, c.hh, 2);
    *o++ = ':';
    o = digits(o, c.mm, 2);
    *o++ = ':';
    o = digits(o, c.ss, 2);
    *o++ = '.';
    o = digits(o, c.ms, 3);
    *o++ = 'Z';
    *o = '\0';
    return s;
}

int dp_epoch_local(apr_pool_t *p, const char *usec, const char **date, const char **time)
{
    long long v;
    civil c;

    *date = *time = NULL;
    if (!dp_epoch_parse(usec, &v)) {
        return 0;
    }
    civil_of(v, &c);
    if (plain_year(&c)) {
        char *d = apr_palloc(p, sizeof("YYYY-MM-DD") + sizeof("HH:MM")), *o = d;
        o = digits(o, (int)c.y, 4);
        *o++ = '-';
        o = digits(o, c.m, 2);
        *o++ = '-';
        o = digits(o, c.d, 2);
        *o++ = '\0';
        *date = d;
        *time = o;
        o = digits(o, c.hh, 2);
        *o++ = ':';
        o = digits(o, c.mm, 2);
        *o = '\0';
        return 1;
    }
    *date = apr_psprintf(p, "%04" APR_INT64_T_FMT "-%02d-%02d", (apr_int64_t)c.y, c.m, c.d);
    *time = apr_psprintf(p, "%02d:%02d", c.hh, c.mm);
    return 1;
}
