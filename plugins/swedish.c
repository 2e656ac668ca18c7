/*
 * swedish.c: Swedish massage strokes, gentle by default.
 *
 *   effleurage  long, flowing strokes: a raised-cosine bump of pressure
 *               (width_cm long) glides head to feet over the zones, ordered
 *               by along_cm whatever the program's order, then back
 *   kneading    neighbouring zones squeezed in turn: zones are put in rows
 *               by along_cm (within 2 cm is one row) and sorted across each
 *               row; phases alternate along each row and from row to row,
 *               like a checkerboard, so a zone is squeezed while its
 *               neighbours let go
 *   circular    small circles: every zone pulses once per cycle, phase
 *               shifted by its angle around the centroid of the zones, so
 *               the peak goes round
 *
 * Between strokes the zones keep contact_kpa. Kneading and circular fade in
 * over their first cycle. The routine fills the step: it returns DONE when
 * t_s reaches duration_s (never, if duration_s is 0).
 */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <massaged/routine.h>

#ifndef M_PI
#define M_PI			3.14159265358979323846
#endif
#define SWEDISH_ROW_CM		2.0
#define SWEDISH_CENTRE_CM	1.0

enum { STROKE_EFFLEURAGE, STROKE_KNEADING, STROKE_CIRCULAR };
enum { P_STROKE, P_PRESSURE, P_CONTACT, P_PERIOD, P_WIDTH, P_COUNT };

struct swedish {
	int	 stroke;
	double	 peak_kpa;
	double	 contact_kpa;
	double	 period_s;
	double	 half_width_cm;
	double	 duration_s;
	double	 from_cm;	/* effleurage travel, head end */
	double	 to_cm;		/* and feet end */
	size_t	 n;
	double	*along_cm;
	double	*phase;		/* kneading and circular, radians */
};

static const double swedish_natural_s[] = { 20, 4, 6 };

static const struct massaged_param swedish_params[P_COUNT] = {
	[P_STROKE] = { "stroke", MASSAGED_PARAM_CHOICE, "", 0, 0, 2,
	    "effleurage|kneading|circular",
	    "Effleurage glides along the body, kneading squeezes neighbouring "
	    "zones in turn, circular makes small circles." },
	[P_PRESSURE] = { "pressure_kpa", MASSAGED_PARAM_REAL, "kPa", 10, 2, 30,
	    NULL, "Peak pressure of a stroke at full intensity." },
	[P_CONTACT] = { "contact_kpa", MASSAGED_PARAM_REAL, "kPa", 2, 0, 10,
	    NULL, "Light contact kept between strokes (at most pressure_kpa)." },
	[P_PERIOD] = { "period_s", MASSAGED_PARAM_REAL, "s", 0, 0, 120, NULL,
	    "Seconds per stroke cycle, at least 2; 0 takes the stroke's own "
	    "tempo (effleurage 20, kneading 4, circular 6)." },
	[P_WIDTH] = { "width_cm", MASSAGED_PARAM_REAL, "cm", 30, 5, 100, NULL,
	    "Effleurage: the length of body under the gliding hand." },
};

static void	*swedish_create(const struct massaged_routine_args *, char *,
		    size_t);
static int	 swedish_step(void *, const struct massaged_step_in *,
		    double *);
static void	 swedish_destroy(void *);

static const struct massaged_routine swedish_routine = {
	.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
	.size = sizeof(struct massaged_routine),
	.name = "swedish",
	.version = "1.0.0",
	.description = "Swedish massage: effleurage, kneading or circular "
	    "strokes, gentle and flowing.",
	.flags = 0,
	.params = swedish_params,
	.n_params = P_COUNT,
	.create = swedish_create,
	.step = swedish_step,
	.destroy = swedish_destroy,
};

static int
swedish_cmp_pos(const struct massaged_zone *a, const struct massaged_zone *b)
{
	if (a->along_cm != b->along_cm)
		return (a->along_cm < b->along_cm ? -1 : 1);
	if (a->across_cm != b->across_cm)
		return (a->across_cm < b->across_cm ? -1 : 1);
	return (0);
}

/* Checkerboard phases for kneading (see the top of the file). */
static int
swedish_kneading(struct swedish *s, const struct massaged_zone *z)
{
	size_t	*order, i, j, t;
	int	*row, r = 0;

	order = calloc(s->n, sizeof(*order));
	row = calloc(s->n, sizeof(*row));
	if (order == NULL || row == NULL) {
		free(order);
		free(row);
		return (-1);
	}
	for (i = 0; i < s->n; i++)
		order[i] = i;
	/* Insertion sorts: few zones, and stable for equal positions. */
	for (i = 1; i < s->n; i++) {
		for (j = i; j > 0 && swedish_cmp_pos(&z[order[j - 1]],
		    &z[order[j]]) > 0; j--) {
			t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	}
	for (i = 1; i < s->n; i++) {
		if (z[order[i]].along_cm - z[order[i - 1]].along_cm >
		    SWEDISH_ROW_CM)
			r++;
		row[order[i]] = r;
	}
	/* Within a row, left to right. */
	for (i = 1; i < s->n; i++) {
		for (j = i; j > 0 && row[order[j - 1]] == row[order[j]] &&
		    z[order[j - 1]].across_cm > z[order[j]].across_cm; j--) {
			t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	}
	for (i = 0, j = 0; i < s->n; i++, j++) {
		if (i > 0 && row[order[i]] != row[order[i - 1]])
			j = 0;
		s->phase[order[i]] = ((row[order[i]] + (int)j) % 2) ? M_PI : 0;
	}
	free(order);
	free(row);
	return (0);
}

static void
swedish_circular(struct swedish *s, const struct massaged_zone *z)
{
	double	 ca = 0, cx = 0, da, dx;
	size_t	 i;

	for (i = 0; i < s->n; i++) {
		ca += z[i].along_cm;
		cx += z[i].across_cm;
	}
	ca /= (double)s->n;
	cx /= (double)s->n;
	for (i = 0; i < s->n; i++) {
		da = z[i].along_cm - ca;
		dx = z[i].across_cm - cx;
		if (hypot(da, dx) < SWEDISH_CENTRE_CM)
			s->phase[i] = 0;
		else
			s->phase[i] = atan2(dx, da);
	}
}

static void *
swedish_create(const struct massaged_routine_args *a, char *err,
    size_t errlen)
{
	struct swedish	*s;
	size_t		 i;

	if (a->size < sizeof(*a)) {
		snprintf(err, errlen, "the host is older than this routine");
		return (NULL);
	}
	if (a->n_zones == 0) {
		snprintf(err, errlen, "no zones to work on");
		return (NULL);
	}
	if (a->params[P_STROKE] < STROKE_EFFLEURAGE ||
	    a->params[P_STROKE] > STROKE_CIRCULAR) {
		snprintf(err, errlen, "stroke %g is not a known stroke",
		    a->params[P_STROKE]);
		return (NULL);
	}
	if (a->params[P_CONTACT] > a->params[P_PRESSURE]) {
		snprintf(err, errlen, "contact_kpa %g is above pressure_kpa %g",
		    a->params[P_CONTACT], a->params[P_PRESSURE]);
		return (NULL);
	}
	if (a->params[P_PERIOD] != 0 && a->params[P_PERIOD] < 2) {
		snprintf(err, errlen, "period_s %g is too fast (expected 0 for "
		    "the stroke's own tempo, or 2 to 120 s)",
		    a->params[P_PERIOD]);
		return (NULL);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->along_cm = calloc(a->n_zones, sizeof(double))) == NULL ||
	    (s->phase = calloc(a->n_zones, sizeof(double))) == NULL) {
		snprintf(err, errlen, "out of memory");
		swedish_destroy(s);
		return (NULL);
	}
	s->n = a->n_zones;
	s->stroke = (int)a->params[P_STROKE];
	s->peak_kpa = a->params[P_PRESSURE];
	s->contact_kpa = a->params[P_CONTACT];
	s->period_s = a->params[P_PERIOD];
	if (s->period_s == 0)
		s->period_s = swedish_natural_s[s->stroke];
	s->half_width_cm = a->params[P_WIDTH] / 2;
	s->duration_s = a->duration_s;
	s->from_cm = s->to_cm = a->zones[0].along_cm;
	for (i = 0; i < s->n; i++) {
		s->along_cm[i] = a->zones[i].along_cm;
		if (s->along_cm[i] < s->from_cm)
			s->from_cm = s->along_cm[i];
		if (s->along_cm[i] > s->to_cm)
			s->to_cm = s->along_cm[i];
	}
	/* The stroke starts and turns off the body, at contact pressure. */
	s->from_cm -= s->half_width_cm;
	s->to_cm += s->half_width_cm;
	if (s->stroke == STROKE_KNEADING && swedish_kneading(s, a->zones) == -1) {
		snprintf(err, errlen, "out of memory");
		swedish_destroy(s);
		return (NULL);
	}
	if (s->stroke == STROKE_CIRCULAR)
		swedish_circular(s, a->zones);
	return (s);
}

static int
swedish_step(void *inst, const struct massaged_step_in *in, double *out)
{
	struct swedish	*s = inst;
	double		 amp = s->peak_kpa - s->contact_kpa, cyc, x, u, env;
	size_t		 i;

	if (in->size < sizeof(*in) || !isfinite(in->t_s) || in->t_s < 0)
		return (MASSAGED_STEP_ERROR);
	if (s->duration_s > 0 && in->t_s >= s->duration_s) {
		for (i = 0; i < s->n; i++)
			out[i] = s->contact_kpa;
		return (MASSAGED_STEP_DONE);
	}
	cyc = fmod(in->t_s, s->period_s) / s->period_s;	/* 0 .. 1 */
	switch (s->stroke) {
	case STROKE_EFFLEURAGE:
		/* Head to feet in the first half, back in the second. */
		u = cyc < 0.5 ? 2 * cyc : 2 - 2 * cyc;
		x = s->from_cm + (s->to_cm - s->from_cm) * u;
		for (i = 0; i < s->n; i++) {
			u = fabs(s->along_cm[i] - x) / s->half_width_cm;
			out[i] = s->contact_kpa + (u < 1 ?
			    amp * (0.5 + 0.5 * cos(M_PI * u)) : 0);
		}
		break;
	default:
		/* Kneading (phase 0 or pi) and circular (angle). */
		env = massaged_ease(in->t_s / s->period_s);
		for (i = 0; i < s->n; i++)
			out[i] = s->contact_kpa + amp * env *
			    (0.5 - 0.5 * cos(2 * M_PI * cyc - s->phase[i]));
		break;
	}
	return (MASSAGED_STEP_RUNNING);
}

static void
swedish_destroy(void *inst)
{
	struct swedish	*s = inst;

	if (s == NULL)
		return;
	free(s->along_cm);
	free(s->phase);
	free(s);
}

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&swedish_routine);
}
