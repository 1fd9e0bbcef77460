/* Parsers for S3 XML request bodies (see s3_xml.h for the safety rules). */
#include "client/s3/s3_xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

static int name_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* Parse with the safe options; NULL on any error or a DTD. */
static xmlDoc *safe_parse(const char *p, size_t n, const char *root)
{
	if (n == 0 || n > S3_XML_MAX_BYTES)
		return NULL;
	xmlDoc *doc = xmlReadMemory(p, (int)n, "body.xml", NULL,
	                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	                            XML_PARSE_NOCDATA);
	if (!doc)
		return NULL;
	xmlNode *r = xmlDocGetRootElement(doc);
	if (doc->intSubset || doc->extSubset || !r || !name_is(r, root)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

/* Text content of an element's children, or NULL if it has any child
 * element or an entity reference (which we never expand). */
static int elem_text(const xmlNode *e, char *out, size_t cap)
{
	size_t len = 0;
	for (const xmlNode *c = e->children; c; c = c->next) {
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
			size_t l = strlen((const char *)c->content);
			if (len + l >= cap)
				return -E2BIG;
			memcpy(out + len, c->content, l);
			len += l;
		} else if (c->type == XML_COMMENT_NODE) {
			continue;
		} else {
			return -EINVAL;
		}
	}
	out[len] = 0;
	return 0;
}

int s3_xml_parse_complete(const char *p, size_t n, struct s3_xml_part **parts, size_t *count)
{
	*parts = NULL;
	*count = 0;
	xmlDoc *doc = safe_parse(p, n, "CompleteMultipartUpload");
	if (!doc)
		return -EINVAL;
	int err = 0;
	size_t cap = 0, cnt = 0;
	struct s3_xml_part *arr = NULL;
	for (xmlNode *c = xmlDocGetRootElement(doc)->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!name_is(c, "Part")) {
			err = -EINVAL;
			goto out;
		}
		if (cnt == S3_MAX_PARTS) {
			err = -E2BIG;
			goto out;
		}
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct s3_xml_part *na = realloc(arr, nc * sizeof(*arr));
			if (!na) {
				err = -ENOMEM;
				goto out;
			}
			arr = na;
			cap = nc;
		}
		struct s3_xml_part *pt = &arr[cnt];
		memset(pt, 0, sizeof(*pt));
		int have = 0;
		for (xmlNode *f = c->children; f; f = f->next) {
			char buf[128];
			if (f->type != XML_ELEMENT_NODE)
				continue;
			if (elem_text(f, buf, sizeof(buf))) {
				if (!name_is(f, "PartNumber") && !name_is(f, "ETag"))
					continue;   /* checksum fields etc. may be long */
				err = -EINVAL;
				goto out;
			}
			if (name_is(f, "PartNumber")) {
				char *end;
				long v = strtol(buf, &end, 10);
				if (end == buf || *end || v < 1 || v > S3_MAX_PARTS) {
					err = -EINVAL;
					goto out;
				}
				pt->number = (int)v;
				have |= 1;
			} else if (name_is(f, "ETag")) {
				char *s = buf;
				size_t l = strlen(s);
				/* Clients send the ETag quoted, sometimes as &quot;. */
				if (l >= 2 && s[0] == '"' && s[l - 1] == '"') {
					s[l - 1] = 0;
					s++;
				}
				if (strlen(s) >= sizeof(pt->etag)) {
					err = -EINVAL;
					goto out;
				}
				memcpy(pt->etag, s, strlen(s) + 1);
				have |= 2;
			}
		}
		if (have != 3) {
			err = -EINVAL;
			goto out;
		}
		cnt++;
	}
	if (cnt == 0)
		err = -EINVAL;
out:
	xmlFreeDoc(doc);
	if (err) {
		free(arr);
		return err;
	}
	*parts = arr;
	*count = cnt;
	return 0;
}

void s3_xml_free_keys(char **keys, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(keys[i]);
	free(keys);
}

int s3_xml_parse_delete(const char *p, size_t n, char ***keys, size_t *count, int *quiet)
{
	*keys = NULL;
	*count = 0;
	*quiet = 0;
	xmlDoc *doc = safe_parse(p, n, "Delete");
	if (!doc)
		return -EINVAL;
	int err = 0;
	size_t cnt = 0;
	char **arr = calloc(S3_MAX_DELETE_KEYS, sizeof(char *));
	char *buf = malloc(S3_MAX_KEY_BYTES + 1);
	if (!arr || !buf) {
		err = -ENOMEM;
		goto out;
	}
	for (xmlNode *c = xmlDocGetRootElement(doc)->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (name_is(c, "Quiet")) {
			char q[16];
			if (elem_text(c, q, sizeof(q))) {
				err = -EINVAL;
				goto out;
			}
			*quiet = !strcmp(q, "true");
			continue;
		}
		if (!name_is(c, "Object")) {
			err = -EINVAL;
			goto out;
		}
		if (cnt == S3_MAX_DELETE_KEYS) {
			err = -E2BIG;
			goto out;
		}
		int have = 0;
		for (xmlNode *f = c->children; f; f = f->next) {
			if (!name_is(f, "Key"))
				continue;
			if (have || elem_text(f, buf, S3_MAX_KEY_BYTES + 1) || !buf[0]) {
				err = -EINVAL;
				goto out;
			}
			arr[cnt] = strdup(buf);
			if (!arr[cnt]) {
				err = -ENOMEM;
				goto out;
			}
			have = 1;
		}
		if (!have) {
			err = -EINVAL;
			goto out;
		}
		cnt++;
	}
	if (cnt == 0)
		err = -EINVAL;
out:
	free(buf);
	xmlFreeDoc(doc);
	if (err) {
		/* arr[cnt] may hold a key of the Object that failed. */
		if (arr)
			s3_xml_free_keys(arr, cnt < S3_MAX_DELETE_KEYS ? cnt + 1 : cnt);
		*quiet = 0;
		return err;
	}
	*keys = arr;
	*count = cnt;
	return 0;
}

int s3_xml_parse_location(const char *p, size_t n, char *loc, size_t cap)
{
	xmlDoc *doc = safe_parse(p, n, "CreateBucketConfiguration");
	if (!doc)
		return -EINVAL;
	int err = 0;
	loc[0] = 0;
	for (xmlNode *c = xmlDocGetRootElement(doc)->children; c; c = c->next) {
		if (!name_is(c, "LocationConstraint"))
			continue;
		if (elem_text(c, loc, cap)) {
			err = -EINVAL;
			break;
		}
	}
	xmlFreeDoc(doc);
	return err;
}

int s3_xml_parse_tagging(const char *p, size_t n, struct s3_tag *tags, size_t max, size_t *count)
{
	*count = 0;
	xmlDoc *doc = safe_parse(p, n, "Tagging");
	if (!doc)
		return -EINVAL;
	int err = 0;
	size_t cnt = 0;
	int have_set = 0;
	for (xmlNode *s = xmlDocGetRootElement(doc)->children; s; s = s->next) {
		if (s->type != XML_ELEMENT_NODE)
			continue;
		if (!name_is(s, "TagSet") || have_set) {
			err = -EINVAL;
			goto out;
		}
		have_set = 1;
		for (xmlNode *t = s->children; t; t = t->next) {
			if (t->type != XML_ELEMENT_NODE)
				continue;
			if (!name_is(t, "Tag")) {
				err = -EINVAL;
				goto out;
			}
			if (cnt == max) {
				err = -E2BIG;
				goto out;
			}
			int have = 0;
			for (xmlNode *f = t->children; f; f = f->next) {
				if (name_is(f, "Key")) {
					if (elem_text(f, tags[cnt].key, sizeof(tags[cnt].key)) ||
					    !tags[cnt].key[0]) {
						err = -EINVAL;
						goto out;
					}
					have |= 1;
				} else if (name_is(f, "Value")) {
					if (elem_text(f, tags[cnt].value, sizeof(tags[cnt].value))) {
						err = -EINVAL;
						goto out;
					}
					have |= 2;
				}
			}
			if (have != 3) {
				err = -EINVAL;
				goto out;
			}
			for (size_t i = 0; i < cnt; i++)
				if (!strcmp(tags[i].key, tags[cnt].key)) {
					err = -EINVAL;
					goto out;
				}
			cnt++;
		}
	}
	if (!have_set)
		err = -EINVAL;
out:
	xmlFreeDoc(doc);
	if (!err)
		*count = cnt;
	return err;
}
