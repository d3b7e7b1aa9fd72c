/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tap.h: the tun ioctls behind a persistent tap.
 *
 * Creating a tap is three steps so that a process killed at any point
 * leaves either nothing or a marked, persistent tap (see docs/design.md):
 *
 *   ptap_tap_open()     TUNSETIFF (IFF_TAP|IFF_NO_PI|IFF_TUN_EXCL [+MQ, VNET_HDR]),
 *                       TUNSETOWNER, TUNSETGROUP. The tap lives only as
 *                       long as the returned descriptor.
 *   (caller)            marks and configures the link (link.h), still
 *                       transient: a failure or a crash here removes it.
 *   ptap_tap_persist()  TUNSETPERSIST 1, the last step; then close.
 *
 * IFF_TUN_EXCL makes TUNSETIFF fail with EBUSY instead of attaching to an
 * existing device of that name: a privileged caller must never take over
 * somebody else's tap.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <net/if.h>

#define PTAP_TUN_PATH "/dev/net/tun"

typedef struct ptap_tap_params {
    const char *name;   /* name, or template ending in "%d" */
    uid_t owner;        /* (uid_t) -1: no owner */
    gid_t group;        /* (gid_t) -1: no group */
    bool multi_queue;   /* IFF_MULTI_QUEUE */
    bool vnet_hdr;      /* IFF_VNET_HDR */
    bool no_carrier;    /* made without a carrier (IFF_NO_CARRIER, Linux 6.0+): it
                         * gets one when a guest attaches. Until then the kernel
                         * starts nothing for it: no bridge port start-up (STP,
                         * multicast), no IPv6 autoconfiguration */
} ptap_tap_params;

/**
 * ptap_tap_open: create a (not yet persistent) tap and set its owner and
 * group.
 * @p: what to create; p->name must already be validated
 * @ret_fd: receives the tun descriptor (O_CLOEXEC) that keeps it alive
 * @ret_name: receives the kernel's final name (IFNAMSIZ bytes)
 * Returns 1 when the tap was made without a carrier (p->no_carrier and a
 * kernel that has it), 0 otherwise, or a negative errno (-EBUSY: the name
 * is taken); on failure nothing is left behind.
 */
int ptap_tap_open(const ptap_tap_params *p, int *ret_fd, char ret_name[IFNAMSIZ]);

/**
 * ptap_tap_persist: make the tap behind @fd persistent (TUNSETPERSIST 1).
 * The caller then closes @fd. Returns 0 or a negative errno.
 */
int ptap_tap_persist(int fd);

/**
 * ptap_tap_flags: the IFF_* flags TUNSETIFF will be given for @p
 * (exposed for tests and for ptap's attach, which must ask for the same
 * multi-queue / vnet-hdr flags).
 */
unsigned short ptap_tap_flags(const ptap_tap_params *p);
