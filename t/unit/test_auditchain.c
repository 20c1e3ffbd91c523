/* dp_auditchain: fixed vectors for the chain and checkpoint signatures (computed outside this
 * code), the canonical form's unambiguity (NULL is not "", field boundaries count), that a
 * change to any one column changes the MAC, and the checkpoint log line's parser. */
#include "dp_test.h"

#include "dp_auditchain.h"
#include "dp_crypto.h"

#include <apr_strings.h>

extern const dp_test_case dp_suite_auditchain[];

#define KEY "0123456789abcdef0123456789abcdef"

/* Row 1 and row 2 of the vectors. The expected values were computed independently with
 * Perl's Digest::SHA from the byte layout documented in dp_auditchain.h:
 *   sub canon { my $c = "dp-audit-row-v1\0";
 *               $c .= defined $_ ? "\x01" . pack('N', length $_) . $_ : "\x00" for @_; $c }
 *   hmac_sha256(("\0" x 32) . canon(@row1), $key)
 * and mac 1 once more with OpenSSL's command line over the same bytes written to a file:
 *   openssl dgst -sha256 -mac HMAC -macopt key:0123456789abcdef0123456789abcdef row1.bin */
static const char *const ROW1[DP_AUDITCHAIN_NFIELDS] = {
    "1",
    "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
    "1700000000123456",
    NULL,
    "anonymous",
    "auth.login",
    "user",
    NULL,
    NULL,
    "127.0.0.1",
    "failure",
    "req-1",
};
static const char *const ROW2[DP_AUDITCHAIN_NFIELDS] = {
    "2",
    "f0e1d2c3-b4a5-4968-8776-655443322110",
    "1700000000123456",
    "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9",
    "provider",
    "auth.login",
    "user",
    "",
    NULL,
    "127.0.0.1",
    "success",
    "req-1",
};
#define MAC1 "d67d04b576cda48f9ccbfaff894300e9a9648c1dee41bd83424a4b292fe1960e"
#define MAC2 "a9f39faaa18c04ebf125aa2bb7f2f548c27ab44b85f8c8444bcfbc119665a0c0"
/* hmac_sha256("dp-audit-checkpoint-v1\0" . pack('Q>', 2) . $mac2 . pack('Q>', 1700000000999999)) */
#define SIG2 "da4ae9fb192e02f09638e78291874e19d472027bfd5ef19c55fd9cb3608bf698"
#define AT2  1700000000999999LL

static const unsigned char *key(void)
{
    return (const unsigned char *)KEY;
}

static const char *hex(apr_pool_t *p, const unsigned char *b)
{
    char *out = apr_palloc(p, 2 * DP_AUDITCHAIN_MAC_LEN + 1);
    dp_hex_encode(out, b, DP_AUDITCHAIN_MAC_LEN);
    return out;
}

/* the MAC of fields after the genesis */
static const char *first_mac(apr_pool_t *p, const char *const *fields)
{
    unsigned char g[DP_AUDITCHAIN_MAC_LEN], m[DP_AUDITCHAIN_MAC_LEN];
    dp_auditchain_genesis(g);
    CHECK_EQ(dp_auditchain_link(key(), strlen(KEY), g, fields, m), 0);
    return hex(p, m);
}

static void test_vectors(dp_test_env *env)
{
    unsigned char g[DP_AUDITCHAIN_MAC_LEN], m1[DP_AUDITCHAIN_MAC_LEN], m2[DP_AUDITCHAIN_MAC_LEN];
    unsigned char sig[DP_AUDITCHAIN_MAC_LEN];

    dp_auditchain_genesis(g);
    for (int i = 0; i < DP_AUDITCHAIN_MAC_LEN; i++) {
        CHECK_EQ(g[i], 0);
    }
    CHECK_EQ(dp_auditchain_link(key(), strlen(KEY), g, ROW1, m1), 0);
    CHECK_STR(hex(env->pool, m1), MAC1);
    CHECK_EQ(dp_auditchain_link(key(), strlen(KEY), m1, ROW2, m2), 0);
    CHECK_STR(hex(env->pool, m2), MAC2);
    CHECK_EQ(dp_auditchain_checkpoint_sign(key(), strlen(KEY), 2, m2, AT2, sig), 0);
    CHECK_STR(hex(env->pool, sig), SIG2);
}

/* The link is the HMAC of prev || canonical(): the canonical bytes are what the vector's
 * Perl builds (label, then tag/length/bytes per field). */
static void test_canonical_layout(dp_test_env *env)
{
    static const char *const f[DP_AUDITCHAIN_NFIELDS] = {"7", NULL, "", "ab"};
    apr_size_t len;
    const unsigned char *c = dp_auditchain_canonical(env->pool, f, &len);
    static const unsigned char want[] = {
        'd', 'p', '-', 'a', 'u', 'd', 'i', 't', '-', 'r', 'o', 'w', '-', 'v', '1', 0,
        1,   0,   0,   0,   1,   '7',                                            /* "7" */
        0,                                                                       /* NULL */
        1,   0,   0,   0,   0,                                                   /* "" */
        1,   0,   0,   0,   2,   'a', 'b', 0,   0,   0,   0,   0,   0,   0,   0, /* the remaining eight columns: NULL */
    };
    CHECK_EQ(len, sizeof(want));
    CHECK(len == sizeof(want) && memcmp(c, want, len) == 0);
}

static void test_null_is_not_empty(dp_test_env *env)
{
    const char *f[DP_AUDITCHAIN_NFIELDS];
    const char *with_null, *with_empty;

    memcpy(f, ROW1, sizeof(f));
    f[7] = NULL; /* resource_id */
    with_null = first_mac(env->pool, f);
    f[7] = "";
    with_empty = first_mac(env->pool, f);
    CHECK(strcmp(with_null, with_empty) != 0);
}

/* Moving bytes between neighbouring fields keeps their concatenation but not the MAC. */
static void test_field_boundaries(dp_test_env *env)
{
    const char *f[DP_AUDITCHAIN_NFIELDS];
    const char *a, *b;

    memcpy(f, ROW1, sizeof(f));
    f[5] = "auth.log";
    f[6] = "inuser";
    a = first_mac(env->pool, f);
    f[5] = "auth.login";
    f[6] = "user";
    b = first_mac(env->pool, f);
    CHECK(strcmp(a, b) != 0);
    CHECK_STR(b, MAC1);
}

/* Every column is covered: changing any one (a byte, or value <-> NULL) changes the MAC. */
static void test_every_field_counts(dp_test_env *env)
{
    for (int i = 0; i < DP_AUDITCHAIN_NFIELDS; i++) {
        const char *f[DP_AUDITCHAIN_NFIELDS];
        memcpy(f, ROW1, sizeof(f));
        dp_t_context(dp_auditchain_columns[i]);
        f[i] = f[i] != NULL ? apr_pstrcat(env->pool, f[i], "x", NULL) : "x";
        CHECK(strcmp(first_mac(env->pool, f), MAC1) != 0);
        f[i] = ROW1[i] != NULL ? NULL : "";
        CHECK(strcmp(first_mac(env->pool, f), MAC1) != 0);
    }
    dp_t_context(NULL);
}

/* The chain binds order and key: swapping rows, another previous MAC or another key differ. */
static void test_chain_binds_order_and_key(dp_test_env *env)
{
    unsigned char g[DP_AUDITCHAIN_MAC_LEN], m[DP_AUDITCHAIN_MAC_LEN], m2[DP_AUDITCHAIN_MAC_LEN];
    static const char other_key[] = "0123456789abcdef0123456789abcdeF";

    dp_auditchain_genesis(g);
    CHECK_EQ(dp_auditchain_link(key(), strlen(KEY), g, ROW2, m), 0);
    CHECK_EQ(dp_auditchain_link(key(), strlen(KEY), m, ROW1, m2), 0);
    CHECK(strcmp(hex(env->pool, m2), MAC2) != 0);
    CHECK(strcmp(hex(env->pool, m2), MAC1) != 0);
    CHECK_EQ(dp_auditchain_link((const unsigned char *)other_key, strlen(other_key), g, ROW1, m),
             0);
    CHECK(strcmp(hex(env->pool, m), MAC1) != 0);
}

static void test_checkpoint_fields_count(dp_test_env *env)
{
    unsigned char m2[DP_AUDITCHAIN_MAC_LEN], sig[DP_AUDITCHAIN_MAC_LEN];

    CHECK_EQ(dp_hex_decode(MAC2, m2, sizeof(m2)), 0);
    CHECK_EQ(dp_auditchain_checkpoint_sign(key(), strlen(KEY), 3, m2, AT2, sig), 0);
    CHECK(strcmp(hex(env->pool, sig), SIG2) != 0);
    CHECK_EQ(dp_auditchain_checkpoint_sign(key(), strlen(KEY), 2, m2, AT2 + 1, sig), 0);
    CHECK(strcmp(hex(env->pool, sig), SIG2) != 0);
    m2[31] ^= 1;
    CHECK_EQ(dp_auditchain_checkpoint_sign(key(), strlen(KEY), 2, m2, AT2, sig), 0);
    CHECK(strcmp(hex(env->pool, sig), SIG2) != 0);
}

static void test_hex(dp_test_env *env)
{
    unsigned char b[DP_AUDITCHAIN_MAC_LEN];
    (void)env;
    CHECK_EQ(dp_hex_decode(MAC1, b, sizeof(b)), 0);
    CHECK_STR(hex(env->pool, b), MAC1);
    CHECK_EQ(dp_hex_decode("D67D04B576CDA48F9CCBFAFF894300E9A9648C1DEE41BD83424A4B292FE1960E", b,
                           sizeof(b)),
             0);
    CHECK_STR(hex(env->pool, b), MAC1);
    CHECK_EQ(dp_hex_decode(MAC1 "00", b, sizeof(b)), -1);
    CHECK_EQ(dp_hex_decode("zz7d04b576cda48f9ccbfaff894300e9a9648c1dee41bd83424a4b292fe1960e", b,
                           sizeof(b)),
             -1);
    CHECK_EQ(dp_hex_decode(NULL, b, sizeof(b)), -1);
}

/* Lines that carry the checkpoint text but are not the sealer's message. */
static const char *const not_checkpoints[] = {
    "[t] [docportal:notice] DP09002: audit checkpoint position=2 at=1 mac=" MAC2 " sig=" SIG2 "\n",
    "[t] [core:error] [client 10.0.0.1:1] AH00128: File does not exist: /x] DP09001: audit "
    "checkpoint position=2 at=1 mac=" MAC2 " sig=" SIG2 "\n",
    "[t] [docportal:notice] audit checkpoint position=2 at=1 mac=" MAC2 " sig=" SIG2 "\n",
    "[t] [docportal:notice] DP09001: audit checkpoint position=2 at=1 mac=" MAC2 " sig=" SIG2
    " rows=1 and more\n",
    "[t] [docportal:notice DP09001: audit checkpoint position=2 at=1 mac=" MAC2 " sig=" SIG2 "\n",
};

static void test_checkpoint_parse(dp_test_env *env)
{
    long long pos = 0, at = 0;
    unsigned char mac[DP_AUDITCHAIN_MAC_LEN], sig[DP_AUDITCHAIN_MAC_LEN];
    const char *line = "[Mon Jan 01 00:00:00.000000 2024] [docportal:notice] [pid 7:tid 9] "
                       "DP09001: audit checkpoint position=2 at=1700000000999999 mac=" MAC2
                       " sig=" SIG2 " rows=3\n";

    CHECK_EQ(dp_auditchain_checkpoint_parse(line, &pos, &at, mac, sig), 0);
    CHECK_EQ(pos, 2);
    CHECK_EQ(at, AT2);
    CHECK_STR(hex(env->pool, mac), MAC2);
    CHECK_STR(hex(env->pool, sig), SIG2);
    /* the message alone, and without the batch size */
    CHECK_EQ(dp_auditchain_checkpoint_parse("DP09001: audit checkpoint position=2 at=1 mac=" MAC2
                                            " sig=" SIG2,
                                            &pos, &at, mac, sig),
             0);
    /* malformed lines are refused, never half-read */
    CHECK_EQ(dp_auditchain_checkpoint_parse("DP09001: audit checkpoint position=x at=1 mac=" MAC2
                                            " sig=" SIG2,
                                            &pos, &at, mac, sig),
             -1);
    CHECK_EQ(dp_auditchain_checkpoint_parse("DP09001: audit checkpoint position=0 at=1 mac=" MAC2
                                            " sig=" SIG2,
                                            &pos, &at, mac, sig),
             -1);
    CHECK_EQ(dp_auditchain_checkpoint_parse("DP09001: audit checkpoint position=2 at=1 mac=" MAC2
                                            "0 sig=" SIG2,
                                            &pos, &at, mac, sig),
             -1);
    CHECK_EQ(dp_auditchain_checkpoint_parse("DP09001: audit checkpoint position=2 at=1 mac=" MAC2
                                            " sig=abc",
                                            &pos, &at, mac, sig),
             -1);
    CHECK_EQ(dp_auditchain_checkpoint_parse("some other line", &pos, &at, mac, sig), -1);
    /* only the sealer's message counts: not another id, not the text inside another
     * message, not the text without its id, not trailing text after it, not a line whose
     * leading fields do not close */
    for (size_t i = 0; i < sizeof(not_checkpoints) / sizeof(not_checkpoints[0]); i++) {
        CHECK_EQ(dp_auditchain_checkpoint_parse(not_checkpoints[i], &pos, &at, mac, sig), -1);
    }
}

const dp_test_case dp_suite_auditchain[] = {
    {"vectors",                   test_vectors                  },
    {"canonical_layout",          test_canonical_layout         },
    {"null_is_not_empty",         test_null_is_not_empty        },
    {"field_boundaries",          test_field_boundaries         },
    {"every_field_counts",        test_every_field_counts       },
    {"chain_binds_order_and_key", test_chain_binds_order_and_key},
    {"checkpoint_fields_count",   test_checkpoint_fields_count  },
    {"hex",                       test_hex                      },
    {"checkpoint_parse",          test_checkpoint_parse         },
    {NULL,                        NULL                          },
};
