//! Why translated code stopped: exits and guest faults are data (cf. kvm-ioctls' `VcpuExit`).
//! A guest fault is never a host error; the two are kept apart.

/// IA-32 exception vectors (SDM Vol. 3A, table 6-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Vector {
    DE = 0,
    DB = 1,
    NMI = 2,
    BP = 3,
    OF = 4,
    BR = 5,
    UD = 6,
    NM = 7,
    DF = 8,
    TS = 10,
    NP = 11,
    SS = 12,
    GP = 13,
    PF = 14,
    MF = 16,
    AC = 17,
    MC = 18,
    XM = 19,
}

impl Vector {
    pub fn has_error_code(self) -> bool {
        matches!(
            self,
            Vector::DF
                | Vector::TS
                | Vector::NP
                | Vector::SS
                | Vector::GP
                | Vector::PF
                | Vector::AC
        )
    }
    pub fn from_u8(v: u8) -> Option<Vector> {
        use Vector::*;
        Some(match v {
            0 => DE,
            1 => DB,
            2 => NMI,
            3 => BP,
            4 => OF,
            5 => BR,
            6 => UD,
            7 => NM,
            8 => DF,
            10 => TS,
            11 => NP,
            12 => SS,
            13 => GP,
            14 => PF,
            16 => MF,
            17 => AC,
            18 => MC,
            19 => XM,
            _ => return None,
        })
    }
}

/// Page-fault error code bits (SDM Vol. 3A, 4.7).
pub const PFEC_PRESENT: u32 = 1 << 0;
pub const PFEC_WRITE: u32 = 1 << 1;
pub const PFEC_USER: u32 = 1 << 2;
pub const PFEC_INSN: u32 = 1 << 4;

/// An architectural exception raised by a guest instruction. `GuestCpu::eip` names the
/// instruction for faults, the next instruction for traps (#BP, #OF, #DB after the fact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: Vector,
    pub error_code: u32,
    /// The linear address of a #PF.
    pub cr2: u32,
}

impl Fault {
    pub const fn new(vector: Vector) -> Self {
        Self {
            vector,
            error_code: 0,
            cr2: 0,
        }
    }
    pub const fn gp(error_code: u32) -> Self {
        Self {
            vector: Vector::GP,
            error_code,
            cr2: 0,
        }
    }
    pub const fn ss(error_code: u32) -> Self {
        Self {
            vector: Vector::SS,
            error_code,
            cr2: 0,
        }
    }
    pub const fn np(error_code: u32) -> Self {
        Self {
            vector: Vector::NP,
            error_code,
            cr2: 0,
        }
    }
    pub const fn ud() -> Self {
        Self::new(Vector::UD)
    }
    pub const fn pf(addr: u32, error_code: u32) -> Self {
        Self {
            vector: Vector::PF,
            error_code,
            cr2: addr,
        }
    }
}

/// What the run loop hands back to its caller (the PV layer or the Linux runner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// An exception; the CPU state is the architectural state at delivery.
    Fault(Fault),
    /// `int n` (CD ib). `eip` points after the instruction, as the pushed return address
    /// would; `len` lets the system layer turn a gate check failure into #GP at the insn.
    SoftInt { vector: u8, len: u8 },
    /// `hlt` reached at a privilege level that may execute it.
    Halt,
    /// An asynchronous stop was requested (`Engine::request_stop`).
    Stopped,
}
