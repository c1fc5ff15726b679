//! The subnet management agent of a channel adapter port (IBA vol. 1,
//! chapter 14), as pure functions: a request SMP and the port's state in,
//! the response SMP and the state changes out. rvt.ko calls it from
//! `process_mad` for an IB link layer (rvt_qib); ib_mad has already done
//! the directed-route hop processing (IBA 14.2.2) by then, and sends the
//! response back along the return path.
//!
//! Attributes answered: NodeDescription, NodeInfo, GUIDInfo,
//! SLtoVLMappingTable, P_KeyTable and PortInfo (Get), P_KeyTable (Set),
//! and PortInfo (Set: LID, LMC, SM LID and SL, GID prefix, M_Key, its protect
//! bits and lease period, subnet timeout, client reregistration, neighbor
//! MTU and the PortState moves the SM makes: Down, Init -> Armed ->
//! Active, OperationalVLs). SMInfo, responses and traps are the SM's
//! (passed on); everything else is refused with the MAD status for an
//! unsupported method or attribute (IBA 13.4.7). M_Key checking follows
//! IBA 14.2.4: a Set (or a Get at protect level 2 and 3) with the wrong
//! M_Key is dropped without a response and counted, and starts the lease,
//! after which the protection lapses.

/// The size of every MAD (IBA 13.4.1).
pub const MAD_LEN: usize = 256;
/// Where the SMP's attribute data starts (IBA 14.2.1.1, 14.2.1.2: the same
/// offset for LID-routed and directed-route SMPs).
pub const SMP_DATA_OFFSET: usize = 64;
/// The SMP data length.
pub const SMP_DATA_LEN: usize = 64;

/// Management classes of SMPs (IBA 13.4.4).
pub const CLASS_SUBN_LID_ROUTED: u8 = 0x01;
/// Directed-route SMPs.
pub const CLASS_SUBN_DIRECTED_ROUTE: u8 = 0x81;

/// Methods (IBA 13.4.5).
pub const METHOD_GET: u8 = 0x01;
/// Set.
pub const METHOD_SET: u8 = 0x02;
/// The response to a Get or a Set.
pub const METHOD_GET_RESP: u8 = 0x81;
/// TrapRepress (from the SM).
pub const METHOD_TRAP_REPRESS: u8 = 0x07;

/// MAD status values (IBA 13.4.7).
pub const STATUS_BAD_VERSION: u16 = 0x0004;
/// The method/attribute combination is not supported.
pub const STATUS_UNSUPPORTED_METHOD_ATTR: u16 = 0x000c;
/// A field of the attribute or the attribute modifier is invalid.
pub const STATUS_INVALID_FIELD: u16 = 0x001c;
/// Directed route: the D bit of the status word, set in a response.
pub const STATUS_DIRECTION: u16 = 0x8000;

/// Attribute IDs (IBA 14.2.5).
pub const ATTR_NODE_DESCRIPTION: u16 = 0x0010;
/// SMInfo: for the SM on this node, not the SMA.
pub const ATTR_SM_INFO: u16 = 0x0020;
/// NodeInfo.
pub const ATTR_NODE_INFO: u16 = 0x0011;
/// GUIDInfo.
pub const ATTR_GUID_INFO: u16 = 0x0014;
/// PortInfo.
pub const ATTR_PORT_INFO: u16 = 0x0015;
/// P_KeyTable.
pub const ATTR_PKEY_TABLE: u16 = 0x0016;
/// SLtoVLMappingTable.
pub const ATTR_SL_TO_VL_TABLE: u16 = 0x0017;

/// P_Key table entries a port has (PartitionCap): one P_KeyTable block.
pub const PKEY_TABLE_LEN: usize = 32;
/// The default partition, full membership (IBA 10.9.1.2).
pub const DEFAULT_PKEY: u16 = 0xffff;

/// NodeType of a channel adapter (IBA 14.2.5.3).
pub const NODE_TYPE_CA: u8 = 1;

/// A logical port state (IBA 14.2.5.6, PortState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortState {
    /// 1: Down (no physical link, or taken down).
    Down,
    /// 2: Initialize (link up, not yet configured by the SM).
    Init,
    /// 3: Armed (configured; only SMPs and a move to Active).
    Armed,
    /// 4: Active (every packet).
    Active,
}

impl PortState {
    /// The PortState field value.
    pub const fn value(self) -> u8 {
        match self {
            PortState::Down => 1,
            PortState::Init => 2,
            PortState::Armed => 3,
            PortState::Active => 4,
        }
    }
}

/// What the node's SMA reports about itself (NodeInfo, NodeDescription).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeAttrs {
    /// NodeGUID.
    pub node_guid: u64,
    /// SystemImageGUID.
    pub system_image_guid: u64,
    /// The GUID of port 1 (a one-port CA).
    pub port_guid: u64,
    /// DeviceID, Revision, VendorID (24 bits).
    pub device_id: u16,
    /// Revision.
    pub revision: u32,
    /// VendorID (24 bits).
    pub vendor_id: u32,
    /// NodeDescription: 64 bytes of UTF-8, NUL-padded.
    pub description: [u8; 64],
}

/// The SMA-visible state of port 1, which a Set(PortInfo) changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortAttrs {
    /// M_Key (IBA 14.2.4).
    pub mkey: u64,
    /// M_KeyProtectBits, 0..=3.
    pub mkey_protect: u8,
    /// M_KeyLeasePeriod in seconds (0: the lease never runs out).
    pub mkey_lease_period: u16,
    /// When an M_Key violation started the lease (ns), until a correct
    /// M_Key or its expiry.
    pub mkey_lease_deadline: Option<u64>,
    /// GidPrefix.
    pub gid_prefix: u64,
    /// The base LID (0: not assigned).
    pub lid: u16,
    /// LMC, 0..=7.
    pub lmc: u8,
    /// MasterSMLID and MasterSMSL.
    pub sm_lid: u16,
    /// MasterSMSL, 0..=15.
    pub sm_sl: u8,
    /// CapabilityMask (IBA 14.2.5.6 table 147).
    pub cap_mask: u32,
    /// PortState.
    pub state: PortState,
    /// PortPhysicalState (5: LinkUp, 2: Polling, 3: Disabled).
    pub phys_state: u8,
    /// The port's MTU capability and neighbor MTU (IB MTU codes 1..=5).
    pub mtu_cap: u8,
    /// NeighborMTU, which the SM sets.
    pub neighbor_mtu: u8,
    /// VLCap (1: VL0 only).
    pub vl_cap: u8,
    /// OperationalVLs, which the SM sets (at most VLCap; OpenSM takes the
    /// link down when a port does not keep what it set).
    pub op_vls: u8,
    /// LocalPhyErrors and OverrunErrors thresholds (byte 53), kept as the
    /// SM sets them.
    pub error_thresholds: u8,
    /// SubnetTimeOut, 0..=31.
    pub subnet_timeout: u8,
    /// The P_Key table (IBA 10.9.1), which the SM sets: entry 0 is the
    /// default partition until it says otherwise; 0 marks an empty entry.
    pub pkeys: [u16; PKEY_TABLE_LEN],
    /// M_Key, P_Key and Q_Key violation counters (saturating).
    pub mkey_violations: u16,
    /// P_Key violations.
    pub pkey_violations: u16,
    /// Q_Key violations.
    pub qkey_violations: u16,
}

impl PortAttrs {
    /// A port whose physical link is up and that no SM has configured yet
    /// (IBA 14.2.5.6): Init, no LID, no M_Key, the default partition in
    /// P_Key entry 0, `mtu_cap` and `vl_cap` its capabilities (NeighborMTU
    /// and OperationalVLs start there), `cap_mask` its CapabilityMask.
    pub const fn initial(mtu_cap: u8, vl_cap: u8, cap_mask: u32) -> PortAttrs {
        let mut pkeys = [0; PKEY_TABLE_LEN];
        pkeys[0] = DEFAULT_PKEY;
        PortAttrs {
            mkey: 0,
            mkey_protect: 0,
            mkey_lease_period: 0,
            mkey_lease_deadline: None,
            gid_prefix: 0xfe80_0000_0000_0000,
            lid: 0,
            lmc: 0,
            sm_lid: 0,
            sm_sl: 0,
            cap_mask,
            state: PortState::Init,
            phys_state: 5,
            mtu_cap,
            neighbor_mtu: mtu_cap,
            vl_cap,
            op_vls: vl_cap,
            error_thresholds: 0,
            subnet_timeout: 0,
            pkeys,
            mkey_violations: 0,
            pkey_violations: 0,
            qkey_violations: 0,
        }
    }
}

/// What changed in a port: the caller raises the matching ib_core events
/// (IB_EVENT_LID_CHANGE, IB_EVENT_SM_CHANGE, IB_EVENT_CLIENT_REREGISTER,
/// IB_EVENT_PORT_ACTIVE / IB_EVENT_PORT_ERR) and acts on a state move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortChanges {
    /// LID or LMC.
    pub lid: bool,
    /// MasterSMLID or MasterSMSL.
    pub sm: bool,
    /// The GID prefix.
    pub gid_prefix: bool,
    /// The SM asked clients to register again (ClientReregister, IBA
    /// 14.4.11).
    pub client_reregister: bool,
    /// The new logical state, if the Set moved the port.
    pub state: Option<PortState>,
    /// The P_Key table (IB_EVENT_PKEY_CHANGE).
    pub pkeys: bool,
}

/// What to do with a request SMP; in ib_mad's terms (process_mad's
/// IB_MAD_RESULT_*) for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmaVerdict {
    /// Send the response (written to the response buffer): SUCCESS | REPLY.
    Reply(PortChanges),
    /// Not the SMA's: a response or trap for the SM on this node, or SMInfo
    /// (IBA 14.4.1: the SM answers it). ib_mad hands it to the agents
    /// (an SM in user space): SUCCESS without REPLY.
    Pass,
    /// Send nothing and hand it to nobody: an M_Key violation (FAILURE,
    /// so ib_mad does not answer it either; the caller sends the SM a Bad
    /// M_Key trap, IBA 14.2.4.4, when `mkey_violation`), or a TrapRepress,
    /// which is never answered (IBA 13.4.9; CONSUMED).
    Drop {
        /// An M_Key check failed (counted in `PortAttrs::mkey_violations`).
        mkey_violation: bool,
    },
}

fn be16(b: &[u8; MAD_LEN], at: usize) -> u16 {
    match b.get(at..at.saturating_add(2)) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn be32(b: &[u8; MAD_LEN], at: usize) -> u32 {
    match b.get(at..at.saturating_add(4)) {
        Some(&[w, x, y, z]) => u32::from_be_bytes([w, x, y, z]),
        _ => 0,
    }
}

fn be64(b: &[u8; MAD_LEN], at: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(at..at.saturating_add(8)) {
        v.copy_from_slice(s);
    }
    u64::from_be_bytes(v)
}

/// Copies `bytes` to `b` at `at`, as much as fits (shared with the PMA).
pub(super) fn put(b: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = b.get_mut(at..at.saturating_add(bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

fn byte(b: &[u8; MAD_LEN], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// The PortInfo attribute of `port` (IBA 14.2.5.6, 64 bytes) as the SMP
/// data, its M_Key shown or zeroed.
fn port_info(port: &PortAttrs, show_mkey: bool, data: &mut [u8; SMP_DATA_LEN]) {
    *data = [0; SMP_DATA_LEN];
    put(
        data,
        0,
        &(if show_mkey { port.mkey } else { 0 }).to_be_bytes(),
    );
    put(data, 8, &port.gid_prefix.to_be_bytes());
    put(data, 16, &port.lid.to_be_bytes());
    put(data, 18, &port.sm_lid.to_be_bytes());
    put(data, 20, &port.cap_mask.to_be_bytes());
    put(data, 26, &port.mkey_lease_period.to_be_bytes());
    // LocalPortNum; LinkWidthEnabled, Supported, Active: 1X.
    put(data, 28, &[1, 1, 1, 1]);
    // LinkSpeedSupported (2.5 Gb/s) and PortState; PortPhysicalState and
    // LinkDownDefaultState (2: Polling); M_KeyProtectBits and LMC;
    // LinkSpeedActive and Enabled; NeighborMTU and MasterSMSL; VLCap and
    // InitType; VLHighLimit, VLArbitrationHighCap and LowCap (0: VL0 only).
    put(
        data,
        32,
        &[
            (1 << 4) | port.state.value(),
            (port.phys_state << 4) | 2,
            (port.mkey_protect << 6) | port.lmc,
            (1 << 4) | 1,
            (port.neighbor_mtu << 4) | port.sm_sl,
            port.vl_cap << 4,
            0,
            0,
            0,
        ],
    );
    // InitTypeReply and MTUCap; VLStallCount and HOQLife; OperationalVLs.
    put(data, 41, &[port.mtu_cap, 0, port.op_vls << 4]);
    put(data, 44, &port.mkey_violations.to_be_bytes());
    put(data, 46, &port.pkey_violations.to_be_bytes());
    put(data, 48, &port.qkey_violations.to_be_bytes());
    // GUIDCap: one GUID; SubnetTimeOut; RespTimeValue (4.096 us * 2^18,
    // about 1 s); the error thresholds.
    put(
        data,
        50,
        &[1, port.subnet_timeout, 18, port.error_thresholds],
    );
}

/// The NodeInfo attribute (IBA 14.2.5.3, 40 bytes).
fn node_info(node: &NodeAttrs, data: &mut [u8; SMP_DATA_LEN]) {
    *data = [0; SMP_DATA_LEN];
    // BaseVersion, ClassVersion, NodeType, NumPorts.
    put(data, 0, &[1, 1, NODE_TYPE_CA, 1]);
    put(data, 4, &node.system_image_guid.to_be_bytes());
    put(data, 12, &node.node_guid.to_be_bytes());
    put(data, 20, &node.port_guid.to_be_bytes());
    // PartitionCap: the P_Key table's entries.
    put(data, 28, &(PKEY_TABLE_LEN as u16).to_be_bytes());
    put(data, 30, &node.device_id.to_be_bytes());
    put(data, 32, &node.revision.to_be_bytes());
    // LocalPortNum (the port the SMP came in on) and the 24-bit VendorID.
    let [_, v2, v1, v0] = node.vendor_id.to_be_bytes();
    put(data, 36, &[1, v2, v1, v0]);
}

/// The PortInfo a Set asks for, checked against what the port can be (IBA
/// 14.2.5.6). `None`: a field is invalid, and nothing changes.
fn port_info_set(data: &[u8; MAD_LEN], port: &PortAttrs) -> Option<(PortAttrs, PortChanges)> {
    let d = SMP_DATA_OFFSET;
    let mut new = *port;
    let mut changes = PortChanges::default();
    new.mkey = be64(data, d);
    new.gid_prefix = be64(data, d.saturating_add(8));
    let lid = be16(data, d.saturating_add(16));
    let sm_lid = be16(data, d.saturating_add(18));
    // Unicast LIDs only (IBA 4.1: 0 is reserved, 0xC000 and above are
    // multicast or permissive).
    let unicast = |l: u16| l != 0 && l < super::link::MULTICAST_LID_BASE;
    if !unicast(lid) || !unicast(sm_lid) {
        return None;
    }
    new.lid = lid;
    new.sm_lid = sm_lid;
    new.mkey_lease_period = be16(data, d.saturating_add(26));
    let state = byte(data, d.saturating_add(32)) & 0x0f;
    let phys = byte(data, d.saturating_add(33)) >> 4;
    let protect_lmc = byte(data, d.saturating_add(34));
    new.mkey_protect = protect_lmc >> 6;
    new.lmc = protect_lmc & 0x07;
    let mtu_sl = byte(data, d.saturating_add(36));
    // NeighborMTU: 0 leaves it; otherwise an IB MTU the port can carry.
    let neighbor_mtu = mtu_sl >> 4;
    if neighbor_mtu != 0 {
        if neighbor_mtu > port.mtu_cap {
            return None;
        }
        new.neighbor_mtu = neighbor_mtu;
    }
    new.sm_sl = mtu_sl & 0x0f;
    // OperationalVLs: 0 leaves it; at most VLCap.
    let op_vls = byte(data, d.saturating_add(43)) >> 4;
    if op_vls != 0 {
        if op_vls > port.vl_cap {
            return None;
        }
        new.op_vls = op_vls;
    }
    new.error_thresholds = byte(data, d.saturating_add(53));
    let rereg_timeout = byte(data, d.saturating_add(51));
    new.subnet_timeout = rereg_timeout & 0x1f;
    changes.client_reregister = rereg_timeout & 0x80 != 0;
    // PortPhysicalState: 0 leaves it; 1 (Sleep), 2 (Polling) and 3
    // (Disabled) take the link down, and go with PortState 0 or Down
    // only.
    match phys {
        0 => {}
        1..=3 if matches!(state, 0 | 1) => {
            new.phys_state = phys;
            new.state = PortState::Down;
        }
        _ => return None,
    }
    // PortState: 0 leaves it; Down takes the link down (it comes back in
    // Init once the physical link retrains); Armed only from Init, Active
    // only from Armed; Init cannot be set (IBA 14.2.5.6).
    new.state = match (state, port.state) {
        (0, _) => new.state,
        (1, _) => PortState::Down,
        (3, PortState::Init | PortState::Armed) => PortState::Armed,
        (4, PortState::Armed | PortState::Active) => PortState::Active,
        _ => return None,
    };
    changes.lid = new.lid != port.lid || new.lmc != port.lmc;
    changes.sm = new.sm_lid != port.sm_lid || new.sm_sl != port.sm_sl;
    changes.gid_prefix = new.gid_prefix != port.gid_prefix;
    changes.state = (new.state != port.state).then_some(new.state);
    Some((new, changes))
}

/// Answers the SMP `req` for port 1 of `node`, whose state `port` it may
/// change, at time `now` (ns, for the M_Key lease), into `resp`.
pub fn process_smp(
    req: &[u8; MAD_LEN],
    node: &NodeAttrs,
    port: &mut PortAttrs,
    now: u64,
    resp: &mut [u8; MAD_LEN],
) -> SmaVerdict {
    let class = byte(req, 1);
    let method = byte(req, 3);
    if !matches!(class, CLASS_SUBN_LID_ROUTED | CLASS_SUBN_DIRECTED_ROUTE)
        || !matches!(method, METHOD_GET | METHOD_SET | METHOD_TRAP_REPRESS)
        || be16(req, 16) == ATTR_SM_INFO
    {
        // Responses, traps and SMInfo are for the SM, not the SMA.
        return SmaVerdict::Pass;
    }
    // IBA 14.2.4.3: once the lease runs out, the protection lapses.
    if let Some(deadline) = port.mkey_lease_deadline {
        if now >= deadline {
            port.mkey_protect = 0;
            port.mkey_lease_deadline = None;
        }
    }
    let mkey_ok = port.mkey == 0 || be64(req, 24) == port.mkey;
    if mkey_ok {
        port.mkey_lease_deadline = None;
    } else if method != METHOD_GET || port.mkey_protect >= 2 {
        port.mkey_violations = port.mkey_violations.saturating_add(1);
        if port.mkey_lease_period != 0 && port.mkey_lease_deadline.is_none() {
            let period = u64::from(port.mkey_lease_period).saturating_mul(1_000_000_000);
            port.mkey_lease_deadline = Some(now.saturating_add(period));
        }
        return SmaVerdict::Drop {
            mkey_violation: true,
        };
    }
    if method == METHOD_TRAP_REPRESS {
        // This SMA sends no traps yet; a TrapRepress is never answered.
        return SmaVerdict::Drop {
            mkey_violation: false,
        };
    }
    // The response: the request's header and M_Key, method GetResp, the
    // attribute data filled in below.
    *resp = *req;
    resp[3] = METHOD_GET_RESP;
    let mut changes = PortChanges::default();
    let mut data = [0u8; SMP_DATA_LEN];
    let status = if byte(req, 0) != 1 || byte(req, 2) != 1 {
        // BaseVersion and ClassVersion 1 (IBA 13.4.2).
        STATUS_BAD_VERSION
    } else {
        let attr = be16(req, 16);
        let modifier = be32(req, 20);
        match (method, attr) {
            (METHOD_GET, ATTR_NODE_DESCRIPTION) => {
                data = node.description;
                0
            }
            (METHOD_GET, ATTR_NODE_INFO) => {
                node_info(node, &mut data);
                0
            }
            // One block of 8 GUIDs (IBA 14.2.5.5): GUIDCap is 1, the port
            // GUID; a Set cannot add alias GUIDs and reports the block.
            (METHOD_GET | METHOD_SET, ATTR_GUID_INFO) => {
                put(&mut data, 0, &node.port_guid.to_be_bytes());
                if modifier == 0 {
                    0
                } else {
                    STATUS_INVALID_FIELD
                }
            }
            // One block of 32 P_Keys (IBA 14.2.5.7), the modifier's low 16
            // bits the block number; a Set replaces the block.
            (METHOD_GET | METHOD_SET, ATTR_PKEY_TABLE) => {
                let status = if modifier & 0xffff != 0 {
                    STATUS_INVALID_FIELD
                } else {
                    if method == METHOD_SET {
                        let block = req
                            .get(SMP_DATA_OFFSET..MAD_LEN)
                            .unwrap_or_default()
                            .chunks_exact(2);
                        for (key, be) in port.pkeys.iter_mut().zip(block) {
                            if let &[hi, lo] = be {
                                *key = u16::from_be_bytes([hi, lo]);
                            }
                        }
                        changes.pkeys = true;
                    }
                    0
                };
                for (out, key) in data.chunks_exact_mut(2).zip(port.pkeys.iter()) {
                    out.copy_from_slice(&key.to_be_bytes());
                }
                status
            }
            // Every SL on VL0 (IBA 14.2.5.8: 16 four-bit VLs), the only data
            // VL: a Set that maps an SL elsewhere is refused.
            (METHOD_GET | METHOD_SET, ATTR_SL_TO_VL_TABLE) => {
                let elsewhere = method == METHOD_SET
                    && req
                        .get(SMP_DATA_OFFSET..SMP_DATA_OFFSET.saturating_add(8))
                        .is_some_and(|t| t.iter().any(|&b| b != 0));
                if elsewhere {
                    STATUS_INVALID_FIELD
                } else {
                    0
                }
            }
            (METHOD_GET | METHOD_SET, ATTR_PORT_INFO) if modifier > 1 => {
                port_info(port, mkey_ok, &mut data);
                STATUS_INVALID_FIELD
            }
            (METHOD_GET, ATTR_PORT_INFO) => {
                // At protect level 1 a Get with the wrong M_Key is answered,
                // M_Key hidden; at level 0 it shows (IBA 14.2.4.2).
                port_info(port, mkey_ok || port.mkey_protect == 0, &mut data);
                0
            }
            (METHOD_SET, ATTR_PORT_INFO) => match port_info_set(req, port) {
                Some((new, set_changes)) => {
                    *port = new;
                    changes = set_changes;
                    port_info(port, true, &mut data);
                    // The response echoes ClientReregister (IBA 14.2.5.6).
                    if changes.client_reregister {
                        if let Some(b) = data.get_mut(51) {
                            *b |= 0x80;
                        }
                    }
                    0
                }
                None => {
                    port_info(port, true, &mut data);
                    STATUS_INVALID_FIELD
                }
            },
            _ => STATUS_UNSUPPORTED_METHOD_ATTR,
        }
    };
    let direction = if class == CLASS_SUBN_DIRECTED_ROUTE {
        STATUS_DIRECTION
    } else {
        0
    };
    put(resp, 4, &(status | direction).to_be_bytes());
    put(resp, SMP_DATA_OFFSET, &data);
    SmaVerdict::Reply(changes)
}
