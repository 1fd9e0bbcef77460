/* Always-on assertions for broken invariants (programmer errors).
 *
 * NORN_ASSERT stays in release builds: a storage daemon that continues
 * past a broken invariant can corrupt data, so it logs where and aborts.
 * Bytes from disk or the network must never reach an assertion: validate
 * them and return NORN_ECORRUPT instead. NORN_VERIFY is the expensive tier,
 * compiled only into debug, sanitizer, fuzz and simulator builds.
 */
#ifndef NORN_ASSERT_H
#define NORN_ASSERT_H

#include <stddef.h>
#include <stdnoreturn.h>

noreturn void norn__assert_fail(const char *expr, const char *file, int line,
                                const char *func);

#define NORN_ASSERT(cond) \
	((cond) ? (void)0 : norn__assert_fail(#cond, __FILE__, __LINE__, __func__))

#if !defined(NDEBUG) || defined(NORN_SANITIZE) || defined(NORN_FUZZING) || defined(NORN_SIM)
#define NORN_VERIFY(cond) NORN_ASSERT(cond)
#else
#define NORN_VERIFY(cond) ((void)0)
#endif

#define NORN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NORN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define NORN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define NORN_CONTAINER_OF(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#endif
