/* A development backend for norn-nbd: exports are sparse local files.
 *
 * This backend exists so the NBD protocol layer can be built, tested and
 * benchmarked without a cluster; production exports are volumes (the
 * volume backend on client/vol). It maps export names to files:
 *   - with an export directory DIR, the name "pool/volume" is the file
 *     DIR/pool/volume; "pool/volume@snap" is DIR/pool/volume@snap and is
 *     always exported read-only (the same convention as volume snapshots);
 *     names are one to four components of [A-Za-z0-9._+:@-], none starting
 *     with '.', so a client cannot climb out of DIR with "..";
 *   - with allow_paths, the name "file:/absolute/path" exports that file
 *     (an operator convenience for tests: anyone who can reach the socket
 *     can then open any file the server can, so it is off by default).
 * Files must exist already (create them with truncate -s); regular files
 * and block devices are accepted. The export size is the file size when
 * it is opened.
 *
 * All file I/O runs on libuv's thread pool (uv_queue_work), so the size of
 * that pool (UV_THREADPOOL_SIZE, set by norn-nbd from --threads) bounds the
 * parallelism. FUA writes use pwritev2(RWF_DSYNC); flush is fdatasync; trim
 * and may_trim zeroing punch holes; zeroing without may_trim uses
 * FALLOC_FL_ZERO_RANGE, falling back to writing zeros. A failed fdatasync
 * or durable write leaves the device failed: every later write and flush
 * returns -EIO.
 */
#ifndef NORN_NBD_BACKEND_FILE_H
#define NORN_NBD_BACKEND_FILE_H

#include <stdbool.h>
#include <uv.h>

#include "client/nbd/nbd_backend.h"

struct nbd_file_backend_config {
	const char *export_dir;   /* directory holding the exports, or NULL */
	bool allow_paths;         /* accept "file:/absolute/path" names */
	bool read_only;           /* export everything read-only */
};

/* The ops table of this backend; pass it with the handle from
 * nbd_backend_file_create() to nbd_server_init(). */
extern const struct nbd_backend_ops nbd_backend_file_ops;

/* Create a file backend whose completions run on @loop. @cfg is copied.
 * Returns 0 and *backend_out (free with nbd_backend_file_ops.destroy after
 * every device is closed), -EINVAL if neither an export directory nor
 * allow_paths is given, -ENAMETOOLONG, or -ENOMEM. */
int nbd_backend_file_create(uv_loop_t *loop, const struct nbd_file_backend_config *cfg,
                            void **backend_out);

/* Check an export name against the directory-mode rules above and build
 * its path under @dir into @path (size @cap); *read_only_out is set for
 * snapshot names. Returns 0, -EINVAL (bad name) or -ENAMETOOLONG. Pure;
 * exposed for unit tests. */
int nbd_backend_file_resolve(const char *dir, const char *name, char *path, size_t cap,
                             bool *read_only_out);

#endif
