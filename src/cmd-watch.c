/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap watch: follow rtnetlink and keep the journal in step with the
 * kernel (src/lib/watch.c does the work; this is the loop, the signals
 * and the log). See ptap-watch(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "validate.h"
#include "watch.h"

#define WATCH_GRACE_DEFAULT 5
#define WATCH_GRACE_MAX 86400           /* seconds: a day */
#define WATCH_RCVBUF_MIN 4096           /* bytes: a page */
#define WATCH_RCVBUF_MAX (64ull << 20)  /* bytes */
#define STR_(x) #x
#define STR(x) STR_(x)

/* Self-pipe: a signal handler only writes a byte. Unlike signalfd it
 * leaves the signal mask alone, so the helper and anything else we exec
 * start with the signals they expect. */
static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t got_stop, got_hup;

static void on_signal(int sig)
{
    int saved = errno;
    char c = (char) sig;

    if (sig == SIGHUP)
        got_hup = 1;
    else
        got_stop = sig;
    (void) !write(sig_pipe[1], &c, 1);
    errno = saved;
}

static bool use_syslog;

static void watch_log(int prio, const char *fmt, ...) _printf_(2, 3);
static void watch_log(int prio, const char *fmt, ...)
{
    char msg[PTAP_ERROR_MAX + 64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "ptap watch: %s\n", msg);
    if (use_syslog)
        syslog(prio, "%s", msg);
}

static void log_debug_handler(int prio, const char *msg, void *userdata)
{
    (void) userdata;
    watch_log(prio, "%s%s", prio >= LOG_DEBUG ? "debug: " : "", msg);
}

/* During the start-up resync a failure is held back, so that a journal
 * we may never use is reported once, as the reason to exit. */
static bool hold_failures;
static char held_failure[PTAP_ERROR_MAX];

static void on_report(const ptap_watch_event *ev, void *userdata)
{
    static const int prio[] = {
        [PTAP_WATCH_RETURNED] = LOG_NOTICE,
        [PTAP_WATCH_FORGOT] = LOG_NOTICE,   [PTAP_WATCH_PENDING] = LOG_INFO,
        [PTAP_WATCH_CANCELLED] = LOG_INFO,  [PTAP_WATCH_DESTROYED] = LOG_NOTICE,
        [PTAP_WATCH_KEPT] = LOG_INFO,       [PTAP_WATCH_RESYNC] = LOG_WARNING,
        [PTAP_WATCH_REJOINED] = LOG_NOTICE, [PTAP_WATCH_FAILED] = LOG_ERR,
    };
    (void) userdata;
    if (hold_failures && ev->kind == PTAP_WATCH_FAILED && !*held_failure) {
        snprintf(held_failure, sizeof(held_failure), "%s", ev->reason);
        return;
    }
    if (*ev->name)
        watch_log(prio[ev->kind], "'%s': %s", ev->name, ev->reason);
    else
        watch_log(prio[ev->kind], "%s", ev->reason);
}

static int setup_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
        sigaction(SIGHUP, &sa, NULL) < 0)
        return -errno;
    return 0;
}

enum { WATCH_GRACE, WATCH_SYSLOG, WATCH_NETLINK_BUFFER };

static const cli_option watch_options[] = {
    [WATCH_GRACE] = CLI_NUMBER("grace", "S",
                               "how long an attached tap may lack carrier before its guest is "
                               "checked, by default " STR(WATCH_GRACE_DEFAULT),
                               0, WATCH_GRACE_MAX, "seconds"),
    [WATCH_SYSLOG] = CLI_FLAG("syslog", "log to syslog too (facility daemon)"),
    [WATCH_NETLINK_BUFFER] = CLI_NUMBER("netlink-buffer", "BYTES", "the rtnetlink socket's receive buffer",
                                        WATCH_RCVBUF_MIN, WATCH_RCVBUF_MAX, "bytes"),
    {},
};

static int run_watch(cli *c, const cli_args *a)
{
    _cleanup_(ptap_watch_freep) ptap_watch *w = NULL;
    ptap_watch_config cfg = { .grace_ms = WATCH_GRACE_DEFAULT * 1000, .report = on_report };
    ptap_error err = { 0 };
    char dir[4096];
    int r;

    if (a->value[WATCH_GRACE])
        cfg.grace_ms = (unsigned) a->num[WATCH_GRACE] * 1000;
    use_syslog = cli_flag(a, WATCH_SYSLOG);
    cfg.rcvbuf = (int) a->num[WATCH_NETLINK_BUFFER];
    cfg.lock_wait_ms = (c->wait_given ? c->wait_s : CLI_WAIT_DEFAULT_S) * 1000;
    if (a->argc > 0)
        return cli_usage_error("watch", "unexpected argument '%s'", a->argv[0]);
    /* A daemon has no one document to print: its log is its output. */
    if (c->json)
        return cli_usage_error("watch", "--json: watch logs on stderr (and --syslog), it prints no JSON");

    if (c->state_dir) {
        snprintf(dir, sizeof(dir), "%s", c->state_dir);
    } else if (ptap_journal_default_dir(dir, sizeof(dir)) < 0) {
        return cli_err(EX_CONFIG, "no state directory: XDG_RUNTIME_DIR is not set (use --state-dir DIR)");
    }
    cfg.state_dir = dir;

    if (use_syslog)
        openlog("ptap-watch", LOG_PID, LOG_DAEMON);
    /* Library debug goes through our log, so it reaches syslog too
     * (instead of cli_run()'s, which only reaches stderr). */
    if (c->verbose)
        ptap_log_set_handler(log_debug_handler, NULL);
    r = setup_signals();
    if (r < 0)
        return cli_err(EX_OSERR, "cannot set up signal handling: %s", strerror(-r));

    r = ptap_watch_new(&cfg, &w);
    if (r < 0)
        return cli_err(EX_OSERR, "cannot subscribe to link events: %s", strerror(-r));
    /* Catch up with what happened before we listened. A journal we may
     * never use is a configuration error, not something to retry. */
    hold_failures = true;
    r = ptap_watch_resync(w, &err);
    hold_failures = false;
    if (r == -EPERM || r == -ELOOP || r == -EBADMSG || r == -EPROTONOSUPPORT)
        return cli_err(EX_CONFIG, "cannot use the journal in '%s': %s", dir,
                       *err.msg ? err.msg : strerror(-r));
    if (*held_failure)
        watch_log(LOG_ERR, "%s", held_failure);
    watch_log(LOG_INFO, "watching the journal in '%s' (grace %u s)", dir, cfg.grace_ms / 1000);

    while (!got_stop) {
        struct pollfd pfd[2] = {
            { .fd = sig_pipe[0], .events = POLLIN },
            { .fd = ptap_watch_fd(w), .events = POLLIN },
        };
        char buf[16];

        r = poll(pfd, 2, ptap_watch_timeout_ms(w));
        if (r < 0 && errno != EINTR) {
            r = -errno;
            watch_log(LOG_ERR, "poll failed: %s", strerror(-r));
            return EX_OSERR;
        }
        while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
            ;
        if (got_stop)
            break;
        if (got_hup) {
            got_hup = 0;
            watch_log(LOG_INFO, "SIGHUP: resyncing from a full dump");
            (void) ptap_watch_resync(w, NULL);
        }
        r = ptap_watch_dispatch(w);
        if (r < 0) {
            watch_log(LOG_ERR, "cannot read link events: %s", strerror(-r));
            return EX_OSERR;
        }
    }
    watch_log(LOG_INFO, "stopping on %s", got_stop == SIGINT ? "SIGINT" : "SIGTERM");
    if (use_syslog)
        closelog();
    return EX_OK;
}

const cli_command cli_cmd_watch = {
    .name = "watch",
    .synopsis = "[--grace S] [--syslog] [--netlink-buffer BYTES]",
    .summary = "clean up as taps vanish and guests die",
    .see = "ptap-watch(8)",
    .options = watch_options,
    .run = run_watch,
};
