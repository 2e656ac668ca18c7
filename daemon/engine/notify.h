/*
 * notify.h: systemd service notifications (Type=notify). Without
 * libsystemd, or without NOTIFY_SOCKET, every call does nothing.
 *
 * READY=1 once every controller has been tried and the API listens;
 * STATUS= lines with the state a person wants in systemctl status;
 * WATCHDOG=1 only while the control loop ticks on time; RELOADING=1 with
 * MONOTONIC_USEC around a reload; STOPPING=1 on shutdown.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

struct tick;
struct event_base;

void	notify_start(struct tick *c, struct event_base *base);
void	notify_reloading(void);
void	notify_reloaded(struct tick *c);
void	notify_stopping(void);

#endif
