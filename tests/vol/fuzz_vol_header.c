/* libFuzzer target: the volume header decoder (bytes from an object in the
 * cluster, so untrusted). Anything accepted must re-encode to a header
 * that decodes to the same fields. */
#include <stdlib.h>
#include <string.h>

#include "client/vol/vol_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vol_info a, b;
	struct enc e;

	if (vol__header_decode(&a, data, size) != 0)
		return 0;
	enc_init(&e, 0);
	vol__header_encode(&e, &a);
	if (enc_error(&e) || vol__header_decode(&b, e.buf, e.len) != 0 ||
	    a.size_bytes != b.size_bytes || a.gen != b.gen || a.n_snaps != b.n_snaps ||
	    strcmp(a.name, b.name) || strcmp(a.id, b.id))
		abort();
	enc_free(&e);
	return 0;
}
