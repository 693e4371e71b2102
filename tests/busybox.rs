//! Debian's i386 busybox-static under `xdbt run-linux`, compared with the same binary run
//! natively (the host runs i386 code): every applet case must print the same stdout and
//! stderr and exit with the same status.
//!
//! The binary comes from `ci/fetch-busybox.sh` (target/i386-busybox/bin/busybox) or
//! `XDBT_BUSYBOX`; without it the tests fail, never skip.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const XDBT: &str = env!("CARGO_BIN_EXE_xdbt");
const TIMEOUT: Duration = Duration::from_secs(120);

fn busybox() -> PathBuf {
    let p = std::env::var_os("XDBT_BUSYBOX").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/i386-busybox/bin/busybox"),
        PathBuf::from,
    );
    assert!(
        p.is_file(),
        "i386 busybox not found at {}: run `bash ci/fetch-busybox.sh` or set XDBT_BUSYBOX",
        p.display()
    );
    p
}

/// A scratch directory with the input files the cases read.
fn workdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/busybox-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("tree/sub")).unwrap();
    // A deterministic text file: words, numbers, mixed case, some repeated lines.
    let words = [
        "alpha", "Bravo", "charlie", "DELTA", "echo", "foxtrot", "golf", "Hotel",
    ];
    let mut x: u32 = 2463534242;
    let mut text = String::new();
    for i in 0..4000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let w = words[(x % 8) as usize];
        let v = x % 1000;
        if i % 7 == 0 {
            text.push_str("repeated line\n");
        }
        text.push_str(&format!("{w} {v} line{i} {}\n", w.to_lowercase()));
    }
    std::fs::write(d.join("input.txt"), &text).unwrap();
    std::fs::write(d.join("tree/a.txt"), "first\n").unwrap();
    std::fs::write(d.join("tree/sub/b.txt"), "second\n").unwrap();
    std::fs::write(d.join("tree/sub/c.dat"), [0u8, 1, 2, 255]).unwrap();
    d
}

struct Run {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: i32,
}

/// Run with stdin fed from a thread and a time limit (a hung guest must not hang the suite).
fn run(cmd: &mut Command, dir: &Path, stdin: &[u8]) -> Run {
    use std::os::unix::process::CommandExt;
    // A process group of its own, so that a timeout also ends the processes it forked.
    let mut child = cmd
        .process_group(0)
        .current_dir(dir)
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
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let st = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > TIMEOUT {
            // The whole group: the child is its leader (process_group(0) above).
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    feeder.join().unwrap();
    let timed_out = start.elapsed() > TIMEOUT;
    Run {
        stdout: o.join().unwrap(),
        stderr: e.join().unwrap(),
        status: if timed_out {
            -1
        } else {
            st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
        },
    }
}

fn native(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    run(Command::new(busybox()).args(args), dir, stdin)
}

fn translated(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    run(
        Command::new(XDBT)
            .arg("run-linux")
            .arg(busybox())
            .args(args),
        dir,
        stdin,
    )
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 400 {
        format!(
            "{}... ({} bytes)",
            &s[..s.floor_char_boundary(400)],
            b.len()
        )
    } else {
        s.into_owned()
    }
}

/// Compare one case; a description of the difference if any.
fn compare(dir: &Path, args: &[&str], stdin: &[u8]) -> Option<String> {
    let n = native(dir, args, stdin);
    let x = translated(dir, args, stdin);
    let mut diffs = Vec::new();
    if x.status != n.status {
        diffs.push(format!("status {} (native {})", x.status, n.status));
    }
    if x.stdout != n.stdout {
        diffs.push(format!(
            "stdout {:?}\n    native {:?}",
            show(&x.stdout),
            show(&n.stdout)
        ));
    }
    if x.stderr != n.stderr {
        diffs.push(format!(
            "stderr {:?}\n    native {:?}",
            show(&x.stderr),
            show(&n.stderr)
        ));
    }
    (!diffs.is_empty()).then(|| format!("busybox {args:?}: {}", diffs.join("\n  ")))
}

/// Run every case; fail listing all the ones that differ.
fn check_all(dir: &Path, cases: &[(&[&str], &[u8])]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(a, i)| compare(dir, a, i))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn busybox_text_tools() {
    let d = workdir("text");
    let sorted_words = b"b\na\nc\na\nb\nb\n";
    check_all(
        &d,
        &[
            (&["echo", "hello", "world"], b""),
            (&["echo", "-n", "-e", "tab\\tnewline\\n"], b""),
            (&["cat", "input.txt"], b""),
            (&["cat", "-", "tree/a.txt"], b"from stdin\n"),
            (&["cat", "does-not-exist"], b""),
            (&["sort", "input.txt"], b""),
            (&["sort", "-t", " ", "-k", "2,2n", "-k", "3", "input.txt"], b""),
            (&["sort", "-r", "-u"], sorted_words),
            (&["wc", "input.txt"], b""),
            (&["wc", "-l"], sorted_words),
            (&["seq", "1", "1000"], b""),
            (&["seq", "10", "-3", "-20"], b""),
            (&["expr", "12345", "*", "6789"], b""),
            (&["expr", "length", "hello"], b""),
            (&["expr", "7", "/", "0"], b""),
            (&["expr", "abc", ":", "a\\(.\\)"], b""),
            (&["awk", "{ n[$1]++ } END { for (w in n) c++; print c, NR }", "input.txt"], b""),
            (&["awk", "BEGIN { s = 0; for (i = 1; i <= 1000; i++) s += i * i; print s, 17 % 5, int(-7 / 2) }"], b""),
            (&["awk", "{ s += $2 } END { print s }", "input.txt"], b""),
            (&["awk", "-F", " ", "$2 > 990 { print toupper($1), length($3), substr($3, 5) }", "input.txt"], b""),
            (&["awk", "BEGIN { x = \"a-b-c\"; n = split(x, p, \"-\"); gsub(/b/, \"B\", x); print n, p[3], x, index(x, \"B\") }"], b""),
            (&["sed", "s/line/LINE/g; 5,10d; /repeated/d", "input.txt"], b""),
            (&["sed", "-n", "$p"], sorted_words),
            (&["grep", "-c", "alpha", "input.txt"], b""),
            (&["grep", "-n", "-i", "hotel 99", "input.txt"], b""),
            (&["grep", "-v", "-E", "[0-9]{3}", "input.txt"], b""),
            (&["grep", "nothing-matches", "input.txt"], b""),
            (&["head", "-n", "5", "input.txt"], b""),
            (&["tail", "-n", "5", "input.txt"], b""),
            (&["tail", "-c", "100", "input.txt"], b""),
            (&["tr", "a-z", "A-Z"], b"mixed Case text 123\n"),
            (&["tr", "-d", "0-9"], b"a1b2c3\n"),
            (&["cut", "-d", " ", "-f", "2,3", "input.txt"], b""),
            (&["uniq", "-c"], b"a\na\nb\nc\nc\nc\n"),
            (&["od", "-A", "x", "-t", "x1z", "-N", "64", "input.txt"], b""),
            (&["base64", "input.txt"], b""),
            (&["base64", "-d"], b"aGVsbG8gYmFzZTY0Cg==\n"),
            (&["printf", "%d %s %x %5.2s|\\n", "42", "foo", "255", "abcdef"], b""),
            (&["factor", "1234567890", "2147483647"], b""),
            (&["rev"], b"hello\nworld\n"),
            (&["fold", "-w", "7"], b"a fairly long line to fold\n"),
            (&["nl"], b"one\ntwo\n"),
        ],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn busybox_checksums() {
    let d = workdir("sums");
    check_all(
        &d,
        &[
            (&["sha256sum", "input.txt"], b""),
            (&["md5sum", "input.txt"], b""),
            (&["sha1sum", "input.txt"], b""),
            (&["sha512sum", "input.txt"], b""),
            (&["cksum", "input.txt"], b""),
            (&["md5sum"], b"stdin data\n"),
        ],
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// gzip under the translator makes the same bytes as natively, and gunzip under the
/// translator restores the input from them; the same for bzip2.
#[test]
fn busybox_compression() {
    let d = workdir("gzip");
    let input = std::fs::read(d.join("input.txt")).unwrap();
    let mut failures = Vec::new();
    for (pack, unpack) in [
        (["gzip", "-c", "input.txt"], ["gunzip", "-c"]),
        (["bzip2", "-c", "input.txt"], ["bunzip2", "-c"]),
    ] {
        let n = native(&d, &pack, b"");
        let x = translated(&d, &pack, b"");
        if x.status != 0 || x.stdout != n.stdout {
            failures.push(format!(
                "{pack:?}: status {} ({} bytes), native {} bytes",
                x.status,
                x.stdout.len(),
                n.stdout.len()
            ));
        }
        let un = translated(&d, &unpack, &n.stdout);
        if un.status != 0 || un.stdout != input {
            failures.push(format!(
                "{unpack:?}: status {}, {} bytes, want {}: {}",
                un.status,
                un.stdout.len(),
                input.len(),
                show(&un.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if let Some(f) = compare(
        &d,
        &["gzip", "-t"],
        &native(&d, &["gzip", "-c", "input.txt"], b"").stdout,
    ) {
        panic!("{f}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Files, directories and processes: stat, ls, find, tar, and a shell that forks, pipes and
/// waits.
#[test]
fn busybox_files_and_processes() {
    let d = workdir("files");
    check_all(
        &d,
        &[
            (&["ls", "-1", "tree", "tree/sub"], b""),
            (&["ls", "-l", "-n", "--full-time", "tree/sub"], b""),
            (&["stat", "-c", "%s %a %F %n", "input.txt", "tree"], b""),
            (&["find", "tree", "-name", "*.txt"], b""),
            (&["du", "-s", "-k", "tree"], b""),
            (&["cmp", "input.txt", "tree/a.txt"], b""),
            (&["diff", "tree/a.txt", "tree/sub/b.txt"], b""),
            (&["basename", "/a/b/c.txt", ".txt"], b""),
            (&["dirname", "/a/b/c.txt"], b""),
            (&["true"], b""),
            (&["false"], b""),
            (&["test", "3", "-lt", "20"], b""),
            (&["[", "-d", "tree", "]"], b""),
            (&["date", "-u", "-d", "@1000000000"], b""),
            (&["uname", "-s"], b""),
            (
                &["sh", "-c", "echo $((6 * 7)); echo abc | tr a-c x-z; exit 3"],
                b"",
            ),
            (
                &["sh", "-c", "for i in 1 2 3; do echo $i; done | wc -l"],
                b"",
            ),
            (
                &[
                    "sh",
                    "-c",
                    "x=$(cat tree/a.txt); echo \"got $x\"; false || echo failed",
                ],
                b"",
            ),
            (&["sh", "-c", "read a b; echo \"$b $a\""], b"one two\n"),
            (&["sh", "-c", "kill -TERM $$; echo not reached"], b""),
            (&["sh", "-c", "exec cat tree/a.txt"], b""),
            (&["sh", "-c", "sleep 0.1 & wait; echo waited"], b""),
            (
                &[
                    "sh",
                    "-c",
                    "trap 'echo got USR1' USR1; kill -USR1 $$; echo after",
                ],
                b"",
            ),
            (&["sh", "-c", "sleep 5 & kill $!; wait $!; echo $?"], b""),
            (&["sh", "-c", "sh -c 'kill -INT $$'; echo $?"], b""),
            (
                &[
                    "sh",
                    "-c",
                    "seq 100000 | head -n 2; echo ${PIPESTATUS:-done}",
                ],
                b"",
            ),
            (&["xargs", "-n", "2", "echo"], b"a b c d e\n"),
            (&["tar", "-cf", "-", "tree/a.txt"], b""),
            (
                &[
                    "dd",
                    "if=input.txt",
                    "bs=1000",
                    "count=3",
                    "skip=2",
                    "status=none",
                ],
                b"",
            ),
        ],
    );
    // tar round trip through a pipe between two translated processes' worth of data.
    let x = translated(&d, &["tar", "-cf", "-", "tree"], b"");
    let t = translated(&d, &["tar", "-tvf", "-"], &x.stdout);
    let n = native(&d, &["tar", "-tvf", "-"], &x.stdout);
    assert_eq!(show(&t.stdout), show(&n.stdout));
    assert_eq!(t.status, 0);
    let _ = std::fs::remove_dir_all(&d);
}

/// Floating point (x87/SSE) through awk, printf, seq, sort -g, bc and dc.
#[test]
fn busybox_float() {
    let d = workdir("float");
    check_all(
        &d,
        &[
            (&["awk", "BEGIN { print 1/3 }"], b""),
            (&["printf", "%f\\n", "1.5"], b""),
            (
                &[
                    "awk",
                    "BEGIN { printf \"%.10f %g %e\\n\", atan2(0, -1), sqrt(2), exp(10) }",
                ],
                b"",
            ),
            (
                &[
                    "awk",
                    "{ s += $2 / 7 } END { printf \"%.4f\\n\", s / NR }",
                    "input.txt",
                ],
                b"",
            ),
            (&["seq", "0", "0.25", "2"], b""),
            (&["sort", "-g"], b"1e3\n-2.5\n0.1\n10\n"),
            (&["bc", "-l"], b"scale=20; 4*a(1); e(1); sqrt(2)/3\n"),
            (&["dc"], b"5 k 2 v p 1 3 / p 10 4 ^ p\n"),
        ],
    );
    let _ = std::fs::remove_dir_all(&d);
}
