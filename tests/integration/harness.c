#include "harness.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/timefmt.h"

extern char **environ;

struct lzb *lzb_cur;
const char *lzb_label;

/* The run's temp root (made by h_run_suite in the runner process): every broker directory is
 * created inside it, so a test process that dies in an assertion (check _exit()s the forked
 * test, skipping atexit) leaves nothing outside it. Empty when not running under h_run_suite. */
static char run_root[200];

/* Brokers started by this process and not yet stopped (copies, for the atexit handler). */
#define MAX_LIVE 16
static struct lzb live[MAX_LIVE];
static bool atexit_set;

/* ---- small utilities ---------------------------------------------------------------------- */

void h_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

int64_t h_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *sfmt(const char *fmt, ...)
{
	static _Thread_local char bufs[16][4096];
	static _Thread_local unsigned next;
	char *b = bufs[next++ % 16];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof bufs[0], fmt, ap);
	va_end(ap);
	ck_assert_msg(n >= 0 && (size_t)n < sizeof bufs[0], "sfmt: text too long");
	return b;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	ck_assert_msg(d != NULL, "out of memory");
	return d;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return xstrdup("");
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ck_assert(buf != NULL);
	for (;;) {
		if (cap - len < 2048) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert(buf != NULL);
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	if (dir[0] == '\0')
		return;
	const char *keep = getenv("LZ_KEEP_TMP");
	if (keep != NULL && keep[0] != '\0' && strcmp(keep, "0") != 0) {
		fprintf(stderr, "harness: keeping %s\n", dir);
		return;
	}
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- broker process ----------------------------------------------------------------------- */

static void live_add(const struct lzb *b)
{
	for (size_t i = 0; i < MAX_LIVE; i++)
		if (live[i].pid == 0) {
			live[i] = *b;
			return;
		}
}

static void live_del(struct lzb *b)
{
	for (size_t i = 0; i < MAX_LIVE; i++)
		if (b->pid > 0 && live[i].pid == b->pid)
			live[i].pid = 0;
	if (lzb_cur == b)
		lzb_cur = NULL;
}

static void print_log_tail(const struct lzb *b)
{
	FILE *f = fopen(b->log_path, "rb");
	if (f == NULL)
		return;
	char buf[4096];
	long size = 0;
	if (fseek(f, 0, SEEK_END) == 0)
		size = ftell(f);
	long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
	fseek(f, from, SEEK_SET);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- broker log tail (%s, pid %d) ----\n%s\n---- end of broker log ----\n", b->log_path,
		(int)b->pid, buf);
}

static void kill_live_at_exit(void)
{
	for (size_t i = 0; i < MAX_LIVE; i++) {
		struct lzb *b = &live[i];
		if (b->pid <= 0)
			continue;
		print_log_tail(b);
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
		rm_tree(b->dir);
	}
}

/* Builds the child's environment: the parent's without LOCALZURE_*, then defaults, then extras. */
static char **build_env(const char *const *extra)
{
	static const char *const defaults[] = {
		"LOCALZURE_HTTP_HOST=127.0.0.1",
		"LOCALZURE_HTTP_PORT=0",
		"LOCALZURE_DURABILITY=none",
		"LOCALZURE_CLOCK=manual",
		NULL,
	};
	size_t n = 0;
	for (char **e = environ; *e != NULL; e++)
		n++;
	for (const char *const *e = extra; e != NULL && *e != NULL; e++)
		n++;
	n += sizeof defaults / sizeof defaults[0];
	char **env = calloc(n + 1, sizeof *env);
	ck_assert(env != NULL);
	size_t k = 0;
	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, "LOCALZURE_", 10) != 0)
			env[k++] = *e;
	const char *const *lists[2] = { defaults, extra };
	for (int l = 0; l < 2; l++) {
		for (const char *const *e = lists[l]; e != NULL && *e != NULL; e++) {
			const char *eq = strchr(*e, '=');
			size_t keylen = eq ? (size_t)(eq - *e) : strlen(*e);
			/* drop an earlier entry of the same key */
			for (size_t i = 0; i < k; i++) {
				if (strncmp(env[i], *e, keylen) == 0 && env[i][keylen] == '=') {
					memmove(&env[i], &env[i + 1], (k - i - 1) * sizeof *env);
					k--;
					i--;
				}
			}
			if (eq != NULL)
				env[k++] = (char *)*e;
		}
	}
	env[k] = NULL;
	return env;
}

static const char *broker_bin(void)
{
	const char *bin = getenv("LZ_BROKER_BIN");
	ck_assert_msg(bin != NULL && bin[0] != '\0', "LZ_BROKER_BIN is not set");
	return bin;
}

/* Forks and execs the broker; fills pid/dir/log_path. Returns 0 or -1. */
static int spawn(struct lzb *b, const char *const *extra_env, char *err, size_t errcap)
{
	const char *bin = broker_bin();
	if (access(bin, X_OK) != 0) {
		snprintf(err, errcap, "broker binary %s: %s", bin, strerror(errno));
		return -1;
	}
	const char *label = lzb_label != NULL && lzb_label[0] != '\0' ? lzb_label : "broker";
	lzb_label = NULL;
	if (run_root[0] != '\0') {
		snprintf(b->dir, sizeof b->dir, "%s/%.80s-XXXXXX", run_root, label);
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(b->dir, sizeof b->dir, "%.150s/lz-it-%.80s-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp",
			 label);
	}
	if (mkdtemp(b->dir) == NULL) {
		snprintf(err, errcap, "mkdtemp %s: %s", b->dir, strerror(errno));
		b->dir[0] = '\0';
		return -1;
	}
	snprintf(b->log_path, sizeof b->log_path, "%s/broker.log", b->dir);
	int fd = open(b->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errcap, "open %s: %s", b->log_path, strerror(errno));
		return -1;
	}
	char **env = build_env(extra_env);
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errcap, "fork: %s", strerror(errno));
		close(fd);
		free(env);
		return -1;
	}
	if (pid == 0) {
		/* child: only async-signal-safe calls from here on */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		setpgid(0, 0);
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0) {
			dup2(nul, 0);
			close(nul);
		}
		dup2(fd, 1);
		dup2(fd, 2);
		if (chdir(b->dir) != 0)
			_exit(125);
		char *const argv[] = { (char *)bin, NULL };
		execve(bin, argv, env);
		_exit(127);
	}
	close(fd);
	free(env);
	b->pid = pid;
	if (!atexit_set) {
		atexit(kill_live_at_exit);
		atexit_set = true;
	}
	live_add(b);
	return 0;
}

/* Parses `port=N` on a line containing msg="listening"; 0 if not there yet. */
static int find_port(const char *log)
{
	const char *p = log;
	while ((p = strstr(p, "msg=\"listening\"")) != NULL) {
		const char *ls = p;
		while (ls > log && ls[-1] != '\n')
			ls--;
		const char *le = strchr(p, '\n');
		if (le == NULL)
			return 0; /* line not complete yet */
		for (const char *q = ls; q < le; q++) {
			if (strncmp(q, "port=", 5) == 0 && (q == ls || q[-1] == ' ')) {
				long v = strtol(q + 5, NULL, 10);
				if (v > 0 && v < 65536)
					return (int)v;
			}
		}
		p = le;
	}
	return 0;
}

int lzb_try_start(struct lzb *b, const char *const *extra_env, char *err, size_t errcap)
{
	memset(b, 0, sizeof *b);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (spawn(b, extra_env, err, errcap) != 0) {
		rm_tree(b->dir);
		return -1;
	}
	int64_t deadline = h_mono_ms() + 10000;
	while (b->port == 0) {
		int st;
		if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
			char *log = lzb_log(b);
			snprintf(err, errcap, "broker exited before listening (status 0x%x); log:\n%.1500s", st, log);
			free(log);
			live_del(b);
			b->pid = 0;
			rm_tree(b->dir);
			return -1;
		}
		char *log = lzb_log(b);
		b->port = find_port(log);
		free(log);
		if (b->port != 0)
			break;
		if (h_mono_ms() > deadline) {
			char *l2 = lzb_log(b);
			snprintf(err, errcap, "no msg=\"listening\" port=N line within 10 s; log:\n%.1500s", l2);
			free(l2);
			lzb_kill9(b);
			return -1;
		}
		h_sleep_ms(10);
	}
	snprintf(b->base, sizeof b->base, "http://127.0.0.1:%d", b->port);
	lzb_cur = b;
	deadline = h_mono_ms() + 10000;
	for (;;) {
		struct http_resp r;
		long st = http_request("GET", "/health", NULL, 0, NULL, NULL, 2000, &r);
		http_resp_free(&r);
		if (st == 200)
			return 0;
		if (h_mono_ms() > deadline) {
			snprintf(err, errcap, "GET /health did not answer 200 within 10 s (last %ld)", st);
			lzb_kill9(b);
			return -1;
		}
		h_sleep_ms(10);
	}
}

void lzb_start(struct lzb *b, const char *const *extra_env)
{
	char err[2048];
	if (lzb_try_start(b, extra_env, err, sizeof err) != 0)
		ck_abort_msg("broker start failed: %s", err);
}

static int wait_bounded(pid_t pid, int timeout_ms, int *status)
{
	int64_t deadline = h_mono_ms() + timeout_ms;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (h_mono_ms() > deadline)
			return 1;
		h_sleep_ms(5);
	}
}

static int stop_impl(struct lzb *b, char **log_out)
{
	int status = -1;
	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		int w = wait_bounded(b->pid, 10000, &status);
		if (w != 0) {
			fprintf(stderr, "harness: broker %d did not exit within 10 s of SIGTERM; SIGKILL\n", (int)b->pid);
			print_log_tail(b);
			kill(b->pid, SIGKILL);
			waitpid(b->pid, NULL, 0);
			status = -1;
		}
		live_del(b);
		b->pid = 0;
	}
	live_del(b);
	if (log_out != NULL)
		*log_out = lzb_log(b);
	rm_tree(b->dir);
	b->dir[0] = '\0';
	return status;
}

int lzb_stop(struct lzb *b)
{
	return stop_impl(b, NULL);
}

void lzb_stop_clean(struct lzb *b)
{
	char *log = NULL;
	int st = stop_impl(b, &log);
	bool clean = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (!clean) {
		size_t n = strlen(log);
		const char *tail = n > 3000 ? log + n - 3000 : log;
		ck_abort_msg("broker did not exit cleanly after SIGTERM (status 0x%x%s); log tail:\n%s", st,
			     st == -1 ? ", killed" : "", tail);
	}
	free(log);
}

void lzb_kill9(struct lzb *b)
{
	if (b->pid > 0) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
		live_del(b);
		b->pid = 0;
	}
	live_del(b);
	rm_tree(b->dir);
	b->dir[0] = '\0';
}

char *lzb_log(const struct lzb *b)
{
	return read_file(b->log_path);
}

int lzb_run_to_exit(const char *const *extra_env, int timeout_ms, int *wstatus, char **log)
{
	struct lzb b;
	memset(&b, 0, sizeof b);
	char err[512];
	if (spawn(&b, extra_env, err, sizeof err) != 0) {
		rm_tree(b.dir);
		ck_abort_msg("spawn failed: %s", err);
	}
	int st = 0;
	int w = wait_bounded(b.pid, timeout_ms, &st);
	int rc = 0;
	if (w != 0) {
		kill(b.pid, SIGKILL);
		waitpid(b.pid, NULL, 0);
		rc = -1;
	} else {
		*wstatus = st;
	}
	live_del(&b);
	b.pid = 0;
	*log = lzb_log(&b);
	rm_tree(b.dir);
	return rc;
}

/* ---- HTTP -------------------------------------------------------------------------------- */

struct grow {
	char *data;
	size_t len, cap;
};

static void grow_add(struct grow *g, const char *p, size_t n)
{
	if (g->len + n + 1 > g->cap) {
		size_t cap = g->cap ? g->cap : 1024;
		while (g->len + n + 1 > cap)
			cap *= 2;
		char *d = realloc(g->data, cap);
		if (d == NULL)
			abort();
		g->data = d;
		g->cap = cap;
	}
	memcpy(g->data + g->len, p, n);
	g->len += n;
	g->data[g->len] = '\0';
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	grow_add(ud, ptr, size * nmemb);
	return size * nmemb;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct http_resp *r = ud;
	size_t n = size * nmemb;
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		/* a new status line (e.g. after 100 Continue): forget earlier headers */
		for (size_t i = 0; i < r->nhdrs; i++) {
			free(r->hdrs[i].name);
			free(r->hdrs[i].value);
		}
		r->nhdrs = 0;
		return n;
	}
	const char *colon = memchr(ptr, ':', n);
	if (colon == NULL)
		return n;
	size_t nl = (size_t)(colon - ptr);
	const char *v = colon + 1;
	const char *end = ptr + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	struct http_hdr *h = realloc(r->hdrs, (r->nhdrs + 1) * sizeof *h);
	if (h == NULL)
		abort();
	r->hdrs = h;
	h[r->nhdrs].name = strndup(ptr, nl);
	h[r->nhdrs].value = strndup(v, (size_t)(end - v));
	r->nhdrs++;
	return n;
}

void http_resp_free(struct http_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	for (size_t i = 0; i < r->nhdrs; i++) {
		free(r->hdrs[i].name);
		free(r->hdrs[i].value);
	}
	free(r->hdrs);
	memset(r, 0, sizeof *r);
}

const char *http_header(const struct http_resp *r, const char *name)
{
	for (size_t i = 0; i < r->nhdrs; i++)
		if (strcasecmp(r->hdrs[i].name, name) == 0)
			return r->hdrs[i].value;
	return NULL;
}

long http_request(const char *method, const char *path, const void *body, size_t len, const char *ctype,
		  const char *const *headers, long timeout_ms, struct http_resp *out)
{
	struct http_resp local;
	struct http_resp *r = out ? out : &local;
	memset(r, 0, sizeof *r);
	ck_assert_msg(lzb_cur != NULL || strncmp(path, "http", 4) == 0, "no broker is running");

	char url[4096];
	if (strncmp(path, "http", 4) == 0)
		snprintf(url, sizeof url, "%s", path);
	else
		snprintf(url, sizeof url, "%s%s", lzb_cur->base, path);

	CURL *c = curl_easy_init();
	ck_assert_msg(c != NULL, "curl_easy_init failed");
	struct curl_slist *hl = NULL;
	hl = curl_slist_append(hl, "Expect:");
	hl = curl_slist_append(hl, "User-Agent: localzure-integration-tests/1.0");
	if (ctype != NULL)
		hl = curl_slist_append(hl, sfmt("Content-Type: %s", ctype));
	else if (body != NULL)
		hl = curl_slist_append(hl, "Content-Type:");
	for (const char *const *h = headers; h != NULL && *h != NULL; h++)
		hl = curl_slist_append(hl, *h);

	struct grow g = { 0 };
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 15000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		if (body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body != NULL ? len : 0));
		}
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	} else {
		r->status = 0;
		snprintf(r->err, sizeof r->err, "%.8s %.300s: %.150s", method, url, curl_easy_strerror(rc));
	}
	if (g.data == NULL)
		grow_add(&g, "", 0);
	r->body = g.data;
	r->len = g.len;
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	long st = r->status;
	if (out == NULL)
		http_resp_free(&local);
	return st;
}

long http_get(const char *path, struct http_resp *out)
{
	return http_request("GET", path, NULL, 0, NULL, NULL, 0, out);
}

long http_delete(const char *path, struct http_resp *out)
{
	return http_request("DELETE", path, NULL, 0, NULL, NULL, 0, out);
}

long http_put_xml(const char *path, const char *xml, bool if_match, struct http_resp *out)
{
	const char *const im[] = { "If-Match: *", NULL };
	return http_request("PUT", path, xml, strlen(xml), "application/atom+xml", if_match ? im : NULL, 0, out);
}

long http_put(const char *path, const void *body, size_t len, const char *ctype, const char *const *headers,
	      struct http_resp *out)
{
	return http_request("PUT", path, body, len, ctype, headers, 0, out);
}

long http_post(const char *path, const void *body, size_t len, const char *ctype, const char *const *headers,
	       struct http_resp *out)
{
	return http_request("POST", path, body, len, ctype, headers, 0, out);
}

long http_post_str(const char *path, const char *body, const char *ctype, const char *const *headers,
		   struct http_resp *out)
{
	const char *b = body != NULL ? body : "";
	return http_request("POST", path, b, strlen(b), ctype, headers, 0, out);
}

const char *http_desc(const struct http_resp *r)
{
	static _Thread_local char buf[3000];
	if (r->status == 0) {
		snprintf(buf, sizeof buf, "transport error: %s", r->err);
		return buf;
	}
	const char *bp = http_header(r, "BrokerProperties");
	const char *ct = http_header(r, "Content-Type");
	snprintf(buf, sizeof buf, "HTTP %ld; Content-Type: %s; BrokerProperties: %s; body(%zu): %.1500s", r->status,
		 ct ? ct : "-", bp ? bp : "-", r->len, r->body ? r->body : "");
	return buf;
}

static void *async_main(void *arg)
{
	struct http_async *a = arg;
	int64_t t0 = h_mono_ms();
	bool body = strcmp(a->method, "POST") == 0 || strcmp(a->method, "PUT") == 0;
	http_request(a->method, a->url, body ? "" : NULL, 0, NULL, NULL, a->timeout_ms, &a->resp);
	a->elapsed_ms = h_mono_ms() - t0;
	__atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

void http_async_start(struct http_async *a, const char *method, const char *path, long timeout_ms)
{
	memset(a, 0, sizeof *a);
	ck_assert_msg(lzb_cur != NULL, "no broker is running");
	snprintf(a->method, sizeof a->method, "%s", method);
	snprintf(a->url, sizeof a->url, "%s%s", lzb_cur->base, path);
	a->timeout_ms = timeout_ms;
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, async_main, a), 0);
	a->thread = (unsigned long)th;
}

bool http_async_done(struct http_async *a)
{
	return __atomic_load_n(&a->done, __ATOMIC_SEQ_CST) != 0;
}

void http_async_wait(struct http_async *a, long bound_ms)
{
	int64_t deadline = h_mono_ms() + bound_ms;
	while (!http_async_done(a) && h_mono_ms() < deadline)
		h_sleep_ms(5);
	ck_assert_msg(http_async_done(a), "%s %s did not return within %ld ms", a->method, a->url, bound_ms);
	pthread_join((pthread_t)a->thread, NULL);
}

/* ---- XML --------------------------------------------------------------------------------- */

/* Finds the n-th start tag with local name `name`; returns a pointer to its '<' and sets *after
 * to the char after its '>' and *empty for "/>". */
static const char *xml_find(const char *xml, const char *name, size_t n, const char **after, bool *empty)
{
	size_t nl = strlen(name);
	const char *p = xml;
	while ((p = strchr(p, '<')) != NULL) {
		const char *tag = p;
		p++;
		if (*p == '/' || *p == '?' || *p == '!')
			continue;
		const char *ns = p;
		while (*p && !isspace((unsigned char)*p) && *p != '>' && *p != '/')
			p++;
		const char *ne = p;
		const char *local = ns;
		for (const char *q = ns; q < ne; q++)
			if (*q == ':')
				local = q + 1;
		bool match = (size_t)(ne - local) == nl && strncmp(local, name, nl) == 0;
		/* skip to the end of the tag, respecting quoted attribute values */
		char quote = 0;
		while (*p && (quote || *p != '>')) {
			if (quote) {
				if (*p == quote)
					quote = 0;
			} else if (*p == '"' || *p == '\'') {
				quote = *p;
			}
			p++;
		}
		if (*p == '\0')
			return NULL;
		if (match) {
			if (n == 0) {
				*empty = p > tag && p[-1] == '/';
				*after = p + 1;
				return tag;
			}
			n--;
		}
		p++;
	}
	return NULL;
}

static char *xml_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	ck_assert(out != NULL);
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '&') {
			static const struct {
				const char *ent;
				char c;
			} ents[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' } };
			bool done = false;
			for (size_t e = 0; e < 5; e++) {
				size_t el = strlen(ents[e].ent);
				if (i + el <= len && strncmp(s + i, ents[e].ent, el) == 0) {
					out[k++] = ents[e].c;
					i += el - 1;
					done = true;
					break;
				}
			}
			if (!done && i + 2 < len && s[i + 1] == '#') {
				char *end;
				long v = s[i + 2] == 'x' ? strtol(s + i + 3, &end, 16) : strtol(s + i + 2, &end, 10);
				if (*end == ';' && v > 0 && v < 128) {
					out[k++] = (char)v;
					i = (size_t)(end - s);
					done = true;
				}
			}
			if (!done)
				out[k++] = s[i];
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = '\0';
	return out;
}

char *xml_text_n(const char *xml, const char *name, size_t n)
{
	if (xml == NULL)
		return NULL;
	const char *after;
	bool empty;
	if (xml_find(xml, name, n, &after, &empty) == NULL)
		return NULL;
	if (empty)
		return xstrdup("");
	const char *end = strchr(after, '<');
	if (end == NULL)
		end = after + strlen(after);
	return xml_decode(after, (size_t)(end - after));
}

char *xml_text(const char *xml, const char *name)
{
	return xml_text_n(xml, name, 0);
}

size_t xml_count(const char *xml, const char *name)
{
	size_t n = 0;
	const char *after;
	bool empty;
	while (xml != NULL && xml_find(xml, name, n, &after, &empty) != NULL)
		n++;
	return n;
}

char *xml_attr(const char *xml, const char *elem, const char *attr)
{
	const char *after;
	bool empty;
	const char *tag = xml_find(xml, elem, 0, &after, &empty);
	if (tag == NULL)
		return NULL;
	size_t al = strlen(attr);
	const char *p = tag + 1;
	while (p < after && !isspace((unsigned char)*p) && *p != '>')
		p++;
	while (p < after) {
		while (p < after && (isspace((unsigned char)*p) || *p == '/' || *p == '>'))
			p++;
		if (p >= after)
			break;
		const char *ns = p;
		while (p < after && *p != '=' && !isspace((unsigned char)*p))
			p++;
		const char *ne = p;
		const char *local = ns;
		for (const char *q = ns; q < ne; q++)
			if (*q == ':')
				local = q + 1;
		while (p < after && (isspace((unsigned char)*p) || *p == '='))
			p++;
		if (p >= after || (*p != '"' && *p != '\''))
			break;
		char quote = *p++;
		const char *vs = p;
		while (p < after && *p != quote)
			p++;
		if ((size_t)(ne - local) == al && strncmp(local, attr, al) == 0)
			return xml_decode(vs, (size_t)(p - vs));
		p++;
	}
	return NULL;
}

char *xml_entry_n(const char *xml, size_t n)
{
	const char *after;
	bool empty;
	const char *tag = xml_find(xml, "entry", n, &after, &empty);
	if (tag == NULL)
		return NULL;
	const char *end = strstr(after, "</entry>");
	if (end == NULL) {
		/* a prefixed end tag: find "entry>" preceded by ':' after "</" */
		const char *p = after;
		while ((p = strstr(p, "</")) != NULL) {
			const char *q = strchr(p, '>');
			if (q == NULL)
				break;
			if ((size_t)(q - p) >= 7 && strncmp(q - 6, ":entry", 6) == 0) {
				end = p;
				break;
			}
			p = q;
		}
	}
	if (end == NULL)
		end = after + strlen(after);
	return strndup(tag, (size_t)(end - tag));
}

char *xml_entry_title(const char *xml, size_t n)
{
	char *e = xml_entry_n(xml, n);
	if (e == NULL)
		return NULL;
	char *t = xml_text(e, "title");
	free(e);
	return t;
}

/* ---- JSON -------------------------------------------------------------------------------- */

json_t *http_json(const struct http_resp *r)
{
	if (r->body == NULL)
		return NULL;
	json_error_t je;
	return json_loadb(r->body, r->len, JSON_DECODE_ANY, &je);
}

json_t *resp_bp(const struct http_resp *r)
{
	const char *h = http_header(r, "BrokerProperties");
	if (h == NULL)
		return NULL;
	json_error_t je;
	json_t *j = json_loads(h, 0, &je);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int64_t jint(const json_t *o, const char *key, bool *ok)
{
	*ok = false;
	json_t *v = o ? json_object_get(o, key) : NULL;
	if (json_is_integer(v)) {
		*ok = true;
		return (int64_t)json_integer_value(v);
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d == (double)(int64_t)d) {
			*ok = true;
			return (int64_t)d;
		}
	}
	return 0;
}

const char *jstr(const json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

unsigned char *b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	unsigned char *out = malloc(n / 4 * 3 + 4);
	ck_assert(out != NULL);
	size_t k = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+' || c == '-')
			v = 62;
		else if (c == '/' || c == '_')
			v = 63;
		else if (c == '=' || c == '\n' || c == '\r')
			continue;
		else {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[k++] = (unsigned char)((acc >> bits) & 0xff);
		}
	}
	out[k] = '\0';
	if (len != NULL)
		*len = k;
	return out;
}

/* ---- entities ---------------------------------------------------------------------------- */

char *atom_entry(const char *desc, const char *inner)
{
	char *out = NULL;
	int n = asprintf(&out,
			 "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
			 "<entry xmlns=\"http://www.w3.org/2005/Atom\"><content type=\"application/xml\">"
			 "<%s xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI "\">%s</%s></content></entry>",
			 desc, inner != NULL ? inner : "", desc);
	ck_assert(n > 0);
	return out;
}

static long put_desc(const char *path, const char *desc, const char *inner, bool update, struct http_resp *out)
{
	char *x = atom_entry(desc, inner);
	long st = http_put_xml(path, x, update, out);
	free(x);
	return st;
}

long put_queue(const char *name, const char *inner, bool update, struct http_resp *out)
{
	return put_desc(sfmt("/%s", name), "QueueDescription", inner, update, out);
}

long put_topic(const char *name, const char *inner, bool update, struct http_resp *out)
{
	return put_desc(sfmt("/%s", name), "TopicDescription", inner, update, out);
}

long put_sub(const char *topic, const char *sub, const char *inner, bool update, struct http_resp *out)
{
	return put_desc(sfmt("/%s/subscriptions/%s", topic, sub), "SubscriptionDescription", inner, update, out);
}

long put_rule(const char *topic, const char *sub, const char *rule, const char *inner, bool update,
	      struct http_resp *out)
{
	char *in = NULL;
	ck_assert(asprintf(&in, "%s<Name>%s</Name>", inner != NULL ? inner : "", rule) > 0);
	long st = put_desc(sfmt("/%s/subscriptions/%s/rules/%s", topic, sub, rule), "RuleDescription", in, update,
			   out);
	free(in);
	return st;
}

#define MK_CHECK(what, call)                                                                      \
	do {                                                                                      \
		struct http_resp r_;                                                              \
		long st_ = (call);                                                                \
		ck_assert_msg(st_ == 201, "create %s: %s", (what), http_desc(&r_));               \
		http_resp_free(&r_);                                                              \
	} while (0)

void mk_queue(const char *name, const char *inner)
{
	MK_CHECK(name, put_queue(name, inner, false, &r_));
}

void mk_topic(const char *name, const char *inner)
{
	MK_CHECK(name, put_topic(name, inner, false, &r_));
}

void mk_sub(const char *topic, const char *sub, const char *inner)
{
	MK_CHECK(sub, put_sub(topic, sub, inner, false, &r_));
}

void mk_rule(const char *topic, const char *sub, const char *rule, const char *inner)
{
	MK_CHECK(rule, put_rule(topic, sub, rule, inner, false, &r_));
}

void rm_rule(const char *topic, const char *sub, const char *rule)
{
	struct http_resp r;
	http_delete(sfmt("/%s/subscriptions/%s/rules/%s", topic, sub, rule), &r);
	ck_assert_msg(r.status == 200, "delete rule %s: %s", rule, http_desc(&r));
	http_resp_free(&r);
}

const char *corr_filter_prop(const char *key, const char *value)
{
	return sfmt("<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType>"
		    "<Key>%s</Key><Value i:type=\"d6p1:string\" xmlns:d6p1=\"" NS_XSD "\">%s</Value>"
		    "</KeyValueOfstringanyType></Properties></Filter><Action i:type=\"EmptyRuleAction\"/>",
		    key, value);
}

int64_t entity_count(const char *path, const char *name)
{
	struct http_resp r;
	http_get(path, &r);
	ck_assert_msg(r.status == 200, "GET %s: %s", path, http_desc(&r));
	char *t = xml_text(r.body, name);
	ck_assert_msg(t != NULL, "GET %s: no <%s> in %.3000s", path, name, r.body);
	char *end;
	long long v = strtoll(t, &end, 10);
	ck_assert_msg(end != t && *end == '\0', "GET %s: <%s> is '%s'", path, name, t);
	free(t);
	http_resp_free(&r);
	return v;
}

/* ---- messages ---------------------------------------------------------------------------- */

long send_msg(const char *entity, const char *body, const char *ctype, const char *bp, const char *const *user,
	      struct http_resp *out)
{
	const char *hdrs[80];
	size_t k = 0;
	if (bp != NULL)
		hdrs[k++] = sfmt("BrokerProperties: %s", bp);
	for (const char *const *u = user; u != NULL && *u != NULL && k < 78; u++)
		hdrs[k++] = *u;
	hdrs[k] = NULL;
	const char *b = body != NULL ? body : "";
	return http_request("POST", sfmt("/%s/messages", entity), b, strlen(b), ctype, hdrs, 0, out);
}

void send_ok(const char *entity, const char *body, const char *bp)
{
	struct http_resp r;
	send_msg(entity, body, "text/plain", bp, NULL, &r);
	ck_assert_msg(r.status == 201, "send to %s: %s", entity, http_desc(&r));
	http_resp_free(&r);
}

long recv_lock(const char *r, struct http_resp *out)
{
	return http_request("POST", sfmt("/%s/messages/head?timeout=0", r), "", 0, NULL, NULL, 0, out);
}

long recv_del(const char *r, struct http_resp *out)
{
	return http_request("DELETE", sfmt("/%s/messages/head?timeout=0", r), NULL, 0, NULL, NULL, 0, out);
}

int64_t recv_del_body(const char *r, const char *body)
{
	struct http_resp m;
	recv_del(r, &m);
	ck_assert_msg(m.status == 200, "receive-and-delete from %s (want '%s'): %s", r, body, http_desc(&m));
	ck_assert_msg(m.len == strlen(body) && memcmp(m.body, body, m.len) == 0,
		      "receive-and-delete from %s: expected body '%s', got %s", r, body, http_desc(&m));
	json_t *bp = resp_bp(&m);
	bool ok;
	int64_t seq = jint(bp, "SequenceNumber", &ok);
	ck_assert_msg(ok, "no SequenceNumber: %s", http_desc(&m));
	json_decref(bp);
	http_resp_free(&m);
	return seq;
}

int64_t recv_lock_body(const char *r, const char *body, struct http_resp *out)
{
	recv_lock(r, out);
	ck_assert_msg(out->status == 201, "peek-lock from %s (want '%s'): %s", r, body, http_desc(out));
	ck_assert_msg(out->len == strlen(body) && memcmp(out->body, body, out->len) == 0,
		      "peek-lock from %s: expected body '%s', got %s", r, body, http_desc(out));
	json_t *bp = resp_bp(out);
	bool ok;
	int64_t seq = jint(bp, "SequenceNumber", &ok);
	ck_assert_msg(ok, "no SequenceNumber: %s", http_desc(out));
	json_decref(bp);
	return seq;
}

void recv_empty(const char *r)
{
	struct http_resp m;
	recv_del(r, &m);
	ck_assert_msg(m.status == 204, "expected 204 (empty) from %s, got %s", r, http_desc(&m));
	http_resp_free(&m);
}

char *lock_path(const struct http_resp *locked)
{
	const char *loc = http_header(locked, "Location");
	if (loc == NULL)
		return NULL;
	const char *p = strstr(loc, "://");
	if (p != NULL) {
		p = strchr(p + 3, '/');
		if (p == NULL)
			return NULL;
	} else {
		p = loc;
	}
	return xstrdup(p);
}

static long on_lock(const char *method, const struct http_resp *locked)
{
	char *p = lock_path(locked);
	ck_assert_msg(p != NULL, "no Location header: %s", http_desc(locked));
	long st = http_request(method, p, strcmp(method, "DELETE") == 0 ? NULL : "", 0, NULL, NULL, 0, NULL);
	free(p);
	return st;
}

long complete_msg(const struct http_resp *locked)
{
	return on_lock("DELETE", locked);
}

long abandon_msg(const struct http_resp *locked)
{
	return on_lock("PUT", locked);
}

long renew_msg(const struct http_resp *locked)
{
	return on_lock("POST", locked);
}

char *user_prop(const struct http_resp *r, const char *name, bool *quoted)
{
	const char *v = http_header(r, name);
	if (v == NULL)
		return NULL;
	size_t n = strlen(v);
	bool q = n >= 2 && v[0] == '"' && v[n - 1] == '"';
	if (quoted != NULL)
		*quoted = q;
	return q ? strndup(v + 1, n - 2) : xstrdup(v);
}

/* ---- emulator endpoints ------------------------------------------------------------------ */

int64_t emu_now_ms(void)
{
	struct http_resp r;
	http_get("/$emulator/clock", &r);
	ck_assert_msg(r.status == 200, "GET /$emulator/clock: %s", http_desc(&r));
	json_t *j = http_json(&r);
	bool ok;
	int64_t now = jint(j, "NowMs", &ok);
	ck_assert_msg(ok, "GET /$emulator/clock: no NowMs: %s", http_desc(&r));
	json_decref(j);
	http_resp_free(&r);
	return now;
}

int64_t emu_advance_ms(int64_t ms)
{
	int64_t before = emu_now_ms();
	struct http_resp r;
	http_post_str(sfmt("/$emulator/clock/advance?ms=%lld", (long long)ms), "", NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "clock advance %lld: %s", (long long)ms, http_desc(&r));
	json_t *j = http_json(&r);
	bool ok;
	int64_t now = jint(j, "NowMs", &ok);
	ck_assert_msg(ok && now == before + ms, "clock advance %lld from %lld: %s", (long long)ms, (long long)before,
		      http_desc(&r));
	json_decref(j);
	http_resp_free(&r);
	return now;
}

json_t *emu_peek(const char *r, int64_t from, int max)
{
	struct http_resp m;
	http_get(sfmt("/$emulator/%s/messages?from=%lld&max=%d", r, (long long)from, max), &m);
	ck_assert_msg(m.status == 200, "peek %s: %s", r, http_desc(&m));
	json_t *j = http_json(&m);
	ck_assert_msg(json_is_array(j), "peek %s: not a JSON array: %s", r, http_desc(&m));
	http_resp_free(&m);
	return j;
}

char *emu_body(const json_t *msg)
{
	const char *b = jstr(msg, "Body");
	ck_assert_msg(b != NULL, "message without a string Body");
	char *d = (char *)b64_decode(b, NULL);
	ck_assert_msg(d != NULL, "Body is not base64: %s", b);
	return d;
}

const char *rfc1123(int64_t ms)
{
	static _Thread_local char buf[4][TIMEFMT_RFC1123_LEN];
	static _Thread_local unsigned next;
	char *b = buf[next++ % 4];
	ck_assert(timefmt_rfc1123(ms, b, TIMEFMT_RFC1123_LEN) == LZ_OK);
	return b;
}

/* ---- metrics ----------------------------------------------------------------------------- */

/* Visits every sample line; returns true from `fn` to stop. */
static bool metric_scan(const char *text, const char *name, const char *const *labels, double *val)
{
	size_t nl = strlen(name);
	const char *line = text;
	while (line != NULL && *line != '\0') {
		const char *eol = strchr(line, '\n');
		size_t ll = eol ? (size_t)(eol - line) : strlen(line);
		if (ll > nl && line[0] != '#' && strncmp(line, name, nl) == 0 &&
		    (line[nl] == '{' || line[nl] == ' ')) {
			char *l = strndup(line, ll);
			const char *vals = l + nl;
			bool all = true;
			if (*vals == '{') {
				char *close = strchr(l + nl, '}');
				if (close == NULL) {
					free(l);
					goto next;
				}
				*close = '\0';
				for (const char *const *lb = labels; lb != NULL && *lb != NULL; lb++) {
					/* match a whole label pair: preceded by '{' or ',' */
					const char *p = l + nl;
					bool hit = false;
					while ((p = strstr(p, *lb)) != NULL) {
						char after = p[strlen(*lb)];
						if ((p[-1] == '{' || p[-1] == ',') && (after == ',' || after == '\0')) {
							hit = true;
							break;
						}
						p++;
					}
					if (!hit)
						all = false;
				}
				vals = close + 1;
			} else if (labels != NULL && labels[0] != NULL) {
				all = false;
			}
			if (all) {
				*val = strtod(vals, NULL);
				free(l);
				return true;
			}
			free(l);
		}
next:
		line = eol ? eol + 1 : NULL;
	}
	return false;
}

double metric_value(const char *text, const char *name, const char *const *labels, bool *found)
{
	double v = 0;
	*found = metric_scan(text, name, labels, &v);
	return v;
}

double metric_sum(const char *text, const char *name, bool *found)
{
	size_t nl = strlen(name);
	double sum = 0;
	*found = false;
	const char *line = text;
	while (line != NULL && *line != '\0') {
		const char *eol = strchr(line, '\n');
		if (line[0] != '#' && strncmp(line, name, nl) == 0 && (line[nl] == '{' || line[nl] == ' ')) {
			const char *v = line + nl;
			if (*v == '{') {
				v = strchr(v, '}');
				if (v == NULL || (eol != NULL && v > eol))
					goto next;
				v++;
			}
			sum += strtod(v, NULL);
			*found = true;
		}
next:
		line = eol ? eol + 1 : NULL;
	}
	return sum;
}

/* ---- suite runner ------------------------------------------------------------------------ */

TCase *h_tcase(const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 60);
	return tc;
}

int h_run_suite(Suite *s)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const char *tmp = getenv("TMPDIR");
	snprintf(run_root, sizeof run_root, "%.150s/lz-it-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(run_root) == NULL) {
		fprintf(stderr, "harness: mkdtemp %s: %s\n", run_root, strerror(errno));
		run_root[0] = '\0';
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	if (run_root[0] != '\0') {
		/* a failed test leaves its broker's directory (named after the test) with broker.log */
		if (failed != 0)
			fprintf(stderr, "harness: broker logs of the failed tests are kept in %s\n", run_root);
		else
			rm_tree(run_root);
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

char *h_state_dump(void)
{
	struct http_resp r;
	char *text;

	ck_assert_int_eq(http_get("/$emulator/state", &r), 200);
	text = strdup(r.body);
	ck_assert_ptr_nonnull(text);
	http_resp_free(&r);
	return text;
}
