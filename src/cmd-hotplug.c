/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap attach / detach.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hotplug.h"
#include "nic.h"
#include "validate.h"

static int parse_timeout(const char *cmd, const char *arg, unsigned *ms)
{
    uint64_t v;

    if (ptap_parse_uint(arg, 1, 3600, &v) < 0)
        return -cli_usage_error(cmd, "invalid --timeout '%s': expected 1..3600 seconds", arg);
    *ms = (unsigned) v * 1000u;
    return 0;
}

static void print_result(cli *c, const char *verb, const ptap_attach_out *o)
{
    if (c->json) {
        json_object *obj = json_object_new_object();
        json_object_object_add(obj, "tap", json_object_new_string(o->tap));
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

int cmd_attach(cli *c, int argc, char **argv)
{
    static const struct option extra[] = {
        { "tap", required_argument, NULL, 't' },    { "bridge", required_argument, NULL, 'b' },
        { "mtu", required_argument, NULL, 'm' },    { "mac", required_argument, NULL, 'a' },
        { "multi-queue", no_argument, NULL, 'q' }, { "vnet-hdr", no_argument, NULL, 'n' },
        { "model", required_argument, NULL, 'M' },  { "queues", required_argument, NULL, 'Q' },
        { "vhost", no_argument, NULL, 'H' },        { "id", required_argument, NULL, 'i' },
        { "method", required_argument, NULL, 'x' }, { "connect", required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, 'T' },
    };
    struct option opts[32] = { CLI_GLOBAL_OPTS };
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_attach_req req = { 0 };
    ptap_attach_out out;
    ptap_error err = { 0 };
    uint64_t v;
    int opt, r;

    memcpy(opts + 4, extra, sizeof(extra));
    while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        if (cli_global_opt(c, opt, optarg))
            continue;
        switch (opt) {
        case 't': req.tap = optarg; break;
        case 'b': req.bridge = optarg; break;
        case 'm':
            if (ptap_parse_uint(optarg, PTAP_MTU_MIN, PTAP_MTU_MAX, &v) < 0)
                return cli_usage_error("attach", "invalid --mtu '%s'", optarg);
            req.mtu = (unsigned) v;
            break;
        case 'a': req.mac = optarg; break;
        case 'q': req.multi_queue = true; break;
        case 'n': req.vnet_hdr = true; break;
        case 'M': req.model = optarg; break;
        case 'Q':
            if (ptap_parse_uint(optarg, 1, PTAP_NIC_MAX_QUEUES, &v) < 0)
                return cli_usage_error("attach", "invalid --queues '%s': expected 1..%u", optarg,
                                       PTAP_NIC_MAX_QUEUES);
            req.queues = (unsigned) v;
            break;
        case 'H': req.vhost = true; break;
        case 'i': req.id = optarg; break;
        case 'x': req.method = optarg; break;
        case 'c': req.uri = optarg; break;
        case 'T':
            if ((r = parse_timeout("attach", optarg, &req.timeout_ms)) < 0)
                return -r;
            break;
        case 'h':
            fputs("Usage: ptap attach TARGET [--tap NAME | --bridge BR --mtu N --multi-queue "
                  "--vnet-hdr] [--mac MAC] [--model M] [--queues N] [--vhost] [--id ID] "
                  "[--method device|monitor] [--connect URI] [--timeout S] [--json]\n",
                  stdout);
            return EX_OK;
        default:
            return cli_usage_error("attach", "invalid option");
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("attach", "expected one TARGET (DOMAIN, qmp:PATH or hmp:PATH)");
    req.target = argv[optind];
    if (req.tap && (req.bridge || req.mtu || req.multi_queue || req.vnet_hdr))
        return cli_usage_error("attach",
                               "--tap takes an existing tap: --bridge, --mtu, --multi-queue and "
                               "--vnet-hdr apply to a fresh one");
    r = cli_open_journal(c, true, &j);
    if (r < 0)
        return -r;
    r = ptap_attach(j, &req, &out, &err);
    if (r < 0)
        return cli_fail(&err, r, "attach failed");
    print_result(c, "attached", &out);
    return EX_OK;
}

int cmd_detach(cli *c, int argc, char **argv)
{
    static const struct option extra[] = {
        { "tap", required_argument, NULL, 't' },     { "id", required_argument, NULL, 'i' },
        { "mac", required_argument, NULL, 'a' },     { "keep-tap", no_argument, NULL, 'k' },
        { "timeout", required_argument, NULL, 'T' }, { "connect", required_argument, NULL, 'c' },
    };
    struct option opts[16] = { CLI_GLOBAL_OPTS };
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    ptap_detach_req req = { 0 };
    ptap_attach_out out;
    ptap_error err = { 0 };
    int opt, r, selectors = 0;

    memcpy(opts + 4, extra, sizeof(extra));
    while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        if (cli_global_opt(c, opt, optarg))
            continue;
        switch (opt) {
        case 't': req.tap = optarg; selectors++; break;
        case 'i': req.id = optarg; selectors++; break;
        case 'a': req.mac = optarg; selectors++; break;
        case 'k': req.keep_tap = true; break;
        case 'c': req.uri = optarg; break;
        case 'T':
            if ((r = parse_timeout("detach", optarg, &req.timeout_ms)) < 0)
                return -r;
            break;
        case 'h':
            fputs("Usage: ptap detach TARGET (--tap NAME | --id ID | --mac MAC) [--keep-tap] "
                  "[--timeout S] [--json]\n",
                  stdout);
            return EX_OK;
        default:
            return cli_usage_error("detach", "invalid option");
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("detach", "expected one TARGET (DOMAIN, qmp:PATH or hmp:PATH)");
    if (selectors != 1)
        return cli_usage_error("detach", "name the NIC with exactly one of --tap, --id or --mac");
    req.target = argv[optind];
    r = cli_open_journal(c, true, &j);
    if (r < 0)
        return -r;
    r = ptap_detach(j, &req, &out, &err);
    if (r < 0)
        return cli_fail(&err, r, "detach failed");
    print_result(c, "detached", &out);
    return EX_OK;
}
