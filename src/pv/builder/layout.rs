//! The x86_32p layout, step for step as libxc computes it (Xen 4.17.5):
//!
//! - `check_kernel`: libelf `elf_xen_note_check` and `elf_xen_addr_calc_check`
//!   (xen/common/libelf/libelf-dominfo.c:362, :416), libxc `xc_dom_parse_elf_kernel` and
//!   `xc_dom_guest_type` (tools/libs/guest/xg_dom_elfloader.c:146, :53), `bootearly`
//!   (xg_dom_x86.c:1652).
//! - `build`: `xc_dom_build_image` (xg_dom_core.c:1138) with the `xc_dom_32_pae` hooks
//!   (xg_dom_x86.c:1886): `alloc_p2m_list_x86_32` (:539), `alloc_magic_pages_pv` (:575),
//!   `alloc_pgtables_x86_32_pae` (:273) -> `alloc_pgtables_pv` (:240) -> `count_pgtables`
//!   (:138), the boot stack, the 4 MiB padding; then what `xc_dom_boot_image`
//!   (xg_dom_boot.c:165) writes: `setup_pgtables_x86_32_pae` (:450) -> `setup_pgtables_pv`
//!   (:404) with `get_pg_prot` (:380), `start_info_x86_32` (:755), `setup_hypercall_page`
//!   (xg_dom_boot.c:40), `vcpu_x86_32` (:880), and `xc_dom_gnttab_init` (xg_dom_boot.c:427).
//!
//! The segment allocator (`xc_dom_chk_alloc_pages`, `xc_dom_alloc_pad`,
//! `xc_dom_alloc_segment`, `xc_dom_alloc_page`, xg_dom_core.c:527, :553, :577, :613) hands
//! out pfns from 0 and virtual addresses from VIRT_BASE in step, so VA = VIRT_BASE +
//! pfn * 4096 throughout the mapping.

use super::boot;
use super::elf::{range, Elf};
use super::notes::{NotesSource, PaeMode, XenNotes};
use super::{
    BootLayout, BuildConfig, BuildError, GrantSeed, HypercallPage, KernelInfo, LoadSegment, Module,
    PageTable, Pfn, PtLevel, Region, SegmentCopy, FEATURE_AUTO_TRANSLATE, FEATURE_DOM0, M2P_START,
    PAGE_SIZE,
};
use crate::mmu::GuestAddr;
use alloc::vec;
use alloc::vec::Vec;
use hypercall_abi::arch_x86_32::{
    _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER,
};
use hypercall_abi::grant_table::{GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_XENSTORE};
use hypercall_abi::xen::SIF_MOD_START_PFN;

const PAGE: u64 = PAGE_SIZE as u64;
/// `x86_32_params.lvl_prot[0]`: L1 entries.
pub const L1_PROT: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED;
/// `x86_32_params.lvl_prot[1 ... 2]`: L2 and L3 entries ("64bit Xen runs 32bit PV guests
/// with the PAE entries in an L3 pagetable. They don't behave exactly like native PAE").
pub const UPPER_PROT: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_USER;
/// `alloc_pgtables_pv`'s extra pages: the boot stack and 512 KiB of slack.
const EXTRA_PAGES: u64 = 1 + (512 * 1024) / PAGE;
/// `bits_to_mask(22)`: the initial mapping ends on a 4 MiB boundary.
const MASK_4M: u64 = (1 << 22) - 1;

/// The checks libelf and libxc make once the notes are read; computes the kernel's place.
pub(super) fn check_kernel(
    elf: &Elf<'_>,
    notes: XenNotes,
    mut segments: Vec<LoadSegment>,
    pstart: u64,
    pend: u64,
) -> Result<KernelInfo, BuildError> {
    // elf_xen_note_check.
    let Some(source) = notes.source else {
        return Err(BuildError::NoXenNotes);
    };
    if !notes.loader.as_bytes().starts_with(b"generic")
        && !notes.guest_os.as_bytes().starts_with(b"linux")
    {
        return Err(BuildError::NotGenericOrLinux);
    }
    if !notes.xen_version.as_bytes().starts_with(b"xen-3.0") {
        return Err(BuildError::NotXen30);
    }

    // elf_xen_addr_calc_check (PV: hvm = false).
    if notes.paddr_offset.is_some() && notes.virt_base.is_none() {
        return Err(BuildError::PaddrOffsetWithoutVirtBase);
    }
    let virt_base = notes.virt_base.unwrap_or(0);
    // Notes default PADDR_OFFSET to 0, the legacy string to VIRT_BASE.
    let paddr_offset = notes
        .paddr_offset
        .unwrap_or(if source == NotesSource::LegacyGuestInfo {
            virt_base
        } else {
            0
        });
    let virt_offset = virt_base.wrapping_sub(paddr_offset);
    let virt_kstart = pstart.wrapping_add(virt_offset);
    let virt_kend = pend.wrapping_add(virt_offset);
    let virt_entry = notes.entry.unwrap_or(u64::from(elf.ehdr.e_entry));
    if notes.bsd_symtab {
        // libelf would append the symbol table after the kernel (elf_parse_bsdsyms).
        return Err(BuildError::BsdSymtabUnsupported);
    }
    if virt_base > virt_kstart {
        return Err(BuildError::KernelBelowVirtBase);
    }
    if virt_kstart > virt_kend {
        // Only when VIRT_BASE - PADDR_OFFSET wraps the end past 2^64.
        return Err(BuildError::KernelInHypervisorArea);
    }
    if virt_entry < virt_kstart || virt_entry > virt_kend {
        return Err(BuildError::EntryOutsideKernel);
    }
    if let Some(p2m) = notes.init_p2m {
        if p2m >= virt_kstart && p2m < virt_kend {
            return Err(BuildError::P2mBaseInsideKernel);
        }
    }
    // From here on everything is below the M2P window, so it fits in 32 bits.
    if virt_kend > u64::from(M2P_START) {
        return Err(BuildError::KernelInHypervisorArea);
    }
    // xc_dom_alloc_pad refuses an unaligned boundary (and an unaligned VIRT_BASE would
    // break VA = VIRT_BASE + pfn * 4096).
    if !virt_kstart.is_multiple_of(PAGE) || !virt_base.is_multiple_of(PAGE) {
        return Err(BuildError::KernelNotPageAligned);
    }
    // xc_dom_parse_elf_kernel.
    if notes.features_required & FEATURE_DOM0 != 0 {
        return Err(BuildError::DomUUnsupported);
    }
    // xc_dom_guest_type: PAE or bimodal -> xen-3.0-x86_32p; otherwise xen-3.0-x86_32,
    // which xc_dom_compat_check rejects (no Xen advertises it any more).
    if notes.pae == PaeMode::No {
        return Err(BuildError::NotPae);
    }
    // bootearly: f_active includes the kernel's required features.
    if notes.features_required & FEATURE_AUTO_TRANSLATE != 0 {
        return Err(BuildError::AutoTranslateUnsupported);
    }
    // setup_hypercall_page takes pfn = (HYPERCALL_PAGE - VIRT_BASE) >> 12; below VIRT_BASE
    // or past 4 GiB that cannot be a guest frame.
    let hypercall_page = match notes.hypercall_page {
        None => None,
        Some(va) if va >= virt_base && va <= u64::from(u32::MAX) => Some(GuestAddr(va as u32)),
        Some(_) => return Err(BuildError::HypercallPageOutside),
    };

    // All of these are <= virt_kend <= M2P_START, so the casts are exact.
    for s in &mut segments {
        s.dest = GuestAddr((virt_kstart + (u64::from(s.paddr) - pstart)) as u32);
    }
    Ok(KernelInfo {
        segments,
        pstart: pstart as u32,
        pend,
        virt_base: GuestAddr(virt_base as u32),
        elf_paddr_offset: paddr_offset,
        virt_kstart: GuestAddr(virt_kstart as u32),
        virt_kend: GuestAddr(virt_kend as u32),
        virt_entry: GuestAddr(virt_entry as u32),
        hypercall_page,
        pae: notes.pae,
        unmapped_initrd: notes.mod_start_pfn,
        notes,
    })
}

/// `struct xc_dom_seg`.
#[derive(Clone, Copy, Debug)]
struct Seg {
    vstart: u64,
    vend: u64,
    pfn: u64,
    pages: u64,
}

/// The allocation state of `struct xc_dom_image` (rambase_pfn is 0 on x86).
struct Alloc {
    total_pages: u64,
    pfn_alloc_end: u64,
    virt_alloc_end: u64,
}

impl Alloc {
    /// `xc_dom_chk_alloc_pages`.
    fn chk_alloc_pages(&mut self, what: &'static str, pages: u64) -> Result<(), BuildError> {
        if pages > self.total_pages
            || self.pfn_alloc_end > self.total_pages
            || pages > self.total_pages - self.pfn_alloc_end
        {
            return Err(BuildError::OutOfMemory(what));
        }
        self.pfn_alloc_end += pages;
        self.virt_alloc_end += pages * PAGE;
        Ok(())
    }

    /// `xc_dom_alloc_pad`.
    fn alloc_pad(&mut self, boundary: u64) -> Result<(), BuildError> {
        if !boundary.is_multiple_of(PAGE) {
            return Err(BuildError::KernelNotPageAligned);
        }
        if boundary < self.virt_alloc_end {
            return Err(BuildError::KernelBelowVirtBase);
        }
        self.chk_alloc_pages("padding", (boundary - self.virt_alloc_end) / PAGE)
    }

    /// `xc_dom_alloc_segment`: `start` 0 means "wherever the allocator is".
    fn alloc_segment(
        &mut self,
        what: &'static str,
        start: u64,
        size: u64,
    ) -> Result<Seg, BuildError> {
        if start != 0 {
            self.alloc_pad(start)?;
        }
        let pages = size.div_ceil(PAGE);
        let vstart = self.virt_alloc_end;
        let pfn = self.pfn_alloc_end;
        self.chk_alloc_pages(what, pages)?;
        Ok(Seg {
            vstart,
            vend: vstart + size,
            pfn,
            pages,
        })
    }

    /// `xc_dom_alloc_page`.
    fn alloc_page(&mut self, what: &'static str) -> Result<u64, BuildError> {
        let pfn = self.pfn_alloc_end;
        self.chk_alloc_pages(what, 1)?;
        Ok(pfn)
    }
}

/// `struct xc_dom_x86_mapping_lvl`: the VA range one level's tables cover (inclusive), the
/// pfn of its first table, and how many tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lvl {
    from: u64,
    to: u64,
    pfn: u64,
    n: u64,
}

/// `count_pgtables` for the one (first) mapping a 32-bit guest has: VIRT_BASE..=`to`.
/// Index 0 is the L1 level, 2 the L3.
fn count_pgtables(
    virt_base: u64,
    to: u64,
    total_pages: u64,
    pfn_alloc_end: u64,
) -> Result<[Lvl; 3], BuildError> {
    let pfn_end = (to - virt_base) >> 12;
    if pfn_end >= total_pages {
        return Err(BuildError::MappingTooLarge);
    }
    // libxc masks `to` to 32 bits and carries on; the M2P window starts lower anyway.
    if to >= u64::from(M2P_START) {
        return Err(BuildError::MappingInHypervisorArea);
    }
    let vaddr_mask = u64::from(u32::MAX); // bits_to_mask(VIRT_BITS_I386)
                                          // The top level: one L3 covering everything.
    let l3 = Lvl {
        from: 0,
        to: vaddr_mask,
        pfn: pfn_alloc_end,
        n: 1,
    };
    let mut used = 1;
    let mut level = |l: u32| {
        let bits = 12 + (l + 1) * 9;
        let mask = (1u64 << bits) - 1;
        let from = virt_base & !mask;
        let mut lto = to | mask;
        if l == 1 && to < 0xc000_0000 {
            // "PAE: extra l2 page table for l3#3": Xen needs the L2 under L3 slot 3 (it
            // puts its compat M2P slots there), so the L2s run to the top of the space.
            lto = vaddr_mask;
        }
        let n = if from < lto {
            ((lto - from) >> bits) + 1
        } else {
            0
        };
        let lvl = Lvl {
            from,
            to: lto,
            pfn: pfn_alloc_end + used,
            n,
        };
        used += n;
        lvl
    };
    // Allocated top-down: L3, then L2s, then L1s.
    let l2 = level(1);
    let l1 = level(0);
    Ok([l1, l2, l3])
}

fn total_tables(lv: &[Lvl; 3]) -> u64 {
    lv.iter().map(|l| l.n).sum()
}

fn va32(va: u64) -> Result<GuestAddr, BuildError> {
    u32::try_from(va)
        .map(GuestAddr)
        .map_err(|_| BuildError::MappingInHypervisorArea)
}

fn pfn32(pfn: u64) -> Pfn {
    // Every pfn handed out is below total_pages <= 2^32 - 256.
    Pfn(pfn as u32)
}

fn region(s: Seg) -> Result<Region, BuildError> {
    Ok(Region {
        pfn: pfn32(s.pfn),
        pages: s.pages as u32,
        va_start: va32(s.vstart)?,
        va_end: va32(s.vend)?,
    })
}

/// `setup_pgtables_pv` for the single mapping. libxc writes each level through a pointer to
/// its first table and indexes on across the level's (contiguous) tables from the level's
/// `from`; entry p of a level is entry p % 512 of its table p / 512.
fn setup_pgtables(lv: &[Lvl; 3], area: Lvl, mfn_of: &dyn Fn(Pfn) -> super::Mfn) -> Vec<PageTable> {
    let pt_first = lv[2].pfn;
    let pt_end = pt_first + total_tables(lv);
    // Output order is pfn order: L3, L2s, L1s. `base[l]` is level l's first table in it.
    let mut out = Vec::with_capacity(total_tables(lv) as usize);
    let mut base = [0usize; 3];
    for (l, level) in [(2, PtLevel::L3), (1, PtLevel::L2), (0, PtLevel::L1)] {
        base[l] = out.len();
        for i in 0..lv[l].n {
            out.push(PageTable {
                pfn: pfn32(lv[l].pfn + i),
                level,
                entries: vec![0; 512],
            });
        }
    }
    for l in (0..3).rev() {
        let me = lv[l];
        let child = if l > 0 { lv[l - 1] } else { area };
        if l > 0 && child.n == 0 {
            continue;
        }
        if child.from >= me.to || child.to <= me.from {
            continue;
        }
        let shift = 12 + 9 * l as u32;
        let lo = me.from.max(child.from);
        let hi = me.to.min(child.to);
        let p_s = (lo - me.from) >> shift;
        let p_e = (hi - me.from) >> shift;
        let first = ((lo - child.from) >> shift) + child.pfn;
        for (p, pfn) in (p_s..=p_e).zip(first..) {
            // get_pg_prot: L1 entries that map the page tables themselves are read-only.
            let prot = if l > 0 {
                UPPER_PROT
            } else if (pt_first..pt_end).contains(&pfn) {
                L1_PROT & !_PAGE_RW
            } else {
                L1_PROT
            };
            let entry = (u64::from(mfn_of(pfn32(pfn)).0) << 12) | prot;
            // p < n * 512 by construction of the ranges (count_pgtables), so the table is
            // one of this level's.
            let table = base[l] + (p / 512) as usize;
            if p / 512 < me.n {
                if let Some(e) = out
                    .get_mut(table)
                    .and_then(|t| t.entries.get_mut((p % 512) as usize))
                {
                    *e = entry;
                }
            }
        }
    }
    out
}

pub(super) fn build(
    k: &KernelInfo,
    image: &[u8],
    cfg: &BuildConfig<'_>,
) -> Result<BootLayout, BuildError> {
    // libxc computes nr_pages = mem_mb << 8 in an unsigned int; start_info.nr_pages and
    // PV32 pfns are 32 bits.
    if cfg.memory_mib == 0 || cfg.memory_mib >= 1 << 24 {
        return Err(BuildError::BadMemorySize);
    }
    if cfg.nr_vcpus == 0 {
        return Err(BuildError::NoVcpus);
    }
    if !cfg.shared_info_maddr.is_multiple_of(PAGE) || cfg.shared_info_maddr > u64::from(u32::MAX) {
        return Err(BuildError::BadSharedInfo);
    }
    if k.segments.iter().any(|s| {
        range(image, u64::from(s.offset), u64::from(s.filesz)).is_none()
            || s.dest.0 < k.virt_kstart.0
            || u64::from(s.dest.0) + u64::from(s.memsz) > u64::from(k.virt_kend.0)
    }) || k.virt_base.0 > k.virt_kstart.0
        || k.virt_kstart.0 > k.virt_kend.0
    {
        return Err(BuildError::ImageMismatch);
    }

    let virt_base = u64::from(k.virt_base.0);
    let total = u64::from(cfg.memory_mib) << 8;
    let mut a = Alloc {
        total_pages: total,
        pfn_alloc_end: 0,
        virt_alloc_end: virt_base,
    };

    // The kernel, after padding from VIRT_BASE to its start.
    let kstart = u64::from(k.virt_kstart.0);
    let kernel = a.alloc_segment("kernel", kstart, u64::from(k.virt_kend.0) - kstart)?;
    let segments = k
        .segments
        .iter()
        .map(|s| {
            let rel = u64::from(s.dest.0) - virt_base;
            SegmentCopy {
                va: s.dest,
                pfn: pfn32(rel >> 12),
                page_offset: (rel % PAGE) as u32,
                file: s.offset as usize..s.offset as usize + s.filesz as usize,
                zero_len: s.memsz - s.filesz,
            }
        })
        .collect();

    // Module 0 inside the initial mapping: start_info gets its VA and byte length.
    let mut flags = 0;
    let mut ramdisk = None;
    let mut module_info = (0, 0);
    if let (Some(len), false) = (cfg.ramdisk_len, k.unmapped_initrd) {
        let seg = a.alloc_segment("ramdisk", 0, u64::from(len))?;
        let va = va32(seg.vstart)?;
        ramdisk = Some(Module {
            pfn: pfn32(seg.pfn),
            pages: seg.pages as u32,
            len,
            va: Some(va),
        });
        module_info = (va.0, len);
    }

    // alloc_p2m_list_x86_32: one 4-byte entry per pfn (p2m_size = total_pages here).
    let p2m = a.alloc_segment("p2m list", 0, (total * 4).div_ceil(PAGE) * PAGE)?;

    // alloc_magic_pages_pv.
    let start_info_pfn = a.alloc_page("start info page")?;
    let xenstore_pfn = a.alloc_page("xenstore page")?;
    let console_pfn = a.alloc_page("console page")?;

    // alloc_pgtables_pv: grow the mapping in 4 MiB steps until it covers everything so far,
    // its own page tables, the boot stack and 512 KiB more.
    let mut pages = EXTRA_PAGES;
    let (try_virt_end, lv) = loop {
        // round_up(addr, mask) is addr | mask: an inclusive end.
        let try_virt_end = (a.virt_alloc_end + pages * PAGE) | MASK_4M;
        let lv = count_pgtables(virt_base, try_virt_end, total, a.pfn_alloc_end)?;
        pages = total_tables(&lv) + EXTRA_PAGES;
        if a.virt_alloc_end + pages * PAGE <= try_virt_end + 1 {
            break (try_virt_end, lv);
        }
    };
    let virt_pgtab_end = try_virt_end + 1;
    let pgtables = a.alloc_segment("page tables", 0, total_tables(&lv) * PAGE)?;
    let boot_stack_pfn = a.alloc_page("boot stack")?;
    a.alloc_pad(virt_pgtab_end)?;

    // Module 0 with MOD_START_PFN: after the mapping, start_info gets its pfn and its size
    // in whole pages.
    if let (Some(len), true) = (cfg.ramdisk_len, k.unmapped_initrd) {
        let seg = a.alloc_segment("ramdisk", 0, u64::from(len))?;
        flags |= SIF_MOD_START_PFN;
        ramdisk = Some(Module {
            pfn: pfn32(seg.pfn),
            pages: seg.pages as u32,
            len,
            va: None,
        });
        module_info = (seg.pfn as u32, (seg.pages * PAGE) as u32);
    }

    // setup_hypercall_page.
    let hypercall_page = match k.hypercall_page {
        None => None,
        Some(va) => {
            let pfn = (u64::from(va.0) - virt_base) >> 12;
            if pfn >= total {
                return Err(BuildError::HypercallPageOutside);
            }
            Some(HypercallPage {
                va,
                pfn: pfn32(pfn),
            })
        }
    };

    // setup_pgtables_x86_32_pae: a kernel without extended-cr3 needs its L3 below 4 GiB;
    // libxc would move it, here the host has to provide such a frame.
    let mfn_of = cfg.mfn_of;
    let l3_pfn = pfn32(lv[2].pfn);
    let l3_mfn = mfn_of(l3_pfn);
    if k.pae == PaeMode::Yes && l3_mfn.0 >= 0x10_0000 {
        return Err(BuildError::L3Above4G);
    }
    let area = Lvl {
        from: virt_base,
        to: try_virt_end,
        pfn: 0,
        n: total_tables(&lv),
    };
    let page_tables = setup_pgtables(&lv, area, mfn_of);

    let pgtables = region(pgtables)?;
    let p2m = region(p2m)?;
    let store_mfn = mfn_of(pfn32(xenstore_pfn));
    let console_mfn = mfn_of(pfn32(console_pfn));
    let start_info = boot::start_info(&boot::StartInfoArgs {
        nr_pages: total as u32,
        shared_info_maddr: cfg.shared_info_maddr as u32,
        flags,
        store_mfn,
        store_evtchn: cfg.store_evtchn,
        console_mfn,
        console_evtchn: cfg.console_evtchn,
        pt_base: pgtables.va_start,
        nr_pt_frames: pgtables.pages,
        mfn_list: p2m.va_start,
        module: ramdisk.map(|_| module_info),
        cmdline: cfg.cmdline.as_bytes(),
    });
    let va_of = |pfn: u64| va32(virt_base + pfn * PAGE);
    let vcpu = boot::vcpu_context(
        k.virt_entry,
        va_of(boot_stack_pfn + 1)?,
        va_of(start_info_pfn)?,
        k.pae,
        l3_mfn,
    );

    // xc_dom_gnttab_init: entries for the backends, unless the guest is its own backend.
    let mut grant_seeds = Vec::new();
    for (gref, domid, frame) in [
        (GNTTAB_RESERVED_CONSOLE, cfg.console_domid, console_mfn),
        (GNTTAB_RESERVED_XENSTORE, cfg.store_domid, store_mfn),
    ] {
        if domid != cfg.domid {
            grant_seeds.push(GrantSeed { gref, domid, frame });
        }
    }

    Ok(BootLayout {
        nr_pages: total as u32,
        nr_vcpus: cfg.nr_vcpus,
        virt_base: k.virt_base,
        kernel: Region {
            pfn: pfn32(kernel.pfn),
            pages: kernel.pages as u32,
            va_start: k.virt_kstart,
            va_end: k.virt_kend,
        },
        segments,
        ramdisk,
        p2m,
        start_info_pfn: pfn32(start_info_pfn),
        xenstore_pfn: pfn32(xenstore_pfn),
        console_pfn: pfn32(console_pfn),
        page_table_region: pgtables,
        l3_pfn,
        page_tables,
        boot_stack_pfn: pfn32(boot_stack_pfn),
        mapped_end: va32(virt_pgtab_end)?,
        pfn_alloc_end: pfn32(a.pfn_alloc_end),
        m2p_start: GuestAddr(M2P_START),
        hypercall_page,
        grant_seeds,
        start_info,
        vcpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// count_pgtables by hand for VIRT_BASE 0xC0000000 mapping to 0xC03FFFFF: one L3, one
    /// L2 (L3 slot 3; "to" is not below 0xC0000000 so no extra L2), and two L1s covering
    /// 0xC0000000..0xC03FFFFF (2 MiB each).
    #[test]
    fn count_linux_style() {
        let lv = count_pgtables(0xc000_0000, 0xc03f_ffff, 8192, 17).unwrap();
        assert_eq!(
            lv[2],
            Lvl {
                from: 0,
                to: 0xffff_ffff,
                pfn: 17,
                n: 1
            }
        );
        assert_eq!(
            lv[1],
            Lvl {
                from: 0xc000_0000,
                to: 0xffff_ffff,
                pfn: 18,
                n: 1
            }
        );
        assert_eq!(
            lv[0],
            Lvl {
                from: 0xc000_0000,
                to: 0xc03f_ffff,
                pfn: 19,
                n: 2
            }
        );
    }

    /// VIRT_BASE 0: the L2 range is stretched to 0xFFFFFFFF, so L2s for slots 0..3 (four),
    /// ((0xFFFFFFFF - 0) >> 30) + 1 = 4; an 8 MiB mapping needs four L1s.
    #[test]
    fn count_low_base_has_l2_for_slot_3() {
        let lv = count_pgtables(0, 0x7f_ffff, 8192, 100).unwrap();
        assert_eq!(lv[1].n, 4);
        assert_eq!(lv[1].pfn, 101);
        assert_eq!(lv[0].n, 4);
        assert_eq!(lv[0].pfn, 105);
        // VIRT_BASE 0x80000000: slots 2 and 3.
        let lv = count_pgtables(0x8000_0000, 0x803f_ffff, 8192, 0).unwrap();
        assert_eq!(lv[1].n, 2);
    }

    #[test]
    fn count_limits() {
        // pfn_end = 0x3FF must be below total_pages.
        assert_eq!(
            count_pgtables(0xc000_0000, 0xc03f_ffff, 1023, 0),
            Err(BuildError::MappingTooLarge)
        );
        assert!(count_pgtables(0xc000_0000, 0xc03f_ffff, 1024, 0).is_ok());
        assert_eq!(
            count_pgtables(0xf540_0000, 0xf57f_ffff + 0x40_0000, 1 << 20, 0),
            Err(BuildError::MappingInHypervisorArea)
        );
    }

    #[test]
    fn allocator_as_libxc() {
        let mut a = Alloc {
            total_pages: 16,
            pfn_alloc_end: 0,
            virt_alloc_end: 0xc000_0000,
        };
        // Padding to 0xC0002000 takes pfns 0-1; a 0x1001-byte segment takes 2 pages.
        let s = a.alloc_segment("kernel", 0xc000_2000, 0x1001).unwrap();
        assert_eq!(
            (s.pfn, s.pages, s.vstart, s.vend),
            (2, 2, 0xc000_2000, 0xc000_3001)
        );
        assert_eq!(a.alloc_page("x"), Ok(4));
        assert_eq!(
            a.alloc_segment("big", 0, 12 * PAGE).err(),
            Some(BuildError::OutOfMemory("big"))
        );
        assert!(a.alloc_segment("fits", 0, 11 * PAGE).is_ok());
        assert_eq!(
            a.alloc_pad(0xc000_0001),
            Err(BuildError::KernelNotPageAligned)
        );
    }
}
