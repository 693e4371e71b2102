//! Code fragments for differential testing: the same case runs under the translator
//! ([`run_translated`]) and natively on the host CPU ([`super::oracle`]), and the results
//! must be equal.
//!
//! A case maps its regions (code and data, page-aligned), loads the registers and EFLAGS,
//! sets the Linux i386 user segments (CS 0x23, DS/ES/SS 0x2b, FS/GS 0) and jumps to
//! `entry`. It ends at the first exception; cases end their code with `int3`, so a case that
//! runs to the end reports vector 3 with EIP just past the `int3`.

use crate::mmu::Prot;
use alloc::vec::Vec;

/// A page-aligned region of guest memory with its initial bytes (length a page multiple).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub addr: u32,
    pub prot: Prot,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnippetCase {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub regs: [u32; 8],
    /// Initial EFLAGS; only CF PF AF ZF SF OF DF (and AC) are taken.
    pub eflags: u32,
    pub entry: u32,
    pub regions: Vec<Region>,
    /// Initial x87/MMX/SSE state as a 512-byte FXSAVE image (SDM Vol. 1, 10.5.1, the 32-bit
    /// layout of `crate::cpu::FxState`); `None` is the FNINIT state with MXCSR 0x1F80 and
    /// all x87 and XMM registers zero.
    pub fx: Option<Vec<u8>>,
}

/// How a case ended: the exception it stopped on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop {
    pub vector: u8,
    pub error_code: u32,
    /// Faulting linear address, meaningful for #PF only (0 otherwise).
    pub cr2: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnippetResult {
    pub regs: [u32; 8],
    pub eip: u32,
    pub eflags: u32,
    pub stop: Stop,
    /// Final contents of each region, in case order.
    pub regions: Vec<Vec<u8>>,
    /// The x87/MMX/SSE state at the stop as a 512-byte FXSAVE image. FOP/FIP/FCS/FDP/FDS,
    /// MXCSR_MASK and the reserved bytes hold what each side happens to store (see
    /// `tests/native/runner.c` for the native side).
    pub fx: Vec<u8>,
}

/// EFLAGS bits compared by default (status flags, DF, AC; IF/IOPL/RF are the host's business).
pub const COMPARED_FLAGS: u32 = 0x0004_0cd5;

use super::{Machine, Result};
use crate::exit::Exit;
use crate::mmu::GuestAddr;

/// Runs snippet cases under the translator, reusing one machine across cases.
pub struct SnippetRunner {
    m: Machine,
    mapped: Vec<(u32, u64)>,
}

impl SnippetRunner {
    pub fn new() -> Result<SnippetRunner> {
        Ok(SnippetRunner {
            m: Machine::new()?,
            mapped: Vec::new(),
        })
    }

    /// Access to the machine (statistics, tuning).
    pub fn machine(&mut self) -> &mut Machine {
        &mut self.m
    }

    pub fn run(&mut self, case: &SnippetCase) -> SnippetResult {
        self.run_limited(case, std::time::Duration::from_secs(2))
    }

    /// `run` with a time limit: code that never stops ends with vector 0xff.
    pub fn run_limited(&mut self, case: &SnippetCase, limit: std::time::Duration) -> SnippetResult {
        for (a, l) in self.mapped.drain(..) {
            let _ = self.m.mem.unmap(GuestAddr(a), l);
        }
        for r in &case.regions {
            let len = r.data.len() as u64;
            if self.m.mem.map(GuestAddr(r.addr), len, r.prot).is_ok() {
                let _ = self.m.mem.poke(GuestAddr(r.addr), &r.data);
                self.mapped.push((r.addr, len));
            }
        }
        self.m.set_linux_user_segments();
        {
            let cpu = self.m.cpu_mut();
            cpu.gpr = case.regs;
            cpu.eip = case.entry;
            cpu.eflags = (case.eflags & (0x0cd5 | 0x400)) | 0x202;
            // The case's FP state; by default the FNINIT state, as the native runner's.
            cpu.fx = crate::cpu::FxState::default();
            if let Some(fx) = &case.fx {
                let n = fx.len().min(512);
                cpu.fx.0[..n].copy_from_slice(&fx[..n]);
            }
        }
        let stop = match self.m.run_for(limit) {
            Exit::Fault(f) => Stop {
                vector: f.vector as u8,
                error_code: f.error_code,
                cr2: if f.vector == crate::exit::Vector::PF {
                    f.cr2
                } else {
                    0
                },
            },
            Exit::SoftInt { vector, len } => match vector {
                // Gates that are DPL3 on Linux: int3 and into traps; 0x80 is a system call
                // (reported as its vector).
                3 | 4 => Stop {
                    vector,
                    error_code: 0,
                    cr2: 0,
                },
                0x80 => Stop {
                    vector,
                    error_code: 0,
                    cr2: 0,
                },
                _ => {
                    let cpu = self.m.cpu_mut();
                    cpu.eip = cpu.eip.wrapping_sub(u32::from(len));
                    Stop {
                        vector: 13,
                        error_code: (u32::from(vector) << 3) | 2,
                        cr2: 0,
                    }
                }
            },
            Exit::Halt | Exit::Stopped => Stop {
                vector: 0xff,
                error_code: 0,
                cr2: 0,
            },
        };
        let cpu = self.m.cpu();
        let mut regions = Vec::new();
        for r in &case.regions {
            let mut b = alloc::vec![0u8; r.data.len()];
            let _ = self.m.mem.peek(GuestAddr(r.addr), &mut b);
            regions.push(b);
        }
        SnippetResult {
            regs: cpu.gpr,
            eip: cpu.eip,
            eflags: cpu.eflags,
            stop,
            regions,
            fx: cpu.fx.0.to_vec(),
        }
    }
}
