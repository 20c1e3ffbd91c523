/* dp_auditchain: the tamper-evident chain over audit_events (docs/security.md, "Tamper-evident audit trail").
 *
 * The sealer (inside httpd) and the verifier (build/audit-verify.c) share this code, so both
 * compute exactly the same bytes. Each audit row gets a position in the chain (the sealer's
 * order, not seq order: rows commit out of seq order) and a MAC:
 *
 *   mac_0 = 32 zero bytes
 *   mac_n = HMAC-SHA256(key, mac_{n-1} || canonical(row_n))
 *
 * canonical(row) covers every column of audit_events, in the order of dp_auditchain_columns,
 * each as a tag byte 0x00 (SQL NULL) or 0x01 followed by its length (4 bytes, big-endian) and
 * its text bytes, after the label "dp-audit-row-v1" and a NUL. The texts are PostgreSQL's text
 * output of each column, except `at`, which is its exact value in microseconds since the Unix
 * epoch as a decimal integer (timestamptz holds microseconds, so nothing is rounded).
 *
 * A checkpoint records (position, mac_position) with a signature
 *
 *   sig = HMAC-SHA256(key, "dp-audit-checkpoint-v1" NUL || position (8 bytes, big-endian)
 *                          || mac (32 bytes) || time in microseconds (8 bytes, big-endian))
 *
 * The key lives outside the database (DocPortalAuditKeyFile): a database superuser can change
 * rows and seals but cannot compute a MAC that matches. Pure C: OpenSSL and APR only. */
#ifndef DP_AUDITCHAIN_H
#define DP_AUDITCHAIN_H

#include <apr_pools.h>

#define DP_AUDITCHAIN_MAC_LEN 32
#define DP_AUDITCHAIN_KEY_MIN 32 /* bytes of key material the directive and the verifier require */
#define DP_AUDITCHAIN_NFIELDS 12

/* The columns canonical() covers, in order ("at_us" is audit_events.at in microseconds). */
extern const char *const dp_auditchain_columns[DP_AUDITCHAIN_NFIELDS];

/* The canonical bytes of a row (fields[i] is the text of dp_auditchain_columns[i], NULL for
 * SQL NULL), in the pool. For tests and diagnostics; dp_auditchain_link computes without
 * copying. */
const unsigned char *dp_auditchain_canonical(apr_pool_t *p, const char *const *fields,
                                             apr_size_t *len);

/* mac_0 of every chain. */
void dp_auditchain_genesis(unsigned char out[DP_AUDITCHAIN_MAC_LEN]);

/* out = HMAC-SHA256(key, prev || canonical(fields)). Returns 0, or -1 if OpenSSL failed. */
int dp_auditchain_link(const unsigned char *key, apr_size_t keylen,
                       const unsigned char prev[DP_AUDITCHAIN_MAC_LEN], const char *const *fields,
                       unsigned char out[DP_AUDITCHAIN_MAC_LEN]);

/* The checkpoint signature over (position, mac, at_us). Returns 0, or -1 on failure. */
int dp_auditchain_checkpoint_sign(const unsigned char *key, apr_size_t keylen, long long position,
                                  const unsigned char mac[DP_AUDITCHAIN_MAC_LEN], long long at_us,
                                  unsigned char out[DP_AUDITCHAIN_MAC_LEN]);

/* The checkpoint message the sealer writes to the error log, with its log id DP09001
 * (modules/dp_auditseal.c), and its parser (for the verifier's --log):
 * "DP09001: audit checkpoint position=N at=US mac=HEX sig=HEX rows=N". The parser accepts a
 * line only when its message (what follows the bracketed fields httpd's default
 * ErrorLogFormat puts first, if any) is that message, whole, up to the line's end: another
 * message that merely contains the text, or the text under another id, is not a checkpoint.
 * Returns 0 and fills the values, or -1. */
#define DP_AUDITCHAIN_CHECKPOINT_TAG "DP09001: audit checkpoint "
int dp_auditchain_checkpoint_parse(const char *line, long long *position, long long *at_us,
                                   unsigned char mac[DP_AUDITCHAIN_MAC_LEN],
                                   unsigned char sig[DP_AUDITCHAIN_MAC_LEN]);

#endif
