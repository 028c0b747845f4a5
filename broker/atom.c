#include "broker/atom.h"

#include <errno.h>
#include <expat.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker/entity.h"
#include "common/duration.h"
#include "common/timefmt.h"

#define NS_ATOM "http://www.w3.org/2005/Atom"
#define NS_SB "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
#define NS_SB_COUNTS "http://schemas.microsoft.com/netservices/2011/06/servicebus"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_XS "http://www.w3.org/2001/XMLSchema"
/* The namespace the service uses for i:type="...:duration" in echoed rule parameters. */
#define NS_SERIALIZATION "http://schemas.microsoft.com/2003/10/Serialization/"

#define XML_DECL "<?xml version=\"1.0\" encoding=\"utf-8\"?>"

/* expat reports a namespaced name as "uri|local". */
#define NS_SEP '|'

/* Limits on a request body: management bodies are a few KB; these keep a hostile body from
 * costing more than a few MB of memory. */
#define XML_MAX_BYTES (1u << 20)
#define XML_MAX_DEPTH 32
#define XML_MAX_NODES 16384

/* Longest typed scalar (number, boolean, duration, date) read from an element. */
#define TOKEN_LEN 64

/* ---- detail text -------------------------------------------------------------------------- */

static lz_err detail_fail(struct lz_detail *detail, lz_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes the formatted reason to `detail` (when not NULL) and returns `err`. */
static lz_err detail_fail(struct lz_detail *detail, lz_err err, const char *fmt, ...)
{
	va_list ap;

	if (detail != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail->text, sizeof(detail->text), fmt, ap);
		va_end(ap);
	}
	return err;
}

/* ---- the element tree --------------------------------------------------------------------- */

/*
 * One element of a parsed body. Names are namespace URI + local name; prefixes are gone. The
 * i:type attribute is resolved through the namespace declarations in scope where it appeared
 * (a QName in an attribute value is not something expat resolves by itself).
 */
struct xnode {
	char *ns; /* namespace URI, "" when none */
	char *local;
	char *type_ns; /* i:type: namespace URI ("" when none) and local name; NULL when absent */
	char *type_local;
	bool nil; /* i:nil="true" */
	struct strbuf text;
	struct xnode *parent;
	struct xnode *first; /* children in document order */
	struct xnode *last;
	struct xnode *next;
};

/* A namespace declaration in scope; the innermost is first. */
struct nsdecl {
	char *prefix; /* NULL: the default namespace */
	char *uri;    /* "" for xmlns="" */
	struct nsdecl *next;
};

struct xparse {
	XML_Parser parser;
	struct xnode *root;
	struct xnode *cur;
	size_t depth;
	size_t nodes;
	struct nsdecl *scope;
	lz_err err;
	char why[160];
};

static void xnode_free(struct xnode *n)
{
	struct xnode *child, *next;

	if (n == NULL)
		return;
	for (child = n->first; child != NULL; child = next) {
		next = child->next;
		xnode_free(child);
	}
	free(n->ns);
	free(n->local);
	free(n->type_ns);
	free(n->type_local);
	strbuf_release(&n->text);
	free(n);
}

/* Records the first failure and stops the parser. */
static void xparse_fail(struct xparse *x, lz_err err, const char *why)
{
	if (x->err == LZ_OK) {
		x->err = err;
		snprintf(x->why, sizeof(x->why), "%s", why);
	}
	XML_StopParser(x->parser, XML_FALSE);
}

/* Splits expat's "uri|local" (or "local") into owned copies. */
static lz_err name_split(const char *name, char **ns, char **local)
{
	const char *sep = strchr(name, NS_SEP);

	*ns = sep != NULL ? strndup(name, (size_t)(sep - name)) : strdup("");
	*local = strdup(sep != NULL ? sep + 1 : name);
	if (*ns == NULL || *local == NULL) {
		free(*ns);
		free(*local);
		*ns = NULL;
		*local = NULL;
		return LZ_ENOMEM;
	}
	return LZ_OK;
}

/* The URI bound to `prefix` (NULL: the default namespace) in scope, "" for an unprefixed name
 * without a default namespace, NULL for an undeclared prefix. */
static const char *xparse_lookup(const struct xparse *x, const char *prefix, size_t prefix_len)
{
	const struct nsdecl *d;

	for (d = x->scope; d != NULL; d = d->next) {
		if (prefix == NULL ? d->prefix == NULL
				   : d->prefix != NULL && strlen(d->prefix) == prefix_len &&
					     strncmp(d->prefix, prefix, prefix_len) == 0)
			return d->uri;
	}
	return prefix == NULL ? "" : NULL;
}

/* Resolves the QName of an i:type value ("d6p1:string", "SqlFilter") into n->type_*. */
static void xparse_resolve_type(struct xparse *x, struct xnode *n, const char *qname)
{
	const char *colon = strchr(qname, ':');
	const char *uri;

	uri = colon != NULL ? xparse_lookup(x, qname, (size_t)(colon - qname))
			    : xparse_lookup(x, NULL, 0);
	if (uri == NULL) {
		xparse_fail(x, LZ_EPARSE,
			    "an i:type attribute uses an undeclared namespace prefix");
		return;
	}
	free(n->type_ns);
	free(n->type_local);
	n->type_ns = strdup(uri);
	n->type_local = strdup(colon != NULL ? colon + 1 : qname);
	if (n->type_ns == NULL || n->type_local == NULL)
		xparse_fail(x, LZ_ENOMEM, "out of memory");
}

static void XMLCALL on_start(void *arg, const XML_Char *name, const XML_Char **atts)
{
	struct xparse *x = arg;
	struct xnode *n;
	size_t i;

	if (x->err != LZ_OK)
		return;
	if (x->depth >= XML_MAX_DEPTH) {
		xparse_fail(x, LZ_EPARSE, "elements are nested too deeply");
		return;
	}
	if (x->nodes >= XML_MAX_NODES) {
		xparse_fail(x, LZ_EPARSE, "the body has too many elements");
		return;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL || name_split(name, &n->ns, &n->local) != LZ_OK) {
		free(n);
		xparse_fail(x, LZ_ENOMEM, "out of memory");
		return;
	}
	n->parent = x->cur;
	if (x->cur == NULL) {
		x->root = n;
	} else {
		if (x->cur->last != NULL)
			x->cur->last->next = n;
		else
			x->cur->first = n;
		x->cur->last = n;
	}
	x->cur = n;
	x->depth++;
	x->nodes++;
	for (i = 0; atts[i] != NULL; i += 2) {
		if (strcmp(atts[i], NS_XSI "|type") == 0)
			xparse_resolve_type(x, n, atts[i + 1]);
		else if (strcmp(atts[i], NS_XSI "|nil") == 0)
			n->nil = strcmp(atts[i + 1], "true") == 0 || strcmp(atts[i + 1], "1") == 0;
	}
}

/* After a failure expat may still report the end of the element whose start failed (an empty
 * element); the tree is abandoned then, so nothing is done. */
static void XMLCALL on_end(void *arg, const XML_Char *name)
{
	struct xparse *x = arg;

	(void)name;
	if (x->err != LZ_OK)
		return;
	x->cur = x->cur->parent;
	x->depth--;
}

static void XMLCALL on_text(void *arg, const XML_Char *s, int len)
{
	struct xparse *x = arg;

	if (x->err == LZ_OK && x->cur != NULL && strbuf_add(&x->cur->text, s, (size_t)len) != LZ_OK)
		xparse_fail(x, LZ_ENOMEM, "out of memory");
}

static void XMLCALL on_ns_start(void *arg, const XML_Char *prefix, const XML_Char *uri)
{
	struct xparse *x = arg;
	struct nsdecl *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		xparse_fail(x, LZ_ENOMEM, "out of memory");
		return;
	}
	d->prefix = prefix != NULL ? strdup(prefix) : NULL;
	d->uri = strdup(uri != NULL ? uri : "");
	d->next = x->scope;
	x->scope = d;
	if ((prefix != NULL && d->prefix == NULL) || d->uri == NULL)
		xparse_fail(x, LZ_ENOMEM, "out of memory");
}

/* expat ends the declarations of an element in reverse order, so the innermost one goes. */
static void XMLCALL on_ns_end(void *arg, const XML_Char *prefix)
{
	struct xparse *x = arg;
	struct nsdecl *d = x->scope;

	(void)prefix;
	if (d == NULL)
		return;
	x->scope = d->next;
	free(d->prefix);
	free(d->uri);
	free(d);
}

/* A DOCTYPE could declare entities that expand exponentially ("billion laughs"); management
 * bodies never need one, so any DOCTYPE or entity declaration ends the parse. */
static void XMLCALL on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	xparse_fail(arg, LZ_EPARSE, "DOCTYPE declarations are not allowed");
}

static void XMLCALL on_entity_decl(void *arg, const XML_Char *name, int is_parameter_entity,
				   const XML_Char *value, int value_length, const XML_Char *base,
				   const XML_Char *system_id, const XML_Char *public_id,
				   const XML_Char *notation_name)
{
	(void)name;
	(void)is_parameter_entity;
	(void)value;
	(void)value_length;
	(void)base;
	(void)system_id;
	(void)public_id;
	(void)notation_name;
	xparse_fail(arg, LZ_EPARSE, "entity declarations are not allowed");
}

/* Parses `xml` into a tree at *root (freed with xnode_free). LZ_EPARSE with detail. */
static lz_err xml_parse(const char *xml, size_t len, struct xnode **root, struct lz_detail *detail)
{
	struct xparse x;
	struct nsdecl *d;
	enum XML_Status status;
	lz_err err = LZ_OK;

	*root = NULL;
	if (len > XML_MAX_BYTES)
		return detail_fail(detail, LZ_EPARSE, "The request body is larger than %u bytes.",
				   XML_MAX_BYTES);
	memset(&x, 0, sizeof(x));
	x.parser = XML_ParserCreateNS(NULL, NS_SEP);
	if (x.parser == NULL)
		return LZ_ENOMEM;
	XML_SetUserData(x.parser, &x);
	XML_SetElementHandler(x.parser, on_start, on_end);
	XML_SetCharacterDataHandler(x.parser, on_text);
	XML_SetNamespaceDeclHandler(x.parser, on_ns_start, on_ns_end);
	XML_SetStartDoctypeDeclHandler(x.parser, on_doctype);
	XML_SetEntityDeclHandler(x.parser, on_entity_decl);

	status = XML_Parse(x.parser, xml, (int)len, XML_TRUE);
	if (x.err != LZ_OK)
		err = detail_fail(detail, x.err, "The request body was rejected: %s.", x.why);
	else if (status != XML_STATUS_OK)
		err = detail_fail(detail, LZ_EPARSE,
				  "The request body is not valid XML: %s at line %lu, column %lu.",
				  XML_ErrorString(XML_GetErrorCode(x.parser)),
				  (unsigned long)XML_GetCurrentLineNumber(x.parser),
				  (unsigned long)XML_GetCurrentColumnNumber(x.parser));

	while (x.scope != NULL) {
		d = x.scope;
		x.scope = d->next;
		free(d->prefix);
		free(d->uri);
		free(d);
	}
	XML_ParserFree(x.parser);
	if (err != LZ_OK) {
		xnode_free(x.root);
		return err;
	}
	*root = x.root;
	return LZ_OK;
}

/* True when `n` is `local` in namespace `ns`. Elements without a namespace match too: bodies
 * written by hand often leave out the xmlns, and nothing else could be meant. */
static bool xnode_is(const struct xnode *n, const char *ns, const char *local)
{
	return strcmp(n->local, local) == 0 && (n->ns[0] == '\0' || strcmp(n->ns, ns) == 0);
}

/* The first child `local` in the Service Bus namespace, or NULL. */
static const struct xnode *xnode_child(const struct xnode *n, const char *local)
{
	const struct xnode *c;

	for (c = n->first; c != NULL; c = c->next) {
		if (xnode_is(c, NS_SB, local))
			return c;
	}
	return NULL;
}

/* The first child named `local` in any namespace: KeyValueOfstringanyType, Key and Value are
 * in the Service Bus namespace when the SDKs write them, but DataContract dictionaries put
 * them in the Serialization/Arrays namespace, and either form is meant the same way. */
static const struct xnode *xnode_child_any(const struct xnode *n, const char *local)
{
	const struct xnode *c;

	for (c = n->first; c != NULL; c = c->next) {
		if (strcmp(c->local, local) == 0)
			return c;
	}
	return NULL;
}

static bool is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The text of `n` without leading and trailing XML white space, as [*start, *start + len). */
static size_t xnode_span(const struct xnode *n, const char **start)
{
	const char *s = strbuf_cstr(&n->text);
	size_t len = n->text.len;

	while (len > 0 && is_xml_space(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_xml_space(s[len - 1]))
		len--;
	*start = s;
	return len;
}

/* Copies the trimmed text of `n` into `buf`; false when it does not fit (no scalar is that
 * long, so the caller reports an invalid value). */
static bool xnode_token(const struct xnode *n, char buf[TOKEN_LEN])
{
	const char *s;
	size_t len = xnode_span(n, &s);

	if (len >= TOKEN_LEN)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return true;
}

/* ---- scalar values ------------------------------------------------------------------------ */

static bool parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return false;
	return true;
}

static bool parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (*s == '\0')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* xs:double: decimal or exponent notation, "INF", "-INF", "NaN" (strtod's hex, "inf" and
 * "infinity" forms are refused). */
static bool parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (strcmp(s, "INF") == 0 || strcmp(s, "-INF") == 0 || strcmp(s, "NaN") == 0) {
		*out = strtod(s, NULL);
		return true;
	}
	if (*s == '\0' || s[strspn(s, "0123456789+-.eE")] != '\0')
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE || *end != '\0')
		return false;
	*out = v;
	return true;
}

/*
 * The entity name of a ForwardTo value: a bare name ("q2") or a URI whose path is the name
 * ("sb://ns.servicebus.windows.net/q2", "http://127.0.0.1:5300/app/q2"; the query is dropped).
 */
static lz_err forward_name(const char *s, size_t len, char **out)
{
	const char *scheme_end, *path, *stop;
	size_t scheme_len;

	*out = NULL;
	scheme_end = memmem(s, len, "://", 3);
	if (scheme_end != NULL) {
		scheme_len = (size_t)(scheme_end - s);
		if (!((scheme_len == 2 && strncasecmp(s, "sb", 2) == 0) ||
		      (scheme_len == 4 && strncasecmp(s, "http", 4) == 0) ||
		      (scheme_len == 5 && strncasecmp(s, "https", 5) == 0)))
			return LZ_EINVAL;
		path = memchr(scheme_end + 3, '/', len - scheme_len - 3);
		if (path == NULL)
			return LZ_EINVAL;
		path++;
		len -= (size_t)(path - s);
		s = path;
		stop = memchr(s, '?', len);
		if (stop != NULL)
			len = (size_t)(stop - s);
		while (len > 0 && s[len - 1] == '/')
			len--;
	}
	if (len == 0)
		return LZ_EINVAL;
	*out = strndup(s, len);
	return *out != NULL ? LZ_OK : LZ_ENOMEM;
}

/* ---- entity descriptions ------------------------------------------------------------------ */

#define KIND_BIT(k) (1u << (k))
#define KIND_Q KIND_BIT(ENTITY_QUEUE)
#define KIND_T KIND_BIT(ENTITY_TOPIC)
#define KIND_S KIND_BIT(ENTITY_SUBSCRIPTION)
#define KIND_ALL (KIND_Q | KIND_T | KIND_S)

enum prop_type {
	PROP_DURATION, /* int64_t ms */
	PROP_BOOL,
	PROP_INT64,
	PROP_INT32,
	PROP_STATUS,
	PROP_FORWARD, /* char *: entity name from a name or URI */
	PROP_STRING,  /* char * */
};

/* The settable description elements; read-only ones (SizeInBytes, CreatedAt, CountDetails, ...)
 * are ignored like any unknown element. */
static const struct prop_spec {
	const char *name;
	enum prop_type type;
	unsigned kinds;
	size_t off;
} props[] = {
	{ "LockDuration", PROP_DURATION, KIND_Q | KIND_S,
	  offsetof(struct entity_desc, lock_duration_ms) },
	{ "MaxSizeInMegabytes", PROP_INT64, KIND_Q | KIND_T,
	  offsetof(struct entity_desc, max_size_mb) },
	{ "RequiresDuplicateDetection", PROP_BOOL, KIND_Q | KIND_T,
	  offsetof(struct entity_desc, requires_duplicate_detection) },
	{ "RequiresSession", PROP_BOOL, KIND_Q | KIND_S,
	  offsetof(struct entity_desc, requires_session) },
	{ "DefaultMessageTimeToLive", PROP_DURATION, KIND_ALL,
	  offsetof(struct entity_desc, default_ttl_ms) },
	{ "DeadLetteringOnMessageExpiration", PROP_BOOL, KIND_Q | KIND_S,
	  offsetof(struct entity_desc, dead_lettering_on_expiration) },
	{ "DeadLetteringOnFilterEvaluationExceptions", PROP_BOOL, KIND_S,
	  offsetof(struct entity_desc, dead_lettering_on_filter_exceptions) },
	{ "DuplicateDetectionHistoryTimeWindow", PROP_DURATION, KIND_Q | KIND_T,
	  offsetof(struct entity_desc, dup_window_ms) },
	{ "MaxDeliveryCount", PROP_INT32, KIND_Q | KIND_S,
	  offsetof(struct entity_desc, max_delivery_count) },
	{ "EnableBatchedOperations", PROP_BOOL, KIND_ALL,
	  offsetof(struct entity_desc, enable_batched_operations) },
	{ "IsAnonymousAccessible", PROP_BOOL, KIND_Q | KIND_T,
	  offsetof(struct entity_desc, is_anonymous_accessible) },
	{ "SupportOrdering", PROP_BOOL, KIND_Q | KIND_T,
	  offsetof(struct entity_desc, support_ordering) },
	{ "FilteringMessagesBeforePublishing", PROP_BOOL, KIND_T,
	  offsetof(struct entity_desc, filtering_before_publishing) },
	{ "Status", PROP_STATUS, KIND_ALL, offsetof(struct entity_desc, status) },
	{ "AutoDeleteOnIdle", PROP_DURATION, KIND_ALL,
	  offsetof(struct entity_desc, auto_delete_on_idle_ms) },
	{ "EnablePartitioning", PROP_BOOL, KIND_Q | KIND_T,
	  offsetof(struct entity_desc, enable_partitioning) },
	{ "EnableSubscriptionPartitioning", PROP_BOOL, KIND_T,
	  offsetof(struct entity_desc, enable_subscription_partitioning) },
	{ "EnableExpress", PROP_BOOL, KIND_Q | KIND_T,
	  offsetof(struct entity_desc, enable_express) },
	{ "MaxMessageSizeInKilobytes", PROP_INT64, KIND_Q | KIND_T,
	  offsetof(struct entity_desc, max_message_size_kb) },
	{ "ForwardTo", PROP_FORWARD, KIND_Q | KIND_S, offsetof(struct entity_desc, forward_to) },
	{ "ForwardDeadLetteredMessagesTo", PROP_FORWARD, KIND_Q | KIND_S,
	  offsetof(struct entity_desc, forward_dlq_to) },
	{ "UserMetadata", PROP_STRING, KIND_ALL, offsetof(struct entity_desc, user_metadata) },
};

static lz_err invalid_value(struct lz_detail *detail, const char *param, const char *expected)
{
	return detail_fail(detail, LZ_EINVAL,
			   "The value supplied for %s is not a valid %s. Parameter name: %s.",
			   param, expected, param);
}

/* Reads a string property: UserMetadata verbatim, ForwardTo* trimmed and reduced to a name.
 * Empty text means absent. */
static lz_err prop_read_string(const struct prop_spec *spec, const struct xnode *n, char **field,
			       struct lz_detail *detail)
{
	const char *s = strbuf_cstr(&n->text);
	size_t len = n->text.len;
	char *str = NULL;
	lz_err err;

	if (spec->type == PROP_FORWARD)
		len = xnode_span(n, &s);
	if (len > 0 && spec->type == PROP_FORWARD) {
		err = forward_name(s, len, &str);
		if (err == LZ_EINVAL)
			return invalid_value(detail, spec->name, "entity name or address");
		if (err != LZ_OK)
			return err;
	} else if (len > 0) {
		str = strndup(s, len);
		if (str == NULL)
			return LZ_ENOMEM;
	}
	free(*field);
	*field = str;
	return LZ_OK;
}

/* Reads element `n` into the field `spec` describes. An i:nil element keeps the default. */
static lz_err prop_read(const struct prop_spec *spec, const struct xnode *n, struct entity_desc *d,
			struct lz_detail *detail)
{
	void *field = (char *)d + spec->off;
	const char *expected = NULL;
	char token[TOKEN_LEN];
	int64_t i64;
	lz_err err;

	if (n->nil)
		return LZ_OK;
	if (spec->type == PROP_FORWARD || spec->type == PROP_STRING)
		return prop_read_string(spec, n, field, detail);
	if (!xnode_token(n, token))
		return invalid_value(detail, spec->name, "value");
	switch (spec->type) {
	case PROP_DURATION:
		err = duration_parse_xs(token, field);
		if (err == LZ_ERANGE)
			return detail_fail(detail, LZ_ERANGE,
					   "The value supplied for %s must not be negative. "
					   "Parameter name: %s. "
					   "Actual value was %s.",
					   spec->name, spec->name, token);
		if (err != LZ_OK)
			expected = "duration";
		break;
	case PROP_BOOL:
		if (!parse_bool(token, field))
			expected = "boolean";
		break;
	case PROP_INT64:
		if (!parse_i64(token, INT64_MIN, INT64_MAX, field))
			expected = "Int64";
		break;
	case PROP_INT32:
		if (parse_i64(token, INT32_MIN, INT32_MAX, &i64))
			*(int32_t *)field = (int32_t)i64;
		else
			expected = "Int32";
		break;
	case PROP_STATUS:
		if (entity_status_parse(token, field) != LZ_OK)
			expected = "EntityStatus";
		break;
	case PROP_FORWARD:
	case PROP_STRING:
		break; /* read above */
	}
	return expected == NULL ? LZ_OK : invalid_value(detail, spec->name, expected);
}

/* Finds the description element: the element inside <entry><content>, or the root itself when
 * the body is a bare description (accepted for hand-written requests). */
static lz_err description_find(const struct xnode *root, const struct xnode **out,
			       struct lz_detail *detail)
{
	const struct xnode *c;

	if (!xnode_is(root, NS_ATOM, "entry")) {
		*out = root;
		return LZ_OK;
	}
	for (c = root->first; c != NULL; c = c->next) {
		if (xnode_is(c, NS_ATOM, "content"))
			break;
	}
	if (c == NULL || c->first == NULL)
		return detail_fail(
			detail, LZ_EPARSE,
			"The request body is an Atom entry without a description in <content>.");
	*out = c->first;
	return LZ_OK;
}

static lz_err rule_read(const struct xnode *n, struct rule_desc *r, struct lz_detail *detail);

lz_err atom_parse_entity(const char *xml, size_t len, enum entity_kind expected,
			 struct entity_desc *out, struct rule_desc *default_rule,
			 bool *has_default_rule, struct lz_detail *detail)
{
	struct xnode *root = NULL;
	const struct xnode *desc, *c;
	enum entity_kind kind;
	bool kind_ok;
	size_t i;
	lz_err err;

	entity_desc_defaults(out, expected != 0 ? expected : ENTITY_QUEUE);
	if (default_rule != NULL)
		memset(default_rule, 0, sizeof(*default_rule));
	if (has_default_rule != NULL)
		*has_default_rule = false;

	err = xml_parse(xml, len, &root, detail);
	if (err != LZ_OK)
		return err;
	err = description_find(root, &desc, detail);
	if (err != LZ_OK)
		goto out_free_tree;
	if (xnode_is(desc, NS_SB, "QueueDescription"))
		kind = ENTITY_QUEUE;
	else if (xnode_is(desc, NS_SB, "TopicDescription"))
		kind = ENTITY_TOPIC;
	else if (xnode_is(desc, NS_SB, "SubscriptionDescription"))
		kind = ENTITY_SUBSCRIPTION;
	else
		kind = 0;
	if (expected == ENTITY_SUBSCRIPTION || expected == 0)
		kind_ok = kind != 0 &&
			  (kind == ENTITY_SUBSCRIPTION) == (expected == ENTITY_SUBSCRIPTION);
	else
		kind_ok = kind == expected;
	if (!kind_ok) {
		err = detail_fail(
			detail, LZ_EPARSE, "The request body does not contain a %s; found <%s>.",
			expected == ENTITY_SUBSCRIPTION ? "SubscriptionDescription"
							: "QueueDescription or TopicDescription",
			desc->local);
		goto out_free_tree;
	}
	entity_desc_defaults(out, kind);

	for (c = desc->first; c != NULL; c = c->next) {
		if (kind == ENTITY_SUBSCRIPTION && default_rule != NULL &&
		    xnode_is(c, NS_SB, "DefaultRuleDescription")) {
			rule_desc_release(default_rule);
			err = rule_read(c, default_rule, detail);
			if (err == LZ_OK && default_rule->name == NULL)
				err = model_strdup(&default_rule->name, "$Default");
			if (err == LZ_OK)
				err = entity_subname_validate(default_rule->name, true, detail);
			if (err == LZ_OK)
				err = rule_desc_validate(default_rule, detail);
			if (err != LZ_OK)
				goto out_release;
			if (has_default_rule != NULL)
				*has_default_rule = true;
			continue;
		}
		for (i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
			if ((props[i].kinds & KIND_BIT(kind)) != 0 &&
			    xnode_is(c, NS_SB, props[i].name))
				break;
		}
		if (i == sizeof(props) / sizeof(props[0]))
			continue;
		err = prop_read(&props[i], c, out, detail);
		if (err != LZ_OK)
			goto out_release;
	}
	err = entity_desc_validate(out, detail);
	if (err != LZ_OK)
		goto out_release;
	xnode_free(root);
	return LZ_OK;

out_release:
	if (default_rule != NULL)
		rule_desc_release(default_rule);
	if (has_default_rule != NULL)
		*has_default_rule = false;
out_free_tree:
	entity_desc_release(out);
	xnode_free(root);
	return err;
}

/* ---- rules -------------------------------------------------------------------------------- */

/* Reads a typed <Value i:type="prefix:TYPE"> into OUT `v`. No i:type means a string (as the
 * .NET client reads it); i:nil means VALUE_NULL. */
static lz_err value_read(const struct xnode *n, const char *key, struct value *v,
			 struct lz_detail *detail)
{
	char token[TOKEN_LEN];
	value_type type = VALUE_STRING;
	int64_t i64 = 0;
	bool ok;

	memset(v, 0, sizeof(*v));
	if (n->nil)
		return LZ_OK;
	if (n->type_local != NULL) {
		ok = strcmp(n->type_ns, NS_XS) == 0 || (strcmp(n->type_ns, NS_SERIALIZATION) == 0 &&
							strcmp(n->type_local, "duration") == 0);
		if (!ok || value_type_parse(n->type_local, &type) != LZ_OK || type == VALUE_NULL)
			return detail_fail(detail, LZ_EINVAL,
					   "The type '%.64s' of property '%.64s' is not supported; "
					   "only string, "
					   "int, long, boolean, double, dateTime and duration are.",
					   n->type_local, key);
	}
	if (type == VALUE_STRING) {
		v->u.s = strdup(strbuf_cstr(&n->text));
		if (v->u.s == NULL)
			return LZ_ENOMEM;
		v->type = VALUE_STRING;
		return LZ_OK;
	}
	ok = xnode_token(n, token);
	switch (type) {
	case VALUE_INT:
		ok = ok && parse_i64(token, INT32_MIN, INT32_MAX, &v->u.i);
		break;
	case VALUE_LONG:
		ok = ok && parse_i64(token, INT64_MIN, INT64_MAX, &v->u.i);
		break;
	case VALUE_BOOL:
		ok = ok && parse_bool(token, &v->u.b);
		break;
	case VALUE_DOUBLE:
		ok = ok && parse_double(token, &v->u.d);
		break;
	case VALUE_DATETIME:
		ok = ok && timefmt_parse_iso8601(token, &i64) == LZ_OK;
		v->u.i = i64;
		break;
	case VALUE_DURATION:
		ok = ok && duration_parse_xs(token, &i64) == LZ_OK;
		v->u.i = i64;
		break;
	case VALUE_NULL:
	case VALUE_STRING:
		break;
	}
	if (!ok) {
		memset(v, 0, sizeof(*v));
		return detail_fail(detail, LZ_EINVAL,
				   "The value of property '%.64s' is not a valid %s.", key,
				   value_type_name(type));
	}
	v->type = type;
	return LZ_OK;
}

/* Reads <Parameters> / <Properties>: a list of KeyValueOfstringanyType with Key and Value. */
static lz_err kv_list_read(const struct xnode *list, struct proplist *out, struct lz_detail *detail)
{
	const struct xnode *kv, *key, *val;
	struct value v;
	lz_err err;

	for (kv = list->first; kv != NULL; kv = kv->next) {
		if (strcmp(kv->local, "KeyValueOfstringanyType") != 0)
			continue;
		key = xnode_child_any(kv, "Key");
		val = xnode_child_any(kv, "Value");
		if (key == NULL || val == NULL || key->text.len == 0)
			return detail_fail(
				detail, LZ_EINVAL,
				"Each KeyValueOfstringanyType in <%s> needs a Key and a Value.",
				list->local);
		err = value_read(val, strbuf_cstr(&key->text), &v, detail);
		if (err != LZ_OK)
			return err;
		err = proplist_set(out, strbuf_cstr(&key->text), &v);
		value_release(&v);
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

/* Reads the string child `local` of `n` into *out (absent, empty or i:nil: NULL). */
static lz_err string_child_read(const struct xnode *n, const char *local, char **out)
{
	const struct xnode *c = xnode_child(n, local);

	free(*out);
	*out = NULL;
	if (c == NULL || c->nil || c->text.len == 0)
		return LZ_OK;
	return model_strdup(out, strbuf_cstr(&c->text));
}

/* Reads SqlExpression, CompatibilityLevel and Parameters of a SqlFilter or SqlRuleAction. */
static lz_err sql_read(const struct xnode *n, char **expr, int32_t *level, struct proplist *params,
		       struct lz_detail *detail)
{
	const struct xnode *c;
	char token[TOKEN_LEN];
	int64_t i64;
	lz_err err;

	err = string_child_read(n, "SqlExpression", expr);
	if (err != LZ_OK)
		return err;
	c = xnode_child(n, "CompatibilityLevel");
	if (c != NULL && !c->nil) {
		if (!xnode_token(c, token) || !parse_i64(token, INT32_MIN, INT32_MAX, &i64))
			return invalid_value(detail, "CompatibilityLevel", "Int32");
		*level = (int32_t)i64;
	}
	c = xnode_child(n, "Parameters");
	if (c != NULL)
		return kv_list_read(c, params, detail);
	return LZ_OK;
}

static const struct {
	const char *name;
	size_t off;
} correlation_fields[] = {
	{ "CorrelationId", offsetof(struct correlation_filter, correlation_id) },
	{ "MessageId", offsetof(struct correlation_filter, message_id) },
	{ "To", offsetof(struct correlation_filter, to) },
	{ "ReplyTo", offsetof(struct correlation_filter, reply_to) },
	{ "Label", offsetof(struct correlation_filter, label) },
	{ "SessionId", offsetof(struct correlation_filter, session_id) },
	{ "ReplyToSessionId", offsetof(struct correlation_filter, reply_to_session_id) },
	{ "ContentType", offsetof(struct correlation_filter, content_type) },
};

static lz_err filter_read(const struct xnode *f, struct rule_desc *r, struct lz_detail *detail)
{
	const struct xnode *props_node;
	size_t i;
	lz_err err;

	if (f->type_local == NULL)
		return detail_fail(
			detail, LZ_EINVAL,
			"The Filter element needs an i:type attribute. Parameter name: Filter.");
	if (strcmp(f->type_local, "TrueFilter") == 0) {
		r->filter_type = FILTER_TRUE;
	} else if (strcmp(f->type_local, "FalseFilter") == 0) {
		r->filter_type = FILTER_FALSE;
	} else if (strcmp(f->type_local, "SqlFilter") == 0) {
		r->filter_type = FILTER_SQL;
		return sql_read(f, &r->sql_expression, &r->sql_compat_level, &r->sql_params,
				detail);
	} else if (strcmp(f->type_local, "CorrelationFilter") == 0) {
		r->filter_type = FILTER_CORRELATION;
		for (i = 0; i < sizeof(correlation_fields) / sizeof(correlation_fields[0]); i++) {
			err = string_child_read(
				f, correlation_fields[i].name,
				(char **)(void *)((char *)&r->corr + correlation_fields[i].off));
			if (err != LZ_OK)
				return err;
		}
		props_node = xnode_child(f, "Properties");
		if (props_node != NULL)
			return kv_list_read(props_node, &r->corr.properties, detail);
	} else {
		return detail_fail(
			detail, LZ_EINVAL,
			"The filter type '%.64s' is not supported. Parameter name: Filter.",
			f->type_local);
	}
	return LZ_OK;
}

static lz_err action_read(const struct xnode *a, struct rule_desc *r, struct lz_detail *detail)
{
	if (a->type_local == NULL)
		return detail_fail(
			detail, LZ_EINVAL,
			"The Action element needs an i:type attribute. Parameter name: Action.");
	if (strcmp(a->type_local, "EmptyRuleAction") == 0) {
		r->action_type = ACTION_EMPTY;
		return LZ_OK;
	}
	if (strcmp(a->type_local, "SqlRuleAction") == 0) {
		r->action_type = ACTION_SQL;
		return sql_read(a, &r->action_sql, &r->action_compat_level, &r->action_params,
				detail);
	}
	return detail_fail(detail, LZ_EINVAL,
			   "The action type '%.64s' is not supported. Parameter name: Action.",
			   a->type_local);
}

/* Reads a RuleDescription (or DefaultRuleDescription) element into the zeroed `r`: a missing
 * Filter is a TrueFilter and a missing Action an EmptyRuleAction, as the SDKs default them. */
static lz_err rule_read(const struct xnode *n, struct rule_desc *r, struct lz_detail *detail)
{
	const struct xnode *c;
	lz_err err;

	r->filter_type = FILTER_TRUE;
	r->sql_compat_level = 20;
	r->action_type = ACTION_EMPTY;
	r->action_compat_level = 20;
	c = xnode_child(n, "Filter");
	if (c != NULL && !c->nil) {
		err = filter_read(c, r, detail);
		if (err != LZ_OK)
			return err;
	}
	c = xnode_child(n, "Action");
	if (c != NULL && !c->nil) {
		err = action_read(c, r, detail);
		if (err != LZ_OK)
			return err;
	}
	return string_child_read(n, "Name", &r->name);
}

lz_err atom_parse_rule(const char *xml, size_t len, const char *name, struct rule_desc *out,
		       struct lz_detail *detail)
{
	struct xnode *root = NULL;
	const struct xnode *desc;
	lz_err err;

	memset(out, 0, sizeof(*out));
	err = xml_parse(xml, len, &root, detail);
	if (err != LZ_OK)
		return err;
	err = description_find(root, &desc, detail);
	if (err != LZ_OK)
		goto out_free_tree;
	if (!xnode_is(desc, NS_SB, "RuleDescription")) {
		err = detail_fail(
			detail, LZ_EPARSE,
			"The request body does not contain a RuleDescription; found <%s>.",
			desc->local);
		goto out_free_tree;
	}
	err = rule_read(desc, out, detail);
	if (err == LZ_OK && name != NULL) {
		free(out->name);
		err = model_strdup(&out->name, name);
	}
	if (err == LZ_OK)
		err = rule_desc_validate(out, detail);
	if (err != LZ_OK)
		rule_desc_release(out);

out_free_tree:
	xnode_free(root);
	return err;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* An XML writer that remembers the first failure, so a sequence of appends needs one check. */
struct xw {
	struct strbuf *b;
	lz_err err;
};

static void xw_raw(struct xw *w, const char *s)
{
	if (w->err == LZ_OK)
		w->err = strbuf_adds(w->b, s);
}

static void xw_fmt(struct xw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void xw_fmt(struct xw *w, const char *fmt, ...)
{
	va_list ap;
	char buf[256];
	int n;

	if (w->err != LZ_OK)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		w->err = LZ_ETOOBIG;
	else
		w->err = strbuf_add(w->b, buf, (size_t)n);
}

/* Appends `s` escaped for XML text or an attribute value. */
static void xw_esc(struct xw *w, const char *s)
{
	if (w->err == LZ_OK)
		w->err = strbuf_add_xml(w->b, s);
}

/* <name>escaped text</name> */
static void xw_elem(struct xw *w, const char *name, const char *text)
{
	xw_fmt(w, "<%s>", name);
	xw_esc(w, text);
	xw_fmt(w, "</%s>", name);
}

static void xw_bool(struct xw *w, const char *name, bool v)
{
	xw_fmt(w, "<%s>%s</%s>", name, v ? "true" : "false", name);
}

static void xw_i64(struct xw *w, const char *name, int64_t v)
{
	xw_fmt(w, "<%s>%" PRId64 "</%s>", name, v, name);
}

static void xw_u64(struct xw *w, const char *name, uint64_t v)
{
	xw_fmt(w, "<%s>%" PRIu64 "</%s>", name, v, name);
}

static void xw_duration(struct xw *w, const char *name, int64_t ms)
{
	char text[DURATION_XS_LEN] = "";

	if (w->err == LZ_OK)
		w->err = duration_format_xs(ms, text, sizeof(text));
	xw_elem(w, name, text);
}

enum time_style {
	TIME_SECONDS, /* "2021-04-19T17:21:10Z": Atom <published>/<updated> */
	TIME_MS,      /* "2021-04-19T17:21:10.687Z": queue and topic properties */
	TIME_TICKS,   /* "2020-07-17T02:22:22.6630000Z": subscription and rule properties */
};

#define TIME_TEXT_LEN 32

static lz_err time_text(int64_t ms, enum time_style style, char out[TIME_TEXT_LEN])
{
	lz_err err;

	if (style == TIME_TICKS)
		return timefmt_iso8601_ticks(ms, out, TIME_TEXT_LEN);
	err = timefmt_iso8601_ms(ms, out, TIME_TEXT_LEN);
	/* "YYYY-MM-DDTHH:MM:SS.mmmZ": drop ".mmm" for whole seconds. */
	if (err == LZ_OK && style == TIME_SECONDS)
		memcpy(out + 19, "Z", 2);
	return err;
}

static void xw_time(struct xw *w, const char *name, int64_t ms, enum time_style style)
{
	char text[TIME_TEXT_LEN] = "";

	if (w->err == LZ_OK)
		w->err = time_text(ms, style, text);
	xw_elem(w, name, text);
}

/* AccessedAt: "0001-01-01T00:00:00Z" for a queue or topic never accessed and
 * "0001-01-01T00:00:00" (no zone, as observed) for such a subscription. */
static void xw_accessed(struct xw *w, int64_t ms, enum time_style style)
{
	if (ms != 0)
		xw_time(w, "AccessedAt", ms, style);
	else
		xw_elem(w, "AccessedAt",
			style == TIME_TICKS ? "0001-01-01T00:00:00" : "0001-01-01T00:00:00Z");
}

/* ?api-version=... or nothing. */
static void xw_query(struct xw *w, const struct atom_ctx *ctx)
{
	if (ctx->api_version != NULL && ctx->api_version[0] != '\0') {
		xw_raw(w, "?api-version=");
		xw_esc(w, ctx->api_version);
	}
}

/*
 * ForwardTo and ForwardDeadLetteredMessagesTo hold entity names; Azure echoes them as
 * "sb://{ns}.servicebus.windows.net/{name}". The emulator writes its own address instead,
 * "{base_url}/{name}", so the value is a URL that reaches the destination here; SDKs only
 * carry the string through, and parsing it back yields the name again.
 */
static void xw_forward(struct xw *w, const char *name, const char *target,
		       const struct atom_ctx *ctx)
{
	if (target == NULL)
		return;
	xw_fmt(w, "<%s>", name);
	xw_esc(w, ctx->base_url);
	xw_raw(w, "/");
	xw_esc(w, target);
	xw_fmt(w, "</%s>", name);
}

static void xw_string_opt(struct xw *w, const char *name, const char *s)
{
	if (s != NULL)
		xw_elem(w, name, s);
}

static void xw_count_details(struct xw *w, const struct entity_info *e)
{
	xw_raw(w, "<CountDetails xmlns:d2p1=\"" NS_SB_COUNTS "\">");
	xw_u64(w, "d2p1:ActiveMessageCount", e->active_count);
	xw_u64(w, "d2p1:DeadLetterMessageCount", e->deadletter_count);
	xw_u64(w, "d2p1:ScheduledMessageCount", e->scheduled_count);
	xw_u64(w, "d2p1:TransferMessageCount", e->transfer_count);
	xw_u64(w, "d2p1:TransferDeadLetterMessageCount", e->transfer_deadletter_count);
	xw_raw(w, "</CountDetails>");
}

#define DESC_NS_ATTRS "xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI "\""

/* QueueDescription in the order of spec §2.5; ForwardTo, ForwardDeadLetteredMessagesTo and
 * UserMetadata come last, where the service was seen to put them. */
static void xw_queue(struct xw *w, const struct entity_info *e, const struct atom_ctx *ctx)
{
	const struct entity_desc *d = &e->desc;

	xw_raw(w, "<QueueDescription " DESC_NS_ATTRS ">");
	xw_duration(w, "LockDuration", d->lock_duration_ms);
	xw_i64(w, "MaxSizeInMegabytes", d->max_size_mb);
	xw_bool(w, "RequiresDuplicateDetection", d->requires_duplicate_detection);
	xw_bool(w, "RequiresSession", d->requires_session);
	xw_duration(w, "DefaultMessageTimeToLive", d->default_ttl_ms);
	xw_bool(w, "DeadLetteringOnMessageExpiration", d->dead_lettering_on_expiration);
	xw_duration(w, "DuplicateDetectionHistoryTimeWindow", d->dup_window_ms);
	xw_i64(w, "MaxDeliveryCount", d->max_delivery_count);
	xw_bool(w, "EnableBatchedOperations", d->enable_batched_operations);
	xw_u64(w, "SizeInBytes", e->size_bytes);
	if (ctx->runtime)
		xw_u64(w, "MessageCount", e->message_count);
	xw_bool(w, "IsAnonymousAccessible", d->is_anonymous_accessible);
	xw_raw(w, "<AuthorizationRules/>");
	xw_elem(w, "Status", entity_status_name(d->status));
	xw_time(w, "CreatedAt", e->created_at, TIME_MS);
	xw_time(w, "UpdatedAt", e->updated_at, TIME_MS);
	if (ctx->runtime)
		xw_accessed(w, e->accessed_at, TIME_MS);
	xw_bool(w, "SupportOrdering", d->support_ordering);
	if (ctx->runtime)
		xw_count_details(w, e);
	xw_duration(w, "AutoDeleteOnIdle", d->auto_delete_on_idle_ms);
	xw_bool(w, "EnablePartitioning", d->enable_partitioning);
	xw_elem(w, "EntityAvailabilityStatus", "Available");
	xw_bool(w, "EnableExpress", d->enable_express);
	xw_i64(w, "MaxMessageSizeInKilobytes", d->max_message_size_kb);
	xw_forward(w, "ForwardTo", d->forward_to, ctx);
	xw_forward(w, "ForwardDeadLetteredMessagesTo", d->forward_dlq_to, ctx);
	xw_string_opt(w, "UserMetadata", d->user_metadata);
	xw_raw(w, "</QueueDescription>");
}

/* TopicDescription in the order of spec §2.6. */
static void xw_topic(struct xw *w, const struct entity_info *e, const struct atom_ctx *ctx)
{
	const struct entity_desc *d = &e->desc;

	xw_raw(w, "<TopicDescription " DESC_NS_ATTRS ">");
	xw_duration(w, "DefaultMessageTimeToLive", d->default_ttl_ms);
	xw_i64(w, "MaxSizeInMegabytes", d->max_size_mb);
	xw_bool(w, "RequiresDuplicateDetection", d->requires_duplicate_detection);
	xw_duration(w, "DuplicateDetectionHistoryTimeWindow", d->dup_window_ms);
	xw_bool(w, "EnableBatchedOperations", d->enable_batched_operations);
	xw_u64(w, "SizeInBytes", e->size_bytes);
	xw_bool(w, "FilteringMessagesBeforePublishing", d->filtering_before_publishing);
	xw_bool(w, "IsAnonymousAccessible", d->is_anonymous_accessible);
	xw_raw(w, "<AuthorizationRules/>");
	xw_elem(w, "Status", entity_status_name(d->status));
	xw_string_opt(w, "UserMetadata", d->user_metadata);
	xw_time(w, "CreatedAt", e->created_at, TIME_MS);
	xw_time(w, "UpdatedAt", e->updated_at, TIME_MS);
	if (ctx->runtime)
		xw_accessed(w, e->accessed_at, TIME_MS);
	xw_bool(w, "SupportOrdering", d->support_ordering);
	if (ctx->runtime) {
		xw_count_details(w, e);
		xw_u64(w, "SubscriptionCount", e->subscription_count);
	}
	xw_duration(w, "AutoDeleteOnIdle", d->auto_delete_on_idle_ms);
	xw_bool(w, "EnablePartitioning", d->enable_partitioning);
	xw_elem(w, "EntityAvailabilityStatus", "Available");
	xw_bool(w, "EnableSubscriptionPartitioning", d->enable_subscription_partitioning);
	xw_bool(w, "EnableExpress", d->enable_express);
	xw_i64(w, "MaxMessageSizeInKilobytes", d->max_message_size_kb);
	xw_raw(w, "</TopicDescription>");
}

/* SubscriptionDescription in the order of spec §2.7. */
static void xw_subscription(struct xw *w, const struct entity_info *e, const struct atom_ctx *ctx)
{
	const struct entity_desc *d = &e->desc;

	xw_raw(w, "<SubscriptionDescription " DESC_NS_ATTRS ">");
	xw_duration(w, "LockDuration", d->lock_duration_ms);
	xw_bool(w, "RequiresSession", d->requires_session);
	xw_duration(w, "DefaultMessageTimeToLive", d->default_ttl_ms);
	xw_bool(w, "DeadLetteringOnMessageExpiration", d->dead_lettering_on_expiration);
	xw_bool(w, "DeadLetteringOnFilterEvaluationExceptions",
		d->dead_lettering_on_filter_exceptions);
	if (ctx->runtime)
		xw_u64(w, "MessageCount", e->message_count);
	xw_i64(w, "MaxDeliveryCount", d->max_delivery_count);
	xw_bool(w, "EnableBatchedOperations", d->enable_batched_operations);
	xw_elem(w, "Status", entity_status_name(d->status));
	xw_forward(w, "ForwardTo", d->forward_to, ctx);
	xw_string_opt(w, "UserMetadata", d->user_metadata);
	xw_time(w, "CreatedAt", e->created_at, TIME_TICKS);
	xw_time(w, "UpdatedAt", e->updated_at, TIME_TICKS);
	if (ctx->runtime) {
		xw_accessed(w, e->accessed_at, TIME_TICKS);
		xw_count_details(w, e);
	}
	xw_forward(w, "ForwardDeadLetteredMessagesTo", d->forward_dlq_to, ctx);
	xw_duration(w, "AutoDeleteOnIdle", d->auto_delete_on_idle_ms);
	xw_elem(w, "EntityAvailabilityStatus", "Available");
	xw_raw(w, "</SubscriptionDescription>");
}

/*
 * The head of an entry up to and including <content type="application/xml">.
 * `path` is the entity path, `title` its display name. In a feed the entry carries xml:base =
 * the collection's URL (`feed_dir` under base_url) and a self link relative to it (`rel_link`,
 * e.g. "../q1", "subscriptions/s1"), as Azure's feeds do; otherwise the link is absolute.
 */
static void xw_entry_head(struct xw *w, const struct atom_ctx *ctx, const char *path,
			  const char *title, int64_t published_ms, bool with_author,
			  const char *feed_dir, const char *rel_prefix, const char *rel_name)
{
	if (ctx->in_feed) {
		xw_raw(w, "<entry xml:base=\"");
		xw_esc(w, ctx->base_url);
		xw_raw(w, "/");
		xw_esc(w, feed_dir);
		xw_raw(w, "\">");
	} else {
		xw_raw(w, XML_DECL "<entry xmlns=\"" NS_ATOM "\">");
	}
	xw_raw(w, "<id>");
	xw_esc(w, ctx->base_url);
	xw_raw(w, "/");
	xw_esc(w, path);
	xw_query(w, ctx);
	xw_raw(w, "</id><title type=\"text\">");
	xw_esc(w, title);
	xw_raw(w, "</title>");
	if (!ctx->update)
		xw_time(w, "published", published_ms, TIME_SECONDS);
	xw_time(w, "updated", ctx->now_ms, TIME_SECONDS);
	if (with_author) {
		xw_raw(w, "<author><name>");
		xw_esc(w, ctx->namespace_name);
		xw_raw(w, "</name></author>");
	}
	xw_raw(w, "<link rel=\"self\" href=\"");
	if (ctx->in_feed) {
		xw_raw(w, rel_prefix);
		xw_esc(w, rel_name);
	} else {
		xw_esc(w, ctx->base_url);
		xw_raw(w, "/");
		xw_esc(w, path);
	}
	xw_query(w, ctx);
	xw_raw(w, "\"/><content type=\"application/xml\">");
}

static lz_err xw_finish(struct xw *w, size_t start)
{
	if (w->err != LZ_OK) {
		w->b->len = start;
		if (w->b->data != NULL)
			w->b->data[start] = '\0';
	}
	return w->err;
}

lz_err atom_write_entity(struct strbuf *b, const struct entity_info *e, const struct atom_ctx *ctx)
{
	struct xw w = { b, LZ_OK };
	size_t start = b->len;
	const char *slash;
	char *dir = NULL;

	switch (e->desc.kind) {
	case ENTITY_QUEUE:
	case ENTITY_TOPIC:
		xw_entry_head(&w, ctx, e->path, e->name, e->created_at, true,
			      e->desc.kind == ENTITY_QUEUE ? "$Resources/queues"
							   : "$Resources/topics",
			      "../", e->path);
		if (e->desc.kind == ENTITY_QUEUE)
			xw_queue(&w, e, ctx);
		else
			xw_topic(&w, e, ctx);
		break;
	case ENTITY_SUBSCRIPTION:
		/* "t1/subscriptions/s1": the collection is "t1/subscriptions". */
		slash = strrchr(e->path, '/');
		dir = strndup(e->path, slash != NULL ? (size_t)(slash - e->path) : 0);
		if (dir == NULL)
			return LZ_ENOMEM;
		xw_entry_head(&w, ctx, e->path, e->name, e->created_at, false, dir,
			      "subscriptions/", e->name);
		xw_subscription(&w, e, ctx);
		break;
	default:
		return LZ_EINVAL;
	}
	xw_raw(&w, "</content></entry>");
	free(dir);
	return xw_finish(&w, start);
}

/* <Parameters> / <Properties>: each entry a KeyValueOfstringanyType with a typed Value whose
 * type prefix is declared on the Value itself (as the .NET client writes it). */
static void xw_kv_list(struct xw *w, const char *name, const struct proplist *l)
{
	char text[TOKEN_LEN] = "";
	const struct prop *p;
	size_t i;

	if (l->n == 0) {
		xw_fmt(w, "<%s/>", name);
		return;
	}
	xw_fmt(w, "<%s>", name);
	for (i = 0; i < l->n; i++) {
		p = &l->items[i];
		xw_raw(w, "<KeyValueOfstringanyType>");
		xw_elem(w, "Key", p->name);
		if (p->v.type == VALUE_NULL) {
			xw_raw(w, "<Value i:nil=\"true\"/>");
		} else {
			xw_fmt(w, "<Value i:type=\"d6p1:%s\" xmlns:d6p1=\"%s\">",
			       value_type_name(p->v.type),
			       p->v.type == VALUE_DURATION ? NS_SERIALIZATION : NS_XS);
			if (p->v.type == VALUE_STRING) {
				xw_esc(w, p->v.u.s);
			} else {
				if (w->err == LZ_OK)
					w->err = value_format_text(&p->v, text, sizeof(text));
				xw_esc(w, text);
			}
			xw_raw(w, "</Value>");
		}
		xw_raw(w, "</KeyValueOfstringanyType>");
	}
	xw_fmt(w, "</%s>", name);
}

static void xw_sql(struct xw *w, const char *expr, int32_t level, const struct proplist *params)
{
	xw_elem(w, "SqlExpression", expr);
	xw_i64(w, "CompatibilityLevel", level);
	if (params->n > 0)
		xw_kv_list(w, "Parameters", params);
}

/* RuleDescription in the order of spec §2.8: Filter, Action, CreatedAt, Name. */
static void xw_rule(struct xw *w, const struct rule_desc *r)
{
	size_t i;
	const char *s;

	xw_raw(w, "<RuleDescription " DESC_NS_ATTRS ">");
	switch (r->filter_type) {
	case FILTER_TRUE:
		xw_raw(w, "<Filter i:type=\"TrueFilter\">");
		xw_sql(w, "1=1", r->sql_compat_level, &r->sql_params);
		break;
	case FILTER_FALSE:
		xw_raw(w, "<Filter i:type=\"FalseFilter\">");
		xw_sql(w, "1=0", r->sql_compat_level, &r->sql_params);
		break;
	case FILTER_SQL:
		xw_raw(w, "<Filter i:type=\"SqlFilter\">");
		xw_sql(w, r->sql_expression != NULL ? r->sql_expression : "", r->sql_compat_level,
		       &r->sql_params);
		break;
	case FILTER_CORRELATION:
		xw_raw(w, "<Filter i:type=\"CorrelationFilter\">");
		for (i = 0; i < sizeof(correlation_fields) / sizeof(correlation_fields[0]); i++) {
			s = *(char *const *)(const void *)((const char *)&r->corr +
							   correlation_fields[i].off);
			xw_string_opt(w, correlation_fields[i].name, s);
		}
		xw_kv_list(w, "Properties", &r->corr.properties);
		break;
	default:
		w->err = w->err != LZ_OK ? w->err : LZ_EINVAL;
		return;
	}
	xw_raw(w, "</Filter>");
	if (r->action_type == ACTION_SQL) {
		xw_raw(w, "<Action i:type=\"SqlRuleAction\">");
		xw_sql(w, r->action_sql != NULL ? r->action_sql : "", r->action_compat_level,
		       &r->action_params);
		xw_raw(w, "</Action>");
	} else {
		xw_raw(w, "<Action i:type=\"EmptyRuleAction\"/>");
	}
	xw_time(w, "CreatedAt", r->created_at, TIME_TICKS);
	xw_elem(w, "Name", r->name != NULL ? r->name : "");
	xw_raw(w, "</RuleDescription>");
}

lz_err atom_write_rule(struct strbuf *b, const struct rule_desc *r, const char *sub_path,
		       const struct atom_ctx *ctx)
{
	struct xw w = { b, LZ_OK };
	size_t start = b->len;
	const char *name = r->name != NULL ? r->name : "";
	char *path, *dir;

	if (asprintf(&path, "%s/rules/%s", sub_path, name) < 0)
		return LZ_ENOMEM;
	if (asprintf(&dir, "%s/rules", sub_path) < 0) {
		free(path);
		return LZ_ENOMEM;
	}
	xw_entry_head(&w, ctx, path, name, r->created_at, false, dir, "rules/", name);
	xw_rule(&w, r);
	xw_raw(&w, "</content></entry>");
	free(dir);
	free(path);
	return xw_finish(&w, start);
}

lz_err atom_write_feed_begin(struct strbuf *b, const char *title, const char *self_url,
			     const struct atom_ctx *ctx)
{
	struct xw w = { b, LZ_OK };
	size_t start = b->len;

	xw_raw(&w, XML_DECL "<feed xmlns=\"" NS_ATOM "\"><title type=\"text\">");
	xw_esc(&w, title);
	xw_raw(&w, "</title>");
	xw_elem(&w, "id", self_url);
	xw_time(&w, "updated", ctx->now_ms, TIME_SECONDS);
	xw_raw(&w, "<link rel=\"self\" href=\"");
	xw_esc(&w, self_url);
	xw_raw(&w, "\"/>");
	return xw_finish(&w, start);
}

lz_err atom_write_feed_end(struct strbuf *b)
{
	return strbuf_adds(b, "</feed>");
}

lz_err atom_write_error(struct strbuf *b, int http_status, const char *detail, const char *tracker,
			int64_t now_ms)
{
	struct xw w = { b, LZ_OK };
	size_t start = b->len;
	size_t len = detail != NULL ? strlen(detail) : 0;
	char text[TIME_TEXT_LEN] = "";

	xw_fmt(&w, "<Error><Code>%d</Code><Detail>", http_status);
	if (len > 0) {
		xw_esc(&w, detail);
		xw_raw(&w, detail[len - 1] == '.' ? " " : ". ");
	}
	xw_raw(&w, "TrackingId:");
	xw_esc(&w, tracker != NULL ? tracker : "");
	xw_raw(&w, ", SystemTracker:localzure, Timestamp:");
	if (w.err == LZ_OK)
		w.err = time_text(now_ms, TIME_SECONDS, text);
	xw_raw(&w, text);
	xw_raw(&w, "</Detail></Error>");
	return xw_finish(&w, start);
}
