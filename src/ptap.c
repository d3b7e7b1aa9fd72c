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
    fputs("\n'ptap COMMAND --help' describes a command's options.\n"
          "Exit codes: 0 ok, 64 usage or invalid input, 69 target unavailable,\n"
          "71 the system refused, 77 denied by policy, 78 bad or unsafe configuration.\n"
          "See ptap(1).\n",
          f);
}

int main(int argc, char **argv)
{
    _cleanup_(cli_args_clear) cli_args a = { 0 };
    cli c = { 0 };
    const char *name;
    int ex;

    ex = cli_parse(&c, &main_command, argc, argv, CLI_PARSE_STOP_AT_OPERAND, &a);
    if (ex != EX_OK)
        return ex;
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
        return EX_USAGE;
    }
    name = a.argv[0];
    for (size_t g = 0; g < ARRAY_SIZE(groups); g++)
        for (size_t i = 0; i < ARRAY_SIZE(groups[g].cmds) && groups[g].cmds[i]; i++)
            if (strcmp(name, groups[g].cmds[i]->name) == 0)
                return cli_run(&c, groups[g].cmds[i], a.argc, a.argv);
    fprintf(stderr, "ptap: unknown command '%s'\nTry 'ptap --help'.\n", name);
    return EX_USAGE;
}
