/*
 * cmd_entity — entity helpers for people at a terminal, through the broker's HTTP API:
 *   queue|topic create|list|show|delete, subscription create|list|show|delete TOPIC ...,
 *   send, receive, peek.
 *
 * The broker: --url http://HOST:PORT, else http://<http_host>:<http_port> from the
 * configuration (0.0.0.0 and :: mean the local host). Every request is bounded by --timeout
 * seconds (default 10); receive's --timeout is how long to wait for a message, and its request
 * is bounded by that plus ENT_TIMEOUT_GRACE_S.
 *
 * Arguments are checked before anything is sent: a wrong argument is a usage error (CLI_EUSAGE)
 * and no request goes out. Responses are read with expat (Atom entries, feeds, <Error> bodies)
 * and jansson (BrokerProperties, the emulator's peek JSON).
 *
 * Exit codes of HTTP failures (documented in docs/operations.md):
 *   404, 410   CLI_ENOTFOUND   no such entity (410 is the data plane's answer)
 *   409        CLI_EREFUSED    already exists
 *   403        CLI_EREFUSED    entity disabled, full, or message too large
 *   400        CLI_EUSAGE      the broker refused a value given (name, duration, property):
 *                              like a usage error, nothing was changed
 *   other      CLI_EFAIL       5xx and anything unexpected
 *   no answer  CLI_EUNREACHABLE connection refused, name not resolved, timeout
 * The error's <Detail> text (without its TrackingId suffix) is printed.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <expat.h>

#include "common/duration.h"
#include "common/strbuf.h"
#include "common/value.h"
#include "persistd/cli/commands.h"

#define ENT_URL_MAX 512
#define ENT_TIMEOUT_DEFAULT_S 10
#define ENT_TIMEOUT_MAX_S 86400
#define ENT_TIMEOUT_GRACE_S 10          /* receive: request bound beyond the wait */
#define ENT_REPLY_MAX (64u * 1024u * 1024u) /* bigger responses are refused, not buffered */
#define ENT_BODY_MAX (64u * 1024u * 1024u)  /* bigger message bodies are refused before sending */
#define ENT_PROPERTIES_MAX 64
#define ENT_COUNT_MAX 10000

#define NS_ATOM "http://www.w3.org/2005/Atom"
#define NS_SB "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"

/* ---- options ------------------------------------------------------------------------------ */

/* Which commands accept an option. */
enum ent_cmd {
	CMD_QUEUE_CREATE = 1u << 0,
	CMD_TOPIC_CREATE = 1u << 1,
	CMD_SUB_CREATE = 1u << 2,
	CMD_LIST = 1u << 3,
	CMD_SHOW = 1u << 4,
	CMD_DELETE = 1u << 5,
	CMD_SEND = 1u << 6,
	CMD_RECEIVE = 1u << 7,
	CMD_PEEK = 1u << 8,
};

#define CMD_CREATE (CMD_QUEUE_CREATE | CMD_TOPIC_CREATE | CMD_SUB_CREATE)
#define CMD_ALL 0x1ffu

enum ent_kind { KIND_QUEUE, KIND_TOPIC, KIND_SUB };

/* How an entity property option's value is checked and written. */
enum ent_value {
	VAL_NONE,     /* not an entity property */
	VAL_DURATION, /* xs:duration ("PT30S") */
	VAL_INT,      /* a positive integer */
	VAL_FLAG,     /* no value: the element is written "true" */
	VAL_STATUS,   /* Active, Disabled, SendDisabled, ReceiveDisabled */
	VAL_NAME,     /* an entity name (ForwardTo) */
	VAL_TEXT,     /* any text (UserMetadata) */
};

enum ent_opt {
	O_URL, O_TIMEOUT,
	O_BODY, O_FILE, O_PROPERTY, O_LABEL, O_MESSAGE_ID, O_TTL, O_CORRELATION_ID, O_SESSION_ID,
	O_CONTENT_TYPE,
	O_PEEK_LOCK, O_COMPLETE, O_COUNT, O_FROM_SEQ,
	O_LOCK_DURATION, O_MAX_SIZE, O_DUP_DETECTION, O_REQUIRES_SESSION, O_DEFAULT_TTL,
	O_DL_ON_EXPIRATION, O_DUP_WINDOW, O_MAX_DELIVERY, O_STATUS, O_AUTO_DELETE, O_FORWARD_TO,
	O_FORWARD_DLQ_TO, O_USER_METADATA,
	O_COUNT_OF_OPTS
};

static const struct ent_opt_spec {
	const char *name;
	bool takes_value;
	unsigned cmds;
	const char *elem;      /* the description element of an entity property option */
	enum ent_value check;
} ent_opts[O_COUNT_OF_OPTS] = {
	[O_URL] = { "--url", true, CMD_ALL, NULL, VAL_NONE },
	[O_TIMEOUT] = { "--timeout", true, CMD_ALL, NULL, VAL_NONE },
	[O_BODY] = { "--body", true, CMD_SEND, NULL, VAL_NONE },
	[O_FILE] = { "--file", true, CMD_SEND, NULL, VAL_NONE },
	[O_PROPERTY] = { "--property", true, CMD_SEND, NULL, VAL_NONE },
	[O_LABEL] = { "--label", true, CMD_SEND, NULL, VAL_NONE },
	[O_MESSAGE_ID] = { "--message-id", true, CMD_SEND, NULL, VAL_NONE },
	[O_TTL] = { "--ttl", true, CMD_SEND, NULL, VAL_NONE },
	[O_CORRELATION_ID] = { "--correlation-id", true, CMD_SEND, NULL, VAL_NONE },
	[O_SESSION_ID] = { "--session-id", true, CMD_SEND, NULL, VAL_NONE },
	[O_CONTENT_TYPE] = { "--content-type", true, CMD_SEND, NULL, VAL_NONE },
	[O_PEEK_LOCK] = { "--peek-lock", false, CMD_RECEIVE, NULL, VAL_NONE },
	[O_COMPLETE] = { "--complete", false, CMD_RECEIVE, NULL, VAL_NONE },
	[O_COUNT] = { "--count", true, CMD_RECEIVE | CMD_PEEK, NULL, VAL_NONE },
	[O_FROM_SEQ] = { "--from-seq", true, CMD_PEEK, NULL, VAL_NONE },
	[O_LOCK_DURATION] = { "--lock-duration", true, CMD_QUEUE_CREATE | CMD_SUB_CREATE, "LockDuration",
			      VAL_DURATION },
	[O_MAX_SIZE] = { "--max-size-mb", true, CMD_QUEUE_CREATE | CMD_TOPIC_CREATE, "MaxSizeInMegabytes",
			 VAL_INT },
	[O_DUP_DETECTION] = { "--requires-duplicate-detection", false, CMD_QUEUE_CREATE | CMD_TOPIC_CREATE,
			      "RequiresDuplicateDetection", VAL_FLAG },
	[O_REQUIRES_SESSION] = { "--requires-session", false, CMD_QUEUE_CREATE | CMD_SUB_CREATE,
				 "RequiresSession", VAL_FLAG },
	[O_DEFAULT_TTL] = { "--default-ttl", true, CMD_CREATE, "DefaultMessageTimeToLive", VAL_DURATION },
	[O_DL_ON_EXPIRATION] = { "--dead-lettering-on-expiration", false, CMD_QUEUE_CREATE | CMD_SUB_CREATE,
				 "DeadLetteringOnMessageExpiration", VAL_FLAG },
	[O_DUP_WINDOW] = { "--duplicate-window", true, CMD_QUEUE_CREATE | CMD_TOPIC_CREATE,
			   "DuplicateDetectionHistoryTimeWindow", VAL_DURATION },
	[O_MAX_DELIVERY] = { "--max-delivery-count", true, CMD_QUEUE_CREATE | CMD_SUB_CREATE,
			     "MaxDeliveryCount", VAL_INT },
	[O_STATUS] = { "--status", true, CMD_CREATE, "Status", VAL_STATUS },
	[O_AUTO_DELETE] = { "--auto-delete-on-idle", true, CMD_CREATE, "AutoDeleteOnIdle", VAL_DURATION },
	[O_FORWARD_TO] = { "--forward-to", true, CMD_QUEUE_CREATE | CMD_SUB_CREATE, "ForwardTo", VAL_NAME },
	[O_FORWARD_DLQ_TO] = { "--forward-dead-lettered-to", true, CMD_QUEUE_CREATE | CMD_SUB_CREATE,
			       "ForwardDeadLetteredMessagesTo", VAL_NAME },
	[O_USER_METADATA] = { "--user-metadata", true, CMD_CREATE, "UserMetadata", VAL_TEXT },
};

/* The order in which Azure writes (and its DataContract serializer expects) the elements. */
static const enum ent_opt ent_order_queue[] = {
	O_LOCK_DURATION, O_MAX_SIZE, O_DUP_DETECTION, O_REQUIRES_SESSION, O_DEFAULT_TTL,
	O_DL_ON_EXPIRATION, O_DUP_WINDOW, O_MAX_DELIVERY, O_STATUS, O_AUTO_DELETE, O_FORWARD_TO,
	O_FORWARD_DLQ_TO, O_USER_METADATA,
};
static const enum ent_opt ent_order_topic[] = {
	O_DEFAULT_TTL, O_MAX_SIZE, O_DUP_DETECTION, O_DUP_WINDOW, O_STATUS, O_USER_METADATA,
	O_AUTO_DELETE,
};
static const enum ent_opt ent_order_sub[] = {
	O_LOCK_DURATION, O_REQUIRES_SESSION, O_DEFAULT_TTL, O_DL_ON_EXPIRATION, O_MAX_DELIVERY,
	O_STATUS, O_FORWARD_TO, O_USER_METADATA, O_FORWARD_DLQ_TO, O_AUTO_DELETE,
};

/* A parsed command line. */
struct ent_args {
	const char *val[O_COUNT_OF_OPTS]; /* the last value of each option; "" for a given flag */
	const char *props[ENT_PROPERTIES_MAX]; /* every --property k=v */
	size_t nprops;
	const char *pos[3];
	int npos;
};

/* One invocation's connection to the broker. */
struct ent {
	struct cli *c;
	char base[ENT_URL_MAX]; /* "http://127.0.0.1:5300", no trailing slash */
	long timeout_s;
};

/* Parses argv for command `cmd` taking exactly `npos` positionals named `pos_names` (for
 * messages). CLI_OK or the usage error already reported. */
static int ent_args_parse(struct cli *c, unsigned cmd, int argc, char **argv, int npos,
			  const char *pos_names, struct ent_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *value = NULL;
		size_t k, len = 0;

		if (arg[0] != '-' || arg[1] == '\0') {
			if (a->npos == npos || a->npos == (int)(sizeof(a->pos) / sizeof(a->pos[0])))
				return cli_usage(c, "unexpected argument '%s' (wants %s)", arg,
						 pos_names[0] ? pos_names : "no arguments");
			a->pos[a->npos++] = arg;
			continue;
		}
		for (k = 0; k < O_COUNT_OF_OPTS; k++) {
			len = strlen(ent_opts[k].name);
			if (strncmp(arg, ent_opts[k].name, len) == 0 && (arg[len] == '\0' || arg[len] == '='))
				break;
		}
		if (k == O_COUNT_OF_OPTS || !(ent_opts[k].cmds & cmd))
			return cli_usage(c, "unknown option '%s'", arg);
		if (!ent_opts[k].takes_value) {
			if (arg[len] == '=')
				return cli_usage(c, "%s takes no value", ent_opts[k].name);
			a->val[k] = "";
			continue;
		}
		if (arg[len] == '=')
			value = arg + len + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return cli_usage(c, "%s needs a value", ent_opts[k].name);
		if (k == O_PROPERTY) {
			if (a->nprops == ENT_PROPERTIES_MAX)
				return cli_usage(c, "at most %d --property options", ENT_PROPERTIES_MAX);
			a->props[a->nprops++] = value;
		}
		a->val[k] = value;
	}
	if (a->npos < npos)
		return cli_usage(c, "missing argument: wants %s", pos_names);
	return CLI_OK;
}

/* A decimal integer in [min, max] with nothing after it. */
static bool ent_int_parse(const char *s, long long min, long long max, long long *out)
{
	long long v;
	char *end;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Entity names: letters, digits, '.', '-', '_', and '/' between path segments when
 * `slash`; '$' too for receive/peek paths ($DeadLetterQueue). */
static bool ent_name_ok(const char *s, bool slash, bool dollar)
{
	size_t n = strlen(s);

	if (n == 0 || n > 260 || s[0] == '/' || s[n - 1] == '/')
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_')
			continue;
		if ((*p == '/' && slash && p[1] != '/') || (*p == '$' && dollar))
			continue;
		return false;
	}
	return true;
}

/* Fills e->base and e->timeout_s from --url / --timeout or the configuration. */
static int ent_connect_setup(struct cli *c, const struct ent_args *a, bool receive, struct ent *e)
{
	long long t = ENT_TIMEOUT_DEFAULT_S;
	int n;

	e->c = c;
	if (a->val[O_TIMEOUT] != NULL &&
	    !ent_int_parse(a->val[O_TIMEOUT], receive ? 0 : 1, ENT_TIMEOUT_MAX_S, &t))
		return cli_usage(c, "--timeout wants whole seconds, %d..%d, not '%s'", receive ? 0 : 1,
				 ENT_TIMEOUT_MAX_S, a->val[O_TIMEOUT]);
	e->timeout_s = (long)t;
	if (a->val[O_URL] != NULL) {
		const char *u = a->val[O_URL];
		size_t len = strlen(u);

		if ((strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
		    len >= sizeof(e->base) || strpbrk(u, " \t\r\n?#") != NULL ||
		    u[strncmp(u, "http://", 7) == 0 ? 7 : 8] == '\0')
			return cli_usage(c, "--url wants http://HOST:PORT, not '%s'", u);
		memcpy(e->base, u, len + 1);
		while (len > 0 && e->base[len - 1] == '/')
			e->base[--len] = '\0';
		return CLI_OK;
	}
	if (c->cfg.http_port == 0)
		return cli_usage(c, "http_port is 0 (any free port) in the configuration: pass --url "
				 "http://HOST:PORT with the port the broker logged");
	if (strcmp(c->cfg.http_host, "0.0.0.0") == 0 || c->cfg.http_host[0] == '\0')
		n = snprintf(e->base, sizeof(e->base), "http://127.0.0.1:%u", c->cfg.http_port);
	else if (strcmp(c->cfg.http_host, "::") == 0 || strcmp(c->cfg.http_host, "[::]") == 0)
		n = snprintf(e->base, sizeof(e->base), "http://[::1]:%u", c->cfg.http_port);
	else if (strchr(c->cfg.http_host, ':') != NULL && c->cfg.http_host[0] != '[')
		n = snprintf(e->base, sizeof(e->base), "http://[%s]:%u", c->cfg.http_host, c->cfg.http_port);
	else
		n = snprintf(e->base, sizeof(e->base), "http://%s:%u", c->cfg.http_host, c->cfg.http_port);
	if (n < 0 || (size_t)n >= sizeof(e->base))
		return cli_usage(c, "http_host in the configuration is too long");
	return CLI_OK;
}

/* ---- HTTP --------------------------------------------------------------------------------- */

struct ent_reply {
	long status;
	struct strbuf body;
	json_t *headers; /* [[name, value], ...] in arrival order (the last response's only) */
	bool too_big;
};

static void ent_reply_release(struct ent_reply *r)
{
	strbuf_release(&r->body);
	json_decref(r->headers);
	r->headers = NULL;
}

static size_t ent_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct ent_reply *r = arg;

	if (r->body.len + n > ENT_REPLY_MAX) {
		r->too_big = true;
		return 0;
	}
	if (strbuf_add(&r->body, p, n) != LZ_OK)
		return 0;
	return size * n;
}

static size_t ent_header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct ent_reply *r = arg;
	size_t len = size * n, nl, vs;
	const char *colon = memchr(p, ':', len);
	json_t *pair;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue): forget the previous one's headers. */
		json_array_clear(r->headers);
		return len;
	}
	if (colon == NULL)
		return len;
	nl = (size_t)(colon - p);
	vs = nl + 1;
	while (vs < len && (p[vs] == ' ' || p[vs] == '\t'))
		vs++;
	while (len > vs && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
		len--;
	pair = json_pack("[s#, s#]", p, (int)nl, p + vs, (int)(len - vs));
	/* A header that is not UTF-8 is left out rather than failing (and, for a
	 * receive-and-delete, losing) the message. */
	if (pair != NULL && json_array_append_new(r->headers, pair) != 0)
		return 0;
	return size * n;
}

/* Case-insensitive lookup in a reply's headers; NULL when absent. */
static const char *ent_header(const struct ent_reply *r, const char *name)
{
	size_t i;
	json_t *h;

	json_array_foreach(r->headers, i, h)
		if (strcasecmp(json_string_value(json_array_get(h, 0)), name) == 0)
			return json_string_value(json_array_get(h, 1));
	return NULL;
}

/*
 * One request: `method` on e->base + `path` (starts with '/'), optional body with `headers` (a
 * curl list, may be NULL; requests with a body add "Expect:" so that curl never waits for a
 * 100 Continue), bounded by `timeout_s`. Fills *r (release it in every case). Returns CLI_OK
 * when an HTTP answer came (any status), else the failure, reported.
 */
static int ent_request(struct ent *e, const char *method, const char *path, struct curl_slist *headers,
		       const void *body, size_t len, long timeout_s, struct ent_reply *r)
{
	char url[ENT_URL_MAX * 2], errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	CURL *curl;
	int rc = CLI_OK, n;

	memset(r, 0, sizeof(*r));
	strbuf_init(&r->body);
	r->headers = json_array();
	n = snprintf(url, sizeof(url), "%s%s", e->base, path);
	if (r->headers == NULL || n < 0 || (size_t)n >= sizeof(url))
		return cli_fail(e->c, CLI_EFAIL, "out of memory or URL too long for %s", path);
	curl = curl_easy_init();
	if (curl == NULL)
		return cli_fail(e->c, CLI_EFAIL, "cannot initialise libcurl");
	if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*") != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ent_write_cb) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ent_header_cb) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r) != CURLE_OK ||
	    (headers != NULL && curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK) ||
	    (body != NULL && (curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
			      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) != CURLE_OK))) {
		rc = cli_fail(e->c, CLI_EFAIL, "cannot set up the request to %s", url);
		goto out_cleanup_curl;
	}
	cc = curl_easy_perform(curl);
	if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
	    cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR ||
	    cc == CURLE_SEND_ERROR) {
		rc = cli_fail(e->c, CLI_EUNREACHABLE,
			      "cannot reach the broker at %s: %s (is it running? pass --url http://HOST:PORT, "
			      "or set http_host/http_port)",
			      e->base, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	} else if (cc != CURLE_OK) {
		rc = cli_fail(e->c, CLI_EFAIL, "%s %s: %s", method, url,
			      r->too_big ? "response too large" : errbuf[0] ? errbuf : curl_easy_strerror(cc));
	} else if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status) != CURLE_OK) {
		rc = cli_fail(e->c, CLI_EFAIL, "%s %s: no status code", method, url);
	}
out_cleanup_curl:
	curl_easy_cleanup(curl);
	return rc;
}

/* Appends `line` to *list; false when out of memory (the list is kept as it was). */
static bool ent_header_add(struct curl_slist **list, const char *line)
{
	struct curl_slist *next = curl_slist_append(*list, line);

	if (next == NULL)
		return false;
	*list = next;
	return true;
}

/* ---- XML (expat) -------------------------------------------------------------------------- */

/* What is being collected from the element currently open. */
enum ent_capture { CAP_NONE, CAP_TITLE, CAP_PROP, CAP_COUNT, CAP_DETAIL };

/* Entries of an Atom entry or feed, or an <Error>'s Detail. */
struct ent_xml {
	json_t *entries;    /* [{"name", "kind", "properties": {}, "counts": {}}] */
	json_t *cur;        /* the entry being read (borrowed from entries) */
	bool is_error;
	struct strbuf detail;
	int depth;
	int entry_depth, desc_depth; /* 0: not inside one */
	char child[64];     /* the description's child element being read */
	enum ent_capture cap;
	int cap_depth;
	char cap_name[64];
	struct strbuf text;
	bool oom;
};

/* The local part of an expat name "uri local" (namespace separator ' '). */
static const char *ent_xml_local(const char *name, bool *is_ns, const char *ns)
{
	const char *sp = strrchr(name, ' ');

	if (is_ns != NULL)
		*is_ns = sp != NULL && (size_t)(sp - name) == strlen(ns) && strncmp(name, ns, strlen(ns)) == 0;
	return sp != NULL ? sp + 1 : name;
}

static void ent_xml_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct ent_xml *x = arg;
	bool atom, sb;
	const char *local = ent_xml_local(name, &atom, NS_ATOM);

	(void)attrs;
	(void)ent_xml_local(name, &sb, NS_SB);
	x->depth++;
	if (x->depth == 1 && strcmp(local, "Error") == 0) {
		x->is_error = true;
		return;
	}
	if (x->is_error && x->depth == 2 && strcmp(local, "Detail") == 0) {
		x->cap = CAP_DETAIL;
		x->cap_depth = x->depth;
		return;
	}
	if (atom && strcmp(local, "entry") == 0 && x->entry_depth == 0) {
		json_t *o = json_pack("{s:s, s:s, s:{}, s:{}}", "name", "", "kind", "", "properties", "counts");

		if (o == NULL || json_array_append_new(x->entries, o) != 0) {
			x->oom = true;
			return;
		}
		x->cur = o;
		x->entry_depth = x->depth;
		return;
	}
	if (x->cur == NULL)
		return;
	if (atom && x->depth == x->entry_depth + 1 && strcmp(local, "title") == 0) {
		x->cap = CAP_TITLE;
	} else if (sb && x->depth == x->entry_depth + 2 && x->desc_depth == 0) {
		/* <content><QueueDescription|TopicDescription|SubscriptionDescription> */
		x->desc_depth = x->depth;
		json_object_set_new(x->cur, "kind", json_string(local));
		return;
	} else if (x->desc_depth != 0 && x->depth == x->desc_depth + 1) {
		snprintf(x->child, sizeof(x->child), "%s", local);
		x->cap = CAP_PROP;
	} else if (x->desc_depth != 0 && x->depth == x->desc_depth + 2 && strcmp(x->child, "CountDetails") == 0) {
		x->cap = CAP_COUNT;
	} else {
		return;
	}
	x->cap_depth = x->depth;
	snprintf(x->cap_name, sizeof(x->cap_name), "%s", local);
	strbuf_reset(&x->text);
}

/* Element values that stay text in --json even when they look like numbers. */
static bool ent_prop_is_text(const char *name)
{
	return strcmp(name, "UserMetadata") == 0 || strcmp(name, "ForwardTo") == 0 ||
	       strcmp(name, "ForwardDeadLetteredMessagesTo") == 0;
}

/* A property value for --json: booleans and integers typed, the rest text. */
static json_t *ent_prop_json(const char *name, const char *text)
{
	long long v;

	if (!ent_prop_is_text(name)) {
		if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
			return json_boolean(text[0] == 't');
		if (ent_int_parse(text, LLONG_MIN, LLONG_MAX, &v))
			return json_integer(v);
	}
	return json_string(text);
}

static void ent_xml_end(void *arg, const XML_Char *name)
{
	struct ent_xml *x = arg;
	const char *text;

	(void)name;
	if (x->cap != CAP_NONE && x->depth == x->cap_depth) {
		if (x->cap == CAP_DETAIL) {
			x->cap = CAP_NONE;
			x->depth--;
			return;
		}
		text = strbuf_cstr(&x->text);
		if (x->cap == CAP_TITLE && json_object_set_new(x->cur, "name", json_string(text)) != 0)
			x->oom = true;
		if (x->cap == CAP_PROP && x->text.len > 0 &&
		    json_object_set_new(json_object_get(x->cur, "properties"), x->cap_name,
					ent_prop_json(x->cap_name, text)) != 0)
			x->oom = true;
		if (x->cap == CAP_COUNT &&
		    json_object_set_new(json_object_get(x->cur, "counts"), x->cap_name,
					ent_prop_json(x->cap_name, text)) != 0)
			x->oom = true;
		x->cap = CAP_NONE;
	}
	if (x->depth == x->desc_depth)
		x->desc_depth = 0;
	if (x->depth == x->entry_depth) {
		x->entry_depth = 0;
		x->cur = NULL;
	}
	x->depth--;
}

static void ent_xml_text(void *arg, const XML_Char *s, int len)
{
	struct ent_xml *x = arg;
	struct strbuf *b = x->cap == CAP_DETAIL ? &x->detail : &x->text;

	if (x->cap == CAP_NONE || x->depth != x->cap_depth || len <= 0)
		return;
	if (strbuf_add(b, s, (size_t)len) != LZ_OK)
		x->oom = true;
}

/* Parses an Atom entry/feed or an <Error> body. *entries (OUT, caller decrefs) is the array of
 * entries; *detail (OUT, may be NULL) gets the Error's Detail text (malloc'd, NULL if none).
 * false when the body is not XML. */
static bool ent_xml_parse(const char *body, size_t len, json_t **entries, char **detail)
{
	struct ent_xml x = { 0 };
	XML_Parser p;
	bool ok;

	*entries = NULL;
	if (detail != NULL)
		*detail = NULL;
	if (len > INT_MAX)
		return false;
	x.entries = json_array();
	strbuf_init(&x.detail);
	strbuf_init(&x.text);
	p = XML_ParserCreateNS(NULL, ' ');
	if (p == NULL || x.entries == NULL) {
		ok = false;
		goto out_free;
	}
	XML_SetUserData(p, &x);
	XML_SetElementHandler(p, ent_xml_start, ent_xml_end);
	XML_SetCharacterDataHandler(p, ent_xml_text);
	ok = XML_Parse(p, body, (int)len, XML_TRUE) == XML_STATUS_OK && !x.oom;
	if (ok) {
		*entries = x.entries;
		x.entries = NULL;
		if (detail != NULL && x.is_error)
			*detail = strdup(strbuf_cstr(&x.detail));
	}
out_free:
	if (p != NULL)
		XML_ParserFree(p);
	json_decref(x.entries);
	strbuf_release(&x.detail);
	strbuf_release(&x.text);
	return ok;
}

/* Reports a reply whose status is not what the command wanted, with the exit code mapping of
 * the top comment, and returns that code. */
static int ent_http_fail(struct ent *e, const char *what, const struct ent_reply *r)
{
	char *detail = NULL, *cut;
	json_t *entries = NULL;
	int code;

	if (r->body.len > 0)
		ent_xml_parse(r->body.data, r->body.len, &entries, &detail);
	json_decref(entries);
	if (detail != NULL && (cut = strstr(detail, " TrackingId:")) != NULL)
		*cut = '\0';
	if (r->status == 404 || r->status == 410)
		code = CLI_ENOTFOUND;
	else if (r->status == 409 || r->status == 403)
		code = CLI_EREFUSED;
	else if (r->status == 400)
		code = CLI_EUSAGE;
	else
		code = CLI_EFAIL;
	code = cli_fail(e->c, code, "%s: HTTP %ld: %s", what, r->status,
			detail != NULL && detail[0] != '\0' ? detail : "(no detail)");
	free(detail);
	return code;
}

/* ---- management --------------------------------------------------------------------------- */

static const char *const ent_kind_word[] = { "queue", "topic", "subscription" };
static const unsigned ent_kind_create[] = { CMD_QUEUE_CREATE, CMD_TOPIC_CREATE, CMD_SUB_CREATE };
static const char *const ent_kind_desc[] = { "QueueDescription", "TopicDescription",
					     "SubscriptionDescription" };

/* The entity path of a management command's positionals, checked: NAME, or TOPIC NAME for a
 * subscription. */
static int ent_mgmt_path(struct cli *c, enum ent_kind kind, const struct ent_args *a, char *out, size_t cap)
{
	if (kind == KIND_SUB) {
		if (!ent_name_ok(a->pos[0], true, false))
			return cli_usage(c, "'%s' is not a valid topic name", a->pos[0]);
		if (!ent_name_ok(a->pos[1], false, false))
			return cli_usage(c, "'%s' is not a valid subscription name", a->pos[1]);
		snprintf(out, cap, "%s/subscriptions/%s", a->pos[0], a->pos[1]);
		return CLI_OK;
	}
	if (!ent_name_ok(a->pos[0], true, false))
		return cli_usage(c, "'%s' is not a valid %s name (letters, digits, '.', '-', '_', '/')",
				 a->pos[0], ent_kind_word[kind]);
	snprintf(out, cap, "%s", a->pos[0]);
	return CLI_OK;
}

/* Checks an entity property option's value. */
static int ent_prop_check(struct cli *c, enum ent_opt o, const char *v)
{
	long long n;
	int64_t ms;

	switch (ent_opts[o].check) {
	case VAL_DURATION:
		if (duration_parse_xs(v, &ms) != LZ_OK)
			return cli_usage(c, "%s wants an ISO 8601 duration such as PT30S or P1D, not '%s'",
					 ent_opts[o].name, v);
		break;
	case VAL_INT:
		if (!ent_int_parse(v, 1, INT32_MAX, &n))
			return cli_usage(c, "%s wants a positive integer, not '%s'", ent_opts[o].name, v);
		break;
	case VAL_STATUS:
		if (strcmp(v, "Active") != 0 && strcmp(v, "Disabled") != 0 && strcmp(v, "SendDisabled") != 0 &&
		    strcmp(v, "ReceiveDisabled") != 0)
			return cli_usage(c, "%s wants Active, Disabled, SendDisabled or ReceiveDisabled, not '%s'",
					 ent_opts[o].name, v);
		break;
	case VAL_NAME:
		if (!ent_name_ok(v, true, false))
			return cli_usage(c, "%s wants an entity name, not '%s'", ent_opts[o].name, v);
		break;
	case VAL_NONE:
	case VAL_FLAG:
	case VAL_TEXT:
		break;
	}
	return CLI_OK;
}

/* Builds the Atom entry of a create from the property options. */
static int ent_entry_build(struct cli *c, enum ent_kind kind, const struct ent_args *a, struct strbuf *out)
{
	static const struct {
		const enum ent_opt *order;
		size_t n;
	} orders[] = {
		{ ent_order_queue, sizeof(ent_order_queue) / sizeof(ent_order_queue[0]) },
		{ ent_order_topic, sizeof(ent_order_topic) / sizeof(ent_order_topic[0]) },
		{ ent_order_sub, sizeof(ent_order_sub) / sizeof(ent_order_sub[0]) },
	};
	lz_err err;
	int rc;

	err = strbuf_addf(out, "<entry xmlns=\"" NS_ATOM "\"><content type=\"application/xml\"><%s xmlns=\""
			  NS_SB "\">", ent_kind_desc[kind]);
	for (size_t i = 0; i < orders[kind].n && err == LZ_OK; i++) {
		enum ent_opt o = orders[kind].order[i];
		const char *v = a->val[o];

		if (v == NULL)
			continue;
		rc = ent_prop_check(c, o, v);
		if (rc != CLI_OK)
			return rc;
		err = strbuf_addf(out, "<%s>", ent_opts[o].elem);
		if (err == LZ_OK)
			err = strbuf_add_xml(out, ent_opts[o].check == VAL_FLAG ? "true" : v);
		if (err == LZ_OK)
			err = strbuf_addf(out, "</%s>", ent_opts[o].elem);
	}
	if (err == LZ_OK)
		err = strbuf_addf(out, "</%s></content></entry>", ent_kind_desc[kind]);
	if (err != LZ_OK)
		return cli_fail(c, CLI_EFAIL, "out of memory");
	return CLI_OK;
}

/* Human-readable form of one entity: every property the broker returned, then the counts. */
static void ent_entity_print(enum ent_kind kind, const char *path, const json_t *ent)
{
	const char *key;
	json_t *v;

	printf("%s %s\n", ent_kind_word[kind], path);
	json_object_foreach(json_object_get(ent, "properties"), key, v) {
		char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);

		printf("  %-40s %s\n", key, json_is_string(v) ? json_string_value(v) : text ? text : "?");
		free(text);
	}
	json_object_foreach(json_object_get(ent, "counts"), key, v)
		printf("  %-40s %" JSON_INTEGER_FORMAT "\n", key, json_integer_value(v));
}

/* The one entry of a 200/201 entity body; NULL (reported) when there is none. */
static json_t *ent_entry_get(struct ent *e, const struct ent_reply *r, int *rc)
{
	json_t *entries = NULL, *one;

	if (!ent_xml_parse(r->body.data != NULL ? r->body.data : "", r->body.len, &entries, NULL) ||
	    json_array_size(entries) != 1) {
		json_decref(entries);
		*rc = cli_fail(e->c, CLI_EFAIL, "the broker's answer is not an Atom entry");
		return NULL;
	}
	one = json_incref(json_array_get(entries, 0));
	json_decref(entries);
	return one;
}

/* The management operations of queue, topic and subscription. */
enum ent_op { OP_CREATE, OP_LIST, OP_SHOW, OP_DELETE };

static int ent_create(struct ent *e, enum ent_kind kind, const struct ent_args *a, const char *path)
{
	struct curl_slist *h = NULL;
	struct ent_reply r = { 0 };
	char urlpath[620], what[700];
	struct strbuf xml;
	json_t *ent;
	int rc;

	strbuf_init(&xml);
	rc = ent_entry_build(e->c, kind, a, &xml);
	if (rc != CLI_OK)
		goto out_release_xml;
	if (!ent_header_add(&h, "Content-Type: application/atom+xml;type=entry;charset=utf-8") ||
	    !ent_header_add(&h, "Expect:")) {
		rc = cli_fail(e->c, CLI_EFAIL, "out of memory");
		goto out_release_xml;
	}
	snprintf(urlpath, sizeof(urlpath), "/%s", path);
	snprintf(what, sizeof(what), "create %s %s", ent_kind_word[kind], path);
	rc = ent_request(e, "PUT", urlpath, h, xml.data, xml.len, e->timeout_s, &r);
	if (rc != CLI_OK)
		goto out_release_reply;
	if (r.status != 201) {
		rc = ent_http_fail(e, what, &r);
		goto out_release_reply;
	}
	ent = ent_entry_get(e, &r, &rc);
	if (ent == NULL)
		goto out_release_reply;
	if (e->c->json) {
		cli_json_print(ent);
	} else {
		printf("created ");
		ent_entity_print(kind, path, ent);
		json_decref(ent);
	}
out_release_reply:
	ent_reply_release(&r);
	curl_slist_free_all(h);
out_release_xml:
	strbuf_release(&xml);
	return rc;
}

static int ent_show(struct ent *e, enum ent_kind kind, const char *path)
{
	struct ent_reply r = { 0 };
	char urlpath[620], what[700];
	json_t *ent;
	int rc;

	snprintf(urlpath, sizeof(urlpath), "/%s", path);
	snprintf(what, sizeof(what), "%s %s", ent_kind_word[kind], path);
	rc = ent_request(e, "GET", urlpath, NULL, NULL, 0, e->timeout_s, &r);
	if (rc != CLI_OK)
		goto out_release;
	if (r.status != 200) {
		rc = ent_http_fail(e, what, &r);
		goto out_release;
	}
	ent = ent_entry_get(e, &r, &rc);
	if (ent == NULL)
		goto out_release;
	/* GET of a queue path that is a topic (or the reverse) answers that entity. */
	if (strcmp(json_string_value(json_object_get(ent, "kind")), ent_kind_desc[kind]) != 0) {
		rc = cli_fail(e->c, CLI_ENOTFOUND, "%s: not a %s (it is a %s)", path, ent_kind_word[kind],
			      kind == KIND_QUEUE ? "topic" : "queue");
		json_decref(ent);
		goto out_release;
	}
	if (e->c->json) {
		cli_json_print(ent);
	} else {
		ent_entity_print(kind, path, ent);
		json_decref(ent);
	}
out_release:
	ent_reply_release(&r);
	return rc;
}

static int ent_delete(struct ent *e, enum ent_kind kind, const char *path)
{
	struct ent_reply r = { 0 };
	char urlpath[620], what[700];
	int rc;

	snprintf(urlpath, sizeof(urlpath), "/%s", path);
	snprintf(what, sizeof(what), "delete %s %s", ent_kind_word[kind], path);
	rc = ent_request(e, "DELETE", urlpath, NULL, NULL, 0, e->timeout_s, &r);
	if (rc != CLI_OK)
		goto out_release;
	if (r.status != 200) {
		rc = ent_http_fail(e, what, &r);
		goto out_release;
	}
	if (e->c->json)
		cli_json_print(json_pack("{s:s, s:s, s:b}", "kind", ent_kind_word[kind], "name", path, "deleted", 1));
	else
		printf("deleted %s %s\n", ent_kind_word[kind], path);
out_release:
	ent_reply_release(&r);
	return rc;
}

/* A count from an entity's CountDetails (or the named property); 0 when absent. */
static long long ent_count(const json_t *ent, const char *group, const char *name)
{
	return (long long)json_integer_value(json_object_get(json_object_get(ent, group), name));
}

static int ent_list(struct ent *e, enum ent_kind kind, const char *topic)
{
	struct ent_reply r = { 0 };
	char urlpath[620], what[700];
	json_t *entries = NULL, *ent;
	size_t i;
	int rc;

	if (kind == KIND_SUB) {
		snprintf(urlpath, sizeof(urlpath), "/%s/subscriptions", topic);
		snprintf(what, sizeof(what), "subscriptions of topic %s", topic);
	} else {
		snprintf(urlpath, sizeof(urlpath), "/$Resources/%s", kind == KIND_QUEUE ? "Queues" : "Topics");
		snprintf(what, sizeof(what), "list %ss", ent_kind_word[kind]);
	}
	rc = ent_request(e, "GET", urlpath, NULL, NULL, 0, e->timeout_s, &r);
	if (rc != CLI_OK)
		goto out_release;
	if (r.status != 200) {
		rc = ent_http_fail(e, what, &r);
		goto out_release;
	}
	if (!ent_xml_parse(r.body.data != NULL ? r.body.data : "", r.body.len, &entries, NULL)) {
		rc = cli_fail(e->c, CLI_EFAIL, "%s: the broker's answer is not an Atom feed", what);
		goto out_release;
	}
	if (e->c->json) {
		cli_json_print(entries);
		entries = NULL;
		goto out_release;
	}
	if (kind == KIND_TOPIC)
		printf("%-40s %13s %10s %10s  %s\n", "NAME", "SUBSCRIPTIONS", "SCHEDULED", "BYTES", "STATUS");
	else
		printf("%-40s %10s %10s %10s  %s\n", "NAME", "ACTIVE", "DEADLETTER", "SCHEDULED", "STATUS");
	json_array_foreach(entries, i, ent) {
		const char *name = json_string_value(json_object_get(ent, "name"));
		const char *status = json_string_value(json_object_get(json_object_get(ent, "properties"), "Status"));

		if (kind == KIND_TOPIC)
			printf("%-40s %13lld %10lld %10lld  %s\n", name, ent_count(ent, "properties", "SubscriptionCount"),
			       ent_count(ent, "counts", "ScheduledMessageCount"),
			       ent_count(ent, "properties", "SizeInBytes"), status != NULL ? status : "?");
		else
			printf("%-40s %10lld %10lld %10lld  %s\n", name, ent_count(ent, "counts", "ActiveMessageCount"),
			       ent_count(ent, "counts", "DeadLetterMessageCount"),
			       ent_count(ent, "counts", "ScheduledMessageCount"), status != NULL ? status : "?");
	}
	if (json_array_size(entries) == 0)
		printf("(no %ss)\n", ent_kind_word[kind]);
out_release:
	json_decref(entries);
	ent_reply_release(&r);
	return rc;
}

static int ent_mgmt_run(struct cli *c, enum ent_kind kind, enum ent_op op, int argc, char **argv)
{
	static const unsigned op_cmd[] = { [OP_LIST] = CMD_LIST, [OP_SHOW] = CMD_SHOW, [OP_DELETE] = CMD_DELETE };
	const char *names = kind == KIND_SUB ? "TOPIC NAME" : "NAME";
	int npos = kind == KIND_SUB ? 2 : 1;
	char path[600];
	struct ent_args a;
	struct ent e;
	int rc;

	if (op == OP_LIST) {
		npos--;
		names = kind == KIND_SUB ? "TOPIC" : "";
	}
	rc = ent_args_parse(c, op == OP_CREATE ? ent_kind_create[kind] : op_cmd[op], argc, argv, npos, names, &a);
	if (rc != CLI_OK)
		return rc;
	rc = ent_connect_setup(c, &a, false, &e);
	if (rc != CLI_OK)
		return rc;
	if (op == OP_LIST) {
		if (kind == KIND_SUB && !ent_name_ok(a.pos[0], true, false))
			return cli_usage(c, "'%s' is not a valid topic name", a.pos[0]);
		return ent_list(&e, kind, a.pos[0]);
	}
	rc = ent_mgmt_path(c, kind, &a, path, sizeof(path));
	if (rc != CLI_OK)
		return rc;
	switch (op) {
	case OP_CREATE:
		return ent_create(&e, kind, &a, path);
	case OP_SHOW:
		return ent_show(&e, kind, path);
	case OP_DELETE:
		return ent_delete(&e, kind, path);
	case OP_LIST:
		break;
	}
	return CLI_EFAIL;
}

/* ---- messages ----------------------------------------------------------------------------- */

static const char ent_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 (RFC 4648, padded) of `len` bytes as a JSON string; NULL when out of memory. */
static json_t *ent_b64_json(const uint8_t *p, size_t len)
{
	struct strbuf b;
	json_t *s = NULL;
	lz_err err = LZ_OK;

	strbuf_init(&b);
	for (size_t i = 0; i < len && err == LZ_OK; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);
		char q[4] = { ent_b64[v >> 18], ent_b64[(v >> 12) & 63], i + 1 < len ? ent_b64[(v >> 6) & 63] : '=',
			      i + 2 < len ? ent_b64[v & 63] : '=' };

		err = strbuf_add(&b, q, 4);
	}
	if (err == LZ_OK)
		s = json_stringn(b.data != NULL ? b.data : "", b.len);
	strbuf_release(&b);
	return s;
}

/* Decodes base64 text into `out` (reset first); false for invalid input. */
static bool ent_b64_decode(const char *s, struct strbuf *out)
{
	uint32_t acc = 0;
	int bits = 0;

	strbuf_reset(out);
	for (; *s != '\0' && *s != '='; s++) {
		const char *k = strchr(ent_b64, *s);

		if (k == NULL)
			return false;
		acc = acc << 6 | (uint32_t)(k - ent_b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (strbuf_addch(out, (char)((acc >> bits) & 0xff)) != LZ_OK)
				return false;
		}
	}
	while (*s == '=')
		s++;
	return *s == '\0';
}

/* Whether a body is text worth printing as is: valid UTF-8 without control characters other
 * than tab, CR and LF. */
static bool ent_body_is_text(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t b = p[i];
		size_t n;

		if (b < 0x80) {
			if (b < 0x20 && b != '\t' && b != '\n' && b != '\r')
				return false;
			if (b == 0x7f)
				return false;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			n = 1;
		else if (b >= 0xe0 && b <= 0xef)
			n = 2;
		else if (b >= 0xf0 && b <= 0xf4)
			n = 3;
		else
			return false;
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += n + 1;
	}
	return true;
}

/* A received or peeked message in one shape for both outputs:
 * {"BrokerProperties": {...}, "UserProperties": {...}, "ContentType": s?, "Body": text or null,
 *  "BodyBase64": s, "LockLocation": s?}. `bp` and `user` are stolen. NULL when out of memory. */
static json_t *ent_msg_json(json_t *bp, json_t *user, const char *ctype, const uint8_t *body, size_t len,
			    const char *lock)
{
	bool text = ent_body_is_text(body, len);
	json_t *m = json_pack("{s:o, s:o, s:o, s:o}", "BrokerProperties", bp != NULL ? bp : json_object(),
			      "UserProperties", user != NULL ? user : json_object(), "Body",
			      text ? json_stringn((const char *)body, len) : json_null(), "BodyBase64",
			      ent_b64_json(body, len));

	if (m == NULL)
		return NULL;
	if (ctype != NULL && json_object_set_new(m, "ContentType", json_string(ctype)) != 0)
		goto out_fail;
	if (lock != NULL && json_object_set_new(m, "LockLocation", json_string(lock)) != 0)
		goto out_fail;
	return m;
out_fail:
	json_decref(m);
	return NULL;
}

static void ent_value_print(const char *indent, const char *key, const json_t *v)
{
	char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);

	printf("%s%-24s %s\n", indent, key, json_is_string(v) ? json_string_value(v) : text != NULL ? text : "?");
	free(text);
}

/* Human-readable form of a message from ent_msg_json. */
static void ent_msg_print(const json_t *m, size_t index)
{
	const json_t *bp = json_object_get(m, "BrokerProperties"), *body = json_object_get(m, "Body");
	const char *ctype = json_string_value(json_object_get(m, "ContentType"));
	const char *lock = json_string_value(json_object_get(m, "LockLocation"));
	const char *key;
	json_t *v;
	size_t len;

	printf("--- message %zu (SequenceNumber %" JSON_INTEGER_FORMAT ")\n", index,
	       json_integer_value(json_object_get(bp, "SequenceNumber")));
	json_object_foreach((json_t *)bp, key, v)
		ent_value_print("  ", key, v);
	if (json_object_size(json_object_get(m, "UserProperties")) > 0) {
		printf("  user properties:\n");
		json_object_foreach(json_object_get(m, "UserProperties"), key, v)
			ent_value_print("    ", key, v);
	}
	if (lock != NULL)
		printf("  %-24s %s (complete: DELETE, abandon: PUT, renew: POST)\n", "lock", lock);
	if (json_is_string(body)) {
		len = json_string_length(body);
		printf("  body (%zu bytes%s%s):\n", len, ctype != NULL ? ", " : "", ctype != NULL ? ctype : "");
		fwrite(json_string_value(body), 1, len, stdout);
		if (len == 0 || json_string_value(body)[len - 1] != '\n')
			fputc('\n', stdout);
	} else {
		printf("  body: binary%s%s (--json gives it as BodyBase64)\n", ctype != NULL ? ", " : "",
		       ctype != NULL ? ctype : "");
	}
}

/* Prints the messages of `list` and returns rc. After a failure the messages received before
 * it are still printed (a received-and-deleted message must never be lost from view); with
 * --json the array is then the one document, the error having gone to stderr only (see
 * cmd_receive), and when nothing was received the error document stands alone. */
static int ent_msgs_finish(struct cli *c, json_t *list, int rc)
{
	size_t i;
	json_t *m;

	if (c->json) {
		if (rc == CLI_OK || json_array_size(list) > 0)
			cli_json_print(json_incref(list));
	} else {
		json_array_foreach(list, i, m)
			ent_msg_print(m, i + 1);
	}
	return rc;
}

/* The entity path of send/receive/peek: queue, topic, TOPIC/subscriptions/SUB, plus
 * /$DeadLetterQueue for receive and peek. */
static int ent_msg_path(struct cli *c, const char *name, bool dlq_ok)
{
	if (!ent_name_ok(name, true, dlq_ok))
		return cli_usage(c, "'%s' is not a valid entity path (a queue, a topic, or "
				 "TOPIC/subscriptions/NAME%s)", name, dlq_ok ? ", with /$DeadLetterQueue" : "");
	if (!dlq_ok && strchr(name, '$') != NULL)
		return cli_usage(c, "cannot send to '%s'", name);
	return CLI_OK;
}

/* Reads all of `f` into `out`, at most ENT_BODY_MAX bytes. */
static int ent_read_all(struct cli *c, FILE *f, const char *what, struct strbuf *out)
{
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (out->len + n > ENT_BODY_MAX)
			return cli_usage(c, "%s is larger than %u bytes", what, ENT_BODY_MAX);
		if (strbuf_add(out, chunk, n) != LZ_OK)
			return cli_fail(c, CLI_EFAIL, "out of memory reading %s", what);
	}
	if (ferror(f))
		return cli_fail(c, CLI_EFAIL, "read %s: %s", what, strerror(errno));
	return CLI_OK;
}

/* A header-safe user property "k=v": `name` gets k, `value` v typed as the broker types
 * header values (numbers and true/false bare, anything else sent as a quoted string). */
static int ent_property_header(struct cli *c, const char *kv, struct strbuf *line)
{
	static const char *const reserved[] = { "BrokerProperties", "Content-Type", "Content-Length", "Host",
						"Authorization", "Expect", "Transfer-Encoding", "Connection" };
	const char *eq = strchr(kv, '=');
	struct value v = { 0 };
	size_t nlen;

	if (eq == NULL || eq == kv)
		return cli_usage(c, "--property wants NAME=VALUE, not '%s'", kv);
	nlen = (size_t)(eq - kv);
	for (size_t i = 0; i < nlen; i++)
		if (!isalnum((unsigned char)kv[i]) && strchr("!#$%&'*+-.^_`|~", kv[i]) == NULL)
			return cli_usage(c, "--property name '%.*s' is not a valid header name", (int)nlen, kv);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strlen(reserved[i]) == nlen && strncasecmp(kv, reserved[i], nlen) == 0)
			return cli_usage(c, "--property name '%s' is reserved", reserved[i]);
	if (strpbrk(eq + 1, "\r\n") != NULL)
		return cli_usage(c, "--property value of '%.*s' contains a line break", (int)nlen, kv);
	if (strbuf_add(line, kv, nlen) != LZ_OK || strbuf_adds(line, ": ") != LZ_OK)
		return cli_fail(c, CLI_EFAIL, "out of memory");
	if (eq[1] != '\0' && value_parse_header(eq + 1, &v) == LZ_OK) {
		value_release(&v);
		if (strbuf_adds(line, eq + 1) != LZ_OK)
			return cli_fail(c, CLI_EFAIL, "out of memory");
	} else if (strbuf_addf(line, "\"%s\"", eq + 1) != LZ_OK) {
		return cli_fail(c, CLI_EFAIL, "out of memory");
	}
	return CLI_OK;
}

/* The BrokerProperties JSON of a send, from --label, --message-id, --ttl, ... */
static int ent_send_bp(struct cli *c, const struct ent_args *a, struct strbuf *out)
{
	static const struct {
		enum ent_opt o;
		const char *key;
	} strs[] = {
		{ O_LABEL, "Label" },
		{ O_MESSAGE_ID, "MessageId" },
		{ O_CORRELATION_ID, "CorrelationId" },
		{ O_SESSION_ID, "SessionId" },
	};
	json_t *bp = json_object();
	char *text;
	int64_t ms;

	if (bp == NULL)
		return cli_fail(c, CLI_EFAIL, "out of memory");
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (a->val[strs[i].o] != NULL && json_object_set_new(bp, strs[i].key, json_string(a->val[strs[i].o])) != 0)
			goto out_fail;
	if (a->val[O_TTL] != NULL) {
		if (duration_parse_xs(a->val[O_TTL], &ms) != LZ_OK || ms <= 0) {
			json_decref(bp);
			return cli_usage(c, "--ttl wants a positive ISO 8601 duration such as PT1M, not '%s'",
					 a->val[O_TTL]);
		}
		if (ms != DURATION_INFINITE &&
		    json_object_set_new(bp, "TimeToLive", json_real((double)ms / 1000.0)) != 0)
			goto out_fail;
	}
	text = json_dumps(bp, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(bp);
	if (text == NULL || strbuf_adds(out, text) != LZ_OK) {
		free(text);
		return cli_fail(c, CLI_EFAIL, "out of memory");
	}
	free(text);
	return CLI_OK;
out_fail:
	json_decref(bp);
	return cli_fail(c, CLI_EFAIL, "a --label/--message-id/... value is not valid UTF-8, or out of memory");
}

static int cmd_send(struct cli *c, int argc, char **argv)
{
	struct curl_slist *hl = NULL;
	struct strbuf body, line;
	struct ent_reply r = { 0 };
	struct ent_args a;
	struct ent e;
	char urlpath[620], what[700];
	int rc, sources;

	strbuf_init(&body);
	strbuf_init(&line);
	rc = ent_args_parse(c, CMD_SEND, argc, argv, 1, "ENTITY", &a);
	if (rc != CLI_OK)
		return rc;
	rc = ent_connect_setup(c, &a, false, &e);
	if (rc == CLI_OK)
		rc = ent_msg_path(c, a.pos[0], false);
	if (rc != CLI_OK)
		return rc;
	sources = (a.val[O_BODY] != NULL) + (a.val[O_FILE] != NULL);
	if (sources > 1)
		return cli_usage(c, "give the body with --body or --file, not both");
	if (a.val[O_CONTENT_TYPE] != NULL && strpbrk(a.val[O_CONTENT_TYPE], "\r\n") != NULL)
		return cli_usage(c, "--content-type contains a line break");
	/* Headers first: every argument is checked before the body is read or anything is sent. */
	rc = ent_send_bp(c, &a, &line);
	if (rc != CLI_OK)
		goto out_release;
	if (line.len > 2) {
		struct strbuf h;
		bool ok;

		strbuf_init(&h);
		ok = strbuf_addf(&h, "BrokerProperties: %s", strbuf_cstr(&line)) == LZ_OK &&
		     ent_header_add(&hl, strbuf_cstr(&h));
		strbuf_release(&h);
		if (!ok) {
			rc = cli_fail(c, CLI_EFAIL, "out of memory");
			goto out_release;
		}
	}
	for (size_t i = 0; i < a.nprops; i++) {
		strbuf_reset(&line);
		rc = ent_property_header(c, a.props[i], &line);
		if (rc != CLI_OK)
			goto out_release;
		if (!ent_header_add(&hl, strbuf_cstr(&line))) {
			rc = cli_fail(c, CLI_EFAIL, "out of memory");
			goto out_release;
		}
	}
	strbuf_reset(&line);
	if (strbuf_addf(&line, "Content-Type: %s",
			a.val[O_CONTENT_TYPE] != NULL ? a.val[O_CONTENT_TYPE] : "text/plain; charset=utf-8") != LZ_OK ||
	    !ent_header_add(&hl, strbuf_cstr(&line)) || !ent_header_add(&hl, "Expect:")) {
		rc = cli_fail(c, CLI_EFAIL, "out of memory");
		goto out_release;
	}
	if (a.val[O_BODY] != NULL) {
		if (strbuf_adds(&body, a.val[O_BODY]) != LZ_OK)
			rc = cli_fail(c, CLI_EFAIL, "out of memory");
	} else if (a.val[O_FILE] != NULL) {
		FILE *f = fopen(a.val[O_FILE], "rb");

		if (f == NULL) {
			rc = cli_fail(c, errno == ENOENT ? CLI_ENOTFOUND : CLI_EFAIL, "open %s: %s", a.val[O_FILE],
				      strerror(errno));
			goto out_release;
		}
		rc = ent_read_all(c, f, a.val[O_FILE], &body);
		if (fclose(f) != 0 && rc == CLI_OK)
			rc = cli_fail(c, CLI_EFAIL, "close %s: %s", a.val[O_FILE], strerror(errno));
	} else {
		if (c->tty_in)
			fputs("localzure: reading the message body from the terminal; end it with Ctrl-D\n", stderr);
		rc = ent_read_all(c, stdin, "standard input", &body);
	}
	if (rc != CLI_OK)
		goto out_release;
	snprintf(urlpath, sizeof(urlpath), "/%s/messages", a.pos[0]);
	snprintf(what, sizeof(what), "send to %s", a.pos[0]);
	rc = ent_request(&e, "POST", urlpath, hl, body.data != NULL ? body.data : "", body.len, e.timeout_s, &r);
	if (rc != CLI_OK)
		goto out_release;
	if (r.status != 201) {
		rc = ent_http_fail(&e, what, &r);
		goto out_release;
	}
	if (c->json)
		cli_json_print(json_pack("{s:s, s:b, s:I, s:s?}", "entity", a.pos[0], "sent", 1, "bytes",
					 (json_int_t)body.len, "MessageId", a.val[O_MESSAGE_ID]));
	else
		printf("sent %zu bytes to %s\n", body.len, a.pos[0]);
out_release:
	ent_reply_release(&r);
	curl_slist_free_all(hl);
	strbuf_release(&line);
	strbuf_release(&body);
	return rc;
}

/* Headers of a received message that are the HTTP exchange's, not user properties. */
static bool ent_header_is_user(const char *name)
{
	static const char *const transport[] = { "BrokerProperties", "Content-Type", "Content-Length", "Date",
						 "Location", "Connection", "Transfer-Encoding", "Server",
						 "Keep-Alive", "Content-Encoding" };

	for (size_t i = 0; i < sizeof(transport) / sizeof(transport[0]); i++)
		if (strcasecmp(name, transport[i]) == 0)
			return false;
	return true;
}

/* User properties of a received message, typed the way the broker wrote them. */
static json_t *ent_user_props(const struct ent_reply *r)
{
	json_t *o = json_object(), *h;
	size_t i;

	json_array_foreach(r->headers, i, h) {
		const char *name = json_string_value(json_array_get(h, 0));
		const char *text = json_string_value(json_array_get(h, 1));
		struct value v = { 0 };
		json_t *j;

		if (o == NULL || !ent_header_is_user(name))
			continue;
		if (value_parse_header(text, &v) != LZ_OK)
			j = json_string(text);
		else if (v.type == VALUE_BOOL)
			j = json_boolean(v.u.b);
		else if (v.type == VALUE_LONG)
			j = json_integer(v.u.i);
		else if (v.type == VALUE_DOUBLE)
			j = json_real(v.u.d);
		else if (v.type == VALUE_STRING)
			j = json_string(v.u.s);
		else /* a date: the header text without its quotes */
			j = json_stringn(text + 1, strlen(text) >= 2 ? strlen(text) - 2 : 0);
		value_release(&v);
		json_object_set_new(o, name, j);
	}
	return o;
}

/* The path part of a Location URL ("http://h:p/q/messages/1/tok" → "/q/messages/1/tok"). */
static const char *ent_location_path(const char *loc)
{
	const char *p = strstr(loc, "://");

	return p != NULL && (p = strchr(p + 3, '/')) != NULL ? p : NULL;
}

/* Completes the peek-locked message `m` (DELETE on its lock path) and marks it Completed. */
static int ent_complete(struct ent *e, json_t *m)
{
	const char *lpath = json_string_value(json_object_get(m, "LockLocation"));
	struct ent_reply r;
	int rc;

	if (lpath == NULL)
		return cli_fail(e->c, CLI_EFAIL, "complete: the broker sent no lock location");
	rc = ent_request(e, "DELETE", lpath, NULL, NULL, 0, e->timeout_s > 0 ? e->timeout_s : ENT_TIMEOUT_DEFAULT_S,
			 &r);
	if (rc == CLI_OK && r.status != 200)
		rc = ent_http_fail(e, "complete", &r);
	if (rc == CLI_OK && json_object_set_new(m, "Completed", json_true()) != 0)
		rc = cli_fail(e->c, CLI_EFAIL, "out of memory");
	ent_reply_release(&r);
	return rc;
}

/* One receive: *m (OUT) is the message, or NULL when none came within `wait` seconds. */
static int ent_receive_one(struct ent *e, const char *entity, bool lock, long wait, json_t **m)
{
	const char *loc, *bpt;
	char urlpath[700], what[700];
	struct ent_reply r;
	json_t *bp = NULL;
	int rc;

	*m = NULL;
	snprintf(urlpath, sizeof(urlpath), "/%s/messages/head?timeout=%ld", entity, wait);
	snprintf(what, sizeof(what), "receive from %s", entity);
	rc = ent_request(e, lock ? "POST" : "DELETE", urlpath, NULL, NULL, 0, wait + ENT_TIMEOUT_GRACE_S, &r);
	if (rc != CLI_OK || r.status == 204)
		goto out_release;
	if (r.status != (lock ? 201 : 200)) {
		rc = ent_http_fail(e, what, &r);
		goto out_release;
	}
	bpt = ent_header(&r, "BrokerProperties");
	if (bpt != NULL)
		bp = json_loads(bpt, 0, NULL);
	loc = ent_header(&r, "Location");
	*m = ent_msg_json(bp, ent_user_props(&r), ent_header(&r, "Content-Type"),
			  (const uint8_t *)(r.body.data != NULL ? r.body.data : ""), r.body.len,
			  lock && loc != NULL ? ent_location_path(loc) : NULL);
	if (*m == NULL)
		rc = cli_fail(e->c, CLI_EFAIL, "out of memory (a message was received%s)",
			      lock ? " and stays locked until its lock expires" : " and deleted");
out_release:
	ent_reply_release(&r);
	return rc;
}

static int cmd_receive(struct cli *c, int argc, char **argv)
{
	struct ent_args a;
	struct ent e;
	long long count = 1;
	bool lock, json = c->json;
	json_t *list;
	int rc;

	rc = ent_args_parse(c, CMD_RECEIVE, argc, argv, 1, "ENTITY", &a);
	if (rc != CLI_OK)
		return rc;
	rc = ent_connect_setup(c, &a, true, &e);
	if (rc == CLI_OK)
		rc = ent_msg_path(c, a.pos[0], true);
	if (rc != CLI_OK)
		return rc;
	if (a.val[O_COUNT] != NULL && !ent_int_parse(a.val[O_COUNT], 1, ENT_COUNT_MAX, &count))
		return cli_usage(c, "--count wants 1..%d, not '%s'", ENT_COUNT_MAX, a.val[O_COUNT]);
	lock = a.val[O_PEEK_LOCK] != NULL;
	if (a.val[O_COMPLETE] != NULL && !lock)
		return cli_usage(c, "--complete goes with --peek-lock (receive-and-delete needs no completion)");
	list = json_array();
	if (list == NULL)
		return cli_fail(c, CLI_EFAIL, "out of memory");
	/* Wait for the first message; then take what is there at once, up to --count. */
	for (long long i = 0; i < count && rc == CLI_OK; i++) {
		json_t *m;

		/* Once a message is in hand, the array printed at the end is the one JSON document:
		 * a later failure goes to stderr only. */
		c->json = json && json_array_size(list) == 0;
		rc = ent_receive_one(&e, a.pos[0], lock, i == 0 ? e.timeout_s : 0, &m);
		if (rc != CLI_OK || m == NULL)
			break;
		if (json_array_append_new(list, m) != 0) {
			rc = cli_fail(c, CLI_EFAIL, "out of memory");
			break;
		}
		c->json = false;
		if (a.val[O_COMPLETE] != NULL)
			rc = ent_complete(&e, m);
	}
	c->json = json;
	if (rc == CLI_OK && json_array_size(list) == 0 && !json)
		printf("no message in %s within %ld s\n", a.pos[0], e.timeout_s);
	rc = ent_msgs_finish(c, list, rc);
	json_decref(list);
	return rc;
}

static int cmd_peek(struct cli *c, int argc, char **argv)
{
	struct ent_reply r = { 0 };
	struct ent_args a;
	struct ent e;
	long long count = 10, from = 0;
	char urlpath[760], what[700];
	json_t *peeked = NULL, *list = NULL, *pm;
	struct strbuf body;
	size_t i;
	int rc;

	strbuf_init(&body);
	rc = ent_args_parse(c, CMD_PEEK, argc, argv, 1, "ENTITY", &a);
	if (rc != CLI_OK)
		return rc;
	rc = ent_connect_setup(c, &a, false, &e);
	if (rc == CLI_OK)
		rc = ent_msg_path(c, a.pos[0], true);
	if (rc != CLI_OK)
		return rc;
	if (a.val[O_COUNT] != NULL && !ent_int_parse(a.val[O_COUNT], 1, ENT_COUNT_MAX, &count))
		return cli_usage(c, "--count wants 1..%d, not '%s'", ENT_COUNT_MAX, a.val[O_COUNT]);
	if (a.val[O_FROM_SEQ] != NULL && !ent_int_parse(a.val[O_FROM_SEQ], 0, LLONG_MAX, &from))
		return cli_usage(c, "--from-seq wants a sequence number, not '%s'", a.val[O_FROM_SEQ]);
	snprintf(urlpath, sizeof(urlpath), "/$emulator/%s/messages?from=%lld&max=%lld", a.pos[0], from, count);
	snprintf(what, sizeof(what), "peek %s", a.pos[0]);
	rc = ent_request(&e, "GET", urlpath, NULL, NULL, 0, e.timeout_s, &r);
	if (rc != CLI_OK)
		goto out_release;
	if (r.status != 200) {
		rc = ent_http_fail(&e, what, &r);
		goto out_release;
	}
	peeked = json_loadb(r.body.data != NULL ? r.body.data : "", r.body.len, 0, NULL);
	list = json_array();
	if (!json_is_array(peeked) || list == NULL) {
		rc = cli_fail(c, CLI_EFAIL, "%s: the broker's answer is not a JSON array", what);
		goto out_release;
	}
	json_array_foreach(peeked, i, pm) {
		const char *b64 = json_string_value(json_object_get(pm, "Body"));
		json_t *bp = json_object_get(pm, "BrokerProperties"), *m;

		if (b64 == NULL || !ent_b64_decode(b64, &body)) {
			rc = cli_fail(c, CLI_EFAIL, "%s: a message body is not base64", what);
			goto out_release;
		}
		m = ent_msg_json(json_incref(bp), json_incref(json_object_get(pm, "UserProperties")),
				 json_string_value(json_object_get(bp, "ContentType")),
				 (const uint8_t *)(body.data != NULL ? body.data : ""), body.len, NULL);
		if (m == NULL || json_array_append_new(list, m) != 0) {
			rc = cli_fail(c, CLI_EFAIL, "out of memory");
			goto out_release;
		}
	}
	if (json_array_size(list) == 0 && !c->json)
		printf("no messages in %s from sequence number %lld\n", a.pos[0], from);
	rc = ent_msgs_finish(c, list, CLI_OK);
out_release:
	json_decref(list);
	json_decref(peeked);
	strbuf_release(&body);
	ent_reply_release(&r);
	return rc;
}

/* ---- command table ------------------------------------------------------------------------ */

#define ENT_COMMON_HELP                                                                          \
	"  --url http://HOST:PORT  the broker (default: http_host/http_port of the configuration)\n" \
	"  --timeout SECONDS       bound on each request (default 10)\n"

#define ENT_MGMT_WRAPPERS(kindname, KIND)                                                          \
	static int cmd_##kindname##_create(struct cli *c, int argc, char **argv)                   \
	{                                                                                          \
		return ent_mgmt_run(c, KIND, OP_CREATE, argc, argv);                               \
	}                                                                                          \
	static int cmd_##kindname##_list(struct cli *c, int argc, char **argv)                     \
	{                                                                                          \
		return ent_mgmt_run(c, KIND, OP_LIST, argc, argv);                                 \
	}                                                                                          \
	static int cmd_##kindname##_show(struct cli *c, int argc, char **argv)                     \
	{                                                                                          \
		return ent_mgmt_run(c, KIND, OP_SHOW, argc, argv);                                 \
	}                                                                                          \
	static int cmd_##kindname##_delete(struct cli *c, int argc, char **argv)                   \
	{                                                                                          \
		return ent_mgmt_run(c, KIND, OP_DELETE, argc, argv);                               \
	}

ENT_MGMT_WRAPPERS(queue, KIND_QUEUE)
ENT_MGMT_WRAPPERS(topic, KIND_TOPIC)
ENT_MGMT_WRAPPERS(sub, KIND_SUB)

const struct cli_command cli_entity_commands[] = {
	{
		.group = "queue",
		.name = "create",
		.args = "NAME [--lock-duration ISO] [--max-delivery-count N] [--default-ttl ISO] ...",
		.summary = "create a queue (Atom PUT)",
		.help = "  --lock-duration ISO               peek-lock duration (PT30S)\n"
			"  --max-delivery-count N            deliveries before dead-lettering\n"
			"  --default-ttl ISO                 default message time to live (P1D)\n"
			"  --requires-duplicate-detection    drop resent MessageIds within the window\n"
			"  --duplicate-window ISO            duplicate detection window (PT10M)\n"
			"  --requires-session                session queue\n"
			"  --dead-lettering-on-expiration    expired messages go to the dead-letter queue\n"
			"  --max-size-mb N                   size limit\n"
			"  --auto-delete-on-idle ISO         delete after this long unused\n"
			"  --forward-to NAME                 forward every message to NAME\n"
			"  --forward-dead-lettered-to NAME   forward dead-lettered messages to NAME\n"
			"  --status STATUS                   Active, Disabled, SendDisabled, ReceiveDisabled\n"
			"  --user-metadata TEXT\n" ENT_COMMON_HELP
			"Omitted properties take Azure's defaults. Exit 4 if the queue exists.\n",
		.run = cmd_queue_create,
	},
	{
		.group = "queue",
		.name = "list",
		.args = "",
		.summary = "list queues with active, dead-letter and scheduled counts",
		.help = ENT_COMMON_HELP,
		.run = cmd_queue_list,
	},
	{
		.group = "queue",
		.name = "show",
		.args = "NAME",
		.summary = "a queue's properties and message counts",
		.help = ENT_COMMON_HELP "Exit 5 if there is no such queue.\n",
		.run = cmd_queue_show,
	},
	{
		.group = "queue",
		.name = "delete",
		.args = "NAME",
		.summary = "delete a queue and its messages",
		.help = ENT_COMMON_HELP "Exit 5 if there is no such queue.\n",
		.run = cmd_queue_delete,
	},
	{
		.group = "topic",
		.name = "create",
		.args = "NAME [--default-ttl ISO] [--requires-duplicate-detection] ...",
		.summary = "create a topic (Atom PUT)",
		.help = "  --default-ttl ISO                 default message time to live\n"
			"  --requires-duplicate-detection    drop resent MessageIds within the window\n"
			"  --duplicate-window ISO            duplicate detection window\n"
			"  --max-size-mb N                   size limit\n"
			"  --auto-delete-on-idle ISO         delete after this long unused\n"
			"  --status STATUS                   Active, Disabled, SendDisabled, ReceiveDisabled\n"
			"  --user-metadata TEXT\n" ENT_COMMON_HELP
			"Exit 4 if the topic exists.\n",
		.run = cmd_topic_create,
	},
	{
		.group = "topic",
		.name = "list",
		.args = "",
		.summary = "list topics with subscription and scheduled counts",
		.help = ENT_COMMON_HELP,
		.run = cmd_topic_list,
	},
	{
		.group = "topic",
		.name = "show",
		.args = "NAME",
		.summary = "a topic's properties and counts",
		.help = ENT_COMMON_HELP "Exit 5 if there is no such topic.\n",
		.run = cmd_topic_show,
	},
	{
		.group = "topic",
		.name = "delete",
		.args = "NAME",
		.summary = "delete a topic with its subscriptions",
		.help = ENT_COMMON_HELP "Exit 5 if there is no such topic.\n",
		.run = cmd_topic_delete,
	},
	{
		.group = "subscription",
		.name = "create",
		.args = "TOPIC NAME [--lock-duration ISO] [--max-delivery-count N] ...",
		.summary = "create a subscription (with the $Default match-all rule)",
		.help = "  --lock-duration ISO               peek-lock duration\n"
			"  --max-delivery-count N            deliveries before dead-lettering\n"
			"  --default-ttl ISO                 default message time to live\n"
			"  --requires-session                session subscription\n"
			"  --dead-lettering-on-expiration    expired messages go to the dead-letter queue\n"
			"  --auto-delete-on-idle ISO         delete after this long unused\n"
			"  --forward-to NAME                 forward every message to NAME\n"
			"  --forward-dead-lettered-to NAME   forward dead-lettered messages to NAME\n"
			"  --status STATUS                   Active, Disabled, SendDisabled, ReceiveDisabled\n"
			"  --user-metadata TEXT\n" ENT_COMMON_HELP
			"Exit 4 if the subscription exists, 5 if the topic does not.\n",
		.run = cmd_sub_create,
	},
	{
		.group = "subscription",
		.name = "list",
		.args = "TOPIC",
		.summary = "list a topic's subscriptions with their counts",
		.help = ENT_COMMON_HELP "Exit 5 if there is no such topic.\n",
		.run = cmd_sub_list,
	},
	{
		.group = "subscription",
		.name = "show",
		.args = "TOPIC NAME",
		.summary = "a subscription's properties and message counts",
		.help = ENT_COMMON_HELP,
		.run = cmd_sub_show,
	},
	{
		.group = "subscription",
		.name = "delete",
		.args = "TOPIC NAME",
		.summary = "delete a subscription and its messages",
		.help = ENT_COMMON_HELP,
		.run = cmd_sub_delete,
	},
	{
		.group = "",
		.name = "send",
		.args = "ENTITY [--body TEXT | --file PATH] [--property K=V]... [--label L] [--message-id ID] [--ttl ISO]",
		.summary = "send one message to a queue or topic",
		.help = "The body is --body TEXT, the contents of --file PATH, or else standard input.\n"
			"  --property K=V        a user property; V is sent typed as the broker reads\n"
			"                        header values: integers, decimals and true/false bare,\n"
			"                        anything else as a string (force a string: K='\"3\"')\n"
			"  --label L, --message-id ID, --correlation-id ID, --session-id ID\n"
			"  --ttl ISO             time to live (PT1M), capped by the entity's default\n"
			"  --content-type TYPE   default text/plain; charset=utf-8\n" ENT_COMMON_HELP
			"Exit 5 if there is no such entity, 4 if it refuses the message (disabled, full,\n"
			"too large).\n",
		.run = cmd_send,
	},
	{
		.group = "",
		.name = "receive",
		.args = "ENTITY [--peek-lock [--complete]] [--count N] [--timeout S]",
		.summary = "receive messages (receive-and-delete by default)",
		.help = "ENTITY is a queue, TOPIC/subscriptions/NAME, or either with /$DeadLetterQueue.\n"
			"Prints each message's BrokerProperties, user properties and body (--json: an\n"
			"array of {BrokerProperties, UserProperties, ContentType, Body (text, or null\n"
			"when binary), BodyBase64, LockLocation}).\n"
			"  --peek-lock       lock instead of deleting: prints the lock token, the time it\n"
			"                    ends and the lock path (DELETE it to complete, PUT to\n"
			"                    abandon); the message comes back when the lock expires\n"
			"  --complete        with --peek-lock: complete each message once printed\n"
			"  --count N         up to N messages (default 1)\n"
			"  --timeout S       wait up to S seconds for the first message (default 10;\n"
			"                    0: only what is there); later ones are taken only if\n"
			"                    already there. No message is not an error (exit 0)\n"
			"  --url http://HOST:PORT  the broker (default: the configuration)\n",
		.run = cmd_receive,
	},
	{
		.group = "",
		.name = "peek",
		.args = "ENTITY [--count N] [--from-seq N]",
		.summary = "browse messages without locking or removing them",
		.help = "Uses the emulator's browse endpoint (GET /$emulator/ENTITY/messages): active,\n"
			"deferred and (queues) scheduled messages in sequence number order.\n"
			"  --count N        at most N messages (default 10)\n"
			"  --from-seq N     start at sequence number N\n" ENT_COMMON_HELP,
		.run = cmd_peek,
	},
	{ .name = NULL },
};
