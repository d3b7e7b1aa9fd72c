/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli.h: shared pieces of the ptap command. Only this layer talks to the
 * user: one message per failure, at the top, naming the object and the
 * reason; exit codes from sysexits.
 *
 * Every subcommand is one cli_command: its name, its grammar, a line of
 * help, its option table and its handler. That descriptor is the only
 * source of the command's getopt_long table, of `ptap --help`, of
 * `ptap CMD --help` and of the option names in usage errors (iproute2:
 * usage() is the grammar). cli_run() parses for every command alike: an
 * option given twice is refused unless its table entry says it may
 * repeat, numbers are checked against the limits the table names.
 *
 * With --json a run prints exactly one JSON document (ptap(1), JSON
 * OUTPUT): handlers add members to cli_doc(), taps always as
 * cli_record_json() builds them, and cli_finish() prints it, with the
 * error object when the run failed.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>
#include <json-c/json.h>

#include "error.h"
#include "journal.h"
#include "kview.h"

/* --wait: how long a command waits for the journal lock by default. */
#define CLI_WAIT_DEFAULT_S 10
#define CLI_WAIT_MAX_S 86400

typedef struct cli {
    const char *state_dir;   /* --state-dir, or NULL for the default */
    unsigned wait_s;         /* --wait SECONDS for the journal lock */
    bool wait_given;         /* ... given (else CLI_WAIT_DEFAULT_S) */
    bool verbose;
    bool json;
    unsigned globals_given;  /* bit i: cli_global_options[i] seen already */
} cli;

/* cli_option.flags */
#define CLI_OPT_REPEATABLE (1u << 0) /* may be given more than once; the last value wins */

/** One option of a command, as its table declares it. */
typedef struct cli_option {
    const char *name;   /* long name: "bridge" is --bridge */
    char short_name;    /* 'v' for -v, or 0 */
    const char *arg;    /* what its value is called ("BR"), or NULL: a flag */
    const char *help;   /* one line: what it means */
    uint64_t min, max;  /* when max > 0: the value is a number in min..max */
    const char *unit;   /* that number's unit in messages ("seconds"), or NULL */
    unsigned flags;     /* CLI_OPT_* */
} cli_option;

/* Table entries: a flag, an option with a value, one whose value is a
 * number in LO..HI (UNIT, or NULL, for messages). A table ends with {}. */
#define CLI_FLAG(NAME, HELP) { .name = (NAME), .help = (HELP) }
#define CLI_VALUE(NAME, ARG, HELP) { .name = (NAME), .arg = (ARG), .help = (HELP) }
#define CLI_NUMBER(NAME, ARG, HELP, LO, HI, UNIT) \
    { .name = (NAME), .arg = (ARG), .help = (HELP), .min = (LO), .max = (HI), .unit = (UNIT) }

typedef struct cli_args cli_args;

/** A subcommand: everything `ptap CMD --help` says, and who does it. */
typedef struct cli_command {
    const char *name;           /* "create" */
    const char *synopsis;       /* its grammar, after "ptap CMD" */
    const char *summary;        /* one line for `ptap --help` and `ptap CMD --help` */
    const char *details;        /* more lines for `ptap CMD --help`, or NULL */
    const char *see;            /* manual page, or NULL for ptap(1) */
    const cli_option *options;  /* its own options, ended by {}; or NULL */
    int (*run)(cli *c, const cli_args *a); /* returns the exit code */
} cli_command;

/** What cli_parse() found: one slot per entry of the command's table. */
struct cli_args {
    const cli_command *cmd;
    bool help;           /* --help was given: nothing after it was parsed */
    const char **value;  /* the value, "" for a flag given, NULL when absent */
    uint64_t *num;       /* the value as a number, for numeric options */
    int argc;            /* the operands, in order */
    char **argv;
};

/* The options every command accepts, before or after its name. */
enum { CLI_GLOBAL_STATE_DIR, CLI_GLOBAL_WAIT, CLI_GLOBAL_JSON, CLI_GLOBAL_VERBOSE, CLI_GLOBAL_HELP };
extern const cli_option cli_global_options[];

/* cli_parse flags */
#define CLI_PARSE_STOP_AT_OPERAND (1u << 0) /* the first operand ends the options ("ptap [OPTS] CMD ...") */

/**
 * cli_parse: parse @argv (argv[0] is the command's name) against the
 * global options and @cmd's table into @ret. A global option goes to @c.
 * A value is checked against its number limits; an option given twice
 * (counting global options given before the command) is refused unless
 * CLI_OPT_REPEATABLE. Parsing stops as soon as --help is seen, with
 * @ret->help set. Returns EX_OK, or the exit code (EX_USAGE, EX_OSERR)
 * after printing the message. Free @ret with cli_args_clear() in every
 * case.
 *
 * Exit codes and errnos never share a variable in the ptap command: a
 * function that prints and gives up returns an exit code (EX_OK to go
 * on), a libptap call returns 0 or -errno, and cli_fail() turns the
 * latter into the former.
 */
int cli_parse(cli *c, const cli_command *cmd, int argc, char **argv, unsigned flags,
              cli_args *ret);

/** cli_args_clear: free what cli_parse() allocated in @a. */
void cli_args_clear(cli_args *a);

/**
 * cli_run: parse @argv for @cmd and run its handler, the one way every
 * subcommand starts. `--help` prints cli_command_help() on stdout, exit 0.
 * Ends with cli_finish(): with --json, the run's one document (an error
 * object in it when parsing or the handler failed). Returns the process
 * exit code.
 */
int cli_run(cli *c, const cli_command *cmd, int argc, char **argv);

/** cli_command_help: `ptap CMD --help`: grammar, summary, one line per option. */
void cli_command_help(const cli_command *cmd, FILE *f);

/**
 * cli_print_synopsis: "@lead@text" wrapped at 79 columns; continuation
 * lines start at column @indent. Breaks only outside brackets.
 */
void cli_print_synopsis(FILE *f, const char *lead, const char *text, size_t indent);

/** cli_print_text: @text, already at column @col, wrapped at 79 columns
 * with continuation lines at column @indent; ends the line. */
void cli_print_text(FILE *f, size_t col, const char *text, size_t indent);

/** cli_print_options: one aligned line (or more) per entry of @opts. */
void cli_print_options(FILE *f, const cli_option *opts, size_t width);

/** cli_options_width: the option column width cli_print_options() needs for @opts. */
size_t cli_options_width(const cli_option *opts, size_t width);

/** cli_flag: was flag @i of @a's table given? */
static inline bool cli_flag(const cli_args *a, int i)
{
    return a->value[i] != NULL;
}

/** cli_err: "ptap: <message>" on stderr. Returns EX_* @code. */
int cli_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** cli_fail: report @err (or @r when err is empty) and return its exit code. */
int cli_fail(const ptap_error *err, int r, const char *what);

/** cli_usage_error: "ptap CMD: MSG" + "Try 'ptap CMD --help'."; returns
 * EX_USAGE. A NULL @cmd is ptap itself. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * cli_open_journal: open the journal of this state dir, for writing
 * (exclusive lock) or reading (shared lock; none on a state directory
 * where the lock file cannot be made, such as a read-only mount). Waits
 * for the lock at most --wait seconds (default CLI_WAIT_DEFAULT_S), saying
 * on stderr after a second who holds it; then EX_TEMPFAIL (75) naming the
 * journal and the holder. Returns EX_OK, or the exit code after printing
 * the reason.
 */
int cli_open_journal(cli *c, bool write, ptap_journal **ret);

/**
 * cli_journal_stamp: the stamp of the journal cli_open_journal() would
 * open (ptap_journal_stamp_take()), taken before a helper is started early
 * with a view: the view is used only when the journal is the same at the
 * lock (ptap_journal_changed_since()).
 */
void cli_journal_stamp(cli *c, ptap_journal_stamp *s);

/**
 * cli_open_journal_prestarted: cli_open_journal() for writing, after a
 * helper was started early (its look at the kernel taken at its start)
 * with @before taken just before it. When another ptap changed the journal
 * from @before until the lock, that look may miss what the other did: the
 * early helper is dropped, and a fresh one runs if one is needed.
 */
int cli_open_journal_prestarted(cli *c, const ptap_journal_stamp *before, ptap_journal **ret);

/* ---- JSON output: one document per run (ptap(1), JSON OUTPUT) ---- */

/* The version of the JSON contract: every document's "version". */
#define CLI_JSON_VERSION 1

/* `ptap list` found a problem: its exit code (like diff(1)), not an error. */
#define CLI_EX_PROBLEMS 1

/**
 * cli_doc: the JSON document of this run, {"version": 1, "command": ...,
 * "journal": id or null}, made on first use; a command adds its members
 * ("records", "actions", ...). With @j, "journal" becomes @j's id.
 * cli_finish() prints it. Returns a borrowed reference.
 */
json_object *cli_doc(const ptap_journal *j);

/**
 * cli_finish: end the run of command @name (NULL: ptap itself) with exit
 * code @ex. With --json: print the one document of the run, with an
 * "error" member {"code": @ex, "message": the last message cli_err() or
 * cli_usage_error() printed} when @ex says failure (anything but EX_OK
 * and CLI_EX_PROBLEMS). Without --json: nothing. Returns @ex.
 */
int cli_finish(const cli *c, const char *name, int ex);

/** cli_tap: one tap as the JSON record describes it. */
typedef struct cli_tap {
    const ptap_record *rec;   /* its record; for an orphan a stand-in made from its device */
    bool orphan;              /* no record: "state" is null */
    const ptap_kdev *dev;     /* the tap as the kernel has it, or NULL (not looked up, missing) */
    int in_kernel;            /* 1: its tap exists, 0: it does not, -1: not known */
    const ptap_netns *self;   /* the namespace ptap runs in (netns "current"), or NULL */
    const char *problem;      /* what is wrong, or NULL */
    const ptap_holder *holder; /* who holds the tap when its record names no consumer
                                * (libvirt through managed='no', a QEMU started by
                                * hand), or NULL: shown as an "external" consumer */
    int ovs_port;             /* on an Open vSwitch bridge: 1 its port row is there,
                               * -1 it is missing; 0 not on one, or not known (null) */
} cli_tap;

/**
 * cli_record_json: THE record object: every command prints a tap as this,
 * with the same keys (null where unknown), documented in ptap(1) JSON
 * OUTPUT. Its "journal" key is @j's id (ptap_journal_id()).
 */
json_object *cli_record_json(const ptap_journal *j, const cli_tap *t);

/**
 * cli_tap_find: fill @t for record @rec of journal @jid: its tap in the
 * kernel, looked up in @w in the record's namespace (where this process
 * may look: else in_kernel is -1).
 */
void cli_tap_find(ptap_kviews *w, const char *jid, const ptap_record *rec, cli_tap *t);

/** cli_action: what recover, release or a hook command did to one tap. */
typedef struct cli_action {
    const char *name;          /* the tap */
    const char *action;        /* "consumer-gone", "release", "prepare", ... */
    const char *state_before;  /* its record's state before, or NULL */
    const char *reason;
    bool done;                 /* false: a dry run */
    const ptap_netns *netns;   /* its namespace, for a tap with no record (or NULL) */
    const ptap_netns *self;    /* the namespace ptap runs in (netns "current"), or NULL */
} cli_action;

/**
 * cli_action_json: the record of @a's tap as it is now (its live record in
 * @j, else its record in @snap (of @n_snap) marked destroyed, else an
 * orphan's stand-in with nulls), with "action", "state_before", "reason"
 * and "done" beside it.
 */
json_object *cli_action_json(const ptap_journal *j, const ptap_record *snap, size_t n_snap,
                             const cli_action *a);

/** cli_record_plain: cli_record_json() of @rec alone, the kernel not looked at. */
json_object *cli_record_plain(const ptap_journal *j, const ptap_record *rec);

/**
 * cli_snapshot: a copy of @j's live records (only those of the @n_names
 * @names, unless @names is NULL), to describe afterwards the taps that a
 * command closes (destroy, forget, detach, recover). Returns the array
 * (free()) and its length in @n, or NULL on ENOMEM.
 */
ptap_record *cli_snapshot(const ptap_journal *j, char *const *names, size_t n_names, size_t *n);

/**
 * cli_record_after: the record of tap @name after a command ran: its live
 * record in @j, else its record in @snap (of @n) marked destroyed, copied
 * to @buf; NULL when it had none (an orphan).
 */
const ptap_record *cli_record_after(const ptap_journal *j, const ptap_record *snap, size_t n,
                                    const char *name, ptap_record *buf);

/** cli_user_name / cli_group_name: the name of @uid / @gid in @buf, or
 * NULL when it has none. */
const char *cli_user_name(uid_t uid, char *buf, size_t len);
const char *cli_group_name(gid_t gid, char *buf, size_t len);

/**
 * cli_check_target: refuse a TARGET with an unknown scheme ("foo:/x" is
 * neither qmp:PATH, hmp:PATH nor a libvirt domain). Returns EX_OK, or
 * EX_USAGE after printing the error for command @cmd.
 */
int cli_check_target(const char *cmd, const char *target);

/** cli_parse_owner / cli_parse_group: name or number -> id. Returns EX_OK,
 * or EX_USAGE after printing the error. */
int cli_parse_owner(const char *s, uid_t *ret);
int cli_parse_group(const char *s, gid_t *ret);

/**
 * cli_netns_json: a network namespace as JSON, {"id": "DEV:INO", "name":
 * its /run/netns name or null}; NULL (JSON null) for an unknown one (a
 * record written before ptap knew namespaces).
 */
json_object *cli_netns_json(const ptap_netns *ns);

/* The subcommands, one descriptor each (listed in this order by `ptap --help`). */
extern const cli_command cli_cmd_create, cli_cmd_destroy, cli_cmd_list, cli_cmd_forget;
extern const cli_command cli_cmd_attach, cli_cmd_detach, cli_cmd_release;
extern const cli_command cli_cmd_recover, cli_cmd_watch, cli_cmd_journal;
extern const cli_command cli_cmd_hook_prepare, cli_cmd_hook_started, cli_cmd_hook_stopped;
