/* Directives. Every default is resolved in dp_config_finish, and documented once in
 * conf/docportal.conf. */
#include "dp_config.h"
#include "core/dp_jwt.h"
#include "core/dp_password.h"
#include "core/dp_auditchain.h" /* audit chain */
#include "core/dp_mail.h"

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <http_log.h>

void *dp_config_create(apr_pool_t *p, server_rec *s)
{
    dp_config *c = apr_pcalloc(p, sizeof(*c));
    (void)s;
    c->token_hours = -1;
    c->bcrypt_cost = -1;
    c->max_body = -1;
    c->require_tls = -1;
    c->trust_forwarded_proto = -1;
    c->cookie_sessions = -1; /* sessions and lockout */
    c->idle_timeout = -1;
    c->lockout.failures = -1;
    c->lockout_ip.failures = -1;
    c->audit_seal_interval = -1;
    c->audit_sweep_interval = -1;
    c->anon_audit_limit = -1;
    c->audit_batch_max = -1;
    c->audit_batch_wait_ms = -1;
    c->read_pipelines = -1;
    c->mail_interval = -1;
    c->mail_tries = -1;
    c->require_verified = -1;
    c->register_limit = -1;
    c->reset_limit = -1;
    c->min_notice = -1;
    c->max_pending = -1;
    c->horizon_days = -1;
    c->reminder_lead = -1;
    return c;
}

/* A virtual host's configuration (add) over the main server's (base), one line a field: the
 * host's value where it set one, else the main server's. Unset is NULL for a pointer, -1 for
 * a number, flag or duration a directive sets (0 means something there), and 0 for the
 * numbers only dp_config_finish fills in. A field that one directive sets together with
 * another (a key's length and origin, the age of DocPortalMailRetry) follows that one. The
 * comparisons make a macro used on the wrong kind of field fail the build. */
#define MERGE_PTR(f)           (c->f = add->f != NULL ? add->f : base->f)
#define MERGE_INT(f)           (c->f = add->f != -1 ? add->f : base->f)
#define MERGE_NUM(f)           (c->f = add->f > 0 ? add->f : base->f)
#define MERGE_PTR_WITH(f, key) (c->f = add->key != NULL ? add->f : base->f)
#define MERGE_INT_WITH(f, key) (c->f = add->key != -1 ? add->f : base->f)

void *dp_config_merge(apr_pool_t *p, void *basev, void *addv)
{
    dp_config *base = basev, *add = addv;
    dp_config *c = apr_pcalloc(p, sizeof(*c));

    /* secrets and keys */
    MERGE_PTR(jwt_secret);
    MERGE_PTR_WITH(jwt_secret_len, jwt_secret);
    MERGE_PTR_WITH(jwt_secret_origin, jwt_secret);
    MERGE_PTR(message_keys);
    /* sessions, limits */
    MERGE_INT(token_hours);
    MERGE_INT(bcrypt_cost);
    MERGE_PTR(cors_origin);
    MERGE_INT(max_body);
    MERGE_PTR(dummy_hash); /* made in post_config, after the merge */
    /* video rooms and Google */
    MERGE_PTR(jitsi_base);
    MERGE_PTR(google.key_file_json);
    MERGE_PTR(google.api_base);
    MERGE_PTR(google.token_url);
    MERGE_NUM(google.timeout_ms);
    MERGE_PTR(google_id.certs_url);
    MERGE_PTR(google_id.client_id);
    MERGE_NUM(google_id.timeout_ms);
    MERGE_NUM(google_id.leeway_s);
    MERGE_PTR(google_gsi_url);
    /* billing */
    MERGE_PTR(currency);
    MERGE_PTR(stripe.api_base);
    MERGE_PTR(stripe.secret_key);
    MERGE_PTR(stripe.api_version);
    MERGE_NUM(stripe.timeout_ms);
    MERGE_PTR(stripe_publishable);
    MERGE_PTR(stripe_webhook_secret);
    MERGE_PTR(stripe_js_url);
    /* transport */
    MERGE_INT(require_tls);
    MERGE_INT(trust_forwarded_proto);
    MERGE_PTR(hsts);
    /* sessions and lockout */
    MERGE_INT(cookie_sessions);
    MERGE_INT(idle_timeout);
    MERGE_INT_WITH(lockout, lockout.failures);
    MERGE_INT_WITH(lockout_ip, lockout_ip.failures);
    /* audit chain */
    MERGE_PTR(audit_key);
    MERGE_PTR_WITH(audit_key_len, audit_key);
    MERGE_PTR_WITH(audit_key_origin, audit_key);
    MERGE_INT(audit_seal_interval);
    MERGE_INT(audit_sweep_interval);
    MERGE_INT(anon_audit_limit);
    MERGE_INT(audit_batch_max);
    MERGE_INT(audit_batch_wait_ms);
    MERGE_INT(read_pipelines);
    /* accounts and mail */
    MERGE_PTR(public_url);
    MERGE_PTR(smtp_url);
    MERGE_PTR(smtp_user);
    MERGE_PTR(smtp_password);
    MERGE_PTR(mail_from);
    MERGE_PTR(mail_dir);
    MERGE_INT(mail_interval);
    MERGE_INT(mail_tries);
    MERGE_INT_WITH(mail_max_age, mail_tries);
    MERGE_INT(require_verified);
    MERGE_INT(register_limit);
    MERGE_INT(reset_limit);
    MERGE_PTR(google_domain);
    /* scheduling */
    MERGE_INT(min_notice);
    MERGE_INT(max_pending);
    MERGE_INT(horizon_days);
    MERGE_INT(reminder_lead);
    return c;
}
#undef MERGE_PTR
#undef MERGE_INT
#undef MERGE_NUM
#undef MERGE_PTR_WITH
#undef MERGE_INT_WITH

static dp_config *cmd_cfg(cmd_parms *cmd)
{
    return dp_config_get(cmd->server);
}

static const char *set_jwt_secret(cmd_parms *cmd, void *d, const char *arg)
{
    dp_config *c = cmd_cfg(cmd);
    (void)d;
    c->jwt_secret = (const unsigned char *)arg;
    c->jwt_secret_len = strlen(arg);
    c->jwt_secret_origin = DP_DIR_JWT_SECRET;
    return NULL;
}

/* Secrets are read here, while httpd still runs as root, so their files may be 0600 root.
 * Reads at most max bytes into *out (NUL-terminated, trailing newlines dropped). */
static const char *read_secret_file(cmd_parms *cmd, const char *arg, apr_off_t max,
                                    const char **path_out, char **out, apr_size_t *len_out)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf;
    apr_size_t len;
    apr_status_t rv;

    if (path == NULL) {
        return apr_psprintf(cmd->pool, "%s: invalid path '%s'", cmd->cmd->name, arg);
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: cannot read '%s' (%pm)", cmd->cmd->name, path, &rv);
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_PROT, f);
    if (rv != APR_SUCCESS || fi.size > max) {
        apr_file_close(f);
        return apr_psprintf(cmd->pool, "%s: '%s' is larger than %" APR_OFF_T_FMT " bytes",
                            cmd->cmd->name, path, max);
    }
    if (fi.protection & APR_FPROT_WREAD) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server,
                     "DP03001: secret file %s is world-readable; chmod 600 it", path);
    }
    len = (apr_size_t)fi.size;
    buf = apr_palloc(cmd->pool, len + 1);
    rv = apr_file_read_full(f, buf, len, &len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(cmd->pool, "%s: reading '%s' failed (%pm)", cmd->cmd->name, path, &rv);
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--; /* a trailing newline from echo/openssl is not part of the secret */
    }
    buf[len] = '\0';
    *path_out = path;
    *out = buf;
    *len_out = len;
    return NULL;
}

/* A file whose bytes are an HMAC key (the JWT secret, the audit key): the key, and where it
 * came from ("DIRECTIVE /path") for messages. */
static const char *read_key_file(cmd_parms *cmd, const char *arg, const unsigned char **key,
                                 apr_size_t *len, const char **origin)
{
    const char *path;
    char *buf;
    const char *err = read_secret_file(cmd, arg, 4096, &path, &buf, len);

    if (err != NULL) {
        return apr_pstrcat(cmd->pool, err,
                           "; create it with 'openssl rand -hex 32 > FILE' "
                           "and chmod 600",
                           NULL);
    }
    *key = (const unsigned char *)buf;
    *origin = apr_pstrcat(cmd->pool, cmd->cmd->name, " ", path, NULL);
    return NULL;
}

static const char *set_jwt_secret_file(cmd_parms *cmd, void *d, const char *arg)
{
    dp_config *c = cmd_cfg(cmd);
    (void)d;
    return read_key_file(cmd, arg, &c->jwt_secret, &c->jwt_secret_len, &c->jwt_secret_origin);
}

static const char *set_google_key_file(cmd_parms *cmd, void *d, const char *arg)
{
    const char *path;
    char *buf;
    apr_size_t len;
    const char *err = read_secret_file(cmd, arg, 64 * 1024, &path, &buf, &len);
    (void)d;
    if (err == NULL) {
        cmd_cfg(cmd)->google.key_file_json = buf;
    }
    return err;
}

/* DocPortalMessageKey ID SPEC [current]: SPEC is 64 hex chars, base64 of 32 bytes, or
 * file:PATH (read now, as root). Old keys stay to open old rows; one key seals new ones. */
static const char *set_message_key(cmd_parms *cmd, void *d, const char *id, const char *spec,
                                   const char *flag)
{
    dp_config *c = cmd_cfg(cmd);
    const char *err;
    (void)d;

    if (flag != NULL && strcasecmp(flag, "current") != 0) {
        return apr_psprintf(cmd->pool, "%s: third word must be 'current', not '%s'", cmd->cmd->name,
                            flag);
    }
    if (strncmp(spec, "file:", 5) == 0) {
        const char *path = ap_server_root_relative(cmd->temp_pool, spec + 5);
        if (path == NULL) {
            return apr_psprintf(cmd->pool, "%s: invalid path in '%s'", cmd->cmd->name, spec);
        }
        spec = apr_pstrcat(cmd->temp_pool, "file:", path, NULL);
    }
    if (c->message_keys == NULL) {
        c->message_keys = dp_keyring_make(cmd->pool);
    }
    err = dp_keyring_add(c->message_keys, cmd->pool, id, spec, flag != NULL);
    return err ? apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL) : NULL;
}

static const char *set_google_client(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    cmd_cfg(cmd)->google_id.client_id = arg;
    return NULL;
}

/* A secret that lives in a file (Stripe keys): offset of the slot in cmd->info. */
static const char *set_secret_file(cmd_parms *cmd, void *d, const char *arg)
{
    const char *path;
    char *buf;
    apr_size_t len;
    const char *err = read_secret_file(cmd, arg, 4096, &path, &buf, &len);
    (void)d;
    if (err == NULL && len == 0) {
        err = apr_psprintf(cmd->pool, "%s: '%s' is empty", cmd->cmd->name, path);
    }
    if (err == NULL) {
        *(const char **)((char *)cmd_cfg(cmd) + (size_t)cmd->info) = buf;
    }
    return err;
}

static const char *set_currency(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    if (strlen(arg) != 3 || !apr_isalpha(arg[0]) || !apr_isalpha(arg[1]) || !apr_isalpha(arg[2])) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a three-letter ISO 4217 code",
                            cmd->cmd->name, arg);
    }
    cmd_cfg(cmd)->currency = apr_psprintf(cmd->pool, "%c%c%c", apr_tolower(arg[0]),
                                          apr_tolower(arg[1]), apr_tolower(arg[2]));
    return NULL;
}

static const char *set_publishable(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    if (strncmp(arg, "pk_", 3) != 0) {
        return apr_psprintf(cmd->pool, "%s: a publishable key starts with pk_", cmd->cmd->name);
    }
    cmd_cfg(cmd)->stripe_publishable = arg;
    return NULL;
}

static const char *check_url(cmd_parms *cmd, const char *arg, const char **out)
{
    apr_size_t len = strlen(arg);
    if ((strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0)
        || strchr(arg, ' ') != NULL) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not an http(s) URL", cmd->cmd->name, arg);
    }
    while (len > 0 && arg[len - 1] == '/') {
        len--; /* one form, so that paths are appended with a single slash */
    }
    *out = apr_pstrmemdup(cmd->pool, arg, len);
    return NULL;
}

/* A script's URL, kept exactly as given (Stripe.js lives at a path ending in a slash). */
static const char *set_script_url(cmd_parms *cmd, void *d, const char *arg)
{
    const char *checked;
    const char *err = check_url(cmd, arg, &checked);
    (void)d;
    if (err == NULL) {
        *(const char **)((char *)cmd_cfg(cmd) + (size_t)cmd->info) = arg;
    }
    return err;
}

static const char *set_url(cmd_parms *cmd, void *d, const char *arg)
{
    dp_config *c = cmd_cfg(cmd);
    const char **slot = (const char **)((char *)c + (size_t)cmd->info);
    (void)d;
    return check_url(cmd, arg, slot);
}

static const char *parse_int(cmd_parms *cmd, const char *arg, long lo, long hi, long *out)
{
    char *end;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || v < lo || v > hi) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a whole number from %ld to %ld",
                            cmd->cmd->name, arg, lo, hi);
    }
    *out = (long)v;
    return NULL;
}

/* A whole-number directive: where it goes in dp_config and its range. */
typedef struct int_rule {
    size_t offset;
    long lo, hi;
} int_rule;

static const int_rule token_hours_rule = {APR_OFFSETOF(dp_config, token_hours), 1, 24 * 30};
static const int_rule bcrypt_cost_rule = {APR_OFFSETOF(dp_config, bcrypt_cost), 4, 31};
static const int_rule max_body_rule = {APR_OFFSETOF(dp_config, max_body), 1024, 64L * 1024 * 1024};

static const char *set_int(cmd_parms *cmd, void *d, const char *arg)
{
    const int_rule *rule = cmd->info;
    long v = 0;
    const char *err = parse_int(cmd, arg, rule->lo, rule->hi, &v);
    (void)d;
    if (err == NULL) {
        *(int *)((char *)cmd_cfg(cmd) + rule->offset) = (int)v;
    }
    return err;
}

/* On|Off into the int at cmd->info's offset of the server's config */
static const char *set_flag(cmd_parms *cmd, void *d, int on)
{
    (void)d;
    *(int *)((char *)cmd_cfg(cmd) + (size_t)cmd->info) = on;
    return NULL;
}

static const char *set_cors_origin(cmd_parms *cmd, void *d, const char *arg)
{
    apr_size_t len = strlen(arg);
    (void)d;
    if (strcmp(arg, "*") == 0) {
        return apr_psprintf(cmd->pool,
                            "%s: '*' is not allowed for an API holding health "
                            "data; name the front end's origin",
                            cmd->cmd->name);
    }
    if ((strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0) || arg[len - 1] == '/'
        || strchr(arg, ' ') != NULL) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not an origin like https://app.example.com",
                            cmd->cmd->name, arg);
    }
    cmd_cfg(cmd)->cors_origin = arg;
    return NULL;
}

/* The header value as given ("max-age=63072000; includeSubDomains"), or Off. */
static const char *set_hsts(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    if (strcasecmp(arg, "Off") == 0) {
        cmd_cfg(cmd)->hsts = "";
        return NULL;
    }
    if (strncasecmp(arg, "max-age=", 8) != 0 || !apr_isdigit(arg[8])
        || strpbrk(arg, "\r\n") != NULL) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not a Strict-Transport-Security value "
                            "like \"max-age=31536000; includeSubDomains\" (or Off)",
                            cmd->cmd->name, arg);
    }
    cmd_cfg(cmd)->hsts = arg;
    return NULL;
}

/* ---- sessions and lockout */

/* DocPortalLockout[IP] FAILURES WINDOW_SECONDS LOCK_SECONDS; cmd->info: the rule's offset */
static const char *set_lockout(cmd_parms *cmd, void *d, const char *failures, const char *window,
                               const char *lock)
{
    dp_lockout_rule *rule = (dp_lockout_rule *)((char *)cmd_cfg(cmd) + (size_t)cmd->info);
    long f = 0, w = 0, l = 0;
    const char *err;
    (void)d;

    if ((err = parse_int(cmd, failures, 1, 1000000, &f)) != NULL
        || (err = parse_int(cmd, window, 1, 7 * 86400, &w)) != NULL
        || (err = parse_int(cmd, lock, 1, 7 * 86400, &l)) != NULL) {
        return err;
    }
    rule->failures = (int)f;
    rule->window_s = (int)w;
    rule->lock_s = (int)l;
    return NULL;
}

static const char *set_idle_timeout(cmd_parms *cmd, void *d, const char *arg)
{
    long v = 0;
    const char *err = parse_int(cmd, arg, 0, 30L * 86400, &v);
    (void)d;
    if (err == NULL && v != 0 && v < DP_IDLE_TIMEOUT_MIN) {
        err = apr_psprintf(cmd->pool,
                           "%s: %ld is below %d seconds (last use is recorded once "
                           "a minute); use 0 to turn it off",
                           cmd->cmd->name, v, DP_IDLE_TIMEOUT_MIN);
    }
    if (err == NULL) {
        cmd_cfg(cmd)->idle_timeout = (int)v;
    }
    return err;
}

/* audit chain: the sealer works per database, with the main server's settings, so
 * its directives belong to the main server (virtual hosts inherit them). */
static const char *set_audit_key_file(cmd_parms *cmd, void *d, const char *arg)
{
    dp_config *c = cmd_cfg(cmd);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST);
    (void)d;
    return err ? err
               : read_key_file(cmd, arg, &c->audit_key, &c->audit_key_len, &c->audit_key_origin);
}

static const int_rule audit_seal_rule = {APR_OFFSETOF(dp_config, audit_seal_interval), 1, 3600};

/* At most half the window's ten minutes: a row is then searched while in the window, also one
 * that commits well after the time it carries, as long as the sealer keeps up */
static const int_rule audit_sweep_rule = {APR_OFFSETOF(dp_config, audit_sweep_interval), 1, 300};

/* A number of the main server only (virtual hosts share its sealer) */
static const char *set_main_server_int(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST);
    return err ? err : set_int(cmd, d, arg);
}

static const int_rule anon_audit_rule = {APR_OFFSETOF(dp_config, anon_audit_limit), 0, 1000000};
static const int_rule audit_batch_rule = {APR_OFFSETOF(dp_config, audit_batch_max), 1, 1000};
static const int_rule audit_wait_rule = {APR_OFFSETOF(dp_config, audit_batch_wait_ms), 10, 60000};
static const int_rule read_pipelines_rule = {APR_OFFSETOF(dp_config, read_pipelines), 0, 64};

/* ---- accounts and mail. The transport belongs to the main server: one delivery thread per
 * child sends the whole outbox with the main server's settings. */

static const char *set_smtp_url(cmd_parms *cmd, void *d, const char *arg)
{
    int loopback;
    const char *err = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST);
    (void)d;
    if (err == NULL && (err = dp_smtp_check_url(cmd->pool, arg, &loopback)) != NULL) {
        err = apr_psprintf(cmd->pool, "%s: '%s' %s", cmd->cmd->name, arg, err);
    }
    if (err == NULL) {
        cmd_cfg(cmd)->smtp_url = arg;
    }
    return err;
}

static const char *set_main_secret_file(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST);
    return err ? err : set_secret_file(cmd, d, arg);
}

static const char *set_mail_from(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST);
    (void)d;
    if (err == NULL && dp_mail_from_address(cmd->temp_pool, arg) == NULL) {
        err = apr_psprintf(cmd->pool,
                           "%s: '%s' is not an address like no-reply@example.com "
                           "or \"Practice Name <no-reply@example.com>\"",
                           cmd->cmd->name, arg);
    }
    if (err == NULL) {
        cmd_cfg(cmd)->mail_from = arg;
    }
    return err;
}

static const char *set_mail_dir(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    (void)d;
    if (err == NULL && path == NULL) {
        err = apr_psprintf(cmd->pool, "%s: invalid path '%s'", cmd->cmd->name, arg);
    }
    if (err == NULL) {
        cmd_cfg(cmd)->mail_dir = path;
    }
    return err;
}

static const int_rule mail_interval_rule = {APR_OFFSETOF(dp_config, mail_interval), 1, 3600};

static const char *set_mail_interval(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST);
    return err ? err : set_int(cmd, d, arg);
}

/* DocPortalMailRetry ATTEMPTS MAX_AGE_SECONDS */
static const char *set_mail_retry(cmd_parms *cmd, void *d, const char *tries, const char *age)
{
    long t = 0, a = 0;
    const char *err = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST);
    (void)d;
    if (err == NULL && (err = parse_int(cmd, tries, 1, 100, &t)) == NULL
        && (err = parse_int(cmd, age, 60, 30L * 86400, &a)) == NULL) {
        cmd_cfg(cmd)->mail_tries = (int)t;
        cmd_cfg(cmd)->mail_max_age = (int)a;
    }
    return err;
}

static const int_rule register_limit_rule = {APR_OFFSETOF(dp_config, register_limit), 1, 1000000};
static const int_rule reset_limit_rule = {APR_OFFSETOF(dp_config, reset_limit), 1, 1000000};
static const int_rule min_notice_rule = {APR_OFFSETOF(dp_config, min_notice), 0, 30L * 1440};
static const int_rule max_pending_rule = {APR_OFFSETOF(dp_config, max_pending), 1, 100000};
static const int_rule horizon_rule = {APR_OFFSETOF(dp_config, horizon_days), 1, 3650};
static const int_rule reminder_rule = {APR_OFFSETOF(dp_config, reminder_lead), 1, 720};

/* the reminders are queued by the delivery thread, with the main server's settings */
static const char *set_reminder_lead(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST);
    return err ? err : set_int(cmd, d, arg);
}

static const char *set_google_domain(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    if (strchr(arg, '.') == NULL || strpbrk(arg, "@/: \t") != NULL) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a domain like clinic.example.com",
                            cmd->cmd->name, arg);
    }
    cmd_cfg(cmd)->google_domain = apr_pstrdup(cmd->pool, arg);
    ap_str_tolower((char *)cmd_cfg(cmd)->google_domain);
    return NULL;
}

const command_rec dp_config_cmds[] = {
    AP_INIT_TAKE1(DP_DIR_JWT_SECRET, set_jwt_secret, NULL, RSRC_CONF,
                  "HMAC secret for session tokens (at least 32 bytes); prefer the file form"),
    AP_INIT_TAKE1(DP_DIR_JWT_SECRET_FILE, set_jwt_secret_file, NULL, RSRC_CONF,
                  "File holding the HMAC secret for session tokens (at least 32 bytes)"),
    AP_INIT_TAKE1(DP_DIR_TOKEN_LIFETIME, set_int, (void *)&token_hours_rule, RSRC_CONF,
                  "Session token lifetime in hours (default 24)"),
    AP_INIT_TAKE1(DP_DIR_BCRYPT_COST, set_int, (void *)&bcrypt_cost_rule, RSRC_CONF,
                  "bcrypt cost for new password hashes, 4..31 (default 11)"),
    AP_INIT_TAKE1(DP_DIR_CORS_ORIGIN, set_cors_origin, NULL, RSRC_CONF,
                  "The front end's origin allowed by CORS (default: none)"),
    AP_INIT_TAKE1(DP_DIR_MAX_BODY, set_int, (void *)&max_body_rule, RSRC_CONF,
                  "Largest accepted request body in bytes (default 1048576)"),
    AP_INIT_FLAG(DP_DIR_REQUIRE_TLS, set_flag, (void *)APR_OFFSETOF(dp_config, require_tls),
                 RSRC_CONF, "Refuse plain-HTTP API requests (default On)"),
    AP_INIT_TAKE23(DP_DIR_MESSAGE_KEY, set_message_key, NULL, RSRC_CONF,
                   "ID KEY [current]: an AES-256 key for messages and notes at rest (64 hex, "
                   "base64 or file:PATH); exactly one is current"),
    AP_INIT_TAKE1(DP_DIR_GOOGLE_CLIENT, set_google_client, NULL, RSRC_CONF,
                  "OAuth client id that Google ID tokens must name (aud); unset: sign-in off"),
    AP_INIT_TAKE1(DP_DIR_GOOGLE_CERTS, set_url,
                  (void *)APR_OFFSETOF(dp_config, google_id.certs_url), RSRC_CONF,
                  "Where Google's signing keys are fetched (default: Google's v1 certs)"),
    AP_INIT_TAKE1(DP_DIR_GOOGLE_GSI_URL, set_script_url,
                  (void *)APR_OFFSETOF(dp_config, google_gsi_url), RSRC_CONF,
                  "Where the portal loads Google Identity Services from "
                  "(default https://accounts.google.com/gsi/client)"),
    AP_INIT_TAKE1(DP_DIR_CURRENCY, set_currency, NULL, RSRC_CONF,
                  "Currency of invoices and payments (ISO 4217, default usd)"),
    AP_INIT_TAKE1(DP_DIR_STRIPE_KEY_FILE, set_secret_file,
                  (void *)APR_OFFSETOF(dp_config, stripe.secret_key), RSRC_CONF,
                  "File holding the Stripe secret key (sk_...); unset: payments are off"),
    AP_INIT_TAKE1(DP_DIR_STRIPE_PUBLIC, set_publishable, NULL, RSRC_CONF,
                  "Stripe publishable key (pk_...) handed to Stripe.js"),
    AP_INIT_TAKE1(DP_DIR_STRIPE_API_BASE, set_url, (void *)APR_OFFSETOF(dp_config, stripe.api_base),
                  RSRC_CONF, "Stripe API base URL (default https://api.stripe.com)"),
    AP_INIT_TAKE1(DP_DIR_STRIPE_HOOK_FILE, set_secret_file,
                  (void *)APR_OFFSETOF(dp_config, stripe_webhook_secret), RSRC_CONF,
                  "File holding the Stripe webhook signing secret (whsec_...)"),
    AP_INIT_TAKE1(DP_DIR_STRIPE_JS_URL, set_script_url,
                  (void *)APR_OFFSETOF(dp_config, stripe_js_url), RSRC_CONF,
                  "Where the portal loads Stripe.js from (default https://js.stripe.com/v3/)"),
    AP_INIT_TAKE1(DP_DIR_JITSI_BASE, set_url, (void *)APR_OFFSETOF(dp_config, jitsi_base),
                  RSRC_CONF, "Jitsi Meet server for video rooms (default https://meet.jit.si)"),
    AP_INIT_TAKE1(DP_DIR_PUBLIC_URL, set_url, (void *)APR_OFFSETOF(dp_config, public_url),
                  RSRC_CONF,
                  "The portal's base URL, used in every mailed link (default: this server)"),
    AP_INIT_TAKE1(DP_DIR_GOOGLE_KEY_FILE, set_google_key_file, NULL, RSRC_CONF,
                  "Google service-account key (JSON) for Meet links; unset: Jitsi rooms"),
    AP_INIT_TAKE1(DP_DIR_GOOGLE_API_BASE, set_url, (void *)APR_OFFSETOF(dp_config, google.api_base),
                  RSRC_CONF, "Google API base URL (default https://www.googleapis.com)"),
    AP_INIT_TAKE1(DP_DIR_GOOGLE_TOKEN, set_url, (void *)APR_OFFSETOF(dp_config, google.token_url),
                  RSRC_CONF, "Google OAuth token URL (default: the key file's token_uri)"),
    /* transport */
    AP_INIT_FLAG(DP_DIR_TRUST_FWD_PROTO, set_flag,
                 (void *)APR_OFFSETOF(dp_config, trust_forwarded_proto), RSRC_CONF,
                 "Treat X-Forwarded-Proto: https from a TLS-terminating proxy as TLS "
                 "(default Off)"),
    AP_INIT_TAKE1(DP_DIR_HSTS, set_hsts, NULL, RSRC_CONF,
                  "Strict-Transport-Security value on TLS answers (default max-age=31536000), "
                  "or Off"),
    /* sessions and lockout */
    AP_INIT_FLAG(DP_DIR_COOKIE_SESSIONS, set_flag, (void *)APR_OFFSETOF(dp_config, cookie_sessions),
                 RSRC_CONF,
                 "Also hand out sessions as HttpOnly cookies with a CSRF token (default Off)"),
    AP_INIT_TAKE3(DP_DIR_LOCKOUT, set_lockout, (void *)APR_OFFSETOF(dp_config, lockout), RSRC_CONF,
                  "FAILURES WINDOW LOCK: that many failed sign-ins for one email "
                  "within WINDOW seconds lock it for LOCK seconds (default 5 900 900)"),
    AP_INIT_TAKE3(DP_DIR_LOCKOUT_IP, set_lockout, (void *)APR_OFFSETOF(dp_config, lockout_ip),
                  RSRC_CONF,
                  "FAILURES WINDOW LOCK: the same per client address "
                  "(default 50 900 900)"),
    AP_INIT_TAKE1(DP_DIR_IDLE_TIMEOUT, set_idle_timeout, NULL, RSRC_CONF,
                  "Refuse a session unused for this many seconds (0: off, the default; "
                  "else at least 60)"),
    /* audit chain */
    AP_INIT_TAKE1(DP_DIR_AUDIT_KEY_FILE, set_audit_key_file, NULL, RSRC_CONF,
                  "File holding the HMAC key that seals the audit trail (at least 32 bytes)"),
    AP_INIT_TAKE1(DP_DIR_AUDIT_SEAL_EVERY, set_main_server_int, (void *)&audit_seal_rule, RSRC_CONF,
                  "Seconds between two runs of the audit sealer, 1..3600 (default 5)"),
    AP_INIT_TAKE1(DP_DIR_AUDIT_SWEEP_EVERY, set_main_server_int, (void *)&audit_sweep_rule,
                  RSRC_CONF,
                  "Seconds between two searches of the last ten minutes' audit rows for one "
                  "without a seal, 1..300 (default 300)"),
    AP_INIT_TAKE1(DP_DIR_ANON_AUDIT_LIMIT, set_int, (void *)&anon_audit_rule, RSRC_CONF,
                  "Refusals of anonymous requests audited one by one per client address a "
                  "minute, the rest counted into one event (0: all one by one; default 20)"),
    AP_INIT_TAKE1(DP_DIR_AUDIT_BATCH_MAX, set_int, (void *)&audit_batch_rule, RSRC_CONF,
                  "Audit events of reads written by one INSERT and one COMMIT at most "
                  "(1..1000; default 64)"),
    AP_INIT_TAKE1(DP_DIR_AUDIT_BATCH_WAIT, set_int, (void *)&audit_wait_rule, RSRC_CONF,
                  "Milliseconds a read waits for its audit event to commit before it fails "
                  "with 503 (10..60000; default 3000)"),
    AP_INIT_TAKE1(DP_DIR_READ_PIPELINES, set_int, (void *)&read_pipelines_rule, RSRC_CONF,
                  "Round trips in flight at once per child that carry the reads of several "
                  "requests (0..64; 0: each read its own; default 2)"),
    /* accounts and mail */
    AP_INIT_TAKE1(DP_DIR_SMTP_URL, set_smtp_url, NULL, RSRC_CONF,
                  "smtps://host[:port], or smtp://host[:port] (STARTTLS required except on "
                  "a loopback address)"),
    AP_INIT_TAKE1(DP_DIR_SMTP_USER_FILE, set_main_secret_file,
                  (void *)APR_OFFSETOF(dp_config, smtp_user), RSRC_CONF,
                  "File holding the SMTP AUTH user name"),
    AP_INIT_TAKE1(DP_DIR_SMTP_PASS_FILE, set_main_secret_file,
                  (void *)APR_OFFSETOF(dp_config, smtp_password), RSRC_CONF,
                  "File holding the SMTP AUTH password"),
    AP_INIT_TAKE1(DP_DIR_MAIL_FROM, set_mail_from, NULL, RSRC_CONF,
                  "From of every mail: addr or \"Name <addr>\""),
    AP_INIT_TAKE1(DP_DIR_MAIL_DIR, set_mail_dir, NULL, RSRC_CONF,
                  "Without an SMTP URL: directory each mail is written to as a file"),
    AP_INIT_TAKE1(DP_DIR_MAIL_INTERVAL, set_mail_interval, (void *)&mail_interval_rule, RSRC_CONF,
                  "Seconds between two delivery passes, 1..3600 (default 5)"),
    AP_INIT_TAKE2(DP_DIR_MAIL_RETRY, set_mail_retry, NULL, RSRC_CONF,
                  "Attempts and age in seconds after which a mail is given up (default 10 "
                  "172800)"),
    AP_INIT_FLAG(DP_DIR_REQUIRE_VERIFIED, set_flag,
                 (void *)APR_OFFSETOF(dp_config, require_verified), RSRC_CONF,
                 "On (default): an account must verify its email before using the API"),
    AP_INIT_TAKE1(DP_DIR_REGISTER_LIMIT, set_int, (void *)&register_limit_rule, RSRC_CONF,
                  "Accounts created per client address per hour (default 10)"),
    AP_INIT_TAKE1(DP_DIR_RESET_LIMIT, set_int, (void *)&reset_limit_rule, RSRC_CONF,
                  "Password reset requests per client address per hour (default 10)"),
    AP_INIT_TAKE1(DP_DIR_GOOGLE_DOMAIN, set_google_domain, NULL, RSRC_CONF,
                  "Google Calendar acts only for providers of this Workspace domain"),
    /* scheduling */
    AP_INIT_TAKE1(DP_DIR_MIN_NOTICE, set_int, (void *)&min_notice_rule, RSRC_CONF,
                  "Minutes between now and the earliest slot a client may book (default 0)"),
    AP_INIT_TAKE1(DP_DIR_MAX_PENDING, set_int, (void *)&max_pending_rule, RSRC_CONF,
                  "Pending appointments a client may hold at once (default 3)"),
    AP_INIT_TAKE1(DP_DIR_HORIZON_DAYS, set_int, (void *)&horizon_rule, RSRC_CONF,
                  "Days ahead a client may book (default 180)"),
    AP_INIT_TAKE1(DP_DIR_REMINDER_LEAD, set_reminder_lead, (void *)&reminder_rule, RSRC_CONF,
                  "Hours before a confirmed session its client is reminded, 1..720 (default 24)"),
    {NULL}};

const char *dp_config_finish(apr_pool_t *p, server_rec *s, dp_config *c)
{
    const char *err;
    if (c->token_hours == -1) c->token_hours = DP_DEFAULT_TOKEN_HOURS;
    if (c->bcrypt_cost == -1) c->bcrypt_cost = DP_BCRYPT_COST_DEFAULT;
    if (c->max_body == -1) c->max_body = DP_DEFAULT_MAX_BODY;
    if (c->require_tls == -1) c->require_tls = 1;
    if (c->jitsi_base == NULL) c->jitsi_base = DP_DEFAULT_JITSI_BASE;
    if (c->google.api_base == NULL) c->google.api_base = DP_DEFAULT_GOOGLE_API;
    if (c->google.timeout_ms == 0) c->google.timeout_ms = 10000;
    if (c->currency == NULL) c->currency = DP_DEFAULT_CURRENCY;
    if (c->stripe.api_base == NULL) c->stripe.api_base = DP_DEFAULT_STRIPE_API;
    if (c->stripe_js_url == NULL) c->stripe_js_url = DP_DEFAULT_STRIPE_JS;
    if (c->google_gsi_url == NULL) c->google_gsi_url = DP_DEFAULT_GOOGLE_GSI;
    if (c->stripe.api_version == NULL) c->stripe.api_version = DP_STRIPE_VERSION;
    if (c->stripe.timeout_ms == 0) c->stripe.timeout_ms = 20000;
    /* transport */
    if (c->trust_forwarded_proto == -1) c->trust_forwarded_proto = 0;
    if (c->hsts == NULL) c->hsts = DP_DEFAULT_HSTS;
    if (c->cookie_sessions == -1) c->cookie_sessions = 0; /* sessions and lockout */
    if (c->idle_timeout == -1) c->idle_timeout = 0;
    if (c->lockout.failures == -1) c->lockout = (dp_lockout_rule)DP_DEFAULT_LOCKOUT;
    if (c->lockout_ip.failures == -1) c->lockout_ip = (dp_lockout_rule)DP_DEFAULT_LOCKOUT_IP;

    if (c->jwt_secret == NULL) {
        return apr_psprintf(p,
                            "no JWT secret is configured: set %s to a file holding at "
                            "least %d random bytes (openssl rand -hex 32 > FILE; chmod 600 "
                            "FILE)",
                            DP_DIR_JWT_SECRET_FILE, DP_JWT_MIN_KEY);
    }
    if (c->jwt_secret_len < DP_JWT_MIN_KEY) {
        return apr_psprintf(p, "the JWT secret from %s is %lu bytes; at least %d are needed",
                            c->jwt_secret_origin, (unsigned long)c->jwt_secret_len, DP_JWT_MIN_KEY);
    }
    if (c->message_keys == NULL || dp_keyring_count(c->message_keys) == 0) {
        return apr_psprintf(p,
                            "no %s is configured: messages are encrypted at rest; add "
                            "'%s k1 file:/etc/apache2/docportal/message.key current' with "
                            "'openssl rand -hex 32' in that file (chmod 600)",
                            DP_DIR_MESSAGE_KEY, DP_DIR_MESSAGE_KEY);
    }
    if ((err = dp_keyring_check(c->message_keys)) != NULL
        || dp_keyring_current_id(c->message_keys) == NULL) {
        return apr_psprintf(p, "%s: %s", DP_DIR_MESSAGE_KEY,
                            err ? err : "one key must be marked current");
    }
    if (c->mail_interval == -1) c->mail_interval = DP_DEFAULT_MAIL_EVERY;
    if (c->mail_tries == -1) {
        c->mail_tries = DP_DEFAULT_MAIL_TRIES;
        c->mail_max_age = DP_DEFAULT_MAIL_MAX_AGE;
    }
    if (c->require_verified == -1) c->require_verified = 1;
    if (c->register_limit == -1) c->register_limit = DP_DEFAULT_REGISTER_LIMIT;
    if (c->reset_limit == -1) c->reset_limit = DP_DEFAULT_RESET_LIMIT;
    if (c->min_notice == -1) c->min_notice = 0;
    if (c->max_pending == -1) c->max_pending = DP_DEFAULT_MAX_PENDING;
    if (c->horizon_days == -1) c->horizon_days = DP_DEFAULT_HORIZON_DAYS;
    if (c->reminder_lead == -1) c->reminder_lead = DP_DEFAULT_REMINDER_LEAD;
    {
        /* what must outlive the configuration pass (p is its temporary pool) */
        apr_pool_t *keep = s->process->pconf;
        const char *host = s->server_hostname;
        int named = host != NULL && strspn(host, "0123456789.:[]") != strlen(host);
        if (c->mail_from == NULL) {
            /* no-reply@ServerName; an address literal or an odd name makes no mail domain */
            c->mail_from =
                named ? apr_pstrcat(keep, "no-reply@", host, NULL) : "no-reply@localhost";
            if (dp_mail_from_address(p, c->mail_from) == NULL) {
                c->mail_from = "no-reply@localhost";
            }
        }
        /* Links are never built from a request's Host header: whoever sends the request
         * would choose where a password reset link points. Mail that really leaves (SMTP)
         * needs the portal's address said; mail kept as files (development) points at
         * ServerName. */
        if (c->public_url == NULL && c->smtp_url != NULL) {
            return apr_psprintf(p,
                                "%s is needed with %s: every mailed link starts with it "
                                "(e.g. %s https://portal.example.com)",
                                DP_DIR_PUBLIC_URL, DP_DIR_SMTP_URL, DP_DIR_PUBLIC_URL);
        }
        if (c->public_url == NULL) {
            c->public_url = apr_pstrcat(keep, "http://", host ? host : "localhost", NULL);
        }
    }
    if (!s->is_virtual && c->smtp_url == NULL && c->mail_dir == NULL) {
        return apr_psprintf(p,
                            "no mail transport is configured: accounts are verified and "
                            "passwords reset through mailed links; set %s "
                            "smtps://smtp.example.com (with %s and %s) for real delivery, or "
                            "%s /var/lib/docportal/mail to have each mail written there as a "
                            "file (development)",
                            DP_DIR_SMTP_URL, DP_DIR_SMTP_USER_FILE, DP_DIR_SMTP_PASS_FILE,
                            DP_DIR_MAIL_DIR);
    }
    /* audit chain: sealing is on by default, so the key is required */
    if (c->audit_seal_interval == -1) c->audit_seal_interval = DP_DEFAULT_SEAL_EVERY;
    if (c->audit_sweep_interval == -1) c->audit_sweep_interval = DP_DEFAULT_SWEEP_EVERY;
    if (c->anon_audit_limit == -1) c->anon_audit_limit = DP_DEFAULT_ANON_AUDIT;
    if (c->audit_batch_max == -1) c->audit_batch_max = DP_DEFAULT_AUDIT_BATCH;
    if (c->audit_batch_wait_ms == -1) c->audit_batch_wait_ms = DP_DEFAULT_AUDIT_WAIT_MS;
    if (c->read_pipelines == -1) c->read_pipelines = DP_DEFAULT_READ_PIPELINES;
    if (c->audit_key == NULL) {
        return apr_psprintf(p,
                            "no %s is configured: audit events are sealed into a "
                            "tamper-evident chain with a key kept outside the database; "
                            "create one (openssl rand -hex 32 > /etc/apache2/docportal/"
                            "audit.key; chmod 600 it), back it up, and add '%s "
                            "/etc/apache2/docportal/audit.key'",
                            DP_DIR_AUDIT_KEY_FILE, DP_DIR_AUDIT_KEY_FILE);
    }
    if (c->audit_key_len < DP_AUDITCHAIN_KEY_MIN) {
        return apr_psprintf(p, "the audit key from %s is %lu bytes; at least %d are needed",
                            c->audit_key_origin, (unsigned long)c->audit_key_len,
                            DP_AUDITCHAIN_KEY_MIN);
    }
    return NULL;
}
