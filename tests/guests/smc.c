/*
 * smc: self-modifying code, which x86 guarantees works without any flush: a function
 * already run (and translated) is patched and runs its new code at the next call; a loop
 * patches the immediate of an instruction it is about to execute again; code written into
 * a data buffer runs. (The initial mapping is writable and executable: libxc's L1_PROT.)
 */
#define TEST_NAME "smc"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-smc");

int patchable(void);
extern uint8_t patchable_imm[];
__asm__(".text\n patchable:\n .byte 0xb8\n patchable_imm: .long 1\n ret\n");

/* A loop that rewrites the immediate of `add $imm, %eax` inside its own body. */
int self_patching_loop(void);
extern uint8_t loop_imm[];
__asm__(".text\n self_patching_loop:\n"
        " xor %eax, %eax\n mov $4, %ecx\n"
        "1: .byte 0x05\n loop_imm: .long 1\n" /* add $imm32, %eax */
        " addl $10, loop_imm\n"                 /* the next round adds 10 more */
        " loop 1b\n ret\n");

static uint8_t buffer[64] __attribute__((aligned(16)));

void guest_main(struct start_info *start)
{
    si = start;
    check_eq(patchable(), 1, "before the patch");
    for (int i = 0; i < 1000; i++)
        patchable(); /* hot: certainly translated and chained */
    *(volatile uint32_t *)patchable_imm = 42;
    check_eq(patchable(), 42, "after the patch");

    /* 1 + 11 + 21 + 31 */
    check_eq(self_patching_loop(), 64, "loop patching its own immediate");

    /* mov $0x1234, %eax; ret */
    static const uint8_t code[] = { 0xb8, 0x34, 0x12, 0, 0, 0xc3 };
    for (unsigned i = 0; i < sizeof code; i++)
        buffer[i] = code[i];
    check_eq(((int (*)(void))buffer)(), 0x1234, "code written into a buffer");
    buffer[1] = 0x78;
    buffer[2] = 0x56;
    check_eq(((int (*)(void))buffer)(), 0x5678, "the buffer rewritten");
    pass();
}
