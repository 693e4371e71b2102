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
        regions: vec![
            Region { addr: 0x1000_0000, prot: Prot::RX, data: c },
            Region { addr: 0x2000_0000, prot: Prot::RW, data: vec![0; 8192] },
        ],
    }
}

#[test]
fn mov_add_int3() {
    let mut r = SnippetRunner::new().unwrap();
    // mov eax, 5 ; add eax, ebx ; int3
    let res = r.run(&case(&[0xb8, 5, 0, 0, 0, 0x01, 0xd8, 0xcc], [0, 0, 0, 7, 0x2000_1000, 0, 0, 0]));
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
        0xe8, 1, 0, 0, 0, // call +1
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
    let res = r.run(&case(&[0xb8, 1, 0, 0, 0, 0x8b, 0x1d, 0, 0, 0, 0x30, 0xcc], [0; 8]));
    assert_eq!(res.stop.vector, 14);
    assert_eq!(res.stop.cr2, 0x3000_0000);
    assert_eq!(res.eip, 0x1000_0005);
    assert_eq!(res.regs[0], 1);
}
