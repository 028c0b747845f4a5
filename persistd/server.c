/*
 * server — persistd's engine (see server.h): backend + WAL + fold + the broker conversation.
 */
#include "persistd/server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "common/clock.h"
#include "common/fsio.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "persistd/fold.h"
#include "persistd/store.h"
#include "persistd/wal.h"
#include "proto/ipc.h"
#include "proto/journal.h"

#define SERVER_PATH_MAX 4096
#define WAL_SEGMENTS_PER_LIMIT 4   /* segment size = wal_max_bytes / 4, so a fold frees most of it */

struct server {
	const struct settings *cfg;
	const struct store_ops *ops;
	store *store;
	wal *wal;                   /* NULL: no WAL (disabled, or in-memory storage) */
	uint64_t applied_lsn;       /* the backend's last_applied_lsn */
	uint64_t durable_lsn;       /* highest LSN durable here: the WAL's last, else applied_lsn */
	uint8_t store_id[IPC_STORE_ID_LEN];
	int lock_fd;
	nng_socket sock;
	bool listening;             /* sock is open */
	uint32_t peer;              /* pipe id of the broker that said HELLO; 0: none */
	int64_t next_fold_us;       /* monotonic */
	volatile sig_atomic_t stop;
	struct strbuf out;          /* the message being encoded */
	char wal_dir[SERVER_PATH_MAX];
};

static lz_err fail(char *detail, size_t cap, lz_err err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Formats `detail` and returns `err`, so that error paths read `err = fail(...); goto out_x;`. */
static lz_err fail(char *detail, size_t cap, lz_err err, const char *fmt, ...)
{
	va_list ap;

	if (detail == NULL || cap == 0)
		return err;
	va_start(ap, fmt);
	vsnprintf(detail, cap, fmt, ap);
	va_end(ap);
	return err;
}

/* "<dir>/<name>" into `out`; LZ_ETOOBIG when it does not fit. */
static lz_err path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= cap ? LZ_ETOOBIG : LZ_OK;
}

static const char *storage_name(enum settings_storage t)
{
	switch (t) {
	case SETTINGS_STORAGE_SQLITE:
		return "sqlite";
	case SETTINGS_STORAGE_JSON:
		return "json";
	case SETTINGS_STORAGE_MEMORY:
		return "memory";
	}
	return "?";
}

static bool storage_is_persistent(const struct server *s)
{
	return s->cfg->storage_type != SETTINGS_STORAGE_MEMORY;
}

/* ---- data directory, lock, store id ------------------------------------------------------- */

/* Creates data_dir when missing and makes its name durable in the parent directory. */
static lz_err data_dir_make(const char *dir, char *detail, size_t cap)
{
	if (mkdir(dir, 0700) == 0) {
		if (fsio_fsync_parent(&fsio_real, dir) != LZ_OK)
			return fail(detail, cap, LZ_ESYS, "data_dir %s: cannot fsync its parent directory: %s", dir,
				    strerror(errno));
		return LZ_OK;
	}
	if (errno == EEXIST)
		return LZ_OK;
	return fail(detail, cap, LZ_ESYS, "data_dir %s: cannot create it: %s", dir, strerror(errno));
}

/* Takes <data_dir>/persistd.lock; OUT *fd holds the lock until it is closed. */
static lz_err lock_take(const char *dir, int *fd, char *detail, size_t cap)
{
	char path[SERVER_PATH_MAX];
	lz_err err;

	if (path_join(path, sizeof(path), dir, "persistd.lock") != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return fail(detail, cap, LZ_ESYS, "cannot open %s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return LZ_OK;
	if (errno == EWOULDBLOCK)
		err = fail(detail, cap, LZ_EBUSY, "%s is locked: another persistd uses data_dir %s; stop it first", path,
			   dir);
	else
		err = fail(detail, cap, LZ_ESYS, "cannot lock %s: %s", path, strerror(errno));
	/* Nothing was written through it: a failed close loses nothing. */
	(void)close(*fd);
	*fd = -1;
	return err;
}

static lz_err random_fill(uint8_t *buf, size_t n, char *detail, size_t cap)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(detail, cap, LZ_ESYS, "getrandom: %s", strerror(errno));
		got += (size_t)r;
	}
	return LZ_OK;
}

/* Writes a new store id to `path` durably: temp file, fsync, rename, directory fsync. */
static lz_err store_id_create(const char *dir, const char *path, const uint8_t *id, char *detail, size_t cap)
{
	char tmp[SERVER_PATH_MAX];
	lz_err err;
	int fd;

	if (path_join(tmp, sizeof(tmp), dir, "store_id.tmp") != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", dir);
	fd = fsio_real.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(detail, cap, LZ_ESYS, "cannot create %s: %s", tmp, strerror(errno));
	err = fsio_write_all(&fsio_real, fd, id, IPC_STORE_ID_LEN);
	if (err == LZ_OK && fsio_real.fsync(fd) != 0)
		err = LZ_ESYS;
	if (err != LZ_OK) {
		err = fail(detail, cap, LZ_ESYS, "cannot write %s: %s", tmp, strerror(errno));
		/* The temp file is abandoned (and truncated by the next attempt): its close does not matter. */
		(void)fsio_real.close(fd);
		return err;
	}
	if (fsio_real.close(fd) != 0)
		return fail(detail, cap, LZ_ESYS, "cannot close %s: %s", tmp, strerror(errno));
	if (fsio_real.rename(tmp, path) != 0)
		return fail(detail, cap, LZ_ESYS, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	if (fsio_fsync_dir(&fsio_real, dir) != LZ_OK)
		return fail(detail, cap, LZ_ESYS, "cannot fsync directory %s: %s", dir, strerror(errno));
	return LZ_OK;
}

/* Reads <data_dir>/store_id, creating it on first use. */
static lz_err store_id_load(const char *dir, uint8_t *id, char *detail, size_t cap)
{
	char path[SERVER_PATH_MAX];
	struct stat st;
	lz_err err;
	int fd;

	if (path_join(path, sizeof(path), dir, "store_id") != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", dir);
	fd = fsio_real.open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0 && errno == ENOENT) {
		err = random_fill(id, IPC_STORE_ID_LEN, detail, cap);
		if (err != LZ_OK)
			return err;
		return store_id_create(dir, path, id, detail, cap);
	}
	if (fd < 0)
		return fail(detail, cap, LZ_ESYS, "cannot open %s: %s", path, strerror(errno));
	if (fsio_real.fstat(fd, &st) != 0)
		err = fail(detail, cap, LZ_ESYS, "cannot stat %s: %s", path, strerror(errno));
	else if (st.st_size != IPC_STORE_ID_LEN)
		err = fail(detail, cap, LZ_EPARSE, "%s holds %lld bytes, not %u; restore it from a backup", path,
			   (long long)st.st_size, IPC_STORE_ID_LEN);
	else if (fsio_pread_all(&fsio_real, fd, id, IPC_STORE_ID_LEN, 0) != LZ_OK)
		err = fail(detail, cap, LZ_ESYS, "cannot read %s: %s", path, strerror(errno));
	else
		err = LZ_OK;
	if (fsio_real.close(fd) != 0 && err == LZ_OK)
		err = fail(detail, cap, LZ_ESYS, "cannot close %s: %s", path, strerror(errno));
	return err;
}

/* ---- fold --------------------------------------------------------------------------------- */

struct fold_walk {
	fold *f;
	struct store_detail sd;
	bool fold_failed; /* the error came from fold_record (sd), not from the WAL */
};

static lz_err fold_walk_one(void *arg, const struct journal_rec *r)
{
	struct fold_walk *fw = arg;
	lz_err err = fold_record(fw->f, r, &fw->sd);

	if (err != LZ_OK)
		fw->fold_failed = true;
	return err;
}

/*
 * Folds the WAL records past applied_lsn into the backend in one transaction, then deletes the
 * segments the backend now holds. Every error is fatal for the caller: the WAL is intact.
 */
static lz_err server_fold(struct server *s, const char *why, char *detail, size_t cap)
{
	struct fold_walk fw = { .fold_failed = false };
	char wdetail[512] = "";
	uint64_t from = s->applied_lsn;
	uint64_t to;
	int64_t t0 = clock_monotonic_us();
	lz_err err;

	err = fold_begin(s->ops, s->store, &fw.f, &fw.sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "fold: cannot begin a %s transaction: %s", s->ops->name, fw.sd.text);
	err = wal_read_from(s->wal, s->applied_lsn, fold_walk_one, &fw, wdetail, sizeof(wdetail));
	if (err != LZ_OK) {
		fold_abort(fw.f);
		return fail(detail, cap, err, "fold after lsn %" PRIu64 ": %s", from,
			    fw.fold_failed ? fw.sd.text : wdetail);
	}
	to = fold_last_lsn(fw.f);
	err = fold_commit(fw.f, &fw.sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "fold: %s commit through lsn %" PRIu64 " failed: %s", s->ops->name, to,
			    fw.sd.text);
	s->applied_lsn = to;
	err = wal_drop_through(s->wal, s->applied_lsn, wdetail, sizeof(wdetail));
	if (err != LZ_OK)
		return fail(detail, cap, err, "fold: cannot delete folded wal segments in %s: %s", s->wal_dir, wdetail);
	LZ_LOG(LOG_INFO, "folded the wal into the backend",
	       "why=%s from_lsn=%" PRIu64 " to_lsn=%" PRIu64 " backend=%s wal_bytes=%" PRIu64 " ms=%.1f", why, from,
	       s->applied_lsn, s->ops->name, wal_size_bytes(s->wal), (double)(clock_monotonic_us() - t0) / 1000.0);
	return LZ_OK;
}

static bool fold_pending(const struct server *s)
{
	return s->wal != NULL && wal_last_lsn(s->wal) > s->applied_lsn;
}

/* Runs a fold when the timer expired or the WAL passed wal_max_bytes. */
static lz_err fold_if_due(struct server *s, char *detail, size_t cap)
{
	int64_t now = clock_monotonic_us();
	const char *why = NULL;
	lz_err err = LZ_OK;

	if (now >= s->next_fold_us)
		why = "timer";
	else if (s->wal != NULL && wal_size_bytes(s->wal) > s->cfg->wal_max_bytes)
		why = "size";
	if (why == NULL)
		return LZ_OK;
	if (fold_pending(s))
		err = server_fold(s, why, detail, cap);
	s->next_fold_us = now + (int64_t)s->cfg->snapshot_interval * 1000000;
	return err;
}

/* ---- open --------------------------------------------------------------------------------- */

static lz_err backend_open(struct server *s, char *detail, size_t cap)
{
	const struct settings *cfg = s->cfg;
	struct store_config sc = { cfg->data_dir, cfg->pretty_json };
	struct store_detail sd = { "" };
	lz_err err;

	s->ops = store_ops_find(storage_name(cfg->storage_type));
	if (s->ops == NULL)
		return fail(detail, cap, LZ_EINVAL,
			    "LOCALZURE_STORAGE_TYPE (storage_type): backend %s is not built into this persistd; "
			    "use sqlite, json or in-memory",
			    storage_name(cfg->storage_type));
	if (cfg->storage_type == SETTINGS_STORAGE_SQLITE)
		sc.location = cfg->sqlite_path;
	else if (cfg->storage_type == SETTINGS_STORAGE_JSON)
		sc.location = cfg->json_path;
	err = s->ops->open(&sc, &s->store, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "cannot open the %s backend at %s: %s", s->ops->name, sc.location, sd.text);
	err = s->ops->last_applied_lsn(s->store, &s->applied_lsn, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "cannot read last_applied_lsn from the %s backend at %s: %s", s->ops->name,
			    sc.location, sd.text);
	return LZ_OK;
}

/*
 * Opens and verifies the WAL and folds its tail into the backend. With wal_enabled false the
 * WAL is opened only when its directory exists (left over from an earlier configuration), to
 * fold what it holds, and is closed again.
 */
/*
 * Fault injection for the durability tests: with LZ_TEST_FAIL_FDATASYNC=N in the environment
 * (deliberately not a LOCALZURE_* setting) the N-th fdatasync of the WAL fails with EIO, as a
 * dying disk would. persistd must then stop acknowledging and exit non-zero.
 */
static struct fsio_ops fault_io;
static unsigned long fault_fdatasync_at, fault_fdatasync_calls;

static int fault_fdatasync(int fd)
{
	if (++fault_fdatasync_calls == fault_fdatasync_at) {
		errno = EIO;
		return -1;
	}
	return fsio_real.fdatasync(fd);
}

static const struct fsio_ops *wal_io(void)
{
	const char *at = getenv("LZ_TEST_FAIL_FDATASYNC");

	if (at == NULL || *at == '\0')
		return NULL;
	fault_fdatasync_at = strtoul(at, NULL, 10);
	fault_io = fsio_real;
	fault_io.fdatasync = fault_fdatasync;
	LZ_LOG(LOG_WARN, "fault injection: a WAL fdatasync will fail", "call=%lu", fault_fdatasync_at);
	return &fault_io;
}

static lz_err wal_recover(struct server *s, bool repair, char *detail, size_t cap)
{
	struct wal_opts wo = { .dir = s->wal_dir, .repair = repair, .io = wal_io() };
	struct wal_recovery rec;
	struct stat st;
	lz_err err;

	if (path_join(s->wal_dir, sizeof(s->wal_dir), s->cfg->data_dir, "wal") != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", s->cfg->data_dir);
	if (!s->cfg->wal_enabled) {
		if (stat(s->wal_dir, &st) != 0 && errno == ENOENT)
			return LZ_OK;
	}
	wo.segment_max_bytes = s->cfg->wal_max_bytes / WAL_SEGMENTS_PER_LIMIT;
	if (wo.segment_max_bytes > WAL_SEGMENT_MAX_DEFAULT)
		wo.segment_max_bytes = WAL_SEGMENT_MAX_DEFAULT;
	err = wal_open(&wo, &s->wal, &rec, detail, cap);
	if ((err == LZ_ECRC || err == LZ_EPARSE) && detail != NULL && cap > 0) {
		size_t len = strnlen(detail, cap);

		snprintf(detail + len, cap - len, "; to start anyway with the intact records, run once with --repair "
			 "(it keeps a copy of the damaged files)");
	}
	if (err != LZ_OK)
		return err;
	LZ_LOG(LOG_INFO, "wal verified",
	       "dir=%s segments=%zu records=%" PRIu64 " first_lsn=%" PRIu64 " last_lsn=%" PRIu64
	       " backend_lsn=%" PRIu64 " torn=%d repaired=%d",
	       s->wal_dir, rec.segments, rec.records, rec.first_lsn, rec.last_lsn, s->applied_lsn, (int)rec.torn,
	       (int)rec.repaired);
	if (rec.last_lsn != 0 && rec.last_lsn < s->applied_lsn)
		return fail(detail, cap, LZ_ESTATE,
			    "wal %s ends at lsn %" PRIu64 " but the %s backend holds lsn %" PRIu64
			    ": the wal is older than the backend (its records are all in the backend); move the "
			    "directory aside and start again",
			    s->wal_dir, rec.last_lsn, s->ops->name, s->applied_lsn);
	if (fold_pending(s)) {
		err = server_fold(s, "start", detail, cap);
		if (err != LZ_OK)
			return err;
	}
	if (!s->cfg->wal_enabled) {
		LZ_LOG(LOG_WARN, "wal_enabled is false: the wal was folded into the backend and is no longer written",
		       "dir=%s lsn=%" PRIu64, s->wal_dir, s->applied_lsn);
		wal_close(s->wal);
		s->wal = NULL;
	}
	return LZ_OK;
}

/* Removes a socket file left at an ipc:// URL inside data_dir by a persistd that died. The data
 * directory lock is held, so no live persistd owns it. */
static lz_err ipc_stale_remove(const struct settings *cfg, char *detail, size_t cap)
{
	static const char scheme[] = "ipc://";
	size_t dlen = strlen(cfg->data_dir);
	const char *path;
	struct stat st;

	if (strncmp(cfg->persistd_url, scheme, sizeof(scheme) - 1) != 0)
		return LZ_OK;
	path = cfg->persistd_url + sizeof(scheme) - 1;
	while (dlen > 1 && cfg->data_dir[dlen - 1] == '/')
		dlen--;
	if (strncmp(path, cfg->data_dir, dlen) != 0 || path[dlen] != '/')
		return LZ_OK;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return LZ_OK;
		return fail(detail, cap, LZ_ESYS, "cannot stat %s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return LZ_OK;
	if (unlink(path) != 0)
		return fail(detail, cap, LZ_ESYS, "cannot remove the stale socket %s: %s", path, strerror(errno));
	LZ_LOG(LOG_INFO, "removed a stale ipc socket", "path=%s", path);
	return LZ_OK;
}

static lz_err socket_listen(struct server *s, char *detail, size_t cap)
{
	const char *url = s->cfg->persistd_url;
	const char *what;
	lz_err err;
	int rv;

	err = ipc_stale_remove(s->cfg, detail, cap);
	if (err != LZ_OK)
		return err;
	rv = nng_pair1_open(&s->sock);
	if (rv != 0)
		return fail(detail, cap, LZ_ESYS, "cannot open an nng pair1 socket: %s", nng_strerror(rv));
	s->listening = true;
	what = "NNG_OPT_RECVMAXSZ";
	rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, IPC_MAX_MESSAGE);
	if (rv == 0) {
		what = "NNG_OPT_RECVBUF";
		rv = nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, SERVER_NNG_BUFFERS);
	}
	if (rv == 0) {
		what = "NNG_OPT_SENDBUF";
		rv = nng_socket_set_int(s->sock, NNG_OPT_SENDBUF, SERVER_NNG_BUFFERS);
	}
	if (rv == 0) {
		what = "NNG_OPT_RECVTIMEO";
		rv = nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, SERVER_POLL_MS);
	}
	if (rv == 0) {
		what = "NNG_OPT_SENDTIMEO";
		rv = nng_socket_set_ms(s->sock, NNG_OPT_SENDTIMEO, SERVER_SEND_TIMEOUT_MS);
	}
	if (rv != 0)
		return fail(detail, cap, LZ_ESYS, "cannot set %s: %s", what, nng_strerror(rv));
	rv = nng_listen(s->sock, url, NULL, 0);
	if (rv != 0)
		return fail(detail, cap, LZ_ESYS, "LOCALZURE_PERSISTD_URL (persistd_url): cannot listen on %s: %s", url,
			    nng_strerror(rv));
	return LZ_OK;
}

lz_err server_open(const struct settings *cfg, const struct server_opts *opts, struct server **out,
		   char *detail, size_t detail_cap)
{
	struct server *s;
	lz_err err;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return fail(detail, detail_cap, LZ_ENOMEM, "out of memory");
	s->cfg = cfg;
	s->lock_fd = -1;
	strbuf_init(&s->out);
	err = data_dir_make(cfg->data_dir, detail, detail_cap);
	if (err == LZ_OK)
		err = lock_take(cfg->data_dir, &s->lock_fd, detail, detail_cap);
	if (err == LZ_OK)
		err = backend_open(s, detail, detail_cap);
	if (err != LZ_OK)
		goto out_close;
	if (storage_is_persistent(s)) {
		err = store_id_load(cfg->data_dir, s->store_id, detail, detail_cap);
		if (err == LZ_OK)
			err = wal_recover(s, opts->repair, detail, detail_cap);
	} else {
		err = random_fill(s->store_id, sizeof(s->store_id), detail, detail_cap);
		if (cfg->wal_enabled)
			LZ_LOG(LOG_INFO, "in-memory storage keeps no wal: acks mean applied in memory", "%s", "");
	}
	if (err != LZ_OK)
		goto out_close;
	s->durable_lsn = s->applied_lsn; /* wal_recover folded the whole WAL */
	err = socket_listen(s, detail, detail_cap);
	if (err != LZ_OK)
		goto out_close;
	s->next_fold_us = clock_monotonic_us() + (int64_t)cfg->snapshot_interval * 1000000;
	*out = s;
	return LZ_OK;

out_close:
	server_close(s);
	return err;
}

const char *server_url(const struct server *s)
{
	return s->cfg->persistd_url;
}

/* ---- replies ------------------------------------------------------------------------------ */

/* Sends s->out; a reply the broker does not take within SERVER_SEND_TIMEOUT_MS is dropped and
 * the conversation forgotten (the broker HELLOs again and resends what was not acked). */
static bool reply_send(struct server *s, const char *what)
{
	int rv = nng_send(s->sock, s->out.data, s->out.len, 0);

	if (rv == 0)
		return true;
	LZ_LOG(LOG_WARN, "cannot send a reply to the broker; it must say HELLO again", "reply=%s error=\"%s\"", what,
	       nng_strerror(rv));
	s->peer = 0;
	return false;
}

/* ERROR {code, text} to the broker, logged at warn level. */
static void reply_error(struct server *s, lz_err code, const char *text)
{
	LZ_LOG(LOG_WARN, "refused a broker message", "code=%s text=\"%s\"", err_name(code), text);
	strbuf_reset(&s->out);
	if (ipc_encode_error(&s->out, code, text) == LZ_OK)
		reply_send(s, "ERROR");
}

static void reply_ack(struct server *s)
{
	strbuf_reset(&s->out);
	/* An ACK is 10 bytes: encoding fails only without memory, and then the broker resends. */
	if (ipc_encode_ack(&s->out, s->durable_lsn) == LZ_OK)
		reply_send(s, "ACK");
}

/* ---- state transfer ----------------------------------------------------------------------- */

/* A STATE message being filled: payloads are copied into one buffer and the records point into
 * it only when the message is encoded (the buffer moves as it grows). */
struct state_batch {
	struct server *s;
	struct strbuf payloads;
	struct strbuf enc;           /* one journal_encode result */
	struct journal_rec *recs;    /* payload NULL until encoding; offs[i] is where it starts */
	size_t *offs;
	size_t n, cap;
	uint64_t sent;               /* records sent so far */
	bool dropped;                /* a send failed: the transfer was abandoned */
};

static lz_err state_flush(struct state_batch *b)
{
	lz_err err;

	if (b->n == 0)
		return LZ_OK;
	for (size_t i = 0; i < b->n; i++)
		b->recs[i].payload = (const uint8_t *)b->payloads.data + b->offs[i];
	strbuf_reset(&b->s->out);
	err = ipc_encode_records(&b->s->out, IPC_STATE, b->recs, b->n);
	if (err != LZ_OK)
		return err;
	if (!reply_send(b->s, "STATE")) {
		b->dropped = true;
		return LZ_ESTATE;
	}
	b->sent += b->n;
	b->n = 0;
	strbuf_reset(&b->payloads);
	return LZ_OK;
}

static lz_err state_add(struct state_batch *b, uint64_t lsn, int64_t ts_ms, enum journal_type type,
			const void *payload, size_t len)
{
	lz_err err;

	if (b->n == b->cap) {
		size_t cap = b->cap == 0 ? 256 : b->cap * 2;
		struct journal_rec *recs = realloc(b->recs, cap * sizeof(*recs));
		size_t *offs;

		if (recs == NULL)
			return LZ_ENOMEM;
		b->recs = recs;
		offs = realloc(b->offs, cap * sizeof(*offs));
		if (offs == NULL)
			return LZ_ENOMEM;
		b->offs = offs;
		b->cap = cap;
	}
	b->offs[b->n] = b->payloads.len;
	err = strbuf_add(&b->payloads, payload, len);
	if (err != LZ_OK)
		return err;
	b->recs[b->n] = (struct journal_rec){ lsn, type, ts_ms, NULL, len };
	b->n++;
	if (b->n >= SERVER_STATE_RECORDS || b->payloads.len >= SERVER_STATE_BYTES)
		return state_flush(b);
	return LZ_OK;
}

static lz_err state_add_load(struct state_batch *b, const struct jrec *r)
{
	lz_err err = journal_encode(r, &b->enc);

	if (err != LZ_OK)
		return err;
	return state_add(b, 0, 0, r->type, b->enc.data, b->enc.len);
}

static lz_err state_visit_entity(void *arg, const struct jrec_load_entity *e)
{
	struct jrec r = { .type = JREC_LOAD_ENTITY };

	r.u.load_entity = *e;
	return state_add_load(arg, &r);
}

static lz_err state_visit_message(void *arg, const struct jrec_load_message *m)
{
	struct jrec r = { .type = JREC_LOAD_MESSAGE };

	r.u.load_message = *m;
	return state_add_load(arg, &r);
}

static lz_err state_visit_wal(void *arg, const struct journal_rec *r)
{
	return state_add(arg, r->lsn, r->ts_ms, r->type, r->payload, r->len);
}

/*
 * Streams the backend and the WAL tail as STATE messages. LZ_OK also when a send failed (the
 * transfer is then abandoned, b.dropped); any other error is the backend's or the WAL's, fatal.
 */
static lz_err state_stream(struct server *s, uint64_t *sent, char *detail, size_t cap)
{
	struct state_batch b = { .s = s, .payloads = STRBUF_INIT, .enc = STRBUF_INIT };
	struct store_visitor v = { state_visit_entity, state_visit_message, &b };
	struct store_detail sd = { "" };
	char wdetail[512] = "";
	lz_err err;

	err = s->ops->load(s->store, &v, &sd);
	if (err != LZ_OK && !b.dropped) {
		err = fail(detail, cap, err, "state transfer: cannot load the %s backend: %s", s->ops->name,
			   sd.text[0] != '\0' ? sd.text : err_str(err));
		goto out_free;
	}
	if (!b.dropped && s->wal != NULL) {
		err = wal_read_from(s->wal, s->applied_lsn, state_visit_wal, &b, wdetail, sizeof(wdetail));
		if (err != LZ_OK && !b.dropped) {
			err = fail(detail, cap, err, "state transfer: cannot read wal %s after lsn %" PRIu64 ": %s",
				   s->wal_dir, s->applied_lsn, wdetail[0] != '\0' ? wdetail : err_str(err));
			goto out_free;
		}
	}
	err = b.dropped ? LZ_OK : state_flush(&b);
	if (err != LZ_OK && !b.dropped)
		err = fail(detail, cap, err, "state transfer: cannot encode a STATE message");
	else
		err = LZ_OK;
out_free:
	*sent = b.dropped ? 0 : b.sent;
	free(b.recs);
	free(b.offs);
	strbuf_release(&b.enc);
	strbuf_release(&b.payloads);
	return err;
}

/* ---- messages ----------------------------------------------------------------------------- */

static lz_err on_hello(struct server *s, const struct ipc_msg *m, uint32_t pipe, char *detail, size_t cap)
{
	uint64_t acked = m->u.hello.broker_acked_lsn;
	int64_t t0 = clock_monotonic_us();
	uint64_t sent = 0;
	lz_err err;

	s->peer = pipe;
	if (acked > s->durable_lsn)
		log_write(LOG_ERROR, "acknowledged data was lost: the broker was acked records this store does not hold; "
				     "expect its next APPEND to be refused and check the disk and the wal",
			  "broker_acked_lsn=%" PRIu64 " durable_lsn=%" PRIu64 " instance=\"%.*s\"", acked, s->durable_lsn,
			  (int)m->u.hello.instance_id_len, m->u.hello.instance_id);
	strbuf_reset(&s->out);
	err = ipc_encode_welcome(&s->out, s->store_id, s->applied_lsn, s->durable_lsn);
	if (err != LZ_OK)
		return fail(detail, cap, err, "cannot encode WELCOME");
	if (!reply_send(s, "WELCOME"))
		return LZ_OK;
	if (acked == 0) {
		err = state_stream(s, &sent, detail, cap);
		if (err != LZ_OK)
			return err;
		if (s->peer == 0)
			return LZ_OK;
	}
	strbuf_reset(&s->out);
	err = ipc_encode_state_end(&s->out, s->durable_lsn);
	if (err != LZ_OK)
		return fail(detail, cap, err, "cannot encode STATE_END");
	if (!reply_send(s, "STATE_END"))
		return LZ_OK;
	LZ_LOG(LOG_INFO, "broker connected",
	       "instance=\"%.*s\" broker_acked_lsn=%" PRIu64 " base_lsn=%" PRIu64 " durable_lsn=%" PRIu64
	       " state_records=%" PRIu64 " ms=%.1f",
	       (int)m->u.hello.instance_id_len, m->u.hello.instance_id, acked, s->applied_lsn, s->durable_lsn, sent,
	       (double)(clock_monotonic_us() - t0) / 1000.0);
	return LZ_OK;
}

/* Checks records that are new here: they continue durable_lsn by 1 each and decode as journal
 * records that belong in a journal. false with `why` filled otherwise. */
static bool append_valid(const struct server *s, const struct journal_rec *recs, size_t n, lz_err *code,
			 char *why, size_t cap)
{
	for (size_t i = 0; i < n; i++) {
		struct jrec r;
		char jwhy[256];
		lz_err err;

		if (recs[i].lsn != s->durable_lsn + 1 + i) {
			*code = LZ_EINVAL;
			snprintf(why, cap, "record lsn %" PRIu64 " does not continue durable lsn %" PRIu64
				 " (expected %" PRIu64 "); resend from lsn %" PRIu64,
				 recs[i].lsn, s->durable_lsn, s->durable_lsn + 1 + i, s->durable_lsn + 1);
			return false;
		}
		if (recs[i].type == JREC_LOAD_ENTITY || recs[i].type == JREC_LOAD_MESSAGE) {
			*code = LZ_EINVAL;
			snprintf(why, cap, "record lsn %" PRIu64 ": %s belongs only in a state transfer", recs[i].lsn,
				 journal_type_name(recs[i].type));
			return false;
		}
		err = journal_decode(recs[i].type, recs[i].payload, recs[i].len, &r, jwhy, sizeof(jwhy));
		journal_rec_release(&r);
		if (err != LZ_OK) {
			*code = err;
			snprintf(why, cap, "record lsn %" PRIu64 " (%s) does not decode: %s", recs[i].lsn,
				 journal_type_name(recs[i].type), jwhy);
			return false;
		}
	}
	return true;
}

/* WAL disabled or in-memory storage: one backend transaction for the batch. A record that does
 * not fit the stored state is refused (nothing was committed); I/O errors are fatal. */
static lz_err append_fold(struct server *s, const struct journal_rec *recs, size_t n, bool *refused,
			  char *detail, size_t cap)
{
	struct store_detail sd = { "" };
	fold *f;
	lz_err err;

	err = fold_begin(s->ops, s->store, &f, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "cannot begin a %s transaction: %s", s->ops->name, sd.text);
	for (size_t i = 0; i < n && err == LZ_OK; i++)
		err = fold_record(f, &recs[i], &sd);
	if (err != LZ_OK) {
		fold_abort(f);
		if (err == LZ_ESYS || err == LZ_ENOMEM)
			return fail(detail, cap, err, "%s backend: %s", s->ops->name, sd.text);
		*refused = true;
		reply_error(s, err, sd.text);
		return LZ_OK;
	}
	err = fold_commit(f, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "%s backend commit through lsn %" PRIu64 " failed: %s", s->ops->name,
			    recs[n - 1].lsn, sd.text);
	s->applied_lsn = recs[n - 1].lsn;
	return LZ_OK;
}

/* Makes `recs` (the records of one or more APPEND messages from `pipe`, in order) durable with
 * one WAL write and one fdatasync, then sends one ACK. */
static lz_err append_records(struct server *s, const struct journal_rec *recs, size_t n, uint32_t pipe,
			     char *detail, size_t cap)
{
	size_t skip = 0;
	char why[512];
	bool refused = false;
	lz_err code = LZ_OK;
	lz_err err;

	if (pipe != s->peer) {
		reply_error(s, LZ_ESTATE, "APPEND before HELLO on this connection; say HELLO first");
		return LZ_OK;
	}
	while (skip < n && recs[skip].lsn <= s->durable_lsn)
		skip++;
	recs += skip;
	n -= skip;
	if (!append_valid(s, recs, n, &code, why, sizeof(why))) {
		reply_error(s, code, why);
		return LZ_OK;
	}
	if (n > 0 && s->wal != NULL) {
		err = wal_append(s->wal, recs, n, detail, cap);
		if (err == LZ_EINVAL || err == LZ_ETOOBIG) {
			reply_error(s, err, detail);
			return LZ_OK;
		}
		if (err != LZ_OK)
			return err;
	} else if (n > 0) {
		err = append_fold(s, recs, n, &refused, detail, cap);
		if (err != LZ_OK || refused)
			return err;
	}
	if (n > 0)
		s->durable_lsn = recs[n - 1].lsn;
	reply_ack(s);
	return LZ_OK;
}

/* Group commit: up to this many APPEND messages already waiting on the socket share one WAL
 * write, one fdatasync and one ACK. */
#define GROUP_MAX_MSGS 256

/* Takes APPEND messages from `pipe` that are already waiting (never blocks) into msgs[1..) and
 * their decoded forms into ms[1..); stops at the first other message, which is left in *other
 * (NULL if none). Returns how many entries msgs/ms now hold (msgs[0]/ms[0] being the first). */
static size_t group_collect(struct server *s, uint32_t pipe, nng_msg **msgs, struct ipc_msg *ms, nng_msg **other)
{
	size_t k = 1;

	*other = NULL;
	while (k < GROUP_MAX_MSGS) {
		nng_msg *msg;
		char why[64];

		if (nng_recvmsg(s->sock, &msg, NNG_FLAG_NONBLOCK) != 0)
			break;
		if ((uint32_t)nng_pipe_id(nng_msg_get_pipe(msg)) != pipe ||
		    ipc_decode(nng_msg_body(msg), nng_msg_len(msg), &ms[k], why, sizeof(why)) != LZ_OK) {
			*other = msg;
			break;
		}
		if (ms[k].type != IPC_APPEND) {
			ipc_msg_release(&ms[k]);
			*other = msg;
			break;
		}
		msgs[k++] = msg;
	}
	return k;
}

static lz_err on_append(struct server *s, nng_msg *first, struct ipc_msg *m, uint32_t pipe, nng_msg **other,
			char *detail, size_t cap)
{
	nng_msg *msgs[GROUP_MAX_MSGS];
	struct ipc_msg ms[GROUP_MAX_MSGS];
	struct journal_rec *all = NULL;
	size_t k, total = 0, at = 0;
	lz_err err;

	msgs[0] = first;
	ms[0] = *m;
	k = pipe == s->peer ? group_collect(s, pipe, msgs, ms, other) : 1;
	if (k == 1)
		return append_records(s, m->u.records.recs, m->u.records.n, pipe, detail, cap);
	for (size_t i = 0; i < k; i++)
		total += ms[i].u.records.n;
	all = malloc((total ? total : 1) * sizeof(*all));
	if (all == NULL) {
		err = fail(detail, cap, LZ_ENOMEM, "out of memory grouping %zu appends", k);
		goto out_release_group;
	}
	/* A broker resending after a reconnect may repeat records: keep each LSN once, in order. */
	for (size_t i = 0; i < k; i++) {
		for (size_t j = 0; j < ms[i].u.records.n; j++) {
			const struct journal_rec *r = &ms[i].u.records.recs[j];

			if (at == 0 ? r->lsn > s->durable_lsn : r->lsn > all[at - 1].lsn)
				all[at++] = *r;
		}
	}
	err = append_records(s, all, at, pipe, detail, cap);
	free(all);
out_release_group:
	/* ms[0] and msgs[0] belong to the caller. */
	for (size_t i = 1; i < k; i++) {
		ipc_msg_release(&ms[i]);
		nng_msg_free(msgs[i]);
	}
	return err;
}

/* One received message; LZ_OK unless something fatal happened (detail filled). A message taken
 * from the socket but not handled (it ended an APPEND group) is left in *other. */
static lz_err server_handle(struct server *s, nng_msg *msg, nng_msg **other, char *detail, size_t cap)
{
	uint32_t pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	struct ipc_msg m;
	char why[256];
	lz_err err;

	*other = NULL;
	err = ipc_decode(nng_msg_body(msg), nng_msg_len(msg), &m, why, sizeof(why));
	if (err != LZ_OK) {
		reply_error(s, err, why);
		return LZ_OK;
	}
	switch (m.type) {
	case IPC_HELLO:
		err = on_hello(s, &m, pipe, detail, cap);
		break;
	case IPC_APPEND:
		err = on_append(s, msg, &m, pipe, other, detail, cap);
		break;
	default:
		snprintf(why, sizeof(why), "%s is not a message persistd accepts", ipc_type_name(m.type));
		reply_error(s, LZ_EINVAL, why);
		break;
	}
	ipc_msg_release(&m);
	return err;
}

/* ---- run / stop / close ------------------------------------------------------------------- */

lz_err server_run(struct server *s, char *detail, size_t detail_cap)
{
	struct store_detail sd = { "" };
	lz_err err = LZ_OK;

	nng_msg *next = NULL;

	while (!s->stop && err == LZ_OK) {
		nng_msg *msg = next;
		int rv = 0;

		next = NULL;
		if (msg == NULL)
			rv = nng_recvmsg(s->sock, &msg, 0);
		if (rv == 0) {
			err = server_handle(s, msg, &next, detail, detail_cap);
			nng_msg_free(msg);
		} else if (rv != NNG_ETIMEDOUT) {
			err = fail(detail, detail_cap, LZ_ESYS, "receiving on %s failed: %s", s->cfg->persistd_url,
				   nng_strerror(rv));
		}
		if (err == LZ_OK)
			err = fold_if_due(s, detail, detail_cap);
	}
	if (next != NULL)
		nng_msg_free(next);
	if (err != LZ_OK)
		return err;
	if (fold_pending(s)) {
		err = server_fold(s, "stop", detail, detail_cap);
		if (err != LZ_OK)
			return err;
	}
	if (s->cfg->auto_compact) {
		err = s->ops->compact(s->store, &sd);
		if (err != LZ_OK)
			return fail(detail, detail_cap, err, "compacting the %s backend failed: %s", s->ops->name, sd.text);
		LZ_LOG(LOG_INFO, "compacted the backend", "backend=%s", s->ops->name);
	}
	return LZ_OK;
}

void server_stop(struct server *s)
{
	s->stop = 1;
}

void server_close(struct server *s)
{
	if (s == NULL)
		return;
	if (s->listening)
		nng_close(s->sock);
	wal_close(s->wal);
	if (s->ops != NULL)
		s->ops->close(s->store);
	if (s->lock_fd >= 0 && close(s->lock_fd) != 0)
		LZ_LOG(LOG_WARN, "closing the data directory lock failed", "data_dir=%s error=\"%s\"", s->cfg->data_dir,
		       strerror(errno));
	strbuf_release(&s->out);
	free(s);
}

lz_err server_copy_to(struct server *s, const char *spec, char *detail, size_t detail_cap)
{
	const char *colon = strchr(spec, ':');
	char type[16];
	struct store_config cfg = { 0 };
	struct store_detail sd = { "" };
	const struct store_ops *ops;
	store *to = NULL;
	lz_err err;

	if (colon == NULL || colon == spec || (size_t)(colon - spec) >= sizeof(type) || colon[1] == '\0')
		return fail(detail, detail_cap, LZ_EINVAL, "--copy-to takes TYPE:LOCATION (sqlite:FILE or json:DIR), not '%s'",
			    spec);
	memcpy(type, spec, (size_t)(colon - spec));
	type[colon - spec] = '\0';
	ops = store_ops_find(type);
	if (ops == NULL || strcmp(type, "memory") == 0)
		return fail(detail, detail_cap, LZ_EINVAL, "--copy-to: unknown backend '%s' (sqlite or json)", type);
	if (ops == s->ops && strcmp(colon + 1, s->ops == store_ops_find("sqlite") ? s->cfg->sqlite_path :
					  s->cfg->json_path) == 0)
		return fail(detail, detail_cap, LZ_EINVAL, "--copy-to: '%s' is the store in use", spec);
	cfg.location = colon + 1;
	cfg.pretty_json = s->cfg->pretty_json;
	err = ops->open(&cfg, &to, &sd);
	if (err == LZ_OK)
		err = store_copy(s->ops, s->store, ops, to, &sd);
	if (err != LZ_OK)
		fail(detail, detail_cap, err, "copy to %s failed: %s", spec, sd.text);
	else
		LZ_LOG(LOG_INFO, "backend copied", "from=%s to=\"%s\" lsn=%llu", s->ops->name, spec,
		       (unsigned long long)s->applied_lsn);
	ops->close(to);
	return err;
}
