// SPDX-License-Identifier: GPL-2.0

//! Engine glue: what drives a QP's rvt/proto engine inside the kernel (its
//! lock, timer and work item, the copies out of the user rings, memory
//! access through MRs, transmission through the backend). Knows the verbs
//! objects it is handed (verbs/), the ring ABI (uapi/) and the engine
//! (proto/). See Documentation/architecture.md, "The data path".

pub(crate) mod kwr;
pub(crate) mod lock;
pub(crate) mod mem;
pub(crate) mod qp;
pub(crate) mod skb;
pub(crate) mod timer;
pub(crate) mod work;
