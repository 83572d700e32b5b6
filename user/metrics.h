/* SPDX-License-Identifier: MIT */
/* metrics.h - Prometheus metrics of an instance (mapectl daemon --metrics). */
#ifndef MAPE_METRICS_H
#define MAPE_METRICS_H

#include <stddef.h>
#include <sys/socket.h>

/* The exposition text of the instance pinned at dir (malloc'd), or NULL. */
char *mape_metrics_text(const char *dir, size_t *len);
/* "ADDR:PORT" or "[ADDR6]:PORT". */
int mape_metrics_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sl, char *err);
/* Serve GET /metrics on ss from a thread of its own; a handle, or NULL. */
void *mape_metrics_start(const char *dir, const struct sockaddr_storage *ss, char *err);
void mape_metrics_stop(void *handle);

#endif
