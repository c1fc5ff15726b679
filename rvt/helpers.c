// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line versions of static inline kernel functions that Rust cannot
 * call (declared in include/rvt/helpers.h). Exported for the backends.
 */
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/vmalloc.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_umem.h>
#include <net/netlink.h>
#include <rdma/rdma_netlink.h>
#include <linux/xarray.h>
#include <linux/highmem.h>
#include <linux/spinlock.h>
#include <rvt/helpers.h>

bool rvt_helper_netif_carrier_ok(const struct net_device *dev)
{
	return netif_carrier_ok(dev);
}
EXPORT_SYMBOL_GPL(rvt_helper_netif_carrier_ok);

bool rvt_helper_netif_running(const struct net_device *dev)
{
	return netif_running(dev);
}
EXPORT_SYMBOL_GPL(rvt_helper_netif_running);

struct net_device *rvt_helper_notifier_info_to_dev(void *ptr)
{
	return netdev_notifier_info_to_dev(ptr);
}
EXPORT_SYMBOL_GPL(rvt_helper_notifier_info_to_dev);

void rvt_helper_netdev_hold(struct net_device *dev, netdevice_tracker *tracker)
{
	netdev_hold(dev, tracker, GFP_KERNEL);
}
EXPORT_SYMBOL_GPL(rvt_helper_netdev_hold);

void rvt_helper_netdev_put(struct net_device *dev, netdevice_tracker *tracker)
{
	netdev_put(dev, tracker);
}
EXPORT_SYMBOL_GPL(rvt_helper_netdev_put);

/* The MTU changes under RTNL while readers do not hold it: read it once. */
unsigned int rvt_helper_netdev_mtu(const struct net_device *dev)
{
	return READ_ONCE(dev->mtu);
}
EXPORT_SYMBOL_GPL(rvt_helper_netdev_mtu);

/* The hardware address, copied as the stack's own lockless readers do. */
void rvt_helper_netdev_addr(const struct net_device *dev, u8 addr[ETH_ALEN])
{
	memcpy(addr, dev->dev_addr, ETH_ALEN);
}
EXPORT_SYMBOL_GPL(rvt_helper_netdev_addr);

void rvt_helper_kfree_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}
EXPORT_SYMBOL_GPL(rvt_helper_kfree_skb);

struct net *rvt_helper_dev_net(const struct net_device *dev)
{
	return dev_net(dev);
}
EXPORT_SYMBOL_GPL(rvt_helper_dev_net);

bool rvt_helper_ib_device_try_get(struct ib_device *dev)
{
	return ib_device_try_get(dev);
}

/* vmalloc_user is a macro (allocation tagging). */
void *rvt_helper_vmalloc_user(unsigned long size)
{
	return vmalloc_user(size);
}

/* ib_umem_get_va is a static inline. */
struct ib_umem *rvt_helper_umem_get(struct ib_device *dev, unsigned long addr,
				    size_t size, int access)
{
	return ib_umem_get_va(dev, addr, size, access);
}

/* The pinned pages of a umem, in order (the sg iterators are macros). */
size_t rvt_helper_umem_pages(struct ib_umem *umem, struct page **pages, size_t max)
{
	struct sg_page_iter iter;
	size_t n = 0;

	for_each_sgtable_page(&umem->sgt_append.sgt, &iter, 0) {
		if (n == max)
			break;
		pages[n++] = sg_page_iter_page(&iter);
	}
	return n;
}

/* xa_init_flags and xa_alloc_cyclic are static inlines. */
void rvt_helper_xa_init_alloc1(struct xarray *xa)
{
	xa_init_flags(xa, XA_FLAGS_ALLOC1);
}

int rvt_helper_xa_alloc_cyclic(struct xarray *xa, u32 *id, void *entry, u32 min, u32 max,
			       u32 *next)
{
	int ret = xa_alloc_cyclic(xa, id, entry, XA_LIMIT(min, max), next, GFP_KERNEL);

	return ret < 0 ? ret : 0;
}

/* Fills a reserved index (xa_err is a static inline). */
int rvt_helper_xa_publish(struct xarray *xa, u32 index, void *entry)
{
	return xa_err(xa_store(xa, index, entry, GFP_KERNEL));
}

/*
 * spin_lock_bh and friends are macros. The lock is passed as void * so that
 * the kernel crate's spinlock_t and the one of rvt's own bindgen run never
 * have to be converted into each other.
 */
void rvt_helper_spin_lock_bh(void *lock)
{
	spin_lock_bh(lock);
}

void rvt_helper_spin_unlock_bh(void *lock)
{
	spin_unlock_bh(lock);
}

int rvt_helper_spin_trylock_bh(void *lock)
{
	return spin_trylock_bh(lock);
}

/* The page count of a umem (a static inline). */
size_t rvt_helper_umem_page_count(struct ib_umem *umem)
{
	return ib_umem_num_pages(umem);
}

/* Payload copies to and from pinned pages (static inlines of highmem.h). */
void rvt_helper_copy_to_page(struct page *page, size_t offset, const void *from, size_t len)
{
	memcpy_to_page(page, offset, from, len);
}

void rvt_helper_copy_from_page(void *to, struct page *page, size_t offset, size_t len)
{
	memcpy_from_page(to, page, offset, len);
}

/*
 * IBA 9.4.4 atomics on 8 aligned bytes of a pinned page, executed with the
 * CPU's own atomic instructions, so that they are atomic with respect to
 * every other access, local CPU stores included. Returns the original value.
 */
u64 rvt_helper_page_cmpxchg(struct page *page, size_t offset, u64 compare, u64 swap)
{
	u64 *p = kmap_local_page(page) + offset;
	u64 orig = cmpxchg64(p, compare, swap);

	kunmap_local(p);
	return orig;
}

u64 rvt_helper_page_fetch_add(struct page *page, size_t offset, u64 add)
{
	atomic64_t *p = kmap_local_page(page) + offset;
	u64 orig = atomic64_fetch_add(add, p);

	kunmap_local(p);
	return orig;
}

/*
 * The page of a kernel address in the direct map (a fast-registration MR's
 * pages: DMA addresses of a virtual-DMA device), NULL for any other address.
 */
struct page *rvt_helper_virt_to_page(const void *addr)
{
	return virt_addr_valid(addr) ? virt_to_page(addr) : NULL;
}

/* RDMA ATOMIC WRITE: one 8-byte store that no reader sees torn. */
void rvt_helper_page_store64(struct page *page, size_t offset, u64 value)
{
	u64 *p = kmap_local_page(page) + offset;

	WRITE_ONCE(*p, value);
	kunmap_local(p);
}

/* One flow label (so one UDP source port) per connection (a static inline). */
u32 rvt_helper_calc_flow_label(u32 lqpn, u32 rqpn)
{
	return rdma_calc_flow_label(lqpn, rqpn);
}

/* An skb kept past its receive softirq: no noref route, no socket charge. */
void rvt_helper_skb_detach(struct sk_buff *skb)
{
	skb_dst_drop(skb);
	skb_orphan(skb);
}

bool rvt_helper_irqs_disabled(void)
{
	return irqs_disabled();
}

/* skb_clone with an atomic allocation (the receive softirq). */
struct sk_buff *rvt_helper_skb_clone(struct sk_buff *skb)
{
	return skb_clone(skb, GFP_ATOMIC);
}

/* The driver attribute table of an rdma resource entry (nla_nest_* are static inlines). */
struct nlattr *rvt_helper_nest_driver_attrs(struct sk_buff *msg)
{
	return nla_nest_start(msg, RDMA_NLDEV_ATTR_DRIVER);
}

void rvt_helper_nest_end(struct sk_buff *msg, struct nlattr *nest)
{
	nla_nest_end(msg, nest);
}

void rvt_helper_nest_cancel(struct sk_buff *msg, struct nlattr *nest)
{
	nla_nest_cancel(msg, nest);
}
