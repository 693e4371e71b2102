//! Guest CPU state (SDM Vol. 3A ch. 2-3: registers, EFLAGS, segments).
//!
//! `GuestCpu` is `#[repr(C)]` because translated code reaches its fields by fixed offsets
//! from a pinned host register. While translated code runs, the general registers and the
//! arithmetic flags live in host registers; they are written back here at every exit.

pub mod flags;
pub mod seg;

pub use flags::Eflags;
pub use seg::{SegReg, Segment};

/// IA-32 general register numbers, in instruction-encoding order.
pub const EAX: usize = 0;
pub const ECX: usize = 1;
pub const EDX: usize = 2;
pub const EBX: usize = 3;
pub const ESP: usize = 4;
pub const EBP: usize = 5;
pub const ESI: usize = 6;
pub const EDI: usize = 7;

pub const REG_NAMES: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

/// The x87/MMX/SSE register file in FXSAVE layout (SDM Vol. 1, 10.5.1). Kept in the CPU
/// struct from the start so that the FP work only adds code, not state.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct FxState(pub [u8; 512]);

impl Default for FxState {
    fn default() -> Self {
        // FNINIT/reset values: FCW 0x037F, MXCSR 0x1F80.
        let mut s = [0u8; 512];
        s[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        s[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        Self(s)
    }
}

/// Architectural state of one guest vCPU.
#[repr(C)]
#[derive(Clone)]
pub struct GuestCpu {
    pub gpr: [u32; 8],
    pub eip: u32,
    /// EFLAGS as the guest would read it with PUSHF (IF/IOPL virtualised by the PV layer).
    pub eflags: u32,
    pub seg: [Segment; 6],
    /// Current privilege level (the RPL of CS): 1 for a PV kernel, 3 for user code.
    pub cpl: u8,
    pub _pad: [u8; 3],
    pub cr0: u32,
    pub cr2: u32,
    pub cr3: u32,
    pub cr4: u32,
    pub dr: [u32; 8],
    /// Linear base and limit of the GDT and LDT the segment loads read descriptors from.
    pub gdt_base: u32,
    pub gdt_limit: u32,
    pub ldt_base: u32,
    pub ldt_limit: u32,
    pub ldt_sel: u16,
    pub _pad2: [u16; 3],
    /// Virtual time stamp counter offset added to the host TSC by RDTSC.
    pub tsc_offset: u64,
    pub fx: FxState,
}

impl Default for GuestCpu {
    fn default() -> Self {
        Self {
            gpr: [0; 8],
            eip: 0,
            eflags: Eflags::FIXED1.bits() | Eflags::IF.bits(),
            seg: [Segment::default(); 6],
            cpl: 3,
            _pad: [0; 3],
            cr0: 0x8000_0033, // PG|NE|ET|MP|PE, as a Linux process sees it.
            cr2: 0,
            cr3: 0,
            cr4: 0,
            dr: [0; 8],
            gdt_base: 0,
            gdt_limit: 0,
            ldt_base: 0,
            ldt_limit: 0,
            ldt_sel: 0,
            _pad2: [0; 3],
            tsc_offset: 0,
            fx: FxState::default(),
        }
    }
}

impl GuestCpu {
    pub fn seg(&self, s: SegReg) -> &Segment {
        &self.seg[s as usize]
    }
    pub fn seg_mut(&mut self, s: SegReg) -> &mut Segment {
        &mut self.seg[s as usize]
    }
    /// True when CS, DS, ES and SS are all base 0 with 4 GiB limits: translated code may then
    /// skip segmentation for them entirely.
    pub fn flat(&self) -> bool {
        [SegReg::Cs, SegReg::Ds, SegReg::Es, SegReg::Ss]
            .iter()
            .all(|&s| self.seg(s).is_flat())
    }
}
