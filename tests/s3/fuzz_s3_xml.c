/* libFuzzer: every S3 XML body parser over the same input. */
#include <stdint.h>
#include <stdlib.h>

#include "client/s3/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct s3_xml_part *parts;
	size_t n;
	if (s3_xml_parse_complete(p, size, &parts, &n) == 0)
		free(parts);
	char **keys;
	int quiet;
	if (s3_xml_parse_delete(p, size, &keys, &n, &quiet) == 0)
		s3_xml_free_keys(keys, n);
	char loc[64];
	(void)s3_xml_parse_location(p, size, loc, sizeof(loc));
	static struct s3_tag tags[S3_MAX_TAGS];
	(void)s3_xml_parse_tagging(p, size, tags, S3_MAX_TAGS, &n);
	return 0;
}
