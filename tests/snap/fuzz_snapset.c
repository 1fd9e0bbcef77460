/* libFuzzer target: the OSD snapset decoder (an xattr read from the store,
 * so treated as untrusted). Anything accepted must be within bounds and
 * re-encode to the same set. */
#include <stdlib.h>
#include <string.h>

#include "osd/snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct snapset a, b;
	struct enc e;

	if (snapset_decode(&a, data, size) != 0)
		return 0;
	if (a.n_clones > SNAP_MAX_CLONES || a.n_ids > SNAP_MAX_IDS)
		abort();
	for (uint32_t i = 0; i < a.n_clones; i++)
		if (a.clones[i].first + a.clones[i].n > a.n_ids || a.clones[i].id > a.seq)
			abort();
	enc_init(&e, 0);
	snapset_encode(&e, &a);
	if (enc_error(&e) || snapset_decode(&b, e.buf, e.len) != 0 || a.seq != b.seq ||
	    a.n_clones != b.n_clones || a.n_ids != b.n_ids ||
	    memcmp(a.ids, b.ids, a.n_ids * sizeof(a.ids[0])))
		abort();
	enc_free(&e);
	return 0;
}
