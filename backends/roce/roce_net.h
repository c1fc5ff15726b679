/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rvt_roce's C glue (roce_net.c): the network stack's static inlines and
 * macros its Rust code needs for the RoCEv2 UDP sockets and packets.
 */
#ifndef RVT_ROCE_NET_H
#define RVT_ROCE_NET_H

#include <linux/skbuff.h>
#include <net/net_namespace.h>

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
/* The device a packet arrived on. */
struct net_device *rvt_roce_skb_dev(const struct sk_buff *skb);
/* The netdev under a VLAN device, or NULL if @dev is not one. */
struct net_device *rvt_roce_vlan_lower(struct net_device *dev);

#endif /* RVT_ROCE_NET_H */
