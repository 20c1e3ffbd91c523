/* dp_validate: field rules, as pure functions over strings, so that they can be tested as
 * data (t/unit/cases/validate.tsv). Pure C, no httpd headers. */
#ifndef DP_VALIDATE_H
#define DP_VALIDATE_H

#include <apr_pools.h>

/* A pragmatic address check: one '@', a local part of 1..64 printable non-space bytes without
 * quotes or angle brackets, a domain of dot-separated labels (letters, digits, '-', not at a
 * label's ends) with at least one dot; 254 bytes at most. */
int dp_valid_email(const char *s);

/* Lower-case copy (ASCII) of an address, for storage and comparison. */
const char *dp_email_normalize(apr_pool_t *p, const char *s);

/* Lower-case copy (ASCII) of any string (canonical UUIDs); NULL stays NULL. */
const char *dp_lower(apr_pool_t *p, const char *s);

/* Password length in bytes within [DP_PASSWORD_MIN, DP_PASSWORD_MAX]. */
int dp_valid_password(const char *s);

/* "provider" or "client". */
int dp_valid_user_type(const char *s);

/* A real calendar date in strict YYYY-MM-DD form (years 1900..2999). */
int dp_valid_date(const char *s);

/* Strict 24-hour HH:MM. */
int dp_valid_time(const char *s);

/* A time of day as a request may give it: "HH:MM" (24 h) or the 12-hour form of the API's sample data
 * ("9:00 AM", "10:30 pm", "12:00 PM"; one space or none before AM/PM). Answers "HH:MM" in
 * p, or NULL when s is neither. */
const char *dp_time_normalize(apr_pool_t *p, const char *s);

/* The shape of an IANA zone name ("America/New_York", "UTC"): letters, digits, '/', '_',
 * '-', '+'; whether the zone exists is asked of PostgreSQL. */
int dp_valid_zone_name(const char *s);

/* An absolute http(s) URL without spaces or control characters, 2048 bytes at most. */
int dp_valid_url(const char *s);

/* A phone number: digits, spaces and + ( ) - . with 3..20 digits. */
int dp_valid_phone(const char *s);

/* An RFC 3339 instant: YYYY-MM-DDTHH:MM:SS, optional fraction (1..9 digits), then Z or
 * +HH:MM/-HH:MM; a real date (years 1900..2999, as dp_valid_date), second 60 allowed. */
int dp_valid_instant(const char *s);

#endif
