//! The PV32 domain builder against libxc (tools/libs/guest/xg_dom_core.c, xg_dom_x86.c and
//! xen/common/libelf, Xen 4.17.5).
//!
//! Kernels are written byte by byte here (and one is compiled with gcc). Every expected
//! layout number below was worked out by hand from libxc's code, step by step in the
//! comments: `xc_dom_build_image` allocates, in this order, padding up to the kernel, the
//! kernel, the ramdisk, the p2m list (4 bytes per pfn, page rounded), start_info, xenstore
//! and console pages, the page tables (`alloc_pgtables_pv`), the boot stack, then pads to the
//! 4 MiB boundary the page tables map up to. pfn N is at VIRT_BASE + N * 4096.
//!
//! `alloc_pgtables_pv` in short: extra = 1 (boot stack) + 128 (512 KiB); pages = extra;
//! loop { end = (alloc_end + pages * 4096) | 0x3fffff; count tables for VIRT_BASE..=end;
//! pages = tables + extra; stop if alloc_end + pages * 4096 <= end + 1 }. Tables: one L3;
//! L2s for the 1 GiB slots from VIRT_BASE to end (to 0xffffffff when end < 0xc0000000, so
//! the L2 under L3 slot 3 always exists); L1s for the 2 MiB slots from VIRT_BASE to end.

use hypercall_abi::arch_x86_32::xen_pfn_to_cr3;
use xdbt::mmu::GuestAddr;
use xdbt::pv::builder::{
    build, hypercall_page_bytes, parse_kernel, start_info_bytes, BuildConfig, BuildError,
    GrantSeed, Mfn, NotesSource, PaeMode, Pfn, PtLevel, START_INFO_SIZE,
};

// ---------------------------------------------------------------------------------------
// A tiny ELF32 writer.

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

const XEN_ELFNOTE_ENTRY: u32 = 1;
const XEN_ELFNOTE_HYPERCALL_PAGE: u32 = 2;
const XEN_ELFNOTE_VIRT_BASE: u32 = 3;
const XEN_ELFNOTE_PADDR_OFFSET: u32 = 4;
const XEN_ELFNOTE_XEN_VERSION: u32 = 5;
const XEN_ELFNOTE_GUEST_OS: u32 = 6;
const XEN_ELFNOTE_GUEST_VERSION: u32 = 7;
const XEN_ELFNOTE_LOADER: u32 = 8;
const XEN_ELFNOTE_PAE_MODE: u32 = 9;
const XEN_ELFNOTE_FEATURES: u32 = 10;
const XEN_ELFNOTE_HV_START_LOW: u32 = 12;
const XEN_ELFNOTE_SUSPEND_CANCEL: u32 = 14;
const XEN_ELFNOTE_MOD_START_PFN: u32 = 16;
const XEN_ELFNOTE_SUPPORTED_FEATURES: u32 = 17;

#[derive(Clone)]
struct Seg {
    paddr: u32,
    vaddr: u32,
    data: Vec<u8>,
    memsz: u32,
    flags: u32,
}

#[derive(Clone, Copy, PartialEq)]
enum NotesIn {
    /// A PT_NOTE segment and an SHT_NOTE section over the same bytes (what ld makes).
    Segment,
    /// Only an SHT_NOTE section.
    SectionOnly,
}

#[derive(Clone)]
struct Spec {
    entry: u32,
    segs: Vec<Seg>,
    notes: Vec<u8>,
    notes_in: NotesIn,
    /// Bytes put before the notes so that they start mid-page at an odd-looking offset.
    notes_pad: usize,
    xen_guest: Option<Vec<u8>>,
}

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

fn xen_str(ty: u32, s: &str) -> Vec<u8> {
    let mut d = s.as_bytes().to_vec();
    d.push(0);
    note(b"Xen\0", ty, &d)
}

fn xen_u32(ty: u32, v: u32) -> Vec<u8> {
    note(b"Xen\0", ty, &v.to_le_bytes())
}

fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Offsets of interesting parts of a written image.
struct Written {
    bytes: Vec<u8>,
    phoff: usize,
    notes_off: usize,
}

fn write_elf(spec: &Spec) -> Written {
    let nph =
        spec.segs.len() + usize::from(spec.notes_in == NotesIn::Segment && !spec.notes.is_empty());
    let phoff = 52;
    let mut out = vec![0u8; phoff + 32 * nph];
    out.extend(std::iter::repeat_n(0xeeu8, spec.notes_pad));
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    let notes_off = out.len();
    out.extend_from_slice(&spec.notes);
    let mut seg_offs = Vec::new();
    for s in &spec.segs {
        // Segment data at 16-byte aligned offsets: not page aligned, as libelf allows.
        while !out.len().is_multiple_of(16) {
            out.push(0);
        }
        seg_offs.push(out.len());
        out.extend_from_slice(&s.data);
    }
    let guest_off = out.len();
    if let Some(g) = &spec.xen_guest {
        out.extend_from_slice(g);
    }
    // Section names.
    let shstr_off = out.len();
    let names: &[u8] = b"\0.note.Xen\0__xen_guest\0.shstrtab\0";
    out.extend_from_slice(names);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    let shoff = out.len();
    let mut shdrs: Vec<[u32; 10]> = vec![[0; 10]];
    if !spec.notes.is_empty() {
        shdrs.push([
            1,
            7,
            2,
            0,
            notes_off as u32,
            spec.notes.len() as u32,
            0,
            0,
            4,
            0,
        ]);
    }
    if let Some(g) = &spec.xen_guest {
        shdrs.push([11, 1, 0, 0, guest_off as u32, g.len() as u32, 0, 0, 1, 0]);
    }
    shdrs.push([
        23,
        3,
        0,
        0,
        shstr_off as u32,
        names.len() as u32,
        0,
        0,
        1,
        0,
    ]);
    for sh in &shdrs {
        for w in sh {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }

    // ELF header.
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 1; // ELFCLASS32
    out[5] = 1; // ELFDATA2LSB
    out[6] = 1; // EV_CURRENT
    put16(&mut out, 16, 2); // ET_EXEC
    put16(&mut out, 18, 3); // EM_386
    put32(&mut out, 20, 1);
    put32(&mut out, 24, spec.entry);
    put32(&mut out, 28, phoff as u32);
    put32(&mut out, 32, shoff as u32);
    put16(&mut out, 40, 52);
    put16(&mut out, 42, 32);
    put16(&mut out, 44, nph as u16);
    put16(&mut out, 46, 40);
    put16(&mut out, 48, shdrs.len() as u16);
    put16(&mut out, 50, shdrs.len() as u16 - 1);

    // Program headers: the loads, then the notes.
    let mut ph = phoff;
    for (s, &off) in spec.segs.iter().zip(&seg_offs) {
        let e = [
            PT_LOAD,
            off as u32,
            s.vaddr,
            s.paddr,
            s.data.len() as u32,
            s.memsz,
            s.flags,
            16,
        ];
        for (i, w) in e.iter().enumerate() {
            put32(&mut out, ph + 4 * i, *w);
        }
        ph += 32;
    }
    if nph > spec.segs.len() {
        let e = [
            PT_NOTE,
            notes_off as u32,
            0,
            0,
            spec.notes.len() as u32,
            spec.notes.len() as u32,
            PF_R,
            4,
        ];
        for (i, w) in e.iter().enumerate() {
            put32(&mut out, ph + 4 * i, *w);
        }
    }
    Written {
        bytes: out,
        phoff,
        notes_off,
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The usual notes of a Linux-style kernel at 0xC0000000.
fn linux_notes(extra: &[Vec<u8>]) -> Vec<u8> {
    let mut n = Vec::new();
    n.extend(xen_str(XEN_ELFNOTE_GUEST_OS, "linux"));
    n.extend(xen_str(XEN_ELFNOTE_GUEST_VERSION, "2.6"));
    n.extend(xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-3.0"));
    n.extend(xen_u32(XEN_ELFNOTE_VIRT_BASE, 0xc000_0000));
    n.extend(xen_u32(XEN_ELFNOTE_PADDR_OFFSET, 0));
    n.extend(xen_u32(XEN_ELFNOTE_ENTRY, 0xc000_0000));
    n.extend(xen_u32(XEN_ELFNOTE_HYPERCALL_PAGE, 0xc000_2000));
    n.extend(xen_u32(XEN_ELFNOTE_HV_START_LOW, 0xf580_0000));
    n.extend(xen_str(
        XEN_ELFNOTE_FEATURES,
        "!writable_page_tables|pae_pgdir_above_4gb",
    ));
    n.extend(xen_str(XEN_ELFNOTE_PAE_MODE, "yes"));
    n.extend(xen_str(XEN_ELFNOTE_LOADER, "generic"));
    n.extend(xen_u32(XEN_ELFNOTE_SUSPEND_CANCEL, 1));
    // Noise libelf skips: a GNU note and a Xen note type it does not know.
    n.extend(note(b"GNU\0", 3, &[1, 2, 3, 4, 5, 6, 7, 8]));
    n.extend(xen_u32(0x99, 7));
    for e in extra {
        n.extend_from_slice(e);
    }
    n
}

/// Kernel "K1": VIRT_BASE 0xC0000000, PADDR_OFFSET 0, text at paddr 0 (0x3000 bytes, R+X),
/// data at paddr 0x3000 (0x800 bytes in the file, 0x2345 in memory, R+W). So pstart 0,
/// pend 0x5345, virt_kstart 0xC0000000, virt_kend 0xC0005345: 6 kernel pages.
fn k1_spec(extra_notes: &[Vec<u8>]) -> Spec {
    Spec {
        entry: 0xc000_0000,
        segs: vec![
            Seg {
                paddr: 0,
                vaddr: 0xc000_0000,
                data: pattern(0x3000, 1),
                memsz: 0x3000,
                flags: PF_R | PF_X,
            },
            Seg {
                paddr: 0x3000,
                vaddr: 0xc000_3000,
                data: pattern(0x800, 2),
                memsz: 0x2345,
                flags: PF_R | PF_W,
            },
        ],
        notes: linux_notes(extra_notes),
        notes_in: NotesIn::Segment,
        notes_pad: 0x123,
        xen_guest: None,
    }
}

fn k1() -> Vec<u8> {
    write_elf(&k1_spec(&[])).bytes
}

fn cfg(memory_mib: u32) -> BuildConfig<'static> {
    BuildConfig {
        cmdline: "console=hvc0 root=/dev/xvda1",
        domid: 5,
        shared_info_maddr: 0x1234_5000,
        ..BuildConfig::new(memory_mib)
    }
}

/// Machine frames that are not the pfns, so that a pfn/mfn mix-up shows.
fn mfn_far(pfn: Pfn) -> Mfn {
    Mfn(pfn.0 + 0x40000)
}

// ---------------------------------------------------------------------------------------
// Notes.

#[test]
fn notes_from_pt_note() {
    let k = parse_kernel(&k1()).unwrap();
    let n = &k.notes;
    assert_eq!(n.source, Some(NotesSource::Segments));
    assert_eq!(n.xen_note_count, 13); // 12 known + 1 unknown type; the GNU note is not Xen's
    assert_eq!(n.guest_os.as_bytes(), b"linux");
    assert_eq!(n.guest_version.as_bytes(), b"2.6");
    assert_eq!(n.xen_version.as_bytes(), b"xen-3.0");
    assert_eq!(n.loader.as_bytes(), b"generic");
    assert_eq!(n.virt_base, Some(0xc000_0000));
    assert_eq!(n.paddr_offset, Some(0));
    assert_eq!(n.entry, Some(0xc000_0000));
    assert_eq!(n.hypercall_page, Some(0xc000_2000));
    assert_eq!(n.hv_start_low, Some(0xf580_0000));
    assert_eq!(n.suspend_cancel, Some(1));
    assert_eq!(n.pae, PaeMode::ExtendedCr3);
    // writable_page_tables = bit 0 (required), pae_pgdir_above_4gb = bit 4.
    assert_eq!(n.features_supported, 0b1_0001);
    assert_eq!(n.features_required, 0b1);
    assert!(!n.mod_start_pfn);

    assert_eq!(k.virt_base, GuestAddr(0xc000_0000));
    assert_eq!(k.virt_kstart, GuestAddr(0xc000_0000));
    assert_eq!(k.virt_kend, GuestAddr(0xc000_5345));
    assert_eq!(k.virt_entry, GuestAddr(0xc000_0000));
    assert_eq!(k.hypercall_page, Some(GuestAddr(0xc000_2000)));
    assert_eq!(k.pstart, 0);
    assert_eq!(k.pend, 0x5345);
    assert_eq!(k.segments.len(), 2);
    assert_eq!(k.segments[1].dest, GuestAddr(0xc000_3000));
}

#[test]
fn notes_only_in_sections() {
    let mut s = k1_spec(&[]);
    s.notes_in = NotesIn::SectionOnly;
    let k = parse_kernel(&write_elf(&s).bytes).unwrap();
    assert_eq!(k.notes.source, Some(NotesSource::Sections));
    assert_eq!(k.virt_kstart, GuestAddr(0xc000_0000));
    assert_eq!(k.hypercall_page, Some(GuestAddr(0xc000_2000)));
}

#[test]
fn pt_note_with_zero_offset_is_skipped() {
    // Some binutils leave p_offset 0 on note segments; libelf skips those and falls back
    // to the sections.
    let w = write_elf(&k1_spec(&[]));
    let mut b = w.bytes;
    let ph_note = w.phoff + 2 * 32;
    put32(&mut b, ph_note + 4, 0);
    let k = parse_kernel(&b).unwrap();
    assert_eq!(k.notes.source, Some(NotesSource::Sections));
}

#[test]
fn unterminated_note_strings_are_tolerated() {
    let mut n = note(b"Xen\0", XEN_ELFNOTE_GUEST_OS, b"linux"); // no NUL, no padding needed
    n.extend(note(b"Xen", XEN_ELFNOTE_XEN_VERSION, b"xen-3.0")); // name without its NUL
    n.extend(note(b"Xen\0", XEN_ELFNOTE_PAE_MODE, b"yes"));
    n.extend(xen_u32(XEN_ELFNOTE_VIRT_BASE, 0xc000_0000));
    let mut s = k1_spec(&[]);
    s.notes = n;
    let k = parse_kernel(&write_elf(&s).bytes).unwrap();
    assert_eq!(k.notes.guest_os.as_bytes(), b"linux");
    assert_eq!(k.notes.xen_version.as_bytes(), b"xen-3.0");
    assert_eq!(k.pae, PaeMode::ExtendedCr3);
    // No ENTRY note: e_entry.
    assert_eq!(k.virt_entry, GuestAddr(0xc000_0000));
}

#[test]
fn legacy_xen_guest_section() {
    // Old kernels: no notes, a "__xen_guest" string. PADDR_OFFSET defaults to VIRT_BASE
    // there, so p_paddr holds virtual addresses; HYPERCALL_PAGE is a page number.
    let mut s = k1_spec(&[]);
    s.notes = Vec::new();
    for seg in &mut s.segs {
        seg.paddr = seg.vaddr;
    }
    s.xen_guest = Some(
        b"GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xC0000000,HYPERCALL_PAGE=0x2,PAE=yes[extended-cr3]\0"
            .to_vec(),
    );
    let k = parse_kernel(&write_elf(&s).bytes).unwrap();
    assert_eq!(k.notes.source, Some(NotesSource::LegacyGuestInfo));
    assert_eq!(k.elf_paddr_offset, 0xc000_0000);
    assert_eq!(k.virt_kstart, GuestAddr(0xc000_0000));
    assert_eq!(k.virt_kend, GuestAddr(0xc000_5345));
    assert_eq!(k.hypercall_page, Some(GuestAddr(0xc000_2000)));
    assert_eq!(k.pae, PaeMode::ExtendedCr3);
}

// ---------------------------------------------------------------------------------------
// Layouts.

/// K1 in a 32 MiB guest (8192 pages):
/// - kernel: virt_kstart == VIRT_BASE, no padding; 0x5345 bytes -> pfns 0-5, allocator at
///   pfn 6 / 0xC0006000.
/// - p2m: 8192 * 4 = 0x8000 bytes = 8 pages -> pfns 6-13 at 0xC0006000.
/// - start_info pfn 14 (0xC000E000), xenstore 15, console 16; allocator at pfn 17.
/// - page tables: end = (0xC0011000 + 129 * 0x1000) | 0x3fffff = 0xC0092000 | 0x3fffff =
///   0xC03FFFFF. Tables: 1 L3; L2s from 0xC0000000 to 0xFFFFFFFF: 1; L1s from 0xC0000000
///   to 0xC03FFFFF: 2. 4 + 129 = 133 pages; 0xC0011000 + 133 * 0x1000 = 0xC0096000 <=
///   0xC0400000: done. L3 pfn 17, L2 18, L1s 19-20, at 0xC0011000. Mapping 0xC0000000 to
///   0xC0400000 = pfns 0-1023 (1023 < 8192: enough memory).
/// - boot stack pfn 21 (0xC0015000), so ESP = 0xC0016000; padding to 0xC0400000: pfn 1024.
#[test]
fn layout_32mib() {
    let img = k1();
    let k = parse_kernel(&img).unwrap();
    let l = build(&k, &img, &cfg(32)).unwrap();
    assert_eq!(l.nr_pages, 8192);
    assert_eq!(l.kernel.pfn, Pfn(0));
    assert_eq!(l.kernel.pages, 6);
    assert_eq!(l.kernel.va_start, GuestAddr(0xc000_0000));
    assert_eq!(l.kernel.va_end, GuestAddr(0xc000_5345));
    assert_eq!(l.ramdisk, None);
    assert_eq!((l.p2m.pfn, l.p2m.pages), (Pfn(6), 8));
    assert_eq!(l.p2m.va_start, GuestAddr(0xc000_6000));
    assert_eq!(l.start_info_pfn, Pfn(14));
    assert_eq!(l.xenstore_pfn, Pfn(15));
    assert_eq!(l.console_pfn, Pfn(16));
    assert_eq!(
        (l.page_table_region.pfn, l.page_table_region.pages),
        (Pfn(17), 4)
    );
    assert_eq!(l.page_table_region.va_start, GuestAddr(0xc001_1000));
    assert_eq!(l.l3_pfn, Pfn(17));
    assert_eq!(l.boot_stack_pfn, Pfn(21));
    assert_eq!(l.mapped_end, GuestAddr(0xc040_0000));
    assert_eq!(l.pfn_alloc_end, Pfn(1024));
    assert_eq!(l.m2p_start, GuestAddr(0xf580_0000));
    let levels: Vec<(Pfn, PtLevel)> = l.page_tables.iter().map(|t| (t.pfn, t.level)).collect();
    assert_eq!(
        levels,
        [
            (Pfn(17), PtLevel::L3),
            (Pfn(18), PtLevel::L2),
            (Pfn(19), PtLevel::L1),
            (Pfn(20), PtLevel::L1)
        ]
    );

    let si = &l.start_info;
    assert_eq!(si.nr_pages, 8192);
    assert_eq!(si.pt_base, 0xc001_1000);
    assert_eq!(si.nr_pt_frames, 4);
    assert_eq!(si.mfn_list, 0xc000_6000);
    assert_eq!(si.flags, 0);
    assert_eq!((si.mod_start, si.mod_len), (0, 0));
    assert_eq!((si.first_p2m_pfn, si.nr_p2m_frames), (0, 0));

    let r = &l.vcpu.user_regs;
    assert_eq!(r.eip, 0xc000_0000);
    assert_eq!(r.esp, 0xc001_6000);
    assert_eq!(r.esi, 0xc000_e000);
    assert_eq!(r.eflags, 0x202);
    assert_eq!(r.cs, 0xe019);
    assert_eq!(
        (r.ds, r.es, r.fs, r.gs, r.ss),
        (0xe021, 0xe021, 0xe021, 0xe021, 0xe021)
    );
    assert_eq!((l.vcpu.kernel_ss, l.vcpu.kernel_sp), (0xe021, 0xc001_6000));
    // Identity p2m: CR3 = xen_pfn_to_cr3(17) = 17 << 12.
    assert_eq!(l.vcpu.ctrlreg[3], 0x11000);
    assert_eq!(l.vcpu.vm_assist, 1 << 3); // pae_extended_cr3
    assert_eq!(l.vcpu.debugreg[6], 0xffff_0ff0);
    assert_eq!(l.vcpu.debugreg[7], 0x400);

    // The two segments: text at pfn 0, data at pfn 3, 0x2345 - 0x800 bytes of bss.
    assert_eq!(l.segments.len(), 2);
    assert_eq!(l.segments[1].pfn, Pfn(3));
    assert_eq!(l.segments[1].page_offset, 0);
    assert_eq!(l.segments[1].zero_len, 0x2345 - 0x800);
    assert_eq!(&img[l.segments[1].file.clone()], &pattern(0x800, 2)[..]);

    let hc = l.hypercall_page.unwrap();
    assert_eq!((hc.va, hc.pfn), (GuestAddr(0xc000_2000), Pfn(2)));
    assert_eq!(
        l.grant_seeds,
        [
            GrantSeed {
                gref: 0,
                domid: 0,
                frame: Mfn(16)
            },
            GrantSeed {
                gref: 1,
                domid: 0,
                frame: Mfn(15)
            },
        ]
    );
}

/// K1 in 128 MiB (32768 pages): p2m 32768 * 4 = 0x20000 bytes = 32 pages, pfns 6-37 at
/// 0xC0006000; start_info 38 (0xC0026000), xenstore 39, console 40; allocator at pfn 41
/// (0xC0029000); end = (0xC0029000 + 0x81000) | 0x3fffff = 0xC03FFFFF, again 4 tables,
/// 0xC0029000 + 133 pages = 0xC00AE000 fits. Page tables pfns 41-44 at 0xC0029000, boot
/// stack 45 (ESP 0xC002E000), padding to pfn 1024.
#[test]
fn layout_128mib() {
    let img = k1();
    let k = parse_kernel(&img).unwrap();
    let l = build(&k, &img, &cfg(128)).unwrap();
    assert_eq!(l.nr_pages, 32768);
    assert_eq!(
        (l.p2m.pfn, l.p2m.pages, l.p2m.va_start),
        (Pfn(6), 32, GuestAddr(0xc000_6000))
    );
    assert_eq!(
        (l.start_info_pfn, l.xenstore_pfn, l.console_pfn),
        (Pfn(38), Pfn(39), Pfn(40))
    );
    assert_eq!(l.page_table_region.pfn, Pfn(41));
    assert_eq!(l.page_table_region.pages, 4);
    assert_eq!(l.start_info.pt_base, 0xc002_9000);
    assert_eq!(l.boot_stack_pfn, Pfn(45));
    assert_eq!(l.vcpu.user_regs.esp, 0xc002_e000);
    assert_eq!(l.vcpu.user_regs.esi, 0xc002_6000);
    assert_eq!(l.mapped_end, GuestAddr(0xc040_0000));
    assert_eq!(l.pfn_alloc_end, Pfn(1024));
}

/// A 4 GiB guest (1048576 pages): the p2m is 4 MiB (1024 pages, pfns 6-1029); start_info
/// 1030, xenstore 1031, console 1032; allocator at pfn 1033 = 0xC0409000. end =
/// (0xC0409000 + 0x81000) | 0x3fffff = 0xC07FFFFF: L3, one L2, L1s 0xC0000000-0xC07FFFFF = 4,
/// 6 tables; 0xC0409000 + 135 pages = 0xC0490000 fits. Tables pfns 1033-1038, stack 1039,
/// padding to 0xC0800000 = pfn 2048.
#[test]
fn layout_4gib_p2m_pushes_mapping_to_8mib() {
    let img = k1();
    let k = parse_kernel(&img).unwrap();
    let l = build(&k, &img, &cfg(4096)).unwrap();
    assert_eq!(l.nr_pages, 1 << 20);
    assert_eq!((l.p2m.pfn, l.p2m.pages), (Pfn(6), 1024));
    assert_eq!(l.start_info_pfn, Pfn(1030));
    assert_eq!(
        (l.page_table_region.pfn, l.page_table_region.pages),
        (Pfn(1033), 6)
    );
    assert_eq!(l.boot_stack_pfn, Pfn(1039));
    assert_eq!(l.mapped_end, GuestAddr(0xc080_0000));
    assert_eq!(l.pfn_alloc_end, Pfn(2048));
    // The L2 points at the four L1s 1035-1038 from slot 0 (0xC0000000 is the start of
    // the 1 GiB slot).
    let l2 = &l.page_tables[1];
    assert_eq!(l2.level, PtLevel::L2);
    for (i, e) in l2.entries.iter().enumerate() {
        let want = if i < 4 {
            ((1035 + i as u64) << 12) | 0x67
        } else {
            0
        };
        assert_eq!(*e, want, "L2[{i}]");
    }
}

/// "K3": 883 kernel pages in 32 MiB, chosen so the first guess at the page tables does not
/// fit. Kernel pfns 0-882; p2m 883-890; start_info 891, xenstore 892, console 893; allocator
/// at pfn 894 = 0xC037E000. Round 1: end = (0xC037E000 + 0x81000) | 0x3fffff = 0xC03FFFFF,
/// 4 tables, 133 pages: 0xC037E000 + 0x85000 = 0xC0403000 > 0xC0400000, again. Round 2:
/// end = 0xC0403000 | 0x3fffff = 0xC07FFFFF, L1s for 0xC0000000-0xC07FFFFF = 4, 6 tables,
/// 135 pages: 0xC0405000 <= 0xC0800000. Tables 894-899 (L3 894, L2 895, L1 896-899), stack
/// 900 (ESP 0xC0385000), padding to pfn 2048.
#[test]
fn layout_second_round_of_pgtable_sizing() {
    let mut s = k1_spec(&[]);
    s.segs = vec![Seg {
        paddr: 0,
        vaddr: 0xc000_0000,
        data: pattern(0x100, 3),
        memsz: 883 * 4096,
        flags: PF_R | PF_W | PF_X,
    }];
    let img = write_elf(&s).bytes;
    let k = parse_kernel(&img).unwrap();
    let l = build(&k, &img, &cfg(32)).unwrap();
    assert_eq!(l.kernel.pages, 883);
    assert_eq!(l.p2m.pfn, Pfn(883));
    assert_eq!(l.start_info_pfn, Pfn(891));
    assert_eq!(
        (l.page_table_region.pfn, l.page_table_region.pages),
        (Pfn(894), 6)
    );
    assert_eq!(l.boot_stack_pfn, Pfn(900));
    assert_eq!(l.vcpu.user_regs.esp, 0xc038_5000);
    assert_eq!(l.mapped_end, GuestAddr(0xc080_0000));
    assert_eq!(l.pfn_alloc_end, Pfn(2048));
    // L1 entries for the page-table frames (894-899) are read-only: P|A = 0x21.
    let l1s: Vec<&Vec<u64>> = l
        .page_tables
        .iter()
        .filter(|t| t.level == PtLevel::L1)
        .map(|t| &t.entries)
        .collect();
    let flat: Vec<u64> = l1s.into_iter().flatten().copied().collect();
    assert_eq!(flat.len(), 2048);
    for (pfn, e) in flat.iter().enumerate() {
        let prot = if (894..900).contains(&pfn) {
            0x21
        } else {
            0x23
        };
        assert_eq!(*e, ((pfn as u64) << 12) | prot, "L1 entry for pfn {pfn}");
    }

    // The same kernel in 4 MiB (1024 pages) fits exactly: p2m 1 page (883), start_info
    // 884, xenstore 885, console 886, tables 887-890 (end 0xC03FFFFF, 0xC0377000 + 133
    // pages = 0xC03FC000 fits; last mapped pfn 1023 < 1024), stack 891, and the padding
    // takes the last 132 pages.
    let l = build(&k, &img, &cfg(4)).unwrap();
    assert_eq!(l.page_table_region.pfn, Pfn(887));
    assert_eq!(l.boot_stack_pfn, Pfn(891));
    assert_eq!(l.pfn_alloc_end, Pfn(1024));
    // In 3 MiB the kernel alone (883 pages) does not fit in 768 pages.
    assert_eq!(
        build(&k, &img, &cfg(3)).err(),
        Some(BuildError::OutOfMemory("kernel"))
    );
}

/// "K2", Mini-OS style: no VIRT_BASE (0), no PADDR_OFFSET (0), no ENTRY (e_entry). Kernel
/// 0x3F0000 bytes = pfns 0-1007; p2m (32 MiB) 1008-1015 at 0x3F0000; start_info 1016
/// (0x3F8000), xenstore 1017, console 1018; allocator at pfn 1019 = 0x3FB000. end =
/// (0x3FB000 + 0x81000) | 0x3fffff = 0x7FFFFF. L2s: end < 0xC0000000, so they run from 0 to
/// 0xFFFFFFFF: 4 of them; L1s for 0-0x7FFFFF: 4; with the L3, 9 tables; 0x3FB000 + 138 pages
/// = 0x485000 fits. L3 1019, L2s 1020-1023, L1s 1024-1027; stack 1028 (ESP 0x405000);
/// padding to 0x800000 = pfn 2048.
#[test]
fn layout_low_virt_base_has_four_l2s() {
    let mut n = Vec::new();
    n.extend(xen_str(XEN_ELFNOTE_GUEST_OS, "Mini-OS"));
    n.extend(xen_str(XEN_ELFNOTE_LOADER, "generic"));
    n.extend(xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-3.0"));
    n.extend(xen_str(XEN_ELFNOTE_PAE_MODE, "yes"));
    n.extend(xen_u32(XEN_ELFNOTE_HYPERCALL_PAGE, 0x1000));
    let s = Spec {
        entry: 0x0,
        segs: vec![Seg {
            paddr: 0,
            vaddr: 0,
            data: pattern(0x2000, 9),
            memsz: 0x3f_0000,
            flags: PF_R | PF_W | PF_X,
        }],
        notes: n,
        notes_in: NotesIn::Segment,
        notes_pad: 0,
        xen_guest: None,
    };
    let img = write_elf(&s).bytes;
    let k = parse_kernel(&img).unwrap();
    assert_eq!(k.virt_base, GuestAddr(0));
    let c = BuildConfig {
        mfn_of: &mfn_far,
        ..cfg(32)
    };
    let l = build(&k, &img, &c).unwrap();
    assert_eq!(l.kernel.pages, 1008);
    assert_eq!(l.p2m.pfn, Pfn(1008));
    assert_eq!(l.start_info_pfn, Pfn(1016));
    assert_eq!(
        (l.page_table_region.pfn, l.page_table_region.pages),
        (Pfn(1019), 9)
    );
    assert_eq!(l.page_table_region.va_start, GuestAddr(0x3f_b000));
    assert_eq!(l.boot_stack_pfn, Pfn(1028));
    assert_eq!(l.vcpu.user_regs.esp, 0x40_5000);
    assert_eq!(l.vcpu.user_regs.esi, 0x3f_8000);
    assert_eq!(l.mapped_end, GuestAddr(0x80_0000));
    assert_eq!(l.pfn_alloc_end, Pfn(2048));
    assert_eq!(l.hypercall_page.unwrap().pfn, Pfn(1));

    let m = |pfn: u64| (pfn + 0x40000) << 12;
    let pts = &l.page_tables;
    assert_eq!(pts.len(), 9);
    // L3: slots 0-3 -> L2s 1020-1023 (P|RW|A|D|U = 0x67); 4-511 zero.
    assert_eq!(pts[0].level, PtLevel::L3);
    for (i, e) in pts[0].entries.iter().enumerate() {
        let want = if i < 4 { m(1020 + i as u64) | 0x67 } else { 0 };
        assert_eq!(*e, want, "L3[{i}]");
    }
    // First L2: slots 0-3 -> L1s 1024-1027; the L2s for 1-3 GiB and 3-4 GiB are empty
    // (Xen fills its own slots in the last one when the L3 is pinned).
    for (i, e) in pts[1].entries.iter().enumerate() {
        let want = if i < 4 { m(1024 + i as u64) | 0x67 } else { 0 };
        assert_eq!(*e, want, "L2#0[{i}]");
    }
    for t in &pts[2..5] {
        assert_eq!(t.level, PtLevel::L2);
        assert!(t.entries.iter().all(|&e| e == 0));
    }
    // L1s: pfn 0-2047, page tables 1019-1027 read-only.
    let flat: Vec<u64> = pts[5..]
        .iter()
        .flat_map(|t| t.entries.iter().copied())
        .collect();
    for (pfn, e) in flat.iter().enumerate() {
        let prot = if (1019..1028).contains(&pfn) {
            0x21
        } else {
            0x23
        };
        assert_eq!(*e, m(pfn as u64) | prot, "L1 entry for pfn {pfn}");
    }
    assert_eq!(l.vcpu.ctrlreg[3], xen_pfn_to_cr3(1019 + 0x40000));
}

/// K1 at 32 MiB with the same machine frames as above: L3 (pfn 17) slot 3 -> L2 pfn 18;
/// L2 slots 0-1 -> L1s 19, 20; L1s map pfns 0-1023 with 17-20 read-only.
#[test]
fn page_table_entries_32mib() {
    let img = k1();
    let k = parse_kernel(&img).unwrap();
    let c = BuildConfig {
        mfn_of: &mfn_far,
        ..cfg(32)
    };
    let l = build(&k, &img, &c).unwrap();
    let m = |pfn: u64| (pfn + 0x40000) << 12;
    let l3 = &l.page_tables[0].entries;
    assert_eq!(l3.len(), 512);
    assert_eq!(l3[3], m(18) | 0x67);
    assert!(l3.iter().enumerate().all(|(i, &e)| i == 3 || e == 0));
    let l2 = &l.page_tables[1].entries;
    assert_eq!((l2[0], l2[1]), (m(19) | 0x67, m(20) | 0x67));
    assert!(l2[2..].iter().all(|&e| e == 0));
    let flat: Vec<u64> = l.page_tables[2..]
        .iter()
        .flat_map(|t| t.entries.iter().copied())
        .collect();
    assert_eq!(flat.len(), 1024);
    for (pfn, e) in flat.iter().enumerate() {
        let prot = if (17..21).contains(&pfn) { 0x21 } else { 0x23 };
        assert_eq!(*e, m(pfn as u64) | prot);
    }
    // CR3 = xen_pfn_to_cr3(0x40011) = 0x40011000.
    assert_eq!(l.vcpu.ctrlreg[3], 0x4001_1000);
    assert_eq!(l.start_info.store_mfn, 0x4000f);
    assert_eq!(l.start_info.console.dom_u().mfn, 0x40010);

    // An L3 above 4 GiB: the extended-cr3 encoding folds the high bits into the low ones.
    let high = |p: Pfn| Mfn(p.0 + 0x12_3400);
    let c = BuildConfig {
        mfn_of: &high,
        ..cfg(32)
    };
    let l = build(&k, &img, &c).unwrap();
    assert_eq!(l.vcpu.ctrlreg[3], 0x2341_1001); // (0x123411 << 12) | (0x123411 >> 20)
}

/// The p2m list holds mfn_of(pfn) for every pfn, 1024 per page.
#[test]
fn p2m_pages() {
    let img = k1();
    let k = parse_kernel(&img).unwrap();
    let l = build(&k, &img, &cfg(32)).unwrap();
    let p = l.p2m_page(7, &mfn_far).unwrap();
    assert_eq!(&p[..4], &(7 * 1024 + 0x40000u32).to_le_bytes());
    assert_eq!(&p[4092..], &(8 * 1024 - 1 + 0x40000u32).to_le_bytes());
    assert!(l.p2m_page(8, &mfn_far).is_none());
    // 33 MiB: 8448 entries, the last page half full.
    let l = build(&k, &img, &cfg(33)).unwrap();
    assert_eq!(l.p2m.pages, 9);
    let p = l.p2m_page(8, &mfn_far).unwrap();
    assert_eq!(&p[1020..1024], &(8447 + 0x40000u32).to_le_bytes());
    assert!(p[1024..].iter().all(|&b| b == 0));
}

/// A ramdisk of 0x12345 bytes (19 pages) right after K1: pfns 6-24 at 0xC0006000; the p2m
/// moves to 25-32 (0xC0019000), start_info 33 (0xC0021000), xenstore 34, console 35, page
/// tables 36-39 at 0xC0024000 (end 0xC03FFFFF still), stack 40 (ESP 0xC0029000).
#[test]
fn layout_with_ramdisk() {
    let img = k1();
    let k = parse_kernel(&img).unwrap();
    let c = BuildConfig {
        ramdisk_len: Some(0x12345),
        ..cfg(32)
    };
    let l = build(&k, &img, &c).unwrap();
    let rd = l.ramdisk.unwrap();
    assert_eq!((rd.pfn, rd.pages, rd.len), (Pfn(6), 19, 0x12345));
    assert_eq!(rd.va, Some(GuestAddr(0xc000_6000)));
    assert_eq!(l.p2m.pfn, Pfn(25));
    assert_eq!(l.p2m.va_start, GuestAddr(0xc001_9000));
    assert_eq!(l.start_info_pfn, Pfn(33));
    assert_eq!(l.page_table_region.pfn, Pfn(36));
    assert_eq!(l.boot_stack_pfn, Pfn(40));
    assert_eq!(l.vcpu.user_regs.esp, 0xc002_9000);
    assert_eq!(l.start_info.mod_start, 0xc000_6000);
    assert_eq!(l.start_info.mod_len, 0x12345);
    assert_eq!(l.start_info.flags, 0);
    assert_eq!(l.start_info.mfn_list, 0xc001_9000);
}

/// With MOD_START_PFN the ramdisk goes after the 4 MiB padding, unmapped: the layout is the
/// plain 32 MiB one up to pfn 1024, then the ramdisk at pfns 1024-1042, start_info.flags =
/// SIF_MOD_START_PFN, mod_start = 1024 (a pfn), mod_len = 19 pages = 0x13000.
#[test]
fn layout_with_unmapped_ramdisk() {
    let img = write_elf(&k1_spec(&[xen_u32(XEN_ELFNOTE_MOD_START_PFN, 1)])).bytes;
    let k = parse_kernel(&img).unwrap();
    assert!(k.unmapped_initrd);
    let c = BuildConfig {
        ramdisk_len: Some(0x12345),
        ..cfg(32)
    };
    let l = build(&k, &img, &c).unwrap();
    assert_eq!(l.p2m.pfn, Pfn(6));
    assert_eq!(l.page_table_region.pfn, Pfn(17));
    let rd = l.ramdisk.unwrap();
    assert_eq!((rd.pfn, rd.pages, rd.va), (Pfn(1024), 19, None));
    assert_eq!(l.start_info.flags, 8);
    assert_eq!(
        (l.start_info.mod_start, l.start_info.mod_len),
        (1024, 0x13000)
    );
    assert_eq!(l.pfn_alloc_end, Pfn(1043));
}

/// Kernel at paddr 0x100000 with PADDR_OFFSET 0: virt_kstart 0xC0100000, so pfns 0-255 are
/// padding and the kernel is pfns 256-261; p2m 262-269 (0xC0106000); start_info 270
/// (0xC010E000); tables 273-276 at 0xC0111000; stack 277 (ESP 0xC0116000). The same with
/// the older convention p_paddr = virtual address and PADDR_OFFSET = VIRT_BASE.
#[test]
fn layout_padding_before_kernel() {
    for (paddr_base, paddr_offset) in [(0x10_0000u32, 0u32), (0xc010_0000, 0xc000_0000)] {
        let mut s = k1_spec(&[]);
        let mut n = Vec::new();
        n.extend(xen_str(XEN_ELFNOTE_GUEST_OS, "linux"));
        n.extend(xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-3.0"));
        n.extend(xen_str(XEN_ELFNOTE_PAE_MODE, "yes"));
        n.extend(xen_u32(XEN_ELFNOTE_VIRT_BASE, 0xc000_0000));
        n.extend(xen_u32(XEN_ELFNOTE_PADDR_OFFSET, paddr_offset));
        n.extend(xen_u32(XEN_ELFNOTE_ENTRY, 0xc010_1000));
        s.notes = n;
        s.segs[0].paddr = paddr_base;
        s.segs[0].vaddr = 0xc010_0000;
        s.segs[1].paddr = paddr_base + 0x3000;
        s.segs[1].vaddr = 0xc010_3000;
        let img = write_elf(&s).bytes;
        let k = parse_kernel(&img).unwrap();
        assert_eq!(k.virt_kstart, GuestAddr(0xc010_0000));
        let l = build(&k, &img, &cfg(32)).unwrap();
        assert_eq!((l.kernel.pfn, l.kernel.pages), (Pfn(256), 6));
        assert_eq!(l.segments[1].pfn, Pfn(259));
        assert_eq!(l.p2m.pfn, Pfn(262));
        assert_eq!(l.start_info_pfn, Pfn(270));
        assert_eq!(l.page_table_region.pfn, Pfn(273));
        assert_eq!(l.vcpu.user_regs.esp, 0xc011_6000);
        assert_eq!(l.vcpu.user_regs.eip, 0xc010_1000);
    }
}

/// start_info as the guest reads it (xen.h, x86_32 offsets), for K1 at 32 MiB with
/// mfn = pfn + 0x40000.
#[test]
fn start_info_bytes_32mib() {
    let img = k1();
    let k = parse_kernel(&img).unwrap();
    let c = BuildConfig {
        mfn_of: &mfn_far,
        store_evtchn: 1,
        console_evtchn: 2,
        ..cfg(32)
    };
    let l = build(&k, &img, &c).unwrap();
    let b = start_info_bytes(&l.start_info);
    assert_eq!(b.len(), START_INFO_SIZE);
    let mut want = vec![0u8; 1112];
    want[..15].copy_from_slice(b"xen-3.0-x86_32p");
    let fields: [(usize, u32); 14] = [
        (32, 8192),        // nr_pages
        (36, 0x1234_5000), // shared_info
        (40, 0),           // flags
        (44, 0x4000f),     // store_mfn: pfn 15
        (48, 1),           // store_evtchn
        (52, 0x40010),     // console.domU.mfn: pfn 16
        (56, 2),           // console.domU.evtchn
        (60, 0xc001_1000), // pt_base
        (64, 4),           // nr_pt_frames
        (68, 0xc000_6000), // mfn_list
        (72, 0),           // mod_start
        (76, 0),           // mod_len
        (1104, 0),         // first_p2m_pfn
        (1108, 0),         // nr_p2m_frames
    ];
    for (off, v) in fields {
        want[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    let cmd = b"console=hvc0 root=/dev/xvda1";
    want[80..80 + cmd.len()].copy_from_slice(cmd);
    assert_eq!(&b[..], &want[..]);
}

/// Xen's pv_ring1_init_hypercall_page, transcribed independently.
#[test]
fn hypercall_page_matches_xen() {
    let mut want = vec![0xccu8; 4096];
    for i in 0..128u32 {
        let p = &mut want[i as usize * 32..];
        if i == 23 {
            p[..8].copy_from_slice(&[0x50, 0xb8, 23, 0, 0, 0, 0xcd, 0x82]);
        } else {
            p[0] = 0xb8;
            p[1..5].copy_from_slice(&i.to_le_bytes());
            p[5..8].copy_from_slice(&[0xcd, 0x82, 0xc3]);
        }
    }
    assert_eq!(&hypercall_page_bytes()[..], &want[..]);
}

// ---------------------------------------------------------------------------------------
// Bad input.

fn err(img: &[u8]) -> BuildError {
    parse_kernel(img).expect_err("should fail")
}

#[test]
fn every_truncation_fails_cleanly() {
    let img = k1();
    for len in 0..img.len() {
        let e = err(&img[..len]);
        if len < 52 {
            assert_eq!(e, BuildError::TruncatedHeader, "len {len}");
        }
    }
    let mut bad = img.clone();
    bad[0] = b'M';
    assert_eq!(err(&bad), BuildError::NotElf);
}

#[test]
fn absurd_headers() {
    let w = write_elf(&k1_spec(&[]));
    let img = w.bytes;
    let mut b = img.clone();
    put16(&mut b, 44, 0xffff); // e_phnum
    assert_eq!(err(&b), BuildError::TruncatedProgramHeaders);
    let mut b = img.clone();
    put32(&mut b, 28, 0xffff_ffff); // e_phoff
    assert_eq!(err(&b), BuildError::TruncatedProgramHeaders);
    let mut b = img.clone();
    put16(&mut b, 42, 0x20_00); // e_phentsize
    assert_eq!(err(&b), BuildError::BadProgramHeaderSize);
    let mut b = img.clone();
    put32(&mut b, 32, 0xffff_fff0); // e_shoff
    assert_eq!(err(&b), BuildError::TruncatedSectionHeaders);
    let mut b = img.clone();
    put16(&mut b, 44, 0); // no program headers
    assert_eq!(err(&b), BuildError::NoLoadableSegments);
    let mut b = img.clone();
    b[4] = 2;
    assert_eq!(err(&b), BuildError::NotElf32);
    let mut b = img.clone();
    put16(&mut b, 18, 62);
    assert_eq!(err(&b), BuildError::NotI386);
    let mut b = img.clone();
    put16(&mut b, 16, 3);
    assert_eq!(err(&b), BuildError::NotExecutable);

    // Program header fields of the first (text) segment.
    let ph0 = w.phoff;
    let mut b = img.clone();
    put32(&mut b, ph0 + 16, 0xffff_0000); // p_filesz
    put32(&mut b, ph0 + 20, 0xffff_0000);
    assert_eq!(err(&b), BuildError::TruncatedSegment);
    let mut b = img.clone();
    put32(&mut b, ph0 + 4, 0xffff_ff00); // p_offset
    assert_eq!(err(&b), BuildError::TruncatedSegment);
    let mut b = img.clone();
    put32(&mut b, ph0 + 20, 0x10); // p_memsz < p_filesz
    assert_eq!(err(&b), BuildError::SegmentFileSizeTooBig);
    let mut b = img.clone();
    put32(&mut b, ph0 + 12, 0x1000); // p_paddr: into the data segment
    assert_eq!(err(&b), BuildError::OverlappingSegments);
    let mut b = img.clone();
    put32(&mut b, ph0 + 32 + 20, 0xffff_ffff); // data p_memsz: past 4 GiB
    assert_eq!(err(&b), BuildError::SegmentTooLarge);
    let mut b = img.clone();
    put32(&mut b, ph0 + 32 + 20, 0x4000_0000); // 1 GiB of bss: into the M2P window
    assert_eq!(err(&b), BuildError::KernelInHypervisorArea);
    // 256 MiB of bss parses, but not in a 32 MiB guest.
    let mut b = img.clone();
    put32(&mut b, ph0 + 32 + 20, 0x1000_0000);
    let k = parse_kernel(&b).unwrap();
    assert_eq!(
        build(&k, &b, &cfg(32)).err(),
        Some(BuildError::OutOfMemory("kernel"))
    );
    // A PT_LOAD with no permissions is ignored by libelf: the kernel is just the text.
    let mut b = img.clone();
    put32(&mut b, ph0 + 32 + 24, 0);
    assert_eq!(parse_kernel(&b).unwrap().virt_kend, GuestAddr(0xc000_3000));
}

#[test]
fn bad_notes() {
    let w = write_elf(&k1_spec(&[]));
    let img = w.bytes;
    let ph_note = w.phoff + 2 * 32;
    // PT_NOTE past the end of the file.
    let mut b = img.clone();
    put32(&mut b, ph_note + 16, 0x100_0000);
    assert_eq!(err(&b), BuildError::TruncatedNotes);
    // First note's namesz / descsz running past the segment.
    let mut b = img.clone();
    put32(&mut b, w.notes_off, 0xffff_fffd);
    assert_eq!(err(&b), BuildError::MalformedNote);
    // A descriptor running past the segment is cut at its end, as libelf's bounded reads
    // do (GRUB's PAE_MODE note needs that); it swallows the notes after it, so the kernel
    // no longer says it is for xen-3.0.
    let mut b = img.clone();
    put32(&mut b, w.notes_off + 4, 0x7fff_ffff);
    assert_eq!(err(&b), BuildError::NotXen30);
    // A numeric note of 3 bytes.
    let bad = note(b"Xen\0", XEN_ELFNOTE_ENTRY, &[0, 0, 0xc0]);
    let b = write_elf(&k1_spec(&[bad])).bytes;
    assert_eq!(err(&b), BuildError::BadNoteSize("ENTRY"));
    let bad = note(b"Xen\0", XEN_ELFNOTE_SUPPORTED_FEATURES, &[1, 2, 3]);
    let b = write_elf(&k1_spec(&[bad])).bytes;
    assert_eq!(err(&b), BuildError::BadNoteSize("SUPPORTED_FEATURES"));
    // An unknown required feature.
    let b = write_elf(&k1_spec(&[xen_str(XEN_ELFNOTE_FEATURES, "!teleportation")])).bytes;
    assert_eq!(err(&b), BuildError::UnknownRequiredFeature);
}

#[test]
fn kernels_libxc_refuses() {
    let with = |extra: Vec<u8>| write_elf(&k1_spec(&[extra])).bytes;
    let with_notes = |n: Vec<u8>| {
        let mut s = k1_spec(&[]);
        s.notes = n;
        write_elf(&s).bytes
    };
    // No notes at all.
    assert_eq!(err(&with_notes(Vec::new())), BuildError::NoXenNotes);
    // Only non-Xen notes.
    assert_eq!(
        err(&with_notes(note(b"GNU\0", 3, &[0; 4]))),
        BuildError::NoXenNotes
    );
    // PAE_MODE "no" (or no PAE_MODE) is a non-PAE kernel. A later "no" does not undo an
    // earlier "yes": libelf only ever sets the mode.
    let mut n = xen_str(XEN_ELFNOTE_GUEST_OS, "linux");
    n.extend(xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-3.0"));
    n.extend(xen_u32(XEN_ELFNOTE_VIRT_BASE, 0xc000_0000));
    n.extend(xen_str(XEN_ELFNOTE_PAE_MODE, "no"));
    assert_eq!(err(&with_notes(n)), BuildError::NotPae);
    let k = parse_kernel(&with(xen_str(XEN_ELFNOTE_PAE_MODE, "no"))).unwrap();
    assert_eq!(k.pae, PaeMode::ExtendedCr3);
    // Later string notes override earlier ones, as in libelf.
    assert_eq!(
        err(&with(xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-4.0"))),
        BuildError::NotXen30
    );
    let mut n = xen_str(XEN_ELFNOTE_GUEST_OS, "Plan9");
    n.extend(xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-3.0"));
    n.extend(xen_str(XEN_ELFNOTE_PAE_MODE, "yes"));
    assert_eq!(err(&with_notes(n)), BuildError::NotGenericOrLinux);
    assert_eq!(
        err(&with(xen_u32(XEN_ELFNOTE_ENTRY, 0xc000_6000))),
        BuildError::EntryOutsideKernel
    );
    assert_eq!(
        err(&with(xen_u32(XEN_ELFNOTE_ENTRY, 0xbfff_ffff))),
        BuildError::EntryOutsideKernel
    );
    // libelf accepts an entry equal to virt_kend.
    assert!(parse_kernel(&with(xen_u32(XEN_ELFNOTE_ENTRY, 0xc000_5345))).is_ok());
    // PADDR_OFFSET above pstart puts the kernel below VIRT_BASE.
    assert_eq!(
        err(&with(xen_u32(XEN_ELFNOTE_PADDR_OFFSET, 0x1000))),
        BuildError::KernelBelowVirtBase
    );
    // A kernel starting mid-page (xc_dom_alloc_pad refuses the boundary).
    let mut s = k1_spec(&[xen_u32(XEN_ELFNOTE_ENTRY, 0xc000_0800)]);
    s.segs[0].paddr = 0x800;
    s.segs[1].paddr = 0x3800;
    assert_eq!(err(&write_elf(&s).bytes), BuildError::KernelNotPageAligned);
    assert_eq!(
        err(&with(xen_str(XEN_ELFNOTE_FEATURES, "!dom0"))),
        BuildError::DomUUnsupported
    );
    assert_eq!(
        err(&with(xen_str(
            XEN_ELFNOTE_FEATURES,
            "!auto_translated_physmap"
        ))),
        BuildError::AutoTranslateUnsupported
    );
    assert_eq!(
        err(&with(xen_u32(XEN_ELFNOTE_HYPERCALL_PAGE, 0x1000))),
        BuildError::HypercallPageOutside
    );
    let mut n = xen_str(XEN_ELFNOTE_GUEST_OS, "linux");
    n.extend(xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-3.0"));
    n.extend(xen_str(XEN_ELFNOTE_PAE_MODE, "yes"));
    n.extend(xen_u32(XEN_ELFNOTE_PADDR_OFFSET, 0));
    assert_eq!(err(&with_notes(n)), BuildError::PaddrOffsetWithoutVirtBase);

    // A hypercall page beyond guest memory is a build error.
    let b = with(xen_u32(XEN_ELFNOTE_HYPERCALL_PAGE, 0xc300_0000));
    let k = parse_kernel(&b).unwrap();
    assert!(build(&k, &b, &cfg(64)).is_ok());
    assert_eq!(
        build(&k, &b, &cfg(32)).err(),
        Some(BuildError::HypercallPageOutside)
    );
}

#[test]
fn bad_build_configs() {
    let img = k1();
    let k = parse_kernel(&img).unwrap();
    // 3 MiB: the initial mapping (to 0xC03FFFFF, pfn 1023) needs 1024 pages.
    assert_eq!(
        build(&k, &img, &cfg(3)).err(),
        Some(BuildError::MappingTooLarge)
    );
    assert!(build(&k, &img, &cfg(4)).is_ok());
    assert_eq!(
        build(&k, &img, &cfg(0)).err(),
        Some(BuildError::BadMemorySize)
    );
    let c = BuildConfig {
        nr_vcpus: 0,
        ..cfg(32)
    };
    assert_eq!(build(&k, &img, &c).err(), Some(BuildError::NoVcpus));
    let c = BuildConfig {
        shared_info_maddr: 0x1_0000_0000,
        ..cfg(32)
    };
    assert_eq!(build(&k, &img, &c).err(), Some(BuildError::BadSharedInfo));
    // A ramdisk that does not fit: 32 MiB of it in a 32 MiB guest.
    let c = BuildConfig {
        ramdisk_len: Some(32 << 20),
        ..cfg(32)
    };
    assert_eq!(
        build(&k, &img, &c).err(),
        Some(BuildError::OutOfMemory("ramdisk"))
    );
    // A mapped ramdisk that pushes the mapping into the M2P window.
    let c = BuildConfig {
        ramdisk_len: Some(0x3600_0000),
        ..cfg(2048)
    };
    assert_eq!(
        build(&k, &img, &c).err(),
        Some(BuildError::MappingInHypervisorArea)
    );
    // The wrong image.
    assert_eq!(
        build(&k, &img[..200], &cfg(32)).err(),
        Some(BuildError::ImageMismatch)
    );
}

/// Deterministic byte mutations of a valid kernel: parse and build must never panic.
#[test]
fn mutations_never_panic() {
    let img = k1();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Mutate mostly the headers and notes, where the parser looks.
    let hot = 0x300.min(img.len());
    for _ in 0..20_000 {
        let mut b = img.clone();
        for _ in 0..1 + next() % 4 {
            let r = next();
            let pos = if r % 4 == 0 {
                (r >> 8) as usize % b.len()
            } else {
                (r >> 8) as usize % hot
            };
            b[pos] = match r % 3 {
                0 => (r >> 40) as u8,
                1 => 0xff,
                _ => 0,
            };
        }
        if let Ok(k) = parse_kernel(&b) {
            let _ = build(&k, &b, &cfg(16));
        }
    }
}

#[test]
fn error_messages_are_one_line() {
    use BuildError::*;
    let all = [
        NotElf,
        TruncatedHeader,
        NotElf32,
        NotLittleEndian,
        NotExecutable,
        NotI386,
        BadProgramHeaderSize,
        TruncatedProgramHeaders,
        BadSectionHeaderSize,
        TruncatedSectionHeaders,
        NoLoadableSegments,
        TruncatedSegment,
        SegmentFileSizeTooBig,
        SegmentTooLarge,
        OverlappingSegments,
        TruncatedNotes,
        MalformedNote,
        TooManyNotes,
        BadNoteSize("ENTRY"),
        UnknownRequiredFeature,
        NoXenNotes,
        NotGenericOrLinux,
        NotXen30,
        PaddrOffsetWithoutVirtBase,
        KernelBelowVirtBase,
        EntryOutsideKernel,
        P2mBaseInsideKernel,
        KernelInHypervisorArea,
        KernelNotPageAligned,
        HypercallPageOutside,
        NotPae,
        DomUUnsupported,
        AutoTranslateUnsupported,
        BsdSymtabUnsupported,
        BadMemorySize,
        NoVcpus,
        BadSharedInfo,
        ImageMismatch,
        OutOfMemory("kernel"),
        MappingTooLarge,
        MappingInHypervisorArea,
        L3Above4G,
    ];
    for e in all {
        let m = e.to_string();
        assert!(!m.contains('\n') && !m.ends_with('.'), "{m:?}");
        assert!(m.chars().next().unwrap().is_uppercase(), "{m:?}");
    }
    assert_eq!(NoXenNotes.to_string(), "No Xen notes (not a PV kernel)");
    assert_eq!(
        BadNoteSize("ENTRY").to_string(),
        "Xen note ENTRY has a bad size"
    );
    assert_eq!(
        OutOfMemory("p2m list").to_string(),
        "Guest memory too small for the p2m list"
    );
}

// ---------------------------------------------------------------------------------------
// A kernel from a real toolchain.

const TINY_KERNEL_C: &str = r#"
/* Xen notes as Linux's ELFNOTE() macro emits them. */
#define NOTE(type, desc) \
    ".balign 4\n.long 4\n.long 2f-1f\n.long " #type "\n.asciz \"Xen\"\n.balign 4\n1: " desc "\n2: .balign 4\n"
__asm__(
    ".pushsection .note.Xen," NOTE_FLAGS ",@note\n"
    NOTE(6, ".asciz \"linux\"")
    NOTE(5, ".asciz \"xen-3.0\"")
    NOTE(3, ".long 0xc0000000")
    NOTE(4, ".long 0xc0000000")
    NOTE(1, ".long _start")
    NOTE(2, ".long hypercall_page")
    NOTE(9, ".asciz \"yes\"")
    NOTE(10, ".asciz \"!writable_page_tables|pae_pgdir_above_4gb\"")
    ".popsection\n"
    ".text\n.balign 4096\n.globl hypercall_page\nhypercall_page: .skip 4096\n");
static volatile int counter = 1;
void _start(void) { for (;;) counter++; }
"#;

/// Compile the tiny kernel; `None` (and the test is skipped) without a 32-bit toolchain.
fn compile_tiny_kernel(alloc_notes: bool) -> Option<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!(
        "xdbt-pv-builder-{}-{alloc_notes}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join("k.c");
    let out = dir.join("k");
    std::fs::write(&src, TINY_KERNEL_C).ok()?;
    let flags = if alloc_notes {
        "-DNOTE_FLAGS=\"\\\"a\\\"\""
    } else {
        "-DNOTE_FLAGS=\"\\\"\\\"\""
    };
    let ok = std::process::Command::new("gcc")
        .args([
            "-m32",
            "-O1",
            "-ffreestanding",
            "-nostdlib",
            "-static",
            "-no-pie",
        ])
        .arg(flags)
        .args(["-Wl,--build-id=none", "-Wl,-Ttext-segment=0xc0000000", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let img = if ok { std::fs::read(&out).ok() } else { None };
    let _ = std::fs::remove_dir_all(&dir);
    if img.is_none() {
        eprintln!("gcc -m32 unavailable: skipping the compiled-kernel test");
    }
    img
}

#[test]
fn gcc_built_kernel() {
    let Some(img) = compile_tiny_kernel(true) else {
        return;
    };
    let k = parse_kernel(&img).unwrap();
    // ld puts allocated note sections in a PT_NOTE segment, mid-page in the first load.
    assert_eq!(k.notes.source, Some(NotesSource::Segments));
    assert_eq!(k.virt_base, GuestAddr(0xc000_0000));
    assert_eq!(k.virt_kstart, GuestAddr(0xc000_0000)); // p_paddr 0xC0000000 - 0xC0000000 + VIRT_BASE
    let e_entry = u32::from_le_bytes(img[24..28].try_into().unwrap());
    assert_eq!(k.virt_entry, GuestAddr(e_entry));
    let hc = k.hypercall_page.unwrap();
    assert_eq!(hc.0 % 4096, 0);
    let l = build(&k, &img, &cfg(32)).unwrap();
    assert_eq!(l.kernel.pfn, Pfn(0));
    assert_eq!(
        l.hypercall_page.unwrap().pfn,
        Pfn((hc.0 - 0xc000_0000) >> 12)
    );
    assert_eq!(l.vcpu.user_regs.eip, e_entry);
    // Every segment lands at its p_vaddr here (p_paddr == p_vaddr, PADDR_OFFSET == VIRT_BASE).
    for (s, c) in k.segments.iter().zip(&l.segments) {
        assert_eq!(c.va, GuestAddr(s.vaddr));
        assert_eq!(c.pfn, Pfn((s.vaddr - 0xc000_0000) >> 12));
        assert_eq!(c.page_offset, s.vaddr % 4096);
    }

    // Without the "a" flag the notes are only a section.
    let Some(img) = compile_tiny_kernel(false) else {
        return;
    };
    let k = parse_kernel(&img).unwrap();
    assert_eq!(k.notes.source, Some(NotesSource::Sections));
    assert!(build(&k, &img, &cfg(32)).is_ok());
}
