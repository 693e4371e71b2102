/*
 * update_va_mapping (Xen: __do_update_va_mapping, xen/arch/x86/mm.c): remap a page of ours
 * to another frame and back, the flush flags (including a vCPU mask pointer), unmapping
 * then touching the page (#PF with vcpu_info.arch.cr2 and the error code), addresses with
 * no L1 or in the hypervisor area (-EINVAL), refused entries, and the _otherdomain form.
 */
#define TEST_NAME "update_va"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-update_va");

static char scratch[4096] PAGE_ALIGNED;

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();
    map_shared_info();

    uint32_t va = (uint32_t)scratch;
    uint32_t own = va_to_mfn(scratch);
    uint32_t hi_pfn = si->nr_pages - 2;
    uint32_t hi = pfn_to_mfn(hi_pfn);
    volatile uint32_t *p = (volatile uint32_t *)scratch;

    *p = 0xaaaa5555;
    check_eq(HYPERVISOR_update_va_mapping(va, pte(hi, PTE_RW), UVMF_INVLPG), 0, "map other frame");
    *p = 0x600df00d;
    check_eq(HYPERVISOR_update_va_mapping(va, pte(own, PTE_RW), UVMF_TLB_FLUSH), 0, "map back");
    check_eq(*p, 0xaaaa5555, "own frame content");
    check_eq(HYPERVISOR_update_va_mapping(va, pte(hi, PTE_RW), UVMF_NONE), 0, "UVMF_NONE");
    check_eq(mmuext1(MMUEXT_INVLPG_LOCAL, va, 0), 0, "INVLPG_LOCAL");
    check_eq(*p, 0x600df00d, "other frame content");
    check_eq(HYPERVISOR_update_va_mapping(va, pte(own, PTE_RW), UVMF_INVLPG | UVMF_ALL), 0,
             "UVMF_INVLPG|UVMF_ALL");
    check_eq(*p, 0xaaaa5555, "own frame again");

    /* A vCPU bitmap pointer in the flags (flags & ~3 is neither LOCAL nor ALL). */
    static uint32_t vcpumask[4] __attribute__((aligned(16))) = { 1 };
    check_eq(HYPERVISOR_update_va_mapping(va, pte(own, PTE_RW), UVMF_INVLPG | (uint32_t)vcpumask),
             0, "flush with a vCPU mask");
    check_eq(HYPERVISOR_update_va_mapping(va, pte(own, PTE_RW), UVMF_TLB_FLUSH | 0x10), -XEN_EFAULT,
             "flush with an unreadable vCPU mask");

    /* Unmapped: a read and a write fault with cr2 = the address. */
    check_eq(HYPERVISOR_update_va_mapping(va, 0, UVMF_INVLPG), 0, "unmap");
    fault_count = 0;
    probe_read(va + 0x123);
    check_eq(fault_count, 1, "read of unmapped page faults");
    check_eq(fault_vec, 14, "vector of read fault");
    check_eq(fault_err, 0, "error code of read fault");
    check_eq(shinfo->vcpu_info[0].cr2, va + 0x123, "cr2 of read fault");
    probe_write(va + 0xffc, 1);
    check_eq(fault_count, 2, "write to unmapped page faults");
    check_eq(fault_err, 2, "error code of write fault");
    check_eq(shinfo->vcpu_info[0].cr2, va + 0xffc, "cr2 of write fault");
    /* Read-only: a write is a protection fault. */
    check_eq(HYPERVISOR_update_va_mapping(va, pte(own, PTE_RO), UVMF_INVLPG), 0, "map read-only");
    check_eq(*p, 0xaaaa5555, "read-only read");
    probe_write(va + 8, 1);
    check_eq(fault_count, 3, "write to read-only page faults");
    check_eq(fault_err, 3, "error code of protection fault");
    check_eq(shinfo->vcpu_info[0].cr2, va + 8, "cr2 of protection fault");
    check_eq(HYPERVISOR_update_va_mapping(va, pte(own, PTE_RW), UVMF_INVLPG), 0, "map RW again");
    *p = 1;

    /* Addresses Xen refuses: hypervisor area, no L1 table, and bad entries. */
    check_eq(HYPERVISOR_update_va_mapping(HYPERVISOR_VIRT_START, pte(own, PTE_RO), UVMF_INVLPG),
             -XEN_EINVAL, "va at HYPERVISOR_VIRT_START");
    check_eq(HYPERVISOR_update_va_mapping(0xFFFFF000u, pte(own, PTE_RO), UVMF_INVLPG),
             -XEN_EINVAL, "va at the top of the address space");
    check_eq(HYPERVISOR_update_va_mapping(0x40000000u, pte(own, PTE_RO), UVMF_INVLPG),
             -XEN_EINVAL, "va with no L1 table");
    check_eq(HYPERVISOR_update_va_mapping(va, pte(own, PTE_RW | _PAGE_PCD), UVMF_INVLPG),
             -XEN_EINVAL, "PCD entry");
    uint32_t l1mfn = va_to_mfn(l1e_of(va));
    check_eq(HYPERVISOR_update_va_mapping(va, pte(l1mfn, PTE_RW), UVMF_INVLPG), -XEN_EBUSY,
             "writable mapping of an L1");
    check_eq(*p, 1, "mapping unchanged after refusals");

    /* update_va_mapping_otherdomain: DOMID_SELF works, an unknown domain is -ESRCH. */
    check_eq(xen_hypercall5(__HYPERVISOR_update_va_mapping_otherdomain, va,
                            (uint32_t)pte(hi, PTE_RW), 0, UVMF_INVLPG, DOMID_SELF),
             0, "otherdomain DOMID_SELF");
    check_eq(*p, 0x600df00d, "otherdomain mapping took effect");
    check_eq(xen_hypercall5(__HYPERVISOR_update_va_mapping_otherdomain, va,
                            (uint32_t)pte(own, PTE_RW), 0, UVMF_INVLPG, 0x7FEF),
             -XEN_ESRCH, "otherdomain unknown domain");
    check_eq(HYPERVISOR_update_va_mapping(va, pte(own, PTE_RW), UVMF_INVLPG), 0, "restore");
    check_eq(*p, 1, "restored");
    pass();
}
