/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rvt backend API: the contract between rvt.ko (the generic InfiniBand
 * transport) and the modules that move its packets (rvt_roce, rvt_qib,
 * rvt_hfi). This header is the single source of truth: the Rust side of both
 * the core and the backends is generated from it with bindgen and wrapped in a
 * safe trait (include/rvt/backend.rs).
 *
 * A backend fills a static struct rvt_backend_ops, then, for each
 * "hardware" device it drives, calls rvt_alloc_device(), initialises its
 * private area in place and calls rvt_register_device(). rvt.ko builds
 * BTH and extension headers and segments payload; the backend adds what is
 * outside the BTH (LRH/GRH, Ethernet/IP/UDP, 16B LRH) and the ICRC/VCRC.
 */
#ifndef RVT_BACKEND_H
#define RVT_BACKEND_H

#include <linux/types.h>
#include <linux/skbuff.h>
#include <linux/netdevice.h>
#include <rdma/ib_verbs.h>

struct rvt_device;

/* Live link attributes of one port, as the backend's "hardware" sees them. */
struct rvt_link_info {
	enum ib_port_state state;	/* IB_PORT_DOWN, IB_PORT_ACTIVE, ... */
	u8 phys_state;			/* enum ib_port_phys_state */
	u8 active_width;		/* enum ib_port_width */
	u16 active_speed;		/* enum ib_port_speed */
	enum ib_mtu active_mtu;		/* what the link carries now */
	enum ib_mtu max_mtu;		/* the largest the link can carry */
	/* Native IB link layer only (ignored for RoCE). */
	u32 lid;
	u32 sm_lid;
	u8 lmc;
	u8 sm_sl;
};

/*
 * A resolved address: what resolve_path() made of an address handle, kept by
 * the core with the AH or QP and handed back to send(). Its bytes belong to
 * the backend (LID/SL/VL, or IP addresses, destination MAC, VLAN, UDP port).
 */
#define RVT_PATH_BYTES 64
struct rvt_path {
	u8 data[RVT_PATH_BYTES];
};

/* What the backend's checks of a received packet found (rvt counts each). */
enum rvt_rx_check {
	RVT_RX_OK,		/* outer headers and ICRC/VCRC verified */
	RVT_RX_BAD_ICRC,	/* the ICRC (or VCRC) differs */
	RVT_RX_BAD_HEADERS,	/* the outer headers are malformed or truncated */
};

/* What the backend knows about a received packet besides its bytes. */
struct rvt_rx_meta {
	u32 port;		/* 1-based port number */
	u16 pkey;		/* from the BTH, already matched by the backend */
	u8 sl;			/* service level (or DSCP-derived for RoCE) */
	u8 grh_present;		/* 1 when grh[] holds a GRH or the L3 header (UD GRH slot) */
	u8 check;		/* enum rvt_rx_check */
	u8 loopback;		/* 1 when the packet never left this host */
	u16 slid;		/* native IB: source LID */
	u16 dlid;		/* native IB: destination LID */
	u16 vlan_id;		/* RoCE: the 802.1Q VLAN it arrived on, if vlan_present */
	u8 vlan_present;
	u8 grh[40];		/* IBA 11.4.1.1: the 40-byte GRH slot of a UD receive */
};

/*
 * Events a backend reports through rvt_handle_event(), for what ib_core does
 * not see itself. A RoCE backend reports none of them: for a port bound to a
 * netdev (ib_device_set_netdev) ib_core dispatches IB_EVENT_PORT_ACTIVE and
 * IB_EVENT_PORT_ERR on NETDEV_UP/CHANGE/DOWN (ib_dispatch_port_state_event)
 * and keeps the RoCE GID table, with its GID change events, from the
 * netdev's addresses (roce_gid_mgmt). A native IB backend reports its link
 * and subnet manager changes.
 */
enum rvt_event {
	RVT_EVENT_LINK_UP,
	RVT_EVENT_LINK_DOWN,
	RVT_EVENT_LID_CHANGE,
	RVT_EVENT_SM_CHANGE,
	RVT_EVENT_PKEY_CHANGE,
	RVT_EVENT_GID_CHANGE,
};

/*
 * Operations of one kind of backend. Every op is mandatory unless marked
 * optional; rvt_register_device() refuses an ops table with a mandatory op
 * missing and says which.
 *
 * Context: each op says where rvt may call it. "Atomic" ops may run in
 * softirq, or in process context with a (BH-disabling) spinlock held, but
 * always with hard interrupts enabled (so they may take BH locks, as
 * dev_queue_xmit does; rvt defers to a work item when it is called with
 * interrupts off); they must not sleep. "Sleeps" ops run in process
 * context and may sleep, but never with RTNL held by rvt.
 *
 * rvt calls ops only on a device whose private area is live: from
 * rvt_register_device() until release() returns. After release() returns
 * rvt never calls into the backend for that device again, and
 * rvt_unregister_backend() returns only once every device of the backend has
 * returned from release(): the backend module may then go.
 */
struct rvt_backend_ops {
	/*
	 * The backend's module: it owns the ib_device (ib_device_ops.owner), so
	 * an open uverbs file pins it and rmmod answers EBUSY (as for rdma_rxe).
	 */
	struct module *owner;
	const char *name;		/* backend name for messages, e.g. "roce" */
	u8 link_layer;			/* IB_LINK_LAYER_ETHERNET or IB_LINK_LAYER_INFINIBAND */

	/*
	 * Atomic. Transmit one packet built into an skb from get_send_buffer()
	 * (rvt put the BTH through the pad bytes in it). Consumes the skb.
	 * Returns 0 when the packet was taken, -EBUSY when the device is busy
	 * (rvt builds the same packet again after a short back-off), any
	 * other -errno when it is lost (no route, ...; counted, and left to the
	 * transport's retransmission).
	 */
	int (*send)(struct rvt_device *dev, u32 port, struct sk_buff *skb,
		    const struct rvt_path *path);
	/*
	 * Sleeps (RoCE reads the netdev's ethtool settings under RTNL). Current
	 * link attributes of a port; rvt calls it from ib_query_port().
	 */
	int (*query_link)(struct rvt_device *dev, u32 port, struct rvt_link_info *info);
	/* Atomic. Node and port GUIDs (big-endian, as on the wire). */
	__be64 (*node_guid)(struct rvt_device *dev);
	__be64 (*port_guid)(struct rvt_device *dev, u32 port);
	/* Sleeps (attach_mcast runs in process context). Join and leave a multicast group. */
	int (*mcast_add)(struct rvt_device *dev, u32 port, const union ib_gid *mgid);
	int (*mcast_del)(struct rvt_device *dev, u32 port, const union ib_gid *mgid);
	/* Optional, sleeps: choose a QPN (the core allocates one when absent). */
	int (*alloc_qpn)(struct rvt_device *dev, enum ib_qp_type type, u32 *qpn);
	/*
	 * Atomic. An skb with headroom for the backend's outer headers and
	 * tailroom for len bytes from the BTH on plus its ICRC/VCRC; rvt
	 * skb_put()s the len bytes. NULL if none can be had now (retried).
	 */
	struct sk_buff *(*get_send_buffer)(struct rvt_device *dev, u32 port,
					   const struct rvt_path *path, unsigned int len);
	/* Atomic unless @sleepable. Address handle attributes -> path. */
	int (*resolve_path)(struct rvt_device *dev, u32 port,
			    const struct rdma_ah_attr *attr, bool sleepable,
			    struct rvt_path *path);
	/* Atomic. Largest MTU usable on a resolved path. */
	enum ib_mtu (*path_mtu)(struct rvt_device *dev, const struct rvt_path *path);
	/*
	 * Optional, sleeps: the device is being freed; drop what the backend
	 * keeps in its private area. Called exactly once for every device that
	 * was passed to rvt_register_device() (whether registration succeeded
	 * or failed), never for one freed with rvt_free_device().
	 */
	void (*release)(struct rvt_device *dev);
};

/* What a backend asks rvt_alloc_device() to create. */
struct rvt_device_desc {
	const struct rvt_backend_ops *ops;
	struct net_device *netdev;	/* RoCE: the bound netdev (rvt holds a tracked reference), else NULL */
	u32 num_ports;			/* 1 for now */
	size_t priv_size;		/* bytes of backend-private storage, zeroed, 8-byte aligned */
};

/*
 * Device lifetime.
 *
 * rvt_alloc_device() returns an unregistered device with a zeroed private
 * area, owned by the caller, who initialises the private area in place (it
 * may hold locks, lists and work items: it never moves) and then either
 * frees the device with rvt_free_device() (private area not live: release()
 * is not called) or hands it to rvt_register_device().
 *
 * Once registered, ib_core may unregister and free the device at any time
 * (`rdma link delete`, the netdev going away). A pointer a backend uses
 * outside an op must therefore come with a registration reference ("get"):
 * rvt_register_device() returns with one, rvt_device_get_by_netdev() takes
 * one, rvt_device_try_get() takes one from a device the caller can already
 * see (inside an op or a callback). A get keeps the device registered and
 * its private area live; drop it with rvt_device_put(). Unregistration
 * waits for every get to be dropped and nobody tells the holder, so gets are
 * short-lived: per call, per packet, per notifier event; never kept in a
 * backend's own data, never held across a call that unregisters the same
 * device.
 */
/* Sleeps. An unregistered device, or an ERR_PTR. */
struct rvt_device *rvt_alloc_device(const struct rvt_device_desc *desc);
/* Sleeps. Frees a device that was never passed to rvt_register_device(). */
void rvt_free_device(struct rvt_device *dev);
/*
 * Sleeps. Registers the device as @ibdev_name. From this call on the device
 * owns its private area (release() drops it). Returns 0 with a get held by
 * the caller, or an error, in which case the device is already freed.
 */
int rvt_register_device(struct rvt_device *dev, const char *ibdev_name);
/* Any context. Takes a get on a device the caller can see; false once unregistration began. */
bool rvt_device_try_get(struct rvt_device *dev);
/* Any context. Drops a get. */
void rvt_device_put(struct rvt_device *dev);
/* Sleeps; not under RTNL. Drops the caller's get, unregisters and frees the device; waits. */
void rvt_unregister_device(struct rvt_device *dev);
/* Any context (netdev notifiers hold RTNL). The caller holds a get, which it keeps. */
void rvt_unregister_device_queued(struct rvt_device *dev);
/* Sleeps. Unregister every device of this backend and wait until all are freed (module exit). */
void rvt_unregister_backend(const struct rvt_backend_ops *ops);
/* Any context. The backend-private area and the ib_device of a device. */
void *rvt_device_priv(struct rvt_device *dev);
struct ib_device *rvt_device_ibdev(struct rvt_device *dev);
/*
 * Any context, lock-free. The rvt device of this backend behind an
 * ib_device the caller holds a get on (or whose ib_core callback it runs
 * in), or NULL if it is not one.
 */
struct rvt_device *rvt_device_from_ibdev(struct ib_device *ibdev,
					 const struct rvt_backend_ops *ops);
/* Any context (RCU). The device of this backend bound to @ndev, with a get, or NULL. */
struct rvt_device *rvt_device_get_by_netdev(struct net_device *ndev,
					    const struct rvt_backend_ops *ops);

/*
 * Any context. Checks the ICRC of a received RoCEv2 packet: @ip_and_udp the
 * IPv4 (20 bytes) or IPv6 (40) header and the UDP header, @bth_onward the
 * UDP payload (BTH through ICRC). 0 if it matches, -EBADMSG if not,
 * -EINVAL if the headers are malformed. The kernel's crc32_le does the work.
 */
int rvt_roce_icrc_check(const void *ip_and_udp, u32 hdr_len, const void *bth_onward, u32 len);
/*
 * Any context. The ICRC of a RoCEv2 packet to transmit, written to @icrc in
 * wire order: @ip_and_udp the final IPv4 or IPv6 header and the UDP header
 * (the fields the ICRC masks may still change), @bth_onward the BTH through
 * the last pad byte. 0, or -EINVAL if the headers are malformed.
 */
int rvt_roce_icrc_generate(const void *ip_and_udp, u32 hdr_len, const void *bth_onward, u32 len,
			   u8 icrc[4]);

/*
 * Upcalls, on a device whose private area is live (inside an op, or with a
 * get). receive() runs in softirq and consumes the skb; when meta->check is
 * RVT_RX_OK the skb is linear, skb->data at the BTH and the ICRC removed
 * (otherwise rvt only counts it). handle_event() and tx_done() run in any
 * context.
 */
void rvt_receive(struct rvt_device *dev, struct sk_buff *skb, const struct rvt_rx_meta *meta);
void rvt_handle_event(struct rvt_device *dev, u32 port, enum rvt_event event);
void rvt_tx_done(struct rvt_device *dev, u32 port);

#endif /* RVT_BACKEND_H */
