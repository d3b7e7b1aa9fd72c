/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "ovsdb.h"
#include "policy.h"
#include "util.h"
#include "validate.h"

#define MAX_TOKENS 8

static int nss_user(const char *name, uid_t *ret, void *userdata)
{
    (void) userdata;
    return ptap_user_by_name(name, ret);
}

static int nss_group(const char *name, gid_t *ret, void *userdata)
{
    (void) userdata;
    return ptap_group_by_name(name, ret);
}

/* A user or group given in the file: a number is an id as is; anything
 * else must look like a name and resolve. */
static int parse_id(const char *tok, bool is_user, const ptap_policy_resolver *res,
                    unsigned *out, const char **why)
{
    uint64_t v;
    int r;

    if (tok[0] >= '0' && tok[0] <= '9') {
        /* (uid_t)-1 means "no id" to the kernel: not a valid rule subject. */
        r = ptap_parse_uint(tok, 0, UINT32_MAX - 1, &v);
        if (r < 0) {
            *why = is_user ? "invalid uid" : "invalid gid";
            return r;
        }
        *out = (unsigned) v;
        return 0;
    }
    if (strlen(tok) > 256) {
        *why = "name too long";
        return -EINVAL;
    }
    for (const char *p = tok; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || strchr("._-$", *p))) {
            *why = is_user ? "invalid user name" : "invalid group name";
            return -EINVAL;
        }
    if (is_user) {
        uid_t uid;

        r = (res && res->user ? res->user : nss_user)(tok, &uid, res ? res->userdata : NULL);
        if (r < 0) {
            *why = r == -ENOENT ? "unknown user" : "cannot look up user";
            return -EINVAL;
        }
        *out = uid;
    } else {
        gid_t gid;

        r = (res && res->group ? res->group : nss_group)(tok, &gid, res ? res->userdata : NULL);
        if (r < 0) {
            *why = r == -ENOENT ? "unknown group" : "cannot look up group";
            return -EINVAL;
        }
        *out = gid;
    }
    return 0;
}

static int parse_bridge(const char *tok, ptap_policy_rule *rule, const char **why)
{
    if (strcmp(tok, "*") == 0) {
        rule->bridge_kind = PTAP_POLICY_BRIDGE_ANY;
        return 0;
    }
    if (strcmp(tok, "none") == 0) {
        rule->bridge_kind = PTAP_POLICY_BRIDGE_NONE;
        return 0;
    }
    if (ptap_ifname_check(tok, false, why) < 0)
        return -EINVAL;
    rule->bridge_kind = PTAP_POLICY_BRIDGE_NAMED;
    strcpy(rule->bridge, tok); /* length checked above */
    return 0;
}

/* Parse one line's tokens into @rule. On error sets *bad to the offending
 * token (or NULL) and *why to the reason. */
static int parse_rule(char **tok, size_t n, const ptap_policy_resolver *res,
                      ptap_policy_rule *rule, const char **bad, const char **why)
{
    size_t i = 0;
    int r;

    *bad = NULL;
    if (strcmp(tok[i], "allow") == 0)
        rule->action = PTAP_POLICY_ALLOW;
    else if (strcmp(tok[i], "deny") == 0)
        rule->action = PTAP_POLICY_DENY;
    else {
        *bad = tok[i];
        *why = "expected 'allow' or 'deny'";
        return -EINVAL;
    }
    i++;
    if (i >= n) {
        *why = "expected 'user', 'group' or 'bridge'";
        return -EINVAL;
    }
    if (strcmp(tok[i], "user") == 0)
        rule->subject = PTAP_POLICY_USER;
    else if (strcmp(tok[i], "group") == 0)
        rule->subject = PTAP_POLICY_GROUP;
    else if (strcmp(tok[i], "bridge") == 0 && rule->action == PTAP_POLICY_DENY)
        rule->subject = PTAP_POLICY_BRIDGE;
    else {
        *bad = tok[i];
        *why = rule->action == PTAP_POLICY_DENY ? "expected 'user', 'group' or 'bridge'"
                                                : "expected 'user' or 'group'";
        return -EINVAL;
    }
    i++;
    if (i >= n) {
        *why = rule->subject == PTAP_POLICY_USER    ? "missing user name or uid"
               : rule->subject == PTAP_POLICY_GROUP ? "missing group name or gid"
                                                    : "missing bridge name";
        return -EINVAL;
    }
    if (rule->subject == PTAP_POLICY_BRIDGE) {
        r = parse_bridge(tok[i], rule, why);
        if (r < 0) {
            *bad = tok[i];
            return r;
        }
        i++;
    } else {
        r = parse_id(tok[i], rule->subject == PTAP_POLICY_USER, res, &rule->id, why);
        if (r < 0) {
            *bad = tok[i];
            return -EINVAL;
        }
        i++;
        if (rule->action == PTAP_POLICY_ALLOW) {
            if (i >= n || strcmp(tok[i], "bridge") != 0) {
                *bad = i < n ? tok[i] : NULL;
                *why = "expected 'bridge BRIDGE|*|none'";
                return -EINVAL;
            }
            i++;
            if (i >= n) {
                *why = "missing bridge name, '*' or 'none'";
                return -EINVAL;
            }
            r = parse_bridge(tok[i], rule, why);
            if (r < 0) {
                *bad = tok[i];
                return r;
            }
            i++;
            if (i < n && strcmp(tok[i], "max") == 0) {
                uint64_t v;

                i++;
                if (i >= n) {
                    *why = "missing number after 'max'";
                    return -EINVAL;
                }
                r = ptap_parse_uint(tok[i], 0, PTAP_POLICY_MAX_QUOTA, &v);
                if (r < 0) {
                    *bad = tok[i];
                    *why = r == -ERANGE ? "'max' is out of range (0-65535)"
                                        : "'max' needs a whole number";
                    return -EINVAL;
                }
                rule->has_max = true;
                rule->max = (unsigned) v;
                i++;
            }
        }
    }
    if (i < n) {
        *bad = tok[i];
        *why = "unexpected word";
        return -EINVAL;
    }
    return 0;
}

void ptap_policy_free(ptap_policy *p)
{
    if (!p)
        return;
    free(p->filename);
    free(p->rules);
    free(p);
}


int ptap_policy_parse(const char *text, size_t len, const char *filename,
                      const ptap_policy_resolver *res, ptap_policy **ret,
                      ptap_error *err)
{
    _cleanup_(ptap_policy_freep) ptap_policy *p = NULL;
    char line[PTAP_POLICY_MAX_LINE + 1];
    size_t pos = 0, cap = 0;
    unsigned lineno = 0;

    if (!filename)
        filename = "(policy)";
    if (len > PTAP_POLICY_MAX_SIZE)
        return ptap_error_set(err, -EFBIG, EX_CONFIG, "%s: file too large (more than %u bytes)",
                              filename, PTAP_POLICY_MAX_SIZE);
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->filename = strdup(filename);
    if (!p->filename)
        return -ENOMEM;

    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t l = nl ? (size_t) (nl - (text + pos)) : len - pos;
        char *tok[MAX_TOKENS + 1];
        size_t n = 0;
        char *s, *save = NULL;
        ptap_policy_rule rule = { 0 };
        const char *bad = NULL, *why = NULL;

        lineno++;
        if (l > PTAP_POLICY_MAX_LINE)
            return ptap_error_set(err, -EINVAL, EX_CONFIG,
                                  "%s:%u: line too long (more than %u bytes)", filename, lineno,
                                  PTAP_POLICY_MAX_LINE);
        memcpy(line, text + pos, l);
        line[l] = '\0';
        pos += l + (nl ? 1 : 0);
        if (memchr(line, '\0', l))
            return ptap_error_set(err, -EINVAL, EX_CONFIG, "%s:%u: NUL byte in line", filename,
                                  lineno);
        s = strchr(line, '#');
        if (s)
            *s = '\0';
        for (char *c = line; *c; c++) {
            unsigned char u = (unsigned char) *c;

            if (u == '\r' && c[1] == '\0') { /* tolerate CRLF files */
                *c = '\0';
                break;
            }
            if ((u < 0x20 && u != '\t') || u >= 0x7f)
                return ptap_error_set(err, -EINVAL, EX_CONFIG,
                                      "%s:%u: invalid character (byte 0x%02x)", filename,
                                      lineno, u);
        }
        for (s = strtok_r(line, " \t", &save); s; s = strtok_r(NULL, " \t", &save)) {
            if (n == MAX_TOKENS)
                return ptap_error_set(err, -EINVAL, EX_CONFIG, "%s:%u: too many words for a rule",
                                      filename, lineno);
            tok[n++] = s;
        }
        if (n == 0)
            continue;
        if (strcmp(tok[0], "ovsdb-socket") == 0) {
            const char *why2 = NULL;

            if (n != 2)
                return ptap_error_set(err, -EINVAL, EX_CONFIG, "%s:%u: expected 'ovsdb-socket PATH'",
                                      filename, lineno);
            if (*p->ovsdb_socket)
                return ptap_error_set(err, -EINVAL, EX_CONFIG, "%s:%u: 'ovsdb-socket' given twice",
                                      filename, lineno);
            if (ptap_ovsdb_path_check(tok[1], &why2) < 0)
                return ptap_error_set(err, -EINVAL, EX_CONFIG, "%s:%u: '%s': %s", filename, lineno,
                                      tok[1], why2);
            snprintf(p->ovsdb_socket, sizeof(p->ovsdb_socket), "%s", tok[1]);
            continue;
        }
        if (parse_rule(tok, n, res, &rule, &bad, &why) < 0) {
            if (bad)
                return ptap_error_set(err, -EINVAL, EX_CONFIG, "%s:%u: '%s': %s", filename,
                                      lineno, bad, why);
            return ptap_error_set(err, -EINVAL, EX_CONFIG, "%s:%u: %s", filename, lineno, why);
        }
        rule.line = lineno;
        if (p->n_rules == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            ptap_policy_rule *nr = reallocarray(p->rules, ncap, sizeof(*nr));

            if (!nr)
                return -ENOMEM;
            p->rules = nr;
            cap = ncap;
        }
        p->rules[p->n_rules++] = rule;
    }
    *ret = TAKE_PTR(p);
    return 0;
}

static int check_dir_chain(const char *path, ptap_error *err)
{
    char dir[PATH_MAX];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(dir))
        return ptap_error_set(err, -EINVAL, EX_CONFIG, "'%s': invalid path", path);
    if (path[0] != '/')
        return ptap_error_set(err, -EPERM, EX_CONFIG, "'%s': the policy path must be absolute",
                              path);
    memcpy(dir, path, n + 1);
    for (;;) {
        char *slash = strrchr(dir, '/');
        struct stat st;

        if (!slash)
            break;
        if (slash == dir)
            slash[1] = '\0'; /* "/" itself */
        else
            *slash = '\0';
        if (stat(dir, &st) < 0) {
            int r = negative_errno();

            return ptap_error_set(err, r, EX_CONFIG, "cannot check directory '%s': %s", dir,
                                  strerror(-r));
        }
        if (!S_ISDIR(st.st_mode))
            return ptap_error_set(err, -EPERM, EX_CONFIG, "'%s' is not a directory", dir);
        if (st.st_uid != 0)
            return ptap_error_set(err, -EPERM, EX_CONFIG, "directory '%s' is not owned by root",
                                  dir);
        if (st.st_mode & (S_IWGRP | S_IWOTH))
            return ptap_error_set(err, -EPERM, EX_CONFIG,
                                  "directory '%s' is writable by group or others", dir);
        if (strcmp(dir, "/") == 0)
            break;
    }
    return 0;
}

int ptap_policy_check_trust(int fd, const char *path, ptap_error *err)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        int r = negative_errno();

        return ptap_error_set(err, r, EX_CONFIG, "cannot check '%s': %s", path, strerror(-r));
    }
    if (!S_ISREG(st.st_mode))
        return ptap_error_set(err, -EPERM, EX_CONFIG, "'%s' is not a regular file", path);
    if (st.st_uid != 0)
        return ptap_error_set(err, -EPERM, EX_CONFIG, "'%s' is not owned by root", path);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return ptap_error_set(err, -EPERM, EX_CONFIG, "'%s' is writable by group or others", path);
    return check_dir_chain(path, err);
}

int ptap_policy_load_fd(int fd, const char *path, const ptap_policy_resolver *res,
                        ptap_policy **ret, ptap_error *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r;

    r = ptap_policy_check_trust(fd, path, err);
    if (r < 0)
        return r;
    r = ptap_read_all(fd, PTAP_POLICY_MAX_SIZE, &buf, &len);
    if (r == -EFBIG)
        return ptap_error_set(err, r, EX_CONFIG, "%s: file too large (more than %u bytes)", path,
                              PTAP_POLICY_MAX_SIZE);
    if (r < 0)
        return ptap_error_set(err, r, EX_CONFIG, "cannot read '%s': %s", path, strerror(-r));
    return ptap_policy_parse(buf, len, path, res, ret, err);
}

static bool in_groups(unsigned gid, const gid_t *groups, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

static bool bridge_matches(const ptap_policy_rule *r, const char *bridge)
{
    switch (r->bridge_kind) {
    case PTAP_POLICY_BRIDGE_ANY:
        return bridge != NULL;
    case PTAP_POLICY_BRIDGE_NONE:
        return bridge == NULL;
    case PTAP_POLICY_BRIDGE_NAMED:
        return bridge && strcmp(bridge, r->bridge) == 0;
    }
    return false;
}

static bool subject_matches(const ptap_policy_rule *r, const ptap_policy_request *req)
{
    switch (r->subject) {
    case PTAP_POLICY_USER:
        return r->id == req->uid;
    case PTAP_POLICY_GROUP:
        return in_groups(r->id, req->groups, req->n_groups);
    case PTAP_POLICY_BRIDGE:
        return false;
    }
    return false;
}

/* The quota of an allow rule: its "max", or the default limit. */
static unsigned rule_max(const ptap_policy_rule *r)
{
    return r->has_max ? r->max : PTAP_POLICY_DEFAULT_MAX;
}

int ptap_policy_decide(const ptap_policy *p, const ptap_policy_request *req,
                       const ptap_policy_rule **allowed_by, ptap_error *err)
{
    const char *bridge = req->bridge && *req->bridge ? req->bridge : NULL;
    const char *file = p && p->filename ? p->filename : "(policy)";
    const ptap_policy_rule *over = NULL;
    unsigned long want = (unsigned long) req->owned + req->count;

    if (allowed_by)
        *allowed_by = NULL;
    if (req->uid == 0)
        return 0; /* root is not bound by the policy */
    if (!p)
        return ptap_error_set(err, -EACCES, EX_NOPERM, "no policy: denied by default");
    /* Deny wins: look at every deny rule before any allow rule. */
    for (size_t i = 0; i < p->n_rules; i++) {
        const ptap_policy_rule *r = &p->rules[i];

        if (r->action != PTAP_POLICY_DENY)
            continue;
        if (r->subject == PTAP_POLICY_BRIDGE ? bridge_matches(r, bridge)
                                             : subject_matches(r, req)) {
            /* Name what was denied: the bridge, or the caller. */
            if (r->subject != PTAP_POLICY_BRIDGE)
                return ptap_error_set(err, -EACCES, EX_NOPERM, "uid %u is denied by %s:%u",
                                      (unsigned) req->uid, file, r->line);
            if (bridge)
                return ptap_error_set(err, -EACCES, EX_NOPERM, "bridge '%s' is denied by %s:%u",
                                      bridge, file, r->line);
            return ptap_error_set(err, -EACCES, EX_NOPERM,
                                  "a tap without bridge is denied by %s:%u", file, r->line);
        }
    }
    for (size_t i = 0; i < p->n_rules; i++) {
        const ptap_policy_rule *r = &p->rules[i];

        if (r->action != PTAP_POLICY_ALLOW || !subject_matches(r, req) ||
            !bridge_matches(r, bridge))
            continue;
        if (want <= rule_max(r)) {
            if (allowed_by)
                *allowed_by = r;
            return 0;
        }
        if (!over || rule_max(r) > rule_max(over))
            over = r;
    }
    if (over)
        return ptap_error_set(err, -EDQUOT, EX_NOPERM,
                              "quota of %u taps exceeded (%u owned, %u asked; %s:%u%s)",
                              rule_max(over), req->owned, req->count, file, over->line,
                              over->has_max ? "" : ", the default limit of a rule without 'max'");
    if (bridge)
        return ptap_error_set(err, -EACCES, EX_NOPERM,
                              "no rule in %s allows uid %u on bridge '%s'", file,
                              (unsigned) req->uid, bridge);
    return ptap_error_set(err, -EACCES, EX_NOPERM,
                          "no rule in %s allows uid %u a tap without bridge", file,
                          (unsigned) req->uid);
}

int ptap_policy_check_owner(uid_t uid, const gid_t *groups, size_t n_groups,
                            uid_t owner, gid_t group, ptap_error *err)
{
    if (uid == 0)
        return 0;
    if (owner != uid)
        return ptap_error_set(err, -EPERM, EX_NOPERM,
                              "only root may create a tap owned by another user");
    if (group != (gid_t) -1 && !in_groups(group, groups, n_groups))
        return ptap_error_set(err, -EPERM, EX_NOPERM, "gid %u is not one of the caller's groups",
                              (unsigned) group);
    return 0;
}

const char *ptap_policy_ovsdb_socket(const ptap_policy *p)
{
    return p && *p->ovsdb_socket ? p->ovsdb_socket : PTAP_OVSDB_SOCKET_DEFAULT;
}

int ptap_policy_scan_ovsdb_socket(const char *text, size_t len, char *buf, size_t size)
{
    size_t pos = 0;
    bool found = false;

    snprintf(buf, size, "%s", PTAP_OVSDB_SOCKET_DEFAULT);
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t l = nl ? (size_t) (nl - (text + pos)) : len - pos;
        char line[PTAP_POLICY_MAX_LINE + 1], *tok[3], *s, *save = NULL;
        size_t n = 0;

        if (l > PTAP_POLICY_MAX_LINE || memchr(text + pos, '\0', l))
            return -EINVAL; /* the full parse refuses this file */
        memcpy(line, text + pos, l);
        line[l] = '\0';
        pos += l + (nl ? 1 : 0);
        s = strchr(line, '#');
        if (s)
            *s = '\0';
        for (s = strtok_r(line, " \t\r", &save); s && n < 3; s = strtok_r(NULL, " \t\r", &save))
            tok[n++] = s;
        if (n == 0 || strcmp(tok[0], "ovsdb-socket") != 0)
            continue;
        if (n != 2 || found || ptap_ovsdb_path_check(tok[1], NULL) < 0 || strlen(tok[1]) >= size) {
            snprintf(buf, size, "%s", PTAP_OVSDB_SOCKET_DEFAULT);
            return -EINVAL;
        }
        snprintf(buf, size, "%s", tok[1]);
        found = true;
    }
    return found ? 1 : 0;
}
