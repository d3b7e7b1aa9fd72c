/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli.c: what every subcommand of ptap shares: messages and exit codes,
 * opening the journal, users and groups, JSON output.
 *
 * JSON output is one document per run: commands add their members to
 * cli_doc(), cli_run() prints it through cli_finish(), with an "error"
 * member when the command failed. Every message cli_err() prints is kept
 * for that error member: the last one is the one at the top.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "consumer.h"
#include "helperexec.h"
#include "validate.h"

/* The last message printed: the "message" of a JSON error. */
static char last_msg[PTAP_ERROR_MAX + 256];

int cli_err(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "ptap: %s\n", last_msg);
    return code;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "ptap%s%s: %s\nTry 'ptap%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "",
            last_msg, cmd ? " " : "", cmd ? cmd : "");
    return EX_USAGE;
}

int cli_fail(const ptap_error *err, int r, const char *what)
{
    if (err && err->code) {
        cli_err(0, "%s", err->msg);
        return ptap_error_exit_code(err);
    }
    ptap_error e = { 0 };
    ptap_error_set(&e, r, 0, "%s: %s", what, strerror(-r));
    cli_err(0, "%s", e.msg);
    return ptap_error_exit_code(&e);
}

/* Does the directory that would hold state dir @dir exist? (A reader
 * treats a missing journal as empty only where a writer could create it.) */
static bool parent_exists(const char *dir)
{
    char parent[4096];
    char *slash;
    struct stat st;

    snprintf(parent, sizeof(parent), "%s", dir);
    while ((slash = strrchr(parent, '/')) && slash[1] == '\0' && slash != parent)
        *slash = '\0'; /* trailing slashes */
    slash = strrchr(parent, '/');
    if (!slash)
        return true; /* relative, in the current directory */
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    return stat(parent, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The lock is taken: say who holds it, once, while waiting. */
static void lock_notice(const char *path, const char *holder, void *userdata)
{
    const unsigned *wait_s = userdata;

    cli_err(0, "waiting for journal '%s': locked by %s (giving up after %u s; --wait SECONDS)",
            path, holder, *wait_s);
}

#define STATE_DIR_MAX 4096

/* The state directory in @dir (STATE_DIR_MAX bytes), as --state-dir or the
 * default says; @quiet: no message. Returns an exit code. */
static int journal_dir(cli *c, char dir[STATE_DIR_MAX], bool quiet)
{
    int r;

    if (c->state_dir) {
        /* Validate, never truncate: a cut path may name another directory. */
        if (strlen(c->state_dir) >= STATE_DIR_MAX)
            return quiet ? EX_USAGE
                         : cli_err(EX_USAGE, "invalid --state-dir '%.32s...': longer than %d bytes",
                                   c->state_dir, STATE_DIR_MAX - 1);
        snprintf(dir, STATE_DIR_MAX, "%s", c->state_dir);
        return EX_OK;
    }
    r = ptap_journal_default_dir(dir, STATE_DIR_MAX);
    if (r == -ENAMETOOLONG)
        return quiet ? EX_CONFIG
                     : cli_err(EX_CONFIG, "XDG_RUNTIME_DIR is too long (use --state-dir DIR)");
    if (r < 0)
        return quiet ? EX_CONFIG
                     : cli_err(EX_CONFIG, "no state directory: XDG_RUNTIME_DIR is not set (use "
                                          "--state-dir DIR)");
    return EX_OK;
}

void cli_journal_stamp(cli *c, ptap_journal_stamp *s)
{
    char dir[STATE_DIR_MAX];

    *s = (ptap_journal_stamp) { 0 };
    if (journal_dir(c, dir, true) == EX_OK)
        ptap_journal_stamp_take(dir, s);
}

int cli_open_journal_prestarted(cli *c, const ptap_journal_stamp *before, ptap_journal **ret)
{
    int ex = cli_open_journal(c, true, ret);

    if (ex == EX_OK && ptap_journal_changed_since(*ret, before))
        ptap_helper_prestart_drop();
    return ex;
}

int cli_open_journal(cli *c, bool write, ptap_journal **ret)
{
    ptap_error err = { 0 };
    unsigned wait_s = c->wait_given ? c->wait_s : CLI_WAIT_DEFAULT_S;
    ptap_journal_wait wait = {
        .timeout_ms = wait_s * 1000,
        .notice_ms = 1000,
        .notice = lock_notice,
        .userdata = &wait_s,
    };
    char dir[STATE_DIR_MAX];
    int r;

    r = journal_dir(c, dir, false);
    if (r != EX_OK)
        return r;
    r = ptap_journal_open_wait(dir, write ? PTAP_JOURNAL_CREATE : PTAP_JOURNAL_READONLY, &wait,
                               ret, &err);
    /* Another ptap holds the lock (stopped, or just slow): name it. */
    if (r == -EWOULDBLOCK)
        return cli_err(EX_TEMPFAIL, "%s%s", *err.msg ? err.msg : "the journal is locked",
                       wait_s ? " (--wait SECONDS waits longer)" : "");
    if (r == -ENOENT && !write && parent_exists(dir)) {
        /* Nothing on record yet: read an empty journal, without creating
         * one (a reader never writes). Its id matches no tap's mark. */
        static const char empty[] =
            "<ptap-journal version=\"1\" id=\"0000000000000000\" next-seq=\"1\">\n";
        return ptap_journal_load_buffer(empty, sizeof(empty) - 1, ret, NULL) < 0
                   ? cli_err(EX_OSERR, "cannot read an empty journal")
                   : EX_OK;
    }
    if (r == -EPERM || r == -ELOOP)
        return cli_err(EX_CONFIG,
                       "refusing state directory '%s': it or its journal is a symlink or "
                       "belongs to another user",
                       dir);
    /* Say what is wrong and where: even 'ptap journal check' stops here. */
    if (r == -EBADMSG || r == -EPROTONOSUPPORT)
        return cli_err(EX_CONFIG, "journal in '%s' is %s: %s", dir,
                       r == -EBADMSG ? "damaged" : "of an unknown format version",
                       *err.msg ? err.msg : strerror(-r));
    /* Only the last component of a state directory is created: a missing
     * parent is a bad --state-dir (or XDG_RUNTIME_DIR), not a system error. */
    if (r == -ENOENT || r == -ENOTDIR)
        return cli_err(EX_CONFIG, "cannot open journal in '%s': %s%s", dir, strerror(-r),
                       r == -ENOENT ? " (its parent directory must exist)" : "");
    if (r < 0)
        return cli_err(r == -EACCES ? EX_NOPERM : EX_OSERR, "cannot open journal in '%s': %s",
                       dir, strerror(-r));
    return EX_OK;
}

/* The document of this run (cli_doc), printed by cli_finish. */
static json_object *doc;

json_object *cli_doc(const ptap_journal *j)
{
    if (!doc) {
        doc = json_object_new_object();
        json_object_object_add(doc, "version", json_object_new_int(CLI_JSON_VERSION));
        json_object_object_add(doc, "command", NULL);
        json_object_object_add(doc, "journal", NULL);
    }
    /* No journal file yet (a reader's empty journal): no id to name. */
    if (j && strcmp(ptap_journal_path(j), "(memory)") != 0)
        json_object_object_add(doc, "journal", json_object_new_string(ptap_journal_id(j)));
    return doc;
}

int cli_finish(const cli *c, const char *name, int ex)
{
    json_object *d;

    if (!c->json) {
        json_object_put(TAKE_PTR(doc));
        return ex;
    }
    d = cli_doc(NULL);
    if (!json_object_object_get(d, "command")) /* else the command said (journal dump) */
        json_object_object_add(d, "command", name ? json_object_new_string(name) : NULL);
    if (ex != EX_OK && ex != CLI_EX_PROBLEMS) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "code", json_object_new_int(ex));
        json_object_object_add(e, "message", json_object_new_string(*last_msg ? last_msg : "failed"));
        json_object_object_add(d, "error", e);
    }
    puts(json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    fflush(stdout);
    json_object_put(TAKE_PTR(doc));
    return ex;
}

/* The last id looked up and its name ("" for none): a list of ten
 * thousand records has few owners, and NSS is slow. */
typedef struct name_cache {
    bool valid;
    unsigned id;
    char name[256];
} name_cache;

static const char *cached(const name_cache *nc, char *buf, size_t len)
{
    if (!*nc->name || strlen(nc->name) >= len)
        return NULL;
    memcpy(buf, nc->name, strlen(nc->name) + 1);
    return buf;
}

const char *cli_user_name(uid_t uid, char *buf, size_t len)
{
    static name_cache nc;
    struct passwd pw, *p = NULL;
    char tmp[4096];

    if (uid == (uid_t) -1)
        return NULL;
    if (!nc.valid || nc.id != (unsigned) uid) {
        nc = (name_cache) { .valid = true, .id = (unsigned) uid };
        if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &p) == 0 && p && strlen(p->pw_name) < sizeof(nc.name))
            memcpy(nc.name, p->pw_name, strlen(p->pw_name) + 1);
    }
    return cached(&nc, buf, len);
}

const char *cli_group_name(gid_t gid, char *buf, size_t len)
{
    static name_cache nc;
    struct group gr, *g = NULL;
    char tmp[4096];

    if (gid == (gid_t) -1)
        return NULL;
    if (!nc.valid || nc.id != (unsigned) gid) {
        nc = (name_cache) { .valid = true, .id = (unsigned) gid };
        if (getgrgid_r(gid, &gr, tmp, sizeof(tmp), &g) == 0 && g && strlen(g->gr_name) < sizeof(nc.name))
            memcpy(nc.name, g->gr_name, strlen(g->gr_name) + 1);
    }
    return cached(&nc, buf, len);
}

int cli_check_target(const char *cmd, const char *target)
{
    size_t n = strspn(target, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

    /* "word:" is a scheme (RFC 3986's letters); a libvirt domain whose name
     * looks like one is named by its UUID instead. */
    if (n == 0 || target[n] != ':' || ptap_target_is_monitor(target))
        return EX_OK;
    return cli_usage_error(cmd, "unknown TARGET scheme '%.*s:' in '%s': expected qmp:PATH, hmp:PATH "
                           "or a libvirt domain name or UUID", (int) n, target, target);
}

int cli_parse_owner(const char *s, uid_t *ret)
{
    int r = ptap_parse_user(s, ret);

    if (r == -ENOENT)
        return cli_err(EX_USAGE, "unknown user '%s'", s);
    if (r < 0)
        return cli_err(EX_USAGE, "invalid user '%s'", s);
    return EX_OK;
}

int cli_parse_group(const char *s, gid_t *ret)
{
    int r = ptap_parse_group(s, ret);

    if (r == -ENOENT)
        return cli_err(EX_USAGE, "unknown group '%s'", s);
    if (r < 0)
        return cli_err(EX_USAGE, "invalid group '%s'", s);
    return EX_OK;
}

json_object *cli_netns_json(const ptap_netns *ns)
{
    json_object *o;
    char id[PTAP_NETNS_ID_MAX];

    if (!ptap_netns_known(ns))
        return NULL;
    o = json_object_new_object();
    ptap_netns_format_id(ns, id, sizeof(id));
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "name", *ns->name ? json_object_new_string(ns->name) : NULL);
    return o;
}

/* "qmp:PATH", "hmp:PATH": a consumer's target as TARGET names it. */
static json_object *target_json(const ptap_consumer *k)
{
    char t[PTAP_CONSUMER_TARGET_MAX + 8];

    if (k->kind == PTAP_CONSUMER_LIBVIRT || !*k->target)
        return *k->target ? json_object_new_string(k->target) : NULL;
    snprintf(t, sizeof(t), "%s:%s", k->kind == PTAP_CONSUMER_QMP ? "qmp" : "hmp", k->target);
    return json_object_new_string(t);
}

static json_object *consumer_json(const ptap_consumer *k)
{
    bool lv = k->kind == PTAP_CONSUMER_LIBVIRT;
    json_object *co;

    if (k->kind == PTAP_CONSUMER_NONE)
        return NULL;
    co = json_object_new_object();
    json_object_object_add(co, "kind", json_object_new_string(ptap_consumer_kind_to_string(k->kind)));
    json_object_object_add(co, "external", json_object_new_boolean(false)); /* attached by ptap */
    json_object_object_add(co, "target", target_json(k));
    json_object_object_add(co, "name", *k->name ? json_object_new_string(k->name) : NULL);
    json_object_object_add(co, "domain", lv && *k->name ? json_object_new_string(k->name) : NULL);
    json_object_object_add(co, "uuid", lv && *k->target ? json_object_new_string(k->target) : NULL);
    json_object_object_add(co, "uri", lv && *k->uri ? json_object_new_string(k->uri) : NULL);
    json_object_object_add(co, "pid", k->pid ? json_object_new_int(k->pid) : NULL);
    json_object_object_add(co, "command", NULL);
    json_object_object_add(co, "uid", NULL);
    json_object_object_add(co, "description", NULL);
    json_object_object_add(co, "netdev_id", *k->netdev_id ? json_object_new_string(k->netdev_id) : NULL);
    json_object_object_add(co, "device_id", *k->device_id ? json_object_new_string(k->device_id) : NULL);
    json_object_object_add(co, "model", *k->model ? json_object_new_string(k->model) : NULL);
    json_object_object_add(co, "mac", *k->mac ? json_object_new_string(k->mac) : NULL);
    json_object_object_add(co, "bus", *k->bus ? json_object_new_string(k->bus) : NULL);
    return co;
}

static json_object *string_or_null(const char *s)
{
    return s && *s ? json_object_new_string(s) : NULL;
}

/* A holder of the tap that ptap did not attach (derived from /proc). */
static json_object *holder_json(const ptap_holder *h)
{
    json_object *co = json_object_new_object();
    bool lv = h->kind == PTAP_HOLDER_LIBVIRT, seen = h->kind != PTAP_HOLDER_UNSEEN;
    char who[PTAP_HOLDER_DESCRIBE_MAX];

    ptap_holder_describe(h, who, sizeof(who));
    json_object_object_add(co, "kind", json_object_new_string(ptap_holder_kind_to_string(h->kind)));
    json_object_object_add(co, "external", json_object_new_boolean(true));
    json_object_object_add(co, "target", lv ? string_or_null(*h->uuid ? h->uuid : h->domain) : NULL);
    json_object_object_add(co, "name", lv ? string_or_null(h->domain) : NULL);
    json_object_object_add(co, "domain", lv ? string_or_null(h->domain) : NULL);
    json_object_object_add(co, "uuid", lv ? string_or_null(h->uuid) : NULL);
    json_object_object_add(co, "uri", lv ? string_or_null(h->uri) : NULL);
    json_object_object_add(co, "pid", seen ? json_object_new_int(h->pid) : NULL);
    json_object_object_add(co, "command", seen ? string_or_null(h->command) : NULL);
    json_object_object_add(co, "uid", seen ? json_object_new_int64(h->uid) : NULL);
    json_object_object_add(co, "description", json_object_new_string(who));
    json_object_object_add(co, "netdev_id", NULL);
    json_object_object_add(co, "device_id", NULL);
    json_object_object_add(co, "model", NULL);
    json_object_object_add(co, "mac", NULL);
    json_object_object_add(co, "bus", NULL);
    return co;
}

json_object *cli_record_json(const ptap_journal *j, const cli_tap *t)
{
    json_object *o = json_object_new_object(), *ns;
    const ptap_record *rec = t->rec;
    const ptap_kdev *d = t->in_kernel > 0 ? t->dev : NULL;
    char owner[256], group[256];

    /* One key per line, null when unknown: a new field is one more line. */
    json_object_object_add(o, "name", json_object_new_string(rec->name));
    json_object_object_add(o, "journal", json_object_new_string(ptap_journal_id(j)));
    json_object_object_add(o, "state", t->orphan ? NULL : json_object_new_string(ptap_state_to_string(rec->state)));
    json_object_object_add(o, "ifindex", rec->ifindex ? json_object_new_int(rec->ifindex)
                                         : d ? json_object_new_int(d->ifindex) : NULL);
    json_object_object_add(o, "owner", string_or_null(cli_user_name(rec->owner, owner, sizeof(owner))));
    json_object_object_add(o, "uid", rec->owner == (uid_t) -1 ? NULL : json_object_new_int64(rec->owner));
    json_object_object_add(o, "group", string_or_null(cli_group_name(rec->group, group, sizeof(group))));
    json_object_object_add(o, "gid", rec->group == (gid_t) -1 ? NULL : json_object_new_int64(rec->group));
    json_object_object_add(o, "bridge", string_or_null(rec->bridge));
    json_object_object_add(o, "network", string_or_null(rec->network)); /* the libvirt network it came from */
    /* On an Open vSwitch bridge: is its port row there? (null: not on one,
     * or not known) */
    json_object_object_add(o, "ovs_port", t->ovs_port ? json_object_new_boolean(t->ovs_port > 0) : NULL);
    json_object_object_add(o, "mac", string_or_null(rec->mac)); /* the tap's own; the guest's: consumer.mac */
    json_object_object_add(o, "mtu", d && d->mtu ? json_object_new_int((int) d->mtu)
                                     : rec->mtu ? json_object_new_int((int) rec->mtu) : NULL);
    json_object_object_add(o, "multi_queue", json_object_new_boolean(!!(rec->flags & PTAP_TAP_MULTI_QUEUE)));
    json_object_object_add(o, "queues", d ? json_object_new_int((int) d->queues) : NULL);
    json_object_object_add(o, "vnet_hdr", json_object_new_boolean(!!(rec->flags & PTAP_TAP_VNET_HDR)));
    /* A pool tap (create) stays in the pool when its guest goes; one made
     * by attach goes with it. */
    json_object_object_add(o, "pool", json_object_new_boolean(!t->orphan && !(rec->flags & PTAP_TAP_EPHEMERAL)));
    if (rec->consumer.kind == PTAP_CONSUMER_NONE && t->holder && t->holder->kind != PTAP_HOLDER_NONE)
        json_object_object_add(o, "consumer", holder_json(t->holder));
    else
        json_object_object_add(o, "consumer", consumer_json(&rec->consumer));
    json_object_object_add(o, "created", rec->created ? json_object_new_int64(rec->created) : NULL);
    json_object_object_add(o, "updated", rec->updated ? json_object_new_int64(rec->updated) : NULL);
    ns = cli_netns_json(&rec->netns);
    if (ns)
        json_object_object_add(ns, "current", t->self ? json_object_new_boolean(ptap_netns_equal(&rec->netns, t->self)) : NULL);
    json_object_object_add(o, "netns", ns);
    json_object_object_add(o, "in_kernel", t->in_kernel < 0 ? NULL : json_object_new_boolean(t->in_kernel));
    json_object_object_add(o, "carrier", d ? json_object_new_boolean(d->carrier) : NULL);
    json_object_object_add(o, "problem", string_or_null(t->problem));
    return o;
}

void cli_tap_find(ptap_kviews *w, const char *jid, const ptap_record *rec, cli_tap *t)
{
    ptap_nsview *v = ptap_kviews_of(w, rec);

    *t = (cli_tap) { .rec = rec, .in_kernel = -1, .self = &w->self };
    if (!v || (v->judge != PTAP_NETNS_JUDGE_HERE && v->judge != PTAP_NETNS_JUDGE_ENTER))
        return;
    t->dev = ptap_kview_find(&v->kv, rec->name);
    if (t->dev && !ptap_kdev_is_record(t->dev, jid, rec))
        t->dev = NULL;
    t->in_kernel = t->dev != NULL;
}

json_object *cli_action_json(const ptap_journal *j, const ptap_record *snap, size_t n_snap,
                             const cli_action *a)
{
    ptap_record buf, stand_in = { .owner = (uid_t) -1, .group = (gid_t) -1 };
    const ptap_record *rec = cli_record_after(j, snap, n_snap, a->name, &buf);
    cli_tap t = { .rec = rec, .in_kernel = -1, .self = a->self };
    json_object *o;

    if (!rec) { /* an orphan, or a tap never on record: no record, before or after */
        snprintf(stand_in.name, sizeof(stand_in.name), "%s", a->name);
        if (a->netns)
            stand_in.netns = *a->netns;
        t.rec = &stand_in;
        t.orphan = true;
    }
    o = cli_record_json(j, &t);
    json_object_object_add(o, "action", json_object_new_string(a->action));
    json_object_object_add(o, "state_before", string_or_null(a->state_before));
    json_object_object_add(o, "reason", json_object_new_string(a->reason));
    json_object_object_add(o, "done", json_object_new_boolean(a->done));
    return o;
}

json_object *cli_record_plain(const ptap_journal *j, const ptap_record *rec)
{
    return cli_record_json(j, &(cli_tap) { .rec = rec, .in_kernel = -1 });
}

ptap_record *cli_snapshot(const ptap_journal *j, char *const *names, size_t n_names, size_t *n)
{
    size_t count = names ? n_names : ptap_journal_count(j), k = 0;
    ptap_record *snap = calloc(count ? count : 1, sizeof(*snap));

    if (!snap)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        const ptap_record *rec = names ? ptap_journal_find(j, names[i]) : ptap_journal_get(j, i);

        if (rec && (!names || strcmp(rec->name, names[i]) == 0))
            snap[k++] = *rec;
    }
    *n = k;
    return snap;
}

const ptap_record *cli_record_after(const ptap_journal *j, const ptap_record *snap, size_t n,
                                    const char *name, ptap_record *buf)
{
    const ptap_record *rec = ptap_journal_find(j, name);

    if (rec && strcmp(rec->name, name) == 0)
        return rec;
    for (size_t i = 0; i < n; i++)
        if (strcmp(snap[i].name, name) == 0) {
            *buf = snap[i];
            buf->state = PTAP_STATE_DESTROYED;
            return buf;
        }
    return NULL;
}
