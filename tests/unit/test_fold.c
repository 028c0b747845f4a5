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

/* Folds records [from, to) of `log` in one transaction. */
static void fold_range(const struct store_ops *ops, store *s, const struct journal_log *log, size_t from, size_t to)
{
	struct store_detail d = { "" };
	fold *f;

	ck_assert_msg(fold_begin(ops, s, &f, &d) == LZ_OK, "fold_begin: %s", d.text);
	for (size_t i = from; i < to; i++) {
		struct journal_rec rec = journal_log_rec(log, i);
		lz_err err = fold_record(f, &rec, &d);

		if (err != LZ_OK) {
			fold_abort(f);
			ck_abort_msg("%s: fold of lsn %llu (%s) failed: %s (%s)", ops->name, (unsigned long long)rec.lsn,
				     journal_type_name(rec.type), err_name(err), d.text);
		}
	}
	ck_assert_msg(fold_commit(f, &d) == LZ_OK, "%s: fold_commit: %s", ops->name, d.text);
}

struct loader {
	core *c;
	struct strbuf enc;
	lz_err err;
	char why[1100];
};

static lz_err load_record(struct loader *l, const struct jrec *r)
{
	struct journal_rec rec;
	struct lz_detail d = { "" };
	lz_err err;

	strbuf_reset(&l->enc);
	err = journal_encode(r, &l->enc);
	if (err == LZ_OK) {
		rec = (struct journal_rec){ 0, r->type, 0, (const uint8_t *)strbuf_cstr(&l->enc), l->enc.len };
		err = core_replay(l->c, &rec, &d);
	}
	if (err != LZ_OK)
		snprintf(l->why, sizeof(l->why), "%s: %s", journal_type_name(r->type), d.text);
	return err;
}

static lz_err load_entity(void *arg, const struct jrec_load_entity *e)
{
	struct jrec r = { .type = JREC_LOAD_ENTITY };

	r.u.load_entity = *e;
	return load_record(arg, &r);
}

static lz_err load_message(void *arg, const struct jrec_load_message *m)
{
	struct jrec r = { .type = JREC_LOAD_MESSAGE };

	r.u.load_message = *m;
	return load_record(arg, &r);
}

static void check_backend(const struct store_ops *ops, uint64_t seed, unsigned steps)
{
	struct workload w;
	struct loader l = { NULL, STRBUF_INIT, LZ_OK, "" };
	struct store_visitor v = { load_entity, load_message, &l };
	struct store_detail d = { "" };
	struct core_config cfg = { 0 };
	struct lz_detail ld = { "" };
	lz_clock *clk;
	store *s;
	size_t done = 0;
	uint64_t lsn = 0;

	workload_run(&w, seed, steps);
	make_tmpdir();
	open_store(ops, &s);
	while (done < w.log.n) {
		size_t chunk = 1 + (size_t)((seed * 7919 + done * 104729) % 400);
		size_t to = done + chunk < w.log.n ? done + chunk : w.log.n;
		/* Start some folds a little before the last commit: those records must be skipped. */
		size_t from = done > 5 && chunk % 3 == 0 ? done - 5 : done;

		fold_range(ops, s, &w.log, from, to);
		done = to;
	}
	if (strcmp(ops->name, "memory") != 0) {
		ops->close(s);
		open_store(ops, &s);
	}
	ck_assert_int_eq(ops->last_applied_lsn(s, &lsn, &d), LZ_OK);
	ck_assert_uint_eq(lsn, core_last_lsn(w.c));

	ck_assert_int_eq(clock_new(true, clock_now(w.clock), &clk), LZ_OK);
	cfg.clock = clk;
	ck_assert_int_eq(core_new(&cfg, &l.c), LZ_OK);
	ck_assert_msg(ops->load(s, &v, &d) == LZ_OK, "%s seed %llu: load failed: %s / %s", ops->name,
		      (unsigned long long)seed, d.text, l.why);
	ck_assert_int_eq(core_load_done(l.c, lsn, &ld), LZ_OK);
	workload_expect_same_state(w.c, l.c, ops->name, seed);

	core_free(l.c);
	clock_free(clk);
	strbuf_release(&l.enc);
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
