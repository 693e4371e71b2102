//! Hostile guest code: random bytes with random registers must always end in a guest-visible
//! stop (an exception, an `int n`, or the time limit), never a host crash or panic. The
//! coverage-guided version of this is the `translate` fuzz target in `fuzz/`.
use std::time::Duration;
use xdbt::hosted::snippet::{Region, SnippetCase, SnippetRunner};
use xdbt::mmu::Prot;

/// xorshift64*: a small deterministic generator (the seed comes from XDBT_DIFF_SEED).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_bytes_never_escape() {
    let seed = std::env::var("XDBT_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let count = 20_000;
    let mut rng = Rng(seed | 1);
    let mut r = SnippetRunner::new().unwrap();
    let mut vectors = std::collections::BTreeMap::new();
    for _ in 0..count {
        let mut code = vec![0u8; 4096];
        let n = (rng.next() % 64) as usize + 1;
        for b in code.iter_mut().take(n) {
            *b = rng.next() as u8;
        }
        code[n] = 0xcc;
        let mut regs = [0u32; 8];
        for x in regs.iter_mut() {
            *x = match rng.next() % 3 {
                0 => 0x2000_0000 + (rng.next() % 8192) as u32,
                1 => rng.next() as u32,
                _ => (rng.next() % 16) as u32,
            };
        }
        regs[4] = 0x2000_1000;
        let case = SnippetCase {
            regs,
            eflags: rng.next() as u32,
            entry: 0x1000_0000,
            fx: None,
            regions: vec![
                Region {
                    addr: 0x1000_0000,
                    prot: Prot::RWX,
                    data: code,
                },
                Region {
                    addr: 0x2000_0000,
                    prot: Prot::RW,
                    data: vec![0; 8192],
                },
            ],
        };
        let res = r.run_limited(&case, Duration::from_millis(5));
        *vectors.entry(res.stop.vector).or_insert(0u32) += 1;
        assert!(
            res.stop.vector <= 19 || res.stop.vector == 0x80 || res.stop.vector == 0xff,
            "unexpected stop {:?}",
            res.stop
        );
    }
    println!("random_bytes_never_escape: seed={seed} count={count} stops by vector: {vectors:?}");
}
