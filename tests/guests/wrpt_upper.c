/*
 * wrpt_upper: with VMASST_TYPE_writable_pagetables, writing the upper half of a live L1
 * entry first (a frame above our memory) is accepted with the entry made not present; the
 * following low-half write completes it.
 */
#define TEST_NAME "wrpt_upper"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-wrpt_upper");

static char scratch[4096] PAGE_ALIGNED;

static void invlpg(void *va)
{
    check_eq(mmuext1(MMUEXT_INVLPG_LOCAL, (uint32_t)va, 0), 0, "invlpg");
}

static void store32(volatile uint32_t *p, uint32_t v)
{
    probe_write((uint32_t)p, v);
}

void guest_main(struct start_info *start)
{
    si = start;
    map_shared_info();
    install_fault_handlers();
    volatile uint64_t *l1e = l1e_of((uint32_t)scratch);
    volatile uint32_t *l1e_lo = (volatile uint32_t *)l1e;
    volatile uint32_t *l1e_hi = l1e_lo + 1;
    uint32_t own_mfn = va_to_mfn(scratch);
    check_eq(mmu1(entry_maddr((void *)l1e), pte(own_mfn, PTE_RW)), 0, "normalise the entry");
    const uint32_t own_lo = (own_mfn << 12) | PTE_RW;
    *(volatile uint32_t *)scratch = 0x11111111;
    check_eq(HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_writable_pagetables), 0,
             "enable writable_pagetables");
    fault_count = 0;
    fault_skip = 2;

    /* Upper half with a frame that is not ours: accepted with _PAGE_PRESENT cleared. */
    store32(l1e_hi, 0x1);
    check_eq(fault_count, 0, "upper-half write accepted");
    check_eq(*l1e_hi, 1, "upper half stored");
    check_eq(*l1e_lo, own_lo & ~_PAGE_PRESENT, "present bit zapped");
    invlpg(scratch);
    check_eq(probe_read((uint32_t)scratch), 0xdeadbeef, "zapped entry unmapped");
    check_eq(fault_count, 1, "access through the zapped entry faults");
    check_eq(fault_err, 0, "zapped entry: not-present read");
    /* Not-present entries are not validated: write low (still not present) then high. */
    store32(l1e_hi, 0);
    store32(l1e_lo, own_lo);
    check_eq(fault_count, 1, "entry rebuilt");
    invlpg(scratch);
    check_eq(*(volatile uint32_t *)scratch, 0x11111111, "entry rebuilt, mapped");

    pass();
}
