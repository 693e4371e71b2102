//! The `xdbt` command.
//!
//! - `xdbt run KERNEL [--memory MiB] [--cmdline STR] [--ramdisk FILE] [--timeout SECS]
//!   [--stats]`: boot a Xen PV32 kernel under the translator with no Xen
//!   (`xdbt::hosted::pvrun`). Exit status: 0 poweroff, 1 crash, 2 usage/bad input,
//!   3 reboot, 4 timeout.
//! - `xdbt run-linux [--stats] [-v] PROGRAM [ARGS]...`: run a static Linux i386 program
//!   under the translator (`xdbt::hosted::linux`). The exit status is the program's; a
//!   program killed by a signal kills `xdbt` with the same signal (a shell shows 128+n).
//!   Errors before the program starts are one line on stderr and exit status 2.

use clap::{ArgAction, Args, Parser, Subcommand};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::ExitCode;
use xdbt::hosted::linux::{self, host, Options, Termination};

#[derive(Parser)]
#[command(name = "xdbt", version, about = "IA-32 dynamic binary translator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Boot a Xen PV32 kernel under the translator, with no Xen.
    Run(RunPv),
    /// Run a static Linux i386 ELF program under the translator.
    RunLinux(RunLinux),
}

#[derive(Args)]
struct RunPv {
    /// The PV32 kernel (an ELF image with Xen notes).
    kernel: PathBuf,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 32)]
    memory: u32,
    /// vCPUs (1 to 8), each on a host thread.
    #[arg(long, default_value_t = 1)]
    vcpus: u32,
    /// Kernel command line (start_info.cmd_line).
    #[arg(long, default_value = "")]
    cmdline: String,
    /// Initial ramdisk module.
    #[arg(long)]
    ramdisk: Option<PathBuf>,
    /// Extra xenstore entries KEY=VALUE (relative to the domain's home, or absolute).
    #[arg(long)]
    xenstore: Vec<String>,
    /// Console input from FILE or - (the PV console ring is not written yet).
    #[arg(long)]
    console_input: Option<String>,
    /// Stop the guest after this many seconds (exit status 4).
    #[arg(long)]
    timeout: Option<f64>,
    /// Print translator statistics to stderr at the end.
    #[arg(long)]
    stats: bool,
}

fn run_pv(a: RunPv) -> ExitCode {
    use xdbt::hosted::pvrun;
    let bad = |msg: String| {
        eprintln!("xdbt: {msg}");
        ExitCode::from(pvrun::EXIT_BAD_INPUT as u8)
    };
    if a.vcpus == 0 || a.vcpus > pvrun::MAX_VCPUS {
        return bad(format!(
            "--vcpus {} is outside 1..={}",
            a.vcpus,
            pvrun::MAX_VCPUS
        ));
    }
    let mut xenstore = Vec::new();
    for kv in &a.xenstore {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => xenstore.push((k.to_string(), v.to_string())),
            _ => return bad(format!("--xenstore {kv}: expected KEY=VALUE")),
        }
    }
    let console_input = match a.console_input.as_deref() {
        None | Some("-") => None,
        Some(f) => match std::fs::read(f) {
            Ok(b) => Some(b),
            Err(e) => return bad(format!("--console-input {f}: {e}")),
        },
    };
    if a.memory < 4 || a.memory > 4096 {
        return bad(format!("--memory {} is outside 4..=4096 MiB", a.memory));
    }
    let image = match std::fs::read(&a.kernel) {
        Ok(i) => i,
        Err(e) => return bad(format!("{}: {e}", a.kernel.display())),
    };
    let ramdisk = match a.ramdisk.as_ref().map(std::fs::read).transpose() {
        Ok(r) => r,
        Err(e) => return bad(format!("ramdisk: {e}")),
    };
    let timeout = match a.timeout {
        Some(t) if !(t > 0.0 && t < 1e9) => {
            return bad(format!("--timeout {t} is not a positive number of seconds"))
        }
        t => t.map(std::time::Duration::from_secs_f64),
    };
    let opts = pvrun::PvOptions {
        memory_mib: a.memory,
        cmdline: a.cmdline,
        ramdisk,
        timeout,
        stats: a.stats,
        xenstore,
        console_input,
        vcpus: a.vcpus,
        name: a
            .kernel
            .file_stem()
            .map_or("guest".into(), |n| n.to_string_lossy().into_owned()),
    };
    ExitCode::from(pvrun::run(&image, &opts) as u8)
}

#[derive(Args)]
struct RunLinux {
    /// Print translator statistics (key=value lines) to stderr when the program ends.
    #[arg(long)]
    stats: bool,

    /// Log unsupported syscalls and features to stderr; twice: log every syscall.
    /// XDBT_LOG=1 (or =strace) in the environment does the same.
    #[arg(short, long, action = ArgAction::Count)]
    verbose: u8,

    /// argv[0] for the program instead of PROGRAM (used by execve).
    #[arg(long, hide = true)]
    argv0: Option<OsString>,

    /// Signals the program inherits as ignored, as a bit mask (used by execve).
    #[arg(long, hide = true, default_value_t = 0)]
    sigign: u64,

    /// The program, then its arguments, passed verbatim (even ones starting with `-`).
    #[arg(value_name = "PROGRAM [ARGS]", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

fn run_linux(a: RunLinux) -> ExitCode {
    let log = std::env::var("XDBT_LOG").unwrap_or_default();
    let strace = a.verbose >= 2 || matches!(log.as_str(), "strace" | "trace" | "2");
    let verbose = a.verbose >= 1 || strace || !matches!(log.as_str(), "" | "0");
    let mut cmd = a.command.into_iter();
    let program = PathBuf::from(cmd.next().unwrap_or_default());
    let argv0 = a.argv0.unwrap_or_else(|| program.clone().into_os_string());
    let argv = std::iter::once(argv0)
        .chain(cmd)
        .map(OsString::into_vec)
        .collect();
    let envp = std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.into_vec();
            e.push(b'=');
            e.extend(v.into_vec());
            e
        })
        .collect();
    let opts = Options {
        program,
        argv,
        envp,
        verbose,
        strace,
        ignored_signals: a.sigign,
    };
    let (end, p) = match linux::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xdbt: {}: {e}", opts.program.display());
            return ExitCode::from(2);
        }
    };
    if a.stats {
        eprint!("{}", p.m.stats().kv_lines());
    }
    match end {
        Termination::Exited(code) => ExitCode::from(code as u8),
        Termination::Signaled { sig, report } => {
            if let Some(r) = report {
                eprintln!("xdbt: {r}");
            }
            host::die_by_signal(sig)
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(a) => run_pv(a),
        Command::RunLinux(a) => run_linux(a),
    }
}
