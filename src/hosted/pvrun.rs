//! `xdbt run KERNEL`: a PV32 kernel under the translator with no Xen. Guest pseudo-physical
//! memory is a memfd; the window maps each guest virtual page to its frame the way the
//! guest's page tables say, with the page-table frames read-only as Xen maps them.
//!
//! So far: the start-of-day image from the domain builder, ring-1 execution, and the
//! hypercalls `crate::pv::hypercall` implements (console_io, sched_op shutdown/yield/block,
//! xen_version, set_trap_table, stack_switch, set_callbacks, fpu_taskswitch, vm_assist).

use super::machine::Machine;
use crate::cpu::seg::{SegReg, Segment};
use crate::exit::Exit;
use crate::mmu::{GuestAddr, Prot};
use crate::pv::builder::{self, BootLayout, BuildConfig, Pfn, PtLevel};
use crate::pv::hypercall::{self, Outcome, PvDomain, PvHost};
use crate::pv::traps;
use hypercall_abi::arch_x86_32::{FLAT_RING1_CS, FLAT_RING1_DS, FLAT_RING3_CS, FLAT_RING3_DS};
use std::io::Write;
use std::time::{Duration, Instant};

pub struct PvOptions {
    pub memory_mib: u32,
    pub cmdline: String,
    pub ramdisk: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    pub stats: bool,
}

/// Exit codes of `xdbt run` (documented in the README).
pub const EXIT_POWEROFF: i32 = 0;
pub const EXIT_CRASH: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_REBOOT: i32 = 3;
pub const EXIT_TIMEOUT: i32 = 4;

/// The console backend: console_io and the PV console ring (the page start_info names,
/// `xencons_interface` of xen/include/public/io/console.h) go to stdout, the way
/// xenconsoled would copy them to a terminal.
struct StdoutConsole {
    /// Host address of the console ring page in guest RAM.
    ring: *mut u8,
    port: u32,
}

impl StdoutConsole {
    /// Copy out what the guest produced in the ring and consume it.
    fn drain(&mut self) {
        const OUT: usize = 1024;
        const OUT_SIZE: u32 = 2048;
        const OUT_CONS: usize = 3080;
        const OUT_PROD: usize = 3084;
        // SAFETY: `ring` points at a 4 KiB page of the guest RAM mapping, which outlives
        // the console; the guest runs on this thread, so nothing writes it concurrently.
        unsafe {
            let cons_p = self.ring.add(OUT_CONS).cast::<u32>();
            let prod = self.ring.add(OUT_PROD).cast::<u32>().read_volatile();
            let mut cons = cons_p.read_volatile();
            // A hostile producer index cannot make us read more than the ring holds.
            if prod.wrapping_sub(cons) > OUT_SIZE {
                cons = prod.wrapping_sub(OUT_SIZE);
            }
            let mut out = Vec::new();
            while cons != prod {
                out.push(
                    self.ring
                        .add(OUT + (cons % OUT_SIZE) as usize)
                        .read_volatile(),
                );
                cons = cons.wrapping_add(1);
            }
            cons_p.write_volatile(cons);
            if !out.is_empty() {
                self.console_write(&out);
            }
        }
    }
}

impl PvHost for StdoutConsole {
    fn console_write(&mut self, bytes: &[u8]) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(bytes);
        let _ = o.flush();
    }

    fn evtchn_send(&mut self, port: u32) -> i32 {
        if port == self.port {
            self.drain();
            0
        } else {
            // Only the console channel exists so far (no event channel table yet).
            -hypercall_abi::errno::EINVAL
        }
    }
}

/// Guest RAM: a memfd, also mapped into this process for the builder's writes.
struct PhysMem {
    fd: i32,
    host: *mut u8,
    len: usize,
}

impl PhysMem {
    fn new(pages: u32) -> Result<PhysMem, String> {
        let len = pages as usize * 4096;
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
            Ok(PhysMem {
                fd,
                host: p.cast(),
                len,
            })
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
}

impl Drop for PhysMem {
    fn drop(&mut self) {
        // SAFETY: our own mapping and descriptor.
        unsafe {
            libc::munmap(self.host.cast(), self.len);
            libc::close(self.fd);
        }
    }
}

/// Write the start-of-day image into guest RAM (BootLayout's documented order).
fn populate(
    layout: &BootLayout,
    image: &[u8],
    ramdisk: Option<&[u8]>,
    ram: &mut PhysMem,
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

/// Map every present L1 entry of the initial page tables into the window.
fn map_initial(layout: &BootLayout, m: &mut Machine, ram: &PhysMem) -> Result<(), String> {
    const P: u64 = 1;
    const RW: u64 = 2;
    const NX: u64 = 1 << 63;
    let table = |pfn: u64| {
        layout
            .page_tables
            .iter()
            .find(|t| u64::from(t.pfn.0) == pfn)
    };
    let l3 = layout
        .page_tables
        .iter()
        .find(|t| t.level == PtLevel::L3)
        .ok_or("no L3 table")?;
    for (i3, &e3) in l3.entries.iter().enumerate().take(4) {
        if e3 & P == 0 {
            continue;
        }
        let Some(l2) = table((e3 >> 12) & 0xff_ffff) else {
            continue;
        };
        for (i2, &e2) in l2.entries.iter().enumerate() {
            if e2 & P == 0 {
                continue;
            }
            let Some(l1) = table((e2 >> 12) & 0xff_ffff) else {
                continue;
            };
            for (i1, &e1) in l1.entries.iter().enumerate() {
                if e1 & P == 0 {
                    continue;
                }
                let va = ((i3 as u32) << 30) | ((i2 as u32) << 21) | ((i1 as u32) << 12);
                let pfn = (e1 >> 12) & 0xff_ffff;
                let mut prot = Prot::R;
                if e1 & RW != 0 && e2 & RW != 0 {
                    prot |= Prot::W;
                }
                if e1 & NX == 0 {
                    prot |= Prot::X;
                }
                m.mem
                    .map_fd(GuestAddr(va), 4096, ram.fd, pfn * 4096, prot)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

fn set_ring1(m: &mut Machine, layout: &BootLayout) {
    // Xen's flat selectors live in its reserved GDT entries (FIRST_RESERVED_GDT_ENTRY 7168).
    let need = (usize::from(FLAT_RING3_DS) >> 3) + 1;
    if m.gdt.len() < need {
        m.gdt.resize(need, 0);
    }
    m.gdt[usize::from(FLAT_RING1_CS >> 3)] = 0x00cf_bb00_0000_ffff;
    m.gdt[usize::from(FLAT_RING1_DS >> 3)] = 0x00cf_b300_0000_ffff;
    m.gdt[usize::from(FLAT_RING3_CS >> 3)] = 0x00cf_fb00_0000_ffff;
    m.gdt[usize::from(FLAT_RING3_DS >> 3)] = 0x00cf_f300_0000_ffff;
    let r = &layout.vcpu.user_regs;
    let cpu = m.cpu_mut();
    cpu.cpl = 1;
    *cpu.seg_mut(SegReg::Cs) = Segment::flat(FLAT_RING1_CS, true, 1);
    for s in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
        *cpu.seg_mut(s) = Segment::flat(FLAT_RING1_DS, false, 1);
    }
    cpu.gpr = [r.eax, r.ecx, r.edx, r.ebx, r.esp, r.ebp, r.esi, r.edi];
    cpu.eip = r.eip;
    cpu.eflags = r.eflags | 0x2;
}

/// Segment caches for selectors, from the machine's descriptor table.
fn selector_fn(gdt: &[u64]) -> impl Fn(u16) -> Option<Segment> + '_ {
    move |sel: u16| {
        let d = *gdt.get(usize::from(sel >> 3))?;
        (d != 0).then(|| Segment::from_descriptor(sel, d))
    }
}

fn deliver(
    m: &mut Machine,
    dom: &mut PvDomain,
    vector: u8,
    err: Option<u32>,
) -> Result<(), traps::BounceError> {
    let mut cpu = m.cpu().clone();
    let gdt = m.gdt.clone();
    let sel = selector_fn(&gdt);
    traps::bounce(dom, &mut cpu, &mut m.mem, vector, err, &sel)?;
    let flush = cpu.seg != m.cpu().seg;
    *m.cpu_mut() = cpu;
    if flush {
        m.flush_code();
    }
    Ok(())
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

/// Boot `image` and run it to its end; returns the process exit code.
pub fn run(image: &[u8], opts: &PvOptions) -> i32 {
    let kernel = match builder::parse_kernel(image) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("xdbt: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let cfg = BuildConfig {
        cmdline: &opts.cmdline,
        ramdisk_len: opts.ramdisk.as_ref().map(|r| r.len() as u32),
        ..BuildConfig::new(opts.memory_mib)
    };
    let layout = match builder::build(&kernel, image, &cfg) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("xdbt: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let setup = || -> Result<(Machine, PhysMem), String> {
        let mut ram = PhysMem::new(layout.nr_pages)?;
        populate(&layout, image, opts.ramdisk.as_deref(), &mut ram)?;
        let mut m = Machine::new().map_err(|e| e.to_string())?;
        map_initial(&layout, &mut m, &ram)?;
        set_ring1(&mut m, &layout);
        Ok((m, ram))
    };
    let (mut m, _ram) = match setup() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("xdbt: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut dom = PvDomain::default();
    // SAFETY: console_pfn < nr_pages (the builder allocated it), so the page lies inside
    // the RAM mapping, which lives as long as `_ram`.
    let ring = unsafe { _ram.host.add(layout.console_pfn.0 as usize * 4096) };
    let mut console = StdoutConsole {
        ring,
        port: cfg.console_evtchn,
    };
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let code = loop {
        let exit = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => m.run_for(left),
                None => Exit::Stopped,
            },
            None => m.run(),
        };
        match exit {
            Exit::SoftInt { vector: 0x82, .. } if m.cpu().cpl == 1 && m.cpu().gpr[0] == 23 => {
                // HYPERVISOR_iret: the stub pushed EAX and never returns.
                let mut cpu = m.cpu().clone();
                let gdt = m.gdt.clone();
                let sel = selector_fn(&gdt);
                if let Err(e) = traps::hypervisor_iret(&mut dom, &mut cpu, &mut m.mem, &sel) {
                    crash_report(&m, &format!("HYPERVISOR_iret: {e:?}"));
                    break EXIT_CRASH;
                }
                *m.cpu_mut() = cpu;
            }
            Exit::SoftInt { vector, len } if vector != 0x82 || m.cpu().cpl != 1 => {
                // `int n`: delivered if the gate's DPL allows it from this ring, else #GP.
                let dpl = dom
                    .trap_table
                    .iter()
                    .find(|t| t.0 == vector)
                    .map(|t| t.1 & 3);
                let (v, err) = if vector != 0x82 && dpl.is_some_and(|d| d >= m.cpu().cpl) {
                    (vector, None)
                } else {
                    let c = m.cpu_mut();
                    c.eip = c.eip.wrapping_sub(u32::from(len));
                    (13, Some((u32::from(vector) << 3) | 2))
                };
                if let Err(e) = deliver(&mut m, &mut dom, v, err) {
                    crash_report(&m, &format!("{e:?}"));
                    break EXIT_CRASH;
                }
            }
            Exit::Fault(f) => {
                let v = f.vector as u8;
                if f.vector == crate::exit::Vector::NM {
                    // Xen clears the virtual TS when it bounces #NM (do_device_not_available).
                    dom.fpu_ts = false;
                    m.set_fpu_ts(false);
                }
                let err = traps::has_error_code(v).then_some(f.error_code);
                if let Err(e) = deliver(&mut m, &mut dom, v, err) {
                    crash_report(&m, &format!("{f:?} with no usable handler ({e:?})"));
                    break EXIT_CRASH;
                }
            }
            Exit::SoftInt { vector: 0x82, .. } if m.cpu().cpl == 1 => {
                let mut cpu = m.cpu().clone();
                let ts = dom.fpu_ts;
                let out = hypercall::dispatch(&mut dom, &mut cpu, &mut m.mem, &mut console);
                *m.cpu_mut() = cpu;
                if dom.fpu_ts != ts {
                    m.set_fpu_ts(dom.fpu_ts);
                }
                if let Outcome::Shutdown(reason) = out {
                    use hypercall_abi::sched::{
                        SHUTDOWN_poweroff as POWEROFF, SHUTDOWN_reboot as REBOOT,
                    };
                    break match reason {
                        POWEROFF => EXIT_POWEROFF,
                        REBOOT => EXIT_REBOOT,
                        _ => {
                            eprintln!("xdbt: guest shut down (reason {reason})");
                            EXIT_CRASH
                        }
                    };
                }
            }
            Exit::Stopped => {
                eprintln!("xdbt: timeout");
                break EXIT_TIMEOUT;
            }
            other => {
                crash_report(&m, &format!("{other:?}, no PV trap delivery yet"));
                break EXIT_CRASH;
            }
        }
    };
    // Whatever the guest left in the console ring.
    console.drain();
    if opts.stats {
        eprint!("{}", m.stats().kv_lines());
        eprintln!("hypercalls={}", dom.hypercalls);
    }
    code
}
