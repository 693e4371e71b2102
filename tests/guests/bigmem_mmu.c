/*
 * bigmem: a 256 MiB domain (bigmem.args: --memory 256). start_info.nr_pages and the
 * memory_op reservation answers match; every frame of the p2m can be mapped with
 * mmu_update (MMU_NORMAL_PT_UPDATE on one L1 entry) and is distinct RAM: a marker written
 * in each frame past the start-of-day region reads back in a second pass; the M2P
 * (read-only at MACH2PHYS_VIRT_START, xen/arch/x86/x86_64/mm.c) maps each mfn back to its
 * pfn.
 */
#define TEST_NAME "bigmem_mmu"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-bigmem_mmu");

static char window[4096] PAGE_ALIGNED;

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();
    uint32_t n = si->nr_pages;
    check_eq(n, 256 * 256, "nr_pages for 256 MiB");
    uint16_t self = DOMID_SELF;
    check_eq(HYPERVISOR_memory_op(XENMEM_current_reservation, &self), n, "current_reservation");
    check(HYPERVISOR_memory_op(XENMEM_maximum_reservation, &self) >= (long)n,
          "maximum_reservation");
    check(HYPERVISOR_memory_op(XENMEM_maximum_gpfn, &self) >= (long)n - 1, "maximum_gpfn");

    uint64_t ptr = entry_maddr(l1e_of((uint32_t)window));
    /* Frames below this are the kernel image, start_info, the tables, the stack. */
    uint32_t first_free = va_to_pfn((void *)si->pt_base) + si->nr_pt_frames + 128;
    check(first_free < n, "start-of-day region inside memory");
    volatile uint32_t *w = (volatile uint32_t *)window;

    for (uint32_t pfn = 0; pfn < n; pfn++) {
        uint32_t mfn = pfn_to_mfn(pfn);
        if (m2p()[mfn] != pfn) {
            xen_puts("pfn ");
            put_hex(pfn);
            xen_puts(": ");
            check_eq(m2p()[mfn], pfn, "M2P entry");
        }
        if (pfn < first_free)
            continue;
        long r = mmu1(ptr, pte(mfn, PTE_RW));
        if (r != 0)
            check_eq(r, 0, "map a frame");
        w[0] = pfn ^ 0x5a5a0000;
        w[1023] = ~pfn;
    }
    for (uint32_t pfn = first_free; pfn < n; pfn++) {
        long r = mmu1(ptr, pte(pfn_to_mfn(pfn), PTE_RO));
        if (r != 0)
            check_eq(r, 0, "map a frame read-only");
        if (w[0] != (pfn ^ 0x5a5a0000) || w[1023] != ~pfn) {
            xen_puts("pfn ");
            put_hex(pfn);
            xen_puts(": ");
            check_eq(w[0], pfn ^ 0x5a5a0000, "marker read back");
        }
    }
    check_eq(mmu1(ptr, pte(va_to_mfn(window), PTE_RW)), 0, "map window back");
    check_eq(fault_count, 0, "no faults");
    pass();
}
