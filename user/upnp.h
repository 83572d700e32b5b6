/* SPDX-License-Identifier: MIT */
/*
 * upnp.h - the UPnP IGD of `mapectl daemon` (InternetGatewayDevice:2 with
 * WANIPConnection:2, which also answers IGD:1 control points): SSDP,
 * HTTP, SOAP and eventing by libupnp, the port mappings by pmap.h.
 */
#ifndef MAPE_UPNP_H
#define MAPE_UPNP_H

#include "pmap.h"

/* Serve on ifname (a LAN). dir: where the service descriptions are
 * written (made if missing); seed names the instance (stable UDNs).
 * avoid(port, ctx) says a port must not be the HTTP port (one of the
 * line's port set, which the internet reaches). 0, or -1 with err. */
int mape_upnp_start(struct mape_pmap *pm, const char *ifname, const char *dir, const char *seed,
		    int (*avoid)(unsigned int port, void *ctx), void *ctx, char *err);
/* Tell subscribers the external address and the number of mappings. */
void mape_upnp_changed(void);
void mape_upnp_stop(void);
/* The HTTP port (0 when not started). */
unsigned int mape_upnp_port(void);

#endif
