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
#include <linux/xarray.h>
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
