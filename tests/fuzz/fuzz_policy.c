/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the policy parser and the decision function.
 * Names resolve through a fixed table (no NSS in the loop). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy.h"

static int fake_user(const char *name, uid_t *ret, void *userdata)
{
    if (strcmp(name, "alice") == 0) {
        *ret = 1001;
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
    return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ptap_policy_resolver res = { fake_user, fake_group, NULL };
    static const gid_t groups[] = { 100, 108 };
    ptap_policy *p = NULL;
    ptap_error err = { 0 };
    int r;

    r = ptap_policy_parse((const char *) data, size, "fuzz.conf", &res, &p, &err);
    if (r < 0) {
        if (p || strnlen(err.msg, sizeof(err.msg)) == sizeof(err.msg) ||
            strncmp(err.msg, "fuzz.conf", 9) != 0 || err.code != r)
            __builtin_trap();
        return 0;
    }
    for (int b = 0; b < 3; b++) {
        static const char *const bridges[] = { NULL, "br0", "brx" };
        ptap_policy_request req = { .uid = 1001, .groups = groups, .n_groups = 2,
                                    .bridge = bridges[b], .owned = 1, .count = 1 };

        const ptap_policy_rule *rule = NULL;
        ptap_error why = { 0 };

        r = ptap_policy_decide(p, &req, &rule, &why);
        if (r != 0 && r != -EACCES && r != -EDQUOT)
            __builtin_trap();
        /* Allowed: by a rule of this policy; refused: with a reason. */
        if (r == 0 ? !rule || rule < p->rules || rule >= p->rules + p->n_rules
                   : why.code != r || !why.msg[0])
            __builtin_trap();
    }
    ptap_policy_free(p);
    return 0;
}
