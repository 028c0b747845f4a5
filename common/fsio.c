#include "common/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* open(2) is variadic, so it needs a wrapper with a fixed signature. */
static int fsio_real_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

const struct fsio_ops fsio_real = {
	.open = fsio_real_open,
	.close = close,
	.write = write,
	.pwrite = pwrite,
	.pread = pread,
	.fdatasync = fdatasync,
	.fsync = fsync,
	.ftruncate = ftruncate,
	.fstat = fstat,
	.rename = rename,
	.unlink = unlink,
	.mkdir = mkdir,
	.scandir = scandir,
};

lz_err fsio_write_all(const struct fsio_ops *io, int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = io->write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return LZ_ESYS;
		}
		p += w;
		n -= (size_t)w;
	}
	return LZ_OK;
}

lz_err fsio_pwrite_all(const struct fsio_ops *io, int fd, const void *buf, size_t n, off_t off)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = io->pwrite(fd, p, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return LZ_ESYS;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return LZ_OK;
}

lz_err fsio_pread_all(const struct fsio_ops *io, int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = io->pread(fd, p, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return LZ_ESYS;
		if (r == 0)
			return LZ_ESHORT;
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return LZ_OK;
}

lz_err fsio_fsync_dir(const struct fsio_ops *io, const char *path)
{
	lz_err err = LZ_OK;
	int fd, saved;

	fd = io->open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return LZ_ESYS;
	if (io->fsync(fd) != 0)
		err = LZ_ESYS;
	saved = errno;
	if (io->close(fd) != 0 && err == LZ_OK)
		return LZ_ESYS;
	errno = saved;
	return err;
}

lz_err fsio_fsync_parent(const struct fsio_ops *io, const char *path)
{
	size_t len = strlen(path);
	char parent[PATH_MAX];

	while (len > 1 && path[len - 1] == '/') /* "a/b/" names b, whose parent is a */
		len--;
	while (len > 0 && path[len - 1] != '/')
		len--;
	if (len == 0)
		return fsio_fsync_dir(io, ".");
	while (len > 1 && path[len - 1] == '/') /* "a//b" → "a"; "/b" → "/" */
		len--;
	if (len >= sizeof(parent)) {
		errno = ENAMETOOLONG;
		return LZ_ESYS;
	}
	memcpy(parent, path, len);
	parent[len] = '\0';
	return fsio_fsync_dir(io, parent);
}
