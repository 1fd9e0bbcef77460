/* Keyring files: load, save, look up and generate entity secrets.
 *
 * Parsing goes through libinih (the same reader as the config file); a
 * section without a "key" or with a malformed one fails the whole load,
 * because a half-loaded keyring would make authentication fail later
 * with a far less clear message.
 */
#include "common/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "common/assert.h"
#include "common/env.h"
#include "norn/errors.h"

void keyring_init(struct keyring *kr)
{
	memset(kr, 0, sizeof(*kr));
}

void keyring_free(struct keyring *kr)
{
	if (kr->entries) {
		OPENSSL_cleanse(kr->entries, sizeof(*kr->entries) * kr->cap);
		free(kr->entries);
	}
	memset(kr, 0, sizeof(*kr));
}

static struct keyring_entry *find(const struct keyring *kr, const char *entity)
{
	for (uint32_t i = 0; i < kr->n; i++)
		if (!strcmp(kr->entries[i].entity, entity))
			return &kr->entries[i];
	return NULL;
}

int keyring_set(struct keyring *kr, const char *entity, const uint8_t key[AUTH_KEY_LEN])
{
	if (!auth__entity_ok(entity))
		return -EINVAL;
	struct keyring_entry *en = find(kr, entity);
	if (!en) {
		if (kr->n >= KEYRING_MAX_ENTRIES)
			return -ENOSPC;
		if (kr->n == kr->cap) {
			uint32_t ncap = kr->cap ? kr->cap * 2 : 8;
			struct keyring_entry *ne = calloc(ncap, sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			if (kr->entries) {
				memcpy(ne, kr->entries, sizeof(*ne) * kr->n);
				OPENSSL_cleanse(kr->entries, sizeof(*ne) * kr->cap);
				free(kr->entries);
			}
			kr->entries = ne;
			kr->cap = ncap;
		}
		en = &kr->entries[kr->n++];
		snprintf(en->entity, sizeof(en->entity), "%s", entity);
	}
	memcpy(en->key, key, AUTH_KEY_LEN);
	return 0;
}

int keyring_get(const struct keyring *kr, const char *entity, uint8_t key_out[AUTH_KEY_LEN])
{
	const struct keyring_entry *en = find(kr, entity);
	if (!en)
		return -ENOENT;
	memcpy(key_out, en->key, AUTH_KEY_LEN);
	return 0;
}

int keyring_generate_key(uint8_t key_out[AUTH_KEY_LEN])
{
	return norn_random_bytes(key_out, AUTH_KEY_LEN) ? NORN_EFAILED : 0;
}

struct load_state {
	struct keyring *kr;
	char *errbuf;
	size_t errlen;
	const char *path;
	char section[AUTH_ENTITY_NAME_MAX];
	int section_has_key;
	int err;
};

static int check_section_done(struct load_state *st)
{
	if (st->section[0] && !st->section_has_key) {
		snprintf(st->errbuf, st->errlen, "%s: section [%s] has no key", st->path,
		         st->section);
		return -EINVAL;
	}
	return 0;
}

static int on_kv(void *user, const char *section, const char *name, const char *value)
{
	struct load_state *st = user;
	if (st->err)
		return 0;
	if (strcmp(section, st->section)) {
		if ((st->err = check_section_done(st)))
			return 0;
		if (!auth__entity_ok(section)) {
			snprintf(st->errbuf, st->errlen, "%s: bad entity name [%s]", st->path, section);
			st->err = -EINVAL;
			return 0;
		}
		snprintf(st->section, sizeof(st->section), "%s", section);
		st->section_has_key = 0;
	}
	if (strcmp(name, "key"))
		return 1;   /* caps and other annotations are not secrets */
	uint8_t key[AUTH_KEY_LEN];
	if (auth_b64_decode_exact(value, key, AUTH_KEY_LEN)) {
		snprintf(st->errbuf, st->errlen,
		         "%s: [%s] key is not base64 of %d bytes", st->path, section, AUTH_KEY_LEN);
		st->err = -EINVAL;
		return 0;
	}
	int rc = keyring_set(st->kr, section, key);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc) {
		snprintf(st->errbuf, st->errlen, "%s: [%s]: %s", st->path, section,
		         norn_strerror(rc));
		st->err = rc == -ENOSPC ? -EINVAL : rc;
		return 0;
	}
	st->section_has_key = 1;
	return 1;
}

int keyring_load(struct keyring *kr, const char *path, char *errbuf, size_t errlen)
{
	char dummy[1];
	if (!errbuf || !errlen) {
		errbuf = dummy;
		errlen = sizeof(dummy);
	}
	errbuf[0] = 0;
	FILE *fp = fopen(path, "r");
	if (!fp) {
		int e = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return e;
	}
	struct load_state st = { .kr = kr, .errbuf = errbuf, .errlen = errlen, .path = path };
	int line = ini_parse_file(fp, on_kv, &st);
	fclose(fp);
	if (st.err)
		return st.err;
	if (line > 0) {
		snprintf(errbuf, errlen, "%s:%d: syntax error", path, line);
		return -EINVAL;
	}
	if (line < 0)
		return -ENOMEM;
	return check_section_done(&st);
}

int keyring_save(const struct keyring *kr, const char *path)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	FILE *fp = fdopen(fd, "w");
	if (!fp) {
		int e = -errno;
		close(fd);
		unlink(tmp);
		return e;
	}
	for (uint32_t i = 0; i < kr->n; i++) {
		char b64[4 * ((AUTH_KEY_LEN + 2) / 3) + 1];
		int bl = auth_b64_encode(kr->entries[i].key, AUTH_KEY_LEN, b64, sizeof(b64));
		NORN_ASSERT(bl > 0);
		fprintf(fp, "[%s]\nkey = %s\n", kr->entries[i].entity, b64);
		OPENSSL_cleanse(b64, sizeof(b64));
	}
	int rc = 0;
	if (fflush(fp) || fsync(fileno(fp)))
		rc = -errno;
	if (fclose(fp) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}
