/* libnorn: the Norn client library.
 *
 * A client connects to the monitors with a config file (mon_host, fsid)
 * and a keyring, keeps the cluster maps current, computes placement with
 * CRUSH itself and talks straight to the primary OSD of each placement
 * group. Every operation is available synchronously (blocks the calling
 * thread) and asynchronously (a completion whose callback runs on the
 * library's own I/O thread: keep callbacks short and never call a
 * synchronous libnorn function from inside one).
 *
 * Threads: every function is safe to call from any thread, except where
 * noted. Handles (cluster, ioctx, op, completion) are opaque.
 *
 * Errors: functions return 0 (or a non-negative count) on success and a
 * negative errno or NORN_E* code (norn/errors.h, norn_strerror()) on
 * failure. The common ones:
 *   -ENOENT        object or pool does not exist
 *   -EEXIST        exclusive create of an existing object
 *   -ETIMEDOUT     no answer within client_op_timeout_ms (the op may or may
 *                  not have been applied; resending a write is safe: OSDs
 *                  detect duplicates by (client, tid))
 *   -ECANCELED     a compare/assert step of a compound op failed
 *   NORN_EAUTH     the mon or an OSD refused our key or ticket
 *   NORN_EPERM     our capabilities do not allow this pool/operation
 *   NORN_ENOQUORUM no monitor quorum within the timeout
 *   NORN_ENOSPC    the cluster or pool is full
 *
 * Ownership: buffers passed in are only read during the call (sync) or
 * until the completion fires (async). Buffers returned through out
 * parameters are malloc()ed and owned by the caller (free()).
 */
#ifndef NORN_NORN_H
#define NORN_NORN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "norn/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NORN_OBJ_NAME_MAX 1024   /* bytes in an object name */
#define NORN_XATTR_NAME_MAX 256
#define NORN_OMAP_KEY_MAX 1024

typedef struct norn_cluster norn_cluster_t;
typedef struct norn_ioctx norn_ioctx_t;
typedef struct norn_completion norn_completion_t;
typedef struct norn_write_op norn_write_op_t;
typedef struct norn_read_op norn_read_op_t;

/* ---- connection --------------------------------------------------------- */

/* Connect as @entity (e.g. "client.admin"; NULL: client.admin) using the
 * cluster config file @conf_path (NULL: $NORN_CONF, then ./norn.conf) and
 * @keyring_path (NULL: the config's `keyring` option). Authenticates with
 * the mons, fetches the current maps and starts the I/O thread. Returns 0
 * and *out, or a negative error (NORN_EAUTH, NORN_ENOQUORUM, -ENOENT for a
 * missing config/keyring, -EINVAL for a bad config, with a log line). */
int norn_connect(const char *conf_path, const char *entity, const char *keyring_path,
                 norn_cluster_t **out);

/* Like norn_connect() with extra config overrides, "name=value" strings. */
int norn_connect2(const char *conf_path, const char *entity, const char *keyring_path,
                  const char *const *overrides, int n_overrides, norn_cluster_t **out);

/* Wait for in-flight operations (at most client_op_timeout_ms), close all
 * connections and free the cluster handle. Every ioctx must be destroyed
 * first. */
void norn_shutdown(norn_cluster_t *cl);

/* The osdmap epoch this client holds. */
uint64_t norn_osdmap_epoch(norn_cluster_t *cl);

/* Block until the client holds an osdmap of at least @epoch (or timeout). */
int norn_wait_for_epoch(norn_cluster_t *cl, uint64_t epoch, int timeout_ms);

/* Send a JSON command to the monitors (the leader is found automatically)
 * and wait for the reply. Returns the command's result code (0 or negative)
 * or a transport error. *@out (JSON or text) and *@status (a human message)
 * are malloc()ed, NUL-terminated and may be NULL if the caller passes NULL. */
int norn_mon_command(norn_cluster_t *cl, const char *json_cmd, char **out, size_t *out_len,
                     char **status);

/* ---- pools --------------------------------------------------------------- */

/* Look up a pool id by name: 0 and *id, or -ENOENT. */
int norn_pool_lookup(norn_cluster_t *cl, const char *name, int64_t *id);

/* Open an I/O context on pool @pool_name. Returns 0, -ENOENT. */
int norn_ioctx_create(norn_cluster_t *cl, const char *pool_name, norn_ioctx_t **out);
void norn_ioctx_destroy(norn_ioctx_t *io);
int64_t norn_ioctx_pool_id(norn_ioctx_t *io);
/* A new ioctx on the same cluster and pool, without @io's snapshot
 * context. Returns 0 or -ENOMEM. */
int norn_ioctx_dup(norn_ioctx_t *io, norn_ioctx_t **out);

/* Where an object or a PG lives in the client's current osdmap (like
 * `ceph osd map`). up: what CRUSH says; acting: who serves I/O (differs
 * while a pg_temp is pinned). OSD ids of -1 are empty positions. */
struct norn_pg_location {
	uint64_t epoch;             /* osdmap epoch the answer comes from */
	int64_t pool;
	uint32_t pg_num;
	uint32_t pg_seed;           /* the PG is "<pool>.<pg_seed in hex>" */
	uint32_t object_hash;       /* osdmap_str_hash of the name (0 for norn_pg_locate) */
	uint8_t size, min_size;
	uint32_t n_up;
	int32_t up[16];
	int32_t up_primary;
	uint32_t n_acting;
	int32_t acting[16];
	int32_t acting_primary;
};

/* Compute the PG and the OSDs of object @oid in @io's pool (no I/O).
 * Returns 0, -EINVAL or -ENOENT (the pool is gone). */
int norn_object_locate(norn_ioctx_t *io, const char *oid, struct norn_pg_location *out);
/* Same for PG @pg_seed of @io's pool: -ENOENT if pg_seed >= pg_num. */
int norn_pg_locate(norn_ioctx_t *io, uint32_t pg_seed, struct norn_pg_location *out);

/* Self-managed snapshots (volumes). Writes through @io carry this
 * snapshot context: @seq, the newest snapshot id, and the ids of the
 * snapshots that exist, newest first (@n <= 1024); an OSD that supports
 * snapshots clones an object on its first write after a new snapshot.
 * Returns 0 or -EINVAL. Set it before issuing the writes it applies to. */
int norn_ioctx_set_write_snap_context(norn_ioctx_t *io, uint64_t seq, const uint64_t *snaps,
                                      size_t n);
/* Reads through @io see objects as of snapshot @snapid (0: the head). */
void norn_ioctx_set_read_snap(norn_ioctx_t *io, uint64_t snapid);
/* Allocate a new snapshot id, unique and increasing within the pool (a
 * counter object NORN_SNAP_SEQ_OID updated with compare-and-swap). The
 * caller records it (a volume header) and puts it in its write snap
 * context. Removing a snapshot is leaving it out of later snap contexts:
 * the OSD trims clones no listed snapshot needs on the next write (or on
 * norn_rollback(io, oid, 0)). Returns 0 or an error. */
#define NORN_SNAP_SEQ_OID "norn_snap_seq"
int norn_ioctx_selfmanaged_snap_create(norn_ioctx_t *io, uint64_t *snapid);
/* Make @oid as it was at snapshot @snapid (deleted if it did not exist
 * then); the write carries @io's snap context, so the current state is
 * kept for the snapshots taken since. @snapid 0 changes no data and only
 * applies the snap context (trims clones of removed snapshots). Returns
 * 0, -ENOENT (@snapid not in the snap context) or an error. */
int norn_rollback(norn_ioctx_t *io, const char *oid, uint64_t snapid);

/* ---- synchronous object operations ----------------------------------------
 * @oid is a NUL-terminated name of at most NORN_OBJ_NAME_MAX bytes. */

/* Replace the whole object with @len bytes (creates it). */
int norn_write_full(norn_ioctx_t *io, const char *oid, const void *buf, size_t len);
/* Write @len bytes at @off, extending the object as needed (creates it). */
int norn_write(norn_ioctx_t *io, const char *oid, const void *buf, size_t len, uint64_t off);
/* Append @len bytes at the current end. */
int norn_append(norn_ioctx_t *io, const char *oid, const void *buf, size_t len);
/* Read up to @len bytes at @off. Returns the bytes read (0 at or past the
 * end), -ENOENT if the object does not exist. Unwritten ranges read as
 * zeros. One read returns at most msg_max_frame_bytes - 1 MiB (127 MiB by
 * default): read larger objects in pieces. */
ssize_t norn_read(norn_ioctx_t *io, const char *oid, void *buf, size_t len, uint64_t off);
/* Size in bytes and modification time (ns since the epoch). */
int norn_stat(norn_ioctx_t *io, const char *oid, uint64_t *size, uint64_t *mtime_ns);
int norn_remove(norn_ioctx_t *io, const char *oid);
int norn_truncate(norn_ioctx_t *io, const char *oid, uint64_t size);
/* Zero a range (the store may deallocate it). */
int norn_zero(norn_ioctx_t *io, const char *oid, uint64_t off, uint64_t len);

int norn_setxattr(norn_ioctx_t *io, const char *oid, const char *name, const void *val, size_t len);
/* Returns the value length and a malloc()ed *val, or -ENODATA. */
ssize_t norn_getxattr(norn_ioctx_t *io, const char *oid, const char *name, void **val);
int norn_rmxattr(norn_ioctx_t *io, const char *oid, const char *name);

/* Set @n omap keys (creates the object). */
int norn_omap_set(norn_ioctx_t *io, const char *oid, const char *const *keys,
                  const void *const *vals, const size_t *val_lens, size_t n);
int norn_omap_rm_keys(norn_ioctx_t *io, const char *oid, const char *const *keys, size_t n);
int norn_omap_clear(norn_ioctx_t *io, const char *oid);

/* A page of omap entries or object names, malloc()ed as one block; free
 * with norn_list_free(). */
struct norn_kv {
	char *key;
	void *val;          /* NULL for object listings */
	size_t val_len;
};
struct norn_list {
	struct norn_kv *items;
	size_t n;
	int more;           /* non-zero if entries remain after the last one */
};
void norn_list_free(struct norn_list *l);

/* Omap entries with key > @start_after ("" from the start) and starting
 * with @prefix ("" for all), in key order, at most @max. */
int norn_omap_get_vals(norn_ioctx_t *io, const char *oid, const char *start_after,
                       const char *prefix, size_t max, struct norn_list *out);
/* One omap value: its length and a malloc()ed *val, or -ENOENT. */
ssize_t norn_omap_get(norn_ioctx_t *io, const char *oid, const char *key, void **val);

/* List object names in the pool: a page of at most @max names after the
 * opaque cursor *@cursor ("" to start); *@cursor is replaced (malloc()ed;
 * free it) with the cursor to pass next, and out->more says if the
 * listing continues. Names come PG by PG, sorted within a PG. */
int norn_list_objects(norn_ioctx_t *io, char **cursor, size_t max, struct norn_list *out);

/* ---- compound operations --------------------------------------------------
 * A write op is an ordered list of steps applied atomically to one object:
 * either every step is applied or none (a failed assert/compare step fails
 * the op with -ECANCELED, -ENOENT or -EEXIST). */

norn_write_op_t *norn_write_op_create(void);
void norn_write_op_release(norn_write_op_t *op);
/* Fail with -EEXIST (exclusive) or create the object. */
void norn_write_op_create_obj(norn_write_op_t *op, int exclusive);
/* Fail with -ENOENT unless the object exists. */
void norn_write_op_assert_exists(norn_write_op_t *op);
/* Fail with -ECANCELED unless xattr @name equals @val (a missing xattr
 * compares equal to a zero-length value). */
void norn_write_op_cmpxattr(norn_write_op_t *op, const char *name, const void *val, size_t len);
/* Fail with -ECANCELED unless omap key @key holds exactly @val (a missing
 * key, or a missing object, compares equal to a zero-length value): a
 * per-key compare-and-swap guard for the omap steps after it. */
void norn_write_op_omap_cmp(norn_write_op_t *op, const char *key, const void *val, size_t len);
void norn_write_op_write(norn_write_op_t *op, const void *buf, size_t len, uint64_t off);
void norn_write_op_write_full(norn_write_op_t *op, const void *buf, size_t len);
void norn_write_op_append(norn_write_op_t *op, const void *buf, size_t len);
void norn_write_op_truncate(norn_write_op_t *op, uint64_t size);
void norn_write_op_zero(norn_write_op_t *op, uint64_t off, uint64_t len);
void norn_write_op_remove(norn_write_op_t *op);
void norn_write_op_setxattr(norn_write_op_t *op, const char *name, const void *val, size_t len);
void norn_write_op_rmxattr(norn_write_op_t *op, const char *name);
void norn_write_op_omap_set(norn_write_op_t *op, const char *const *keys,
                            const void *const *vals, const size_t *val_lens, size_t n);
void norn_write_op_omap_rm_keys(norn_write_op_t *op, const char *const *keys, size_t n);
void norn_write_op_omap_clear(norn_write_op_t *op);
/* Step: norn_rollback() as part of a write op. */
void norn_write_op_rollback(norn_write_op_t *op, uint64_t snapid);
/* Steps copy their arguments, so buffers may be reused after each call. */
int norn_write_op_operate(norn_write_op_t *op, norn_ioctx_t *io, const char *oid);

/* A read op is an ordered list of read steps on one object, answered
 * together (as one request to the primary). Each step has an optional
 * *rval (its own result); the op's result is 0 or the first failing
 * step's error, and the steps after a failing one are not run. Outputs
 * are written when the op completes. */
norn_read_op_t *norn_read_op_create(void);
void norn_read_op_release(norn_read_op_t *op);
void norn_read_op_assert_exists(norn_read_op_t *op);
/* Fail with -ECANCELED unless xattr @name equals @val. */
void norn_read_op_cmpxattr(norn_read_op_t *op, const char *name, const void *val, size_t len);
void norn_read_op_stat(norn_read_op_t *op, uint64_t *size, uint64_t *mtime_ns, int *rval);
/* Read up to @len (> 0) bytes at @off into @buf; *@bytes_read gets the count. */
void norn_read_op_read(norn_read_op_t *op, uint64_t off, size_t len, void *buf,
                       size_t *bytes_read, int *rval);
/* *@val (malloc()ed, caller frees) and *@len; a missing xattr is -ENODATA. */
void norn_read_op_getxattr(norn_read_op_t *op, const char *name, void **val, size_t *len,
                           int *rval);
/* All xattrs as a list (free with norn_list_free). */
void norn_read_op_getxattrs(norn_read_op_t *op, struct norn_list *out, int *rval);
void norn_read_op_omap_get_vals(norn_read_op_t *op, const char *start_after, const char *prefix,
                                size_t max, struct norn_list *out, int *rval);
/* Returns 0 or the first failing step's error (-ENOENT, -ENODATA, ...). */
int norn_read_op_operate(norn_read_op_t *op, norn_ioctx_t *io, const char *oid);
/* @op and its output pointers must stay valid until @c completes. */
int norn_aio_read_op_operate(norn_read_op_t *op, norn_ioctx_t *io, const char *oid,
                             norn_completion_t *c);

/* ---- asynchronous operations ---------------------------------------------- */

typedef void (*norn_callback_t)(norn_completion_t *c, void *arg);

/* A completion: @cb (may be NULL) runs on the library's I/O thread when the
 * operation finishes; or wait for it. Release it after it completed. */
norn_completion_t *norn_completion_create(norn_callback_t cb, void *arg);
/* Block until the operation finished; returns its result. */
int norn_completion_wait(norn_completion_t *c);
int norn_completion_is_complete(norn_completion_t *c);
/* Result: as the sync call would return (bytes for reads). */
ssize_t norn_completion_result(norn_completion_t *c);
void norn_completion_release(norn_completion_t *c);

/* Async forms. Return 0 if the op was queued (the result arrives in @c) or
 * a negative error without touching @c. */
int norn_aio_write(norn_ioctx_t *io, const char *oid, norn_completion_t *c,
                   const void *buf, size_t len, uint64_t off);
int norn_aio_write_full(norn_ioctx_t *io, const char *oid, norn_completion_t *c,
                        const void *buf, size_t len);
int norn_aio_read(norn_ioctx_t *io, const char *oid, norn_completion_t *c,
                  void *buf, size_t len, uint64_t off);
int norn_aio_remove(norn_ioctx_t *io, const char *oid, norn_completion_t *c);
int norn_aio_stat(norn_ioctx_t *io, const char *oid, norn_completion_t *c,
                  uint64_t *size, uint64_t *mtime_ns);
int norn_aio_write_op_operate(norn_write_op_t *op, norn_ioctx_t *io, const char *oid,
                              norn_completion_t *c);

/* Ask for all earlier writes of this client to be committed (they are
 * acknowledged only when durable on every replica, so this just waits for
 * the ones in flight on @io, and for their callbacks to have run). Returns
 * 0, or -EDEADLK when called from a callback. */
int norn_flush(norn_ioctx_t *io);

#ifdef __cplusplus
}
#endif
#endif
