/*
 * brokerprops — the REST data plane's message metadata: the BrokerProperties JSON header, user
 * properties carried as HTTP headers, the batch-send body and the emulator's JSON message form.
 *
 * Wire forms (spec §1.2):
 *   BrokerProperties   one header whose value is a JSON object. On send the settable keys are
 *                      MessageId, CorrelationId, SessionId, ReplyTo, ReplyToSessionId, To, Label,
 *                      PartitionKey, ViaPartitionKey (strings), TimeToLive (number of seconds),
 *                      ScheduledEnqueueTimeUtc (an HTTP date, RFC 1123 preferred; ISO-8601 is
 *                      also accepted), ForcePersistence (bool) and, as an extension, ContentType
 *                      (string). Keys may come in any order; unknown and read-only keys
 *                      (SequenceNumber, LockToken, ...) are ignored; JSON null means "absent".
 *                      On receive the keys are written in ordinal order, as the service does.
 *   user properties    one header per property (value typing: value_parse_header); standard and
 *                      hop-by-hop HTTP headers are never user properties (see
 *                      brokerprops_header_reserved).
 *   batch body         `application/vnd.microsoft.servicebus.json`: a JSON array of
 *                      {"Body": string, "BrokerProperties": {...}, "UserProperties": {...}};
 *                      BrokerProperties may also use TimeToLiveTimeSpan (.NET TimeSpan text),
 *                      which wins over TimeToLive; a user property is a string, number or bool.
 *   emulator message   {"BrokerProperties": {...}, "UserProperties": {...}, "Body": base64}.
 *
 * JSON is read with cJSON (a batch body is ~110 KB per request on the hot path; jansson was
 * measured ten times slower). Duplicate keys: the last one wins for BrokerProperties and user
 * properties, the first for Body. Two limits follow from cJSON: a number is an Int64 when it is
 * integral and within ±2^53, a Double otherwise; a "\u0000" escape anywhere is refused (cJSON
 * ends strings at NUL, which would silently cut a Body).
 *
 * Errors: malformed input gives LZ_EINVAL (not JSON — the detail gives the byte offset —, wrong
 * JSON type, unparsable date or TTL, an untypable header) or LZ_ERANGE (negative TTL, an id
 * longer than 128 characters), with `detail` (may be NULL) naming the key or header. LZ_ENOMEM.
 *
 * Ownership: parse functions fill caller-provided structs which the caller releases
 * (msg_props_release, proplist_release, brokerprops_batch_free); on failure they leave them
 * released. Render functions append to a strbuf.
 * Thread rules: none; all functions are pure.
 */
#ifndef LZ_BROKER_BROKERPROPS_H
#define LZ_BROKER_BROKERPROPS_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/core.h"
#include "common/strbuf.h"
#include "proto/model.h"

/* Longest MessageId, SessionId and PartitionKey the service accepts (spec §3.13). */
#define BROKERPROPS_ID_MAX 128

/*
 * Parses the BrokerProperties header value `json` (`len` bytes, need not be NUL-terminated) into
 * OUT `out`, which must be zeroed. Empty or all-blank text is an empty object.
 */
lz_err brokerprops_parse(const char *json, size_t len, struct msg_props *out, struct lz_detail *detail);

/*
 * Appends the BrokerProperties JSON of `m` to `out`: DeliveryCount, EnqueuedSequenceNumber,
 * EnqueuedTimeUtc, MessageId, SequenceNumber, State and TimeToLive always; LockToken and
 * LockedUntilUtc when m->lock_token is set; every other property only when set. Pure ASCII
 * (non-ASCII text is \u-escaped), so the result is a valid header value.
 */
lz_err brokerprops_render(const struct msg_out *m, struct strbuf *out);

/* True for header names that are never user properties: Content-Type, Host, Authorization,
 * BrokerProperties, Connection, Accept*, Proxy-*, x-ms-*, tracing headers, ... (ASCII case-
 * insensitive). */
bool brokerprops_header_reserved(const char *name);

/* True when `name` is a valid HTTP header name (an RFC 7230 token), so it can be sent back. */
bool brokerprops_header_name_ok(const char *name);

/*
 * Adds request header `name: value` to `user` when it is a user property: reserved names are
 * skipped (LZ_OK, nothing added); otherwise the value is typed with value_parse_header and an
 * untypable value gives LZ_EINVAL naming the header. On failure `user` is unchanged.
 */
lz_err brokerprops_user_from_header(struct proplist *user, const char *name, const char *value,
				    struct lz_detail *detail);

/*
 * Parses a batch-send body into OUT `*msgs` (an array of `*n` messages, each with its own body
 * reference). An empty array is LZ_EINVAL. Free with brokerprops_batch_free().
 */
lz_err brokerprops_parse_batch(const char *json, size_t len, struct msg_in **msgs, size_t *n,
			       struct lz_detail *detail);
void brokerprops_batch_free(struct msg_in *msgs, size_t n);

/* Appends `m` as one emulator JSON message object (see Wire forms) to `out`. */
lz_err brokerprops_render_json_message(const struct msg_out *m, struct strbuf *out);

/* Appends `s` as a JSON string literal, quotes included, ASCII-only. */
lz_err brokerprops_json_string(struct strbuf *out, const char *s);

#endif
