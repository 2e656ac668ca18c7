/*
 * routine-load.c: loads routine plugins (the SDK is include/massaged/
 * routine.h) into a set (core/routine-set.h).
 *
 * Plugin code never runs here: a plugin file is loaded by massaged-worker
 * (routine-worker.c), which sends a copy of its descriptor; the set holds
 * that copy, checked by core/routine-desc.c, and the worker stays for the
 * programs' checks (routine_inst_check()) until routines_checked().
 *
 * Before a worker is started for a file, what can be checked is: the file
 * and its directory must be writable by their owner only, and the owner
 * must be root or the daemon's user. Each refused file gets one message
 * that names it and is kept in the set's refusals; the others still load.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "files.h"
#include "log.h"
#include "routine-desc.h"
#include "routine-inst.h"
#include "routine-load.h"

static void	*routines_remote_create(const struct massaged_routine_args *,
		    char *, size_t);
static int	 routines_remote_step(void *, const struct massaged_step_in *,
		    double *);
static void	 routines_remote_destroy(void *);
static int	 routines_secure(const char *path, int isdir, char *why,
		    size_t whylen);
static const char *routines_str(const char **p, const char *end, int *bad);
static int	 routines_decode(struct routine_copy *, const struct wk_desc *,
		    size_t, char *why, size_t whylen);
static int	 routines_trusted(const char *path, int check_dir, char *real,
		    char *why, size_t whylen);
static int	 routines_load_one(struct routine_set *, const char *path,
		    int check_dir, struct inifile_errors *);

/*
 * Refuses a file or directory that someone other than root or the daemon's
 * user could change: owned by another user, or group/world writable. why
 * gets what follows the thing's name: "is writable by others ...".
 */
static int
routines_secure(const char *path, int isdir, char *why, size_t whylen)
{
	return (files_trusted(path, isdir, "replace code the daemon runs", why,
	    whylen));
}

/* The next string of a descriptor message, or NULL past its end. */
static const char *
routines_str(const char **p, const char *end, int *bad)
{
	const char	*s = *p;
	size_t		 n;

	if (s >= end) {
		*bad = 1;
		return (NULL);
	}
	n = strnlen(s, (size_t)(end - s));
	if (s + n >= end) {
		*bad = 1;
		return (NULL);
	}
	*p = s + n + 1;
	return (strcmp(s, WK_NULL_STR) == 0 ? NULL : s);
}

/* Rebuilds the descriptor a worker sent into c and checks it. */
static int
routines_decode(struct routine_copy *c, const struct wk_desc *m, size_t len,
    char *why, size_t whylen)
{
	struct massaged_routine	*d = &c->d;
	const char		*p, *end;
	size_t			 i;
	int			 bad = 0;

	memset(d, 0, sizeof(*d));
	d->abi_version = m->abi_version;
	d->size = m->size;
	if (m->abi_version != MASSAGED_ROUTINE_ABI_VERSION ||
	    m->size < ROUTINE_DESC_V1_SIZE ||
	    m->size > sizeof(struct massaged_routine))
		return (routine_desc_check(d, why, whylen));
	if (len < offsetof(struct wk_desc, strings) ||
	    len > offsetof(struct wk_desc, strings) + sizeof(c->strings)) {
		snprintf(why, whylen, "the worker sent a broken descriptor");
		return (-1);
	}
	memcpy(c->strings, m->strings, len - offsetof(struct wk_desc,
	    strings));
	p = c->strings;
	end = c->strings + (len - offsetof(struct wk_desc, strings));
	d->flags = m->flags;
	d->n_params = m->n_params;
	d->create = (m->fns & WK_HAS_CREATE) ? routines_remote_create : NULL;
	d->step = (m->fns & WK_HAS_STEP) ? routines_remote_step : NULL;
	d->destroy = (m->fns & WK_HAS_DESTROY) ? routines_remote_destroy :
	    NULL;
	d->name = routines_str(&p, end, &bad);
	if (!m->params_null && m->n_params <= WORKER_PARAMS_MAX) {
		d->version = routines_str(&p, end, &bad);
		d->description = routines_str(&p, end, &bad);
		d->params = c->params;
		for (i = 0; i < m->n_params && !bad; i++) {
			struct massaged_param *q = &c->params[i];

			q->type = (enum massaged_param_type)m->params[i].type;
			q->def = m->params[i].def;
			q->min = m->params[i].min;
			q->max = m->params[i].max;
			q->name = routines_str(&p, end, &bad);
			q->unit = routines_str(&p, end, &bad);
			q->choices = routines_str(&p, end, &bad);
			q->help = routines_str(&p, end, &bad);
		}
	} else {
		/* Only the name came: the check refuses the rest. */
		d->version = "0";
		d->description = "";
	}
	if (bad) {
		snprintf(why, whylen, "the worker sent a broken descriptor");
		return (-1);
	}
	return (routine_desc_check(d, why, whylen));
}

/*
 * Resolves path into real (PATH_MAX) and checks the file, the directory it
 * is in and, with check_dir, the one it is listed in: -1 with why.
 */
static int
routines_trusted(const char *path, int check_dir, char *real, char *why,
    size_t whylen)
{
	char		 dir[PATH_MAX], sec[768];
	const char	*slash;

	if (realpath(path, real) == NULL) {
		snprintf(why, whylen, "cannot load routine: %s",
		    strerror(errno));
		return (-1);
	}
	if (routines_secure(real, 0, sec, sizeof(sec)) == -1) {
		snprintf(why, whylen, "refused: the file %s", sec);
		return (-1);
	}
	slash = strrchr(real, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash == real ? 1 :
	    (int)(slash - real), real);
	if (routines_secure(dir, 1, sec, sizeof(sec)) == -1) {
		routine_worker_why(why, whylen, "refused: its directory %s %s",
		    dir, sec);
		return (-1);
	}
	if (!check_dir)
		return (0);
	if ((slash = strrchr(path, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
		    (int)(slash - path), path);
	if (routines_secure(dir, 1, sec, sizeof(sec)) == -1) {
		routine_worker_why(why, whylen, "refused: its directory %s %s",
		    dir, sec);
		return (-1);
	}
	return (0);
}

static int
routines_load_one(struct routine_set *set, const char *path, int check_dir,
    struct inifile_errors *errs)
{
	struct routine_copy	*c = NULL;
	struct routine_worker	*w = NULL;
	struct routine_lib	*lib;
	char			 real[PATH_MAX], why[1024], sec[768];
	size_t			 n;
	int			 rc;

	/* Programs try their settings in this file's worker. */
	set->check = routine_inst_check;
	if (routines_trusted(path, check_dir, real, why, sizeof(why)) == -1)
		goto refuse;
	/* Its code runs in a worker only: constructors included. */
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto refuse;
	}
	snprintf(c->path, sizeof(c->path), "%s", real);
	if ((w = routine_worker_spawn(real, sec, sizeof(sec))) == NULL) {
		snprintf(why, sizeof(why), "cannot load routine: %s", sec);
		goto refuse;
	}
	/* Named by its file until it names itself (w->name is short). */
	snprintf(w->name, sizeof(w->name), "in %s", strrchr(path, '/') != NULL ?
	    strrchr(path, '/') + 1 : path);
	rc = routine_worker_wait(w, WK_DESC, clock_mono_ns() +
	    (uint64_t)ROUTINE_LOAD_MS * 1000000, sec, sizeof(sec));
	if (rc == 1) {
		snprintf(why, sizeof(why), "%s", w->buf.text.text);
		goto refuse;
	}
	if (rc == -1) {
		w = NULL;
		if (sec[0] == '\0' || strcmp(sec, "timeout") == 0)
			snprintf(sec, sizeof(sec), "no answer within %d ms",
			    ROUTINE_LOAD_MS);
		routine_worker_why(why, sizeof(why), "cannot load routine: %s "
		    "while loading it (a constructor or the entry point "
		    "misbehaves)", sec);
		goto refuse;
	}
	if (routines_decode(c, &w->buf.desc, w->len, why, sizeof(why)) == -1)
		goto refuse;
	for (n = 0; n < (size_t)set->n; n++) {
		if (strcmp(set->libs[n].desc->name, c->d.name) == 0) {
			routine_worker_why(why, sizeof(why), "routine %s is "
			    "already loaded from %s", c->d.name,
			    set->libs[n].path);
			goto refuse;
		}
	}
	lib = reallocarray(set->libs, set->n + 1, sizeof(*set->libs));
	if (lib == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto refuse;
	}
	set->libs = lib;
	lib = &set->libs[set->n++];
	memset(lib, 0, sizeof(*lib));
	snprintf(lib->path, sizeof(lib->path), "%s", path);
	snprintf(w->name, sizeof(w->name), "%s", c->d.name);
	c->checker = w;
	lib->desc = &c->d;
	log_info("routine %s %s loaded from %s", c->d.name, c->d.version,
	    path);
	return (0);

refuse:
	if (w != NULL) {
		sec[0] = '\0';
		routine_worker_end(w, 1, sec, sizeof(sec));
	}
	free(c);
	inifile_errors_add(errs, "%s: %s", path, why);
	routines_refuse(set, path, why);
	return (1);
}


int
routines_load_dir(struct routine_set *set, const char *dir,
    struct inifile_errors *errs)
{
	struct dirent	**names;
	char		  path[PATH_MAX], why[768];
	int		  n, i, nerr = 0;

	/* In name order, so "already loaded from" always names the same. */
	if ((n = inifile_dir_list(dir, ".so", &names)) == -1) {
		inifile_errors_add(errs, "%s: cannot open routine directory: %s",
		    dir, strerror(errno));
		return (1);
	}
	if (routines_secure(dir, 1, why, sizeof(why)) == -1) {
		inifile_errors_add(errs, "%s: refused: the routine directory %s",
		    dir, why);
		inifile_dir_free(names, n);
		return (1);
	}
	for (i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]->d_name) >= (int)sizeof(path)) {
			inifile_errors_add(errs, "%s/%s: path too long", dir,
			    names[i]->d_name);
			nerr++;
		} else
			nerr += routines_load_one(set, path, 0, errs);
	}
	inifile_dir_free(names, n);
	return (nerr);
}

int
routines_load_file(struct routine_set *set, const char *path,
    struct inifile_errors *errs)
{
	return (routines_load_one(set, path, 1, errs));
}

/* The copy behind a descriptor from a worker, or NULL (in-process). */
struct routine_copy *
routines_copy(const struct massaged_routine *d)
{
	if (d == NULL || d->create != routines_remote_create)
		return (NULL);
	return ((struct routine_copy *)(uintptr_t)d);
}

void
routines_checked(struct routine_set *set)
{
	struct routine_copy	*c;
	int			 i;

	for (i = 0; i < set->n; i++) {
		if ((c = routines_copy(set->libs[i].desc)) != NULL &&
		    c->checker != NULL) {
			char why[64];

			routine_worker_end(c->checker, 1, why, sizeof(why));
			c->checker = NULL;
		}
	}
	routine_worker_reap();
}

void
routines_free(struct routine_set *set)
{
	int	 i;

	routines_checked(set);
	for (i = 0; i < set->n; i++)
		free(routines_copy(set->libs[i].desc));
	free(set->libs);
	free(set->refused);
	memset(set, 0, sizeof(*set));
}
/* Never called: a worker runs these (routines_copy() tells them apart). */
static void *
routines_remote_create(const struct massaged_routine_args *a, char *err,
    size_t errlen)
{
	snprintf(err, errlen, "runs in its worker");
	return (NULL);
}

static int
routines_remote_step(void *inst, const struct massaged_step_in *in,
    double *out)
{
	return (MASSAGED_STEP_ERROR);
}

static void
routines_remote_destroy(void *inst)
{
}

