//! Decode-and-translate of one guest block ([`translate_once`]), and the boot-time
//! self-test that runs it on a built-in sample: real core code inside Xen, frontend and
//! backend templates. Nothing is executed: the host code lands in an ordinary heap buffer.

use xdbt::backend::codebuf::CodeBuffer;
use xdbt::backend::x64::emit_routines;
use xdbt::cache::{CodeCache, ExecMemory};
use xdbt::cpu::seg::{SegReg, Segment};
use xdbt::engine::translate::translate_block;
use xdbt::frontend::decode_block;
use xdbt::mmu::{self, Access, GuestAddr, GuestMemory, Prot};
use xdbt::Fault;

/// Where the sample sits in the guest's linear address space.
const SAMPLE_EIP: u32 = 0x1000;

/// mov eax, 1; add eax, ebx; inc ecx; jmp SAMPLE_EIP
const SAMPLE: [u8; 10] = [0xb8, 0x01, 0x00, 0x00, 0x00, 0x01, 0xd8, 0x41, 0xeb, 0xf6];

/// One read-and-execute-only guest page at `SAMPLE_EIP`: `SAMPLE`, then zeros.
struct SampleMemory;

impl GuestMemory for SampleMemory {
    fn read(&self, addr: GuestAddr, buf: &mut [u8], acc: Access) -> Result<(), Fault> {
        for (i, b) in buf.iter_mut().enumerate() {
            let a = addr.offset(i as u32);
            if a.page() != GuestAddr(SAMPLE_EIP).page() {
                // Not mapped: the #PF the guest would see.
                return mmu::check(Prot::empty(), a.0, acc);
            }
            *b = SAMPLE
                .get((a.0 - SAMPLE_EIP) as usize)
                .copied()
                .unwrap_or(0);
        }
        Ok(())
    }

    fn write(&mut self, addr: GuestAddr, _data: &[u8]) -> Result<(), Fault> {
        mmu::check(Prot::RX, addr.0, Access::Write)
    }
}

pub struct Translated {
    pub guest_insns: usize,
    pub host_bytes: usize,
}

/// Why a block was not translated.
pub enum TranslateError {
    /// The first instruction's bytes could not be fetched.
    Fetch(Fault),
    /// The backend could not lay out the routines or the block.
    Layout(&'static str),
}

impl core::fmt::Display for TranslateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TranslateError::Fetch(fault) => write!(
                f,
                "fetch fault (vector {}, address {:#010x})",
                fault.vector as u8, fault.cr2
            ),
            TranslateError::Layout(what) => write!(f, "{what} does not fit"),
        }
    }
}

pub fn translate_sample() -> Result<Translated, TranslateError> {
    translate_once(&SampleMemory, SAMPLE_EIP, 16)
}

/// Decode the block at `eip` (at most `max` instructions) and translate it with the
/// backend templates into a heap buffer, laid out as if at that buffer's address. The
/// code is never run: inside Xen, the translator does not execute code yet (docs/XEN.md).
pub fn translate_once(
    mem: &dyn GuestMemory,
    eip: u32,
    max: usize,
) -> Result<Translated, TranslateError> {
    let block = decode_block(mem, eip, max).map_err(TranslateError::Fetch)?;
    let mut routines_buf = CodeBuffer::new();
    routines_buf.bytes.reserve(4096);
    let at = routines_buf.bytes.as_ptr() as u64;
    let routines = emit_routines(&mut routines_buf, at);
    if routines_buf.error {
        return Err(TranslateError::Layout("routine layout"));
    }
    let segs = SegReg::ALL.map(|r| Segment::flat(0, r == SegReg::Cs, 3));
    let mut cache = CodeCache::new(ExecMemory {
        rw: core::ptr::null_mut(),
        rx: 0,
        size: 0,
    });
    let code = translate_block(
        &block,
        at + routines_buf.bytes.len() as u64,
        &routines,
        &segs,
        &mut cache,
    )
    .ok_or(TranslateError::Layout("block layout"))?;
    Ok(Translated {
        guest_insns: block.insns.len(),
        host_bytes: code.bytes.len(),
    })
}
