//! Arbitrary bytes as IA-32 code with an arbitrary initial state: whatever they do, the
//! outcome must be a guest-visible exit (a fault, an `int n`, or the time limit), never a
//! panic or a host signal escaping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::time::Duration;
use xdbt::hosted::snippet::{Region, SnippetCase, SnippetRunner};
use xdbt::mmu::Prot;

thread_local! {
    static RUNNER: RefCell<SnippetRunner> = RefCell::new(SnippetRunner::new().expect("runner"));
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 36 {
        return;
    }
    let mut regs = [0u32; 8];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = u32::from_le_bytes(data[i * 4..i * 4 + 4].try_into().unwrap());
    }
    // Keep ESP inside the data page half of the time so that stack code gets further.
    if data[32] & 1 == 0 {
        regs[4] = 0x2000_0800 + u32::from(data[33]) * 4;
    }
    let eflags = u32::from(data[34]) | (u32::from(data[35]) << 8);
    let mut code = vec![0xccu8; 8192];
    let body = &data[36..];
    let n = body.len().min(code.len());
    code[..n].copy_from_slice(&body[..n]);
    let case = SnippetCase {
        regs,
        eflags,
        entry: 0x1000_0000,
        fx: None,
        regions: vec![
            // Writable code so that self-modifying paths are exercised too.
            Region { addr: 0x1000_0000, prot: Prot::RWX, data: code },
            Region { addr: 0x2000_0000, prot: Prot::RW, data: vec![0x5a; 4096] },
        ],
    };
    RUNNER.with(|r| {
        let res = r.borrow_mut().run_limited(&case, Duration::from_millis(20));
        // Every stop is an architectural vector, an int n, or the time limit.
        assert!(res.stop.vector <= 19 || res.stop.vector == 0x80 || res.stop.vector == 0xff);
    });
});
