/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "monsock.h"
#include "util.h"

int64_t ptap_monsock_deadline(int timeout_ms)
{
    if (timeout_ms < 0)
        return -1;
    return ptap_now_ms() + timeout_ms;
}

/* Milliseconds left for poll(): -1 forever, 0 when the deadline passed. */
static int remaining(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - ptap_now_ms();
    if (left <= 0)
        return 0;
    return left > 60 * 60 * 1000 ? 60 * 60 * 1000 : (int) left;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    int r;

    for (;;) {
        int left = remaining(deadline);

        r = poll(&p, 1, left);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -ETIMEDOUT;
        /* POLLHUP/POLLERR: let the read/write report what happened. */
        return 0;
    }
}

int ptap_monsock_connect(const char *path, int64_t deadline)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    _cleanup_close_ int fd = -1;
    size_t len;

    if (!path || !*path)
        return -EINVAL;
    len = strlen(path);
    if (len >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, len + 1);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    for (;;) {
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
            break;
        if (errno == EINTR)
            continue;
        /* A full listen backlog answers EAGAIN on unix sockets: retry. */
        if (errno != EAGAIN)
            return -errno;
        if (remaining(deadline) == 0)
            return -ETIMEDOUT;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return TAKE_FD(fd);
}

ssize_t ptap_monsock_read(int fd, void *buf, size_t len, int64_t deadline)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);

        if (n > 0)
            return n;
        if (n == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int r = wait_fd(fd, POLLIN, deadline);
        if (r < 0)
            return r;
    }
}

int ptap_monsock_write_all(int fd, const void *buf, size_t len, int64_t deadline)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n > 0) {
            p += n;
            len -= (size_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return errno == EPIPE ? -ECONNRESET : -errno;
        int r = wait_fd(fd, POLLOUT, deadline);
        if (r < 0)
            return r;
    }
    return 0;
}

int ptap_monsock_peer(int fd, uid_t *uid, gid_t *gid, pid_t *pid)
{
    struct ucred cred;
    socklen_t l = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0)
        return -errno;
    if (l != sizeof(cred))
        return -EIO;
    if (uid)
        *uid = cred.uid;
    if (gid)
        *gid = cred.gid;
    if (pid)
        *pid = cred.pid;
    return 0;
}

int ptap_monsock_set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -errno;
    if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

int ptap_monsock_connect_timeout(const char *path, int timeout_ms, int *left_ms)
{
    int64_t start = ptap_now_ms();
    int fd = ptap_monsock_connect(path, ptap_monsock_deadline(timeout_ms));

    *left_ms = timeout_ms;
    if (fd >= 0 && timeout_ms >= 0) {
        int64_t left = timeout_ms - (ptap_now_ms() - start);
        *left_ms = left < 0 ? 0 : (int) left;
    }
    return fd;
}
