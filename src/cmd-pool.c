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
#include "kview.h"
#include "pool.h"
#include "validate.h"

/* ---- create ---- */

enum {
    CREATE_COUNT,
    CREATE_OWNER,
    CREATE_GROUP,
    CREATE_BRIDGE,
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
    [CREATE_MTU] = CLI_NUMBER("mtu", "N", "their MTU, by default the bridge's", PTAP_MTU_MIN,
                              PTAP_MTU_MAX, NULL),
    [CREATE_MAC] = CLI_VALUE("mac", "MAC", "the tap's own MAC address (one tap only)"),
    [CREATE_MULTI_QUEUE] = CLI_FLAG("multi-queue", "multi-queue taps (IFF_MULTI_QUEUE)"),
    [CREATE_VNET_HDR] = CLI_FLAG("vnet-hdr", "taps with a virtio-net header (IFF_VNET_HDR)"),
    {},
};

/* A created tap as JSON: its record, as list prints it. */
static json_object *created_json(const ptap_journal *j, const char *name)
{
    const ptap_record *rec = ptap_journal_find(j, name);
    json_object *o;

    if (rec && strcmp(rec->name, name) == 0)
        return cli_record_json(j, rec);
    o = json_object_new_object(); /* not found again: cannot happen, say what we know */
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "journal", json_object_new_string(ptap_journal_id(j)));
    return o;
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
    int ex, r;

    if (a->value[CREATE_OWNER] && (ex = cli_parse_owner(a->value[CREATE_OWNER], &owner)) != EX_OK)
        return ex;
    if (a->value[CREATE_GROUP] && (ex = cli_parse_group(a->value[CREATE_GROUP], &group)) != EX_OK)
        return ex;
    if (a->argc > 1)
        return cli_usage_error("create", "expected at most one TEMPLATE");
    if (a->argc == 1)
        spec.name = a->argv[0];
    /* Hand the helper numeric ids: what the journal records is what it checks. */
    snprintf(owner_s, sizeof(owner_s), "%u", (unsigned) owner);
    spec.owner = owner_s;
    if (a->value[CREATE_GROUP]) {
        snprintf(group_s, sizeof(group_s), "%u", (unsigned) group);
        spec.group = group_s;
    }
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_pool_create(j, &spec, owner, group, &names, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot create taps");
    if (c->json) {
        json_object *arr = json_object_new_array();
        for (char **p = names; *p; p++)
            json_object_array_add(arr, created_json(j, *p));
        cli_print_json(arr);
    } else {
        for (char **p = names; *p; p++)
            puts(*p);
    }
    ptap_strv_free(names);
    return EX_OK;
}

const cli_command cli_cmd_create = {
    .name = "create",
    .synopsis = "[TEMPLATE] [--count N] [--owner U] [--group G] [--bridge BR] [--mtu N] "
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

static int run_destroy(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_error err = { 0 };
    int ex, r;

    ex = check_names("destroy", a->argc, a->argv);
    if (ex != EX_OK)
        return ex;
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_pool_destroy(j, a->argv, (size_t) a->argc,
                          cli_flag(a, DESTROY_FORCE) ? PTAP_DESTROY_FORCE : 0, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot destroy taps");
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
    ptap_error err = { 0 };
    ptap_forget_result res = { 0 };
    int ex, r;

    ex = check_names("forget", a->argc, a->argv);
    if (ex != EX_OK)
        return ex;
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_pool_forget(j, a->argv, (size_t) a->argc, &res, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot forget taps");
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
        p = disagreement(rec, l->d, jid, ov);
        snprintf(l->problem, sizeof(l->problem), "%s", p ? p : "");
        return;
    }
    if (rec->state != PTAP_STATE_CREATING && (moved = ptap_kviews_find_moved(w, rec, jid, &mv))) {
        char to[sizeof(where)];

        ptap_nsview_describe(mv, to, sizeof(to));
        l->d = moved;
        l->in_kernel = 1;
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

/* "netns": {"id", "name", "current"} of a namespace, for list. */
static json_object *netns_json(const ptap_netns *ns, const ptap_netns *self)
{
    json_object *o = cli_netns_json(ns);

    if (o)
        json_object_object_add(o, "current", json_object_new_boolean(ptap_netns_equal(ns, self)));
    return o;
}

static int run_list(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_(ptap_kviews_clear) ptap_kviews w = { 0 };
    _cleanup_(ptap_ovsview_clear) ptap_ovsview ov = { 0 };
    _cleanup_free_ look *looks = NULL;
    ptap_error err = { 0 };
    const char *jid;
    size_t n;
    int ex, r;

    if (a->argc > 0)
        return cli_usage_error("list", "unexpected argument '%s'", a->argv[0]);
    ex = cli_open_journal(c, false, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_kviews_init(&w, NULL, 0, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot list network devices");
    jid = ptap_journal_id(j);
    n = ptap_journal_count(j);
    looks = calloc(n ? n : 1, sizeof(*looks));
    if (!looks)
        return cli_fail(NULL, -ENOMEM, "cannot list taps");
    /* Open vSwitch, asked of the helper only when a record may be on it. */
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_get(j, i);
        const ptap_nsview *v = *rec->bridge ? ptap_kviews_of(&w, rec) : NULL;

        if (!v || !ptap_kview_maybe_ovs(&v->kv, rec->bridge))
            continue;
        if (ptap_ovsview_load(&ov) < 0)
            return cli_fail(NULL, -ENOMEM, "cannot list taps");
        break; /* asked once, whatever the answer */
    }
    /* Each record in its own namespace (entered where this process may). */
    for (size_t i = 0; i < n; i++)
        look_at(&w, &ov, jid, ptap_journal_get(j, i), &looks[i]);

    if (c->json) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
            const ptap_record *rec = ptap_journal_get(j, i);
            const look *l = &looks[i];
            json_object *o = cli_record_json(j, rec);

            /* The record's namespace, and whether it is the one ptap runs in. */
            json_object_object_add(o, "netns", netns_json(&rec->netns, &w.self));
            json_object_object_add(o, "in_kernel",
                                   l->in_kernel < 0 ? NULL : json_object_new_boolean(l->in_kernel));
            json_object_object_add(o, "carrier",
                                   l->d && l->in_kernel >= 0 ? json_object_new_boolean(l->d->carrier) : NULL);
            json_object_object_add(o, "problem", *l->problem ? json_object_new_string(l->problem) : NULL);
            if (l->ovs_port >= 0)
                json_object_object_add(o, "ovs_port", json_object_new_boolean(l->ovs_port));
            json_object_array_add(arr, o);
        }
        /* Orphans: where ptap runs, and in the namespaces of its records. */
        for (size_t k = 0; k < w.n; k++) {
            const ptap_nsview *v = w.v[k];

            if (!v->of_records || (v->judge != PTAP_NETNS_JUDGE_HERE && v->judge != PTAP_NETNS_JUDGE_ENTER))
                continue;
            for (size_t i = 0; i < v->kv.n; i++) {
                const ptap_kdev *d = &v->kv.devs[i];

                if (!ptap_kdev_ours(d, jid) || ptap_journal_find(j, d->name))
                    continue;
                json_object *o = json_object_new_object();
                json_object_object_add(o, "name", json_object_new_string(d->name));
                json_object_object_add(o, "journal", json_object_new_string(jid)); /* its mark's */
                json_object_object_add(o, "state", NULL);
                json_object_object_add(o, "netns", netns_json(&v->ns, &w.self));
                json_object_object_add(o, "in_kernel", json_object_new_boolean(true));
                json_object_object_add(o, "problem", json_object_new_string("orphan: no record (run 'ptap recover')"));
                json_object_array_add(arr, o);
            }
        }
        cli_print_json(arr);
    } else {
        printf("%-15s %-10s %-6s %-15s %-17s %-8s %-15s %s\n", "NAME", "STATE", "OWNER", "BRIDGE",
               "MAC", "KERNEL", "NETNS", "CONSUMER");
        for (size_t i = 0; i < n; i++) {
            const ptap_record *rec = ptap_journal_get(j, i);
            const look *l = &looks[i];
            char consumer[PTAP_CONSUMER_TARGET_MAX + PTAP_QEMU_ID_MAX + 32] = "-";
            char netns[PTAP_NETNS_NAME_MAX + PTAP_NETNS_ID_MAX] = "-";
            char bridge[IFNAMSIZ + 4] = "-";

            /* "ovs:NAME" for an Open vSwitch bridge. */
            if (*rec->bridge)
                snprintf(bridge, sizeof(bridge), "%s%s", l->ovs_port >= 0 ? "ovs:" : "",
                         rec->bridge);
            if (rec->consumer.kind != PTAP_CONSUMER_NONE)
                snprintf(consumer, sizeof(consumer), "%s:%s%s%s",
                         ptap_consumer_kind_to_string(rec->consumer.kind),
                         *rec->consumer.name ? rec->consumer.name : rec->consumer.target,
                         *rec->consumer.device_id ? "/" : "", rec->consumer.device_id);
            if (*rec->netns.name)
                snprintf(netns, sizeof(netns), "%s", rec->netns.name);
            else if (ptap_netns_known(&rec->netns))
                ptap_netns_format_id(&rec->netns, netns, sizeof(netns));
            printf("%-15s %-10s %-6u %-15s %-17s %-8s %-15s %s%s%s\n", rec->name,
                   ptap_state_to_string(rec->state), (unsigned) rec->owner, bridge,
                   *rec->consumer.mac ? rec->consumer.mac : (*rec->mac ? rec->mac : "-"),
                   l->in_kernel < 0 ? "?" : l->in_kernel ? (l->d->carrier ? "carrier" : "yes") : "NO",
                   netns, consumer, *l->problem ? "  !! " : "", l->problem);
        }
        for (size_t k = 0; k < w.n; k++) {
            const ptap_nsview *v = w.v[k];
            char netns[PTAP_NETNS_NAME_MAX + PTAP_NETNS_ID_MAX];

            if (!v->of_records || (v->judge != PTAP_NETNS_JUDGE_HERE && v->judge != PTAP_NETNS_JUDGE_ENTER))
                continue;
            if (*v->ns.name)
                snprintf(netns, sizeof(netns), "%s", v->ns.name);
            else
                ptap_netns_format_id(&v->ns, netns, sizeof(netns));
            for (size_t i = 0; i < v->kv.n; i++) {
                const ptap_kdev *d = &v->kv.devs[i];

                if (ptap_kdev_ours(d, jid) && !ptap_journal_find(j, d->name))
                    printf("%-15s %-10s %-6lld %-15s %-17s %-8s %-15s -  !! orphan: no record (run "
                           "'ptap recover')\n", d->name, "-", d->owner, *d->bridge ? d->bridge : "-",
                           "-", "yes", netns);
            }
        }
    }
    return EX_OK;
}

const cli_command cli_cmd_list = {
    .name = "list",
    .synopsis = "[--json]",
    .summary = "journal and kernel side by side",
    .details = "Each record's state, owner, bridge, MAC, whether its tap exists (and has\n"
               "carrier) in its network namespace, that namespace, its consumer, and any\n"
               "disagreement; orphan taps of this journal too, where ptap runs and in its\n"
               "records' namespaces. A namespace this process may not enter is not looked\n"
               "into: its records say so (KERNEL '?').\n",
    .run = run_list,
};
