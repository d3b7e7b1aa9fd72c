/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the monitor room: HMP line checks, reply cleaning and
 * parsing, and the QMP client against a peer scripted on a socketpair
 * (greeting, capabilities, interleaved events, error replies, late replies,
 * timeouts). The NIC's command lines, QMP arguments, their refusals and
 * QEMU's error texts are nic.c's: tests/unit/test_nic.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "hmp.h"
#include "monitor.h"
#include "qmp.h"
#include "util.h"

/* ---- HMP lines ---- */

static void test_line_check(void **state)
{
    static const struct {
        const char *line;
        int r;
    } cases[] = {
        { "info network", 0 },
        { "", -EINVAL },
        { "info network\n", -EINVAL },
        { "info\rnetwork", -EINVAL },
        { "info\tnetwork", -EINVAL },
        { "info \x1b[Anetwork", -EINVAL },
        { "info \x7fnetwork", -EINVAL },
        { "info \xc3\xa9", -EINVAL },
    };
    char longline[PTAP_HMP_MAX_LINE + 1];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_int_equal(ptap_hmp_line_check(cases[i].line), cases[i].r);
    memset(longline, 'a', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    assert_int_equal(ptap_hmp_line_check(longline), -EINVAL);
    assert_int_equal(ptap_hmp_line_check(NULL), -EINVAL);
}

/* ---- HMP replies ---- */

static void test_hmp_clean(void **state)
{
    static const struct {
        const char *raw, *text;
    } cases[] = {
        /* QEMU 7.2: readline echo with cursor escapes, then the output. */
        { "n\x1b[K\x1b[Dne\x1b[K\x1b[D\x1b[Dnet\x1b[K\r\n(qemu) ", "" },
        { "d\x1b[K\x1b[Ddevice_add x\x1b[K\r\nError: Duplicate device ID 'd1'\r\n(qemu) ",
          "Error: Duplicate device ID 'd1'" },
        { "i\x1b[K\r\nd1: index=0,type=nic\r\n \\ n1: index=0,type=tap\r\n(qemu) ",
          "d1: index=0,type=nic\n \\ n1: index=0,type=tap" },
        /* QEMU 0.12 (as the fake echoes it). */
        { "pci_add pci_addr=auto nic\x1b[K\r\nOK domain 0, bus 0, slot 5, function 0\r\n(qemu) ",
          "OK domain 0, bus 0, slot 5, function 0" },
        { "host_net_add tap x\r\ncould not configure /dev/net/tun (ptap0): Operation not permitted\r\n"
          "adding host network device tap failed\r\n(qemu) ",
          "could not configure /dev/net/tun (ptap0): Operation not permitted\n"
          "adding host network device tap failed" },
        { "help netdev_add\r\n(qemu) ", "" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *t = ptap_hmp_clean_reply(cases[i].raw, strlen(cases[i].raw), 1);
        assert_non_null(t);
        assert_string_equal(t, cases[i].text);
    }
    const char *raw = "QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) ";
    _cleanup_free_ char *banner = ptap_hmp_clean_reply(raw, strlen(raw), 0);
    assert_string_equal(banner, "QEMU 7.2.22 monitor - type 'help' for more information");
}

static void test_parse_pci_add(void **state)
{
    static const struct {
        const char *reply;
        int r, slot;
    } cases[] = {
        { "OK domain 0, bus 0, slot 5, function 0", 0, 5 },
        { "OK domain 0, bus 0, slot 31, function 0", 0, 31 },
        { "OK domain 0, bus 0, slot 32, function 0", PTAP_NIC_E_QEMU, -1 },
        { "failed to add model=virtio,macaddr=52:54:00:12:34:56,vlan=1", PTAP_NIC_E_QEMU, -1 },
        { "Invalid pci address", PTAP_NIC_E_QEMU, -1 },
        { "OK domain 0, bus 0, slot 5, function 0 trailing", PTAP_NIC_E_QEMU, -1 },
        { "", PTAP_NIC_E_QEMU, -1 },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int slot = -1;
        assert_int_equal(ptap_monitor_parse_pci_add(cases[i].reply, &slot), cases[i].r);
        assert_int_equal(slot, cases[i].slot);
    }
}

static void test_info_texts(void **state)
{
    const char *net012 =
        "VLAN 0 devices:\n  user.0: net=10.0.2.0, restricted=n\n  e1000.0: model=e1000,macaddr=52:54:00:12:34:56\n"
        "VLAN 2 devices:\n  hn2: ifname=ptap2,script=no,downscript=no\n  virtio.0: model=virtio-net-pci,macaddr=52:54:00:00:00:02\n"
        "Devices not on any VLAN:\n";
    const char *net72 = "d1: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:00:00:01\n"
                        " \\ n1: index=0,type=tap,ifname=ptapt0,script=no,downscript=no\n"
                        "n2: index=0,type=tap,ifname=ptapt1,script=no,downscript=no\n";
    const char *pci = "  Bus  0, device   0, function 0:\n    Host bridge: PCI device 8086:1237\n      id \"\"\n"
                      "  Bus  0, device   4, function 0:\n    Ethernet controller: PCI device 1af4:1000\n";

    assert_true(ptap_monitor_info_network_has(net012, "hn2"));
    assert_false(ptap_monitor_info_network_has(net012, "hn"));
    assert_false(ptap_monitor_info_network_has(net012, "ptap2"));
    assert_int_equal(ptap_monitor_info_network_free_vlan(net012), 1);
    assert_int_equal(ptap_monitor_info_network_free_vlan("Devices not on any VLAN:\n"), 0);
    assert_true(ptap_monitor_info_network_has(net72, "n1"));
    assert_true(ptap_monitor_info_network_has(net72, "n2"));
    assert_true(ptap_monitor_info_network_has(net72, "d1"));
    assert_false(ptap_monitor_info_network_has(net72, "n"));
    assert_true(ptap_monitor_info_pci_has_slot(pci, 4));
    assert_false(ptap_monitor_info_pci_has_slot(pci, 5));
}

/* ---- QMP against a scripted peer ---- */

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
                 "\"package\": \"Debian\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define CAPS_OK "{\"return\": {}, \"id\": \"ptap-1\"}\r\n"

static void peer_says(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t) strlen(s));
}

/* Everything the client sent so far. */
static char *peer_heard(int fd)
{
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    if (n < 0)
        n = 0;
    buf[n] = '\0';
    return strdup(buf);
}

static ptap_qmp *qmp_pair(int *peer, const char *script)
{
    int sv[2];
    ptap_qmp *q = NULL;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peer_says(sv[1], script);
    assert_int_equal(ptap_qmp_new_fd(sv[0], 1000, &q), 0);
    *peer = sv[1];
    return q;
}

static void test_qmp_handshake(void **state)
{
    int peer;
    ptap_qmp *q = qmp_pair(&peer, GREETING CAPS_OK);
    _cleanup_free_ char *heard = peer_heard(peer);
    uid_t uid;
    pid_t pid;

    assert_string_equal(heard, "{\"execute\":\"qmp_capabilities\",\"id\":\"ptap-1\"}\n");
    assert_string_equal(ptap_qmp_version(q), "7.2.22");
    assert_int_equal(ptap_qmp_peer(q, &uid, NULL, &pid), 0);
    assert_int_equal(uid, getuid());
    assert_int_equal(pid, getpid());
    ptap_qmp_free(q);
    close(peer);
}

static void test_qmp_not_qmp(void **state)
{
    int sv[2];
    ptap_qmp *q = NULL;

    /* A human monitor is not a QMP socket. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peer_says(sv[1], "{\"hello\": 1}\r\n");
    assert_int_equal(ptap_qmp_new_fd(sv[0], 500, &q), -EPROTO);
    close(sv[1]);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peer_says(sv[1], "QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) ");
    assert_int_equal(ptap_qmp_new_fd(sv[0], 200, &q), -EPROTO);
    close(sv[1]);

    /* Silence: timeout. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(ptap_qmp_new_fd(sv[0], 100, &q), -ETIMEDOUT);
    close(sv[1]);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peer_says(sv[1], "not json at all\n");
    assert_int_equal(ptap_qmp_new_fd(sv[0], 200, &q), -EPROTO);
    close(sv[1]);

    /* QEMU goes away mid-handshake. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peer_says(sv[1], GREETING);
    close(sv[1]);
    assert_int_equal(ptap_qmp_new_fd(sv[0], 200, &q), -ECONNRESET);
    assert_null(q);
}

static void test_qmp_execute_events_errors(void **state)
{
    int peer;
    ptap_qmp *q = qmp_pair(&peer,
        GREETING CAPS_OK
        /* events before the reply of ptap-2, a late reply to an older id */
        "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"DEVICE_DELETED\", "
        "\"data\": {\"path\": \"/machine/peripheral/d1/virtio-backend\"}}\r\n"
        "{\"return\": {}, \"id\": \"ptap-0\"}\r\n"
        "\r\n"
        "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 3}, \"event\": \"DEVICE_DELETED\", "
        "\"data\": {\"device\": \"d1\", \"path\": \"/machine/peripheral/d1\"}}\r\n"
        "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}], \"id\": \"ptap-2\"}\r\n"
        /* an error reply for ptap-3 */
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"could not configure /dev/net/tun "
        "(ptap9): Operation not permitted\"}, \"id\": \"ptap-3\"}\r\n");
    json_object *args = json_object_new_object(), *reply = NULL, *data = NULL;
    _cleanup_free_ char *heard = NULL;

    json_object_object_add(args, "path", json_object_new_string("/machine/peripheral"));
    assert_int_equal(ptap_qmp_execute(q, "qom-list", args, &reply, 1000), 0);
    assert_true(json_object_is_type(reply, json_type_array));
    assert_int_equal(json_object_array_length(reply), 1);
    json_object_put(reply);
    assert_null(ptap_qmp_error_desc(q));
    /* Both events were queued while waiting. */
    assert_int_equal(ptap_qmp_events_queued(q), 2);

    assert_int_equal(ptap_qmp_execute(q, "netdev_add", args, &reply, 1000), -EREMOTEIO);
    assert_null(reply);
    assert_string_equal(ptap_qmp_error_desc(q),
                        "could not configure /dev/net/tun (ptap9): Operation not permitted");
    assert_string_equal(ptap_qmp_error_class(q), "GenericError");

    /* The event naming the id, not the id-less virtio-backend one. */
    assert_int_equal(ptap_qmp_wait_event(q, "DEVICE_DELETED", "d1", 100, &data), 0);
    assert_string_equal(json_object_get_string(json_object_object_get(data, "path")),
                        "/machine/peripheral/d1");
    json_object_put(data);
    assert_int_equal(ptap_qmp_events_queued(q), 1);
    assert_int_equal(ptap_qmp_wait_event(q, "DEVICE_DELETED", "d1", 100, NULL), -ETIMEDOUT);
    assert_int_equal(ptap_qmp_wait_event(q, "DEVICE_DELETED", NULL, 100, NULL), 0);
    assert_int_equal(ptap_qmp_events_queued(q), 0);

    heard = peer_heard(peer);
    assert_non_null(strstr(heard, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine/peripheral\"},\"id\":\"ptap-2\"}\n"));
    assert_non_null(strstr(heard, "\"id\":\"ptap-3\""));

    /* An event that arrives while waiting for it. */
    peer_says(peer, "{\"event\": \"RESET\", \"data\": {}}\n{\"event\": \"DEVICE_DELETED\", "
                    "\"data\": {\"device\": \"d2\"}}\n");
    assert_int_equal(ptap_qmp_wait_event(q, "DEVICE_DELETED", "d2", 500, NULL), 0);
    assert_int_equal(ptap_qmp_events_queued(q), 1);

    /* No reply: timeout; then the late reply is dropped, not taken for the next. */
    assert_int_equal(ptap_qmp_execute(q, "device_del", NULL, NULL, 100), -ETIMEDOUT);
    peer_says(peer, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"late\"}, \"id\": \"ptap-4\"}\n"
                    "{\"return\": {}, \"id\": \"ptap-5\"}\n");
    assert_int_equal(ptap_qmp_execute(q, "netdev_del", NULL, NULL, 500), 0);

    /* Garbage and hang-up. */
    peer_says(peer, "{\"return\": \n");
    assert_int_equal(ptap_qmp_execute(q, "x", NULL, NULL, 500), -EPROTO);
    close(peer);
    assert_int_equal(ptap_qmp_execute(q, "x", NULL, NULL, 500), -ECONNRESET);
    json_object_put(args);
    ptap_qmp_free(q);
}

static void test_qmp_event_queue_bounded(void **state)
{
    int peer;
    ptap_qmp *q = qmp_pair(&peer, GREETING CAPS_OK);
    char ev[128];

    for (int i = 0; i < PTAP_QMP_MAX_EVENTS + 10; i++) {
        snprintf(ev, sizeof(ev), "{\"event\": \"E%d\", \"data\": {}}\n", i);
        peer_says(peer, ev);
    }
    peer_says(peer, "{\"return\": {}, \"id\": \"ptap-2\"}\n");
    assert_int_equal(ptap_qmp_execute(q, "query-status", NULL, NULL, 1000), 0);
    assert_int_equal(ptap_qmp_events_queued(q), PTAP_QMP_MAX_EVENTS);
    /* The oldest were dropped, the newest kept. */
    assert_int_equal(ptap_qmp_wait_event(q, "E0", NULL, 0, NULL), -ETIMEDOUT);
    assert_int_equal(ptap_qmp_wait_event(q, "E265", NULL, 0, NULL), 0);
    ptap_qmp_free(q);
    close(peer);
}

/* ---- HMP against a scripted peer ---- */

static void test_hmp_session(void **state)
{
    int sv[2];
    ptap_hmp *h = NULL;
    char *reply = NULL;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peer_says(sv[1], "QEMU 0.12.5 monitor - type 'help' for more information\r\n(qemu) ");
    assert_int_equal(ptap_hmp_new_fd(sv[0], 500, &h), 0);
    assert_string_equal(ptap_hmp_banner(h), "QEMU 0.12.5 monitor - type 'help' for more information");

    /* The reply may arrive in pieces. */
    peer_says(sv[1], "pci_del 4\x1b[K\r\nslot 4 em");
    peer_says(sv[1], "pty\r\n(qe");
    peer_says(sv[1], "mu) ");
    assert_int_equal(ptap_hmp_command(h, "pci_del 4", &reply, 500), 0);
    assert_string_equal(reply, "slot 4 empty");
    free(reply);
    _cleanup_free_ char *heard = peer_heard(sv[1]);
    assert_string_equal(heard, "pci_del 4\n");

    /* Refused lines never reach the socket. */
    assert_int_equal(ptap_hmp_command(h, "info network\ninfo pci", &reply, 500), -EINVAL);
    assert_null(reply);
    _cleanup_free_ char *heard2 = peer_heard(sv[1]);
    assert_string_equal(heard2, "");

    /* No prompt: timeout. */
    assert_int_equal(ptap_hmp_command(h, "info pci", &reply, 100), -ETIMEDOUT);
    close(sv[1]);
    assert_int_equal(ptap_hmp_command(h, "info pci", &reply, 100), -ECONNRESET);
    ptap_hmp_free(h);

    /* Not a monitor: no prompt ever. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peer_says(sv[1], GREETING);
    assert_int_equal(ptap_hmp_new_fd(sv[0], 100, &h), -EPROTO);
    close(sv[1]);
}

static void test_monitor_open_bad_target(void **state)
{
    ptap_monitor *m = NULL;

    assert_int_equal(ptap_monitor_open("unix:/tmp/x", 100, &m), -EINVAL);
    assert_int_equal(ptap_monitor_open(NULL, 100, &m), -EINVAL);
    assert_int_equal(ptap_monitor_open("qmp:/nonexistent/ptap/qmp.sock", 100, &m), -ENOENT);
    char longp[200] = "hmp:";
    memset(longp + 4, 'a', 150);
    longp[154] = '\0';
    assert_int_equal(ptap_monitor_open(longp, 100, &m), -ENAMETOOLONG);
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_check),
        cmocka_unit_test(test_hmp_clean),
        cmocka_unit_test(test_parse_pci_add),
        cmocka_unit_test(test_info_texts),
        cmocka_unit_test(test_qmp_handshake),
        cmocka_unit_test(test_qmp_not_qmp),
        cmocka_unit_test(test_qmp_execute_events_errors),
        cmocka_unit_test(test_qmp_event_queue_bounded),
        cmocka_unit_test(test_hmp_session),
        cmocka_unit_test(test_monitor_open_bad_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
