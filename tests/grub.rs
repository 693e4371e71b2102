//! A real guest nobody here wrote: Debian's GRUB for i386-xen under `xdbt run`.
//! `ci/fetch-grub.sh` downloads grub-xen-bin / grub-xen-host / grub-common from Debian and
//! `ci/build-grub-images.sh` builds test images with Debian's own grub-mkimage (see
//! docs/GRUB-XEN.md). A missing download is a failure, not a skip.
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn images() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        for script in ["ci/fetch-grub.sh", "ci/build-grub-images.sh"] {
            let out = Command::new("bash")
                .arg(root().join(script))
                .output()
                .unwrap_or_else(|e| panic!("running {script}: {e}"));
            assert!(
                out.status.success(),
                "{script} failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        root().join("build-cache/grub/out")
    })
    .clone()
}

/// Run an image with `input` typed at the console; returns (exit code, console text with
/// terminal escape sequences and carriage returns removed).
fn run(image: &str, input: &str, timeout: u32) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("xdbt-grub-{}-{image}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input_file = dir.join("input");
    std::fs::write(&input_file, input).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xdbt"))
        .args(["run", "--timeout", &timeout.to_string(), "--console-input"])
        .arg(&input_file)
        .arg(images().join(image))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let raw = String::from_utf8_lossy(&out.stdout);
    let mut text = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            text.push(c);
        }
    }
    if !out.status.success() {
        eprintln!("stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    (out.status.code(), text)
}

#[test]
fn pvgrub2_answers_typed_commands() {
    let (code, text) = run(
        "grub-i386-xen.bin",
        "echo typed-echo-works\nls\nhelp echo\nhalt\n",
        60,
    );
    assert_eq!(code, Some(0), "console:\n{text}");
    assert!(text.contains("grub> "), "no prompt:\n{text}");
    // The typed command echoed back by the line editor, then its output on its own line.
    assert!(text.contains("\ntyped-echo-works\n"), "echo:\n{text}");
    // `ls` lists GRUB's built-in devices.
    assert!(
        text.contains("(memdisk)") && text.contains("(proc)"),
        "ls:\n{text}"
    );
    assert!(
        text.contains("Usage: echo [-e|-n] STRING"),
        "help echo:\n{text}"
    );
}

#[test]
fn grub_functional_tests_pass() {
    let (code, text) = run("grub-functest.bin", "", 120);
    assert_eq!(code, Some(0), "console:\n{text}");
    assert!(
        text.contains("XDBT-FUNCTEST-END"),
        "did not finish:\n{text}"
    );
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("XDBT-TEST "))
        .collect();
    // The 13 tests run one by one, then all registered tests together.
    assert_eq!(names.len(), 14, "tests run:\n{text}");
    let passed = text.lines().filter(|l| l.ends_with(": PASS")).count();
    let failed: Vec<&str> = text.lines().filter(|l| l.ends_with(": FAIL")).collect();
    assert!(failed.is_empty(), "failures {failed:?}:\n{text}");
    assert_eq!(
        text.matches("ALL TESTS PASSED").count(),
        14,
        "verdicts:\n{text}"
    );
    assert!(!text.contains("TEST FAILURE"));
    println!("GRUB functional tests: {passed} PASS lines, 0 FAIL");
}

/// sleep_test: 10 s of grub_millisleep (TSC, calibrated from vcpu_time_info) must match the
/// wallclock GRUB reads from shared_info (wc_sec + system_time).
#[test]
fn grub_sleep_test_passes() {
    let (code, text) = run("grub-sleeptest.bin", "", 60);
    assert_eq!(code, Some(0), "console:\n{text}");
    assert!(text.contains("sleep_test: PASS"), "console:\n{text}");
    assert!(text.contains("ALL TESTS PASSED"), "console:\n{text}");
}
