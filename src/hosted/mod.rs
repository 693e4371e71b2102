//! The hosted build: what `xdbt` needs from Linux to run guests with no Xen.
//!
//! - [`window`]: the guest address-space window (4 GiB of host address space per guest
//!   address space; host page protection enforces the guest's).
//! - [`machine`]: one guest vCPU with its window and translation engine.
//! - [`signals`]: turning host faults in translated code into precise guest faults.
//! - [`snippet`] / [`oracle`]: running code fragments under the translator and natively,
//!   for differential tests.
//! - [`linux`]: the Linux i386 user-mode runner (`xdbt run-linux`).

pub mod execmem;
pub mod linux;
pub mod machine;
pub mod oracle;
pub mod pvrun;
pub mod signals;
pub mod snippet;
pub mod window;

pub use machine::Machine;
pub use window::Window;

/// Host-side errors of the hosted runner (never guest faults: those are `exit::Fault`).
#[derive(Debug)]
pub enum Error {
    /// A host system call failed.
    Os(&'static str, std::io::Error),
    /// A guest range was not page aligned or runs past 4 GiB.
    BadRange { addr: u32, len: u64 },
    /// A guest page that must be mapped is not.
    NotMapped(u32),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Os(what, e) => write!(f, "{what} failed: {e}"),
            Error::BadRange { addr, len } => {
                write!(f, "Bad guest range {addr:#x}+{len:#x}")
            }
            Error::NotMapped(a) => write!(f, "Guest page {a:#x} is not mapped"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
