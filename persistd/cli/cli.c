/*
 * cli — see cli.h.
 */
#include "persistd/cli/cli.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_fail(struct cli *c, int code, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "localzure: %s: %s\n", c->command, msg);
	if (c->json)
		cli_json_print(json_pack("{s:s, s:i}", "error", msg, "exit", code));
	return code;
}

int cli_usage(struct cli *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cli_fail(c, CLI_EUSAGE, "%s (try 'localzure %s --help')", msg, c->command);
}

void cli_json_print(json_t *doc)
{
	if (doc == NULL) {
		fputs("{\"error\": \"out of memory\"}\n", stdout);
		return;
	}
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	json_decref(doc);
}

bool cli_confirm(struct cli *c, const char *question, const char *expect)
{
	char line[256];
	size_t n;

	if (!c->tty_in) {
		fprintf(stderr, "localzure: %s: %s -- no terminal to ask on; pass --yes to confirm\n", c->command,
			question);
		return false;
	}
	fprintf(stderr, "%s ", question);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return strcmp(line, expect) == 0;
}

static struct timespec progress_last;
static bool progress_shown;

void cli_progress(struct cli *c, const char *label, unsigned long long done, unsigned long long total)
{
	struct timespec now;

	if (!c->tty_err || c->json)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* At most ten redraws a second. */
	if (progress_shown && (now.tv_sec - progress_last.tv_sec) * 1000000000L + (now.tv_nsec - progress_last.tv_nsec) <
				      100000000L && (total == 0 || done < total))
		return;
	progress_last = now;
	progress_shown = true;
	if (total > 0) {
		unsigned pct = (unsigned)(done * 100 / total);
		char bar[31];
		unsigned fill = pct * 30 / 100;

		memset(bar, '#', fill);
		memset(bar + fill, '.', 30 - fill);
		bar[30] = '\0';
		fprintf(stderr, "\r%s [%s] %llu/%llu (%u%%)", label, bar, done, total, pct);
	} else {
		fprintf(stderr, "\r%s %llu", label, done);
	}
	fflush(stderr);
}

void cli_progress_end(struct cli *c)
{
	if (progress_shown && c->tty_err && !c->json)
		fputc('\n', stderr);
	progress_shown = false;
}
