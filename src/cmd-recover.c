/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap recover / release: make the journal and the world agree again,
 * after a crash (recover) or when a guest is gone (release).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "helperexec.h"
#include "recover.h"

/* The actions as text, or (--json) as "records": each the record of its
 * tap as it is now (THE record object: a closed record "destroyed", an
 * orphan's with nulls), with what was done and why beside it. */
static int print_actions(cli *c, const ptap_journal *j, const ptap_record *snap, size_t n_snap,
                         const ptap_recover_result *res, bool dry_run)
{
    if (c->json) {
        json_object *arr = json_object_new_array();
        ptap_netns self = { 0 };
        bool have_self = ptap_netns_self(&self) == 0;

        for (size_t i = 0; i < res->n; i++) {
            const ptap_action *a = &res->actions[i];
            cli_action ca = {
                .name = a->name, .action = a->action, .state_before = a->state,
                .reason = a->reason, .done = !dry_run, .netns = &a->netns,
                .self = have_self ? &self : NULL,
            };

            json_object_array_add(arr, cli_action_json(j, snap, n_snap, &ca));
        }
        json_object_object_add(cli_doc(j), "records", arr);
        json_object_object_add(cli_doc(j), "dry_run", json_object_new_boolean(dry_run));
        return EX_OK;
    }
    /* Nothing to do: say so to a person (scripts keep an empty output). */
    if (res->n == 0 && (c->verbose || isatty(STDOUT_FILENO)))
        printf("nothing to do\n");
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
    _cleanup_free_ ptap_record *snap = NULL;
    size_t n_snap = 0;
    int ex, r;

    if (a->argc > 0)
        return cli_usage_error("recover", "unexpected argument '%s'", a->argv[0]);
    /* The helper dumps the links while the journal is read here, and
     * prints them: that is this namespace's view of the kernel (no dump of
     * ours); it gets the names of what is to go after its go. */
    ptap_journal_stamp before = { 0 };

    if (!dry_run) {
        cli_journal_stamp(c, &before);
        (void) ptap_helper_prestart_destroy_later(true);
    }
    /* Records judged by a look that missed another ptap's change would be
     * wrong: that helper is then not used (cli_open_journal_prestarted). */
    ex = dry_run ? cli_open_journal(c, false, &j) : cli_open_journal_prestarted(c, &before, &j);
    if (ex != EX_OK)
        return ex;
    snap = cli_snapshot(j, NULL, 0, &n_snap);
    if (!snap)
        return cli_fail(NULL, -ENOMEM, "recovery failed");
    r = ptap_recover(j, dry_run, &res, &err);
    if (r < 0)
        return cli_fail(&err, r, "recovery failed");
    ex = print_actions(c, j, snap, n_snap, &res, dry_run);
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
    _cleanup_free_ ptap_record *snap = NULL;
    size_t n_snap = 0;
    const char *why;
    int ex, r;

    if (a->argc != 1)
        return cli_usage_error("release", "expected one TARGET");
    req.target = a->argv[0];
    /* With --uuid the name is not matched (the hook passes any domain's):
     * only then may it look like a scheme. */
    ex = req.uuid ? EX_OK : cli_check_target("release", req.target);
    if (ex != EX_OK)
        return ex;
    if (ptap_release_target_check(req.target, &why) < 0)
        return cli_usage_error("release", "cannot release '%s': %s", req.target, why);
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    snap = cli_snapshot(j, NULL, 0, &n_snap);
    if (!snap)
        return cli_fail(NULL, -ENOMEM, "cannot release guest taps");
    r = ptap_release(j, &req, &res, &err);
    if (r < 0 && r != -EBUSY)
        return cli_fail(&err, r, "cannot release guest taps");
    ex = print_actions(c, j, snap, n_snap, &res, false);
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
