/* The S3 API layer: turns HTTP requests into S3 operations.
 *
 * For each request: locate bucket and key (path style, or virtual-host
 * style when Host ends in ".<domain>"), authenticate (SigV4 header,
 * presigned query or anonymous), authorise (bucket owner, canned ACLs),
 * run the operation against struct s3_backend_ops, and answer with S3
 * headers and XML, or an S3 XML error with the right code and status.
 * Bodies stream: PUT and UploadPart hash (MD5 for the ETag, SHA-256 when
 * the payload hash is signed) and verify aws-chunked signatures while
 * writing piece by piece to the backend; GET reads the backend piece by
 * piece as the socket drains. Nothing becomes visible before every check
 * on the body passed.
 */
#ifndef NORN_S3_API_H
#define NORN_S3_API_H
#include <stdint.h>

#include "client/s3/s3_backend.h"
#include "client/s3/s3_http.h"
#include "common/env.h"

struct s3_api_config {
	const char *region;             /* e.g. "us-east-1": our LocationConstraint default */
	const char *domain;             /* virtual-host suffix ("s3.local"), NULL/"" = path only */
	uint64_t max_skew_ms;           /* 15 min on AWS */
	uint64_t max_put_bytes;         /* single PUT / part limit (5 GiB) */
	size_t io_chunk_bytes;          /* GET piece size */
	int md5_lanes;                  /* PUT body MD5 SIMD width cap (16, 8, 1; 0: best) */
	const struct norn_clock *clock; /* NULL: system clock */
};

struct s3_api;

/* Create the API over @be (not owned). Returns 0 or -ENOMEM. */
int s3_api_create(const struct s3_api_config *cfg, struct s3_backend *be, struct s3_api **out);
void s3_api_destroy(struct s3_api *api);
/* Call about once a second from the loop: when no PUT body buffer is
 * alive and some were freed since the last call, hands the freed memory
 * back to the system (malloc_trim; a burst of large PUTs leaves hundreds
 * of MiB of free heap behind otherwise). */
void s3_api_tick(struct s3_api *api);
/* The s3_http_handlers.on_request entry point; @ctx is the struct s3_api. */
void s3_api_on_request(void *ctx, struct s3_http_req *req);

/* Bucket-name rules (3..63, lower-case letters, digits, '.', '-', starts
 * and ends alphanumeric, no "..", not an IPv4 address). 1 if valid. */
int s3_valid_bucket_name(const char *name);

#endif
