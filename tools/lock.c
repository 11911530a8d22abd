/* Exclusive locks on a command's outputs (tools/cli.h): two processes never write one run folder or one
 * screen file at the same time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli.h"

int cli_lock(const char *path, const char *what) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        cg_error(CG_ERR_IO, "%s: cannot create the lock of %s: %s", path, what, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char holder[32] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        if (err == EWOULDBLOCK)
            cg_error(CG_ERR_STATE, "%s is in use by another cellgraph process (pid %s, lock %s); wait for it or stop "
                     "it first", what, holder[0] ? holder : "unknown", path);
        else
            cg_error(CG_ERR_IO, "%s: cannot lock: %s", path, strerror(err));
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* the lock holds without the pid; only the message of a second process loses it */
    }
    return fd;
}

void cli_unlock(int fd) {
    if (fd >= 0) close(fd); /* releases the flock; the file stays (removing it would race a waiting locker) */
}
