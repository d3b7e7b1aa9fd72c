/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int ptap_helper_run(char *const argv[], ptap_helper_result *res)
{
    _cleanup_close_ int out_r = -1, out_w = -1, err_r = -1, err_w = -1;
    int p[2], r;
    pid_t pid;
    posix_spawn_file_actions_t fa;
    _cleanup_(buf_done) buf out = { 0 }, err = { 0 };
    size_t argc = 0;
    _cleanup_free_ char **args = NULL;
    const char *path = ptap_helper_path();

    *res = (ptap_helper_result) { 0 };
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
    posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
    ptap_debug("running %s %s", path, argc > 1 ? argv[1] : "");
    r = posix_spawn(&pid, path, &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return -r;
    closep(&out_w);
    out_w = -1;
    closep(&err_w);
    err_w = -1;

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
            } else if (k == 0 && !(pfd[i].revents & POLLIN)) {
                pfd[i].fd = -1;
            } else if (k == 0) {
                pfd[i].fd = -1;
            }
        }
    }

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

int ptap_helper_create(const ptap_create_spec *spec, ptap_helper_result *res)
{
    char count[16], mtu[16];
    char *argv[32];
    size_t n = 0;

    argv[n++] = "ptap-helper";
    argv[n++] = "create";
    if (spec->count > 1) {
        snprintf(count, sizeof(count), "%u", spec->count);
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
        snprintf(mtu, sizeof(mtu), "%u", spec->mtu);
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
    return ptap_helper_run(argv, res);
}

int ptap_helper_destroy(char *const *names, size_t n, ptap_helper_result *res)
{
    _cleanup_free_ char **argv = calloc(n + 4, sizeof(char *));

    if (!argv)
        return -ENOMEM;
    argv[0] = "ptap-helper";
    argv[1] = "destroy";
    argv[2] = "--"; /* names beginning with '-' are names */
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = names[i];
    return ptap_helper_run(argv, res);
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
