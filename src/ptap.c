/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap: the libvirt-side command of ptap. Parses arguments, calls
 * libptap, and is the only layer that talks to the user.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "validate.h"

static const char usage_text[] =
    "Usage: ptap [GLOBAL OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Hot-plug NICs into running QEMU/KVM guests through persistent taps.\n"
    "\n"
    "Pool of taps:\n"
    "  create [TEMPLATE] [--count N] [--owner U] [--group G] [--bridge BR]\n"
    "         [--mtu N] [--mac MAC] [--multi-queue] [--vnet-hdr]\n"
    "  destroy NAME...          remove taps (one batch)\n"
    "  list [--json]            journal and kernel side by side\n"
    "  forget NAME...           drop records of devices that no longer exist\n"
    "\n"
    "Guests:\n"
    "  attach TARGET [--tap NAME | --bridge BR ...] [--model M] [--queues N]\n"
    "         [--vhost] [--id ID] [--mac MAC] [--method device|monitor]\n"
    "         [--connect URI] [--timeout S]\n"
    "  detach TARGET (--tap NAME | --id ID | --mac MAC) [--keep-tap] [--timeout S]\n"
    "  release DOMAIN           destroy every tap on record for a guest\n"
    "  TARGET is a libvirt domain (name or UUID), qmp:PATH or hmp:PATH\n"
    "\n"
    "Recovery and the journal:\n"
    "  recover [--dry-run] [--json]\n"
    "  watch [--grace S]        follow rtnetlink and clean up as things vanish\n"
    "  journal dump|check|compact\n"
    "\n"
    "Global options:\n"
    "  --state-dir DIR  journal directory (default /run/ptap for root,\n"
    "                   $XDG_RUNTIME_DIR/ptap otherwise)\n"
    "  --json           machine-readable output\n"
    "  -v, --verbose    debug messages on stderr\n"
    "  -h, --help       this text;  -V, --version  the version\n"
    "\n"
    "Exit codes: 0 ok, 64 usage or invalid input, 69 target unavailable,\n"
    "71 the system refused, 77 denied by policy, 78 bad or unsafe configuration.\n"
    "See ptap(1).\n";

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

    fprintf(stderr, "ptap %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'ptap --help'.\n");
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

static void log_stderr(int prio, const char *msg, void *userdata)
{
    (void) userdata;
    fprintf(stderr, "ptap: %s%s\n", prio >= LOG_DEBUG ? "debug: " : "", msg);
}

bool cli_global_opt(cli *c, int opt, const char *arg)
{
    switch (opt) {
    case 'S':
        c->state_dir = arg;
        return true;
    case 'v':
        c->verbose = true;
        ptap_log_set_handler(log_stderr, NULL);
        return true;
    case 'j':
        c->json = true;
        return true;
    default:
        return false;
    }
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

int cli_open_journal(cli *c, bool write, ptap_journal **ret)
{
    char dir[4096];
    int r;

    if (c->state_dir) {
        /* Validate, never truncate: a cut path may name another directory. */
        if (strlen(c->state_dir) >= sizeof(dir))
            return -cli_err(EX_USAGE, "invalid --state-dir '%.32s...': longer than %zu bytes",
                            c->state_dir, sizeof(dir) - 1);
        snprintf(dir, sizeof(dir), "%s", c->state_dir);
    } else {
        r = ptap_journal_default_dir(dir, sizeof(dir));
        if (r == -ENAMETOOLONG)
            return -cli_err(EX_CONFIG, "XDG_RUNTIME_DIR is too long (use --state-dir DIR)");
        if (r < 0)
            return -cli_err(EX_CONFIG,
                            "no state directory: XDG_RUNTIME_DIR is not set (use --state-dir DIR)");
    }
    r = ptap_journal_open(dir, write ? PTAP_JOURNAL_CREATE : PTAP_JOURNAL_READONLY, ret);
    if (r == -ENOENT && !write && parent_exists(dir)) {
        /* Nothing on record yet: read an empty journal, without creating
         * one (a reader never writes). Its id matches no tap's mark. */
        static const char empty[] =
            "<ptap-journal version=\"1\" id=\"0000000000000000\" next-seq=\"1\">\n";
        return ptap_journal_load_buffer(empty, sizeof(empty) - 1, ret) < 0
                   ? -cli_err(EX_OSERR, "cannot read an empty journal")
                   : 0;
    }
    if (r == -EPERM || r == -ELOOP)
        return -cli_err(EX_CONFIG,
                        "refusing state directory '%s': it or its journal is a symlink or "
                        "belongs to another user",
                        dir);
    /* Say what is wrong and where: even 'ptap journal check' stops here. */
    if (r == -EBADMSG || r == -EPROTONOSUPPORT)
        return -cli_err(EX_CONFIG, "journal in '%s' is %s: %s", dir,
                        r == -EBADMSG ? "damaged" : "of an unknown format version",
                        *ptap_journal_last_error() ? ptap_journal_last_error() : strerror(-r));
    /* Only the last component of a state directory is created: a missing
     * parent is a bad --state-dir (or XDG_RUNTIME_DIR), not a system error. */
    if (r == -ENOENT || r == -ENOTDIR)
        return -cli_err(EX_CONFIG, "cannot open journal in '%s': %s%s", dir, strerror(-r),
                        r == -ENOENT ? " (its parent directory must exist)" : "");
    if (r < 0)
        return -cli_err(r == -EACCES ? EX_NOPERM : EX_OSERR, "cannot open journal in '%s': %s",
                        dir, strerror(-r));
    return 0;
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
        return -cli_err(EX_USAGE, "unknown user '%s'", s);
    if (r < 0)
        return -cli_err(EX_USAGE, "invalid user '%s'", s);
    return 0;
}

int cli_parse_group(const char *s, gid_t *ret)
{
    int r = ptap_parse_group(s, ret);

    if (r == -ENOENT)
        return -cli_err(EX_USAGE, "unknown group '%s'", s);
    if (r < 0)
        return -cli_err(EX_USAGE, "invalid group '%s'", s);
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(cli *c, int argc, char **argv);
} commands[] = {
    { "create", cmd_create },   { "destroy", cmd_destroy }, { "list", cmd_list },
    { "recover", cmd_recover }, { "forget", cmd_forget },   { "journal", cmd_journal },
    { "attach", cmd_attach },   { "detach", cmd_detach },   { "release", cmd_release },
    { "watch", cmd_watch },
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_GLOBAL_OPTS,
        { "version", no_argument, NULL, 'V' },
        {},
    };
    cli c = { 0 };
    int opt;

    while ((opt = getopt_long(argc, argv, "+vhV", opts, NULL)) != -1) {
        if (cli_global_opt(&c, opt, optarg))
            continue;
        switch (opt) {
        case 'h':
            fputs(usage_text, stdout);
            return EX_OK;
        case 'V':
            printf("ptap %s\n", PTAP_VERSION);
            return EX_OK;
        default:
            fputs("Try 'ptap --help'.\n", stderr);
            return EX_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return EX_USAGE;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (strcmp(argv[optind], commands[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;

            optind = 0; /* reset getopt for the subcommand (glibc) */
            int r = commands[i].fn(&c, sub_argc, sub_argv);
            if (c.verbose)
                ptap_log_set_handler(NULL, NULL);
            return r;
        }
    fprintf(stderr, "ptap: unknown command '%s'\nTry 'ptap --help'.\n", argv[optind]);
    return EX_USAGE;
}
