/* libFuzzer target: the CRUSH text compiler on arbitrary bytes. Whatever
 * compiles must decompile, compile again to the same map, encode, decode
 * and map without trouble. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "crush/crush.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crush_map *m = NULL, *m2 = NULL, *m3 = NULL;
	char err[256];
	if (size > 1 << 16)
		return 0;
	if (crush_compile((const char *)data, size, &m, err, sizeof(err)) != 0)
		return 0;
	char *text = NULL;
	if (crush_decompile(m, &text) != 0)
		abort();
	if (crush_compile(text, strlen(text), &m2, err, sizeof(err)) != 0 || !crush_map_equal(m, m2))
		abort(); /* decompile output must compile back to the same map */
	size_t len = 0;
	crush_encode(m, NULL, 0, &len);
	uint8_t *buf = malloc(len);
	if (!buf || crush_encode(m, buf, len, &len) != 0 || crush_decode(&m3, buf, len) != 0 ||
	    !crush_map_equal(m, m3))
		abort();
	uint32_t w[64];
	for (int i = 0; i < 64; i++)
		w[i] = (i % 7) ? 0x10000u : 0x8000u;
	void *scr = malloc(crush_scratch_size(m, 6));
	int res[6];
	for (uint32_t r = 0; scr && r < m->max_rules; r++)
		if (m->rules[r])
			for (uint32_t x = 0; x < 4; x++)
				if (crush_do_rule(m, (int)r, x, res, 6, w, 64, scr) < 0)
					abort();
	free(scr);
	free(buf);
	free(text);
	crush_destroy(m);
	crush_destroy(m2);
	crush_destroy(m3);
	return 0;
}
