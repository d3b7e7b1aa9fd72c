/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kview.h: the kernel's side of the picture, as the ptap command needs it
 * for list, recover and forget: one rtnetlink dump (link.c), indexed by
 * name, with each device's ptap mark already split into journal and
 * operation ids.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <net/if.h>

#include "journal.h"

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

/**
 * ptap_kdev_describe_holder: "pid N (COMM)" of a process that holds tap
 * @name, as far as /proc lets this process see, else "a process of
 * another user" — into @buf (@len bytes).
 */
void ptap_kdev_describe_holder(const char *name, char *buf, size_t len);

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
