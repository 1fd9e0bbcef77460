/* MD5, one stream at a time and many at once (see s3_md5.h).
 *
 * The compression function is RFC 1321's: 64 steps in four rounds of 16,
 * each step a = b + rotl(a + f(b, c, d) + K[i] + M[g(i)], s(i)). The
 * scalar code runs one stream. The SIMD kernels keep the four state words
 * of 16 (AVX-512) or 8 (AVX2) streams in four vector registers, one
 * stream per 32-bit lane, and run the same 64 steps on all of them; the
 * message words come from a transpose of one 64-byte block per stream
 * (loads of each stream's block, then unpack/shuffle so that vector w
 * holds word w of every stream). AVX-512's three-input logic instruction
 * computes each round's f in one instruction and it rotates natively.
 *
 * The scheduler (s3_md5_defer / s3_md5_drain) decides when to run them:
 * see the essay above s3_md5_drain.
 */
#include "client/s3/s3_md5.h"

#include <string.h>

#include "common/assert.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define S3_MD5_X86 1
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
	0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
	0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
	0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
	0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
	0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
	0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
	0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
	0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* The SIMD passes need at least this many streams with pending blocks to
 * beat running the one stream that must be hashed alone (measured with
 * tests/s3/test_s3_md5.c's timing: one 16-lane AVX-512 pass costs about
 * as much as 2 scalar blocks, one 8-lane AVX2 pass about 2). */
#define MIN_LANES_X16 3
#define MIN_LANES_X8 3

/* A block whose lanes are idle read (never hashed into anything kept). */
static const uint8_t zero_block[64];

/* --- one stream ------------------------------------------------------- */

static inline uint32_t rotl32(uint32_t x, int s)
{
	return (x << s) | (x >> (32 - s));
}

static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define F1(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define F2(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define F3(x, y, z) ((x) ^ (y) ^ (z))
#define F4(x, y, z) ((y) ^ ((x) | ~(z)))
#define ST(f, a, b, c, d, g, i, s) (a) = (b) + rotl32((a) + f((b), (c), (d)) + M[g] + K[i], (s))

/* Compress @n blocks of @p into @h. */
static void md5_blocks(uint32_t h[4], const uint8_t *p, size_t n)
{
	for (; n; n--, p += 64) {
		uint32_t M[16];
		for (int i = 0; i < 16; i++)
			M[i] = le32(p + 4 * i);
		uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
		ST(F1, a, b, c, d, 0, 0, 7);   ST(F1, d, a, b, c, 1, 1, 12);
		ST(F1, c, d, a, b, 2, 2, 17);  ST(F1, b, c, d, a, 3, 3, 22);
		ST(F1, a, b, c, d, 4, 4, 7);   ST(F1, d, a, b, c, 5, 5, 12);
		ST(F1, c, d, a, b, 6, 6, 17);  ST(F1, b, c, d, a, 7, 7, 22);
		ST(F1, a, b, c, d, 8, 8, 7);   ST(F1, d, a, b, c, 9, 9, 12);
		ST(F1, c, d, a, b, 10, 10, 17); ST(F1, b, c, d, a, 11, 11, 22);
		ST(F1, a, b, c, d, 12, 12, 7); ST(F1, d, a, b, c, 13, 13, 12);
		ST(F1, c, d, a, b, 14, 14, 17); ST(F1, b, c, d, a, 15, 15, 22);

		ST(F2, a, b, c, d, 1, 16, 5);  ST(F2, d, a, b, c, 6, 17, 9);
		ST(F2, c, d, a, b, 11, 18, 14); ST(F2, b, c, d, a, 0, 19, 20);
		ST(F2, a, b, c, d, 5, 20, 5);  ST(F2, d, a, b, c, 10, 21, 9);
		ST(F2, c, d, a, b, 15, 22, 14); ST(F2, b, c, d, a, 4, 23, 20);
		ST(F2, a, b, c, d, 9, 24, 5);  ST(F2, d, a, b, c, 14, 25, 9);
		ST(F2, c, d, a, b, 3, 26, 14); ST(F2, b, c, d, a, 8, 27, 20);
		ST(F2, a, b, c, d, 13, 28, 5); ST(F2, d, a, b, c, 2, 29, 9);
		ST(F2, c, d, a, b, 7, 30, 14); ST(F2, b, c, d, a, 12, 31, 20);

		ST(F3, a, b, c, d, 5, 32, 4);  ST(F3, d, a, b, c, 8, 33, 11);
		ST(F3, c, d, a, b, 11, 34, 16); ST(F3, b, c, d, a, 14, 35, 23);
		ST(F3, a, b, c, d, 1, 36, 4);  ST(F3, d, a, b, c, 4, 37, 11);
		ST(F3, c, d, a, b, 7, 38, 16); ST(F3, b, c, d, a, 10, 39, 23);
		ST(F3, a, b, c, d, 13, 40, 4); ST(F3, d, a, b, c, 0, 41, 11);
		ST(F3, c, d, a, b, 3, 42, 16); ST(F3, b, c, d, a, 6, 43, 23);
		ST(F3, a, b, c, d, 9, 44, 4);  ST(F3, d, a, b, c, 12, 45, 11);
		ST(F3, c, d, a, b, 15, 46, 16); ST(F3, b, c, d, a, 2, 47, 23);

		ST(F4, a, b, c, d, 0, 48, 6);  ST(F4, d, a, b, c, 7, 49, 10);
		ST(F4, c, d, a, b, 14, 50, 15); ST(F4, b, c, d, a, 5, 51, 21);
		ST(F4, a, b, c, d, 12, 52, 6); ST(F4, d, a, b, c, 3, 53, 10);
		ST(F4, c, d, a, b, 10, 54, 15); ST(F4, b, c, d, a, 1, 55, 21);
		ST(F4, a, b, c, d, 8, 56, 6);  ST(F4, d, a, b, c, 15, 57, 10);
		ST(F4, c, d, a, b, 6, 58, 15); ST(F4, b, c, d, a, 13, 59, 21);
		ST(F4, a, b, c, d, 4, 60, 6);  ST(F4, d, a, b, c, 11, 61, 10);
		ST(F4, c, d, a, b, 2, 62, 15); ST(F4, b, c, d, a, 9, 63, 21);
		h[0] += a;
		h[1] += b;
		h[2] += c;
		h[3] += d;
	}
}

/* --- many streams: the SIMD kernels ------------------------------------ */

/* The 64 steps, written once for both widths: STEP(fn, a, b, c, d, g, i, s)
 * with fn the round (1..4), W[g] the message word vector. */
#define MD5_64_STEPS(STEP) \
	STEP(1, a, b, c, d, 0, 0, 7);   STEP(1, d, a, b, c, 1, 1, 12); \
	STEP(1, c, d, a, b, 2, 2, 17);  STEP(1, b, c, d, a, 3, 3, 22); \
	STEP(1, a, b, c, d, 4, 4, 7);   STEP(1, d, a, b, c, 5, 5, 12); \
	STEP(1, c, d, a, b, 6, 6, 17);  STEP(1, b, c, d, a, 7, 7, 22); \
	STEP(1, a, b, c, d, 8, 8, 7);   STEP(1, d, a, b, c, 9, 9, 12); \
	STEP(1, c, d, a, b, 10, 10, 17); STEP(1, b, c, d, a, 11, 11, 22); \
	STEP(1, a, b, c, d, 12, 12, 7); STEP(1, d, a, b, c, 13, 13, 12); \
	STEP(1, c, d, a, b, 14, 14, 17); STEP(1, b, c, d, a, 15, 15, 22); \
	STEP(2, a, b, c, d, 1, 16, 5);  STEP(2, d, a, b, c, 6, 17, 9); \
	STEP(2, c, d, a, b, 11, 18, 14); STEP(2, b, c, d, a, 0, 19, 20); \
	STEP(2, a, b, c, d, 5, 20, 5);  STEP(2, d, a, b, c, 10, 21, 9); \
	STEP(2, c, d, a, b, 15, 22, 14); STEP(2, b, c, d, a, 4, 23, 20); \
	STEP(2, a, b, c, d, 9, 24, 5);  STEP(2, d, a, b, c, 14, 25, 9); \
	STEP(2, c, d, a, b, 3, 26, 14); STEP(2, b, c, d, a, 8, 27, 20); \
	STEP(2, a, b, c, d, 13, 28, 5); STEP(2, d, a, b, c, 2, 29, 9); \
	STEP(2, c, d, a, b, 7, 30, 14); STEP(2, b, c, d, a, 12, 31, 20); \
	STEP(3, a, b, c, d, 5, 32, 4);  STEP(3, d, a, b, c, 8, 33, 11); \
	STEP(3, c, d, a, b, 11, 34, 16); STEP(3, b, c, d, a, 14, 35, 23); \
	STEP(3, a, b, c, d, 1, 36, 4);  STEP(3, d, a, b, c, 4, 37, 11); \
	STEP(3, c, d, a, b, 7, 38, 16); STEP(3, b, c, d, a, 10, 39, 23); \
	STEP(3, a, b, c, d, 13, 40, 4); STEP(3, d, a, b, c, 0, 41, 11); \
	STEP(3, c, d, a, b, 3, 42, 16); STEP(3, b, c, d, a, 6, 43, 23); \
	STEP(3, a, b, c, d, 9, 44, 4);  STEP(3, d, a, b, c, 12, 45, 11); \
	STEP(3, c, d, a, b, 15, 46, 16); STEP(3, b, c, d, a, 2, 47, 23); \
	STEP(4, a, b, c, d, 0, 48, 6);  STEP(4, d, a, b, c, 7, 49, 10); \
	STEP(4, c, d, a, b, 14, 50, 15); STEP(4, b, c, d, a, 5, 51, 21); \
	STEP(4, a, b, c, d, 12, 52, 6); STEP(4, d, a, b, c, 3, 53, 10); \
	STEP(4, c, d, a, b, 10, 54, 15); STEP(4, b, c, d, a, 1, 55, 21); \
	STEP(4, a, b, c, d, 8, 56, 6);  STEP(4, d, a, b, c, 15, 57, 10); \
	STEP(4, c, d, a, b, 6, 58, 15); STEP(4, b, c, d, a, 13, 59, 21); \
	STEP(4, a, b, c, d, 4, 60, 6);  STEP(4, d, a, b, c, 11, 61, 10); \
	STEP(4, c, d, a, b, 2, 62, 15); STEP(4, b, c, d, a, 9, 63, 21)

#ifdef S3_MD5_X86

/* Round functions as vpternlogd truth tables over (b, c, d):
 * F = (b & c) | (~b & d), G = (b & d) | (c & ~d), H = b ^ c ^ d,
 * I = c ^ (b | ~d). */
#define TL_1 0xca
#define TL_2 0xe4
#define TL_3 0x96
#define TL_4 0x39

#define STEP16(fn, a, b, c, d, g, i, s) \
	do { \
		a = _mm512_add_epi32(a, _mm512_add_epi32(W[g], _mm512_set1_epi32((int)K[i]))); \
		a = _mm512_add_epi32(a, _mm512_ternarylogic_epi32(b, c, d, TL_##fn)); \
		a = _mm512_add_epi32(_mm512_rol_epi32(a, s), b); \
	} while (0)

/* 16 streams, @n blocks each: h[j][lane] is state word j of stream
 * @lane, whose blocks start at p[lane] and advance by adv[lane] (64, or 0
 * for an idle lane reading zero_block). */
__attribute__((target("avx512f"))) static void md5_x16(uint32_t h[4][16],
                                                        const uint8_t *p[16],
                                                        const size_t adv[16], size_t n)
{
	__m512i A = _mm512_loadu_si512(h[0]), B = _mm512_loadu_si512(h[1]);
	__m512i C = _mm512_loadu_si512(h[2]), D = _mm512_loadu_si512(h[3]);
	for (; n; n--) {
		__m512i r[16], W[16];
		for (int i = 0; i < 16; i++) {
			r[i] = _mm512_loadu_si512(p[i]);
			p[i] += adv[i];
		}
		/* Transpose: W[w] lane i = word w of stream i. Per group of 4
		 * streams, 32- then 64-bit unpacks leave word 4q+m of the 4
		 * streams in 128-bit quarter q of u[g][m]; two 128-bit
		 * shuffles gather quarter q of the four groups. */
		__m512i u[4][4];
		for (int g = 0; g < 4; g++) {
			__m512i t0 = _mm512_unpacklo_epi32(r[4 * g], r[4 * g + 1]);
			__m512i t1 = _mm512_unpackhi_epi32(r[4 * g], r[4 * g + 1]);
			__m512i t2 = _mm512_unpacklo_epi32(r[4 * g + 2], r[4 * g + 3]);
			__m512i t3 = _mm512_unpackhi_epi32(r[4 * g + 2], r[4 * g + 3]);
			u[g][0] = _mm512_unpacklo_epi64(t0, t2);
			u[g][1] = _mm512_unpackhi_epi64(t0, t2);
			u[g][2] = _mm512_unpacklo_epi64(t1, t3);
			u[g][3] = _mm512_unpackhi_epi64(t1, t3);
		}
		for (int m = 0; m < 4; m++) {
			__m512i x01lo = _mm512_shuffle_i32x4(u[0][m], u[1][m], 0x88);
			__m512i x01hi = _mm512_shuffle_i32x4(u[0][m], u[1][m], 0xdd);
			__m512i x23lo = _mm512_shuffle_i32x4(u[2][m], u[3][m], 0x88);
			__m512i x23hi = _mm512_shuffle_i32x4(u[2][m], u[3][m], 0xdd);
			W[m] = _mm512_shuffle_i32x4(x01lo, x23lo, 0x88);
			W[8 + m] = _mm512_shuffle_i32x4(x01lo, x23lo, 0xdd);
			W[4 + m] = _mm512_shuffle_i32x4(x01hi, x23hi, 0x88);
			W[12 + m] = _mm512_shuffle_i32x4(x01hi, x23hi, 0xdd);
		}
		__m512i a = A, b = B, c = C, d = D;
		MD5_64_STEPS(STEP16);
		A = _mm512_add_epi32(A, a);
		B = _mm512_add_epi32(B, b);
		C = _mm512_add_epi32(C, c);
		D = _mm512_add_epi32(D, d);
	}
	_mm512_storeu_si512(h[0], A);
	_mm512_storeu_si512(h[1], B);
	_mm512_storeu_si512(h[2], C);
	_mm512_storeu_si512(h[3], D);
}

/* AVX2: no three-input logic and no rotate, so each round function is
 * two or three instructions and a rotate is two shifts and an or. */
#define F8_1(b, c, d) _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
#define F8_2(b, c, d) _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)))
#define F8_3(b, c, d) _mm256_xor_si256(_mm256_xor_si256(b, c), d)
#define F8_4(b, c, d) _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones)))
#define STEP8(fn, a, b, c, d, g, i, s) \
	do { \
		a = _mm256_add_epi32(a, _mm256_add_epi32(W[g], _mm256_set1_epi32((int)K[i]))); \
		a = _mm256_add_epi32(a, F8_##fn(b, c, d)); \
		a = _mm256_add_epi32(_mm256_or_si256(_mm256_slli_epi32(a, s), \
		                                     _mm256_srli_epi32(a, 32 - (s))), b); \
	} while (0)

/* 8 streams, as md5_x16. */
__attribute__((target("avx2"))) static void md5_x8(uint32_t h[4][16], const uint8_t *p[16],
                                                   const size_t adv[16], size_t n)
{
	const __m256i ones = _mm256_set1_epi32(-1);
	__m256i A = _mm256_loadu_si256((const __m256i *)h[0]);
	__m256i B = _mm256_loadu_si256((const __m256i *)h[1]);
	__m256i C = _mm256_loadu_si256((const __m256i *)h[2]);
	__m256i D = _mm256_loadu_si256((const __m256i *)h[3]);
	for (; n; n--) {
		__m256i W[16];
		/* Two 8x8 transposes: words 0-7 and 8-15 of the 8 streams. */
		for (int half = 0; half < 2; half++) {
			__m256i r[8], t[8], u[8];
			for (int i = 0; i < 8; i++)
				r[i] = _mm256_loadu_si256((const __m256i *)(p[i] + 32 * half));
			for (int i = 0; i < 8; i += 2) {
				t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
				t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
			}
			for (int g = 0; g < 8; g += 4) {
				u[g] = _mm256_unpacklo_epi64(t[g], t[g + 2]);
				u[g + 1] = _mm256_unpackhi_epi64(t[g], t[g + 2]);
				u[g + 2] = _mm256_unpacklo_epi64(t[g + 1], t[g + 3]);
				u[g + 3] = _mm256_unpackhi_epi64(t[g + 1], t[g + 3]);
			}
			for (int m = 0; m < 4; m++) {
				W[8 * half + m] = _mm256_permute2x128_si256(u[m], u[m + 4], 0x20);
				W[8 * half + 4 + m] = _mm256_permute2x128_si256(u[m], u[m + 4], 0x31);
			}
		}
		for (int i = 0; i < 8; i++)
			p[i] += adv[i];
		__m256i a = A, b = B, c = C, d = D;
		MD5_64_STEPS(STEP8);
		A = _mm256_add_epi32(A, a);
		B = _mm256_add_epi32(B, b);
		C = _mm256_add_epi32(C, c);
		D = _mm256_add_epi32(D, d);
	}
	_mm256_storeu_si256((__m256i *)h[0], A);
	_mm256_storeu_si256((__m256i *)h[1], B);
	_mm256_storeu_si256((__m256i *)h[2], C);
	_mm256_storeu_si256((__m256i *)h[3], D);
}

int s3_md5_cpu_lanes(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return 16;
	if (__builtin_cpu_supports("avx2"))
		return 8;
	return 1;
}

#else

int s3_md5_cpu_lanes(void)
{
	return 1;
}

#endif

void s3_md5_blocks_multi(int lanes, uint32_t (*h)[4], const uint8_t *const *p, int k,
                         size_t nblocks)
{
	NORN_ASSERT(k >= 0 && k <= lanes && lanes <= s3_md5_cpu_lanes());
#ifdef S3_MD5_X86
	if (lanes == 16 || lanes == 8) {
		uint32_t st[4][16];
		const uint8_t *ptr[16];
		size_t adv[16];
		for (int i = 0; i < 16; i++) {
			for (int j = 0; j < 4; j++)
				st[j][i] = i < k ? h[i][j] : 0;
			ptr[i] = i < k ? p[i] : zero_block;
			adv[i] = i < k ? 64 : 0;
		}
		if (lanes == 16)
			md5_x16(st, ptr, adv, nblocks);
		else
			md5_x8(st, ptr, adv, nblocks);
		for (int i = 0; i < k; i++)
			for (int j = 0; j < 4; j++)
				h[i][j] = st[j][i];
		return;
	}
#endif
	for (int i = 0; i < k; i++)
		md5_blocks(h[i], p[i], nblocks);
}

/* --- streams ------------------------------------------------------------ */

void s3_md5_init(struct s3_md5 *m)
{
	memset(m, 0, sizeof(*m));
	m->h[0] = 0x67452301;
	m->h[1] = 0xefcdab89;
	m->h[2] = 0x98badcfe;
	m->h[3] = 0x10325476;
}

/* Feed bytes that are not pending: first complete the tail block, then
 * whole blocks straight from @p, then keep the rest in the tail. */
static void feed(struct s3_md5 *m, const uint8_t *p, size_t n)
{
	if (m->tail_len) {
		size_t take = 64 - m->tail_len < n ? 64 - m->tail_len : n;
		memcpy(m->tail + m->tail_len, p, take);
		m->tail_len += (uint32_t)take;
		p += take;
		n -= take;
		if (m->tail_len < 64)
			return;
		md5_blocks(m->h, m->tail, 1);
		m->tail_len = 0;
	}
	if (n >= 64) {
		md5_blocks(m->h, p, n / 64);
		p += n / 64 * 64;
		n %= 64;
	}
	memcpy(m->tail, p, n);
	m->tail_len = (uint32_t)n;
}

void s3_md5_update(struct s3_md5 *m, const void *p, size_t n)
{
	NORN_ASSERT(!m->sched && !m->nseg);
	if (!n)
		return;
	m->total += n;
	feed(m, p, n);
}

void s3_md5_final(struct s3_md5 *m, uint8_t out[16])
{
	NORN_ASSERT(!m->sched && !m->nseg && m->tail_len < 64);
	uint64_t bits = m->total * 8;
	uint8_t pad[128];
	size_t padlen = m->tail_len < 56 ? 64 - m->tail_len : 128 - m->tail_len;
	memset(pad, 0, sizeof(pad));
	pad[0] = 0x80;
	for (int i = 0; i < 8; i++)
		pad[padlen - 8 + (size_t)i] = (uint8_t)(bits >> (8 * i));
	feed(m, pad, padlen);
	NORN_ASSERT(m->tail_len == 0);
	for (int i = 0; i < 4; i++) {
		out[4 * i] = (uint8_t)m->h[i];
		out[4 * i + 1] = (uint8_t)(m->h[i] >> 8);
		out[4 * i + 2] = (uint8_t)(m->h[i] >> 16);
		out[4 * i + 3] = (uint8_t)(m->h[i] >> 24);
	}
}

/* --- the scheduler ------------------------------------------------------ */

void s3_md5_sched_init(struct s3_md5_sched *s, int max_lanes, s3_md5_seg_done_fn seg_done)
{
	memset(s, 0, sizeof(*s));
	int cpu = s3_md5_cpu_lanes();
	s->lanes = max_lanes <= 0 ? cpu : max_lanes >= 16 ? 16 : max_lanes >= 8 ? 8 : 1;
	if (s->lanes > cpu)
		s->lanes = cpu;
	s->seg_done = seg_done;
}

static void link_stream(struct s3_md5_sched *s, struct s3_md5 *m)
{
	NORN_ASSERT(!m->sched);
	m->sched = s;
	m->prev = NULL;
	m->next = s->head;
	if (s->head)
		s->head->prev = m;
	s->head = m;
	s->nstreams++;
}

static void unlink_stream(struct s3_md5 *m)
{
	struct s3_md5_sched *s = m->sched;
	NORN_ASSERT(s && s->nstreams > 0 && m->nseg == 0);
	if (m->prev)
		m->prev->next = m->next;
	else
		s->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	m->prev = m->next = NULL;
	m->sched = NULL;
	s->nstreams--;
}

static struct s3_md5_seg *head_seg(struct s3_md5 *m)
{
	NORN_ASSERT(m->nseg > 0);
	return &m->seg[m->seg_head];
}

/* Drop the (used up) head segment and tell its owner. */
static void pop_seg(struct s3_md5 *m)
{
	struct s3_md5_seg *g = head_seg(m);
	void *tag = g->tag;
	NORN_ASSERT(m->pend_bytes >= g->len && m->sched->pend_bytes >= g->len);
	m->pend_bytes -= g->len;
	m->sched->pend_bytes -= g->len;
	g->p = NULL;
	g->len = 0;
	g->tag = NULL;
	m->seg_head = (m->seg_head + 1) % S3_MD5_SEGS;
	m->nseg--;
	if (m->sched->seg_done)
		m->sched->seg_done(tag);
}

/* Advance the head segment by @n hashed bytes. */
static void consume(struct s3_md5 *m, size_t n)
{
	struct s3_md5_seg *g = head_seg(m);
	NORN_ASSERT(n <= g->len);
	g->p += n;
	g->len -= n;
	m->pend_bytes -= n;
	m->sched->pend_bytes -= n;
	if (g->len == 0)
		pop_seg(m);
}

/* Make the head segment hold a whole block, or be the only segment: a
 * block that straddles segments is gathered and hashed here (scalar).
 * Needs at least one block pending, so every segment it releases is
 * fully hashed. Returns the whole blocks the head segment then offers. */
static size_t head_blocks(struct s3_md5 *m)
{
	if (m->pend_bytes < 64)
		return 0;
	while (head_seg(m)->len < 64 && m->nseg > 1) {
		uint8_t blk[64];
		size_t k = 0;
		while (k < 64) {
			struct s3_md5_seg *g = head_seg(m);
			size_t take = 64 - k < g->len ? 64 - k : g->len;
			memcpy(blk + k, g->p, take);
			k += take;
			consume(m, take);
		}
		md5_blocks(m->h, blk, 1);
		if (m->sched)
			m->sched->scalar_blocks++;
		if (m->pend_bytes < 64)
			return 0;
	}
	return head_seg(m)->len / 64;
}

static void drain_to(struct s3_md5 *m, uint64_t keep, int min_busy);

void s3_md5_defer(struct s3_md5_sched *s, struct s3_md5 *m, const void *p, size_t n, void *tag)
{
	const uint8_t *c = p;
	NORN_ASSERT(!m->sched || m->sched == s);
	if (m->nseg == S3_MD5_SEGS)
		drain_to(m, 0, 0);
	m->total += n;
	if (!m->nseg && m->tail_len) {
		/* Pending bytes always start on a block boundary of the
		 * stream: complete the tail block now. */
		size_t take = 64 - m->tail_len < n ? 64 - m->tail_len : n;
		feed(m, c, take);
		c += take;
		n -= take;
	}
	if (!n) {
		if (s->seg_done)
			s->seg_done(tag);
		return;
	}
	if (!m->nseg)
		link_stream(s, m);
	NORN_ASSERT(m->nseg < S3_MD5_SEGS && m->tail_len == 0);
	struct s3_md5_seg *g = &m->seg[(m->seg_head + m->nseg) % S3_MD5_SEGS];
	g->p = c;
	g->len = n;
	g->tag = tag;
	m->nseg++;
	m->pend_bytes += n;
	s->pend_bytes += n;
}

/* Fill @lane/@lb with up to s->lanes streams offering the most blocks
 * in their head segments, @first (if not NULL) always in lane 0. Returns
 * how many. Streams found empty on the way leave the list. */
static int pick_lanes(struct s3_md5_sched *s, struct s3_md5 *first, struct s3_md5 *lane[16],
                      size_t lb[16])
{
	int k = 0, fixed = 0;
	if (first) {
		lane[0] = first;
		lb[0] = head_blocks(first);
		k = fixed = 1;
	}
	if (s->lanes == 1)
		return k;
	struct s3_md5 *next;
	for (struct s3_md5 *o = s->head; o; o = next) {
		next = o->next;
		if (o == first)
			continue;
		size_t ob = head_blocks(o);
		if (!o->nseg)
			unlink_stream(o);   /* a straddling block was all it had */
		if (!ob)
			continue;
		/* insertion into the short list sorted by blocks, descending */
		int at = k;
		while (at > fixed && lb[at - 1] < ob)
			at--;
		if (at >= s->lanes)
			continue;
		int last = k < s->lanes ? k : s->lanes - 1;
		for (int j = last; j > at; j--) {
			lane[j] = lane[j - 1];
			lb[j] = lb[j - 1];
		}
		lane[at] = o;
		lb[at] = ob;
		if (k < s->lanes)
			k++;
	}
	return k;
}

/* One SIMD pass over the @k picked streams for the smallest count they
 * offer. Streams left with nothing (but @keep_linked) leave the list. */
static void run_pass(struct s3_md5_sched *s, struct s3_md5 *lane[16], const size_t lb[16], int k,
                     struct s3_md5 *keep_linked)
{
	size_t nb = lb[0];
	for (int i = 1; i < k; i++)
		if (lb[i] < nb)
			nb = lb[i];
	NORN_ASSERT(nb > 0 && k >= 1 && k <= s->lanes);
	uint32_t st[16][4];
	const uint8_t *ptr[16];
	for (int i = 0; i < k; i++) {
		memcpy(st[i], lane[i]->h, sizeof(st[i]));
		ptr[i] = head_seg(lane[i])->p;
	}
	s3_md5_blocks_multi(s->lanes, st, ptr, k, nb);
	for (int i = 0; i < k; i++) {
		memcpy(lane[i]->h, st[i], sizeof(st[i]));
		consume(lane[i], nb * 64);
		if (lane[i] != keep_linked && lane[i]->nseg == 0)
			unlink_stream(lane[i]);
	}
	s->passes_by_lanes[k]++;
	s->simd_blocks += nb * (uint64_t)k;
	s->simd_slots += nb * (uint64_t)s->lanes;
}

static int min_lanes_of(const struct s3_md5_sched *s)
{
	return s->lanes == 16 ? MIN_LANES_X16 : MIN_LANES_X8;
}

/* Drain: hash @m's pending bytes down to @keep, and use the occasion.
 *
 * A SIMD pass advances every lane by the same number of blocks, so it is
 * worth running only while several streams have pending blocks. Each
 * pass takes @m plus the streams whose head segments offer the most
 * blocks (up to the lane count) and runs for the smallest count among
 * them; a segment used up is released, and the next pass refills the
 * lanes. Passes go on past @keep while at least half the lanes are busy
 * (cheap hashing now is hashing nobody must do alone later). When fewer
 * than @min_busy (at least MIN_LANES_*) streams have pending blocks, @m
 * alone is hashed by the scalar code down to @keep: an idle lane costs as
 * much as a busy one, and taking a few other streams' blocks along in a
 * thin pass would only spend them where a fuller pass could later.
 * Every pass uses up at least one head segment, so a drain makes at most
 * (segments pending in the scheduler) passes. With @keep 0 the last bytes
 * (less than a block) move to the tail and @m has no segments left. */
static void drain_to(struct s3_md5 *m, uint64_t keep, int min_busy)
{
	struct s3_md5_sched *s = m->sched;
	if (!s)
		return;
	if (min_busy < min_lanes_of(s))
		min_busy = min_lanes_of(s);
	size_t max_passes = (s->nstreams + 1) * (S3_MD5_SEGS + 1) * 2;
	for (size_t guard = 0;; guard++) {
		NORN_ASSERT(guard <= max_passes);
		if (!head_blocks(m))
			break;
		int must = m->pend_bytes > keep;
		struct s3_md5 *lane[16];
		size_t lb[16];
		int k = s->nstreams >= (size_t)min_busy ? pick_lanes(s, m, lane, lb) : 1;
		if (k < min_busy || s->lanes == 1) {
			if (!must)
				break;
			/* Alone: only what must be hashed now. */
			size_t mb = head_blocks(m);
			uint64_t need = (m->pend_bytes - keep + 63) / 64;
			size_t nb = need < mb ? (size_t)need : mb;
			md5_blocks(m->h, head_seg(m)->p, nb);
			consume(m, nb * 64);
			s->scalar_blocks += nb;
			continue;
		}
		if (!must && k < s->lanes / 2)
			break;
		run_pass(s, lane, lb, k, m);
	}
	if (keep) {
		if (!m->nseg)
			unlink_stream(m);
		return;
	}
	/* Less than a block left (in one or more segments): the tail. */
	NORN_ASSERT(m->pend_bytes < 64 && m->tail_len == 0);
	while (m->nseg) {
		struct s3_md5_seg *g = head_seg(m);
		memcpy(m->tail + m->tail_len, g->p, g->len);
		m->tail_len += (uint32_t)g->len;
		consume(m, g->len);
	}
	unlink_stream(m);
}

void s3_md5_sweep(struct s3_md5_sched *s, int min_busy)
{
	if (s->lanes == 1)
		return;
	if (min_busy < min_lanes_of(s))
		min_busy = min_lanes_of(s);
	if (min_busy > s->lanes)
		min_busy = s->lanes;
	size_t max_passes = (s->nstreams + 1) * (S3_MD5_SEGS + 1) * 2;
	for (size_t guard = 0; s->nstreams >= (size_t)min_busy; guard++) {
		NORN_ASSERT(guard <= max_passes);
		struct s3_md5 *lane[16];
		size_t lb[16];
		int k = pick_lanes(s, NULL, lane, lb);
		if (k < min_busy)
			break;
		run_pass(s, lane, lb, k, NULL);
	}
}

void s3_md5_drain(struct s3_md5 *m, int min_busy)
{
	drain_to(m, 0, min_busy);
}

void s3_md5_drain_to(struct s3_md5 *m, uint64_t keep, int min_busy)
{
	drain_to(m, keep, min_busy);
}

void s3_md5_cancel(struct s3_md5 *m)
{
	if (!m->sched)
		return;
	while (m->nseg)
		pop_seg(m);
	unlink_stream(m);
}
