/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Table-driven tests of mark.h: the provenance mark in a tap's ifalias
 * ("ptap:uUID", "ptap:uUID:TAG", "ptap:uUID:JOURNALID:OPID", and ptap
 * 0.1's "ptap", "ptap:TAG"): is_mark, parse, format, the helper's tag form
 * and whose mark it is, edge cases included (bare "ptap", overlong parts,
 * bad characters, a tag that would read as a maker).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "mark.h"
#include "util.h"
#include "validate.h"

#define JID "0123456789abcdef"
#define OP31 "0123456789012345678901234567890"   /* PTAP_RECORD_ID_MAX - 1 bytes */
#define OP32 "01234567890123456789012345678901"  /* one too many */
#define TAG64 "0123456789012345678901234567890123456789012345678901234567890123"

static void test_is_mark(void **state)
{
    static const struct {
        const char *alias;
        bool mark;
    } cases[] = {
        { "ptap", true },
        { "ptap:t1", true },
        { "ptap:" JID, true },
        { "ptap:" JID ":op42", true },
        { "ptap:a:b:c", true },
        { "ptap:" TAG64, true },          /* a tag of PTAP_TAG_MAX bytes */
        { "ptap:" TAG64 "x", false },     /* one more */
        { "ptap:", false },
        { "ptap::", true },               /* ':' is a tag character */
        { "ptap ", false },
        { "ptapx", false },
        { "ptap-x", false },
        { "PTAP", false },
        { "Ptap:t1", false },
        { "", false },
        { NULL, false },
        { "ptap:a b", false },
        { "ptap:a/b", false },
        { "ptap:a\"b", false },
        { "ptap:a\nb", false },
        { " ptap", false },
        { "my uplink", false },
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        if (ptap_mark_is_mark(cases[i].alias) != cases[i].mark)
            fail_msg("ptap_mark_is_mark('%s') != %d", strna(cases[i].alias), cases[i].mark);
}

static void test_parse(void **state)
{
    static const struct {
        const char *alias;
        int rc;
        long long maker; /* -1: none */
        const char *journal, *op;
    } cases[] = {
        /* ptap 0.1 marks: no maker */
        { "ptap", 0, -1, "", "" },
        { "ptap:" JID, 0, -1, JID, "" },
        { "ptap:" JID ":op42", 0, -1, JID, "op42" },
        { "ptap:pool", 0, -1, "pool", "" },
        { "ptap:a:b:c", 0, -1, "a", "b:c" },
        { "ptap:j:" OP31, 0, -1, "j", OP31 },
        /* the helper's marks */
        { "ptap:u0", 0, 0, "", "" },
        { "ptap:u1000:" JID ":op42", 0, 1000, JID, "op42" },
        { "ptap:u4294967294:" JID, 0, 4294967294LL, JID, "" },
        { "ptap:u1000:pool", 0, 1000, "pool", "" },
        { "ptap:u1000:a:b:c", 0, 1000, "a", "b:c" },
        /* not a maker: then a 0.1 tag */
        { "ptap:u4294967295:" JID, 0, -1, "u4294967295", JID },
        { "ptap:u01:j", 0, -1, "u01", "j" },
        { "ptap:u:j", 0, -1, "u", "j" },
        { "ptap:u1x:j", 0, -1, "u1x", "j" },
        { "ptap:" JID "0:op", -ERANGE, -1, "", "" },           /* journal id too long */
        { "ptap:j:" OP32, -ERANGE, -1, "", "" },                /* op id too long */
        { "ptap:u7:j:" OP32, -ERANGE, -1, "", "" },
        { "ptap:j:0123456789012345678901234567890123", -ERANGE, -1, "", "" },
        { "ptapx", -EINVAL, -1, NULL, NULL },
        { "ptap:", -EINVAL, -1, NULL, NULL },
        { "ptap:a b", -EINVAL, -1, NULL, NULL },
        { "ptap:" JID ":o p", -EINVAL, -1, NULL, NULL },
        { "", -EINVAL, -1, NULL, NULL },
        { NULL, -EINVAL, -1, NULL, NULL },
        { "my uplink", -EINVAL, -1, NULL, NULL },
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        ptap_mark m = { .maker = 7, .journal = "junk", .op = "junk" };
        int r = ptap_mark_parse(cases[i].alias, &m);

        if (r != cases[i].rc)
            fail_msg("ptap_mark_parse('%s') = %d, want %d", strna(cases[i].alias), r, cases[i].rc);
        if (cases[i].journal) {
            assert_string_equal(m.journal, cases[i].journal);
            assert_string_equal(m.op, cases[i].op);
            if (cases[i].maker < 0)
                assert_true(m.maker == (uid_t) -1);
            else
                assert_true(m.maker == (uid_t) cases[i].maker);
        }
    }
}

static void test_format(void **state)
{
    static const struct {
        const char *journal, *op;
        size_t len; /* 0: PTAP_MARK_MAX */
        int rc;
        const char *mark, *tag;
    } cases[] = {
        { JID, "op7", 0, 0, "ptap:u1000:" JID ":op7", JID ":op7" },
        { JID, "", 0, 0, "ptap:u1000:" JID, JID },
        { "pool", "op1", 0, 0, "ptap:u1000:pool:op1", "pool:op1" },
        { JID, OP31, 0, 0, "ptap:u1000:" JID ":" OP31, JID ":" OP31 }, /* the longest fits */
        { JID, "op7", 10, -ENOBUFS, NULL, NULL },
        { JID, "op7", sizeof("ptap:u1000:" JID ":op7") - 1, -ENOBUFS, NULL, NULL },
        { JID, "op7", sizeof("ptap:u1000:" JID ":op7"), 0, "ptap:u1000:" JID ":op7", NULL },
        { "u1000", "op7", 0, -EINVAL, NULL, NULL },    /* reads as a maker */
        { "a:b", "op7", 0, -EINVAL, NULL, NULL },      /* ':' would move the split */
        { JID "0", "op7", 0, -EINVAL, NULL, NULL },   /* journal id too long */
        { "", "op7", 0, -EINVAL, NULL, NULL },
        { JID, "o p", 0, -EINVAL, NULL, NULL },
        { JID, "o/p", 0, -EINVAL, NULL, NULL },
        { JID, OP32, 0, -EINVAL, NULL, NULL },         /* op id too long */
        { NULL, "op7", 0, -EINVAL, NULL, NULL },
        { JID, NULL, 0, -EINVAL, NULL, NULL },
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char buf[PTAP_MARK_MAX], tag[PTAP_TAG_MAX + 1];
        ptap_mark m;
        size_t len = cases[i].len ? cases[i].len : sizeof(buf);
        int r = ptap_mark_format(1000, cases[i].journal, cases[i].op, buf, len);

        if (r != cases[i].rc)
            fail_msg("ptap_mark_format('%s', '%s', %zu) = %d, want %d", strna(cases[i].journal),
                     strna(cases[i].op), len, r, cases[i].rc);
        if (cases[i].tag) {
            assert_int_equal(ptap_mark_tag(cases[i].journal, cases[i].op, tag, sizeof(tag)), 0);
            assert_string_equal(tag, cases[i].tag);
        } else if (r == -EINVAL) {
            assert_int_equal(ptap_mark_tag(cases[i].journal, cases[i].op, tag, sizeof(tag)), -EINVAL);
        }
        if (r < 0)
            continue;
        /* What is formatted is a mark, and parses back into its parts. */
        assert_string_equal(buf, cases[i].mark);
        assert_true(ptap_mark_is_mark(buf));
        assert_int_equal(ptap_mark_parse(buf, &m), 0);
        assert_true(m.maker == 1000);
        assert_string_equal(m.journal, cases[i].journal);
        assert_string_equal(m.op, cases[i].op);
    }
    char tag[8];
    assert_int_equal(ptap_mark_tag(JID, "op7", tag, sizeof(tag)), -ENOBUFS);
}

static void test_format_tag(void **state)
{
    static const struct {
        const char *tag;
        size_t len; /* 0: PTAP_MARK_PREFIX + ':' + PTAP_TAG_MAX + NUL */
        int rc;
        const char *mark;
    } cases[] = {
        { NULL, 0, 0, "ptap:u42" },
        { "t1", 0, 0, "ptap:u42:t1" },
        { JID ":op3", 0, 0, "ptap:u42:" JID ":op3" },
        { "a.b-c_d:e", 0, 0, "ptap:u42:a.b-c_d:e" },
        { TAG64, 0, 0, "ptap:u42:" TAG64 },
        { "u", 0, 0, "ptap:u42:u" },
        { "ux:1", 0, 0, "ptap:u42:ux:1" },
        { "u1000:" JID ":op1", 0, -EINVAL, NULL }, /* would pass for user 1000's */
        { "u0", 0, -EINVAL, NULL },
        { TAG64 "x", 0, -EINVAL, NULL },
        { "", 0, -EINVAL, NULL },
        { "a b", 0, -EINVAL, NULL },
        { "a/b", 0, -EINVAL, NULL },
        { "a\"b", 0, -EINVAL, NULL },
        { NULL, 8, -ENOBUFS, NULL },
        { NULL, 9, 0, "ptap:u42" },
        { "t1", 11, -ENOBUFS, NULL },
        { "t1", 12, 0, "ptap:u42:t1" },
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char buf[PTAP_MARK_TAG_MAX];
        size_t len = cases[i].len ? cases[i].len : sizeof(buf);
        const char *why = NULL;
        int r = ptap_mark_format_tag(42, cases[i].tag, buf, len, &why);

        if (r != cases[i].rc)
            fail_msg("ptap_mark_format_tag('%s', %zu) = %d, want %d", strna(cases[i].tag), len, r,
                     cases[i].rc);
        if (r < 0) {
            assert_non_null(why);
            continue;
        }
        assert_string_equal(buf, cases[i].mark);
        assert_true(ptap_mark_is_mark(buf));
    }
}

static void test_is_ours(void **state)
{
    static const struct {
        const char *alias;
        uid_t me;
        const char *jid;
        bool ours;
    } cases[] = {
        { "ptap:u1000:" JID ":op1", 1000, JID, true },
        { "ptap:u1000:" JID, 1000, JID, true },
        { "ptap:u1001:" JID ":op1", 1000, JID, false },    /* made by another user */
        { "ptap:u1000:fedcba9876543210:op1", 1000, JID, false }, /* another journal */
        { "ptap:" JID ":op1", 1000, JID, false },          /* 0.1: maker unknown */
        { "ptap:u0:" JID ":op1", 0, JID, true },
        { "ptap:u0:" JID ":op1", 1000, JID, false },
        { "ptap:u1000", 1000, JID, false },
        { "ptap:u1000:" JID, 1000, "", false },
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        ptap_mark m;

        assert_int_equal(ptap_mark_parse(cases[i].alias, &m), 0);
        if (ptap_mark_is_ours(&m, cases[i].me, cases[i].jid) != cases[i].ours)
            fail_msg("ptap_mark_is_ours('%s', %u, '%s') != %d", cases[i].alias,
                     (unsigned) cases[i].me, cases[i].jid, cases[i].ours);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_mark),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_tag),
        cmocka_unit_test(test_is_ours),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
