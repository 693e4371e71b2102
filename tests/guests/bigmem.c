/*
 * bigmem: a 256 MiB domain (tests/guests/bigmem.args): start_info.nr_pages says so, and
 * every page of the p2m can be mapped (update_va_mapping at a scratch address), written and
 * read back, with the M2P consistent for each (m2p[p2m[pfn]] == pfn). Pages the guest
 * itself lives in are read only.
 */
#define TEST_NAME "bigmem"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-bigmem");

#define SCRATCH_VA 0xE0000000u /* under L3 slot 3, whose L2 the boot tables have */

static uint8_t scratch_l1_holder[4096] PAGE_ALIGNED;

void guest_main(struct start_info *start)
{
    si = start;
    check_eq(si->nr_pages, 256 * 256, "nr_pages of 256 MiB");
    uint32_t *p2m = (uint32_t *)si->mfn_list;
    /* A page table for the scratch address: an L1 hooked under the current L2. */
    uint64_t l3e = cur_l3()[SCRATCH_VA >> 30];
    uint64_t *l2 = mfn_to_va((uint32_t)((l3e & PTE_ADDR_MASK) >> 12));
    uint64_t *l2e = &l2[(SCRATCH_VA >> 21) & 511];
    check((*l2e & _PAGE_PRESENT) == 0, "scratch area already mapped");
    for (unsigned i = 0; i < 4096; i++)
        scratch_l1_holder[i] = 0;
    check_eq(make_ro(scratch_l1_holder), 0, "L1 page read-only");
    check_eq(mmuext1(MMUEXT_PIN_L1_TABLE, va_to_mfn(scratch_l1_holder), 0), 0, "pin L1");
    check_eq(mmu1(entry_maddr(l2e), pte(va_to_mfn(scratch_l1_holder), PTE_RW | _PAGE_USER)), 0,
             "hook the L1");
    /* The boot mapping covers the kernel: frames from there on are free for us. */
    uint32_t first_free = (si->pt_base - VIRT_BASE) / 4096 + si->nr_pt_frames + 512;
    unsigned written = 0;
    for (uint32_t pfn = 0; pfn < si->nr_pages; pfn++) {
        uint32_t mfn = p2m[pfn];
        check_eq(m2p()[mfn], pfn, "m2p[p2m[pfn]]");
        if (pfn < first_free || (pfn & 15))
            continue;
        check_eq(HYPERVISOR_update_va_mapping(SCRATCH_VA, pte(mfn, PTE_RW), UVMF_INVLPG), 0,
                 "map a frame");
        volatile uint32_t *w = (volatile uint32_t *)SCRATCH_VA;
        w[pfn & 1023] = pfn ^ 0x5a5a5a5a;
        check_eq(w[pfn & 1023], pfn ^ 0x5a5a5a5a, "read back");
        written++;
    }
    check(written > 3500, "wrote across the whole domain");
    pass();
}
