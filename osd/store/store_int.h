/* Internals shared by the object store's files (store__ prefix): the
 * in-memory onode and its on-disk codec, the superblock codec. Nothing
 * outside osd/store includes this.
 */
#ifndef NORN_OSD_STORE_INT_H
#define NORN_OSD_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "osd/store/store.h"

#define STORE__SUPER_MAGIC      "NORNSTOR"
#define STORE__RESERVED_BLOCKS  256u          /* superblock + spare: first 1 MiB */
/* Allocator bitmap chunk (one LMDB value): 512 bytes = 16 MiB of blocks,
 * small enough to share a leaf page, so a commit that flips a few bits
 * rewrites part of a page instead of a 2-page overflow value. Stores made
 * with the first layout have 4 KiB chunks; mount detects which. */
#define STORE__CHUNK_BYTES      512u
#define STORE__CHUNK_BYTES_V1   4096u
#define STORE__CHUNK_BLOCKS     (STORE__CHUNK_BYTES * 8u)
#define STORE__ONODE_VERSION    1u
#define STORE__SHARD_BLKS_MAX   4096u         /* blocks per block-map shard */

struct store__xattr {
	char *name;
	uint8_t *val;
	size_t len;
};

/* An object as the store works on it: a flat per-block map (pblk 0 is a
 * hole; block 0 is the superblock so it never holds data) with a crc32c
 * per block. nblk is always ceil(size / 4 KiB). Bytes beyond size inside
 * the last block are kept zero on disk. */
struct store__onode {
	uint64_t nid;
	uint64_t size;
	uint64_t mtime_ns;
	uint64_t version;
	uint32_t nblk;
	uint64_t *pblk;
	uint32_t *crc;
	uint32_t nx;
	struct store__xattr *x;
	uint32_t shard_blks;     /* 0: block map inline in the head record */
};

struct store__super {
	uint32_t version;
	uint8_t uuid[16];
	uint32_t osd_id;
	uint64_t size_bytes;
};

void store__onode_free(struct store__onode *o);
/* Deep copy; 0 or -ENOMEM. */
int store__onode_copy(struct store__onode *dst, const struct store__onode *src);
/* Resize the block map to ceil(@size/4K) entries (new entries are holes);
 * does not free blocks. 0 or -ENOMEM. */
int store__onode_resize(struct store__onode *o, uint64_t size);
/* Encode into a malloc'd buffer. 0 or -ENOMEM. */
int store__onode_encode(const struct store__onode *o, uint8_t **out, size_t *len);
/* Decode and validate (bytes from disk). 0, NORN_ECORRUPT, NORN_EVERSION,
 * -ENOMEM. On error @o is left empty. */
int store__onode_decode(const void *buf, size_t len, uint64_t max_object_bytes,
                        struct store__onode *o);

/* Decode only what a read of blocks [b0, b0+nb) needs: the size and the
 * physical block and crc of each of those blocks (0 for holes). Validates
 * the record crc and everything it uses. *@shard_blks (may be NULL) gets
 * the head's shard size: when not 0 the caller reads the block map from
 * the shard records. 0, NORN_ECORRUPT, NORN_EVERSION. */
int store__onode_decode_range(const void *buf, size_t len, uint64_t max_object_bytes,
                              uint64_t b0, uint32_t nb, uint64_t *size_out,
                              uint64_t *pblk, uint32_t *crc, uint32_t *shard_blks);

/* Shard @idx of a sharded onode's block map (@o->shard_blks != 0, the
 * shard holds at least one logical block). 0 or -ENOMEM. */
int store__shard_encode(const struct store__onode *o, uint32_t idx, uint8_t **out, size_t *len);
/* Decode shard @idx of object (@nid, @nblk blocks, @shard_blks per shard)
 * and store its blocks inside [b0, b0+nb) at pblk/crc[l - b0] (others left
 * alone). Validates everything. 0, NORN_ECORRUPT, NORN_EVERSION. */
int store__shard_decode(const void *buf, size_t len, uint64_t nid, uint64_t nblk,
                        uint32_t shard_blks, uint32_t idx, uint64_t b0, uint64_t nb,
                        uint64_t *pblk, uint32_t *crc);

/* Write-ahead log groups (the layout is in store.c). Check the header of
 * a group at log position @lsn of log @id with sequence @seq (UINT64_MAX
 * for any of the three: accept what the header says); *@glen gets the
 * group's length. 0 or NORN_ECORRUPT. */
int store__wal_group_len(const void *hdr, size_t len, uint64_t id, uint64_t seq, uint64_t lsn,
                         uint32_t *glen);
/* Check a whole group (header as above, crc32c) and decode its
 * transaction records (metadata changes, allocated and freed runs inside
 * [reserved, @nblocks)) into a list of transactions (*@head_out, *@n_out)
 * that only store.c can apply. 0, NORN_ECORRUPT or -ENOMEM. */
int store__wal_group_decode(const void *buf, size_t len, uint64_t id, uint64_t seq, uint64_t lsn,
                            uint64_t nblocks, struct store_txn **head_out, uint32_t *n_out);
void store__wal_txns_free(struct store_txn *head);

void store__super_encode(const struct store__super *sb, uint8_t buf[STORE_BLOCK_BYTES]);
int store__super_decode(const void *buf, size_t len, struct store__super *sb);

#endif
