/*
 * device-value.c: reading one value of a device description: addresses
 * (a 0-based offset, a 40001-style number with base = 1, or TABLE:NUMBER),
 * "register = value" lists, 16-bit values in decimal or hex, ranges, the
 * two points of a linear map and unit ids. Each reports its own error,
 * through inifile_err(), and says what it expected.
 */
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device-private.h"
#include "strings.h"

#define DEVICE_VALUE_MAX	256

static const struct {
	const char		*prefix;	/* before the ':' */
	const char		*name;		/* for messages */
	const char		*table;
	enum device_space	 space;
} device_spaces[] = {
	{ "coil", "coil", "coils", DEVICE_COIL },
	{ "discrete", "discrete input", "discrete inputs", DEVICE_DISCRETE },
	{ "input", "input register", "input registers", DEVICE_INPUT },
	{ "holding", "holding register", "holding registers", DEVICE_HOLDING },
};
#define DEVICE_NSPACES	4

const char *
device_space_name(enum device_space s)
{
	return ((unsigned)s < DEVICE_NSPACES ? device_spaces[s].name : "?");
}

/* "holding registers", "input registers or holding registers". */
static const char *
device_spaces_text(unsigned spaces, char *buf, size_t len)
{
	struct str_list	 l;
	int		 i, n = 0, k = 0;

	for (i = 0; i < DEVICE_NSPACES; i++)
		n += (spaces & DEVICE_SPACE(i)) != 0;
	str_list_init(&l, buf, len);
	for (i = 0; i < DEVICE_NSPACES; i++)
		if (spaces & DEVICE_SPACE(i))
			str_list_add(&l, ++k == n, "%s", device_spaces[i].table);
	return (buf);
}

/*
 * A whole number: decimal digits, or 0x and hex digits. *hex says which,
 * *digits how many digits were written. 0, or -1 if s is not one.
 */
static int
device_num(const char *s, unsigned long max, unsigned long *out, int *hex,
    size_t *digits)
{
	unsigned long	 v = 0;
	size_t		 i = 0;
	int		 radix = 10, d;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		radix = 16;
		s += 2;
	}
	for (; s[i] != '\0'; i++) {
		if (isdigit((unsigned char)s[i]))
			d = s[i] - '0';
		else if (radix == 16 && isxdigit((unsigned char)s[i]))
			d = tolower((unsigned char)s[i]) - 'a' + 10;
		else
			return (-1);
		if (v > (max - (unsigned long)d) / (unsigned long)radix)
			return (-1);
		v = v * (unsigned long)radix + (unsigned long)d;
	}
	if (i == 0)
		return (-1);
	*out = v;
	*hex = radix == 16;
	*digits = i;
	return (0);
}

/*
 * A 40001-style number: 1-9999 coils, 10001-19999 discrete inputs,
 * 30001-39999 input registers, 40001-49999 holding registers; with six
 * digits the same tables from 000001, 100001, 300001, 400001 to 65536
 * past them. 0, or -1 if n is none of these.
 */
static int
device_modicon(unsigned long n, size_t digits, enum device_space *sp,
    int *off)
{
	static const enum device_space	 by_digit[] = { DEVICE_COIL,
	    DEVICE_DISCRETE, DEVICE_COIL, DEVICE_INPUT, DEVICE_HOLDING };
	unsigned long	 lead, rest;

	if (digits == 6) {
		lead = n / 100000;
		rest = n % 100000;
		if (lead > 4 || lead == 2 || rest < 1 || rest > 65536)
			return (-1);
	} else if (digits <= 5) {
		lead = n / 10000;
		rest = n % 10000;
		if (lead > 4 || lead == 2 || rest < 1)
			return (-1);
	} else
		return (-1);
	*sp = by_digit[lead];
	*off = (int)rest - 1;
	return (0);
}

/* The part after "TABLE:", with base 0 or 1. */
static int
device_v_prefixed(const struct device *d, struct inifile_file *f,
    const char *key, const char *v, const char *num, struct device_reg *out)
{
	unsigned long	 n;
	size_t		 digits;
	int		 hex;

	if (device_num(num, 99999999, &n, &hex, &digits) == -1 ||
	    n < (unsigned long)d->base || n > 65535ul + (unsigned long)d->base) {
		inifile_err(f, key, "not valid (expected with base = %d a whole "
		    "number from %d to %d, or 0x hex, after the table)",
		    d->base, d->base, 65535 + d->base);
		return (-1);
	}
	out->addr = (int)(n - (unsigned long)d->base);
	return (0);
}

/* A number without a table: an offset (base 0) or 40001-style (base 1). */
static int
device_v_bare(const struct device *d, struct inifile_file *f, const char *key,
    const char *v, unsigned spaces, struct device_reg *out)
{
	char			 want[96];
	unsigned long		 n;
	size_t			 digits;
	enum device_space	 sp;
	int			 hex, off;

	if (device_num(v, 99999999, &n, &hex, &digits) == -1) {
		inifile_err(f, key, "not an address (expected a whole number, "
		    "or TABLE:NUMBER with a table of coil, discrete, input or "
		    "holding)");
		return (-1);
	}
	if (d->base == 0) {
		if (n > 65535) {
			inifile_err(f, key, "out of range (expected an offset "
			    "from 0 to 65535 with base = 0)");
			return (-1);
		}
		if (!hex && device_modicon(n, digits, &sp, &off) == 0 &&
		    n > 10000 && sp == out->space) {
			inifile_err(f, key, "%lu looks like a 40001-style "
			    "number, but with base = 0 it is offset %lu (set "
			    "base = 1, or write 0x%04lX if that offset is "
			    "meant)", n, n, n);
			return (-1);
		}
		out->addr = (int)n;
		return (0);
	}
	if (hex || device_modicon(n, digits, &sp, &off) == -1) {
		inifile_err(f, key, "not a register number for base = 1 "
		    "(expected 1-9999 coils, 10001-19999 discrete inputs, "
		    "30001-39999 input registers, 40001-49999 holding "
		    "registers, six digits such as 465536 past 9999, or "
		    "TABLE:NUMBER)");
		return (-1);
	}
	if (!(spaces & DEVICE_SPACE(sp))) {
		inifile_err(f, key, "%lu is in the %s (expected the %s)", n,
		    device_spaces[sp].table, device_spaces_text(spaces, want,
		    sizeof(want)));
		return (-1);
	}
	out->space = sp;
	out->addr = off;
	return (0);
}

int
device_v_addr(const struct device *d, struct inifile_file *f, const char *key,
    const char *v, unsigned spaces, enum device_space dflt,
    struct device_reg *out)
{
	struct device_reg	 r = { dflt, -1 };
	const char		*colon;
	char			 want[96];
	size_t			 n;
	int			 i;

	if (d->base < 0)
		return (-1);	/* the base was reported */
	if ((colon = strchr(v, ':')) == NULL) {
		if (device_v_bare(d, f, key, v, spaces, &r) == -1)
			return (-1);
		*out = r;
		return (0);
	}
	n = (size_t)(colon - v);
	for (i = 0; i < DEVICE_NSPACES; i++)
		if (strlen(device_spaces[i].prefix) == n &&
		    strncmp(v, device_spaces[i].prefix, n) == 0)
			break;
	if (i == DEVICE_NSPACES) {
		inifile_err(f, key, "unknown table (expected coil, discrete, "
		    "input or holding before the ':')");
		return (-1);
	}
	if (!(spaces & DEVICE_SPACE(i))) {
		inifile_err(f, key, "in the %s (expected the %s)",
		    device_spaces[i].table, device_spaces_text(spaces, want,
		    sizeof(want)));
		return (-1);
	}
	r.space = device_spaces[i].space;
	if (device_v_prefixed(d, f, key, v, colon + 1, &r) == -1)
		return (-1);
	*out = r;
	return (0);
}

int
device_v_u16(struct inifile_file *f, const char *key, const char *v,
    uint16_t *out)
{
	unsigned long	 n;
	size_t		 digits;
	int		 hex;

	if (device_num(v, 65535, &n, &hex, &digits) == -1) {
		inifile_err(f, key, "not valid (expected a whole number from 0 "
		    "to 65535, or 0x0000 to 0xFFFF)");
		return (-1);
	}
	*out = (uint16_t)n;
	return (0);
}

/* One "REG = VALUE" item of a list, trimmed in place. */
static int
device_v_write(const struct device *d, struct inifile_file *f,
    const char *key, char *item, unsigned spaces, enum device_space dflt,
    struct device_write *w)
{
	char	*eq, *reg, *val;

	if ((eq = strchr(item, '=')) == NULL) {
		inifile_err(f, key, "not valid (expected REGISTER = VALUE, "
		    "such as 0x1001 = 0xC030)");
		return (-1);
	}
	*eq = '\0';
	reg = str_trim(item);
	val = str_trim(eq + 1);
	if (device_v_addr(d, f, key, reg, spaces, dflt, &w->reg) == -1)
		return (-1);
	return (device_v_u16(f, key, val, &w->value));
}

int
device_v_writes(const struct device *d, struct inifile_file *f,
    const char *key, const char *v, unsigned spaces, enum device_space dflt,
    struct device_write *list, int *n)
{
	char	 buf[DEVICE_VALUE_MAX], *item, *save = NULL, label[64];
	int	 bad = 0;

	*n = 0;
	if (strlen(v) >= sizeof(buf)) {
		inifile_err(f, key, "too long (at most %zu characters)",
		    sizeof(buf) - 1);
		return (-1);
	}
	snprintf(buf, sizeof(buf), "%s", v);
	if (buf[0] == ',' || buf[strlen(buf) - 1] == ',' ||
	    strstr(buf, ",,") != NULL) {
		inifile_err(f, key, "an empty item (expected REGISTER = VALUE "
		    "items separated by commas)");
		return (-1);
	}
	for (item = strtok_r(buf, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		if (*n + bad == DEVICE_MAX_WRITES) {
			inifile_err(f, key, "too many items (at most %d)",
			    DEVICE_MAX_WRITES);
			return (-1);
		}
		snprintf(label, sizeof(label), "%s, item %d", key,
		    *n + bad + 1);
		if (device_v_write(d, f, label, item, spaces, dflt,
		    &list[*n]) == -1)
			bad++;
		else
			(*n)++;
	}
	return (bad ? -1 : 0);
}

int
device_v_choice(struct inifile_file *f, const char *key, const char *v,
    const char *const *names, int *out)
{
	struct str_list	 l;
	char		 want[160];
	int		 i, n;

	for (n = 0; names[n] != NULL; n++)
		if (strcmp(v, names[n]) == 0) {
			*out = n;
			return (0);
		}
	str_list_init(&l, want, sizeof(want));
	for (i = 0; i < n; i++)
		str_list_add(&l, i == n - 1, "%s", names[i]);
	inifile_err(f, key, "not valid (expected %s)", want);
	return (-1);
}

int
device_v_range(struct inifile_file *f, const char *key, const char *v,
    double min, double max, int whole, const char *unit, double *lo,
    double *hi)
{
	char		 a[64], b[64];
	const char	*dots = strstr(v, "..");
	double		 x, y;
	size_t		 n;

	if (dots != NULL && (n = (size_t)(dots - v)) < sizeof(a) &&
	    strlen(dots + 2) < sizeof(b)) {
		snprintf(a, sizeof(a), "%.*s", (int)n, v);
		snprintf(b, sizeof(b), "%s", dots + 2);
		if (parse_double(str_trim(a), min, max, &x) == 0 &&
		    parse_double(str_trim(b), min, max, &y) == 0 &&
		    (!whole || (x == floor(x) && y == floor(y))) && x <= y) {
			*lo = x;
			*hi = y;
			return (0);
		}
	}
	inifile_err(f, key, "not valid (expected LOW..HIGH, %s from %.10g to "
	    "%.10g%s%s, LOW at most HIGH)", whole ? "whole numbers" :
	    "numbers", min, max, *unit ? " " : "", unit);
	return (-1);
}

/* "A -> B": a within from, b within to. */
static int
device_v_point(char *s, const double from[2], const double to[2], double *a,
    double *b)
{
	char	*arrow = strstr(s, "->");

	if (arrow == NULL)
		return (-1);
	*arrow = '\0';
	if (parse_double(str_trim(s), from[0], from[1], a) == -1 ||
	    parse_double(str_trim(arrow + 2), to[0], to[1], b) == -1)
		return (-1);
	return (0);
}

int
device_v_map(struct inifile_file *f, const char *key, const char *v,
    const double from[2], const double to[2], const char *from_unit,
    const char *to_unit, double a[2], double b[2])
{
	char	 buf[DEVICE_VALUE_MAX], *comma;

	snprintf(buf, sizeof(buf), "%s", v);
	if (strlen(v) >= sizeof(buf) || (comma = strchr(buf, ',')) == NULL ||
	    strchr(comma + 1, ',') != NULL)
		goto bad;
	*comma = '\0';
	if (device_v_point(buf, from, to, &a[0], &b[0]) == -1 ||
	    device_v_point(comma + 1, from, to, &a[1], &b[1]) == -1)
		goto bad;
	if (a[0] == a[1] || b[0] == b[1]) {
		inifile_err(f, key, "the two points have the same %s (expected "
		    "two points of a line that rises or falls)", a[0] == a[1] ?
		    from_unit : to_unit);
		return (-1);
	}
	return (0);
bad:
	inifile_err(f, key, "not valid (expected two points 'A -> B, C -> D', "
	    "%s from %g to %g -> %s from %.10g to %.10g)", from_unit, from[0], from[1], to_unit, to[0], to[1]);
	return (-1);
}

int
device_v_unit_id(struct inifile_file *f, const char *key, const char *v,
    int *out)
{
	long	 n;

	if (parse_int(v, 0, 255, &n) == -1) {
		inifile_err(f, key, "not valid (expected a whole number from 1 "
		    "to 247)");
		return (-1);
	}
	if (n == 0) {
		inifile_err(f, key, "0 is the broadcast address, never a "
		    "device's own (expected 1 to 247)");
		return (-1);
	}
	if (n > 247) {
		inifile_err(f, key, "%ld is reserved by Modbus and ignored by "
		    "some devices (expected 1 to 247)", n);
		return (-1);
	}
	*out = (int)n;
	return (0);
}

double
device_type_min(enum device_type t)
{
	switch (t) {
	case DEVICE_S16:
		return (-32768);
	case DEVICE_S32:
		return (-2147483648.0);
	case DEVICE_F32:
		return (-FLT_MAX);
	default:
		return (0);
	}
}

double
device_type_max(enum device_type t)
{
	switch (t) {
	case DEVICE_U16:
		return (65535);
	case DEVICE_S16:
		return (32767);
	case DEVICE_U32:
		return (4294967295.0);
	case DEVICE_S32:
		return (2147483647.0);
	default:
		return (FLT_MAX);
	}
}

int
device_type_whole(enum device_type t)
{
	return (t != DEVICE_F32);
}
