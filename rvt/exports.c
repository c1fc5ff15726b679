// SPDX-License-Identifier: GPL-2.0
/*
 * The backend API of include/rvt/backend.h is implemented in Rust
 * (rvt/backend/mod.rs, #[no_mangle] extern "C"); Rust out of tree cannot
 * export symbols, so this file does, as the kernel's rust/exports.c does in
 * tree.
 */
#include <linux/export.h>
#include <rvt/backend.h>

EXPORT_SYMBOL_GPL(rvt_alloc_device);
EXPORT_SYMBOL_GPL(rvt_free_device);
EXPORT_SYMBOL_GPL(rvt_register_device);
EXPORT_SYMBOL_GPL(rvt_device_try_get);
EXPORT_SYMBOL_GPL(rvt_device_put);
EXPORT_SYMBOL_GPL(rvt_unregister_device);
EXPORT_SYMBOL_GPL(rvt_unregister_device_queued);
EXPORT_SYMBOL_GPL(rvt_unregister_backend);
EXPORT_SYMBOL_GPL(rvt_device_priv);
EXPORT_SYMBOL_GPL(rvt_device_ibdev);
EXPORT_SYMBOL_GPL(rvt_device_from_ibdev);
EXPORT_SYMBOL_GPL(rvt_device_get_by_netdev);
EXPORT_SYMBOL_GPL(rvt_receive);
EXPORT_SYMBOL_GPL(rvt_roce_icrc_check);
EXPORT_SYMBOL_GPL(rvt_roce_icrc_generate);
EXPORT_SYMBOL_GPL(rvt_handle_event);
EXPORT_SYMBOL_GPL(rvt_tx_done);
