//! `core::fmt` onto Xen's `printk`: format into a fixed buffer, then print it with "%s",
//! so no Rust string is ever taken as a format by Xen.

use crate::ffi;
use core::ffi::c_char;
use core::fmt::{self, Write};

/// A NUL-terminated line of at most `N - 1` bytes; longer output is cut.
pub struct Line<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Line<N> {
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// The text with its terminating NUL, for `%s`.
    pub fn as_c_str(&mut self) -> *const c_char {
        self.buf[self.len] = 0;
        self.buf.as_ptr().cast()
    }
}

impl<const N: usize> Write for Line<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - 1 - self.len;
        let take = s.len().min(room);
        // Keep one byte for the NUL; a cut inside a UTF-8 sequence only affects the log.
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// Print one line on Xen's console.
pub fn printk_line(args: fmt::Arguments<'_>) {
    let mut line = Line::<256>::new();
    // Write for Line never fails; a formatting impl that fails just cuts the line.
    let _ = line.write_fmt(args);
    printk_cstr(&mut line);
}

/// Print a line built with `write!` on Xen's console.
pub fn printk_cstr<const N: usize>(line: &mut Line<N>) {
    // SAFETY: the format is a literal with one %s, matched by a NUL-terminated string that
    // lives until printk returns.
    unsafe { ffi::printk(c"%s\n".as_ptr(), line.as_c_str()) }
}

macro_rules! xen_println {
    ($($arg:tt)*) => {
        $crate::print::printk_line(format_args!($($arg)*))
    };
}
pub(crate) use xen_println;
