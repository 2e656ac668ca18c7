/*
 * strings.c: the one trim, the one duration formatter and the one list
 * joiner of the daemon, the simulator and the client.
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
