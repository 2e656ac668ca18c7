/*
 * table-dir.h: checks of a directory of table files (massaged -n -f DIR).
 */
#ifndef TABLE_DIR_H
#define TABLE_DIR_H

struct table;

/* One line per RTU line of t: its time per tick, against the tick. */
void	table_dir_print_lines(const struct table *t);
/* 1 if path is a directory. */
int	table_dir_is_dir(const char *path);
/* Checks every table file in dir, each alone and against the others;
 * prints what it finds; returns the exit status (0 all good). */
int	table_dir_check(const char *dir, char *const *overrides,
	    int noverrides);

#endif
