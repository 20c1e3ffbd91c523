#include "dp_user.h"
#include "core/dp_json.h"

#include <apr_strings.h>
#include <string.h>

/* row column -> JSON key, for plain string fields */
typedef struct field_map {
    const char *col;
    const char *key;
} field_map;

static const field_map common_fields[] = {
    {"id",        "id"      },
    {"email",     "email"   },
    {"name",      "name"    },
    {"user_type", "userType"},
    {"phone",     "phone"   },
    {"avatar",    "avatar"  },
};
static const field_map provider_fields[] = {
    {"specialty", "specialty"},
    {"license",   "license"  },
    {"bio",       "bio"      },
    {"time_zone", "timeZone" },
};
static const field_map client_fields[] = {
    {"date_of_birth", "dateOfBirth"},
    {"address",       "address"    },
    {"insurance",     "insurance"  },
    {"provider_id",   "providerId" },
};

static void set_fields(json_t *u, const dp_rows *rows, int i, const field_map *m, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        dp_json_set_str(u, m[k].key, dp_rows_get(rows, i, m[k].col));
    }
}

json_t *dp_user_json(apr_pool_t *p, const dp_rows *rows, int i)
{
    json_t *u = dp_json_own(p, json_object());
    const char *type = dp_rows_get(rows, i, "user_type");

    set_fields(u, rows, i, common_fields, sizeof(common_fields) / sizeof(common_fields[0]));
    if (type != NULL && strcmp(type, "provider") == 0) {
        const char *rate = dp_rows_get(rows, i, "hourly_rate_cents");
        set_fields(u, rows, i, provider_fields,
                   sizeof(provider_fields) / sizeof(provider_fields[0]));
        dp_json_set_money(u, "hourlyRate", rate ? apr_atoi64(rate) : 0, rate != NULL);
    }
    else {
        const char *ec = dp_rows_get(rows, i, "emergency_contact");
        json_t *ecj = ec ? json_loads(ec, 0, NULL) : NULL;
        set_fields(u, rows, i, client_fields, sizeof(client_fields) / sizeof(client_fields[0]));
        json_object_set_new(u, "emergencyContact", ecj ? ecj : json_null());
    }
    {
        const char *verified = dp_rows_get(rows, i, "email_verified");
        json_object_set_new(u, "emailVerified",
                            json_boolean(verified != NULL && strcmp(verified, "t") == 0));
    }
    {
        /* which optional mail the user wants (absent columns: a row from elsewhere) */
        static const char *const prefs[][2] = {
            {"pref_reminders",    "reminders"   },
            {"pref_messages",     "messages"    },
            {"pref_appointments", "appointments"}
        };
        json_t *np = json_object();
        for (size_t k = 0; k < sizeof(prefs) / sizeof(prefs[0]); k++) {
            const char *v = dp_rows_get(rows, i, prefs[k][0]);
            json_object_set_new(np, prefs[k][1], json_boolean(v == NULL || strcmp(v, "t") == 0));
        }
        json_object_set_new(u, "notificationPrefs", np);
    }
    dp_json_set_str(u, "createdAt", dp_rows_get(rows, i, "created_at"));
    dp_json_set_str(u, "updatedAt", dp_rows_get(rows, i, "updated_at"));
    return u;
}

const char *dp_user_client_id(const dp_rows *rows)
{
    const char *type = dp_rows_get(rows, 0, "user_type");
    return (type != NULL && strcmp(type, "client") == 0) ? dp_rows_get(rows, 0, "id") : NULL;
}
