/*
 * model — the durable data model shared by the broker and persistd: entity descriptions, rules
 * and message fields. Journal records (proto/journal.h) carry these structures.
 *
 * Units: every time is int64 milliseconds since the Unix epoch (UTC); every duration is int64
 * milliseconds with DURATION_INFINITE (common/duration.h) for TimeSpan.MaxValue.
 *
 * Ownership: every char * and proplist inside a struct is owned by that struct and freed by its
 * *_release function; NULL strings mean "absent". *_copy functions deep-copy into an
 * uninitialised destination and leave it released on failure.
 */
#ifndef LZ_PROTO_MODEL_H
#define LZ_PROTO_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/value.h"

enum entity_kind {
	ENTITY_QUEUE = 1,
	ENTITY_TOPIC = 2,
	ENTITY_SUBSCRIPTION = 3,
};

enum entity_status {
	STATUS_ACTIVE = 0,
	STATUS_DISABLED = 1,
	STATUS_SEND_DISABLED = 2,
	STATUS_RECEIVE_DISABLED = 3,
};

/*
 * Every settable property of QueueDescription, TopicDescription and SubscriptionDescription.
 * Fields that do not belong to `kind` keep their defaults and are neither emitted nor stored.
 */
struct entity_desc {
	enum entity_kind kind;
	int64_t lock_duration_ms;                 /* queue, subscription */
	int64_t max_size_mb;                      /* queue, topic */
	bool requires_duplicate_detection;        /* queue, topic; create-only */
	bool requires_session;                    /* queue, subscription; create-only */
	int64_t default_ttl_ms;                   /* all */
	bool dead_lettering_on_expiration;        /* queue, subscription */
	bool dead_lettering_on_filter_exceptions; /* subscription */
	int64_t dup_window_ms;                    /* queue, topic */
	int32_t max_delivery_count;               /* queue, subscription */
	bool enable_batched_operations;           /* all */
	bool is_anonymous_accessible;             /* queue, topic */
	bool support_ordering;                    /* queue, topic */
	bool filtering_before_publishing;         /* topic */
	enum entity_status status;                /* all */
	int64_t auto_delete_on_idle_ms;           /* all */
	bool enable_partitioning;                 /* queue, topic; create-only */
	bool enable_subscription_partitioning;    /* topic */
	bool enable_express;                      /* queue, topic */
	int64_t max_message_size_kb;              /* queue, topic */
	char *forward_to;                         /* queue, subscription: entity name, not URI */
	char *forward_dlq_to;                     /* queue, subscription: entity name, not URI */
	char *user_metadata;                      /* all */
};

enum filter_type {
	FILTER_TRUE = 0,
	FILTER_FALSE = 1,
	FILTER_SQL = 2,
	FILTER_CORRELATION = 3,
};

enum action_type {
	ACTION_EMPTY = 0,
	ACTION_SQL = 1,
};

struct correlation_filter {
	char *correlation_id;
	char *message_id;
	char *to;
	char *reply_to;
	char *label;
	char *session_id;
	char *reply_to_session_id;
	char *content_type;
	struct proplist properties;
};

/* A subscription rule. SQL filters and actions are stored (expression, compatibility level and
 * parameters) for a later evaluator; TRUE/FALSE/CORRELATION are evaluated now. */
struct rule_desc {
	char *name;
	enum filter_type filter_type;
	char *sql_expression;     /* FILTER_SQL; "1=1"/"1=0" are implied for TRUE/FALSE */
	int32_t sql_compat_level; /* 20 */
	struct proplist sql_params;
	struct correlation_filter corr; /* FILTER_CORRELATION */
	enum action_type action_type;
	char *action_sql;
	int32_t action_compat_level;
	struct proplist action_params;
	int64_t created_at;
};

/* The system properties a sender may set (BrokerProperties / AMQP properties). */
struct msg_props {
	char *message_id;
	char *correlation_id;
	char *session_id;
	char *reply_to;
	char *reply_to_session_id;
	char *to;
	char *label;
	char *content_type;
	char *partition_key;
	char *via_partition_key;
	bool has_ttl;               /* false: the entity default applies */
	int64_t ttl_ms;
	int64_t scheduled_enqueue_ms; /* 0: not scheduled */
	bool force_persistence;
};

void entity_desc_release(struct entity_desc *d);
lz_err entity_desc_copy(struct entity_desc *dst, const struct entity_desc *src);

void correlation_filter_release(struct correlation_filter *c);
lz_err correlation_filter_copy(struct correlation_filter *dst, const struct correlation_filter *src);

void rule_desc_release(struct rule_desc *r);
lz_err rule_desc_copy(struct rule_desc *dst, const struct rule_desc *src);

void msg_props_release(struct msg_props *p);
lz_err msg_props_copy(struct msg_props *dst, const struct msg_props *src);

/* Copies `src` (may be NULL) into a new heap string at *dst. */
lz_err model_strdup(char **dst, const char *src);

const char *entity_kind_name(enum entity_kind k);   /* "Queue", "Topic", "Subscription" */
const char *entity_status_name(enum entity_status s); /* "Active", "Disabled", ... */
lz_err entity_status_parse(const char *s, enum entity_status *out);

#endif
