/* Internal to crush/: the inline hash and logarithm used on the mapping
 * path, and helpers shared by the builder, codec and text modules. Nothing
 * outside crush/ includes this file. */
#ifndef NORN_CRUSH_INT_H
#define NORN_CRUSH_INT_H
#include <stdint.h>
#include "crush/crush.h"
#include "crush/ln_table.h"

#ifndef __SIZEOF_INT128__
#error "crush needs a compiler with unsigned __int128 (gcc/clang on a 64-bit target)"
#endif
typedef unsigned __int128 crush__u128;

/* Seeds of the hash family; part of CRUSH_BEHAVIOR_V1, never change. */
#define CRUSH__HASH_SEED2 0x4e4f524eu /* "NORN" */
#define CRUSH__HASH_SEED3 0x43525553u /* "CRUS" */

static inline uint32_t crush__rotl32(uint32_t v, int r)
{
	return (v << r) | (v >> (32 - r));
}

/* One 32-bit block of a murmur3-style hash: scramble the word, fold it into
 * the state, stir the state. */
static inline uint32_t crush__mix(uint32_t h, uint32_t k)
{
	k *= 0xcc9e2d51u;
	k = crush__rotl32(k, 15);
	k *= 0x1b873593u;
	h ^= k;
	h = crush__rotl32(h, 13);
	return h * 5u + 0xe6546b64u;
}

/* Final avalanche: every input bit affects every output bit. */
static inline uint32_t crush__fmix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static inline uint32_t crush__hash2(uint32_t a, uint32_t b)
{
	return crush__fmix(crush__mix(crush__mix(CRUSH__HASH_SEED2, a), b) ^ 8u);
}

static inline uint32_t crush__hash3(uint32_t a, uint32_t b, uint32_t c)
{
	return crush__fmix(crush__mix(crush__mix(crush__mix(CRUSH__HASH_SEED3, a), b), c) ^ 12u);
}

/* -log2((u + 1) / 2^32) in Q58. v = u + 1 = 2^e * m with m in [1, 2), so
 * the answer is (32 - e) - log2(m). log2(m) is found by dividing m by two
 * table reciprocals, leaving m2 = 1 + d with d < 2^-16, whose log is the
 * two-term series (d - d^2/2) / ln 2 (error below d^3 / 3 < 2^-49); the
 * logs of the reciprocals come from the tables. All of it is integer
 * arithmetic, so every machine gets the same bits. */
static inline uint64_t crush__neglog2(uint32_t u)
{
	uint64_t v = (uint64_t)u + 1;
	if (v == (1ull << 32))
		return 0;
	int e = 63 - __builtin_clzll(v);            /* 0 .. 31 */
	uint64_t n = v << (63 - e);                 /* leading one at bit 63 */
	uint64_t m = n >> 1;                        /* Q62, [1, 2) */
	unsigned i = (unsigned)(n >> 55) & 0xffu;   /* next 8 bits after the one */
	uint64_t m1 = (uint64_t)(((crush__u128)m * crush_ln_r1[i]) >> 62);
	uint64_t f1 = m1 - (1ull << 62);            /* < 2^54 (and a hair) */
	unsigned j = (unsigned)(f1 >> 46);
	if (j > 255)
		j = 255;
	uint64_t m2 = (uint64_t)(((crush__u128)m1 * crush_ln_r2[j]) >> 62);
	uint64_t d = m2 - (1ull << 62);             /* < 2^47 */
	uint64_t half_d2 = (uint64_t)(((crush__u128)d * d) >> 63);
	uint64_t series = (uint64_t)(((crush__u128)(d - half_d2) * CRUSH_LOG2E_Q62) >> 62);
	uint64_t lg = crush_ln_l1[i] + crush_ln_l2[j] + series; /* log2(m) in Q62 */
	return ((uint64_t)(32 - e) << 58) - (lg >> 4);
}

/* A cheap lower bound of crush__neglog2(u), from the exponent and the
 * first table only: with m in [1 + i/256, 1 + (i+1)/256), log2(m) is below
 * L1[i+1] (log2(2) = 1 for i = 255) plus a margin for the table's rounding.
 * The mapper uses it to reject a straw that cannot win before paying for
 * the exact logarithm; it never changes which straw wins. */
static inline uint64_t crush__neglog2_lower(uint32_t u)
{
	uint64_t v = (uint64_t)u + 1;
	if (v == (1ull << 32))
		return 0;
	int e = 63 - __builtin_clzll(v);
	unsigned i = (unsigned)((v << (63 - e)) >> 55) & 0xffu;
	uint64_t hi = i < 255 ? crush_ln_l1[i + 1] + (1ull << 12) : (1ull << 62);
	uint64_t whole = (uint64_t)(32 - e) << 58, frac = (hi >> 4) + 1;
	return whole > frac ? whole - frac : 0;
}

/* 1/weight as a 64-bit fraction, so a straw is one multiply, not a divide. */
static inline uint64_t crush__inv_weight(uint32_t w)
{
	return w ? UINT64_MAX / w : 0;
}

/* Shared helpers (builder.c). */
int crush__valid_name(const char *name);
int crush__name_index_rebuild(struct crush_map *map);
/* Recompute derived state after the arrays were filled directly. */
int crush__check_rule_steps(const struct crush_map *map, const struct crush_rule_step *steps,
                            unsigned nsteps);

#endif
