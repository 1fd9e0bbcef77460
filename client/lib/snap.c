/* libnorn: self-managed snapshot ids and rollback (see norn.h).
 *
 * Snapshot ids come from a per-pool counter object NORN_SNAP_SEQ_OID whose
 * xattr "seq" holds the last id handed out (8 bytes little-endian). A new
 * id is taken with a compare-and-swap write op (cmpxattr on the value read,
 * setxattr to value + 1) retried on -ECANCELED, so ids are unique and
 * increasing per pool however many clients allocate at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/client_int.h"
#include "common/encode.h"
#include "norn/norn.h"

#define SNAP_SEQ_XATTR "seq"
#define SNAP_ALLOC_TRIES 100

int norn_ioctx_selfmanaged_snap_create(norn_ioctx_t *io, uint64_t *snapid)
{
	int rc;

	if (!io || !snapid)
		return -EINVAL;
	/* make sure the counter object exists (not exclusive: idempotent) */
	norn_write_op_t *w = norn_write_op_create();
	if (!w)
		return -ENOMEM;
	norn_write_op_create_obj(w, 0);
	rc = norn_write_op_operate(w, io, NORN_SNAP_SEQ_OID);
	norn_write_op_release(w);
	if (rc)
		return rc;
	for (int i = 0; i < SNAP_ALLOC_TRIES; i++) {
		void *v = NULL;
		ssize_t n = norn_getxattr(io, NORN_SNAP_SEQ_OID, SNAP_SEQ_XATTR, &v);
		uint64_t cur = 0;
		uint8_t nb[8];
		if (n == -ENODATA || n == -ENOENT) {
			n = 0;
		} else if (n < 0) {
			return (int)n;
		} else if (n != 8) {
			free(v);
			return NORN_ECORRUPT;
		}
		if (n == 8)
			cur = norn_get_le64(v);
		norn_put_le64(nb, cur + 1);
		w = norn_write_op_create();
		if (!w) {
			free(v);
			return -ENOMEM;
		}
		/* a missing xattr compares equal to the empty value */
		norn_write_op_cmpxattr(w, SNAP_SEQ_XATTR, n ? v : "", (size_t)n);
		norn_write_op_setxattr(w, SNAP_SEQ_XATTR, nb, sizeof(nb));
		rc = norn_write_op_operate(w, io, NORN_SNAP_SEQ_OID);
		norn_write_op_release(w);
		free(v);
		if (rc == 0) {
			*snapid = cur + 1;
			return 0;
		}
		if (rc != -ECANCELED)
			return rc;
	}
	return -EAGAIN;
}

void norn_write_op_rollback(norn_write_op_t *op, uint64_t snapid)
{
	if (op)
		cl_write_op_add(op, OSD_OP_ROLLBACK, 0, snapid, 0, NULL, NULL, 0);
}

int norn_rollback(norn_ioctx_t *io, const char *oid, uint64_t snapid)
{
	norn_write_op_t *w;
	int rc;

	if (!io || !oid)
		return -EINVAL;
	w = norn_write_op_create();
	if (!w)
		return -ENOMEM;
	norn_write_op_rollback(w, snapid);
	rc = norn_write_op_operate(w, io, oid);
	norn_write_op_release(w);
	return rc;
}
