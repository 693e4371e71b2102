//! Memory reservation and physmap: xen/include/public/memory.h
//! (HYPERVISOR_memory_op: `cmd` in EBX, argument in ECX).
//!
//! The toolstack-only parts of the header (paging, sharing, access ops,
//! reserved device memory) are behind `__XEN_TOOLS__` and not mirrored.

#![allow(non_upper_case_globals)]

use crate::arch_x86_32::{GuestHandle, XenPfn, XenUlong};
use crate::xen::DomId;
use core::fmt;

pub const XENMEM_increase_reservation: u32 = 0;
pub const XENMEM_decrease_reservation: u32 = 1;
pub const XENMEM_populate_physmap: u32 = 6;

// xen_memory_reservation.mem_flags: bits 0-7 address width limit, 8-15 NUMA
// node + 1, then flags.
pub const XENMEMF_populate_on_demand: u32 = 1 << 16;
pub const XENMEMF_exact_node_request: u32 = 1 << 17;
pub const XENMEMF_vnode: u32 = 1 << 18;

/// `XENMEMF_address_bits`: allocate below 2^bits.
pub const fn xenmemf_address_bits(bits: u32) -> u32 {
    bits
}
/// `XENMEMF_get_address_bits`.
pub const fn xenmemf_get_address_bits(flags: u32) -> u32 {
    flags & 0xff
}
/// `XENMEMF_node`.
pub const fn xenmemf_node(node: u32) -> u32 {
    // Wrapping, as the C macro's unsigned arithmetic does.
    node.wrapping_add(1) << 8
}
/// `XENMEMF_get_node`.
pub const fn xenmemf_get_node(flags: u32) -> u32 {
    ((flags >> 8).wrapping_sub(1)) & 0xff
}
/// `XENMEMF_exact_node`.
pub const fn xenmemf_exact_node(node: u32) -> u32 {
    xenmemf_node(node) | XENMEMF_exact_node_request
}

/// increase/decrease_reservation, populate_physmap (and claim_pages).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMemoryReservation {
    /// IN or OUT frame list, depending on the op.
    pub extent_start: GuestHandle<XenPfn>,
    pub nr_extents: XenUlong,
    pub extent_order: u32,
    /// `XENMEMF_*`.
    pub mem_flags: u32,
    /// Unprivileged domains may only name DOMID_SELF.
    pub domid: DomId,
}

pub const XENMEM_exchange: u32 = 11;

/// XENMEM_exchange.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMemoryExchange {
    pub r#in: XenMemoryReservation,
    pub out: XenMemoryReservation,
    /// OUT; must be zero on entry.
    pub nr_exchanged: XenUlong,
}

/// Returns the highest machine frame (no argument).
pub const XENMEM_maximum_ram_page: u32 = 2;

/// current/maximum_reservation, maximum_gpfn: argument is a domid_t.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMemoryDomain {
    pub domid: DomId,
}

pub const XENMEM_current_reservation: u32 = 3;
pub const XENMEM_maximum_reservation: u32 = 4;
pub const XENMEM_maximum_gpfn: u32 = 14;
pub const XENMEM_machphys_mfn_list: u32 = 5;

/// XENMEM_machphys_mfn_list: the frames backing the M2P, 2 MiB per extent.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMachphysMfnList {
    pub max_extents: u32,
    pub extent_start: GuestHandle<XenPfn>,
    /// OUT.
    pub nr_extents: u32,
}

/// The compat M2P's frames, for a 64-bit dom0 serving 32-bit guests.
pub const XENMEM_machphys_compat_mfn_list: u32 = 25;
pub const XENMEM_machphys_mapping: u32 = 12;

/// XENMEM_machphys_mapping: where the read-only M2P is mapped.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMachphysMapping {
    pub v_start: XenUlong,
    pub v_end: XenUlong,
    /// Largest MFN the window can translate.
    pub max_mfn: XenUlong,
}

pub const XENMAPSPACE_shared_info: u32 = 0;
pub const XENMAPSPACE_grant_table: u32 = 1;
pub const XENMAPSPACE_gmfn: u32 = 2;
/// add_to_physmap only.
pub const XENMAPSPACE_gmfn_range: u32 = 3;
/// add_to_physmap_batch only.
pub const XENMAPSPACE_gmfn_foreign: u32 = 4;
/// Arm only.
pub const XENMAPSPACE_dev_mmio: u32 = 5;

pub const XENMEM_add_to_physmap: u32 = 7;

/// With XENMAPSPACE_grant_table: map status frame `idx` rather than
/// shared frame `idx`.
pub const XENMAPIDX_grant_table_status: u32 = 0x8000_0000;

/// XENMEM_add_to_physmap: place a frame of a map space into the guest's
/// physical address space (meant for auto-translated guests).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenAddToPhysmap {
    pub domid: DomId,
    /// Pages, for XENMAPSPACE_gmfn_range.
    pub size: u16,
    /// `XENMAPSPACE_*`.
    pub space: u32,
    pub idx: XenUlong,
    pub gpfn: XenPfn,
}

pub const XENMEM_add_to_physmap_batch: u32 = 23;

/// `xen_add_to_physmap_batch.u`; both members are one u16, so the getters
/// are safe.
#[repr(C)]
#[derive(Clone, Copy)]
pub union XenAddToPhysmapBatchExtra {
    /// With XENMAPSPACE_gmfn_foreign.
    pub foreign_domid: DomId,
    /// Other spaces: must be zero.
    pub res0: u16,
}

impl XenAddToPhysmapBatchExtra {
    pub const fn foreign_domid(self) -> DomId {
        // SAFETY: both members are the same initialised u16 at offset 0.
        unsafe { self.foreign_domid }
    }
}

impl Default for XenAddToPhysmapBatchExtra {
    fn default() -> Self {
        Self { res0: 0 }
    }
}
impl fmt::Debug for XenAddToPhysmapBatchExtra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.foreign_domid().fmt(f)
    }
}
impl PartialEq for XenAddToPhysmapBatchExtra {
    fn eq(&self, other: &Self) -> bool {
        self.foreign_domid() == other.foreign_domid()
    }
}
impl Eq for XenAddToPhysmapBatchExtra {}

/// XENMEM_add_to_physmap_batch.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenAddToPhysmapBatch {
    pub domid: DomId,
    pub space: u16,
    pub size: u16,
    pub u: XenAddToPhysmapBatchExtra,
    pub idxs: GuestHandle<XenUlong>,
    pub gpfns: GuestHandle<XenPfn>,
    /// OUT: per-entry errno.
    pub errs: GuestHandle<i32>,
}

pub const XENMEM_remove_from_physmap: u32 = 15;

/// XENMEM_remove_from_physmap.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenRemoveFromPhysmap {
    pub domid: DomId,
    pub gpfn: XenPfn,
}

/// The guest's pseudo-physical E820 map; -ENOSYS unless the toolstack set one.
pub const XENMEM_memory_map: u32 = 9;
/// The host's E820 map (privileged).
pub const XENMEM_machine_memory_map: u32 = 10;
/// Set a domain's map (toolstack).
pub const XENMEM_set_memory_map: u32 = 13;

/// XENMEM_memory_map, XENMEM_machine_memory_map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMemoryMap {
    /// IN: room in `buffer`; OUT: entries written.
    pub nr_entries: u32,
    /// [`E820Entry`] array.
    pub buffer: GuestHandle<E820Entry>,
}

/// XENMEM_set_memory_map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenForeignMemoryMap {
    pub domid: DomId,
    pub map: XenMemoryMap,
}

/// One entry of a XENMEM_memory_map buffer: the BIOS INT 15h/E820 format,
/// which the header names but does not define. 20 bytes, no padding.
///
/// packed(4): the 8-byte fields sit at offsets 0 and 8 and the size is 20,
/// which only 4-byte alignment allows.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    /// `E820_*`.
    pub r#type: u32,
}

// E820 entry types (ACPI spec, "Address Range Types").
pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;
pub const E820_ACPI: u32 = 3;
pub const E820_NVS: u32 = 4;
pub const E820_UNUSABLE: u32 = 5;

pub const XENMEM_set_pod_target: u32 = 16;
pub const XENMEM_get_pod_target: u32 = 17;

/// XENMEM_{set,get}_pod_target. packed(4): i386 aligns the u64s to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenPodTarget {
    pub target_pages: u64,
    /// OUT.
    pub tot_pages: u64,
    /// OUT.
    pub pod_cache_pages: u64,
    /// OUT.
    pub pod_entries: u64,
    pub domid: DomId,
}

pub const XENMEM_acquire_resource: u32 = 28;
pub const XENMEM_resource_ioreq_server: u32 = 0;
pub const XENMEM_resource_grant_table: u32 = 1;
pub const XENMEM_resource_vmtrace_buf: u32 = 2;
pub const XENMEM_resource_grant_table_id_shared: u32 = 0;
pub const XENMEM_resource_grant_table_id_status: u32 = 1;
pub const XENMEM_resource_ioreq_server_frame_bufioreq: u64 = 0;

/// `XENMEM_resource_ioreq_server_frame_ioreq`.
pub const fn xenmem_resource_ioreq_server_frame_ioreq(n: u64) -> u64 {
    1 + n
}

/// XENMEM_acquire_resource (toolstack). packed(4): i386 aligns the u64 to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMemAcquireResource {
    pub domid: DomId,
    /// `XENMEM_resource_*`.
    pub r#type: u16,
    pub id: u32,
    /// IN/OUT.
    pub nr_frames: u32,
    pub pad: u32,
    pub frame: u64,
    pub frame_list: GuestHandle<XenPfn>,
}

pub const XENMEM_get_vnumainfo: u32 = 26;
