// SPDX-License-Identifier: GPL-2.0
/*
 * rvt_roce's C glue: UDP tunnel sockets and skb header access, which are
 * static inlines and macros of the network stack (see roce_net.h).
 */
#include <linux/if_vlan.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <net/udp_tunnel.h>
#include "roce_net.h"

struct socket *rvt_roce_udp_open(struct net *net, bool ipv6,
				 int (*rcv)(struct sock *sk, struct sk_buff *skb))
{
	struct udp_port_cfg port_cfg = { };
	struct udp_tunnel_sock_cfg tunnel_cfg = { };
	struct socket *sock;
	int err;

	if (ipv6) {
		port_cfg.family = AF_INET6;
		port_cfg.ipv6_v6only = 1;
	} else {
		port_cfg.family = AF_INET;
	}
	port_cfg.local_udp_port = htons(RVT_ROCE_UDP_PORT);
	err = udp_sock_create(net, &port_cfg, &sock);
	if (err)
		return ERR_PTR(err);
	tunnel_cfg.encap_type = 1;
	tunnel_cfg.encap_rcv = rcv;
	setup_udp_tunnel_sock(net, sock->sk, &tunnel_cfg);
	return sock;
}

void rvt_roce_udp_close(struct socket *sock)
{
	/* Waits for an RCU grace period: no receive call is left after it. */
	udp_tunnel_sock_release(sock->sk);
}

int rvt_roce_rx_prepare(struct sk_buff *skb, const void **hdrs, u32 *hdrs_len, u8 *grh)
{
	unsigned int l3_len, udp_len;
	struct udphdr *uh;

	if (skb_linearize(skb))
		return -ENOMEM;
	/* In an encap_rcv call skb->data is at the UDP header. */
	uh = udp_hdr(skb);
	if ((u8 *)uh != skb->data || skb->len < sizeof(*uh))
		return -EINVAL;
	if (skb->protocol == htons(ETH_P_IP)) {
		const struct iphdr *iph = ip_hdr(skb);

		/* RoCEv2 packets carry no IP options (the ICRC covers 20 bytes). */
		if (iph->ihl != 5)
			return -EINVAL;
		l3_len = sizeof(*iph);
		memset(grh, 0, 20);
		memcpy(grh + 20, iph, sizeof(*iph));
	} else if (skb->protocol == htons(ETH_P_IPV6)) {
		const struct ipv6hdr *ip6h = ipv6_hdr(skb);

		if (ip6h->nexthdr != IPPROTO_UDP)
			return -EINVAL;
		l3_len = sizeof(*ip6h);
		memcpy(grh, ip6h, sizeof(*ip6h));
	} else {
		return -EINVAL;
	}
	if (skb_network_header(skb) + l3_len != (u8 *)uh)
		return -EINVAL;
	udp_len = ntohs(uh->len);
	if (udp_len < sizeof(*uh) || udp_len > skb->len || pskb_trim(skb, udp_len))
		return -EINVAL;
	*hdrs = skb_network_header(skb);
	*hdrs_len = l3_len + sizeof(*uh);
	skb_pull(skb, sizeof(*uh));
	return 0;
}

struct net_device *rvt_roce_skb_dev(const struct sk_buff *skb)
{
	return skb->dev;
}

struct net_device *rvt_roce_vlan_lower(struct net_device *dev)
{
	return is_vlan_dev(dev) ? vlan_dev_real_dev(dev) : NULL;
}
