/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * helperexec.h: run the privileged ptap-helper (argv only, never a shell)
 * and collect what it said. The helper is the only privileged code; this
 * side runs as its caller.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "link.h"

typedef struct ptap_helper_result {
    int status;      /* the helper's exit code (sysexits), or 128+signal */
    char **lines;    /* stdout, one entry per line (NULL-terminated) */
    size_t n_lines;
    char *errtext;   /* stderr, trailing newline stripped ("" if none) */
} ptap_helper_result;

/** ptap_helper_path: $PTAP_HELPER if set and non-empty, else the
 * build-time PTAP_HELPER_PATH. */
const char *ptap_helper_path(void);

/**
 * ptap_helper_run: run the helper with @argv (argv[0] is ignored and
 * replaced by the helper path; NULL-terminated) and wait for it.
 * @res is filled even when the helper fails (status != 0).
 * Returns 0 when the helper ran (whatever its exit code), or a negative
 * errno when it could not be started or read.
 */
int ptap_helper_run(char *const argv[], ptap_helper_result *res);

/** ptap_helper_result_clear: free what ptap_helper_run() filled in. */
void ptap_helper_result_clear(ptap_helper_result *res);

/* Parameters of a create, as both the helper and the journal see them. */
typedef struct ptap_create_spec {
    const char *name;     /* name or template ending in %d */
    unsigned count;       /* 1.. (count > 1 needs a template) */
    const char *owner;    /* user name or uid, NULL = caller */
    const char *group;    /* group name or gid, NULL = none */
    const char *bridge;   /* NULL = none */
    const char *network;  /* journal only: the libvirt network @bridge is of, NULL = none
                           * (the helper never hears of it) */
    unsigned mtu;         /* 0 = default */
    const char *mac;      /* NULL = kernel's choice */
    bool multi_queue;
    bool vnet_hdr;
    const char *tag;      /* provenance tag (JOURNALID:OPID) */
    bool ephemeral;       /* journal only: made by attach, gone if attach never finishes */
    const char *attached_mac; /* helper only: the guest's MAC, for an Open vSwitch port's
                               * external_ids (NULL: unknown) */
    const char *vm_uuid;  /* helper only: the guest's UUID, likewise (NULL: unknown) */
} ptap_create_spec;

/**
 * ptap_helper_create: "ptap-helper create ..." for @spec.
 * Returns as ptap_helper_run(); on success res->lines are the names made.
 */
int ptap_helper_create(const ptap_create_spec *spec, ptap_helper_result *res);

/**
 * ptap_helper_restore: "ptap-helper restore [--bridge BRIDGE] -- NAME...":
 * the taps out of any link group, and back on @bridge (NULL: none).
 * Returns as ptap_helper_run().
 */
int ptap_helper_restore(char *const *names, size_t n, const char *bridge,
                        ptap_helper_result *res);

/**
 * ptap_helper_destroy: "ptap-helper destroy NAME..." (one batch).
 * @names: @n names. Returns as ptap_helper_run().
 */
int ptap_helper_destroy(char *const *names, size_t n, ptap_helper_result *res);

/**
 * ptap_helper_ovs_list: "ptap-helper ovs-list": the Open vSwitch bridges
 * and the ports carrying this user's marks (root: every mark), as lines
 * "bridge NAME" and "port NAME BRIDGE|- MARK". Returns as ptap_helper_run().
 */
int ptap_helper_ovs_list(ptap_helper_result *res);

/**
 * ptap_helper_ovs_forget: "ptap-helper ovs-forget -- NAME...": delete the
 * Open vSwitch port rows of @names that carry this user's mark and whose
 * tap is gone. Returns as ptap_helper_run(); res->lines name the rows gone.
 */
int ptap_helper_ovs_forget(char *const *names, size_t n, ptap_helper_result *res);

/**
 * ptap_helper_ovs_set: "ptap-helper ovs-set [--attached-mac MAC]
 * [--vm-uuid UUID] -- NAME": which guest the Open vSwitch port of tap
 * @name serves (@mac, @vm_uuid; NULL removes it). Returns as
 * ptap_helper_run().
 */
int ptap_helper_ovs_set(const char *name, const char *mac, const char *vm_uuid,
                        ptap_helper_result *res);

/**
 * ptap_helper_prestart_create: start the helper for @spec now, before the
 * caller reads its journal and writes its intent: it checks the request
 * meanwhile (ptap-helper --wait) and does nothing until the caller's
 * ptap_helper_create() of the same @spec (its tag aside: it goes with the
 * "go") in the same network namespace, within a second, tells it to go.
 * Any other helper run, or ptap_helper_prestart_drop(), lets it end
 * without doing anything; so does the caller's death. Best effort: on
 * failure nothing is started and the later run starts the helper itself.
 * Returns 0 or a negative errno.
 */
int ptap_helper_prestart_create(const ptap_create_spec *spec);

/** ptap_helper_prestart_destroy: likewise for ptap_helper_destroy(@names, @n);
 * with @view, the helper also says what it sees of them before it waits
 * (ptap_helper_prestart_view()). */
int ptap_helper_prestart_destroy(char *const *names, size_t n, bool view);

/**
 * ptap_helper_prestart_view: what the helper started early for a destroy
 * of @names (@n) with a view, in this network namespace, sees of them:
 * *@ret, *@n_ret links (to free with ptap_link_info_free()), those of
 * @names that are links, from the dump its checks use (so the caller need
 * not dump again); @names NULL: every link, from the helper started by
 * ptap_helper_prestart_destroy_later(). Waits for it (5 s at most). Once per early helper.
 * Returns 0; -ENOENT when there is no such helper or view; another
 * negative errno when its view did not come whole (that helper is then
 * not told to go: the later run starts another).
 */
int ptap_helper_prestart_view(char *const *names, size_t n, ptap_link_info **ret, size_t *n_ret);

/**
 * ptap_helper_prestart_destroy_later: likewise for the next
 * ptap_helper_destroy() of any names: the helper dumps the links now and
 * gets the names after its "go" (for a caller that learns them only from
 * its own look at the journal and the kernel: recover). With @view, the
 * helper also prints every link it dumped before it waits
 * (ptap_helper_prestart_view() with no names).
 */
int ptap_helper_prestart_destroy_later(bool view);

/** ptap_helper_prestart_drop: end a helper started early and not told to go
 * (it does nothing); no-op without one. */
void ptap_helper_prestart_drop(void);

