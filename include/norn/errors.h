/* Norn error codes.
 *
 * Every Norn function that can fail returns int: 0 on success, a negative
 * errno value (-ENOMEM, -EIO, ...) or one of the negative NORN_E* codes
 * below. The NORN_E* codes live in a reserved range below -1000 so they
 * never collide with errno values; norn_strerror() describes both kinds.
 */
#ifndef NORN_ERRORS_H
#define NORN_ERRORS_H

#define NORN_EBASE      (-1000)
#define NORN_ECORRUPT   (-1001) /* bytes from disk or network failed validation */
#define NORN_EVERSION   (-1002) /* unknown or unsupported format/protocol version */
#define NORN_ECRC       (-1003) /* checksum mismatch */
#define NORN_EAUTH      (-1004) /* authentication failed */
#define NORN_ENOQUORUM  (-1005) /* monitors have no quorum */
#define NORN_ESTALE     (-1006) /* sender's map is older than ours; refresh */
#define NORN_EFAILED    (-1007) /* the store or daemon failed and stopped serving */
#define NORN_ENOTLEADER (-1008) /* request sent to a mon that is not the leader */
#define NORN_ENOSPC     (-1009) /* the store or pool is full */
#define NORN_EPERM      (-1010) /* capabilities do not allow this operation */
#define NORN_EAGAIN     (-1011) /* try again later (e.g. PG below min_size, peering) */
#define NORN_ELAST      (-1011)

/* Returns a static, human readable description of a Norn error code or a
 * negative errno. Never returns NULL. Thread-safe. */
const char *norn_strerror(int err);

#endif
