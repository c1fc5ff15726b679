// SPDX-License-Identifier: GPL-2.0

//! The user ABI of rdma-core's rxe provider (include/uapi/rdma/rdma_user_rxe.h):
//! ring buffers shared with user space, and the driver data of the verbs
//! that have some. User-mapped memory is hostile: every index is read once,
//! masked with the kernel's own copy of the ring size, and every entry the
//! kernel consumes is copied out before it is looked at.

pub(crate) mod queue;
pub(crate) mod wqe;
