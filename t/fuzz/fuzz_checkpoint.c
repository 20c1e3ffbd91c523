/* dp_auditchain_checkpoint_parse, on error-log lines the audit verifier reads (--log): any
 * line of the log, so anything a client can get logged. Input: one line. Property: what
 * parses, written back in the sealer's form, parses to the same values. */
#include "fuzz.h"

#include "dp_auditchain.h"
#include "dp_crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    const char *line = apr_pstrmemdup(p, (const char *)data, size);
    unsigned char mac[DP_AUDITCHAIN_MAC_LEN], sig[DP_AUDITCHAIN_MAC_LEN];
    unsigned char mac2[DP_AUDITCHAIN_MAC_LEN], sig2[DP_AUDITCHAIN_MAC_LEN];
    char mhex[2 * DP_AUDITCHAIN_MAC_LEN + 1], shex[2 * DP_AUDITCHAIN_MAC_LEN + 1];
    long long pos, at, pos2, at2;

    if (dp_auditchain_checkpoint_parse(line, &pos, &at, mac, sig) == 0) {
        FZ_ASSERT(pos > 0);
        dp_hex_encode(mhex, mac, sizeof(mac));
        dp_hex_encode(shex, sig, sizeof(sig));
        line = apr_psprintf(p,
                            DP_AUDITCHAIN_CHECKPOINT_TAG "position=%" APR_INT64_T_FMT
                                                         " at=%" APR_INT64_T_FMT " mac=%s sig=%s",
                            (apr_int64_t)pos, (apr_int64_t)at, mhex, shex);
        FZ_ASSERT(dp_auditchain_checkpoint_parse(line, &pos2, &at2, mac2, sig2) == 0);
        FZ_ASSERT(pos2 == pos && at2 == at && memcmp(mac, mac2, sizeof(mac)) == 0
                  && memcmp(sig, sig2, sizeof(sig)) == 0);
    }
    fz_end(p);
    return 0;
}
