/*
 * provision — queues, topics, subscriptions and rules declared in configuration, created by the
 * broker at start when they are missing.
 *
 * Two sources, both optional:
 *   - the Microsoft Service Bus emulator's Config.json (setting `emulator_config`): UserConfig →
 *     Namespaces[0] → Queues / Topics → Subscriptions → Rules with their Properties, PascalCase
 *     names as the emulator's schema has them; `//` and block comments are allowed, as in the
 *     emulator's shipped sample; the Logging section and the namespace Name are accepted and
 *     ignored;
 *   - the `entities:` section of the YAML settings file (setting `config_path`), the same tree in
 *     snake_case keys (docs/configuration.md lists every key).
 * Every declared property goes through the same checks as an Atom PUT (broker/entity.h): a
 * declaration the management API would refuse is refused here, with the same reason.
 *
 * Calling sequence (broker/main.c):
 *   provision_list_init(&l);
 *   provision_parse_json(path, &l, ...);  and/or  provision_parse_yaml(path, &l, ...);
 *       -- before the core exists: an invalid file stops start-up before persistd is contacted
 *   ... state transfer from persistd into the core ...
 *   provision_apply(core, &l, ...);  -- before the HTTP server serves anyone
 *   provision_list_release(&l);
 * Several parse calls append to one list; an entity declared twice (in one source or across
 * both) is an error naming both places.
 *
 * Applying: existing entities and rules are left exactly as they are (logged "exists, kept");
 * missing ones are created through the core's normal create calls, so they are journaled and
 * made durable like an Atom PUT (logged "created"). Order: topics, then queues (a queue whose
 * ForwardTo / ForwardDeadLetteredMessagesTo names a declared queue is created after it; queues
 * that forward to each other in a cycle are created without their forwarding first and then
 * updated with it), then subscriptions, then rules. A new subscription with declared rules gets
 * its first rule in place of `$Default` (as the emulator does: `$Default` would match every
 * message and make the filters pointless); a subscription without declared rules gets `$Default`.
 * Before anything is created every ForwardTo target is checked to be a declared or existing
 * queue or topic, and every declared entity not to exist as another kind.
 *
 * Errors: LZ_EINVAL (a declaration the broker refuses), LZ_EPARSE (malformed JSON or YAML, or an
 * unterminated comment), LZ_ESYS (the file cannot be read), LZ_ENOMEM; provision_apply also
 * passes on the core's codes (e.g. LZ_EBUSY from the journal). `detail` (may be NULL; give it
 * ≥ 1024 bytes) then names the file (with line:column where the parser gives one: always for
 * YAML, for JSON syntax errors), the entity ("queue 'orders'", "rule 'r1' of subscription 's1' of
 * topic 't1'") and the property, and for an unknown property the accepted names.
 *
 * Ownership: a provision_list owns everything in it. Thread rules: none; provision_apply takes
 * the core's mutex per call like any front end and may run with other threads using the core.
 */
#ifndef LZ_BROKER_PROVISION_H
#define LZ_BROKER_PROVISION_H

#include <stddef.h>

#include "broker/core.h"
#include "common/err.h"
#include "proto/model.h"

/* One declared rule of a subscription. */
struct provision_rule {
	struct rule_desc desc; /* desc.name is the rule name */
	char *where;           /* "file:line:column" (YAML) or "file" (Config.json) */
};

/* Which file format a declaration came from: errors name properties in that format's spelling. */
enum provision_format {
	PROVISION_JSON = 0, /* emulator Config.json: PascalCase */
	PROVISION_YAML = 1, /* the YAML entities section: snake_case */
};

/* One declared queue, topic or subscription. */
struct provision_entity {
	char *path;                   /* core path: "q", "t", "t/subscriptions/s" */
	char *name;                   /* as declared: the queue, topic or subscription name */
	char *topic;                  /* subscriptions: the topic's name; NULL otherwise */
	struct entity_desc desc;      /* Azure's defaults plus the declared properties */
	struct provision_rule *rules; /* subscriptions: declared rules, in file order */
	size_t n_rules;
	char *where;                  /* where it was declared */
	enum provision_format format;
};

/* Declarations in file order (a topic before its subscriptions). A zeroed list is empty. */
struct provision_list {
	struct provision_entity *items;
	size_t n, cap;
};

void provision_list_init(struct provision_list *l);
/* Frees everything `l` holds and leaves it empty; NULL is a no-op. */
void provision_list_release(struct provision_list *l);

/*
 * Replaces the comments of commented JSON (`//` to the end of the line, block comments) in
 * text[0..len) with spaces, in place and outside strings only; newlines stay, so line and
 * column numbers of the result are those of the file. LZ_EPARSE for a block comment that never
 * ends, with its line and column in `detail`.
 */
lz_err provision_json_strip_comments(char *text, size_t len, char *detail, size_t detail_cap);

/* Appends the entities of the emulator Config.json at `path` to `l`. On failure `l` holds what it
 * held before. */
lz_err provision_parse_json(const char *path, struct provision_list *l, char *detail, size_t detail_cap);
/* Same with the text already in memory; `source` names it in messages. */
lz_err provision_parse_json_text(const char *text, size_t len, const char *source, struct provision_list *l,
				 char *detail, size_t detail_cap);

/* Appends the entities of the `entities:` section of the YAML settings file at `path` (none when
 * the file has no such section). On failure `l` holds what it held before. */
lz_err provision_parse_yaml(const char *path, struct provision_list *l, char *detail, size_t detail_cap);

/*
 * Creates every declared entity and rule of `l` missing from `c` (see Applying). *created (may be
 * NULL) receives how many entities and rules were created. On failure what was created before
 * the failing declaration stays (it is journaled like any create); the caller stops start-up.
 */
lz_err provision_apply(core *c, const struct provision_list *l, size_t *created, char *detail,
		       size_t detail_cap);

#endif
