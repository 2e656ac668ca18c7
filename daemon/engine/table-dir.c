/*
 * table-dir.c: `massaged -n` on a directory of table files, the layout of the
 * template unit (massaged@NAME.service reads /etc/massaged/NAME.ini).
 *
 * Each file that is a table (it has a [controller NAME] section) is
 * checked as on its own; then the tables are checked against each other:
 * two tables naming the same controller endpoint (a TCP host:port or a
 * serial device, and a unit id), or the same listen address, would drive
 * one controller from two daemons or fail to start the second.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table-dir.h"
#include "tick.h"
#include "log.h"

#define TABLE_DIR_MAX	64
#define TABLE_DIR_PEEK	65536	/* bytes read to tell a table file */

/* Whether path looks like a table file: a [controller ...] line. */
static int
table_dir_is_table(const char *path)
{
	FILE	*f;
	char	 line[256];
	int	 found = 0, n = 0;

	if ((f = fopen(path, "re")) == NULL)
		return (1);	/* the check says why */
	while (!found && fgets(line, sizeof(line), f) != NULL &&
	    (n += (int)strlen(line)) < TABLE_DIR_PEEK)
		found = strncmp(line, "[controller ", 12) == 0;
	fclose(f);
	return (found);
}

static int
table_dir_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

void
table_dir_print_lines(const struct table *t)
{
	const struct ctl_conf	*c;
	double			 s;
	int			 i, j, n;

	for (i = 0; i < t->nctls; i++) {
		c = &t->ctls[i];
		for (j = 0; j < i; j++)
			if (table_same_wire(&t->ctls[j], c))
				break;
		if (c->transport != TRANSPORT_RTU || j < i)
			continue;
		for (n = 0, j = i; j < t->nctls; j++)
			n += table_same_wire(&t->ctls[j], c);
		s = table_line_s(t, i);
		printf("line %s: %d controller%s, %.1f ms of line time per tick "
		    "at %d baud, a tick is %.1f ms (the line carries at most "
		    "%d Hz)\n", c->device, n, n == 1 ? "" : "s", s * 1e3,
		    c->baud, 1e3 / t->tick_hz, (int)floor(1 / s));
	}
}

int
table_dir_is_dir(const char *path)
{
	struct stat	 st;

	return (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/* The table files of dir, sorted, into paths; their number, or -1 when
 * dir cannot be read. *bad counts a directory with too many. */
static int
table_dir_list(const char *dir, char **paths, int *bad)
{
	char		 path[PATH_MAX];
	DIR		*d;
	struct dirent	*de;
	size_t		 len;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".ini") != 0 ||
		    de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    de->d_name) >= sizeof(path) || !table_dir_is_table(path))
			continue;
		if (n == TABLE_DIR_MAX) {
			fprintf(stderr, "%s: more than %d tables\n", dir,
			    TABLE_DIR_MAX);
			(*bad)++;
			break;
		}
		if ((paths[n++] = strdup(path)) == NULL)
			fatal("strdup");
	}
	closedir(d);
	qsort(paths, n, sizeof(*paths), table_dir_cmp);
	return (n);
}

/* A unit id of x that is also one of y's (every part's, for kind =
 * device), or 0. */
static int
table_dir_shared_unit(const struct ctl_conf *x, const struct ctl_conf *y)
{
	int	 ux[CTL_PARTS], uy[CTL_PARTS], rx[CTL_PARTS], ry[CTL_PARTS];
	int	 a, b, nx, ny;

	nx = table_ctl_units(x, ux, rx);
	ny = table_ctl_units(y, uy, ry);
	for (a = 0; a < nx; a++)
		for (b = 0; b < ny; b++)
			if (ux[a] == uy[b])
				return (ux[a]);
	return (0);
}

/* Across tables (NULL: did not load): endpoints and listen addresses. The
 * number of problems. */
static int
table_dir_across(struct table **tabs, char **paths, int n)
{
	int	 bad = 0, i, j, a, b;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i && tabs[i] != NULL; j++) {
			if (tabs[j] == NULL)
				continue;
			if (strcmp(tabs[i]->listen_host,
			    tabs[j]->listen_host) == 0 &&
			    tabs[i]->listen_port == tabs[j]->listen_port) {
				fprintf(stderr, "%s: listen %s:%d is also the "
				    "listen address of %s\n", paths[i],
				    tabs[i]->listen_host, tabs[i]->listen_port,
				    paths[j]);
				bad++;
			}
			for (a = 0; a < tabs[i]->nctls; a++)
				for (b = 0; b < tabs[j]->nctls; b++) {
					const struct ctl_conf *x, *y;
					int u;

					x = &tabs[i]->ctls[a];
					y = &tabs[j]->ctls[b];
					if (!table_same_wire(x, y) ||
					    (u = table_dir_shared_unit(x, y)) == 0)
						continue;
					fprintf(stderr, "%s:%d: [controller %s] "
					    "%s unit %d is also controller %s "
					    "of %s: one controller, two "
					    "daemons\n", paths[i], x->line,
					    x->name, table_wire_name(x), u,
					    y->name, paths[j]);
					bad++;
				}
		}
	}
	return (bad);
}

int
table_dir_check(const char *dir, char *const *overrides, int noverrides)
{
	static struct tick	 ctl;
	struct inifile_errors	 errs = { 0 };
	struct table		*tabs[TABLE_DIR_MAX];
	char			*paths[TABLE_DIR_MAX];
	int			 n, bad = 0, i;

	if ((n = table_dir_list(dir, paths, &bad)) == -1)
		return (1);
	if (n == 0) {
		fprintf(stderr, "%s: no table files (NAME.ini with a "
		    "[controller NAME] section)\n", dir);
		return (1);
	}

	for (i = 0; i < n; i++) {
		tabs[i] = NULL;
		errs.quiet = 1;
		if (tick_load(&ctl, paths[i], overrides, noverrides,
		    &errs) == -1) {
			fputs(errs.text != NULL ? errs.text : "", stderr);
			fprintf(stderr, "%s: %d error%s\n", paths[i], errs.count,
			    errs.count == 1 ? "" : "s");
			bad++;
		} else {
			if ((tabs[i] = malloc(sizeof(*tabs[i]))) == NULL)
				fatal("malloc");
			*tabs[i] = *ctl.cfg->table;
			table_dir_print_lines(tabs[i]);
			printf("%s: OK\n", paths[i]);
		}
		inifile_errors_free(&errs);
		tick_free(&ctl);
	}
	bad += table_dir_across(tabs, paths, n);
	for (i = 0; i < n; i++) {
		free(tabs[i]);
		free(paths[i]);
	}
	if (bad) {
		fprintf(stderr, "%s: %d problem%s\n", dir, bad,
		    bad == 1 ? "" : "s");
		return (1);
	}
	printf("configuration OK: %d table%s\n", n, n == 1 ? "" : "s");
	return (0);
}
