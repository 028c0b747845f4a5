/*
 * store_sqlite — the SQLite backend (the default): the whole state in one database file.
 *
 * FILE FORMAT: an SQLite 3 database, SCHEMA VERSION 1 (SQ_SCHEMA_VERSION), in WAL journal mode
 * (the file is accompanied by "<file>-wal" and "<file>-shm" while open) with synchronous=FULL, so
 * that a COMMIT that returned is durable.
 *
 * Page size: files created by this build use 8192-byte pages (SQ_NEW_PAGE_SIZE). Files created
 * before (4096-byte pages, SQLite's default) keep their page size (SQLite fixes it when the file
 * is created, and VACUUM cannot change it in WAL mode); both are read and written alike, with
 * the same schema, so the page size is not part of the schema version. Why 8 KiB: a commit
 * writes every page it dirtied into the WAL file as one frame (24-byte header + page, two
 * write calls), so a fold of 10k messages of 1 KiB writes ~1,700 frames instead of ~3,400
 * (bench/fold_bench: commit ~37 ms → ~30 ms). Larger pages commit faster still (64 KiB: ~16 ms)
 * but a new store then needs more than 64 KiB of WAL file before it is ready, which the
 * persistd integration test of a write error (RLIMIT_FSIZE 64 KiB) does not allow.
 * The WAL file is checkpointed into the database file by the commit that takes it past 64 MiB
 * (SQ_CHECKPOINT_BYTES, whatever the page size).
 *
 *   schema_version(version INTEGER NOT NULL)      exactly one row: the schema version
 *   meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID
 *       'last_applied_lsn' → INTEGER  the LSN of the last commit (uint64 stored as int64 bits)
 *       'store_id'         → TEXT     32 random hex digits, set when the file is created
 *   entities(key TEXT PRIMARY KEY, path TEXT NOT NULL, kind INTEGER NOT NULL,
 *            data BLOB NOT NULL) WITHOUT ROWID
 *       key   the lower-cased path (ASCII folding); byte order of keys puts a topic before its
 *             subscriptions ("t" < "t/subscriptions/s")
 *       path  the path as given     kind  enum entity_kind (1 queue, 2 topic, 3 subscription)
 *       data  journal_encode payload of a LOAD_ENTITY record (proto/journal.c, format 2)
 *   messages(entity TEXT NOT NULL, where_ INTEGER NOT NULL, seq INTEGER NOT NULL,
 *            state INTEGER NOT NULL, enqueued_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
 *            data BLOB NOT NULL)
 *       UNIQUE INDEX messages_key(entity, where_, seq)
 *       entity  lower-cased path of the queue or subscription
 *       where_  enum journal_where (0 main, 1 dead-letter queue, 2 scheduled store)
 *       seq     sequence number (int64; Service Bus numbers stay below 2^63)
 *       state   0 active, 1 deferred, 2 dead-lettered, 3 scheduled (derived from where_ and the
 *               deferred flag, for COUNT queries)
 *       enqueued_ms, expires_ms   copies of the place's fields, for inspection with sqlite3(1)
 *       data    journal_encode payload of a LOAD_MESSAGE record
 *     A rowid table with a unique index rather than WITHOUT ROWID: bodies can be megabytes, and
 *     SQLite advises against WITHOUT ROWID for rows that large. delete_entity and load use the
 *     index's (entity, where_, seq) order.
 *
 * Migrations: sq_migrations[i] takes the schema from version i to i + 1; open applies the
 * missing ones in order, in one transaction with the version update. A file whose version is
 * newer than this build knows is refused (LZ_EUNSUPPORTED), and so is a non-empty database
 * without a schema_version table.
 *
 * Errors: every failing SQLite call gives LZ_ESYS with detail "sqlite: <message> (<file>)"; a
 * BLOB that does not decode gives LZ_EPARSE naming its key. compact and purge run their own
 * transactions: LZ_ESTATE inside one; writes outside a transaction are LZ_ESTATE too.
 */
#include "persistd/store.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strbuf.h"

static const char *const sq_migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE entities(key TEXT PRIMARY KEY, path TEXT NOT NULL, kind INTEGER NOT NULL,"
	" data BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE messages(entity TEXT NOT NULL, where_ INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" state INTEGER NOT NULL, enqueued_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
	" data BLOB NOT NULL);"
	"CREATE UNIQUE INDEX messages_key ON messages(entity, where_, seq);"
	"INSERT INTO meta(key, value) VALUES('last_applied_lsn', 0);"
	"INSERT INTO meta(key, value) VALUES('store_id', lower(hex(randomblob(16))));",
};

#define SQ_SCHEMA_VERSION ((int64_t)(sizeof(sq_migrations) / sizeof(sq_migrations[0])))

/* Page size of files created by this build (see FILE FORMAT), and the WAL file size at which
 * a commit checkpoints it into the database file. */
#define SQ_NEW_PAGE_SIZE 8192
#define SQ_CHECKPOINT_BYTES ((int64_t)64 * 1024 * 1024)
#define SQ_STR_(x) #x
#define SQ_STR(x) SQ_STR_(x)

enum sq_state {
	SQ_STATE_ACTIVE = 0,
	SQ_STATE_DEFERRED = 1,
	SQ_STATE_DEADLETTER = 2,
	SQ_STATE_SCHEDULED = 3,
};

/* The prepared statements, kept for the life of the handle. */
enum sq_stmt {
	SQ_BEGIN,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_GET_LSN,
	SQ_SET_LSN,
	SQ_PUT_ENTITY,
	SQ_GET_ENTITY,
	SQ_DELETE_ENTITY,
	SQ_DELETE_ENTITY_MESSAGES,
	SQ_LIST_ENTITIES,
	SQ_PUT_MESSAGE,
	SQ_GET_MESSAGE,
	SQ_DELETE_MESSAGE,
	SQ_LOAD_ENTITIES,
	SQ_LOAD_MESSAGES,
	SQ_COUNT_ENTITIES,
	SQ_COUNT_MESSAGES,
	SQ_PAGE_COUNT,
	SQ_PAGE_SIZE,
	SQ_PURGE_MESSAGES,
	SQ_PURGE_ENTITIES,
	SQ__COUNT
};

static const char *const sq_sql[SQ__COUNT] = {
	[SQ_BEGIN] = "BEGIN IMMEDIATE",
	[SQ_COMMIT] = "COMMIT",
	[SQ_ROLLBACK] = "ROLLBACK",
	[SQ_GET_LSN] = "SELECT value FROM meta WHERE key = 'last_applied_lsn'",
	[SQ_SET_LSN] = "UPDATE meta SET value = ?1 WHERE key = 'last_applied_lsn'",
	[SQ_PUT_ENTITY] = "INSERT OR REPLACE INTO entities(key, path, kind, data) VALUES(?1, ?2, ?3, ?4)",
	[SQ_GET_ENTITY] = "SELECT data FROM entities WHERE key = ?1",
	[SQ_DELETE_ENTITY] = "DELETE FROM entities WHERE key = ?1",
	[SQ_DELETE_ENTITY_MESSAGES] = "DELETE FROM messages WHERE entity = ?1",
	[SQ_LIST_ENTITIES] = "SELECT key, path FROM entities WHERE key >= ?1 ORDER BY key",
	[SQ_PUT_MESSAGE] = "INSERT INTO messages(entity, where_, seq, state, enqueued_ms, expires_ms, data)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(entity, where_, seq) DO UPDATE SET"
			   " state = excluded.state, enqueued_ms = excluded.enqueued_ms,"
			   " expires_ms = excluded.expires_ms, data = excluded.data",
	[SQ_GET_MESSAGE] = "SELECT data FROM messages WHERE entity = ?1 AND where_ = ?2 AND seq = ?3",
	[SQ_DELETE_MESSAGE] = "DELETE FROM messages WHERE entity = ?1 AND where_ = ?2 AND seq = ?3",
	[SQ_LOAD_ENTITIES] = "SELECT key, data FROM entities ORDER BY key",
	[SQ_LOAD_MESSAGES] = "SELECT entity, where_, seq, data FROM messages ORDER BY entity, where_, seq",
	[SQ_COUNT_ENTITIES] = "SELECT count(*) FROM entities",
	[SQ_COUNT_MESSAGES] = "SELECT state, count(*) FROM messages GROUP BY state",
	[SQ_PAGE_COUNT] = "PRAGMA page_count",
	[SQ_PAGE_SIZE] = "PRAGMA page_size",
	[SQ_PURGE_MESSAGES] = "DELETE FROM messages",
	[SQ_PURGE_ENTITIES] = "DELETE FROM entities",
};

struct store {
	sqlite3 *db;
	char *file;
	sqlite3_stmt *st[SQ__COUNT];
	bool in_tx;
	uint64_t lsn; /* last committed */
	/* Scratch buffers reused by every put / get / delete, so that a fold of many records does
	 * not allocate per record: the lower-cased key, and the encoded BLOB. Bound SQLITE_STATIC,
	 * valid until the statement is reset (sq_done). */
	struct strbuf key;
	struct strbuf blob;
};

/* LZ_ESYS with the connection's last error message. */
static lz_err sq_fail(const store *s, struct store_detail *detail)
{
	store_detail_set(detail, "sqlite: %s (%s)", sqlite3_errmsg(s->db), s->file);
	return LZ_ESYS;
}

/* Lower-cases `path` (ASCII folding) into s->key; OUT *key points into it until the next call. */
static lz_err sq_key(store *s, const char *path, const char **key)
{
	lz_err err;

	strbuf_reset(&s->key);
	err = strbuf_adds(&s->key, path);
	if (err != LZ_OK)
		return err;
	for (size_t i = 0; i < s->key.len; i++) {
		if (s->key.data[i] >= 'A' && s->key.data[i] <= 'Z')
			s->key.data[i] = (char)(s->key.data[i] - 'A' + 'a');
	}
	*key = s->key.data;
	return LZ_OK;
}

/* Makes a prepared statement reusable and drops its bindings (which may point at freed memory). */
static void sq_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Steps a statement that returns no rows, then resets it. */
static lz_err sq_run(store *s, enum sq_stmt id, struct store_detail *detail)
{
	int rc = sqlite3_step(s->st[id]);
	lz_err err = rc == SQLITE_DONE ? LZ_OK : sq_fail(s, detail);

	sq_done(s->st[id]);
	return err;
}

/* sq_run with `key` bound to parameter 1. */
static lz_err sq_run_key(store *s, enum sq_stmt id, const char *key, struct store_detail *detail)
{
	if (sqlite3_bind_text(s->st[id], 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
		lz_err err = sq_fail(s, detail);

		sq_done(s->st[id]);
		return err;
	}
	return sq_run(s, id, detail);
}

/* Steps a statement that returns one integer, then resets it. */
static lz_err sq_int(store *s, enum sq_stmt id, int64_t *out, struct store_detail *detail)
{
	int rc = sqlite3_step(s->st[id]);
	lz_err err = LZ_OK;

	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s->st[id], 0);
	else if (rc == SQLITE_DONE)
		*out = 0;
	else
		err = sq_fail(s, detail);
	sq_done(s->st[id]);
	return err;
}

/* Runs one-off SQL that returns at most one integer (*out, may be NULL; 0 without a row). */
static lz_err sq_exec_int(store *s, const char *sql, int64_t *out, struct store_detail *detail)
{
	sqlite3_stmt *st;
	lz_err err = LZ_OK;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(s, detail);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = sq_fail(s, detail);
	else if (out != NULL)
		*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return err;
}

static lz_err sq_exec(store *s, const char *sql, struct store_detail *detail)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(s, detail);
	return LZ_OK;
}

/* Rolls back whatever transaction is open; failures are logged (the caller is already failing
 * or rolling back). */
static void sq_abort(store *s)
{
	s->in_tx = false;
	if (sqlite3_get_autocommit(s->db))
		return; /* SQLite already rolled back */
	if (sqlite3_step(s->st[SQ_ROLLBACK]) != SQLITE_DONE)
		LZ_LOG(LOG_ERROR, "sqlite rollback failed", "file=\"%s\" error=\"%s\"", s->file, sqlite3_errmsg(s->db));
	sq_done(s->st[SQ_ROLLBACK]);
}

/* Brings the schema to SQ_SCHEMA_VERSION (one transaction), refusing newer or foreign files. */
static lz_err sq_migrate(store *s, struct store_detail *detail)
{
	int64_t has_version, ntables, version;
	lz_err err;

	err = sq_exec(s, "BEGIN IMMEDIATE", detail);
	if (err != LZ_OK)
		return err;
	err = sq_exec_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
			  &has_version, detail);
	if (err != LZ_OK)
		goto out_rollback;
	if (!has_version) {
		err = sq_exec_int(s, "SELECT count(*) FROM sqlite_master", &ntables, detail);
		if (err != LZ_OK)
			goto out_rollback;
		if (ntables > 0) {
			store_detail_set(detail, "sqlite: %s holds tables but no schema_version: not a LocalZure store",
				   s->file);
			err = LZ_EUNSUPPORTED;
			goto out_rollback;
		}
		err = sq_exec(s,
			      "CREATE TABLE schema_version(version INTEGER NOT NULL);"
			      "INSERT INTO schema_version(version) VALUES(0);",
			      detail);
		if (err != LZ_OK)
			goto out_rollback;
	}
	err = sq_exec_int(s, "SELECT version FROM schema_version", &version, detail);
	if (err != LZ_OK)
		goto out_rollback;
	if (version > SQ_SCHEMA_VERSION || version < 0) {
		store_detail_set(detail,
			   "sqlite: schema version %" PRId64 " of %s is not one this persistd knows (1..%" PRId64
			   "); run the localzure-persistd that wrote it, or a newer one",
			   version, s->file, SQ_SCHEMA_VERSION);
		err = LZ_EUNSUPPORTED;
		goto out_rollback;
	}
	for (int64_t v = version; v < SQ_SCHEMA_VERSION; v++) {
		err = sq_exec(s, sq_migrations[v], detail);
		if (err != LZ_OK)
			goto out_rollback;
		LZ_LOG(LOG_INFO, "sqlite store schema migrated", "file=\"%s\" version=%" PRId64, s->file, v + 1);
	}
	if (version < SQ_SCHEMA_VERSION) {
		char sql[64];

		snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %" PRId64, SQ_SCHEMA_VERSION);
		err = sq_exec(s, sql, detail);
		if (err != LZ_OK)
			goto out_rollback;
	}
	return sq_exec(s, "COMMIT", detail);

out_rollback:
	if (!sqlite3_get_autocommit(s->db) && sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		LZ_LOG(LOG_ERROR, "sqlite rollback failed", "file=\"%s\" error=\"%s\"", s->file, sqlite3_errmsg(s->db));
	return err;
}

/*
 * page_size=SQ_NEW_PAGE_SIZE for a new file (SQLite ignores it for an existing one), then
 * journal_mode=WAL (checked: SQLite answers with the mode it could set), synchronous=FULL, the
 * page cache and the automatic checkpoint.
 */
static lz_err sq_pragmas(store *s, struct store_detail *detail)
{
	sqlite3_stmt *st;
	const char *mode;
	char sql[64];
	int64_t page_size;
	lz_err err;

	err = sq_exec(s, "PRAGMA page_size = " SQ_STR(SQ_NEW_PAGE_SIZE), detail);
	if (err != LZ_OK)
		return err;
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK)
		return sq_fail(s, detail);
	if (sqlite3_step(st) != SQLITE_ROW) {
		err = sq_fail(s, detail);
		goto out_finalize;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		store_detail_set(detail, "sqlite: journal mode is '%s', not 'wal' (%s)", mode ? mode : "?", s->file);
		err = LZ_ESYS;
	}
out_finalize:
	sqlite3_finalize(st);
	if (err == LZ_OK)
		err = sq_exec(s, "PRAGMA synchronous = FULL", detail);
	/* A fold writes its whole transaction at once: a 64 MiB page cache keeps it from spilling
	 * to the file before COMMIT, and an automatic checkpoint only once the WAL file holds
	 * SQ_CHECKPOINT_BYTES moves the copy into the database file out of most commits
	 * (bench/fold_bench measured both costs). SQLite counts that threshold in pages of the
	 * file, whose size may be an older build's. */
	if (err == LZ_OK)
		err = sq_exec(s, "PRAGMA cache_size = -65536", detail);
	if (err == LZ_OK)
		err = sq_exec_int(s, "PRAGMA page_size", &page_size, detail);
	if (err == LZ_OK && page_size <= 0) {
		store_detail_set(detail, "sqlite: page size %" PRId64 " (%s)", page_size, s->file);
		err = LZ_ESYS;
	}
	if (err == LZ_OK) {
		snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint = %" PRId64, SQ_CHECKPOINT_BYTES / page_size);
		err = sq_exec(s, sql, detail);
	}
	return err;
}

static void sq_close(store *s)
{
	if (s == NULL)
		return;
	if (s->in_tx)
		sq_abort(s);
	for (int i = 0; i < SQ__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (sqlite3_close(s->db) != SQLITE_OK)
		LZ_LOG(LOG_ERROR, "sqlite close failed", "file=\"%s\" error=\"%s\"", s->file, sqlite3_errmsg(s->db));
	strbuf_release(&s->key);
	strbuf_release(&s->blob);
	free(s->file);
	free(s);
}

static lz_err sq_open(const struct store_config *cfg, store **out, struct store_detail *detail)
{
	store *s;
	int64_t lsn;
	lz_err err;

	*out = NULL;
	if (cfg->location == NULL || cfg->location[0] == '\0') {
		store_detail_set(detail, "sqlite: no database file given");
		return LZ_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return LZ_ENOMEM;
	s->file = strdup(cfg->location);
	if (s->file == NULL) {
		err = LZ_ENOMEM;
		goto out_close;
	}
	if (sqlite3_open_v2(s->file, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		if (s->db == NULL) {
			err = LZ_ENOMEM;
			goto out_close;
		}
		err = sq_fail(s, detail);
		goto out_close;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* Another persistd on the same file: fail after a while instead of at once. */
	sqlite3_busy_timeout(s->db, 5000);
	err = sq_pragmas(s, detail);
	if (err == LZ_OK)
		err = sq_migrate(s, detail);
	for (int i = 0; i < SQ__COUNT && err == LZ_OK; i++) {
		if (sqlite3_prepare_v3(s->db, sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK)
			err = sq_fail(s, detail);
	}
	if (err == LZ_OK)
		err = sq_int(s, SQ_GET_LSN, &lsn, detail);
	if (err != LZ_OK)
		goto out_close;
	s->lsn = (uint64_t)lsn;
	*out = s;
	return LZ_OK;

out_close:
	sq_close(s);
	return err;
}

static lz_err sq_begin(store *s, struct store_detail *detail)
{
	lz_err err = store_check_tx("sqlite", s->in_tx, false, "begin", detail);

	if (err == LZ_OK)
		err = sq_run(s, SQ_BEGIN, detail);
	if (err == LZ_OK)
		s->in_tx = true;
	return err;
}

static lz_err sq_commit(store *s, uint64_t lsn, struct store_detail *detail)
{
	lz_err err = store_check_tx("sqlite", s->in_tx, true, "commit", detail);

	if (err != LZ_OK)
		return err;
	if (sqlite3_bind_int64(s->st[SQ_SET_LSN], 1, (sqlite3_int64)lsn) != SQLITE_OK)
		err = sq_fail(s, detail);
	else
		err = sq_run(s, SQ_SET_LSN, detail);
	if (err == LZ_OK)
		err = sq_run(s, SQ_COMMIT, detail);
	if (err != LZ_OK) {
		sq_abort(s);
		return err;
	}
	s->in_tx = false;
	s->lsn = lsn;
	return LZ_OK;
}

static void sq_rollback(store *s)
{
	if (s->in_tx)
		sq_abort(s);
}

/* Decodes a BLOB column into OUT `r` (released on failure). `what_fmt` names the row; it is
 * formatted only on failure, which keeps printf out of the per-row path. */
static lz_err sq_decode(const store *s, sqlite3_stmt *st, int col, enum journal_type type, struct jrec *r,
			struct store_detail *detail, const char *what_fmt, ...) __attribute__((format(printf, 7, 8)));

static lz_err sq_decode(const store *s, sqlite3_stmt *st, int col, enum journal_type type, struct jrec *r,
			struct store_detail *detail, const char *what_fmt, ...)
{
	char why[256], what[320];
	va_list ap;
	lz_err err = journal_decode(type, sqlite3_column_blob(st, col), (size_t)sqlite3_column_bytes(st, col), r,
				    why, sizeof(why));

	if (err == LZ_OK)
		return LZ_OK;
	journal_rec_release(r);
	if (err == LZ_EPARSE || err == LZ_EUNSUPPORTED) {
		va_start(ap, what_fmt);
		vsnprintf(what, sizeof(what), what_fmt, ap);
		va_end(ap);
		store_detail_set(detail, "sqlite: %s does not decode: %s (%s)", what, why, s->file);
		err = LZ_EPARSE;
	}
	return err;
}

static lz_err sq_put_entity(store *s, const struct jrec_load_entity *e, struct store_detail *detail)
{
	struct jrec r = { .type = JREC_LOAD_ENTITY };
	sqlite3_stmt *st = s->st[SQ_PUT_ENTITY];
	const char *key;
	lz_err err;

	err = store_check_tx("sqlite", s->in_tx, true, "put", detail);
	if (err == LZ_OK)
		err = store_check_path("sqlite", e->path, detail);
	if (err != LZ_OK)
		return err;
	r.u.load_entity = *e;
	err = journal_encode(&r, &s->blob);
	if (err != LZ_OK) {
		store_detail_set(detail, "sqlite: entity '%s' does not encode: %s", e->path, err_str(err));
		return err;
	}
	err = sq_key(s, e->path, &key);
	if (err != LZ_OK)
		return err;
	if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, e->path, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, (int)e->desc.kind) != SQLITE_OK ||
	    sqlite3_bind_blob64(st, 4, s->blob.data, s->blob.len, SQLITE_STATIC) != SQLITE_OK) {
		err = sq_fail(s, detail);
		sq_done(st);
		return err;
	}
	return sq_run(s, SQ_PUT_ENTITY, detail);
}

static lz_err sq_get_entity(store *s, const char *path, struct jrec_load_entity *out, struct store_detail *detail)
{
	sqlite3_stmt *st = s->st[SQ_GET_ENTITY];
	struct jrec r;
	const char *key;
	lz_err err;
	int rc;

	memset(out, 0, sizeof(*out));
	err = store_check_path("sqlite", path, detail);
	if (err == LZ_OK)
		err = sq_key(s, path, &key);
	if (err != LZ_OK)
		return err;
	rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		err = sq_decode(s, st, 0, JREC_LOAD_ENTITY, &r, detail, "entity '%s'", key);
		if (err == LZ_OK)
			*out = r.u.load_entity;
	} else if (rc == SQLITE_DONE) {
		store_detail_set(detail, "sqlite: no entity '%s'", path);
		err = LZ_ENOTFOUND;
	} else {
		err = sq_fail(s, detail);
	}
	sq_done(st);
	return err;
}

static lz_err sq_delete_entity(store *s, const char *path, struct store_detail *detail)
{
	const char *key;
	lz_err err;

	err = store_check_tx("sqlite", s->in_tx, true, "delete", detail);
	if (err == LZ_OK)
		err = store_check_path("sqlite", path, detail);
	if (err == LZ_OK)
		err = sq_key(s, path, &key);
	if (err != LZ_OK)
		return err;
	err = sq_run_key(s, SQ_DELETE_ENTITY_MESSAGES, key, detail);
	if (err == LZ_OK)
		err = sq_run_key(s, SQ_DELETE_ENTITY, key, detail);
	if (err == LZ_OK && sqlite3_changes(s->db) == 0) {
		store_detail_set(detail, "sqlite: no entity '%s'", path);
		err = LZ_ENOTFOUND;
	}
	return err;
}

static lz_err sq_list_entities(store *s, const char *prefix, lz_err (*fn)(void *arg, const char *path), void *arg,
			       struct store_detail *detail)
{
	sqlite3_stmt *st = s->st[SQ_LIST_ENTITIES];
	char *key = store_key_new(prefix != NULL ? prefix : "");
	size_t n;
	lz_err err = LZ_OK;
	int rc;

	if (key == NULL)
		return LZ_ENOMEM;
	n = strlen(key);
	rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *path = (const char *)sqlite3_column_text(st, 1);

		if (k == NULL || path == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (strncmp(k, key, n) != 0)
			break; /* past the keys that start with the prefix */
		err = fn(arg, path);
		if (err != LZ_OK)
			break;
	}
	if (rc == SQLITE_NOMEM)
		err = LZ_ENOMEM;
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = sq_fail(s, detail);
	sq_done(st);
	free(key);
	return err;
}

static enum sq_state sq_state_of(const struct jrec_load_message *m)
{
	if (m->place.where == JWHERE_DLQ)
		return SQ_STATE_DEADLETTER;
	if (m->place.where == JWHERE_SCHEDULED)
		return SQ_STATE_SCHEDULED;
	return m->deferred ? SQ_STATE_DEFERRED : SQ_STATE_ACTIVE;
}

/* Binds (entity key, where, seq) to parameters 1-3; the first failing SQLite code, or SQLITE_OK. */
static int sq_bind_message_key(sqlite3_stmt *st, const char *key, enum journal_where where, uint64_t seq)
{
	int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, (int)where);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
	return rc;
}

static lz_err sq_put_message(store *s, const struct jrec_load_message *m, struct store_detail *detail)
{
	struct jrec r = { .type = JREC_LOAD_MESSAGE };
	sqlite3_stmt *st = s->st[SQ_PUT_MESSAGE];
	const char *key;
	lz_err err;

	err = store_check_tx("sqlite", s->in_tx, true, "put", detail);
	if (err == LZ_OK)
		err = store_check_path("sqlite", m->place.path, detail);
	if (err != LZ_OK)
		return err;
	r.u.load_message = *m;
	err = journal_encode(&r, &s->blob);
	if (err != LZ_OK) {
		store_detail_set(detail, "sqlite: message %" PRIu64 " of '%s' does not encode: %s", m->place.seq,
			   m->place.path, err_str(err));
		return err;
	}
	err = sq_key(s, m->place.path, &key);
	if (err != LZ_OK)
		return err;
	if (sq_bind_message_key(st, key, m->place.where, m->place.seq) != SQLITE_OK ||
	    sqlite3_bind_int(st, 4, (int)sq_state_of(m)) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, m->place.enqueued_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 6, m->place.expires_ms) != SQLITE_OK ||
	    sqlite3_bind_blob64(st, 7, s->blob.data, s->blob.len, SQLITE_STATIC) != SQLITE_OK) {
		err = sq_fail(s, detail);
		sq_done(st);
		return err;
	}
	return sq_run(s, SQ_PUT_MESSAGE, detail);
}

static lz_err sq_get_message(store *s, const char *path, enum journal_where where, uint64_t seq,
			     struct jrec_load_message *out, struct store_detail *detail)
{
	sqlite3_stmt *st = s->st[SQ_GET_MESSAGE];
	struct jrec r;
	const char *key;
	lz_err err;
	int rc;

	memset(out, 0, sizeof(*out));
	err = store_check_path("sqlite", path, detail);
	if (err == LZ_OK)
		err = sq_key(s, path, &key);
	if (err != LZ_OK)
		return err;
	rc = sq_bind_message_key(st, key, where, seq);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		err = sq_decode(s, st, 0, JREC_LOAD_MESSAGE, &r, detail, "message '%s' where %d seq %" PRIu64, key,
				(int)where, seq);
		if (err == LZ_OK)
			*out = r.u.load_message;
	} else if (rc == SQLITE_DONE) {
		store_detail_set(detail, "sqlite: no message %" PRIu64 " (where %d) in '%s'", seq, (int)where, path);
		err = LZ_ENOTFOUND;
	} else {
		err = sq_fail(s, detail);
	}
	sq_done(st);
	return err;
}

static lz_err sq_delete_message(store *s, const char *path, enum journal_where where, uint64_t seq,
				struct store_detail *detail)
{
	const char *key;
	lz_err err;

	err = store_check_tx("sqlite", s->in_tx, true, "delete", detail);
	if (err == LZ_OK)
		err = store_check_path("sqlite", path, detail);
	if (err == LZ_OK)
		err = sq_key(s, path, &key);
	if (err != LZ_OK)
		return err;
	if (sq_bind_message_key(s->st[SQ_DELETE_MESSAGE], key, where, seq) != SQLITE_OK) {
		err = sq_fail(s, detail);
		sq_done(s->st[SQ_DELETE_MESSAGE]);
	} else {
		err = sq_run(s, SQ_DELETE_MESSAGE, detail);
	}
	if (err == LZ_OK && sqlite3_changes(s->db) == 0) {
		store_detail_set(detail, "sqlite: no message %" PRIu64 " (where %d) in '%s'", seq, (int)where, path);
		err = LZ_ENOTFOUND;
	}
	return err;
}

static lz_err sq_last_applied_lsn(store *s, uint64_t *lsn, struct store_detail *detail)
{
	(void)detail;
	*lsn = s->lsn;
	return LZ_OK;
}

/* Streams the rows of one load statement, row by row, to the visitor. */
static lz_err sq_load_rows(store *s, enum sq_stmt id, const struct store_visitor *v, struct store_detail *detail)
{
	sqlite3_stmt *st = s->st[id];
	bool entities = id == SQ_LOAD_ENTITIES;
	int data_col = entities ? 1 : 3;
	lz_err err = LZ_OK;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		struct jrec r;

		if (entities)
			err = sq_decode(s, st, data_col, JREC_LOAD_ENTITY, &r, detail, "entity '%s'", key ? key : "?");
		else
			err = sq_decode(s, st, data_col, JREC_LOAD_MESSAGE, &r, detail,
					"message '%s' where %d seq %" PRId64, key ? key : "?", sqlite3_column_int(st, 1),
					(int64_t)sqlite3_column_int64(st, 2));
		if (err != LZ_OK)
			break;
		err = entities ? v->entity(v->arg, &r.u.load_entity) : v->message(v->arg, &r.u.load_message);
		journal_rec_release(&r);
		if (err != LZ_OK)
			break;
	}
	if (err == LZ_OK && rc != SQLITE_DONE)
		err = sq_fail(s, detail);
	sq_done(st);
	return err;
}

static lz_err sq_load(store *s, const struct store_visitor *v, struct store_detail *detail)
{
	lz_err err = sq_load_rows(s, SQ_LOAD_ENTITIES, v, detail);

	if (err == LZ_OK)
		err = sq_load_rows(s, SQ_LOAD_MESSAGES, v, detail);
	return err;
}

static lz_err sq_stats(store *s, struct store_stats *out, struct store_detail *detail)
{
	sqlite3_stmt *st = s->st[SQ_COUNT_MESSAGES];
	int64_t n, page_count, page_size;
	lz_err err;
	int rc;

	memset(out, 0, sizeof(*out));
	err = sq_int(s, SQ_COUNT_ENTITIES, &n, detail);
	if (err != LZ_OK)
		return err;
	out->entities = (uint64_t)n;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t count = (uint64_t)sqlite3_column_int64(st, 1);

		out->messages += count;
		switch (sqlite3_column_int(st, 0)) {
		case SQ_STATE_ACTIVE:
			out->messages_active += count;
			break;
		case SQ_STATE_DEFERRED:
			out->messages_deferred += count;
			break;
		case SQ_STATE_DEADLETTER:
			out->messages_deadletter += count;
			break;
		case SQ_STATE_SCHEDULED:
			out->messages_scheduled += count;
			break;
		default:
			break;
		}
	}
	if (rc != SQLITE_DONE)
		err = sq_fail(s, detail);
	sq_done(st);
	if (err == LZ_OK)
		err = sq_int(s, SQ_PAGE_COUNT, &page_count, detail);
	if (err == LZ_OK)
		err = sq_int(s, SQ_PAGE_SIZE, &page_size, detail);
	if (err != LZ_OK)
		return err;
	out->size_bytes = (uint64_t)page_count * (uint64_t)page_size;
	out->last_applied_lsn = s->lsn;
	return LZ_OK;
}

static lz_err sq_compact(store *s, struct store_detail *detail)
{
	lz_err err = store_check_tx("sqlite", s->in_tx, false, "compact", detail);

	if (err == LZ_OK)
		err = sq_exec(s, "VACUUM", detail);
	/* Give the space of the WAL file back too. */
	if (err == LZ_OK)
		err = sq_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)", detail);
	return err;
}

static lz_err sq_purge(store *s, struct store_detail *detail)
{
	lz_err err = store_check_tx("sqlite", s->in_tx, false, "purge", detail);

	if (err == LZ_OK)
		err = sq_begin(s, detail);
	if (err != LZ_OK)
		return err;
	err = sq_run(s, SQ_PURGE_MESSAGES, detail);
	if (err == LZ_OK)
		err = sq_run(s, SQ_PURGE_ENTITIES, detail);
	if (err != LZ_OK) {
		sq_abort(s);
		return err;
	}
	return sq_commit(s, 0, detail);
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.put_entity = sq_put_entity,
	.get_entity = sq_get_entity,
	.delete_entity = sq_delete_entity,
	.list_entities = sq_list_entities,
	.put_message = sq_put_message,
	.get_message = sq_get_message,
	.delete_message = sq_delete_message,
	.last_applied_lsn = sq_last_applied_lsn,
	.load = sq_load,
	.stats = sq_stats,
	.compact = sq_compact,
	.purge = sq_purge,
};
