/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kview.h: the kernel's side of the picture, as the ptap command needs it
 * for list, recover and forget: one rtnetlink dump (link.c), indexed by
 * name, with each device's ptap mark already split into journal and
 * operation ids.
 *
 * A view is of one network namespace. A journal's records may live in
 * several (root's /run/ptap is shared by every namespace): ptap_kviews
 * holds one view per namespace, each loaded in its own namespace (entered
 * with setns where this process may), so that every record is judged in
 * the namespace of its tap, never in another (netns.h).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <net/if.h>

#include "error.h"
#include "journal.h"
#include "mark.h"
#include "netns.h"
#include "proc.h"

typedef struct ptap_kdev {
    char name[IFNAMSIZ];
    int ifindex;
    bool is_tap;
    bool marked;                         /* carries a ptap mark */
    long long maker;                     /* uid the mark names, -1 if none (0.1 mark) */
    char journal[PTAP_JOURNAL_ID_LEN + 1]; /* from the mark, "" if none */
    char op[PTAP_RECORD_ID_MAX];         /* from the mark, "" if none */
    long long owner;                     /* tun owner uid, -1 if none */
    long long group;                     /* tun group gid, -1 if none */
    char bridge[IFNAMSIZ];               /* master's name, "" if none */
    unsigned mtu;
    bool carrier;
    bool up;
    bool multi_queue;
    bool vnet_hdr;
    unsigned queues;                     /* multi-queue: queues attached (enabled or not) */
    unsigned link_group;                 /* IFLA_GROUP: not 0 inside a deletion group */
    bool is_bridge;                      /* a Linux bridge */
} ptap_kdev;

typedef struct ptap_kview {
    ptap_kdev *devs;
    size_t n;
} ptap_kview;

/** ptap_kview_load: dump every link of the current network namespace.
 * Returns 0 or a negative errno. */
int ptap_kview_load(ptap_kview *kv);

/* Above this many names, one dump is cheaper than a lookup per name. */
#define PTAP_KVIEW_NAMES_MAX 32

/**
 * ptap_kview_load_names: the view restricted to the devices named in
 * @names (missing ones are simply absent): one RTM_GETLINK per name when
 * there are few, else a full dump. Bridge names are not filled in.
 * Returns 0 or a negative errno.
 */
int ptap_kview_load_names(ptap_kview *kv, char *const *names, size_t n);

/** ptap_kview_clear: free what ptap_kview_load() allocated. */
void ptap_kview_clear(ptap_kview *kv);

/** ptap_kview_find_index: the device with ifindex @ifindex, or NULL. */
const ptap_kdev *ptap_kview_find_index(const ptap_kview *kv, int ifindex);

/**
 * ptap_kdev_held: does a process hold a queue of tap @d (QEMU, libvirt, a
 * user's program)? From the kernel: a multi-queue tap's queue count
 * (IFLA_TUN_NUM_QUEUES and NUM_DISABLED_QUEUES), a single-queue tap's
 * carrier (on exactly while a descriptor is attached); so it sees every
 * holder, of every user.
 */
bool ptap_kdev_held(const ptap_kdev *d);

/* Who holds a tap, as this process can tell (ptap_kdev_holder()). */
typedef enum ptap_holder_kind {
    PTAP_HOLDER_NONE,     /* nobody: the tap is free */
    PTAP_HOLDER_LIBVIRT,  /* the QEMU of a libvirt domain (its libvirtd's pid file says so) */
    PTAP_HOLDER_PROCESS,  /* another process: a QEMU started by hand, a user's program */
    PTAP_HOLDER_UNSEEN,   /* held (the kernel says so), by a process this one cannot see:
                           * another user's, for a caller that is not root */
} ptap_holder_kind;

typedef struct ptap_holder {
    ptap_holder_kind kind;
    pid_t pid;                          /* LIBVIRT, PROCESS: the holder */
    uid_t uid;                          /* its effective uid */
    char command[32];                   /* its command name (/proc/PID/comm) */
    char domain[PTAP_PROC_DOMAIN_MAX];  /* LIBVIRT: the domain's name, */
    char uuid[PTAP_PROC_UUID_MAX];      /* its UUID ("" if QEMU was given none), */
    char uri[PTAP_PROC_URI_MAX];        /* and the connection of its libvirtd */
} ptap_holder;

/* Room for ptap_holder_describe()'s text. */
#define PTAP_HOLDER_DESCRIBE_MAX (PTAP_PROC_DOMAIN_MAX + 160)

/**
 * ptap_kdev_holder: who holds tap @d, a device of network namespace @ns
 * (NULL or unknown: any). Free (kind NONE) unless ptap_kdev_held(); then
 * the process /proc names (ptap_proc_tap_holders(), in the namespace it
 * names the tap in), a libvirt domain's QEMU preferred over any other
 * holder (libvirtd itself holds the tap while it hands it over), else
 * UNSEEN. /proc is scanned once and the answer kept for about a second,
 * so that a list of many taps costs one scan (ptap_holders_flush()).
 */
void ptap_kdev_holder(const ptap_kdev *d, const ptap_netns *ns, ptap_holder *ret);

/** ptap_holders_flush: forget the holders ptap_kdev_holder() last saw. */
void ptap_holders_flush(void);

/** ptap_holder_kind_to_string: "libvirt", "process", "unknown" (UNSEEN), "none". */
const char *ptap_holder_kind_to_string(ptap_holder_kind k);

/**
 * ptap_holder_describe: @h for messages, into @buf (@len bytes,
 * PTAP_HOLDER_DESCRIBE_MAX is enough): "libvirt domain 'NAME' (UUID UUID
 * on qemu:///system, QEMU pid N)", "pid N (COMM, uid U)", "a process of
 * another user" (UNSEEN, not root) or "a process ptap cannot see" (root:
 * one of another pid namespace).
 */
void ptap_holder_describe(const ptap_holder *h, char *buf, size_t len);

/**
 * ptap_kdev_describe_holder: ptap_holder_describe() of the holder of tap
 * @name (a device of namespace @ns, NULL: any), looked up by name.
 */
void ptap_kdev_describe_holder(const char *name, const ptap_netns *ns, char *buf, size_t len);

/** ptap_kview_find: the device called @name, or NULL. */
const ptap_kdev *ptap_kview_find(const ptap_kview *kv, const char *name);

/**
 * ptap_kdev_ours: true when @d is a tap whose mark says this process's user
 * made it for journal @jid (the journal belongs to its state directory's
 * owner, who is this process's effective user).
 */
bool ptap_kdev_ours(const ptap_kdev *d, const char *jid);

/**
 * ptap_kdev_is_record: @d is the tap record @rec describes: ours
 * (ptap_kdev_ours()) and with the kernel owner the record names. A tap of
 * the same name that fails this is somebody else's, whatever its name.
 */
bool ptap_kdev_is_record(const ptap_kdev *d, const char *jid, const ptap_record *rec);

/* ---- one view per namespace ---- */

/** The kernel as seen from one network namespace. */
typedef struct ptap_nsview {
    ptap_netns ns;           /* its identity, and its /run/netns name now */
    ptap_netns_where where;  /* how this process reaches it */
    ptap_netns_judge judge;  /* HERE or ENTER: kv is its devices; LEAVE; GONE */
    int fd;                  /* an open descriptor of it (ENTER), else -1 */
    int load_error;          /* the dump there failed (negative errno): judge is LEAVE */
    bool of_records;         /* this process's, or asked for by ptap_kviews_of(): where
                              * orphans are looked for (not every namespace seen) */
    ptap_kview kv;
} ptap_nsview;

typedef struct ptap_kviews {
    ptap_netns self;         /* the namespace this process runs in */
    ptap_nsview **v;         /* v[0] is self's; pointers stay valid as views are added */
    size_t n, cap;
    char *const *names;      /* load only these devices (NULL: every link) */
    size_t n_names;
    bool all;                /* every namespace this process may enter has a view */
} ptap_kviews;

/**
 * ptap_kviews_init: the view of this process's own namespace, loaded (a
 * full dump, or only the @n_names devices in @names: see
 * ptap_kview_load_names(); @names must outlive @w). Returns 0 or a
 * negative errno with @err filled in.
 */
int ptap_kviews_init(ptap_kviews *w, char *const *names, size_t n_names, ptap_error *err);

/** ptap_kviews_clear: close and free every view. */
void ptap_kviews_clear(ptap_kviews *w);

/**
 * ptap_kviews_get: the view of namespace @ns (an unknown identity is this
 * process's: an old-format record), located and loaded on first use. A
 * namespace this process may not enter, or cannot find, gets a view whose
 * judge says so (LEAVE or GONE) and holds no devices.
 * Returns the view, or NULL when out of memory.
 */
ptap_nsview *ptap_kviews_get(ptap_kviews *w, const ptap_netns *ns);

/** ptap_kviews_of: ptap_kviews_get() for the namespace of record @rec;
 * marks the view of_records. */
ptap_nsview *ptap_kviews_of(ptap_kviews *w, const ptap_record *rec);

/**
 * ptap_kviews_find_moved: record @rec's tap is not in its own namespace:
 * is it in another this process can see (moved there with `ip link set
 * dev T netns B`)? Looked up by name, else (with full views) by the
 * record's ifindex; taken only when it is the record's tap by its mark
 * (ptap_kdev_is_record() for journal @jid, and the batch the record was
 * made by). Adds a view of every namespace this process may enter, once.
 * Returns the device and sets *@where to its view, or NULL.
 */
const ptap_kdev *ptap_kviews_find_moved(ptap_kviews *w, const ptap_record *rec, const char *jid,
                                        ptap_nsview **where);

/**
 * ptap_nsview_describe: "network namespace 'NAME'" (or its identity) for
 * messages, into @buf.
 */
void ptap_nsview_describe(const ptap_nsview *v, char *buf, size_t len);

#define PTAP_NSVIEW_WHY_MAX 320

/**
 * ptap_nsview_why: why the records of @v (judge LEAVE) cannot be judged,
 * for messages: "it is in network namespace 'A', which this process
 * cannot enter (...)", into @buf (PTAP_NSVIEW_WHY_MAX).
 */
void ptap_nsview_why(const ptap_nsview *v, char *buf, size_t len);

/**
 * ptap_nsview_enter: make this thread's namespace @v's (no-op for HERE).
 * *@saved as for ptap_netns_enter(). Returns 0 or a negative errno.
 */
int ptap_nsview_enter(const ptap_nsview *v, int *saved);

/**
 * ptap_kview_load_in: ptap_kview_load() (all links, @names NULL) or
 * ptap_kview_load_names() run inside the namespace of @fd (-1: here).
 * Returns 0 or a negative errno.
 */
int ptap_kview_load_in(ptap_kview *kv, int fd, char *const *names, size_t n);

/* ---- Open vSwitch, as ptap-helper reads it for this user ---- */

/* A port that carries a ptap mark of this user's (root: anyone's). */
typedef struct ptap_ovsport {
    char name[IFNAMSIZ];
    char bridge[IFNAMSIZ];  /* "" when no bridge holds it */
    ptap_mark mark;
} ptap_ovsport;

/* The Open vSwitch bridges, and the marked ports (ptap-helper ovs-list:
 * the database's socket is root's). */
typedef struct ptap_ovsview {
    bool known;             /* the helper answered: the lists are the database's */
    char (*bridges)[IFNAMSIZ];
    size_t n_bridges;
    ptap_ovsport *ports;
    size_t n_ports;
} ptap_ovsview;

/**
 * ptap_ovsview_load: ask the helper (ovs-list). No Open vSwitch is an
 * empty, known view; a helper that cannot tell (no database access, an
 * older helper) leaves @ov unknown and empty: callers then judge as before
 * Open vSwitch. Returns 0, or -ENOMEM.
 */
int ptap_ovsview_load(ptap_ovsview *ov);

/** ptap_ovsview_clear: free what ptap_ovsview_load() filled in. */
void ptap_ovsview_clear(ptap_ovsview *ov);

/** ptap_ovsview_is_bridge: is @name an Open vSwitch bridge of @ov? */
bool ptap_ovsview_is_bridge(const ptap_ovsview *ov, const char *name);

/** ptap_ovsview_port: the marked port called @name, or NULL. */
const ptap_ovsport *ptap_ovsview_port(const ptap_ovsview *ov, const char *name);

/**
 * ptap_ovsport_is_dev: does port @p belong to tap @d: same name, and its
 * mark names the same maker, journal and operation as @d's?
 */
bool ptap_ovsport_is_dev(const ptap_ovsport *p, const ptap_kdev *d);

/**
 * ptap_kview_maybe_ovs: might @bridge (a record's) be an Open vSwitch
 * bridge, as the kernel of @kv shows it: a device of that name that is not
 * a Linux bridge (an OVS bridge's internal port)? Only then is the helper
 * asked (ptap_ovsview_load()): a host without Open vSwitch pays nothing.
 */
bool ptap_kview_maybe_ovs(const ptap_kview *kv, const char *bridge);
