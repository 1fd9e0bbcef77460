/* Inside client/vol: the image struct and helpers shared by vol.c,
 * vol_io.c and vol_copy.c. Not for other modules. */
#ifndef NORN_VOL_INT_H
#define NORN_VOL_INT_H

#include "client/vol/vol.h"
#include "common/encode.h"
#include "common/env.h"

struct vol_image {
	norn_ioctx_t *io;           /* management: header, locks (no snap context) */
	norn_ioctx_t *dio;          /* data objects: the volume's snap context, or
	                             * the open snapshot as read_snap */
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
/* The header of volume @id: read, and write as gen + 1 guarded by gen
 * (-ECANCELED when it changed meanwhile). */
int vol__header_read(norn_ioctx_t *io, const char *id, struct vol_info *h);
int vol__header_write(norn_ioctx_t *io, struct vol_info *h);
/* vol_snap.c: put the header's snapshots into img->dio (the write snap
 * context, or read_snap for a snapshot image). */
int vol__apply_snapc(struct vol_image *img);
/* Remove every clone of every data object of volume @h (before removing
 * the volume). */
int vol__trim_all(norn_ioctx_t *io, const struct vol_info *h);

#endif
