/* dp-audit-verify: checks the tamper-evident chain over audit_events and names the
 * first broken link.
 *
 *   dp-audit-verify --key-file PATH [--database URL] [--log ERROR_LOG ...] [--since-seq SEQ]
 *
 * It walks audit_seals in position order, recomputes each MAC from its audit_events row with
 * the module's chain code (modules/core/dp_auditchain.c) and the key of DocPortalAuditKeyFile,
 * and checks every checkpoint's signature and MAC. With --log it also checks the checkpoints
 * the sealer wrote to httpd's error log (lines whose message is "DP09001: audit checkpoint
 * ...", see dp_auditchain_checkpoint_parse; any other line is ignored): each must be
 * signed and match the chain at its position, and the newest must lie within the chain, so a
 * chain whose tail was deleted together with its seals and checkpoints (and perhaps sealed
 * anew) is still found out. The logs are read before the database, whose rows are read in
 * one snapshot: whatever a log names was committed before it.
 *
 * What it reports as broken (the first one, then exit 1):
 *   row altered      an audit row no longer matches the MAC it was sealed with
 *   row missing      a sealed audit row is gone
 *   seal missing     a position is absent from the chain (a gap)
 *   seal altered     a seal's MAC does not follow from its row and the previous link
 *   checkpoint       a signature that is wrong, or a MAC the chain does not have there
 *   chain shorter    a checkpoint (database or error log) names a position beyond the chain
 *   unsealed row outside the sealing window: a row that the sealer will never chain (added
 *                    with a back-dated time, e.g. by hand)
 * Otherwise it prints the counts (sealed rows, rows waiting for the sealer, checkpoints) and
 * exits 0. Exit 2: bad arguments, an unreadable key or log, no database.
 *
 * With --since-seq SEQ it checks the part of the chain that holds the rows from
 * audit_events.seq SEQ on: the walk starts at the lowest position that seals such a row, and
 * takes the seal before it as given (its MAC is the first link's predecessor; a missing one is
 * a gap), and only rows from SEQ on count as unsealed. What lies before is not looked at: this
 * is for checking what happened since a known moment (a test, an incident) on a database whose
 * older part is known to be broken or is checked elsewhere.
 *
 * Read-only; any role that may SELECT the three tables will do. Prefer DATABASE_URL in the
 * environment to --database (command lines are visible to other users). */
#include "dp_auditchain.h"
#include "dp_crypto.h"
#include "dp_cli.h"

#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_MAX  4096
#define MAX_LOGS 16
#define MAC_LEN  DP_AUDITCHAIN_MAC_LEN

/* Every seal with its row (all NULL when the row is gone) and its checkpoints (one output
 * row per checkpoint at that position, or one with NULLs). Columns: 0 position, 1 event_seq,
 * 2 mac, 3..14 the row as dp_auditchain_columns, 15 checkpoint id, 16 mac, 17 signature,
 * 18 time in microseconds, 19 time as text. */
static const char *const SQL_WALK =
    "SELECT s.position, s.event_seq, encode(s.mac, 'hex'),"
    " e.seq, e.id, (extract(epoch FROM e.at) * 1000000)::bigint, e.actor_id, e.actor_type,"
    " e.action, e.resource_type, e.resource_id, e.client_id, e.ip, e.outcome, e.request_id,"
    " c.id, encode(c.mac, 'hex'), encode(c.signature, 'hex'),"
    " (extract(epoch FROM c.created_at) * 1000000)::bigint, c.created_at::text"
    " FROM audit_seals s"
    " LEFT JOIN audit_events e ON e.seq = s.event_seq"
    " LEFT JOIN audit_checkpoints c ON c.position = s.position"
    " WHERE s.position >= $1::bigint"
    " ORDER BY s.position, c.id";
#define COL_ROW 3
#define COL_CP  15

/* Where the walk of --since-seq ($1) starts: the lowest position that seals a row from $1 on
 * (past the chain's end when none does yet), and the MAC of the seal before it, NULL when that
 * seal is missing. */
static const char *const SQL_START =
    "SELECT f.first, encode(s.mac, 'hex')"
    " FROM (SELECT coalesce((SELECT min(position) FROM audit_seals WHERE event_seq >= $1::bigint),"
    "                       (SELECT coalesce(max(position), 0) + 1 FROM audit_seals)) AS first) f"
    " LEFT JOIN audit_seals s ON s.position = f.first - 1";

/* The newest checkpoint beyond the chain's end ($1). */
static const char *const SQL_BEYOND =
    "SELECT id, position, encode(mac, 'hex'), encode(signature, 'hex'),"
    " (extract(epoch FROM created_at) * 1000000)::bigint, created_at::text"
    " FROM audit_checkpoints WHERE position > $1::bigint ORDER BY position DESC, id DESC LIMIT 1";

/* Rows the sealer has not chained yet, and among them those it never will: older than the
 * window the sealer searches (statement audit_unsealed in sql/statements.sql). Rows from seq
 * $1 on. */
static const char *const SQL_PENDING =
    "SELECT count(*), count(*) FILTER (WHERE e.at < (SELECT a.at FROM audit_events a"
    "   WHERE a.seq = (SELECT max(event_seq) FROM audit_seals)) - interval '10 minutes'),"
    " min(e.seq) FILTER (WHERE e.at < (SELECT a.at FROM audit_events a"
    "   WHERE a.seq = (SELECT max(event_seq) FROM audit_seals)) - interval '10 minutes')"
    " FROM audit_events e"
    " WHERE e.seq >= $1::bigint"
    "   AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_seq = e.seq)";

static const char *const SQL_NEWEST_CP =
    "SELECT count(*), max(position), (SELECT created_at::text FROM audit_checkpoints"
    " ORDER BY id DESC LIMIT 1) FROM audit_checkpoints";

/* A checkpoint line of an error log. */
typedef struct log_cp {
    long long position, at;
    unsigned char mac[MAC_LEN];
    const char *where; /* "FILE line N" */
} log_cp;

typedef struct verifier {
    apr_pool_t *p;
    PGconn *db;
    const unsigned char *key;
    apr_size_t keylen;
    /* the checkpoints found in the error logs, by position; the newest (log_pos 0: none) */
    apr_hash_t *logged;
    const log_cp *log_newest;
    long long log_pos, log_matched;
    /* --since-seq (1: every row), and the position the walk starts at */
    long long since_seq, first_pos;
    /* the walk */
    long long last_pos;              /* last verified position (0: none yet) */
    unsigned char last_mac[MAC_LEN]; /* its stored (and verified) MAC; genesis at first */
    long long sealed, checkpoints;
    /* a link that did not verify, kept for one more row to tell a row from a seal change */
    int pending;
    long long pend_pos, pend_seq;
    char pend_id[64];
    unsigned char pend_mac[MAC_LEN];
} verifier;

static void usage(FILE *f)
{
    fputs("usage: dp-audit-verify --key-file PATH [--database URL] [--log ERROR_LOG ...]\n"
          "                       [--since-seq SEQ]\n"
          "  --key-file PATH   the DocPortalAuditKeyFile of the servers that seal\n"
          "  --database URL    libpq URL or conninfo (default: $DATABASE_URL)\n"
          "  --log FILE        an httpd error log with the sealer's checkpoint lines; the\n"
          "                    newest one must be in the chain (repeat for rotated logs)\n"
          "  --since-seq SEQ   only the rows from audit_events.seq SEQ on: the chain from the\n"
          "                    first seal of such a row to its end, and their unsealed rows\n",
          f);
}

/* printf into the pool (APR's own formatter knows no %lld). */
static const char *pfmt(apr_pool_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *pfmt(apr_pool_t *p, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return apr_pstrdup(p, buf);
}

static const char *fmt_us(apr_pool_t *p, long long us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    char buf[32];

    if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        return pfmt(p, "%lld us", us);
    }
    return pfmt(p, "%s.%06lldZ", buf, us % 1000000);
}

/* The first broken link: one line on stdout, exit status 1. */
static int broken(verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int broken(verifier *v, const char *fmt, ...)
{
    va_list ap;
    (void)v;
    fputs("dp-audit-verify: BROKEN: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    return 1;
}

static int cp_signed(verifier *v, long long pos, const unsigned char *mac, long long at,
                     const unsigned char *sig);

/* ---- the key and the error logs ---- */

static const char *read_key(apr_pool_t *p, const char *path, verifier *v)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf;
    apr_size_t len;
    apr_status_t rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p);

    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read the key file %s (%pm)", path, &rv);
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv != APR_SUCCESS || fi.size > KEY_MAX) {
        apr_file_close(f);
        return apr_psprintf(p, "the key file %s is larger than %d bytes", path, KEY_MAX);
    }
    len = (apr_size_t)fi.size;
    buf = apr_palloc(p, len + 1);
    rv = apr_file_read_full(f, buf, len, &len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(p, "reading %s failed (%pm)", path, &rv);
    }
    /* as the module reads it: a trailing newline is not part of the key */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--;
    }
    if (len < DP_AUDITCHAIN_KEY_MIN) {
        return apr_psprintf(p, "the key in %s is %lu bytes; the module requires at least %d", path,
                            (unsigned long)len, DP_AUDITCHAIN_KEY_MIN);
    }
    v->key = (const unsigned char *)buf;
    v->keylen = len;
    return NULL;
}

/* Every checkpoint line of the log: each must be signed with the key, and no two may name
 * one position with different MACs (the chain only grows: that is a cut chain sealed anew).
 * Returns 0, 1 (reported) or 2 (unreadable). */
static int read_log(verifier *v, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    long n = 0;
    int rc = 0, whole = 1;

    if (f == NULL) {
        fprintf(stderr, "dp-audit-verify: cannot read the log %s\n", path);
        return 2;
    }
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        log_cp got, *cp, *seen;
        unsigned char sig[MAC_LEN];
        int begins = whole; /* this piece starts a line */

        /* a line longer than the buffer comes in pieces: only a line's first piece can hold
         * the message, so a later piece is never taken for a line of its own */
        whole = strchr(line, '\n') != NULL || feof(f);
        if (!begins) {
            continue;
        }
        n++;
        if (!whole
            || dp_auditchain_checkpoint_parse(line, &got.position, &got.at, got.mac, sig) != 0) {
            continue;
        }
        cp = apr_pmemdup(v->p, &got, sizeof(got));
        cp->where = apr_psprintf(v->p, "%s line %ld", path, n);
        seen = apr_hash_get(v->logged, &cp->position, sizeof(cp->position));
        if (!cp_signed(v, cp->position, cp->mac, cp->at, sig)) {
            rc = broken(v,
                        "checkpoint in %s (position %lld): signature wrong (the line was "
                        "altered or forged, or the key is not the one that sealed)",
                        cp->where, cp->position);
        }
        else if (seen != NULL && CRYPTO_memcmp(seen->mac, cp->mac, MAC_LEN) != 0) {
            rc = broken(v,
                        "two different checkpoints for position %lld in the error log (%s "
                        "and %s): the chain was cut there and sealed anew",
                        cp->position, seen->where, cp->where);
        }
        else if (seen == NULL) {
            apr_hash_set(v->logged, &cp->position, sizeof(cp->position), cp);
            if (cp->position > v->log_pos) {
                v->log_pos = cp->position;
                v->log_newest = cp;
            }
        }
    }
    fclose(f);
    return rc;
}

/* ---- the walk ---- */

typedef struct walk_row {
    long long position, event_seq;
    unsigned char mac[MAC_LEN];
    int has_row;
    const char *fields[DP_AUDITCHAIN_NFIELDS];
    int has_cp;
    long long cp_id, cp_at;
    unsigned char cp_mac[MAC_LEN], cp_sig[MAC_LEN];
    const char *cp_time;
} walk_row;

static const char *val(PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? NULL : PQgetvalue(r, 0, col);
}

static int read_row(verifier *v, PGresult *r, walk_row *w)
{
    memset(w, 0, sizeof(*w));
    w->position = atoll(PQgetvalue(r, 0, 0));
    w->event_seq = atoll(PQgetvalue(r, 0, 1));
    if (dp_hex_decode(PQgetvalue(r, 0, 2), w->mac, MAC_LEN) != 0) {
        return broken(v, "seal altered at position %lld: its MAC is not 32 bytes", w->position);
    }
    w->has_row = !PQgetisnull(r, 0, COL_ROW);
    for (int i = 0; i < DP_AUDITCHAIN_NFIELDS; i++) {
        w->fields[i] = val(r, COL_ROW + i);
    }
    w->has_cp = !PQgetisnull(r, 0, COL_CP);
    if (w->has_cp) {
        w->cp_id = atoll(val(r, COL_CP));
        w->cp_at = atoll(val(r, COL_CP + 3));
        w->cp_time = val(r, COL_CP + 4);
        if (dp_hex_decode(val(r, COL_CP + 1), w->cp_mac, MAC_LEN) != 0
            || dp_hex_decode(val(r, COL_CP + 2), w->cp_sig, MAC_LEN) != 0) {
            return broken(v, "checkpoint id %lld at position %lld: malformed MAC or signature",
                          w->cp_id, w->position);
        }
    }
    return 0;
}

static int cp_signed(verifier *v, long long pos, const unsigned char *mac, long long at,
                     const unsigned char *sig)
{
    unsigned char want[MAC_LEN];
    return dp_auditchain_checkpoint_sign(v->key, v->keylen, pos, mac, at, want) == 0
        && CRYPTO_memcmp(want, sig, MAC_LEN) == 0;
}

static const char *row_name(verifier *v, long long seq, const char *id)
{
    return pfmt(v->p, "event seq %lld%s%s", seq, id ? ", id " : "", id ? id : "");
}

/* The link at pend_pos did not verify: which side changed? The next seal tells (its link
 * from the stored MAC verifies: the seal is the original, so the row changed), or a signed
 * checkpoint at that position (it signed the stored MAC: the row changed). 1: the row,
 * 0: the seal, -1: cannot tell. next and cp may be NULL. */
static int pending_verdict(verifier *v, const walk_row *next, const walk_row *cp)
{
    unsigned char m[MAC_LEN];

    if (next != NULL && next->position == v->pend_pos + 1 && next->has_row
        && dp_auditchain_link(v->key, v->keylen, v->pend_mac, next->fields, m) == 0) {
        return CRYPTO_memcmp(m, next->mac, MAC_LEN) == 0;
    }
    if (cp != NULL && cp->has_cp && cp_signed(v, cp->position, cp->cp_mac, cp->cp_at, cp->cp_sig)) {
        return CRYPTO_memcmp(cp->cp_mac, v->pend_mac, MAC_LEN) == 0;
    }
    return -1;
}

static int report_pending(verifier *v, int verdict)
{
    const char *who = row_name(v, v->pend_seq, v->pend_id);

    if (verdict == 1) {
        return broken(v,
                      "row altered at position %lld (%s): the audit row no longer matches "
                      "the MAC it was sealed with",
                      v->pend_pos, who);
    }
    if (verdict == 0) {
        return broken(v,
                      "seal altered at position %lld (%s): its MAC does not follow from "
                      "the row and the previous link",
                      v->pend_pos, who);
    }
    return broken(v,
                  "row altered or seal altered at position %lld (%s): the MAC does not "
                  "match, and no later link or checkpoint tells which changed",
                  v->pend_pos, who);
}

static int check_checkpoint(verifier *v, const walk_row *w)
{
    v->checkpoints++;
    if (!cp_signed(v, w->position, w->cp_mac, w->cp_at, w->cp_sig)) {
        return broken(v, "checkpoint id %lld at position %lld (%s): signature wrong", w->cp_id,
                      w->position, w->cp_time);
    }
    if (CRYPTO_memcmp(w->cp_mac, v->last_mac, MAC_LEN) != 0) {
        return broken(v,
                      "checkpoint id %lld at position %lld (%s): the chain's MAC there is "
                      "not the one the checkpoint signed",
                      w->cp_id, w->position, w->cp_time);
    }
    return 0;
}

/* One output row of SQL_WALK. */
static int walk_step(verifier *v, const walk_row *w)
{
    unsigned char m[MAC_LEN];
    int verdict;

    if (v->pending) {
        int same = w->position == v->pend_pos; /* another checkpoint there */
        verdict = pending_verdict(v, same ? NULL : w, same ? w : NULL);
        return verdict < 0 && same ? 0 : report_pending(v, verdict);
    }
    if (w->position == v->last_pos && v->last_pos > 0) {
        return w->has_cp ? check_checkpoint(v, w) : 0; /* a second checkpoint there */
    }
    if (w->position != v->last_pos + 1) {
        return broken(v,
                      "seal missing at position %lld%s: the chain goes from position %lld "
                      "to %lld (seals deleted)",
                      v->last_pos + 1,
                      w->position > v->last_pos + 2 ? pfmt(v->p, "..%lld", w->position - 1) : "",
                      v->last_pos, w->position);
    }
    if (!w->has_row) {
        return broken(v,
                      "row missing at position %lld (event seq %lld): the sealed audit row "
                      "is gone from audit_events",
                      w->position, w->event_seq);
    }
    if (dp_auditchain_link(v->key, v->keylen, v->last_mac, w->fields, m) != 0) {
        fprintf(stderr, "dp-audit-verify: computing a MAC failed\n");
        return 2;
    }
    if (CRYPTO_memcmp(m, w->mac, MAC_LEN) != 0) {
        v->pending = 1;
        v->pend_pos = w->position;
        v->pend_seq = w->event_seq;
        apr_cpystrn(v->pend_id, w->fields[1] ? w->fields[1] : "", sizeof(v->pend_id));
        memcpy(v->pend_mac, w->mac, MAC_LEN);
        verdict = pending_verdict(v, NULL, w);
        return verdict < 0 ? 0 : report_pending(v, verdict);
    }
    v->last_pos = w->position;
    memcpy(v->last_mac, w->mac, MAC_LEN);
    v->sealed++;
    if (v->log_pos > 0) {
        const log_cp *cp = apr_hash_get(v->logged, &w->position, sizeof(w->position));
        if (cp != NULL && CRYPTO_memcmp(cp->mac, w->mac, MAC_LEN) != 0) {
            return broken(v,
                          "chain differs at position %lld from the checkpoint in %s (%s): "
                          "the chain was cut there and sealed anew",
                          w->position, cp->where, fmt_us(v->p, cp->at));
        }
        v->log_matched += cp != NULL;
    }
    return w->has_cp ? check_checkpoint(v, w) : 0;
}

/* With --since-seq: the walk's first position, and the stored MAC before it as the link it
 * follows from. 0, 1 (reported) or 2. */
static int walk_start(verifier *v)
{
    const char *params[1] = {pfmt(v->p, "%lld", v->since_seq)};
    PGresult *r = PQexecParams(v->db, SQL_START, 1, NULL, params, NULL, NULL, 0);
    int rc = 0;

    if (!dp_cli_db_ok(v->db, r, PGRES_TUPLES_OK, "finding the first seal")) {
        PQclear(r);
        return 2;
    }
    v->first_pos = atoll(PQgetvalue(r, 0, 0));
    v->last_pos = v->first_pos - 1;
    if (v->first_pos > 1) {
        if (PQgetisnull(r, 0, 1)) {
            rc = broken(
                v, "seal missing at position %lld, before the first seal of a row from seq %lld",
                v->last_pos, v->since_seq);
        }
        else if (dp_hex_decode(PQgetvalue(r, 0, 1), v->last_mac, MAC_LEN) != 0) {
            rc = broken(v, "seal altered at position %lld: its MAC is not 32 bytes", v->last_pos);
        }
    }
    PQclear(r);
    return rc;
}

static int walk(verifier *v)
{
    const char *params[1] = {pfmt(v->p, "%lld", v->first_pos)};
    PGresult *r;
    int rc = 0, done = 0;

    if (!PQsendQueryParams(v->db, SQL_WALK, 1, NULL, params, NULL, NULL, 0)
        || !PQsetSingleRowMode(v->db)) {
        fprintf(stderr, "dp-audit-verify: reading audit_seals failed: %s", PQerrorMessage(v->db));
        return 2;
    }
    while ((r = PQgetResult(v->db)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && rc == 0) {
            walk_row w;
            rc = read_row(v, r, &w);
            if (rc == 0) {
                rc = walk_step(v, &w);
            }
        }
        else if (st == PGRES_TUPLES_OK) {
            done = 1;
        }
        else if (st != PGRES_SINGLE_TUPLE && rc == 0) {
            dp_cli_db_ok(v->db, r, PGRES_TUPLES_OK, "reading audit_seals");
            rc = 2;
        }
        PQclear(r); /* read on to the end: the connection is reused */
    }
    if (rc == 0 && !done) {
        rc = 2;
    }
    if (rc == 0 && v->pending) {
        rc = report_pending(v, -1);
    }
    return rc;
}

/* ---- after the walk ---- */

static int check_tail(verifier *v)
{
    const char *params[1] = {pfmt(v->p, "%lld", v->last_pos)};
    PGresult *r = PQexecParams(v->db, SQL_BEYOND, 1, NULL, params, NULL, NULL, 0);
    int rc = 0;

    if (!dp_cli_db_ok(v->db, r, PGRES_TUPLES_OK, "reading audit_checkpoints")) {
        PQclear(r);
        return 2;
    }
    if (PQntuples(r) == 1) {
        unsigned char mac[MAC_LEN], sig[MAC_LEN];
        long long id = atoll(PQgetvalue(r, 0, 0)), pos = atoll(PQgetvalue(r, 0, 1));
        int ok = dp_hex_decode(PQgetvalue(r, 0, 2), mac, MAC_LEN) == 0
            && dp_hex_decode(PQgetvalue(r, 0, 3), sig, MAC_LEN) == 0
            && cp_signed(v, pos, mac, atoll(PQgetvalue(r, 0, 4)), sig);
        rc = ok ? broken(v,
                         "chain shorter than the newest checkpoint: the chain ends at "
                         "position %lld, checkpoint id %lld (%s) names position %lld (rows and "
                         "seals of the tail deleted)",
                         v->last_pos, id, PQgetvalue(r, 0, 5), pos)
                : broken(v, "checkpoint id %lld at position %lld (%s): signature wrong", id, pos,
                         PQgetvalue(r, 0, 5));
    }
    PQclear(r);
    if (rc == 0 && v->log_pos > v->last_pos) {
        rc = broken(v,
                    "chain shorter than the checkpoint in %s (%s): the chain ends at position "
                    "%lld, the log names position %lld (rows, seals and checkpoints of the tail "
                    "deleted)",
                    v->log_newest->where, fmt_us(v->p, v->log_newest->at), v->last_pos, v->log_pos);
    }
    return rc;
}

static int report(verifier *v)
{
    const char *params[1] = {pfmt(v->p, "%lld", v->since_seq)};
    PGresult *r = PQexecParams(v->db, SQL_PENDING, 1, NULL, params, NULL, NULL, 0);
    PGresult *c;
    int rc = 0;

    if (!dp_cli_db_ok(v->db, r, PGRES_TUPLES_OK, "counting unsealed rows")) {
        PQclear(r);
        return 2;
    }
    if (atoll(PQgetvalue(r, 0, 1)) > 0) {
        rc = broken(v,
                    "unsealed row outside the sealing window: event seq %s and %lld more "
                    "are older than the sealed rows by more than 10 minutes, so the sealer "
                    "will never chain them (added later with a back-dated time?)",
                    PQgetvalue(r, 0, 2), atoll(PQgetvalue(r, 0, 1)) - 1);
        PQclear(r);
        return rc;
    }
    printf("dp-audit-verify: chain intact: %lld sealed rows (positions %lld..%lld)%s\n", v->sealed,
           v->first_pos, v->last_pos,
           v->since_seq > 1
               ? pfmt(v->p, ", from the first seal of a row from seq %lld", v->since_seq)
               : "");
    printf("dp-audit-verify: unsealed rows pending%s: %s\n",
           v->since_seq > 1 ? pfmt(v->p, " from seq %lld", v->since_seq) : "", PQgetvalue(r, 0, 0));
    PQclear(r);
    c = PQexec(v->db, SQL_NEWEST_CP);
    if (!dp_cli_db_ok(v->db, c, PGRES_TUPLES_OK, "reading audit_checkpoints")) {
        PQclear(c);
        return 2;
    }
    if (atoll(PQgetvalue(c, 0, 0)) > 0) {
        printf("dp-audit-verify: checkpoints: %lld verified; last checkpoint position %s at %s\n",
               v->checkpoints, PQgetvalue(c, 0, 1), PQgetvalue(c, 0, 2));
    }
    else {
        printf("dp-audit-verify: checkpoints: none yet\n");
    }
    PQclear(c);
    if (v->log_pos > 0) {
        printf("dp-audit-verify: error log checkpoints: %lld match the chain; the newest, "
               "position %lld (%s), matches (%s)\n",
               v->log_matched, v->log_pos, fmt_us(v->p, v->log_newest->at), v->log_newest->where);
    }
    printf("dp-audit-verify: OK\n");
    return 0;
}

/* ---- main ---- */

static int verify_main(apr_pool_t *p, int argc, const char *const *argv)
{
    verifier v;
    const char *url = getenv("DATABASE_URL"), *key_file = NULL, *logs[MAX_LOGS], *err, *o;
    int nlogs = 0, rc;
    PGresult *r;

    memset(&v, 0, sizeof(v));
    v.p = p;
    v.logged = apr_hash_make(p);
    v.since_seq = v.first_pos = 1;
    dp_auditchain_genesis(v.last_mac);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if ((o = dp_cli_option(argc, argv, &i, "--database")) != NULL) {
            url = o;
        }
        else if ((o = dp_cli_option(argc, argv, &i, "--key-file")) != NULL) {
            key_file = o;
        }
        else if ((o = dp_cli_option(argc, argv, &i, "--log")) != NULL && nlogs < MAX_LOGS) {
            logs[nlogs++] = o;
        }
        else if ((o = dp_cli_option(argc, argv, &i, "--since-seq")) != NULL) {
            char *end;
            v.since_seq = strtoll(o, &end, 10);
            if (*o < '0' || *o > '9' || *end != '\0' || v.since_seq < 1) {
                fprintf(stderr, "dp-audit-verify: --since-seq takes a seq from 1 on, not '%s'\n",
                        o);
                return 2;
            }
        }
        else {
            fprintf(stderr, "dp-audit-verify: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (key_file == NULL) {
        fprintf(stderr, "dp-audit-verify: give --key-file (the DocPortalAuditKeyFile)\n");
        return 2;
    }
    if (url == NULL || *url == '\0') {
        fprintf(stderr,
                "dp-audit-verify: no database: give --database URL or set "
                "DATABASE_URL\n");
        return 2;
    }
    if ((err = read_key(p, key_file, &v)) != NULL) {
        fprintf(stderr, "dp-audit-verify: %s\n", err);
        return 2;
    }
    /* the logs first: whatever they name was committed before the snapshot below */
    for (int i = 0; i < nlogs; i++) {
        if ((rc = read_log(&v, logs[i])) != 0) {
            return rc;
        }
    }
    if ((v.db = dp_cli_connect(url)) == NULL) {
        return 2;
    }
    r = PQexec(v.db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    rc = dp_cli_db_ok(v.db, r, PGRES_COMMAND_OK, "BEGIN") ? 0 : 2;
    PQclear(r);
    if (rc == 0 && v.since_seq > 1) rc = walk_start(&v);
    if (rc == 0) rc = walk(&v);
    if (rc == 0) rc = check_tail(&v);
    if (rc == 0) rc = report(&v);
    PQfinish(v.db);
    return rc;
}

int main(int argc, const char *const *argv)
{
    return dp_cli_main("dp-audit-verify", verify_main, argc, argv, 2);
}
