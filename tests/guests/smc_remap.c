/*
 * smc: self-modifying code as the CPU runs it for a PV guest (Xen does not interpose:
 * the guest's code runs natively, and the x86 architecture guarantees a store to an
 * instruction is seen by the next execution of it, even the very next instruction
 * (Intel SDM vol. 3 8.1.3). Overwriting an executed function and calling it again, an
 * immediate patched by the loop that executes it, the next instruction patched by the one
 * before it, code and data on one page, and a code page replaced under the same address by
 * update_va_mapping and mmu_update. (A write through a second mapping of the code's frame:
 * tests/guests/pending/smc_alias.c.)
 */
#define TEST_NAME "smc_remap"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-smc_remap");

/* mov $imm32, %eax; ret */
uint32_t patch_fn(void);
__asm__(".text\n .balign 16\n patch_fn:\n .byte 0xb8\n patch_imm: .long 1\n ret\n"
        " .fill 32, 1, 0x90\n");
extern uint8_t patch_imm[];

/* The loop adds its own immediate, then increments it: 1 + 2 + ... + n. */
uint32_t smc_loop(uint32_t n);
__asm__(".text\n smc_loop:\n movl 4(%esp), %ecx\n xorl %eax, %eax\n"
        "1: .byte 0x05\n loop_imm: .long 1\n"   /* add $imm32, %eax */
        " incl loop_imm\n"
        " loop 1b\n"
        " movl $1, loop_imm\n"
        " ret\n");

/* Patches the instruction right after the store. */
uint32_t next_insn(void);
__asm__(".text\n next_insn:\n"
        " movl $0x2a, 2f + 1\n"
        "2: movl $0, %eax\n"
        " movl $0, 2b + 1\n"
        " ret\n");

/* Code and data on the same page: the loop stores to a counter next to it. */
uint32_t same_page(void);
__asm__(".text\n .balign 4096\n same_page:\n movl $1000, %ecx\n"
        "1: incl sp_counter\n loop 1b\n movl sp_counter, %eax\n movl $0, sp_counter\n ret\n"
        " .balign 64\n sp_counter: .long 0\n .balign 4096\n");

static uint8_t exec_page[4096] PAGE_ALIGNED;
static uint8_t exec_page2[4096] PAGE_ALIGNED;

static void put_ret_imm(uint8_t *p, uint32_t v)
{
    p[0] = 0xb8;
    p[1] = v;
    p[2] = v >> 8;
    p[3] = v >> 16;
    p[4] = v >> 24;
    p[5] = 0xc3;
}

typedef uint32_t (*fn_t)(void);

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();

    /* An executed function overwritten: immediate, then whole new code. */
    check_eq(patch_fn(), 1, "patch_fn before");
    for (uint32_t i = 2; i < 50; i++) {
        *(volatile uint32_t *)patch_imm = i;
        if (patch_fn() != i)
            check_eq(patch_fn(), i, "patch_fn after patching the immediate");
    }
    {
        volatile uint8_t *p = (volatile uint8_t *)patch_fn;
        p[0] = 0x31; p[1] = 0xc0;        /* xor %eax, %eax */
        p[2] = 0x48;                     /* dec %eax */
        p[3] = 0xc3;                     /* ret */
    }
    check_eq(patch_fn(), -1, "patch_fn rewritten");

    check_eq(smc_loop(5), 15, "loop patching its own immediate");
    check_eq(smc_loop(100), 5050, "loop patching its own immediate (100)");
    check_eq(next_insn(), 0x2a, "next instruction patched");
    check_eq(next_insn(), 0x2a, "next instruction patched again");
    check_eq(same_page(), 1000, "code and data on one page");
    check_eq(same_page(), 1000, "code and data on one page again");

    /* Code copied into a data page runs; patched, it runs the new code. */
    put_ret_imm(exec_page, 0x1111);
    check_eq(((fn_t)exec_page)(), 0x1111, "code in a data page");
    put_ret_imm(exec_page, 0x2222);
    check_eq(((fn_t)exec_page)(), 0x2222, "data-page code patched");

    /* Another frame mapped at the same address: its code runs. */
    put_ret_imm(exec_page2, 0x4444);
    uint32_t mfn1 = va_to_mfn(exec_page), mfn2 = va_to_mfn(exec_page2);
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)exec_page, pte(mfn2, PTE_RW), UVMF_INVLPG),
             0, "remap exec_page");
    check_eq(((fn_t)exec_page)(), 0x4444, "code of the newly mapped frame");
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)exec_page, pte(mfn1, PTE_RW), UVMF_INVLPG),
             0, "map exec_page back");
    check_eq(((fn_t)exec_page)(), 0x2222, "original frame's code again");
    /* And with mmu_update on the L1 entry directly. */
    check_eq(mmu1(entry_maddr(l1e_of((uint32_t)exec_page)), pte(mfn2, PTE_RW)), 0,
             "mmu_update remap");
    check_eq(((fn_t)exec_page)(), 0x4444, "code after mmu_update remap");
    check_eq(mmu1(entry_maddr(l1e_of((uint32_t)exec_page)), pte(mfn1, PTE_RW)), 0,
             "mmu_update map back");
    check_eq(((fn_t)exec_page)(), 0x2222, "code after mmu_update map back");
    check_eq(fault_count, 0, "no faults");
    pass();
}
