/*
 * ctl.c: the kinds of controller the bus can drive, one row each. Adding
 * a kind is adding its file (ctl-KIND.c, a struct ctl_backend) and a row
 * here.
 */
#include <stddef.h>
#include <string.h>

#include "ctl.h"

extern const struct ctl_backend	ctl_regmap;
extern const struct ctl_backend	ctl_device;

/* The first row is the default kind. */
static const struct ctl_backend *const ctl_backends[] = {
	&ctl_regmap,
	&ctl_device,
};

const struct ctl_backend *
ctl_backend_find(const char *kind)
{
	size_t	 i;

	if (kind == NULL || *kind == '\0')
		return (ctl_backends[0]);
	for (i = 0; i < sizeof(ctl_backends) / sizeof(ctl_backends[0]); i++)
		if (strcmp(ctl_backends[i]->kind, kind) == 0)
			return (ctl_backends[i]);
	return (NULL);
}
