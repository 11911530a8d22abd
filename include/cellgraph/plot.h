/* cellgraph/plot.h: PNG plots of a training run, drawn with PLplot's "pngcairo" device (Debian
 * packages libplplot-dev and plplot-driver-cairo).
 *
 *   cg_plot_losses   training and validation loss per epoch, two lines with a legend
 *   cg_plot_scatter  predicted against measured values of one label, with the line y = x
 *
 * Files are written whole or not at all: the image goes to a temporary file beside the target
 * ("<path>.tmpXXXXXX"), which is checked (PNG signature at the start, IEND chunk at the end, no write
 * error), flushed to disk and renamed onto path; on any error the temporary file is removed and path
 * is left as it was. The file gets mode 0644.
 *
 * PLplot never prints or exits on cellgraph's behalf: its error messages are captured (plsError) and
 * returned through cg_error, and its exit handler (plsexit) jumps back into the plotting function
 * instead of letting PLplot call exit(). The device is looked up before use (a missing driver is
 * CG_ERR_NOT_FOUND, not PLplot's interactive device prompt), and the output file is opened by
 * cellgraph and handed to PLplot (plsfile), so PLplot never prompts for a file name either.
 *
 * Threads: PLplot keeps global state (the current stream, its handlers), so one plot is drawn at a
 * time: the functions here take a process-wide mutex and may be called from any thread, but they
 * serialise. Nothing else in the process may use PLplot while one of them runs.
 *
 * Memory: each call creates and ends its own PLplot stream. The cairo text path (pango, fontconfig)
 * keeps process-wide caches that it never frees; LeakSanitizer reports them as leaks inside
 * libfontconfig (a fixed amount, about 100 KB, the same after 1 or 20 rounds of plots); tests/lsan.supp
 * suppresses them.
 */
#ifndef CELLGRAPH_PLOT_H
#define CELLGRAPH_PLOT_H

#include <stdint.h>

#include "cellgraph/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many points are drawn by cg_plot_scatter; above it an evenly spaced subset is taken
 * (deterministic: the same inputs give the same picture). */
#define CG_PLOT_MAX_POINTS 20000

/* CG_OK when PLplot and its pngcairo device are available; CG_ERR_NOT_FOUND otherwise (the message
 * names the missing package). Cheap after the first call. */
cg_status cg_plot_check(void);

/* Loss curves, 800 x 600 pixels: train[e] and val[e] for epochs e = 0..n_epochs-1 drawn at x = 1..n,
 * with a marker per epoch up to 40 epochs (val may be NULL: training only). Non-finite values are left out (the line breaks there). When every
 * drawn value is > 0 and they span more than a factor of 100, the y axis is logarithmic. title may be
 * NULL ("loss"). Errors: CG_ERR_INVALID_ARG (NULL path or train, n_epochs < 1), CG_ERR_NOT_FOUND (no
 * pngcairo device), CG_ERR_IO (cannot create, write or rename the file; the path in the message),
 * CG_ERR_STATE (PLplot reported an error), CG_ERR_NOMEM. */
cg_status cg_plot_losses(const char *path, const double *train, const double *val, int n_epochs, const char *title);

/* Scatter plot of pred[i] (y) against target[i] (x), 700 x 700 pixels with equal axes and the line
 * y = x, titled "<label> (Pearson r = 0.87)" ("n/a" when pearson is not finite). Pairs with a
 * non-finite value on either side are left out (a NaN target is an absent label); of the rest at most
 * CG_PLOT_MAX_POINTS are drawn, evenly spaced over the index range. label may be NULL ("value").
 * Errors: CG_ERR_INVALID_ARG (NULL path, pred or target with n > 0, n < 0, no finite pair), and those
 * of cg_plot_losses. */
cg_status cg_plot_scatter(const char *path, const float *pred, const float *target, int64_t n, const char *label,
                          double pearson);

#ifdef __cplusplus
}
#endif
#endif
