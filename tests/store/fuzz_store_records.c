/* libFuzzer target over the object store's on-disk record decoders: the
 * onode (LMDB value), the superblock (block 0), block-map shards and the
 * write-ahead log's groups of versions 1 and 2 (bit 0x10 of the first
 * byte; 2 may carry small transactions' data, each block checked against
 * its recorded crc; the group crc is fixed up here so the fuzzer reaches
 * the record parser). The first input byte
 * picks the decoder; the rest is the record. Decoders must reject bad
 * bytes with an error, never crash, leak or read out of bounds; a record
 * that decodes must re-encode to a record that decodes the same way. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/crc32c.h"
#include "common/encode.h"
#include "norn/errors.h"
#include "osd/store/store.h"
#include "osd/store/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	if (data[0] & 1) {
		struct store__super sb;
		if (store__super_decode(p, n, &sb) == 0) {
			uint8_t blk[STORE_BLOCK_BYTES];
			struct store__super sb2;
			store__super_encode(&sb, blk);
			NORN_ASSERT(store__super_decode(blk, sizeof(blk), &sb2) == 0);
			NORN_ASSERT(!memcmp(sb.uuid, sb2.uuid, 16) && sb.osd_id == sb2.osd_id);
		}
		return 0;
	}
	if (data[0] & 2) {
		/* Block-map shard: decode, re-encode, decode again, same map. */
		enum { SB = 16, NBLK = 40 };
		uint32_t idx = (uint32_t)(data[0] >> 2) % 3;
		uint64_t nid = n >= 14 ? norn_get_le64(p + 6) : 1;
		struct store__onode on;
		memset(&on, 0, sizeof(on));
		NORN_ASSERT(store__onode_resize(&on, (uint64_t)NBLK * STORE_BLOCK_BYTES) == 0);
		on.nid = nid;
		on.shard_blks = SB;
		if (store__shard_decode(p, n, nid, NBLK, SB, idx, 0, NBLK, on.pblk, on.crc) == 0) {
			for (uint32_t b = 0; b < NBLK; b++)
				NORN_ASSERT(!on.pblk[b] || (b >= idx * SB && b < (idx + 1) * SB));
			uint8_t *buf;
			size_t len;
			NORN_ASSERT(store__shard_encode(&on, idx, &buf, &len) == 0);
			uint64_t p2[NBLK] = { 0 };
			uint32_t c2[NBLK] = { 0 };
			NORN_ASSERT(store__shard_decode(buf, len, nid, NBLK, SB, idx, 0, NBLK, p2, c2) == 0);
			for (uint32_t b = 0; b < NBLK; b++)
				NORN_ASSERT(p2[b] == on.pblk[b] && (!p2[b] || c2[b] == on.crc[b]));
			free(buf);
		}
		store__onode_free(&on);
		return 0;
	}
	if ((data[0] & 0x0c) == 0x0c) {
		/* Log group: make the length and crc consistent, then decode. */
		if (n < 64 || n > (1u << 20))
			return 0;
		size_t glen = (n + STORE_BLOCK_BYTES - 1) / STORE_BLOCK_BYTES * STORE_BLOCK_BYTES;
		uint8_t *g = calloc(1, glen);
		NORN_ASSERT(g);
		memcpy(g, p, n);
		memcpy(g, "NORNWAL1", 8);
		norn_put_le32(g + 8, data[0] & 0x10 ? 2 : 1);
		norn_put_le32(g + 40, (uint32_t)glen);
		uint32_t payload = (uint32_t)(n - 64);
		norn_put_le32(g + 48, payload);
		memset(g + 12, 0, 4);
		norn_put_le32(g + 12, norn_crc32c(0, g, 64 + (size_t)payload));
		struct store_txn *h;
		uint32_t nt;
		if (store__wal_group_decode(g, glen, UINT64_MAX, UINT64_MAX, UINT64_MAX, 1u << 20, &h,
		                            &nt) == 0)
			store__wal_txns_free(h);
		/* A wrong crc is always refused. */
		g[12] ^= 1;
		NORN_ASSERT(store__wal_group_decode(g, glen, UINT64_MAX, UINT64_MAX, UINT64_MAX, 1u << 20,
		                                    &h, &nt) == NORN_ECORRUPT);
		free(g);
		return 0;
	}
	struct store__onode on;
	int full = store__onode_decode(p, n, 1u << 24, &on);
	/* The partial decoder used by reads agrees with the full one. */
	uint64_t rp[8], rsize = 0;
	uint32_t rc8[8];
	uint64_t b0 = size > 1 ? data[size - 1] % 16 : 0;
	uint32_t rsb = 0;
	int part = store__onode_decode_range(p, n, 1u << 24, b0, 8, &rsize, rp, rc8, &rsb);
	if (full == 0) {
		NORN_ASSERT(part == 0 && rsize == on.size && rsb == on.shard_blks);
		for (uint32_t i = 0; i < 8; i++) {
			uint64_t l = b0 + i;
			NORN_ASSERT(rp[i] == (l < on.nblk ? on.pblk[l] : 0));
			NORN_ASSERT(!rp[i] || rc8[i] == on.crc[l]);
		}
	}
	if (full == 0) {
		uint8_t *buf;
		size_t len;
		NORN_ASSERT(store__onode_encode(&on, &buf, &len) == 0);
		struct store__onode on2;
		NORN_ASSERT(store__onode_decode(buf, len, 1u << 24, &on2) == 0);
		NORN_ASSERT(on2.size == on.size && on2.nblk == on.nblk && on2.nx == on.nx &&
		            on2.shard_blks == on.shard_blks);
		for (uint32_t i = 0; i < on.nblk; i++)
			NORN_ASSERT(on.pblk[i] == on2.pblk[i] && (!on.pblk[i] || on.crc[i] == on2.crc[i]));
		free(buf);
		store__onode_free(&on2);
		store__onode_free(&on);
	}
	return 0;
}
