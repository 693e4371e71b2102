//! RDTSC through a host TSC function (`xdbt::interp::set_soft_tsc`), as Xen sets it when it
//! emulates the TSC for a domain. Its own test binary: the setting is process-wide.
use xdbt::hosted::snippet::{Region, SnippetCase, SnippetRunner};
use xdbt::mmu::Prot;

fn fixed_tsc() -> u64 {
    0x1234_5678_9abc_def0
}

#[test]
fn rdtsc_reads_the_host_tsc_function() {
    xdbt::interp::set_soft_tsc(fixed_tsc);
    assert!(xdbt::interp::soft_tsc());
    // rdtsc ; mov ecx, eax ; add ecx, 1 ; int3: the value lands in EDX:EAX and the
    // registers after the helper call are the guest's.
    let mut code = vec![0xccu8; 4096];
    code[..8].copy_from_slice(&[0x0f, 0x31, 0x89, 0xc1, 0x83, 0xc1, 0x01, 0xcc]);
    let case = SnippetCase {
        regs: [0, 0, 0, 0x77, 0x2000_1000, 0x55, 0x66, 0x88],
        eflags: 0,
        entry: 0x1000_0000,
        fx: None,
        regions: vec![
            Region {
                addr: 0x1000_0000,
                prot: Prot::RX,
                data: code,
            },
            Region {
                addr: 0x2000_0000,
                prot: Prot::RW,
                data: vec![0; 8192],
            },
        ],
    };
    let res = SnippetRunner::new().unwrap().run(&case);
    assert_eq!(res.stop.vector, 3);
    assert_eq!(res.regs[0], 0x9abc_def0, "EAX");
    assert_eq!(res.regs[2], 0x1234_5678, "EDX");
    assert_eq!(res.regs[1], 0x9abc_def1, "ECX from EAX after the call");
    assert_eq!(
        &res.regs[3..],
        &[0x77, 0x2000_1000, 0x55, 0x66, 0x88],
        "untouched"
    );
}
