/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ovsdb.c: the OVSDB JSON-RPC client of ovsdb.h (RFC 7047: "transact",
 * answering the server's "echo"). One request at a time, each bounded by
 * the connection's timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <json-c/json.h>

#include "log.h"
#include "mark.h"
#include "ovsdb.h"
#include "validate.h"

#define OVSDB_DB "Open_vSwitch"
#define OVSDB_JSON_DEPTH 32

struct ptap_ovsdb {
    int fd;
    int timeout_ms;
    int64_t next_id;
    json_tokener *tok;
    char buf[16384];
    size_t len, off; /* bytes read, bytes given to the tokener */
};

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

int ptap_ovsdb_path_check(const char *path, const char **why)
{
    const char *unused;

    if (!why)
        why = &unused;
    if (!path || path[0] != '/') {
        *why = "not an absolute path";
        return -EINVAL;
    }
    if (strlen(path) >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
        *why = "too long for a unix socket";
        return -EINVAL;
    }
    if (strstr(path, "/../") || strstr(path, "/./") || strstr(path, "//") ||
        (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0)) {
        *why = "not a plain path";
        return -EINVAL;
    }
    for (const unsigned char *p = (const unsigned char *) path; *p; p++)
        if (*p < 0x21 || *p >= 0x7f) {
            *why = "contains a space or a control character";
            return -EINVAL;
        }
    return 0;
}

bool ptap_ovsdb_uuid_check(const char *s)
{
    static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    if (!s || strlen(s) != PTAP_OVSDB_UUID_LEN)
        return false;
    for (size_t i = 0; i < PTAP_OVSDB_UUID_LEN; i++) {
        if (form[i] == '-' ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
            return false;
    }
    return true;
}

int ptap_ovsdb_uuid_random(char buf[PTAP_OVSDB_UUID_LEN + 1])
{
    uint8_t b[16];
    ssize_t k = getrandom(b, sizeof(b), 0);

    if (k != (ssize_t) sizeof(b))
        return k < 0 ? negative_errno() : -EIO;
    b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(buf, PTAP_OVSDB_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

int ptap_ovsdb_connect(const char *path, int timeout_ms, ptap_ovsdb **ret)
{
    _cleanup_close_ int fd = -1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ptap_ovsdb *db;

    if (ptap_ovsdb_path_check(path, NULL) < 0)
        return -EINVAL;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return negative_errno();
    /* A unix stream connect completes at once or fails: EAGAIN when the
     * server's backlog is full (a busy or stopped server), never a wait. */
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
        return negative_errno();
    db = calloc(1, sizeof(*db));
    if (!db)
        return -ENOMEM;
    db->tok = json_tokener_new_ex(OVSDB_JSON_DEPTH);
    if (!db->tok) {
        free(db);
        return -ENOMEM;
    }
    /* RFC 8259 JSON only; the server may send the next message right
     * after one (a reply behind an echo): the rest is parsed next. */
    json_tokener_set_flags(db->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
    db->fd = TAKE_FD(fd);
    db->timeout_ms = timeout_ms > 0 ? timeout_ms : PTAP_OVSDB_TIMEOUT_MS;
    db->next_id = 1;
    *ret = db;
    return 0;
}

void ptap_ovsdb_close(ptap_ovsdb *db)
{
    if (!db)
        return;
    if (db->fd >= 0)
        close(db->fd);
    json_tokener_free(db->tok);
    free(db);
}

/* Wait for @events on the socket until @deadline (ptap_now_ms()). */
static int wait_fd(ptap_ovsdb *db, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - ptap_now_ms();
        struct pollfd p = { .fd = db->fd, .events = events };
        int k;

        if (left <= 0)
            return -ETIMEDOUT;
        k = poll(&p, 1, (int) left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return negative_errno();
        if (k > 0)
            return 0;
    }
}

static int send_json(ptap_ovsdb *db, json_object *msg, int64_t deadline)
{
    size_t len;
    const char *s = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN, &len);

    if (!s)
        return -ENOMEM;
    ptap_debug("ovsdb: -> %s", s);
    while (len > 0) {
        ssize_t k = send(db->fd, s, len, MSG_NOSIGNAL);

        if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
            int r = wait_fd(db, POLLOUT, deadline);

            if (r < 0)
                return r;
            continue;
        }
        if (k < 0)
            return negative_errno();
        s += k;
        len -= (size_t) k;
    }
    return 0;
}

/* The next whole JSON value from the server, strictly parsed. */
static int recv_json(ptap_ovsdb *db, int64_t deadline, json_object **ret)
{
    size_t taken = 0; /* bytes of this message so far */

    for (;;) {
        if (db->off < db->len) {
            size_t n = db->len - db->off;
            json_object *o = json_tokener_parse_ex(db->tok, db->buf + db->off, (int) n);
            enum json_tokener_error e = json_tokener_get_error(db->tok);
            size_t used = json_tokener_get_parse_end(db->tok);

            if (used > n)
                used = n;
            db->off += used;
            taken += used;
            if (o) {
                json_tokener_reset(db->tok);
                *ret = o;
                return 0;
            }
            if (e != json_tokener_continue) {
                ptap_debug("ovsdb: malformed reply (%s)", json_tokener_error_desc(e));
                json_tokener_reset(db->tok);
                return -EBADMSG;
            }
            db->off = db->len = 0;
        }
        if (taken > PTAP_OVSDB_REPLY_MAX)
            return -EMSGSIZE;
        /* A server that never stops talking is bounded too. */
        if (ptap_now_ms() >= deadline)
            return -ETIMEDOUT;
        ssize_t k = recv(db->fd, db->buf, sizeof(db->buf), 0);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
            int r = wait_fd(db, POLLIN, deadline);

            if (r < 0)
                return r;
            continue;
        }
        if (k < 0)
            return negative_errno();
        if (k == 0)
            return -ECONNRESET;
        db->off = 0;
        db->len = (size_t) k;
    }
}

static json_object *jstr(const char *s)
{
    return json_object_new_string(s);
}

/* [A, B] */
static json_object *jpair(json_object *a, json_object *b)
{
    json_object *p = json_object_new_array();

    json_object_array_add(p, a);
    json_object_array_add(p, b);
    return p;
}

/* [["COLUMN", "==", VALUE]] */
static json_object *where_eq(const char *column, json_object *value)
{
    json_object *w = json_object_new_array(), *c = json_object_new_array();

    json_object_array_add(c, jstr(column));
    json_object_array_add(c, jstr("=="));
    json_object_array_add(c, value);
    json_object_array_add(w, c);
    return w;
}

static json_object *columns(const char *const *names, size_t n)
{
    json_object *a = json_object_new_array();

    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, jstr(names[i]));
    return a;
}

/*
 * One transaction: send @ops (taken), wait for the reply with our id
 * (answering echo requests meanwhile), check its shape. *@results is the
 * reply's result array (one element per op, owned by *@reply).
 * Returns 0; -EPROTO with *@failed set to the index of the operation the
 * server refused (its error is in *@results; @err is left to the caller,
 * who knows what the operation meant); or another negative errno with
 * @err filled in.
 */
static int transact(ptap_ovsdb *db, json_object *ops, json_object **reply, json_object **results,
                    size_t *failed, ptap_error *err)
{
    _cleanup_(json_object_putp) json_object *msg = json_object_new_object();
    json_object *params = json_object_new_array();
    int64_t id = db->next_id++, deadline = ptap_now_ms() + db->timeout_ms;
    size_t n_ops = json_object_array_length(ops);
    int r;

    json_object_array_add(params, jstr(OVSDB_DB));
    for (size_t i = 0; i < n_ops; i++)
        json_object_array_add(params, json_object_get(json_object_array_get_idx(ops, i)));
    json_object_put(ops);
    json_object_object_add(msg, "method", jstr("transact"));
    json_object_object_add(msg, "params", params);
    json_object_object_add(msg, "id", json_object_new_int64(id));
    r = send_json(db, msg, deadline);
    if (r < 0)
        return ptap_error_set(err, r, EX_UNAVAILABLE, "cannot send to OVSDB: %s", strerror(-r));

    for (;;) {
        _cleanup_(json_object_putp) json_object *m = NULL;
        json_object *method, *rid, *res, *error;

        r = recv_json(db, deadline, &m);
        if (r < 0)
            return ptap_error_set(err, r, EX_UNAVAILABLE, "no valid reply from OVSDB: %s",
                                  r == -EBADMSG ? "malformed JSON" : strerror(-r));
        if (!json_object_is_type(m, json_type_object))
            return ptap_error_set(err, -EBADMSG, EX_PROTOCOL, "OVSDB sent a non-object");
        if (json_object_object_get_ex(m, "method", &method)) {
            /* A request of the server's: only "echo" needs an answer. */
            json_object *params_in = NULL;

            if (json_object_is_type(method, json_type_string) &&
                strcmp(json_object_get_string(method), "echo") == 0 &&
                json_object_object_get_ex(m, "id", &rid) &&
                json_object_object_get_ex(m, "params", &params_in)) {
                _cleanup_(json_object_putp) json_object *ans = json_object_new_object();

                json_object_object_add(ans, "id", json_object_get(rid));
                json_object_object_add(ans, "result", json_object_get(params_in));
                json_object_object_add(ans, "error", NULL);
                r = send_json(db, ans, deadline);
                if (r < 0)
                    return ptap_error_set(err, r, EX_UNAVAILABLE, "cannot answer OVSDB: %s",
                                          strerror(-r));
            }
            continue;
        }
        if (!json_object_object_get_ex(m, "id", &rid) || !json_object_is_type(rid, json_type_int) ||
            json_object_get_int64(rid) != id)
            continue; /* not ours (a late reply): skipped */
        if (json_object_object_get_ex(m, "error", &error) && error &&
            !json_object_is_type(error, json_type_null))
            return ptap_error_set(err, -EPROTO, EX_PROTOCOL, "OVSDB refused the request: %s",
                                  json_object_to_json_string_ext(error, JSON_C_TO_STRING_PLAIN));
        if (!json_object_object_get_ex(m, "result", &res) ||
            !json_object_is_type(res, json_type_array) || json_object_array_length(res) < n_ops)
            return ptap_error_set(err, -EBADMSG, EX_PROTOCOL, "OVSDB sent a malformed reply");
        for (size_t i = 0; i < json_object_array_length(res); i++) {
            json_object *o = json_object_array_get_idx(res, i), *e;

            if (!o || !json_object_is_type(o, json_type_object))
                return ptap_error_set(err, -EBADMSG, EX_PROTOCOL,
                                      "OVSDB sent a malformed reply (operation %zu)", i);
            if (json_object_object_get_ex(o, "error", &e) && e &&
                !json_object_is_type(e, json_type_null)) {
                *reply = TAKE_PTR(m);
                *results = res;
                *failed = i;
                return -EPROTO;
            }
        }
        *reply = TAKE_PTR(m);
        *results = res;
        return 0;
    }
}

/* Did transact() fail because the server refused operation *@failed? */
#define OP_FAILED(r, results) ((r) == -EPROTO && (results))

static const char *op_error(json_object *results, size_t i)
{
    json_object *o = json_object_array_get_idx(results, i), *e, *d;
    static char buf[256];

    if (!o || !json_object_object_get_ex(o, "error", &e) ||
        !json_object_is_type(e, json_type_string))
        return "unknown error";
    if (json_object_object_get_ex(o, "details", &d) && json_object_is_type(d, json_type_string))
        snprintf(buf, sizeof(buf), "%s (%s)", json_object_get_string(e), json_object_get_string(d));
    else
        snprintf(buf, sizeof(buf), "%s", json_object_get_string(e));
    return buf;
}

/* The rows of select result @i, or NULL when malformed. */
static json_object *rows_of(json_object *results, size_t i)
{
    json_object *o = json_object_array_get_idx(results, i), *rows;

    if (!o || !json_object_object_get_ex(o, "rows", &rows) ||
        !json_object_is_type(rows, json_type_array))
        return NULL;
    return rows;
}

/* ["uuid", "U"] -> "U" (checked), else NULL. */
static const char *uuid_of(json_object *v)
{
    json_object *tag, *u;

    if (!v || !json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2)
        return NULL;
    tag = json_object_array_get_idx(v, 0);
    u = json_object_array_get_idx(v, 1);
    if (!json_object_is_type(tag, json_type_string) || strcmp(json_object_get_string(tag), "uuid") ||
        !json_object_is_type(u, json_type_string) || !ptap_ovsdb_uuid_check(json_object_get_string(u)))
        return NULL;
    return json_object_get_string(u);
}

/* A column that holds a set: ["set", [...]] gives its elements, a single
 * value is a set of one. Returns the element count, or -1 (malformed);
 * *@elems is the array (or NULL with *@single set). */
static int set_of(json_object *v, json_object **elems, json_object **single)
{
    *elems = NULL;
    *single = NULL;
    if (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 2) {
        json_object *tag = json_object_array_get_idx(v, 0);

        if (json_object_is_type(tag, json_type_string) && strcmp(json_object_get_string(tag), "set") == 0) {
            json_object *a = json_object_array_get_idx(v, 1);

            if (!json_object_is_type(a, json_type_array))
                return -1;
            *elems = a;
            return (int) json_object_array_length(a);
        }
    }
    *single = v;
    return 1;
}

/* external_ids[@key] as a string, or NULL. */
static const char *map_get(json_object *v, const char *key)
{
    json_object *tag, *pairs;

    if (!v || !json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2)
        return NULL;
    tag = json_object_array_get_idx(v, 0);
    pairs = json_object_array_get_idx(v, 1);
    if (!json_object_is_type(tag, json_type_string) || strcmp(json_object_get_string(tag), "map") ||
        !json_object_is_type(pairs, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(pairs); i++) {
        json_object *p = json_object_array_get_idx(pairs, i), *k, *val;

        if (!json_object_is_type(p, json_type_array) || json_object_array_length(p) != 2)
            return NULL;
        k = json_object_array_get_idx(p, 0);
        val = json_object_array_get_idx(p, 1);
        if (json_object_is_type(k, json_type_string) && json_object_is_type(val, json_type_string) &&
            strcmp(json_object_get_string(k), key) == 0)
            return json_object_get_string(val);
    }
    return NULL;
}

static json_object *select_op(const char *table, json_object *where, const char *const *cols,
                              size_t n_cols)
{
    json_object *op = json_object_new_object();

    json_object_object_add(op, "op", jstr("select"));
    json_object_object_add(op, "table", jstr(table));
    json_object_object_add(op, "where", where ? where : json_object_new_array());
    json_object_object_add(op, "columns", columns(cols, n_cols));
    return op;
}

static json_object *comment_op(const char *text)
{
    json_object *op = json_object_new_object();

    json_object_object_add(op, "op", jstr("comment"));
    json_object_object_add(op, "comment", jstr(text));
    return op;
}

int ptap_ovsdb_bridge_get(ptap_ovsdb *db, const char *name, ptap_ovsdb_bridge *out,
                          ptap_error *err)
{
    static const char *const bcols[] = { "name" }, *const icols[] = { "mtu" };
    _cleanup_(json_object_putp) json_object *reply = NULL;
    json_object *ops = json_object_new_array(), *results = NULL, *rows;
    size_t failed = 0;
    int r;

    *out = (ptap_ovsdb_bridge) { 0 };
    if (ptap_ifname_check(name, false, NULL) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid bridge name '%s'", name);
    json_object_array_add(ops, select_op("Bridge", where_eq("name", jstr(name)), bcols, 1));
    json_object_array_add(ops, select_op("Interface", where_eq("name", jstr(name)), icols, 1));
    r = transact(db, ops, &reply, &results, &failed, err);
    if (OP_FAILED(r, results))
        return ptap_error_set(err, -EPROTO, EX_PROTOCOL, "OVSDB: cannot look up bridge '%s': %s",
                              name, op_error(results, failed));
    if (r < 0)
        return r;
    rows = rows_of(results, 0);
    if (!rows)
        return ptap_error_set(err, -EBADMSG, EX_PROTOCOL, "OVSDB sent a malformed reply");
    out->exists = json_object_array_length(rows) > 0;
    rows = rows_of(results, 1);
    if (rows && json_object_array_length(rows) == 1) {
        json_object *row = json_object_array_get_idx(rows, 0), *mtu, *elems, *single;

        if (json_object_is_type(row, json_type_object) &&
            json_object_object_get_ex(row, "mtu", &mtu) && set_of(mtu, &elems, &single) == 1) {
            json_object *v = single ? single : json_object_array_get_idx(elems, 0);

            if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= PTAP_MTU_MIN &&
                json_object_get_int64(v) <= PTAP_MTU_MAX)
                out->mtu = (unsigned) json_object_get_int64(v);
        }
    }
    return 0;
}

/* Every string that goes into a request of ptap_ovsdb_add_ports(). */
static int spec_check(const ptap_ovsdb_port_spec *s, const char **what)
{
    uint8_t mac[PTAP_MAC_LEN];

    if (ptap_ifname_check(s->name, false, NULL) < 0)
        return *what = "tap name", -EINVAL;
    if (!s->mark || !ptap_mark_is_mark(s->mark) || strlen(s->mark) >= PTAP_IFALIAS_MAX)
        return *what = "mark", -EINVAL;
    if (s->attached_mac && (ptap_mac_parse(s->attached_mac, mac, NULL) < 0 ||
                            strlen(s->attached_mac) != PTAP_MAC_STRLEN - 1))
        return *what = "MAC address", -EINVAL;
    if (!ptap_ovsdb_uuid_check(s->iface_id))
        return *what = "iface-id", -EINVAL;
    if (s->vm_uuid && !ptap_ovsdb_uuid_check(s->vm_uuid))
        return *what = "VM UUID", -EINVAL;
    return 0;
}

static json_object *wait_op(const char *table, json_object *where, const char *column,
                            json_object *rows)
{
    json_object *op = json_object_new_object();

    json_object_object_add(op, "op", jstr("wait"));
    json_object_object_add(op, "timeout", json_object_new_int(0));
    json_object_object_add(op, "table", jstr(table));
    json_object_object_add(op, "where", where);
    json_object_object_add(op, "columns", columns(&column, 1));
    json_object_object_add(op, "until", jstr("=="));
    json_object_object_add(op, "rows", rows);
    return op;
}

static json_object *map_add(json_object *pairs, const char *k, const char *v)
{
    if (v)
        json_object_array_add(pairs, jpair(jstr(k), jstr(v)));
    return pairs;
}

int ptap_ovsdb_add_ports(ptap_ovsdb *db, const char *bridge, const ptap_ovsdb_port_spec *specs,
                         size_t n, ptap_error *err)
{
    _cleanup_(json_object_putp) json_object *reply = NULL;
    json_object *ops, *results = NULL, *refs, *mut, *mutations, *one, *brow;
    const char *what;
    char comment[96];
    size_t failed = 0;
    int r;

    if (ptap_ifname_check(bridge, false, NULL) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid bridge name '%s'", bridge);
    for (size_t i = 0; i < n; i++)
        if (spec_check(&specs[i], &what) < 0)
            return ptap_error_set(err, -EINVAL, EX_SOFTWARE, "cannot add port '%s': invalid %s",
                                  specs[i].name ? specs[i].name : "?", what);
    if (n == 0)
        return 0;
    ops = json_object_new_array();
    /* 0: the bridge is there; 1..n: no port of each name is. */
    brow = json_object_new_object();
    json_object_object_add(brow, "name", jstr(bridge));
    one = json_object_new_array();
    json_object_array_add(one, brow);
    json_object_array_add(ops, wait_op("Bridge", where_eq("name", jstr(bridge)), "name", one));
    for (size_t i = 0; i < n; i++)
        json_object_array_add(ops, wait_op("Port", where_eq("name", jstr(specs[i].name)), "name",
                                           json_object_new_array()));
    refs = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        const ptap_ovsdb_port_spec *s = &specs[i];
        json_object *iface = json_object_new_object(), *port = json_object_new_object();
        json_object *ins = json_object_new_object(), *pins = json_object_new_object();
        json_object *ids = json_object_new_array(), *pids = json_object_new_array();
        char iname[32], pname[32];

        snprintf(iname, sizeof(iname), "iface%zu", i);
        snprintf(pname, sizeof(pname), "port%zu", i);
        /* external_ids as os-vif sets them, and ptap's mark. */
        map_add(ids, "attached-mac", s->attached_mac);
        map_add(ids, "iface-id", s->iface_id);
        map_add(ids, "iface-status", "active");
        map_add(ids, "vm-uuid", s->vm_uuid);
        map_add(ids, PTAP_OVSDB_MARK_KEY, s->mark);
        json_object_object_add(iface, "name", jstr(s->name));
        json_object_object_add(iface, "type", jstr(""));
        json_object_object_add(iface, "external_ids", jpair(jstr("map"), ids));
        json_object_object_add(ins, "op", jstr("insert"));
        json_object_object_add(ins, "table", jstr("Interface"));
        json_object_object_add(ins, "row", iface);
        json_object_object_add(ins, "uuid-name", jstr(iname));
        json_object_array_add(ops, ins);

        map_add(pids, PTAP_OVSDB_MARK_KEY, s->mark);
        json_object_object_add(port, "name", jstr(s->name));
        json_object_object_add(port, "interfaces", jpair(jstr("named-uuid"), jstr(iname)));
        json_object_object_add(port, "external_ids", jpair(jstr("map"), pids));
        json_object_object_add(pins, "op", jstr("insert"));
        json_object_object_add(pins, "table", jstr("Port"));
        json_object_object_add(pins, "row", port);
        json_object_object_add(pins, "uuid-name", jstr(pname));
        json_object_array_add(ops, pins);
        json_object_array_add(refs, jpair(jstr("named-uuid"), jstr(pname)));
    }
    mut = json_object_new_object();
    mutations = json_object_new_array();
    json_object_array_add(mutations, json_object_new_array());
    json_object *m0 = json_object_array_get_idx(mutations, 0);
    json_object_array_add(m0, jstr("ports"));
    json_object_array_add(m0, jstr("insert"));
    json_object_array_add(m0, jpair(jstr("set"), refs));
    json_object_object_add(mut, "op", jstr("mutate"));
    json_object_object_add(mut, "table", jstr("Bridge"));
    json_object_object_add(mut, "where", where_eq("name", jstr(bridge)));
    json_object_object_add(mut, "mutations", mutations);
    json_object_array_add(ops, mut);
    snprintf(comment, sizeof(comment), "ptap-helper: add %zu port%s to %s", n, n == 1 ? "" : "s",
             bridge);
    json_object_array_add(ops, comment_op(comment));

    r = transact(db, ops, &reply, &results, &failed, err);
    if (OP_FAILED(r, results)) {
        size_t i = failed;

        if (i == 0)
            return ptap_error_set(err, -ENOENT, EX_USAGE, "OVS bridge '%s' does not exist", bridge);
        if (i <= n)
            return ptap_error_set(err, -EEXIST, EX_OSERR,
                                  "OVS bridge '%s': a port named '%s' already exists", bridge,
                                  specs[i - 1].name);
        return ptap_error_set(err, -EPROTO, EX_PROTOCOL, "OVSDB refused to add %zu port%s to '%s': %s",
                              n, n == 1 ? "" : "s", bridge, op_error(results, i));
    }
    return r < 0 ? r : 0;
}

int ptap_ovsdb_set_guest(ptap_ovsdb *db, const char *name, const char *mark,
                         const char *attached_mac, const char *vm_uuid, ptap_error *err)
{
    _cleanup_(json_object_putp) json_object *reply = NULL;
    ptap_ovsdb_port_spec s = { .name = name, .mark = mark, .attached_mac = attached_mac,
                               .iface_id = "00000000-0000-4000-8000-000000000000",
                               .vm_uuid = vm_uuid };
    json_object *ops, *results = NULL, *where, *cond, *keys, *pairs, *del, *ins, *res;
    const char *what;
    size_t failed = 0;
    int r;

    if (spec_check(&s, &what) < 0)
        return ptap_error_set(err, -EINVAL, EX_SOFTWARE, "cannot describe port '%s': invalid %s",
                              name ? name : "?", what);
    /* where name == NAME and external_ids includes {ptap-mark: MARK} */
    where = where_eq("name", jstr(name));
    cond = json_object_new_array();
    json_object_array_add(cond, jstr("external_ids"));
    json_object_array_add(cond, jstr("includes"));
    json_object_array_add(cond, jpair(jstr("map"), map_add(json_object_new_array(),
                                                            PTAP_OVSDB_MARK_KEY, mark)));
    json_object_array_add(where, cond);
    keys = json_object_new_array();
    json_object_array_add(keys, jstr("attached-mac"));
    json_object_array_add(keys, jstr("vm-uuid"));
    del = json_object_new_array();
    json_object_array_add(del, jstr("external_ids"));
    json_object_array_add(del, jstr("delete"));
    json_object_array_add(del, jpair(jstr("set"), keys));
    pairs = map_add(map_add(json_object_new_array(), "attached-mac", attached_mac), "vm-uuid",
                    vm_uuid);
    ins = json_object_new_array();
    json_object_array_add(ins, jstr("external_ids"));
    json_object_array_add(ins, jstr("insert"));
    json_object_array_add(ins, jpair(jstr("map"), pairs));
    ops = json_object_new_array();
    for (int step = 0; step < 2; step++) {
        /* Two mutates of the same row: the old keys go, then the new ones
         * come (a map "insert" keeps a key that is already there). */
        json_object *mut = json_object_new_object(), *mutations = json_object_new_array();

        json_object_array_add(mutations, step == 0 ? del : ins);
        json_object_object_add(mut, "op", jstr("mutate"));
        json_object_object_add(mut, "table", jstr("Interface"));
        json_object_object_add(mut, "where", step == 0 ? json_object_get(where) : where);
        json_object_object_add(mut, "mutations", mutations);
        json_object_array_add(ops, mut);
    }
    json_object_array_add(ops, comment_op("ptap-helper: which guest a port serves"));
    r = transact(db, ops, &reply, &results, &failed, err);
    if (OP_FAILED(r, results))
        return ptap_error_set(err, -EPROTO, EX_PROTOCOL, "OVSDB refused to describe port '%s': %s",
                              name, op_error(results, failed));
    if (r < 0)
        return r;
    res = json_object_array_get_idx(results, 0);
    {
        json_object *count;

        if (!res || !json_object_object_get_ex(res, "count", &count) ||
            !json_object_is_type(count, json_type_int))
            return ptap_error_set(err, -EBADMSG, EX_PROTOCOL, "OVSDB sent a malformed reply");
        if (json_object_get_int64(count) != 1)
            return ptap_error_set(err, -ENOENT, EX_USAGE,
                                  "tap '%s' has no Open vSwitch port carrying its mark", name);
    }
    return 0;
}

void ptap_ovsdb_view_clear(ptap_ovsdb_view *v)
{
    free(v->bridges);
    free(v->ports);
    *v = (ptap_ovsdb_view) { 0 };
}

bool ptap_ovsdb_view_is_bridge(const ptap_ovsdb_view *v, const char *name)
{
    for (size_t i = 0; v && i < v->n_bridges; i++)
        if (strcmp(v->bridges[i], name) == 0)
            return true;
    return false;
}

const ptap_ovsdb_port *ptap_ovsdb_view_port(const ptap_ovsdb_view *v, const char *name)
{
    for (size_t i = 0; v && i < v->n_ports; i++)
        if (strcmp(v->ports[i].name, name) == 0)
            return &v->ports[i];
    return NULL;
}

/* A string column of @row into @buf, checked as an interface name. */
static bool name_of(json_object *row, char buf[IFNAMSIZ])
{
    json_object *v;

    if (!json_object_object_get_ex(row, "name", &v) || !json_object_is_type(v, json_type_string) ||
        ptap_ifname_check(json_object_get_string(v), false, NULL) < 0)
        return false;
    snprintf(buf, IFNAMSIZ, "%s", json_object_get_string(v));
    return true;
}

int ptap_ovsdb_view_load(ptap_ovsdb *db, ptap_ovsdb_view *out, ptap_error *err)
{
    static const char *const pcols[] = { "_uuid", "name", "external_ids" },
                             *const bcols[] = { "_uuid", "name", "ports" };
    _cleanup_(json_object_putp) json_object *reply = NULL;
    json_object *ops = json_object_new_array(), *results = NULL, *prows, *brows;
    ptap_ovsdb_view v = { 0 };
    size_t failed = 0;
    int r;

    *out = (ptap_ovsdb_view) { 0 };
    json_object_array_add(ops, select_op("Port", NULL, pcols, 3));
    json_object_array_add(ops, select_op("Bridge", NULL, bcols, 3));
    r = transact(db, ops, &reply, &results, &failed, err);
    if (OP_FAILED(r, results))
        return ptap_error_set(err, -EPROTO, EX_PROTOCOL, "OVSDB: cannot list ports: %s",
                              op_error(results, failed));
    if (r < 0)
        return r;
    prows = rows_of(results, 0);
    brows = rows_of(results, 1);
    if (!prows || !brows)
        return ptap_error_set(err, -EBADMSG, EX_PROTOCOL, "OVSDB sent a malformed reply");
    v.bridges = calloc(json_object_array_length(brows) + 1, sizeof(*v.bridges));
    v.ports = calloc(json_object_array_length(prows) + 1, sizeof(*v.ports));
    if (!v.bridges || !v.ports) {
        ptap_ovsdb_view_clear(&v);
        return -ENOMEM;
    }
    for (size_t i = 0; i < json_object_array_length(prows); i++) {
        json_object *row = json_object_array_get_idx(prows, i), *ids, *u;
        ptap_ovsdb_port *p = &v.ports[v.n_ports];
        const char *mark, *uuid;

        if (!json_object_is_type(row, json_type_object) || !name_of(row, p->name) ||
            !json_object_object_get_ex(row, "external_ids", &ids) ||
            !json_object_object_get_ex(row, "_uuid", &u) || !(uuid = uuid_of(u)))
            continue;
        mark = map_get(ids, PTAP_OVSDB_MARK_KEY);
        if (!mark || !ptap_mark_is_mark(mark) || strlen(mark) >= sizeof(p->mark))
            continue; /* not ptap's: never touched */
        snprintf(p->mark, sizeof(p->mark), "%s", mark);
        snprintf(p->uuid, sizeof(p->uuid), "%s", uuid);
        v.n_ports++;
    }
    for (size_t i = 0; i < json_object_array_length(brows); i++) {
        json_object *row = json_object_array_get_idx(brows, i), *u, *ports, *elems, *single;
        const char *buuid;
        int k;

        if (!json_object_is_type(row, json_type_object) || !name_of(row, v.bridges[v.n_bridges]) ||
            !json_object_object_get_ex(row, "_uuid", &u) || !(buuid = uuid_of(u)) ||
            !json_object_object_get_ex(row, "ports", &ports))
            continue;
        k = set_of(ports, &elems, &single);
        for (int e = 0; e < k; e++) {
            const char *pu = uuid_of(single ? single : json_object_array_get_idx(elems, (size_t) e));

            for (size_t m = 0; pu && m < v.n_ports; m++)
                if (strcmp(v.ports[m].uuid, pu) == 0) {
                    snprintf(v.ports[m].bridge, sizeof(v.ports[m].bridge), "%s",
                             v.bridges[v.n_bridges]);
                    snprintf(v.ports[m].bridge_uuid, sizeof(v.ports[m].bridge_uuid), "%s", buuid);
                }
        }
        v.n_bridges++;
    }
    *out = v;
    return 0;
}

int ptap_ovsdb_delete_ports(ptap_ovsdb *db, const ptap_ovsdb_port *const *ports, size_t n,
                            ptap_error *err)
{
    _cleanup_(json_object_putp) json_object *reply = NULL;
    json_object *ops, *results = NULL;
    size_t k = 0, failed = 0;
    char comment[96];
    int r;

    ops = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *mut, *mutations, *m0, *set;

        if (!ptap_ovsdb_uuid_check(ports[i]->uuid) || !ptap_ovsdb_uuid_check(ports[i]->bridge_uuid))
            continue; /* held by no bridge: the database drops it by itself */
        set = json_object_new_array();
        json_object_array_add(set, jpair(jstr("uuid"), jstr(ports[i]->uuid)));
        m0 = json_object_new_array();
        json_object_array_add(m0, jstr("ports"));
        json_object_array_add(m0, jstr("delete"));
        json_object_array_add(m0, jpair(jstr("set"), set));
        mutations = json_object_new_array();
        json_object_array_add(mutations, m0);
        mut = json_object_new_object();
        json_object_object_add(mut, "op", jstr("mutate"));
        json_object_object_add(mut, "table", jstr("Bridge"));
        json_object_object_add(mut, "where",
                               where_eq("_uuid", jpair(jstr("uuid"), jstr(ports[i]->bridge_uuid))));
        json_object_object_add(mut, "mutations", mutations);
        json_object_array_add(ops, mut);
        k++;
    }
    if (k == 0) {
        json_object_put(ops);
        return 0;
    }
    snprintf(comment, sizeof(comment), "ptap-helper: delete %zu port%s", k, k == 1 ? "" : "s");
    json_object_array_add(ops, comment_op(comment));
    r = transact(db, ops, &reply, &results, &failed, err);
    if (OP_FAILED(r, results))
        return ptap_error_set(err, -EPROTO, EX_PROTOCOL, "OVSDB refused to delete %zu port%s: %s",
                              k, k == 1 ? "" : "s", op_error(results, failed));
    return r < 0 ? r : 0;
}
