/* Typed configuration: one INI-style cluster file plus command-line
 * overrides.
 *
 * Every option is declared once in config_opts.h with its type, default,
 * range and help. A file looks like
 *
 *     [global]
 *     fsid = 6f1c...
 *     mon_host = a=127.0.0.1:6789,b=127.0.0.1:6790
 *     [osd]
 *     store_size_bytes = 4G
 *     [osd.3]
 *     store_path = /dev/sdb
 *
 * and is read for one entity ("osd.3"): [global], then the type section
 * ([osd]), then the entity's own section, later ones overriding earlier
 * ones; then command-line overrides (--name=value or --name value, '-' and
 * '_' interchangeable). An unknown option or a bad value is an error that
 * names the option, the file and the line. Sections for other entities are
 * ignored, so one file serves the whole cluster. The struct is immutable
 * once the daemon starts.
 */
#ifndef NORN_CONFIG_H
#define NORN_CONFIG_H
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#define NORN_CFG_T_BOOL bool
#define NORN_CFG_T_INT  int64_t
#define NORN_CFG_T_SIZE uint64_t
#define NORN_CFG_T_MS   uint64_t
#define NORN_CFG_T_STR  char *

struct norn_config {
#define NORN_OPT(name, type, def, min, max, help) NORN_CFG_T_##type name;
#include "common/config_opts.h"
#undef NORN_OPT
	char entity[64];    /* "osd.3", "mon.a", "client.admin" */
};

/* Fill @cfg with every default. @entity is copied. Returns 0 or -ENOMEM. */
int norn_config_init(struct norn_config *cfg, const char *entity);
/* Free the strings owned by @cfg. */
void norn_config_free(struct norn_config *cfg);

/* Read @path for cfg->entity. Returns 0, -errno if the file cannot be
 * read, or -EINVAL after writing a message naming the option/line to
 * @errbuf. */
int norn_config_load_file(struct norn_config *cfg, const char *path,
                          char *errbuf, size_t errlen);
/* Set one option by name from text. Returns 0, -ENOENT (unknown option)
 * or -EINVAL (bad value / out of range), with a message in @errbuf. */
int norn_config_set(struct norn_config *cfg, const char *name, const char *value,
                    char *errbuf, size_t errlen);

/* Apply command-line overrides: scans argv for --name=value / --name value
 * where name is a known option, removes them from argv, and leaves other
 * arguments in order. *argc is updated. Returns 0 or the first error. */
int norn_config_parse_args(struct norn_config *cfg, int *argc, char **argv,
                           char *errbuf, size_t errlen);

/* Print every option with its type, default and help (for --help-config). */
void norn_config_print_help(FILE *fp);

/* Parse helpers shared with the CLI. Return 0 or -EINVAL. */
int norn_parse_size(const char *s, uint64_t *out);
int norn_parse_ms(const char *s, uint64_t *out);
int norn_parse_int(const char *s, int64_t *out);
int norn_parse_bool(const char *s, bool *out);

#endif
