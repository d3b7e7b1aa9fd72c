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
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>
#include <json-c/json.h>

#include "error.h"
#include "journal.h"

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
 * Returns the process exit code.
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

/** cli_print_json: print @o (pretty) and drop the reference. */
void cli_print_json(json_object *o);

/** cli_parse_owner / cli_parse_group: name or number -> id. Returns EX_OK,
 * or EX_USAGE after printing the error. */
int cli_parse_owner(const char *s, uid_t *ret);
int cli_parse_group(const char *s, gid_t *ret);

/**
 * cli_record_json: a journal record as the JSON object create, list and
 * journal dump print. Its "journal" key is @j's id (ptap_journal_id()):
 * every JSON object ptap prints about a tap carries it. Its "netns" key is
 * the tap's network namespace (cli_netns_json()).
 */
json_object *cli_record_json(const ptap_journal *j, const ptap_record *rec);

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
