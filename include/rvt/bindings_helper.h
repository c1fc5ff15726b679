/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What rvt's own bindgen run turns into Rust (see Kbuild): the backend API,
 * the parts of ib_core and the network stack rvt uses, and rvt's C helpers.
 * The kernel's rust/bindings/bindings_helper.h is never modified.
 */
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/notifier.h>
#include <linux/namei.h>
#include <linux/etherdevice.h>
#include <linux/vmalloc.h>
#include <linux/crc32.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_cache.h>
#include <rdma/ib_mad.h>
#include <rdma/rdma_netlink.h>
#include <rdma/rdma_user_rxe.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/uverbs_ioctl.h>
#include <rvt/backend.h>
#include <rvt/helpers.h>
