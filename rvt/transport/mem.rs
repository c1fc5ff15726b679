// SPDX-License-Identifier: GPL-2.0

//! A QP's memory for the engine: its receive WQEs taken from the RQ ring,
//! the scatter/gather lists and inline data of the WQEs it holds, and MR
//! lookups by key for every byte the data path reads or writes.
//!
//! Keys are looked up in the device's key table under the caller's RCU
//! read-side critical section, for every access: an MR deregistered since
//! the WQE was posted is simply not found (deregistration waits for a grace
//! period before it unpins the pages), so no access ever reaches memory an
//! MR no longer pins. A user QP names no memory with key 0 (the kernel's
//! `local_dma_lkey` is never in the table), and every key must belong to
//! the QP's PD (IBA 10.6.3.1).

use core::ops::Range;

use kernel::{prelude::*, sync::rcu};

use crate::{
    bindings as b,
    proto::engine::{
        AtomicOp, MemError, Memory, Payload, Placement, RecvQueue, RecvWqe, RemoteAccess,
        Selectivity,
    },
    uapi::{
        queue::UserQueue,
        wqe::{self, Data, RecvHeader, RECV_WQE_HEADER, SGE_LEN},
    },
    verbs::{
        mr::{MrFault, MrKeys, RemoteRef},
        srq::Srq,
    },
};

/// The SGE arrays or inline data of the send WQEs the engine holds, by
/// engine slot, copied from the ring when the WQE was posted.
pub(crate) struct SendSlots {
    data: KVVec<u8>,
    kind: KVVec<Data>,
    stride: usize,
}

impl SendSlots {
    /// Room for `slots` WQEs of up to `stride` payload bytes each.
    pub(crate) fn new(slots: usize, stride: usize) -> Result<Self> {
        Ok(Self {
            data: KVVec::from_elem(0u8, slots * stride, GFP_KERNEL)?,
            kind: KVVec::from_elem(Data::Sges(0), slots, GFP_KERNEL)?,
            stride,
        })
    }

    /// Keeps the payload copy of the WQE now in `slot`.
    pub(crate) fn store(&mut self, slot: u32, kind: Data, payload: &[u8]) {
        let at = slot as usize * self.stride;
        let len = self.stride.min(payload.len());
        if let (Some(dst), Some(src), Some(k)) = (
            self.data.get_mut(at..at + len),
            payload.get(..len),
            self.kind.get_mut(slot as usize),
        ) {
            dst.copy_from_slice(src);
            *k = kind;
        }
    }

    /// How many WQEs there is room for.
    pub(crate) fn slots(&self) -> usize {
        self.kind.len()
    }

    fn get(&self, slot: u32) -> Option<(Data, &[u8])> {
        let at = slot as usize * self.stride;
        Some((
            *self.kind.get(slot as usize)?,
            self.data.get(at..at + self.stride)?,
        ))
    }
}

/// The SGE arrays of the receive WQEs taken from the RQ ring, by ring
/// index, with their validated SGE counts.
pub(crate) struct RecvSlots {
    sges: KVVec<u8>,
    num_sge: KVVec<u32>,
    max_sge: u32,
}

impl RecvSlots {
    /// Room for `slots` ring indices of WQEs with up to `max_sge` SGEs.
    pub(crate) fn new(slots: usize, max_sge: u32) -> Result<Self> {
        Ok(Self {
            sges: KVVec::from_elem(0u8, slots * max_sge as usize * SGE_LEN, GFP_KERNEL)?,
            num_sge: KVVec::from_elem(0u32, slots, GFP_KERNEL)?,
            max_sge,
        })
    }

    fn stride(&self) -> usize {
        self.max_sge as usize * SGE_LEN
    }

    /// Copies the WQE at index `index` of `ring` (the QP's RQ or its SRQ)
    /// into slot `slot`: its work request id and capacity. A WQE with more
    /// SGEs than allowed, or whose lengths overflow, is kept with none (it
    /// can only take an empty message; anything else completes with a
    /// length error).
    pub(crate) fn take(&mut self, ring: &UserQueue, index: u32, slot: u32) -> (u64, u32) {
        let mut head = [0u8; RECV_WQE_HEADER];
        ring.read_slot(index, 0, &mut head);
        let header = RecvHeader::parse(&head);
        let stride = self.stride();
        let at = slot as usize * stride;
        let Some(sges) = self.sges.get_mut(at..at + stride) else {
            return (header.wr_id, 0);
        };
        ring.read_slot(index, RECV_WQE_HEADER, sges);
        let (num, len) = match wqe::recv_len(sges, header.num_sge, self.max_sge) {
            Some(len) => (header.num_sge, len),
            None => (0, 0),
        };
        if let Some(n) = self.num_sge.get_mut(slot as usize) {
            *n = num;
        }
        (header.wr_id, len)
    }

    /// Keeps a kernel receive work request's SGE list (`num_sge` SGEs in
    /// the rxe layout, checked against the QP's limit when posted) in slot
    /// `slot`; `None` if the slot or list is out of range.
    pub(crate) fn store_bytes(&mut self, slot: usize, sges: &[u8], num_sge: u32) -> Option<()> {
        let stride = self.stride();
        let at = slot * stride;
        let dst = self.sges.get_mut(at..at + stride)?;
        let len = (num_sge as usize * SGE_LEN).min(stride);
        dst.get_mut(..len)?.copy_from_slice(sges.get(..len)?);
        *self.num_sge.get_mut(slot)? = num_sge.min(self.max_sge);
        Some(())
    }

    /// Keeps a kernel work request's SGE list in slot `slot`; its capacity,
    /// or `None` if the lengths overflow or the list does not fit.
    pub(crate) fn store_sges(&mut self, slot: usize, sges: &[b::ib_sge]) -> Option<u32> {
        let stride = self.stride();
        let at = slot * stride;
        let len = wqe::write_sges(self.sges.get_mut(at..at + stride)?, sges)?;
        *self.num_sge.get_mut(slot)? = u32::try_from(sges.len()).ok()?;
        Some(len)
    }

    /// Copies slot `from` of `src` (WQEs of the same SGE limit or fewer)
    /// into slot `slot`.
    pub(crate) fn copy_from(&mut self, slot: u32, src: &RecvSlots, from: usize) -> Option<()> {
        let (sges, num) = src.get(u32::try_from(from).ok()?)?;
        self.store_bytes(slot as usize, sges, num)
    }

    /// The work request id of the WQE at ring index `index` (to flush it).
    pub(crate) fn wr_id_of(&self, rq: &UserQueue, index: u32) -> u64 {
        let mut head = [0u8; RECV_WQE_HEADER];
        rq.read_slot(index, 0, &mut head);
        RecvHeader::parse(&head).wr_id
    }

    fn get(&self, index: u32) -> Option<(&[u8], u32)> {
        let stride = self.stride();
        let at = index as usize * stride;
        Some((
            self.sges.get(at..at + stride)?,
            *self.num_sge.get(index as usize)?,
        ))
    }
}

/// A kernel QP's receive queue: the work requests posted and not yet
/// taken, oldest first, in slots `head..head + count` (wrapping) of
/// `wr_id`/`len` and of the QP's receive slots.
pub(crate) struct KernelRq {
    wr_id: KVVec<u64>,
    len: KVVec<u32>,
    head: usize,
    count: usize,
}

impl KernelRq {
    pub(crate) fn new(depth: usize) -> Result<Self> {
        Ok(Self {
            wr_id: KVVec::from_elem(0, depth, GFP_KERNEL)?,
            len: KVVec::from_elem(0, depth, GFP_KERNEL)?,
            head: 0,
            count: 0,
        })
    }

    /// How many work requests it holds at most.
    pub(crate) fn depth(&self) -> usize {
        self.wr_id.len()
    }

    /// The slot the next posted WQE goes to, if there is room.
    pub(crate) fn tail(&self) -> Option<usize> {
        let depth = self.depth();
        (self.count < depth).then(|| (self.head + self.count) % depth)
    }

    pub(crate) fn push(&mut self, slot: usize, wr_id: u64, len: u32) {
        if let (Some(w), Some(l)) = (self.wr_id.get_mut(slot), self.len.get_mut(slot)) {
            *w = wr_id;
            *l = len;
            self.count += 1;
        }
    }

    /// The oldest WQE: its slot, work request id and capacity.
    pub(crate) fn pop(&mut self) -> Option<(u32, u64, u32)> {
        if self.count == 0 {
            return None;
        }
        let slot = self.head;
        let taken = (slot as u32, *self.wr_id.get(slot)?, *self.len.get(slot)?);
        self.head = (self.head + 1) % self.wr_id.len();
        self.count -= 1;
        Some(taken)
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.count = 0;
    }
}

/// Walks `len` bytes from byte `offset` of the message an SGE array
/// describes, calling `f(sge, address, range)` for each piece (`range`:
/// the piece's bytes within the `len`). Fails if the SGEs hold fewer bytes.
fn walk(
    sges: &[u8],
    num_sge: u32,
    offset: u32,
    len: usize,
    mut f: impl FnMut(&wqe::Sge, u64, Range<usize>) -> Result<(), MrFault>,
) -> Result<(), MrFault> {
    let mut skip = u64::from(offset);
    let mut done = 0usize;
    for i in 0..num_sge as usize {
        if done == len {
            break;
        }
        let sge = wqe::sge(sges, i);
        let length = u64::from(sge.length);
        if skip >= length {
            skip -= length;
            continue;
        }
        let piece = usize::try_from(length - skip)
            .map_err(|_| MrFault)?
            .min(len - done);
        let addr = sge.addr.checked_add(skip).ok_or(MrFault)?;
        f(&sge, addr, done..done + piece)?;
        done += piece;
        skip = 0;
    }
    if done == len {
        Ok(())
    } else {
        Err(MrFault)
    }
}

/// What an SGE's key names: for a kernel QP, key 0 (the device's
/// `local_dma_lkey`) is kernel memory at the SGE's address, which the
/// kernel consumer owns (rvt is a virtual-DMA device: `ib_dma_map_*` give
/// kernel virtual addresses); any other key, and every key of a user QP,
/// names an MR.
fn kernel_memory(acc: &Accessor<'_>, sge: &wqe::Sge) -> bool {
    acc.kernel && sge.lkey == 0
}

/// Who reaches memory by key: QP `qpn` of PD `pd` (a kernel QP: its key 0
/// names kernel memory), through the device's keys, during one RCU
/// read-side critical section.
#[derive(Clone, Copy)]
pub(crate) struct Accessor<'a> {
    pub(crate) keys: &'a MrKeys,
    pub(crate) rcu: &'a rcu::Guard,
    pub(crate) pd: *mut b::ib_pd,
    pub(crate) kernel: bool,
    pub(crate) qpn: u32,
}

impl<'a> Accessor<'a> {
    /// What the R_Key `rkey` names for this QP.
    fn remote(&self, rkey: u32) -> Option<RemoteRef<'a>> {
        self.keys.lookup_remote(rkey, self.qpn, self.rcu)
    }
}

/// Writes `data` at byte `offset` of the local buffer an SGE array
/// describes (which needs local write access).
fn scatter(
    acc: &Accessor<'_>,
    sges: &[u8],
    num_sge: u32,
    offset: u32,
    data: &[u8],
) -> Result<(), MrFault> {
    walk(sges, num_sge, offset, data.len(), |sge, addr, range| {
        let piece = data.get(range).ok_or(MrFault)?;
        if kernel_memory(acc, sge) {
            // SAFETY: Kernel memory the consumer handed over with the WQE
            // (`kernel_memory`), `piece.len()` bytes inside the SGE.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    piece.as_ptr(),
                    addr as usize as *mut u8,
                    piece.len(),
                )
            };
            return Ok(());
        }
        let mr = acc.keys.lookup(sge.lkey, acc.rcu).ok_or(MrFault)?;
        mr.copy_in(
            acc.pd,
            addr,
            piece,
            b::ib_access_flags_IB_ACCESS_LOCAL_WRITE,
        )
    })
}

/// Reads `out.len()` bytes from byte `offset` of the local buffer an SGE
/// array describes (local read access is always granted).
fn gather(
    acc: &Accessor<'_>,
    sges: &[u8],
    num_sge: u32,
    offset: u32,
    out: &mut [u8],
) -> Result<(), MrFault> {
    let len = out.len();
    walk(sges, num_sge, offset, len, |sge, addr, range| {
        let piece = out.get_mut(range).ok_or(MrFault)?;
        if kernel_memory(acc, sge) {
            // SAFETY: As in `scatter`.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    addr as usize as *const u8,
                    piece.as_mut_ptr(),
                    piece.len(),
                )
            };
            return Ok(());
        }
        let mr = acc.keys.lookup(sge.lkey, acc.rcu).ok_or(MrFault)?;
        mr.copy_out(acc.pd, addr, piece, 0)
    })
}

/// Copies the payload of a packet to transmit into `out`: from the send
/// WQE's inline data or SGEs, or (an RDMA READ response) from the region
/// of an R_Key, looked up again.
pub(crate) fn copy_payload(
    acc: &Accessor<'_>,
    sends: &SendSlots,
    payload: &Payload,
    out: &mut [u8],
) -> Result<(), MrFault> {
    match *payload {
        Payload::None => Ok(()),
        Payload::Local { slot, offset, len } => match sends.get(slot).ok_or(MrFault)? {
            (Data::Inline(total), bytes) => {
                let end = offset
                    .checked_add(len)
                    .filter(|&end| end <= total)
                    .ok_or(MrFault)?;
                let src = bytes.get(offset as usize..end as usize).ok_or(MrFault)?;
                out.get_mut(..src.len())
                    .ok_or(MrFault)?
                    .copy_from_slice(src);
                Ok(())
            }
            (Data::Sges(num), sges) => gather(acc, sges, num, offset, out),
        },
        Payload::Remote { rkey, va, len } => {
            if out.len() != len as usize {
                return Err(MrFault);
            }
            let region = acc.remote(rkey).ok_or(MrFault)?;
            region.copy_out(acc.pd, va, out, b::ib_access_flags_IB_ACCESS_REMOTE_READ)
        }
    }
}

/// The MR right a remote access needs.
fn right(access: RemoteAccess) -> u32 {
    match access {
        RemoteAccess::Read => b::ib_access_flags_IB_ACCESS_REMOTE_READ,
        RemoteAccess::Write => b::ib_access_flags_IB_ACCESS_REMOTE_WRITE,
        RemoteAccess::Atomic => b::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC,
    }
}

/// Where a QP's receive WQEs come from.
pub(crate) enum RecvSource<'a> {
    /// Its own receive ring, and the index of the next WQE to take there.
    Rq {
        ring: &'a UserQueue,
        next: &'a mut u32,
    },
    /// A kernel QP's posted receive work requests.
    Kernel { rq: &'a mut KernelRq },
    /// A shared receive queue (slot 0 of the QP's receive slots holds the
    /// one WQE taken: the engine holds at most one at a time); set
    /// `limit_reached` when a take fired its limit.
    Srq {
        srq: &'a Srq,
        limit_reached: &'a mut bool,
    },
}

/// The engine's [`Memory`] and [`RecvQueue`] for one locked section of a QP.
pub(crate) struct QpMem<'a> {
    acc: Accessor<'a>,
    sends: &'a SendSlots,
    recvs: &'a mut RecvSlots,
    source: RecvSource<'a>,
    /// Receive WQEs that may still be taken: as many as held completions
    /// could be kept if the receive CQ is full.
    room: usize,
}

impl<'a> QpMem<'a> {
    pub(crate) fn new(
        acc: Accessor<'a>,
        sends: &'a SendSlots,
        recvs: &'a mut RecvSlots,
        source: RecvSource<'a>,
        room: usize,
    ) -> Self {
        Self {
            acc,
            sends,
            recvs,
            source,
            room,
        }
    }

    fn region(&self, rkey: u32) -> Result<RemoteRef<'a>, MemError> {
        self.acc.remote(rkey).ok_or(MemError::Access)
    }

    /// Runs `op` on the 8 aligned bytes at `va` of the region `rkey` names,
    /// if it grants `right` there.
    fn word<R>(
        &self,
        rkey: u32,
        va: u64,
        right: u32,
        op: impl FnOnce(*mut b::page, usize) -> R,
    ) -> Result<R, MemError> {
        self.region(rkey)?
            .with_word(self.acc.pd, va, right, op)
            .map_err(|_| MemError::Access)
    }
}

impl Memory for QpMem<'_> {
    fn check_remote(
        &mut self,
        rkey: u32,
        va: u64,
        len: u32,
        access: RemoteAccess,
    ) -> Result<(), MemError> {
        self.region(rkey)?
            .check(self.acc.pd, va, len, right(access))
            .map_err(|_| MemError::Access)
    }

    fn write_remote(&mut self, rkey: u32, va: u64, data: &[u8]) -> Result<(), MemError> {
        self.region(rkey)?
            .copy_in(
                self.acc.pd,
                va,
                data,
                b::ib_access_flags_IB_ACCESS_REMOTE_WRITE,
            )
            .map_err(|_| MemError::Access)
    }

    fn atomic(&mut self, rkey: u32, va: u64, op: AtomicOp) -> Result<u64, MemError> {
        let right = b::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC;
        // SAFETY: 8 aligned bytes inside a page the MR maps, which it keeps
        // mapped while `word` runs the operation (the RCU read-side critical
        // section, and a fast MR's registration held).
        self.word(rkey, va, right, |page, offset| unsafe {
            match op {
                AtomicOp::CompareSwap { compare, swap } => {
                    b::rvt_helper_page_cmpxchg(page, offset, compare, swap)
                }
                AtomicOp::FetchAdd { add } => b::rvt_helper_page_fetch_add(page, offset, add),
            }
        })
    }

    fn atomic_write(&mut self, rkey: u32, va: u64, value: [u8; 8]) -> Result<(), MemError> {
        let right = b::ib_access_flags_IB_ACCESS_REMOTE_WRITE;
        // SAFETY: As for `atomic`. The bytes land in memory in wire order.
        self.word(rkey, va, right, |page, offset| unsafe {
            b::rvt_helper_page_store64(page, offset, u64::from_ne_bytes(value))
        })
    }

    fn flush(
        &mut self,
        rkey: u32,
        va: u64,
        len: u32,
        selectivity: Selectivity,
        placement: Placement,
    ) -> Result<(), MemError> {
        let mut rights = 0;
        if placement.contains(Placement::GLOBAL) {
            rights |= b::ib_access_flags_IB_ACCESS_FLUSH_GLOBAL;
        }
        if placement.contains(Placement::PERSISTENT) {
            rights |= b::ib_access_flags_IB_ACCESS_FLUSH_PERSISTENT;
        }
        let mr = self.region(rkey)?;
        let checked = match selectivity {
            Selectivity::Range => mr.check(self.acc.pd, va, len, rights),
            Selectivity::Region => mr.check_rights(self.acc.pd, rights),
        };
        checked.map_err(|_| MemError::Access)?;
        // Every byte placed so far went through the CPU: a full barrier
        // makes it visible to every later access.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn invalidate(&mut self, rkey: u32) -> Result<(), MemError> {
        // IBA 9.4.1.1: SEND with Invalidate names a fast-registration MR of
        // the QP's PD by its current key; anything else is an invalid
        // request (the engine NAKs it).
        self.acc
            .keys
            .invalidate(self.acc.pd, self.acc.qpn, rkey, true, self.acc.rcu)
            .map_err(|_| MemError::Access)
    }

    fn write_recv(&mut self, slot: u32, offset: u32, data: &[u8]) -> Result<(), MemError> {
        let (sges, num) = self.recvs.get(slot).ok_or(MemError::Local)?;
        scatter(&self.acc, sges, num, offset, data).map_err(|_| MemError::Local)
    }

    fn write_send(&mut self, slot: u32, offset: u32, data: &[u8]) -> Result<(), MemError> {
        match self.sends.get(slot).ok_or(MemError::Local)? {
            (Data::Sges(num), sges) => {
                scatter(&self.acc, sges, num, offset, data).map_err(|_| MemError::Local)
            }
            (Data::Inline(_), _) => Err(MemError::Local),
        }
    }
}

impl RecvQueue for QpMem<'_> {
    fn take_recv(&mut self) -> Option<RecvWqe> {
        if self.room == 0 {
            return None;
        }
        let recvs = &mut *self.recvs;
        let wqe = match &mut self.source {
            RecvSource::Rq { ring, next } => {
                if **next == ring.producer() {
                    return None;
                }
                let index = **next;
                let (wr_id, len) = recvs.take(ring, index, index);
                // Copied: the ring slot is user space's again.
                **next = ring.next(index);
                ring.publish_consumer(**next);
                RecvWqe {
                    wr_id,
                    slot: index,
                    len,
                }
            }
            RecvSource::Kernel { rq } => {
                let (slot, wr_id, len) = rq.pop()?;
                RecvWqe { wr_id, slot, len }
            }
            RecvSource::Srq { srq, limit_reached } => {
                let taken = srq.take(recvs, 0)?;
                **limit_reached |= taken.limit_reached;
                RecvWqe {
                    wr_id: taken.wr_id,
                    slot: 0,
                    len: taken.len,
                }
            }
        };
        self.room -= 1;
        Some(wqe)
    }

    fn available(&self) -> Option<u32> {
        match &self.source {
            RecvSource::Rq { ring, next } => {
                let posted = ring.count(ring.producer(), **next);
                Some(posted.min(u32::try_from(self.room).unwrap_or(u32::MAX)))
            }
            RecvSource::Kernel { rq } => u32::try_from(rq.len().min(self.room)).ok(),
            // IBA 9.7.7.2: an SRQ's QPs advertise no credits.
            RecvSource::Srq { .. } => None,
        }
    }
}
