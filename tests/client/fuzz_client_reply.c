/* Fuzz libnorn's handling of OSD replies: the bytes of an OSD_OP_REPLY
 * payload are decoded (osd_op_reply_decode) and applied to a request whose
 * steps cover every output kind (read into a buffer, stat, getxattr,
 * omap page, omap by key, PG listing), as on_osd_message does. The first
 * input byte picks the request shape. Nothing may crash, overrun the
 * caller's buffers or leak. */
#include <stdlib.h>
#include <string.h>

#include "client/lib/client_int.h"

static const uint16_t codes[] = { OSD_OP_READ, OSD_OP_STAT, OSD_OP_GETXATTR, OSD_OP_OMAP_GET_VALS,
                                  OSD_OP_OMAP_GET_BY_KEYS, OSD_OP_PG_LIST, OSD_OP_GETXATTRS,
                                  OSD_OP_WRITE };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct osd_op_reply *r;
	struct cl_step steps[3];
	struct norn_list lists[3];
	void *vals[3] = { 0 };
	uint64_t u1, u2;
	uint8_t buf[3][64];
	uint32_t n;
	enum cl_result_kind kind;

	if (size < 1)
		return 0;
	n = 1 + data[0] % 3;
	kind = (enum cl_result_kind)((data[0] >> 2) % 3);
	memset(lists, 0, sizeof(lists));
	for (uint32_t i = 0; i < n; i++) {
		uint16_t code = codes[(data[0] >> (3 + i)) % (sizeof(codes) / sizeof(codes[0]))];
		if (kind == CL_RES_OMAP_ONE)
			code = OSD_OP_OMAP_GET_BY_KEYS;
		cl_step_set(&steps[i], code, 0, 0, sizeof(buf[i]), NULL, 0, NULL, 0, NULL, 0, 0);
		steps[i].out.buf = buf[i];
		steps[i].out.cap = sizeof(buf[i]);
		steps[i].out.u1 = &u1;
		steps[i].out.u2 = &u2;
		if (code == OSD_OP_GETXATTR || code == OSD_OP_OMAP_GET_BY_KEYS)
			steps[i].out.valp = &vals[i];
		if (code == OSD_OP_OMAP_GET_VALS || code == OSD_OP_OMAP_GET_BY_KEYS ||
		    code == OSD_OP_PG_LIST || code == OSD_OP_GETXATTRS)
			steps[i].out.list = &lists[i];
	}
	r = malloc(sizeof(*r));
	if (r && osd_op_reply_decode(r, data + 1, size - 1) == 0)
		(void)cl_reply_apply(r, steps, n, kind, 0);
	for (uint32_t i = 0; i < n; i++) {
		norn_list_free(&lists[i]);
		free(vals[i]);
		cl_step_free(&steps[i]);
	}
	free(r);
	return 0;
}
