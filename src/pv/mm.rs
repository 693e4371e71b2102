//! The PV MMU of a 32-bit PAE guest, with Xen's rules (xen/arch/x86/mm.c): page types with
//! type counts, pinning, validation of every page-table entry the guest installs
//! (`mmu_update`, `update_va_mapping`, `mmuext_op`, the writable-page-table emulation), and
//! the active address space pushed to the host as mappings, so that guest memory is reached
//! through the host MMU and never through a lookup per access.
//!
//! Frames are the domain's machine frames: RAM is `0..nr_ram_frames` (the p2m is the
//! identity at start of day), and a few Xen-owned frames above it (shared_info, grant
//! table frames) may be mapped by the guest as Xen shares them.
//!
//! What is not modelled: general (non-type) page references, since the domain's memory is
//! fixed; hardware setting A/D bits (the host MMU does not write the guest's PTEs);
//! superpages and linear page tables (both refused, as Xen does by default); the
//! user/supervisor bit (ring 3 can reach supervisor pages: documented in docs/STATUS.md).

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use hypercall_abi::errno::{EBUSY, EINVAL, EPERM};

pub const PAGE_PRESENT: u64 = 1;
pub const PAGE_RW: u64 = 2;
pub const PAGE_USER: u64 = 4;
pub const PAGE_ACCESSED: u64 = 0x20;
pub const PAGE_DIRTY: u64 = 0x40;
pub const PAGE_NX: u64 = 1 << 63;

/// Flags Xen accepts in an entry (`base_disallow_mask`'s complement): P, RW, US, A, D, the
/// available bits 9-11 and 52-62, NX. Caching attributes, PSE and G are refused, except that
/// G is allowed in an L1 entry (`L1_DISALLOW_MASK`, which refuses `_PAGE_GNTTAB` instead).
const BASE_ALLOWED: u64 = 0x1 | 0x2 | 0x4 | 0x20 | 0x40 | 0xe00 | (0x7ff << 52) | PAGE_NX;
/// `_PAGE_GNTTAB` (flags bit 22, entry bit 62) is refused in L1 entries: L1_DISALLOW_MASK.
const L1_ALLOWED: u64 = (BASE_ALLOWED | 0x100) & !(1 << 62);
/// `l3_disallow_mask` for a 32-bit guest is 0xFFFFF198: no NX, no high available bits.
const L3_ALLOWED: u64 = 0x1 | 0x2 | 0x4 | 0x20 | 0x40 | 0xe00;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The first L2 slot of the L2 under L3 slot 3 that holds Xen's mappings
/// (`COMPAT_L2_PAGETABLE_FIRST_XEN_SLOT`: HYPERVISOR_COMPAT_VIRT_START 0xF5800000).
pub const FIRST_XEN_L2_SLOT: u32 = (0xF580_0000u32 - 0xC000_0000) >> 21;
/// The hypervisor's part of the 32-bit address space (the M2P lives at its start).
pub const HYPERVISOR_VIRT_START: u32 = 0xF580_0000;

/// A page's type, as Xen's `PGT_*` (the frame table's `type_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PageType {
    #[default]
    None,
    L1,
    L2,
    L3,
    /// A GDT/LDT frame (`PGT_seg_desc_page`).
    SegDesc,
    Writable,
}

impl PageType {
    fn is_pt(self) -> bool {
        matches!(self, PageType::L1 | PageType::L2 | PageType::L3)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct FrameInfo {
    ty: PageType,
    count: u32,
    pinned: bool,
    /// `PGT_pae_xen_l2`: the L2 under L3 slot 3, whose top slots are Xen's.
    xen_l2: bool,
}

/// Guest permissions of one mapped page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageProt {
    pub write: bool,
    pub exec: bool,
    pub user: bool,
}

/// What the PV MMU needs from its host: the frames' contents, and somewhere to apply the
/// active address space (the hosted window, or Xen's mapping of the guest).
pub trait MmHost {
    /// The domain's RAM frames are `0..nr_ram_frames()`.
    fn nr_ram_frames(&self) -> u32;
    /// Xen-owned frames the guest may map (shared_info, grant table frames).
    fn is_shared_frame(&self, mfn: u32) -> bool;
    /// Entry `idx` (0..512) of frame `mfn` (a RAM frame).
    fn read_entry(&self, mfn: u32, idx: u32) -> u64;
    fn write_entry(&mut self, mfn: u32, idx: u32, v: u64);
    /// Compare-and-exchange entry `idx` of frame `mfn` (any frame of the frame space, e.g. a
    /// grant table frame the guest writes concurrently); returns the value found. The
    /// default is not atomic: hosts whose guest vCPUs run in parallel override it.
    fn cmpxchg_entry(&mut self, mfn: u32, idx: u32, old: u64, new: u64) -> u64 {
        let cur = self.read_entry(mfn, idx);
        if cur == old {
            self.write_entry(mfn, idx, new);
        }
        cur
    }
    /// Atomically `and` entry `idx` of frame `mfn` with `mask` (gnttab_clear_flags).
    fn fetch_and_entry(&mut self, mfn: u32, idx: u32, mask: u64) {
        let cur = self.read_entry(mfn, idx);
        self.write_entry(mfn, idx, cur & mask);
    }
    /// Map `n` guest virtual pages from `va` to consecutive frames from `mfn`, in the
    /// address space of vCPU `vcpu`.
    fn map(&mut self, vcpu: usize, va: u32, n: u32, mfn: u32, prot: PageProt);
    /// Unmap `n` guest virtual pages from `va` in vCPU `vcpu`'s address space.
    fn unmap(&mut self, vcpu: usize, va: u32, n: u32);
}

/// A guest page-table write: who asked matters for the error Xen gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    Normal,
    PreserveAd,
}

/// The domain's PV MMU state.
pub struct PvMmu {
    frames: Vec<FrameInfo>,
    /// One active view per vCPU; `cur` is the vCPU whose hypercall or fault is served.
    views: Vec<View>,
    cur: usize,
    pub stats: MmStats,
}

/// The address space a vCPU runs in.
struct View {
    /// The L3 the vCPU runs on (guest CR3 >> 12), with a type reference held.
    cr3: Option<u32>,
    /// The L2 frame under each L3 slot, and the L1 frame (with the L2 entry's flags) under
    /// each of the 2048 L2 slots.
    l2_at: [Option<u32>; 4],
    l1_at: Vec<Option<(u32, u64)>>,
    /// Reverse maps: where an L1 / L2 frame is installed.
    l1_rmap: BTreeMap<u32, Vec<u16>>,
    l2_rmap: BTreeMap<u32, Vec<u8>>,
}

impl View {
    fn new() -> View {
        View {
            cr3: None,
            l2_at: [None; 4],
            l1_at: vec![None; 2048],
            l1_rmap: BTreeMap::new(),
            l2_rmap: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct MmStats {
    pub pt_updates: u64,
    pub baseptr_switches: u64,
    pub pages_mapped: u64,
}

fn entry_mfn(e: u64) -> Option<u32> {
    u32::try_from((e & ADDR_MASK) >> 12).ok()
}

fn prot_of(l2e: u64, l1e: u64) -> PageProt {
    PageProt {
        write: l1e & l2e & PAGE_RW != 0,
        exec: (l1e | l2e) & PAGE_NX == 0,
        user: l1e & l2e & PAGE_USER != 0,
    }
}

impl PvMmu {
    pub fn new(nr_ram_frames: u32) -> PvMmu {
        PvMmu {
            frames: vec![FrameInfo::default(); nr_ram_frames as usize],
            views: vec![View::new()],
            cur: 0,
            stats: MmStats::default(),
        }
    }

    /// Keep an address space for each of `n` vCPUs.
    pub fn set_vcpus(&mut self, n: usize) {
        while self.views.len() < n.max(1) {
            self.views.push(View::new());
        }
    }

    /// Serve vCPU `v` from now on (hypercalls and faults act on its address space).
    pub fn select(&mut self, v: usize) {
        if v < self.views.len() {
            self.cur = v;
        }
    }

    pub fn cr3_mfn(&self) -> Option<u32> {
        self.views[self.cur].cr3
    }

    pub fn page_type(&self, mfn: u32) -> Option<(PageType, u32, bool)> {
        let f = self.frames.get(mfn as usize)?;
        Some((f.ty, f.count, f.pinned))
    }

    fn is_ram(&self, mfn: u32) -> bool {
        (mfn as usize) < self.frames.len()
    }

    // ---- Type references (get_page_type / put_page_type) ----

    /// Take a type reference on `mfn` as `ty`, validating its contents when it becomes a
    /// page table. Errors are Xen's: -EINVAL for a frame that is not ours or is in use as
    /// another type.
    fn get_type(
        &mut self,
        host: &mut dyn MmHost,
        mfn: u32,
        ty: PageType,
        xen_l2: bool,
    ) -> Result<(), i32> {
        if !self.is_ram(mfn) {
            return if host.is_shared_frame(mfn) && ty == PageType::Writable {
                Ok(())
            } else {
                Err(-EINVAL)
            };
        }
        let f = self.frames[mfn as usize];
        if f.count > 0 {
            if f.ty != ty || f.xen_l2 != xen_l2 {
                return Err(-EINVAL);
            }
            if f.count >= u32::MAX / 2 {
                return Err(-EINVAL);
            }
            self.frames[mfn as usize].count += 1;
            return Ok(());
        }
        // The type changes: claim it first, so that a table referring to itself finds it
        // busy (Xen sets the type before validating it).
        self.frames[mfn as usize] = FrameInfo {
            ty,
            count: 1,
            pinned: false,
            xen_l2,
        };
        if ty.is_pt() {
            if let Err(e) = self.validate(host, mfn, ty, xen_l2) {
                self.frames[mfn as usize] = FrameInfo::default();
                return Err(e);
            }
        }
        Ok(())
    }

    fn put_type(&mut self, host: &mut dyn MmHost, mfn: u32) {
        let Some(f) = self.frames.get_mut(mfn as usize) else {
            return;
        };
        if f.count == 0 {
            return;
        }
        f.count -= 1;
        if f.count == 0 {
            let ty = f.ty;
            let xen_l2 = f.xen_l2;
            *f = FrameInfo::default();
            if ty.is_pt() {
                self.devalidate(host, mfn, ty, xen_l2);
            }
        }
    }

    fn guest_slots(ty: PageType, xen_l2: bool) -> u32 {
        match ty {
            PageType::L2 if xen_l2 => FIRST_XEN_L2_SLOT,
            PageType::L3 => 4,
            _ => 512,
        }
    }

    /// Take the references every present entry of a new page table needs.
    fn validate(
        &mut self,
        host: &mut dyn MmHost,
        mfn: u32,
        ty: PageType,
        xen_l2: bool,
    ) -> Result<(), i32> {
        if ty == PageType::L3 {
            // Only four entries are used; the rest must be empty (Xen clears them).
            for i in 4..512 {
                host.write_entry(mfn, i, 0);
            }
            if host.read_entry(mfn, 3) & PAGE_PRESENT == 0 {
                return Err(-EINVAL);
            }
        }
        let n = Self::guest_slots(ty, xen_l2);
        for i in 0..n {
            let e = host.read_entry(mfn, i);
            if let Err(err) = self.get_entry_ref(host, ty, i, e) {
                for j in 0..i {
                    let e = host.read_entry(mfn, j);
                    self.put_entry_ref(host, ty, e);
                }
                return Err(err);
            }
        }
        if ty == PageType::L3 {
            // pae_xen_mappings_check: the slot-3 L2 must not be shared with another L3.
            if let Some(l2) = entry_mfn(host.read_entry(mfn, 3)) {
                if self.frames.get(l2 as usize).is_some_and(|f| f.count != 1) {
                    for j in 0..4 {
                        let e = host.read_entry(mfn, j);
                        self.put_entry_ref(host, ty, e);
                    }
                    return Err(-EINVAL);
                }
            }
        }
        Ok(())
    }

    fn devalidate(&mut self, host: &mut dyn MmHost, mfn: u32, ty: PageType, xen_l2: bool) {
        for i in 0..Self::guest_slots(ty, xen_l2) {
            let e = host.read_entry(mfn, i);
            self.put_entry_ref(host, ty, e);
        }
    }

    /// get_page_from_l{1,2,3}e: the reference an entry of a `table`-typed page holds.
    fn get_entry_ref(
        &mut self,
        host: &mut dyn MmHost,
        table: PageType,
        slot: u32,
        e: u64,
    ) -> Result<(), i32> {
        if e & PAGE_PRESENT == 0 {
            return Ok(());
        }
        if table == PageType::L1 {
            // get_page_from_l1e (xen/arch/x86/mm.c): disallowed flags are -EINVAL; a frame
            // that is neither our RAM nor shared with us is I/O memory a domU may not map
            // (-EPERM, or -EINVAL for the INVALID_MFN pattern); a writable mapping of a
            // frame that cannot take PGT_writable_page (a page table, a GDT frame) is
            // `could_not_pin`: -EBUSY.
            if e & !L1_ALLOWED & !ADDR_MASK != 0 {
                return Err(-EINVAL);
            }
            let Some(mfn) = entry_mfn(e).filter(|&m| self.is_ram(m) || host.is_shared_frame(m))
            else {
                return Err(if e & ADDR_MASK == ADDR_MASK {
                    -EINVAL
                } else {
                    -EPERM
                });
            };
            if e & PAGE_RW != 0 {
                return self
                    .get_type(host, mfn, PageType::Writable, false)
                    .map_err(|_| -EBUSY);
            }
            return Ok(());
        }
        let mfn = entry_mfn(e).ok_or(-EINVAL)?;
        match table {
            PageType::L2 => {
                if e & !BASE_ALLOWED & !ADDR_MASK != 0 {
                    return Err(-EINVAL);
                }
                self.get_type(host, mfn, PageType::L1, false)
            }
            PageType::L3 => {
                if e & !L3_ALLOWED & !ADDR_MASK != 0 {
                    return Err(-EINVAL);
                }
                self.get_type(host, mfn, PageType::L2, slot == 3)
            }
            _ => Ok(()),
        }
    }

    fn put_entry_ref(&mut self, host: &mut dyn MmHost, table: PageType, e: u64) {
        if e & PAGE_PRESENT == 0 {
            return;
        }
        let Some(mfn) = entry_mfn(e) else { return };
        match table {
            PageType::L1 if e & PAGE_RW != 0 => self.put_type(host, mfn),
            PageType::L2 | PageType::L3 => self.put_type(host, mfn),
            _ => {}
        }
    }

    // ---- Hypercalls ----

    /// One `mmu_update` request of MMU_NORMAL_PT_UPDATE / MMU_PT_UPDATE_PRESERVE_AD: write
    /// `val` to the entry at machine address `ptr`, validated by the type of its page.
    pub fn update_entry(
        &mut self,
        host: &mut dyn MmHost,
        ptr: u64,
        mut val: u64,
        kind: UpdateKind,
    ) -> Result<(), i32> {
        self.stats.pt_updates += 1;
        let mfn = u32::try_from(ptr >> 12).map_err(|_| -EINVAL)?;
        if !self.is_ram(mfn) || ptr & 7 != 0 {
            return Err(-EINVAL);
        }
        let idx = ((ptr & 0xfff) >> 3) as u32;
        let f = self.frames[mfn as usize];
        let old = host.read_entry(mfn, idx);
        if kind == UpdateKind::PreserveAd {
            val |= old & (PAGE_ACCESSED | PAGE_DIRTY);
        }
        let ty = if f.count > 0 { f.ty } else { PageType::None };
        match ty {
            PageType::L1 | PageType::L2 | PageType::L3 => {
                if ty == PageType::L2 && f.xen_l2 && idx >= FIRST_XEN_L2_SLOT {
                    return Err(-EPERM);
                }
                if ty == PageType::L3 && idx >= 3 {
                    // mod_l3_entry: slot 3 holds Xen's mappings; slots above are unused.
                    return Err(-EINVAL);
                }
                if old == val {
                    return Ok(());
                }
                self.get_entry_ref(host, ty, idx, val)?;
                host.write_entry(mfn, idx, val);
                self.put_entry_ref(host, ty, old);
                self.entry_changed(host, mfn, ty, idx, val);
                Ok(())
            }
            PageType::SegDesc => Err(-EINVAL),
            PageType::None | PageType::Writable => {
                host.write_entry(mfn, idx, val);
                Ok(())
            }
        }
    }

    /// `update_va_mapping`: replace the L1 entry that maps `va` in the current address
    /// space.
    pub fn update_va_mapping(
        &mut self,
        host: &mut dyn MmHost,
        va: u32,
        val: u64,
    ) -> Result<(), i32> {
        if va >= HYPERVISOR_VIRT_START {
            return Err(-EINVAL);
        }
        let (l1, _) = self.views[self.cur].l1_at[(va >> 21) as usize].ok_or(-EINVAL)?;
        let ptr = (u64::from(l1) << 12) | (u64::from((va >> 12) & 511) << 3);
        self.update_entry(host, ptr, val, UpdateKind::Normal)
    }

    /// MMUEXT_PIN_L{1,2,3}_TABLE.
    pub fn pin(&mut self, host: &mut dyn MmHost, mfn: u32, ty: PageType) -> Result<(), i32> {
        if !self.is_ram(mfn) {
            return Err(-EINVAL);
        }
        self.get_type(host, mfn, ty, false)?;
        let f = &mut self.frames[mfn as usize];
        if f.pinned {
            self.put_type(host, mfn);
            return Err(-EINVAL);
        }
        f.pinned = true;
        Ok(())
    }

    /// MMUEXT_UNPIN_TABLE.
    pub fn unpin(&mut self, host: &mut dyn MmHost, mfn: u32) -> Result<(), i32> {
        match self.frames.get_mut(mfn as usize) {
            Some(f) if f.pinned => {
                f.pinned = false;
                self.put_type(host, mfn);
                Ok(())
            }
            _ => Err(-EINVAL),
        }
    }

    /// MMUEXT_NEW_BASEPTR (and a CR3 write): switch to the L3 at `mfn`.
    pub fn new_baseptr(&mut self, host: &mut dyn MmHost, mfn: u32) -> Result<(), i32> {
        if !self.is_ram(mfn) {
            return Err(-EINVAL);
        }
        self.get_type(host, mfn, PageType::L3, false)?;
        let v = self.cur;
        let old = self.views[v].cr3.replace(mfn);
        self.stats.baseptr_switches += 1;
        for s in 0..4 {
            let e = host.read_entry(mfn, s);
            let l2 = (e & PAGE_PRESENT != 0).then(|| entry_mfn(e)).flatten();
            self.set_l3_slot(host, v, s as usize, l2);
        }
        if let Some(old) = old {
            self.put_type(host, old);
        }
        Ok(())
    }

    /// Adopt the start-of-day page tables the domain builder wrote: Xen pins the L3 and
    /// makes it the base pointer (`new_guest_cr3` in dom0_build / arch_set_info_guest).
    pub fn boot(&mut self, host: &mut dyn MmHost, l3_mfn: u32) -> Result<(), i32> {
        self.pin(host, l3_mfn, PageType::L3)?;
        self.new_baseptr(host, l3_mfn)
    }

    /// MMUEXT_CLEAR_PAGE / MMUEXT_COPY_PAGE need a frame that may be written.
    pub fn check_writable(&mut self, host: &mut dyn MmHost, mfn: u32) -> Result<(), i32> {
        if !self.is_ram(mfn) {
            return Err(-EINVAL);
        }
        self.get_type(host, mfn, PageType::Writable, false)?;
        self.put_type(host, mfn);
        Ok(())
    }

    /// set_gdt: frames become descriptor pages (no writable mapping may exist).
    pub fn get_seg_desc(&mut self, host: &mut dyn MmHost, mfn: u32) -> Result<(), i32> {
        if !self.is_ram(mfn) {
            return Err(-EINVAL);
        }
        self.get_type(host, mfn, PageType::SegDesc, false)
    }

    pub fn put_seg_desc(&mut self, host: &mut dyn MmHost, mfn: u32) {
        self.put_type_of(host, mfn, PageType::SegDesc);
    }

    /// Drop a type reference taken as `ty` (none if the frame has another type now).
    fn put_type_of(&mut self, host: &mut dyn MmHost, mfn: u32, ty: PageType) {
        if self.frames.get(mfn as usize).is_some_and(|f| f.ty == ty) {
            self.put_type(host, mfn);
        }
    }

    // ---- Grant mappings (xen/arch/x86/pv/grant_table.c) ----

    /// gnttab_host_mapping_get_page_type: a writable grant mapping of our own frame takes a
    /// PGT_writable_page reference (refused for a page table or descriptor frame).
    pub fn grant_get_writable(&mut self, host: &mut dyn MmHost, mfn: u32) -> Result<(), i32> {
        self.get_type(host, mfn, PageType::Writable, false)
    }

    pub fn grant_put_writable(&mut self, host: &mut dyn MmHost, mfn: u32) {
        self.put_type_of(host, mfn, PageType::Writable);
    }

    /// The L1 entry a grant operation names: with GNTMAP_contains_pte the machine address
    /// of an entry (8-aligned, in a frame of ours), else the linear address whose L1 entry
    /// `map_guest_l1e` finds in the current page tables (a 32-bit guest's address must fit
    /// 32 bits; Xen's own slots have no L1 of ours). The frame must be an L1 page table.
    fn grant_l1_slot(&self, addr: u64, contains_pte: bool) -> Option<(u32, u32)> {
        let (l1, idx) = if contains_pte {
            if addr & 7 != 0 {
                return None;
            }
            (
                u32::try_from(addr >> 12).ok()?,
                ((addr & 0xfff) >> 3) as u32,
            )
        } else {
            let va = u32::try_from(addr).ok()?;
            if va >= HYPERVISOR_VIRT_START {
                return None;
            }
            let (l1, _) = self.views[self.cur].l1_at[(va >> 21) as usize]?;
            (l1, (va >> 12) & 511)
        };
        let f = self.frames.get(l1 as usize)?;
        (f.count > 0 && f.ty == PageType::L1).then_some((l1, idx))
    }

    /// create_grant_pv_mapping (GNTST_general_error on any failure, -EINVAL here): the entry becomes `pte` without a reference of its own (the
    /// grant holds the frame's), and the entry it replaces is dropped (put_page_from_l1e).
    pub fn grant_set_pte(
        &mut self,
        host: &mut dyn MmHost,
        addr: u64,
        contains_pte: bool,
        pte: u64,
    ) -> Result<(), i32> {
        let (l1, idx) = self.grant_l1_slot(addr, contains_pte).ok_or(-EINVAL)?;
        let old = host.read_entry(l1, idx);
        host.write_entry(l1, idx, pte);
        self.entry_changed(host, l1, PageType::L1, idx, pte);
        self.put_entry_ref(host, PageType::L1, old);
        Ok(())
    }

    /// replace_grant_pv_mapping (new_addr 0): the entry must still map the granted frame
    /// with the grant's present and writable bits; it is cleared, and its reference stays
    /// with the grant (unmap_common_complete drops it).
    pub fn grant_clear_pte(
        &mut self,
        host: &mut dyn MmHost,
        addr: u64,
        contains_pte: bool,
        pte: u64,
    ) -> Result<(), i32> {
        let (l1, idx) = self.grant_l1_slot(addr, contains_pte).ok_or(-EINVAL)?;
        let old = host.read_entry(l1, idx);
        if (old ^ pte) & ADDR_MASK != 0 || (old ^ pte) & (PAGE_PRESENT | PAGE_RW) != 0 {
            return Err(-EINVAL);
        }
        host.write_entry(l1, idx, 0);
        self.entry_changed(host, l1, PageType::L1, idx, 0);
        Ok(())
    }

    /// The frame and entry that map `va` now, for the writable-page-table emulation.
    pub fn l1_entry_of(&self, host: &dyn MmHost, va: u32) -> Option<(u32, u32, u64)> {
        let (l1, _) = self.views[self.cur]
            .l1_at
            .get((va >> 21) as usize)
            .copied()
            .flatten()?;
        let idx = (va >> 12) & 511;
        Some((l1, idx, host.read_entry(l1, idx)))
    }

    /// Re-apply the current mapping of the page at `va` (after the host replaced it).
    pub fn refresh_va(&mut self, host: &mut dyn MmHost, va: u32) {
        let v = self.cur;
        match self.views[v]
            .l1_at
            .get((va >> 21) as usize)
            .copied()
            .flatten()
        {
            Some((l1, l2e)) => {
                let e = host.read_entry(l1, (va >> 12) & 511);
                self.map_one(host, v, va & !0xfff, l2e, e);
            }
            None => host.unmap(v, va & !0xfff, 1),
        }
    }

    // ---- The active view ----

    fn entry_changed(&mut self, host: &mut dyn MmHost, mfn: u32, ty: PageType, idx: u32, e: u64) {
        // Every vCPU whose address space holds the table sees the change.
        for v in 0..self.views.len() {
            match ty {
                PageType::L1 => {
                    let slots = self.views[v].l1_rmap.get(&mfn).cloned().unwrap_or_default();
                    for g in slots {
                        let Some((_, l2e)) = self.views[v].l1_at[g as usize] else {
                            continue;
                        };
                        let va = (u32::from(g) << 21) | (idx << 12);
                        self.map_one(host, v, va, l2e, e);
                    }
                }
                PageType::L2 => {
                    let slots = self.views[v].l2_rmap.get(&mfn).cloned().unwrap_or_default();
                    for s in slots {
                        let g = u32::from(s) * 512 + idx;
                        let new = (e & PAGE_PRESENT != 0)
                            .then(|| entry_mfn(e).map(|m| (m, e)))
                            .flatten();
                        self.set_l1_slot(host, v, g as usize, new);
                    }
                }
                PageType::L3 if self.views[v].cr3 == Some(mfn) && idx < 4 => {
                    let l2 = (e & PAGE_PRESENT != 0).then(|| entry_mfn(e)).flatten();
                    self.set_l3_slot(host, v, idx as usize, l2);
                }
                _ => {}
            }
        }
    }

    fn map_one(&mut self, host: &mut dyn MmHost, v: usize, va: u32, l2e: u64, l1e: u64) {
        match (l1e & PAGE_PRESENT != 0).then(|| entry_mfn(l1e)).flatten() {
            Some(m) => {
                self.stats.pages_mapped += 1;
                host.map(v, va, 1, m, prot_of(l2e, l1e));
            }
            None => host.unmap(v, va, 1),
        }
    }

    fn set_l3_slot(&mut self, host: &mut dyn MmHost, v: usize, s: usize, l2: Option<u32>) {
        let view = &mut self.views[v];
        if let Some(old) = view.l2_at[s] {
            if let Some(r) = view.l2_rmap.get_mut(&old) {
                r.retain(|&x| x as usize != s);
                if r.is_empty() {
                    view.l2_rmap.remove(&old);
                }
            }
        }
        view.l2_at[s] = l2;
        if let Some(m) = l2 {
            view.l2_rmap.entry(m).or_default().push(s as u8);
        }
        let n = if s == 3 { FIRST_XEN_L2_SLOT } else { 512 };
        for j in 0..n {
            let new = l2.and_then(|m| {
                let e = host.read_entry(m, j);
                (e & PAGE_PRESENT != 0)
                    .then(|| entry_mfn(e).map(|l1| (l1, e)))
                    .flatten()
            });
            self.set_l1_slot(host, v, s * 512 + j as usize, new);
        }
    }

    fn set_l1_slot(&mut self, host: &mut dyn MmHost, v: usize, g: usize, new: Option<(u32, u64)>) {
        let view = &mut self.views[v];
        let old = view.l1_at[g];
        if old == new {
            return;
        }
        if let Some((m, _)) = old {
            if let Some(r) = view.l1_rmap.get_mut(&m) {
                r.retain(|&x| x as usize != g);
                if r.is_empty() {
                    view.l1_rmap.remove(&m);
                }
            }
        }
        view.l1_at[g] = new;
        let base = (g as u32) << 21;
        let Some((l1, l2e)) = new else {
            if old.is_some() {
                host.unmap(v, base, 512);
            }
            return;
        };
        view.l1_rmap.entry(l1).or_default().push(g as u16);
        // Map runs of consecutive frames with the same permissions with one call.
        let mut i = 0;
        while i < 512 {
            let e = host.read_entry(l1, i);
            let Some(m) = (e & PAGE_PRESENT != 0).then(|| entry_mfn(e)).flatten() else {
                let mut j = i + 1;
                while j < 512 && host.read_entry(l1, j) & PAGE_PRESENT == 0 {
                    j += 1;
                }
                if old.is_some() {
                    host.unmap(v, base | (i << 12), j - i);
                }
                i = j;
                continue;
            };
            let prot = prot_of(l2e, e);
            let mut j = i + 1;
            while j < 512 {
                let f = host.read_entry(l1, j);
                if f & PAGE_PRESENT == 0
                    || entry_mfn(f) != m.checked_add(j - i)
                    || prot_of(l2e, f) != prot
                {
                    break;
                }
                j += 1;
            }
            self.stats.pages_mapped += u64::from(j - i);
            host.map(v, base | (i << 12), j - i, m, prot);
            i = j;
        }
    }
}
