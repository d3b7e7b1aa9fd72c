/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The recovery decision table (src/lib/recover.c, docs/recovery.md):
 * record state x kernel x consumer -> action. One row per rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

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
} row;

static const row rows[] = {
    { "interrupted create rolls back", PTAP_STATE_CREATING, 0, false, false, false, 0,
      false, "rollback-create", PTAP_OUTCOME_CLOSE, true, false },
    { "interrupted destroy completes", PTAP_STATE_DESTROYING, 0, true, true, false, 0,
      false, "complete-destroy", PTAP_OUTCOME_CLOSE, false, false },
    { "interrupted destroy, tap already gone", PTAP_STATE_DESTROYING, 0, false, false, false, 0,
      false, "complete-destroy", PTAP_OUTCOME_CLOSE, false, false },
    { "ready tap present: nothing", PTAP_STATE_READY, 0, true, true, false, 0,
      false, NULL, PTAP_OUTCOME_KEEP, false, false },
    { "ready tap vanished: close", PTAP_STATE_READY, 0, false, false, false, 0,
      false, "close", PTAP_OUTCOME_CLOSE, false, false },
    { "ready name now someone else's device: close, never touch", PTAP_STATE_READY, 0, false, true,
      false, 0, false, "close", PTAP_OUTCOME_CLOSE, false, false },
    { "ready from a torn create outcome: roll back with the batch", PTAP_STATE_READY, 0, true, true,
      true, 0, false, "rollback-create", PTAP_OUTCOME_CLOSE, false, false },
    { "ready ephemeral (attach died before QEMU): remove", PTAP_STATE_READY, EPH, true, true, false,
      0, false, "rollback-attach", PTAP_OUTCOME_CLOSE, false, false },
    { "attached, guest has it: nothing", PTAP_STATE_ATTACHED, 0, true, true, false,
      PTAP_PROBE_PRESENT, true, NULL, PTAP_OUTCOME_KEEP, false, false },
    { "attached, guest gone: destroy", PTAP_STATE_ATTACHED, EPH, true, true, false, PTAP_PROBE_GONE,
      true, "consumer-gone", PTAP_OUTCOME_CLOSE, false, false },
    { "attached, device no longer listed: destroy", PTAP_STATE_ATTACHED, 0, true, true, false,
      PTAP_PROBE_ABSENT, true, "consumer-gone", PTAP_OUTCOME_CLOSE, false, false },
    { "attached, cannot tell: leave it", PTAP_STATE_ATTACHED, 0, true, true, false,
      PTAP_PROBE_UNKNOWN, true, NULL, PTAP_OUTCOME_KEEP, false, false },
    { "attached, tap vanished: close", PTAP_STATE_ATTACHED, 0, false, false, false, 0,
      false, "close", PTAP_OUTCOME_CLOSE, false, false },
    { "attaching, QEMU has the device: complete", PTAP_STATE_ATTACHING, EPH, true, true, false,
      PTAP_PROBE_PRESENT, true, "complete-attach", PTAP_OUTCOME_ATTACHED, false, false },
    { "attaching fresh tap, no device: roll back, destroy", PTAP_STATE_ATTACHING, EPH, true, true,
      false, PTAP_PROBE_ABSENT, true, "rollback-attach", PTAP_OUTCOME_CLOSE, false, true },
    { "attaching pool tap, no device: back to the pool", PTAP_STATE_ATTACHING, 0, true, true, false,
      PTAP_PROBE_ABSENT, true, "rollback-attach", PTAP_OUTCOME_READY, false, true },
    { "attaching, guest gone: destroy", PTAP_STATE_ATTACHING, 0, true, true, false, PTAP_PROBE_GONE,
      true, "consumer-gone", PTAP_OUTCOME_CLOSE, false, false },
    { "detaching, device still there: finish and destroy", PTAP_STATE_DETACHING, 0, true, true,
      false, PTAP_PROBE_PRESENT, true, "complete-detach", PTAP_OUTCOME_CLOSE, false, true },
    { "detaching --keep-tap, device gone: back to the pool", PTAP_STATE_DETACHING, KEEP, true, true,
      false, PTAP_PROBE_ABSENT, true, "complete-detach", PTAP_OUTCOME_READY, false, false },
    { "detaching, guest gone: destroy", PTAP_STATE_DETACHING, KEEP, true, true, false,
      PTAP_PROBE_GONE, true, "consumer-gone", PTAP_OUTCOME_CLOSE, false, false },
};

static void test_decide_one(void **state)
{
    const row *t = *state;
    ptap_record rec = { .state = t->state, .flags = t->flags };
    ptap_facts f = { .tap_ours = t->ours, .tap_exists = t->exists, .batch_open = t->batch_open,
                     .probe = t->probe };
    ptap_decision d;

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

int main(void)
{
    struct CMUnitTest tests[ARRAY_SIZE(rows)];

    for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
        tests[i] = (struct CMUnitTest) { .name = rows[i].what, .test_func = test_decide_one,
                                         .initial_state = (void *) &rows[i] };
    return cmocka_run_group_tests_name("recover decision table", tests, NULL, NULL);
}
