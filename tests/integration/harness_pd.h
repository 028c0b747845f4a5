/*
 * harness_pd — the persistd process and the `localzure` command for integration tests.
 *
 * persistd: pd_init() makes a fresh data directory (mkdtemp under $TMPDIR or /tmp) and the
 * environment for the chosen storage type; pd_start() forks the binary (env LZ_PERSISTD_BIN, else
 * derived from LZ_BROKER_BIN) with every inherited LOCALZURE_* variable removed and the pd's own
 * set, appends its stdout/stderr to <data_dir>/persistd.log and waits (bounded, 15 s) for its
 * `msg="ready"` line. pd_signal() signals it and reaps it (SIGKILL after 20 s). pd_cleanup()
 * kills it and removes the data directory. broker_start_durable() starts a broker (harness.h)
 * with durability sync on the pd's data directory.
 *
 * CLI: h_cli_run() runs env LZ_CLI_BIN (else derived from LZ_BROKER_BIN) with the given
 * arguments, a clean LOCALZURE_* environment plus `env`, `stdin_text` on its stdin (NULL: no
 * input, /dev/null) and a bound on its run time; it returns the exit status (-1 when it had to be
 * killed) and fills the captured stdout and stderr (malloc'd, NUL-terminated).
 *
 * Every wait is bounded; failures fail the running check test.
 */
#ifndef LZ_TESTS_HARNESS_PD_H
#define LZ_TESTS_HARNESS_PD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

struct pd {
	pid_t pid;
	char data_dir[256];
	char log_path[300];
	char env_data[300], env_storage[64];
	char env_extra[400]; /* one more LOCALZURE_ setting ("" for none) */
};

const char *persistd_bin(void);
size_t h_file_size(const char *path);
/* True once `pattern` appears in the file `path` after byte `from`. */
bool h_log_has(const char *path, size_t from, const char *pattern);

void pd_init(struct pd *p, const char *storage);
void pd_start(struct pd *p);
/* Sends `sig` and reaps the process; *status (may be NULL) gets the waitpid status. */
void pd_signal(struct pd *p, int sig, int *status);
void pd_cleanup(struct pd *p);
void broker_start_durable(struct lzb *b, const struct pd *p);

struct cli_result {
	int status;  /* exit code, or -1 when killed (signal or time bound) */
	char *out;   /* stdout */
	char *err;   /* stderr */
};

/* Runs `localzure args...` (args NULL-terminated, without the program name). `env` (may be
 * NULL): "KEY=value" entries added to the clean environment. timeout_ms 0 = 60 s. */
void h_cli_run(const char *const *args, const char *const *env, const char *stdin_text, int timeout_ms,
	       struct cli_result *r);
void h_cli_free(struct cli_result *r);

/* A private redis-server (the Debian package's binary) for the redis backend: 127.0.0.1 on a free
 * port, appendonly yes + appendfsync always (what persistd requires), its files in a fresh temp
 * directory, PR_SET_PDEATHSIG(SIGKILL). h_redis_start fails the test when redis-server is missing
 * (deploy/install-deps.sh installs it) or does not answer PING within 10 s. `url` is
 * "redis://127.0.0.1:PORT/0". */
struct h_redis {
	pid_t pid;
	int port;
	char dir[256];
	char url[64];
};

void h_redis_start(struct h_redis *r);
void h_redis_stop(struct h_redis *r);

#endif
