/*
 * loader_abi.c: a descriptor from a future ABI version 2. Only the first
 * two fields are meant to be read: the loader must stop there.
 */
#include <stdint.h>

#include <massaged/routine.h>

static const struct {
	uint32_t	 abi_version;
	uint32_t	 size;
	const char	*name;		/* aligned as the real descriptor */
} abi_desc = { 2, 4096, "loader_abi" };

const struct massaged_routine *
massaged_routine_entry(void)
{
	return ((const struct massaged_routine *)(const void *)&abi_desc);
}
