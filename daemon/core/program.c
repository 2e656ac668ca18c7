/*
 * program.c: loads programs (config/programs/NAME.ini), chains of routine
 * steps on table zones, and checks them against the loaded routines and the
 * table.
 *
 * Routine parameters may come before the routine key in a step, so they are
 * kept as text while the file is read and checked afterwards, with the line
 * they came from. Every error is reported, then the file is left out. A
 * step that passes every check is also tried: an instance of its routine is
 * created with its settings and destroyed (in the routine's worker), so
 * whatever the routine itself refuses (a duration too short for its
 * points, a contact above its pressure) is found by "massaged -n", not
 * when a client is on the table.
 *
 * A program whose routine was refused (its file did not load) or whose
 * routine's worker fails while a step is tried is kept but marked
 * unavailable, with the reason: one broken plugin disables only the
 * programs that use it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "parse.h"
#include "program.h"
#include "strings.h"

#define PROGRAM_STEP_KEYS	48	/* routine parameters and mistakes */
#define PROGRAM_VALUE_LEN	128
#define PROGRAM_MIN_S		1.0
#define PROGRAM_MAX_S		3600.0
#define PROGRAM_ZONE_CHARS	"abcdefghijklmnopqrstuvwxyz0123456789_*?[]"

enum program_sect {
	SECT_NONE,
	SECT_PROGRAM,
	SECT_STEP,
	SECT_BAD
};

struct program_kv {
	char	 key[64];
	char	 value[PROGRAM_VALUE_LEN];
	int	 line;
};

/* What one [step NAME] said, before it can be checked. */
struct program_stepq {
	char			 routine[64];
	int			 routine_line;
	int			 duration_line;
	const char		*duration_key;
	int			 zones_line;
	int			 nkv;
	struct program_kv	 kv[PROGRAM_STEP_KEYS];
};

struct program_parse {
	struct program			*p;
	const struct routine_set	*routines;
	const struct table		*t;
	enum program_sect		 sect;
	int				 program_line;
	int				 have_name;
	struct program_stepq		 q[PROGRAM_MAX_STEPS];
};

static int	program_section(struct inifile_file *, const char *);
static int	program_kv(struct inifile_file *, const char *, const char *,
		    const char *);
static void	program_kv_step(struct inifile_file *, struct program_parse *,
		    const char *, const char *);
static void	program_zones(struct inifile_file *, const struct table *,
		    struct program_step *, const char *, const char *);
static void	program_zone_list(const struct table *, char *, size_t);
static void	program_routine_list(const struct routine_set *, char *,
		    size_t);
static void	program_param_list(const struct massaged_routine *, char *,
		    size_t);
static void	program_check(struct program_parse *, struct inifile_errors *);
static void	program_check_step(struct program_parse *, int,
		    struct inifile_errors *);
static void	program_try_step(struct program_parse *, int, const char *,
		    struct inifile_errors *);
static int	program_load(struct program_set *, const char *dir,
		    const char *file, const struct routine_set *,
		    const struct table *, struct inifile_errors *);
static int	program_cmp(const void *, const void *);
static int	program_id_cmp(const void *, const void *);

static int
program_section(struct inifile_file *f, const char *section)
{
	struct program_parse	*pp = f->user;
	struct program		*p = pp->p;
	struct program_step	*st;
	const char		*name;
	int			 i;

	pp->sect = SECT_BAD;
	if (strcmp(section, "program") == 0) {
		if (pp->program_line != 0) {
			inifile_err(f, NULL, "given twice (first at line %d)",
			    pp->program_line);
			return (1);
		}
		pp->program_line = f->line;
		pp->sect = SECT_PROGRAM;
		return (1);
	}
	if (strcmp(section, "step") == 0) {
		inifile_err(f, NULL, "a step needs a name (expected [step NAME], "
		    "such as [step warmup])");
		return (1);
	}
	if (strncmp(section, "step ", 5) != 0) {
		inifile_err(f, NULL, "unknown section (expected [program] or "
		    "[step NAME])");
		return (1);
	}
	name = section + 5;
	while (*name == ' ')
		name++;
	if (!inifile_name_ok(name, NAME_LEN)) {
		inifile_err(f, NULL, "name '%s' is not valid (expected 1 to %d "
		    "characters of [a-z0-9_], such as warmup)", name,
		    NAME_LEN - 1);
		return (1);
	}
	for (i = 0; i < p->nsteps; i++) {
		if (strcmp(p->steps[i].name, name) == 0) {
			inifile_err(f, NULL, "given twice (first at line %d)",
			    p->steps[i].line);
			return (1);
		}
	}
	if (p->nsteps == PROGRAM_MAX_STEPS) {
		inifile_err(f, NULL, "too many steps (at most %d)",
		    PROGRAM_MAX_STEPS);
		return (1);
	}
	st = &p->steps[p->nsteps++];
	snprintf(st->name, sizeof(st->name), "%s", name);
	st->line = f->line;
	pp->sect = SECT_STEP;
	return (1);
}

/* "a, b, c ..." of the table's zones, cut short to fit. */
static void
program_zone_list(const struct table *t, char *buf, size_t len)
{
	struct str_list	 l;
	int		 i;

	str_list_init(&l, buf, len);
	for (i = 0; i < t->nzones; i++)
		str_list_add(&l, 0, "%s", t->zones[i].name);
}

static void
program_routine_list(const struct routine_set *rs, char *buf, size_t len)
{
	struct str_list	 l;
	int		 i;

	str_list_init(&l, buf, len);
	for (i = 0; i < rs->n; i++)
		str_list_add(&l, i == rs->n - 1, "%s", rs->libs[i].desc->name);
}

static void
program_param_list(const struct massaged_routine *d, char *buf, size_t len)
{
	struct str_list	 l;
	size_t		 i;

	str_list_init(&l, buf, len);
	for (i = 0; i < d->n_params; i++)
		str_list_add(&l, i == d->n_params - 1, "%s",
		    d->params[i].name);
}

/* Names and globs, in order, each zone once. */
static void
program_zones(struct inifile_file *f, const struct table *t,
    struct program_step *st, const char *k, const char *v)
{
	char	 list[512], zl[512];
	char	*p, *e, *item;
	int	 i, j, matched, glob, pos = 0;

	st->nzones = 0;
	if (inifile_str(f, k, v, st->zones_spec, sizeof(st->zones_spec)) == -1)
		return;
	snprintf(list, sizeof(list), "%s", v);
	for (p = list; p != NULL; p = e) {
		if ((e = strchr(p, ',')) != NULL)
			*e++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
		item = p;
		pos++;
		for (i = (int)strlen(item); i > 0 &&
		    isspace((unsigned char)item[i - 1]); i--)
			item[i - 1] = '\0';
		if (item[0] == '\0') {
			inifile_err(f, k, "empty entry in the list (expected zone "
			    "names or globs separated by commas)");
			continue;
		}
		glob = strpbrk(item, "*?[") != NULL;
		matched = 0;
		for (i = 0; i < t->nzones; i++) {
			if (glob ? fnmatch(item, t->zones[i].name, 0) != 0 :
			    strcmp(item, t->zones[i].name) != 0)
				continue;
			matched++;
			for (j = 0; j < st->nzones; j++)
				if (st->zones[j] == i)
					break;
			if (j == st->nzones)
				st->zones[st->nzones++] = i;
		}
		if (matched == 0) {
			program_zone_list(t, zl, 400);
			/* Quoted only if it can be a name, never as text. */
			if (strspn(item, PROGRAM_ZONE_CHARS) != strlen(item) ||
			    strlen(item) >= NAME_LEN)
				inifile_err(f, k, "entry %d is not a zone name "
				    "or glob (expected one of: %s)", pos, zl);
			else
				inifile_err(f, k, "%s '%s' %s (expected one "
				    "of: %s)", glob ? "glob" : "zone", item,
				    glob ? "matches no zone of the table" :
				    "is not a zone of the table", zl);
		}
	}
}

static void
program_kv_step(struct inifile_file *f, struct program_parse *pp, const char *k,
    const char *v)
{
	struct program		*p = pp->p;
	struct program_step	*st = &p->steps[p->nsteps - 1];
	struct program_stepq	*q = &pp->q[p->nsteps - 1];
	struct program_kv	*kv;

	if (strcmp(k, "routine") == 0) {
		if (inifile_str(f, k, v, q->routine, sizeof(q->routine)) == 0)
			q->routine_line = f->line;
	} else if (strcmp(k, "duration_s") == 0 ||
	    strcmp(k, "duration") == 0) {
		if (q->duration_line != 0) {
			inifile_err(f, k, "the step already has %s at line %d "
			    "(expected duration or duration_s, not both)",
			    q->duration_key, q->duration_line);
			return;
		}
		q->duration_line = f->line;
		q->duration_key = strcmp(k, "duration") == 0 ? "duration" :
		    "duration_s";
		if (strcmp(k, "duration_s") == 0)
			inifile_double(f, k, v, PROGRAM_MIN_S, PROGRAM_MAX_S, "s",
			    &st->duration_s);
		else if (parse_duration(v, PROGRAM_MIN_S, PROGRAM_MAX_S,
		    &st->duration_s) == -1)
			inifile_err(f, k, "not valid (expected a time from 1 s "
			    "to 60 min, such as 90s, 300 or 5min)");
	} else if (strcmp(k, "zones") == 0) {
		q->zones_line = f->line;
		program_zones(f, pp->t, st, k, v);
	} else {
		/* A routine parameter, or a mistake: checked later. */
		if (q->nkv == PROGRAM_STEP_KEYS) {
			inifile_err(f, k, "too many keys in one step (at most %d)",
			    PROGRAM_STEP_KEYS);
			return;
		}
		if (strlen(k) >= sizeof(kv->key)) {
			inifile_err(f, k, "unknown key (too long to be a parameter)");
			return;
		}
		if (strlen(v) >= sizeof(kv->value)) {
			inifile_err(f, k, "too long (at most %zu characters)",
			    sizeof(kv->value) - 1);
			return;
		}
		kv = &q->kv[q->nkv++];
		snprintf(kv->key, sizeof(kv->key), "%s", k);
		snprintf(kv->value, sizeof(kv->value), "%s", v);
		kv->line = f->line;
	}
}

static int
program_kv(struct inifile_file *f, const char *section, const char *k,
    const char *v)
{
	struct program_parse	*pp = f->user;
	struct program		*p = pp->p;

	switch (pp->sect) {
	case SECT_PROGRAM:
		if (strcmp(k, "name") == 0) {
			if (inifile_str(f, k, v, p->name, sizeof(p->name)) == 0)
				pp->have_name = 1;
		} else if (strcmp(k, "description") == 0)
			inifile_str(f, k, v, p->description,
			    sizeof(p->description));
		else
			inifile_err(f, k, "unknown key (expected name or "
			    "description)");
		break;
	case SECT_STEP:
		program_kv_step(f, pp, k, v);
		break;
	default:
		break;	/* the section itself was reported */
	}
	(void)section;
	return (1);
}

/* One step, once the whole file is read. */
static void
program_check_step(struct program_parse *pp, int i, struct inifile_errors *errs)
{
	struct program			*p = pp->p;
	struct program_step		*st = &p->steps[i];
	struct program_stepq		*q = &pp->q[i];
	const struct massaged_routine	*d = NULL;
	const struct zone_conf		*z;
	char				 sect[NAME_LEN + 8], list[512];
	char				 why[512];
	struct str_list			 sl;
	size_t				 n;
	int				 j, ne, idx, before = errs->count;

	snprintf(sect, sizeof(sect), "step %s", st->name);
	snprintf(st->routine_name, sizeof(st->routine_name), "%s", q->routine);
	program_routine_list(pp->routines, list, sizeof(list));
	if (q->routine_line != 0 && routines_find(pp->routines,
	    q->routine) == NULL && routines_refusal(pp->routines, q->routine,
	    why, sizeof(why)) != NULL) {
		/* Perhaps the refused file: the program waits for it. */
		if (p->unavailable[0] == '\0')
			snprintf(p->unavailable, sizeof(p->unavailable), "step "
			    "%s: %.400s", st->name, why);
		return;
	}
	if (q->routine_line == 0)
		inifile_err_at(errs, p->path, st->line, sect, "routine", "missing "
		    "(expected %s%s)", pp->routines->n > 0 ? "one of: " :
		    "a routine, but none is loaded", list);
	else if ((d = routines_find(pp->routines, q->routine)) == NULL)
		inifile_err_at(errs, p->path, q->routine_line, sect, "routine",
		    "no routine named '%s' is loaded (%s%s)", q->routine,
		    pp->routines->n > 0 ? "loaded: " : "none is loaded: check "
		    "plugin_dir", list);
	if (q->duration_line == 0)
		inifile_err_at(errs, p->path, st->line, sect, "duration_s",
		    "missing (expected the step's length in seconds, or "
		    "duration = 5min)");
	if (q->zones_line == 0)
		inifile_err_at(errs, p->path, st->line, sect, "zones", "missing "
		    "(expected zone names or globs, such as piriformis_*)");
	st->routine = d;
	if (d == NULL)
		return;		/* its parameters cannot be checked */

	for (n = 0; n < d->n_params; n++)
		st->params[n] = d->params[n].def;
	for (j = 0; j < q->nkv; j++) {
		if ((idx = routine_param_find(d, q->kv[j].key)) == -1) {
			program_param_list(d, list, sizeof(list));
			inifile_err_at(errs, p->path, q->kv[j].line, sect,
			    q->kv[j].key, "unknown key (expected routine, "
			    "duration_s, zones or a parameter of %s: %s)",
			    d->name, d->n_params > 0 ? list : "it has none");
			continue;
		}
		if (routine_param_parse(&d->params[idx], q->kv[j].value,
		    &st->params[idx], why, sizeof(why)) == -1)
			inifile_err_at(errs, p->path, q->kv[j].line, sect,
			    q->kv[j].key, "%s", why);
	}

	/* Focused work is never allowed on an endangerment site. */
	str_list_init(&sl, list, sizeof(list));
	for (j = 0, ne = 0; j < st->nzones; j++) {
		z = &pp->t->zones[st->zones[j]];
		if (!z->endangerment || !(d->flags & MASSAGED_ROUTINE_FOCUSED))
			continue;
		str_list_add(&sl, 0, "%s", z->name);
		ne++;
	}
	if (ne > 0)
		inifile_err_at(errs, p->path, q->zones_line, sect, "zones",
		    "%s %s, where %s (focused: sustained or deep pressure) is "
		    "never allowed (expected zones that are not endangerment "
		    "sites)", list, ne == 1 ? "is an endangerment site" :
		    "are endangerment sites", d->name);

	if (errs->count == before && st->nzones > 0)
		program_try_step(pp, i, sect, errs);
}

/* Tries step i in its routine, so the routine's own refusals show up now
 * (core/routine-set.h: in the routine's worker). */
static void
program_try_step(struct program_parse *pp, int i, const char *sect,
    struct inifile_errors *errs)
{
	struct program			*p = pp->p;
	const struct program_step	*st = &p->steps[i];
	const struct massaged_routine	*d = st->routine;
	struct massaged_zone		 zs[TABLE_MAX_ZONES];
	const struct zone_conf		*z;
	char				 why[512];
	int				 j, rc;

	for (j = 0; j < st->nzones; j++) {
		z = &pp->t->zones[st->zones[j]];
		zs[j].name = z->name;
		zs[j].along_cm = z->along_cm;
		zs[j].across_cm = z->across_cm;
		zs[j].limit_kpa = z->limit_kpa;
		zs[j].endangerment = z->endangerment;
	}
	rc = routines_check(pp->routines, d, st->params, zs,
	    (size_t)st->nzones, st->duration_s, why, sizeof(why));
	if (rc == -1)
		inifile_err_at(errs, p->path, st->line, sect, NULL, "routine %s "
		    "refuses these settings: %s", d->name, why);
	else if (rc == -2 && p->unavailable[0] == '\0') {
		snprintf(p->unavailable, sizeof(p->unavailable), "step %s: "
		    "routine %s: %.400s", st->name, d->name, why);
		log_warnx("%s: program unavailable: %s", p->path,
		    p->unavailable);
	}
}

/* Checks that need the whole file. */
static void
program_check(struct program_parse *pp, struct inifile_errors *errs)
{
	struct program	*p = pp->p;
	int		 i;

	if (pp->program_line == 0)
		inifile_err_at(errs, p->path, 1, NULL, NULL, "no [program] section "
		    "(expected [program] with name = and description =)");
	else if (!pp->have_name)
		inifile_err_at(errs, p->path, pp->program_line, "program", "name",
		    "missing (expected a name for people, such as Piriformis "
		    "syndrome relief)");
	if (p->nsteps == 0)
		inifile_err_at(errs, p->path, pp->program_line > 0 ?
		    pp->program_line : 1, NULL, NULL, "no [step NAME] section "
		    "(a program needs at least one step)");
	p->total_s = 0;
	for (i = 0; i < p->nsteps; i++) {
		program_check_step(pp, i, errs);
		p->total_s += p->steps[i].duration_s;
	}
}

static int
program_load(struct program_set *set, const char *dir, const char *file,
    const struct routine_set *routines, const struct table *t,
    struct inifile_errors *errs)
{
	struct program_parse	*pp;
	struct program		*p, *np;
	size_t			 len = strlen(file) - 4;	/* ".ini" */
	int			 before = errs->count;

	if ((pp = calloc(1, sizeof(*pp))) == NULL ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		free(pp);
		inifile_errors_add(errs, "%s/%s: out of memory", dir, file);
		return (1);
	}
	pp->p = p;
	pp->routines = routines;
	pp->t = t;
	if ((size_t)snprintf(p->path, sizeof(p->path), "%s/%s", dir, file) >=
	    sizeof(p->path)) {
		inifile_errors_add(errs, "%s/%s: path too long", dir, file);
		goto done;
	}
	snprintf(p->id, sizeof(p->id), "%.*s", (int)len, file);
	if (len >= sizeof(p->id) || !inifile_name_ok(p->id, NAME_LEN)) {
		inifile_errors_add(errs, "%s: the file name is not a valid program "
		    "id (expected 1 to %d characters of [a-z0-9_], then .ini)",
		    p->path, NAME_LEN - 1);
		goto done;
	}
	if (inifile_parse(p->path, errs, program_section, program_kv, pp) != -1)
		program_check(pp, errs);
	if (errs->count == before) {
		np = reallocarray(set->programs, set->n + 1,
		    sizeof(*set->programs));
		if (np == NULL)
			inifile_errors_add(errs, "%s: out of memory", p->path);
		else {
			set->programs = np;
			set->programs[set->n++] = *p;
		}
	}
done:
	free(p);
	free(pp);
	return (errs->count - before);
}

static int
program_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct program *)a)->id,
	    ((const struct program *)b)->id));
}

static int
program_id_cmp(const void *key, const void *elem)
{
	return (strcmp(key, ((const struct program *)elem)->id));
}

int
programs_load(struct program_set *set, const char *dir,
    const struct routine_set *routines, const struct table *t,
    struct inifile_errors *errs)
{
	struct dirent	**names;
	int		  n, i, nerr = 0;

	memset(set, 0, sizeof(*set));
	if ((n = inifile_dir_list(dir, ".ini", &names)) == -1) {
		inifile_errors_add(errs, "%s: cannot open program directory: %s",
		    dir, strerror(errno));
		return (1);
	}
	for (i = 0; i < n; i++)
		nerr += program_load(set, dir, names[i]->d_name, routines, t,
		    errs);
	inifile_dir_free(names, n);
	if (set->n > 1)
		qsort(set->programs, (size_t)set->n, sizeof(*set->programs),
		    program_cmp);
	return (nerr);
}

const struct program *
programs_find(const struct program_set *set, const char *id)
{
	if (set->n == 0)
		return (NULL);
	return (bsearch(id, set->programs, (size_t)set->n,
	    sizeof(*set->programs), program_id_cmp));
}

void
programs_free(struct program_set *set)
{
	free(set->programs);
	set->programs = NULL;
	set->n = 0;
}
