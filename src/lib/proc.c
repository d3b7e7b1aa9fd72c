/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
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
    if (snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, what) >= (int) sizeof(path))
        return -ENAMETOOLONG;
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

int ptap_proc_read_pid_file(const char *path, pid_t *ret)
{
    _cleanup_free_ char *text = NULL;
    uint64_t n;
    int r;

    r = ptap_read_file(path, PTAP_PROC_FILE_MAX, &text, NULL);
    if (r < 0)
        return r;
    text[strcspn(text, "\n")] = '\0';
    r = ptap_parse_uint(text, 1, INT32_MAX, &n);
    if (r < 0)
        return r;
    *ret = (pid_t) n;
    return 0;
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

        char nspath[64];
        struct stat st;

        (void) ptap_proc_owner(v[i].pid, &v[i].uid, &gid);
        snprintf(nspath, sizeof(nspath), "/proc/%d/ns/net", (int) v[i].pid);
        if (stat(nspath, &st) == 0) {
            v[i].netns_dev = (uint64_t) st.st_dev;
            v[i].netns_ino = (uint64_t) st.st_ino;
        }
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

/* ---- which libvirt domain a QEMU runs ---- */

/* One "key=value" (or bare value) element of QEMU option text at *@s, up to
 * its first unescaped ',' (",," is a ',' in it), into @buf; *@s moves past
 * it. Returns 0, or -ENAMETOOLONG. */
static int qemu_opt_next(const char **s, char *buf, size_t len)
{
    const char *p = *s;
    size_t k = 0;
    int r = 0;

    for (; *p; p++) {
        if (*p == ',') {
            if (p[1] != ',')
                break;
            p++;
        }
        if (k + 1 >= len)
            r = -ENAMETOOLONG;
        else
            buf[k++] = *p;
    }
    buf[k] = '\0';
    *s = *p ? p + 1 : p;
    return r;
}

/* The guest name of a -name argument: "guest=NAME,..." anywhere, or a
 * first element without '=' (QEMU's implicit key). */
static int parse_name_arg(const char *arg, char name[PTAP_PROC_DOMAIN_MAX])
{
    char el[PTAP_PROC_DOMAIN_MAX + 8];
    const char *p = arg;
    bool first = true, found = false;

    while (*p && !found) {
        const char *v = NULL;

        if (qemu_opt_next(&p, el, sizeof(el)) < 0)
            return -ENOENT; /* too long to be a domain name: none */
        if (strncmp(el, "guest=", 6) == 0)
            v = el + 6;
        else if (first && !strchr(el, '='))
            v = el;
        first = false;
        if (!v)
            continue;
        if (strlen(v) >= PTAP_PROC_DOMAIN_MAX)
            return -ENOENT;
        memcpy(name, v, strlen(v) + 1);
        found = true;
    }
    if (!found || !*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -ENOENT;
    return 0;
}

int ptap_proc_parse_qemu_name(const char *cmd, size_t len, char name[PTAP_PROC_DOMAIN_MAX],
                              char uuid[PTAP_PROC_UUID_MAX])
{
    bool have_name = false;

    name[0] = '\0';
    uuid[0] = '\0';
    if (!cmd)
        return -ENOENT;
    for (size_t i = 0; i < len; i += strlen(cmd + i) + 1) {
        const char *arg = cmd + i, *next;

        if (i + strlen(arg) + 1 >= len)
            break; /* the last argument has no value after it */
        next = arg + strlen(arg) + 1;
        if (strcmp(arg, "-name") == 0)
            have_name = parse_name_arg(next, name) == 0;
        else if (strcmp(arg, "-uuid") == 0 && ptap_is_uuid(next) &&
                 strlen(next) < PTAP_PROC_UUID_MAX)
            snprintf(uuid, PTAP_PROC_UUID_MAX, "%s", next);
    }
    if (!have_name) {
        name[0] = '\0';
        return -ENOENT;
    }
    return 0;
}

bool ptap_proc_pidfile_is(const char *path, pid_t pid)
{
    _cleanup_free_ char *text = NULL;
    uint64_t v;

    if (ptap_read_file(path, 64, &text, NULL) < 0)
        return false;
    text[strcspn(text, " \t\n")] = '\0';
    return ptap_parse_uint(text, 1, INT32_MAX, &v) == 0 && (pid_t) v == pid;
}

/* XDG_RUNTIME_DIR in the environment of process @pid, into @buf. */
static int environ_runtime_dir(pid_t pid, char *buf, size_t len)
{
    _cleanup_free_ char *env = NULL;
    size_t n;

    if (read_proc(pid, "environ", &env, &n) < 0)
        return -ENOENT;
    for (size_t i = 0; i < n; i += strlen(env + i) + 1)
        if (strncmp(env + i, "XDG_RUNTIME_DIR=", 16) == 0 && env[i + 16] == '/') {
            if (strlen(env + i + 16) >= len)
                return -ENAMETOOLONG;
            snprintf(buf, len, "%s", env + i + 16);
            return 0;
        }
    return -ENOENT;
}

/* Is RUNDIR/libvirt/qemu/run/NAME.pid @pid's? */
static bool session_pidfile_is(const char *rundir, const char *name, pid_t pid)
{
    _cleanup_free_ char *path = NULL;

    if (asprintf(&path, "%s/libvirt/qemu/run/%s.pid", rundir, name) < 0)
        return false;
    return ptap_proc_pidfile_is(path, pid);
}

/* A session libvirtd (or virtqemud) of @uid whose runtime directory has
 * @name's pid file holding @pid: its XDG_RUNTIME_DIR is read from its
 * environment (this user's own processes, or root). */
static bool session_libvirtd_started(uid_t uid, const char *name, pid_t pid)
{
    _cleanup_(closedirp) DIR *d = opendir("/proc");
    struct dirent *de;

    if (!d)
        return false;
    while ((de = readdir(d))) {
        _cleanup_free_ char *comm = NULL;
        char rundir[4096];
        uint64_t n;
        uid_t u;
        gid_t g;

        if (ptap_parse_uint(de->d_name, 1, INT32_MAX, &n) < 0)
            continue;
        /* The monolithic daemon, or the QEMU driver's own (modular libvirt). */
        if (read_proc((pid_t) n, "comm", &comm, NULL) < 0 ||
            (strcmp(comm, "libvirtd\n") != 0 && strcmp(comm, "virtqemud\n") != 0))
            continue;
        if (ptap_proc_owner((pid_t) n, &u, &g) < 0 || u != uid)
            continue;
        if (environ_runtime_dir((pid_t) n, rundir, sizeof(rundir)) == 0 &&
            session_pidfile_is(rundir, name, pid))
            return true;
    }
    return false;
}

int ptap_proc_libvirt_domain(pid_t pid, uid_t uid, ptap_proc_domain *ret)
{
    _cleanup_free_ char *cmd = NULL, *path = NULL;
    char rundir[64];
    size_t len;
    int r;

    *ret = (ptap_proc_domain) { 0 };
    r = ptap_proc_cmdline(pid, &cmd, &len);
    if (r < 0)
        return r;
    r = ptap_proc_parse_qemu_name(cmd, len, ret->name, ret->uuid);
    if (r < 0)
        return r;
    if (asprintf(&path, "/run/libvirt/qemu/%s.pid", ret->name) < 0)
        return -ENOMEM;
    if (ptap_proc_pidfile_is(path, pid)) {
        snprintf(ret->uri, sizeof(ret->uri), "qemu:///system");
        return 0;
    }
    snprintf(rundir, sizeof(rundir), "/run/user/%u", (unsigned) uid);
    if (session_pidfile_is(rundir, ret->name, pid) || session_libvirtd_started(uid, ret->name, pid)) {
        snprintf(ret->uri, sizeof(ret->uri), "qemu:///session");
        return 0;
    }
    *ret = (ptap_proc_domain) { 0 };
    return -ENOENT;
}
