/*
 * config.c: loads the table, the contraindication rules, the client
 * profiles and the programs as one configuration. Every file is read and
 * every error reported before the verdict, so a person fixing a config sees
 * all of them at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct table *
config_load_table_any(const char *path, char *const *overrides,
    int noverrides, struct inifile_errors *errs)
{
	struct table	*t;
	int		 i;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		inifile_errors_add(errs, "%s: out of memory", path);
		return (NULL);
	}
	table_load(t, path, errs);
	for (i = 0; i < noverrides; i++)
		table_override(t, overrides[i], errs);
	return (t);
}

struct table *
config_load_table(const char *path, char *const *overrides, int noverrides,
    struct inifile_errors *errs)
{
	struct table	*t;
	int		 before = errs->count;

	t = config_load_table_any(path, overrides, noverrides, errs);
	if (t != NULL && errs->count != before) {
		free(t);
		return (NULL);
	}
	return (t);
}

int
config_profile_store_dir(const struct table *t, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", t->state_dir,
	    CONFIG_PROFILES_WRITABLE) >= len)
		return (-1);
	return (0);
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
	int	 before = errs->count;

	return (config_load_rest(config_load_table_any(path, overrides,
	    noverrides, errs), routines, errs, before));
}

struct config *
config_load_rest(struct table *t, const struct routine_set *routines,
    struct inifile_errors *errs, int before)
{
	struct config	*c;
	char		 dir[PATH_MAX];

	if (t == NULL)
		return (NULL);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		inifile_errors_add(errs, "%s: out of memory", t->path);
		free(t);
		return (NULL);
	}
	c->table = t;
	rules_load(&c->rules, c->table->rules_path, errs);
	config_check_forbid(&c->rules, routines, errs);
	profiles_load(&c->profiles, c->table->profile_dir, c->table, &c->rules,
	    errs);
	if (config_profile_store_dir(c->table, dir, sizeof(dir)) == -1)
		inifile_errors_add(errs, "%s: state_dir too long",
		    c->table->state_dir);
	else if (errs->count == before)
		profiles_add_dir(&c->profiles, dir, c->table, &c->rules, errs);
	intake_load(&c->intake, c->table->intake_path, c->table, errs);
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
