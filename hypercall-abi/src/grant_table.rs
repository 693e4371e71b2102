//! Grant tables: xen/include/public/grant_table.h
//! (HYPERVISOR_grant_table_op: `cmd`, argument array, count).

#![allow(non_upper_case_globals)]

use crate::arch_x86_32::{GuestHandle, XenPfn};
use crate::xen::DomId;
use core::fmt;

/// `grant_ref_t`: an index into the granting domain's table.
pub type GrantRef = u32;
/// `grant_handle_t`: names one mapping made by GNTTABOP_map_grant_ref.
pub type GrantHandle = u32;
/// `grant_status_t`: v2 keeps the status bits in a separate array.
pub type GrantStatus = u16;

/// `struct grant_entry_v1` (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryV1 {
    /// `GTF_*`.
    pub flags: u16,
    /// The domain being granted access.
    pub domid: DomId,
    /// GFN to access, GFN to transfer into, or (after a transfer) the MFN.
    pub frame: u32,
}

// Entries a toolstack may set up before the guest runs.
pub const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8;
pub const GNTTAB_RESERVED_CONSOLE: u32 = 0;
pub const GNTTAB_RESERVED_XENSTORE: u32 = 1;

// Grant entry type (bits 0-1 of flags).
pub const GTF_invalid: u16 = 0;
pub const GTF_permit_access: u16 = 1;
pub const GTF_accept_transfer: u16 = 2;
pub const GTF_transitive: u16 = 3;
pub const GTF_type_mask: u16 = 3;
// Flags of GTF_permit_access entries. reading/writing are set by Xen while
// the frame is mapped, so the granter knows when it may revoke.
pub const _GTF_readonly: u32 = 2;
pub const GTF_readonly: u16 = 1 << _GTF_readonly;
pub const _GTF_reading: u32 = 3;
pub const GTF_reading: u16 = 1 << _GTF_reading;
pub const _GTF_writing: u32 = 4;
pub const GTF_writing: u16 = 1 << _GTF_writing;
pub const _GTF_PWT: u32 = 5;
pub const GTF_PWT: u16 = 1 << _GTF_PWT;
pub const _GTF_PCD: u32 = 6;
pub const GTF_PCD: u16 = 1 << _GTF_PCD;
pub const _GTF_PAT: u32 = 7;
pub const GTF_PAT: u16 = 1 << _GTF_PAT;
pub const _GTF_sub_page: u32 = 8;
pub const GTF_sub_page: u16 = 1 << _GTF_sub_page;
// Flags of GTF_accept_transfer entries.
pub const _GTF_transfer_committed: u32 = 2;
pub const GTF_transfer_committed: u16 = 1 << _GTF_transfer_committed;
pub const _GTF_transfer_completed: u32 = 3;
pub const GTF_transfer_completed: u16 = 1 << _GTF_transfer_completed;

/// `struct grant_entry_header`: the first 4 bytes of every v2 entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryHeader {
    pub flags: u16,
    pub domid: DomId,
}

/// `grant_entry_v2.full_page`. packed(4): i386 aligns its u64 to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryV2FullPage {
    pub hdr: GrantEntryHeader,
    pub pad0: u32,
    pub frame: u64,
}

/// `grant_entry_v2.sub_page`: bytes `[page_off, page_off + length)` of
/// `frame`. packed(4): i386 aligns its u64 to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryV2SubPage {
    pub hdr: GrantEntryHeader,
    pub page_off: u16,
    pub length: u16,
    pub frame: u64,
}

/// `grant_entry_v2.transitive`: use grant `gref` of `trans_domid` as if local.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryV2Transitive {
    pub hdr: GrantEntryHeader,
    pub trans_domid: DomId,
    pub pad0: u16,
    pub gref: GrantRef,
}

/// `union grant_entry_v2` (16 bytes).
///
/// Every member starts with the header, so [`GrantEntryV2::hdr`] is safe; the
/// rest are `unsafe` to read since a smaller member may have been written.
#[repr(C)]
#[derive(Clone, Copy)]
pub union GrantEntryV2 {
    pub hdr: GrantEntryHeader,
    pub full_page: GrantEntryV2FullPage,
    pub sub_page: GrantEntryV2SubPage,
    pub transitive: GrantEntryV2Transitive,
    /// Pads the entry to a power of two.
    pub __spacer: [u32; 4],
}

impl GrantEntryV2 {
    pub const fn hdr(self) -> GrantEntryHeader {
        // SAFETY: every member begins with 4 bytes at offset 0 that are either a
        // GrantEntryHeader or plain u32s (no padding), so whichever was written
        // initialised them, and any bit pattern is a valid header.
        unsafe { self.hdr }
    }
}

impl Default for GrantEntryV2 {
    fn default() -> Self {
        Self { __spacer: [0; 4] }
    }
}
impl fmt::Debug for GrantEntryV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The live member depends on hdr.flags; only the header is always valid.
        f.debug_struct("GrantEntryV2")
            .field("hdr", &self.hdr())
            .finish_non_exhaustive()
    }
}

pub const GNTTABOP_map_grant_ref: u32 = 0;
pub const GNTTABOP_unmap_grant_ref: u32 = 1;
pub const GNTTABOP_setup_table: u32 = 2;
pub const GNTTABOP_dump_table: u32 = 3;
pub const GNTTABOP_transfer: u32 = 4;
pub const GNTTABOP_copy: u32 = 5;
pub const GNTTABOP_query_size: u32 = 6;
pub const GNTTABOP_unmap_and_replace: u32 = 7;
pub const GNTTABOP_set_version: u32 = 8;
pub const GNTTABOP_get_status_frames: u32 = 9;
pub const GNTTABOP_get_version: u32 = 10;
pub const GNTTABOP_swap_grant_ref: u32 = 11;
pub const GNTTABOP_cache_flush: u32 = 12;

/// GNTTABOP_map_grant_ref. packed(4): i386 aligns its u64s to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabMapGrantRef {
    /// Virtual address, or PTE machine address with GNTMAP_contains_pte.
    pub host_addr: u64,
    /// `GNTMAP_*`.
    pub flags: u32,
    pub r#ref: GrantRef,
    pub dom: DomId,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// OUT.
    pub handle: GrantHandle,
    /// OUT, with GNTMAP_device_map.
    pub dev_bus_addr: u64,
}

/// GNTTABOP_unmap_grant_ref. packed(4): i386 aligns its u64s to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabUnmapGrantRef {
    pub host_addr: u64,
    pub dev_bus_addr: u64,
    pub handle: GrantHandle,
    /// OUT: `GNTST_*`.
    pub status: i16,
}

/// GNTTABOP_setup_table: the frames of `dom`'s grant table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabSetupTable {
    pub dom: DomId,
    pub nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// OUT: `nr_frames` frame numbers.
    pub frame_list: GuestHandle<XenPfn>,
}

/// GNTTABOP_dump_table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabDumpTable {
    pub dom: DomId,
    /// OUT.
    pub status: i16,
}

/// GNTTABOP_transfer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabTransfer {
    pub mfn: XenPfn,
    pub domid: DomId,
    pub r#ref: GrantRef,
    /// OUT.
    pub status: i16,
}

pub const _GNTCOPY_source_gref: u32 = 0;
pub const GNTCOPY_source_gref: u16 = 1 << _GNTCOPY_source_gref;
pub const _GNTCOPY_dest_gref: u32 = 1;
pub const GNTCOPY_dest_gref: u16 = 1 << _GNTCOPY_dest_gref;

/// `gnttab_copy_ptr.u`: a grant reference with GNTCOPY_*_gref, else a frame.
/// Both members are one u32, so the getters are safe.
#[repr(C)]
#[derive(Clone, Copy)]
pub union GnttabCopyPtrU {
    pub r#ref: GrantRef,
    pub gmfn: XenPfn,
}

impl GnttabCopyPtrU {
    pub const fn r#ref(self) -> GrantRef {
        // SAFETY: both members are the same initialised u32 at offset 0.
        unsafe { self.r#ref }
    }

    pub const fn gmfn(self) -> XenPfn {
        // SAFETY: both members are the same initialised u32 at offset 0.
        unsafe { self.gmfn }
    }
}

impl Default for GnttabCopyPtrU {
    fn default() -> Self {
        Self { gmfn: 0 }
    }
}
impl fmt::Debug for GnttabCopyPtrU {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.gmfn())
    }
}
impl PartialEq for GnttabCopyPtrU {
    fn eq(&self, other: &Self) -> bool {
        self.gmfn() == other.gmfn()
    }
}
impl Eq for GnttabCopyPtrU {}

/// `struct gnttab_copy_ptr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabCopyPtr {
    pub u: GnttabCopyPtrU,
    pub domid: DomId,
    pub offset: u16,
}

/// GNTTABOP_copy: copy `len` bytes without mapping either side.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabCopy {
    pub source: GnttabCopyPtr,
    pub dest: GnttabCopyPtr,
    pub len: u16,
    /// `GNTCOPY_*`.
    pub flags: u16,
    /// OUT.
    pub status: i16,
}

/// GNTTABOP_query_size.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabQuerySize {
    pub dom: DomId,
    /// OUT.
    pub nr_frames: u32,
    /// OUT.
    pub max_nr_frames: u32,
    /// OUT.
    pub status: i16,
}

/// GNTTABOP_unmap_and_replace. packed(4): i386 aligns its u64s to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabUnmapAndReplace {
    pub host_addr: u64,
    pub new_addr: u64,
    pub handle: GrantHandle,
    /// OUT.
    pub status: i16,
}

/// GNTTABOP_set_version: IN the wanted version (1 or 2), OUT the current one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabSetVersion {
    pub version: u32,
}

/// GNTTABOP_get_status_frames (v2 only).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabGetStatusFrames {
    pub nr_frames: u32,
    pub dom: DomId,
    /// OUT.
    pub status: i16,
    /// OUT: 64-bit frame numbers even for 32-bit guests.
    pub frame_list: GuestHandle<u64>,
}

/// GNTTABOP_get_version.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabGetVersion {
    pub dom: DomId,
    pub pad: u16,
    /// OUT.
    pub version: u32,
}

/// GNTTABOP_swap_grant_ref.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabSwapGrantRef {
    pub ref_a: GrantRef,
    pub ref_b: GrantRef,
    /// OUT.
    pub status: i16,
}

pub const GNTTAB_CACHE_CLEAN: u32 = 1 << 0;
pub const GNTTAB_CACHE_INVAL: u32 = 1 << 1;
pub const GNTTAB_CACHE_SOURCE_GREF: u32 = 1 << 31;

/// `gnttab_cache_flush.a`: a grant ref with GNTTAB_CACHE_SOURCE_GREF, else a
/// bus address. packed(4): i386 aligns its u64 to 4. The members differ in
/// size, so reads stay `unsafe`.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub union GnttabCacheFlushA {
    pub dev_bus_addr: u64,
    pub r#ref: GrantRef,
}

impl Default for GnttabCacheFlushA {
    fn default() -> Self {
        Self { dev_bus_addr: 0 }
    }
}
impl fmt::Debug for GnttabCacheFlushA {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Which member is live depends on GNTTAB_CACHE_SOURCE_GREF in `op`.
        f.write_str("GnttabCacheFlushA { .. }")
    }
}

/// GNTTABOP_cache_flush (Arm; x86 returns -EOPNOTSUPP).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GnttabCacheFlush {
    pub a: GnttabCacheFlushA,
    pub offset: u16,
    pub length: u16,
    /// `GNTTAB_CACHE_*`.
    pub op: u32,
}

// GNTMAP_* flags of map_grant_ref.
pub const _GNTMAP_device_map: u32 = 0;
pub const GNTMAP_device_map: u32 = 1 << _GNTMAP_device_map;
pub const _GNTMAP_host_map: u32 = 1;
pub const GNTMAP_host_map: u32 = 1 << _GNTMAP_host_map;
pub const _GNTMAP_readonly: u32 = 2;
pub const GNTMAP_readonly: u32 = 1 << _GNTMAP_readonly;
/// Host mapping usable by applications too, not only the kernel.
pub const _GNTMAP_application_map: u32 = 3;
pub const GNTMAP_application_map: u32 = 1 << _GNTMAP_application_map;
/// `host_addr` is the machine address of the PTE to write.
pub const _GNTMAP_contains_pte: u32 = 4;
pub const GNTMAP_contains_pte: u32 = 1 << _GNTMAP_contains_pte;
/// Bits the guest may have Xen copy into the PTE's available bits.
pub const _GNTMAP_guest_avail0: u32 = 16;
pub const GNTMAP_guest_avail_mask: u32 = !0 << _GNTMAP_guest_avail0;

// GNTST_* status codes.
pub const GNTST_okay: i16 = 0;
pub const GNTST_general_error: i16 = -1;
pub const GNTST_bad_domain: i16 = -2;
pub const GNTST_bad_gntref: i16 = -3;
pub const GNTST_bad_handle: i16 = -4;
pub const GNTST_bad_virt_addr: i16 = -5;
pub const GNTST_bad_dev_addr: i16 = -6;
pub const GNTST_no_device_space: i16 = -7;
pub const GNTST_permission_denied: i16 = -8;
pub const GNTST_bad_page: i16 = -9;
pub const GNTST_bad_copy_arg: i16 = -10;
pub const GNTST_address_too_big: i16 = -11;
pub const GNTST_eagain: i16 = -12;
pub const GNTST_no_space: i16 = -13;

/// `GNTTABOP_error_msgs`, indexed by `-status`.
pub const GNTTABOP_error_msgs: [&str; 14] = [
    "okay",
    "undefined error",
    "unrecognised domain id",
    "invalid grant reference",
    "invalid mapping handle",
    "invalid virtual address",
    "invalid device address",
    "no spare translation slot in the I/O MMU",
    "permission denied",
    "bad page",
    "copy arguments cross page boundary",
    "page address size too large",
    "operation not done; try again",
    "out of space",
];

/// The message for a `GNTST_*` status.
pub fn gntst_message(status: i16) -> Option<&'static str> {
    let idx = usize::try_from(-i32::from(status)).ok()?;
    GNTTABOP_error_msgs.get(idx).copied()
}
