/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap create / destroy / list / forget / recover / release / journal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kview.h"
#include "pool.h"
#include "recover.h"
#include "validate.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(ptap_journal *, ptap_journal_close)

/* `ptap CMD --help`: the command's synopsis on stdout, exit 0 (like
 * attach and detach). Not man(1): it is missing from a build tree, and its
 * exit code would become ours. */
static int cmd_help(const char *cmd)
{
    static const struct {
        const char *cmd, *args;
    } synopsis[] = {
        { "create", "[TEMPLATE] [--count N] [--owner U] [--group G] [--bridge BR] [--mtu N] "
                    "[--mac MAC] [--multi-queue] [--vnet-hdr] [--json]" },
        { "destroy", "NAME..." },
        { "forget", "NAME..." },
        { "list", "[--json]" },
        { "recover", "[--dry-run] [--json]" },
        { "release", "DOMAIN [--json]" },
        { "journal", "dump|check|compact" },
    };
    const char *args = "";

    for (size_t i = 0; i < ARRAY_SIZE(synopsis); i++)
        if (strcmp(synopsis[i].cmd, cmd) == 0)
            args = synopsis[i].args;
    printf("Usage: ptap [--state-dir DIR] [--verbose] %s %s\nSee ptap(1) and 'ptap --help'.\n",
           cmd, args);
    return EX_OK;
}

static int parse_common(cli *c, int argc, char **argv, const char *cmd,
                        const struct option *extra, size_t n_extra, const char *shortopts,
                        int (*handle)(int opt, const char *arg, void *u), void *u)
{
    struct option opts[32] = { CLI_GLOBAL_OPTS };
    size_t n = 4;
    int opt;

    for (size_t i = 0; i < n_extra && n < ARRAY_SIZE(opts) - 1; i++)
        opts[n++] = extra[i];
    opts[n] = (struct option) { 0 };
    while ((opt = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        if (cli_global_opt(c, opt, optarg))
            continue;
        if (opt == 'h')
            exit(cmd_help(cmd));
        if (opt == '?')
            return -cli_usage_error(cmd, "invalid option");
        int r = handle ? handle(opt, optarg, u) : -EX_USAGE;
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- create ---- */

typedef struct create_args {
    ptap_create_spec spec;
    uid_t owner;
    gid_t group;
} create_args;

static int create_opt(int opt, const char *arg, void *u)
{
    create_args *a = u;
    uint64_t v;

    switch (opt) {
    case 'c':
        if (ptap_parse_uint(arg, 1, PTAP_COUNT_MAX, &v) < 0)
            return -cli_usage_error("create", "invalid --count '%s': expected 1..%u", arg,
                                    PTAP_COUNT_MAX);
        a->spec.count = (unsigned) v;
        return 0;
    case 'o':
        a->spec.owner = arg;
        return cli_parse_owner(arg, &a->owner);
    case 'g':
        a->spec.group = arg;
        return cli_parse_group(arg, &a->group);
    case 'b':
        a->spec.bridge = arg;
        return 0;
    case 'm':
        if (ptap_parse_uint(arg, PTAP_MTU_MIN, PTAP_MTU_MAX, &v) < 0)
            return -cli_usage_error("create", "invalid --mtu '%s': expected %u..%u", arg,
                                    PTAP_MTU_MIN, PTAP_MTU_MAX);
        a->spec.mtu = (unsigned) v;
        return 0;
    case 'a':
        a->spec.mac = arg;
        return 0;
    case 'q':
        a->spec.multi_queue = true;
        return 0;
    case 'n':
        a->spec.vnet_hdr = true;
        return 0;
    }
    return -EX_USAGE;
}

int cmd_create(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "count", required_argument, NULL, 'c' },  { "owner", required_argument, NULL, 'o' },
        { "group", required_argument, NULL, 'g' },  { "bridge", required_argument, NULL, 'b' },
        { "mtu", required_argument, NULL, 'm' },    { "mac", required_argument, NULL, 'a' },
        { "multi-queue", no_argument, NULL, 'q' }, { "vnet-hdr", no_argument, NULL, 'n' },
    };
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    create_args a = { .spec = { .name = "ptap%d", .count = 1 }, .owner = getuid(),
                      .group = (gid_t) -1 };
    ptap_error err = { 0 };
    char **names = NULL;
    char owner[32], group[32];
    int r;

    r = parse_common(c, argc, argv, "create", opts, ARRAY_SIZE(opts), "vh", create_opt, &a);
    if (r < 0)
        return -r;
    if (argc - optind > 1)
        return cli_usage_error("create", "expected at most one TEMPLATE");
    if (argc - optind == 1)
        a.spec.name = argv[optind];
    /* Hand the helper numeric ids: what the journal records is what it checks. */
    snprintf(owner, sizeof(owner), "%u", (unsigned) a.owner);
    a.spec.owner = owner;
    if (a.spec.group) {
        snprintf(group, sizeof(group), "%u", (unsigned) a.group);
        a.spec.group = group;
    }
    r = cli_open_journal(c, true, &j);
    if (r < 0)
        return -r;
    r = ptap_pool_create(j, &a.spec, a.owner, a.group, &names, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot create taps");
    if (c->json) {
        json_object *arr = json_object_new_array();
        for (char **p = names; *p; p++)
            json_object_array_add(arr, json_object_new_string(*p));
        cli_print_json(arr);
    } else {
        for (char **p = names; *p; p++)
            puts(*p);
    }
    ptap_strv_free(names);
    return EX_OK;
}

/* ---- destroy / forget ---- */

static int check_names(const char *cmd, int argc, char **argv)
{
    const char *why;

    if (argc <= 0)
        return -cli_usage_error(cmd, "expected at least one NAME");
    for (int i = 0; i < argc; i++)
        if (ptap_ifname_check(argv[i], false, &why) < 0)
            return -cli_usage_error(cmd, "invalid tap name '%s': %s", argv[i], why);
    return 0;
}

int cmd_destroy(cli *c, int argc, char **argv)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_error err = { 0 };
    int r;

    r = parse_common(c, argc, argv, "destroy", NULL, 0, "vh", NULL, NULL);
    if (r < 0)
        return -r;
    r = check_names("destroy", argc - optind, argv + optind);
    if (r < 0)
        return -r;
    r = cli_open_journal(c, true, &j);
    if (r < 0)
        return -r;
    r = ptap_pool_destroy(j, argv + optind, (size_t) (argc - optind), &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot destroy taps");
    return EX_OK;
}

int cmd_forget(cli *c, int argc, char **argv)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_error err = { 0 };
    size_t n = 0;
    int r;

    r = parse_common(c, argc, argv, "forget", NULL, 0, "vh", NULL, NULL);
    if (r < 0)
        return -r;
    r = check_names("forget", argc - optind, argv + optind);
    if (r < 0)
        return -r;
    r = cli_open_journal(c, true, &j);
    if (r < 0)
        return -r;
    r = ptap_pool_forget(j, argv + optind, (size_t) (argc - optind), &n, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot forget taps");
    if (c->verbose)
        fprintf(stderr, "ptap: forgot %zu record(s)\n", n);
    return EX_OK;
}

/* ---- list ---- */

json_object *cli_record_json(const ptap_record *rec)
{
    json_object *o = json_object_new_object();
    const ptap_consumer *k = &rec->consumer;

    json_object_object_add(o, "name", json_object_new_string(rec->name));
    json_object_object_add(o, "state", json_object_new_string(ptap_state_to_string(rec->state)));
    json_object_object_add(o, "ifindex", rec->ifindex ? json_object_new_int(rec->ifindex) : NULL);
    json_object_object_add(o, "owner", json_object_new_int64(rec->owner));
    json_object_object_add(o, "group",
                           rec->group == (gid_t) -1 ? NULL : json_object_new_int64(rec->group));
    json_object_object_add(o, "bridge", *rec->bridge ? json_object_new_string(rec->bridge) : NULL);
    json_object_object_add(o, "mac", *rec->mac ? json_object_new_string(rec->mac) : NULL);
    json_object_object_add(o, "mtu", rec->mtu ? json_object_new_int(rec->mtu) : NULL);
    json_object_object_add(o, "multi_queue",
                           json_object_new_boolean(!!(rec->flags & PTAP_TAP_MULTI_QUEUE)));
    json_object_object_add(o, "vnet_hdr", json_object_new_boolean(!!(rec->flags & PTAP_TAP_VNET_HDR)));
    if (k->kind == PTAP_CONSUMER_NONE) {
        json_object_object_add(o, "consumer", NULL);
    } else {
        json_object *co = json_object_new_object();
        json_object_object_add(co, "kind", json_object_new_string(ptap_consumer_kind_to_string(k->kind)));
        json_object_object_add(co, "target", json_object_new_string(k->target));
        json_object_object_add(co, "name", *k->name ? json_object_new_string(k->name) : NULL);
        json_object_object_add(co, "pid", k->pid ? json_object_new_int(k->pid) : NULL);
        json_object_object_add(co, "netdev_id", *k->netdev_id ? json_object_new_string(k->netdev_id) : NULL);
        json_object_object_add(co, "device_id", *k->device_id ? json_object_new_string(k->device_id) : NULL);
        json_object_object_add(co, "model", *k->model ? json_object_new_string(k->model) : NULL);
        json_object_object_add(co, "mac", *k->mac ? json_object_new_string(k->mac) : NULL);
        json_object_object_add(o, "consumer", co);
    }
    json_object_object_add(o, "created", json_object_new_int64(rec->created));
    json_object_object_add(o, "updated", json_object_new_int64(rec->updated));
    return o;
}

static const char *disagreement(const ptap_record *rec, const ptap_kdev *d, const char *jid)
{
    if (!d)
        return rec->state == PTAP_STATE_CREATING ? NULL : "missing from the kernel";
    if (!ptap_kdev_ours(d, jid))
        return "the device there is not this journal's tap";
    if (rec->state == PTAP_STATE_ATTACHED && !d->carrier)
        return "attached but no carrier (is the guest gone?)";
    return NULL;
}

int cmd_list(cli *c, int argc, char **argv)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_kview kv = { 0 };
    const char *jid;
    size_t n;
    int r;

    r = parse_common(c, argc, argv, "list", NULL, 0, "vh", NULL, NULL);
    if (r < 0)
        return -r;
    if (optind < argc)
        return cli_usage_error("list", "unexpected argument '%s'", argv[optind]);
    r = cli_open_journal(c, false, &j);
    if (r < 0)
        return -r;
    r = ptap_kview_load(&kv);
    if (r < 0)
        return cli_fail(NULL, r, "cannot list network devices");
    jid = ptap_journal_id(j);
    n = ptap_journal_count(j);

    if (c->json) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
            const ptap_record *rec = ptap_journal_get(j, i);
            const ptap_kdev *d = ptap_kview_find(&kv, rec->name);
            const char *problem = disagreement(rec, d, jid);
            json_object *o = cli_record_json(rec);

            json_object_object_add(o, "in_kernel", json_object_new_boolean(d && ptap_kdev_ours(d, jid)));
            json_object_object_add(o, "carrier", d ? json_object_new_boolean(d->carrier) : NULL);
            json_object_object_add(o, "problem", problem ? json_object_new_string(problem) : NULL);
            json_object_array_add(arr, o);
        }
        for (size_t i = 0; i < kv.n; i++) {
            const ptap_kdev *d = &kv.devs[i];
            const ptap_record *rec;

            if (!ptap_kdev_ours(d, jid))
                continue;
            rec = ptap_journal_find(j, d->name);
            if (rec)
                continue;
            json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(d->name));
            json_object_object_add(o, "state", NULL);
            json_object_object_add(o, "in_kernel", json_object_new_boolean(true));
            json_object_object_add(o, "problem", json_object_new_string("orphan: no record (run 'ptap recover')"));
            json_object_array_add(arr, o);
        }
        cli_print_json(arr);
    } else {
        printf("%-15s %-10s %-6s %-15s %-17s %-8s %s\n", "NAME", "STATE", "OWNER", "BRIDGE",
               "MAC", "KERNEL", "CONSUMER");
        for (size_t i = 0; i < n; i++) {
            const ptap_record *rec = ptap_journal_get(j, i);
            const ptap_kdev *d = ptap_kview_find(&kv, rec->name);
            const char *problem = disagreement(rec, d, jid);
            char consumer[PTAP_CONSUMER_TARGET_MAX + PTAP_QEMU_ID_MAX + 32] = "-";

            if (rec->consumer.kind != PTAP_CONSUMER_NONE)
                snprintf(consumer, sizeof(consumer), "%s:%s%s%s",
                         ptap_consumer_kind_to_string(rec->consumer.kind),
                         *rec->consumer.name ? rec->consumer.name : rec->consumer.target,
                         *rec->consumer.device_id ? "/" : "", rec->consumer.device_id);
            printf("%-15s %-10s %-6u %-15s %-17s %-8s %s%s%s\n", rec->name,
                   ptap_state_to_string(rec->state), (unsigned) rec->owner,
                   *rec->bridge ? rec->bridge : "-",
                   *rec->consumer.mac ? rec->consumer.mac : (*rec->mac ? rec->mac : "-"),
                   d && ptap_kdev_ours(d, jid) ? (d->carrier ? "carrier" : "yes") : "NO",
                   consumer, problem ? "  !! " : "", problem ? problem : "");
        }
        for (size_t i = 0; i < kv.n; i++) {
            const ptap_kdev *d = &kv.devs[i];

            if (ptap_kdev_ours(d, jid) && !ptap_journal_find(j, d->name))
                printf("%-15s %-10s %-6lld %-15s %-17s %-8s -  !! orphan: no record (run 'ptap recover')\n",
                       d->name, "-", d->owner, *d->bridge ? d->bridge : "-", "-", "yes");
        }
    }
    ptap_kview_clear(&kv);
    return EX_OK;
}

/* ---- recover / release ---- */

static int print_actions(cli *c, const ptap_recover_result *res, bool dry_run)
{
    if (c->json) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < res->n; i++) {
            const ptap_action *a = &res->actions[i];
            json_object *o = json_object_new_object();
            json_object_object_add(o, "action", json_object_new_string(a->action));
            json_object_object_add(o, "name", json_object_new_string(a->name));
            json_object_object_add(o, "state", *a->state ? json_object_new_string(a->state) : NULL);
            json_object_object_add(o, "reason", json_object_new_string(a->reason));
            json_object_object_add(o, "done", json_object_new_boolean(!dry_run));
            json_object_array_add(arr, o);
        }
        cli_print_json(arr);
        return EX_OK;
    }
    if (res->n == 0 && c->verbose)
        fprintf(stderr, "ptap: nothing to recover\n");
    for (size_t i = 0; i < res->n; i++) {
        const ptap_action *a = &res->actions[i];
        printf("%s%s '%s'%s%s%s: %s\n", dry_run ? "would " : "", a->action, a->name,
               *a->state ? " (" : "", a->state, *a->state ? ")" : "", a->reason);
    }
    return EX_OK;
}

int cmd_recover(cli *c, int argc, char **argv)
{
    static const struct option opts[] = { { "dry-run", no_argument, NULL, 'n' } };
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_recover_result res = { 0 };
    ptap_error err = { 0 };
    bool dry_run = false;
    int opt, r;

    /* parse_common with a local flag */
    struct option all[8] = { CLI_GLOBAL_OPTS, opts[0] };
    while ((opt = getopt_long(argc, argv, "vh", all, NULL)) != -1) {
        if (cli_global_opt(c, opt, optarg))
            continue;
        if (opt == 'n')
            dry_run = true;
        else if (opt == 'h')
            return cmd_help("recover");
        else
            return cli_usage_error("recover", "invalid option");
    }
    if (optind < argc)
        return cli_usage_error("recover", "unexpected argument '%s'", argv[optind]);
    r = cli_open_journal(c, !dry_run, &j);
    if (r < 0)
        return -r;
    r = ptap_recover(j, dry_run, &res, &err);
    if (r < 0)
        return cli_fail(&err, r, "recovery failed");
    r = print_actions(c, &res, dry_run);
    ptap_recover_result_clear(&res);
    return r;
}

int cmd_release(cli *c, int argc, char **argv)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_recover_result res = { 0 };
    ptap_error err = { 0 };
    int r;

    r = parse_common(c, argc, argv, "release", NULL, 0, "vh", NULL, NULL);
    if (r < 0)
        return -r;
    if (argc - optind != 1)
        return cli_usage_error("release", "expected one DOMAIN");
    r = cli_open_journal(c, true, &j);
    if (r < 0)
        return -r;
    r = ptap_release(j, argv[optind], &res, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot release guest taps");
    r = print_actions(c, &res, false);
    ptap_recover_result_clear(&res);
    return r;
}

/* ---- journal dump|check|compact ---- */

int cmd_journal(cli *c, int argc, char **argv)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    const char *sub;
    int r;

    r = parse_common(c, argc, argv, "journal", NULL, 0, "vh", NULL, NULL);
    if (r < 0)
        return -r;
    if (argc - optind != 1)
        return cli_usage_error("journal", "expected one of dump, check, compact");
    sub = argv[optind];
    if (strcmp(sub, "dump") == 0) {
        r = cli_open_journal(c, false, &j);
        if (r < 0)
            return -r;
        size_t n = ptap_journal_count(j);
        if (c->json) {
            json_object *arr = json_object_new_array();
            for (size_t i = 0; i < n; i++)
                json_object_array_add(arr, cli_record_json(ptap_journal_get(j, i)));
            cli_print_json(arr);
            return EX_OK;
        }
        printf("journal %s (id %s): %zu live record(s)\n", ptap_journal_path(j),
               ptap_journal_id(j), n);
        for (size_t i = 0; i < n; i++) {
            const ptap_record *rec = ptap_journal_get(j, i);
            printf("\n%s\n  state:    %s\n  op:       %s%s%s\n  owner:    %u\n", rec->name,
                   ptap_state_to_string(rec->state), rec->id, *rec->batch ? "  batch " : "",
                   rec->batch, (unsigned) rec->owner);
            if (rec->group != (gid_t) -1)
                printf("  group:    %u\n", (unsigned) rec->group);
            if (rec->ifindex)
                printf("  ifindex:  %d\n", rec->ifindex);
            if (*rec->bridge)
                printf("  bridge:   %s\n", rec->bridge);
            if (*rec->mac)
                printf("  mac:      %s\n", rec->mac);
            if (rec->mtu)
                printf("  mtu:      %u\n", rec->mtu);
            if (rec->flags & (PTAP_TAP_MULTI_QUEUE | PTAP_TAP_VNET_HDR))
                printf("  flags:   %s%s\n", rec->flags & PTAP_TAP_MULTI_QUEUE ? " multi-queue" : "",
                       rec->flags & PTAP_TAP_VNET_HDR ? " vnet-hdr" : "");
            if (rec->consumer.kind != PTAP_CONSUMER_NONE) {
                const ptap_consumer *k = &rec->consumer;
                printf("  consumer: %s %s%s%s%s\n", ptap_consumer_kind_to_string(k->kind), k->target,
                       *k->name ? " (" : "", k->name, *k->name ? ")" : "");
                if (k->pid)
                    printf("  qemu pid: %d\n", (int) k->pid);
                printf("  netdev:   %s  device: %s  model: %s  mac: %s\n", strna(*k->netdev_id ? k->netdev_id : NULL),
                       strna(*k->device_id ? k->device_id : NULL), strna(*k->model ? k->model : NULL),
                       strna(*k->mac ? k->mac : NULL));
            }
            char t1[32], t2[32];
            struct tm tm;
            strftime(t1, sizeof(t1), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&rec->created, &tm));
            strftime(t2, sizeof(t2), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&rec->updated, &tm));
            printf("  created:  %s  updated: %s\n", t1, t2);
        }
        return EX_OK;
    }
    if (strcmp(sub, "check") == 0) {
        char err[1024] = "";
        /* The installed schema, or the source tree's when run uninstalled. */
        const char *schema = access(PTAP_SCHEMA_PATH, R_OK) == 0 ? PTAP_SCHEMA_PATH
                                                                 : PTAP_SOURCE_SCHEMA_PATH;
        /* Take the lock so a writer's half-written record is not judged. */
        r = cli_open_journal(c, false, &j);
        if (r < 0)
            return -r;
        if (strcmp(ptap_journal_path(j), "(memory)") == 0) {
            printf("no journal yet: nothing on record\n");
            return EX_OK;
        }
        r = ptap_journal_validate_file(ptap_journal_path(j), schema, err, sizeof(err));
        if (r == -EBADMSG)
            return cli_err(EX_CONFIG, "journal '%s' is not valid: %s", ptap_journal_path(j), err);
        if (r < 0)
            return cli_err(EX_OSERR, "cannot check journal '%s': %s%s%s", ptap_journal_path(j),
                           strerror(-r), *err ? ": " : "", err);
        printf("journal '%s' is valid: %zu live record(s)\n", ptap_journal_path(j),
               ptap_journal_count(j));
        return EX_OK;
    }
    if (strcmp(sub, "compact") == 0) {
        r = cli_open_journal(c, true, &j);
        if (r < 0)
            return -r;
        r = ptap_journal_compact(j);
        if (r < 0)
            return cli_err(EX_OSERR, "cannot compact journal '%s': %s", ptap_journal_path(j),
                           strerror(-r));
        return EX_OK;
    }
    return cli_usage_error("journal", "unknown subcommand '%s' (dump, check or compact)", sub);
}
