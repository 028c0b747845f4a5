/*
 * entity — Azure's defaults, valid ranges and naming rules for entities and rules.
 *
 * Thread rules: none; all functions are pure. Errors fill `detail` (may be NULL) with Azure-style
 * text naming the property, e.g. "The supplied lock time exceeds the allowed maximum of '5'
 * minutes. Parameter name: LockDuration. Actual value was 00:10:00.".
 */
#ifndef LZ_BROKER_ENTITY_H
#define LZ_BROKER_ENTITY_H

#include <stdbool.h>

#include "broker/core.h"
#include "proto/model.h"

/* Fills `d` with Azure's defaults for `kind` (strings NULL). */
void entity_desc_defaults(struct entity_desc *d, enum entity_kind kind);

/* Checks every range of §2.5–2.7 for d->kind. LZ_ERANGE / LZ_EINVAL with detail. */
lz_err entity_desc_validate(const struct entity_desc *d, struct lz_detail *detail);

/* LZ_EIMMUTABLE when `next` changes a create-only property of `prev` (RequiresSession,
 * RequiresDuplicateDetection, EnablePartitioning). */
lz_err entity_desc_check_update(const struct entity_desc *prev, const struct entity_desc *next,
				struct lz_detail *detail);

/* Queue/topic path: segments of letters, digits, '.', '-', '_' separated by '/', each starting
 * and ending with a letter or digit, ≤ 260 chars, not starting with '$'. */
lz_err entity_path_validate(const char *path, struct lz_detail *detail);
/* Subscription or rule name: one segment ≤ 50 chars, letters, digits, '.', '-', '_' ('$Default'
 * allowed for rules). */
lz_err entity_subname_validate(const char *name, bool is_rule, struct lz_detail *detail);

/* A rule's filter/action sanity: SQL expression present and ≤ 1024 chars, correlation filter
 * with at least one condition. */
lz_err rule_desc_validate(const struct rule_desc *r, struct lz_detail *detail);

/* The `$Default` rule: TRUE filter, empty action. */
lz_err rule_desc_default(struct rule_desc *r, int64_t now_ms);

#endif
