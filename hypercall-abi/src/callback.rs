//! Callback registration: xen/include/public/callback.h
//! (HYPERVISOR_callback_op: `cmd` in EBX, argument in ECX).

#![allow(non_upper_case_globals)]

use crate::arch_x86_32::XenCallback;

/// Event upcall entry point.
pub const CALLBACKTYPE_event: u16 = 0;
/// Entered when Xen cannot restore the guest's segments on return.
pub const CALLBACKTYPE_failsafe: u16 = 1;
/// 64-bit guests' syscall; not valid for PV32.
pub const CALLBACKTYPE_syscall: u16 = 2;
/// Old number of the sysenter callback, still accepted.
pub const CALLBACKTYPE_sysenter_deprecated: u16 = 3;
/// NMI entry point.
pub const CALLBACKTYPE_nmi: u16 = 4;
/// `sysenter` from ring 3 (32-bit guests on 64-bit Xen).
pub const CALLBACKTYPE_sysenter: u16 = 5;
/// `syscall` from 32-bit ring 3 (32-bit guests on 64-bit Xen).
pub const CALLBACKTYPE_syscall32: u16 = 7;

/// Mask events while the callback runs (an interrupt gate, not a trap gate).
pub const _CALLBACKF_mask_events: u32 = 0;
pub const CALLBACKF_mask_events: u16 = 1 << _CALLBACKF_mask_events;

pub const CALLBACKOP_register: u32 = 0;
pub const CALLBACKOP_unregister: u32 = 1;

/// CALLBACKOP_register.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallbackRegister {
    /// `CALLBACKTYPE_*`.
    pub r#type: u16,
    /// `CALLBACKF_*`.
    pub flags: u16,
    pub address: XenCallback,
}

/// CALLBACKOP_unregister. The event and failsafe callbacks cannot be
/// unregistered.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallbackUnregister {
    pub r#type: u16,
    pub _unused: u16,
}
