/*
 * cmd-erase.c: massagectl erase, the erasure of a client (DELETE
 * /api/v1/profiles/ID: the profile, and in the session records everything
 * the client's conditions decided), or of every client of the table
 * (--all --yes: each writable profile in turn, as the API erases one; the
 * profiles of the configuration directory are read-only and named).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "massagectl.h"

#define ERASE_PAGE	100	/* the API's most */

static int	 erase_one(struct client *, const char *, json_t *);
static void	 erase_sort(json_t *, void *);
static int	 erase_list(struct client *, json_t *, json_t *);

/* DELETE one profile; its error (the API's code) into refused if any. */
static int
erase_one(struct client *x, const char *id, json_t *refused)
{
	char	 path[512], *e;
	int	 rc;

	if ((e = evhttp_encode_uri(id)) == NULL) {
		fprintf(stderr, "massagectl: out of memory\n");
		return (EXIT_TRANSPORT);
	}
	snprintf(path, sizeof(path), "/api/v1/profiles/%s", e);
	free(e);
	rc = client_call(x, "DELETE", path, NULL, NULL);
	if (rc != EXIT_OK && refused != NULL)
		json_array_append_new(refused, json_string(id));
	return (rc);
}

/* A profile's id: a writable one into ids[0], the others into ids[1]. */
static void
erase_sort(json_t *p, void *arg)
{
	json_t	**ids = arg;

	json_array_append(ids[json_is_true(json_object_get(p, "writable")) ?
	    0 : 1], json_object_get(p, "id"));
}

/* Every profile's id, writable ones into ids, the others into kept. */
static int
erase_list(struct client *x, json_t *ids, json_t *kept)
{
	json_t	*both[2] = { ids, kept };
	char	 base[64];

	snprintf(base, sizeof(base), "/api/v1/profiles?limit=%d", ERASE_PAGE);
	return (client_pages(x, base, "profiles", erase_sort, both));
}

int
cmd_erase(struct client *x, int argc, char **argv)
{
	json_t		*ids, *kept, *refused, *id, *doc;
	size_t		 i;
	int		 rc, json = x->json;

	if (argc == 1 && !x->every) {
		if ((rc = erase_one(x, argv[0], NULL)) == EXIT_OK && !json)
			printf("%s erased\n", argv[0]);
		return (rc);
	}
	if (argc != 0 || !x->every)
		return (client_usage_error("usage: massagectl [options] erase "
		    "PROFILE | erase --all --yes"));
	if (!x->yes)
		return (client_usage_error("erase --all erases every client of "
		    "the table: their profiles, and in their session records "
		    "everything their conditions decided; nothing was erased. "
		    "Add --yes to do it"));
	ids = json_array();
	kept = json_array();
	refused = json_array();
	x->json = 0;		/* one summary, below */
	if ((rc = erase_list(x, ids, kept)) == EXIT_OK)
		json_array_foreach(ids, i, id) {
			int r = erase_one(x, json_string_value(id), refused);

			if (r != EXIT_OK && rc == EXIT_OK)
				rc = r;
		}
	x->json = json;
	if (json) {
		doc = json_pack("{s:I,s:O,s:O}", "erased", (json_int_t)
		    (json_array_size(ids) - json_array_size(refused)),
		    "not_erased", refused, "read_only", kept);
		json_dumpf(doc, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(doc);
	} else {
		printf("%zu of %zu clients erased\n", json_array_size(ids) -
		    json_array_size(refused), json_array_size(ids));
		json_array_foreach(refused, i, id)
			printf("NOT erased: %s (above: why)\n",
			    json_string_value(id));
		json_array_foreach(kept, i, id)
			printf("read-only, not erased: %s (a file of the "
			    "configuration directory: remove it there)\n",
			    json_string_value(id));
	}
	json_decref(ids);
	json_decref(kept);
	json_decref(refused);
	return (rc);
}
