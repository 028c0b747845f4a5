/*
 * cli — what the subcommands of the `localzure` command share: the invocation (configuration,
 * output mode), the exit codes scripts rely on, and output helpers.
 *
 * Every subcommand is one struct cli_command in a table of its module (cmd_storage.c,
 * cmd_wal.c, cmd_entity.c) listed in main.c. main.c parses the global options (--config FILE,
 * --json, --help, anywhere on the line), loads the configuration (common/settings.h: YAML file,
 * then LOCALZURE_* variables), and calls run() with the arguments after the command words.
 *
 * Output: human-readable text on stdout, or with --json exactly one JSON document on stdout
 * (cli_json_print). Errors always go to stderr as one line "localzure: <command>: <what>", and
 * with --json also as {"error": "...", "exit": N} on stdout so that scripts can parse either.
 *
 * Thread rules: single-threaded.
 */
#ifndef LZ_PERSISTD_CLI_CLI_H
#define LZ_PERSISTD_CLI_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "common/settings.h"

/* Exit codes; stable, documented in docs/operations.md. */
enum cli_exit {
	CLI_OK = 0,          /* done */
	CLI_EFAIL = 1,       /* the operation failed (I/O error, server error, bad data) */
	CLI_EUSAGE = 2,      /* wrong arguments or invalid configuration: nothing was done */
	CLI_EUNREACHABLE = 3, /* persistd (control socket) or the broker (HTTP) could not be reached */
	CLI_EREFUSED = 4,    /* refused: no confirmation, store not empty, a broker is connected */
	CLI_ENOTFOUND = 5,   /* the entity, message, store or file does not exist */
	CLI_EDAMAGED = 6,    /* wal verify / a store check found damage */
};

struct cli {
	const char *command;   /* "storage stats", for messages */
	struct settings cfg;   /* the configuration in force */
	bool json;             /* --json */
	bool tty_in, tty_err;  /* stdin / stderr are terminals (prompts, progress bars) */
};

struct cli_command {
	const char *group;     /* "storage", "wal", "queue", ...; "" for a top-level command */
	const char *name;      /* "stats" */
	const char *args;      /* synopsis after the command words: "FILE [--replace] [--yes]" */
	const char *summary;   /* one line */
	const char *help;      /* the rest of --help: options and what the command does */
	int (*run)(struct cli *c, int argc, char **argv); /* argv[0] is the first argument */
};

/* Prints "localzure: <command>: <message>" on stderr (and the JSON error document on stdout with
 * --json) and returns `code`. */
int cli_fail(struct cli *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A usage error: the message, then "try 'localzure <command> --help'"; returns CLI_EUSAGE. */
int cli_usage(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints `doc` (stolen: decref'd here) as one JSON document on stdout. */
void cli_json_print(json_t *doc);

/* Asks `question` on a terminal and reads one line; true when it equals `expect` exactly. Without
 * a terminal on stdin the answer is "no" (scripts pass --yes). */
bool cli_confirm(struct cli *c, const char *question, const char *expect);

/* A progress line on stderr when it is a terminal and --json is off: "label: done/total (p%)";
 * total 0 means unknown. cli_progress_end finishes the line. */
void cli_progress(struct cli *c, const char *label, unsigned long long done, unsigned long long total);
void cli_progress_end(struct cli *c);

#endif
