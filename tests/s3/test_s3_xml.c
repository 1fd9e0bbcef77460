/* XML request bodies: the happy paths and the edge cases (namespaces,
 * quoted ETags, limits, DTDs / XXE / entity bombs, junk). */
#include "tests/harness.h"

#include <errno.h>

#include "client/s3/s3_xml.h"

#define S(x) x, strlen(x)

TEST(complete_multipart)
{
	struct s3_xml_part *p;
	size_t n;
	const char *x = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	                "<Part><ETag>\"aaa\"</ETag><PartNumber>1</PartNumber></Part>"
	                "<Part><PartNumber>3</PartNumber><ETag>&quot;bbb&quot;</ETag>"
	                "<ChecksumCRC32>xyz</ChecksumCRC32></Part></CompleteMultipartUpload>";
	CHECK_EQ(s3_xml_parse_complete(S(x), &p, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(p[0].number, 1);
	CHECK_STREQ(p[0].etag, "aaa");
	CHECK_EQ(p[1].number, 3);
	CHECK_STREQ(p[1].etag, "bbb");
	free(p);
	CHECK_EQ(s3_xml_parse_complete(S("<CompleteMultipartUpload/>"), &p, &n), -EINVAL);
	CHECK_EQ(s3_xml_parse_complete(S("<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>"), &p, &n), -EINVAL);
	CHECK_EQ(s3_xml_parse_complete(S("<CompleteMultipartUpload><Part><PartNumber>1x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>"), &p, &n), -EINVAL);
	CHECK_EQ(s3_xml_parse_complete(S("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>"), &p, &n), -EINVAL);
	CHECK_EQ(s3_xml_parse_complete(S("<Other><Part/></Other>"), &p, &n), -EINVAL);
	CHECK_EQ(s3_xml_parse_complete(S("<CompleteMultipartUpload><Part>"), &p, &n), -EINVAL);
	CHECK_EQ(s3_xml_parse_complete("", 0, &p, &n), -EINVAL);
}

TEST(delete_objects)
{
	char **k;
	size_t n;
	int quiet;
	const char *x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>"
	                "<Object><Key>a&amp;b</Key></Object><Object><Key>c/d</Key><VersionId>null</VersionId></Object></Delete>";
	CHECK_EQ(s3_xml_parse_delete(S(x), &k, &n, &quiet), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(quiet, 1);
	CHECK_STREQ(k[0], "a&b");
	CHECK_STREQ(k[1], "c/d");
	s3_xml_free_keys(k, n);
	CHECK_EQ(s3_xml_parse_delete(S("<Delete></Delete>"), &k, &n, &quiet), -EINVAL);
	CHECK_EQ(s3_xml_parse_delete(S("<Delete><Object><Key></Key></Object></Delete>"), &k, &n, &quiet), -EINVAL);
	/* 1001 keys is too many. */
	size_t cap = 1100 * 40;
	char *big = malloc(cap);
	size_t o = (size_t)snprintf(big, cap, "<Delete>");
	for (int i = 0; i < 1001; i++)
		o += (size_t)snprintf(big + o, cap - o, "<Object><Key>k%d</Key></Object>", i);
	o += (size_t)snprintf(big + o, cap - o, "</Delete>");
	CHECK_EQ(s3_xml_parse_delete(big, o, &k, &n, &quiet), -E2BIG);
	free(big);
}

TEST(location_and_tagging)
{
	char loc[64];
	CHECK_EQ(s3_xml_parse_location(S("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"), loc, sizeof(loc)), 0);
	CHECK_STREQ(loc, "eu-west-1");
	CHECK_EQ(s3_xml_parse_location(S("<CreateBucketConfiguration/>"), loc, sizeof(loc)), 0);
	CHECK_STREQ(loc, "");
	struct s3_tag t[10];
	size_t n;
	CHECK_EQ(s3_xml_parse_tagging(S("<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value></Value></Tag></TagSet></Tagging>"), t, 10, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_STREQ(t[1].key, "b");
	CHECK_STREQ(t[1].value, "");
	CHECK_EQ(s3_xml_parse_tagging(S("<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>"), t, 10, &n), -EINVAL);
	CHECK_EQ(s3_xml_parse_tagging(S("<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>2</Value></Tag></TagSet></Tagging>"), t, 1, &n), -E2BIG);
}

TEST(no_dtd_no_xxe_no_bombs)
{
	char **k;
	size_t n;
	int quiet;
	const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
	                  "<Delete><Object><Key>&x;</Key></Object></Delete>";
	CHECK_EQ(s3_xml_parse_delete(S(xxe), &k, &n, &quiet), -EINVAL);
	const char *bomb = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
	                   "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
	                   "<Delete><Object><Key>&c;</Key></Object></Delete>";
	CHECK_EQ(s3_xml_parse_delete(S(bomb), &k, &n, &quiet), -EINVAL);
	const char *ext = "<?xml version=\"1.0\"?><!DOCTYPE Delete SYSTEM \"http://127.0.0.1:1/x.dtd\"><Delete/>";
	CHECK_EQ(s3_xml_parse_delete(S(ext), &k, &n, &quiet), -EINVAL);
	/* Oversized input is refused before parsing. */
	char *huge = calloc(1, S3_XML_MAX_BYTES + 10);
	memset(huge, ' ', S3_XML_MAX_BYTES + 9);
	CHECK_EQ(s3_xml_parse_delete(huge, S3_XML_MAX_BYTES + 9, &k, &n, &quiet), -EINVAL);
	free(huge);
	CHECK_EQ(s3_xml_parse_delete(S("\x01\x02garbage"), &k, &n, &quiet), -EINVAL);
}

TEST_MAIN(TEST_ENTRY(complete_multipart), TEST_ENTRY(delete_objects), TEST_ENTRY(location_and_tagging),
          TEST_ENTRY(no_dtd_no_xxe_no_bombs))
