/* Unit tests for persistd/export (the export file of `localzure storage export / import-data`):
 * a state written with export_write reads back with export_read into a fresh store identical
 * record for record (compared as journal encodings), and every way a file can be wrong is refused
 * with its line number before anything is handed on: not an export, an unknown version, a line
 * that is not JSON, an entity after a message, an unknown line kind, a missing or disagreeing
 * End line, data after it, a last line without its newline, an empty file, bad field values. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/entity.h"
#include "common/strbuf.h"
#include "persistd/export.h"
#include "persistd/store.h"
#include "proto/journal.h"

#define DETAIL_CAP 2048

static store *store_new(void)
{
	struct store_config cfg = { .location = NULL };
	struct store_detail sd = { "" };
	store *s = NULL;

	ck_assert_int_eq(store_memory_ops.open(&cfg, &s, &sd), LZ_OK);
	return s;
}

/* Queue "q" (with a duplicate-detection entry), topic "t" with subscription "t/subscriptions/s",
 * and `n` messages in q's main queue, one dead-lettered and one deferred. */
static store *store_filled(int n)
{
	store *s = store_new();
	struct store_detail sd = { "" };
	static const char *const paths[] = { "q", "t", "t/subscriptions/s" };
	static const enum entity_kind kinds[] = { ENTITY_QUEUE, ENTITY_TOPIC, ENTITY_SUBSCRIPTION };
	struct journal_dup dup = { "dup-1", 1700000000000LL };

	ck_assert_int_eq(store_memory_ops.begin(s, &sd), LZ_OK);
	for (int i = 0; i < 3; i++) {
		struct jrec_load_entity e = { .path = (char *)paths[i], .created_at = 1700000000000LL + i,
					      .last_seq = (uint64_t)n };

		entity_desc_defaults(&e.desc, kinds[i]);
		if (i == 0) {
			e.dups = &dup;
			e.ndups = 1;
		}
		ck_assert_int_eq(store_memory_ops.put_entity(s, &e, &sd), LZ_OK);
	}
	for (int i = 1; i <= n; i++) {
		char body[64];
		struct jrec_load_message m = { 0 };

		snprintf(body, sizeof(body), "body \"%d\" \xc3\xa9\n", i);
		m.place.path = (char *)"q";
		m.place.where = i == 2 ? JWHERE_DLQ : JWHERE_MAIN;
		m.place.seq = (uint64_t)i;
		m.place.enqueued_ms = 1700000000000LL + i;
		m.place.ttl_ms = 60000;
		m.place.expires_ms = m.place.enqueued_ms + 60000;
		m.place.delivery_count = (uint32_t)(i % 3);
		m.deferred = i == 3;
		m.msg.body = (uint8_t *)body;
		m.msg.body_len = strlen(body);
		ck_assert_int_eq(store_memory_ops.put_message(s, &m, &sd), LZ_OK);
	}
	ck_assert_int_eq(store_memory_ops.commit(s, 42, &sd), LZ_OK);
	return s;
}

/* Every record of a store as journal encodings, in load order. */
static lz_err dump_entity(void *arg, const struct jrec_load_entity *e)
{
	struct jrec r = { .type = JREC_LOAD_ENTITY };

	r.u.load_entity = *e;
	return journal_encode(&r, arg) == LZ_OK ? strbuf_addch(arg, '|') : LZ_ENOMEM;
}

static lz_err dump_message(void *arg, const struct jrec_load_message *m)
{
	struct jrec r = { .type = JREC_LOAD_MESSAGE };

	r.u.load_message = *m;
	return journal_encode(&r, arg) == LZ_OK ? strbuf_addch(arg, '|') : LZ_ENOMEM;
}

static void store_dump(store *s, struct strbuf *out)
{
	struct store_visitor v = { dump_entity, dump_message, out };
	struct store_detail sd = { "" };

	ck_assert_int_eq(store_memory_ops.load(s, &v, &sd), LZ_OK);
}

/* export_read sink: puts into a store, inside a transaction the test opened. */
static lz_err sink_entity(void *arg, const struct jrec_load_entity *e, char *detail, size_t cap)
{
	struct store_detail sd = { "" };
	lz_err err = store_memory_ops.put_entity(arg, e, &sd);

	if (err != LZ_OK)
		snprintf(detail, cap, "%s", sd.text);
	return err;
}

static lz_err sink_message(void *arg, const struct jrec_load_message *m, char *detail, size_t cap)
{
	struct store_detail sd = { "" };
	lz_err err = store_memory_ops.put_message(arg, m, &sd);

	if (err != LZ_OK)
		snprintf(detail, cap, "%s", sd.text);
	return err;
}

/* Writes `s` as an export into a new in-memory text (malloc'd). */
static char *export_text(store *s, struct export_counts *c)
{
	char *text = NULL, detail[DETAIL_CAP];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(export_write(&store_memory_ops, s, f, "mem", NULL, c, detail, sizeof(detail)) == LZ_OK, "%s",
		      detail);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

/* Reads `text` into a fresh store; returns the result, *into the store (caller closes). */
static lz_err import_text(const char *text, store **into, struct export_counts *c, char *detail)
{
	struct store_detail sd = { "" };
	store *s = store_new();
	struct export_sink sink = { sink_entity, sink_message, s };
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	lz_err err;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(store_memory_ops.begin(s, &sd), LZ_OK);
	err = export_read(f, "x.jsonl", &sink, NULL, c, detail, DETAIL_CAP);
	if (err == LZ_OK)
		ck_assert_int_eq(store_memory_ops.commit(s, c->lsn, &sd), LZ_OK);
	else
		store_memory_ops.rollback(s);
	fclose(f);
	*into = s;
	return err;
}

static void progress_count(void *arg, uint64_t done, uint64_t total)
{
	uint64_t *calls = arg;

	ck_assert_uint_le(done, total);
	(*calls)++;
}

START_TEST(test_round_trip)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	struct export_counts wc, rc;
	char detail[DETAIL_CAP];
	store *from = store_filled(5000), *to;
	char *text = export_text(from, &wc);
	uint64_t calls = 0;
	struct export_progress prog = { progress_count, &calls };
	FILE *f;

	ck_assert_uint_eq(wc.entities, 3);
	ck_assert_uint_eq(wc.messages, 5000);
	ck_assert_uint_eq(wc.lsn, 42);
	ck_assert_uint_eq(wc.bytes, strlen(text));
	ck_assert_msg(strncmp(text, "{\"Format\":\"localzure-export\",\"Version\":1,", 41) == 0, "%.80s", text);
	ck_assert_msg(import_text(text, &to, &rc, detail) == LZ_OK, "%s", detail);
	ck_assert_uint_eq(rc.entities, 3);
	ck_assert_uint_eq(rc.messages, 5000);
	ck_assert_uint_eq(rc.lsn, 42);
	store_dump(from, &a);
	store_dump(to, &b);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert(memcmp(a.data, b.data, a.len) == 0);
	store_memory_ops.close(to);
	/* progress: called along the way (every few thousand items) and at the end */
	f = fmemopen(text, strlen(text), "r");
	to = store_new();
	{
		struct export_sink sink = { sink_entity, sink_message, to };
		struct store_detail sd = { "" };

		ck_assert_int_eq(store_memory_ops.begin(to, &sd), LZ_OK);
		ck_assert_int_eq(export_read(f, "x", &sink, &prog, &rc, detail, sizeof(detail)), LZ_OK);
		store_memory_ops.rollback(to);
	}
	fclose(f);
	ck_assert_uint_ge(calls, 2);
	store_memory_ops.close(to);
	store_memory_ops.close(from);
	strbuf_release(&a);
	strbuf_release(&b);
	free(text);
}
END_TEST

START_TEST(test_empty_store)
{
	struct export_counts wc, rc;
	char detail[DETAIL_CAP];
	store *from = store_new(), *to;
	char *text = export_text(from, &wc);

	ck_assert_uint_eq(wc.entities + wc.messages, 0);
	ck_assert_msg(import_text(text, &to, &rc, detail) == LZ_OK, "%s", detail);
	ck_assert_uint_eq(rc.entities + rc.messages, 0);
	store_memory_ops.close(to);
	store_memory_ops.close(from);
	free(text);
}
END_TEST

/* Replaces the first occurrence of `from` in `text` (which must hold it) by `to`. */
static char *edit(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	struct strbuf b = STRBUF_INIT;

	ck_assert_msg(at != NULL, "'%s' not in the export", from);
	ck_assert_int_eq(strbuf_add(&b, text, (size_t)(at - text)), LZ_OK);
	ck_assert_int_eq(strbuf_adds(&b, to), LZ_OK);
	ck_assert_int_eq(strbuf_adds(&b, at + strlen(from)), LZ_OK);
	return b.data;
}

static void expect_refused(const char *text, lz_err want, const char *needle)
{
	struct export_counts rc;
	char detail[DETAIL_CAP] = "";
	store *to;
	lz_err err = import_text(text, &to, &rc, detail);
	struct strbuf d = STRBUF_INIT;

	ck_assert_msg(err == want, "got %s, want %s (%s)", err_name(err), err_name(want), detail);
	ck_assert_msg(strstr(detail, needle) != NULL, "detail '%s' lacks '%s'", detail, needle);
	/* the test's transaction was rolled back: nothing is left behind */
	store_dump(to, &d);
	ck_assert_uint_eq(d.len, 0);
	strbuf_release(&d);
	store_memory_ops.close(to);
}

START_TEST(test_refusals)
{
	struct export_counts wc;
	store *from = store_filled(3);
	char *text = export_text(from, &wc);
	char *t;
	const char *end = strstr(text, "{\"End\"");
	size_t len = strlen(text);

	ck_assert_ptr_nonnull(end);
	expect_refused("", LZ_EPARSE, "empty file");
	expect_refused("{\"hello\":1}\n", LZ_EPARSE, "x.jsonl:1: not a LocalZure export file");
	expect_refused("not json\n", LZ_EPARSE, "x.jsonl:1: not a JSON object");
	t = edit(text, "\"Version\":1", "\"Version\":2");
	expect_refused(t, LZ_EUNSUPPORTED, "export format version 2 is not supported");
	free(t);
	t = edit(text, "\"Lsn\":42", "\"Lsn\":-1");
	expect_refused(t, LZ_EPARSE, "x.jsonl:1: Lsn, Entities and Messages");
	free(t);
	/* cut before the End line, and in the middle of the last message line */
	t = strndup(text, (size_t)(end - text));
	expect_refused(t, LZ_EPARSE, "no End line");
	t[strlen(t) - 10] = '\0';
	expect_refused(t, LZ_EPARSE, "the line is not complete");
	free(t);
	/* the last line without its newline */
	t = strndup(text, len - 1);
	expect_refused(t, LZ_EPARSE, ":8: the line is not complete");
	free(t);
	t = edit(text, "\"End\":true,\"Entities\":3", "\"End\":true,\"Entities\":4");
	expect_refused(t, LZ_EPARSE, ":8: the End line's counts do not match");
	free(t);
	t = malloc(len + 32);
	ck_assert_ptr_nonnull(t);
	snprintf(t, len + 32, "%s{\"Entity\":{}}\n", text);
	expect_refused(t, LZ_EPARSE, ":9: data after the End line");
	free(t);
	t = edit(text, "{\"Message\":", "{\"Mystery\":");
	expect_refused(t, LZ_EPARSE, ":5: expected an Entity, Message or End line");
	free(t);
	/* an entity after the first message */
	{
		const char *m1 = strstr(text, "{\"Message\"");
		const char *e3 = strstr(text, "{\"Entity\":{\"Path\":\"t/subscriptions/s\"");
		struct strbuf b = STRBUF_INIT;

		ck_assert(m1 != NULL && e3 != NULL && e3 < m1);
		ck_assert_int_eq(strbuf_add(&b, text, (size_t)(e3 - text)), LZ_OK);
		ck_assert_int_eq(strbuf_add(&b, m1, (size_t)(strchr(m1, '\n') + 1 - m1)), LZ_OK);
		ck_assert_int_eq(strbuf_add(&b, e3, (size_t)(m1 - e3)), LZ_OK);
		ck_assert_int_eq(strbuf_adds(&b, strchr(m1, '\n') + 1), LZ_OK);
		expect_refused(b.data, LZ_EPARSE, ":5: an Entity after the first Message");
		strbuf_release(&b);
	}
	/* field values the json form refuses, with the line named */
	t = edit(text, "\"SequenceNumber\":1", "\"SequenceNumber\":\"one\"");
	expect_refused(t, LZ_EPARSE, "line 5");
	free(t);
	t = edit(text, "\"Kind\":\"Queue\"", "\"Kind\":\"Mailbox\"");
	expect_refused(t, LZ_EPARSE, "line 2");
	free(t);
	store_memory_ops.close(from);
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("export");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_empty_store);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
