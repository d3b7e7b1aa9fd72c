/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The recovery decision table (src/lib/recover.c, docs/recovery.md):
 * record state x kernel x consumer -> action. One row per rule; then the
 * rows where the record's network namespace decides (other-netns,
 * netns-gone, follow-netns).
 * Then which records a release names (ptap_release_matches), one row per
 * rule: monitor targets, libvirt names and UUIDs, connections kept apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "consumer.h"
#include "recover.h"

#define EPH PTAP_TAP_EPHEMERAL
#define KEEP PTAP_TAP_KEEP

typedef struct row {
    const char *what;
    ptap_state state;
    unsigned flags;
    bool ours, exists, batch_open;
    ptap_probe probe;
    /* expected */
    bool probed;
    const char *action;   /* NULL: nothing */
    ptap_outcome outcome;
    bool destroy_batch, detach;
    bool held; /* fact, last so that the rows above need not say it: a process holds the tap */
} row;

#define HERE PTAP_NETNS_JUDGE_HERE
#define ENTER PTAP_NETNS_JUDGE_ENTER
#define LEAVE PTAP_NETNS_JUDGE_LEAVE
#define GONE PTAP_NETNS_JUDGE_GONE

static const row rows[] = {
    { "interrupted create rolls back", PTAP_STATE_CREATING, 0, false, false, false, 0,
      false, "rollback-create", PTAP_OUTCOME_CLOSE, true, false, false },
    { "interrupted destroy completes", PTAP_STATE_DESTROYING, 0, true, true, false, 0,
      false, "complete-destroy", PTAP_OUTCOME_CLOSE, false, false, false },
    { "interrupted destroy, tap already gone", PTAP_STATE_DESTROYING, 0, false, false, false, 0,
      false, "complete-destroy", PTAP_OUTCOME_CLOSE, false, false, false },
    { "ready tap present: nothing", PTAP_STATE_READY, 0, true, true, false, 0,
      false, NULL, PTAP_OUTCOME_KEEP, false, false, false },
    { "ready tap vanished: close", PTAP_STATE_READY, 0, false, false, false, 0,
      false, "close", PTAP_OUTCOME_CLOSE, false, false, false },
    { "ready name now someone else's device: close, never touch", PTAP_STATE_READY, 0, false, true,
      false, 0, false, "close", PTAP_OUTCOME_CLOSE, false, false, false },
    { "ready from a torn create outcome: roll back with the batch", PTAP_STATE_READY, 0, true, true,
      true, 0, false, "rollback-create", PTAP_OUTCOME_CLOSE, false, false, false },
    { "attaching fresh tap from a torn create outcome: roll back with the batch",
      PTAP_STATE_ATTACHING, EPH, true, true, true, PTAP_PROBE_UNKNOWN, true, "rollback-create",
      PTAP_OUTCOME_CLOSE, false, false, false },
    { "ready ephemeral (attach died before QEMU): remove", PTAP_STATE_READY, EPH, true, true, false,
      0, false, "rollback-attach", PTAP_OUTCOME_CLOSE, false, false, false },
    { "attached, guest has it: nothing", PTAP_STATE_ATTACHED, 0, true, true, false,
      PTAP_PROBE_PRESENT, true, NULL, PTAP_OUTCOME_KEEP, false, false, false },
    { "attached, guest gone: destroy", PTAP_STATE_ATTACHED, EPH, true, true, false, PTAP_PROBE_GONE,
      true, "consumer-gone", PTAP_OUTCOME_CLOSE, false, false, false },
    { "attached pool tap, guest gone: back to the pool", PTAP_STATE_ATTACHED, 0, true, true, false,
      PTAP_PROBE_GONE, true, "consumer-gone", PTAP_OUTCOME_READY, false, false, false },
    { "attached, device no longer listed: destroy", PTAP_STATE_ATTACHED, EPH, true, true, false,
      PTAP_PROBE_ABSENT, true, "consumer-gone", PTAP_OUTCOME_CLOSE, false, false, false },
    { "attached pool tap, device no longer listed: back to the pool", PTAP_STATE_ATTACHED, 0, true,
      true, false, PTAP_PROBE_ABSENT, true, "consumer-gone", PTAP_OUTCOME_READY, false, false, false },
    { "attached, cannot tell: leave it", PTAP_STATE_ATTACHED, 0, true, true, false,
      PTAP_PROBE_UNKNOWN, true, NULL, PTAP_OUTCOME_KEEP, false, false, false },
    { "attached, tap vanished: close", PTAP_STATE_ATTACHED, 0, false, false, false, 0,
      false, "close", PTAP_OUTCOME_CLOSE, false, false, false },
    { "attaching, QEMU has the device: complete", PTAP_STATE_ATTACHING, EPH, true, true, false,
      PTAP_PROBE_PRESENT, true, "complete-attach", PTAP_OUTCOME_ATTACHED, false, false, false },
    { "attaching fresh tap, no device: roll back, destroy", PTAP_STATE_ATTACHING, EPH, true, true,
      false, PTAP_PROBE_ABSENT, true, "rollback-attach", PTAP_OUTCOME_CLOSE, false, true, false },
    { "attaching pool tap, no device: back to the pool", PTAP_STATE_ATTACHING, 0, true, true, false,
      PTAP_PROBE_ABSENT, true, "rollback-attach", PTAP_OUTCOME_READY, false, true, false },
    { "attaching, guest gone: destroy", PTAP_STATE_ATTACHING, EPH, true, true, false, PTAP_PROBE_GONE,
      true, "consumer-gone", PTAP_OUTCOME_CLOSE, false, false, false },
    { "attaching pool tap, guest gone: back to the pool", PTAP_STATE_ATTACHING, 0, true, true, false,
      PTAP_PROBE_GONE, true, "consumer-gone", PTAP_OUTCOME_READY, false, false, false },
    { "detaching, device still there: finish and destroy", PTAP_STATE_DETACHING, 0, true, true,
      false, PTAP_PROBE_PRESENT, true, "complete-detach", PTAP_OUTCOME_CLOSE, false, true, false },
    { "detaching --keep-tap, device gone: back to the pool", PTAP_STATE_DETACHING, KEEP, true, true,
      false, PTAP_PROBE_ABSENT, true, "complete-detach", PTAP_OUTCOME_READY, false, false, false },
    { "detaching, guest gone: destroy (as the detach asked)", PTAP_STATE_DETACHING, 0, true, true,
      false, PTAP_PROBE_GONE, true, "consumer-gone", PTAP_OUTCOME_CLOSE, false, false, false },
    { "detaching --keep-tap, guest gone: back to the pool", PTAP_STATE_DETACHING, KEEP, true, true,
      false, PTAP_PROBE_GONE, true, "consumer-gone", PTAP_OUTCOME_READY, false, false, false },
    /* A tap that a process holds is never destroyed, whatever the record says. */
    { "held: interrupted destroy leaves it", PTAP_STATE_DESTROYING, 0, true, true, false, 0,
      false, "in-use", PTAP_OUTCOME_KEEP, false, false, true },
    { "held: attached, guest gone, still held: leave it", PTAP_STATE_ATTACHED, EPH, true, true,
      false, PTAP_PROBE_GONE, true, "in-use", PTAP_OUTCOME_KEEP, false, false, true },
    { "held: attached pool tap, guest gone: back to the pool", PTAP_STATE_ATTACHED, 0, true, true,
      false, PTAP_PROBE_GONE, true, "consumer-gone", PTAP_OUTCOME_READY, false, false, true },
    { "held: ephemeral ready tap of a dead attach: leave it", PTAP_STATE_READY, EPH, true, true,
      false, 0, false, "in-use", PTAP_OUTCOME_KEEP, false, false, true },
    { "held: torn create's ready tap: leave it", PTAP_STATE_READY, 0, true, true, true, 0, false,
      "in-use", PTAP_OUTCOME_KEEP, false, false, true },
    { "held by its own guest while detaching: the device goes first", PTAP_STATE_DETACHING, 0,
      true, true, false, PTAP_PROBE_PRESENT, true, "complete-detach", PTAP_OUTCOME_CLOSE, false,
      true, true },
    { "held: a ready pool tap in use: nothing (it is its purpose)", PTAP_STATE_READY, 0, true,
      true, false, 0, false, NULL, PTAP_OUTCOME_KEEP, false, false, true },
    { "held, but another user's device of that name: close, never touch", PTAP_STATE_READY, 0,
      false, true, false, 0, false, "close", PTAP_OUTCOME_CLOSE, false, false, true },
};

/* Network namespaces: a record is judged in its own, never from another.
 * The facts above, and where its namespace lets it be judged. */
typedef struct ns_row {
    row r;
    ptap_netns_judge netns;
    bool moved; /* its tap is in another namespace (by its mark) */
} ns_row;

static const ns_row ns_rows[] = {
    { { "netns entered: a ready tap there, nothing", PTAP_STATE_READY, 0, true, true, false, 0,
      false, NULL, PTAP_OUTCOME_KEEP, false, false, false },
      ENTER, false },
    { { "netns entered: the tap vanished there, close", PTAP_STATE_READY, 0, false, false, false, 0,
      false, "close", PTAP_OUTCOME_CLOSE, false, false, false },
      ENTER, false },
    { { "netns cannot be entered: a ready record is left alone", PTAP_STATE_READY, 0, false, false,
      false, 0, false, "other-netns", PTAP_OUTCOME_KEEP, false, false, false },
      LEAVE, false },
    { { "netns cannot be entered: an attached record is left, nothing probed", PTAP_STATE_ATTACHED,
      0, false, false, false, 0, false, "other-netns", PTAP_OUTCOME_KEEP, false, false, false },
      LEAVE, false },
    { { "netns cannot be entered: a create's intent is left, nothing rolled back",
      PTAP_STATE_CREATING, 0, false, false, false, 0, false, "other-netns", PTAP_OUTCOME_KEEP,
      false, false, false },
      LEAVE, false },
    { { "netns cannot be entered: an interrupted destroy is left", PTAP_STATE_DESTROYING, 0, false,
      false, false, 0, false, "other-netns", PTAP_OUTCOME_KEEP, false, false, false },
      LEAVE, false },
    { { "netns gone: the record closes, nothing destroyed", PTAP_STATE_READY, 0, false, false,
      false, 0, false, "netns-gone", PTAP_OUTCOME_CLOSE, false, false, false },
      GONE, false },
    { { "netns gone: an attached record closes too", PTAP_STATE_ATTACHED, EPH, false, false, false,
      0, false, "netns-gone", PTAP_OUTCOME_CLOSE, false, false, false },
      GONE, false },
    { { "netns gone: a create's intent closes, no rollback batch", PTAP_STATE_CREATING, 0, false,
      false, false, 0, false, "netns-gone", PTAP_OUTCOME_CLOSE, false, false, false },
      GONE, false },
    { { "netns gone, but the tap moved out before: follow it", PTAP_STATE_READY, 0, false, false,
      false, 0, false, "follow-netns", PTAP_OUTCOME_FOLLOW, false, false, false },
      GONE, true },
    { { "moved to another netns: a ready record follows it", PTAP_STATE_READY, 0, false, false,
      false, 0, false, "follow-netns", PTAP_OUTCOME_FOLLOW, false, false, false },
      HERE, true },
    { { "moved, name taken here by someone else's device: follow, never touch", PTAP_STATE_READY, 0,
      false, true, false, 0, false, "follow-netns", PTAP_OUTCOME_FOLLOW, false, false, false },
      ENTER, true },
    { { "moved while attached: follow it (judged there next time)", PTAP_STATE_ATTACHED, 0, false,
      false, false, 0, false, "follow-netns", PTAP_OUTCOME_FOLLOW, false, false, false },
      HERE, true },
    { { "moved during a destroy: follow it (completed there next time)", PTAP_STATE_DESTROYING, 0,
      false, false, false, 0, false, "follow-netns", PTAP_OUTCOME_FOLLOW, false, false, false },
      HERE, true },
    { { "a create's intent is never followed: roll back", PTAP_STATE_CREATING, 0, false, false,
      false, 0, false, "rollback-create", PTAP_OUTCOME_CLOSE, true, false, false },
      HERE, true },
};

static void decide_one(const row *t, ptap_netns_judge netns, bool moved)
{
    ptap_record rec = { .state = t->state, .flags = t->flags };
    ptap_facts f = { .tap_ours = t->ours, .tap_exists = t->exists, .batch_open = t->batch_open,
                     .probe = t->probe };
    ptap_decision d;

    f.held = t->held;
    f.netns = netns;
    f.moved = moved;
    snprintf(rec.name, sizeof(rec.name), "ptap0");
    rec.consumer.kind = PTAP_CONSUMER_QMP;
    print_message("%s\n", t->what);
    assert_int_equal(ptap_recover_needs_probe(&rec, t->ours), t->probed);
    ptap_recover_decide(&rec, &f, &d);
    if (t->action)
        assert_string_equal(d.action, t->action);
    else
        assert_null(d.action);
    assert_int_equal(d.outcome, t->outcome);
    assert_int_equal(d.destroy_batch, t->destroy_batch);
    assert_int_equal(d.detach, t->detach);
    if (d.action)
        assert_true(d.reason && *d.reason);
}

static void test_decide_one(void **state)
{
    decide_one(*state, PTAP_NETNS_JUDGE_HERE, false);
}

static void test_decide_ns_one(void **state)
{
    const ns_row *t = *state;

    decide_one(&t->r, t->netns, t->moved);
}

#define U1 "5f1e0f6e-0000-4000-8000-000000000001"
#define U2 "5f1e0f6e-0000-4000-8000-000000000002"

typedef struct match_row {
    const char *what;
    ptap_consumer_kind kind;
    const char *rec_target, *rec_name, *rec_uri;
    const char *target, *uuid, *uri;
    bool match;
} match_row;

static const match_row match_rows[] = {
    { "qmp target matches its socket", PTAP_CONSUMER_QMP, "/run/vm1.qmp", "", "",
      "qmp:/run/vm1.qmp", NULL, NULL, true },
    { "qmp target, other socket", PTAP_CONSUMER_QMP, "/run/vm1.qmp", "", "",
      "qmp:/run/vm2.qmp", NULL, NULL, false },
    { "hmp target does not name a qmp consumer", PTAP_CONSUMER_QMP, "/run/vm1.qmp", "", "",
      "hmp:/run/vm1.qmp", NULL, NULL, false },
    { "hmp target matches a legacy hmp consumer", PTAP_CONSUMER_HMP_LEGACY, "/run/vm1.mon", "", "",
      "hmp:/run/vm1.mon", NULL, NULL, true },
    { "a bare path is no monitor target", PTAP_CONSUMER_QMP, "/run/vm1.qmp", "", "",
      "/run/vm1.qmp", NULL, NULL, false },
    { "domain name on the same connection", PTAP_CONSUMER_LIBVIRT, U1, "web1", "qemu:///system",
      "web1", NULL, "qemu:///system", true },
    { "same name, session guest vs system release", PTAP_CONSUMER_LIBVIRT, U1, "web1",
      "qemu:///session", "web1", NULL, "qemu:///system", false },
    { "transport and socket do not make another connection", PTAP_CONSUMER_LIBVIRT, U1, "web1",
      "qemu+unix:///system?socket=/tmp/x/libvirt-sock", "web1", NULL, "qemu:///system", true },
    { "another host is another connection", PTAP_CONSUMER_LIBVIRT, U1, "web1",
      "qemu+ssh://root@h2/system", "web1", NULL, "qemu:///system", false },
    { "UUID as the target", PTAP_CONSUMER_LIBVIRT, U1, "web1", "qemu:///system", U1, NULL,
      "qemu:///system", true },
    { "UUID compares without case", PTAP_CONSUMER_LIBVIRT, U1, "web1", "qemu:///system",
      "5F1E0F6E-0000-4000-8000-000000000001", NULL, "qemu:///system", true },
    { "with --uuid only the UUID counts: same name, other UUID", PTAP_CONSUMER_LIBVIRT, U2,
      "web1", "qemu:///system", "web1", U1, "qemu:///system", false },
    { "with --uuid the UUID matches whatever the name", PTAP_CONSUMER_LIBVIRT, U1, "renamed",
      "qemu:///system", "web1", U1, "qemu:///system", true },
    { "with --uuid, a session record of that UUID is not the system guest",
      PTAP_CONSUMER_LIBVIRT, U1, "web1", "qemu:///session", "web1", U1, "qemu:///system", false },
    { "a domain name never names a monitor consumer", PTAP_CONSUMER_QMP, "web1", "web1", "",
      "web1", NULL, NULL, false },
    { "a pool tap has no guest", PTAP_CONSUMER_NONE, "", "", "", "web1", NULL, NULL, false },
};

static void test_release_match_one(void **state)
{
    const match_row *t = *state;
    ptap_record rec = { .state = PTAP_STATE_ATTACHED };
    ptap_release_req req = { .target = t->target, .uuid = t->uuid, .uri = t->uri };

    rec.consumer.kind = t->kind;
    snprintf(rec.consumer.target, sizeof(rec.consumer.target), "%s", t->rec_target);
    snprintf(rec.consumer.name, sizeof(rec.consumer.name), "%s", t->rec_name);
    snprintf(rec.consumer.uri, sizeof(rec.consumer.uri), "%s", t->rec_uri);
    print_message("%s\n", t->what);
    assert_int_equal(ptap_release_matches(&rec, &req), t->match);
}

static void test_release_target_check(void **state)
{
    static const struct {
        const char *target;
        int rc;
    } cases[] = {
        { "web1", 0 }, { U1, 0 }, { "qmp:/run/vm1.qmp", 0 }, { "hmp:/run/vm1.mon", 0 },
        { "/run/vm1.qmp", -EINVAL }, { "qmp:vm1.qmp", -EINVAL }, { "", -EINVAL },
        { "a/b", -EINVAL },
    };
    const char *why;

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        why = NULL;
        assert_int_equal(ptap_release_target_check(cases[i].target, &why), cases[i].rc);
        if (cases[i].rc)
            assert_non_null(why);
    }
}

/* What a TARGET names, as attach, detach and release read it. */
static void test_target_kind(void **state)
{
    static const struct {
        const char *target;
        ptap_consumer_kind kind;
        const char *path;
    } cases[] = {
        { "qmp:/run/vm1.qmp", PTAP_CONSUMER_QMP, "/run/vm1.qmp" },
        { "hmp:/run/vm1.mon", PTAP_CONSUMER_HMP, "/run/vm1.mon" },
        { "qmp:", PTAP_CONSUMER_QMP, "" },
        { "web1", PTAP_CONSUMER_LIBVIRT, "web1" },
        { U1, PTAP_CONSUMER_LIBVIRT, U1 },
        { "qmpx:/run/a", PTAP_CONSUMER_LIBVIRT, "qmpx:/run/a" },
        { "QMP:/run/a", PTAP_CONSUMER_LIBVIRT, "QMP:/run/a" },
        { "qm", PTAP_CONSUMER_LIBVIRT, "qm" },
    };
    const char *path;

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        path = NULL;
        assert_int_equal(ptap_target_kind(cases[i].target, &path), cases[i].kind);
        assert_string_equal(path, cases[i].path);
        assert_int_equal(ptap_target_is_monitor(cases[i].target),
                         cases[i].kind != PTAP_CONSUMER_LIBVIRT);
    }
    assert_int_equal(ptap_target_kind("hmp:/x", NULL), PTAP_CONSUMER_HMP);
}

int main(void)
{
    struct CMUnitTest tests[ARRAY_SIZE(rows)];
    struct CMUnitTest ns[ARRAY_SIZE(ns_rows)];
    struct CMUnitTest match[ARRAY_SIZE(match_rows) + 2];
    int r;

    for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
        tests[i] = (struct CMUnitTest) { .name = rows[i].what, .test_func = test_decide_one,
                                         .initial_state = (void *) &rows[i] };
    for (size_t i = 0; i < ARRAY_SIZE(ns_rows); i++)
        ns[i] = (struct CMUnitTest) { .name = ns_rows[i].r.what, .test_func = test_decide_ns_one,
                                      .initial_state = (void *) &ns_rows[i] };
    for (size_t i = 0; i < ARRAY_SIZE(match_rows); i++)
        match[i] = (struct CMUnitTest) { .name = match_rows[i].what,
                                         .test_func = test_release_match_one,
                                         .initial_state = (void *) &match_rows[i] };
    match[ARRAY_SIZE(match_rows)] = (struct CMUnitTest) {
        .name = "release targets", .test_func = test_release_target_check };
    match[ARRAY_SIZE(match_rows) + 1] = (struct CMUnitTest) {
        .name = "target kinds", .test_func = test_target_kind };
    r = cmocka_run_group_tests_name("recover decision table", tests, NULL, NULL);
    r += cmocka_run_group_tests_name("recover decision table, network namespaces", ns, NULL, NULL);
    return r + cmocka_run_group_tests_name("release matching", match, NULL, NULL);
}
