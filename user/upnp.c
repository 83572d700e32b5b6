// SPDX-License-Identifier: MIT
/*
 * upnp.c - UPnP IGD on a LAN interface, for the apps that open their own
 * inbound ports (game consoles, Windows, P2P): libupnp does SSDP, HTTP,
 * SOAP and GENA; this file says what the gateway is (its description,
 * generated from the action table below, as are the services' SCPDs)
 * and answers the actions from pmap.h.
 *
 * One device, InternetGatewayDevice:2 > WANDevice:2 > WANConnectionDevice:2
 * > WANIPConnection:2, plus WANCommonInterfaceConfig:1. Version 2 keeps
 * every action of version 1, so IGD:1 control points work with it; it
 * adds AddAnyPortMapping, which lets the gateway pick a port of the set.
 *
 * Error codes (UPnP IGD, WANIPConnection:2 §2.4): 402 bad arguments,
 * 501 action failed (not up), 606 a mapping for another host, 713/714
 * no such entry, 716 wildcard external port, 718 port outside the set or
 * taken (the code apps retry on), 728 no port left for this host.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <upnp/upnp.h>
#include <upnp/upnptools.h>
#include <upnp/ixml.h>
#include "upnp.h"

#define SVC_IP "urn:schemas-upnp-org:service:WANIPConnection:2"
#define SVC_CIF "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"
#define SID_IP "urn:upnp-org:serviceId:WANIPConn1"
#define SID_CIF "urn:upnp-org:serviceId:WANCommonIFC1"
#define LEASE_IGD2_MAX 604800	/* IGD:2: the longest lease, and what 0 asks for */

static struct {
	struct mape_pmap *pm;
	UpnpDevice_Handle hnd;
	int started;
	char udn_conn[64];	/* the WANConnectionDevice (WANIPConnection's device) */
	char udn_wan[64];
	long long since;	/* CLOCK_MONOTONIC s at start (Uptime) */
} g;

/* ---- what the services are: one table for the SCPDs and the dispatch ---- */

struct call {
	UpnpActionRequest *req;
	const char *svc;
	const char *name;
	__u32 client;		/* the control point (host order) */
	IXML_Document *out;
};

struct var {
	const char *name, *type;
	int evented;
};

struct action {
	const char *name;
	int ip;			/* WANIPConnection (else WANCommonInterfaceConfig) */
	int (*fn)(struct call *c);
	const char *in[9], *out[9];	/* "Argument:RelatedStateVariable" */
};

static const struct var ip_vars[] = {
	{ "ConnectionType", "string", 0 }, { "PossibleConnectionTypes", "string", 1 },
	{ "ConnectionStatus", "string", 1 }, { "Uptime", "ui4", 0 },
	{ "LastConnectionError", "string", 0 }, { "RSIPAvailable", "boolean", 0 },
	{ "NATEnabled", "boolean", 0 }, { "ExternalIPAddress", "string", 1 },
	{ "PortMappingNumberOfEntries", "ui2", 1 }, { "PortMappingEnabled", "boolean", 0 },
	{ "PortMappingLeaseDuration", "ui4", 0 }, { "RemoteHost", "string", 0 },
	{ "ExternalPort", "ui2", 0 }, { "InternalPort", "ui2", 0 },
	{ "PortMappingProtocol", "string", 0 }, { "InternalClient", "string", 0 },
	{ "PortMappingDescription", "string", 0 }, { "SystemUpdateID", "ui4", 1 },
	{ "A_ARG_TYPE_Manage", "boolean", 0 }, { "A_ARG_TYPE_PortListing", "string", 0 },
	{ 0 },
};

static const struct var cif_vars[] = {
	{ "WANAccessType", "string", 0 }, { "Layer1UpstreamMaxBitRate", "ui4", 0 },
	{ "Layer1DownstreamMaxBitRate", "ui4", 0 }, { "PhysicalLinkStatus", "string", 1 },
	{ 0 },
};

static int a_conn_type(struct call *c);
static int a_status(struct call *c);
static int a_rsip(struct call *c);
static int a_ext_ip(struct call *c);
static int a_add(struct call *c);
static int a_add_any(struct call *c);
static int a_del(struct call *c);
static int a_del_range(struct call *c);
static int a_generic(struct call *c);
static int a_specific(struct call *c);
static int a_link(struct call *c);
static int a_list(struct call *c);

#define MAPPING_IN "NewRemoteHost:RemoteHost", "NewExternalPort:ExternalPort", \
	"NewProtocol:PortMappingProtocol", "NewInternalPort:InternalPort", \
	"NewInternalClient:InternalClient", "NewEnabled:PortMappingEnabled", \
	"NewPortMappingDescription:PortMappingDescription", \
	"NewLeaseDuration:PortMappingLeaseDuration"
#define ENTRY_OUT "NewInternalPort:InternalPort", "NewInternalClient:InternalClient", \
	"NewEnabled:PortMappingEnabled", "NewPortMappingDescription:PortMappingDescription", \
	"NewLeaseDuration:PortMappingLeaseDuration"

static const struct action actions[] = {
	{ "GetConnectionTypeInfo", 1, a_conn_type, { 0 },
	  { "NewConnectionType:ConnectionType",
	    "NewPossibleConnectionTypes:PossibleConnectionTypes" } },
	{ "GetStatusInfo", 1, a_status, { 0 },
	  { "NewConnectionStatus:ConnectionStatus",
	    "NewLastConnectionError:LastConnectionError", "NewUptime:Uptime" } },
	{ "GetNATRSIPStatus", 1, a_rsip, { 0 },
	  { "NewRSIPAvailable:RSIPAvailable", "NewNATEnabled:NATEnabled" } },
	{ "GetExternalIPAddress", 1, a_ext_ip, { 0 },
	  { "NewExternalIPAddress:ExternalIPAddress" } },
	{ "AddPortMapping", 1, a_add, { MAPPING_IN }, { 0 } },
	{ "AddAnyPortMapping", 1, a_add_any, { MAPPING_IN }, { "NewReservedPort:ExternalPort" } },
	{ "DeletePortMapping", 1, a_del,
	  { "NewRemoteHost:RemoteHost", "NewExternalPort:ExternalPort",
	    "NewProtocol:PortMappingProtocol" }, { 0 } },
	{ "DeletePortMappingRange", 1, a_del_range,
	  { "NewStartPort:ExternalPort", "NewEndPort:ExternalPort",
	    "NewProtocol:PortMappingProtocol", "NewManage:A_ARG_TYPE_Manage" }, { 0 } },
	{ "GetGenericPortMappingEntry", 1, a_generic,
	  { "NewPortMappingIndex:PortMappingNumberOfEntries" },
	  { "NewRemoteHost:RemoteHost", "NewExternalPort:ExternalPort",
	    "NewProtocol:PortMappingProtocol", ENTRY_OUT } },
	{ "GetSpecificPortMappingEntry", 1, a_specific,
	  { "NewRemoteHost:RemoteHost", "NewExternalPort:ExternalPort",
	    "NewProtocol:PortMappingProtocol" }, { ENTRY_OUT } },
	{ "GetListOfPortMappings", 1, a_list,
	  { "NewStartPort:ExternalPort", "NewEndPort:ExternalPort",
	    "NewProtocol:PortMappingProtocol", "NewManage:A_ARG_TYPE_Manage",
	    "NewNumberOfPorts:PortMappingNumberOfEntries" },
	  { "NewPortListing:A_ARG_TYPE_PortListing" } },
	{ "GetCommonLinkProperties", 0, a_link, { 0 },
	  { "NewWANAccessType:WANAccessType",
	    "NewLayer1UpstreamMaxBitRate:Layer1UpstreamMaxBitRate",
	    "NewLayer1DownstreamMaxBitRate:Layer1DownstreamMaxBitRate",
	    "NewPhysicalLinkStatus:PhysicalLinkStatus" } },
};

#define N_ACTIONS (sizeof(actions) / sizeof(actions[0]))

static void put_args(FILE *f, const char *const *args, const char *dir)
{
	for (int i = 0; i < 9 && args[i]; i++) {
		const char *colon = strchr(args[i], ':');

		fprintf(f, "<argument><name>%.*s</name><direction>%s</direction>"
			"<relatedStateVariable>%s</relatedStateVariable></argument>",
			(int)(colon - args[i]), args[i], dir, colon + 1);
	}
}

/* The SCPD of one service, from the tables. */
static int write_scpd(const char *path, int ip)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fputs("<?xml version=\"1.0\"?>\n<scpd xmlns=\"urn:schemas-upnp-org:service-1-0\">"
	      "<specVersion><major>1</major><minor>0</minor></specVersion><actionList>", f);
	for (size_t i = 0; i < N_ACTIONS; i++) {
		if (actions[i].ip != ip)
			continue;
		fprintf(f, "<action><name>%s</name><argumentList>", actions[i].name);
		put_args(f, actions[i].in, "in");
		put_args(f, actions[i].out, "out");
		fputs("</argumentList></action>", f);
	}
	fputs("</actionList><serviceStateTable>", f);
	for (const struct var *v = ip ? ip_vars : cif_vars; v->name; v++)
		fprintf(f, "<stateVariable sendEvents=\"%s\"><name>%s</name><dataType>%s</dataType>"
			"</stateVariable>", v->evented ? "yes" : "no", v->name, v->type);
	fputs("</serviceStateTable></scpd>\n", f);
	return fclose(f) ? -errno : 0;
}

/* ---- the actions ---- */

static const char *arg(struct call *c, const char *name)
{
	IXML_NodeList *l = ixmlDocument_getElementsByTagName(
		UpnpActionRequest_get_ActionRequest(c->req), name);
	IXML_Node *n, *t;
	const char *v = NULL;

	if (!l)
		return NULL;
	n = ixmlNodeList_item(l, 0);
	t = n ? ixmlNode_getFirstChild(n) : NULL;
	v = n ? (t ? ixmlNode_getNodeValue(t) : "") : NULL;
	ixmlNodeList_free(l);
	return v;
}

static int fail(struct call *c, int code, const char *what)
{
	UpnpActionRequest_set_ErrCode(c->req, code);
	UpnpActionRequest_strcpy_ErrStr(c->req, what);
	return code;
}

static int out(struct call *c, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int out(struct call *c, const char *name, const char *fmt, ...)
{
	char v[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	UpnpAddToActionResponse(&c->out, c->name, c->svc, name, v);
	return 0;
}

/* An unsigned argument within [lo, hi]; -1 when missing or bad. */
static long num(struct call *c, const char *name, long lo, long hi)
{
	const char *s = arg(c, name);
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno || *end || v < lo || v > hi ? -1 : v;
}

static unsigned int proto_arg(struct call *c)
{
	const char *s = arg(c, "NewProtocol");

	return !s ? 0 : !strcasecmp(s, "TCP") ? MAPE_FWD_TCP : !strcasecmp(s, "UDP") ? MAPE_FWD_UDP : 0;
}

static int a_conn_type(struct call *c)
{
	out(c, "NewConnectionType", "IP_Routed");
	return out(c, "NewPossibleConnectionTypes", "IP_Routed");
}

static long long mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int a_status(struct call *c)
{
	int up = mape_pmap_ipv4(g.pm) != 0;

	out(c, "NewConnectionStatus", up ? "Connected" : "Disconnected");
	out(c, "NewLastConnectionError", "ERROR_NONE");
	return out(c, "NewUptime", "%lld", up ? mono_s() - g.since : 0);
}

static int a_rsip(struct call *c)
{
	out(c, "NewRSIPAvailable", "0");
	return out(c, "NewNATEnabled", "1");
}

static int a_ext_ip(struct call *c)
{
	__u32 a = mape_pmap_ipv4(g.pm);
	char ip[16];

	if (!a)
		return fail(c, 501, "Action Failed: not up");
	mape_fmt_ip4(a, ip, sizeof(ip));
	return out(c, "NewExternalIPAddress", "%s", ip);
}

static int a_link(struct call *c)
{
	int up = mape_pmap_ipv4(g.pm) != 0;

	out(c, "NewWANAccessType", "Ethernet");
	out(c, "NewLayer1UpstreamMaxBitRate", "0");
	out(c, "NewLayer1DownstreamMaxBitRate", "0");
	return out(c, "NewPhysicalLinkStatus", up ? "Up" : "Down");
}

/* AddPortMapping and AddAnyPortMapping: any = the gateway may pick. */
static int add(struct call *c, int any)
{
	const char *remote = arg(c, "NewRemoteHost"), *client = arg(c, "NewInternalClient");
	const char *desc = arg(c, "NewPortMappingDescription");
	long ext = num(c, "NewExternalPort", 0, 65535), port = num(c, "NewInternalPort", 0, 65535);
	long lease = num(c, "NewLeaseDuration", 0, 0xffffffffL);
	struct mape_pmap_req q = { .origin = MAPE_FWD_UPNP, .host = c->client };
	char err[MAPE_ERRLEN], cm[MAPE_FWD_COMMENT];
	unsigned int life;
	__u32 host = 0;
	__u16 got;

	q.proto = proto_arg(c);
	if (ext < 0 || port < 0 || lease < 0 || !q.proto || !client)
		return fail(c, 402, "Invalid Args");
	if (!port)
		return fail(c, 732, "WildCardNotPermittedInIntPort");
	if (!ext && !any)
		return fail(c, 716, "WildCardNotPermittedInExtPort");
	/* only for the asking host itself */
	if (mape_parse_ip4(client, &host, err) || host != c->client)
		return fail(c, 606, "Action not authorized: a mapping is for the asking host only");
	if (remote && *remote && mape_parse_ip4(remote, &q.remote, err))
		return fail(c, 402, "Invalid Args: NewRemoteHost");
	q.port = port;
	q.want = ext;
	q.exact = !any;
	/* IGD:2: 0 asks for the longest lease; the cap applies either way */
	q.lifetime = lease ? (unsigned int)(lease < LEASE_IGD2_MAX ? lease : LEASE_IGD2_MAX) : 0;
	snprintf(cm, sizeof(cm), "%s", desc && *desc ? desc : "UPnP");
	q.comment = cm;
	switch (mape_pmap_map(g.pm, &q, &got, &life, err)) {
	case MAPE_PMAP_OK:
		mape_upnp_changed();
		return any ? out(c, "NewReservedPort", "%u", got) : 0;
	case MAPE_PMAP_NOT_IN_SET:
	case MAPE_PMAP_TAKEN:
	case MAPE_PMAP_NOT_OWNER:
		return fail(c, 718, "ConflictInMappingEntry");
	case MAPE_PMAP_QUOTA:
	case MAPE_PMAP_NO_PORT:
		return fail(c, 728, "NoPortMapsAvailable");
	case MAPE_PMAP_BAD:
		return fail(c, 606, "Action not authorized");
	default:
		return fail(c, 501, "Action Failed");
	}
}

static int a_add(struct call *c)
{
	return add(c, 0);
}

static int a_add_any(struct call *c)
{
	return add(c, 1);
}

static int a_del(struct call *c)
{
	long ext = num(c, "NewExternalPort", 1, 65535);
	unsigned int proto = proto_arg(c);
	char err[MAPE_ERRLEN];
	int n;

	if (ext < 0 || !proto)
		return fail(c, 402, "Invalid Args");
	n = mape_pmap_unmap(g.pm, proto, c->client, 0, ext, ext, NULL, err);
	if (n == -1)
		return fail(c, 606, "Action not authorized: not the asking host's mapping");
	if (n < 0)
		return fail(c, 501, "Action Failed");
	if (!n)
		return fail(c, 714, "NoSuchEntryInArray");
	mape_upnp_changed();
	return 0;
}

static int a_del_range(struct call *c)
{
	long lo = num(c, "NewStartPort", 0, 65535), hi = num(c, "NewEndPort", 0, 65535);
	unsigned int proto = proto_arg(c);
	char err[MAPE_ERRLEN];
	int n;

	if (lo < 0 || hi < lo || !proto)
		return fail(c, 402, "Invalid Args");
	/* one transaction for the range: the asking host's mappings in it */
	n = mape_pmap_unmap(g.pm, proto, c->client, 0, lo ? lo : 1, hi, NULL, err);
	if (n == -2)
		return fail(c, 501, "Action Failed");
	if (n <= 0)
		return fail(c, 730, "PortMappingNotFound");
	mape_upnp_changed();
	return 0;
}

/* The i-th (proto, port) of the enabled rules, in the state file's order. */
static const struct mape_fwd_rule *entry(const struct mape_fwd_set *set, long i,
					 unsigned int *proto, unsigned int *ext)
{
	for (size_t k = 0; k < set->n; k++) {
		const struct mape_fwd_rule *r = &set->v[k];

		for (unsigned int p = MAPE_FWD_TCP; r->enabled && p <= MAPE_FWD_UDP; p <<= 1) {
			long n = (r->protos & p) ? r->ext_last - r->ext + 1 : 0;

			if (i < n) {
				*proto = p;
				*ext = r->ext + i;
				return r;
			}
			i -= n;
		}
	}
	return NULL;
}

static void entry_out(struct call *c, const struct mape_fwd_rule *r, unsigned int ext)
{
	long long now = time(NULL);
	char ip[16];

	mape_fmt_ip4(r->host, ip, sizeof(ip));
	out(c, "NewInternalPort", "%u", r->port + (ext - r->ext));
	out(c, "NewInternalClient", "%s", ip);
	out(c, "NewEnabled", "1");
	out(c, "NewPortMappingDescription", "%s", r->comment[0] ? r->comment :
		    MAPE_FWD_DYNAMIC(r->origin) ? "" : "mapectl forward");
	out(c, "NewLeaseDuration", "%lld", r->expires > now ? r->expires - now : 0);
}

static int a_generic(struct call *c)
{
	long i = num(c, "NewPortMappingIndex", 0, 65535);
	struct mape_fwd_set set = { 0 };
	const struct mape_fwd_rule *r;
	char err[MAPE_ERRLEN], ip[16];
	unsigned int proto, ext;
	__u32 a;

	if (i < 0)
		return fail(c, 402, "Invalid Args");
	if (mape_pmap_snapshot(g.pm, &set, &a, err))
		return fail(c, 501, "Action Failed");
	r = entry(&set, i, &proto, &ext);
	if (!r) {
		mape_fwd_set_free(&set);
		return fail(c, 713, "SpecifiedArrayIndexInvalid");
	}
	if (r->n_from == 1 && r->from_len[0] == 32)
		mape_fmt_ip4(r->from[0], ip, sizeof(ip));
	else
		ip[0] = 0;
	out(c, "NewRemoteHost", "%s", ip);
	out(c, "NewExternalPort", "%u", ext);
	out(c, "NewProtocol", "%s", proto == MAPE_FWD_TCP ? "TCP" : "UDP");
	entry_out(c, r, ext);
	mape_fwd_set_free(&set);
	return 0;
}

static int a_specific(struct call *c)
{
	long ext = num(c, "NewExternalPort", 1, 65535);
	unsigned int proto = proto_arg(c);
	struct mape_fwd_set set = { 0 };
	char err[MAPE_ERRLEN];
	__u32 a;

	if (ext < 0 || !proto)
		return fail(c, 402, "Invalid Args");
	if (mape_pmap_snapshot(g.pm, &set, &a, err))
		return fail(c, 501, "Action Failed");
	for (size_t k = 0; k < set.n; k++) {
		const struct mape_fwd_rule *r = &set.v[k];

		if (r->enabled && (r->protos & proto) && ext >= r->ext && ext <= r->ext_last) {
			entry_out(c, r, ext);
			mape_fwd_set_free(&set);
			return 0;
		}
	}
	mape_fwd_set_free(&set);
	return fail(c, 714, "NoSuchEntryInArray");
}

/* An element <p:NAME>text</p:NAME> under parent. */
static void add_text(IXML_Document *doc, IXML_Node *parent, const char *name, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));
static void add_text(IXML_Document *doc, IXML_Node *parent, const char *name, const char *fmt,
		     ...)
{
	IXML_Element *e = ixmlDocument_createElement(doc, name);
	char v[MAPE_FWD_COMMENT + 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	ixmlNode_appendChild((IXML_Node *)e, ixmlDocument_createTextNode(doc, v));
	ixmlNode_appendChild(parent, (IXML_Node *)e);
}

/* IGD:2's listing: the entries of proto in [start, end], the asking
 * host's only unless NewManage; at most NewNumberOfPorts (0: all). */
static int a_list(struct call *c)
{
	long lo = num(c, "NewStartPort", 0, 65535), hi = num(c, "NewEndPort", 0, 65535);
	long most = num(c, "NewNumberOfPorts", 0, 65535);
	const char *manage = arg(c, "NewManage");
	unsigned int proto = proto_arg(c), p, ext;
	int all = manage && (!strcmp(manage, "1") || !strcasecmp(manage, "true"));
	struct mape_fwd_set set = { 0 };
	const struct mape_fwd_rule *r;
	IXML_Document *doc;
	IXML_Element *list;
	char err[MAPE_ERRLEN], ip[16];
	long long now = time(NULL);
	DOMString text;
	__u32 a;
	long n = 0;

	if (lo < 0 || hi < lo || most < 0 || !proto)
		return fail(c, 402, "Invalid Args");
	if (mape_pmap_snapshot(g.pm, &set, &a, err))
		return fail(c, 501, "Action Failed");
	doc = ixmlDocument_createDocument();
	list = ixmlDocument_createElementNS(doc, "urn:schemas-upnp-org:gw:WANIPConnection",
					    "p:PortMappingList");
	ixmlElement_setAttribute(list, "xmlns:p", "urn:schemas-upnp-org:gw:WANIPConnection");
	ixmlNode_appendChild((IXML_Node *)doc, (IXML_Node *)list);
	for (long i = 0; (r = entry(&set, i, &p, &ext)) && (!most || n < most); i++) {
		IXML_Element *e;

		if (p != proto || ext < lo || ext > hi || (!all && r->host != c->client))
			continue;
		e = ixmlDocument_createElement(doc, "p:PortMappingEntry");
		ixmlNode_appendChild((IXML_Node *)list, (IXML_Node *)e);
		if (r->n_from == 1 && r->from_len[0] == 32)
			mape_fmt_ip4(r->from[0], ip, sizeof(ip));
		else
			ip[0] = 0;
		add_text(doc, (IXML_Node *)e, "p:NewRemoteHost", "%s", ip);
		add_text(doc, (IXML_Node *)e, "p:NewExternalPort", "%u", ext);
		add_text(doc, (IXML_Node *)e, "p:NewProtocol", "%s", p == MAPE_FWD_TCP ? "TCP" : "UDP");
		add_text(doc, (IXML_Node *)e, "p:NewInternalPort", "%u", r->port + (ext - r->ext));
		mape_fmt_ip4(r->host, ip, sizeof(ip));
		add_text(doc, (IXML_Node *)e, "p:NewInternalClient", "%s", ip);
		add_text(doc, (IXML_Node *)e, "p:NewEnabled", "1");
		add_text(doc, (IXML_Node *)e, "p:NewDescription", "%s", r->comment);
		add_text(doc, (IXML_Node *)e, "p:NewLeaseTime", "%lld",
			 r->expires > now ? r->expires - now : 0);
		n++;
	}
	mape_fwd_set_free(&set);
	if (!n) {
		ixmlDocument_free(doc);
		return fail(c, 730, "PortMappingNotFound");
	}
	text = ixmlNodetoString((IXML_Node *)list);
	ixmlDocument_free(doc);
	if (!text)
		return fail(c, 501, "Action Failed");
	/* as CDATA, not escaped: control points such as miniupnpc read the
	 * listing as it stands, without decoding entities */
	c->out = UpnpMakeActionResponse(c->name, c->svc, 0, NULL);
	if (c->out) {
		IXML_Element *e = ixmlDocument_createElement(c->out, "NewPortListing");

		ixmlNode_appendChild((IXML_Node *)e,
				     (IXML_Node *)ixmlDocument_createCDATASection(c->out, text));
		ixmlNode_appendChild(ixmlNode_getFirstChild((IXML_Node *)c->out), (IXML_Node *)e);
	}
	ixmlFreeDOMString(text);
	return c->out ? 0 : fail(c, 501, "Action Failed");
}

/* ---- libupnp's side ---- */

static __u32 client_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			return ntohl(a->s6_addr32[3]);
	}
	return 0;
}

static int on_action(UpnpActionRequest *req)
{
	const char *name = UpnpActionRequest_get_ActionName_cstr(req);
	const char *sid = UpnpActionRequest_get_ServiceID_cstr(req);
	int ip = !strcmp(sid, SID_IP);
	struct call c = { .req = req, .svc = ip ? SVC_IP : SVC_CIF, .name = name };

	c.client = client_of(UpnpActionRequest_get_CtrlPtIPAddr(req));
	UpnpActionRequest_set_ErrCode(req, UPNP_E_SUCCESS);
	UpnpActionRequest_set_ActionResult(req, NULL);
	for (size_t i = 0; i < N_ACTIONS; i++) {
		if (actions[i].ip != ip || strcmp(actions[i].name, name))
			continue;
		if (!c.client)
			return fail(&c, 606, "Action not authorized: IPv4 control points only");
		if (actions[i].fn(&c)) {
			if (c.out)
				ixmlDocument_free(c.out);
			return 0;
		}
		if (!c.out)
			c.out = UpnpMakeActionResponse(name, c.svc, 0, NULL);
		UpnpActionRequest_set_ActionResult(req, c.out);
		return 0;
	}
	return fail(&c, 401, "Invalid Action");
}

static int mapping_count(void)
{
	struct mape_fwd_set set = { 0 };
	char err[MAPE_ERRLEN];
	unsigned int proto, ext;
	__u32 a;
	int n = 0;

	if (!mape_pmap_snapshot(g.pm, &set, &a, err))
		while (entry(&set, n, &proto, &ext))
			n++;
	mape_fwd_set_free(&set);
	return n;
}

/* The evented variables of WANIPConnection, now. */
static int ip_vars_now(const char **names, char vals[][32], const char **v)
{
	__u32 a = mape_pmap_ipv4(g.pm);

	names[0] = "ExternalIPAddress";
	names[1] = "PortMappingNumberOfEntries";
	names[2] = "ConnectionStatus";
	if (a)
		mape_fmt_ip4(a, vals[0], 32);
	else
		vals[0][0] = 0;
	snprintf(vals[1], 32, "%d", mapping_count());
	snprintf(vals[2], 32, "%s", a ? "Connected" : "Disconnected");
	for (int i = 0; i < 3; i++)
		v[i] = vals[i];
	return 3;
}

static int on_event(Upnp_EventType type, const void *ev, void *cookie)
{
	if (type == UPNP_CONTROL_ACTION_REQUEST)
		return on_action((UpnpActionRequest *)ev);
	if (type == UPNP_EVENT_SUBSCRIPTION_REQUEST) {
		const UpnpSubscriptionRequest *s = ev;
		const char *sid = UpnpSubscriptionRequest_get_ServiceId_cstr(s);
		const char *names[3], *v[3];
		char vals[3][32];
		int n = 0;

		if (!strcmp(sid, SID_IP)) {
			n = ip_vars_now(names, vals, v);
		} else {
			names[0] = "PhysicalLinkStatus";
			v[0] = mape_pmap_ipv4(g.pm) ? "Up" : "Down";
			n = 1;
		}
		UpnpAcceptSubscription(g.hnd, UpnpSubscriptionRequest_get_UDN_cstr(s), sid, names,
				       v, n, UpnpSubscriptionRequest_get_SID_cstr(s));
	}
	return 0;
}

void mape_upnp_changed(void)
{
	const char *names[3], *v[3];
	char vals[3][32];
	int n;

	if (!g.started)
		return;
	n = ip_vars_now(names, vals, v);
	UpnpNotify(g.hnd, g.udn_conn, SID_IP, names, v, n);
}

/* A UUID from the machine and the instance: the same across restarts. */
static void make_uuid(const char *seed, int which, char *out, size_t len)
{
	unsigned long long h = 1469598103934665603ULL;
	char mid[64] = "";
	FILE *f = fopen("/etc/machine-id", "re");

	if (f) {
		if (!fgets(mid, sizeof(mid), f))
			mid[0] = 0;
		fclose(f);
	}
	for (const char *s = mid; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	for (const char *s = seed; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	snprintf(out, len, "uuid:%08llx-%04llx-4%03llx-8%03x-%012llx", h >> 32, (h >> 16) & 0xffff,
		 h & 0xfff, which, (h * 31 + which) & 0xffffffffffffULL);
}

static char *description(const char *seed)
{
	char udn_root[64], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	make_uuid(seed, 1, udn_root, sizeof(udn_root));
	make_uuid(seed, 2, g.udn_wan, sizeof(g.udn_wan));
	make_uuid(seed, 3, g.udn_conn, sizeof(g.udn_conn));
	fprintf(f, "<?xml version=\"1.0\"?>\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\">"
		"<specVersion><major>1</major><minor>0</minor></specVersion><device>"
		"<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>"
		"<friendlyName>MAP-E gateway (mapectl)</friendlyName>"
		"<manufacturer>mapectl</manufacturer><modelName>mapectl MAP-E CE</modelName>"
		"<modelNumber>%s</modelNumber><UDN>%s</UDN><serviceList/><deviceList><device>"
		"<deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType>"
		"<friendlyName>WAN (MAP-E)</friendlyName><manufacturer>mapectl</manufacturer>"
		"<modelName>mapectl MAP-E CE</modelName><UDN>%s</UDN><serviceList><service>"
		"<serviceType>" SVC_CIF "</serviceType><serviceId>" SID_CIF "</serviceId>"
		"<SCPDURL>/WANCfg.xml</SCPDURL><controlURL>/ctl/CmnIfCfg</controlURL>"
		"<eventSubURL>/evt/CmnIfCfg</eventSubURL></service></serviceList>"
		"<deviceList><device>"
		"<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType>"
		"<friendlyName>MAP-E connection</friendlyName><manufacturer>mapectl</manufacturer>"
		"<modelName>mapectl MAP-E CE</modelName><UDN>%s</UDN><serviceList><service>"
		"<serviceType>" SVC_IP "</serviceType><serviceId>" SID_IP "</serviceId>"
		"<SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>/ctl/IPConn</controlURL>"
		"<eventSubURL>/evt/IPConn</eventSubURL></service></serviceList>"
		"</device></deviceList></device></deviceList></device></root>\n",
		MAPE_VERSION, udn_root, g.udn_wan, g.udn_conn);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* libupnp listens on every IPv6 address (its HTTP port) and on 0.0.0.0:1900
 * (SSDP): bind those sockets to the LAN, so that the WAN (whose IPv6
 * addresses are the router's too) never reaches them. */
static int confine(const char *ifname, char *err)
{
	unsigned int ports[3] = { 1900, UpnpGetServerPort(), UpnpGetServerPort6() };
	struct dirent *e;
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	if (!dir) {
		snprintf(err, MAPE_ERRLEN, "UPnP: /proc/self/fd: %s", strerror(errno));
		return -1;
	}
	while ((e = readdir(dir))) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = atoi(e->d_name), type = 0;
		socklen_t tl = sizeof(type);
		unsigned int port;

		if (e->d_name[0] == '.' || fd == dirfd(dir) ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) ||
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl))
			continue;
		if (ss.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		else
			continue;
		if (!((type == SOCK_DGRAM && port == ports[0] && ss.ss_family == AF_INET) ||
		      (type == SOCK_STREAM && port && (port == ports[1] || port == ports[2]))))
			continue;
		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, strlen(ifname))) {
			snprintf(err, MAPE_ERRLEN, "UPnP: cannot bind its sockets to %s: %s", ifname,
				 strerror(errno));
			closedir(dir);
			return -1;
		}
		n++;
	}
	closedir(dir);
	return n ? 0 : (snprintf(err, MAPE_ERRLEN, "UPnP: found none of its sockets"), -1);
}

int mape_upnp_start(struct mape_pmap *pm, const char *ifname, const char *dir, const char *seed,
		    int (*avoid)(unsigned int port, void *ctx), void *ctx, char *err)
{
	char path[600], *desc = NULL;
	unsigned int port = 49152;	/* libupnp's lowest */
	int ret;

	g.pm = pm;
	g.since = mono_s();
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/WANIPCn.xml", dir);
	ret = write_scpd(path, 1);
	snprintf(path, sizeof(path), "%s/WANCfg.xml", dir);
	if (!ret)
		ret = write_scpd(path, 0);
	if (ret) {
		snprintf(err, MAPE_ERRLEN, "UPnP: cannot write %s: %s", path, strerror(-ret));
		return -1;
	}
	/* the HTTP port: not one of the line's port set, which the internet reaches */
	while (avoid && avoid(port, ctx) && port < 65535)
		port++;
	ret = UpnpInit2(ifname, port);
	if (ret != UPNP_E_SUCCESS) {
		snprintf(err, MAPE_ERRLEN, "UPnP on %s (port %u): %s", ifname, port,
			 UpnpGetErrorMessage(ret));
		return -1;
	}
	if (confine(ifname, err)) {
		UpnpFinish();
		return -1;
	}
	desc = description(seed);
	ret = desc ? UpnpSetWebServerRootDir(dir) : UPNP_E_OUTOF_MEMORY;
	if (ret == UPNP_E_SUCCESS)
		ret = UpnpRegisterRootDevice2(UPNPREG_BUF_DESC, desc, strlen(desc), 1, on_event, NULL,
					      &g.hnd);
	free(desc);
	if (ret == UPNP_E_SUCCESS)
		ret = UpnpSendAdvertisement(g.hnd, 1800);
	if (ret != UPNP_E_SUCCESS) {
		snprintf(err, MAPE_ERRLEN, "UPnP on %s: %s", ifname, UpnpGetErrorMessage(ret));
		UpnpFinish();
		return -1;
	}
	g.started = 1;
	return 0;
}

unsigned int mape_upnp_port(void)
{
	return g.started ? UpnpGetServerPort() : 0;
}

void mape_upnp_stop(void)
{
	if (!g.started)
		return;
	g.started = 0;
	UpnpUnRegisterRootDevice(g.hnd);
	UpnpFinish();
}
