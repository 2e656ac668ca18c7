/*
 * routines.c: loads routine plugins (the SDK is include/massaged/routine.h)
 * and runs instances of them.
 *
 * A plugin is trusted code as soon as dlopen() has run its constructors, so
 * everything that can be checked before is: the file and its directory
 * must be writable by their owner only, and the owner must be root or the
 * daemon's user. Then the descriptor: ABI version and size before any other
 * field, then names, flags, functions and the parameter table. Each refused
 * file gets one message that names it; the others still load.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "files.h"
#include "routines.h"
#include "strings.h"

#define ROUTINE_NAME_LEN	48	/* as NAME_LEN in table.h */
#define ROUTINE_VERSION_LEN	32
#define ROUTINE_FLAGS_KNOWN	(MASSAGED_ROUTINE_FOCUSED)

/*
 * The ABI v1 descriptor ends with destroy(). A later v1 header may append
 * fields (and says so in size); it never moves or removes one. A descriptor
 * smaller than v1 is broken, one larger than this daemon knows was built
 * against a newer SDK and may rely on what this daemon cannot do.
 */
#define ROUTINE_DESC_V1_SIZE	(offsetof(struct massaged_routine, destroy) + \
				    sizeof(void (*)(void *)))

static int	 routines_secure(const char *path, int isdir, char *why,
		    size_t whylen);
static int	 routines_load_one(struct routine_set *, const char *path,
		    int check_dir, struct inifile_errors *);
static const char *routines_safe(const char *s, char *buf, size_t len);
static int	 routine_version_ok(const char *s);
static int	 routine_choices(const char *choices, const char *name,
		    int *index, char *why, size_t whylen);
static int	 routine_param_check(const struct massaged_param *p,
		    char *why, size_t whylen);
static void	 routines_why(char *why, size_t whylen, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 routine_host_log(void *ctx, int level, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* Program keys that a parameter would hide. */
static const char *const routine_reserved[] = {
	"routine", "duration", "duration_s", "zones", NULL
};

/* snprintf() for reasons that may be cut short on purpose. */
static void
routines_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* A printable copy of a string a plugin gave us, for messages. */
static const char *
routines_safe(const char *s, char *buf, size_t len)
{
	size_t	 i;

	if (s == NULL)
		return ("(null)");
	for (i = 0; i + 1 < len && s[i] != '\0'; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] != '\0' && i >= 3)
		memcpy(buf + i - 3, "...", 3);
	return (buf);
}

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

static int
routine_version_ok(const char *s)
{
	size_t	 n;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return (0);
	for (n = 0; s[n] != '\0'; n++) {
		if (!isalnum((unsigned char)s[n]) && strchr(".+-", s[n]) == NULL)
			return (0);
	}
	return (n < ROUTINE_VERSION_LEN);
}

/*
 * Walks "a|b|c": checks every choice and returns how many there are, or -1
 * with why. With name, sets *index to its position (-1 if absent).
 */
static int
routine_choices(const char *choices, const char *name, int *index, char *why,
    size_t whylen)
{
	const char	*p, *q, *r;
	char		 one[ROUTINE_NAME_LEN], sb[64], sb2[64];
	size_t		 len;
	int		 n = 0;

	if (index != NULL)
		*index = -1;
	if (choices == NULL || *choices == '\0') {
		snprintf(why, whylen, "CHOICE without choices (expected "
		    "\"a|b|c\")");
		return (-1);
	}
	for (p = choices;; p = q + 1, n++) {
		if ((q = strchr(p, '|')) == NULL)
			q = p + strlen(p);
		len = (size_t)(q - p);
		if (len == 0 || len >= sizeof(one)) {
			snprintf(why, whylen, "choices '%s': choice %d is %s "
			    "(expected names separated by |)",
			    routines_safe(choices, sb, sizeof(sb)), n + 1,
			    len == 0 ? "empty" : "too long");
			return (-1);
		}
		memcpy(one, p, len);
		one[len] = '\0';
		if (!inifile_name_ok(one, sizeof(one))) {
			snprintf(why, whylen, "choices '%s': '%s' is not a valid "
			    "choice (expected [a-z0-9_]+)",
			    routines_safe(choices, sb, sizeof(sb)),
			    routines_safe(one, sb2, sizeof(sb2)));
			return (-1);
		}
		/* An earlier identical choice? */
		for (r = choices; r < p;) {
			const char *e = strchr(r, '|');

			if ((size_t)(e - r) == len && strncmp(r, p, len) == 0) {
				snprintf(why, whylen, "choices '%s': '%s' is "
				    "given twice", routines_safe(choices, sb,
				    sizeof(sb)), one);
				return (-1);
			}
			r = e + 1;
		}
		if (name != NULL && index != NULL && strcmp(one, name) == 0)
			*index = n;
		if (*q == '\0')
			break;
	}
	return (n + 1);
}

/* One entry of a parameter table; why gets the first problem. */
static int
routine_param_check(const struct massaged_param *p, char *why, size_t whylen)
{
	char	 sb[64];
	int	 i, n;

	if (p->name == NULL || !inifile_name_ok(p->name, ROUTINE_NAME_LEN)) {
		snprintf(why, whylen, "name '%s' is not valid (expected 1 to "
		    "%d characters of [a-z0-9_])",
		    routines_safe(p->name, sb, sizeof(sb)),
		    ROUTINE_NAME_LEN - 1);
		return (-1);
	}
	for (i = 0; routine_reserved[i] != NULL; i++) {
		if (strcmp(p->name, routine_reserved[i]) == 0) {
			snprintf(why, whylen, "name is reserved by programs "
			    "(routine, duration, duration_s and zones are step "
			    "keys)");
			return (-1);
		}
	}
	if (p->type < MASSAGED_PARAM_REAL || p->type > MASSAGED_PARAM_CHOICE) {
		snprintf(why, whylen, "unknown type %d (expected REAL, INT, "
		    "BOOL or CHOICE)", (int)p->type);
		return (-1);
	}
	if (p->unit == NULL) {
		snprintf(why, whylen, "unit is NULL (expected \"kPa\", \"s\", "
		    "... or \"\" for none)");
		return (-1);
	}
	if (p->help == NULL) {
		snprintf(why, whylen, "help is NULL (expected one sentence for "
		    "people)");
		return (-1);
	}
	if (!isfinite(p->def) || !isfinite(p->min) || !isfinite(p->max)) {
		snprintf(why, whylen, "default, min and max must be finite "
		    "numbers");
		return (-1);
	}
	if (p->type == MASSAGED_PARAM_CHOICE) {
		if ((n = routine_choices(p->choices, NULL, NULL, why,
		    whylen)) == -1)
			return (-1);
		if (p->def != floor(p->def) || p->def < 0 || p->def > n - 1) {
			snprintf(why, whylen, "default %g is not an index of "
			    "the %d choices (expected 0 to %d)", p->def, n,
			    n - 1);
			return (-1);
		}
		if (p->min != 0 || p->max != n - 1) {
			snprintf(why, whylen, "min %g and max %g do not span "
			    "the %d choices (expected min 0 and max %d)",
			    p->min, p->max, n, n - 1);
			return (-1);
		}
		return (0);
	}
	if (p->min > p->max) {
		snprintf(why, whylen, "min %g is above max %g", p->min, p->max);
		return (-1);
	}
	if (p->def < p->min || p->def > p->max) {
		snprintf(why, whylen, "default %g is outside [%g, %g]", p->def,
		    p->min, p->max);
		return (-1);
	}
	if (p->type == MASSAGED_PARAM_INT && (p->def != floor(p->def) ||
	    p->min != floor(p->min) || p->max != floor(p->max))) {
		snprintf(why, whylen, "INT default, min and max must be whole "
		    "numbers");
		return (-1);
	}
	if (p->type == MASSAGED_PARAM_BOOL && (p->min != 0 || p->max != 1 ||
	    (p->def != 0 && p->def != 1))) {
		snprintf(why, whylen, "BOOL needs min 0, max 1 and a default "
		    "of 0 or 1");
		return (-1);
	}
	return (0);
}

int
routine_desc_check(const struct massaged_routine *d, char *why, size_t whylen)
{
	char	 sb[64], pw[256];
	size_t	 i, j;

	if (d->abi_version != MASSAGED_ROUTINE_ABI_VERSION) {
		snprintf(why, whylen, "ABI version %u, expected %d (rebuild it "
		    "against this massaged's routine.h)", d->abi_version,
		    MASSAGED_ROUTINE_ABI_VERSION);
		return (-1);
	}
	if (d->size < ROUTINE_DESC_V1_SIZE) {
		snprintf(why, whylen, "descriptor size %u, expected %zu (set "
		    "size to sizeof(struct massaged_routine))", d->size,
		    sizeof(struct massaged_routine));
		return (-1);
	}
	if (d->size > sizeof(struct massaged_routine)) {
		snprintf(why, whylen, "descriptor size %u, expected %zu (built "
		    "against a newer routine.h than this massaged)", d->size,
		    sizeof(struct massaged_routine));
		return (-1);
	}
	if (d->name == NULL || !inifile_name_ok(d->name, ROUTINE_NAME_LEN)) {
		snprintf(why, whylen, "routine name '%s' is not valid (expected "
		    "1 to %d characters of [a-z0-9_])",
		    routines_safe(d->name, sb, sizeof(sb)),
		    ROUTINE_NAME_LEN - 1);
		return (-1);
	}
	if (!routine_version_ok(d->version)) {
		snprintf(why, whylen, "routine %s: version '%s' is not valid "
		    "(expected a version such as 1.0.0)", d->name,
		    routines_safe(d->version, sb, sizeof(sb)));
		return (-1);
	}
	if (d->description == NULL) {
		snprintf(why, whylen, "routine %s: description is NULL "
		    "(expected one sentence for people)", d->name);
		return (-1);
	}
	if (d->flags & ~ROUTINE_FLAGS_KNOWN) {
		snprintf(why, whylen, "routine %s: unknown flags 0x%x (this "
		    "massaged knows 0x%x)", d->name,
		    d->flags & ~ROUTINE_FLAGS_KNOWN, ROUTINE_FLAGS_KNOWN);
		return (-1);
	}
	if (d->create == NULL || d->step == NULL || d->destroy == NULL) {
		snprintf(why, whylen, "routine %s: %s() is NULL", d->name,
		    d->create == NULL ? "create" :
		    d->step == NULL ? "step" : "destroy");
		return (-1);
	}
	if (d->n_params > ROUTINE_PARAMS_MAX) {
		snprintf(why, whylen, "routine %s: %zu parameters (at most %d)",
		    d->name, d->n_params, ROUTINE_PARAMS_MAX);
		return (-1);
	}
	if (d->n_params > 0 && d->params == NULL) {
		snprintf(why, whylen, "routine %s: params is NULL but n_params "
		    "is %zu", d->name, d->n_params);
		return (-1);
	}
	for (i = 0; i < d->n_params; i++) {
		if (routine_param_check(&d->params[i], pw, sizeof(pw)) == -1) {
			snprintf(why, whylen, "routine %s: parameter %zu (%s): "
			    "%s", d->name, i, routines_safe(d->params[i].name,
			    sb, sizeof(sb)), pw);
			return (-1);
		}
		for (j = 0; j < i; j++) {
			if (strcmp(d->params[j].name, d->params[i].name) == 0) {
				snprintf(why, whylen, "routine %s: parameter "
				    "%s is given twice (entries %zu and %zu)",
				    d->name, d->params[i].name, j, i);
				return (-1);
			}
		}
	}
	return (0);
}

static int
routines_load_one(struct routine_set *set, const char *path, int check_dir,
    struct inifile_errors *errs)
{
	const struct massaged_routine	*d;
	massaged_routine_entry_fn	 entry;
	struct routine_lib		*lib;
	void				*dl, *sym;
	char				 real[PATH_MAX], dir[PATH_MAX];
	char				 why[1024], sec[768];
	const char			*e, *slash;
	size_t				 n;

	if (realpath(path, real) == NULL) {
		inifile_errors_add(errs, "%s: cannot load routine: %s", path,
		    strerror(errno));
		return (1);
	}
	/* The file, the directory it is in, and the one it is listed in. */
	if (routines_secure(real, 0, sec, sizeof(sec)) == -1) {
		snprintf(why, sizeof(why), "refused: the file %s", sec);
		goto refuse;
	}
	slash = strrchr(real, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash == real ? 1 :
	    (int)(slash - real), real);
	if (routines_secure(dir, 1, sec, sizeof(sec)) == -1) {
		routines_why(why, sizeof(why), "refused: its directory %s %s",
		    dir, sec);
		goto refuse;
	}
	if (check_dir) {
		if ((slash = strrchr(path, '/')) == NULL)
			snprintf(dir, sizeof(dir), ".");
		else
			snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
			    (int)(slash - path), path);
		if (routines_secure(dir, 1, sec, sizeof(sec)) == -1) {
			routines_why(why, sizeof(why), "refused: its directory "
			    "%s %s", dir, sec);
			goto refuse;
		}
	}

	(void)dlerror();
	if ((dl = dlopen(real, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		if (e == NULL)
			e = "unknown error";
		/* dlerror() often starts with the path again. */
		n = strlen(real);
		if (strncmp(e, real, n) == 0 && strncmp(e + n, ": ", 2) == 0)
			e += n + 2;
		inifile_errors_add(errs, "%s: cannot load routine: %s", path, e);
		return (1);
	}
	(void)dlerror();
	sym = dlsym(dl, MASSAGED_ROUTINE_ENTRY);
	if (sym == NULL) {
		snprintf(why, sizeof(why), "no entry symbol %s (define it "
		    "with the prototype from massaged/routine.h so it is "
		    "exported)", MASSAGED_ROUTINE_ENTRY);
		goto close;
	}
	memcpy(&entry, &sym, sizeof(entry));
	if ((d = entry()) == NULL) {
		snprintf(why, sizeof(why), "%s() returned NULL",
		    MASSAGED_ROUTINE_ENTRY);
		goto close;
	}
	if (routine_desc_check(d, why, sizeof(why)) == -1)
		goto close;
	for (n = 0; n < (size_t)set->n; n++) {
		if (strcmp(set->libs[n].desc->name, d->name) == 0) {
			routines_why(why, sizeof(why), "routine %s is already "
			    "loaded from %s", d->name, set->libs[n].path);
			goto close;
		}
	}
	lib = reallocarray(set->libs, set->n + 1, sizeof(*set->libs));
	if (lib == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto close;
	}
	set->libs = lib;
	lib = &set->libs[set->n++];
	memset(lib, 0, sizeof(*lib));
	snprintf(lib->path, sizeof(lib->path), "%s", path);
	lib->dl = dl;
	lib->desc = d;
	log_info("routine %s %s loaded from %s", d->name, d->version, path);
	return (0);

close:
	dlclose(dl);
refuse:
	inifile_errors_add(errs, "%s: %s", path, why);
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

const struct massaged_routine *
routines_find(const struct routine_set *set, const char *name)
{
	int	 i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->libs[i].desc->name, name) == 0)
			return (set->libs[i].desc);
	return (NULL);
}

void
routines_free(struct routine_set *set)
{
	int	 i;

	for (i = 0; i < set->n; i++)
		dlclose(set->libs[i].dl);
	free(set->libs);
	set->libs = NULL;
	set->n = 0;
}

int
routine_param_find(const struct massaged_routine *desc, const char *name)
{
	size_t	 i;

	for (i = 0; i < desc->n_params; i++)
		if (strcmp(desc->params[i].name, name) == 0)
			return ((int)i);
	return (-1);
}

int
routine_param_parse(const struct massaged_param *p, const char *s,
    double *out, char *why, size_t whylen)
{
	const char	*unit = p->unit != NULL ? p->unit : "";
	const char	*sp = *unit != '\0' ? " " : "";
	char		 list[512];
	struct str_list	 sl;
	const char	*c, *q;
	double		 v;
	long		 l;
	int		 i, n, idx, b;

	switch (p->type) {
	case MASSAGED_PARAM_REAL:
		if (parse_double(s, -HUGE_VAL, HUGE_VAL, &v) == -1) {
			snprintf(why, whylen, "'%s' is not a number (expected "
			    "a number from %g to %g%s%s)", s, p->min, p->max,
			    sp, unit);
			return (-1);
		}
		if (v < p->min || v > p->max) {
			snprintf(why, whylen, "%s is out of range (expected a "
			    "number from %g to %g%s%s)", s, p->min, p->max, sp,
			    unit);
			return (-1);
		}
		*out = v;
		return (0);
	case MASSAGED_PARAM_INT:
		if (parse_int(s, LONG_MIN, LONG_MAX, &l) == -1) {
			snprintf(why, whylen, "'%s' is not a whole number "
			    "(expected %g to %g%s%s)", s, p->min, p->max, sp,
			    unit);
			return (-1);
		}
		if ((double)l < p->min || (double)l > p->max) {
			snprintf(why, whylen, "%s is out of range (expected a "
			    "whole number from %g to %g%s%s)", s, p->min,
			    p->max, sp, unit);
			return (-1);
		}
		*out = (double)l;
		return (0);
	case MASSAGED_PARAM_BOOL:
		if (parse_bool(s, &b) == -1) {
			snprintf(why, whylen, "'%s' is not valid (expected yes "
			    "or no)", s);
			return (-1);
		}
		*out = b;
		return (0);
	case MASSAGED_PARAM_CHOICE:
		if ((n = routine_choices(p->choices, s, &idx, why,
		    whylen)) == -1)
			return (-1);
		if (idx != -1) {
			*out = idx;
			return (0);
		}
		/* "a, b or c" */
		str_list_init(&sl, list, sizeof(list));
		for (c = p->choices, i = 0; i < n; i++, c = q + 1) {
			if ((q = strchr(c, '|')) == NULL)
				q = c + strlen(c);
			str_list_add(&sl, i == n - 1, "%.*s", (int)(q - c), c);
		}
		snprintf(why, whylen, "'%s' is not one of the choices "
		    "(expected %s)", s, list);
		return (-1);
	}
	snprintf(why, whylen, "unknown parameter type %d", (int)p->type);
	return (-1);
}

/* host->log of every instance: into the daemon's log, named. */
static void
routine_host_log(void *ctx, int level, const char *fmt, ...)
{
	const struct massaged_routine	*desc = ctx;
	va_list				 ap;
	char				 buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (level < LOG_ERR)
		level = LOG_ERR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_emit(level, "routine %s: %s", desc->name, buf);
}

int
routine_inst_create(struct routine_inst *ri,
    const struct massaged_routine *desc, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	struct massaged_routine_args	 args;
	char				 err[256];

	memset(ri, 0, sizeof(*ri));
	ri->host.size = sizeof(ri->host);
	/* The descriptor outlives every instance and names the routine. */
	ri->host.ctx = (void *)(uintptr_t)desc;
	ri->host.log = routine_host_log;

	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.host = &ri->host;
	args.params = params;
	args.n_zones = n_zones;
	args.zones = zones;
	args.duration_s = duration_s;
	err[0] = '\0';
	if ((ri->inst = desc->create(&args, err, sizeof(err))) == NULL) {
		err[sizeof(err) - 1] = '\0';
		snprintf(why, whylen, "%s", err[0] != '\0' ? err :
		    "create() failed and gave no reason");
		return (-1);
	}
	ri->desc = desc;
	ri->n_zones = n_zones;
	return (0);
}

int
routine_inst_step(struct routine_inst *ri, const struct massaged_step_in *in,
    double *setpoint_kpa)
{
	int	 rc;

	if (ri->desc == NULL || ri->inst == NULL)
		return (MASSAGED_STEP_ERROR);
	rc = ri->desc->step(ri->inst, in, setpoint_kpa);
	if (rc != MASSAGED_STEP_RUNNING && rc != MASSAGED_STEP_DONE)
		return (MASSAGED_STEP_ERROR);
	return (rc);
}

void
routine_inst_destroy(struct routine_inst *ri)
{
	if (ri->desc != NULL && ri->inst != NULL)
		ri->desc->destroy(ri->inst);
	memset(ri, 0, sizeof(*ri));
}
