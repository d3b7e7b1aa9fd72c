/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * netns.c: network namespace identities, finding one by its identity, and
 * entering it (see netns.h for the rules).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "netns.h"
#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

#define SELF_NS "/proc/self/ns/net"

bool ptap_netns_equal(const ptap_netns *a, const ptap_netns *b)
{
    return ptap_netns_known(a) && ptap_netns_known(b) && a->dev == b->dev && a->ino == b->ino;
}

int ptap_netns_name_check(const char *name, const char **why)
{
    const char *w = NULL;

    if (!name || !*name)
        w = "an empty name";
    else if (strlen(name) >= PTAP_NETNS_NAME_MAX)
        w = "longer than 63 bytes";
    else if (strchr(name, '/'))
        w = "contains '/'";
    else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        w = "'.' or '..'";
    for (const char *p = name; !w && *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            w = "contains a control character";
    if (w) {
        if (why)
            *why = w;
        return -EINVAL;
    }
    return 0;
}

void ptap_netns_format_id(const ptap_netns *ns, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu64 ":%" PRIu64, ns->dev, ns->ino);
}

void ptap_netns_describe(const ptap_netns *ns, char *buf, size_t len)
{
    if (!ptap_netns_known(ns))
        snprintf(buf, len, "(the current one)");
    else if (*ns->name)
        snprintf(buf, len, "'%s'", ns->name);
    else
        ptap_netns_format_id(ns, buf, len);
}

static void from_stat(ptap_netns *ns, const struct stat *st)
{
    ns->dev = (uint64_t) st->st_dev;
    ns->ino = (uint64_t) st->st_ino;
}

static bool stat_is(const struct stat *st, const ptap_netns *ns)
{
    return (uint64_t) st->st_dev == ns->dev && (uint64_t) st->st_ino == ns->ino;
}

/* The first (in byte order) /run/netns entry bound to @ns, into @ns->name;
 * "" if none. stat() needs no permission on the entry itself, so any user
 * can tell the names, even of namespaces it may not enter. */
static void find_name(ptap_netns *ns)
{
    _cleanup_(closedirp) DIR *d = opendir(PTAP_NETNS_DIR);
    struct dirent *e;
    char best[PTAP_NETNS_NAME_MAX] = "";

    if (!d)
        return;
    while ((e = readdir(d))) {
        struct stat st;

        if (ptap_netns_name_check(e->d_name, NULL) < 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !stat_is(&st, ns))
            continue;
        if (!*best || strcmp(e->d_name, best) < 0)
            memcpy(best, e->d_name, strlen(e->d_name) + 1); /* checked: it fits */
    }
    snprintf(ns->name, sizeof(ns->name), "%s", best);
}

int ptap_netns_self(ptap_netns *ret)
{
    struct stat st;

    *ret = (ptap_netns) { 0 };
    if (stat(SELF_NS, &st) < 0)
        return negative_errno();
    from_stat(ret, &st);
    find_name(ret);
    return 0;
}

int ptap_netns_of_pid(pid_t pid, ptap_netns *ret)
{
    char path[64];
    struct stat st;

    *ret = (ptap_netns) { 0 };
    if (pid <= 0)
        return -ESRCH;
    snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long) pid);
    if (stat(path, &st) < 0)
        return negative_errno();
    from_stat(ret, &st);
    find_name(ret);
    return 0;
}

bool ptap_netns_can_enter(void)
{
    static int known = -1;

    if (known < 0) {
        _cleanup_close_ int fd = open(SELF_NS, O_RDONLY | O_CLOEXEC);

        /* Entering the namespace one is in changes nothing, and takes
         * the same privilege as entering any other. */
        known = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
    }
    return known == 1;
}

/* What a search by identity found out. */
typedef struct search {
    const ptap_netns *want;
    char path[64 + 256];   /* where it was found */
    bool found;
    bool denied;           /* some place could not be looked at */
} search;

/* Does the nsfs file at @path have the identity searched for? */
static bool probe(search *s, const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        if (errno == EACCES || errno == EPERM)
            s->denied = true;
        return false;
    }
    if (!stat_is(&st, s->want))
        return false;
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->found = true;
    return true;
}

static bool is_pid(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char) *s))
            return false;
    return true;
}

/* /run/netns/NAME (its recorded name first), then every entry. */
static bool search_run_netns(search *s)
{
    _cleanup_(closedirp) DIR *d = NULL;
    struct dirent *e;
    char path[sizeof(s->path)];

    if (*s->want->name && ptap_netns_name_check(s->want->name, NULL) == 0) {
        snprintf(path, sizeof(path), PTAP_NETNS_DIR "/%s", s->want->name);
        if (probe(s, path))
            return true;
    }
    d = opendir(PTAP_NETNS_DIR);
    if (!d) {
        if (errno == EACCES)
            s->denied = true;
        return false;
    }
    while ((e = readdir(d))) {
        if (ptap_netns_name_check(e->d_name, NULL) < 0)
            continue;
        snprintf(path, sizeof(path), PTAP_NETNS_DIR "/%s", e->d_name);
        if (probe(s, path))
            return true;
    }
    return false;
}

/* The namespace descriptors process @pid holds ("net:[INO]" links). */
static bool search_fds(search *s, const char *pid)
{
    _cleanup_(closedirp) DIR *d = NULL;
    struct dirent *f;
    char path[sizeof(s->path)];

    snprintf(path, sizeof(path), "/proc/%s/fd", pid);
    d = opendir(path);
    if (!d) {
        if (errno == EACCES)
            s->denied = true;
        return false;
    }
    while ((f = readdir(d))) {
        char link[64];
        ssize_t k;

        if (!is_pid(f->d_name))
            continue;
        k = readlinkat(dirfd(d), f->d_name, link, sizeof(link) - 1);
        if (k <= 0)
            continue;
        link[k] = '\0';
        if (strncmp(link, "net:[", 5) != 0)
            continue;
        /* Both are numbers: never too long; checked all the same (and
         * gcc -O2 -Wformat-truncation wants the result looked at). */
        if (snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, f->d_name) >= (int) sizeof(path))
            continue;
        if (probe(s, path))
            return true;
    }
    return false;
}

/* The namespaces processes are in, then (@fds) the namespace descriptors
 * they hold: `ip netns` is not the only way to keep a namespace alive. */
static bool search_proc(search *s, bool fds)
{
    _cleanup_(closedirp) DIR *d = opendir("/proc");
    struct dirent *e;
    char path[sizeof(s->path)];

    if (!d) {
        s->denied = true;
        return false;
    }
    while ((e = readdir(d))) {
        if (!is_pid(e->d_name))
            continue;
        if (fds) {
            if (search_fds(s, e->d_name))
                return true;
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/ns/net", e->d_name);
        if (probe(s, path))
            return true;
    }
    return false;
}

/* Open the namespace found at @path if it still is the one searched for. */
static int open_found(const search *s)
{
    _cleanup_close_ int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0)
        return negative_errno();
    if (fstat(fd, &st) < 0)
        return negative_errno();
    if (!stat_is(&st, s->want))
        return -ESTALE; /* replaced meanwhile */
    return TAKE_FD(fd);
}

ptap_netns_where ptap_netns_locate(ptap_netns *ns, const ptap_netns *self, int *fd)
{
    search s = { .want = ns };

    *fd = -1;
    if (!ptap_netns_known(ns) || ptap_netns_equal(ns, self))
        return PTAP_NETNS_HERE;
    if (!search_run_netns(&s) && !search_proc(&s, false) && !search_proc(&s, true)) {
        /* Gone only for a process that may look everywhere (enter any
         * namespace, read any process's): a user cannot see other users'
         * processes, which may hold it. Root may still be refused a
         * process that is not dumpable in another user namespace: that
         * one is taken not to hold it (netns.h, Known limits). */
        if (!ptap_netns_can_enter())
            return PTAP_NETNS_UNSEEN;
        if (s.denied)
            ptap_debug("netns: some processes could not be looked at: taken not to hold it");
        return PTAP_NETNS_GONE;
    }
    find_name(ns);
    if (!ptap_netns_can_enter())
        return PTAP_NETNS_FORBIDDEN;
    int r = open_found(&s);
    if (r < 0) {
        /* It went away between the stat and the open (a process that
         * exited), or was replaced: look once more, from the start. */
        ptap_debug("netns: cannot open '%s': %s", s.path, strerror(-r));
        s = (search) { .want = ns };
        if (!search_run_netns(&s) && !search_proc(&s, false) && !search_proc(&s, true))
            return PTAP_NETNS_GONE; /* this process may enter: it looked everywhere */
        r = open_found(&s);
        if (r < 0)
            return PTAP_NETNS_FORBIDDEN;
    }
    *fd = r;
    return PTAP_NETNS_ENTERABLE;
}

/* Add the namespace at @path to the list unless it is @self or listed. */
static int list_add(const ptap_netns *self, const char *path, ptap_netns **v, int **fds,
                    size_t *n, size_t *cap)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    ptap_netns ns = { 0 };

    if (fd < 0 || fstat(fd, &st) < 0)
        return 0; /* gone meanwhile, or not ours to open */
    from_stat(&ns, &st);
    if (ptap_netns_equal(&ns, self))
        return 0;
    for (size_t i = 0; i < *n; i++)
        if (ptap_netns_equal(&(*v)[i], &ns))
            return 0;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        ptap_netns *nv = reallocarray(*v, c, sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        *v = nv;
        int *nf = reallocarray(*fds, c, sizeof(*nf));
        if (!nf)
            return -ENOMEM;
        *fds = nf;
        *cap = c;
    }
    find_name(&ns);
    (*v)[*n] = ns;
    (*fds)[(*n)++] = TAKE_FD(fd);
    return 0;
}

int ptap_netns_list(const ptap_netns *self, ptap_netns **ret, int **fds, size_t *n)
{
    ptap_netns *v = NULL;
    int *f = NULL;
    size_t cnt = 0, cap = 0;
    int r = 0;

    *ret = NULL;
    *fds = NULL;
    *n = 0;
    if (!ptap_netns_can_enter())
        return 0;
    {
        _cleanup_(closedirp) DIR *d = opendir(PTAP_NETNS_DIR);
        struct dirent *e;

        while (d && r >= 0 && (e = readdir(d)))
            if (ptap_netns_name_check(e->d_name, NULL) == 0) {
                char path[sizeof(PTAP_NETNS_DIR) + 256];

                snprintf(path, sizeof(path), PTAP_NETNS_DIR "/%s", e->d_name);
                r = list_add(self, path, &v, &f, &cnt, &cap);
            }
    }
    {
        _cleanup_(closedirp) DIR *d = opendir("/proc");
        struct dirent *e;
        char path[64 + 256];

        while (d && r >= 0 && (e = readdir(d))) {
            if (!is_pid(e->d_name))
                continue;
            snprintf(path, sizeof(path), "/proc/%s/ns/net", e->d_name);
            r = list_add(self, path, &v, &f, &cnt, &cap);
        }
    }
    if (r < 0) {
        ptap_netns_list_free(v, f, cnt);
        return r;
    }
    *ret = v;
    *fds = f;
    *n = cnt;
    return 0;
}

void ptap_netns_list_free(ptap_netns *v, int *fds, size_t n)
{
    for (size_t i = 0; fds && i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    free(v);
}

static bool lost;

bool ptap_netns_lost(void)
{
    return lost;
}

int ptap_netns_enter(int fd, int *saved)
{
    _cleanup_close_ int old = -1;

    *saved = -1;
    if (lost)
        return -EIO;
    if (fd < 0)
        return 0;
    old = open(SELF_NS, O_RDONLY | O_CLOEXEC);
    if (old < 0)
        return negative_errno();
    if (setns(fd, CLONE_NEWNET) < 0)
        return negative_errno();
    *saved = TAKE_FD(old);
    return 0;
}

int ptap_netns_leave(int *saved)
{
    int r = 0;

    if (*saved < 0)
        return 0;
    if (setns(*saved, CLONE_NEWNET) < 0 && setns(*saved, CLONE_NEWNET) < 0) {
        r = negative_errno();
        lost = true; /* sticky: every later act is refused */
        ptap_debug("netns: cannot go back to the namespace ptap started in: %s", strerror(-r));
    }
    close(*saved);
    *saved = -1;
    return r;
}

ptap_netns_judge ptap_netns_judge_record(const ptap_netns *rec, const ptap_netns *self,
                                         ptap_netns_where where)
{
    /* Identity first: a record of this namespace (or of no recorded one)
     * is judged here, whatever a search may have said. */
    if (!ptap_netns_known(rec) || ptap_netns_equal(rec, self))
        return PTAP_NETNS_JUDGE_HERE;
    switch (where) {
    case PTAP_NETNS_ENTERABLE:
        return PTAP_NETNS_JUDGE_ENTER;
    case PTAP_NETNS_GONE:
        return PTAP_NETNS_JUDGE_GONE;
    case PTAP_NETNS_HERE: /* another identity cannot be here: do not guess */
    case PTAP_NETNS_FORBIDDEN:
    case PTAP_NETNS_UNSEEN:
    default:
        return PTAP_NETNS_JUDGE_LEAVE;
    }
}

const char *ptap_netns_judge_to_string(ptap_netns_judge j)
{
    static const char *const names[] = {
        [PTAP_NETNS_JUDGE_HERE] = "here",
        [PTAP_NETNS_JUDGE_ENTER] = "enter",
        [PTAP_NETNS_JUDGE_LEAVE] = "leave",
        [PTAP_NETNS_JUDGE_GONE] = "gone",
    };

    return (unsigned) j < ARRAY_SIZE(names) ? names[j] : "?";
}
