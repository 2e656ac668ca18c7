/* log.h: the one log API of massaged and its tools. */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stdint.h>

#define LOG_PRINTF(a, b)	__attribute__((format(printf, a, b)))

/* verbose: -1 warnings and errors only, 0 also info, 1 also debug */
void	log_init(const char *progname, int verbose);
void	log_setverbose(int verbose);
int	log_getverbose(void);
void	log_libevent(void);	/* route libevent's own messages here */
/*
 * From log_async_start() on (the daemon, once it runs), lines go through a
 * bounded queue to a writer thread: logging never blocks the caller; a
 * full queue drops lines (counted), repeated messages are rate-limited.
 * log_flush() waits a bounded time for the queue to drain (fatal() does);
 * log_async_stop() flushes and stops the writer. Without it (the client,
 * the simulator, massaged -n), each line is written at once.
 */
int	log_async_start(void);
int	log_flush(void);
void	log_async_stop(void);
uint64_t log_dropped_total(void);
void	log_emit(int prio, const char *fmt, ...) LOG_PRINTF(2, 3);
void	log_vemit(int prio, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
void	log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);	/* adds strerror */
void	log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void	fatal(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void	fatalx(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

#endif
