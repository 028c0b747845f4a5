/*
 * http — the HTTP front end: Azure's REST data plane, the Atom management API, the emulator-only
 * endpoints, /health and Prometheus /metrics, served by libmicrohttpd.
 *
 * Routes (path segments match case-insensitively, after URL decoding; {e} = queue or topic path,
 * {r} = queue path or {topic}/subscriptions/{sub}, optionally followed by /$DeadLetterQueue):
 *   data plane (spec §1.3)
 *     POST   /{e}/messages                      send (batch with application/vnd.microsoft.servicebus.json) → 201
 *     POST   /{r}/messages/head?timeout=S       peek-lock → 201 + message, 204 when none within S seconds
 *     DELETE /{r}/messages/head?timeout=S       receive-and-delete → 200 + message, 204
 *     PUT    /{r}/messages/{seq-or-id}/{lock}   abandon → 200
 *     DELETE /{r}/messages/{seq-or-id}/{lock}   complete → 200
 *     POST   /{r}/messages/{seq-or-id}/{lock}   renew lock → 200
 *   management (spec §2.1–2.3; entries and feeds are Atom XML)
 *     GET|PUT|DELETE /{e}, /{topic}/subscriptions/{sub}, /{topic}/subscriptions/{sub}/rules/{rule}
 *       PUT without If-Match creates (201, 409 if it exists); PUT with If-Match replaces (200, 404
 *       if missing); a queue/subscription PUT with an empty body takes Azure's defaults (an
 *       emulator convenience). GET of a missing entity answers 404 with an <Error> body (Azure
 *       answers 200 with an empty feed; every SDK treats both as "not found").
 *     GET /$Resources/Queues|Topics, /{topic}/subscriptions, /{topic}/subscriptions/{sub}/rules
 *       with $skip and $top → feed
 *     GET /$namespaceinfo → NamespaceInfo entry
 *     GET /{queue}/$DeadLetterQueue → 400, as Azure (the DLQ is not an entity)
 *   emulator-only (under /$emulator/, for what Azure offers only over AMQP, and test control)
 *     GET    /$emulator/{r}/messages?from=SEQ&max=N       peek (browse without locking), max
 *                                                           default 100 → 200 JSON array
 *     POST   /$emulator/{r}/messages/{seq}/{lock}/deadletter  body {"DeadLetterReason":..,
 *                                                           "DeadLetterErrorDescription":..}
 *                                                           (both optional) → 200
 *     POST   /$emulator/{r}/messages/{seq}/{lock}/defer   → 200
 *     POST   /$emulator/{r}/messages/deferred?mode=peeklock|receiveanddelete
 *                                                         body {"SequenceNumbers":[..]} → 200 JSON array
 *     POST   /$emulator/{e}/messages/schedule              a single send whose BrokerProperties
 *                                                           carry ScheduledEnqueueTimeUtc → 201
 *                                                           {"SequenceNumbers":[n]}
 *     DELETE /$emulator/{e}/messages/scheduled/{seq}      cancel a scheduled message → 200, 404
 *     GET    /$emulator/clock                             → 200 {"NowMs":..,"NowUtc":".."}
 *     POST   /$emulator/clock/advance?ms=N                advance the manual clock, run due work
 *                                                           (core_tick), → 200 as GET
 *       (both clock routes answer 404 unless the broker runs with a manual clock)
 *     A JSON message is {"BrokerProperties":{..},"UserProperties":{..},"Body":"<base64>"}
 *     (brokerprops.h); BrokerProperties there also carries ContentType.
 *   GET /health → 200 {"status":"healthy","message":"Service is healthy."}
 *   GET /metrics → Prometheus text: localzure_messages{entity,state} gauges,
 *     localzure_requests_total{op,code}, localzure_request_duration_seconds{op} histograms,
 *     localzure_uptime_seconds
 *   /health, /metrics, /$namespaceinfo, /$Resources and /$emulator win over entities of the
 *   same name.
 *
 * Status mapping (data plane / management): a missing entity is 410 / 404; a lost lock or a
 * missing message on settle is 404; exists 409; invalid input (also unsupported features) 400;
 * too large, quota and disabled 403; busy 503; anything else 500. Emulator endpoints use the
 * data-plane mapping. Every error body is Azure's <Error><Code>status</Code><Detail>..</Detail>
 * </Error> (application/xml; charset=utf-8). Unknown paths are 404, known paths with another
 * method 405. Request paths longer than 2 KB are 404.
 *
 * Receives: ?timeout= is whole seconds, 0..86400, default 0 (answer at once). A peek-lock's
 * Location is {base}/{path lower-cased}[/$deadletterqueue]/messages/{seq}/{lock}, {base} being
 * http://{Host header}. Request bodies over cfg.max_body_bytes (single and batch sends alike)
 * are read and dropped, then answered 403.
 *
 * Long polls never block a thread: the connection is suspended and a core waiter resumes it. A
 * long poll ends at the first of: a message, the core clock passing its deadline (so a manual
 * clock advance ends it), the same wait in real time (http_server_expire, so a manual clock that
 * never moves does not hang clients), or the client hanging up (checked by http_server_expire,
 * as libmicrohttpd does not watch suspended connections). A peek-locked message whose client
 * turns out to be gone when its response is due is abandoned at once.
 *
 * Threads: libmicrohttpd runs `threads` polling threads; handlers run there and call the core.
 * http_server_expire() is meant for one timer thread; the other functions for the thread that
 * owns the server. Ownership: the server borrows `core` (which must outlive it) and copies cfg.
 */
#ifndef LZ_BROKER_HTTP_H
#define LZ_BROKER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "broker/core.h"
#include "broker/journal_client.h"

typedef struct http_server http_server;

struct http_config {
	const char *host;               /* address or host name to bind */
	uint16_t port;                  /* 0: any free port (see http_server_port) */
	unsigned threads;               /* polling threads, ≥ 1 */
	unsigned connection_limit;      /* 0: 10000 */
	unsigned connection_timeout_s;  /* idle connections are closed after this; 0: 300 */
	size_t max_body_bytes;          /* larger request bodies are discarded and answered 403 */
	const char *namespace_name;     /* for Atom entries and error trackers */
	/* Called, outside any lock, when a request created work for the timer thread sooner than
	 * it may expect: a long poll was parked or a message was scheduled. May be NULL. */
	void (*wake)(void *arg);
	void *wake_arg;
	/* Durability `sync`: a successful change is answered only once `journal` has the LSN of its
	 * last record durable (a peek-lock's delivery-count bump and receive-and-delete are answered
	 * at once: at worst they under-count or redeliver after a crash). NULL: answer at once. */
	journal_client *journal;
};

/* Starts listening and serving. LZ_ESYS (bind failure, thread start) or LZ_EINVAL (host does not
 * resolve) with detail; LZ_ENOMEM. */
lz_err http_server_start(core *c, const struct http_config *cfg, http_server **out, struct lz_detail *detail);

/* The bound TCP port (the chosen one when cfg->port was 0). */
uint16_t http_server_port(const http_server *s);

/* Ends the long polls whose real-time wait has passed (204) and those whose client hung up
 * (libmicrohttpd does not watch suspended connections; this keeps a message from being handed
 * to a client that is gone). Returns the clock_monotonic_us() instant at which to call again:
 * the next deadline, at most 250 ms ahead while polls are parked; INT64_MAX if none is. */
int64_t http_server_expire(http_server *s);

/*
 * Stops the server: stops accepting connections, ends parked long polls (204), lets requests in
 * progress finish (at most `grace_ms`), then closes every connection and frees the server.
 * NULL is a no-op.
 */
void http_server_stop(http_server *s, unsigned grace_ms);

#endif
