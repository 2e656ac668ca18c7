/*
 * strings.c: the one trim, the one "one line" check, the one duration
 * formatter and the one list joiner of the daemon, the simulator and the
 * client.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "strings.h"

char *
str_trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return (s);
}

/* A code point that ends or reorders a line where it is shown. */
static int
str_breaks_line(unsigned long c)
{
	return (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c ||
	    c == 0x200e || c == 0x200f || (c >= 0x2028 && c <= 0x202e) ||
	    (c >= 0x2066 && c <= 0x2069));
}

int
str_one_line(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned long		 c;
	int			 n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			c = *p;
			n = 1;
		} else if ((*p & 0xe0) == 0xc0) {
			c = *p & 0x1f;
			n = 2;
		} else if ((*p & 0xf0) == 0xe0) {
			c = *p & 0x0f;
			n = 3;
		} else if ((*p & 0xf8) == 0xf0) {
			c = *p & 0x07;
			n = 4;
		} else
			return (0);
		for (i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return (0);
			c = c << 6 | (p[i] & 0x3f);
		}
		if (str_breaks_line(c))
			return (0);
		p += n;
	}
	return (1);
}

char *
str_duration(double s, char *buf, size_t len)
{
	long	 t = s > 0 ? lround(s) : 0;

	if (t >= 3600)
		snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60,
		    t % 60);
	else
		snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
	return (buf);
}

void
str_list_init(struct str_list *l, char *buf, size_t len)
{
	memset(l, 0, sizeof(*l));
	l->buf = buf;
	l->len = len;
	if (len > 0)
		buf[0] = '\0';
}

void
str_list_add(struct str_list *l, int last, const char *fmt, ...)
{
	va_list		 ap;
	const char	*more;
	size_t		 room;
	int		 w, v;

	if (l->full || l->len == 0)
		return;
	room = l->len - l->off;
	w = snprintf(l->buf + l->off, room, "%s", l->n == 0 ? "" :
	    last ? " or " : ", ");
	if (w >= 0 && (size_t)w < room) {
		va_start(ap, fmt);
		v = vsnprintf(l->buf + l->off + w, room - (size_t)w, fmt, ap);
		va_end(ap);
		w = v < 0 ? -1 : w + v;
	}
	if (w < 0 || (size_t)w >= room) {
		/* Cut short: end on a clear "...". */
		l->full = 1;
		l->buf[l->off] = '\0';
		more = l->n == 0 ? "..." : ", ...";
		if (l->off + strlen(more) < l->len)
			memcpy(l->buf + l->off, more, strlen(more) + 1);
		else if (l->len >= 4)
			memcpy(l->buf + l->len - 4, "...", 4);
		return;
	}
	l->off += (size_t)w;
	l->n++;
}
