//! The built-in xenstore daemon (`xdbt::pv::xenstore`) as a domU sees xenstored: requests
//! and their error names, permissions, watches, transactions, quotas, and the shared ring
//! driven by an in-memory page standing in for guest memory.

use hypercall_abi::io_xs_wire::{
    XsdSockmsg, XsdSockmsgType as T, XENSTORE_CONNECTED, XENSTORE_ERROR_NONE, XENSTORE_ERROR_PROTO,
    XENSTORE_ERROR_RINGIDX, XENSTORE_RECONNECT, XENSTORE_RING_SIZE,
};
use xdbt::pv::xenstore::*;

const DOMID: u16 = 3;
const HOME: &str = "/local/domain/3";

fn store() -> XenStore {
    XenStore::new(&DomainConfig {
        domid: DOMID,
        name: "guest",
        uuid: [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ],
        memory_kib: 262144,
        max_memory_kib: 524288,
        vcpus: 2,
        store_port: 1,
        store_mfn: 0x1234,
        console_port: 2,
        console_mfn: 0x1235,
    })
}

type Msg = (XsdSockmsg, Vec<u8>);

/// NUL-joined strings, each terminated.
fn z(parts: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(p.as_bytes());
        v.push(0);
    }
    v
}

fn wr(path: &str, value: &str) -> Vec<u8> {
    let mut v = z(&[path]);
    v.extend_from_slice(value.as_bytes());
    v
}

/// Sends one request outside any transaction and returns all output.
fn req(xs: &mut XenStore, ty: T, payload: &[u8]) -> Vec<Msg> {
    xs.handle(ty as u32, 7, 0, payload)
}

/// The reply of a request, which must come first.
fn reply(xs: &mut XenStore, ty: T, tx: u32, payload: &[u8]) -> Msg {
    let out = xs.handle(ty as u32, 42, tx, payload);
    let first = out.into_iter().next().expect("a reply");
    assert_eq!(first.0.req_id, 42);
    assert_eq!(first.0.tx_id, tx);
    assert_eq!(first.0.len as usize, first.1.len());
    first
}

/// The reply's payload; panics on an error reply.
fn ok(xs: &mut XenStore, ty: T, tx: u32, payload: &[u8]) -> Vec<u8> {
    let (h, body) = reply(xs, ty, tx, payload);
    assert_eq!(
        h.r#type,
        ty as u32,
        "{ty:?} failed: {}",
        String::from_utf8_lossy(&body)
    );
    body
}

/// The error name a request fails with.
fn error(xs: &mut XenStore, ty: T, tx: u32, payload: &[u8]) -> String {
    let (h, body) = reply(xs, ty, tx, payload);
    assert_eq!(h.r#type, T::Error as u32, "{ty:?} did not fail: {body:?}");
    let name = body.strip_suffix(&[0]).expect("NUL-terminated error");
    String::from_utf8(name.to_vec()).unwrap()
}

fn read(xs: &mut XenStore, path: &str) -> String {
    String::from_utf8(ok(xs, T::Read, 0, &z(&[path]))).unwrap()
}

fn dir(xs: &mut XenStore, tx: u32, path: &str) -> Vec<String> {
    let body = ok(xs, T::Directory, tx, &z(&[path]));
    let body = body.strip_suffix(&[0]).unwrap_or(&body);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0)
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

/// The (path, token) of each watch event in `out`.
fn events(out: &[Msg]) -> Vec<(String, String)> {
    out.iter()
        .filter(|(h, _)| h.r#type == T::WatchEvent as u32)
        .map(|(h, b)| {
            assert_eq!((h.req_id, h.tx_id), (0, 0));
            let parts: Vec<&[u8]> = b.strip_suffix(&[0]).unwrap().split(|&c| c == 0).collect();
            assert_eq!(parts.len(), 2, "path and token");
            (
                String::from_utf8(parts[0].to_vec()).unwrap(),
                String::from_utf8(parts[1].to_vec()).unwrap(),
            )
        })
        .collect()
}

fn ev(path: &str, token: &str) -> (String, String) {
    (path.to_string(), token.to_string())
}

fn start(xs: &mut XenStore) -> u32 {
    let body = ok(xs, T::TransactionStart, 0, b"\0");
    std::str::from_utf8(body.strip_suffix(&[0]).unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn initial_tree_is_libxls() {
    let mut xs = store();
    assert_eq!(xs.home(), HOME);
    assert_eq!(read(&mut xs, "name"), "guest");
    assert_eq!(read(&mut xs, "domid"), "3");
    assert_eq!(
        read(&mut xs, "vm"),
        "/vm/12345678-9abc-def0-0123-456789abcdef"
    );
    assert_eq!(read(&mut xs, "memory/target"), "262144");
    assert_eq!(read(&mut xs, "memory/static-max"), "524288");
    assert_eq!(read(&mut xs, "cpu/0/availability"), "online");
    assert_eq!(read(&mut xs, "cpu/1/availability"), "online");
    assert_eq!(dir(&mut xs, 0, "cpu"), ["0", "1"]);
    assert_eq!(read(&mut xs, "store/port"), "1");
    assert_eq!(read(&mut xs, "store/ring-ref"), "4660");
    assert_eq!(read(&mut xs, "console/port"), "2");
    assert_eq!(read(&mut xs, "console/ring-ref"), "4661");
    assert_eq!(read(&mut xs, "console/type"), "xenconsoled");
    assert_eq!(read(&mut xs, "console/limit"), "1048576");
    assert_eq!(read(&mut xs, "console/output"), "pty");
    assert_eq!(read(&mut xs, "console/tty"), "");
    assert_eq!(read(&mut xs, "control/shutdown"), "");
    assert_eq!(
        read(&mut xs, "control/platform-feature-xs_reset_watches"),
        "1"
    );
    assert_eq!(
        read(&mut xs, "control/platform-feature-multiprocessor-suspend"),
        "1"
    );
    assert_eq!(dir(&mut xs, 0, "data"), Vec::<String>::new());
    assert_eq!(dir(&mut xs, 0, "device"), ["suspend"]);
    let home = dir(&mut xs, 0, HOME);
    for n in [
        "attr", "console", "control", "cpu", "data", "device", "domid", "drivers", "error",
        "feature", "memory", "name", "store", "vm",
    ] {
        assert!(home.iter().any(|c| c == n), "{n} missing from {home:?}");
    }
    assert_eq!(
        xs.read("/vm/12345678-9abc-def0-0123-456789abcdef/name"),
        Some(&b"guest"[..])
    );
    // Owned by dom0 and readable by the guest, as libxl's roperm.
    assert_eq!(
        xs.perms(HOME).unwrap(),
        [
            Perm {
                domid: 0,
                bits: PERM_NONE
            },
            Perm {
                domid: DOMID,
                bits: PERM_READ
            }
        ]
    );
    assert_eq!(
        ok(&mut xs, T::GetPerms, 0, &z(&["control/shutdown"])),
        z(&["n3"])
    );
    assert_eq!(
        ok(&mut xs, T::GetPerms, 0, &z(&["memory/target"])),
        z(&["n0", "r3"])
    );
    assert_eq!(
        ok(&mut xs, T::GetPerms, 0, &z(&["console"])),
        z(&["n3", "r0"])
    );
}

#[test]
fn read_write_mkdir_rm_directory() {
    let mut xs = store();
    assert_eq!(
        ok(&mut xs, T::Write, 0, &wr("data/a/b", "hello")),
        z(&["OK"])
    );
    // Parents are created empty, and owned by the guest.
    assert_eq!(read(&mut xs, "data/a"), "");
    assert_eq!(read(&mut xs, "data/a/b"), "hello");
    assert_eq!(read(&mut xs, &format!("{HOME}/data/a/b")), "hello");
    assert_eq!(xs.read("data/a/b"), Some(&b"hello"[..]));
    assert_eq!(ok(&mut xs, T::GetPerms, 0, &z(&["data/a"])), z(&["n3"]));
    // Values are bytes, NULs included, with no terminator added.
    ok(&mut xs, T::Write, 0, &wr("data/bin", "x\0y"));
    assert_eq!(ok(&mut xs, T::Read, 0, &z(&["data/bin"])), b"x\0y");
    ok(&mut xs, T::Write, 0, &wr("data/empty", ""));
    assert_eq!(read(&mut xs, "data/empty"), "");

    assert_eq!(ok(&mut xs, T::Mkdir, 0, &z(&["data/d/e"])), z(&["OK"]));
    assert_eq!(dir(&mut xs, 0, "data/d"), ["e"]);
    // mkdir of an existing node leaves it alone.
    ok(&mut xs, T::Mkdir, 0, &z(&["data/a/b"]));
    assert_eq!(read(&mut xs, "data/a/b"), "hello");

    assert_eq!(dir(&mut xs, 0, "data"), ["a", "bin", "d", "empty"]);
    assert_eq!(
        ok(&mut xs, T::Directory, 0, &z(&["data"])),
        b"a\0bin\0d\0empty\0"
    );
    assert_eq!(dir(&mut xs, 0, "data/a/b"), Vec::<String>::new());

    assert_eq!(ok(&mut xs, T::Rm, 0, &z(&["data/a"])), z(&["OK"]));
    assert_eq!(error(&mut xs, T::Read, 0, &z(&["data/a/b"])), "ENOENT");
    assert_eq!(error(&mut xs, T::Read, 0, &z(&["data/a"])), "ENOENT");
    // Removing a missing node is fine when its parent exists, not otherwise.
    ok(&mut xs, T::Rm, 0, &z(&["data/a"]));
    assert_eq!(error(&mut xs, T::Rm, 0, &z(&["data/a/b"])), "ENOENT");
    assert_eq!(error(&mut xs, T::Directory, 0, &z(&["data/zz"])), "ENOENT");
    assert_eq!(error(&mut xs, T::GetPerms, 0, &z(&["data/zz"])), "ENOENT");

    assert_eq!(
        ok(&mut xs, T::GetDomainPath, 0, &z(&["3"])),
        z(&["/local/domain/3"])
    );
    assert_eq!(
        ok(&mut xs, T::GetDomainPath, 0, &z(&["0"])),
        z(&["/local/domain/0"])
    );
    assert_eq!(error(&mut xs, T::GetDomainPath, 0, &z(&["x"])), "EINVAL");
}

#[test]
fn replies_echo_ids() {
    let mut xs = store();
    let out = xs.handle(T::Read as u32, 0xdead_beef, 0, &z(&["name"]));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.req_id, 0xdead_beef);
    assert_eq!(out[0].0.tx_id, 0);
    assert_eq!(out[0].0.len, 5);
    let tx = start(&mut xs);
    let out = xs.handle(T::Read as u32, 9, tx, &z(&["name"]));
    assert_eq!(
        (out[0].0.r#type, out[0].0.req_id, out[0].0.tx_id),
        (T::Read as u32, 9, tx)
    );
    let out = xs.handle(T::Read as u32, 10, 999, &z(&["name"]));
    assert_eq!(
        (out[0].0.r#type, out[0].0.req_id, out[0].0.tx_id),
        (T::Error as u32, 10, 999)
    );
    assert_eq!(out[0].1, z(&["ENOENT"]));
}

#[test]
fn permissions() {
    let mut xs = store();
    // Outside the guest's home.
    assert_eq!(error(&mut xs, T::Write, 0, &wr("/foo", "1")), "EACCES");
    assert_eq!(
        error(&mut xs, T::Write, 0, &wr("/local/domain/0/x", "1")),
        "EACCES"
    );
    assert_eq!(
        error(&mut xs, T::Read, 0, &z(&["/local/domain/0"])),
        "EACCES"
    );
    assert_eq!(
        error(&mut xs, T::Directory, 0, &z(&["/local/domain"])),
        "EACCES"
    );
    assert_eq!(error(&mut xs, T::Directory, 0, &z(&["/"])), "EACCES");
    assert_eq!(
        error(&mut xs, T::Mkdir, 0, &z(&["/local/domain/4"])),
        "EACCES"
    );
    // A missing node under an unreadable one does not say it is missing.
    assert_eq!(
        error(&mut xs, T::Read, 0, &z(&["/local/domain/0/nope"])),
        "EACCES"
    );
    // The toolstack's nodes are readable but not writable.
    assert_eq!(read(&mut xs, "memory/target"), "262144");
    assert_eq!(
        error(&mut xs, T::Write, 0, &wr("memory/target", "1")),
        "EACCES"
    );
    assert_eq!(error(&mut xs, T::Write, 0, &wr("name", "x")), "EACCES");
    assert_eq!(error(&mut xs, T::Write, 0, &wr("newnode", "x")), "EACCES");
    assert_eq!(error(&mut xs, T::Rm, 0, &z(&["memory"])), "EACCES");
    assert_eq!(error(&mut xs, T::Rm, 0, &z(&[HOME])), "EACCES");
    assert_eq!(xs.read("memory/target"), Some(&b"262144"[..]));
    // Its own nodes, the ones libxl hands it, are writable.
    ok(&mut xs, T::Write, 0, &wr("control/feature-poweroff", "1"));
    ok(
        &mut xs,
        T::Write,
        0,
        &wr("device/suspend/event-channel", "5"),
    );
    ok(&mut xs, T::Write, 0, &wr("console/vnc-port", "5900"));

    // Permission changes: only on its own nodes, never giving them away.
    ok(&mut xs, T::Write, 0, &wr("data/p", "v"));
    assert_eq!(
        ok(&mut xs, T::SetPerms, 0, &z(&["data/p", "n3", "r0", "b5"])),
        z(&["OK"])
    );
    assert_eq!(
        ok(&mut xs, T::GetPerms, 0, &z(&["data/p"])),
        z(&["n3", "r0", "b5"])
    );
    assert_eq!(
        xs.perms("data/p").unwrap()[2],
        Perm {
            domid: 5,
            bits: PERM_BOTH
        }
    );
    assert_eq!(
        error(&mut xs, T::SetPerms, 0, &z(&["data/p", "n0"])),
        "EPERM"
    );
    assert_eq!(
        error(&mut xs, T::SetPerms, 0, &z(&["memory/target", "n3"])),
        "EACCES"
    );
    assert_eq!(
        error(&mut xs, T::SetPerms, 0, &z(&["data/p", "x3"])),
        "EINVAL"
    );
    assert_eq!(
        error(&mut xs, T::SetPerms, 0, &z(&["data/p", "r"])),
        "EINVAL"
    );
    assert_eq!(
        error(&mut xs, T::SetPerms, 0, &z(&["data/p", "r99999"])),
        "EINVAL"
    );
    assert_eq!(error(&mut xs, T::SetPerms, 0, &z(&["data/p"])), "EINVAL");
    assert_eq!(
        error(
            &mut xs,
            T::SetPerms,
            0,
            &z(&["data/p", "n3", "r1", "r2", "r4", "r5", "r6"])
        ),
        "ENOSPC"
    );
    assert_eq!(
        error(&mut xs, T::SetPerms, 0, &z(&["data/q", "n3"])),
        "ENOENT"
    );

    // When the host takes a node away, the guest loses it.
    xs.set_perms(
        "data/p",
        &[Perm {
            domid: 0,
            bits: PERM_NONE,
        }],
    )
    .unwrap();
    assert_eq!(error(&mut xs, T::Read, 0, &z(&["data/p"])), "EACCES");
    assert_eq!(error(&mut xs, T::Write, 0, &wr("data/p", "w")), "EACCES");
    xs.set_perms(
        "data/p",
        &[Perm {
            domid: 0,
            bits: PERM_READ,
        }],
    )
    .unwrap();
    assert_eq!(read(&mut xs, "data/p"), "v");
    assert_eq!(error(&mut xs, T::Write, 0, &wr("data/p", "w")), "EACCES");
    xs.set_perms(
        "data/p",
        &[
            Perm {
                domid: 0,
                bits: PERM_NONE,
            },
            Perm {
                domid: 3,
                bits: PERM_WRITE,
            },
        ],
    )
    .unwrap();
    ok(&mut xs, T::Write, 0, &wr("data/p", "w"));
    assert_eq!(error(&mut xs, T::Read, 0, &z(&["data/p"])), "EACCES");
}

#[test]
fn bad_requests() {
    let mut xs = store();
    for bad in [
        "",
        "data//x",
        "data/x/",
        "data/x.y",
        "data/x y",
        "@releaseDomain",
        "@other",
    ] {
        let p = bad;
        assert_eq!(
            error(&mut xs, T::Write, 0, &wr(p, "v")),
            "EINVAL",
            "{bad:?}"
        );
        assert_eq!(error(&mut xs, T::Read, 0, &z(&[p])), "EINVAL", "{bad:?}");
    }
    assert_eq!(error(&mut xs, T::Rm, 0, &z(&["/"])), "EACCES");
    // Too long: the part below the home is limited to XENSTORE_REL_PATH_MAX.
    let long = format!("data/{}", "a".repeat(2048));
    assert_eq!(error(&mut xs, T::Write, 0, &wr(&long, "v")), "EINVAL");
    let fits = format!("data/{}", "a".repeat(2000));
    ok(&mut xs, T::Write, 0, &wr(&fits, "v"));
    // Missing terminators and extra arguments.
    assert_eq!(error(&mut xs, T::Read, 0, b"name"), "EINVAL");
    assert_eq!(error(&mut xs, T::Read, 0, b"name\0x\0"), "EINVAL");
    assert_eq!(error(&mut xs, T::Write, 0, b"data/nonul"), "EINVAL");
    assert_eq!(error(&mut xs, T::Watch, 0, &z(&["data"])), "EINVAL");
    assert_eq!(error(&mut xs, T::Read, 0, &[0xff, 0]), "EINVAL");
    // Payload and node size limits.
    let huge = wr("data/big", &"x".repeat(4096));
    assert_eq!(error(&mut xs, T::Write, 0, &huge), "E2BIG");
    let big = wr("data/big", &"x".repeat(3000));
    assert_eq!(error(&mut xs, T::Write, 0, &big), "ENOSPC");
    ok(&mut xs, T::Write, 0, &wr("data/big", &"x".repeat(2000)));
    // Privileged and unknown requests.
    assert_eq!(error(&mut xs, T::Control, 0, &z(&["print", "x"])), "EACCES");
    assert_eq!(
        error(&mut xs, T::Introduce, 0, &z(&["1", "2", "3"])),
        "EACCES"
    );
    assert_eq!(error(&mut xs, T::Release, 0, &z(&["1"])), "EACCES");
    assert_eq!(
        error(&mut xs, T::IsDomainIntroduced, 0, &z(&["1"])),
        "EACCES"
    );
    assert_eq!(error(&mut xs, T::SetTarget, 0, &z(&["1", "2"])), "EACCES");
    assert_eq!(error(&mut xs, T::Resume, 0, &z(&["1"])), "EACCES");
    assert_eq!(error(&mut xs, T::WatchEvent, 0, &z(&["a", "b"])), "EINVAL");
    assert_eq!(error(&mut xs, T::Error, 0, &z(&["EINVAL"])), "EINVAL");
    let out = xs.handle(20, 1, 0, b"\0");
    assert_eq!(
        (out[0].0.r#type, out[0].1.as_slice()),
        (T::Error as u32, &b"EINVAL\0"[..])
    );
    let out = xs.handle(12345, 1, 0, b"\0");
    assert_eq!(out[0].1, z(&["EINVAL"]));
}

#[test]
fn reply_too_big_is_e2big() {
    let mut xs = store();
    // 100 children with 60-byte names make a 6 KiB listing.
    for i in 0..100 {
        let name = format!("data/l/{i:03}{}", "n".repeat(57));
        xs.write(&name, b"").unwrap();
    }
    assert_eq!(error(&mut xs, T::Directory, 0, &z(&["data/l"])), "E2BIG");
    // XS_DIRECTORY_PART delivers it in pieces: generation, names, "" at the end.
    let mut all = Vec::new();
    let mut off = 0usize;
    let mut gens = Vec::new();
    loop {
        let body = ok(
            &mut xs,
            T::DirectoryPart,
            0,
            &z(&["data/l", &off.to_string()]),
        );
        assert!(body.len() <= 4096);
        let parts: Vec<&[u8]> = body.split(|&b| b == 0).collect();
        gens.push(parts[0].to_vec());
        let names: Vec<&[u8]> = parts[1..parts.len() - 1].to_vec();
        let done = names.last().is_some_and(|n| n.is_empty());
        for n in names.iter().filter(|n| !n.is_empty()) {
            off += n.len() + 1;
            all.push(String::from_utf8(n.to_vec()).unwrap());
        }
        if done {
            break;
        }
        assert!(gens.len() < 10);
    }
    assert!(gens.len() >= 2);
    assert!(gens.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(all.len(), 100);
    assert_eq!(all[0], format!("000{}", "n".repeat(57)));
    assert_eq!(
        error(&mut xs, T::DirectoryPart, 0, &z(&["data/l", "99999"])),
        "EINVAL"
    );
    let small = ok(&mut xs, T::DirectoryPart, 0, &z(&["cpu", "0"]));
    assert!(small.ends_with(b"\x000\x001\x00\x00"), "{small:?}");
}

#[test]
fn watches_fire_on_registration_set_and_children() {
    let mut xs = store();
    let out = req(&mut xs, T::Watch, &z(&["data", "tok"]));
    // The reply, then the initial event with the path as given.
    assert_eq!(out[0].0.r#type, T::Watch as u32);
    assert_eq!(out[0].1, z(&["OK"]));
    assert_eq!(events(&out), [ev("data", "tok")]);

    let out = req(&mut xs, T::Write, &wr("data", "x"));
    assert_eq!(events(&out), [ev("data", "tok")]);
    let out = req(&mut xs, T::Write, &wr("data/a/b", "x"));
    assert_eq!(events(&out), [ev("data/a/b", "tok")]);
    let out = req(&mut xs, T::Write, &wr("datax", "x"));
    assert!(events(&out).is_empty());
    let out = req(&mut xs, T::Rm, &z(&["data/a"]));
    assert_eq!(events(&out), [ev("data/a", "tok")]);
    // Elsewhere: nothing.
    let out = req(&mut xs, T::Write, &wr("attr/x", "x"));
    assert!(events(&out).is_empty());

    // Absolute watches get absolute paths.
    let out = req(&mut xs, T::Watch, &z(&[&format!("{HOME}/attr"), "abs"]));
    assert_eq!(events(&out), [ev(&format!("{HOME}/attr"), "abs")]);
    let out = req(&mut xs, T::Write, &wr("attr/y", "1"));
    assert_eq!(events(&out), [ev(&format!("{HOME}/attr/y"), "abs")]);

    // Duplicates are refused; the same path with another token is a new watch.
    assert_eq!(error(&mut xs, T::Watch, 0, &z(&["data", "tok"])), "EEXIST");
    req(&mut xs, T::Watch, &z(&["data", "tok2"]));
    let out = req(&mut xs, T::Write, &wr("data/c", "1"));
    let mut got = events(&out);
    got.sort();
    assert_eq!(got, [ev("data/c", "tok"), ev("data/c", "tok2")]);

    // Unwatch stops them.
    assert_eq!(ok(&mut xs, T::Unwatch, 0, &z(&["data", "tok"])), z(&["OK"]));
    assert_eq!(
        error(&mut xs, T::Unwatch, 0, &z(&["data", "tok"])),
        "ENOENT"
    );
    let out = req(&mut xs, T::Write, &wr("data/c", "2"));
    assert_eq!(events(&out), [ev("data/c", "tok2")]);

    // Reset forgets all of them.
    assert_eq!(ok(&mut xs, T::ResetWatches, 0, b"\0"), z(&["OK"]));
    let out = req(&mut xs, T::Write, &wr("data/c", "3"));
    assert!(events(&out).is_empty());
}

#[test]
fn watch_on_missing_node_and_removal_below() {
    let mut xs = store();
    let out = req(&mut xs, T::Watch, &z(&["data/x/y", "t"]));
    assert_eq!(events(&out), [ev("data/x/y", "t")]);
    let out = req(&mut xs, T::Write, &wr("data/x", "1"));
    assert!(events(&out).is_empty());
    let out = req(&mut xs, T::Write, &wr("data/x/y/z", "1"));
    assert_eq!(events(&out), [ev("data/x/y/z", "t")]);
    // Removing an ancestor fires watches below it with their own path.
    let out = req(&mut xs, T::Rm, &z(&["data/x"]));
    assert_eq!(events(&out), [ev("data/x/y", "t")]);
}

#[test]
fn special_watches_and_host_writes() {
    let mut xs = store();
    let out = req(&mut xs, T::Watch, &z(&["@releaseDomain", "r"]));
    assert_eq!(events(&out), [ev("@releaseDomain", "r")]);
    let out = req(&mut xs, T::Watch, &z(&["@introduceDomain", "i"]));
    assert_eq!(events(&out), [ev("@introduceDomain", "i")]);
    assert_eq!(error(&mut xs, T::Watch, 0, &z(&["@bogus", "b"])), "EINVAL");
    ok(&mut xs, T::Unwatch, 0, &z(&["@releaseDomain", "r"]));

    // Linux's shutdown watch, and the host asking for a poweroff.
    let out = req(&mut xs, T::Watch, &z(&["control/shutdown", "shutdown"]));
    assert_eq!(events(&out), [ev("control/shutdown", "shutdown")]);
    xs.write("control/shutdown", b"poweroff").unwrap();
    let out = req(&mut xs, T::Read, &z(&["control/shutdown"]));
    assert_eq!(out[0].1, b"poweroff");
    assert_eq!(events(&out), [ev("control/shutdown", "shutdown")]);
    // The guest acknowledges by clearing it, which fires the watch too.
    let out = req(&mut xs, T::Write, &wr("control/shutdown", ""));
    assert_eq!(events(&out), [ev("control/shutdown", "shutdown")]);
    assert_eq!(xs.read("control/shutdown"), Some(&b""[..]));

    // Host changes to nodes the guest cannot read are not reported to it.
    req(&mut xs, T::Watch, &z(&["/", "root"]));
    xs.write("/local/domain/0/secret", b"x").unwrap();
    xs.write("memory/target", b"1024").unwrap();
    let out = req(&mut xs, T::Read, &z(&["memory/target"]));
    assert_eq!(out[0].1, b"1024");
    assert_eq!(events(&out), [ev(&format!("{HOME}/memory/target"), "root")]);

    xs.mkdir("device/vif/0").unwrap();
    xs.rm("device/vif").unwrap();
    assert!(xs.read("device/vif/0").is_none());
    assert_eq!(xs.rm("device/vif/0/x"), Err(XsError(2)));
    assert_eq!(xs.directory("device").unwrap(), ["suspend"]);
    assert_eq!(xs.write("bad//path", b""), Err(XsError(22)));
}

#[test]
fn transactions_commit_abort_and_conflict() {
    let mut xs = store();
    ok(&mut xs, T::Write, 0, &wr("data/k", "old"));
    req(&mut xs, T::Watch, &z(&["data", "w"]));

    let tx = start(&mut xs);
    assert_ne!(tx, 0);
    assert_eq!(ok(&mut xs, T::Read, tx, &z(&["data/k"])), b"old");
    let out = xs.handle(T::Write as u32, 1, tx, &wr("data/k", "new"));
    assert!(events(&out).is_empty(), "no events before the commit");
    ok(&mut xs, T::Write, tx, &wr("data/n/m", "created"));
    ok(&mut xs, T::Rm, tx, &z(&["data/gone"]));
    // The transaction sees its own changes; the store does not, yet.
    assert_eq!(ok(&mut xs, T::Read, tx, &z(&["data/k"])), b"new");
    assert_eq!(ok(&mut xs, T::Read, tx, &z(&["data/n/m"])), b"created");
    assert_eq!(dir(&mut xs, tx, "data"), ["k", "n"]);
    assert_eq!(read(&mut xs, "data/k"), "old");
    assert_eq!(error(&mut xs, T::Read, 0, &z(&["data/n/m"])), "ENOENT");
    assert_eq!(dir(&mut xs, 0, "data"), ["k"]);

    let out = xs.handle(T::TransactionEnd as u32, 5, tx, &z(&["T"]));
    assert_eq!(out[0].0.r#type, T::TransactionEnd as u32);
    assert_eq!(out[0].1, z(&["OK"]));
    let mut got = events(&out);
    got.sort();
    assert_eq!(got, [ev("data/k", "w"), ev("data/n/m", "w")]);
    assert_eq!(read(&mut xs, "data/k"), "new");
    assert_eq!(read(&mut xs, "data/n/m"), "created");
    assert_eq!(ok(&mut xs, T::GetPerms, 0, &z(&["data/n"])), z(&["n3"]));
    // It is gone.
    assert_eq!(error(&mut xs, T::TransactionEnd, tx, &z(&["T"])), "ENOENT");
    assert_eq!(error(&mut xs, T::Read, tx, &z(&["data/k"])), "ENOENT");

    // Abort discards.
    let tx = start(&mut xs);
    ok(&mut xs, T::Write, tx, &wr("data/k", "aborted"));
    ok(&mut xs, T::Rm, tx, &z(&["data/n"]));
    ok(&mut xs, T::TransactionEnd, tx, &z(&["F"]));
    assert_eq!(read(&mut xs, "data/k"), "new");
    assert_eq!(read(&mut xs, "data/n/m"), "created");

    // Someone else changes what the transaction read: EAGAIN, nothing applied.
    let tx = start(&mut xs);
    assert_eq!(ok(&mut xs, T::Read, tx, &z(&["data/k"])), b"new");
    ok(&mut xs, T::Write, tx, &wr("data/other", "1"));
    xs.write("data/k", b"host").unwrap();
    assert_eq!(error(&mut xs, T::TransactionEnd, tx, &z(&["T"])), "EAGAIN");
    assert_eq!(error(&mut xs, T::Read, 0, &z(&["data/other"])), "ENOENT");
    assert_eq!(read(&mut xs, "data/k"), "host");

    // ... or creates a node the transaction found missing.
    let tx = start(&mut xs);
    assert_eq!(error(&mut xs, T::Read, tx, &z(&["data/race"])), "ENOENT");
    ok(&mut xs, T::Write, 0, &wr("data/race", "1"));
    ok(&mut xs, T::Write, tx, &wr("data/unrelated", "1"));
    assert_eq!(error(&mut xs, T::TransactionEnd, tx, &z(&["T"])), "EAGAIN");

    // ... or adds a child to a directory the transaction listed.
    let tx = start(&mut xs);
    dir(&mut xs, tx, "data/n");
    ok(&mut xs, T::Write, 0, &wr("data/n/new", "1"));
    assert_eq!(error(&mut xs, T::TransactionEnd, tx, &z(&["T"])), "EAGAIN");

    // Unrelated changes do not conflict.
    let tx = start(&mut xs);
    ok(&mut xs, T::Write, tx, &wr("data/k", "mine"));
    xs.write("attr/unrelated", b"1").unwrap();
    ok(&mut xs, T::TransactionEnd, tx, &z(&["T"]));
    assert_eq!(read(&mut xs, "data/k"), "mine");

    // Two transactions writing the same node: the second to commit loses.
    let a = start(&mut xs);
    let b = start(&mut xs);
    assert_ne!(a, b);
    ok(&mut xs, T::Write, a, &wr("data/k", "a"));
    ok(&mut xs, T::Write, b, &wr("data/k", "b"));
    ok(&mut xs, T::TransactionEnd, b, &z(&["T"]));
    assert_eq!(error(&mut xs, T::TransactionEnd, a, &z(&["T"])), "EAGAIN");
    assert_eq!(read(&mut xs, "data/k"), "b");

    // Permissions hold inside transactions too.
    let tx = start(&mut xs);
    assert_eq!(
        error(&mut xs, T::Write, tx, &wr("memory/target", "1")),
        "EACCES"
    );
    assert_eq!(error(&mut xs, T::TransactionEnd, tx, &z(&["X"])), "EINVAL");
    assert_eq!(error(&mut xs, T::TransactionStart, tx, b"\0"), "EBUSY");
    ok(&mut xs, T::TransactionEnd, tx, &z(&["F"]));
}

#[test]
fn quotas() {
    let mut xs = store();
    // Transactions.
    let ids: Vec<u32> = (0..QUOTA_TRANSACTIONS).map(|_| start(&mut xs)).collect();
    assert_eq!(error(&mut xs, T::TransactionStart, 0, b"\0"), "ENOSPC");
    ok(&mut xs, T::TransactionEnd, ids[0], &z(&["F"]));
    start(&mut xs);
    ok(&mut xs, T::ResetWatches, 0, b"\0");
    start(&mut xs);

    // Watches.
    for i in 0..QUOTA_WATCHES {
        ok(&mut xs, T::Watch, 0, &z(&["data", &i.to_string()]));
    }
    assert_eq!(
        error(&mut xs, T::Watch, 0, &z(&["data", "one-more"])),
        "E2BIG"
    );
    ok(&mut xs, T::Unwatch, 0, &z(&["data", "0"]));
    ok(&mut xs, T::Watch, 0, &z(&["data", "one-more"]));
    ok(&mut xs, T::ResetWatches, 0, b"\0");

    // Nodes: the guest already owns some (console, control/shutdown, data, ...).
    let mut made = 0;
    let last = loop {
        let (h, body) = reply(&mut xs, T::Write, 0, &wr(&format!("data/n{made}"), "v"));
        if h.r#type == T::Error as u32 {
            break body;
        }
        made += 1;
        assert!(made <= QUOTA_NODES);
    };
    assert_eq!(last, z(&["ENOSPC"]));
    assert!(made > QUOTA_NODES - 40, "{made}");
    // A write creating several nodes needs room for all of them.
    ok(&mut xs, T::Rm, 0, &z(&["data/n0"]));
    assert_eq!(error(&mut xs, T::Write, 0, &wr("data/a/b", "v")), "ENOSPC");
    ok(&mut xs, T::Write, 0, &wr("data/a", "v"));
    // Changing existing nodes is still fine, and the host is not limited.
    ok(&mut xs, T::Write, 0, &wr("data/n1", "w"));
    xs.write("data/host", b"1").unwrap();
    // The host's node is the guest's (inherited owner), so it counts against the guest.
    assert_eq!(error(&mut xs, T::Write, 0, &wr("data/n0", "v")), "ENOSPC");
    // Inside a transaction the same count holds.
    ok(&mut xs, T::Rm, 0, &z(&["data/n1"]));
    ok(&mut xs, T::Rm, 0, &z(&["data/n2"]));
    let tx = start(&mut xs);
    ok(&mut xs, T::Write, tx, &wr("data/t1", "v"));
    assert_eq!(error(&mut xs, T::Write, tx, &wr("data/t2", "v")), "ENOSPC");
    ok(&mut xs, T::TransactionEnd, tx, &z(&["T"]));
}

// ---- the ring ----

/// A xenstore page in plain memory: no other vCPU, so plain copies meet the contract.
struct Page(Vec<u8>);

impl Page {
    fn new() -> Self {
        Page(vec![0; 4096])
    }
    fn idx(&self, off: usize) -> u32 {
        self.load_u32(off)
    }
    fn set(&mut self, off: usize, v: u32) {
        self.store_u32(off, v)
    }

    /// The guest writing as much of `bytes` as fits; returns how much did.
    fn guest_send(&mut self, bytes: &[u8]) -> usize {
        let cons = self.idx(OFF_REQ_CONS);
        let mut prod = self.idx(OFF_REQ_PROD);
        let mut n = 0;
        while n < bytes.len() && prod.wrapping_sub(cons) < XENSTORE_RING_SIZE as u32 {
            self.0[OFF_REQ + (prod as usize & (XENSTORE_RING_SIZE - 1))] = bytes[n];
            prod = prod.wrapping_add(1);
            n += 1;
        }
        self.set(OFF_REQ_PROD, prod);
        n
    }

    /// The guest taking every byte of `rsp`.
    fn guest_recv(&mut self, into: &mut Vec<u8>) {
        let mut cons = self.idx(OFF_RSP_CONS);
        let prod = self.idx(OFF_RSP_PROD);
        if prod.wrapping_sub(cons) as usize > XENSTORE_RING_SIZE {
            return;
        }
        while cons != prod {
            into.push(self.0[OFF_RSP + (cons as usize & (XENSTORE_RING_SIZE - 1))]);
            cons = cons.wrapping_add(1);
        }
        self.set(OFF_RSP_CONS, cons);
    }
}

impl RingPage for Page {
    fn load(&self, off: usize, buf: &mut [u8]) {
        buf.copy_from_slice(&self.0[off..off + buf.len()]);
    }
    fn store(&mut self, off: usize, buf: &[u8]) {
        self.0[off..off + buf.len()].copy_from_slice(buf);
    }
    fn load_u32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.0[off..off + 4].try_into().unwrap())
    }
    fn store_u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
}

fn msg(ty: T, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    for v in [ty as u32, req_id, tx_id, payload.len() as u32] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.extend_from_slice(payload);
    m
}

/// Splits a response stream into messages; the stream must end on a boundary.
fn parse_stream(mut s: &[u8]) -> Vec<Msg> {
    let mut v = Vec::new();
    while !s.is_empty() {
        let w = |i: usize| u32::from_le_bytes(s[i * 4..i * 4 + 4].try_into().unwrap());
        let h = XsdSockmsg {
            r#type: w(0),
            req_id: w(1),
            tx_id: w(2),
            len: w(3),
        };
        let end = 16 + h.len as usize;
        v.push((h, s[16..end].to_vec()));
        s = &s[end..];
    }
    v
}

#[test]
fn ring_basic_and_split_request() {
    let mut xs = store();
    let mut page = Page::new();
    XenStore::init_ring(&mut page);
    assert_eq!(page.idx(OFF_SERVER_FEATURES), 3);
    assert_eq!(page.idx(OFF_CONNECTION), XENSTORE_CONNECTED);
    assert!(!xs.service(&mut page), "nothing to do");

    let m = msg(T::Read, 77, 0, &z(&["name"]));
    // The header and part of the payload now, the rest later.
    page.guest_send(&m[..10]);
    assert!(xs.service(&mut page), "bytes consumed");
    assert_eq!(page.idx(OFF_REQ_CONS), 10);
    assert_eq!(page.idx(OFF_RSP_PROD), 0, "no reply to half a header");
    page.guest_send(&m[10..18]);
    assert!(xs.service(&mut page));
    assert_eq!(page.idx(OFF_RSP_PROD), 0);
    page.guest_send(&m[18..]);
    assert!(xs.service(&mut page));
    let mut got = Vec::new();
    page.guest_recv(&mut got);
    let out = parse_stream(&got);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0.r#type, out[0].0.req_id), (T::Read as u32, 77));
    assert_eq!(out[0].1, b"guest");

    // Several requests at once, answered in order, with the watch event after its reply.
    let mut batch = msg(T::Watch, 1, 0, &z(&["control/shutdown", "s"]));
    batch.extend(msg(T::Write, 2, 0, &wr("data/x", "1")));
    batch.extend(msg(T::Read, 3, 0, &z(&["data/x"])));
    page.guest_send(&batch);
    assert!(xs.service(&mut page));
    let mut got = Vec::new();
    page.guest_recv(&mut got);
    let out = parse_stream(&got);
    let kinds: Vec<(u32, u32)> = out.iter().map(|(h, _)| (h.r#type, h.req_id)).collect();
    assert_eq!(
        kinds,
        [
            (T::Watch as u32, 1),
            (T::WatchEvent as u32, 0),
            (T::Write as u32, 2),
            (T::Read as u32, 3)
        ]
    );
    // A host change between services reaches the guest on the next one.
    xs.write("control/shutdown", b"reboot").unwrap();
    assert!(xs.service(&mut page));
    let mut got = Vec::new();
    page.guest_recv(&mut got);
    assert_eq!(events(&parse_stream(&got)), [ev("control/shutdown", "s")]);
    assert!(!xs.service(&mut page));
}

#[test]
fn ring_wraps_and_fills_with_responses() {
    let mut xs = store();
    let mut page = Page::new();
    XenStore::init_ring(&mut page);
    // Start near the top of the index space so the indices wrap too.
    for off in [OFF_REQ_CONS, OFF_REQ_PROD, OFF_RSP_CONS, OFF_RSP_PROD] {
        page.set(off, u32::MAX - 100);
    }
    xs.write("data/v", &[b'v'; 900]).unwrap();
    // Each reply is 916 bytes: the ring takes one and a bit.
    let total = 20u32;
    let mut pending: Vec<u8> = Vec::new();
    for i in 0..total {
        pending.extend(msg(T::Read, i, 0, &z(&["data/v"])));
    }
    let mut got = Vec::new();
    let mut rounds = 0;
    while got.len() < total as usize * 916 {
        let sent = page.guest_send(&pending);
        pending.drain(..sent);
        xs.service(&mut page);
        // The server never overruns the guest's unread responses.
        let used = page.idx(OFF_RSP_PROD).wrapping_sub(page.idx(OFF_RSP_CONS));
        assert!(used as usize <= XENSTORE_RING_SIZE);
        if rounds % 3 == 2 {
            page.guest_recv(&mut got);
        }
        rounds += 1;
        assert!(rounds < 1000, "no progress");
    }
    let out = parse_stream(&got);
    assert_eq!(out.len(), total as usize);
    for (i, (h, body)) in out.iter().enumerate() {
        assert_eq!((h.r#type, h.req_id), (T::Read as u32, i as u32));
        assert_eq!(body.len(), 900);
    }
    assert_eq!(xs.connection_error(), XENSTORE_ERROR_NONE);
}

#[test]
fn backpressure_bounds_queued_replies() {
    let mut xs = store();
    let mut page = Page::new();
    XenStore::init_ring(&mut page);
    // The guest keeps sending and never reads: the server stops taking requests.
    let m = msg(T::Read, 1, 0, &z(&["data"]));
    let mut accepted = 0usize;
    for _ in 0..10_000 {
        let sent = page.guest_send(&m);
        if sent < m.len() {
            break;
        }
        accepted += 1;
        xs.service(&mut page);
    }
    assert!(accepted < 10_000, "the request ring filled up");
    // Reading the responses lets it continue, all in order.
    let mut got = Vec::new();
    for _ in 0..2000 {
        page.guest_recv(&mut got);
        if !xs.service(&mut page) {
            break;
        }
    }
    page.guest_recv(&mut got);
    let out = parse_stream(&got);
    assert_eq!(out.len(), page.idx(OFF_REQ_PROD) as usize / m.len());
}

#[test]
fn hostile_ring_indices() {
    let mut xs = store();
    let mut page = Page::new();
    XenStore::init_ring(&mut page);
    page.set(OFF_REQ_PROD, 5000);
    assert!(xs.service(&mut page));
    assert_eq!(page.idx(OFF_ERROR), XENSTORE_ERROR_RINGIDX);
    assert_eq!(xs.connection_error(), XENSTORE_ERROR_RINGIDX);
    // Stopped: nothing more happens, whatever the guest does.
    page.set(OFF_REQ_PROD, 0);
    page.guest_send(&msg(T::Read, 1, 0, &z(&["name"])));
    assert!(!xs.service(&mut page));
    // Until it asks to reconnect.
    page.set(OFF_CONNECTION, XENSTORE_RECONNECT);
    assert!(xs.service(&mut page));
    assert_eq!(page.idx(OFF_CONNECTION), XENSTORE_CONNECTED);
    assert_eq!(page.idx(OFF_ERROR), XENSTORE_ERROR_NONE);
    assert_eq!(page.idx(OFF_REQ_PROD), 0);
    page.guest_send(&msg(T::Read, 1, 0, &z(&["name"])));
    assert!(xs.service(&mut page));
    let mut got = Vec::new();
    page.guest_recv(&mut got);
    assert_eq!(parse_stream(&got)[0].1, b"guest");

    // A response consumer index ahead of the producer.
    let mut xs = store();
    let mut page = Page::new();
    page.set(OFF_RSP_CONS, 3000);
    page.guest_send(&msg(T::Read, 1, 0, &z(&["name"])));
    xs.service(&mut page);
    assert_eq!(page.idx(OFF_ERROR), XENSTORE_ERROR_RINGIDX);

    // A header announcing more than XENSTORE_PAYLOAD_MAX.
    let mut xs = store();
    let mut page = Page::new();
    let mut m = msg(T::Write, 1, 0, b"");
    m[12..16].copy_from_slice(&5000u32.to_le_bytes());
    page.guest_send(&m);
    page.guest_send(&[0u8; 100]);
    assert!(xs.service(&mut page));
    assert_eq!(page.idx(OFF_ERROR), XENSTORE_ERROR_PROTO);
    assert_eq!(page.idx(OFF_RSP_PROD), 0);
}

#[test]
fn reconnect_forgets_watches_and_transactions() {
    let mut xs = store();
    let mut page = Page::new();
    XenStore::init_ring(&mut page);
    page.guest_send(&msg(T::Watch, 1, 0, &z(&["data", "t"])));
    page.guest_send(&msg(T::TransactionStart, 2, 0, b"\0"));
    xs.service(&mut page);
    page.set(OFF_CONNECTION, XENSTORE_RECONNECT);
    assert!(xs.service(&mut page));
    assert_eq!(page.idx(OFF_RSP_PROD), 0);
    xs.write("data/x", b"1").unwrap();
    assert!(!xs.service(&mut page), "the watch is gone");
    assert_eq!(error(&mut xs, T::TransactionEnd, 1, &z(&["T"])), "ENOENT");
}

/// A little deterministic generator, so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Lcg(1);
    let words: [&[u8]; 12] = [
        b"data",
        b"data/a",
        b"/",
        b"@releaseDomain",
        b"T",
        b"F",
        b"1",
        b"r3",
        b"n3",
        b"..",
        b"control/shutdown",
        b"",
    ];
    let mut xs = store();
    for _ in 0..20_000 {
        let ty = rng.next() % 26;
        let mut payload = Vec::new();
        for _ in 0..rng.next() % 4 {
            payload.extend_from_slice(words[rng.next() as usize % words.len()]);
            if !rng.next().is_multiple_of(4) {
                payload.push(0);
            }
        }
        let tx = if rng.next().is_multiple_of(3) {
            rng.next() % 4
        } else {
            0
        };
        let out = xs.handle(ty, 1, tx, &payload);
        assert!(!out.is_empty());
        for (h, b) in &out {
            assert_eq!(h.len as usize, b.len());
        }
    }

    // Random bytes and indices on the ring.
    for seed in 0..200 {
        let mut rng = Lcg(seed);
        let mut xs = store();
        let mut page = Page::new();
        for _ in 0..50 {
            match rng.next() % 4 {
                0 => {
                    let n = rng.next() as usize % 64;
                    let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                    page.guest_send(&bytes);
                }
                1 => {
                    let off = [
                        OFF_REQ_CONS,
                        OFF_REQ_PROD,
                        OFF_RSP_CONS,
                        OFF_RSP_PROD,
                        OFF_CONNECTION,
                    ][rng.next() as usize % 5];
                    let v = page.idx(off).wrapping_add(rng.next() % 2048);
                    page.set(off, v);
                }
                2 => {
                    page.guest_send(&msg(T::Watch, 1, 0, &z(&["data", "x"])));
                }
                _ => {
                    let mut sink = Vec::new();
                    page.guest_recv(&mut sink);
                }
            }
            xs.service(&mut page);
        }
    }
}

#[test]
fn transaction_removes_subtree_and_is_bounded() {
    let mut xs = store();
    ok(&mut xs, T::Write, 0, &wr("data/s/a/b", "1"));
    ok(&mut xs, T::Write, 0, &wr("data/s/c", "2"));
    req(&mut xs, T::Watch, &z(&["data/s/a/b", "below"]));
    let tx = start(&mut xs);
    ok(&mut xs, T::Rm, tx, &z(&["data/s"]));
    assert_eq!(error(&mut xs, T::Read, tx, &z(&["data/s/c"])), "ENOENT");
    assert_eq!(read(&mut xs, "data/s/c"), "2");
    assert_eq!(dir(&mut xs, tx, "data"), Vec::<String>::new());
    let out = xs.handle(T::TransactionEnd as u32, 1, tx, &z(&["T"]));
    assert_eq!(out[0].1, z(&["OK"]));
    assert_eq!(events(&out), [ev("data/s/a/b", "below")]);
    assert!(xs.read("data/s").is_none());
    assert!(xs.read("data/s/a/b").is_none());

    // A transaction may only depend on so many nodes.
    let tx = start(&mut xs);
    let mut n = 0;
    let last = loop {
        let e = error(&mut xs, T::Read, tx, &z(&[&format!("data/m{n}")]));
        if e != "ENOENT" {
            break e;
        }
        n += 1;
        assert!(n <= QUOTA_TRANSACTION_NODES);
    };
    assert_eq!(last, "ENOSPC");
    assert!(n > QUOTA_TRANSACTION_NODES - 10);
    ok(&mut xs, T::TransactionEnd, tx, &z(&["F"]));
}
