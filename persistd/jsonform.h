/*
 * jsonform — the JSON form of a stored entity (struct jrec_load_entity) and message (struct
 * jrec_load_message): exactly the objects the json backend writes to its files (every field is
 * documented at the top of persistd/store_json.c, JSON FORMAT 1), offered to the export/import
 * file format (persistd/export.c) so that both read and write one documented shape.
 *
 * Ownership: the *_new functions return a new cJSON tree (cJSON_Delete it) or NULL when out of
 * memory. The *_read functions fill `out` with owned memory (release it with
 * journal_load_entity_release / journal_load_message_release) on LZ_OK; on failure nothing is
 * left to release and `detail` says "json: <where>: <field>: <why>".
 *
 * Implemented in persistd/store_json.c, which owns the form.
 *
 * Thread rules: none (pure functions).
 */
#ifndef LZ_PERSISTD_JSONFORM_H
#define LZ_PERSISTD_JSONFORM_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "persistd/store.h"
#include "proto/journal.h"

cJSON *jsonform_entity_new(const struct jrec_load_entity *e);
/* with_text: add BodyText (the body again when it is UTF-8 text, for people reading the file;
 * readers ignore it) as the json backend's files do. */
cJSON *jsonform_message_new(const struct jrec_load_message *m, bool with_text);
lz_err jsonform_entity_read(const cJSON *root, const char *where, struct jrec_load_entity *out,
			    struct store_detail *detail);
lz_err jsonform_message_read(const cJSON *root, const char *where, struct jrec_load_message *out,
			     struct store_detail *detail);

#endif
