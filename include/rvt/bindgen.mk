# SPDX-License-Identifier: GPL-2.0
#
# rvt's own bindgen run, shared by the Kbuild files of rvt.ko and of every
# backend: include/rvt/bindings_helper.h -> $(obj)/rvt_bindings_generated.rs,
# with the kernel's own C flags filtered the way rust/Makefile filters them and
# the kernel's bindgen parameters. The kernel's bindings_helper.h is never
# touched, so the modules build against any Rust-enabled 7.3 tree.

RVT_INCLUDE := $(abspath $(src)/../include)
ifeq ($(wildcard $(RVT_INCLUDE)/rvt/backend.h),)
RVT_INCLUDE := $(abspath $(src)/../../include)
endif
ccflags-y += -I$(RVT_INCLUDE)

# Flags libclang does not take (GCC-only or code-generation-only); the same
# facts rust/Makefile lists in bindgen_skip_c_flags.
rvt_bindgen_skip_c_flags := -mno-fp-ret-in-387 -mpreferred-stack-boundary=% \
	-mskip-rax-setup -mgeneral-regs-only -mindirect-branch=thunk-extern \
	-mindirect-branch-register -mfunction-return=thunk-extern -mrecord-mcount \
	-mindirect-branch-cs-prefix -mstack-protector-guard% -fconserve-stack \
	-falign-jumps=% -falign-loops=% -fzero-call-used-regs=% \
	-fno-stack-clash-protection -fstrict-flex-arrays=% -fmin-function-alignment=% \
	-fzero-init-padding-bits=% --param=% --param asan-% \
	-fsanitize=bounds-strict -Wp,-MMD,%

# The kernel's parameters, less the CFI enum attributes (an unstable feature
# only the kernel's own bindings crate enables).
rvt_bindgen_params := $(shell grep -Ev '^\#|^$$|with-attribute-custom-enum' $(srctree)/rust/bindgen_parameters)

# Only what rvt uses (and what that needs) is generated.
rvt_bindgen_allow := \
	--allowlist-function 'ib_.*|_ib_.*|__ib_.*|rdma_.*|rvt_.*|register_netdevice_notifier|unregister_netdevice_notifier|register_module_notifier|unregister_module_notifier|kern_path|path_put|get_device|put_device|skb_.*|kfree_skb.*|consume_skb|__alloc_skb|dev_mc_add|dev_mc_del|vfree|remap_vmalloc_range|xa_load|xa_erase|xa_destroy|synchronize_rcu|synchronize_rcu_expedited|crc32_le|register_pernet_subsys|unregister_pernet_subsys' \
	--allowlist-type 'ib_.*|rdma_.*|rvt_.*|rxe_.*|notifier_block|netdev_notifier_info|netdev_cmd|net_device|net|module|path|mminfo|xarray|page|pernet_operations|socket|sock' \
	--allowlist-var 'IB_.*|RDMA_.*|RXE_.*|NETDEV_.*|NOTIFY_.*|MODULE_STATE_.*|LOOKUP_.*|IBK_.*|init_net|MODULE_NAME_LEN|ETH_ALEN'

quiet_cmd_rvt_bindgen = BINDGEN $@
      cmd_rvt_bindgen = \
	$(BINDGEN) $< --rust-target 1.85 --use-core --with-derive-default \
		--ctypes-prefix ffi --no-layout-tests --no-debug '.*' \
		--enable-function-attribute-detection $(rvt_bindgen_params) \
		$(rvt_bindgen_allow) -o $@ -- \
		$(filter-out $(rvt_bindgen_skip_c_flags),$(c_flags)) \
		-w --target=x86_64-linux-gnu -fno-builtin -D__BINDGEN__ -DMODULE \
		$(if $(rvt_bindgen_extra),-include $(abspath $(rvt_bindgen_extra)))

# A module may add a header of its own C glue (rvt_bindgen_extra).
$(obj)/rvt_bindings_generated.rs: $(RVT_INCLUDE)/rvt/bindings_helper.h \
		$(RVT_INCLUDE)/rvt/backend.h $(RVT_INCLUDE)/rvt/helpers.h \
		$(rvt_bindgen_extra) FORCE
	$(call if_changed,rvt_bindgen)

targets += rvt_bindings_generated.rs

# include/rvt/bindings.rs includes the generated file through this variable.
export RVT_BINDINGS_RS := $(abspath $(obj))/rvt_bindings_generated.rs
