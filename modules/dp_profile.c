#include "dp_profile.h"
#include "dp_sql.h"

#include "core/dp_json.h"
#include "core/dp_validate.h"

#include <apr_strings.h>
#include <string.h>

#define MAX_MONEY_CENTS 100000000LL /* 1,000,000.00 (docs/api.md, "Billing") */

typedef enum { K_TEXT, K_PHONE, K_URL, K_MONEY, K_ZONE, K_PAST_DATE, K_CONTACT } kind;

typedef struct field_rule {
    dp_profile_field id;
    const char *key;  /* JSON key, also the error's field */
    const char *type; /* NULL: both user types */
    kind kind;
    apr_size_t max_chars;
} field_rule;

static const field_rule rules[] = {
    {DP_PF_NAME,          "name",             NULL,       K_TEXT,      200 },
    {DP_PF_PHONE,         "phone",            NULL,       K_PHONE,     32  },
    {DP_PF_AVATAR,        "avatar",           NULL,       K_URL,       2048},
    {DP_PF_SPECIALTY,     "specialty",        "provider", K_TEXT,      200 },
    {DP_PF_LICENSE,       "license",          "provider", K_TEXT,      100 },
    {DP_PF_BIO,           "bio",              "provider", K_TEXT,      5000},
    {DP_PF_HOURLY_RATE,   "hourlyRate",       "provider", K_MONEY,     0   },
    {DP_PF_TIME_ZONE,     "timeZone",         "provider", K_ZONE,      64  },
    {DP_PF_DATE_OF_BIRTH, "dateOfBirth",      "client",   K_PAST_DATE, 10  },
    {DP_PF_ADDRESS,       "address",          "client",   K_TEXT,      500 },
    {DP_PF_INSURANCE,     "insurance",        "client",   K_TEXT,      200 },
    {DP_PF_EMERGENCY,     "emergencyContact", "client",   K_CONTACT,   0   },
};

static const char *today_utc(apr_pool_t *p)
{
    apr_time_exp_t now;
    apr_time_exp_gmt(&now, apr_time_now());
    return apr_psprintf(p, "%04d-%02d-%02d", now.tm_year + 1900, now.tm_mon + 1, now.tm_mday);
}

static dp_error *read_contact(apr_pool_t *p, json_t *ec, const char **out)
{
    static const char *const keys[] = {"name", "phone", "relationship"};
    json_t *clean = dp_json_own(p, json_object());
    dp_error *e;

    if (!json_is_object(ec)) {
        return dp_error_field(p, "emergencyContact",
                              "emergencyContact must be an object {name, phone, relationship}.");
    }
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        const char *v;
        const char *field = apr_pstrcat(p, "emergencyContact.", keys[k], NULL);
        if ((e = dp_json_string(p, ec, keys[k], field, 0, 200, &v))) return e;
        dp_json_set_str(clean, keys[k], v);
    }
    *out = dp_json_dump(p, clean, NULL);
    return NULL;
}

static dp_error *read_one(apr_pool_t *p, json_t *body, const field_rule *r, const char **out)
{
    json_t *v = json_object_get(body, r->key);
    long long cents;
    int present;
    dp_error *e;

    *out = NULL;
    switch (r->kind) {
    case K_MONEY:
        if ((e = dp_json_money(p, body, r->key, r->key, MAX_MONEY_CENTS, &cents, &present))) {
            return e;
        }
        *out = present ? apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)cents) : NULL;
        return NULL;
    case K_CONTACT: return json_is_null(v) ? NULL : read_contact(p, v, out);
    default: break;
    }
    /* name may not be cleared; the other text fields may */
    if ((e = dp_json_string(p, body, r->key, r->key, r->id == DP_PF_NAME, r->max_chars, out))) {
        return e;
    }
    if (*out == NULL) {
        return NULL;
    }
    if ((r->kind == K_PHONE && !dp_valid_phone(*out)) || (r->kind == K_URL && !dp_valid_url(*out))
        || (r->kind == K_ZONE && !dp_valid_zone_name(*out))
        || (r->kind == K_PAST_DATE && (!dp_valid_date(*out) || strcmp(*out, today_utc(p)) > 0))) {
        static const char *const why[] = {
            [K_PHONE] = "is not a valid phone number.",
            [K_URL] = "must be an http(s) URL.",
            [K_ZONE] = "must be an IANA time zone name.",
            [K_PAST_DATE] = "must be a past date as YYYY-MM-DD.",
        };
        return dp_error_field(p, r->key, apr_pstrcat(p, r->key, " ", why[r->kind], NULL));
    }
    return NULL;
}

dp_error *dp_profile_read(apr_pool_t *p, json_t *body, const char *user_type, dp_profile *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const field_rule *r = &rules[i];
        dp_error *e;
        if ((r->type != NULL && strcmp(r->type, user_type) != 0)
            || json_object_get(body, r->key) == NULL) {
            continue;
        }
        if ((e = read_one(p, body, r, &out->value[r->id]))) {
            return e;
        }
        out->given[r->id] = 1;
    }
    return NULL;
}

dp_error *dp_profile_check(dp_db *db, apr_pool_t *p, const dp_profile *pr)
{
    const char *zone = pr->value[DP_PF_TIME_ZONE];
    dp_rows *rows;
    dp_error *e;

    if (zone == NULL) {
        return NULL;
    }
    if ((e = dp_db_select(db, DPQ_ZONE_EXISTS, &rows, DP_ARGS(zone)))) return e;
    if (rows->nrows == 0) {
        return dp_error_field(p, "timeZone", "timeZone is not a known IANA time zone.");
    }
    return NULL;
}

const char **dp_profile_update_args(apr_pool_t *p, const dp_profile *pr, const char *user_id,
                                    int *nargs)
{
    const char **args = apr_palloc(p, sizeof(char *) * (2 * DP_PF_COUNT + 1));
    for (int i = 0; i < DP_PF_COUNT; i++) {
        args[2 * i] = pr->given[i] ? "true" : "false";
        args[2 * i + 1] = pr->value[i];
    }
    args[2 * DP_PF_COUNT] = user_id;
    *nargs = 2 * DP_PF_COUNT + 1;
    return args;
}
