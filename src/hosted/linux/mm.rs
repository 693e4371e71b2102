//! The guest process's address space as Linux lays out a 32-bit task on x86-64
//! (arch/x86/mm/mmap.c, top-down layout): program at its link address, brk heap after it,
//! mmap area growing down from 128 MiB below the stack, 8 MiB stack ending at TASK_SIZE.
//!
//! The window keeps page permissions; this module keeps which pages are *mapped*, including
//! PROT_NONE reservations, which the window cannot tell from holes.

use super::abi::Errno;
use crate::hosted::Window;
use crate::mmu::{GuestAddr, Prot, PAGE_SIZE};

/// TASK_SIZE of a compat task (IA32_PAGE_OFFSET): the last page below 4 GiB is the kernel's.
pub const TASK_SIZE: u32 = 0xffff_e000;
/// The initial stack: 8 MiB (the default RLIMIT_STACK) ending at TASK_SIZE.
pub const STACK_TOP: u32 = TASK_SIZE;
pub const STACK_SIZE: u32 = 8 << 20;
pub const STACK_BOTTOM: u32 = STACK_TOP - STACK_SIZE;
/// mmap_base: TASK_SIZE less the minimum stack gap (128 MiB), without randomisation.
pub const MMAP_BASE: u32 = TASK_SIZE - (128 << 20);
/// vm.mmap_min_addr: nothing is mapped below it.
pub const MMAP_MIN_ADDR: u32 = 0x1_0000;

const PAGES: usize = 1 << 20;

pub fn page_down(a: u32) -> u32 {
    a & !(PAGE_SIZE - 1)
}

/// Round up to a page; None if that passes 4 GiB.
pub fn page_up(a: u64) -> Option<u64> {
    let r = a.checked_add(u64::from(PAGE_SIZE - 1))? & !u64::from(PAGE_SIZE - 1);
    (r <= 1 << 32).then_some(r)
}

pub struct AddressSpace {
    /// One bit per guest page: mapped (with any permissions, PROT_NONE included).
    mapped: Vec<u64>,
    pub start_brk: u32,
    pub brk: u32,
    /// READ_IMPLIES_EXEC: set for programs without PT_GNU_STACK, as Linux does for ia32.
    pub read_implies_exec: bool,
}

impl Default for AddressSpace {
    fn default() -> Self {
        Self::new()
    }
}

fn host_err(_: crate::hosted::Error) -> Errno {
    Errno::ENOMEM
}

impl AddressSpace {
    pub fn new() -> Self {
        AddressSpace {
            mapped: vec![0; PAGES / 64],
            start_brk: 0,
            brk: 0,
            read_implies_exec: false,
        }
    }

    pub fn is_mapped_page(&self, page: u32) -> bool {
        let i = page as usize;
        self.mapped[i / 64] & (1 << (i % 64)) != 0
    }

    fn set_pages(&mut self, first: u32, n: u32, on: bool) {
        for p in first..first + n {
            let i = p as usize;
            if on {
                self.mapped[i / 64] |= 1 << (i % 64);
            } else {
                self.mapped[i / 64] &= !(1 << (i % 64));
            }
        }
    }

    /// Permissions a mapping really gets (READ_IMPLIES_EXEC adds X to readable mappings).
    pub fn effective(&self, prot: Prot) -> Prot {
        if self.read_implies_exec && prot.contains(Prot::R) {
            prot | Prot::X
        } else {
            prot
        }
    }

    /// True if no page of `[addr, addr+len)` is mapped (`len` a page multiple).
    pub fn is_free(&self, addr: u32, len: u64) -> bool {
        let first = addr >> 12;
        let n = (len >> 12) as u32;
        if u64::from(addr) + len > u64::from(TASK_SIZE) {
            return false;
        }
        (first..first + n).all(|p| !self.is_mapped_page(p))
    }

    /// True if every page of `[addr, addr+len)` is mapped.
    pub fn is_all_mapped(&self, addr: u32, len: u64) -> bool {
        let first = addr >> 12;
        let n = (len >> 12) as u32;
        u64::from(addr) + len <= u64::from(TASK_SIZE)
            && (first..first + n).all(|p| self.is_mapped_page(p))
    }

    /// Highest free page-aligned range of `len` bytes ending at or below `below` (top-down,
    /// as `vm_unmapped_area` with VM_UNMAPPED_AREA_TOPDOWN searches).
    pub fn find_free_down(&self, len: u64, below: u32) -> Option<u32> {
        let n = (len >> 12) as u32;
        if n == 0 {
            return None;
        }
        let floor = MMAP_MIN_ADDR >> 12;
        let mut end = below >> 12;
        while end >= floor + n {
            let start = end - n;
            match (start..end).rev().find(|&p| self.is_mapped_page(p)) {
                None => return Some(start << 12),
                Some(busy) => end = busy,
            }
        }
        None
    }

    /// Map fresh zeroed pages (replacing anything there). `len` is a page multiple.
    pub fn map(&mut self, w: &mut Window, addr: u32, len: u64, prot: Prot) -> Result<(), Errno> {
        let prot = self.effective(prot);
        w.map(GuestAddr(addr), len, prot).map_err(host_err)?;
        self.set_pages(addr >> 12, (len >> 12) as u32, true);
        Ok(())
    }

    pub fn unmap(&mut self, w: &mut Window, addr: u32, len: u64) -> Result<(), Errno> {
        w.unmap(GuestAddr(addr), len).map_err(host_err)?;
        self.set_pages(addr >> 12, (len >> 12) as u32, false);
        Ok(())
    }

    /// mprotect: every page must be mapped (else ENOMEM, as Linux).
    pub fn protect(
        &mut self,
        w: &mut Window,
        addr: u32,
        len: u64,
        prot: Prot,
    ) -> Result<(), Errno> {
        if !self.is_all_mapped(addr, len) {
            return Err(Errno::ENOMEM);
        }
        let prot = self.effective(prot);
        let first = addr >> 12;
        let last = first + (len >> 12) as u32;
        let mut p = first;
        while p < last {
            // Runs of pages the window knows as accessible, or as PROT_NONE.
            let none = w.prot_of(GuestAddr(p << 12)).is_empty();
            let mut q = p + 1;
            while q < last && w.prot_of(GuestAddr(q << 12)).is_empty() == none {
                q += 1;
            }
            let (a, l) = (GuestAddr(p << 12), u64::from(q - p) << 12);
            if !none {
                w.protect(a, l, prot).map_err(host_err)?;
            } else if !prot.is_empty() {
                // The window cannot reopen a PROT_NONE page with its contents; a
                // PROT_NONE reservation made accessible starts zeroed, as the fresh
                // reservations (guard areas, malloc heaps) that programs do this to are.
                w.map(a, l, prot).map_err(host_err)?;
            }
            p = q;
        }
        Ok(())
    }

    /// Set up the brk heap right after the program (both page aligned).
    pub fn init_brk(&mut self, at: u32) {
        self.start_brk = at;
        self.brk = at;
    }

    /// brk(2): move the break; returns the new break, or the old one on failure (mm/mmap.c).
    pub fn set_brk(&mut self, w: &mut Window, new: u32) -> u32 {
        if new < self.start_brk {
            return self.brk;
        }
        let old_top = u64::from(page_down(self.brk.wrapping_add(PAGE_SIZE - 1)));
        let Some(new_top) = page_up(u64::from(new)) else {
            return self.brk;
        };
        if new_top > u64::from(MMAP_BASE) {
            return self.brk;
        }
        if new_top > old_top {
            let a = old_top as u32;
            let l = new_top - old_top;
            if !self.is_free(a, l) || self.map(w, a, l, Prot::RW).is_err() {
                return self.brk;
            }
        } else if new_top < old_top {
            let a = new_top as u32;
            if self.unmap(w, a, old_top - new_top).is_err() {
                return self.brk;
            }
        }
        self.brk = new;
        self.brk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_rounding() {
        assert_eq!(page_down(0x1234), 0x1000);
        assert_eq!(page_up(0x1001), Some(0x2000));
        assert_eq!(page_up(0xffff_f001), Some(1 << 32));
        assert_eq!(page_up(0x1_0000_0001), None);
        assert_eq!(page_up(0xffff_f000), Some(0xffff_f000));
    }

    #[test]
    fn top_down_search_skips_mapped() {
        let mut a = AddressSpace::new();
        let top = MMAP_BASE;
        a.set_pages((top >> 12) - 2, 2, true);
        assert_eq!(a.find_free_down(0x1000, top), Some(top - 0x3000));
        assert_eq!(a.find_free_down(0x3000, top), Some(top - 0x5000));
        assert!(a.is_free(top - 0x5000, 0x3000));
        assert!(!a.is_free(top - 0x3000, 0x2000));
        assert_eq!(a.find_free_down(0x1000, MMAP_MIN_ADDR), None);
    }
}
