//! GNTTABOP_map_grant_ref / GNTTABOP_unmap_grant_ref for the domain's own grants
//! (xen/common/grant_table.c: map_grant_ref, unmap_common, unmap_common_complete;
//! xen/arch/x86/pv/grant_table.c: create_grant_pv_mapping, replace_grant_pv_mapping).
//!
//! There is no other domain, so the granting domain is always the caller: a map names its
//! own domid (DOMID_SELF is not a domain `rcu_lock_domain_by_id` finds, so it is
//! GNTST_bad_domain). Grant table v1 only: an entry is `{ flags u16, domid u16, frame u32 }`,
//! 512 per frame, in the host's grant frames. Xen's per-entry state (the active entry's pin
//! counts and frame) and its maptrack (handles, with per-vCPU free lists) are mirrored here
//! so that handle numbers, pin overflow and the GTF_reading/GTF_writing bits follow Xen.
//!
//! Not modelled: GNTMAP_device_map only takes the pin and the type reference (there is no
//! IOMMU); I/O memory frames cannot be granted (they are not ours: GNTST_bad_page); cache
//! attributes (only I/O frames get them); unmap_and_replace.

#![allow(non_upper_case_globals)]

use super::mm::{MmHost, PvMmu, PAGE_ACCESSED, PAGE_DIRTY, PAGE_NX, PAGE_PRESENT, PAGE_RW};
use alloc::vec::Vec;
use hypercall_abi::grant_table::{
    GNTST_bad_dev_addr, GNTST_bad_domain, GNTST_bad_gntref, GNTST_bad_handle, GNTST_bad_page,
    GNTST_general_error, GNTST_no_space, GNTST_okay, GTF_permit_access, GTF_reading, GTF_readonly,
    GTF_sub_page, GTF_type_mask, GTF_writing,
};

use hypercall_abi::grant_table::{
    _GNTMAP_guest_avail0, GNTMAP_application_map, GNTMAP_contains_pte, GNTMAP_device_map,
    GNTMAP_host_map, GNTMAP_readonly,
};

// Pin counters of an active entry (grant_table.c GNTPIN_*): four 8-bit counters.
const GNTPIN_hstw_inc: u32 = 1;
const GNTPIN_hstr_inc: u32 = 1 << 8;
const GNTPIN_devw_inc: u32 = 1 << 16;
const GNTPIN_devr_inc: u32 = 1 << 24;
const GNTPIN_hstw_mask: u32 = 0xff;
const GNTPIN_devw_mask: u32 = 0xff << 16;

/// MAPTRACK_PER_PAGE: 4096 / sizeof(struct grant_mapping) (16 bytes).
const MAPTRACK_PER_PAGE: u32 = 256;
/// Xen's default gnttab_max_maptrack_frames.
const MAX_MAPTRACK_FRAMES: u32 = 1024;
const MAPTRACK_TAIL: u32 = u32::MAX;
/// Entries per v1 grant frame.
pub const GRANT_ENTRIES_PER_FRAME: u32 = 512;

/// `struct active_grant_entry`, for the fields that matter with one domain.
#[derive(Clone, Copy, Debug, Default)]
struct Active {
    pin: u32,
    mfn: u32,
}

/// `struct grant_mapping`: `next` is the free-list link while free (Xen reuses `ref`).
#[derive(Clone, Copy, Debug)]
struct Mapping {
    gref: u32,
    flags: u16,
    vcpu: u32,
}

/// The grant state of the domain as a mapping domain and as the granting domain.
#[derive(Debug, Default)]
pub struct Grants {
    active: alloc::collections::BTreeMap<u32, Active>,
    maptrack: Vec<Mapping>,
    /// Per vCPU: maptrack_head, maptrack_tail.
    free: Vec<(u32, u32)>,
}

/// One map request (`struct gnttab_map_grant_ref` minus the outputs).
#[derive(Clone, Copy, Debug)]
pub struct MapReq {
    pub host_addr: u64,
    pub flags: u32,
    pub gref: u32,
    pub dom: u16,
}

/// What the hypervisor-side tables are: where the v1 entries live and how many there are.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    pub first_frame: u32,
    pub nr_entries: u32,
    pub domid: u16,
    pub vcpu: usize,
}

fn entry_loc(t: &Table, gref: u32) -> (u32, u32) {
    (
        t.first_frame + gref / GRANT_ENTRIES_PER_FRAME,
        gref % GRANT_ENTRIES_PER_FRAME,
    )
}

/// gnttab_clear_flags: an atomic `and` on the entry's 16-bit flags.
fn clear_flags(host: &mut dyn MmHost, t: &Table, gref: u32, mask: u16) {
    let (f, i) = entry_loc(t, gref);
    host.fetch_and_entry(f, i, !u64::from(mask));
}

/// grant_to_pte_flags (xen/arch/x86/pv/grant_table.c), for the release build Xen is: there
/// `_PAGE_GNTTAB` is 0 (NDEBUG), so a grant PTE is P|A|D|NX, RW unless read-only, US for an
/// application map, and the guest-available GNTMAP bits in PTE bits 9-11. A 32-bit guest's
/// L1 entry is left as is (adjust_guest_l1e only changes 64-bit guests' entries).
pub fn grant_pte_flags(flags: u32) -> u64 {
    let mut f = PAGE_PRESENT | PAGE_ACCESSED | PAGE_DIRTY | PAGE_NX;
    if flags & GNTMAP_application_map != 0 {
        f |= super::mm::PAGE_USER;
    }
    if flags & GNTMAP_readonly == 0 {
        f |= PAGE_RW;
    }
    f | (u64::from((flags >> _GNTMAP_guest_avail0) & 7) << 9)
}

impl Grants {
    pub fn new(nr_vcpus: usize) -> Grants {
        Grants {
            active: Default::default(),
            maptrack: Vec::new(),
            free: alloc::vec![(MAPTRACK_TAIL, MAPTRACK_TAIL); nr_vcpus.max(1)],
        }
    }

    fn limit(&self) -> u32 {
        self.maptrack.len() as u32
    }

    /// _get_maptrack_handle: take the head of vCPU `v`'s free list, always leaving one
    /// entry (the tail) in it.
    fn take(&mut self, v: usize) -> Option<u32> {
        let (head, _) = *self.free.get(v)?;
        if head == MAPTRACK_TAIL {
            return None;
        }
        let next = self.maptrack.get(head as usize)?.gref;
        if next == MAPTRACK_TAIL {
            return None;
        }
        self.free[v].0 = next;
        Some(head)
    }

    /// get_maptrack_handle: the vCPU's free list, else a new maptrack page (its first entry
    /// is the handle, the rest go to the head of the list), else steal from another vCPU.
    /// Xen picks the first victim at random; here the search starts at vCPU 0.
    fn get_handle(&mut self, v: usize) -> Option<u32> {
        if v >= self.free.len() {
            return None;
        }
        if let Some(h) = self.take(v) {
            return Some(h);
        }
        if self.limit() / MAPTRACK_PER_PAGE < MAX_MAPTRACK_FRAMES {
            let handle = self.limit();
            for i in 0..MAPTRACK_PER_PAGE {
                self.maptrack.push(Mapping {
                    gref: handle + i + 1,
                    flags: 0,
                    vcpu: v as u32,
                });
            }
            if self.free[v].1 == MAPTRACK_TAIL {
                self.free[v].1 = handle + MAPTRACK_PER_PAGE - 1;
            }
            self.maptrack[(handle + MAPTRACK_PER_PAGE - 1) as usize].gref = self.free[v].0;
            self.free[v].0 = handle + 1;
            return Some(handle);
        }
        if self.free[v].1 == MAPTRACK_TAIL {
            let h = self.steal(v)?;
            self.maptrack[h as usize].gref = MAPTRACK_TAIL;
            self.free[v].1 = h;
            if self.free[v].0 == MAPTRACK_TAIL {
                self.free[v].0 = h;
            }
        }
        self.steal(v)
    }

    fn steal(&mut self, v: usize) -> Option<u32> {
        for victim in 0..self.free.len() {
            if let Some(h) = self.take(victim) {
                self.maptrack[h as usize].vcpu = v as u32;
                return Some(h);
            }
        }
        None
    }

    /// put_maptrack_handle: append to the free list of the vCPU that owns the entry.
    fn put_handle(&mut self, handle: u32) {
        let Some(m) = self.maptrack.get_mut(handle as usize) else {
            return;
        };
        m.gref = MAPTRACK_TAIL;
        let v = m.vcpu as usize;
        let Some(&(_, tail)) = self.free.get(v) else {
            return;
        };
        self.free[v].1 = handle;
        if let Some(t) = self.maptrack.get_mut(tail as usize) {
            t.gref = handle;
        }
    }

    /// reduce_status_for_pin: drop GTF_reading once unpinned, GTF_writing once no writable
    /// pin is left (only looked at for a writable operation).
    fn reduce_status(&self, host: &mut dyn MmHost, t: &Table, gref: u32, readonly: bool) {
        let pin = self.active.get(&gref).map_or(0, |a| a.pin);
        let mut clear = if pin == 0 { GTF_reading } else { 0 };
        if !readonly && pin & (GNTPIN_hstw_mask | GNTPIN_devw_mask) == 0 {
            clear |= GTF_writing;
        }
        if clear != 0 {
            clear_flags(host, t, gref, clear);
        }
    }

    fn unpin(&mut self, gref: u32, by: u32) {
        if let Some(a) = self.active.get_mut(&gref) {
            a.pin = a.pin.wrapping_sub(by);
            if a.pin == 0 {
                self.active.remove(&gref);
            }
        }
    }

    /// map_grant_ref: returns (status, handle, machine frame).
    pub fn map(
        &mut self,
        mmu: &mut PvMmu,
        host: &mut dyn MmHost,
        t: &Table,
        op: &MapReq,
    ) -> (i16, u32, u32) {
        let ro = op.flags & GNTMAP_readonly != 0;
        let mut pin_incr = 0;
        if op.flags & GNTMAP_device_map != 0 {
            pin_incr += if ro { GNTPIN_devr_inc } else { GNTPIN_devw_inc };
        }
        if op.flags & GNTMAP_host_map != 0 {
            pin_incr += if ro { GNTPIN_hstr_inc } else { GNTPIN_hstw_inc };
        }
        if pin_incr == 0 {
            return (GNTST_bad_gntref, 0, 0);
        }
        // rcu_lock_domain_by_id: only a real domain id; DOMID_SELF names none.
        if op.dom != t.domid {
            return (GNTST_bad_domain, 0, 0);
        }
        let Some(handle) = self.get_handle(t.vcpu) else {
            return (GNTST_no_space, 0, 0);
        };
        let rc = self.map_pinned(mmu, host, t, op, pin_incr, ro);
        match rc {
            Ok(mfn) => {
                let m = &mut self.maptrack[handle as usize];
                m.gref = op.gref;
                m.flags = op.flags as u16;
                (GNTST_okay, handle, mfn)
            }
            Err(st) => {
                self.put_handle(handle);
                (st, 0, 0)
            }
        }
    }

    fn map_pinned(
        &mut self,
        mmu: &mut PvMmu,
        host: &mut dyn MmHost,
        t: &Table,
        op: &MapReq,
        pin_incr: u32,
        ro: bool,
    ) -> Result<u32, i16> {
        let gref = op.gref;
        if gref >= t.nr_entries {
            return Err(GNTST_bad_gntref);
        }
        let act = self.active.get(&gref).copied().unwrap_or_default();
        // Already pinned: refuse a counter that could overflow (GNTPIN_incr2oflow_mask).
        if act.pin != 0 && act.pin & (pin_incr << 7) != 0 {
            return Err(GNTST_general_error);
        }
        let (ef, ei) = entry_loc(t, gref);
        let mut mfn = act.mfn;
        if act.pin == 0 || (!ro && act.pin & (GNTPIN_hstw_mask | GNTPIN_devw_mask) == 0) {
            self.set_status_v1(host, t, gref, &act, ro)?;
            if act.pin == 0 {
                // get_paged_frame: the frame must be the domain's (a PV guest's gfn is the
                // mfn); anything else is GNTST_bad_page.
                let e = host.read_entry(ef, ei);
                mfn = (e >> 32) as u32;
                if mfn >= host.nr_ram_frames() && !host.is_shared_frame(mfn) {
                    self.reduce_status(host, t, gref, ro);
                    return Err(GNTST_bad_page);
                }
            }
        }
        self.active.insert(
            gref,
            Active {
                pin: act.pin + pin_incr,
                mfn,
            },
        );
        let mut typecnt = 0;
        let undo = |g: &mut Grants, mmu: &mut PvMmu, host: &mut dyn MmHost, typecnt: u32| {
            for _ in 0..typecnt {
                mmu.grant_put_writable(host, mfn);
            }
            g.unpin(gref, pin_incr);
            g.reduce_status(host, t, gref, ro);
            Err(GNTST_general_error)
        };
        // Owner is the domain itself: a writable device or host mapping needs the frame to
        // take PGT_writable_page (gnttab_host_mapping_get_page_type is true for ld == rd);
        // a page table or descriptor frame cannot (`could_not_pin`).
        if op.flags & GNTMAP_device_map != 0 && !ro {
            if mmu.grant_get_writable(host, mfn).is_err() {
                return undo(self, mmu, host, typecnt);
            }
            typecnt += 1;
        }
        if op.flags & GNTMAP_host_map != 0 {
            if !ro {
                if mmu.grant_get_writable(host, mfn).is_err() {
                    return undo(self, mmu, host, typecnt);
                }
                typecnt += 1;
            }
            let pte = (u64::from(mfn) << 12) | grant_pte_flags(op.flags);
            if mmu
                .grant_set_pte(host, op.host_addr, op.flags & GNTMAP_contains_pte != 0, pte)
                .is_err()
            {
                return undo(self, mmu, host, typecnt);
            }
        }
        Ok(mfn)
    }

    /// _set_status_v1: check the entry (unless already pinned) and set GTF_reading, plus
    /// GTF_writing for a writable pin, with a compare-and-exchange retried five times.
    fn set_status_v1(
        &mut self,
        host: &mut dyn MmHost,
        t: &Table,
        gref: u32,
        act: &Active,
        ro: bool,
    ) -> Result<(), i16> {
        let (f, i) = entry_loc(t, gref);
        let mask = GTF_type_mask | GTF_sub_page;
        let mut cur = host.read_entry(f, i);
        let mut retries = 0;
        loop {
            let flags = cur as u16;
            let domid = (cur >> 16) as u16;
            if act.pin == 0 && (flags & mask != GTF_permit_access || domid != t.domid) {
                return Err(GNTST_general_error);
            }
            let mut nflags = flags | GTF_reading;
            if !ro {
                nflags |= GTF_writing;
                if flags & GTF_readonly != 0 {
                    return Err(GNTST_general_error);
                }
            }
            let new = (cur & !0xffff) | u64::from(nflags);
            let prev = host.cmpxchg_entry(f, i, cur, new);
            if prev == cur {
                return Ok(());
            }
            if retries == 4 {
                return Err(GNTST_general_error);
            }
            retries += 1;
            cur = prev;
        }
    }

    /// unmap_common + unmap_common_complete for one `gnttab_unmap_grant_ref`.
    pub fn unmap(
        &mut self,
        mmu: &mut PvMmu,
        host: &mut dyn MmHost,
        t: &Table,
        host_addr: u64,
        dev_bus_addr: u64,
        handle: u32,
    ) -> i16 {
        let Some(m) = self.maptrack.get(handle as usize).copied() else {
            return GNTST_bad_handle;
        };
        if m.flags == 0 {
            return GNTST_bad_handle;
        }
        let flags = u32::from(m.flags);
        let gref = m.gref;
        let Some(act) = self.active.get(&gref).copied() else {
            return GNTST_bad_handle;
        };
        if dev_bus_addr != 0
            && flags & GNTMAP_device_map != 0
            && dev_bus_addr != u64::from(act.mfn) << 12
        {
            return GNTST_bad_dev_addr;
        }
        let mut done = 0;
        let mut left = flags;
        if host_addr != 0 && flags & GNTMAP_host_map != 0 {
            let pte = (u64::from(act.mfn) << 12) | grant_pte_flags(flags);
            if mmu
                .grant_clear_pte(host, host_addr, flags & GNTMAP_contains_pte != 0, pte)
                .is_err()
            {
                return GNTST_general_error;
            }
            left &= !GNTMAP_host_map;
            done |= GNTMAP_host_map;
        }
        if dev_bus_addr != 0 && flags & GNTMAP_device_map != 0 {
            left &= !GNTMAP_device_map;
            done |= GNTMAP_device_map;
        }
        if left & (GNTMAP_device_map | GNTMAP_host_map) == 0 {
            self.maptrack[handle as usize].flags = 0;
            self.put_handle(handle);
        } else {
            self.maptrack[handle as usize].flags = left as u16;
        }
        if done == 0 {
            return GNTST_okay;
        }
        // unmap_common_complete: drop the type references and the pins taken at map time.
        let ro = flags & GNTMAP_readonly != 0;
        if done & GNTMAP_device_map != 0 {
            if !ro {
                mmu.grant_put_writable(host, act.mfn);
            }
            self.unpin(gref, if ro { GNTPIN_devr_inc } else { GNTPIN_devw_inc });
        }
        if done & GNTMAP_host_map != 0 {
            if !ro {
                mmu.grant_put_writable(host, act.mfn);
            }
            self.unpin(gref, if ro { GNTPIN_hstr_inc } else { GNTPIN_hstw_inc });
        }
        self.reduce_status(host, t, gref, ro);
        GNTST_okay
    }
}
