/*
 * profile.h: client profiles (config/profiles/NAME.ini) and the clinic's
 * contraindication rules (config/contraindications.ini).
 */
#ifndef PROFILE_H
#define PROFILE_H

#include <limits.h>

#include "table.h"

#define RULE_MAX_ITEMS		16
#define PROFILE_MAX_CAPS	64
#define PROFILE_MAX_CONDITIONS	16

struct rule {
	char	 name[NAME_LEN];		/* the condition, "anticoagulants" */
	int	 line;
	char	 reason[256];			/* for people */
	int	 refuse;			/* refuse to start */
	int	 nforbid;
	char	 forbid[RULE_MAX_ITEMS][NAME_LEN];	/* routine names */
	int	 nexclude;
	char	 exclude[RULE_MAX_ITEMS][NAME_LEN];	/* zone globs */
	double	 scale;				/* cap scale, 0 < s <= 1 */
};

struct rules {
	char		 path[PATH_MAX];
	int		 n;
	struct rule	*rules;
};

struct profile_cap {
	char	 glob[NAME_LEN];
	double	 cap_kpa;
	int	 line;
};

struct profile {
	char			 id[NAME_LEN];	/* file name without .ini */
	char			 path[PATH_MAX];
	char			 name[96];
	double			 cap_kpa;	/* every zone */
	int			 ncaps;
	struct profile_cap	 caps[PROFILE_MAX_CAPS];	/* by name/glob */
	double			 ramp_kpa_s;
	double			 max_session_min;
	int			 intensity_pct;	/* default, 10..100 */
	int			 nconditions;
	char			 conditions[PROFILE_MAX_CONDITIONS][NAME_LEN];
};

struct profile_set {
	int		 n;
	struct profile	*profiles;	/* sorted by id */
};

int	rules_load(struct rules *r, const char *path, struct inifile_errors *errs);
const struct rule *rules_find(const struct rules *r, const char *name);
void	rules_free(struct rules *r);

/* Loads every *.ini in dir, checked against the table and the rules. */
int	profiles_load(struct profile_set *set, const char *dir,
	    const struct table *t, const struct rules *r,
	    struct inifile_errors *errs);
const struct profile *profiles_find(const struct profile_set *set,
	    const char *id);
void	profiles_free(struct profile_set *set);

#endif
