/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * journal.h: the crash-safe, append-only XML journal of ptap's taps.
 *
 * One journal per state directory (/run/ptap for root,
 * $XDG_RUNTIME_DIR/ptap otherwise). Every change to the world is
 * preceded by an intent record made durable (write + fdatasync) and
 * followed by an outcome record. Replay folds records into the live state;
 * a torn last record is dropped. See docs/journal.md and docs/journal.rng.
 *
 * Records describe taps (keyed by tap name) and create batches (keyed by
 * batch id: a template create whose names the kernel has not yet chosen).
 * Each record carries the whole current picture of its object, so the
 * fold is "last record per key wins"; state DESTROYED closes a key.
 * A record is a batch record when its count is > 0 or its name is a
 * template ("ptap%d"): its key is its batch id (its op id when batch is
 * ""). Every other record is a tap record keyed by its name.
 *
 * Errors: every function returns -errno; one that can fail for a reason
 * worth telling (a damaged journal, a refused directory) takes a
 * ptap_error * (NULL allowed) and fills it with a message naming the
 * file, line and reason (error.h).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <net/if.h>

#include "error.h"
#include "mark.h" /* PTAP_JOURNAL_ID_LEN, PTAP_RECORD_ID_MAX: what a tap's mark carries */
#include "netns.h"
#include "util.h"
#include "validate.h"

#define PTAP_JOURNAL_VERSION 2  /* the on-disk format this code writes: every line checksummed */
#define PTAP_JOURNAL_VERSION_MIN 1 /* the oldest it reads (no checksums; converted by a writer) */
/* seq and operation numbers stay at or below this (2^63 - 1): the counter
 * is refused before it could wrap (-EOVERFLOW on append). */
#define PTAP_JOURNAL_SEQ_MAX ((uint64_t) INT64_MAX)
#define PTAP_CONSUMER_TARGET_MAX 256
/* A libvirt network's name as ptap records it (validate, never truncate:
 * a longer name is refused). */
#define PTAP_NETWORK_NAME_MAX 128

typedef enum ptap_state {
    PTAP_STATE_CREATING,   /* intent: the helper may have made it */
    PTAP_STATE_READY,      /* exists, in the pool, no consumer */
    PTAP_STATE_ATTACHING,  /* intent: hot-adding to a guest */
    PTAP_STATE_ATTACHED,   /* a guest's NIC uses it */
    PTAP_STATE_DETACHING,  /* intent: hot-removing from a guest */
    PTAP_STATE_DESTROYING, /* intent: the helper may have removed it */
    PTAP_STATE_DESTROYED,  /* closed: no longer live */
    PTAP_STATE__MAX,
} ptap_state;

typedef enum ptap_consumer_kind {
    PTAP_CONSUMER_NONE,
    PTAP_CONSUMER_QMP,     /* target = QMP socket path */
    PTAP_CONSUMER_HMP,     /* target = HMP socket path (new dialect) */
    PTAP_CONSUMER_HMP_LEGACY, /* target = HMP socket path, host_net_add/pci_add */
    PTAP_CONSUMER_LIBVIRT, /* target = domain UUID, uri = connection URI */
    PTAP_CONSUMER__MAX,
} ptap_consumer_kind;

/* Tap flags as recorded (mirror what the helper was asked for). */
#define PTAP_TAP_MULTI_QUEUE (1u << 0)
#define PTAP_TAP_VNET_HDR (1u << 1)
/* Bookkeeping flags (not tap properties): */
#define PTAP_TAP_EPHEMERAL (1u << 2) /* made by attach: destroyed on detach/rollback */
#define PTAP_TAP_KEEP (1u << 3)      /* DETACHING with --keep-tap: back to READY */
#define PTAP_TAP__ALL (PTAP_TAP_MULTI_QUEUE | PTAP_TAP_VNET_HDR | PTAP_TAP_EPHEMERAL | PTAP_TAP_KEEP)

typedef struct ptap_consumer {
    ptap_consumer_kind kind;
    char target[PTAP_CONSUMER_TARGET_MAX];  /* socket path or domain UUID */
    char name[PTAP_CONSUMER_TARGET_MAX];    /* domain name (libvirt), informative */
    char uri[PTAP_CONSUMER_TARGET_MAX];     /* libvirt connection URI, or "" */
    char method[16];                        /* "device" or "monitor" (libvirt) */
    pid_t pid;                              /* QEMU pid, 0 if unknown */
    uint64_t pid_start;                     /* /proc/PID/stat starttime, 0 if unknown */
    char netdev_id[PTAP_QEMU_ID_MAX];       /* QEMU netdev (or host_net) id */
    char device_id[PTAP_QEMU_ID_MAX];       /* QEMU device id ("" for legacy) */
    char model[32];                         /* virtio-net-pci, e1000, rtl8139 */
    char mac[PTAP_MAC_STRLEN];              /* the guest NIC's MAC */
    char pci_addr[32];                      /* legacy pci_add slot, e.g. "0:5" */
    char bus[PTAP_QEMU_ID_MAX];             /* the bus the NIC was plugged into (attach
                                             * --bus, or the pcie-root-port ptap picked),
                                             * "" = QEMU's or libvirt's placement */
    unsigned vlan;                          /* legacy hub/vlan number */
    unsigned queues;                        /* 0/1 = single queue */
} ptap_consumer;

typedef struct ptap_record {
    uint64_t seq;                 /* assigned by ptap_journal_append */
    char id[PTAP_RECORD_ID_MAX];  /* operation id: ties intent, mark, outcome */
    char name[IFNAMSIZ];          /* tap name, or template while CREATING */
    char batch[PTAP_RECORD_ID_MAX]; /* create batch that made it, or "" */
    unsigned count;               /* batch size while CREATING a template */
    int ifindex;                  /* 0 if unknown */
    uid_t owner;
    gid_t group;                  /* (gid_t) -1: none */
    char bridge[IFNAMSIZ];        /* "" = no bridge */
    char network[PTAP_NETWORK_NAME_MAX]; /* libvirt network the bridge was asked of
                                   * (create/attach --network), "" = none; informative:
                                   * the bridge is what counts */
    char mac[PTAP_MAC_STRLEN];    /* "" = kernel's choice */
    unsigned mtu;                 /* 0 = default */
    unsigned flags;               /* PTAP_TAP_* */
    ptap_state state;
    ptap_consumer consumer;       /* kind NONE unless attaching/attached/detaching;
                                   * with kind NONE the rest is cleared on append */
    time_t created;               /* first record of this tap */
    time_t updated;               /* this record */
    ptap_netns netns;             /* the network namespace the tap lives in (identity
                                   * and /run/netns name); zero in a record written
                                   * before ptap knew namespaces: taken as the one
                                   * ptap runs in (docs/recovery.md) */
} ptap_record;

typedef struct ptap_journal ptap_journal;

/* ptap_journal_open() flags */
#define PTAP_JOURNAL_READONLY (1u << 0) /* shared lock, no writes */
#define PTAP_JOURNAL_CREATE (1u << 1)   /* create dir (0700) and file if missing */
#define PTAP_JOURNAL_NONBLOCK (1u << 2) /* -EWOULDBLOCK instead of waiting for the lock */

/* How ptap_journal_open_wait() waits for the lock. */
typedef struct ptap_journal_wait {
    unsigned timeout_ms;  /* give up after this long (-EWOULDBLOCK naming the holder); 0: do not wait */
    unsigned notice_ms;   /* after this long, call @notice once (0: at the first refusal) */
    /* Told who holds the lock (@holder: "pid 1234 (ptap create ...)"): the
     * caller says so to its user. May be NULL. */
    void (*notice)(const char *path, const char *holder, void *userdata);
    void *userdata;
} ptap_journal_wait;

/**
 * ptap_journal_open: open (and replay) the journal in @dir.
 * Takes an exclusive lock (shared with READONLY) that waits for other
 * ptap processes: writers queue, never interleave. The lock is held until
 * ptap_journal_close(). Refuses a directory or journal that is a symlink,
 * owned by another user or writable by group/others (-EPERM), a journal
 * whose complete records do not parse or fail their checksum (-EBADMSG)
 * and one of an unknown format version (-EPROTONOSUPPORT). A torn last
 * record is dropped (and truncated away when opened for writing); a last
 * record that is whole but for a damaged newline is damage, not a torn
 * record. Opened for writing, a version 1 journal is converted (compacted)
 * to the current version at once; the space reserve is made or resized. A missing journal is -ENOENT
 * unless PTAP_JOURNAL_CREATE (READONLY never creates the journal file).
 * @err (may be NULL) says why, when there is more to say than the errno
 * ("journal '/run/ptap/journal.xml' line 7: ...").
 * Returns 0 and sets *@ret, or a negative errno.
 */
int ptap_journal_open(const char *dir, unsigned flags, ptap_journal **ret, ptap_error *err);

/**
 * ptap_journal_open_wait: ptap_journal_open() that waits for the lock at
 * most @wait->timeout_ms, telling @wait->notice who holds it once
 * @wait->notice_ms have passed; then -EWOULDBLOCK with @err naming the
 * journal and the holder (pid and command line, from /proc/locks). A NULL
 * @wait waits as long as it takes (ptap_journal_open()).
 * A READONLY open of a directory where the lock file cannot be created
 * (a read-only mount) reads without the lock: see docs/journal.md.
 * Returns as ptap_journal_open().
 */
int ptap_journal_open_wait(const char *dir, unsigned flags, const ptap_journal_wait *wait,
                           ptap_journal **ret, ptap_error *err);

/** ptap_journal_close: release the lock and free. NULL is a no-op. */
void ptap_journal_close(ptap_journal *j);

/*
 * What the journal file of a state directory is (which file, its size and
 * time) at a moment before a command takes the lock: every ptap command
 * that changes the kernel writes the journal while it holds the lock, so
 * a journal unchanged from that moment to the lock says that nothing ptap
 * did in between is missing from a look at the kernel taken meanwhile (the
 * early helper's view).
 */
typedef struct ptap_journal_stamp {
    bool exists; /* the file was there (and could be looked at) */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} ptap_journal_stamp;

/** ptap_journal_stamp_take: the stamp of @dir's journal now (none, which
 * nothing matches, when there is no file or it cannot be looked at). */
void ptap_journal_stamp_take(const char *dir, ptap_journal_stamp *s);

/** ptap_journal_changed_since: did @j's file change between @s and the
 * moment @j took its lock? (Yes when either has no file.) */
bool ptap_journal_changed_since(const ptap_journal *j, const ptap_journal_stamp *s);

/* ptap_journal_closep: for _cleanup_(ptap_journal_closep) ptap_journal *j = NULL. */
DEFINE_TRIVIAL_CLEANUP_FUNC(ptap_journal *, ptap_journal_close)

/**
 * ptap_journal_load_buffer: replay a journal held in memory (@len bytes,
 * the bytes of a journal.xml) into a read-only journal handle with no
 * file and no lock: for tests, fuzzing and `ptap journal dump FILE`.
 * Same rules and errors as ptap_journal_open(). append/compact on the
 * result return -EBADF. @err (may be NULL) as for ptap_journal_open().
 * Returns 0 and sets *@ret, or a negative errno.
 */
int ptap_journal_load_buffer(const char *buf, size_t len, ptap_journal **ret, ptap_error *err);

/** ptap_journal_id: this journal's identity (PTAP_JOURNAL_ID_LEN hex chars),
 * carried in the provenance mark of every tap it creates. */
const char *ptap_journal_id(const ptap_journal *j);

/** ptap_journal_path: the journal file's path. */
const char *ptap_journal_path(const ptap_journal *j);

/** ptap_journal_version: the format version of the file as it was read
 * (1: no checksums, converted by the first writer; 2: checksummed). */
int ptap_journal_version(const ptap_journal *j);

/**
 * ptap_journal_use_reserve: let every later append of this handle spend
 * the state directory's space reserve when the file system is full (the
 * reserve is kept for recovery: ptap_recover() calls this). Without it,
 * only compactions and appends that only close create intents (a failed
 * create closing its own) may spend it. See docs/journal.md, "Running out
 * of space".
 */
void ptap_journal_use_reserve(ptap_journal *j);

/**
 * ptap_journal_new_id: a fresh operation id, unique in this journal:
 * "op" + a sequence number reserved for it (later records get higher
 * seqs, and compaction carries the counter over, so an id is never
 * handed out twice by one journal). Written to @buf (PTAP_RECORD_ID_MAX).
 * Replay sets the counter past every "op<N>" on record, so even a header
 * whose next-seq was lowered hands out no id that a record carries. Once
 * the counter passed PTAP_JOURNAL_SEQ_MAX it no longer moves: the id
 * repeats, and the append that would use it fails with -EOVERFLOW.
 */
void ptap_journal_new_id(ptap_journal *j, char buf[PTAP_RECORD_ID_MAX]);

/**
 * ptap_journal_append: append @n records in one write and make them
 * durable (fdatasync) before returning. Sets each record's seq and
 * updated time (created is kept, or set for a new key). Cost does not
 * depend on the number of records on file. May compact first when the
 * log has grown well past the live state.
 * Every record is checked first (names, MAC, ids, UTF-8 text without
 * control characters, known state/kind/flags): one bad record fails the
 * whole call with -EINVAL and nothing is written. -EBADF on a read-only
 * journal; after a failed write or sync the handle refuses further
 * appends (-EIO): close and reopen it. @err (may be NULL) says which
 * record is bad, or what the write or a compaction ran into. -ENOSPC when
 * the file system is full (see ptap_journal_use_reserve()); -EOVERFLOW
 * when the seq counter would pass PTAP_JOURNAL_SEQ_MAX.
 * Returns 0 or a negative errno (nothing half-written is left valid).
 */
int ptap_journal_append(ptap_journal *j, ptap_record *recs, size_t n, ptap_error *err);

/** ptap_journal_log_records: records in the journal file (live or not):
 * what auto-compaction compares with ptap_journal_count(). */
size_t ptap_journal_log_records(const ptap_journal *j);

/** ptap_journal_count: number of live records (not DESTROYED). */
size_t ptap_journal_count(const ptap_journal *j);

/**
 * ptap_journal_get: the live record at index @i (0..count-1), in a stable
 * order (by creation). Valid until the next append/compact/close.
 */
const ptap_record *ptap_journal_get(const ptap_journal *j, size_t i);

/** ptap_journal_find: the live record for tap @name, or else the first
 * live batch record (in creation order) whose name is @name, or NULL.
 * O(1) for taps; batch records are searched linearly (there are few). */
const ptap_record *ptap_journal_find(const ptap_journal *j, const char *name);

/** ptap_journal_find_batch: the live batch record of batch @batch, or NULL. */
const ptap_record *ptap_journal_find_batch(const ptap_journal *j, const char *batch);

/**
 * ptap_journal_compact: rewrite the journal as a snapshot of the live
 * state: temp file, fsync, rename, fsync of the directory. Crash-safe at
 * every step (the old journal stays valid until the rename). The live
 * records are written in creation order and renumbered seq 1..count;
 * the header carries the seq counter on. -EBADF on a read-only journal.
 * @err (may be NULL) says which step failed. Returns 0 or a negative errno.
 */
int ptap_journal_compact(ptap_journal *j, ptap_error *err);

/**
 * ptap_journal_validate_file: check a journal file against the RelaxNG
 * schema (@schema_path) and the semantic rules (ordered seq, known
 * states); a NULL @schema_path checks the rules only. @err (may be NULL)
 * says why it is not valid. @torn (may be NULL) is set to the bytes of a
 * torn last record that replay drops (0 if none): the file is still valid.
 * The file is read without the journal lock. Returns 0 if valid, -EBADMSG
 * if not, -EPROTONOSUPPORT for an unknown version, another negative errno
 * on I/O error.
 */
int ptap_journal_validate_file(const char *path, const char *schema_path, size_t *torn,
                               ptap_error *err);

/** ptap_state_to_string / ptap_state_from_string: "creating", "ready", ... */
const char *ptap_state_to_string(ptap_state s);
int ptap_state_from_string(const char *s); /* state or -EINVAL */

const char *ptap_consumer_kind_to_string(ptap_consumer_kind k); /* "qmp","hmp","hmp-legacy","libvirt","none" */
int ptap_consumer_kind_from_string(const char *s);

/**
 * ptap_journal_default_dir: /run/ptap for uid 0, $XDG_RUNTIME_DIR/ptap
 * otherwise (-ENOENT if XDG_RUNTIME_DIR is unset or not absolute).
 * Writes to @buf; -ENAMETOOLONG if it does not fit.
 */
int ptap_journal_default_dir(char *buf, size_t len);
