/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"
#include "validate.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

/* Read /proc/@pid/@what whole. */
static int read_proc(pid_t pid, const char *what, char **ret, size_t *ret_len)
{
    char path[64];

    if (pid <= 0)
        return -ENOENT;
    snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, what);
    return ptap_read_file(path, PTAP_PROC_FILE_MAX, ret, ret_len);
}

int ptap_proc_parse_start_time(const char *stat, uint64_t *ret)
{
    const char *p = stat ? strrchr(stat, ')') : NULL;
    unsigned long long v;
    char *end;

    /* comm (field 2) may hold spaces and ')': fields resume after the last ')'. */
    if (!p)
        return -EIO;
    p++;
    /* Field 3 (state) is the first token after ')'; starttime is field 22. */
    for (int field = 3; field < 22; field++) {
        p += strspn(p, " ");
        p += strcspn(p, " ");
        if (!*p)
            return -EIO;
    }
    p += strspn(p, " ");
    if (!isdigit((unsigned char) *p))
        return -EIO;
    errno = 0;
    v = strtoull(p, &end, 10);
    if (errno || end == p || (*end && *end != ' ' && *end != '\n'))
        return -EIO;
    *ret = v;
    return 0;
}

int ptap_proc_start_time(pid_t pid, uint64_t *ret)
{
    _cleanup_free_ char *stat = NULL;
    int r;

    if (pid <= 0)
        return -ESRCH;
    r = read_proc(pid, "stat", &stat, NULL);
    if (r == -ENOENT || r == -ESRCH)
        return -ESRCH;
    if (r < 0)
        return r;
    return ptap_proc_parse_start_time(stat, ret);
}

int ptap_proc_parse_state(const char *stat, char *ret)
{
    const char *p = stat ? strrchr(stat, ')') : NULL;

    if (!p)
        return -EIO;
    p += 1 + strspn(p + 1, " ");
    if (!*p || !isalpha((unsigned char) *p))
        return -EIO;
    *ret = *p;
    return 0;
}

bool ptap_proc_alive(pid_t pid, uint64_t start)
{
    _cleanup_free_ char *stat = NULL;
    uint64_t now;
    char state;

    if (pid <= 0 || read_proc(pid, "stat", &stat, NULL) < 0)
        return false;
    if (ptap_proc_parse_start_time(stat, &now) < 0 || ptap_proc_parse_state(stat, &state) < 0)
        return false;
    /* A killed QEMU its parent has not reaped yet is a zombie: it holds
     * no tap and runs no guest any more. */
    if (state == 'Z' || state == 'X' || state == 'x')
        return false;
    return start == 0 || now == start;
}

int ptap_proc_parse_owner(const char *status, uid_t *uid, gid_t *gid)
{
    unsigned long ru, eu, rg, eg;
    const char *u, *g;

    u = status ? strstr(status, "\nUid:") : NULL;
    g = status ? strstr(status, "\nGid:") : NULL;
    if (!u || !g || sscanf(u, "\nUid: %lu %lu", &ru, &eu) != 2 ||
        sscanf(g, "\nGid: %lu %lu", &rg, &eg) != 2)
        return -EIO;
    *uid = (uid_t) eu;
    *gid = (gid_t) eg;
    return 0;
}

int ptap_proc_owner(pid_t pid, uid_t *uid, gid_t *gid)
{
    _cleanup_free_ char *st = NULL;
    int r;

    r = read_proc(pid, "status", &st, NULL);
    if (r < 0)
        return r;
    return ptap_proc_parse_owner(st, uid, gid);
}

int ptap_proc_cmdline(pid_t pid, char **ret, size_t *ret_len)
{
    return read_proc(pid, "cmdline", ret, ret_len);
}

bool ptap_proc_has_uuid(pid_t pid, const char *uuid)
{
    _cleanup_free_ char *cmd = NULL;
    size_t len;
    bool prev_uuid = false;

    if (ptap_proc_cmdline(pid, &cmd, &len) < 0)
        return false;
    for (size_t i = 0; i < len; i += strlen(cmd + i) + 1) {
        const char *arg = cmd + i;

        if (prev_uuid && strcasecmp(arg, uuid) == 0)
            return true;
        prev_uuid = strcmp(arg, "-uuid") == 0;
    }
    return false;
}

int ptap_proc_find_uuid(const char *uuid, pid_t *ret)
{
    _cleanup_(closedirp) DIR *d = opendir("/proc");
    struct dirent *de;

    if (!d)
        return negative_errno();
    while ((de = readdir(d))) {
        uint64_t n;

        if (ptap_parse_uint(de->d_name, 1, INT32_MAX, &n) < 0)
            continue;
        if (ptap_proc_has_uuid((pid_t) n, uuid)) {
            *ret = (pid_t) n;
            return 0;
        }
    }
    return -ESRCH;
}

int ptap_proc_parse_fdinfo_iff(const char *fdinfo, char ifname[16])
{
    const char *p = fdinfo;
    size_t len;

    while (p && *p) {
        if (strncmp(p, "iff:", 4) == 0) {
            p += 4;
            p += strspn(p, " \t");
            len = strcspn(p, "\n");
            if (len == 0 || len >= 16)
                return -EINVAL;
            memcpy(ifname, p, len);
            ifname[len] = '\0';
            return ptap_ifname_check(ifname, false, NULL) < 0 ? -EINVAL : 0;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -ENOENT;
}

static int add_holder(ptap_proc_holder **v, size_t *n, size_t *cap, pid_t pid,
                      const char *ifname)
{
    ptap_proc_holder *h;

    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].pid == pid && strcmp((*v)[i].ifname, ifname) == 0) {
            (*v)[i].queues++;
            return 0;
        }
    if (*n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 16;
        ptap_proc_holder *nv = realloc(*v, ncap * sizeof(**v));

        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = ncap;
    }
    h = &(*v)[(*n)++];
    *h = (ptap_proc_holder) { .pid = pid, .uid = (uid_t) -1, .queues = 1 };
    snprintf(h->ifname, sizeof(h->ifname), "%s", ifname);
    return 0;
}

/* The taps the descriptors of @pid are attached to. */
static int scan_pid(pid_t pid, ptap_proc_holder **v, size_t *n, size_t *cap)
{
    _cleanup_(closedirp) DIR *d = NULL;
    char path[64];
    struct dirent *de;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
    d = opendir(path);
    if (!d)
        return 0; /* gone, or not ours to read */
    while ((de = readdir(d))) {
        char link[32], what[sizeof("fdinfo/") + sizeof(de->d_name)], ifname[16];
        _cleanup_free_ char *info = NULL;
        ssize_t k;

        if (de->d_name[0] == '.')
            continue;
        k = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
        if (k < 0)
            continue;
        link[k] = '\0';
        if (strcmp(link, "/dev/net/tun") != 0)
            continue;
        snprintf(what, sizeof(what), "fdinfo/%s", de->d_name);
        if (read_proc(pid, what, &info, NULL) < 0 ||
            ptap_proc_parse_fdinfo_iff(info, ifname) < 0)
            continue;
        if (add_holder(v, n, cap, pid, ifname) < 0)
            return -ENOMEM;
    }
    return 0;
}

int ptap_proc_tap_holders(ptap_proc_holder **ret, size_t *ret_n)
{
    _cleanup_(closedirp) DIR *d = opendir("/proc");
    _cleanup_free_ ptap_proc_holder *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int r;

    if (!d)
        return negative_errno();
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);

        if (*end || pid <= 0)
            continue;
        r = scan_pid((pid_t) pid, &v, &n, &cap);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *comm = NULL;
        gid_t gid;

        (void) ptap_proc_owner(v[i].pid, &v[i].uid, &gid);
        if (read_proc(v[i].pid, "comm", &comm, NULL) == 0) {
            comm[strcspn(comm, "\n")] = '\0';
            snprintf(v[i].comm, sizeof(v[i].comm), "%s", comm);
        }
    }
    *ret = TAKE_PTR(v);
    *ret_n = n;
    return 0;
}

const ptap_proc_holder *ptap_proc_holder_find(const ptap_proc_holder *v, size_t n,
                                              const char *ifname)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].ifname, ifname) == 0)
            return &v[i];
    return NULL;
}
