/*
 * journal_client — the broker's side of the persistd link (nng pair1, messages of proto/ipc.h).
 *
 * Start-up: journal_client_start() dials persistd, says HELLO, receives the stored state
 * (LOAD records, then the journal tail) and applies it to the core, which must be empty; only
 * then does it install itself as the core's journal sink and return. The broker serves clients
 * only after that.
 *
 * Running: every record the core commits is queued (under the core mutex, no I/O) and shipped
 * by a sender thread in APPEND batches; a receiver thread takes ACKs (the highest durable LSN),
 * drops acknowledged records and runs the durability waiters whose LSN is now durable. When
 * persistd goes away, records stay queued; on reconnect the broker says HELLO again and resends
 * every unacknowledged record (persistd drops those it already has). While persistd has been
 * unreachable for longer than `timeout_ms`, new changes are refused (LZ_EBUSY → 503) so that
 * memory does not run ahead of the disk without bound; reads go on.
 *
 * Waiters: journal_client_wait() returns true when `lsn` is durable already; otherwise `cb` runs
 * later on the receiver thread with durable = true, or with false once `timeout_ms` passed (the
 * change stays queued and is made durable when persistd is back). Callbacks must not block.
 *
 * Threads: every function may be called from any thread; journal_client_sink is called by the
 * core under its mutex and takes only the client's own mutex (lock order: core → client).
 * journal_client_start blocks (connect and state transfer); journal_client_stop blocks until
 * the queue is durable or `timeout_ms` passed.
 */
#ifndef LZ_BROKER_JOURNAL_CLIENT_H
#define LZ_BROKER_JOURNAL_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/core.h"

typedef struct journal_client journal_client;

struct journal_client_config {
	const char *url;            /* ipc://… or tcp://… */
	int64_t timeout_ms;         /* unreachable persistd: how long writes wait before 503 */
	int64_t connect_timeout_ms; /* start-up: how long to wait for persistd and the state */
	const char *instance_id;    /* shown in persistd's logs */
};

lz_err journal_client_start(const struct journal_client_config *cfg, core *c, journal_client **out,
			    struct lz_detail *detail);
/* Flushes (bounded by timeout_ms), disconnects, frees. NULL is a no-op. */
void journal_client_stop(journal_client *jc);

/* The core's journal sink (core_journal_fn); `arg` is the client. */
lz_err journal_client_sink(void *arg, const struct journal_rec *rec);

bool journal_client_wait(journal_client *jc, uint64_t lsn, void (*cb)(void *arg, bool durable), void *arg);

/* Shutdown: every pending wait ends now (cb with durable false, on the calling thread) and every
 * later one within the receive poll interval, so that no request stays parked while the HTTP
 * server stops. The records stay queued: journal_client_stop still ships them. */
void journal_client_waits_end(journal_client *jc);

uint64_t journal_client_durable_lsn(journal_client *jc);
bool journal_client_connected(journal_client *jc);

#endif
