/*
 * syscall: the cost of a user/kernel round trip under `xdbt run`. Ring 3 makes ROUNDS
 * `int $0x80` calls; the ring-1 handler counts them and returns with HYPERVISOR_iret, as
 * a PV Linux system call does. `cargo bench --bench pvboot` times the whole run.
 */
#define TEST_NAME "syscall"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-bench-syscall");

#define ROUNDS 200000

volatile uint32_t calls;
static uint8_t kstack[4096] __attribute__((aligned(16)));
volatile uint32_t user_data[1024] PAGE_ALIGNED;
static uint8_t ustack[4096] PAGE_ALIGNED;
volatile uint32_t saved_esp;

void trap_128(void);
__asm__(".text\n trap_128:\n"
        " incl %ss:calls\n" /* DS is the user's (null after the iret to ring 3) */
        " cmpl $" "200000" ", %ss:calls\n"
        " jae 1f\n"
        " jmp hypercall_page + 23*32\n" /* HYPERVISOR_iret back to ring 3 (EAX pushed) */
        "1: movl %ss:saved_esp, %esp\n jmp back_in_kernel\n");

/* HYPERVISOR_iret expects EAX on top of the frame: the user side pushes nothing, so the
 * handler above relies on the hypercall page's iret stub pushing it. */
void user_code(void);
__asm__(".section .text.user, \"ax\"\n .balign 4096\n user_code:\n"
        "1: int $0x80\n jmp 1b\n .balign 4096\n .text\n");

static void make_user(const void *va)
{
    uint64_t e = *l1e_of((uint32_t)va);
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)va, e | _PAGE_USER, UVMF_INVLPG), 0,
             "update_va_mapping with _PAGE_USER");
}

void guest_main(struct start_info *start)
{
    static struct trap_info table[] = {
        { 0x80, 3, FLAT_RING1_CS, (uint32_t)trap_128 },
        { 0, 0, 0, 0 },
    };
    si = start;
    check_eq(HYPERVISOR_set_trap_table(table), 0, "set_trap_table");
    check_eq(xen_hypercall3(__HYPERVISOR_stack_switch, FLAT_RING1_DS,
                            (long)(kstack + sizeof kstack), 0), 0, "stack_switch");
    make_user(user_code);
    make_user(ustack);
    __asm__ volatile("movl %%esp, saved_esp\n"
                     "pushl $0xe033\n pushl %0\n pushfl\n pushl $0xe02b\n pushl $user_code\n"
                     "iret\n"
                     ".globl back_in_kernel\n back_in_kernel:\n"
                     "movl $0xe021, %%eax\n movl %%eax, %%ds\n movl %%eax, %%es\n"
                     :: "r"(ustack + sizeof ustack) : "eax", "memory");
    check_eq(calls, ROUNDS, "round trips");
    pass();
}
