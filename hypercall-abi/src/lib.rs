//! The Xen PV32 guest ABI (x86_32 layouts, as a 32-bit PV guest of Xen 4.17
//! sees them) as Rust types.
//!
//! One module per public Xen header; each cites the header it mirrors. Names
//! of constants are Xen's own; struct names are Xen's in CamelCase; field
//! names are Xen's (`r#ref`, `r#in`, `r#type` where they clash with Rust
//! keywords). Layouts are checked against the real headers compiled with
//! `gcc -m32` by `tests/layout.rs`; see DESIGN.md.
//!
//! `no_std`, no dependencies: the crate is linked into Xen as well as into the
//! hosted runner.

#![no_std]

pub mod arch_x86_32;
pub mod callback;
pub mod errno;
pub mod event_channel;
pub mod grant_table;
pub mod io_console;
pub mod io_xs_wire;
pub mod memory;
pub mod physdev;
pub mod sched;
pub mod vcpu;
pub mod version;
pub mod xen;

pub use arch_x86_32::{GuestHandle, XenPfn, XenUlong};
pub use xen::{DomId, Hypercall};
