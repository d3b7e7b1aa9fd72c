/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptap: the libvirt-side command of ptap. Parses arguments, calls
 * libptap, and is the only layer that talks to the user. This file is the
 * list of commands and `ptap --help`; cli-parse.c parses, each cmd-*.c
 * holds its commands' descriptors and handlers.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command help_command;

/* `ptap --help` lists the commands in these groups, in this order. */
static const struct {
    const char *heading;
    const cli_command *cmds[5];
    const char *note; /* after the group's commands, or NULL */
} groups[] = {
    { .heading = "Pool of taps",
      .cmds = { &cli_cmd_create, &cli_cmd_destroy, &cli_cmd_list, &cli_cmd_forget } },
    { .heading = "Guests",
      .cmds = { &cli_cmd_attach, &cli_cmd_detach, &cli_cmd_release },
      .note = "TARGET is a libvirt domain (name or UUID), qmp:PATH or hmp:PATH" },
    { .heading = "Recovery and the journal",
      .cmds = { &cli_cmd_recover, &cli_cmd_watch, &cli_cmd_journal } },
    { .heading = "libvirt hook (run by libvirtd, domain XML on stdin)",
      .cmds = { &cli_cmd_hook_prepare, &cli_cmd_hook_started, &cli_cmd_hook_stopped } },
    { .heading = "Help", .cmds = { &help_command } },
};

#define SUMMARY_COLUMN 27

/* ptap's own options, on top of cli_global_options. */
enum { MAIN_VERSION };
static const cli_option main_options[] = {
    [MAIN_VERSION] = { .name = "version", .short_name = 'V', .help = "the version" },
    {},
};

static const cli_command main_command = {
    .name = NULL, /* messages say "ptap: ...", not "ptap CMD: ..." */
    .synopsis = "COMMAND [ARGS]",
    .options = main_options,
};

static void usage(FILE *f)
{
    size_t width = cli_options_width(main_options, cli_options_width(cli_global_options, 0));

    fputs("Usage: ptap [GLOBAL OPTIONS] COMMAND [ARGS]\n"
          "\n"
          "Hot-plug NICs into running QEMU/KVM guests through persistent taps.\n",
          f);
    for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
        fprintf(f, "\n%s:\n", groups[g].heading);
        for (size_t i = 0; i < ARRAY_SIZE(groups[g].cmds) && groups[g].cmds[i]; i++) {
            const cli_command *cmd = groups[g].cmds[i];
            char lead[32];
            size_t n = (size_t) snprintf(lead, sizeof(lead), "  %s ", cmd->name);

            /* A short grammar shares its line with the summary. */
            if (n + strlen(cmd->synopsis) + 1 < SUMMARY_COLUMN) {
                fprintf(f, "%s%-*s", lead, (int) (SUMMARY_COLUMN - n), cmd->synopsis);
                cli_print_text(f, SUMMARY_COLUMN, cmd->summary, SUMMARY_COLUMN);
                continue;
            }
            cli_print_synopsis(f, lead, cmd->synopsis, n);
            fprintf(f, "%*s", SUMMARY_COLUMN, "");
            cli_print_text(f, SUMMARY_COLUMN, cmd->summary, SUMMARY_COLUMN);
        }
        if (groups[g].note)
            fprintf(f, "  %s\n", groups[g].note);
    }
    fputs("\nGlobal options:\n", f);
    cli_print_options(f, cli_global_options, width);
    cli_print_options(f, main_options, width);
    fputs("\n'ptap help COMMAND' (or 'ptap COMMAND --help') describes a command.\n"
          "With --json every command prints one JSON document, also when it fails\n"
          "(ptap(1), JSON OUTPUT).\n"
          "Exit codes: 0 ok, 1 list found problems, 64 usage or invalid input,\n"
          "69 target unavailable, 71 the system refused, 75 busy (journal locked, tap\n"
          "in use), 77 denied by policy, 78 bad or unsafe configuration. See ptap(1).\n",
          f);
}

static const cli_command *find_command(const char *name)
{
    for (size_t g = 0; g < ARRAY_SIZE(groups); g++)
        for (size_t i = 0; i < ARRAY_SIZE(groups[g].cmds) && groups[g].cmds[i]; i++)
            if (strcmp(name, groups[g].cmds[i]->name) == 0)
                return groups[g].cmds[i];
    return NULL;
}

/* ptap help [COMMAND]: what --help prints, as a command (git, systemctl). */
static int run_help(cli *c, const cli_args *a)
{
    const cli_command *cmd;

    (void) c;
    if (a->argc > 1)
        return cli_usage_error("help", "expected at most one COMMAND");
    if (a->argc == 0) {
        usage(stdout);
        return EX_OK;
    }
    cmd = find_command(a->argv[0]);
    if (!cmd)
        return cli_usage_error("help", "unknown command '%s'", a->argv[0]);
    cli_command_help(cmd, stdout);
    return EX_OK;
}

static const cli_command help_command = {
    .name = "help",
    .synopsis = "[COMMAND]",
    .summary = "this text, or what COMMAND does and its options",
    .run = run_help,
};

/* Does the command line ask for JSON? Known before it is parsed, so that
 * even an error in parsing it answers in JSON. */
static bool wants_json(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    _cleanup_(cli_args_clear) cli_args a = { 0 };
    cli c = { 0 };
    const cli_command *cmd;
    int ex;

    ex = cli_parse(&c, &main_command, argc, argv, CLI_PARSE_STOP_AT_OPERAND, &a);
    if (ex != EX_OK) {
        c.json = wants_json(argc, argv);
        return cli_finish(&c, NULL, ex);
    }
    if (a.help) {
        usage(stdout);
        return EX_OK;
    }
    if (cli_flag(&a, MAIN_VERSION)) {
        printf("ptap %s\n", PTAP_VERSION);
        return EX_OK;
    }
    if (a.argc == 0) {
        usage(stderr);
        if (c.json)
            cli_err(0, "no command given");
        return cli_finish(&c, NULL, EX_USAGE);
    }
    cmd = find_command(a.argv[0]);
    if (cmd) {
        /* A usage error after the command's name: in JSON if asked anywhere. */
        c.json = c.json || wants_json(a.argc, a.argv);
        return cli_run(&c, cmd, a.argc, a.argv);
    }
    c.json = c.json || wants_json(a.argc, a.argv);
    return cli_finish(&c, NULL, cli_usage_error(NULL, "unknown command '%s'", a.argv[0]));
}
