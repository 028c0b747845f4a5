/*
 * atom — the Atom/XML form of entity descriptions and rules used by the management API.
 *
 * Parsing is namespace-aware and order-insensitive (expat); unknown elements are ignored, and
 * element prefixes do not matter, only namespace URIs. Output follows the element order Azure
 * emits (see ../shared/reference/servicebus-spec.md §2.4–2.8).
 *
 * Ownership: parse functions fill caller-provided structs that the caller releases with the
 * matching *_release (also on failure they leave them released). Emitters append to a strbuf.
 * Thread rules: none; all functions are pure.
 */
#ifndef LZ_BROKER_ATOM_H
#define LZ_BROKER_ATOM_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/core.h"
#include "common/strbuf.h"
#include "proto/model.h"

/* How an entry is rendered. */
struct atom_ctx {
	const char *base_url;    /* "http://127.0.0.1:5300" (no trailing slash) */
	const char *namespace_name; /* shown in <author><name> and error trackers, e.g. "localzure"; ForwardTo
				     * is written as base_url + "/" + name, the emulator's own address */
	const char *api_version; /* echoed as ?api-version=...; NULL or "" to omit */
	int64_t now_ms;          /* for <updated> */
	bool runtime;            /* GET/list: include AccessedAt, CountDetails, MessageCount, SubscriptionCount */
	bool update;             /* PUT with If-Match: omit <published> */
	bool in_feed;            /* entry inside a feed: relative self link, xml:base */
};

/*
 * Parses a PUT body for a queue/topic/subscription. With `expected` = ENTITY_SUBSCRIPTION only a
 * SubscriptionDescription is accepted; with 0 a QueueDescription or TopicDescription (the body
 * decides; out->kind tells which). Properties not present take Azure's defaults (full-replace
 * semantics). A subscription's DefaultRuleDescription goes to *default_rule with
 * *has_default_rule = true. Errors: LZ_EPARSE (not XML / not an Atom entry / no description),
 * LZ_EINVAL / LZ_ERANGE (a value that does not parse or is out of range; detail names the element).
 */
lz_err atom_parse_entity(const char *xml, size_t len, enum entity_kind expected, struct entity_desc *out,
			 struct rule_desc *default_rule, bool *has_default_rule, struct lz_detail *detail);

/* Parses a PUT body for a rule (<RuleDescription> inside an entry). `name` is the rule name from
 * the URL (the body's <Name> is ignored if different). */
lz_err atom_parse_rule(const char *xml, size_t len, const char *name, struct rule_desc *out,
		       struct lz_detail *detail);

/* One <entry> for an entity (the XML declaration is emitted only when !ctx->in_feed). */
lz_err atom_write_entity(struct strbuf *b, const struct entity_info *e, const struct atom_ctx *ctx);

/* One <entry> for rule `r` of subscription `sub_path` ("t1/subscriptions/s1"). */
lz_err atom_write_rule(struct strbuf *b, const struct rule_desc *r, const char *sub_path,
		       const struct atom_ctx *ctx);

/* Feed envelope: title "Queues" | "Topics" | "Subscriptions" | "Rules"; self_url = request URL. */
lz_err atom_write_feed_begin(struct strbuf *b, const char *title, const char *self_url,
			     const struct atom_ctx *ctx);
lz_err atom_write_feed_end(struct strbuf *b);

/* <Error><Code>status</Code><Detail>detail. TrackingId:..., SystemTracker:..., Timestamp:...</Detail></Error> */
lz_err atom_write_error(struct strbuf *b, int http_status, const char *detail, const char *tracker,
			int64_t now_ms);

#endif
