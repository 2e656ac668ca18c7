/*
 * record-erase.c: erasure of a client from the session records. Each
 * record of the client's profile keeps its facts (dates, program, who
 * started and stopped it, how it ended) but its client name becomes the
 * profile id and everything derived from its conditions goes (see
 * record_erase_fields()); a torn or corrupt line that names the profile
 * is dropped whole. Every record file (sessions.jsonl and any rotated
 * copy beside it) is rewritten to a temporary file, fsync'd and renamed
 * over the old one, so a crash leaves the old file or the erased one.
 *
 * record_erase() queues the erasure behind the lines already queued; it
 * runs on the writer thread (record-writer.c), which owns the files.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "record.h"
#include "record-private.h"

/*
 * What a record of an erased client keeps: nothing that the client's
 * conditions decided or that a reader could work them back from. The
 * name becomes the id; the conditions, the limits (a scaled limit gives
 * the scale away, a limit of 0 the exclusion), the excluded zones, the
 * peaks (held under those limits) and the stop message (it can quote a
 * limit or name a condition) go; a stop because a condition came to
 * refuse the session reads as "unknown", as after a crash; a refused
 * start keeps when, what and who, not why. Every record of the profile
 * gets the same treatment, with conditions or without, so an erased
 * record of a client with conditions reads like one of a client with none.
 * docs/security.md lists what stays.
 */
static void
record_erase_fields(json_t *o, const char *id)
{
	const char	*phase = json_string_value(json_object_get(o, "phase"));
	const char	*end = json_string_value(json_object_get(o,
			    "end_reason"));

	json_object_set_new(o, "erased", json_true());
	if (phase != NULL && strcmp(phase, "refused") == 0) {
		json_object_set_new(o, "error", json_string("refused"));
		json_object_set_new(o, "reason", json_null());
		return;
	}
	json_object_set_new(o, "client", json_string(id));
	json_object_set_new(o, "conditions", json_array());
	json_object_set_new(o, "limits", json_null());
	json_object_set_new(o, "excluded", json_null());
	json_object_set_new(o, "peak_kpa", json_null());
	json_object_set_new(o, "stop_message", json_null());
	if (end != NULL && strcmp(end, "contraindicated") == 0) {
		json_object_set_new(o, "end_reason", json_string("unknown"));
		json_object_set_new(o, "stop_category", json_null());
	}
}

/* One line, rewritten into out (or dropped); returns -1 on a write error. */
static int
record_erase_line(FILE *out, const char *line, size_t len, const char *id,
    int *changed)
{
	json_error_t	 err;
	json_t		*o;
	const char	*prof;
	char		*s;
	int		 rc;

	o = json_loadb(line, len, 0, &err);
	prof = o != NULL ? json_string_value(json_object_get(o, "profile")) :
	    NULL;
	if (o == NULL || !json_is_object(o)) {
		if (o != NULL)
			json_decref(o);
		if (memmem(line, len, id, strlen(id)) != NULL) {
			*changed = 1;
			return (0);	/* corrupt, and may name the client */
		}
		return (fwrite(line, 1, len, out) == len &&
		    fputc('\n', out) != EOF ? 0 : -1);
	}
	if (prof == NULL || strcmp(prof, id) != 0) {
		json_decref(o);
		return (fwrite(line, 1, len, out) == len &&
		    fputc('\n', out) != EOF ? 0 : -1);
	}
	record_erase_fields(o, id);
	s = json_dumps(o, RECORD_JSON_FLAGS);
	json_decref(o);
	if (s == NULL)
		return (-1);
	rc = fputs(s, out) != EOF && fputc('\n', out) != EOF ? 0 : -1;
	free(s);
	*changed = 1;
	return (rc);
}

static int
record_erase_file(const char *path, const char *id)
{
	char	 tmp[PATH_MAX];
	FILE	*in, *out;
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;
	int	 changed = 0, rc = 0, fd;

	if ((in = fopen(path, "re")) == NULL)
		return (errno == ENOENT ? 0 : -1);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.erase", path) >=
	    sizeof(tmp) || (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0640)) == -1 ||
	    (out = fdopen(fd, "w")) == NULL) {
		fclose(in);
		return (-1);
	}
	while (rc == 0 && (n = getline(&line, &cap, in)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			n--;
		else if (memmem(line, (size_t)n, id, strlen(id)) == NULL) {
			/* A torn last line stays torn: the reader skips it. */
			rc = fwrite(line, 1, (size_t)n, out) == (size_t)n ?
			    0 : -1;
			continue;
		} else {
			changed = 1;
			continue;
		}
		if (n > 0)
			rc = record_erase_line(out, line, (size_t)n, id,
			    &changed);
	}
	free(line);
	if (ferror(in))
		rc = -1;
	fclose(in);
	if (fflush(out) == EOF || fsync(fileno(out)) == -1)
		rc = -1;
	if (fclose(out) == EOF)
		rc = -1;
	if (rc == 0 && changed && rename(tmp, path) == -1)
		rc = -1;
	if (rc != 0 || !changed)
		unlink(tmp);
	return (rc);
}

int
record_erase_dir(const char *dir, const char *base, const char *id)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[PATH_MAX];
	size_t		 nb = strlen(base);
	int		 rc = 0, fd;

	if ((d = opendir(dir)) == NULL)
		return (errno == ENOENT ? 0 : -1);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, base, nb) != 0 ||
		    (de->d_name[nb] != '\0' && de->d_name[nb] != '.'))
			continue;
		if (strcmp(de->d_name + nb, ".erase") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    de->d_name) >= sizeof(path) ||
		    record_erase_file(path, id) == -1) {
			log_warn("session records: erasing profile %s from %s",
			    id, de->d_name);
			rc = -1;
		}
	}
	closedir(d);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		if (fsync(fd) == -1)
			rc = -1;
		close(fd);
	}
	return (rc);
}

void
record_erase(struct record *r, const char *id, record_done_cb cb, void *arg)
{
	struct rec_item	*it = record_push(r, REC_ERASE, arg);

	if ((it->line = strdup(id)) == NULL)
		fatal("record_erase");
	it->done_cb = cb;
	record_send(r, it);
}
