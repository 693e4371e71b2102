/*
 * mmu_update: MMU_NORMAL_PT_UPDATE on an L1 of the current tables (Xen: do_mmu_update ->
 * mod_l1_entry -> get_page_from_l1e, xen/arch/x86/mm.c), PRESERVE_AD, MACHPHYS_UPDATE, a
 * "page-table" update of a plain data page (a checked write), and the errors: disallowed
 * L1 flags (-EINVAL), a writable mapping of a page-table frame (-EBUSY), frames that are
 * not RAM (-EPERM; the INVALID_MFN pattern -EINVAL), `done` on a partial batch, bad
 * foreigndom (-ESRCH), unknown command (-ENOSYS).
 */
#define TEST_NAME "mmu_update"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-mmu_update");

static char scratch[4096] PAGE_ALIGNED;
static char scratch2[4096] PAGE_ALIGNED;
static char data[4096] PAGE_ALIGNED;

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();

    uint64_t *l1e = l1e_of((uint32_t)scratch);
    uint64_t ptr = entry_maddr(l1e);
    uint64_t *l1e2 = l1e_of((uint32_t)scratch2);
    uint64_t ptr2 = entry_maddr(l1e2);
    uint32_t own_mfn = va_to_mfn(scratch);
    check_eq((uint32_t)((*l1e & PTE_ADDR_MASK) >> 12), own_mfn, "initial L1 entry of scratch");

    /* Map a frame outside the initial mapping over `scratch`, write through it. */
    uint32_t hi_pfn = si->nr_pages - 1;
    uint32_t hi_mfn = pfn_to_mfn(hi_pfn);
    check_eq(mmu1(ptr | MMU_NORMAL_PT_UPDATE, pte(hi_mfn, PTE_RW)), 0, "map high frame");
    check_eq((uint32_t)*l1e, (hi_mfn << 12) | PTE_RW, "L1 entry after update");
    *(volatile uint32_t *)scratch = 0x12345678;
    /* A second, read-only mapping of it reads the same; writing through it is a #PF. */
    check_eq(mmu1(ptr2, pte(hi_mfn, PTE_RO)), 0, "map high frame read-only");
    check_eq(*(volatile uint32_t *)scratch2, 0x12345678, "read through second mapping");
    fault_count = 0;
    probe_write((uint32_t)scratch2, 1);
    check_eq(fault_count, 1, "write to read-only mapping faults");
    check_eq(fault_vec, 14, "fault vector");
    check_eq(fault_err, 3, "#PF error code (present, write)");
    check_eq(*(volatile uint32_t *)scratch2, 0x12345678, "read-only frame unchanged");

    /* PRESERVE_AD: A/D of the old entry survive an update without them. */
    check_eq(mmu1(ptr2 | MMU_PT_UPDATE_PRESERVE_AD, pte(hi_mfn, _PAGE_PRESENT)), 0,
             "PRESERVE_AD update");
    check_eq((uint32_t)*l1e2, (hi_mfn << 12) | PTE_RO, "PRESERVE_AD keeps A");
    check_eq(mmu1(ptr | MMU_PT_UPDATE_PRESERVE_AD, pte(hi_mfn, _PAGE_PRESENT | _PAGE_RW)), 0,
             "PRESERVE_AD update (RW)");
    check_eq((uint32_t)*l1e, (hi_mfn << 12) | PTE_RW, "PRESERVE_AD keeps A and D");
    /* NO_TRANSLATE is a normal update for a PV guest. */
    check_eq(mmu1(ptr2 | MMU_PT_UPDATE_NO_TRANSLATE, 0), 0, "NO_TRANSLATE unmap");
    check_eq((uint32_t)*l1e2, 0, "entry cleared");
    fault_count = 0;
    check_eq(probe_read((uint32_t)scratch2), 0xdeadbeef, "read of unmapped page");
    check_eq(fault_count, 1, "read of unmapped page faults");
    check_eq(fault_err, 0, "#PF error code (not present, read)");

    /* Disallowed L1 flags (L1_DISALLOW_MASK for a domU without I/O memory). */
    check_eq(mmu1(ptr, pte(hi_mfn, PTE_RW | _PAGE_PSE)), -XEN_EINVAL, "PAT/PSE in L1");
    check_eq(mmu1(ptr, pte(hi_mfn, PTE_RW | _PAGE_PCD)), -XEN_EINVAL, "PCD in L1");
    check_eq(mmu1(ptr, pte(hi_mfn, PTE_RW | _PAGE_PWT)), -XEN_EINVAL, "PWT in L1");
    check_eq(mmu1(ptr, pte(hi_mfn, PTE_RW) | (1ull << 62)), -XEN_EINVAL, "_PAGE_GNTTAB in L1");
    check_eq(mmu1(ptr, pte(hi_mfn, PTE_RW | _PAGE_GLOBAL)), 0, "GLOBAL is allowed in L1");
    check_eq((uint32_t)*l1e, (hi_mfn << 12) | PTE_RW | _PAGE_GLOBAL, "GLOBAL entry");
    check_eq(*(volatile uint32_t *)scratch, 0x12345678, "still mapped after refused updates");

    /* Frames that are not our RAM. */
    check_eq(mmu1(ptr, pte(0xFFFFFFF0u, PTE_RW)), -XEN_EPERM, "non-RAM frame (MMIO)");
    check_eq(mmu1(ptr, (0xFFFFFFFFFFull << 12) | PTE_RW), -XEN_EINVAL, "INVALID_MFN pattern");
    /* A writable mapping of a page-table frame (our L1 itself). */
    uint32_t l1_mfn = va_to_mfn(l1e);
    check_eq(mmu1(ptr, pte(l1_mfn, PTE_RW)), -XEN_EBUSY, "writable mapping of an L1");
    check_eq(mmu1(ptr, pte(l1_mfn, PTE_RO)), 0, "read-only mapping of an L1");
    check_eq(*(volatile uint32_t *)(scratch + (((uint32_t)l1e) & 0xfff)), (uint32_t)*l1e,
             "L1 read through its own mapping");
    /* ptr in a frame that is not ours: -EINVAL. */
    check_eq(mmu1(((uint64_t)0xFFFFFF0u << 12), 0), -XEN_EINVAL, "ptr outside our memory");

    /* A batch failing in its second element: done = 1, the third is not applied. */
    {
        struct mmu_update b[3] = {
            { ptr, pte(own_mfn, PTE_RW) },
            { ptr2, pte(hi_mfn, PTE_RW | _PAGE_PCD) },
            { ptr2, pte(hi_mfn, PTE_RO) },
        };
        unsigned done = 77;
        check_eq(HYPERVISOR_mmu_update(b, 3, &done, DOMID_SELF), -XEN_EINVAL, "batch result");
        check_eq(done, 1, "batch done count");
        check_eq((uint32_t)*l1e, (own_mfn << 12) | PTE_RW, "first of batch applied");
        check_eq((uint32_t)*l1e2, 0, "third of batch not applied");
        done = 0;
        check_eq(HYPERVISOR_mmu_update(b, 1, &done, DOMID_SELF), 0, "batch of one");
        check_eq(done, 1, "done after success");
    }

    /* MMU_MACHPHYS_UPDATE sets the M2P entry; put it back. */
    check_eq(mmu1(((uint64_t)hi_mfn << 12) | MMU_MACHPHYS_UPDATE, 5), 0, "MACHPHYS_UPDATE");
    check_eq(m2p()[hi_mfn], 5, "M2P entry updated");
    check_eq(mmu1(((uint64_t)hi_mfn << 12) | MMU_MACHPHYS_UPDATE, hi_pfn), 0,
             "MACHPHYS_UPDATE back");
    check_eq(m2p()[hi_mfn], hi_pfn, "M2P entry restored");
    check_eq(mmu1(((uint64_t)0xFFFFFFF0u << 12) | MMU_MACHPHYS_UPDATE, 5), -XEN_EINVAL,
             "MACHPHYS_UPDATE of a frame not ours");

    /* A normal update of a plain data page is a checked write of the value. */
    check_eq(mmu1(entry_maddr(data + 8), 0x1122334455667788ull), 0, "update of a data page");
    check_eq(*(volatile uint32_t *)(data + 8), 0x55667788, "data page written (low)");
    check_eq(*(volatile uint32_t *)(data + 12), 0x11223344, "data page written (high)");

    /* Unknown command (ptr & 7 = 4..7). */
    check_eq(mmu1(ptr | 5, 0), -XEN_ENOSYS, "unknown mmu_update command");

    /* Foreign domains: unknown ids are -ESRCH (get_pg_owner / rcu_lock_domain_by_id). */
    {
        struct mmu_update u = { ptr, pte(own_mfn, PTE_RW) };
        check_eq(HYPERVISOR_mmu_update(&u, 1, 0, 0x7FEF), -XEN_ESRCH, "unknown foreigndom");
        check_eq(HYPERVISOR_mmu_update(&u, 1, 0, (0x1235u << 16) | DOMID_SELF), -XEN_ESRCH,
                 "unknown page-table owner");
        check_eq(HYPERVISOR_mmu_update(&u, 0, 0, DOMID_SELF), 0, "count 0");
    }
    pass();
}
