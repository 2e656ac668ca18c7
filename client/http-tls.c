/*
 * http-tls.c: https:// for massagectl's HTTP client (see http.h), through
 * libevent's OpenSSL bufferevent: the daemon listens in plain HTTP on
 * loopback and a reverse proxy in front of it speaks TLS to the network
 * (docs/deploy.md). The peer is always verified: its chain against the
 * system's CAs, or only the CA of --cacert, and the URL's host against
 * the certificate's names (or its IP address). There is no way to skip
 * either.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http.h"

/* One context for every connection of the run, made before any thread. */
static SSL_CTX	*http_tls_ctx;

/*
 * Keeps the first reason the chain or the name was refused in the
 * connection's slot (the SSL's app data): by the time evhttp reports the
 * failure, the SSL object may have been reset.
 */
static int
http_tls_verify_cb(int ok, X509_STORE_CTX *sctx)
{
	SSL	*ssl;
	long	*verr;

	ssl = X509_STORE_CTX_get_ex_data(sctx,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	verr = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	if (!ok && verr != NULL && *verr == X509_V_OK)
		*verr = X509_STORE_CTX_get_error(sctx);
	return (ok);
}

/* The reason of OpenSSL's last error, or what the caller says. */
static const char *
http_tls_reason(const char *dflt)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return (r != NULL ? r : dflt);
}

int
http_tls_init(const char *cacert, char *err, size_t errlen)
{
	SSL_CTX	*ctx;
	FILE	*fp;

	if (http_tls_ctx != NULL)
		return (0);
	if (cacert != NULL) {
		/* Say why a file cannot be read as plainly as for the rest. */
		if ((fp = fopen(cacert, "r")) == NULL) {
			snprintf(err, errlen, "--cacert %s: %s", cacert,
			    strerror(errno));
			return (-1);
		}
		fclose(fp);
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "TLS: cannot set up: %s",
		    http_tls_reason("out of memory"));
		return (-1);
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, http_tls_verify_cb);
	if (cacert != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1) {
			snprintf(err, errlen, "--cacert %s: no CA certificate "
			    "in it (%s; expected PEM)", cacert,
			    http_tls_reason("unreadable"));
			SSL_CTX_free(ctx);
			return (-1);
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "TLS: cannot load the system's CA "
		    "certificates: %s (give the CA with --cacert FILE)",
		    http_tls_reason("unknown error"));
		SSL_CTX_free(ctx);
		return (-1);
	}
	ERR_clear_error();
	http_tls_ctx = ctx;
	return (0);
}

struct bufferevent *
http_tls_bev(struct event_base *base, const char *host, long *verr,
    char *err, size_t errlen)
{
	struct bufferevent	*bev;
	struct in6_addr		 a6;
	struct in_addr		 a4;
	X509_VERIFY_PARAM	*param;
	SSL			*ssl;
	int			 ok;

	if (http_tls_ctx == NULL) {
		snprintf(err, errlen, "TLS is not set up");
		return (NULL);
	}
	if ((ssl = SSL_new(http_tls_ctx)) == NULL) {
		snprintf(err, errlen, "TLS: %s", http_tls_reason("out of "
		    "memory"));
		return (NULL);
	}
	/* The name checked is the URL's: an address, or a host name. */
	param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1)
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, host);
	else
		ok = SSL_set1_host(ssl, host) == 1 &&
		    SSL_set_tlsext_host_name(ssl, host) == 1;
	*verr = X509_V_OK;
	SSL_set_app_data(ssl, verr);
	if (!ok) {
		snprintf(err, errlen, "TLS: cannot check the name '%s'", host);
		SSL_free(ssl);
		return (NULL);
	}
	/* On success the bufferevent owns ssl, and frees it. */
	if ((bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS)) == NULL) {
		snprintf(err, errlen, "TLS: cannot set up a connection");
		SSL_free(ssl);
		return (NULL);
	}
	/*
	 * A proxy that closes without close_notify is not an error: evhttp
	 * delimits every reply by its Content-Length or chunks (a reply cut
	 * short fails there), and the daemon never ends one by closing.
	 */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return (bev);
}

/* An errno that OpenSSL passed on: the socket's, not TLS's. */
static int
http_tls_syserr(unsigned long e)
{
#ifdef ERR_SYSTEM_ERROR
	if (ERR_SYSTEM_ERROR(e))
		return (1);
#endif
	return (ERR_GET_LIB(e) == ERR_LIB_SYS);
}

int
http_tls_error(struct bufferevent *bev, long verr, const struct http_url *u,
    char *buf, size_t len)
{
	unsigned long	 e;
	const char	*r = NULL;
	int		 tls = 0;

	if (verr == X509_V_ERR_HOSTNAME_MISMATCH ||
	    verr == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		snprintf(buf, len, "TLS: the certificate of %s port %s does "
		    "not name %s (%s): use a name the certificate has in the "
		    "URL", u->host, u->port, u->host,
		    X509_verify_cert_error_string(verr));
		return (1);
	}
	if (verr != X509_V_OK) {
		snprintf(buf, len, "TLS: the certificate of %s port %s is not "
		    "trusted: %s (a private CA: --cacert FILE)", u->host,
		    u->port, X509_verify_cert_error_string(verr));
		return (1);
	}
	/*
	 * libevent keeps OpenSSL's error codes and, among them, the
	 * SSL_get_error() value of each failed call (SSL_ERROR_SYSCALL for a
	 * connection refused or reset: not TLS's doing), most recent last.
	 */
	while (bev != NULL && (e = bufferevent_get_openssl_error(bev)) != 0) {
		if (e == SSL_ERROR_SSL)
			tls = 1;
		if (ERR_GET_LIB(e) == 0 || http_tls_syserr(e))
			continue;
		tls = 1;
		if (r == NULL)
			r = ERR_reason_error_string(e);
	}
	if (!tls)
		return (0);
	snprintf(buf, len, "TLS handshake with %s port %s failed: %s (is "
	    "it a TLS proxy? http:// for plain HTTP)", u->host, u->port,
	    r != NULL ? r : "unknown error");
	return (1);
}
