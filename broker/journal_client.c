/*
 * journal_client — see journal_client.h.
 */
#include "broker/journal_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "common/clock.h"
#include "common/log.h"
#include "proto/ipc.h"

/* Records per APPEND message: large enough that one fdatasync covers many of them. */
#define APPEND_MAX_RECORDS 4096
#define APPEND_MAX_BYTES (8u * 1024u * 1024u)
/* APPEND messages sent and not yet acknowledged. A small window makes each message carry
 * everything that arrived during the previous round trip (one message, one fdatasync, one ACK
 * for many changes) instead of a stream of tiny messages that each cost thread wake-ups on both
 * sides. One in flight measured best on 2 cores (about 8 % more sync sends/s than two, with
 * sqlite and with the in-memory backend alike): the machine is CPU-bound, so overlapping an
 * ACK's trip with the next batch gains less than larger batches save. */
#define SEND_WINDOW 1
#define RECV_POLL_MS 50
#define SEND_TIMEOUT_MS 1000

struct pending {
	uint64_t lsn;
	int64_t ts_ms;
	enum journal_type type;
	size_t len;
	uint8_t payload[];
};

struct waiter {
	uint64_t lsn;
	int64_t deadline_us;
	void (*cb)(void *arg, bool durable);
	void *arg;
};

struct journal_client {
	struct journal_client_config cfg;
	char *url, *instance_id;
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* link, ACK and stop changes */
	pthread_cond_t cv_send; /* the sender has something to do: sender_ready() became true */
	/* Unacknowledged records in LSN order: q[head..n). Those up to sent_lsn went out on the
	 * current connection; `gen` counts connections, so that a send finishing after a reconnect
	 * does not claim records the new connection never got. */
	struct pending **q;
	size_t head, n, cap;
	uint64_t sent_lsn, gen;
	uint64_t acked_lsn;
	/* Last LSN of each APPEND in flight on the current connection, oldest first. */
	uint64_t window[SEND_WINDOW];
	size_t nwindow;
	struct waiter *w;
	size_t nw, capw;
	bool connected, need_hello, stop;
	bool waits_end; /* journal_client_waits_end: every wait ends at once, not durable */
	/* The store id of the WELCOME the state came with: a later WELCOME with another id means the
	 * store was replaced (storage import-data or purge) and this broker's state is stale. */
	uint8_t store_id[IPC_STORE_ID_LEN];
	int64_t down_since_us; /* when the link went down (0: up, or never connected) */
	pthread_t sender, receiver;
	bool threads;
};

static void set_detail(struct lz_detail *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_detail(struct lz_detail *d, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
}

/* Waits on jc->cv (jc->mu held) for at most `ms` milliseconds. */
static void cond_wait_ms(struct journal_client *jc, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&jc->cv, &jc->mu, &ts);
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct journal_client *jc = arg;

	(void)p;
	pthread_mutex_lock(&jc->mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		jc->connected = true;
		jc->need_hello = true;
		jc->sent_lsn = jc->acked_lsn; /* resend everything not acknowledged */
		jc->nwindow = 0;
		jc->gen++;
		jc->down_since_us = 0;
		LZ_LOG(LOG_INFO, "connected to persistd", "url=%s unacked=%zu", jc->url, jc->n - jc->head);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		jc->connected = false;
		jc->down_since_us = clock_monotonic_us();
		LZ_LOG(LOG_WARN, "lost the connection to persistd; changes are queued until it is back", "url=%s",
		       jc->url);
	}
	pthread_cond_broadcast(&jc->cv);
	pthread_cond_signal(&jc->cv_send);
	pthread_mutex_unlock(&jc->mu);
}

static lz_err send_buf(struct journal_client *jc, const struct strbuf *b)
{
	int rv = nng_send(jc->sock, b->data, b->len, 0);

	return rv == 0 ? LZ_OK : rv == NNG_ETIMEDOUT ? LZ_EBUSY : LZ_ESYS;
}

/* Receives one message into *m within the socket's receive timeout; LZ_EBUSY on timeout. */
static lz_err recv_msg(struct journal_client *jc, struct ipc_msg *m, void **buf, size_t *len, char *why, size_t cap)
{
	int rv = nng_recv(jc->sock, buf, len, NNG_FLAG_ALLOC);

	if (rv == NNG_ETIMEDOUT)
		return LZ_EBUSY;
	if (rv != 0) {
		snprintf(why, cap, "%s", nng_strerror(rv));
		return LZ_ESYS;
	}
	if (ipc_decode(*buf, *len, m, why, cap) != LZ_OK) {
		nng_free(*buf, *len);
		*buf = NULL;
		return LZ_EPARSE;
	}
	return LZ_OK;
}

/* Applies the state transfer until STATE_END; the core must be empty. */
static lz_err load_state(struct journal_client *jc, core *c, struct lz_detail *detail)
{
	int64_t deadline = clock_monotonic_us() + jc->cfg.connect_timeout_ms * 1000;
	uint64_t base = 0, last = 0;
	bool welcomed = false, based = false, ended;
	size_t loaded = 0;
	lz_err err = LZ_OK;

	for (;;) {
		struct ipc_msg m;
		void *buf = NULL;
		size_t len = 0;
		char why[256] = "";

		err = recv_msg(jc, &m, &buf, &len, why, sizeof(why));
		if (err == LZ_EBUSY) {
			bool reconnected;

			/* A connection that dropped as it opened may have taken our HELLO with it: say it
			 * again on the new one. A drop in the middle of the transfer ends the start-up. */
			pthread_mutex_lock(&jc->mu);
			reconnected = jc->need_hello && jc->connected;
			jc->need_hello = false;
			pthread_mutex_unlock(&jc->mu);
			if (reconnected && welcomed) {
				set_detail(detail, "the connection to persistd at %s dropped during the state transfer",
					   jc->url);
				return LZ_EBUSY;
			}
			if (reconnected) {
				struct strbuf hello = STRBUF_INIT;

				err = ipc_encode_hello(&hello, 0, jc->instance_id);
				if (err == LZ_OK)
					err = send_buf(jc, &hello);
				strbuf_release(&hello);
				if (err != LZ_OK && err != LZ_EBUSY) {
					set_detail(detail, "cannot say HELLO to persistd at %s again", jc->url);
					return err;
				}
			}
			if (clock_monotonic_us() > deadline) {
				set_detail(detail, "persistd at %s sent no state within %lld ms", jc->url,
					   (long long)jc->cfg.connect_timeout_ms);
				return LZ_EBUSY;
			}
			continue;
		}
		if (err != LZ_OK) {
			set_detail(detail, "state transfer from %s failed: %s", jc->url, why);
			return err;
		}
		/* pair1 hands a new connection the replies queued for a broker that died: ACKs of its
		 * appends come first and mean nothing to this one. */
		if (!welcomed && m.type != IPC_WELCOME) {
			LZ_LOG(LOG_DEBUG, "skipping a reply meant for a previous broker", "type=%s", ipc_type_name(m.type));
			ipc_msg_release(&m);
			nng_free(buf, len);
			continue;
		}
		switch (m.type) {
		case IPC_WELCOME:
			welcomed = true;
			memcpy(jc->store_id, m.u.welcome.store_id, IPC_STORE_ID_LEN);
			base = m.u.welcome.base_lsn;
			break;
		case IPC_STATE:
			for (size_t i = 0; i < m.u.records.n && err == LZ_OK; i++) {
				const struct journal_rec *r = &m.u.records.recs[i];

				if (r->lsn != 0 && !based) {
					err = core_load_done(c, base, detail);
					based = true;
				}
				if (err == LZ_OK)
					err = core_replay(c, r, detail);
				loaded++;
			}
			break;
		case IPC_STATE_END:
			last = m.u.state_end.last_lsn;
			if (!based)
				err = core_load_done(c, base, detail);
			based = true;
			break;
		case IPC_ERROR:
			set_detail(detail, "persistd refused the broker: %.*s", (int)m.u.error.text_len, m.u.error.text);
			err = LZ_ESTATE;
			break;
		default:
			set_detail(detail, "unexpected %s from persistd during the state transfer", ipc_type_name(m.type));
			err = LZ_EPARSE;
			break;
		}
		ended = m.type == IPC_STATE_END;
		ipc_msg_release(&m);
		nng_free(buf, len);
		if (err != LZ_OK)
			return err;
		if (ended)
			break;
	}
	if (!welcomed || core_last_lsn(c) != last) {
		set_detail(detail, "state transfer ended at lsn %llu but the core is at lsn %llu",
			   (unsigned long long)last, (unsigned long long)core_last_lsn(c));
		return LZ_EPARSE;
	}
	jc->acked_lsn = last;
	LZ_LOG(LOG_INFO, "state loaded from persistd", "records=%zu base_lsn=%llu last_lsn=%llu", loaded,
	       (unsigned long long)base, (unsigned long long)last);
	return LZ_OK;
}

/* Runs the waiters whose LSN is durable or whose deadline passed (all of them when the client
 * stops); called without jc->mu. */
static void run_waiters(struct journal_client *jc)
{
	struct waiter ready[64];
	bool durable[64];
	size_t nready;

	do {
		int64_t now = clock_monotonic_us();
		size_t out = 0;

		nready = 0;
		pthread_mutex_lock(&jc->mu);
		for (size_t i = 0; i < jc->nw; i++) {
			struct waiter *w = &jc->w[i];

			if (nready < 64 && (w->lsn <= jc->acked_lsn || w->deadline_us <= now || jc->stop || jc->waits_end)) {
				durable[nready] = w->lsn <= jc->acked_lsn;
				ready[nready++] = *w;
			} else {
				jc->w[out++] = *w;
			}
		}
		jc->nw = out;
		pthread_mutex_unlock(&jc->mu);
		for (size_t i = 0; i < nready; i++)
			ready[i].cb(ready[i].arg, durable[i]);
	} while (nready == 64);
}

/* True when a queued record has not gone out on the current connection. */
static bool unsent(const struct journal_client *jc)
{
	return jc->n > jc->head && jc->q[jc->n - 1]->lsn > jc->sent_lsn;
}

/* True when the sender has work it may do now (jc->mu held). */
static bool sender_ready(const struct journal_client *jc)
{
	return jc->stop || (jc->connected && (jc->need_hello || (unsent(jc) && jc->nwindow < SEND_WINDOW)));
}

/* Wakes the sender when a change made sender_ready() true; `was_ready` is its value before the
 * change. When it was already true the sender is awake or already signalled, so every other
 * change costs no wake-up. */
static void sender_kick(struct journal_client *jc, bool was_ready)
{
	if (!was_ready && sender_ready(jc))
		pthread_cond_signal(&jc->cv_send);
}

static void *receiver_main(void *arg)
{
	struct journal_client *jc = arg;

	for (;;) {
		struct ipc_msg m;
		void *buf = NULL;
		size_t len = 0;
		char why[256] = "";
		lz_err err;

		err = recv_msg(jc, &m, &buf, &len, why, sizeof(why));
		if (err == LZ_OK) {
			if (m.type == IPC_ACK) {
				pthread_mutex_lock(&jc->mu);
				bool ready = sender_ready(jc);
				size_t keep = 0;

				if (m.u.ack.durable_lsn > jc->acked_lsn)
					jc->acked_lsn = m.u.ack.durable_lsn;
				while (jc->head < jc->n && jc->q[jc->head]->lsn <= jc->acked_lsn) {
					free(jc->q[jc->head]);
					jc->head++;
				}
				for (size_t i = 0; i < jc->nwindow; i++)
					if (jc->window[i] > jc->acked_lsn)
						jc->window[keep++] = jc->window[i];
				jc->nwindow = keep;
				pthread_cond_broadcast(&jc->cv);
				sender_kick(jc, ready);
				pthread_mutex_unlock(&jc->mu);
			} else if (m.type == IPC_WELCOME &&
				   memcmp(m.u.welcome.store_id, jc->store_id, IPC_STORE_ID_LEN) != 0) {
				/* Exiting is the only safe answer: serving on would answer from a state
				 * persistd no longer has. The supervisor restarts the broker, which loads
				 * the new state. */
				LZ_LOG(LOG_ERROR, "persistd's store was replaced (storage import-data or purge) while "
						  "this broker was disconnected; exiting so that a restart loads the new state",
				       "url=%s", jc->url);
				_exit(3);
			} else if (m.type == IPC_ERROR) {
				LZ_LOG(LOG_ERROR, "persistd reported an error", "text=\"%.*s\"", (int)m.u.error.text_len,
				       m.u.error.text);
			}
			ipc_msg_release(&m);
			nng_free(buf, len);
		} else if (err == LZ_EPARSE) {
			LZ_LOG(LOG_ERROR, "malformed message from persistd", "why=\"%s\"", why);
		} else if (err == LZ_ESYS) {
			break; /* the socket is closed */
		}
		run_waiters(jc);
	}
	return NULL;
}

static void *sender_main(void *arg)
{
	struct journal_client *jc = arg;
	struct strbuf b = STRBUF_INIT;
	struct journal_rec *batch = calloc(APPEND_MAX_RECORDS, sizeof(*batch));

	if (batch == NULL) {
		LZ_LOG(LOG_ERROR, "out of memory starting the journal sender", "%s", "");
		abort();
	}
	pthread_mutex_lock(&jc->mu);
	for (;;) {
		size_t k = 0, bytes = 0;
		uint64_t gen, last = 0;
		bool hello;
		lz_err err;

		while (!sender_ready(jc))
			pthread_cond_wait(&jc->cv_send, &jc->mu);
		if (jc->stop)
			break; /* journal_client_stop flushed what it could */
		hello = jc->need_hello;
		gen = jc->gen;
		strbuf_reset(&b);
		if (hello) {
			err = ipc_encode_hello(&b, jc->acked_lsn, jc->instance_id);
		} else {
			/* The records stay allocated while unlocked: only ACKs free them, and an ACK never
			 * covers a record that was not sent. */
			size_t from = jc->head;

			while (from < jc->n && jc->q[from]->lsn <= jc->sent_lsn)
				from++;
			while (from + k < jc->n && k < APPEND_MAX_RECORDS && bytes < APPEND_MAX_BYTES) {
				struct pending *p = jc->q[from + k];

				batch[k] = (struct journal_rec){ p->lsn, p->type, p->ts_ms, p->payload, p->len };
				bytes += p->len;
				k++;
			}
			last = k > 0 ? batch[k - 1].lsn : 0;
			err = ipc_encode_records(&b, IPC_APPEND, batch, k);
		}
		pthread_mutex_unlock(&jc->mu);
		if (err == LZ_OK)
			err = send_buf(jc, &b);
		pthread_mutex_lock(&jc->mu);
		if (err != LZ_OK) {
			/* Not delivered: wait a little for the link, then try again. */
			cond_wait_ms(jc, 100);
			continue;
		}
		if (jc->gen != gen)
			continue; /* a reconnect rewound the stream meanwhile */
		if (hello) {
			jc->need_hello = false;
		} else if (last > jc->sent_lsn) {
			jc->sent_lsn = last;
			if (last > jc->acked_lsn) /* its ACK may have come back already */
				jc->window[jc->nwindow++] = last;
		}
	}
	pthread_mutex_unlock(&jc->mu);
	strbuf_release(&b);
	free(batch);
	return NULL;
}

lz_err journal_client_sink(void *arg, const struct journal_rec *rec)
{
	struct journal_client *jc = arg;
	struct pending *p;
	lz_err err = LZ_OK;
	bool ready;

	pthread_mutex_lock(&jc->mu);
	ready = sender_ready(jc);
	if (!jc->connected && jc->down_since_us != 0 &&
	    clock_monotonic_us() - jc->down_since_us > jc->cfg.timeout_ms * 1000) {
		err = LZ_EBUSY;
		goto out_unlock;
	}
	if (jc->n == jc->cap) {
		if (jc->head > 0) {
			memmove(jc->q, jc->q + jc->head, (jc->n - jc->head) * sizeof(*jc->q));
			jc->n -= jc->head;
			jc->head = 0;
		}
		if (jc->n == jc->cap) {
			size_t cap = jc->cap ? jc->cap * 2 : 1024;
			struct pending **q = realloc(jc->q, cap * sizeof(*q));

			if (q == NULL) {
				err = LZ_ENOMEM;
				goto out_unlock;
			}
			jc->q = q;
			jc->cap = cap;
		}
	}
	p = malloc(sizeof(*p) + rec->len);
	if (p == NULL) {
		err = LZ_ENOMEM;
		goto out_unlock;
	}
	p->lsn = rec->lsn;
	p->ts_ms = rec->ts_ms;
	p->type = rec->type;
	p->len = rec->len;
	memcpy(p->payload, rec->payload, rec->len);
	jc->q[jc->n++] = p;
	sender_kick(jc, ready);
out_unlock:
	pthread_mutex_unlock(&jc->mu);
	return err;
}

bool journal_client_wait(journal_client *jc, uint64_t lsn, void (*cb)(void *arg, bool durable), void *arg)
{
	bool done;

	pthread_mutex_lock(&jc->mu);
	done = lsn <= jc->acked_lsn;
	if (!done) {
		if (jc->nw == jc->capw) {
			size_t cap = jc->capw ? jc->capw * 2 : 64;
			struct waiter *w = realloc(jc->w, cap * sizeof(*w));

			if (w == NULL) {
				LZ_LOG(LOG_ERROR, "out of memory queueing a durability wait", "%s", "");
				abort();
			}
			jc->w = w;
			jc->capw = cap;
		}
		jc->w[jc->nw++] = (struct waiter){ lsn, clock_monotonic_us() + jc->cfg.timeout_ms * 1000, cb, arg };
	}
	pthread_mutex_unlock(&jc->mu);
	return done;
}

void journal_client_waits_end(journal_client *jc)
{
	pthread_mutex_lock(&jc->mu);
	jc->waits_end = true;
	pthread_mutex_unlock(&jc->mu);
	run_waiters(jc);
}

uint64_t journal_client_durable_lsn(journal_client *jc)
{
	uint64_t lsn;

	pthread_mutex_lock(&jc->mu);
	lsn = jc->acked_lsn;
	pthread_mutex_unlock(&jc->mu);
	return lsn;
}

bool journal_client_connected(journal_client *jc)
{
	bool up;

	pthread_mutex_lock(&jc->mu);
	up = jc->connected;
	pthread_mutex_unlock(&jc->mu);
	return up;
}

static void client_free(struct journal_client *jc)
{
	for (size_t i = jc->head; i < jc->n; i++)
		free(jc->q[i]);
	free(jc->q);
	free(jc->w);
	free(jc->url);
	free(jc->instance_id);
	pthread_cond_destroy(&jc->cv);
	pthread_cond_destroy(&jc->cv_send);
	pthread_mutex_destroy(&jc->mu);
	free(jc);
}

lz_err journal_client_start(const struct journal_client_config *cfg, core *c, journal_client **out,
			    struct lz_detail *detail)
{
	struct journal_client *jc = calloc(1, sizeof(*jc));
	struct strbuf b = STRBUF_INIT;
	int64_t deadline;
	int rv;
	lz_err err;

	if (jc == NULL)
		return LZ_ENOMEM;
	jc->cfg = *cfg;
	jc->url = strdup(cfg->url);
	jc->instance_id = strdup(cfg->instance_id != NULL ? cfg->instance_id : "broker");
	if (jc->url == NULL || jc->instance_id == NULL || pthread_mutex_init(&jc->mu, NULL) != 0) {
		free(jc->url);
		free(jc->instance_id);
		free(jc);
		return LZ_ENOMEM;
	}
	pthread_cond_init(&jc->cv, NULL);
	pthread_cond_init(&jc->cv_send, NULL);
	rv = nng_pair1_open(&jc->sock);
	if (rv != 0) {
		set_detail(detail, "cannot open the persistd socket: %s", nng_strerror(rv));
		err = LZ_ESYS;
		goto out_free_client;
	}
	if ((rv = nng_socket_set_int(jc->sock, NNG_OPT_RECVBUF, 1024)) != 0 ||
	    (rv = nng_socket_set_int(jc->sock, NNG_OPT_SENDBUF, 1024)) != 0 ||
	    (rv = nng_socket_set_ms(jc->sock, NNG_OPT_RECVTIMEO, RECV_POLL_MS)) != 0 ||
	    (rv = nng_socket_set_ms(jc->sock, NNG_OPT_SENDTIMEO, SEND_TIMEOUT_MS)) != 0 ||
	    (rv = nng_socket_set_size(jc->sock, NNG_OPT_RECVMAXSZ, IPC_MAX_MESSAGE)) != 0 ||
	    (rv = nng_pipe_notify(jc->sock, NNG_PIPE_EV_ADD_POST, on_pipe, jc)) != 0 ||
	    (rv = nng_pipe_notify(jc->sock, NNG_PIPE_EV_REM_POST, on_pipe, jc)) != 0 ||
	    (rv = nng_dial(jc->sock, jc->url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		set_detail(detail, "cannot dial persistd at %s (LOCALZURE_PERSISTD_URL): %s", jc->url, nng_strerror(rv));
		err = LZ_ESYS;
		goto out_close_socket;
	}
	deadline = clock_monotonic_us() + cfg->connect_timeout_ms * 1000;
	pthread_mutex_lock(&jc->mu);
	while (!jc->connected && clock_monotonic_us() < deadline) {
		cond_wait_ms(jc, 50);
	}
	jc->need_hello = false;
	pthread_mutex_unlock(&jc->mu);
	if (!jc->connected) {
		set_detail(detail, "persistd did not answer at %s within %lld ms (is it running? LOCALZURE_PERSISTD_URL)",
			   jc->url, (long long)cfg->connect_timeout_ms);
		err = LZ_EBUSY;
		goto out_close_socket;
	}
	err = ipc_encode_hello(&b, 0, jc->instance_id);
	if (err == LZ_OK)
		err = send_buf(jc, &b);
	strbuf_release(&b);
	if (err == LZ_OK)
		err = load_state(jc, c, detail);
	if (err != LZ_OK)
		goto out_close_socket;
	core_set_journal(c, journal_client_sink, jc);
	if (pthread_create(&jc->sender, NULL, sender_main, jc) != 0 ||
	    pthread_create(&jc->receiver, NULL, receiver_main, jc) != 0) {
		LZ_LOG(LOG_ERROR, "cannot start the journal threads", "%s", "");
		abort();
	}
	jc->threads = true;
	*out = jc;
	return LZ_OK;

out_close_socket:
	nng_close(jc->sock);
out_free_client:
	client_free(jc);
	return err;
}

void journal_client_stop(journal_client *jc)
{
	int64_t deadline;

	if (jc == NULL)
		return;
	deadline = clock_monotonic_us() + jc->cfg.timeout_ms * 1000;
	pthread_mutex_lock(&jc->mu);
	while (jc->head < jc->n && clock_monotonic_us() < deadline) {
		cond_wait_ms(jc, 20);
	}
	if (jc->head < jc->n)
		LZ_LOG(LOG_WARN, "stopping with changes persistd has not acknowledged", "unacked=%zu",
		       jc->n - jc->head);
	jc->stop = true;
	pthread_cond_broadcast(&jc->cv);
	pthread_cond_signal(&jc->cv_send);
	pthread_mutex_unlock(&jc->mu);
	nng_close(jc->sock);
	if (jc->threads) {
		pthread_join(jc->sender, NULL);
		pthread_join(jc->receiver, NULL);
	}
	run_waiters(jc);
	client_free(jc);
}
