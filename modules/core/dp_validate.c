#include "dp_validate.h"
#include "dp_password.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

static int valid_label(const char *s, apr_size_t len)
{
    if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-') {
        return 0;
    }
    for (apr_size_t i = 0; i < len; i++) {
        if (!apr_isalnum(s[i]) && s[i] != '-') {
            return 0;
        }
    }
    return 1;
}

int dp_valid_email(const char *s)
{
    const char *at, *d, *dot;
    apr_size_t len, local_len;
    int dots = 0;

    if (s == NULL || (len = strlen(s)) == 0 || len > 254) {
        return 0;
    }
    at = strchr(s, '@');
    if (at == NULL || strchr(at + 1, '@') != NULL) {
        return 0;
    }
    local_len = (apr_size_t)(at - s);
    if (local_len == 0 || local_len > 64 || s[0] == '.' || at[-1] == '.') {
        return 0;
    }
    for (const char *c = s; c < at; c++) {
        unsigned char u = (unsigned char)*c;
        if (u <= 0x20 || u >= 0x7f || strchr("\"(),:;<>[\\]", u) != NULL
            || (u == '.' && c[1] == '.')) {
            return 0;
        }
    }
    for (d = at + 1; (dot = strchr(d, '.')) != NULL; d = dot + 1) {
        if (!valid_label(d, (apr_size_t)(dot - d))) {
            return 0;
        }
        dots++;
    }
    /* the last label is the top-level domain: letters only, two or more */
    if (dots == 0 || !valid_label(d, strlen(d)) || strlen(d) < 2) {
        return 0;
    }
    for (const char *c = d; *c; c++) {
        if (!apr_isalpha(*c)) {
            return 0;
        }
    }
    return 1;
}

const char *dp_lower(apr_pool_t *p, const char *s)
{
    char *out;
    if (s == NULL) {
        return NULL;
    }
    out = apr_pstrdup(p, s);
    for (char *c = out; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return out;
}

const char *dp_email_normalize(apr_pool_t *p, const char *s)
{
    return dp_lower(p, s != NULL ? s : "");
}

int dp_valid_password(const char *s)
{
    apr_size_t len;
    if (s == NULL) {
        return 0;
    }
    len = strlen(s);
    return len >= DP_PASSWORD_MIN && len <= DP_PASSWORD_MAX;
}

int dp_valid_user_type(const char *s)
{
    return s != NULL && (strcmp(s, "provider") == 0 || strcmp(s, "client") == 0);
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++) {
        if (!apr_isdigit(s[i])) {
            return 0;
        }
    }
    return 1;
}

int dp_valid_date(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (s == NULL || strlen(s) != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2)
        || s[7] != '-' || !digits(s + 8, 2)) {
        return 0;
    }
    y = atoi(s);
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1900 || y > 2999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) {
        return 0;
    }
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 0;
    }
    return 1;
}

int dp_valid_time(const char *s)
{
    if (s == NULL || strlen(s) != 5 || !digits(s, 2) || s[2] != ':' || !digits(s + 3, 2)) {
        return 0;
    }
    return ((s[0] - '0') * 10 + (s[1] - '0')) < 24 && ((s[3] - '0') * 10 + (s[4] - '0')) < 60;
}

const char *dp_time_normalize(apr_pool_t *p, const char *s)
{
    apr_size_t len = s ? strlen(s) : 0, hlen;
    const char *colon, *rest;
    int h, m, pm;

    if (dp_valid_time(s)) {
        return apr_pstrdup(p, s);
    }
    if (len < 6 || len > 8 || (colon = strchr(s, ':')) == NULL) {
        return NULL;
    }
    hlen = (apr_size_t)(colon - s);
    if (hlen < 1 || hlen > 2 || !digits(s, hlen) || !digits(colon + 1, 2)) {
        return NULL;
    }
    rest = colon + 3;
    if (*rest == ' ') {
        rest++;
    }
    if (strcasecmp(rest, "AM") == 0) {
        pm = 0;
    }
    else if (strcasecmp(rest, "PM") == 0) {
        pm = 1;
    }
    else {
        return NULL;
    }
    h = atoi(s);
    m = atoi(colon + 1);
    if (h < 1 || h > 12 || m > 59) {
        return NULL;
    }
    h = h % 12 + (pm ? 12 : 0); /* 12:xx AM is 00:xx, 12:xx PM is 12:xx */
    return apr_psprintf(p, "%02d:%02d", h, m);
}

int dp_valid_zone_name(const char *s)
{
    apr_size_t len;
    if (s == NULL || (len = strlen(s)) == 0 || len > 64 || s[0] == '/' || strstr(s, "..")) {
        return 0;
    }
    for (const char *c = s; *c; c++) {
        if (!apr_isalnum(*c) && strchr("/_-+", *c) == NULL) {
            return 0;
        }
    }
    return 1;
}

int dp_valid_url(const char *s)
{
    const char *rest;
    if (s == NULL || strlen(s) > 2048) {
        return 0;
    }
    if (strncmp(s, "https://", 8) == 0) {
        rest = s + 8;
    }
    else if (strncmp(s, "http://", 7) == 0) {
        rest = s + 7;
    }
    else {
        return 0;
    }
    if (*rest == '\0' || strchr("/?#:@", *rest) != NULL) {
        return 0; /* a host is required */
    }
    for (const char *c = s; *c; c++) {
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

int dp_valid_phone(const char *s)
{
    int n = 0;
    if (s == NULL || strlen(s) > 32) {
        return 0;
    }
    for (const char *c = s; *c; c++) {
        if (apr_isdigit(*c)) {
            n++;
        }
        else if (strchr(" +()-.", *c) == NULL) {
            return 0;
        }
    }
    return n >= 3 && n <= 20;
}

/* two digits at s, as a number not above max; -1 otherwise */
static int two_digits(const char *s, int max)
{
    int v;
    if (!digits(s, 2)) {
        return -1;
    }
    v = (s[0] - '0') * 10 + (s[1] - '0');
    return v <= max ? v : -1;
}

int dp_valid_instant(const char *s)
{
    const char *t;

    if (s == NULL || strlen(s) < 20 || strlen(s) > 40) {
        return 0;
    }
    {
        char day[11];
        memcpy(day, s, 10);
        day[10] = '\0';
        if (!dp_valid_date(day)) {
            return 0;
        }
    }
    if ((s[10] != 'T' && s[10] != 't') || two_digits(s + 11, 23) < 0 || s[13] != ':'
        || two_digits(s + 14, 59) < 0 || s[16] != ':' || two_digits(s + 17, 60) < 0) {
        return 0;
    }
    t = s + 19;
    if (*t == '.') {
        int n = 0;
        while (apr_isdigit(t[1 + n])) {
            n++;
        }
        if (n < 1 || n > 9) {
            return 0;
        }
        t += 1 + n;
    }
    if ((*t == 'Z' || *t == 'z') && t[1] == '\0') {
        return 1;
    }
    return (*t == '+' || *t == '-') && two_digits(t + 1, 23) >= 0 && t[3] == ':'
        && two_digits(t + 4, 59) >= 0 && t[6] == '\0';
}
