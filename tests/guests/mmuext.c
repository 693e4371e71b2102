/*
 * mmuext_op (Xen: do_mmuext_op, new_guest_cr3, alloc_l3_table/create_pae_xen_mappings in
 * xen/arch/x86/mm.c; compat_mmuext_op in x86_64/compat/mm.c): pinning and unpinning L1/L2/L3
 * tables, double pin and unpin of an unpinned page (-EINVAL), a pinned L1 cannot be mapped
 * writable (-EBUSY), a writable page cannot be pinned (-EINVAL), NEW_BASEPTR to a fresh L3
 * (with its own slot-3 L2) and back, an L3 without slot 3 or sharing the slot-3 L2
 * (-EINVAL), PIN_L4 ignored, NEW_USER_BASEPTR -EINVAL, MARK_SUPER -EOPNOTSUPP, unknown
 * commands -ENOSYS, the flushes, CLEAR_PAGE/COPY_PAGE, and `done`.
 */
#define TEST_NAME "mmuext"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-mmuext");

static uint64_t l1new[512] PAGE_ALIGNED;
static uint64_t l2new[512] PAGE_ALIGNED;
static uint64_t l3new[512] PAGE_ALIGNED;
static uint64_t l3shared[512] PAGE_ALIGNED;
static uint64_t l3bad[512] PAGE_ALIGNED;
static char page_a[4096] PAGE_ALIGNED;
static char page_b[4096] PAGE_ALIGNED;
static char window[4096] PAGE_ALIGNED;

void guest_main(struct start_info *start)
{
    unsigned i;
    si = start;
    install_fault_handlers();

    uint32_t l3_0 = va_to_mfn(cur_l3());
    uint64_t *l2cur = mfn_to_va((uint32_t)((cur_l3()[3] & PTE_ADDR_MASK) >> 12));

    /* An L1 mapping one frame of ours read-write (entry 5) and one read-only (entry 6). */
    uint32_t hi = pfn_to_mfn(si->nr_pages - 3);
    l1new[5] = pte(hi, PTE_RW);
    l1new[6] = pte(va_to_mfn(page_a), PTE_RO);
    uint32_t l1mfn = va_to_mfn(l1new);
    check_eq(mmuext1(MMUEXT_PIN_L1_TABLE, l1mfn, 0), -XEN_EINVAL, "pin of a writable-mapped page");
    check_eq(make_ro(l1new), 0, "L1 read-only");
    check_eq(mmuext1(MMUEXT_PIN_L1_TABLE, l1mfn, 0), 0, "pin L1");
    check_eq(mmuext1(MMUEXT_PIN_L1_TABLE, l1mfn, 0), -XEN_EINVAL, "double pin");
    check_eq(mmuext1(MMUEXT_PIN_L2_TABLE, l1mfn, 0), -XEN_EINVAL, "pin an L1 as L2");
    check_eq(make_rw(l1new), -XEN_EBUSY, "writable mapping of a pinned L1");
    check_eq(mmuext1(MMUEXT_UNPIN_TABLE, l1mfn, 0), 0, "unpin L1");
    check_eq(mmuext1(MMUEXT_UNPIN_TABLE, l1mfn, 0), -XEN_EINVAL, "unpin of an unpinned page");
    check_eq(mmuext1(MMUEXT_UNPIN_TABLE, va_to_mfn(page_a), 0), -XEN_EINVAL,
             "unpin of a data page");
    check_eq(mmuext1(MMUEXT_PIN_L1_TABLE, 0xFFFFFF0u, 0), -XEN_EINVAL, "pin of a frame not ours");
    /* An L1 with a bad entry does not validate. */
    check_eq(make_rw(l1new), 0, "L1 writable again after unpin");
    l1new[7] = pte(hi, PTE_RW | _PAGE_PCD);
    check_eq(make_ro(l1new), 0, "L1 read-only (bad entry)");
    check_eq(mmuext1(MMUEXT_PIN_L1_TABLE, l1mfn, 0), -XEN_EINVAL, "pin of an invalid L1");
    check_eq(make_rw(l1new), 0, "writable");
    l1new[7] = 0;
    /* An L1 mapping itself writable does not validate either. */
    l1new[8] = pte(l1mfn, PTE_RW);
    check_eq(make_ro(l1new), 0, "L1 read-only (self-map)");
    check_eq(mmuext1(MMUEXT_PIN_L1_TABLE, l1mfn, 0), -XEN_EBUSY, "pin of a self-mapping L1");
    check_eq(make_rw(l1new), 0, "writable");
    l1new[8] = 0;
    check_eq(make_ro(l1new), 0, "L1 read-only");

    /* A new slot-3 L2: a copy of the current one, whose entry for `window` names our L1. */
    for (i = 0; i < 512; i++)
        l2new[i] = l2cur[i];
    uint32_t wslot = ((uint32_t)window >> 21) & 511;
    uint64_t *wl1 = mfn_to_va((uint32_t)((l2cur[wslot] & PTE_ADDR_MASK) >> 12));
    /* The window's 2 MiB: keep it as it is, except that we look at page_b via l1new. */
    (void)wl1;
    uint32_t l2mfn = va_to_mfn(l2new);
    check_eq(make_ro(l2new), 0, "L2 read-only");
    /* The new L3: slots 0-2 as now, slot 3 the new L2. */
    for (i = 0; i < 3; i++)
        l3new[i] = cur_l3()[i];
    l3new[3] = pte(l2mfn, _PAGE_PRESENT);
    uint32_t l3mfn = va_to_mfn(l3new);
    check_eq(make_ro(l3new), 0, "L3 read-only");
    check_eq(mmuext1(MMUEXT_PIN_L3_TABLE, l3mfn, 0), 0, "pin L3");
    check_eq(mmuext1(MMUEXT_PIN_L3_TABLE, l3mfn, 0), -XEN_EINVAL, "double pin L3");
    check_eq(mmuext1(MMUEXT_PIN_L2_TABLE, l2mfn, 0), -XEN_EINVAL,
             "pin of the slot-3 L2 as a plain L2");
    check_eq(mmuext1(MMUEXT_NEW_BASEPTR, l3mfn, 0), 0, "NEW_BASEPTR to the new L3");
    /* Still running, the kernel mapping intact, the M2P visible. */
    check_eq(m2p()[va_to_mfn(page_a)], va_to_pfn(page_a), "M2P under the new L3");
    /* Map page_b at the window through the new L2's own tables: a plain update. */
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)window, pte(va_to_mfn(page_b), PTE_RW),
                                          UVMF_INVLPG), 0, "update_va_mapping under the new L3");
    page_b[0] = 42;
    check_eq((uint32_t)*l1e_of((uint32_t)window), (va_to_mfn(page_b) << 12) | PTE_RW, "window entry");
    check_eq(*(volatile char *)page_b, 42, "page_b");
    check_eq(*(volatile char *)window, 42, "window shows page_b");
    check_eq(mmuext1(MMUEXT_NEW_BASEPTR, l3_0, 0), 0, "NEW_BASEPTR back");
    check_eq(mmuext1(MMUEXT_UNPIN_TABLE, l3mfn, 0), 0, "unpin L3");
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)window, pte(va_to_mfn(window), PTE_RW),
                                          UVMF_INVLPG), 0, "window back");

    /* An L3 whose slot-3 L2 is shared with the current L3: create_pae_xen_mappings. */
    for (i = 0; i < 4; i++)
        l3shared[i] = cur_l3()[i];
    check_eq(make_ro(l3shared), 0, "shared L3 read-only");
    check_eq(mmuext1(MMUEXT_NEW_BASEPTR, va_to_mfn(l3shared), 0), -XEN_EINVAL,
             "L3 sharing the slot-3 L2");
    check_eq(mmuext1(MMUEXT_PIN_L3_TABLE, va_to_mfn(l3shared), 0), -XEN_EINVAL,
             "pin of an L3 sharing the slot-3 L2");
    /* An L3 without slot 3. */
    for (i = 0; i < 3; i++)
        l3bad[i] = cur_l3()[i];
    check_eq(make_ro(l3bad), 0, "bad L3 read-only");
    check_eq(mmuext1(MMUEXT_PIN_L3_TABLE, va_to_mfn(l3bad), 0), -XEN_EINVAL,
             "pin of an L3 without slot 3");
    check_eq(mmuext1(MMUEXT_NEW_BASEPTR, va_to_mfn(l3bad), 0), -XEN_EINVAL,
             "NEW_BASEPTR to an L3 without slot 3");

    /* Commands a 32-bit guest gets special answers to. */
    check_eq(mmuext1(MMUEXT_PIN_L4_TABLE, l1mfn, 0), 0, "PIN_L4 ignored");
    check_eq(mmuext1(MMUEXT_NEW_USER_BASEPTR, 0, 0), -XEN_EINVAL, "NEW_USER_BASEPTR");
    check_eq(mmuext1(MMUEXT_MARK_SUPER, 0, 0), -XEN_EOPNOTSUPP, "MARK_SUPER");
    check_eq(mmuext1(MMUEXT_UNMARK_SUPER, 0, 0), -XEN_EOPNOTSUPP, "UNMARK_SUPER");
    check_eq(mmuext1(14, 0, 0), -XEN_ENOSYS, "command 14");
    check_eq(mmuext1(21, 0, 0), -XEN_ENOSYS, "command 21");
    check_eq(mmuext1(MMUEXT_FLUSH_CACHE, 0, 0), -XEN_EACCES, "FLUSH_CACHE");
    check_eq(mmuext1(MMUEXT_FLUSH_CACHE_GLOBAL, 0, 0), -XEN_EINVAL, "FLUSH_CACHE_GLOBAL");
    check_eq(mmuext1(MMUEXT_TLB_FLUSH_LOCAL, 0, 0), 0, "TLB_FLUSH_LOCAL");
    check_eq(mmuext1(MMUEXT_INVLPG_LOCAL, (uint32_t)page_a, 0), 0, "INVLPG_LOCAL");
    check_eq(mmuext1(MMUEXT_TLB_FLUSH_ALL, 0, 0), 0, "TLB_FLUSH_ALL");
    check_eq(mmuext1(MMUEXT_INVLPG_ALL, (uint32_t)page_a, 0), 0, "INVLPG_ALL");
    static uint32_t vmask = 1;
    check_eq(mmuext1(MMUEXT_TLB_FLUSH_MULTI, 0, (uint32_t)&vmask), 0, "TLB_FLUSH_MULTI");
    check_eq(mmuext1(MMUEXT_INVLPG_MULTI, (uint32_t)page_a, (uint32_t)&vmask), 0, "INVLPG_MULTI");
    check_eq(mmuext1(MMUEXT_TLB_FLUSH_MULTI, 0, 0x10), -XEN_EINVAL,
             "TLB_FLUSH_MULTI with an unreadable mask");

    /* CLEAR_PAGE and COPY_PAGE on data pages; not on a page table. */
    for (i = 0; i < 4096; i++)
        page_a[i] = (char)i;
    check_eq(mmuext1(MMUEXT_COPY_PAGE, va_to_mfn(page_b), va_to_mfn(page_a)), 0, "COPY_PAGE");
    for (i = 0; i < 4096; i++)
        if (page_b[i] != (char)i)
            fail("COPY_PAGE content");
    check_eq(mmuext1(MMUEXT_CLEAR_PAGE, va_to_mfn(page_a), 0), 0, "CLEAR_PAGE");
    for (i = 0; i < 4096; i++)
        if (page_a[i])
            fail("CLEAR_PAGE content");
    check_eq(mmuext1(MMUEXT_PIN_L1_TABLE, l1mfn, 0), 0, "pin L1 again");
    check_eq(mmuext1(MMUEXT_CLEAR_PAGE, l1mfn, 0), -XEN_EINVAL, "CLEAR_PAGE of a pinned L1");
    check_eq(mmuext1(MMUEXT_COPY_PAGE, l1mfn, va_to_mfn(page_a)), -XEN_EINVAL,
             "COPY_PAGE onto a pinned L1");
    check_eq(mmuext1(MMUEXT_COPY_PAGE, va_to_mfn(page_b), l1mfn), 0, "COPY_PAGE from an L1");
    check_eq(*(uint32_t *)(page_b + 5 * 8), (hi << 12) | PTE_RW, "copied L1 content");
    check_eq(mmuext1(MMUEXT_CLEAR_PAGE, 0xFFFFFF0u, 0), -XEN_EINVAL, "CLEAR_PAGE not ours");

    /* A batch stopping at its second op: done = 1. */
    {
        struct mmuext_op ops[3] = {
            { MMUEXT_UNPIN_TABLE, l1mfn, 0 },
            { MMUEXT_UNPIN_TABLE, l1mfn, 0 },
            { MMUEXT_PIN_L1_TABLE, l1mfn, 0 },
        };
        unsigned done = 99;
        check_eq(HYPERVISOR_mmuext_op(ops, 3, &done, DOMID_SELF), -XEN_EINVAL, "batch");
        check_eq(done, 1, "batch done");
        check_eq(mmuext1(MMUEXT_UNPIN_TABLE, l1mfn, 0), -XEN_EINVAL, "third op not run");
        check_eq(HYPERVISOR_mmuext_op(ops, 1, 0, 0x7FEF), -XEN_ESRCH, "unknown foreigndom");
    }
    pass();
}
