/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.h: ptap-helper's policy file (/etc/ptap/helper.conf) — parser,
 * trust check and the decision function. Shared by the helper and the
 * ptap command (which may explain a refusal before asking).
 *
 * Grammar, one rule per line, '#' starts a comment, blank lines ignored:
 *
 *   allow user  NAME|UID  bridge BRIDGE|*|none  [max N]
 *   allow group NAME|GID  bridge BRIDGE|*|none  [max N]
 *   deny  user  NAME|UID
 *   deny  group NAME|GID
 *   deny  bridge BRIDGE|*|none
 *   ovsdb-socket PATH       (at most once: the Open vSwitch database's
 *                            socket, default /run/openvswitch/db.sock)
 *
 * "none" is "no bridge"; "*" is "any bridge" (not "none"). Default deny;
 * any matching deny rule wins over every allow rule; "max N" caps the
 * number of marked taps the caller may own at once (counting the new
 * ones); a rule without "max" allows PTAP_POLICY_DEFAULT_MAX. Bridge
 * rules name Linux and Open vSwitch bridges alike. A caller with real uid 0 is not bound by the file.
 *
 * Known limits: user and group names are resolved once, when the file
 * is parsed; a name that does not resolve is an error (a policy that
 * silently ignores a typo would be worse).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <net/if.h>

#include "error.h"
#include "util.h"

#define PTAP_POLICY_MAX_SIZE (1u << 20)  /* bytes of policy file accepted */
#define PTAP_POLICY_MAX_LINE 4096        /* bytes per line */
#define PTAP_POLICY_MAX_QUOTA 65535u
/* "max" of an allow rule that names none (ptap-helper.conf(5)): an allow
 * rule never means "unlimited"; an admin who wants more says so. */
#define PTAP_POLICY_DEFAULT_MAX 16u

typedef enum ptap_policy_action {
    PTAP_POLICY_ALLOW,
    PTAP_POLICY_DENY,
} ptap_policy_action;

typedef enum ptap_policy_subject {
    PTAP_POLICY_USER,   /* id is a uid */
    PTAP_POLICY_GROUP,  /* id is a gid */
    PTAP_POLICY_BRIDGE, /* deny bridge ...: no id */
} ptap_policy_subject;

typedef enum ptap_policy_bridge {
    PTAP_POLICY_BRIDGE_NAMED, /* bridge[] holds the name */
    PTAP_POLICY_BRIDGE_ANY,   /* "*": any bridge, not "none" */
    PTAP_POLICY_BRIDGE_NONE,  /* "none": no bridge */
} ptap_policy_bridge;

typedef struct ptap_policy_rule {
    ptap_policy_action action;
    ptap_policy_subject subject;
    unsigned id;                  /* uid or gid (USER/GROUP) */
    ptap_policy_bridge bridge_kind;
    char bridge[IFNAMSIZ];        /* when NAMED */
    bool has_max;
    unsigned max;
    unsigned line;                /* 1-based line in the file */
} ptap_policy_rule;

typedef struct ptap_policy {
    char *filename;
    char ovsdb_socket[108];       /* "ovsdb-socket PATH", "" = the default */
    ptap_policy_rule *rules;
    size_t n_rules;
} ptap_policy;

/* Name lookups the parser uses; NULL members (or a NULL resolver) mean
 * the system's user database (getpwnam_r / getgrnam_r). Each returns 0,
 * -ENOENT if the name is unknown, or another negative errno. */
typedef struct ptap_policy_resolver {
    int (*user)(const char *name, uid_t *ret, void *userdata);
    int (*group)(const char *name, gid_t *ret, void *userdata);
    void *userdata;
} ptap_policy_resolver;

/**
 * ptap_policy_parse: parse a whole policy text.
 * @text, @len: the file's content (need not be NUL-terminated; a NUL byte
 *   inside is an error)
 * @filename: used in error messages ("FILE:LINE: reason")
 * @res: name resolver, or NULL for the system's
 * @ret: the parsed policy, to free with ptap_policy_free()
 * @err: receives "FILE:LINE: reason" on failure, exit code EX_CONFIG
 *   (may be NULL)
 * Returns 0, -EINVAL (syntax/unknown name; @err says where and why),
 * -EFBIG (too large) or -ENOMEM.
 */
int ptap_policy_parse(const char *text, size_t len, const char *filename,
                      const ptap_policy_resolver *res, ptap_policy **ret, ptap_error *err);

/**
 * ptap_policy_check_trust: is the open policy file @fd (named @path) safe
 * to trust? It must be a regular file owned by root and not writable by
 * group or others, and so must every directory from its parent up to
 * "/" (owned by root, not group/other-writable; a sticky world-writable
 * directory is refused too).
 * Returns 0, -EPERM (unsafe; @err says which object and why) or another
 * negative errno (@err says what failed); exit code EX_CONFIG. @err may
 * be NULL.
 */
int ptap_policy_check_trust(int fd, const char *path, ptap_error *err);

/**
 * ptap_policy_load_fd: read (at most PTAP_POLICY_MAX_SIZE bytes), check
 * trust and parse the policy open on @fd.
 * Returns 0 and sets *@ret, -EPERM (untrusted), -EINVAL (bad syntax),
 * -EFBIG, or another negative errno; @err (may be NULL) says why, with
 * exit code EX_CONFIG.
 */
int ptap_policy_load_fd(int fd, const char *path, const ptap_policy_resolver *res,
                        ptap_policy **ret, ptap_error *err);

/** ptap_policy_free: free a parsed policy; NULL is a no-op. */
void ptap_policy_free(ptap_policy *p);

DEFINE_TRIVIAL_CLEANUP_FUNC(ptap_policy *, ptap_policy_free)

typedef struct ptap_policy_request {
    uid_t uid;              /* caller's real uid */
    const gid_t *groups;    /* caller's gids (primary and supplementary) */
    size_t n_groups;
    const char *bridge;     /* bridge asked for; NULL or "" = none */
    unsigned owned;         /* marked taps the caller owns now */
    unsigned count;         /* taps asked for */
} ptap_policy_request;

/**
 * ptap_policy_decide: may this caller create @req->count taps on
 * @req->bridge? Root (uid 0) always may. Otherwise any matching deny rule
 * refuses; then an allow rule must match the caller (user, or a group it
 * is in) and the bridge, and its "max", if any, must not be exceeded.
 * @allowed_by (may be NULL) is set to the allow rule that decided, or
 * NULL (root, or a refusal). @err (may be NULL) receives the reason for a
 * refusal, naming the deciding rule's line, with exit code EX_NOPERM.
 * Returns 0 (allowed), -EACCES (denied) or -EDQUOT (over quota).
 */
int ptap_policy_decide(const ptap_policy *p, const ptap_policy_request *req,
                       const ptap_policy_rule **allowed_by, ptap_error *err);

/**
 * ptap_policy_check_owner: may caller @uid (in @groups) create a tap
 * owned by @owner, group @group ((gid_t) -1 = none)? Root may choose
 * any; anyone else only itself as owner and one of its own groups (or
 * none). Returns 0 or -EPERM with @err (may be NULL) saying why, exit
 * code EX_NOPERM.
 */
int ptap_policy_check_owner(uid_t uid, const gid_t *groups, size_t n_groups,
                            uid_t owner, gid_t group, ptap_error *err);

/**
 * ptap_policy_ovsdb_socket: the OVSDB socket @p names ("ovsdb-socket"),
 * else PTAP_OVSDB_SOCKET_DEFAULT (also for a NULL @p).
 */
const char *ptap_policy_ovsdb_socket(const ptap_policy *p);

/**
 * ptap_policy_scan_ovsdb_socket: the "ovsdb-socket PATH" line of policy
 * text @text (@len bytes) without parsing the rules (no user lookups: the
 * helper calls it before it drops privileges, on a file it has checked
 * with ptap_policy_check_trust()). @buf (@size bytes) receives the path,
 * or PTAP_OVSDB_SOCKET_DEFAULT. Returns 1 (found), 0 (not given), or
 * -EINVAL when the line is malformed or repeated (then @buf holds the
 * default, and ptap_policy_parse() refuses the file).
 */
int ptap_policy_scan_ovsdb_socket(const char *text, size_t len, char *buf, size_t size);
