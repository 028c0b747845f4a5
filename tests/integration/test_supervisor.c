/*
 * deploy/supervisor.sh for real: it starts persistd and the broker, restarts the broker after a
 * SIGKILL (state intact), and on SIGTERM stops both and exits 0.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

/* The value after the last occurrence of `key` (e.g. "port=") in `text`, 0 if none. */
static long last_number(const char *text, const char *key)
{
	const char *p = text, *hit = NULL;

	while ((p = strstr(p, key)) != NULL) {
		hit = p;
		p++;
	}
	return hit != NULL ? strtol(hit + strlen(key), NULL, 10) : 0;
}

/* Waits (bounded) until the file holds `count` occurrences of `pattern`. */
static void wait_count(const char *path, const char *pattern, int count)
{
	int64_t deadline = h_mono_ms() + 20000;

	for (;;) {
		char *t = slurp(path);
		int n = 0;

		for (const char *p = t; (p = strstr(p, pattern)) != NULL; p++)
			n++;
		free(t);
		if (n >= count)
			return;
		ck_assert_msg(h_mono_ms() < deadline, "'%s' did not appear %d times in %s", pattern, count, path);
		h_sleep_ms(20);
	}
}

START_TEST(supervisor_restarts_and_stops)
{
	const char *src = getenv("LZ_SOURCE_DIR"), *broker = getenv("LZ_BROKER_BIN");
	char dir[] = "/tmp/lz-sup-XXXXXX", script[600], bindir[600], sup_log[700], broker_log[700], cmd[800];
	char *log, *base;
	pid_t sup;
	long port, pid;
	int st = 0;
	struct http_resp r;

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(broker);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/deploy/supervisor.sh", src);
	snprintf(bindir, sizeof(bindir), "%.*s/..", (int)(strrchr(broker, '/') - broker), broker);
	snprintf(sup_log, sizeof(sup_log), "%s/supervisor.log", dir);
	snprintf(broker_log, sizeof(broker_log), "%s/data/logs/broker.log", dir);
	sup = fork();
	ck_assert_int_ge(sup, 0);
	if (sup == 0) {
		char data[700];
		FILE *out = freopen(sup_log, "w", stderr);

		(void)out;
		snprintf(data, sizeof(data), "%s/data", dir);
		setenv("LOCALZURE_BIN_DIR", bindir, 1);
		setenv("LOCALZURE_DATA_DIR", data, 1);
		setenv("LOCALZURE_HTTP_PORT", "0", 1);
		setenv("LOCALZURE_HTTP_HOST", "127.0.0.1", 1);
		unsetenv("LOCALZURE_CONFIG");
		execl("/bin/bash", "bash", script, (char *)NULL);
		_exit(127);
	}
	wait_count(sup_log, "msg=\"ready", 1);
	log = slurp(broker_log);
	port = last_number(log, " port=");
	free(log);
	ck_assert_int_gt(port, 0);
	base = strdup(sfmt("http://127.0.0.1:%ld", port));
	ck_assert_int_eq(http_request("PUT", sfmt("%s/q", base), "", 0, "application/atom+xml", NULL, 0, NULL), 201);
	ck_assert_int_eq(http_post(sfmt("%s/q/messages", base), "kept", 4, "text/plain", NULL, NULL), 201);

	log = slurp(sup_log);
	pid = last_number(log, "started broker pid=");
	free(log);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(kill((pid_t)pid, SIGKILL), 0);
	wait_count(sup_log, "broker exited", 1);
	wait_count(sup_log, "started broker pid=", 2);
	wait_count(broker_log, "msg=\"listening\"", 2);
	log = slurp(broker_log);
	port = last_number(log, " port=");
	free(log);
	free(base);
	base = strdup(sfmt("http://127.0.0.1:%ld", port));
	ck_assert_int_eq(http_request("DELETE", sfmt("%s/q/messages/head?timeout=0", base), NULL, 0, NULL, NULL, 0, &r),
			 200);
	ck_assert_str_eq(r.body, "kept");
	http_resp_free(&r);
	free(base);

	ck_assert_int_eq(kill(sup, SIGTERM), 0);
	{
		int64_t deadline = h_mono_ms() + 30000;

		while (waitpid(sup, &st, WNOHANG) == 0) {
			if (h_mono_ms() > deadline) {
				kill(sup, SIGKILL);
				waitpid(sup, &st, 0);
				ck_abort_msg("the supervisor did not stop within 30 s");
			}
			h_sleep_ms(20);
		}
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "supervisor exit 0x%x", st);
	log = slurp(sup_log);
	ck_assert_ptr_nonnull(strstr(log, "broker stopped status=0"));
	ck_assert_ptr_nonnull(strstr(log, "persistd stopped status=0"));
	free(log);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("supervisor");
	TCase *tc = tcase_create("supervisor");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, supervisor_restarts_and_stops);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
