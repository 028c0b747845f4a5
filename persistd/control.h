/*
 * control — the requests of the `localzure` command to persistd (format at the top of
 * control.c): stats, export, import, compact, purge, migrate. persistd answers them on its
 * control socket (control_url, nng rep0); the CLI runs the same function in-process on a server
 * opened offline when persistd is stopped, so both paths give the same answers.
 *
 * control_handle parses one request, runs it on the server (persistd/server.h: operator
 * commands) and puts the reply document in `reply`. It returns LZ_OK whenever a reply was made,
 * including refusals and bad requests (the reply says so); a non-OK return is a fatal WAL or
 * backend error (`detail` says which) after which persistd must stop.
 *
 * Thread rules: the server's thread.
 */
#ifndef LZ_PERSISTD_CONTROL_H
#define LZ_PERSISTD_CONTROL_H

#include <stddef.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "persistd/export.h"

#define CONTROL_VERSION 1
#define CONTROL_MAX_REQUEST (64u * 1024u)

struct server;

lz_err control_handle(struct server *s, const void *req, size_t len, const struct export_progress *progress,
		      struct strbuf *reply, char *detail, size_t cap);

#endif
