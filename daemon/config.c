/*
 * config.c: loads the table, the contraindication rules, the client
 * profiles and the programs as one configuration. Every file is read and
 * every error reported before the verdict, so a person fixing a config sees
 * all of them at once.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct table *
config_load_table(const char *path, char *const *overrides, int noverrides,
    struct inifile_errors *errs)
{
	struct table	*t;
	int		 i, n;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		inifile_errors_add(errs, "%s: out of memory", path);
		return (NULL);
	}
	n = table_load(t, path, errs);
	for (i = 0; i < noverrides; i++)
		n += table_override(t, overrides[i], errs);
	if (n != 0) {
		free(t);
		return (NULL);
	}
	return (t);
}

/* A misspelt routine name in forbid_routines would forbid nothing. One
 * whose plugin file was refused is not misspelt: nothing can run it. */
static void
config_check_forbid(const struct rules *r, const struct routine_set *routines,
    struct inifile_errors *errs)
{
	char	 why[1024];
	int	 i, j;

	for (i = 0; i < r->n; i++) {
		const struct rule *ru = &r->rules[i];

		for (j = 0; j < ru->nforbid; j++)
			if (routines_find(routines, ru->forbid[j]) == NULL &&
			    routines_refusal(routines, ru->forbid[j], why,
			    sizeof(why)) == NULL)
				inifile_err_at(errs, r->path, ru->line, ru->name,
				    "forbid_routines", "no routine named '%s' "
				    "is loaded", ru->forbid[j]);
	}
}

struct config *
config_load(const char *path, char *const *overrides, int noverrides,
    const struct routine_set *routines, struct inifile_errors *errs)
{
	struct config	*c;
	int		 before = errs->count;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		inifile_errors_add(errs, "%s: out of memory", path);
		return (NULL);
	}
	if ((c->table = config_load_table(path, overrides, noverrides,
	    errs)) == NULL) {
		free(c);
		return (NULL);
	}
	rules_load(&c->rules, c->table->rules_path, errs);
	config_check_forbid(&c->rules, routines, errs);
	profiles_load(&c->profiles, c->table->profile_dir, c->table, &c->rules,
	    errs);
	programs_load(&c->programs, c->table->program_dir, routines, c->table,
	    errs);
	if (errs->count != before) {
		config_free(c);
		return (NULL);
	}
	return (c);
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	programs_free(&c->programs);
	profiles_free(&c->profiles);
	rules_free(&c->rules);
	free(c->table);
	free(c);
}
