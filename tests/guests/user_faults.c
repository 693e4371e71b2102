/*
 * user_faults: faults raised in ring 3 reach the ring-1 kernel with Xen's frame (SS:ESP of
 * ring 3 pushed, on the stack_switch stack): a privileged instruction (cli) and `int $0x81`
 * through a DPL-1 gate give #GP (the latter with error code (0x81 << 3) | 2), a user read of
 * an unmapped page gives #PF with the user bit (4), and `int $0x80` through a DPL-3 gate
 * is a system call. Each handler checks the frame, then returns to the next user
 * instruction with HYPERVISOR_iret.
 */
#define TEST_NAME "user_faults"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-user-faults");

static uint8_t kstack[4096] __attribute__((aligned(16)));
static uint8_t ustack[4096] PAGE_ALIGNED;
volatile uint32_t saved_esp;
/* Per vector: hits, last error code, last frame CS and SS. Kernel data, reached via %ss. */
volatile uint32_t hits[256], errs[256], fcs[256], fss[256];

/* Handlers: record the error code, hit count and frame (CS, SS), then resume the user
 * after the faulting instruction with HYPERVISOR_iret. DS is the user's: kernel data is
 * reached through %ss. The #GP handler skips `hits` bytes: the first #GP is the 1-byte
 * cli, the second the 2-byte int $0x81. The #PF handler skips the 6-byte mov. */
void uh_13(void);
__asm__(".text\n uh_13:\n popl %ss:errs + 4*13\n incl %ss:hits + 4*13\n"
        " pushl %eax\n"
        " movl 8(%esp), %eax\n movl %eax, %ss:fcs + 4*13\n"
        " movl 20(%esp), %eax\n movl %eax, %ss:fss + 4*13\n"
        " movl %ss:hits + 4*13, %eax\n addl %eax, 4(%esp)\n"
        " popl %eax\n jmp hypercall_page + 23*32\n");
void uh_14(void);
__asm__(".text\n uh_14:\n popl %ss:errs + 4*14\n incl %ss:hits + 4*14\n"
        " addl $6, 0(%esp)\n jmp hypercall_page + 23*32\n");

/* int $0x80: the user is done; back to the kernel stack saved before the iret. */
void uh_128(void);
__asm__(".text\n uh_128:\n incl %ss:hits + 4*128\n"
        " movl %ss:saved_esp, %esp\n jmp back_in_kernel\n");

void user_code(void);
__asm__(".section .text.user, \"ax\"\n .balign 4096\n user_code:\n"
        /* The iret to ring 3 nulled the ring-1 data selectors. */
        " movl $0xe033, %eax\n movl %eax, %ds\n movl %eax, %es\n"
        " cli\n"                      /* #GP(0): EIP stays, the handler adds 1 */
        " int $0x81\n"                /* #GP(0x80a): the handler adds 2 */
        " movl 0x10000000, %ecx\n"    /* #PF: the handler adds 6 */
        " int $0x80\n"
        "1: jmp 1b\n .balign 4096\n .text\n");

void guest_main(struct start_info *start)
{
    static struct trap_info table[] = {
        { 13, 1, FLAT_RING1_CS, 0 },
        { 14, 1, FLAT_RING1_CS, 0 },
        { 0x80, 3, FLAT_RING1_CS, 0 },
        { 0x81, 1, FLAT_RING1_CS, 0 },
        { 0, 0, 0, 0 },
    };
    si = start;
    table[0].address = (uint32_t)uh_13;
    table[1].address = (uint32_t)uh_14;
    table[2].address = (uint32_t)uh_128;
    table[3].address = (uint32_t)uh_128;
    check_eq(HYPERVISOR_set_trap_table(table), 0, "set_trap_table");
    check_eq(xen_hypercall3(__HYPERVISOR_stack_switch, FLAT_RING1_DS,
                            (long)(kstack + sizeof kstack), 0), 0, "stack_switch");
    uint64_t e = *l1e_of((uint32_t)user_code);
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)user_code, e | _PAGE_USER, UVMF_INVLPG),
             0, "user code page");
    e = *l1e_of((uint32_t)ustack);
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)ustack, e | _PAGE_USER, UVMF_INVLPG), 0,
             "user stack page");
    __asm__ volatile("movl %%esp, saved_esp\n"
                     "pushl $0xe033\n pushl %0\n pushfl\n pushl $0xe02b\n pushl $user_code\n"
                     "iret\n"
                     ".globl back_in_kernel\n back_in_kernel:\n"
                     "movl $0xe021, %%eax\n movl %%eax, %%ds\n movl %%eax, %%es\n"
                     :: "r"(ustack + sizeof ustack) : "eax", "memory");
    check_eq(hits[13], 2, "two #GP from ring 3");
    check_eq(errs[13], (0x81 << 3) | 2, "#GP error code of int $0x81 through a DPL-1 gate");
    check_eq(fcs[13] & 0xffff, FLAT_RING3_CS, "#GP frame CS");
    check_eq(fss[13] & 0xffff, FLAT_RING3_DS, "#GP frame SS (ring 3's)");
    check_eq(hits[14], 1, "#PF from ring 3");
    check_eq(errs[14], 4, "#PF error code: user, read, not present");
    check_eq(hits[128], 1, "int $0x80 system call");
    pass();
}
