/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * netns.h: which network namespace a tap lives in, and how to get there.
 *
 * A namespace's identity is the device and inode of its nsfs file
 * (/proc/PID/ns/net, or a bind mount of it such as /run/netns/NAME): what
 * stat() says of it, stable while the namespace exists. Its name is that
 * of a /run/netns entry bound to it (`ip netns add NAME`), when it has one.
 * Every journal record carries both (journal.h, docs/journal.md).
 *
 * A namespace other than the caller's is found by its identity: the
 * entries of /run/netns, then the namespaces of the processes this process
 * may look at (/proc/PID/ns/net), then the namespace descriptors they hold
 * open (/proc/PID/fd/N). It is entered with setns(CLONE_NEWNET), which
 * needs CAP_SYS_ADMIN (root): a process that may not enter it cannot judge
 * its taps, and leaves their records alone.
 *
 * Known limits: an identity is reused by a namespace made after the old
 * one is gone (the kernel hands inode numbers out again); a record of the
 * old namespace is then judged in the new one, where its tap (found by its
 * mark, never by its name alone) is not: the record closes, as it would
 * have. A namespace that only a socket, a process of another pid
 * namespace, or a process root may not inspect (not dumpable, of another
 * user namespace) keeps alive is not found, and root takes it for gone:
 * its records close, its taps (if any are left) are never touched.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PTAP_NETNS_DIR "/run/netns"
#define PTAP_NETNS_NAME_MAX 64 /* a /run/netns name ptap records, with its NUL */
#define PTAP_NETNS_ID_MAX 48   /* "DEV:INO" with its NUL */

typedef struct ptap_netns {
    uint64_t dev;                   /* st_dev of its nsfs inode; 0: unknown (a record
                                     * written before ptap knew namespaces) */
    uint64_t ino;                   /* st_ino; 0 exactly when dev is 0 */
    char name[PTAP_NETNS_NAME_MAX]; /* its /run/netns name, "" if none (or too long) */
} ptap_netns;

/* How this process can reach a namespace (ptap_netns_locate()). */
typedef enum ptap_netns_where {
    PTAP_NETNS_HERE,      /* it is the namespace this process runs in */
    PTAP_NETNS_ENTERABLE, /* another one, that this process may enter */
    PTAP_NETNS_FORBIDDEN, /* another one, that this process may not enter */
    PTAP_NETNS_UNSEEN,    /* not found, but this process cannot look everywhere it
                           * could be (it may not enter namespaces, nor read other
                           * users' processes): it may exist */
    PTAP_NETNS_GONE,      /* no longer exists: no /run/netns entry, no process holds it */
} ptap_netns_where;

/** ptap_netns_known: does @ns name a namespace (not an old-format record's zero)? */
static inline bool ptap_netns_known(const ptap_netns *ns)
{
    return ns && ns->ino != 0;
}

/** ptap_netns_equal: same identity (two unknown identities are not equal). */
bool ptap_netns_equal(const ptap_netns *a, const ptap_netns *b);

/**
 * ptap_netns_self: the identity of the namespace this thread runs in, and
 * its /run/netns name if one is bound to it. Returns 0 or a negative errno.
 */
int ptap_netns_self(ptap_netns *ret);

/**
 * ptap_netns_of_pid: the namespace process @pid runs in (/proc/PID/ns/net:
 * this process's user's processes, or any for root), and its name.
 * Returns 0, or a negative errno (-EACCES: another user's process).
 */
int ptap_netns_of_pid(pid_t pid, ptap_netns *ret);

/**
 * ptap_netns_name_check: -EINVAL (with @why) unless @name can be a
 * /run/netns entry that ptap records: 1..PTAP_NETNS_NAME_MAX-1 bytes, no
 * '/', not "." or "..". Pure.
 */
int ptap_netns_name_check(const char *name, const char **why);

/** ptap_netns_format_id: "DEV:INO" of @ns into @buf (PTAP_NETNS_ID_MAX). */
void ptap_netns_format_id(const ptap_netns *ns, char *buf, size_t len);

/**
 * ptap_netns_describe: how messages name @ns: "'NAME'" when it has a
 * name, else "DEV:INO" ("the current one" for an unknown identity).
 */
void ptap_netns_describe(const ptap_netns *ns, char *buf, size_t len);

/**
 * ptap_netns_can_enter: may this process enter network namespaces at all
 * (setns(CLONE_NEWNET) into its own succeeds: CAP_SYS_ADMIN)? Asked of the
 * kernel once, then remembered.
 */
bool ptap_netns_can_enter(void);

/**
 * ptap_netns_locate: how this process (in @self) reaches namespace @ns.
 * An unknown @ns is @self (an old-format record: the namespace ptap runs
 * in). For ENTERABLE, *@fd is an open descriptor of it (close-on-exec;
 * the caller closes it), else -1. A name found for it in /run/netns is
 * written to @ns->name (that is where the namespace is now).
 * Returns the verdict (never fails: what cannot be looked at counts as
 * not seen).
 */
ptap_netns_where ptap_netns_locate(ptap_netns *ns, const ptap_netns *self, int *fd);

/**
 * ptap_netns_list: every namespace this process can enter, other than
 * @self: one entry each (identity, name, an open descriptor in @fds[i]).
 * Empty when it may not enter any. Free with ptap_netns_list_free().
 * Returns 0 or a negative errno.
 */
int ptap_netns_list(const ptap_netns *self, ptap_netns **ret, int **fds, size_t *n);

/** ptap_netns_list_free: close the descriptors and free both arrays. */
void ptap_netns_list_free(ptap_netns *v, int *fds, size_t n);

/**
 * ptap_netns_enter: switch this thread to the namespace of @fd, keeping a
 * descriptor of the one it leaves in *@saved (for ptap_netns_leave()).
 * Sockets opened afterwards, and programs spawned (the helper), live in
 * the new namespace. @fd < 0 is a no-op (*@saved = -1).
 * Returns 0 or a negative errno (-EPERM without CAP_SYS_ADMIN).
 */
int ptap_netns_enter(int fd, int *saved);

/**
 * ptap_netns_leave: back to the namespace ptap_netns_enter() left, and
 * close *@saved (set to -1). No-op when *@saved < 0. Returns 0 or a
 * negative errno: then this thread is still in the entered namespace, and
 * the caller must stop.
 */
int ptap_netns_leave(int *saved);

/**
 * ptap_netns_lost: has a ptap_netns_leave() failed in this process? Then
 * this thread is not where it thinks it is: nothing may be acted on any
 * more (the destroy path refuses, -EIO), the process must finish.
 */
bool ptap_netns_lost(void);

/* ptap_netns_leavep: for _cleanup_(ptap_netns_leavep) int saved = -1; */
static inline void ptap_netns_leavep(int *saved)
{
    (void) ptap_netns_leave(saved);
}

/* ---- which namespace judges a record, pure (tests/unit/test_netns.c) ---- */

typedef enum ptap_netns_judge {
    PTAP_NETNS_JUDGE_HERE,  /* judge it in this process's namespace */
    PTAP_NETNS_JUDGE_ENTER, /* enter its namespace, judge and act there */
    PTAP_NETNS_JUDGE_LEAVE, /* it cannot be judged from here: leave it, say so */
    PTAP_NETNS_JUDGE_GONE,  /* its namespace is gone, and its taps with it */
} ptap_netns_judge;

/**
 * ptap_netns_judge_record: where a record of namespace @rec is judged, by
 * a process in @self that reaches it as @where (ptap_netns_locate()). An
 * unknown @rec (an old-format record) is judged here. Pure.
 */
ptap_netns_judge ptap_netns_judge_record(const ptap_netns *rec, const ptap_netns *self,
                                         ptap_netns_where where);

/** ptap_netns_judge_to_string: "here", "enter", "leave", "gone". */
const char *ptap_netns_judge_to_string(ptap_netns_judge j);
