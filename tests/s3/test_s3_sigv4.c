/* SigV4 against the worked examples of AWS's "Authenticating Requests
 * (AWS Signature Version 4)" S3 documentation: GET object with a range,
 * PUT object, GET ?lifecycle, GET list objects, a presigned URL, and the
 * aws-chunked upload (seed + three chunk signatures). Plus parsing and
 * negative cases. */
#include "tests/harness.h"

#include <errno.h>

#include "client/s3/s3_sigv4.h"
#include "client/s3/s3_util.h"
#include "norn/errors.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DATE "20130524T000000Z"
#define SCOPE "20130524/us-east-1/s3/aws4_request"

static void sign_check(const char *method, const char *path, const char *query,
                       const struct s3_hdr *h, size_t nh, const char *signed_headers,
                       const char *payload, int presigned, const char *want)
{
	struct s3_buf canon, sts;
	uint8_t key[32];
	char sig[65];
	s3_buf_init(&canon);
	s3_buf_init(&sts);
	CHECK_EQ(s3_sigv4_canonical_request(method, path, query, h, nh, signed_headers, payload,
	                                    presigned, &canon), 0);
	s3_sigv4_signing_key(SK, "20130524", "us-east-1", "s3", key);
	CHECK_EQ(s3_sigv4_string_to_sign(DATE, SCOPE, canon.p, canon.len, &sts), 0);
	s3_sigv4_sign(key, sts.p, sts.len, sig);
	if (strcmp(sig, want))
		fprintf(stderr, "canonical:\n%s\nsts:\n%s\n", canon.p, sts.p);
	CHECK_STREQ(sig, want);
	s3_buf_free(&canon);
	s3_buf_free(&sts);
}

TEST(aws_get_object_range)
{
	struct s3_hdr h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Range", "bytes=0-9" },
		{ "x-amz-content-sha256", S3_EMPTY_SHA256 },
		{ "x-amz-date", DATE },
	};
	sign_check("GET", "/test.txt", NULL, h, 4, "host;range;x-amz-content-sha256;x-amz-date",
	           S3_EMPTY_SHA256, 0, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(aws_put_object)
{
	char ph[65];
	s3_sha256_hex("Welcome to Amazon S3.", 21, ph);
	CHECK_STREQ(ph, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	struct s3_hdr h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "x-amz-date", DATE },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		{ "x-amz-content-sha256", ph },
	};
	sign_check("PUT", "/test%24file.text", NULL, h, 5,
	           "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", ph, 0,
	           "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	/* The same path sent unescaped canonicalises the same way. */
	sign_check("PUT", "/test$file.text", NULL, h, 5,
	           "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", ph, 0,
	           "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(aws_get_lifecycle)
{
	struct s3_hdr h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "x-amz-date", DATE },
		{ "x-amz-content-sha256", S3_EMPTY_SHA256 },
	};
	sign_check("GET", "/", "lifecycle", h, 3, "host;x-amz-content-sha256;x-amz-date",
	           S3_EMPTY_SHA256, 0, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(aws_list_objects)
{
	struct s3_hdr h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "x-amz-date", DATE },
		{ "x-amz-content-sha256", S3_EMPTY_SHA256 },
	};
	sign_check("GET", "/", "max-keys=2&prefix=J", h, 3, "host;x-amz-content-sha256;x-amz-date",
	           S3_EMPTY_SHA256, 0, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	/* Parameter order on the wire does not matter. */
	sign_check("GET", "/", "prefix=J&max-keys=2", h, 3, "host;x-amz-content-sha256;x-amz-date",
	           S3_EMPTY_SHA256, 0, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(aws_presigned)
{
	const char *q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524"
	                "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
	                "&X-Amz-SignedHeaders=host&X-Amz-Signature="
	                "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
	struct s3_auth a;
	CHECK_EQ(s3_sigv4_parse_query(q, &a), 0);
	CHECK_EQ(a.kind, S3_AUTH_PRESIGNED);
	CHECK_STREQ(a.access_key, AK);
	CHECK_STREQ(a.region, "us-east-1");
	CHECK_EQ(a.expires_s, 86400);
	CHECK_STREQ(a.signed_headers, "host");
	struct s3_hdr h[] = { { "Host", "examplebucket.s3.amazonaws.com" } };
	sign_check("GET", "/test.txt", q, h, 1, "host", S3_UNSIGNED_PAYLOAD, 1,
	           "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	CHECK_EQ(s3_sigv4_parse_query("a=b&c", &a), 1);
	CHECK_EQ(s3_sigv4_parse_query(NULL, &a), 1);
	CHECK_EQ(s3_sigv4_parse_query("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=9", &a), -EINVAL);
	CHECK_EQ(s3_sigv4_parse_query("X-Amz-Algorithm=HMAC-MD5", &a), -ENOTSUP);
}

TEST(parse_authorization_header)
{
	struct s3_auth a;
	CHECK_EQ(s3_sigv4_parse_header("AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request,"
	                               "SignedHeaders=host;range;x-amz-date,Signature="
	                               "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024", &a), 0);
	CHECK_STREQ(a.access_key, AK);
	CHECK_STREQ(a.date8, "20130524");
	CHECK_STREQ(a.service, "s3");
	CHECK_STREQ(a.signed_headers, "host;range;x-amz-date");
	CHECK_EQ(s3_sigv4_parse_header("AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request, "
	                               "SignedHeaders=host, Signature="
	                               "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024", &a), 0);
	CHECK_EQ(s3_sigv4_parse_header("AWS " AK ":abc", &a), -ENOTSUP);
	CHECK_EQ(s3_sigv4_parse_header("AWS4-HMAC-SHA256 Credential=x", &a), -EINVAL);
	CHECK_EQ(s3_sigv4_parse_header("AWS4-HMAC-SHA256 Credential=" AK "/2013/us-east-1/s3/aws4_request,"
	                               "SignedHeaders=host,Signature=00", &a), -EINVAL);
	CHECK_EQ(s3_sigv4_parse_header("AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request,"
	                               "SignedHeaders=Host,Signature="
	                               "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024", &a), -EINVAL);
	CHECK_EQ(s3_sigv4_parse_header("", &a), -EINVAL);
}

TEST(canonical_negative)
{
	struct s3_buf c;
	struct s3_hdr h[] = { { "Host", "x" } };
	s3_buf_init(&c);
	/* A signed header that is missing, unsorted lists, bad escapes. */
	CHECK_EQ(s3_sigv4_canonical_request("GET", "/", NULL, h, 1, "host;x-amz-date", "UNSIGNED-PAYLOAD", 0, &c), -EINVAL);
	s3_buf_reset(&c);
	CHECK_EQ(s3_sigv4_canonical_request("GET", "/", NULL, h, 1, "x;host", "UNSIGNED-PAYLOAD", 0, &c), -EINVAL);
	s3_buf_reset(&c);
	CHECK_EQ(s3_sigv4_canonical_request("GET", "/%zz", NULL, h, 1, "host", "UNSIGNED-PAYLOAD", 0, &c), -EINVAL);
	s3_buf_reset(&c);
	CHECK_EQ(s3_sigv4_canonical_request("GET", "/a%00b", NULL, h, 1, "host", "UNSIGNED-PAYLOAD", 0, &c), -EINVAL);
	s3_buf_reset(&c);
	CHECK_EQ(s3_sigv4_canonical_request("GET", "/", "a=%4", h, 1, "host", "UNSIGNED-PAYLOAD", 0, &c), -EINVAL);
	s3_buf_reset(&c);
	/* Header values: trimmed, inner blanks collapsed; repeated headers joined. */
	struct s3_hdr h2[] = { { "Host", "x" }, { "X-A", "  a   b  " }, { "x-a", "c" } };
	CHECK_EQ(s3_sigv4_canonical_request("GET", "/k y", "b=2&a=1&a=0&c", h2, 3, "host;x-a", "UNSIGNED-PAYLOAD", 0, &c), 0);
	CHECK_STREQ(c.p, "GET\n/k%20y\na=0&a=1&b=2&c=\nhost:x\nx-a:a b,c\n\nhost;x-a\nUNSIGNED-PAYLOAD");
	s3_buf_free(&c);
	CHECK(!s3_sigv4_sig_equal("ab", "ab"));
}

/* --- aws-chunked: AWS's 66,560-byte example in 64 KiB chunks ------------ */

struct sink { size_t n; int bad; };

static int sink_emit(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;
	for (size_t i = 0; i < n; i++)
		if (p[i] != 'a')
			s->bad = 1;
	s->n += n;
	return 0;
}

static size_t build_chunked(char *out, const char *const sigs[3], int corrupt)
{
	size_t o = 0;
	size_t sizes[3] = { 65536, 1024, 0 };
	for (int i = 0; i < 3; i++) {
		o += (size_t)snprintf(out + o, 128, "%zx;chunk-signature=%s\r\n", sizes[i], sigs[i]);
		memset(out + o, corrupt && i == 1 ? 'b' : 'a', sizes[i]);
		o += sizes[i];
		memcpy(out + o, "\r\n", 2);
		o += 2;
	}
	return o;
}

static const char *const chunk_sigs[3] = {
	"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
	"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
	"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
};

TEST(aws_chunked_seed)
{
	struct s3_hdr h[] = {
		{ "Host", "s3.amazonaws.com" },
		{ "x-amz-date", DATE },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		{ "Content-Encoding", "aws-chunked" },
		{ "x-amz-decoded-content-length", "66560" },
		{ "Content-Length", "66824" },
		{ "x-amz-content-sha256", S3_STREAMING_PAYLOAD },
	};
	sign_check("PUT", "/examplebucket/chunkObject.txt", NULL, h, 7,
	           "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
	           "x-amz-decoded-content-length;x-amz-storage-class", S3_STREAMING_PAYLOAD, 0,
	           "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
}

static void run_chunked(size_t step, int corrupt, int expect_err)
{
	static char body[70000];
	size_t n = build_chunked(body, chunk_sigs, corrupt);
	CHECK_EQ(n, 66824);
	uint8_t key[32];
	s3_sigv4_signing_key(SK, "20130524", "us-east-1", "s3", key);
	struct s3_chunked c;
	struct sink sk = { 0, 0 };
	CHECK_EQ(s3_chunked_init(&c, 1, key, DATE, SCOPE,
	                         "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"), 0);
	int rc = 0;
	for (size_t off = 0; off < n && !rc; off += step)
		rc = s3_chunked_feed(&c, body + off, off + step > n ? n - off : step, sink_emit, &sk);
	if (expect_err) {
		CHECK_EQ(rc, expect_err);
		CHECK(!s3_chunked_done(&c));
	} else {
		CHECK_EQ(rc, 0);
		CHECK(s3_chunked_done(&c));
		CHECK_EQ(sk.n, 66560);
		CHECK(!sk.bad);
		/* Nothing may follow the final chunk. */
		CHECK_EQ(s3_chunked_feed(&c, "x", 1, sink_emit, &sk), -EBADMSG);
	}
	s3_chunked_free(&c);
}

TEST(aws_chunked_verify_any_split)
{
	run_chunked(66824, 0, 0);
	run_chunked(1, 0, 0);
	run_chunked(7, 0, 0);
	run_chunked(4096, 0, 0);
}

TEST(aws_chunked_tampered)
{
	run_chunked(1000, 1, NORN_EAUTH);
}

TEST(chunked_framing_errors)
{
	uint8_t key[32] = { 0 };
	struct s3_chunked c;
	struct sink sk = { 0, 0 };
	const char *bad[] = {
		"zz;chunk-signature=00\r\n",
		"10\n",
		"ffffffffffffffffff;chunk-signature=x\r\n",
		"4;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\naaaaXX",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s3_chunked_init(&c, 1, key, DATE, SCOPE, chunk_sigs[0]);
		int rc = s3_chunked_feed(&c, bad[i], strlen(bad[i]), sink_emit, &sk);
		CHECK(rc == -EBADMSG || rc == NORN_EAUTH);
		s3_chunked_free(&c);
	}
	/* Unsigned framing mode accepts bare sizes. */
	s3_chunked_init(&c, 0, key, DATE, SCOPE, "");
	const char *ok = "3\r\naaa\r\n0\r\n\r\n";
	sk.n = 0;
	CHECK_EQ(s3_chunked_feed(&c, ok, strlen(ok), sink_emit, &sk), 0);
	CHECK(s3_chunked_done(&c));
	CHECK_EQ(sk.n, 3);
	s3_chunked_free(&c);
}

TEST(util_encodings)
{
	char out[64];
	CHECK_EQ(s3_url_decode("a%20b+c", 7, out, sizeof(out), 1), 5);
	CHECK_STREQ(out, "a b c");
	CHECK_EQ(s3_url_decode("%", 1, out, sizeof(out), 0), -EINVAL);
	CHECK_EQ(s3_url_decode("%4", 2, out, sizeof(out), 0), -EINVAL);
	CHECK_EQ(s3_url_decode("abc", 3, out, 3, 0), -EINVAL);
	int64_t t;
	CHECK_EQ(s3_parse_amz_date("20130524T000000Z", &t), 0);
	CHECK_EQ(t, 1369353600);
	CHECK_EQ(s3_parse_http_date("Fri, 24 May 2013 00:00:00 GMT", &t), 0);
	CHECK_EQ(t, 1369353600);
	CHECK(s3_parse_amz_date("20131324T000000Z", &t) < 0);
	CHECK(s3_parse_http_date("yesterday", &t) < 0);
	s3_fmt_http_date(1369353600, out);
	CHECK_STREQ(out, "Fri, 24 May 2013 00:00:00 GMT");
	uint8_t b[16];
	CHECK_EQ(s3_unbase64("AAECAw==", 8, b, sizeof(b)), 4);
	CHECK_EQ(b[3], 3);
	CHECK_EQ(s3_unbase64("AAE", 3, b, sizeof(b)), -EINVAL);
}

TEST(aws_sigv2_example)
{
	/* AWS's SigV2 example: GET object photos/puppy.jpg in johnsmith. */
	struct s3_hdr h[] = {
		{ "Host", "johnsmith.s3.amazonaws.com" },
		{ "Date", "Tue, 27 Mar 2007 19:36:42 +0000" },
	};
	struct s3_buf sts;
	char sig[64];
	s3_buf_init(&sts);
	CHECK_EQ(s3_sigv2_string_to_sign("GET", "/johnsmith/photos/puppy.jpg", NULL, h, 2,
	                                 "Tue, 27 Mar 2007 19:36:42 +0000", &sts), 0);
	CHECK_STREQ(sts.p, "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg");
	s3_sigv2_sign(SK, sts.p, sts.len, sig, sizeof(sig));
	CHECK_STREQ(sig, "bWq2s1WEIj+Ydj0vQ697zp+IXMU=");
	/* Subresources are signed, other parameters are not; x-amz headers are. */
	struct s3_hdr h2[] = { { "X-Amz-Meta-B", "2" }, { "x-amz-meta-a", " 1 " }, { "x-amz-meta-b", "3" } };
	s3_buf_reset(&sts);
	CHECK_EQ(s3_sigv2_string_to_sign("PUT", "/b/k", "prefix=x&uploadId=9&partNumber=2&acl", h2, 3, "", &sts), 0);
	CHECK_STREQ(sts.p, "PUT\n\n\n\nx-amz-meta-a:1\nx-amz-meta-b:2,3\n/b/k?acl&partNumber=2&uploadId=9");
	struct s3_auth a;
	CHECK_EQ(s3_sigv2_parse_header("AWS " AK ":bWq2s1WEIj+Ydj0vQ697zp+IXMU=", &a), 0);
	CHECK_STREQ(a.access_key, AK);
	CHECK_EQ(s3_sigv2_parse_header("AWS nocolon", &a), -EINVAL);
	CHECK_EQ(s3_sigv2_parse_query("AWSAccessKeyId=" AK "&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D", &a), 0);
	CHECK_EQ(a.expires_s, 1175139620);
	CHECK_STREQ(a.signature, "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
	s3_buf_free(&sts);
}

TEST_MAIN(TEST_ENTRY(aws_sigv2_example), TEST_ENTRY(aws_get_object_range), TEST_ENTRY(aws_put_object), TEST_ENTRY(aws_get_lifecycle),
          TEST_ENTRY(aws_list_objects), TEST_ENTRY(aws_presigned), TEST_ENTRY(parse_authorization_header),
          TEST_ENTRY(canonical_negative), TEST_ENTRY(aws_chunked_seed),
          TEST_ENTRY(aws_chunked_verify_any_split), TEST_ENTRY(aws_chunked_tampered),
          TEST_ENTRY(chunked_framing_errors), TEST_ENTRY(util_encodings))
