/*
 * control — requests of the localzure command. PROTOCOL VERSION 1 (CONTROL_VERSION).
 *
 * Transport: nng req0 (the CLI) → rep0 (persistd) on control_url; one request, one reply. Each
 * message body is one UTF-8 JSON object (no trailing bytes), at most CONTROL_MAX_REQUEST bytes
 * for a request.
 *
 * Request: {"Version": 1, "Op": "<op>", ...arguments}
 *   stats                                   the status and the configuration in force
 *   export   "Path": absolute file path, "Overwrite": bool (default false)
 *            written as "<Path>.tmp", fsynced, renamed over Path: never a partial file
 *   import   "Path": absolute file path, "Replace": bool (default false)
 *   compact
 *   purge
 *   migrate  "To": "TYPE[:LOCATION]"
 *
 * Reply: {"Version": 1, "Ok": true, ...results} or
 *        {"Version": 1, "Ok": false, "Code": "<lz_err name, e.g. LZ_EEXIST>", "Error": "<text>"}
 *   stats   → "Backend", "Location", "MigratedFrom" (absent: none), "Store": {"Entities",
 *             "Messages", "Active", "Deferred", "DeadLettered", "Scheduled", "SizeBytes",
 *             "LastAppliedLsn"}, "Wal": {"Enabled", "Dir", "Bytes", "Segments", "FirstLsn",
 *             "LastLsn"}, "DurableLsn", "LastFold": {"At": ISO 8601 | null, "Ms": number},
 *             "BrokerConnected", "Counters": {"Appends", "Records", "Syncs"}, "Config": YAML text
 *   export / import → "Entities", "Messages", "Bytes", "Lsn"
 *   migrate → "Backend", "Location", "MigratedFrom"
 * Numbers are JSON numbers (exact up to 2^53). An unknown Op, a missing argument or a Version
 * other than 1 is a reply with Ok false and Code LZ_EINVAL / LZ_EUNSUPPORTED.
 */
#include "persistd/control.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/fsio.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "persistd/server.h"

static lz_err reply_put(struct strbuf *reply, cJSON *doc)
{
	char *text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;
	lz_err err;

	cJSON_Delete(doc);
	if (text == NULL)
		return strbuf_adds(reply, "{\"Version\":1,\"Ok\":false,\"Code\":\"LZ_ENOMEM\",\"Error\":\"out of memory\"}");
	err = strbuf_adds(reply, text);
	free(text);
	return err;
}

static cJSON *reply_new(bool ok)
{
	cJSON *doc = cJSON_CreateObject();

	if (doc != NULL && (cJSON_AddNumberToObject(doc, "Version", CONTROL_VERSION) == NULL ||
			    cJSON_AddBoolToObject(doc, "Ok", ok) == NULL)) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

static lz_err reply_error(struct strbuf *reply, lz_err code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static lz_err reply_error(struct strbuf *reply, lz_err code, const char *fmt, ...)
{
	cJSON *doc = reply_new(false);
	char text[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (doc != NULL && (cJSON_AddStringToObject(doc, "Code", err_name(code)) == NULL ||
			    cJSON_AddStringToObject(doc, "Error", text) == NULL)) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	return reply_put(reply, doc);
}

/* cJSON_Add*ToObject results are checked once through this flag. */
struct build {
	bool oom;
};

static void add_num(struct build *b, cJSON *o, const char *name, double v)
{
	if (cJSON_AddNumberToObject(o, name, v) == NULL)
		b->oom = true;
}

static void add_str(struct build *b, cJSON *o, const char *name, const char *v)
{
	if (cJSON_AddStringToObject(o, name, v) == NULL)
		b->oom = true;
}

static void add_bool(struct build *b, cJSON *o, const char *name, bool v)
{
	if (cJSON_AddBoolToObject(o, name, v) == NULL)
		b->oom = true;
}

static cJSON *add_obj(struct build *b, cJSON *o, const char *name)
{
	cJSON *c = cJSON_AddObjectToObject(o, name);

	if (c == NULL)
		b->oom = true;
	return c != NULL ? c : o;
}

static lz_err op_stats(struct server *s, struct strbuf *reply, char *detail, size_t cap)
{
	struct server_status st;
	struct strbuf yaml = STRBUF_INIT;
	struct build b = { false };
	cJSON *doc, *o;
	lz_err err;

	err = server_status_get(s, &st, detail, cap);
	if (err != LZ_OK)
		return err;
	doc = reply_new(true);
	if (doc == NULL || settings_dump(server_settings(s), &yaml) != LZ_OK) {
		cJSON_Delete(doc);
		strbuf_release(&yaml);
		return reply_error(reply, LZ_ENOMEM, "out of memory");
	}
	add_str(&b, doc, "Backend", st.backend);
	add_str(&b, doc, "Location", st.location);
	if (st.migrated_from[0] != '\0')
		add_str(&b, doc, "MigratedFrom", st.migrated_from);
	o = add_obj(&b, doc, "Store");
	add_num(&b, o, "Entities", (double)st.store.entities);
	add_num(&b, o, "Messages", (double)st.store.messages);
	add_num(&b, o, "Active", (double)st.store.messages_active);
	add_num(&b, o, "Deferred", (double)st.store.messages_deferred);
	add_num(&b, o, "DeadLettered", (double)st.store.messages_deadletter);
	add_num(&b, o, "Scheduled", (double)st.store.messages_scheduled);
	add_num(&b, o, "SizeBytes", (double)st.store.size_bytes);
	add_num(&b, o, "LastAppliedLsn", (double)st.applied_lsn);
	o = add_obj(&b, doc, "Wal");
	add_bool(&b, o, "Enabled", st.wal_enabled);
	add_str(&b, o, "Dir", st.wal_dir);
	add_num(&b, o, "Bytes", (double)st.wal_bytes);
	add_num(&b, o, "Segments", (double)st.wal_segments);
	add_num(&b, o, "FirstLsn", (double)st.wal_first_lsn);
	add_num(&b, o, "LastLsn", (double)st.wal_last_lsn);
	add_num(&b, doc, "DurableLsn", (double)st.durable_lsn);
	o = add_obj(&b, doc, "LastFold");
	if (st.last_fold_ms != 0) {
		char at[64];

		if (timefmt_iso8601_ms(st.last_fold_ms, at, sizeof(at)) == LZ_OK)
			add_str(&b, o, "At", at);
		add_num(&b, o, "Ms", st.last_fold_took_ms);
	} else if (cJSON_AddNullToObject(o, "At") == NULL) {
		b.oom = true;
	}
	add_bool(&b, doc, "BrokerConnected", st.broker_connected);
	o = add_obj(&b, doc, "Counters");
	add_num(&b, o, "Appends", (double)st.appends);
	add_num(&b, o, "Records", (double)st.records);
	add_num(&b, o, "Syncs", (double)st.syncs);
	add_str(&b, doc, "Config", strbuf_cstr(&yaml));
	strbuf_release(&yaml);
	if (b.oom) {
		cJSON_Delete(doc);
		return reply_error(reply, LZ_ENOMEM, "out of memory");
	}
	return reply_put(reply, doc);
}

static lz_err reply_counts(struct strbuf *reply, const struct export_counts *c)
{
	struct build b = { false };
	cJSON *doc = reply_new(true);

	if (doc == NULL)
		return reply_error(reply, LZ_ENOMEM, "out of memory");
	add_num(&b, doc, "Entities", (double)c->entities);
	add_num(&b, doc, "Messages", (double)c->messages);
	add_num(&b, doc, "Bytes", (double)c->bytes);
	add_num(&b, doc, "Lsn", (double)c->lsn);
	if (b.oom) {
		cJSON_Delete(doc);
		return reply_error(reply, LZ_ENOMEM, "out of memory");
	}
	return reply_put(reply, doc);
}

static const char *req_str(const cJSON *req, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(req, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static bool req_bool(const cJSON *req, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, name));
}

/* The export file: written as <path>.tmp, fsynced, renamed over <path>, directory fsynced. */
static lz_err op_export(struct server *s, const cJSON *req, const struct export_progress *progress,
			struct strbuf *reply, char *detail, size_t cap)
{
	const char *path = req_str(req, "Path");
	struct export_counts counts;
	struct server_refusal r;
	char tmp[4200], dir[4200], why[9000] = "";
	bool overwrite = req_bool(req, "Overwrite");
	lz_err err;
	FILE *out;
	int fd;

	if (path == NULL || path[0] != '/')
		return reply_error(reply, LZ_EINVAL, "export needs an absolute \"Path\"");
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return reply_error(reply, LZ_ETOOBIG, "path too long: %s", path);
	if (!overwrite && access(path, F_OK) == 0)
		return reply_error(reply, LZ_EEXIST, "%s exists: choose another file or pass --force to replace it", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return reply_error(reply, errno == ENOENT ? LZ_ENOTFOUND : LZ_ESYS, "cannot create %s: %s", tmp,
				   strerror(errno));
	out = fdopen(fd, "w");
	if (out == NULL) {
		(void)close(fd);
		(void)unlink(tmp);
		return reply_error(reply, LZ_ENOMEM, "cannot open a stream on %s: %s", tmp, strerror(errno));
	}
	err = server_export(s, out, path, progress, &counts, &r, detail, cap);
	if (err != LZ_OK) {
		(void)fclose(out);
		(void)unlink(tmp);
		return err; /* the fold failed: fatal */
	}
	if (r.code != LZ_OK)
		snprintf(why, sizeof(why), "%s", r.text);
	else if (fflush(out) != 0 || fsync(fileno(out)) != 0)
		snprintf(why, sizeof(why), "write %s: %s", tmp, strerror(errno));
	if (fclose(out) != 0 && why[0] == '\0')
		snprintf(why, sizeof(why), "close %s: %s", tmp, strerror(errno));
	if (why[0] == '\0' && rename(tmp, path) != 0)
		snprintf(why, sizeof(why), "rename %s to %s: %s", tmp, path, strerror(errno));
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	if (why[0] == '\0' && fsio_fsync_dir(&fsio_real, dir[0] ? dir : "/") != LZ_OK)
		snprintf(why, sizeof(why), "fsync directory %s: %s", dir, strerror(errno));
	if (why[0] != '\0') {
		(void)unlink(tmp);
		return reply_error(reply, r.code != LZ_OK ? r.code : LZ_ESYS, "export to %s failed: %s", path, why);
	}
	LZ_LOG(LOG_INFO, "exported the state", "file=\"%s\" entities=%" PRIu64 " messages=%" PRIu64, path,
	       counts.entities, counts.messages);
	return reply_counts(reply, &counts);
}

static lz_err op_import(struct server *s, const cJSON *req, const struct export_progress *progress,
			struct strbuf *reply, char *detail, size_t cap)
{
	const char *path = req_str(req, "Path");
	struct server_refusal r;
	struct export_counts counts;
	lz_err err;
	FILE *in;

	if (path == NULL || path[0] != '/')
		return reply_error(reply, LZ_EINVAL, "import needs an absolute \"Path\"");
	in = fopen(path, "re");
	if (in == NULL)
		return reply_error(reply, errno == ENOENT ? LZ_ENOTFOUND : LZ_ESYS, "cannot open %s: %s", path,
				   strerror(errno));
	err = server_import(s, in, path, req_bool(req, "Replace"), progress, &counts, &r, detail, cap);
	(void)fclose(in); /* read only: nothing to lose */
	if (err != LZ_OK)
		return err;
	if (r.code != LZ_OK)
		return reply_error(reply, r.code, "%s", r.text);
	return reply_counts(reply, &counts);
}

static lz_err op_simple(struct strbuf *reply)
{
	return reply_put(reply, reply_new(true));
}

lz_err control_handle(struct server *s, const void *req, size_t len, const struct export_progress *progress,
		      struct strbuf *reply, char *detail, size_t cap)
{
	struct server_refusal r = { LZ_OK, "" };
	const char *op;
	const cJSON *ver;
	cJSON *doc;
	lz_err err;

	strbuf_reset(reply);
	doc = cJSON_ParseWithLength(req, len);
	if (doc == NULL || !cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return reply_error(reply, LZ_EPARSE, "the request is not a JSON object");
	}
	ver = cJSON_GetObjectItemCaseSensitive(doc, "Version");
	op = req_str(doc, "Op");
	if (!cJSON_IsNumber(ver) || ver->valuedouble != CONTROL_VERSION) {
		err = reply_error(reply, LZ_EUNSUPPORTED, "control protocol version: this persistd speaks %d",
				  CONTROL_VERSION);
	} else if (op == NULL) {
		err = reply_error(reply, LZ_EINVAL, "the request has no \"Op\"");
	} else if (strcmp(op, "stats") == 0) {
		err = op_stats(s, reply, detail, cap);
	} else if (strcmp(op, "export") == 0) {
		err = op_export(s, doc, progress, reply, detail, cap);
	} else if (strcmp(op, "import") == 0) {
		err = op_import(s, doc, progress, reply, detail, cap);
	} else if (strcmp(op, "compact") == 0) {
		err = server_compact(s, detail, cap);
		if (err == LZ_OK)
			err = op_simple(reply);
	} else if (strcmp(op, "purge") == 0) {
		err = server_purge(s, &r, detail, cap);
		if (err == LZ_OK)
			err = r.code != LZ_OK ? reply_error(reply, r.code, "%s", r.text) : op_simple(reply);
	} else if (strcmp(op, "migrate") == 0) {
		const char *to = req_str(doc, "To");

		if (to == NULL) {
			err = reply_error(reply, LZ_EINVAL, "migrate needs \"To\": \"TYPE[:LOCATION]\"");
		} else {
			err = server_migrate(s, to, &r, detail, cap);
			if (err == LZ_OK && r.code != LZ_OK) {
				err = reply_error(reply, r.code, "%s", r.text);
			} else if (err == LZ_OK) {
				struct server_status st;

				err = server_status_get(s, &st, detail, cap);
				if (err == LZ_OK) {
					struct build b = { false };
					cJSON *rd = reply_new(true);

					if (rd != NULL) {
						add_str(&b, rd, "Backend", st.backend);
						add_str(&b, rd, "Location", st.location);
						add_str(&b, rd, "MigratedFrom", st.migrated_from);
					}
					if (b.oom) {
						cJSON_Delete(rd);
						rd = NULL;
					}
					err = reply_put(reply, rd);
				}
			}
		}
	} else {
		err = reply_error(reply, LZ_EINVAL, "unknown Op \"%s\": stats, export, import, compact, purge, migrate", op);
	}
	cJSON_Delete(doc);
	return err;
}
