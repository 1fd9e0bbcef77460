/* s3_md5: the scalar code and every SIMD width this CPU has must give
 * OpenSSL's MD5 for any lengths and any way of cutting a stream into
 * pieces; the scheduler must give each of many interleaved streams its own
 * digest whatever the order of defers and drains. `test_s3_md5 speed`
 * prints the throughput of each kernel (the figures behind MIN_LANES_* in
 * s3_md5.c). */
#include "tests/harness.h"

#include <time.h>

#include "client/s3/s3_md5.h"
#include "client/s3/s3_util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static void digest_all(const uint8_t *p, size_t n, uint8_t out[16])
{
	struct s3_md5 m;
	s3_md5_init(&m);
	s3_md5_update(&m, p, n);
	s3_md5_final(&m, out);
}

/* RFC 1321's test suite. */
TEST(rfc1321_vectors)
{
	static const struct { const char *in, *hex; } v[] = {
		{ "", "d41d8cd98f00b204e9800998ecf8427e" },
		{ "a", "0cc175b9c0f1b6a831c399e269772661" },
		{ "abc", "900150983cd24fb0d6963f7d28e17f72" },
		{ "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
		{ "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		  "d174ab98d277d9f5a5611c2c9f419d9f" },
		{ "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		  "57edf4a22be3c955ac49da2e2107b67a" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t d[16];
		char hx[33];
		digest_all((const uint8_t *)v[i].in, strlen(v[i].in), d);
		s3_hex(d, 16, hx);
		CHECK_STREQ(hx, v[i].hex);
	}
}

/* Every length around the padding boundaries, in pieces of every size. */
TEST(scalar_lengths_and_pieces)
{
	static uint8_t buf[1100];
	fill(buf, sizeof(buf));
	for (size_t n = 0; n < sizeof(buf); n += (n < 200 ? 1 : 37)) {
		uint8_t want[16], got[16];
		s3_md5(buf, n, want);
		digest_all(buf, n, got);
		CHECK(memcmp(want, got, 16) == 0);
		for (size_t piece = 1; piece <= 130; piece += 7) {
			struct s3_md5 m;
			s3_md5_init(&m);
			for (size_t off = 0; off < n; off += piece)
				s3_md5_update(&m, buf + off, n - off < piece ? n - off : piece);
			s3_md5_final(&m, got);
			CHECK(memcmp(want, got, 16) == 0);
		}
	}
}

/* The raw kernels: k streams of whole blocks, each width against scalar. */
TEST(kernels_match_scalar)
{
	enum { NB = 9 };
	static uint8_t data[16][NB * 64];
	for (int i = 0; i < 16; i++)
		fill(data[i], sizeof(data[i]));
	int widths[] = { 16, 8, 1 };
	for (size_t w = 0; w < 3; w++) {
		int lanes = widths[w];
		if (lanes > s3_md5_cpu_lanes())
			continue;
		for (int k = 0; k <= lanes; k++) {
			uint32_t h[16][4], ref[16][4];
			const uint8_t *p[16];
			for (int i = 0; i < 16; i++) {
				for (int j = 0; j < 4; j++)
					h[i][j] = ref[i][j] = (uint32_t)rnd();
				p[i] = data[i];
			}
			s3_md5_blocks_multi(lanes, h, p, k, NB);
			for (int i = 0; i < k; i++) {
				s3_md5_blocks_multi(1, &ref[i], &p[i], 1, NB);
				CHECK(memcmp(h[i], ref[i], 16) == 0);
			}
		}
	}
	printf("  cpu lanes: %d\n", s3_md5_cpu_lanes());
}

/* Many streams through one scheduler, as the gateway uses it: each
 * stream's bytes are copied into chunks of random sizes (each its own
 * allocation), every chunk is deferred as it fills, a stream drains when
 * its pending bytes pass a limit or at random, a few streams are
 * cancelled midway. seg_done scribbles over the chunk and frees it, so a
 * stream that hashed anything after its seg_done gets a wrong digest (and
 * ASan reports the use after free). */
struct chunk {
	size_t len;
	uint8_t data[];
};

static long outstanding;

static void chunk_done(void *tag)
{
	struct chunk *c = tag;
	memset(c->data, 0xa5, c->len);
	free(c);
	outstanding--;
}

static void run_sched(int max_lanes, int nstreams, size_t maxlen, int rounds)
{
	struct s3_md5_sched s;
	s3_md5_sched_init(&s, max_lanes, chunk_done);
	enum { MAXS = 40 };
	CHECK(nstreams <= MAXS);
	struct st {
		struct s3_md5 m;
		uint8_t *src;        /* the stream's bytes */
		size_t len, off;
		struct chunk *c;     /* being filled */
		size_t chunk_cap;
		int cancelled, done;
	} st[MAXS];
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < nstreams; i++) {
			st[i].len = (size_t)(rnd() % maxlen);
			st[i].src = malloc(st[i].len + 1);
			CHECK(st[i].src);
			fill(st[i].src, st[i].len);
			st[i].off = 0;
			/* mostly whole blocks, sometimes not */
			st[i].chunk_cap = 64 * (1 + (size_t)(rnd() % 300)) + (rnd() % 4 ? 0 : rnd() % 64);
			st[i].c = NULL;
			st[i].cancelled = st[i].done = 0;
			s3_md5_init(&st[i].m);
		}
		int live = nstreams;
		while (live > 0) {
			struct st *t = &st[rnd() % (uint64_t)nstreams];
			if (t->done)
				continue;
			if (!t->cancelled && rnd() % 300 == 0) {
				s3_md5_cancel(&t->m);
				t->cancelled = 1;
			}
			if (!t->c) {
				t->c = malloc(sizeof(*t->c) + t->chunk_cap);
				CHECK(t->c);
				t->c->len = 0;
			}
			size_t left = t->len - t->off;
			size_t room = t->chunk_cap - t->c->len;
			size_t take = (size_t)(rnd() % 3000);
			take = take < left ? take : left;
			take = take < room ? take : room;
			memcpy(t->c->data + t->c->len, t->src + t->off, take);
			t->c->len += take;
			t->off += take;
			if (t->c->len == t->chunk_cap || t->off == t->len || rnd() % 40 == 0) {
				if (t->cancelled) {
					free(t->c);
				} else {
					outstanding++;
					s3_md5_defer(&s, &t->m, t->c->data, t->c->len, t->c);
				}
				t->c = NULL;
				if (!t->cancelled && t->m.pend_bytes > 60000) {
					s3_md5_drain_to(&t->m, 20000, (int)(rnd() % 10));
					CHECK(t->m.pend_bytes <= 20000);
				} else if (!t->cancelled && rnd() % 50 == 0) {
					s3_md5_sweep(&s, (int)(rnd() % 12));
				} else if (!t->cancelled && rnd() % 20 == 0) {
					s3_md5_drain(&t->m, 0);
					CHECK(t->m.nseg == 0);
				}
			}
			if (t->off == t->len && !t->c) {
				if (!t->cancelled) {
					uint8_t want[16], got[16];
					s3_md5_drain(&t->m, (int)(rnd() % 10));
					CHECK(t->m.nseg == 0 && t->m.pend_bytes == 0);
					s3_md5(t->src, t->len, want);
					s3_md5_final(&t->m, got);
					CHECK(memcmp(want, got, 16) == 0);
				}
				free(t->src);
				t->done = 1;
				live--;
			}
		}
		CHECK(s.nstreams == 0 && s.head == NULL);
		CHECK_EQ(outstanding, 0);
	}
	printf("  lanes %d streams %d: simd blocks %llu (slots %llu), scalar blocks %llu\n", s.lanes,
	       nstreams, (unsigned long long)s.simd_blocks, (unsigned long long)s.simd_slots,
	       (unsigned long long)s.scalar_blocks);
	if (s.lanes > 1 && nstreams >= 8)
		CHECK(s.simd_blocks > 0);
}

TEST(sched_many_streams)
{
	run_sched(0, 16, 400000, 3);
	run_sched(0, 40, 100000, 2);
	run_sched(0, 3, 100000, 3);
}

TEST(sched_each_width)
{
	run_sched(1, 12, 50000, 2);
	if (s3_md5_cpu_lanes() >= 8)
		run_sched(8, 12, 200000, 2);
	if (s3_md5_cpu_lanes() >= 16)
		run_sched(16, 20, 200000, 2);
}

/* Edge cases: empty defers (seg_done at once), a drain with nothing
 * pending, a cancel with nothing pending, tiny segments that only add up
 * to a block across several of them, more segments than the ring holds,
 * a defer that only completes the tail. */
static int edge_done;

static void edge_seg_done(void *tag)
{
	(void)tag;
	edge_done++;
}

TEST(sched_edge_cases)
{
	struct s3_md5_sched s;
	s3_md5_sched_init(&s, 0, edge_seg_done);
	struct s3_md5 m;
	uint8_t b[400], want[16], got[16];
	fill(b, sizeof(b));
	s3_md5_init(&m);
	s3_md5_defer(&s, &m, b, 0, NULL);
	CHECK_EQ(edge_done, 1);
	s3_md5_drain(&m, 0);
	s3_md5_cancel(&m);
	CHECK(s.nstreams == 0);
	s3_md5_defer(&s, &m, b, 10, NULL);          /* pending, under a block */
	s3_md5_drain(&m, 0);                           /* -> tail */
	CHECK_EQ(edge_done, 2);
	s3_md5_defer(&s, &m, b + 10, 20, NULL);     /* only completes the tail */
	CHECK_EQ(edge_done, 3);
	size_t off = 30;
	for (int i = 0; i < 20; i++) {              /* 20 segments of 7..19 bytes */
		size_t n = 7 + (size_t)i % 13;
		s3_md5_defer(&s, &m, b + off, n, NULL);
		off += n;
	}
	CHECK(m.nseg <= S3_MD5_SEGS);
	s3_md5_drain(&m, 0);
	CHECK_EQ(edge_done, 23);
	s3_md5_update(&m, b + off, 0);
	s3_md5_final(&m, got);
	s3_md5(b, off, want);
	CHECK(memcmp(want, got, 16) == 0);
	/* cancel with segments pending */
	s3_md5_init(&m);
	s3_md5_defer(&s, &m, b, 100, NULL);
	s3_md5_defer(&s, &m, b + 100, 100, NULL);
	s3_md5_cancel(&m);
	CHECK_EQ(edge_done, 25);
	CHECK(s.nstreams == 0);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a check: throughput of each kernel and of OpenSSL (run by name). */
TEST(speed)
{
	enum { NB = 4096 };               /* 256 KiB per stream */
	uint8_t *data = malloc(16 * NB * 64);
	CHECK(data);
	fill(data, 16 * NB * 64);
	const uint8_t *p[16];
	uint32_t h[16][4];
	for (int i = 0; i < 16; i++)
		p[i] = data + (size_t)i * NB * 64;
	memset(h, 0, sizeof(h));
	double t = now_s();
	uint8_t d[16];
	for (int r = 0; r < 8; r++)
		s3_md5(data, NB * 64, d);
	printf("  openssl one stream: %.0f MB/s\n", 8.0 * NB * 64 / (now_s() - t) / 1e6);
	int widths[] = { 1, 8, 16 };
	for (size_t w = 0; w < 3; w++) {
		int lanes = widths[w];
		if (lanes > s3_md5_cpu_lanes())
			continue;
		t = now_s();
		for (int r = 0; r < 8; r++)
			s3_md5_blocks_multi(lanes, h, p, lanes, NB);
		double secs = now_s() - t;
		printf("  %2d lanes: %.0f MB/s total, %.0f MB/s per stream\n", lanes,
		       8.0 * lanes * NB * 64 / secs / 1e6, 8.0 * NB * 64 / secs / 1e6);
	}
	free(data);
}

int main(int argc, char **argv)
{
	static const struct test_case tests[] = {
		TEST_ENTRY(rfc1321_vectors), TEST_ENTRY(scalar_lengths_and_pieces),
		TEST_ENTRY(kernels_match_scalar), TEST_ENTRY(sched_many_streams),
		TEST_ENTRY(sched_each_width), TEST_ENTRY(sched_edge_cases),
	};
	static const struct test_case speed_test[] = { TEST_ENTRY(speed) };
	if (argc > 1 && !strcmp(argv[1], "speed"))
		return test_run_main(speed_test, 1, argc, argv, 120);
	return test_run_main(tests, sizeof(tests) / sizeof(tests[0]), argc, argv, 120);
}
