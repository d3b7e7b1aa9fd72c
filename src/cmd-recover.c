/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap recover / release: make the journal and the world agree again,
 * after a crash (recover) or when a guest is gone (release).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "recover.h"

/* The actions as text, or as a JSON array of objects; each object names
 * the journal it acted on, like every object ptap prints about a tap. */
static int print_actions(cli *c, const ptap_journal *j, const ptap_recover_result *res,
                         bool dry_run)
{
    if (c->json) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < res->n; i++) {
            const ptap_action *a = &res->actions[i];
            json_object *o = json_object_new_object();
            json_object_object_add(o, "action", json_object_new_string(a->action));
            json_object_object_add(o, "name", json_object_new_string(a->name));
            json_object_object_add(o, "journal", json_object_new_string(ptap_journal_id(j)));
            json_object_object_add(o, "state", *a->state ? json_object_new_string(a->state) : NULL);
            json_object_object_add(o, "reason", json_object_new_string(a->reason));
            json_object_object_add(o, "done", json_object_new_boolean(!dry_run));
            /* Where it was judged (the namespace a followed tap went to). */
            json_object *ns = cli_netns_json(&a->netns);
            if (ns)
                json_object_object_add(ns, "current", json_object_new_boolean(a->here));
            json_object_object_add(o, "netns", ns);
            json_object_array_add(arr, o);
        }
        cli_print_json(arr);
        return EX_OK;
    }
    if (res->n == 0 && c->verbose)
        fprintf(stderr, "ptap: nothing to recover\n");
    for (size_t i = 0; i < res->n; i++) {
        const ptap_action *a = &res->actions[i];
        char where[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 4], ns[sizeof(where) + 16] = "";

        /* Done in another namespace than this one: say which (the
         * namespace actions name theirs in the reason already). */
        if (!a->here && ptap_netns_known(&a->netns) && strcmp(a->action, "other-netns") != 0 &&
            strcmp(a->action, "netns-gone") != 0 && strcmp(a->action, "follow-netns") != 0) {
            ptap_netns_describe(&a->netns, where, sizeof(where));
            snprintf(ns, sizeof(ns), " [netns %s]", where);
        }
        printf("%s%s '%s'%s%s%s: %s%s\n", dry_run ? "would " : "", a->action, a->name,
               *a->state ? " (" : "", a->state, *a->state ? ")" : "", a->reason, ns);
    }
    return EX_OK;
}

/* ---- recover ---- */

enum { RECOVER_DRY_RUN };

static const cli_option recover_options[] = {
    [RECOVER_DRY_RUN] = CLI_FLAG("dry-run", "print the plan and change nothing"),
    {},
};

static int run_recover(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_recover_result res = { 0 };
    ptap_error err = { 0 };
    bool dry_run = cli_flag(a, RECOVER_DRY_RUN);
    int ex, r;

    if (a->argc > 0)
        return cli_usage_error("recover", "unexpected argument '%s'", a->argv[0]);
    ex = cli_open_journal(c, !dry_run, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_recover(j, dry_run, &res, &err);
    if (r < 0)
        return cli_fail(&err, r, "recovery failed");
    ex = print_actions(c, j, &res, dry_run);
    ptap_recover_result_clear(&res);
    return ex;
}

const cli_command cli_cmd_recover = {
    .name = "recover",
    .synopsis = "[--dry-run] [--json]",
    .summary = "make journal and kernel agree after a crash",
    .details = "Rolls back or completes interrupted operations, closes records whose tap\n"
               "vanished, destroys the taps attach made for a guest that is gone (its pool\n"
               "taps go back to the pool) and this journal's orphans. Unmarked devices,\n"
               "other journals' taps and taps a process holds are never touched. Each record\n"
               "is judged in its tap's network namespace (entered as root; left alone,\n"
               "other-netns, otherwise); a gone namespace's records close.\n",
    .options = recover_options,
    .run = run_recover,
};

/* ---- release ---- */

enum { RELEASE_UUID, RELEASE_CONNECT, RELEASE_FORCE };

static const cli_option release_options[] = {
    [RELEASE_UUID] = CLI_VALUE("uuid", "UUID",
                               "the domain's UUID: match it, never the name (the hook's form)"),
    [RELEASE_CONNECT] = CLI_VALUE("connect", "URI",
                                  "the libvirt connection of the domain (default: as attach)"),
    [RELEASE_FORCE] = CLI_FLAG("force", "release even taps whose guest still runs"),
    {},
};

static int run_release(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_recover_result res = { 0 };
    ptap_error err = { 0 };
    ptap_release_req req = { .uuid = a->value[RELEASE_UUID],
                             .uri = a->value[RELEASE_CONNECT],
                             .force = cli_flag(a, RELEASE_FORCE) };
    const char *why;
    int ex, r;

    if (a->argc != 1)
        return cli_usage_error("release", "expected one TARGET");
    req.target = a->argv[0];
    if (ptap_release_target_check(req.target, &why) < 0)
        return cli_usage_error("release", "cannot release '%s': %s", req.target, why);
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_release(j, &req, &res, &err);
    if (r < 0 && r != -EBUSY)
        return cli_fail(&err, r, "cannot release guest taps");
    ex = print_actions(c, j, &res, false);
    ptap_recover_result_clear(&res);
    if (r == -EBUSY)
        return cli_fail(&err, r, "cannot release guest taps");
    return ex;
}

const cli_command cli_cmd_release = {
    .name = "release",
    .synopsis = "TARGET [--uuid UUID] [--connect URI] [--force] [--json]",
    .summary = "destroy the taps of a guest that is gone, return its pool taps",
    .details = "TARGET is a libvirt domain (name or UUID), qmp:PATH or hmp:PATH, as for\n"
               "attach. Only the journal and /proc are read, libvirt is never asked (the\n"
               "libvirt hook runs it). The taps attach made for the guest are destroyed,\n"
               "its pool taps (made by create) are ready again. A tap whose guest still\n"
               "runs, or that a process holds, is kept (exit 75) unless --force. A name\n"
               "matches guests of the same connection only.\n"
               "Each tap is destroyed in its own network namespace (as root), else kept.\n",
    .options = release_options,
    .run = run_release,
};
