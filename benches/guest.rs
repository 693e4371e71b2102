//! Guest benchmark suite: `cargo bench --bench guest`.
//!
//! Builds the IA-32 C programs in `bench/programs/*.c` with
//! `gcc -m32 -O2 -static ... -lm` into `target/bench-programs/` (a few sources
//! are built more than once with extra flags, see [`VARIANTS`]: `nbody.c` as
//! `nbody-sse` with `-msse2 -mfpmath=sse` and as `nbody-x87` with none, and
//! likewise `matmul.c`), then runs each one
//! natively, under `xdbt run-linux --stats` and under `qemu-i386`, for a number
//! of interleaved rounds (native A, xdbt A, qemu A, native B, ...). Every run's
//! stdout must match the native one. The median wall time per (program,
//! runner) goes into a table printed on stdout and written as Markdown to
//! `target/bench-report.md` (for `docs/PERFORMANCE.md`).
//!
//! Environment:
//! - `XDBT_BIN`: the xdbt binary to use (default: `cargo build --release --bin
//!   xdbt`, then `target/release/xdbt`).
//! - `QEMU_I386`: the qemu-i386 binary (default: `qemu-i386` on `PATH`).
//! - `XDBT_BENCH_ROUNDS`: rounds per (program, runner), default 3.
//! - `XDBT_BENCH_FILTER`: comma-separated program names to run (a name
//!   matches when it contains one of the given strings; the names of the
//!   variants count, so `x87` selects `nbody-x87` and `matmul-x87`).
//! - `XDBT_BENCH_TIMEOUT`: seconds before one run is killed, default 300.
//!
//! Exit status: 0 when xdbt and every other available runner succeeded with
//! matching output; 1 on a failed run, an output MISMATCH or no usable xdbt
//! binary (the other runners are still measured and reported); 2 when the
//! suite cannot run at all (no `gcc -m32`, no programs). A missing qemu-i386
//! is not an error: its columns read "n/a".

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEFAULT_ROUNDS: usize = 3;
const DEFAULT_TIMEOUT_SECS: u64 = 300;
const STDERR_TAIL_LINES: usize = 12;

/// The compiler flags of every guest: `gcc BASE_CFLAGS [variant flags] -o BIN SRC -lm`.
const BASE_CFLAGS: [&str; 3] = ["-m32", "-O2", "-static"];
/// One build of a source: (program name, extra gcc flags).
type Variant = (&'static str, &'static [&'static str]);
/// Sources built more than once: (file stem, its builds). Any other
/// `bench/programs/NAME.c` is one program NAME with no extra flags.
const VARIANTS: &[(&str, &[Variant])] = &[
    (
        "nbody",
        &[
            ("nbody-sse", &["-msse2", "-mfpmath=sse"]),
            ("nbody-x87", &[]),
        ],
    ),
    (
        "matmul",
        &[
            ("matmul-sse", &["-msse2", "-mfpmath=sse"]),
            ("matmul-x87", &[]),
        ],
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum RunnerKind {
    Native,
    Xdbt,
    Qemu,
}

impl RunnerKind {
    const ALL: [RunnerKind; 3] = [RunnerKind::Native, RunnerKind::Xdbt, RunnerKind::Qemu];

    fn name(self) -> &'static str {
        match self {
            RunnerKind::Native => "native",
            RunnerKind::Xdbt => "xdbt",
            RunnerKind::Qemu => "qemu-i386",
        }
    }

    fn index(self) -> usize {
        match self {
            RunnerKind::Native => 0,
            RunnerKind::Xdbt => 1,
            RunnerKind::Qemu => 2,
        }
    }
}

/// A runner that can be used, or the reason it cannot.
enum Runner {
    Available(Vec<PathBuf>),
    Unavailable(String),
}

impl Runner {
    /// The command line (program + leading arguments) to run `guest` with.
    fn command(&self, guest: &Path) -> Option<Command> {
        let Runner::Available(prefix) = self else {
            return None;
        };
        let mut cmd = match prefix.split_first() {
            None => Command::new(guest),
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest);
                c.arg(guest);
                c
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Some(cmd)
    }
}

/// Results of one (program, runner) pair over all rounds.
#[derive(Default)]
struct Cell {
    secs: Vec<f64>,
    /// Set on the first failure or mismatch; later rounds are then skipped.
    failure: Option<String>,
    mismatch: bool,
    translate_ns: Vec<u64>,
    insns_translated: Vec<u64>,
}

impl Cell {
    fn median(&self) -> Option<f64> {
        if self.failure.is_some() {
            return None;
        }
        median(&self.secs)
    }
}

struct Program {
    name: String,
    source: PathBuf,
    /// gcc flags on top of [`BASE_CFLAGS`].
    extra_cflags: &'static [&'static str],
    binary: PathBuf,
    cells: [Cell; 3],
    reference_stdout: Option<Vec<u8>>,
}

struct RunResult {
    elapsed: Duration,
    status: Option<ExitStatus>,
    timed_out: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench` (and maybe libtest flags): ignored.
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                manifest_dir.join(p)
            }
        })
        .unwrap_or_else(|| manifest_dir.join("target"));
    let rounds = env_usize("XDBT_BENCH_ROUNDS", DEFAULT_ROUNDS).max(1);
    let timeout =
        Duration::from_secs(env_usize("XDBT_BENCH_TIMEOUT", DEFAULT_TIMEOUT_SECS as usize) as u64);
    let filter: Vec<String> = env::var("XDBT_BENCH_FILTER")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();

    let machine = machine_description();
    let date = utc_date_string();
    println!("xdbt guest benchmark");
    println!("date:    {date}");
    println!("machine: {machine}");
    println!("rounds:  {rounds} (median wall time)");

    // 1. The programs.
    let programs_dir = manifest_dir.join("bench").join("programs");
    let mut programs = match discover_programs(&programs_dir, &target_dir, &filter) {
        Ok(p) if !p.is_empty() => p,
        Ok(_) => {
            eprintln!(
                "error: no benchmark program in {} matches XDBT_BENCH_FILTER={:?}",
                programs_dir.display(),
                filter.join(",")
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: cannot list {}: {e}", programs_dir.display());
            return ExitCode::from(2);
        }
    };
    let gcc_version = match build_programs(&programs, &target_dir) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("guests:  {} ({gcc_version})", guest_cflags(&programs, ""));

    // 2. The runners.
    let xdbt = locate_xdbt(&manifest_dir, &target_dir);
    let qemu = locate_qemu();
    let mut runners: [Runner; 3] = [Runner::Available(Vec::new()), xdbt, qemu];
    for kind in [RunnerKind::Xdbt, RunnerKind::Qemu] {
        match &runners[kind.index()] {
            Runner::Available(cmd) => println!(
                "{:<8} {}",
                format!("{}:", kind.name()),
                cmd.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Runner::Unavailable(why) => {
                println!("{:<8} n/a: {why}", format!("{}:", kind.name()))
            }
        }
    }
    let qemu_version = match &runners[RunnerKind::Qemu.index()] {
        Runner::Available(cmd) => first_line_of(Command::new(&cmd[0]).arg("--version")),
        Runner::Unavailable(_) => None,
    };
    println!();

    // 3. Interleaved rounds.
    for round in 1..=rounds {
        for prog in programs.iter_mut() {
            for kind in RunnerKind::ALL {
                run_one(prog, kind, &mut runners, round, rounds, timeout);
            }
        }
    }

    // 4. The report.
    let (text, markdown, failed) = report(
        &programs,
        &runners,
        &machine,
        &date,
        rounds,
        &gcc_version,
        qemu_version.as_deref(),
    );
    println!();
    print!("{text}");
    let report_path = target_dir.join("bench-report.md");
    match fs::create_dir_all(&target_dir).and_then(|_| fs::write(&report_path, markdown)) {
        Ok(()) => println!("\nMarkdown report written to {}", report_path.display()),
        Err(e) => eprintln!("warning: cannot write {}: {e}", report_path.display()),
    }
    if failed {
        println!("\nFAILED: see the failures above (exit status 1)");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    match env::var(name) {
        Ok(v) => match v.trim().parse() {
            Ok(n) => n,
            Err(_) => {
                eprintln!("warning: ignoring {name}={v:?} (not a number), using {default}");
                default
            }
        },
        Err(_) => default,
    }
}

fn discover_programs(
    dir: &Path,
    target_dir: &Path,
    filter: &[String],
) -> std::io::Result<Vec<Program>> {
    let out_dir = target_dir.join("bench-programs");
    let mut programs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("c") {
            continue;
        }
        let Some(name) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let variants: &[Variant] = match VARIANTS.iter().find(|(stem, _)| *stem == name) {
            Some((_, v)) => v,
            None => &[("", &[])],
        };
        for &(variant, extra_cflags) in variants {
            let name = if variant.is_empty() {
                name.clone()
            } else {
                variant.to_string()
            };
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            programs.push(Program {
                binary: out_dir.join(&name),
                name,
                source: path.clone(),
                extra_cflags,
                cells: Default::default(),
                reference_stdout: None,
            });
        }
    }
    // A fixed, documented order: the four core programs, the floating-point
    // ones, then the rest.
    const ORDER: [&str; 8] = [
        "integer",
        "memory",
        "interp",
        "calls",
        "nbody-sse",
        "nbody-x87",
        "matmul-sse",
        "matmul-x87",
    ];
    programs.sort_by_key(|p| {
        (
            ORDER
                .iter()
                .position(|n| *n == p.name)
                .unwrap_or(ORDER.len()),
            p.name.clone(),
        )
    });
    Ok(programs)
}

/// Builds every program; returns gcc's version line.
fn build_programs(programs: &[Program], target_dir: &Path) -> Result<String, String> {
    const HINT: &str = "the guest programs need a 32-bit capable gcc: install gcc-multilib \
                        (Debian/Ubuntu: apt-get install gcc-multilib)";
    let version = first_line_of(Command::new("gcc").arg("--version"))
        .ok_or_else(|| format!("cannot run `gcc --version`: gcc is not installed; {HINT}"))?;
    let out_dir = target_dir.join("bench-programs");
    fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    for prog in programs {
        print!("building {} ... ", prog.binary.display());
        let out = Command::new("gcc")
            .args(BASE_CFLAGS)
            .args(prog.extra_cflags)
            .arg("-o")
            .arg(&prog.binary)
            .arg(&prog.source)
            .arg("-lm")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run gcc: {e}; {HINT}"))?;
        if !out.status.success() {
            println!("failed");
            return Err(format!(
                "`gcc {} -o {} {} -lm` failed ({}):\n{}\n{HINT}",
                BASE_CFLAGS
                    .iter()
                    .chain(prog.extra_cflags)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" "),
                prog.binary.display(),
                prog.source.display(),
                describe_status(out.status),
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
        println!("ok");
    }
    Ok(version)
}

/// The guests' gcc command line, and the extra flags of the variants built with
/// some: "gcc -m32 -O2 -static -lm, plus -msse2 -mfpmath=sse for nbody-sse, ...".
/// `quote` goes around each command or flag list (a Markdown backtick or "").
fn guest_cflags(programs: &[Program], quote: &str) -> String {
    let mut s = format!("{quote}gcc {} -lm{quote}", BASE_CFLAGS.join(" "));
    let mut seen: Vec<&[&str]> = Vec::new();
    for prog in programs {
        let flags = prog.extra_cflags;
        if flags.is_empty() || seen.contains(&flags) {
            continue;
        }
        seen.push(flags);
        let names: Vec<&str> = programs
            .iter()
            .filter(|p| p.extra_cflags == flags)
            .map(|p| p.name.as_str())
            .collect();
        let _ = write!(
            s,
            ", plus {quote}{}{quote} for {}",
            flags.join(" "),
            names.join(", ")
        );
    }
    s
}

fn locate_xdbt(manifest_dir: &Path, target_dir: &Path) -> Runner {
    let bin = if let Some(bin) = env::var_os("XDBT_BIN") {
        PathBuf::from(bin)
    } else {
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        println!("building xdbt: cargo build --release --bin xdbt");
        let status = Command::new(&cargo)
            .args(["build", "--release", "--bin", "xdbt"])
            .current_dir(manifest_dir)
            .stdin(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                return Runner::Unavailable(format!(
                    "`cargo build --release --bin xdbt` failed ({})",
                    describe_status(s)
                ))
            }
            Err(e) => return Runner::Unavailable(format!("cannot run cargo: {e}")),
        }
        target_dir.join("release").join("xdbt")
    };
    if !bin.is_file() {
        return Runner::Unavailable(format!("{} does not exist", bin.display()));
    }
    Runner::Available(vec![bin, "run-linux".into(), "--stats".into()])
}

fn locate_qemu() -> Runner {
    if let Some(bin) = env::var_os("QEMU_I386") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Runner::Available(vec![bin])
        } else {
            Runner::Unavailable(format!("QEMU_I386={} does not exist", bin.display()))
        };
    }
    match find_in_path("qemu-i386") {
        Some(bin) => Runner::Available(vec![bin]),
        None => {
            println!(
                "note: qemu-i386 not found on PATH (Debian package qemu-user: \
                 apt-get install qemu-user); its columns will read n/a"
            );
            Runner::Unavailable("qemu-i386 not found (install qemu-user)".into())
        }
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn run_one(
    prog: &mut Program,
    kind: RunnerKind,
    runners: &mut [Runner; 3],
    round: usize,
    rounds: usize,
    timeout: Duration,
) {
    let label = format!("[{round}/{rounds}] {:<10} {:<10}", prog.name, kind.name());
    let cell = &mut prog.cells[kind.index()];
    if cell.failure.is_some() {
        return; // already reported; do not retry a failing runner
    }
    let Some(cmd) = runners[kind.index()].command(&prog.binary) else {
        return;
    };
    let result = match run_timed(cmd, timeout) {
        Ok(r) => r,
        Err(e) => {
            println!("{label} FAILED: cannot start: {e}");
            cell.failure = Some(format!("cannot start: {e}"));
            return;
        }
    };
    let ok = !result.timed_out && result.status.is_some_and(|s| s.success());
    if !ok {
        let why = if result.timed_out {
            format!("timed out after {} s (killed)", timeout.as_secs())
        } else {
            result
                .status
                .map(describe_status)
                .unwrap_or_else(|| "no exit status".into())
        };
        println!("{label} FAILED: {why}");
        let tail = tail_lines(&result.stderr, STDERR_TAIL_LINES);
        if tail.is_empty() {
            println!("    (no stderr)");
        } else {
            println!("    stderr tail:");
            for line in tail.lines() {
                println!("    | {line}");
            }
        }
        cell.failure = Some(why);
        return;
    }

    // Output check: every run must print what the first native run printed.
    match &prog.reference_stdout {
        None if kind == RunnerKind::Native => prog.reference_stdout = Some(result.stdout.clone()),
        None => {}
        Some(reference) if *reference != result.stdout => {
            println!("{label} MISMATCH: stdout differs from the native run");
            println!("    expected (native):");
            for line in String::from_utf8_lossy(reference).lines().take(20) {
                println!("    | {line}");
            }
            println!("    got ({}):", kind.name());
            for line in String::from_utf8_lossy(&result.stdout).lines().take(20) {
                println!("    | {line}");
            }
            eprintln!(
                "*** MISMATCH: {} under {} printed a different stdout than natively ***",
                prog.name,
                kind.name()
            );
            cell.failure = Some("MISMATCH".into());
            cell.mismatch = true;
            return;
        }
        Some(_) => {}
    }

    let secs = result.elapsed.as_secs_f64();
    cell.secs.push(secs);
    let mut extra = String::new();
    if kind == RunnerKind::Xdbt {
        let stats = parse_stats(&result.stderr);
        if let (Some(ns), Some(insns)) = (stats.translate_ns, stats.insns_translated) {
            cell.translate_ns.push(ns);
            cell.insns_translated.push(insns);
            let _ = write!(
                extra,
                "  (translate {:.3} ms, {insns} guest insns, {})",
                ns as f64 / 1e6,
                ns_per_insn(ns, insns)
            );
        } else {
            extra.push_str("  (no translate_ns/guest_insns_translated in --stats output)");
        }
    }
    println!("{label} {secs:8.3} s{extra}");
}

fn run_timed(mut cmd: Command, timeout: Duration) -> std::io::Result<RunResult> {
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    });
    let mut timed_out = false;
    let (status, elapsed) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (Some(status), start.elapsed()),
            Ok(None) => {}
            Err(_) => break (None, start.elapsed()),
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            let status = child.wait().ok();
            break (status, start.elapsed());
        }
        thread::sleep(Duration::from_micros(250));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(RunResult {
        elapsed,
        status,
        timed_out,
        stdout,
        stderr,
    })
}

#[derive(Default)]
struct Stats {
    translate_ns: Option<u64>,
    insns_translated: Option<u64>,
}

/// Reads `key=value` pairs (one or more per line) from xdbt's `--stats` stderr.
fn parse_stats(stderr: &[u8]) -> Stats {
    let mut stats = Stats::default();
    for token in String::from_utf8_lossy(stderr).split_whitespace() {
        let Some((key, value)) = token.split_once('=') else {
            continue;
        };
        let value = value.trim_end_matches([',', ';']);
        match key {
            "translate_ns" => stats.translate_ns = value.parse().ok().or(stats.translate_ns),
            "guest_insns_translated" => {
                stats.insns_translated = value.parse().ok().or(stats.insns_translated)
            }
            _ => {}
        }
    }
    stats
}

fn ns_per_insn(ns: u64, insns: u64) -> String {
    if insns == 0 {
        "n/a".into()
    } else {
        format!("{:.0} ns/insn", ns as f64 / insns as f64)
    }
}

fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exit code {code}")
    } else if let Some(sig) = status.signal() {
        let name = match sig {
            4 => " (SIGILL)",
            6 => " (SIGABRT)",
            7 => " (SIGBUS)",
            8 => " (SIGFPE)",
            9 => " (SIGKILL)",
            11 => " (SIGSEGV)",
            _ => "",
        };
        format!("killed by signal {sig}{name}")
    } else {
        format!("{status}")
    }
}

fn tail_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

fn first_line_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.stdin(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

fn machine_description() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let processors = cpuinfo
        .lines()
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(k, _)| k.trim() == "processor")
        })
        .count();
    let available = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cores = if processors > 0 {
        processors
    } else {
        available
    };
    let mut s = format!("{model}, {cores} logical CPUs");
    if available != 0 && available != cores {
        let _ = write!(s, " ({available} available to this process)");
    }
    s
}

/// The current UTC date and time, without external crates or processes.
fn utc_date_string() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem / 60) % 60
    )
}

fn fmt_secs(cell: &Cell, runner: &Runner) -> String {
    if let Runner::Unavailable(_) = runner {
        return "n/a".into();
    }
    if cell.mismatch {
        return "MISMATCH".into();
    }
    if cell.failure.is_some() {
        return "FAILED".into();
    }
    match cell.median() {
        Some(s) => format!("{s:.3}"),
        None => "n/a".into(),
    }
}

fn fmt_ratio(cell: &Cell, native: &Cell) -> String {
    match (cell.median(), native.median()) {
        (Some(c), Some(n)) if n > 0.0 => format!("{:.2}x", c / n),
        _ => "n/a".into(),
    }
}

fn fmt_translate(cell: &Cell, runner: &Runner) -> String {
    if let Runner::Unavailable(_) = runner {
        return "n/a".into();
    }
    let per_run: Vec<f64> = cell
        .translate_ns
        .iter()
        .zip(&cell.insns_translated)
        .filter(|(_, &i)| i > 0)
        .map(|(&ns, &i)| ns as f64 / i as f64)
        .collect();
    match median(&per_run) {
        Some(v) => format!("{v:.0}"),
        None => "n/a".into(),
    }
}

fn geomean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| *v <= 0.0) {
        return None;
    }
    Some((values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp())
}

/// Returns (plain-text table, Markdown report, whether anything failed).
fn report(
    programs: &[Program],
    runners: &[Runner; 3],
    machine: &str,
    date: &str,
    rounds: usize,
    gcc_version: &str,
    qemu_version: Option<&str>,
) -> (String, String, bool) {
    const HEADER: [&str; 7] = [
        "program",
        "native s",
        "xdbt s",
        "xdbt/native",
        "qemu s",
        "qemu/native",
        "xdbt translate ns/guest insn",
    ];
    let (n, x, q) = (
        RunnerKind::Native.index(),
        RunnerKind::Xdbt.index(),
        RunnerKind::Qemu.index(),
    );
    let mut rows: Vec<[String; 7]> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut xdbt_ratios = Vec::new();
    let mut qemu_ratios = Vec::new();
    if let Runner::Unavailable(why) = &runners[x] {
        failures.push(format!("xdbt unavailable: {why}"));
    }
    for prog in programs {
        let c = &prog.cells;
        if let (Some(a), Some(b)) = (c[x].median(), c[n].median()) {
            xdbt_ratios.push(a / b);
        }
        if let (Some(a), Some(b)) = (c[q].median(), c[n].median()) {
            qemu_ratios.push(a / b);
        }
        for kind in RunnerKind::ALL {
            if let Some(why) = &c[kind.index()].failure {
                failures.push(format!("{} under {}: {why}", prog.name, kind.name()));
            }
        }
        rows.push([
            prog.name.clone(),
            fmt_secs(&c[n], &runners[n]),
            fmt_secs(&c[x], &runners[x]),
            fmt_ratio(&c[x], &c[n]),
            fmt_secs(&c[q], &runners[q]),
            fmt_ratio(&c[q], &c[n]),
            fmt_translate(&c[x], &runners[x]),
        ]);
    }
    if programs.len() > 1 {
        let g = |v: &[f64], complete: bool| match geomean(v) {
            Some(m) if complete => format!("{m:.2}x"),
            _ => "n/a".into(),
        };
        rows.push([
            "geomean".into(),
            String::new(),
            String::new(),
            g(&xdbt_ratios, xdbt_ratios.len() == programs.len()),
            String::new(),
            g(&qemu_ratios, qemu_ratios.len() == programs.len()),
            String::new(),
        ]);
    }

    // Plain text, aligned.
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut text = String::new();
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == 0 {
                let _ = write!(s, "{cell:<w$}");
            } else {
                let _ = write!(s, " | {cell:>w$}");
            }
        }
        let mut s = s.trim_end().to_string();
        s.push('\n');
        s
    };
    text.push_str(&line(&HEADER.map(String::from)));
    text.push_str(&line(&widths.map(|w| "-".repeat(w))));
    for row in &rows {
        text.push_str(&line(row));
    }

    // Markdown.
    let mut md = String::new();
    let _ = writeln!(md, "## Guest benchmark results\n");
    let _ = writeln!(md, "- Date: {date}");
    let _ = writeln!(md, "- Machine: {machine}");
    let _ = writeln!(
        md,
        "- Command: `cargo bench --bench guest` ({rounds} interleaved rounds, median wall time)"
    );
    let _ = writeln!(
        md,
        "- Guests: {} ({gcc_version})",
        guest_cflags(programs, "`")
    );
    match &runners[x] {
        Runner::Available(c) => {
            let _ = writeln!(md, "- xdbt: `{} run-linux --stats`", c[0].display());
        }
        Runner::Unavailable(why) => {
            let _ = writeln!(md, "- xdbt: n/a ({why})");
        }
    }
    match (&runners[q], qemu_version) {
        (Runner::Available(_), Some(v)) => {
            let _ = writeln!(md, "- qemu-i386: {v}");
        }
        (Runner::Available(c), None) => {
            let _ = writeln!(md, "- qemu-i386: {}", c[0].display());
        }
        (Runner::Unavailable(why), _) => {
            let _ = writeln!(md, "- qemu-i386: n/a ({why})");
        }
    }
    md.push('\n');
    let _ = writeln!(md, "| {} |", HEADER.join(" | "));
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    if !failures.is_empty() {
        md.push_str("\nFailures:\n\n");
        for f in &failures {
            let _ = writeln!(md, "- {f}");
        }
        text.push_str("\nFailures:\n");
        for f in &failures {
            let _ = writeln!(text, "  - {f}");
        }
    }
    (text, md, !failures.is_empty())
}
