/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Table-driven tests of mark.h: the provenance mark in a tap's ifalias
 * ("ptap", "ptap:TAG", "ptap:JOURNALID:OPID"): is_mark, parse, format
 * and the helper's tag form, edge cases included (bare "ptap", overlong
 * parts, bad characters). (Moved here from test_validate and
 * test_journal; every case they had is kept.)
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
        const char *journal, *op;
    } cases[] = {
        { "ptap", 0, "", "" },
        { "ptap:" JID, 0, JID, "" },
        { "ptap:" JID ":op42", 0, JID, "op42" },
        { "ptap:pool", 0, "pool", "" },
        { "ptap:a:b:c", 0, "a", "b:c" },
        { "ptap:j:" OP31, 0, "j", OP31 },
        { "ptap:" JID "0:op", -ERANGE, "", "" },           /* journal id too long */
        { "ptap:j:" OP32, -ERANGE, "", "" },                /* op id too long */
        { "ptap:j:0123456789012345678901234567890123", -ERANGE, "", "" },
        { "ptapx", -EINVAL, NULL, NULL },
        { "ptap:", -EINVAL, NULL, NULL },
        { "ptap:a b", -EINVAL, NULL, NULL },
        { "ptap:" JID ":o p", -EINVAL, NULL, NULL },
        { "", -EINVAL, NULL, NULL },
        { NULL, -EINVAL, NULL, NULL },
        { "my uplink", -EINVAL, NULL, NULL },
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char jid[PTAP_JOURNAL_ID_LEN + 1] = "junk", op[PTAP_RECORD_ID_MAX] = "junk";
        int r = ptap_mark_parse(cases[i].alias, jid, op);

        if (r != cases[i].rc)
            fail_msg("ptap_mark_parse('%s') = %d, want %d", strna(cases[i].alias), r, cases[i].rc);
        if (cases[i].journal) {
            assert_string_equal(jid, cases[i].journal);
            assert_string_equal(op, cases[i].op);
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
        { JID, "op7", 0, 0, "ptap:" JID ":op7", JID ":op7" },
        { JID, "", 0, 0, "ptap:" JID, JID },
        { "pool", "op1", 0, 0, "ptap:pool:op1", "pool:op1" },
        { JID, OP31, 0, 0, "ptap:" JID ":" OP31, JID ":" OP31 }, /* the longest fits */
        { JID, "op7", 10, -ENOBUFS, NULL, NULL },
        { JID, "op7", sizeof("ptap:" JID ":op7") - 1, -ENOBUFS, NULL, NULL },
        { JID, "op7", sizeof("ptap:" JID ":op7"), 0, "ptap:" JID ":op7", NULL },
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
        char jid[PTAP_JOURNAL_ID_LEN + 1], op[PTAP_RECORD_ID_MAX];
        size_t len = cases[i].len ? cases[i].len : sizeof(buf);
        int r = ptap_mark_format(cases[i].journal, cases[i].op, buf, len);

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
        assert_int_equal(ptap_mark_parse(buf, jid, op), 0);
        assert_string_equal(jid, cases[i].journal);
        assert_string_equal(op, cases[i].op);
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
        { NULL, 0, 0, "ptap" },
        { "t1", 0, 0, "ptap:t1" },
        { JID ":op3", 0, 0, "ptap:" JID ":op3" },
        { "a.b-c_d:e", 0, 0, "ptap:a.b-c_d:e" },
        { TAG64, 0, 0, "ptap:" TAG64 },
        { TAG64 "x", 0, -EINVAL, NULL },
        { "", 0, -EINVAL, NULL },
        { "a b", 0, -EINVAL, NULL },
        { "a/b", 0, -EINVAL, NULL },
        { "a\"b", 0, -EINVAL, NULL },
        { NULL, 4, -ENOBUFS, NULL },
        { NULL, 5, 0, "ptap" },
        { "t1", 7, -ENOBUFS, NULL },
        { "t1", 8, 0, "ptap:t1" },
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char buf[sizeof(PTAP_MARK_PREFIX) + 1 + PTAP_TAG_MAX];
        size_t len = cases[i].len ? cases[i].len : sizeof(buf);
        const char *why = NULL;
        int r = ptap_mark_format_tag(cases[i].tag, buf, len, &why);

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_mark),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_tag),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
