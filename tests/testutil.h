/* Shared helpers for cellgraph's cmocka tests. */
#ifndef CG_TESTUTIL_H
#define CG_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cellgraph/graph_view.h"

/* Fills x[0..n) with uniform values in [lo, hi) from a fixed-seed generator (test-only, not Philox). */
void tu_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed);

/* Largest |a-b| / max(|b|, floor) over n elements; index of the worst in *worst (may be NULL). */
double tu_max_rel_err(const float *a, const double *b, int64_t n, double floor, int64_t *worst);

/* Asserts (through cmocka) that float a matches double reference b within rel (relative to
 * max(|b|, floor)); prints the worst element with label on failure. */
void tu_check_close(const char *label, const float *a, const double *b, int64_t n, double rel, double floor);

/* Asserts that two float results agree in the 2-norm: ||a - b|| / ||b|| <= rel (both paths rounded in
 * different orders); prints the error per label with CG_VERBOSE set, and the largest difference on failure. */
void tu_check_rel2(const char *label, const float *a, const float *b, int64_t n, double rel);

/* The default cell graph of $CELLGRAPH_TEST_DATA and its reverse indexes, for a group setup: 0 with *g
 * NULL when the variable is unset (the tests skip), -1 after printing the error. */
int tu_real_graph_open(cg_graph **g, cg_graph_index *hg);
/* Frees what tu_real_graph_open made (g may be NULL). */
void tu_real_graph_close(cg_graph *g, cg_graph_index *hg);

/* Runs the command-line tool ($CELLGRAPH_CLI) with the arguments formatted from fmt, stderr merged into
 * stdout; out (len bytes) receives the start of the output, the rest is read and dropped so the command
 * never blocks on a full pipe. Returns the exit status (-1 when it did not exit normally). */
int tu_run_cli(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether the files a and b both exist and hold the same bytes. */
bool tu_same_file(const char *a, const char *b);

/* Path of a scratch file under the build's temporary directory, unique per process; written to buf. */
const char *tu_temp_path(char *buf, size_t len, const char *name);

#endif
