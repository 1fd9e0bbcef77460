/* Inside client/vol: the image struct and helpers shared by vol.c,
 * vol_io.c and vol_copy.c. Not for other modules. */
#ifndef NORN_VOL_INT_H
#define NORN_VOL_INT_H

#include "client/vol/vol.h"
#include "common/encode.h"
#include "common/env.h"

struct vol_image {
	norn_ioctx_t *io;
	const struct norn_clock *clock;
	char hdr_oid[64];
	struct vol_info info;       /* header as of open/refresh */
	uint64_t size_bytes;        /* of the head, or of the open snapshot */
	uint64_t snap_id;           /* 0: the head */
	bool read_only;
	int failed;                 /* atomic: writes refused (lock lost) */
	/* the lock as this image last wrote it */
	bool lock_held;
	char lock_owner[VOL_LOCK_OWNER_MAX + 1];
	void *lock_val;
	size_t lock_val_len;
};

void vol__header_oid(const char *id, char *out, size_t cap);
void vol__header_encode(struct enc *e, const struct vol_info *h);
/* Decode a header object's bytes. Returns 0, NORN_ECORRUPT (names the
 * problem in the log) or NORN_EVERSION. Exposed for the fuzzer. */
int vol__header_decode(struct vol_info *h, const void *buf, size_t len);

#endif
