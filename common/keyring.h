/* Keyrings: the secrets of entities, in a small text file.
 *
 * A keyring file is INI-like, one section per entity:
 *
 *     [client.admin]
 *     key = 3q2+7w...base64 of 32 bytes...=
 *
 * Other keys in a section (e.g. "caps") are kept out of the secret path:
 * they are ignored on load. The mon's keyring holds every bootstrap
 * secret; a daemon's or client's keyring usually holds only its own.
 * Files are written with mode 0600 through a temporary file and rename.
 */
#ifndef NORN_KEYRING_H
#define NORN_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "common/auth.h"

#define KEYRING_MAX_ENTRIES 4096

struct keyring_entry {
	char entity[AUTH_ENTITY_NAME_MAX];
	uint8_t key[AUTH_KEY_LEN];
};

/* Owns its entries; init with keyring_init(), release with keyring_free(). */
struct keyring {
	uint32_t n;
	uint32_t cap;
	struct keyring_entry *entries;
};

void keyring_init(struct keyring *kr);
void keyring_free(struct keyring *kr);

/* Load @path into @kr (entries are added; an existing entity is
 * replaced). Returns 0, -errno if unreadable, or -EINVAL after writing a
 * message naming the line to @errbuf (bad entity name, bad base64, key
 * not 32 bytes, section without key, too many entries). */
int keyring_load(struct keyring *kr, const char *path, char *errbuf, size_t errlen);

/* Write @kr to @path (mode 0600, atomically). Returns 0 or -errno. */
int keyring_save(const struct keyring *kr, const char *path);

/* Add or replace @entity's key. Returns 0, -EINVAL (bad name), -ENOSPC
 * (KEYRING_MAX_ENTRIES) or -ENOMEM. */
int keyring_set(struct keyring *kr, const char *entity, const uint8_t key[AUTH_KEY_LEN]);

/* Copy @entity's key to @key_out. Returns 0 or -ENOENT. */
int keyring_get(const struct keyring *kr, const char *entity, uint8_t key_out[AUTH_KEY_LEN]);

/* Draw a fresh random key. Returns 0 or NORN_EFAILED. */
int keyring_generate_key(uint8_t key_out[AUTH_KEY_LEN]);

#endif
