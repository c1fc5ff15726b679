/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rvt_roce's C glue (roce_net.c): the network stack's static inlines and
 * macros its Rust code needs for the RoCEv2 UDP sockets and packets.
 */
#ifndef RVT_ROCE_NET_H
#define RVT_ROCE_NET_H

#include <linux/skbuff.h>
#include <net/net_namespace.h>
#include <rdma/ib_verbs.h>
#include <rvt/backend.h>

/* RoCEv2's UDP destination port (IBA annex A17). */
#define RVT_ROCE_UDP_PORT 4791

/* A kernel UDP socket on port 4791 of @net (IPv4, or IPv6 only), whose
 * packets go to @rcv in softirq. ERR_PTR on failure. */
struct socket *rvt_roce_udp_open(struct net *net, bool ipv6,
				 int (*rcv)(struct sock *sk, struct sk_buff *skb));
/* Closes it; returns once no @rcv call for it runs any more (an RCU grace
 * period). Sleeps. */
void rvt_roce_udp_close(struct socket *sock);
/*
 * A packet @rcv received: linearizes it, checks its IP and UDP framing,
 * fills the 40-byte UD GRH slot (the IPv6 header, or 20 zero bytes then
 * the IPv4 header), trims it to the UDP length and pulls the UDP header,
 * so skb->data is at the BTH. *@hdrs is then the IP and UDP headers,
 * *@hdrs_len bytes (what the ICRC covers). 0 or -errno.
 */
int rvt_roce_rx_prepare(struct sk_buff *skb, const void **hdrs, u32 *hdrs_len, u8 *grh);
/*
 * The device a packet is for: the one it arrived on, or for a packet to a
 * local address (through the loopback device) the one with that address.
 * Under RCU (the receive softirq); no reference taken.
 */
struct net_device *rvt_roce_skb_dev(const struct sk_buff *skb);
/* The netdev under a VLAN device, or NULL if @dev is not one. */
struct net_device *rvt_roce_vlan_lower(struct net_device *dev);
/* The 802.1Q VLAN ID of a VLAN device, -1 for any other device. */
int rvt_roce_vlan_id(const struct net_device *dev);

/*
 * What rvt_roce keeps of an address handle in a struct rvt_path (the bytes
 * are the backend's, backend.h): addresses, the IP header fields the GRH
 * maps to, the UDP source port, the egress interface.
 */
struct rvt_roce_path {
	u8 family;		/* 4 or 6 */
	u8 tos;			/* GRH traffic class */
	u8 ttl;			/* GRH hop limit (0: 64) */
	u8 reserved;
	__be16 sport;		/* from the flow label (IBA annex A17) */
	__be16 reserved2;
	__be32 flow_label;	/* IPv6 */
	int ifindex;		/* the source GID's netdev */
	union {
		__be32 v4;
		struct in6_addr v6;
	} saddr, daddr;
};

/*
 * Resolves a RoCEv2 address handle of a device bound to @bound: the source
 * GID must be a RoCEv2 GID of @bound or of a VLAN device on it. Never
 * sleeps. 0, -EINVAL, or -EOPNOTSUPP for a RoCEv1 GID.
 */
int rvt_roce_resolve_path(struct net_device *bound, const struct rdma_ah_attr *attr,
			  struct rvt_path *out);
/* An skb for @len bytes from the BTH on to @path, or NULL. Atomic. */
struct sk_buff *rvt_roce_alloc_skb(struct net_device *bound, const struct rvt_path *path,
				   unsigned int len);
/*
 * Routes, adds the UDP and IP headers and the ICRC, transmits. Consumes the
 * skb. 0, -EBUSY (the qdisc or device dropped it: back-pressure), or
 * another -errno (no route, ...). Atomic.
 */
int rvt_roce_xmit(struct net_device *bound, struct sk_buff *skb, const struct rvt_path *path);

#endif /* RVT_ROCE_NET_H */
