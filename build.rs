//! Builds the native oracle runner (`tests/native/runner.c`, see `src/hosted/oracle.rs`)
//! for the hosted build on x86-64 Linux. Other targets (the no_std core linked into Xen,
//! `x86_64-unknown-none`) need no C compiler.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const RUNNER_SRC: &str = "tests/native/runner.c";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    if env::var_os("CARGO_FEATURE_STD").is_none() || target != "x86_64-unknown-linux-gnu" {
        return;
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let runner = out_dir.join("xdbt-native-runner");
    println!("cargo:rerun-if-changed={RUNNER_SRC}");

    // -fno-stack-protector: the runner's signal handler runs with the case's GS.
    let result = Command::new("gcc")
        .args([
            "-m32",
            "-static",
            "-O2",
            "-Wall",
            "-Wextra",
            "-fno-stack-protector",
            "-o",
        ])
        .arg(&runner)
        .arg(RUNNER_SRC)
        .output();
    let failure = match result {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).into_owned()),
        Err(e) => Some(format!("cannot run gcc: {e}")),
    };
    match failure {
        None => println!("cargo:rustc-env=XDBT_NATIVE_RUNNER={}", runner.display()),
        Some(why) => {
            let first = why.lines().next().unwrap_or("").to_owned();
            println!(
                "cargo:warning=native runner not built (gcc -m32 -static failed: {first}); \
                 the differential tests will fail: install gcc-multilib"
            );
            println!("cargo:rustc-env=XDBT_NATIVE_RUNNER=");
            // The runner does not exist, so this makes cargo retry on every build (e.g.
            // after gcc-multilib is installed).
            println!("cargo:rerun-if-changed={}", runner.display());
        }
    }
}
