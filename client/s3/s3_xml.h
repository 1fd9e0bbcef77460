/* XML request bodies of the S3 API, parsed with libxml2.
 *
 * Bodies are untrusted: each parser refuses input above S3_XML_MAX_BYTES,
 * parses with XML_PARSE_NONET (no network) and without entity
 * substitution, and rejects any document that carries a DTD (internal or
 * external subset), so neither external entities (XXE) nor entity
 * expansion bombs can run. Elements are matched by local name, so bodies
 * with or without the S3 namespace are accepted. All return 0,
 * -EINVAL (malformed: S3 MalformedXML), -E2BIG (too many items) or -ENOMEM.
 */
#ifndef NORN_S3_XML_H
#define NORN_S3_XML_H
#include <stddef.h>

#define S3_XML_MAX_BYTES (2u << 20)
#define S3_MAX_PARTS 10000
#define S3_MAX_DELETE_KEYS 1000
#define S3_MAX_KEY_BYTES 1024
#define S3_TAG_KEY_MAX 128
#define S3_TAG_VALUE_MAX 256
#define S3_MAX_TAGS 50

struct s3_xml_part {
	int number;
	char etag[80];      /* as sent, quotes stripped */
};

/* CompleteMultipartUpload: <Part><PartNumber/><ETag/></Part>... The
 * array is malloc'd (caller frees); order is kept as sent. */
int s3_xml_parse_complete(const char *p, size_t n, struct s3_xml_part **parts, size_t *count);

/* Delete (DeleteObjects): <Quiet/> and <Object><Key/></Object>...
 * @keys is a malloc'd array of malloc'd strings; free with
 * s3_xml_free_keys(). */
int s3_xml_parse_delete(const char *p, size_t n, char ***keys, size_t *count, int *quiet);
void s3_xml_free_keys(char **keys, size_t count);

/* CreateBucketConfiguration: LocationConstraint (may be empty). An empty
 * body is not passed here. */
int s3_xml_parse_location(const char *p, size_t n, char *loc, size_t cap);

struct s3_tag {
	char key[S3_TAG_KEY_MAX + 1];
	char value[S3_TAG_VALUE_MAX + 1];
};

/* Tagging: <TagSet><Tag><Key/><Value/></Tag>...</TagSet>. Fills up to
 * @max tags (-E2BIG beyond); duplicate keys are -EINVAL. */
int s3_xml_parse_tagging(const char *p, size_t n, struct s3_tag *tags, size_t max, size_t *count);

#endif
