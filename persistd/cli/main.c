/*
 * localzure — the operator's command: storage management and WAL inspection (talking to a running
 * persistd over its control socket, or working on the store directly when persistd is stopped),
 * and entity helpers that go through the broker's HTTP API.
 *
 * Usage: localzure [--config FILE] [--json] GROUP COMMAND [ARGS] | localzure COMMAND [ARGS]
 *        localzure [GROUP [COMMAND]] --help
 * The global options may appear anywhere on the line. Exit codes: persistd/cli/cli.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "persistd/cli/cli.h"
#include "persistd/cli/commands.h"

#define DETAIL_CAP 2048

static const struct cli_command *const tables[] = {
	cli_storage_commands,
	cli_wal_commands,
	cli_entity_commands,
};

#define NTABLES (sizeof tables / sizeof tables[0])

static void usage_all(FILE *out)
{
	fputs("usage: localzure [--config FILE] [--json] GROUP COMMAND [ARGS]\n"
	      "       localzure GROUP [COMMAND] --help\n\n"
	      "Commands:\n",
	      out);
	for (size_t t = 0; t < NTABLES; t++)
		for (const struct cli_command *k = tables[t]; k->name != NULL; k++)
			fprintf(out, "  %s%s%-*s %s\n", k->group, k->group[0] ? " " : "",
				(int)(24 - strlen(k->group) - (k->group[0] ? 1 : 0)), k->name, k->summary);
	fputs("\nGlobal options:\n"
	      "  --config FILE  YAML configuration (default: $LOCALZURE_CONFIG); LOCALZURE_* variables\n"
	      "                 override it. The CLI reads data_dir, control_url, the storage keys and\n"
	      "                 http_host/http_port (the broker's address)\n"
	      "  --json         machine-readable output: one JSON document on stdout\n"
	      "  --help         help for the command\n\n"
	      "Exit codes: 0 ok, 1 failed, 2 usage error, 3 persistd or broker unreachable,\n"
	      "            4 refused (no confirmation, store not empty, broker connected),\n"
	      "            5 not found, 6 damage found\n",
	      out);
}

static void usage_command(FILE *out, const struct cli_command *k)
{
	fprintf(out, "usage: localzure %s%s%s%s%s\n%s\n", k->group, k->group[0] ? " " : "", k->name,
		k->args[0] ? " " : "", k->args, k->summary);
	if (k->help[0] != '\0')
		fprintf(out, "\n%s", k->help);
}

static bool group_known(const char *g)
{
	for (size_t t = 0; t < NTABLES; t++)
		for (const struct cli_command *k = tables[t]; k->name != NULL; k++)
			if (k->group[0] != '\0' && strcmp(k->group, g) == 0)
				return true;
	return false;
}

static void usage_group(FILE *out, const char *g)
{
	fprintf(out, "usage: localzure %s COMMAND [ARGS]\n\nCommands:\n", g);
	for (size_t t = 0; t < NTABLES; t++)
		for (const struct cli_command *k = tables[t]; k->name != NULL; k++)
			if (strcmp(k->group, g) == 0)
				fprintf(out, "  %-14s %s\n", k->name, k->summary);
}

static const struct cli_command *command_find(const char *group, const char *name)
{
	for (size_t t = 0; t < NTABLES; t++)
		for (const struct cli_command *k = tables[t]; k->name != NULL; k++)
			if (strcmp(k->group, group) == 0 && strcmp(k->name, name) == 0)
				return k;
	return NULL;
}

int main(int argc, char **argv)
{
	struct cli c = { .command = "localzure" };
	const char *config_path = NULL;
	const struct cli_command *k = NULL;
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	char detail[DETAIL_CAP];
	char command[128];
	bool help = false;
	int nrest = 0, words, rc;

	if (rest == NULL) {
		fputs("localzure: out of memory\n", stderr);
		return CLI_EFAIL;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (++i < argc)
				rest[nrest++] = argv[i];
			break;
		}
		if (strcmp(argv[i], "--json") == 0) {
			c.json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			help = true;
		} else if (strcmp(argv[i], "--config") == 0) {
			if (++i == argc) {
				fputs("localzure: --config needs a FILE\n", stderr);
				free(rest);
				return CLI_EUSAGE;
			}
			config_path = argv[i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config_path = argv[i] + 9;
		} else {
			rest[nrest++] = argv[i];
		}
	}
	/* A command is "GROUP NAME" or a top-level "NAME". */
	if (nrest >= 2 && (k = command_find(rest[0], rest[1])) != NULL) {
		words = 2;
		snprintf(command, sizeof(command), "%s %s", rest[0], rest[1]);
	} else if (nrest >= 1 && (k = command_find("", rest[0])) != NULL) {
		words = 1;
		snprintf(command, sizeof(command), "%s", rest[0]);
	}
	if (k == NULL) {
		rc = CLI_EUSAGE;
		if (nrest == 0 && help) {
			usage_all(stdout);
			rc = CLI_OK;
		} else if (nrest >= 1 && group_known(rest[0])) {
			if (help && nrest == 1) {
				usage_group(stdout, rest[0]);
				rc = CLI_OK;
			} else {
				fprintf(stderr, "localzure: %s: unknown command '%s'\n", rest[0], nrest > 1 ? rest[1] : "");
				usage_group(stderr, rest[0]);
			}
		} else {
			if (nrest >= 1)
				fprintf(stderr, "localzure: unknown command '%s'\n", rest[0]);
			usage_all(stderr);
		}
		free(rest);
		return rc;
	}
	if (help) {
		usage_command(stdout, k);
		free(rest);
		return CLI_OK;
	}
	c.command = command;
	c.tty_in = isatty(STDIN_FILENO) == 1;
	c.tty_err = isatty(STDERR_FILENO) == 1;
	if (settings_load(config_path, NULL, &c.cfg, detail, sizeof(detail)) != LZ_OK) {
		rc = cli_fail(&c, CLI_EUSAGE, "invalid configuration: %s", detail);
		free(rest);
		return rc;
	}
	log_set_tag("localzure");
	log_threshold = c.cfg.log_level < LOG_WARN ? LOG_WARN : c.cfg.log_level;
	rc = k->run(&c, nrest - words, rest + words);
	settings_release(&c.cfg);
	free(rest);
	return rc;
}
