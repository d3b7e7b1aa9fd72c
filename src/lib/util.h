/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util.h: scope-bound cleanup helpers shared by every room of ptap
 * (the pattern of systemd's macro.h / alloc-util.h).
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void freep(void *p)
{
    free(*(void **) p);
}

static inline void closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership out of a cleanup-scoped variable. */
#define TAKE_PTR(p)                        \
    ({                                     \
        __typeof__(p) _took_ = (p);        \
        (p) = NULL;                        \
        _took_;                            \
    })
#define TAKE_FD(fd)                        \
    ({                                     \
        int _took_fd_ = (fd);              \
        (fd) = -1;                         \
        _took_fd_;                         \
    })

/* Declare a cleanup function for a type with a plain free function, e.g.
 * DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc) gives xmlFreeDocp. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
    static inline void func##p(type *p)         \
    {                                           \
        if (*p)                                 \
            func(*p);                           \
    }

static inline int negative_errno(void)
{
    return errno > 0 ? -errno : -EIO;
}

static inline const char *strna(const char *s)
{
    return s ? s : "n/a";
}

/** ptap_now_ms: CLOCK_MONOTONIC in milliseconds (deadlines, grace periods). */
static inline int64_t ptap_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/**
 * ptap_read_all: read @fd from its current offset to EOF into a malloc'ed
 * buffer, NUL-terminated (the NUL is not counted in *@ret_len, which may
 * be NULL). The first read is sized by fstat, so a regular file costs one
 * allocation; files that report size 0 (/proc) are read to EOF anyway.
 * @max: refuse more than this many bytes (-EFBIG); 0 = no limit.
 * Returns 0, or a negative errno (EINTR is retried).
 */
static inline int ptap_read_all(int fd, size_t max, char **ret, size_t *ret_len)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, cap = 4096;
    struct stat st;

    if (fstat(fd, &st) < 0)
        return negative_errno();
    /* Room for the whole file, its NUL and the 0-byte read that says EOF. */
    if (S_ISREG(st.st_mode) && st.st_size > 0)
        cap = (size_t) st.st_size + 2;
    if (max && cap > max + 2)
        cap = max + 2;
    buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t k;

        if (cap - len < 2) {
            char *b = realloc(buf, cap * 2);

            if (!b)
                return -ENOMEM;
            buf = b;
            cap *= 2;
        }
        k = read(fd, buf + len, cap - len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return negative_errno();
        if (k == 0)
            break;
        len += (size_t) k;
        if (max && len > max)
            return -EFBIG;
    }
    buf[len] = '\0';
    *ret = TAKE_PTR(buf);
    if (ret_len)
        *ret_len = len;
    return 0;
}

/*
 * ptap_write_all: write all @len bytes of @buf to @fd (a blocking fd: a
 * pipe, a file), retrying short writes and EINTR; ptap_pwrite_all: the
 * same at offset @off (>= 0) of a file, with pwrite(). Both return 0 or a
 * negative errno (-EPIPE for a reader that is gone, when SIGPIPE is
 * ignored; -EIO for a write of nothing).
 */
static inline int ptap_write_loop(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t k = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return negative_errno();
        if (k == 0)
            return -EIO;
        p += k;
        len -= (size_t) k;
        if (off >= 0)
            off += k;
    }
    return 0;
}

static inline int ptap_write_all(int fd, const void *buf, size_t len)
{
    return ptap_write_loop(fd, buf, len, -1);
}

static inline int ptap_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    return off < 0 ? -EINVAL : ptap_write_loop(fd, buf, len, off);
}

/** ptap_read_file: ptap_read_all() of the file at @path (opened read-only,
 * close-on-exec). Returns as ptap_read_all(), or open's -errno. */
static inline int ptap_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return negative_errno();
    return ptap_read_all(fd, max, ret, ret_len);
}
