/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap attach / detach: a NIC into a running guest and out again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hotplug.h"
#include "nic.h"
#include "validate.h"

#define TIMEOUT_MAX_S 3600 /* --timeout: an hour is more than any guest needs */

#define TARGET_HELP "TARGET is a libvirt domain (name or UUID), qmp:PATH or hmp:PATH; another\n" \
    "SCHEME: is refused (exit 64).\n"

/* The NIC as attach/detach print it: one line, or (--json) the tap's
 * record as it is now, the kernel's view beside (a destroyed tap: its
 * record as it was, state "destroyed"). */
static void print_result(cli *c, const ptap_journal *j, const char *verb, const ptap_attach_out *o,
                         const ptap_record *snap, size_t n_snap)
{
    if (c->json) {
        _cleanup_(ptap_kviews_clear) ptap_kviews w = { 0 };
        json_object *arr = json_object_new_array(), *d = cli_doc(j);
        char *names[] = { (char *) o->tap, NULL };
        ptap_record buf;
        const ptap_record *rec = cli_record_after(j, snap, n_snap, o->tap, &buf);
        cli_tap t = { .rec = rec, .in_kernel = -1 };

        if (rec && rec->state != PTAP_STATE_DESTROYED && ptap_kviews_init(&w, names, 1, NULL) == 0)
            cli_tap_find(&w, ptap_journal_id(j), rec, &t);
        else if (rec && rec->state == PTAP_STATE_DESTROYED)
            t.in_kernel = 0;
        if (rec)
            json_object_array_add(arr, cli_record_json(j, &t));
        json_object_object_add(d, "records", arr);
        if (strcmp(verb, "detached") == 0)
            json_object_object_add(d, "tap_kept", json_object_new_boolean(o->kept));
        return;
    }
    printf("%s %s mac %s id %s%s%s\n", verb, o->tap, o->mac, o->device_id, *o->bus ? " bus " : "",
           o->bus);
}

/* ---- attach ---- */

enum {
    ATTACH_TAP,
    ATTACH_BRIDGE,
    ATTACH_NETWORK,
    ATTACH_MTU,
    ATTACH_MULTI_QUEUE,
    ATTACH_VNET_HDR,
    ATTACH_MAC,
    ATTACH_MODEL,
    ATTACH_QUEUES,
    ATTACH_VHOST,
    ATTACH_ID,
    ATTACH_BUS,
    ATTACH_METHOD,
    ATTACH_CONNECT,
    ATTACH_TIMEOUT,
    ATTACH_PERSISTENT,
};

static const cli_option attach_options[] = {
    [ATTACH_TAP] = CLI_VALUE("tap", "NAME", "use this ready tap of the pool instead of a fresh one"),
    [ATTACH_BRIDGE] = CLI_VALUE("bridge", "BR", "a fresh tap: enslave it to bridge BR"),
    [ATTACH_NETWORK] = CLI_VALUE("network", "NAME",
                                 "a fresh tap: on the bridge of active libvirt network NAME "
                                 "(asked of libvirt as for --connect)"),
    [ATTACH_MTU] = CLI_NUMBER("mtu", "N", "a fresh tap: its MTU, by default the bridge's",
                              PTAP_MTU_MIN, PTAP_MTU_MAX, NULL),
    [ATTACH_MULTI_QUEUE] = CLI_FLAG("multi-queue", "a fresh tap: multi-queue"),
    [ATTACH_VNET_HDR] = CLI_FLAG("vnet-hdr", "a fresh tap: with a virtio-net header"),
    [ATTACH_MAC] = CLI_VALUE("mac", "MAC", "the guest NIC's MAC (default: a fresh 52:54:00:xx:xx:xx)"),
    [ATTACH_MODEL] = CLI_VALUE("model", "M", "virtio-net-pci (default), e1000 or rtl8139"),
    [ATTACH_QUEUES] = CLI_NUMBER("queues", "N", "queues of a virtio NIC; more than one makes a "
                                 "multi-queue tap", 1, PTAP_NIC_MAX_QUEUES, NULL),
    [ATTACH_VHOST] = CLI_FLAG("vhost", "use vhost-net"),
    [ATTACH_ID] = CLI_VALUE("id", "ID", "the QEMU device id (default net-TAP)"),
    [ATTACH_BUS] = CLI_VALUE("bus", "BUS",
                             "the bus to plug into: a free pcie-root-port's id (libvirt: its "
                             "alias pci.N); default: QEMU's or libvirt's choice, on a q35 guest "
                             "a free root port"),
    [ATTACH_METHOD] = CLI_VALUE("method", "device|monitor",
                                "libvirt: its attach API (default), or QMP through libvirt-qemu"),
    [ATTACH_CONNECT] = CLI_VALUE("connect", "URI",
                                 "libvirt connection (default $LIBVIRT_DEFAULT_URI, else "
                                 "qemu:///system for root, qemu:///session otherwise)"),
    [ATTACH_TIMEOUT] = CLI_NUMBER("timeout", "S", "how long to wait for QEMU or libvirt", 1,
                                  TIMEOUT_MAX_S, "seconds"),
    [ATTACH_PERSISTENT] = CLI_FLAG("persistent", "libvirt: also add the NIC (and what re-creates "
                                   "its tap on another host) to the persistent definition"),
    {},
};

static int run_attach(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_attach_req req = {
        .uri = a->value[ATTACH_CONNECT],
        .method = a->value[ATTACH_METHOD],
        .tap = a->value[ATTACH_TAP],
        .bridge = a->value[ATTACH_BRIDGE],
        .network = a->value[ATTACH_NETWORK],
        .mtu = (unsigned) a->num[ATTACH_MTU],
        .multi_queue = cli_flag(a, ATTACH_MULTI_QUEUE),
        .vnet_hdr = cli_flag(a, ATTACH_VNET_HDR),
        .model = a->value[ATTACH_MODEL],
        .queues = (unsigned) a->num[ATTACH_QUEUES],
        .vhost = cli_flag(a, ATTACH_VHOST),
        .id = a->value[ATTACH_ID],
        .mac = a->value[ATTACH_MAC],
        .bus = a->value[ATTACH_BUS],
        .timeout_ms = (unsigned) a->num[ATTACH_TIMEOUT] * 1000u,
        .persistent = cli_flag(a, ATTACH_PERSISTENT),
    };
    ptap_attach_out out;
    ptap_error err = { 0 };
    int ex, r;

    if (a->argc != 1)
        return cli_usage_error("attach", "expected one TARGET (DOMAIN, qmp:PATH or hmp:PATH)");
    req.target = a->argv[0];
    ex = cli_check_target("attach", req.target);
    if (ex != EX_OK)
        return ex;
    if (req.tap && (req.bridge || req.network || req.mtu || req.multi_queue || req.vnet_hdr))
        return cli_usage_error("attach",
                               "--tap takes an existing tap: --bridge, --network, --mtu, "
                               "--multi-queue and --vnet-hdr apply to a fresh one");
    if (req.bridge && req.network)
        return cli_usage_error("attach", "--bridge and --network are mutually exclusive");
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_attach(j, &req, &out, &err);
    if (r < 0)
        return cli_fail(&err, r, "attach failed");
    print_result(c, j, "attached", &out, NULL, 0);
    return EX_OK;
}

const cli_command cli_cmd_attach = {
    .name = "attach",
    .synopsis = "TARGET [--tap NAME | --bridge BR|--network NAME --mtu N --multi-queue --vnet-hdr] "
                "[--mac MAC] "
                "[--model M] [--queues N] [--vhost] [--id ID] [--bus BUS] [--method device|monitor] "
                "[--connect URI] [--timeout S] [--persistent] [--json]",
    .summary = "hot-add a NIC to a running guest",
    .details = TARGET_HELP,
    .options = attach_options,
    .run = run_attach,
};

/* ---- detach ---- */

enum { DETACH_TAP, DETACH_ID, DETACH_MAC, DETACH_KEEP_TAP, DETACH_TIMEOUT, DETACH_CONNECT };

static const cli_option detach_options[] = {
    [DETACH_TAP] = CLI_VALUE("tap", "NAME", "the NIC on this tap"),
    [DETACH_ID] = CLI_VALUE("id", "ID", "the NIC with this QEMU device id"),
    [DETACH_MAC] = CLI_VALUE("mac", "MAC", "the NIC with this guest MAC"),
    [DETACH_KEEP_TAP] = CLI_FLAG("keep-tap",
                                 "return the tap to the pool (state ready) instead of destroying it"),
    [DETACH_TIMEOUT] = CLI_NUMBER("timeout", "S", "how long to wait until the guest released the NIC",
                                  1, TIMEOUT_MAX_S, "seconds"),
    [DETACH_CONNECT] = CLI_VALUE("connect", "URI", "libvirt connection (as for attach)"),
    {},
};

static int run_detach(cli *c, const cli_args *a)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_free_ ptap_record *snap = NULL;
    size_t n_snap = 0;
    ptap_detach_req req = {
        .uri = a->value[DETACH_CONNECT],
        .tap = a->value[DETACH_TAP],
        .id = a->value[DETACH_ID],
        .mac = a->value[DETACH_MAC],
        .keep_tap = cli_flag(a, DETACH_KEEP_TAP),
        .timeout_ms = (unsigned) a->num[DETACH_TIMEOUT] * 1000u,
    };
    ptap_attach_out out;
    ptap_error err = { 0 };
    int ex, r;

    if (a->argc != 1)
        return cli_usage_error("detach", "expected one TARGET (DOMAIN, qmp:PATH or hmp:PATH)");
    if (!!req.tap + !!req.id + !!req.mac != 1)
        return cli_usage_error("detach", "name the NIC with exactly one of --tap, --id or --mac");
    req.target = a->argv[0];
    ex = cli_check_target("detach", req.target);
    if (ex != EX_OK)
        return ex;
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    snap = cli_snapshot(j, NULL, 0, &n_snap);
    if (!snap)
        return cli_fail(NULL, -ENOMEM, "detach failed");
    r = ptap_detach(j, &req, &out, &err);
    if (r < 0)
        return cli_fail(&err, r, "detach failed");
    print_result(c, j, "detached", &out, snap, n_snap);
    return EX_OK;
}

const cli_command cli_cmd_detach = {
    .name = "detach",
    .synopsis = "TARGET (--tap NAME | --id ID | --mac MAC) [--keep-tap] [--timeout S] "
                "[--connect URI] [--json]",
    .summary = "hot-remove a NIC, then destroy (or keep) its tap",
    .details = TARGET_HELP,
    .options = detach_options,
    .run = run_detach,
};
