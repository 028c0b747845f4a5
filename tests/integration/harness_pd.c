/*
 * harness_pd — see harness_pd.h.
 */
#include "harness_pd.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *persistd_bin(void)
{
	static char path[1024];
	const char *bin = getenv("LZ_PERSISTD_BIN");
	const char *broker = getenv("LZ_BROKER_BIN");
	const char *slash;

	if (bin != NULL && *bin != '\0')
		return bin;
	ck_assert_msg(broker != NULL, "LZ_BROKER_BIN is not set");
	slash = strrchr(broker, '/');
	ck_assert_ptr_nonnull(slash);
	/* <build>/broker/localzure-broker -> <build>/persistd/localzure-persistd */
	snprintf(path, sizeof(path), "%.*s/../persistd/localzure-persistd", (int)(slash - broker), broker);
	return path;
}

size_t h_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

bool h_log_has(const char *path, size_t from, const char *pattern)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n, size = h_file_size(path);
	bool found;

	if (f == NULL || size <= from) {
		if (f != NULL)
			fclose(f);
		return false;
	}
	buf = malloc(size - from + 1);
	ck_assert_ptr_nonnull(buf);
	fseek(f, (long)from, SEEK_SET);
	n = fread(buf, 1, size - from, f);
	buf[n] = '\0';
	fclose(f);
	found = strstr(buf, pattern) != NULL;
	free(buf);
	return found;
}

void pd_start(struct pd *p)
{
	size_t off = h_file_size(p->log_path);
	char **env;
	size_t k = 0, n = 0;
	int64_t deadline;

	for (char **e = environ; *e != NULL; e++)
		n++;
	env = calloc(n + 5, sizeof(*env));
	ck_assert_ptr_nonnull(env);
	for (char **e = environ; *e != NULL; e++) {
		if (strncmp(*e, "LOCALZURE_", 10) != 0)
			env[k++] = *e;
	}
	env[k++] = p->env_data;
	env[k++] = p->env_storage;
	if (p->env_extra[0] != '\0')
		env[k++] = p->env_extra;
	env[k] = NULL;
	p->pid = fork();
	ck_assert_int_ge(p->pid, 0);
	if (p->pid == 0) {
		int fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execve(persistd_bin(), (char *[]){ (char *)persistd_bin(), NULL }, env);
		_exit(127);
	}
	free(env);
	deadline = h_mono_ms() + 15000;
	while (!h_log_has(p->log_path, off, "msg=\"ready\"")) {
		int st;

		ck_assert_msg(waitpid(p->pid, &st, WNOHANG) == 0, "persistd exited during start-up (status 0x%x); see %s",
			      st, p->log_path);
		ck_assert_msg(h_mono_ms() < deadline, "persistd not ready within 15 s; see %s", p->log_path);
		h_sleep_ms(10);
	}
}

void pd_signal(struct pd *p, int sig, int *status)
{
	int st = 0;
	int64_t deadline = h_mono_ms() + 20000;

	if (p->pid <= 0)
		return;
	kill(p->pid, sig);
	while (waitpid(p->pid, &st, WNOHANG) == 0) {
		if (h_mono_ms() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			break;
		}
		h_sleep_ms(5);
	}
	p->pid = 0;
	if (status != NULL)
		*status = st;
}

void pd_init(struct pd *p, const char *storage)
{
	const char *tmp = getenv("TMPDIR");

	memset(p, 0, sizeof(*p));
	snprintf(p->data_dir, sizeof(p->data_dir), "%s/lz-dur-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(p->data_dir));
	snprintf(p->log_path, sizeof(p->log_path), "%s/persistd.log", p->data_dir);
	snprintf(p->env_data, sizeof(p->env_data), "LOCALZURE_DATA_DIR=%s", p->data_dir);
	snprintf(p->env_storage, sizeof(p->env_storage), "LOCALZURE_STORAGE_TYPE=%s", storage);
}

void pd_cleanup(struct pd *p)
{
	char cmd[400];

	pd_signal(p, SIGKILL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->data_dir);
	ck_assert_int_eq(system(cmd), 0);
}

void broker_start_durable(struct lzb *b, const struct pd *p)
{
	const char *env[] = { "LOCALZURE_DURABILITY=sync", p->env_data, "LOCALZURE_PERSISTD_TIMEOUT_MS=20000",
			      "LOCALZURE_CLOCK=real", NULL };

	lzb_start(b, env);
}


static const char *cli_bin(void)
{
	static char path[1024];
	const char *bin = getenv("LZ_CLI_BIN");
	const char *broker = getenv("LZ_BROKER_BIN");
	const char *slash;

	if (bin != NULL && *bin != '\0')
		return bin;
	ck_assert_msg(broker != NULL, "LZ_BROKER_BIN is not set");
	slash = strrchr(broker, '/');
	ck_assert_ptr_nonnull(slash);
	/* <build>/broker/localzure-broker -> <build>/persistd/cli/localzure */
	snprintf(path, sizeof(path), "%.*s/../persistd/cli/localzure", (int)(slash - broker), broker);
	return path;
}

/* Appends what is readable on fd to *buf (size *len); false at end of file. */
static bool pipe_drain(int fd, char **buf, size_t *len)
{
	char chunk[8192];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	char *grown;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	grown = realloc(*buf, *len + (size_t)n + 1);
	ck_assert_ptr_nonnull(grown);
	memcpy(grown + *len, chunk, (size_t)n);
	*len += (size_t)n;
	grown[*len] = '\0';
	*buf = grown;
	return true;
}

void h_cli_run(const char *const *args, const char *const *env, const char *stdin_text, int timeout_ms,
	       struct cli_result *r)
{
	int out_p[2], err_p[2], in_p[2];
	size_t nargs = 0, nenv = 0, k = 0, out_len = 0, err_len = 0;
	char **argv, **envp;
	bool out_open = true, err_open = true;
	int64_t deadline = h_mono_ms() + (timeout_ms > 0 ? timeout_ms : 60000);
	int st = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->out = calloc(1, 1);
	r->err = calloc(1, 1);
	ck_assert(r->out != NULL && r->err != NULL);
	while (args[nargs] != NULL)
		nargs++;
	for (char **e = environ; *e != NULL; e++)
		nenv++;
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		nenv++;
	argv = calloc(nargs + 2, sizeof(*argv));
	envp = calloc(nenv + 1, sizeof(*envp));
	ck_assert(argv != NULL && envp != NULL);
	argv[0] = (char *)cli_bin();
	for (size_t i = 0; i < nargs; i++)
		argv[i + 1] = (char *)args[i];
	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, "LOCALZURE_", 10) != 0)
			envp[k++] = *e;
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		envp[k++] = (char *)env[i];
	ck_assert_int_eq(pipe(out_p), 0);
	ck_assert_int_eq(pipe(err_p), 0);
	ck_assert_int_eq(pipe(in_p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(in_p[0], 0) < 0 || dup2(out_p[1], 1) < 0 || dup2(err_p[1], 2) < 0)
			_exit(127);
		close(in_p[1]);
		close(out_p[0]);
		close(err_p[0]);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(in_p[0]);
	close(out_p[1]);
	close(err_p[1]);
	if (stdin_text != NULL) {
		size_t len = strlen(stdin_text);

		/* Short confirmations fit the pipe buffer: the write cannot block. */
		ck_assert_uint_lt(len, 4096);
		ck_assert_int_eq(write(in_p[1], stdin_text, len), (ssize_t)len);
	}
	close(in_p[1]);
	while (out_open || err_open) {
		struct pollfd fds[2] = { { out_open ? out_p[0] : -1, POLLIN, 0 }, { err_open ? err_p[0] : -1, POLLIN, 0 } };
		int64_t left = deadline - h_mono_ms();

		if (left <= 0)
			break;
		if (poll(fds, 2, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
			break;
		if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			out_open = pipe_drain(out_p[0], &r->out, &out_len);
		if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			err_open = pipe_drain(err_p[0], &r->err, &err_len);
	}
	if (out_open || err_open)
		kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(out_p[0]);
	close(err_p[0]);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	free(argv);
	free(envp);
}

void h_cli_free(struct cli_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/* A port nothing listens on right now (bind to 0, read it back, close): redis-server needs a
 * number, and another process could take it in between, so the caller retries on failure. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* True when redis on `port` answers PING with +PONG. */
static bool redis_pong(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char buf[16] = "";
	bool ok = false;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return false;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write(fd, "PING\r\n", 6) == 6) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (poll(&p, 1, 1000) == 1 && read(fd, buf, sizeof(buf) - 1) > 0)
			ok = strncmp(buf, "+PONG", 5) == 0;
	}
	close(fd);
	return ok;
}

void h_redis_start(struct h_redis *r)
{
	const char *tmp = getenv("TMPDIR");
	static const char *const bins[] = { "/usr/bin/redis-server", "/usr/local/bin/redis-server" };
	const char *bin = NULL;

	for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++)
		if (access(bins[i], X_OK) == 0)
			bin = bins[i];
	ck_assert_msg(bin != NULL, "redis-server is not installed: run deploy/install-deps.sh (Debian package redis-server)");
	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "%s/lz-redis-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(r->dir));
	for (int attempt = 0; attempt < 5 && r->pid == 0; attempt++) {
		char port[16];
		int64_t deadline;

		r->port = free_port();
		snprintf(port, sizeof(port), "%d", r->port);
		r->pid = fork();
		ck_assert_int_ge(r->pid, 0);
		if (r->pid == 0) {
			char log[300];
			int fd;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			snprintf(log, sizeof(log), "%s/redis.log", r->dir);
			fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
				_exit(127);
			execl(bin, bin, "--port", port, "--bind", "127.0.0.1", "--dir", r->dir, "--appendonly", "yes",
			      "--appendfsync", "always", "--save", "", "--daemonize", "no", (char *)NULL);
			_exit(127);
		}
		deadline = h_mono_ms() + 10000;
		while (!redis_pong(r->port)) {
			int st;

			if (waitpid(r->pid, &st, WNOHANG) != 0) {
				r->pid = 0; /* the port was taken meanwhile: try another */
				break;
			}
			ck_assert_msg(h_mono_ms() < deadline, "redis-server on port %d did not answer PING within 10 s; see %s/redis.log",
				      r->port, r->dir);
			h_sleep_ms(10);
		}
	}
	ck_assert_msg(r->pid > 0, "redis-server did not start; see %s/redis.log", r->dir);
	snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d/0", r->port);
}

void h_redis_stop(struct h_redis *r)
{
	char cmd[400];

	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
		r->pid = 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	ck_assert_int_eq(system(cmd), 0);
}
