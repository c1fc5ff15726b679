// SPDX-License-Identifier: GPL-2.0

//! UD multicast (IBA 10.5, 11.3.1): the QPs attached to each multicast
//! group of a device, which every datagram to that MGID and the multicast
//! QPN reaches.
//!
//! ib_core counts an attachment in the QP's `usecnt`, so a QP cannot be
//! destroyed while attached: an attached QP is alive. The receive path
//! copies a group's members out under the table's lock and delivers after
//! dropping it, inside its RCU read-side critical section; a QP detached
//! meanwhile is still not freed before that section ends (its destroy
//! waits for a grace period when it leaves the QPN table).

use kernel::prelude::*;

use crate::{
    bindings as b,
    ib::IbObject,
    transport::lock::{new_spinlock_bh, SpinLockBh},
    verbs::qp::Qp,
};

/// Multicast groups a device's QPs may join (`max_mcast_grp`).
pub(crate) const MAX_MCAST_GRP: u32 = 256;
/// QPs per group (`max_mcast_qp_attach`).
pub(crate) const MAX_MCAST_QP_ATTACH: usize = 16;
/// Attachments per device (`max_total_mcast_qp_attach`).
pub(crate) const MAX_TOTAL_MCAST_QP_ATTACH: usize = 1024;

/// A QP of a device, for the receive path.
pub(crate) type QpRef = *const IbObject<b::ib_qp, Qp>;

/// One QP attached to one group.
#[derive(Clone, Copy)]
struct Attachment {
    mgid: [u8; 16],
    qp: QpRef,
}

// SAFETY: `qp` is a value compared and handed to the receive path, which
// dereferences it under the rules of the module documentation.
unsafe impl Send for Attachment {}

/// The attachments of a device.
#[pin_data]
pub(crate) struct McastTable {
    #[pin]
    slots: SpinLockBh<KVVec<Option<Attachment>>>,
}

impl McastTable {
    pub(crate) fn new() -> Result<impl PinInit<Self>> {
        let slots = KVVec::from_elem(None, MAX_TOTAL_MCAST_QP_ATTACH, GFP_KERNEL)?;
        Ok(pin_init!(Self {
            slots <- new_spinlock_bh!(slots, "rvt_mcast"),
        }))
    }

    /// Attaches `qp` to `mgid`; true if it is the group's first QP (the
    /// backend then joins the group). Attaching twice is accepted. `ENOMEM`
    /// beyond the device's limits.
    pub(crate) fn attach(&self, mgid: [u8; 16], qp: QpRef) -> Result<bool> {
        let mut slots = self.slots.lock();
        let mut members = 0;
        let mut groups = 0u32;
        let mut free = None;
        for (i, slot) in slots.iter().enumerate() {
            match slot {
                Some(a) if a.mgid == mgid && a.qp == qp => return Ok(false),
                Some(a) if a.mgid == mgid => members += 1,
                Some(_) => {}
                None => {
                    if free.is_none() {
                        free = Some(i);
                    }
                }
            }
        }
        if members == 0 {
            // Distinct groups: count the first attachment of each.
            for (i, slot) in slots.iter().enumerate() {
                if let Some(a) = slot {
                    if !slots.iter().take(i).flatten().any(|o| o.mgid == a.mgid) {
                        groups += 1;
                    }
                }
            }
            if groups >= MAX_MCAST_GRP {
                return Err(ENOMEM);
            }
        }
        if members >= MAX_MCAST_QP_ATTACH {
            return Err(ENOMEM);
        }
        let slot = free.and_then(|i| slots.get_mut(i)).ok_or(ENOMEM)?;
        *slot = Some(Attachment { mgid, qp });
        Ok(members == 0)
    }

    /// Detaches `qp` from `mgid`; true if the group has no QP left (the
    /// backend then leaves it). `EINVAL` if it was not attached.
    pub(crate) fn detach(&self, mgid: [u8; 16], qp: QpRef) -> Result<bool> {
        let mut slots = self.slots.lock();
        let found = slots
            .iter_mut()
            .find(|slot| slot.is_some_and(|a| a.mgid == mgid && a.qp == qp))
            .ok_or(EINVAL)?;
        *found = None;
        Ok(!slots.iter().flatten().any(|a| a.mgid == mgid))
    }

    /// The QPs attached to `mgid`, into `out`; how many.
    pub(crate) fn members(&self, mgid: &[u8; 16], out: &mut [QpRef; MAX_MCAST_QP_ATTACH]) -> usize {
        let slots = self.slots.lock();
        let mut n = 0;
        for a in slots.iter().flatten() {
            if a.mgid == *mgid {
                if let Some(o) = out.get_mut(n) {
                    *o = a.qp;
                    n += 1;
                }
            }
        }
        n
    }
}

/// The destination GID of a RoCEv2 datagram, from its UD GRH slot (IBA
/// annex A17: an IPv4 header in the last 20 bytes, as an IPv4-mapped
/// address, or the IPv6 header).
pub(crate) fn destination_gid(grh: &[u8; 40]) -> [u8; 16] {
    let mut gid = [0u8; 16];
    if grh[..20].iter().all(|&byte| byte == 0) && grh[20] >> 4 == 4 {
        gid[10] = 0xff;
        gid[11] = 0xff;
        gid[12..].copy_from_slice(&grh[36..40]);
    } else {
        gid.copy_from_slice(&grh[24..40]);
    }
    gid
}
