/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap attach / detach: a NIC into a running guest and out again.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hotplug.h"
#include "nic.h"
#include "validate.h"

#define TIMEOUT_MAX_S 3600 /* --timeout: an hour is more than any guest needs */

#define TARGET_HELP "TARGET is a libvirt domain (name or UUID), qmp:PATH or hmp:PATH.\n"

/* The NIC as attach/detach print it: one line, or (--json) an object
 * that names the journal, like every object ptap prints about a tap. */
static void print_result(cli *c, const ptap_journal *j, const char *verb,
                         const ptap_attach_out *o)
{
    if (c->json) {
        json_object *obj = json_object_new_object();
        json_object_object_add(obj, "tap", json_object_new_string(o->tap));
        json_object_object_add(obj, "journal", json_object_new_string(ptap_journal_id(j)));
        json_object_object_add(obj, "mac", json_object_new_string(o->mac));
        json_object_object_add(obj, "device_id", json_object_new_string(o->device_id));
        json_object_object_add(obj, "netdev_id", json_object_new_string(o->netdev_id));
        json_object_object_add(obj, "target", json_object_new_string(o->target));
        json_object_object_add(obj, "domain", *o->name ? json_object_new_string(o->name) : NULL);
        if (strcmp(verb, "detached") == 0)
            json_object_object_add(obj, "tap_kept", json_object_new_boolean(o->kept));
        cli_print_json(obj);
        return;
    }
    printf("%s %s mac %s id %s\n", verb, o->tap, o->mac, o->device_id);
}

/* ---- attach ---- */

enum {
    ATTACH_TAP,
    ATTACH_BRIDGE,
    ATTACH_MTU,
    ATTACH_MULTI_QUEUE,
    ATTACH_VNET_HDR,
    ATTACH_MAC,
    ATTACH_MODEL,
    ATTACH_QUEUES,
    ATTACH_VHOST,
    ATTACH_ID,
    ATTACH_METHOD,
    ATTACH_CONNECT,
    ATTACH_TIMEOUT,
    ATTACH_PERSISTENT,
};

static const cli_option attach_options[] = {
    [ATTACH_TAP] = CLI_VALUE("tap", "NAME", "use this ready tap of the pool instead of a fresh one"),
    [ATTACH_BRIDGE] = CLI_VALUE("bridge", "BR", "a fresh tap: enslave it to bridge BR"),
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
        .mtu = (unsigned) a->num[ATTACH_MTU],
        .multi_queue = cli_flag(a, ATTACH_MULTI_QUEUE),
        .vnet_hdr = cli_flag(a, ATTACH_VNET_HDR),
        .model = a->value[ATTACH_MODEL],
        .queues = (unsigned) a->num[ATTACH_QUEUES],
        .vhost = cli_flag(a, ATTACH_VHOST),
        .id = a->value[ATTACH_ID],
        .mac = a->value[ATTACH_MAC],
        .timeout_ms = (unsigned) a->num[ATTACH_TIMEOUT] * 1000u,
        .persistent = cli_flag(a, ATTACH_PERSISTENT),
    };
    ptap_attach_out out;
    ptap_error err = { 0 };
    int ex, r;

    if (a->argc != 1)
        return cli_usage_error("attach", "expected one TARGET (DOMAIN, qmp:PATH or hmp:PATH)");
    req.target = a->argv[0];
    if (req.tap && (req.bridge || req.mtu || req.multi_queue || req.vnet_hdr))
        return cli_usage_error("attach",
                               "--tap takes an existing tap: --bridge, --mtu, --multi-queue and "
                               "--vnet-hdr apply to a fresh one");
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_attach(j, &req, &out, &err);
    if (r < 0)
        return cli_fail(&err, r, "attach failed");
    print_result(c, j, "attached", &out);
    return EX_OK;
}

const cli_command cli_cmd_attach = {
    .name = "attach",
    .synopsis = "TARGET [--tap NAME | --bridge BR --mtu N --multi-queue --vnet-hdr] [--mac MAC] "
                "[--model M] [--queues N] [--vhost] [--id ID] [--method device|monitor] "
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
    ex = cli_open_journal(c, true, &j);
    if (ex != EX_OK)
        return ex;
    r = ptap_detach(j, &req, &out, &err);
    if (r < 0)
        return cli_fail(&err, r, "detach failed");
    print_result(c, j, "detached", &out);
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
