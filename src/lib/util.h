/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util.h: scope-bound cleanup helpers shared by every room of ptap
 * (the pattern of systemd's macro.h / alloc-util.h).
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
