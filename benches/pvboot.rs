//! Boot-to-exit time of the smallest PV32 test guest under `xdbt run` (process start to
//! exit, as an administrator would measure it). `cargo bench --bench pvboot`.
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
    let xdbt = format!("{root}/target/release/xdbt");
    let guest = format!("{root}/target/guests/hello");
    let runs = std::env::var("XDBT_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50usize);
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(&xdbt)
            .args(["run", &guest])
            .output()
            .expect("running xdbt");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(out.status.success(), "the guest did not power off cleanly");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "pvboot: hello guest boot-to-exit over {runs} runs: median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times[runs / 2],
        times[0],
        times[runs - 1]
    );
}
