/*
 * localzure-persistd — the persistence daemon: options, configuration, signals, and the server
 * (persistd/server.h) that does the work.
 *
 * Usage: localzure-persistd [--config FILE] [--repair] [--copy-to TYPE:LOCATION] [--help]
 *   --config FILE  YAML configuration (default: LOCALZURE_CONFIG, else none); LOCALZURE_*
 *                  variables override it (common/settings.h)
 *   --repair       cut a damaged WAL at the damage instead of refusing to start (the damaged
 *                  files are kept as *.broken-<time>)
 *   --copy-to TYPE:LOCATION  backend swap: fold the WAL, copy the whole state into a new, empty
 *                  sqlite:FILE or json:DIR store, and exit (0 on success); then start persistd
 *                  with that storage_type and path
 *
 * Once the socket listens, one line `msg="ready" url=...` is written to stderr whatever the log
 * level: the supervisor and the tests wait for it.
 *
 * Exit status: 0 after SIGTERM or SIGINT (the WAL folded, the backend closed); 1 when start-up
 * or the server failed (a write, fsync or backend error: nothing after it was acknowledged);
 * 2 for a bad option or an invalid configuration (the message names the key).
 *
 * Signals: SIGTERM and SIGINT are blocked while nng starts its threads, so they reach only the
 * main thread, whose handler calls server_stop().
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/settings.h"
#include "persistd/server.h"

#define DETAIL_CAP 2048

static struct server *stop_target;

static void on_stop_signal(int sig)
{
	(void)sig;
	server_stop(stop_target);
}

static void usage(FILE *out)
{
	fputs("usage: localzure-persistd [--config FILE] [--repair] [--copy-to TYPE:LOCATION] [--help]\n"
	      "  --config FILE  YAML configuration (default: $LOCALZURE_CONFIG, else none);\n"
	      "                 LOCALZURE_* environment variables override it\n"
	      "  --repair       cut a damaged WAL at the damage instead of refusing to start\n"
	      "                 (copies of the damaged files are kept)\n"
	      "  --copy-to TYPE:LOCATION  copy the state into a new sqlite:FILE or json:DIR store and exit\n",
	      out);
}

/* Parses argv into *config_path and opts; returns -1 for a bad option, 1 for --help, else 0. */
static int args_parse(int argc, char **argv, const char **config_path, struct server_opts *opts,
		      const char **copy_to)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
		if (strcmp(argv[i], "--repair") == 0) {
			opts->repair = true;
		} else if (strcmp(argv[i], "--copy-to") == 0 && i + 1 < argc) {
			*copy_to = argv[++i];
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			*config_path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0 && argv[i][9] != '\0') {
			*config_path = argv[i] + 9;
		} else {
			fprintf(stderr, "localzure-persistd: unknown or incomplete option '%s'\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

/* Blocks (how = SIG_BLOCK) or unblocks the stop signals in the calling thread. */
static bool stop_signals_mask(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	return pthread_sigmask(how, &set, NULL) == 0;
}

static bool stop_signals_catch(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGTERM, &sa, NULL) == 0 && sigaction(SIGINT, &sa, NULL) == 0 &&
	       signal(SIGPIPE, SIG_IGN) != SIG_ERR;
}

int main(int argc, char **argv)
{
	struct server_opts opts = { .repair = false };
	struct settings cfg;
	struct server *srv;
	const char *config_path = NULL, *copy_to = NULL;
	char detail[DETAIL_CAP] = "";
	int status = 1;
	lz_err err;

	switch (args_parse(argc, argv, &config_path, &opts, &copy_to)) {
	case 1:
		usage(stdout);
		return 0;
	case -1:
		usage(stderr);
		return 2;
	default:
		break;
	}
	log_set_tag("persistd");
	err = settings_load(config_path, NULL, &cfg, detail, sizeof(detail));
	if (err != LZ_OK) {
		log_write(LOG_ERROR, "invalid configuration; fix the setting and start again", "error=%s detail=\"%s\"",
			  err_name(err), detail);
		return 2;
	}
	log_threshold = cfg.log_level;

	if (!stop_signals_mask(SIG_BLOCK)) {
		log_write(LOG_ERROR, "cannot block the stop signals", "%s", "");
		goto out_release_settings;
	}
	err = server_open(&cfg, &opts, &srv, detail, sizeof(detail));
	if (err != LZ_OK) {
		log_write(LOG_ERROR, "cannot start persistd; fix the cause and start again", "error=%s detail=\"%s\"",
			  err_name(err), detail);
		goto out_release_settings;
	}
	if (copy_to != NULL) {
		err = server_copy_to(srv, copy_to, detail, sizeof(detail));
		if (err != LZ_OK)
			log_write(LOG_ERROR, "backend copy failed; nothing changed in the store in use",
				  "error=%s detail=\"%s\"", err_name(err), detail);
		else
			status = 0;
		goto out_close_server;
	}
	stop_target = srv;
	if (!stop_signals_catch() || !stop_signals_mask(SIG_UNBLOCK)) {
		log_write(LOG_ERROR, "cannot set up signal handling", "%s", "");
		goto out_close_server;
	}
	log_write(LOG_INFO, "ready", "url=%s data_dir=%s", server_url(srv), cfg.data_dir);

	err = server_run(srv, detail, sizeof(detail));
	if (err != LZ_OK) {
		log_write(LOG_ERROR, "persistd stopped on a fatal error; nothing after it was acknowledged",
			  "error=%s detail=\"%s\"", err_name(err), detail);
		goto out_close_server;
	}
	status = 0;
	LZ_LOG(LOG_INFO, "stopped", "%s", "");
out_close_server:
	server_close(srv);
out_release_settings:
	settings_release(&cfg);
	return status;
}
