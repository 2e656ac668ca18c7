/*
 * prove.h: `massaged -n --prove`: connect to every controller of a table,
 * run the proof of its safe state (bus-prove.c) once, and print each step
 * with its time.
 */
#ifndef PROVE_H
#define PROVE_H

#include <stdio.h>

#include "table.h"

/* Runs the proofs of t's controllers, printing to out; 0 when every
 * controller was proven, 1 otherwise. Gives up after timeout_s. */
int	prove_run(const struct table *t, FILE *out, int timeout_s);

#endif
