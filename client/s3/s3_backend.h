/* The narrow storage interface under the S3 API layer.
 *
 * s3_api.c speaks S3; everything it needs from storage goes through
 * struct s3_backend_ops. Two implementations:
 *  - s3_backend_fs.c: a DEVELOPMENT backend on a local directory, for unit
 *    and gateway tests without a cluster;
 *  - s3_backend_norn.c (later): the cluster backend on libnorn (bucket
 *    index in sharded omap objects, data striped over RADOS objects).
 *
 * Conventions, shared by every op:
 *  - Every op completes by calling its callback exactly once, on the
 *    gateway's libuv loop thread; it may do so before returning (the fs
 *    backend does) or later (the cluster backend will). Callers therefore
 *    never touch their state after starting an op except through the
 *    callback.
 *  - Errors are negative: -ENOENT (no such bucket/key/upload/user),
 *    -EEXIST (bucket exists), -ENOTEMPTY (bucket has objects or uploads),
 *    -EINVAL, -ENOMEM, -EIO, NORN_EAGAIN (retryable: cluster degraded).
 *  - Pointers passed to a callback are valid only during the callback.
 *  - Names are validated by the API layer before they get here; backends
 *    still refuse what they cannot store (-EINVAL), never crash.
 *
 * Listing: index_list returns keys in byte order after @start_after with
 * @prefix, at most @max per call, plus whether more exist. The API layer
 * builds delimiters, CommonPrefixes and pagination on top, calling again
 * with a new start_after when it must skip a common prefix, so a backend
 * whose index is sharded merges one page from each shard per call.
 *
 * Data: put_open/put_write/put_commit stream an object (or a multipart
 * part) in pieces; the caller sends the next piece only after the previous
 * one's callback (backpressure), and nothing is visible before commit.
 * get_open/get_read/get_close read any byte range in pieces. Neither side
 * ever needs the whole object in memory.
 */
#ifndef NORN_S3_BACKEND_H
#define NORN_S3_BACKEND_H
#include <stddef.h>
#include <stdint.h>

#include "client/s3/s3_xml.h"

#define S3_NAME_MAX 64            /* bucket names are 3..63 bytes */
#define S3_UID_MAX 64
#define S3_ETAG_MAX 48            /* 32 hex + "-10000" */
#define S3_USER_META_MAX 2048     /* AWS: 2 KB of user metadata */
#define S3_TAGS_BLOB_MAX (S3_MAX_TAGS * (S3_TAG_KEY_MAX + S3_TAG_VALUE_MAX + 2))
#define S3_UPLOAD_ID_MAX 64
#define S3_LOCATION_MAX 64

enum s3_acl { S3_ACL_PRIVATE = 0, S3_ACL_PUBLIC_READ = 1, S3_ACL_PUBLIC_RW = 2 };

struct s3_user {
	char uid[S3_UID_MAX];
	char display_name[128];
	char access_key[128];
	char secret[128];
};

struct s3_bucket_info {
	char name[S3_NAME_MAX];
	char owner[S3_UID_MAX];
	int64_t created_ms;
	char location[S3_LOCATION_MAX];
	int acl;                             /* enum s3_acl */
	size_t tags_len;
	char tags[S3_TAGS_BLOB_MAX];         /* "key\0value\0" pairs */
};

/* Everything stored about an object besides its bytes. */
struct s3_obj_meta {
	uint64_t size;
	int64_t mtime_ms;
	char etag[S3_ETAG_MAX];              /* hex md5, or hex "-N" for multipart */
	char owner[S3_UID_MAX];
	int acl;
	uint32_t nparts;                     /* > 0 for a multipart object */
	char content_type[256];
	char content_encoding[128];
	char content_disposition[256];
	char content_language[64];
	char cache_control[256];
	char expires[64];
	size_t user_meta_len;
	char user_meta[S3_USER_META_MAX + 256];  /* "name\0value\0" (name w/o x-amz-meta-) */
	size_t tags_len;
	char tags[10 * (S3_TAG_KEY_MAX + S3_TAG_VALUE_MAX + 2)];
};

struct s3_index_entry {
	const char *key;
	uint64_t size;
	int64_t mtime_ms;
	const char *etag;
	const char *owner;
};

struct s3_upload_info {
	char upload_id[S3_UPLOAD_ID_MAX];
	const char *key;
	int64_t initiated_ms;
	const struct s3_obj_meta *meta;      /* meta given at create */
};

struct s3_part_info {
	int number;
	uint64_t size;
	int64_t mtime_ms;
	char etag[S3_ETAG_MAX];
};

struct s3_backend;
struct s3_be_writer;
struct s3_be_reader;

typedef void (*s3_be_done_cb)(void *arg, int err);

/* A buffer lent to the backend by put_write_buf. */
struct s3_be_buf {
	char *p;
	size_t len;                   /* bytes of data */
	size_t cap;                   /* bytes the backend may fill */
	void (*release)(struct s3_be_buf *b);
};
typedef void (*s3_be_user_cb)(void *arg, int err, const struct s3_user *u);
typedef void (*s3_be_bucket_cb)(void *arg, int err, const struct s3_bucket_info *b);
typedef void (*s3_be_buckets_cb)(void *arg, int err, const struct s3_bucket_info *b, size_t n);
typedef void (*s3_be_index_cb)(void *arg, int err, const struct s3_index_entry *e, size_t n,
                               int truncated);
typedef void (*s3_be_writer_cb)(void *arg, int err, struct s3_be_writer *w);
typedef void (*s3_be_reader_cb)(void *arg, int err, struct s3_be_reader *r,
                                const struct s3_obj_meta *m);
typedef void (*s3_be_read_cb)(void *arg, int err, size_t n);
typedef void (*s3_be_upload_cb)(void *arg, int err, const struct s3_upload_info *u);
typedef void (*s3_be_uploads_cb)(void *arg, int err, const struct s3_upload_info *u, size_t n);
typedef void (*s3_be_parts_cb)(void *arg, int err, const struct s3_part_info *p, size_t n);
typedef void (*s3_be_id_cb)(void *arg, int err, const char *id);

struct s3_backend_ops {
	const char *name;
	void (*destroy)(struct s3_backend *be);
	/* Optional (may be NULL): close the backend's loop handles so the
	 * loop can end; called once, from the loop, before destroy. */
	void (*stop)(struct s3_backend *be);

	/* Users and keys. */
	void (*user_by_key)(struct s3_backend *be, const char *access_key, s3_be_user_cb cb, void *arg);
	/* Admin, synchronous (used by `norn s3 ...`): 0 or -errno. */
	int (*user_create)(struct s3_backend *be, const char *uid, const char *display_name,
	                   struct s3_user *out);
	int (*user_remove)(struct s3_backend *be, const char *uid);
	/* Lists every (uid, display, access_key, secret) row; a user with no
	 * key appears once with an empty access_key. *out is malloc'd. */
	int (*user_list)(struct s3_backend *be, struct s3_user **out, size_t *n);
	int (*key_add)(struct s3_backend *be, const char *uid, struct s3_user *out);
	/* Add the given key pair (@ak, @sk) to @uid: 0, -ENOENT (no user),
	 * -EEXIST (key in use), -EINVAL. */
	int (*key_set)(struct s3_backend *be, const char *uid, const char *ak, const char *sk);
	int (*key_remove)(struct s3_backend *be, const char *uid, const char *access_key);

	/* Buckets. create: -EEXIST if the name is taken (by anyone). */
	void (*bucket_create)(struct s3_backend *be, const struct s3_bucket_info *b, s3_be_done_cb cb,
	                      void *arg);
	void (*bucket_get)(struct s3_backend *be, const char *name, s3_be_bucket_cb cb, void *arg);
	/* Replace acl/tags/location of an existing bucket. */
	void (*bucket_update)(struct s3_backend *be, const struct s3_bucket_info *b, s3_be_done_cb cb,
	                      void *arg);
	/* -ENOTEMPTY while objects or multipart uploads remain. */
	void (*bucket_delete)(struct s3_backend *be, const char *name, s3_be_done_cb cb, void *arg);
	/* Buckets of @owner sorted by name. */
	void (*bucket_list)(struct s3_backend *be, const char *owner, s3_be_buckets_cb cb, void *arg);

	/* Index. */
	void (*index_list)(struct s3_backend *be, const char *bucket, const char *prefix,
	                   const char *start_after, size_t max, s3_be_index_cb cb, void *arg);

	/* Objects. */
	void (*obj_delete)(struct s3_backend *be, const char *bucket, const char *key,
	                   s3_be_done_cb cb, void *arg);
	/* Replace the metadata (not size/etag/nparts) of an existing object. */
	void (*obj_update_meta)(struct s3_backend *be, const char *bucket, const char *key,
	                        const struct s3_obj_meta *m, s3_be_done_cb cb, void *arg);

	/* Writing: @upload_id NULL writes object @key; otherwise part
	 * @part_number of that upload (@key ignored). */
	void (*put_open)(struct s3_backend *be, const char *bucket, const char *key,
	                 const char *upload_id, int part_number, s3_be_writer_cb cb, void *arg);
	void (*put_write)(struct s3_be_writer *w, const void *p, size_t n, s3_be_done_cb cb, void *arg);
	/* As put_write, but without a copy where possible: the backend keeps
	 * @b->p (@b->len bytes of data, @b->cap bytes writable) and calls
	 * @b->release(@b) once, from the loop, when it no longer needs it
	 * (before or after @cb). A piece of exactly put_piece_bytes(w,
	 * offset) bytes at the offset where the previous one ended goes to
	 * storage as it is. */
	void (*put_write_buf)(struct s3_be_writer *w, struct s3_be_buf *b, s3_be_done_cb cb,
	                      void *arg);
	/* The piece size put_write_buf takes without copying at object offset
	 * @off (> 0). */
	size_t (*put_piece_bytes)(struct s3_be_writer *w, uint64_t off);
	/* Make the object (or part) visible with @m (size and etag set by the
	 * caller). Frees @w whatever the result. */
	void (*put_commit)(struct s3_be_writer *w, const struct s3_obj_meta *m, s3_be_done_cb cb,
	                   void *arg);
	/* Drop everything written. Frees @w. Synchronous. */
	void (*put_abort)(struct s3_be_writer *w);

	/* Reading. */
	void (*get_open)(struct s3_backend *be, const char *bucket, const char *key,
	                 s3_be_reader_cb cb, void *arg);
	/* Read up to @n bytes at @off into @buf; n==0 in the callback only at
	 * or past the end. */
	void (*get_read)(struct s3_be_reader *r, uint64_t off, void *buf, size_t n, s3_be_read_cb cb,
	                 void *arg);
	void (*get_close)(struct s3_be_reader *r);

	/* Multipart. */
	void (*mpu_create)(struct s3_backend *be, const char *bucket, const char *key,
	                   const struct s3_obj_meta *m, s3_be_id_cb cb, void *arg);
	void (*mpu_get)(struct s3_backend *be, const char *bucket, const char *upload_id,
	                s3_be_upload_cb cb, void *arg);
	/* Parts sorted by number. */
	void (*mpu_parts)(struct s3_backend *be, const char *bucket, const char *upload_id,
	                  s3_be_parts_cb cb, void *arg);
	/* Stitch parts @numbers (ascending, already checked by the caller)
	 * into object (key of the upload) with metadata @m: no data copy. The
	 * upload disappears. */
	void (*mpu_complete)(struct s3_backend *be, const char *bucket, const char *upload_id,
	                     const int *numbers, size_t n, const struct s3_obj_meta *m,
	                     s3_be_done_cb cb, void *arg);
	void (*mpu_abort)(struct s3_backend *be, const char *bucket, const char *upload_id,
	                  s3_be_done_cb cb, void *arg);
	/* Uploads in progress sorted by (key, initiated). */
	void (*mpu_list)(struct s3_backend *be, const char *bucket, s3_be_uploads_cb cb, void *arg);
};

struct s3_backend {
	const struct s3_backend_ops *ops;
};

/* The development backend on directory @root (created if missing).
 * NOT for production: no replication, one process only. Returns 0 or
 * -errno. */
int s3_backend_fs_open(const char *root, struct s3_backend **out);

/* fs backend only: add key pair (@ak, @sk) to user @uid (tests and demos
 * that need a fixed key). Returns 0, -ENOENT (no such user), -EEXIST (key
 * in use) or -EINVAL. */
int s3_backend_fs_key_set(struct s3_backend *be, const char *uid, const char *ak, const char *sk);

/* The cluster backend (s3_backend_norn.c, built when libnorn is). */
struct s3_norn_config {
	const char *conf_path;     /* cluster config (NULL: libnorn's default) */
	const char *entity;        /* e.g. "client.s3" */
	const char *keyring;       /* NULL: the config's keyring option */
	const char *pool;          /* "s3" */
	uint32_t index_shards;     /* bucket index shards for new buckets */
	uint32_t gc_shards;        /* GC queue objects */
	uint64_t stripe_bytes;     /* RADOS object size of object data */
	uint64_t window_bytes;     /* PUT bytes in flight per request */
	int64_t gc_interval_ms;    /* GC pass period (< 0: no background GC) */
	int64_t gc_delay_ms;       /* overwritten/deleted data waits this long */
	int64_t gc_orphan_ms;      /* unfinished writes are reclaimed after this */
	int64_t user_cache_ms;     /* access keys are cached this long (0: no cache) */
	uint32_t orphan_scan_per_pass; /* pool objects the background orphan scan
	                                * examines per GC pass (0: none) */
};

struct uv_loop_s;
/* Connect to the cluster and open pool cfg->pool. With @loop the backend
 * serves the gateway (async ops, background GC on that loop); with NULL
 * only the synchronous admin ops (users, keys) may be used. Returns 0 or a
 * negative error. */
int s3_backend_norn_open(const struct s3_norn_config *cfg, struct uv_loop_s *loop,
                         struct s3_backend **out);
/* Run one synchronous GC pass (tests, admin): reclaims every due record.
 * *@removed (may be NULL) gets the number of data objects removed. */
int s3_backend_norn_gc(struct s3_backend *be, uint64_t *removed);

/* Orphan scan (`norn s3 gc --orphans`): list the pool and remove data and
 * manifests that nothing references (their back-pointer names an index
 * entry, part record or manifest that does not name them) and whose
 * back-pointer is older than @grace_ms (< 0: the configured
 * s3_gc_orphan_ms), examining at most @max_objects objects. Returns 0 or
 * an error; *@out counts what was seen and removed, and complete = 1 if
 * the whole pool was covered. */
struct s3_norn_scan {
	uint64_t examined, orphans, removed;
	int complete;
};
int s3_backend_norn_scan(struct s3_backend *be, uint64_t max_objects, int64_t grace_ms,
                         struct s3_norn_scan *out);

/* What the pool holds (tests, `norn s3 census`): every object, the data
 * stripes (d.*), multipart manifests (mf.*) and queued GC records. Lists
 * the whole pool: not for hot paths. */
struct s3_norn_census {
	uint64_t objects, data_objects, manifests, gc_pending;
};
int s3_backend_norn_census(struct s3_backend *be, struct s3_norn_census *out);

#endif
