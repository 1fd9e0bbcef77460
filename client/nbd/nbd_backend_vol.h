/* The volume backend of norn-nbd: exports are Norn volumes (client/vol).
 *
 * Export names are "POOL/VOLUME" (read-write; opening it takes the
 * volume's exclusive lock, renewed every lease/3 while the export is
 * open, released when the last connection using it goes) and
 * "POOL/VOLUME@SNAP" (read-only, no lock). NBD_OPT_LIST lists the volumes
 * of the configured pools.
 *
 * Data ops go straight to the asynchronous volume path (vol_aio_*): a
 * request is split at object boundaries into parallel libnorn ops and
 * completes when all of them did. libnorn runs completions on its own I/O
 * thread; this backend hands them to the server's loop through a
 * uv_async_t and a mutex-protected queue, so the server's callbacks always
 * run on its loop, after the op call returned.
 *
 * Durability: libnorn acknowledges a write only when every replica
 * committed it, so a completed write is already durable. FLUSH therefore
 * has nothing to wait for (it is answered on the next loop turn) and FUA
 * needs no extra step. That also makes NBD multi-conn safe: a flush on any
 * connection covers every completed write of every connection.
 * TRIM and WRITE_ZEROES both make the range read as zeros (whole objects
 * removed, partial ones truncated or zeroed); NBD's "no hole" hint is not
 * honoured, since a thin volume reads zeros from holes anyway.
 *
 * Management ops (list, open, close, lock renewal) use synchronous libnorn
 * calls, so they run on libuv's thread pool, never on the loop.
 *
 * If the lock is lost (renewal finds it broken or taken over), the device
 * fails: every later write, trim and flush returns -EIO, reads still work.
 */
#ifndef NORN_NBD_BACKEND_VOL_H
#define NORN_NBD_BACKEND_VOL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "client/nbd/nbd_backend.h"
#include "norn/norn.h"

#define NBD_VOL_MAX_POOLS 32

struct nbd_vol_backend_config {
	norn_cluster_t *cluster;   /* connected; owned by the caller, outlives the backend */
	const char *lock_owner;    /* who we are in the lock ("norn-nbd@host/addr"); copied */
	uint64_t lease_ms;         /* lock lease; renewed every lease_ms / 3 */
	const char *list_pools;    /* comma-separated pools for NBD_OPT_LIST; copied */
	bool read_only;            /* export everything read-only (no locks) */
};

extern const struct nbd_backend_ops nbd_backend_vol_ops;

/* Create a volume backend whose completions run on @loop. Returns 0 and
 * *backend_out (free with nbd_backend_vol_ops.destroy after every device
 * is closed; it closes a libuv handle, so run the loop afterwards),
 * -EINVAL (no cluster, lease under 300 ms, bad owner) or -ENOMEM. */
int nbd_backend_vol_create(uv_loop_t *loop, const struct nbd_vol_backend_config *cfg,
                           void **backend_out);

#endif
