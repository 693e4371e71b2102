//! A built-in xenstore daemon for one PV guest, speaking the xenstore ring protocol
//! (xen/include/public/io/xs_wire.h, docs/misc/xenstore.txt, docs/misc/xenstore-ring.txt).
//!
//! What it implements, as a domU sees cxenstored/oxenstored of Xen 4.17:
//! - the store: a tree of nodes with values and permissions (`n`/`r`/`w`/`b` + domid, the
//!   first entry naming the owner), the tree libxl writes for a PV domU ([`XenStore::new`]),
//!   relative paths (relative to `/local/domain/<domid>`), path validation, implicit parent
//!   creation, permission checks, and xenstored's per-domain quotas (nodes, node size,
//!   watches, transactions, permissions per node);
//! - requests: READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART, GET_PERMS, SET_PERMS,
//!   WATCH, UNWATCH, TRANSACTION_START/END, GET_DOMAIN_PATH, RESET_WATCHES; the privileged
//!   ones (CONTROL, INTRODUCE, RELEASE, IS_DOMAIN_INTRODUCED, RESUME, SET_TARGET) answer
//!   EACCES and anything else EINVAL, as for an unprivileged domain;
//! - watches, with the initial event on registration and events for changes to the watched
//!   node or anything below it (and, on removal, for watches below the removed node);
//!   `@introduceDomain`/`@releaseDomain` are accepted but only ever fire that first event;
//! - transactions with optimistic concurrency: a transaction works on an overlay of the
//!   store, remembers the generation of every node it looked at, and its commit fails with
//!   EAGAIN if any of them changed in the meantime;
//! - the shared ring ([`XenStore::service`]) through the [`RingPage`] trait, with the
//!   reconnection and error features of xenstore-ring.txt; a guest that breaks the ring
//!   protocol gets the connection put into an error state, never a panic;
//! - a host side ([`XenStore::write`], [`XenStore::read`], [`XenStore::rm`], ...) acting with
//!   dom0's privileges, whose changes fire the guest's watches.
//!
//! What it does not: more than one connection (there is no other domain, so the backend
//! halves of devices, `/local/domain/0/backend/...`, are not written), XS_INTRODUCE and the
//! other toolstack requests, the XS_WRITE flags of old protocol versions, transaction
//! timeouts, persistence, and the exact error precedence of every corner case. Watch events
//! beyond [`EVENT_QUEUE_BYTES`] of unread output are dropped (counted in
//! [`XenStore::dropped_events`]) rather than queued without bound.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::mem::offset_of;
use core::ops::Bound;
use hypercall_abi::errno::{E2BIG, EACCES, EAGAIN, EBUSY, EEXIST, EINVAL, ENOENT, ENOSPC, EPERM};
use hypercall_abi::io_xs_wire::{
    mask_xenstore_idx, xsd_error_string, XenstoreDomainInterface, XsdSockmsg, XsdSockmsgType,
    XENSTORE_ABS_PATH_MAX, XENSTORE_CONNECTED, XENSTORE_ERROR_NONE, XENSTORE_ERROR_PROTO,
    XENSTORE_ERROR_RINGIDX, XENSTORE_PAYLOAD_MAX, XENSTORE_RECONNECT, XENSTORE_REL_PATH_MAX,
    XENSTORE_RING_SIZE, XENSTORE_SERVER_FEATURE_ERROR, XENSTORE_SERVER_FEATURE_RECONNECTION,
};

/// Nodes the guest may own (xenstored's `quota-nb-entry-per-domain`).
pub const QUOTA_NODES: usize = 1000;
/// Bytes of value plus child names in a node the guest writes (`quota-max-entry-size`).
pub const QUOTA_NODE_SIZE: usize = 2048;
/// Watches the guest may hold (`quota-nb-watch-per-domain`).
pub const QUOTA_WATCHES: usize = 128;
/// Open transactions (`quota-max-transaction`).
pub const QUOTA_TRANSACTIONS: usize = 10;
/// Permission entries per node (`quota-nb-perms-per-node`).
pub const QUOTA_PERMS: usize = 5;
/// Nodes one transaction may look at or change (`quota-trans-nodes`).
pub const QUOTA_TRANSACTION_NODES: usize = 1024;
/// Bytes of output queued before watch events are dropped. Replies are not counted against
/// it: they are bounded by not reading requests while output is waiting.
pub const EVENT_QUEUE_BYTES: usize = 256 * 1024;
/// Output queued beyond which no further request is read from the ring.
const REPLY_BACKPRESSURE_BYTES: usize = 8 * 1024;
/// Size of a message header.
pub const HEADER_SIZE: usize = core::mem::size_of::<XsdSockmsg>();

/// Permission bits of one [`Perm`] entry.
pub const PERM_NONE: u8 = 0;
pub const PERM_READ: u8 = 1;
pub const PERM_WRITE: u8 = 2;
pub const PERM_BOTH: u8 = PERM_READ | PERM_WRITE;

/// Dom0, the domain the host side acts as.
const DOM0: u16 = 0;

// Byte offsets of `struct xenstore_domain_interface` fields in the shared page.
pub const OFF_REQ: usize = offset_of!(XenstoreDomainInterface, req);
pub const OFF_RSP: usize = offset_of!(XenstoreDomainInterface, rsp);
pub const OFF_REQ_CONS: usize = offset_of!(XenstoreDomainInterface, req_cons);
pub const OFF_REQ_PROD: usize = offset_of!(XenstoreDomainInterface, req_prod);
pub const OFF_RSP_CONS: usize = offset_of!(XenstoreDomainInterface, rsp_cons);
pub const OFF_RSP_PROD: usize = offset_of!(XenstoreDomainInterface, rsp_prod);
pub const OFF_SERVER_FEATURES: usize = offset_of!(XenstoreDomainInterface, server_features);
pub const OFF_CONNECTION: usize = offset_of!(XenstoreDomainInterface, connection);
pub const OFF_ERROR: usize = offset_of!(XenstoreDomainInterface, error);

/// The xenstore page in guest memory, which guest vCPUs may change at any time.
///
/// Offsets are byte offsets into `struct xenstore_domain_interface` and are always within
/// it; byte ranges never cross the end of `req` or `rsp`.
///
/// Ordering contract (what xenstored gets from its `xen_mb()`/`xen_rmb()`/`xen_wmb()`):
/// - [`load_u32`](RingPage::load_u32) is an *acquire* load: no later `load`/`store` of the
///   page may be performed before it (the daemon reads a producer index, then the bytes it
///   covers; reads a consumer index, then overwrites the bytes it freed);
/// - [`store_u32`](RingPage::store_u32) is a *release* store: every earlier `load`/`store`
///   of the page is complete before the new value is visible (the daemon copies bytes out
///   before publishing `req_cons`, and in before publishing `rsp_prod`);
/// - the indices are read and written as single 32-bit accesses, never torn.
///
/// Byte copies need no atomicity: the protocol gives each side exclusive use of the bytes
/// between the indices, and a guest that breaks that only garbles its own messages.
pub trait RingPage {
    /// Copies `buf.len()` bytes at `off` into `buf`.
    fn load(&self, off: usize, buf: &mut [u8]);
    /// Copies `buf` to `off`.
    fn store(&mut self, off: usize, buf: &[u8]);
    /// Reads the 32-bit field at `off` (acquire).
    fn load_u32(&self, off: usize) -> u32;
    /// Writes the 32-bit field at `off` (release).
    fn store_u32(&mut self, off: usize, v: u32);
}

/// An xenstore error: a Xen errno that travels as its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XsError(pub i32);

impl XsError {
    /// The name sent in an XS_ERROR payload ("ENOENT").
    pub fn name(self) -> &'static str {
        xsd_error_string(self.0)
    }
}

impl fmt::Display for XsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

type XsResult<T> = Result<T, XsError>;

fn err<T>(e: i32) -> XsResult<T> {
    Err(XsError(e))
}

/// One permission entry: a domain and what it may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    pub domid: u16,
    /// `PERM_*` bits.
    pub bits: u8,
}

impl Perm {
    /// Parses the wire form, e.g. "r0" or "b5".
    pub fn parse(s: &[u8]) -> Option<Perm> {
        let (&c, digits) = s.split_first()?;
        let bits = match c {
            b'n' => PERM_NONE,
            b'r' => PERM_READ,
            b'w' => PERM_WRITE,
            b'b' => PERM_BOTH,
            _ => return None,
        };
        let domid = parse_decimal(digits)?;
        Some(Perm {
            domid: u16::try_from(domid).ok()?,
            bits,
        })
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = match self.bits & PERM_BOTH {
            PERM_READ => 'r',
            PERM_WRITE => 'w',
            PERM_BOTH => 'b',
            _ => 'n',
        };
        write!(f, "{c}{}", self.domid)
    }
}

/// A decimal number without sign, leading garbage or overflow.
fn parse_decimal(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut v: u32 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(v)
}

#[derive(Clone, Debug)]
struct Node {
    value: Vec<u8>,
    /// Never empty: the first entry is the owner and the default for other domains.
    perms: Vec<Perm>,
    /// Changes whenever the value, the permissions or the set of children changes; what
    /// transactions compare at commit.
    generation: u64,
}

/// What a guest may do with a node (`perm_for_conn`): the owner anything, a listed domain
/// what its entry says, others what the first entry says.
fn perm_bits(perms: &[Perm], domid: u16) -> u8 {
    match perms.split_first() {
        None => PERM_NONE,
        Some((owner, _)) if owner.domid == domid => PERM_BOTH,
        Some((owner, rest)) => rest
            .iter()
            .find(|p| p.domid == domid)
            .map_or(owner.bits, |p| p.bits),
    }
}

/// One guest transaction: its changes on top of the store and what it looked at.
#[derive(Default)]
struct Transaction {
    /// Nodes the transaction created, changed (`Some`) or removed (`None`).
    overlay: BTreeMap<String, Option<Node>>,
    /// Generation (or absence) of every node of the store the transaction depended on, at
    /// the time it first looked.
    seen: BTreeMap<String, Option<u64>>,
    /// Watch firings deferred to the commit: path, whether the subtree was removed.
    fired: Vec<(String, bool)>,
}

struct Watch {
    /// Canonical: absolute, or a special `@` name.
    path: String,
    /// As the guest gave it, which is also how events report it.
    given_relative: bool,
    token: Vec<u8>,
}

/// An encoded message: header then payload, as it goes on the ring.
fn encode(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_SIZE + payload.len());
    // Payloads are capped at XENSTORE_PAYLOAD_MAX by every caller, so the length fits.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    for v in [ty, req_id, tx_id, len] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.extend_from_slice(payload);
    m
}

fn decode_header(b: &[u8]) -> Option<XsdSockmsg> {
    let word = |i: usize| -> Option<u32> {
        let w: [u8; 4] = b.get(i * 4..i * 4 + 4)?.try_into().ok()?;
        Some(u32::from_le_bytes(w))
    };
    Some(XsdSockmsg {
        r#type: word(0)?,
        req_id: word(1)?,
        tx_id: word(2)?,
        len: word(3)?,
    })
}

/// What libxl knows about the domain when it writes its part of the store.
#[derive(Clone, Debug)]
pub struct DomainConfig<'a> {
    pub domid: u16,
    pub name: &'a str,
    pub uuid: [u8; 16],
    /// `memory/target`.
    pub memory_kib: u64,
    /// `memory/static-max`.
    pub max_memory_kib: u64,
    pub vcpus: u32,
    pub store_port: u32,
    pub store_mfn: u64,
    pub console_port: u32,
    pub console_mfn: u64,
}

/// The daemon: the store and the guest's connection to it.
pub struct XenStore {
    domid: u16,
    /// `/local/domain/<domid>`.
    home: String,
    nodes: BTreeMap<String, Node>,
    generation: u64,
    watches: Vec<Watch>,
    transactions: BTreeMap<u32, Transaction>,
    next_tx_id: u32,
    /// Watch events raised by the request being handled, queued after its reply.
    new_events: Vec<Vec<u8>>,
    /// Encoded messages waiting for room in `rsp`; `out_sent` bytes of the first are on
    /// the ring already.
    out: VecDeque<Vec<u8>>,
    out_sent: usize,
    out_bytes: usize,
    /// Events dropped because the guest did not read its ring.
    dropped_events: u64,
    /// A request read from the ring so far.
    partial: Vec<u8>,
    /// `XENSTORE_ERROR_*` the connection is stopped with.
    conn_error: u32,
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The key range of `path`'s descendants begins with this prefix.
fn child_prefix(path: &str) -> String {
    if path == "/" {
        String::from("/")
    } else {
        format!("{path}/")
    }
}

fn is_special(path: &str) -> bool {
    path == "@introduceDomain" || path == "@releaseDomain"
}

impl XenStore {
    /// An empty store for domain `domid`: only `/`, `/local`, `/local/domain` and the
    /// domain's home directory exist.
    pub fn empty(domid: u16) -> Self {
        let mut s = XenStore {
            domid,
            home: format!("/local/domain/{domid}"),
            nodes: BTreeMap::new(),
            generation: 0,
            watches: Vec::new(),
            transactions: BTreeMap::new(),
            next_tx_id: 1,
            new_events: Vec::new(),
            out: VecDeque::new(),
            out_sent: 0,
            out_bytes: 0,
            dropped_events: 0,
            partial: Vec::new(),
            conn_error: XENSTORE_ERROR_NONE,
        };
        let dom0_only = [Perm {
            domid: DOM0,
            bits: PERM_NONE,
        }];
        s.generation += 1;
        s.nodes.insert(
            String::from("/"),
            Node {
                value: Vec::new(),
                perms: dom0_only.to_vec(),
                generation: s.generation,
            },
        );
        let home = s.home.clone();
        s.host_mknod("/local/domain", &dom0_only);
        s.host_mknod(&home, &s.readonly_perms());
        s
    }

    /// The store libxl leaves for a PV domU just before it unpauses it
    /// (libxl__domain_make, libxl__build_post, the console frontend).
    pub fn new(cfg: &DomainConfig) -> Self {
        let mut s = Self::empty(cfg.domid);
        let id = cfg.domid;
        let ro = s.readonly_perms();
        // Owned by the guest, readable by dom0: where the guest reports back.
        let rw = [Perm {
            domid: id,
            bits: PERM_NONE,
        }];
        let console_perms = [
            Perm {
                domid: id,
                bits: PERM_NONE,
            },
            Perm {
                domid: DOM0,
                bits: PERM_READ,
            },
        ];
        let u = &cfg.uuid;
        let uuid = format!(
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
            u[13], u[14], u[15]
        );
        let vm = format!("/vm/{uuid}");
        let h = s.home.clone();
        s.host_mknod(
            "/vm",
            &[Perm {
                domid: DOM0,
                bits: PERM_NONE,
            }],
        );
        s.host_mknod(&vm, &ro);
        s.host_mknod(
            &format!("/libxl/{id}"),
            &[Perm {
                domid: DOM0,
                bits: PERM_NONE,
            }],
        );
        s.host_set(&format!("/libxl/{id}/type"), b"pv");

        s.host_set(&format!("{h}/vm"), vm.as_bytes());
        s.host_set(&format!("{h}/name"), cfg.name.as_bytes());
        s.host_mknod(&format!("{h}/device"), &ro);
        s.host_mknod(&format!("{h}/device/suspend/event-channel"), &rw);
        s.host_mknod(&format!("{h}/control"), &ro);
        for n in [
            "shutdown",
            "feature-poweroff",
            "feature-reboot",
            "feature-suspend",
            "sysrq",
        ] {
            s.host_mknod(&format!("{h}/control/{n}"), &rw);
        }
        s.host_set(
            &format!("{h}/control/platform-feature-multiprocessor-suspend"),
            b"1",
        );
        s.host_set(
            &format!("{h}/control/platform-feature-xs_reset_watches"),
            b"1",
        );
        for n in ["data", "drivers", "feature", "attr", "error"] {
            s.host_mknod(&format!("{h}/{n}"), &rw);
        }
        s.host_set(&format!("{vm}/uuid"), uuid.as_bytes());
        s.host_set(&format!("{vm}/name"), cfg.name.as_bytes());
        s.host_set(&format!("{vm}/image/ostype"), b"linux");

        s.host_set(
            &format!("{h}/memory/static-max"),
            cfg.max_memory_kib.to_string().as_bytes(),
        );
        s.host_set(
            &format!("{h}/memory/target"),
            cfg.memory_kib.to_string().as_bytes(),
        );
        s.host_set(&format!("{h}/domid"), id.to_string().as_bytes());
        s.host_set(
            &format!("{h}/store/port"),
            cfg.store_port.to_string().as_bytes(),
        );
        s.host_set(
            &format!("{h}/store/ring-ref"),
            cfg.store_mfn.to_string().as_bytes(),
        );
        for n in 0..cfg.vcpus {
            s.host_set(&format!("{h}/cpu/{n}/availability"), b"online");
        }

        let c = format!("{h}/console");
        s.host_mknod(&c, &console_perms);
        let backend = format!("/local/domain/0/backend/console/{id}/0");
        let entries: [(&str, String); 8] = [
            ("backend", backend),
            ("backend-id", String::from("0")),
            ("limit", String::from("1048576")),
            ("type", String::from("xenconsoled")),
            ("output", String::from("pty")),
            ("tty", String::new()),
            ("port", cfg.console_port.to_string()),
            ("ring-ref", cfg.console_mfn.to_string()),
        ];
        for (k, v) in entries {
            s.host_set(&format!("{c}/{k}"), v.as_bytes());
        }
        // Nothing has been sent yet: creating the tree is not a change anyone watches.
        s.new_events.clear();
        s
    }

    /// `/local/domain/<domid>`.
    pub fn home(&self) -> &str {
        &self.home
    }

    /// The guest's domain id.
    pub fn domid(&self) -> u16 {
        self.domid
    }

    /// Watch events dropped so far because the guest did not consume its ring.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// The `XENSTORE_ERROR_*` the connection stopped with, or `XENSTORE_ERROR_NONE`.
    pub fn connection_error(&self) -> u32 {
        self.conn_error
    }

    /// Owned by dom0, readable by the guest: libxl's `roperm`.
    fn readonly_perms(&self) -> [Perm; 2] {
        [
            Perm {
                domid: DOM0,
                bits: PERM_NONE,
            },
            Perm {
                domid: self.domid,
                bits: PERM_READ,
            },
        ]
    }

    fn bump(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    // ---- start-of-day helpers: trusted paths, so failures cannot happen ----

    fn host_set(&mut self, path: &str, value: &[u8]) {
        let _ = self.op_write(None, false, path, value, false);
    }

    fn host_mknod(&mut self, path: &str, perms: &[Perm]) {
        let _ = self.op_write(None, false, path, b"", true);
        let _ = self.op_set_perms(None, false, path, perms.to_vec());
    }

    // ---- host side: dom0's view, watches fire as for any change ----

    /// Writes `value` at `path` (absolute, or relative to the guest's home) with dom0's
    /// privileges, creating missing parents; fires the guest's watches.
    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), XsError> {
        let p = self.canonical(path.as_bytes(), false)?;
        let r = self.op_write(None, false, &p, value, false);
        self.queue_new_events();
        r
    }

    /// Creates `path` (empty) if it does not exist, with dom0's privileges.
    pub fn mkdir(&mut self, path: &str) -> Result<(), XsError> {
        let p = self.canonical(path.as_bytes(), false)?;
        let r = self.op_write(None, false, &p, b"", true);
        self.queue_new_events();
        r
    }

    /// The value at `path`, as dom0 sees it.
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let p = self.canonical(path.as_bytes(), false).ok()?;
        self.nodes.get(&p).map(|n| n.value.as_slice())
    }

    /// The children of `path`, sorted, as dom0 sees them.
    pub fn directory(&self, path: &str) -> Option<Vec<String>> {
        let p = self.canonical(path.as_bytes(), false).ok()?;
        self.nodes.get(&p)?;
        Some(children(&self.nodes, None, &p))
    }

    /// The permissions of `path`.
    pub fn perms(&self, path: &str) -> Option<&[Perm]> {
        let p = self.canonical(path.as_bytes(), false).ok()?;
        self.nodes.get(&p).map(|n| n.perms.as_slice())
    }

    /// Sets the permissions of `path` with dom0's privileges.
    pub fn set_perms(&mut self, path: &str, perms: &[Perm]) -> Result<(), XsError> {
        let p = self.canonical(path.as_bytes(), false)?;
        let r = self.op_set_perms(None, false, &p, perms.to_vec());
        self.queue_new_events();
        r
    }

    /// Removes `path` and everything below it with dom0's privileges.
    pub fn rm(&mut self, path: &str) -> Result<(), XsError> {
        let p = self.canonical(path.as_bytes(), false)?;
        let r = self.op_rm(None, false, &p);
        self.queue_new_events();
        r
    }

    // ---- paths ----

    /// Validates a path from the guest and makes it absolute (`canonicalize` and
    /// `is_valid_nodename` of xenstored).
    fn canonical(&self, raw: &[u8], allow_special: bool) -> XsResult<String> {
        let s = core::str::from_utf8(raw).map_err(|_| XsError(EINVAL))?;
        if s.is_empty() {
            return err(EINVAL);
        }
        if s.starts_with('@') {
            return if allow_special && is_special(s) {
                Ok(String::from(s))
            } else {
                err(EINVAL)
            };
        }
        let abs = if s.starts_with('/') {
            String::from(s)
        } else {
            format!("{}/{s}", self.home)
        };
        if abs.len() > XENSTORE_ABS_PATH_MAX as usize {
            return err(EINVAL);
        }
        // Paths under a domain's home may be longer by the home's length (quota-max-path).
        let base = local_domain_prefix_len(&abs);
        if abs.len() > base + XENSTORE_REL_PATH_MAX as usize {
            return err(EINVAL);
        }
        if abs.contains("//") || (abs.len() > 1 && abs.ends_with('/')) {
            return err(EINVAL);
        }
        if !abs
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-@".contains(&b))
        {
            return err(EINVAL);
        }
        Ok(abs)
    }

    /// How an event reports `path` to a watch registered relative or absolute.
    fn event_path<'a>(&self, w: &Watch, path: &'a str) -> &'a str {
        if w.given_relative {
            path.strip_prefix(self.home.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .unwrap_or(path)
        } else {
            path
        }
    }

    // ---- the store, seen through an optional transaction ----

    /// Records that the transaction depends on `path` as the store has it now.
    fn note(&self, tx: &mut Option<&mut Transaction>, path: &str) -> XsResult<()> {
        if let Some(t) = tx.as_deref_mut() {
            if !t.seen.contains_key(path) && !t.overlay.contains_key(path) {
                if t.seen.len() + t.overlay.len() >= QUOTA_TRANSACTION_NODES {
                    return err(ENOSPC);
                }
                t.seen.insert(
                    String::from(path),
                    self.nodes.get(path).map(|n| n.generation),
                );
            }
        }
        Ok(())
    }

    fn get<'a>(&'a self, tx: &'a Option<&mut Transaction>, path: &str) -> Option<&'a Node> {
        match tx.as_deref().and_then(|t| t.overlay.get(path)) {
            Some(o) => o.as_ref(),
            None => self.nodes.get(path),
        }
    }

    /// Looks `path` up for the transaction, recording the dependency.
    fn fetch(&self, tx: &mut Option<&mut Transaction>, path: &str) -> XsResult<Option<Node>> {
        self.note(tx, path)?;
        Ok(self.get(tx, path).cloned())
    }

    fn put(&mut self, tx: &mut Option<&mut Transaction>, path: &str, node: Option<Node>) {
        match tx.as_deref_mut() {
            Some(t) => {
                t.overlay.insert(String::from(path), node);
            }
            None => match node {
                Some(mut n) => {
                    n.generation = self.bump();
                    self.nodes.insert(String::from(path), n);
                }
                None => {
                    self.nodes.remove(path);
                }
            },
        }
    }

    /// Marks `path`'s set of children as changed.
    fn touch(&mut self, tx: &mut Option<&mut Transaction>, path: &str) -> XsResult<()> {
        if let Some(n) = self.fetch(tx, path)? {
            self.put(tx, path, Some(n));
        }
        Ok(())
    }

    fn owned_nodes(&self, tx: &Option<&mut Transaction>) -> usize {
        let owned = |n: &Node| n.perms.first().is_some_and(|p| p.domid == self.domid);
        let mut count = self.nodes.values().filter(|n| owned(n)).count();
        if let Some(t) = tx.as_deref() {
            for (k, v) in &t.overlay {
                if self.nodes.get(k).is_some_and(owned) {
                    count = count.saturating_sub(1);
                }
                if v.as_ref().is_some_and(owned) {
                    count += 1;
                }
            }
        }
        count
    }

    /// The error for a missing node (`errno_from_parents`): EACCES if the nearest existing
    /// ancestor would not let the guest know, ENOENT otherwise.
    fn missing(
        &self,
        tx: &mut Option<&mut Transaction>,
        guest: bool,
        path: &str,
        need: u8,
    ) -> XsError {
        let mut p = parent_of(path);
        loop {
            if let Err(e) = self.note(tx, p) {
                return e;
            }
            if let Some(n) = self.get(tx, p) {
                let ok = !guest || perm_bits(&n.perms, self.domid) & need == need;
                return XsError(if ok { ENOENT } else { EACCES });
            }
            if p == "/" {
                return XsError(ENOENT);
            }
            p = parent_of(p);
        }
    }

    /// Fetches an existing node the guest needs `need` on.
    fn node_for(
        &self,
        tx: &mut Option<&mut Transaction>,
        guest: bool,
        path: &str,
        need: u8,
    ) -> XsResult<Node> {
        match self.fetch(tx, path)? {
            Some(n) => {
                if guest && perm_bits(&n.perms, self.domid) & need != need {
                    err(EACCES)
                } else {
                    Ok(n)
                }
            }
            None => Err(self.missing(tx, guest, path, need)),
        }
    }

    fn node_size(&self, tx: &Option<&mut Transaction>, path: &str, value: &[u8]) -> usize {
        value.len()
            + children(&self.nodes, tx.as_deref(), path)
                .iter()
                .map(|c| c.len() + 1)
                .sum::<usize>()
    }

    /// Writes (or, with `mkdir`, only creates) a node, creating its parents.
    fn op_write(
        &mut self,
        mut tx: Option<&mut Transaction>,
        guest: bool,
        path: &str,
        value: &[u8],
        mkdir: bool,
    ) -> XsResult<()> {
        if is_special(path) {
            return err(EINVAL);
        }
        if let Some(mut n) = self.fetch(&mut tx, path)? {
            if guest && perm_bits(&n.perms, self.domid) & PERM_WRITE == 0 {
                return err(EACCES);
            }
            if mkdir {
                return Ok(());
            }
            if guest && self.node_size(&tx, path, value) > QUOTA_NODE_SIZE {
                return err(ENOSPC);
            }
            n.value = value.to_vec();
            self.put(&mut tx, path, Some(n));
        } else {
            // The nearest existing ancestor decides, and gives its permissions.
            let mut missing: Vec<String> = alloc::vec![String::from(path)];
            let mut p = parent_of(path);
            let ancestor = loop {
                if let Some(n) = self.fetch(&mut tx, p)? {
                    break n;
                }
                missing.push(String::from(p));
                p = parent_of(p);
            };
            if guest {
                if perm_bits(&ancestor.perms, self.domid) & PERM_WRITE == 0 {
                    return err(EACCES);
                }
                if self.owned_nodes(&tx) + missing.len() > QUOTA_NODES
                    || value.len() > QUOTA_NODE_SIZE
                {
                    return err(ENOSPC);
                }
            }
            let mut perms = ancestor.perms.clone();
            if guest {
                if let Some(owner) = perms.first_mut() {
                    owner.domid = self.domid;
                }
            }
            self.touch(&mut tx, p)?;
            for (i, m) in missing.iter().rev().enumerate() {
                let last = i + 1 == missing.len();
                let node = Node {
                    value: if last { value.to_vec() } else { Vec::new() },
                    perms: perms.clone(),
                    generation: 0,
                };
                self.put(&mut tx, m, Some(node));
            }
        }
        self.fire(tx, path, false);
        Ok(())
    }

    fn op_rm(&mut self, mut tx: Option<&mut Transaction>, guest: bool, path: &str) -> XsResult<()> {
        if is_special(path) {
            return err(EINVAL);
        }
        let node = self.fetch(&mut tx, path)?;
        let Some(node) = node else {
            // Removing what is not there is fine if its parent is.
            let e = self.missing(&mut tx, guest, path, PERM_WRITE);
            if e.0 == ENOENT && self.fetch(&mut tx, parent_of(path))?.is_some() {
                return Ok(());
            }
            return Err(e);
        };
        if guest && perm_bits(&node.perms, self.domid) & PERM_WRITE == 0 {
            return err(EACCES);
        }
        if path == "/" {
            return err(EINVAL);
        }
        let doomed = descendants(&self.nodes, tx.as_deref(), path);
        for d in &doomed {
            self.note(&mut tx, d)?;
        }
        // Before the deletions: whether the guest may hear of them depends on the
        // permissions of what goes.
        self.fire_now_or_later(&mut tx, path, true);
        for d in doomed.iter().chain(core::iter::once(&String::from(path))) {
            self.put(&mut tx, d, None);
        }
        self.touch(&mut tx, parent_of(path))?;
        Ok(())
    }

    fn op_set_perms(
        &mut self,
        mut tx: Option<&mut Transaction>,
        guest: bool,
        path: &str,
        perms: Vec<Perm>,
    ) -> XsResult<()> {
        if is_special(path) {
            // Special nodes have no permissions a guest could change.
            return err(if guest { EACCES } else { EINVAL });
        }
        if perms.is_empty() {
            return err(EINVAL);
        }
        let mut n = self.node_for(&mut tx, guest, path, PERM_NONE)?;
        if guest {
            if n.perms.first().map(|p| p.domid) != Some(self.domid) {
                return err(EACCES);
            }
            if perms.first().map(|p| p.domid) != Some(self.domid) {
                return err(EPERM);
            }
            if perms.len() > QUOTA_PERMS {
                return err(ENOSPC);
            }
        }
        n.perms = perms;
        self.put(&mut tx, path, Some(n));
        self.fire(tx, path, false);
        Ok(())
    }

    // ---- watches ----

    fn fire(&mut self, mut tx: Option<&mut Transaction>, path: &str, removed: bool) {
        self.fire_now_or_later(&mut tx, path, removed);
    }

    fn fire_now_or_later(&mut self, tx: &mut Option<&mut Transaction>, path: &str, removed: bool) {
        match tx.as_deref_mut() {
            Some(t) => t.fired.push((String::from(path), removed)),
            None => {
                let perms = self.nodes.get(path).map(|n| n.perms.clone());
                self.raise(path, removed, perms.as_deref());
            }
        }
    }

    /// Queues the events a change of `path` causes (`fire_watches`): for watches on the
    /// node or above it, naming the node; when a subtree goes, also for watches below it,
    /// naming their own path. The guest only hears of nodes it may read.
    fn raise(&mut self, path: &str, removed: bool, perms: Option<&[Perm]>) {
        if let Some(p) = perms {
            if perm_bits(p, self.domid) & PERM_READ == 0 {
                return;
            }
        }
        let mut events = Vec::new();
        for w in &self.watches {
            let at_or_above = w.path == path
                || w.path == "/"
                || path
                    .strip_prefix(w.path.as_str())
                    .is_some_and(|r| r.starts_with('/'));
            let below = removed
                && w.path
                    .strip_prefix(path)
                    .is_some_and(|r| r.starts_with('/') || path == "/");
            let reported = if at_or_above {
                path
            } else if below {
                w.path.as_str()
            } else {
                continue;
            };
            events.push(watch_event(self.event_path(w, reported), &w.token));
        }
        self.new_events.extend(events);
    }

    /// Moves events raised so far to the output queue, dropping what does not fit.
    fn queue_new_events(&mut self) {
        for e in core::mem::take(&mut self.new_events) {
            if self.out_bytes + e.len() > EVENT_QUEUE_BYTES {
                self.dropped_events += 1;
                continue;
            }
            self.push_out(e);
        }
    }

    fn push_out(&mut self, m: Vec<u8>) {
        self.out_bytes += m.len();
        self.out.push_back(m);
    }

    // ---- requests ----

    /// Handles one request and returns everything queued for the guest after it: the
    /// reply first, then watch events (including ones raised earlier by the host side).
    /// For driving the daemon without a ring; do not mix with [`service`](Self::service),
    /// which sends the same queue.
    pub fn handle(
        &mut self,
        msg_type: u32,
        req_id: u32,
        tx_id: u32,
        payload: &[u8],
    ) -> Vec<(XsdSockmsg, Vec<u8>)> {
        let earlier = core::mem::take(&mut self.out);
        self.process(msg_type, req_id, tx_id, payload);
        let mut v = Vec::new();
        self.out_sent = 0;
        self.out_bytes = 0;
        let mut queued = core::mem::take(&mut self.out);
        queued.extend(earlier);
        for m in queued {
            if let (Some(h), Some(body)) = (decode_header(&m), m.get(HEADER_SIZE..)) {
                v.push((h, body.to_vec()));
            }
        }
        v
    }

    /// Handles one request, queueing its reply and the events it raised.
    fn process(&mut self, msg_type: u32, req_id: u32, tx_id: u32, payload: &[u8]) {
        let result = if payload.len() > XENSTORE_PAYLOAD_MAX as usize {
            err(E2BIG)
        } else {
            self.dispatch(msg_type, tx_id, payload)
        };
        let (ty, body) = match result {
            Ok(body) if body.len() <= XENSTORE_PAYLOAD_MAX as usize => (msg_type, body),
            Ok(_) => (XsdSockmsgType::Error as u32, error_body(XsError(E2BIG))),
            Err(e) => (XsdSockmsgType::Error as u32, error_body(e)),
        };
        self.push_out(encode(ty, req_id, tx_id, &body));
        self.queue_new_events();
    }

    fn dispatch(&mut self, msg_type: u32, tx_id: u32, payload: &[u8]) -> XsResult<Vec<u8>> {
        use XsdSockmsgType as T;
        let Some(ty) = XsdSockmsgType::from_u32(msg_type) else {
            return err(EINVAL);
        };
        match ty {
            T::Watch => return self.req_watch(payload),
            T::Unwatch => return self.req_unwatch(payload),
            T::TransactionStart => return self.req_transaction_start(tx_id, payload),
            T::TransactionEnd => return self.req_transaction_end(tx_id, payload),
            T::GetDomainPath => {
                let id = parse_decimal(one_arg(payload)?).ok_or(XsError(EINVAL))?;
                return Ok(with_nul(format!("/local/domain/{id}").as_bytes()));
            }
            T::ResetWatches => {
                self.watches.clear();
                self.transactions.clear();
                return Ok(ok_body());
            }
            T::Control
            | T::Introduce
            | T::Release
            | T::IsDomainIntroduced
            | T::Resume
            | T::SetTarget => return err(EACCES),
            T::WatchEvent | T::Error | T::Invalid => return err(EINVAL),
            T::Read
            | T::Write
            | T::Mkdir
            | T::Rm
            | T::Directory
            | T::DirectoryPart
            | T::GetPerms
            | T::SetPerms => {}
        }
        // The rest work inside a transaction when given one; it is taken out of the map
        // for the duration so the store and it can be borrowed separately.
        let mut taken = if tx_id == 0 {
            None
        } else {
            Some(self.transactions.remove(&tx_id).ok_or(XsError(ENOENT))?)
        };
        let r = self.store_request(ty, taken.as_mut(), payload);
        if let Some(t) = taken {
            self.transactions.insert(tx_id, t);
        }
        r
    }

    fn store_request(
        &mut self,
        ty: XsdSockmsgType,
        mut tx: Option<&mut Transaction>,
        payload: &[u8],
    ) -> XsResult<Vec<u8>> {
        use XsdSockmsgType as T;
        match ty {
            T::Read => {
                let p = self.canonical(one_arg(payload)?, false)?;
                Ok(self.node_for(&mut tx, true, &p, PERM_READ)?.value)
            }
            T::Write => {
                let nul = payload
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(XsError(EINVAL))?;
                let (path, rest) = payload.split_at(nul);
                let p = self.canonical(path, false)?;
                self.op_write(tx, true, &p, rest.get(1..).unwrap_or(&[]), false)?;
                Ok(ok_body())
            }
            T::Mkdir => {
                let p = self.canonical(one_arg(payload)?, false)?;
                self.op_write(tx, true, &p, b"", true)?;
                Ok(ok_body())
            }
            T::Rm => {
                let p = self.canonical(one_arg(payload)?, false)?;
                self.op_rm(tx, true, &p)?;
                Ok(ok_body())
            }
            T::Directory => {
                let p = self.canonical(one_arg(payload)?, false)?;
                self.node_for(&mut tx, true, &p, PERM_READ)?;
                let mut body = Vec::new();
                for c in children(&self.nodes, tx.as_deref(), &p) {
                    body.extend_from_slice(c.as_bytes());
                    body.push(0);
                }
                Ok(body)
            }
            T::DirectoryPart => {
                let args = n_args(payload, 2)?;
                let (path, off) = match args.as_slice() {
                    [a, b] => (*a, *b),
                    _ => return err(EINVAL),
                };
                let p = self.canonical(path, false)?;
                let off = parse_decimal(off).ok_or(XsError(EINVAL))? as usize;
                let node = self.node_for(&mut tx, true, &p, PERM_READ)?;
                let mut all = Vec::new();
                for c in children(&self.nodes, tx.as_deref(), &p) {
                    all.extend_from_slice(c.as_bytes());
                    all.push(0);
                }
                directory_part(node.generation, &all, off)
            }
            T::GetPerms => {
                let p = self.canonical(one_arg(payload)?, false)?;
                let n = self.node_for(&mut tx, true, &p, PERM_READ)?;
                let mut body = Vec::new();
                for perm in &n.perms {
                    body.extend_from_slice(perm.to_string().as_bytes());
                    body.push(0);
                }
                Ok(body)
            }
            T::SetPerms => {
                let args = split_strings(payload)?;
                let (path, perms) = args.split_first().ok_or(XsError(EINVAL))?;
                let p = self.canonical(path, false)?;
                let perms = perms
                    .iter()
                    .map(|s| Perm::parse(s))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(XsError(EINVAL))?;
                self.op_set_perms(tx, true, &p, perms)?;
                Ok(ok_body())
            }
            _ => err(EINVAL),
        }
    }

    fn req_watch(&mut self, payload: &[u8]) -> XsResult<Vec<u8>> {
        let args = n_args(payload, 2)?;
        let [path, token] = args.as_slice() else {
            return err(EINVAL);
        };
        let abs = self.canonical(path, true)?;
        if self
            .watches
            .iter()
            .any(|w| w.path == abs && w.token == *token)
        {
            return err(EEXIST);
        }
        if self.watches.len() >= QUOTA_WATCHES {
            return err(E2BIG);
        }
        let w = Watch {
            given_relative: !path.starts_with(b"/") && !path.starts_with(b"@"),
            path: abs,
            token: token.to_vec(),
        };
        // xenstored fires every new watch once, so clients need not read the node first.
        let ev = watch_event(self.event_path(&w, &w.path), &w.token);
        self.new_events.push(ev);
        self.watches.push(w);
        Ok(ok_body())
    }

    fn req_unwatch(&mut self, payload: &[u8]) -> XsResult<Vec<u8>> {
        let args = n_args(payload, 2)?;
        let [path, token] = args.as_slice() else {
            return err(EINVAL);
        };
        let abs = self.canonical(path, true)?;
        let i = self
            .watches
            .iter()
            .position(|w| w.path == abs && w.token == *token)
            .ok_or(XsError(ENOENT))?;
        self.watches.remove(i);
        Ok(ok_body())
    }

    fn req_transaction_start(&mut self, tx_id: u32, _payload: &[u8]) -> XsResult<Vec<u8>> {
        if tx_id != 0 {
            return err(EBUSY);
        }
        if self.transactions.len() >= QUOTA_TRANSACTIONS {
            return err(ENOSPC);
        }
        let mut id = self.next_tx_id;
        while id == 0 || self.transactions.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_tx_id = id.wrapping_add(1);
        self.transactions.insert(id, Transaction::default());
        Ok(with_nul(id.to_string().as_bytes()))
    }

    fn req_transaction_end(&mut self, tx_id: u32, payload: &[u8]) -> XsResult<Vec<u8>> {
        let commit = match one_arg(payload)? {
            b"T" => true,
            b"F" => false,
            _ => return err(EINVAL),
        };
        let t = self.transactions.remove(&tx_id).ok_or(XsError(ENOENT))?;
        if commit {
            self.commit(t)?;
        }
        Ok(ok_body())
    }

    fn commit(&mut self, t: Transaction) -> XsResult<()> {
        let stale = t
            .seen
            .iter()
            .any(|(p, g)| self.nodes.get(p).map(|n| n.generation) != *g);
        if stale {
            return err(EAGAIN);
        }
        // Permissions of removed nodes, for deciding whether their events may be seen.
        let old_perms: BTreeMap<&str, Vec<Perm>> = t
            .fired
            .iter()
            .filter(|(_, removed)| *removed)
            .filter_map(|(p, _)| Some((p.as_str(), self.nodes.get(p)?.perms.clone())))
            .collect();
        for (p, n) in &t.overlay {
            match n {
                Some(n) => {
                    let mut n = n.clone();
                    n.generation = self.bump();
                    self.nodes.insert(p.clone(), n);
                }
                None => {
                    self.nodes.remove(p);
                }
            }
        }
        let mut done = BTreeSet::new();
        for (p, removed) in &t.fired {
            if !done.insert((p.as_str(), *removed)) {
                continue;
            }
            let perms = if *removed {
                old_perms.get(p.as_str()).cloned()
            } else {
                self.nodes.get(p).map(|n| n.perms.clone())
            };
            self.raise(p, *removed, perms.as_deref());
        }
        Ok(())
    }

    // ---- the ring ----

    /// Advertises reconnection and error reporting and marks the ring connected. For the
    /// host to call once when it sets up the page, before the guest runs.
    pub fn init_ring(ring: &mut dyn RingPage) {
        ring.store_u32(
            OFF_SERVER_FEATURES,
            XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR,
        );
        ring.store_u32(OFF_ERROR, XENSTORE_ERROR_NONE);
        ring.store_u32(OFF_CONNECTION, XENSTORE_CONNECTED);
    }

    /// Serves the ring: handles every complete request (keeping a partly written one for
    /// later), then sends replies and watch events while `rsp` has room, keeping the rest
    /// queued. Returns whether anything was consumed or produced, i.e. whether the guest's
    /// store event channel should be notified. Bounded work per call.
    pub fn service(&mut self, ring: &mut dyn RingPage) -> bool {
        let mut progress = false;
        if ring.load_u32(OFF_CONNECTION) == XENSTORE_RECONNECT {
            self.reconnect(ring);
            progress = true;
        }
        if self.conn_error != XENSTORE_ERROR_NONE {
            return progress;
        }
        // Each round moves at least a byte or stops; the ring sizes bound the rounds, and
        // the limit only guards against a guest that keeps the ring busy from another vCPU.
        for _ in 0..64 {
            let moved = match self.send(ring) {
                Ok(sent) => self.receive(ring).map(|got| sent | got),
                Err(code) => Err(code),
            };
            let moved = match moved {
                Ok(m) => m,
                Err(code) => {
                    self.conn_error = code;
                    ring.store_u32(OFF_ERROR, code);
                    return true;
                }
            };
            if !moved {
                break;
            }
            progress = true;
        }
        progress
    }

    /// xenstore-ring.txt's reconnection: forget the connection's state, reset the ring.
    fn reconnect(&mut self, ring: &mut dyn RingPage) {
        self.watches.clear();
        self.transactions.clear();
        self.new_events.clear();
        self.out.clear();
        self.out_sent = 0;
        self.out_bytes = 0;
        self.partial.clear();
        self.conn_error = XENSTORE_ERROR_NONE;
        for off in [OFF_REQ_CONS, OFF_REQ_PROD, OFF_RSP_CONS, OFF_RSP_PROD] {
            ring.store_u32(off, 0);
        }
        ring.store_u32(OFF_ERROR, XENSTORE_ERROR_NONE);
        ring.store_u32(OFF_CONNECTION, XENSTORE_CONNECTED);
    }

    /// Copies queued output into `rsp`.
    fn send(&mut self, ring: &mut dyn RingPage) -> Result<bool, u32> {
        let mut moved = false;
        while let Some(front) = self.out.front() {
            let cons = ring.load_u32(OFF_RSP_CONS);
            let prod = ring.load_u32(OFF_RSP_PROD);
            let used = prod.wrapping_sub(cons) as usize;
            if used > XENSTORE_RING_SIZE {
                return Err(XENSTORE_ERROR_RINGIDX);
            }
            let start = mask_xenstore_idx(prod);
            let rest = front.get(self.out_sent..).unwrap_or(&[]);
            let n = rest
                .len()
                .min(XENSTORE_RING_SIZE - used)
                .min(XENSTORE_RING_SIZE - start);
            if n == 0 && !rest.is_empty() {
                break;
            }
            ring.store(OFF_RSP + start, rest.get(..n).unwrap_or(&[]));
            // n <= XENSTORE_RING_SIZE, so it fits.
            ring.store_u32(OFF_RSP_PROD, prod.wrapping_add(n as u32));
            self.out_sent += n;
            if self.out_sent >= front.len() {
                self.out_bytes = self.out_bytes.saturating_sub(front.len());
                self.out.pop_front();
                self.out_sent = 0;
            }
            moved = true;
        }
        Ok(moved)
    }

    /// Reads requests from `req` and handles the complete ones, while output is not
    /// backed up.
    fn receive(&mut self, ring: &mut dyn RingPage) -> Result<bool, u32> {
        let mut moved = false;
        let mut chunk = [0u8; XENSTORE_RING_SIZE];
        loop {
            let want = match self.partial.get(..HEADER_SIZE).and_then(decode_header) {
                None => HEADER_SIZE - self.partial.len(),
                Some(h) => HEADER_SIZE + h.len as usize - self.partial.len(),
            };
            if want == 0 {
                let Some(h) = decode_header(&self.partial) else {
                    return Err(XENSTORE_ERROR_PROTO);
                };
                let payload = core::mem::take(&mut self.partial);
                self.process(
                    h.r#type,
                    h.req_id,
                    h.tx_id,
                    payload.get(HEADER_SIZE..).unwrap_or(&[]),
                );
                moved = true;
                continue;
            }
            if self.out_bytes >= REPLY_BACKPRESSURE_BYTES {
                break;
            }
            let cons = ring.load_u32(OFF_REQ_CONS);
            let prod = ring.load_u32(OFF_REQ_PROD);
            let avail = prod.wrapping_sub(cons) as usize;
            if avail > XENSTORE_RING_SIZE {
                return Err(XENSTORE_ERROR_RINGIDX);
            }
            let start = mask_xenstore_idx(cons);
            let n = want.min(avail).min(XENSTORE_RING_SIZE - start);
            if n == 0 {
                break;
            }
            let buf = chunk.get_mut(..n).ok_or(XENSTORE_ERROR_PROTO)?;
            ring.load(OFF_REQ + start, buf);
            self.partial.extend_from_slice(buf);
            ring.store_u32(OFF_REQ_CONS, cons.wrapping_add(n as u32));
            moved = true;
            if self.partial.len() == HEADER_SIZE {
                match decode_header(&self.partial) {
                    Some(h) if h.len <= XENSTORE_PAYLOAD_MAX => {}
                    _ => return Err(XENSTORE_ERROR_PROTO),
                }
            }
        }
        Ok(moved)
    }
}

/// The length of `/local/domain/<n>` if `path` lies below (or is) such a home.
fn local_domain_prefix_len(path: &str) -> usize {
    const P: &str = "/local/domain/";
    let Some(rest) = path.strip_prefix(P) else {
        return 0;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    match rest.as_bytes().get(digits) {
        _ if digits == 0 => 0,
        None | Some(b'/') => P.len() + digits,
        _ => 0,
    }
}

/// Direct children of `path` in the store with the transaction's changes applied, sorted.
fn children(nodes: &BTreeMap<String, Node>, tx: Option<&Transaction>, path: &str) -> Vec<String> {
    let prefix = child_prefix(path);
    let name = |k: &str| -> Option<String> {
        let rest = k.strip_prefix(prefix.as_str())?;
        (!rest.is_empty() && !rest.contains('/')).then(|| String::from(rest))
    };
    let range = (Bound::Included(prefix.as_str()), Bound::Unbounded);
    let mut set = BTreeSet::new();
    for (k, _) in nodes.range::<str, _>(range) {
        if !k.starts_with(prefix.as_str()) {
            break;
        }
        if let Some(c) = name(k) {
            set.insert(c);
        }
    }
    if let Some(t) = tx {
        for (k, v) in t.overlay.range::<str, _>(range) {
            if !k.starts_with(prefix.as_str()) {
                break;
            }
            if let Some(c) = name(k) {
                if v.is_some() {
                    set.insert(c);
                } else {
                    set.remove(&c);
                }
            }
        }
    }
    set.into_iter().collect()
}

/// Every node strictly below `path`, with the transaction's changes applied.
fn descendants(
    nodes: &BTreeMap<String, Node>,
    tx: Option<&Transaction>,
    path: &str,
) -> Vec<String> {
    let prefix = child_prefix(path);
    let range = (Bound::Included(prefix.as_str()), Bound::Unbounded);
    let mut set = BTreeSet::new();
    for (k, _) in nodes.range::<str, _>(range) {
        if !k.starts_with(prefix.as_str()) {
            break;
        }
        set.insert(k.clone());
    }
    if let Some(t) = tx {
        for (k, v) in t.overlay.range::<str, _>(range) {
            if !k.starts_with(prefix.as_str()) {
                break;
            }
            if v.is_some() {
                set.insert(k.clone());
            } else {
                set.remove(k);
            }
        }
    }
    set.remove(path);
    set.into_iter().collect()
}

/// XS_DIRECTORY_PART's reply: the node's generation, then as many whole child names from
/// byte `off` of the full list as fit, then an empty string if the list ends there.
fn directory_part(generation: u64, all: &[u8], off: usize) -> XsResult<Vec<u8>> {
    let mut body = with_nul(generation.to_string().as_bytes());
    let rest = match all.get(off..) {
        Some(r) => r,
        None => return err(EINVAL),
    };
    let room = (XENSTORE_PAYLOAD_MAX as usize).saturating_sub(body.len() + 1);
    let mut taken = 0;
    for name in rest.split_inclusive(|&b| b == 0) {
        if taken + name.len() > room {
            break;
        }
        taken += name.len();
    }
    body.extend_from_slice(rest.get(..taken).unwrap_or(&[]));
    if taken == rest.len() {
        body.push(0);
    }
    Ok(body)
}

fn watch_event(path: &str, token: &[u8]) -> Vec<u8> {
    let mut body = with_nul(path.as_bytes());
    body.extend_from_slice(token);
    body.push(0);
    encode(XsdSockmsgType::WatchEvent as u32, 0, 0, &body)
}

fn with_nul(s: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s);
    v.push(0);
    v
}

fn ok_body() -> Vec<u8> {
    with_nul(b"OK")
}

fn error_body(e: XsError) -> Vec<u8> {
    with_nul(e.name().as_bytes())
}

/// The NUL-terminated strings of a payload; the last must be terminated.
fn split_strings(payload: &[u8]) -> XsResult<Vec<&[u8]>> {
    let body = payload.strip_suffix(&[0]).ok_or(XsError(EINVAL))?;
    Ok(body.split(|&b| b == 0).collect())
}

/// Exactly `n` NUL-terminated strings.
fn n_args(payload: &[u8], n: usize) -> XsResult<Vec<&[u8]>> {
    let v = split_strings(payload)?;
    if v.len() == n {
        Ok(v)
    } else {
        err(EINVAL)
    }
}

/// A payload that is a single NUL-terminated string (xenstored's `onearg`).
fn one_arg(payload: &[u8]) -> XsResult<&[u8]> {
    let body = payload.strip_suffix(&[0]).ok_or(XsError(EINVAL))?;
    if body.contains(&0) {
        return err(EINVAL);
    }
    Ok(body)
}
