/* The public faces of CRUSH's hash and logarithm. The mapping path uses the
 * inline versions in crush_int.h; these exist for tests, tools and callers
 * that derive placement seeds (e.g. pool + PG) with the same mixing. */
#include "crush/crush_int.h"

uint32_t crush_hash32_2(uint32_t a, uint32_t b)
{
	return crush__hash2(a, b);
}

uint32_t crush_hash32_3(uint32_t a, uint32_t b, uint32_t c)
{
	return crush__hash3(a, b, c);
}

uint64_t crush_neglog2(uint32_t u)
{
	return crush__neglog2(u);
}
