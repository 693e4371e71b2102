//! Our PV32 test guests (tests/guests/*.c) boot under `xdbt run` and report their verdict
//! on the console: `XDBT-GUEST <name>: PASS`, then power off (exit status 0).
use std::path::PathBuf;
use std::process::Command;

fn xdbt() -> &'static str {
    env!("CARGO_BIN_EXE_xdbt")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn build_guests() -> Vec<String> {
    let st = Command::new("bash")
        .arg(root().join("ci/build-guests.sh"))
        .output()
        .expect("running ci/build-guests.sh");
    assert!(
        st.status.success(),
        "building the guests failed (gcc-multilib installed?):\n{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(root().join("tests/guests"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "c").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_guest_passes() {
    let names = build_guests();
    assert!(!names.is_empty());
    for name in names {
        // Extra `xdbt run` arguments a guest needs, one per line, in tests/guests/NAME.args.
        let args: Vec<String> =
            std::fs::read_to_string(root().join(format!("tests/guests/{name}.args")))
                .map(|s| {
                    s.lines()
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
        let out = Command::new(xdbt())
            .args(["run", "--timeout", "20"])
            .args(&args)
            .arg(root().join("target/guests").join(&name))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let verdict = format!("XDBT-GUEST {name}: PASS");
        assert!(
            stdout.contains(&verdict) && out.status.code() == Some(0),
            "guest {name}: status {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{verdict}");
    }
}

/// Bad kernels: one line on stderr and exit status 2, never a crash.
#[test]
fn bad_kernels_are_refused() {
    let dir = std::env::temp_dir().join(format!("xdbt-badpv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    build_guests();
    let good = std::fs::read(root().join("target/guests/hello")).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("not-elf", b"#!/bin/sh\necho hi\n".to_vec()),
        ("truncated-header", good[..20].to_vec()),
        ("truncated-segments", good[..good.len() / 3].to_vec()),
    ];
    // A 64-bit ELF header: wrong class for a PV32 kernel.
    let mut elf64 = good.clone();
    elf64[4] = 2;
    cases.push(("elfclass64", elf64));
    // No Xen notes: a plain static Linux program.
    let plain = Command::new("gcc")
        .args(["-m32", "-static", "-O2", "-x", "c", "-", "-o"])
        .arg(dir.join("plain"))
        .stdin(std::process::Stdio::piped())
        .spawn();
    if let Ok(mut child) = plain {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"int main(void){return 0;}\n")
            .unwrap();
        assert!(child.wait().unwrap().success());
        cases.push(("no-notes", std::fs::read(dir.join("plain")).unwrap()));
    }
    for (name, bytes) in cases {
        let p = dir.join(name);
        std::fs::write(&p, &bytes).unwrap();
        let out = Command::new(xdbt()).arg("run").arg(&p).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad options: one line on stderr and exit status 2 before any guest runs.
#[test]
fn bad_options_are_refused() {
    build_guests();
    let hello = root().join("target/guests/hello");
    let cases: [&[&str]; 7] = [
        &["--vcpus", "0"],
        &["--vcpus", "9"],
        &["--memory", "1"],
        &["--console-input", "/nonexistent/input"],
        &["--xenstore", "no-equals-sign"],
        &["--xenstore", "bad path//x=1"],
        &["--timeout=-3"],
    ];
    for args in cases {
        let out = Command::new(xdbt())
            .arg("run")
            .args(args)
            .arg(&hello)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: the guest ran");
    }
}

/// `--stats` reports the translator's and the PV layer's counters.
#[test]
fn stats_are_printed() {
    build_guests();
    let out = Command::new(xdbt())
        .args(["run", "--stats"])
        .arg(root().join("target/guests/hello"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for key in [
        "blocks_translated=",
        "exits=",
        "hypercalls=",
        "pt_baseptr_switches=",
    ] {
        let v: u64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{stderr}"))
            .parse()
            .unwrap();
        assert!(v > 0, "{key}{v}");
    }
}
