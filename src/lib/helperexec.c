/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helperexec.h"
#include "log.h"
#include "util.h"

extern char **environ;

const char *ptap_helper_path(void)
{
    const char *p = getenv("PTAP_HELPER");

    return p && *p ? p : PTAP_HELPER_PATH;
}

void ptap_helper_result_clear(ptap_helper_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_lines; i++)
        free(res->lines[i]);
    free(res->lines);
    free(res->errtext);
    *res = (ptap_helper_result) { 0 };
}

typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static void buf_done(buf *b)
{
    free(b->data);
    *b = (buf) { 0 };
}

static int buf_read(buf *b, int fd)
{
    if (b->cap - b->len < 4096) {
        size_t cap = b->cap ? b->cap * 2 : 8192;
        char *d = realloc(b->data, cap);

        if (!d)
            return -ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    ssize_t k = read(fd, b->data + b->len, b->cap - b->len - 1);
    if (k < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -errno;
    b->len += (size_t) k;
    b->data[b->len] = '\0';
    return k > 0;
}

static int split_lines(char *text, ptap_helper_result *res)
{
    size_t n = 0;
    char *save = NULL;

    for (char *p = text; p && *p; p++)
        if (*p == '\n')
            n++;
    res->lines = calloc(n + 2, sizeof(char *));
    if (!res->lines)
        return -ENOMEM;
    for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        res->lines[res->n_lines] = strdup(l);
        if (!res->lines[res->n_lines])
            return -ENOMEM;
        res->n_lines++;
    }
    return 0;
}

/* Start the helper: @argv[0] is replaced by its path; @in_fd becomes its
 * stdin (-1: ours). Sets *pid and the read ends of its stdout and stderr. */
static int spawn(char *const argv[], int in_fd, pid_t *pid, int *ret_out, int *ret_err)
{
    _cleanup_close_ int out_r = -1, out_w = -1, err_r = -1, err_w = -1;
    int p[2], r;
    posix_spawn_file_actions_t fa;
    size_t argc = 0;
    _cleanup_free_ char **args = NULL;
    const char *path = ptap_helper_path();

    while (argv[argc])
        argc++;
    args = calloc(argc + 1, sizeof(char *));
    if (!args)
        return -ENOMEM;
    args[0] = (char *) path;
    for (size_t i = 1; i < argc; i++)
        args[i] = argv[i];

    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    out_r = p[0];
    out_w = p[1];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    err_r = p[0];
    err_w = p[1];

    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
    ptap_debug("running %s %s", path, argc > 1 ? argv[1] : "");
    r = posix_spawn(pid, path, &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return -r;
    *ret_out = TAKE_FD(out_r);
    *ret_err = TAKE_FD(err_r);
    return 0;
}

/* Read the helper's stdout and stderr to their end, then reap it. Closes
 * @out_r and @err_r. */
static int collect(pid_t pid, int out_r, int err_r, ptap_helper_result *res)
{
    _cleanup_(buf_done) buf out = { 0 }, err = { 0 };
    int r = 0;

    struct pollfd pfd[2] = { { .fd = out_r, .events = POLLIN }, { .fd = err_r, .events = POLLIN } };
    while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            int k = buf_read(i == 0 ? &out : &err, pfd[i].fd);
            if (k < 0) {
                r = k;
                pfd[i].fd = -1;
            } else if (k == 0) {
                pfd[i].fd = -1;
            }
        }
    }
    close(out_r);
    close(err_r);

    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r >= 0)
        r = split_lines(out.data, res);
    if (err.data) {
        while (err.len > 0 && err.data[err.len - 1] == '\n')
            err.data[--err.len] = '\0';
        res->errtext = TAKE_PTR(err.data);
    } else {
        res->errtext = strdup("");
    }
    if (r < 0 || !res->errtext) {
        ptap_helper_result_clear(res);
        return r < 0 ? r : -ENOMEM;
    }
    ptap_debug("helper exited %d", res->status);
    return 0;
}

/*
 * The helper started early (ptap_helper_prestart_*()): it runs with
 * --wait, checks its request and waits for "go" on stdin (a pipe: what
 * its SELinux domain may already use of its caller's). The
 * request it was given is kept without its tag; the run that asks for the
 * same request in the same network namespace soon enough takes it.
 */
#define EARLY_MAX_AGE_MS 1000

static struct {
    pid_t pid;        /* 0: none */
    int in, out, err;
    char **argv;      /* the request, "--wait" and any "--tag X" left out */
    bool names_later; /* a destroy whose names go after the go line */
    enum {
        VIEW_NONE,    /* not asked for (--view) */
        VIEW_UNREAD,  /* it comes before the helper waits, not read yet */
        VIEW_TAKEN,   /* read whole: collect() gets what follows */
        VIEW_SPOILED, /* not read whole: that helper is never told to go */
    } view;
    dev_t ns_dev;
    ino_t ns_ino;
    int64_t started;
} early;

static int netns_id(dev_t *dev, ino_t *ino)
{
    struct stat st;

    if (stat("/proc/thread-self/ns/net", &st) < 0)
        return -errno;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

static void early_free_argv(void)
{
    if (early.argv)
        for (char **p = early.argv; *p; p++)
            free(*p);
    free(early.argv);
    early.argv = NULL;
}

void ptap_helper_prestart_drop(void)
{
    _cleanup_(ptap_helper_result_clear) ptap_helper_result res = { 0 };

    if (!early.pid)
        return;
    close(early.in); /* end of file: the helper does nothing */
    (void) collect(early.pid, early.out, early.err, &res);
    ptap_debug("early helper dropped (it exited %d)", res.status);
    early.pid = 0;
    early.names_later = false;
    early.view = VIEW_NONE;
    early_free_argv();
}

/* Was the early helper started in this thread's network namespace? */
static bool early_here(void)
{
    dev_t dev = 0;
    ino_t ino = 0;

    return early.pid && netns_id(&dev, &ino) == 0 && dev == early.ns_dev && ino == early.ns_ino;
}

/* ... and soon enough for its checks to stand (EARLY_MAX_AGE_MS)? */
static bool early_usable(void)
{
    return early_here() && ptap_now_ms() - early.started <= EARLY_MAX_AGE_MS;
}

/* Does @argv (a run's request) name what the early helper was given,
 * leaving out its "--tag X"? Sets *tag to that X (NULL: none). */
static bool early_matches(char *const argv[], const char **tag)
{
    size_t k = 0;

    *tag = NULL;
    if (!early_usable())
        return false;
    if (early.names_later) /* "ptap-helper destroy -- NAME...": any names */
        return argv[0] && argv[1] && strcmp(argv[1], "destroy") == 0 && argv[2] &&
               strcmp(argv[2], "--") == 0 && argv[3];
    for (size_t i = 0; argv[i]; i++) {
        if (strcmp(argv[i], "--tag") == 0 && argv[i + 1] && !*tag) {
            *tag = argv[++i];
            continue;
        }
        if (!early.argv[k] || strcmp(argv[i], early.argv[k]) != 0)
            return false;
        k++;
    }
    return !early.argv[k];
}

/* Start @argv (no --tag) early, with --wait after its command (and
 * --view when @view). */
static int prestart(char *const argv[], bool view)
{
    int sv[2], r;
    size_t argc = 0;
    _cleanup_free_ char **args = NULL;

    while (argv[argc])
        argc++;
    /* The same request, already started here: it stays. */
    if (early.pid && !early.names_later && (early.view != VIEW_NONE) == view) {
        size_t k = 0;

        while (early.argv[k] && argv[k] && strcmp(early.argv[k], argv[k]) == 0)
            k++;
        if (!early.argv[k] && !argv[k] && early_here())
            return 0;
    }
    ptap_helper_prestart_drop();
    args = calloc(argc + 3, sizeof(char *));
    early.argv = calloc(argc + 1, sizeof(char *));
    if (!args || !early.argv) {
        early_free_argv();
        return -ENOMEM;
    }
    for (size_t i = 0; i < argc; i++) {
        early.argv[i] = strdup(argv[i]);
        if (!early.argv[i]) {
            early_free_argv();
            return -ENOMEM;
        }
    }
    /* "ptap-helper COMMAND --wait [--view] ARGS...". */
    args[0] = argv[0];
    args[1] = argv[1];
    args[2] = "--wait";
    if (view)
        args[3] = "--view";
    for (size_t i = 2; i < argc; i++)
        args[i + 1 + view] = argv[i];
    r = netns_id(&early.ns_dev, &early.ns_ino);
    if (r < 0) {
        early_free_argv();
        return r;
    }
    if (pipe2(sv, O_CLOEXEC) < 0) {
        early_free_argv();
        return -errno;
    }
    r = spawn(args, sv[0], &early.pid, &early.out, &early.err);
    close(sv[0]);
    if (r < 0) {
        close(sv[1]);
        early.pid = 0;
        early_free_argv();
        return r;
    }
    early.in = sv[1];
    early.started = ptap_now_ms();
    early.view = view ? VIEW_UNREAD : VIEW_NONE;
    return 0;
}

/* What the early helper is told: "go[ TAG]", then for a destroy whose
 * names come later, its names, one a line. */
static char *go_text(char *const argv[], const char *tag)
{
    size_t len = 4 + (tag ? strlen(tag) + 1 : 0), at;
    char *t;

    if (early.names_later)
        for (size_t i = 3; argv[i]; i++)
            len += strlen(argv[i]) + 1;
    t = malloc(len + 1);
    if (!t)
        return NULL;
    at = (size_t) sprintf(t, "go%s%s\n", tag ? " " : "", tag ? tag : "");
    if (early.names_later)
        for (size_t i = 3; argv[i]; i++)
            at += (size_t) sprintf(t + at, "%s\n", argv[i]);
    return t;
}

int ptap_helper_run(char *const argv[], ptap_helper_result *res)
{
    const char *tag;
    int out_r, err_r, r;
    pid_t pid;

    *res = (ptap_helper_result) { 0 };
    /* A view asked for and not read whole would come before its answer:
     * that helper is not told to go (nor one whose view is unread). */
    if (early.pid && (early.view == VIEW_UNREAD || early.view == VIEW_SPOILED))
        ptap_helper_prestart_drop();
    if (early.pid && early_matches(argv, &tag)) {
        struct sigaction ign = { .sa_handler = SIG_IGN }, old;
        _cleanup_free_ char *text = go_text(argv, tag);
        bool sent;

        /* A helper that has already exited (a refusal) costs no SIGPIPE. */
        sigaction(SIGPIPE, &ign, &old);
        sent = text && ptap_write_all(early.in, text, strlen(text)) == 0;
        sigaction(SIGPIPE, &old, NULL);

        ptap_debug("the helper started early is told to go%s", sent ? "" : ", and is gone");
        close(early.in);
        pid = early.pid;
        early.pid = 0;
        early_free_argv();
        r = collect(pid, early.out, early.err, res);
        /* Told to go and it went, or it refused what it was asked: its
         * answer is the answer (the same a late start would have given);
         * but a helper older than --wait refuses that option. */
        if (r < 0 || (sent && !(res->status == 64 && (strstr(res->errtext, "'--wait'") ||
                                                       strstr(res->errtext, "'--view'")))))
            return r;
        ptap_helper_result_clear(res);
        /* It never heard the go (gone, or timed out), or cannot wait: a
         * late start. */
    } else if (early.pid) {
        ptap_helper_prestart_drop();
    }
    r = spawn(argv, -1, &pid, &out_r, &err_r);
    if (r < 0)
        return r;
    return collect(pid, out_r, err_r, res);
}

/* The argv of a create (argv[0] a placeholder); @count and @mtu hold its
 * numbers. */
static void create_argv(const ptap_create_spec *spec, char *argv[32], char count[16], char mtu[16])
{
    size_t n = 0;

    argv[n++] = "ptap-helper";
    argv[n++] = "create";
    if (spec->count > 1) {
        snprintf(count, 16, "%u", spec->count);
        argv[n++] = "--count";
        argv[n++] = count;
    }
    if (spec->owner) {
        argv[n++] = "--owner";
        argv[n++] = (char *) spec->owner;
    }
    if (spec->group) {
        argv[n++] = "--group";
        argv[n++] = (char *) spec->group;
    }
    if (spec->bridge) {
        argv[n++] = "--bridge";
        argv[n++] = (char *) spec->bridge;
    }
    if (spec->mtu) {
        snprintf(mtu, 16, "%u", spec->mtu);
        argv[n++] = "--mtu";
        argv[n++] = mtu;
    }
    if (spec->mac) {
        argv[n++] = "--mac";
        argv[n++] = (char *) spec->mac;
    }
    if (spec->multi_queue)
        argv[n++] = "--multi-queue";
    if (spec->vnet_hdr)
        argv[n++] = "--vnet-hdr";
    if (spec->tag) {
        argv[n++] = "--tag";
        argv[n++] = (char *) spec->tag;
    }
    /* Only with a bridge: what an Open vSwitch port's external_ids say. */
    if (spec->bridge && spec->attached_mac) {
        argv[n++] = "--attached-mac";
        argv[n++] = (char *) spec->attached_mac;
    }
    if (spec->bridge && spec->vm_uuid) {
        argv[n++] = "--vm-uuid";
        argv[n++] = (char *) spec->vm_uuid;
    }
    /* A name is always a name, even one that begins with '-'. */
    argv[n++] = "--";
    argv[n++] = (char *) spec->name;
    argv[n] = NULL;
}

int ptap_helper_create(const ptap_create_spec *spec, ptap_helper_result *res)
{
    char count[16], mtu[16];
    char *argv[32];

    create_argv(spec, argv, count, mtu);
    return ptap_helper_run(argv, res);
}

int ptap_helper_prestart_create(const ptap_create_spec *spec)
{
    ptap_create_spec s = *spec;
    char count[16], mtu[16];
    char *argv[32];

    s.tag = NULL; /* it comes with the go */
    create_argv(&s, argv, count, mtu);
    return prestart(argv, false);
}

static char **destroy_argv(char *const *names, size_t n)
{
    char **argv = calloc(n + 4, sizeof(char *));

    if (!argv)
        return NULL;
    argv[0] = "ptap-helper";
    argv[1] = "destroy";
    argv[2] = "--"; /* names beginning with '-' are names */
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = names[i];
    return argv;
}

int ptap_helper_destroy(char *const *names, size_t n, ptap_helper_result *res)
{
    _cleanup_free_ char **argv = destroy_argv(names, n);

    if (!argv)
        return -ENOMEM;
    return ptap_helper_run(argv, res);
}

int ptap_helper_prestart_destroy(char *const *names, size_t n, bool view)
{
    _cleanup_free_ char **argv = destroy_argv(names, n);

    if (!argv)
        return -ENOMEM;
    return prestart(argv, view);
}

/* The early helper's view: its lines up to "end" on its stdout, within
 * VIEW_WAIT_MS. */
#define VIEW_WAIT_MS 5000

/* Does @b end with the view's last line, "end"? */
static bool view_ended(const buf *b)
{
    return b->len >= 4 && (b->len == 4 || b->data[b->len - 5] == '\n') &&
           memcmp(b->data + b->len - 4, "end\n", 4) == 0;
}

static int read_view(ptap_link_info **ret, size_t *n_ret)
{
    _cleanup_(buf_done) buf b = { 0 };
    _cleanup_(ptap_link_info_freep) ptap_link_info *v = NULL;
    size_t n = 0;
    int64_t deadline = ptap_now_ms() + VIEW_WAIT_MS;
    char *save = NULL;

    /* The helper writes nothing after "end" until it is told to go. */
    while (!view_ended(&b)) {
        struct pollfd p = { .fd = early.out, .events = POLLIN };
        int64_t left = deadline - ptap_now_ms();
        int k;

        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&p, 1, (int) left) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (!p.revents)
            continue;
        k = buf_read(&b, early.out);
        if (k < 0)
            return k;
        if (k == 0)
            return -ENODATA; /* gone (or too old for --view) */
    }
    b.data[b.len - 4] = '\0';
    for (char *p = b.data; *p; p++)
        n += *p == '\n';
    v = calloc(n + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    n = 0;
    for (char *l = strtok_r(b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (ptap_link_info_parse(l, &v[n++]) < 0)
            return -EBADMSG;
    *ret = TAKE_PTR(v);
    *n_ret = n;
    return 0;
}

int ptap_helper_prestart_view(char *const *names, size_t n, ptap_link_info **ret, size_t *n_ret)
{
    _cleanup_free_ char **argv = names ? destroy_argv(names, n) : NULL;
    const char *tag = NULL;
    int r;

    *ret = NULL;
    *n_ret = 0;
    if (names && !argv)
        return -ENOMEM;
    if (!early.pid || early.view != VIEW_UNREAD || early.names_later != !names)
        return -ENOENT;
    if (names ? !early_matches(argv, &tag) || tag : !early_usable())
        return -ENOENT;
    r = read_view(ret, n_ret);
    early.view = r < 0 ? VIEW_SPOILED : VIEW_TAKEN;
    if (r < 0) {
        /* Not whole, or not to be trusted as a view: that helper is not used. */
        ptap_debug("the early helper's view is not used: %s", strerror(-r));
        return r;
    }
    if (names)
        ptap_debug("the early helper's view: %zu of %zu names", *n_ret, n);
    else
        ptap_debug("the early helper's view: %zu links", *n_ret);
    return 0;
}

int ptap_helper_prestart_destroy_later(bool view)
{
    char *argv[] = { "ptap-helper", "destroy", NULL };
    int r = prestart(argv, view);

    if (r >= 0)
        early.names_later = true;
    return r;
}

int ptap_helper_restore(char *const *names, size_t n, const char *bridge,
                        ptap_helper_result *res)
{
    _cleanup_free_ char **argv = calloc(n + 6, sizeof(char *));
    size_t k = 0;

    if (!argv)
        return -ENOMEM;
    argv[k++] = "ptap-helper";
    argv[k++] = "restore";
    if (bridge) {
        argv[k++] = "--bridge";
        argv[k++] = (char *) bridge;
    }
    argv[k++] = "--";
    for (size_t i = 0; i < n; i++)
        argv[k++] = names[i];
    return ptap_helper_run(argv, res);
}

int ptap_helper_ovs_list(ptap_helper_result *res)
{
    char *argv[] = { "ptap-helper", "ovs-list", NULL };

    return ptap_helper_run(argv, res);
}

int ptap_helper_ovs_set(const char *name, const char *mac, const char *vm_uuid,
                        ptap_helper_result *res)
{
    char *argv[10];
    size_t k = 0;

    argv[k++] = "ptap-helper";
    argv[k++] = "ovs-set";
    if (mac) {
        argv[k++] = "--attached-mac";
        argv[k++] = (char *) mac;
    }
    if (vm_uuid) {
        argv[k++] = "--vm-uuid";
        argv[k++] = (char *) vm_uuid;
    }
    argv[k++] = "--";
    argv[k++] = (char *) name;
    argv[k] = NULL;
    return ptap_helper_run(argv, res);
}

int ptap_helper_ovs_forget(char *const *names, size_t n, ptap_helper_result *res)
{
    _cleanup_free_ char **argv = calloc(n + 4, sizeof(char *));

    if (!argv)
        return -ENOMEM;
    argv[0] = "ptap-helper";
    argv[1] = "ovs-forget";
    argv[2] = "--";
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = names[i];
    return ptap_helper_run(argv, res);
}
