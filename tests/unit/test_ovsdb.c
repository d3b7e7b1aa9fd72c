/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The OVSDB client (ovsdb.h) against a scripted fake server on a unix
 * socket: what it sends, how strictly it reads replies, its bounded waits;
 * and the policy file's "ovsdb-socket" key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ovsdb.h"
#include "policy.h"

#define MARK "ptap:u0:0123456789abcdef:op1"
#define U1 "11111111-2222-4333-8444-555555555555"
#define U2 "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define U3 "99999999-8888-4777-8666-555555555555"

/* A fake server: a child that accepts one connection and plays @script:
 * "<TEXT" reads one message that must contain TEXT, ">TEXT" sends TEXT,
 * "." waits a second. It exits 0 when every step went as written. */
typedef struct fake {
    char path[108];
    pid_t pid;
} fake;

static void fake_serve(int lfd, const char *const *script)
{
    int fd = accept(lfd, NULL, NULL);

    if (fd < 0)
        _exit(2);
    for (size_t i = 0; script[i]; i++) {
        const char *s = script[i];

        if (s[0] == '<') {
            char buf[65536];
            struct pollfd p = { .fd = fd, .events = POLLIN };
            ssize_t k;

            if (poll(&p, 1, 3000) != 1)
                _exit(3);
            k = read(fd, buf, sizeof(buf) - 1);
            if (k <= 0)
                _exit(4);
            buf[k] = '\0';
            if (!strstr(buf, s + 1)) {
                fprintf(stderr, "fake: step %zu: '%s' not in '%s'\n", i, s + 1, buf);
                _exit(5);
            }
        } else if (s[0] == '>') {
            if (write(fd, s + 1, strlen(s + 1)) != (ssize_t) strlen(s + 1))
                _exit(6);
        } else if (s[0] == '.') {
            sleep(1);
        }
    }
    usleep(200 * 1000);
    _exit(0);
}

static void fake_start(fake *f, const char *const *script)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int lfd;

    snprintf(f->path, sizeof(f->path), "/tmp/ptaptest-ovsdb-%ld.sock", (long) getpid());
    unlink(f->path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0)
        fake_serve(lfd, script);
    close(lfd);
}

/* The fake's verdict (0: every step as written). */
static int fake_end(fake *f)
{
    int st = 0;

    waitpid(f->pid, &st, 0);
    unlink(f->path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static ptap_ovsdb *connect_fake(fake *f, const char *const *script, int timeout_ms)
{
    ptap_ovsdb *db = NULL;

    fake_start(f, script);
    assert_int_equal(ptap_ovsdb_connect(f->path, timeout_ms, &db), 0);
    return db;
}

static void test_bridge_get(void **state)
{
    static const struct {
        const char *script[6];
        int r;            /* ptap_ovsdb_bridge_get()'s return */
        bool exists;
        unsigned mtu;
    } cases[] = {
        /* Found, with its internal interface's MTU. */
        { { "<\"method\":\"transact\"", ">{\"id\":1,\"result\":[{\"rows\":[{\"name\":\"obr0\"}]},"
            "{\"rows\":[{\"mtu\":1400}]}],\"error\":null}" }, 0, true, 1400 },
        /* The MTU as a set of one, and as an empty set. */
        { { "<\"where\":[[\"name\",\"==\",\"obr0\"]]", ">{\"id\":1,\"result\":[{\"rows\":[{}]},"
            "{\"rows\":[{\"mtu\":[\"set\",[9000]]}]}],\"error\":null}" }, 0, true, 9000 },
        { { "<", ">{\"id\":1,\"result\":[{\"rows\":[{}]},{\"rows\":[{\"mtu\":[\"set\",[]]}]}],"
            "\"error\":null}" }, 0, true, 0 },
        /* No such bridge. */
        { { "<", ">{\"id\":1,\"result\":[{\"rows\":[]},{\"rows\":[]}],\"error\":null}" }, 0, false, 0 },
        /* The server's echo is answered; a reply to another id is skipped. */
        { { "<", ">{\"method\":\"echo\",\"params\":[],\"id\":\"echo\"}",
            "<\"result\":[]", ">{\"id\":7,\"result\":[],\"error\":null}"
            "{\"id\":1,\"result\":[{\"rows\":[{}]},{\"rows\":[]}],\"error\":null}" }, 0, true, 0 },
        /* Split across writes. */
        { { "<", ">{\"id\":1,\"result\":[{\"ro", ">ws\":[{}]},{\"rows\":[]}],\"error\":null}" },
          0, true, 0 },
        /* Refusals: the request's error, an operation's, a short result. */
        { { "<", ">{\"id\":1,\"result\":null,\"error\":\"unknown database\"}" }, -EPROTO, false, 0 },
        { { "<", ">{\"id\":1,\"result\":[{\"error\":\"syntax error\"},{}],\"error\":null}" }, -EPROTO, false, 0 },
        { { "<", ">{\"id\":1,\"result\":[{\"rows\":[]}],\"error\":null}" }, -EBADMSG, false, 0 },
        /* Not JSON as RFC 8259 has it (json-c's lenient forms). */
        { { "<", ">{\"id\":1,\"result\":[{\"rows\":[],},{\"rows\":[]}],\"error\":null}" }, -EBADMSG, false, 0 },
        { { "<", ">{'id':1}" }, -EBADMSG, false, 0 },
        { { "<", ">[1,2]" }, -EBADMSG, false, 0 },
        /* Cut short; silent (the bounded wait). */
        { { "<", ">{\"id\":1,\"result\":[" }, -ECONNRESET, false, 0 },
        { { "<", ".", "." }, -ETIMEDOUT, false, 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake f;
        ptap_ovsdb *db = connect_fake(&f, cases[i].script, 300);
        ptap_ovsdb_bridge b = { 0 };
        ptap_error err = { 0 };
        int r = ptap_ovsdb_bridge_get(db, "obr0", &b, &err);

        ptap_ovsdb_close(db);
        if (r != cases[i].r)
            fail_msg("case %zu: returned %d (%s), expected %d", i, r, err.msg, cases[i].r);
        if (r == 0 && (b.exists != cases[i].exists || b.mtu != cases[i].mtu))
            fail_msg("case %zu: exists %d mtu %u", i, b.exists, b.mtu);
        if (r < 0 && !*err.msg)
            fail_msg("case %zu: failed without a message", i);
        if (r < 0)
            kill(f.pid, SIGKILL); /* the timeout case is still sleeping */
        int v = fake_end(&f);
        if (r == 0 && v != 0)
            fail_msg("case %zu: the fake server says %d", i, v);
    }
}

static void test_add_ports(void **state)
{
    static const char *const ok[] = {
        /* Waits for the bridge and for no port of that name, inserts, mutates. */
        "<{\"op\":\"wait\",\"timeout\":0,\"table\":\"Bridge\",\"where\":[[\"name\",\"==\",\"obr0\"]],"
        "\"columns\":[\"name\"],\"until\":\"==\",\"rows\":[{\"name\":\"obr0\"}]},"
        "{\"op\":\"wait\",\"timeout\":0,\"table\":\"Port\",\"where\":[[\"name\",\"==\",\"ptap0\"]],"
        "\"columns\":[\"name\"],\"until\":\"==\",\"rows\":[]},"
        "{\"op\":\"insert\",\"table\":\"Interface\",\"row\":{\"name\":\"ptap0\",\"type\":\"\","
        "\"external_ids\":[\"map\",[[\"attached-mac\",\"52:54:00:12:34:56\"],[\"iface-id\",\"" U1 "\"],"
        "[\"iface-status\",\"active\"],[\"vm-uuid\",\"" U2 "\"],[\"ptap-mark\",\"" MARK "\"]]]},"
        "\"uuid-name\":\"iface0\"},"
        "{\"op\":\"insert\",\"table\":\"Port\",\"row\":{\"name\":\"ptap0\",\"interfaces\":"
        "[\"named-uuid\",\"iface0\"],\"external_ids\":[\"map\",[[\"ptap-mark\",\"" MARK "\"]]]},"
        "\"uuid-name\":\"port0\"},"
        "{\"op\":\"mutate\",\"table\":\"Bridge\",\"where\":[[\"name\",\"==\",\"obr0\"]],"
        "\"mutations\":[[\"ports\",\"insert\",[\"set\",[[\"named-uuid\",\"port0\"]]]]]}",
        ">{\"id\":1,\"result\":[{},{},{\"uuid\":[\"uuid\",\"" U1 "\"]},{\"uuid\":[\"uuid\",\"" U2 "\"]},"
        "{\"count\":1},{}],\"error\":null}",
        NULL,
    };
    static const char *const no_bridge[] = {
        "<", ">{\"id\":1,\"result\":[{\"error\":\"timed out\"},null,null,null,null,null],\"error\":null}",
        NULL,
    };
    static const char *const taken[] = {
        "<", ">{\"id\":1,\"result\":[{},{\"error\":\"timed out\"},null,null,null,null],\"error\":null}",
        NULL,
    };
    static const struct {
        const char *const *script;
        int r;
    } cases[] = { { ok, 0 }, { no_bridge, -ENOENT }, { taken, -EEXIST } };
    ptap_ovsdb_port_spec spec = { .name = "ptap0", .mark = MARK, .attached_mac = "52:54:00:12:34:56",
                                  .iface_id = U1, .vm_uuid = U2 };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake f;
        ptap_ovsdb *db = connect_fake(&f, cases[i].script, 2000);
        ptap_error err = { 0 };
        int r = ptap_ovsdb_add_ports(db, "obr0", &spec, 1, &err);

        ptap_ovsdb_close(db);
        if (r != cases[i].r)
            fail_msg("case %zu: returned %d (%s), expected %d", i, r, err.msg, cases[i].r);
        assert_int_equal(fake_end(&f), 0);
    }
}

/* Nothing a caller could slip in reaches the server: checked first. */
static void test_add_ports_refuses(void **state)
{
    static const ptap_ovsdb_port_spec bad[] = {
        { .name = "pt ap0", .mark = MARK, .iface_id = U1 },
        { .name = "ptap0", .mark = "ptap:u0:x\"]]", .iface_id = U1 },
        { .name = "ptap0", .mark = "notamark", .iface_id = U1 },
        { .name = "ptap0", .mark = MARK, .iface_id = "not-a-uuid" },
        { .name = "ptap0", .mark = MARK, .iface_id = U1, .vm_uuid = U1 "\"" },
        { .name = "ptap0", .mark = MARK, .iface_id = U1, .attached_mac = "52:54:00:12:34:5g" },
        { .name = "ptap0", .mark = MARK, .iface_id = U1, .attached_mac = "52-54-00-12-34-56" },
    };
    static const char *const silent[] = { NULL };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake f;
        ptap_ovsdb *db = connect_fake(&f, silent, 300);
        ptap_error err = { 0 };

        if (ptap_ovsdb_add_ports(db, "obr0", &bad[i], 1, &err) != -EINVAL)
            fail_msg("case %zu: not refused", i);
        ptap_ovsdb_close(db);
        fake_end(&f);
    }
    {
        fake f;
        ptap_ovsdb *db = connect_fake(&f, silent, 300);
        ptap_ovsdb_port_spec good = { .name = "ptap0", .mark = MARK, .iface_id = U1 };

        assert_int_equal(ptap_ovsdb_add_ports(db, "ob r0", &good, 1, NULL), -EINVAL);
        ptap_ovsdb_close(db);
        fake_end(&f);
    }
}

static void test_set_guest(void **state)
{
    static const char *const ok[] = {
        /* Only the Interface row of that name that carries that mark. */
        "<{\"op\":\"mutate\",\"table\":\"Interface\",\"where\":[[\"name\",\"==\",\"ptap0\"],"
        "[\"external_ids\",\"includes\",[\"map\",[[\"ptap-mark\",\"" MARK "\"]]]]],"
        "\"mutations\":[[\"external_ids\",\"delete\",[\"set\",[\"attached-mac\",\"vm-uuid\"]]]]},"
        "{\"op\":\"mutate\",\"table\":\"Interface\",\"where\":[[\"name\",\"==\",\"ptap0\"],"
        "[\"external_ids\",\"includes\",[\"map\",[[\"ptap-mark\",\"" MARK "\"]]]]],"
        "\"mutations\":[[\"external_ids\",\"insert\",[\"map\",[[\"attached-mac\",\"52:54:00:ab:cd:ef\"]]]]]}",
        ">{\"id\":1,\"result\":[{\"count\":1},{\"count\":1},{}],\"error\":null}",
        NULL,
    };
    static const char *const none[] = {
        "<", ">{\"id\":1,\"result\":[{\"count\":0},{\"count\":0},{}],\"error\":null}", NULL,
    };
    fake f;
    ptap_ovsdb *db = connect_fake(&f, ok, 2000);
    ptap_error err = { 0 };

    assert_int_equal(ptap_ovsdb_set_guest(db, "ptap0", MARK, "52:54:00:ab:cd:ef", NULL, &err), 0);
    ptap_ovsdb_close(db);
    assert_int_equal(fake_end(&f), 0);
    db = connect_fake(&f, none, 2000);
    assert_int_equal(ptap_ovsdb_set_guest(db, "ptap0", MARK, NULL, NULL, &err), -ENOENT);
    assert_int_equal(ptap_ovsdb_set_guest(db, "ptap0", "x\"y", NULL, NULL, &err), -EINVAL);
    ptap_ovsdb_close(db);
    assert_int_equal(fake_end(&f), 0);
}

static void test_view_and_delete(void **state)
{
    static const char *const script[] = {
        "<\"table\":\"Port\"",
        /* ptap0: ours, on obr0 (a set of ports); fgn0: no mark; bad0: a
         * damaged mark; ptap1: on br2 (a single port, not a set). */
        ">{\"id\":1,\"result\":[{\"rows\":["
        "{\"_uuid\":[\"uuid\",\"" U1 "\"],\"name\":\"ptap0\",\"external_ids\":[\"map\",[[\"ptap-mark\",\"" MARK "\"]]]},"
        "{\"_uuid\":[\"uuid\",\"" U2 "\"],\"name\":\"fgn0\",\"external_ids\":[\"map\",[]]},"
        "{\"_uuid\":[\"uuid\",\"" U3 "\"],\"name\":\"bad0\",\"external_ids\":[\"map\",[[\"ptap-mark\",\"x y\"]]]},"
        "{\"_uuid\":[\"uuid\",\"" U2 "\"],\"name\":\"ptap1\",\"external_ids\":[\"map\",[[\"ptap-mark\",\"ptap:u5\"]]]}"
        "]},{\"rows\":["
        "{\"_uuid\":[\"uuid\",\"" U3 "\"],\"name\":\"obr0\",\"ports\":[\"set\",[[\"uuid\",\"" U1 "\"]]]},"
        "{\"_uuid\":[\"uuid\",\"" U1 "\"],\"name\":\"br2\",\"ports\":[\"uuid\",\"" U2 "\"]}"
        "]}],\"error\":null}",
        /* The delete: ptap0 out of obr0's ports, by UUID. */
        "<{\"op\":\"mutate\",\"table\":\"Bridge\",\"where\":[[\"_uuid\",\"==\",[\"uuid\",\"" U3 "\"]]],"
        "\"mutations\":[[\"ports\",\"delete\",[\"set\",[[\"uuid\",\"" U1 "\"]]]]]}",
        ">{\"id\":2,\"result\":[{\"count\":1},{}],\"error\":null}",
        NULL,
    };
    fake f;
    ptap_ovsdb *db = connect_fake(&f, script, 2000);
    ptap_ovsdb_view v = { 0 };
    ptap_error err = { 0 };
    const ptap_ovsdb_port *p;

    assert_int_equal(ptap_ovsdb_view_load(db, &v, &err), 0);
    assert_int_equal(v.n_bridges, 2);
    assert_true(ptap_ovsdb_view_is_bridge(&v, "obr0"));
    assert_true(ptap_ovsdb_view_is_bridge(&v, "br2"));
    assert_int_equal(v.n_ports, 2); /* fgn0 and bad0 are not ptap's */
    assert_null(ptap_ovsdb_view_port(&v, "fgn0"));
    assert_null(ptap_ovsdb_view_port(&v, "bad0"));
    p = ptap_ovsdb_view_port(&v, "ptap0");
    assert_non_null(p);
    assert_string_equal(p->bridge, "obr0");
    assert_string_equal(p->mark, MARK);
    assert_string_equal(ptap_ovsdb_view_port(&v, "ptap1")->bridge, "br2");
    assert_int_equal(ptap_ovsdb_delete_ports(db, &p, 1, &err), 0);
    ptap_ovsdb_view_clear(&v);
    ptap_ovsdb_close(db);
    assert_int_equal(fake_end(&f), 0);
}

static void test_connect(void **state)
{
    ptap_ovsdb *db = NULL;
    const char *why;
    char longpath[200];

    assert_int_equal(ptap_ovsdb_connect("/nonexistent/ptaptest/db.sock", 0, &db), -ENOENT);
    memset(longpath, 'a', sizeof(longpath));
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(ptap_ovsdb_path_check(longpath, &why), -EINVAL);
    assert_int_equal(ptap_ovsdb_path_check("run/db.sock", &why), -EINVAL);
    assert_int_equal(ptap_ovsdb_path_check("/run/../tmp/db.sock", &why), -EINVAL);
    assert_int_equal(ptap_ovsdb_path_check("/run/db sock", &why), -EINVAL);
    assert_int_equal(ptap_ovsdb_path_check("/run/openvswitch/db.sock", &why), 0);
}

static void test_uuid(void **state)
{
    char u[PTAP_OVSDB_UUID_LEN + 1];

    assert_true(ptap_ovsdb_uuid_check(U1));
    assert_false(ptap_ovsdb_uuid_check("11111111222243338444555555555555"));
    assert_false(ptap_ovsdb_uuid_check("11111111-2222-4333-8444-55555555555g"));
    assert_false(ptap_ovsdb_uuid_check(NULL));
    assert_int_equal(ptap_ovsdb_uuid_random(u), 0);
    assert_true(ptap_ovsdb_uuid_check(u));
    assert_int_equal(u[14], '4');
}

/* The policy file's "ovsdb-socket PATH". */
static void test_policy_socket(void **state)
{
    static const struct {
        const char *text;
        int scan;         /* ptap_policy_scan_ovsdb_socket() */
        const char *path; /* what it gives */
        bool parses;      /* ptap_policy_parse() accepts the file */
    } cases[] = {
        { "allow user 1000 bridge obr0\n", 0, PTAP_OVSDB_SOCKET_DEFAULT, true },
        { "ovsdb-socket /var/run/ovs/db.sock\n", 1, "/var/run/ovs/db.sock", true },
        { "# c\n  ovsdb-socket\t/x/db.sock  # here\n", 1, "/x/db.sock", true },
        { "ovsdb-socket relative.sock\n", -EINVAL, PTAP_OVSDB_SOCKET_DEFAULT, false },
        { "ovsdb-socket /a.sock /b.sock\n", -EINVAL, PTAP_OVSDB_SOCKET_DEFAULT, false },
        { "ovsdb-socket\n", -EINVAL, PTAP_OVSDB_SOCKET_DEFAULT, false },
        { "ovsdb-socket /a.sock\novsdb-socket /b.sock\n", -EINVAL, PTAP_OVSDB_SOCKET_DEFAULT, false },
        { "ovsdb-socket /a/../b.sock\n", -EINVAL, PTAP_OVSDB_SOCKET_DEFAULT, false },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[108];
        ptap_policy *p = NULL;
        ptap_error err = { 0 };
        int r = ptap_policy_scan_ovsdb_socket(cases[i].text, strlen(cases[i].text), buf, sizeof(buf));

        if (r != cases[i].scan || strcmp(buf, cases[i].path) != 0)
            fail_msg("case %zu: scan %d '%s'", i, r, buf);
        r = ptap_policy_parse(cases[i].text, strlen(cases[i].text), "t.conf", NULL, &p, &err);
        if ((r == 0) != cases[i].parses)
            fail_msg("case %zu: parse %d (%s)", i, r, err.msg);
        if (r == 0 && strcmp(ptap_policy_ovsdb_socket(p), cases[i].path) != 0)
            fail_msg("case %zu: policy names '%s'", i, ptap_policy_ovsdb_socket(p));
        ptap_policy_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bridge_get),
        cmocka_unit_test(test_add_ports),
        cmocka_unit_test(test_add_ports_refuses),
        cmocka_unit_test(test_set_guest),
        cmocka_unit_test(test_view_and_delete),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_policy_socket),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
