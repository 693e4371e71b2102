//! Version and feature queries: xen/include/public/version.h and the
//! XENFEAT_* bits of xen/include/public/features.h, which version.h includes
//! (HYPERVISOR_xen_version: `cmd` in EBX, argument in ECX).
//!
//! Every sub-op returns 0 on success except XENVER_version and
//! XENVER_pagesize, which return their answer.

#![allow(non_upper_case_globals)]

use crate::arch_x86_32::XenUlong;

/// Returns `major << 16 | minor`.
pub const XENVER_version: u32 = 0;
pub const XENVER_extraversion: u32 = 1;
pub const XENVER_compile_info: u32 = 2;
pub const XENVER_capabilities: u32 = 3;
pub const XENVER_changeset: u32 = 4;
pub const XENVER_platform_parameters: u32 = 5;
pub const XENVER_get_features: u32 = 6;
/// Returns the page size.
pub const XENVER_pagesize: u32 = 7;
/// Fills a `xen_domain_handle_t`.
pub const XENVER_guest_handle: u32 = 8;
/// Xen's command line (privileged).
pub const XENVER_commandline: u32 = 9;
/// Xen's build id (privileged).
pub const XENVER_build_id: u32 = 10;

/// `xen_extraversion_t`: e.g. ".5", NUL-padded.
pub type XenExtraversion = [u8; 16];
pub const XEN_EXTRAVERSION_LEN: usize = core::mem::size_of::<XenExtraversion>();

/// `struct xen_compile_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenCompileInfo {
    pub compiler: [u8; 64],
    pub compile_by: [u8; 16],
    pub compile_domain: [u8; 32],
    pub compile_date: [u8; 32],
}

impl Default for XenCompileInfo {
    // Written out because `Default` stops at 32-element arrays.
    fn default() -> Self {
        Self {
            compiler: [0; 64],
            compile_by: [0; 16],
            compile_domain: [0; 32],
            compile_date: [0; 32],
        }
    }
}

/// `xen_capabilities_info_t`: space-separated guest types, e.g.
/// "xen-3.0-x86_64 xen-3.0-x86_32p". A PV32 domain builder looks for
/// "xen-3.0-x86_32p" here.
pub type XenCapabilitiesInfo = [u8; 1024];
pub const XEN_CAPABILITIES_INFO_LEN: usize = core::mem::size_of::<XenCapabilitiesInfo>();

/// `xen_changeset_info_t`.
pub type XenChangesetInfo = [u8; 64];
pub const XEN_CHANGESET_INFO_LEN: usize = core::mem::size_of::<XenChangesetInfo>();

/// `struct xen_platform_parameters`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenPlatformParameters {
    /// Start of the hypervisor hole (the M2P start for compat guests).
    pub virt_start: XenUlong,
}

/// `struct xen_feature_info`: one 32-bit word of XENFEAT_* bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenFeatureInfo {
    /// IN: which word (bit `32 * submap_idx + n` is bit n of `submap`).
    pub submap_idx: u32,
    /// OUT.
    pub submap: u32,
}

/// `xen_commandline_t`.
pub type XenCommandline = [u8; 1024];

/// `struct xen_build_id`: a length followed by that many bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenBuildId {
    /// IN: room in `buf`; OUT: bytes written.
    pub len: u32,
    /// Flexible array member.
    pub buf: [u8; 0],
}

// XENFEAT_* bit numbers (features.h).
/// Guest page tables may be writable (updates are trapped and emulated).
pub const XENFEAT_writable_page_tables: u32 = 0;
/// Descriptor tables may be writable.
pub const XENFEAT_writable_descriptor_tables: u32 = 1;
/// Xen translates guest-physical to machine addresses (not PV MMU).
pub const XENFEAT_auto_translated_physmap: u32 = 2;
/// The kernel runs in ring 0.
pub const XENFEAT_supervisor_mode_kernel: u32 = 3;
/// PAE page directories may sit above 4 GiB (extended CR3).
pub const XENFEAT_pae_pgdir_above_4gb: u32 = 4;
/// MMU_PT_UPDATE_PRESERVE_AD is supported.
pub const XENFEAT_mmu_pt_update_preserve_ad: u32 = 5;
/// MMUEXT_CLEAR_PAGE and MMUEXT_COPY_PAGE are supported.
pub const XENFEAT_highmem_assist: u32 = 6;
/// GNTMAP_guest_avail_mask bits are honoured.
pub const XENFEAT_gnttab_map_avail_bits: u32 = 7;
pub const XENFEAT_hvm_callback_vector: u32 = 8;
pub const XENFEAT_hvm_safe_pvclock: u32 = 9;
pub const XENFEAT_hvm_pirqs: u32 = 10;
pub const XENFEAT_dom0: u32 = 11;
pub const XENFEAT_memory_op_vnode_supported: u32 = 13;
pub const XENFEAT_ARM_SMCCC_supported: u32 = 14;
pub const XENFEAT_linux_rsdp_unrestricted: u32 = 15;
/// Guest memory is not 1:1 with machine memory.
pub const XENFEAT_not_direct_mapped: u32 = 16;
/// Guest memory is 1:1 with machine memory (true of every PV guest).
pub const XENFEAT_direct_mapped: u32 = 17;
/// Words of features (`submap_idx < XENFEAT_NR_SUBMAPS`).
pub const XENFEAT_NR_SUBMAPS: u32 = 1;
