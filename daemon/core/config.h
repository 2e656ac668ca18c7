/*
 * config.h: everything the daemon reads from files, loaded as one unit so
 * that a reload can parse into a new config and swap only if all is valid.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include "intake.h"
#include "profile.h"
#include "program.h"
#include "routine-set.h"
#include "table.h"

struct config {
	struct table		*table;
	struct rules		 rules;
	struct profile_set	 profiles;
	struct program_set	 programs;
	struct intake		 intake;
};

#define CONFIG_MAX_OVERRIDES	16
#define CONFIG_PROFILES_WRITABLE "profiles"	/* under state_dir */

/*
 * Loads the table at path (with "key=value" overrides of [daemon] keys),
 * then rules, profiles and programs (checked against routines). Returns
 * NULL after reporting every error through errs.
 */
struct config	*config_load(const char *path, char *const *overrides,
		    int noverrides, const struct routine_set *routines,
		    struct inifile_errors *errs);
/* The writable profile directory (STATE_DIR/profiles) into buf. */
int		 config_profile_store_dir(const struct table *t, char *buf,
		    size_t len);
/* Loads only the table (the plugin directory comes from it); NULL on
 * errors. */
struct table	*config_load_table(const char *path, char *const *overrides,
		    int noverrides, struct inifile_errors *errs);
/* The same, but keeps a table that has errors (NULL only without memory),
 * so that the rest can still be checked. */
struct table	*config_load_table_any(const char *path,
		    char *const *overrides, int noverrides,
		    struct inifile_errors *errs);
/* The rest of config_load() for a table of config_load_table_any(), which
 * it takes over; NULL if errs has more errors than before. */
struct config	*config_load_rest(struct table *t,
		    const struct routine_set *routines,
		    struct inifile_errors *errs, int before);
void		 config_free(struct config *c);

#endif
