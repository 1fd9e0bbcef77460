/* libFuzzer: SigV4 parsing and canonicalisation and the aws-chunked
 * decoder. The input is split on NUL bytes into an Authorization value, a
 * path, a query, a signed-headers list, header lines and a chunked body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/s3/s3_sigv4.h"

static int emit(void *arg, const char *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = 0;
	const char *f[6] = { "", "/", "", "host", "", "" };
	size_t fi = 0;
	char *p = buf;
	f[fi++] = p;
	for (size_t i = 0; i < size && fi < 6; i++)
		if (buf[i] == 0)
			f[fi++] = buf + i + 1;
	struct s3_auth a;
	(void)s3_sigv4_parse_header(f[0], &a);
	(void)s3_sigv4_parse_query(f[2], &a);
	struct s3_hdr h[9];   /* up to 8 parsed + host */
	size_t nh = 0;
	char *hl = strdup(f[4]);
	for (char *save = NULL, *line = strtok_r(hl, "\n", &save); line && nh < 8;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c = strchr(line, ':');
		if (!c)
			continue;
		*c = 0;
		h[nh].name = line;
		h[nh].value = c + 1;
		nh++;
	}
	h[nh].name = "host";
	h[nh].value = "x";
	nh++;
	struct s3_buf out;
	s3_buf_init(&out);
	(void)s3_sigv4_canonical_request("PUT", f[1], f[2], h, nh, f[3], S3_UNSIGNED_PAYLOAD, 1, &out);
	s3_buf_free(&out);
	uint8_t key[32];
	s3_sigv4_signing_key("secret", "20130524", "us-east-1", "s3", key);
	struct s3_chunked c;
	for (int verify = 0; verify < 2; verify++) {
		s3_chunked_init(&c, verify, key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
		                "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
		(void)s3_chunked_feed(&c, f[5], strlen(f[5]), emit, NULL);
		(void)s3_chunked_done(&c);
		s3_chunked_free(&c);
	}
	free(hl);
	free(buf);
	return 0;
}
