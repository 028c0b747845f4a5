/*
 * The fold and the broker's core agree on what every journal record means: a randomized
 * workload's journal, folded into each backend in several transactions (with overlapping
 * re-folds, which must be skipped), then loaded back as a state transfer into a fresh core,
 * gives exactly the live core's state. Persistent backends are closed and reopened first.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "foldcheck.h"
#include "persistd/fold.h"
#include "workload.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/lzfold.XXXXXX", base != NULL && *base != '\0' ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void open_store(const struct store_ops *ops, store **s)
{
	char location[300];
	struct store_config cfg = { .location = location, .pretty_json = true };
	struct store_detail d = { "" };

	snprintf(location, sizeof(location), "%s/%s", tmpdir, strcmp(ops->name, "sqlite") == 0 ? "store.db" : "json");
	ck_assert_msg(ops->open(&cfg, s, &d) == LZ_OK, "open %s: %s", ops->name, d.text);
}

static void reopen_store(void *arg, store **s)
{
	const struct store_ops *ops = arg;

	ops->close(*s);
	open_store(ops, s);
}

static void check_backend(const struct store_ops *ops, uint64_t seed, unsigned steps)
{
	struct workload w;
	store *s;

	workload_run(&w, seed, steps);
	make_tmpdir();
	open_store(ops, &s);
	/* Persistent backends are closed and reopened between the fold and the load. */
	foldcheck_run(ops, &s, &w, seed, strcmp(ops->name, "memory") != 0 ? reopen_store : NULL, (void *)ops);
	ops->close(s);
	remove_tmpdir();
	workload_free(&w);
}

static unsigned env_unsigned(const char *name, unsigned def)
{
	const char *s = getenv(name);

	return s != NULL && *s != '\0' ? (unsigned)strtoul(s, NULL, 10) : def;
}

START_TEST(fold_matches_core)
{
	static const char *const names[] = { "memory", "sqlite", "json" };
	const struct store_ops *ops = store_ops_find(names[_i % 3]);
	unsigned seeds = env_unsigned("LZ_FOLD_SEEDS", 6);

	ck_assert_ptr_nonnull(ops);
	for (unsigned s = 0; s < seeds; s++)
		check_backend(ops, 100 + (uint64_t)s, 1500);
}
END_TEST

/* A record that does not follow, or does not fit the stored state, is refused. */
START_TEST(fold_refuses_bad_records)
{
	const struct store_ops *ops = store_ops_find("memory");
	struct workload w;
	struct store_detail d = { "" };
	store *s;
	fold *f;
	struct journal_rec rec;

	workload_run(&w, 7, 50);
	make_tmpdir();
	open_store(ops, &s);
	ck_assert_int_eq(fold_begin(ops, s, &f, &d), LZ_OK);
	rec = journal_log_rec(&w.log, 1);
	ck_assert_int_eq(fold_record(f, &rec, &d), LZ_EINVAL);
	ck_assert_ptr_nonnull(strstr(d.text, "does not follow"));
	fold_abort(f);
	ck_assert_int_eq(fold_begin(ops, s, &f, &d), LZ_OK);
	rec = journal_log_rec(&w.log, 0);
	rec.payload = (const uint8_t *)"\x91\x02";
	rec.len = 2;
	ck_assert_int_eq(fold_record(f, &rec, &d), LZ_EPARSE);
	fold_abort(f);
	ops->close(s);
	remove_tmpdir();
	workload_free(&w);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("fold");
	TCase *tc = tcase_create("fold");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, fold_matches_core, 0, 3);
	tcase_add_test(tc, fold_refuses_bad_records);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
