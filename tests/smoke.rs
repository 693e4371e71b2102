//! Hand-checked cases: the translator's first sanity checks, independent of the oracle.
use xdbt::hosted::snippet::{Region, SnippetCase, SnippetRunner};
use xdbt::mmu::Prot;

fn case(code: &[u8], regs: [u32; 8]) -> SnippetCase {
    let mut c = vec![0xccu8; 4096];
    c[..code.len()].copy_from_slice(code);
    SnippetCase {
        regs,
        eflags: 0,
        entry: 0x1000_0000,
        fx: None,
        regions: vec![
            Region {
                addr: 0x1000_0000,
                prot: Prot::RX,
                data: c,
            },
            Region {
                addr: 0x2000_0000,
                prot: Prot::RW,
                data: vec![0; 8192],
            },
        ],
    }
}

#[test]
fn mov_add_int3() {
    let mut r = SnippetRunner::new().unwrap();
    // mov eax, 5 ; add eax, ebx ; int3
    let res = r.run(&case(
        &[0xb8, 5, 0, 0, 0, 0x01, 0xd8, 0xcc],
        [0, 0, 0, 7, 0x2000_1000, 0, 0, 0],
    ));
    assert_eq!(res.regs[0], 12);
    assert_eq!(res.stop.vector, 3);
    assert_eq!(res.eip, 0x1000_0008);
}

#[test]
fn push_call_ret_loop() {
    let mut r = SnippetRunner::new().unwrap();
    // mov ecx, 10; l: add eax, ecx; loop l; push eax; call f; int3; f: pop ebx; push ebx; ret
    let code = [
        0xb9, 10, 0, 0, 0, // mov ecx,10
        0x01, 0xc8, // add eax, ecx
        0xe2, 0xfc, // loop -4
        0x50, // push eax
        0xe8, 1, 0, 0, 0,    // call +1
        0xcc, // int3
        0x5b, // pop ebx
        0x53, // push ebx
        0xc3, // ret
    ];
    let res = r.run(&case(&code, [0, 0, 0, 0, 0x2000_1000, 0, 0, 0]));
    assert_eq!(res.regs[0], 55);
    assert_eq!(res.regs[3], 0x1000_000f);
    assert_eq!(res.stop.vector, 3);
    assert_eq!(res.regs[4], 0x2000_1000 - 4);
}

#[test]
fn page_fault_is_precise() {
    let mut r = SnippetRunner::new().unwrap();
    // mov eax, 1 ; mov ebx, [0x30000000] ; int3
    let res = r.run(&case(
        &[0xb8, 1, 0, 0, 0, 0x8b, 0x1d, 0, 0, 0, 0x30, 0xcc],
        [0; 8],
    ));
    assert_eq!(res.stop.vector, 14);
    assert_eq!(res.stop.cr2, 0x3000_0000);
    assert_eq!(res.eip, 0x1000_0005);
    assert_eq!(res.regs[0], 1);
}

#[test]
fn endless_loop_stops() {
    use std::time::Duration;
    let mut r = SnippetRunner::new().unwrap();
    let c = case(&[0xeb, 0xfe], [0; 8]); // jmp $
                                         // Prime the machine with the case, then run it with a time limit.
    let m = r.machine();
    for reg in &c.regions {
        m.mem
            .map(
                xdbt::mmu::GuestAddr(reg.addr),
                reg.data.len() as u64,
                reg.prot,
            )
            .unwrap();
        m.mem
            .poke(xdbt::mmu::GuestAddr(reg.addr), &reg.data)
            .unwrap();
    }
    m.cpu_mut().eip = c.entry;
    assert_eq!(m.run_for(Duration::from_millis(50)), xdbt::Exit::Stopped);
    assert_eq!(m.cpu().eip, c.entry);
}

#[test]
fn self_modifying_code() {
    let mut r = SnippetRunner::new().unwrap();
    // The code page is writable: mov byte [target+1], 42 ; target: mov eax, 0 ; int3
    // (the store patches the immediate of the next instruction, already translated in the
    // same block).
    let code = [
        0xc6, 0x05, 0x08, 0x00, 0x00, 0x10, 42, // mov byte [0x10000008], 42
        0xb8, 0, 0, 0, 0, // mov eax, 0   (at 0x10000007; imm at +8)
        0xcc,
    ];
    let mut c = case(&code, [0; 8]);
    c.regions[0].prot = xdbt::mmu::Prot::RWX;
    let res = r.run(&c);
    assert_eq!(res.stop.vector, 3);
    assert_eq!(res.regs[0], 42);
}

#[test]
fn calls_that_never_return_do_not_exhaust_the_host() {
    // mov ecx, 200000 ; L: call L2 ; L2: loop L ; int3 -- 200,000 pending calls, far more
    // host call frames than the frame stack holds.
    let code = [
        0xb9, 0x40, 0x0d, 0x03, 0x00, 0xe8, 0, 0, 0, 0, 0xe2, 0xf9, 0xcc,
    ];
    let mut c = case(&code, [0, 0, 0, 0, 0x3010_0000, 0, 0, 0]);
    c.regions.push(Region {
        addr: 0x3000_0000,
        prot: Prot::RW,
        data: vec![0; 0x10_0000],
    });
    let mut r = SnippetRunner::new().unwrap();
    let res = r.run(&c);
    assert_eq!(res.stop.vector, 3);
    assert_eq!(res.regs[1], 0);
    assert_eq!(res.regs[4], 0x3010_0000 - 4 * 200_000);
}

#[test]
fn recursion_returns_through_host_frames() {
    // fib(20) recursive: f: cmp eax,2 ; jb ret ; push eax ; dec eax ; call f ; mov ecx,eax ;
    // pop eax ; push ecx ; sub eax,2 ; call f ; pop ecx ; add eax,ecx ; ret
    let f = 0x1000_0010u32;
    let mut code = vec![0xb8, 20, 0, 0, 0]; // mov eax, 20
    let rel = f.wrapping_sub(0x1000_0005 + 5);
    code.push(0xe8);
    code.extend_from_slice(&rel.to_le_bytes()); // call f
    code.push(0xcc);
    code.resize(0x10, 0x90);
    let body: [u8; 27] = [
        0x83, 0xf8, 0x02, // cmp eax, 2
        0x72, 0x16, // jb +0x16 -> ret
        0x50, // push eax
        0x48, // dec eax
        0xe8, 0xf4, 0xff, 0xff, 0xff, // call f (rel -12)
        0x89, 0xc1, // mov ecx, eax
        0x58, // pop eax
        0x51, // push ecx
        0x83, 0xe8, 0x02, // sub eax, 2
        0xe8, 0xe8, 0xff, 0xff, 0xff, // call f
        0x59, // pop ecx
        0x01, 0xc8, // add eax, ecx
    ];
    code.extend_from_slice(&body);
    code.push(0xc3); // ret
    let mut r = SnippetRunner::new().unwrap();
    let res = r.run(&case(&code, [0, 0, 0, 0, 0x2000_2000, 0, 0, 0]));
    assert_eq!(res.stop.vector, 3, "{res:?}");
    assert_eq!(res.regs[0], 6765);
}

#[test]
fn x87_runs_on_the_host_unit() {
    // fild dword [0x20000000] ; fsqrt ; fistp dword [0x20000004] ; mov eax,[0x20000004] ; int3
    let code = [
        0xdb, 0x05, 0x00, 0x00, 0x00, 0x20, 0xd9, 0xfa, 0xdb, 0x1d, 0x04, 0x00, 0x00, 0x20, 0xa1,
        0x04, 0x00, 0x00, 0x20, 0xcc,
    ];
    let mut c = case(&code, [0; 8]);
    c.regions[1].data[..4].copy_from_slice(&144u32.to_le_bytes());
    let mut r = SnippetRunner::new().unwrap();
    let res = r.run(&c);
    assert_eq!(res.stop.vector, 3, "{res:?}");
    assert_eq!(res.regs[0], 12);
}

/// Regression: `pop dword [abs32]` stored the destination address instead of the popped
/// value (the value waited in R14, which the absolute address computation reused).
#[test]
fn pop_to_absolute_address() {
    // push 0x1234 ; pop dword [0x20000010] ; mov eax, [0x20000010] ; int3
    let code = [
        0x68, 0x34, 0x12, 0, 0, 0x8f, 0x05, 0x10, 0, 0, 0x20, 0xa1, 0x10, 0, 0, 0x20, 0xcc,
    ];
    let mut r = SnippetRunner::new().unwrap();
    let res = r.run(&case(&code, [0, 0, 0, 0, 0x2000_1000, 0, 0, 0]));
    assert_eq!(res.regs[0], 0x1234);
    assert_eq!(res.regs[4], 0x2000_1000);
}

/// Regression: FWAIT (9B) raised #UD (it has no x87 CPUID feature in iced's tables, so the
/// x87 classification missed it); `fstsw ax` assembles to FWAIT + FNSTSW.
#[test]
fn fwait_runs() {
    // fninit ; fwait ; fnstsw ax ; int3
    let mut r = SnippetRunner::new().unwrap();
    let res = r.run(&case(
        &[0xdb, 0xe3, 0x9b, 0xdf, 0xe0, 0xcc],
        [0xffff_ffff, 0, 0, 0, 0x2000_1000, 0, 0, 0],
    ));
    assert_eq!(res.stop.vector, 3, "{res:?}");
    assert_eq!(res.regs[0] & 0xffff, 0);
}
