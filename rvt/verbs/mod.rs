// SPDX-License-Identifier: GPL-2.0

//! The verbs objects of an rvt device, one file per object kind
//! (DESIGN.md section 2: `verbs/` knows `ib/` and `transport/`).

pub(crate) mod ah;
pub(crate) mod counters;
pub(crate) mod cq;
pub(crate) mod mcast;
pub(crate) mod mr;
pub(crate) mod mw;
pub(crate) mod pd;
pub(crate) mod qp;
pub(crate) mod quota;
pub(crate) mod srq;
pub(crate) mod table;
pub(crate) mod ucontext;
