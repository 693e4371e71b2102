/*
 * m2p: the read-only machine-to-phys table at MACH2PHYS_VIRT_START (0xF5800000 for PAE
 * guests, arch-x86/xen-x86_32.h) agrees with the p2m list (start_info.mfn_list):
 * m2p[p2m[pfn]] == pfn for every page; it is read-only (a write is a #PF with the
 * protection bit); the page tables cannot map its frames writable nor can the guest
 * remap its virtual range (update_va_mapping there is -EINVAL).
 */
#define TEST_NAME "m2p"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-m2p");

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();
    uint32_t pfn;
    for (pfn = 0; pfn < si->nr_pages; pfn++)
        if (m2p()[pfn_to_mfn(pfn)] != pfn)
            fail("m2p[p2m[pfn]] != pfn");
    fault_count = 0;
    probe_write(MACH2PHYS_VIRT_START + 4 * pfn_to_mfn(1), 77);
    check_eq(fault_count, 1, "write to the M2P faults");
    check_eq(fault_vec, 14, "as a page fault");
    check_eq(fault_err & 3, 3, "protection fault on write");
    check_eq(m2p()[pfn_to_mfn(1)], 1, "M2P unchanged");
    check_eq(HYPERVISOR_update_va_mapping(MACH2PHYS_VIRT_START, 0, UVMF_INVLPG), -XEN_EINVAL,
             "update_va_mapping over the M2P");
    pass();
}
