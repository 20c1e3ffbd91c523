/* dp_cli: what the command-line tools (dp-rekey, dp-audit-verify) share: their options, the
 * database connection and its errors, and main()'s APR setup. Header-only, static inline:
 * each tool is one C file built by the Makefile, with this beside it. */
#ifndef DP_CLI_H
#define DP_CLI_H

#include <apr_general.h>
#include <apr_pools.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

/* The tool's name in messages; dp_cli_main sets it. */
static const char *dp_cli_name = "dp-tool";

/* --name VALUE or --name=VALUE at argv[*i] (*i moves past VALUE), else NULL. */
static inline const char *dp_cli_option(int argc, const char *const *argv, int *i, const char *name)
{
    apr_size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=') {
        return argv[*i] + n + 1;
    }
    if (strcmp(argv[*i], name) == 0 && *i + 1 < argc) {
        return argv[++*i];
    }
    return NULL;
}

/* 1 if res has the status wanted; else "TOOL: WHAT failed: why" on stderr and 0. */
static inline int dp_cli_db_ok(PGconn *db, PGresult *res, ExecStatusType want, const char *what)
{
    if (res != NULL && PQresultStatus(res) == want) {
        return 1;
    }
    fprintf(stderr, "%s: %s failed: %s", dp_cli_name, what,
            res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(db));
    return 0;
}

/* A connection to url (a libpq URI or conninfo) that names the tool, or NULL after saying
 * why on stderr. */
static inline PGconn *dp_cli_connect(const char *url)
{
    const char *keywords[] = {"dbname", "fallback_application_name", NULL};
    const char *values[] = {url, dp_cli_name, NULL};
    PGconn *db = PQconnectdbParams(keywords, values, 1);

    if (db == NULL || PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "%s: cannot connect: %s", dp_cli_name,
                db ? PQerrorMessage(db) : "out of memory\n");
        PQfinish(db);
        return NULL;
    }
    return db;
}

/* main() of a tool: APR up, fn with a pool (destroyed after, which cleanses what it holds),
 * APR down. failure: the exit status when APR cannot start. */
static inline int dp_cli_main(const char *name, int (*fn)(apr_pool_t *, int, const char *const *),
                              int argc, const char *const *argv, int failure)
{
    apr_pool_t *p;
    int rc;

    dp_cli_name = name;
    if (apr_initialize() != APR_SUCCESS || apr_pool_create(&p, NULL) != APR_SUCCESS) {
        fprintf(stderr, "%s: cannot initialise APR\n", name);
        return failure;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    rc = fn(p, argc, argv);
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}

#endif
