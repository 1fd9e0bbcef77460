/* Controls of the in-memory libnorn used by the volume unit tests (see
 * fake_norn.c). */
#ifndef NORN_TESTS_FAKE_NORN_H
#define NORN_TESTS_FAKE_NORN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "norn/norn.h"

/* A pool handle to pass to the API (the fake has one pool). */
norn_ioctx_t *fake_norn_ioctx(void);
/* Drop every object, clear injected faults, resume the workers. */
void fake_norn_reset(void);
/* Hold (true) or release async ops: held ops wait, like I/O to an OSD that
 * is restarting. */
void fake_norn_pause(bool paused);
/* Make the next @n object ops (sync or async) fail with @err. */
void fake_norn_fail_next(unsigned n, int err);
/* Objects whose name starts with @prefix, and their total size. */
size_t fake_norn_count_prefix(const char *prefix, uint64_t *bytes);
bool fake_norn_exists(const char *oid);
#endif
