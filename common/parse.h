/*
 * parse.h: strict parsing of numbers and durations, for configuration
 * files and command lines alike: the whole string, no leading space, no
 * trailing junk, range checked. Each returns 0, or -1 leaving *out alone.
 * Numbers are decimal: digits with an optional sign, '.' and exponent
 * ("-2.5", "1e2"), never hex ("0x23", "0x1p4"), "inf" or "nan".
 */
#ifndef PARSE_H
#define PARSE_H

int	parse_double(const char *s, double min, double max, double *out);
int	parse_int(const char *s, long min, long max, long *out);
/* yes/true/on/1 or no/false/off/0 */
int	parse_bool(const char *s, int *out);
/* "300", "300s", "90 s", "5min", "1.5 min", "1h": seconds, min..max */
int	parse_duration(const char *s, double min, double max, double *out);

#endif
