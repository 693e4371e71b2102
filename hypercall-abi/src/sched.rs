//! Scheduler operations: xen/include/public/sched.h
//! (HYPERVISOR_sched_op: `cmd` in EBX, argument struct in ECX).

#![allow(non_upper_case_globals)]

use crate::arch_x86_32::GuestHandle;
use crate::event_channel::EvtchnPort;
use crate::xen::DomId;

/// Give up the CPU, staying runnable.
pub const SCHEDOP_yield: u32 = 0;
/// Block until an event is pending; also clears the vCPU's upcall mask, which
/// is how a PV guest idles without `hlt`.
pub const SCHEDOP_block: u32 = 1;
/// Stop the domain with a reason (`sched_shutdown`).
pub const SCHEDOP_shutdown: u32 = 2;
/// Block until one of a set of ports is pending or a timeout passes.
pub const SCHEDOP_poll: u32 = 3;
/// Shut down another domain (privileged).
pub const SCHEDOP_remote_shutdown: u32 = 4;
/// Record a shutdown reason without shutting down (used before suspend).
pub const SCHEDOP_shutdown_code: u32 = 5;
/// Create, refresh or destroy a domain watchdog.
pub const SCHEDOP_watchdog: u32 = 6;
/// Pin the vCPU to a physical CPU temporarily (hardware domain only).
pub const SCHEDOP_pin_override: u32 = 7;

/// SCHEDOP_shutdown, SCHEDOP_shutdown_code.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedShutdown {
    /// `SHUTDOWN_*`.
    pub reason: u32,
}

/// SCHEDOP_poll. packed(4): i386 aligns the u64 to 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedPoll {
    pub ports: GuestHandle<EvtchnPort>,
    pub nr_ports: u32,
    /// Absolute system time in ns; 0 waits for ever.
    pub timeout: u64,
}

/// SCHEDOP_remote_shutdown.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedRemoteShutdown {
    pub domain_id: DomId,
    /// `SHUTDOWN_*`.
    pub reason: u32,
}

/// SCHEDOP_watchdog: `id == 0` allocates, `timeout == 0` destroys.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedWatchdog {
    pub id: u32,
    /// Seconds.
    pub timeout: u32,
}

/// SCHEDOP_pin_override: `pcpu < 0` ends the override.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedPinOverride {
    pub pcpu: i32,
}

/// Exited normally: clean up and destroy.
pub const SHUTDOWN_poweroff: u32 = 0;
/// Clean up, destroy, restart.
pub const SHUTDOWN_reboot: u32 = 1;
/// Clean up, save the state, destroy.
pub const SHUTDOWN_suspend: u32 = 2;
/// The guest crashed.
pub const SHUTDOWN_crash: u32 = 3;
/// The domain watchdog expired.
pub const SHUTDOWN_watchdog: u32 = 4;
/// Keep the memory, reset the rest (kexec-style restart).
pub const SHUTDOWN_soft_reset: u32 = 5;
pub const SHUTDOWN_MAX: u32 = 5;
