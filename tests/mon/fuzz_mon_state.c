/* libFuzzer target: the mon snapshot decoder (mon_state_decode) and, for
 * inputs that decode, a re-encode that must decode again. Also feeds the
 * bytes as a JSON command to mon_state_apply on a genesis state. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/assert.h"
#include "mon/mon_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mon_state st, st2;
	struct enc e;

	mon_state_init(&st);
	if (mon_state_decode(&st, data, size) == 0) {
		enc_init(&e, 1024);
		NORN_ASSERT(mon_state_encode(&st, &e) == 0);
		mon_state_init(&st2);
		NORN_ASSERT(mon_state_decode(&st2, e.buf, e.len) == 0);
		mon_state_free(&st2);
		enc_free(&e);
	}
	mon_state_free(&st);

	/* the same bytes as a command against a small cluster */
	static const uint8_t fsid[16] = { 1, 2, 3, 4, 5, 6, 0x47, 8, 0x89 };
	struct monmap mm;
	const char *ents[1] = { "client.admin" };
	uint8_t keys[1][32];
	struct mon_result r;
	memset(keys, 1, sizeof(keys));
	mon_state_init(&st);
	if (monmap_parse_mon_host(&mm, "a=127.0.0.1:6789") == 0 &&
	    mon_state_genesis(&st, fsid, &mm, 1, ents, (const uint8_t (*)[32])keys) == 0) {
		mon_result_init(&r);
		mon_state_apply(&st, data, size, &r);
		mon_result_free(&r);
	}
	mon_state_free(&st);
	return 0;
}
