/*
 * strings.h: small string helpers shared by the daemon and its tools.
 * common/ is on the quote include path only (-iquote), so this file never
 * shadows the system's <strings.h>.
 */
#ifndef MASSAGED_STRINGS_H
#define MASSAGED_STRINGS_H

#include <stddef.h>

/* Strips leading and trailing white space in place; returns the start. */
char	*str_trim(char *s);

/*
 * 1 if s is one line of UTF-8 text as every screen shows it: no C0 or C1
 * control (U+0085 NEL among them), no DEL, no line or paragraph separator
 * (U+2028, U+2029) and no bidirectional control (U+061C, U+200E, U+200F,
 * U+202A-U+202E, U+2066-U+2069) that could reorder what follows it.
 * 0 for any of them, and for bytes that are not UTF-8.
 */
int	 str_one_line(const char *s);

/* "m:ss" or "h:mm:ss", rounded to the second, negative as 0; returns buf. */
char	*str_duration(double s, char *buf, size_t len);

/*
 * The one list joiner: "a, b, c", or "a, b or c" when the last item is
 * added with last set. An item that no longer fits ends the list with
 * "..." and later items are dropped.
 */
struct str_list {
	char	*buf;
	size_t	 len;
	size_t	 off;
	int	 n;		/* items added */
	int	 full;		/* cut short */
};

void	str_list_init(struct str_list *, char *buf, size_t len);
void	str_list_add(struct str_list *, int last, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
