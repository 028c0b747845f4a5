#include "common/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(struct strbuf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void strbuf_release(struct strbuf *b)
{
	free(b->data);
	strbuf_init(b);
}

void strbuf_reset(struct strbuf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

lz_err strbuf_grow(struct strbuf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return LZ_ENOMEM;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return LZ_OK;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return LZ_ENOMEM;
	b->data = p;
	b->cap = cap;
	return LZ_OK;
}

lz_err strbuf_add(struct strbuf *b, const void *data, size_t len)
{
	lz_err err = strbuf_grow(b, len);

	if (err != LZ_OK)
		return err;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return LZ_OK;
}

lz_err strbuf_adds(struct strbuf *b, const char *s)
{
	return strbuf_add(b, s, strlen(s));
}

lz_err strbuf_addch(struct strbuf *b, char c)
{
	return strbuf_add(b, &c, 1);
}

lz_err strbuf_addf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	lz_err err;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return LZ_EINVAL;
	err = strbuf_grow(b, (size_t)n);
	if (err != LZ_OK)
		return err;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return LZ_OK;
}

lz_err strbuf_add_xml(struct strbuf *b, const char *s)
{
	lz_err err = LZ_OK;
	const char *run = s;

	for (; *s != '\0' && err == LZ_OK; s++) {
		const char *esc;

		switch (*s) {
		case '&': esc = "&amp;"; break;
		case '<': esc = "&lt;"; break;
		case '>': esc = "&gt;"; break;
		case '"': esc = "&quot;"; break;
		case '\'': esc = "&apos;"; break;
		default: continue;
		}
		err = strbuf_add(b, run, (size_t)(s - run));
		if (err == LZ_OK)
			err = strbuf_adds(b, esc);
		run = s + 1;
	}
	if (err == LZ_OK)
		err = strbuf_add(b, run, (size_t)(s - run));
	return err;
}

const char *strbuf_cstr(const struct strbuf *b)
{
	return b->data != NULL ? b->data : "";
}

char *strbuf_detach(struct strbuf *b, size_t *len)
{
	char *p = b->data;

	if (p == NULL)
		p = calloc(1, 1);
	if (len != NULL)
		*len = b->len;
	strbuf_init(b);
	return p;
}
