/* Block volumes on a Norn pool (client/vol, library norn_vol).
 *
 * A volume is a thin-provisioned byte array stored as objects in one pool:
 *
 *   vol_id.<name>        the name -> id record (created exclusively, so two
 *                        creates of one name cannot both win); data = id
 *   vol_header.<id>      the header: a versioned struct (size, object size,
 *                        features, snapshots, name) as the object's data;
 *                        xattr "vol.gen" (generation, guards every header
 *                        update with a compare step), xattr "vol.lock"
 *                        (the exclusive lock: owner + lease expiry)
 *   <id>.<016x objno>    data object objno: bytes [objno * obj_size,
 *                        (objno + 1) * obj_size) of the volume, created on
 *                        first write; absent objects and the unwritten
 *                        tail of a short object read as zeros
 *   norn_vol_directory   omap name -> id of every volume in the pool (for
 *                        listing; the vol_id.<name> record is the truth)
 *
 * The id is 16 random hex digits and never changes, so rename only touches
 * the name records and data objects keep their names.
 *
 * Two sets of functions:
 *   - synchronous management (create, list, info, resize, remove, rename,
 *     du, lock): block the calling thread on libnorn; never call them from
 *     a libnorn callback;
 *   - asynchronous I/O on an open volume (vol_aio_*): split a byte range at
 *     object boundaries into parallel libnorn ops (at most
 *     VOL_AIO_WINDOW per request in flight) and call the completion once
 *     when every piece finished, on libnorn's I/O thread. A write's
 *     callback runs only after every piece was acknowledged, and libnorn
 *     acknowledges only what every replica committed, so a completed write
 *     is durable: flush has nothing left to do.
 *
 * The exclusive lock is advisory for management tools and mandatory for
 * the writers that use it (norn-nbd takes it for every read-write export):
 * a holder renews its lease before it expires; another client may take an
 * expired lock, and an operator may break a live one (vol_lock_break()).
 * A holder whose renewal fails because the lock changed stops writing. It
 * is not a fence: writes already sent by a partitioned holder can still
 * land after a break (the OSD-side blocklist that would close that window
 * does not exist yet).
 *
 * Threads: a struct vol_image may be used from any thread; the management
 * calls on one image must not run concurrently with each other.
 */
#ifndef NORN_VOL_H
#define NORN_VOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "norn/norn.h"

#define VOL_NAME_MAX        96          /* bytes in a volume or snapshot name */
#define VOL_ID_LEN          16          /* hex digits of a volume id */
#define VOL_OBJ_SIZE_MIN    (64u << 10)
#define VOL_OBJ_SIZE_MAX    (64u << 20)
#define VOL_OBJ_SIZE_DEFAULT (4u << 20)
#define VOL_SIZE_MAX        (1ull << 50) /* 1 PiB */
#define VOL_MAX_SNAPS       256
#define VOL_HEADER_MAX_BYTES (256u << 10)
#define VOL_LOCK_OWNER_MAX  128
#define VOL_AIO_WINDOW      64          /* pieces in flight per request */
#define VOL_DIRECTORY_OID   "norn_vol_directory"

/* Feature bits (struct vol_info.features). Unknown bits in a header make
 * it refuse to open (NORN_EVERSION): a newer writer's format. */
#define VOL_FEATURE_LOCK    (1ull << 0) /* writers take the exclusive lock */
#define VOL_FEATURES_KNOWN  (VOL_FEATURE_LOCK)

struct vol_snap_info {
	uint64_t id;
	char name[VOL_NAME_MAX + 1];
	uint64_t size_bytes;       /* the volume size when it was taken */
	uint64_t ctime_ns;
};

struct vol_info {
	char name[VOL_NAME_MAX + 1];
	char id[VOL_ID_LEN + 1];
	uint64_t size_bytes;
	uint32_t obj_size_bytes;
	uint64_t features;
	uint64_t ctime_ns;
	uint64_t gen;              /* header generation (bumps on each change) */
	uint64_t snap_seq;
	uint32_t n_snaps;
	struct vol_snap_info snaps[VOL_MAX_SNAPS];
};

struct vol_lock_info {
	bool held;
	char owner[VOL_LOCK_OWNER_MAX + 1];
	uint64_t expiry_ns;        /* wall clock, ns since the epoch */
};

struct vol_image;

/* ---- names ---------------------------------------------------------------- */

/* A volume or snapshot name: 1..VOL_NAME_MAX bytes of [A-Za-z0-9._+:-], not
 * starting with '.'. Returns 0 or -EINVAL. */
int vol_name_check(const char *name);

/* Split "POOL/VOLUME[@SNAP]" into its parts (each checked; @snap gets ""
 * when there is none; buffers of at least VOL_NAME_MAX + 1 bytes; the pool
 * name may be up to VOL_NAME_MAX bytes of the same characters). Returns 0
 * or -EINVAL. */
int vol_spec_parse(const char *spec, char *pool, char *vol, char *snap);

/* The data object name of object @objno of volume @id into @out (at least
 * VOL_ID_LEN + 18 bytes). */
void vol_data_oid(const char *id, uint64_t objno, char *out, size_t cap);

/* ---- management (synchronous) ------------------------------------------- */

/* Create volume @name of @size_bytes (rounded up to 512 bytes) with objects
 * of @obj_size_bytes (a power of two in [VOL_OBJ_SIZE_MIN,
 * VOL_OBJ_SIZE_MAX]; 0 for the default). Thin: no data object is written.
 * Returns 0, -EEXIST, -EINVAL (bad name, size or object size) or a libnorn
 * error. */
int vol_create(norn_ioctx_t *io, const char *name, uint64_t size_bytes, uint32_t obj_size_bytes);

/* Names of the volumes in the pool, sorted: *@names is a malloc()ed array
 * of *@n malloc()ed strings (free with vol_names_free()). At most @max.
 * Returns 0 or a libnorn error (an absent directory is an empty list). */
int vol_list(norn_ioctx_t *io, size_t max, char ***names, size_t *n);
void vol_names_free(char **names, size_t n);

/* Remove volume @name: every data object (absent ones are skipped, so a
 * half-finished removal can be repeated), the header and the name records.
 * Refuses with -EBUSY while another client holds a live lock, unless
 * @force. Snapshots go with it. @progress (may be NULL) is called with
 * (done, total) objects. Returns 0, -ENOENT or a libnorn error. */
int vol_remove(norn_ioctx_t *io, const char *name, bool force,
               void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg);

/* Rename @from to @to. Returns 0, -ENOENT, -EEXIST, -EINVAL. */
int vol_rename(norn_ioctx_t *io, const char *from, const char *to);

/* Look up a volume's id (VOL_ID_LEN + 1 bytes). Returns 0 or -ENOENT. */
int vol_lookup_id(norn_ioctx_t *io, const char *name, char *id);

/* ---- open volumes ---------------------------------------------------------- */

/* Open volume @name of the pool behind @io (which must outlive the image).
 * @snap: NULL or "" for the live volume, else a snapshot name (read-only).
 * @read_only: refuse writes. Returns 0 and *out, -ENOENT (no such volume
 * or snapshot), NORN_ECORRUPT (undecodable header), NORN_EVERSION (unknown
 * features) or a libnorn error. Opening takes no lock. */
int vol_open(norn_ioctx_t *io, const char *name, const char *snap, bool read_only,
             struct vol_image **out);
/* Close (releases the lock if this image holds it). No I/O may be in
 * flight. */
void vol_close(struct vol_image *img);

/* Re-read the header into the image and copy it to @out (may be NULL).
 * Returns 0 or an error. */
int vol_refresh(struct vol_image *img, struct vol_info *out);
/* The header as of open/refresh (no I/O). */
void vol_get_info(const struct vol_image *img, struct vol_info *out);
/* Size of the open volume or snapshot in bytes (no I/O). */
uint64_t vol_size(const struct vol_image *img);
bool vol_is_read_only(const struct vol_image *img);
/* Use @clock (outlives the image) for lock leases instead of the system
 * clock (tests). */
struct norn_clock;
void vol_set_clock(struct vol_image *img, const struct norn_clock *clock);

/* Grow or shrink to @size_bytes (rounded up to 512). Shrinking needs
 * @allow_shrink and removes data objects past the new end and truncates
 * the one that straddles it. Returns 0,
 * -EPERM (shrink without @allow_shrink), -EROFS (read-only image),
 * -ECANCELED (the header changed meanwhile: refresh and retry) or a
 * libnorn error. */
int vol_resize(struct vol_image *img, uint64_t size_bytes, bool allow_shrink);

/* Allocated bytes: the sum of the data objects' sizes (thin provisioning:
 * never-written ranges cost nothing). Stats every possible object with up
 * to VOL_AIO_WINDOW in flight. Returns 0 and *bytes, *objects. */
int vol_du(struct vol_image *img, uint64_t *bytes, uint64_t *objects);

/* ---- snapshots (vol_snap.c) ------------------------------------------------
 * A snapshot is a snapshot id (libnorn's per-pool counter) recorded in the
 * header with a name and the volume size; data writes carry the volume's
 * snap context, so the OSDs clone an object on its first write after a
 * snapshot (a snapshot costs nothing until data changes). Open one
 * read-only with vol_open(io, name, snap, ...) ("pool/vol@snap" in
 * norn-nbd). All need a head image opened writable (no lock needed). */

/* Take snapshot @name. When another client holds a live lock (a writer),
 * wait up to @wait_ms for it to switch to the new snap context
 * (vol_snap_poll()), so writes it issues after this returns are not in
 * the snapshot. Returns 0, -EEXIST, -ENOSPC (VOL_MAX_SNAPS), -EINVAL,
 * -EROFS, -ETIMEDOUT (recorded, but the writer did not confirm: remove
 * it) or a libnorn error. */
int vol_snap_create(struct vol_image *img, const char *name, uint32_t wait_ms);
/* Remove snapshot @name and have the OSDs free the clones only it needed.
 * Returns 0, -ENOENT or an error. */
int vol_snap_remove(struct vol_image *img, const char *name);
/* Make the volume's data and size those of snapshot @name (later
 * snapshots stay). Refused with -EBUSY while another client holds a live
 * lock. Returns 0, -ENOENT or an error. */
int vol_snap_rollback(struct vol_image *img, const char *name);
/* For writers: if the header changed, switch to its snap context and, when
 * holding the lock, acknowledge it (what vol_snap_create() waits for).
 * Cheap when nothing changed (one xattr read). Returns 0 or an error. */
int vol_snap_poll(struct vol_image *img);

/* ---- exclusive lock ------------------------------------------------------- */

/* Take the lock as @owner (free text, at most VOL_LOCK_OWNER_MAX bytes)
 * for @lease_ms. Succeeds if the lock is free, expired or already ours.
 * Returns 0, -EBUSY (held by someone else: *@holder filled if not NULL),
 * -EROFS (read-only image) or a libnorn error. */
int vol_lock_acquire(struct vol_image *img, const char *owner, uint64_t lease_ms,
                     struct vol_lock_info *holder);
/* Extend our lease by @lease_ms from now. Returns 0, -ENOLCK (we do not
 * hold it: it was broken or taken after expiry; stop writing) or a
 * transient libnorn error (retry before the lease runs out). */
int vol_lock_renew(struct vol_image *img, uint64_t lease_ms);
/* Release our lock (no-op if we do not hold it). Returns 0 or an error. */
int vol_lock_release(struct vol_image *img);
/* Whether this image holds the lock (as far as it knows). */
bool vol_lock_held(const struct vol_image *img);

/* Read the lock of volume @name. Returns 0 (info->held false when free),
 * -ENOENT or an error. */
int vol_lock_get(norn_ioctx_t *io, const char *name, struct vol_lock_info *info);
/* Break whatever lock is on volume @name (for a dead holder). Returns 0
 * (also when there was none), -ENOENT or an error; *@was (may be NULL)
 * gets the lock that was broken. */
int vol_lock_break(norn_ioctx_t *io, const char *name, struct vol_lock_info *was);

/* ---- asynchronous I/O ----------------------------------------------------- */

/* Completion: @err is 0 or a negative error. Runs on libnorn's I/O thread
 * (it may run before the submitting call has returned), or on the
 * submitting thread at the end of the call when every piece finished
 * during it. Callers that need strict ordering (norn-nbd) hand the
 * completion to their own loop. */
typedef void (*vol_io_cb)(void *arg, int err);

/* Read @len bytes at @off into @buf. Absent objects and ranges past an
 * object's end read as zeros. Returns 0 (the callback will run exactly
 * once) or a negative error (it will not run):
 * -EINVAL for a range outside the volume, -ENOMEM. */
int vol_aio_read(struct vol_image *img, uint64_t off, size_t len, void *buf,
                 vol_io_cb cb, void *arg);
/* Write @len bytes from @buf (valid until the callback) at @off. Returns 0
 * or -EROFS, -EINVAL, -ENOMEM, -EIO (the image failed: lock lost). */
int vol_aio_write(struct vol_image *img, uint64_t off, size_t len, const void *buf,
                  vol_io_cb cb, void *arg);
/* Make [@off, @off+@len) read as zeros: whole objects are removed, partial
 * ones zeroed in place (an absent object stays absent). Same returns. */
int vol_aio_discard(struct vol_image *img, uint64_t off, uint64_t len, vol_io_cb cb, void *arg);

/* Fail every later write of this image with -EIO (used when the lock is
 * lost). */
void vol_set_failed(struct vol_image *img);
bool vol_failed(const struct vol_image *img);

/* ---- whole-volume copies (synchronous; used by import/export) ------------ */

/* Progress callback: @done and @total bytes. */
typedef void (*vol_progress_cb)(void *arg, uint64_t done, uint64_t total);

/* Write the volume to file descriptor @fd (a file or a pipe). Absent objects
 * and all-zero blocks are skipped with lseek() when @fd is seekable (the
 * output is sparse; it is truncated to the volume size at the end), and
 * written as zeros otherwise. Returns 0 or an error. */
int vol_export_fd(struct vol_image *img, int fd, vol_progress_cb progress, void *arg);
/* Copy file descriptor @fd into the volume from offset 0 until EOF or the
 * volume's end, skipping all-zero blocks (they stay holes) and holes the
 * file reports (SEEK_DATA). Fails with -EFBIG if the input is larger than
 * the volume. *@bytes_in gets the bytes consumed. Returns 0 or an error. */
int vol_import_fd(struct vol_image *img, int fd, vol_progress_cb progress, void *arg,
                  uint64_t *bytes_in);

#endif
