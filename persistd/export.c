/*
 * export — the export file. FORMAT VERSION 1 (EXPORT_FORMAT_VERSION).
 *
 * JSON Lines: UTF-8 text, one JSON object per line, each line ended by "\n" (no other line
 * breaks: strings escape theirs). Lines, in this order:
 *
 *   1. header   {"Format": "localzure-export", "Version": 1, "JsonFormat": 1,
 *                "Lsn": <uint>, "CreatedAt": "<ISO 8601 UTC>", "Backend": "<name>",
 *                "Entities": <uint>, "Messages": <uint>}
 *              Lsn is the exporting store's last_applied_lsn; Backend where it came from;
 *              Entities / Messages the counts that follow (for progress; the trailer is checked).
 *   2. entities {"Entity": <entity object>}, every topic before its subscriptions
 *   3. messages {"Message": <message object>}
 *   4. trailer  {"End": true, "Entities": <uint>, "Messages": <uint>}
 *
 * <entity object> and <message object> are JSON FORMAT 1 of the json backend, documented field
 * by field at the top of persistd/store_json.c (Path, Kind, the description's properties,
 * Rules, DuplicateDetectionHistory; Path, Where, SequenceNumber, state, the message's broker
 * and user properties, Body as base64), except that messages carry no BodyText (the body a
 * second time, as text: it would make the file half as big again; readers ignore it anyway). Times are ISO 8601 UTC text, durations ISO 8601
 * durations, bodies base64 (RFC 4648, padded). A reader refuses a Version it does not know,
 * unknown line kinds, entities after the first message, and a missing or disagreeing trailer:
 * a file cut short is never taken for a smaller state.
 *
 * Example (one message in queue "q"):
 *   {"Format":"localzure-export","Version":1,"JsonFormat":1,"Lsn":7,"CreatedAt":"2026-...Z",
 *    "Backend":"sqlite","Entities":1,"Messages":1}
 *   {"Entity":{"Path":"q","Kind":"Queue",...}}
 *   {"Message":{"Path":"q","Where":"Main","SequenceNumber":1,...,"Body":"aGk="}}
 *   {"End":true,"Entities":1,"Messages":1}
 */
#include "persistd/export.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "common/timefmt.h"
#include "persistd/jsonform.h"

#define EXPORT_MAGIC "localzure-export"
#define PROGRESS_EVERY 4096u

static void detail_set(char *detail, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void detail_set(char *detail, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (detail == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, cap, fmt, ap);
	va_end(ap);
}

/* ---- writing ------------------------------------------------------------------------------ */

struct writer {
	FILE *out;
	const char *path;
	const struct export_progress *progress;
	struct export_counts *counts;
	uint64_t total;
	char *detail;
	size_t cap;
};

/* Writes `obj` (taken: deleted here; NULL means an allocation failed) and a newline. */
static lz_err writer_raw(struct writer *w, cJSON *obj)
{
	char *text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;
	lz_err err = LZ_OK;
	size_t len;

	cJSON_Delete(obj);
	if (text == NULL) {
		detail_set(w->detail, w->cap, "out of memory writing %s", w->path);
		return LZ_ENOMEM;
	}
	len = strlen(text);
	if (fwrite(text, 1, len, w->out) != len || fputc('\n', w->out) == EOF) {
		detail_set(w->detail, w->cap, "write %s: %s", w->path, strerror(errno));
		err = LZ_ESYS;
	}
	w->counts->bytes += len + 1;
	free(text);
	return err;
}

/* Writes {"<kind>": item}; takes ownership of item (NULL: an allocation failed). */
static lz_err writer_line(struct writer *w, const char *kind, cJSON *item)
{
	cJSON *line = item != NULL ? cJSON_CreateObject() : NULL;

	if (line == NULL || !cJSON_AddItemToObject(line, kind, item)) {
		cJSON_Delete(item);
		cJSON_Delete(line);
		line = NULL;
	}
	return writer_raw(w, line);
}

static void writer_tick(struct writer *w)
{
	uint64_t done = w->counts->entities + w->counts->messages;

	if (w->progress != NULL && done % PROGRESS_EVERY == 0)
		w->progress->fn(w->progress->arg, done, w->total);
}

static lz_err writer_entity(void *arg, const struct jrec_load_entity *e)
{
	struct writer *w = arg;
	lz_err err = writer_line(w, "Entity", jsonform_entity_new(e));

	if (err == LZ_OK) {
		w->counts->entities++;
		writer_tick(w);
	}
	return err;
}

static lz_err writer_message(void *arg, const struct jrec_load_message *m)
{
	struct writer *w = arg;
	lz_err err = writer_line(w, "Message", jsonform_message_new(m, false));

	if (err == LZ_OK) {
		w->counts->messages++;
		writer_tick(w);
	}
	return err;
}

lz_err export_write(const struct store_ops *ops, store *s, FILE *out, const char *path,
		    const struct export_progress *progress, struct export_counts *counts, char *detail, size_t cap)
{
	struct writer w = { out, path, progress, counts, 0, detail, cap };
	struct store_visitor v = { writer_entity, writer_message, &w };
	struct store_detail sd = { "" };
	struct store_stats st;
	char created[64];
	cJSON *head, *tail;
	lz_err err;

	memset(counts, 0, sizeof(*counts));
	if (detail != NULL && cap > 0)
		detail[0] = '\0';
	err = ops->stats(s, &st, &sd);
	if (err != LZ_OK) {
		detail_set(detail, cap, "%s backend stats: %s", ops->name, sd.text);
		return err;
	}
	w.total = st.entities + st.messages;
	counts->lsn = st.last_applied_lsn;
	if (timefmt_iso8601_ms((int64_t)time(NULL) * 1000, created, sizeof(created)) != LZ_OK)
		snprintf(created, sizeof(created), "1970-01-01T00:00:00Z");
	head = cJSON_CreateObject();
	if (head != NULL &&
	    (cJSON_AddStringToObject(head, "Format", EXPORT_MAGIC) == NULL ||
	     cJSON_AddNumberToObject(head, "Version", EXPORT_FORMAT_VERSION) == NULL ||
	     cJSON_AddNumberToObject(head, "JsonFormat", 1) == NULL ||
	     cJSON_AddNumberToObject(head, "Lsn", (double)st.last_applied_lsn) == NULL ||
	     cJSON_AddStringToObject(head, "CreatedAt", created) == NULL ||
	     cJSON_AddStringToObject(head, "Backend", ops->name) == NULL ||
	     cJSON_AddNumberToObject(head, "Entities", (double)st.entities) == NULL ||
	     cJSON_AddNumberToObject(head, "Messages", (double)st.messages) == NULL)) {
		cJSON_Delete(head);
		head = NULL;
	}
	err = writer_raw(&w, head);
	if (err != LZ_OK)
		return err;
	err = ops->load(s, &v, &sd);
	if (err != LZ_OK) {
		if (detail != NULL && detail[0] == '\0')
			detail_set(detail, cap, "%s backend load: %s", ops->name, sd.text);
		return err;
	}
	tail = cJSON_CreateObject();
	if (tail != NULL && (cJSON_AddBoolToObject(tail, "End", 1) == NULL ||
			     cJSON_AddNumberToObject(tail, "Entities", (double)counts->entities) == NULL ||
			     cJSON_AddNumberToObject(tail, "Messages", (double)counts->messages) == NULL)) {
		cJSON_Delete(tail);
		tail = NULL;
	}
	err = writer_raw(&w, tail);
	if (err != LZ_OK)
		return err;
	if (fflush(out) != 0) {
		detail_set(detail, cap, "write %s: %s", path, strerror(errno));
		return LZ_ESYS;
	}
	if (progress != NULL)
		progress->fn(progress->arg, counts->entities + counts->messages, w.total);
	return LZ_OK;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* A non-negative integral number member (JSON numbers above 2^53 lose precision: refused). */
static bool read_count(const cJSON *obj, const char *name, uint64_t *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 9007199254740992.0 ||
	    it->valuedouble != (double)(uint64_t)it->valuedouble)
		return false;
	*out = (uint64_t)it->valuedouble;
	return true;
}

static lz_err read_header(const cJSON *h, const char *path, uint64_t *total, struct export_counts *counts, char *detail,
			  size_t cap)
{
	const cJSON *magic = cJSON_GetObjectItemCaseSensitive(h, "Format");
	uint64_t version, entities, messages;

	if (!cJSON_IsString(magic) || strcmp(magic->valuestring, EXPORT_MAGIC) != 0) {
		detail_set(detail, cap, "%s:1: not a LocalZure export file (no \"Format\": \"%s\" header)", path,
			   EXPORT_MAGIC);
		return LZ_EPARSE;
	}
	if (!read_count(h, "Version", &version)) {
		detail_set(detail, cap, "%s:1: Version: expected a number", path);
		return LZ_EPARSE;
	}
	if (version != EXPORT_FORMAT_VERSION) {
		detail_set(detail, cap, "%s:1: export format version %" PRIu64 " is not supported (this build reads %d)",
			   path, version, EXPORT_FORMAT_VERSION);
		return LZ_EUNSUPPORTED;
	}
	if (!read_count(h, "Lsn", &counts->lsn) || !read_count(h, "Entities", &entities) ||
	    !read_count(h, "Messages", &messages)) {
		detail_set(detail, cap, "%s:1: Lsn, Entities and Messages must be non-negative integers", path);
		return LZ_EPARSE;
	}
	*total = entities + messages;
	return LZ_OK;
}

lz_err export_read(FILE *in, const char *path, const struct export_sink *sink, const struct export_progress *progress,
		   struct export_counts *counts, char *detail, size_t cap)
{
	char *line = NULL;
	size_t line_cap = 0;
	uint64_t lineno = 0, total = 0;
	bool ended = false;
	lz_err err = LZ_OK;
	ssize_t n;

	memset(counts, 0, sizeof(*counts));
	errno = 0;
	while ((n = getline(&line, &line_cap, in)) >= 0) {
		const char *end = NULL;
		char where[64];
		struct store_detail sd = { "" };
		const cJSON *item;
		cJSON *obj;

		lineno++;
		counts->bytes += (uint64_t)n;
		if (ended) {
			detail_set(detail, cap, "%s:%" PRIu64 ": data after the End line", path, lineno);
			err = LZ_EPARSE;
			break;
		}
		if (n == 0 || line[n - 1] != '\n') {
			detail_set(detail, cap, "%s:%" PRIu64 ": the line is not complete (file cut short?)", path, lineno);
			err = LZ_EPARSE;
			break;
		}
		obj = cJSON_ParseWithLengthOpts(line, (size_t)n, &end, false);
		if (obj == NULL || !cJSON_IsObject(obj)) {
			detail_set(detail, cap, "%s:%" PRIu64 ": not a JSON object (column %td)", path, lineno,
				   end != NULL ? end - line + 1 : (ptrdiff_t)1);
			cJSON_Delete(obj);
			err = LZ_EPARSE;
			break;
		}
		snprintf(where, sizeof(where), "line %" PRIu64, lineno);
		if (lineno == 1) {
			err = read_header(obj, path, &total, counts, detail, cap);
		} else if ((item = cJSON_GetObjectItemCaseSensitive(obj, "Entity")) != NULL) {
			struct jrec_load_entity e;

			if (counts->messages > 0) {
				detail_set(detail, cap, "%s:%" PRIu64 ": an Entity after the first Message", path, lineno);
				err = LZ_EPARSE;
			} else if ((err = jsonform_entity_read(item, where, &e, &sd)) != LZ_OK) {
				detail_set(detail, cap, "%s: %s", path, sd.text);
			} else {
				err = sink->entity(sink->arg, &e, detail, cap);
				journal_load_entity_release(&e);
				counts->entities++;
			}
		} else if ((item = cJSON_GetObjectItemCaseSensitive(obj, "Message")) != NULL) {
			struct jrec_load_message m;

			if ((err = jsonform_message_read(item, where, &m, &sd)) != LZ_OK) {
				detail_set(detail, cap, "%s: %s", path, sd.text);
			} else {
				err = sink->message(sink->arg, &m, detail, cap);
				journal_load_message_release(&m);
				counts->messages++;
			}
		} else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "End"))) {
			uint64_t ne, nm;

			if (!read_count(obj, "Entities", &ne) || !read_count(obj, "Messages", &nm) ||
			    ne != counts->entities || nm != counts->messages) {
				detail_set(detail, cap, "%s:%" PRIu64 ": the End line's counts do not match the %" PRIu64
					   " entities and %" PRIu64 " messages read", path, lineno, counts->entities,
					   counts->messages);
				err = LZ_EPARSE;
			}
			ended = true;
		} else {
			detail_set(detail, cap, "%s:%" PRIu64 ": expected an Entity, Message or End line", path, lineno);
			err = LZ_EPARSE;
		}
		cJSON_Delete(obj);
		if (err != LZ_OK)
			break;
		if (progress != NULL && (counts->entities + counts->messages) % PROGRESS_EVERY == 0)
			progress->fn(progress->arg, counts->entities + counts->messages, total);
	}
	if (err == LZ_OK && ferror(in)) {
		detail_set(detail, cap, "read %s: %s", path, strerror(errno));
		err = LZ_ESYS;
	}
	if (err == LZ_OK && lineno == 0) {
		detail_set(detail, cap, "%s: empty file, not a LocalZure export", path);
		err = LZ_EPARSE;
	}
	if (err == LZ_OK && !ended) {
		detail_set(detail, cap, "%s:%" PRIu64 ": no End line: the file is incomplete", path, lineno);
		err = LZ_EPARSE;
	}
	if (err == LZ_OK && progress != NULL)
		progress->fn(progress->arg, counts->entities + counts->messages, total);
	free(line);
	return err;
}
