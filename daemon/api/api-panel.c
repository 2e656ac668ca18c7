/*
 * api-panel.c: the operator's control panel, static files served from the
 * panel directory: only regular files really inside it, small ones, with
 * headers that keep a browser from doing more than showing them.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api-private.h"
#include "config.h"
#include "table.h"

#define API_LANGS_MAX		64
#define API_LANG_INDEX		"i18n/index.json"

#ifndef PANELDIR
#define PANELDIR		"/usr/local/share/massaged/panel"
#endif

static const struct {
	const char	*ext;
	const char	*type;
} api_types[] = {
	{ ".html",	"text/html; charset=utf-8" },
	{ ".css",	"text/css; charset=utf-8" },
	{ ".js",	"text/javascript; charset=utf-8" },
	{ ".mjs",	"text/javascript; charset=utf-8" },
	{ ".json",	"application/json" },
	{ ".svg",	"image/svg+xml" },
	{ ".png",	"image/png" },
	{ ".jpg",	"image/jpeg" },
	{ ".ico",	"image/x-icon" },
	{ ".txt",	"text/plain; charset=utf-8" },
	{ ".webmanifest", "application/manifest+json" },
};
static const char *
api_content_type(const char *path)
{
	const char	*dot = strrchr(path, '.');
	size_t		 i;

	if (dot != NULL)
		for (i = 0; i < sizeof(api_types) / sizeof(api_types[0]); i++)
			if (strcasecmp(dot, api_types[i].ext) == 0)
				return (api_types[i].type);
	return ("application/octet-stream");
}

/*
 * i18n/index.json: the message catalogues of the panel, the names of the
 * i18n/LANG.json files, so that a language is added by adding its file.
 */
static void
api_panel_langs(struct api *a, struct evhttp_request *req)
{
	char		 dir[PATH_MAX], lang[16];
	DIR		*d;
	struct dirent	*de;
	json_t		*langs = json_array();
	size_t		 n;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/i18n", a->panel_dir) <
	    sizeof(dir) && (d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL &&
		    json_array_size(langs) < API_LANGS_MAX) {
			n = strlen(de->d_name);
			if (n < 6 || n - 5 >= sizeof(lang) ||
			    strcmp(de->d_name + n - 5, ".json") != 0 ||
			    strcmp(de->d_name, "index.json") == 0 ||
			    strspn(de->d_name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-") != n - 5)
				continue;
			snprintf(lang, sizeof(lang), "%.*s", (int)(n - 5),
			    de->d_name);
			json_array_append_new(langs, json_string(lang));
		}
		closedir(d);
	}
	api_reply_json(req, 200, langs);
}

/*
 * Serves a file of the panel directory: only a regular file that really
 * is inside it (after every symlink), never a "..", an encoded one or a
 * NUL. Small files only: reading them is the only file I/O on the loop.
 */
void
api_panel(struct api *a, struct evhttp_request *req)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	const char		*raw, *p;
	char			*dec = NULL, full[PATH_MAX], real[PATH_MAX];
	char			 len[32];
	size_t			 n, dlen;
	struct stat		 st;
	int			 fd, cmd = evhttp_request_get_command(req);

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(h, "Allow", "GET, HEAD");
		api_error(req, 405, "method_not_allowed", "%s is not allowed "
		    "here (allowed: GET, HEAD)", api_method_name(cmd));
		return;
	}
	if (a->panel_dir[0] == '\0' || uri == NULL ||
	    (raw = evhttp_uri_get_path(uri)) == NULL || raw[0] != '/')
		goto notfound;
	if ((dec = evhttp_uridecode(raw, 0, &dlen)) == NULL)
		goto notfound;
	if (strlen(dec) != dlen)
		goto notfound;		/* an encoded NUL */
	p = dec + 1;
	if (*p == '\0')
		p = "index.html";
	if (strcmp(p, API_LANG_INDEX) == 0 && cmd == EVHTTP_REQ_GET) {
		free(dec);
		api_panel_langs(a, req);
		return;
	}
	for (n = 0; p[n] != '\0'; n++)
		if (!isalnum((unsigned char)p[n]) && p[n] != '.' &&
		    p[n] != '_' && p[n] != '-' && p[n] != '/')
			goto notfound;
	/* No "..", no "." segments, no hidden files, no empty segments. */
	if (p[0] == '.' || strstr(p, "/.") != NULL || strstr(p, "//") != NULL ||
	    p[n - 1] == '/')
		goto notfound;
	if ((size_t)snprintf(full, sizeof(full), "%s/%s", a->panel_dir, p) >=
	    sizeof(full))
		goto notfound;
	if (realpath(full, real) == NULL)
		goto notfound;
	n = strlen(a->panel_dir);
	if (strncmp(real, a->panel_dir, n) != 0 || real[n] != '/')
		goto notfound;
	/* O_NONBLOCK: opening a FIFO put there must not block the loop. */
	if ((fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1)
		goto notfound;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		goto notfound;
	}
	free(dec);
	evhttp_add_header(h, "Content-Type", api_content_type(real));
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'self'; "
	    "img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
	    "base-uri 'none'; form-action 'self'");
	if (cmd == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%lld", (long long)st.st_size);
		evhttp_add_header(h, "Content-Length", len);
		close(fd);
	} else if (st.st_size > 0)
		evbuffer_add_file(evhttp_request_get_output_buffer(req), fd, 0,
		    st.st_size);
	else
		close(fd);
	evhttp_send_reply(req, 200, NULL, NULL);
	return;
notfound:
	free(dec);
	api_not_found(req);
}

/* The panel directory of the table; the panel is not served without it. */
void
api_panel_start(struct api *a, const struct table *t)
{
	const char	*panel;

	panel = t->panel_dir[0] != '\0' ? t->panel_dir : PANELDIR;
	if (realpath(panel, a->panel_dir) == NULL) {
		log_warn("api: panel directory %s; the panel is not served",
		    panel);
		a->panel_dir[0] = '\0';
	}
}
