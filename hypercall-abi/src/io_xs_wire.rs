//! Xenstore wire protocol and shared ring: xen/include/public/io/xs_wire.h.
//!
//! Every message is an [`XsdSockmsg`] header followed by `len` bytes of
//! payload (usually NUL-terminated strings); errors travel as the errno's
//! *name* ("EINVAL"), so numeric values never cross the wire.

use crate::errno;
use core::fmt;

macro_rules! xs_types {
    ($($(#[$doc:meta])* $variant:ident = $cname:ident = $value:literal,)*) => {
        /// `enum xsd_sockmsg_type`: the `type` of an [`XsdSockmsg`].
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum XsdSockmsgType {
            $($(#[$doc])* $variant = $value,)*
        }

        impl XsdSockmsgType {
            /// Every message type, in value order.
            pub const ALL: &'static [XsdSockmsgType] = &[$(XsdSockmsgType::$variant,)*];

            /// The type with wire value `value`.
            pub const fn from_u32(value: u32) -> Option<Self> {
                match value {
                    $($value => Some(XsdSockmsgType::$variant),)*
                    _ => None,
                }
            }

            /// Xen's name, e.g. "XS_READ".
            pub const fn name(self) -> &'static str {
                match self {
                    $(XsdSockmsgType::$variant => stringify!($cname),)*
                }
            }
        }
    };
}

xs_types! {
    /// Also `XS_DEBUG`: implementation-defined control commands.
    Control = XS_CONTROL = 0,
    Directory = XS_DIRECTORY = 1,
    Read = XS_READ = 2,
    GetPerms = XS_GET_PERMS = 3,
    Watch = XS_WATCH = 4,
    Unwatch = XS_UNWATCH = 5,
    TransactionStart = XS_TRANSACTION_START = 6,
    TransactionEnd = XS_TRANSACTION_END = 7,
    Introduce = XS_INTRODUCE = 8,
    Release = XS_RELEASE = 9,
    GetDomainPath = XS_GET_DOMAIN_PATH = 10,
    Write = XS_WRITE = 11,
    Mkdir = XS_MKDIR = 12,
    Rm = XS_RM = 13,
    SetPerms = XS_SET_PERMS = 14,
    /// Server to client only: a watch fired.
    WatchEvent = XS_WATCH_EVENT = 15,
    /// Server to client only: the payload is an errno name.
    Error = XS_ERROR = 16,
    IsDomainIntroduced = XS_IS_DOMAIN_INTRODUCED = 17,
    Resume = XS_RESUME = 18,
    SetTarget = XS_SET_TARGET = 19,
    // 20 was XS_RESTRICT, removed.
    ResetWatches = XS_RESET_WATCHES = 21,
    DirectoryPart = XS_DIRECTORY_PART = 22,
    /// Guaranteed never to be a valid type.
    Invalid = XS_INVALID = 0xffff,
}

/// `XS_DEBUG`, the old name of XS_CONTROL.
pub const XS_DEBUG: XsdSockmsgType = XsdSockmsgType::Control;
/// `XS_TYPE_COUNT`: one more than the highest valid type.
pub const XS_TYPE_COUNT: u32 = 23;

/// `enum xs_watch_type`: position of each string in an XS_WATCH_EVENT payload.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsWatchType {
    Path = 0,
    Token = 1,
}

// Payload of an XS_WRITE's first string when writing with flags.
pub const XS_WRITE_NONE: &str = "NONE";
pub const XS_WRITE_CREATE: &str = "CREATE";
pub const XS_WRITE_CREATE_EXCL: &str = "CREATE|EXCL";

/// `struct xsd_errors`: an errno and the name sent on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XsdError {
    /// The Xen errno (the header uses the host's; they agree on these).
    pub errnum: i32,
    pub errstring: &'static str,
}

macro_rules! xsd_errors {
    ($($name:ident),* $(,)?) => {
        /// `xsd_errors[]`, in the header's order (new errors are appended).
        pub const XSD_ERRORS: &[XsdError] = &[
            $(XsdError { errnum: errno::$name, errstring: stringify!($name) },)*
        ];
    };
}

xsd_errors![
    EINVAL, EACCES, EEXIST, EISDIR, ENOENT, ENOMEM, ENOSPC, EIO, ENOTEMPTY, ENOSYS, EROFS, EBUSY,
    EAGAIN, EISCONN, E2BIG, EPERM,
];

/// The wire string for `errnum`. Unknown errors are sent as "EINVAL", as
/// xenstored does.
pub fn xsd_error_string(errnum: i32) -> &'static str {
    XSD_ERRORS
        .iter()
        .find(|e| e.errnum == errnum)
        .map_or("EINVAL", |e| e.errstring)
}

/// The errno for a wire error string, if the table has it.
pub fn xsd_error_errno(s: &str) -> Option<i32> {
    XSD_ERRORS
        .iter()
        .find(|e| e.errstring == s)
        .map(|e| e.errnum)
}

/// `struct xsd_sockmsg`: the 16-byte header of every message.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XsdSockmsg {
    /// An [`XsdSockmsgType`] value; kept raw since it arrives from the guest.
    pub r#type: u32,
    /// Echoed in the reply.
    pub req_id: u32,
    /// Transaction id, 0 outside transactions.
    pub tx_id: u32,
    /// Payload bytes that follow.
    pub len: u32,
}

// Limits and ring.
pub const XENSTORE_RING_SIZE: usize = 1024;
/// `XENSTORE_RING_IDX`.
pub type XenstoreRingIdx = u32;

/// `MASK_XENSTORE_IDX`.
pub const fn mask_xenstore_idx(idx: XenstoreRingIdx) -> usize {
    // u32 -> usize widens on every target this crate supports.
    idx as usize & (XENSTORE_RING_SIZE - 1)
}

/// Largest payload; exceeding it is a protocol violation.
pub const XENSTORE_PAYLOAD_MAX: u32 = 4096;
pub const XENSTORE_ABS_PATH_MAX: u32 = 3072;
pub const XENSTORE_REL_PATH_MAX: u32 = 2048;

// server_features bits.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
// connection values.
pub const XENSTORE_CONNECTED: u32 = 0;
pub const XENSTORE_RECONNECT: u32 = 1;
// error values.
pub const XENSTORE_ERROR_NONE: u32 = 0;
pub const XENSTORE_ERROR_COMM: u32 = 1;
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
pub const XENSTORE_ERROR_PROTO: u32 = 3;

/// `struct xenstore_domain_interface`: the xenstore page.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct XenstoreDomainInterface {
    /// Requests to the daemon.
    pub req: [u8; XENSTORE_RING_SIZE],
    /// Replies and watch events.
    pub rsp: [u8; XENSTORE_RING_SIZE],
    pub req_cons: XenstoreRingIdx,
    pub req_prod: XenstoreRingIdx,
    pub rsp_cons: XenstoreRingIdx,
    pub rsp_prod: XenstoreRingIdx,
    /// `XENSTORE_SERVER_FEATURE_*`, written by the server.
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` / `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// `XENSTORE_ERROR_*`, with XENSTORE_SERVER_FEATURE_ERROR.
    pub error: u32,
}

impl Default for XenstoreDomainInterface {
    // Written out because `Default` stops at 32-element arrays.
    fn default() -> Self {
        Self {
            req: [0; XENSTORE_RING_SIZE],
            rsp: [0; XENSTORE_RING_SIZE],
            req_cons: 0,
            req_prod: 0,
            rsp_cons: 0,
            rsp_prod: 0,
            server_features: 0,
            connection: 0,
            error: 0,
        }
    }
}

impl fmt::Debug for XenstoreDomainInterface {
    // The 2 KiB of ring bytes would drown the indices, which are what matter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XenstoreDomainInterface")
            .field("req_cons", &self.req_cons)
            .field("req_prod", &self.req_prod)
            .field("rsp_cons", &self.rsp_cons)
            .field("rsp_prod", &self.rsp_prod)
            .field("server_features", &self.server_features)
            .field("connection", &self.connection)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}
