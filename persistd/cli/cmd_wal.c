/*
 * cmd_wal — `localzure wal dump` and `localzure wal verify`: read persistd's WAL segment files
 * directly, read-only.
 *
 * Both go through wal_inspect (persistd/wal.h), which applies exactly the checks persistd's
 * start-up applies (headers, every CRC, LSN continuity within and across segments, torn tail vs
 * damage) without creating, cutting or locking anything, so they may run while persistd is
 * appending. What they report therefore matches what persistd would do with the same files:
 *   - a torn tail (the last segment ends in an incomplete or invalid record with nothing valid
 *     after it) is what a crash mid-write leaves; persistd cuts it at start and loses nothing it
 *     acknowledged. Reported as a warning, exit CLI_OK;
 *   - any other damage makes persistd refuse to start: exit CLI_EDAMAGED, with the file, the byte
 *     offset and the intact LSN range.
 * Like persistd, the scan stops at the first damage; what follows it is what
 * `localzure-persistd --repair` sets aside.
 *
 * The directory defaults to <data_dir>/wal (the configuration's data_dir; persistd's server.c
 * names it the same way).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/timefmt.h"
#include "persistd/cli/commands.h"
#include "persistd/wal.h"
#include "proto/journal.h"

#define WAL_DIR_NAME "wal"
#define WAL_DETAIL_CAP 1024

/* Options of both commands. */
struct wal_args {
	const char *dir;    /* NULL: <data_dir>/wal */
	uint64_t from_lsn;  /* dump: first LSN shown (0: from the start) */
	uint64_t to_lsn;    /* dump: last LSN shown (UINT64_MAX: to the end) */
	uint64_t limit;     /* dump: most records shown (UINT64_MAX: no limit) */
};

/* One dump in progress: the visitor's state. */
struct wal_dump {
	struct cli *c;
	const struct wal_args *a;
	json_t *list;       /* --json: the records so far */
	uint64_t shown;
	bool stopped;       /* past --to-lsn or --limit: the visitor ended the walk on purpose */
	bool oom;
};

/* A decimal integer ≥ 0 that fits in uint64_t, with nothing after it. */
static bool wal_arg_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

/* Parses `[DIR] [--from-lsn N] [--to-lsn N] [--limit N]`; `numbers` false allows only DIR.
 * Returns CLI_OK or the usage error already reported. */
static int wal_args_parse(struct cli *c, int argc, char **argv, bool numbers, struct wal_args *a)
{
	*a = (struct wal_args){ .to_lsn = UINT64_MAX, .limit = UINT64_MAX };
	for (int i = 0; i < argc; i++) {
		static const char *const names[] = { "--from-lsn", "--to-lsn", "--limit" };
		uint64_t *const slots[] = { &a->from_lsn, &a->to_lsn, &a->limit };
		const char *value = NULL;
		size_t k;

		if (argv[i][0] != '-' || argv[i][1] == '\0') {
			if (a->dir != NULL)
				return cli_usage(c, "one directory at most ('%s' and '%s')", a->dir, argv[i]);
			a->dir = argv[i];
			continue;
		}
		for (k = 0; numbers && k < sizeof(names) / sizeof(names[0]); k++) {
			size_t len = strlen(names[k]);

			if (strcmp(argv[i], names[k]) == 0) {
				if (i + 1 == argc)
					return cli_usage(c, "%s needs a number", names[k]);
				value = argv[++i];
				break;
			}
			if (strncmp(argv[i], names[k], len) == 0 && argv[i][len] == '=') {
				value = argv[i] + len + 1;
				break;
			}
		}
		if (value == NULL || k == sizeof(names) / sizeof(names[0]))
			return cli_usage(c, "unknown option '%s'", argv[i]);
		if (!wal_arg_u64(value, slots[k]))
			return cli_usage(c, "%s wants a non-negative integer, not '%s'", names[k], value);
	}
	if (a->from_lsn > a->to_lsn)
		return cli_usage(c, "--from-lsn %" PRIu64 " is above --to-lsn %" PRIu64, a->from_lsn,
				 a->to_lsn);
	return CLI_OK;
}

/* The WAL directory in force: DIR, else <data_dir>/wal. Checks that it exists. */
static int wal_dir_resolve(struct cli *c, const struct wal_args *a, char *out, size_t cap)
{
	struct stat st;
	int n;

	if (a->dir != NULL)
		n = snprintf(out, cap, "%s", a->dir);
	else
		n = snprintf(out, cap, "%s/%s", c->cfg.data_dir, WAL_DIR_NAME);
	if (n < 0 || (size_t)n >= cap)
		return cli_usage(c, "wal directory name too long");
	if (stat(out, &st) != 0) {
		if (errno == ENOENT)
			return cli_fail(c, CLI_ENOTFOUND,
					"no wal directory %s (pass DIR, or set data_dir / LOCALZURE_DATA_DIR)",
					out);
		return cli_fail(c, CLI_EFAIL, "stat %s: %s", out, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return cli_fail(c, CLI_ENOTFOUND, "%s is not a directory", out);
	return CLI_OK;
}

/* Path of the segment file that starts at `first_lsn`, as persistd names it (cut short if it
 * does not fit: wal_inspect has already refused directory names that long). */
static void wal_segment_name(const char *dir, uint64_t first_lsn, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%020" PRIu64 ".wal", dir, first_lsn);

	if (n < 0 && cap > 0)
		out[0] = '\0';
}

static const char *wal_where_name(enum journal_where w)
{
	switch (w) {
	case JWHERE_MAIN:
		return "main";
	case JWHERE_DLQ:
		return "deadletter";
	case JWHERE_SCHEDULED:
		return "scheduled";
	}
	return "?";
}

/* What a dump line shows of a decoded payload. `entity` is borrowed from `j`. */
struct wal_rec_info {
	const char *entity;
	const char *where;  /* NULL: the record has no message place */
	bool has_seq;
	uint64_t seq;
	const char *rule;   /* rule records: the rule's name */
};

static void wal_rec_info_get(const struct jrec *j, struct wal_rec_info *inf)
{
	*inf = (struct wal_rec_info){ .entity = "?" };
	switch (j->type) {
	case JREC_ENTITY_PUT:
		inf->entity = j->u.entity_put.path;
		break;
	case JREC_ENTITY_DELETE:
	case JREC_ENTITY_TOUCH:
		inf->entity = j->u.path.path;
		break;
	case JREC_RULE_PUT:
		inf->entity = j->u.rule_put.sub_path;
		inf->rule = j->u.rule_put.rule.name;
		break;
	case JREC_RULE_DELETE:
		inf->entity = j->u.rule_delete.sub_path;
		inf->rule = j->u.rule_delete.name;
		break;
	case JREC_MSG_ENQUEUE:
		/* The entity the client sent to; the first place carries the sequence number (a
		 * topic's fan-out copies have their own, listed with --json). */
		inf->entity = j->u.enqueue.target;
		if (j->u.enqueue.nplaces > 0) {
			inf->has_seq = true;
			inf->seq = j->u.enqueue.places[0].seq;
		}
		break;
	case JREC_MSG_DELIVER:
	case JREC_MSG_REMOVE:
	case JREC_MSG_DEFER:
		inf->entity = j->u.msg_ref.path;
		inf->where = wal_where_name(j->u.msg_ref.where);
		inf->has_seq = true;
		inf->seq = j->u.msg_ref.seq;
		break;
	case JREC_MSG_MOVE:
		inf->entity = j->u.move.path;
		inf->where = wal_where_name(j->u.move.where);
		inf->has_seq = true;
		inf->seq = j->u.move.seq;
		break;
	case JREC_LOAD_ENTITY:
		inf->entity = j->u.load_entity.path;
		break;
	case JREC_LOAD_MESSAGE:
		inf->entity = j->u.load_message.place.path;
		inf->where = wal_where_name(j->u.load_message.place.where);
		inf->has_seq = true;
		inf->seq = j->u.load_message.place.seq;
		break;
	}
	if (inf->entity == NULL)
		inf->entity = "?";
}

/* The places an ENQUEUE or MOVE landed in, for --json. NULL when out of memory. */
static json_t *wal_places_json(const struct journal_place *p, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < n; i++) {
		if (json_array_append_new(arr, json_pack("{s:s?, s:s, s:I}", "entity", p[i].path, "where",
							 wal_where_name(p[i].where), "seq",
							 (json_int_t)p[i].seq)) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

/* One record as a JSON object; NULL when out of memory. */
static json_t *wal_rec_json(const struct journal_rec *r, const char *time, const struct jrec *j,
			    lz_err derr, const char *ddetail)
{
	struct wal_rec_info inf;
	json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:I}", "lsn", (json_int_t)r->lsn, "ts_ms",
			      (json_int_t)r->ts_ms, "time", time, "type", journal_type_name(r->type),
			      "payload_bytes", (json_int_t)r->len);

	if (o == NULL)
		return NULL;
	if (derr != LZ_OK) {
		if (json_object_set_new(o, "decode_error", json_string(ddetail)) != 0)
			goto out_fail;
		return o;
	}
	wal_rec_info_get(j, &inf);
	if (json_object_set_new(o, "entity", json_string(inf.entity)) != 0)
		goto out_fail;
	if (inf.has_seq && json_object_set_new(o, "seq", json_integer((json_int_t)inf.seq)) != 0)
		goto out_fail;
	if (inf.where != NULL && json_object_set_new(o, "where", json_string(inf.where)) != 0)
		goto out_fail;
	if (inf.rule != NULL && json_object_set_new(o, "rule", json_string(inf.rule)) != 0)
		goto out_fail;
	if (j->type == JREC_MSG_ENQUEUE &&
	    json_object_set_new(o, "places", wal_places_json(j->u.enqueue.places, j->u.enqueue.nplaces)) != 0)
		goto out_fail;
	if (j->type == JREC_MSG_MOVE &&
	    json_object_set_new(o, "places", wal_places_json(j->u.move.places, j->u.move.nplaces)) != 0)
		goto out_fail;
	return o;
out_fail:
	json_decref(o);
	return NULL;
}

/* The dump's visitor: one line (or one JSON object) per record within the LSN range. */
static lz_err wal_dump_visit(void *arg, const struct journal_rec *r)
{
	struct wal_dump *d = arg;
	char time[40], ddetail[256] = "", seq[24] = "-";
	struct wal_rec_info inf;
	struct jrec j;
	lz_err derr;

	if (r->lsn < d->a->from_lsn)
		return LZ_OK;
	if (r->lsn > d->a->to_lsn || d->shown == d->a->limit) {
		d->stopped = true;
		return LZ_ERANGE;
	}
	if (timefmt_iso8601_ms(r->ts_ms, time, sizeof(time)) != LZ_OK)
		snprintf(time, sizeof(time), "%" PRId64 "ms", r->ts_ms);
	derr = journal_decode(r->type, r->payload, r->len, &j, ddetail, sizeof(ddetail));
	if (derr != LZ_OK && ddetail[0] == '\0')
		snprintf(ddetail, sizeof(ddetail), "%s", err_str(derr));
	if (d->list != NULL) {
		json_t *o = wal_rec_json(r, time, &j, derr, ddetail);

		if (o == NULL || json_array_append_new(d->list, o) != 0) {
			journal_rec_release(&j);
			d->oom = true;
			return LZ_ENOMEM;
		}
	} else if (derr != LZ_OK) {
		printf("%10" PRIu64 "  %-24s  %-14s  (payload does not decode: %s)  %zu\n", r->lsn, time,
		       journal_type_name(r->type), ddetail, r->len);
	} else {
		char label[512];

		wal_rec_info_get(&j, &inf);
		if (inf.has_seq)
			snprintf(seq, sizeof(seq), "%" PRIu64, inf.seq);
		snprintf(label, sizeof(label), "%s%s%s%s%s%s", inf.entity,
			 inf.where != NULL && strcmp(inf.where, "main") != 0 ? " [" : "",
			 inf.where != NULL && strcmp(inf.where, "main") != 0 ? inf.where : "",
			 inf.where != NULL && strcmp(inf.where, "main") != 0 ? "]" : "",
			 inf.rule != NULL ? " rule " : "", inf.rule != NULL ? inf.rule : "");
		printf("%10" PRIu64 "  %-24s  %-14s  %-40s  %8s  %8zu\n", r->lsn, time,
		       journal_type_name(r->type), label, seq, r->len);
	}
	journal_rec_release(&j);
	d->shown++;
	return LZ_OK;
}

/* The damage message: "file F offset N: what; records A..B before it are intact[; K later
 * segment files]". */
static void wal_damage_text(const char *dir, const struct wal_inspection *in, char *out, size_t cap)
{
	char path[PATH_MAX], intact[96], later[96] = "";

	wal_segment_name(dir, in->damaged_segment, path, sizeof(path));
	if (in->records == 0)
		snprintf(intact, sizeof(intact), "no records before it");
	else
		snprintf(intact, sizeof(intact), "records %" PRIu64 "..%" PRIu64 " before it are intact",
			 in->first_lsn, in->last_lsn);
	if (in->later_segments > 0)
		snprintf(later, sizeof(later), "; %zu later segment file%s after it", in->later_segments,
			 in->later_segments == 1 ? "" : "s");
	snprintf(out, cap, "damage in %s at offset %" PRIu64 ": %s; %s%s; persistd refuses to start "
		 "(see 'What to do when wal verify reports damage' in docs/operations.md)",
		 path, in->damaged_offset, in->what, intact, later);
}

static void wal_torn_text(const char *dir, const struct wal_inspection *in, char *out, size_t cap)
{
	char path[PATH_MAX];

	wal_segment_name(dir, in->torn_segment, path, sizeof(path));
	if (in->torn_offset == 0)
		snprintf(out, cap, "torn tail: %s has no complete header (%" PRIu64 " bytes; persistd "
			 "deletes it at start)", path, in->torn_bytes);
	else
		snprintf(out, cap, "torn tail at %s offset %" PRIu64 " (%" PRIu64 " bytes; persistd cuts "
			 "it at start)", path, in->torn_offset, in->torn_bytes);
}

/* Runs wal_inspect on the resolved directory; reports failures (not damage). */
static int wal_inspect_run(struct cli *c, const char *dir, lz_err (*fn)(void *, const struct journal_rec *),
			   void *arg, bool stopped_ok, struct wal_inspection *in)
{
	char detail[WAL_DETAIL_CAP] = "";
	lz_err err = wal_inspect(dir, fn, arg, in, detail, sizeof(detail));

	if (err == LZ_OK || (stopped_ok && err == LZ_ERANGE))
		return CLI_OK;
	if (err == LZ_ENOMEM)
		return cli_fail(c, CLI_EFAIL, "out of memory reading %s", dir);
	return cli_fail(c, CLI_EFAIL, "%s%s", detail[0] ? detail : err_str(err),
			err == LZ_ESYS ? " (persistd may have folded a segment meanwhile: run it again)" : "");
}

static int cmd_wal_dump(struct cli *c, int argc, char **argv)
{
	struct wal_dump d = { .c = c };
	struct wal_inspection in;
	struct wal_args a;
	char dir[PATH_MAX], msg[PATH_MAX + 512];
	int rc;

	rc = wal_args_parse(c, argc, argv, true, &a);
	if (rc != CLI_OK)
		return rc;
	rc = wal_dir_resolve(c, &a, dir, sizeof(dir));
	if (rc != CLI_OK)
		return rc;
	d.a = &a;
	if (c->json) {
		d.list = json_array();
		if (d.list == NULL)
			return cli_fail(c, CLI_EFAIL, "out of memory");
	} else {
		printf("%10s  %-24s  %-14s  %-40s  %8s  %8s\n", "LSN", "TIME", "TYPE", "ENTITY", "SEQ",
		       "BYTES");
	}
	rc = wal_inspect_run(c, dir, wal_dump_visit, &d, true, &in);
	if (rc != CLI_OK) {
		json_decref(d.list);
		return rc;
	}
	/* --json: the array is the one document, also when damage follows the records shown;
	 * the damage goes to stderr and into the exit status. */
	if (d.list != NULL)
		cli_json_print(d.list);
	if (d.stopped)
		return CLI_OK; /* the rest was not read: nothing to say about it */
	if (in.damaged) {
		wal_damage_text(dir, &in, msg, sizeof(msg));
		fprintf(stderr, "localzure: %s: %s\n", c->command, msg);
		return CLI_EDAMAGED;
	}
	if (in.torn) {
		wal_torn_text(dir, &in, msg, sizeof(msg));
		fprintf(stderr, "localzure: %s: warning: %s\n", c->command, msg);
	}
	return CLI_OK;
}

static int cmd_wal_verify(struct cli *c, int argc, char **argv)
{
	struct wal_inspection in;
	struct wal_args a;
	char dir[PATH_MAX], msg[PATH_MAX + 512] = "";
	int rc;

	rc = wal_args_parse(c, argc, argv, false, &a);
	if (rc != CLI_OK)
		return rc;
	rc = wal_dir_resolve(c, &a, dir, sizeof(dir));
	if (rc != CLI_OK)
		return rc;
	rc = wal_inspect_run(c, dir, NULL, NULL, false, &in);
	if (rc != CLI_OK)
		return rc;
	if (in.damaged)
		wal_damage_text(dir, &in, msg, sizeof(msg));
	else if (in.torn)
		wal_torn_text(dir, &in, msg, sizeof(msg));
	rc = in.damaged ? CLI_EDAMAGED : CLI_OK;
	if (c->json) {
		char path[PATH_MAX];
		json_t *doc = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I}", "dir", dir, "ok", !in.damaged,
					"segments", (json_int_t)in.segments, "records", (json_int_t)in.records,
					"first_lsn", (json_int_t)in.first_lsn, "last_lsn",
					(json_int_t)in.last_lsn, "bytes", (json_int_t)in.bytes);

		if (doc != NULL && in.torn) {
			wal_segment_name(dir, in.torn_segment, path, sizeof(path));
			json_object_set_new(doc, "torn_tail",
					    json_pack("{s:s, s:I, s:I}", "file", path, "offset",
						      (json_int_t)in.torn_offset, "bytes",
						      (json_int_t)in.torn_bytes));
			json_object_set_new(doc, "warning", json_string(msg));
		}
		if (doc != NULL && in.damaged) {
			wal_segment_name(dir, in.damaged_segment, path, sizeof(path));
			json_object_set_new(doc, "damage",
					    json_pack("{s:s, s:I, s:s, s:I}", "file", path, "offset",
						      (json_int_t)in.damaged_offset, "what", in.what,
						      "later_segments", (json_int_t)in.later_segments));
			/* The shape of cli_fail's error document, so scripts parse either the same way. */
			json_object_set_new(doc, "error", json_string(msg));
			json_object_set_new(doc, "exit", json_integer(rc));
		}
		cli_json_print(doc);
	} else if (in.damaged) {
		printf("wal %s: DAMAGED\n", dir);
	} else if (in.records == 0) {
		printf("wal %s: OK, %zu segment%s, no records\n", dir, in.segments, in.segments == 1 ? "" : "s");
	} else {
		printf("wal %s: OK, %zu segment%s, %" PRIu64 " record%s, LSN %" PRIu64 "..%" PRIu64
		       ", %" PRIu64 " bytes\n",
		       dir, in.segments, in.segments == 1 ? "" : "s", in.records, in.records == 1 ? "" : "s",
		       in.first_lsn, in.last_lsn, in.bytes);
	}
	if (in.damaged)
		fprintf(stderr, "localzure: %s: %s\n", c->command, msg);
	else if (in.torn)
		fprintf(stderr, "localzure: %s: warning: %s\n", c->command, msg);
	return rc;
}

const struct cli_command cli_wal_commands[] = {
	{
		.group = "wal",
		.name = "dump",
		.args = "[DIR] [--from-lsn N] [--to-lsn N] [--limit N]",
		.summary = "print the records of the write-ahead log, one line each",
		.help = "Reads the WAL segment files in DIR (default: <data_dir>/wal) directly and\n"
			"read-only; persistd may be running. One line per record: LSN, time (UTC),\n"
			"type, entity path (with [deadletter] or [scheduled] for such places, and the\n"
			"rule name for rule records), the message sequence number where the record has\n"
			"one, and the payload size in bytes. With --json: an array of objects (lsn, ts_ms,\n"
			"time, type, entity, seq, where, rule, places, payload_bytes).\n\n"
			"  --from-lsn N   start at LSN N\n"
			"  --to-lsn N     stop after LSN N\n"
			"  --limit N      print at most N records\n\n"
			"The records are checked as they are read (as 'wal verify' does). A torn tail is\n"
			"a warning on stderr (exit 0); other damage prints the records before it and\n"
			"exits 6. With --to-lsn or --limit, reading stops there and nothing after it is\n"
			"checked.\n",
		.run = cmd_wal_dump,
	},
	{
		.group = "wal",
		.name = "verify",
		.args = "[DIR]",
		.summary = "check every segment and record of the write-ahead log",
		.help = "Applies the checks persistd applies at start-up to the WAL in DIR (default:\n"
			"<data_dir>/wal), read-only: segment headers and names, every record's CRC-32C,\n"
			"LSN continuity within and across segments. Prints the segment and record count,\n"
			"the LSN range and the bytes.\n\n"
			"Exit 0: sound, or a torn tail in the last segment (a crash mid-write; persistd\n"
			"cuts it at start, nothing acknowledged is lost), reported as a warning with the\n"
			"file and offset. Exit 6: damage persistd refuses to start with, reported with\n"
			"the file, the byte offset and the intact LSN range; the check stops there, as\n"
			"persistd does. Exit 5: no such directory.\n",
		.run = cmd_wal_verify,
	},
	{ .name = NULL },
};
