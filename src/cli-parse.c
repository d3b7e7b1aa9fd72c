/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli-parse.c: the one argument parser of the ptap command, and the help
 * it prints. A command's cli_command descriptor drives both: its option
 * table becomes the getopt_long table, the `ptap CMD --help` text and the
 * names in usage errors, so the three cannot drift apart.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "helperexec.h"
#include "log.h"
#include "validate.h"

/* getopt_long values: a short option is its character; a long one is
 * its table and index, above every character. */
#define VAL_GLOBAL 0x100
#define VAL_COMMAND 0x200

#define LINE_WIDTH 79

const cli_option cli_global_options[] = {
    [CLI_GLOBAL_STATE_DIR] = CLI_VALUE("state-dir", "DIR",
                                       "journal directory (default /run/ptap for root, "
                                       "$XDG_RUNTIME_DIR/ptap otherwise)"),
    [CLI_GLOBAL_WAIT] = CLI_NUMBER("wait", "SECONDS",
                                   "how long to wait for the journal lock that another ptap "
                                   "holds, then give up with exit 75 (default 10)",
                                   0, CLI_WAIT_MAX_S, "seconds"),
    [CLI_GLOBAL_JSON] = CLI_FLAG("json", "machine-readable output"),
    [CLI_GLOBAL_VERBOSE] = { .name = "verbose", .short_name = 'v', .help = "debug messages on stderr" },
    [CLI_GLOBAL_HELP] = { .name = "help", .short_name = 'h', .help = "this text" },
    {},
};

static size_t n_options(const cli_option *opts)
{
    size_t n = 0;

    while (opts && opts[n].name)
        n++;
    return n;
}

void cli_args_clear(cli_args *a)
{
    free(a->value);
    free(a->num);
    a->value = NULL;
    a->num = NULL;
}

/* The table entry for what getopt_long returned: @global says which table. */
static const cli_option *lookup(const cli_command *cmd, int opt, bool *global, size_t *idx)
{
    size_t n_global = n_options(cli_global_options), n_cmd = n_options(cmd->options);

    if (opt >= VAL_COMMAND && (size_t) (opt - VAL_COMMAND) < n_cmd) {
        *global = false;
        *idx = (size_t) (opt - VAL_COMMAND);
        return &cmd->options[*idx];
    }
    if (opt >= VAL_GLOBAL && (size_t) (opt - VAL_GLOBAL) < n_global) {
        *global = true;
        *idx = (size_t) (opt - VAL_GLOBAL);
        return &cli_global_options[*idx];
    }
    for (size_t i = 0; i < n_global; i++)
        if (cli_global_options[i].short_name == opt) {
            *global = true;
            *idx = i;
            return &cli_global_options[i];
        }
    for (size_t i = 0; i < n_cmd; i++)
        if (cmd->options[i].short_name == opt) {
            *global = false;
            *idx = i;
            return &cmd->options[i];
        }
    return NULL;
}

/* Is "--@arg" the start of more than one long option's name? */
static bool is_ambiguous(const cli_command *cmd, const char *arg)
{
    size_t len, n = 0;

    if (strncmp(arg, "--", 2) != 0)
        return false;
    arg += 2;
    len = strcspn(arg, "=");
    for (size_t t = 0; t < 2; t++) {
        const cli_option *opts = t == 0 ? cli_global_options : cmd->options;
        for (size_t i = 0; opts && opts[i].name; i++)
            n += strncmp(opts[i].name, arg, len) == 0;
    }
    return n > 1;
}

/* getopt_long returned '?' or ':' (opterr is 0: the message is ours).
 * Returns EX_USAGE. */
static int bad_option(const cli_command *cmd, int opt, char **argv)
{
    const cli_option *o;
    bool global;
    size_t idx;
    const char *arg;

    o = optopt ? lookup(cmd, optopt, &global, &idx) : NULL;
    if (opt == ':')
        return o ? cli_usage_error(cmd->name, "option '--%s' needs a value", o->name)
                 : cli_usage_error(cmd->name, "option '-%c' needs a value", optopt);
    if (o) /* --flag=VALUE */
        return cli_usage_error(cmd->name, "option '--%s' takes no value", o->name);
    if (optopt)
        return cli_usage_error(cmd->name, "invalid option '-%c'", optopt);
    /* An unknown or ambiguous long option: getopt_long has stepped past it. */
    arg = argv[optind - 1];
    if (is_ambiguous(cmd, arg))
        return cli_usage_error(cmd->name, "option '%.*s' is ambiguous", (int) strcspn(arg, "="), arg);
    return cli_usage_error(cmd->name, "invalid option '%.*s'", (int) strcspn(arg, "="), arg);
}

static void set_global(cli *c, size_t idx, const char *value, uint64_t num)
{
    switch (idx) {
    case CLI_GLOBAL_STATE_DIR:
        c->state_dir = value;
        break;
    case CLI_GLOBAL_WAIT:
        c->wait_s = (unsigned) num;
        c->wait_given = true;
        break;
    case CLI_GLOBAL_JSON:
        c->json = true;
        break;
    case CLI_GLOBAL_VERBOSE:
        c->verbose = true;
        break;
    }
}

/* The getopt_long tables for @cmd: the global options, then its own. */
static int getopt_tables(const cli_command *cmd, unsigned flags, struct option **ret_long,
                         char **ret_short)
{
    size_t n_global = n_options(cli_global_options), n_cmd = n_options(cmd->options);
    _cleanup_free_ struct option *longopts = calloc(n_global + n_cmd + 1, sizeof(*longopts));
    _cleanup_free_ char *shortopts = calloc(2 + 2 * (n_global + n_cmd) + 1, 1); /* "+:", "c:"... */
    size_t k = 0;
    char *s = shortopts;

    if (!longopts || !shortopts)
        return -ENOMEM;
    if (flags & CLI_PARSE_STOP_AT_OPERAND)
        *s++ = '+';
    *s++ = ':'; /* a missing value is ':', not '?' */
    for (size_t t = 0; t < 2; t++) {
        const cli_option *opts = t == 0 ? cli_global_options : cmd->options;
        size_t n = t == 0 ? n_global : n_cmd;

        for (size_t i = 0; i < n; i++) {
            longopts[k++] = (struct option) {
                opts[i].name, opts[i].arg ? required_argument : no_argument, NULL,
                (t == 0 ? VAL_GLOBAL : VAL_COMMAND) + (int) i,
            };
            if (opts[i].short_name) {
                *s++ = opts[i].short_name;
                if (opts[i].arg)
                    *s++ = ':';
            }
        }
    }
    *ret_long = TAKE_PTR(longopts);
    *ret_short = TAKE_PTR(shortopts);
    return 0;
}

/* Option @o (entry @idx of the global table or of @a's) was given, with
 * @arg: refuse it twice, check its number, keep it. Returns EX_OK or
 * EX_USAGE (printed). */
static int take_option(cli *c, cli_args *a, const cli_option *o, bool global, size_t idx,
                       const char *arg)
{
    const char *value = o->arg ? arg : "";
    bool seen = global ? c->globals_given & (1u << idx) : a->value[idx] != NULL;
    uint64_t v = 0;

    if (seen && !(o->flags & CLI_OPT_REPEATABLE))
        return cli_usage_error(a->cmd->name, "option '--%s' given twice", o->name);
    if (o->max > 0 && ptap_parse_uint(value, o->min, o->max, &v) < 0)
        return cli_usage_error(a->cmd->name, "invalid --%s '%s': expected %" PRIu64 "..%" PRIu64 "%s%s",
                               o->name, value, o->min, o->max, o->unit ? " " : "",
                               o->unit ? o->unit : "");
    if (global) {
        c->globals_given |= 1u << idx;
        set_global(c, idx, value, v);
    } else {
        a->value[idx] = value;
        a->num[idx] = v;
    }
    return EX_OK;
}

int cli_parse(cli *c, const cli_command *cmd, int argc, char **argv, unsigned flags,
              cli_args *ret)
{
    size_t n_cmd = n_options(cmd->options);
    _cleanup_free_ struct option *longopts = NULL;
    _cleanup_free_ char *shortopts = NULL;
    int opt, ex;

    *ret = (cli_args) { .cmd = cmd };
    ret->value = calloc(n_cmd + 1, sizeof(*ret->value));
    ret->num = calloc(n_cmd + 1, sizeof(*ret->num));
    if (!ret->value || !ret->num || getopt_tables(cmd, flags, &longopts, &shortopts) < 0)
        return cli_err(EX_OSERR, "out of memory");

    opterr = 0;
    optind = 0; /* glibc: start afresh, argv[0] being the command's name */
    while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const cli_option *o;
        bool global;
        size_t idx;

        if (opt == '?' || opt == ':')
            return bad_option(cmd, opt, argv);
        o = lookup(cmd, opt, &global, &idx);
        if (!o)
            return cli_usage_error(cmd->name, "invalid option '-%c'", opt);
        if (global && idx == CLI_GLOBAL_HELP) {
            ret->help = true;
            return EX_OK;
        }
        ex = take_option(c, ret, o, global, idx, optarg);
        if (ex != EX_OK)
            return ex;
    }
    ret->argc = argc - optind;
    ret->argv = argv + optind;
    return EX_OK;
}

static void log_stderr(int prio, const char *msg, void *userdata)
{
    (void) userdata;
    fprintf(stderr, "ptap: %s%s\n", prio >= LOG_DEBUG ? "debug: " : "", msg);
}

int cli_run(cli *c, const cli_command *cmd, int argc, char **argv)
{
    _cleanup_(cli_args_clear) cli_args a = { 0 };
    int ex;

    ex = cli_parse(c, cmd, argc, argv, 0, &a);
    if (ex != EX_OK)
        return cli_finish(c, cmd->name, ex);
    if (a.help) {
        cli_command_help(cmd, stdout); /* text, even with --json */
        return EX_OK;
    }
    if (c->verbose)
        ptap_log_set_handler(log_stderr, NULL);
    ex = cmd->run(c, &a);
    ptap_helper_prestart_drop(); /* one started early and never told to go */
    if (c->verbose)
        ptap_log_set_handler(NULL, NULL);
    return cli_finish(c, cmd->name, ex);
}

/* ---- help ---- */

/* Print @text from column @col on, breaking at spaces (only outside
 * brackets when @grammar) before LINE_WIDTH; continuation lines start at
 * column @indent. */
static void print_wrapped(FILE *f, size_t col, const char *text, size_t indent, bool grammar)
{
    const char *p = text;

    while (*p) {
        const char *end = p;
        int depth = 0;
        size_t len;

        /* One word: up to a space outside brackets. */
        for (; *end && (*end != ' ' || depth > 0); end++) {
            if (!grammar)
                continue;
            if (*end == '[' || *end == '(')
                depth++;
            else if ((*end == ']' || *end == ')') && depth > 0)
                depth--;
        }
        len = (size_t) (end - p);
        if (p != text) {
            if (col + 1 + len > LINE_WIDTH && col > indent) {
                fprintf(f, "\n%*s", (int) indent, "");
                col = indent;
            } else {
                fputc(' ', f);
                col++;
            }
        }
        fwrite(p, 1, len, f);
        col += len;
        p = end;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

void cli_print_synopsis(FILE *f, const char *lead, const char *text, size_t indent)
{
    fputs(lead, f);
    print_wrapped(f, strlen(lead), text, indent, true);
}

void cli_print_text(FILE *f, size_t col, const char *text, size_t indent)
{
    print_wrapped(f, col, text, indent, false);
}

/* "  -v, --verbose" or "  --count N" */
static int option_label(const cli_option *o, char *buf, size_t size)
{
    char s[8] = "";

    if (o->short_name)
        snprintf(s, sizeof(s), "-%c, ", o->short_name);
    return snprintf(buf, size, "  %s--%s%s%s", s, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

size_t cli_options_width(const cli_option *opts, size_t width)
{
    char label[128];

    for (size_t i = 0; opts && opts[i].name; i++) {
        size_t n = (size_t) option_label(&opts[i], label, sizeof(label)) + 2;
        if (n > width && n <= 28)
            width = n;
    }
    return width;
}

void cli_print_options(FILE *f, const cli_option *opts, size_t width)
{
    char label[128], help[512];

    for (size_t i = 0; opts && opts[i].name; i++) {
        const cli_option *o = &opts[i];
        size_t n = (size_t) option_label(o, label, sizeof(label));

        if (o->max > 0)
            snprintf(help, sizeof(help), "%s (%" PRIu64 "..%" PRIu64 "%s%s)", o->help, o->min,
                     o->max, o->unit ? " " : "", o->unit ? o->unit : "");
        else
            snprintf(help, sizeof(help), "%s", o->help);
        if (n + 2 > width)
            fprintf(f, "%s\n%*s", label, (int) width, "");
        else
            fprintf(f, "%-*s", (int) width, label);
        print_wrapped(f, width, help, width, false);
    }
}

void cli_command_help(const cli_command *cmd, FILE *f)
{
    char lead[64];
    size_t width;

    snprintf(lead, sizeof(lead), "Usage: ptap [GLOBAL OPTIONS] %s ", cmd->name);
    cli_print_synopsis(f, lead, cmd->synopsis, strlen("Usage: "));
    fprintf(f, "%c%s.\n", toupper((unsigned char) cmd->summary[0]), cmd->summary + 1);
    if (cmd->details)
        fprintf(f, "\n%s", cmd->details);
    width = cli_options_width(cmd->options, cli_options_width(cli_global_options, 0));
    if (cmd->options && cmd->options[0].name) {
        fputs("\nOptions:\n", f);
        cli_print_options(f, cmd->options, width);
    }
    fputs("\nGlobal options:\n", f);
    cli_print_options(f, cli_global_options, width);
    fprintf(f, "\nSee %s; 'ptap --help' lists every command.\n", cmd->see ? cmd->see : "ptap(1)");
}
