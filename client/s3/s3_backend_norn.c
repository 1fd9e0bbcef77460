/* The cluster backend of the S3 gateway, on libnorn.
 *
 * Everything lives in one pool (s3_pool, default "s3"):
 *
 *   s3.users                 omap  u/<uid>        -> {display name}
 *                                  k/<access key> -> {uid, secret}
 *   s3.buckets               omap  <owner>/<name> -> bucket record
 *   bkt.<name>               xattr "info" = bucket record {info, instance
 *                            id, shard count}; created exclusively, so a
 *                            bucket name is taken at most once
 *   idx.<inst>.<shard>       omap  <object key> -> index entry {meta, data
 *                            id}; shard = crc32c(key) % nshards
 *   up.<inst>                omap  <upload id> -> {key, initiated, meta}
 *   pt.<inst>.<upload id>    omap  %05d part number -> {size, mtime, etag,
 *                            data id}
 *   d.<data id>.<stripe>     the bytes, s3_stripe_bytes per stripe object
 *   mf.<data id>             manifest of a multipart object: the list of
 *                            (part data id, size), written once
 *   s3.gc.<n>                omap  <due ms hex16>.<data id> -> {kind, id,
 *                            size}: data to reclaim once due
 *
 * A data id is 128 random bits, fresh for every PUT and part upload (a
 * completed multipart object's is its upload id), so an overwrite never mixes old and new
 * bytes: the new stripes are written under the new id, then the index
 * entry is switched in one omap write, then the old id goes to the GC
 * queue (due s3_gc_delay_ms later, so GETs that already opened the old
 * version can finish). Before the first byte of a new id is written an
 * "intent" record is queued (due s3_gc_orphan_ms later) and removed at
 * commit: a gateway that dies mid-upload leaves nothing visible and its
 * stripes are reclaimed. Completing a multipart upload writes the
 * manifest, removes the upload record and switches the index entry; the
 * part stripes are never copied.
 *
 * Threads: libnorn's data calls (norn_aio_read/write) complete on the
 * library's I/O thread; their completions are queued under a mutex and
 * handed to the gateway's libuv loop through a uv_async_t, where all
 * state changes happen. libnorn has no asynchronous omap reads, so
 * metadata steps (a few small omap/xattr calls each) run in libuv's
 * thread pool (uv_queue_work) and report back on the loop as well; the
 * loop itself never blocks. Per request, in-flight data is bounded by
 * s3_write_window_bytes (PUT) and the reader's one outstanding piece
 * (GET), so objects of any size stream through.
 *
 * Objects of at most 1 MiB skip the intent record: their only stripe is
 * written at commit (with its back-pointer, below), right before the
 * index switch, so a small PUT costs two cluster writes. After the index
 * switch the client gets its answer; queueing the replaced data and
 * dropping the intent happen afterwards.
 *
 * Crash safety (see README "Crash safety"): every data id's first stripe
 * and every manifest carries a back-pointer xattr naming its referrer;
 * index entries change only by compare-and-swap (norn_write_op_omap_cmp),
 * so the writer that replaces an entry knows what it replaced; GC records
 * are hints the GC verifies against the back-pointer before removing
 * anything; and an orphan scan (a slice per GC pass, or `norn s3 gc
 * --orphans`) reclaims what a crash left unrecorded: a small PUT's stripe
 * whose index switch never happened, data replaced by a gateway that died
 * before queueing it.
 *
 * Known limits: a bucket delete racing a PUT into the same bucket may
 * strand that object's data until the orphan scan takes it.
 */
#include "client/s3/s3_backend.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "client/s3/s3_util.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "common/encode.h"
#include "common/env.h"
#include "common/log.h"
#include "norn/errors.h"
#include "norn/norn.h"

#define NB_ID_HEX 32                  /* data and upload ids: 128 random bits */
#define NB_OID_MAX 1200
#define NB_USERS_OID "s3.users"
#define NB_BUCKETS_OID "s3.buckets"
#define NB_PAGE 1000
#define NB_MAX_UPLOADS_LISTED 10000
#define NB_MAX_PARTS 10000
#define NB_GC_BATCH 128
#define NB_BCACHE_MAX 256
#define NB_BCACHE_TTL_MS 2000
#define NB_GC_KIND_STRIPES 1
#define NB_GC_KIND_MANIFEST 2
#define NB_SIZE_UNKNOWN UINT64_MAX
/* PUT data goes to the cluster in chunks of up to a whole stripe (4 MiB
 * by default, like `norn bench`), at most s3_write_window_bytes in flight. */
#define NB_CHUNK_MAX (4u << 20)
#define NB_SMALL_MAX (1u << 20)      /* no intent record up to this size */

/* --- records ---------------------------------------------------------- */

struct nb_bucket {
	struct s3_bucket_info info;
	char inst[NB_ID_HEX + 1];
	uint32_t nshards;
};

struct nb_entry {
	struct s3_obj_meta m;
	char data_id[NB_ID_HEX + 1];
	uint64_t stripe;
};

struct nb_part {
	int number;
	uint64_t size;
	int64_t mtime_ms;
	char etag[S3_ETAG_MAX];
	char data_id[NB_ID_HEX + 1];
};

struct nb_mf_part {
	char data_id[NB_ID_HEX + 1];
	uint64_t size;
	uint64_t start;                /* offset of the part in the object */
};

struct nb_bcache {
	struct nb_bucket b;
	int64_t expires_ms;
	int used;
};

/* Access key cache entry (loop thread only). */
struct nb_ucache {
	struct s3_user u;
	int64_t expires_ms;
	int used;
};

/* Back-pointer: every data id's first stripe (d.<id>.0) and every
 * manifest (mf.<id>) carries an xattr NB_BP_XATTR, written in the same
 * compound op as the bytes, naming what should reference it. The GC
 * checks it before removing anything (a queued record is only a hint),
 * and the orphan scan uses it to find data nothing references: the
 * stripe of a PUT whose gateway died before the index switch, the loser
 * of two gateways racing on one key, data whose GC record was never
 * queued. */
#define NB_BP_XATTR "s3bp"
enum nb_bp_kind {
	NB_BP_OBJ = 1,       /* a simple object's data: index entry (shard, key) */
	NB_BP_PART = 2,      /* a part: upload (inst, upload id), part number */
	NB_BP_MF = 3,        /* a manifest: index entry (shard, key) */
};

struct nb_bp {
	int kind;
	int64_t created_ms;           /* last touched by its writer */
	char where[NB_OID_MAX];       /* OBJ/MF: index shard oid; PART: bucket instance */
	char key[S3_MAX_KEY_BYTES + 1]; /* OBJ/MF: object key; PART: upload id */
	uint32_t part;
};

#define NB_UCACHE_MAX 256
#define NB_SCAN_CACHE 64

struct nb_aio;

struct nb {
	struct s3_backend base;
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	uv_loop_t *loop;               /* NULL: admin use only (CLI) */
	uv_async_t async;
	uv_timer_t gc_timer;
	uv_mutex_t lock;
	struct nb_aio *done_head, *done_tail;   /* under lock */
	int handles_open;
	int stopping;                  /* stop asked: close the async once no aio is out */
	uint64_t aio_outstanding;      /* loop thread only */
	int gc_running;
	uint32_t nshards;
	uint32_t gc_shards;
	uint64_t stripe;
	uint64_t window;
	int64_t gc_delay_ms, gc_orphan_ms, gc_interval_ms;
	struct nb_bcache bcache[NB_BCACHE_MAX];
	struct nb_ucache ucache[NB_UCACHE_MAX];
	int64_t user_cache_ms;
	uint64_t stat_gc_removed;
	/* Background orphan scan: pool objects examined per GC tick (0: off)
	 * and the listing cursor it resumes from (thread pool, one pass at a
	 * time: gc_running). */
	uint32_t scan_per_pass;
	char *scan_cursor;
	/* Fault injection for the crash tests (NORN_S3_CRASH_AT=<step>: the
	 * gateway SIGKILLs itself there; NORN_S3_PAUSE_AT=<step>:<ms> sleeps
	 * there, in the thread pool). Read once at open. */
	char crash_at[64];
	char pause_at[64];
	int pause_ms;
};

static inline int64_t now_ms(void) { return (int64_t)(norn_real_ns() / 1000000ull); }

/* Errors a client should retry map to NORN_EAGAIN (503 SlowDown/ServiceUnavailable). */
static int retryable(int rc)
{
	if (rc == -ETIMEDOUT || rc == -EAGAIN || rc == NORN_ENOQUORUM || rc == -ECONNRESET ||
	    rc == -ECONNREFUSED || rc == -EPIPE || rc == -ESHUTDOWN || rc == -EHOSTUNREACH)
		return NORN_EAGAIN;
	return rc;
}

static void random_id(char out[NB_ID_HEX + 1])
{
	uint8_t b[NB_ID_HEX / 2];
	NORN_ASSERT(norn_random_bytes(b, sizeof(b)) == 0);
	s3_hex(b, sizeof(b), out);
}

static int valid_id(const char *id)
{
	size_t l = strlen(id);
	if (l != NB_ID_HEX)
		return 0;
	for (size_t i = 0; i < l; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

static void stripe_oid(char *out, size_t cap, const char *data_id, uint64_t stripe)
{
	snprintf(out, cap, "d.%s.%08" PRIx64, data_id, stripe);
}

static void shard_oid(char *out, size_t cap, const struct nb_bucket *b, const char *key)
{
	uint32_t h = norn_crc32c(0, key, strlen(key));
	snprintf(out, cap, "idx.%s.%u", b->inst, b->nshards ? h % b->nshards : 0);
}

/* --- encodings -------------------------------------------------------- */

static void dec_blob_into(struct dec *d, char *out, size_t cap, size_t *len)
{
	size_t l = 0;
	const void *p = dec_blob(d, &l);
	if (dec_error(d))
		return;
	if (l > cap) {
		dec_fail(d, NORN_ECORRUPT);
		return;
	}
	memcpy(out, p, l);
	*len = l;
}

static void enc_meta(struct enc *e, const struct s3_obj_meta *m)
{
	size_t t = enc_struct_begin(e, 1, 1);
	enc_u64(e, m->size);
	enc_s64(e, m->mtime_ms);
	enc_str(e, m->etag);
	enc_str(e, m->owner);
	enc_s32(e, m->acl);
	enc_u32(e, m->nparts);
	enc_str(e, m->content_type);
	enc_str(e, m->content_encoding);
	enc_str(e, m->content_disposition);
	enc_str(e, m->content_language);
	enc_str(e, m->cache_control);
	enc_str(e, m->expires);
	enc_blob(e, m->user_meta, m->user_meta_len);
	enc_blob(e, m->tags, m->tags_len);
	enc_struct_end(e, t);
}

static void dec_meta(struct dec *d, struct s3_obj_meta *m)
{
	struct dec_struct tok;
	uint8_t ver;
	memset(m, 0, sizeof(*m));
	dec_struct_begin(d, 1, &ver, &tok);
	m->size = dec_u64(d);
	m->mtime_ms = dec_s64(d);
	dec_str(d, m->etag, sizeof(m->etag));
	dec_str(d, m->owner, sizeof(m->owner));
	m->acl = dec_s32(d);
	m->nparts = dec_u32(d);
	dec_str(d, m->content_type, sizeof(m->content_type));
	dec_str(d, m->content_encoding, sizeof(m->content_encoding));
	dec_str(d, m->content_disposition, sizeof(m->content_disposition));
	dec_str(d, m->content_language, sizeof(m->content_language));
	dec_str(d, m->cache_control, sizeof(m->cache_control));
	dec_str(d, m->expires, sizeof(m->expires));
	dec_blob_into(d, m->user_meta, sizeof(m->user_meta), &m->user_meta_len);
	dec_blob_into(d, m->tags, sizeof(m->tags), &m->tags_len);
	dec_struct_end(d, &tok);
}

static void enc_bucket(struct enc *e, const struct nb_bucket *b)
{
	size_t t = enc_struct_begin(e, 1, 1);
	enc_str(e, b->info.name);
	enc_str(e, b->info.owner);
	enc_s64(e, b->info.created_ms);
	enc_str(e, b->info.location);
	enc_s32(e, b->info.acl);
	enc_blob(e, b->info.tags, b->info.tags_len);
	enc_str(e, b->inst);
	enc_u32(e, b->nshards);
	enc_struct_end(e, t);
}

static int dec_bucket(const void *p, size_t n, struct nb_bucket *b)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	memset(b, 0, sizeof(*b));
	dec_init(&d, p, n);
	dec_struct_begin(&d, 1, &ver, &tok);
	dec_str(&d, b->info.name, sizeof(b->info.name));
	dec_str(&d, b->info.owner, sizeof(b->info.owner));
	b->info.created_ms = dec_s64(&d);
	dec_str(&d, b->info.location, sizeof(b->info.location));
	b->info.acl = dec_s32(&d);
	dec_blob_into(&d, b->info.tags, sizeof(b->info.tags), &b->info.tags_len);
	dec_str(&d, b->inst, sizeof(b->inst));
	b->nshards = dec_u32(&d);
	dec_struct_end(&d, &tok);
	if (dec_error(&d))
		return dec_error(&d);
	if (!valid_id(b->inst) || b->nshards == 0 || b->nshards > 65536)
		return NORN_ECORRUPT;
	return 0;
}

static int enc_entry(const struct nb_entry *en, uint8_t **out, size_t *len)
{
	struct enc e;
	enc_init(&e, 512);
	size_t t = enc_struct_begin(&e, 1, 1);
	enc_meta(&e, &en->m);
	enc_str(&e, en->data_id);
	enc_u64(&e, en->stripe);
	enc_struct_end(&e, t);
	*out = enc_take(&e, len);
	return *out ? 0 : -ENOMEM;
}

static int dec_entry(const void *p, size_t n, struct nb_entry *en)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	memset(en, 0, sizeof(*en));
	dec_init(&d, p, n);
	dec_struct_begin(&d, 1, &ver, &tok);
	dec_meta(&d, &en->m);
	dec_str(&d, en->data_id, sizeof(en->data_id));
	en->stripe = dec_u64(&d);
	dec_struct_end(&d, &tok);
	if (dec_error(&d))
		return dec_error(&d);
	if (!valid_id(en->data_id) || en->stripe < 4096 || en->stripe > (1ull << 32))
		return NORN_ECORRUPT;
	return 0;
}

static int enc_part(const struct nb_part *pt, uint8_t **out, size_t *len)
{
	struct enc e;
	enc_init(&e, 128);
	size_t t = enc_struct_begin(&e, 1, 1);
	enc_u64(&e, pt->size);
	enc_s64(&e, pt->mtime_ms);
	enc_str(&e, pt->etag);
	enc_str(&e, pt->data_id);
	enc_struct_end(&e, t);
	*out = enc_take(&e, len);
	return *out ? 0 : -ENOMEM;
}

static int dec_part(const void *p, size_t n, struct nb_part *pt)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	int number = pt->number;
	memset(pt, 0, sizeof(*pt));
	pt->number = number;
	dec_init(&d, p, n);
	dec_struct_begin(&d, 1, &ver, &tok);
	pt->size = dec_u64(&d);
	pt->mtime_ms = dec_s64(&d);
	dec_str(&d, pt->etag, sizeof(pt->etag));
	dec_str(&d, pt->data_id, sizeof(pt->data_id));
	dec_struct_end(&d, &tok);
	if (dec_error(&d))
		return dec_error(&d);
	return valid_id(pt->data_id) ? 0 : NORN_ECORRUPT;
}

/* Upload record: key, initiated, meta. @key gets a malloc'd copy. */
static int enc_upload(const char *key, int64_t initiated, const struct s3_obj_meta *m,
                      uint8_t **out, size_t *len)
{
	struct enc e;
	enc_init(&e, 512);
	size_t t = enc_struct_begin(&e, 1, 1);
	enc_str(&e, key);
	enc_s64(&e, initiated);
	enc_meta(&e, m);
	enc_struct_end(&e, t);
	*out = enc_take(&e, len);
	return *out ? 0 : -ENOMEM;
}

static int dec_upload(const void *p, size_t n, char **key, int64_t *initiated,
                      struct s3_obj_meta *m)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	char *k = malloc(S3_MAX_KEY_BYTES + 1);
	if (!k)
		return -ENOMEM;
	dec_init(&d, p, n);
	dec_struct_begin(&d, 1, &ver, &tok);
	dec_str(&d, k, S3_MAX_KEY_BYTES + 1);
	*initiated = dec_s64(&d);
	dec_meta(&d, m);
	dec_struct_end(&d, &tok);
	if (dec_error(&d)) {
		free(k);
		return dec_error(&d);
	}
	*key = k;
	return 0;
}

/* GC record. */
static int enc_gc(int kind, const char *id, uint64_t size, uint8_t **out, size_t *len)
{
	struct enc e;
	enc_init(&e, 64);
	size_t t = enc_struct_begin(&e, 1, 1);
	enc_u8(&e, (uint8_t)kind);
	enc_str(&e, id);
	enc_u64(&e, size);
	enc_struct_end(&e, t);
	*out = enc_take(&e, len);
	return *out ? 0 : -ENOMEM;
}

/* --- synchronous helpers (thread pool and CLI only) ---------------------- */

/* One omap value, malloc'd: 0, -ENOENT or an error. */
static int omap_get(norn_ioctx_t *io, const char *oid, const char *key, void **val, size_t *len)
{
	void *v = NULL;
	ssize_t r = norn_omap_get(io, oid, key, &v);
	if (r < 0)
		return (int)r;
	*val = v;
	*len = (size_t)r;
	return 0;
}

static int omap_set1(norn_ioctx_t *io, const char *oid, const char *key, const void *val,
                     size_t len)
{
	const char *keys[1] = { key };
	const void *vals[1] = { val };
	size_t lens[1] = { len };
	return norn_omap_set(io, oid, keys, vals, lens, 1);
}

static int omap_rm1(norn_ioctx_t *io, const char *oid, const char *key)
{
	const char *keys[1] = { key };
	return norn_omap_rm_keys(io, oid, keys, 1);
}

typedef int (*omap_each_fn)(void *arg, const struct norn_kv *kv);

/* Call @fn for every entry with @prefix, a page at a time, at most @max
 * entries (-E2BIG beyond). A missing object has no entries. */
static int omap_each(norn_ioctx_t *io, const char *oid, const char *prefix, size_t max,
                     omap_each_fn fn, void *arg)
{
	char *after = strdup("");
	size_t seen = 0;
	int rc = after ? 0 : -ENOMEM;
	while (!rc) {
		struct norn_list l;
		memset(&l, 0, sizeof(l));
		rc = norn_omap_get_vals(io, oid, after, prefix, NB_PAGE, &l);
		if (rc == -ENOENT) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		for (size_t i = 0; !rc && i < l.n; i++) {
			if (++seen > max)
				rc = -E2BIG;
			else
				rc = fn(arg, &l.items[i]);
		}
		int more = l.more && l.n > 0;
		if (!rc && more) {
			free(after);
			after = strdup(l.items[l.n - 1].key);
			if (!after)
				rc = -ENOMEM;
		}
		norn_list_free(&l);
		if (!more)
			break;
	}
	free(after);
	return rc;
}

static int bucket_read(struct nb *be, const char *name, struct nb_bucket *b)
{
	char oid[NB_OID_MAX];
	void *v = NULL;
	snprintf(oid, sizeof(oid), "bkt.%s", name);
	ssize_t r = norn_getxattr(be->io, oid, "info", &v);
	if (r == -ENODATA)
		r = -ENOENT;
	if (r < 0)
		return (int)r;
	int rc = dec_bucket(v, (size_t)r, b);
	free(v);
	return rc;
}

static int entry_read(struct nb *be, const struct nb_bucket *b, const char *key, struct nb_entry *en)
{
	char oid[NB_OID_MAX];
	void *v = NULL;
	size_t n = 0;
	shard_oid(oid, sizeof(oid), b, key);
	int rc = omap_get(be->io, oid, key, &v, &n);
	if (rc)
		return rc;
	rc = dec_entry(v, n, en);
	free(v);
	return rc;
}

static int gc_shard_of(struct nb *be, const char *id)
{
	return (int)(norn_crc32c(0, id, strlen(id)) % be->gc_shards);
}

/* Queue @id (kind, size) for reclamation at @due_ms. */
static int gc_add(struct nb *be, int kind, const char *id, uint64_t size, int64_t due_ms)
{
	char oid[64], key[80];
	uint8_t *v = NULL;
	size_t n = 0;
	snprintf(oid, sizeof(oid), "s3.gc.%d", gc_shard_of(be, id));
	snprintf(key, sizeof(key), "%016" PRIx64 ".%s", (uint64_t)due_ms, id);
	int rc = enc_gc(kind, id, size, &v, &n);
	if (rc)
		return rc;
	rc = omap_set1(be->io, oid, key, v, n);
	free(v);
	return rc;
}

static int gc_add_entry(struct nb *be, const struct nb_entry *en)
{
	if (en->m.nparts)
		return gc_add(be, NB_GC_KIND_MANIFEST, en->data_id, 0, now_ms() + be->gc_delay_ms);
	return gc_add(be, NB_GC_KIND_STRIPES, en->data_id, en->m.size, now_ms() + be->gc_delay_ms);
}

/* Remove a data id's intent record (it has been committed). */
static int gc_drop_intent(struct nb *be, const char *id, int64_t due_ms)
{
	char oid[64], key[80];
	snprintf(oid, sizeof(oid), "s3.gc.%d", gc_shard_of(be, id));
	snprintf(key, sizeof(key), "%016" PRIx64 ".%s", (uint64_t)due_ms, id);
	int rc = omap_rm1(be->io, oid, key);
	return rc == -ENOENT ? 0 : rc;
}

/* --- index entries: compare-and-swap -------------------------------------------
 *
 * Every change of an index entry is a compound op on its shard: "the
 * entry still holds what I read" (norn_write_op_omap_cmp) + the new value
 * (or its removal). Two gateways writing one key therefore never both
 * believe they replaced the same old entry: the one whose compare fails
 * reads the entry again and retries, replacing the other's (S3's last
 * writer wins), and learns exactly which data it replaced, so every data
 * id that leaves the index is queued for the GC by the writer that
 * removed it. */
#define NB_CAS_TRIES 16

/* Set index entry @key (shard of @b) to @val (NULL: remove it), expecting
 * the raw value *@raw / *@raw_len (NULL: no entry; a PUT of a new key
 * starts optimistic, with no read). On a lost race *@raw is replaced by
 * the value read again. After success, *@have_old says whether an entry
 * was replaced and @old holds it. At most @tries attempts. Returns 0,
 * -ENOENT (removal of a key that is gone), NORN_EAGAIN (lost @tries races
 * in a row; -ECANCELED if @tries is 1) or an error. */
static int index_swap(struct nb *be, const struct nb_bucket *b, const char *key, const void *val,
                      size_t len, void **raw, size_t *raw_len, struct nb_entry *old, int *have_old,
                      int tries)
{
	char oid[NB_OID_MAX];
	shard_oid(oid, sizeof(oid), b, key);
	*have_old = 0;
	if (!val && !*raw)
		return -ENOENT;
	for (int attempt = 0;; attempt++) {
		norn_write_op_t *op = norn_write_op_create();
		if (!op)
			return -ENOMEM;
		const char *keys[1] = { key };
		norn_write_op_omap_cmp(op, key, *raw, *raw ? *raw_len : 0);
		if (val)
			norn_write_op_omap_set(op, keys, &val, &len, 1);
		else
			norn_write_op_omap_rm_keys(op, keys, 1);
		int rc = norn_write_op_operate(op, be->io, oid);
		norn_write_op_release(op);
		if (rc != -ECANCELED) {
			if (!rc && *raw)
				*have_old = dec_entry(*raw, *raw_len, old) == 0;
			return rc;
		}
		if (attempt + 1 >= tries)
			return tries == 1 ? -ECANCELED : NORN_EAGAIN;
		free(*raw);
		*raw = NULL;
		*raw_len = 0;
		rc = omap_get(be->io, oid, key, raw, raw_len);
		if (rc == -ENOENT) {
			*raw = NULL;
			if (!val)
				return -ENOENT;
		} else if (rc) {
			return rc;
		}
	}
}

/* --- fault injection (crash tests) ---------------------------------------- */

/* Die here, like kill -9, if NORN_S3_CRASH_AT names @step. */
static void crash_point(struct nb *be, const char *step)
{
	if (be->crash_at[0] && !strcmp(be->crash_at, step)) {
		NLOG(S3, ERR, "NORN_S3_CRASH_AT=%s: killing the gateway", step);
		raise(SIGKILL);
	}
}

/* Sleep here if NORN_S3_PAUSE_AT names @step (thread pool only). */
static void pause_point(struct nb *be, const char *step)
{
	if (be->pause_at[0] && !strcmp(be->pause_at, step) && be->pause_ms > 0)
		usleep((useconds_t)be->pause_ms * 1000u);
}

/* --- back-pointers ---------------------------------------------------------- */

static int enc_bp(const struct nb_bp *bp, struct enc *e)
{
	size_t t = enc_struct_begin(e, 1, 1);
	enc_u8(e, (uint8_t)bp->kind);
	enc_s64(e, bp->created_ms);
	enc_str(e, bp->where);
	enc_str(e, bp->key);
	enc_u32(e, bp->part);
	enc_struct_end(e, t);
	return enc_error(e);
}

static int dec_bp(const void *p, size_t n, struct nb_bp *bp)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	memset(bp, 0, sizeof(*bp));
	dec_init(&d, p, n);
	dec_struct_begin(&d, 1, &ver, &tok);
	bp->kind = dec_u8(&d);
	bp->created_ms = dec_s64(&d);
	dec_str(&d, bp->where, sizeof(bp->where));
	dec_str(&d, bp->key, sizeof(bp->key));
	bp->part = dec_u32(&d);
	dec_struct_end(&d, &tok);
	if (dec_error(&d))
		return dec_error(&d);
	if (bp->kind < NB_BP_OBJ || bp->kind > NB_BP_MF)
		return NORN_ECORRUPT;
	if (bp->kind == NB_BP_PART && (!valid_id(bp->where) || !valid_id(bp->key)))
		return NORN_ECORRUPT;
	return 0;
}

/* Read the back-pointer of @oid: 0, -ENOENT (no object), -ENODATA (no
 * back-pointer: data written before they existed) or an error. */
static int bp_read(struct nb *be, const char *oid, struct nb_bp *bp)
{
	void *v = NULL;
	ssize_t r = norn_getxattr(be->io, oid, NB_BP_XATTR, &v);
	if (r < 0)
		return (int)r;
	int rc = dec_bp(v, (size_t)r, bp);
	free(v);
	return rc;
}

static int manifest_read(struct nb *be, const char *id, struct nb_mf_part **out, uint32_t *nout);

/* Is data id @id (manifest id for NB_BP_MF) still referenced by what its
 * back-pointer names? 1 yes, 0 no, or an error (then keep it). The order
 * of the part checks matters: completion writes the manifest before it
 * removes the part records, so "no part record" read first, then "no
 * manifest listing it", means neither exists. */
static int bp_live(struct nb *be, const char *id, const struct nb_bp *bp)
{
	if (bp->kind == NB_BP_OBJ || bp->kind == NB_BP_MF) {
		void *v = NULL;
		size_t n = 0;
		struct nb_entry *en = malloc(sizeof(*en));
		if (!en)
			return -ENOMEM;
		int rc = omap_get(be->io, bp->where, bp->key, &v, &n);
		if (rc == -ENOENT) {
			free(en);
			return 0;
		}
		if (rc) {
			free(en);
			return rc;
		}
		rc = dec_entry(v, n, en);
		free(v);
		if (!rc)
			rc = !strcmp(en->data_id, id) && (bp->kind == NB_BP_MF) == (en->m.nparts != 0);
		else
			rc = 1;     /* a damaged entry: keep what it might name */
		free(en);
		return rc;
	}
	char oid[2 * NB_ID_HEX + 8], pkey[16];
	void *v = NULL;
	size_t n = 0;
	/* dec_bp checked both are ids */
	snprintf(oid, sizeof(oid), "pt.%.32s.%.32s", bp->where, bp->key);
	snprintf(pkey, sizeof(pkey), "%05u", bp->part);
	int rc = omap_get(be->io, oid, pkey, &v, &n);
	if (rc == 0) {
		struct nb_part pt;
		pt.number = (int)bp->part;
		rc = dec_part(v, n, &pt);
		free(v);
		if (rc || !strcmp(pt.data_id, id))
			return 1;
	} else if (rc != -ENOENT) {
		return rc;
	}
	struct nb_mf_part *p = NULL;
	uint32_t np = 0;
	rc = manifest_read(be, bp->key, &p, &np);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc == NORN_ECORRUPT ? 1 : rc;
	int live = 0;
	for (uint32_t i = 0; i < np && !live; i++)
		live = !strcmp(p[i].data_id, id);
	free(p);
	return live;
}

/* Add the back-pointer xattr step to @op. */
static int op_add_bp(norn_write_op_t *op, const struct nb_bp *bp)
{
	struct enc e;
	enc_init(&e, 128);
	int rc = enc_bp(bp, &e);
	if (!rc)
		norn_write_op_setxattr(op, NB_BP_XATTR, e.buf, e.len);
	enc_free(&e);
	return rc;
}

/* --- the loop side: thread-pool work and aio completions --------------- */

struct nb_work;
typedef void (*nb_work_fn)(struct nb_work *w);

/* A metadata step run in libuv's thread pool: @run (sync libnorn calls,
 * touches only the work's own fields) then @done on the loop. */
struct nb_work {
	uv_work_t req;
	struct nb *be;
	nb_work_fn run, done;
	int err;
};

static void work_run(uv_work_t *req)
{
	struct nb_work *w = NORN_CONTAINER_OF(req, struct nb_work, req);
	w->run(w);
}

static void work_after(uv_work_t *req, int status)
{
	struct nb_work *w = NORN_CONTAINER_OF(req, struct nb_work, req);
	if (status && !w->err)
		w->err = status == UV_ECANCELED ? -ECANCELED : -EIO;
	w->done(w);
}

/* Start @w; if the pool refuses, @done runs at once with the error. */
static void work_start(struct nb *be, struct nb_work *w, nb_work_fn run, nb_work_fn done)
{
	w->be = be;
	w->run = run;
	w->done = done;
	w->err = 0;
	if (!be->loop) {
		run(w);
		done(w);
		return;
	}
	int rc = uv_queue_work(be->loop, &w->req, work_run, work_after);
	if (rc) {
		w->err = -EIO;
		done(w);
	}
}

/* An async data op. The completion callback (libnorn's I/O thread) only
 * queues it; on_async runs @done on the loop. */
struct nb_aio {
	struct nb *be;
	norn_completion_t *c;
	struct nb_aio *next;
	ssize_t result;
	void (*done)(struct nb_aio *a);
	void *owner;
	char *buf;                 /* owned data (writes) */
	struct s3_be_buf *ebuf;    /* or: the caller's buffer buf is in (released, not freed) */
	norn_write_op_t *op;       /* owned compound op, kept until completion */
	norn_read_op_t *rop;       /* owned read op, kept until completion */
	size_t len;
	int slot;
};

static void aio_complete_cb(norn_completion_t *c, void *arg)
{
	struct nb_aio *a = arg;
	struct nb *be = a->be;
	a->result = norn_completion_result(c);
	uv_mutex_lock(&be->lock);
	a->next = NULL;
	/* Wake the loop only when the queue was empty: otherwise a wakeup is
	 * already pending and on_async takes the whole queue. (Each
	 * uv_async_send also makes the loop spin while it is in progress: one
	 * per completion cost the gateway ~8 % of its CPU under load.) */
	int wake = be->done_head == NULL;
	if (be->done_tail)
		be->done_tail->next = a;
	else
		be->done_head = a;
	be->done_tail = a;
	uv_mutex_unlock(&be->lock);
	if (wake)
		uv_async_send(&be->async);
}

static void on_async(uv_async_t *h)
{
	struct nb *be = h->data;
	uv_mutex_lock(&be->lock);
	struct nb_aio *a = be->done_head;
	be->done_head = be->done_tail = NULL;
	uv_mutex_unlock(&be->lock);
	while (a) {
		struct nb_aio *next = a->next;
		norn_completion_release(a->c);
		a->c = NULL;
		a->done(a);
		a = next;
	}
	if (be->stopping && be->aio_outstanding == 0 && be->handles_open) {
		be->handles_open = 0;
		uv_close((uv_handle_t *)&be->async, NULL);
	}
}

static struct nb_aio *aio_new(struct nb *be, void (*done)(struct nb_aio *), void *owner)
{
	struct nb_aio *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->be = be;
	a->done = done;
	a->owner = owner;
	a->c = norn_completion_create(aio_complete_cb, a);
	if (!a->c) {
		free(a);
		return NULL;
	}
	be->aio_outstanding++;
	return a;
}

static void aio_free(struct nb_aio *a)
{
	NORN_ASSERT(a->be->aio_outstanding > 0);
	a->be->aio_outstanding--;
	if (a->c)
		norn_completion_release(a->c);
	if (a->op)
		norn_write_op_release(a->op);
	if (a->rop)
		norn_read_op_release(a->rop);
	if (a->ebuf)
		a->ebuf->release(a->ebuf);
	else
		free(a->buf);
	free(a);
}

/* --- bucket cache (loop thread only) ------------------------------------ */

static struct nb_bcache *bcache_find(struct nb *be, const char *name)
{
	for (int i = 0; i < NB_BCACHE_MAX; i++)
		if (be->bcache[i].used && !strcmp(be->bcache[i].b.info.name, name))
			return &be->bcache[i];
	return NULL;
}

static int bcache_get(struct nb *be, const char *name, struct nb_bucket *out)
{
	if (!be->loop)
		return 0;
	struct nb_bcache *c = bcache_find(be, name);
	if (!c)
		return 0;
	if (c->expires_ms < now_ms()) {
		c->used = 0;
		return 0;
	}
	*out = c->b;
	return 1;
}

static void bcache_put(struct nb *be, const struct nb_bucket *b)
{
	if (!be->loop)
		return;
	struct nb_bcache *c = bcache_find(be, b->info.name);
	int64_t now = now_ms();
	for (int i = 0; !c && i < NB_BCACHE_MAX; i++)
		if (!be->bcache[i].used || be->bcache[i].expires_ms < now)
			c = &be->bcache[i];
	if (!c)
		c = &be->bcache[(uint32_t)now % NB_BCACHE_MAX];
	c->b = *b;
	c->expires_ms = now + NB_BCACHE_TTL_MS;
	c->used = 1;
}

static void bcache_drop(struct nb *be, const char *name)
{
	if (!be->loop)
		return;
	struct nb_bcache *c = bcache_find(be, name);
	if (c)
		c->used = 0;
}

/* Most ops first need the bucket record: from the cache (loop) or read in
 * the work function. */
struct nb_bwork {
	struct nb_work w;
	char bucket[S3_NAME_MAX];
	struct nb_bucket b;
	int have_b;
};

static int bwork_bucket(struct nb_bwork *bw)
{
	if (bw->have_b)
		return 0;
	int rc = bucket_read(bw->w.be, bw->bucket, &bw->b);
	if (!rc)
		bw->have_b = 2;         /* read now: refresh the cache */
	return rc;
}

static int bwork_init(struct nb *be, struct nb_bwork *bw, const char *bucket)
{
	if (strlen(bucket) >= sizeof(bw->bucket))
		return -EINVAL;
	snprintf(bw->bucket, sizeof(bw->bucket), "%s", bucket);
	bw->have_b = bcache_get(be, bucket, &bw->b);
	return 0;
}

static void bwork_cache(struct nb_bwork *bw)
{
	if (bw->have_b == 2)
		bcache_put(bw->w.be, &bw->b);
}

/* --- users and keys ------------------------------------------------------ */

static int valid_uid(const char *uid)
{
	size_t l = strlen(uid);
	if (l == 0 || l >= S3_UID_MAX)
		return 0;
	for (size_t i = 0; i < l; i++) {
		char c = uid[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '@'))
			return 0;
	}
	return 1;
}

static int valid_key_str(const char *s)
{
	size_t l = strlen(s);
	if (l == 0 || l >= 128)
		return 0;
	for (size_t i = 0; i < l; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '/')
			return 0;
	return 1;
}

static void gen_key(struct s3_user *k)
{
	static const char ak_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char sk_chars[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t r[60];
	NORN_ASSERT(norn_random_bytes(r, sizeof(r)) == 0);
	memcpy(k->access_key, "NK", 2);
	for (int i = 0; i < 18; i++)
		k->access_key[2 + i] = ak_chars[r[i] & 31];
	k->access_key[20] = 0;
	for (int i = 0; i < 40; i++)
		k->secret[i] = sk_chars[r[20 + i] & 63];
	k->secret[40] = 0;
}

static int user_read(struct nb *be, const char *uid, struct s3_user *u)
{
	char key[S3_UID_MAX + 4];
	void *v = NULL;
	size_t n = 0;
	snprintf(key, sizeof(key), "u/%s", uid);
	int rc = omap_get(be->io, NB_USERS_OID, key, &v, &n);
	if (rc)
		return rc;
	struct dec d;
	memset(u, 0, sizeof(*u));
	dec_init(&d, v, n);
	snprintf(u->uid, sizeof(u->uid), "%s", uid);
	dec_str(&d, u->display_name, sizeof(u->display_name));
	rc = dec_error(&d);
	free(v);
	return rc;
}

/* Key record k/<ak> -> {uid, secret}. */
static int key_read(struct nb *be, const char *ak, struct s3_user *u)
{
	char key[160];
	void *v = NULL;
	size_t n = 0;
	if (!valid_key_str(ak))
		return -ENOENT;
	snprintf(key, sizeof(key), "k/%s", ak);
	int rc = omap_get(be->io, NB_USERS_OID, key, &v, &n);
	if (rc)
		return rc;
	struct dec d;
	memset(u, 0, sizeof(*u));
	dec_init(&d, v, n);
	dec_str(&d, u->uid, sizeof(u->uid));
	dec_str(&d, u->secret, sizeof(u->secret));
	rc = dec_error(&d);
	free(v);
	snprintf(u->access_key, sizeof(u->access_key), "%s", ak);
	return rc;
}

static int key_write(struct nb *be, const struct s3_user *u)
{
	char key[160];
	struct enc e;
	snprintf(key, sizeof(key), "k/%s", u->access_key);
	enc_init(&e, 128);
	enc_str(&e, u->uid);
	enc_str(&e, u->secret);
	int rc = enc_error(&e);
	if (!rc)
		rc = omap_set1(be->io, NB_USERS_OID, key, e.buf, e.len);
	enc_free(&e);
	return rc;
}

struct nb_ukwork {
	struct nb_work w;
	char ak[128];
	struct s3_user u;
	s3_be_user_cb cb;
	void *arg;
};

static void ubk_run(struct nb_work *w)
{
	struct nb_ukwork *k = (struct nb_ukwork *)w;
	w->err = key_read(w->be, k->ak, &k->u);
	if (!w->err) {
		struct s3_user pu;
		int rc = user_read(w->be, k->u.uid, &pu);
		if (rc == 0)
			snprintf(k->u.display_name, sizeof(k->u.display_name), "%s", pu.display_name);
		else
			w->err = rc;     /* a key whose user was removed */
	}
	if (w->err && w->err != -ENOENT)
		w->err = retryable(w->err);
}

/* Access keys are looked up on every request: a found key is kept for
 * s3_user_cache_ms (so a removed key or user stops working within that
 * time on every gateway). Loop thread only. */
static struct nb_ucache *ucache_slot(struct nb *be, const char *ak, int for_put)
{
	int64_t now = now_ms();
	uint32_t h = norn_crc32c(0, ak, strlen(ak)) % NB_UCACHE_MAX;
	struct nb_ucache *c = &be->ucache[h];
	if (for_put)
		return c;
	if (!c->used || strcmp(c->u.access_key, ak))
		return NULL;
	if (c->expires_ms < now) {
		c->used = 0;
		return NULL;
	}
	return c;
}

static void ubk_done(struct nb_work *w)
{
	struct nb_ukwork *k = (struct nb_ukwork *)w;
	struct nb *be = w->be;
	if (!w->err && be->loop && be->user_cache_ms > 0) {
		struct nb_ucache *c = ucache_slot(be, k->u.access_key, 1);
		c->u = k->u;
		c->expires_ms = now_ms() + be->user_cache_ms;
		c->used = 1;
	}
	k->cb(k->arg, w->err, w->err ? NULL : &k->u);
	free(k);
}

static void nb_user_by_key(struct s3_backend *sb, const char *ak, s3_be_user_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	if (!valid_key_str(ak)) {
		cb(arg, -ENOENT, NULL);
		return;
	}
	struct nb_ucache *c = be->loop && be->user_cache_ms > 0 ? ucache_slot(be, ak, 0) : NULL;
	if (c) {
		struct s3_user u = c->u;
		cb(arg, 0, &u);
		return;
	}
	struct nb_ukwork *k = calloc(1, sizeof(*k));
	if (!k) {
		cb(arg, -ENOMEM, NULL);
		return;
	}
	snprintf(k->ak, sizeof(k->ak), "%s", ak);
	k->cb = cb;
	k->arg = arg;
	work_start(be, &k->w, ubk_run, ubk_done);
}

static int nb_key_set(struct s3_backend *sb, const char *uid, const char *ak, const char *sk)
{
	struct nb *be = (struct nb *)sb;
	struct s3_user u, old;
	if (!valid_uid(uid) || !valid_key_str(ak) || !valid_key_str(sk))
		return -EINVAL;
	int rc = user_read(be, uid, &u);
	if (rc)
		return rc;
	rc = key_read(be, ak, &old);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	snprintf(u.access_key, sizeof(u.access_key), "%s", ak);
	snprintf(u.secret, sizeof(u.secret), "%s", sk);
	return key_write(be, &u);
}

static int nb_user_create(struct s3_backend *sb, const char *uid, const char *display,
                          struct s3_user *out)
{
	struct nb *be = (struct nb *)sb;
	struct s3_user u;
	if (!valid_uid(uid))
		return -EINVAL;
	int rc = user_read(be, uid, &u);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	memset(&u, 0, sizeof(u));
	snprintf(u.uid, sizeof(u.uid), "%s", uid);
	snprintf(u.display_name, sizeof(u.display_name), "%s", display ? display : uid);
	gen_key(&u);
	char ukey[S3_UID_MAX + 4], kkey[160];
	struct enc eu, ek;
	snprintf(ukey, sizeof(ukey), "u/%s", uid);
	snprintf(kkey, sizeof(kkey), "k/%s", u.access_key);
	enc_init(&eu, 64);
	enc_str(&eu, u.display_name);
	enc_init(&ek, 128);
	enc_str(&ek, u.uid);
	enc_str(&ek, u.secret);
	rc = enc_error(&eu) ? enc_error(&eu) : enc_error(&ek);
	if (!rc) {
		const char *keys[2] = { ukey, kkey };
		const void *vals[2] = { eu.buf, ek.buf };
		size_t lens[2] = { eu.len, ek.len };
		rc = norn_omap_set(be->io, NB_USERS_OID, keys, vals, lens, 2);
	}
	enc_free(&eu);
	enc_free(&ek);
	if (!rc && out)
		*out = u;
	return rc;
}

static int nb_key_add(struct s3_backend *sb, const char *uid, struct s3_user *out)
{
	struct nb *be = (struct nb *)sb;
	struct s3_user u;
	int rc = user_read(be, uid, &u);
	if (rc)
		return rc;
	gen_key(&u);
	rc = key_write(be, &u);
	if (!rc && out)
		*out = u;
	return rc;
}

static int nb_key_remove(struct s3_backend *sb, const char *uid, const char *ak)
{
	struct nb *be = (struct nb *)sb;
	struct s3_user u;
	int rc = key_read(be, ak, &u);
	if (rc)
		return rc;
	if (strcmp(u.uid, uid))
		return -ENOENT;
	char key[160];
	snprintf(key, sizeof(key), "k/%s", ak);
	return omap_rm1(be->io, NB_USERS_OID, key);
}

struct ulist {
	struct s3_user *v;
	size_t n, cap;
	int keys;          /* collecting keys (k/) rather than users (u/) */
};

static int ulist_add(void *arg, const struct norn_kv *kv)
{
	struct ulist *l = arg;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		struct s3_user *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	struct s3_user *u = &l->v[l->n];
	struct dec d;
	memset(u, 0, sizeof(*u));
	dec_init(&d, kv->val, kv->val_len);
	if (l->keys) {
		snprintf(u->access_key, sizeof(u->access_key), "%s", kv->key + 2);
		dec_str(&d, u->uid, sizeof(u->uid));
		dec_str(&d, u->secret, sizeof(u->secret));
	} else {
		snprintf(u->uid, sizeof(u->uid), "%s", kv->key + 2);
		dec_str(&d, u->display_name, sizeof(u->display_name));
	}
	if (dec_error(&d))
		return 0;            /* skip a damaged row */
	l->n++;
	return 0;
}

static int nb_user_list(struct s3_backend *sb, struct s3_user **out, size_t *n)
{
	struct nb *be = (struct nb *)sb;
	struct ulist users = { 0 }, keys = { .keys = 1 };
	int rc = omap_each(be->io, NB_USERS_OID, "u/", 1u << 20, ulist_add, &users);
	if (!rc)
		rc = omap_each(be->io, NB_USERS_OID, "k/", 1u << 20, ulist_add, &keys);
	if (rc) {
		free(users.v);
		free(keys.v);
		return rc;
	}
	struct s3_user *all = calloc(users.n + keys.n + 1, sizeof(*all));
	size_t o = 0;
	if (!all) {
		free(users.v);
		free(keys.v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < users.n; i++) {
		all[o++] = users.v[i];
		for (size_t j = 0; j < keys.n; j++) {
			if (strcmp(keys.v[j].uid, users.v[i].uid))
				continue;
			all[o] = keys.v[j];
			snprintf(all[o].display_name, sizeof(all[o].display_name), "%s",
			         users.v[i].display_name);
			o++;
		}
	}
	free(users.v);
	free(keys.v);
	*out = all;
	*n = o;
	return 0;
}

static int nb_user_remove(struct s3_backend *sb, const char *uid)
{
	struct nb *be = (struct nb *)sb;
	struct s3_user u;
	int rc = user_read(be, uid, &u);
	if (rc)
		return rc;
	struct ulist keys = { .keys = 1 };
	rc = omap_each(be->io, NB_USERS_OID, "k/", 1u << 20, ulist_add, &keys);
	for (size_t i = 0; !rc && i < keys.n; i++) {
		if (strcmp(keys.v[i].uid, uid))
			continue;
		char key[160];
		snprintf(key, sizeof(key), "k/%s", keys.v[i].access_key);
		rc = omap_rm1(be->io, NB_USERS_OID, key);
	}
	free(keys.v);
	if (!rc) {
		char key[S3_UID_MAX + 4];
		snprintf(key, sizeof(key), "u/%s", uid);
		rc = omap_rm1(be->io, NB_USERS_OID, key);
	}
	return rc;
}

/* --- buckets -------------------------------------------------------------- */

struct nb_bkwork {
	struct nb_bwork bw;
	struct s3_bucket_info info;
	s3_be_done_cb done_cb;
	s3_be_bucket_cb bucket_cb;
	void *arg;
	struct nb *be;
};

static int dir_write(struct nb *be, const struct nb_bucket *b)
{
	char key[S3_UID_MAX + S3_NAME_MAX + 2];
	struct enc e;
	snprintf(key, sizeof(key), "%s/%s", b->info.owner, b->info.name);
	enc_init(&e, 256);
	enc_bucket(&e, b);
	int rc = enc_error(&e);
	if (!rc)
		rc = omap_set1(be->io, NB_BUCKETS_OID, key, e.buf, e.len);
	enc_free(&e);
	return rc;
}

static void bcreate_run(struct nb_work *w)
{
	struct nb_bkwork *k = (struct nb_bkwork *)w;
	struct nb *be = w->be;
	struct nb_bucket *b = &k->bw.b;
	char oid[NB_OID_MAX];
	struct enc e;
	memset(b, 0, sizeof(*b));
	b->info = k->info;
	random_id(b->inst);
	b->nshards = be->nshards;
	snprintf(oid, sizeof(oid), "bkt.%s", b->info.name);
	enc_init(&e, 256);
	enc_bucket(&e, b);
	int rc = enc_error(&e);
	if (!rc) {
		norn_write_op_t *op = norn_write_op_create();
		if (!op) {
			rc = -ENOMEM;
		} else {
			norn_write_op_create_obj(op, 1);
			norn_write_op_setxattr(op, "info", e.buf, e.len);
			rc = norn_write_op_operate(op, be->io, oid);
			norn_write_op_release(op);
		}
	}
	enc_free(&e);
	if (!rc)
		rc = dir_write(be, b);
	if (!rc)
		k->bw.have_b = 2;
	w->err = rc == -EEXIST ? rc : retryable(rc);
}

static void bdone_done(struct nb_work *w)
{
	struct nb_bkwork *k = (struct nb_bkwork *)w;
	if (!w->err)
		bwork_cache(&k->bw);
	k->done_cb(k->arg, w->err);
	free(k);
}

static struct nb_bkwork *bk_new(struct nb *be, const char *name, void *cb, void *arg, int done_kind)
{
	struct nb_bkwork *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	if (bwork_init(be, &k->bw, name)) {
		free(k);
		return NULL;
	}
	k->be = be;
	if (done_kind)
		k->done_cb = (s3_be_done_cb)cb;
	else
		k->bucket_cb = (s3_be_bucket_cb)cb;
	k->arg = arg;
	return k;
}

static void nb_bucket_create(struct s3_backend *sb, const struct s3_bucket_info *bi,
                             s3_be_done_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct nb_bkwork *k = bk_new(be, bi->name, (void *)cb, arg, 1);
	if (!k) {
		cb(arg, -ENOMEM);
		return;
	}
	k->info = *bi;
	k->bw.have_b = 0;
	work_start(be, &k->bw.w, bcreate_run, bdone_done);
}

static void bget_run(struct nb_work *w)
{
	struct nb_bkwork *k = (struct nb_bkwork *)w;
	int rc = bwork_bucket(&k->bw);
	w->err = rc == -ENOENT ? rc : retryable(rc);
}

static void bget_done(struct nb_work *w)
{
	struct nb_bkwork *k = (struct nb_bkwork *)w;
	if (!w->err)
		bwork_cache(&k->bw);
	k->bucket_cb(k->arg, w->err, w->err ? NULL : &k->bw.b.info);
	free(k);
}

static void nb_bucket_get(struct s3_backend *sb, const char *name, s3_be_bucket_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct nb_bucket b;
	if (strlen(name) >= S3_NAME_MAX) {
		cb(arg, -ENOENT, NULL);
		return;
	}
	if (bcache_get(be, name, &b)) {
		cb(arg, 0, &b.info);
		return;
	}
	struct nb_bkwork *k = bk_new(be, name, (void *)cb, arg, 0);
	if (!k) {
		cb(arg, -ENOMEM, NULL);
		return;
	}
	work_start(be, &k->bw.w, bget_run, bget_done);
}

static void bupdate_run(struct nb_work *w)
{
	struct nb_bkwork *k = (struct nb_bkwork *)w;
	struct nb *be = w->be;
	struct nb_bucket b;
	char oid[NB_OID_MAX];
	int rc = bucket_read(be, k->info.name, &b);
	if (!rc) {
		snprintf(b.info.location, sizeof(b.info.location), "%s", k->info.location);
		b.info.acl = k->info.acl;
		b.info.tags_len = k->info.tags_len;
		memcpy(b.info.tags, k->info.tags, k->info.tags_len);
		struct enc e;
		enc_init(&e, 256);
		enc_bucket(&e, &b);
		rc = enc_error(&e);
		snprintf(oid, sizeof(oid), "bkt.%s", b.info.name);
		if (!rc) {
			norn_write_op_t *op = norn_write_op_create();
			if (!op) {
				rc = -ENOMEM;
			} else {
				norn_write_op_assert_exists(op);
				norn_write_op_setxattr(op, "info", e.buf, e.len);
				rc = norn_write_op_operate(op, be->io, oid);
				norn_write_op_release(op);
			}
		}
		enc_free(&e);
		if (!rc)
			rc = dir_write(be, &b);
		if (!rc) {
			k->bw.b = b;
			k->bw.have_b = 2;
		}
	}
	w->err = rc == -ENOENT ? rc : retryable(rc);
}

static void nb_bucket_update(struct s3_backend *sb, const struct s3_bucket_info *bi,
                             s3_be_done_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct nb_bkwork *k = bk_new(be, bi->name, (void *)cb, arg, 1);
	if (!k) {
		cb(arg, -ENOMEM);
		return;
	}
	k->info = *bi;
	k->bw.have_b = 0;
	bcache_drop(be, bi->name);
	work_start(be, &k->bw.w, bupdate_run, bdone_done);
}

static int omap_nonempty(struct nb *be, const char *oid)
{
	struct norn_list l;
	memset(&l, 0, sizeof(l));
	int rc = norn_omap_get_vals(be->io, oid, "", "", 1, &l);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	rc = l.n > 0;
	norn_list_free(&l);
	return rc;
}

static void bdelete_run(struct nb_work *w)
{
	struct nb_bkwork *k = (struct nb_bkwork *)w;
	struct nb *be = w->be;
	struct nb_bucket b;
	char oid[NB_OID_MAX];
	int rc = bucket_read(be, k->bw.bucket, &b);
	for (uint32_t s = 0; !rc && s < b.nshards; s++) {
		snprintf(oid, sizeof(oid), "idx.%s.%u", b.inst, s);
		rc = omap_nonempty(be, oid);
		if (rc > 0)
			rc = -ENOTEMPTY;
	}
	if (!rc) {
		snprintf(oid, sizeof(oid), "up.%s", b.inst);
		rc = omap_nonempty(be, oid);
		if (rc > 0)
			rc = -ENOTEMPTY;
	}
	if (!rc) {
		snprintf(oid, sizeof(oid), "bkt.%s", b.info.name);
		rc = norn_remove(be->io, oid);
	}
	if (!rc) {
		char key[S3_UID_MAX + S3_NAME_MAX + 2];
		snprintf(key, sizeof(key), "%s/%s", b.info.owner, b.info.name);
		rc = omap_rm1(be->io, NB_BUCKETS_OID, key);
		if (rc == -ENOENT)
			rc = 0;
		for (uint32_t s = 0; s < b.nshards; s++) {
			snprintf(oid, sizeof(oid), "idx.%s.%u", b.inst, s);
			(void)norn_remove(be->io, oid);
		}
		snprintf(oid, sizeof(oid), "up.%s", b.inst);
		(void)norn_remove(be->io, oid);
	}
	w->err = rc == -ENOENT || rc == -ENOTEMPTY ? rc : retryable(rc);
}

static void nb_bucket_delete(struct s3_backend *sb, const char *name, s3_be_done_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct nb_bkwork *k = bk_new(be, name, (void *)cb, arg, 1);
	if (!k) {
		cb(arg, -ENOMEM);
		return;
	}
	k->bw.have_b = 0;
	bcache_drop(be, name);
	work_start(be, &k->bw.w, bdelete_run, bdone_done);
}

struct nb_blwork {
	struct nb_work w;
	char owner[S3_UID_MAX + 2];
	struct s3_bucket_info *v;
	size_t n, cap;
	s3_be_buckets_cb cb;
	void *arg;
};

static int blist_add(void *arg, const struct norn_kv *kv)
{
	struct nb_blwork *k = arg;
	struct nb_bucket b;
	if (dec_bucket(kv->val, kv->val_len, &b))
		return 0;
	if (k->n == k->cap) {
		size_t nc = k->cap ? k->cap * 2 : 16;
		struct s3_bucket_info *nv = realloc(k->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		k->v = nv;
		k->cap = nc;
	}
	k->v[k->n++] = b.info;
	return 0;
}

static void blist_run(struct nb_work *w)
{
	struct nb_blwork *k = (struct nb_blwork *)w;
	/* Keys are "<owner>/<name>": omap order is name order. */
	w->err = retryable(omap_each(w->be->io, NB_BUCKETS_OID, k->owner, 100000, blist_add, k));
}

static void blist_done(struct nb_work *w)
{
	struct nb_blwork *k = (struct nb_blwork *)w;
	k->cb(k->arg, w->err, w->err ? NULL : k->v, w->err ? 0 : k->n);
	free(k->v);
	free(k);
}

static void nb_bucket_list(struct s3_backend *sb, const char *owner, s3_be_buckets_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct nb_blwork *k = calloc(1, sizeof(*k));
	if (!k || strlen(owner) >= S3_UID_MAX) {
		free(k);
		cb(arg, k ? -EINVAL : -ENOMEM, NULL, 0);
		return;
	}
	snprintf(k->owner, sizeof(k->owner), "%s/", owner);
	k->cb = cb;
	k->arg = arg;
	work_start(be, &k->w, blist_run, blist_done);
}

/* --- index listing: k-way merge over the shards ---------------------------- */

struct nb_ilwork {
	struct nb_bwork bw;
	char *prefix, *start_after;
	size_t max;
	struct s3_index_entry *out;
	char **keep;                /* strings the entries point into */
	size_t n, nkeep;
	int truncated;
	s3_be_index_cb cb;
	void *arg;
};

static int il_keep(struct nb_ilwork *k, const char *s, const char **ptr)
{
	char *c = strdup(s);
	if (!c)
		return -ENOMEM;
	k->keep[k->nkeep++] = c;
	*ptr = c;
	return 0;
}

static void ilist_run(struct nb_work *w)
{
	struct nb_ilwork *k = (struct nb_ilwork *)w;
	struct nb *be = w->be;
	int rc = bwork_bucket(&k->bw);
	uint32_t ns = k->bw.b.nshards;
	struct norn_list *ls = NULL;
	size_t *pos = NULL;
	struct nb_entry *en = NULL;
	if (rc)
		goto out;
	ls = calloc(ns, sizeof(*ls));
	pos = calloc(ns, sizeof(*pos));
	en = malloc(sizeof(*en));
	k->out = calloc(k->max + 1, sizeof(*k->out));
	k->keep = calloc(3 * (k->max + 1), sizeof(*k->keep));
	if (!ls || !pos || !en || !k->out || !k->keep) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t s = 0; s < ns; s++) {
		char oid[NB_OID_MAX];
		snprintf(oid, sizeof(oid), "idx.%s.%u", k->bw.b.inst, s);
		rc = norn_omap_get_vals(be->io, oid, k->start_after, k->prefix, k->max, &ls[s]);
		if (rc == -ENOENT) {
			memset(&ls[s], 0, sizeof(ls[s]));
			rc = 0;
		}
		if (rc)
			goto out;
	}
	/* Merge: take the smallest head while no shard that still has
	 * unfetched entries ran dry (its next key could be smaller). */
	while (k->n < k->max) {
		int best = -1;
		int stop = 0;
		for (uint32_t s = 0; s < ns; s++) {
			if (pos[s] == ls[s].n) {
				if (ls[s].more)
					stop = 1;
				continue;
			}
			if (best < 0 || strcmp(ls[s].items[pos[s]].key, ls[best].items[pos[best]].key) < 0)
				best = (int)s;
		}
		if (stop) {
			k->truncated = 1;
			break;
		}
		if (best < 0)
			break;
		struct norn_kv *kv = &ls[best].items[pos[best]++];
		if (dec_entry(kv->val, kv->val_len, en)) {
			NLOG(S3, WARN, "bucket %s: damaged index entry for key %s", k->bw.bucket, kv->key);
			continue;
		}
		struct s3_index_entry *o = &k->out[k->n];
		o->size = en->m.size;
		o->mtime_ms = en->m.mtime_ms;
		if ((rc = il_keep(k, kv->key, &o->key)) || (rc = il_keep(k, en->m.etag, &o->etag)) ||
		    (rc = il_keep(k, en->m.owner, &o->owner)))
			goto out;
		k->n++;
	}
	if (k->n == k->max) {
		for (uint32_t s = 0; s < ns; s++)
			if (pos[s] < ls[s].n || ls[s].more)
				k->truncated = 1;
	}
out:
	if (ls)
		for (uint32_t s = 0; s < ns; s++)
			norn_list_free(&ls[s]);
	free(ls);
	free(pos);
	free(en);
	w->err = rc == -ENOENT ? rc : retryable(rc);
}

static void ilist_done(struct nb_work *w)
{
	struct nb_ilwork *k = (struct nb_ilwork *)w;
	if (!w->err)
		bwork_cache(&k->bw);
	k->cb(k->arg, w->err, w->err ? NULL : k->out, w->err ? 0 : k->n, k->truncated);
	for (size_t i = 0; i < k->nkeep; i++)
		free(k->keep[i]);
	free(k->keep);
	free(k->out);
	free(k->prefix);
	free(k->start_after);
	free(k);
}

static void nb_index_list(struct s3_backend *sb, const char *bucket, const char *prefix,
                          const char *start_after, size_t max, s3_be_index_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct nb_ilwork *k = calloc(1, sizeof(*k));
	if (max == 0 || max > 10000)
		max = max ? 10000 : 1;
	if (!k || bwork_init(be, &k->bw, bucket)) {
		free(k);
		cb(arg, k ? -ENOENT : -ENOMEM, NULL, 0, 0);
		return;
	}
	k->prefix = strdup(prefix ? prefix : "");
	k->start_after = strdup(start_after ? start_after : "");
	k->max = max;
	k->cb = cb;
	k->arg = arg;
	if (!k->prefix || !k->start_after) {
		free(k->prefix);
		free(k->start_after);
		free(k);
		cb(arg, -ENOMEM, NULL, 0, 0);
		return;
	}
	work_start(be, &k->bw.w, ilist_run, ilist_done);
}

/* --- object delete and metadata update ------------------------------------ */

struct nb_owork {
	struct nb_bwork bw;
	char *key;
	struct s3_obj_meta m;
	s3_be_done_cb cb;
	void *arg;
};

static void odelete_run(struct nb_work *w)
{
	struct nb_owork *k = (struct nb_owork *)w;
	struct nb *be = w->be;
	struct nb_entry *en = malloc(sizeof(*en));
	char oid[NB_OID_MAX];
	void *raw = NULL;
	size_t rl = 0;
	int have_old = 0;
	int rc = en ? bwork_bucket(&k->bw) : -ENOMEM;
	if (!rc) {
		shard_oid(oid, sizeof(oid), &k->bw.b, k->key);
		rc = omap_get(be->io, oid, k->key, &raw, &rl);
	}
	if (!rc)
		rc = index_swap(be, &k->bw.b, k->key, NULL, 0, &raw, &rl, en, &have_old, NB_CAS_TRIES);
	if (!rc && have_old && gc_add_entry(be, en))
		NLOG(S3, WARN, "gc: could not queue data %s of deleted %s/%s", en->data_id, k->bw.bucket,
		     k->key);
	free(raw);
	free(en);
	w->err = rc == -ENOENT ? rc : retryable(rc);
}

static void oupdate_run(struct nb_work *w)
{
	struct nb_owork *k = (struct nb_owork *)w;
	struct nb *be = w->be;
	struct nb_entry *en = malloc(sizeof(*en));
	char oid[NB_OID_MAX];
	int rc = en ? bwork_bucket(&k->bw) : -ENOMEM;
	/* Read-modify-write under compare-and-swap: a PUT racing with us must
	 * not see its entry replaced by the old data id we read. */
	for (int attempt = 0; !rc; attempt++) {
		void *raw = NULL;
		size_t rl = 0;
		int have_old = 0;
		shard_oid(oid, sizeof(oid), &k->bw.b, k->key);
		rc = omap_get(be->io, oid, k->key, &raw, &rl);
		if (!rc)
			rc = dec_entry(raw, rl, en);
		if (!rc) {
			struct s3_obj_meta keep = en->m;
			struct nb_entry cur = *en;
			en->m = k->m;
			en->m.size = keep.size;
			en->m.nparts = keep.nparts;
			memcpy(en->m.etag, keep.etag, sizeof(keep.etag));
			uint8_t *v = NULL;
			size_t n = 0;
			rc = enc_entry(en, &v, &n);
			if (!rc)
				rc = index_swap(be, &k->bw.b, k->key, v, n, &raw, &rl, &cur, &have_old, 1);
			free(v);
		}
		free(raw);
		if (rc != -ECANCELED)
			break;
		rc = attempt + 1 < NB_CAS_TRIES ? 0 : NORN_EAGAIN;
	}
	free(en);
	w->err = rc == -ENOENT ? rc : retryable(rc);
}

static void owork_done(struct nb_work *w)
{
	struct nb_owork *k = (struct nb_owork *)w;
	if (!w->err)
		bwork_cache(&k->bw);
	k->cb(k->arg, w->err);
	free(k->key);
	free(k);
}

static struct nb_owork *owork_new(struct nb *be, const char *bucket, const char *key,
                                  s3_be_done_cb cb, void *arg)
{
	struct nb_owork *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	if (bwork_init(be, &k->bw, bucket) || !(k->key = strdup(key))) {
		free(k);
		return NULL;
	}
	k->cb = cb;
	k->arg = arg;
	return k;
}

static void nb_obj_delete(struct s3_backend *sb, const char *bucket, const char *key,
                          s3_be_done_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct nb_owork *k = owork_new(be, bucket, key, cb, arg);
	if (!k) {
		cb(arg, -ENOMEM);
		return;
	}
	work_start(be, &k->bw.w, odelete_run, owork_done);
}

static void nb_obj_update_meta(struct s3_backend *sb, const char *bucket, const char *key,
                               const struct s3_obj_meta *m, s3_be_done_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct nb_owork *k = owork_new(be, bucket, key, cb, arg);
	if (!k) {
		cb(arg, -ENOMEM);
		return;
	}
	k->m = *m;
	work_start(be, &k->bw.w, oupdate_run, owork_done);
}

/* --- writing ------------------------------------------------------------------ */

struct s3_be_writer {
	struct nb *be;
	struct nb_bwork bw;             /* for open and commit steps */
	char *key;
	char upload_id[NB_ID_HEX + 1];
	int part;
	char data_id[NB_ID_HEX + 1];
	int64_t intent_due;
	int intent_state;               /* 0 none, 1 in flight, 2 written */
	uint64_t accepted;              /* bytes taken from the caller */
	char *cur;                      /* chunk being filled */
	struct s3_be_buf *cur_ext;      /* the caller's buffer cur is (put_write_buf), or NULL */
	uint64_t cur_off;               /* object offset of cur[0] */
	size_t cur_len, cur_cap;
	uint64_t inflight_bytes;
	int inflight;                   /* aios in flight incl. the intent */
	int err;
	s3_be_done_cb wait_cb;          /* put_write waiting for the window */
	void *wait_arg;
	/* open / commit */
	s3_be_writer_cb open_cb;
	s3_be_done_cb commit_cb;
	void *cb_arg;
	int committing, aborted;
	struct nb_entry en;             /* commit: new entry */
	struct nb_entry *old;           /* commit: the entry replaced */
	int have_old;
	void *old_raw;                  /* its raw value (index_swap) */
	size_t old_raw_len;
	int cas_lost;                   /* the optimistic "new key" switch failed */
	int flushed;                    /* some data was sent to the cluster */
	int64_t first_write_ms;         /* when stripe 0 (with the back-pointer) went out */
};

/* The back-pointer of the data @w writes. */
static void writer_bp(struct s3_be_writer *w, struct nb_bp *bp)
{
	memset(bp, 0, sizeof(*bp));
	bp->created_ms = now_ms();
	if (w->upload_id[0]) {
		bp->kind = NB_BP_PART;
		snprintf(bp->where, sizeof(bp->where), "%s", w->bw.b.inst);
		snprintf(bp->key, sizeof(bp->key), "%s", w->upload_id);
		bp->part = (uint32_t)w->part;
	} else {
		bp->kind = NB_BP_OBJ;
		shard_oid(bp->where, sizeof(bp->where), &w->bw.b, w->key);
		snprintf(bp->key, sizeof(bp->key), "%s", w->key);
	}
}

/* Drop the chunk being filled. */
static void writer_drop_cur(struct s3_be_writer *w)
{
	if (w->cur_ext)
		w->cur_ext->release(w->cur_ext);
	else
		free(w->cur);
	w->cur = NULL;
	w->cur_ext = NULL;
	w->cur_len = 0;
}

static void writer_free(struct s3_be_writer *w)
{
	free(w->old_raw);
	free(w->old);
	writer_drop_cur(w);
	free(w->key);
	free(w);
}

static void writer_commit_step(struct s3_be_writer *w);
static void writer_abort_cleanup(struct s3_be_writer *w);

/* Called on the loop after any aio of @w finishes. */
static void writer_progress(struct s3_be_writer *w)
{
	if (w->wait_cb && (w->inflight_bytes <= w->be->window || w->err)) {
		s3_be_done_cb cb = w->wait_cb;
		w->wait_cb = NULL;
		cb(w->wait_arg, w->err);
	}
	if (w->inflight == 0) {
		if (w->aborted)
			writer_abort_cleanup(w);
		else if (w->committing == 1)
			writer_commit_step(w);
	}
}

static void writer_aio_done(struct nb_aio *a)
{
	struct s3_be_writer *w = a->owner;
	if (a->result < 0 && !w->err)
		w->err = retryable((int)a->result);
	if (a->slot == 1) {
		w->intent_state = a->result < 0 ? 0 : 2;
	} else if (a->slot == 2) {
		/* back-pointer touch: an error is already in w->err */
	} else {
		NORN_ASSERT(w->inflight_bytes >= a->len);
		w->inflight_bytes -= a->len;
	}
	w->inflight--;
	aio_free(a);
	writer_progress(w);
}

/* A long upload refreshes the back-pointer of its first stripe together
 * with its intent record, so the orphan scan (which only takes data older
 * than s3_gc_orphan_ms) never takes a live upload's stripes. */
static void writer_touch_bp(struct s3_be_writer *w)
{
	struct nb *be = w->be;
	char oid[NB_OID_MAX];
	struct nb_bp bp;
	struct nb_aio *a = aio_new(be, writer_aio_done, w);
	norn_write_op_t *op = norn_write_op_create();
	int rc = a && op ? 0 : -ENOMEM;
	writer_bp(w, &bp);
	stripe_oid(oid, sizeof(oid), w->data_id, 0);
	w->first_write_ms = bp.created_ms;
	if (!rc) {
		norn_write_op_assert_exists(op);
		rc = op_add_bp(op, &bp);
	}
	if (!rc) {
		a->slot = 2;
		a->op = op;
		op = NULL;
		rc = norn_aio_write_op_operate(a->op, be->io, oid, a->c);
	}
	if (op)
		norn_write_op_release(op);
	if (rc) {
		if (a)
			aio_free(a);
		if (!w->err)
			w->err = retryable(rc);
		return;
	}
	w->inflight++;
}

/* Queue the intent record for w->data_id (before its first stripe). An
 * upload still running when half the orphan delay has passed moves its
 * record later (set the new key, drop the old one in the same op), so the
 * GC never reclaims the stripes of a live upload. */
static void writer_intent(struct s3_be_writer *w)
{
	struct nb *be = w->be;
	char oid[64], key[80], oldkey[80];
	uint8_t *v = NULL;
	size_t n = 0;
	int renew = w->intent_state == 2;
	snprintf(oldkey, sizeof(oldkey), "%016" PRIx64 ".%s", (uint64_t)w->intent_due, w->data_id);
	w->intent_due = now_ms() + be->gc_orphan_ms;
	snprintf(oid, sizeof(oid), "s3.gc.%d", gc_shard_of(be, w->data_id));
	snprintf(key, sizeof(key), "%016" PRIx64 ".%s", (uint64_t)w->intent_due, w->data_id);
	struct nb_aio *a = aio_new(be, writer_aio_done, w);
	norn_write_op_t *op = norn_write_op_create();
	int rc = a && op ? enc_gc(NB_GC_KIND_STRIPES, w->data_id, NB_SIZE_UNKNOWN, &v, &n) : -ENOMEM;
	if (!rc) {
		const char *keys[1] = { key };
		const void *vals[1] = { v };
		norn_write_op_omap_set(op, keys, vals, &n, 1);
		if (renew) {
			const char *rm[1] = { oldkey };
			norn_write_op_omap_rm_keys(op, rm, 1);
		}
		a->slot = 1;
		a->op = op;
		op = NULL;
		rc = norn_aio_write_op_operate(a->op, be->io, oid, a->c);
	}
	free(v);
	if (op)
		norn_write_op_release(op);
	if (rc) {
		if (a)
			aio_free(a);
		if (!w->err)
			w->err = retryable(rc);
		return;
	}
	w->intent_state = 1;
	w->inflight++;
	if (renew && w->first_write_ms)
		writer_touch_bp(w);
}

/* Send the filled chunk to its stripe. */
static void writer_flush(struct s3_be_writer *w)
{
	struct nb *be = w->be;
	if (!w->cur_len)
		return;
	/* An object that fits in one chunk is written at commit, right
	 * before its index entry: no intent record (a gateway crash in
	 * between leaks at most one chunk; see the file comment). */
	int single = w->committing && w->cur_off == 0 && w->cur_len <= NB_SMALL_MAX;
	if (!w->err && ((w->intent_state == 0 && !single) ||
	                (w->intent_state == 2 && now_ms() > w->intent_due - be->gc_orphan_ms / 2)))
		writer_intent(w);
	w->flushed = 1;
	char oid[NB_OID_MAX];
	uint64_t stripe = w->cur_off / be->stripe;
	stripe_oid(oid, sizeof(oid), w->data_id, stripe);
	struct nb_aio *a = aio_new(be, writer_aio_done, w);
	int rc = a ? 0 : -ENOMEM;
	if (a) {
		a->buf = w->cur;
		a->ebuf = w->cur_ext;
		a->len = w->cur_len;
		w->cur = NULL;
		w->cur_ext = NULL;
		if (w->cur_off == 0) {
			/* The first bytes carry the back-pointer, in the same op. */
			struct nb_bp bp;
			writer_bp(w, &bp);
			w->first_write_ms = bp.created_ms;
			a->op = norn_write_op_create();
			rc = a->op ? 0 : -ENOMEM;
			if (!rc) {
				norn_write_op_write(a->op, a->buf, a->len, 0);
				rc = op_add_bp(a->op, &bp);
			}
			if (!rc)
				rc = norn_aio_write_op_operate(a->op, be->io, oid, a->c);
		} else {
			rc = norn_aio_write(be->io, oid, a->c, a->buf, a->len, w->cur_off % be->stripe);
		}
	}
	w->cur_off += w->cur_len;
	w->cur_len = 0;
	w->cur_cap = 0;
	if (rc) {
		if (a)
			aio_free(a);
		if (!w->err)
			w->err = retryable(rc);
		return;
	}
	w->inflight++;
	w->inflight_bytes += a->len;
}

/* Bytes were taken: answer now, or once the chunks in flight fall under
 * the window (or with the writer's error). */
static void put_accepted(struct s3_be_writer *w, s3_be_done_cb cb, void *arg)
{
	if (w->err) {
		cb(arg, w->err);
		return;
	}
	if (w->inflight_bytes > w->be->window) {
		w->wait_cb = cb;
		w->wait_arg = arg;
		return;
	}
	cb(arg, 0);
}

static void nb_put_write(struct s3_be_writer *w, const void *p, size_t n, s3_be_done_cb cb, void *arg)
{
	struct nb *be = w->be;
	const char *c = p;
	NORN_ASSERT(!w->wait_cb && !w->committing);
	while (n && !w->err) {
		if (w->cur && w->cur_len == w->cur_cap)
			writer_flush(w);    /* an adopted buffer that was full */
		if (!w->cur) {
			uint64_t to_stripe_end = be->stripe - (w->cur_off % be->stripe);
			w->cur_cap = (size_t)NORN_MIN((uint64_t)NB_CHUNK_MAX, to_stripe_end);
			w->cur = malloc(w->cur_cap);
			if (!w->cur) {
				w->err = -ENOMEM;
				break;
			}
		}
		size_t take = NORN_MIN(n, w->cur_cap - w->cur_len);
		memcpy(w->cur + w->cur_len, c, take);
		w->cur_len += take;
		w->accepted += take;
		c += take;
		n -= take;
		if (w->cur_len == w->cur_cap)
			writer_flush(w);
	}
	put_accepted(w, cb, arg);
}

/* The chunk size at object offset @off: up to NB_CHUNK_MAX, never across
 * a stripe boundary. */
static size_t nb_put_piece_bytes(struct s3_be_writer *w, uint64_t off)
{
	uint64_t to_stripe_end = w->be->stripe - (off % w->be->stripe);
	return (size_t)NORN_MIN((uint64_t)NB_CHUNK_MAX, to_stripe_end);
}

/* Zero-copy write: with no chunk being filled, @b becomes the chunk (sent
 * at once when it is a whole chunk; otherwise kept, like a partly filled
 * chunk, so a small object is still written at commit next to its index
 * entry). Anything else is copied by put_write. */
static void nb_put_write_buf(struct s3_be_writer *w, struct s3_be_buf *b, s3_be_done_cb cb,
                             void *arg)
{
	NORN_ASSERT(!w->wait_cb && !w->committing && b->len <= b->cap);
	size_t want = nb_put_piece_bytes(w, w->cur_off);
	if (w->cur || w->err || b->len == 0 || b->len > want || w->aborted) {
		/* put_write copies before it returns, whatever it then waits for */
		const char *p = b->p;
		size_t n = b->len;
		struct s3_be_buf *hold = b;
		nb_put_write(w, p, n, cb, arg);
		hold->release(hold);
		return;
	}
	w->cur = b->p;
	w->cur_ext = b;
	w->cur_len = b->len;
	w->cur_cap = NORN_MIN(want, b->cap);
	w->accepted += b->len;
	if (b->len == want)
		writer_flush(w);
	put_accepted(w, cb, arg);
}

/* Open: a part upload must exist. */
static void popen_run(struct nb_work *wk)
{
	struct s3_be_writer *w = NORN_CONTAINER_OF((struct nb_bwork *)wk, struct s3_be_writer, bw);
	int rc = bwork_bucket(&w->bw);
	if (!rc && w->upload_id[0]) {
		char oid[NB_OID_MAX];
		void *v = NULL;
		size_t n = 0;
		snprintf(oid, sizeof(oid), "up.%s", w->bw.b.inst);
		rc = omap_get(wk->be->io, oid, w->upload_id, &v, &n);
		if (!rc)
			free(v);
	}
	wk->err = rc == -ENOENT ? rc : retryable(rc);
}

static void popen_done(struct nb_work *wk)
{
	struct s3_be_writer *w = NORN_CONTAINER_OF((struct nb_bwork *)wk, struct s3_be_writer, bw);
	if (wk->err) {
		int err = wk->err;
		s3_be_writer_cb cb = w->open_cb;
		void *arg = w->cb_arg;
		writer_free(w);
		cb(arg, err, NULL);
		return;
	}
	bwork_cache(&w->bw);
	w->open_cb(w->cb_arg, 0, w);
}

static void nb_put_open(struct s3_backend *sb, const char *bucket, const char *key,
                        const char *upload_id, int part_number, s3_be_writer_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct s3_be_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		cb(arg, -ENOMEM, NULL);
		return;
	}
	w->be = be;
	if (bwork_init(be, &w->bw, bucket) || (upload_id && !valid_id(upload_id)) ||
	    (upload_id && (part_number < 1 || part_number > NB_MAX_PARTS)) ||
	    !(w->key = strdup(upload_id ? "" : key))) {
		int err = upload_id && !valid_id(upload_id) ? -ENOENT : -EINVAL;
		writer_free(w);
		cb(arg, err, NULL);
		return;
	}
	if (upload_id)
		snprintf(w->upload_id, sizeof(w->upload_id), "%s", upload_id);
	w->part = part_number;
	random_id(w->data_id);
	w->open_cb = cb;
	w->cb_arg = arg;
	if (w->bw.have_b && !upload_id) {
		cb(arg, 0, w);
		return;
	}
	work_start(be, &w->bw.w, popen_run, popen_done);
}

/* Bookkeeping after a commit, off the reply path: queue the replaced
 * data for GC, drop our intent record, or (failed commit without an
 * intent) queue our own data. Failures only leak data, never lose it. */
struct nb_gcwork {
	struct nb_work w;
	char id[NB_ID_HEX + 1];          /* our data id */
	int64_t intent_due;
	int drop_intent;                 /* intent record to remove */
	int gc_ours;                     /* our data is garbage (abort / failed commit) */
	uint64_t size;
	int have_old;
	struct nb_entry old;             /* replaced index entry */
};

static void gcwork_run(struct nb_work *wk)
{
	struct nb_gcwork *k = (struct nb_gcwork *)wk;
	struct nb *be = wk->be;
	if (k->have_old && gc_add_entry(be, &k->old))
		NLOG(S3, WARN, "gc: could not queue replaced data %s", k->old.data_id);
	if (k->gc_ours && gc_add(be, NB_GC_KIND_STRIPES, k->id, k->size, now_ms()))
		return;          /* keep the intent: it reclaims the data later */
	if (k->drop_intent)
		(void)gc_drop_intent(be, k->id, k->intent_due);
}

static void gcwork_done(struct nb_work *wk) { free(wk); }

static void writer_bookkeeping(struct s3_be_writer *w, int committed)
{
	int have_old = committed && w->old && w->have_old;
	int gc_ours = !committed && (w->intent_state == 2 || w->flushed);
	if (!have_old && !gc_ours && w->intent_state != 2)
		return;
	struct nb_gcwork *k = calloc(1, sizeof(*k));
	if (!k)
		return;
	snprintf(k->id, sizeof(k->id), "%s", w->data_id);
	k->intent_due = w->intent_due;
	k->drop_intent = w->intent_state == 2;
	k->gc_ours = gc_ours;
	k->size = NB_SIZE_UNKNOWN;
	k->have_old = have_old;
	if (have_old)
		k->old = *w->old;
	work_start(w->be, &k->w, gcwork_run, gcwork_done);
}

/* Commit, in the pool once the data is durable: switch the index entry
 * (compare-and-swap, optimistic: a new key needs no read) or part record. */
static void pcommit_run(struct nb_work *wk)
{
	struct s3_be_writer *w = NORN_CONTAINER_OF((struct nb_bwork *)wk, struct s3_be_writer, bw);
	struct nb *be = wk->be;
	char oid[NB_OID_MAX];
	uint8_t *v = NULL;
	size_t n = 0;
	int rc = bwork_bucket(&w->bw);
	if (rc)
		goto out;
	pause_point(be, "before-index-switch");
	/* The orphan scan (and an expired intent) may take data whose
	 * back-pointer is older than s3_gc_orphan_ms: never commit data close
	 * to that age (a stalled gateway or client). A long upload refreshes
	 * the back-pointer every s3_gc_orphan_ms / 2 while data flows. */
	if (w->first_write_ms && now_ms() - w->first_write_ms > be->gc_orphan_ms / 4 * 3) {
		NLOG(S3, WARN, "commit of %s/%s: data written %" PRId64 " ms ago, too old to commit",
		     w->bw.bucket, w->key, now_ms() - w->first_write_ms);
		rc = NORN_EAGAIN;
		goto out;
	}
	if (w->upload_id[0]) {
		char pkey[16];
		struct nb_part pt, old;
		void *ov = NULL;
		size_t on = 0;
		memset(&pt, 0, sizeof(pt));
		pt.number = w->part;
		pt.size = w->en.m.size;
		pt.mtime_ms = w->en.m.mtime_ms;
		snprintf(pt.etag, sizeof(pt.etag), "%s", w->en.m.etag);
		snprintf(pt.data_id, sizeof(pt.data_id), "%s", w->data_id);
		snprintf(pkey, sizeof(pkey), "%05d", w->part);
		/* The upload must still exist (not completed or aborted). */
		snprintf(oid, sizeof(oid), "up.%s", w->bw.b.inst);
		rc = omap_get(be->io, oid, w->upload_id, &ov, &on);
		if (rc)
			goto out;
		free(ov);
		snprintf(oid, sizeof(oid), "pt.%s.%s", w->bw.b.inst, w->upload_id);
		int have_old = 0;
		if (omap_get(be->io, oid, pkey, &ov, &on) == 0) {
			old.number = w->part;
			have_old = dec_part(ov, on, &old) == 0;
			free(ov);
		}
		rc = enc_part(&pt, &v, &n);
		if (!rc)
			rc = omap_set1(be->io, oid, pkey, v, n);
		if (!rc && have_old && strcmp(old.data_id, pt.data_id))
			(void)gc_add(be, NB_GC_KIND_STRIPES, old.data_id, old.size, now_ms() + be->gc_delay_ms);
	} else {
		rc = enc_entry(&w->en, &v, &n);
		if (!rc && w->cas_lost && !w->old_raw) {
			/* the key exists: read what we replace before trying again */
			shard_oid(oid, sizeof(oid), &w->bw.b, w->key);
			rc = omap_get(be->io, oid, w->key, &w->old_raw, &w->old_raw_len);
			if (rc == -ENOENT) {
				w->old_raw = NULL;
				rc = 0;
			}
		}
		if (!rc)
			rc = index_swap(be, &w->bw.b, w->key, v, n, &w->old_raw, &w->old_raw_len, w->old,
			                &w->have_old, NB_CAS_TRIES);
	}
out:
	free(v);
	wk->err = rc == -ENOENT ? rc : retryable(rc);
}

static void pcommit_done(struct nb_work *wk)
{
	struct s3_be_writer *w = NORN_CONTAINER_OF((struct nb_bwork *)wk, struct s3_be_writer, bw);
	s3_be_done_cb cb = w->commit_cb;
	void *arg = w->cb_arg;
	int err = wk->err;
	if (!err)
		bwork_cache(&w->bw);
	if (!err && !w->upload_id[0])
		crash_point(w->be, "after-index-switch");
	writer_bookkeeping(w, !err);
	writer_free(w);
	cb(arg, err);
}

/* The common commit (a whole object, bucket known): the optimistic index
 * switch "no entry yet -> ours" as an asynchronous compound op straight
 * from the loop (no thread-pool hop). If the key exists (compare failed)
 * the pool path reads the entry and switches with compare-and-swap. */
static void pcommit_aio_done(struct nb_aio *a)
{
	struct s3_be_writer *w = a->owner;
	int rc = (int)a->result;
	aio_free(a);
	if (rc == -ECANCELED) {
		w->cas_lost = 1;
		work_start(w->be, &w->bw.w, pcommit_run, pcommit_done);
		return;
	}
	w->have_old = 0;
	w->bw.w.err = rc == -ENOENT ? rc : retryable(rc);
	pcommit_done(&w->bw.w);
}

static int pcommit_async(struct s3_be_writer *w)
{
	struct nb *be = w->be;
	char oid[NB_OID_MAX];
	uint8_t *v = NULL;
	size_t n = 0;
	if (w->first_write_ms && now_ms() - w->first_write_ms > be->gc_orphan_ms / 4 * 3)
		return -ETIMEDOUT;     /* the pool path refuses it with a message */
	struct nb_aio *a = aio_new(be, pcommit_aio_done, w);
	int rc = a && (a->op = norn_write_op_create()) ? enc_entry(&w->en, &v, &n) : -ENOMEM;
	if (!rc) {
		const char *keys[1] = { w->key };
		const void *vals[1] = { v };
		norn_write_op_omap_cmp(a->op, w->key, NULL, 0);
		norn_write_op_omap_set(a->op, keys, vals, &n, 1);
		shard_oid(oid, sizeof(oid), &w->bw.b, w->key);
		rc = norn_aio_write_op_operate(a->op, be->io, oid, a->c);
	}
	free(v);
	if (rc && a)
		aio_free(a);
	return rc;
}

static void writer_commit_step(struct s3_be_writer *w)
{
	w->committing = 2;
	if (w->err) {
		/* The data never became visible: reclaim it. */
		s3_be_done_cb cb = w->commit_cb;
		void *arg = w->cb_arg;
		int err = w->err;
		writer_bookkeeping(w, 0);
		writer_free(w);
		cb(arg, err);
		return;
	}
	crash_point(w->be, w->upload_id[0] ? "after-part-write" : "after-data-write");
	w->bw.w.err = 0;
	w->bw.w.be = w->be;
	if (!w->upload_id[0] && w->be->loop && !w->be->pause_at[0] && w->bw.have_b &&
	    pcommit_async(w) == 0)
		return;
	work_start(w->be, &w->bw.w, pcommit_run, pcommit_done);
}

static void nb_put_commit(struct s3_be_writer *w, const struct s3_obj_meta *m, s3_be_done_cb cb,
                          void *arg)
{
	NORN_ASSERT(!w->committing && !w->wait_cb);
	w->committing = 1;
	w->commit_cb = cb;
	w->cb_arg = arg;
	w->en.m = *m;
	if (!w->en.m.mtime_ms)
		w->en.m.mtime_ms = now_ms();
	snprintf(w->en.data_id, sizeof(w->en.data_id), "%s", w->data_id);
	w->en.stripe = w->be->stripe;
	if (!w->upload_id[0] && !w->err) {
		w->old = malloc(sizeof(*w->old));
		if (!w->old)
			w->err = -ENOMEM;
	}
	writer_flush(w);
	writer_progress(w);
}

static void writer_abort_cleanup(struct s3_be_writer *w)
{
	writer_bookkeeping(w, 0);
	writer_free(w);
}

static void nb_put_abort(struct s3_be_writer *w)
{
	w->aborted = 1;
	w->wait_cb = NULL;
	writer_drop_cur(w);
	if (w->inflight == 0)
		writer_abort_cleanup(w);
}

/* --- reading ------------------------------------------------------------------ */

struct s3_be_reader {
	struct nb *be;
	struct nb_bwork bw;
	char *key;
	struct nb_entry en;
	struct nb_mf_part *parts;       /* multipart: the manifest */
	uint32_t nparts;
	s3_be_reader_cb open_cb;
	void *open_arg;
	s3_be_read_cb read_cb;
	void *read_arg;
	size_t want;
	int reading;
	int closed;
	struct norn_list *ilist;        /* async index lookup output */
	int ilist_rval;
};

static void reader_free(struct s3_be_reader *r)
{
	free(r->parts);
	free(r->key);
	free(r);
}

static int manifest_read(struct nb *be, const char *id, struct nb_mf_part **out, uint32_t *nout)
{
	char oid[NB_OID_MAX];
	uint64_t size = 0, mt = 0;
	snprintf(oid, sizeof(oid), "mf.%s", id);
	/* One read covers manifests of up to ~1,000 parts (one round trip);
	 * larger ones are sized with a stat and read again. */
	size_t cap = 64u << 10;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	ssize_t r = norn_read(be->io, oid, buf, cap, 0);
	if (r >= 0 && (size_t)r == cap) {
		free(buf);
		int rc = norn_stat(be->io, oid, &size, &mt);
		if (rc)
			return rc;
		if (size > (uint64_t)NB_MAX_PARTS * 64 + 64)
			return NORN_ECORRUPT;
		buf = malloc(size ? size : 1);
		if (!buf)
			return -ENOMEM;
		r = norn_read(be->io, oid, buf, size, 0);
		if (r >= 0 && (uint64_t)r != size)
			r = -EIO;
	}
	if (r < 0) {
		free(buf);
		return (int)r;
	}
	size = (uint64_t)r;
	int rc;
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	dec_init(&d, buf, size);
	dec_struct_begin(&d, 1, &ver, &tok);
	uint32_t n = dec_count(&d, NB_MAX_PARTS, 9);
	struct nb_mf_part *p = calloc(n ? n : 1, sizeof(*p));
	uint64_t start = 0;
	for (uint32_t i = 0; p && i < n && !dec_error(&d); i++) {
		dec_str(&d, p[i].data_id, sizeof(p[i].data_id));
		p[i].size = dec_u64(&d);
		p[i].start = start;
		start += p[i].size;
		if (!dec_error(&d) && !valid_id(p[i].data_id))
			dec_fail(&d, NORN_ECORRUPT);
	}
	dec_struct_end(&d, &tok);
	rc = !p ? -ENOMEM : dec_error(&d);
	free(buf);
	if (rc) {
		free(p);
		return rc;
	}
	*out = p;
	*nout = n;
	return 0;
}

static void gopen_run(struct nb_work *wk)
{
	struct s3_be_reader *r = NORN_CONTAINER_OF((struct nb_bwork *)wk, struct s3_be_reader, bw);
	int rc = bwork_bucket(&r->bw);
	if (!rc)
		rc = entry_read(wk->be, &r->bw.b, r->key, &r->en);
	if (!rc && r->en.m.nparts) {
		rc = manifest_read(wk->be, r->en.data_id, &r->parts, &r->nparts);
		uint64_t total = 0;
		for (uint32_t i = 0; !rc && i < r->nparts; i++)
			total += r->parts[i].size;
		if (!rc && total != r->en.m.size)
			rc = NORN_ECORRUPT;
		if (rc == -ENOENT)
			rc = -EIO;        /* index points at a missing manifest */
	}
	wk->err = rc == -ENOENT ? rc : retryable(rc);
}

static void gopen_done(struct nb_work *wk)
{
	struct s3_be_reader *r = NORN_CONTAINER_OF((struct nb_bwork *)wk, struct s3_be_reader, bw);
	if (wk->err) {
		s3_be_reader_cb cb = r->open_cb;
		void *arg = r->open_arg;
		int err = wk->err;
		reader_free(r);
		cb(arg, err, NULL, NULL);
		return;
	}
	bwork_cache(&r->bw);
	r->open_cb(r->open_arg, 0, r, &r->en.m);
}

/* The common GET (bucket cached, simple object): the index entry is read
 * with an asynchronous read op straight from the loop, one round trip and
 * no thread-pool hop (omap_get_vals with the key as prefix, at most one:
 * the key itself if it exists). Multipart objects continue in the pool
 * (their manifest). */
static void gopen_aio_done(struct nb_aio *a)
{
	struct s3_be_reader *r = a->owner;
	struct norn_list *l = r->ilist;
	int rc = (int)a->result;
	if (!rc)
		rc = r->ilist_rval;
	if (!rc && (l->n == 0 || strcmp(l->items[0].key, r->key)))
		rc = -ENOENT;
	if (rc == -ENOENT || rc == -ENODATA)
		rc = -ENOENT;
	if (!rc)
		rc = dec_entry(l->items[0].val, l->items[0].val_len, &r->en);
	norn_list_free(l);
	free(l);
	r->ilist = NULL;
	aio_free(a);
	if (!rc && r->en.m.nparts) {
		/* multipart: read the manifest in the pool */
		work_start(r->be, &r->bw.w, gopen_run, gopen_done);
		return;
	}
	r->bw.w.err = rc == -ENOENT ? rc : retryable(rc);
	gopen_done(&r->bw.w);
}

static int gopen_async(struct s3_be_reader *r)
{
	struct nb *be = r->be;
	char oid[NB_OID_MAX];
	struct nb_aio *a = aio_new(be, gopen_aio_done, r);
	r->ilist = calloc(1, sizeof(*r->ilist));
	if (!a || !r->ilist || !(a->rop = norn_read_op_create())) {
		if (a)
			aio_free(a);
		free(r->ilist);
		r->ilist = NULL;
		return -ENOMEM;
	}
	shard_oid(oid, sizeof(oid), &r->bw.b, r->key);
	norn_read_op_omap_get_vals(a->rop, "", r->key, 1, r->ilist, &r->ilist_rval);
	int rc = norn_aio_read_op_operate(a->rop, be->io, oid, a->c);
	if (rc) {
		aio_free(a);
		free(r->ilist);
		r->ilist = NULL;
	}
	return rc;
}

static void nb_get_open(struct s3_backend *sb, const char *bucket, const char *key,
                        s3_be_reader_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct s3_be_reader *r = calloc(1, sizeof(*r));
	if (!r || bwork_init(be, &r->bw, bucket) || !(r->key = strdup(key))) {
		if (r)
			reader_free(r);
		cb(arg, r ? -EINVAL : -ENOMEM, NULL, NULL);
		return;
	}
	r->be = be;
	r->open_cb = cb;
	r->open_arg = arg;
	if (r->bw.have_b && be->loop && gopen_async(r) == 0)
		return;
	work_start(be, &r->bw.w, gopen_run, gopen_done);
}

static void reader_aio_done(struct nb_aio *a)
{
	struct s3_be_reader *r = a->owner;
	ssize_t res = a->result;
	aio_free(a);
	r->reading = 0;
	if (r->closed) {
		reader_free(r);
		return;
	}
	int err = 0;
	size_t n = 0;
	if (res < 0)
		err = res == -ENOENT ? -EIO : retryable((int)res);
	else if (res == 0)
		err = -EIO;            /* inside the object: a stripe is short */
	else
		n = (size_t)res;
	r->read_cb(r->read_arg, err, n);
}

static void nb_get_read(struct s3_be_reader *r, uint64_t off, void *buf, size_t n,
                        s3_be_read_cb cb, void *arg)
{
	struct nb *be = r->be;
	NORN_ASSERT(!r->reading && !r->closed);
	if (off >= r->en.m.size || n == 0) {
		cb(arg, 0, 0);
		return;
	}
	n = (size_t)NORN_MIN((uint64_t)n, r->en.m.size - off);
	const char *id = r->en.data_id;
	uint64_t in = off, limit = r->en.m.size;
	if (r->nparts) {
		uint32_t lo = 0, hi = r->nparts;
		while (hi - lo > 1) {
			uint32_t mid = (lo + hi) / 2;
			if (r->parts[mid].start <= off)
				lo = mid;
			else
				hi = mid;
		}
		while (lo < r->nparts && r->parts[lo].start + r->parts[lo].size <= off)
			lo++;
		if (lo == r->nparts) {
			cb(arg, -EIO, 0);
			return;
		}
		id = r->parts[lo].data_id;
		in = off - r->parts[lo].start;
		limit = r->parts[lo].size;
	}
	/* A simple object keeps the stripe size it was written with; parts
	 * record none, so they use the gateway's (which must not change while
	 * uploads are in progress). */
	uint64_t stripe_sz = r->nparts ? be->stripe : r->en.stripe;
	uint64_t stripe = in / stripe_sz, soff = in % stripe_sz;
	n = (size_t)NORN_MIN((uint64_t)n, stripe_sz - soff);
	n = (size_t)NORN_MIN((uint64_t)n, limit - in);
	char oid[NB_OID_MAX];
	stripe_oid(oid, sizeof(oid), id, stripe);
	struct nb_aio *a = aio_new(be, reader_aio_done, r);
	if (!a) {
		cb(arg, -ENOMEM, 0);
		return;
	}
	r->read_cb = cb;
	r->read_arg = arg;
	r->reading = 1;
	int rc = norn_aio_read(be->io, oid, a->c, buf, n, soff);
	if (rc) {
		r->reading = 0;
		aio_free(a);
		cb(arg, retryable(rc), 0);
	}
}

static void nb_get_close(struct s3_be_reader *r)
{
	if (r->reading) {
		r->closed = 1;          /* freed when the read lands */
		return;
	}
	reader_free(r);
}

/* --- multipart ------------------------------------------------------------------ */

struct nb_mwork {
	struct nb_bwork bw;
	char *key;
	char upload_id[NB_ID_HEX + 1];
	struct s3_obj_meta m;
	struct s3_obj_meta cm;          /* complete: the caller's final meta */
	int64_t initiated;
	int *numbers;
	size_t nnum;
	struct nb_part *parts;
	size_t nparts, cap;
	struct s3_upload_info *ups;
	char **upkeys;
	struct s3_obj_meta *upmeta;
	size_t nups, upcap;
	s3_be_done_cb done_cb;
	s3_be_id_cb id_cb;
	s3_be_upload_cb up_cb;
	s3_be_uploads_cb ups_cb;
	s3_be_parts_cb parts_cb;
	void *arg;
};

static struct nb_mwork *mwork_new(struct nb *be, const char *bucket, const char *upload_id)
{
	struct nb_mwork *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	if (bwork_init(be, &k->bw, bucket)) {
		free(k);
		return NULL;
	}
	if (upload_id)
		snprintf(k->upload_id, sizeof(k->upload_id), "%s", upload_id);
	return k;
}

static void mwork_free(struct nb_mwork *k)
{
	for (size_t i = 0; i < k->nups; i++)
		free(k->upkeys[i]);
	free(k->upkeys);
	free(k->upmeta);
	free(k->ups);
	free(k->parts);
	free(k->numbers);
	free(k->key);
	free(k);
}

static void mcreate_run(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	char oid[NB_OID_MAX];
	uint8_t *v = NULL;
	size_t n = 0;
	int rc = bwork_bucket(&k->bw);
	if (!rc) {
		snprintf(oid, sizeof(oid), "up.%s", k->bw.b.inst);
		rc = enc_upload(k->key, now_ms(), &k->m, &v, &n);
	}
	if (!rc)
		rc = omap_set1(wk->be->io, oid, k->upload_id, v, n);
	free(v);
	wk->err = rc == -ENOENT ? rc : retryable(rc);
}

static void mcreate_done(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	if (!wk->err)
		bwork_cache(&k->bw);
	k->id_cb(k->arg, wk->err, wk->err ? NULL : k->upload_id);
	mwork_free(k);
}

static void nb_mpu_create(struct s3_backend *sb, const char *bucket, const char *key,
                          const struct s3_obj_meta *m, s3_be_id_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct nb_mwork *k = mwork_new(be, bucket, NULL);
	if (!k || !(k->key = strdup(key))) {
		if (k)
			mwork_free(k);
		cb(arg, -ENOMEM, NULL);
		return;
	}
	random_id(k->upload_id);
	k->m = *m;
	k->id_cb = cb;
	k->arg = arg;
	work_start(be, &k->bw.w, mcreate_run, mcreate_done);
}

static int upload_read(struct nb_mwork *k)
{
	char oid[NB_OID_MAX];
	void *v = NULL;
	size_t n = 0;
	snprintf(oid, sizeof(oid), "up.%s", k->bw.b.inst);
	int rc = omap_get(k->bw.w.be->io, oid, k->upload_id, &v, &n);
	if (rc)
		return rc;
	free(k->key);
	k->key = NULL;
	rc = dec_upload(v, n, &k->key, &k->initiated, &k->m);
	free(v);
	return rc;
}

static void mget_run(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	int rc = bwork_bucket(&k->bw);
	if (!rc)
		rc = upload_read(k);
	wk->err = rc == -ENOENT ? rc : retryable(rc);
}

static void mget_done(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	struct s3_upload_info u;
	memset(&u, 0, sizeof(u));
	if (!wk->err) {
		bwork_cache(&k->bw);
		snprintf(u.upload_id, sizeof(u.upload_id), "%s", k->upload_id);
		u.key = k->key;
		u.initiated_ms = k->initiated;
		u.meta = &k->m;
	}
	k->up_cb(k->arg, wk->err, wk->err ? NULL : &u);
	mwork_free(k);
}

static void nb_mpu_get(struct s3_backend *sb, const char *bucket, const char *upload_id,
                       s3_be_upload_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	if (!valid_id(upload_id)) {
		cb(arg, -ENOENT, NULL);
		return;
	}
	struct nb_mwork *k = mwork_new(be, bucket, upload_id);
	if (!k) {
		cb(arg, -ENOMEM, NULL);
		return;
	}
	k->up_cb = cb;
	k->arg = arg;
	work_start(be, &k->bw.w, mget_run, mget_done);
}

static int parts_add(void *arg, const struct norn_kv *kv)
{
	struct nb_mwork *k = arg;
	if (k->nparts == k->cap) {
		size_t nc = k->cap ? k->cap * 2 : 16;
		struct nb_part *np = realloc(k->parts, nc * sizeof(*np));
		if (!np)
			return -ENOMEM;
		k->parts = np;
		k->cap = nc;
	}
	struct nb_part *p = &k->parts[k->nparts];
	char *end;
	long num = strtol(kv->key, &end, 10);
	if (*end || num < 1 || num > NB_MAX_PARTS)
		return 0;
	p->number = (int)num;
	if (dec_part(kv->val, kv->val_len, p))
		return 0;
	k->nparts++;
	return 0;
}

static int parts_read(struct nb_mwork *k)
{
	char oid[NB_OID_MAX];
	snprintf(oid, sizeof(oid), "pt.%s.%s", k->bw.b.inst, k->upload_id);
	return omap_each(k->bw.w.be->io, oid, "", NB_MAX_PARTS, parts_add, k);
}

static void mparts_run(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	int rc = bwork_bucket(&k->bw);
	if (!rc)
		rc = upload_read(k);
	if (!rc)
		rc = parts_read(k);
	wk->err = rc == -ENOENT ? rc : retryable(rc);
}

static void mparts_done(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	struct s3_part_info *pi = NULL;
	int err = wk->err;
	if (!err) {
		bwork_cache(&k->bw);
		pi = calloc(k->nparts + 1, sizeof(*pi));
		if (!pi)
			err = -ENOMEM;
		for (size_t i = 0; pi && i < k->nparts; i++) {
			pi[i].number = k->parts[i].number;
			pi[i].size = k->parts[i].size;
			pi[i].mtime_ms = k->parts[i].mtime_ms;
			memcpy(pi[i].etag, k->parts[i].etag, sizeof(pi[i].etag));
		}
	}
	k->parts_cb(k->arg, err, err ? NULL : pi, err ? 0 : k->nparts);
	free(pi);
	mwork_free(k);
}

static void nb_mpu_parts(struct s3_backend *sb, const char *bucket, const char *upload_id,
                         s3_be_parts_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	if (!valid_id(upload_id)) {
		cb(arg, -ENOENT, NULL, 0);
		return;
	}
	struct nb_mwork *k = mwork_new(be, bucket, upload_id);
	if (!k) {
		cb(arg, -ENOMEM, NULL, 0);
		return;
	}
	k->parts_cb = cb;
	k->arg = arg;
	work_start(be, &k->bw.w, mparts_run, mparts_done);
}

static void mcomplete_run(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	struct nb *be = wk->be;
	char oid[NB_OID_MAX];
	char *used = NULL;
	uint8_t *v = NULL;
	size_t n = 0;
	struct nb_entry *en = NULL, *old = NULL;
	struct enc e;
	int rc = bwork_bucket(&k->bw);
	enc_init(&e, 256);
	if (!rc)
		rc = upload_read(k);
	if (!rc)
		rc = parts_read(k);
	if (rc)
		goto out;
	used = calloc(k->nparts + 1, 1);
	en = calloc(1, sizeof(*en));
	old = malloc(sizeof(*old));
	if (!used || !en || !old) {
		rc = -ENOMEM;
		goto out;
	}
	/* Manifest: the chosen parts in order (parts are sorted by number). */
	size_t t = enc_struct_begin(&e, 1, 1);
	enc_u32(&e, (uint32_t)k->nnum);
	uint64_t total = 0;
	size_t j = 0;
	for (size_t i = 0; i < k->nnum; i++) {
		while (j < k->nparts && k->parts[j].number < k->numbers[i])
			j++;
		if (j == k->nparts || k->parts[j].number != k->numbers[i]) {
			rc = -EINVAL;
			goto out;
		}
		used[j] = 1;
		enc_str(&e, k->parts[j].data_id);
		enc_u64(&e, k->parts[j].size);
		total += k->parts[j].size;
	}
	enc_struct_end(&e, t);
	if ((rc = enc_error(&e)))
		goto out;
	/* The caller's meta (etag, nparts, headers from create) is final. */
	en->m = k->cm;
	en->m.size = total;
	if (!en->m.nparts)
		en->m.nparts = (uint32_t)k->nnum;
	/* The object's data id is the upload id: a completion retried after a
	 * crash rewrites the same manifest, and the parts' back-pointers
	 * (upload id) lead the GC to it. */
	snprintf(en->data_id, sizeof(en->data_id), "%s", k->upload_id);
	en->stripe = be->stripe;
	/* 1. The manifest, with its back-pointer to the index entry. */
	snprintf(oid, sizeof(oid), "mf.%s", en->data_id);
	{
		struct nb_bp *bp = calloc(1, sizeof(*bp));
		norn_write_op_t *op = norn_write_op_create();
		rc = bp && op ? 0 : -ENOMEM;
		if (!rc) {
			bp->kind = NB_BP_MF;
			bp->created_ms = now_ms();
			shard_oid(bp->where, sizeof(bp->where), &k->bw.b, k->key);
			snprintf(bp->key, sizeof(bp->key), "%s", k->key);
			norn_write_op_write_full(op, e.buf, e.len);
			rc = op_add_bp(op, bp);
		}
		if (!rc)
			rc = norn_write_op_operate(op, be->io, oid);
		if (op)
			norn_write_op_release(op);
		free(bp);
	}
	if (rc)
		goto out;
	crash_point(be, "complete-after-manifest");
	pause_point(be, "complete-after-manifest");
	/* 2. The upload must still exist: an abort that removed it before
	 * this point owns the parts (and reclaims them); after this point the
	 * manifest protects them from the abort's GC records. */
	{
		void *uv = NULL;
		size_t un = 0;
		snprintf(oid, sizeof(oid), "up.%s", k->bw.b.inst);
		rc = omap_get(be->io, oid, k->upload_id, &uv, &un);
		free(uv);
	}
	if (rc) {
		snprintf(oid, sizeof(oid), "mf.%s", en->data_id);
		(void)norn_remove(be->io, oid);
		goto out;
	}
	/* 3. Switch the index entry. A retried completion finds its own
	 * manifest there already: nothing to reclaim. */
	int have_old = 0;
	void *raw = NULL;
	size_t rl = 0;
	shard_oid(oid, sizeof(oid), &k->bw.b, k->key);
	rc = omap_get(be->io, oid, k->key, &raw, &rl);
	if (rc == -ENOENT) {
		raw = NULL;
		rc = 0;
	}
	if (!rc)
		rc = enc_entry(en, &v, &n);
	if (!rc)
		rc = index_swap(be, &k->bw.b, k->key, v, n, &raw, &rl, old, &have_old, NB_CAS_TRIES);
	free(raw);
	if (have_old && !strcmp(old->data_id, en->data_id))
		have_old = 0;
	if (rc) {
		/* The upload is still there: the client may retry or abort (the
		 * abort queues this manifest too). */
		NLOG(S3, ERR, "complete %s/%s: index update failed (%s)", k->bw.bucket, k->key,
		     norn_strerror(rc));
		goto out;
	}
	crash_point(be, "complete-after-index");
	/* 4. Retire the upload (from here it is no longer listed), then the
	 * bookkeeping: failures only leave work for the GC and orphan scan. */
	snprintf(oid, sizeof(oid), "up.%s", k->bw.b.inst);
	if (omap_rm1(be->io, oid, k->upload_id))
		NLOG(S3, WARN, "complete %s/%s: upload record left behind", k->bw.bucket, k->key);
	if (have_old)
		(void)gc_add_entry(be, old);
	for (size_t i = 0; i < k->nparts; i++)
		if (!used[i])
			(void)gc_add(be, NB_GC_KIND_STRIPES, k->parts[i].data_id, k->parts[i].size,
			             now_ms());
	snprintf(oid, sizeof(oid), "pt.%s.%s", k->bw.b.inst, k->upload_id);
	(void)norn_remove(be->io, oid);
out:
	enc_free(&e);
	free(v);
	free(used);
	free(en);
	free(old);
	wk->err = rc == -ENOENT || rc == -EINVAL ? rc : retryable(rc);
}

static void mdone_done(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	if (!wk->err)
		bwork_cache(&k->bw);
	k->done_cb(k->arg, wk->err);
	mwork_free(k);
}

static void nb_mpu_complete(struct s3_backend *sb, const char *bucket, const char *upload_id,
                            const int *numbers, size_t n, const struct s3_obj_meta *m,
                            s3_be_done_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	if (!valid_id(upload_id)) {
		cb(arg, -ENOENT);
		return;
	}
	if (n == 0 || n > NB_MAX_PARTS) {
		cb(arg, -EINVAL);
		return;
	}
	struct nb_mwork *k = mwork_new(be, bucket, upload_id);
	if (!k || !(k->numbers = malloc(n * sizeof(int)))) {
		if (k)
			mwork_free(k);
		cb(arg, -ENOMEM);
		return;
	}
	memcpy(k->numbers, numbers, n * sizeof(int));
	for (size_t i = 1; i < n; i++)
		if (numbers[i] <= numbers[i - 1]) {
			mwork_free(k);
			cb(arg, -EINVAL);
			return;
		}
	k->nnum = n;
	k->done_cb = cb;
	k->arg = arg;
	k->cm = *m;
	work_start(be, &k->bw.w, mcomplete_run, mdone_done);
}

static void mabort_run(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	struct nb *be = wk->be;
	char oid[NB_OID_MAX];
	int rc = bwork_bucket(&k->bw);
	if (!rc)
		rc = upload_read(k);
	if (!rc)
		rc = parts_read(k);
	if (!rc) {
		snprintf(oid, sizeof(oid), "up.%s", k->bw.b.inst);
		rc = omap_rm1(be->io, oid, k->upload_id);
	}
	if (!rc) {
		/* A completion interrupted before its index switch left a
		 * manifest named after the upload: the GC removes it (and the
		 * parts) unless the index entry names it. */
		(void)gc_add(be, NB_GC_KIND_MANIFEST, k->upload_id, 0, now_ms());
		for (size_t i = 0; i < k->nparts; i++)
			(void)gc_add(be, NB_GC_KIND_STRIPES, k->parts[i].data_id, k->parts[i].size, now_ms());
		snprintf(oid, sizeof(oid), "pt.%s.%s", k->bw.b.inst, k->upload_id);
		(void)norn_remove(be->io, oid);
	}
	wk->err = rc == -ENOENT ? rc : retryable(rc);
}

static void nb_mpu_abort(struct s3_backend *sb, const char *bucket, const char *upload_id,
                         s3_be_done_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	if (!valid_id(upload_id)) {
		cb(arg, -ENOENT);
		return;
	}
	struct nb_mwork *k = mwork_new(be, bucket, upload_id);
	if (!k) {
		cb(arg, -ENOMEM);
		return;
	}
	k->done_cb = cb;
	k->arg = arg;
	work_start(be, &k->bw.w, mabort_run, mdone_done);
}

static int ups_add(void *arg, const struct norn_kv *kv)
{
	struct nb_mwork *k = arg;
	if (!valid_id(kv->key))
		return 0;
	if (k->nups == k->upcap) {
		size_t nc = k->upcap ? k->upcap * 2 : 16;
		struct s3_upload_info *nu = realloc(k->ups, nc * sizeof(*nu));
		if (!nu)
			return -ENOMEM;
		k->ups = nu;
		char **nk = realloc(k->upkeys, nc * sizeof(*nk));
		if (!nk)
			return -ENOMEM;
		k->upkeys = nk;
		struct s3_obj_meta *nm = realloc(k->upmeta, nc * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		k->upmeta = nm;
		k->upcap = nc;
	}
	size_t i = k->nups;
	int64_t init;
	if (dec_upload(kv->val, kv->val_len, &k->upkeys[i], &init, &k->upmeta[i]))
		return 0;
	memset(&k->ups[i], 0, sizeof(k->ups[i]));
	snprintf(k->ups[i].upload_id, sizeof(k->ups[i].upload_id), "%s", kv->key);
	k->ups[i].initiated_ms = init;
	k->nups++;
	return 0;
}

static int up_cmp(const void *a, const void *b)
{
	const struct s3_upload_info *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	if (x->initiated_ms != y->initiated_ms)
		return x->initiated_ms < y->initiated_ms ? -1 : 1;
	return strcmp(x->upload_id, y->upload_id);
}

static void mlist_run(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	char oid[NB_OID_MAX];
	int rc = bwork_bucket(&k->bw);
	if (!rc) {
		snprintf(oid, sizeof(oid), "up.%s", k->bw.b.inst);
		rc = omap_each(wk->be->io, oid, "", NB_MAX_UPLOADS_LISTED, ups_add, k);
		if (rc == -E2BIG)
			rc = 0;          /* list the first NB_MAX_UPLOADS_LISTED */
	}
	if (!rc) {
		for (size_t i = 0; i < k->nups; i++) {
			k->ups[i].key = k->upkeys[i];
			k->ups[i].meta = &k->upmeta[i];
		}
		/* Sorting moves the infos, which keep pointing at their key/meta. */
		if (k->nups)
			qsort(k->ups, k->nups, sizeof(*k->ups), up_cmp);
	}
	wk->err = rc == -ENOENT ? rc : retryable(rc);
}

static void mlist_done(struct nb_work *wk)
{
	struct nb_mwork *k = (struct nb_mwork *)wk;
	if (!wk->err)
		bwork_cache(&k->bw);
	k->ups_cb(k->arg, wk->err, wk->err ? NULL : k->ups, wk->err ? 0 : k->nups);
	mwork_free(k);
}

static void nb_mpu_list(struct s3_backend *sb, const char *bucket, s3_be_uploads_cb cb, void *arg)
{
	struct nb *be = (struct nb *)sb;
	struct nb_mwork *k = mwork_new(be, bucket, NULL);
	if (!k) {
		cb(arg, -ENOMEM, NULL, 0);
		return;
	}
	k->ups_cb = cb;
	k->arg = arg;
	work_start(be, &k->bw.w, mlist_run, mlist_done);
}

/* --- garbage collector -------------------------------------------------------- */

/* Remove the stripes of @id: @size bytes worth, or (size unknown) until
 * several in a row are missing. Stripe 0 goes last: it carries the
 * back-pointer, so a pass interrupted here is finished by the orphan scan. */
static int gc_remove_stripes(struct nb *be, const char *id, uint64_t size, uint64_t *removed)
{
	char oid[NB_OID_MAX];
	int rc;
	if (size != NB_SIZE_UNKNOWN) {
		uint64_t n = (size + be->stripe - 1) / be->stripe;
		for (uint64_t s = 1; s < n; s++) {
			stripe_oid(oid, sizeof(oid), id, s);
			rc = norn_remove(be->io, oid);
			if (rc && rc != -ENOENT)
				return rc;
			*removed += rc == 0;
		}
	} else {
		int missing = 0;
		for (uint64_t s = 1; missing < 4 && s < (1ull << 32); s++) {
			stripe_oid(oid, sizeof(oid), id, s);
			rc = norn_remove(be->io, oid);
			if (rc && rc != -ENOENT)
				return rc;
			missing = rc == -ENOENT ? missing + 1 : 0;
			*removed += rc == 0;
		}
	}
	stripe_oid(oid, sizeof(oid), id, 0);
	rc = norn_remove(be->io, oid);
	if (rc && rc != -ENOENT)
		return rc;
	*removed += rc == 0;
	return 0;
}

/* Remove data id @id's stripes unless its back-pointer says something
 * still references it. */
static int gc_stripes_checked(struct nb *be, const char *id, uint64_t size, uint64_t *removed)
{
	char oid[NB_OID_MAX];
	struct nb_bp *bp = malloc(sizeof(*bp));
	if (!bp)
		return -ENOMEM;
	stripe_oid(oid, sizeof(oid), id, 0);
	int rc = bp_read(be, oid, bp);
	if (rc == 0) {
		rc = bp_live(be, id, bp);
		if (rc == 1)
			NLOG(S3, DEBUG, "gc: data %s is still referenced: kept", id);
	} else if (rc == -ENODATA || rc == -ENOENT || rc == NORN_ECORRUPT) {
		rc = 0;              /* nothing names a referrer: the record decides */
	}
	free(bp);
	if (rc)
		return rc < 0 ? rc : 0;
	return gc_remove_stripes(be, id, size, removed);
}

/* Remove manifest @id (unless its index entry still names it) and then
 * the parts it lists that nothing else references. The manifest goes
 * first: a part record (an upload being completed again) keeps its part. */
static int gc_manifest(struct nb *be, const char *id, int check, uint64_t *removed)
{
	char oid[NB_OID_MAX];
	struct nb_mf_part *p = NULL;
	uint32_t n = 0;
	snprintf(oid, sizeof(oid), "mf.%s", id);
	if (check) {
		struct nb_bp *bp = malloc(sizeof(*bp));
		if (!bp)
			return -ENOMEM;
		int rc = bp_read(be, oid, bp);
		if (rc == 0)
			rc = bp_live(be, id, bp);
		else if (rc == -ENODATA || rc == NORN_ECORRUPT)
			rc = 0;
		free(bp);
		if (rc == -ENOENT)
			return 0;
		if (rc)
			return rc < 0 ? rc : 0;
	}
	int rc = manifest_read(be, id, &p, &n);
	if (rc == -ENOENT)
		return 0;
	if (rc == NORN_ECORRUPT)
		n = 0;
	else if (rc)
		return rc;
	rc = norn_remove(be->io, oid);
	if (rc == -ENOENT)
		rc = 0;
	for (uint32_t i = 0; !rc && i < n; i++)
		rc = gc_stripes_checked(be, p[i].data_id, p[i].size, removed);
	free(p);
	return rc;
}

static int gc_one(struct nb *be, const void *val, size_t len, uint64_t *removed)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	char id[NB_ID_HEX + 1];
	dec_init(&d, val, len);
	dec_struct_begin(&d, 1, &ver, &tok);
	int kind = dec_u8(&d);
	dec_str(&d, id, sizeof(id));
	uint64_t size = dec_u64(&d);
	dec_struct_end(&d, &tok);
	if (dec_error(&d) || !valid_id(id))
		return 0;             /* damaged record: drop it */
	if (kind == NB_GC_KIND_STRIPES)
		return gc_stripes_checked(be, id, size, removed);
	if (kind != NB_GC_KIND_MANIFEST)
		return 0;
	return gc_manifest(be, id, 1, removed);
}

/* --- orphan scan ----------------------------------------------------------------
 *
 * Lists the pool a page at a time from a cursor and removes data nothing
 * references: a d.<id>.0 stripe or an mf.<id> manifest whose back-pointer
 * is older than @grace_ms and names an index entry, part record or
 * manifest that does not name it (with the rest of its stripes); a stripe
 * d.<id>.<n> whose stripe 0 is gone, older than @grace_ms by the OSD's
 * clock. Data without a back-pointer (written by older gateways) is left
 * alone. Bounded by @max objects per call and resumable: *@cursor is
 * where the next call starts ("" when the pool was covered: *@done = 1). */
static int parse_data_oid(const char *name, char id[NB_ID_HEX + 1], uint64_t *stripe)
{
	if (strncmp(name, "d.", 2) || strlen(name) != 2 + NB_ID_HEX + 1 + 8 || name[2 + NB_ID_HEX] != '.')
		return -EINVAL;
	memcpy(id, name + 2, NB_ID_HEX);
	id[NB_ID_HEX] = 0;
	if (!valid_id(id))
		return -EINVAL;
	char *end;
	*stripe = strtoull(name + 3 + NB_ID_HEX, &end, 16);
	return *end ? -EINVAL : 0;
}

static int scan_one(struct nb *be, const char *name, int64_t grace_ms, uint64_t *orphans,
                    uint64_t *removed)
{
	char id[NB_ID_HEX + 1], oid[NB_OID_MAX];
	uint64_t stripe = 0;
	int64_t now = now_ms();
	int rc;
	if (!strncmp(name, "mf.", 3)) {
		if (strlen(name) != 3 + NB_ID_HEX || !valid_id(name + 3))
			return 0;
		snprintf(id, sizeof(id), "%s", name + 3);
		struct nb_bp *bp = malloc(sizeof(*bp));
		if (!bp)
			return -ENOMEM;
		rc = bp_read(be, name, bp);
		if (rc == 0 && now - bp->created_ms > grace_ms)
			rc = bp_live(be, id, bp) ? 1 : 2;
		else
			rc = rc == -ENODATA || rc == -ENOENT || rc == NORN_ECORRUPT || rc == 0 ? 1 : rc;
		free(bp);
		if (rc != 2)
			return rc < 0 ? rc : 0;
		NLOG(S3, INFO, "orphan scan: manifest %s is referenced by nothing: removing", id);
		(*orphans)++;
		return gc_manifest(be, id, 0, removed);
	}
	if (parse_data_oid(name, id, &stripe))
		return 0;
	if (stripe > 0) {
		uint64_t size, mt;
		stripe_oid(oid, sizeof(oid), id, 0);
		rc = norn_stat(be->io, oid, &size, &mt);
		if (rc != -ENOENT)
			return rc < 0 ? rc : 0;     /* stripe 0 decides */
		rc = norn_stat(be->io, name, &size, &mt);
		if (rc)
			return rc == -ENOENT ? 0 : rc;
		if (now - (int64_t)(mt / 1000000u) <= grace_ms)
			return 0;
		(*orphans)++;
		rc = norn_remove(be->io, name);
		*removed += rc == 0;
		return rc == -ENOENT ? 0 : rc;
	}
	struct nb_bp *bp = malloc(sizeof(*bp));
	if (!bp)
		return -ENOMEM;
	rc = bp_read(be, name, bp);
	if (rc == 0 && now - bp->created_ms > grace_ms)
		rc = bp_live(be, id, bp) ? 1 : 2;
	else
		rc = rc == -ENODATA || rc == -ENOENT || rc == NORN_ECORRUPT || rc == 0 ? 1 : rc;
	free(bp);
	if (rc != 2)
		return rc < 0 ? rc : 0;
	NLOG(S3, INFO, "orphan scan: data %s is referenced by nothing: removing", id);
	(*orphans)++;
	return gc_remove_stripes(be, id, NB_SIZE_UNKNOWN, removed);
}

static int orphan_scan(struct nb *be, char **cursor, uint64_t max, int64_t grace_ms,
                       uint64_t *examined, uint64_t *orphans, uint64_t *removed, int *done)
{
	int rc = 0;
	*done = 0;
	while (!rc && *examined < max) {
		struct norn_list l;
		memset(&l, 0, sizeof(l));
		size_t page = (size_t)NORN_MIN((uint64_t)NB_PAGE, max - *examined);
		char *before = strdup(*cursor);
		if (!before)
			return -ENOMEM;
		rc = norn_list_objects(be->io, cursor, page, &l);
		if (rc) {
			free(before);
			break;
		}
		for (size_t i = 0; !rc && i < l.n; i++) {
			(*examined)++;
			rc = scan_one(be, l.items[i].key, grace_ms, orphans, removed);
		}
		int more = l.more;
		norn_list_free(&l);
		if (rc) {
			/* retry this page next time */
			free(*cursor);
			*cursor = before;
			break;
		}
		free(before);
		if (!more) {
			free(*cursor);
			*cursor = strdup("");
			*done = 1;
			if (!*cursor)
				rc = -ENOMEM;
			break;
		}
	}
	return rc;
}

/* One GC pass over every shard: at most NB_GC_BATCH records each that are
 * due by @until_ms. */
static int gc_shards_until(struct nb *be, uint32_t first, uint32_t step, int64_t until_ms,
                           uint64_t *removed, uint64_t *done)
{
	char due[20];
	snprintf(due, sizeof(due), "%016" PRIx64, (uint64_t)until_ms);
	int first_err = 0;
	for (uint32_t s = first; s < be->gc_shards; s += step) {
		char oid[64];
		struct norn_list l;
		memset(&l, 0, sizeof(l));
		snprintf(oid, sizeof(oid), "s3.gc.%u", s);
		int rc = norn_omap_get_vals(be->io, oid, "", "", NB_GC_BATCH, &l);
		if (rc == -ENOENT)
			continue;
		if (rc) {
			first_err = first_err ? first_err : rc;
			continue;
		}
		/* Records are dropped together once their work is done (a crash
		 * in between only repeats idempotent removals). */
		const char *finished[NB_GC_BATCH];
		size_t nfin = 0;
		for (size_t i = 0; i < l.n && nfin < NB_GC_BATCH; i++) {
			if (strncmp(l.items[i].key, due, 16) > 0)
				break;         /* keys sort by due time */
			rc = gc_one(be, l.items[i].val, l.items[i].val_len, removed);
			if (rc) {
				first_err = first_err ? first_err : rc;
				break;
			}
			finished[nfin++] = l.items[i].key;
		}
		if (nfin) {
			rc = norn_omap_rm_keys(be->io, oid, finished, nfin);
			if (rc && !first_err)
				first_err = rc;
			if (!rc && done)
				*done += nfin;
		}
		norn_list_free(&l);
	}
	return first_err;
}

static int gc_pass_until(struct nb *be, int64_t until_ms, uint64_t *removed, uint64_t *done)
{
	return gc_shards_until(be, 0, 1, until_ms, removed, done);
}

static int gc_pass(struct nb *be, uint64_t *removed)
{
	return gc_pass_until(be, now_ms(), removed, NULL);
}

/* The background GC runs NB_GC_JOBS pool jobs at once, job j taking the
 * queue shards j, j + NB_GC_JOBS, ... (each record costs a few round
 * trips: back-pointer, referrer, removals); job 0 also runs the orphan
 * scan slice. */
#define NB_GC_JOBS 4
struct nb_gcpass {
	struct nb_work w;
	uint64_t removed;
	uint32_t job, njobs;
};

static void gcpass_run(struct nb_work *wk)
{
	struct nb_gcpass *k = (struct nb_gcpass *)wk;
	struct nb *be = wk->be;
	wk->err = gc_shards_until(be, k->job, k->njobs, now_ms(), &k->removed, NULL);
	if (k->job == 0 && be->scan_per_pass && be->scan_cursor) {
		uint64_t examined = 0, orphans = 0;
		int done = 0;
		int rc = orphan_scan(be, &be->scan_cursor, be->scan_per_pass, be->gc_orphan_ms,
		                     &examined, &orphans, &k->removed, &done);
		if (rc && !wk->err)
			wk->err = rc;
		if (!be->scan_cursor)
			be->scan_cursor = strdup("");
	}
}

static void gcpass_done(struct nb_work *wk)
{
	struct nb_gcpass *k = (struct nb_gcpass *)wk;
	struct nb *be = wk->be;
	NORN_ASSERT(be->gc_running > 0);
	be->gc_running--;
	be->stat_gc_removed += k->removed;
	if (k->removed)
		NLOG(S3, DEBUG, "gc: removed %" PRIu64 " data objects", k->removed);
	if (wk->err)
		NLOG(S3, WARN, "gc pass: %s", norn_strerror(wk->err));
	free(k);
}

static void on_gc_timer(uv_timer_t *t)
{
	struct nb *be = t->data;
	if (be->gc_running)
		return;
	uint32_t njobs = NORN_MIN((uint32_t)NB_GC_JOBS, be->gc_shards);
	for (uint32_t j = 0; j < njobs; j++) {
		struct nb_gcpass *k = calloc(1, sizeof(*k));
		if (!k)
			return;
		k->job = j;
		k->njobs = njobs;
		be->gc_running++;
		work_start(be, &k->w, gcpass_run, gcpass_done);
	}
}

int s3_backend_norn_gc(struct s3_backend *sb, uint64_t *removed)
{
	struct nb *be = (struct nb *)sb;
	uint64_t r = 0;
	int rc = gc_pass(be, &r);
	if (removed)
		*removed = r;
	return rc;
}

int s3_backend_norn_scan(struct s3_backend *sb, uint64_t max_objects, int64_t grace_ms,
                         struct s3_norn_scan *out)
{
	struct nb *be = (struct nb *)sb;
	char *cursor = strdup("");
	int done = 0;
	memset(out, 0, sizeof(*out));
	if (!cursor)
		return -ENOMEM;
	if (grace_ms < 0)
		grace_ms = be->gc_orphan_ms;
	int rc = orphan_scan(be, &cursor, max_objects, grace_ms, &out->examined, &out->orphans,
	                     &out->removed, &done);
	out->complete = done;
	free(cursor);
	/* Intent records are due s3_gc_orphan_ms after their upload began: with
	 * a shorter grace, take those of uploads older than the grace now (the
	 * GC checks back-pointers, so only unreferenced data goes). */
	for (int i = 0; !rc && grace_ms < be->gc_orphan_ms && i < 10000; i++) {
		uint64_t r = 0, n = 0;
		rc = gc_pass_until(be, now_ms() + be->gc_orphan_ms - grace_ms, &r, &n);
		out->removed += r;
		if (n == 0)
			break;
	}
	return rc;
}

int s3_backend_norn_census(struct s3_backend *sb, struct s3_norn_census *out)
{
	struct nb *be = (struct nb *)sb;
	char *cursor = strdup("");
	int rc = cursor ? 0 : -ENOMEM;
	memset(out, 0, sizeof(*out));
	for (int pages = 0; !rc && pages < 100000; pages++) {
		struct norn_list l;
		memset(&l, 0, sizeof(l));
		rc = norn_list_objects(be->io, &cursor, NB_PAGE, &l);
		if (rc)
			break;
		for (size_t i = 0; i < l.n; i++) {
			const char *k = l.items[i].key;
			out->objects++;
			if (!strncmp(k, "d.", 2))
				out->data_objects++;
			else if (!strncmp(k, "mf.", 3))
				out->manifests++;
		}
		int more = l.more;
		norn_list_free(&l);
		if (!more)
			break;
	}
	free(cursor);
	for (uint32_t s = 0; !rc && s < be->gc_shards; s++) {
		char oid[64];
		snprintf(oid, sizeof(oid), "s3.gc.%u", s);
		struct norn_list l;
		char *after = strdup("");
		for (;;) {
			memset(&l, 0, sizeof(l));
			int r = after ? norn_omap_get_vals(be->io, oid, after, "", NB_PAGE, &l) : -ENOMEM;
			if (r) {
				if (r != -ENOENT)
					rc = r;
				break;
			}
			out->gc_pending += l.n;
			int more = l.more && l.n;
			if (more) {
				free(after);
				after = strdup(l.items[l.n - 1].key);
			}
			norn_list_free(&l);
			if (!more)
				break;
		}
		free(after);
	}
	return rc;
}

/* --- setup ---------------------------------------------------------------------- */

static void nb_stop(struct s3_backend *sb)
{
	struct nb *be = (struct nb *)sb;
	if (!be->handles_open || be->stopping)
		return;
	/* The async handle stays open until the last aio completion has come
	 * back through it. */
	be->stopping = 1;
	uv_timer_stop(&be->gc_timer);
	uv_close((uv_handle_t *)&be->gc_timer, NULL);
	if (be->aio_outstanding == 0) {
		be->handles_open = 0;
		uv_close((uv_handle_t *)&be->async, NULL);
	}
}

static void nb_destroy(struct s3_backend *sb)
{
	struct nb *be = (struct nb *)sb;
	NORN_ASSERT(!be->handles_open);
	if (be->io)
		norn_ioctx_destroy(be->io);
	if (be->cl)
		norn_shutdown(be->cl);
	if (be->loop)
		uv_mutex_destroy(&be->lock);
	free(be->scan_cursor);
	free(be);
}

static const struct s3_backend_ops nb_ops = {
	.name = "norn",
	.destroy = nb_destroy,
	.stop = nb_stop,
	.user_by_key = nb_user_by_key,
	.user_create = nb_user_create,
	.user_remove = nb_user_remove,
	.user_list = nb_user_list,
	.key_add = nb_key_add,
	.key_set = nb_key_set,
	.key_remove = nb_key_remove,
	.bucket_create = nb_bucket_create,
	.bucket_get = nb_bucket_get,
	.bucket_update = nb_bucket_update,
	.bucket_delete = nb_bucket_delete,
	.bucket_list = nb_bucket_list,
	.index_list = nb_index_list,
	.obj_delete = nb_obj_delete,
	.obj_update_meta = nb_obj_update_meta,
	.put_open = nb_put_open,
	.put_write = nb_put_write,
	.put_write_buf = nb_put_write_buf,
	.put_piece_bytes = nb_put_piece_bytes,
	.put_commit = nb_put_commit,
	.put_abort = nb_put_abort,
	.get_open = nb_get_open,
	.get_read = nb_get_read,
	.get_close = nb_get_close,
	.mpu_create = nb_mpu_create,
	.mpu_get = nb_mpu_get,
	.mpu_parts = nb_mpu_parts,
	.mpu_complete = nb_mpu_complete,
	.mpu_abort = nb_mpu_abort,
	.mpu_list = nb_mpu_list,
};

int s3_backend_norn_open(const struct s3_norn_config *cfg, struct uv_loop_s *loop,
                         struct s3_backend **out)
{
	struct nb *be = calloc(1, sizeof(*be));
	int rc;
	if (!be)
		return -ENOMEM;
	be->base.ops = &nb_ops;
	be->nshards = cfg->index_shards ? cfg->index_shards : 8;
	be->gc_shards = cfg->gc_shards ? cfg->gc_shards : 8;
	be->stripe = cfg->stripe_bytes ? cfg->stripe_bytes : 4u << 20;
	be->window = cfg->window_bytes ? cfg->window_bytes : 8u << 20;
	be->gc_delay_ms = cfg->gc_delay_ms;
	be->gc_orphan_ms = cfg->gc_orphan_ms ? cfg->gc_orphan_ms : 3600000;
	be->gc_interval_ms = cfg->gc_interval_ms ? cfg->gc_interval_ms : 5000;
	be->user_cache_ms = cfg->user_cache_ms;
	be->scan_per_pass = cfg->orphan_scan_per_pass;
	const char *ev = getenv("NORN_S3_CRASH_AT");
	if (ev)
		snprintf(be->crash_at, sizeof(be->crash_at), "%s", ev);
	ev = getenv("NORN_S3_PAUSE_AT");
	if (ev) {
		const char *colon = strrchr(ev, ':');
		if (colon && (size_t)(colon - ev) < sizeof(be->pause_at)) {
			memcpy(be->pause_at, ev, (size_t)(colon - ev));
			be->pause_at[colon - ev] = 0;
			be->pause_ms = atoi(colon + 1);
			if (be->pause_ms < 0 || be->pause_ms > 600000)
				be->pause_ms = 0;
		}
	}
	if (loop && be->scan_per_pass && !(be->scan_cursor = strdup(""))) {
		free(be);
		return -ENOMEM;
	}
	if (be->stripe < 65536 || be->stripe > (1ull << 30) || be->nshards > 65536 ||
	    be->gc_shards > 1024) {
		free(be->scan_cursor);
		free(be);
		return -EINVAL;
	}
	rc = norn_connect(cfg->conf_path, cfg->entity, cfg->keyring, &be->cl);
	if (rc) {
		be->cl = NULL;
		goto fail;
	}
	rc = norn_ioctx_create(be->cl, cfg->pool ? cfg->pool : "s3", &be->io);
	if (rc) {
		be->io = NULL;
		NLOG(S3, ERR, "pool %s: %s (create it first: norn osd pool create %s ...)",
		     cfg->pool ? cfg->pool : "s3", norn_strerror(rc), cfg->pool ? cfg->pool : "s3");
		goto fail;
	}
	if (loop) {
		be->loop = loop;
		uv_mutex_init(&be->lock);
		uv_async_init(loop, &be->async, on_async);
		be->async.data = be;
		uv_timer_init(loop, &be->gc_timer);
		be->gc_timer.data = be;
		be->handles_open = 1;
		if (cfg->gc_interval_ms >= 0)
			uv_timer_start(&be->gc_timer, on_gc_timer, (uint64_t)be->gc_interval_ms,
			               (uint64_t)be->gc_interval_ms);
		uv_unref((uv_handle_t *)&be->gc_timer);
	}
	*out = &be->base;
	return 0;
fail:
	if (be->io)
		norn_ioctx_destroy(be->io);
	if (be->cl)
		norn_shutdown(be->cl);
	free(be->scan_cursor);
	free(be);
	return rc;
}
