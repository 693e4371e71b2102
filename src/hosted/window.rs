//! The guest address-space window: 4 GiB of reserved host address space in which guest
//! linear address `a` lives at `base + a`. Translated code reaches it through the host's GS
//! segment base with 32-bit address-size overrides, so address arithmetic wraps at 4 GiB
//! exactly as on IA-32 and the host MMU enforces the guest's page permissions.
//!
//! Pages that translated code came from are kept read-only in the host even when the guest
//! may write them; the write fault tells us the code changed (self-modifying code).

use super::{Error, Result};
use crate::exit::Fault;
use crate::mmu::{check, Access, GuestAddr, GuestMemory, Prot, PAGE_SIZE};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

const PAGES: usize = 1 << 20;
/// Host address space reserved below the window: the engine's poll page lives there.
pub const GUARD_BELOW: usize = 1 << 16;
/// Reserved above 4 GiB so that an access that starts below 4 GiB and runs past it (which
/// IA-32 would wrap) faults in the host instead of touching other memory.
const GUARD_ABOVE: usize = 1 << 16;
const WINDOW: usize = 1 << 32;

/// A handle on a window. Clones share it: the vCPU that runs in a window and the vCPU that
/// changes its mappings (a page-table update seen by another vCPU's address space) may be
/// different threads, so all state is atomic or locked.
#[derive(Clone)]
pub struct Window {
    inner: Arc<Inner>,
}

struct Inner {
    /// Start of the whole reservation (guard included).
    reservation: *mut u8,
    /// Host address of guest address 0.
    base: *mut u8,
    /// Guest permissions per page (`Prot` bits).
    prot: Vec<AtomicU8>,
    /// Code pages shared with the windows of the other vCPUs of the same guest.
    code: Arc<CodeSet>,
    /// Code pages written or remapped since the engine last looked (stale translations).
    dirty: Mutex<Vec<u32>>,
    has_dirty: AtomicBool,
}

/// Pages that translated code was read from, by guest linear address, for all the windows
/// of one guest: they stay host write-protected in every window, so a write from any vCPU
/// tells every vCPU's engine that the code changed (cross-modifying code).
struct CodeSet {
    bits: Vec<AtomicU64>,
    members: Mutex<Vec<Weak<Inner>>>,
}

// SAFETY: `Inner` owns its reservation (the raw pointers only name it); its metadata is
// atomics and mutexes, and the guest memory itself is only accessed with volatile copies,
// as memory shared with the guest's vCPU threads.
unsafe impl Send for Inner {}
// SAFETY: as above: every field is safe to use from several threads at once.
unsafe impl Sync for Inner {}

fn host_prot(p: Prot, code: bool) -> i32 {
    let mut h = libc::PROT_NONE;
    if p.intersects(Prot::R | Prot::X | Prot::W) {
        h |= libc::PROT_READ;
    }
    if p.contains(Prot::W) && !code {
        h |= libc::PROT_WRITE;
    }
    h
}

fn os_err(what: &'static str) -> Error {
    Error::Os(what, std::io::Error::last_os_error())
}

impl Window {
    pub fn new() -> Result<Window> {
        let code = Arc::new(CodeSet {
            bits: (0..PAGES / 64).map(|_| AtomicU64::new(0)).collect(),
            members: Mutex::new(Vec::new()),
        });
        Self::with_code(code)
    }

    /// A new window (its own 4 GiB reservation) for another vCPU of the same guest: code
    /// pages are tracked across both.
    pub fn sibling(&self) -> Result<Window> {
        Self::with_code(self.inner.code.clone())
    }

    fn with_code(code: Arc<CodeSet>) -> Result<Window> {
        let total = GUARD_BELOW + WINDOW + GUARD_ABOVE;
        // SAFETY: a fresh anonymous PROT_NONE reservation; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_err("reserving the guest window"));
        }
        let reservation = p.cast::<u8>();
        let inner = Arc::new(Inner {
            reservation,
            // SAFETY: the offset stays inside the reservation made above.
            base: unsafe { reservation.add(GUARD_BELOW) },
            prot: (0..PAGES).map(|_| AtomicU8::new(0)).collect(),
            code,
            dirty: Mutex::new(Vec::new()),
            has_dirty: AtomicBool::new(false),
        });
        lock(&inner.code.members).push(Arc::downgrade(&inner));
        Ok(Window { inner })
    }

    /// Windows sharing this one's code pages (itself included), still alive.
    fn members(&self) -> Vec<Arc<Inner>> {
        let mut m = lock(&self.inner.code.members);
        m.retain(|w| w.strong_count() > 0);
        m.iter().filter_map(Weak::upgrade).collect()
    }

    /// Host address of guest address 0 (the GS base of translated code).
    pub fn base(&self) -> *mut u8 {
        self.inner.base
    }

    /// Host address of the page just below the window, used as the engine's poll page.
    pub fn poll_page(&self) -> *mut u8 {
        self.inner.poll_page()
    }

    /// Host address of the FPU gate page, two pages below the window: every x87/MMX/SSE
    /// instruction loads from it first, so closing it makes them raise #NM (CR0.TS).
    pub fn fpu_gate_page(&self) -> *mut u8 {
        // SAFETY: GUARD_BELOW >= two pages, so this is inside the reservation.
        unsafe { self.inner.base.sub(2 * PAGE_SIZE as usize) }
    }

    fn range(addr: GuestAddr, len: u64) -> Result<(usize, usize)> {
        if !addr.0.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(u64::from(PAGE_SIZE)) {
            return Err(Error::BadRange { addr: addr.0, len });
        }
        let first = addr.page() as usize;
        let n = (len / u64::from(PAGE_SIZE)) as usize;
        if first + n > PAGES {
            return Err(Error::BadRange { addr: addr.0, len });
        }
        Ok((first, n))
    }

    /// Replace guest pages [first, first + n) with a fresh PROT_NONE mapping: anonymous
    /// zeroed memory, or `fd` at `offset` (shared); then give them `prot`.
    fn remap(
        &mut self,
        first: usize,
        n: usize,
        backing: Option<(i32, u64)>,
        prot: Prot,
    ) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let w = &self.inner;
        let (flags, fd, off) = match backing {
            Some((fd, off)) => (libc::MAP_SHARED | libc::MAP_FIXED, fd, off as libc::off_t),
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                -1,
                0,
            ),
        };
        // SAFETY: MAP_FIXED over pages inside our own reservation; nothing else lives there.
        let p = unsafe {
            libc::mmap(
                w.base.add(first * PAGE_SIZE as usize).cast(),
                n * PAGE_SIZE as usize,
                libc::PROT_NONE,
                flags,
                fd,
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_err("mmap"));
        }
        for i in first..first + n {
            w.set_prot(i, prot);
            // Whatever was translated from the old page is stale in this window.
            if w.is_code(i) {
                w.queue_dirty(i as u32);
            }
        }
        if prot.is_empty() {
            return Ok(());
        }
        w.set_host_prot(first, n)
    }

    /// Map fresh zeroed guest pages with `prot` (replacing whatever was there).
    pub fn map(&mut self, addr: GuestAddr, len: u64, prot: Prot) -> Result<()> {
        let (first, n) = Self::range(addr, len)?;
        self.remap(first, n, None, prot)
    }

    /// Map `len` bytes of the file `fd` at `offset` (shared) at guest address `addr`: how a
    /// PV guest's pseudo-physical frames appear at the virtual addresses its page tables
    /// give them.
    pub fn map_fd(
        &mut self,
        addr: GuestAddr,
        len: u64,
        fd: i32,
        offset: u64,
        prot: Prot,
    ) -> Result<()> {
        let (first, n) = Self::range(addr, len)?;
        self.remap(first, n, Some((fd, offset)), prot)
    }

    /// Unmap guest pages (they fault from now on).
    pub fn unmap(&mut self, addr: GuestAddr, len: u64) -> Result<()> {
        let (first, n) = Self::range(addr, len)?;
        self.remap(first, n, None, Prot::empty())
    }

    /// Change the guest permissions of mapped pages.
    pub fn protect(&mut self, addr: GuestAddr, len: u64, prot: Prot) -> Result<()> {
        let (first, n) = Self::range(addr, len)?;
        let w = &self.inner;
        for i in first..first + n {
            if w.prot(i).is_empty() {
                return Err(Error::NotMapped(i as u32 * PAGE_SIZE));
            }
        }
        for i in first..first + n {
            w.set_prot(i, prot);
            if !prot.contains(Prot::X) && w.is_code(i) {
                // Code may no longer be fetched from here: stale translations must go.
                w.queue_dirty(i as u32);
            }
        }
        w.set_host_prot(first, n)
    }

    pub fn prot_of(&self, addr: GuestAddr) -> Prot {
        self.inner.prot(addr.page() as usize)
    }

    /// Lowest free page-aligned range of `len` bytes at or above `hint`, below `limit`.
    pub fn find_free(&self, len: u64, hint: GuestAddr, limit: u32) -> Option<GuestAddr> {
        let n = len.div_ceil(u64::from(PAGE_SIZE)) as usize;
        let mut start = hint.page() as usize;
        let end = (limit >> 12) as usize;
        while start + n <= end {
            match (start..start + n)
                .rev()
                .find(|&i| !self.inner.prot(i).is_empty())
            {
                None => return Some(GuestAddr((start as u32) << 12)),
                Some(busy) => start = busy + 1,
            }
        }
        None
    }

    /// Record that translated code was read from `page`: write-protect it in the host, in
    /// this window and in the other vCPUs' windows.
    pub fn mark_code(&mut self, page: u32) {
        let i = page as usize;
        let bit = 1u64 << (i % 64);
        if self.inner.code.bits[i / 64].fetch_or(bit, Ordering::SeqCst) & bit != 0 {
            return;
        }
        for w in self.members() {
            if w.prot(i).contains(Prot::W) {
                // A failure leaves the page writable; then SMC would go unnoticed.
                w.set_host_prot(i, 1).expect("write-protecting a code page");
            }
        }
    }

    /// A guest write hit a code page: make it writable again in every window, and queue
    /// the invalidation for every vCPU's engine; the other vCPUs are stopped so that they
    /// notice before running their stale copy again. Returns false if the page was not a
    /// code page (a real guest fault).
    pub fn code_write_fault(&mut self, page: u32) -> bool {
        let i = page as usize;
        if i >= PAGES || !self.inner.is_code(i) || !self.inner.prot(i).contains(Prot::W) {
            return false;
        }
        self.invalidate_code(i);
        true
    }

    fn invalidate_code(&self, i: usize) {
        let bit = 1u64 << (i % 64);
        self.inner.code.bits[i / 64].fetch_and(!bit, Ordering::SeqCst);
        for w in self.members() {
            w.queue_dirty(i as u32);
            let _ = w.set_host_prot(i, 1);
            if !Arc::ptr_eq(&w, &self.inner) {
                // SAFETY: the poll page is part of that window's reservation and only ever
                // holds PROT_NONE or PROT_READ anonymous memory (see machine::StopHandle).
                unsafe { libc::mprotect(w.poll_page().cast(), 4096, libc::PROT_NONE) };
            }
        }
    }

    /// Pages whose translations are stale; the engine drains this before running code.
    pub fn take_dirty(&mut self) -> Vec<u32> {
        self.inner.has_dirty.store(false, Ordering::SeqCst);
        core::mem::take(&mut *lock(&self.inner.dirty))
    }

    pub fn has_dirty(&self) -> bool {
        self.inner.has_dirty.load(Ordering::SeqCst)
    }

    fn check_range(&self, addr: GuestAddr, len: usize, acc: Access, sys: bool) -> Result2 {
        if len == 0 {
            return Ok(());
        }
        let first = addr.page();
        let last = addr.offset(len as u32 - 1).page();
        let mut p = first;
        loop {
            let prot = self.inner.prot(p as usize);
            let at = if p == first { addr.0 } else { p << 12 };
            if sys {
                // A supervisor-only page is not host-accessible in ring 3's window.
                if !prot.intersects(Prot::RWX) {
                    let w = u32::from(acc == Access::Write);
                    return Err(Fault::pf(at, crate::exit::PFEC_WRITE * w));
                }
            } else {
                check(prot, at, acc)?;
            }
            if p == last {
                return Ok(());
            }
            p = (p + 1) & 0xf_ffff;
        }
    }

    fn copy_out(&self, addr: GuestAddr, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            let a = addr.0.wrapping_add(i as u32) as usize;
            // SAFETY: check_range verified every page of the range is mapped readable in the
            // guest, hence readable in the host (host protection is never weaker than R).
            *b = unsafe { self.inner.base.add(a).read_volatile() };
        }
    }

    fn copy_in(&mut self, addr: GuestAddr, data: &[u8]) {
        let first = addr.page();
        let n = (addr
            .offset(data.len().max(1) as u32 - 1)
            .page()
            .wrapping_sub(first)
            & 0xf_ffff)
            + 1;
        let pages = (0..n).map(|k| ((first + k) & 0xf_ffff) as usize);
        let mut forced = Vec::new();
        for p in pages.clone() {
            if self.inner.is_code(p) {
                self.invalidate_code(p);
            }
            if !self.inner.prot(p).contains(Prot::W) {
                // Privileged writes (loaders, descriptor tables) to read-only pages open the
                // page for the copy and close it again below.
                if self.inner.force_writable(p, true).is_ok() {
                    forced.push(p);
                }
            }
        }
        for (i, b) in data.iter().enumerate() {
            let a = addr.0.wrapping_add(i as u32) as usize;
            // SAFETY: every page of the range is mapped and host-writable (made so above).
            unsafe { self.inner.base.add(a).write_volatile(*b) };
        }
        for p in forced {
            let _ = self.inner.set_host_prot(p, 1);
        }
    }

    /// Privileged read: ignores guest permissions, faults only on unmapped pages.
    pub fn peek(&self, addr: GuestAddr, buf: &mut [u8]) -> core::result::Result<(), Fault> {
        self.check_range(addr, buf.len(), Access::Read, true)?;
        self.copy_out(addr, buf);
        Ok(())
    }

    /// Privileged write (loaders, the system layer): ignores guest permissions.
    pub fn poke(&mut self, addr: GuestAddr, data: &[u8]) -> core::result::Result<(), Fault> {
        self.check_range(addr, data.len(), Access::Write, true)?;
        self.copy_in(addr, data);
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn prot(&self, i: usize) -> Prot {
        Prot::from_bits_truncate(self.prot[i].load(Ordering::Relaxed))
    }

    fn set_prot(&self, i: usize, p: Prot) {
        self.prot[i].store(p.bits(), Ordering::Relaxed);
    }

    fn is_code(&self, page: usize) -> bool {
        self.code.bits[page / 64].load(Ordering::Relaxed) & (1 << (page % 64)) != 0
    }

    fn queue_dirty(&self, page: u32) {
        lock(&self.dirty).push(page);
        self.has_dirty.store(true, Ordering::SeqCst);
    }

    fn poll_page(&self) -> *mut u8 {
        // SAFETY: GUARD_BELOW >= one page, so this is inside the reservation.
        unsafe { self.base.sub(PAGE_SIZE as usize) }
    }

    fn set_host_prot(&self, first: usize, n: usize) -> Result<()> {
        let mut i = first;
        while i < first + n {
            // Coalesce runs with the same host protection into one mprotect.
            let hp = host_prot(self.prot(i), self.is_code(i));
            let mut j = i + 1;
            while j < first + n && host_prot(self.prot(j), self.is_code(j)) == hp {
                j += 1;
            }
            // SAFETY: [i, j) are guest pages inside the window reservation this struct owns.
            let r = unsafe {
                libc::mprotect(
                    self.base.add(i * PAGE_SIZE as usize).cast(),
                    (j - i) * PAGE_SIZE as usize,
                    hp,
                )
            };
            if r != 0 {
                return Err(os_err("mprotect"));
            }
            i = j;
        }
        Ok(())
    }

    fn force_writable(&self, i: usize, w: bool) -> Result<()> {
        let hp = if w {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: page i is inside our reservation.
        let r = unsafe {
            libc::mprotect(
                self.base.add(i * PAGE_SIZE as usize).cast(),
                PAGE_SIZE as usize,
                hp,
            )
        };
        if r != 0 {
            return Err(os_err("mprotect"));
        }
        Ok(())
    }
}

type Result2 = core::result::Result<(), Fault>;

impl GuestMemory for Window {
    fn read(&self, addr: GuestAddr, buf: &mut [u8], acc: Access) -> Result2 {
        self.check_range(addr, buf.len(), acc, false)?;
        self.copy_out(addr, buf);
        Ok(())
    }

    fn write(&mut self, addr: GuestAddr, data: &[u8]) -> Result2 {
        self.check_range(addr, data.len(), Access::Write, false)?;
        self.copy_in(addr, data);
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: the reservation was made in `with_code` with this size; the last handle
        // is gone, so nothing uses it any more.
        unsafe {
            libc::munmap(self.reservation.cast(), GUARD_BELOW + WINDOW + GUARD_ABOVE);
        }
    }
}

impl crate::mmu::JitMemory for Window {
    fn as_guest_memory(&self) -> &dyn GuestMemory {
        self
    }
    fn host_base(&self) -> usize {
        self.inner.base as usize
    }
    fn prot_of(&self, addr: GuestAddr) -> Prot {
        Window::prot_of(self, addr)
    }
    fn mark_code(&mut self, page: u32) {
        Window::mark_code(self, page)
    }
    fn code_write_fault(&mut self, page: u32) -> bool {
        Window::code_write_fault(self, page)
    }
    fn has_dirty(&self) -> bool {
        Window::has_dirty(self)
    }
    fn take_dirty(&mut self) -> Vec<u32> {
        Window::take_dirty(self)
    }
}
