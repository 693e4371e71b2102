//! Core PV interface: xen/include/public/xen.h (with xen-compat.h), as seen by
//! a 32-bit guest of Xen 4.17.
//!
//! Constant names are Xen's, case included, so that a grep for a Xen name
//! finds its Rust twin and the layout test can pair them mechanically.

#![allow(non_upper_case_globals)]

use crate::arch_x86_32::{ArchSharedInfo, ArchVcpuInfo, GuestHandle, XenPfn, XenUlong};
use core::fmt;

/// `__XEN_LATEST_INTERFACE_VERSION__` of the headers these types mirror
/// (Xen 4.14 onwards, unchanged in 4.17).
pub const XEN_INTERFACE_VERSION: u32 = 0x0004_0e00;

/// `domid_t`.
pub type DomId = u16;
/// `xen_domain_handle_t`: the domain's UUID.
pub type XenDomainHandle = [u8; 16];

macro_rules! hypercalls {
    ($($(#[$doc:meta])* $variant:ident = $konst:ident = $nr:literal,)*) => {
        $($(#[$doc])* pub const $konst: u32 = $nr;)*

        /// Hypercall numbers (`__HYPERVISOR_*`), with Xen's numbers as
        /// discriminants. The guest passes one in EAX.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Hypercall {
            $($(#[$doc])* $variant = $konst,)*
        }

        impl Hypercall {
            /// Every hypercall the headers name, in number order.
            pub const ALL: &'static [Hypercall] = &[$(Hypercall::$variant,)*];

            /// The hypercall for EAX value `nr`, if Xen defines one.
            pub const fn from_nr(nr: u32) -> Option<Self> {
                match nr {
                    $($konst => Some(Hypercall::$variant),)*
                    _ => None,
                }
            }

            /// The number the guest puts in EAX.
            pub const fn nr(self) -> u32 {
                self as u32
            }

            /// Xen's name, without the `__HYPERVISOR_` prefix.
            pub fn name(self) -> &'static str {
                let full = match self {
                    $(Hypercall::$variant => stringify!($konst),)*
                };
                full.strip_prefix("__HYPERVISOR_").unwrap_or(full)
            }
        }

        impl TryFrom<u32> for Hypercall {
            type Error = u32;
            /// Fails with the unknown number, which the guest gets back as -ENOSYS.
            fn try_from(nr: u32) -> Result<Self, u32> {
                Self::from_nr(nr).ok_or(nr)
            }
        }
    };
}

hypercalls! {
    SetTrapTable = __HYPERVISOR_set_trap_table = 0,
    MmuUpdate = __HYPERVISOR_mmu_update = 1,
    SetGdt = __HYPERVISOR_set_gdt = 2,
    StackSwitch = __HYPERVISOR_stack_switch = 3,
    SetCallbacks = __HYPERVISOR_set_callbacks = 4,
    FpuTaskswitch = __HYPERVISOR_fpu_taskswitch = 5,
    /// Superseded by sched_op (since interface 0x00030101).
    SchedOpCompat = __HYPERVISOR_sched_op_compat = 6,
    PlatformOp = __HYPERVISOR_platform_op = 7,
    SetDebugreg = __HYPERVISOR_set_debugreg = 8,
    GetDebugreg = __HYPERVISOR_get_debugreg = 9,
    UpdateDescriptor = __HYPERVISOR_update_descriptor = 10,
    MemoryOp = __HYPERVISOR_memory_op = 12,
    Multicall = __HYPERVISOR_multicall = 13,
    UpdateVaMapping = __HYPERVISOR_update_va_mapping = 14,
    SetTimerOp = __HYPERVISOR_set_timer_op = 15,
    /// Superseded by event_channel_op (since interface 0x00030202).
    EventChannelOpCompat = __HYPERVISOR_event_channel_op_compat = 16,
    XenVersion = __HYPERVISOR_xen_version = 17,
    ConsoleIo = __HYPERVISOR_console_io = 18,
    /// Superseded by physdev_op (since interface 0x00030202).
    PhysdevOpCompat = __HYPERVISOR_physdev_op_compat = 19,
    GrantTableOp = __HYPERVISOR_grant_table_op = 20,
    VmAssist = __HYPERVISOR_vm_assist = 21,
    UpdateVaMappingOtherdomain = __HYPERVISOR_update_va_mapping_otherdomain = 22,
    /// x86 only; does not return to its caller.
    Iret = __HYPERVISOR_iret = 23,
    VcpuOp = __HYPERVISOR_vcpu_op = 24,
    /// x86_64 only: -ENOSYS for 32-bit guests.
    SetSegmentBase = __HYPERVISOR_set_segment_base = 25,
    MmuextOp = __HYPERVISOR_mmuext_op = 26,
    XsmOp = __HYPERVISOR_xsm_op = 27,
    NmiOp = __HYPERVISOR_nmi_op = 28,
    SchedOp = __HYPERVISOR_sched_op = 29,
    CallbackOp = __HYPERVISOR_callback_op = 30,
    XenoprofOp = __HYPERVISOR_xenoprof_op = 31,
    EventChannelOp = __HYPERVISOR_event_channel_op = 32,
    PhysdevOp = __HYPERVISOR_physdev_op = 33,
    HvmOp = __HYPERVISOR_hvm_op = 34,
    Sysctl = __HYPERVISOR_sysctl = 35,
    Domctl = __HYPERVISOR_domctl = 36,
    KexecOp = __HYPERVISOR_kexec_op = 37,
    /// Removed from Xen (tmem); the number stays reserved.
    TmemOp = __HYPERVISOR_tmem_op = 38,
    ArgoOp = __HYPERVISOR_argo_op = 39,
    XenpmuOp = __HYPERVISOR_xenpmu_op = 40,
    DmOp = __HYPERVISOR_dm_op = 41,
    HypfsOp = __HYPERVISOR_hypfs_op = 42,
    /// `__HYPERVISOR_mca` on x86 (arch-x86/xen-mca.h).
    Arch0 = __HYPERVISOR_arch_0 = 48,
    /// Xen-internal on x86 (paging_domctl continuation).
    Arch1 = __HYPERVISOR_arch_1 = 49,
    Arch2 = __HYPERVISOR_arch_2 = 50,
    Arch3 = __HYPERVISOR_arch_3 = 51,
    Arch4 = __HYPERVISOR_arch_4 = 52,
    Arch5 = __HYPERVISOR_arch_5 = 53,
    Arch6 = __HYPERVISOR_arch_6 = 54,
    Arch7 = __HYPERVISOR_arch_7 = 55,
}

/// `__HYPERVISOR_mca` (arch-x86/xen-mca.h).
pub const __HYPERVISOR_mca: u32 = __HYPERVISOR_arch_0;

// ---------------------------------------------------------------------------
// Virtual interrupts, bound with EVTCHNOP_bind_virq. "V." ones are per-vCPU,
// "G." ones global (xen.h's annotations).

/// V. Timer (set_timer_op, periodic and singleshot timers).
pub const VIRQ_TIMER: u32 = 0;
/// V. Request to dump debug state.
pub const VIRQ_DEBUG: u32 = 1;
/// G. (dom0) Input on the emergency console.
pub const VIRQ_CONSOLE: u32 = 2;
/// G. (dom0) A domain changed state.
pub const VIRQ_DOM_EXC: u32 = 3;
/// G. (dom0) Trace buffer has records.
pub const VIRQ_TBUF: u32 = 4;
/// G. (dom0) A domain paused for the debugger.
pub const VIRQ_DEBUGGER: u32 = 6;
/// V. XenOprofile sample.
pub const VIRQ_XENOPROF: u32 = 7;
/// G. (dom0) Console ring has data.
pub const VIRQ_CON_RING: u32 = 8;
/// G. (dom0) Physical CPU state changed.
pub const VIRQ_PCPU_STATE: u32 = 9;
/// G. (dom0) Memory event.
pub const VIRQ_MEM_EVENT: u32 = 10;
/// G. Argo message.
pub const VIRQ_ARGO: u32 = 11;
/// G. (dom0) Xen heap is low.
pub const VIRQ_ENOMEM: u32 = 12;
/// V. PMU interrupt.
pub const VIRQ_XENPMU: u32 = 13;
pub const VIRQ_ARCH_0: u32 = 16;
pub const VIRQ_ARCH_1: u32 = 17;
pub const VIRQ_ARCH_2: u32 = 18;
pub const VIRQ_ARCH_3: u32 = 19;
pub const VIRQ_ARCH_4: u32 = 20;
pub const VIRQ_ARCH_5: u32 = 21;
pub const VIRQ_ARCH_6: u32 = 22;
pub const VIRQ_ARCH_7: u32 = 23;
pub const NR_VIRQS: u32 = 24;

// ---------------------------------------------------------------------------
// HYPERVISOR_mmu_update: the command is in the low 2 bits of `ptr`, which is
// otherwise an 8-byte aligned machine address.

/// `*ptr = val`, checked. `ptr` is the machine address of a PTE.
pub const MMU_NORMAL_PT_UPDATE: u64 = 0;
/// Set the M2P entry of frame `ptr >> 12` to `val`.
pub const MMU_MACHPHYS_UPDATE: u64 = 1;
/// As NORMAL, but keep the A and D bits the hardware set meanwhile.
pub const MMU_PT_UPDATE_PRESERVE_AD: u64 = 2;
/// As NORMAL, but `val` is never translated (auto-translated guests).
pub const MMU_PT_UPDATE_NO_TRANSLATE: u64 = 3;

/// `struct mmu_update`.
///
/// packed(4): i386 aligns u64 to 4 inside structs, so an array of these (and
/// anything embedding one) has 4-byte alignment, not 8.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmuUpdate {
    /// Machine address of the PTE, with the MMU_* command in bits 0-1.
    pub ptr: u64,
    pub val: u64,
}

// HYPERVISOR_mmuext_op commands.
pub const MMUEXT_PIN_L1_TABLE: u32 = 0;
pub const MMUEXT_PIN_L2_TABLE: u32 = 1;
pub const MMUEXT_PIN_L3_TABLE: u32 = 2;
/// Not valid for PV32 guests (no L4).
pub const MMUEXT_PIN_L4_TABLE: u32 = 3;
pub const MMUEXT_UNPIN_TABLE: u32 = 4;
pub const MMUEXT_NEW_BASEPTR: u32 = 5;
pub const MMUEXT_TLB_FLUSH_LOCAL: u32 = 6;
pub const MMUEXT_INVLPG_LOCAL: u32 = 7;
pub const MMUEXT_TLB_FLUSH_MULTI: u32 = 8;
pub const MMUEXT_INVLPG_MULTI: u32 = 9;
pub const MMUEXT_TLB_FLUSH_ALL: u32 = 10;
pub const MMUEXT_INVLPG_ALL: u32 = 11;
pub const MMUEXT_FLUSH_CACHE: u32 = 12;
pub const MMUEXT_SET_LDT: u32 = 13;
/// x86_64 guests only.
pub const MMUEXT_NEW_USER_BASEPTR: u32 = 15;
pub const MMUEXT_CLEAR_PAGE: u32 = 16;
pub const MMUEXT_COPY_PAGE: u32 = 17;
pub const MMUEXT_FLUSH_CACHE_GLOBAL: u32 = 18;
pub const MMUEXT_MARK_SUPER: u32 = 19;
pub const MMUEXT_UNMARK_SUPER: u32 = 20;

/// First argument of `struct mmuext_op`.
///
/// Every member is one 32-bit integer, so any member written initialises the
/// bytes every other member reads: the getters below are safe.
#[repr(C)]
#[derive(Clone, Copy)]
pub union MmuextOpArg1 {
    /// `PIN_*_TABLE`, `UNPIN_TABLE`, `NEW_BASEPTR`, `NEW_USER_BASEPTR`, `CLEAR_PAGE`,
    /// `COPY_PAGE`, `MARK_SUPER`, `UNMARK_SUPER`.
    pub mfn: XenPfn,
    /// INVLPG_LOCAL, INVLPG_ALL, SET_LDT.
    pub linear_addr: XenUlong,
}

impl MmuextOpArg1 {
    pub const fn mfn(self) -> XenPfn {
        // SAFETY: both members are a u32 at offset 0, so whichever was written
        // initialised these 4 bytes, and any u32 bit pattern is valid.
        unsafe { self.mfn }
    }

    pub const fn linear_addr(self) -> XenUlong {
        // SAFETY: as in `mfn`: both members are the same 4 initialised bytes.
        unsafe { self.linear_addr }
    }
}

/// Second argument of `struct mmuext_op`; all members are 32-bit integers,
/// so the getters are safe for the reason given on [`MmuextOpArg1`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union MmuextOpArg2 {
    /// SET_LDT.
    pub nr_ents: u32,
    /// TLB_FLUSH_MULTI, INVLPG_MULTI: a guest bitmap of vCPUs.
    pub vcpumask: GuestHandle<()>,
    /// COPY_PAGE.
    pub src_mfn: XenPfn,
}

impl MmuextOpArg2 {
    pub const fn nr_ents(self) -> u32 {
        // SAFETY: all members are 4 bytes at offset 0 (GuestHandle is a
        // transparent u32), so the bytes are initialised and valid as a u32.
        unsafe { self.nr_ents }
    }

    pub const fn vcpumask(self) -> GuestHandle<()> {
        // SAFETY: as in `nr_ents`; any u32 is a valid GuestHandle.
        unsafe { self.vcpumask }
    }

    pub const fn src_mfn(self) -> XenPfn {
        // SAFETY: as in `nr_ents`.
        unsafe { self.src_mfn }
    }
}

impl Default for MmuextOpArg1 {
    fn default() -> Self {
        Self { mfn: 0 }
    }
}
impl Default for MmuextOpArg2 {
    fn default() -> Self {
        Self { nr_ents: 0 }
    }
}
impl fmt::Debug for MmuextOpArg1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.mfn())
    }
}
impl fmt::Debug for MmuextOpArg2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.nr_ents())
    }
}
impl PartialEq for MmuextOpArg1 {
    fn eq(&self, other: &Self) -> bool {
        self.mfn() == other.mfn()
    }
}
impl Eq for MmuextOpArg1 {}
impl PartialEq for MmuextOpArg2 {
    fn eq(&self, other: &Self) -> bool {
        self.nr_ents() == other.nr_ents()
    }
}
impl Eq for MmuextOpArg2 {}

/// `struct mmuext_op`: 12 bytes on x86_32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmuextOp {
    /// `MMUEXT_*`.
    pub cmd: u32,
    pub arg1: MmuextOpArg1,
    pub arg2: MmuextOpArg2,
}

// update_va_mapping flags: bits 0-1 say what to flush, bit 2 where; any other
// value with bits 0-1 set is a guest pointer to a vCPU bitmap (UVMF_MULTI).
pub const UVMF_NONE: XenUlong = 0;
pub const UVMF_TLB_FLUSH: XenUlong = 1;
pub const UVMF_INVLPG: XenUlong = 2;
pub const UVMF_FLUSHTYPE_MASK: XenUlong = 3;
pub const UVMF_MULTI: XenUlong = 0;
pub const UVMF_LOCAL: XenUlong = 0;
pub const UVMF_ALL: XenUlong = 1 << 2;

// HYPERVISOR_console_io commands.
pub const CONSOLEIO_write: u32 = 0;
pub const CONSOLEIO_read: u32 = 1;

// HYPERVISOR_vm_assist commands and types.
pub const VMASST_CMD_enable: u32 = 0;
pub const VMASST_CMD_disable: u32 = 1;
/// Segments with a 4 GiB limit are allowed (Xen truncates them itself).
pub const VMASST_TYPE_4gb_segments: u32 = 0;
/// Also raise #GP (trap 15) when a truncated segment is used.
pub const VMASST_TYPE_4gb_segments_notify: u32 = 1;
/// Kernel writes to its own L1 tables are emulated instead of faulting.
pub const VMASST_TYPE_writable_pagetables: u32 = 2;
/// L3 tables may live above 4 GiB (CR3 in xen_pfn_to_cr3 form).
pub const VMASST_TYPE_pae_extended_cr3: u32 = 3;
/// IOPL behaves architecturally (physdev_set_iopl sets the virtual IOPL).
pub const VMASST_TYPE_architectural_iopl: u32 = 4;
/// Mark runstate updates with XEN_RUNSTATE_UPDATE.
pub const VMASST_TYPE_runstate_update_flag: u32 = 5;
/// x86_64 only.
pub const VMASST_TYPE_m2p_strict: u32 = 32;

// Special domain ids; real domains are below DOMID_FIRST_RESERVED.
pub const DOMID_FIRST_RESERVED: DomId = 0x7FF0;
pub const DOMID_SELF: DomId = 0x7FF0;
pub const DOMID_IO: DomId = 0x7FF1;
pub const DOMID_XEN: DomId = 0x7FF2;
pub const DOMID_COW: DomId = 0x7FF3;
pub const DOMID_INVALID: DomId = 0x7FF4;
pub const DOMID_IDLE: DomId = 0x7FFF;
pub const DOMID_MASK: DomId = 0x7FFF;

/// `struct multicall_entry`: `xen_ulong_t` throughout, so 32 bytes on
/// x86_32. Arguments wider than 32 bits take two slots, low half first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MulticallEntry {
    pub op: XenUlong,
    pub result: XenUlong,
    pub args: [XenUlong; 6],
}

// ---------------------------------------------------------------------------
// Time and event state shared with the guest.

pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
pub const XEN_PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;

/// `struct vcpu_time_info` (32 bytes).
///
/// packed(4): its u64s are only 4-aligned on i386, so the struct is too; with
/// natural alignment every struct embedding it would change alignment.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuTimeInfo {
    /// Odd while Xen is updating the fields below (a seqlock).
    pub version: u32,
    pub pad0: u32,
    pub tsc_timestamp: u64,
    /// Nanoseconds since boot at `tsc_timestamp`.
    pub system_time: u64,
    /// `time = system_time + (((tsc - tsc_timestamp) << tsc_shift) * mul) >> 32`
    /// (a negative shift shifts right).
    pub tsc_to_system_mul: u32,
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*`.
    pub flags: u8,
    pub pad1: [u8; 2],
}

/// `struct vcpu_info` (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuInfo {
    /// Set by Xen when an event is pending; the guest clears it before
    /// scanning, to avoid a set-and-check race.
    pub evtchn_upcall_pending: u8,
    /// The virtual interrupt flag, inverted: non-zero blocks upcalls.
    pub evtchn_upcall_mask: u8,
    /// One bit per word of `shared_info.evtchn_pending` with a pending port.
    pub evtchn_pending_sel: XenUlong,
    pub arch: ArchVcpuInfo,
    pub time: VcpuTimeInfo,
}

/// `struct shared_info`: the page Xen and the guest share (2344 bytes used).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedInfo {
    pub vcpu_info: [VcpuInfo; crate::arch_x86_32::XEN_LEGACY_MAX_VCPUS],
    /// 2-level event channels: 32 words of 32 ports.
    pub evtchn_pending: [XenUlong; 32],
    pub evtchn_mask: [XenUlong; 32],
    /// Seqlock over the wallclock, as in vcpu_time_info.
    pub wc_version: u32,
    pub wc_sec: u32,
    pub wc_nsec: u32,
    /// Holds `wc_sec_hi` too on i386.
    pub arch: ArchSharedInfo,
}

/// Size of `cmd_line` in start_info.
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// Console fields of start_info: which meaning applies depends on
/// SIF_INITDOMAIN.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StartInfoConsoleDomU {
    /// Machine frame of the console ring page.
    pub mfn: XenPfn,
    pub evtchn: u32,
}

/// Dom0's console fields of start_info.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StartInfoConsoleDom0 {
    /// Offset of a dom0_vga_console_info within start_info's page.
    pub info_off: u32,
    pub info_size: u32,
}

/// `start_info.console`. Both members are two u32s with no padding, so each
/// initialises all 8 bytes and the getters are safe.
#[repr(C)]
#[derive(Clone, Copy)]
pub union StartInfoConsole {
    /// C name `domU`.
    pub dom_u: StartInfoConsoleDomU,
    pub dom0: StartInfoConsoleDom0,
}

impl StartInfoConsole {
    pub const fn dom_u(self) -> StartInfoConsoleDomU {
        // SAFETY: both members are two u32s at offsets 0 and 4 with no padding,
        // so all 8 bytes are initialised and valid for either.
        unsafe { self.dom_u }
    }

    pub const fn dom0(self) -> StartInfoConsoleDom0 {
        // SAFETY: as in `dom_u`.
        unsafe { self.dom0 }
    }
}

impl Default for StartInfoConsole {
    fn default() -> Self {
        Self {
            dom_u: StartInfoConsoleDomU::default(),
        }
    }
}
impl fmt::Debug for StartInfoConsole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.dom_u().fmt(f)
    }
}
impl PartialEq for StartInfoConsole {
    fn eq(&self, other: &Self) -> bool {
        self.dom_u() == other.dom_u()
    }
}
impl Eq for StartInfoConsole {}

/// `struct start_info` (1112 bytes on x86_32). ESI points at it on entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartInfo {
    /// `"xen-<version>-<platform>"`, e.g. "xen-3.0-x86_32p".
    pub magic: [u8; 32],
    pub nr_pages: XenUlong,
    /// Machine address (not frame) of the shared_info page.
    pub shared_info: XenUlong,
    /// `SIF_*`.
    pub flags: u32,
    pub store_mfn: XenPfn,
    pub store_evtchn: u32,
    pub console: StartInfoConsole,
    // The rest is filled in on first boot only, not on resume.
    /// Virtual address of the top-level page table.
    pub pt_base: XenUlong,
    pub nr_pt_frames: XenUlong,
    /// Virtual address of the p2m list.
    pub mfn_list: XenUlong,
    /// Virtual address of the initial module, or its PFN with SIF_MOD_START_PFN.
    pub mod_start: XenUlong,
    pub mod_len: XenUlong,
    /// NUL-terminated (`int8_t` in C).
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    /// PFN range holding the page tables and the p2m list.
    pub first_p2m_pfn: XenUlong,
    pub nr_p2m_frames: XenUlong,
}

impl Default for StartInfo {
    // Written out because `Default` stops at 32-element arrays.
    fn default() -> Self {
        Self {
            magic: [0; 32],
            nr_pages: 0,
            shared_info: 0,
            flags: 0,
            store_mfn: 0,
            store_evtchn: 0,
            console: StartInfoConsole::default(),
            pt_base: 0,
            nr_pt_frames: 0,
            mfn_list: 0,
            mod_start: 0,
            mod_len: 0,
            cmd_line: [0; MAX_GUEST_CMDLINE],
            first_p2m_pfn: 0,
            nr_p2m_frames: 0,
        }
    }
}

// start_info.flags.
pub const SIF_PRIVILEGED: u32 = 1 << 0;
pub const SIF_INITDOMAIN: u32 = 1 << 1;
pub const SIF_MULTIBOOT_MOD: u32 = 1 << 2;
pub const SIF_MOD_START_PFN: u32 = 1 << 3;
pub const SIF_VIRT_P2M_4TOOLS: u32 = 1 << 4;
pub const SIF_PM_MASK: u32 = 0xFF << 8;

/// `struct xen_multiboot_mod_list`: dom0 modules with SIF_MULTIBOOT_MOD.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMultibootModList {
    pub mod_start: u32,
    /// Inclusive.
    pub mod_end: u32,
    pub cmdline: u32,
    pub pad: u32,
}

// dom0_vga_console_info.video_type (the struct itself is dom0-only and not
// mirrored).
pub const XEN_VGATYPE_TEXT_MODE_3: u8 = 0x03;
pub const XEN_VGATYPE_VESA_LFB: u8 = 0x23;
pub const XEN_VGATYPE_EFI_LFB: u8 = 0x70;

/// `xen_uuid_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenUuid {
    pub a: [u8; 16],
}
