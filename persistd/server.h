/*
 * server — persistd's engine: the storage backend, the WAL, the fold and the conversation with
 * the broker (proto/ipc.h), without main() so that tests can drive it in-process.
 *
 * Calling sequence: server_open → server_run (until server_stop or a fatal error) → server_close.
 *
 * server_open, in order:
 *   - creates data_dir (one level) and takes <data_dir>/persistd.lock (flock): one persistd per
 *     data directory, so the WAL has one writer and a stale ipc socket there can be removed;
 *   - opens the backend named by storage_type (store_ops_find) and reads last_applied_lsn;
 *   - the store id: 16 random bytes kept in <data_dir>/store_id, created once (temp file, fsync,
 *     rename, directory fsync). The in-memory backend loses its state with the process, so it
 *     gets a fresh id on every start and writes no file;
 *   - the WAL in <data_dir>/wal (sqlite and json only; the in-memory backend keeps no files):
 *     wal_open verifies it (repair only when asked), then every record past last_applied_lsn is
 *     folded into the backend, so the backend is current before anyone connects. With
 *     wal_enabled false an existing WAL directory is still folded in (it may hold acknowledged
 *     records), then closed and left alone;
 *   - listens on persistd_url with an nng pair1 socket (one broker at a time), NNG_OPT_RECVMAXSZ
 *     = IPC_MAX_MESSAGE, raised buffers. A stale socket file of an ipc:// URL under data_dir is
 *     removed first.
 *
 * server_run serves one broker conversation at a time:
 *   HELLO   → WELCOME {store id, base_lsn = backend's last_applied_lsn, durable_lsn}. When the
 *             HELLO's broker_acked_lsn is 0 (a fresh broker) the state follows: the backend's
 *             contents as LOAD_ENTITY / LOAD_MESSAGE records (lsn 0), then the WAL records past
 *             base_lsn, in STATE messages of at most SERVER_STATE_BYTES payload bytes or
 *             SERVER_STATE_RECORDS records, then STATE_END {durable_lsn}. A broker that kept its
 *             state (broker_acked_lsn > 0) gets STATE_END alone; if its acked LSN is above
 *             durable_lsn, acknowledged records were lost here and an error-level alarm is logged.
 *   APPEND  → (only from the pipe that said HELLO) records at or below durable_lsn are resends
 *             and dropped; the rest must continue durable_lsn by exactly 1 and decode as journal
 *             records, else ERROR (the conversation stays open; the broker reconnects or HELLOs
 *             again). Accepted records go to the WAL with one write and one fdatasync for the
 *             whole message — or, with the WAL disabled or in-memory storage, into the backend in
 *             one transaction — and then ACK {durable_lsn} is sent (also for a pure resend).
 *   Replies are sent with a bounded wait (SERVER_SEND_TIMEOUT_MS); one that cannot be sent is
 *   dropped and logged: the broker resends unacknowledged records after it reconnects. pair1
 *   keeps replies queued for a broker that went away and hands them to the next one, so a
 *   broker must ignore what arrives before the WELCOME answering its own HELLO.
 *   Fold: every snapshot_interval seconds and whenever the WAL grows past wal_max_bytes, the WAL
 *   records past last_applied_lsn that are durable at that moment are folded in one backend
 *   transaction on a fold thread, while this thread goes on appending (one fold at a time; the
 *   backend belongs to the fold thread until it ends, so a HELLO or a control request waits for
 *   it); then the segments at or below the folded LSN are deleted. At start-up and at a clean
 *   stop the fold runs on this thread. After the final fold, auto_compact compacts the backend.
 *
 * Errors: server_open and server_run return LZ_OK or the failing lz_err with `detail` (≥ 256
 * bytes advised) naming the setting, file or LSN. Any write, fsync or backend I/O error in
 * server_run is fatal: nothing more is acknowledged, nothing is retried, server_run returns
 * the error (main exits non-zero) and every acknowledged record is on disk for the next start.
 *
 * Threads and blocking: server_open, server_run and server_close run on one thread (plus the
 * fold thread server_run starts, see Fold); server_run blocks in nng receives of at most
 * SERVER_POLL_MS and in file I/O. server_stop only sets a
 * flag (async-signal-safe, any thread); server_run notices it within SERVER_POLL_MS when idle.
 * nng starts its own threads in server_open: block signals meant for the caller before it.
 *
 * Ownership: the server borrows `cfg` until server_close.
 */
#ifndef LZ_PERSISTD_SERVER_H
#define LZ_PERSISTD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/err.h"
#include "common/settings.h"
#include "persistd/store.h"

#define SERVER_POLL_MS 100                      /* longest idle receive: stop and fold latency */
#define SERVER_SEND_TIMEOUT_MS 10000            /* a reply not taken by then is dropped */
#define SERVER_STATE_RECORDS 4096u              /* records per STATE message */
#define SERVER_STATE_BYTES (1024u * 1024u)      /* payload bytes per STATE message (one record may exceed it) */
#define SERVER_NNG_BUFFERS 1024                 /* NNG_OPT_RECVBUF and NNG_OPT_SENDBUF, in messages */

struct server;

struct server_opts {
	bool repair;  /* --repair: cut a damaged WAL at the damage (copies kept) instead of refusing */
	bool offline; /* no sockets: the localzure command works on the store in-process (persistd is
		       * stopped; the data directory lock keeps a persistd from starting meanwhile) */
};

/* Opens everything described above; *out is NULL on failure. */
lz_err server_open(const struct settings *cfg, const struct server_opts *opts, struct server **out,
		   char *detail, size_t detail_cap);

/* Copies the (folded) backend into a new, empty backend described by `spec`, "TYPE:LOCATION"
 * (sqlite:FILE or json:DIR), for a backend swap; see store_copy(). */
lz_err server_copy_to(struct server *s, const char *spec, char *detail, size_t detail_cap);

/* ---- operator commands: what the localzure command asks (persistd/control.c) -----------------
 *
 * They run on server_run's thread (or in the CLI's process with opts.offline), so appends wait
 * while one runs. Each returns LZ_OK, or a fatal error (a WAL or backend I/O failure: persistd
 * stops, as for any I/O error). A request refused for a reason the operator can fix (a broker
 * is connected, the store is not empty, a bad file or target) returns LZ_OK with
 * refusal->code set and refusal->text saying what to do; then nothing was changed.
 */
struct server_refusal {
	lz_err code; /* LZ_OK: not refused */
	char text[1536];
};

struct server_status {
	const char *backend, *location;  /* borrowed from the server */
	const char *migrated_from;       /* "TYPE:LOCATION" a migration replaced (this run or the record); "" */
	struct store_stats store;
	bool wal_enabled;
	const char *wal_dir;
	uint64_t wal_bytes, wal_segments, wal_first_lsn, wal_last_lsn;
	uint64_t applied_lsn, durable_lsn;
	int64_t last_fold_ms;            /* wall clock, ms since the epoch; 0: no fold since start */
	double last_fold_took_ms;
	bool broker_connected;
	uint64_t appends, records, syncs; /* since start */
};

struct export_progress;
struct export_counts;

const struct settings *server_settings(const struct server *s);
lz_err server_status_get(struct server *s, struct server_status *out, char *detail, size_t cap);
/* Folds the WAL, then writes the whole state to `out` (persistd/export.h format); a failure to
 * write the file is a refusal. */
lz_err server_export(struct server *s, FILE *out, const char *path, const struct export_progress *progress,
		     struct export_counts *counts, struct server_refusal *r, char *detail, size_t cap);
/* Refused while a broker is connected, or when the store is not empty and !replace. In one backend
 * transaction: with replace every entity (and message) is deleted, then the file's are put; a
 * file error rolls everything back. The store id is renewed afterwards. */
lz_err server_import(struct server *s, FILE *in, const char *path, bool replace,
		     const struct export_progress *progress, struct export_counts *counts, struct server_refusal *r,
		     char *detail, size_t cap);
/* Folds, then compacts the backend (sqlite VACUUM, json orphan cleanup). */
lz_err server_compact(struct server *s, char *detail, size_t cap);
/* Refused while a broker is connected; deletes every entity and message; renews the store id. */
lz_err server_purge(struct server *s, struct server_refusal *r, char *detail, size_t cap);
/* "TYPE[:LOCATION]" (sqlite, json or redis; LOCATION defaults to the configured path of that
 * type): folds, copies the state into the new (empty) store, writes <data_dir>/storage-migrated
 * durably (from then on it names the backend at every start) and switches to the new store; the
 * old one is closed and left as it was. */
lz_err server_migrate(struct server *s, const char *spec, struct server_refusal *r, char *detail, size_t cap);

/* The URL the server listens on (borrowed from the settings). */
const char *server_url(const struct server *s);

/* Serves until server_stop (then folds, compacts when configured, and returns LZ_OK) or a fatal
 * error (returned with `detail`). */
lz_err server_run(struct server *s, char *detail, size_t detail_cap);

/* Asks server_run to stop; async-signal-safe. */
void server_stop(struct server *s);

/* Closes the socket, the WAL and the backend, releases the lock and frees; NULL is a no-op. */
void server_close(struct server *s);

#endif
