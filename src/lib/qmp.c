/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "monsock.h"
#include "qmp.h"
#include "util.h"

struct ptap_qmp {
    int fd;
    /* Bytes received but not yet parsed (messages end with "\n"). */
    char *buf;
    size_t len, cap;
    /* Events received while waiting for something else, oldest first. */
    json_object *events[PTAP_QMP_MAX_EVENTS];
    size_t nevents;
    unsigned long next_id;
    char *err_desc, *err_class;
    char version[48];
};

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

void ptap_qmp_free(ptap_qmp *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    for (size_t i = 0; i < q->nevents; i++)
        json_object_put(q->events[i]);
    free(q->buf);
    free(q->err_desc);
    free(q->err_class);
    free(q);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ptap_qmp *, ptap_qmp_free)

static void set_error(ptap_qmp *q, const char *cls, const char *desc)
{
    free(q->err_desc);
    free(q->err_class);
    q->err_desc = desc ? strdup(desc) : NULL;
    q->err_class = cls ? strdup(cls) : NULL;
}

static void queue_event(ptap_qmp *q, json_object *ev)
{
    if (q->nevents == PTAP_QMP_MAX_EVENTS) {
        /* Nobody is asking for them: keep the newest. */
        ptap_debug("qmp: event queue full, dropping the oldest");
        json_object_put(q->events[0]);
        memmove(q->events, q->events + 1, (PTAP_QMP_MAX_EVENTS - 1) * sizeof(q->events[0]));
        q->nevents--;
    }
    q->events[q->nevents++] = ev;
}

/*
 * Read the next complete message (one JSON object per line, as QEMU sends
 * them), waiting until @deadline. Blank lines are skipped.
 */
static int read_message(ptap_qmp *q, int64_t deadline, json_object **ret)
{
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;

        if (nl) {
            size_t linelen = (size_t) (nl - q->buf);
            enum json_tokener_error jerr = json_tokener_success;
            json_object *o = NULL;

            *nl = '\0';
            if (linelen > 0 && q->buf[linelen - 1] == '\r')
                q->buf[linelen - 1] = '\0';
            if (q->buf[strspn(q->buf, " \t")] != '\0')
                o = json_tokener_parse_verbose(q->buf, &jerr);
            bool blank = q->buf[strspn(q->buf, " \t")] == '\0';
            memmove(q->buf, nl + 1, q->len - linelen - 1);
            q->len -= linelen + 1;
            if (blank)
                continue;
            if (!o || !json_object_is_type(o, json_type_object)) {
                ptap_debug("qmp: malformed message (%s)", json_tokener_error_desc(jerr));
                json_object_put(o);
                return -EPROTO;
            }
            *ret = o;
            return 0;
        }
        if (q->len >= PTAP_QMP_MAX_MSG)
            return -EMSGSIZE;
        if (q->cap - q->len < 4096) {
            size_t ncap = q->cap ? q->cap * 2 : 8192;
            char *n = realloc(q->buf, ncap);
            if (!n)
                return -ENOMEM;
            q->buf = n;
            q->cap = ncap;
        }
        ssize_t n = ptap_monsock_read(q->fd, q->buf + q->len, q->cap - q->len - 1, deadline);
        if (n < 0)
            return (int) n;
        q->len += (size_t) n;
    }
}

static int send_message(ptap_qmp *q, json_object *msg, int64_t deadline)
{
    const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    _cleanup_free_ char *line = NULL;

    if (!s)
        return -ENOMEM;
    if (asprintf(&line, "%s\n", s) < 0)
        return -ENOMEM;
    return ptap_monsock_write_all(q->fd, line, strlen(line), deadline);
}

/* Wait for the reply carrying @id, queueing events on the way. */
static int wait_reply(ptap_qmp *q, const char *id, int64_t deadline, json_object **ret)
{
    for (;;) {
        json_object *msg = NULL, *v;
        int r = read_message(q, deadline, &msg);

        if (r < 0)
            return r;
        if (json_object_object_get_ex(msg, "event", &v)) {
            queue_event(q, msg);
            continue;
        }
        if (id) {
            json_object *mid;
            if (!json_object_object_get_ex(msg, "id", &mid) ||
                !json_object_is_type(mid, json_type_string) ||
                strcmp(json_object_get_string(mid), id) != 0) {
                /* A late reply to a command that timed out earlier. */
                ptap_debug("qmp: dropping a reply that is not for '%s'", id);
                json_object_put(msg);
                continue;
            }
        }
        *ret = msg;
        return 0;
    }
}

static int execute_deadline(ptap_qmp *q, const char *cmd, json_object *args,
                            json_object **reply, int64_t deadline)
{
    _cleanup_json_ json_object *msg = NULL, *ans = NULL;
    json_object *v, *err;
    char id[32];
    int r;

    set_error(q, NULL, NULL);
    if (!cmd || !*cmd)
        return -EINVAL;
    if (args && !json_object_is_type(args, json_type_object))
        return -EINVAL;
    snprintf(id, sizeof(id), "ptap-%lu", ++q->next_id);
    msg = json_object_new_object();
    if (!msg)
        return -ENOMEM;
    json_object_object_add(msg, "execute", json_object_new_string(cmd));
    if (args)
        json_object_object_add(msg, "arguments", json_object_get(args));
    json_object_object_add(msg, "id", json_object_new_string(id));

    ptap_debug("qmp: -> %s", json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    r = send_message(q, msg, deadline);
    if (r < 0)
        return r;
    r = wait_reply(q, id, deadline, &ans);
    if (r < 0)
        return r;
    ptap_debug("qmp: <- %s", json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

    if (json_object_object_get_ex(ans, "error", &err)) {
        json_object *cls = NULL, *desc = NULL;
        json_object_object_get_ex(err, "class", &cls);
        json_object_object_get_ex(err, "desc", &desc);
        set_error(q, cls ? json_object_get_string(cls) : "GenericError",
                  desc ? json_object_get_string(desc) : "(no description)");
        return -EREMOTEIO;
    }
    if (!json_object_object_get_ex(ans, "return", &v))
        return -EPROTO;
    if (reply)
        *reply = json_object_get(v);
    return 0;
}

int ptap_qmp_execute(ptap_qmp *q, const char *cmd, json_object *args,
                     json_object **reply, int timeout_ms)
{
    if (reply)
        *reply = NULL;
    return execute_deadline(q, cmd, args, reply, ptap_monsock_deadline(timeout_ms));
}

int ptap_qmp_new_fd(int fd, int timeout_ms, ptap_qmp **ret)
{
    _cleanup_(ptap_qmp_freep) ptap_qmp *q = NULL;
    _cleanup_json_ json_object *greeting = NULL;
    json_object *qmp, *ver, *v;
    int64_t deadline = ptap_monsock_deadline(timeout_ms);
    int r;

    if (fd < 0)
        return -EBADF;
    q = calloc(1, sizeof(*q));
    if (!q) {
        close(fd);
        return -ENOMEM;
    }
    q->fd = fd;
    r = ptap_monsock_set_nonblock(fd);
    if (r < 0)
        return r;

    /* {"QMP": {"version": {"qemu": {"major": 7, ...}, ...}, "capabilities": [...]}} */
    r = read_message(q, deadline, &greeting);
    if (r < 0)
        return r;
    if (!json_object_object_get_ex(greeting, "QMP", &qmp)) {
        ptap_debug("qmp: no greeting: not a QMP socket");
        return -EPROTO;
    }
    if (json_object_object_get_ex(qmp, "version", &ver) &&
        json_object_object_get_ex(ver, "qemu", &v)) {
        json_object *ma = NULL, *mi = NULL, *mc = NULL;
        json_object_object_get_ex(v, "major", &ma);
        json_object_object_get_ex(v, "minor", &mi);
        json_object_object_get_ex(v, "micro", &mc);
        snprintf(q->version, sizeof(q->version), "%d.%d.%d",
                 ma ? json_object_get_int(ma) : 0, mi ? json_object_get_int(mi) : 0,
                 mc ? json_object_get_int(mc) : 0);
    }
    r = execute_deadline(q, "qmp_capabilities", NULL, NULL, deadline);
    if (r < 0)
        return r;
    ptap_debug("qmp: connected to QEMU %s", q->version[0] ? q->version : "(unknown version)");
    *ret = TAKE_PTR(q);
    return 0;
}

int ptap_qmp_connect(const char *path, int timeout_ms, ptap_qmp **ret)
{
    int left;
    int fd = ptap_monsock_connect_timeout(path, timeout_ms, &left);

    if (fd < 0)
        return fd;
    return ptap_qmp_new_fd(fd, left, ret);
}

const char *ptap_qmp_error_desc(const ptap_qmp *q)
{
    return q ? q->err_desc : NULL;
}

const char *ptap_qmp_error_class(const ptap_qmp *q)
{
    return q ? q->err_class : NULL;
}

size_t ptap_qmp_events_queued(const ptap_qmp *q)
{
    return q ? q->nevents : 0;
}

static bool event_matches(json_object *ev, ptap_qmp_event_match_fn match, void *userdata)
{
    json_object *name = NULL, *data = NULL;

    json_object_object_get_ex(ev, "event", &name);
    json_object_object_get_ex(ev, "data", &data);
    return match(json_object_get_string(name), data, userdata);
}

static void hand_out(json_object *ev, json_object **ret_data)
{
    json_object *data = NULL;

    if (ret_data) {
        json_object_object_get_ex(ev, "data", &data);
        *ret_data = json_object_get(data);
    }
    json_object_put(ev);
}

int ptap_qmp_wait_event_match(ptap_qmp *q, ptap_qmp_event_match_fn match,
                              void *userdata, int timeout_ms, json_object **ret_data)
{
    int64_t deadline = ptap_monsock_deadline(timeout_ms);

    if (ret_data)
        *ret_data = NULL;
    for (size_t i = 0; i < q->nevents; i++) {
        if (event_matches(q->events[i], match, userdata)) {
            json_object *ev = q->events[i];
            memmove(q->events + i, q->events + i + 1, (q->nevents - i - 1) * sizeof(q->events[0]));
            q->nevents--;
            hand_out(ev, ret_data);
            return 0;
        }
    }
    for (;;) {
        json_object *msg = NULL, *v;
        int r = read_message(q, deadline, &msg);

        if (r < 0)
            return r;
        if (!json_object_object_get_ex(msg, "event", &v)) {
            /* A reply nobody waits for any more (its command timed out). */
            json_object_put(msg);
            continue;
        }
        ptap_debug("qmp: <- event %s", json_object_get_string(v));
        if (event_matches(msg, match, userdata)) {
            hand_out(msg, ret_data);
            return 0;
        }
        queue_event(q, msg);
    }
}

struct name_device {
    const char *name, *device;
};

static bool match_name_device(const char *event, json_object *data, void *userdata)
{
    const struct name_device *nd = userdata;
    json_object *dev;

    if (!event || strcmp(event, nd->name) != 0)
        return false;
    if (!nd->device)
        return true;
    return data && json_object_object_get_ex(data, "device", &dev) &&
           json_object_is_type(dev, json_type_string) &&
           strcmp(json_object_get_string(dev), nd->device) == 0;
}

int ptap_qmp_wait_event(ptap_qmp *q, const char *name, const char *device,
                        int timeout_ms, json_object **ret_data)
{
    struct name_device nd = { name, device };

    if (!name)
        return -EINVAL;
    return ptap_qmp_wait_event_match(q, match_name_device, &nd, timeout_ms, ret_data);
}

int ptap_qmp_peer(const ptap_qmp *q, uid_t *uid, gid_t *gid, pid_t *pid)
{
    return ptap_monsock_peer(q->fd, uid, gid, pid);
}

const char *ptap_qmp_version(const ptap_qmp *q)
{
    return q->version;
}
