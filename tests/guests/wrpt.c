/*
 * wrpt: writable page tables (VMASST_TYPE_writable_pagetables). With the assist on, a
 * ring-1 write to a read-only mapping of a live L1 table is emulated and validated
 * (xen/arch/x86/traps.c fixup_page_fault -> pv/ro-page-fault.c pv_ro_page_fault,
 * ptwr_do_page_fault, ptwr_emulated_update: get_page_from_l1e on the new entry). A valid
 * entry takes effect; an invalid one leaves the fault unfixed, so the guest gets the #PF
 * (error code P|W, cr2 the written address). (Xen's exception for a 4-byte write to the
 * upper half of a PAE entry: tests/guests/pending/wrpt_upper.c.) cmpxchg8b goes through
 * ptwr_emulated_cmpxchg. Writes to L2 tables, writes from ring 3, and any write with the
 * assist off are plain #PFs.
 */
#define TEST_NAME "wrpt"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-wrpt");

static char scratch[4096] PAGE_ALIGNED;
static char marker_page[4096] PAGE_ALIGNED;
static uint8_t ustack[4096] UDATA __attribute__((aligned(4096)));
#define USTACK_TOP ((uint32_t)(ustack + sizeof ustack))
volatile uint32_t u_target UDATA, u_value UDATA;
void u_store(void);
__asm__(".section .utext,\"ax\"\n u_store:\n"
        " movl $0xe033, %ecx\n movl %ecx, %ds\n movl %ecx, %es\n"
        " movl u_target, %ecx\n movl u_value, %eax\n .byte 0x89, 0x01\n int $0x85\n"
        ".previous\n");

static void invlpg(void *va)
{
    check_eq(mmuext1(MMUEXT_INVLPG_LOCAL, (uint32_t)va, 0), 0, "invlpg");
}

/* A 4-byte store (2-byte instruction, so a fault handler can skip it). */
static void store32(volatile uint32_t *p, uint32_t v)
{
    probe_write((uint32_t)p, v);
}

static int cmpxchg8b(volatile uint64_t *p, uint64_t *old, uint64_t nv)
{
    uint32_t lo = (uint32_t)*old, hi = (uint32_t)(*old >> 32);
    uint8_t ok;
    __asm__ volatile ("lock cmpxchg8b (%%esi)\n sete %0"
                      : "=q" (ok), "+a" (lo), "+d" (hi)
                      : "S" (p), "b" ((uint32_t)nv), "c" ((uint32_t)(nv >> 32))
                      : "memory", "cc");
    *old = ((uint64_t)hi << 32) | lo;
    return ok;
}

void guest_main(struct start_info *start)
{
    si = start;
    map_shared_info();
    install_fault_handlers();
    user_pages_setup();

    volatile uint64_t *l1e = l1e_of((uint32_t)scratch);
    volatile uint32_t *l1e_lo = (volatile uint32_t *)l1e;
    volatile uint32_t *l1e_hi = l1e_lo + 1;
    uint32_t own_mfn = va_to_mfn(scratch);
    uint32_t marker_mfn = va_to_mfn(marker_page);
    *(volatile uint32_t *)scratch = 0x11111111;
    *(volatile uint32_t *)marker_page = 0x22222222;
    check_eq(mmu1(entry_maddr((void *)l1e), pte(own_mfn, PTE_RW)), 0, "normalise the entry");
    const uint32_t own_lo = (own_mfn << 12) | PTE_RW;
    check_eq(*l1e_lo, own_lo, "L1 entry");

    /* Assist off: a write to the L1 is a #PF (present, write). */
    fault_count = 0;
    fault_skip = 2;
    store32(l1e_lo, (marker_mfn << 12) | PTE_RW);
    check_eq(fault_count, 1, "write to an L1 without the assist faults");
    check_eq(fault_vec, 14, "without the assist: #PF");
    check_eq(fault_err, 3, "without the assist: error code P|W");
    check_eq(fault_cr2, (uint32_t)l1e_lo, "without the assist: cr2");
    check_eq(*l1e_lo, own_lo, "entry unchanged");

    check_eq(HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_writable_pagetables), 0,
             "enable writable_pagetables");

    /* A valid entry: emulated, takes effect. */
    fault_count = 0;
    store32(l1e_lo, (marker_mfn << 12) | PTE_RW);
    check_eq(fault_count, 0, "valid L1 write not faulted");
    check_eq(*l1e_lo, (marker_mfn << 12) | PTE_RW, "valid L1 write stored");
    invlpg(scratch);
    check_eq(*(volatile uint32_t *)scratch, 0x22222222, "new mapping in effect");
    /* A plain C 64-bit store (two 4-byte writes, low half first) back to our frame. */
    *l1e = pte(own_mfn, PTE_RW);
    invlpg(scratch);
    check_eq(fault_count, 0, "64-bit store not faulted");
    check_eq(*(volatile uint32_t *)scratch, 0x11111111, "mapping back");

    /* Invalid entries: the #PF reaches us, the entry is unchanged. */
    store32(l1e_lo, (own_mfn << 12) | PTE_RW | _PAGE_PCD);
    check_eq(fault_count, 1, "PCD entry faults");
    check_eq(fault_vec, 14, "PCD entry: #PF");
    check_eq(fault_err, 3, "PCD entry: error code");
    check_eq(fault_cr2, (uint32_t)l1e_lo, "PCD entry: cr2");
    check_eq(*l1e_lo, own_lo, "PCD entry not stored");
    /* A writable mapping of a page-table frame (the L1 itself). */
    uint32_t l1_mfn = va_to_mfn((void *)l1e);
    store32(l1e_lo, (l1_mfn << 12) | PTE_RW);
    check_eq(fault_count, 2, "writable mapping of an L1 faults");
    check_eq(fault_err, 3, "writable L1 mapping: error code");
    check_eq(*l1e_lo, own_lo, "writable L1 mapping not stored");
    /* Read-only mapping of it is fine. */
    store32(l1e_lo, (l1_mfn << 12) | PTE_RO);
    check_eq(fault_count, 2, "read-only mapping of an L1 accepted");
    invlpg(scratch);
    check_eq(*(volatile uint32_t *)(scratch + ((uint32_t)l1e_lo & 0xfff)),
             (l1_mfn << 12) | PTE_RO, "L1 read through its read-only mapping");
    store32(l1e_lo, own_lo);
    invlpg(scratch);
    check_eq(fault_count, 2, "restored");

    /* cmpxchg8b: success and failure. */
    uint64_t old = pte(own_mfn, 0) | own_lo;
    check(cmpxchg8b(l1e, &old, pte(marker_mfn, PTE_RW)), "cmpxchg8b with the right old value");
    invlpg(scratch);
    check_eq(*(volatile uint32_t *)scratch, 0x22222222, "cmpxchg8b mapping in effect");
    old = pte(own_mfn, PTE_RW);
    check(!cmpxchg8b(l1e, &old, pte(own_mfn, PTE_RO)), "cmpxchg8b with a stale old value fails");
    check_eq((uint32_t)old, (marker_mfn << 12) | PTE_RW, "cmpxchg8b returns the current value");
    check(cmpxchg8b(l1e, &old, pte(own_mfn, PTE_RW)), "cmpxchg8b back");
    invlpg(scratch);
    check_eq(*(volatile uint32_t *)scratch, 0x11111111, "cmpxchg8b back in effect");
    check_eq(fault_count, 2, "no faults from cmpxchg8b");

    /* An L2 entry: not emulated, #PF. */
    uint64_t l3e = cur_l3()[3];
    volatile uint64_t *l2 = mfn_to_va((uint32_t)((l3e & PTE_ADDR_MASK) >> 12));
    volatile uint32_t *l2e_lo = (volatile uint32_t *)&l2[0];
    uint32_t l2_old = *l2e_lo;
    store32(l2e_lo, l2_old);
    check_eq(fault_count, 3, "write to an L2 faults even with the assist");
    check_eq(fault_cr2, (uint32_t)l2e_lo, "L2 write cr2");
    check_eq(*l2e_lo, l2_old, "L2 unchanged");

    /* From ring 3: no emulation (guest_kernel_mode), #PF with the user bit. */
    u_target = (uint32_t)l1e_lo;
    u_value = (marker_mfn << 12) | PTE_RW;
    run_user(u_store, USTACK_TOP);
    check_eq(fault_count, 4, "ring-3 write to an L1 faults");
    check_eq(fault_err, 7, "ring-3 L1 write: error code P|W|U");
    check_eq(*l1e_lo, own_lo, "ring-3 L1 write not stored");

    /* Assist off again: plain #PF. */
    check_eq(HYPERVISOR_vm_assist(VMASST_CMD_disable, VMASST_TYPE_writable_pagetables), 0,
             "disable writable_pagetables");
    store32(l1e_lo, (marker_mfn << 12) | PTE_RW);
    check_eq(fault_count, 5, "assist disabled: faults again");
    check_eq(*l1e_lo, own_lo, "assist disabled: not stored");
    pass();
}
