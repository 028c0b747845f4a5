/*
 * `localzure wal dump` and `localzure wal verify` end to end: a real persistd (SQLite, small WAL
 * segments, no timed fold) and a durable broker; messages sent over HTTP are in the WAL when
 * they are acknowledged. The CLI reads the segment files while persistd runs and after both
 * daemons are SIGKILLed; then copies of the segments are damaged (a torn tail, a flipped byte in
 * an earlier segment, a missing middle segment) and the CLI must report each the way persistd
 * would treat it: torn tail → exit 0 with a warning naming file and offset; damage → exit 6 with
 * file, offset and intact LSN range.
 *
 * Segment size: wal_max_bytes 4096 gives 1 KiB segments (persistd uses a quarter); NMSG
 * enqueues of short bodies (~160 bytes each) fill three segments while staying under 4096 bytes,
 * so no fold deletes any. snapshot_interval is an hour: nothing folds on a timer.
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_pd.h"

#define NMSG 15
#define SEG1 "00000000000000000001.wal"

struct walenv {
	struct pd p;
	struct lzb b;
	char wal[320];   /* <data_dir>/wal */
	char copy[320];  /* <data_dir>/copy: damaged copies */
	char env_dir[400];
};

/* persistd with 1 KiB segments, a durable broker, queue "walq" and NMSG messages; records:
 * LSN 1 ENTITY_PUT, LSN 2..NMSG+1 MSG_ENQUEUE of sequence numbers 1..NMSG. */
static void walenv_start(struct walenv *w)
{
	char yaml[300];
	FILE *f;

	memset(w, 0, sizeof(*w));
	pd_init(&w->p, "sqlite");
	snprintf(yaml, sizeof(yaml), "%s/pd.yaml", w->p.data_dir);
	f = fopen(yaml, "w");
	ck_assert_ptr_nonnull(f);
	fputs("wal_max_bytes: 4096\nsnapshot_interval: 3600\n", f);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(w->p.env_extra, sizeof(w->p.env_extra), "LOCALZURE_CONFIG=%s", yaml);
	snprintf(w->wal, sizeof(w->wal), "%s/wal", w->p.data_dir);
	snprintf(w->copy, sizeof(w->copy), "%s/copy", w->p.data_dir);
	snprintf(w->env_dir, sizeof(w->env_dir), "LOCALZURE_DATA_DIR=%s", w->p.data_dir);
	pd_start(&w->p);
	broker_start_durable(&w->b, &w->p);
	mk_queue("walq", NULL);
	for (int i = 1; i <= NMSG; i++)
		send_ok("walq", sfmt("m-%d", i), NULL);
}

static void walenv_kill(struct walenv *w)
{
	lzb_kill9(&w->b);
	pd_signal(&w->p, SIGKILL, NULL);
}

/* Runs localzure with the data directory of `w` in its environment. */
static void wcli(const struct walenv *w, struct cli_result *r, const char *const *args)
{
	const char *env[] = { w->env_dir, NULL };

	h_cli_run(args, env, NULL, 20000, r);
}

#define WCLI(w, r, ...) wcli((w), (r), (const char *const[]){ __VA_ARGS__, NULL })

static void expect_exit(const struct cli_result *r, int code, const char *err_needle)
{
	ck_assert_msg(r->status == code, "exit %d, want %d\nstdout: %s\nstderr: %s", r->status, code, r->out,
		      r->err);
	if (err_needle != NULL)
		ck_assert_msg(strstr(r->err, err_needle) != NULL, "stderr lacks '%s': %s", err_needle, r->err);
}

static json_t *json_out(const struct cli_result *r)
{
	json_error_t e;
	json_t *doc = json_loads(r->out, 0, &e);

	ck_assert_msg(doc != NULL, "--json output does not parse (%s): %s", e.text, r->out);
	return doc;
}

/* Fresh copy of the WAL directory to damage. */
static void copy_wal(const struct walenv *w)
{
	ck_assert_int_eq(system(sfmt("rm -rf '%s' && cp -r '%s' '%s'", w->copy, w->wal, w->copy)), 0);
}

/* The name of the n-th (0-based) segment file of a directory, sorted; NULL past the end. */
static const char *segment_name(const char *dir, int n)
{
	static char name[64];
	char *list = NULL;
	size_t len = 0;
	FILE *f = popen(sfmt("ls '%s' | grep '\\.wal$' | sort", dir), "r");
	const char *line;
	int i = 0;

	ck_assert_ptr_nonnull(f);
	while (getline(&list, &len, f) > 0) {
		line = list;
		if (i++ == n) {
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(line, "\n"), line);
			free(list);
			pclose(f);
			return name;
		}
	}
	free(list);
	pclose(f);
	return NULL;
}

static int segment_count(const char *dir)
{
	int n = 0;

	while (segment_name(dir, n) != NULL)
		n++;
	return n;
}

START_TEST(dump_and_verify_live_and_after_kill)
{
	struct cli_result r;
	struct walenv w;
	json_t *doc, *rec;
	size_t i;

	lzb_label = __func__;
	walenv_start(&w);
	ck_assert_int_ge(segment_count(w.wal), 3);

	/* persistd running: the default directory is <data_dir>/wal */
	WCLI(&w, &r, "wal", "dump");
	expect_exit(&r, 0, NULL);
	ck_assert_msg(strstr(r.out, "ENTITY_PUT") != NULL && strstr(r.out, "walq") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "MSG_ENQUEUE") != NULL, "%s", r.out);
	h_cli_free(&r);

	WCLI(&w, &r, "wal", "dump", "--json");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_msg(json_is_array(doc) && json_array_size(doc) == NMSG + 1, "%s", r.out);
	json_array_foreach(doc, i, rec) {
		CK_J_INT(rec, "lsn", i + 1);
		CK_J_STR(rec, "entity", "walq");
		CK_J_STR(rec, "type", i == 0 ? "ENTITY_PUT" : "MSG_ENQUEUE");
		if (i > 0)
			CK_J_INT(rec, "seq", i);
		ck_assert(json_integer_value(json_object_get(rec, "payload_bytes")) > 0);
		ck_assert_ptr_nonnull(strstr(jstr(rec, "time"), "T"));
	}
	json_decref(doc);
	h_cli_free(&r);

	/* an LSN window and a limit */
	WCLI(&w, &r, "--json", "wal", "dump", "--from-lsn", "3", "--to-lsn", "10", "--limit", "2");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_msg(json_array_size(doc) == 2, "%s", r.out);
	CK_J_INT(json_array_get(doc, 0), "lsn", 3);
	CK_J_INT(json_array_get(doc, 1), "lsn", 4);
	json_decref(doc);
	h_cli_free(&r);

	WCLI(&w, &r, "wal", "verify");
	expect_exit(&r, 0, NULL);
	ck_assert_msg(strstr(r.out, "OK") != NULL && strstr(r.out, sfmt("%d records, LSN 1..%d", NMSG + 1, NMSG + 1)),
		      "%s", r.out);
	h_cli_free(&r);

	/* both daemons killed: everything acknowledged is in the WAL, which is sound */
	walenv_kill(&w);
	WCLI(&w, &r, "wal", "verify", "--json");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert(json_is_true(json_object_get(doc, "ok")));
	CK_J_INT(doc, "records", NMSG + 1);
	CK_J_INT(doc, "first_lsn", 1);
	CK_J_INT(doc, "last_lsn", NMSG + 1);
	ck_assert_int_ge(json_integer_value(json_object_get(doc, "segments")), 3);
	ck_assert_ptr_null(json_object_get(doc, "damage"));
	json_decref(doc);
	h_cli_free(&r);
	pd_cleanup(&w.p);
}
END_TEST

START_TEST(damage_reported_like_persistd)
{
	struct cli_result r;
	struct walenv w;
	char last[64], path[512];
	json_t *doc, *d;
	int n;

	lzb_label = __func__;
	walenv_start(&w);
	walenv_kill(&w);
	n = segment_count(w.wal);
	ck_assert_int_ge(n, 3);

	/* torn tail: the last segment cut mid-record → warning with file and offset, exit 0 */
	copy_wal(&w);
	snprintf(last, sizeof(last), "%s", segment_name(w.copy, n - 1));
	snprintf(path, sizeof(path), "%s/%s", w.copy, last);
	ck_assert_int_eq(truncate(path, (off_t)h_file_size(path) - 7), 0);
	WCLI(&w, &r, "wal", "verify", w.copy);
	expect_exit(&r, 0, "torn tail at");
	ck_assert_msg(strstr(r.err, last) != NULL && strstr(r.err, "offset") != NULL, "%s", r.err);
	ck_assert_msg(strstr(r.out, sfmt("LSN 1..%d", NMSG)) != NULL, "%s", r.out);
	h_cli_free(&r);
	WCLI(&w, &r, "wal", "verify", "--json", w.copy);
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	d = json_object_get(doc, "torn_tail");
	ck_assert_msg(d != NULL && json_integer_value(json_object_get(d, "offset")) > 32, "%s", r.out);
	ck_assert(json_is_true(json_object_get(doc, "ok")));
	json_decref(doc);
	h_cli_free(&r);

	/* a flipped byte inside the first record of the first segment → damage, exit 6 */
	copy_wal(&w);
	snprintf(path, sizeof(path), "%s/" SEG1, w.copy);
	{
		FILE *f = fopen(path, "r+b");
		int ch;

		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fseek(f, 32 + 30, SEEK_SET), 0);
		ch = fgetc(f);
		ck_assert_int_eq(fseek(f, 32 + 30, SEEK_SET), 0);
		fputc(ch ^ 0x5a, f);
		ck_assert_int_eq(fclose(f), 0);
	}
	WCLI(&w, &r, "wal", "verify", w.copy);
	expect_exit(&r, 6, SEG1);
	ck_assert_msg(strstr(r.err, "offset 32") != NULL && strstr(r.err, "checksum") != NULL, "%s", r.err);
	h_cli_free(&r);
	WCLI(&w, &r, "--json", "wal", "verify", w.copy);
	expect_exit(&r, 6, NULL);
	doc = json_out(&r);
	d = json_object_get(doc, "damage");
	ck_assert_msg(d != NULL, "%s", r.out);
	CK_J_INT(d, "offset", 32);
	ck_assert_ptr_nonnull(strstr(jstr(d, "file"), SEG1));
	CK_J_INT(doc, "exit", 6);
	ck_assert(json_is_false(json_object_get(doc, "ok")));
	json_decref(doc);
	h_cli_free(&r);
	/* dump shows what is intact (nothing here) and fails the same way */
	WCLI(&w, &r, "wal", "dump", w.copy);
	expect_exit(&r, 6, "damage in");
	h_cli_free(&r);

	/* damage after the first record: dump prints the intact records before it */
	copy_wal(&w);
	snprintf(path, sizeof(path), "%s/%s", w.copy, segment_name(w.copy, 1));
	{
		FILE *f = fopen(path, "r+b");

		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fseek(f, 32 + 40, SEEK_SET), 0);
		fputc(0xee, f);
		fputc(0x11, f);
		ck_assert_int_eq(fclose(f), 0);
	}
	WCLI(&w, &r, "--json", "wal", "dump", w.copy);
	expect_exit(&r, 6, "before it are intact");
	doc = json_out(&r);
	ck_assert_msg(json_array_size(doc) >= 2, "%s", r.out);
	json_decref(doc);
	h_cli_free(&r);

	/* a missing middle segment: an LSN gap */
	copy_wal(&w);
	snprintf(path, sizeof(path), "%s/%s", w.copy, segment_name(w.copy, 1));
	ck_assert_int_eq(unlink(path), 0);
	WCLI(&w, &r, "wal", "verify", w.copy);
	expect_exit(&r, 6, "LSN gap");
	h_cli_free(&r);
	pd_cleanup(&w.p);
}
END_TEST

START_TEST(missing_dir_and_bad_args)
{
	const char *env_missing[] = { "LOCALZURE_DATA_DIR=/nonexistent/lz-cli-wal", NULL };
	static const char *const bad[][6] = {
		{ "wal", "dump", "--limit", "x", NULL },
		{ "wal", "dump", "--from-lsn", "-1", NULL },
		{ "wal", "dump", "--from-lsn", "9", "--to-lsn", "3" },
		{ "wal", "dump", "a", "b", NULL },
		{ "wal", "dump", "--bogus", NULL },
		{ "wal", "verify", "--limit", "3", NULL },
		{ "wal", "dump", "--limit", NULL },
	};
	struct cli_result r;

	h_cli_run((const char *const[]){ "wal", "verify", NULL }, env_missing, NULL, 20000, &r);
	expect_exit(&r, 5, "/nonexistent/lz-cli-wal/wal");
	h_cli_free(&r);
	h_cli_run((const char *const[]){ "wal", "dump", "/nonexistent/dir", NULL }, NULL, NULL, 20000, &r);
	expect_exit(&r, 5, "/nonexistent/dir");
	h_cli_free(&r);
	h_cli_run((const char *const[]){ "--json", "wal", "verify", "/nonexistent/dir", NULL }, NULL, NULL, 20000, &r);
	expect_exit(&r, 5, NULL);
	{
		json_t *doc = json_out(&r);

		CK_J_INT(doc, "exit", 5);
		json_decref(doc);
	}
	h_cli_free(&r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[7] = { 0 };

		memcpy(args, bad[i], sizeof(bad[i]));
		h_cli_run(args, env_missing, NULL, 20000, &r);
		ck_assert_msg(r.status == 2, "case %zu: exit %d, stderr %s", i, r.status, r.err);
		ck_assert_msg(strstr(r.err, "--help") != NULL, "case %zu: %s", i, r.err);
		h_cli_free(&r);
	}
	/* an empty directory is a sound WAL with no records */
	{
		char dir[] = "/tmp/lz-cli-wal-XXXXXX";

		ck_assert_ptr_nonnull(mkdtemp(dir));
		h_cli_run((const char *const[]){ "wal", "verify", dir, NULL }, NULL, NULL, 20000, &r);
		expect_exit(&r, 0, NULL);
		ck_assert_msg(strstr(r.out, "no records") != NULL, "%s", r.out);
		h_cli_free(&r);
		ck_assert_int_eq(rmdir(dir), 0);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_wal");
	TCase *tc = h_tcase("cli_wal");

	tcase_add_test(tc, dump_and_verify_live_and_after_kill);
	tcase_add_test(tc, damage_reported_like_persistd);
	tcase_add_test(tc, missing_dir_and_bad_args);
	suite_add_tcase(s, tc);
	return h_run_suite(s);
}
