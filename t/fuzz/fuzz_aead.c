/* dp_aead_open, on sealed values read back from the database (key id, nonce and ciphertext
 * in base64), under a fixed ring of two test keys: "k1" (current) and "k0". Input:
 * "key id" NUL "nonce" NUL "ciphertext" NUL "associated data" (the last part may hold NULs;
 * the seeds are envelopes sealed under both keys with message AADs). Property: what opens
 * seals again and opens to the same bytes. */
#include "fuzz.h"

#include "dp_aead.h"
#include "dp_keyring.h"

#define KEY_K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_K0 "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff0123456789abcdeffedcba9876543210"

static dp_keyring *ring;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    ring = dp_keyring_make(fz_root);
    if (dp_keyring_add(ring, fz_root, "k1", KEY_K1, 1) != NULL
        || dp_keyring_add(ring, fz_root, "k0", KEY_K0, 0) != NULL) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    const char *parts[4], *plain, *again;
    size_t lens[4];
    apr_size_t len, len2;
    dp_sealed in, resealed;
    dp_aead_status st;

    fz_split(p, data, size, 4, parts, lens);
    in.key_id = parts[0];
    in.nonce_b64 = parts[1];
    in.ct_b64 = parts[2];
    st = dp_aead_open(p, ring, &in, parts[3], lens[3], &plain, &len);
    FZ_ASSERT(strcmp(dp_aead_status_name(st), "unknown") != 0);
    if (st == DP_AEAD_OK) {
        FZ_ASSERT(plain != NULL && plain[len] == '\0');
        FZ_ASSERT(dp_aead_seal(p, ring, parts[3], lens[3], plain, len, &resealed) == NULL);
        FZ_ASSERT(dp_aead_open(p, ring, &resealed, parts[3], lens[3], &again, &len2) == DP_AEAD_OK);
        FZ_ASSERT(len2 == len && memcmp(again, plain, len) == 0);
    }
    else {
        FZ_ASSERT(plain == NULL);
    }
    fz_end(p);
    return 0;
}
