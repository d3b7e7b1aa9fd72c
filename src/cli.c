/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli.c: what every subcommand of ptap shares: messages and exit codes,
 * opening the journal, users and groups, JSON output.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "validate.h"

int cli_err(int code, const char *fmt, ...)
{
    va_list ap;

    fputs("ptap: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ptap%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'ptap%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
    return EX_USAGE;
}

int cli_fail(const ptap_error *err, int r, const char *what)
{
    if (err && err->code) {
        cli_err(0, "%s", err->msg);
        return ptap_error_exit_code(err);
    }
    ptap_error e = { 0 };
    ptap_error_set(&e, r, 0, "%s: %s", what, strerror(-r));
    cli_err(0, "%s", e.msg);
    return ptap_error_exit_code(&e);
}

/* Does the directory that would hold state dir @dir exist? (A reader
 * treats a missing journal as empty only where a writer could create it.) */
static bool parent_exists(const char *dir)
{
    char parent[4096];
    char *slash;
    struct stat st;

    snprintf(parent, sizeof(parent), "%s", dir);
    while ((slash = strrchr(parent, '/')) && slash[1] == '\0' && slash != parent)
        *slash = '\0'; /* trailing slashes */
    slash = strrchr(parent, '/');
    if (!slash)
        return true; /* relative, in the current directory */
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    return stat(parent, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The lock is taken: say who holds it, once, while waiting. */
static void lock_notice(const char *path, const char *holder, void *userdata)
{
    const unsigned *wait_s = userdata;

    cli_err(0, "waiting for journal '%s': locked by %s (giving up after %u s; --wait SECONDS)",
            path, holder, *wait_s);
}

int cli_open_journal(cli *c, bool write, ptap_journal **ret)
{
    ptap_error err = { 0 };
    unsigned wait_s = c->wait_given ? c->wait_s : CLI_WAIT_DEFAULT_S;
    ptap_journal_wait wait = {
        .timeout_ms = wait_s * 1000,
        .notice_ms = 1000,
        .notice = lock_notice,
        .userdata = &wait_s,
    };
    char dir[4096];
    int r;

    if (c->state_dir) {
        /* Validate, never truncate: a cut path may name another directory. */
        if (strlen(c->state_dir) >= sizeof(dir))
            return cli_err(EX_USAGE, "invalid --state-dir '%.32s...': longer than %zu bytes",
                            c->state_dir, sizeof(dir) - 1);
        snprintf(dir, sizeof(dir), "%s", c->state_dir);
    } else {
        r = ptap_journal_default_dir(dir, sizeof(dir));
        if (r == -ENAMETOOLONG)
            return cli_err(EX_CONFIG, "XDG_RUNTIME_DIR is too long (use --state-dir DIR)");
        if (r < 0)
            return cli_err(EX_CONFIG,
                           "no state directory: XDG_RUNTIME_DIR is not set (use --state-dir DIR)");
    }
    r = ptap_journal_open_wait(dir, write ? PTAP_JOURNAL_CREATE : PTAP_JOURNAL_READONLY, &wait,
                               ret, &err);
    /* Another ptap holds the lock (stopped, or just slow): name it. */
    if (r == -EWOULDBLOCK)
        return cli_err(EX_TEMPFAIL, "%s%s", *err.msg ? err.msg : "the journal is locked",
                       wait_s ? " (--wait SECONDS waits longer)" : "");
    if (r == -ENOENT && !write && parent_exists(dir)) {
        /* Nothing on record yet: read an empty journal, without creating
         * one (a reader never writes). Its id matches no tap's mark. */
        static const char empty[] =
            "<ptap-journal version=\"1\" id=\"0000000000000000\" next-seq=\"1\">\n";
        return ptap_journal_load_buffer(empty, sizeof(empty) - 1, ret, NULL) < 0
                   ? cli_err(EX_OSERR, "cannot read an empty journal")
                   : EX_OK;
    }
    if (r == -EPERM || r == -ELOOP)
        return cli_err(EX_CONFIG,
                       "refusing state directory '%s': it or its journal is a symlink or "
                       "belongs to another user",
                       dir);
    /* Say what is wrong and where: even 'ptap journal check' stops here. */
    if (r == -EBADMSG || r == -EPROTONOSUPPORT)
        return cli_err(EX_CONFIG, "journal in '%s' is %s: %s", dir,
                       r == -EBADMSG ? "damaged" : "of an unknown format version",
                       *err.msg ? err.msg : strerror(-r));
    /* Only the last component of a state directory is created: a missing
     * parent is a bad --state-dir (or XDG_RUNTIME_DIR), not a system error. */
    if (r == -ENOENT || r == -ENOTDIR)
        return cli_err(EX_CONFIG, "cannot open journal in '%s': %s%s", dir, strerror(-r),
                       r == -ENOENT ? " (its parent directory must exist)" : "");
    if (r < 0)
        return cli_err(r == -EACCES ? EX_NOPERM : EX_OSERR, "cannot open journal in '%s': %s",
                       dir, strerror(-r));
    return EX_OK;
}

void cli_print_json(json_object *o)
{
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

int cli_parse_owner(const char *s, uid_t *ret)
{
    int r = ptap_parse_user(s, ret);

    if (r == -ENOENT)
        return cli_err(EX_USAGE, "unknown user '%s'", s);
    if (r < 0)
        return cli_err(EX_USAGE, "invalid user '%s'", s);
    return EX_OK;
}

int cli_parse_group(const char *s, gid_t *ret)
{
    int r = ptap_parse_group(s, ret);

    if (r == -ENOENT)
        return cli_err(EX_USAGE, "unknown group '%s'", s);
    if (r < 0)
        return cli_err(EX_USAGE, "invalid group '%s'", s);
    return EX_OK;
}

json_object *cli_netns_json(const ptap_netns *ns)
{
    json_object *o;
    char id[PTAP_NETNS_ID_MAX];

    if (!ptap_netns_known(ns))
        return NULL;
    o = json_object_new_object();
    ptap_netns_format_id(ns, id, sizeof(id));
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "name", *ns->name ? json_object_new_string(ns->name) : NULL);
    return o;
}

json_object *cli_record_json(const ptap_journal *j, const ptap_record *rec)
{
    json_object *o = json_object_new_object();
    const ptap_consumer *k = &rec->consumer;

    json_object_object_add(o, "name", json_object_new_string(rec->name));
    json_object_object_add(o, "journal", json_object_new_string(ptap_journal_id(j)));
    json_object_object_add(o, "state", json_object_new_string(ptap_state_to_string(rec->state)));
    json_object_object_add(o, "ifindex", rec->ifindex ? json_object_new_int(rec->ifindex) : NULL);
    json_object_object_add(o, "owner", json_object_new_int64(rec->owner));
    json_object_object_add(o, "group",
                           rec->group == (gid_t) -1 ? NULL : json_object_new_int64(rec->group));
    json_object_object_add(o, "bridge", *rec->bridge ? json_object_new_string(rec->bridge) : NULL);
    /* On an Open vSwitch bridge: is its port row there? (true/false, filled
     * in by list, which asks; null: not on one, or not known) */
    json_object_object_add(o, "ovs_port", NULL);
    json_object_object_add(o, "mac", *rec->mac ? json_object_new_string(rec->mac) : NULL);
    json_object_object_add(o, "mtu", rec->mtu ? json_object_new_int(rec->mtu) : NULL);
    json_object_object_add(o, "multi_queue",
                           json_object_new_boolean(!!(rec->flags & PTAP_TAP_MULTI_QUEUE)));
    json_object_object_add(o, "vnet_hdr", json_object_new_boolean(!!(rec->flags & PTAP_TAP_VNET_HDR)));
    if (k->kind == PTAP_CONSUMER_NONE) {
        json_object_object_add(o, "consumer", NULL);
    } else {
        json_object *co = json_object_new_object();
        json_object_object_add(co, "kind", json_object_new_string(ptap_consumer_kind_to_string(k->kind)));
        json_object_object_add(co, "target", json_object_new_string(k->target));
        json_object_object_add(co, "name", *k->name ? json_object_new_string(k->name) : NULL);
        json_object_object_add(co, "pid", k->pid ? json_object_new_int(k->pid) : NULL);
        json_object_object_add(co, "netdev_id", *k->netdev_id ? json_object_new_string(k->netdev_id) : NULL);
        json_object_object_add(co, "device_id", *k->device_id ? json_object_new_string(k->device_id) : NULL);
        json_object_object_add(co, "model", *k->model ? json_object_new_string(k->model) : NULL);
        json_object_object_add(co, "mac", *k->mac ? json_object_new_string(k->mac) : NULL);
        json_object_object_add(o, "consumer", co);
    }
    json_object_object_add(o, "created", json_object_new_int64(rec->created));
    json_object_object_add(o, "updated", json_object_new_int64(rec->updated));
    json_object_object_add(o, "netns", cli_netns_json(&rec->netns));
    return o;
}
