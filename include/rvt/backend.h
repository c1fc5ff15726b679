/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rvt backend API: the contract between rvt.ko (the generic InfiniBand
 * transport) and the modules that move its packets (rvt_roce, rvt_qib,
 * rvt_hfi). This header is the single source of truth: the Rust side of both
 * the core and the backends is generated from it with bindgen and wrapped in a
 * safe trait (include/rvt/backend.rs).
 *
 * A backend fills a static struct rvt_backend_ops, then calls
 * rvt_register_device() for each "hardware" device it drives. rvt.ko builds
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

/* What the backend knows about a received packet besides its bytes. */
struct rvt_rx_meta {
	u32 port;		/* 1-based port number */
	u16 pkey;		/* from the BTH, already matched by the backend */
	u8 sl;			/* service level (or DSCP-derived for RoCE) */
	u8 grh_present;		/* 1 when grh[] holds a GRH or the L3 header (UD GRH slot) */
	u8 icrc_ok;		/* 1 when the backend verified the ICRC/VCRC */
	u8 loopback;		/* 1 when the packet never left this host */
	u16 slid;		/* native IB: source LID */
	u16 dlid;		/* native IB: destination LID */
	u8 grh[40];		/* IBA 11.4.1.1: the 40-byte GRH slot of a UD receive */
};

/* Events a backend reports through rvt_handle_event(). */
enum rvt_event {
	RVT_EVENT_LINK_UP,
	RVT_EVENT_LINK_DOWN,
	RVT_EVENT_MTU_CHANGE,
	RVT_EVENT_LID_CHANGE,
	RVT_EVENT_SM_CHANGE,
	RVT_EVENT_PKEY_CHANGE,
	RVT_EVENT_GID_CHANGE,
};

/*
 * Operations of one kind of backend. Every op is mandatory unless marked
 * optional; rvt_register_device() refuses an ops table with a mandatory op
 * missing and says which. Ops may be called in atomic context unless noted.
 */
struct rvt_backend_ops {
	struct module *owner;
	const char *name;		/* backend name for messages, e.g. "roce" */
	u8 link_layer;			/* IB_LINK_LAYER_ETHERNET or IB_LINK_LAYER_INFINIBAND */

	/* Transmit one packet built into an skb from get_send_buffer(). Consumes the skb. */
	int (*send)(struct rvt_device *dev, u32 port, struct sk_buff *skb,
		    const struct rvt_path *path);
	/* Current link attributes of a port. */
	int (*query_link)(struct rvt_device *dev, u32 port, struct rvt_link_info *info);
	/* Node and port GUIDs (big-endian, as on the wire). */
	__be64 (*node_guid)(struct rvt_device *dev);
	__be64 (*port_guid)(struct rvt_device *dev, u32 port);
	/* Join and leave a multicast group. */
	int (*mcast_add)(struct rvt_device *dev, u32 port, const union ib_gid *mgid);
	int (*mcast_del)(struct rvt_device *dev, u32 port, const union ib_gid *mgid);
	/* Optional: choose a QPN (the core allocates one when absent). */
	int (*alloc_qpn)(struct rvt_device *dev, enum ib_qp_type type, u32 *qpn);
	/* An skb with room for the backend's outer headers plus len bytes from the BTH on. */
	struct sk_buff *(*get_send_buffer)(struct rvt_device *dev, u32 port,
					   const struct rvt_path *path, unsigned int len);
	/* Address handle attributes -> path. May sleep only when the AH is sleepable. */
	int (*resolve_path)(struct rvt_device *dev, u32 port,
			    const struct rdma_ah_attr *attr, struct rvt_path *path);
	/* Largest MTU usable on a resolved path. */
	enum ib_mtu (*path_mtu)(struct rvt_device *dev, const struct rvt_path *path);
	/*
	 * Optional: a registered device is being freed; drop what the backend
	 * keeps in its private area. Not called when registration failed.
	 */
	void (*release)(struct rvt_device *dev);
};

/* What a backend asks rvt_register_device() to create. */
struct rvt_device_desc {
	const struct rvt_backend_ops *ops;
	const char *ibdev_name;		/* e.g. "rvt0" */
	struct net_device *netdev;	/* RoCE: the bound netdev (rvt holds a reference), else NULL */
	u32 num_ports;			/* 1 for now */
	size_t priv_size;		/* bytes of backend-private storage */
	/*
	 * priv_size bytes copied into the private area before the device is
	 * registered (NULL: zeroed). On success the device owns them and hands
	 * them to release(); on failure they stay the caller's.
	 */
	const void *priv_init;
};

/* Create and register an ib_device. Sleeps. Returns an ERR_PTR on failure. */
struct rvt_device *rvt_register_device(const struct rvt_device_desc *desc);
/* Unregister and free a device; waits for users. Sleeps; not under RTNL. */
void rvt_unregister_device(struct rvt_device *dev);
/* The same from contexts that cannot sleep or hold RTNL (netdev notifiers). */
void rvt_unregister_device_queued(struct rvt_device *dev);
/* Unregister every device of this backend and wait until all are freed (module exit). */
void rvt_unregister_backend(const struct rvt_backend_ops *ops);
/* The backend-private area and the ib_device of a device. */
void *rvt_device_priv(struct rvt_device *dev);
struct ib_device *rvt_device_ibdev(struct rvt_device *dev);
/* The rvt device behind an ib_device created by this backend, or NULL. */
struct rvt_device *rvt_device_from_ibdev(struct ib_device *ibdev,
					 const struct rvt_backend_ops *ops);

/* Upcalls. receive() consumes the skb; skb->data points at the BTH. */
void rvt_receive(struct rvt_device *dev, struct sk_buff *skb, const struct rvt_rx_meta *meta);
void rvt_handle_event(struct rvt_device *dev, u32 port, enum rvt_event event);
void rvt_tx_done(struct rvt_device *dev, u32 port);

#endif /* RVT_BACKEND_H */
