//! Per-instruction behaviour of the emulation against what Xen 4.17 does for a PV32 domU.

use super::*;
use crate::cpu::seg::Segment;
use crate::cpu::EBX;
use crate::exit::PFEC_INSN;
use crate::mmu::{check, Prot};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Sparse guest memory: 4 KiB pages with permissions.
#[derive(Default)]
struct Mem {
    pages: BTreeMap<u32, (Prot, [u8; 4096])>,
}

impl Mem {
    fn map(&mut self, page_addr: u32, prot: Prot) {
        self.pages.insert(page_addr >> 12, (prot, [0; 4096]));
    }
    fn put(&mut self, addr: u32, bytes: &[u8]) {
        for (k, b) in bytes.iter().enumerate() {
            let a = addr + k as u32;
            self.pages.get_mut(&(a >> 12)).unwrap().1[(a & 0xfff) as usize] = *b;
        }
    }
    fn prot(&self, a: u32) -> Prot {
        self.pages.get(&(a >> 12)).map_or(Prot::empty(), |p| p.0)
    }
}

impl GuestMemory for Mem {
    fn read(&self, addr: GuestAddr, buf: &mut [u8], acc: Access) -> Result<(), Fault> {
        for k in 0..buf.len() as u32 {
            let a = addr.0.wrapping_add(k);
            check(self.prot(a), a, acc)?;
        }
        for (k, b) in buf.iter_mut().enumerate() {
            let a = addr.0.wrapping_add(k as u32);
            *b = self.pages[&(a >> 12)].1[(a & 0xfff) as usize];
        }
        Ok(())
    }
    fn write(&mut self, addr: GuestAddr, data: &[u8]) -> Result<(), Fault> {
        for k in 0..data.len() as u32 {
            let a = addr.0.wrapping_add(k);
            check(self.prot(a), a, Access::Write)?;
        }
        for (k, b) in data.iter().enumerate() {
            let a = addr.0.wrapping_add(k as u32);
            self.pages.get_mut(&(a >> 12)).unwrap().1[(a & 0xfff) as usize] = *b;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Env {
    ts: Option<bool>,
    arch_iopl: bool,
    /// Backed ports: port -> value read.
    ports: BTreeMap<u16, u32>,
    writes: Vec<(u16, u8, u32)>,
}

impl PrivEnv for Env {
    fn cr3_mfn(&self) -> u32 {
        0x1234
    }
    fn fpu_taskswitch(&mut self, ts: bool) {
        self.ts = Some(ts);
    }
    fn tsc(&mut self) -> u64 {
        0x1122_3344_5566_7788
    }
    fn tsc_khz(&self) -> u32 {
        2_000_000
    }
    fn upper_mfn_bound(&self) -> u32 {
        0x10000
    }
    fn architectural_iopl(&self) -> bool {
        self.arch_iopl
    }
    fn io_read(&mut self, port: u16, _size: u8) -> Option<u32> {
        self.ports.get(&port).copied()
    }
    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        self.writes.push((port, size, value));
    }
}

const CODE: u32 = 0xc000_1000;
const DATA: u32 = 0xc000_4000;

struct T {
    st: PrivState,
    cpu: GuestCpu,
    mem: Mem,
    env: Env,
}

impl T {
    /// A ring-1 kernel about to run `code` at CODE, flat segments.
    fn new(code: &[u8]) -> T {
        let mut mem = Mem::default();
        mem.map(CODE, Prot::RX);
        mem.map(DATA, Prot::RW);
        mem.put(CODE, code);
        let mut cpu = GuestCpu::default();
        T::ring(&mut cpu, 1);
        cpu.eip = CODE;
        T {
            st: PrivState::default(),
            cpu,
            mem,
            env: Env::default(),
        }
    }
    fn ring(cpu: &mut GuestCpu, r: u8) {
        cpu.cpl = r;
        *cpu.seg_mut(SegReg::Cs) = Segment::flat(0xe019 | u16::from(r), true, r);
        for s in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
            *cpu.seg_mut(s) = Segment::flat(0xe021 | u16::from(r), false, r);
        }
    }
    fn user(mut self) -> T {
        T::ring(&mut self.cpu, 3);
        self
    }
    fn gp(&mut self) -> PrivOutcome {
        emulate_gp(&mut self.st, &mut self.cpu, &mut self.mem, &mut self.env)
    }
    fn ud(&mut self) -> PrivOutcome {
        emulate_ud(&mut self.st, &mut self.cpu, &mut self.mem, &mut self.env)
    }
}

const GP0: PrivOutcome = PrivOutcome::Fault(Fault::gp(0));

#[test]
fn cli_sti_depend_on_virtual_iopl() {
    // cli at ring 1, IOPL 0: not emulated, the #GP is delivered.
    let mut t = T::new(&[0xfa]);
    assert_eq!(t.gp(), PrivOutcome::NotEmulated);
    assert_eq!(t.cpu.eip, CODE);
    // IOPL 1: a no-op that is skipped.
    t.st.iopl = 1;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.cpu.eip, CODE + 1);
    // Ring 3 needs IOPL 3.
    let mut t = T::new(&[0xfb]).user();
    t.st.iopl = 1;
    assert_eq!(t.gp(), PrivOutcome::NotEmulated);
    t.st.iopl = 3;
    assert_eq!(t.gp(), PrivOutcome::Done);
}

#[test]
fn in_out_iopl_and_bitmap() {
    // in al, 0x60 at ring 1.
    let mut t = T::new(&[0xe4, 0x60]);
    t.env.ports.insert(0x60, 0xab);
    t.cpu.gpr[EAX] = 0xffff_ff00;
    assert_eq!(t.gp(), PrivOutcome::NotEmulated, "IOPL 0, no bitmap");
    t.st.iopl = 1;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.cpu.gpr[EAX], 0xffff_ffab);
    assert_eq!(t.cpu.eip, CODE + 2);

    // Ring 3 with IOPL 1: denied; with a bitmap allowing 0x60 (bit clear): allowed.
    let mut t = T::new(&[0xe4, 0x60]).user();
    t.st.iopl = 1;
    assert_eq!(t.gp(), PrivOutcome::NotEmulated);
    let bm = DATA + 0x100;
    t.mem.put(bm, &[0xff; 32]);
    t.mem.put(bm + (0x60 >> 3), &[0xfe]); // port 0x60 allowed only
    let mut arg = [0u8; 8];
    arg[..4].copy_from_slice(&bm.to_le_bytes());
    arg[4..].copy_from_slice(&256u32.to_le_bytes());
    t.mem.put(DATA, &arg);
    assert_eq!(physdev_set_iobitmap(&mut t.st, &t.mem, DATA), 0);
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(
        t.cpu.gpr[EAX] & 0xff,
        0xff,
        "permitted but unbacked reads ~0"
    );
    // A word read at 0x60 also needs 0x61: denied.
    let mut t2 = T::new(&[0x66, 0xe5, 0x60]).user();
    t2.mem = t.mem;
    t2.mem.put(CODE, &[0x66, 0xe5, 0x60]);
    t2.st = t.st.clone();
    assert_eq!(t2.gp(), PrivOutcome::NotEmulated);
    // Port beyond nr_ports: denied.
    let mut t3 = T::new(&[0xe4, 0xf0]).user();
    t3.mem = t2.mem;
    t3.mem.put(CODE, &[0xe4, 0xf0]);
    t3.st = t.st;
    t3.mem.put(bm + (0xf0 >> 3), &[0]);
    t3.st.iobmp_limit = 0xf0;
    assert_eq!(t3.gp(), PrivOutcome::NotEmulated);
    t3.st.iobmp_limit = 0xf1;
    assert_eq!(t3.gp(), PrivOutcome::Done);
}

#[test]
fn architectural_iopl_makes_the_kernel_ring_0() {
    let mut t = T::new(&[0xee]); // out dx, al
    t.cpu.gpr[EDX] = 0x3f8;
    t.cpu.gpr[EAX] = 0x41;
    assert_eq!(t.gp(), PrivOutcome::NotEmulated);
    t.env.arch_iopl = true;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.env.writes, [(0x3f8, 1, 0x41)]);
}

#[test]
fn latched_ports() {
    // out dx, eax to 0xcf8 then in eax, dx returns it; 0xcfc reads ~0; 0x70 latches.
    let mut t = T::new(&[0xef]);
    t.st.iopl = 1;
    t.cpu.gpr[EDX] = 0xcf8;
    t.cpu.gpr[EAX] = 0x8000_1234;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert!(t.env.writes.is_empty());
    let mut t2 = T::new(&[0xed, 0xed]);
    t2.st = t.st.clone();
    t2.cpu.gpr[EDX] = 0xcf8;
    assert_eq!(t2.gp(), PrivOutcome::Done);
    assert_eq!(t2.cpu.gpr[EAX], 0x8000_1234);
    t2.cpu.gpr[EDX] = 0xcfc;
    assert_eq!(t2.gp(), PrivOutcome::Done);
    assert_eq!(t2.cpu.gpr[EAX], !0);
    let mut t3 = T::new(&[0xe6, 0x70, 0x66, 0xe5, 0x70]); // out 0x70, al; in ax, 0x70
    t3.st.iopl = 1;
    t3.cpu.gpr[EAX] = 0x8f;
    assert_eq!(t3.gp(), PrivOutcome::Done);
    assert_eq!(t3.st.cmos_idx, 0x8f);
    assert_eq!(t3.gp(), PrivOutcome::Done);
    assert_eq!(t3.cpu.gpr[EAX] & 0xffff, 0xff8f, "0x70 latched, 0x71 ~0");
}

#[test]
fn rep_ins_and_outs() {
    // rep insb at ring 1 with IOPL 1: 3 bytes from port 0x80 to ES:EDI.
    let mut t = T::new(&[0xf3, 0x6c]);
    t.st.iopl = 1;
    t.env.ports.insert(0x80, 0x5a);
    t.cpu.gpr[EDX] = 0x80;
    t.cpu.gpr[ECX] = 3;
    t.cpu.gpr[EDI] = DATA;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.cpu.gpr[ECX], 0);
    assert_eq!(t.cpu.gpr[EDI], DATA + 3);
    assert_eq!(t.mem.read_u32(GuestAddr(DATA)).unwrap(), 0x005a_5a5a);
    assert_eq!(t.cpu.eip, CODE + 2);

    // rep outsw from DS:ESI, 2 words, DF set: ESI goes down.
    let mut t = T::new(&[0x66, 0xf3, 0x6f]);
    t.st.iopl = 1;
    t.mem.put(DATA + 0x10, &[1, 2, 3, 4]);
    t.cpu.gpr[EDX] = 0x1f0;
    t.cpu.gpr[ECX] = 2;
    t.cpu.gpr[ESI] = DATA + 0x12;
    t.cpu.eflags |= EFLAGS_DF;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.env.writes, [(0x1f0, 2, 0x0403), (0x1f0, 2, 0x0201)]);
    assert_eq!(t.cpu.gpr[ESI], DATA + 0x0e);

    // rep insd running off the end of the mapping: two dwords land, then #PF (write,
    // no present bit: Xen's PFEC_write_access) at the first byte not written; ECX and EDI
    // keep the progress and EIP stays.
    let mut t = T::new(&[0xf3, 0x6d]);
    t.st.iopl = 1;
    t.cpu.gpr[ECX] = 5;
    t.cpu.gpr[EDI] = DATA + 0xff8;
    match t.gp() {
        PrivOutcome::Fault(f) => {
            assert_eq!(f.vector, Vector::PF);
            assert_eq!(f.cr2, DATA + 0x1000);
            assert_eq!(f.error_code, PFEC_WRITE);
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(t.cpu.gpr[ECX], 3);
    assert_eq!(t.cpu.gpr[EDI], DATA + 0x1000);
    assert_eq!(t.cpu.eip, CODE);
    assert_eq!(t.cpu.cr2, DATA + 0x1000);

    // A zero count completes without the permission check.
    let mut t = T::new(&[0xf3, 0x6c]);
    t.cpu.gpr[ECX] = 0;
    assert_eq!(t.gp(), PrivOutcome::Done);
    // ...but a nonzero count without permission is the original #GP.
    t.cpu.eip = CODE;
    t.cpu.gpr[ECX] = 1;
    assert_eq!(t.gp(), PrivOutcome::NotEmulated);
}

#[test]
fn control_registers() {
    // mov eax, cr0 ; mov ecx, cr4 ; mov edx, cr3 ; mov ebx, cr2
    let mut t = T::new(&[
        0x0f, 0x20, 0xc0, 0x0f, 0x20, 0xe1, 0x0f, 0x20, 0xda, 0x0f, 0x20, 0xd3,
    ]);
    t.cpu.cr0 |= CR0_TS;
    t.cpu.cr2 = 0xdead_b000;
    for _ in 0..4 {
        assert_eq!(t.gp(), PrivOutcome::Done);
    }
    assert_eq!(t.cpu.gpr[EAX], XEN_CR0 | CR0_TS);
    assert_eq!(t.cpu.gpr[ECX], 0x660);
    assert_eq!(t.cpu.gpr[EDX], 0x1234 << 12);
    assert_eq!(t.cpu.gpr[EBX], 0xdead_b000);
    assert_eq!(t.cpu.eip, CODE + 12);

    // mov cr0, eax: only TS may differ.
    let mut t = T::new(&[0x0f, 0x22, 0xc0]);
    t.cpu.gpr[EAX] = XEN_CR0 | CR0_TS;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.env.ts, Some(true));
    t.cpu.eip = CODE;
    t.cpu.gpr[EAX] = XEN_CR0 & !1; // clear PE
    assert_eq!(t.gp(), PrivOutcome::NotEmulated);
    assert_eq!(t.cpu.eip, CODE);

    // clts
    let mut t = T::new(&[0x0f, 0x06]);
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.env.ts, Some(false));

    // mov cr4, eax keeps only TSD (DE, OSXSAVE, PGE are not the guest's).
    let mut t = T::new(&[0x0f, 0x22, 0xe0]);
    t.cpu.gpr[EAX] = CR4_TSD | CR4_DE | (1 << 18) | (1 << 7);
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.st.cr4, 0x660 | CR4_TSD);

    // mov cr3, eax: compat_cr3_to_pfn, EIP left for the caller.
    let mut t = T::new(&[0x0f, 0x22, 0xd8]);
    t.cpu.gpr[EAX] = 0x0055_6000;
    assert_eq!(
        t.gp(),
        PrivOutcome::NewCr3 {
            mfn: 0x556,
            next_eip: CODE + 3
        }
    );
    assert_eq!(t.cpu.eip, CODE);

    // From ring 3 every CR access is #GP(0) raised by the emulator.
    let mut t = T::new(&[0x0f, 0x20, 0xc0]).user();
    assert_eq!(t.gp(), GP0);
    let mut t = T::new(&[0x0f, 0x06]).user();
    assert_eq!(t.gp(), GP0);
}

#[test]
fn debug_registers() {
    let mut st = PrivState::default();
    assert_eq!(get_debugreg(&st, 6), Ok(0xffff_0ff0));
    assert_eq!(get_debugreg(&st, 7), Ok(0x400));
    assert_eq!(set_debugreg(&mut st, 0, 0xc000_0000), Ok(()));
    assert_eq!(get_debugreg(&st, 0), Ok(0xc000_0000));
    // DR7: GD refused, I/O breakpoints refused without CR4.DE, reserved bits fixed.
    assert_eq!(set_debugreg(&mut st, 7, 0x2000), Err(-EPERM));
    assert_eq!(set_debugreg(&mut st, 7, 0x0002_0001), Err(-EPERM));
    assert_eq!(set_debugreg(&mut st, 7, 0x0001_0001 | 0x1000), Ok(()));
    assert_eq!(get_debugreg(&st, 7), Ok(0x0001_0401));
    // DR4/DR5 alias DR6/DR7 (CR4.DE clear).
    assert_eq!(set_debugreg(&mut st, 4, 0x1001), Ok(()));
    assert_eq!(get_debugreg(&st, 6), Ok(0xffff_0ff1));
    assert_eq!(get_debugreg(&st, 5), Ok(0x0001_0401));
    assert_eq!(set_debugreg(&mut st, 8, 0), Err(-ENODEV));
    assert_eq!(get_debugreg(&st, 8), Err(-ENODEV));

    // mov dr7, eax with GD: #GP(0); mov eax, dr6 works from ring 1 only.
    let mut t = T::new(&[0x0f, 0x23, 0xf8, 0x0f, 0x21, 0xf0]);
    t.cpu.gpr[EAX] = 0x2000;
    assert_eq!(t.gp(), GP0);
    t.cpu.eip = CODE + 3;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.cpu.gpr[EAX], 0xffff_0ff0);
    let mut t = T::new(&[0x0f, 0x21, 0xf0]).user();
    assert_eq!(t.gp(), GP0);
}

#[test]
fn msrs() {
    // rdmsr of a bogus MSR: #GP(0), EIP unchanged.
    let mut t = T::new(&[0x0f, 0x32]);
    t.cpu.gpr[ECX] = 0xdead;
    assert_eq!(t.gp(), GP0);
    assert_eq!(t.cpu.eip, CODE);
    t.cpu.gpr[ECX] = MSR_APIC_BASE;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!((t.cpu.gpr[EDX], t.cpu.gpr[EAX]), (0, 0xfee0_0900));
    t.cpu.eip = CODE;
    t.cpu.gpr[ECX] = MSR_IA32_CR_PAT;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!((t.cpu.gpr[EDX], t.cpu.gpr[EAX]), (0x0501, 0x0007_0406));
    // FS_BASE needs long mode in the policy.
    t.cpu.eip = CODE;
    t.cpu.gpr[ECX] = 0xc000_0100;
    assert_eq!(t.gp(), GP0);
    // wrmsr EFER: same value accepted, a change refused.
    let mut t = T::new(&[0x0f, 0x30]);
    t.cpu.gpr[ECX] = MSR_EFER;
    t.cpu.gpr[EAX] = GUEST_EFER as u32;
    assert_eq!(t.gp(), PrivOutcome::Done);
    t.cpu.eip = CODE;
    t.cpu.gpr[EAX] |= 1;
    assert_eq!(t.gp(), GP0);
    // rdmsr from ring 3: #GP whatever the MSR.
    let mut t = T::new(&[0x0f, 0x32]).user();
    t.cpu.gpr[ECX] = MSR_APIC_BASE;
    assert_eq!(t.gp(), GP0);
}

#[test]
fn rdtsc_and_tsd() {
    let mut t = T::new(&[0x0f, 0x31]).user();
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!((t.cpu.gpr[EDX], t.cpu.gpr[EAX]), (0x1122_3344, 0x5566_7788));
    t.cpu.eip = CODE;
    t.st.cr4 |= CR4_TSD;
    assert_eq!(t.gp(), GP0, "TSD at ring 3");
    let mut t = T::new(&[0x0f, 0x31]);
    t.st.cr4 |= CR4_TSD;
    assert_eq!(
        t.gp(),
        PrivOutcome::Done,
        "TSD does not apply to the kernel"
    );
    // rdtscp: MSR_TSC_AUX is not in the policy.
    let mut t = T::new(&[0x0f, 0x01, 0xf9]);
    assert_eq!(t.gp(), GP0);
}

#[test]
fn not_emulated() {
    // hlt, lmsw ax, invd, lgdt [eax], invlpg [eax], ltr ax, rdpmc
    for code in [
        &[0xf4][..],
        &[0x0f, 0x01, 0xf0],
        &[0x0f, 0x08],
        &[0x0f, 0x01, 0x10],
        &[0x0f, 0x01, 0x38],
        &[0x0f, 0x00, 0xd8],
        &[0x0f, 0x33],
    ] {
        let mut t = T::new(code);
        assert_eq!(t.gp(), PrivOutcome::NotEmulated, "{code:02x?}");
        assert_eq!(t.cpu.eip, CODE);
    }
    // wbinvd is ignored (skipped) for the kernel, #GP for user.
    let mut t = T::new(&[0x0f, 0x09]);
    assert_eq!(t.gp(), PrivOutcome::Done);
    let mut t = T::new(&[0x0f, 0x09]).user();
    assert_eq!(t.gp(), GP0);
}

#[test]
fn cpuid_forced_prefix() {
    let forced = [0x0f, 0x0b, b'x', b'e', b'n', 0x0f, 0xa2];
    let mut t = T::new(&forced);
    t.cpu.gpr[EAX] = 0x4000_0000;
    assert_eq!(t.ud(), PrivOutcome::Done);
    assert_eq!(t.cpu.eip, CODE + 7);
    assert_eq!(t.cpu.gpr[EAX], 0x4000_0005);
    let sig: Vec<u8> = [t.cpu.gpr[EBX], t.cpu.gpr[ECX], t.cpu.gpr[EDX]]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    assert_eq!(&sig, b"XenVMMXenVMM");
    t.cpu.eip = CODE;
    t.cpu.gpr[EAX] = 0x4000_0001;
    assert_eq!(t.ud(), PrivOutcome::Done);
    assert_eq!(t.cpu.gpr[EAX], 0x0004_0011);
    t.cpu.eip = CODE;
    t.cpu.gpr[EAX] = 1;
    assert_eq!(t.ud(), PrivOutcome::Done);
    assert_eq!(t.cpu.gpr[ECX] & (1 << 31), 1 << 31, "hypervisor bit");
    // From ring 3 too (no CPUID faulting).
    let mut t = T::new(&forced).user();
    t.cpu.gpr[EAX] = 0;
    assert_eq!(t.ud(), PrivOutcome::Done);
    assert_eq!(t.cpu.gpr[EBX], 0x7462_6458);

    // Plain ud2, or the prefix before something other than cpuid: #UD delivered.
    let mut t = T::new(&[0x0f, 0x0b, 0x90]);
    assert_eq!(t.ud(), PrivOutcome::NotEmulated);
    let mut t = T::new(&[0x0f, 0x0b, b'x', b'e', b'n', 0x0f, 0x31]);
    assert_eq!(t.ud(), PrivOutcome::NotEmulated);
    assert_eq!(t.cpu.eip, CODE);
    // A plain cpuid reaching #GP is emulated the same way.
    let mut t = T::new(&[0x0f, 0xa2]);
    t.cpu.gpr[EAX] = 0x4000_0002;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.cpu.gpr[..4], [1, 1, 0, 0x4000_0000]); // EAX ECX EDX EBX

    // Prefix straddling the end of the code page: #PF (error 0) at the first unreadable
    // byte.
    let mut t = T::new(&[]);
    t.mem.put(CODE + 0xffd, &[0x0f, 0x0b, b'x']);
    t.cpu.eip = CODE + 0xffd;
    assert_eq!(t.ud(), PrivOutcome::Fault(Fault::pf(CODE + 0x1000, 0)));
    assert_eq!(t.cpu.cr2, CODE + 0x1000);
    assert_eq!(t.cpu.eip, CODE + 0xffd);
}

#[test]
fn xen_leaf_3_and_5() {
    let env = Env::default();
    // 2 GHz: ns = ticks * mul_frac >> 32 after the shift; 0.5 ns/tick.
    let r = pv_cpuid(&env, 0x4000_0003, 1);
    let (mul, shift) = (u64::from(r[2]), r[3] as i32);
    let ns = if shift >= 0 {
        ((2_000_000_000u64 << shift) * mul) >> 32
    } else {
        ((2_000_000_000u64 >> -shift) * mul) >> 32
    };
    assert!((999_999_000..=1_000_000_000).contains(&ns), "{ns}");
    assert_eq!(pv_cpuid(&env, 0x4000_0005, 0), [0, 17 + 12, 0, 0]);
    assert_eq!(pv_cpuid(&env, 0x4000_0006, 0), [0; 4]);
    assert_eq!(pv_cpuid(&env, 0x4000_0004, 0), [0; 4]);
}

#[test]
fn fetch_faults() {
    // `in al, dx` is one byte; rdmsr (0f 32) straddling into an unmapped page: #PF at the
    // first byte of that page, error code 0 from ring 1 (user bit from ring 3), never the
    // instruction-fetch bit.
    let mut t = T::new(&[]);
    t.mem.put(CODE + 0xfff, &[0x0f]);
    t.cpu.eip = CODE + 0xfff;
    assert_eq!(t.gp(), PrivOutcome::Fault(Fault::pf(CODE + 0x1000, 0)));
    assert_eq!(t.cpu.cr2, CODE + 0x1000);
    let mut t = T::new(&[]).user();
    t.mem.put(CODE + 0xfff, &[0x0f]);
    t.cpu.eip = CODE + 0xfff;
    match t.gp() {
        PrivOutcome::Fault(f) => assert_eq!(f.error_code & (PFEC_USER | PFEC_INSN), PFEC_USER),
        o => panic!("{o:?}"),
    }
    // A one-byte instruction at the end of the page needs nothing more.
    let mut t = T::new(&[]);
    t.st.iopl = 1;
    t.mem.put(CODE + 0xfff, &[0xec]);
    t.cpu.eip = CODE + 0xfff;
    assert_eq!(t.gp(), PrivOutcome::Done);
    // CS limit: #GP(0) before the page is looked at.
    let mut t = T::new(&[0x0f, 0x32]);
    t.cpu.seg_mut(SegReg::Cs).limit = CODE;
    assert_eq!(t.gp(), GP0);
    // CS base is honoured.
    let mut t = T::new(&[0xfa]);
    t.st.iopl = 1;
    t.cpu.seg_mut(SegReg::Cs).base = CODE;
    t.cpu.eip = 0;
    assert_eq!(t.gp(), PrivOutcome::Done);
    assert_eq!(t.cpu.eip, 1);
}

#[test]
fn single_step_after_emulation() {
    let mut t = T::new(&[0x0f, 0x09]);
    t.cpu.eflags |= EFLAGS_TF;
    assert_eq!(t.gp(), PrivOutcome::Fault(Fault::new(Vector::DB)));
    assert_eq!(t.cpu.eip, CODE + 2);
    assert_eq!(t.st.dr6 & DR_STEP, DR_STEP);
}

#[test]
fn physdev_args() {
    let mut t = T::new(&[]);
    t.mem.put(DATA, &4u32.to_le_bytes());
    assert_eq!(physdev_set_iopl(&mut t.st, &t.mem, DATA), -EINVAL);
    t.mem.put(DATA, &3u32.to_le_bytes());
    assert_eq!(physdev_set_iopl(&mut t.st, &t.mem, DATA), 0);
    assert_eq!(t.st.iopl, 3);
    assert_eq!(physdev_set_iopl(&mut t.st, &t.mem, 0x1000), -EFAULT);
    // Bitmap reaching Xen's range, or too many ports: -EINVAL.
    let put = |t: &mut T, bm: u32, n: u32| {
        t.mem.put(DATA, &bm.to_le_bytes());
        t.mem.put(DATA + 4, &n.to_le_bytes());
    };
    put(&mut t, 0xf57f_f000, 16);
    assert_eq!(physdev_set_iobitmap(&mut t.st, &t.mem, DATA), -EINVAL);
    put(&mut t, DATA, 65537);
    assert_eq!(physdev_set_iobitmap(&mut t.st, &t.mem, DATA), -EINVAL);
    put(&mut t, 0xf57f_e000, 65536);
    assert_eq!(physdev_set_iobitmap(&mut t.st, &t.mem, DATA), 0);
    assert_eq!((t.st.iobmp, t.st.iobmp_limit), (0xf57f_e000, 65536));
    assert_eq!(
        physdev_set_iobitmap(&mut t.st, &t.mem, DATA + 0xffc),
        -EFAULT
    );
}
