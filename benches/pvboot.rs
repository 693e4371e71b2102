//! Boot-to-exit time under `xdbt run` (process start to exit, as an administrator would
//! measure it) of the smallest PV32 test guest and of Debian's pvgrub2 (to its prompt, then
//! `halt`). `cargo bench --bench pvboot`.
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let st = Command::new("cargo")
        .args(["build", "--release", "--bin", "xdbt"])
        .current_dir(root)
        .status();
    assert!(st.is_ok_and(|s| s.success()), "building xdbt failed");
    let st = Command::new("bash")
        .arg(format!("{root}/ci/build-guests.sh"))
        .stdout(Stdio::null())
        .status();
    assert!(
        st.is_ok_and(|s| s.success()),
        "building the test guests failed"
    );
    for script in ["ci/fetch-grub.sh", "ci/build-grub-images.sh"] {
        let st = Command::new("bash")
            .arg(format!("{root}/{script}"))
            .stdout(Stdio::null())
            .status();
        assert!(st.is_ok_and(|s| s.success()), "{script} failed");
    }
    let xdbt = format!("{root}/target/release/xdbt");
    let runs = std::env::var("XDBT_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50usize);
    let input = std::env::temp_dir().join(format!("xdbt-pvboot-{}", std::process::id()));
    std::fs::write(&input, "halt\n").expect("writing the console input");
    let cases = [
        ("hello guest", format!("{root}/target/guests/hello"), false),
        // pvgrub2 to its prompt, then `halt` typed at it.
        (
            "pvgrub2 prompt+halt",
            format!("{root}/build-cache/grub/out/grub-i386-xen.bin"),
            true,
        ),
    ];
    for (name, image, typed) in cases {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let mut cmd = Command::new(&xdbt);
            cmd.args(["run", "--timeout", "30"]);
            if typed {
                cmd.arg("--console-input").arg(&input);
            }
            let out = cmd.arg(&image).output().expect("running xdbt");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            assert!(out.status.success(), "{name} did not power off cleanly");
        }
        times.sort_by(f64::total_cmp);
        println!(
            "pvboot: {name} boot-to-exit over {runs} runs: median {:.1} ms, min {:.1} ms, max {:.1} ms",
            times[runs / 2],
            times[0],
            times[runs - 1]
        );
    }
    let _ = std::fs::remove_file(&input);

    // User/kernel round trips: bench/pv/syscall.c makes 200,000 `int $0x80` calls from
    // ring 3, each answered with HYPERVISOR_iret.
    let guest = format!("{root}/target/guests/syscall");
    let st = Command::new("bash")
        .arg(format!("{root}/ci/build-guests.sh"))
        .arg(format!("{root}/bench/pv/syscall.c"))
        .stdout(Stdio::null())
        .status();
    assert!(
        st.is_ok_and(|s| s.success()),
        "building bench/pv/syscall.c failed"
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(&xdbt)
            .args(["run", "--timeout", "120", &guest])
            .output()
            .expect("running xdbt");
        times.push(t.elapsed().as_secs_f64());
        assert!(out.status.success(), "the syscall guest failed");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "pvboot: ring 3 -> ring 1 -> ring 3 round trip (int $0x80 + HYPERVISOR_iret), 200,000 of them, 5 runs: median {:.2} us each",
        times[2] / 200_000.0 * 1e6
    );
}
