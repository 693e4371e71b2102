//! A small, defensive ELF32 reader over `&[u8]` (System V gABI, "ELF header", "Program
//! header", "Sections"; i386 psABI for EM_386).
//!
//! The image is hostile input: every offset and size is checked against the image before
//! it is used, arithmetic is done in `u64` (no wrap), nothing panics, and the only
//! allocations are the header tables, whose size is bounded by the image size.

use super::BuildError;
use alloc::vec::Vec;

pub const EHDR_SIZE: usize = 52;
pub const PHDR_SIZE: usize = 32;
pub const SHDR_SIZE: usize = 40;

const ELFMAG: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const ELFCLASS32: u8 = 1;
const ELFDATA2LSB: u8 = 1;
const ET_EXEC: u16 = 2;
const EM_386: u16 = 3;

pub const PT_LOAD: u32 = 1;
pub const PT_NOTE: u32 = 4;
pub const SHT_NOTE: u32 = 7;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// Little-endian fields at fixed offsets of a slice whose length was checked.
pub fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

pub fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let lo = u32_at(b, off)?;
    let hi = u32_at(b, off.checked_add(4)?)?;
    Some(u64::from(lo) | (u64::from(hi) << 32))
}

/// `image[off..off + len]`, if it lies entirely inside the image.
pub fn range(image: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let end = off.checked_add(len)?;
    if end > image.len() as u64 {
        return None;
    }
    // Both fit in usize: they are at most image.len().
    image.get(usize::try_from(off).ok()?..usize::try_from(end).ok()?)
}

/// The ELF header fields the builder uses.
#[derive(Clone, Copy, Debug)]
pub struct Ehdr {
    pub e_entry: u32,
    pub e_phoff: u32,
    pub e_shoff: u32,
    pub e_phentsize: u16,
    pub e_phnum: u16,
    pub e_shentsize: u16,
    pub e_shnum: u16,
    pub e_shstrndx: u16,
}

/// `Elf32_Phdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub p_offset: u32,
    pub p_vaddr: u32,
    pub p_paddr: u32,
    pub p_filesz: u32,
    pub p_memsz: u32,
    pub p_flags: u32,
}

impl Phdr {
    /// libelf's `elf_phdr_is_loadable`: PT_LOAD with at least one of R/W/X. A PT_LOAD without
    /// any permission is skipped by libxc, so it is skipped here too.
    pub fn is_loadable(&self) -> bool {
        self.p_type == PT_LOAD && self.p_flags & (PF_R | PF_W | PF_X) != 0
    }
}

/// `Elf32_Shdr` (the fields used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shdr {
    pub sh_name: u32,
    pub sh_type: u32,
    pub sh_offset: u32,
    pub sh_size: u32,
}

/// A parsed, bounds-checked ELF32 image.
pub struct Elf<'a> {
    pub image: &'a [u8],
    pub ehdr: Ehdr,
    pub phdrs: Vec<Phdr>,
    pub shdrs: Vec<Shdr>,
}

impl<'a> Elf<'a> {
    /// Check the identification and the header tables (libelf `elf_init` plus the checks
    /// libxc's guest-type selection implies: ELFCLASS32, little-endian, EM_386; ET_EXEC
    /// because a PV kernel is linked at fixed addresses).
    pub fn parse(image: &'a [u8]) -> Result<Self, BuildError> {
        let magic_len = image.len().min(4);
        if image[..magic_len] != ELFMAG[..magic_len] {
            return Err(BuildError::NotElf);
        }
        if image.len() < EHDR_SIZE {
            return Err(BuildError::TruncatedHeader);
        }
        if image[EI_CLASS] != ELFCLASS32 {
            return Err(BuildError::NotElf32);
        }
        if image[EI_DATA] != ELFDATA2LSB {
            return Err(BuildError::NotLittleEndian);
        }
        let h = |off| u16_at(image, off).ok_or(BuildError::TruncatedHeader);
        let w = |off| u32_at(image, off).ok_or(BuildError::TruncatedHeader);
        if h(16)? != ET_EXEC {
            return Err(BuildError::NotExecutable);
        }
        if h(18)? != EM_386 {
            return Err(BuildError::NotI386);
        }
        let ehdr = Ehdr {
            e_entry: w(24)?,
            e_phoff: w(28)?,
            e_shoff: w(32)?,
            e_phentsize: h(42)?,
            e_phnum: h(44)?,
            e_shentsize: h(46)?,
            e_shnum: h(48)?,
            e_shstrndx: h(50)?,
        };

        let mut phdrs = Vec::new();
        if ehdr.e_phnum != 0 {
            if usize::from(ehdr.e_phentsize) != PHDR_SIZE {
                return Err(BuildError::BadProgramHeaderSize);
            }
            let table = range(
                image,
                u64::from(ehdr.e_phoff),
                u64::from(ehdr.e_phnum) * PHDR_SIZE as u64,
            )
            .ok_or(BuildError::TruncatedProgramHeaders)?;
            // The table is inside the image, so this allocation is bounded by its size.
            phdrs.reserve_exact(usize::from(ehdr.e_phnum));
            for e in table.chunks_exact(PHDR_SIZE) {
                let f = |off| u32_at(e, off).ok_or(BuildError::TruncatedProgramHeaders);
                phdrs.push(Phdr {
                    p_type: f(0)?,
                    p_offset: f(4)?,
                    p_vaddr: f(8)?,
                    p_paddr: f(12)?,
                    p_filesz: f(16)?,
                    p_memsz: f(20)?,
                    p_flags: f(24)?,
                });
            }
        }

        let mut shdrs = Vec::new();
        if ehdr.e_shnum != 0 {
            if usize::from(ehdr.e_shentsize) != SHDR_SIZE {
                return Err(BuildError::BadSectionHeaderSize);
            }
            let table = range(
                image,
                u64::from(ehdr.e_shoff),
                u64::from(ehdr.e_shnum) * SHDR_SIZE as u64,
            )
            .ok_or(BuildError::TruncatedSectionHeaders)?;
            shdrs.reserve_exact(usize::from(ehdr.e_shnum));
            for e in table.chunks_exact(SHDR_SIZE) {
                let f = |off| u32_at(e, off).ok_or(BuildError::TruncatedSectionHeaders);
                shdrs.push(Shdr {
                    sh_name: f(0)?,
                    sh_type: f(4)?,
                    sh_offset: f(16)?,
                    sh_size: f(20)?,
                });
            }
        }

        Ok(Elf {
            image,
            ehdr,
            phdrs,
            shdrs,
        })
    }

    /// The file bytes of a section, if they lie inside the image.
    pub fn section_data(&self, sh: &Shdr) -> Option<&'a [u8]> {
        range(self.image, u64::from(sh.sh_offset), u64::from(sh.sh_size))
    }

    /// A section's name from the section-name string table (`elf_section_name`), as the
    /// bytes up to the NUL; `None` if there is no valid string table or the name runs off
    /// the image.
    pub fn section_name(&self, sh: &Shdr) -> Option<&'a [u8]> {
        let strtab = self.shdrs.get(usize::from(self.ehdr.e_shstrndx))?;
        if self.ehdr.e_shstrndx == 0 {
            return None;
        }
        let start = u64::from(strtab.sh_offset).checked_add(u64::from(sh.sh_name))?;
        let tail = self.image.get(usize::try_from(start).ok()?..)?;
        let nul = tail.iter().position(|&b| b == 0)?;
        Some(&tail[..nul])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn header() -> Vec<u8> {
        let mut h = vec![0u8; EHDR_SIZE];
        h[..4].copy_from_slice(&ELFMAG);
        h[EI_CLASS] = ELFCLASS32;
        h[EI_DATA] = ELFDATA2LSB;
        h[6] = 1;
        h[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        h[18..20].copy_from_slice(&EM_386.to_le_bytes());
        h[40..42].copy_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
        h
    }

    #[test]
    fn identification_errors() {
        assert_eq!(Elf::parse(b"").err(), Some(BuildError::TruncatedHeader));
        assert_eq!(
            Elf::parse(b"\x7fEL").err(),
            Some(BuildError::TruncatedHeader)
        );
        assert_eq!(Elf::parse(b"MZ\x90\0").err(), Some(BuildError::NotElf));
        let mut h = header();
        assert!(Elf::parse(&h).is_ok());
        h[EI_CLASS] = 2;
        assert_eq!(Elf::parse(&h).err(), Some(BuildError::NotElf32));
        let mut h = header();
        h[EI_DATA] = 2;
        assert_eq!(Elf::parse(&h).err(), Some(BuildError::NotLittleEndian));
        let mut h = header();
        h[16] = 3; // ET_DYN
        assert_eq!(Elf::parse(&h).err(), Some(BuildError::NotExecutable));
        let mut h = header();
        h[18] = 62; // EM_X86_64
        assert_eq!(Elf::parse(&h).err(), Some(BuildError::NotI386));
    }

    #[test]
    fn header_tables_are_bounds_checked() {
        let mut h = header();
        // phnum = 0xffff at an offset near the end of the u32 range: no overflow, no panic.
        h[28..32].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        h[42..44].copy_from_slice(&32u16.to_le_bytes());
        h[44..46].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(
            Elf::parse(&h).err(),
            Some(BuildError::TruncatedProgramHeaders)
        );
        h[42..44].copy_from_slice(&33u16.to_le_bytes());
        assert_eq!(Elf::parse(&h).err(), Some(BuildError::BadProgramHeaderSize));

        let mut h = header();
        h[32..36].copy_from_slice(&40u32.to_le_bytes());
        h[46..48].copy_from_slice(&40u16.to_le_bytes());
        h[48..50].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(
            Elf::parse(&h).err(),
            Some(BuildError::TruncatedSectionHeaders)
        );
        h[46..48].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(Elf::parse(&h).err(), Some(BuildError::BadSectionHeaderSize));
    }

    #[test]
    fn range_never_wraps() {
        let img = [0u8; 16];
        assert!(range(&img, u64::MAX, 2).is_none());
        assert!(range(&img, 8, 9).is_none());
        assert_eq!(range(&img, 8, 8).map(<[u8]>::len), Some(8));
        assert_eq!(range(&img, 16, 0).map(<[u8]>::len), Some(0));
    }
}
