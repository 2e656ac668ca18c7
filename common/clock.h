/* clock.h: the one clock helper of massaged and its tools. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>

uint64_t	clock_mono_ns(void);	/* CLOCK_MONOTONIC, nanoseconds */
double		clock_real_s(void);	/* CLOCK_REALTIME, seconds since 1970 */

#endif
