/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap hook-prepare / hook-started / hook-stopped: what ptap's libvirt
 * hook runs, with the domain XML libvirt gave it on stdin (migrate.h,
 * docs/migration.md). Never talks to libvirt.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "migrate.h"
#include "util.h"
#include "validate.h"
#include "vmeta.h"

/* Every hook command's first two options; then each its own. */
enum { HOOK_UUID, HOOK_CONNECT, HOOK_EXTRA, HOOK_EXTRA2 };

#define HOOK_COMMON_OPTIONS                                                                   \
    [HOOK_UUID] = CLI_VALUE("uuid", "UUID", "the domain's UUID: the XML must carry it"),      \
    [HOOK_CONNECT] = CLI_VALUE("connect", "URI",                                              \
                               "the connection the records name (default qemu:///system)")

static const cli_option prepare_options[] = {
    HOOK_COMMON_OPTIONS,
    [HOOK_EXTRA] = CLI_VALUE("qemu-conf", "FILE",
                             "where QEMU's user is set (default /etc/libvirt/qemu.conf)"),
    [HOOK_EXTRA2] = CLI_VALUE("network-dir", "DIR",
                              "libvirt's status of active networks (default /run/libvirt/network)"),
    {},
};

static const cli_option started_options[] = {
    HOOK_COMMON_OPTIONS,
    [HOOK_EXTRA] = CLI_VALUE("pid-file", "FILE",
                             "libvirt's pid file of QEMU (default /run/libvirt/qemu/DOMAIN.pid)"),
    {},
};

static const cli_option stopped_options[] = {
    HOOK_COMMON_OPTIONS,
    [HOOK_EXTRA] = CLI_VALUE("status", "FILE",
                             "libvirt's status XML of the domain (default "
                             "/run/libvirt/qemu/DOMAIN.xml)"),
    {},
};

typedef int (*hook_fn)(ptap_journal *, const ptap_hook_req *, ptap_hook_result *, ptap_error *);

/* The actions as text, or (--json) as "records" of the version 1 document
 * (ptap(1) JSON OUTPUT): each the record of its tap as it is now (a closed
 * one "destroyed", from @snap), with what was done and why beside it. */
static void print_actions(cli *c, const ptap_journal *j, const ptap_record *snap, size_t n_snap,
                          const ptap_hook_result *res)
{
    if (c->json) {
        json_object *arr = json_object_new_array();

        for (size_t i = 0; i < res->n; i++) {
            const ptap_hook_action *a = &res->actions[i];
            cli_action ca = { .name = a->tap, .action = a->action, .reason = a->reason, .done = true };

            json_object_array_add(arr, cli_action_json(j, snap, n_snap, &ca));
        }
        json_object_object_add(cli_doc(j), "records", arr);
        return;
    }
    for (size_t i = 0; i < res->n; i++)
        printf("%s %s%s%s\n", res->actions[i].action, res->actions[i].tap,
               *res->actions[i].reason ? ": " : "", res->actions[i].reason);
}

/* @req: the command's own fields already set; the rest is filled here. */
static int run_hook(cli *c, const cli_args *a, const char *name, hook_fn fn, ptap_hook_req req)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_free_ char *xml = NULL, *status = NULL;
    _cleanup_free_ ptap_record *snap = NULL;
    size_t n_snap = 0;
    ptap_hook_result res = { 0 };
    ptap_error err = { 0 };
    size_t len = 0;
    int ex, r;

    req.uuid = a->value[HOOK_UUID];
    req.uri = a->value[HOOK_CONNECT];
    if (a->argc != 1)
        return cli_usage_error(name, "expected one DOMAIN (the domain XML comes on stdin)");
    req.domain = a->argv[0];
    if (!*req.domain || strchr(req.domain, '/'))
        return cli_usage_error(name, "invalid domain name '%s'", req.domain);
    if (req.uuid && !ptap_is_uuid(req.uuid))
        return cli_usage_error(name, "invalid UUID '%s'", req.uuid);
    r = ptap_read_all(STDIN_FILENO, PTAP_VMETA_XML_MAX, &xml, &len);
    if (r < 0)
        return cli_err(r == -EFBIG || r == -E2BIG ? EX_DATAERR : EX_IOERR,
                       "cannot read the domain XML of '%s' from stdin: %s", req.domain,
                       strerror(-r));
    req.xml = xml;
    req.len = len;
    if (fn == ptap_hook_stopped && !req.status) {
        if (asprintf(&status, "/run/libvirt/qemu/%s.xml", req.domain) < 0)
            return cli_err(EX_OSERR, "out of memory");
        req.status = status;
    }
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    snap = cli_snapshot(j, NULL, 0, &n_snap);
    if (!snap)
        return cli_err(EX_OSERR, "out of memory");
    r = fn(j, &req, &res, &err);
    print_actions(c, j, snap, n_snap, &res);
    if (r < 0)
        return cli_fail(&err, r, "the libvirt hook failed");
    return EX_OK;
}

static int run_prepare(cli *c, const cli_args *a)
{
    return run_hook(c, a, "hook-prepare", ptap_hook_prepare,
                    (ptap_hook_req) { .qemu_conf = a->value[HOOK_EXTRA],
                                      .network_dir = a->value[HOOK_EXTRA2] });
}

static int run_started(cli *c, const cli_args *a)
{
    return run_hook(c, a, "hook-started", ptap_hook_started,
                    (ptap_hook_req) { .pid_file = a->value[HOOK_EXTRA] });
}

static int run_stopped(cli *c, const cli_args *a)
{
    return run_hook(c, a, "hook-stopped", ptap_hook_stopped,
                    (ptap_hook_req) { .status = a->value[HOOK_EXTRA] });
}

#define HOOK_SYNOPSIS "DOMAIN [--uuid UUID] [--connect URI] [--json]"

const cli_command cli_cmd_hook_prepare = {
    .name = "hook-prepare",
    .synopsis = HOOK_SYNOPSIS " [--qemu-conf FILE] [--network-dir DIR] < DOMAIN.xml",
    .summary = "libvirt hook: make the taps a starting or incoming guest's metadata names",
    .details = "Run by ptap's libvirt hook at 'migrate begin' and 'prepare begin' with the\n"
               "domain XML on stdin. All or nothing: when one tap cannot be made, none is\n"
               "left and the exit code is not 0 (libvirt then refuses the start or the\n"
               "migration with ptap's message). See docs/migration.md.\n",
    .see = "ptap(1), docs/migration.md",
    .options = prepare_options,
    .run = run_prepare,
};

const cli_command cli_cmd_hook_started = {
    .name = "hook-started",
    .synopsis = HOOK_SYNOPSIS " [--pid-file FILE] < DOMAIN.xml",
    .summary = "libvirt hook: the guest's QEMU runs, its taps' records become attached",
    .see = "ptap(1), docs/migration.md",
    .options = started_options,
    .run = run_started,
};

const cli_command cli_cmd_hook_stopped = {
    .name = "hook-stopped",
    .synopsis = HOOK_SYNOPSIS " [--status FILE] < DOMAIN.xml",
    .summary = "libvirt hook: the guest left by migration or never started: its taps go",
    .details = "Run by ptap's libvirt hook at 'stopped end'. When libvirt's status says a\n"
               "migration was under way, every tap on record for the domain is destroyed\n"
               "(pool taps too: the name travels with the guest); otherwise only those a\n"
               "start made and never attached. 'ptap release' (at 'release end') does the\n"
               "rest, as for any guest.\n",
    .see = "ptap(1), docs/migration.md",
    .options = stopped_options,
    .run = run_stopped,
};
