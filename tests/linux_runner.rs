//! `xdbt run-linux` against the host CPU: small static C programs (tests/linux/*.c) are built
//! with `gcc -m32 -static -O2`, run natively (the host runs i386 code) and under the
//! translator, and must print the same stdout and end the same way. Malformed programs must
//! be refused with exit status 2 and exactly one line on stderr.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const XDBT: &str = env!("CARGO_BIN_EXE_xdbt");

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/linux-tests");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = out_dir().join(format!("scratch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Build tests/linux/NAME.c into target/linux-tests/NAME.
fn build(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/linux/{name}.c"));
    let exe = out_dir().join(name);
    let r = Command::new("gcc")
        .args(["-m32", "-static", "-O2", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("gcc not found: install gcc-multilib (ci/setup.sh does)");
    assert!(
        r.status.success(),
        "gcc -m32 -static failed for {name} (is gcc-multilib installed? ci/setup.sh installs it):\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    exe
}

fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    feeder.join().unwrap();
    out
}

/// The status a shell would report: the exit code, or 128 + the killing signal.
fn status(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0))
}

fn native(exe: &Path, args: &[&str]) -> Output {
    run(Command::new(exe).args(args), b"")
}

fn xdbt(exe: &Path, args: &[&str]) -> Output {
    run(Command::new(XDBT).arg("run-linux").arg(exe).args(args), b"")
}

fn lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Run NAME natively and under xdbt; stdout and status must match. Returns xdbt's output.
fn same(name: &str, args: &[&str]) -> Output {
    let exe = build(name);
    let n = native(&exe, args);
    let x = xdbt(&exe, args);
    assert_eq!(
        String::from_utf8_lossy(&x.stdout),
        String::from_utf8_lossy(&n.stdout),
        "{name}: stdout differs (xdbt stderr: {})",
        String::from_utf8_lossy(&x.stderr)
    );
    assert_eq!(
        status(&x),
        status(&n),
        "{name}: exit status differs (xdbt stderr: {})",
        String::from_utf8_lossy(&x.stderr)
    );
    x
}

#[test]
fn hello() {
    let x = same("hello", &[]);
    assert_eq!(x.stdout, b"Hello, world!\n");
    assert!(
        x.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&x.stderr)
    );
}

#[test]
fn argv_env_auxv() {
    let exe = build("args");
    let args = ["one", "-two", "--three", "", "with space"];
    let env = [("XDBT_TEST_A", "alpha"), ("XDBT_TEST_B", "b=c")];
    let n = run(Command::new(&exe).args(args).envs(env), b"");
    let x = run(
        Command::new(XDBT)
            .arg("run-linux")
            .arg(&exe)
            .args(args)
            .envs(env),
        b"",
    );
    assert_eq!(
        String::from_utf8_lossy(&x.stdout),
        String::from_utf8_lossy(&n.stdout)
    );
    assert_eq!(status(&x), 6);
    assert_eq!(status(&n), 6);
    let out = lines(&x.stdout);
    assert!(out.contains(&"argv[2]=\"-two\"".to_string()), "{out:?}");
    assert!(out.contains(&"env XDBT_TEST_B=b=c".to_string()), "{out:?}");
}

#[test]
fn tls_and_errno() {
    same("tls", &[]);
}

#[test]
fn exit_status_and_atexit() {
    same("exitcode", &[]);
    let x = same("exitcode", &["42"]);
    assert_eq!(status(&x), 42);
    let x = same("exitcode", &["300"]);
    assert_eq!(status(&x), 300 & 0xff);
}

#[test]
fn file_io() {
    let dir = scratch("fileio");
    let dir = dir.canonicalize().unwrap();
    let d = dir.to_str().unwrap();
    let exe = build("fileio");
    let n = native(&exe, &[d]);
    let x = xdbt(&exe, &[d]);
    assert_eq!(
        String::from_utf8_lossy(&x.stdout),
        String::from_utf8_lossy(&n.stdout)
    );
    assert_eq!(status(&x), status(&n));
    assert!(!String::from_utf8_lossy(&x.stdout).contains("FAILED"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malloc_brk_mmap() {
    let x = same("malloc", &[]);
    assert_eq!(status(&x), 0);
}

#[test]
fn fork_wait_pipe_exec() {
    let x = same("fork", &[]);
    assert!(lines(&x.stdout).contains(&"exec'd child: 7".to_string()));
}

#[test]
fn signal_handlers_and_delivery() {
    let x = same("signals", &[]);
    assert_eq!(status(&x), 128 + libc::SIGTERM);
    assert!(lines(&x.stdout).contains(&"restarted read=1 c=z hits=2".to_string()));
}

/// A guest fault ends the program like the kernel would, with one line on stderr.
fn killed(name: &str, sig: i32, what: &str) {
    let x = same(name, &[]);
    assert_eq!(status(&x), 128 + sig);
    assert_eq!(
        x.status.signal(),
        Some(sig),
        "xdbt itself dies by the signal"
    );
    let err = lines(&x.stderr);
    assert_eq!(err.len(), 1, "one line on stderr, got {err:?}");
    assert!(
        err[0].starts_with("xdbt: guest killed by ") && err[0].contains(what),
        "{err:?}"
    );
}

#[test]
fn null_dereference_is_sigsegv() {
    killed("segv", libc::SIGSEGV, "(#PF at eip=");
}

#[test]
fn division_by_zero_is_sigfpe() {
    killed("divzero", libc::SIGFPE, "(#DE at eip=");
}

#[test]
fn abort_is_sigabrt() {
    let x = same("abort", &[]);
    assert_eq!(status(&x), 134);
    // The program sent the signal itself: nothing to report, as natively.
    assert!(
        x.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&x.stderr)
    );
}

/// xdbt refuses `file` with status 2 and one line on stderr containing `what`.
fn refused(file: &Path, what: &str) {
    let x = run(Command::new(XDBT).arg("run-linux").arg(file), b"");
    let err = lines(&x.stderr);
    assert_eq!(status(&x), 2, "{}: {err:?}", file.display());
    assert_eq!(
        err.len(),
        1,
        "{}: one line on stderr, got {err:?}",
        file.display()
    );
    assert!(err[0].contains(what), "{}: {err:?}", file.display());
    assert!(x.stdout.is_empty());
}

fn write_exe(path: &Path, data: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, data).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn bad_programs_are_refused() {
    let dir = scratch("bad");
    let good = std::fs::read(build("hello")).unwrap();

    let text = dir.join("script");
    write_exe(&text, b"#!/bin/sh\necho not an ELF\n");
    refused(&text, "Not an ELF file");

    let truncated = dir.join("truncated");
    write_exe(&truncated, &good[..40]);
    refused(&truncated, "Truncated");

    let cut = dir.join("cut-segments");
    write_exe(&cut, &good[..good.len() / 2]);
    refused(&cut, "Truncated");

    let amd64 = dir.join("amd64");
    let host = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    write_exe(&amd64, &host[..4096.min(host.len())]);
    refused(&amd64, "Not an i386 program");

    let mut noseg = good.clone();
    noseg[44..46].copy_from_slice(&0u16.to_le_bytes()); // e_phnum = 0
    let noseg_path = dir.join("no-segments");
    write_exe(&noseg_path, &noseg);
    refused(&noseg_path, "No loadable segments");

    let mut badentry = good.clone();
    badentry[24..28].copy_from_slice(&0x1000u32.to_le_bytes()); // e_entry
    let badentry_path = dir.join("bad-entry");
    write_exe(&badentry_path, &badentry);
    refused(&badentry_path, "Entry point");

    refused(&dir.join("does-not-exist"), "Cannot read program");
    refused(&dir, "Permission denied");
    let noexec = dir.join("not-executable");
    std::fs::write(&noexec, &good).unwrap();
    refused(&noexec, "Permission denied");

    // A dynamically linked i386 program (if the i386 libc for dynamic linking is there).
    let dynamic = dir.join("dynamic");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/linux/hello.c");
    let ok = Command::new("gcc")
        .args(["-m32", "-O2", "-o"])
        .arg(&dynamic)
        .arg(&src)
        .status();
    if ok.is_ok_and(|s| s.success()) {
        refused(&dynamic, "Dynamically linked programs are not supported");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trailing_arguments_are_verbatim() {
    let exe = build("args");
    let x = xdbt(&exe, &["--stats", "-v", "--", "-x"]);
    let out = lines(&x.stdout);
    assert!(out.contains(&"argc=5".to_string()), "{out:?}");
    assert!(out.contains(&"argv[1]=\"--stats\"".to_string()), "{out:?}");
    assert!(out.contains(&"argv[3]=\"--\"".to_string()), "{out:?}");
    // Options before PROGRAM are xdbt's.
    let x = run(
        Command::new(XDBT)
            .args(["run-linux", "--stats"])
            .arg(&exe)
            .arg("z"),
        b"",
    );
    assert_eq!(status(&x), 2);
    assert!(lines(&x.stdout).contains(&"argc=2".to_string()));
    let err = String::from_utf8_lossy(&x.stderr);
    assert!(
        err.lines().any(|l| l.contains('=')),
        "--stats prints key=value lines: {err}"
    );
}
