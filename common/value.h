/*
 * value — a typed property value and an ordered list of named values.
 *
 * Used for message user properties, correlation-filter properties and SQL filter parameters.
 *
 * Representation: INT, LONG, DATETIME and DURATION keep an int64_t in u.i (DATETIME: ms since
 * the Unix epoch, see common/timefmt.h; DURATION: ms, see common/duration.h). DOUBLE uses u.d,
 * BOOL u.b. STRING owns u.s, a NUL-terminated heap string (never NULL). A zeroed struct value is VALUE_NULL
 * and needs no release.
 *
 * Ownership: a struct value owns its string; value_release() frees it. Functions that fill an
 * OUT value overwrite it without releasing what it held, and fill it only on success: pass a
 * released or fresh value. A proplist owns copies of the names and values put into it;
 * pointers returned by proplist_get*() are borrowed and stay valid until the list is next
 * changed or released.
 *
 * Text forms:
 *   HTTP header (spec §1.2, REST user properties): strings and dates double-quoted, the date
 *     as RFC 1123 ("\"Sun, 06 Nov 1994 08:49:37 GMT\""); numbers and booleans bare; a
 *     duration as its total seconds ("30", "0.5").
 *   Plain text (XML/JSON): strings raw, booleans true/false, dates ISO-8601 with milliseconds,
 *   durations as xs:duration.
 * Doubles are written in the shortest form that reads back to the same double (up to 17
 * significant digits, "%g" style). Numbers are read and written with a '.' decimal point:
 * the process must keep the "C" LC_NUMERIC locale (nothing in LocalZure calls setlocale).
 *
 * Thread rules: no shared state; a value or list may be read from several threads at once but
 * must not be changed while another thread uses it.
 */
#ifndef LZ_COMMON_VALUE_H
#define LZ_COMMON_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum {
	VALUE_NULL,
	VALUE_STRING,
	VALUE_INT,
	VALUE_LONG,
	VALUE_BOOL,
	VALUE_DOUBLE,
	VALUE_DATETIME,
	VALUE_DURATION
} value_type;

struct value {
	value_type type;
	union {
		int64_t i; /* INT, LONG, DATETIME (ms since epoch), DURATION (ms) */
		double d;  /* DOUBLE */
		bool b;    /* BOOL */
		char *s;   /* STRING: owned, NUL-terminated, heap */
	} u;
};

struct prop {
	char *name; /* owned */
	struct value v;
};

/* Insertion order is kept. Names compare case-sensitively unless a function says otherwise.
 * A zeroed proplist is an empty list. */
struct proplist {
	size_t n, cap;
	struct prop *items;
};

/* Free what `v` owns and make it VALUE_NULL. NULL is a no-op. */
void value_release(struct value *v);

/* Deep-copy `src` into OUT `dst` (see Ownership). `dst` must not be `src`. LZ_ENOMEM. */
lz_err value_copy(struct value *dst, const struct value *src);

/* True when both have the same type and the same value (strings byte-wise, doubles with ==, so
 * NaN is unequal to itself). An INT never equals a LONG: cross-type comparison is the SQL
 * evaluator's business. */
bool value_equal(const struct value *a, const struct value *b);

/* The type's xs-style name: "string", "int", "long", "boolean", "double", "dateTime",
 * "duration"; "null" for VALUE_NULL; "unknown" outside the enum. Static string. */
const char *value_type_name(value_type t);

/* Inverse of value_type_name() (case-sensitive, the caller strips any "xs:" prefix) into OUT
 * `*out`. LZ_EUNSUPPORTED for any other name. */
lz_err value_type_parse(const char *name, value_type *out);

/* Make `l` an empty list. */
void proplist_init(struct proplist *l);

/* Free every name and value and the array; `l` is then empty and reusable. NULL is a no-op. */
void proplist_release(struct proplist *l);

/* Put a copy of `name` = `v` in `l`: replaces the value of an existing property with that name
 * in place (keeping its position), otherwise appends. On error `l` is unchanged. LZ_ENOMEM;
 * LZ_EINVAL for a NULL name. */
lz_err proplist_set(struct proplist *l, const char *name, const struct value *v);

/* The value named `name` (borrowed), or NULL. */
const struct value *proplist_get(const struct proplist *l, const char *name);

/* As proplist_get() with an ASCII case-insensitive name match; the first match wins. For
 * HTTP header names, which are case-insensitive. */
const struct value *proplist_get_ci(const struct proplist *l, const char *name);

/* Remove the property named `name`, keeping the order of the rest. False if absent. */
bool proplist_remove(struct proplist *l, const char *name);

/* Deep-copy `src` into OUT `dst`, which is overwritten (release it first if it held
 * anything). On error `dst` is an empty list. LZ_ENOMEM. */
lz_err proplist_copy(struct proplist *dst, const struct proplist *src);

/*
 * Type a user-property header value (spec §1.2) into OUT `*out`, after trimming spaces and
 * tabs at both ends:
 *   "..."            → DATETIME if the inside is an HTTP date (timefmt_parse_http_date),
 *                      else STRING of the inside (no escape processing)
 *   true / false     → BOOL (case-sensitive)
 *   [+-]digits       → LONG, if it fits in int64
 *   decimal floating → DOUBLE ("1.5", "-2e3", ".5", or an integer too big for int64); hex,
 *                      inf and nan are refused, and so is a value that overflows a double
 * Anything else (including the empty string) → LZ_EPARSE: the broker rejects the message.
 * LZ_ENOMEM.
 */
lz_err value_parse_header(const char *text, struct value *out);

/*
 * Write `v` as a header value to `out` (see Text forms). Doubles NaN and ±infinity are written
 * "NaN", "Infinity", "-Infinity" as .NET does. LZ_EINVAL for VALUE_NULL (omit the header) and
 * for a string containing CR or LF (it would split the header); LZ_ERANGE for a date outside
 * years 0001..9999; LZ_ETOOBIG if text and NUL do not fit in `cap`.
 */
lz_err value_format_header(const struct value *v, char *out, size_t cap);

/*
 * Write `v` as plain text to `out` (see Text forms): VALUE_NULL as "", doubles NaN and
 * ±infinity as xs:double's "NaN", "INF", "-INF". LZ_ERANGE for a date outside years
 * 0001..9999 or a negative duration; LZ_ETOOBIG if text and NUL do not fit in `cap`.
 */
lz_err value_format_text(const struct value *v, char *out, size_t cap);

#endif
