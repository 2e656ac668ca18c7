/*
 * routine-desc.c: a routine descriptor's checks and its parameters.
 *
 * The loader (engine/routine-load.c) checks what can be checked before
 * trusting a descriptor a worker sent: ABI version and size before any
 * other field, then names, flags, functions and the parameter table.
 * Programs (program.c) parse their values against that table here.
 */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "inifile.h"
#include "parse.h"
#include "routine-desc.h"
#include "strings.h"

#define ROUTINE_NAME_LEN	48	/* as NAME_LEN in table.h */
#define ROUTINE_VERSION_LEN	32
#define ROUTINE_FLAGS_KNOWN	(MASSAGED_ROUTINE_FOCUSED)

static const char *routine_safe(const char *s, char *buf, size_t len);
static int	 routine_version_ok(const char *s);
static int	 routine_choices(const char *choices, const char *name,
		    int *index, char *why, size_t whylen);
static int	 routine_param_check(const struct massaged_param *p,
		    char *why, size_t whylen);

/* Program keys that a parameter would hide. */
static const char *const routine_reserved[] = {
	"routine", "duration", "duration_s", "zones", NULL
};

/* A printable copy of a string a plugin gave us, for messages. */
static const char *
routine_safe(const char *s, char *buf, size_t len)
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
			    routine_safe(choices, sb, sizeof(sb)), n + 1,
			    len == 0 ? "empty" : "too long");
			return (-1);
		}
		memcpy(one, p, len);
		one[len] = '\0';
		if (!inifile_name_ok(one, sizeof(one))) {
			snprintf(why, whylen, "choices '%s': '%s' is not a valid "
			    "choice (expected [a-z0-9_]+)",
			    routine_safe(choices, sb, sizeof(sb)),
			    routine_safe(one, sb2, sizeof(sb2)));
			return (-1);
		}
		/* An earlier identical choice? */
		for (r = choices; r < p;) {
			const char *e = strchr(r, '|');

			if ((size_t)(e - r) == len && strncmp(r, p, len) == 0) {
				snprintf(why, whylen, "choices '%s': '%s' is "
				    "given twice", routine_safe(choices, sb,
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
		    routine_safe(p->name, sb, sizeof(sb)),
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
		    "against a newer routine.h than this massaged, and it sets "
		    "fields this massaged does not know)", d->size,
		    sizeof(struct massaged_routine));
		return (-1);
	}
	if (d->name == NULL || !inifile_name_ok(d->name, ROUTINE_NAME_LEN)) {
		snprintf(why, whylen, "routine name '%s' is not valid (expected "
		    "1 to %d characters of [a-z0-9_])",
		    routine_safe(d->name, sb, sizeof(sb)),
		    ROUTINE_NAME_LEN - 1);
		return (-1);
	}
	if (!routine_version_ok(d->version)) {
		snprintf(why, whylen, "routine %s: version '%s' is not valid "
		    "(expected a version such as 1.0.0)", d->name,
		    routine_safe(d->version, sb, sizeof(sb)));
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
			    "%s", d->name, i, routine_safe(d->params[i].name,
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

