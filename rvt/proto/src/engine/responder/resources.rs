//! The responder resources (IBA 9.7, 9.7.5.2): one per RDMA READ or atomic
//! request the responder has accepted and not yet forgotten, in PSN order,
//! with the cursor of the response packets still to send. A duplicate
//! request moves the cursor back to the part of a resource it asks for.

use core::ops::DerefMut;

use super::super::super::headers::Reth;
use super::super::super::opcode::Position;
use super::super::super::psn::Psn;
use super::super::ring::Ring;
use super::super::{packets, position};

/// What a READ/atomic responder resource holds.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) enum ResKind {
    /// RDMA READ of `len` bytes at `va` under `rkey`.
    Read { rkey: u32, va: u64, len: u32 },
    /// Executed atomic with its original value (replayed, never
    /// re-executed: IBA 9.4.4, 9.7).
    Atomic { orig: u64 },
}

/// A responder resource: one per outstanding READ/atomic request,
/// `max_dest_rd_atomic` of them (IBA 9.7). The element of the responder
/// resource storage the caller provides at QP creation
/// ([`super::super::Qp::new`]); its contents are the engine's (fill new
/// storage with [`ResponderResource::EMPTY`]).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct ResponderResource {
    kind: ResKind,
    /// First PSN.
    first: Psn,
    /// PSNs used (response packets of a READ; 1 for an atomic).
    npsn: u32,
    /// Path MTU the responses are cut with.
    mtu: u32,
    /// Every response packet has been sent at least once.
    done_once: bool,
}

impl ResponderResource {
    /// An unused entry, to fill responder resource storage with.
    pub const EMPTY: ResponderResource = ResponderResource {
        kind: ResKind::Atomic { orig: 0 },
        first: Psn::new(0),
        npsn: 1,
        mtu: 256,
        done_once: false,
    };

    /// The resource of an RDMA READ request at `psn` (IBA 9.4.3): its
    /// responses take one PSN per `mtu` bytes of `reth`'s DMA length.
    pub(super) fn read(psn: Psn, reth: Reth, mtu: u32) -> Self {
        ResponderResource {
            kind: ResKind::Read {
                rkey: reth.rkey,
                va: reth.va,
                len: reth.dma_len,
            },
            first: psn,
            npsn: packets(reth.dma_len, mtu),
            mtu,
            done_once: false,
        }
    }

    /// The resource of an atomic executed at `psn`, which read `orig`
    /// (IBA 9.4.4): one ATOMIC ACK.
    pub(super) fn atomic(psn: Psn, orig: u64, mtu: u32) -> Self {
        ResponderResource {
            kind: ResKind::Atomic { orig },
            first: psn,
            npsn: 1,
            mtu,
            done_once: false,
        }
    }

    /// The PSN after the last response.
    pub(super) fn end(&self) -> Psn {
        self.first.add(self.npsn)
    }

    fn contains(&self, p: Psn) -> bool {
        p.in_window(self.first, self.npsn)
    }

    /// Bytes of response payload (0 for an atomic).
    fn payload_len(&self) -> u32 {
        match self.kind {
            ResKind::Read { len, .. } => len,
            ResKind::Atomic { .. } => 0,
        }
    }

    /// The run of every response of this resource.
    fn full_run(&self) -> Run {
        Run {
            start: self.first,
            next: self.first,
            end: self.end(),
            end_byte: self.payload_len(),
        }
    }
}

/// A run of response packets of one resource: PSNs `start .. end`, the
/// last one's payload ending at byte `end_byte` of the resource. The
/// original responses are one run; a replay answers exactly the range of
/// the duplicate request (IBA 9.7.5.2, C9-105 ff.: its PSN, VA and DMA
/// length), and its first packet is a First/Only again.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) struct Run {
    start: Psn,
    /// PSN of the next packet to send.
    next: Psn,
    end: Psn,
    end_byte: u32,
}

impl Run {
    const EMPTY: Run = Run {
        start: Psn::new(0),
        next: Psn::new(0),
        end: Psn::new(0),
        end_byte: 0,
    };
}

/// One response packet to send (IBA 9.4.3, 9.4.4).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) struct Response {
    pub(super) psn: Psn,
    pub(super) body: ResponseBody,
}

/// What a [`Response`] carries.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) enum ResponseBody {
    /// An ATOMIC ACK with the original value.
    AtomicAck { orig: u64 },
    /// An RDMA READ response at `pos` of its run, whose payload is the
    /// `len` bytes at `va` under `rkey` (none for a zero-length READ).
    Read {
        pos: Position,
        rkey: u32,
        va: u64,
        len: u32,
    },
}

/// The response cursor, saved before a packet is built so that a packet
/// handed back is built again ([`Resources::restore`]).
#[derive(Copy, Clone, Debug)]
pub(super) struct Cursor {
    cur: usize,
    run: Run,
    /// `done_once` of the resource at `cur`.
    done_once: bool,
}

/// What became of a duplicate READ or atomic request (IBA 9.7.5.2).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) enum Replay {
    /// Its responses are being sent again.
    Replayed,
    /// It names no resource held (any more): nothing to answer.
    Unknown,
    /// It names a resource after the one whose responses are being sent
    /// again, and is not answered: the requester asks again after its ACK
    /// timeout. (Deferring it until the cursor got there livelocked the
    /// simulator: Documentation/reliability.md, "Open".)
    Later,
}

/// The engine's own responder state was found inconsistent (a cursor
/// outside its resource): the QP must enter Error rather than send
/// another PSN's bytes.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) struct Inconsistent;

/// The responder resources in the caller's storage `RD`, oldest first, and
/// the response cursor.
///
/// Invariant: `cur <= ring.len()`; when `cur < ring.len()`, `run` is a run
/// of `ring[cur]` (checked again before each response is built).
#[derive(Clone, Debug)]
pub(super) struct Resources<RD> {
    ring: Ring<RD>,
    /// Next resource with responses to send (index from the oldest);
    /// `ring.len()` when every response went out.
    cur: usize,
    /// The responses of `ring[cur]` being sent.
    run: Run,
}

impl<RD: DerefMut<Target = [ResponderResource]>> Resources<RD> {
    /// No resources, in `storage` (its length is the most the QP can hold).
    pub(super) const fn new(storage: RD) -> Self {
        Resources {
            ring: Ring::new(storage),
            cur: 0,
            run: Run::EMPTY,
        }
    }

    /// The number of resources the storage holds.
    pub(super) fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Forgets every resource.
    pub(super) fn clear(&mut self) {
        self.ring.clear();
        self.cur = 0;
    }

    /// READ/atomic requests whose responses are not all sent yet: the
    /// resources from the response cursor on.
    pub(super) fn owed(&self) -> u32 {
        let owed = self.ring.len().saturating_sub(self.cur);
        u32::try_from(owed).unwrap_or(u32::MAX)
    }

    /// True if a READ response with payload is still to be sent (its bytes
    /// are read only when it is transmitted).
    pub(super) fn read_payload_owed(&self) -> bool {
        let mut i = self.cur;
        while let Some(r) = self.ring.get(i) {
            if r.payload_len() > 0 {
                return true;
            }
            i = i.wrapping_add(1);
        }
        false
    }

    /// Makes room for a new resource within `limit` (`max_dest_rd_atomic`):
    /// the oldest ones are evicted once all their responses went out at
    /// least once. False if the requester exceeded the limit (IBA 9.7.5.2:
    /// NAK Invalid Request).
    pub(super) fn make_room(&mut self, limit: u8) -> bool {
        let limit = usize::from(limit).min(self.ring.capacity());
        if limit == 0 {
            return false;
        }
        while self.ring.len() >= limit {
            let Some(oldest) = self.ring.get(0) else {
                return false;
            };
            if !oldest.done_once {
                return false;
            }
            let _ = self.ring.pop();
            if self.cur > 0 {
                self.cur = self.cur.wrapping_sub(1);
            } else {
                // A replay of the evicted resource is abandoned; continue
                // with the first resource not yet sent in full.
                self.skip_sent();
            }
        }
        true
    }

    /// Moves the response cursor to the first resource not sent in full.
    fn skip_sent(&mut self) {
        self.next_unsent(0);
    }

    /// Moves the response cursor to the first resource from index `from`
    /// on that is not sent in full. After a replay, the later resources
    /// whose responses all went out are not sent again: a replay answers
    /// the duplicate request only (IBA 9.7.5.2; the requester asks again
    /// for what else it lost), and READ responses sent again unasked would
    /// read memory that later requests may have changed since (IBA 9.5).
    fn next_unsent(&mut self, from: usize) {
        let mut i = from;
        while let Some(r) = self.ring.get(i) {
            if !r.done_once {
                break;
            }
            i = i.wrapping_add(1);
        }
        self.cur = i;
        if let Some(r) = self.ring.get(i) {
            self.run = r.full_run();
        }
    }

    /// Appends a resource; the cursor moves to it if it was idle. False if
    /// the storage is full ([`Resources::make_room`] comes first).
    pub(super) fn push(&mut self, r: ResponderResource) -> bool {
        let idle = self.cur >= self.ring.len();
        if self.ring.push(r).is_err() {
            return false;
        }
        if idle {
            self.cur = self.ring.len().saturating_sub(1);
            self.run = r.full_run();
        }
        true
    }

    /// Index of the resource whose PSN range holds `psn`.
    fn find(&self, psn: Psn) -> Option<usize> {
        let mut i = 0usize;
        while let Some(r) = self.ring.get(i) {
            if r.contains(psn) {
                return Some(i);
            }
            i = i.wrapping_add(1);
        }
        None
    }

    /// A duplicate RDMA READ request at `psn` for `reth`: replayed if it
    /// names a subset of a READ in the resources (IBA 9.7.5.2: it starts
    /// at the byte of its PSN and ends within the original range; it is
    /// answered for exactly that range).
    pub(super) fn replay_read(&mut self, psn: Psn, reth: Reth) -> Replay {
        match self.read_subset(psn, reth) {
            Some((i, run)) => self.replay(i, run),
            None => Replay::Unknown,
        }
    }

    fn read_subset(&self, psn: Psn, reth: Reth) -> Option<(usize, Run)> {
        let i = self.find(psn)?;
        let r = self.ring.get(i)?;
        let ResKind::Read { rkey, va, len } = r.kind else {
            return None;
        };
        let k = u32::try_from(r.first.distance_to(psn)).ok()?;
        let skip = k.saturating_mul(r.mtu);
        let end = va.saturating_add(u64::from(len));
        let req_end = reth.va.saturating_add(u64::from(reth.dma_len));
        if reth.rkey != rkey
            || reth.va != va.wrapping_add(u64::from(skip))
            || req_end > end
            || reth.va < va
        {
            return None;
        }
        let run = Run {
            start: psn,
            next: psn,
            end: psn.add(packets(reth.dma_len, r.mtu)),
            end_byte: skip.saturating_add(reth.dma_len),
        };
        Some((i, run))
    }

    /// A duplicate atomic request at `psn`: its saved result is sent again
    /// if an atomic at exactly that PSN is in the resources (IBA 9.4.4).
    pub(super) fn replay_atomic(&mut self, psn: Psn) -> Replay {
        let Some(i) = self.find(psn) else {
            return Replay::Unknown;
        };
        let Some(r) = self.ring.get(i).copied() else {
            return Replay::Unknown;
        };
        if r.first != psn || !matches!(r.kind, ResKind::Atomic { .. }) {
            return Replay::Unknown;
        }
        self.replay(i, r.full_run())
    }

    /// Replays `run` of resource `i`: the response cursor moves back to it
    /// unless it is already at or before its start. Responses still owed
    /// from the resource the cursor is in are not given up: the run ends
    /// at the later of both ends. A resource after the cursor's waits
    /// ([`Replay::Later`]).
    fn replay(&mut self, i: usize, mut run: Run) -> Replay {
        let idle = self.cur >= self.ring.len();
        if !idle && i > self.cur {
            return Replay::Later;
        }
        if !idle && i == self.cur {
            if run.end.is_before(self.run.end) {
                run.end = self.run.end;
                run.end_byte = self.run.end_byte;
            }
            if run.start.is_before(self.run.next) {
                self.run = run;
            } else {
                self.run.end = run.end;
                self.run.end_byte = run.end_byte;
            }
        } else {
            self.cur = i;
            self.run = run;
        }
        Replay::Replayed
    }

    /// The cursor as it is now, for [`Resources::restore`].
    pub(super) fn cursor(&self) -> Cursor {
        Cursor {
            cur: self.cur,
            run: self.run,
            done_once: self.ring.get(self.cur).is_some_and(|r| r.done_once),
        }
    }

    /// Puts the cursor back to `saved`, taken before the last response
    /// was built, so that the same response is built again.
    pub(super) fn restore(&mut self, saved: Cursor) {
        if let Some(r) = self.ring.get_mut(saved.cur) {
            r.done_once = saved.done_once;
        }
        self.cur = saved.cur;
        self.run = saved.run;
    }

    /// The next response packet owed, if any, with the cursor moved past
    /// it.
    pub(super) fn next_response(&mut self) -> Result<Option<Response>, Inconsistent> {
        let Some(&r) = self.ring.get(self.cur) else {
            return Ok(None);
        };
        let run = self.run;
        // The run lies inside its resource; if not, fail rather than send
        // another PSN's bytes.
        let k = match u32::try_from(r.first.distance_to(run.next)) {
            Ok(k) if k < r.npsn => k,
            _ => return Err(Inconsistent),
        };
        let psn = r.first.add(k);
        let last = !psn.next().is_before(run.end);
        let body = match r.kind {
            ResKind::Atomic { orig } => ResponseBody::AtomicAck { orig },
            ResKind::Read { rkey, va, .. } => {
                let offset = k.saturating_mul(r.mtu);
                ResponseBody::Read {
                    pos: position(psn == run.start, last),
                    rkey,
                    va: va.wrapping_add(u64::from(offset)),
                    len: run.end_byte.saturating_sub(offset).min(r.mtu),
                }
            }
        };
        if last {
            if let Some(e) = self.ring.get_mut(self.cur) {
                e.done_once |= run.end == e.end();
            }
            self.next_unsent(self.cur.saturating_add(1));
        } else {
            self.run.next = psn.next();
        }
        Ok(Some(Response { psn, body }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;

    use super::*;

    const MTU: u32 = 1024;

    fn reth(va: u64, dma_len: u32) -> Reth {
        Reth {
            va,
            rkey: 7,
            dma_len,
        }
    }

    /// Every response the cursor yields until none is owed.
    fn drain<RD: DerefMut<Target = [ResponderResource]>>(
        res: &mut Resources<RD>,
    ) -> std::vec::Vec<Response> {
        let mut out = std::vec::Vec::new();
        while let Some(r) = res.next_response().unwrap() {
            out.push(r);
        }
        out
    }

    fn read_at(psn: u32, pos: Position, va: u64, len: u32) -> Response {
        Response {
            psn: Psn::new(psn),
            body: ResponseBody::Read {
                pos,
                rkey: 7,
                va,
                len,
            },
        }
    }

    // A 2.5-MTU READ is answered as First, Middle, Last with the bytes of
    // each PSN, and then nothing is owed.
    #[test]
    fn a_read_is_cut_into_mtu_responses() {
        let mut storage = [ResponderResource::EMPTY; 2];
        let mut res = Resources::new(&mut storage[..]);
        assert!(res.push(ResponderResource::read(
            Psn::new(10),
            reth(0x1000, 2560),
            MTU
        )));
        assert!(res.read_payload_owed());
        assert_eq!(
            drain(&mut res),
            [
                read_at(10, Position::First, 0x1000, 1024),
                read_at(11, Position::Middle, 0x1400, 1024),
                read_at(12, Position::Last, 0x1800, 512),
            ]
        );
        assert_eq!(res.owed(), 0);
        assert!(!res.read_payload_owed());
    }

    // IBA 9.7.5.2: a duplicate READ that starts at the second PSN of the
    // original and asks for less is answered for exactly its own range,
    // starting with a First again; one at a VA that does not match its PSN
    // is not replayed.
    #[test]
    fn a_duplicate_read_subset_replays_only_its_range() {
        let mut storage = [ResponderResource::EMPTY; 2];
        let mut res = Resources::new(&mut storage[..]);
        assert!(res.push(ResponderResource::read(
            Psn::new(10),
            reth(0x1000, 4096),
            MTU
        )));
        assert_eq!(drain(&mut res).len(), 4);
        assert_eq!(
            res.replay_read(Psn::new(11), reth(0x1000, 1024)),
            Replay::Unknown
        );
        assert_eq!(
            res.replay_read(Psn::new(11), reth(0x1400, 1500)),
            Replay::Replayed
        );
        assert_eq!(
            drain(&mut res),
            [
                read_at(11, Position::First, 0x1400, 1024),
                read_at(12, Position::Last, 0x1800, 476),
            ]
        );
    }

    // IBA 9.5 / 9.7.5.2: a duplicate atomic answered while every response
    // went out gets its ATOMIC ACK again and nothing else: the later READ,
    // sent in full, is not replayed unasked (its bytes may have changed).
    #[test]
    fn a_replay_does_not_resend_later_resources_sent_in_full() {
        let mut storage = [ResponderResource::EMPTY; 2];
        let mut res = Resources::new(&mut storage[..]);
        assert!(res.push(ResponderResource::atomic(Psn::new(1), 9, MTU)));
        assert!(res.push(ResponderResource::read(Psn::new(2), reth(0, 2048), MTU)));
        assert_eq!(drain(&mut res).len(), 3);
        assert_eq!(res.replay_atomic(Psn::new(1)), Replay::Replayed);
        let again = Response {
            psn: Psn::new(1),
            body: ResponseBody::AtomicAck { orig: 9 },
        };
        assert_eq!(drain(&mut res), [again]);
        assert_eq!(res.owed(), 0);
    }

    // Go-back-N re-sends every request after a loss: of duplicates of two
    // READs sent in full, the second arriving while the first is being
    // replayed is not answered then (nor later unasked); asked again once
    // the cursor is idle, it is.
    #[test]
    fn a_duplicate_after_the_cursor_is_answered_when_asked_again() {
        let mut storage = [ResponderResource::EMPTY; 2];
        let mut res = Resources::new(&mut storage[..]);
        assert!(res.push(ResponderResource::read(Psn::new(1), reth(0, 2048), MTU)));
        assert!(res.push(ResponderResource::read(Psn::new(3), reth(4096, 1024), MTU)));
        assert_eq!(drain(&mut res).len(), 3);
        assert_eq!(
            res.replay_read(Psn::new(1), reth(0, 2048)),
            Replay::Replayed
        );
        assert_eq!(
            res.replay_read(Psn::new(3), reth(4096, 1024)),
            Replay::Later
        );
        let psns: std::vec::Vec<u32> = drain(&mut res).iter().map(|r| r.psn.value()).collect();
        assert_eq!(psns, [1, 2], "the first READ again, not the second unasked");
        assert_eq!(
            res.replay_read(Psn::new(3), reth(4096, 1024)),
            Replay::Replayed
        );
        assert_eq!(drain(&mut res), [read_at(3, Position::Only, 4096, 1024)]);
    }

    // A resource is evicted only once all its responses went out: until
    // then a request beyond max_dest_rd_atomic finds no room.
    #[test]
    fn room_is_made_only_from_resources_sent_in_full() {
        let mut storage = [ResponderResource::EMPTY; 2];
        let mut res = Resources::new(&mut storage[..]);
        assert!(res.make_room(2));
        assert!(res.push(ResponderResource::atomic(Psn::new(1), 5, MTU)));
        assert!(res.make_room(2));
        assert!(res.push(ResponderResource::read(Psn::new(2), reth(0, 2048), MTU)));
        assert!(!res.make_room(2));
        assert!(res.next_response().unwrap().is_some());
        assert!(res.make_room(2), "the sent atomic is evicted");
        assert!(res.push(ResponderResource::atomic(Psn::new(4), 6, MTU)));
        assert!(!res.make_room(2), "the READ's responses are still owed");
        assert!(!res.make_room(0));
        assert_eq!(drain(&mut res).len(), 3);
        assert!(res.make_room(2));
    }

    // A duplicate atomic gets its saved result again, and only at its own
    // PSN; an older one, evicted, is not replayed.
    #[test]
    fn a_duplicate_atomic_replays_its_saved_result() {
        let mut storage = [ResponderResource::EMPTY; 1];
        let mut res = Resources::new(&mut storage[..]);
        assert!(res.push(ResponderResource::atomic(Psn::new(3), 42, MTU)));
        assert_eq!(drain(&mut res).len(), 1);
        assert_eq!(res.replay_atomic(Psn::new(3)), Replay::Replayed);
        let again = Response {
            psn: Psn::new(3),
            body: ResponseBody::AtomicAck { orig: 42 },
        };
        assert_eq!(drain(&mut res), [again]);
        assert!(res.make_room(1));
        assert!(res.push(ResponderResource::atomic(Psn::new(4), 43, MTU)));
        assert_eq!(res.replay_atomic(Psn::new(3)), Replay::Unknown);
        assert_eq!(res.replay_read(Psn::new(4), reth(0, 0)), Replay::Unknown);
    }

    // A replay of an earlier resource while a later one is being sent moves
    // the cursor back; the later responses follow again afterwards.
    #[test]
    fn a_replay_moves_the_cursor_back_and_keeps_later_responses_owed() {
        let mut storage = [ResponderResource::EMPTY; 2];
        let mut res = Resources::new(&mut storage[..]);
        assert!(res.push(ResponderResource::atomic(Psn::new(1), 9, MTU)));
        assert!(res.push(ResponderResource::read(Psn::new(2), reth(0, 2048), MTU)));
        assert_eq!(res.next_response().unwrap().unwrap().psn, Psn::new(1));
        assert_eq!(res.next_response().unwrap().unwrap().psn, Psn::new(2));
        assert_eq!(res.replay_atomic(Psn::new(1)), Replay::Replayed);
        let psns: std::vec::Vec<u32> = drain(&mut res).iter().map(|r| r.psn.value()).collect();
        assert_eq!(psns, [1, 2, 3]);
    }

    // A response handed back is built again from the saved cursor, and the
    // resource is not counted as sent in full by the packet that was not
    // sent.
    #[test]
    fn restoring_the_cursor_builds_the_same_response_again() {
        let mut storage = [ResponderResource::EMPTY; 1];
        let mut res = Resources::new(&mut storage[..]);
        assert!(res.push(ResponderResource::atomic(Psn::new(8), 1, MTU)));
        let saved = res.cursor();
        let first = res.next_response().unwrap();
        res.restore(saved);
        assert!(!res.make_room(1), "not sent in full after the hand-back");
        assert_eq!(res.next_response().unwrap(), first);
    }

    // An impossible state (the response cursor outside the READ resource it
    // points at) stops the responder with an internal error that moves the
    // QP to Error; it is not clamped to the READ's first response and sent,
    // and nothing is sent after it.
    #[test]
    fn response_cursor_outside_its_resource_is_an_error() {
        use super::super::super::io::{rts_rc_attrs, MAX_HEADER_LEN};
        use super::super::super::verdict::DropReason;
        use super::super::{Fatal, Responder};

        let attrs = rts_rc_attrs();
        let mut storage = [ResponderResource::EMPTY; 1];
        let mut resp = Responder::new(&mut storage[..]);
        assert!(resp
            .res
            .push(ResponderResource::read(Psn::new(5), reth(0, 4096), MTU)));
        let mut buf = [0u8; MAX_HEADER_LEN];
        assert!(resp.poll(&attrs, 0, &mut buf).unwrap().is_some());
        resp.res.run.next = Psn::new(100);
        assert_eq!(
            resp.poll(&attrs, 0, &mut buf),
            Err(Fatal(DropReason::Internal))
        );
        assert_eq!(resp.poll(&attrs, 0, &mut buf), Ok(None));
    }
}
