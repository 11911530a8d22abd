/* Progress of long work on the terminal (a bar redrawn in place) or, when stderr is not a terminal, one
 * line every 30 seconds (cli.h). */
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

void cli_progress_init(cli_progress_state *p, const char *what) {
    p->what = what;
    p->start = p->last = cli_now();
    p->tty = isatty(STDERR_FILENO);
    p->shown = false;
    p->threads = NULL;
}

void cli_progress(void *ctx, int64_t done, int64_t total) {
    cli_progress_state *p = ctx;
    if (p->threads) cli_threads_adapt(p->threads);
    const double now = cli_now(), el = now - p->start;
    if (total <= 0) return;
    const double rate = done / fmax(el, 1e-9), eta = (total - done) / fmax(rate, 1e-9);
    if (p->tty) {
        if (now - p->last < 0.2 && done < total) return;
        int w = (int)(30.0 * (double)done / (double)total);
        fprintf(stderr, "\r  %s [%.*s%*s] %lld/%lld, %.1f/s, ETA %.0f s   ", p->what, w,
                "##############################", 30 - w, "", (long long)done, (long long)total, rate, eta);
        if (done >= total) fprintf(stderr, "\n");
        p->shown = true;
    } else if (now - p->last >= 30 || (done >= total && p->shown)) {
        fprintf(stderr, "  %s: %lld/%lld, %.1f/s, ETA %.0f s\n", p->what, (long long)done, (long long)total, rate, eta);
        p->shown = true;
    } else {
        return;
    }
    p->last = now;
}
