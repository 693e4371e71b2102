//! Guest memory as the core sees it: a 32-bit linear address space with page permissions.
//!
//! Translated code reaches guest memory through a host address-space window (the host MMU
//! checks permissions); helpers and the system layers use the [`GuestMemory`] trait, which
//! checks the same permissions in software and reports guest faults as data.

use crate::exit::{Fault, PFEC_INSN, PFEC_PRESENT, PFEC_USER, PFEC_WRITE};
use bitflags::bitflags;

pub const PAGE_SIZE: u32 = 4096;
pub const PAGE_SHIFT: u32 = 12;

/// A guest linear (virtual) address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuestAddr(pub u32);

impl GuestAddr {
    pub fn page(self) -> u32 {
        self.0 >> PAGE_SHIFT
    }
    pub fn offset(self, by: u32) -> GuestAddr {
        GuestAddr(self.0.wrapping_add(by))
    }
}

bitflags! {
    /// Guest page permissions as a user-mode access sees them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct Prot: u8 {
        const R = 1;
        const W = 2;
        const X = 4;
        /// Present, but for supervisor mode only: this view (ring 3's) may not touch it,
        /// and an access faults with the present bit set.
        const SUPERVISOR = 8;
    }
}

impl Prot {
    pub const RW: Prot = Prot::R.union(Prot::W);
    pub const RX: Prot = Prot::R.union(Prot::X);
    pub const RWX: Prot = Prot::R.union(Prot::W).union(Prot::X);
}

/// The kind of a guest access, for permission checks and #PF error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Fetch,
}

/// Check `prot` for an access and build the #PF the CPU would raise (user-mode access).
pub fn check(prot: Prot, addr: u32, acc: Access) -> Result<(), Fault> {
    let ok = match acc {
        Access::Read => prot.contains(Prot::R),
        Access::Write => prot.contains(Prot::W),
        Access::Fetch => prot.contains(Prot::X),
    };
    if ok {
        return Ok(());
    }
    let mut ec = PFEC_USER;
    if prot.intersects(Prot::RWX | Prot::SUPERVISOR) {
        ec |= PFEC_PRESENT;
    }
    match acc {
        Access::Write => ec |= PFEC_WRITE,
        Access::Fetch => ec |= PFEC_INSN,
        Access::Read => {}
    }
    Err(Fault::pf(addr, ec))
}

/// Consumer-side view of guest linear memory (cf. vm-memory's `GuestMemory`). All addresses
/// wrap at 4 GiB. Accesses that cross a page check both pages before writing either.
pub trait GuestMemory {
    /// Read guest bytes with the guest's permissions.
    fn read(&self, addr: GuestAddr, buf: &mut [u8], acc: Access) -> Result<(), Fault>;
    /// Write guest bytes with the guest's permissions; writes to pages holding translated
    /// code invalidate that code.
    fn write(&mut self, addr: GuestAddr, data: &[u8]) -> Result<(), Fault>;

    fn read_u8(&self, addr: GuestAddr) -> Result<u8, Fault> {
        let mut b = [0u8; 1];
        self.read(addr, &mut b, Access::Read)?;
        Ok(b[0])
    }
    fn read_u16(&self, addr: GuestAddr) -> Result<u16, Fault> {
        let mut b = [0u8; 2];
        self.read(addr, &mut b, Access::Read)?;
        Ok(u16::from_le_bytes(b))
    }
    fn read_u32(&self, addr: GuestAddr) -> Result<u32, Fault> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b, Access::Read)?;
        Ok(u32::from_le_bytes(b))
    }
    fn write_u8(&mut self, addr: GuestAddr, v: u8) -> Result<(), Fault> {
        self.write(addr, &[v])
    }
    fn write_u16(&mut self, addr: GuestAddr, v: u16) -> Result<(), Fault> {
        self.write(addr, &v.to_le_bytes())
    }
    fn write_u32(&mut self, addr: GuestAddr, v: u32) -> Result<(), Fault> {
        self.write(addr, &v.to_le_bytes())
    }
}

/// What the run loop needs from guest memory beyond [`GuestMemory`]: the host window base
/// and tracking of pages that hold translated code.
pub trait JitMemory: GuestMemory {
    fn as_guest_memory(&self) -> &dyn GuestMemory;
    /// Host address of guest linear address 0.
    fn host_base(&self) -> usize;
    fn prot_of(&self, addr: GuestAddr) -> Prot;
    /// Translated code was read from `page`: watch it for writes.
    fn mark_code(&mut self, page: u32);
    /// A write faulted on `page`; true if that was only the code-page watch (the page is
    /// open again and its translations are queued for invalidation).
    fn code_write_fault(&mut self, page: u32) -> bool;
    fn has_dirty(&self) -> bool;
    fn take_dirty(&mut self) -> alloc::vec::Vec<u32>;
}
