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
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/route.h>
#include <net/ip6_route.h>
#include <net/addrconf.h>
#include <linux/inetdevice.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_cache.h>
#include "roce_net.h"

static_assert(sizeof(struct rvt_roce_path) <= RVT_PATH_BYTES);

/* RoCEv2's ICRC (IBA annex A17.4.5.2). */
#define RVT_ROCE_ICRC_LEN 4

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
	struct net_device *dev = skb->dev, *local = NULL;

	/*
	 * A packet a local sender addressed to this host (an rvt device to
	 * itself or to another of the namespace) comes through the loopback
	 * device: it is for the device that has the destination address.
	 */
	if (!(dev->flags & IFF_LOOPBACK))
		return dev;
	if (skb->protocol == htons(ETH_P_IP))
		local = __ip_dev_find(dev_net(dev), ip_hdr(skb)->daddr, false);
#if IS_ENABLED(CONFIG_IPV6)
	else if (skb->protocol == htons(ETH_P_IPV6))
		local = ipv6_dev_find(dev_net(dev), &ipv6_hdr(skb)->daddr, NULL);
#endif
	return local ? local : dev;
}

struct net_device *rvt_roce_vlan_lower(struct net_device *dev)
{
	return is_vlan_dev(dev) ? vlan_dev_real_dev(dev) : NULL;
}

int rvt_roce_vlan_id(const struct net_device *dev)
{
	return is_vlan_dev(dev) ? vlan_dev_vlan_id(dev) : -1;
}

int rvt_roce_resolve_path(struct net_device *bound, const struct rdma_ah_attr *attr,
			  struct rvt_path *out)
{
	struct rvt_roce_path *p = (struct rvt_roce_path *)out->data;
	const struct ib_global_route *grh;
	const struct ib_gid_attr *sgid_attr;
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} src, dst;
	struct net_device *ndev;
	int ifindex = 0;

	if (attr->type != RDMA_AH_ATTR_TYPE_ROCE || !(rdma_ah_get_ah_flags(attr) & IB_AH_GRH))
		return -EINVAL;
	grh = rdma_ah_read_grh(attr);
	sgid_attr = grh->sgid_attr;
	if (!sgid_attr)
		return -EINVAL;
	if (sgid_attr->gid_type != IB_GID_TYPE_ROCE_UDP_ENCAP)
		return -EOPNOTSUPP;
	rcu_read_lock();
	ndev = rdma_read_gid_attr_ndev_rcu(sgid_attr);
	if (!IS_ERR(ndev) && (ndev == bound || (is_vlan_dev(ndev) && vlan_dev_real_dev(ndev) == bound)))
		ifindex = ndev->ifindex;
	rcu_read_unlock();
	if (!ifindex)
		return -EINVAL;
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	rdma_gid2ip(&src.sa, &sgid_attr->gid);
	rdma_gid2ip(&dst.sa, &grh->dgid);
	if (src.sa.sa_family != dst.sa.sa_family)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	if (src.sa.sa_family == AF_INET) {
		p->family = 4;
		p->saddr.v4 = src.v4.sin_addr.s_addr;
		p->daddr.v4 = dst.v4.sin_addr.s_addr;
	} else {
		p->family = 6;
		p->saddr.v6 = src.v6.sin6_addr;
		p->daddr.v6 = dst.v6.sin6_addr;
	}
	p->tos = grh->traffic_class;
	p->ttl = grh->hop_limit ? grh->hop_limit : 64;
	p->flow_label = cpu_to_be32(grh->flow_label & IB_GRH_FLOWLABEL_MASK);
	p->sport = cpu_to_be16(rdma_get_udp_sport(grh->flow_label, 0, 0));
	p->ifindex = ifindex;
	return 0;
}

struct sk_buff *rvt_roce_alloc_skb(struct net_device *bound, const struct rvt_path *path,
				   unsigned int len)
{
	const struct rvt_roce_path *p = (const struct rvt_roce_path *)path->data;
	unsigned int l3 = p->family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	unsigned int headroom = LL_RESERVED_SPACE(bound) + VLAN_HLEN + l3 + sizeof(struct udphdr);
	struct sk_buff *skb;

	skb = alloc_skb(headroom + len + RVT_ROCE_ICRC_LEN, GFP_ATOMIC);
	if (!skb)
		return NULL;
	skb_reserve(skb, headroom);
	skb->protocol = p->family == 4 ? htons(ETH_P_IP) : htons(ETH_P_IPV6);
	return skb;
}

/* The result of ip_local_out/ip6_local_out as backend.h's send() returns it. */
static int rvt_roce_xmit_result(int ret)
{
	if (ret == NET_XMIT_DROP || ret == -ENOBUFS)
		return -EBUSY;
	ret = net_xmit_eval(ret);
	return ret > 0 ? -EIO : ret;
}

int rvt_roce_xmit(struct net_device *bound, struct sk_buff *skb, const struct rvt_path *path)
{
	const struct rvt_roce_path *p = (const struct rvt_roce_path *)path->data;
	struct net *net = dev_net(bound);
	unsigned int len = skb->len;	/* BTH through pad */
	u8 *icrc = skb_put(skb, RVT_ROCE_ICRC_LEN);
	struct udphdr *uh;

	uh = skb_push(skb, sizeof(*uh));
	skb_reset_transport_header(skb);
	uh->source = p->sport;
	uh->dest = htons(RVT_ROCE_UDP_PORT);
	uh->len = htons(sizeof(*uh) + len + RVT_ROCE_ICRC_LEN);
	/* RoCEv2 sends no UDP checksum (annex A17.4.1; IPv6 as rdma_rxe does). */
	uh->check = 0;
	if (p->family == 4) {
		struct flowi4 fl = {
			.flowi4_oif = p->ifindex,
			.flowi4_proto = IPPROTO_UDP,
			.saddr = p->saddr.v4,
			.daddr = p->daddr.v4,
		};
		struct rtable *rt = ip_route_output_key(net, &fl);
		struct iphdr *iph;

		if (IS_ERR(rt)) {
			kfree_skb(skb);
			return -EHOSTUNREACH;
		}
		iph = skb_push(skb, sizeof(*iph));
		skb_reset_network_header(skb);
		iph->version = 4;
		iph->ihl = 5;
		iph->tos = p->tos;
		iph->tot_len = htons(skb->len);
		iph->frag_off = htons(IP_DF);
		iph->ttl = p->ttl;
		iph->protocol = IPPROTO_UDP;
		iph->saddr = p->saddr.v4;
		iph->daddr = p->daddr.v4;
		iph->check = 0;
		skb_dst_set(skb, &rt->dst);
		/* The ICRC covers the identification: choose it first. */
		ip_select_ident(net, skb, NULL);
		if (rvt_roce_icrc_generate(iph, sizeof(*iph) + sizeof(*uh), uh + 1, len, icrc)) {
			kfree_skb(skb);
			return -EINVAL;
		}
		memset(IPCB(skb), 0, sizeof(*IPCB(skb)));
		return rvt_roce_xmit_result(ip_local_out(net, NULL, skb));
	} else {
		struct flowi6 fl6 = {
			.flowi6_oif = p->ifindex,
			.flowi6_proto = IPPROTO_UDP,
			.saddr = p->saddr.v6,
			.daddr = p->daddr.v6,
		};
		struct dst_entry *dst = ip6_dst_lookup_flow(net, NULL, &fl6, NULL);
		struct ipv6hdr *ip6h;

		if (IS_ERR(dst)) {
			kfree_skb(skb);
			return -EHOSTUNREACH;
		}
		ip6h = skb_push(skb, sizeof(*ip6h));
		skb_reset_network_header(skb);
		ip6_flow_hdr(ip6h, p->tos, p->flow_label);
		ip6h->payload_len = htons(skb->len - sizeof(*ip6h));
		ip6h->nexthdr = IPPROTO_UDP;
		ip6h->hop_limit = p->ttl;
		ip6h->saddr = p->saddr.v6;
		ip6h->daddr = p->daddr.v6;
		skb_dst_set(skb, dst);
		if (rvt_roce_icrc_generate(ip6h, sizeof(*ip6h) + sizeof(*uh), uh + 1, len, icrc)) {
			kfree_skb(skb);
			return -EINVAL;
		}
		memset(IP6CB(skb), 0, sizeof(*IP6CB(skb)));
		return rvt_roce_xmit_result(ip6_local_out(net, NULL, skb));
	}
}
