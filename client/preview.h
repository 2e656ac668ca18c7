/*
 * preview.h: massagectl preview. Runs a program for a profile offline,
 * through the real routines, the real session logic and the real limit
 * pipeline, against a simulated table, and writes the planned pressure of
 * every zone over time as CSV and as an SVG chart.
 */
#ifndef PREVIEW_H
#define PREVIEW_H

#include <stdio.h>

#include "config.h"

struct preview_step {
	double		 t_s;
	char		 name[NAME_LEN];
	char		 routine[NAME_LEN];
};

struct preview {
	const struct config	*cfg;
	double			 tick_hz;
	double			 sample_hz;
	int			 nsamples;
	int			 cap;
	double			*t_s;		/* nsamples */
	float			*kpa;		/* nsamples x nzones */
	double			 limit_kpa[TABLE_MAX_ZONES];
	int			 excluded[TABLE_MAX_ZONES];
	int			 used[TABLE_MAX_ZONES];	/* pressed at all */
	double			 max_rise_kpa_s;	/* steepest rise seen */
	double			 ramp_kpa_s;
	int			 nsteps;
	struct preview_step	 steps[PROGRAM_MAX_STEPS + 1];
	char			 program[NAME_LEN];
	char			 profile[NAME_LEN];
	char			 end_reason[64];
	double			 end_s;
	int			 above_limit;	/* samples above a limit: 0 */
};

/* Runs it; -1 with the reason (refused, unknown id, routine error). */
int	preview_run(struct preview *p, const struct config *cfg,
	    const char *program, const char *profile, int intensity_pct,
	    char *why, size_t whylen);
void	preview_write_csv(const struct preview *p, FILE *fp);
void	preview_write_svg(const struct preview *p, FILE *fp);
void	preview_free(struct preview *p);

/* argv[0] is "preview"; returns the exit code of massagectl. */
int	preview_main(int argc, char **argv);

#endif
