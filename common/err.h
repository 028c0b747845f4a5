/*
 * err — the project's one error space.
 *
 * Every function named as an action returns an `lz_err`: 0 (LZ_OK) is success, every other value
 * is one of the codes below. OS errors are wrapped as LZ_ESYS; the caller that needs errno reads
 * it right after the failing call. Predicates return bool, never an lz_err.
 *
 * Thread rules: err_str() returns a pointer to a static string and may be called from any thread.
 */
#ifndef LZ_COMMON_ERR_H
#define LZ_COMMON_ERR_H

/* X(name, text): the order is the numbering; append only. */
#define LZ_ERR_LIST(X)                                                        \
	X(LZ_OK, "success")                                                   \
	X(LZ_ENOMEM, "out of memory")                                         \
	X(LZ_EINVAL, "invalid argument")                                      \
	X(LZ_ENOTFOUND, "not found")                                          \
	X(LZ_EEXIST, "already exists")                                        \
	X(LZ_ERANGE, "value out of range")                                    \
	X(LZ_EPARSE, "malformed input")                                       \
	X(LZ_ETOOBIG, "too large")                                            \
	X(LZ_EDISABLED, "entity is disabled")                                 \
	X(LZ_ELOCKLOST, "lock lost or not found")                             \
	X(LZ_EQUOTA, "quota exceeded")                                        \
	X(LZ_ESTATE, "operation not valid in the current state")             \
	X(LZ_EIMMUTABLE, "property cannot be changed")                        \
	X(LZ_EBUSY, "server busy")                                            \
	X(LZ_ESYS, "system call failed")                                      \
	X(LZ_ESHORT, "truncated input")                                       \
	X(LZ_ECRC, "checksum mismatch")                                       \
	X(LZ_EUNSUPPORTED, "not supported")

typedef enum {
#define LZ_ERR_ENUM(name, text) name,
	LZ_ERR_LIST(LZ_ERR_ENUM)
#undef LZ_ERR_ENUM
	LZ_ERR__COUNT
} lz_err;

/* Human-readable text of `e`; "unknown error" for a value outside the enum. */
const char *err_str(lz_err e);

/* The enum constant's name ("LZ_ENOTFOUND"), for logs and test failure messages. */
const char *err_name(lz_err e);

#endif
