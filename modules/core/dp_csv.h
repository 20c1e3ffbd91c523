/* dp_csv: records of a CSV export (RFC 4180) that a spreadsheet opens safely.
 * Pure C, no httpd headers. */
#ifndef DP_CSV_H
#define DP_CSV_H

#include <apr_pools.h>

/* One record: the n cells joined by commas and ended by CRLF; *len gets its length. A NULL
 * cell is empty. A cell that starts with = + - @ TAB or CR gets a leading apostrophe, so that
 * a spreadsheet shows it as text instead of evaluating it as a formula; a cell holding a
 * comma, a double quote, CR or LF is then enclosed in double quotes, its quotes doubled. */
const char *dp_csv_record(apr_pool_t *p, const char *const *cells, int n, apr_size_t *len);

#endif
