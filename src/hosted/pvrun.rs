//! `xdbt run KERNEL`: a PV32 kernel under the translator with no Xen.
//!
//! Guest machine frames are a memfd: the domain's RAM, then the frames Xen would own and
//! share with it (shared_info, grant table frames) and the M2P table. The window maps each
//! guest virtual page to its frame as the PV MMU (`crate::pv::mm`) says, with the guest's
//! permissions. One host thread per vCPU runs translated code; an alarm thread stops it at
//! the next timer expiry, so timers interrupt even a guest spinning in translated code.
//! The console and xenstore backends run on the vCPU thread when the guest notifies them.

use super::machine::{Machine, StopHandle};
use super::Window;
use crate::cpu::seg::{SegReg, Segment};
use crate::exit::{Exit, Vector};
use crate::mmu::{GuestAddr, Prot};
use crate::pv::builder::{self, BootLayout, BuildConfig, Pfn};
use crate::pv::event::{self, BackendNotify, EventChannels, SharedPage};
use crate::pv::far;
use crate::pv::hypercall::{self, Outcome, PvDomain, PvHost};
use crate::pv::mm::{MmHost, PageProt, PageType};
use crate::pv::privop::{self, PrivEnv, PrivOutcome};
use crate::pv::traps;
use crate::pv::xenstore::{DomainConfig, XenStore};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct PvOptions {
    pub memory_mib: u32,
    pub cmdline: String,
    pub ramdisk: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    pub stats: bool,
    /// Extra xenstore entries (KEY, VALUE), relative to the domain's home or absolute.
    pub xenstore: Vec<(String, String)>,
    /// Console input: bytes from a file, or stdin when None.
    pub console_input: Option<Vec<u8>>,
    /// vCPUs (1..=MAX_VCPUS).
    pub vcpus: u32,
    /// The domain's name (xenstore `name`).
    pub name: String,
}

/// Exit codes of `xdbt run` (documented in the README).
pub const EXIT_POWEROFF: i32 = 0;
pub const EXIT_CRASH: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_REBOOT: i32 = 3;
pub const EXIT_TIMEOUT: i32 = 4;

/// The domain id the guest believes it has (the first domU libxl creates).
const DOMID: u16 = 1;

/// Guest machine frames: RAM, then the Xen-owned frames.
struct Frames {
    fd: i32,
    host: *mut u8,
    len: usize,
    nr_ram: u32,
    shared_info: u32,
    grant0: u32,
    m2p0: u32,
    nr_m2p: u32,
}

// SAFETY: the frame space is a shared mapping owned by `Frames`; every access through it
// is atomic (`atomic_*`) or a checked copy made before the vCPUs start (`write`), so the
// vCPU threads may share it as they share guest RAM.
unsafe impl Sync for Frames {}
// SAFETY: as above; the mapping is not tied to the creating thread.
unsafe impl Send for Frames {}

impl Frames {
    fn new(nr_ram: u32) -> Result<Frames, String> {
        let shared_info = nr_ram;
        let grant0 = nr_ram + 1;
        let m2p0 = grant0 + hypercall::MAX_GRANT_FRAMES;
        let nr_m2p = (m2p0 + 1).div_ceil(1024) + 1;
        let total = m2p0 + nr_m2p;
        let len = total as usize * 4096;
        // SAFETY: plain system calls; results checked.
        unsafe {
            let fd = libc::memfd_create(c"xdbt-guest-ram".as_ptr(), libc::MFD_CLOEXEC);
            if fd < 0 || libc::ftruncate(fd, len as libc::off_t) != 0 {
                return Err(format!("guest memory: {}", std::io::Error::last_os_error()));
            }
            let p = libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            if p == libc::MAP_FAILED {
                return Err(format!("guest memory: {}", std::io::Error::last_os_error()));
            }
            let f = Frames {
                fd,
                host: p.cast(),
                len,
                nr_ram,
                shared_info,
                grant0,
                m2p0,
                nr_m2p,
            };
            // The M2P: identity for RAM, invalid (~0) for everything else.
            for mfn in 0..nr_m2p * 1024 {
                let v = if mfn < nr_ram { mfn } else { u32::MAX };
                f.atomic_u32(m2p0 as usize * 4096 + 4 * mfn as usize)
                    .store(v, Ordering::Relaxed);
            }
            Ok(f)
        }
    }

    fn write(&mut self, pfn: Pfn, offset: usize, bytes: &[u8]) -> Result<(), String> {
        let at = pfn.0 as usize * 4096 + offset;
        if at.checked_add(bytes.len()).is_none_or(|end| end > self.len) {
            return Err(format!("frame {:#x} is outside guest memory", pfn.0));
        }
        // SAFETY: the range was checked against the mapping's length.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.host.add(at), bytes.len()) };
        Ok(())
    }

    /// The 4-aligned word at byte offset `at` of the frame space.
    fn atomic_u32(&self, at: usize) -> &AtomicU32 {
        assert!(at.is_multiple_of(4) && at + 4 <= self.len);
        // SAFETY: in bounds (asserted) and aligned; the mapping lives as long as `self`, and
        // guest vCPUs access the same memory only through atomic instructions or plain
        // accesses that the atomic type tolerates (shared memory with another agent).
        unsafe { AtomicU32::from_ptr(self.host.add(at).cast()) }
    }

    fn atomic_u64(&self, at: usize) -> &AtomicU64 {
        assert!(at.is_multiple_of(8) && at + 8 <= self.len);
        // SAFETY: as in `atomic_u32`, for an 8-aligned word.
        unsafe { AtomicU64::from_ptr(self.host.add(at).cast()) }
    }

    fn atomic_u8(&self, at: usize) -> &AtomicU8 {
        assert!(at < self.len);
        // SAFETY: as in `atomic_u32`, for one byte.
        unsafe { AtomicU8::from_ptr(self.host.add(at)) }
    }

    fn frame_ok(&self, mfn: u32) -> bool {
        (mfn as usize + 1) * 4096 <= self.len
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        // SAFETY: our own mapping and descriptor.
        unsafe {
            libc::munmap(self.host.cast(), self.len);
            libc::close(self.fd);
        }
    }
}

/// shared_info, as the host reaches it.
struct SharedInfoPage<'a> {
    frames: &'a Frames,
    base: usize,
}

impl SharedPage for SharedInfoPage<'_> {
    fn load_u32(&self, off: u32) -> u32 {
        self.frames
            .atomic_u32(self.base + off as usize)
            .load(Ordering::SeqCst)
    }
    fn store_u32(&mut self, off: u32, v: u32) {
        self.frames
            .atomic_u32(self.base + off as usize)
            .store(v, Ordering::SeqCst)
    }
    fn fetch_or_u32(&mut self, off: u32, bits: u32) -> u32 {
        self.frames
            .atomic_u32(self.base + off as usize)
            .fetch_or(bits, Ordering::SeqCst)
    }
    fn fetch_and_u32(&mut self, off: u32, bits: u32) -> u32 {
        self.frames
            .atomic_u32(self.base + off as usize)
            .fetch_and(bits, Ordering::SeqCst)
    }
    fn load_u8(&self, off: u32) -> u8 {
        self.frames
            .atomic_u8(self.base + off as usize)
            .load(Ordering::SeqCst)
    }
    fn swap_u8(&mut self, off: u32, v: u8) -> u8 {
        self.frames
            .atomic_u8(self.base + off as usize)
            .swap(v, Ordering::SeqCst)
    }
}

/// Guest system time from the TSC, with the scale Xen would publish (set_time_scale in
/// xen/arch/x86/time.c): the host and the guest compute the same nanoseconds from the same
/// TSC, so timers and vcpu_time_info never disagree.
#[derive(Clone, Copy)]
struct TimeBase {
    tsc0: u64,
    mul: u32,
    shift: i8,
    tsc_hz: u64,
}

fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no memory effects; x86-64 hosts always have it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

impl TimeBase {
    fn calibrate() -> TimeBase {
        let t0 = Instant::now();
        let c0 = rdtsc();
        std::thread::sleep(Duration::from_millis(3));
        let c1 = rdtsc();
        let ns = t0.elapsed().as_nanos().max(1) as u64;
        let hz = ((c1 - c0) as u128 * 1_000_000_000 / ns as u128) as u64;
        let mut tps = hz.max(1_000_000);
        let mut shift: i8 = 0;
        while tps > 2_000_000_000 {
            tps >>= 1;
            shift -= 1;
        }
        let mut tps32 = tps as u32;
        while tps32 <= 1_000_000_000 {
            tps32 <<= 1;
            shift += 1;
        }
        let mul = ((1_000_000_000u64 << 32) / u64::from(tps32)) as u32;
        TimeBase {
            tsc0: c0,
            mul,
            shift,
            tsc_hz: hz,
        }
    }

    fn ns_of(&self, tsc: u64) -> u64 {
        let mut d = tsc.saturating_sub(self.tsc0);
        if self.shift < 0 {
            d >>= -self.shift;
        } else {
            d <<= self.shift;
        }
        ((u128::from(d) * u128::from(self.mul)) >> 32) as u64
    }

    fn now_ns(&self) -> u64 {
        self.ns_of(rdtsc())
    }

    /// Host time at which system time reaches `ns`.
    fn instant_of(&self, ns: u64, now_ns: u64, now: Instant) -> Instant {
        now + Duration::from_nanos(ns.saturating_sub(now_ns))
    }
}

/// Stops the vCPU at a deadline or when kicked (console input), and lets it sleep.
struct Alarm {
    state: Mutex<AlarmState>,
    cv: Condvar,
}

struct AlarmState {
    deadline: Option<Instant>,
    kicked: bool,
    quit: bool,
}

impl Alarm {
    fn start(stop: StopHandle) -> Arc<Alarm> {
        let a = Arc::new(Alarm {
            state: Mutex::new(AlarmState {
                deadline: None,
                kicked: false,
                quit: false,
            }),
            cv: Condvar::new(),
        });
        let t = a.clone();
        std::thread::spawn(move || {
            let mut s = t.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if s.quit {
                    return;
                }
                match s.deadline {
                    None => s = t.cv.wait(s).unwrap_or_else(|e| e.into_inner()),
                    Some(d) => {
                        let now = Instant::now();
                        if now >= d {
                            s.deadline = None;
                            stop.request_stop();
                        } else {
                            s =
                                t.cv.wait_timeout(s, d - now)
                                    .unwrap_or_else(|e| e.into_inner())
                                    .0;
                        }
                    }
                }
            }
        });
        a
    }

    fn arm(&self, d: Option<Instant>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.deadline != d {
            s.deadline = d;
            self.cv.notify_all();
        }
    }

    fn kick(&self, stop: StopHandle) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.kicked = true;
        stop.request_stop();
        self.cv.notify_all();
    }

    /// Sleep until `until` or a kick.
    fn sleep(&self, until: Option<Instant>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while !s.kicked && !s.quit {
            match until {
                Some(u) => {
                    let now = Instant::now();
                    if now >= u {
                        break;
                    }
                    s = self
                        .cv
                        .wait_timeout(s, u - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner()),
            }
        }
        s.kicked = false;
    }

    fn quit(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.quit = true;
        self.cv.notify_all();
    }
}

/// The console backend (xenconsoled's part): the ring in the page start_info names
/// (`xencons_interface`, xen/include/public/io/console.h) to stdout, and input into it.
struct Console {
    page: usize,
    port: u32,
    input: Arc<Mutex<VecDeque<u8>>>,
}

const CONS_IN: usize = 0;
const CONS_IN_SIZE: u32 = 1024;
const CONS_OUT: usize = 1024;
const CONS_OUT_SIZE: u32 = 2048;
const CONS_IN_CONS: usize = 3072;
const CONS_IN_PROD: usize = 3076;
const CONS_OUT_CONS: usize = 3080;
const CONS_OUT_PROD: usize = 3084;

impl Console {
    /// Copy out what the guest produced in the ring and consume it.
    fn drain(&self, frames: &Frames) {
        let cons_w = frames.atomic_u32(self.page + CONS_OUT_CONS);
        let prod = frames
            .atomic_u32(self.page + CONS_OUT_PROD)
            .load(Ordering::Acquire);
        let mut cons = cons_w.load(Ordering::Relaxed);
        // A hostile producer index cannot make us read more than the ring holds.
        if prod.wrapping_sub(cons) > CONS_OUT_SIZE {
            cons = prod.wrapping_sub(CONS_OUT_SIZE);
        }
        let mut out = Vec::new();
        while cons != prod {
            let at = self.page + CONS_OUT + (cons % CONS_OUT_SIZE) as usize;
            out.push(frames.atomic_u8(at).load(Ordering::Relaxed));
            cons = cons.wrapping_add(1);
        }
        cons_w.store(cons, Ordering::Release);
        if !out.is_empty() {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(&out);
            let _ = o.flush();
        }
    }

    /// Move typed input into the ring; returns whether anything moved.
    fn feed(&self, frames: &Frames) -> bool {
        let mut q = self.input.lock().unwrap_or_else(|e| e.into_inner());
        if q.is_empty() {
            return false;
        }
        let cons = frames
            .atomic_u32(self.page + CONS_IN_CONS)
            .load(Ordering::Acquire);
        let prod_w = frames.atomic_u32(self.page + CONS_IN_PROD);
        let mut prod = prod_w.load(Ordering::Relaxed);
        let mut moved = false;
        while prod.wrapping_sub(cons) < CONS_IN_SIZE {
            let Some(b) = q.pop_front() else { break };
            let at = self.page + CONS_IN + (prod % CONS_IN_SIZE) as usize;
            frames.atomic_u8(at).store(b, Ordering::Relaxed);
            prod = prod.wrapping_add(1);
            moved = true;
        }
        prod_w.store(prod, Ordering::Release);
        moved
    }
}

/// The store ring page in guest RAM, for the built-in xenstore daemon.
struct StoreRing<'a> {
    frames: &'a Frames,
    base: usize,
}

impl crate::pv::xenstore::RingPage for StoreRing<'_> {
    fn load(&self, off: usize, buf: &mut [u8]) {
        for (k, b) in buf.iter_mut().enumerate() {
            *b = self
                .frames
                .atomic_u8(self.base + ((off + k) & 4095))
                .load(Ordering::Relaxed);
        }
        std::sync::atomic::fence(Ordering::Acquire);
    }
    fn store(&mut self, off: usize, buf: &[u8]) {
        for (k, b) in buf.iter().enumerate() {
            self.frames
                .atomic_u8(self.base + ((off + k) & 4095))
                .store(*b, Ordering::Relaxed);
        }
        std::sync::atomic::fence(Ordering::Release);
    }
    fn load_u32(&self, off: usize) -> u32 {
        self.frames
            .atomic_u32(self.base + (off & 4092))
            .load(Ordering::Acquire)
    }
    fn store_u32(&mut self, off: usize, v: u32) {
        self.frames
            .atomic_u32(self.base + (off & 4092))
            .store(v, Ordering::Release)
    }
}

/// Everything the vCPU threads share. `state` is the domain lock: hypercalls, trap
/// delivery and timers take it; translated code runs without it.
struct Shared<'a> {
    frames: &'a Frames,
    console: &'a Console,
    time: TimeBase,
    /// Each vCPU's windows (kernel view, and user view: only user-accessible pages); any
    /// vCPU may change another's mappings (page-table updates).
    wins: Vec<Window>,
    uwins: Vec<Window>,
    alarms: Vec<Arc<Alarm>>,
    stops: Vec<StopHandle>,
    /// vCPUs sleeping in SCHEDOP_block/poll (an event for them must wake them).
    blocked: Vec<AtomicBool>,
    state: Mutex<DomState<'a>>,
    deadline: Option<Instant>,
    result: Mutex<Option<i32>>,
    done: AtomicBool,
    trace: bool,
}

struct DomState<'a> {
    dom: PvDomain,
    store: Store<'a>,
}

impl<'a> Shared<'a> {
    fn lock(&self) -> std::sync::MutexGuard<'_, DomState<'a>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn si(&self) -> SharedInfoPage<'a> {
        SharedInfoPage {
            frames: self.frames,
            base: self.frames.shared_info as usize * 4096,
        }
    }

    fn host(&self, v: usize) -> Host<'a> {
        Host {
            frames: self.frames,
            wins: self.wins.clone(),
            uwins: self.uwins.clone(),
            v,
            time: self.time,
            console: self.console,
            sh: self.si(),
            notified: Vec::new(),
        }
    }

    /// The domain ends with `code` (the first vCPU to decide wins); every vCPU stops.
    fn finish(&self, code: i32) {
        let mut r = self.result.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(code);
        }
        drop(r);
        self.done.store(true, Ordering::SeqCst);
        for w in 0..self.alarms.len() {
            self.kick(w);
        }
    }

    fn kick(&self, w: usize) {
        self.alarms[w].kick(self.stops[w]);
    }

    /// Wake or interrupt the other vCPUs that have an upcall pending they can take.
    fn kick_pending(&self, from: usize) {
        let si = self.si();
        for w in 0..self.alarms.len() {
            if w == from {
                continue;
            }
            let vi = event::vcpu_info_off(w as u32);
            if si.load_u8(vi + event::VI_UPCALL_PENDING) != 0
                && (si.load_u8(vi + event::VI_UPCALL_MASK) == 0
                    || self.blocked[w].load(Ordering::SeqCst))
            {
                self.kick(w);
            }
        }
    }

    fn timed_out(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// What the PV layer reaches through `PvHost` on vCPU `v`.
struct Host<'a> {
    frames: &'a Frames,
    wins: Vec<Window>,
    uwins: Vec<Window>,
    v: usize,
    time: TimeBase,
    console: &'a Console,
    sh: SharedInfoPage<'a>,
    notified: Vec<BackendNotify>,
}

impl MmHost for Host<'_> {
    fn nr_ram_frames(&self) -> u32 {
        self.frames.nr_ram
    }
    fn is_shared_frame(&self, mfn: u32) -> bool {
        mfn == self.frames.shared_info
            || (self.frames.grant0..self.frames.grant0 + hypercall::MAX_GRANT_FRAMES).contains(&mfn)
    }
    fn read_entry(&self, mfn: u32, idx: u32) -> u64 {
        if !self.frames.frame_ok(mfn) || idx >= 512 {
            return 0;
        }
        self.frames
            .atomic_u64(mfn as usize * 4096 + idx as usize * 8)
            .load(Ordering::SeqCst)
    }
    fn write_entry(&mut self, mfn: u32, idx: u32, v: u64) {
        if self.frames.frame_ok(mfn) && idx < 512 {
            self.frames
                .atomic_u64(mfn as usize * 4096 + idx as usize * 8)
                .store(v, Ordering::SeqCst)
        }
    }
    fn cmpxchg_entry(&mut self, mfn: u32, idx: u32, old: u64, new: u64) -> u64 {
        if !self.frames.frame_ok(mfn) || idx >= 512 {
            return 0;
        }
        let a = self
            .frames
            .atomic_u64(mfn as usize * 4096 + idx as usize * 8);
        a.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
            .unwrap_or_else(|v| v)
    }
    fn fetch_and_entry(&mut self, mfn: u32, idx: u32, mask: u64) {
        if self.frames.frame_ok(mfn) && idx < 512 {
            self.frames
                .atomic_u64(mfn as usize * 4096 + idx as usize * 8)
                .fetch_and(mask, Ordering::SeqCst);
        }
    }
    fn map(&mut self, vcpu: usize, va: u32, n: u32, mfn: u32, prot: PageProt) {
        if vcpu >= self.wins.len() {
            return;
        }
        if !self.frames.frame_ok(mfn.saturating_add(n.max(1) - 1)) {
            self.unmap(vcpu, va, n);
            return;
        }
        let mut p = Prot::R;
        if prot.write {
            p |= Prot::W;
        }
        if prot.exec {
            p |= Prot::X;
        }
        let (at, len, off) = (GuestAddr(va), u64::from(n) * 4096, u64::from(mfn) * 4096);
        let _ = self.wins[vcpu].map_fd(at, len, self.frames.fd, off, p);
        // Ring 3 may touch the page only if the guest's tables say user (U/S set at both
        // levels); otherwise it is there but inaccessible, so a fault says "present".
        let _ = if prot.user {
            self.uwins[vcpu].map_fd(at, len, self.frames.fd, off, p)
        } else {
            self.uwins[vcpu].map(at, len, Prot::SUPERVISOR)
        };
    }
    fn unmap(&mut self, vcpu: usize, va: u32, n: u32) {
        if vcpu < self.wins.len() {
            let (at, len) = (GuestAddr(va), u64::from(n) * 4096);
            let _ = self.wins[vcpu].unmap(at, len);
            let _ = self.uwins[vcpu].unmap(at, len);
        }
    }
}

impl PvHost for Host<'_> {
    fn mem(&mut self) -> &mut dyn crate::mmu::GuestMemory {
        &mut self.wins[self.v]
    }
    fn shared(&mut self) -> &mut dyn SharedPage {
        &mut self.sh
    }
    fn console_write(&mut self, bytes: &[u8]) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(bytes);
        let _ = o.flush();
    }
    fn console_read(&mut self, max: usize) -> Vec<u8> {
        let mut q = self.console.input.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.len().min(max);
        q.drain(..n).collect()
    }
    fn backend_notify(&mut self, n: BackendNotify) {
        if n.port == self.console.port {
            self.console.drain(self.frames);
        }
        self.notified.push(n);
    }
    fn now_ns(&self) -> u64 {
        self.time.now_ns()
    }
    fn set_m2p(&mut self, mfn: u32, pfn: u32) {
        if mfn < self.frames.nr_ram {
            self.frames
                .atomic_u32(self.frames.m2p0 as usize * 4096 + 4 * mfn as usize)
                .store(pfn, Ordering::SeqCst);
        }
    }
    fn grant_frames(&self) -> (u32, u32) {
        (self.frames.grant0, hypercall::MAX_GRANT_FRAMES)
    }
    fn copy_frame(&mut self, dst: u32, src: u32) {
        for i in 0..512 {
            let v = self.read_entry(src, i);
            self.write_entry(dst, i, v);
        }
    }
    fn clear_frame(&mut self, mfn: u32) {
        for i in 0..512 {
            self.write_entry(mfn, i, 0);
        }
    }
}

/// Write the start-of-day image into guest RAM (BootLayout's documented order).
fn populate(
    layout: &BootLayout,
    image: &[u8],
    ramdisk: Option<&[u8]>,
    ram: &mut Frames,
) -> Result<(), String> {
    for s in &layout.segments {
        let bytes = image
            .get(s.file.clone())
            .ok_or("segment outside the image")?;
        ram.write(s.pfn, s.page_offset as usize, bytes)?;
    }
    if let (Some(m), Some(rd)) = (layout.ramdisk, ramdisk) {
        ram.write(m.pfn, 0, rd)?;
    }
    for i in 0..layout.p2m.pages {
        if let Some(page) = layout.p2m_page(i, &builder::identity_mfn) {
            ram.write(Pfn(layout.p2m.pfn.0 + i), 0, &page)?;
        }
    }
    for pt in &layout.page_tables {
        let bytes: Vec<u8> = pt.entries.iter().flat_map(|e| e.to_le_bytes()).collect();
        ram.write(pt.pfn, 0, &bytes)?;
    }
    ram.write(
        layout.start_info_pfn,
        0,
        &builder::start_info_bytes(&layout.start_info),
    )?;
    if let Some(h) = layout.hypercall_page {
        ram.write(h.pfn, 0, &builder::hypercall_page_bytes())?;
    }
    Ok(())
}

fn set_ring1(m: &mut Machine, layout: &BootLayout) {
    traps::install_flat_descriptors(&mut m.gdt);
    let r = &layout.vcpu.user_regs;
    traps::start_ring1(
        m.cpu_mut(),
        [r.eax, r.ecx, r.edx, r.ebx, r.esp, r.ebp, r.esi, r.edi],
        r.eip,
        r.eflags,
    );
}

/// Segment caches for selectors, from the machine's descriptor table.
fn selector_fn<'a>(gdt: &'a [u64], ldt: &'a [u64]) -> impl Fn(u16) -> Option<Segment> + 'a {
    move |sel: u16| {
        let table = if sel & 4 != 0 { ldt } else { gdt };
        let d = *table.get(usize::from(sel >> 3))?;
        (d != 0).then(|| Segment::from_descriptor(sel, d))
    }
}

fn deliver(
    m: &mut Machine,
    dom: &mut PvDomain,
    sh: &mut SharedInfoPage,
    vector: u8,
    err: Option<u32>,
) -> Result<(), traps::BounceError> {
    sync_mask_in(dom, sh);
    let mut cpu = m.cpu().clone();
    let (gdt, ldt) = (m.gdt.clone(), m.ldt.clone());
    let sel = selector_fn(&gdt, &ldt);
    traps::bounce(dom, &mut cpu, m.kernel_mem(), vector, err, &sel)?;
    sync_mask_out(dom, sh);
    m.set_cpu(cpu);
    Ok(())
}

/// The translator raises #UD for SYSENTER; Xen on an Intel host bounces it to the guest's
/// sysenter callback or #GP handler (`pv::traps::sysenter`). `None` if EIP is not SYSENTER.
fn sysenter(
    m: &mut Machine,
    dom: &mut PvDomain,
    si: &mut SharedInfoPage,
    v: usize,
) -> Option<Option<i32>> {
    let eip = m.cpu().eip;
    let mut code = [0u8; 15];
    let n = (0..15u32)
        .take_while(|&k| {
            let k = k as usize;
            m.mem
                .peek(GuestAddr(eip.wrapping_add(k as u32)), &mut code[k..k + 1])
                .is_ok()
        })
        .count();
    if !traps::is_sysenter(&code[..n]) {
        return None;
    }
    sync_mask_in(dom, si);
    let mut cpu = m.cpu().clone();
    let (gdt, ldt) = (m.gdt.clone(), m.ldt.clone());
    let sel = selector_fn(&gdt, &ldt);
    if let Err(e) = traps::sysenter(dom, &mut cpu, m.kernel_mem(), &sel) {
        crash_report(
            m,
            &format!("vCPU {v}: sysenter with no usable handler ({e:?})"),
        );
        return Some(Some(EXIT_CRASH));
    }
    sync_mask_out(dom, si);
    m.set_cpu(cpu);
    Some(None)
}

fn crash_report(m: &Machine, why: &str) {
    let c = m.cpu();
    let mut code = [0u8; 16];
    let n = (0..16)
        .take_while(|&k| {
            m.mem
                .peek(
                    GuestAddr(c.eip.wrapping_add(k)),
                    &mut code[k as usize..k as usize + 1],
                )
                .is_ok()
        })
        .count();
    let mut dec = iced_x86::Decoder::with_ip(
        32,
        &code[..n],
        u64::from(c.eip),
        iced_x86::DecoderOptions::NONE,
    );
    let insn = dec.decode();
    eprintln!("xdbt: guest crashed: {why}");
    eprintln!(
        "  eip={:08x} eflags={:08x} eax={:08x} ecx={:08x} edx={:08x} ebx={:08x} esp={:08x} ebp={:08x} esi={:08x} edi={:08x}",
        c.eip, c.eflags, c.gpr[0], c.gpr[1], c.gpr[2], c.gpr[3], c.gpr[4], c.gpr[5], c.gpr[6], c.gpr[7]
    );
    eprintln!(
        "  at {:08x}: {:02x?} ({:?})",
        c.eip,
        &code[..insn.len().min(n)],
        insn.mnemonic()
    );
}

/// vcpu_info.arch.cr2 (x86_32): where Xen leaves a #PF's address for the guest.
const VI_CR2: u32 = 8;
/// vcpu_info.time (vcpu_time_info): after arch_vcpu_info's cr2 and pad[5].
const VI_TIME: u32 = core::mem::offset_of!(hypercall_abi::xen::VcpuInfo, time) as u32;

/// What privileged-op emulation gets from the hosted runner: no I/O ports are backed; the
/// TSC is the host's (guests read it natively too); CR0.TS changes are applied afterwards.
struct HostedPrivEnv {
    cr3_mfn: u32,
    nr_pages: u32,
    tsc_khz: u32,
    arch_iopl: bool,
    ts: Option<bool>,
}

impl PrivEnv for HostedPrivEnv {
    fn cr3_mfn(&self) -> u32 {
        self.cr3_mfn
    }
    fn fpu_taskswitch(&mut self, ts: bool) {
        self.ts = Some(ts);
    }
    fn tsc(&mut self) -> u64 {
        rdtsc()
    }
    fn tsc_khz(&self) -> u32 {
        self.tsc_khz
    }
    fn upper_mfn_bound(&self) -> u32 {
        self.nr_pages
    }
    fn architectural_iopl(&self) -> bool {
        self.arch_iopl
    }
    fn io_read(&mut self, _port: u16, _size: u8) -> Option<u32> {
        None
    }
    fn io_write(&mut self, _port: u16, _size: u8, _value: u32) {}
}

/// #GP(0) or #UD from the guest: emulate it as Xen would (`pv::privop`). `None` when the
/// exception is to be delivered as it is, else the exception to deliver instead (if any).
fn privileged(
    m: &mut Machine,
    dom: &mut PvDomain,
    sh: &Shared,
    v: usize,
    ud: bool,
) -> Option<Option<(u8, Option<u32>)>> {
    let mut env = HostedPrivEnv {
        cr3_mfn: dom.mmu.cr3_mfn().unwrap_or(0),
        nr_pages: dom.nr_pages,
        tsc_khz: (sh.time.tsc_hz / 1000).min(u64::from(u32::MAX)) as u32,
        arch_iopl: dom.vm_assist & (1 << hypercall_abi::xen::VMASST_TYPE_architectural_iopl) != 0,
        ts: None,
    };
    let mut cpu = m.cpu().clone();
    let st = &mut dom.vcpus[v].privs;
    // Xen reads the instruction, the I/O bitmap and string-I/O buffers with its own
    // (supervisor) rights through the guest's page tables, also for a ring-3 fault.
    let mem = m.kernel_mem();
    let out = if ud {
        privop::emulate_ud(st, &mut cpu, mem, &mut env)
    } else {
        privop::emulate_gp(st, &mut cpu, mem, &mut env)
    };
    let out = match out {
        PrivOutcome::NotEmulated => return None,
        PrivOutcome::NewCr3 { mfn, next_eip } => {
            // A CR3 write is MMUEXT_NEW_BASEPTR; if Xen's checks fail, the #GP stands.
            let mut host = sh.host(v);
            if dom.mmu.new_baseptr(&mut host, mfn).is_err() {
                return None;
            }
            cpu.eip = next_eip;
            PrivOutcome::Done
        }
        o => o,
    };
    *m.cpu_mut() = cpu;
    if let Some(ts) = env.ts {
        dom.fpu_ts = ts;
        m.set_fpu_ts(ts);
    }
    Some(match out {
        PrivOutcome::Fault(f) => {
            let v = f.vector as u8;
            Some((v, traps::has_error_code(v).then_some(f.error_code)))
        }
        _ => None,
    })
}

/// shared_info at start of day: all upcalls masked, time and wallclock published.
fn init_shared_info(sh: &mut dyn SharedPage, t: &TimeBase, nr_pages: u32) {
    use core::mem::offset_of;
    use hypercall_abi::xen::SharedInfo;
    for v in 0..32 {
        let vi = event::vcpu_info_off(v);
        sh.swap_u8(vi + event::VI_UPCALL_MASK, 1);
        let ti = vi + VI_TIME;
        sh.store_u32(ti, 1);
        sh.store_u32(ti + 8, t.tsc0 as u32);
        sh.store_u32(ti + 12, (t.tsc0 >> 32) as u32);
        sh.store_u32(ti + 16, 0);
        sh.store_u32(ti + 20, 0);
        sh.store_u32(ti + 24, t.mul);
        // tsc_shift, then flags: XEN_PVCLOCK_TSC_STABLE_BIT (the host TSC is invariant).
        sh.store_u32(ti + 28, u32::from(t.shift as u8) | (1 << 8));
        sh.store_u32(ti, 2);
    }
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let wc = offset_of!(SharedInfo, wc_version) as u32;
    sh.store_u32(wc, 1);
    sh.store_u32(wc + 4, wall.as_secs() as u32);
    sh.store_u32(wc + 8, wall.subsec_nanos());
    sh.store_u32(wc, 2);
    let arch = offset_of!(SharedInfo, arch) as u32;
    sh.store_u32(arch, nr_pages);
}

/// Publish vCPU `v`'s time record now (Xen's update_vcpu_system_time): guests that read
/// `system_time` without extrapolating from the TSC (GRUB's clock) see it advance.
fn publish_time(sh: &mut dyn SharedPage, t: &TimeBase, v: u32) {
    let ti = event::vcpu_info_off(v) + VI_TIME;
    let ver = sh.load_u32(ti);
    sh.store_u32(ti, ver.wrapping_add(1) | 1);
    let tsc = rdtsc();
    let ns = t.ns_of(tsc);
    sh.store_u32(ti + 8, tsc as u32);
    sh.store_u32(ti + 12, (tsc >> 32) as u32);
    sh.store_u32(ti + 16, ns as u32);
    sh.store_u32(ti + 20, (ns >> 32) as u32);
    sh.store_u32(ti, (ver | 1).wrapping_add(1));
}

/// Reload the guest's descriptor tables into the machine after set_gdt / SET_LDT /
/// update_descriptor.
fn reload_descriptors(m: &mut Machine, dom: &PvDomain, v: usize, g: &[u64]) {
    for i in 0..hypercall::FIRST_RESERVED_GDT_ENTRY as usize {
        if i < m.gdt.len() {
            m.gdt[i] = g.get(i).copied().unwrap_or(0);
        }
    }
    let v = &dom.vcpus[v];
    m.ldt.clear();
    let ents = if v.ldt_ok { v.ldt_ents } else { 0 };
    for i in 0..ents {
        let mut b = [0u8; 8];
        let d = if m
            .kernel_mem()
            .peek(GuestAddr(v.ldt_base.wrapping_add(8 * i)), &mut b)
            .is_ok()
        {
            u64::from_le_bytes(b)
        } else {
            0
        };
        // Xen types LDT pages as descriptor pages when it maps them, which runs
        // check_descriptor on each entry, fixing it in place (DPL 0 raised to 1); one it
        // refuses cannot be used.
        let fixed = hypercall::check_descriptor(d).unwrap_or(0);
        if fixed != d && fixed != 0 {
            let at = GuestAddr(v.ldt_base.wrapping_add(8 * i));
            let _ = m.kernel_mem().poke(at, &fixed.to_le_bytes());
        }
        m.ldt.push(fixed);
    }
    m.descriptors_changed();
}

/// Xen's writable page tables (ptwr_emulated_update, VMASST_TYPE_writable_pagetables): a
/// guest kernel write to one of its L1 tables, mapped read-only, is emulated and validated
/// like mmu_update. The instruction runs once on a private copy of the page, and what it
/// changed is applied entry by entry. Returns false to deliver the original #PF.
fn ptwr(m: &mut Machine, dom: &mut PvDomain, sh: &Shared, v: usize, cr2: u32) -> bool {
    let va = cr2 & !0xfff;
    let (target, before) = {
        let host = sh.host(v);
        let Some((_, _, e)) = dom.mmu.l1_entry_of(&host, cr2) else {
            return false;
        };
        if e & 1 == 0 {
            return false;
        }
        let Ok(target) = u32::try_from((e & 0x000f_ffff_ffff_f000) >> 12) else {
            return false;
        };
        if !matches!(dom.mmu.page_type(target), Some((PageType::L1, n, _)) if n > 0) {
            return false;
        }
        let before: Vec<u64> = (0..512).map(|i| host.read_entry(target, i)).collect();
        (target, before)
    };
    let bytes: Vec<u8> = before.iter().flat_map(|v| v.to_le_bytes()).collect();
    let saved = m.cpu().clone();
    let mut exit = Exit::Stopped;
    let mut after = vec![0u8; 4096];
    let mut ok = m.mem.map(GuestAddr(va), 4096, Prot::R | Prot::W).is_ok()
        && m.mem.poke(GuestAddr(va), &bytes).is_ok();
    if ok {
        for _ in 0..4 {
            exit = m.step();
            if !(exit == Exit::Stopped && m.cpu().eip == saved.eip) {
                break;
            }
        }
        ok = exit == Exit::Stopped
            && m.cpu().eip != saved.eip
            && m.mem.peek(GuestAddr(va), &mut after).is_ok();
    }
    let mut host = sh.host(v);
    // Back to the real, read-only mapping of the table.
    dom.mmu.refresh_va(&mut host, va);
    if ok {
        let mut applied = Vec::new();
        for (i, old) in before.iter().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&after[8 * i..8 * i + 8]);
            let new = u64::from_le_bytes(w);
            if new == *old {
                continue;
            }
            let ptr = (u64::from(target) << 12) | (8 * i as u64);
            let mut r =
                dom.mmu
                    .update_entry(&mut host, ptr, new, crate::pv::mm::UpdateKind::Normal);
            if r.is_err() && new as u32 == *old as u32 && new & 1 != 0 {
                // Only the upper half of a PAE entry was written: Xen assumes the guest
                // writes the halves the wrong way round and accepts the entry with its
                // present bit cleared until the lower half follows (ptwr_emulated_update).
                r = dom.mmu.update_entry(
                    &mut host,
                    ptr,
                    new & !1,
                    crate::pv::mm::UpdateKind::Normal,
                );
            }
            if r.is_err() {
                for (p, o) in applied.into_iter().rev() {
                    let _ =
                        dom.mmu
                            .update_entry(&mut host, p, o, crate::pv::mm::UpdateKind::Normal);
                }
                ok = false;
                break;
            }
            applied.push((ptr, *old));
        }
    }
    drop(host);
    if !ok {
        *m.cpu_mut() = saved;
    }
    ok
}

/// Boot `image` and run it to its end; returns the process exit code.
pub fn run(image: &[u8], opts: &PvOptions) -> i32 {
    let kernel = match builder::parse_kernel(image) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("xdbt: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let nr_vcpus = opts.vcpus.clamp(1, MAX_VCPUS);
    let nr_pages = opts.memory_mib.saturating_mul(256);
    let mut cfg = BuildConfig {
        cmdline: &opts.cmdline,
        ramdisk_len: opts.ramdisk.as_ref().map(|r| r.len() as u32),
        nr_vcpus,
        ..BuildConfig::new(opts.memory_mib)
    };
    // shared_info is Xen's frame, above the domain's RAM (Frames::new's layout).
    cfg.shared_info_maddr = u64::from(nr_pages) << 12;
    let layout = match builder::build(&kernel, image, &cfg) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("xdbt: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if layout.nr_pages != nr_pages {
        eprintln!("xdbt: internal: builder used {} pages", layout.nr_pages);
        return EXIT_BAD_INPUT;
    }
    let setup = || -> Result<(Vec<Window>, Vec<Window>, Frames), String> {
        let mut frames = Frames::new(layout.nr_pages)?;
        populate(&layout, image, opts.ramdisk.as_deref(), &mut frames)?;
        let first = Window::new().map_err(|e| e.to_string())?;
        let mut wins = vec![first.clone()];
        for _ in 1..nr_vcpus {
            wins.push(first.sibling().map_err(|e| e.to_string())?);
        }
        let mut uwins = Vec::new();
        for _ in 0..nr_vcpus {
            uwins.push(first.sibling().map_err(|e| e.to_string())?);
        }
        for w in wins.iter_mut().chain(uwins.iter_mut()) {
            // The M2P, read-only at MACH2PHYS_COMPAT_VIRT_START, in every address space.
            w.map_fd(
                GuestAddr(crate::pv::mm::HYPERVISOR_VIRT_START),
                u64::from(frames.nr_m2p) * 4096,
                frames.fd,
                u64::from(frames.m2p0) * 4096,
                Prot::R,
            )
            .map_err(|e| e.to_string())?;
        }
        Ok((wins, uwins, frames))
    };
    let (wins, uwins, frames) = match setup() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("xdbt: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let time = TimeBase::calibrate();
    let mut dom = PvDomain::new(DOMID, layout.nr_pages, nr_vcpus);
    // What libxc puts in the vCPU context (pae_extended_cr3 for such kernels) and Xen copies
    // into the domain (arch_set_info_guest).
    dom.vm_assist = layout.vcpu.vm_assist;
    dom.evtchn.connect_backend(cfg.store_evtchn, 0, 1);
    dom.evtchn.connect_backend(cfg.console_evtchn, 0, 2);
    for v in &mut dom.vcpus {
        v.next_periodic = Some(v.period_ns);
    }
    let input = Arc::new(Mutex::new(VecDeque::new()));
    let console = Console {
        page: layout.console_pfn.0 as usize * 4096,
        port: cfg.console_evtchn,
        input: input.clone(),
    };
    let stops: Vec<StopHandle> = wins
        .iter()
        .zip(&uwins)
        .map(|(k, u)| StopHandle::pair(k, u))
        .collect();
    let alarms: Vec<Arc<Alarm>> = stops.iter().map(|s| Alarm::start(*s)).collect();
    install_shutdown_signals(stops[0]);
    match &opts.console_input {
        Some(bytes) => input
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(bytes.iter().copied()),
        None => {
            let (q, a, stop) = (input.clone(), alarms[0].clone(), stops[0]);
            std::thread::spawn(move || {
                let mut buf = [0u8; 256];
                let mut stdin = std::io::stdin();
                while let Ok(n) = stdin.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    q.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(buf[..n].iter().copied());
                    a.kick(stop);
                }
            });
        }
    }
    let mut xs = XenStore::new(&DomainConfig {
        domid: DOMID,
        name: opts.name.as_str(),
        uuid: *b"xdbt-guest-uuid\0",
        memory_kib: u64::from(opts.memory_mib) * 1024,
        max_memory_kib: u64::from(opts.memory_mib) * 1024,
        vcpus: nr_vcpus,
        store_port: cfg.store_evtchn,
        store_mfn: u64::from(layout.xenstore_pfn.0),
        console_port: cfg.console_evtchn,
        console_mfn: u64::from(layout.console_pfn.0),
    });
    for (k, v) in &opts.xenstore {
        if let Err(e) = xs.write(k, v.as_bytes()) {
            eprintln!("xdbt: --xenstore {k}={v}: {}", e.name());
            alarms.iter().for_each(|a| a.quit());
            return EXIT_BAD_INPUT;
        }
    }
    let mut ring = StoreRing {
        frames: &frames,
        base: layout.xenstore_pfn.0 as usize * 4096,
    };
    XenStore::init_ring(&mut ring);
    let store = Store {
        xs,
        ring,
        port: cfg.store_evtchn,
    };
    let shared = Shared {
        frames: &frames,
        console: &console,
        time,
        wins,
        uwins,
        alarms,
        stops,
        blocked: (0..nr_vcpus).map(|_| AtomicBool::new(false)).collect(),
        state: Mutex::new(DomState { dom, store }),
        deadline: opts.timeout.map(|t| Instant::now() + t),
        result: Mutex::new(None),
        done: AtomicBool::new(false),
        // XDBT_TRACE=1: every hypercall with its arguments and result, on stderr.
        trace: std::env::var_os("XDBT_TRACE").is_some(),
    };
    {
        let mut host = shared.host(0);
        init_shared_info(host.shared(), &time, layout.nr_pages);
        let booted = shared.lock().dom.mmu.boot(&mut host, layout.l3_pfn.0);
        if let Err(e) = booted {
            eprintln!("xdbt: the start-of-day page tables do not validate ({e})");
            shared.alarms.iter().for_each(|a| a.quit());
            return EXIT_BAD_INPUT;
        }
    }
    let stats: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..nr_vcpus as usize)
            .map(|v| {
                let (shared, layout) = (&shared, &layout);
                s.spawn(move || vcpu_thread(shared, v, layout, opts.stats))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    shared.alarms.iter().for_each(|a| a.quit());
    // Whatever the guest left in the console ring.
    console.drain(&frames);
    let code = shared
        .result
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or(EXIT_CRASH);
    if opts.stats {
        for (v, st) in stats.iter().enumerate() {
            if nr_vcpus > 1 {
                eprintln!("vcpu={v}");
            }
            eprint!("{st}");
        }
        let st = shared.lock();
        eprintln!("hypercalls={}", st.dom.hypercalls);
        let s = st.dom.mmu.stats;
        eprintln!(
            "pt_updates={}\npt_baseptr_switches={}\npt_pages_mapped={}",
            s.pt_updates, s.baseptr_switches, s.pages_mapped
        );
        eprintln!(
            "tsc_hz={}\ntsc_to_system_mul={}\ntsc_shift={}",
            time.tsc_hz, time.mul, time.shift
        );
    }
    code
}

/// The most vCPUs `xdbt run` gives a guest.
pub const MAX_VCPUS: u32 = 8;

/// One vCPU's host thread: vCPU 0 starts at the kernel's entry; the others wait for
/// VCPUOP_initialise + VCPUOP_up. Returns the translator statistics for `--stats`.
fn vcpu_thread(sh: &Shared, v: usize, layout: &BootLayout, stats: bool) -> String {
    let made = Machine::with_window(sh.wins[v].clone()).and_then(|mut m| {
        m.set_user_window(sh.uwins[v].clone())?;
        Ok(m)
    });
    let mut m = match made {
        Ok(m) => m,
        Err(e) => {
            eprintln!("xdbt: vCPU {v}: {e}");
            sh.finish(EXIT_CRASH);
            return String::new();
        }
    };
    set_ring1(&mut m, layout);
    if v != 0 && !park(sh, v, &mut m) {
        return String::new();
    }
    if let Some(code) = vcpu_loop(sh, v, &mut m) {
        sh.finish(code);
    }
    if stats {
        m.stats().kv_lines()
    } else {
        String::new()
    }
}

/// Wait until vCPU `v` is up; on its first start, load the registers VCPUOP_initialise gave.
/// False when the domain ended meanwhile.
fn park(sh: &Shared, v: usize, m: &mut Machine) -> bool {
    loop {
        if sh.done.load(Ordering::SeqCst) {
            return false;
        }
        {
            let mut st = sh.lock();
            let dom = &mut st.dom;
            if dom.vcpus[v].up {
                if let Some(r) = dom.vcpus[v].start.take() {
                    let g = {
                        let host = sh.host(v);
                        dom.enter(v);
                        let g = hypercall::guest_gdt(dom, v, &host);
                        dom.leave();
                        g
                    };
                    reload_descriptors(m, dom, v, &g);
                    let (gdt, ldt) = (m.gdt.clone(), m.ldt.clone());
                    let sel = selector_fn(&gdt, &ldt);
                    let segs = [
                        SegReg::Cs,
                        SegReg::Ss,
                        SegReg::Ds,
                        SegReg::Es,
                        SegReg::Fs,
                        SegReg::Gs,
                    ];
                    let cpu = m.cpu_mut();
                    cpu.gpr = r.gpr;
                    cpu.eip = r.eip;
                    cpu.eflags = (r.eflags & !0x3000) | 0x202;
                    for (k, s) in segs.iter().enumerate() {
                        let seg = if r.sel[k] & !3 == 0 {
                            Segment::default()
                        } else {
                            match sel(r.sel[k]) {
                                Some(x) => x,
                                None => {
                                    drop(st);
                                    crash_report(
                                        m,
                                        &format!("vCPU {v}: bad selector {:#x}", r.sel[k]),
                                    );
                                    sh.finish(EXIT_CRASH);
                                    return false;
                                }
                            }
                        };
                        *cpu.seg_mut(*s) = seg;
                    }
                    cpu.cpl = (r.sel[0] & 3) as u8;
                    m.flush_code();
                }
                return true;
            }
        }
        sh.blocked[v].store(true, Ordering::SeqCst);
        sh.alarms[v].sleep(sh.deadline);
        sh.blocked[v].store(false, Ordering::SeqCst);
        if sh.timed_out() {
            sh.finish(EXIT_TIMEOUT);
            return false;
        }
    }
}

fn sync_mask_in(dom: &mut PvDomain, sh: &dyn SharedPage) {
    dom.upcall_mask = sh.load_u8(event::vcpu_info_off(dom.cur as u32) + event::VI_UPCALL_MASK);
}

fn sync_mask_out(dom: &PvDomain, sh: &mut dyn SharedPage) {
    sh.swap_u8(
        event::vcpu_info_off(dom.cur as u32) + event::VI_UPCALL_MASK,
        dom.upcall_mask,
    );
}

/// A vCPU with nothing to run (SCHEDOP_block / SCHEDOP_poll): sleep until `done` holds,
/// serving timers and console input meanwhile, without burning the host CPU. False if the
/// domain ended or the run's time limit passed first.
fn idle(sh: &Shared, v: usize, until: Option<u64>, done: impl Fn(&SharedInfoPage) -> bool) -> bool {
    let mut si = sh.si();
    loop {
        if sh.done.load(Ordering::SeqCst) {
            return false;
        }
        let now = sh.time.now_ns();
        let next = {
            let mut st = sh.lock();
            let dom = &mut st.dom;
            if sh.console.feed(sh.frames) {
                dom.evtchn.notify_from_backend(&mut si, sh.console.port);
            }
            publish_time(&mut si, &sh.time, v as u32);
            dom.fire_timers(&mut si, v, now);
            dom.next_deadline(v)
        };
        sh.kick_pending(v);
        if done(&si) || until.is_some_and(|u| now >= u) {
            return true;
        }
        if sh.timed_out() {
            return false;
        }
        let t = [next, until]
            .into_iter()
            .flatten()
            .min()
            .map(|ns| sh.time.instant_of(ns, now, Instant::now()));
        let wake = match (t, sh.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        sh.alarms[v].arm(None);
        sh.blocked[v].store(true, Ordering::SeqCst);
        // An event that arrived between the check above and now has kicked the alarm, so
        // this sleep returns at once.
        if !done(&si) {
            sh.alarms[v].sleep(wake);
        }
        sh.blocked[v].store(false, Ordering::SeqCst);
    }
}

/// SIGINT/SIGTERM: the first asks the guest to power off the way `xl shutdown` does (it
/// writes `control/shutdown = poweroff` in the guest's xenstore home); the second ends
/// `xdbt` at once.
static SHUTDOWN_ASKED: AtomicU32 = AtomicU32::new(0);
static STOP_PAGES: [std::sync::atomic::AtomicUsize; 2] = [
    std::sync::atomic::AtomicUsize::new(0),
    std::sync::atomic::AtomicUsize::new(0),
];

extern "C" fn on_shutdown_signal(sig: libc::c_int) {
    if SHUTDOWN_ASKED.fetch_add(1, Ordering::SeqCst) > 0 {
        // SAFETY: async-signal-safe calls only: restore the default action and re-raise.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return;
    }
    for p in &STOP_PAGES {
        let page = p.load(Ordering::SeqCst);
        if page != 0 {
            // SAFETY: `page` is a poll page of vCPU 0 (see StopHandle); mprotect is
            // async-signal-safe, and closing the page only makes the vCPU stop at its next
            // block.
            unsafe { libc::mprotect(page as *mut libc::c_void, 4096, libc::PROT_NONE) };
        }
    }
}

fn install_shutdown_signals(stop: StopHandle) {
    for (slot, page) in STOP_PAGES.iter().zip(stop.poll_pages()) {
        slot.store(page, Ordering::SeqCst);
    }
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only touches atomics and async-signal-safe system calls.
        unsafe {
            libc::signal(sig, on_shutdown_signal as *const () as libc::sighandler_t);
        }
    }
}

/// The built-in xenstore daemon and the guest's end of its channel.
struct Store<'a> {
    xs: XenStore,
    ring: StoreRing<'a>,
    port: u32,
}

impl Store<'_> {
    fn service(&mut self, dom: &mut PvDomain, sh: &mut SharedInfoPage) {
        if self.xs.service(&mut self.ring) {
            dom.evtchn.notify_from_backend(sh, self.port);
        }
    }
}

/// Deliver an exception (with vCPU `v` entered in the domain): `None` to go on, or the
/// exit code when the guest has no usable handler (Xen crashes the domain then).
fn deliver_fault(
    m: &mut Machine,
    dom: &mut PvDomain,
    si: &mut SharedInfoPage,
    v: usize,
    f: crate::exit::Fault,
) -> Option<i32> {
    let vec = f.vector as u8;
    if f.vector == Vector::PF {
        m.cpu_mut().cr2 = f.cr2;
        si.store_u32(event::vcpu_info_off(v as u32) + VI_CR2, f.cr2);
    }
    let err = traps::has_error_code(vec).then_some(f.error_code);
    if let Err(e) = deliver(m, dom, si, vec, err) {
        crash_report(
            m,
            &format!("vCPU {v}: {f:?} with no usable handler ({e:?})"),
        );
        return Some(EXIT_CRASH);
    }
    None
}

/// Run vCPU `v` until the domain ends (`Some(exit code)`) or another vCPU ended it (`None`).
fn vcpu_loop(sh: &Shared, v: usize, m: &mut Machine) -> Option<i32> {
    let mut si = sh.si();
    let mut last_publish = 0u64;
    let mut shutdown_sent = false;
    loop {
        if sh.done.load(Ordering::SeqCst) {
            return None;
        }
        // Backends and timers first, then an upcall if one is due (under the domain lock).
        let now = sh.time.now_ns();
        let next = {
            let mut st = sh.lock();
            let DomState { dom, store } = &mut *st;
            dom.enter(v);
            if v == 0 && !shutdown_sent && SHUTDOWN_ASKED.load(Ordering::SeqCst) > 0 {
                shutdown_sent = true;
                eprintln!("xdbt: asking the guest to power off (control/shutdown); again to kill");
                let _ = store.xs.write("control/shutdown", b"poweroff");
                store.service(dom, &mut si);
            }
            if sh.console.feed(sh.frames) {
                dom.evtchn.notify_from_backend(&mut si, sh.console.port);
            }
            if now.wrapping_sub(last_publish) >= 1_000_000 {
                publish_time(&mut si, &sh.time, v as u32);
                last_publish = now;
            }
            dom.fire_timers(&mut si, v, now);
            if dom.event_callback.1 != 0 && EventChannels::upcall_due(&si, v as u32) {
                sync_mask_in(dom, &si);
                let mut cpu = m.cpu().clone();
                let (gdt, ldt) = (m.gdt.clone(), m.ldt.clone());
                let sel = selector_fn(&gdt, &ldt);
                if let Err(e) = traps::bounce_event(dom, &mut cpu, m.kernel_mem(), &sel) {
                    dom.leave();
                    drop(st);
                    crash_report(m, &format!("vCPU {v}: event upcall: {e:?}"));
                    return Some(EXIT_CRASH);
                }
                m.set_cpu(cpu);
                sync_mask_out(dom, &mut si);
            }
            let next = dom.next_deadline(v);
            dom.leave();
            next
        };
        sh.kick_pending(v);
        let next = next.map(|ns| sh.time.instant_of(ns, now, Instant::now()));
        let wake = match (next, sh.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        sh.alarms[v].arm(wake);
        let exit = m.run();
        if sh.done.load(Ordering::SeqCst) {
            return None;
        }
        if sh.trace && !matches!(exit, Exit::Stopped) {
            let c = m.cpu();
            if !matches!(exit, Exit::SoftInt { vector: 0x82, .. }) || c.gpr[0] == 23 {
                eprintln!(
                    "xdbt: vcpu {v} exit {exit:?} at {:08x} cpl {}",
                    c.eip, c.cpl
                );
            }
        }
        let mut st = sh.lock();
        let DomState { dom, store } = &mut *st;
        dom.enter(v);
        let mut end = None;
        let mut wait: Option<Outcome> = None;
        match exit {
            Exit::SoftInt { vector: 0x82, .. } if m.cpu().cpl == 1 && m.cpu().gpr[0] == 23 => {
                // HYPERVISOR_iret: the stub pushed EAX and never returns.
                sync_mask_in(dom, &si);
                let mut cpu = m.cpu().clone();
                let (gdt, ldt) = (m.gdt.clone(), m.ldt.clone());
                let sel = selector_fn(&gdt, &ldt);
                match traps::hypervisor_iret(dom, &mut cpu, &mut m.mem, &sel) {
                    Ok(()) => {
                        m.set_cpu(cpu);
                        sync_mask_out(dom, &mut si);
                    }
                    Err(e) => {
                        crash_report(m, &format!("vCPU {v}: HYPERVISOR_iret: {e:?}"));
                        end = Some(EXIT_CRASH);
                    }
                }
            }
            Exit::SoftInt { vector, len } if vector != 0x82 || m.cpu().cpl != 1 => {
                // `int n`: delivered if the gate's DPL allows it from this ring, else #GP.
                let dpl = dom
                    .trap_table
                    .iter()
                    .find(|t| t.0 == vector)
                    .map(|t| t.1 & 3);
                // Outside ring 1, `int $0x82` is an ordinary software interrupt: a guest that
                // gave vector 0x82 a DPL-3 gate gets it (do_general_protection,
                // permit_softint).
                let (vec, err) = if dpl.is_some_and(|d| d >= m.cpu().cpl) {
                    (vector, None)
                } else {
                    let c = m.cpu_mut();
                    c.eip = c.eip.wrapping_sub(u32::from(len));
                    (13, Some((u32::from(vector) << 3) | 2))
                };
                if let Err(e) = deliver(m, dom, &mut si, vec, err) {
                    crash_report(m, &format!("vCPU {v}: {e:?}"));
                    end = Some(EXIT_CRASH);
                }
            }
            Exit::Fault(f)
                if (f.vector == Vector::GP && f.error_code == 0) || f.vector == Vector::UD =>
            {
                let ud = f.vector == Vector::UD;
                let mut far_done = None;
                if ud && m.cpu().cpl < 3 {
                    // iret / far jmp / call / ret, run natively by a ring-1 kernel on Xen.
                    let mut cpu = m.cpu().clone();
                    let (gdt, ldt) = (m.gdt.clone(), m.ldt.clone());
                    let sel = selector_fn(&gdt, &ldt);
                    if let Some(r) = far::emulate(&mut cpu, &mut m.mem, &sel) {
                        far_done = Some(match r {
                            Ok(()) => {
                                m.set_cpu(cpu);
                                None
                            }
                            Err(fault) => deliver_fault(m, dom, &mut si, v, fault),
                        });
                    }
                }
                if far_done.is_none() && ud {
                    far_done = sysenter(m, dom, &mut si, v);
                }
                match far_done {
                    Some(e) => end = e,
                    None => {
                        let deliver_now = match privileged(m, dom, sh, v, ud) {
                            None => Some((f.vector as u8, (!ud).then_some(0))),
                            Some(x) => x,
                        };
                        if let Some((vec, err)) = deliver_now {
                            let fault = crate::exit::Fault {
                                vector: Vector::from_u8(vec).unwrap_or(Vector::GP),
                                error_code: err.unwrap_or(0),
                                cr2: m.cpu().cr2,
                            };
                            end = deliver_fault(m, dom, &mut si, v, fault);
                        }
                    }
                }
            }
            Exit::Fault(f) => {
                if f.vector == Vector::NM {
                    // Xen clears the virtual TS when it bounces #NM (do_device_not_available).
                    dom.fpu_ts = false;
                    m.set_fpu_ts(false);
                }
                let emulated = f.vector == Vector::PF
                    && f.error_code & 0x13 == 0x3
                    && m.cpu().cpl == 1
                    && dom.vm_assist & (1 << 2) != 0
                    && ptwr(m, dom, sh, v, f.cr2);
                if !emulated {
                    end = deliver_fault(m, dom, &mut si, v, f);
                }
            }
            Exit::SoftInt { vector: 0x82, .. } if m.cpu().cpl == 1 => {
                let mut cpu = m.cpu().clone();
                let ts = dom.fpu_ts;
                sync_mask_in(dom, &si);
                let mut host = sh.host(v);
                if sh.trace {
                    let g = &cpu.gpr;
                    eprint!(
                        "xdbt: vcpu {v} hypercall {} ({:x}, {:x}, {:x}, {:x}, {:x}) at {:08x}",
                        g[0], g[3], g[1], g[2], g[6], g[7], cpu.eip
                    );
                }
                let out = hypercall::dispatch(dom, &mut cpu, &mut host);
                if sh.trace {
                    eprintln!(" = {}", cpu.gpr[0] as i32);
                }
                let store_kicked = host.notified.drain(..).any(|n| n.port == store.port);
                let reload = core::mem::take(&mut dom.descriptors_dirty)
                    .then(|| hypercall::guest_gdt(dom, v, &host));
                drop(host);
                if let Some(g) = reload {
                    reload_descriptors(m, dom, v, &g);
                }
                *m.cpu_mut() = cpu;
                if store_kicked {
                    store.service(dom, &mut si);
                }
                if dom.fpu_ts != ts {
                    m.set_fpu_ts(dom.fpu_ts);
                }
                if core::mem::take(&mut dom.vcpus_changed) {
                    // A vCPU brought up: its parked thread starts.
                    for w in 0..sh.alarms.len() {
                        if w != v {
                            sh.kick(w);
                        }
                    }
                }
                match out {
                    Outcome::Shutdown(reason) => {
                        use hypercall_abi::sched::{
                            SHUTDOWN_crash as CRASH, SHUTDOWN_poweroff as POWEROFF,
                            SHUTDOWN_reboot as REBOOT,
                        };
                        end = Some(match reason {
                            POWEROFF => EXIT_POWEROFF,
                            REBOOT => EXIT_REBOOT,
                            CRASH => {
                                eprintln!("xdbt: guest crashed itself (SHUTDOWN_crash)");
                                crash_report(m, "SHUTDOWN_crash");
                                EXIT_CRASH
                            }
                            _ => {
                                eprintln!("xdbt: guest shut down (reason {reason})");
                                EXIT_CRASH
                            }
                        });
                    }
                    Outcome::Block => {
                        // Events are enabled by blocking (local_event_delivery_enable).
                        si.swap_u8(event::vcpu_info_off(v as u32) + event::VI_UPCALL_MASK, 0);
                        wait = Some(out);
                    }
                    Outcome::Poll { .. } => wait = Some(out),
                    _ => {}
                }
            }
            Exit::Stopped => {}
            other => {
                crash_report(m, &format!("vCPU {v}: {other:?}"));
                end = Some(EXIT_CRASH);
            }
        }
        let down = !dom.vcpus[v].up;
        let ports = dom.vcpus[v].poll_ports.clone();
        dom.leave();
        drop(st);
        sh.kick_pending(v);
        if end.is_some() {
            return end;
        }
        let ok = match wait {
            Some(Outcome::Block) => {
                let vi = event::vcpu_info_off(v as u32);
                idle(sh, v, None, |si| {
                    si.load_u8(vi + event::VI_UPCALL_PENDING) != 0
                })
            }
            Some(Outcome::Poll { timeout }) => {
                idle(sh, v, (timeout != 0).then_some(timeout), |si| {
                    EventChannels::any_pending(si, &ports)
                })
            }
            _ => !sh.timed_out(),
        };
        if !ok {
            if sh.timed_out() {
                eprintln!("xdbt: timeout (vCPU {v} at eip {:08x})", m.cpu().eip);
                return Some(EXIT_TIMEOUT);
            }
            return None;
        }
        if down {
            if !sh.lock().dom.vcpus.iter().any(|c| c.up) {
                // Nothing can bring a vCPU up again (no toolstack here): Xen would leave
                // the domain asleep forever; end it as a crash instead.
                eprintln!("xdbt: guest crashed: every vCPU is down (VCPUOP_down)");
                return Some(EXIT_CRASH);
            }
            if !park(sh, v, m) {
                return None;
            }
        }
    }
}
