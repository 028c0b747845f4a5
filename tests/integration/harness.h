/*
 * harness — shared code of the integration tests: the broker process, an HTTP client and small
 * XML / JSON / metrics assertion helpers.
 *
 * Broker: lzb_start() forks the binary named by env LZ_BROKER_BIN with a clean LOCALZURE_*
 * environment (HTTP on 127.0.0.1, random port, durability none, manual clock) plus the caller's
 * extra variables, redirects its stdout/stderr to a file in a fresh mkdtemp() directory, waits
 * (bounded) for the `msg="listening" ... port=N` log line and then for GET /health == 200.
 * The started broker becomes the "current" one that every http_* helper talks to. The broker gets
 * PR_SET_PDEATHSIG(SIGKILL), so it dies with the test process however that ends (check _exit()s a
 * forked test on a failed assertion, or kills it on a timeout); an atexit handler also kills it
 * (CK_FORK=no). Broker directories live under one per-run root that h_run_suite() removes when
 * every test passed and keeps (printing its path) when one failed; each directory is named after
 * its test and holds broker.log. LZ_KEEP_TMP=1 keeps everything.
 *
 * HTTP: libcurl, one easy handle per request, 127.0.0.1 only, never through a proxy, every request
 * with a timeout. Response headers are kept in arrival order; lookups are case-insensitive.
 *
 * Every wait is bounded. Every helper that "must" succeed fails the running check test with a
 * message that includes the response.
 */
#ifndef LZ_TESTS_HARNESS_H
#define LZ_TESTS_HARNESS_H

#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- broker process ----------------------------------------------------------------------- */

struct lzb {
	pid_t pid;          /* 0 when not running */
	int port;
	char dir[320];      /* temp dir (mkdtemp), the broker's cwd */
	char log_path[352]; /* stdout + stderr of the broker */
	char base[64];      /* "http://127.0.0.1:PORT" */
};

/* The broker the http_* helpers talk to (the last one started). */
extern struct lzb *lzb_cur;
/* Name for the next broker's temp directory (BROKER_START sets it to the test's name). */
extern const char *lzb_label;

/* Starts a broker; `extra_env` is a NULL-terminated list (may be NULL) of "KEY=VALUE" entries
 * added after the defaults (so they override them) or "KEY" alone to remove a variable.
 * Fails the current test when the broker does not come up. */
void lzb_start(struct lzb *b, const char *const *extra_env);
/* Same, returning 0 or -1 with a reason in `err`. */
int lzb_try_start(struct lzb *b, const char *const *extra_env, char *err, size_t errcap);
/* SIGTERM, bounded wait (10 s), SIGKILL if still alive; removes the temp dir. Returns the
 * waitpid status, or -1 if the process had to be killed with SIGKILL / was not running. */
int lzb_stop(struct lzb *b);
/* lzb_stop() that fails the test unless the broker exited with status 0 (this catches crashes
 * and sanitizer reports at shutdown); the failure message carries the log tail. */
void lzb_stop_clean(struct lzb *b);
/* SIGKILL and reap; removes the temp dir. */
void lzb_kill9(struct lzb *b);
/* The broker's log so far (malloc'd, "" if unreadable). */
char *lzb_log(const struct lzb *b);

/* Runs the broker with `extra_env` expecting it to exit by itself within `timeout_ms`.
 * Returns 0 and fills *wstatus and *log (malloc'd) when it exited; -1 when it was still running
 * (it is then killed; *log still filled). */
int lzb_run_to_exit(const char *const *extra_env, int timeout_ms, int *wstatus, char **log);

/* Start/stop the current test's broker with default settings. */
#define BROKER_START()                                                        \
	struct lzb broker_ = { 0 };                                           \
	do {                                                                  \
		lzb_label = __func__;                                         \
		lzb_start(&broker_, NULL);                                    \
	} while (0)
#define BROKER_START_ENV(...)                                                 \
	struct lzb broker_ = { 0 };                                           \
	do {                                                                  \
		const char *const env_[] = { __VA_ARGS__, NULL };            \
		lzb_label = __func__;                                         \
		lzb_start(&broker_, env_);                                    \
	} while (0)
#define BROKER_STOP() lzb_stop_clean(&broker_)

/* Sleeps `ms` real milliseconds (for readiness polling only, never to wait for a timer). */
void h_sleep_ms(long ms);
/* Real monotonic milliseconds. */
int64_t h_mono_ms(void);

/* printf into one of 16 rotating thread-local buffers of 4 KiB (no free needed). */
const char *sfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- HTTP -------------------------------------------------------------------------------- */

struct http_hdr {
	char *name;
	char *value;
};

struct http_resp {
	long status;        /* 0: transport error (see err) */
	char *body;         /* always NUL-terminated (may hold NULs before len) */
	size_t len;
	struct http_hdr *hdrs;
	size_t nhdrs;
	char err[512];
};

void http_resp_free(struct http_resp *r);
/* Case-insensitive header lookup; NULL if absent. */
const char *http_header(const struct http_resp *r, const char *name);

/*
 * One request to the current broker. `path` starts with '/' (or is an absolute http URL).
 * `body` may be NULL (no body); `ctype` NULL sends no Content-Type; `headers` is a
 * NULL-terminated list of "Name: value" lines (may be NULL). `timeout_ms` 0 = 15 s.
 * `out` may be NULL. Returns the status (0 on transport failure).
 */
long http_request(const char *method, const char *path, const void *body, size_t len, const char *ctype,
		  const char *const *headers, long timeout_ms, struct http_resp *out);
long http_get(const char *path, struct http_resp *out);
long http_delete(const char *path, struct http_resp *out);
/* Atom PUT (Content-Type application/atom+xml), with `If-Match: *` when if_match. */
long http_put_xml(const char *path, const char *xml, bool if_match, struct http_resp *out);
long http_put(const char *path, const void *body, size_t len, const char *ctype, const char *const *headers,
	      struct http_resp *out);
long http_post(const char *path, const void *body, size_t len, const char *ctype, const char *const *headers,
	       struct http_resp *out);
/* POST with a NUL-terminated string body (or "" when NULL). */
long http_post_str(const char *path, const char *body, const char *ctype, const char *const *headers,
		   struct http_resp *out);

/* A short description of a response for failure messages (thread-local buffer). */
const char *http_desc(const struct http_resp *r);

#define CK_STATUS(r, expected)                                                                    \
	ck_assert_msg((r)->status == (expected), "expected HTTP %ld, got %s", (long)(expected), http_desc(r))

/* A request running in its own thread (long polls). */
struct http_async {
	char method[16];
	char url[1024];
	long timeout_ms;
	struct http_resp resp;
	int64_t elapsed_ms;   /* real time the request took */
	volatile int done;    /* set (atomically) when the response is in */
	unsigned long thread; /* pthread_t */
};
/* Starts `method path` against the current broker in a new thread (curl timeout `timeout_ms`). */
void http_async_start(struct http_async *a, const char *method, const char *path, long timeout_ms);
bool http_async_done(struct http_async *a);
/* Waits at most `bound_ms` for the response; fails the test if it does not come; joins. */
void http_async_wait(struct http_async *a, long bound_ms);

/* ---- XML --------------------------------------------------------------------------------- */

/* Text of the n-th (0-based) element whose local name (prefix ignored) is `name`; entities
 * decoded; "" for an empty / self-closing element; NULL when absent. malloc'd. */
char *xml_text_n(const char *xml, const char *name, size_t n);
char *xml_text(const char *xml, const char *name);
/* Number of start tags with local name `name`. */
size_t xml_count(const char *xml, const char *name);
/* Value of attribute `attr` (local name, prefix ignored) of the first element `elem`; malloc'd. */
char *xml_attr(const char *xml, const char *elem, const char *attr);
/* The n-th <entry> (0-based) of a feed, as a malloc'd copy of its text; NULL if absent. */
char *xml_entry_n(const char *xml, size_t n);
/* <title> of the n-th entry of a feed; malloc'd; NULL if absent. */
char *xml_entry_title(const char *xml, size_t n);

#define CK_XML_EQ(xml, name, expected)                                                            \
	do {                                                                                      \
		char *xt_ = xml_text((xml), (name));                                              \
		ck_assert_msg(xt_ != NULL && strcmp(xt_, (expected)) == 0,                       \
			      "<%s>: expected '%s', got '%s' in %.3000s", (name), (expected),     \
			      xt_ ? xt_ : "(absent)", (xml));                                    \
		free(xt_);                                                                        \
	} while (0)

/* ---- JSON -------------------------------------------------------------------------------- */

/* The body parsed as JSON (NULL when it is not JSON); caller json_decref()s. */
json_t *http_json(const struct http_resp *r);
/* The BrokerProperties header parsed as a JSON object; NULL when absent or not JSON. */
json_t *resp_bp(const struct http_resp *r);

/* Integer member of a JSON object (also accepts a real with an integral value); *ok false when
 * absent or not a number. */
int64_t jint(const json_t *o, const char *key, bool *ok);
/* String member; NULL when absent or not a string. */
const char *jstr(const json_t *o, const char *key);

#define CK_J_INT(obj, key, expected)                                                              \
	do {                                                                                      \
		bool jok_;                                                                        \
		int64_t jv_ = jint((obj), (key), &jok_);                                          \
		char *jd_ = (obj) ? json_dumps((obj), JSON_COMPACT) : NULL;                       \
		ck_assert_msg(jok_ && jv_ == (int64_t)(expected), "%s: expected %lld in %s", (key), \
			      (long long)(expected), jd_ ? jd_ : "(null)");                      \
		free(jd_);                                                                        \
	} while (0)
#define CK_J_STR(obj, key, expected)                                                              \
	do {                                                                                      \
		const char *js_ = jstr((obj), (key));                                             \
		char *jd_ = (obj) ? json_dumps((obj), JSON_COMPACT) : NULL;                       \
		ck_assert_msg(js_ != NULL && strcmp(js_, (expected)) == 0, "%s: expected \"%s\" in %s", \
			      (key), (expected), jd_ ? jd_ : "(null)");                          \
		free(jd_);                                                                        \
	} while (0)
#define CK_BP_INT(resp, key, expected)                                                            \
	do {                                                                                      \
		json_t *bpi_ = resp_bp(resp);                                                     \
		ck_assert_msg(bpi_ != NULL, "no/invalid BrokerProperties: %s", http_desc(resp));  \
		CK_J_INT(bpi_, key, expected);                                                    \
		json_decref(bpi_);                                                                \
	} while (0)
#define CK_BP_STR(resp, key, expected)                                                            \
	do {                                                                                      \
		json_t *bps_ = resp_bp(resp);                                                     \
		ck_assert_msg(bps_ != NULL, "no/invalid BrokerProperties: %s", http_desc(resp));  \
		CK_J_STR(bps_, key, expected);                                                    \
		json_decref(bps_);                                                                \
	} while (0)

/* Base64 decode of a NUL-terminated string; malloc'd, NUL-terminated; NULL on bad input. */
unsigned char *b64_decode(const char *s, size_t *len);

/* ---- entities ---------------------------------------------------------------------------- */

#define NS_SB "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_XSD "http://www.w3.org/2001/XMLSchema"

/* An Atom entry wrapping <`desc`>inner</`desc`> (malloc'd). */
char *atom_entry(const char *desc, const char *inner);

/* PUT of a queue / topic / subscription / rule with `inner` XML inside the description element
 * (NULL or "" for defaults). Return the status; `out` may be NULL. */
long put_queue(const char *name, const char *inner, bool update, struct http_resp *out);
long put_topic(const char *name, const char *inner, bool update, struct http_resp *out);
long put_sub(const char *topic, const char *sub, const char *inner, bool update, struct http_resp *out);
/* `inner` = <Filter ...>...</Filter>[<Action .../>]; the <Name> is appended. */
long put_rule(const char *topic, const char *sub, const char *rule, const char *inner, bool update,
	      struct http_resp *out);

/* Create-or-fail shorthands (expect 201). */
void mk_queue(const char *name, const char *inner);
void mk_topic(const char *name, const char *inner);
void mk_sub(const char *topic, const char *sub, const char *inner);
void mk_rule(const char *topic, const char *sub, const char *rule, const char *inner);
/* Deletes a rule, expecting 200. */
void rm_rule(const char *topic, const char *sub, const char *rule);

/* A correlation rule filter on user property `key` == string `value` (static buffer via sfmt). */
const char *corr_filter_prop(const char *key, const char *value);

/* GETs `path` (expects 200) and returns the count element `name` (e.g. "ActiveMessageCount",
 * "MessageCount"); fails the test when absent. */
int64_t entity_count(const char *path, const char *name);

/* ---- messages ---------------------------------------------------------------------------- */

/* POST {entity}/messages with a string body; `bp` = BrokerProperties JSON or NULL; `user` =
 * NULL-terminated "Name: value" header lines or NULL. Returns the status. */
long send_msg(const char *entity, const char *body, const char *ctype, const char *bp, const char *const *user,
	      struct http_resp *out);
/* Same, expecting 201. */
void send_ok(const char *entity, const char *body, const char *bp);

/* POST {r}/messages/head?timeout=0 (peek-lock) and DELETE {r}/messages/head?timeout=0. */
long recv_lock(const char *r, struct http_resp *out);
long recv_del(const char *r, struct http_resp *out);
/* Receive-and-delete expecting 200 and body `body`; returns the SequenceNumber. */
int64_t recv_del_body(const char *r, const char *body);
/* Peek-lock expecting 201 and body `body`; fills *out (caller frees); returns the SequenceNumber. */
int64_t recv_lock_body(const char *r, const char *body, struct http_resp *out);
/* Expects 204 from a receive-and-delete. */
void recv_empty(const char *r);

/* The path part of the Location header ("/q/messages/1/<lock>"); malloc'd; NULL if absent. */
char *lock_path(const struct http_resp *locked);
/* Complete (DELETE), abandon (PUT) and renew (POST) on the lock path of a peek-locked reply. */
long complete_msg(const struct http_resp *locked);
long abandon_msg(const struct http_resp *locked);
long renew_msg(const struct http_resp *locked);

/* User property header of a received message with surrounding double quotes removed
 * (malloc'd; NULL if absent). `quoted` (may be NULL) tells whether it was quoted. */
char *user_prop(const struct http_resp *r, const char *name, bool *quoted);

#define CK_UPROP(resp, name, expected, want_quoted)                                               \
	do {                                                                                      \
		bool uq_ = false;                                                                 \
		char *uv_ = user_prop((resp), (name), &uq_);                                      \
		ck_assert_msg(uv_ != NULL && strcmp(uv_, (expected)) == 0,                       \
			      "user property %s: expected %s, got %s; %s", (name), (expected),    \
			      uv_ ? uv_ : "(absent)", http_desc(resp));                           \
		ck_assert_msg(uq_ == (want_quoted), "user property %s: quoting expected %d; raw %s", \
			      (name), (int)(want_quoted), http_header((resp), (name)));           \
		free(uv_);                                                                        \
	} while (0)

/* ---- emulator endpoints ------------------------------------------------------------------ */

/* GET /$emulator/state: the broker's full canonical state dump (malloc'd; fails the test unless
 * 200). Two equal dumps mean equal states, across restarts too (locks are not in it). */
char *h_state_dump(void);
/* GET /$emulator/clock → NowMs (fails the test unless 200). */
int64_t emu_now_ms(void);
/* POST /$emulator/clock/advance?ms=N, expecting 200 and NowMs == before + ms; returns NowMs. */
int64_t emu_advance_ms(int64_t ms);
/* GET /$emulator/{r}/messages?from=&max= expecting 200 and a JSON array (caller decrefs). */
json_t *emu_peek(const char *r, int64_t from, int max);
/* Body of a peeked/deferred message object (base64 "Body" decoded; malloc'd). */
char *emu_body(const json_t *msg);

/* RFC 1123 text of `ms` (thread-local buffer). */
const char *rfc1123(int64_t ms);

/* ---- metrics ----------------------------------------------------------------------------- */

/* Value of the sample `name` whose labels include every "key=\"value\"" of `labels`
 * (NULL-terminated, may be NULL); *found false when none. */
double metric_value(const char *text, const char *name, const char *const *labels, bool *found);
/* Sum of every sample of `name` (any labels); *found false when none. */
double metric_sum(const char *text, const char *name, bool *found);

/* ---- suite runner ------------------------------------------------------------------------ */

/* Runs `s` (CK_FORK unless the environment says otherwise) and returns the process exit code.
 * Every tcase should be created with h_tcase() (per-test timeout 60 s). */
int h_run_suite(Suite *s);
TCase *h_tcase(const char *name);

#endif
