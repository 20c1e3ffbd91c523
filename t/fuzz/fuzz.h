/* fuzz.h: what every libFuzzer harness in t/fuzz shares.
 *
 * Pools: APR initialised once, one root pool for what lives across inputs (key rings, keys),
 * and a fresh pool per input (fz_begin / fz_end), so a harness does not grow.
 *
 * Exact allocations: ASan cannot see an overflow inside an APR pool block (pools carve 8 KiB
 * blocks into pieces). While an input runs, apr_palloc (and so apr_pcalloc, apr_pstrdup, ...)
 * is replaced here by one malloc per allocation, released after the input's pool is destroyed
 * (after every cleanup ran, as APR frees pool memory), so a write or read past any pool
 * allocation of the core is an ASan report. Only the per-input pool and its subpools may be
 * allocated from while an input runs.
 *
 * Fields: multi-part inputs are split at NUL bytes (fz_split); missing parts are "". */
#ifndef DP_FUZZ_H
#define DP_FUZZ_H

#include <apr_base64.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static apr_pool_t *fz_root;

static struct {
    int armed;     /* an input runs: pool allocations are tracked mallocs */
    void **blocks; /* what to free after the input */
    size_t n, cap;
} fz_heap;

static void *(*fz_real_palloc)(apr_pool_t *, apr_size_t);

/* Replaces libapr's apr_palloc for the whole process (the executable's symbol wins). */
void *apr_palloc(apr_pool_t *p, apr_size_t size)
{
    void *m;

    if (fz_real_palloc == NULL) {
        fz_real_palloc = (void *(*)(apr_pool_t *, apr_size_t))dlsym(RTLD_NEXT, "apr_palloc");
    }
    if (!fz_heap.armed) {
        return fz_real_palloc(p, size);
    }
    if (fz_heap.n == fz_heap.cap) {
        fz_heap.cap = fz_heap.cap ? fz_heap.cap * 2 : 256;
        fz_heap.blocks = realloc(fz_heap.blocks, fz_heap.cap * sizeof(void *));
        if (fz_heap.blocks == NULL) {
            abort();
        }
    }
    m = malloc(size ? size : 1);
    if (m == NULL) {
        abort();
    }
    fz_heap.blocks[fz_heap.n++] = m;
    return m;
}

/* The process-wide set-up; a harness's LLVMFuzzerInitialize calls it first. */
static inline void fz_init(void)
{
    if (fz_root == NULL) {
        apr_initialize();
        if (apr_pool_create(&fz_root, NULL) != APR_SUCCESS) {
            abort();
        }
    }
}

static inline apr_pool_t *fz_begin(void)
{
    apr_pool_t *p;

    fz_init();
    if (apr_pool_create(&p, fz_root) != APR_SUCCESS) {
        abort();
    }
    fz_heap.armed = 1;
    return p;
}

static inline void fz_end(apr_pool_t *p)
{
    apr_pool_destroy(p);
    fz_heap.armed = 0;
    for (size_t i = 0; i < fz_heap.n; i++) {
        free(fz_heap.blocks[i]);
    }
    fz_heap.n = 0;
}

/* Split data at NUL bytes into n NUL-terminated pool copies (the last part keeps any further
 * NULs; lens[i], if lens is not NULL, is each part's length). */
static inline void fz_split(apr_pool_t *p, const uint8_t *data, size_t size, int n,
                            const char **parts, size_t *lens)
{
    for (int i = 0; i < n; i++) {
        const uint8_t *nul = i + 1 < n ? memchr(data, 0, size) : NULL;
        size_t len = nul ? (size_t)(nul - data) : size;
        parts[i] = apr_pstrmemdup(p, (const char *)data, len);
        if (lens != NULL) {
            lens[i] = len;
        }
        data += nul ? len + 1 : len;
        size -= nul ? len + 1 : len;
    }
}

/* base64url without padding (JWT parts) of n bytes, in p. */
static inline const char *fz_b64url(apr_pool_t *p, const void *in, size_t n)
{
    char *out = apr_palloc(p, (apr_size_t)apr_base64_encode_len((int)n));
    int len = apr_base64_encode_binary(out, in, (int)n) - 1; /* without the NUL */

    while (len > 0 && out[len - 1] == '=') {
        len--;
    }
    out[len] = '\0';
    for (char *c = out; *c; c++) {
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    }
    return out;
}

/* A property that must hold: a failure is a crash libFuzzer records with its input. */
#define FZ_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
