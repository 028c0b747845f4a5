/*
 * fsio — the file-I/O seam of the durability code.
 *
 * Code that makes data durable (persistd's WAL, file backends) never calls the file system
 * directly: it calls through a `const struct fsio_ops *` so that tests can pass their own table
 * and fail the k-th fdatasync with EIO, write short, or refuse a rename. `fsio_real` forwards to
 * the C library. Every member has the contract of the system call it is named after: it returns
 * what that call returns and sets errno the same way (-1 + errno on failure), including EINTR
 * and short counts, which the helpers below handle.
 *
 * A test table usually starts as a copy of fsio_real and overrides one member:
 *   struct fsio_ops io = fsio_real;
 *   io.fdatasync = failing_fdatasync;
 *
 * Helpers: each returns LZ_OK or LZ_ESYS (with errno left as the failing call set it; a write
 * that makes no progress reports EIO) and, for reads, LZ_ESHORT when the file ends first.
 * All of them block in the file system.
 *
 * Thread rules: fsio_real and the helpers are safe from any thread; a test table is as
 * thread-safe as its members.
 */
#ifndef LZ_COMMON_FSIO_H
#define LZ_COMMON_FSIO_H

#include <dirent.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/err.h"

struct fsio_ops {
	int (*open)(const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	ssize_t (*write)(int fd, const void *buf, size_t n);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	int (*fdatasync)(int fd);
	int (*fsync)(int fd);
	int (*ftruncate)(int fd, off_t len);
	int (*fstat)(int fd, struct stat *st);
	int (*rename)(const char *from, const char *to);
	int (*unlink)(const char *path);
	int (*mkdir)(const char *path, mode_t mode);
	/* Directory listing as scandir(3): *names is malloc'd, each entry and the array are
	 * freed with free() by the caller. */
	int (*scandir)(const char *dir, struct dirent ***names,
		       int (*filter)(const struct dirent *),
		       int (*compar)(const struct dirent **, const struct dirent **));
};

extern const struct fsio_ops fsio_real;

/* Writes all `n` bytes at the file position (write loop, retries EINTR and short writes). */
lz_err fsio_write_all(const struct fsio_ops *io, int fd, const void *buf, size_t n);

/* Writes all `n` bytes at offset `off` (pwrite loop). On failure some prefix may be written. */
lz_err fsio_pwrite_all(const struct fsio_ops *io, int fd, const void *buf, size_t n, off_t off);

/* Reads exactly `n` bytes at offset `off`; LZ_ESHORT if the file ends first. */
lz_err fsio_pread_all(const struct fsio_ops *io, int fd, void *buf, size_t n, off_t off);

/* fsync of the directory `path` itself: makes the names created, renamed or unlinked in it
 * durable. */
lz_err fsio_fsync_dir(const struct fsio_ops *io, const char *path);

/* fsync of the directory that contains `path` ("." for a bare name). */
lz_err fsio_fsync_parent(const struct fsio_ops *io, const char *path);

#endif
