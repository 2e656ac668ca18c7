/*
 * metrics.h: /metrics in the Prometheus text format 0.0.4.
 */
#ifndef METRICS_H
#define METRICS_H

#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct tick;
struct evbuffer;

/* Appends the metrics to out, to be sent as METRICS_CONTENT_TYPE. */
void	metrics_render(struct tick *c, struct evbuffer *out);

#endif
