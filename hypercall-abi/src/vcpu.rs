//! vCPU operations: xen/include/public/vcpu.h
//! (HYPERVISOR_vcpu_op: `cmd` in EBX, vCPU id in ECX, argument in EDX).

#![allow(non_upper_case_globals)]

use crate::arch_x86_32::GuestHandle;
use crate::xen::VcpuTimeInfo;
use core::fmt;

/// The context VCPUOP_initialise takes: the x86_32 (compat) layout.
pub use crate::arch_x86_32::VcpuGuestContext;

/// Set the initial state of a vCPU that is down (`vcpu_guest_context`).
pub const VCPUOP_initialise: u32 = 0;
pub const VCPUOP_up: u32 = 1;
pub const VCPUOP_down: u32 = 2;
/// Returns 1 if the vCPU is up.
pub const VCPUOP_is_up: u32 = 3;
pub const VCPUOP_get_runstate_info: u32 = 4;
pub const VCPUOP_register_runstate_memory_area: u32 = 5;
pub const VCPUOP_set_periodic_timer: u32 = 6;
pub const VCPUOP_stop_periodic_timer: u32 = 7;
pub const VCPUOP_set_singleshot_timer: u32 = 8;
pub const VCPUOP_stop_singleshot_timer: u32 = 9;
pub const VCPUOP_register_vcpu_info: u32 = 10;
pub const VCPUOP_send_nmi: u32 = 11;
pub const VCPUOP_get_physid: u32 = 12;
pub const VCPUOP_register_vcpu_time_memory_area: u32 = 13;

/// Set in `state_entry_time` while Xen updates a guest-mapped runstate area
/// (with VMASST_TYPE_runstate_update_flag).
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// `struct vcpu_runstate_info`: 44 bytes on x86_32.
///
/// packed(4) matters here: i386 puts `state_entry_time` at offset 4, where a
/// natural u64 alignment would put it at 8.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuRunstateInfo {
    /// `RUNSTATE_*`.
    pub state: i32,
    /// System time (ns) the current state was entered.
    pub state_entry_time: u64,
    /// Time (ns) spent in each `RUNSTATE_*`.
    pub time: [u64; 4],
}

pub const RUNSTATE_running: i32 = 0;
pub const RUNSTATE_runnable: i32 = 1;
pub const RUNSTATE_blocked: i32 = 2;
pub const RUNSTATE_offline: i32 = 3;

/// `vcpu_register_runstate_memory_area.addr`. The C union also has a pointer
/// member `v`, which for a 32-bit guest is the same 4 bytes as `h`.
///
/// packed(4): i386 aligns the u64 to 4. Xen reads only `h` for 32-bit guests;
/// `h` covers bytes 0-3, which both members initialise, so [`Self::h`] is safe.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub union VcpuRunstateAreaAddr {
    pub h: GuestHandle<VcpuRunstateInfo>,
    pub p: u64,
}

impl VcpuRunstateAreaAddr {
    pub const fn h(self) -> GuestHandle<VcpuRunstateInfo> {
        // SAFETY: both members start at offset 0 and cover at least bytes 0-3
        // with plain integers, so those bytes are initialised whichever member
        // was written; any u32 is a valid GuestHandle.
        unsafe { self.h }
    }
}

impl Default for VcpuRunstateAreaAddr {
    fn default() -> Self {
        Self { p: 0 }
    }
}
impl fmt::Debug for VcpuRunstateAreaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h().fmt(f)
    }
}

/// VCPUOP_register_runstate_memory_area: Xen keeps a runstate copy there.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuRegisterRunstateMemoryArea {
    pub addr: VcpuRunstateAreaAddr,
}

/// VCPUOP_set_periodic_timer. packed(4): i386 aligns the u64 to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuSetPeriodicTimer {
    pub period_ns: u64,
}

/// VCPUOP_set_singleshot_timer: 12 bytes on x86_32.
///
/// packed(4): natural alignment would pad it to 16 bytes.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuSetSingleshotTimer {
    /// Absolute system time (ns).
    pub timeout_abs_ns: u64,
    /// `VCPU_SSHOTTMR_*`.
    pub flags: u32,
}

/// Fail with -ETIME if the timeout has passed (Xen may ignore it).
pub const _VCPU_SSHOTTMR_future: u32 = 0;
pub const VCPU_SSHOTTMR_future: u32 = 1 << _VCPU_SSHOTTMR_future;

/// VCPUOP_register_vcpu_info: move the vcpu_info out of shared_info (needed
/// for vCPUs >= XEN_LEGACY_MAX_VCPUS). packed(4): i386 aligns the u64 to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuRegisterVcpuInfo {
    /// Frame (guest's view) of the page to hold the vcpu_info.
    pub mfn: u64,
    /// Offset in that page; the vcpu_info must not cross the page end.
    pub offset: u32,
    pub rsvd: u32,
}

/// VCPUOP_get_physid (privileged). packed(4): i386 aligns the u64 to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuGetPhysid {
    /// APIC id in bits 0-31, ACPI id in bits 32-63.
    pub phys_id: u64,
}

/// `xen_vcpu_physid_to_x86_apicid`.
pub const fn xen_vcpu_physid_to_x86_apicid(physid: u64) -> u32 {
    // Truncation intended: the APIC id is the low half.
    physid as u32
}

/// `xen_vcpu_physid_to_x86_acpiid`.
pub const fn xen_vcpu_physid_to_x86_acpiid(physid: u64) -> u32 {
    (physid >> 32) as u32
}

/// `vcpu_register_time_memory_area.addr`; see [`VcpuRunstateAreaAddr`].
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub union VcpuTimeAreaAddr {
    pub h: GuestHandle<VcpuTimeInfo>,
    pub p: u64,
}

impl VcpuTimeAreaAddr {
    pub const fn h(self) -> GuestHandle<VcpuTimeInfo> {
        // SAFETY: as for VcpuRunstateAreaAddr::h: bytes 0-3 are initialised
        // integers whichever member was written.
        unsafe { self.h }
    }
}

impl Default for VcpuTimeAreaAddr {
    fn default() -> Self {
        Self { p: 0 }
    }
}
impl fmt::Debug for VcpuTimeAreaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h().fmt(f)
    }
}

/// VCPUOP_register_vcpu_time_memory_area: an extra vcpu_time_info copy, for
/// user-space clocks.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuRegisterTimeMemoryArea {
    pub addr: VcpuTimeAreaAddr,
}
