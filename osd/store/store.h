/* The OSD object store: one per disk, driven by the OSD's libuv loop.
 *
 * Layout of a store directory DIR (file-backed; a block device can be given
 * as the data path instead of DIR/data):
 *
 *   DIR/data   the data file, preallocated to store_size_bytes and opened
 *              O_DIRECT. Block 0 (4 KiB) is the superblock (magic
 *              "NORNSTOR", format version, store uuid, osd id, size, crc32c);
 *              blocks 1..255 are reserved; object data lives in 4 KiB blocks
 *              from 1 MiB on.
 *   DIR/meta/  the LMDB environment holding every piece of metadata:
 *              "super" (copy of the superblock identity, next object id,
 *              where the write-ahead log lives and how far it is applied),
 *              "coll" (collections), "onode" (objects: size, mtime, version,
 *              block map, a crc32c per 4 KiB block, xattrs; large objects
 *              keep the block map in "oshard" records), "omap" (per
 *              object key/values, ordered), "cmeta" (per collection
 *              key/values, the PG log lives there) and "alloc" (the
 *              allocator's free space as bitmap chunks of 128 MiB each).
 *
 * Data I/O goes only through io_uring (O_DIRECT, batched submissions); the
 * completions are reaped in the loop through an eventfd registered with the
 * ring and watched by a uv_poll_t. The LMDB commit runs on a dedicated
 * commit thread that hands completions back through a uv_async_t.
 *
 * Transactions are ordered lists of ops applied atomically. Writes go
 * copy-on-write to newly allocated blocks (a partial block merges with the
 * old block). A transaction's metadata changes go to a write-ahead log, a
 * ring of blocks inside the data file ("wal" in "super" says where): many
 * transactions share one log record (a group), written with their data,
 * and one fdatasync of the data file makes data and log durable together.
 * A small transaction's data (store_wal_data_bytes) travels inside its log
 * record instead; the commit thread writes it to its blocks (and
 * fdatasyncs) before the LMDB commit, and reads take it from memory
 * until then.
 * That fdatasync is the atomic point: the callback runs right after it, in
 * submission order. The commit thread then applies the logged changes to
 * LMDB in large batches (whole groups, with the log position they reach,
 * in the same LMDB transaction), off the acknowledgement path; mount
 * replays the groups LMDB does not have yet. Replaced blocks return to the
 * allocator only after the change that freed them is applied and after
 * every read that might still use them finished. A transaction whose
 * metadata would not fit the log (more than a quarter of it) commits
 * straight to LMDB, synced, as a barrier. Reads and the metadata calls see
 * every acknowledged transaction.
 *
 * Threads: every function here must be called from the loop thread that
 * was passed to store_open() (or, for the *_sync helpers, by a thread that
 * owns that loop and is not inside one of its callbacks). Callbacks run on
 * that loop thread.
 *
 * Errors: 0 or a negative errno / NORN_E* code. After a failed data write,
 * fdatasync or LMDB commit the store is failed for good: every queued and
 * later operation returns NORN_EFAILED (it is logged once; an fsync is never
 * retried). Reads that find a checksum mismatch return NORN_ECRC and log the
 * collection, object and offset.
 */
#ifndef NORN_OSD_STORE_H
#define NORN_OSD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "common/env.h"

struct norn_config;
struct store;
struct store_txn;

#define STORE_BLOCK_BYTES     4096u
/* Format versions: 2 has a write-ahead log ring in the data area (older
 * code must not open it: it would ignore the log); 3 may have object data
 * that only the log holds (code for version 2 would not write it to its
 * blocks at replay). Older stores are upgraded to 3 at their first mount
 * by this code. */
#define STORE_FORMAT_VERSION  3u
#define STORE_FORMAT_VERSION_MIN 1u
#define STORE_CID_MAX         63u     /* bytes of a collection id, no NUL */
#define STORE_OID_MAX         255u    /* bytes of an object name, no NUL */
#define STORE_XATTR_NAME_MAX  255u
#define STORE_XATTR_VALUE_MAX 65536u
#define STORE_XATTRS_MAX      128u    /* xattrs per object */
#define STORE_OMAP_KEY_MAX    480u
#define STORE_OMAP_VALUE_MAX  (1u << 20)
#define STORE_CMETA_KEY_MAX   400u
#define STORE_TXN_OPS_MAX     4096u
#define STORE_QUEUED_TXNS_MAX 65536u  /* queued, not yet completed */

/* Test/fault seam: fail or tear the Nth write (data, log, or logged data
 * written to its blocks by the commit thread: one count), fail the Nth
 * fdatasync (of the acknowledgement path) or the Nth LMDB commit, or fail
 * the Nth write of logged data to its blocks (1-based counts since
 * store_open; 0 = off). A "torn" write puts only the first half of the
 * buffer on disk and then reports an I/O error. Also read from the
 * environment variable NORN_STORE_FAULT="write:N" | "tear:N" | "fsync:N" |
 * "commit:N" | "apply:N" when the options leave it off. */
struct store_fault {
	uint32_t fail_write_n;
	uint32_t tear_write_n;
	uint32_t fail_fsync_n;
	uint32_t fail_commit_n;
	uint32_t fail_apply_n;
};

struct store_options {
	const char *dir;             /* store directory (required) */
	const char *data_path;       /* NULL: DIR/data; else a device or file */
	uint64_t size_bytes;         /* mkfs only: file size (store_size_bytes) */
	uint32_t osd_id;             /* mkfs writes it; open checks it unless UINT32_MAX */
	uint32_t queue_depth;        /* io_uring entries (store_queue_depth) */
	uint32_t commit_wait_us;     /* group commit wait (store_commit_wait_us) */
	uint32_t commit_batch_max;   /* transactions per commit (store_commit_batch_max) */
	uint64_t wal_bytes;          /* write-ahead log size (store_wal_bytes) */
	uint32_t wal_groups;         /* log groups in flight (store_wal_groups) */
	uint32_t wal_group_txns;     /* most transactions in one log group (store_wal_group_txns; 0 = no limit) */
	/* A transaction writing at most this many data bytes puts them in its
	 * log record (one log write per group instead of a write per
	 * transaction before the acknowledgement); the commit thread writes
	 * them to their blocks before the LMDB commit (store_wal_data_bytes;
	 * 0 = never). */
	uint32_t wal_data_max_bytes;
	/* Onodes of objects with no transaction in flight kept in memory
	 * (least recently used dropped first), so the next transaction or read
	 * on a hot object does not decode it and its block map from LMDB
	 * (store_onode_cache_bytes; 0 = none). */
	uint64_t onode_cache_bytes;
	/* Keep large write buffers in malloc's heap instead of a fresh mapping
	 * per buffer (store_heap_buffers; a process-wide mallopt, default off:
	 * see store_malloc_tune in store.c). */
	int heap_buffers;
	uint64_t lmdb_map_bytes;     /* LMDB map size (store_lmdb_map_bytes) */
	uint64_t max_object_bytes;   /* largest object (store_max_object_bytes) */
	const struct norn_clock *clock; /* NULL: the system clock (mtimes) */
	struct store_fault fault;
	/* Objects larger than this many 4 KiB blocks keep their block map in
	 * LMDB records of this many blocks each, so a small overwrite rewrites
	 * one shard, not the whole map (store_onode_shard_blocks; 0 = 64). */
	uint32_t onode_shard_blocks;
};

/* Fill @o with defaults: from @cfg when not NULL (store_* options), else
 * built-in defaults. dir/data_path come from @dir (may be NULL) and
 * cfg->store_path. Pointers are borrowed, not copied. */
void store_options_init(struct store_options *o, const struct norn_config *cfg,
                        const char *dir);

/* Create a new store: the directory, the data file (preallocated to
 * o->size_bytes unless data_path is an existing block device), the
 * superblock with a fresh uuid and the LMDB environment. Blocking; not for
 * the loop thread of a running daemon. Returns 0, -EEXIST if a store is
 * already there, -EINVAL for bad options, or -errno / NORN_E* on I/O
 * failure. */
int store_mkfs(const struct store_options *o);

/* Mount the store described by @o on @loop. On success *@out is the store.
 * Returns -ENOENT (no store), NORN_EVERSION (unknown format version; a
 * message names the version found), NORN_ECORRUPT (bad superblock or
 * metadata not matching the data file), -EINVAL (osd id mismatch or bad
 * options), -ENOMEM, or -errno. Loop thread. */
int store_open(uv_loop_t *loop, const struct store_options *o, struct store **out);

/* Stop accepting work, wait for everything in flight, stop the commit
 * thread, close the handles, free the store and then call @cb(@arg) on the
 * loop. Pending transactions still complete (their callbacks run first).
 * @cb may be NULL. Loop thread. */
void store_close(struct store *s, void (*cb)(void *arg), void *arg);

/* store_close() and run the loop until it finished. Returns 0. */
int store_close_sync(struct store *s);

/* Returns 0, or NORN_EFAILED if the store failed. */
int store_failed(const struct store *s);

/* Identity of the mounted store. */
void store_uuid(const struct store *s, uint8_t uuid_out[16]);
uint32_t store_osd_id(const struct store *s);

/* Space in bytes: the data area (without the log ring) and what of it is
 * free. Blocks an acknowledged transaction freed count as free once LMDB
 * has that change durably (milliseconds later). */
void store_statfs(const struct store *s, uint64_t *total_bytes, uint64_t *free_bytes);

/* Collection id for (pool, pg): "pool.pghex", e.g. "1.2f". @buf must hold
 * STORE_CID_MAX + 1 bytes. Returns @buf. */
char *store_cid(char *buf, uint64_t pool, uint32_t pg);

/* ---- transactions ----------------------------------------------------- */

/* A new, empty transaction (owned by the caller until queued). Returns NULL
 * on out of memory. */
struct store_txn *store_txn_new(void);
/* Free a transaction that was never queued. */
void store_txn_free(struct store_txn *t);

/* Append ops. Every op copies its arguments (the caller keeps ownership).
 * They return 0, -EINVAL (name or value too long, bad range, too many ops)
 * or -ENOMEM; a failed append leaves the transaction unusable for queueing
 * (store_queue_txn returns the same error).
 *
 * Object ops need the collection to exist when the transaction applies
 * (else the whole transaction fails with -ENOENT). write / zero / truncate
 * / touch / setxattr / omap_set create a missing object; remove, clone
 * (source), rmxattr, omap_rm, omap_clear and omap_rmrange on a missing
 * object fail the transaction with -ENOENT. */
int store_txn_touch(struct store_txn *t, const char *cid, const char *oid);
int store_txn_write(struct store_txn *t, const char *cid, const char *oid,
                    uint64_t off, const void *data, size_t len);
int store_txn_zero(struct store_txn *t, const char *cid, const char *oid,
                   uint64_t off, uint64_t len);
int store_txn_truncate(struct store_txn *t, const char *cid, const char *oid, uint64_t size);
int store_txn_remove(struct store_txn *t, const char *cid, const char *oid);
/* Make @dst (same collection, replaced if present) a copy of @src: data,
 * xattrs and omap. */
int store_txn_clone(struct store_txn *t, const char *cid, const char *src, const char *dst);
int store_txn_setxattr(struct store_txn *t, const char *cid, const char *oid,
                       const char *name, const void *val, size_t len);
int store_txn_rmxattr(struct store_txn *t, const char *cid, const char *oid, const char *name);
int store_txn_omap_set(struct store_txn *t, const char *cid, const char *oid,
                       const void *key, size_t klen, const void *val, size_t vlen);
int store_txn_omap_rm(struct store_txn *t, const char *cid, const char *oid,
                      const void *key, size_t klen);
int store_txn_omap_clear(struct store_txn *t, const char *cid, const char *oid);
/* Remove omap keys in [first, last) (byte order). */
int store_txn_omap_rmrange(struct store_txn *t, const char *cid, const char *oid,
                           const void *first, size_t flen, const void *last, size_t llen);
/* Collection create fails the transaction with -EEXIST if present; remove
 * with -ENOENT if missing and -ENOTEMPTY if it holds objects. Removing a
 * collection also drops its meta keys. */
int store_txn_coll_create(struct store_txn *t, const char *cid);
int store_txn_coll_remove(struct store_txn *t, const char *cid);
/* Per-collection meta key/values (the PG log). The collection must exist. */
int store_txn_cmeta_set(struct store_txn *t, const char *cid, const void *key, size_t klen,
                        const void *val, size_t vlen);
int store_txn_cmeta_rm(struct store_txn *t, const char *cid, const void *key, size_t klen);

/* Completion: @err is 0 once the transaction is durable, or a negative
 * code (validation errors like -ENOENT, NORN_ENOSPC, NORN_EFAILED); on an
 * error nothing of the transaction was applied. */
typedef void (*store_txn_cb)(void *arg, int err);

/* Queue @t (ownership passes to the store, even on error). @cb runs on the
 * loop exactly once, never from inside this call, in submission order.
 * Returns 0, or NORN_EFAILED (store failed), -ESHUTDOWN (closing),
 * NORN_EAGAIN (STORE_QUEUED_TXNS_MAX transactions already queued: back
 * off) or a recorded append error; then @cb is not called. Data of a
 * transaction may become visible to reads shortly before its callback
 * (once its LMDB commit is visible, while its durability is confirmed). */
int store_queue_txn(struct store *s, struct store_txn *t, store_txn_cb cb, void *arg);

/* Queue @t and run the loop until it completes. Returns its result. */
int store_apply_sync(struct store *s, struct store_txn *t);

/* ---- reads ------------------------------------------------------------ */

/* Read callback: on success @buf holds @len bytes (fewer than asked at the
 * end of the object; holes read as zeros) and ownership of @buf passes to
 * the callee (free() it; it may be NULL when @len is 0). On error @buf is
 * NULL: -ENOENT (no collection or object), NORN_ECRC (checksum mismatch,
 * logged with object and offset), NORN_EFAILED, -EIO. */
typedef void (*store_read_cb)(void *arg, int err, uint8_t *buf, size_t len);

/* Read [off, off+len) of an object as last committed. Data through
 * io_uring; every block's crc32c is verified. @cb runs on the loop, never
 * from inside this call. Returns 0 or an immediate error (-EINVAL,
 * -ENOMEM, NORN_EFAILED, -ESHUTDOWN; then @cb is not called). */
int store_read(struct store *s, const char *cid, const char *oid, uint64_t off,
               uint64_t len, store_read_cb cb, void *arg);
/* store_read() and run the loop until done. *@buf_out is malloc'd. */
int store_read_sync(struct store *s, const char *cid, const char *oid, uint64_t off,
                    uint64_t len, uint8_t **buf_out, size_t *len_out);

/* The metadata reads below are synchronous LMDB lookups of committed state
 * (memory-mapped, no data I/O). Returned memory is malloc'd and owned by
 * the caller. Errors: -ENOENT (missing collection/object/key), -ENOMEM,
 * NORN_ECORRUPT (undecodable record), NORN_EFAILED, -EIO. */
struct store_stat {
	uint64_t size;
	uint64_t mtime_ns;
	uint64_t version;   /* bumps on every transaction that changes the object */
	uint64_t nid;       /* store-internal object number */
	uint32_t blocks;    /* allocated 4 KiB blocks */
	uint32_t nxattrs;
};
int store_stat(struct store *s, const char *cid, const char *oid, struct store_stat *st);
int store_getxattr(struct store *s, const char *cid, const char *oid, const char *name,
                   uint8_t **val_out, size_t *len_out);

/* A list of key/values (xattrs, omap, cmeta). Free with store_kv_free(). */
struct store_kv { uint8_t *key; size_t klen; uint8_t *val; size_t vlen; };
struct store_kvs { struct store_kv *v; size_t n; };
void store_kvs_free(struct store_kvs *l);
int store_getxattrs(struct store *s, const char *cid, const char *oid, struct store_kvs *out);
int store_omap_get(struct store *s, const char *cid, const char *oid, const void *key,
                   size_t klen, uint8_t **val_out, size_t *len_out);
/* Omap keys > @after (NULL/0: from the start) and < @end (NULL: no bound),
 * in byte order, at most @max of them. */
int store_omap_list(struct store *s, const char *cid, const char *oid, const void *after,
                    size_t alen, const void *end, size_t elen, size_t max, struct store_kvs *out);
int store_cmeta_get(struct store *s, const char *cid, const void *key, size_t klen,
                    uint8_t **val_out, size_t *len_out);
int store_cmeta_list(struct store *s, const char *cid, const void *after, size_t alen,
                     const void *end, size_t elen, size_t max, struct store_kvs *out);

/* A list of names (collections or objects). Free with store_names_free(). */
struct store_names { char **v; size_t n; };
void store_names_free(struct store_names *l);
int store_list_colls(struct store *s, struct store_names *out);
/* Objects of @cid with name > @after (NULL: from the start), in byte
 * order, at most @max. */
int store_list_objects(struct store *s, const char *cid, const char *after, size_t max,
                       struct store_names *out);
int store_coll_exists(struct store *s, const char *cid);

/* ---- integrity -------------------------------------------------------- */

/* Check the whole store: every onode decodes, its blocks lie in the data
 * area, no block is used twice, every used block is marked used in the
 * allocator and no block is marked used without an owner (leak), and
 * every block's checksum (data read through io_uring). Problems are
 * written to @report (may be NULL) and logged. Runs the loop itself; call
 * with nothing in flight. Returns the number of problems found (>= 0) or a
 * negative error if the check could not run. */
int store_fsck(struct store *s, FILE *report);

/* ---- on-disk record decoders (exposed for fuzzing and the tool) ------- */

/* Decode an onode value (bytes from LMDB) and report its size, block
 * count and xattr count; validates everything. A large object's head
 * record (onode v2) keeps its block map in separate shard records, so its
 * block count here is 0 (store_stat() counts them). 0 or NORN_ECORRUPT /
 * NORN_EVERSION. */
int store_onode_check(const void *buf, size_t len, uint64_t max_object_bytes,
                      struct store_stat *st);
/* Validate a superblock (4096 bytes). 0, NORN_ECORRUPT or NORN_EVERSION. */
int store_super_check(const void *buf, size_t len);

#endif
