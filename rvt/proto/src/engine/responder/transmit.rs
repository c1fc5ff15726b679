//! Transmit: READ responses and ATOMIC ACKs first (in PSN order), then an
//! owed NAK, or else an owed ACK; and undoing a packet the caller hands
//! back.

use core::ops::DerefMut;

use super::super::super::headers::{Aeth, AtomicAckEth, Bth};
use super::super::super::opcode::{Opcode, Position};
use super::super::super::packet::{pad_count, PacketHeaders};
use super::super::attr::{QpAttrs, QpState, QpType};
use super::super::io::{Payload, Transmit, MAX_HEADER_LEN};
use super::super::verdict::DropReason;
use super::resources::{Inconsistent, ResponseBody};
use super::{Fatal, NakState, Responder, ResponderResource, TxUndo};

impl<RD: DerefMut<Target = [ResponderResource]>> Responder<RD> {
    /// Builds the next response / ACK / NAK packet, if any.
    pub(in super::super) fn poll(
        &mut self,
        attrs: &QpAttrs,
        now: u64,
        buf: &mut [u8; MAX_HEADER_LEN],
    ) -> Result<Option<Transmit>, Fatal> {
        if attrs.qp_type != QpType::Rc {
            return Ok(None);
        }
        let live = matches!(
            attrs.state,
            QpState::Rtr | QpState::Rts | QpState::Sqd | QpState::Sqe
        );
        if !live && !self.nak.is_fatal() {
            return Ok(None);
        }
        let undo = TxUndo {
            ack: self.ack,
            nak: self.nak,
            cursor: self.res.cursor(),
            advertised: self.advertised,
        };
        let t = self.build_next(attrs, live, now, buf)?;
        if t.is_some() {
            self.pending = Some(undo);
        }
        Ok(t)
    }

    /// The caller took the last packet.
    pub(in super::super) fn taken(&mut self) {
        self.pending = None;
    }

    /// The caller could not send the last packet: the responder goes back
    /// to where it was before building it, so the next poll builds the same
    /// packet.
    pub(in super::super) fn hand_back(&mut self) {
        let Some(u) = self.pending.take() else {
            return;
        };
        self.res.restore(u.cursor);
        self.ack = u.ack;
        self.nak = u.nak;
        self.advertised = u.advertised;
    }

    /// Builds the next response, NAK or ACK: responses owed go first.
    fn build_next(
        &mut self,
        attrs: &QpAttrs,
        live: bool,
        now: u64,
        buf: &mut [u8; MAX_HEADER_LEN],
    ) -> Result<Option<Transmit>, Fatal> {
        if let Some(t) = self.poll_response(attrs, buf)? {
            return Ok(Some(t));
        }
        let mut bth = Bth::new(Opcode::RcAcknowledge, attrs.dest_qpn, self.epsn.sub(1));
        bth.pkey = attrs.pkey;
        let mut hdr = PacketHeaders::new(bth);
        if let Some(nak) = self.nak.take_owed() {
            hdr.bth.psn = nak.psn;
            hdr.aeth = Some(Aeth {
                syndrome: nak.syndrome,
                msn: self.msn.value(),
            });
        } else if live && self.ack.due(now) {
            // IBA 9.7.5.1: a (coalesced) ACK of everything up to the last
            // accepted PSN, with the MSN and the credits (IBA 9.7.7.2;
            // code 31 without flow control).
            self.forget_ack();
            hdr.aeth = Some(self.ack_aeth(attrs));
        } else {
            return Ok(None);
        }
        let Ok(header_len) = hdr.write(buf) else {
            return Err(self.broken());
        };
        Ok(Some(Transmit {
            header_len,
            payload: Payload::None,
            pad: 0,
            ah: 0,
        }))
    }

    /// The engine found its responder state inconsistent while
    /// transmitting: nothing more is sent and the QP must enter Error.
    fn broken(&mut self) -> Fatal {
        self.nak = NakState::Fatal { owed: None };
        self.res.clear();
        Fatal(DropReason::Internal)
    }

    /// The next READ response or ATOMIC ACK (IBA 9.4.3, 9.4.4).
    fn poll_response(
        &mut self,
        attrs: &QpAttrs,
        buf: &mut [u8; MAX_HEADER_LEN],
    ) -> Result<Option<Transmit>, Fatal> {
        let response = match self.res.next_response() {
            Ok(Some(response)) => response,
            Ok(None) => return Ok(None),
            Err(Inconsistent) => return Err(self.broken()),
        };
        let mut bth = Bth::new(Opcode::RcAtomicAcknowledge, attrs.dest_qpn, response.psn);
        bth.pkey = attrs.pkey;
        let aeth = self.ack_aeth(attrs);
        let (hdr, payload) = match response.body {
            ResponseBody::AtomicAck { orig } => {
                let mut hdr = PacketHeaders::new(bth);
                hdr.aeth = Some(aeth);
                hdr.atomic_ack_eth = Some(AtomicAckEth { orig_data: orig });
                (hdr, Payload::None)
            }
            ResponseBody::Read { pos, rkey, va, len } => {
                bth.opcode = Opcode::read_response(pos);
                bth.pad_count = pad_count(usize::try_from(len).unwrap_or(0));
                let mut hdr = PacketHeaders::new(bth);
                // IBA 9.4.3: only the First, Last and Only responses carry
                // an AETH.
                if pos != Position::Middle {
                    hdr.aeth = Some(aeth);
                }
                let payload = if len == 0 {
                    Payload::None
                } else {
                    Payload::Remote { rkey, va, len }
                };
                (hdr, payload)
            }
        };
        let Ok(header_len) = hdr.write(buf) else {
            return Err(self.broken());
        };
        Ok(Some(Transmit {
            header_len,
            payload,
            pad: hdr.bth.pad_count,
            ah: 0,
        }))
    }
}
