/* libFuzzer target: the CRUSH binary decoder on arbitrary bytes; whatever
 * decodes must map, re-encode to the same bytes' map and decompile. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "crush/crush.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crush_map *m = NULL, *m2 = NULL;
	if (crush_decode(&m, data, size) != 0)
		return 0;
	uint32_t w[64];
	for (int i = 0; i < 64; i++)
		w[i] = (i % 5) ? 0x10000u : 0;
	void *scr = malloc(crush_scratch_size(m, 8));
	int res[8];
	for (uint32_t r = 0; scr && r < m->max_rules; r++)
		if (m->rules[r])
			for (uint32_t x = 0; x < 8; x++)
				if (crush_do_rule(m, (int)r, x, res, 8, w, 64, scr) < 0)
					abort();
	free(scr);
	size_t len = 0;
	crush_encode(m, NULL, 0, &len);
	uint8_t *buf = malloc(len);
	if (!buf || crush_encode(m, buf, len, &len) != 0 || crush_decode(&m2, buf, len) != 0 ||
	    !crush_map_equal(m, m2))
		abort();
	char *text = NULL;
	if (crush_decompile(m, &text) != 0)
		abort();
	free(text);
	free(buf);
	crush_destroy(m);
	crush_destroy(m2);
	return 0;
}
