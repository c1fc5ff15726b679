/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Out-of-line wrappers for static inline kernel functions and macros that
 * Rust cannot call directly (rvt/helpers.c, linked into rvt.ko and exported
 * for the backends).
 */
#ifndef RVT_HELPERS_H
#define RVT_HELPERS_H

#include <linux/netdevice.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_umem.h>
#include <linux/xarray.h>

bool rvt_helper_netif_carrier_ok(const struct net_device *dev);
bool rvt_helper_netif_running(const struct net_device *dev);
struct net_device *rvt_helper_notifier_info_to_dev(void *ptr);
void rvt_helper_netdev_hold(struct net_device *dev, netdevice_tracker *tracker);
void rvt_helper_netdev_put(struct net_device *dev, netdevice_tracker *tracker);
unsigned int rvt_helper_netdev_mtu(const struct net_device *dev);
void rvt_helper_netdev_addr(const struct net_device *dev, u8 addr[ETH_ALEN]);
void rvt_helper_kfree_skb(struct sk_buff *skb);
struct net *rvt_helper_dev_net(const struct net_device *dev);
bool rvt_helper_ib_device_try_get(struct ib_device *dev);
void *rvt_helper_vmalloc_user(unsigned long size);
struct ib_umem *rvt_helper_umem_get(struct ib_device *dev, unsigned long addr,
				    size_t size, int access);
size_t rvt_helper_umem_pages(struct ib_umem *umem, struct page **pages, size_t max);
void rvt_helper_xa_init_alloc1(struct xarray *xa);
int rvt_helper_xa_publish(struct xarray *xa, u32 index, void *entry);
int rvt_helper_xa_alloc_cyclic(struct xarray *xa, u32 *id, void *entry, u32 min, u32 max,
			       u32 *next);
void rvt_helper_spin_lock_bh(void *lock);
void rvt_helper_spin_unlock_bh(void *lock);
int rvt_helper_spin_trylock_bh(void *lock);
size_t rvt_helper_umem_page_count(struct ib_umem *umem);
void rvt_helper_copy_to_page(struct page *page, size_t offset, const void *from, size_t len);
void rvt_helper_copy_from_page(void *to, struct page *page, size_t offset, size_t len);
u64 rvt_helper_page_cmpxchg(struct page *page, size_t offset, u64 compare, u64 swap);
u64 rvt_helper_page_fetch_add(struct page *page, size_t offset, u64 add);
void rvt_helper_page_store64(struct page *page, size_t offset, u64 value);
struct page *rvt_helper_virt_to_page(const void *addr);
u32 rvt_helper_calc_flow_label(u32 lqpn, u32 rqpn);
void rvt_helper_skb_detach(struct sk_buff *skb);
bool rvt_helper_irqs_disabled(void);
struct sk_buff *rvt_helper_skb_clone(struct sk_buff *skb);
struct nlattr *rvt_helper_nest_driver_attrs(struct sk_buff *msg);
void rvt_helper_nest_end(struct sk_buff *msg, struct nlattr *nest);
void rvt_helper_nest_cancel(struct sk_buff *msg, struct nlattr *nest);

#endif /* RVT_HELPERS_H */
