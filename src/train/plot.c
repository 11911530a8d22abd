/* PNG plots through PLplot's pngcairo device; see cellgraph/plot.h.
 *
 * How PLplot is kept from printing, prompting or exiting (PLplot 5.15, src/plctrl.c and plcore.c):
 *   - plexit() calls the handler set with plsexit(), then prints, calls plend() and exit() whatever
 *     the handler returns; so the handler here longjmp()s back into plot_run() and never returns.
 *     plot_run() then tries to end the stream (plend1) under a second jump buffer, and gives up on the
 *     stream (a few bytes) if that fails too. This is the only path out of PLplot's fatal errors;
 *     none is expected in normal use (they are allocation failures, broken installs).
 *   - plabort() (a skipped operation: bad arguments) prints unless the stream has an error buffer, so
 *     every stream gets one (plsError); a recorded abort makes the plot fail with CG_ERR_STATE.
 *   - plSelectDev() prompts on stdin for a device it does not know, so the device list is checked
 *     first (plgDevs); plOpenFile() prompts for a file name it cannot open, so the file is opened here
 *     and handed over (plsfile); PLplot fclose()s it when the stream ends.
 *   - plwarn() prints unconditionally; nothing here calls PLplot in a way that warns (no driver
 *     options, no calls before plinit that need it).
 * The FILE handed to PLplot is a fopencookie() stream over a descriptor that stays ours, so that a
 * write error (disk full) is seen even though PLplot closes the FILE without checking.
 */
#include "cellgraph/plot.h"
#include "cellgraph/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <plplot.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define PLOT_DEVICE "pngcairo"

/* cmap0 entries used by the plots (0 is the background). */
enum { COL_BG = 0, COL_FG = 1, COL_BLUE = 2, COL_ORANGE = 3, COL_GRAY = 4, COL_GRID = 5, COL_N = 16 };

// ----------------------------------------------------------------------------
// PLplot session state (all guarded by plot_lock)

static pthread_mutex_t plot_lock = PTHREAD_MUTEX_INITIALIZER;
static jmp_buf *plot_jmp;        /* where the exit handler jumps; NULL outside PLplot calls */
static char plot_exit_msg[512];  /* message of the fatal error that jumped */
static char plot_abort_msg[512]; /* first plabort message of the current plot */
static PLINT plot_errcode;       /* the stream's error buffer (plsError) */
static char plot_errmsg[1024];
static int plot_device_state;    /* 0 unknown, 1 pngcairo present, -1 missing */
static char plot_device_msg[600]; /* why it is missing */

static void copy_msg(char *dst, size_t len, const char *msg) {
    snprintf(dst, len, "%s", msg ? msg : "");
    size_t n = strlen(dst);
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' ')) dst[--n] = '\0';
}

static int on_plexit(const char *msg) {
    copy_msg(plot_exit_msg, sizeof plot_exit_msg, msg);
    if (plot_jmp) longjmp(*plot_jmp, 1);
    return 1;
}

static void on_plabort(const char *msg) {
    if (!plot_abort_msg[0]) copy_msg(plot_abort_msg, sizeof plot_abort_msg, msg);
}

/* Looks the device up once; called with plot_lock held and the handlers installed. */
static int device_state(void) {
    if (plot_device_state != 0) return plot_device_state;
    jmp_buf jb;
    plot_jmp = &jb;
    if (setjmp(jb) == 0) {
        const char *menu[128], *devs[128];
        const char **pm = menu, **pd = devs;
        int nd = 128;
        plgDevs(&pm, &pd, &nd);
        plot_device_state = -1;
        for (int i = 0; i < nd; i++)
            if (devs[i] && !strcmp(devs[i], PLOT_DEVICE)) plot_device_state = 1;
        if (plot_device_state < 0)
            snprintf(plot_device_msg, sizeof plot_device_msg,
                     "PLplot has no '%s' device (install plplot-driver-cairo)", PLOT_DEVICE);
    } else {
        plot_device_state = -1;
        snprintf(plot_device_msg, sizeof plot_device_msg, "PLplot cannot list its devices: %s", plot_exit_msg);
    }
    plot_jmp = NULL;
    return plot_device_state;
}

static void handlers_install(void) {
    plsexit(on_plexit);
    plsabort(on_plabort);
}

static void handlers_remove(void) {
    plsexit(NULL);
    plsabort(NULL);
}

cg_status cg_plot_check(void) {
    pthread_mutex_lock(&plot_lock);
    handlers_install();
    cg_status s = device_state() < 0 ? cg_error(CG_ERR_NOT_FOUND, "plot: %s", plot_device_msg) : CG_OK;
    handlers_remove();
    pthread_mutex_unlock(&plot_lock);
    return s;
}

// ----------------------------------------------------------------------------
// the output file: a FILE over a descriptor we keep, recording write errors

typedef struct out_cookie {
    int fd;
    int err;    /* first errno of a failed write, 0 when none */
    int closed; /* PLplot fclose()d the FILE */
} out_cookie;

static ssize_t cookie_write(void *c, const char *buf, size_t size) {
    out_cookie *oc = c;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(oc->fd, buf + done, size - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (!oc->err) oc->err = w < 0 ? errno : EIO;
            return 0; /* fopencookie: 0 reports an error */
        }
        done += (size_t)w;
    }
    return (ssize_t)size;
}

static int cookie_seek(void *c, off64_t *off, int whence) {
    out_cookie *oc = c;
    off_t r = lseek(oc->fd, (off_t)*off, whence);
    if (r < 0) return -1;
    *off = (off64_t)r;
    return 0;
}

static int cookie_close(void *c) {
    ((out_cookie *)c)->closed = 1; /* the descriptor stays open: plot_run checks and closes it */
    return 0;
}

/* fsyncs the folder holding path (best effort: the file is already in place). */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* True when fd holds a complete PNG: the signature at the start and the IEND chunk at the end. */
static bool png_complete(int fd) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 8 + 25 + 12) return false;
    unsigned char a[8], b[12];
    return pread(fd, a, 8, 0) == 8 && pread(fd, b, 12, st.st_size - 12) == 12 && !memcmp(a, sig, 8) &&
           !memcmp(b, iend, 12);
}

// ----------------------------------------------------------------------------
// one plot: stream, file, error handling

typedef void (*draw_fn)(const void *ctx);

static void set_palette(void) {
    plscmap0n(COL_N);
    plscol0(COL_BG, 255, 255, 255);
    plscol0(COL_FG, 0, 0, 0);
    plscol0(COL_BLUE, 31, 119, 180);
    plscol0(COL_ORANGE, 255, 127, 14);
    plscol0(COL_GRAY, 110, 110, 110);
    plscol0(COL_GRID, 225, 225, 225);
}

/* Draws one page of width x height pixels with draw(ctx) into path, atomically. */
static cg_status plot_run(const char *path, int width, int height, draw_fn draw, const void *ctx) {
    /* path.tmp.<pid>: the name cg_remove_stale_temps knows, so a file left by a killed run is removed by
     * the next successful write (plot_lock serialises this process's plots) */
    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp) return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());

    pthread_mutex_lock(&plot_lock);
    handlers_install();
    if (device_state() < 0) {
        cg_status s = cg_error(CG_ERR_NOT_FOUND, "%s: %s", path, plot_device_msg);
        handlers_remove();
        pthread_mutex_unlock(&plot_lock);
        free(tmp);
        return s;
    }

    cg_status s = CG_OK;
    volatile int started = 0; /* a PLplot stream exists (read after a longjmp) */
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); /* read back by png_complete */
    if (fd < 0) {
        int e = errno;
        handlers_remove();
        pthread_mutex_unlock(&plot_lock);
        s = cg_error(CG_ERR_IO, "%s: cannot create temporary file '%s': %s", path, tmp, strerror(e));
        free(tmp);
        return s;
    }
    /* on the heap: written by the cookie functions inside PLplot, read after a possible longjmp */
    out_cookie *oc = calloc(1, sizeof *oc);
    FILE *f = NULL;
    if (oc) {
        oc->fd = fd;
        f = fopencookie(oc, "wb",
                        (cookie_io_functions_t){.write = cookie_write, .seek = cookie_seek, .close = cookie_close});
    }
    if (!f) {
        s = cg_error(CG_ERR_NOMEM, "%s: cannot open an output stream", path);
        goto done;
    }

    plot_exit_msg[0] = plot_abort_msg[0] = plot_errmsg[0] = '\0';
    plot_errcode = 0;
    jmp_buf jb;
    plot_jmp = &jb;
    if (setjmp(jb) == 0) {
        PLINT strm = -1;
        plmkstrm(&strm);
        if (strm < 0) {
            s = cg_error(CG_ERR_STATE, "%s: PLplot: cannot create a stream", path);
        } else {
            started = 1;
            plsError(&plot_errcode, plot_errmsg);
            plsdev(PLOT_DEVICE);
            plsfile(f);
            plspage(0, 0, width, height, 0, 0);
            set_palette();
            plinit();
            draw(ctx);
            plend1(); /* writes the PNG and fclose()s f */
            started = 0;
        }
    } else {
        s = cg_error(CG_ERR_STATE, "%s: PLplot fatal error: %s", path, plot_exit_msg);
        if (started) {
            jmp_buf jb2;
            plot_jmp = &jb2;
            if (setjmp(jb2) == 0) plend1();
        }
    }
    plot_jmp = NULL;
    if (s == CG_OK && plot_errcode) {
        const char *m = plot_abort_msg[0] ? plot_abort_msg : plot_errmsg;
        s = cg_error(CG_ERR_STATE, "%s: PLplot error: %s", path, m);
    }
    if (!oc->closed && !started) fclose(f); /* PLplot never got far enough to take it */

done:
    handlers_remove();
    pthread_mutex_unlock(&plot_lock);
    if (s == CG_OK && oc->err) s = cg_error(CG_ERR_IO, "%s: write failed: %s", path, strerror(oc->err));
    if (s == CG_OK && !oc->closed) s = cg_error(CG_ERR_STATE, "%s: PLplot did not close the output", path);
    if (s == CG_OK && !png_complete(fd)) s = cg_error(CG_ERR_IO, "%s: the PNG written is incomplete", path);
    if (s == CG_OK && fsync(fd) != 0) s = cg_error(CG_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && s == CG_OK) s = cg_error(CG_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (s == CG_OK && rename(tmp, path) != 0)
        s = cg_error(CG_ERR_IO, "%s: rename from '%s' failed: %s", path, tmp, strerror(errno));
    if (s != CG_OK) unlink(tmp);
    else {
        sync_parent_dir(path);
        cg_remove_stale_temps(path);
    }
    if (!oc || oc->closed || !started) free(oc); /* else PLplot's abandoned stream may still use it */
    free(tmp);
    return s;
}

// ----------------------------------------------------------------------------
// drawing helpers

/* A copy of text with PLplot's escape character '#' doubled (so it prints as itself). */
static char *escape_text(const char *text) {
    size_t n = 0;
    for (const char *p = text; *p; p++) n += *p == '#' ? 2 : 1;
    char *out = malloc(n + 1), *q = out;
    if (!out) return NULL;
    for (const char *p = text; *p; p++) {
        *q++ = *p;
        if (*p == '#') *q++ = '#';
    }
    *q = '\0';
    return out;
}

/* Widens [*lo, *hi] by frac of its span on each side; a zero span becomes a unit-ish interval. */
static void pad_range(double *lo, double *hi, double frac) {
    double span = *hi - *lo;
    if (!(span > 0)) {
        double w = fabs(*lo) * 0.1 + 0.1;
        *lo -= w;
        *hi += w;
        return;
    }
    *lo -= frac * span;
    *hi += frac * span;
}

static void draw_frame(double x0, double x1, double y0, double y1, const char *xopt, double xtick, int nxsub,
                       const char *yopt, const char *xlabel, const char *ylabel, const char *title) {
    plwind(x0, x1, y0, y1);
    char gx[16], gy[16];
    snprintf(gx, sizeof gx, "g%s", strchr(xopt, 'l') ? "l" : "");
    snprintf(gy, sizeof gy, "g%s", strchr(yopt, 'l') ? "l" : "");
    plcol0(COL_GRID);
    plwidth(1.0);
    plbox(gx, xtick, nxsub, gy, 0, 0);
    plcol0(COL_FG);
    plbox(xopt, xtick, nxsub, yopt, 0, 0);
    pllab(xlabel, ylabel, title);
}

// ----------------------------------------------------------------------------
// loss curves

typedef struct losses_ctx {
    const double *series[2];
    const char *names[2];
    int n_series;
    int n;
    bool logy;
    double y0, y1;
    const char *title; /* escaped */
    PLFLT *x, *y;      /* scratch, n each */
} losses_ctx;

static double loss_y(const losses_ctx *c, double v) { return c->logy ? log10(v) : v; }

static void draw_losses(const void *p) {
    const losses_ctx *c = p;
    pladv(0);
    plvsta();
    double x0 = 1 - 0.02 * (c->n - 1), x1 = c->n + 0.02 * (c->n - 1);
    if (c->n < 2) x0 = 0, x1 = 2;
    double xtick = c->n <= 12 ? 1 : 0;
    draw_frame(x0, x1, c->y0, c->y1, "bcnst", xtick, xtick > 0 ? 1 : 0, c->logy ? "bcnstvl" : "bcnstv", "epoch",
               c->logy ? "loss (log scale)" : "loss", c->title);

    static const PLINT colors[2] = {COL_BLUE, COL_ORANGE};
    PLFLT *x = c->x, *y = c->y;
    bool markers = c->n <= 40;
    for (int k = 0; k < c->n_series; k++) {
        const double *v = c->series[k];
        plcol0(colors[k]);
        plwidth(2.0);
        plssym(0, 0.9);
        /* runs of consecutive finite values: a line each, a marker for a run of one */
        for (int a = 0; a < c->n;) {
            if (!isfinite(v[a]) || (c->logy && !(v[a] > 0))) {
                a++;
                continue;
            }
            int b = a, m = 0;
            while (b < c->n && isfinite(v[b]) && (!c->logy || v[b] > 0)) {
                x[m] = b + 1;
                y[m] = loss_y(c, v[b]);
                m++, b++;
            }
            if (m >= 2) plline(m, x, y);
            if (m == 1 || markers) plpoin(m, x, y, 17);
            a = b;
        }
    }

    PLINT opt[2], text_colors[2], line_colors[2], line_styles[2], sym_colors[2], sym_numbers[2];
    PLFLT line_widths[2], sym_scales[2];
    const char *symbols[2];
    for (int k = 0; k < c->n_series; k++) {
        opt[k] = PL_LEGEND_LINE;
        text_colors[k] = COL_FG;
        line_colors[k] = sym_colors[k] = colors[k];
        line_styles[k] = 1;
        line_widths[k] = 2.0;
        sym_numbers[k] = 1;
        sym_scales[k] = 1.0;
        symbols[k] = "";
    }
    PLFLT lw, lh;
    plwidth(1.0);
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE,
             0.02, 0.02, 0.08, COL_BG, COL_FG, 1, 0, 0, c->n_series, opt, 1.0, 0.9, 2.0, 0.0, text_colors, c->names,
             NULL, NULL, NULL, NULL, line_colors, line_styles, line_widths, sym_colors, sym_scales, sym_numbers,
             symbols);
}

cg_status cg_plot_losses(const char *path, const double *train, const double *val, int n_epochs, const char *title) {
    if (!path || !*path || !train) return cg_error(CG_ERR_INVALID_ARG, "plot losses: NULL or empty path or values");
    if (n_epochs < 1) return cg_error(CG_ERR_INVALID_ARG, "%s: plot losses: %d epochs", path, n_epochs);
    losses_ctx c = {.series = {train, val}, .names = {"training", "validation"}, .n_series = val ? 2 : 1,
                    .n = n_epochs};
    double lo = INFINITY, hi = -INFINITY;
    bool positive = true;
    for (int k = 0; k < c.n_series; k++)
        for (int e = 0; e < n_epochs; e++) {
            double v = c.series[k][e];
            if (!isfinite(v)) continue;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
            positive &= v > 0;
        }
    if (!(lo <= hi)) lo = 0, hi = 1; /* nothing finite: an empty frame */
    c.logy = positive && lo > 0 && hi / lo > 100;
    if (c.logy) lo = log10(lo), hi = log10(hi);
    pad_range(&lo, &hi, 0.05);
    c.y0 = lo;
    c.y1 = hi;
    char *t = escape_text(title ? title : "loss");
    c.x = malloc((size_t)n_epochs * sizeof *c.x);
    c.y = malloc((size_t)n_epochs * sizeof *c.y);
    cg_status s;
    if (!t || !c.x || !c.y) {
        s = cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    } else {
        c.title = t;
        s = plot_run(path, 800, 600, draw_losses, &c);
    }
    free(t);
    free(c.x);
    free(c.y);
    return s;
}

// ----------------------------------------------------------------------------
// predicted vs measured

typedef struct scatter_ctx {
    const PLFLT *x, *y; /* measured, predicted */
    int m;              /* points drawn */
    int64_t n_finite;   /* finite pairs in the input */
    double lo, hi;
    const char *title; /* escaped */
} scatter_ctx;

static void draw_scatter(const void *p) {
    const scatter_ctx *c = p;
    pladv(0);
    plvasp(1.0);
    draw_frame(c->lo, c->hi, c->lo, c->hi, "bcnst", 0, 0, "bcnstv", "measured", "predicted", c->title);

    double alpha = c->m <= 500 ? 0.8 : c->m <= 5000 ? 0.5 : 0.3;
    plscol0a(COL_BLUE, 31, 119, 180, alpha);
    plcol0(COL_BLUE);
    plssym(0, c->m <= 2000 ? 0.6 : 0.4);
    plpoin(c->m, c->x, c->y, 17);

    PLFLT lx[2] = {c->lo, c->hi};
    plcol0(COL_GRAY);
    plwidth(1.5);
    pllsty(2);
    plline(2, lx, lx);
    pllsty(1);

    char points[96];
    if (c->n_finite > c->m)
        snprintf(points, sizeof points, "n = %lld (%d shown)", (long long)c->n_finite, c->m);
    else
        snprintf(points, sizeof points, "n = %lld", (long long)c->n_finite);
    const char *text[2] = {points, "y = x"};
    PLINT opt[2] = {PL_LEGEND_SYMBOL, PL_LEGEND_LINE};
    PLINT text_colors[2] = {COL_FG, COL_FG}, line_colors[2] = {COL_GRAY, COL_GRAY}, line_styles[2] = {1, 2};
    PLINT sym_colors[2] = {COL_BLUE, COL_BLUE}, sym_numbers[2] = {1, 1};
    PLFLT line_widths[2] = {1.5, 1.5}, sym_scales[2] = {1.0, 1.0};
    const char *symbols[2] = {"#(850)", ""};
    PLFLT lw, lh;
    plscol0a(COL_BLUE, 31, 119, 180, 1.0);
    plwidth(1.0);
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, PL_POSITION_TOP | PL_POSITION_LEFT | PL_POSITION_INSIDE,
             0.02, 0.02, 0.08, COL_BG, COL_FG, 1, 0, 0, 2, opt, 1.0, 0.9, 2.0, 0.0, text_colors, text, NULL, NULL,
             NULL, NULL, line_colors, line_styles, line_widths, sym_colors, sym_scales, sym_numbers, symbols);
}

cg_status cg_plot_scatter(const char *path, const float *pred, const float *target, int64_t n, const char *label,
                          double pearson) {
    if (!path || !*path) return cg_error(CG_ERR_INVALID_ARG, "plot scatter: NULL or empty path");
    if (n < 0 || (n > 0 && (!pred || !target)))
        return cg_error(CG_ERR_INVALID_ARG, "%s: plot scatter: bad arguments (n = %lld)", path, (long long)n);
    int64_t nf = 0;
    for (int64_t i = 0; i < n; i++) nf += isfinite(pred[i]) && isfinite(target[i]);
    if (nf == 0) return cg_error(CG_ERR_INVALID_ARG, "%s: plot scatter: no finite (prediction, target) pair", path);

    int m = nf > CG_PLOT_MAX_POINTS ? CG_PLOT_MAX_POINTS : (int)nf;
    PLFLT *x = malloc((size_t)m * sizeof *x), *y = malloc((size_t)m * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    }
    /* point j of the m drawn is finite pair number floor(j * nf / m): evenly spaced, in index order */
    double lo = INFINITY, hi = -INFINITY;
    int64_t rank = 0;
    int j = 0;
    for (int64_t i = 0; i < n && j < m; i++) {
        if (!(isfinite(pred[i]) && isfinite(target[i]))) continue;
        int64_t want = (int64_t)j * nf / m; /* j < 20000: no overflow below 4e14 pairs */
        if (rank++ != want) continue;
        x[j] = target[i];
        y[j] = pred[i];
        lo = fmin(lo, fmin(x[j], y[j]));
        hi = fmax(hi, fmax(x[j], y[j]));
        j++;
    }
    pad_range(&lo, &hi, 0.04);

    const char *name = label ? label : "value";
    size_t tl = strlen(name) + 48;
    char *raw = malloc(tl);
    char *t = NULL;
    if (raw) {
        if (isfinite(pearson)) snprintf(raw, tl, "%s (Pearson r = %.2f)", name, pearson);
        else snprintf(raw, tl, "%s (Pearson r = n/a)", name);
        t = escape_text(raw);
    }
    free(raw);
    cg_status s;
    if (!t) {
        s = cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    } else {
        scatter_ctx c = {.x = x, .y = y, .m = j, .n_finite = nf, .lo = lo, .hi = hi, .title = t};
        s = plot_run(path, 700, 700, draw_scatter, &c);
    }
    free(t);
    free(x);
    free(y);
    return s;
}
