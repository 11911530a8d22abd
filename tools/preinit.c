/* Start-up checks that must run before any shared library's initialiser.
 *
 * The dynamic linker runs the executable's .preinit_array before the initialisers of the libraries it
 * loaded (ELF gABI, "Initialization and Termination Functions"; glibc passes argc, argv, envp). Two
 * libraries act in their initialisers, before main():
 *
 * - OpenBLAS (gotoblas_init -> blas_thread_init) maps one 128 MiB buffer per thread it will use and, when
 *   mmap fails, retries forever: under `ulimit -v` below about 300 MB on this 2-core machine every command,
 *   even --version, spun at 100% CPU (issue 18 item 8). The buffers count is OpenBLAS's thread count: the
 *   OpenMP thread limit (OMP_NUM_THREADS) or else the processor count. Each thread's first matrix product
 *   maps one more (the CLI makes that happen at start, cg_blas_prepare, so that running out of memory later
 *   is an error and not the same endless retry). cli_preinit reserves the address space of both
 *   (PROT_NONE, nothing touched) and, when the reservation fails, exits with a message that says what to
 *   change, before OpenBLAS can start.
 * - libgomp reads OMP_WAIT_POLICY once, at load. Its default keeps idle threads spinning at barriers for
 *   a while, which on a busy machine burns the cores the working threads need (issue 18 item 12; see
 *   docs/reliability.md for the measurements). cli_preinit sets the policy cellgraph was measured with when
 *   the user has not chosen one (CELLGRAPH_OMP_WAIT_POLICY below).
 *
 * The C library is relocated at this point (its functions work), but no initialiser has run, its own
 * included. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* The wait policy set when OMP_WAIT_POLICY is not in the environment. */
#define CELLGRAPH_OMP_WAIT_POLICY "passive"
/* What OpenBLAS 0.3 maps per thread at start-up (BUFFER_SIZE of its x86-64 builds), and room for what
 * the rest of start-up maps (thread stacks, the loader's allocations). */
#define OPENBLAS_BUFFER_BYTES (128ull << 20)
#define START_HEADROOM_BYTES (16ull << 20)
/* What glibc reserves for a thread's malloc arena (HEAP_MAX_SIZE twice, 64-bit) and its default stack. */
#define THREAD_ARENA_BYTES (128ull << 20)
#define THREAD_STACK_BYTES (8ull << 20)

/* The value of NAME in the environment block envp, or NULL. (getenv cannot be used yet: the C library
 * points `environ` at the block only in its own initialiser, after this runs.) */
static const char *env_value(char **envp, const char *name) {
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

/* The number of start-up buffers OpenBLAS (OpenMP build) maps: its thread count, min(OMP_NUM_THREADS's
 * first value when set, the processor count). Measured with strace: 2 on a 2-core machine, 1 with
 * OMP_NUM_THREADS=1; OPENBLAS_NUM_THREADS does not change it. */
static unsigned long long openblas_threads(char **envp) {
    long n = sysconf(_SC_NPROCESSORS_CONF);
    if (n < 1) n = 1;
    const char *s = env_value(envp, "OMP_NUM_THREADS");
    if (s && *s) {
        char *end = NULL;
        long k = strtol(s, &end, 10);
        if (end != s && k >= 1 && k < n) n = k;
    }
    return (unsigned long long)n;
}

/* Megabytes of address space this process has mapped (/proc/self/statm), 0 when unknown. */
static unsigned long long mapped_mb(void) {
    char buf[64] = {0};
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0) return 0;
    unsigned long long pages = strtoull(buf, NULL, 10);
    return pages * (unsigned long long)sysconf(_SC_PAGESIZE) >> 20;
}

static void preinit_address_space(char **envp) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
    unsigned long long threads = openblas_threads(envp);
    /* threads buffers at start-up, as many again at the threads' first products (cg_blas_prepare), and
     * for every thread but the first the address space glibc reserves for its malloc arena (2 x 64 MiB)
     * and its stack (8 MiB): whichever is mapped first, the buffer must fit too */
    unsigned long long need = 2 * threads * OPENBLAS_BUFFER_BYTES +
                              (threads - 1) * (THREAD_ARENA_BYTES + THREAD_STACK_BYTES) + START_HEADROOM_BYTES;
    void *p = mmap(NULL, (size_t)need, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
        munmap(p, (size_t)need);
        return;
    }
    char msg[640];
    int n = snprintf(msg, sizeof msg,
                     "cellgraph: the address-space limit (ulimit -v) of %llu MB is too small to start: %llu MB are "
                     "mapped already, and OpenBLAS maps 2 x 128 MB per thread (%llu thread%s) for its work "
                     "buffers (and would wait forever for them): with the threads' stacks and malloc arenas, "
                     "%llu MB. Raise the limit to at "
                     "least %llu MB%s.\n",
                     (unsigned long long)(rl.rlim_cur >> 20), mapped_mb(), threads, threads > 1 ? "s" : "",
                     need >> 20, mapped_mb() + (need >> 20),
                     threads > 1 ? ", or set OMP_NUM_THREADS=1 (one thread, 128 MB)" : "");
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        (void)w;
    }
    _exit(1);
}

/* When neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, runs this program again with
 * OMP_WAIT_POLICY=CELLGRAPH_OMP_WAIT_POLICY added to its environment (same argv, same everything else).
 * The environment cannot be changed in place here: the C library's initialiser resets `environ` to the
 * original block afterwards, and libgomp reads it after that. If the exec fails the program goes on
 * with libgomp's default policy. */
static void preinit_wait_policy(char **argv, char **envp) {
    if (!envp || env_value(envp, "OMP_WAIT_POLICY") || env_value(envp, "GOMP_SPINCOUNT")) return;
    size_t n = 0;
    while (envp[n]) n++;
    char **env = malloc((n + 2) * sizeof *env);
    if (!env) return;
    memcpy(env, envp, n * sizeof *env);
    env[n] = (char *)"OMP_WAIT_POLICY=" CELLGRAPH_OMP_WAIT_POLICY;
    env[n + 1] = NULL;
    execve("/proc/self/exe", argv, env);
    free(env);
}

static void cli_preinit(int argc, char **argv, char **envp) {
    (void)argc;
    /* a write past the file-size limit (ulimit -f, a quota-like cap) fails with EFBIG, which every writer
     * reports naming the file and cleans up after, instead of SIGXFSZ killing the process mid-write */
    signal(SIGXFSZ, SIG_IGN);
    preinit_wait_policy(argv, envp);
    preinit_address_space(envp);
}

__attribute__((section(".preinit_array"), used)) static void (*const cli_preinit_entry)(int, char **, char **) =
    cli_preinit;
