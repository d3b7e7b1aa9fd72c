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
    int r;

    if (a->argc > 0)
        return cli_usage_error("recover", "unexpected argument '%s'", a->argv[0]);
    r = cli_open_journal(c, !dry_run, &j);
    if (r < 0)
        return -r;
    r = ptap_recover(j, dry_run, &res, &err);
    if (r < 0)
        return cli_fail(&err, r, "recovery failed");
    r = print_actions(c, j, &res, dry_run);
    ptap_recover_result_clear(&res);
    return r;
}

const cli_command cli_cmd_recover = {
    .name = "recover",
    .synopsis = "[--dry-run] [--json]",
    .summary = "make journal and kernel agree after a crash",
    .details = "Rolls back or completes interrupted operations, closes records whose tap\n"
               "vanished, destroys taps whose guest is gone and this journal's orphans.\n"
               "Unmarked devices and other journals' taps are never touched.\n",
    .options = recover_options,
    .run = run_recover,
};

/* ---- release ---- */

static int run_release(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_recover_result res = { 0 };
    ptap_error err = { 0 };
    int r;

    if (a->argc != 1)
        return cli_usage_error("release", "expected one DOMAIN");
    r = cli_open_journal(c, true, &j);
    if (r < 0)
        return -r;
    r = ptap_release(j, a->argv[0], &res, &err);
    if (r < 0)
        return cli_fail(&err, r, "cannot release guest taps");
    r = print_actions(c, j, &res, false);
    ptap_recover_result_clear(&res);
    return r;
}

const cli_command cli_cmd_release = {
    .name = "release",
    .synopsis = "DOMAIN [--json]",
    .summary = "destroy every tap on record for a guest",
    .details = "DOMAIN is a libvirt domain name or UUID, or a monitor socket's target;\n"
               "only the journal is read, libvirt is never asked (the libvirt hook runs it).\n",
    .run = run_release,
};
