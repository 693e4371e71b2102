/*
 * int82_user: `int $n` from ring 3 follows xen/arch/x86/traps.c do_general_protection:
 * Xen's IDT gates are DPL 0 (DPL 1 for the 0x82 hypercall gate, pv_trap_init), the #GP
 * they raise carries the IDT bit, and the guest's own trap-table DPL decides
 * (permit_softint): a DPL-3 guest entry for 0x82 is delivered as a software interrupt
 * (EIP past the instruction), a DPL-1 one is #GP((0x82 << 3) | 2) to the guest.
 */
#define TEST_NAME "int82_user"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-int82_user");

static uint8_t ustack[4096] UDATA __attribute__((aligned(4096)));
#define USTACK_TOP ((uint32_t)(ustack + sizeof ustack))

void u_int82(void);
__asm__(".section .utext,\"ax\"\n u_int82:\n"
        " movl $0xe033, %ecx\n movl %ecx, %ds\n movl %ecx, %es\n"
        " int $0x82\n int $0x85\n .previous\n");

volatile uint32_t int82_hits;
void trap_int82(void);
__asm__(".text\n trap_int82:\n incl int82_hits\n jmp hypercall_page + 23*32\n");

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();
    user_pages_setup();

    /* Guest entry for 0x82 with DPL 1: ring 3 gets #GP((0x82 << 3) | 2). */
    struct trap_info t1[] = { { 0x82, 1, FLAT_RING1_CS, (uint32_t)trap_int82 }, { 0, 0, 0, 0 } };
    check_eq(HYPERVISOR_set_trap_table(t1), 0, "set_trap_table 0x82 DPL 1");
    fault_count = 0;
    fault_skip = 2;
    run_user(u_int82, USTACK_TOP);
    check_eq(fault_count, 1, "DPL 1: #GP");
    check_eq(fault_err, (0x82 << 3) | 2, "DPL 1: error code");
    check_eq(int82_hits, 0, "DPL 1: handler not entered");

    /* DPL 3: delivered to the guest's handler, no #GP. */
    struct trap_info t3[] = { { 0x82, 3, FLAT_RING1_CS, (uint32_t)trap_int82 }, { 0, 0, 0, 0 } };
    check_eq(HYPERVISOR_set_trap_table(t3), 0, "set_trap_table 0x82 DPL 3");
    fault_count = 0;
    run_user(u_int82, USTACK_TOP);
    check_eq(fault_count, 0, "DPL 3: no #GP");
    check_eq(int82_hits, 1, "DPL 3: handler entered from ring 3");

    /* The hypercall path from ring 1 is unaffected. */
    check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_version, 0, 0) >> 16, 4,
             "hypercalls still work");
    pass();
}
