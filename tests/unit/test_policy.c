/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Table-driven tests of the policy file: parsing (good and broken files),
 * trust, and the decision logic (allow/deny/quota/owner rules). */
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
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"

/* A fixed user database, so the tests do not depend on the host's. */
static int fake_user(const char *name, uid_t *ret, void *userdata)
{
    static const struct {
        const char *name;
        uid_t uid;
    } users[] = { { "alice", 1001 }, { "bob", 1002 }, { "carol", 1003 }, { "root", 0 } };

    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
        if (strcmp(users[i].name, name) == 0) {
            *ret = users[i].uid;
            return 0;
        }
    return -ENOENT;
}

static int fake_group(const char *name, gid_t *ret, void *userdata)
{
    if (strcmp(name, "kvm") == 0) {
        *ret = 108;
        return 0;
    }
    if (strcmp(name, "staff") == 0) {
        *ret = 50;
        return 0;
    }
    return -ENOENT;
}

static const ptap_policy_resolver resolver = { fake_user, fake_group, NULL };

static void test_parse_good(void **state)
{
    static const struct {
        const char *text;
        size_t n_rules;
    } cases[] = {
        { "", 0 },
        { "\n\n   \n\t\n", 0 },
        { "# only a comment\n", 0 },
        { "allow user alice bridge br0", 1 },
        { "allow user alice bridge br0\n", 1 },
        { "allow user 1001 bridge * max 4\n", 1 },
        { "allow group kvm bridge none max 0\n", 1 },
        { "  allow\tuser  alice\tbridge br0   # trailing comment\n", 1 },
        { "deny user bob\ndeny group staff\ndeny bridge br1\n", 3 },
        { "deny bridge *\ndeny bridge none\n", 2 },
        { "allow user alice bridge br0\r\n", 1 },
        { "allow user alice bridge br0 max 65535\n", 1 },
        { "allow group 4294967294 bridge x\n", 1 },
        { "allow user alice bridge 123456789012345\n", 1 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ptap_policy *p = NULL;
        ptap_error err = { 0 };
        int r = ptap_policy_parse(cases[i].text, strlen(cases[i].text), "t.conf", &resolver,
                                  &p, &err);

        if (r != 0)
            fail_msg("case %zu: parse failed: %d %s", i, r, err.msg);
        assert_int_equal(p->n_rules, cases[i].n_rules);
        ptap_policy_free(p);
    }
}

static void test_parse_fields(void **state)
{
    const char *text = "# header\n"
                       "allow user alice bridge br0 max 3\n"
                       "\n"
                       "allow group kvm bridge * \n"
                       "deny bridge none\n";
    ptap_policy *p = NULL;

    assert_int_equal(ptap_policy_parse(text, strlen(text), "t.conf", &resolver, &p, NULL), 0);
    assert_int_equal(p->n_rules, 3);
    assert_int_equal(p->rules[0].action, PTAP_POLICY_ALLOW);
    assert_int_equal(p->rules[0].subject, PTAP_POLICY_USER);
    assert_int_equal(p->rules[0].id, 1001);
    assert_int_equal(p->rules[0].bridge_kind, PTAP_POLICY_BRIDGE_NAMED);
    assert_string_equal(p->rules[0].bridge, "br0");
    assert_true(p->rules[0].has_max);
    assert_int_equal(p->rules[0].max, 3);
    assert_int_equal(p->rules[0].line, 2);
    assert_int_equal(p->rules[1].subject, PTAP_POLICY_GROUP);
    assert_int_equal(p->rules[1].id, 108);
    assert_int_equal(p->rules[1].bridge_kind, PTAP_POLICY_BRIDGE_ANY);
    assert_false(p->rules[1].has_max);
    assert_int_equal(p->rules[1].line, 4);
    assert_int_equal(p->rules[2].action, PTAP_POLICY_DENY);
    assert_int_equal(p->rules[2].subject, PTAP_POLICY_BRIDGE);
    assert_int_equal(p->rules[2].bridge_kind, PTAP_POLICY_BRIDGE_NONE);
    assert_int_equal(p->rules[2].line, 5);
    ptap_policy_free(p);
}

static void test_parse_broken(void **state)
{
    static const struct {
        const char *text;
        size_t len; /* 0: strlen */
        const char *err;   /* expected message */
    } cases[] = {
        { "permit user alice bridge br0\n", 0, "t.conf:1: 'permit': expected 'allow' or 'deny'" },
        { "allow\n", 0, "t.conf:1: expected 'user', 'group' or 'bridge'" },
        { "allow bridge br0\n", 0, "t.conf:1: 'bridge': expected 'user' or 'group'" },
        { "allow user\n", 0, "t.conf:1: missing user name or uid" },
        { "allow user alice\n", 0, "t.conf:1: expected 'bridge BRIDGE|*|none'" },
        { "allow user alice bridge\n", 0, "t.conf:1: missing bridge name, '*' or 'none'" },
        { "\n# c\nallow user mallory bridge br0\n", 0, "t.conf:3: 'mallory': unknown user" },
        { "allow group wheel bridge br0\n", 0, "t.conf:1: 'wheel': unknown group" },
        { "allow user alice bridge br0 max\n", 0, "t.conf:1: missing number after 'max'" },
        { "allow user alice bridge br0 max -1\n", 0, "t.conf:1: '-1': 'max' needs a whole number" },
        { "allow user alice bridge br0 max 65536\n", 0,
          "t.conf:1: '65536': 'max' is out of range (0-65535)" },
        { "allow user alice bridge br0 max 3 extra\n", 0, "t.conf:1: 'extra': unexpected word" },
        { "allow user alice bridge br0 extra\n", 0, "t.conf:1: 'extra': unexpected word" },
        { "allow user alice bridge 1234567890123456\n", 0,
          "t.conf:1: '1234567890123456': interface name too long (at most 15 bytes)" },
        { "allow user alice bridge br%d\n", 0,
          "t.conf:1: 'br%d': '%' is not allowed in an interface name here" },
        { "allow user 4294967295 bridge br0\n", 0, "t.conf:1: '4294967295': invalid uid" },
        { "allow user 99999999999 bridge br0\n", 0, "t.conf:1: '99999999999': invalid uid" },
        { "allow user al/ice bridge br0\n", 0, "t.conf:1: 'al/ice': invalid user name" },
        { "deny user\n", 0, "t.conf:1: missing user name or uid" },
        { "deny bridge\n", 0, "t.conf:1: missing bridge name" },
        { "deny user bob bridge br0\n", 0, "t.conf:1: 'bridge': unexpected word" },
        { "deny bridge br0 max 3\n", 0, "t.conf:1: 'max': unexpected word" },
        { "allow user alice bridge br0\x01\n", 0, "t.conf:1: invalid character (byte 0x01)" },
        { "allow user alice bridge br\xc3\xa9\n", 0, "t.conf:1: invalid character (byte 0xc3)" },
        { "allow user alice bridge br0\0\n", 29, "t.conf:1: NUL byte in line" },
        { "a b c d e f g h i\n", 0, "t.conf:1: too many words for a rule" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ptap_policy *p = NULL;
        ptap_error err = { 0 };
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        int r = ptap_policy_parse(cases[i].text, len, "t.conf", &resolver, &p, &err);

        if (r != -EINVAL)
            fail_msg("case %zu: expected -EINVAL, got %d", i, r);
        assert_null(p);
        if (strcmp(err.msg, cases[i].err) != 0)
            fail_msg("case %zu: message '%s', expected '%s'", i, err.msg, cases[i].err);
        assert_int_equal(err.code, -EINVAL);
        assert_int_equal(ptap_error_exit_code(&err), EX_CONFIG);
    }
}

static void test_parse_limits(void **state)
{
    size_t big = PTAP_POLICY_MAX_LINE + 10;
    char *line = malloc(big + 1);
    ptap_error err = { 0 };
    ptap_policy *p = NULL;

    assert_non_null(line);
    memset(line, ' ', big);
    line[big] = '\0';
    assert_int_equal(ptap_policy_parse(line, big, "t.conf", &resolver, &p, &err), -EINVAL);
    assert_string_equal(err.msg, "t.conf:1: line too long (more than 4096 bytes)");
    free(line);
    err = (ptap_error) { 0 };
    assert_int_equal(ptap_policy_parse("", PTAP_POLICY_MAX_SIZE + 1, "t.conf", &resolver, &p,
                                       &err),
                     -EFBIG);
    assert_null(p);
}

/* --- decisions ----------------------------------------------------------- */

static const char decision_policy[] =
    "allow user alice bridge br0 max 2\n"       /* 1 */
    "allow user alice bridge none\n"            /* 2 */
    "allow group kvm bridge * max 5\n"          /* 3 */
    "deny user bob\n"                           /* 4 */
    "deny bridge brx\n"                         /* 5 */
    "allow user carol bridge brx\n"             /* 6: dead, deny wins */
    "allow user carol bridge br0 max 1\n"       /* 7 */
    "allow user carol bridge br0 max 3\n";      /* 8: the larger quota also counts */

static void test_decide(void **state)
{
    static const gid_t none[] = { 100 };
    static const gid_t kvm[] = { 100, 108 };
    static const struct {
        uid_t uid;
        bool in_kvm;
        const char *bridge;
        unsigned owned, count;
        int ret;
        const char *why;
    } cases[] = {
        /* root is unbound */
        { 0, false, "anything", 1000, 1000, 0, "root is not bound by the policy" },
        /* user rule, quota */
        { 1001, false, "br0", 0, 1, 0, "allowed by t.conf:1" },
        { 1001, false, "br0", 1, 1, 0, "allowed by t.conf:1" },
        { 1001, false, "br0", 2, 1, -EDQUOT, "quota of 2 taps exceeded (2 owned, 1 asked; t.conf:1)" },
        { 1001, false, "br0", 0, 3, -EDQUOT, "quota of 2 taps exceeded (0 owned, 3 asked; t.conf:1)" },
        { 1001, false, NULL, 15, 1, 0, "allowed by t.conf:2" },
        /* no "max": the default limit (PTAP_POLICY_DEFAULT_MAX, 16) */
        { 1001, false, NULL, 16, 1, -EDQUOT,
          "quota of 16 taps exceeded (16 owned, 1 asked; t.conf:2, the default limit of a rule without 'max')" },
        { 1001, false, NULL, 0, 4096, -EDQUOT,
          "quota of 16 taps exceeded (0 owned, 4096 asked; t.conf:2, the default limit of a rule without 'max')" },
        { 1001, false, "", 0, 1, 0, "allowed by t.conf:2" },
        { 1001, false, "br1", 0, 1, -EACCES, "no rule in t.conf allows uid 1001 on bridge 'br1'" },
        /* group rule: "*" is any bridge but not none */
        { 1001, true, "br1", 0, 1, 0, "allowed by t.conf:3" },
        { 1001, true, "br0", 2, 1, 0, "allowed by t.conf:3" }, /* over rule 1, rule 3 allows */
        { 1001, true, "br1", 5, 1, -EDQUOT, "quota of 5 taps exceeded (5 owned, 1 asked; t.conf:3)" },
        { 1004, true, NULL, 0, 1, -EACCES, "no rule in t.conf allows uid 1004 a tap without bridge" },
        { 1004, false, "br0", 0, 1, -EACCES, "no rule in t.conf allows uid 1004 on bridge 'br0'" },
        /* deny wins */
        { 1002, true, "br1", 0, 1, -EACCES, "uid 1002 is denied by t.conf:4" },
        { 1001, true, "brx", 0, 1, -EACCES, "bridge 'brx' is denied by t.conf:5" },
        { 1003, false, "brx", 0, 1, -EACCES, "bridge 'brx' is denied by t.conf:5" },
        /* several allow rules: any one with room suffices */
        { 1003, false, "br0", 2, 1, 0, "allowed by t.conf:8" },
        { 1003, false, "br0", 3, 1, -EDQUOT, "quota of 3 taps exceeded (3 owned, 1 asked; t.conf:8)" },
    };
    ptap_policy *p = NULL;

    assert_int_equal(ptap_policy_parse(decision_policy, strlen(decision_policy), "t.conf",
                                       &resolver, &p, NULL),
                     0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ptap_policy_request req = {
            .uid = cases[i].uid,
            .groups = cases[i].in_kvm ? kvm : none,
            .n_groups = cases[i].in_kvm ? 2 : 1,
            .bridge = cases[i].bridge,
            .owned = cases[i].owned,
            .count = cases[i].count,
        };
        const ptap_policy_rule *rule = NULL;
        ptap_error err = { 0 };
        char why[PTAP_ERROR_MAX] = "";
        int r = ptap_policy_decide(p, &req, &rule, &err);

        /* A refusal says why; an allowed request names its rule (none for root). */
        if (r < 0) {
            snprintf(why, sizeof(why), "%s", err.msg);
            assert_int_equal(err.code, r);
            assert_int_equal(ptap_error_exit_code(&err), EX_NOPERM);
            assert_null(rule);
        } else if (rule) {
            assert_int_equal(err.code, 0);
            snprintf(why, sizeof(why), "allowed by %s:%u", p->filename, rule->line);
        } else {
            assert_int_equal(err.code, 0);
            assert_int_equal(req.uid, 0);
            snprintf(why, sizeof(why), "root is not bound by the policy");
        }
        if (r != cases[i].ret)
            fail_msg("case %zu: decide = %d, expected %d (%s)", i, r, cases[i].ret, why);
        if (strcmp(why, cases[i].why) != 0)
            fail_msg("case %zu: why '%s', expected '%s'", i, why, cases[i].why);
    }
    ptap_policy_free(p);
}

static void test_decide_empty(void **state)
{
    ptap_policy *p = NULL;
    ptap_policy_request req = { .uid = 1001, .count = 1 };

    /* Default deny: an empty file, and no policy at all. */
    assert_int_equal(ptap_policy_parse("", 0, "e.conf", &resolver, &p, NULL), 0);
    assert_int_equal(ptap_policy_decide(p, &req, NULL, NULL), -EACCES);
    assert_int_equal(ptap_policy_decide(NULL, &req, NULL, NULL), -EACCES);
    req.uid = 0;
    assert_int_equal(ptap_policy_decide(NULL, &req, NULL, NULL), 0);
    ptap_policy_free(p);
}

static void test_owner_rules(void **state)
{
    static const gid_t groups[] = { 1001, 108 };
    static const struct {
        uid_t uid, owner;
        gid_t group;
        int ret;
    } cases[] = {
        { 1001, 1001, (gid_t) -1, 0 },
        { 1001, 1001, 108, 0 },
        { 1001, 1001, 1001, 0 },
        { 1001, 1001, 0, -EPERM },
        { 1001, 1002, (gid_t) -1, -EPERM },
        { 1001, 0, (gid_t) -1, -EPERM },
        { 1001, (uid_t) -1, (gid_t) -1, -EPERM }, /* an unowned tap is anyone's */
        { 0, 1002, 5, 0 },
        { 0, (uid_t) -1, (gid_t) -1, 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ptap_error err = { 0 };
        int r = ptap_policy_check_owner(cases[i].uid, groups, 2, cases[i].owner, cases[i].group,
                                        &err);

        if (r != cases[i].ret)
            fail_msg("case %zu: %d, expected %d", i, r, cases[i].ret);
        if (r < 0)
            assert_true(err.msg[0] != '\0');
    }
}

/* Trust: the checks that can run unprivileged. A root-owned file in a
 * root-owned chain is accepted (when running as root, tested for real by
 * the integration tests); a file of ours is refused unless we are root. */
static void test_trust(void **state)
{
    char dir[] = "/tmp/ptap-policy-XXXXXX";
    char path[64];
    ptap_error err = { 0 };
    int fd, r;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/helper.conf", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    r = ptap_policy_check_trust(fd, path, &err);
    if (geteuid() != 0) {
        assert_int_equal(r, -EPERM);
        assert_non_null(strstr(err.msg, "is not owned by root"));
    } else {
        /* /tmp is world-writable (sticky): the chain is refused. */
        assert_int_equal(fchmod(fd, 0644), 0);
        assert_int_equal(r, -EPERM);
        assert_non_null(strstr(err.msg, "directory '/tmp' is writable by group or others"));
        assert_int_equal(fchmod(fd, 0664), 0);
        err = (ptap_error) { 0 };
        assert_int_equal(ptap_policy_check_trust(fd, path, &err), -EPERM);
        assert_non_null(strstr(err.msg, "is writable by group or others"));
    }
    r = ptap_policy_check_trust(fd, "relative/helper.conf", NULL);
    assert_int_equal(r, -EPERM);
    close(fd);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_parse_broken),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_decide_empty),
        cmocka_unit_test(test_owner_rules),
        cmocka_unit_test(test_trust),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
