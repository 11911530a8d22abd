/* Work that may crash inside a third-party library, run in a child process (cli.h, cli_run_isolated). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cellgraph/safetensors.h"
#include "cli.h"

cg_status cli_run_isolated(cg_status (*fn)(void *), void *arg, const char *path) {
    int fds[2];
    if (pipe(fds) != 0) return cg_error(CG_ERR_IO, "%s: cannot create a pipe: %s", path, strerror(errno));
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) {
        const int e = errno;
        close(fds[0]), close(fds[1]);
        return cg_error(CG_ERR_NOMEM, "%s: cannot start a process to draw it: %s", path, strerror(e));
    }
    if (pid == 0) { /* the child: fn, its error text to the pipe, its status as the exit status */
        close(fds[0]);
        const cg_status s = fn(arg);
        if (s != CG_OK) {
            const char *msg = cg_last_error();
            size_t n = strlen(msg);
            while (n > 0) {
                const ssize_t w = write(fds[1], msg, n);
                if (w <= 0) break;
                msg += w, n -= (size_t)w;
            }
        }
        close(fds[1]);
        _exit(s == CG_OK ? 0 : 1);
    }
    close(fds[1]);
    char msg[1024];
    size_t len = 0;
    while (len < sizeof msg - 1) { /* the rest of a longer message is dropped */
        const ssize_t r = read(fds[0], msg + len, sizeof msg - 1 - len);
        if (r > 0) len += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else break;
    }
    msg[len] = '\0';
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return cg_error(CG_ERR_STATE, "%s: waitpid failed: %s", path, strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return CG_OK;
    cg_remove_stale_temps(path); /* the child's PATH.tmp.<pid>, when it died before removing it */
    if (WIFSIGNALED(st))
        return cg_error(CG_ERR_STATE, "%s: the process drawing it died of signal %d (%s)", path, WTERMSIG(st),
                        strsignal(WTERMSIG(st)));
    return cg_error(CG_ERR_STATE, "%s", len ? msg : "drawing failed");
}
