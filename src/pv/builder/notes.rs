//! Xen ELF notes and the legacy `__xen_guest` string, parsed as libelf does
//! (xen/common/libelf/libelf-dominfo.c: `elf_xen_parse`, `elf_xen_parse_note`,
//! `elf_xen_parse_features`, `elf_xen_parse_guest_info`; note types from
//! xen/include/public/elfnote.h).
//!
//! Where libelf reads past a note's descriptor (it takes strings up to the next NUL anywhere
//! in the image), this parser stops at the end of the descriptor: an unterminated string is
//! accepted as the whole descriptor. Notes whose declared sizes run past their segment or
//! section are an error rather than being read out of the neighbouring bytes.

use super::elf::{range, u16_at, u32_at, u64_at, Elf, PT_NOTE, SHT_NOTE};
use super::BuildError;
use core::fmt;
use hypercall_abi::version::{
    XENFEAT_auto_translated_physmap, XENFEAT_dom0, XENFEAT_hvm_callback_vector,
    XENFEAT_pae_pgdir_above_4gb, XENFEAT_supervisor_mode_kernel,
    XENFEAT_writable_descriptor_tables, XENFEAT_writable_page_tables,
};

// xen/include/public/elfnote.h
pub const XEN_ELFNOTE_ENTRY: u32 = 1;
pub const XEN_ELFNOTE_HYPERCALL_PAGE: u32 = 2;
pub const XEN_ELFNOTE_VIRT_BASE: u32 = 3;
pub const XEN_ELFNOTE_PADDR_OFFSET: u32 = 4;
pub const XEN_ELFNOTE_XEN_VERSION: u32 = 5;
pub const XEN_ELFNOTE_GUEST_OS: u32 = 6;
pub const XEN_ELFNOTE_GUEST_VERSION: u32 = 7;
pub const XEN_ELFNOTE_LOADER: u32 = 8;
pub const XEN_ELFNOTE_PAE_MODE: u32 = 9;
pub const XEN_ELFNOTE_FEATURES: u32 = 10;
pub const XEN_ELFNOTE_BSD_SYMTAB: u32 = 11;
pub const XEN_ELFNOTE_HV_START_LOW: u32 = 12;
pub const XEN_ELFNOTE_L1_MFN_VALID: u32 = 13;
pub const XEN_ELFNOTE_SUSPEND_CANCEL: u32 = 14;
pub const XEN_ELFNOTE_INIT_P2M: u32 = 15;
pub const XEN_ELFNOTE_MOD_START_PFN: u32 = 16;
pub const XEN_ELFNOTE_SUPPORTED_FEATURES: u32 = 17;
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// libelf's `ELF_MAX_TOTAL_NOTE_COUNT`: a bound on the work hostile headers can cause
/// (many sections may cover the same bytes).
const MAX_TOTAL_NOTES: u32 = 65536;
/// An ELF note header: namesz, descsz, type.
const NHDR_SIZE: usize = 12;

/// `XEN_ELFNOTE_PAE_MODE` (`enum xen_pae_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PaeMode {
    /// No note, or a value libelf does not recognise: a non-PAE kernel (xen-3.0-x86_32).
    #[default]
    No,
    /// Legacy `PAE=yes`: PAE, but the L3 must sit below 4 GiB.
    Yes,
    /// Note "yes" (or legacy `PAE=yes[extended-cr3]`): the L3 may be anywhere.
    ExtendedCr3,
    /// A string containing "bimodal".
    Bimodal,
}

/// Where the Xen metadata came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotesSource {
    /// PT_NOTE program headers.
    Segments,
    /// SHT_NOTE sections (the kernel has no PT_NOTE with Xen notes).
    Sections,
    /// The legacy `__xen_guest` section string.
    LegacyGuestInfo,
}

/// A string value cut to 15 bytes, as libelf's `safe_strcpy` into a `char[16]` does.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct NoteStr {
    buf: [u8; 15],
    len: u8,
}

impl NoteStr {
    fn new(s: &[u8]) -> Self {
        let mut n = NoteStr::default();
        let len = s.len().min(n.buf.len());
        n.buf[..len].copy_from_slice(&s[..len]);
        // len <= 15.
        n.len = len as u8;
        n
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for NoteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.as_bytes() {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for NoteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// What the kernel's Xen notes (or `__xen_guest` string) said: libelf's
/// `struct elf_dom_parms` before the address calculation. Numeric values keep the width
/// the note gave (up to 64 bits); `None` is libelf's `UNSET_ADDR`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XenNotes {
    pub entry: Option<u64>,
    /// A virtual address (the legacy string's page number is converted, as libelf does).
    pub hypercall_page: Option<u64>,
    pub virt_base: Option<u64>,
    pub paddr_offset: Option<u64>,
    pub hv_start_low: Option<u64>,
    /// Ignored for 32-bit guests (libxc's x86_32p hooks have `p2m_base_supported = 0`),
    /// but still checked against the kernel image as libelf does.
    pub init_p2m: Option<u64>,
    pub suspend_cancel: Option<u64>,
    pub phys32_entry: Option<u32>,
    /// `MOD_START_PFN` non-zero: the ramdisk goes after the initial mapping, unmapped, and
    /// `mod_start` is its first pfn.
    pub mod_start_pfn: bool,
    pub pae: PaeMode,
    pub bsd_symtab: bool,
    /// `XENFEAT_*` bits (one submap on x86).
    pub features_supported: u32,
    pub features_required: u32,
    pub loader: NoteStr,
    pub guest_os: NoteStr,
    pub guest_version: NoteStr,
    pub xen_version: NoteStr,
    /// `None` when the kernel had neither Xen notes nor `__xen_guest`.
    pub source: Option<NotesSource>,
    /// Notes named "Xen" (of any type, known or not) that were read.
    pub xen_note_count: u32,
}

/// libelf's `elf_xen_feature_names`.
const FEATURE_NAMES: [(u32, &[u8]); 7] = [
    (XENFEAT_writable_page_tables, b"writable_page_tables"),
    (
        XENFEAT_writable_descriptor_tables,
        b"writable_descriptor_tables",
    ),
    (XENFEAT_auto_translated_physmap, b"auto_translated_physmap"),
    (XENFEAT_supervisor_mode_kernel, b"supervisor_mode_kernel"),
    (XENFEAT_pae_pgdir_above_4gb, b"pae_pgdir_above_4gb"),
    (XENFEAT_hvm_callback_vector, b"hvm_callback_vector"),
    (XENFEAT_dom0, b"dom0"),
];

/// `elf_xen_parse_features`: '|'-separated names, '!' marks a required one. Tokens are cut
/// into 63-byte pieces as libelf's buffer does. `Err` for an unknown required feature when
/// `required` is given.
pub fn parse_features(
    s: &[u8],
    supported: &mut u32,
    mut required: Option<&mut u32>,
) -> Result<(), ()> {
    let s = until_nul(s);
    let mut pos = 0;
    while pos < s.len() {
        let mut feature = [0u8; 63];
        let mut flen = 0;
        let mut len = 0;
        loop {
            if len >= feature.len() {
                break;
            }
            let Some(&c) = s.get(pos + len) else { break };
            if c == b'|' {
                len += 1;
                break;
            }
            feature[flen] = c;
            flen += 1;
            len += 1;
        }
        pos += len;
        let feature = &feature[..flen];
        let (name, is_required) = match feature.split_first() {
            Some((b'!', rest)) => (rest, true),
            _ => (feature, false),
        };
        match FEATURE_NAMES.iter().find(|(_, n)| *n == name) {
            Some(&(bit, _)) => {
                *supported |= 1 << bit;
                if is_required {
                    if let Some(r) = required.as_deref_mut() {
                        *r |= 1 << bit;
                    }
                }
            }
            None if is_required && required.is_some() => return Err(()),
            None => {}
        }
    }
    Ok(())
}

fn until_nul(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(n) => &s[..n],
        None => s,
    }
}

fn numeric(name: &'static str, desc: &[u8]) -> Result<u64, BuildError> {
    // elf_note_numeric: 1, 2, 4 or 8 bytes, little-endian.
    let v = match desc.len() {
        1 => Some(u64::from(desc[0])),
        2 => u16_at(desc, 0).map(u64::from),
        4 => u32_at(desc, 0).map(u64::from),
        8 => u64_at(desc, 0),
        _ => None,
    };
    v.ok_or(BuildError::BadNoteSize(name))
}

/// `elf_xen_parse_note` for one note named "Xen".
fn parse_note(n: &mut XenNotes, ty: u32, desc: &[u8]) -> Result<(), BuildError> {
    let s = until_nul(desc);
    match ty {
        XEN_ELFNOTE_ENTRY => n.entry = Some(numeric("ENTRY", desc)?),
        XEN_ELFNOTE_HYPERCALL_PAGE => n.hypercall_page = Some(numeric("HYPERCALL_PAGE", desc)?),
        XEN_ELFNOTE_VIRT_BASE => n.virt_base = Some(numeric("VIRT_BASE", desc)?),
        XEN_ELFNOTE_PADDR_OFFSET => n.paddr_offset = Some(numeric("PADDR_OFFSET", desc)?),
        XEN_ELFNOTE_HV_START_LOW => n.hv_start_low = Some(numeric("HV_START_LOW", desc)?),
        XEN_ELFNOTE_INIT_P2M => n.init_p2m = Some(numeric("INIT_P2M", desc)?),
        XEN_ELFNOTE_SUSPEND_CANCEL => n.suspend_cancel = Some(numeric("SUSPEND_CANCEL", desc)?),
        XEN_ELFNOTE_MOD_START_PFN => n.mod_start_pfn = numeric("MOD_START_PFN", desc)? != 0,
        // libelf stores it in a uint32_t.
        XEN_ELFNOTE_PHYS32_ENTRY => n.phys32_entry = Some(numeric("PHYS32_ENTRY", desc)? as u32),
        XEN_ELFNOTE_XEN_VERSION => n.xen_version = NoteStr::new(s),
        XEN_ELFNOTE_GUEST_OS => n.guest_os = NoteStr::new(s),
        XEN_ELFNOTE_GUEST_VERSION => n.guest_version = NoteStr::new(s),
        XEN_ELFNOTE_LOADER => n.loader = NoteStr::new(s),
        XEN_ELFNOTE_PAE_MODE => {
            // Exactly libelf: "yes" is extended-cr3 (elfnote.h: any kernel new enough for
            // notes supports it); anything containing "bimodal" is bimodal; any other string
            // (including "yes[extended-cr3]", which only the legacy string knows) leaves
            // the previous value.
            if s == b"yes" {
                n.pae = PaeMode::ExtendedCr3;
            }
            if s.windows(7).any(|w| w == b"bimodal") {
                n.pae = PaeMode::Bimodal;
            }
        }
        XEN_ELFNOTE_FEATURES => {
            parse_features(s, &mut n.features_supported, Some(&mut n.features_required))
                .map_err(|()| BuildError::UnknownRequiredFeature)?;
        }
        XEN_ELFNOTE_SUPPORTED_FEATURES => {
            // elf_note_numeric_array(note, 4, 0) for the one submap.
            if desc.is_empty() || !desc.len().is_multiple_of(4) {
                return Err(BuildError::BadNoteSize("SUPPORTED_FEATURES"));
            }
            n.features_supported |= u32_at(desc, 0).unwrap_or(0);
        }
        XEN_ELFNOTE_BSD_SYMTAB if s == b"yes" => n.bsd_symtab = true,
        // libelf has no entry for L1_MFN_VALID (nor INFO): ignored like unknown types.
        XEN_ELFNOTE_L1_MFN_VALID => {}
        _ => {}
    }
    Ok(())
}

/// `elf_xen_parse_notes` over one PT_NOTE segment or SHT_NOTE section. Returns the number of
/// "Xen" notes. A trailing piece shorter than a note header is ignored (padding).
fn parse_region(region: &[u8], n: &mut XenNotes, total: &mut u32) -> Result<u32, BuildError> {
    let mut xen = 0;
    let mut pos = 0usize;
    while region.len() - pos >= NHDR_SIZE {
        *total += 1;
        if *total > MAX_TOTAL_NOTES {
            return Err(BuildError::TooManyNotes);
        }
        let hdr = &region[pos..pos + NHDR_SIZE];
        let (Some(namesz), Some(descsz), Some(ty)) =
            (u32_at(hdr, 0), u32_at(hdr, 4), u32_at(hdr, 8))
        else {
            return Err(BuildError::MalformedNote);
        };
        let align4 = |v: u32| (u64::from(v) + 3) & !3;
        let name_start = (pos + NHDR_SIZE) as u64;
        let name_end = name_start + u64::from(namesz);
        let desc_start = name_start + align4(namesz);
        let desc_end = desc_start + u64::from(descsz);
        let next = desc_start + align4(descsz);
        let len = region.len() as u64;
        if name_end > len || desc_start > len {
            return Err(BuildError::MalformedNote);
        }
        // A descriptor that runs past the region is cut there, as libelf's bounded reads
        // do: GRUB's i386-xen image declares a 12-byte PAE_MODE note holding "yes\0" at
        // the very end of its note segment.
        let desc_end = desc_end.min(len);
        // All four are <= region.len() now, so they fit in usize.
        let name = &region[name_start as usize..name_end as usize];
        let desc = &region[desc_start as usize..desc_end as usize];
        // Padding after the last descriptor may be missing.
        pos = next.min(len) as usize;
        if until_nul(name) == b"Xen" {
            parse_note(n, ty, desc)?;
            xen += 1;
        }
    }
    Ok(xen)
}

/// libc `strtoull(s, NULL, 0)`, as the legacy string parser uses it: leading white space,
/// an optional sign, a 0x (hex) or 0 (octal) prefix, saturating on overflow.
fn strtoull(s: &[u8]) -> u64 {
    let mut i = 0;
    while s
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        i += 1;
    }
    let mut neg = false;
    if let Some(&c @ (b'+' | b'-')) = s.get(i) {
        neg = c == b'-';
        i += 1;
    }
    let mut base = 10;
    if s.get(i) == Some(&b'0') {
        if matches!(s.get(i + 1), Some(b'x' | b'X'))
            && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            base = 16;
            i += 2;
        } else {
            base = 8;
        }
    }
    let mut v: u64 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(i).and_then(|&c| char::from(c).to_digit(base)) {
        match v
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(nv) => v = nv,
            None => overflow = true,
        }
        i += 1;
    }
    if overflow {
        u64::MAX
    } else if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

/// `elf_xen_parse_guest_info`: `NAME=VALUE,NAME=VALUE...` (names cut at 31 bytes, values at
/// 127). As in libelf (whose caller ignores the result) an unknown required feature stops
/// the parse without failing it.
fn parse_guest_info(s: &[u8], n: &mut XenNotes) {
    let s = until_nul(s);
    let star = |h: usize| s.get(h).copied().unwrap_or(0);
    let mut h = 0usize;
    let mut virt_hypercall: Option<u64> = None;
    while star(h) != 0 {
        let mut name = [0u8; 31];
        let mut name_len = 0;
        let mut value = [0u8; 127];
        let mut value_len = 0;
        let mut len = 0;
        loop {
            if len >= name.len() {
                break;
            }
            let c = star(h);
            if c == 0 {
                break;
            }
            if c == b',' {
                h += 1;
                break;
            }
            if c == b'=' {
                h += 1;
                let mut vlen = 0;
                loop {
                    if vlen >= value.len() {
                        break;
                    }
                    let c = star(h);
                    if c == 0 {
                        break;
                    }
                    if c == b',' {
                        h += 1;
                        break;
                    }
                    value[vlen] = c;
                    vlen += 1;
                    h += 1;
                }
                value_len = vlen;
                break;
            }
            name[len] = c;
            name_len = len + 1;
            len += 1;
            h += 1;
        }
        let name = &name[..name_len];
        let value = &value[..value_len];
        match name {
            b"LOADER" => n.loader = NoteStr::new(value),
            b"GUEST_OS" => n.guest_os = NoteStr::new(value),
            b"GUEST_VER" => n.guest_version = NoteStr::new(value),
            b"XEN_VER" => n.xen_version = NoteStr::new(value),
            b"PAE" => {
                if value == b"yes[extended-cr3]" {
                    n.pae = PaeMode::ExtendedCr3;
                } else if value.starts_with(b"yes") {
                    n.pae = PaeMode::Yes;
                }
            }
            b"BSD_SYMTAB" => n.bsd_symtab = true,
            b"VIRT_BASE" => n.virt_base = Some(strtoull(value)),
            b"VIRT_ENTRY" => n.entry = Some(strtoull(value)),
            b"ELF_PADDR_OFFSET" => n.paddr_offset = Some(strtoull(value)),
            // A page number, relative to VIRT_BASE (fixed up below).
            b"HYPERCALL_PAGE" => virt_hypercall = Some(strtoull(value).wrapping_shl(12)),
            b"FEATURES"
                if parse_features(
                    value,
                    &mut n.features_supported,
                    Some(&mut n.features_required),
                )
                .is_err() =>
            {
                break;
            }
            _ => {}
        }
    }
    if let (Some(base), Some(hc)) = (n.virt_base, virt_hypercall) {
        virt_hypercall = Some(hc.wrapping_add(base));
    }
    if virt_hypercall.is_some() {
        n.hypercall_page = virt_hypercall;
    }
}

/// `elf_xen_parse` minus the final checks: PT_NOTE segments first (those with p_offset 0
/// are skipped, a binutils quirk libelf works around); if they hold no Xen note, SHT_NOTE
/// sections; if those hold none either, the `__xen_guest` section.
pub fn parse(elf: &Elf<'_>) -> Result<XenNotes, BuildError> {
    let mut n = XenNotes::default();
    let mut total = 0u32;
    let mut xen = 0u32;
    for ph in &elf.phdrs {
        if ph.p_type != PT_NOTE || ph.p_offset == 0 {
            continue;
        }
        let region = range(elf.image, u64::from(ph.p_offset), u64::from(ph.p_filesz))
            .ok_or(BuildError::TruncatedNotes)?;
        xen += parse_region(region, &mut n, &mut total)?;
    }
    if xen > 0 {
        n.source = Some(NotesSource::Segments);
    } else {
        for sh in elf.shdrs.iter().skip(1) {
            if sh.sh_type != SHT_NOTE {
                continue;
            }
            let region = elf.section_data(sh).ok_or(BuildError::TruncatedNotes)?;
            xen += parse_region(region, &mut n, &mut total)?;
        }
        if xen > 0 {
            n.source = Some(NotesSource::Sections);
        }
    }
    if xen == 0 {
        let guest = elf
            .shdrs
            .iter()
            .skip(1)
            .find(|sh| elf.section_name(sh) == Some(b"__xen_guest".as_slice()));
        if let Some(sh) = guest {
            // libelf reads the string from the section start up to a NUL, whatever the
            // section size says; past the image it reads NULs.
            let s = elf.image.get(sh.sh_offset as usize..).unwrap_or_default();
            parse_guest_info(s, &mut n);
            n.source = Some(NotesSource::LegacyGuestInfo);
        }
    }
    n.xen_note_count = xen;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn note(name: &[u8], ty: u32, desc: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(name.len() as u32).to_le_bytes());
        v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        v.extend_from_slice(&ty.to_le_bytes());
        v.extend_from_slice(name);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v.extend_from_slice(desc);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v
    }

    #[test]
    fn features_as_libelf() {
        let (mut s, mut r) = (0, 0);
        parse_features(
            b"writable_page_tables|!pae_pgdir_above_4gb|bogus|",
            &mut s,
            Some(&mut r),
        )
        .unwrap();
        assert_eq!(s, 1 << 0 | 1 << 4);
        assert_eq!(r, 1 << 4);
        assert!(parse_features(b"!bogus", &mut s, Some(&mut r)).is_err());
        // Without a "required" map an unknown '!' name is not an error.
        assert!(parse_features(b"!bogus", &mut s, None).is_ok());
        // A 63-byte piece of a longer token is matched on its own: "x"*63 then "dom0".
        let mut long = vec![b'x'; 63];
        long.extend_from_slice(b"dom0");
        let mut s = 0;
        parse_features(&long, &mut s, None).unwrap();
        assert_eq!(s, 1 << XENFEAT_dom0);
    }

    #[test]
    fn unterminated_and_padded_strings() {
        let mut region = note(b"Xen\0", XEN_ELFNOTE_GUEST_OS, b"linux"); // no NUL in desc
        region.extend(note(b"Xen\0", XEN_ELFNOTE_XEN_VERSION, b"xen-3.0\0\0\0"));
        region.extend(note(
            b"Xen\0",
            XEN_ELFNOTE_LOADER,
            b"a-very-long-loader-name",
        ));
        let mut n = XenNotes::default();
        let mut total = 0;
        assert_eq!(parse_region(&region, &mut n, &mut total), Ok(3));
        assert_eq!(n.guest_os.as_bytes(), b"linux");
        assert_eq!(n.xen_version.as_bytes(), b"xen-3.0");
        assert_eq!(n.loader.as_bytes(), b"a-very-long-loa"); // 15 bytes, as safe_strcpy
    }

    #[test]
    fn pae_strings_as_libelf() {
        let pae = |s: &[u8]| {
            let mut n = XenNotes::default();
            parse_note(&mut n, XEN_ELFNOTE_PAE_MODE, s).unwrap();
            n.pae
        };
        assert_eq!(pae(b"yes\0"), PaeMode::ExtendedCr3);
        assert_eq!(pae(b"yes"), PaeMode::ExtendedCr3);
        assert_eq!(pae(b"bimodal\0"), PaeMode::Bimodal);
        assert_eq!(pae(b"yes,bimodal\0"), PaeMode::Bimodal);
        assert_eq!(pae(b"no\0"), PaeMode::No);
        // Only the legacy string knows this spelling; as a note libelf ignores it.
        assert_eq!(pae(b"yes[extended-cr3]\0"), PaeMode::No);
    }

    #[test]
    fn numeric_sizes() {
        let mut n = XenNotes::default();
        parse_note(&mut n, XEN_ELFNOTE_ENTRY, &[0x34, 0x12]).unwrap();
        assert_eq!(n.entry, Some(0x1234));
        parse_note(&mut n, XEN_ELFNOTE_VIRT_BASE, &0xc000_0000u64.to_le_bytes()).unwrap();
        assert_eq!(n.virt_base, Some(0xc000_0000));
        assert_eq!(
            parse_note(&mut n, XEN_ELFNOTE_ENTRY, &[1, 2, 3]),
            Err(BuildError::BadNoteSize("ENTRY"))
        );
        assert_eq!(
            parse_note(&mut n, XEN_ELFNOTE_SUPPORTED_FEATURES, &[1, 2]),
            Err(BuildError::BadNoteSize("SUPPORTED_FEATURES"))
        );
        // Unknown types and L1_MFN_VALID are ignored whatever their size.
        parse_note(&mut n, XEN_ELFNOTE_L1_MFN_VALID, &[1, 2, 3]).unwrap();
        parse_note(&mut n, 0x1234, &[]).unwrap();
    }

    #[test]
    fn bad_note_sizes() {
        let mut total = 0;
        let mut n = XenNotes::default();
        // namesz runs past the region.
        let mut r = note(b"Xen\0", XEN_ELFNOTE_ENTRY, &[0; 4]);
        r[0..4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert_eq!(
            parse_region(&r, &mut n, &mut total),
            Err(BuildError::MalformedNote)
        );
        // descsz runs past the region: the descriptor is cut at its end.
        let mut r = note(b"Xen\0", XEN_ELFNOTE_PAE_MODE, b"yes\0");
        r[4..8].copy_from_slice(&12u32.to_le_bytes());
        assert_eq!(parse_region(&r, &mut n, &mut total), Ok(1));
        // The name itself must fit.
        let mut r = note(b"Xen\0", XEN_ELFNOTE_ENTRY, &[0; 4]);
        r[0..4].copy_from_slice(&64u32.to_le_bytes());
        assert_eq!(
            parse_region(&r, &mut n, &mut total),
            Err(BuildError::MalformedNote)
        );
        // Trailing bytes shorter than a header, and missing final padding, are tolerated.
        let mut r = note(b"Xen\0", XEN_ELFNOTE_ENTRY, &[1, 0, 0, 0]);
        r.extend_from_slice(&[0; 5]);
        assert_eq!(parse_region(&r, &mut n, &mut total), Ok(1));
        let r = &note(b"Xen\0", XEN_ELFNOTE_GUEST_OS, b"linux")[..12 + 4 + 5];
        assert_eq!(parse_region(r, &mut n, &mut total), Ok(1));
    }

    #[test]
    fn note_count_is_bounded() {
        let region = vec![0u8; 12 * 1000];
        let mut n = XenNotes::default();
        let mut total = MAX_TOTAL_NOTES - 10;
        assert_eq!(
            parse_region(&region, &mut n, &mut total),
            Err(BuildError::TooManyNotes)
        );
    }

    #[test]
    fn legacy_guest_info() {
        let mut n = XenNotes::default();
        parse_guest_info(
            b"GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xC0000000,ELF_PADDR_OFFSET=0xC0000000,\
              HYPERCALL_PAGE=0x2,LOADER=generic,PAE=yes[extended-cr3],FEATURES=!writable_page_tables\0junk",
            &mut n,
        );
        assert_eq!(n.guest_os.as_bytes(), b"linux");
        assert_eq!(n.xen_version.as_bytes(), b"xen-3.0");
        assert_eq!(n.loader.as_bytes(), b"generic");
        assert_eq!(n.virt_base, Some(0xc000_0000));
        assert_eq!(n.paddr_offset, Some(0xc000_0000));
        assert_eq!(n.hypercall_page, Some(0xc000_2000));
        assert_eq!(n.pae, PaeMode::ExtendedCr3);
        assert_eq!(n.features_required, 1);
        let mut n = XenNotes::default();
        parse_guest_info(b"PAE=yes,VIRT_ENTRY=010,", &mut n);
        assert_eq!(n.pae, PaeMode::Yes);
        assert_eq!(n.entry, Some(8)); // octal, as strtoull with base 0
    }

    #[test]
    fn strtoull_like_libc() {
        assert_eq!(strtoull(b"  0x1fz"), 0x1f);
        assert_eq!(strtoull(b"42abc"), 42);
        assert_eq!(strtoull(b"0"), 0);
        assert_eq!(strtoull(b"0x"), 0);
        assert_eq!(strtoull(b"-1"), u64::MAX);
        assert_eq!(strtoull(b"99999999999999999999999"), u64::MAX);
        assert_eq!(strtoull(b""), 0);
    }
}
