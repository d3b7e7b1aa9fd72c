/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap create / destroy / forget / list: the pool of taps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "helperexec.h"
#include "kview.h"
#include "pool.h"
#include "validate.h"
#include "virt.h"

/* ---- create ---- */

enum {
    CREATE_COUNT,
    CREATE_OWNER,
    CREATE_GROUP,
    CREATE_BRIDGE,
    CREATE_NETWORK,
    CREATE_CONNECT,
    CREATE_MTU,
    CREATE_MAC,
    CREATE_MULTI_QUEUE,
    CREATE_VNET_HDR,
};

static const cli_option create_options[] = {
    [CREATE_COUNT] = CLI_NUMBER("count", "N", "how many taps; more than one needs a TEMPLATE ending in %d",
                                1, PTAP_COUNT_MAX, NULL),
    [CREATE_OWNER] = CLI_VALUE("owner", "U", "the user who may open them, name or uid; by default you"),
    [CREATE_GROUP] = CLI_VALUE("group", "G", "the group that may open them, name or gid; by default none"),
    [CREATE_BRIDGE] = CLI_VALUE("bridge", "BR", "enslave them to bridge BR"),
    [CREATE_NETWORK] = CLI_VALUE("network", "NAME",
                                 "enslave them to the bridge of active libvirt network NAME"),
    [CREATE_CONNECT] = CLI_VALUE("connect", "URI",
                                 "--network: the libvirt connection (default "
                                 "$LIBVIRT_DEFAULT_URI, else qemu:///system for root, "
                                 "qemu:///session otherwise)"),
    [CREATE_MTU] = CLI_NUMBER("mtu", "N", "their MTU, by default the bridge's", PTAP_MTU_MIN,
                              PTAP_MTU_MAX, NULL),
    [CREATE_MAC] = CLI_VALUE("mac", "MAC", "the tap's own MAC address (one tap only)"),
    [CREATE_MULTI_QUEUE] = CLI_FLAG("multi-queue", "multi-queue taps (IFF_MULTI_QUEUE)"),
    [CREATE_VNET_HDR] = CLI_FLAG("vnet-hdr", "taps with a virtio-net header (IFF_VNET_HDR)"),
    {},
};

/* The created taps as JSON records, the kernel's view of them beside. */
static void created_json(const ptap_journal *j, char **names)
{
    _cleanup_(ptap_kviews_clear) ptap_kviews w = { 0 };
    json_object *arr = json_object_new_array();
    size_t n = 0;
    bool looked;

    while (names[n])
        n++;
    looked = ptap_kviews_init(&w, names, n, NULL) == 0;
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_find(j, names[i]);
        ptap_record stand_in = { 0 };
        cli_tap t = { .in_kernel = -1 };

        if (!rec || strcmp(rec->name, names[i]) != 0) { /* cannot happen: say what we know */
            snprintf(stand_in.name, sizeof(stand_in.name), "%s", names[i]);
            stand_in.state = PTAP_STATE_READY;
            stand_in.owner = (uid_t) -1;
            stand_in.group = (gid_t) -1;
            rec = &stand_in;
        }
        if (looked)
            cli_tap_find(&w, ptap_journal_id(j), rec, &t);
        t.rec = rec;
        json_object_array_add(arr, cli_record_json(j, &t));
    }
    json_object_object_add(cli_doc(j), "records", arr);
}

static int run_create(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_create_spec spec = {
        .name = "ptap%d",
        .count = a->value[CREATE_COUNT] ? (unsigned) a->num[CREATE_COUNT] : 1,
        .bridge = a->value[CREATE_BRIDGE],
        .mtu = (unsigned) a->num[CREATE_MTU],
        .mac = a->value[CREATE_MAC],
        .multi_queue = cli_flag(a, CREATE_MULTI_QUEUE),
        .vnet_hdr = cli_flag(a, CREATE_VNET_HDR),
    };
    uid_t owner = getuid();
    gid_t group = (gid_t) -1;
    ptap_error err = { 0 };
    char **names = NULL;
    char owner_s[32], group_s[32];
    ptap_virt_network vnet;
    int ex, r;

    if (a->value[CREATE_OWNER] && (ex = cli_parse_owner(a->value[CREATE_OWNER], &owner)) != EX_OK)
        return ex;
    if (a->value[CREATE_GROUP] && (ex = cli_parse_group(a->value[CREATE_GROUP], &group)) != EX_OK)
        return ex;
    if (a->argc > 1)
        return cli_usage_error("create", "expected at most one TEMPLATE");
    if (a->argc == 1)
        spec.name = a->argv[0];
    if (a->value[CREATE_BRIDGE] && a->value[CREATE_NETWORK])
        return cli_usage_error("create", "--bridge and --network are mutually exclusive");
    if (a->value[CREATE_CONNECT] && !a->value[CREATE_NETWORK])
        return cli_usage_error("create", "--connect applies to --network only");
    /* Hand the helper numeric ids: what the journal records is what it checks. */
    snprintf(owner_s, sizeof(owner_s), "%u", (unsigned) owner);
    spec.owner = owner_s;
    if (a->value[CREATE_GROUP]) {
        snprintf(group_s, sizeof(group_s), "%u", (unsigned) group);
        spec.group = group_s;
    }
    if (a->value[CREATE_NETWORK]) {
        /* Asked before the journal is locked: libvirt may take its time. */
        r = ptap_virt_network_resolve(a->value[CREATE_CONNECT], a->value[CREATE_NETWORK], &vnet,
                                      &err);
        if (r < 0)
            return cli_fail(&err, r, "cannot create taps");
        spec.bridge = vnet.bridge;
        spec.network = vnet.name;
    }
    /* The helper starts and checks while the journal is read and the
     * intent written (it acts on ptap_pool_create()'s go). */
    (void) ptap_helper_prestart_create(&spec);
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_pool_create(j, &spec, owner, group, &names, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot create taps");
    if (c->json) {
        created_json(j, names);
    } else {
        for (char **p = names; *p; p++)
            puts(*p);
    }
    ptap_strv_free(names);
    return EX_OK;
}

const cli_command cli_cmd_create = {
    .name = "create",
    .synopsis = "[TEMPLATE] [--count N] [--owner U] [--group G] [--bridge BR | --network NAME "
                "[--connect URI]] [--mtu N] "
                "[--mac MAC] [--multi-queue] [--vnet-hdr] [--json]",
    .summary = "make ready taps in one helper run, print their names",
    .details = "TEMPLATE is a tap name (default ptap%d); one ending in %d lets the kernel\n"
               "pick the number.\n",
    .options = create_options,
    .run = run_create,
};

/* ---- destroy / forget ---- */

/* Returns EX_OK, or EX_USAGE after printing the error. */
static int check_names(const char *cmd, int argc, char **argv)
{
    const char *why;

    if (argc <= 0)
        return cli_usage_error(cmd, "expected at least one NAME");
    for (int i = 0; i < argc; i++)
        if (ptap_ifname_check(argv[i], false, &why) < 0)
            return cli_usage_error(cmd, "invalid tap name '%s': %s", argv[i], why);
    return EX_OK;
}

enum { DESTROY_FORCE };

static const cli_option destroy_options[] = {
    [DESTROY_FORCE] = CLI_FLAG("force", "destroy taps that a process still holds too"),
    {},
};

/* --json: the records of @names as they are now (closed: "destroyed"). */
static void closed_json(const ptap_journal *j, const ptap_record *snap, size_t n_snap,
                        int argc, char **argv)
{
    json_object *arr = json_object_new_array();

    for (int i = 0; i < argc; i++) {
        ptap_record buf;
        const ptap_record *rec = cli_record_after(j, snap, n_snap, argv[i], &buf);

        if (rec)
            json_object_array_add(arr, cli_record_plain(j, rec));
    }
    json_object_object_add(cli_doc(j), "records", arr);
}

static int run_destroy(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_free_ ptap_record *snap = NULL;
    ptap_error err = { 0 };
    size_t n_snap = 0;
    int ex, r;

    ex = check_names("destroy", a->argc, a->argv);
    if (ex != EX_OK)
        return ex;
    /* Likewise: taken by the destroy if it names just these taps, here;
     * with more than a few, its view of them is ptap's too. Both only if
     * no other ptap changed the journal from before it started until the
     * lock (its look at the kernel may then miss what that one did). */
    bool view = (size_t) a->argc > PTAP_KVIEW_NAMES_MAX;
    ptap_journal_stamp before = { 0 };

    cli_journal_stamp(c, &before);
    (void) ptap_helper_prestart_destroy(a->argv, (size_t) a->argc, view);
    ex = cli_open_journal_prestarted(c, &before, &j);
    if (ex != EX_OK)
        return ex;
    snap = cli_snapshot(j, a->argv, (size_t) a->argc, &n_snap);
    if (!snap)
        return cli_fail(NULL, -ENOMEM, "cannot destroy taps");
    r = ptap_pool_destroy(j, a->argv, (size_t) a->argc,
                          cli_flag(a, DESTROY_FORCE) ? PTAP_DESTROY_FORCE : 0, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot destroy taps");
    if (c->json)
        closed_json(j, snap, n_snap, a->argc, a->argv);
    return EX_OK;
}

const cli_command cli_cmd_destroy = {
    .name = "destroy",
    .synopsis = "[--force] NAME...",
    .summary = "remove taps (one batch)",
    .details = "Only taps on record and not attached; if one NAME is refused, nothing changes.\n"
               "A tap that a process holds (libvirt, a QEMU started by hand) is refused,\n"
               "naming the holder (exit 75), unless --force.\n",
    .options = destroy_options,
    .run = run_destroy,
};

static int run_forget(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_free_ ptap_record *snap = NULL;
    ptap_error err = { 0 };
    ptap_forget_result res = { 0 };
    size_t n_snap = 0;
    int ex, r;

    ex = check_names("forget", a->argc, a->argv);
    if (ex != EX_OK)
        return ex;
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    snap = cli_snapshot(j, a->argv, (size_t) a->argc, &n_snap);
    if (!snap)
        return cli_fail(NULL, -ENOMEM, "cannot forget taps");
    r = ptap_pool_forget(j, a->argv, (size_t) a->argc, &res, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot forget taps");
    if (c->json) {
        json_object *d = cli_doc(j);

        /* The records named, as they are now: forgotten ones "destroyed". */
        closed_json(j, snap, n_snap, a->argc, a->argv);
        json_object_object_add(d, "forgotten", json_object_new_int64((int64_t) res.forgotten));
        json_object_object_add(d, "followed", json_object_new_int64((int64_t) res.followed));
        json_object_object_add(d, "elsewhere", json_object_new_int64((int64_t) res.elsewhere));
        json_object_object_add(d, "left", json_object_new_int64((int64_t) res.left));
    }
    if (c->verbose) {
        fprintf(stderr, "ptap: forgot %zu record(s)\n", res.forgotten);
        if (res.followed)
            fprintf(stderr, "ptap: %zu record(s) follow their tap to another network namespace\n",
                    res.followed);
        if (res.elsewhere)
            fprintf(stderr, "ptap: %zu record(s) kept: their tap lives on in its own network "
                    "namespace\n", res.elsewhere);
        if (res.left)
            fprintf(stderr, "ptap: %zu record(s) left alone: of a network namespace this "
                    "process cannot enter\n", res.left);
    }
    return EX_OK;
}

const cli_command cli_cmd_forget = {
    .name = "forget",
    .synopsis = "NAME...",
    .summary = "drop records of devices that no longer exist",
    .details = "What the udev rule runs when a device disappears. Each record is judged in\n"
               "its tap's network namespace: a tap of this journal that still exists there\n"
               "is refused (here) or left alone (another namespace), one that moved is\n"
               "followed; names not on record are ignored.\n",
    .run = run_forget,
};

/* ---- list ---- */

static const char *disagreement(const ptap_record *rec, const ptap_kdev *d, const char *jid,
                                const ptap_ovsview *ov)
{
    if (!d)
        return rec->state == PTAP_STATE_CREATING ? NULL : "missing from the kernel";
    if (!ptap_kdev_is_record(d, jid, rec))
        return "the device there is not this journal's tap (another user's, or another owner)";
    if (rec->state == PTAP_STATE_ATTACHED && !d->carrier)
        return "attached but no carrier (is the guest gone?)";
    if (*rec->bridge && ptap_ovsview_is_bridge(ov, rec->bridge)) {
        /* An Open vSwitch port: its row, not a Linux master, says so. */
        const ptap_ovsport *port = ptap_ovsview_port(ov, rec->name);

        if (!port || !ptap_ovsport_is_dev(port, d))
            return "not a port of its Open vSwitch bridge: its port row is missing";
        if (strcmp(port->bridge, rec->bridge) != 0)
            return "a port of another Open vSwitch bridge than its record's";
    } else if (*rec->bridge && strcmp(d->bridge, rec->bridge) != 0)
        return *d->bridge ? "on another bridge than its record's"
                          : "off its bridge (was the bridge deleted?): 'ptap recover' puts it back "
                            "once the bridge exists";
    if (d->link_group != 0)
        return "left in a deletion group by an interrupted destroy: run 'ptap recover'";
    return NULL;
}

/* What list found out about one record, judged in its own namespace. */
typedef struct look {
    const ptap_kdev *d;  /* its tap (where it moved, if it did), or a device of its name */
    int in_kernel;       /* 1: its tap exists, 0: it does not, -1: cannot tell */
    ptap_holder holder;  /* who holds it when the record names no consumer (kind NONE: nobody) */
    int ovs_port;        /* on an Open vSwitch bridge: 1 its port row is there, 0 not;
                          * -1 not on one (or cannot tell) */
    char problem[PTAP_NSVIEW_WHY_MAX + 96]; /* "" if none */
} look;

static void look_at(ptap_kviews *w, const ptap_ovsview *ov, const char *jid,
                    const ptap_record *rec, look *l)
{
    ptap_nsview *v = ptap_kviews_of(w, rec), *mv;
    char where[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 32];
    const ptap_kdev *moved;
    const char *p;

    *l = (look) { .in_kernel = 0, .ovs_port = -1 };
    if (*rec->bridge && ptap_ovsview_is_bridge(ov, rec->bridge)) {
        const ptap_ovsport *port = ptap_ovsview_port(ov, rec->name);

        l->ovs_port = port && strcmp(port->bridge, rec->bridge) == 0 &&
                      port->mark.maker == geteuid() && strcmp(port->mark.journal, jid) == 0;
    }
    if (!v) {
        l->in_kernel = -1;
        snprintf(l->problem, sizeof(l->problem), "not checked: out of memory");
        return;
    }
    ptap_nsview_describe(v, where, sizeof(where));
    if (v->judge == PTAP_NETNS_JUDGE_LEAVE) {
        l->in_kernel = -1;
        ptap_nsview_why(v, l->problem, sizeof(l->problem));
        return;
    }
    if (v->judge != PTAP_NETNS_JUDGE_GONE)
        l->d = ptap_kview_find(&v->kv, rec->name);
    if (l->d && ptap_kdev_is_record(l->d, jid, rec)) {
        l->in_kernel = 1;
        if (rec->consumer.kind == PTAP_CONSUMER_NONE)
            ptap_kdev_holder(l->d, &v->ns, &l->holder);
        p = disagreement(rec, l->d, jid, ov);
        snprintf(l->problem, sizeof(l->problem), "%s", p ? p : "");
        return;
    }
    if (rec->state != PTAP_STATE_CREATING && (moved = ptap_kviews_find_moved(w, rec, jid, &mv))) {
        char to[sizeof(where)];

        ptap_nsview_describe(mv, to, sizeof(to));
        l->d = moved;
        l->in_kernel = 1;
        if (rec->consumer.kind == PTAP_CONSUMER_NONE)
            ptap_kdev_holder(l->d, &mv->ns, &l->holder);
        snprintf(l->problem, sizeof(l->problem), "the tap moved to %s%s%s%s ('ptap recover' "
                 "follows it)", to, strcmp(moved->name, rec->name) ? " as '" : "",
                 strcmp(moved->name, rec->name) ? moved->name : "",
                 strcmp(moved->name, rec->name) ? "'" : "");
        return;
    }
    if (v->judge == PTAP_NETNS_JUDGE_GONE) {
        snprintf(l->problem, sizeof(l->problem),
                 "its %s no longer exists, nor its tap ('ptap recover' closes the record)", where);
        return;
    }
    p = disagreement(rec, l->d, jid, ov);
    if (p && v->judge == PTAP_NETNS_JUDGE_ENTER)
        snprintf(l->problem, sizeof(l->problem), "%s (in %s)", p, where);
    else
        snprintf(l->problem, sizeof(l->problem), "%s", p ? p : "");
}

/* One row of list: a record, or an orphan's stand-in record (its own). */
typedef struct row {
    const ptap_record *rec;
    ptap_record *orphan; /* for an orphan: the stand-in rec points to, else NULL */
    look l;
} row;

static void rows_free(row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].orphan);
    free(rows);
}

static int row_cmp(const void *a, const void *b)
{
    const row *x = a, *y = b;
    int d = strcmp(x->rec->name, y->rec->name);

    if (d)
        return d;
    if (x->rec->netns.ino != y->rec->netns.ino) /* the same name in two namespaces */
        return x->rec->netns.ino < y->rec->netns.ino ? -1 : 1;
    return !!x->orphan - !!y->orphan;
}

/* An orphan (a tap of this journal without a record) as a record would
 * say it. Returns 0 or -ENOMEM. */
static int orphan_row(const ptap_kdev *d, const ptap_netns *ns, row *out)
{
    ptap_record *r = calloc(1, sizeof(*r));

    if (!r)
        return -ENOMEM;
    *out = (row) { .rec = r, .orphan = r, .l = { .d = d, .in_kernel = 1, .ovs_port = -1 } };
    snprintf(r->name, sizeof(r->name), "%s", d->name);
    r->ifindex = d->ifindex;
    r->owner = d->owner < 0 ? (uid_t) -1 : (uid_t) d->owner;
    r->group = d->group < 0 ? (gid_t) -1 : (gid_t) d->group;
    snprintf(r->bridge, sizeof(r->bridge), "%s", d->bridge);
    r->flags = (d->multi_queue ? PTAP_TAP_MULTI_QUEUE : 0) | (d->vnet_hdr ? PTAP_TAP_VNET_HDR : 0);
    r->netns = *ns;
    snprintf(out->l.problem, sizeof(out->l.problem), "orphan: no record (run 'ptap recover')");
    return 0;
}

/* The rows: each record, judged in its own namespace (entered where this
 * process may), then the orphans where ptap runs and in the records'
 * namespaces; sorted by name. Returns the count, or -ENOMEM. */
static ssize_t list_rows(const ptap_journal *j, ptap_kviews *w, const ptap_ovsview *ov, row **ret)
{
    const char *jid = ptap_journal_id(j);
    size_t n = ptap_journal_count(j), k = 0, cap = n + 8;
    row *rows = calloc(cap, sizeof(*rows));

    if (!rows)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++, k++) {
        rows[k].rec = ptap_journal_get(j, i);
        look_at(w, ov, jid, rows[k].rec, &rows[k].l);
    }
    for (size_t v = 0; v < w->n; v++) {
        const ptap_nsview *nv = w->v[v];

        if (!nv->of_records || (nv->judge != PTAP_NETNS_JUDGE_HERE && nv->judge != PTAP_NETNS_JUDGE_ENTER))
            continue;
        for (size_t i = 0; i < nv->kv.n; i++) {
            const ptap_kdev *d = &nv->kv.devs[i];

            if (!ptap_kdev_ours(d, jid) || ptap_journal_find(j, d->name))
                continue;
            if (k == cap) {
                row *more = reallocarray(rows, cap * 2, sizeof(*rows));
                if (!more) {
                    rows_free(rows, k);
                    return -ENOMEM;
                }
                rows = more;
                cap *= 2;
            }
            if (orphan_row(d, &nv->ns, &rows[k]) < 0) {
                rows_free(rows, k);
                return -ENOMEM;
            }
            k++;
        }
    }
    qsort(rows, k, sizeof(*rows), row_cmp);
    *ret = rows;
    return (ssize_t) k;
}

/* ---- list's text: a table, each column as wide as its widest cell ---- */

enum { COL_NAME, COL_STATE, COL_OWNER, COL_GROUP, COL_BRIDGE, COL_NETWORK, COL_MTU, COL_QUEUES, COL_MAC,
       COL_GUEST_MAC, COL_KERNEL, COL_CARRIER, COL_NETNS, COL_CONSUMER, COL_PROBLEM, COL__MAX };

static const char *const col_heads[COL__MAX] = {
    "NAME", "STATE", "OWNER", "GROUP", "BRIDGE", "NETWORK", "MTU", "QUEUES", "MAC",
    "GUEST-MAC", "KERNEL", "CARRIER", "NETNS", "CONSUMER", "PROBLEM",
};

#define CELL_MAX (PTAP_NSVIEW_WHY_MAX + PTAP_CONSUMER_TARGET_MAX + 96)
typedef char cells[COL__MAX][CELL_MAX];

static void cell(char *c, const char *s)
{
    snprintf(c, CELL_MAX, "%s", s && *s ? s : "-");
}

static void fill_cells(const row *r, cells out)
{
    const ptap_record *rec = r->rec;
    const ptap_consumer *k = &rec->consumer;
    const ptap_kdev *d = r->l.in_kernel > 0 ? r->l.d : NULL;
    char name[256];

    cell(out[COL_NAME], rec->name);
    cell(out[COL_STATE], r->orphan ? "orphan" : ptap_state_to_string(rec->state));
    if (cli_user_name(rec->owner, name, sizeof(name)))
        cell(out[COL_OWNER], name);
    else if (rec->owner != (uid_t) -1)
        snprintf(out[COL_OWNER], CELL_MAX, "%u", (unsigned) rec->owner);
    else
        cell(out[COL_OWNER], NULL);
    if (cli_group_name(rec->group, name, sizeof(name)))
        cell(out[COL_GROUP], name);
    else if (rec->group != (gid_t) -1)
        snprintf(out[COL_GROUP], CELL_MAX, "%u", (unsigned) rec->group);
    else
        cell(out[COL_GROUP], NULL);
    if (*rec->bridge && r->l.ovs_port >= 0) /* an Open vSwitch bridge */
        snprintf(out[COL_BRIDGE], CELL_MAX, "ovs:%s", rec->bridge);
    else
        cell(out[COL_BRIDGE], rec->bridge);
    cell(out[COL_NETWORK], rec->network);
    if (d && d->mtu)
        snprintf(out[COL_MTU], CELL_MAX, "%u", d->mtu);
    else if (rec->mtu)
        snprintf(out[COL_MTU], CELL_MAX, "%u", rec->mtu);
    else
        cell(out[COL_MTU], NULL);
    /* A single-queue tap has one queue; a multi-queue one, the queues opened. */
    if (!(rec->flags & PTAP_TAP_MULTI_QUEUE))
        cell(out[COL_QUEUES], "1");
    else if (d)
        snprintf(out[COL_QUEUES], CELL_MAX, "mq:%u", d->queues);
    else
        cell(out[COL_QUEUES], "mq");
    cell(out[COL_MAC], rec->mac);
    cell(out[COL_GUEST_MAC], k->mac);
    cell(out[COL_KERNEL], r->l.in_kernel < 0 ? "?" : r->l.in_kernel ? "yes" : "no");
    cell(out[COL_CARRIER], d ? (d->carrier ? "yes" : "no") : NULL);
    if (*rec->netns.name)
        cell(out[COL_NETNS], rec->netns.name);
    else if (ptap_netns_known(&rec->netns))
        ptap_netns_format_id(&rec->netns, out[COL_NETNS], CELL_MAX);
    else
        cell(out[COL_NETNS], NULL);
    if (k->kind == PTAP_CONSUMER_NONE) {
        const ptap_holder *h = &r->l.holder;

        /* Something ptap did not attach holds the tap. */
        if (h->kind == PTAP_HOLDER_LIBVIRT)
            snprintf(out[COL_CONSUMER], CELL_MAX, "libvirt:%s(held,%s,%s)", h->domain,
                     *h->uuid ? h->uuid : "-", h->uri);
        else if (h->kind == PTAP_HOLDER_PROCESS)
            snprintf(out[COL_CONSUMER], CELL_MAX, "pid:%ld/%s(held)", (long) h->pid, h->command);
        else if (h->kind == PTAP_HOLDER_UNSEEN)
            cell(out[COL_CONSUMER], geteuid() == 0 ? "held:unseen" : "held:another-user");
        else
            cell(out[COL_CONSUMER], NULL);
    } else
        snprintf(out[COL_CONSUMER], CELL_MAX, "%s:%s%s%s", ptap_consumer_kind_to_string(k->kind),
                 *k->name ? k->name : k->target, *k->device_id ? "/" : "", k->device_id);
    cell(out[COL_PROBLEM], r->l.problem);
}

/* Two passes over the rows, one row's cells at a time: the widths, then
 * the lines (ten thousand rows of cells would be a lot of memory). */
static void print_table(const row *rows, size_t n)
{
    _cleanup_free_ cells *t = malloc(sizeof(*t));
    size_t width[COL__MAX];

    if (!t) {
        cli_err(0, "out of memory");
        return;
    }
    for (size_t c = 0; c < COL__MAX; c++)
        width[c] = strlen(col_heads[c]);
    for (size_t i = 0; i < n; i++) {
        fill_cells(&rows[i], *t);
        for (size_t c = 0; c < COL__MAX; c++)
            if (strlen((*t)[c]) > width[c])
                width[c] = strlen((*t)[c]);
    }
    for (size_t c = 0; c + 1 < COL__MAX; c++)
        printf("%-*s  ", (int) width[c], col_heads[c]);
    printf("%s\n", col_heads[COL__MAX - 1]);
    for (size_t i = 0; i < n; i++) {
        fill_cells(&rows[i], *t);
        for (size_t c = 0; c + 1 < COL__MAX; c++)
            printf("%-*s  ", (int) width[c], (*t)[c]);
        printf("%s\n", (*t)[COL__MAX - 1]);
    }
}

static int run_list(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_(ptap_kviews_clear) ptap_kviews w = { 0 };
    _cleanup_(ptap_ovsview_clear) ptap_ovsview ov = { 0 };
    row *rows = NULL;
    ptap_error err = { 0 };
    size_t problems = 0;
    ssize_t n;
    int ex, r;

    if (a->argc > 0)
        return cli_usage_error("list", "unexpected argument '%s'", a->argv[0]);
    ex = cli_open_journal(c, false, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_kviews_init(&w, NULL, 0, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot list network devices");
    /* Open vSwitch, asked of the helper only when a record may be on it. */
    for (size_t i = 0; i < ptap_journal_count(j); i++) {
        const ptap_record *rec = ptap_journal_get(j, i);
        const ptap_nsview *v = *rec->bridge ? ptap_kviews_of(&w, rec) : NULL;

        if (!v || !ptap_kview_maybe_ovs(&v->kv, rec->bridge))
            continue;
        if (ptap_ovsview_load(&ov) < 0)
            return cli_fail(NULL, -ENOMEM, "cannot list taps");
        break; /* asked once, whatever the answer */
    }
    n = list_rows(j, &w, &ov, &rows);
    if (n < 0)
        return cli_fail(NULL, (int) n, "cannot list taps");
    for (ssize_t i = 0; i < n; i++)
        problems += *rows[i].l.problem != '\0';

    if (c->json) {
        json_object *arr = json_object_new_array(), *d = cli_doc(j);

        for (ssize_t i = 0; i < n; i++) {
            const row *rw = &rows[i];
            cli_tap t = {
                .rec = rw->rec, .orphan = rw->orphan != NULL, .dev = rw->l.d,
                .in_kernel = rw->l.in_kernel, .self = &w.self, .problem = rw->l.problem,
                .holder = &rw->l.holder,
                /* On an Open vSwitch bridge: is its port row there? */
                .ovs_port = rw->l.ovs_port < 0 ? 0 : rw->l.ovs_port ? 1 : -1,
            };
            json_object_array_add(arr, cli_record_json(j, &t));
        }
        json_object_object_add(d, "records", arr);
        json_object_object_add(d, "problems", json_object_new_int64((int64_t) problems));
    } else {
        print_table(rows, (size_t) n);
    }
    rows_free(rows, (size_t) n);
    /* Problems are the answer, not a failure of list: exit 1 (as diff(1)). */
    return problems ? CLI_EX_PROBLEMS : EX_OK;
}

const cli_command cli_cmd_list = {
    .name = "list",
    .synopsis = "[--json]",
    .summary = "journal and kernel side by side",
    .details = "One row per tap, sorted by name: its state, owner and group (by name), bridge\n"
               "(and the libvirt network it came from),\n"
               "MTU, queues (1, or mq:N for a multi-queue tap with N queues open), its own\n"
               "MAC and its guest's, whether it exists in its network namespace (KERNEL\n"
               "yes/no) and has carrier, that namespace, its consumer, and any problem: a\n"
               "disagreement between journal and kernel, or an orphan tap of this journal\n"
               "(where ptap runs and in its records' namespaces). A namespace this process\n"
               "may not enter is not looked into: its records say so (KERNEL '?').\n"
               "A tap that something else holds (libvirt through managed='no', a QEMU\n"
               "started by hand) shows its holder as its consumer.\n"
               "Exit status 1 when any row has a PROBLEM, 0 when none does.\n",
    .run = run_list,
};
