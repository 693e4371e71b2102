//! The PV32 domain builder: an ELF32 PV kernel and a memory size in, a start-of-day memory
//! image description out, laid out exactly as libxc's `xen-3.0-x86_32p` builder lays it
//! out (tools/libs/guest/xg_dom_core.c `xc_dom_build_image`, xg_dom_x86.c; Xen 4.17.5).
//!
//! Host-neutral: nothing here touches guest memory. [`parse_kernel`] checks the image and
//! reads its Xen notes (libelf); [`build`] returns a [`BootLayout`] that says, in
//! pseudo-physical frame numbers and guest virtual addresses, what the host must write:
//! kernel segments, ramdisk, p2m list, start_info, page tables (with their entries),
//! hypercall page, grant-table seeds and the initial vCPU context. See `src/pv/DESIGN.md`.

mod boot;
mod elf;
mod layout;
mod notes;

use crate::mmu::GuestAddr;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use hypercall_abi::arch_x86_32::{VcpuGuestContext, HYPERVISOR_COMPAT_VIRT_START};
use hypercall_abi::version::{XENFEAT_auto_translated_physmap, XENFEAT_dom0};
use hypercall_abi::xen::StartInfo;

pub use boot::{start_info_bytes, START_INFO_SIZE};
pub use notes::{NoteStr, NotesSource, PaeMode, XenNotes};

/// Guest page size.
pub const PAGE_SIZE: usize = 4096;
/// `guest_type` of every domain this builder makes.
pub const GUEST_TYPE: &str = "xen-3.0-x86_32p";

/// A guest pseudo-physical frame number (an index into the p2m list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pfn(pub u32);

/// A machine frame number, as a PV32 guest sees it: its p2m entries, `store_mfn`, CR3 and
/// page-table entries name frames with 32 bits, so a PV32 guest's memory lies below 16 TiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mfn(pub u32);

/// The p2m of a host that backs pfn N with machine frame N (the hosted runner).
pub fn identity_mfn(pfn: Pfn) -> Mfn {
    Mfn(pfn.0)
}

/// Why a kernel cannot be built. Messages are one line, capitalised, without a full stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildError {
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
    /// A numeric Xen note whose descriptor is not 1, 2, 4 or 8 bytes (named by its type).
    BadNoteSize(&'static str),
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
    /// libxc's `xc_dom_chk_alloc_pages` failure, naming the segment that did not fit.
    OutOfMemory(&'static str),
    MappingTooLarge,
    MappingInHypervisorArea,
    L3Above4G,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BuildError::*;
        let msg = match self {
            NotElf => "Not an ELF file",
            TruncatedHeader => "Truncated ELF header",
            NotElf32 => "Not a 32-bit ELF file",
            NotLittleEndian => "Not a little-endian ELF file",
            NotExecutable => "Not an executable ELF file (ET_EXEC)",
            NotI386 => "Not an i386 ELF file (EM_386)",
            BadProgramHeaderSize => "Bad ELF program header entry size",
            TruncatedProgramHeaders => "Truncated ELF program headers",
            BadSectionHeaderSize => "Bad ELF section header entry size",
            TruncatedSectionHeaders => "Truncated ELF section headers",
            NoLoadableSegments => "No loadable segments",
            TruncatedSegment => "Truncated ELF segment data",
            SegmentFileSizeTooBig => "Segment file size exceeds its memory size",
            SegmentTooLarge => "Segment too large",
            OverlappingSegments => "Overlapping segments",
            TruncatedNotes => "Truncated ELF notes",
            MalformedNote => "Malformed ELF note",
            TooManyNotes => "Too many ELF notes",
            BadNoteSize(name) => return write!(f, "Xen note {name} has a bad size"),
            UnknownRequiredFeature => "Kernel requires an unknown Xen feature",
            NoXenNotes => "No Xen notes (not a PV kernel)",
            NotGenericOrLinux => "Kernel is neither for the generic loader nor Linux",
            NotXen30 => "Kernel is not built for Xen 3.0 (XEN_VERSION)",
            PaddrOffsetWithoutVirtBase => "PADDR_OFFSET set without VIRT_BASE",
            KernelBelowVirtBase => "Kernel starts below VIRT_BASE",
            EntryOutsideKernel => "Entry point outside the kernel image",
            P2mBaseInsideKernel => "INIT_P2M inside the kernel image",
            KernelInHypervisorArea => "Kernel overlaps the hypervisor area at 0xf5800000",
            KernelNotPageAligned => "Kernel start is not page aligned",
            HypercallPageOutside => "Hypercall page outside guest memory",
            NotPae => "Kernel is not PAE (xen-3.0-x86_32p needs PAE_MODE)",
            DomUUnsupported => "Kernel does not support unprivileged (DomU) operation",
            AutoTranslateUnsupported => "Auto-translated PV kernels are not supported",
            BsdSymtabUnsupported => "BSD_SYMTAB kernels are not supported",
            BadMemorySize => "Bad guest memory size",
            NoVcpus => "A guest needs at least one vCPU",
            BadSharedInfo => "Shared info machine address not page aligned or above 4 GiB",
            ImageMismatch => "Kernel image does not match the parsed kernel",
            OutOfMemory(what) => return write!(f, "Guest memory too small for the {what}"),
            MappingTooLarge => "Not enough memory for the initial mapping",
            MappingInHypervisorArea => "Initial mapping overlaps the hypervisor area at 0xf5800000",
            L3Above4G => "L3 page table above 4 GiB and the kernel lacks extended-cr3",
        };
        f.write_str(msg)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BuildError {}

/// A loadable program header (PT_LOAD with R, W or X), and where libxc puts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    pub offset: u32,
    pub vaddr: u32,
    /// libxc places segments by `p_paddr`, not `p_vaddr`.
    pub paddr: u32,
    pub filesz: u32,
    pub memsz: u32,
    /// `PF_*`.
    pub flags: u32,
    /// Where the segment lands: `virt_kstart + (paddr - pstart)` (libelf `elf_load_binary`).
    pub dest: GuestAddr,
}

/// A checked PV32 kernel: its segments and what its Xen notes mean (libelf's
/// `elf_xen_parse` with `elf_xen_addr_calc_check`, libxc's guest-type and feature checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelInfo {
    /// Loadable segments in program-header order.
    pub segments: Vec<LoadSegment>,
    /// Lowest `p_paddr` and highest `p_paddr + p_memsz` of the loadable segments.
    pub pstart: u32,
    pub pend: u64,
    /// VIRT_BASE (0 when unset).
    pub virt_base: GuestAddr,
    /// PADDR_OFFSET (0 when unset with notes, VIRT_BASE with the legacy string).
    pub elf_paddr_offset: u64,
    /// `pstart + VIRT_BASE - PADDR_OFFSET`: the kernel's first virtual address.
    pub virt_kstart: GuestAddr,
    /// End (exclusive) of the kernel image, `pend + VIRT_BASE - PADDR_OFFSET`.
    pub virt_kend: GuestAddr,
    /// ENTRY, else `e_entry`.
    pub virt_entry: GuestAddr,
    /// HYPERCALL_PAGE.
    pub hypercall_page: Option<GuestAddr>,
    pub pae: PaeMode,
    /// MOD_START_PFN: the ramdisk is not mapped and `mod_start` is a pfn.
    pub unmapped_initrd: bool,
    /// Everything the notes said, raw.
    pub notes: XenNotes,
}

/// Parse and check a PV32 kernel image.
pub fn parse_kernel(image: &[u8]) -> Result<KernelInfo, BuildError> {
    let elf = elf::Elf::parse(image)?;

    // elf_parse_binary: pstart/pend over the loadable segments; plus the checks libelf
    // leaves to its bounds-checked copy (which silently skips bad ranges).
    let mut segments = Vec::new();
    let (mut pstart, mut pend) = (u64::MAX, 0u64);
    for ph in elf.phdrs.iter().filter(|ph| ph.is_loadable()) {
        if ph.p_filesz > ph.p_memsz {
            return Err(BuildError::SegmentFileSizeTooBig);
        }
        if elf::range(image, u64::from(ph.p_offset), u64::from(ph.p_filesz)).is_none() {
            return Err(BuildError::TruncatedSegment);
        }
        let end = u64::from(ph.p_paddr) + u64::from(ph.p_memsz);
        if end > 1 << 32 {
            return Err(BuildError::SegmentTooLarge);
        }
        pstart = pstart.min(u64::from(ph.p_paddr));
        pend = pend.max(end);
        segments.push(LoadSegment {
            offset: ph.p_offset,
            vaddr: ph.p_vaddr,
            paddr: ph.p_paddr,
            filesz: ph.p_filesz,
            memsz: ph.p_memsz,
            flags: ph.p_flags,
            dest: GuestAddr(0),
        });
    }
    if segments.is_empty() {
        return Err(BuildError::NoLoadableSegments);
    }
    // libelf would copy overlapping segments over each other; refuse them instead.
    let mut by_paddr: Vec<(u64, u64)> = segments
        .iter()
        .filter(|s| s.memsz != 0)
        .map(|s| (u64::from(s.paddr), u64::from(s.paddr) + u64::from(s.memsz)))
        .collect();
    by_paddr.sort_unstable();
    if by_paddr.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err(BuildError::OverlappingSegments);
    }

    let notes = notes::parse(&elf)?;
    layout::check_kernel(&elf, notes, segments, pstart, pend)
}

/// What the host tells the builder about the domain.
pub struct BuildConfig<'a> {
    /// Guest memory (libxl's `target_memkb / 1024`).
    pub memory_mib: u32,
    /// Size of the ramdisk module, as it will be placed (libxc would gunzip a gzip'd
    /// module first; here the host decides). `None`: no module.
    pub ramdisk_len: Option<u32>,
    /// Copied NUL-terminated into start_info, cut at 1023 bytes (and at an embedded NUL).
    pub cmdline: &'a str,
    /// vCPUs of the domain; only vCPU 0 gets an initial context (the guest brings the
    /// others up with VCPUOP_initialise), as with libxc.
    pub nr_vcpus: u32,
    pub domid: u16,
    /// Domains running the console and xenstore backends (grant-table seeds).
    pub console_domid: u16,
    pub store_domid: u16,
    pub console_evtchn: u32,
    pub store_evtchn: u32,
    /// Machine address of the shared_info page (page aligned, below 4 GiB: start_info has
    /// 32 bits for it).
    pub shared_info_maddr: u64,
    /// The host's p2m: the machine frame backing each pfn (used for page-table entries,
    /// CR3, `store_mfn`, console mfn, grant seeds; the host writes the p2m list itself).
    pub mfn_of: &'a dyn Fn(Pfn) -> Mfn,
}

impl BuildConfig<'static> {
    /// A domU with `memory_mib` of memory, identity p2m, no ramdisk, empty command line,
    /// one vCPU, domid 1, backends in dom0, xenstore on port 1 and console on port 2 (the
    /// order libxl allocates them), shared_info at machine address 0 (set it).
    pub fn new(memory_mib: u32) -> Self {
        BuildConfig {
            memory_mib,
            ramdisk_len: None,
            cmdline: "",
            nr_vcpus: 1,
            domid: 1,
            console_domid: 0,
            store_domid: 0,
            console_evtchn: 2,
            store_evtchn: 1,
            shared_info_maddr: 0,
            mfn_of: &identity_mfn,
        }
    }
}

impl fmt::Debug for BuildConfig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildConfig")
            .field("memory_mib", &self.memory_mib)
            .field("ramdisk_len", &self.ramdisk_len)
            .field("cmdline", &self.cmdline)
            .field("nr_vcpus", &self.nr_vcpus)
            .field("domid", &self.domid)
            .field("console_domid", &self.console_domid)
            .field("store_domid", &self.store_domid)
            .field("console_evtchn", &self.console_evtchn)
            .field("store_evtchn", &self.store_evtchn)
            .field("shared_info_maddr", &self.shared_info_maddr)
            .finish_non_exhaustive()
    }
}

/// A run of pfns a libxc segment occupies. `va_end` is libxc's `vend`: start + byte size,
/// not rounded up to a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub pfn: Pfn,
    pub pages: u32,
    pub va_start: GuestAddr,
    pub va_end: GuestAddr,
}

/// Copy `image[file]` to guest virtual `va` (pseudo-physical page `pfn`, byte `page_offset`
/// in it, contiguous onwards), then zero `zero_len` bytes after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentCopy {
    pub va: GuestAddr,
    pub pfn: Pfn,
    pub page_offset: u32,
    pub file: Range<usize>,
    pub zero_len: u32,
}

/// The ramdisk module: copy its bytes to `pfn..pfn + pages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module {
    pub pfn: Pfn,
    pub pages: u32,
    pub len: u32,
    /// Its virtual address when it is inside the initial mapping; `None` with MOD_START_PFN.
    pub va: Option<GuestAddr>,
}

/// Page-table level of a [`PageTable`] (PAE: L3 -> L2 -> L1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PtLevel {
    L1,
    L2,
    L3,
}

/// One page-table frame and its 512 entries (machine addresses, as written to memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageTable {
    pub pfn: Pfn,
    pub level: PtLevel,
    pub entries: Vec<u64>,
}

/// A grant-table entry the host seeds before the guest runs (`xc_dom_gnttab_init`):
/// `flags = GTF_permit_access`, `domid`, `frame`, in shared entry `gref`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantSeed {
    pub gref: u32,
    pub domid: u16,
    pub frame: Mfn,
}

/// Where the hypercall page goes; its contents are [`hypercall_page_bytes`], written after
/// the kernel segments (libxc asks Xen for it in `xc_dom_boot_image`, after loading).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HypercallPage {
    pub va: GuestAddr,
    pub pfn: Pfn,
}

/// The start-of-day image of a PV32 domain. All frames below `nr_pages` start zeroed; the
/// host then writes, in this order: `segments`, the ramdisk, the p2m list (`p2m_page`),
/// `page_tables`, start_info (`start_info_bytes(&layout.start_info)` at `start_info_pfn`),
/// the hypercall page; fills shared_info (`evtchn_upcall_mask = 1` in all 32 vcpu_info
/// slots), seeds the grant table, pins the L3 (MMUEXT_PIN_L3_TABLE, `l3_pfn`) and loads
/// `vcpu` into vCPU 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootLayout {
    pub nr_pages: u32,
    pub nr_vcpus: u32,
    pub virt_base: GuestAddr,
    /// The kernel's pages (padding from VIRT_BASE to the kernel start comes before).
    pub kernel: Region,
    pub segments: Vec<SegmentCopy>,
    pub ramdisk: Option<Module>,
    /// One little-endian u32 MFN per pfn, `nr_pages` of them; the rest of the last page 0.
    pub p2m: Region,
    pub start_info_pfn: Pfn,
    pub xenstore_pfn: Pfn,
    pub console_pfn: Pfn,
    /// The page-table frames: L3, then the L2s, then the L1s.
    pub page_table_region: Region,
    pub l3_pfn: Pfn,
    pub page_tables: Vec<PageTable>,
    pub boot_stack_pfn: Pfn,
    /// End (exclusive) of the initial mapping: VIRT_BASE..mapped_end maps pfn 0 onwards.
    pub mapped_end: GuestAddr,
    /// First pfn the builder did not use.
    pub pfn_alloc_end: Pfn,
    /// Start of the read-only M2P window the host maps (HYPERVISOR_COMPAT_VIRT_START).
    pub m2p_start: GuestAddr,
    pub hypercall_page: Option<HypercallPage>,
    pub grant_seeds: Vec<GrantSeed>,
    pub start_info: StartInfo,
    /// vCPU 0's initial context (the compat `vcpu_guest_context` libxc passes to
    /// XEN_DOMCTL_setvcpucontext), boxed: it is 5 KiB.
    pub vcpu: Box<VcpuGuestContext>,
}

impl BootLayout {
    /// Page `index` of the p2m list: `p2m[pfn] = mfn_of(pfn)`, `None` past its last page.
    pub fn p2m_page(&self, index: u32, mfn_of: &dyn Fn(Pfn) -> Mfn) -> Option<[u8; PAGE_SIZE]> {
        if index >= self.p2m.pages {
            return None;
        }
        let mut page = [0u8; PAGE_SIZE];
        let per_page = (PAGE_SIZE / 4) as u32;
        for (i, e) in page.chunks_exact_mut(4).enumerate() {
            // i < 1024.
            let pfn = index * per_page + i as u32;
            if pfn >= self.nr_pages {
                break;
            }
            e.copy_from_slice(&mfn_of(Pfn(pfn)).0.to_le_bytes());
        }
        Some(page)
    }

    /// The pfn that maps guest virtual `va` in the initial mapping.
    pub fn pfn_of_va(&self, va: GuestAddr) -> Option<Pfn> {
        (va.0 >= self.virt_base.0 && va.0 < self.mapped_end.0)
            .then(|| Pfn((va.0 - self.virt_base.0) >> 12))
    }
}

/// The hypercall page Xen writes for a 32-bit PV guest (`init_hypercall_page`,
/// xen/arch/x86/domain.c; `pv_ring1_init_hypercall_page`, xen/arch/x86/pv/hypercall.c).
pub fn hypercall_page_bytes() -> [u8; PAGE_SIZE] {
    hypercall_abi::arch_x86_32::hypercall_page()
}

/// Lay out the domain for `kernel` (from [`parse_kernel`] on the same `image`).
pub fn build(
    kernel: &KernelInfo,
    image: &[u8],
    cfg: &BuildConfig<'_>,
) -> Result<BootLayout, BuildError> {
    layout::build(kernel, image, cfg)
}

// Used by layout.rs: the flags libxc refuses (xc_dom_parse_elf_kernel, bootearly).
const FEATURE_DOM0: u32 = 1 << XENFEAT_dom0;
const FEATURE_AUTO_TRANSLATE: u32 = 1 << XENFEAT_auto_translated_physmap;
const M2P_START: u32 = HYPERVISOR_COMPAT_VIRT_START;
