/*
 * parse.c: strict number and duration parsing (strtol/strtod with end,
 * errno and range checks), the one place that turns text into numbers.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

/*
 * The length of the decimal number at the start of s: an optional sign,
 * digits with at most one '.' (at least one digit), an optional exponent
 * ("1e2"). strtod() alone would also take "0x23", the hex float "0x1p4",
 * "inf" and "nan". 0 if there is none.
 */
static size_t
parse_decimal_len(const char *s)
{
	size_t	 i = 0, digits = 0, e;
	int	 dot = 0;

	if (s[i] == '-' || s[i] == '+')
		i++;
	for (;; i++) {
		if (isdigit((unsigned char)s[i]))
			digits++;
		else if (s[i] == '.' && !dot)
			dot = 1;
		else
			break;
	}
	if (digits == 0)
		return (0);
	if (s[i] == 'e' || s[i] == 'E') {
		e = i + 1;
		if (s[e] == '-' || s[e] == '+')
			e++;
		if (isdigit((unsigned char)s[e])) {
			while (isdigit((unsigned char)s[e]))
				e++;
			i = e;
		}
	}
	return (i);
}

int
parse_double(const char *s, double min, double max, double *out)
{
	char	*end;
	double	 v;

	if (s == NULL || *s == '\0' || parse_decimal_len(s) != strlen(s))
		return (-1);
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}

int
parse_int(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}

int
parse_bool(const char *s, int *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 ||
	    strcmp(s, "on") == 0 || strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 ||
	    strcmp(s, "off") == 0 || strcmp(s, "0") == 0)
		*out = 0;
	else
		return (-1);
	return (0);
}

int
parse_duration(const char *s, double min, double max, double *out)
{
	char	*end;
	double	 x, mult;

	if (s == NULL || (!isdigit((unsigned char)s[0]) && s[0] != '.'))
		return (-1);
	errno = 0;
	x = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(x) ||
	    (size_t)(end - s) != parse_decimal_len(s))
		return (-1);
	while (*end == ' ')
		end++;
	if (*end == '\0' || strcmp(end, "s") == 0 || strcmp(end, "sec") == 0)
		mult = 1;
	else if (strcmp(end, "min") == 0)
		mult = 60;
	else if (strcmp(end, "h") == 0)
		mult = 3600;
	else
		return (-1);
	x *= mult;
	if (x < min || x > max)
		return (-1);
	*out = x;
	return (0);
}
