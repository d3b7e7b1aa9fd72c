/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap journal dump|check|compact: look at the journal itself.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* The journal file's path, or null for none yet (an empty journal). */
static json_object *path_json(const ptap_journal *j)
{
    const char *path = ptap_journal_path(j);

    return strcmp(path, "(memory)") == 0 ? NULL : json_object_new_string(path);
}

/* check/compact --json: {"path", "valid", "live_records"} beside the journal's id. */
static void summary_json(const ptap_journal *j, bool valid)
{
    json_object *d = cli_doc(j);

    json_object_object_add(d, "path", path_json(j));
    json_object_object_add(d, "valid", json_object_new_boolean(valid));
    json_object_object_add(d, "live_records", json_object_new_int64((int64_t) ptap_journal_count(j)));
}

/* "  owner:    alice (uid 1000)", or the number alone when it has no name
 * (as ip -d link shows them). */
static void print_id(const char *label, const char *kind, const char *name, unsigned id)
{
    if (name)
        printf("  %s:    %s (%s %u)\n", label, name, kind, id);
    else
        printf("  %s:    %u\n", label, id);
}

/* dump: the live records, readably or (--json) as list prints them. */
static int journal_dump(cli *c)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    size_t n;
    int ex;

    ex = cli_open_journal(c, false, &j);
    if (ex != EX_OK)
        return ex;
    n = ptap_journal_count(j);
    if (c->json) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(arr, cli_record_plain(j, ptap_journal_get(j, i)));
        json_object_object_add(cli_doc(j), "path", path_json(j));
        json_object_object_add(cli_doc(j), "records", arr);
        return EX_OK;
    }
    printf("journal %s (id %s): %zu live record(s)\n", ptap_journal_path(j),
           ptap_journal_id(j), n);
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_get(j, i);
        char name[256];

        printf("\n%s\n  state:    %s\n  op:       %s%s%s\n", rec->name,
               ptap_state_to_string(rec->state), rec->id, *rec->batch ? "  batch " : "", rec->batch);
        print_id("owner", "uid", cli_user_name(rec->owner, name, sizeof(name)), (unsigned) rec->owner);
        if (rec->group != (gid_t) -1)
            print_id("group", "gid", cli_group_name(rec->group, name, sizeof(name)), (unsigned) rec->group);
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

/* check: the journal against its RelaxNG schema and rules. */
static int journal_check(cli *c)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    /* The installed schema, or the source tree's when run uninstalled. */
    const char *schema = access(PTAP_SCHEMA_PATH, R_OK) == 0 ? PTAP_SCHEMA_PATH
                                                             : PTAP_SOURCE_SCHEMA_PATH;
    ptap_error err = { 0 };
    int ex, r;

    /* Take the lock so a writer's half-written record is not judged. */
    ex = cli_open_journal(c, false, &j);
    if (ex != EX_OK)
        return ex;
    if (strcmp(ptap_journal_path(j), "(memory)") == 0) {
        if (c->json)
            summary_json(j, true);
        else
            printf("no journal yet: nothing on record\n");
        return EX_OK;
    }
    r = ptap_journal_validate_file(ptap_journal_path(j), schema, NULL, &err);
    if (r == -EBADMSG) {
        if (c->json)
            summary_json(j, false);
        return cli_err(EX_CONFIG, "journal '%s' is not valid: %s", ptap_journal_path(j), err.msg);
    }
    if (r < 0)
        return cli_err(EX_OSERR, "cannot check journal '%s': %s%s%s", ptap_journal_path(j),
                       strerror(-r), *err.msg ? ": " : "", err.msg);
    if (c->json)
        summary_json(j, true);
    else
        printf("journal '%s' is valid: %zu live record(s)\n", ptap_journal_path(j),
               ptap_journal_count(j));
    return EX_OK;
}

/* compact: rewrite it as a snapshot of the live state (atomically). */
static int journal_compact(cli *c)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    int ex, r;

    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_journal_compact(j, NULL);
    if (r < 0)
        return cli_err(EX_OSERR, "cannot compact journal '%s': %s", ptap_journal_path(j),
                       strerror(-r));
    if (c->json)
        summary_json(j, true);
    return EX_OK;
}

static int run_journal(cli *c, const cli_args *a)
{
    static const struct {
        const char *name;
        int (*fn)(cli *c);
    } subs[] = {
        { "dump", journal_dump },
        { "check", journal_check },
        { "compact", journal_compact },
    };

    if (a->argc != 1)
        return cli_usage_error("journal", "expected one of dump, check, compact");
    for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
        if (strcmp(a->argv[0], subs[i].name) == 0) {
            char name[32];

            snprintf(name, sizeof(name), "journal %s", subs[i].name);
            json_object_object_add(cli_doc(NULL), "command", json_object_new_string(name));
            return subs[i].fn(c);
        }
    return cli_usage_error("journal", "unknown subcommand '%s' (dump, check or compact)",
                           a->argv[0]);
}

const cli_command cli_cmd_journal = {
    .name = "journal",
    .synopsis = "dump|check|compact",
    .summary = "look at the journal itself",
    .details = "  dump     print the live records readably (--json: the records, as list\n"
               "           prints them, without looking at the kernel)\n"
               "  check    validate the journal against its RelaxNG schema and rules (exit 78\n"
               "           when it is not valid)\n"
               "  compact  rewrite it as a snapshot of the live state (atomically)\n",
    .run = run_journal,
};
