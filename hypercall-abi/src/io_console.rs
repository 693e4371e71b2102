//! PV console ring: xen/include/public/io/console.h.
//!
//! One page shared between the guest and the console backend; `in` carries
//! input to the guest, `out` output from it. Indices run freely and are
//! masked by the ring size, so `prod - cons` is the fill level.

use core::fmt;

/// `XENCONS_RING_IDX`.
pub type XenconsRingIdx = u32;

/// Size of `XenconsInterface::in`.
pub const XENCONS_IN_SIZE: usize = 1024;
/// Size of `XenconsInterface::out`.
pub const XENCONS_OUT_SIZE: usize = 2048;

/// `struct xencons_interface`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct XenconsInterface {
    /// Backend to guest.
    pub r#in: [u8; XENCONS_IN_SIZE],
    /// Guest to backend.
    pub out: [u8; XENCONS_OUT_SIZE],
    pub in_cons: XenconsRingIdx,
    pub in_prod: XenconsRingIdx,
    pub out_cons: XenconsRingIdx,
    pub out_prod: XenconsRingIdx,
}

impl XenconsInterface {
    /// `MASK_XENCONS_IDX(idx, in)`.
    pub const fn mask_in(idx: XenconsRingIdx) -> usize {
        mask_xencons_idx(idx, XENCONS_IN_SIZE)
    }

    /// `MASK_XENCONS_IDX(idx, out)`.
    pub const fn mask_out(idx: XenconsRingIdx) -> usize {
        mask_xencons_idx(idx, XENCONS_OUT_SIZE)
    }
}

/// `MASK_XENCONS_IDX(idx, ring)` for a ring of `ring_len` bytes (a power of two).
pub const fn mask_xencons_idx(idx: XenconsRingIdx, ring_len: usize) -> usize {
    // u32 -> usize widens on every target this crate supports.
    idx as usize & (ring_len - 1)
}

impl Default for XenconsInterface {
    // Written out because `Default` stops at 32-element arrays.
    fn default() -> Self {
        Self {
            r#in: [0; XENCONS_IN_SIZE],
            out: [0; XENCONS_OUT_SIZE],
            in_cons: 0,
            in_prod: 0,
            out_cons: 0,
            out_prod: 0,
        }
    }
}

impl fmt::Debug for XenconsInterface {
    // The 3 KiB of ring bytes would drown the indices, which are what matter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XenconsInterface")
            .field("in_cons", &self.in_cons)
            .field("in_prod", &self.in_prod)
            .field("out_cons", &self.out_cons)
            .field("out_prod", &self.out_prod)
            .finish_non_exhaustive()
    }
}
