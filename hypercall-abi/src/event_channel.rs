//! Event channels: xen/include/public/event_channel.h
//! (HYPERVISOR_event_channel_op, `cmd` in EBX, argument struct in ECX).

#![allow(non_upper_case_globals)]

use crate::arch_x86_32::XenUlong;
use crate::xen::DomId;
use core::fmt;

/// `evtchn_port_t`.
pub type EvtchnPort = u32;

pub const EVTCHNOP_bind_interdomain: u32 = 0;
pub const EVTCHNOP_bind_virq: u32 = 1;
pub const EVTCHNOP_bind_pirq: u32 = 2;
pub const EVTCHNOP_close: u32 = 3;
pub const EVTCHNOP_send: u32 = 4;
pub const EVTCHNOP_status: u32 = 5;
pub const EVTCHNOP_alloc_unbound: u32 = 6;
pub const EVTCHNOP_bind_ipi: u32 = 7;
pub const EVTCHNOP_bind_vcpu: u32 = 8;
pub const EVTCHNOP_unmask: u32 = 9;
pub const EVTCHNOP_reset: u32 = 10;
pub const EVTCHNOP_init_control: u32 = 11;
pub const EVTCHNOP_expand_array: u32 = 12;
pub const EVTCHNOP_set_priority: u32 = 13;

/// EVTCHNOP_alloc_unbound: a port in `dom` that `remote_dom` may bind to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnAllocUnbound {
    pub dom: DomId,
    pub remote_dom: DomId,
    /// OUT.
    pub port: EvtchnPort,
}

/// EVTCHNOP_bind_interdomain.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindInterdomain {
    pub remote_dom: DomId,
    pub remote_port: EvtchnPort,
    /// OUT.
    pub local_port: EvtchnPort,
}

/// EVTCHNOP_bind_virq.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindVirq {
    /// `VIRQ_*`.
    pub virq: u32,
    pub vcpu: u32,
    /// OUT.
    pub port: EvtchnPort,
}

/// The PIRQ may be shared with other domains.
pub const BIND_PIRQ__WILL_SHARE: u32 = 1;

/// EVTCHNOP_bind_pirq.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindPirq {
    pub pirq: u32,
    /// `BIND_PIRQ__*`.
    pub flags: u32,
    /// OUT.
    pub port: EvtchnPort,
}

/// EVTCHNOP_bind_ipi.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindIpi {
    pub vcpu: u32,
    /// OUT.
    pub port: EvtchnPort,
}

/// EVTCHNOP_close.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnClose {
    pub port: EvtchnPort,
}

/// EVTCHNOP_send.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnSend {
    pub port: EvtchnPort,
}

// evtchn_status.status.
pub const EVTCHNSTAT_closed: u32 = 0;
pub const EVTCHNSTAT_unbound: u32 = 1;
pub const EVTCHNSTAT_interdomain: u32 = 2;
pub const EVTCHNSTAT_pirq: u32 = 3;
pub const EVTCHNSTAT_virq: u32 = 4;
pub const EVTCHNSTAT_ipi: u32 = 5;

/// `evtchn_status.u.unbound`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnStatusUnbound {
    pub dom: DomId,
}

/// `evtchn_status.u.interdomain`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnStatusInterdomain {
    pub dom: DomId,
    pub port: EvtchnPort,
}

/// `evtchn_status.u`, selected by `status`.
///
/// Members differ in size and `interdomain` has padding, so reading one that
/// was not written may read uninitialised bytes: reads stay `unsafe`, and a
/// producer should start from `Default` (all 8 bytes zero).
#[repr(C)]
#[derive(Clone, Copy)]
pub union EvtchnStatusU {
    pub unbound: EvtchnStatusUnbound,
    pub interdomain: EvtchnStatusInterdomain,
    pub pirq: u32,
    pub virq: u32,
    /// Not in C: spans the union so `Default` can zero every byte.
    pub raw: [u32; 2],
}

impl Default for EvtchnStatusU {
    fn default() -> Self {
        Self { raw: [0; 2] }
    }
}
impl fmt::Debug for EvtchnStatusU {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Which member is live depends on evtchn_status.status.
        f.write_str("EvtchnStatusU { .. }")
    }
}

/// EVTCHNOP_status.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnStatus {
    pub dom: DomId,
    pub port: EvtchnPort,
    /// OUT: `EVTCHNSTAT_*`.
    pub status: u32,
    /// OUT: the vCPU the port notifies.
    pub vcpu: u32,
    /// OUT.
    pub u: EvtchnStatusU,
}

/// EVTCHNOP_bind_vcpu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindVcpu {
    pub port: EvtchnPort,
    pub vcpu: u32,
}

/// EVTCHNOP_unmask: unmask and re-raise the upcall if the port is pending.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnUnmask {
    pub port: EvtchnPort,
}

/// EVTCHNOP_reset: close every port of `dom`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnReset {
    pub dom: DomId,
}

/// EVTCHNOP_init_control (FIFO ABI). packed(4): i386 aligns its u64 to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnInitControl {
    pub control_gfn: u64,
    pub offset: u32,
    pub vcpu: u32,
    /// OUT.
    pub link_bits: u8,
    pub _pad: [u8; 7],
}

/// EVTCHNOP_expand_array (FIFO ABI). packed(4): i386 aligns u64 to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnExpandArray {
    pub array_gfn: u64,
}

/// EVTCHNOP_set_priority (FIFO ABI).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnSetPriority {
    pub port: EvtchnPort,
    pub priority: u32,
}

/// Ports of the 2-level ABI: one bit per port in shared_info's pending and
/// mask arrays, one selector bit per word, so 32 * 32 on x86_32.
pub const EVTCHN_2L_NR_CHANNELS: usize =
    core::mem::size_of::<XenUlong>() * core::mem::size_of::<XenUlong>() * 64;

// FIFO ABI.
pub const EVTCHN_FIFO_PRIORITY_MAX: u32 = 0;
pub const EVTCHN_FIFO_PRIORITY_DEFAULT: u32 = 7;
pub const EVTCHN_FIFO_PRIORITY_MIN: u32 = 15;
pub const EVTCHN_FIFO_MAX_QUEUES: usize = EVTCHN_FIFO_PRIORITY_MIN as usize + 1;

/// `event_word_t`: one FIFO event word.
pub type EventWord = u32;

pub const EVTCHN_FIFO_PENDING: u32 = 31;
pub const EVTCHN_FIFO_MASKED: u32 = 30;
pub const EVTCHN_FIFO_LINKED: u32 = 29;
pub const EVTCHN_FIFO_BUSY: u32 = 28;
pub const EVTCHN_FIFO_LINK_BITS: u32 = 17;
pub const EVTCHN_FIFO_LINK_MASK: u32 = (1 << EVTCHN_FIFO_LINK_BITS) - 1;
pub const EVTCHN_FIFO_NR_CHANNELS: u32 = 1 << EVTCHN_FIFO_LINK_BITS;

/// `struct evtchn_fifo_control_block`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnFifoControlBlock {
    pub ready: u32,
    pub _rsvd: u32,
    pub head: [u32; EVTCHN_FIFO_MAX_QUEUES],
}
