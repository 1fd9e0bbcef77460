/* MD5 for S3 ETags, many streams at once.
 *
 * Every PUT and part upload needs the MD5 of its body (the ETag, and the
 * Content-MD5 check). MD5 is a serial chain per stream: one core does
 * ~700 MB/s of it, which made the gateway's single loop thread the limit
 * of large PUTs. But a gateway hashes many bodies at the same time, and
 * independent streams can share SIMD registers: with AVX-512 one
 * instruction advances the same MD5 step of 16 streams (one 32-bit lane
 * each), with AVX2 of 8. That is the multi-buffer technique; this file is
 * an implementation of it written from RFC 1321.
 *
 * The price is batching: a stream's bytes are not hashed when they
 * arrive but queued as "pending" segments (s3_md5_defer: the caller keeps
 * the bytes where they are, e.g. a chunk already on its way to the
 * cluster) and hashed later, together with the pending bytes of other
 * streams, when the caller needs the stream's state (s3_md5_drain: to
 * bound the memory held, and before the final digest). A drain takes the
 * other streams' pending whole blocks along in the same SIMD passes, so in
 * a gateway with 16 large PUTs most of each body is hashed 16 at a time;
 * a stream alone is hashed by the scalar code (same result, the
 * single-stream speed). When a segment has been hashed (or cancelled) the
 * scheduler calls seg_done(tag) so the caller can free its bytes.
 *
 * Threads: a scheduler and its streams belong to one thread (the
 * gateway's loop). No allocation; no global state except the CPU feature
 * check, which is read-only after the first call.
 */
#ifndef NORN_S3_MD5_H
#define NORN_S3_MD5_H
#include <stddef.h>
#include <stdint.h>

struct s3_md5_sched;

/* Pending segments per stream: a defer beyond this drains first. */
#define S3_MD5_SEGS 8

struct s3_md5_seg {
	const uint8_t *p;
	size_t len;
	void *tag;
};

/* One MD5 stream. Fields are private to s3_md5.c except pend_bytes. */
struct s3_md5 {
	uint32_t h[4];
	uint64_t total;             /* bytes consumed: hashed, in tail or pending */
	uint8_t tail[64];           /* bytes of an incomplete block (no segments then) */
	uint32_t tail_len;
	struct s3_md5_seg seg[S3_MD5_SEGS];  /* ring of pending segments */
	uint32_t seg_head, nseg;
	uint64_t pend_bytes;        /* bytes in the segments: read-only for callers */
	struct s3_md5_sched *sched; /* non-NULL while it has segments */
	struct s3_md5 *prev, *next;
};

/* Called when a deferred segment's bytes are no longer needed. */
typedef void (*s3_md5_seg_done_fn)(void *tag);

/* The set of streams with pending bytes, and the SIMD kernel used. */
struct s3_md5_sched {
	struct s3_md5 *head;
	size_t nstreams;            /* streams with pending bytes */
	uint64_t pend_bytes;        /* pending bytes of all streams */
	int lanes;                  /* 16 (AVX-512), 8 (AVX2) or 1 (scalar only) */
	s3_md5_seg_done_fn seg_done;
	/* Statistics: blocks hashed by SIMD passes (useful lanes only), lane
	 * slots those passes ran (useful + idle), blocks hashed one stream at
	 * a time. */
	uint64_t simd_blocks, simd_slots, scalar_blocks;
	uint64_t passes_by_lanes[17];   /* SIMD passes by busy lanes */
};

/* Start a stream. */
void s3_md5_init(struct s3_md5 *m);
/* Hash @n bytes of @p now (scalar code). The stream must have no pending
 * bytes (drain first). */
void s3_md5_update(struct s3_md5 *m, const void *p, size_t n);
/* Finish into @out. The stream must have no pending bytes. @m must be
 * re-initialised before further use. */
void s3_md5_final(struct s3_md5 *m, uint8_t out[16]);

/* Set up @s. @max_lanes caps the SIMD width (16, 8 or 1; 0: the best the
 * CPU has); the result is in s->lanes. @seg_done (may be NULL) is told
 * when each deferred segment is hashed or cancelled. */
void s3_md5_sched_init(struct s3_md5_sched *s, int max_lanes, s3_md5_seg_done_fn seg_done);

/* Append [@p, @p+@n) to stream @m without hashing it yet. The bytes must
 * stay valid and unchanged until seg_done(@tag) is called (from a later
 * defer, drain or cancel of this or another stream of @s; never from this
 * call unless @n is 0 or the bytes only complete an earlier tail). Exactly
 * one seg_done(@tag) follows every defer. All streams deferred through one
 * scheduler must use that scheduler. */
void s3_md5_defer(struct s3_md5_sched *s, struct s3_md5 *m, const void *p, size_t n, void *tag);
/* Hash all of @m's pending bytes now: in SIMD passes with other streams'
 * pending blocks while at least @min_busy streams (>= 3) have some, the
 * rest with the scalar code. Afterwards @m has no segments. */
void s3_md5_drain(struct s3_md5 *m, int min_busy);
/* As s3_md5_drain until at most @keep (> 0) bytes remain pending, and
 * more while that fills most SIMD lanes. @m may keep segments. */
void s3_md5_drain_to(struct s3_md5 *m, uint64_t keep, int min_busy);
/* Run SIMD passes while at least @min_busy lanes (at least 3, at most
 * s->lanes) have pending blocks: hashing that is cheap now. No-op for a
 * scalar scheduler. */
void s3_md5_sweep(struct s3_md5_sched *s, int min_busy);
/* Forget @m's pending bytes (the stream is being dropped; its digest is
 * then meaningless): seg_done for each. Safe on a stream with nothing
 * pending or never deferred to. */
void s3_md5_cancel(struct s3_md5 *m);

/* The widest SIMD kernel this CPU runs (16, 8 or 1). */
int s3_md5_cpu_lanes(void);

/* Hash the same whole blocks of @lanes streams in one pass (tests,
 * benchmarks): for each i < @k, @nblocks 64-byte blocks from @p[i] into
 * state @h[i]. @k <= @lanes; @lanes is 16, 8 or 1 and at most
 * s3_md5_cpu_lanes(). */
void s3_md5_blocks_multi(int lanes, uint32_t (*h)[4], const uint8_t *const *p, int k,
                         size_t nblocks);

#endif
