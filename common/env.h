/* Seams around non-determinism: time and randomness.
 *
 * Daemons use norn_clock_system() and norn_rand_seed_entropy(); the
 * simulator plugs in a fake clock that only moves when the simulation says
 * so and a seeded generator, so a whole cluster replays from one seed.
 * Security nonces never come from struct norn_rand: they use
 * norn_random_bytes() (OpenSSL's CSPRNG).
 */
#ifndef NORN_ENV_H
#define NORN_ENV_H
#include <stddef.h>
#include <stdint.h>

struct norn_clock {
	/* Monotonic nanoseconds (timeouts, intervals). */
	uint64_t (*mono_ns)(void *ctx);
	/* Wall-clock nanoseconds since the Unix epoch (timestamps, tickets). */
	uint64_t (*real_ns)(void *ctx);
	void *ctx;
};

/* The real clock (CLOCK_MONOTONIC / CLOCK_REALTIME). Static storage. */
const struct norn_clock *norn_clock_system(void);
static inline uint64_t norn_now_mono_ns(const struct norn_clock *c) { return c->mono_ns(c->ctx); }
static inline uint64_t norn_now_real_ns(const struct norn_clock *c) { return c->real_ns(c->ctx); }
uint64_t norn_mono_ns(void);   /* shortcut for the system clock */
uint64_t norn_real_ns(void);

/* Deterministic pseudo-random generator (xoshiro256**). Not for secrets. */
struct norn_rand { uint64_t s[4]; };
void norn_rand_seed(struct norn_rand *r, uint64_t seed);
void norn_rand_seed_entropy(struct norn_rand *r);
uint64_t norn_rand_u64(struct norn_rand *r);
/* Uniform in [0, n); n > 0. */
uint64_t norn_rand_below(struct norn_rand *r, uint64_t n);

/* Cryptographically secure random bytes. Returns 0 or NORN_EFAILED. */
int norn_random_bytes(void *buf, size_t n);

#endif
