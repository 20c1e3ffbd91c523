/* The bcrypt ceiling of `make bench`: how many password verifications per second this
 * machine does at a given cost, on all cores, with the module's own code (dp_password, which
 * is what POST /api/auth/login runs once per login). Prints one JSON line.
 *   bcrypt_ceiling COST SECONDS [THREADS]      (THREADS default: the number of cores)
 * Each thread starts hashes until SECONDS have passed and finishes the one it started; the
 * rate is all hashes over the time until the last thread is done, so no started work is
 * lost (with more threads than cores they all finish at about the same time, in waves).
 * make bench runs as many threads as it has logins in flight (32). */
#include <apr_general.h>
#include <apr_pools.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "modules/core/dp_password.h"

#define PASSWORD "bench passphrase 2026"

typedef struct worker {
    pthread_t tid;
    const char *hash;
    double deadline;
    long count;
    int failed;
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    worker *w = arg;
    while (now_s() < w->deadline) {
        if (!dp_password_verify(PASSWORD, w->hash, NULL)) {
            w->failed = 1;
            break;
        }
        w->count++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    apr_pool_t *pool;
    const char *hash;
    worker *ws;
    double start, elapsed;
    long total = 0;
    int cost, threads;
    double seconds;

    if (argc < 3) {
        fprintf(stderr, "usage: %s COST SECONDS [THREADS]\n", argv[0]);
        return 2;
    }
    cost = atoi(argv[1]);
    seconds = atof(argv[2]);
    threads = argc > 3 ? atoi(argv[3]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cost < 4 || cost > 31 || seconds <= 0 || threads < 1) {
        fprintf(stderr, "bcrypt_ceiling: bad arguments\n");
        return 2;
    }
    apr_initialize();
    apr_pool_create(&pool, NULL);
    hash = dp_password_hash(pool, PASSWORD, cost);
    if (hash == NULL) {
        fprintf(stderr, "bcrypt_ceiling: hashing failed\n");
        return 1;
    }
    ws = calloc((size_t)threads, sizeof(*ws));
    if (ws == NULL) {
        return 1;
    }
    start = now_s();
    for (int i = 0; i < threads; i++) {
        ws[i].hash = hash;
        ws[i].deadline = start + seconds;
        if (pthread_create(&ws[i].tid, NULL, run, &ws[i]) != 0) {
            fprintf(stderr, "bcrypt_ceiling: no thread\n");
            return 1;
        }
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(ws[i].tid, NULL);
        if (ws[i].failed) {
            fprintf(stderr, "bcrypt_ceiling: a verification failed\n");
            return 1;
        }
        total += ws[i].count;
    }
    elapsed = now_s() - start;
    printf("{\"kind\":\"bcrypt\",\"cost\":%d,\"threads\":%d,\"seconds\":%.3f,"
           "\"verifications\":%ld,\"rps\":%.3f}\n",
           cost, threads, elapsed, total, (double)total / elapsed);
    free(ws);
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}
