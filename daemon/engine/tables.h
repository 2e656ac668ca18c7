/*
 * tables.h: checks of a directory of table files (massaged -n -f DIR).
 */
#ifndef TABLES_H
#define TABLES_H

struct table;

/* One line per RTU line of t: its time per tick, against the tick. */
void	tables_print_lines(const struct table *t);
/* 1 if path is a directory. */
int	tables_is_dir(const char *path);
/* Checks every table file in dir, each alone and against the others;
 * prints what it finds; returns the exit status (0 all good). */
int	tables_check_dir(const char *dir, char *const *overrides,
	    int noverrides);

#endif
