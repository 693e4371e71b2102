//! The host CPU as the oracle for IA-32 semantics: runs a [`SnippetCase`] natively in a
//! 32-bit helper process (`tests/native/runner.c`, built by `build.rs` with
//! `gcc -m32 -static`) and reports the state at its first exception, for comparison with
//! the translator's [`super::snippet`] result (cf. Xen's `tools/tests/x86_emulator`
//! harness, QEMU's `tests/tcg/i386/test-i386.c`).
//!
//! One runner process serves any number of cases over a pipe; [`Oracle::run_many`] sends a
//! batch a window of requests at a time. Each case starts with the x87/MMX/SSE state of its
//! FXSAVE image ([`SnippetCase::fx`]; by default the FNINIT state, MXCSR 0x1F80 and zeroed
//! registers), FS = GS = 0, and the Linux i386 user selectors (CS 0x23, DS/ES/SS 0x2b); only
//! CF PF AF ZF SF OF DF of its EFLAGS are taken. The result's FXSAVE image is the one the
//! kernel saved in the signal frame: FCS/FDS read 0 (64-bit XSAVE format) and this host's
//! FOP/FIP/FDP are 0 unless an unmasked x87 exception is pending (see the runner).
//!
//! The wire protocol is defined at the top of `tests/native/runner.c` and mirrored here.
//! Outcomes other than "the case stopped on an exception" are errors of the case, not of
//! the transport:
//! - the runner refused the case (bad region, overlap with the runner's own memory, an
//!   FXSAVE image whose MXCSR this CPU would refuse): `io::ErrorKind::InvalidInput`;
//! - the case ran for 1-2 s without an exception (endless loop): `io::ErrorKind::TimedOut`;
//! - the case attempted a system call (refused by the runner's seccomp filter):
//!   `io::ErrorKind::PermissionDenied`.
//!
//! Regions must lie in [`CASE_LO`, `CASE_HI`): the runner keeps itself out of that range.
//! Code of a case must only touch memory in its regions or addresses that are unmapped in
//! any process (the runner's own image sits below `CASE_LO`, its stack and vDSO above
//! `CASE_HI`; a case that reaches them natively sees the runner, not a fault).

use super::snippet::{SnippetCase, SnippetResult, Stop};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Lowest address a case region may use.
pub const CASE_LO: u32 = 0x1000_0000;
/// End (exclusive) of the addresses case regions may use.
pub const CASE_HI: u32 = 0x8000_0000;
/// At most this many regions per case.
pub const MAX_REGIONS: usize = 16;
/// [`Oracle::run_many`] sends requests whose responses total at most this much (one case at
/// least) before it reads the responses. The runner writes a response only after reading
/// the whole request, and it can buffer 128 KiB of responses (its 64 KiB buffer and a
/// 64 KiB pipe) while we are still writing, so we never both wait on a full pipe.
const WINDOW_BYTES: usize = 96 * 1024;

const PROTOCOL_VERSION: u32 = 2;
/// Length of an FXSAVE image.
pub const FX_LEN: usize = 512;
const MAGIC_HELLO: u32 = u32::from_le_bytes(*b"XDBH");
const MAGIC_REQ: u32 = u32::from_le_bytes(*b"XDBC");
const MAGIC_RSP: u32 = u32::from_le_bytes(*b"XDBR");

const STATUS_STOPPED: u32 = 0;
const STATUS_REFUSED: u32 = 1;
const STATUS_TIMEOUT: u32 = 2;
const STATUS_SYSCALL: u32 = 3;

/// The runner built by `build.rs` (empty when gcc -m32 failed).
const BUILT_RUNNER: Option<&str> = option_env!("XDBT_NATIVE_RUNNER");

/// A native runner process.
pub struct Oracle {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
}

/// Path of the runner: `$XDBT_NATIVE_RUNNER` at run time, else the one `build.rs` built.
pub fn runner_path() -> io::Result<String> {
    let path = match std::env::var("XDBT_NATIVE_RUNNER") {
        Ok(p) if !p.is_empty() => p,
        _ => BUILT_RUNNER.unwrap_or_default().to_owned(),
    };
    if path.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "native runner not built: install gcc-multilib",
        ));
    }
    Ok(path)
}

impl Oracle {
    /// Start a runner process and check its greeting.
    pub fn new() -> io::Result<Oracle> {
        let path = runner_path()?;
        let mut child = Command::new(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {path}: {e}")))?;
        let stdin = child
            .stdin
            .take()
            .map(|s| BufWriter::with_capacity(1 << 16, s));
        let stdout = child
            .stdout
            .take()
            .map(|s| BufReader::with_capacity(1 << 16, s));
        let (Some(stdin), Some(stdout)) = (stdin, stdout) else {
            return Err(io::Error::other("runner pipes missing"));
        };
        let mut o = Oracle {
            child,
            stdin: Some(stdin),
            stdout,
        };
        let hello = read_u32s::<4>(&mut o.stdout)?;
        if hello[0] != MAGIC_HELLO || hello[1] != PROTOCOL_VERSION {
            return Err(protocol("bad greeting"));
        }
        if hello[2] != CASE_LO || hello[3] != CASE_HI {
            return Err(protocol("runner disagrees on the case address range"));
        }
        Ok(o)
    }

    /// Run one case natively.
    pub fn run(&mut self, case: &SnippetCase) -> io::Result<SnippetResult> {
        check_case(case)?;
        let w = self
            .stdin
            .as_mut()
            .ok_or_else(|| protocol("runner closed"))?;
        write_request(w, case)?;
        w.flush()?;
        read_response(&mut self.stdout, case)?
    }

    /// Run a batch of cases, a window of requests at a time (fewer round trips than
    /// [`Oracle::run`]). The outer error is a broken runner (the oracle is unusable
    /// afterwards); the inner ones are per case, as for [`Oracle::run`].
    pub fn run_many(
        &mut self,
        cases: &[SnippetCase],
    ) -> io::Result<Vec<io::Result<SnippetResult>>> {
        let mut out: Vec<io::Result<SnippetResult>> = Vec::with_capacity(cases.len());
        let mut next = 0;
        while next < cases.len() {
            let w = self
                .stdin
                .as_mut()
                .ok_or_else(|| protocol("runner closed"))?;
            // Each entry: the case to read a response for, or its local refusal.
            let mut sent: Vec<io::Result<usize>> = Vec::new();
            let mut bytes = 0usize;
            while next < cases.len() {
                let c = &cases[next];
                let size = response_size(c);
                if !sent.is_empty() && bytes + size > WINDOW_BYTES {
                    break;
                }
                let checked = check_case(c);
                if checked.is_ok() {
                    write_request(w, c)?;
                    bytes += size;
                }
                sent.push(checked.map(|()| next));
                next += 1;
            }
            w.flush()?;
            for s in sent {
                match s {
                    Ok(k) => out.push(read_response(&mut self.stdout, &cases[k])?),
                    Err(e) => out.push(Err(e)),
                }
            }
        }
        Ok(out)
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        // End of input makes the runner exit; kill it in case it is stuck in a case.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn protocol(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("native runner protocol: {what}"),
    )
}

/// Refuse locally what the runner would refuse anyway, without a round trip.
fn check_case(case: &SnippetCase) -> io::Result<()> {
    if case.regions.len() > MAX_REGIONS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many regions",
        ));
    }
    if case.fx.as_ref().is_some_and(|fx| fx.len() != FX_LEN) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the FXSAVE image is not 512 bytes",
        ));
    }
    for r in &case.regions {
        let len = r.data.len() as u64;
        if !r.addr.is_multiple_of(4096)
            || !len.is_multiple_of(4096)
            || len == 0
            || r.addr < CASE_LO
            || u64::from(r.addr) + len > u64::from(CASE_HI)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "region {:#x}+{len:#x} is not page aligned inside [{CASE_LO:#x}, {CASE_HI:#x})",
                    r.addr
                ),
            ));
        }
    }
    Ok(())
}

/// Bytes of the response to `case` (status, state and regions; a refusal is shorter).
fn response_size(case: &SnippetCase) -> usize {
    4 * 15 + FX_LEN + case.regions.iter().map(|r| r.data.len()).sum::<usize>()
}

fn write_request(w: &mut impl Write, case: &SnippetCase) -> io::Result<()> {
    let mut head = Vec::with_capacity(4 * (13 + 3 * case.regions.len()) + FX_LEN);
    let n = u32::try_from(case.regions.len()).map_err(|_| protocol("region count"))?;
    let fx: &[u8] = case.fx.as_deref().unwrap_or_default();
    let fx_len = u32::try_from(fx.len()).map_err(|_| protocol("FXSAVE image length"))?;
    for v in [MAGIC_REQ, n]
        .iter()
        .chain(&case.regs)
        .chain(&[case.eflags, case.entry, fx_len])
    {
        head.extend_from_slice(&v.to_le_bytes());
    }
    head.extend_from_slice(fx);
    for r in &case.regions {
        let len = u32::try_from(r.data.len()).map_err(|_| protocol("region length"))?;
        for v in [r.addr, len, u32::from(r.prot.bits())] {
            head.extend_from_slice(&v.to_le_bytes());
        }
    }
    w.write_all(&head)?;
    for r in &case.regions {
        w.write_all(&r.data)?;
    }
    Ok(())
}

fn read_u32s<const N: usize>(r: &mut impl Read) -> io::Result<[u32; N]> {
    let mut b = [0u8; 4];
    let mut out = [0u32; N];
    for v in &mut out {
        r.read_exact(&mut b).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(e.kind(), "native runner died (see its stderr)")
            } else {
                e
            }
        })?;
        *v = u32::from_le_bytes(b);
    }
    Ok(out)
}

/// Read one response. Outer error: transport; inner: the case's outcome.
fn read_response(r: &mut impl Read, case: &SnippetCase) -> io::Result<io::Result<SnippetResult>> {
    let [magic, status] = read_u32s::<2>(r)?;
    if magic != MAGIC_RSP {
        return Err(protocol("bad response magic"));
    }
    if status == STATUS_REFUSED {
        let [len] = read_u32s::<1>(r)?;
        let mut msg = vec![0u8; len as usize];
        r.read_exact(&mut msg)?;
        let msg = String::from_utf8_lossy(&msg).into_owned();
        return Ok(Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("native runner refused the case: {msg}"),
        )));
    }
    let s = read_u32s::<13>(r)?;
    let mut regs = [0u32; 8];
    regs.copy_from_slice(&s[..8]);
    let [eip, eflags, vector, error_code, cr2] = [s[8], s[9], s[10], s[11], s[12]];
    let mut fx = vec![0u8; FX_LEN];
    r.read_exact(&mut fx)?;
    let mut regions = Vec::with_capacity(case.regions.len());
    for reg in &case.regions {
        let mut data = vec![0u8; reg.data.len()];
        r.read_exact(&mut data)?;
        regions.push(data);
    }
    Ok(match status {
        STATUS_STOPPED => {
            let vector = u8::try_from(vector).map_err(|_| protocol("vector out of range"))?;
            Ok(SnippetResult {
                regs,
                eip,
                eflags,
                stop: Stop {
                    vector,
                    error_code,
                    cr2,
                },
                regions,
                fx,
            })
        }
        STATUS_TIMEOUT => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("case timed out natively (endless loop?) at eip={eip:#010x}"),
        )),
        STATUS_SYSCALL => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("case made a system call natively before eip={eip:#010x}"),
        )),
        _ => return Err(protocol("unknown status")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosted::snippet::Region;
    use crate::mmu::Prot;

    const CODE: u32 = 0x1000_0000;
    const DATA: u32 = 0x2000_0000;
    const STACK: u32 = 0x3000_0000;

    fn case(code: &[u8], regs: [u32; 8]) -> SnippetCase {
        let mut c = vec![0xccu8; 4096];
        c[..code.len()].copy_from_slice(code);
        SnippetCase {
            regs,
            eflags: 0,
            entry: CODE,
            regions: vec![
                Region {
                    addr: CODE,
                    prot: Prot::RX,
                    data: c,
                },
                Region {
                    addr: DATA,
                    prot: Prot::RW,
                    data: vec![0; 8192],
                },
                Region {
                    addr: STACK,
                    prot: Prot::RW,
                    data: vec![0; 4096],
                },
            ],
            fx: None,
        }
    }

    fn regs() -> [u32; 8] {
        [0, 0, 0, 0, STACK + 0x800, 0, 0, 0]
    }

    fn oracle() -> Oracle {
        Oracle::new().expect("native oracle")
    }

    #[test]
    fn mov_imm_then_int3() {
        // mov eax, 5; int3
        let c = case(&[0xb8, 5, 0, 0, 0, 0xcc], regs());
        let r = oracle().run(&c).unwrap();
        assert_eq!(r.regs[0], 5);
        assert_eq!(r.eip, CODE + 6);
        assert_eq!(
            r.stop,
            Stop {
                vector: 3,
                error_code: 0,
                cr2: 0
            }
        );
        assert_eq!(r.regions[0], c.regions[0].data);
    }

    #[test]
    fn all_registers_and_flags_round_trip() {
        let regs = [1, 2, 3, 4, STACK + 0x100, 6, 7, 8];
        let mut c = case(&[0xcc], regs);
        c.eflags = 0x0cd5; // every status flag and DF
        let r = oracle().run(&c).unwrap();
        assert_eq!(r.regs, regs);
        assert_eq!(r.eflags & 0x0cd5, 0x0cd5);
        c.eflags = 0;
        let r = oracle().run(&c).unwrap();
        assert_eq!(r.eflags & 0x0cd5, 0);
    }

    #[test]
    fn store_shows_in_region_and_stack_untouched() {
        // mov [ebx+4], eax; push eax; int3
        let c = case(
            &[0x89, 0x43, 0x04, 0x50, 0xcc],
            [0x1234_5678, 0, 0, DATA, STACK + 0x800, 0, 0, 0],
        );
        let r = oracle().run(&c).unwrap();
        assert_eq!(&r.regions[1][4..8], &0x1234_5678u32.to_le_bytes());
        assert_eq!(&r.regions[2][0x7fc..0x800], &0x1234_5678u32.to_le_bytes());
        assert_eq!(r.regions[2][..0x7fc], [0u8; 0x7fc][..]);
        assert_eq!(r.regs[4], STACK + 0x7fc);
    }

    #[test]
    fn load_from_unmapped_page_faults() {
        // mov eax, [0x50000010]
        let c = case(&[0xa1, 0x10, 0, 0, 0x50, 0xcc], regs());
        let r = oracle().run(&c).unwrap();
        println!("read of unmapped page: {:x?}", r.stop);
        assert_eq!(r.eip, CODE);
        // Linux reports the hardware error code: user-mode read of a not-present page.
        assert_eq!(
            r.stop,
            Stop {
                vector: 14,
                error_code: 4,
                cr2: 0x5000_0010
            }
        );
    }

    #[test]
    fn write_to_read_only_page_faults() {
        // mov [0x10000800], eax (the code page, RX)
        let c = case(&[0xa3, 0x00, 0x08, 0, 0x10, 0xcc], regs());
        let r = oracle().run(&c).unwrap();
        println!("write to RX page: {:x?}", r.stop);
        assert_eq!(
            r.stop,
            Stop {
                vector: 14,
                error_code: 7,
                cr2: 0x1000_0800
            }
        );
    }

    #[test]
    fn divide_by_zero() {
        // xor ecx, ecx; div ecx
        let c = case(&[0x31, 0xc9, 0xf7, 0xf1, 0xcc], regs());
        let r = oracle().run(&c).unwrap();
        println!("div by zero: {:x?}", r.stop);
        assert_eq!(
            r.stop,
            Stop {
                vector: 0,
                error_code: 0,
                cr2: 0
            }
        );
        assert_eq!(r.eip, CODE + 2);
    }

    #[test]
    fn ud2_and_hlt() {
        let mut o = oracle();
        let r = o.run(&case(&[0x0f, 0x0b], regs())).unwrap();
        assert_eq!((r.stop.vector, r.eip), (6, CODE));
        let r = o.run(&case(&[0xf4], regs())).unwrap();
        println!("hlt: {:x?}", r.stop);
        assert_eq!((r.stop.vector, r.stop.error_code, r.eip), (13, 0, CODE));
    }

    #[test]
    fn endless_loop_times_out() {
        // jmp $
        let mut o = oracle();
        let e = o.run(&case(&[0xeb, 0xfe], regs())).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        // The runner is still usable.
        assert_eq!(o.run(&case(&[0xcc], regs())).unwrap().eip, CODE + 1);
    }

    #[test]
    fn system_call_is_refused() {
        // mov eax, 1 (exit); int 0x80
        let mut o = oracle();
        let e = o
            .run(&case(&[0xb8, 1, 0, 0, 0, 0xcd, 0x80, 0xcc], regs()))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert_eq!(o.run(&case(&[0xcc], regs())).unwrap().eip, CODE + 1);
    }

    #[test]
    fn bad_cases_are_refused() {
        let mut o = oracle();
        let mut c = case(&[0xcc], regs());
        c.regions[1].addr = 0x0804_8000; // the runner's own image
        assert_eq!(o.run(&c).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let mut c = case(&[0xcc], regs());
        c.regions[1].addr = CODE; // overlaps the code region
        let e = o.run(&c).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert_eq!(o.run(&case(&[0xcc], regs())).unwrap().eip, CODE + 1);
    }

    /// An FXSAVE image: FCW, FSW, abridged FTW, MXCSR, ST/MM register slots, XMM registers.
    fn fx_image(fcw: u16, fsw: u16, ftw: u8, mxcsr: u32) -> Vec<u8> {
        let mut fx = vec![0u8; FX_LEN];
        fx[0..2].copy_from_slice(&fcw.to_le_bytes());
        fx[2..4].copy_from_slice(&fsw.to_le_bytes());
        fx[4] = ftw;
        fx[24..28].copy_from_slice(&mxcsr.to_le_bytes());
        for k in 0..8u8 {
            // ST(k): sign/exponent 0x4000 + k, significand with the integer bit set.
            let slot = 32 + 16 * usize::from(k);
            fx[slot..slot + 8]
                .copy_from_slice(&(0x8000_0000_0000_0000 | u64::from(k)).to_le_bytes());
            fx[slot + 8..slot + 10].copy_from_slice(&(0x4000 + u16::from(k)).to_le_bytes());
            // XMMk: bytes 16k..16k+15.
            let x = 160 + 16 * usize::from(k);
            for (i, b) in fx[x..x + 16].iter_mut().enumerate() {
                *b = k * 16 + i as u8;
            }
        }
        fx
    }

    /// The architectural parts of an image: FCW, FSW, FTW, MXCSR, ST0-7 (80 bits), XMM0-7.
    fn fx_state(fx: &[u8]) -> Vec<u8> {
        let mut v = fx[0..5].to_vec();
        v.extend_from_slice(&fx[24..28]);
        for k in 0..8 {
            v.extend_from_slice(&fx[32 + 16 * k..42 + 16 * k]);
        }
        v.extend_from_slice(&fx[160..288]);
        v
    }

    #[test]
    fn fp_state_round_trips() {
        let mut o = oracle();
        // TOP = 5, all registers valid, precision 53 bits, round down; MXCSR round up, DAZ.
        let fx = fx_image(0x067f, 5 << 11, 0xff, 0x5fc0);
        let mut c = case(&[0xcc], regs());
        c.fx = Some(fx.clone());
        let r = o.run(&c).unwrap();
        assert_eq!(fx_state(&r.fx), fx_state(&fx));
        // The next case without an image starts from the FNINIT state again.
        let r = o.run(&case(&[0xcc], regs())).unwrap();
        let mut fninit = vec![0u8; FX_LEN];
        fninit[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        fninit[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        assert_eq!(fx_state(&r.fx), fx_state(&fninit));
    }

    #[test]
    fn default_fp_state_has_zeroed_registers() {
        let mut o = oracle();
        // Leave junk in every register, then check that the next case sees zeros:
        // fld1 x8; movd xmm3, esp (SSE2); int3
        let junk: Vec<u8> = [[0xd9, 0xe8]; 8]
            .iter()
            .flatten()
            .copied()
            .chain([0x66, 0x0f, 0x6e, 0xdc, 0xcc])
            .collect();
        let r = o.run(&case(&junk, regs())).unwrap();
        assert_eq!(r.fx[4], 0xff);
        // fnsave [DATA]; int3
        let r = o
            .run(&case(&[0xdd, 0x35, 0, 0, 0, 0x20, 0xcc], regs()))
            .unwrap();
        assert_eq!(
            &r.regions[1][28..108],
            &[0u8; 80][..],
            "empty x87 registers are zero"
        );
        assert_eq!(&r.fx[160..288], &[0u8; 128][..], "XMM registers are zero");
        assert_eq!(u16::from_le_bytes([r.fx[0], r.fx[1]]), 0x037f);
        assert_eq!(
            u32::from_le_bytes([r.fx[24], r.fx[25], r.fx[26], r.fx[27]]),
            0x1f80
        );
    }

    #[test]
    fn pending_x87_exception_keeps_pointers() {
        // fld1; fldz; fldcw [DATA] (ZE unmasked); fdivp st1, st0 (pending #Z); int3
        let code = [
            0xd9, 0xe8, 0xd9, 0xee, 0xd9, 0x2d, 0, 0, 0, 0x20, 0xde, 0xf9, 0xcc,
        ];
        let mut c = case(&code, regs());
        c.regions[1].data[0..2].copy_from_slice(&0x037bu16.to_le_bytes());
        let r = oracle().run(&c).unwrap();
        let fsw = u16::from_le_bytes([r.fx[2], r.fx[3]]);
        println!("pending #Z: fsw {fsw:#06x} fx[0..24] {:02x?}", &r.fx[..24]);
        assert_eq!(fsw & 0x8084, 0x8084, "B, ES and ZE set");
        // FOP of DE F9, FIP at the fdivp, no memory operand.
        assert_eq!(u16::from_le_bytes([r.fx[6], r.fx[7]]), 0x06f9);
        assert_eq!(
            u32::from_le_bytes([r.fx[8], r.fx[9], r.fx[10], r.fx[11]]),
            CODE + 10
        );
    }

    #[test]
    fn reserved_mxcsr_bits_are_refused() {
        let mut o = oracle();
        let mut c = case(&[0xcc], regs());
        c.fx = Some(fx_image(0x037f, 0, 0, 0x8000_1f80));
        let e = o.run(&c).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        c.fx = Some(vec![0; 100]);
        assert_eq!(o.run(&c).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(o.run(&case(&[0xcc], regs())).unwrap().eip, CODE + 1);
    }

    #[test]
    fn batch_matches_single_runs() {
        let mut o = oracle();
        let cases: Vec<SnippetCase> = (0..300u32)
            .map(|i| {
                // mov eax, i; add [ebx], eax; div ecx (ecx = i % 3: #DE sometimes); int3
                let mut code = vec![0xb8];
                code.extend_from_slice(&i.to_le_bytes());
                code.extend_from_slice(&[0x01, 0x03, 0xf7, 0xf1, 0xcc]);
                case(&code, [0, i % 3, 0, DATA + 4 * i, STACK + 0x800, 0, 0, 0])
            })
            .collect();
        let batch = o.run_many(&cases).unwrap();
        for (c, b) in cases.iter().zip(batch) {
            assert_eq!(b.unwrap(), o.run(c).unwrap());
        }
    }
}
