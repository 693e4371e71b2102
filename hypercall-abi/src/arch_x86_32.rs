//! x86_32 guest layouts: xen/include/public/arch-x86/xen.h and
//! xen/include/public/arch-x86/xen-x86_32.h, as compiled for `__i386__`.
//!
//! A 64-bit Xen presents these to a 32-bit PV guest through its compat layer
//! (xen/include/compat/, generated from the same headers), so this module is
//! the contract between a translated PV32 guest and whatever runs it.
//!
//! Also here, because they are x86_32 facts no public header spells out: the
//! hypercall page layout (xen/arch/x86/pv/hypercall.c), the compat M2P window
//! (xen/arch/x86/include/asm/config.h) and the PAE page-table bits
//! (Intel SDM Vol. 3A, 4.4).

#![allow(non_upper_case_globals)]

use core::fmt;
use core::marker::PhantomData;

/// `xen_ulong_t`: `unsigned long`, 32 bits on i386.
pub type XenUlong = u32;
/// `xen_pfn_t`: a frame number, 32 bits on i386 (so a PV32 guest cannot name
/// frames at or above 2^32 pages).
pub type XenPfn = u32;
/// `tsc_timestamp_t`.
pub type TscTimestamp = u64;

/// `XEN_GUEST_HANDLE(T)`: a guest virtual address of a `T` (array), 32 bits
/// wide for a PV32 guest.
///
/// Kept distinct from a plain `u32` so a handle cannot be mixed up with a frame
/// number or a length; the pointee type records what the hypercall expects to
/// find there, it is never dereferenced here.
#[repr(transparent)]
pub struct GuestHandle<T> {
    addr: u32,
    // `fn() -> T` keeps the handle Send + Sync and Copy whatever T is.
    _pointee: PhantomData<fn() -> T>,
}

impl<T> GuestHandle<T> {
    /// The NULL handle, which several ops read as "no buffer".
    pub const NULL: Self = Self::new(0);

    /// A handle for guest virtual address `addr`.
    pub const fn new(addr: u32) -> Self {
        Self {
            addr,
            _pointee: PhantomData,
        }
    }

    /// The guest virtual address.
    pub const fn addr(self) -> u32 {
        self.addr
    }

    /// Whether this is the NULL handle.
    pub const fn is_null(self) -> bool {
        self.addr == 0
    }

    /// The same address seen as a handle to `U` (`guest_handle_cast`).
    pub const fn cast<U>(self) -> GuestHandle<U> {
        GuestHandle::new(self.addr)
    }
}

// Manual impls: derives would demand `T: Clone` etc., but a handle is only an
// address whatever it points to.
impl<T> Clone for GuestHandle<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for GuestHandle<T> {}
impl<T> Default for GuestHandle<T> {
    fn default() -> Self {
        Self::NULL
    }
}
impl<T> PartialEq for GuestHandle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}
impl<T> Eq for GuestHandle<T> {}
impl<T> fmt::Debug for GuestHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GuestHandle({:#x})", self.addr)
    }
}

// ---------------------------------------------------------------------------
// Flat segments (xen-x86_32.h). Xen's GDT reserves entries 259..262 from
// FIRST_RESERVED_GDT_ENTRY for flat 4 GiB segments; the kernel runs in ring 1.

/// Ring 1 (kernel) code, GDT index 259.
pub const FLAT_RING1_CS: u16 = 0xe019;
/// Ring 1 (kernel) data, GDT index 260.
pub const FLAT_RING1_DS: u16 = 0xe021;
/// Ring 1 stack: the same descriptor as the data segment.
pub const FLAT_RING1_SS: u16 = 0xe021;
/// Ring 3 (user) code, GDT index 261.
pub const FLAT_RING3_CS: u16 = 0xe02b;
/// Ring 3 (user) data, GDT index 262.
pub const FLAT_RING3_DS: u16 = 0xe033;
/// Ring 3 stack: the same descriptor as the data segment.
pub const FLAT_RING3_SS: u16 = 0xe033;
pub const FLAT_KERNEL_CS: u16 = FLAT_RING1_CS;
pub const FLAT_KERNEL_DS: u16 = FLAT_RING1_DS;
pub const FLAT_KERNEL_SS: u16 = FLAT_RING1_SS;
pub const FLAT_USER_CS: u16 = FLAT_RING3_CS;
pub const FLAT_USER_DS: u16 = FLAT_RING3_DS;
pub const FLAT_USER_SS: u16 = FLAT_RING3_SS;

// ---------------------------------------------------------------------------
// Virtual address layout (xen-x86_32.h). These describe the obsolete native
// 32-bit Xen; a 64-bit Xen keeps the same start for compat guests but a larger
// M2P window (see MACH2PHYS_COMPAT_VIRT_END), so guests must ask
// XENMEM_machphys_mapping rather than trust MACH2PHYS_VIRT_END.

pub const __HYPERVISOR_VIRT_START_PAE: u32 = 0xF580_0000;
pub const __MACH2PHYS_VIRT_START_PAE: u32 = 0xF580_0000;
pub const __MACH2PHYS_VIRT_END_PAE: u32 = 0xF680_0000;
pub const HYPERVISOR_VIRT_START_PAE: XenUlong = __HYPERVISOR_VIRT_START_PAE;
pub const MACH2PHYS_VIRT_START_PAE: XenUlong = __MACH2PHYS_VIRT_START_PAE;
pub const MACH2PHYS_VIRT_END_PAE: XenUlong = __MACH2PHYS_VIRT_END_PAE;
/// Non-PAE bounds: obsolete, no domain builder accepts non-PAE guests.
pub const __HYPERVISOR_VIRT_START_NONPAE: u32 = 0xFC00_0000;
pub const __MACH2PHYS_VIRT_START_NONPAE: u32 = 0xFC00_0000;
pub const __MACH2PHYS_VIRT_END_NONPAE: u32 = 0xFC40_0000;
pub const HYPERVISOR_VIRT_START_NONPAE: XenUlong = __HYPERVISOR_VIRT_START_NONPAE;
pub const MACH2PHYS_VIRT_START_NONPAE: XenUlong = __MACH2PHYS_VIRT_START_NONPAE;
pub const MACH2PHYS_VIRT_END_NONPAE: XenUlong = __MACH2PHYS_VIRT_END_NONPAE;
pub const __HYPERVISOR_VIRT_START: u32 = __HYPERVISOR_VIRT_START_PAE;
pub const __MACH2PHYS_VIRT_START: u32 = __MACH2PHYS_VIRT_START_PAE;
pub const __MACH2PHYS_VIRT_END: u32 = __MACH2PHYS_VIRT_END_PAE;
pub const HYPERVISOR_VIRT_START: XenUlong = __HYPERVISOR_VIRT_START;
pub const MACH2PHYS_VIRT_START: XenUlong = __MACH2PHYS_VIRT_START;
pub const MACH2PHYS_VIRT_END: XenUlong = __MACH2PHYS_VIRT_END;
/// M2P entries are 4 bytes (one `unsigned long` per machine frame).
pub const MACH2PHYS_NR_ENTRIES: XenUlong = (MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) >> 2;

/// Default start of the hypervisor hole a 64-bit Xen leaves a compat guest
/// (`__HYPERVISOR_COMPAT_VIRT_START`, xen/arch/x86/include/asm/config.h).
/// Only dom0 can move it lower; the M2P window starts here.
pub const HYPERVISOR_COMPAT_VIRT_START: u32 = 0xF580_0000;
/// End of the compat M2P window (`MACH2PHYS_COMPAT_VIRT_END`,
/// xen/arch/x86/include/asm/config.h); the top 2 MiB stay unmapped.
pub const MACH2PHYS_COMPAT_VIRT_END: u32 = 0xFFE0_0000;

/// First GDT frame Xen reserves for itself; guests own frames 0..14.
pub const FIRST_RESERVED_GDT_PAGE: u32 = 14;
pub const FIRST_RESERVED_GDT_BYTE: u32 = FIRST_RESERVED_GDT_PAGE * 4096;
pub const FIRST_RESERVED_GDT_ENTRY: u32 = FIRST_RESERVED_GDT_BYTE / 8;

/// vcpu_info slots in shared_info; later vCPUs need VCPUOP_register_vcpu_info.
pub const XEN_LEGACY_MAX_VCPUS: usize = 32;

/// CPUID leaf with no subleaf, in `xen_cpuid_leaf`.
pub const XEN_CPUID_NO_SUBLEAF: u32 = 0xffff_ffff;
/// Port of the HVM debug console (unused by PV, listed for completeness).
pub const XEN_HVM_DEBUGCONS_IOPORT: u16 = 0xe9;

/// Bytes of `XEN_EMULATE_PREFIX` (`ud2; .ascii "xen"`): before `cpuid` it asks
/// Xen for the policy-filtered CPUID instead of the raw one.
pub const XEN_EMULATE_PREFIX: [u8; 5] = [0x0f, 0x0b, 0x78, 0x65, 0x6e];

/// `xen_pfn_to_cr3`: PAE CR3 is only 32 bits, so the frame number is rotated
/// left by 12 to let frames above 4 GiB be named ("extended CR3").
pub const fn xen_pfn_to_cr3(pfn: u32) -> u32 {
    pfn.rotate_left(12)
}

/// `xen_cr3_to_pfn`: inverse of [`xen_pfn_to_cr3`].
pub const fn xen_cr3_to_pfn(cr3: u32) -> u32 {
    cr3.rotate_right(12)
}

// ---------------------------------------------------------------------------
// Register and trap state.

/// `struct cpu_user_regs` (x86_32). The 16-bit names that Xen and tools see
/// through anonymous unions (`ax`, `al`...) are left out; guests see only the
/// 32-bit names.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuUserRegs {
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
    pub esi: u32,
    pub edi: u32,
    pub ebp: u32,
    pub eax: u32,
    /// Private to Xen.
    pub error_code: u16,
    /// Private to Xen.
    pub entry_vector: u16,
    pub eip: u32,
    pub cs: u16,
    /// The event mask the bounce frame saved; `eflags.IF == !saved_upcall_mask`.
    pub saved_upcall_mask: u8,
    pub _pad0: u8,
    pub eflags: u32,
    pub esp: u32,
    pub ss: u16,
    pub _pad1: u16,
    pub es: u16,
    pub _pad2: u16,
    pub ds: u16,
    pub _pad3: u16,
    pub fs: u16,
    pub _pad4: u16,
    pub gs: u16,
    pub _pad5: u16,
}

/// `struct trap_info`: one virtual IDT entry for HYPERVISOR_set_trap_table.
/// A table ends at the first entry with `address == 0`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapInfo {
    pub vector: u8,
    /// Bits 0-1: the lowest ring allowed to raise the vector with `int n`;
    /// bit 2: mask events on entry (an interrupt gate rather than a trap gate).
    pub flags: u8,
    pub cs: u16,
    pub address: XenUlong,
}

impl TrapInfo {
    /// `TI_GET_DPL`.
    pub const fn dpl(&self) -> u8 {
        self.flags & 3
    }

    /// `TI_GET_IF`: non-zero when entering masks events.
    pub const fn masks_events(&self) -> bool {
        self.flags & 4 != 0
    }

    /// `TI_SET_DPL`. Like the C macro this ORs: it cannot lower a DPL already set.
    pub fn set_dpl(&mut self, dpl: u8) {
        self.flags |= dpl;
    }

    /// `TI_SET_IF`. ORs, like the C macro.
    pub fn set_masks_events(&mut self, mask: bool) {
        self.flags |= u8::from(mask) << 2;
    }
}

// VGCF_* flags of vcpu_guest_context.flags.
pub const VGCF_I387_VALID: u32 = 1 << 0;
pub const VGCF_IN_KERNEL: u32 = 1 << 2;
pub const _VGCF_i387_valid: u32 = 0;
pub const VGCF_i387_valid: u32 = 1 << _VGCF_i387_valid;
pub const _VGCF_in_kernel: u32 = 2;
pub const VGCF_in_kernel: u32 = 1 << _VGCF_in_kernel;
pub const _VGCF_failsafe_disables_events: u32 = 3;
pub const VGCF_failsafe_disables_events: u32 = 1 << _VGCF_failsafe_disables_events;
pub const _VGCF_syscall_disables_events: u32 = 4;
pub const VGCF_syscall_disables_events: u32 = 1 << _VGCF_syscall_disables_events;
pub const _VGCF_online: u32 = 5;
pub const VGCF_online: u32 = 1 << _VGCF_online;

/// `struct vcpu_guest_context` (x86_32): the compat layout VCPUOP_initialise
/// takes and the VCPU_BASIC save record carries.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuGuestContext {
    /// FXSAVE image; first so that it can be 16-byte aligned.
    pub fpu_ctxt: [u8; 512],
    /// `VGCF_*`.
    pub flags: XenUlong,
    pub user_regs: CpuUserRegs,
    /// The virtual IDT.
    pub trap_ctxt: [TrapInfo; 256],
    pub ldt_base: XenUlong,
    pub ldt_ents: XenUlong,
    /// Machine frames; only the first FIRST_RESERVED_GDT_PAGE may be used.
    pub gdt_frames: [XenUlong; 16],
    pub gdt_ents: XenUlong,
    /// Virtual TSS: only SS1/ESP1 exist.
    pub kernel_ss: XenUlong,
    pub kernel_sp: XenUlong,
    pub ctrlreg: [XenUlong; 8],
    pub debugreg: [XenUlong; 8],
    pub event_callback_cs: XenUlong,
    pub event_callback_eip: XenUlong,
    pub failsafe_callback_cs: XenUlong,
    pub failsafe_callback_eip: XenUlong,
    /// Bitmap of `1 << VMASST_TYPE_*`.
    pub vm_assist: XenUlong,
}

impl Default for VcpuGuestContext {
    // Written out because `Default` stops at 32-element arrays.
    fn default() -> Self {
        Self {
            fpu_ctxt: [0; 512],
            flags: 0,
            user_regs: CpuUserRegs::default(),
            trap_ctxt: [TrapInfo::default(); 256],
            ldt_base: 0,
            ldt_ents: 0,
            gdt_frames: [0; 16],
            gdt_ents: 0,
            kernel_ss: 0,
            kernel_sp: 0,
            ctrlreg: [0; 8],
            debugreg: [0; 8],
            event_callback_cs: 0,
            event_callback_eip: 0,
            failsafe_callback_cs: 0,
            failsafe_callback_eip: 0,
            vm_assist: 0,
        }
    }
}

/// `struct arch_vcpu_info` (x86_32); pads vcpu_info to 64 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchVcpuInfo {
    /// CR2 of the last page fault bounced to the guest.
    pub cr2: XenUlong,
    pub pad: [XenUlong; 5],
}

/// `struct xen_callback` (x86_32): a far pointer, as callbacks may use any
/// ring-1 code segment.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenCallback {
    pub cs: XenUlong,
    pub eip: XenUlong,
}

/// `struct arch_shared_info` (x86_32).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchSharedInfo {
    /// Entries in the p2m reachable from the frame-list list or p2m_vaddr.
    pub max_pfn: XenUlong,
    /// 0: not set up; !0: invalid, use p2m_vaddr.
    pub pfn_to_mfn_frame_list_list: XenPfn,
    pub nmi_reason: XenUlong,
    /// Folded (xen_pfn_to_cr3) root of the address space p2m_vaddr lives in;
    /// the next two fields are valid only when it is non-zero.
    pub p2m_cr3: XenUlong,
    pub p2m_vaddr: XenUlong,
    /// Odd while the guest is changing the p2m mapping.
    pub p2m_generation: XenUlong,
    /// High word of shared_info.wc_sec: i386 had no room for it there.
    pub wc_sec_hi: u32,
}

// ---------------------------------------------------------------------------
// Hypercall page (xen/arch/x86/pv/hypercall.c, pv_ring1_init_hypercall_page).

/// Vector of the PV32 hypercall gate. Its DPL is 1: ring 3 cannot call it.
pub const HYPERCALL_VECTOR: u8 = 0x82;
/// Each hypercall owns one 32-byte slot; the guest calls `page + 32 * nr`.
pub const HYPERCALL_SLOT_SIZE: usize = 32;
/// Slots in the 4 KiB page.
pub const HYPERCALL_SLOTS: usize = 4096 / HYPERCALL_SLOT_SIZE;
/// Filler for everything outside the stubs: `int3`.
pub const HYPERCALL_PAGE_FILL: u8 = 0xcc;
/// A guest `wrmsr` of `frame << 12` to this MSR (the base Xen's CPUID leaf
/// 0x40000x02 reports) asks Xen to write the hypercall page into that frame.
pub const HYPERCALL_PAGE_MSR: u32 = 0x4000_0000;

/// The 32 bytes of slot `nr`: `mov $nr,%eax; int $0x82; ret`, then int3.
///
/// The iret slot (23) differs: guests jump to it rather than call it, with
/// the iret frame on the stack, so it saves EAX first and has no `ret`.
pub const fn hypercall_stub(nr: u32) -> [u8; HYPERCALL_SLOT_SIZE] {
    let mut s = [HYPERCALL_PAGE_FILL; HYPERCALL_SLOT_SIZE];
    let n = nr.to_le_bytes();
    if nr == crate::xen::__HYPERVISOR_iret {
        s[0] = 0x50; // push %eax
        s[1] = 0xb8; // mov $imm32,%eax
        s[2] = n[0];
        s[3] = n[1];
        s[4] = n[2];
        s[5] = n[3];
        s[6] = 0xcd; // int $HYPERCALL_VECTOR
        s[7] = HYPERCALL_VECTOR;
    } else {
        s[0] = 0xb8;
        s[1] = n[0];
        s[2] = n[1];
        s[3] = n[2];
        s[4] = n[3];
        s[5] = 0xcd;
        s[6] = HYPERCALL_VECTOR;
        s[7] = 0xc3; // ret
    }
    s
}

/// The whole hypercall page as Xen writes it.
pub const fn hypercall_page() -> [u8; 4096] {
    let mut page = [HYPERCALL_PAGE_FILL; 4096];
    let mut i = 0;
    while i < HYPERCALL_SLOTS {
        // i < 128, so the cast cannot truncate.
        let stub = hypercall_stub(i as u32);
        let mut j = 0;
        while j < HYPERCALL_SLOT_SIZE {
            page[i * HYPERCALL_SLOT_SIZE + j] = stub[j];
            j += 1;
        }
        i += 1;
    }
    page
}

// ---------------------------------------------------------------------------
// PAE page-table entry bits (Intel SDM Vol. 3A, 4.4.2). Not in any public Xen
// header: Xen and guests each define them; these are the architectural values.

pub const _PAGE_PRESENT: u64 = 1 << 0;
pub const _PAGE_RW: u64 = 1 << 1;
pub const _PAGE_USER: u64 = 1 << 2;
pub const _PAGE_PWT: u64 = 1 << 3;
pub const _PAGE_PCD: u64 = 1 << 4;
pub const _PAGE_ACCESSED: u64 = 1 << 5;
pub const _PAGE_DIRTY: u64 = 1 << 6;
/// PAT in an L1 entry, PSE (2 MiB page) in an L2 entry.
pub const _PAGE_PAT: u64 = 1 << 7;
pub const _PAGE_PSE: u64 = 1 << 7;
pub const _PAGE_GLOBAL: u64 = 1 << 8;
/// Bits 9-11, free for software.
pub const _PAGE_AVAIL: u64 = 0x7 << 9;
pub const _PAGE_NX: u64 = 1 << 63;
/// Machine frame number field of a PAE entry (bits 12-51).
pub const PAE_PTE_MFN_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Flags Xen refuses in a PV32 guest's L3 entries (`l3_disallow_mask` for
/// 32-bit PV domains, xen/arch/x86/mm.c). It is in Xen's 24-bit flag form
/// (`get_pte_flags`): bits 0-11 are PTE bits 0-11, bits 12-23 are PTE bits
/// 52-63, so it rejects PWT, PCD, PSE, G and every high bit including NX.
pub const COMPAT_L3_DISALLOW_MASK: u32 = 0xFFFF_F198;
