/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap-helper: the only privileged code of ptap. It creates, lists and
 * destroys persistent taps on behalf of unprivileged callers.
 *
 * Shape (QEMU's qemu-bridge-helper is the model): main() reads top to
 * bottom — secure the standard descriptors, note who called, open the
 * policy file, drop every capability but CAP_NET_ADMIN (setuid: become
 * the caller), clear the environment, then parse argv, check the policy,
 * act, report.
 *
 * Trust model:
 * - argv is hostile; it is parsed only after the privilege drop, and every
 *   value is validated, never truncated (validate.h).
 * - The policy (policy.h) comes from a root-owned file nobody else can
 *   write; root callers are not bound by it.
 * - The helper acts only on taps that carry ptap's mark (ifalias "ptap" or
 *   "ptap:TAG"), and a non-root caller only on taps it owns. It never
 *   attaches to an existing device (IFF_TUN_EXCL).
 * - Open vSwitch (ovsdb.h): the database socket, root's, is connected
 *   before the drop, at the path the trusted policy file names (never the
 *   caller's); only validated names, MACs, UUIDs and marks go into
 *   requests, and a non-root caller sees and deletes only port rows whose
 *   ptap-mark names it, never one whose tap is alive.
 *
 * Caller death and signals: SIGTERM, SIGINT, SIGHUP and SIGPIPE, and the
 * parent-death signal the helper arms for itself (exec of a setuid or
 * file-capability binary clears it, and so does the uid change), are
 * blocked while one group of taps (up to 64) is being made: each is
 * finished (marked and persistent) or rolled back, then the helper stops,
 * creates no more, and exits 71. Taps it made are marked; the caller's
 * recovery finds them by their mark ("ptap:TAG" with --tag). SIGKILL can strike at any
 * point: the crash-window order in tap.h leaves nothing or a marked tap.
 *
 * A kernel failure in the middle of "create --count N" rolls back the
 * taps this run made (one batch delete) and exits 71.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <net/if.h>
#include <cap-ng.h>

#include "fault.h"
#include "link.h"
#include "log.h"
#include "mark.h"
#include "ovsdb.h"
#include "policy.h"
#include "tap.h"
#include "util.h"
#include "validate.h"

#define QUOTA_LOCK_WAIT_MS 10000
#define MAX_GROUPS 65536

struct caller {
    uid_t uid;
    gid_t gid;
    gid_t *groups;    /* gid + supplementary groups, before the drop */
    size_t n_groups;
    pid_t ppid;
    bool setuid_mode; /* euid 0, real uid not */
};

struct options {
    const char *command;
    char **names;
    size_t n_names;
    const char *config;
    const char *owner, *group, *bridge, *mtu, *mac, *count, *tag;
    const char *attached_mac, *iface_id, *vm_uuid; /* OVS external_ids */
    bool multi_queue, vnet_hdr, json;
    bool wait; /* --wait: check, then act only once told "go" on stdin */
    bool view; /* --view (destroy --wait): print the links (the NAMEs') first */
    bool help, version;
};

static volatile sig_atomic_t stop_signal;

/*
 * The audit trail (syslog). A helper started with --wait leaves no trace
 * until it is told to go: a refusal it finds before that is logged (and
 * its exit code given) only if the go comes; one never told to go did
 * nothing and logs nothing (its caller chose another way).
 */
#define AUDIT_HELD_MAX 8

static struct {
    bool waiting; /* --wait, and no go yet */
    bool answered; /* a line came, go or not */
    unsigned n;
    int prio[AUDIT_HELD_MAX];
    char line[AUDIT_HELD_MAX][256];
} held;

__attribute__((format(printf, 2, 3))) static void audit(int prio, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (held.waiting) {
        if (held.n < AUDIT_HELD_MAX) {
            held.prio[held.n] = prio;
            vsnprintf(held.line[held.n++], sizeof(held.line[0]), fmt, ap);
        }
    } else {
        vsyslog(prio, fmt, ap);
    }
    va_end(ap);
}

static void audit_release(void)
{
    held.waiting = false;
    for (unsigned i = 0; i < held.n; i++)
        syslog(held.prio[i], "%s", held.line[i]);
    held.n = 0;
}


/* The Open vSwitch database, connected before the privilege drop (its
 * socket is root's): NULL when no server listens there (ovs.err says
 * why). Its path comes from the root-owned policy file only. */
static struct {
    ptap_ovsdb *db;
    int err;
    char path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
} ovs;

/*
 * The caller's environment is gone before any code of ours or of a library
 * runs with privilege. Library constructors run before main(): libnl-route's
 * opens $NLSYSCONFDIR/classid, libnl's honours NLDBG and NLCB. An
 * executable's .preinit_array runs before every shared library's
 * initialiser, so this is the first code after the dynamic loader (which
 * itself ignores unsafe LD_* variables for a setuid or file-capability
 * program). clearenv() is not enough here: libc's own initialiser, which
 * runs next, sets environ again from @envp; so @envp itself is emptied.
 * Test builds keep PTAP_FAULT (read first).
 */
static void secure_std_fds(void);

static void helper_preinit(int argc, char **argv, char **envp)
{
    (void) argc;
    (void) argv;
    secure_std_fds(); /* before a constructor opens anything */
    environ = envp;
    ptap_fault_init();
    if (envp)
        envp[0] = NULL;
    environ = envp;
}
__attribute__((section(".preinit_array"), used)) static void (*const preinit_hook)(
    int, char **, char **) = helper_preinit;

static void _printf_(1, 2) error(const char *fmt, ...)
{
    va_list ap;

    fputs("ptap-helper: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* A setuid program may be started with 0, 1 or 2 closed; the next open
 * would then land there and our messages in that file. */
static void secure_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0) {
            int n = open("/dev/null", O_RDWR);

            if (n < 0 || n != fd)
                _exit(EX_OSERR);
        }
}

static int get_caller(struct caller *c)
{
    int n;

    c->uid = getuid();
    c->gid = getgid();
    c->ppid = getppid();
    c->setuid_mode = geteuid() == 0 && c->uid != 0;
    n = getgroups(0, NULL);
    if (n < 0 || n > MAX_GROUPS)
        return -EINVAL;
    c->groups = calloc((size_t) n + 1, sizeof(gid_t));
    if (!c->groups)
        return -ENOMEM;
    c->groups[0] = c->gid;
    n = getgroups(n, c->groups + 1);
    if (n < 0)
        return negative_errno();
    c->n_groups = (size_t) n + 1;
    return 0;
}

/*
 * Is this process in the initial user namespace? There, uid_map maps every
 * id to itself: "0 0 4294967295". Inside "unshare -Ur" uid 0 is somebody
 * else mapped, with no privilege over the host's network: such a "root"
 * must not skip the policy and ownership checks. (A process able to fake
 * /proc/self/uid_map with a mount is already in a namespace of its own, and
 * has no privilege of the helper's to gain.) Returns 1, 0, or -errno.
 */
static int in_initial_userns(void)
{
    _cleanup_close_ int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    char buf[256];
    unsigned long inside, outside, count;
    char extra;
    ssize_t n;

    if (fd < 0)
        return negative_errno();
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        return negative_errno();
    buf[n] = '\0';
    if (sscanf(buf, "%lu %lu %lu %c", &inside, &outside, &count, &extra) != 3)
        return 0;
    return inside == 0 && outside == 0 && count == 4294967295UL;
}

/*
 * Keep CAP_NET_ADMIN (effective, permitted) and nothing else.
 * setuid-root: become the caller (real, effective, saved uid and gid),
 *   drop supplementary groups, clear the bounding set.
 * root caller: stay uid 0 with only CAP_NET_ADMIN, bounding set cleared.
 * file capability (cap_net_admin+ep): already the caller; the bounding
 *   set cannot be changed without CAP_SETPCAP and needs not be (see
 *   no_new_privs below).
 * Without CAP_NET_ADMIN at all (plain binary) every capability is
 * dropped and "list" still works; changes fail with the kernel's EPERM.
 * Ambient capabilities are cleared, and no_new_privs is set: nothing
 * this process could exec may gain privilege.
 */
static int drop_privileges(const struct caller *c)
{
    bool have;
    int r;

    capng_get_caps_process();
    have = capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN);
    capng_clear(CAPNG_SELECT_BOTH);
    if (have && capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_NET_ADMIN) < 0)
        return -EINVAL;
    if (c->setuid_mode)
        r = capng_change_id((int) c->uid, (int) c->gid,
                            CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
    else if (c->uid == 0)
        r = capng_apply(CAPNG_SELECT_BOTH);
    else
        r = capng_apply(CAPNG_SELECT_CAPS);
    if (r < 0)
        return -EPERM;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return negative_errno();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return negative_errno();

    /* Verify, do not trust: ids and capabilities are what we meant. */
    {
        uid_t ru, eu, su;
        gid_t rg, eg, sg;

        if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
            return negative_errno();
        if (ru != c->uid || eu != c->uid || su != c->uid ||
            (c->setuid_mode && (rg != c->gid || eg != c->gid || sg != c->gid)))
            return -EPERM;
    }
    capng_get_caps_process();
    if (capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_FULL)
        return -EPERM;
    for (unsigned cap = 0; cap <= CAP_LAST_CAP; cap++)
        if (cap != CAP_NET_ADMIN &&
            (capng_have_capability(CAPNG_EFFECTIVE, cap) ||
             capng_have_capability(CAPNG_PERMITTED, cap)))
            return -EPERM;
    return 0;
}

static void install_signals(const struct caller *c)
{
    struct sigaction sa = { .sa_handler = on_signal };
    const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE };

    /* No SA_RESTART: a write blocked on a caller that went away returns
     * EINTR instead of hanging. */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
    /* Armed after the uid change (which clears it); if the parent died
     * before that, getppid() no longer names it. */
    (void) prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != c->ppid)
        stop_signal = SIGTERM;
}

static void block_signals(bool block)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static void usage(FILE *f)
{
    fputs("Usage:\n"
          "  ptap-helper create NAME [--owner USER|UID] [--group GROUP|GID]\n"
          "                          [--bridge BRIDGE] [--mtu N] [--mac MAC]\n"
          "                          [--multi-queue] [--vnet-hdr] [--count N] [--tag TAG]\n"
          "                          [--attached-mac MAC] [--iface-id UUID] [--vm-uuid UUID]\n"
          "  ptap-helper create NAME --wait [options above but --tag]\n"
          "  ptap-helper destroy [--wait [--view]] NAME...\n"
          "  ptap-helper destroy --wait [--view] (the NAMEs on stdin after the go)\n"
          "  ptap-helper destroy --tag TAG\n"
          "  ptap-helper restore NAME... [--bridge BRIDGE]\n"
          "  ptap-helper list [--json]\n"
          "  ptap-helper ovs-list\n"
          "  ptap-helper ovs-forget NAME...\n"
          "  ptap-helper ovs-set NAME [--attached-mac MAC] [--vm-uuid UUID]\n"
          "  ptap-helper --help | --version\n"
          "\n"
          "Creates, lists and destroys persistent taps carrying ptap's mark, as\n"
          "allowed by " PTAP_HELPER_CONF " (root may name another with --config PATH).\n"
          "NAME may be a template ending in %d. See ptap-helper(8).\n",
          f);
}

static int parse_args(int argc, char **argv, struct options *o)
{
    enum { O_OWNER = 256, O_GROUP, O_BRIDGE, O_MTU, O_MAC, O_MQ, O_VNET, O_COUNT,
           O_TAG, O_JSON, O_CONFIG, O_ATTACHED_MAC, O_IFACE_ID, O_VM_UUID, O_WAIT, O_VIEW };
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "config", required_argument, NULL, O_CONFIG },
        { "owner", required_argument, NULL, O_OWNER },
        { "group", required_argument, NULL, O_GROUP },
        { "bridge", required_argument, NULL, O_BRIDGE },
        { "mtu", required_argument, NULL, O_MTU },
        { "mac", required_argument, NULL, O_MAC },
        { "multi-queue", no_argument, NULL, O_MQ },
        { "vnet-hdr", no_argument, NULL, O_VNET },
        { "count", required_argument, NULL, O_COUNT },
        { "tag", required_argument, NULL, O_TAG },
        { "json", no_argument, NULL, O_JSON },
        { "attached-mac", required_argument, NULL, O_ATTACHED_MAC },
        { "iface-id", required_argument, NULL, O_IFACE_ID },
        { "vm-uuid", required_argument, NULL, O_VM_UUID },
        { "wait", no_argument, NULL, O_WAIT },
        { "view", no_argument, NULL, O_VIEW },
        {},
    };
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
        const char **slot = NULL;

        switch (opt) {
        case 'h': o->help = true; break;
        case 'V': o->version = true; break;
        case O_CONFIG: slot = &o->config; break;
        case O_OWNER: slot = &o->owner; break;
        case O_GROUP: slot = &o->group; break;
        case O_BRIDGE: slot = &o->bridge; break;
        case O_MTU: slot = &o->mtu; break;
        case O_MAC: slot = &o->mac; break;
        case O_COUNT: slot = &o->count; break;
        case O_TAG: slot = &o->tag; break;
        case O_ATTACHED_MAC: slot = &o->attached_mac; break;
        case O_IFACE_ID: slot = &o->iface_id; break;
        case O_VM_UUID: slot = &o->vm_uuid; break;
        case O_MQ: o->multi_queue = true; break;
        case O_VNET: o->vnet_hdr = true; break;
        case O_JSON: o->json = true; break;
        case O_WAIT: o->wait = true; break;
        case O_VIEW: o->view = true; break;
        case ':':
            error("option '%s' needs a value", argv[optind - 1]);
            return -EINVAL;
        default:
            error("unknown option '%s'", argv[optind - 1]);
            return -EINVAL;
        }
        if (slot) {
            if (*slot) {
                error("option '%s' given twice", argv[optind - 2]);
                return -EINVAL;
            }
            *slot = optarg;
        }
    }
    if (o->help || o->version)
        return 0;
    if (optind >= argc) {
        error("no command given");
        return -EINVAL;
    }
    o->command = argv[optind];
    o->names = argv + optind + 1;
    o->n_names = (size_t) (argc - optind - 1);

    /* Options that make no sense for the command are errors, not ignored. */
    {
        bool is_create = strcmp(o->command, "create") == 0;
        bool is_destroy = strcmp(o->command, "destroy") == 0;
        bool is_list = strcmp(o->command, "list") == 0;
        bool is_restore = strcmp(o->command, "restore") == 0;
        bool is_ovs_list = strcmp(o->command, "ovs-list") == 0;
        bool is_ovs_forget = strcmp(o->command, "ovs-forget") == 0;
        bool is_ovs_set = strcmp(o->command, "ovs-set") == 0;

        if (!is_create && !is_destroy && !is_list && !is_restore && !is_ovs_list &&
            !is_ovs_forget && !is_ovs_set) {
            error("unknown command '%s'", o->command);
            return -EINVAL;
        }
        if (!is_create && !is_ovs_set && (o->attached_mac || o->iface_id || o->vm_uuid)) {
            error("'--attached-mac', '--iface-id' and '--vm-uuid' are options of 'create' only");
            return -EINVAL;
        }
        if (is_ovs_set && (o->iface_id || o->n_names != 1)) {
            error("'ovs-set' takes one NAME, '--attached-mac' and '--vm-uuid'");
            return -EINVAL;
        }
        if ((is_ovs_list || is_ovs_forget || is_ovs_set) &&
            (o->owner || o->group || o->bridge || o->mtu || o->mac || o->count || o->tag ||
             o->multi_queue || o->vnet_hdr || o->json)) {
            error("'%s' takes no options", o->command);
            return -EINVAL;
        }
        if (is_ovs_list && o->n_names) {
            error("'ovs-list' takes no names");
            return -EINVAL;
        }
        if (is_ovs_forget && o->n_names == 0) {
            error("'ovs-forget' needs at least one NAME");
            return -EINVAL;
        }
        if (is_restore && (o->owner || o->group || o->mtu || o->mac || o->count ||
                           o->multi_queue || o->vnet_hdr || o->tag)) {
            error("'restore' takes no option but '--bridge'");
            return -EINVAL;
        }
        if (is_restore && o->n_names == 0) {
            error("'restore' needs at least one NAME");
            return -EINVAL;
        }
        if (!is_create && !is_restore && (o->owner || o->group || o->bridge || o->mtu || o->mac ||
                           o->count || o->multi_queue || o->vnet_hdr)) {
            error("'%s' takes none of the create options", o->command);
            return -EINVAL;
        }
        if (!is_list && o->json) {
            error("'--json' is an option of 'list' only");
            return -EINVAL;
        }
        if (is_list && (o->tag || o->n_names)) {
            error("'list' takes no names and no '--tag'");
            return -EINVAL;
        }
        if (is_create && o->n_names != 1) {
            error("'create' takes exactly one NAME (a name or a template ending in %%d)");
            return -EINVAL;
        }
        if (is_destroy && !o->tag && o->n_names == 0 && !o->wait) {
            error("'destroy' needs at least one NAME, or '--tag TAG'");
            return -EINVAL;
        }
        if (is_destroy && o->tag && o->n_names) {
            error("'destroy' takes either NAMEs or '--tag TAG', not both");
            return -EINVAL;
        }
        if (o->wait && !is_create && !is_destroy) {
            error("'--wait' is an option of 'create' and 'destroy' only");
            return -EINVAL;
        }
        if (o->wait && o->tag) {
            error("'--wait' takes the tag from its \"go\" line, not from '--tag'");
            return -EINVAL;
        }
        if (o->view && (!is_destroy || !o->wait)) {
            error("'--view' is an option of 'destroy --wait' only");
            return -EINVAL;
        }
    }
    return 0;
}

static bool is_marked_tap(const ptap_link_info *li)
{
    return li->is_tun && li->is_tap && ptap_mark_is_mark(li->alias);
}

/* Load the policy for a non-root create (or any command run by root with
 * --config, which then also checks the file). Returns an exit code. */
static int load_policy(const struct caller *c, const struct options *o, int default_fd,
                       int default_errno, ptap_policy **ret)
{
    _cleanup_close_ int fd = -1;
    const char *path = PTAP_HELPER_CONF;
    ptap_error err = { 0 };
    int r;

    if (o->config) {
        path = o->config;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
            default_errno = errno;
    } else
        fd = dup(default_fd); /* closed below, the original by main() */
    if (fd < 0) {
        error("cannot open policy '%s': %s", path,
              default_errno == ELOOP ? "it is a symbolic link" : strerror(default_errno));
        audit(LOG_WARNING, "uid=%u: cannot open policy '%s': %s", (unsigned) c->uid, path,
               strerror(default_errno));
        return EX_CONFIG;
    }
    r = ptap_policy_load_fd(fd, path, NULL, ret, &err);
    if (r < 0) {
        error("refusing policy: %s", err.msg);
        audit(LOG_WARNING, "uid=%u: refusing policy: %s", (unsigned) c->uid, err.msg);
        return EX_CONFIG;
    }
    return 0;
}

static int report_link_error(const char *verb, const char *name, ptap_link_ctx *lc, int r)
{
    const char *msg = ptap_link_message(lc);

    if (msg && *msg)
        error("cannot %s '%s': %s (%s)", verb, name, strerror(-r), msg);
    else
        error("cannot %s '%s': %s", verb, name, strerror(-r));
    return EX_OSERR;
}

/*
 * A multi-queue tap has no owner between TUNSETIFF and TUNSETOWNER, and the
 * kernel then lets any user attach a queue (a single-queue tap refuses a
 * second one with EBUSY). Once the owner is set nobody else can attach, so
 * one look after ptap_tap_open() tells: the queue count must be ours alone.
 * Returns 0 (only ours), 1 (a foreign queue), or a negative errno.
 */
static int foreign_queues(ptap_link_ctx *lc, const char *name)
{
    ptap_link_info li;
    int r;

    r = ptap_link_get_ctx(lc, name, &li);
    if (r < 0)
        return r;
    return li.queues + li.disabled_queues == 1 ? 0 : 1;
}

/* Who holds a flock on the file behind @fd (from /proc/locks), or 0. */
static pid_t lock_holder(int fd)
{
    _cleanup_fclose_ FILE *f = NULL;
    struct stat st;
    char line[256];

    if (fstat(fd, &st) < 0 || !(f = fopen("/proc/locks", "re")))
        return 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned maj, min;
        unsigned long ino;
        long pid;

        if (sscanf(line, "%*d: FLOCK %*s %*s %ld %x:%x:%lu", &pid, &maj, &min, &ino) == 4 &&
            ino == (unsigned long) st.st_ino && maj == major(st.st_dev) &&
            min == minor(st.st_dev) && pid != getpid())
            return (pid_t) pid;
    }
    return 0;
}

/*
 * --wait: the caller (ptap) starts the helper before it has read its
 * journal and written its intent, so that the helper's start and checks
 * run meanwhile; it then writes "go" (create: "go TAG") and a newline on
 * stdin, and the helper acts. Anything else, end of file or no line
 * within GO_WAIT_MS: nothing is done (EX_TEMPFAIL). The helper waits
 * holding no lock (the quota lock is taken after the go), and reads
 * bounded input.
 */
#define GO_WAIT_MS 30000
#define GO_LINE_MAX (PTAP_IFALIAS_MAX + 8)

/*
 * Read stdin into @buf (@size bytes at most, then a NUL) up to its first
 * newline (@to_eof false: *ret_len is where it is) or its end (@to_eof
 * true), GO_WAIT_MS at most. Returns EX_OK; EX_TEMPFAIL: the end came
 * first (the caller changed its mind, or died: not an error), or a
 * signal, or nothing in time; EX_USAGE: more than @size bytes.
 */
static int read_go(char *buf, size_t size, bool to_eof, size_t *ret_len)
{
    size_t len = 0;
    int64_t deadline = ptap_now_ms() + GO_WAIT_MS;

    for (;;) {
        struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
        int64_t left = deadline - ptap_now_ms();
        char *nl;
        ssize_t k;

        if (left <= 0) {
            error("not told to go within %d s: nothing done", GO_WAIT_MS / 1000);
            return EX_TEMPFAIL;
        }
        if (poll(&p, 1, (int) left) < 0) {
            if (errno == EINTR && !stop_signal)
                continue;
            error("not told to go: nothing done");
            return EX_TEMPFAIL;
        }
        if (!p.revents)
            continue;
        k = read(STDIN_FILENO, buf + len, size - len);
        if (k < 0 && errno == EINTR && !stop_signal)
            continue;
        if (k < 0 || (k == 0 && !to_eof))
            return EX_TEMPFAIL;
        buf[len + (size_t) k] = '\0';
        if (k == 0) {
            *ret_len = len;
            return EX_OK;
        }
        nl = to_eof ? NULL : memchr(buf + len, '\n', (size_t) k);
        len += (size_t) k;
        if (nl) {
            *ret_len = (size_t) (nl - buf);
            return EX_OK;
        }
        if (len == size) {
            held.answered = true;
            error("more than %zu bytes after --wait: nothing done", size);
            return EX_USAGE;
        }
    }
}

/* The go line of a create or of a destroy of NAMEs: @tag gets its tag
 * ("" if none). Returns an exit code. */
static int wait_go(char *tag, size_t size)
{
    char line[GO_LINE_MAX + 1];
    size_t len;
    int ret = read_go(line, GO_LINE_MAX, false, &len);

    tag[0] = '\0';
    if (ret)
        return ret;
    line[len] = '\0';
    held.answered = true;
    if (strcmp(line, "go") == 0) {
        audit_release();
        return EX_OK;
    }
    if (strncmp(line, "go ", 3) == 0 && strlen(line + 3) < size) {
        memcpy(tag, line + 3, strlen(line + 3) + 1);
        audit_release();
        return EX_OK;
    }
    error("expected \"go\" or \"go TAG\" on stdin: nothing done");
    return EX_USAGE;
}

/*
 * destroy --wait without NAMEs: the go line, then one NAME a line up to the
 * end of stdin (PTAP_COUNT_MAX at most), each checked as a NAME argument
 * is. Fills *ret (NULL-terminated) and *n; the strings are in *ret_buf.
 * Returns an exit code.
 */
#define GO_NAMES_MAX PTAP_COUNT_MAX
#define GO_NAMES_BYTES ((size_t) GO_NAMES_MAX * IFNAMSIZ + 8)

static int wait_go_names(char **ret_buf, char ***ret, size_t *n)
{
    _cleanup_free_ char *buf = malloc(GO_NAMES_BYTES + 1);
    _cleanup_free_ char **v = NULL;
    char *p, *save = NULL;
    size_t len = 0, count = 0;
    const char *why;
    int r;

    if (!buf)
        return EX_OSERR;
    /* All of it first: the go line, then the names, up to end of file. */
    r = read_go(buf, GO_NAMES_BYTES, true, &len);
    if (r)
        return r;
    p = memchr(buf, '\n', len);
    if (!p)
        return EX_TEMPFAIL; /* no go line: the caller changed its mind */
    held.answered = true;
    *p++ = '\0';
    if (strcmp(buf, "go") != 0) {
        error("expected \"go\" and then the names on stdin: nothing done");
        return EX_USAGE;
    }
    audit_release();
    v = calloc(GO_NAMES_MAX + 1, sizeof(char *));
    if (!v)
        return EX_OSERR;
    for (char *l = strtok_r(p, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (count == GO_NAMES_MAX || ptap_ifname_check(l, false, &why) < 0) {
            error("cannot destroy '%s': %s", l, count == GO_NAMES_MAX ? "too many names" : why);
            return EX_USAGE;
        }
        v[count++] = l;
    }
    if (count == 0) {
        error("'destroy' needs at least one NAME after the go");
        return EX_USAGE;
    }
    *ret = TAKE_PTR(v);
    *n = count;
    *ret_buf = TAKE_PTR(buf);
    return EX_OK;
}

/* A create's go: its tag makes the mark (as --tag would have). */
static int go_create(const struct caller *c, char *mark, size_t size)
{
    char tag[GO_LINE_MAX];
    const char *why;
    int ret = wait_go(tag, sizeof(tag));

    if (ret)
        return ret;
    if (ptap_mark_format_tag(c->uid, *tag ? tag : NULL, mark, size, &why) < 0) {
        error("invalid tag '%s': %s", tag, why);
        return EX_USAGE;
    }
    return EX_OK;
}

/*
 * The quota is counted and the taps made under one lock, or parallel runs
 * each see room for themselves. The lock is an exclusive flock on the
 * policy file (already open, root-owned, and the same inode for every
 * caller), held until the helper exits. A user who holds it can delay
 * others' creates (as one who stops its own helper can): the wait is
 * bounded, and the refusal names the holder. Returns an exit code.
 */
static int quota_lock(int policy_fd, const char *name)
{
    for (int waited = 0;; waited += 10) {
        if (flock(policy_fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            error("cannot create '%s': cannot lock the policy file: %s", name, strerror(errno));
            return EX_OSERR;
        }
        if (stop_signal) {
            error("cannot create '%s': stopped by signal %d while waiting for the quota lock",
                  name, (int) stop_signal);
            return EX_OSERR;
        }
        if (waited >= QUOTA_LOCK_WAIT_MS) {
            pid_t holder = lock_holder(policy_fd);

            if (holder)
                error("cannot create '%s': the quota lock on '%s' is held by pid %ld "
                      "(waited %d s)", name, PTAP_HELPER_CONF, (long) holder,
                      QUOTA_LOCK_WAIT_MS / 1000);
            else
                error("cannot create '%s': the quota lock on '%s' is held by another "
                      "process (waited %d s)", name, PTAP_HELPER_CONF, QUOTA_LOCK_WAIT_MS / 1000);
            return EX_TEMPFAIL;
        }
        usleep(10 * 1000);
    }
}

static int write_line(const char *s)
{
    if (printf("%s\n", s) < 0 || fflush(stdout) != 0)
        return -EIO;
    return 0;
}


/* ---- Open vSwitch (ovsdb.h): the tap as a port of an OVS bridge ---- */

/*
 * Before the privilege drop: the OVSDB socket is root's (mode 0750 on
 * Debian), so it is connected while the helper may, to the path the
 * trusted policy file names ("ovsdb-socket", ptap-helper.conf(5)) or the
 * standard one; never to one the caller names. Nothing is sent until a
 * command needs it; a missing server is no error (no Open vSwitch).
 */
static void ovs_connect_early(int policy_fd)
{
    snprintf(ovs.path, sizeof(ovs.path), "%s", PTAP_OVSDB_SOCKET_DEFAULT);
    if (policy_fd >= 0 && ptap_policy_check_trust(policy_fd, PTAP_HELPER_CONF, NULL) == 0) {
        _cleanup_free_ char *text = malloc(PTAP_POLICY_MAX_SIZE + 1);
        size_t len = 0;

        /* pread: the policy is read again, from its start, after the drop. */
        while (text && len <= PTAP_POLICY_MAX_SIZE) {
            ssize_t k = pread(policy_fd, text + len, PTAP_POLICY_MAX_SIZE + 1 - len, (off_t) len);

            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            len += (size_t) k;
        }
        if (text && len <= PTAP_POLICY_MAX_SIZE)
            (void) ptap_policy_scan_ovsdb_socket(text, len, ovs.path, sizeof(ovs.path));
    }
    ovs.err = ptap_ovsdb_connect(ovs.path, PTAP_OVSDB_TIMEOUT_MS, &ovs.db);
}

/* No server there: no Open vSwitch on this host (not an error). */
static bool ovs_absent(void)
{
    return !ovs.db && (ovs.err == -ENOENT || ovs.err == -ECONNREFUSED);
}

/* Is @name an OVS bridge? Returns 0 (@ob filled in) or an exit code. */
static int ovs_bridge(const char *tap, const char *name, ptap_ovsdb_bridge *ob)
{
    ptap_error err = { 0 };

    *ob = (ptap_ovsdb_bridge) { 0 };
    if (!ovs.db)
        return 0;
    if (ptap_ovsdb_bridge_get(ovs.db, name, ob, &err) < 0) {
        error("cannot create '%s': cannot ask Open vSwitch ('%s') about '%s': %s", tap, ovs.path,
              name, err.msg);
        return EX_UNAVAILABLE;
    }
    return 0;
}

/* May the caller see and remove port @p: its mark names the caller
 * (root: any ptap mark)? */
static bool ovs_port_mine(const struct caller *c, const ptap_ovsdb_port *p)
{
    ptap_mark m;

    if (ptap_mark_parse(p->mark, &m) < 0)
        return false;
    return c->uid == 0 || m.maker == c->uid;
}

/*
 * After a create on an OVS bridge: the taps @idx (@n of them) become ports
 * of o->bridge, in one transaction, with external_ids as os-vif sets them
 * and the mark. A stale row of the caller's of the same name (a tap of
 * that name deleted behind OVS's back: the kernel just gave the name to
 * this one) goes first. Returns 0 or an exit code (the taps are then
 * rolled back by the caller).
 */
static int ovs_plug(const struct caller *c, const struct options *o, const int *idx, unsigned n,
                    const char *mark, const char *attached_mac)
{
    _cleanup_free_ ptap_ovsdb_port_spec *specs = calloc(n + 1, sizeof(*specs));
    _cleanup_free_ char (*names)[IFNAMSIZ] = calloc(n + 1, IFNAMSIZ);
    _cleanup_free_ char (*ids)[PTAP_OVSDB_UUID_LEN + 1] = calloc(n + 1, PTAP_OVSDB_UUID_LEN + 1);
    _cleanup_free_ const ptap_ovsdb_port **stale = calloc(n + 1, sizeof(*stale));
    ptap_ovsdb_view v = { 0 };
    ptap_error err = { 0 };
    size_t n_stale = 0;
    int r;

    if (!specs || !names || !ids || !stale)
        return EX_OSERR;
    for (unsigned i = 0; i < n; i++) {
        if (!if_indextoname((unsigned) idx[i], names[i])) {
            error("cannot add tap %d to Open vSwitch bridge '%s': %s", idx[i], o->bridge,
                  strerror(errno));
            return EX_OSERR;
        }
        if (o->iface_id)
            snprintf(ids[i], sizeof(ids[i]), "%s", o->iface_id);
        else if (ptap_ovsdb_uuid_random(ids[i]) < 0) {
            error("cannot create '%s': cannot draw an iface-id", names[i]);
            return EX_OSERR;
        }
        specs[i] = (ptap_ovsdb_port_spec) { .name = names[i], .mark = mark,
                                            .attached_mac = attached_mac, .iface_id = ids[i],
                                            .vm_uuid = o->vm_uuid };
    }
    r = ptap_ovsdb_view_load(ovs.db, &v, &err);
    if (r >= 0) {
        for (unsigned i = 0; i < n; i++) {
            const ptap_ovsdb_port *p = ptap_ovsdb_view_port(&v, names[i]);

            if (p && ovs_port_mine(c, p))
                stale[n_stale++] = p;
        }
        if (n_stale)
            r = ptap_ovsdb_delete_ports(ovs.db, stale, n_stale, &err);
        if (r >= 0 && n_stale)
            audit(LOG_INFO, "uid=%u removed %zu stale OVS port(s) ('%s'...)", (unsigned) c->uid,
                   n_stale, stale[0]->name);
    }
    ptap_ovsdb_view_clear(&v);
    if (r >= 0)
        r = ptap_ovsdb_add_ports(ovs.db, o->bridge, specs, n, &err);
    if (r < 0) {
        error("cannot create '%s': cannot add %s to Open vSwitch bridge '%s': %s", names[0],
              n == 1 ? "it" : "the taps", o->bridge, err.msg);
        audit(LOG_ERR, "uid=%u OVS add of %u ports to '%s' failed: %s", (unsigned) c->uid, n,
               o->bridge, err.msg);
        return EX_OSERR;
    }
    audit(LOG_INFO, "uid=%u added %u port(s) ('%s'...) to OVS bridge '%s'", (unsigned) c->uid,
           n, names[0], o->bridge);
    return 0;
}

/*
 * After a destroy: the port rows of the taps just deleted (@names, each
 * with the mark @marks[i] it carried), only those rows that carry the same
 * mark; another's port of the same name is never touched. Best effort: a
 * row left behind is recovery's (ptap recover, ovs-forget).
 */
static void ovs_unplug(const struct caller *c, const char *const *names, const char *const *marks,
                       size_t n)
{
    _cleanup_free_ const ptap_ovsdb_port **gone = calloc(n + 1, sizeof(*gone));
    ptap_ovsdb_view v = { 0 };
    ptap_error err = { 0 };
    size_t k = 0;
    int r;

    if (!ovs.db || n == 0 || !gone)
        return;
    r = ptap_ovsdb_view_load(ovs.db, &v, &err);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        const ptap_ovsdb_port *p = ptap_ovsdb_view_port(&v, names[i]);

        if (p && strcmp(p->mark, marks[i]) == 0)
            gone[k++] = p;
    }
    if (r >= 0 && k)
        r = ptap_ovsdb_delete_ports(ovs.db, gone, k, &err);
    if (r < 0) {
        error("cannot remove the Open vSwitch ports of the destroyed taps: %s, ignoring "
              "('ptap recover' removes them)", err.msg);
        audit(LOG_WARNING, "uid=%u OVS port removal failed: %s", (unsigned) c->uid, err.msg);
    } else if (k)
        audit(LOG_INFO, "uid=%u removed %zu OVS port(s) ('%s'...)", (unsigned) c->uid, k,
               gone[0]->name);
    ptap_ovsdb_view_clear(&v);
}

/* Say why OVSDB cannot be asked; an exit code (0: no Open vSwitch here). */
static int ovs_unavailable(const char *what)
{
    if (ovs_absent())
        return 0;
    error("cannot %s: cannot connect to Open vSwitch's database '%s': %s", what, ovs.path,
          strerror(-ovs.err));
    return EX_UNAVAILABLE;
}

/*
 * ovs-list: the OVS bridges ("bridge NAME"), and the ports carrying a ptap
 * mark of the caller's (root: every mark): "port NAME BRIDGE|- MARK". No
 * Open vSwitch: nothing, exit 0.
 */
static int cmd_ovs_list(const struct caller *c)
{
    ptap_ovsdb_view v = { 0 };
    ptap_error err = { 0 };

    if (!ovs.db)
        return ovs_unavailable("list Open vSwitch ports");
    if (ptap_ovsdb_view_load(ovs.db, &v, &err) < 0) {
        error("cannot list Open vSwitch ports: %s", err.msg);
        return EX_UNAVAILABLE;
    }
    for (size_t i = 0; i < v.n_bridges; i++)
        printf("bridge %s\n", v.bridges[i]);
    for (size_t i = 0; i < v.n_ports; i++)
        if (ovs_port_mine(c, &v.ports[i]))
            printf("port %s %s %s\n", v.ports[i].name, *v.ports[i].bridge ? v.ports[i].bridge : "-",
                   v.ports[i].mark);
    ptap_ovsdb_view_clear(&v);
    return fflush(stdout) == 0 ? 0 : EX_OSERR;
}

/*
 * ovs-set NAME [--attached-mac MAC] [--vm-uuid UUID]: which guest the
 * port of tap NAME serves (os-vif's attached-mac and vm-uuid; each
 * removed when not given). NAME must be a marked tap the caller owns (any,
 * for root); only the Interface row carrying that tap's mark changes.
 */
static int cmd_ovs_set(const struct caller *c, const struct options *o)
{
    _cleanup_(ptap_link_closep) ptap_link_ctx *lc = NULL;
    const char *name = o->names[0], *why;
    char mac[PTAP_MAC_STRLEN] = "";
    ptap_link_info li;
    ptap_error err = { 0 };
    int r;

    if (ptap_ifname_check(name, false, &why) < 0) {
        error("cannot describe the port of '%s': %s", name, why);
        return EX_USAGE;
    }
    if (o->attached_mac) {
        uint8_t m[PTAP_MAC_LEN];

        if (ptap_mac_parse(o->attached_mac, m, &why) < 0) {
            error("invalid MAC address '%s': %s", o->attached_mac, why);
            return EX_USAGE;
        }
        ptap_mac_format(m, mac);
    }
    if (o->vm_uuid && !ptap_ovsdb_uuid_check(o->vm_uuid)) {
        error("invalid UUID '%s': not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", o->vm_uuid);
        return EX_USAGE;
    }
    r = ptap_link_open(&lc);
    if (r < 0) {
        error("cannot open rtnetlink: %s", strerror(-r));
        return EX_OSERR;
    }
    if (ptap_link_get_ctx(lc, name, &li) < 0) {
        error("cannot describe the port of '%s': no such interface", name);
        return EX_USAGE;
    }
    if (!is_marked_tap(&li)) {
        error("cannot describe the port of '%s': it is not a tap carrying ptap's mark", name);
        return EX_NOPERM;
    }
    if (c->uid != 0 && li.owner != (int64_t) c->uid) {
        error("cannot describe the port of '%s': owned by another user", name);
        return EX_NOPERM;
    }
    if (!ovs.db)
        return ovs_unavailable("describe Open vSwitch ports");
    r = ptap_ovsdb_set_guest(ovs.db, name, li.alias, *mac ? mac : NULL, o->vm_uuid, &err);
    if (r < 0) {
        error("cannot describe the port of '%s': %s", name, err.msg);
        return r == -ENOENT ? EX_USAGE : EX_UNAVAILABLE;
    }
    audit(LOG_INFO, "uid=%u port '%s': attached-mac=%s vm-uuid=%s", (unsigned) c->uid, name,
           *mac ? mac : "-", o->vm_uuid ? o->vm_uuid : "-");
    return 0;
}

/*
 * ovs-forget NAME...: delete the port rows named NAME that carry a mark of
 * the caller's (root: any ptap mark) and whose tap is gone: no marked tap
 * of that name with the row's mark exists in this network namespace. Rows
 * ptap did not make are never touched. Prints the names whose rows went.
 */
static int cmd_ovs_forget(const struct caller *c, const struct options *o)
{
    _cleanup_(ptap_link_info_freep) ptap_link_info *links = NULL;
    _cleanup_free_ const ptap_ovsdb_port **gone = calloc(o->n_names + 1, sizeof(*gone));
    ptap_ovsdb_view v = { 0 };
    ptap_error err = { 0 };
    size_t n_links = 0, k = 0;
    const char *why;
    int r;

    if (!gone)
        return EX_OSERR;
    for (size_t i = 0; i < o->n_names; i++)
        if (ptap_ifname_check(o->names[i], false, &why) < 0) {
            error("cannot forget the port of '%s': %s", o->names[i], why);
            return EX_USAGE;
        }
    if (!ovs.db)
        return ovs_unavailable("forget Open vSwitch ports");
    r = ptap_link_dump(&links, &n_links);
    if (r < 0) {
        error("cannot list links: %s", strerror(-r));
        return EX_OSERR;
    }
    if (ptap_ovsdb_view_load(ovs.db, &v, &err) < 0) {
        error("cannot list Open vSwitch ports: %s", err.msg);
        return EX_UNAVAILABLE;
    }
    for (size_t i = 0; i < o->n_names; i++) {
        const ptap_ovsdb_port *p = ptap_ovsdb_view_port(&v, o->names[i]);
        const ptap_link_info *li = ptap_link_find(links, n_links, o->names[i]);
        bool dup = false;

        if (!p || !ovs_port_mine(c, p))
            continue;
        if (li && is_marked_tap(li) && strcmp(li->alias, p->mark) == 0)
            continue; /* its tap is alive */
        for (size_t j = 0; j < k; j++)
            dup |= gone[j] == p;
        if (!dup)
            gone[k++] = p;
    }
    r = k ? ptap_ovsdb_delete_ports(ovs.db, gone, k, &err) : 0;
    if (r < 0) {
        error("cannot forget Open vSwitch ports: %s", err.msg);
        ptap_ovsdb_view_clear(&v);
        return EX_UNAVAILABLE;
    }
    for (size_t i = 0; i < k; i++) {
        audit(LOG_INFO, "uid=%u forgot the OVS port of '%s' (mark %s)", (unsigned) c->uid,
               gone[i]->name, gone[i]->mark);
        (void) write_line(gone[i]->name);
    }
    ptap_ovsdb_view_clear(&v);
    return 0;
}

/*
 * Explicit names for "create TEMPLATE --count N" (N > 1): the numbers the
 * kernel's "%d" would pick (the lowest free ones), chosen here from one
 * dump, instead of the kernel scanning every device of the namespace for
 * each tap. A name taken meanwhile is refused by TUNSETIFF (IFF_TUN_EXCL:
 * -EBUSY), and the next free number is tried.
 */
struct namer {
    const char *tmpl; /* "PREFIX%d", validated */
    size_t plen;
    uint8_t *used;    /* numbers that dump showed in use, below n_bits */
    size_t n_bits;
    size_t next;      /* the first number not tried yet */
};

static int namer_init(struct namer *nm, const char *tmpl, unsigned count,
                      const ptap_link_info *links, size_t n_links)
{
    nm->tmpl = tmpl;
    nm->plen = strlen(tmpl) - 2;
    /* The lowest @count free numbers are all below this. */
    nm->n_bits = (size_t) count + n_links + 1;
    nm->next = 0;
    nm->used = calloc((nm->n_bits + 7) / 8, 1);
    if (!nm->used)
        return -ENOMEM;
    for (size_t i = 0; i < n_links; i++) {
        const char *p = links[i].name;
        size_t v = 0;

        if (strncmp(p, tmpl, nm->plen) != 0)
            continue;
        p += nm->plen;
        /* As the kernel reads names: the number printed back must be the
         * name ("tap01" is not number 1). */
        if (!*p || (p[0] == '0' && p[1]))
            continue;
        for (; *p >= '0' && *p <= '9' && v < nm->n_bits; p++)
            v = v * 10 + (size_t) (*p - '0');
        if (!*p && v < nm->n_bits)
            nm->used[v / 8] |= (uint8_t) (1u << (v % 8));
    }
    return 0;
}

/* The next name to try into @buf; -ENFILE when it would not fit IFNAMSIZ. */
static int namer_next(struct namer *nm, char buf[IFNAMSIZ])
{
    int n;

    while (nm->next < nm->n_bits && (nm->used[nm->next / 8] & (1u << (nm->next % 8))))
        nm->next++;
    n = snprintf(buf, IFNAMSIZ, "%.*s%zu", (int) nm->plen, nm->tmpl, nm->next++);
    return n > 0 && n < IFNAMSIZ ? 0 : -ENFILE;
}

/*
 * Open one transient tap for create, without a carrier where the kernel
 * can (*@carrierless counts those): the next name of @nm (NULL: the name
 * or template as given), its index and, for a multi-queue tap, the check
 * that nobody attached a queue before its owner was set (such a tap is
 * deleted and another one made, up to 3 times per run: *@foreign).
 * Returns 0 or an exit code (the message printed).
 */
/* The index of link @name, or -errno. One socket for the whole run:
 * if_nametoindex() opens and closes one per call (~5 us a tap). */
static int ifindex_by_name(const char *name)
{
    static int sk = -1;
    struct ifreq ifr = { 0 };

    if (strlen(name) >= sizeof(ifr.ifr_name))
        return -EINVAL;
    if (sk < 0) {
        sk = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sk < 0)
            return negative_errno();
    }
    memcpy(ifr.ifr_name, name, strlen(name) + 1);
    if (ioctl(sk, SIOCGIFINDEX, &ifr) < 0)
        return negative_errno();
    return ifr.ifr_ifindex > 0 ? ifr.ifr_ifindex : -ENODEV;
}

static int open_tap(const struct caller *c, ptap_link_ctx *lc, const ptap_tap_params *params,
                    struct namer *nm, const char *name, unsigned *foreign, int *ret_fd,
                    char final[IFNAMSIZ], int *ret_ifindex, unsigned *carrierless)
{
    ptap_tap_params tp = *params;
    unsigned taken = 0;
    char want[IFNAMSIZ];
    int r;

    for (;;) {
        _cleanup_close_ int fd = -1;
        int ifindex, no_carrier;

        if (nm) {
            if (namer_next(nm, want) < 0) {
                error("cannot create '%s': no free name fits %d bytes", name, IFNAMSIZ - 1);
                return EX_OSERR;
            }
            tp.name = want;
        }
        r = ptap_tap_open(&tp, &fd, final);
        no_carrier = r > 0;
        if (r == -EBUSY && nm && ++taken < 1000)
            continue; /* made by somebody else since the dump: the next number */
        if (r < 0) {
            if (r == -EBUSY)
                error("cannot create '%s': an interface with this name already exists", name);
            else
                error("cannot create '%s': %s", name, strerror(-r));
            return EX_OSERR;
        }
        ifindex = ifindex_by_name(final);
        if (ifindex <= 0) {
            error("cannot configure '%s': %s", final, strerror(-ifindex));
            return EX_OSERR;
        }
        if (tp.multi_queue) {
            r = foreign_queues(lc, final);
            if (r != 0) {
                int d;

                /* Somebody attached a queue before the owner was set: the
                 * tap is deleted (its queues with it), never handed out. */
                d = ptap_link_delete_batch(lc, &ifindex, 1);
                if (d < 0) {
                    error("cannot create '%s': another process attached a queue to '%s' "
                          "before its owner was set, and it cannot be deleted: %s",
                          name, final, strerror(-d));
                    return EX_OSERR;
                }
                audit(LOG_WARNING, "uid=%u create '%s': a foreign queue was attached to '%s' "
                       "while it was made; deleted", (unsigned) c->uid, name, final);
                if (r > 0 && ++*foreign < 3)
                    continue; /* the same tap again */
                error("cannot create '%s': %s '%s' while it was being made (%u times); "
                      "it was deleted", name,
                      r > 0 ? "another process attached a queue to" : "cannot count the queues of",
                      final, *foreign);
                return EX_OSERR;
            }
        }
        *ret_fd = TAKE_FD(fd);
        *ret_ifindex = ifindex;
        *carrierless += no_carrier;
        return 0;
    }
}

/* The taps one round of create works on. */
#define CREATE_CHUNK 64
struct chunk {
    unsigned n;
    int fd[CREATE_CHUNK];            /* open until the chunk is done */
    int idx[CREATE_CHUNK];
    char name[CREATE_CHUNK][IFNAMSIZ];
    ptap_link_config cfg[CREATE_CHUNK];
    int err[CREATE_CHUNK];
};

/* The first of @n pipelined requests that failed (@err: their results),
 * or 0 when none says so (the transport failed). */
static int first_failed(const int *err, unsigned n)
{
    for (unsigned j = 0; j < n; j++)
        if (err[j] < 0)
            return (int) j;
    return 0;
}

/* One syslog line for the chunk's taps (the audit trail names each). */
static void log_created(const struct caller *c, const ptap_tap_params *tp, const char *bridge,
                        const char *mark, const struct chunk *ch)
{
    char names[CREATE_CHUNK * (IFNAMSIZ + 3) + 1];
    size_t len = 0;

    for (unsigned j = 0; j < ch->n; j++)
        len += (size_t) snprintf(names + len, sizeof(names) - len, "%s'%s'", j ? " " : "",
                                 ch->name[j]);
    audit(LOG_INFO, "uid=%u created %s owner=%u group=%ld bridge=%s mark=%s", (unsigned) c->uid,
           names, (unsigned) tp->owner, tp->group == (gid_t) -1 ? -1L : (long) tp->group,
           bridge ? bridge : "none", mark);
}

/* The chunk's names on stdout, one a line, in one write. */
static int write_names(const struct chunk *ch)
{
    for (unsigned j = 0; j < ch->n; j++)
        if (printf("%s\n", ch->name[j]) < 0)
            return -EIO;
    return fflush(stdout) == 0 ? 0 : -EIO;
}

static int cmd_create(const struct caller *c, const struct options *o, int policy_fd,
                      int policy_errno)
{
    _cleanup_(ptap_link_closep) ptap_link_ctx *lc = NULL;
    _cleanup_(ptap_link_info_freep) ptap_link_info *links = NULL;
    _cleanup_free_ int *made_idx = NULL;
    size_t n_links = 0;
    const char *name = o->names[0], *why = NULL;
    ptap_tap_params tp = { .name = name, .owner = c->uid, .group = (gid_t) -1,
                           .multi_queue = o->multi_queue, .vnet_hdr = o->vnet_hdr,
                           .no_carrier = true };
    ptap_link_config cfg = { .up = true };
    char mark[PTAP_IFALIAS_MAX];
    ptap_error denied = { 0 };
    uint8_t bridge_mac[PTAP_MAC_LEN] = { 0 };
    bool has_bridge_mac = false, own_mac = o->mac != NULL, on_ovs = false;
    char attached_mac[PTAP_MAC_STRLEN] = "";
    unsigned count = 1, owned = 0, made = 0, foreign = 0;
    bool told = false; /* --wait: the go came */
    struct namer nm = { 0 };
    uint64_t v;
    int r, ret = 0;

    /* 1. Validate every input. */
    if (ptap_ifname_check(name, true, &why) < 0) {
        error("cannot create '%s': %s", name, why);
        return EX_USAGE;
    }
    if (o->count) {
        r = ptap_parse_uint(o->count, 1, PTAP_COUNT_MAX, &v);
        if (r < 0) {
            if (r == -ERANGE)
                error("invalid count '%s': must be between 1 and %d", o->count, PTAP_COUNT_MAX);
            else
                error("invalid count '%s': not a whole number", o->count);
            return EX_USAGE;
        }
        count = (unsigned) v;
    }
    if (count > 1 && !ptap_ifname_is_template(name)) {
        error("cannot create '%s': '--count' needs a template ending in %%d", name);
        return EX_USAGE;
    }
    if (o->mtu) {
        r = ptap_parse_uint(o->mtu, PTAP_MTU_MIN, PTAP_MTU_MAX, &v);
        if (r < 0) {
            error("invalid MTU '%s': %s", o->mtu,
                  r == -ERANGE ? "must be between 68 and 65521" : "not a whole number");
            return EX_USAGE;
        }
        cfg.mtu = (unsigned) v;
    }
    if (o->mac) {
        if (count > 1) {
            error("cannot create '%s': one '--mac' for %u taps", name, count);
            return EX_USAGE;
        }
        if (ptap_mac_parse(o->mac, cfg.mac, &why) < 0) {
            error("invalid MAC address '%s': %s", o->mac, why);
            return EX_USAGE;
        }
        cfg.has_mac = true;
    }
    if (o->bridge && ptap_ifname_check(o->bridge, false, &why) < 0) {
        error("invalid bridge name '%s': %s", o->bridge, why);
        return EX_USAGE;
    }
    if (o->attached_mac) {
        uint8_t am[PTAP_MAC_LEN];

        if (ptap_mac_parse(o->attached_mac, am, &why) < 0) {
            error("invalid MAC address '%s': %s", o->attached_mac, why);
            return EX_USAGE;
        }
        ptap_mac_format(am, attached_mac);
    }
    if ((o->iface_id && !ptap_ovsdb_uuid_check(o->iface_id)) ||
        (o->vm_uuid && !ptap_ovsdb_uuid_check(o->vm_uuid))) {
        error("invalid UUID '%s': not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
              o->iface_id && !ptap_ovsdb_uuid_check(o->iface_id) ? o->iface_id : o->vm_uuid);
        return EX_USAGE;
    }
    if (count > 1 && (o->iface_id || o->attached_mac)) {
        error("cannot create '%s': one '--%s' for %u taps", name,
              o->iface_id ? "iface-id" : "attached-mac", count);
        return EX_USAGE;
    }
    /* "ptap:uUID", or "ptap:uUID:TAG" with --tag: the caller's real uid,
     * so that no user can make a tap that passes for another user's. */
    if (ptap_mark_format_tag(c->uid, o->tag, mark, sizeof(mark), &why) < 0) {
        error("invalid tag '%s': %s", o->tag, why);
        return EX_USAGE;
    }
    cfg.alias = mark;
    if (o->owner && ptap_parse_user(o->owner, &tp.owner) < 0) {
        error("unknown user '%s'", o->owner);
        return EX_USAGE;
    }
    if (o->group && ptap_parse_group(o->group, &tp.group) < 0) {
        error("unknown group '%s'", o->group);
        return EX_USAGE;
    }

    /* 2. Ownership rules, then the policy file. */
    if (ptap_policy_check_owner(c->uid, c->groups, c->n_groups, tp.owner, tp.group,
                                &denied) < 0) {
        error("cannot create '%s': %s", name, denied.msg);
        audit(LOG_NOTICE, "uid=%u create '%s' denied: %s", (unsigned) c->uid, name,
               denied.msg);
        return EX_NOPERM;
    }
    r = ptap_link_open(&lc);
    if (r < 0) {
        error("cannot open rtnetlink: %s", strerror(-r));
        return EX_OSERR;
    }
    /* --wait: a caller bound by the policy is told to go before the
     * quota lock (nobody waits for a helper that waits); root, after its
     * checks, just before it acts. */
    if (o->wait && c->uid != 0) {
        ret = go_create(c, mark, sizeof(mark));
        if (ret)
            return ret;
        told = true;
    }
    /* The quota needs every marked tap the owner has: one dump. Root,
     * unbound by the policy, only needs the bridge and the name: looked
     * up one by one (a dump costs ~80 ms on a host with 10,000 links). */
    if (c->uid != 0 && policy_fd >= 0) {
        ret = quota_lock(policy_fd, name);
        if (ret)
            return ret;
    }
    if (c->uid != 0 || o->config) {
        r = ptap_link_dump_ctx(lc, &links, &n_links);
        if (r < 0)
            return report_link_error("list links for", name, lc, r);
        for (size_t i = 0; i < n_links; i++)
            if (is_marked_tap(&links[i]) && links[i].owner == (int64_t) tp.owner)
                owned++;
    }
    if (c->uid != 0 || o->config) {
        _cleanup_(ptap_policy_freep) ptap_policy *pol = NULL;
        ptap_policy_request req = { .uid = c->uid, .groups = c->groups,
                                    .n_groups = c->n_groups, .bridge = o->bridge,
                                    .owned = owned, .count = count };

        ret = load_policy(c, o, policy_fd, policy_errno, &pol);
        if (ret)
            return ret;
        r = ptap_policy_decide(pol, &req, NULL, &denied);
        if (r < 0) {
            error("cannot create '%s': %s", name, denied.msg);
            audit(LOG_NOTICE, "uid=%u create '%s' bridge=%s count=%u denied: %s",
                   (unsigned) c->uid, name, o->bridge ? o->bridge : "none", count, denied.msg);
            return EX_NOPERM;
        }
    }

    /* 3. What the request names must exist and be what it claims. */
    if (o->bridge) {
        ptap_link_info br_info, ovs_info = { 0 };
        const ptap_link_info *br = links ? ptap_link_find(links, n_links, o->bridge)
                                 : ptap_link_get_ctx(lc, o->bridge, &br_info) == 0 ? &br_info
                                                                                 : NULL;

        if (!br || strcmp(br->kind, "bridge") != 0) {
            /* Not a Linux bridge: maybe an Open vSwitch one (whose Linux
             * side, if any, is its internal port, a tap with the netdev
             * datapath). */
            ptap_ovsdb_bridge ob;

            ret = ovs_bridge(name, o->bridge, &ob);
            if (ret)
                return ret;
            if (!ob.exists) {
                error("cannot create '%s': %s '%s' %s", name, br ? "interface" : "bridge",
                      o->bridge, br ? "is not a bridge" : "does not exist");
                return EX_USAGE;
            }
            on_ovs = true;
            if (br)
                ovs_info = *br;
            if (ob.mtu)
                ovs_info.mtu = ob.mtu;
            if (!ovs_info.mtu)
                ovs_info.mtu = 1500; /* no MTU known: the kernel's default for a tap */
            br = &ovs_info;
        }
        cfg.master = on_ovs ? 0 : br->ifindex;
        if (!cfg.mtu)
            cfg.mtu = br->mtu; /* default: the bridge's */
        /* Nothing of the bridge may change through the tap: a bridge's
         * MTU follows its smallest port (and its only port's), its MAC
         * its lowest port MAC. Root may pick a larger MTU. */
        if (cfg.mtu < br->mtu || (c->uid != 0 && cfg.mtu != br->mtu)) {
            error("cannot create '%s': MTU %u on bridge '%s' (MTU %u): %s", name, cfg.mtu,
                  o->bridge, br->mtu,
                  cfg.mtu < br->mtu ? "a tap may not lower its bridge's MTU"
                                    : "a tap on a bridge has the bridge's MTU");
            return EX_USAGE;
        }
        if (br->has_mac)
            memcpy(bridge_mac, br->mac, PTAP_MAC_LEN);
        has_bridge_mac = br->has_mac;
        if (cfg.has_mac &&
            ptap_mac_bridge_check(cfg.mac, has_bridge_mac ? bridge_mac : NULL, &why) < 0) {
            error("cannot create '%s': MAC address '%s' on bridge '%s': %s", name, o->mac,
                  o->bridge, why);
            return EX_USAGE;
        }
    }
    ptap_link_info same;
    if (!ptap_ifname_is_template(name) &&
        (links ? ptap_link_find(links, n_links, name) != NULL
               : ptap_link_get_ctx(lc, name, &same) == 0)) {
        error("cannot create '%s': an interface with this name already exists", name);
        return EX_OSERR;
    }

    if (o->wait && !told) {
        ret = go_create(c, mark, sizeof(mark));
        if (ret)
            return ret;
    }

    /* 4. Act, CREATE_CHUNK taps at a time; signals wait until the chunk in
     * hand is done. Explicit names for a batch (see struct namer). */
    made_idx = calloc(count, sizeof(int));
    if (!made_idx)
        return EX_OSERR;
    if (count > 1) {
        if (!links) {
            r = ptap_link_dump_ctx(lc, &links, &n_links);
            if (r < 0)
                return report_link_error("list links for", name, lc, r);
        }
        r = namer_init(&nm, name, count, links, n_links);
        if (r < 0)
            return EX_OSERR;
    }
    /* A bridge port needs no IPv6 address of its own on the host (the
     * bridge has it): its address generation is turned off in the same
     * change, so that no link-local address, DAD and routes are made when
     * a guest brings its carrier up (a cost that grows with the number of
     * devices: every route change walks the IPv6 routing tree). Not below
     * IPv6's minimum MTU (the kernel has no IPv6 state there), nor where
     * the kernel has no IPv6 (found out on the first refusal). */
    bool no_ipv6_addr = o->bridge && cfg.mtu >= 1280;
    for (unsigned i = 0; i < count && !stop_signal && !ret;) {
        struct chunk ch = { .n = 0 };
        unsigned want = count - i < CREATE_CHUNK ? count - i : CREATE_CHUNK, carrierless = 0;
        const char *verb = "configure";
        int first = -1;

        block_signals(true);
        /* a. Open each tap: transient, it lives as long as its descriptor;
         * made without a carrier where the kernel can. */
        for (; ch.n < want; ch.n++) {
            ptap_link_config *cf = &ch.cfg[ch.n];

            /* Default MAC: fe:xx:..., never one the bridge could adopt. */
            if (!own_mac) {
                r = ptap_mac_tap_random(cfg.mac, has_bridge_mac ? bridge_mac : NULL);
                if (r < 0) {
                    error("cannot create '%s': cannot draw a MAC address: %s", name, strerror(-r));
                    ret = EX_OSERR;
                    break;
                }
                cfg.has_mac = true;
            }
            ret = open_tap(c, lc, &tp, count > 1 ? &nm : NULL, name, &foreign, &ch.fd[ch.n],
                           ch.name[ch.n], &ch.idx[ch.n], &carrierless);
            if (ret)
                break;
            *cf = cfg;
            cf->master = 0; /* bridge and up: after the persist (d.) */
            cf->up = false;
            cf->no_ipv6_addr = no_ipv6_addr;
        }
        /* b. Mark and configure them (mark, MTU, MAC, IPv6 mode), still
         * transient and down: one pipelined round of netlink requests. A
         * change to a link that is down tells nobody (the kernel's
         * NETDEV_CHANGE and its link message are for links that are up),
         * and neither do the persist and the close below: doing them
         * while the tap was already up cost three notifications a tap,
         * about 15 % of a batch's kernel time. */
        if (!ret && ch.n > 0) {
            r = ptap_link_configure_many(lc, ch.idx, ch.cfg, ch.n, ch.err);
            if (r == -EAFNOSUPPORT && no_ipv6_addr) {
                /* No IPv6 in this kernel or namespace: without it. */
                no_ipv6_addr = false;
                for (unsigned j = 0; j < ch.n; j++)
                    ch.cfg[j].no_ipv6_addr = false;
                r = ptap_link_configure_many(lc, ch.idx, ch.cfg, ch.n, ch.err);
            }
            if (r < 0)
                first = first_failed(ch.err, ch.n);
        }
        /* c. Make them persistent: marked, they are the caller's from now
         * on (a helper killed here leaves marked taps, which recovery
         * knows; one killed before leaves nothing). */
        for (unsigned j = 0; j < ch.n && !ret && first < 0; j++) {
            ptap_fault("helper-before-persist");
            r = ptap_tap_persist(ch.fd[j]);
            if (r < 0) {
                verb = "make persistent";
                first = (int) j;
                break;
            }
            made_idx[made++] = ch.idx[j];
            ptap_fault("helper-after-persist");
        }
        /* Closing a descriptor removes a tap not made persistent. */
        for (unsigned j = 0; j < ch.n; j++)
            close(ch.fd[j]);
        /* d. The kernel notes a carrier change in its books (the
         * operational state) only later; a lookup brings them up to date
         * now (ptap_link_sync_many()), so the taps join the bridge and go
         * up as the dead ports they are until a guest attaches. Then the
         * bridge and up: a failure here is rolled back with the rest. */
        if (!ret && first < 0 && ch.n > 0 && (cfg.master || cfg.up)) {
            if (carrierless)
                (void) ptap_link_sync_many(lc, ch.idx, ch.n);
            for (unsigned j = 0; j < ch.n; j++)
                ch.cfg[j] = (ptap_link_config) { .master = cfg.master, .up = cfg.up };
            r = ptap_link_configure_many(lc, ch.idx, ch.cfg, ch.n, ch.err);
            if (r < 0)
                first = first_failed(ch.err, ch.n);
        }
        block_signals(false);
        if (ret)
            break;
        if (first >= 0) {
            ret = report_link_error(verb, ch.name[first], lc, r);
            audit(LOG_ERR, "uid=%u create '%s' failed: %s", (unsigned) c->uid, ch.name[first],
                   strerror(-r));
            break;
        }
        log_created(c, &tp, o->bridge, mark, &ch);
        if (write_names(&ch) < 0 && !stop_signal)
            stop_signal = SIGPIPE;
        i += ch.n;
    }
    free(nm.used);

    if (!ret && made && on_ovs)
        ret = ovs_plug(c, o, made_idx, made, mark, *attached_mac ? attached_mac : NULL);
    if (ret && made) {
        /* A kernel failure mid-batch: take back what this run made. */
        r = ptap_link_delete_batch(lc, made_idx, made);
        if (r < 0)
            error("cannot roll back %u taps made before the failure: %s; they carry the mark '%s'",
                  made, strerror(-r), mark);
        else
            audit(LOG_INFO, "uid=%u rolled back %u taps", (unsigned) c->uid, made);
    } else if (!ret && stop_signal && made < count) {
        error("stopped by signal %d after %u of %u taps (marked '%s')", (int) stop_signal, made,
              count, mark);
        audit(LOG_NOTICE, "uid=%u create '%s' stopped by signal %d after %u of %u taps",
               (unsigned) c->uid, name, (int) stop_signal, made, count);
        ret = EX_OSERR;
    }
    return ret;
}

/*
 * restore NAME... [--bridge BRIDGE]: put marked taps back as they were made,
 * for ptap's recovery: out of any link group (a destroy killed between
 * joining its deletion group and the group delete leaves them there), and,
 * with --bridge, back on a bridge that was deleted and made again — under
 * the same rules as create: the policy must allow the bridge for a
 * non-root caller, the tap takes the bridge's MTU, and a tap whose MAC could
 * become the bridge's is refused. Every name is checked before any changes.
 */
static int cmd_restore(const struct caller *c, const struct options *o, int policy_fd,
                       int policy_errno)
{
    _cleanup_(ptap_link_closep) ptap_link_ctx *lc = NULL;
    _cleanup_free_ ptap_link_info *taps = calloc(o->n_names + 1, sizeof(ptap_link_info));
    ptap_link_info br = { 0 };
    const char *why;
    int r;

    if (!taps)
        return EX_OSERR;
    for (size_t i = 0; i < o->n_names; i++)
        if (ptap_ifname_check(o->names[i], false, &why) < 0) {
            error("cannot restore '%s': %s", o->names[i], why);
            return EX_USAGE;
        }
    if (o->bridge && ptap_ifname_check(o->bridge, false, &why) < 0) {
        error("invalid bridge name '%s': %s", o->bridge, why);
        return EX_USAGE;
    }
    r = ptap_link_open(&lc);
    if (r < 0) {
        error("cannot open rtnetlink: %s", strerror(-r));
        return EX_OSERR;
    }
    if (o->bridge) {
        if (c->uid != 0) {
            _cleanup_(ptap_policy_freep) ptap_policy *pol = NULL;
            ptap_policy_request req = { .uid = c->uid, .groups = c->groups,
                                        .n_groups = c->n_groups, .bridge = o->bridge };
            ptap_error denied = { 0 };
            int ret = load_policy(c, o, policy_fd, policy_errno, &pol);

            if (ret)
                return ret;
            if (ptap_policy_decide(pol, &req, NULL, &denied) < 0) {
                error("cannot restore onto '%s': %s", o->bridge, denied.msg);
                return EX_NOPERM;
            }
        }
        if (ptap_link_get_ctx(lc, o->bridge, &br) < 0 || strcmp(br.kind, "bridge") != 0) {
            error("cannot restore onto '%s': no such bridge", o->bridge);
            return EX_USAGE;
        }
    }
    for (size_t i = 0; i < o->n_names; i++) {
        ptap_link_info *li = &taps[i];

        if (ptap_link_get_ctx(lc, o->names[i], li) < 0) {
            error("cannot restore '%s': no such interface", o->names[i]);
            return EX_USAGE;
        }
        if (!is_marked_tap(li)) {
            error("cannot restore '%s': it is not a tap carrying ptap's mark", o->names[i]);
            return EX_NOPERM;
        }
        if (c->uid != 0 && li->owner != (int64_t) c->uid) {
            error("cannot restore '%s': owned by another user", o->names[i]);
            return EX_NOPERM;
        }
        if (o->bridge && (!li->has_mac ||
                          ptap_mac_bridge_check(li->mac, br.has_mac ? br.mac : NULL, &why) < 0)) {
            error("cannot restore '%s' onto '%s': %s", o->names[i], o->bridge,
                  li->has_mac ? why : "its MAC is unknown");
            return EX_NOPERM;
        }
    }
    for (size_t i = 0; i < o->n_names; i++) {
        ptap_link_config cfg = { .set_group = true, .group = 0, .up = true };

        if (o->bridge) {
            cfg.master = br.ifindex;
            cfg.mtu = br.mtu;
        }
        block_signals(true);
        r = ptap_link_configure(lc, taps[i].ifindex, &cfg);
        block_signals(false);
        if (r < 0)
            return report_link_error("restore", o->names[i], lc, r);
        audit(LOG_INFO, "uid=%u restored '%s' group=0 bridge=%s", (unsigned) c->uid,
               o->names[i], o->bridge ? o->bridge : "-");
        (void) write_line(o->names[i]);
    }
    return 0;
}

/* ovs_unplug() for the taps @names just deleted, their marks from @links. */
static void ovs_unplug_links(const struct caller *c, const char **names, size_t n,
                             const ptap_link_info *links, size_t n_links)
{
    _cleanup_free_ const char **marks = calloc(n + 1, sizeof(*marks));

    if (!marks || !ovs.db)
        return;
    for (size_t i = 0; i < n; i++) {
        const ptap_link_info *li = ptap_link_find(links, n_links, names[i]);

        marks[i] = li ? li->alias : "";
    }
    ovs_unplug(c, names, marks, n);
}

static int cmp_link_name(const void *a, const void *b)
{
    return strcmp((*(const ptap_link_info *const *) a)->name,
                  (*(const ptap_link_info *const *) b)->name);
}

/* The link named @name in @v (@n pointers sorted by name), or NULL. */
static const ptap_link_info *find_link_name(const ptap_link_info **v, size_t n, const char *name)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid]->name, name);

        if (c == 0)
            return v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Destroy with at most this many names looks each up instead of a dump. */
#define DESTROY_LOOKUP_MAX 8

/*
 * --view: what this helper sees of the links named (or of every link, for
 * a destroy whose names come after the go), before it waits for the go:
 * one line each (ptap_link_info_format(), the same look-up or dump its
 * checks use), then "end". The caller (ptap) judges its records by it
 * instead of asking the kernel again. Nothing here that any user cannot
 * read with `ip -d link show`. A link it cannot put in a line (none here:
 * names have no blanks) spoils the view, which the caller then does not use.
 */
static void view_add_link(FILE *f, const ptap_link_info *li)
{
    char line[PTAP_LINK_LINE_MAX];

    if (ptap_link_info_format(li, line, sizeof(line)) < 0)
        snprintf(line, sizeof(line), "unseen");
    fprintf(f, "%s\n", line);
}

/*
 * Write @len bytes to stdout by @deadline: a caller that does not read
 * keeps this helper no longer than one that never says go. Into a pipe
 * no more at a time than it has room for, so that no write blocks.
 */
static int write_by(const char *p, size_t len, int64_t deadline)
{
    while (len > 0) {
        struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };
        int64_t left = deadline - ptap_now_ms();
        int size, unread;
        size_t k = len;
        ssize_t w;

        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&pfd, 1, (int) left) < 0) {
            if (errno == EINTR && !stop_signal)
                continue;
            return -errno;
        }
        if (!pfd.revents)
            continue;
        if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
            return -EPIPE;
        size = fcntl(STDOUT_FILENO, F_GETPIPE_SZ);
        if (size > 0 && ioctl(STDOUT_FILENO, FIONREAD, &unread) == 0) {
            if (unread >= size)
                continue;
            if (k > (size_t) (size - unread))
                k = (size_t) (size - unread);
        }
        w = write(STDOUT_FILENO, p, k);
        if (w < 0) {
            if (errno == EINTR && !stop_signal)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t) w;
    }
    return 0;
}

/* Returns an exit code: EX_TEMPFAIL when the caller did not take the view
 * within GO_WAIT_MS (nothing is done then, as without a go: no go is
 * waited for after that). */
static int print_view(const ptap_link_info *links, size_t n_links,
                      const ptap_link_info **by_name, char *const *nms, size_t n_nms)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int r;

    if (!f) {
        held.answered = true;
        return EX_OSERR;
    }
    for (size_t i = 0; !by_name && i < n_links; i++)
        view_add_link(f, &links[i]);
    for (size_t i = 0; by_name && i < n_nms; i++) {
        const ptap_link_info *li = find_link_name(by_name, n_links, nms[i]);

        if (li)
            view_add_link(f, li);
    }
    fputs("end\n", f);
    if (fclose(f) != 0) {
        held.answered = true;
        return EX_OSERR;
    }
    /* Nothing went to stdout's buffer before: the view comes first. */
    r = write_by(buf, len, ptap_now_ms() + GO_WAIT_MS);
    if (r < 0) {
        held.answered = true;
        if (r == -ETIMEDOUT)
            error("the view was not read within %d s: nothing done", GO_WAIT_MS / 1000);
        else
            error("the view was not read: nothing done");
        return EX_TEMPFAIL;
    }
    return EX_OK;
}

/* The destroyed taps in the audit trail: one syslog line per 64 names. */
static void log_destroyed(const struct caller *c, const char **names, size_t n)
{
    for (size_t i = 0; i < n; i += 64) {
        char line[64 * (IFNAMSIZ + 3) + 1];
        size_t len = 0;

        for (size_t j = i; j < n && j < i + 64; j++)
            len += (size_t) snprintf(line + len, sizeof(line) - len, "%s'%s'", j > i ? " " : "",
                                     names[j]);
        audit(LOG_INFO, "uid=%u destroyed %s", (unsigned) c->uid, line);
    }
}

static int cmd_destroy(const struct caller *c, const struct options *o)
{
    _cleanup_(ptap_link_closep) ptap_link_ctx *lc = NULL;
    _cleanup_(ptap_link_info_freep) ptap_link_info *links = NULL;
    _cleanup_free_ int *idx = NULL;
    _cleanup_free_ const char **names = NULL;
    size_t n_links = 0, n = 0;
    char mark[PTAP_IFALIAS_MAX] = "";
    const char *why;
    /* --wait without NAMEs: they come after the go, once the links are
     * dumped (so the dump runs while the caller still prepares). */
    bool names_later = o->wait && !o->tag && o->n_names == 0;
    _cleanup_free_ char **later = NULL;
    _cleanup_free_ char *later_buf = NULL;
    char **nms = o->names;
    size_t n_nms = o->n_names;
    int r, ret = 0;

    for (size_t i = 0; i < o->n_names; i++)
        if (ptap_ifname_check(o->names[i], false, &why) < 0) {
            error("cannot destroy '%s': %s", o->names[i], why);
            return EX_USAGE;
        }
    if (o->tag && ptap_mark_format_tag(c->uid, o->tag, mark, sizeof(mark), &why) < 0) {
        error("invalid tag '%s': %s", o->tag, why);
        return EX_USAGE;
    }
    r = ptap_link_open(&lc);
    if (r < 0) {
        error("cannot open rtnetlink: %s", strerror(-r));
        return EX_OSERR;
    }
    if (!o->tag && !names_later && o->n_names <= DESTROY_LOOKUP_MAX) {
        /* A few names: looked up one by one, no dump of every link (on a
         * host with 10,000 links a dump costs more than the destroy). */
        links = calloc(o->n_names, sizeof(*links));
        if (!links)
            return EX_OSERR;
        for (size_t i = 0; i < o->n_names; i++) {
            r = ptap_link_get_ctx(lc, o->names[i], &links[n_links]);
            if (r == 0)
                n_links++;
            else if (r != -ENODEV) {
                error("cannot look up '%s': %s", o->names[i], strerror(-r));
                return EX_OSERR;
            }
        }
    } else {
        r = ptap_link_dump_ctx(lc, &links, &n_links);
        if (r < 0) {
            error("cannot list links: %s", strerror(-r));
            return EX_OSERR;
        }
    }
    if (names_later) {
        if (o->view && (ret = print_view(links, n_links, NULL, NULL, 0)))
            return ret;
        ret = wait_go_names(&later_buf, &later, &n_nms);
        if (ret)
            return ret;
        nms = later;
    }
    idx = calloc(n_links + 1, sizeof(int));
    names = calloc(n_links + 1, sizeof(char *));
    if (!idx || !names)
        return EX_OSERR;

    if (o->tag) {
        for (size_t i = 0; i < n_links; i++)
            if (is_marked_tap(&links[i]) && strcmp(links[i].alias, mark) == 0 &&
                (c->uid == 0 || links[i].owner == (int64_t) c->uid)) {
                idx[n] = links[i].ifindex;
                names[n++] = links[i].name;
            }
    } else {
        /* The links by name, for one look-up per name (not a scan). */
        _cleanup_free_ const ptap_link_info **by_name = calloc(n_links + 1, sizeof(*by_name));
        _cleanup_free_ bool *taken = calloc(n_links + 1, sizeof(bool));

        if (!by_name || !taken)
            return EX_OSERR;
        for (size_t i = 0; i < n_links; i++)
            by_name[i] = &links[i];
        qsort(by_name, n_links, sizeof(*by_name), cmp_link_name);
        if (o->view && !names_later && (ret = print_view(links, n_links, by_name, nms, n_nms)))
            return ret;
        /* Check every name before touching anything: all or nothing. */
        for (size_t i = 0; i < n_nms && !ret; i++) {
            const char *nm = nms[i];
            const ptap_link_info *li = find_link_name(by_name, n_links, nm);

            if (!li) {
                error("cannot destroy '%s': no such interface", nm);
                ret = EX_USAGE;
            } else if (!li->is_tun || !li->is_tap) {
                error("cannot destroy '%s': not a tap", nm);
                ret = EX_NOPERM;
            } else if (!ptap_mark_is_mark(li->alias)) {
                error("cannot destroy '%s': it does not carry ptap's mark", nm);
                ret = EX_NOPERM;
            } else if (c->uid != 0 && li->owner != (int64_t) c->uid) {
                error("cannot destroy '%s': owned by another user", nm);
                ret = EX_NOPERM;
            }
            if (ret) {
                audit(LOG_NOTICE, "uid=%u destroy '%s' refused", (unsigned) c->uid, nm);
                break;
            }
            if (!taken[li - links]) { /* a name given twice is destroyed once */
                taken[li - links] = true;
                idx[n] = li->ifindex;
                names[n++] = li->name;
            }
        }
    }
    if (!ret && n > 0 && o->wait && !names_later) {
        char tag[GO_LINE_MAX];

        ret = wait_go(tag, sizeof(tag));
        if (!ret && *tag) {
            error("a destroy's go takes no tag: nothing done");
            ret = EX_USAGE;
        }
    }
    if (!ret && n > 0) {
        block_signals(true);
        r = ptap_link_delete_batch_dumped(lc, idx, n, links, n_links);
        block_signals(false);
        if (r < 0) {
            ret = report_link_error("destroy", names[0], lc, r);
            audit(LOG_ERR, "uid=%u destroy of %zu taps ('%s'...) failed: %s",
                   (unsigned) c->uid, n, names[0], strerror(-r));
        } else {
            ptap_fault("helper-after-delete"); /* deleted, nothing reported yet */
            ovs_unplug_links(c, names, n, links, n_links);
            log_destroyed(c, names, n);
            for (size_t i = 0; i < n; i++)
                (void) printf("%s\n", names[i]);
            (void) fflush(stdout);
        }
    }
    return ret;
}

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            printf("\\u%04x", *p); /* bytes as Latin-1: always valid JSON */
        else
            putchar(*p);
    }
    putchar('"');
}

static int cmd_list(const struct options *o)
{
    ptap_link_info *links = NULL;
    size_t n_links = 0, shown = 0;
    int r;

    r = ptap_link_dump(&links, &n_links);
    if (r < 0) {
        error("cannot list links: %s", strerror(-r));
        return EX_OSERR;
    }
    if (o->json)
        putchar('[');
    else
        printf("%-15s %7s %7s %-15s %5s %-14s %-7s %s\n", "NAME", "OWNER", "GROUP", "BRIDGE",
               "MTU", "FLAGS", "CARRIER", "MARK");
    for (size_t i = 0; i < n_links; i++) {
        const ptap_link_info *li = &links[i];

        if (!is_marked_tap(li))
            continue;
        if (o->json) {
            printf("%s{\"name\":", shown ? "," : "");
            json_string(li->name);
            printf(",\"ifindex\":%d,\"mark\":", li->ifindex);
            json_string(li->alias);
            if (li->owner >= 0)
                printf(",\"owner\":%" PRId64, li->owner);
            else
                printf(",\"owner\":null");
            if (li->group >= 0)
                printf(",\"group\":%" PRId64, li->group);
            else
                printf(",\"group\":null");
            printf(",\"bridge\":");
            if (li->master[0])
                json_string(li->master);
            else
                printf("null");
            printf(",\"mtu\":%u,\"carrier\":%s,\"up\":%s,\"multi_queue\":%s,\"vnet_hdr\":%s}",
                   li->mtu, li->carrier ? "true" : "false", li->up ? "true" : "false",
                   li->multi_queue ? "true" : "false", li->vnet_hdr ? "true" : "false");
        } else {
            char owner[24] = "-", group[24] = "-", flags[32] = "";

            if (li->owner >= 0)
                snprintf(owner, sizeof(owner), "%" PRId64, li->owner);
            if (li->group >= 0)
                snprintf(group, sizeof(group), "%" PRId64, li->group);
            snprintf(flags, sizeof(flags), "%s%s%s", li->up ? "up" : "down",
                     li->multi_queue ? ",mq" : "", li->vnet_hdr ? ",vnet" : "");
            printf("%-15s %7s %7s %-15s %5u %-14s %-7s %s\n", li->name, owner, group,
                   li->master[0] ? li->master : "-", li->mtu, flags,
                   li->carrier ? "on" : "off", li->alias);
        }
        shown++;
    }
    if (o->json)
        puts("]");
    ptap_link_info_free(links);
    if (fflush(stdout) != 0)
        return EX_OSERR;
    return 0;
}

int main(int argc, char **argv)
{
    struct caller caller = { 0 };
    struct options opts = { 0 };
    _cleanup_close_ int policy_fd = -1;
    int policy_errno = 0, r;

    /* 1. Before anything else (helper_preinit already secured the
     * standard descriptors and cleared the environment): who called, and
     * the policy file opened while we may still read it. */
    if (get_caller(&caller) < 0) {
        error("cannot read the caller's groups");
        return EX_OSERR;
    }
    r = in_initial_userns();
    if (r <= 0) {
        if (r < 0)
            error("cannot tell the user namespace (/proc/self/uid_map): %s", strerror(-r));
        else
            error("refusing to run inside a user namespace: its root is not root on this "
                  "host, and ptap-helper takes no orders from it");
        return r < 0 ? EX_OSERR : EX_NOPERM;
    }
    policy_fd = open(PTAP_HELPER_CONF, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (policy_fd < 0)
        policy_errno = errno;
    ovs_connect_early(policy_fd);

    /* 2. Drop privileges, then the environment. */
    r = drop_privileges(&caller);
    if (r < 0) {
        error("cannot drop privileges: %s", strerror(-r));
        return EX_OSERR;
    }
    if (clearenv() != 0) /* already empty (helper_preinit): belt and braces */
        return EX_OSERR;
    openlog("ptap-helper", LOG_PID, LOG_AUTHPRIV);
    install_signals(&caller);

    /* 3. Parse. */
    if (parse_args(argc, argv, &opts) < 0) {
        fputs("Try 'ptap-helper --help'.\n", stderr);
        return EX_USAGE;
    }
    if (opts.help) {
        usage(stdout);
        return 0;
    }
    if (opts.version) {
        puts("ptap-helper " PTAP_VERSION);
        return 0;
    }
    if (opts.config && caller.uid != 0) {
        error("only root may name a policy file with '--config'");
        audit(LOG_NOTICE, "uid=%u denied: --config", (unsigned) caller.uid);
        return EX_NOPERM;
    }
    if (opts.config && strcmp(opts.command, "create") != 0) {
        /* Root checking a policy file: load it, report problems. */
        ptap_policy *p = NULL;

        r = load_policy(&caller, &opts, policy_fd, policy_errno, &p);
        ptap_policy_free(p);
        if (r)
            return r;
    }

    /* 4. Check, act, report. */
    held.waiting = opts.wait;
    if (strcmp(opts.command, "create") == 0)
        r = cmd_create(&caller, &opts, policy_fd, policy_errno);
    else if (strcmp(opts.command, "destroy") == 0)
        r = cmd_destroy(&caller, &opts);
    else if (strcmp(opts.command, "restore") == 0)
        r = cmd_restore(&caller, &opts, policy_fd, policy_errno);
    else if (strcmp(opts.command, "ovs-list") == 0)
        r = cmd_ovs_list(&caller);
    else if (strcmp(opts.command, "ovs-forget") == 0)
        r = cmd_ovs_forget(&caller, &opts);
    else if (strcmp(opts.command, "ovs-set") == 0)
        r = cmd_ovs_set(&caller, &opts);
    else
        r = cmd_list(&opts);
    if (r != EX_OK && held.waiting && !held.answered) {
        /* Refused before the go: the refusal stands (and is logged) only
         * if the go comes. */
        char tag[GO_LINE_MAX];

        if (wait_go(tag, sizeof(tag)) != EX_OK)
            r = EX_TEMPFAIL;
    }
    free(caller.groups);
    ptap_ovsdb_close(ovs.db);
    return r;
}
