//! Loading a static i386 ELF program the way Linux's `load_elf_binary` does
//! (fs/binfmt_elf.c, via compat_binfmt_elf.c for ia32 tasks), and building its initial stack
//! (`create_elf_tables`): argc, argv, envp and the auxiliary vector.
//!
//! Only the ELF header and program headers are read, as the kernel reads them: section
//! headers may be missing or broken without harm. Everything is validated before anything
//! is mapped, so a bad file is one error and never a half-loaded guest.

use super::mm::{
    page_down, page_up, AddressSpace, MMAP_MIN_ADDR, STACK_BOTTOM, STACK_SIZE, STACK_TOP,
};
use super::Error;
use crate::hosted::Window;
use crate::mmu::{GuestAddr, Prot, PAGE_SIZE};
use goblin::elf::header::{ELFCLASS32, ELFDATA2LSB, EM_386, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{
    ProgramHeader, PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR,
};
use goblin::elf::Elf;

/// Where a static-pie (ET_DYN) program is placed: ELF_ET_DYN_BASE for ia32 tasks.
const ET_DYN_BASE: u32 = 0x0040_0000;
const EHDR_SIZE: usize = 52;
const PHDR_SIZE: usize = 32;

/// One PT_LOAD segment, validated and relocated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u32,
    pub memsz: u32,
    pub offset: u32,
    pub filesz: u32,
    pub prot: Prot,
}

/// A validated program, ready to map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub entry: u32,
    /// AT_PHDR / AT_PHENT / AT_PHNUM.
    pub phdr: u32,
    pub phnum: u32,
    pub segments: Vec<Segment>,
    /// Page-aligned end of the highest segment: where brk starts.
    pub brk: u32,
    /// PT_GNU_STACK asks for an executable stack (or is missing).
    pub exec_stack: bool,
    /// No PT_GNU_STACK: READ_IMPLIES_EXEC, as Linux sets it for ia32 programs.
    pub read_implies_exec: bool,
}

fn prot_of(flags: u32) -> Prot {
    let mut p = Prot::empty();
    if flags & PF_R != 0 {
        p |= Prot::R;
    }
    if flags & PF_W != 0 {
        p |= Prot::W;
    }
    if flags & PF_X != 0 {
        p |= Prot::X;
    }
    p
}

fn bad(index: usize, why: &'static str) -> Error {
    Error::BadSegment { index, why }
}

/// Validate `file` as a static i386 executable and work out where everything goes.
pub fn parse(file: &[u8]) -> Result<Image, Error> {
    if file.len() < 4 || file[..4] != *b"\x7fELF" {
        return Err(Error::NotElf);
    }
    if file.len() < EHDR_SIZE {
        return Err(Error::Truncated("ELF header"));
    }
    if file[4] != ELFCLASS32 {
        return Err(Error::NotI386(format!("ELF class {}", file[4])));
    }
    if file[5] != ELFDATA2LSB {
        return Err(Error::NotI386("big-endian ELF".into()));
    }
    let h = Elf::parse_header(file).map_err(|e| Error::Malformed(e.to_string()))?;
    if h.e_machine != EM_386 {
        return Err(Error::NotI386(format!("ELF machine {}", h.e_machine)));
    }
    if h.e_type != ET_EXEC && h.e_type != ET_DYN {
        return Err(Error::NotExecutable(h.e_type));
    }
    if h.e_phnum == 0 {
        return Err(Error::NoSegments);
    }
    if usize::from(h.e_phentsize) != PHDR_SIZE {
        return Err(Error::Malformed(format!(
            "program header size {}",
            h.e_phentsize
        )));
    }
    let phoff = usize::try_from(h.e_phoff).map_err(|_| Error::Truncated("program headers"))?;
    let phend = phoff.checked_add(usize::from(h.e_phnum) * PHDR_SIZE);
    if phend.is_none_or(|e| e > file.len()) {
        return Err(Error::Truncated("program headers"));
    }
    let ctx = goblin::container::Ctx::new(
        goblin::container::Container::Little,
        goblin::container::Endian::Little,
    );
    let phdrs = ProgramHeader::parse(file, phoff, usize::from(h.e_phnum), ctx)
        .map_err(|e| Error::Malformed(e.to_string()))?;
    if phdrs.iter().any(|p| p.p_type == PT_INTERP) {
        return Err(Error::Dynamic);
    }
    // Fields of an ELFCLASS32 file are 32 bits wide; goblin widens them to u64.
    let w32 = |v: u64| v as u32;

    let loads: Vec<(usize, &ProgramHeader)> = phdrs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.p_type == PT_LOAD && p.p_memsz > 0)
        .collect();
    if loads.is_empty() {
        return Err(Error::NoSegments);
    }
    let bias = if h.e_type == ET_DYN {
        let lowest = loads.iter().map(|(_, p)| w32(p.p_vaddr)).min().unwrap_or(0);
        ET_DYN_BASE.wrapping_sub(page_down(lowest))
    } else {
        0
    };

    let mut segments = Vec::new();
    for &(i, p) in &loads {
        if p.p_filesz > p.p_memsz {
            return Err(bad(i, "file size exceeds memory size"));
        }
        if p.p_offset
            .checked_add(p.p_filesz)
            .is_none_or(|e| e > file.len() as u64)
        {
            return Err(Error::Truncated("segment data"));
        }
        if p.p_vaddr % u64::from(PAGE_SIZE) != p.p_offset % u64::from(PAGE_SIZE) {
            return Err(bad(i, "address and file offset disagree within a page"));
        }
        let vaddr = u64::from(w32(p.p_vaddr).wrapping_add(bias));
        let end = page_up(vaddr + p.p_memsz).ok_or_else(|| bad(i, "runs past 4 GiB"))?;
        if u64::from(page_down(vaddr as u32)) < u64::from(MMAP_MIN_ADDR) {
            return Err(bad(i, "is mapped below 64 KiB"));
        }
        if end > u64::from(STACK_BOTTOM) {
            return Err(bad(i, "overlaps the stack"));
        }
        segments.push(Segment {
            vaddr: vaddr as u32,
            memsz: w32(p.p_memsz),
            offset: w32(p.p_offset),
            filesz: w32(p.p_filesz),
            prot: prot_of(p.p_flags),
        });
    }
    let mut sorted: Vec<&Segment> = segments.iter().collect();
    sorted.sort_by_key(|s| s.vaddr);
    for pair in sorted.windows(2) {
        if u64::from(pair[0].vaddr) + u64::from(pair[0].memsz) > u64::from(pair[1].vaddr) {
            return Err(Error::Overlap);
        }
    }

    let entry = w32(h.e_entry).wrapping_add(bias);
    let in_code = |s: &&Segment| {
        s.prot.contains(Prot::X)
            && entry >= s.vaddr
            && u64::from(entry) < u64::from(s.vaddr) + u64::from(s.memsz)
    };
    if !segments.iter().any(|s| in_code(&s)) {
        return Err(Error::BadEntry(entry));
    }

    // AT_PHDR: PT_PHDR if present, else where the segment holding e_phoff puts it.
    let phdr = phdrs
        .iter()
        .find(|p| p.p_type == PT_PHDR)
        .map(|p| w32(p.p_vaddr))
        .or_else(|| {
            loads
                .iter()
                .find(|(_, p)| p.p_offset <= h.e_phoff && h.e_phoff < p.p_offset + p.p_filesz)
                .map(|(_, p)| w32(p.p_vaddr + (h.e_phoff - p.p_offset)))
        })
        .unwrap_or(0)
        .wrapping_add(bias);

    let top = segments
        .iter()
        .map(|s| u64::from(s.vaddr) + u64::from(s.memsz))
        .max()
        .unwrap_or(0);
    let brk = page_up(top).unwrap_or(u64::from(STACK_BOTTOM)) as u32;
    let stack = phdrs.iter().find(|p| p.p_type == PT_GNU_STACK);
    Ok(Image {
        entry,
        phdr,
        phnum: u32::from(h.e_phnum),
        segments,
        brk,
        exec_stack: stack.is_none_or(|p| p.p_flags & PF_X != 0),
        read_implies_exec: stack.is_none(),
    })
}

/// Map the program's segments and copy their file bytes (`load_elf_binary`'s `elf_map` +
/// bss zeroing; fresh pages are zero, so only file bytes are written).
pub fn map(img: &Image, file: &[u8], w: &mut Window, mm: &mut AddressSpace) -> Result<(), Error> {
    mm.read_implies_exec = img.read_implies_exec;
    // Pages shared by two segments get both segments' permissions.
    let mut pages: std::collections::BTreeMap<u32, Prot> = std::collections::BTreeMap::new();
    for s in &img.segments {
        let first = s.vaddr >> 12;
        let end =
            ((u64::from(s.vaddr) + u64::from(s.memsz) + u64::from(PAGE_SIZE) - 1) >> 12) as u32;
        for p in first..end {
            *pages.entry(p).or_default() |= s.prot;
        }
    }
    let mut it = pages.into_iter().peekable();
    while let Some((first, prot)) = it.next() {
        let mut n = 1;
        while it.peek().is_some_and(|&(p, q)| p == first + n && q == prot) {
            it.next();
            n += 1;
        }
        mm.map(w, first << 12, u64::from(n) << 12, prot)
            .map_err(|_| Error::NoMemory)?;
    }
    for s in &img.segments {
        // As mmap of the file would: the page's bytes before vaddr come from the file too.
        let lead = s.vaddr % PAGE_SIZE;
        let from = (s.offset - lead) as usize;
        let to = s.offset as usize + s.filesz as usize;
        w.poke(GuestAddr(s.vaddr - lead), &file[from..to])
            .map_err(|_| Error::NoMemory)?;
    }
    mm.init_brk(img.brk);
    Ok(())
}

/// Auxiliary vector keys (include/uapi/linux/auxvec.h).
pub mod at {
    pub const NULL: u32 = 0;
    pub const PHDR: u32 = 3;
    pub const PHENT: u32 = 4;
    pub const PHNUM: u32 = 5;
    pub const PAGESZ: u32 = 6;
    pub const BASE: u32 = 7;
    pub const FLAGS: u32 = 8;
    pub const ENTRY: u32 = 9;
    pub const UID: u32 = 11;
    pub const EUID: u32 = 12;
    pub const GID: u32 = 13;
    pub const EGID: u32 = 14;
    pub const PLATFORM: u32 = 15;
    pub const HWCAP: u32 = 16;
    pub const CLKTCK: u32 = 17;
    pub const SECURE: u32 = 23;
    pub const RANDOM: u32 = 25;
    pub const EXECFN: u32 = 31;
}

/// What goes on the initial stack besides the image's own facts.
pub struct StackArgs<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    pub execfn: &'a [u8],
    pub random: [u8; 16],
    pub hwcap: u32,
    pub ids: [u32; 4],
}

/// The initial stack: its bytes, to be placed at `[sp, STACK_TOP)`.
pub struct InitialStack {
    pub sp: u32,
    pub bytes: Vec<u8>,
}

/// ARG_MAX as Linux computes it for the default 8 MiB stack: a quarter of the stack.
const ARG_MAX: u32 = STACK_SIZE / 4;

/// Lay out the stack as `create_elf_tables` does (without randomisation): strings at the
/// top (execfn, then env and arg strings), the platform string and AT_RANDOM bytes below,
/// then argc, argv[], NULL, envp[], NULL and the auxv pairs from a 16-byte aligned sp.
pub fn build_stack(img: &Image, a: &StackArgs) -> Result<InitialStack, Error> {
    let strings: usize = a
        .argv
        .iter()
        .chain(a.envp)
        .map(|s| s.len() + 1)
        .sum::<usize>()
        + a.execfn.len()
        + 1;
    if strings > ARG_MAX as usize {
        return Err(Error::ArgsTooLong);
    }
    let mut p = STACK_TOP - 4;
    let mut put: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut push_str = |p: &mut u32, s: &[u8]| {
        *p -= s.len() as u32 + 1;
        let mut v = s.to_vec();
        v.push(0);
        put.push((*p, v));
        *p
    };
    let execfn = push_str(&mut p, a.execfn);
    let mut envp: Vec<u32> = a.envp.iter().rev().map(|s| push_str(&mut p, s)).collect();
    envp.reverse();
    let mut argv: Vec<u32> = a.argv.iter().rev().map(|s| push_str(&mut p, s)).collect();
    argv.reverse();
    p &= !15;
    let platform = push_str(&mut p, b"i686");
    p -= 16;
    let random = p;
    put.push((random, a.random.to_vec()));

    let [uid, euid, gid, egid] = a.ids;
    let auxv: [(u32, u32); 18] = [
        (at::HWCAP, a.hwcap),
        (at::PAGESZ, PAGE_SIZE),
        (at::CLKTCK, 100),
        (at::PHDR, img.phdr),
        (at::PHENT, PHDR_SIZE as u32),
        (at::PHNUM, img.phnum),
        (at::BASE, 0),
        (at::FLAGS, 0),
        (at::ENTRY, img.entry),
        (at::UID, uid),
        (at::EUID, euid),
        (at::GID, gid),
        (at::EGID, egid),
        (at::SECURE, 0),
        (at::RANDOM, random),
        (at::EXECFN, execfn),
        (at::PLATFORM, platform),
        (at::NULL, 0),
    ];
    let words = 1 + argv.len() + 1 + envp.len() + 1 + 2 * auxv.len();
    let sp = (p - 4 * words as u32) & !15;
    let mut table: Vec<u32> = Vec::with_capacity(words);
    table.push(argv.len() as u32);
    table.extend(&argv);
    table.push(0);
    table.extend(&envp);
    table.push(0);
    for &(k, v) in &auxv {
        table.push(k);
        table.push(v);
    }
    let mut bytes = vec![0u8; (STACK_TOP - sp) as usize];
    for (i, wd) in table.iter().enumerate() {
        bytes[i * 4..i * 4 + 4].copy_from_slice(&wd.to_le_bytes());
    }
    for (addr, s) in put {
        let o = (addr - sp) as usize;
        bytes[o..o + s.len()].copy_from_slice(&s);
    }
    Ok(InitialStack { sp, bytes })
}

/// Map the stack region and write the initial stack into it.
pub fn map_stack(
    img: &Image,
    st: &InitialStack,
    w: &mut Window,
    mm: &mut AddressSpace,
) -> Result<(), Error> {
    let prot = if img.exec_stack { Prot::RWX } else { Prot::RW };
    mm.map(w, STACK_BOTTOM, u64::from(STACK_SIZE), prot)
        .map_err(|_| Error::NoMemory)?;
    w.poke(GuestAddr(st.sp), &st.bytes)
        .map_err(|_| Error::NoMemory)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF32 i386 executable image: header, `phdrs`, then `body` at 0x1000.
    pub fn elf32(
        e_type: u16,
        machine: u16,
        entry: u32,
        phdrs: &[[u32; 8]],
        body: &[u8],
    ) -> Vec<u8> {
        let mut f = vec![0u8; 0x1000];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 1;
        f[5] = 1;
        f[6] = 1;
        let put16 =
            |f: &mut Vec<u8>, o: usize, v: u16| f[o..o + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |f: &mut Vec<u8>, o: usize, v: u32| f[o..o + 4].copy_from_slice(&v.to_le_bytes());
        put16(&mut f, 16, e_type);
        put16(&mut f, 18, machine);
        put32(&mut f, 20, 1);
        put32(&mut f, 24, entry);
        put32(&mut f, 28, 52);
        put16(&mut f, 40, 52);
        put16(&mut f, 42, 32);
        put16(&mut f, 44, phdrs.len() as u16);
        put16(&mut f, 46, 40);
        for (i, ph) in phdrs.iter().enumerate() {
            for (j, v) in ph.iter().enumerate() {
                put32(&mut f, 52 + i * 32 + j * 4, *v);
            }
        }
        f.extend_from_slice(body);
        f
    }

    // [type, offset, vaddr, paddr, filesz, memsz, flags, align]
    const TEXT: [u32; 8] = [
        PT_LOAD,
        0,
        0x0804_8000,
        0,
        0x1010,
        0x1010,
        PF_R | PF_X,
        0x1000,
    ];
    const DATA: [u32; 8] = [
        PT_LOAD,
        0x1000,
        0x0804_a000,
        0,
        0x10,
        0x2000,
        PF_R | PF_W,
        0x1000,
    ];
    const STACK: [u32; 8] = [PT_GNU_STACK, 0, 0, 0, 0, 0, PF_R | PF_W, 16];

    #[test]
    fn parses_static_exec() {
        let f = elf32(
            ET_EXEC,
            EM_386,
            0x0804_9000,
            &[TEXT, DATA, STACK],
            &[0xcc; 0x10],
        );
        let img = parse(&f).unwrap();
        assert_eq!(img.entry, 0x0804_9000);
        assert_eq!(img.phdr, 0x0804_8034);
        assert_eq!(img.phnum, 3);
        assert_eq!(img.brk, 0x0804_c000);
        assert!(!img.exec_stack && !img.read_implies_exec);
        assert_eq!(img.segments[1].prot, Prot::RW);
    }

    #[test]
    fn rejects_bad_files() {
        let ok = |f: &[u8]| parse(f).map(|_| ());
        assert!(matches!(ok(b"#!/bin/sh\n"), Err(Error::NotElf)));
        assert!(matches!(ok(b"\x7fELF\x01\x01"), Err(Error::Truncated(_))));
        let mut f = elf32(ET_EXEC, EM_386, 0x0804_9000, &[TEXT], &[0; 0x10]);
        f[4] = 2;
        assert!(matches!(ok(&f), Err(Error::NotI386(_))));
        let f = elf32(ET_EXEC, 62, 0x0804_9000, &[TEXT], &[0; 0x10]);
        assert!(matches!(ok(&f), Err(Error::NotI386(_))));
        let f = elf32(ET_EXEC, EM_386, 0x0804_9000, &[], &[]);
        assert!(matches!(ok(&f), Err(Error::NoSegments)));
        let f = elf32(ET_EXEC, EM_386, 0x0804_9000, &[STACK], &[]);
        assert!(matches!(ok(&f), Err(Error::NoSegments)));
        // Segment data past the end of the file.
        let f = elf32(ET_EXEC, EM_386, 0x0804_9000, &[TEXT], &[0; 4]);
        assert!(matches!(ok(&f), Err(Error::Truncated(_))));
        // Entry in the data segment.
        let f = elf32(ET_EXEC, EM_386, 0x0804_a000, &[TEXT, DATA], &[0; 0x10]);
        assert!(matches!(ok(&f), Err(Error::BadEntry(0x0804_a000))));
        // Overlapping segments.
        let mut d = DATA;
        d[2] = 0x0804_8800;
        d[1] = 0x800;
        let f = elf32(ET_EXEC, EM_386, 0x0804_9000, &[TEXT, d], &[0; 0x10]);
        assert!(matches!(ok(&f), Err(Error::Overlap)));
        // Huge bss running into the stack, and past 4 GiB.
        let mut d = DATA;
        d[5] = 0xf77b_6000;
        let f = elf32(ET_EXEC, EM_386, 0x0804_9000, &[TEXT, d], &[0; 0x10]);
        assert!(matches!(ok(&f), Err(Error::BadSegment { index: 1, .. })));
        d[5] = 0xffff_ff00;
        let f = elf32(ET_EXEC, EM_386, 0x0804_9000, &[TEXT, d], &[0; 0x10]);
        assert!(matches!(ok(&f), Err(Error::BadSegment { index: 1, .. })));
        // Dynamic.
        let interp = [PT_INTERP, 0x1000, 0, 0, 4, 4, PF_R, 1];
        let f = elf32(ET_EXEC, EM_386, 0x0804_9000, &[TEXT, interp], &[0; 0x10]);
        assert!(matches!(ok(&f), Err(Error::Dynamic)));
        // A relocatable object.
        let f = elf32(1, EM_386, 0x0804_9000, &[TEXT], &[0; 0x10]);
        assert!(matches!(ok(&f), Err(Error::NotExecutable(1))));
        // Program headers cut off.
        let f = elf32(ET_EXEC, EM_386, 0x0804_9000, &[TEXT], &[0; 0x10]);
        assert!(matches!(ok(&f[..60]), Err(Error::Truncated(_))));
    }

    #[test]
    fn static_pie_is_relocated() {
        let mut t = TEXT;
        t[2] = 0;
        let f = elf32(ET_DYN, EM_386, 0x1000, &[t], &[0; 0x10]);
        let img = parse(&f).unwrap();
        assert_eq!(img.entry, ET_DYN_BASE + 0x1000);
        assert_eq!(img.segments[0].vaddr, ET_DYN_BASE);
        assert!(img.read_implies_exec);
    }

    #[test]
    fn stack_layout_matches_linux() {
        let f = elf32(
            ET_EXEC,
            EM_386,
            0x0804_9000,
            &[TEXT, DATA, STACK],
            &[0; 0x10],
        );
        let img = parse(&f).unwrap();
        let argv = vec![b"./prog".to_vec(), b"-x".to_vec()];
        let envp = vec![b"A=1".to_vec()];
        let st = build_stack(
            &img,
            &StackArgs {
                argv: &argv,
                envp: &envp,
                execfn: b"./prog",
                random: [7; 16],
                hwcap: 0,
                ids: [1, 2, 3, 4],
            },
        )
        .unwrap();
        assert_eq!(st.sp % 16, 0);
        let word = |a: u32| {
            let o = (a - st.sp) as usize;
            u32::from_le_bytes(st.bytes[o..o + 4].try_into().unwrap())
        };
        let cstr = |a: u32| {
            let o = (a - st.sp) as usize;
            let n = st.bytes[o..].iter().position(|&b| b == 0).unwrap();
            st.bytes[o..o + n].to_vec()
        };
        assert_eq!(word(st.sp), 2);
        assert_eq!(cstr(word(st.sp + 4)), b"./prog");
        assert_eq!(cstr(word(st.sp + 8)), b"-x");
        assert_eq!(word(st.sp + 12), 0);
        assert_eq!(cstr(word(st.sp + 16)), b"A=1");
        assert_eq!(word(st.sp + 20), 0);
        let mut aux = std::collections::HashMap::new();
        let mut a = st.sp + 24;
        loop {
            let (k, v) = (word(a), word(a + 4));
            if k == at::NULL {
                break;
            }
            aux.insert(k, v);
            a += 8;
        }
        assert_eq!(aux[&at::ENTRY], 0x0804_9000);
        assert_eq!(aux[&at::PHDR], 0x0804_8034);
        assert_eq!(aux[&at::PAGESZ], 4096);
        assert_eq!(aux[&at::EGID], 4);
        assert_eq!(cstr(aux[&at::PLATFORM]), b"i686");
        assert_eq!(cstr(aux[&at::EXECFN]), b"./prog");
        let r = (aux[&at::RANDOM] - st.sp) as usize;
        assert_eq!(&st.bytes[r..r + 16], &[7; 16]);
        // The execfn string sits just below the top word, as bprm->p leaves it.
        assert_eq!(aux[&at::EXECFN], STACK_TOP - 4 - 7);
    }
}
