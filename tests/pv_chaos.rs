//! Hostile guests against the PV layer: `tests/chaos/chaos.c` makes 3,000 random hypercalls
//! with garbage arguments per run. The guest may crash itself (exit 1, with a report); the
//! host must never crash, panic or hang, whatever the seed.
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn random_hypercalls_never_hurt_the_host() {
    let guest = root().join("target/guests/chaos");
    let st = Command::new("bash")
        .arg(root().join("ci/build-guests.sh"))
        .arg(root().join("tests/chaos/chaos.c"))
        .output()
        .expect("ci/build-guests.sh")
        .status;
    assert!(st.success(), "building the chaos guest failed");
    let seeds: u32 = std::env::var("XDBT_CHAOS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (mut survived, mut crashed) = (0, 0);
    for seed in 1..=seeds {
        let out = Command::new(env!("CARGO_BIN_EXE_xdbt"))
            .args(["run", "--timeout", "30", "--cmdline", &seed.to_string()])
            .arg(&guest)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stderr.contains("panicked"),
            "seed {seed}: xdbt panicked:\n{stderr}"
        );
        match out.status.code() {
            Some(0) => {
                assert!(stdout.contains("XDBT-GUEST chaos: PASS"), "seed {seed}");
                survived += 1;
            }
            // The guest destroyed itself (e.g. unmapped its own code): reported, not fatal.
            Some(1) => {
                assert!(
                    stderr.contains("xdbt: guest crashed"),
                    "seed {seed}: exit 1 without a crash report:\n{stderr}"
                );
                crashed += 1;
            }
            other => panic!("seed {seed}: xdbt ended with {other:?}\nstderr:\n{stderr}"),
        }
    }
    println!("chaos: {seeds} seeds x 3000 random hypercalls: {survived} guests survived, {crashed} crashed themselves, the host never failed");
}
