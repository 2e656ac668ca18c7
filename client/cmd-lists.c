/*
 * cmd-lists.c: massagectl's commands that list what the daemon offers:
 * programs with their steps, client profiles with their limits and
 * refusals (page by page, or a search by name), routine plugins with
 * their parameters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "strings.h"
#include "massagectl.h"

#define PROFILES_PAGE	100	/* the API's most */

int
cmd_programs(struct client *x, int argc, char **argv)
{
	json_t		*doc, *p, *s, *z;
	size_t		 i, j, k;
	char		 a[32], zones[512];
	struct str_list	 zl;
	int		 rc;

	if ((rc = client_call(x, "GET", "/api/v1/programs", NULL, &doc)) !=
	    EXIT_OK)
		return (rc);
	if (x->json)
		goto out;
	json_array_foreach(json_object_get(doc, "programs"), i, p) {
		fprintf(stdout, "%s%s  %s (%s)\n", i > 0 ? "\n" : "",
		    client_str(p, "id"), client_str(p, "name"),
		    str_duration(client_num(p, "duration_s"), a, sizeof(a)));
		json_array_foreach(json_object_get(p, "steps"), j, s) {
			str_list_init(&zl, zones, sizeof(zones));
			json_array_foreach(json_object_get(s, "zones"), k, z)
				str_list_add(&zl, 0, "%s",
				    json_string_value(z));
			fprintf(stdout, "  %2zu. %-16s %-14s %7s  %s\n", j + 1,
			    client_str(s, "name"), client_str(s, "routine"),
			    str_duration(client_num(s, "duration_s"), a,
			    sizeof(a)), zones);
		}
	}
out:
	json_decref(doc);
	return (EXIT_OK);
}

static void
cmd_profile_line(json_t *p, int first)
{
	json_t		*c, *refusals, *v;
	const char	*key;
	size_t		 j;

	fprintf(stdout, "%s%s  %s\n", first ? "" : "\n", client_str(p, "id"),
	    client_str(p, "name"));
	if (json_object_get(p, "cap_kpa") == NULL)
		return;			/* a viewer's: the id alone */
	fprintf(stdout, "  limits: %.1f kPa, ramp %.1f kPa/s, up to %.0f min, "
	    "intensity %lld%%\n", client_num(p, "cap_kpa"),
	    client_num(p, "ramp_kpa_s"), client_num(p, "max_session_min"),
	    (long long)json_integer_value(json_object_get(p, "intensity")));
	if (json_array_size(json_object_get(p, "conditions")) == 0)
		fprintf(stdout, "  conditions: none\n");
	json_array_foreach(json_object_get(p, "conditions"), j, c)
		fprintf(stdout, "  condition %s: %s\n", client_str(c, "name"),
		    client_str(c, "reason"));
	refusals = json_object_get(p, "refusals");
	json_object_foreach(refusals, key, v)
		fprintf(stdout, "  REFUSES %s: %s\n", key,
		    json_string_value(v));
}

/*
 * Every profile, or those whose name or id contains SEARCH, page by page
 * (next_cursor); printed as they come, or (--json) as one document.
 */
/* What cmd_profiles() keeps between pages. */
struct profiles_out {
	json_t	*all;		/* --json: every profile */
	size_t	 n;
};

static void
cmd_profiles_one(json_t *p, void *arg)
{
	struct profiles_out	*o = arg;

	if (o->all != NULL)
		json_array_append(o->all, p);
	else
		cmd_profile_line(p, o->n == 0);
	o->n++;
}

int
cmd_profiles(struct client *x, int argc, char **argv)
{
	struct profiles_out	 o = { NULL, 0 };
	json_t			*doc;
	char			 base[512], *q = NULL;
	int			 rc, json = x->json;

	if (argc > 0 && strlen(argv[0]) > 95)
		return (client_usage_error("profiles: SEARCH is %zu bytes, at "
		    "most 95", strlen(argv[0])));
	if (argc > 0 && (q = evhttp_encode_uri(argv[0])) == NULL) {
		fprintf(stderr, "massagectl: out of memory\n");
		return (EXIT_TRANSPORT);
	}
	if (json)
		o.all = json_array();
	x->json = 0;		/* printed once, below */
	snprintf(base, sizeof(base), "/api/v1/profiles?limit=%d%s%s",
	    PROFILES_PAGE, q != NULL ? "&q=" : "", q != NULL ? q : "");
	rc = client_pages(x, base, "profiles", cmd_profiles_one, &o);
	free(q);
	x->json = json;
	if (rc == EXIT_OK && json) {
		doc = json_object();
		json_object_set_new(doc, "profiles", json_incref(o.all));
		json_dumpf(doc, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(doc);
	} else if (rc == EXIT_OK && o.n == 0)
		fprintf(stdout, "%s\n", argc > 0 ? "no profile matches" :
		    "no profiles");
	json_decref(o.all);
	return (rc);
}

int
cmd_routines(struct client *x, int argc, char **argv)
{
	json_t	*doc, *r, *p, *f;
	size_t	 i, j;
	char	 range[64], def[64];
	int	 rc;

	if ((rc = client_call(x, "GET", "/api/v1/routines", NULL, &doc)) !=
	    EXIT_OK)
		return (rc);
	if (x->json)
		goto out;
	json_array_foreach(json_object_get(doc, "routines"), i, r) {
		fprintf(stdout, "%s%s %s%s\n  %s\n", i > 0 ? "\n" : "",
		    client_str(r, "name"), client_str(r, "version"),
		    json_array_size(json_object_get(r, "flags")) > 0 ?
		    " (focused: never on endangerment sites)" : "",
		    client_str(r, "description"));
		json_array_foreach(json_object_get(r, "params"), j, p) {
			f = json_object_get(p, "default");
			if (json_is_string(f))
				snprintf(def, sizeof(def), "%s",
				    json_string_value(f));
			else if (json_is_boolean(f))
				snprintf(def, sizeof(def), "%s",
				    json_is_true(f) ? "yes" : "no");
			else
				snprintf(def, sizeof(def), "%g",
				    json_number_value(f));
			if (json_is_array(json_object_get(p, "choices")))
				snprintf(range, sizeof(range), "choice");
			else if (strcmp(client_str(p, "type"), "bool") == 0)
				snprintf(range, sizeof(range), "yes/no");
			else
				snprintf(range, sizeof(range), "%g..%g %s",
				    client_num(p, "min"), client_num(p, "max"),
				    client_str(p, "unit"));
			fprintf(stdout, "  %-18s %-10s %-22s %s\n",
			    client_str(p, "name"), def, range,
			    client_str(p, "help"));
		}
	}
out:
	json_decref(doc);
	return (EXIT_OK);
}
