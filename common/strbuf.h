/*
 * strbuf — a growable byte buffer that always keeps a terminating NUL after its contents.
 *
 * Ownership: the buffer owns `data`; strbuf_detach() hands it to the caller (who frees it with
 * free()) and leaves the buffer empty. STRBUF_INIT / strbuf_init() make an empty buffer that
 * allocates nothing; strbuf_release() frees and re-initialises.
 * Errors: appends return LZ_ENOMEM when growth fails; the contents are unchanged then.
 * Thread rules: none; a strbuf belongs to one thread at a time.
 */
#ifndef LZ_COMMON_STRBUF_H
#define LZ_COMMON_STRBUF_H

#include <stddef.h>

#include "common/err.h"

struct strbuf {
	char *data; /* NULL until the first append; strbuf_cstr() never returns NULL */
	size_t len;
	size_t cap;
};

#define STRBUF_INIT { NULL, 0, 0 }

void strbuf_init(struct strbuf *b);
void strbuf_release(struct strbuf *b);
void strbuf_reset(struct strbuf *b); /* len = 0, keeps the allocation */
lz_err strbuf_grow(struct strbuf *b, size_t extra);
lz_err strbuf_add(struct strbuf *b, const void *data, size_t len);
lz_err strbuf_adds(struct strbuf *b, const char *s);
lz_err strbuf_addch(struct strbuf *b, char c);
lz_err strbuf_addf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` escaped for XML text and attribute values (& < > " '). */
lz_err strbuf_add_xml(struct strbuf *b, const char *s);
const char *strbuf_cstr(const struct strbuf *b);
char *strbuf_detach(struct strbuf *b, size_t *len);

#endif
