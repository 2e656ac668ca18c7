/*
 * inifile.h: the INI reading layer shared by every configuration file (table,
 * profiles, programs, contraindication rules).
 *
 * inih does the tokenising; this layer counts lines, reports every error as
 * "file:line: [section] key: what is wrong", catches syntax errors,
 * duplicate keys and over-long lines, and offers strict number parsing.
 */
#ifndef INIFILE_H
#define INIFILE_H

#include <dirent.h>
#include <stddef.h>

#include "log.h"
#include "parse.h"

/* The largest configuration file read, in bytes (a profile is about 500). */
#define INIFILE_SIZE_MAX	(1024 * 1024)

/* All errors of one load, one per line, in the order found. */
struct inifile_errors {
	char	*text;
	size_t	 len;
	int	 count;
	int	 quiet;		/* 1: collect only, do not log */
};

struct inifile_file;
typedef int	(*inifile_section_fn)(struct inifile_file *, const char *section);
typedef int	(*inifile_kv_fn)(struct inifile_file *, const char *section,
		    const char *key, const char *value);

struct inifile_file {
	const char		*path;
	int			 line;		/* line being handled */
	int			 section_line;	/* line of the current section */
	char			 section[128];
	struct inifile_errors	*errs;
	void			*user;
	inifile_section_fn		 on_section;
	inifile_kv_fn		 on_kv;
	char			 keys[64][64];	/* keys seen in this section */
	int			 nkeys;
};

void	inifile_errors_add(struct inifile_errors *, const char *fmt, ...) LOG_PRINTF(2, 3);
void	inifile_errors_free(struct inifile_errors *);

/* Parses path, read whole by files_read() (a trusted regular file of at
 * most INIFILE_SIZE_MAX bytes); returns the number of errors it added, -1
 * if it could not read the file (also reported). */
int	inifile_parse(const char *path, struct inifile_errors *errs,
	    inifile_section_fn on_section, inifile_kv_fn on_kv, void *user);

/* Error at the current line, in the current section, for key (or NULL). */
void	inifile_err(struct inifile_file *, const char *key, const char *fmt, ...)
	    LOG_PRINTF(3, 4);
/* Error at an explicit place (for checks made after parsing). */
void	inifile_err_at(struct inifile_errors *, const char *path, int line,
	    const char *section, const char *key, const char *fmt, ...)
	    LOG_PRINTF(6, 7);

/* The strict parsers of parse.h, reporting "expected ..." errors through inifile_err(). */
int	inifile_double(struct inifile_file *, const char *key, const char *v,
	    double min, double max, const char *unit, double *out);
int	inifile_int(struct inifile_file *, const char *key, const char *v,
	    long min, long max, int *out);
int	inifile_bool(struct inifile_file *, const char *key, const char *v, int *out);
int	inifile_str(struct inifile_file *, const char *key, const char *v,
	    char *dst, size_t dstlen);
/* A name: [a-z0-9_]+, 1..maxlen-1 characters. */
int	inifile_name_ok(const char *s, size_t maxlen);

/*
 * The files of dir named *suffix (no dot files), sorted by name, read with
 * scandir(3): returns their count, the entries in *ents (free them with
 * inifile_dir_free()), or -1 with errno set.
 */
int	inifile_dir_list(const char *dir, const char *suffix,
	    struct dirent ***ents);
void	inifile_dir_free(struct dirent **ents, int n);

/* Resolves rel against the directory of base into dst. */
int	inifile_path(const char *base, const char *rel, char *dst, size_t dstlen);

#endif
