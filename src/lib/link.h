/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * link.h: rtnetlink for ptap's taps (libnl-route underneath).
 *
 * - ptap_link_configure(): one RTM_SETLINK per tap for ifalias (the
 *   provenance mark), MTU, MAC, master, group and up;
 *   ptap_link_configure_many() pipelines many: the requests go out in
 *   groups (one sendmsg each), then their acks are read, each matched to
 *   its request by sequence number.
 * - ptap_link_delete_batch(): move the taps into one fresh link group and
 *   delete the group with a single RTM_DELLINK (the kernel waits for RCU
 *   once, not once per device); a single tap is deleted by its index.
 * - ptap_link_dump(): every link in the current network namespace with
 *   the tun attributes (owner, group, flags) the kernel reports in
 *   IFLA_LINKINFO/IFLA_INFO_DATA (parsed from the raw attributes: libnl
 *   3.7 has no "tun" link type).
 *
 * All functions return 0 or a negative errno; libnl's -NLE_* codes are
 * translated here, and the kernel's own error text (extended ack), when
 * it sent one, is kept for messages: ptap_link_message().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <net/if.h>

#include "util.h"
#include "validate.h"

#define PTAP_IFALIAS_MAX 256 /* IFALIASZ */

typedef struct ptap_link_info {
    char name[IFNAMSIZ];
    int ifindex;
    char alias[PTAP_IFALIAS_MAX];  /* "" when none */
    char kind[32];                 /* IFLA_INFO_KIND: "tun", "bridge", ... or "" */
    bool is_tun;                   /* driven by tun (tun or tap mode) */
    bool is_tap;                   /* tun driver in tap mode */
    int64_t owner;                 /* tun owner uid, -1 when none or not tun */
    int64_t group;                 /* tun group gid, -1 when none or not tun */
    bool multi_queue;
    bool vnet_hdr;
    bool persist;
    uint32_t queues;               /* tun: attached queues (descriptors) */
    uint32_t disabled_queues;      /* tun: attached but disabled queues */
    int master_ifindex;            /* 0 when none */
    char master[IFNAMSIZ];         /* "" when none */
    unsigned mtu;
    bool carrier;
    bool up;                       /* IFF_UP */
    uint32_t link_group;           /* IFLA_GROUP */
    bool has_mac;
    uint8_t mac[PTAP_MAC_LEN];
} ptap_link_info;

typedef struct ptap_link_ctx ptap_link_ctx;

/**
 * ptap_link_open: open a route netlink socket (close-on-exec) in the
 * current network namespace. Returns 0 and sets *@ret, or a negative errno.
 */
int ptap_link_open(ptap_link_ctx **ret);

/** ptap_link_close: close and free; NULL is a no-op. */
void ptap_link_close(ptap_link_ctx *c);

DEFINE_TRIVIAL_CLEANUP_FUNC(ptap_link_ctx *, ptap_link_close)

/**
 * ptap_link_message: the kernel's (extended ack) or libnl's text for the
 * last failure on @c, or "" if there was none. Valid until the next call.
 */
const char *ptap_link_message(const ptap_link_ctx *c);

/**
 * ptap_link_dump: every link in the current network namespace.
 * @ret: receives an array of *@n entries, to free with ptap_link_info_free()
 * Returns 0 or a negative errno. Opens its own socket.
 */
int ptap_link_dump(ptap_link_info **ret, size_t *n);

/** ptap_link_dump_ctx: ptap_link_dump() on an open context. */
int ptap_link_dump_ctx(ptap_link_ctx *c, ptap_link_info **ret, size_t *n);

/**
 * ptap_link_get / ptap_link_get_ctx: one link by name (RTM_GETLINK), with
 * the same fields as a dump except the master's name (master_ifindex is
 * set). Returns 0, -ENODEV if there is no such link, or a negative errno.
 * Much cheaper than a dump on a host with thousands of links.
 */
int ptap_link_get(const char *name, ptap_link_info *ret);
int ptap_link_get_ctx(ptap_link_ctx *c, const char *name, ptap_link_info *ret);

/** ptap_link_info_free: free an array from ptap_link_dump(); NULL is a no-op. */
void ptap_link_info_free(ptap_link_info *infos);

DEFINE_TRIVIAL_CLEANUP_FUNC(ptap_link_info *, ptap_link_info_free)

/*
 * One link as a line of text, for the helper's view of the links it was
 * named (ptap-helper destroy --view): "link IFINDEX NAME KIND FLAGS OWNER
 * GROUP QUEUES DISABLED MASTER_IFINDEX MASTER MTU LINK_GROUP ALIAS", FLAGS
 * letters of "tpmvscu" (tun, tap, multi-queue, vnet_hdr, persist, carrier,
 * up), "-" for an empty word; an alias (or kind, or master name) with a
 * blank or a control character is left out ("-": no ptap mark has one).
 * The MAC is not carried.
 */
#define PTAP_LINK_LINE_MAX 512

/** ptap_link_info_format: @l as a line (no newline) in @buf. Returns 0,
 * -EINVAL for a name that is not a word, or -ENOBUFS. */
int ptap_link_info_format(const ptap_link_info *l, char *buf, size_t size);

/** ptap_link_info_parse: the line back into *@l (all of it, or -EINVAL). */
int ptap_link_info_parse(const char *line, ptap_link_info *l);

/** ptap_link_find: the entry named @name in @v (@n entries), or NULL. */
const ptap_link_info *ptap_link_find(const ptap_link_info *v, size_t n, const char *name);

/** ptap_link_find_index: the entry with ifindex @ifindex, or NULL. */
const ptap_link_info *ptap_link_find_index(const ptap_link_info *v, size_t n, int ifindex);

typedef struct ptap_link_config {
    const char *alias;        /* ifalias (the mark) or NULL: unchanged */
    unsigned mtu;             /* 0: unchanged */
    bool has_mac;
    uint8_t mac[PTAP_MAC_LEN];
    int master;               /* bridge ifindex, 0: unchanged */
    bool up;                  /* bring the link up */
    bool set_group;           /* set the link group to @group (0: out of any deletion group) */
    uint32_t group;
    bool no_ipv6_addr;        /* IPv6 address generation off (IFLA_INET6_ADDR_GEN_MODE
                               * NONE): no link-local address, no DAD, for a bridge
                               * port. The kernel refuses it (-EAFNOSUPPORT) where the
                               * link has no IPv6 (IPv6 off, MTU < 1280) */
} ptap_link_config;

/**
 * ptap_link_configure: apply @cfg to link @ifindex in one netlink change
 * (RTM_SETLINK). Returns 0 or a negative errno (the kernel's; see
 * ptap_link_message()).
 */
int ptap_link_configure(ptap_link_ctx *c, int ifindex, const ptap_link_config *cfg);

/**
 * ptap_link_sync_many: look up the @n links @ifindexes (RTM_GETLINK,
 * pipelined, replies dropped) for the side effect the kernel gives a
 * lookup: it brings its idea of each link's operational state up to date
 * (its "link watch" otherwise catches up on a carrier change up to a second
 * later). A tap whose carrier just went off then joins a bridge and goes
 * up as the dead port it is: no STP and multicast start-up for it, the
 * costliest part of a create (as `ip link set` does by its own lookup).
 * Returns 0 or the first failure's -errno.
 */
int ptap_link_sync_many(ptap_link_ctx *c, const int *ifindexes, size_t n);

/**
 * ptap_link_configure_many: apply cfgs[i] to link ifindexes[i], for i < @n,
 * pipelined: the requests are sent in groups (one sendmsg each, the kernel
 * runs them in order), then each group's acks are read. Every request is
 * made whatever happens to the others.
 * @errs: NULL, or @n slots that receive each request's result (0 or the
 *   kernel's -errno; -EIO when its ack never came)
 * Returns 0 when all succeeded, else the first failure's -errno (its text
 * in ptap_link_message()), or a transport error.
 */
int ptap_link_configure_many(ptap_link_ctx *c, const int *ifindexes, const ptap_link_config *cfgs,
                             size_t n, int *errs);

/**
 * ptap_link_delete_batch: delete the @n links in @ifindexes at once.
 * One link is deleted by its index. Several: draws a random link group
 * from a range nobody uses by hand, moves the links into it (pipelined),
 * checks in one dump that the group holds exactly them (one that holds
 * others too is left again and another drawn), then sends one RTM_DELLINK
 * for the group. If anything fails before the delete, the links are moved
 * back to group 0 (best effort).
 * Returns 0 or a negative errno (-EBUSY: every group drawn held others).
 */
int ptap_link_delete_batch(ptap_link_ctx *c, const int *ifindexes, size_t n);

/**
 * ptap_link_delete_batch_dumped: ptap_link_delete_batch() for a caller that
 * has just dumped the links (@dump, @n_dump; NULL, 0: none): the group is
 * drawn among those that dump does not show (the check after the move stays).
 */
int ptap_link_delete_batch_dumped(ptap_link_ctx *c, const int *ifindexes, size_t n,
                                  const ptap_link_info *dump, size_t n_dump);

/** ptap_link_nlerr_to_errno: translate a libnl error (-NLE_* or NLE_*)
 * to a negative errno. */
int ptap_link_nlerr_to_errno(int nlerr);
