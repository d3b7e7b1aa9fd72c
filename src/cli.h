/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli.h: shared pieces of the ptap command. Only this layer talks to the
 * user: one message per failure, at the top, naming the object and the
 * reason; exit codes from sysexits.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <sysexits.h>
#include <json-c/json.h>

#include "error.h"
#include "journal.h"

typedef struct cli {
    const char *state_dir;   /* --state-dir, or NULL for the default */
    bool verbose;
    bool json;
} cli;

/* Global options every subcommand accepts too. */
#define CLI_GLOBAL_OPTS                                   \
    { "state-dir", required_argument, NULL, 'S' },        \
    { "verbose", no_argument, NULL, 'v' },                \
    { "json", no_argument, NULL, 'j' },                   \
    { "help", no_argument, NULL, 'h' }

/** cli_global_opt: handle a global option; true if @c was one. */
bool cli_global_opt(cli *c, int opt, const char *arg);

/** cli_err: "ptap: <message>" on stderr. Returns EX_* @code. */
int cli_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** cli_fail: report @err (or @r when err is empty) and return its exit code. */
int cli_fail(const ptap_error *err, int r, const char *what);

/** cli_open_journal: open the journal of this state dir; on failure
 * prints the reason and returns the exit code (as a negative number). */
int cli_open_journal(cli *c, bool write, ptap_journal **ret);

/** cli_print_json: print @o (pretty) and drop the reference. */
void cli_print_json(json_object *o);

/** cli_parse_owner / cli_parse_group: name or number -> id; prints errors. */
int cli_parse_owner(const char *s, uid_t *ret);
int cli_parse_group(const char *s, gid_t *ret);

/** cli_usage_error: "ptap CMD: MSG" + hint; returns EX_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** cli_record_json: a journal record as the JSON object list/attach print. */
json_object *cli_record_json(const ptap_record *rec);

/* Subcommands: each returns the process exit code. */
int cmd_create(cli *c, int argc, char **argv);
int cmd_destroy(cli *c, int argc, char **argv);
int cmd_list(cli *c, int argc, char **argv);
int cmd_recover(cli *c, int argc, char **argv);
int cmd_forget(cli *c, int argc, char **argv);
int cmd_journal(cli *c, int argc, char **argv);
int cmd_attach(cli *c, int argc, char **argv);
int cmd_detach(cli *c, int argc, char **argv);
int cmd_release(cli *c, int argc, char **argv);
int cmd_watch(cli *c, int argc, char **argv);
