/*
 * cmd_storage — `localzure storage stats|export|import-data|compact|purge|migrate`.
 *
 * Each command is one request of persistd's control protocol (persistd/control.c). With persistd
 * running it goes over the control socket (control_url); when nothing listens there and the
 * data directory lock is free, the CLI opens the store itself (server_open offline: the WAL is
 * verified and folded first, exactly as persistd's start-up does) and runs the same request
 * in-process; the lock keeps persistd from starting meanwhile. --online refuses the fallback.
 */
#include "persistd/cli/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "common/strbuf.h"
#include "persistd/control.h"
#include "persistd/server.h"

#define DETAIL_CAP 4096
#define POLL_MS 200

struct opts {
	bool yes, force, replace, online;
	long timeout_s;
	const char *to;
	const char *file;
};

/* Parses the options a storage command accepts; `allowed` lists them ("yes force replace to").
 * Positional arguments: at most one (FILE). */
static int opts_parse(struct cli *c, int argc, char **argv, const char *allowed, bool want_file, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_s = 600;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--yes") == 0 && strstr(allowed, "yes")) {
			o->yes = true;
		} else if (strcmp(a, "--force") == 0 && strstr(allowed, "force")) {
			o->force = true;
		} else if (strcmp(a, "--replace") == 0 && strstr(allowed, "replace")) {
			o->replace = true;
		} else if (strcmp(a, "--online") == 0) {
			o->online = true;
		} else if (strcmp(a, "--to") == 0 && strstr(allowed, "to")) {
			if (++i == argc)
				return cli_usage(c, "--to needs TYPE[:LOCATION]");
			o->to = argv[i];
		} else if (strncmp(a, "--to=", 5) == 0 && strstr(allowed, "to")) {
			o->to = a + 5;
		} else if (strcmp(a, "--timeout") == 0) {
			char *end;

			if (++i == argc)
				return cli_usage(c, "--timeout needs SECONDS");
			o->timeout_s = strtol(argv[i], &end, 10);
			if (*end != '\0' || o->timeout_s < 1 || o->timeout_s > 86400)
				return cli_usage(c, "--timeout takes 1..86400 seconds, not '%s'", argv[i]);
		} else if (a[0] == '-' && a[1] != '\0') {
			return cli_usage(c, "unknown option %s", a);
		} else if (want_file && o->file == NULL) {
			o->file = a;
		} else {
			return cli_usage(c, "unexpected argument '%s'", a);
		}
	}
	if (want_file && o->file == NULL)
		return cli_usage(c, "missing FILE");
	return CLI_OK;
}

/* The absolute form of `path` (its directory must exist). */
static int path_absolute(struct cli *c, const char *path, char *out, size_t cap)
{
	char dir_buf[PATH_MAX], base_buf[PATH_MAX], real[PATH_MAX];

	if (strlen(path) >= sizeof(dir_buf))
		return cli_usage(c, "path too long: %s", path);
	strcpy(dir_buf, path);
	strcpy(base_buf, path);
	if (realpath(dirname(dir_buf), real) == NULL)
		return cli_fail(c, CLI_ENOTFOUND, "directory of %s: %s", path, strerror(errno));
	if ((size_t)snprintf(out, cap, "%s/%s", strcmp(real, "/") == 0 ? "" : real, basename(base_buf)) >= cap)
		return cli_usage(c, "path too long: %s", path);
	return CLI_OK;
}

/* Maps a reply's Code to an exit code. */
static int code_exit(const char *code)
{
	if (strcmp(code, "LZ_ESTATE") == 0 || strcmp(code, "LZ_EEXIST") == 0)
		return CLI_EREFUSED;
	if (strcmp(code, "LZ_ENOTFOUND") == 0)
		return CLI_ENOTFOUND;
	if (strcmp(code, "LZ_EINVAL") == 0)
		return CLI_EUSAGE;
	return CLI_EFAIL;
}

struct watch {
	struct cli *c;
	const char *label;
	const char *grow_path; /* a file whose size shows progress (live export), or NULL */
};

static void progress_cb(void *arg, uint64_t done, uint64_t total)
{
	struct watch *w = arg;

	cli_progress(w->c, w->label, done, total);
}

static void on_reply(void *arg)
{
	atomic_store((atomic_bool *)arg, true);
}

/* Sends `req` to the running persistd; CLI_EUNREACHABLE (quietly, *nobody set) when nothing
 * listens, so that the caller may go offline. The reply is awaited with an aio so that progress
 * can be shown meanwhile; *reply gets its text. */
static int request_live(struct cli *c, const char *req, const struct opts *o, const struct watch *w,
			struct strbuf *reply, bool *nobody)
{
	nng_socket sock;
	nng_aio *aio = NULL;
	atomic_bool done = false;
	nng_msg *msg;
	struct timespec t0, now;
	int rv, code = CLI_OK;

	*nobody = false;
	rv = nng_req0_open(&sock);
	if (rv != 0)
		return cli_fail(c, CLI_EFAIL, "cannot open an nng req0 socket: %s", nng_strerror(rv));
	rv = nng_dial(sock, c->cfg.control_url, NULL, 0);
	if (rv != 0) {
		nng_close(sock);
		*nobody = true;
		return CLI_EUNREACHABLE;
	}
	rv = nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, 5000);
	if (rv == 0)
		rv = nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0)
		rv = nng_send(sock, (void *)req, strlen(req), 0);
	if (rv == 0)
		rv = nng_aio_alloc(&aio, on_reply, &done);
	if (rv != 0) {
		nng_close(sock);
		return cli_fail(c, CLI_EUNREACHABLE, "persistd at %s did not take the request: %s", c->cfg.control_url,
				nng_strerror(rv));
	}
	nng_aio_set_timeout(aio, (nng_duration)(o->timeout_s * 1000));
	nng_recv_aio(sock, aio);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* nng_aio has no timed wait: poll its completion while drawing progress. */
	while (!atomic_load(&done)) {
		nng_msleep(POLL_MS);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (w->grow_path != NULL) {
			struct stat st;

			if (stat(w->grow_path, &st) == 0)
				cli_progress(c, w->label, (unsigned long long)st.st_size, 0);
		} else {
			cli_progress(c, w->label, (unsigned long long)(now.tv_sec - t0.tv_sec), 0);
		}
	}
	cli_progress_end(c);
	rv = nng_aio_result(aio);
	if (rv == 0) {
		msg = nng_aio_get_msg(aio);
		if (strbuf_add(reply, nng_msg_body(msg), nng_msg_len(msg)) != LZ_OK)
			code = cli_fail(c, CLI_EFAIL, "out of memory");
		nng_msg_free(msg);
	} else {
		code = cli_fail(c, CLI_EUNREACHABLE, "no answer from persistd at %s within %ld s: %s", c->cfg.control_url,
				o->timeout_s, nng_strerror(rv));
	}
	nng_aio_free(aio);
	nng_close(sock);
	return code;
}

/* Runs `req` on the store opened in-process. */
static int request_offline(struct cli *c, const char *req, bool may_create, const struct watch *w,
			   struct strbuf *reply)
{
	struct server_opts so = { .offline = true };
	struct export_progress prog = { progress_cb, (void *)w };
	char detail[DETAIL_CAP] = "";
	struct server *s = NULL;
	struct stat st;
	lz_err err;

	if (c->cfg.storage_type == SETTINGS_STORAGE_MEMORY)
		return cli_fail(c, CLI_ENOTFOUND, "storage_type is in-memory and persistd is not running (nothing listens "
				"on %s): there is no stored state", c->cfg.control_url);
	if (stat(c->cfg.data_dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return cli_fail(c, CLI_ENOTFOUND, "no data directory at %s (persistd is not running either: nothing "
				"listens on %s)", c->cfg.data_dir, c->cfg.control_url);
	if (!may_create && c->cfg.storage_type == SETTINGS_STORAGE_SQLITE && stat(c->cfg.sqlite_path, &st) != 0)
		return cli_fail(c, CLI_ENOTFOUND, "no sqlite store at %s", c->cfg.sqlite_path);
	if (!may_create && c->cfg.storage_type == SETTINGS_STORAGE_JSON && stat(c->cfg.json_path, &st) != 0)
		return cli_fail(c, CLI_ENOTFOUND, "no json store at %s", c->cfg.json_path);
	err = server_open(&c->cfg, &so, &s, detail, sizeof(detail));
	if (err == LZ_EBUSY)
		return cli_fail(c, CLI_EUNREACHABLE, "persistd is running (%s) but does not answer on control_url %s; "
				"check LOCALZURE_CONTROL_URL", detail, c->cfg.control_url);
	if (err != LZ_OK)
		return cli_fail(c, err == LZ_ECRC || err == LZ_EPARSE ? CLI_EDAMAGED : CLI_EFAIL,
				"cannot open the store: %s", detail);
	err = control_handle(s, req, strlen(req), &prog, reply, detail, sizeof(detail));
	cli_progress_end(c);
	server_close(s);
	if (err != LZ_OK)
		return cli_fail(c, CLI_EFAIL, "%s", detail);
	return CLI_OK;
}

/* Sends `req` (stolen), live or offline; on success *out is the reply (Ok true). */
static int request(struct cli *c, json_t *req, const struct opts *o, bool may_create, const struct watch *w,
		   json_t **out)
{
	struct strbuf reply = STRBUF_INIT;
	char *text = json_dumps(req, JSON_COMPACT);
	json_error_t jerr;
	json_t *doc;
	bool nobody;
	int code;

	json_decref(req);
	*out = NULL;
	if (text == NULL)
		return cli_fail(c, CLI_EFAIL, "out of memory");
	code = request_live(c, text, o, w, &reply, &nobody);
	if (nobody) {
		if (o->online)
			code = cli_fail(c, CLI_EUNREACHABLE, "persistd is not reachable at %s (--online)",
					c->cfg.control_url);
		else
			code = request_offline(c, text, may_create, w, &reply);
	}
	free(text);
	if (code != CLI_OK) {
		strbuf_release(&reply);
		return code;
	}
	doc = json_loadb(reply.data, reply.len, 0, &jerr);
	strbuf_release(&reply);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return cli_fail(c, CLI_EFAIL, "persistd sent a reply that is not JSON: %s", jerr.text);
	}
	if (!json_is_true(json_object_get(doc, "Ok"))) {
		const char *ecode = json_string_value(json_object_get(doc, "Code"));
		const char *etext = json_string_value(json_object_get(doc, "Error"));

		code = cli_fail(c, code_exit(ecode != NULL ? ecode : ""), "%s", etext != NULL ? etext : "failed");
		json_decref(doc);
		return code;
	}
	json_object_del(doc, "Version"); /* the protocol's, not the command's */
	*out = doc;
	return CLI_OK;
}

static json_t *request_new(const char *op)
{
	return json_pack("{s:i, s:s}", "Version", CONTROL_VERSION, "Op", op);
}

static unsigned long long num(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2 != NULL)
		v = json_object_get(v, path2);
	return (unsigned long long)json_number_value(v);
}

static void human_bytes(unsigned long long n, char *out, size_t cap)
{
	if (n >= 10ULL * 1024 * 1024)
		snprintf(out, cap, "%.1f MiB", (double)n / (1024.0 * 1024.0));
	else if (n >= 10ULL * 1024)
		snprintf(out, cap, "%.1f KiB", (double)n / 1024.0);
	else
		snprintf(out, cap, "%llu bytes", n);
}

static int cmd_stats(struct cli *c, int argc, char **argv)
{
	struct watch w = { c, "stats", NULL };
	struct opts o;
	json_t *doc, *fold;
	char size[32], wal[32];
	int code = opts_parse(c, argc, argv, "", false, &o);

	if (code != CLI_OK)
		return code;
	code = request(c, request_new("stats"), &o, false, &w, &doc);
	if (code != CLI_OK)
		return code;
	if (c->json) {
		cli_json_print(doc);
		return CLI_OK;
	}
	human_bytes(num(doc, "Store", "SizeBytes"), size, sizeof(size));
	human_bytes(num(doc, "Wal", "Bytes"), wal, sizeof(wal));
	fold = json_object_get(doc, "LastFold");
	printf("backend:          %s\n", json_string_value(json_object_get(doc, "Backend")));
	printf("location:         %s\n", json_string_value(json_object_get(doc, "Location")));
	if (json_object_get(doc, "MigratedFrom") != NULL)
		printf("migrated from:    %s\n", json_string_value(json_object_get(doc, "MigratedFrom")));
	printf("size on disk:     %s\n", size);
	printf("entities:         %llu\n", num(doc, "Store", "Entities"));
	printf("messages:         %llu (active %llu, deferred %llu, dead-lettered %llu, scheduled %llu)\n",
	       num(doc, "Store", "Messages"), num(doc, "Store", "Active"), num(doc, "Store", "Deferred"),
	       num(doc, "Store", "DeadLettered"), num(doc, "Store", "Scheduled"));
	printf("last_applied_lsn: %llu\n", num(doc, "Store", "LastAppliedLsn"));
	printf("durable lsn:      %llu\n", num(doc, "DurableLsn", NULL));
	if (json_is_true(json_object_get(json_object_get(doc, "Wal"), "Enabled")))
		printf("wal:              %s in %llu segments, lsn %llu..%llu (%s)\n", wal, num(doc, "Wal", "Segments"),
		       num(doc, "Wal", "FirstLsn"), num(doc, "Wal", "LastLsn"),
		       json_string_value(json_object_get(json_object_get(doc, "Wal"), "Dir")));
	else
		printf("wal:              disabled\n");
	if (json_is_string(json_object_get(fold, "At")))
		printf("last fold:        %s (%.1f ms)\n", json_string_value(json_object_get(fold, "At")),
		       json_number_value(json_object_get(fold, "Ms")));
	else
		printf("last fold:        none since persistd started\n");
	printf("broker connected: %s\n", json_is_true(json_object_get(doc, "BrokerConnected")) ? "yes" : "no");
	printf("since start:      %llu appends, %llu records, %llu wal syncs\n", num(doc, "Counters", "Appends"),
	       num(doc, "Counters", "Records"), num(doc, "Counters", "Syncs"));
	printf("configuration in force:\n%s", json_string_value(json_object_get(doc, "Config")));
	json_decref(doc);
	return CLI_OK;
}

static int cmd_export(struct cli *c, int argc, char **argv)
{
	char path[PATH_MAX + 8], tmp[PATH_MAX + 16];
	struct watch w = { c, "exporting", NULL };
	struct opts o;
	json_t *doc, *req;
	int code = opts_parse(c, argc, argv, "force", true, &o);

	if (code != CLI_OK)
		return code;
	code = path_absolute(c, o.file, path, sizeof(path));
	if (code != CLI_OK)
		return code;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	w.grow_path = tmp;
	req = request_new("export");
	json_object_set_new(req, "Path", json_string(path));
	json_object_set_new(req, "Overwrite", json_boolean(o.force));
	code = request(c, req, &o, false, &w, &doc);
	if (code != CLI_OK)
		return code;
	if (c->json) {
		json_object_set_new(doc, "File", json_string(path));
		cli_json_print(doc);
		return CLI_OK;
	}
	printf("exported %llu entities and %llu messages (lsn %llu, %llu bytes) to %s\n", num(doc, "Entities", NULL),
	       num(doc, "Messages", NULL), num(doc, "Lsn", NULL), num(doc, "Bytes", NULL), path);
	json_decref(doc);
	return CLI_OK;
}

/* The counts of an export file's header line, for the confirmation question. */
static int file_header(struct cli *c, const char *path, unsigned long long *entities, unsigned long long *messages)
{
	char *line = NULL;
	size_t cap = 0;
	json_error_t jerr;
	json_t *h;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return cli_fail(c, errno == ENOENT ? CLI_ENOTFOUND : CLI_EFAIL, "cannot open %s: %s", path,
				strerror(errno));
	if (getline(&line, &cap, f) < 0) {
		free(line);
		(void)fclose(f);
		return cli_fail(c, CLI_EFAIL, "%s is empty: not a LocalZure export file", path);
	}
	(void)fclose(f);
	h = json_loads(line, 0, &jerr);
	free(line);
	if (!json_is_object(h) || !json_is_string(json_object_get(h, "Format")) ||
	    strcmp(json_string_value(json_object_get(h, "Format")), "localzure-export") != 0) {
		json_decref(h);
		return cli_fail(c, CLI_EFAIL, "%s:1: not a LocalZure export file", path);
	}
	*entities = (unsigned long long)json_number_value(json_object_get(h, "Entities"));
	*messages = (unsigned long long)json_number_value(json_object_get(h, "Messages"));
	json_decref(h);
	return CLI_OK;
}

static int cmd_import(struct cli *c, int argc, char **argv)
{
	char path[PATH_MAX + 8], question[PATH_MAX + 256];
	struct watch w = { c, "importing", NULL };
	unsigned long long ne = 0, nm = 0;
	struct opts o;
	json_t *doc, *req;
	int code = opts_parse(c, argc, argv, "yes replace", true, &o);

	if (code != CLI_OK)
		return code;
	code = path_absolute(c, o.file, path, sizeof(path));
	if (code == CLI_OK)
		code = file_header(c, path, &ne, &nm);
	if (code != CLI_OK)
		return code;
	snprintf(question, sizeof(question), "Import %llu entities and %llu messages from %s%s? [y/N]", ne, nm, path,
		 o.replace ? ", REPLACING everything in the store" : "");
	if (!o.yes && !cli_confirm(c, question, "y"))
		return cli_fail(c, CLI_EREFUSED, "not confirmed: nothing was imported");
	req = request_new("import");
	json_object_set_new(req, "Path", json_string(path));
	json_object_set_new(req, "Replace", json_boolean(o.replace));
	code = request(c, req, &o, true, &w, &doc);
	if (code != CLI_OK)
		return code;
	if (c->json) {
		cli_json_print(doc);
		return CLI_OK;
	}
	printf("imported %llu entities and %llu messages from %s\n", num(doc, "Entities", NULL),
	       num(doc, "Messages", NULL), path);
	json_decref(doc);
	return CLI_OK;
}

static int simple_op(struct cli *c, const char *op, const struct opts *o, const char *done)
{
	struct watch w = { c, op, NULL };
	json_t *doc;
	int code = request(c, request_new(op), o, false, &w, &doc);

	if (code != CLI_OK)
		return code;
	if (c->json) {
		cli_json_print(doc);
	} else {
		printf("%s\n", done);
		json_decref(doc);
	}
	return CLI_OK;
}

static int cmd_compact(struct cli *c, int argc, char **argv)
{
	struct opts o;
	int code = opts_parse(c, argc, argv, "", false, &o);

	if (code != CLI_OK)
		return code;
	return simple_op(c, "compact", &o, "compacted");
}

static int cmd_purge(struct cli *c, int argc, char **argv)
{
	struct opts o;
	int code = opts_parse(c, argc, argv, "yes force", false, &o);

	if (code != CLI_OK)
		return code;
	if (o.yes != o.force)
		return cli_usage(c, "scripts confirm with both --yes and --force");
	if (!o.yes && !cli_confirm(c, "This deletes every entity and message in the store. Type DELETE ALL to confirm:",
				   "DELETE ALL"))
		return cli_fail(c, CLI_EREFUSED, "not confirmed: nothing was deleted");
	return simple_op(c, "purge", &o, "purged: the store is empty");
}

static int cmd_migrate(struct cli *c, int argc, char **argv)
{
	struct watch w = { c, "migrating", NULL };
	struct opts o;
	json_t *doc, *req;
	int code = opts_parse(c, argc, argv, "to", false, &o);

	if (code != CLI_OK)
		return code;
	if (o.to == NULL)
		return cli_usage(c, "missing --to TYPE[:LOCATION]");
	req = request_new("migrate");
	json_object_set_new(req, "To", json_string(o.to));
	code = request(c, req, &o, false, &w, &doc);
	if (code != CLI_OK)
		return code;
	if (c->json) {
		cli_json_print(doc);
		return CLI_OK;
	}
	printf("migrated from %s to %s:%s\n"
	       "persistd now uses the new store; %s/storage-migrated records the switch so that a restart\n"
	       "opens it too. Update storage_type and its path in your configuration to match.\n",
	       json_string_value(json_object_get(doc, "MigratedFrom")), json_string_value(json_object_get(doc, "Backend")),
	       json_string_value(json_object_get(doc, "Location")), c->cfg.data_dir);
	json_decref(doc);
	return CLI_OK;
}

#define COMMON_HELP                                                                                        \
	"  --online        fail when persistd does not answer (default: work on the store directly when\n" \
	"                  persistd is stopped)\n"                                                         \
	"  --timeout SECS  how long to wait for persistd's answer (default 600)\n"

const struct cli_command cli_storage_commands[] = {
	{ "storage", "stats", "[--online]", "backend, size, counts by state, WAL, last fold, configuration",
	  COMMON_HELP, cmd_stats },
	{ "storage", "export", "FILE [--force]", "write the whole state to FILE (JSON lines, see docs/operations.md)",
	  "  --force         replace FILE when it exists\n" COMMON_HELP
	  "The WAL is folded first; with persistd running, appends wait while the file is written.\n",
	  cmd_export },
	{ "storage", "import-data", "FILE [--replace] [--yes]", "load an export FILE into the store",
	  "  --replace       replace a store that is not empty (one transaction: all or nothing)\n"
	  "  --yes           do not ask for confirmation\n" COMMON_HELP
	  "Refused while a broker is connected: stop the broker, import, start it again.\n",
	  cmd_import },
	{ "storage", "compact", "", "compact the backend (sqlite VACUUM, json orphans, redis AOF rewrite)", COMMON_HELP,
	  cmd_compact },
	{ "storage", "purge", "[--yes --force]", "delete every entity and message (asks for DELETE ALL)",
	  "  --yes --force   confirm without asking (both are needed)\n" COMMON_HELP
	  "Refused while a broker is connected.\n",
	  cmd_purge },
	{ "storage", "migrate", "--to TYPE[:LOCATION]", "copy the state to another backend and switch persistd to it",
	  "  --to TYPE[:LOCATION]  sqlite[:FILE], json[:DIR] or redis[:redis://HOST:PORT/DB]; LOCATION\n"
	  "                        defaults to the configured path of that type; the target must be empty\n" COMMON_HELP
	  "The broker keeps serving (its appends wait during the copy). The old store is left as it was.\n",
	  cmd_migrate },
	{ .name = NULL },
};
