/* dp-rekey: after a key rotation, re-encrypt the rows still sealed under older keys with the
 * current key, and the rows still in an older format (aead_version 1, dp_aead.h) in the current
 * format, in batches, each batch one transaction: messages, then clinical_notes, then
 * note_addenda (a table the database does not have yet, an older schema, is skipped with a
 * note). Each batch first runs SET LOCAL docportal.rekey = 'on', which lets the owner re-seal
 * signed clinical notes (their trigger refuses any other change).
 *
 *   dp-rekey [--database URL] [--key ID=SPEC[,current] ...] [--keys-from-conf HTTPD_CONF]
 *            [--batch N] [--dry-run]
 *
 * The key ring is the module's (dp_keyring): keys from --key and from the DocPortalMessageKey
 * lines of an httpd configuration file, exactly one of them current. A row that does not
 * open (its key is not in the ring, or it was tampered with) is reported by id, counted and
 * left as it is. Rows are visited once per run in id order, so the run ends even then; rows
 * locked by someone else are skipped and left for the next run (the summary counts what is
 * still under other keys, and what is still in the old format). A second run finds nothing
 * left to do. Prints one line per batch, a summary line per table, a line of the rows moved
 * to the current format and a total;
 * exit status 0, 1 on a database (or sealing) failure, 2 on bad arguments or keys. Run it as
 * the owner of the tables (the app role may not update note_addenda or signed notes).
 *
 * Secrets: prefer DATABASE_URL in the environment to --database, and file: specs or
 * --keys-from-conf to raw keys after --key: command lines are visible to other users. */
#include "dp_aead.h"
#include "dp_cli.h"
#include "dp_keyring.h"

#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_BATCH 500
#define MAX_BATCH     100000
#define CONF_MAX      (8 * 1024 * 1024)

/* The tables sealed with the key ring, visited in this order. For each: its purpose, the
 * columns the AAD binds the id to (dp_aead_binding: owner, and a receiver for messages), and
 * the statements. The SELECT takes the rows not under the current key or not in the current
 * format, after the last one visited ($3 NULL on the first batch); the UPDATE (key_id = $5,
 * aead_version = $6) replaces only the row as it was read, and touches only key_id, nonce,
 * ciphertext and aead_version (what the signed-note trigger lets a rekey change). */
typedef struct rekey_table {
    const char *name;  /* also the to_regclass() argument, with "public." */
    const char *bound; /* what the AAD binds the id to, in words for the output */
    dp_aead_purpose purpose;
    const char *select_sql, *update_sql, *remaining_sql;
} rekey_table;

#define REKEY_CURRENT_FORMAT "aead_version = " DP_AEAD_VERSION_TEXT
#define REKEY_SELECT(table, bound, receiver)                                                       \
    "SELECT id, " bound ", " receiver ", key_id, encode(nonce, 'base64'),"                         \
    " encode(ciphertext, 'base64'), aead_version FROM " table                                      \
    " WHERE (key_id <> $1 OR NOT " REKEY_CURRENT_FORMAT ")"                                        \
    " AND ($3::uuid IS NULL OR id > $3::uuid) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"
#define REKEY_UPDATE(table)                                                                        \
    "UPDATE " table " SET key_id = $1, nonce = decode($2, 'base64'),"                              \
    " ciphertext = decode($3, 'base64'), " REKEY_CURRENT_FORMAT                                    \
    " WHERE id = $4 AND key_id = $5 AND aead_version = $6::smallint"
/* rows under other keys; rows in an older format */
#define REKEY_REMAINING(table)                                                                     \
    "SELECT count(*) FILTER (WHERE key_id <> $1),"                                                 \
    " count(*) FILTER (WHERE NOT " REKEY_CURRENT_FORMAT ") FROM " table
#define REKEY_TABLE(table, purpose, bound, receiver, what)                                         \
    {                                                                                              \
        table, what, purpose, REKEY_SELECT(table, bound, receiver), REKEY_UPDATE(table),           \
            REKEY_REMAINING(table)                                                                 \
    }

static const rekey_table TABLES[] = {
    REKEY_TABLE("messages", DP_AEAD_MESSAGE, "sender_id", "receiver_id", "sender"),
    REKEY_TABLE("clinical_notes", DP_AEAD_NOTE, "appointment_id", "NULL", "appointment"),
    REKEY_TABLE("note_addenda", DP_AEAD_ADDENDUM, "note_id", "NULL", "note"),
};
#define NTABLES ((int)(sizeof(TABLES) / sizeof(TABLES[0])))

/* Allows the signed-note trigger to let a batch re-seal signed clinical notes (the table's
 * owner only; it is a no-op for the other tables). LOCAL: it ends with the batch. */
static const char *const SQL_REKEY_ON = "SET LOCAL docportal.rekey = 'on'";
static const char *const SQL_EXISTS = "SELECT to_regclass($1) IS NOT NULL";

typedef struct rekey_counts {
    long rekeyed, unknown, tampered, bad_ids, raced, remain;
    long upgraded;   /* of rekeyed: rows that were in an older format */
    long old_remain; /* rows still in an older format after the run */
} rekey_counts;

typedef struct rekey_run {
    PGconn *db;
    const dp_keyring *kr;
    const char *current;
    int batch;
    int dry_run;
    long batches;
    const rekey_table *t; /* the table being visited */
    rekey_counts *c;      /* its counts */
} rekey_run;

static void usage(FILE *f)
{
    fputs("usage: dp-rekey [--database URL] [--key ID=SPEC[,current] ...]\n"
          "                [--keys-from-conf HTTPD_CONF] [--batch N] [--dry-run]\n"
          "  --database URL        libpq URL or conninfo (default: $DATABASE_URL)\n"
          "  --key ID=SPEC         a message key: 64 hex digits, base64 of 32 bytes or\n"
          "                        file:PATH; append ,current for the key to seal under\n"
          "  --keys-from-conf F    read 'DocPortalMessageKey ID SPEC [current]' lines of F\n"
          "                        (that file only: Include is not followed)\n"
          "  --batch N             rows per transaction (default 500)\n"
          "  --dry-run             open and count, change nothing\n",
          f);
}

/* ---- keys from an httpd configuration file ---- */

/* Replace ${VAR} from the environment, as httpd does when it reads its configuration. */
static const char *expand_env(apr_pool_t *p, const char *s, const char **err)
{
    const char *out = "";
    const char *at;

    while ((at = strstr(s, "${")) != NULL) {
        const char *end = strchr(at + 2, '}');
        const char *name, *val;
        if (end == NULL) {
            break;
        }
        name = apr_pstrndup(p, at + 2, (apr_size_t)(end - at - 2));
        if ((val = getenv(name)) == NULL) {
            *err = apr_psprintf(p, "${%s} is not set in the environment", name);
            return NULL;
        }
        out = apr_pstrcat(p, out, apr_pstrndup(p, s, (apr_size_t)(at - s)), val, NULL);
        s = end + 1;
    }
    return apr_pstrcat(p, out, s, NULL);
}

/* Next argument of a directive line, httpd style: a word, or a "quoted" / 'quoted' string
 * with backslash escapes of the quote. NULL at the end of the line. */
static const char *next_word(apr_pool_t *p, const char **line)
{
    const char *s = *line;
    char *w, *o;

    while (*s == ' ' || *s == '\t' || *s == '\r') {
        s++;
    }
    if (*s == '\0') {
        *line = s;
        return NULL;
    }
    w = o = apr_palloc(p, strlen(s) + 1);
    if (*s == '"' || *s == '\'') {
        const char q = *s++;
        while (*s != '\0' && *s != q) {
            if (*s == '\\' && s[1] == q) {
                s++;
            }
            *o++ = *s++;
        }
        if (*s == q) {
            s++;
        }
    }
    else {
        while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r') {
            *o++ = *s++;
        }
    }
    *o = '\0';
    *line = s;
    return w;
}

/* The DocPortalMessageKey lines of one configuration text (modified in place). */
static const char *parse_conf(apr_pool_t *p, dp_keyring *kr, const char *path, char *text,
                              int *added)
{
    char *line, *next;
    int lineno = 0;

    for (line = text; line != NULL; line = next) {
        const char *rest, *word, *id, *spec, *flag, *err = NULL;
        int first = ++lineno;
        char *nl;

        /* a line, with httpd's backslash-newline continuations joined */
        next = NULL;
        while ((nl = strchr(line, '\n')) != NULL) {
            if (nl > line && nl[-1] == '\\') {
                nl[-1] = ' ';
                nl[0] = ' ';
                lineno++;
                continue;
            }
            *nl = '\0';
            next = nl + 1;
            break;
        }
        rest = line;
        word = next_word(p, &rest);
        if (word == NULL || word[0] == '#' || strcasecmp(word, "DocPortalMessageKey") != 0) {
            continue;
        }
        if ((rest = expand_env(p, rest, &err)) == NULL) {
            return apr_psprintf(p, "%s:%d: %s", path, first, err);
        }
        id = next_word(p, &rest);
        spec = next_word(p, &rest);
        flag = next_word(p, &rest);
        if (id == NULL || spec == NULL || (flag != NULL && strcasecmp(flag, "current") != 0)
            || next_word(p, &rest) != NULL) {
            return apr_psprintf(p, "%s:%d: expected DocPortalMessageKey ID SPEC [current]", path,
                                first);
        }
        if ((err = dp_keyring_add(kr, p, id, spec, flag != NULL)) != NULL) {
            return apr_psprintf(p, "%s:%d: %s", path, first, err);
        }
        (*added)++;
    }
    return NULL;
}

static const char *keys_from_conf(apr_pool_t *p, dp_keyring *kr, const char *path, int *added)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t n;
    char ebuf[120];
    char *text;
    const char *err;

    if ((rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, p)) != APR_SUCCESS
        || (rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f)) != APR_SUCCESS) {
        return apr_psprintf(p, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    if (fi.size > CONF_MAX) {
        apr_file_close(f);
        return apr_psprintf(p, "%s: too big for a configuration file", path);
    }
    n = (apr_size_t)fi.size;
    text = apr_palloc(p, n + 1);
    rv = apr_file_read_full(f, text, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(p, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    text[n] = '\0';
    err = parse_conf(p, kr, path, text, added);
    OPENSSL_cleanse(text, n); /* raw keys, if any (the parsed words live in p until exit) */
    return err;
}

/* --key ID=SPEC[,current] */
static const char *key_from_arg(apr_pool_t *p, dp_keyring *kr, const char *arg)
{
    const char *eq = strchr(arg, '=');
    const char *id, *spec;
    apr_size_t n;
    int current = 0;

    if (eq == NULL) {
        return "--key wants ID=SPEC[,current]";
    }
    id = apr_pstrndup(p, arg, (apr_size_t)(eq - arg));
    spec = eq + 1;
    n = strlen(spec);
    if (n >= 8 && strcmp(spec + n - 8, ",current") == 0) {
        spec = apr_pstrndup(p, spec, n - 8);
        current = 1;
    }
    return dp_keyring_add(kr, p, id, spec, current);
}

/* ---- the database ---- */

static int db_command(PGconn *db, const char *sql)
{
    PGresult *res = PQexec(db, sql);
    int ok = dp_cli_db_ok(db, res, PGRES_COMMAND_OK, sql);

    PQclear(res);
    return ok;
}

/* Re-seal one row. Returns 1 if rekeyed (or would be, in a dry run), 0 if skipped, -1 on a
 * failure that must stop the run. */
static int rekey_row(rekey_run *run, apr_pool_t *p, PGresult *rows, int i)
{
    unsigned char aad[DP_AEAD_ROW_AAD_MAX];
    const char *id = PQgetvalue(rows, i, 0);
    dp_aead_binding bind = {run->t->purpose, id,
                            PQgetisnull(rows, i, 1) ? NULL : PQgetvalue(rows, i, 1),
                            PQgetisnull(rows, i, 2) ? NULL : PQgetvalue(rows, i, 2)};
    const char *version_text = PQgetvalue(rows, i, 6);
    int version = dp_aead_version_parse(version_text);
    dp_sealed in, out;
    const char *plain, *params[6];
    apr_size_t len;
    dp_error *e;
    PGresult *res;
    dp_aead_status st;
    int ok;

    in.key_id = PQgetvalue(rows, i, 3);
    in.nonce_b64 = PQgetvalue(rows, i, 4);
    in.ct_b64 = PQgetvalue(rows, i, 5);
    if (dp_aead_row_aad(&bind, version, aad) == 0) {
        fprintf(stderr, "dp-rekey: skipped %s: no %s id\n", id, run->t->bound);
        run->c->bad_ids++;
        return 0;
    }
    st = dp_aead_open_row(p, run->kr, &bind, version, &in, &plain, &len);
    if (st != DP_AEAD_OK) {
        fprintf(stderr, "dp-rekey: skipped %s (key %s): %s\n", id, in.key_id,
                dp_aead_status_name(st));
        if (st == DP_AEAD_UNKNOWN_KEY) {
            run->c->unknown++;
            return 0;
        }
        if (st == DP_AEAD_TAMPERED) {
            run->c->tampered++;
            return 0;
        }
        return -1;
    }
    e = dp_aead_seal_row(p, run->kr, &bind, plain, len, &out);
    OPENSSL_cleanse((void *)plain, len); /* PHI: gone as soon as it is sealed again */
    if (e != NULL) {
        fprintf(stderr, "dp-rekey: sealing %s failed: %s\n", id, e->detail);
        return -1;
    }
    if (run->dry_run) {
        run->c->upgraded += version != DP_AEAD_VERSION;
        return 1;
    }
    params[0] = out.key_id;
    params[1] = out.nonce_b64;
    params[2] = out.ct_b64;
    params[3] = id;
    params[4] = in.key_id;
    params[5] = version_text;
    res = PQexecParams(run->db, run->t->update_sql, 6, NULL, params, NULL, NULL, 0);
    if (!dp_cli_db_ok(run->db, res, PGRES_COMMAND_OK,
                      apr_psprintf(p, "UPDATE %s (row %s)", run->t->name, id))) {
        PQclear(res);
        return -1;
    }
    ok = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!ok) {
        /* locked FOR UPDATE, so this does not happen unless someone bypasses locks */
        fprintf(stderr, "dp-rekey: skipped %s: changed meanwhile\n", id);
        run->c->raced++;
    }
    else if (version != DP_AEAD_VERSION) {
        run->c->upgraded++;
    }
    return ok;
}

/* One batch of the current table in one transaction. Returns the number of rows visited, -1
 * on failure; *last receives the last id visited. */
static int rekey_batch(rekey_run *run, apr_pool_t *p, char last[40])
{
    const char *params[3];
    char limit[16];
    apr_pool_t *rowpool;
    PGresult *rows;
    long done = 0, skipped = 0;
    int n;

    if (!db_command(run->db, "BEGIN")) {
        return -1;
    }
    if (!db_command(run->db, SQL_REKEY_ON)) {
        db_command(run->db, "ROLLBACK");
        return -1;
    }
    apr_snprintf(limit, sizeof(limit), "%d", run->batch);
    params[0] = run->current;
    params[1] = limit;
    params[2] = last[0] != '\0' ? last : NULL;
    rows = PQexecParams(run->db, run->t->select_sql, 3, NULL, params, NULL, NULL, 0);
    if (!dp_cli_db_ok(run->db, rows, PGRES_TUPLES_OK,
                      apr_psprintf(p, "SELECT FROM %s", run->t->name))) {
        PQclear(rows);
        db_command(run->db, "ROLLBACK");
        return -1;
    }
    n = PQntuples(rows);
    apr_pool_create(&rowpool, p);
    for (int i = 0; i < n; i++) {
        int r = rekey_row(run, rowpool, rows, i);
        apr_pool_clear(rowpool);
        if (r < 0) {
            apr_pool_destroy(rowpool);
            PQclear(rows);
            db_command(run->db, "ROLLBACK");
            return -1;
        }
        if (r > 0) {
            done++;
        }
        else {
            skipped++;
        }
    }
    apr_pool_destroy(rowpool);
    if (n > 0) {
        apr_cpystrn(last, PQgetvalue(rows, n - 1, 0), 40);
    }
    PQclear(rows);
    if (!db_command(run->db, run->dry_run ? "ROLLBACK" : "COMMIT")) {
        return -1;
    }
    if (n > 0) {
        run->batches++;
        run->c->rekeyed += done;
        printf("batch %ld: %s, %d rows, %ld %s, %ld skipped\n", run->batches, run->t->name, n, done,
               run->dry_run ? "would be rekeyed" : "rekeyed", skipped);
    }
    return n;
}

/* 1 if the table exists (0: an older schema), -1 on failure. */
static int table_exists(rekey_run *run, apr_pool_t *p, const rekey_table *t)
{
    const char *params[1] = {apr_pstrcat(p, "public.", t->name, NULL)};
    PGresult *res = PQexecParams(run->db, SQL_EXISTS, 1, NULL, params, NULL, NULL, 0);
    int r = -1;

    if (dp_cli_db_ok(run->db, res, PGRES_TUPLES_OK,
                     apr_psprintf(p, "looking for table %s", t->name))) {
        r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    }
    PQclear(res);
    return r;
}

static int remaining(rekey_run *run, apr_pool_t *p)
{
    const char *params[1] = {run->current};
    PGresult *res = PQexecParams(run->db, run->t->remaining_sql, 1, NULL, params, NULL, NULL, 0);
    int ok = dp_cli_db_ok(run->db, res, PGRES_TUPLES_OK,
                          apr_psprintf(p, "SELECT count(*) FROM %s", run->t->name));

    if (ok) {
        run->c->remain = atol(PQgetvalue(res, 0, 0));
        run->c->old_remain = atol(PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return ok;
}

static long skipped_of(const rekey_counts *c)
{
    return c->unknown + c->tampered + c->bad_ids + c->raced;
}

static long rekeyed_so_far(const rekey_counts *counts)
{
    long n = 0;

    for (int i = 0; i < NTABLES; i++) {
        n += counts[i].rekeyed;
    }
    return n;
}

/* Every table in turn; one summary line per table, then the total. */
static int run_rekey(rekey_run *run, apr_pool_t *p)
{
    rekey_counts counts[NTABLES], total;
    const char *did = run->dry_run ? "would be rekeyed" : "rekeyed";

    memset(counts, 0, sizeof(counts));
    memset(&total, 0, sizeof(total));
    for (int ti = 0; ti < NTABLES; ti++) {
        char last[40] = "";
        int n, exists;

        run->t = &TABLES[ti];
        run->c = &counts[ti];
        if ((exists = table_exists(run, p, run->t)) < 0) {
            return 1;
        }
        if (!exists) {
            printf("%s: no such table (an older schema), skipped\n", run->t->name);
            continue;
        }
        do {
            n = rekey_batch(run, p, last);
            if (n < 0) {
                fprintf(stderr,
                        "dp-rekey: stopped in %s; %ld rows were rekeyed before the failure\n",
                        run->t->name, run->dry_run ? 0 : rekeyed_so_far(counts));
                return 1;
            }
        } while (n == run->batch); /* a short batch is the last: SKIP LOCKED still fills LIMIT */

        if (!remaining(run, p)) {
            return 1;
        }
        printf("%s: %ld %s, %ld skipped (%ld unknown key, %ld tampered, %ld without %s,"
               " %ld changed meanwhile); %ld rows under other keys remain\n",
               run->t->name, run->c->rekeyed, did, skipped_of(run->c), run->c->unknown,
               run->c->tampered, run->c->bad_ids, run->t->bound, run->c->raced, run->c->remain);
        printf("%s: %ld %s from format version 1 to %d; %ld rows in an older format remain\n",
               run->t->name, run->c->upgraded, run->dry_run ? "would be moved" : "moved",
               DP_AEAD_VERSION, run->c->old_remain);
        total.rekeyed += run->c->rekeyed;
        total.unknown += run->c->unknown;
        total.tampered += run->c->tampered;
        total.bad_ids += run->c->bad_ids;
        total.raced += run->c->raced;
        total.remain += run->c->remain;
        total.upgraded += run->c->upgraded;
        total.old_remain += run->c->old_remain;
    }
    printf("format: %ld rows %s to version %d; %ld rows in an older format remain\n",
           total.upgraded, run->dry_run ? "would be moved" : "moved", DP_AEAD_VERSION,
           total.old_remain);
    /* the total keeps the one-table tool's format ("without sender": without the id the
     * row is bound to, whichever table) */
    printf("%s%ld %s, %ld skipped (%ld unknown key, %ld tampered, %ld without sender,"
           " %ld changed meanwhile); current key %s; %ld rows under other keys remain\n",
           run->dry_run ? "dry run: " : "", total.rekeyed, did, skipped_of(&total), total.unknown,
           total.tampered, total.bad_ids, total.raced, run->current, total.remain);
    return 0;
}

/* ---- main ---- */

static int rekey_main(apr_pool_t *p, int argc, const char *const *argv)
{
    rekey_run run;
    dp_keyring *kr = dp_keyring_make(p);
    const char *url = getenv("DATABASE_URL"), *err, *v;
    int nkeys = 0, rc;

    memset(&run, 0, sizeof(run));
    run.batch = DEFAULT_BATCH;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--dry-run") == 0) {
            run.dry_run = 1;
        }
        else if ((v = dp_cli_option(argc, argv, &i, "--database")) != NULL) {
            url = v;
        }
        else if ((v = dp_cli_option(argc, argv, &i, "--key")) != NULL) {
            if ((err = key_from_arg(p, kr, v)) != NULL) {
                fprintf(stderr, "dp-rekey: %s\n", err);
                return 2;
            }
            nkeys++;
        }
        else if ((v = dp_cli_option(argc, argv, &i, "--keys-from-conf")) != NULL) {
            if ((err = keys_from_conf(p, kr, v, &nkeys)) != NULL) {
                fprintf(stderr, "dp-rekey: %s\n", err);
                return 2;
            }
        }
        else if ((v = dp_cli_option(argc, argv, &i, "--batch")) != NULL) {
            char *end;
            long b = strtol(v, &end, 10);
            if (*v == '\0' || *end != '\0' || b < 1 || b > MAX_BATCH) {
                fprintf(stderr, "dp-rekey: --batch wants a number from 1 to %d\n", MAX_BATCH);
                return 2;
            }
            run.batch = (int)b;
        }
        else {
            fprintf(stderr, "dp-rekey: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (url == NULL || *url == '\0') {
        fprintf(stderr, "dp-rekey: no database: give --database URL or set DATABASE_URL\n");
        return 2;
    }
    if (nkeys == 0) {
        fprintf(stderr, "dp-rekey: no keys: give --key or --keys-from-conf\n");
        return 2;
    }
    if ((err = dp_keyring_check(kr)) != NULL) {
        fprintf(stderr, "dp-rekey: %s\n", err);
        return 2;
    }
    run.kr = kr;
    run.current = dp_keyring_current_id(kr);

    if ((run.db = dp_cli_connect(url)) == NULL) {
        return 1;
    }
    printf("dp-rekey: %d keys, current %s, batches of %d%s\n", dp_keyring_count(kr), run.current,
           run.batch, run.dry_run ? ", dry run" : "");
    rc = run_rekey(&run, p);
    PQfinish(run.db);
    return rc;
}

int main(int argc, const char *const *argv)
{
    return dp_cli_main("dp-rekey", rekey_main, argc, argv, 1);
}
