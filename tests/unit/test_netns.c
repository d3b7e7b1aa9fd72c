/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which namespace judges a record (src/lib/netns.c, docs/recovery.md): one
 * row per rule of ptap_netns_judge_record(). Then the namespace fields of
 * a journal record: names that may be recorded, identities that go
 * together, and a record's namespace read back as written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "journal.h"
#include "netns.h"

#define SELF { .dev = 4, .ino = 4026531840, .name = "" }
#define OTHER { .dev = 4, .ino = 4026532281, .name = "A" }
#define OLD { 0 }

typedef struct judge_row {
    const char *what;
    ptap_netns rec, self;
    ptap_netns_where where;
    ptap_netns_judge want;
} judge_row;

static const judge_row judge_rows[] = {
    { "an old-format record is judged where ptap runs", OLD, SELF, PTAP_NETNS_HERE,
      PTAP_NETNS_JUDGE_HERE },
    { "an old-format record, whatever a search said", OLD, SELF, PTAP_NETNS_GONE,
      PTAP_NETNS_JUDGE_HERE },
    { "a record of this namespace is judged here", SELF, SELF, PTAP_NETNS_HERE,
      PTAP_NETNS_JUDGE_HERE },
    { "same identity, another name: still here", { .dev = 4, .ino = 4026531840, .name = "old" },
      SELF, PTAP_NETNS_HERE, PTAP_NETNS_JUDGE_HERE },
    { "another namespace this process may enter: enter it", OTHER, SELF, PTAP_NETNS_ENTERABLE,
      PTAP_NETNS_JUDGE_ENTER },
    { "another namespace it may not enter: leave the record", OTHER, SELF,
      PTAP_NETNS_FORBIDDEN, PTAP_NETNS_JUDGE_LEAVE },
    { "not found, but not everything could be seen: leave it, never gone", OTHER, SELF,
      PTAP_NETNS_UNSEEN, PTAP_NETNS_JUDGE_LEAVE },
    { "not found anywhere, everything seen: gone", OTHER, SELF, PTAP_NETNS_GONE,
      PTAP_NETNS_JUDGE_GONE },
    { "another identity said to be here: do not guess", OTHER, SELF, PTAP_NETNS_HERE,
      PTAP_NETNS_JUDGE_LEAVE },
    { "same inode on another device is another namespace", { .dev = 5, .ino = 4026531840 },
      SELF, PTAP_NETNS_FORBIDDEN, PTAP_NETNS_JUDGE_LEAVE },
};

static void test_judge_one(void **state)
{
    const judge_row *t = *state;
    ptap_netns_judge got = ptap_netns_judge_record(&t->rec, &t->self, t->where);

    if (got != t->want)
        fail_msg("%s: judged '%s', want '%s'", t->what, ptap_netns_judge_to_string(got),
                 ptap_netns_judge_to_string(t->want));
}

typedef struct name_row {
    const char *name;
    bool ok;
} name_row;

static const name_row name_rows[] = {
    { "A", true },
    { "ptaptest-nsA-1234", true },
    { "with space", true },
    { "", false },
    { ".", false },
    { "..", false },
    { "a/b", false },
    { "tab\there", false },
    { "123456789012345678901234567890123456789012345678901234567890123", true }, /* 63 */
    { "1234567890123456789012345678901234567890123456789012345678901234", false }, /* 64 */
};

static void test_name_one(void **state)
{
    const name_row *t = *state;
    const char *why = NULL;
    int r = ptap_netns_name_check(t->name, &why);

    if ((r == 0) != t->ok)
        fail_msg("'%s': %s, want %s", t->name, r == 0 ? "accepted" : why,
                 t->ok ? "accepted" : "refused");
}

static void test_describe(void **state)
{
    (void) state;
    ptap_netns named = OTHER, anon = { .dev = 4, .ino = 4026532299 }, old = OLD;
    char buf[128];

    ptap_netns_format_id(&named, buf, sizeof(buf));
    assert_string_equal(buf, "4:4026532281");
    ptap_netns_describe(&named, buf, sizeof(buf));
    assert_string_equal(buf, "'A'");
    ptap_netns_describe(&anon, buf, sizeof(buf));
    assert_string_equal(buf, "4:4026532299");
    ptap_netns_describe(&old, buf, sizeof(buf));
    assert_string_equal(buf, "(the current one)");
    assert_true(ptap_netns_equal(&named, &(ptap_netns) { .dev = 4, .ino = 4026532281 }));
    assert_false(ptap_netns_equal(&old, &old));
}

/* ---- the record's namespace in the journal ---- */

#define HEAD "<ptap-journal version=\"1\" id=\"0123456789abcdef\" next-seq=\"9\">\n"
#define TAP(attrs)                                                                           \
    "<tap seq=\"2\" id=\"op3\" name=\"t0\" state=\"ready\" batch=\"op1\" owner=\"0\" "       \
    "created=\"2024-05-01T12:00:00Z\" updated=\"2024-05-01T12:00:00Z\"" attrs "/>\n"

typedef struct rec_row {
    const char *what;
    const char *journal;
    int rc;
    ptap_netns want;
} rec_row;

static const rec_row rec_rows[] = {
    { "old format: no namespace", HEAD TAP(""), 0, OLD },
    { "identity and name", HEAD TAP(" netns-dev=\"4\" netns-ino=\"4026532281\" netns-name=\"A\""), 0,
      OTHER },
    { "identity without a name", HEAD TAP(" netns-dev=\"4\" netns-ino=\"4026532299\""), 0,
      { .dev = 4, .ino = 4026532299 } },
    { "a name without an identity", HEAD TAP(" netns-name=\"A\""), -EBADMSG, OLD },
    { "an inode without its device", HEAD TAP(" netns-ino=\"4026532281\""), -EBADMSG, OLD },
    { "a name that is a path", HEAD TAP(" netns-dev=\"4\" netns-ino=\"7\" netns-name=\"a/b\""),
      -EBADMSG, OLD },
    { "a name that is '..'", HEAD TAP(" netns-dev=\"4\" netns-ino=\"7\" netns-name=\"..\""),
      -EBADMSG, OLD },
};

static void test_record_one(void **state)
{
    const rec_row *t = *state;
    ptap_journal *j = NULL;
    ptap_error err = { 0 };
    int r = ptap_journal_load_buffer(t->journal, strlen(t->journal), &j, &err);

    if (r != t->rc)
        fail_msg("%s: load %d, want %d (%s)", t->what, r, t->rc, err.msg);
    if (r == 0) {
        const ptap_record *rec = ptap_journal_find(j, "t0");

        assert_non_null(rec);
        assert_true(rec->netns.dev == t->want.dev);
        assert_true(rec->netns.ino == t->want.ino);
        assert_string_equal(rec->netns.name, t->want.name);
    }
    ptap_journal_close(j);
}

int main(void)
{
    struct CMUnitTest tests[ARRAY_SIZE(judge_rows) + ARRAY_SIZE(name_rows) + ARRAY_SIZE(rec_rows) + 1];
    size_t n = 0;

    for (size_t i = 0; i < ARRAY_SIZE(judge_rows); i++)
        tests[n++] = (struct CMUnitTest) { .name = judge_rows[i].what,
                                           .test_func = test_judge_one,
                                           .initial_state = (void *) &judge_rows[i] };
    for (size_t i = 0; i < ARRAY_SIZE(name_rows); i++)
        tests[n++] = (struct CMUnitTest) { .name = name_rows[i].name,
                                           .test_func = test_name_one,
                                           .initial_state = (void *) &name_rows[i] };
    for (size_t i = 0; i < ARRAY_SIZE(rec_rows); i++)
        tests[n++] = (struct CMUnitTest) { .name = rec_rows[i].what,
                                           .test_func = test_record_one,
                                           .initial_state = (void *) &rec_rows[i] };
    tests[n++] = (struct CMUnitTest) { .name = "describe", .test_func = test_describe };
    return _cmocka_run_group_tests("netns", tests, n, NULL, NULL);
}
