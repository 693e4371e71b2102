//! Error numbers: xen/include/public/errno.h.
//!
//! Hypercalls return `-E*` in EAX. Xen's values are its own ABI (they happen
//! to match Linux's), so a host's libc values must never leak to the guest.

macro_rules! xen_errnos {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        $($(#[$doc])* pub const $name: i32 = $value;)*

        /// Every errno the header lists, in its order: `(name, value)`.
        pub const XEN_ERRNOS: &[(&str, i32)] = &[$((stringify!($name), $value),)*];
    };
}

xen_errnos! {
    /// Operation not permitted.
    EPERM = 1,
    /// No such file or directory.
    ENOENT = 2,
    /// No such process.
    ESRCH = 3,
    /// Interrupted system call. Xen-internal: never returned to a guest.
    EINTR = 4,
    /// I/O error.
    EIO = 5,
    /// No such device or address.
    ENXIO = 6,
    /// Argument list too long.
    E2BIG = 7,
    /// Exec format error.
    ENOEXEC = 8,
    /// Bad file number.
    EBADF = 9,
    /// No child processes.
    ECHILD = 10,
    /// Try again.
    EAGAIN = 11,
    /// Operation would block; aliases EAGAIN.
    EWOULDBLOCK = 11,
    /// Out of memory.
    ENOMEM = 12,
    /// Permission denied.
    EACCES = 13,
    /// Bad address: a guest buffer could not be copied.
    EFAULT = 14,
    /// Device or resource busy.
    EBUSY = 16,
    /// File exists.
    EEXIST = 17,
    /// Cross-device link.
    EXDEV = 18,
    /// No such device.
    ENODEV = 19,
    /// Not a directory.
    ENOTDIR = 20,
    /// Is a directory.
    EISDIR = 21,
    /// Invalid argument.
    EINVAL = 22,
    /// File table overflow.
    ENFILE = 23,
    /// Too many open files.
    EMFILE = 24,
    /// No space left on device.
    ENOSPC = 28,
    /// Read-only file system.
    EROFS = 30,
    /// Too many links.
    EMLINK = 31,
    /// Math argument out of domain.
    EDOM = 33,
    /// Math result not representable.
    ERANGE = 34,
    /// Resource deadlock would occur.
    EDEADLK = 35,
    /// Aliases EDEADLK.
    EDEADLOCK = 35,
    /// File name too long.
    ENAMETOOLONG = 36,
    /// No record locks available.
    ENOLCK = 37,
    /// Function not implemented: the answer to an unknown hypercall or sub-op.
    ENOSYS = 38,
    /// Directory not empty.
    ENOTEMPTY = 39,
    /// No data available.
    ENODATA = 61,
    /// Timer expired (VCPUOP_set_singleshot_timer with VCPU_SSHOTTMR_future).
    ETIME = 62,
    /// Not a data message.
    EBADMSG = 74,
    /// Value too large for defined data type.
    EOVERFLOW = 75,
    /// Illegal byte sequence.
    EILSEQ = 84,
    /// Restart the system call. Xen-internal: never returned to a guest.
    ERESTART = 85,
    /// Socket operation on non-socket.
    ENOTSOCK = 88,
    /// Message too large.
    EMSGSIZE = 90,
    /// Operation not supported.
    EOPNOTSUPP = 95,
    /// Address already in use.
    EADDRINUSE = 98,
    /// Cannot assign requested address.
    EADDRNOTAVAIL = 99,
    /// No buffer space available.
    ENOBUFS = 105,
    /// Transport endpoint is already connected.
    EISCONN = 106,
    /// Transport endpoint is not connected.
    ENOTCONN = 107,
    /// Connection timed out.
    ETIMEDOUT = 110,
    /// Connection refused.
    ECONNREFUSED = 111,
}

/// The name of a Xen errno value (the first, for aliased values), e.g. for
/// logs or the xenstore wire format.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    XEN_ERRNOS
        .iter()
        .find(|&&(_, v)| v == errno)
        .map(|&(name, _)| name)
}

/// The errno named `name` (e.g. "EINVAL").
pub fn errno_from_name(name: &str) -> Option<i32> {
    XEN_ERRNOS
        .iter()
        .find(|&&(n, _)| n == name)
        .map(|&(_, v)| v)
}
