//! Physical device operations: xen/include/public/physdev.h
//! (HYPERVISOR_physdev_op: `cmd` in EBX, argument in ECX).
//!
//! A translated domU needs only set_iopl and set_iobitmap; the PCI/MSI ops are
//! numbered for completeness, and only their small fixed structs mirrored.

#![allow(non_upper_case_globals)]

use crate::arch_x86_32::{GuestHandle, XenPfn, XenUlong};
use crate::xen::DomId;

/// Notify Xen the guest has handled a PIRQ.
pub const PHYSDEVOP_eoi: u32 = 12;

/// PHYSDEVOP_eoi.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysdevEoi {
    pub irq: u32,
}

/// Register a page of PIRQ "needs EOI" bits (v1 leaves bits set on bind).
pub const PHYSDEVOP_pirq_eoi_gmfn_v1: u32 = 17;
/// As v1, but Xen clears the bit when a PIRQ is bound.
pub const PHYSDEVOP_pirq_eoi_gmfn_v2: u32 = 28;
pub const PHYSDEVOP_pirq_eoi_gmfn: u32 = PHYSDEVOP_pirq_eoi_gmfn_v2;

/// PHYSDEVOP_pirq_eoi_gmfn_v{1,2}.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysdevPirqEoiGmfn {
    pub gmfn: XenPfn,
}

pub const PHYSDEVOP_irq_status_query: u32 = 5;

/// PHYSDEVOP_irq_status_query.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysdevIrqStatusQuery {
    pub irq: u32,
    /// OUT: `XENIRQSTAT_*`.
    pub flags: u32,
}

pub const _XENIRQSTAT_needs_eoi: u32 = 0;
pub const XENIRQSTAT_needs_eoi: u32 = 1 << _XENIRQSTAT_needs_eoi;
pub const _XENIRQSTAT_shared: u32 = 1;
pub const XENIRQSTAT_shared: u32 = 1 << _XENIRQSTAT_shared;

/// Set the virtual IOPL (0-3); with VMASST_TYPE_architectural_iopl it acts
/// like EFLAGS.IOPL, otherwise IOPL >= 1 lets the ring-1 kernel use ports.
pub const PHYSDEVOP_set_iopl: u32 = 6;

/// PHYSDEVOP_set_iopl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysdevSetIopl {
    pub iopl: u32,
}

/// Point Xen at a guest I/O permission bitmap (TSS format: a set bit denies).
pub const PHYSDEVOP_set_iobitmap: u32 = 7;

/// PHYSDEVOP_set_iobitmap.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysdevSetIobitmap {
    pub bitmap: GuestHandle<u8>,
    /// Ports covered by `bitmap`; ports beyond it are denied.
    pub nr_ports: u32,
}

pub const PHYSDEVOP_apic_read: u32 = 8;
pub const PHYSDEVOP_apic_write: u32 = 9;

/// PHYSDEVOP_apic_{read,write} (dom0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysdevApic {
    pub apic_physbase: XenUlong,
    pub reg: u32,
    pub value: u32,
}

pub const PHYSDEVOP_alloc_irq_vector: u32 = 10;
pub const PHYSDEVOP_free_irq_vector: u32 = 11;

/// PHYSDEVOP_{alloc,free}_irq_vector (dom0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysdevIrq {
    pub irq: u32,
    pub vector: u32,
}

pub const MAP_PIRQ_TYPE_MSI: i32 = 0x0;
pub const MAP_PIRQ_TYPE_GSI: i32 = 0x1;
pub const MAP_PIRQ_TYPE_UNKNOWN: i32 = 0x2;
pub const MAP_PIRQ_TYPE_MSI_SEG: i32 = 0x3;
pub const MAP_PIRQ_TYPE_MULTI_MSI: i32 = 0x4;

pub const PHYSDEVOP_map_pirq: u32 = 13;

/// PHYSDEVOP_map_pirq. packed(4): i386 puts `table_base` at offset 28.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysdevMapPirq {
    pub domid: DomId,
    /// `MAP_PIRQ_TYPE_*`.
    pub r#type: i32,
    pub index: i32,
    /// IN/OUT.
    pub pirq: i32,
    pub bus: i32,
    pub devfn: i32,
    /// IN (MSI-X entry) / OUT (multi-MSI count).
    pub entry_nr: i32,
    pub table_base: u64,
}

pub const PHYSDEVOP_unmap_pirq: u32 = 14;

/// PHYSDEVOP_unmap_pirq.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysdevUnmapPirq {
    pub domid: DomId,
    pub pirq: i32,
}

pub const PHYSDEVOP_manage_pci_add: u32 = 15;
pub const PHYSDEVOP_manage_pci_remove: u32 = 16;
pub const PHYSDEVOP_restore_msi: u32 = 19;
pub const PHYSDEVOP_manage_pci_add_ext: u32 = 20;
pub const PHYSDEVOP_setup_gsi: u32 = 21;
pub const PHYSDEVOP_get_free_pirq: u32 = 23;
pub const PHYSDEVOP_pci_mmcfg_reserved: u32 = 24;
pub const PHYSDEVOP_pci_device_add: u32 = 25;
pub const PHYSDEVOP_pci_device_remove: u32 = 26;
pub const PHYSDEVOP_restore_msi_ext: u32 = 27;
pub const PHYSDEVOP_dbgp_op: u32 = 29;
pub const PHYSDEVOP_prepare_msix: u32 = 30;
pub const PHYSDEVOP_release_msix: u32 = 31;
/// Old physdev_op_compat name of the "unmask notify" op.
pub const PHYSDEVOP_IRQ_UNMASK_NOTIFY: u32 = 4;

pub const XEN_PCI_MMCFG_RESERVED: u32 = 0x1;
pub const XEN_PCI_DEV_EXTFN: u32 = 0x1;
pub const XEN_PCI_DEV_VIRTFN: u32 = 0x2;
pub const XEN_PCI_DEV_PXM: u32 = 0x4;

pub const PHYSDEVOP_DBGP_RESET_PREPARE: u8 = 1;
pub const PHYSDEVOP_DBGP_RESET_DONE: u8 = 2;
pub const PHYSDEVOP_DBGP_BUS_UNKNOWN: u8 = 0;
pub const PHYSDEVOP_DBGP_BUS_PCI: u8 = 1;
