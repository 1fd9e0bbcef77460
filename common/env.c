/* The system clock, a seeded PRNG, and CSPRNG bytes. */
#include <time.h>
#include <openssl/rand.h>
#include <sys/random.h>
#include "common/env.h"
#include "common/assert.h"
#include "norn/errors.h"

static uint64_t sys_mono(void *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t sys_real(void *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const struct norn_clock system_clock = { sys_mono, sys_real, NULL };

const struct norn_clock *norn_clock_system(void) { return &system_clock; }
uint64_t norn_mono_ns(void) { return sys_mono(NULL); }
uint64_t norn_real_ns(void) { return sys_real(NULL); }

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void norn_rand_seed(struct norn_rand *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

void norn_rand_seed_entropy(struct norn_rand *r)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = sys_mono(NULL) ^ sys_real(NULL);
	norn_rand_seed(r, seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t norn_rand_u64(struct norn_rand *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t norn_rand_below(struct norn_rand *r, uint64_t n)
{
	NORN_ASSERT(n > 0);
	/* Rejection sampling removes modulo bias. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t v;
	do
		v = norn_rand_u64(r);
	while (v >= limit);
	return v % n;
}

int norn_random_bytes(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : NORN_EFAILED;
}
