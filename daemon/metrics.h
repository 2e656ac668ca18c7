/*
 * metrics.h: /metrics in the Prometheus text format 0.0.4.
 */
#ifndef METRICS_H
#define METRICS_H

struct control;
struct evbuffer;

void	metrics_render(struct control *c, struct evbuffer *out);

#endif
