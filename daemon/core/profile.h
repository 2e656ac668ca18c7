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
#define PROFILE_NOTE_MAX	400	/* bytes of the therapist's note */

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
	/* Written by the intake (all optional in a file): */
	int			 revision;	/* 0: none given */
	char			 pressure[NAME_LEN];	/* preference, "" */
	char			 ramp[NAME_LEN];	/* preference, "" */
	char			 note[PROFILE_NOTE_MAX + 1];	/* health data */
	int			 writable;	/* in the state directory */
};

/*
 * Sorted by id, each profile its own allocation: a find is a binary
 * search, and a profile put or dropped through the API moves pointers,
 * never the profiles (tens of thousands of them stay cheap on the loop).
 */
struct profile_set {
	int		  n;
	int		  nwritable;	/* of them in the state directory */
	struct profile	**profiles;
};

int	rules_load(struct rules *r, const char *path, struct inifile_errors *errs);
const struct rule *rules_find(const struct rules *r, const char *name);
void	rules_free(struct rules *r);

/* Loads every *.ini in dir, checked against the table and the rules. */
int	profiles_load(struct profile_set *set, const char *dir,
	    const struct table *t, const struct rules *r,
	    struct inifile_errors *errs);
/*
 * Adds the profiles of a second directory (the state directory's, written
 * through the API) to set, marked writable. A missing or empty directory
 * adds nothing; an id in both directories is an error.
 */
int	profiles_add_dir(struct profile_set *set, const char *dir,
	    const struct table *t, const struct rules *r,
	    struct inifile_errors *errs);
/* Loads one file as profile id (the parser of profiles_load()). */
int	profile_load(struct profile *p, const char *path, const char *id,
	    const struct table *t, const struct rules *r,
	    struct inifile_errors *errs);
/* Sorts set by id, the order of a load, and counts the writable. */
void	profiles_sort(struct profile_set *set);
const struct profile *profiles_find(const struct profile_set *set,
	    const char *id);
/* The index of the first profile whose id sorts after id ("": 0). */
int	profiles_after(const struct profile_set *set, const char *id);
/* Puts a copy of p into set, replacing the profile of its id; NULL when
 * out of memory (set unchanged). */
const struct profile *profiles_put(struct profile_set *set,
	    const struct profile *p);
/* Removes the profile id and wipes its memory; -1 if there is none. */
int	profiles_drop(struct profile_set *set, const char *id);
void	profiles_free(struct profile_set *set);

#endif
