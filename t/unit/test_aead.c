/* dp_aead: the key ring (spec parsing, ids, files, rotation) and AES-256-GCM sealing (round
 * trips, nonces, tampering, associated data, garbage that must never open nor crash). */
#include "dp_test.h"

#include "dp_aead.h"
#include "dp_keyring.h"
#include "dp_uuid.h"

#include <apr_base64.h>
#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <openssl/rand.h>

extern const dp_test_case dp_suite_aead[];

#define MSG_ID    "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
#define MSG_ID2   "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c"
#define SENDER    "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9"
#define SENDER2   "f0e1d2c3-b4a5-4968-8776-655443322110"
#define KEY_A_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B_HEX "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff0123456789abcdeffedcba9876543210"

/* ---- helpers ---- */

static dp_keyring *ring1(apr_pool_t *p, const char *id, const char *spec)
{
    dp_keyring *kr = dp_keyring_make(p);
    const char *err = dp_keyring_add(kr, p, id, spec, 1);

    CHECK_MSG(err == NULL, "adding key %s: %s", id, err ? err : "");
    return kr;
}

static const char *b64(apr_pool_t *p, const unsigned char *in, apr_size_t n)
{
    char *out = apr_palloc(p, apr_base64_encode_len((int)n));

    apr_base64_encode_binary(out, in, (int)n);
    return out;
}

static unsigned char *unb64(apr_pool_t *p, const char *in, apr_size_t *n)
{
    unsigned char *out = apr_palloc(p, apr_base64_decode_len(in));

    *n = (apr_size_t)apr_base64_decode_binary(out, in);
    return out;
}

/* Standard padded base64 to url-safe, optionally without padding. */
static const char *to_url(apr_pool_t *p, const char *std, int pad)
{
    char *s = apr_pstrdup(p, std);

    for (char *c = s; *c; c++) {
        if (*c == '+') *c = '-';
        if (*c == '/') *c = '_';
    }
    if (!pad) {
        char *eq = strchr(s, '=');
        if (eq) *eq = '\0';
    }
    return s;
}

static const char *unpad(apr_pool_t *p, const char *std)
{
    char *s = apr_pstrdup(p, std), *eq = strchr(s, '=');

    if (eq) *eq = '\0';
    return s;
}

static const char *hex(apr_pool_t *p, const unsigned char *b, apr_size_t n, int upper)
{
    static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
    const char *d = upper ? up : lo;
    char *s = apr_palloc(p, 2 * n + 1);

    for (apr_size_t i = 0; i < n; i++) {
        s[2 * i] = d[b[i] >> 4];
        s[2 * i + 1] = d[b[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

static int open_msg(apr_pool_t *p, const dp_keyring *kr, const dp_sealed *s, const char *mid,
                    const char *sid, const char **plain, apr_size_t *len)
{
    unsigned char aad[DP_AEAD_MESSAGE_AAD_LEN];
    apr_size_t n = dp_aead_message_aad(mid, sid, aad);

    return dp_aead_open(p, kr, s, aad, n, plain, len);
}

static int seal_msg(apr_pool_t *p, const dp_keyring *kr, const char *mid, const char *sid,
                    const char *plain, apr_size_t len, dp_sealed *out)
{
    unsigned char aad[DP_AEAD_MESSAGE_AAD_LEN];
    apr_size_t n = dp_aead_message_aad(mid, sid, aad);
    dp_error *e;

    CHECK_EQ(n, DP_AEAD_MESSAGE_AAD_LEN);
    e = dp_aead_seal(p, kr, aad, n, plain, len, out);
    CHECK_MSG(e == NULL, "seal: %s", e ? e->detail : "");
    return e == NULL;
}

/* Seal and open one plaintext of len bytes; checks every property of the result. */
static void roundtrip(apr_pool_t *p, const dp_keyring *kr, const char *plain, apr_size_t len)
{
    dp_sealed s;
    const char *out = NULL;
    apr_size_t outlen = 12345, raw;

    if (!seal_msg(p, kr, MSG_ID, SENDER, plain, len, &s)) {
        return;
    }
    CHECK_STR(s.key_id, "a");
    CHECK_EQ(strlen(s.nonce_b64), 16);
    CHECK_EQ(strlen(s.ct_b64), 4 * ((len + DP_AEAD_TAG_LEN + 2) / 3));
    unb64(p, s.ct_b64, &raw);
    CHECK_EQ(raw, len + DP_AEAD_TAG_LEN);
    /* the plaintext is not in the ciphertext's clear text form */
    if (len >= 8) {
        CHECK(strstr(s.ct_b64, b64(p, (const unsigned char *)plain, 6)) == NULL);
    }
    if (CHECK_EQ(open_msg(p, kr, &s, MSG_ID, SENDER, &out, &outlen), DP_AEAD_OK)
        && CHECK_NOT_NULL(out)) {
        CHECK_EQ(outlen, len);
        CHECK(memcmp(out, plain, len) == 0);
        CHECK_EQ(out[len], '\0');
    }
}

/* ---- round trips ---- */

static void test_roundtrip(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *kr = ring1(p, "a", KEY_A_HEX);
    char *big = apr_palloc(p, 10001);
    const char utf8[] = "Grüße aus Köln — 你好 — שלום — 😀 ✓";
    const char binary[] = {'a', '\0', 'b', '\0', '\xff'};

    for (int i = 0; i < 10000; i++) {
        big[i] = (char)('a' + i % 26);
    }
    big[10000] = '\0';

    dp_t_context("empty");
    roundtrip(p, kr, "", 0);
    dp_t_context("1 byte");
    roundtrip(p, kr, "x", 1);
    dp_t_context("10,000 characters");
    roundtrip(p, kr, big, 10000);
    dp_t_context("UTF-8");
    roundtrip(p, kr, utf8, strlen(utf8));
    dp_t_context("embedded NUL bytes");
    roundtrip(p, kr, binary, sizeof(binary));
    dp_t_context(NULL);

    /* NULL plaintext with length 0 is the empty string; len may be omitted when opening. */
    {
        dp_sealed s;
        const char *out = NULL;
        if (CHECK_NULL(dp_aead_seal(p, kr, NULL, 0, NULL, 0, &s))) {
            CHECK_EQ(dp_aead_open(p, kr, &s, NULL, 0, &out, NULL), DP_AEAD_OK);
            CHECK_STR(out, "");
        }
    }
}

static void test_nonces_differ(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *kr = ring1(p, "a", KEY_A_HEX);
    apr_hash_t *seen = apr_hash_make(p);
    dp_sealed first, s;
    const char *out;

    if (!seal_msg(p, kr, MSG_ID, SENDER, "same text", 9, &first)) {
        return;
    }
    apr_hash_set(seen, first.nonce_b64, APR_HASH_KEY_STRING, "");
    for (int i = 0; i < 200; i++) {
        if (!seal_msg(p, kr, MSG_ID, SENDER, "same text", 9, &s)) {
            return;
        }
        CHECK_MSG(apr_hash_get(seen, s.nonce_b64, APR_HASH_KEY_STRING) == NULL,
                  "nonce repeated after %d seals", i + 1);
        apr_hash_set(seen, s.nonce_b64, APR_HASH_KEY_STRING, "");
        CHECK(strcmp(s.ct_b64, first.ct_b64) != 0);
        CHECK_EQ(open_msg(p, kr, &s, MSG_ID, SENDER, &out, NULL), DP_AEAD_OK);
    }
}

/* ---- tampering ---- */

static void test_tampered(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *kr = ring1(p, "a", KEY_A_HEX);
    const char *text = "Session moved to Thursday, 3pm.";
    dp_sealed s, t;
    unsigned char *ct, *nonce;
    apr_size_t ctlen, noncelen;
    const char *out;

    if (!seal_msg(p, kr, MSG_ID, SENDER, text, strlen(text), &s)) {
        return;
    }
    ct = unb64(p, s.ct_b64, &ctlen);
    nonce = unb64(p, s.nonce_b64, &noncelen);
    CHECK_EQ(ctlen, strlen(text) + 16);
    CHECK_EQ(noncelen, 12);

    /* every byte of ciphertext and tag, and every bit of the first and last byte */
    for (apr_size_t i = 0; i < ctlen; i++) {
        for (int bit = 0; bit < 8; bit++) {
            if (bit > 0 && i != 0 && i != ctlen - 1) {
                continue;
            }
            ct[i] ^= (unsigned char)(1u << bit);
            t = s;
            t.ct_b64 = b64(p, ct, ctlen);
            out = "untouched";
            CHECK_MSG(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL) == DP_AEAD_TAMPERED,
                      "flipped bit %d of %s byte %zu opened", bit,
                      i < ctlen - 16 ? "ciphertext" : "tag", i);
            CHECK_NULL(out);
            ct[i] ^= (unsigned char)(1u << bit);
        }
    }
    for (apr_size_t i = 0; i < noncelen; i++) {
        nonce[i] ^= 0x80;
        t = s;
        t.nonce_b64 = b64(p, nonce, noncelen);
        CHECK_MSG(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL) == DP_AEAD_TAMPERED,
                  "flipped nonce byte %zu opened", i);
        nonce[i] ^= 0x80;
    }
    /* the untouched copy still opens */
    t = s;
    t.ct_b64 = b64(p, ct, ctlen);
    t.nonce_b64 = b64(p, nonce, noncelen);
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_OK);
    CHECK_STR(out, text);

    /* truncated (tag cut short, tag only, less than a tag), extended */
    t = s;
    t.ct_b64 = b64(p, ct, ctlen - 1);
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    t.ct_b64 = b64(p, ct + ctlen - 16, 16);
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    t.ct_b64 = b64(p, ct, 15);
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    {
        unsigned char *longer = apr_palloc(p, ctlen + 1);
        memcpy(longer, ct, ctlen);
        longer[ctlen] = 0;
        t.ct_b64 = b64(p, longer, ctlen + 1);
        CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    }
    /* nonce of the wrong length */
    t = s;
    t.nonce_b64 = b64(p, nonce, 8);
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    t.nonce_b64 = b64(p, (const unsigned char *)"0123456789abcdef", 16);
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    /* swapping the nonces of two messages */
    {
        dp_sealed other;
        if (seal_msg(p, kr, MSG_ID, SENDER, text, strlen(text), &other)) {
            t = s;
            t.nonce_b64 = other.nonce_b64;
            CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
        }
    }
}

static void test_aad_binds_row(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *kr = ring1(p, "a", KEY_A_HEX);
    unsigned char aad[32], aad2[32];
    dp_sealed s;
    const char *out;

    if (!seal_msg(p, kr, MSG_ID, SENDER, "hello", 5, &s)) {
        return;
    }
    CHECK_EQ(open_msg(p, kr, &s, MSG_ID, SENDER, &out, NULL), DP_AEAD_OK);
    /* moved to another message, or claimed by another sender */
    CHECK_EQ(open_msg(p, kr, &s, MSG_ID2, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    CHECK_EQ(open_msg(p, kr, &s, MSG_ID, SENDER2, &out, NULL), DP_AEAD_TAMPERED);
    CHECK_EQ(open_msg(p, kr, &s, SENDER, MSG_ID, &out, NULL), DP_AEAD_TAMPERED);
    CHECK_NULL(out);
    /* no associated data at all, or a prefix of it */
    CHECK_EQ(dp_aead_open(p, kr, &s, NULL, 0, &out, NULL), DP_AEAD_TAMPERED);
    dp_aead_message_aad(MSG_ID, SENDER, aad);
    CHECK_EQ(dp_aead_open(p, kr, &s, aad, 16, &out, NULL), DP_AEAD_TAMPERED);
    CHECK_EQ(dp_aead_open(p, kr, &s, aad, 32, &out, NULL), DP_AEAD_OK);
    /* NULL aad with a length is refused, not dereferenced */
    CHECK_EQ(dp_aead_open(p, kr, &s, NULL, 32, &out, NULL), DP_AEAD_TAMPERED);

    /* the AAD is the raw UUID bytes: case does not matter, the layout is message || sender */
    CHECK_EQ(
        dp_aead_message_aad(apr_pstrdup(p, "6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B"), SENDER, aad2),
        32);
    CHECK(memcmp(aad, aad2, 32) == 0);
    CHECK_EQ(aad[0], 0x6f);
    CHECK_EQ(aad[15], 0x4b);
    CHECK_EQ(aad[16], 0x0a);
    CHECK_EQ(aad[31], 0xe9);
    memset(aad2, 0x55, sizeof(aad2));
    CHECK_EQ(dp_aead_message_aad("not-a-uuid", SENDER, aad2), 0);
    CHECK_EQ(dp_aead_message_aad(MSG_ID, NULL, aad2), 0);
    CHECK_EQ(aad2[0], 0x55); /* untouched on failure */
}

static void test_uuid_bytes(dp_test_env *env)
{
    unsigned char b[16];
    static const char *const bad[] = {
        "",
        "6f1c2a3b4d5e4f608a7b9c0d1e2f3a4b",
        "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4",
        "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b0",
        "6f1c2a3b-4d5e-4f60-8a7b+9c0d1e2f3a4b",
        "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4g",
        "{6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b}",
        "6f1c2a3-b4d5e-4f60-8a7b-9c0d1e2f3a4b",
        " 6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4\xc3\xa4",
    };

    CHECK_EQ(dp_uuid_to_bytes("00000000-0000-0000-0000-000000000000", b), 0);
    CHECK_EQ(b[0] | b[15], 0);
    CHECK_EQ(dp_uuid_to_bytes("ffffffff-FFFF-ffff-FFFF-ffffffffffff", b), 0);
    CHECK_EQ(b[0] & b[7] & b[15], 0xff);
    CHECK_EQ(dp_uuid_to_bytes(MSG_ID, b), 0);
    CHECK_EQ(b[4], 0x4d);
    CHECK_EQ(b[8], 0x8a);
    CHECK_EQ(dp_uuid_to_bytes(NULL, b), -1);
    for (apr_size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_MSG(dp_uuid_to_bytes(bad[i], b) == -1, "accepted \"%s\"", bad[i]);
    }
}

/* ---- keys and rotation ---- */

static void test_unknown_key(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *kr = ring1(p, "a", KEY_A_HEX);
    dp_keyring *other = ring1(p, "a", KEY_B_HEX); /* same id, other bytes */
    dp_sealed s, t;
    const char *out;

    if (!seal_msg(p, kr, MSG_ID, SENDER, "hello", 5, &s)) {
        return;
    }
    t = s;
    t.key_id = "b";
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_UNKNOWN_KEY);
    t.key_id = "A"; /* ids are case-sensitive */
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_UNKNOWN_KEY);
    t.key_id = "";
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_UNKNOWN_KEY);
    t.key_id = NULL;
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_UNKNOWN_KEY);
    CHECK_EQ(open_msg(p, dp_keyring_make(p), &s, MSG_ID, SENDER, &out, NULL), DP_AEAD_UNKNOWN_KEY);
    CHECK_EQ(open_msg(p, NULL, &s, MSG_ID, SENDER, &out, NULL), DP_AEAD_UNKNOWN_KEY);
    CHECK_NULL(out);
    /* a key of the same name but other bytes: the tag catches it */
    CHECK_EQ(open_msg(p, other, &s, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    CHECK_STR(dp_aead_status_name(DP_AEAD_TAMPERED), "tampered");
    CHECK_STR(dp_aead_status_name(DP_AEAD_UNKNOWN_KEY), "unknown_key");
    CHECK_STR(dp_aead_status_name(DP_AEAD_OK), "ok");
    CHECK_STR(dp_aead_status_name(DP_AEAD_INTERNAL), "internal");
}

static void test_rotation(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *before = ring1(p, "key-A", KEY_A_HEX);
    dp_keyring *after = dp_keyring_make(p);
    dp_sealed old, fresh;
    const char *out;

    CHECK_STR(dp_keyring_current_id(before), "key-A");
    if (!seal_msg(p, before, MSG_ID, SENDER, "sealed under A", 14, &old)) {
        return;
    }
    CHECK_STR(old.key_id, "key-A");

    /* the admin adds B as current and keeps A (order in the config does not matter) */
    CHECK_NULL(dp_keyring_add(after, p, "key-B", KEY_B_HEX, 1));
    CHECK_NULL(dp_keyring_add(after, p, "key-A", KEY_A_HEX, 0));
    CHECK_NULL(dp_keyring_check(after));
    CHECK_STR(dp_keyring_current_id(after), "key-B");
    CHECK_EQ(dp_keyring_count(after), 2);

    CHECK_EQ(open_msg(p, after, &old, MSG_ID, SENDER, &out, NULL), DP_AEAD_OK);
    CHECK_STR(out, "sealed under A");
    if (seal_msg(p, after, MSG_ID2, SENDER, "sealed under B", 14, &fresh)) {
        CHECK_STR(fresh.key_id, "key-B");
        CHECK_EQ(open_msg(p, after, &fresh, MSG_ID2, SENDER, &out, NULL), DP_AEAD_OK);
        CHECK_STR(out, "sealed under B");
        /* a server still on the old ring cannot read it */
        CHECK_EQ(open_msg(p, before, &fresh, MSG_ID2, SENDER, &out, NULL), DP_AEAD_UNKNOWN_KEY);
    }
    /* once A is dropped, A's rows are unknown, not tampered */
    {
        dp_keyring *only_b = ring1(p, "key-B", KEY_B_HEX);
        CHECK_EQ(open_msg(p, only_b, &old, MSG_ID, SENDER, &out, NULL), DP_AEAD_UNKNOWN_KEY);
    }
}

/* Every accepted spelling of one key gives the same key: seal under one, open under all. */
static void test_key_spellings(dp_test_env *env)
{
    apr_pool_t *p = env->pool;

    for (int round = 0; round < 20; round++) {
        unsigned char k[32];
        const char *std, *spells[8];
        dp_keyring *ref;
        dp_sealed s;
        const char *out;

        CHECK_EQ(RAND_bytes(k, sizeof(k)), 1);
        if (round == 0) {
            memset(k, 0xfb, sizeof(k)); /* "+" and "/" in base64, "-" and "_" in url-safe */
        }
        std = b64(p, k, sizeof(k));
        spells[0] = hex(p, k, 32, 0);
        spells[1] = hex(p, k, 32, 1);
        spells[2] = apr_pstrcat(p, apr_pstrndup(p, hex(p, k, 16, 1), 32), hex(p, k + 16, 16, 0),
                                NULL); /* mixed case */
        spells[3] = std;
        spells[4] = unpad(p, std);
        spells[5] = to_url(p, std, 1);
        spells[6] = to_url(p, std, 0);
        spells[7] = NULL;
        CHECK_EQ(strlen(std), 44);
        CHECK_EQ(strlen(spells[6]), 43);

        ref = ring1(p, "k", spells[0]);
        if (!seal_msg(p, ref, MSG_ID, SENDER, "same key", 8, &s)) {
            return;
        }
        for (int i = 1; spells[i] != NULL; i++) {
            dp_keyring *kr = dp_keyring_make(p);
            const char *err = dp_keyring_add(kr, p, "k", spells[i], 1);
            dp_t_context(apr_psprintf(p, "round %d, spelling %d", round, i));
            if (CHECK_MSG(err == NULL, "refused: %s", err ? err : "")) {
                CHECK_EQ(open_msg(p, kr, &s, MSG_ID, SENDER, &out, NULL), DP_AEAD_OK);
            }
        }
        dp_t_context(NULL);
    }
}

static void refused(apr_pool_t *p, const char *spec, const char *why)
{
    dp_keyring *kr = dp_keyring_make(p);
    const char *err = dp_keyring_add(kr, p, "k", spec, 1);

    if (CHECK_MSG(err != NULL, "accepted %s", why)) {
        CHECK_MSG(strstr(err, "'k'") != NULL, "error does not name the key: %s", err);
        /* key material never appears in messages */
        if (spec != NULL && strlen(spec) >= 16 && strncmp(spec, "file:", 5) != 0) {
            CHECK_MSG(strstr(err, apr_pstrndup(p, spec, 16)) == NULL, "error echoes the key: %s",
                      err);
        }
    }
    CHECK_EQ(dp_keyring_count(kr), 0);
    CHECK_NULL(dp_keyring_current_id(kr));
}

static void test_key_refused(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    unsigned char k[33];
    const char *b31, *b33;

    memset(k, 0xa5, sizeof(k));
    refused(p, hex(p, k, 31, 0), "31-byte hex");
    refused(p, hex(p, k, 33, 0), "33-byte hex");
    refused(p, apr_pstrndup(p, KEY_A_HEX, 63), "63 hex digits");
    refused(p, apr_pstrcat(p, KEY_A_HEX, "0", NULL), "65 hex digits");
    refused(p, apr_pstrcat(p, apr_pstrndup(p, KEY_A_HEX, 63), "g", NULL), "a non-hex digit");
    b31 = b64(p, k, 31);
    b33 = b64(p, k, 33);
    refused(p, b31, "31-byte base64");
    refused(p, unpad(p, b31), "31-byte base64 unpadded");
    refused(p, to_url(p, b31, 0), "31-byte url-safe base64");
    refused(p, b33, "33-byte base64");
    refused(p, to_url(p, b33, 1), "33-byte url-safe base64");
    refused(p, "", "an empty key");
    refused(p, NULL, "a NULL key");
    refused(p, "not a key at all!", "prose");
    refused(p, "  " KEY_A_HEX, "leading blanks");
    refused(p, KEY_A_HEX "\n", "a newline (only key files may end in one)");
    memset(k, 0xfb, sizeof(k));
    {
        const char *std = b64(p, k, 32); /* "+/v7+/v7..." */
        char *mixed = apr_pstrdup(p, std);

        CHECK(std[0] == '+' && std[1] == '/');
        mixed[0] = '-'; /* "-" beside "/" */
        refused(p, mixed, "mixed base64 alphabets");
        refused(p, apr_pstrcat(p, unpad(p, std), "==", NULL), "two pads on 43 digits");
        refused(p, apr_pstrcat(p, std, "=", NULL), "an extra pad");
        refused(p, apr_pstrcat(p, std, "A", NULL), "data after padding");
        refused(p, apr_pstrcat(p, "A", std, NULL), "one digit too many");
        /* 43 digits carry 258 bits: the last two must be zero */
        mixed = apr_pstrdup(p, unpad(p, std));
        {
            static const char alpha[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            const char *at = strchr(alpha, mixed[42]);
            if (CHECK_NOT_NULL(at)) {
                mixed[42] = alpha[(at - alpha) ^ 1]; /* set the lowest of the 2 spare bits */
            }
        }
        refused(p, mixed, "non-canonical trailing bits");
        refused(p, apr_pstrcat(p, apr_pstrndup(p, std, 20), " ", std + 20, NULL),
                "a blank inside base64");
    }
}

static void test_key_ids(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    static const char *const bad[] = {
        "",          "a b", "a.b", "a/b", "k\xc3\xa4y", "a\n", "123456789012345678901234567890123",
        "a,current", "a=b",
    };
    dp_keyring *kr = dp_keyring_make(p);
    const char *err;

    for (apr_size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_MSG(dp_keyring_add(kr, p, bad[i], KEY_A_HEX, 0) != NULL, "accepted id \"%s\"",
                  bad[i]);
    }
    CHECK(dp_keyring_add(kr, p, NULL, KEY_A_HEX, 0) != NULL);
    CHECK_EQ(dp_keyring_count(kr), 0);
    CHECK_NULL(dp_keyring_check(kr)); /* empty: encryption not configured, not an error */

    CHECK_NULL(dp_keyring_add(kr, p, "12345678901234567890123456789012", KEY_A_HEX, 0));
    CHECK_NULL(dp_keyring_add(kr, p, "Key_2024-01", KEY_B_HEX, 0));
    CHECK_NOT_NULL(dp_keyring_check(kr)); /* keys but none current */
    CHECK_NULL(dp_keyring_current_id(kr));

    /* duplicate id, even with another key or as current */
    err = dp_keyring_add(kr, p, "Key_2024-01", KEY_A_HEX, 1);
    CHECK(err != NULL && strstr(err, "twice") != NULL);
    CHECK_NULL(dp_keyring_add(kr, p, "cur", KEY_A_HEX, 1));
    CHECK_NULL(dp_keyring_check(kr));
    /* a second current key */
    err = dp_keyring_add(kr, p, "cur2", KEY_B_HEX, 1);
    CHECK(err != NULL && strstr(err, "'cur'") != NULL);
    CHECK_STR(dp_keyring_current_id(kr), "cur");
    CHECK_EQ(dp_keyring_count(kr), 3);
    /* a key refused for its value leaves the ring as it was */
    CHECK_NOT_NULL(dp_keyring_add(kr, p, "short", "abcd", 0));
    CHECK_EQ(dp_keyring_count(kr), 3);
    CHECK_NULL(dp_keyring_add(kr, p, "short", KEY_B_HEX, 0));

    /* at most 32 keys */
    for (int i = dp_keyring_count(kr); i < DP_KEYRING_MAX_KEYS; i++) {
        CHECK_NULL(dp_keyring_add(kr, p, apr_psprintf(p, "k%d", i), KEY_A_HEX, 0));
    }
    CHECK_EQ(dp_keyring_count(kr), 32);
    CHECK_NOT_NULL(dp_keyring_add(kr, p, "one-too-many", KEY_A_HEX, 0));
    CHECK_EQ(dp_keyring_count(kr), 32);
}

static const char *write_temp(apr_pool_t *p, const char *content, apr_size_t n)
{
    const char *dir;
    char *path;
    apr_file_t *f;
    apr_size_t w = n;

    if (apr_temp_dir_get(&dir, p) != APR_SUCCESS) {
        return NULL;
    }
    path = apr_pstrcat(p, dir, "/dp_aead_keyXXXXXX", NULL);
    /* deleted when the test's pool closes it */
    if (apr_file_mktemp(&f, path, 0, p) != APR_SUCCESS
        || apr_file_write_full(f, content, n, &w) != APR_SUCCESS
        || apr_file_flush(f) != APR_SUCCESS) {
        return NULL;
    }
    return path;
}

static void test_key_files(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *ref = ring1(p, "f", KEY_A_HEX);
    unsigned char k[32];
    const char *std, *path, *err;
    char *big;
    dp_sealed s;
    const char *out;
    static const char *const ends[] = {"\n", "", "\r\n", "\n\n", " \t\n"};

    for (int i = 0; i < 32; i++) {
        k[i] = (unsigned char)i;
    }
    std = b64(p, k, 32);
    if (!seal_msg(p, ref, MSG_ID, SENDER, "from a file", 11, &s)) {
        return;
    }
    for (apr_size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        const char *texts[] = {KEY_A_HEX, hex(p, k, 32, 1), std, to_url(p, std, 0)};
        for (apr_size_t j = 0; j < sizeof(texts) / sizeof(texts[0]); j++) {
            const char *c = apr_pstrcat(p, texts[j], ends[i], NULL);
            dp_keyring *kr = dp_keyring_make(p);
            dp_t_context(apr_psprintf(p, "ending %zu, text %zu", i, j));
            path = write_temp(p, c, strlen(c));
            if (!CHECK_NOT_NULL(path)) {
                return;
            }
            err = dp_keyring_add(kr, p, "f", apr_pstrcat(p, "file:", path, NULL), 1);
            if (CHECK_MSG(err == NULL, "refused: %s", err ? err : "")) {
                CHECK_EQ(open_msg(p, kr, &s, MSG_ID, SENDER, &out, NULL), DP_AEAD_OK);
            }
        }
    }
    dp_t_context(NULL);

    /* missing, empty, short, leading blank, too big, no path */
    err = dp_keyring_add(dp_keyring_make(p), p, "f", "file:/nonexistent/dp/key", 1);
    CHECK(err != NULL && strstr(err, "/nonexistent/dp/key") != NULL && strstr(err, "'f'"));
    path = write_temp(p, "", 0);
    CHECK(path
          && dp_keyring_add(dp_keyring_make(p), p, "f", apr_pstrcat(p, "file:", path, NULL), 1)
              != NULL);
    path = write_temp(p, "\n", 1);
    CHECK(path
          && dp_keyring_add(dp_keyring_make(p), p, "f", apr_pstrcat(p, "file:", path, NULL), 1)
              != NULL);
    path = write_temp(p, KEY_A_HEX "00\n", 67);
    CHECK(path
          && dp_keyring_add(dp_keyring_make(p), p, "f", apr_pstrcat(p, "file:", path, NULL), 1)
              != NULL);
    path = write_temp(p, "\n" KEY_A_HEX, 65);
    CHECK(path
          && dp_keyring_add(dp_keyring_make(p), p, "f", apr_pstrcat(p, "file:", path, NULL), 1)
              != NULL);
    big = apr_palloc(p, 4096);
    memset(big, 'a', 4096);
    path = write_temp(p, big, 4096);
    err = path ? dp_keyring_add(dp_keyring_make(p), p, "f", apr_pstrcat(p, "file:", path, NULL), 1)
               : NULL;
    CHECK(err != NULL && strstr(err, "too big") != NULL);
    CHECK_NOT_NULL(dp_keyring_add(dp_keyring_make(p), p, "f", "file:", 1));
    /* a directory is not a key file */
    {
        const char *dir;
        if (apr_temp_dir_get(&dir, p) == APR_SUCCESS) {
            CHECK_NOT_NULL(
                dp_keyring_add(dp_keyring_make(p), p, "f", apr_pstrcat(p, "file:", dir, NULL), 1));
        }
    }
}

/* ---- garbage never opens and never crashes ---- */

static void test_garbage(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *kr = ring1(p, "a", KEY_A_HEX);
    static const char *const junk[] = {
        "",
        "=",
        "==",
        "====",
        "A",
        "AA",
        "AAA",
        "AAAA",
        "AAAA====",
        "!!!!",
        "****",
        "AAAAAAAAAAAAAAAAAAAAAA==",
        "AAAAAAAAAAAAAAAAAAAAAAAA",
        "AAAA AAAA",
        "\n\n\n",
        "AAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAA",
        "-_-_-_-_",
        "+/+/+/+/+/+/+/+/+/+/+/+/",
        "AAAA\x80\xff",
        "%00%00",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=A",
    };
    const apr_size_t njunk = sizeof(junk) / sizeof(junk[0]);
    dp_sealed s, t;
    const char *out;
    char *huge, *mut;
    apr_size_t n;

    if (!seal_msg(p, kr, MSG_ID, SENDER, "a message that matters", 22, &s)) {
        return;
    }
    for (apr_size_t i = 0; i < njunk; i++) {
        dp_t_context(apr_psprintf(p, "junk %zu", i));
        t = s;
        t.nonce_b64 = junk[i];
        CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, &n), DP_AEAD_TAMPERED);
        t = s;
        t.ct_b64 = junk[i];
        CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, &n), DP_AEAD_TAMPERED);
        t.nonce_b64 = junk[i];
        CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, &n), DP_AEAD_TAMPERED);
        t.key_id = junk[i];
        CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, &n), DP_AEAD_UNKNOWN_KEY);
        CHECK_NULL(out);
        CHECK_EQ(n, 0);
    }
    dp_t_context(NULL);
    t = s;
    t.nonce_b64 = NULL;
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    t = s;
    t.ct_b64 = NULL;
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    CHECK_EQ(open_msg(p, kr, NULL, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    CHECK_EQ(open_msg(p, kr, &s, "garbage", "garbage", &out, NULL), DP_AEAD_TAMPERED);

    /* huge inputs: refused before any real work (and both alphabet halves) */
    huge = apr_palloc(p, 40u * 1024 * 1024 + 1);
    memset(huge, 'A', 40u * 1024 * 1024);
    huge[40u * 1024 * 1024] = '\0';
    t = s;
    t.ct_b64 = huge;
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    t = s;
    t.nonce_b64 = huge;
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);
    huge[100000] = '\0';
    t = s;
    t.ct_b64 = huge;
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED);

    /* random strings, printable and not */
    for (int i = 0; i < 2000; i++) {
        unsigned char r[80];
        apr_size_t len;
        CHECK_EQ(RAND_bytes(r, sizeof(r)), 1);
        len = r[0] % 79;
        mut = apr_palloc(p, len + 1);
        for (apr_size_t j = 0; j < len; j++) {
            mut[j] = (char)(i % 2 ? (r[j + 1] % 254) + 1 : "AQZaz09+/-_=\n"[r[j + 1] % 13]);
        }
        mut[len] = '\0';
        t = s;
        if (i % 3 == 0) {
            t.nonce_b64 = mut;
        }
        else {
            t.ct_b64 = mut;
        }
        if (!CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL), DP_AEAD_TAMPERED)) {
            break;
        }
    }

    /* every one-character change of a valid ciphertext or nonce is caught */
    for (int pass = 0; pass < 2; pass++) {
        const char *orig = pass == 0 ? s.ct_b64 : s.nonce_b64;
        static const char repl[] = "AB+/-_=\n \x01z";
        n = strlen(orig);
        for (apr_size_t i = 0; i < n; i++) {
            for (const char *r = repl; *r; r++) {
                if (*r == orig[i]) {
                    continue;
                }
                mut = apr_pstrdup(p, orig);
                mut[i] = *r;
                t = s;
                if (pass == 0) {
                    t.ct_b64 = mut;
                }
                else {
                    t.nonce_b64 = mut;
                }
                CHECK_MSG(open_msg(p, kr, &t, MSG_ID, SENDER, &out, NULL) != DP_AEAD_OK,
                          "\"%s\" opened", mut);
            }
        }
    }
}

/* PostgreSQL's encode(..., 'base64') wraps lines at 76 characters: that still opens. */
static void test_wrapped_base64(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *kr = ring1(p, "a", KEY_A_HEX);
    char text[500];
    dp_sealed s, t;
    const char *out;
    apr_size_t n, len = 0;
    char *wrapped;

    memset(text, 'w', sizeof(text));
    if (!seal_msg(p, kr, MSG_ID, SENDER, text, sizeof(text), &s)) {
        return;
    }
    n = strlen(s.ct_b64);
    wrapped = apr_palloc(p, n + n / 76 * 2 + 1);
    for (apr_size_t i = 0, o = 0; i <= n; i++) {
        if (i > 0 && i % 76 == 0 && i < n) {
            wrapped[o++] = '\n';
        }
        wrapped[o++] = s.ct_b64[i];
    }
    t = s;
    t.ct_b64 = wrapped;
    CHECK(strchr(wrapped, '\n') != NULL);
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, &len), DP_AEAD_OK);
    CHECK_EQ(len, sizeof(text));
    t.nonce_b64 = apr_pstrcat(p, apr_pstrndup(p, s.nonce_b64, 8), "\r\n", s.nonce_b64 + 8, NULL);
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, &len), DP_AEAD_OK);
    /* but no other whitespace */
    t.nonce_b64 = apr_pstrcat(p, apr_pstrndup(p, s.nonce_b64, 8), " ", s.nonce_b64 + 8, NULL);
    CHECK_EQ(open_msg(p, kr, &t, MSG_ID, SENDER, &out, &len), DP_AEAD_TAMPERED);
}

static void test_seal_errors(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *none = dp_keyring_make(p);
    dp_sealed s;
    dp_error *e;

    e = dp_aead_seal(p, none, NULL, 0, "x", 1, &s);
    CHECK(e != NULL && e->status == 500);
    CHECK_NULL(s.key_id);
    CHECK_NULL(s.ct_b64);
    CHECK_NULL(dp_keyring_add(none, p, "old", KEY_A_HEX, 0));
    CHECK_NOT_NULL(dp_aead_seal(p, none, NULL, 0, "x", 1, &s)); /* no current key */
    CHECK_NOT_NULL(dp_aead_seal(p, NULL, NULL, 0, "x", 1, &s));
    CHECK_NOT_NULL(dp_aead_seal(p, ring1(p, "a", KEY_A_HEX), NULL, 5, "x", 1, &s));
    CHECK_NOT_NULL(dp_aead_seal(p, ring1(p, "a", KEY_A_HEX), NULL, 0, NULL, 1, &s));
    CHECK_NOT_NULL(
        dp_aead_seal(p, ring1(p, "a", KEY_A_HEX), NULL, 0, "x", DP_AEAD_MAX_PLAIN + 1, &s));
}

/* The ring's key bytes are cleansed when its pool goes. */
static void test_cleansed(dp_test_env *env)
{
    apr_pool_t *sub;
    dp_keyring *kr;
    const unsigned char *raw;
    unsigned char want[32];
    int found = 0, still = 0;

    for (int i = 0; i < 32; i++) {
        want[i] = (unsigned char)i;
    }
    if (apr_pool_create(&sub, env->pool) != APR_SUCCESS) {
        return;
    }
    kr = ring1(sub, "a", KEY_A_HEX);
    raw = (const unsigned char *)kr;
    /* the opaque struct holds the bytes near its start; find them, then watch them go.
     * Reading after the clear is sound: a cleared pool keeps its memory (Debian's APR has
     * no pool debugging). */
    for (apr_size_t off = 0; off + 32 <= 128; off++) {
        if (memcmp(raw + off, want, 32) == 0) {
            found = 1;
        }
    }
    CHECK(found);
    apr_pool_clear(sub); /* runs the cleanup; the memory stays with the pool */
    for (apr_size_t off = 0; off + 32 <= 128; off++) {
        if (memcmp(raw + off, want, 32) == 0) {
            still = 1;
        }
    }
    CHECK(!still);
    apr_pool_destroy(sub);
}

/* ---- rows: purposes and format versions ---- */

#define NOTE_ID  "11111111-2222-4333-8444-555555555555"
#define APPT_ID  "99999999-8888-4777-8666-555555555555"
#define RECEIVER "abcdefab-cdef-4abc-8def-abcdefabcdef"

static int seal_row(apr_pool_t *p, const dp_keyring *kr, const dp_aead_binding *b, const char *text,
                    dp_sealed *out)
{
    dp_error *e = dp_aead_seal_row(p, kr, b, text, strlen(text), out);

    CHECK_MSG(e == NULL, "seal_row: %s", e ? e->detail : "");
    return e == NULL;
}

static dp_aead_status open_row(apr_pool_t *p, const dp_keyring *kr, const dp_aead_binding *b,
                               int version, const dp_sealed *s)
{
    const char *out = NULL;
    dp_aead_status st = dp_aead_open_row(p, kr, b, version, s, &out, NULL);

    if (st != DP_AEAD_OK) {
        CHECK_NULL(out);
    }
    return st;
}

/* each purpose opens as itself, in the current format, and as no other purpose with the same
 * ids */
static void test_row_purposes(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *kr = ring1(p, "a", KEY_A_HEX);
    const dp_aead_purpose all[] = {DP_AEAD_MESSAGE, DP_AEAD_NOTE, DP_AEAD_ADDENDUM};

    CHECK_STR(dp_aead_purpose_label(DP_AEAD_MESSAGE), "docportal/message");
    CHECK_STR(dp_aead_purpose_label(DP_AEAD_NOTE), "docportal/note");
    CHECK_STR(dp_aead_purpose_label(DP_AEAD_ADDENDUM), "docportal/addendum");
    CHECK_NULL(dp_aead_purpose_label((dp_aead_purpose)42));
    for (int i = 0; i < 3; i++) {
        dp_aead_binding b = {all[i], NOTE_ID, APPT_ID, RECEIVER};
        const char *out = NULL;
        dp_sealed s;

        if (!seal_row(p, kr, &b, "the same ids, another purpose", &s)) {
            continue;
        }
        CHECK_EQ(dp_aead_open_row(p, kr, &b, DP_AEAD_VERSION, &s, &out, NULL), DP_AEAD_OK);
        CHECK_STR(out, "the same ids, another purpose");
        for (int j = 0; j < 3; j++) {
            dp_aead_binding other = {all[j], NOTE_ID, APPT_ID, RECEIVER};
            if (j != i) {
                CHECK_MSG(open_row(p, kr, &other, DP_AEAD_VERSION, &s) == DP_AEAD_TAMPERED,
                          "purpose %d opened as purpose %d", i, j);
            }
        }
        /* read as version 1 (the column changed behind the module's back): does not open */
        CHECK_EQ(open_row(p, kr, &b, DP_AEAD_VERSION_1, &s), DP_AEAD_TAMPERED);
        /* an unknown version, an unknown purpose */
        CHECK_EQ(open_row(p, kr, &b, 3, &s), DP_AEAD_TAMPERED);
        CHECK_EQ(open_row(p, kr, &b, 0, &s), DP_AEAD_TAMPERED);
        b.purpose = (dp_aead_purpose)42;
        CHECK_EQ(open_row(p, kr, &b, DP_AEAD_VERSION, &s), DP_AEAD_TAMPERED);
    }
}

/* a message is bound to its receiver as well as to its id and sender */
static void test_row_receiver(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *kr = ring1(p, "a", KEY_A_HEX);
    dp_aead_binding b = {DP_AEAD_MESSAGE, MSG_ID, SENDER, RECEIVER};
    dp_aead_binding moved = b;
    dp_sealed s;

    if (!seal_row(p, kr, &b, "to one receiver", &s)) {
        return;
    }
    CHECK_EQ(open_row(p, kr, &b, DP_AEAD_VERSION, &s), DP_AEAD_OK);
    moved.receiver = SENDER2;
    CHECK_EQ(open_row(p, kr, &moved, DP_AEAD_VERSION, &s), DP_AEAD_TAMPERED);
    moved = b;
    moved.owner = SENDER2;
    CHECK_EQ(open_row(p, kr, &moved, DP_AEAD_VERSION, &s), DP_AEAD_TAMPERED);
    moved = b;
    moved.row_id = MSG_ID2;
    CHECK_EQ(open_row(p, kr, &moved, DP_AEAD_VERSION, &s), DP_AEAD_TAMPERED);
    /* sender and receiver swapped */
    moved = b;
    moved.owner = RECEIVER;
    moved.receiver = SENDER;
    CHECK_EQ(open_row(p, kr, &moved, DP_AEAD_VERSION, &s), DP_AEAD_TAMPERED);
    /* a message without a receiver seals nothing and opens nothing */
    moved = b;
    moved.receiver = NULL;
    CHECK_EQ(open_row(p, kr, &moved, DP_AEAD_VERSION, &s), DP_AEAD_TAMPERED);
    CHECK_NOT_NULL(dp_aead_seal_row(p, kr, &moved, "x", 1, &s));
    moved.receiver = "not-a-uuid";
    CHECK_NOT_NULL(dp_aead_seal_row(p, kr, &moved, "x", 1, &s));
    CHECK_NOT_NULL(dp_aead_seal_row(p, kr, NULL, "x", 1, &s));
}

/* version 1 rows (sealed with dp_aead_message_aad) still open */
static void test_row_version1(dp_test_env *env)
{
    apr_pool_t *p = env->pool;
    dp_keyring *kr = ring1(p, "a", KEY_A_HEX);
    dp_aead_binding msg = {DP_AEAD_MESSAGE, MSG_ID, SENDER, RECEIVER};
    dp_aead_binding note = {DP_AEAD_NOTE, MSG_ID, SENDER, NULL};
    dp_aead_binding moved = msg;
    const char *out = NULL;
    dp_sealed s;

    if (!seal_msg(p, kr, MSG_ID, SENDER, "sealed in format 1", 18, &s)) {
        return;
    }
    CHECK_EQ(dp_aead_open_row(p, kr, &msg, DP_AEAD_VERSION_1, &s, &out, NULL), DP_AEAD_OK);
    CHECK_STR(out, "sealed in format 1");
    /* version 1 bound no purpose and no receiver: that is what version 2 adds */
    CHECK_EQ(open_row(p, kr, &note, DP_AEAD_VERSION_1, &s), DP_AEAD_OK);
    moved.receiver = SENDER2;
    CHECK_EQ(open_row(p, kr, &moved, DP_AEAD_VERSION_1, &s), DP_AEAD_OK);
    /* but still its id and sender, and only as version 1 */
    moved = msg;
    moved.owner = SENDER2;
    CHECK_EQ(open_row(p, kr, &moved, DP_AEAD_VERSION_1, &s), DP_AEAD_TAMPERED);
    CHECK_EQ(open_row(p, kr, &msg, DP_AEAD_VERSION, &s), DP_AEAD_TAMPERED);
    /* the version column's spellings */
    CHECK_EQ(dp_aead_version_parse("1"), DP_AEAD_VERSION_1);
    CHECK_EQ(dp_aead_version_parse("2"), DP_AEAD_VERSION);
    CHECK_EQ(dp_aead_version_parse(DP_AEAD_VERSION_TEXT), DP_AEAD_VERSION);
    CHECK_EQ(dp_aead_version_parse("3"), 0);
    CHECK_EQ(dp_aead_version_parse("12"), 0);
    CHECK_EQ(dp_aead_version_parse(""), 0);
    CHECK_EQ(dp_aead_version_parse(NULL), 0);
}

/* the version 2 layout: label, NUL, version byte, row id, owner, and a message's receiver */
static void test_row_aad_layout(dp_test_env *env)
{
    unsigned char aad[DP_AEAD_ROW_AAD_MAX], v1[DP_AEAD_MESSAGE_AAD_LEN];
    dp_aead_binding msg = {DP_AEAD_MESSAGE, MSG_ID, SENDER, RECEIVER};
    dp_aead_binding add = {DP_AEAD_ADDENDUM, MSG_ID, SENDER, RECEIVER};
    apr_size_t n;

    (void)env;
    n = dp_aead_row_aad(&msg, DP_AEAD_VERSION, aad);
    CHECK_EQ(n, sizeof("docportal/message") + 1 + 48);
    CHECK(memcmp(aad, "docportal/message", sizeof("docportal/message")) == 0);
    CHECK_EQ(aad[sizeof("docportal/message")], DP_AEAD_VERSION);
    CHECK_EQ(aad[sizeof("docportal/message") + 1], 0x6f);
    CHECK_EQ(aad[n - 1], 0xef);
    /* an addendum has no receiver: none is bound, whatever the binding holds */
    n = dp_aead_row_aad(&add, DP_AEAD_VERSION, aad);
    CHECK_EQ(n, sizeof("docportal/addendum") + 1 + 32);
    CHECK_EQ(aad[n - 1], 0xe9);
    /* version 1 is dp_aead_message_aad */
    CHECK_EQ(dp_aead_row_aad(&msg, DP_AEAD_VERSION_1, aad), DP_AEAD_MESSAGE_AAD_LEN);
    dp_aead_message_aad(MSG_ID, SENDER, v1);
    CHECK(memcmp(aad, v1, sizeof(v1)) == 0);
    CHECK_EQ(dp_aead_row_aad(&msg, 7, aad), 0);
}

const dp_test_case dp_suite_aead[] = {
    {"roundtrip",      test_roundtrip     },
    {"nonces_differ",  test_nonces_differ },
    {"tampered",       test_tampered      },
    {"aad_binds_row",  test_aad_binds_row },
    {"uuid_bytes",     test_uuid_bytes    },
    {"unknown_key",    test_unknown_key   },
    {"rotation",       test_rotation      },
    {"key_spellings",  test_key_spellings },
    {"key_refused",    test_key_refused   },
    {"key_ids",        test_key_ids       },
    {"key_files",      test_key_files     },
    {"garbage",        test_garbage       },
    {"wrapped_base64", test_wrapped_base64},
    {"seal_errors",    test_seal_errors   },
    {"cleansed",       test_cleansed      },
    {"row_purposes",   test_row_purposes  },
    {"row_receiver",   test_row_receiver  },
    {"row_version1",   test_row_version1  },
    {"row_aad_layout", test_row_aad_layout},
    {NULL,             NULL               },
};
