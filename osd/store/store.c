/* The object store engine: mount, the transaction pipeline, the
 * write-ahead log, reads, fsck.
 *
 * A transaction walks a pipeline, always in submission order:
 *
 *   prep queue --prepare--> pipeline (data writes) --log group--> log
 *   write + data writes done --fdatasync--> acknowledged --> commit queue
 *   (commit thread: LMDB) --> done list (blocks released)
 *
 * Prepare runs on the loop, one transaction at a time. It applies the ops
 * to private copies of the onodes (taken from the overlay of objects with
 * changes LMDB does not have yet, else from LMDB), allocates new blocks for
 * every block written (copy-on-write) and builds the list of metadata
 * mutations. When an op needs the old content of a block (a partial-block
 * write, zero or truncate, a clone), prepare issues reads and re-runs that
 * op when they complete; ops check everything they need before changing
 * anything, so re-running is safe. Reads of blocks an earlier transaction
 * is still writing are avoided by draining all data writes in flight first
 * (rare: only partial-block updates pay for it).
 *
 * The transactions prepared in one loop iteration form a log group
 * (sync_kick, from the loop's check/prepare phase): their mutations,
 * allocator changes and the crc32c of every block they write, in one
 * record written to the log ring in the data file, submitted with their
 * data writes. When the group's log write and data writes completed, one
 * fdatasync makes all of it durable and the group is acknowledged (in
 * order). The commit thread applies acknowledged groups to LMDB in large
 * batches together with the log position they reach (MDB_NOMETASYNC: the
 * next commit's page sync makes a commit's meta page durable), off the
 * acknowledgement path. Mount replays the groups after the position LMDB
 * has, checking their data blocks against the recorded crcs (a group whose
 * data did not all reach the device was never acknowledged: replay ends
 * there), and starts a new log id.
 *
 * Blocks a transaction replaced return to the allocator once LMDB has its
 * change durably (so no replayed transaction ever has its blocks reused)
 * and no read that might use them is in flight. Reads and the metadata
 * calls see every acknowledged transaction: from the overlay when all of
 * an object's changes are acknowledged, else from LMDB after waiting for
 * the commit thread to apply what is acknowledged (omap and collection
 * reads do the same).
 *
 * Two allocator bitmaps exist: amap (loop thread) says what prepare may
 * not hand out (committed + in flight + waiting release); dmap (commit
 * thread) is the applied state, persisted chunk by chunk in LMDB.
 */
#include <errno.h>
#include <sys/file.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <malloc.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/config.h"
#include "common/crc32c.h"
#include "common/encode.h"
#include "common/env.h"
#include "common/log.h"
#include "norn/errors.h"
#include "osd/store/store.h"
#include "osd/store/store_int.h"

#define BLK STORE_BLOCK_BYTES
#define STORE__OVL_BUCKETS 4096u
#define NEED_READ 1

/* ---- transaction representation -------------------------------------- */

enum top_type {
	TOP_TOUCH, TOP_WRITE, TOP_ZERO, TOP_TRUNCATE, TOP_REMOVE, TOP_CLONE,
	TOP_SETXATTR, TOP_RMXATTR, TOP_OMAP_SET, TOP_OMAP_RM, TOP_OMAP_CLEAR,
	TOP_OMAP_RMRANGE, TOP_COLL_CREATE, TOP_COLL_REMOVE, TOP_CMETA_SET, TOP_CMETA_RM,
};

struct top {
	enum top_type type;
	char cid[STORE_CID_MAX + 1];
	char oid[STORE_OID_MAX + 1];
	char oid2[STORE_OID_MAX + 1];
	uint64_t off, len;
	uint8_t *a; size_t alen;
	uint8_t *b; size_t blen;
	bool aligned;       /* a is block aligned and whole blocks long */
};

enum mop_type {
	MOP_ONODE_PUT, MOP_ONODE_DEL, MOP_OMAP_SET, MOP_OMAP_RM, MOP_OMAP_RMRANGE,
	MOP_OMAP_COPY, MOP_COLL_PUT, MOP_COLL_DEL, MOP_CMETA_PUT, MOP_CMETA_DEL,
	MOP_SHARD_PUT, MOP_SHARD_DEL, MOP_SHARD_RMRANGE,
};

/* A metadata mutation for the commit thread: plain bytes only. */
struct mop {
	enum mop_type type;
	uint8_t *k; size_t klen;
	uint8_t *v; size_t vlen;
};

struct run { uint64_t pblk; uint64_t n; };

/* A block whose new data is only in the log (and in memory) yet. */
struct pend {
	struct pend *next;
	uint64_t pblk;
	const uint8_t *buf;      /* BLK bytes */
};
#define PEND_BUCKETS 65536u

/* Blocks with known content: new data to write, or old data read back. */
struct seg {
	uint64_t pblk;
	uint32_t n;
	uint8_t *buf;       /* n blocks, 4 KiB aligned */
	uint32_t want_crc;  /* read segs (n == 1): expected crc */
	bool have;          /* read completed */
	bool issued;        /* read submitted */
	bool owns;          /* buf is ours to free (else it points into an op) */
};

struct ovl;
struct wgroup;

/* An object as this transaction sees it. */
struct tobj {
	char key[STORE_CID_MAX + 1 + STORE_OID_MAX + 1];
	size_t klen;
	bool exists;
	bool dirty;
	struct store__onode on;
	/* The object as the transaction found it (which block-map shards
	 * changed): existence, nid, shard size and block map. */
	bool o_exists;
	uint64_t o_nid;
	uint32_t o_shard_blks, o_nblk;
	/* Which logical blocks the ops may have remapped: [dlo, dhi] when
	 * drange (writes and zeroes), every block when map_all (truncate,
	 * remove, clone onto it). Only the block-map shards they touch are
	 * rewritten. */
	bool drange, map_all;
	uint64_t dlo, dhi;
};

struct tcoll { char cid[STORE_CID_MAX + 1]; bool exists; };

/* WRITTEN: data on the device, waiting for a data fdatasync; SYNCING:
 * covered by the fdatasync in flight; READY: may go to the commit thread. */
enum txn_state { TS_NEW, TS_PREP, TS_WRITING, TS_WRITTEN, TS_SYNCING, TS_READY, TS_DIRECT };

struct store_txn {
	struct top *ops; uint32_t nops, capops;
	int err;                 /* append error */
	/* pipeline */
	struct store *s;
	store_txn_cb cb; void *arg;
	struct store_txn *next;
	enum txn_state state;
	int result;
	uint32_t op_idx;
	uint32_t reads_pending, writes_pending;
	bool has_data;
	/* scratch */
	struct tobj *objs; uint32_t nobjs, capobjs;
	struct tcoll *colls; uint32_t ncolls, capcolls;
	struct seg *wsegs; uint32_t nw, capw;
	struct seg *rsegs; uint32_t nr, capr;
	struct mop *mops; uint32_t nm, capm;
	struct run *allocs; uint32_t na, capa;
	struct run *frees; uint32_t nf, capf;
	struct ovl **ovls; uint32_t novl, capovl;
	char (*covls)[STORE_CID_MAX + 1]; uint32_t ncovl, capcovl;
	uint64_t nid_next;       /* store's next nid after this txn */
	/* write-ahead log */
	uint64_t tseq;           /* submission order, from 1 */
	uint64_t wal_seq;        /* last txn of a log group: its sequence number */
	uint64_t wal_end;        /* ... and the log position after it */
	struct wgroup *group;    /* the log group it is in, until durable */
	uint32_t *wcrc;          /* crc of each written block, in wsegs order */
	uint32_t nwcrc, capwcrc;
	bool mid_group;          /* a later txn ends this one's log group */
	bool direct;             /* too big for the log: commits straight to LMDB */
	/* Small data goes into the log record instead of to its blocks; the
	 * commit thread writes it to the blocks before the LMDB commit. Until
	 * then reads find it through the store's pending-block table. */
	bool wal_data;
	struct pend *pend;       /* one entry per written block */
	uint32_t npend;
};

/* Overlay: the newest state of objects with transactions not yet
 * committed. refs counts those transactions. */
struct ovl {
	struct ovl *next;
	char key[STORE_CID_MAX + 1 + STORE_OID_MAX + 1];
	size_t klen;
	bool exists;
	uint32_t refs;           /* transactions not yet applied to LMDB */
	uint32_t unacked;        /* ... of which not yet acknowledged */
	struct store__onode on;
	/* Those transactions in order: the first refs - unacked are
	 * acknowledged (their omap changes answer omap reads). */
	struct store_txn **ptx;
	uint32_t nptx, capptx;
	/* refs == 0: kept as a cache of the object's committed state (equal
	 * to LMDB's), least recently used first, so the next transaction or
	 * read on it copies the onode instead of decoding it and its block
	 * map shards from LMDB (whose pages every commit moves). */
	struct ovl *lru_prev, *lru_next;
	bool cached;
	size_t cost;
};

struct covl {
	struct covl *next;
	char cid[STORE_CID_MAX + 1];
	bool exists;
	uint32_t refs;
};

/* ---- I/O requests ------------------------------------------------------ */

struct sio {
	struct sio *next;
	bool write;
	bool fsync;
	uint64_t off;
	uint8_t *buf;
	uint32_t len;
	void (*done)(struct store *s, struct sio *io, int res);
	void *ctx;
	uint32_t idx;
	int fault;              /* 1 fail, 2 tear */
	bool link;              /* the next request runs only after this one (IOSQE_IO_LINK) */
	uint64_t t_sub;         /* submitted (mono ns), for the statistics */
	uint8_t *tearbuf;
};

struct rd {
	struct store *s;
	store_read_cb cb; void *arg;
	char cid[STORE_CID_MAX + 1];
	char oid[STORE_OID_MAX + 1];
	uint8_t *buf;
	uint64_t b0; uint32_t nb;
	uint32_t *crc;
	uint64_t *pblk;
	uint64_t skip; size_t len;
	uint32_t pending;
	int err;
	struct rd *next;
};

struct store {
	uv_loop_t *loop;
	struct store_options o;
	char dir[4096];
	char data_path[4096];
	const struct norn_clock *clock;
	struct store__super sb;
	int fd;
	uint64_t nblocks;

	/* io_uring */
	struct io_uring ring;
	int efd;
	uv_poll_t poll;
	uv_check_t check;
	uv_prepare_t prepare;
	bool flush_pending;
	bool polling;
	struct sio *io_head, *io_tail;
	uint32_t io_inflight;
	uint32_t writes_inflight;
	atomic_uint nwrites;        /* data + log writes (fault seam; commit thread too) */
	uint32_t nreads_total;
	uint32_t nfsync_loop;

	/* LMDB */
	MDB_env *env;
	MDB_dbi db_super, db_coll, db_onode, db_omap, db_cmeta, db_alloc;
	MDB_dbi db_shard;          /* onode key \0 be32(idx) -> block-map shard */
	MDB_txn *rtxn;

	/* allocator (loop) */
	uint64_t *amap;
	uint64_t free_blocks;
	uint64_t cursor;
	struct run *deferred; uint32_t ndef, capdef;
	uint32_t reads_inflight;

	/* allocator (commit thread) */
	uint32_t chunk_bytes;       /* bitmap bytes per LMDB value (this store's layout) */
	uint64_t nid_committed;     /* "nid" as last committed */
	uint64_t chunk_blocks;
	uint64_t *dmap;
	uint8_t *dirty_chunks;
	uint64_t nchunks;

	/* pipeline (loop) */
	struct store_txn *prep_head, *prep_tail;
	struct store_txn *pipe_head, *pipe_tail;
	uint32_t queued;
	bool drain_wait;
	uint64_t nid_next;
	struct ovl *ovl[STORE__OVL_BUCKETS];
	struct covl *covl;
	struct ovl *lru_head, *lru_tail;   /* cached overlay entries (refs == 0) */
	uint64_t lru_bytes;

	/* commit thread */
	pthread_t thr;
	bool thr_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct store_txn *cq_head, *cq_tail;   /* to commit */
	struct store_txn *dq_head, *dq_tail;   /* committed, for the loop */
	struct rd *rdone;                      /* loop only: reads to complete */
	bool stop;
	atomic_int failed;
	uint32_t ncommit;
	uint64_t st_batches, st_txns, st_lmdb_ns;   /* commit thread */
	uv_async_t async;
	uint32_t busy;

	/* write-ahead log: a ring of wal_size bytes at wal_off in the data
	 * file. Positions (lsn) grow forever; a group never wraps (it starts
	 * the next lap instead). Loop: head, next seq, the group in flight.
	 * Commit thread: what LMDB has applied (c_seq, c_lsn), what of that is
	 * durable (wal_tail: the ring may be reused up to there). */
	uint64_t wal_off, wal_size, wal_id;
	uint64_t wal_seq, wal_head;
	_Atomic uint64_t wal_tail;
	bool wal_wait;                  /* a group waits for log space */
	uint32_t groups_inflight;
	uint32_t ungrouped;             /* prepared, in no log group yet */
	atomic_bool wal_need_sync;      /* loop asks for an LMDB sync */
	bool direct_inflight;
	bool apply_urgent;              /* a reader waits for LMDB (under mu) */
	bool c_batching;                /* commit thread waits for a batch to fill (under mu) */
	uint64_t c_seq, c_lsn, c_lsn_prev;
	uint32_t cq_n;
	uint64_t tseq_next, acked_tseq;
	_Atomic uint64_t applied_tseq;
	pthread_cond_t applied_cv;
	uint64_t st_groups, st_group_txns, st_wal_bytes, st_wal_data_txns;
	uint64_t st_io_n[4], st_io_ns[4];   /* data write, log write, fsync, read */
	uint64_t st_waits, st_wait_ns;       /* reads that waited for LMDB */

	/* Blocks whose data is only in the log so far (wal_data
	 * transactions): pblk -> data, until the commit thread wrote them.
	 * Loop inserts and looks up, commit thread removes; under pend_mu. */
	pthread_mutex_t pend_mu;
	struct pend **pend_tab;
	atomic_uint_fast64_t pend_n;        /* entries (lock-free "none" check) */
	_Atomic uint64_t pend_bytes;        /* data bytes waiting for the commit thread */
	struct io_uring cring;              /* commit thread: block writes, fdatasync */
	uint64_t st_apply_n, st_apply_ns;   /* commit thread: block writes and their time */
	uint32_t napply;                    /* commit thread: logged-data writes (fault seam) */

	/* close */
	bool closing;
	int handles_open;
	void (*close_cb)(void *);
	void *close_arg;
};

static void pump(struct store *s);
static void io_kick(struct store *s);
static void busy_get(struct store *s);
static void busy_put(struct store *s);
static void maybe_finish_close(struct store *s);
static void on_poll(uv_poll_t *h, int status, int events);
static bool sync_kick(struct store *s);
static void ovl_uncache(struct store *s, struct ovl *ov);
static void pipe_advance(struct store *s);
static void on_wal_write(struct store *s, struct sio *io, int res);

/* ---- small helpers ----------------------------------------------------- */

#define GROW(arr, n, cap) \
	((n) < (cap) ? 0 : grow_((void **)&(arr), &(cap), sizeof(*(arr))))

static int grow_(void **arr, uint32_t *cap, size_t item)
{
	uint32_t nc = *cap ? *cap * 2 : 8;
	void *p = realloc(*arr, (size_t)nc * item);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

/* Large write copies (a 4 MiB object's data, held from the transaction's
 * preparation to its acknowledgement) are allocated and freed for every
 * write; glibc maps each one fresh, and faulting in and zeroing its 1,024
 * pages cost more CPU than the rest of the write (3-5 ms per 4 MiB
 * object). Freed ones wait here, pages still mapped, for the next write
 * of the same size: a bounded cache (STORE__BIGBUF_CACHE_BYTES per
 * process), not the whole heap kept at its peak as store_heap_buffers
 * does. Only the write copies (op->a of an aligned write) come back here;
 * any other buffer is an ordinary free(). */
#define BIGBUF_MIN (1u << 20)
#define BIGBUF_SLOTS 16u
#define STORE__BIGBUF_CACHE_BYTES (32u << 20)
static struct {
	pthread_mutex_t mu;
	void *p[BIGBUF_SLOTS];
	size_t len[BIGBUF_SLOTS];
	unsigned n;
	size_t bytes;
} bigbufs = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void *blk_alloc(size_t nblocks)
{
	void *p = NULL;
	size_t len = nblocks ? nblocks * BLK : BLK;
	if (len >= BIGBUF_MIN) {
		pthread_mutex_lock(&bigbufs.mu);
		for (unsigned i = 0; i < bigbufs.n; i++)
			if (bigbufs.len[i] == len) {
				p = bigbufs.p[i];
				bigbufs.bytes -= len;
				bigbufs.n--;
				bigbufs.p[i] = bigbufs.p[bigbufs.n];
				bigbufs.len[i] = bigbufs.len[bigbufs.n];
				break;
			}
		pthread_mutex_unlock(&bigbufs.mu);
		if (p)
			return p;
	}
	if (posix_memalign(&p, BLK, len))
		return NULL;
	return p;
}

/* Free a buffer of @len bytes from blk_alloc(). */
static void blk_free_len(void *p, size_t len)
{
	if (!p)
		return;
	if (len >= BIGBUF_MIN) {
		pthread_mutex_lock(&bigbufs.mu);
		if (bigbufs.n < BIGBUF_SLOTS && bigbufs.bytes + len <= STORE__BIGBUF_CACHE_BYTES) {
			bigbufs.p[bigbufs.n] = p;
			bigbufs.len[bigbufs.n++] = len;
			bigbufs.bytes += len;
			p = NULL;
		}
		pthread_mutex_unlock(&bigbufs.mu);
	}
	free(p);
}

/* Free an op's data copy (back to the cache when it is a write copy). */
static void op_free_a(struct top *op)
{
	if (op->aligned)
		blk_free_len(op->a, op->alen);
	else
		free(op->a);
	op->a = NULL;
}

static void set_failed(struct store *s, const char *what, int err)
{
	int expect = 0;
	if (atomic_compare_exchange_strong(&s->failed, &expect, 1))
		NLOG(STORE, ERR, "%s failed (%s); store marked FAILED, no further I/O accepted",
		     what, norn_strerror(err));
}

int store_failed(const struct store *s)
{
	return atomic_load(&((struct store *)s)->failed) ? NORN_EFAILED : 0;
}

static int mdb_err(int rc)
{
	if (rc == 0)
		return 0;
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc == MDB_MAP_FULL)
		return NORN_ENOSPC;
	if (rc == ENOMEM)
		return -ENOMEM;
	return -EIO;
}

static size_t okey(char *buf, const char *cid, const char *oid)
{
	size_t a = strlen(cid), b = strlen(oid);
	memcpy(buf, cid, a);
	buf[a] = 0;
	memcpy(buf + a + 1, oid, b);
	return a + 1 + b;
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}

char *store_cid(char *buf, uint64_t pool, uint32_t pg)
{
	snprintf(buf, STORE_CID_MAX + 1, "%" PRIu64 ".%" PRIx32, pool, pg);
	return buf;
}

void store_uuid(const struct store *s, uint8_t uuid_out[16]) { memcpy(uuid_out, s->sb.uuid, 16); }
uint32_t store_osd_id(const struct store *s) { return s->sb.osd_id; }

void store_statfs(const struct store *s, uint64_t *total_bytes, uint64_t *free_bytes)
{
	*total_bytes = (s->nblocks - STORE__RESERVED_BLOCKS) * BLK - s->wal_size;
	uint64_t f = s->free_blocks;
	for (uint32_t i = 0; i < s->ndef; i++)
		f += s->deferred[i].n;
	*free_bytes = f * BLK;
}

/* ---- options ----------------------------------------------------------- */

void store_options_init(struct store_options *o, const struct norn_config *cfg, const char *dir)
{
	memset(o, 0, sizeof(*o));
	o->dir = dir;
	o->size_bytes = 1ull << 30;
	o->osd_id = UINT32_MAX;
	o->queue_depth = 128;
	o->commit_wait_us = 100000;
	o->commit_batch_max = 16384;
	o->wal_bytes = 64u << 20;
	o->wal_groups = 4;
	o->wal_group_txns = 0;
	o->wal_data_max_bytes = 32768;
	o->onode_cache_bytes = 32u << 20;
	o->lmdb_map_bytes = 1ull << 30;
	o->max_object_bytes = 128u << 20;
	o->onode_shard_blocks = 64;
	if (cfg) {
		if (cfg->store_path && cfg->store_path[0])
			o->data_path = cfg->store_path;
		o->size_bytes = cfg->store_size_bytes;
		o->queue_depth = (uint32_t)cfg->store_queue_depth;
		o->commit_wait_us = (uint32_t)cfg->store_commit_wait_us;
		o->commit_batch_max = (uint32_t)cfg->store_commit_batch_max;
		o->wal_bytes = cfg->store_wal_bytes;
		o->wal_groups = (uint32_t)cfg->store_wal_groups;
		o->wal_group_txns = (uint32_t)cfg->store_wal_group_txns;
		o->wal_data_max_bytes = (uint32_t)cfg->store_wal_data_bytes;
		o->onode_cache_bytes = cfg->store_onode_cache_bytes;
		o->heap_buffers = cfg->store_heap_buffers;
		o->lmdb_map_bytes = cfg->store_lmdb_map_bytes;
		o->max_object_bytes = cfg->store_max_object_bytes;
		o->onode_shard_blocks = (uint32_t)cfg->store_onode_shard_blocks;
	}
}

static void fault_from_env(struct store_fault *f)
{
	const char *e = getenv("NORN_STORE_FAULT");
	if (!e || f->fail_write_n || f->tear_write_n || f->fail_fsync_n || f->fail_commit_n ||
	    f->fail_apply_n)
		return;
	const char *c = strchr(e, ':');
	if (!c)
		return;
	uint32_t n = (uint32_t)strtoul(c + 1, NULL, 10);
	if (!strncmp(e, "write:", 6)) f->fail_write_n = n;
	else if (!strncmp(e, "tear:", 5)) f->tear_write_n = n;
	else if (!strncmp(e, "fsync:", 6)) f->fail_fsync_n = n;
	else if (!strncmp(e, "commit:", 7)) f->fail_commit_n = n;
	else if (!strncmp(e, "apply:", 6)) f->fail_apply_n = n;
}

static int paths(const struct store_options *o, char *dir, char *data, char *meta)
{
	if (!o->dir || !o->dir[0] || strlen(o->dir) > 4000)
		return -EINVAL;
	snprintf(dir, 4096, "%s", o->dir);
	if (o->data_path && o->data_path[0])
		snprintf(data, 4096, "%s", o->data_path);
	else
		snprintf(data, 4096, "%s/data", o->dir);
	snprintf(meta, 4096, "%s/meta", o->dir);
	return 0;
}

/* ---- LMDB setup --------------------------------------------------------- */

static int env_open(const char *meta, uint64_t map_bytes, MDB_env **out)
{
	MDB_env *env;
	int rc = mdb_env_create(&env);
	if (rc)
		return mdb_err(rc);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_set_mapsize(env, map_bytes);
	mdb_env_set_maxreaders(env, 64);
	rc = mdb_env_open(env, meta, MDB_NOTLS | MDB_NORDAHEAD | MDB_NOMETASYNC, 0644);
	if (rc) {
		NLOG(STORE, ERR, "cannot open LMDB at %s: %s", meta, mdb_strerror(rc));
		mdb_env_close(env);
		return rc == ENOENT ? -ENOENT : mdb_err(rc);
	}
	*out = env;
	return 0;
}

static int dbs_open(struct store *s, MDB_txn *t, unsigned flags)
{
	int rc = 0;
	rc = rc ? rc : mdb_dbi_open(t, "super", flags, &s->db_super);
	rc = rc ? rc : mdb_dbi_open(t, "coll", flags, &s->db_coll);
	rc = rc ? rc : mdb_dbi_open(t, "onode", flags, &s->db_onode);
	rc = rc ? rc : mdb_dbi_open(t, "omap", flags, &s->db_omap);
	rc = rc ? rc : mdb_dbi_open(t, "cmeta", flags, &s->db_cmeta);
	rc = rc ? rc : mdb_dbi_open(t, "alloc", flags, &s->db_alloc);
	return rc;
}

static void chunk_key(uint8_t k[8], uint64_t i) { be64(k, i); }

/* ---- mkfs -------------------------------------------------------------- */

int store_mkfs(const struct store_options *o)
{
	char dir[4096], data[4096], meta[4096];
	int rc = paths(o, dir, data, meta);
	if (rc)
		return rc;
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	struct stat st;
	if (stat(meta, &st) == 0)
		return -EEXIST;
	int fd = open(data, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	uint64_t size;
	if (fstat(fd, &st)) {
		rc = -errno;
		goto fail_fd;
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);
		if (end < 0) {
			rc = -errno;
			goto fail_fd;
		}
		size = (uint64_t)end;
	} else {
		size = o->size_bytes;
		if (fallocate(fd, 0, 0, (off_t)size)) {
			rc = -errno;
			goto fail_fd;
		}
		/* Write the whole file once: fallocate leaves unwritten extents,
		 * and converting them on first write makes every fdatasync commit
		 * the filesystem journal (several times slower). A preallocated
		 * file then behaves like a block device. Written with O_DIRECT
		 * (the store's own I/O is O_DIRECT): 2 GiB of zeros left in the
		 * page cache made every later direct write invalidate cached pages
		 * first (the first 4 MiB writes after mkfs spent most of their
		 * CPU time in the kernel). */
		size_t chunk = 8u << 20;
		uint8_t *z = blk_alloc(chunk / BLK);
		if (!z) {
			rc = -ENOMEM;
			goto fail_fd;
		}
		memset(z, 0, chunk);
		int dfd = open(data, O_WRONLY | O_DIRECT | O_CLOEXEC);
		int wfd = dfd >= 0 ? dfd : fd;
		for (uint64_t off = 0; off < size && !rc; off += chunk) {
			size_t n = (size_t)NORN_MIN((uint64_t)chunk, size - off);
			if (wfd == dfd && n % BLK)
				wfd = fd;   /* an unaligned tail: buffered */
			if (pwrite(wfd, z, n, (off_t)off) != (ssize_t)n)
				rc = -EIO;
		}
		free(z);
		if (dfd >= 0)
			close(dfd);
		if (rc || fsync(fd)) {
			rc = rc ? rc : -errno;
			goto fail_fd;
		}
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	}
	size -= size % BLK;
	if (size < (uint64_t)(STORE__RESERVED_BLOCKS + 16) * BLK) {
		rc = -EINVAL;
		goto fail_fd;
	}
	struct store__super sb = { .version = STORE_FORMAT_VERSION, .osd_id = o->osd_id,
	                           .size_bytes = size };
	if (sb.osd_id == UINT32_MAX)
		sb.osd_id = 0;
	rc = norn_random_bytes(sb.uuid, 16);
	if (rc)
		goto fail_fd;
	uint8_t blk[BLK];
	store__super_encode(&sb, blk);
	if (pwrite(fd, blk, BLK, 0) != BLK || fdatasync(fd)) {
		rc = -EIO;
		goto fail_fd;
	}
	if (mkdir(meta, 0755)) {
		rc = -errno;
		goto fail_fd;
	}
	MDB_env *env;
	rc = env_open(meta, o->lmdb_map_bytes ? o->lmdb_map_bytes : (1ull << 30), &env);
	if (rc)
		goto fail_fd;
	struct store tmp;
	MDB_txn *t;
	rc = mdb_txn_begin(env, NULL, 0, &t);
	if (rc)
		goto fail_env;
	rc = dbs_open(&tmp, t, MDB_CREATE);
	if (rc)
		goto fail_txn;
	MDB_val k = { 2, (void *)"sb" }, v = { 44, blk };
	rc = mdb_put(t, tmp.db_super, &k, &v, 0);
	uint8_t nid[8];
	norn_put_le64(nid, 1);
	MDB_val k2 = { 3, (void *)"nid" }, v2 = { 8, nid };
	rc = rc ? rc : mdb_put(t, tmp.db_super, &k2, &v2, 0);
	/* Allocator bitmap: reserved blocks and anything past the end are used. */
	uint64_t nblocks = size / BLK;
	uint64_t nchunks = (nblocks + STORE__CHUNK_BLOCKS - 1) / STORE__CHUNK_BLOCKS;
	for (uint64_t c = 0; c < nchunks && !rc; c++) {
		uint8_t chunk[STORE__CHUNK_BYTES];
		memset(chunk, 0, sizeof(chunk));
		for (uint64_t b = 0; b < STORE__CHUNK_BLOCKS; b++) {
			uint64_t g = c * STORE__CHUNK_BLOCKS + b;
			if (g < STORE__RESERVED_BLOCKS || g >= nblocks)
				chunk[b / 8] |= (uint8_t)(1u << (b % 8));
		}
		uint8_t ck[8];
		chunk_key(ck, c);
		MDB_val kk = { 8, ck }, vv = { sizeof(chunk), chunk };
		rc = mdb_put(t, tmp.db_alloc, &kk, &vv, 0);
	}
	if (rc)
		goto fail_txn;
	rc = mdb_txn_commit(t);
	rc = rc ? rc : mdb_env_sync(env, 1);
	if (rc)
		goto fail_env;
	mdb_env_close(env);
	close(fd);
	return 0;
fail_txn:
	mdb_txn_abort(t);
fail_env:
	mdb_env_close(env);
	rc = rc < 0 ? rc : mdb_err(rc);
fail_fd:
	close(fd);
	return rc;
}

/* ---- allocator ---------------------------------------------------------- */

static inline bool bit_get(const uint64_t *m, uint64_t b) { return m[b / 64] >> (b % 64) & 1; }
static inline void bit_set(uint64_t *m, uint64_t b) { m[b / 64] |= 1ull << (b % 64); }
static inline void bit_clr(uint64_t *m, uint64_t b) { m[b / 64] &= ~(1ull << (b % 64)); }

/* Next-fit: a run of up to @want free blocks. Returns its length (0 when
 * the store is full). */
static uint64_t alloc_run(struct store *s, uint64_t want, uint64_t *pblk)
{
	if (!s->free_blocks)
		return 0;
	uint64_t b = s->cursor;
	for (uint64_t scanned = 0; scanned < s->nblocks; ) {
		if (b >= s->nblocks)
			b = 0;
		if (b % 64 == 0 && s->amap[b / 64] == UINT64_MAX) {
			b += 64;
			scanned += 64;
			continue;
		}
		if (!bit_get(s->amap, b)) {
			uint64_t n = 0;
			while (n < want && b + n < s->nblocks && !bit_get(s->amap, b + n)) {
				bit_set(s->amap, b + n);
				n++;
			}
			*pblk = b;
			s->free_blocks -= n;
			s->cursor = b + n;
			return n;
		}
		b++;
		scanned++;
	}
	return 0;
}

static void amap_release(struct store *s, uint64_t pblk, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		NORN_ASSERT(bit_get(s->amap, pblk + i));
		bit_clr(s->amap, pblk + i);
	}
	s->free_blocks += n;
}

static void release_deferred(struct store *s)
{
	if (s->reads_inflight)
		return;
	for (uint32_t i = 0; i < s->ndef; i++)
		amap_release(s, s->deferred[i].pblk, s->deferred[i].n);
	s->ndef = 0;
}

/* ---- io_uring ------------------------------------------------------------ */

static void io_submit_one(struct store *s, struct sio *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	NORN_ASSERT(sqe);
	if (io->fsync) {
		io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
		s->nfsync_loop++;
		if (s->o.fault.fail_fsync_n && s->nfsync_loop == s->o.fault.fail_fsync_n) {
			NLOG(STORE, WARN, "fault injection: failing data fdatasync #%u", s->nfsync_loop);
			io->fault = 1;
			io_uring_prep_nop(sqe);
		}
	} else if (io->write) {
		unsigned nw = atomic_fetch_add(&s->nwrites, 1) + 1;
		if (s->o.fault.fail_write_n && nw == s->o.fault.fail_write_n) {
			NLOG(STORE, WARN, "fault injection: failing data write #%u", nw);
			io->fault = 1;
			io_uring_prep_nop(sqe);
		} else if (s->o.fault.tear_write_n && nw == s->o.fault.tear_write_n) {
			NLOG(STORE, WARN, "fault injection: tearing data write #%u", nw);
			io->fault = 2;
			/* Half the bytes reach the disk, the rest of the first block is garbage. */
			uint32_t half = io->len / 2;
			uint32_t wlen = half >= BLK ? half - half % BLK : BLK;
			io->tearbuf = blk_alloc(wlen / BLK);
			NORN_ASSERT(io->tearbuf);
			memset(io->tearbuf, 0xA5, wlen);
			memcpy(io->tearbuf, io->buf, half < wlen ? half : wlen);
			io_uring_prep_write(sqe, s->fd, io->tearbuf, wlen, io->off);
		} else {
			io_uring_prep_write(sqe, s->fd, io->buf, io->len, io->off);
		}
	} else {
		io_uring_prep_read(sqe, s->fd, io->buf, io->len, io->off);
	}
	if (io->link)
		io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
	io_uring_sqe_set_data(sqe, io);
	io->t_sub = norn_mono_ns();
	s->io_inflight++;
}

/* Requests queued during a loop iteration go to the kernel together, once,
 * from the loop's check (after the I/O callbacks) or prepare (before it
 * blocks) phase: one io_uring_enter and one device notification for many
 * requests instead of one each. */
static void io_kick(struct store *s)
{
	if (s->io_head)
		s->flush_pending = true;
}

static void io_flush(struct store *s)
{
	s->flush_pending = false;
	bool any = false;
	while (s->io_head && s->io_inflight < s->o.queue_depth) {
		struct sio *io = s->io_head;
		/* A linked pair goes in one submission or not at all: the
		 * second one alone could run before the first finished. */
		if (io->link && s->io_inflight + 1 >= s->o.queue_depth)
			break;
		s->io_head = io->next;
		if (!s->io_head)
			s->io_tail = NULL;
		io_submit_one(s, io);
		any = true;
	}
	if (any) {
		int rc = io_uring_submit(&s->ring);
		if (rc < 0) {
			/* Nothing can be trusted about the requests now. */
			set_failed(s, "io_uring_submit", rc);
			NORN_ASSERT(!"io_uring_submit failed");
		}
	}
	if (s->io_inflight && !s->polling) {
		s->polling = true;
		busy_get(s);
		uv_poll_start(&s->poll, UV_READABLE, on_poll);
	}
}

static void on_loop_phase(uv_handle_t *h)
{
	struct store *s = h->data;
	for (unsigned i = 0; i < 64 && s->pipe_head && sync_kick(s); i++)
		;
	/* After a failure sync_kick fails what waited for a log group (with
	 * its data in the log nothing else would complete it). */
	if (s->pipe_head && s->pipe_head->state == TS_READY)
		pipe_advance(s);
	if (s->flush_pending)
		io_flush(s);
}

static void on_check(uv_check_t *h) { on_loop_phase((uv_handle_t *)h); }
static void on_prepare(uv_prepare_t *h) { on_loop_phase((uv_handle_t *)h); }

static void io_queue(struct store *s, struct sio *io)
{
	io->next = NULL;
	if (s->io_tail)
		s->io_tail->next = io;
	else
		s->io_head = io;
	s->io_tail = io;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct store *s = h->data;
	uint64_t cnt;
	if (read(s->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		NLOG(STORE, WARN, "eventfd read: %s", strerror(errno));
	for (unsigned guard = 0; guard < 1u << 20; guard++) {
		struct io_uring_cqe *cqe;
		if (io_uring_peek_cqe(&s->ring, &cqe))
			break;
		struct sio *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&s->ring, cqe);
		NORN_ASSERT(s->io_inflight > 0);
		s->io_inflight--;
		if (io->fsync && io->fault)
			res = -EIO;
		if (io->write) {
			s->writes_inflight--;
			if (io->fault)
				res = -EIO;
			free(io->tearbuf);
			io->tearbuf = NULL;
		}
		if (res >= 0 && (uint32_t)res != io->len)
			res = -EIO;     /* short I/O on a preallocated file is an error */
		int kind = io->fsync ? 2 : io->write ? (io->done == on_wal_write ? 1 : 0) : 3;
		s->st_io_n[kind]++;
		s->st_io_ns[kind] += norn_mono_ns() - io->t_sub;
		io->done(s, io, res);
	}
	io_kick(s);
	pump(s);
	if (!s->io_inflight && s->polling) {
		s->polling = false;
		uv_poll_stop(&s->poll);
		busy_put(s);
	}
	maybe_finish_close(s);
}

/* ---- loop-side busy accounting ------------------------------------------ */

/* The async handle keeps the loop alive only while work is outstanding, so
 * an idle store does not stop the caller's uv_run() from returning. */
static void busy_get(struct store *s)
{
	if (s->busy++ == 0)
		uv_ref((uv_handle_t *)&s->async);
}

static void busy_put(struct store *s)
{
	NORN_ASSERT(s->busy > 0);
	if (--s->busy == 0)
		uv_unref((uv_handle_t *)&s->async);
}

/* ---- blocks whose data is only in the log yet ---------------------------- */

static uint32_t pend_hash(uint64_t pblk)
{
	return (uint32_t)((pblk * 0x9E3779B97F4A7C15ull) >> 48) % PEND_BUCKETS;
}

/* Loop: list every block @t writes in the table (its data stays in @t's
 * buffers until the commit thread wrote it). 0 or -ENOMEM. */
static int pend_add(struct store *s, struct store_txn *t)
{
	t->pend = calloc(t->nwcrc ? t->nwcrc : 1, sizeof(*t->pend));
	if (!t->pend)
		return -ENOMEM;
	uint32_t k = 0;
	pthread_mutex_lock(&s->pend_mu);
	for (uint32_t i = 0; i < t->nw; i++)
		for (uint32_t b = 0; b < t->wsegs[i].n; b++, k++) {
			NORN_ASSERT(k < t->nwcrc);
			struct pend *e = &t->pend[k];
			e->pblk = t->wsegs[i].pblk + b;
			e->buf = t->wsegs[i].buf + (size_t)b * BLK;
			uint32_t h = pend_hash(e->pblk);
			e->next = s->pend_tab[h];
			s->pend_tab[h] = e;
		}
	pthread_mutex_unlock(&s->pend_mu);
	t->npend = k;
	atomic_fetch_add(&s->pend_n, k);
	atomic_fetch_add(&s->pend_bytes, (uint64_t)k * BLK);
	return 0;
}

/* Any thread: drop @t's entries (its blocks now hold the data on the
 * device, or the store failed) and free its data buffers. */
static void pend_remove(struct store *s, struct store_txn *t)
{
	if (!t->pend)
		return;
	pthread_mutex_lock(&s->pend_mu);
	for (uint32_t k = 0; k < t->npend; k++) {
		struct pend *e = &t->pend[k];
		struct pend **pp = &s->pend_tab[pend_hash(e->pblk)];
		while (*pp != e) {
			NORN_ASSERT(*pp);
			pp = &(*pp)->next;
		}
		*pp = e->next;
	}
	pthread_mutex_unlock(&s->pend_mu);
	atomic_fetch_sub(&s->pend_n, t->npend);
	atomic_fetch_sub(&s->pend_bytes, (uint64_t)t->npend * BLK);
	free(t->pend);
	t->pend = NULL;
	t->npend = 0;
	for (uint32_t i = 0; i < t->nw; i++) {
		if (t->wsegs[i].owns)
			free(t->wsegs[i].buf);
		t->wsegs[i].buf = NULL;
	}
	for (uint32_t i = 0; i < t->nops; i++) {
		op_free_a(&t->ops[i]);
		free(t->ops[i].b);
		t->ops[i].a = t->ops[i].b = NULL;
	}
}

/* Loop: copy block @pblk into @dst when its data is only in the log yet. */
static bool pend_copy(struct store *s, uint64_t pblk, uint8_t *dst)
{
	if (!atomic_load(&s->pend_n))
		return false;
	bool found = false;
	pthread_mutex_lock(&s->pend_mu);
	for (struct pend *e = s->pend_tab[pend_hash(pblk)]; e; e = e->next)
		if (e->pblk == pblk) {
			memcpy(dst, e->buf, BLK);
			found = true;
			break;
		}
	pthread_mutex_unlock(&s->pend_mu);
	return found;
}

/* ---- read transactions on the loop -------------------------------------- */

static int rtxn_get(struct store *s, MDB_txn **out)
{
	int rc;
	if (s->rtxn)
		rc = mdb_txn_renew(s->rtxn);
	else
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
	if (rc) {
		NLOG(STORE, ERR, "LMDB read txn: %s", mdb_strerror(rc));
		return -EIO;
	}
	*out = s->rtxn;
	return 0;
}

static void rtxn_put(struct store *s) { mdb_txn_reset(s->rtxn); }

/* Key of block-map shard @idx of the object with onode key @key. */
static size_t shard_key(uint8_t *out, const char *key, size_t klen, uint32_t idx)
{
	memcpy(out, key, klen);
	out[klen] = 0;
	out[klen + 1] = (uint8_t)(idx >> 24);
	out[klen + 2] = (uint8_t)(idx >> 16);
	out[klen + 3] = (uint8_t)(idx >> 8);
	out[klen + 4] = (uint8_t)idx;
	return klen + 5;
}

#define SHARD_KEY_MAX (STORE_CID_MAX + STORE_OID_MAX + 2 + 5)

static uint32_t nshards(uint64_t nblk, uint32_t sb) { return sb ? (uint32_t)((nblk + sb - 1) / sb) : 0; }

/* Read the shards of sharded @on that cover blocks [b0, b0+nb) into
 * pblk/crc[l - b0] (zeroed first). */
static int shards_load(struct store *s, MDB_txn *t, const char *key, size_t klen,
                       uint64_t nid, uint64_t nblk, uint32_t sb, uint64_t b0, uint64_t nb,
                       uint64_t *pblk, uint32_t *crc)
{
	for (uint64_t i = 0; i < nb; i++) {
		pblk[i] = 0;
		crc[i] = 0;
	}
	if (!nb)
		return 0;
	for (uint64_t idx = b0 / sb; idx * sb < b0 + nb && idx * sb < nblk; idx++) {
		uint8_t sk[SHARD_KEY_MAX];
		MDB_val k = { shard_key(sk, key, klen, (uint32_t)idx), sk }, v;
		int rc = mdb_get(t, s->db_shard, &k, &v);
		if (rc == MDB_NOTFOUND)
			continue;   /* all holes */
		if (rc)
			return mdb_err(rc);
		rc = store__shard_decode(v.mv_data, v.mv_size, nid, nblk, sb, (uint32_t)idx, b0, nb,
		                         pblk, crc);
		if (rc)
			return rc;
	}
	return 0;
}

static int lookup_onode(struct store *s, MDB_txn *t, const char *key, size_t klen,
                        struct store__onode *on)
{
	MDB_val k = { klen, (void *)key }, v;
	int rc = mdb_get(t, s->db_onode, &k, &v);
	if (rc)
		return mdb_err(rc);
	rc = store__onode_decode(v.mv_data, v.mv_size, s->o.max_object_bytes, on);
	if (!rc && on->shard_blks) {
		rc = shards_load(s, t, key, klen, on->nid, on->nblk, on->shard_blks, 0, on->nblk,
		                 on->pblk, on->crc);
		if (rc)
			store__onode_free(on);
	}
	if (rc)
		NLOG(STORE, ERR, "onode %s/%s does not decode: %s", key, key + strlen(key) + 1,
		     norn_strerror(rc));
	return rc;
}

/* ---- transaction building ------------------------------------------------ */

struct store_txn *store_txn_new(void)
{
	return calloc(1, sizeof(struct store_txn));
}

static void txn_scratch_free(struct store_txn *t)
{
	for (uint32_t i = 0; i < t->nobjs; i++) {
		store__onode_free(&t->objs[i].on);
	}
	free(t->objs); t->objs = NULL; t->nobjs = t->capobjs = 0;
	free(t->colls); t->colls = NULL; t->ncolls = t->capcolls = 0;
	for (uint32_t i = 0; i < t->nw; i++)
		if (t->wsegs[i].owns)
			free(t->wsegs[i].buf);
	free(t->wsegs); t->wsegs = NULL; t->nw = t->capw = 0;
	t->nwcrc = 0;
	for (uint32_t i = 0; i < t->nr; i++)
		free(t->rsegs[i].buf);
	free(t->rsegs); t->rsegs = NULL; t->nr = t->capr = 0;
	for (uint32_t i = 0; i < t->nm; i++) {
		free(t->mops[i].k);
		free(t->mops[i].v);
	}
	free(t->mops); t->mops = NULL; t->nm = t->capm = 0;
	t->na = 0;
	t->nf = 0;
}

void store_txn_free(struct store_txn *t)
{
	if (!t)
		return;
	if (t->pend)
		pend_remove(t->s, t);   /* frees the data buffers too */
	for (uint32_t i = 0; i < t->nops; i++) {
		op_free_a(&t->ops[i]);
		free(t->ops[i].b);
	}
	free(t->ops);
	txn_scratch_free(t);
	free(t->allocs);
	free(t->frees);
	free(t->ovls);
	free(t->covls);
	free(t->wcrc);
	free(t);
}

static struct top *op_add(struct store_txn *t, enum top_type type, const char *cid, const char *oid)
{
	if (t->err)
		return NULL;
	if (!cid || !cid[0] || strlen(cid) > STORE_CID_MAX || (oid && strlen(oid) > STORE_OID_MAX) ||
	    (oid && !oid[0]) || t->nops >= STORE_TXN_OPS_MAX) {
		t->err = -EINVAL;
		return NULL;
	}
	if (GROW(t->ops, t->nops, t->capops)) {
		t->err = -ENOMEM;
		return NULL;
	}
	struct top *op = &t->ops[t->nops++];
	memset(op, 0, sizeof(*op));
	op->type = type;
	snprintf(op->cid, sizeof(op->cid), "%s", cid);
	if (oid)
		snprintf(op->oid, sizeof(op->oid), "%s", oid);
	return op;
}

static int op_dup(struct store_txn *t, struct top *op, const void *a, size_t alen,
                  const void *b, size_t blen)
{
	if (a) {
		op->a = malloc(alen ? alen : 1);
		if (!op->a)
			goto nomem;
		memcpy(op->a, a, alen);
		op->alen = alen;
	}
	if (b) {
		op->b = malloc(blen ? blen : 1);
		if (!op->b)
			goto nomem;
		memcpy(op->b, b, blen);
		op->blen = blen;
	}
	return 0;
nomem:
	t->err = -ENOMEM;
	return -ENOMEM;
}

#define ADD_OR_RET(op, type, cid, oid) \
	struct top *op = op_add(t, type, cid, oid); if (!op) return t->err

int store_txn_touch(struct store_txn *t, const char *cid, const char *oid)
{
	ADD_OR_RET(op, TOP_TOUCH, cid, oid);
	return 0;
}

int store_txn_write(struct store_txn *t, const char *cid, const char *oid,
                    uint64_t off, const void *data, size_t len)
{
	if (off > UINT64_MAX / 2 || len > UINT32_MAX || (len && !data)) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_WRITE, cid, oid);
	op->off = off;
	op->len = len;
	if (len && off % BLK == 0 && len % BLK == 0) {
		/* Whole blocks: keep the copy block aligned so it can go to the
		 * disk as it is (one copy instead of two). */
		op->a = blk_alloc(len / BLK);
		if (!op->a) {
			t->err = -ENOMEM;
			return -ENOMEM;
		}
		memcpy(op->a, data, len);
		op->alen = len;
		op->aligned = true;
		return 0;
	}
	return op_dup(t, op, data ? data : "", len, NULL, 0);
}

int store_txn_zero(struct store_txn *t, const char *cid, const char *oid, uint64_t off, uint64_t len)
{
	if (off > UINT64_MAX / 2 || len > UINT64_MAX / 2) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_ZERO, cid, oid);
	op->off = off;
	op->len = len;
	return 0;
}

int store_txn_truncate(struct store_txn *t, const char *cid, const char *oid, uint64_t size)
{
	if (size > UINT64_MAX / 2) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_TRUNCATE, cid, oid);
	op->off = size;
	return 0;
}

int store_txn_remove(struct store_txn *t, const char *cid, const char *oid)
{
	ADD_OR_RET(op, TOP_REMOVE, cid, oid);
	return 0;
}

int store_txn_clone(struct store_txn *t, const char *cid, const char *src, const char *dst)
{
	if (!dst || !dst[0] || strlen(dst) > STORE_OID_MAX) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_CLONE, cid, src);
	snprintf(op->oid2, sizeof(op->oid2), "%s", dst);
	return 0;
}

int store_txn_setxattr(struct store_txn *t, const char *cid, const char *oid,
                       const char *name, const void *val, size_t len)
{
	if (!name || !name[0] || strlen(name) > STORE_XATTR_NAME_MAX || len > STORE_XATTR_VALUE_MAX ||
	    (len && !val)) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_SETXATTR, cid, oid);
	return op_dup(t, op, name, strlen(name) + 1, val ? val : "", len);
}

int store_txn_rmxattr(struct store_txn *t, const char *cid, const char *oid, const char *name)
{
	if (!name || !name[0] || strlen(name) > STORE_XATTR_NAME_MAX) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_RMXATTR, cid, oid);
	return op_dup(t, op, name, strlen(name) + 1, NULL, 0);
}

int store_txn_omap_set(struct store_txn *t, const char *cid, const char *oid,
                       const void *key, size_t klen, const void *val, size_t vlen)
{
	if (!key || klen == 0 || klen > STORE_OMAP_KEY_MAX || vlen > STORE_OMAP_VALUE_MAX ||
	    (vlen && !val)) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_OMAP_SET, cid, oid);
	return op_dup(t, op, key, klen, val ? val : "", vlen);
}

int store_txn_omap_rm(struct store_txn *t, const char *cid, const char *oid,
                      const void *key, size_t klen)
{
	if (!key || klen == 0 || klen > STORE_OMAP_KEY_MAX) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_OMAP_RM, cid, oid);
	return op_dup(t, op, key, klen, NULL, 0);
}

int store_txn_omap_clear(struct store_txn *t, const char *cid, const char *oid)
{
	ADD_OR_RET(op, TOP_OMAP_CLEAR, cid, oid);
	return 0;
}

int store_txn_omap_rmrange(struct store_txn *t, const char *cid, const char *oid,
                           const void *first, size_t flen, const void *last, size_t llen)
{
	if (flen > STORE_OMAP_KEY_MAX || llen > STORE_OMAP_KEY_MAX || (flen && !first) ||
	    (llen && !last)) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_OMAP_RMRANGE, cid, oid);
	return op_dup(t, op, first ? first : "", flen, last ? last : "", llen);
}

int store_txn_coll_create(struct store_txn *t, const char *cid)
{
	ADD_OR_RET(op, TOP_COLL_CREATE, cid, NULL);
	return 0;
}

int store_txn_coll_remove(struct store_txn *t, const char *cid)
{
	ADD_OR_RET(op, TOP_COLL_REMOVE, cid, NULL);
	return 0;
}

int store_txn_cmeta_set(struct store_txn *t, const char *cid, const void *key, size_t klen,
                        const void *val, size_t vlen)
{
	if (!key || klen == 0 || klen > STORE_CMETA_KEY_MAX || vlen > STORE_OMAP_VALUE_MAX ||
	    (vlen && !val)) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_CMETA_SET, cid, NULL);
	return op_dup(t, op, key, klen, val ? val : "", vlen);
}

int store_txn_cmeta_rm(struct store_txn *t, const char *cid, const void *key, size_t klen)
{
	if (!key || klen == 0 || klen > STORE_CMETA_KEY_MAX) {
		t->err = -EINVAL;
		return -EINVAL;
	}
	ADD_OR_RET(op, TOP_CMETA_RM, cid, NULL);
	return op_dup(t, op, key, klen, NULL, 0);
}

/* ---- overlay ---------------------------------------------------------- */

static uint32_t ovl_hash(const char *k, size_t n)
{
	return norn_crc32c(0, k, n) % STORE__OVL_BUCKETS;
}

static struct ovl *ovl_find(struct store *s, const char *k, size_t n)
{
	for (struct ovl *o = s->ovl[ovl_hash(k, n)]; o; o = o->next)
		if (o->klen == n && !memcmp(o->key, k, n))
			return o;
	return NULL;
}

static struct covl *covl_find(struct store *s, const char *cid)
{
	for (struct covl *c = s->covl; c; c = c->next)
		if (!strcmp(c->cid, cid))
			return c;
	return NULL;
}

/* ---- prepare: object and collection state --------------------------------- */

static int coll_exists_prep(struct store *s, struct store_txn *t, const char *cid, bool *ex)
{
	for (uint32_t i = 0; i < t->ncolls; i++)
		if (!strcmp(t->colls[i].cid, cid)) {
			*ex = t->colls[i].exists;
			return 0;
		}
	struct covl *c = covl_find(s, cid);
	if (c) {
		*ex = c->exists;
		return 0;
	}
	MDB_txn *rt;
	int rc = rtxn_get(s, &rt);
	if (rc)
		return rc;
	MDB_val k = { strlen(cid), (void *)cid }, v;
	rc = mdb_get(rt, s->db_coll, &k, &v);
	rtxn_put(s);
	if (rc && rc != MDB_NOTFOUND)
		return -EIO;
	*ex = rc == 0;
	return 0;
}

static int coll_set_prep(struct store_txn *t, const char *cid, bool ex)
{
	for (uint32_t i = 0; i < t->ncolls; i++)
		if (!strcmp(t->colls[i].cid, cid)) {
			t->colls[i].exists = ex;
			return 0;
		}
	if (GROW(t->colls, t->ncolls, t->capcolls))
		return -ENOMEM;
	struct tcoll *c = &t->colls[t->ncolls++];
	snprintf(c->cid, sizeof(c->cid), "%s", cid);
	c->exists = ex;
	return 0;
}

/* The transaction's view of object (cid, oid), loaded on first use. */
static int tobj_get(struct store *s, struct store_txn *t, const char *cid, const char *oid,
                    struct tobj **out)
{
	char key[sizeof(((struct tobj *)0)->key)];
	size_t klen = okey(key, cid, oid);
	for (uint32_t i = 0; i < t->nobjs; i++)
		if (t->objs[i].klen == klen && !memcmp(t->objs[i].key, key, klen)) {
			*out = &t->objs[i];
			return 0;
		}
	bool cex;
	int rc = coll_exists_prep(s, t, cid, &cex);
	if (rc)
		return rc;
	if (!cex)
		return -ENOENT;
	if (GROW(t->objs, t->nobjs, t->capobjs))
		return -ENOMEM;
	struct tobj *o = &t->objs[t->nobjs];
	memset(o, 0, sizeof(*o));
	memcpy(o->key, key, klen);
	o->klen = klen;
	struct ovl *ov = ovl_find(s, key, klen);
	if (ov) {
		o->exists = ov->exists;
		if (ov->exists && store__onode_copy(&o->on, &ov->on))
			return -ENOMEM;
	} else {
		MDB_txn *rt;
		rc = rtxn_get(s, &rt);
		if (rc)
			return rc;
		rc = lookup_onode(s, rt, key, klen, &o->on);
		rtxn_put(s);
		if (rc && rc != -ENOENT)
			return rc;
		o->exists = rc == 0;
	}
	o->o_exists = o->exists;
	if (o->exists) {
		o->o_nid = o->on.nid;
		o->o_shard_blks = o->on.shard_blks;
		o->o_nblk = o->on.nblk;
	}
	t->nobjs++;
	*out = o;
	return 0;
}

static void tobj_create(struct store_txn *t, struct tobj *o)
{
	if (o->exists)
		return;
	memset(&o->on, 0, sizeof(o->on));
	o->on.nid = t->nid_next++;
	o->exists = true;
	o->dirty = true;
}

static int mop_add(struct store_txn *t, enum mop_type type, const void *k1, size_t l1,
                   const void *k2, size_t l2, const void *v, size_t vlen)
{
	if (GROW(t->mops, t->nm, t->capm))
		return -ENOMEM;
	struct mop *m = &t->mops[t->nm];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->k = malloc(l1 + l2 + 1);
	if (!m->k)
		return -ENOMEM;
	memcpy(m->k, k1, l1);
	if (l2)
		memcpy(m->k + l1, k2, l2);
	m->klen = l1 + l2;
	if (v) {
		m->v = malloc(vlen ? vlen : 1);
		if (!m->v) {
			free(m->k);
			return -ENOMEM;
		}
		memcpy(m->v, v, vlen);
		m->vlen = vlen;
	}
	t->nm++;
	return 0;
}

static int run_add(struct run **arr, uint32_t *n, uint32_t *cap, uint64_t pblk, uint64_t cnt)
{
	if (*n && (*arr)[*n - 1].pblk + (*arr)[*n - 1].n == pblk) {
		(*arr)[*n - 1].n += cnt;
		return 0;
	}
	if (GROW(*arr, *n, *cap))
		return -ENOMEM;
	(*arr)[(*n)++] = (struct run){ pblk, cnt };
	return 0;
}

static int free_blk(struct store_txn *t, uint64_t pblk)
{
	return run_add(&t->frees, &t->nf, &t->capf, pblk, 1);
}

/* Content of physical block @pblk as this transaction knows it, or NULL. */
static const uint8_t *blk_known(struct store_txn *t, uint64_t pblk)
{
	for (uint32_t i = t->nw; i-- > 0;)
		if (pblk >= t->wsegs[i].pblk && pblk < t->wsegs[i].pblk + t->wsegs[i].n)
			return t->wsegs[i].buf + (pblk - t->wsegs[i].pblk) * BLK;
	for (uint32_t i = 0; i < t->nr; i++)
		if (t->rsegs[i].pblk == pblk && t->rsegs[i].have)
			return t->rsegs[i].buf;
	return NULL;
}

/* Make sure block @pblk's content is known or queued for reading. Returns
 * 1 when a read is needed, 0 when known, or -ENOMEM. */
static int blk_need(struct store_txn *t, uint64_t pblk, uint32_t crc)
{
	if (blk_known(t, pblk))
		return 0;
	for (uint32_t i = 0; i < t->nr; i++)
		if (t->rsegs[i].pblk == pblk)
			return NEED_READ;
	if (GROW(t->rsegs, t->nr, t->capr))
		return -ENOMEM;
	uint8_t *b = blk_alloc(1);
	if (!b)
		return -ENOMEM;
	t->rsegs[t->nr++] = (struct seg){ .pblk = pblk, .n = 1, .buf = b, .want_crc = crc };
	return NEED_READ;
}

/* Allocate @n new blocks for logical blocks [lb, lb+n) of @on, filling
 * each one with fill(ctx, lblk, dst). Old blocks are freed after commit. */
typedef void (*fill_fn)(void *ctx, const struct store__onode *on, uint64_t lblk, uint8_t *dst);

/* Room for @n more written-block crcs (they go to the log record). */
static int wcrc_reserve(struct store_txn *t, uint64_t n)
{
	if (t->nwcrc + n <= t->capwcrc)
		return 0;
	uint64_t nc = NORN_MAX((uint64_t)t->capwcrc * 2, t->nwcrc + n);
	if (nc > UINT32_MAX)
		return -ENOMEM;
	uint32_t *p = realloc(t->wcrc, nc * sizeof(*p));
	if (!p)
		return -ENOMEM;
	t->wcrc = p;
	t->capwcrc = (uint32_t)nc;
	return 0;
}

static int place_blocks(struct store *s, struct store_txn *t, struct store__onode *on,
                        uint64_t lb, uint64_t n, fill_fn fill, void *ctx)
{
	while (n > 0) {
		uint64_t pblk, got = alloc_run(s, n, &pblk);
		if (!got)
			return NORN_ENOSPC;
		if (run_add(&t->allocs, &t->na, &t->capa, pblk, got)) {
			amap_release(s, pblk, got);
			return -ENOMEM;
		}
		uint8_t *buf = blk_alloc(got);
		if (!buf || GROW(t->wsegs, t->nw, t->capw) || wcrc_reserve(t, got)) {
			free(buf);
			return -ENOMEM;
		}
		for (uint64_t i = 0; i < got; i++) {
			uint8_t *dst = buf + i * BLK;
			fill(ctx, on, lb + i, dst);
			if (on->pblk[lb + i] && free_blk(t, on->pblk[lb + i])) {
				free(buf);
				return -ENOMEM;
			}
			on->pblk[lb + i] = pblk + i;
			on->crc[lb + i] = norn_crc32c(0, dst, BLK);
			t->wcrc[t->nwcrc++] = on->crc[lb + i];
		}
		t->wsegs[t->nw++] = (struct seg){ .pblk = pblk, .n = (uint32_t)got, .buf = buf,
		                                  .have = true, .owns = true };
		t->has_data = true;
		lb += got;
		n -= got;
	}
	return 0;
}

/* Whole-block write straight from the op's aligned buffer. */
static int place_direct(struct store *s, struct store_txn *t, struct store__onode *on,
                        uint64_t lb, uint64_t n, uint8_t *data)
{
	while (n > 0) {
		uint64_t pblk, got = alloc_run(s, n, &pblk);
		if (!got)
			return NORN_ENOSPC;
		if (run_add(&t->allocs, &t->na, &t->capa, pblk, got)) {
			amap_release(s, pblk, got);
			return -ENOMEM;
		}
		if (GROW(t->wsegs, t->nw, t->capw) || wcrc_reserve(t, got))
			return -ENOMEM;
		for (uint64_t i = 0; i < got; i++) {
			if (on->pblk[lb + i] && free_blk(t, on->pblk[lb + i]))
				return -ENOMEM;
			on->pblk[lb + i] = pblk + i;
			on->crc[lb + i] = norn_crc32c(0, data + i * BLK, BLK);
			t->wcrc[t->nwcrc++] = on->crc[lb + i];
		}
		t->wsegs[t->nw++] = (struct seg){ .pblk = pblk, .n = (uint32_t)got, .buf = data,
		                                  .have = true, .owns = false };
		t->has_data = true;
		data += got * BLK;
		lb += got;
		n -= got;
	}
	return 0;
}

struct wctx {
	struct store_txn *t;
	uint64_t off, end;
	const uint8_t *data;   /* NULL: zeros */
	uint64_t b0, b1;       /* edge blocks and their old physical blocks */
	uint64_t old0, old1;
};

static void fill_write(void *ctx, const struct store__onode *on, uint64_t lb, uint8_t *dst)
{
	struct wctx *w = ctx;
	uint64_t bs = lb * BLK, be = bs + BLK;
	uint64_t a = NORN_MAX(bs, w->off), b = NORN_MIN(be, w->end);
	if (a > bs || b < be) {
		uint64_t old = lb == w->b0 ? w->old0 : lb == w->b1 ? w->old1 : 0;
		const uint8_t *src = old ? blk_known(w->t, old) : NULL;
		NORN_ASSERT(!old || src);
		if (src)
			memcpy(dst, src, BLK);
		else
			memset(dst, 0, BLK);
	}
	if (w->data)
		memcpy(dst + (a - bs), w->data + (a - w->off), b - a);
	else
		memset(dst + (a - bs), 0, b - a);
}

/* Write (data != NULL) or zero [off, off+len) of @o. */
static int do_write(struct store *s, struct store_txn *t, struct tobj *o, uint64_t off,
                    uint64_t len, const uint8_t *data, uint8_t *aligned)
{
	uint64_t end = off + len;
	if (end > s->o.max_object_bytes)
		return -EFBIG;
	if (len == 0) {
		tobj_create(t, o);
		return 0;
	}
	uint64_t b0 = off / BLK, b1 = (end - 1) / BLK;
	/* Old content of partially covered blocks first (nothing changed yet). */
	int need = 0;
	uint64_t edge[2] = { b0, b1 };
	bool partial[2] = { off % BLK != 0 || (b0 == b1 && end % BLK != 0), end % BLK != 0 };
	if (o->exists)
		for (int i = 0; i < 2; i++)
			if (partial[i] && edge[i] < o->on.nblk && o->on.pblk[edge[i]]) {
				int rc = blk_need(t, o->on.pblk[edge[i]], o->on.crc[edge[i]]);
				if (rc < 0)
					return rc;
				need |= rc;
			}
	if (need)
		return NEED_READ;
	tobj_create(t, o);
	o->dirty = true;
	if (end > o->on.size && store__onode_resize(&o->on, end))
		return -ENOMEM;
	struct wctx w = { t, off, end, data, b0, b1, o->on.pblk[b0], o->on.pblk[b1] };
	if (aligned)
		return place_direct(s, t, &o->on, b0, b1 - b0 + 1, aligned);
	if (data)
		return place_blocks(s, t, &o->on, b0, b1 - b0 + 1, fill_write, &w);
	/* Zero: whole blocks become holes; only partial edges are rewritten. */
	uint64_t fb = (off + BLK - 1) / BLK, fe = end / BLK;
	for (uint64_t b = fb; b < fe; b++) {
		if (o->on.pblk[b] && free_blk(t, o->on.pblk[b]))
			return -ENOMEM;
		o->on.pblk[b] = 0;
		o->on.crc[b] = 0;
	}
	for (int i = 0; i < 2; i++) {
		if (!partial[i] || (i == 1 && b1 == b0))
			continue;
		if (!o->on.pblk[edge[i]])
			continue;   /* a hole stays a hole */
		int rc = place_blocks(s, t, &o->on, edge[i], 1, fill_write, &w);
		if (rc)
			return rc;
	}
	return 0;
}

static void fill_trunc(void *ctx, const struct store__onode *on, uint64_t lb, uint8_t *dst)
{
	struct wctx *w = ctx;
	const uint8_t *src = blk_known(w->t, w->old0);
	NORN_ASSERT(src);
	memcpy(dst, src, BLK);
	size_t keep = (size_t)(w->off % BLK);
	memset(dst + keep, 0, BLK - keep);
}

static int do_truncate(struct store *s, struct store_txn *t, struct tobj *o, uint64_t size)
{
	if (size > s->o.max_object_bytes)
		return -EFBIG;
	if (o->exists && size < o->on.size && size % BLK) {
		uint64_t b = size / BLK;
		if (o->on.pblk[b]) {
			int rc = blk_need(t, o->on.pblk[b], o->on.crc[b]);
			if (rc)
				return rc;
		}
	}
	tobj_create(t, o);
	o->dirty = true;
	if (size < o->on.size) {
		uint64_t keep = (size + BLK - 1) / BLK;
		for (uint64_t b = keep; b < o->on.nblk; b++)
			if (o->on.pblk[b] && free_blk(t, o->on.pblk[b]))
				return -ENOMEM;
		if (size % BLK && o->on.pblk[size / BLK]) {
			struct wctx w = { .t = t, .off = size, .old0 = o->on.pblk[size / BLK] };
			int rc = place_blocks(s, t, &o->on, size / BLK, 1, fill_trunc, &w);
			if (rc)
				return rc;
		}
	}
	return store__onode_resize(&o->on, size);
}

static void omap_prefix(uint8_t p[8], uint64_t nid) { be64(p, nid); }

static int drop_object(struct store_txn *t, struct tobj *o)
{
	for (uint32_t b = 0; b < o->on.nblk; b++)
		if (o->on.pblk[b] && free_blk(t, o->on.pblk[b]))
			return -ENOMEM;
	uint8_t a[8], z[8];
	omap_prefix(a, o->on.nid);
	omap_prefix(z, o->on.nid + 1);
	int rc = mop_add(t, MOP_OMAP_RMRANGE, a, 8, NULL, 0, z, 8);
	if (rc)
		return rc;
	store__onode_free(&o->on);
	o->exists = false;
	o->dirty = true;
	o->map_all = true;
	return 0;
}

struct cctx { struct store_txn *t; const struct store__onode *src; };

static void fill_clone(void *ctx, const struct store__onode *on, uint64_t lb, uint8_t *dst)
{
	struct cctx *c = ctx;
	const uint8_t *src = blk_known(c->t, c->src->pblk[lb]);
	NORN_ASSERT(src);
	memcpy(dst, src, BLK);
}

static int do_clone(struct store *s, struct store_txn *t, struct top *op)
{
	if (!strcmp(op->oid, op->oid2))
		return 0;
	struct tobj *src, *dst;
	int rc = tobj_get(s, t, op->cid, op->oid, &src);
	if (rc)
		return rc;
	if (!src->exists)
		return -ENOENT;
	int need = 0;
	for (uint32_t b = 0; b < src->on.nblk; b++)
		if (src->on.pblk[b]) {
			rc = blk_need(t, src->on.pblk[b], src->on.crc[b]);
			if (rc < 0)
				return rc;
			need |= rc;
		}
	if (need)
		return NEED_READ;
	uint32_t si = (uint32_t)(src - t->objs);
	rc = tobj_get(s, t, op->cid, op->oid2, &dst);
	if (!rc)
		dst->map_all = true;
	if (rc)
		return rc;
	src = &t->objs[si];     /* tobj_get may have moved the array */
	if (dst->exists && (rc = drop_object(t, dst)))
		return rc;
	struct store__onode copy;
	if (store__onode_copy(&copy, &src->on))
		return -ENOMEM;
	copy.nid = t->nid_next++;
	dst->on = copy;
	dst->exists = true;
	dst->dirty = true;
	for (uint32_t b = 0; b < copy.nblk; b++)
		dst->on.pblk[b] = 0;     /* nothing to free: these are the source's */
	struct cctx c = { t, &src->on };
	for (uint32_t b = 0; b < src->on.nblk; b++) {
		if (!src->on.pblk[b])
			continue;
		uint32_t e = b + 1;
		while (e < src->on.nblk && src->on.pblk[e])
			e++;
		rc = place_blocks(s, t, &dst->on, b, e - b, fill_clone, &c);
		if (rc)
			return rc;
		b = e - 1;
	}
	uint8_t a[8], z[8];
	omap_prefix(a, src->on.nid);
	omap_prefix(z, dst->on.nid);
	return mop_add(t, MOP_OMAP_COPY, a, 8, NULL, 0, z, 8);
}

static int coll_nonempty(struct store *s, struct store_txn *t, const char *cid, bool *nonempty)
{
	size_t cl = strlen(cid);
	*nonempty = false;
	for (uint32_t i = 0; i < t->nobjs; i++)
		if (t->objs[i].exists && t->objs[i].klen > cl && !memcmp(t->objs[i].key, cid, cl + 1)) {
			*nonempty = true;
			return 0;
		}
	for (uint32_t b = 0; b < STORE__OVL_BUCKETS; b++)
		for (struct ovl *o = s->ovl[b]; o; o = o->next)
			if (o->exists && o->klen > cl && !memcmp(o->key, cid, cl + 1)) {
				/* unless this txn removed it */
				bool gone = false;
				for (uint32_t i = 0; i < t->nobjs; i++)
					if (t->objs[i].klen == o->klen && !memcmp(t->objs[i].key, o->key, o->klen))
						gone = !t->objs[i].exists;
				if (!gone) {
					*nonempty = true;
					return 0;
				}
			}
	MDB_txn *rt;
	int rc = rtxn_get(s, &rt);
	if (rc)
		return rc;
	MDB_cursor *cur;
	rc = mdb_cursor_open(rt, s->db_onode, &cur);
	if (rc) {
		rtxn_put(s);
		return -EIO;
	}
	MDB_val k = { cl + 1, (void *)cid }, v;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size > cl && !memcmp(k.mv_data, cid, cl + 1)) {
		bool gone = false;
		struct ovl *ov = ovl_find(s, k.mv_data, k.mv_size);
		if (ov)
			gone = !ov->exists;
		for (uint32_t i = 0; i < t->nobjs; i++)
			if (t->objs[i].klen == k.mv_size && !memcmp(t->objs[i].key, k.mv_data, k.mv_size))
				gone = !t->objs[i].exists;
		if (!gone) {
			*nonempty = true;
			break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	rtxn_put(s);
	return 0;
}

static int xattr_find(const struct store__onode *on, const char *name)
{
	for (uint32_t i = 0; i < on->nx; i++)
		if (!strcmp(on->x[i].name, name))
			return (int)i;
	return -1;
}

/* Run one op against the transaction's view. 0, NEED_READ or an error. */
static int run_op(struct store *s, struct store_txn *t, struct top *op)
{
	struct tobj *o = NULL;
	int rc;
	bool ex;
	uint8_t pfx[8];
	switch (op->type) {
	case TOP_COLL_CREATE:
		if ((rc = coll_exists_prep(s, t, op->cid, &ex)))
			return rc;
		if (ex)
			return -EEXIST;
		if ((rc = coll_set_prep(t, op->cid, true)))
			return rc;
		return mop_add(t, MOP_COLL_PUT, op->cid, strlen(op->cid), NULL, 0, "", 0);
	case TOP_COLL_REMOVE:
		if ((rc = coll_exists_prep(s, t, op->cid, &ex)))
			return rc;
		if (!ex)
			return -ENOENT;
		if ((rc = coll_nonempty(s, t, op->cid, &ex)))
			return rc;
		if (ex)
			return -ENOTEMPTY;
		if ((rc = coll_set_prep(t, op->cid, false)))
			return rc;
		return mop_add(t, MOP_COLL_DEL, op->cid, strlen(op->cid), NULL, 0, NULL, 0);
	case TOP_CMETA_SET:
	case TOP_CMETA_RM:
		if ((rc = coll_exists_prep(s, t, op->cid, &ex)))
			return rc;
		if (!ex)
			return -ENOENT;
		return mop_add(t, op->type == TOP_CMETA_SET ? MOP_CMETA_PUT : MOP_CMETA_DEL, op->cid,
		               strlen(op->cid) + 1, op->a, op->alen,
		               op->type == TOP_CMETA_SET ? op->b : NULL, op->blen);
	case TOP_CLONE:
		return do_clone(s, t, op);
	default:
		break;
	}
	if ((rc = tobj_get(s, t, op->cid, op->oid, &o)))
		return rc;
	switch (op->type) {
	case TOP_TOUCH:
		tobj_create(t, o);
		return 0;
	case TOP_WRITE:
	case TOP_ZERO:
		if (op->len) {
			uint64_t lo = op->off / BLK, hi = (op->off + op->len - 1) / BLK;
			o->dlo = o->drange ? NORN_MIN(o->dlo, lo) : lo;
			o->dhi = o->drange ? NORN_MAX(o->dhi, hi) : hi;
			o->drange = true;
		}
		if (op->type == TOP_ZERO)
			return do_write(s, t, o, op->off, op->len, NULL, NULL);
		return do_write(s, t, o, op->off, op->len, op->a, op->aligned ? op->a : NULL);
	case TOP_TRUNCATE:
		o->map_all = true;
		return do_truncate(s, t, o, op->off);
	case TOP_REMOVE:
		if (!o->exists)
			return -ENOENT;
		return drop_object(t, o);
	case TOP_SETXATTR: {
		tobj_create(t, o);
		o->dirty = true;
		int i = xattr_find(&o->on, (const char *)op->a);
		uint8_t *v = malloc(op->blen ? op->blen : 1);
		if (!v)
			return -ENOMEM;
		memcpy(v, op->b, op->blen);
		if (i < 0) {
			if (o->on.nx >= STORE_XATTRS_MAX) {
				free(v);
				return -E2BIG;
			}
			struct store__xattr *nx = realloc(o->on.x, (o->on.nx + 1) * sizeof(*nx));
			char *nm = strdup((const char *)op->a);
			if (!nx || !nm) {
				if (nx)
					o->on.x = nx;
				free(nm);
				free(v);
				return -ENOMEM;
			}
			o->on.x = nx;
			i = (int)o->on.nx++;
			o->on.x[i].name = nm;
		} else {
			free(o->on.x[i].val);
		}
		o->on.x[i].val = v;
		o->on.x[i].len = op->blen;
		return 0;
	}
	case TOP_RMXATTR: {
		if (!o->exists)
			return -ENOENT;
		int i = xattr_find(&o->on, (const char *)op->a);
		if (i >= 0) {
			free(o->on.x[i].name);
			free(o->on.x[i].val);
			o->on.x[i] = o->on.x[--o->on.nx];
			o->dirty = true;
		}
		return 0;
	}
	case TOP_OMAP_SET:
		tobj_create(t, o);
		o->dirty = true;
		omap_prefix(pfx, o->on.nid);
		return mop_add(t, MOP_OMAP_SET, pfx, 8, op->a, op->alen, op->b, op->blen);
	case TOP_OMAP_RM:
		if (!o->exists)
			return -ENOENT;
		o->dirty = true;
		omap_prefix(pfx, o->on.nid);
		return mop_add(t, MOP_OMAP_RM, pfx, 8, op->a, op->alen, NULL, 0);
	case TOP_OMAP_CLEAR:
	case TOP_OMAP_RMRANGE: {
		if (!o->exists)
			return -ENOENT;
		o->dirty = true;
		uint8_t a[8 + STORE_OMAP_KEY_MAX], z[8 + STORE_OMAP_KEY_MAX];
		size_t al = 8, zl = 8;
		omap_prefix(a, o->on.nid);
		omap_prefix(z, o->on.nid + 1);
		if (op->type == TOP_OMAP_RMRANGE) {
			memcpy(a + 8, op->a, op->alen);
			al += op->alen;
			if (op->blen) {
				omap_prefix(z, o->on.nid);
				memcpy(z + 8, op->b, op->blen);
				zl += op->blen;
			}
		}
		return mop_add(t, MOP_OMAP_RMRANGE, a, al, NULL, 0, z, zl);
	}
	default:
		NORN_ASSERT(!"unknown op");
	}
	return -EINVAL;
}

/* ---- prepare driver ------------------------------------------------------ */

static void txn_rollback_alloc(struct store *s, struct store_txn *t)
{
	for (uint32_t i = 0; i < t->na; i++)
		amap_release(s, t->allocs[i].pblk, t->allocs[i].n);
	t->na = 0;
}

/* Block-map shard mutations of @o: only shards whose content changed are
 * written; all of them when the object was replaced (new nid), changed
 * shard size or was not sharded; shards past the end go. */
static int shards_finish(struct store_txn *t, struct tobj *o)
{
	uint8_t sk[SHARD_KEY_MAX];
	size_t sl;
	uint32_t sb = o->exists ? o->on.shard_blks : 0;
	bool full = !o->o_exists || !o->o_shard_blks || o->on.nid != o->o_nid ||
	            sb != o->o_shard_blks || o->map_all;
	if (o->o_exists && o->o_shard_blks && (full || !o->exists)) {
		uint8_t a[SHARD_KEY_MAX], z[SHARD_KEY_MAX];
		memcpy(a, o->key, o->klen);
		a[o->klen] = 0;
		memcpy(z, o->key, o->klen);
		z[o->klen] = 1;
		int rc = mop_add(t, MOP_SHARD_RMRANGE, a, o->klen + 1, NULL, 0, z, o->klen + 1);
		if (rc)
			return rc;
	}
	if (!sb)
		return 0;
	uint32_t n = nshards(o->on.nblk, sb);
	for (uint32_t idx = 0; idx < n; idx++) {
		uint64_t lo = (uint64_t)idx * sb, hi = NORN_MIN(lo + sb, (uint64_t)o->on.nblk);
		bool dirty = full || (o->drange && o->dlo < hi && o->dhi >= lo);
		/* A shard that ends the object now may have held more blocks. */
		dirty |= hi < lo + sb && o->o_nblk > hi;
		if (!dirty)
			continue;
		uint8_t *buf;
		size_t len;
		if (store__shard_encode(&o->on, idx, &buf, &len))
			return -ENOMEM;
		sl = shard_key(sk, o->key, o->klen, idx);
		int rc = mop_add(t, MOP_SHARD_PUT, sk, sl, NULL, 0, buf, len);
		free(buf);
		if (rc)
			return rc;
	}
	for (uint32_t idx = n; !full && idx < nshards(o->o_nblk, o->o_shard_blks); idx++) {
		sl = shard_key(sk, o->key, o->klen, idx);
		if (mop_add(t, MOP_SHARD_DEL, sk, sl, NULL, 0, NULL, 0))
			return -ENOMEM;
	}
	return 0;
}

/* Install the transaction's final object states in the overlay and turn
 * them into onode mutations. */
static int txn_finish(struct store *s, struct store_txn *t)
{
	uint64_t now = norn_now_real_ns(s->clock);
	for (uint32_t i = 0; i < t->nobjs; i++) {
		struct tobj *o = &t->objs[i];
		if (!o->dirty)
			continue;
		if (o->exists) {
			o->on.version++;
			o->on.mtime_ns = now;
			/* Large objects keep their block map in shards (once
			 * sharded, always sharded). */
			if (!o->on.shard_blks && o->on.nblk > s->o.onode_shard_blocks)
				o->on.shard_blks = s->o.onode_shard_blocks;
			uint8_t *buf;
			size_t len;
			if (store__onode_encode(&o->on, &buf, &len))
				return -ENOMEM;
			int rc = mop_add(t, MOP_ONODE_PUT, o->key, o->klen, NULL, 0, buf, len);
			free(buf);
			if (rc)
				return rc;
		} else if (mop_add(t, MOP_ONODE_DEL, o->key, o->klen, NULL, 0, NULL, 0)) {
			return -ENOMEM;
		}
		int rc = shards_finish(t, o);
		if (rc)
			return rc;
	}
	/* From here on nothing fails: publish to the overlay. */
	if (t->capovl < t->nobjs) {
		struct ovl **p = realloc(t->ovls, t->nobjs * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->ovls = p;
		t->capovl = t->nobjs;
	}
	if (t->capcovl < t->ncolls) {
		void *p = realloc(t->covls, t->ncolls * sizeof(*t->covls));
		if (!p)
			return -ENOMEM;
		t->covls = p;
		t->capcovl = t->ncolls;
	}
	for (uint32_t i = 0; i < t->nobjs; i++) {
		struct tobj *o = &t->objs[i];
		if (!o->dirty)
			continue;
		struct ovl *ov = ovl_find(s, o->key, o->klen);
		if (!ov) {
			ov = calloc(1, sizeof(*ov));
			NORN_ASSERT(ov);   /* small; treat as fatal rather than unwind */
			memcpy(ov->key, o->key, o->klen);
			ov->klen = o->klen;
			uint32_t h = ovl_hash(o->key, o->klen);
			ov->next = s->ovl[h];
			s->ovl[h] = ov;
		} else {
			if (ov->cached)
				ovl_uncache(s, ov);  /* in use again */
			store__onode_free(&ov->on);
		}
		ov->exists = o->exists;
		ov->on = o->on;                  /* moves ownership */
		memset(&o->on, 0, sizeof(o->on));
		if (GROW(ov->ptx, ov->nptx, ov->capptx))
			NORN_ASSERT(!"out of memory publishing to the overlay");
		ov->ptx[ov->nptx++] = t;
		ov->refs++;
		ov->unacked++;
		t->ovls[t->novl++] = ov;
	}
	for (uint32_t i = 0; i < t->ncolls; i++) {
		struct covl *c = covl_find(s, t->colls[i].cid);
		if (!c) {
			c = calloc(1, sizeof(*c));
			NORN_ASSERT(c);
			snprintf(c->cid, sizeof(c->cid), "%s", t->colls[i].cid);
			c->next = s->covl;
			s->covl = c;
		}
		c->exists = t->colls[i].exists;
		c->refs++;
		snprintf(t->covls[t->ncovl++], STORE_CID_MAX + 1, "%s", c->cid);
	}
	s->nid_next = t->nid_next;
	return 0;
}

/* ---- write-ahead log records ----------------------------------------------
 *
 * A group: a 64-byte header in its first block, then the records of its
 * transactions back to back, zero padding to whole blocks.
 *
 *   0  "NORNWAL1"    8 version (u32)    12 crc32c (u32, of the header with
 *   this field zero and the payload)    16 log id (u64)    24 sequence (u64)
 *   32 log position (u64)    40 length in bytes, padded (u32)
 *   44 transactions (u32)    48 payload bytes (u32)    52 zero
 *
 * A transaction record: nid_next (u64), mutations (u32) each as type (u8),
 * key length (u32), value length (u32), key, value; allocated runs (u32)
 * and freed runs (u32), each run as first block (u64) and count (u64);
 * written runs (u32), each as first block (u64), count (u32) and the
 * crc32c of each block (u32); since version 2: data in the log (u8, 0 or
 * 1), when 1 followed by the data of every written run in order (count x
 * 4 KiB each: a small transaction's data travels in the log record and
 * the commit thread writes it to its blocks later; replay writes it
 * again). Everything little-endian. Version 1 groups (no data byte) are
 * still read: a store made before version 2 may have them at its first
 * mount by this code. */

#define WAL_MAGIC   "NORNWAL1"
#define WAL_VERSION 2u
#define WAL_HDR     64u
#define WAL_POS_LEN 44u          /* the "wal" record in "super" */
#define MOP_TYPES   ((unsigned)MOP_SHARD_RMRANGE + 1u)

static size_t wal_txn_len(const struct store_txn *t)
{
	size_t n = 8 + 4 + 4 + 4 + 4 + 1 + (size_t)(t->na + t->nf) * 16;
	if (t->wal_data)
		n += (size_t)t->nwcrc * BLK;
	for (uint32_t i = 0; i < t->nw; i++)
		n += 12 + (size_t)t->wsegs[i].n * 4;
	for (uint32_t i = 0; i < t->nm; i++)
		n += 9 + t->mops[i].klen + t->mops[i].vlen;
	return n;
}

static uint8_t *wal_put_runs(uint8_t *p, const struct run *r, uint32_t n)
{
	norn_put_le32(p, n);
	p += 4;
	for (uint32_t i = 0; i < n; i++, p += 16) {
		norn_put_le64(p, r[i].pblk);
		norn_put_le64(p + 8, r[i].n);
	}
	return p;
}

static uint8_t *wal_txn_put(const struct store_txn *t, uint8_t *p)
{
	norn_put_le64(p, t->nid_next);
	norn_put_le32(p + 8, t->nm);
	p += 12;
	for (uint32_t i = 0; i < t->nm; i++) {
		const struct mop *m = &t->mops[i];
		*p = (uint8_t)m->type;
		norn_put_le32(p + 1, (uint32_t)m->klen);
		norn_put_le32(p + 5, (uint32_t)m->vlen);
		p += 9;
		if (m->klen)
			memcpy(p, m->k, m->klen);
		p += m->klen;
		if (m->vlen)
			memcpy(p, m->v, m->vlen);
		p += m->vlen;
	}
	p = wal_put_runs(p, t->allocs, t->na);
	p = wal_put_runs(p, t->frees, t->nf);
	norn_put_le32(p, t->nw);
	p += 4;
	uint32_t k = 0;
	for (uint32_t i = 0; i < t->nw; i++) {
		const struct seg *g = &t->wsegs[i];
		norn_put_le64(p, g->pblk);
		norn_put_le32(p + 8, g->n);
		p += 12;
		NORN_ASSERT(k + g->n <= t->nwcrc);
		for (uint32_t b = 0; b < g->n; b++, p += 4)
			norn_put_le32(p, t->wcrc[k++]);   /* computed when placed */
	}
	*p++ = t->wal_data;
	if (t->wal_data)
		for (uint32_t i = 0; i < t->nw; i++) {
			memcpy(p, t->wsegs[i].buf, (size_t)t->wsegs[i].n * BLK);
			p += (size_t)t->wsegs[i].n * BLK;
		}
	return p;
}

static void wal_hdr_put(uint8_t *b, uint64_t id, uint64_t seq, uint64_t lsn, uint32_t len,
                        uint32_t ntxn, uint32_t payload)
{
	memset(b, 0, WAL_HDR);
	memcpy(b, WAL_MAGIC, 8);
	norn_put_le32(b + 8, WAL_VERSION);
	norn_put_le64(b + 16, id);
	norn_put_le64(b + 24, seq);
	norn_put_le64(b + 32, lsn);
	norn_put_le32(b + 40, len);
	norn_put_le32(b + 44, ntxn);
	norn_put_le32(b + 48, payload);
	norn_put_le32(b + 12, norn_crc32c(0, b, WAL_HDR + (size_t)payload));
}

int store__wal_group_len(const void *hdr, size_t len, uint64_t id, uint64_t seq, uint64_t lsn,
                         uint32_t *glen)
{
	const uint8_t *b = hdr;
	if (len < WAL_HDR || memcmp(b, WAL_MAGIC, 8) || norn_get_le32(b + 8) < 1 ||
	    norn_get_le32(b + 8) > WAL_VERSION)
		return NORN_ECORRUPT;
	if ((id != UINT64_MAX && norn_get_le64(b + 16) != id) ||
	    (seq != UINT64_MAX && norn_get_le64(b + 24) != seq) ||
	    (lsn != UINT64_MAX && norn_get_le64(b + 32) != lsn))
		return NORN_ECORRUPT;
	uint32_t l = norn_get_le32(b + 40), payload = norn_get_le32(b + 48);
	if (l < BLK || l % BLK || (uint64_t)WAL_HDR + payload > l)
		return NORN_ECORRUPT;
	*glen = l;
	return 0;
}

static int wal_get_runs(const uint8_t **pp, const uint8_t *end, uint64_t nblocks,
                        struct run **arr, uint32_t *n, uint32_t *cap)
{
	const uint8_t *p = *pp;
	if (end - p < 4)
		return NORN_ECORRUPT;
	uint32_t cnt = norn_get_le32(p);
	p += 4;
	if ((uint64_t)(end - p) < (uint64_t)cnt * 16)
		return NORN_ECORRUPT;
	for (uint32_t i = 0; i < cnt; i++, p += 16) {
		uint64_t b = norn_get_le64(p), c = norn_get_le64(p + 8);
		if (b < STORE__RESERVED_BLOCKS || c == 0 || b >= nblocks || c > nblocks - b)
			return NORN_ECORRUPT;
		if (run_add(arr, n, cap, b, c))
			return -ENOMEM;
	}
	*pp = p;
	return 0;
}

static int wal_get_written(const uint8_t **pp, const uint8_t *end, uint64_t nblocks,
                           struct store_txn *t)
{
	const uint8_t *p = *pp;
	if (end - p < 4)
		return NORN_ECORRUPT;
	uint32_t cnt = norn_get_le32(p);
	p += 4;
	uint64_t ncrc = 0;
	const uint8_t *q = p;
	for (uint32_t i = 0; i < cnt; i++) {   /* sizes first: bounded by the record */
		if (end - q < 12)
			return NORN_ECORRUPT;
		uint64_t b = norn_get_le64(q);
		uint32_t n = norn_get_le32(q + 8);
		if (b < STORE__RESERVED_BLOCKS || n == 0 || b >= nblocks || n > nblocks - b ||
		    (uint64_t)(end - q - 12) < (uint64_t)n * 4)
			return NORN_ECORRUPT;
		q += 12 + (size_t)n * 4;
		ncrc += n;
	}
	t->wcrc = malloc((ncrc ? ncrc : 1) * sizeof(*t->wcrc));
	t->capwcrc = t->nwcrc = (uint32_t)ncrc;
	t->wsegs = calloc(cnt ? cnt : 1, sizeof(*t->wsegs));
	if (!t->wcrc || !t->wsegs)
		return -ENOMEM;
	t->capw = cnt;
	uint64_t k = 0;
	for (uint32_t i = 0; i < cnt; i++) {
		struct seg *g = &t->wsegs[t->nw++];
		g->pblk = norn_get_le64(p);
		g->n = norn_get_le32(p + 8);
		p += 12;
		for (uint32_t b = 0; b < g->n; b++, p += 4)
			t->wcrc[k++] = norn_get_le32(p);
	}
	*pp = p;
	return 0;
}

/* The data byte and, when set, the data of every written run (each block
 * must match its recorded crc). The decoded runs point into the record. */
static int wal_get_data(const uint8_t **pp, const uint8_t *end, struct store_txn *t)
{
	const uint8_t *p = *pp;
	if (end - p < 1 || p[0] > 1)
		return NORN_ECORRUPT;
	t->wal_data = p[0] == 1;
	p++;
	if (t->wal_data) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < t->nw; i++) {
			struct seg *g = &t->wsegs[i];
			if ((uint64_t)(end - p) < (uint64_t)g->n * BLK)
				return NORN_ECORRUPT;
			for (uint32_t b = 0; b < g->n; b++, k++)
				if (norn_crc32c(0, p + (size_t)b * BLK, BLK) != t->wcrc[k])
					return NORN_ECORRUPT;
			g->buf = (uint8_t *)(uintptr_t)p;   /* read only, not owned */
			g->owns = false;
			p += (size_t)g->n * BLK;
		}
	}
	*pp = p;
	return 0;
}

void store__wal_txns_free(struct store_txn *h)
{
	while (h) {
		struct store_txn *next = h->next;
		store_txn_free(h);
		h = next;
	}
}

int store__wal_group_decode(const void *buf, size_t len, uint64_t id, uint64_t seq, uint64_t lsn,
                            uint64_t nblocks, struct store_txn **head_out, uint32_t *n_out)
{
	*head_out = NULL;
	*n_out = 0;
	uint32_t glen;
	int rc = store__wal_group_len(buf, len, id, seq, lsn, &glen);
	if (rc)
		return rc;
	const uint8_t *b = buf;
	uint32_t ntxn = norn_get_le32(b + 44), payload = norn_get_le32(b + 48);
	uint32_t version = norn_get_le32(b + 8);
	if (glen > len)
		return NORN_ECORRUPT;
	uint8_t hdr[WAL_HDR];
	memcpy(hdr, b, WAL_HDR);
	memset(hdr + 12, 0, 4);
	uint32_t crc = norn_crc32c(0, hdr, WAL_HDR);
	crc = norn_crc32c(crc, b + WAL_HDR, payload);
	if (crc != norn_get_le32(b + 12))
		return NORN_ECORRUPT;
	const uint8_t *p = b + WAL_HDR, *end = p + payload;
	struct store_txn *h = NULL, *tl = NULL;
	for (uint32_t i = 0; i < ntxn && !rc; i++) {
		struct store_txn *t = store_txn_new();
		if (!t) {
			rc = -ENOMEM;
			break;
		}
		if (tl)
			tl->next = t;
		else
			h = t;
		tl = t;
		if (end - p < 12) {
			rc = NORN_ECORRUPT;
			break;
		}
		t->nid_next = norn_get_le64(p);
		uint32_t nm = norn_get_le32(p + 8);
		p += 12;
		for (uint32_t j = 0; j < nm && !rc; j++) {
			if (end - p < 9) {
				rc = NORN_ECORRUPT;
				break;
			}
			unsigned type = p[0];
			uint32_t kl = norn_get_le32(p + 1), vl = norn_get_le32(p + 5);
			p += 9;
			if (type >= MOP_TYPES || (uint64_t)(end - p) < (uint64_t)kl + vl) {
				rc = NORN_ECORRUPT;
				break;
			}
			rc = mop_add(t, (enum mop_type)type, p, kl, NULL, 0, p + kl, vl);
			p += (size_t)kl + vl;
		}
		if (!rc)
			rc = wal_get_runs(&p, end, nblocks, &t->allocs, &t->na, &t->capa);
		if (!rc)
			rc = wal_get_runs(&p, end, nblocks, &t->frees, &t->nf, &t->capf);
		if (!rc)
			rc = wal_get_written(&p, end, nblocks, t);
		if (!rc && version >= 2)
			rc = wal_get_data(&p, end, t);
	}
	if (!rc && p != end)
		rc = NORN_ECORRUPT;
	if (rc) {
		store__wal_txns_free(h);
		return rc;
	}
	*head_out = h;
	*n_out = ntxn;
	return 0;
}

static void pipe_advance(struct store *s);

/* Durability. The transactions prepared since the last group (a stretch
 * of the pipeline in order, failed ones skipped) form one log group when
 * the loop finishes an iteration (sync_kick from the check/prepare phase),
 * so the group's log write goes to the device together with their data
 * writes. Once the log write and every data write of the group completed,
 * one IORING_OP_FSYNC (datasync) of the data file makes them durable
 * together, and the group's transactions are acknowledged. The group also
 * records every block its transactions wrote with its crc32c: a crash (or
 * power loss) can leave a group's log record on the device without all of
 * its data, and replay stops at the first group whose data does not match
 * (none of it was acknowledged). Up to wal_groups groups are in flight (the
 * device overlaps their flushes); acknowledgements stay in order because
 * the pipeline is popped as a prefix. */
struct wgroup {
	uint64_t seq;
	uint8_t *buf;
	uint32_t pending;        /* the log write + members with data writes in flight */
	int res;
	/* Every member's data is in the log record: the fdatasync is linked
	 * behind the log write (one submission, no loop round trip between
	 * them); pending then counts the log write and the fdatasync. */
	bool linked;
};

static void group_done(struct store *s, struct wgroup *g, int res)
{
	NORN_ASSERT(s->groups_inflight > 0);
	s->groups_inflight--;
	if (res < 0)
		set_failed(s, "log write or data fdatasync", res);
	for (struct store_txn *t = s->pipe_head; t; t = t->next)
		if (t->group == g) {
			NORN_ASSERT(t->state == TS_SYNCING);
			if (res < 0 && !t->result)
				t->result = NORN_EFAILED;
			t->state = TS_READY;
			t->group = NULL;
		}
	free(g->buf);
	free(g);
	pipe_advance(s);
}

static void group_dec(struct store *s, struct wgroup *g);

static void on_data_fsync(struct store *s, struct sio *io, int res)
{
	struct wgroup *g = io->ctx;
	free(io);
	if (g->linked) {
		/* -ECANCELED when the log write failed: g->res has that. */
		if (res < 0 && g->res >= 0)
			g->res = res;
		group_dec(s, g);
		return;
	}
	group_done(s, g, res);
}

/* One part of group @g (its log write or a member's data) completed. */
static void group_dec(struct store *s, struct wgroup *g)
{
	NORN_ASSERT(g->pending > 0);
	if (--g->pending)
		return;
	if (g->linked) {
		group_done(s, g, g->res);
		return;
	}
	if (g->res < 0 || atomic_load(&s->failed)) {
		group_done(s, g, g->res < 0 ? g->res : NORN_EFAILED);
		return;
	}
	struct sio *f = calloc(1, sizeof(*f));
	NORN_ASSERT(f);
	f->fsync = true;
	f->done = on_data_fsync;
	f->ctx = g;
	io_queue(s, f);
	io_kick(s);
}

static void on_wal_write(struct store *s, struct sio *io, int res)
{
	struct wgroup *g = io->ctx;
	free(io);
	if (res < 0)
		g->res = res;
	group_dec(s, g);
}

static void on_txn_write(struct store *s, struct sio *io, int res)
{
	struct store_txn *t = io->ctx;
	if (res < 0) {
		set_failed(s, "data write", res);
		t->result = NORN_EFAILED;
	}
	free(io);
	NORN_ASSERT(t->writes_pending > 0);
	if (--t->writes_pending)
		return;
	if (t->group) {
		t->state = TS_SYNCING;
		group_dec(s, t->group);
	} else {
		t->state = t->result ? TS_READY : TS_WRITTEN;
		pipe_advance(s);
	}
}

static void cq_push(struct store *s, struct store_txn *h, struct store_txn *tl, uint32_t n)
{
	pthread_mutex_lock(&s->mu);
	if (s->cq_tail)
		s->cq_tail->next = h;
	else
		s->cq_head = h;
	s->cq_tail = tl;
	s->cq_n += n;
	/* While the commit thread waits (bounded) for a batch to fill up,
	 * wake it only when the batch is full: a wake-up per log group cost
	 * two context switches each. */
	if (!s->c_batching || s->cq_n >= s->o.commit_batch_max / 2 || tl->direct ||
	    atomic_load(&s->pend_bytes) >= s->wal_size / 4)
		pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Form one log group; true when one was formed. */
static bool sync_kick(struct store *s)
{
	if (s->groups_inflight >= s->o.wal_groups || s->direct_inflight)
		return false;
	if (atomic_load(&s->failed)) {
		for (struct store_txn *t = s->pipe_head; t; t = t->next)
			if (t->state == TS_WRITTEN) {
				t->result = NORN_EFAILED;
				t->state = TS_READY;
			}
		return false;
	}
	size_t max = s->wal_size / 4, len = WAL_HDR;
	uint32_t n = 0;
	struct store_txn *first = NULL, *last = NULL;
	for (struct store_txn *t = s->pipe_head; t; t = t->next) {
		if (t->state == TS_READY || t->group)
			continue;
		NORN_ASSERT(t->state == TS_WRITING || t->state == TS_WRITTEN);
		size_t tl = wal_txn_len(t);
		if (WAL_HDR + tl > max) {
			/* Too big for the log: once its data is written and
			 * everything before it acknowledged, it commits straight
			 * to LMDB (synced); nothing after it is logged until then. */
			if (n || t != s->pipe_head || s->groups_inflight || t->state != TS_WRITTEN)
				break;
			s->pipe_head = t->next;
			if (!s->pipe_head)
				s->pipe_tail = NULL;
			t->next = NULL;
			t->state = TS_DIRECT;
			t->direct = true;
			s->direct_inflight = true;
			s->ungrouped -= s->ungrouped > 0;
			NLOG(STORE, DEBUG, "transaction with %zu bytes of metadata bypasses the log", tl);
			cq_push(s, t, t, 1);
			return false;
		}
		if (len + tl > max || (s->o.wal_group_txns && n >= s->o.wal_group_txns))
			break;
		len += tl;
		n++;
		if (!first)
			first = t;
		last = t;
	}
	if (!n)
		return false;
	size_t glen = (len + BLK - 1) / BLK * BLK;
	uint64_t lsn = s->wal_head;
	if (lsn % s->wal_size + glen > s->wal_size)
		lsn += s->wal_size - lsn % s->wal_size;
	if (lsn + glen - atomic_load(&s->wal_tail) > s->wal_size) {
		/* The ring is full of changes LMDB has not made durable. */
		if (!s->wal_wait)
			NLOG(STORE, DEBUG, "log full: waiting for the metadata apply");
		s->wal_wait = true;
		atomic_store(&s->wal_need_sync, true);
		pthread_mutex_lock(&s->mu);
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		return false;
	}
	s->wal_wait = false;
	struct wgroup *g = calloc(1, sizeof(*g));
	NORN_ASSERT(g);
	g->seq = s->wal_seq;
	g->buf = blk_alloc(glen / BLK);
	NORN_ASSERT(g->buf);
	g->pending = 1;
	uint8_t *p = g->buf + WAL_HDR;
	for (struct store_txn *t = first;; t = t->next) {
		if (t->state != TS_READY) {
			p = wal_txn_put(t, p);
			t->group = g;
			if (t->state == TS_WRITTEN)
				t->state = TS_SYNCING;
			else
				g->pending++;
		} else {
			/* A failed one inside the group completes with it, so
			 * a group always reaches the commit thread whole. */
			t->group = g;
			t->state = TS_SYNCING;
		}
		if (t == last)
			break;
		t->mid_group = true;
	}
	NORN_ASSERT((size_t)(p - g->buf) == len);
	memset(p, 0, glen - len);
	last->wal_seq = s->wal_seq;
	last->wal_end = lsn + glen;
	wal_hdr_put(g->buf, s->wal_id, s->wal_seq, lsn, (uint32_t)glen, n,
	            (uint32_t)(len - WAL_HDR));
	s->wal_seq++;
	s->wal_head = lsn + glen;
	s->ungrouped -= NORN_MIN(s->ungrouped, n);
	s->st_groups++;
	s->st_group_txns += n;
	s->st_wal_bytes += glen;
	struct sio *io = calloc(1, sizeof(*io));
	NORN_ASSERT(io);
	io->write = true;
	io->off = s->wal_off + lsn % s->wal_size;
	io->buf = g->buf;
	io->len = (uint32_t)glen;
	io->done = on_wal_write;
	io->ctx = g;
	s->writes_inflight++;
	s->groups_inflight++;
	io_queue(s, io);
	if (g->pending == 1) {
		/* Only the log write: its fdatasync goes linked behind it. */
		struct sio *f = calloc(1, sizeof(*f));
		NORN_ASSERT(f);
		f->fsync = true;
		f->done = on_data_fsync;
		f->ctx = g;
		g->linked = true;
		g->pending = 2;
		io->link = true;
		io_queue(s, f);
	}
	io_kick(s);
	return true;
}

static void on_prep_read(struct store *s, struct sio *io, int res)
{
	struct store_txn *t = io->ctx;
	struct seg *sg = &t->rsegs[io->idx];
	if (res < 0) {
		NLOG(STORE, ERR, "read of block %" PRIu64 " failed: %s", sg->pblk, norn_strerror(res));
		t->result = -EIO;
	} else if (norn_crc32c(0, sg->buf, BLK) != sg->want_crc) {
		NLOG(STORE, ERR, "crc mismatch in block %" PRIu64 " while updating (txn op %u)",
		     sg->pblk, t->op_idx);
		t->result = NORN_ECRC;
	} else {
		sg->have = true;
	}
	free(io);
	NORN_ASSERT(s->reads_inflight > 0);
	s->reads_inflight--;
	NORN_ASSERT(t->reads_pending > 0);
	t->reads_pending--;
}

static void prep_pop(struct store *s)
{
	s->prep_head = s->prep_head->next;
	if (!s->prep_head)
		s->prep_tail = NULL;
}

static void pipe_push(struct store *s, struct store_txn *t)
{
	t->next = NULL;
	if (s->pipe_tail)
		s->pipe_tail->next = t;
	else
		s->pipe_head = t;
	s->pipe_tail = t;
}

/* With store_wal_group_txns set, a group goes out as soon as that many
 * transactions are prepared, not at the end of the loop iteration: when a
 * burst of acknowledgements brings a burst of new transactions (QD32
 * clients resubmit from the callbacks), the first group's log write runs
 * while the rest are still being prepared, and the groups' fdatasyncs
 * overlap the next groups' writes. */
static void eager_group(struct store *s)
{
	if (++s->ungrouped < s->o.wal_group_txns || !s->o.wal_group_txns)
		return;
	if (sync_kick(s))
		io_flush(s);
}

/* Whether @t's data goes in its log record: it writes at most
 * wal_data_max_bytes and its record stays small enough for the log. Its
 * blocks are then listed in the pending table. */
static bool wal_data_pick(struct store *s, struct store_txn *t)
{
	if (!t->nw || !s->o.wal_data_max_bytes || (uint64_t)t->nwcrc * BLK > s->o.wal_data_max_bytes)
		return false;
	t->wal_data = true;
	if (WAL_HDR + wal_txn_len(t) > s->wal_size / 4 || pend_add(s, t)) {
		t->wal_data = false;
		return false;
	}
	s->st_wal_data_txns++;
	return true;
}

/* Prepare queued transactions in order until one waits for reads. */
static void pump(struct store *s)
{
	for (unsigned guard = 0; guard < 100000 && s->prep_head; guard++) {
		struct store_txn *t = s->prep_head;
		if (t->reads_pending)
			return;
		if (t->state == TS_NEW) {
			t->state = TS_PREP;
			t->nid_next = s->nid_next;
		}
		int rc = t->result;
		if (!rc && atomic_load(&s->failed))
			rc = NORN_EFAILED;
		while (!rc && t->op_idx < t->nops) {
			rc = run_op(s, t, &t->ops[t->op_idx]);
			if (rc == 0)
				t->op_idx++;
		}
		if (rc == NEED_READ) {
			/* Blocks whose data is only in the log are in memory. */
			bool missing = false;
			for (uint32_t i = 0; i < t->nr; i++) {
				struct seg *sg = &t->rsegs[i];
				if (sg->have || sg->issued)
					continue;
				if (!pend_copy(s, sg->pblk, sg->buf)) {
					missing = true;
					continue;
				}
				NORN_ASSERT(norn_crc32c(0, sg->buf, BLK) == sg->want_crc);
				sg->have = true;
			}
			if (!missing && !t->reads_pending)
				continue;
			if (s->writes_inflight) {
				s->drain_wait = true;   /* resumed when the writes drained */
				io_kick(s);
				pipe_advance(s);
				return;
			}
			s->drain_wait = false;
			for (uint32_t i = 0; i < t->nr; i++) {
				struct seg *sg = &t->rsegs[i];
				if (sg->have || sg->issued)
					continue;
				struct sio *io = calloc(1, sizeof(*io));
				NORN_ASSERT(io);
				io->off = sg->pblk * BLK;
				io->buf = sg->buf;
				io->len = BLK;
				io->done = on_prep_read;
				io->ctx = t;
				io->idx = i;
				sg->issued = true;
				t->reads_pending++;
				s->reads_inflight++;
				io_queue(s, io);
			}
			if (t->reads_pending) {
				io_kick(s);
				return;
			}
			continue;
		}
		if (!rc)
			rc = txn_finish(s, t);
		prep_pop(s);
		if (rc) {
			if (rc != NORN_EFAILED)
				NLOG(STORE, DEBUG, "transaction failed at op %u: %s", t->op_idx,
				     norn_strerror(rc));
			txn_rollback_alloc(s, t);
			txn_scratch_free(t);
			t->result = rc;
			t->state = TS_READY;
			pipe_push(s, t);
			continue;
		}
		/* Small data goes in the log record (one log write for the
		 * group instead of one write per transaction); else data out:
		 * one write per contiguous new segment. */
		if (wal_data_pick(s, t)) {
			t->state = TS_WRITTEN;
			pipe_push(s, t);
			eager_group(s);
			continue;
		}
		for (uint32_t i = 0; i < t->nw; i++) {
			struct sio *io = calloc(1, sizeof(*io));
			NORN_ASSERT(io);
			io->write = true;
			io->off = t->wsegs[i].pblk * BLK;
			io->buf = t->wsegs[i].buf;
			io->len = t->wsegs[i].n * BLK;
			io->done = on_txn_write;
			io->ctx = t;
			t->writes_pending++;
			s->writes_inflight++;   /* counted from queueing: see the drain */
			io_queue(s, io);
		}
		t->state = t->writes_pending ? TS_WRITING : TS_WRITTEN;
		pipe_push(s, t);
		eager_group(s);
	}
	io_kick(s);
	pipe_advance(s);
}

/* Acknowledge the durable prefix of the pipeline in order and hand it to
 * the commit thread, which applies it to LMDB. The callbacks run after the
 * hand-over (a callback may queue more transactions, which then go behind
 * these). */
static void pipe_advance(struct store *s)
{
	struct ack { store_txn_cb cb; void *arg; int result; } local[64], *acks = local;
	uint32_t n = 0, cap = NORN_ARRAY_SIZE(local);
	struct store_txn *h = NULL, *tl = NULL;
	while (!s->direct_inflight && s->pipe_head && s->pipe_head->state == TS_READY) {
		struct store_txn *t = s->pipe_head;
		if (n == cap) {
			struct ack *na = malloc((size_t)cap * 2 * sizeof(*na));
			NORN_ASSERT(na);   /* small; an ack cannot be dropped */
			memcpy(na, acks, n * sizeof(*na));
			if (acks != local)
				free(acks);
			acks = na;
			cap *= 2;
		}
		s->pipe_head = t->next;
		if (!s->pipe_head)
			s->pipe_tail = NULL;
		t->next = NULL;
		/* Data buffers and the ops' copies are no longer needed (the
		 * mutations hold what LMDB still needs), unless the data is
		 * only in the log: the commit thread writes it to its blocks. */
		for (uint32_t i = 0; i < t->nw && !t->pend; i++) {
			if (t->wsegs[i].owns)
				free(t->wsegs[i].buf);
			t->wsegs[i].buf = NULL;
		}
		for (uint32_t i = 0; i < t->nops && !t->pend; i++) {
			op_free_a(&t->ops[i]);
			free(t->ops[i].b);
			t->ops[i].a = t->ops[i].b = NULL;
		}
		for (uint32_t i = 0; i < t->novl; i++) {
			NORN_ASSERT(t->ovls[i]->unacked > 0);
			t->ovls[i]->unacked--;
		}
		s->acked_tseq = t->tseq;
		/* After a failure nothing more is acknowledged: an earlier
		 * group may not have made it, and the log replays only an
		 * unbroken sequence. */
		if (!t->result && atomic_load(&s->failed))
			t->result = NORN_EFAILED;
		acks[n].cb = t->cb;
		acks[n].arg = t->arg;
		acks[n].result = t->result;
		t->cb = NULL;
		n++;
		if (tl)
			tl->next = t;
		else
			h = t;
		tl = t;
	}
	if (!h)
		return;
	/* Whole groups to the commit thread before any callback runs: a
	 * callback may wait for LMDB (wait_applied). */
	cq_push(s, h, tl, n);
	for (uint32_t i = 0; i < n; i++)
		if (acks[i].cb)
			acks[i].cb(acks[i].arg, acks[i].result);
	if (acks != local)
		free(acks);
}

int store_queue_txn(struct store *s, struct store_txn *t, store_txn_cb cb, void *arg)
{
	NORN_ASSERT(t);
	int rc = t->err;
	if (!rc && s->closing)
		rc = -ESHUTDOWN;
	if (!rc && atomic_load(&s->failed))
		rc = NORN_EFAILED;
	if (!rc && s->queued >= STORE_QUEUED_TXNS_MAX)
		rc = NORN_EAGAIN;
	if (rc) {
		store_txn_free(t);
		return rc;
	}
	t->s = s;
	t->cb = cb;
	t->arg = arg;
	t->next = NULL;
	t->state = TS_NEW;
	t->tseq = ++s->tseq_next;
	if (s->prep_tail)
		s->prep_tail->next = t;
	else
		s->prep_head = t;
	s->prep_tail = t;
	s->queued++;
	busy_get(s);
	pump(s);
	return 0;
}

/* ---- commit thread -------------------------------------------------------- */

static int apply_rmrange(MDB_txn *w, MDB_dbi db, const uint8_t *a, size_t al, const uint8_t *z,
                         size_t zl)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(w, db, &c);
	if (rc)
		return rc;
	MDB_val k = { al, (void *)a }, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		size_t m = NORN_MIN(k.mv_size, zl);
		int cmp = memcmp(k.mv_data, z, m);
		if (cmp > 0 || (cmp == 0 && k.mv_size >= zl))
			break;
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
		if (rc == EINVAL)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int apply_omap_copy(MDB_txn *w, MDB_dbi db, const uint8_t *src8, const uint8_t *dst8)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(w, db, &c);
	if (rc)
		return rc;
	/* Collect first: inserting while iterating the same tree is fragile. */
	struct store_kvs l = { 0 };
	size_t cap = 0;
	MDB_val k = { 8, (void *)src8 }, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 8 && !memcmp(k.mv_data, src8, 8)) {
		if (l.n == cap) {
			cap = cap ? cap * 2 : 16;
			struct store_kv *p = realloc(l.v, cap * sizeof(*p));
			if (!p) {
				rc = ENOMEM;
				break;
			}
			l.v = p;
		}
		struct store_kv *kv = &l.v[l.n];
		kv->key = malloc(k.mv_size);
		kv->val = malloc(v.mv_size ? v.mv_size : 1);
		if (!kv->key || !kv->val) {
			free(kv->key);
			free(kv->val);
			rc = ENOMEM;
			break;
		}
		memcpy(kv->key, k.mv_data, k.mv_size);
		memcpy(kv->val, v.mv_data, v.mv_size);
		kv->klen = k.mv_size;
		kv->vlen = v.mv_size;
		l.n++;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND || rc == 0) {
		rc = 0;
		for (size_t i = 0; i < l.n && !rc; i++) {
			memcpy(l.v[i].key, dst8, 8);
			MDB_val kk = { l.v[i].klen, l.v[i].key }, vv = { l.v[i].vlen, l.v[i].val };
			rc = mdb_put(w, db, &kk, &vv, 0);
		}
	}
	store_kvs_free(&l);
	return rc;
}

static int apply_txn(struct store *s, MDB_txn *w, struct store_txn *t, bool from_log)
{
	int rc = 0;

	for (uint32_t i = 0; i < t->nm && !rc; i++) {
		struct mop *m = &t->mops[i];
		MDB_val k = { m->klen, m->k }, v = { m->vlen, m->v };
		switch (m->type) {
		case MOP_ONODE_PUT: rc = mdb_put(w, s->db_onode, &k, &v, 0); break;
		case MOP_ONODE_DEL: rc = mdb_del(w, s->db_onode, &k, NULL); break;
		case MOP_OMAP_SET:  rc = mdb_put(w, s->db_omap, &k, &v, 0); break;
		case MOP_OMAP_RM:   rc = mdb_del(w, s->db_omap, &k, NULL); break;
		case MOP_OMAP_RMRANGE: rc = apply_rmrange(w, s->db_omap, m->k, m->klen, m->v, m->vlen); break;
		case MOP_OMAP_COPY: rc = apply_omap_copy(w, s->db_omap, m->k, m->v); break;
		case MOP_COLL_PUT:  rc = mdb_put(w, s->db_coll, &k, &v, 0); break;
		case MOP_COLL_DEL: {
			rc = mdb_del(w, s->db_coll, &k, NULL);
			if (rc)
				break;
			uint8_t a[STORE_CID_MAX + 1], z[STORE_CID_MAX + 1];
			memcpy(a, m->k, m->klen);
			a[m->klen] = 0;
			memcpy(z, m->k, m->klen);
			z[m->klen] = 1;
			rc = apply_rmrange(w, s->db_cmeta, a, m->klen + 1, z, m->klen + 1);
			break;
		}
		case MOP_CMETA_PUT: rc = mdb_put(w, s->db_cmeta, &k, &v, 0); break;
		case MOP_CMETA_DEL: rc = mdb_del(w, s->db_cmeta, &k, NULL); break;
		case MOP_SHARD_PUT: rc = mdb_put(w, s->db_shard, &k, &v, 0); break;
		case MOP_SHARD_DEL: rc = mdb_del(w, s->db_shard, &k, NULL); break;
		case MOP_SHARD_RMRANGE: rc = apply_rmrange(w, s->db_shard, m->k, m->klen, m->v, m->vlen); break;
		}
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	for (uint32_t i = 0; i < t->na; i++)
		for (uint64_t b = t->allocs[i].pblk; b < t->allocs[i].pblk + t->allocs[i].n; b++) {
			if (from_log && bit_get(s->dmap, b))
				return NORN_ECORRUPT;   /* bytes from the disk: checked */
			NORN_ASSERT(!bit_get(s->dmap, b));
			bit_set(s->dmap, b);
			s->dirty_chunks[b / s->chunk_blocks] = 1;
		}
	for (uint32_t i = 0; i < t->nf; i++)
		for (uint64_t b = t->frees[i].pblk; b < t->frees[i].pblk + t->frees[i].n; b++) {
			if (from_log && !bit_get(s->dmap, b))
				return NORN_ECORRUPT;
			NORN_ASSERT(bit_get(s->dmap, b));
			bit_clr(s->dmap, b);
			s->dirty_chunks[b / s->chunk_blocks] = 1;
		}
	return rc;
}

static void wal_pos_put(const struct store *s, uint8_t out[WAL_POS_LEN], uint64_t seq, uint64_t lsn)
{
	norn_put_le32(out, 1);
	norn_put_le64(out + 4, s->wal_off / BLK);
	norn_put_le64(out + 12, s->wal_size / BLK);
	norn_put_le64(out + 20, s->wal_id);
	norn_put_le64(out + 28, seq);
	norn_put_le64(out + 36, lsn);
}

/* One LMDB write transaction: the metadata changes of @h (failed ones
 * skipped), the allocator chunks they changed, the next nid and, when
 * @seq is not 0, the log position (group @seq, ending at @lsn) they reach.
 * @from_log: @h was decoded from the log, so its allocator changes are
 * checked instead of asserted. */
static int commit_batch(struct store *s, struct store_txn *h, bool from_log, uint64_t seq,
                        uint64_t lsn)
{
	uint64_t nid = 0;
	for (struct store_txn *t = h; t; t = t->next)
		if (!t->result)
			nid = NORN_MAX(nid, t->nid_next);
	MDB_txn *w;
	int rc = mdb_txn_begin(s->env, NULL, 0, &w);
	if (rc) {
		set_failed(s, "LMDB txn begin", mdb_err(rc));
		return NORN_EFAILED;
	}
	for (struct store_txn *t = h; t && !rc; t = t->next)
		if (!t->result)
			rc = apply_txn(s, w, t, from_log);
	for (uint64_t c = 0; c < s->nchunks && !rc; c++) {
		if (!s->dirty_chunks[c])
			continue;
		uint8_t ck[8];
		chunk_key(ck, c);
		uint8_t chunk[STORE__CHUNK_BYTES_V1];
		for (uint32_t i = 0; i < s->chunk_bytes / 8; i++)
			norn_put_le64(chunk + i * 8, s->dmap[c * (s->chunk_bytes / 8) + i]);
		MDB_val k = { 8, ck }, v = { s->chunk_bytes, chunk };
		rc = mdb_put(w, s->db_alloc, &k, &v, 0);
		s->dirty_chunks[c] = 0;
	}
	if (!rc && nid > s->nid_committed) {   /* unchanged: leave the super page alone */
		uint8_t nb[8];
		norn_put_le64(nb, nid);
		MDB_val k = { 3, (void *)"nid" }, v = { 8, nb };
		rc = mdb_put(w, s->db_super, &k, &v, 0);
	}
	if (!rc && seq) {
		uint8_t pos[WAL_POS_LEN];
		wal_pos_put(s, pos, seq, lsn);
		MDB_val k = { 3, (void *)"wal" }, v = { WAL_POS_LEN, pos };
		rc = mdb_put(w, s->db_super, &k, &v, 0);
	}
	if (rc) {
		if (rc > 0)
			NLOG(STORE, ERR, "LMDB update: %s (%d)", mdb_strerror(rc), rc);
		mdb_txn_abort(w);
		set_failed(s, from_log && rc == NORN_ECORRUPT ? "log replay (allocator mismatch)"
		                                              : "LMDB update", rc < 0 ? rc : mdb_err(rc));
		return NORN_EFAILED;
	}
	s->ncommit++;
	if (s->o.fault.fail_commit_n && s->ncommit == s->o.fault.fail_commit_n) {
		NLOG(STORE, WARN, "fault injection: failing LMDB commit #%u", s->ncommit);
		mdb_txn_abort(w);
		set_failed(s, "LMDB commit", -EIO);
		return NORN_EFAILED;
	}
	rc = mdb_txn_commit(w);
	if (rc) {
		NLOG(STORE, ERR, "LMDB commit: %s (%d)", mdb_strerror(rc), rc);
		set_failed(s, "LMDB commit", mdb_err(rc));
		return NORN_EFAILED;
	}
	s->nid_committed = NORN_MAX(s->nid_committed, nid);
	if (seq) {
		s->c_seq = seq;
		s->c_lsn = lsn;
	}
	return 0;
}

/* The commit thread applies acknowledged (logged) transactions to LMDB in
 * large batches, whole log groups at a time, off the acknowledgement path.
 * The environment runs with MDB_NOMETASYNC: a commit syncs its pages, then
 * writes its meta page without syncing it; the next commit's page sync
 * makes that meta page durable. So after a commit the previous commit's
 * log position is durable in LMDB and the ring up to it may be reused
 * (wal_tail); an explicit sync (the loop ran out of log, or a transaction
 * that bypassed the log) makes this commit's position durable at once. */
static void lmdb_synced(struct store *s)
{
	int rc = mdb_env_sync(s->env, 1);
	if (rc)
		set_failed(s, "LMDB sync", mdb_err(rc));
	else
		atomic_store(&s->wal_tail, s->c_lsn);
	s->c_lsn_prev = s->c_lsn;
}

/* Commit thread: one request on its own ring (submitted at once) and
 * wait until at most @keep remain in flight. Returns the first error. */
#define CRING_QD 64u

static int cring_reap(struct store *s, uint32_t *inflight, uint32_t keep)
{
	int err = 0;
	while (*inflight > keep) {
		int rc = io_uring_submit(&s->cring);
		struct io_uring_cqe *cqe;
		if (rc >= 0)
			rc = io_uring_wait_cqe(&s->cring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			/* Requests in flight on buffers we cannot free: nothing
			 * can be trusted. */
			set_failed(s, "io_uring (metadata apply)", rc);
			NORN_ASSERT(!"io_uring submit/wait failed on the commit thread");
		}
		for (unsigned guard = 0; guard < CRING_QD * 2 && !io_uring_peek_cqe(&s->cring, &cqe);
		     guard++) {
			/* user_data: the length a write must report (0: fdatasync;
			 * UINT64_MAX: a torn write, an injected fault) */
			uint64_t want = cqe->user_data;
			if (!err && cqe->res < 0)
				err = cqe->res;
			else if (!err && (want == UINT64_MAX || (uint64_t)cqe->res != want))
				err = -EIO;
			io_uring_cqe_seen(&s->cring, cqe);
			NORN_ASSERT(*inflight > 0);
			(*inflight)--;
		}
	}
	return err;
}

/* Commit thread, before the LMDB commit of batch @h: write the data the
 * log holds for its transactions to their blocks, then one fdatasync, so
 * once LMDB has the batch (and the log ring is reused past it) the data
 * no longer needs the log. Then those blocks leave the pending table.
 * 0 or the error (the store is then failed: the log keeps the data and
 * the next mount writes it again). */
static int wal_data_write(struct store *s, struct store_txn *h)
{
	uint32_t inflight = 0, n = 0;
	int err = 0;
	uint64_t t0 = norn_mono_ns();
	for (struct store_txn *t = h; t && !err; t = t->next) {
		if (!t->pend || t->result || atomic_load(&s->failed))
			continue;
		for (uint32_t i = 0; i < t->nw && !err; i++) {
			const struct seg *g = &t->wsegs[i];
			if (inflight >= CRING_QD && (err = cring_reap(s, &inflight, CRING_QD / 2)))
				break;
			/* The ring has 2 x CRING_QD entries: never short. */
			struct io_uring_sqe *sqe = io_uring_get_sqe(&s->cring);
			NORN_ASSERT(sqe);
			uint32_t len = g->n * BLK, nw = atomic_fetch_add(&s->nwrites, 1) + 1;
			uint64_t want = len;
			uint8_t *buf = g->buf;
			s->napply++;
			if ((s->o.fault.fail_write_n && nw == s->o.fault.fail_write_n) ||
			    (s->o.fault.fail_apply_n && s->napply == s->o.fault.fail_apply_n)) {
				NLOG(STORE, WARN, "fault injection: failing data write #%u (logged data #%u)",
				     nw, s->napply);
				io_uring_prep_nop(sqe);
				want = UINT64_MAX;
			} else if (s->o.fault.tear_write_n && nw == s->o.fault.tear_write_n) {
				NLOG(STORE, WARN, "fault injection: tearing data write #%u", nw);
				/* The first block is half new data, half garbage. */
				uint8_t *tb = blk_alloc(1);
				NORN_ASSERT(tb);
				memset(tb, 0xA5, BLK);
				memcpy(tb, buf, BLK / 2);
				ssize_t w = pwrite(s->fd, tb, BLK, (off_t)(g->pblk * BLK));
				(void)w;
				free(tb);
				io_uring_prep_nop(sqe);
				want = UINT64_MAX;
			} else {
				io_uring_prep_write(sqe, s->fd, buf, len, g->pblk * BLK);
			}
			io_uring_sqe_set_data64(sqe, want);
			inflight++;
			n++;
		}
	}
	int rc = cring_reap(s, &inflight, 0);
	err = err ? err : rc;
	if (n && !err) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&s->cring);
		NORN_ASSERT(sqe);   /* the ring is empty now */
		io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data64(sqe, 0);
		inflight++;
		err = cring_reap(s, &inflight, 0);
	}
	if (err)
		set_failed(s, "writing logged data to its blocks", err);
	for (struct store_txn *t = h; t; t = t->next)
		pend_remove(s, t);
	if (n) {
		s->st_apply_n += n;
		s->st_apply_ns += norn_mono_ns() - t0;
	}
	return err ? NORN_EFAILED : 0;
}

/* Hand a list of applied transactions to the loop (under mu). */
static void release(struct store *s, struct store_txn **h, struct store_txn **tl)
{
	if (!*h)
		return;
	if (s->dq_tail)
		s->dq_tail->next = *h;
	else
		s->dq_head = *h;
	s->dq_tail = *tl;
	*h = *tl = NULL;
}

static void *commit_main(void *arg)
{
	struct store *s = arg;
	struct store_txn *held = NULL, *held_tl = NULL;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->cq_head && !s->stop && !atomic_load(&s->wal_need_sync))
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->cq_head && s->stop)
			break;
		if (!s->cq_head) {
			atomic_store(&s->wal_need_sync, false);
			pthread_mutex_unlock(&s->mu);
			if (!atomic_load(&s->failed))
				lmdb_synced(s);
			pthread_mutex_lock(&s->mu);
			release(s, &held, &held_tl);
			uv_async_send(&s->async);
			continue;
		}
		/* Fewer LMDB commits under light load: wait (bounded) for more,
		 * unless someone waits for LMDB. */
		if (s->o.commit_wait_us && !s->cq_head->direct) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)s->o.commit_wait_us * 1000u;
			ts.tv_sec += (time_t)(ns / 1000000000u);
			ts.tv_nsec = (long)(ns % 1000000000u);
			s->c_batching = true;
			while (s->cq_n < s->o.commit_batch_max / 2 && !s->apply_urgent && !s->stop &&
			       !atomic_load(&s->wal_need_sync) &&
			       atomic_load(&s->pend_bytes) < s->wal_size / 4)
				if (pthread_cond_timedwait(&s->cv, &s->mu, &ts))
					break;
			s->c_batching = false;
		}
		s->apply_urgent = false;
		/* A batch ends at the end of a log group; a direct transaction
		 * commits alone. */
		struct store_txn *h = s->cq_head, *tl = h;
		uint32_t n = 1;
		for (;;) {
			if (tl->mid_group) {
				/* The loop is handing over the rest of this group. */
				while (!tl->next)
					pthread_cond_wait(&s->cv, &s->mu);
			} else if (!tl->next || tl->direct || tl->next->direct ||
			           n >= s->o.commit_batch_max) {
				break;
			}
			tl = tl->next;
			n++;
		}
		s->cq_head = tl->next;
		if (!s->cq_head)
			s->cq_tail = NULL;
		tl->next = NULL;
		s->cq_n -= n;
		pthread_mutex_unlock(&s->mu);

		uint64_t seq = 0, lsn = 0;
		bool changed = false, direct = h->direct;
		for (struct store_txn *t = h; t; t = t->next) {
			changed |= t->result == 0;
			if (t->wal_seq) {
				seq = t->wal_seq;
				lsn = t->wal_end;
			}
		}
		uint64_t t0 = norn_mono_ns();
		int rc = wal_data_write(s, h);
		if (!rc && atomic_load(&s->failed))
			rc = NORN_EFAILED;
		else if (!rc && (changed || seq))
			rc = commit_batch(s, h, false, seq, lsn);
		bool wrote = !rc && (changed || seq), synced = false;
		if (wrote) {
			if (direct || atomic_exchange(&s->wal_need_sync, false)) {
				lmdb_synced(s);
				synced = true;
			} else {
				atomic_store(&s->wal_tail, s->c_lsn_prev);
				s->c_lsn_prev = s->c_lsn;
			}
		}
		if (direct && (rc || atomic_load(&s->failed)) && !h->result)
			h->result = NORN_EFAILED;
		s->st_lmdb_ns += norn_mono_ns() - t0;
		s->st_batches++;
		s->st_txns += n;

		pthread_mutex_lock(&s->mu);
		atomic_store(&s->applied_tseq, tl->tseq);
		pthread_cond_broadcast(&s->applied_cv);
		if (wrote && !synced && !s->cq_head) {
			/* Idle: make it durable now so its blocks come back. */
			pthread_mutex_unlock(&s->mu);
			lmdb_synced(s);
			synced = true;
			pthread_mutex_lock(&s->mu);
		}
		/* The blocks a transaction freed are reused only once LMDB has
		 * the change durably: a replay then never covers a transaction
		 * whose blocks were reused (its data check would fail). This
		 * commit made the held batch durable; this batch waits for the
		 * next commit or sync unless it is durable already. */
		bool all = synced || rc || atomic_load(&s->failed);
		release(s, &held, &held_tl);
		if (wrote && !all) {
			held = h;
			held_tl = tl;
		} else {
			release(s, &h, &tl);
		}
		uv_async_send(&s->async);
	}
	NORN_ASSERT(!held);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- completions on the loop ---------------------------------------------- */

static void ovl_free(struct store *s, struct ovl *ov)
{
	uint32_t h = ovl_hash(ov->key, ov->klen);
	for (struct ovl **pp = &s->ovl[h]; *pp; pp = &(*pp)->next)
		if (*pp == ov) {
			*pp = ov->next;
			break;
		}
	store__onode_free(&ov->on);
	free(ov->ptx);
	free(ov);
}

static void ovl_uncache(struct store *s, struct ovl *ov)
{
	NORN_ASSERT(ov->cached && s->lru_bytes >= ov->cost);
	if (ov->lru_prev)
		ov->lru_prev->lru_next = ov->lru_next;
	else
		s->lru_head = ov->lru_next;
	if (ov->lru_next)
		ov->lru_next->lru_prev = ov->lru_prev;
	else
		s->lru_tail = ov->lru_prev;
	ov->lru_prev = ov->lru_next = NULL;
	ov->cached = false;
	s->lru_bytes -= ov->cost;
}

/* Drop cached entries, least recently used first, down to @keep bytes. */
static void ovl_evict(struct store *s, uint64_t keep)
{
	while (s->lru_head && s->lru_bytes > keep) {
		struct ovl *ov = s->lru_head;
		ovl_uncache(s, ov);
		ovl_free(s, ov);
	}
}

static void ovl_put(struct store *s, struct ovl *ov, struct store_txn *t)
{
	NORN_ASSERT(ov->refs > 0 && ov->nptx == ov->refs && ov->ptx[0] == t);
	memmove(ov->ptx, ov->ptx + 1, (ov->nptx - 1) * sizeof(*ov->ptx));
	ov->nptx--;
	if (--ov->refs)
		return;
	if (!ov->exists || !s->o.onode_cache_bytes) {
		ovl_free(s, ov);
		return;
	}
	/* LMDB has every change of the object now: keep it as a cache. */
	ov->cost = sizeof(*ov) + (size_t)ov->on.nblk * 12;
	for (uint32_t i = 0; i < ov->on.nx; i++)
		ov->cost += strlen(ov->on.x[i].name) + ov->on.x[i].len + 32;
	ov->cached = true;
	ov->lru_next = NULL;
	ov->lru_prev = s->lru_tail;
	if (s->lru_tail)
		s->lru_tail->lru_next = ov;
	else
		s->lru_head = ov;
	s->lru_tail = ov;
	s->lru_bytes += ov->cost;
	ovl_evict(s, s->o.onode_cache_bytes);
}

static void covl_put(struct store *s, const char *cid)
{
	for (struct covl **pp = &s->covl; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->cid, cid)) {
			struct covl *c = *pp;
			NORN_ASSERT(c->refs > 0);
			if (--c->refs == 0) {
				*pp = c->next;
				free(c);
			}
			return;
		}
	NORN_ASSERT(!"collection overlay missing");
}

static void rd_finish(struct rd *r);

static void on_async(uv_async_t *h)
{
	struct store *s = h->data;
	pthread_mutex_lock(&s->mu);
	struct store_txn *t = s->dq_head;
	s->dq_head = s->dq_tail = NULL;
	pthread_mutex_unlock(&s->mu);
	bool kick = s->wal_wait;
	while (t) {
		struct store_txn *next = t->next;
		if (t->direct) {
			/* Acknowledged only now that LMDB has it durably. */
			for (uint32_t i = 0; i < t->novl; i++)
				t->ovls[i]->unacked--;
			s->acked_tseq = t->tseq;
			s->direct_inflight = false;
			kick = true;
		}
		for (uint32_t i = 0; i < t->novl; i++)
			ovl_put(s, t->ovls[i], t);
		for (uint32_t i = 0; i < t->ncovl; i++)
			covl_put(s, t->covls[i]);
		if (!t->result) {
			for (uint32_t i = 0; i < t->nf; i++) {
				if (GROW(s->deferred, s->ndef, s->capdef)) {
					/* Leak the blocks rather than reuse them early. */
					NLOG(STORE, ERR, "out of memory releasing blocks");
					break;
				}
				s->deferred[s->ndef++] = t->frees[i];
			}
		}
		NORN_ASSERT(s->queued > 0);
		s->queued--;
		if (t->cb)
			t->cb(t->arg, t->result);
		store_txn_free(t);
		busy_put(s);
		t = next;
	}
	struct rd *r = s->rdone;
	s->rdone = NULL;
	while (r) {
		struct rd *next = r->next;
		rd_finish(r);
		r = next;
	}
	release_deferred(s);
	if (kick)
		pipe_advance(s);
	maybe_finish_close(s);
}

/* ---- reads ---------------------------------------------------------------- */

static void rd_free(struct rd *r)
{
	free(r->buf);
	free(r->crc);
	free(r->pblk);
	free(r);
}

static void rd_finish(struct rd *r)
{
	struct store *s = r->s;
	int err = r->err;
	if (!err) {
		for (uint32_t i = 0; i < r->nb; i++) {
			if (!r->pblk[i])
				continue;
			if (norn_crc32c(0, r->buf + (size_t)i * BLK, BLK) != r->crc[i]) {
				NLOG(STORE, ERR, "crc mismatch: collection %s object %s offset %" PRIu64
				     " (block %" PRIu64 ")", r->cid, r->oid, (r->b0 + i) * BLK, r->pblk[i]);
				err = NORN_ECRC;
				break;
			}
		}
	}
	uint8_t *out = NULL;
	size_t len = 0;
	if (!err && r->len) {
		memmove(r->buf, r->buf + r->skip, r->len);
		out = r->buf;
		r->buf = NULL;
		len = r->len;
	}
	store_read_cb cb = r->cb;
	void *arg = r->arg;
	rd_free(r);
	NORN_ASSERT(s->reads_inflight > 0);
	s->reads_inflight--;
	busy_put(s);
	cb(arg, err, out, len);
	release_deferred(s);
}

static void rd_defer(struct store *s, struct rd *r)
{
	r->next = s->rdone;
	s->rdone = r;
	uv_async_send(&s->async);
}

static void on_rd_io(struct store *s, struct sio *io, int res)
{
	struct rd *r = io->ctx;
	if (res < 0 && !r->err) {
		NLOG(STORE, ERR, "read %s/%s: %s", r->cid, r->oid, norn_strerror(res));
		r->err = -EIO;
	}
	free(io);
	if (--r->pending == 0)
		rd_finish(r);
}

/* Block the loop until LMDB has every acknowledged transaction (they are
 * durable in the log before LMDB has them). Bounded by one LMDB commit:
 * the commit thread is told not to wait for more work. */
static void wait_applied(struct store *s)
{
	if (atomic_load(&s->applied_tseq) >= s->acked_tseq)
		return;
	uint64_t t0 = norn_mono_ns();
	pthread_mutex_lock(&s->mu);
	s->apply_urgent = true;
	pthread_cond_signal(&s->cv);
	while (atomic_load(&s->applied_tseq) < s->acked_tseq && !atomic_load(&s->failed))
		pthread_cond_wait(&s->applied_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	s->st_waits++;
	s->st_wait_ns += norn_mono_ns() - t0;
}

/* Where the acknowledged state of an object is: its overlay entry when
 * every transaction on it is acknowledged (LMDB may lag behind), else
 * LMDB (NULL; after waiting for LMDB when it lacks an acknowledged
 * change of this object). */
static struct ovl *ovl_acked(struct store *s, const char *key, size_t klen)
{
	struct ovl *ov = ovl_find(s, key, klen);
	if (!ov)
		return NULL;
	if (!ov->unacked)
		return ov;
	if (ov->refs > ov->unacked)
		wait_applied(s);
	return NULL;
}

static int bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, NORN_MIN(al, bl));
	return c ? c : al < bl ? -1 : al > bl;
}

/* One omap key (@k = be64(nid) key) as the acknowledged transactions LMDB
 * does not have yet leave it: 0 with the value, -ENOENT, or NEED_READ
 * when they do not touch it (LMDB has it). Falls back to waiting for LMDB
 * when a pending clone copied omap into the object. */
static int dup_out(const void *p, size_t n, uint8_t **out, size_t *len);

static int omap_pending(struct store *s, const char *cid, const char *oid, const uint8_t *k,
                        size_t kl, uint8_t **val_out, size_t *len_out)
{
	char key[STORE_CID_MAX + STORE_OID_MAX + 2];
	size_t klen = okey(key, cid, oid);
	struct ovl *ov = ovl_find(s, key, klen);
	if (!ov)
		return NEED_READ;
	for (uint32_t i = ov->refs - ov->unacked; i-- > 0;) {
		const struct store_txn *t = ov->ptx[i];
		for (uint32_t j = t->nm; j-- > 0;) {
			const struct mop *m = &t->mops[j];
			switch (m->type) {
			case MOP_OMAP_SET:
				if (!bytes_cmp(m->k, m->klen, k, kl))
					return dup_out(m->v, m->vlen, val_out, len_out);
				break;
			case MOP_OMAP_RM:
				if (!bytes_cmp(m->k, m->klen, k, kl))
					return -ENOENT;
				break;
			case MOP_OMAP_RMRANGE:
				if (bytes_cmp(m->k, m->klen, k, kl) <= 0 && bytes_cmp(k, kl, m->v, m->vlen) < 0)
					return -ENOENT;
				break;
			case MOP_OMAP_COPY:
				if (m->vlen == 8 && !memcmp(m->v, k, 8)) {
					wait_applied(s);
					return NEED_READ;
				}
				break;
			default:
				break;
			}
		}
	}
	return NEED_READ;
}

/* Before reading an object's omap from LMDB. */
static void omap_settle(struct store *s, const char *cid, const char *oid)
{
	char key[STORE_CID_MAX + STORE_OID_MAX + 2];
	size_t klen = okey(key, cid, oid);
	struct ovl *ov = ovl_find(s, key, klen);
	if (ov && ov->refs > ov->unacked)
		wait_applied(s);
}

int store_read(struct store *s, const char *cid, const char *oid, uint64_t off, uint64_t len,
               store_read_cb cb, void *arg)
{
	if (!cid || !oid || strlen(cid) > STORE_CID_MAX || strlen(oid) > STORE_OID_MAX || !cb)
		return -EINVAL;
	if (s->closing)
		return -ESHUTDOWN;
	if (atomic_load(&s->failed))
		return NORN_EFAILED;
	struct rd *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->s = s;
	r->cb = cb;
	r->arg = arg;
	snprintf(r->cid, sizeof(r->cid), "%s", cid);
	snprintf(r->oid, sizeof(r->oid), "%s", oid);
	char key[STORE_CID_MAX + STORE_OID_MAX + 2];
	size_t klen = okey(key, cid, oid);
	int rc;
	struct ovl *ov = ovl_acked(s, key, klen);
	MDB_txn *rt = NULL;
	if (!ov && (rc = rtxn_get(s, &rt))) {
		free(r);
		return rc;
	}
	s->reads_inflight++;
	busy_get(s);
	uint64_t size = 0;
	uint32_t sb = 0;
	MDB_val k = { klen, key }, v = { 0, NULL };
	if (ov) {
		/* Acknowledged, maybe not yet in LMDB: the overlay has it. */
		rc = ov->exists ? 0 : -ENOENT;
		size = ov->exists ? ov->on.size : 0;
	} else {
		/* Decode only the blocks this read needs (a 4 MiB object's
		 * onode holds 1024 checksums; a 4 KiB read needs one). The
		 * first pass validates the record and gets the size. */
		rc = mdb_get(rt, s->db_onode, &k, &v);
		rc = rc ? mdb_err(rc) : store__onode_decode_range(v.mv_data, v.mv_size,
		                                                  s->o.max_object_bytes, 0, 0, &size,
		                                                  NULL, NULL, &sb);
	}
	if (!rc && off < size && len > 0) {
		uint64_t end = off + NORN_MIN(len, size - off);
		r->b0 = off / BLK;
		uint64_t b1 = (end + BLK - 1) / BLK;
		r->nb = (uint32_t)(b1 - r->b0);
		r->skip = off - r->b0 * BLK;
		r->len = (size_t)(end - off);
		r->buf = blk_alloc(r->nb);
		r->crc = malloc(r->nb * sizeof(*r->crc));
		r->pblk = malloc(r->nb * sizeof(*r->pblk));
		if (!r->buf || !r->crc || !r->pblk) {
			rc = -ENOMEM;
		} else if (ov) {
			NORN_ASSERT(r->b0 + r->nb <= ov->on.nblk);
			memcpy(r->pblk, ov->on.pblk + r->b0, r->nb * sizeof(*r->pblk));
			memcpy(r->crc, ov->on.crc + r->b0, r->nb * sizeof(*r->crc));
		} else if (!sb) {
			rc = store__onode_decode_range(v.mv_data, v.mv_size, s->o.max_object_bytes, r->b0,
			                               r->nb, &size, r->pblk, r->crc, NULL);
		} else {
			/* A sharded head has no runs: the map is in the shards. The
			 * head starts (u8 version, u8 compat, u32 length, u64 nid);
			 * the first decode_range validated the record. */
			uint64_t nid = norn_get_le64((const uint8_t *)v.mv_data + 6);
			rc = shards_load(s, rt, key, klen, nid, (size + BLK - 1) / BLK, sb, r->b0, r->nb,
			                 r->pblk, r->crc);
		}
	}
	if (rt)
		rtxn_put(s);
	if (rc == NORN_ECORRUPT || rc == NORN_EVERSION)
		NLOG(STORE, ERR, "onode %s/%s does not decode: %s", cid, oid, norn_strerror(rc));
	if (rc || r->len == 0) {
		r->err = rc;
		r->len = 0;
		rd_defer(s, r);
		return 0;
	}
	r->pending = 1;   /* guard so completions cannot finish it early */
	/* Blocks whose data is only in the log yet come from memory; the
	 * others from the device (runs of consecutive blocks). */
	bool *mem = NULL;
	if (atomic_load(&s->pend_n)) {
		mem = calloc(r->nb, sizeof(*mem));
		NORN_ASSERT(mem);   /* small; the read is already accounted for */
		for (uint32_t i = 0; i < r->nb; i++)
			mem[i] = r->pblk[i] && pend_copy(s, r->pblk[i], r->buf + (size_t)i * BLK);
	}
	for (uint32_t i = 0; i < r->nb;) {
		if (!r->pblk[i] || (mem && mem[i])) {
			if (!r->pblk[i])
				memset(r->buf + (size_t)i * BLK, 0, BLK);
			i++;
			continue;
		}
		uint32_t j = i + 1;
		while (j < r->nb && r->pblk[j] == r->pblk[j - 1] + 1 && j - i < 256 && !(mem && mem[j]))
			j++;
		struct sio *io = calloc(1, sizeof(*io));
		NORN_ASSERT(io);
		io->off = r->pblk[i] * BLK;
		io->buf = r->buf + (size_t)i * BLK;
		io->len = (j - i) * BLK;
		io->done = on_rd_io;
		io->ctx = r;
		r->pending++;
		io_queue(s, io);
		i = j;
	}
	free(mem);
	if (--r->pending == 0)
		rd_defer(s, r);
	else
		io_flush(s);   /* reads go at once (batching them measured ~20 % slower) */
	return 0;
}

struct sync_rd { bool done; int err; uint8_t *buf; size_t len; };

static void sync_rd_cb(void *arg, int err, uint8_t *buf, size_t len)
{
	struct sync_rd *x = arg;
	x->done = true;
	x->err = err;
	x->buf = buf;
	x->len = len;
}

int store_read_sync(struct store *s, const char *cid, const char *oid, uint64_t off,
                    uint64_t len, uint8_t **buf_out, size_t *len_out)
{
	struct sync_rd x = { 0 };
	int rc = store_read(s, cid, oid, off, len, sync_rd_cb, &x);
	if (rc)
		return rc;
	while (!x.done)
		uv_run(s->loop, UV_RUN_ONCE);
	*buf_out = x.buf;
	*len_out = x.len;
	return x.err;
}

struct sync_tx { bool done; int err; };

static void sync_tx_cb(void *arg, int err)
{
	struct sync_tx *x = arg;
	x->done = true;
	x->err = err;
}

int store_apply_sync(struct store *s, struct store_txn *t)
{
	struct sync_tx x = { 0 };
	int rc = store_queue_txn(s, t, sync_tx_cb, &x);
	if (rc)
		return rc;
	while (!x.done)
		uv_run(s->loop, UV_RUN_ONCE);
	return x.err;
}

/* ---- metadata reads ------------------------------------------------------- */

void store_kvs_free(struct store_kvs *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].val);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void store_names_free(struct store_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int dup_out(const void *p, size_t n, uint8_t **out, size_t *len)
{
	*out = malloc(n ? n : 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, p, n);
	*len = n;
	return 0;
}

static int get_onode(struct store *s, const char *cid, const char *oid, struct store__onode *on)
{
	if (!cid || !oid || strlen(cid) > STORE_CID_MAX || strlen(oid) > STORE_OID_MAX)
		return -EINVAL;
	if (atomic_load(&s->failed))
		return NORN_EFAILED;
	char key[STORE_CID_MAX + STORE_OID_MAX + 2];
	size_t klen = okey(key, cid, oid);
	struct ovl *ov = ovl_acked(s, key, klen);
	if (ov)
		return ov->exists ? store__onode_copy(on, &ov->on) : -ENOENT;
	MDB_txn *rt;
	int rc = rtxn_get(s, &rt);
	if (rc)
		return rc;
	rc = lookup_onode(s, rt, key, klen, on);
	rtxn_put(s);
	return rc;
}

int store_stat(struct store *s, const char *cid, const char *oid, struct store_stat *st)
{
	struct store__onode on;
	int rc = get_onode(s, cid, oid, &on);
	if (rc)
		return rc;
	memset(st, 0, sizeof(*st));
	st->size = on.size;
	st->mtime_ns = on.mtime_ns;
	st->version = on.version;
	st->nid = on.nid;
	for (uint32_t i = 0; i < on.nblk; i++)
		st->blocks += on.pblk[i] != 0;
	st->nxattrs = on.nx;
	store__onode_free(&on);
	return 0;
}

int store_getxattr(struct store *s, const char *cid, const char *oid, const char *name,
                   uint8_t **val_out, size_t *len_out)
{
	struct store__onode on;
	int rc = get_onode(s, cid, oid, &on);
	if (rc)
		return rc;
	int i = xattr_find(&on, name);
	rc = i < 0 ? -ENOENT : dup_out(on.x[i].val, on.x[i].len, val_out, len_out);
	store__onode_free(&on);
	return rc;
}

static int kvs_push(struct store_kvs *l, size_t *cap, const void *k, size_t kl, const void *v, size_t vl)
{
	if (l->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct store_kv *p = realloc(l->v, nc * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->v = p;
		*cap = nc;
	}
	struct store_kv *kv = &l->v[l->n];
	if (dup_out(k, kl, &kv->key, &kv->klen))
		return -ENOMEM;
	if (dup_out(v, vl, &kv->val, &kv->vlen)) {
		free(kv->key);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

int store_getxattrs(struct store *s, const char *cid, const char *oid, struct store_kvs *out)
{
	struct store__onode on;
	memset(out, 0, sizeof(*out));
	int rc = get_onode(s, cid, oid, &on);
	if (rc)
		return rc;
	size_t cap = 0;
	for (uint32_t i = 0; i < on.nx && !rc; i++)
		rc = kvs_push(out, &cap, on.x[i].name, strlen(on.x[i].name), on.x[i].val, on.x[i].len);
	store__onode_free(&on);
	if (rc)
		store_kvs_free(out);
	return rc;
}

/* Range scan of @db over keys prefix||k with after < k < end. */
static int scan(struct store *s, MDB_dbi db, const uint8_t *pfx, size_t pl, const void *after,
                size_t alen, const void *end, size_t elen, size_t max, struct store_kvs *out)
{
	memset(out, 0, sizeof(*out));
	uint8_t start[8 + STORE_CID_MAX + 1 + STORE_OMAP_KEY_MAX + 1];
	if (pl + alen + 1 > sizeof(start))
		return -EINVAL;
	memcpy(start, pfx, pl);
	if (alen)
		memcpy(start + pl, after, alen);
	MDB_txn *rt;
	int rc = rtxn_get(s, &rt);
	if (rc)
		return rc;
	MDB_cursor *c;
	rc = mdb_cursor_open(rt, db, &c);
	if (rc) {
		rtxn_put(s);
		return -EIO;
	}
	size_t cap = 0;
	MDB_val k = { pl + alen, start }, v;
	rc = mdb_cursor_get(c, &k, &v, pl + alen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0 && out->n < max) {
		if (k.mv_size < pl || memcmp(k.mv_data, pfx, pl))
			break;
		const uint8_t *kk = (const uint8_t *)k.mv_data + pl;
		size_t kl = k.mv_size - pl;
		if (after && kl == alen && !memcmp(kk, after, alen)) {
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			continue;
		}
		if (end) {
			size_t m = NORN_MIN(kl, elen);
			int cmp = memcmp(kk, end, m);
			if (cmp > 0 || (cmp == 0 && kl >= elen))
				break;
		}
		if ((rc = kvs_push(out, &cap, kk, kl, v.mv_data, v.mv_size)))
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	rtxn_put(s);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc) {
		store_kvs_free(out);
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

int store_omap_get(struct store *s, const char *cid, const char *oid, const void *key,
                   size_t klen, uint8_t **val_out, size_t *len_out)
{
	struct store_stat st;
	int rc = store_stat(s, cid, oid, &st);
	if (rc)
		return rc;
	if (klen == 0 || klen > STORE_OMAP_KEY_MAX)
		return -EINVAL;
	uint8_t k[8 + STORE_OMAP_KEY_MAX];
	omap_prefix(k, st.nid);
	memcpy(k + 8, key, klen);
	rc = omap_pending(s, cid, oid, k, 8 + klen, val_out, len_out);
	if (rc != NEED_READ)
		return rc;
	MDB_txn *rt;
	if ((rc = rtxn_get(s, &rt)))
		return rc;
	MDB_val kk = { 8 + klen, k }, v;
	rc = mdb_get(rt, s->db_omap, &kk, &v);
	rc = rc ? mdb_err(rc) : dup_out(v.mv_data, v.mv_size, val_out, len_out);
	rtxn_put(s);
	return rc;
}

int store_omap_list(struct store *s, const char *cid, const char *oid, const void *after,
                    size_t alen, const void *end, size_t elen, size_t max, struct store_kvs *out)
{
	memset(out, 0, sizeof(*out));
	struct store_stat st;
	int rc = store_stat(s, cid, oid, &st);
	if (rc)
		return rc;
	if (alen > STORE_OMAP_KEY_MAX || elen > STORE_OMAP_KEY_MAX)
		return -EINVAL;
	uint8_t p[8];
	omap_prefix(p, st.nid);
	omap_settle(s, cid, oid);
	return scan(s, s->db_omap, p, 8, after, after ? alen : 0, end, elen, max, out);
}

int store_coll_exists(struct store *s, const char *cid)
{
	if (!cid || strlen(cid) > STORE_CID_MAX)
		return -EINVAL;
	wait_applied(s);
	MDB_txn *rt;
	int rc = rtxn_get(s, &rt);
	if (rc)
		return rc;
	MDB_val k = { strlen(cid), (void *)cid }, v;
	rc = mdb_get(rt, s->db_coll, &k, &v);
	rtxn_put(s);
	return mdb_err(rc);
}

int store_cmeta_get(struct store *s, const char *cid, const void *key, size_t klen,
                    uint8_t **val_out, size_t *len_out)
{
	if (!cid || strlen(cid) > STORE_CID_MAX || klen == 0 || klen > STORE_CMETA_KEY_MAX)
		return -EINVAL;
	uint8_t k[STORE_CID_MAX + 1 + STORE_CMETA_KEY_MAX];
	size_t cl = strlen(cid);
	wait_applied(s);
	memcpy(k, cid, cl + 1);
	memcpy(k + cl + 1, key, klen);
	MDB_txn *rt;
	int rc = rtxn_get(s, &rt);
	if (rc)
		return rc;
	MDB_val kk = { cl + 1 + klen, k }, v;
	rc = mdb_get(rt, s->db_cmeta, &kk, &v);
	rc = rc ? mdb_err(rc) : dup_out(v.mv_data, v.mv_size, val_out, len_out);
	rtxn_put(s);
	return rc;
}

int store_cmeta_list(struct store *s, const char *cid, const void *after, size_t alen,
                     const void *end, size_t elen, size_t max, struct store_kvs *out)
{
	memset(out, 0, sizeof(*out));
	if (!cid || strlen(cid) > STORE_CID_MAX || alen > STORE_CMETA_KEY_MAX)
		return -EINVAL;
	int rc = store_coll_exists(s, cid);
	if (rc)
		return rc;
	return scan(s, s->db_cmeta, (const uint8_t *)cid, strlen(cid) + 1, after, after ? alen : 0,
	            end, elen, max, out);
}

static int names_from_kvs(struct store_kvs *l, struct store_names *out)
{
	out->n = 0;
	out->v = calloc(l->n ? l->n : 1, sizeof(char *));
	if (!out->v) {
		store_kvs_free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		out->v[i] = malloc(l->v[i].klen + 1);
		if (!out->v[i]) {
			store_kvs_free(l);
			store_names_free(out);
			return -ENOMEM;
		}
		memcpy(out->v[i], l->v[i].key, l->v[i].klen);
		out->v[i][l->v[i].klen] = 0;
		out->n++;
	}
	store_kvs_free(l);
	return 0;
}

int store_list_colls(struct store *s, struct store_names *out)
{
	struct store_kvs l;
	memset(out, 0, sizeof(*out));
	wait_applied(s);
	int rc = scan(s, s->db_coll, (const uint8_t *)"", 0, NULL, 0, NULL, 0, SIZE_MAX, &l);
	return rc ? rc : names_from_kvs(&l, out);
}

int store_list_objects(struct store *s, const char *cid, const char *after, size_t max,
                       struct store_names *out)
{
	memset(out, 0, sizeof(*out));
	if (!cid || strlen(cid) > STORE_CID_MAX || (after && strlen(after) > STORE_OID_MAX))
		return -EINVAL;
	int rc = store_coll_exists(s, cid);
	if (rc)
		return rc;
	struct store_kvs l;
	rc = scan(s, s->db_onode, (const uint8_t *)cid, strlen(cid) + 1, after,
	          after ? strlen(after) : 0, NULL, 0, max, &l);
	return rc ? rc : names_from_kvs(&l, out);
}

/* ---- write-ahead log at mount ------------------------------------------------ */

/* Mount is start-up work: the log is read with plain blocking reads. */
static int wal_read(struct store *s, uint8_t *buf, size_t len, uint64_t lsn)
{
	ssize_t got = pread(s->fd, buf, len, (off_t)(s->wal_off + lsn % s->wal_size));
	return got == (ssize_t)len ? 0 : got < 0 ? -errno : -EIO;
}

/* The header of group @seq at @lsn, or at the start of the next lap (a
 * group that did not fit before the end of the ring starts there). */
static int wal_find(struct store *s, uint8_t *hb, uint64_t seq, uint64_t *lsn, uint32_t *glen)
{
	for (int lap = 0; lap < 2; lap++) {
		uint64_t l = *lsn;
		if (lap) {
			if (l % s->wal_size == 0)
				break;
			l += s->wal_size - l % s->wal_size;
		}
		if (l % s->wal_size + BLK > s->wal_size)
			continue;
		int rc = wal_read(s, hb, BLK, l);
		if (rc)
			return rc;
		uint32_t g;
		if (store__wal_group_len(hb, BLK, s->wal_id, seq, l, &g) == 0 &&
		    l % s->wal_size + g <= s->wal_size) {
			*lsn = l;
			*glen = g;
			return 0;
		}
	}
	return -ENOENT;
}

/* Every block the transactions of a replayed group wrote must hold what
 * they wrote: NORN_ECRC when one does not (the group's data did not all
 * reach the device before the crash). */
static int wal_verify_data(struct store *s, struct store_txn *h)
{
	uint8_t *buf = blk_alloc(256);
	if (!buf)
		return -ENOMEM;
	int rc = 0;
	for (struct store_txn *t = h; t && !rc; t = t->next) {
		uint64_t k = 0;
		for (uint32_t i = 0; i < t->nw && !rc && !t->wal_data; i++) {
			const struct seg *g = &t->wsegs[i];
			for (uint32_t b = 0; b < g->n && !rc; b += 256) {
				uint32_t nb = NORN_MIN(256u, g->n - b);
				ssize_t got = pread(s->fd, buf, (size_t)nb * BLK, (off_t)((g->pblk + b) * BLK));
				if (got != (ssize_t)nb * BLK) {
					rc = -EIO;
					break;
				}
				for (uint32_t x = 0; x < nb; x++)
					if (norn_crc32c(0, buf + (size_t)x * BLK, BLK) != t->wcrc[k + b + x]) {
						rc = NORN_ECRC;
						break;
					}
			}
			k += g->n;
		}
	}
	free(buf);
	return rc;
}

/* Replay: write the data a group's records carry to its blocks, then
 * fdatasync (mount is start-up work: blocking I/O). */
static int wal_replay_data(struct store *s, struct store_txn *h)
{
	bool any = false;
	int rc = 0;
	for (struct store_txn *t = h; t && !rc; t = t->next) {
		if (!t->wal_data)
			continue;
		for (uint32_t i = 0; i < t->nw && !rc; i++) {
			const struct seg *g = &t->wsegs[i];
			uint8_t *b = blk_alloc(g->n);
			if (!b)
				return -ENOMEM;
			memcpy(b, g->buf, (size_t)g->n * BLK);
			ssize_t w = pwrite(s->fd, b, (size_t)g->n * BLK, (off_t)(g->pblk * BLK));
			if (w != (ssize_t)g->n * BLK)
				rc = w < 0 ? -errno : -EIO;
			free(b);
			any = true;
		}
	}
	if (!rc && any && fdatasync(s->fd))
		rc = -errno;
	return rc;
}

/* Record (log id, c_seq, c_lsn) in LMDB, synced. */
static int wal_pos_commit(struct store *s)
{
	uint8_t pos[WAL_POS_LEN];
	wal_pos_put(s, pos, s->c_seq, s->c_lsn);
	MDB_txn *w;
	int rc = mdb_txn_begin(s->env, NULL, 0, &w);
	if (rc)
		return mdb_err(rc);
	MDB_val k = { 3, (void *)"wal" }, v = { WAL_POS_LEN, pos };
	rc = mdb_put(w, s->db_super, &k, &v, 0);
	if (rc) {
		mdb_txn_abort(w);
		return mdb_err(rc);
	}
	rc = mdb_txn_commit(w);
	rc = rc ? rc : mdb_env_sync(s->env, 1);
	return mdb_err(rc);
}

/* First mount with a log: take a contiguous run of the data area. */
static int wal_create(struct store *s)
{
	uint64_t data = s->nblocks - STORE__RESERVED_BLOCKS;
	uint64_t want = NORN_MIN(s->o.wal_bytes, data * BLK / 8) / BLK;
	if (want < 64)
		want = 64;
	/* From the end of the data area, so data keeps starting at 1 MiB. */
	for (; want >= 64; want /= 2) {
		uint64_t run = 0;
		for (uint64_t b = s->nblocks; b-- > STORE__RESERVED_BLOCKS;) {
			run = bit_get(s->dmap, b) ? 0 : run + 1;
			if (run < want)
				continue;
			uint64_t first = b;
			for (uint64_t x = first; x < first + want; x++) {
				bit_set(s->dmap, x);
				s->dirty_chunks[x / s->chunk_blocks] = 1;
			}
			s->wal_off = first * BLK;
			s->wal_size = want * BLK;
			int rc = norn_random_bytes((uint8_t *)&s->wal_id, sizeof(s->wal_id));
			if (rc)
				return rc;
			s->c_seq = s->c_lsn = 0;
			rc = commit_batch(s, NULL, false, 0, 0);
			rc = rc ? rc : wal_pos_commit(s);
			NLOG(STORE, INFO, "write-ahead log: %" PRIu64 " KiB at block %" PRIu64, want * 4, first);
			return rc;
		}
	}
	NLOG(STORE, ERR, "no contiguous free space for the write-ahead log");
	return NORN_ENOSPC;
}

/* Find the log (creating it on the first mount), replay every group LMDB
 * does not have yet, then start a new log id so that nothing written
 * before this mount (a torn group, a group past it) can ever be replayed. */
static int wal_mount(struct store *s)
{
	MDB_txn *t;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t);
	if (rc)
		return mdb_err(rc);
	MDB_val k = { 3, (void *)"wal" }, v;
	rc = mdb_get(t, s->db_super, &k, &v);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(t);
		if ((rc = wal_create(s)))
			return rc;
	} else {
		const uint8_t *p = v.mv_data;
		if (rc || v.mv_size != WAL_POS_LEN || norn_get_le32(p) != 1) {
			mdb_txn_abort(t);
			NLOG(STORE, ERR, "write-ahead log position record is bad");
			return NORN_ECORRUPT;
		}
		uint64_t off = norn_get_le64(p + 4), n = norn_get_le64(p + 12);
		s->wal_id = norn_get_le64(p + 20);
		s->c_seq = norn_get_le64(p + 28);
		s->c_lsn = norn_get_le64(p + 36);
		mdb_txn_abort(t);
		if (off < STORE__RESERVED_BLOCKS || n < 1 || off >= s->nblocks || n > s->nblocks - off) {
			NLOG(STORE, ERR, "write-ahead log outside the data area");
			return NORN_ECORRUPT;
		}
		s->wal_off = off * BLK;
		s->wal_size = n * BLK;
	}
	uint8_t *hb = blk_alloc(1);
	if (!hb)
		return -ENOMEM;
	uint64_t groups = 0, txns = 0;
	for (;;) {
		uint64_t lsn = s->c_lsn;
		uint32_t glen;
		rc = wal_find(s, hb, s->c_seq + 1, &lsn, &glen);
		if (rc == -ENOENT) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		uint8_t *g = blk_alloc(glen / BLK);
		if (!g) {
			rc = -ENOMEM;
			break;
		}
		struct store_txn *h = NULL;
		uint32_t n = 0;
		rc = wal_read(s, g, glen, lsn);
		if (!rc && store__wal_group_decode(g, glen, s->wal_id, s->c_seq + 1, lsn, s->nblocks,
		                                   &h, &n)) {
			free(g);
			break;   /* torn: written, never acknowledged */
		}
		/* The decoded records point into g (data in the log). */
		if (!rc) {
			int vrc = wal_verify_data(s, h);
			if (vrc == NORN_ECRC) {
				store__wal_txns_free(h);
				free(g);
				NLOG(STORE, INFO, "log group %" PRIu64 " has data that never reached the disk: "
				     "it was not acknowledged; replay ends there", s->c_seq + 1);
				break;
			}
			rc = vrc;
		}
		if (!rc)
			rc = wal_replay_data(s, h);
		if (!rc)
			rc = commit_batch(s, h, true, s->c_seq + 1, lsn + glen);
		store__wal_txns_free(h);
		free(g);
		if (rc) {
			NLOG(STORE, ERR, "replaying log group %" PRIu64 " failed", s->c_seq + 1);
			break;
		}
		groups++;
		txns += n;
	}
	free(hb);
	if (rc)
		return rc;
	if (groups)
		NLOG(STORE, INFO, "replayed %" PRIu64 " log groups (%" PRIu64 " transactions)", groups, txns);
	/* A new log id, durable before anything new is logged. */
	rc = norn_random_bytes((uint8_t *)&s->wal_id, sizeof(s->wal_id));
	if (rc)
		return rc;
	if ((rc = wal_pos_commit(s)))
		return rc;
	s->ncommit = 0;   /* fault injection counts the commits of work only */
	s->nid_next = NORN_MAX(s->nid_next, s->nid_committed);
	s->wal_seq = s->c_seq + 1;
	s->wal_head = s->c_lsn;
	s->c_lsn_prev = s->c_lsn;
	atomic_store(&s->wal_tail, s->c_lsn);
	return 0;
}

/* An older store (1: no log; 2: no data in the log) has its log now:
 * record the current version in LMDB (synced), then in block 0, so code
 * that predates the log, or writes no logged data to its blocks at
 * replay, refuses the store. A crash between the two leaves LMDB ahead,
 * which the mount accepts and this finishes. */
static int format_upgrade(struct store *s)
{
	if (s->sb.version == STORE_FORMAT_VERSION)
		return 0;
	uint32_t from = s->sb.version;
	s->sb.version = STORE_FORMAT_VERSION;
	uint8_t *blk = blk_alloc(1);
	if (!blk)
		return -ENOMEM;
	store__super_encode(&s->sb, blk);
	MDB_txn *w;
	int rc = mdb_txn_begin(s->env, NULL, 0, &w);
	if (!rc) {
		MDB_val k = { 2, (void *)"sb" }, v = { 44, blk };
		rc = mdb_put(w, s->db_super, &k, &v, 0);
		rc = rc ? (mdb_txn_abort(w), rc) : mdb_txn_commit(w);
	}
	rc = rc ? mdb_err(rc) : mdb_err(mdb_env_sync(s->env, 1));
	/* Mount is start-up work: a blocking write of one block. */
	if (!rc && (pwrite(s->fd, blk, BLK, 0) != BLK || fdatasync(s->fd)))
		rc = -EIO;
	free(blk);
	if (rc)
		NLOG(STORE, ERR, "upgrading the store format from version %u failed: %s", from,
		     norn_strerror(rc));
	else
		NLOG(STORE, INFO, "store format upgraded from version %u to %u (write-ahead log with data)", from,
		     STORE_FORMAT_VERSION);
	return rc;
}

/* ---- open / close ---------------------------------------------------------- */

/* Whole-block writes copy their data into a block-aligned buffer (4 MiB
 * for a 4 MiB object) that is freed at the acknowledgement. With glibc's
 * defaults those buffers came from fresh mappings or a heap that was
 * trimmed back after each free, so every 4 MiB write page-faulted and
 * zeroed 1,024 new pages (measured: 3.4-4.2 ms of CPU per 4 MiB write
 * object; 1.3-1.6 ms with these settings). Keep such buffers in the heap
 * and up to 256 MiB of free heap before trimming. A process-wide malloc
 * setting, so only with store_heap_buffers (default off): the heap keeps
 * its peak, and in an OSD under 16 x 4 MiB client writes that peak (with
 * the message buffers and fragmentation between them) was 260-370 MiB of
 * RSS against 134-148 MiB with glibc's defaults (the OSD's goal is 200). */
static void store_malloc_tune(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int store_open(uv_loop_t *loop, const struct store_options *o, struct store **out)
{
	char meta[4096];
	if (o->heap_buffers)
		store_malloc_tune();
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	if (!s->o.queue_depth) s->o.queue_depth = 128;
	if (!s->o.commit_batch_max) s->o.commit_batch_max = 16384;
	if (!s->o.wal_bytes) s->o.wal_bytes = 64u << 20;
	if (!s->o.wal_groups) s->o.wal_groups = 4;
	if (!s->o.lmdb_map_bytes) s->o.lmdb_map_bytes = 1ull << 30;
	if (!s->o.max_object_bytes) s->o.max_object_bytes = 128u << 20;
	if (!s->o.onode_shard_blocks) s->o.onode_shard_blocks = 64;
	if (s->o.onode_shard_blocks > STORE__SHARD_BLKS_MAX)
		s->o.onode_shard_blocks = STORE__SHARD_BLKS_MAX;
	if (s->o.max_object_bytes > (uint64_t)UINT32_MAX * BLK)
		s->o.max_object_bytes = (uint64_t)UINT32_MAX * BLK;
	fault_from_env(&s->o.fault);
	s->loop = loop;
	s->clock = o->clock ? o->clock : norn_clock_system();
	int rc = paths(o, s->dir, s->data_path, meta);
	if (rc)
		goto fail_free;
	s->o.dir = s->dir;
	s->o.data_path = s->data_path;
	struct stat st;
	if (stat(meta, &st)) {
		rc = -ENOENT;
		goto fail_free;
	}
	s->fd = open(s->data_path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (s->fd < 0) {
		rc = -errno;
		NLOG(STORE, ERR, "cannot open data %s: %s", s->data_path, strerror(errno));
		goto fail_free;
	}
	/* One process per store: a second OSD (or norn-store) on the same
	 * data would corrupt it. The lock dies with the process. */
	/* A killed previous owner's io_uring may hold the file for a moment
	 * after its death (the ring is torn down asynchronously), so wait a
	 * bounded time before calling the store busy. Start-up only. */
	int locked = -1, lock_err = 0;
	for (int tries = 0; tries < 100; tries++) {
		locked = flock(s->fd, LOCK_EX | LOCK_NB);
		lock_err = errno;
		if (locked == 0 || lock_err != EWOULDBLOCK)
			break;
		usleep(30 * 1000);
	}
	if (locked < 0) {
		rc = lock_err == EWOULDBLOCK ? -EBUSY : -lock_err;
		NLOG(STORE, ERR, "data %s is in use by another process (%s)", s->data_path,
		     strerror(lock_err));
		goto fail_fd;
	}
	uint8_t *sbuf = blk_alloc(1);
	if (!sbuf) {
		rc = -ENOMEM;
		goto fail_fd;
	}
	/* Mount is start-up work: a blocking read of one block is fine here. */
	ssize_t got = pread(s->fd, sbuf, BLK, 0);
	if (got != BLK) {
		free(sbuf);
		rc = got < 0 ? -errno : NORN_ECORRUPT;
		goto fail_fd;
	}
	rc = store__super_decode(sbuf, BLK, &s->sb);
	if (rc == NORN_EVERSION)
		NLOG(STORE, ERR, "%s has format version %u; this build reads versions %u to %u",
		     s->data_path, norn_get_le32(sbuf + 8), STORE_FORMAT_VERSION_MIN,
		     STORE_FORMAT_VERSION);
	else if (rc)
		NLOG(STORE, ERR, "%s: bad superblock", s->data_path);
	free(sbuf);
	if (rc)
		goto fail_fd;
	if (o->osd_id != UINT32_MAX && o->osd_id != s->sb.osd_id) {
		NLOG(STORE, ERR, "%s belongs to osd.%u, not osd.%u", s->data_path,
		     s->sb.osd_id, o->osd_id);
		rc = -EINVAL;
		goto fail_fd;
	}
	s->nblocks = s->sb.size_bytes / BLK;
	rc = env_open(meta, s->o.lmdb_map_bytes, &s->env);
	if (rc)
		goto fail_fd;
	MDB_txn *t;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t);
	if (rc) {
		rc = mdb_err(rc);
		goto fail_env;
	}
	rc = dbs_open(s, t, 0);
	MDB_val k = { 2, (void *)"sb" }, v;
	rc = rc ? rc : mdb_get(t, s->db_super, &k, &v);
	/* The same store: the same identity. The versions may differ only
	 * as an upgrade interrupted between its two steps leaves them. */
	struct store__super msb;
	if (rc || store__super_decode(v.mv_data, v.mv_size, &msb) ||
	    memcmp(msb.uuid, s->sb.uuid, 16) || msb.osd_id != s->sb.osd_id ||
	    msb.size_bytes != s->sb.size_bytes || msb.version < s->sb.version) {
		NLOG(STORE, ERR, "metadata in %s does not match data %s", meta, s->data_path);
		mdb_txn_abort(t);
		rc = NORN_ECORRUPT;
		goto fail_env;
	}
	MDB_val k2 = { 3, (void *)"nid" };
	if (mdb_get(t, s->db_super, &k2, &v) || v.mv_size != 8) {
		mdb_txn_abort(t);
		rc = NORN_ECORRUPT;
		goto fail_env;
	}
	s->nid_next = norn_get_le64(v.mv_data);
	s->nid_committed = s->nid_next;
	/* Allocator layout: chunk 0's size tells (512 bytes, or 4 KiB in
	 * stores made before the change). */
	uint8_t ck0[8];
	chunk_key(ck0, 0);
	MDB_val kk0 = { 8, ck0 };
	if (mdb_get(t, s->db_alloc, &kk0, &v) ||
	    (v.mv_size != STORE__CHUNK_BYTES && v.mv_size != STORE__CHUNK_BYTES_V1)) {
		NLOG(STORE, ERR, "allocator chunk 0 missing or bad");
		mdb_txn_abort(t);
		rc = NORN_ECORRUPT;
		goto fail_env;
	}
	s->chunk_bytes = (uint32_t)v.mv_size;
	s->chunk_blocks = (uint64_t)s->chunk_bytes * 8;
	s->nchunks = (s->nblocks + s->chunk_blocks - 1) / s->chunk_blocks;
	size_t words = s->nchunks * (s->chunk_bytes / 8);
	s->amap = calloc(words, 8);
	s->dmap = calloc(words, 8);
	s->dirty_chunks = calloc(s->nchunks, 1);
	if (!s->amap || !s->dmap || !s->dirty_chunks) {
		mdb_txn_abort(t);
		rc = -ENOMEM;
		goto fail_maps;
	}
	for (uint64_t c = 0; c < s->nchunks; c++) {
		uint8_t ck[8];
		chunk_key(ck, c);
		MDB_val kk = { 8, ck };
		if (mdb_get(t, s->db_alloc, &kk, &v) || v.mv_size != s->chunk_bytes) {
			NLOG(STORE, ERR, "allocator chunk %" PRIu64 " missing or bad", c);
			mdb_txn_abort(t);
			rc = NORN_ECORRUPT;
			goto fail_maps;
		}
		for (uint32_t i = 0; i < s->chunk_bytes / 8; i++)
			s->dmap[c * (s->chunk_bytes / 8) + i] = norn_get_le64((uint8_t *)v.mv_data + i * 8);
	}
	/* Commit (not abort) so the database handles stay open. */
	rc = mdb_txn_commit(t);
	if (rc) {
		rc = mdb_err(rc);
		goto fail_maps;
	}
	/* Block-map shards (created here for stores made before they existed). */
	rc = mdb_txn_begin(s->env, NULL, 0, &t);
	if (!rc) {
		rc = mdb_dbi_open(t, "oshard", MDB_CREATE, &s->db_shard);
		if (rc)
			mdb_txn_abort(t);
		else
			rc = mdb_txn_commit(t);
	}
	if (rc) {
		rc = mdb_err(rc);
		goto fail_maps;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->applied_cv, NULL);
	if ((rc = wal_mount(s)) || (rc = format_upgrade(s)))
		goto fail_maps;
	memcpy(s->amap, s->dmap, words * 8);
	for (uint64_t b = 0; b < s->nblocks; b++)
		s->free_blocks += !bit_get(s->amap, b);
	s->cursor = STORE__RESERVED_BLOCKS;

	rc = io_uring_queue_init(s->o.queue_depth, &s->ring, 0);
	if (rc) {
		NLOG(STORE, ERR, "io_uring_queue_init: %s", strerror(-rc));
		goto fail_maps;
	}
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0) {
		rc = -errno;
		goto fail_ring;
	}
	rc = io_uring_register_eventfd(&s->ring, s->efd);
	if (rc)
		goto fail_efd;
	rc = io_uring_queue_init(CRING_QD * 2, &s->cring, 0);
	if (rc) {
		NLOG(STORE, ERR, "io_uring_queue_init (commit thread): %s", strerror(-rc));
		goto fail_efd;
	}
	s->pend_tab = calloc(PEND_BUCKETS, sizeof(*s->pend_tab));
	if (!s->pend_tab) {
		rc = -ENOMEM;
		goto fail_cring;
	}
	pthread_mutex_init(&s->pend_mu, NULL);
	/* Neither can fail for a valid eventfd and loop; once they exist the
	 * store can only go away through uv_close. */
	rc = uv_poll_init(loop, &s->poll, s->efd);
	NORN_ASSERT(rc == 0);
	s->poll.data = s;
	rc = uv_async_init(loop, &s->async, on_async);
	NORN_ASSERT(rc == 0);
	s->async.data = s;
	uv_unref((uv_handle_t *)&s->async);
	uv_check_init(loop, &s->check);
	uv_prepare_init(loop, &s->prepare);
	s->check.data = s->prepare.data = s;
	uv_check_start(&s->check, on_check);
	uv_prepare_start(&s->prepare, on_prepare);
	uv_unref((uv_handle_t *)&s->check);
	uv_unref((uv_handle_t *)&s->prepare);
	s->handles_open = 4;
	rc = pthread_create(&s->thr, NULL, commit_main, s);
	NORN_ASSERT(rc == 0);
	s->thr_started = true;
	NLOG(STORE, INFO, "mounted %s (osd.%u, %" PRIu64 " MiB, %" PRIu64 " MiB free)",
	     s->dir, s->sb.osd_id, s->sb.size_bytes >> 20, s->free_blocks * BLK >> 20);
	*out = s;
	return 0;
fail_cring:
	io_uring_queue_exit(&s->cring);
fail_efd:
	close(s->efd);
fail_ring:
	io_uring_queue_exit(&s->ring);
fail_maps:
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->applied_cv);
	free(s->amap);
	free(s->dmap);
	free(s->dirty_chunks);
fail_env:
	mdb_env_close(s->env);
fail_fd:
	close(s->fd);
fail_free:
	free(s);
	return rc;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct store *s = h->data;
	if (--s->handles_open > 0)
		return;
	void (*cb)(void *) = s->close_cb;
	void *arg = s->close_arg;
	close(s->efd);
	free(s->deferred);
	free(s);
	if (cb)
		cb(arg);
}

static void maybe_finish_close(struct store *s)
{
	if (!s->thr_started || !s->closing || s->handles_open != 4 || s->io_head || s->prep_head || s->pipe_head || s->queued ||
	    s->io_inflight || s->reads_inflight || s->rdone)
		return;
	pthread_mutex_lock(&s->mu);
	bool idle = !s->cq_head && !s->dq_head;
	s->stop = idle;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (!idle)
		return;
	pthread_join(s->thr, NULL);
	s->thr_started = false;
	NLOG(STORE, INFO, "log groups %" PRIu64 " (%" PRIu64 " transactions, %" PRIu64
	     " KiB); LMDB commits %" PRIu64 " (%" PRIu64 " transactions, %" PRIu64 " us each)",
	     s->st_groups, s->st_group_txns, s->st_wal_bytes >> 10, s->st_batches, s->st_txns,
	     s->st_batches ? s->st_lmdb_ns / 1000 / s->st_batches : 0);
	if (s->st_apply_n)
		NLOG(STORE, INFO, "data in the log: %" PRIu64 " transactions; %" PRIu64
		     " block writes by the commit thread, %" PRIu64 " us per batch of them (with fdatasync)",
		     s->st_wal_data_txns, s->st_apply_n, s->st_apply_ns / 1000 / NORN_MAX(s->st_batches, 1));
	if (s->st_waits)
		NLOG(STORE, INFO, "metadata reads that waited for LMDB: %" PRIu64 ", %" PRIu64 " us each",
		     s->st_waits, s->st_wait_ns / 1000 / s->st_waits);
	for (int i = 0; i < 4; i++)
		if (s->st_io_n[i])
			NLOG(STORE, INFO, "%s: %" PRIu64 " requests, %" PRIu64 " us each",
			     (const char *[]){ "data writes", "log writes", "fdatasyncs", "reads" }[i],
			     s->st_io_n[i], s->st_io_ns[i] / 1000 / s->st_io_n[i]);
	if (!atomic_load(&s->failed) && mdb_env_sync(s->env, 1))
		NLOG(STORE, WARN, "LMDB sync at close failed (the log still has everything)");
	release_deferred(s);
	ovl_evict(s, 0);
	for (uint32_t b = 0; b < STORE__OVL_BUCKETS; b++)
		NORN_ASSERT(!s->ovl[b]);
	if (s->rtxn)
		mdb_txn_abort(s->rtxn);
	mdb_env_close(s->env);
	io_uring_queue_exit(&s->ring);
	io_uring_queue_exit(&s->cring);
	NORN_ASSERT(!atomic_load(&s->pend_n));
	free(s->pend_tab);
	pthread_mutex_destroy(&s->pend_mu);
	close(s->fd);
	free(s->amap);
	free(s->dmap);
	free(s->dirty_chunks);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->applied_cv);
	s->handles_open = 4;
	uv_close((uv_handle_t *)&s->check, on_handle_closed);
	uv_close((uv_handle_t *)&s->prepare, on_handle_closed);
	uv_close((uv_handle_t *)&s->poll, on_handle_closed);
	uv_close((uv_handle_t *)&s->async, on_handle_closed);
}

void store_close(struct store *s, void (*cb)(void *arg), void *arg)
{
	NORN_ASSERT(!s->closing);
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	/* Keep the loop running until the close finishes. */
	uv_ref((uv_handle_t *)&s->async);
	s->busy++;
	maybe_finish_close(s);
}

static void sync_close_cb(void *arg) { *(bool *)arg = true; }

int store_close_sync(struct store *s)
{
	bool done = false;
	uv_loop_t *loop = s->loop;
	store_close(s, sync_close_cb, &done);
	while (!done)
		uv_run(loop, UV_RUN_ONCE);
	return 0;
}

/* ---- fsck ------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int store_fsck(struct store *s, FILE *report)
{
	if (atomic_load(&s->failed))
		return NORN_EFAILED;
	wait_applied(s);
	int problems = 0;
#define PROBLEM(...) do { problems++; \
	if (report) { fprintf(report, "fsck: " __VA_ARGS__); fputc('\n', report); } \
	NLOG(STORE, WARN, "fsck: " __VA_ARGS__); } while (0)
	size_t words = s->nchunks * (s->chunk_bytes / 8);
	uint64_t *seen = calloc(words, 8);
	uint64_t *disk = calloc(words, 8);
	if (!seen || !disk) {
		free(seen);
		free(disk);
		return -ENOMEM;
	}
	MDB_txn *rt;
	int rc = rtxn_get(s, &rt);
	if (rc)
		goto out;
	MDB_val k, v;
	for (uint64_t c = 0; c < s->nchunks; c++) {
		uint8_t ck[8];
		chunk_key(ck, c);
		k = (MDB_val){ 8, ck };
		if (mdb_get(rt, s->db_alloc, &k, &v) || v.mv_size != s->chunk_bytes) {
			PROBLEM("allocator chunk %" PRIu64 " missing", c);
			continue;
		}
		for (uint32_t i = 0; i < s->chunk_bytes / 8; i++)
			disk[c * (s->chunk_bytes / 8) + i] = norn_get_le64((uint8_t *)v.mv_data + i * 8);
	}
	for (uint64_t b = 0; b < STORE__RESERVED_BLOCKS; b++) {
		if (!bit_get(disk, b))
			PROBLEM("reserved block %" PRIu64 " marked free", b);
		bit_set(seen, b);
	}
	for (uint64_t b = s->nblocks; b < s->nchunks * s->chunk_blocks; b++)
		bit_set(seen, b);
	for (uint64_t b = s->wal_off / BLK; b < (s->wal_off + s->wal_size) / BLK; b++) {
		if (!bit_get(disk, b))
			PROBLEM("log block %" PRIu64 " marked free", b);
		bit_set(seen, b);
	}
	struct store_names objs = { 0 };
	size_t cap = 0;
	uint64_t *nids = NULL;
	size_t nnids = 0, capnids = 0;
	MDB_cursor *cur;
	rc = mdb_cursor_open(rt, s->db_onode, &cur);
	if (rc) {
		rtxn_put(s);
		rc = -EIO;
		goto out;
	}
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		const char *key = k.mv_data;
		size_t cl = strnlen(key, k.mv_size);
		char cid[STORE_CID_MAX + 1] = "", oid[STORE_OID_MAX + 1] = "";
		if (cl >= k.mv_size || cl > STORE_CID_MAX || k.mv_size - cl - 1 > STORE_OID_MAX) {
			PROBLEM("onode key of %zu bytes is malformed", k.mv_size);
		} else {
			memcpy(cid, key, cl);
			memcpy(oid, key + cl + 1, k.mv_size - cl - 1);
			MDB_val ck = { cl, (void *)key }, cv;
			if (mdb_get(rt, s->db_coll, &ck, &cv))
				PROBLEM("object %s/%s in a missing collection", cid, oid);
			struct store__onode on;
			int drc = store__onode_decode(v.mv_data, v.mv_size, s->o.max_object_bytes, &on);
			if (!drc && on.shard_blks) {
				drc = shards_load(s, rt, key, k.mv_size, on.nid, on.nblk, on.shard_blks, 0,
				                  on.nblk, on.pblk, on.crc);
				if (drc)
					store__onode_free(&on);
			}
			if (drc) {
				PROBLEM("object %s/%s: onode does not decode (%s)", cid, oid, norn_strerror(drc));
			} else {
				for (uint32_t b = 0; b < on.nblk; b++) {
					uint64_t p = on.pblk[b];
					if (!p)
						continue;
					if (p < STORE__RESERVED_BLOCKS || p >= s->nblocks) {
						PROBLEM("object %s/%s block %u -> %" PRIu64 " outside the data area",
						        cid, oid, b, p);
						continue;
					}
					if (bit_get(seen, p))
						PROBLEM("object %s/%s block %u -> %" PRIu64 " used twice", cid, oid, b, p);
					bit_set(seen, p);
					if (!bit_get(disk, p))
						PROBLEM("object %s/%s block %u -> %" PRIu64 " marked free in the allocator",
						        cid, oid, b, p);
				}
				if (nnids == capnids) {
					capnids = capnids ? capnids * 2 : 64;
					uint64_t *nn = realloc(nids, capnids * sizeof(*nn));
					NORN_ASSERT(nn);
					nids = nn;
				}
				nids[nnids++] = on.nid;
				store__onode_free(&on);
				if (objs.n == cap) {
					cap = cap ? cap * 2 : 64;
					char **nv = realloc(objs.v, cap * sizeof(char *));
					NORN_ASSERT(nv);
					objs.v = nv;
				}
				objs.v[objs.n] = malloc(k.mv_size + 1);
				NORN_ASSERT(objs.v[objs.n]);
				memcpy(objs.v[objs.n], key, k.mv_size);
				objs.v[objs.n][k.mv_size] = 0;
				objs.n++;
			}
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	/* Orphans: omap entries of no object, collection meta of no
	 * collection. */
	if (nnids)
		qsort(nids, nnids, sizeof(*nids), cmp_u64);
	uint64_t orphan_omap = 0, orphan_cmeta = 0;
	if (mdb_cursor_open(rt, s->db_omap, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			uint64_t nid = 0;
			for (size_t i = 0; i < 8 && i < k.mv_size; i++)
				nid = nid << 8 | ((const uint8_t *)k.mv_data)[i];
			if (k.mv_size <= 8 || !nnids || !bsearch(&nid, nids, nnids, sizeof(*nids), cmp_u64))
				orphan_omap++;
		}
		mdb_cursor_close(cur);
	}
	if (mdb_cursor_open(rt, s->db_cmeta, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			size_t cl = strnlen(k.mv_data, k.mv_size);
			MDB_val ck = { cl, k.mv_data }, cv;
			if (cl >= k.mv_size || mdb_get(rt, s->db_coll, &ck, &cv))
				orphan_cmeta++;
		}
		mdb_cursor_close(cur);
	}
	/* Block-map shards of no object, of an unsharded one or past its end. */
	uint64_t orphan_shard = 0;
	if (mdb_cursor_open(rt, s->db_shard, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			const uint8_t *kb = k.mv_data;
			if (k.mv_size < 6 || kb[k.mv_size - 5] != 0) {
				orphan_shard++;
				continue;
			}
			uint32_t idx = (uint32_t)kb[k.mv_size - 4] << 24 | (uint32_t)kb[k.mv_size - 3] << 16 |
			               (uint32_t)kb[k.mv_size - 2] << 8 | kb[k.mv_size - 1];
			MDB_val ok = { k.mv_size - 5, k.mv_data }, ov;
			uint64_t size = 0;
			uint32_t sb = 0;
			if (mdb_get(rt, s->db_onode, &ok, &ov) ||
			    store__onode_decode_range(ov.mv_data, ov.mv_size, s->o.max_object_bytes, 0, 0,
			                              &size, NULL, NULL, &sb) ||
			    idx >= nshards((size + BLK - 1) / BLK, sb))
				orphan_shard++;
		}
		mdb_cursor_close(cur);
	}
	if (orphan_shard)
		PROBLEM("%" PRIu64 " block-map shards belong to no object", orphan_shard);
	if (orphan_omap)
		PROBLEM("%" PRIu64 " omap entries belong to no object", orphan_omap);
	if (orphan_cmeta)
		PROBLEM("%" PRIu64 " collection meta entries belong to no collection", orphan_cmeta);
	free(nids);
	rtxn_put(s);
	rc = 0;
	uint64_t leaked = 0, first_leak = 0;
	for (uint64_t b = 0; b < s->nblocks; b++)
		if (bit_get(disk, b) && !bit_get(seen, b)) {
			if (!leaked++)
				first_leak = b;
		}
	if (leaked)
		PROBLEM("%" PRIu64 " blocks marked used without an owner (first %" PRIu64 ")", leaked,
		        first_leak);
	/* Every checksum: read every object through the normal path. */
	for (size_t i = 0; i < objs.n; i++) {
		const char *cid = objs.v[i], *oid = cid + strlen(cid) + 1;
		uint8_t *buf = NULL;
		size_t len = 0;
		int r = store_read_sync(s, cid, oid, 0, UINT64_MAX / 4, &buf, &len);
		free(buf);
		if (r)
			PROBLEM("object %s/%s: read failed: %s", cid, oid, norn_strerror(r));
	}
	store_names_free(&objs);
out:
	free(seen);
	free(disk);
#undef PROBLEM
	return rc ? rc : problems;
}
