/*
 * inifile.c: INI reading with line numbers and strict values.
 *
 * Debian's inih does not pass line numbers to the handler, so the file is
 * fed through ini_parse_stream() by a reader that counts lines. The reader
 * also sees each raw line first, which lets it report syntax errors, track
 * sections (including empty ones) and refuse over-long lines, every one of
 * them rather than only the first.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <ini.h>

#include "files.h"
#include "inifile.h"
#include "strings.h"

#define INIFILE_LINE_MAX	512

struct inifile_reader {
	const char		*buf;	/* the whole file, read at once */
	size_t			 len;
	size_t			 off;
	struct inifile_file	*f;
};

void
inifile_errors_add(struct inifile_errors *e, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[1024];
	size_t	 n;
	char	*p;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!e->quiet)
		log_emit(LOG_ERR, "%s", buf);
	e->count++;
	n = strlen(buf);
	p = realloc(e->text, e->len + n + 2);
	if (p == NULL)
		return;
	e->text = p;
	memcpy(e->text + e->len, buf, n);
	e->len += n;
	e->text[e->len++] = '\n';
	e->text[e->len] = '\0';
}

void
inifile_errors_free(struct inifile_errors *e)
{
	free(e->text);
	e->text = NULL;
	e->len = 0;
	e->count = 0;
}

void
inifile_err_at(struct inifile_errors *e, const char *path, int line,
    const char *section, const char *key, const char *fmt, ...)
{
	va_list	 ap;
	char	 what[768], where[256];
	int	 n;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	n = snprintf(where, sizeof(where), "%s:%d:", path, line);
	if (section != NULL && *section != '\0' && n > 0)
		n += snprintf(where + n, sizeof(where) - n, " [%s]", section);
	if (key != NULL && n > 0 && (size_t)n < sizeof(where))
		snprintf(where + n, sizeof(where) - n, " %s:", key);
	inifile_errors_add(e, "%s %s", where, what);
}

void
inifile_err(struct inifile_file *f, const char *key, const char *fmt, ...)
{
	va_list	 ap;
	char	 what[768];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	inifile_err_at(f->errs, f->path, f->line, f->section, key, "%s", what);
}

/*
 * The length of the valid UTF-8 at the start of s (n bytes): n when it all
 * is. Overlong forms, surrogates and code points above U+10FFFF are not.
 */
static size_t
inifile_utf8_len(const unsigned char *s, size_t n)
{
	size_t	 i = 0, k, need;
	unsigned c, min;

	while (i < n) {
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			min = 0x80;
			c &= 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			min = 0x800;
			c &= 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			min = 0x10000;
			c &= 0x07;
		} else
			return (i);
		if (i + need >= n)
			return (i);
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return (i);
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return (i);
		i += need + 1;
	}
	return (n);
}

/*
 * inih reader: hands inih one line at a time, after checking it. A line
 * that is not valid INI, holds a NUL byte or is not UTF-8 is reported here
 * (by its number, never its content) and replaced by a blank line, so inih
 * never stops early and every error is seen.
 */
static char *
inifile_read(char *str, int num, void *stream)
{
	struct inifile_reader	*r = stream;
	struct inifile_file	*f = r->f;
	char			 copy[INIFILE_LINE_MAX], *t, *end;
	const char		*raw, *nl;
	size_t			 n, len, bad;

	if (r->off >= r->len)
		return (NULL);
	raw = r->buf + r->off;
	len = r->len - r->off;
	nl = memchr(raw, '\n', len);
	n = nl != NULL ? (size_t)(nl - raw) + 1 : len;	/* with the newline */
	r->off += n;
	f->line++;
	if (n > INIFILE_LINE_MAX - 1 || (int)n >= num) {
		inifile_err(f, NULL, "line too long (at most %d characters)",
		    INIFILE_LINE_MAX - 2);
		snprintf(str, num, "\n");
		return (str);
	}
	if (memchr(raw, '\0', n) != NULL) {
		inifile_err(f, NULL, "contains a NUL byte (at column %zu)",
		    (size_t)((const char *)memchr(raw, '\0', n) - raw) + 1);
		snprintf(str, num, "\n");
		return (str);
	}
	if ((bad = inifile_utf8_len((const unsigned char *)raw, n)) != n) {
		inifile_err(f, NULL, "not valid UTF-8 (at byte %zu of the "
		    "line)", bad + 1);
		snprintf(str, num, "\n");
		return (str);
	}
	memcpy(copy, raw, n);
	copy[n] = '\0';
	t = str_trim(copy);
	if (f->line == 1 && strncmp(t, "\xef\xbb\xbf", 3) == 0)
		t += 3;		/* UTF-8 byte order mark */
	if (*t == '\0' || *t == ';' || *t == '#') {
		/* blank or comment */
	} else if (*t == '[') {
		end = strchr(t, ']');
		if (end == NULL) {
			inifile_err(f, NULL, "syntax error: section header "
			    "without ']'");
			snprintf(str, num, "\n");
			return (str);
		}
		*end = '\0';
		snprintf(f->section, sizeof(f->section), "%s", str_trim(t + 1));
		f->section_line = f->line;
		f->nkeys = 0;
		if (f->on_section != NULL)
			f->on_section(f, f->section);
	} else if (strchr(t, '=') == NULL) {
		/* Never the content: the file may not be what it claims. */
		inifile_err(f, NULL, "syntax error: not a 'key = value' line "
		    "or a '[section]' header");
		snprintf(str, num, "\n");
		return (str);
	} else if (f->section[0] == '\0') {
		inifile_err(f, NULL, "key outside of any section");
		snprintf(str, num, "\n");
		return (str);
	}
	memcpy(str, raw, n);
	str[n] = '\0';
	return (str);
}

static int
inifile_handler(void *user, const char *section, const char *key,
    const char *value)
{
	struct inifile_file	*f = user;
	int		 i;

	for (i = 0; i < f->nkeys; i++) {
		if (strcmp(f->keys[i], key) == 0) {
			inifile_err(f, key, "given twice in this section");
			return (1);
		}
	}
	if (f->nkeys < (int)(sizeof(f->keys) / sizeof(f->keys[0])))
		snprintf(f->keys[f->nkeys++], sizeof(f->keys[0]), "%s", key);
	if (*value == '\0') {
		inifile_err(f, key, "empty value");
		return (1);
	}
	(void)section;
	f->on_kv(f, f->section, key, value);
	return (1);
}

int
inifile_parse(const char *path, struct inifile_errors *errs,
    inifile_section_fn on_section, inifile_kv_fn on_kv, void *user)
{
	struct inifile_file	 f;
	struct inifile_reader	 r;
	char			*buf, why[PATH_MAX + 512];
	size_t			 len;
	int			 before = errs->count;

	memset(&f, 0, sizeof(f));
	f.path = path;
	f.errs = errs;
	f.user = user;
	f.on_section = on_section;
	f.on_kv = on_kv;
	if (files_read(path, INIFILE_SIZE_MAX, 0, &buf, &len, why,
	    sizeof(why)) == -1) {
		inifile_errors_add(errs, "%s: %s", path, why);
		return (-1);
	}
	memset(&r, 0, sizeof(r));
	r.buf = buf;
	r.len = len;
	r.f = &f;
	ini_allow_multiline = false;
	ini_max_line = INIFILE_LINE_MAX;
	ini_parse_stream(inifile_read, &r, inifile_handler, &f);
	free(buf);
	return (errs->count - before);
}

int
inifile_double(struct inifile_file *f, const char *key, const char *v,
    double min, double max, const char *unit, double *out)
{
	if (parse_double(v, min, max, out) == 0)
		return (0);
	inifile_err(f, key, "not valid (expected a decimal number from %g to "
	    "%g%s%s)", min, max, unit != NULL && *unit ? " " : "",
	    unit ? unit : "");
	return (-1);
}

int
inifile_int(struct inifile_file *f, const char *key, const char *v, long min,
    long max, int *out)
{
	long	 l;

	if (parse_int(v, min, max, &l) == 0) {
		*out = (int)l;
		return (0);
	}
	inifile_err(f, key, "not valid (expected a whole number from %ld to "
	    "%ld)", min, max);
	return (-1);
}

int
inifile_bool(struct inifile_file *f, const char *key, const char *v, int *out)
{
	if (parse_bool(v, out) == 0)
		return (0);
	inifile_err(f, key, "not valid (expected yes or no)");
	return (-1);
}

int
inifile_str(struct inifile_file *f, const char *key, const char *v, char *dst,
    size_t dstlen)
{
	if (strlen(v) >= dstlen) {
		inifile_err(f, key, "too long (at most %zu characters)", dstlen - 1);
		return (-1);
	}
	memcpy(dst, v, strlen(v) + 1);
	return (0);
}

int
inifile_name_ok(const char *s, size_t maxlen)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++, n++) {
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) ||
		    *s == '_'))
			return (0);
	}
	return (n > 0 && n < maxlen);
}

int
inifile_path(const char *base, const char *rel, char *dst, size_t dstlen)
{
	const char	*slash;
	int		 n;

	if (rel[0] == '/' || (slash = strrchr(base, '/')) == NULL)
		n = snprintf(dst, dstlen, "%s", rel);
	else
		n = snprintf(dst, dstlen, "%.*s/%s", (int)(slash - base), base,
		    rel);
	return (n < 0 || (size_t)n >= dstlen ? -1 : 0);
}

static int
inifile_dir_cmp(const struct dirent **a, const struct dirent **b)
{
	return (strcmp((*a)->d_name, (*b)->d_name));
}

int
inifile_dir_list(const char *dir, const char *suffix, struct dirent ***ents)
{
	struct dirent	**all;
	size_t		  sl = strlen(suffix), len;
	int		  n, i, k = 0;

	if ((n = scandir(dir, &all, NULL, inifile_dir_cmp)) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		len = strlen(all[i]->d_name);
		if (all[i]->d_name[0] != '.' && len > sl &&
		    strcmp(all[i]->d_name + len - sl, suffix) == 0)
			all[k++] = all[i];
		else
			free(all[i]);
	}
	*ents = all;
	return (k);
}

void
inifile_dir_free(struct dirent **ents, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
}
