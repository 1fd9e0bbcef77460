/* The block backend behind norn-nbd: what an export is made of.
 *
 * The NBD server (nbd_server.c) knows nothing about volumes, objects or
 * files. It speaks to one backend through this narrow, asynchronous ops
 * table: list the export names, open one by name (getting its size, block
 * size constraints and capabilities), then read, write, flush, trim and
 * write zeroes at byte offsets, and finally close it. Two backends exist or
 * are planned:
 *   - nbd_backend_file.c: a development backend on sparse local files,
 *     used by the tests and benchmarks of the protocol layer;
 *   - the volume backend on client/vol + libnorn (export names
 *     "pool/volume" and read-only "pool/volume@snap").
 *
 * Threading and callbacks. Every op is called on the server's libuv loop
 * thread and must not block it. An op either returns a negative error
 * (-errno or NORN_E*; its callback will then never run) or returns 0 and
 * later calls its callback exactly once, on the same loop thread, and never
 * before the op has returned (no re-entrant completion). Ops on one device
 * may complete in any order; the server replies in completion order, as
 * NBD allows.
 *
 * Durability contract (what NBD clients rely on):
 *   - write(fua=true), trim(fua=true), write_zeroes(fua=true): the data is
 *     durable when the callback reports success;
 *   - flush: when it completes successfully, every write, trim and
 *     write_zeroes whose callback ran before flush() was called is durable.
 *     Ops still in flight when flush() is called need not be covered.
 *   - a failed durability op (flush, FUA write) is reported as an error and
 *     the device should stay failed (-EIO for every later write/flush):
 *     never pretend a lost write was saved.
 *
 * Sharing: the server opens each export name once and shares the device
 * among all connections that asked for that name (NBD multi-conn). A
 * backend sets NBD_BACKEND_F_MULTI_CONN when a flush issued through one
 * connection covers writes completed on all of them, which is true when
 * the device is one handle (as here) over one cache.
 */
#ifndef NORN_NBD_BACKEND_H
#define NORN_NBD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Export capabilities (struct nbd_export_info.flags). */
#define NBD_BACKEND_F_READ_ONLY    (1u << 0) /* writes, trims, zeroes refused */
#define NBD_BACKEND_F_FLUSH        (1u << 1) /* flush() is meaningful */
#define NBD_BACKEND_F_FUA          (1u << 2) /* fua=true is honoured natively */
#define NBD_BACKEND_F_TRIM         (1u << 3) /* trim() is implemented */
#define NBD_BACKEND_F_WRITE_ZEROES (1u << 4) /* write_zeroes() is implemented */
#define NBD_BACKEND_F_MULTI_CONN   (1u << 5) /* safe for several connections */
#define NBD_BACKEND_F_ROTATIONAL   (1u << 6) /* hint: seeks are expensive */

#define NBD_BACKEND_DESC_BYTES 256

/* What open() reports about an export. */
struct nbd_export_info {
	uint64_t size_bytes;
	uint32_t min_block;     /* power of two, 1..65536: smallest I/O granule */
	uint32_t pref_block;    /* power of two >= min_block: efficient I/O size */
	uint32_t max_payload;   /* largest single read/write (<= 32 MiB) */
	uint32_t flags;         /* NBD_BACKEND_F_* */
	char description[NBD_BACKEND_DESC_BYTES]; /* free text, may be "" */
};

/* An open export. Opaque to the server; owned by the backend. */
struct nbd_bdev;

/* Completion of read/write/flush/trim/write_zeroes: @err is 0 or a
 * negative errno / NORN_E* code. */
typedef void (*nbd_io_cb)(void *arg, int err);
/* Completion of open: on success @err is 0, @dev the device and @info its
 * properties (valid only during the callback: copy what you keep). On
 * failure @dev is NULL: -ENOENT (no such export), -EINVAL (a name the
 * backend cannot parse), -EACCES/-EPERM/-EBUSY (refused, e.g. locked by
 * another writer) or another -errno. */
typedef void (*nbd_open_cb)(void *arg, int err, struct nbd_bdev *dev,
                            const struct nbd_export_info *info);
/* Completion of list: @names has @n export names (valid only during the
 * callback). */
typedef void (*nbd_list_cb)(void *arg, int err, const char *const *names, size_t n);
/* Completion of close: the device is gone. */
typedef void (*nbd_close_cb)(void *arg);

struct nbd_backend_ops {
	const char *name;   /* "file", "vol": for logs */

	/* List export names (for NBD_OPT_LIST), at most @max of them. */
	int (*list)(void *backend, size_t max, nbd_list_cb cb, void *arg);
	/* Open the export called @name (NUL-terminated, <= 4096 bytes; the
	 * server already refused NUL bytes). @name is valid only during the
	 * call. */
	int (*open)(void *backend, const char *name, nbd_open_cb cb, void *arg);
	/* Read @len bytes at @off into @buf (owned by the caller, valid until
	 * the callback). The server only passes ranges inside the export. */
	int (*read)(struct nbd_bdev *dev, uint64_t off, uint32_t len, void *buf,
	            nbd_io_cb cb, void *arg);
	/* Write @len bytes from @buf at @off; durable before the callback if
	 * @fua. */
	int (*write)(struct nbd_bdev *dev, uint64_t off, uint32_t len, const void *buf,
	             bool fua, nbd_io_cb cb, void *arg);
	/* Make every completed modification durable (see the contract above). */
	int (*flush)(struct nbd_bdev *dev, nbd_io_cb cb, void *arg);
	/* Discard a range: afterwards it reads as zeros or as the old data
	 * (NBD lets trim be advisory), and may stop using space. */
	int (*trim)(struct nbd_bdev *dev, uint64_t off, uint64_t len, bool fua,
	            nbd_io_cb cb, void *arg);
	/* Make a range read as zeros. With @may_trim the backend may free the
	 * space (punch a hole); without it the range stays allocated. */
	int (*write_zeroes)(struct nbd_bdev *dev, uint64_t off, uint64_t len,
	                    bool may_trim, bool fua, nbd_io_cb cb, void *arg);
	/* Close a device with no op in flight (the server guarantees it).
	 * @cb runs once the device is released. Cannot fail. */
	void (*close)(struct nbd_bdev *dev, nbd_close_cb cb, void *arg);
	/* Free the backend itself after every device is closed, on the loop
	 * thread. It may close libuv handles, so let the loop run until it
	 * has none left before uv_loop_close(). May be NULL. */
	void (*destroy)(void *backend);
};

#endif
