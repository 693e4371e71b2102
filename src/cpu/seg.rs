//! Segment registers and descriptors (SDM Vol. 3A, 3.4-3.5).

/// Segment register numbers in the order the ModRM `reg` field encodes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SegReg {
    Es = 0,
    Cs = 1,
    Ss = 2,
    Ds = 3,
    Fs = 4,
    Gs = 5,
}

impl SegReg {
    pub const ALL: [SegReg; 6] = [
        SegReg::Es,
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Fs,
        SegReg::Gs,
    ];
    pub fn from_index(i: u8) -> Option<SegReg> {
        Self::ALL.get(usize::from(i)).copied()
    }
}

/// A segment register with its hidden descriptor cache.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Segment {
    pub selector: u16,
    /// Descriptor bits 40..55 (type, S, DPL, P, AVL, L, D/B, G) as in the `ar` of VMX.
    pub attr: u16,
    pub base: u32,
    /// Byte-granular limit (already scaled by G).
    pub limit: u32,
}

pub const ATTR_PRESENT: u16 = 1 << 7;
pub const ATTR_S: u16 = 1 << 4;
pub const ATTR_CODE: u16 = 1 << 3;
pub const ATTR_DB: u16 = 1 << 14;
pub const ATTR_G: u16 = 1 << 15;

impl Segment {
    /// A flat 4 GiB segment: data (read/write) or code (execute/read) at `dpl`.
    pub fn flat(selector: u16, code: bool, dpl: u8) -> Self {
        let ty: u16 = if code { 0xb } else { 0x3 };
        Self {
            selector,
            attr: ty | ATTR_S | (u16::from(dpl & 3) << 5) | ATTR_PRESENT | ATTR_DB | ATTR_G,
            base: 0,
            limit: 0xffff_ffff,
        }
    }

    /// Decode the cache from an 8-byte GDT/LDT descriptor.
    pub fn from_descriptor(selector: u16, d: u64) -> Self {
        let lo = d as u32;
        let hi = (d >> 32) as u32;
        let base = (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff00_0000);
        let raw_limit = (lo & 0xffff) | (hi & 0x000f_0000);
        let attr = ((hi >> 8) & 0xf0ff) as u16;
        let limit = if attr & ATTR_G != 0 {
            (raw_limit << 12) | 0xfff
        } else {
            raw_limit
        };
        Self {
            selector,
            attr,
            base,
            limit,
        }
    }

    pub fn present(&self) -> bool {
        self.attr & ATTR_PRESENT != 0
    }
    pub fn dpl(&self) -> u8 {
        ((self.attr >> 5) & 3) as u8
    }
    pub fn is_code(&self) -> bool {
        self.attr & ATTR_S != 0 && self.attr & ATTR_CODE != 0
    }
    pub fn is_null(&self) -> bool {
        self.selector & !3 == 0
    }
    pub fn is_flat(&self) -> bool {
        self.present() && self.base == 0 && self.limit == 0xffff_ffff && !self.expand_down()
    }
    pub fn expand_down(&self) -> bool {
        self.attr & ATTR_S != 0 && self.attr & ATTR_CODE == 0 && self.attr & 0x4 != 0
    }
    pub fn writable(&self) -> bool {
        self.attr & ATTR_S != 0 && self.attr & ATTR_CODE == 0 && self.attr & 0x2 != 0
    }
    pub fn readable(&self) -> bool {
        !self.is_code() || self.attr & 0x2 != 0
    }
    pub fn big(&self) -> bool {
        self.attr & ATTR_DB != 0
    }
}
