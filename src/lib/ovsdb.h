/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ovsdb.h: a small OVSDB client (JSON-RPC over a unix socket, RFC 7047),
 * just what ptap needs to plug taps into Open vSwitch bridges the way
 * os-vif does: is NAME an OVS bridge, add ports (one transaction per
 * batch), list the ports ptap made, delete some of them.
 *
 * Linked by the privileged helper (libptap-core): every string it puts in
 * a request is a validated interface name, MAC, UUID or ptap mark (the
 * functions below check them again); replies are parsed strictly (json-c's
 * strict mode, a size cap, every value's type checked) and every wait is
 * bounded by the connection's timeout.
 *
 * The rows ptap makes: an Interface (type "" — a system device: the tap)
 * with external_ids attached-mac (the guest's MAC, when known), iface-id,
 * iface-status "active", vm-uuid (when known) and ptap-mark (the tap's
 * ifalias, mark.h); a Port of the same name holding it, with ptap-mark
 * too; the Port added to Bridge.ports. Deleting a Port is removing it from
 * Bridge.ports: Port and Interface are non-root tables, so the database
 * drops the rows nothing refers to any more.
 *
 * Known limits: one database (Open_vSwitch); OVSDB knows interface names,
 * not network namespaces: a tap is matched by name in the namespace the
 * caller runs in.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <sys/un.h>

#include "error.h"
#include "link.h"
#include "mark.h"
#include "util.h"

#define PTAP_OVSDB_SOCKET_DEFAULT "/run/openvswitch/db.sock"
#define PTAP_OVSDB_TIMEOUT_MS 5000          /* each request, connect to reply */
#define PTAP_OVSDB_REPLY_MAX (64u << 20)    /* bytes of one reply accepted */
#define PTAP_OVSDB_UUID_LEN 36
#define PTAP_OVSDB_MARK_KEY "ptap-mark"

typedef struct ptap_ovsdb ptap_ovsdb;

/**
 * ptap_ovsdb_path_check: is @path an acceptable socket path (absolute,
 * shorter than sun_path, no NUL, no "..")? @why: static reason on failure.
 * Returns 0 or -EINVAL.
 */
int ptap_ovsdb_path_check(const char *path, const char **why);

/**
 * ptap_ovsdb_connect: connect to the OVSDB server on unix socket @path
 * (non-blocking connect: a server whose backlog is full is -EAGAIN, never
 * a hang). @timeout_ms bounds each later request (0: PTAP_OVSDB_TIMEOUT_MS).
 * Returns 0 and sets *@ret, -ENOENT / -ECONNREFUSED when no server listens
 * there (no Open vSwitch), or another negative errno.
 */
int ptap_ovsdb_connect(const char *path, int timeout_ms, ptap_ovsdb **ret);

/** ptap_ovsdb_close: close and free; NULL is a no-op. */
void ptap_ovsdb_close(ptap_ovsdb *db);
DEFINE_TRIVIAL_CLEANUP_FUNC(ptap_ovsdb *, ptap_ovsdb_close)

/* What OVSDB says about a bridge. */
typedef struct ptap_ovsdb_bridge {
    bool exists;        /* a Bridge row of that name */
    unsigned mtu;       /* its internal Interface's MTU, 0 if unknown */
} ptap_ovsdb_bridge;

/**
 * ptap_ovsdb_bridge_get: look up Bridge @name (a valid interface name).
 * Returns 0 (@out filled, exists false when there is no such bridge), or
 * a negative errno with @err filled in.
 */
int ptap_ovsdb_bridge_get(ptap_ovsdb *db, const char *name, ptap_ovsdb_bridge *out,
                          ptap_error *err);

/* One port to add. */
typedef struct ptap_ovsdb_port_spec {
    const char *name;         /* the tap's name */
    const char *mark;         /* its ptap mark (ifalias) */
    const char *attached_mac; /* the guest's MAC, or NULL */
    const char *iface_id;     /* a UUID */
    const char *vm_uuid;      /* the guest's UUID, or NULL */
} ptap_ovsdb_port_spec;

/**
 * ptap_ovsdb_add_ports: add @n ports to bridge @bridge in one transaction,
 * safe against concurrent changes: it waits (timeout 0) for the bridge to
 * exist and for no port of each name to exist, so it either adds all or
 * none. Every string is checked first (-EINVAL).
 * Returns 0, -ENOENT (no such bridge), -EEXIST (a port of that name is
 * there), or another negative errno; @err says which and why.
 */
int ptap_ovsdb_add_ports(ptap_ovsdb *db, const char *bridge, const ptap_ovsdb_port_spec *specs,
                         size_t n, ptap_error *err);

/* A port that carries ptap's mark. */
typedef struct ptap_ovsdb_port {
    char name[IFNAMSIZ];
    char bridge[IFNAMSIZ];                  /* "" when no bridge holds it */
    char mark[PTAP_IFALIAS_MAX];
    char uuid[PTAP_OVSDB_UUID_LEN + 1];     /* the Port row */
    char bridge_uuid[PTAP_OVSDB_UUID_LEN + 1];
} ptap_ovsdb_port;

/* Every bridge and every marked port, as one read saw them. */
typedef struct ptap_ovsdb_view {
    char (*bridges)[IFNAMSIZ];
    size_t n_bridges;
    ptap_ovsdb_port *ports;
    size_t n_ports;
} ptap_ovsdb_view;

/**
 * ptap_ovsdb_view_load: read the bridges and the ports whose external_ids
 * carry a valid ptap mark (one transaction of two selects). Ports and
 * bridges with names that are not valid interface names are skipped.
 * Returns 0 or a negative errno with @err filled in.
 */
int ptap_ovsdb_view_load(ptap_ovsdb *db, ptap_ovsdb_view *v, ptap_error *err);

/** ptap_ovsdb_view_clear: free what ptap_ovsdb_view_load() filled in. */
void ptap_ovsdb_view_clear(ptap_ovsdb_view *v);

/** ptap_ovsdb_view_is_bridge: is @name one of @v's bridges? */
bool ptap_ovsdb_view_is_bridge(const ptap_ovsdb_view *v, const char *name);

/** ptap_ovsdb_view_port: the marked port called @name, or NULL. */
const ptap_ovsdb_port *ptap_ovsdb_view_port(const ptap_ovsdb_view *v, const char *name);

/**
 * ptap_ovsdb_delete_ports: remove the @n ports (from ptap_ovsdb_view_load())
 * from their bridges, one transaction. A port already gone is no error.
 * Returns 0 or a negative errno with @err filled in.
 */
int ptap_ovsdb_delete_ports(ptap_ovsdb *db, const ptap_ovsdb_port *const *ports, size_t n,
                            ptap_error *err);

/**
 * ptap_ovsdb_set_guest: say which guest the port of tap @name (whose
 * Interface row carries ptap-mark @mark) serves: its external_ids
 * attached-mac and vm-uuid become @attached_mac and @vm_uuid, each
 * removed when NULL. One transaction, on that row only (a "where" on the
 * name and the mark).
 * Returns 0, -ENOENT (no such row with that mark), -EINVAL (a string
 * fails its check), or another negative errno; @err says why.
 */
int ptap_ovsdb_set_guest(ptap_ovsdb *db, const char *name, const char *mark,
                         const char *attached_mac, const char *vm_uuid, ptap_error *err);

/**
 * ptap_ovsdb_uuid_random: a random (version 4) UUID into @buf.
 * Returns 0 or a negative errno.
 */
int ptap_ovsdb_uuid_random(char buf[PTAP_OVSDB_UUID_LEN + 1]);

/** ptap_ovsdb_uuid_check: @s is a UUID in OVSDB's form (8-4-4-4-12 hex). */
bool ptap_ovsdb_uuid_check(const char *s);
