/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmeta.h: what travels with a libvirt guest so that another host can
 * re-create its ptap taps: one element in ptap's own XML namespace under
 * the domain's <metadata> (set with virDomainSetMetadata, see virt.h),
 *
 *   <ptap:nics xmlns:ptap="https://ptap.dev/xmlns/libvirt/1" version="1">
 *     <ptap:nic tap="ptap3" bridge="br0" network="default" mtu="1500"
 *               multi-queue="no" vnet-hdr="no" kind="pool"/>
 *   </ptap:nics>
 *
 * one <nic> per tap: its name, its bridge (or libvirt network: the
 * destination asks its own libvirt state for that network's bridge), its
 * MTU (0 or absent: the bridge's), its tun flags, and whether it is a pool
 * tap ("pool": made by `ptap create`, back to the pool when the guest
 * leaves) or made for this NIC ("nic": goes with the guest). The owner is
 * not carried: the destination's QEMU user may differ (see
 * docs/migration.md). See docs/migration.md for the format's rules.
 *
 * Format and parse sit side by side here. Parsing treats the XML as
 * hostile (whoever defined the domain wrote it): every value is checked,
 * never truncated; an unknown version, an unknown attribute value, a
 * duplicate tap or more than PTAP_VMETA_NICS_MAX NICs is refused.
 *
 * ptap_vmeta_domain_parse() reads a whole domain XML (what the libvirt
 * hook gets on stdin): the domain's name and UUID, its ptap metadata, and
 * for each <nic> the <interface type='ethernet'> whose <target dev=TAP
 * managed='no'/> it names (alias, MAC, model); a <nic> whose interface is
 * not in the domain is dropped (a stale entry: nothing to re-create).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <net/if.h>

#include "error.h"
#include "validate.h"

#define PTAP_VMETA_NS "https://ptap.dev/xmlns/libvirt/1"
#define PTAP_VMETA_PREFIX "ptap"
#define PTAP_VMETA_VERSION 1
#define PTAP_VMETA_NICS_MAX 64
#define PTAP_VMETA_NETWORK_MAX 128 /* a libvirt network name, with its NUL */
#define PTAP_VMETA_XML_MAX (4u << 20) /* a domain XML the hook reads, at most */

typedef struct ptap_vmeta_nic {
    char tap[IFNAMSIZ];
    char bridge[IFNAMSIZ];                 /* "" = none */
    char network[PTAP_VMETA_NETWORK_MAX];  /* libvirt network, "" = none */
    unsigned mtu;                          /* 0 = the bridge's */
    bool multi_queue;
    bool vnet_hdr;
    bool pool;                             /* a pool tap (else made for this NIC) */
} ptap_vmeta_nic;

typedef struct ptap_vmeta {
    ptap_vmeta_nic nics[PTAP_VMETA_NICS_MAX];
    size_t n;
} ptap_vmeta;

/**
 * ptap_vmeta_parse: parse ptap's metadata element alone (@xml, @len bytes:
 * what virDomainGetMetadata returns) into @ret. The root must be <nics>,
 * in PTAP_VMETA_NS or in none (libvirt returns it without); its <nic>
 * children likewise.
 * Returns 0, or -EBADMSG / -EINVAL / -E2BIG with @err naming the bad value.
 */
int ptap_vmeta_parse(const char *xml, size_t len, ptap_vmeta *ret, ptap_error *err);

/**
 * ptap_vmeta_format: @m as XML, every value escaped by libxml2: with
 * @with_ns in PTAP_VMETA_NS (prefix PTAP_VMETA_PREFIX), as the domain XML
 * shows it; without, as virDomainSetMetadata takes it (libvirt puts the
 * element in the namespace itself, and refuses one already declared).
 * *@ret is malloc'd. Returns 0, -EINVAL (a NIC fails the checks of
 * ptap_vmeta_nic_check) or -ENOMEM.
 */
int ptap_vmeta_format(const ptap_vmeta *m, bool with_ns, char **ret);

/**
 * ptap_vmeta_nic_check: is @nic valid (tap name, bridge name, network
 * name, MTU, not both... any of bridge and network may be empty)?
 * Returns 0 or -EINVAL with @why set to a static reason.
 */
int ptap_vmeta_nic_check(const ptap_vmeta_nic *nic, const char **why);

/**
 * ptap_vmeta_put: add @nic to @m, replacing the entry of the same tap.
 * Returns 0, or -E2BIG when @m is full.
 */
int ptap_vmeta_put(ptap_vmeta *m, const ptap_vmeta_nic *nic);

/** ptap_vmeta_remove: drop the entry of tap @tap. Returns true if there was one. */
bool ptap_vmeta_remove(ptap_vmeta *m, const char *tap);

/** The domain-side facts of one NIC the metadata names. */
typedef struct ptap_vmeta_iface {
    char alias[PTAP_QEMU_ID_MAX];  /* <alias name=...>, "" when libvirt has not named it yet */
    char mac[PTAP_MAC_STRLEN];     /* <mac address=...>, "" if none */
    char model[32];                /* <model type=...>, "" if none */
} ptap_vmeta_iface;

/** What the hook needs from a whole domain XML. */
typedef struct ptap_vmeta_domain {
    char name[256];
    char uuid[37];
    ptap_vmeta meta;                            /* only NICs whose interface is there */
    ptap_vmeta_iface iface[PTAP_VMETA_NICS_MAX]; /* parallel to meta.nics */
    size_t n_stale;                             /* <nic>s dropped: no such interface */
    bool has_meta;                              /* the domain carries ptap metadata */
    char dac_label[128];                        /* a DAC <seclabel>'s <label>, "" if none */
    bool dac_static;                            /* ... of a type='static' seclabel */
} ptap_vmeta_domain;

/**
 * ptap_vmeta_domain_parse: read a domain XML (@len bytes, at most
 * PTAP_VMETA_XML_MAX) into @ret: name, UUID (both required and checked),
 * the ptap metadata (ptap_vmeta_parse's rules; none is not an error:
 * has_meta false), each named NIC's interface, the DAC label. A <nic>
 * naming a tap whose interface is of another type than ethernet, or not
 * managed='no', is refused (-EINVAL): libvirt would make or take that
 * device itself. Returns 0 or a negative errno with @err filled in.
 */
int ptap_vmeta_domain_parse(const char *xml, size_t len, ptap_vmeta_domain *ret, ptap_error *err);

/**
 * ptap_vmeta_status_job: from libvirt's status XML of a running domain
 * (/run/libvirt/qemu/NAME.xml, root's and libvirt's own), the async job
 * under way ("migration out", "migration in", "none", ...) into @buf.
 * Returns 0, -ENODATA (no job element), -EBADMSG.
 */
int ptap_vmeta_status_job(const char *xml, size_t len, char *buf, size_t size);
