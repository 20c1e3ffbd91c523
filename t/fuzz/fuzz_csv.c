/* dp_csv_record, on cells that come from users (names, reasons, notes' titles) in the audit
 * and billing exports. Input: up to 16 cells separated by NUL bytes (a cell starting with
 * 0x01 is passed as NULL). Property: an RFC 4180 reader gets the cells back, each with the
 * apostrophe in front when it starts like a formula. */
#include "fuzz.h"

#include "dp_csv.h"

#define MAX_CELLS 16

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

static int formula_lead(char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

/* Read one cell of rec at *pos into out (pool): 1 when a comma follows (*pos after it), 2
 * when the CRLF that ends the record does, 0 when the record is not RFC 4180. */
static int read_cell(apr_pool_t *p, const char *rec, size_t len, size_t *pos, const char **out)
{
    char *cell = apr_palloc(p, len + 1), *o = cell;
    size_t i = *pos;

    if (i < len && rec[i] == '"') {
        for (i++;; i++) {
            if (i >= len) {
                return 0;
            }
            if (rec[i] == '"') {
                if (i + 1 < len && rec[i + 1] == '"') {
                    *o++ = '"';
                    i++;
                    continue;
                }
                i++;
                break;
            }
            *o++ = rec[i];
        }
    }
    else {
        for (; i < len && rec[i] != ',' && rec[i] != '\r'; i++) {
            if (rec[i] == '"' || rec[i] == '\n') {
                return 0;
            }
            *o++ = rec[i];
        }
    }
    *o = '\0';
    *out = cell;
    if (i < len && rec[i] == ',') {
        *pos = i + 1;
        return 1;
    }
    *pos = i;
    return i + 2 == len && rec[i] == '\r' && rec[i + 1] == '\n' ? 2 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    const char *cells[MAX_CELLS], *rec, *got;
    int n = 0;
    size_t pos = 0;
    apr_size_t len;

    while (n < MAX_CELLS) {
        const uint8_t *nul = memchr(data, 0, size);
        size_t l = nul ? (size_t)(nul - data) : size;
        cells[n++] = l > 0 && data[0] == 1 ? NULL : apr_pstrmemdup(p, (const char *)data, l);
        if (nul == NULL) {
            break;
        }
        data += l + 1;
        size -= l + 1;
    }
    rec = dp_csv_record(p, cells, n, &len);
    FZ_ASSERT(rec != NULL && strlen(rec) == len);
    for (int i = 0; i < n; i++) {
        const char *want = cells[i] == NULL ? ""
            : formula_lead(cells[i][0])     ? apr_pstrcat(p, "'", cells[i], NULL)
                                            : cells[i];
        FZ_ASSERT(read_cell(p, rec, len, &pos, &got) == (i == n - 1 ? 2 : 1));
        FZ_ASSERT(strcmp(got, want) == 0);
    }
    fz_end(p);
    return 0;
}
