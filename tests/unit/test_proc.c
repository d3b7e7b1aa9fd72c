/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of proc.h (what ptap reads from /proc) and of util.h's
 * ptap_read_all()/ptap_read_file() and ptap_now_ms() it builds on:
 * tables for the two parsers (a ')' or spaces in the command name,
 * missing fields), then the real /proc of this test process and of a
 * child that has exited (no mock: /proc is there to read).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

/* Fields 3..21 of a /proc/PID/stat line, then starttime (22) and more. */
#define MID "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
#define TAIL " 19 20 21\n"

static void test_parse_start_time(void **state)
{
    static const struct {
        const char *stat;
        int rc;
        uint64_t start;
    } cases[] = {
        { "42 (qemu) " MID "123456" TAIL, 0, 123456 },
        { "42 (qemu-system-x86) " MID "7" TAIL, 0, 7 },
        { "42 (a b c) " MID "99" TAIL, 0, 99 },              /* spaces in comm */
        { "42 (x) 1 2 (y)) " MID "5" TAIL, 0, 5 },           /* ')' in comm: the last one counts */
        { "42 ()) " MID "18446744073709551615" TAIL, 0, UINT64_MAX },
        { "42 (qemu) " MID "123456", 0, 123456 },             /* last field, no newline */
        { "42 (qemu) " MID "123456\n", 0, 123456 },
        { "42 (qemu) S 1 2 3", -EIO, 0 },                     /* too few fields */
        { "42 (qemu) " MID, -EIO, 0 },
        { "42 (qemu) " MID "-5" TAIL, -EIO, 0 },
        { "42 (qemu) " MID "12x" TAIL, -EIO, 0 },
        { "42 (qemu) " MID "18446744073709551616" TAIL, -EIO, 0 }, /* overflow */
        { "42 qemu " MID "1" TAIL, -EIO, 0 },                 /* no ')' */
        { "", -EIO, 0 },
        { NULL, -EIO, 0 },
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t v = 0;
        int r = ptap_proc_parse_start_time(cases[i].stat, &v);

        if (r != cases[i].rc)
            fail_msg("case %zu ('%s'): %d, want %d", i, strna(cases[i].stat), r, cases[i].rc);
        if (r == 0 && v != cases[i].start)
            fail_msg("case %zu: start %llu, want %llu", i, (unsigned long long) v,
                     (unsigned long long) cases[i].start);
    }
}

static void test_parse_owner(void **state)
{
    static const struct {
        const char *status;
        int rc;
        unsigned uid, gid;
    } cases[] = {
        { "Name:\tqemu\nUid:\t107\t108\t108\t108\nGid:\t36\t37\t37\t37\n", 0, 108, 37 },
        { "Name:\tx\nState:\tS\nGid:\t5 6 6 6\nUid:\t1 2 2 2\n", 0, 2, 6 },
        { "Name:\tx\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", 0, 0, 0 },
        { "Name:\tx\nUid:\t1000\nGid:\t1000\t1000\n", -EIO, 0, 0 },  /* no effective uid */
        { "Name:\tx\nUid:\t1 2 2 2\n", -EIO, 0, 0 },                 /* no Gid line */
        { "Uid:\t1 2 2 2\nGid:\t1 2 2 2\n", -EIO, 0, 0 },             /* only after a newline */
        { "", -EIO, 0, 0 },
        { NULL, -EIO, 0, 0 },
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uid_t u = 4242;
        gid_t g = 4242;
        int r = ptap_proc_parse_owner(cases[i].status, &u, &g);

        if (r != cases[i].rc)
            fail_msg("case %zu: %d, want %d", i, r, cases[i].rc);
        if (r == 0 && (u != cases[i].uid || g != cases[i].gid))
            fail_msg("case %zu: %u:%u, want %u:%u", i, (unsigned) u, (unsigned) g, cases[i].uid,
                     cases[i].gid);
    }
}

/* A pid that existed and is gone (reaped). */
static pid_t dead_pid(void)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return pid;
}

static void test_live(void **state)
{
    uint64_t start = 0, again = 0;
    uid_t uid;
    gid_t gid;
    _cleanup_free_ char *cmd = NULL;
    size_t len = 0;
    pid_t gone;

    (void) state;
    assert_int_equal(ptap_proc_start_time(getpid(), &start), 0);
    assert_true(start > 0);
    assert_int_equal(ptap_proc_start_time(getpid(), &again), 0);
    assert_true(start == again);
    assert_true(ptap_proc_alive(getpid(), start));
    assert_true(ptap_proc_alive(getpid(), 0));
    assert_false(ptap_proc_alive(getpid(), start + 1)); /* a recycled pid */

    gone = dead_pid();
    assert_int_equal(ptap_proc_start_time(gone, &again), -ESRCH);
    assert_false(ptap_proc_alive(gone, 0));
    assert_int_equal(ptap_proc_start_time(0, &again), -ESRCH);
    assert_int_equal(ptap_proc_start_time(-1, &again), -ESRCH);
    assert_false(ptap_proc_alive(0, 0));

    assert_int_equal(ptap_proc_owner(getpid(), &uid, &gid), 0);
    assert_int_equal(uid, geteuid());
    assert_int_equal(gid, getegid());
    assert_int_equal(ptap_proc_owner(gone, &uid, &gid), -ENOENT);

    assert_int_equal(ptap_proc_cmdline(getpid(), &cmd, &len), 0);
    assert_true(len > 0);
    assert_non_null(strstr(cmd, "test_proc")); /* argv[0] */
    assert_int_equal(cmd[len], '\0');

    assert_false(ptap_proc_has_uuid(getpid(), "5f1e0f6e-0000-4000-8000-000000000001"));
    assert_false(ptap_proc_has_uuid(gone, "5f1e0f6e-0000-4000-8000-000000000001"));
}

/* A killed process its parent has not reaped (a zombie) is gone: it runs
 * no guest and holds no tap. The zombie is real: our own child, killed
 * and left unreaped until the checks are done. */
static void test_zombie(void **state)
{
    static const struct {
        const char *stat;
        int rc;
        char st;
    } cases[] = {
        { "42 (qemu) Z 1 2 3", 0, 'Z' },
        { "42 (a) b) S 1", 0, 'S' },
        { "42 (qemu)  R 1", 0, 'R' },
        { "42 (qemu) ", -EIO, 0 },
        { "42 qemu S", -EIO, 0 },
    };
    uint64_t start = 0;
    pid_t child;
    char st = 0;

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        assert_int_equal(ptap_proc_parse_state(cases[i].stat, &st), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(st, cases[i].st);
    }
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(ptap_proc_start_time(child, &start), 0);
    assert_true(ptap_proc_alive(child, start));
    kill(child, SIGKILL);
    for (int i = 0; i < 500 && ptap_proc_alive(child, start); i++)
        usleep(1000);
    /* Still in /proc (not reaped), and yet gone. */
    assert_int_equal(ptap_proc_start_time(child, &start), 0);
    assert_false(ptap_proc_alive(child, start));
    assert_false(ptap_proc_alive(child, 0));
    waitpid(child, NULL, 0);
}

/* fdinfo of a /dev/net/tun descriptor: "iff:" names the tap it holds. */
static void test_fdinfo_iff(void **state)
{
    static const struct {
        const char *text;
        int rc;
        const char *name;
    } cases[] = {
        { "pos:\t0\nflags:\t02\nmnt_id:\t25\nino:\t1044\niff:\tptap0\n", 0, "ptap0" },
        { "iff:\tvm-net,1\n", 0, "vm-net,1" },
        { "pos:\t0\niff:\tguestnic", 0, "guestnic" },
        { "pos:\t0\nflags:\t02\n", -ENOENT, NULL },      /* not attached */
        { "", -ENOENT, NULL },
        { "iff:\t\n", -EINVAL, NULL },
        { "iff:\t0123456789abcdef\n", -EINVAL, NULL },      /* 16 bytes: no interface name */
        { "iff:\ta/b\n", -EINVAL, NULL },
        { "xiff:\tptap0\n", -ENOENT, NULL },
    };
    char name[16];

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int r = ptap_proc_parse_fdinfo_iff(cases[i].text, name);

        if (r != cases[i].rc)
            fail_msg("case %zu: %d, want %d", i, r, cases[i].rc);
        if (r == 0)
            assert_string_equal(name, cases[i].name);
    }
}

/* A child whose command line carries "-uuid UUID", as libvirt starts QEMU. */
static void test_uuid(void **state)
{
    static const char uuid[] = "5F1E0F6E-1234-4000-8000-00000000ABCD";
    int p[2];
    pid_t pid, found = 0;
    char c;

    (void) state;
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* sh -c 'read x' keeps running until the pipe closes. */
        dup2(p[0], STDIN_FILENO);
        execlp("sh", "sh", "-c", "read x; exit 0", "-uuid", uuid, (char *) NULL);
        _exit(127);
    }
    close(p[0]);
    /* Wait until the exec happened (the command line is the new one). */
    for (int i = 0; i < 200 && !ptap_proc_has_uuid(pid, uuid); i++)
        usleep(10 * 1000);
    assert_true(ptap_proc_has_uuid(pid, uuid));
    assert_true(ptap_proc_has_uuid(pid, "5f1e0f6e-1234-4000-8000-00000000abcd")); /* any case */
    assert_false(ptap_proc_has_uuid(pid, "5f1e0f6e-1234-4000-8000-00000000abce"));
    assert_false(ptap_proc_has_uuid(pid, "-uuid"));
    assert_int_equal(ptap_proc_find_uuid(uuid, &found), 0);
    assert_int_equal(found, pid);
    assert_int_equal(ptap_proc_find_uuid("5f1e0f6e-1234-4000-8000-00000000abce", &found), -ESRCH);
    c = 'x';
    assert_int_equal(write(p[1], &c, 1), 1);
    close(p[1]);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_read_all(void **state)
{
    char path[] = "/tmp/ptap-test-proc-XXXXXX";
    static char big[3 * 4096 + 17];
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int fd, p[2];

    (void) state;
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char) ('a' + i % 26);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, big, sizeof(big)), (ssize_t) sizeof(big));
    close(fd);

    /* A regular file, whole, NUL-terminated. */
    assert_int_equal(ptap_read_file(path, 0, &buf, &len), 0);
    assert_int_equal(len, sizeof(big));
    assert_memory_equal(buf, big, sizeof(big));
    assert_int_equal(buf[len], '\0');
    free(TAKE_PTR(buf));
    /* Exactly at the limit, and one byte over it. */
    assert_int_equal(ptap_read_file(path, sizeof(big), &buf, NULL), 0);
    free(TAKE_PTR(buf));
    assert_int_equal(ptap_read_file(path, sizeof(big) - 1, &buf, &len), -EFBIG);
    assert_null(buf);
    /* An empty file. */
    fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ptap_read_file(path, 0, &buf, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(TAKE_PTR(buf));
    unlink(path);
    assert_int_equal(ptap_read_file(path, 0, &buf, &len), -ENOENT);

    /* A pipe (no size to go by), from its current state to EOF. */
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(write(p[1], big, 5000), 5000);
    close(p[1]);
    assert_int_equal(ptap_read_all(p[0], 0, &buf, &len), 0);
    assert_int_equal(len, 5000);
    assert_memory_equal(buf, big, 5000);
    close(p[0]);
    free(TAKE_PTR(buf));

    /* A /proc file reports size 0 and still reads whole. */
    assert_int_equal(ptap_read_file("/proc/self/status", 0, &buf, &len), 0);
    assert_true(len > 0 && strstr(buf, "\nUid:"));
}

static void test_now_ms(void **state)
{
    int64_t a, b;

    (void) state;
    a = ptap_now_ms();
    usleep(20 * 1000);
    b = ptap_now_ms();
    assert_true(a > 0);
    assert_true(b - a >= 20 && b - a < 5000);
}

/* The guest name and UUID on a QEMU command line (NUL-separated, as
 * /proc/PID/cmdline gives it): libvirt's "-name guest=NAME,..." and the
 * older bare "-name NAME", ",," escapes, names that cannot be a domain's. */
static void test_qemu_name(void **state)
{
#define U "0f0e0d0c-0b0a-0908-0706-050403020100"
    static const struct {
        const char *cmd;
        size_t len; /* sizeof the literal: its final NUL ends the last argument */
        int rc;
        const char *name, *uuid;
    } cases[] = {
#define C(lit) lit, sizeof(lit)
        { C("qemu\0-name\0guest=web1,debug-threads=on\0-uuid\0" U), 0, "web1", U },
        { C("qemu\0-name\0web2\0"), 0, "web2", "" },
        { C("qemu\0-name\0debug-threads=on,guest=w3\0"), 0, "w3", "" },
        { C("qemu\0-name\0a,,b,process=x\0"), 0, "a,b", "" },
        { C("qemu\0-name\0guest=a/b\0"), -ENOENT, "", "" },
        { C("qemu\0-name\0guest=..\0"), -ENOENT, "", "" },
        { C("qemu\0-name\0guest=\0"), -ENOENT, "", "" },
        { C("qemu\0-name\0process=x\0"), -ENOENT, "", "" },
        { C("qemu\0-uuid\0" U), -ENOENT, "", U },
        { C("qemu\0-name\0guest=v,\0-uuid\0not-a-uuid\0"), 0, "v", "" },
        { C("qemu\0-name"), -ENOENT, "", "" },
        { C(""), -ENOENT, "", "" },
#undef C
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char name[PTAP_PROC_DOMAIN_MAX], uuid[PTAP_PROC_UUID_MAX];
        int r = ptap_proc_parse_qemu_name(cases[i].cmd, cases[i].len, name, uuid);

        if (r != cases[i].rc)
            fail_msg("case %zu: %d, want %d", i, r, cases[i].rc);
        if (r == 0 && strcmp(name, cases[i].name) != 0)
            fail_msg("case %zu: name '%s', want '%s'", i, name, cases[i].name);
        if (strcmp(uuid, cases[i].uuid) != 0 && r == 0)
            fail_msg("case %zu: uuid '%s', want '%s'", i, uuid, cases[i].uuid);
    }
    {
        /* A long name: longer than a domain's is none, never a cut one. */
        char cmd[600], name[PTAP_PROC_DOMAIN_MAX], uuid[PTAP_PROC_UUID_MAX];
        int n = snprintf(cmd, sizeof(cmd), "qemu%c-name%cguest=", 0, 0);

        memset(cmd + n, 'x', 300);
        cmd[n + 300] = '\0';
        assert_int_equal(ptap_proc_parse_qemu_name(cmd, (size_t) n + 301, name, uuid), -ENOENT);
    }
#undef U
}

/* A pid file as libvirtd writes it (no newline) names its QEMU. */
static void test_pidfile(void **state)
{
    char path[] = "/tmp/ptap-test-pidfile.XXXXXX";
    int fd = mkstemp(path);

    (void) state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "4242", 4), 4);
    close(fd);
    assert_true(ptap_proc_pidfile_is(path, 4242));
    assert_false(ptap_proc_pidfile_is(path, 424));
    assert_false(ptap_proc_pidfile_is("/nonexistent/x.pid", 4242));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_start_time),
        cmocka_unit_test(test_parse_owner),
        cmocka_unit_test(test_live),
        cmocka_unit_test(test_zombie),
        cmocka_unit_test(test_fdinfo_iff),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_qemu_name),
        cmocka_unit_test(test_pidfile),
        cmocka_unit_test(test_read_all),
        cmocka_unit_test(test_now_ms),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
