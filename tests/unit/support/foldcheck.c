/*
 * foldcheck — see foldcheck.h.
 */
#include "foldcheck.h"

#include <check.h>
#include <stdio.h>

#include "common/strbuf.h"
#include "persistd/fold.h"

struct loader {
	core *c;
	struct strbuf enc;
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

/* Folds records [from, to) of `log` in one transaction. */
static void fold_range(const struct store_ops *ops, store *s, const struct journal_log *log, size_t from, size_t to)
{
	struct store_detail d = { "" };
	fold *f;

	ck_assert_msg(fold_begin(ops, s, &f, &d) == LZ_OK, "%s: fold_begin: %s", ops->name, d.text);
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

void foldcheck_run(const struct store_ops *ops, store **s, const struct workload *w, uint64_t seed,
		   void (*reopen)(void *arg, store **s), void *arg)
{
	struct loader l = { NULL, STRBUF_INIT, "" };
	struct store_visitor v = { load_entity, load_message, &l };
	struct store_detail d = { "" };
	struct core_config cfg = { 0 };
	struct lz_detail ld = { "" };
	lz_clock *clk;
	size_t done = 0;
	uint64_t lsn = 0;

	while (done < w->log.n) {
		size_t chunk = 1 + (size_t)((seed * 7919 + done * 104729) % 400);
		size_t to = done + chunk < w->log.n ? done + chunk : w->log.n;
		/* Start some folds a little before the last commit: those records must be skipped. */
		size_t from = done > 5 && chunk % 3 == 0 ? done - 5 : done;

		fold_range(ops, *s, &w->log, from, to);
		done = to;
	}
	if (reopen != NULL)
		reopen(arg, s);
	ck_assert_int_eq(ops->last_applied_lsn(*s, &lsn, &d), LZ_OK);
	ck_assert_uint_eq(lsn, core_last_lsn(w->c));

	ck_assert_int_eq(clock_new(true, clock_now(w->clock), &clk), LZ_OK);
	cfg.clock = clk;
	ck_assert_int_eq(core_new(&cfg, &l.c), LZ_OK);
	ck_assert_msg(ops->load(*s, &v, &d) == LZ_OK, "%s seed %llu: load failed: %s / %s", ops->name,
		      (unsigned long long)seed, d.text, l.why);
	ck_assert_int_eq(core_load_done(l.c, lsn, &ld), LZ_OK);
	workload_expect_same_state(w->c, l.c, ops->name, seed);
	core_free(l.c);
	clock_free(clk);
	strbuf_release(&l.enc);
}
