/*
 * iret: a ring-1 kernel uses the native far transfers as on Xen: `iret` to ring 3 (user
 * mode) and back through `int $0x80` (the bounce frame then holds the ring-3 SS:ESP and the
 * kernel runs on the stack given to stack_switch), `iret` within ring 1, `lret` and `ljmp`
 * to the kernel code selector, and an `iret` to a ring-0 selector raising #GP(selector) as
 * the CPU does (ring 0 is Xen's). User mode reaches only pages whose PTEs have _PAGE_USER
 * (libxc's initial L1 entries do not: xg_dom_x86.c L1_PROT): the user code, data and stack
 * pages are made user-accessible with update_va_mapping, and a ring-3 read of a kernel
 * page raises #PF with the user bit in the error code.
 */
#define TEST_NAME "iret"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-iret");

#define RING1_CS 0xe019
#define RING1_DS 0xe021
#define RING3_CS 0xe02b
#define RING3_DS 0xe033

/* What the int $0x80 handler saw: the frame Xen builds coming from ring 3. */
volatile uint32_t frame[5], kernel_esp, gp_err, gp_seen, pf_err, pf_seen, saved_esp;
static uint8_t kstack[4096] __attribute__((aligned(16)));
/* The user's data (user_ran, the secret it must not read) and stack: pages of their own. */
volatile uint32_t user_data[1024] PAGE_ALIGNED;
#define user_ran (user_data[0])
static uint8_t ustack[4096] PAGE_ALIGNED;
volatile uint32_t kernel_secret = 0x5ec7e7;

/* int $0x80 from ring 3: record the frame (EIP, CS, EFLAGS, ESP, SS) and our stack, then
 * continue in the kernel at back_in_kernel on the boot stack saved in saved_esp. */
void trap_128(void);
__asm__(".text\n trap_128:\n"
        " movl %esp, kernel_esp\n"
        " movl 0(%esp), %eax\n movl %eax, frame\n"
        " movl 4(%esp), %eax\n movl %eax, frame+4\n"
        " movl 8(%esp), %eax\n movl %eax, frame+8\n"
        " movl 12(%esp), %eax\n movl %eax, frame+12\n"
        " movl 16(%esp), %eax\n movl %eax, frame+16\n"
        " movl saved_esp, %esp\n"
        " jmp back_in_kernel\n");

/* #GP: record the error code, step over the 1-byte iret. */
void trap_13(void);
__asm__(".text\n trap_13:\n"
        " popl gp_err\n"
        " incl gp_seen\n"
        " addl $1, 0(%esp)\n"
        " jmp hypercall_page + 23*32\n");

/* #PF from ring 3: record the error code, step over the 6-byte `movl kernel_secret, %eax`. */
void trap_14(void);
__asm__(".text\n trap_14:\n"
        " popl pf_err\n"
        " incl pf_seen\n"
        " addl $6, 0(%esp)\n"
        " jmp hypercall_page + 23*32\n");

/* The user program, on a page of its own. Returning to ring 3 nulled the ring-1 data
 * selectors, so it loads the user ones first. */
void user_code(void);
__asm__(".section .text.user, \"ax\"\n .balign 4096\n user_code:\n"
        " movl $0xe033, %eax\n movl %eax, %ds\n movl %eax, %es\n"
        " movl $0x1234, user_data\n"
        " movl kernel_secret, %ecx\n" /* 8b 0d moffs32: 6 bytes */
        " int $0x80\n"
        "1: jmp 1b\n"
        " .balign 4096\n .text\n");

static void make_user(const void *va)
{
    uint64_t e = *l1e_of((uint32_t)va);
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)va, e | _PAGE_USER, UVMF_INVLPG), 0,
             "update_va_mapping with _PAGE_USER");
}

void guest_main(struct start_info *start)
{
    static struct trap_info table[] = {
        { 13, 1, RING1_CS, (uint32_t)trap_13 },
        { 14, 1, RING1_CS, (uint32_t)trap_14 },
        { 0x80, 3, RING1_CS, (uint32_t)trap_128 },
        { 0, 0, 0, 0 },
    };
    uint32_t r;
    si = start;

    check_eq(HYPERVISOR_set_trap_table(table), 0, "set_trap_table");
    check_eq(xen_hypercall3(__HYPERVISOR_stack_switch, RING1_DS,
                            (long)(kstack + sizeof kstack), 0), 0, "stack_switch");

    /* iret within ring 1: EFLAGS.CF from the frame, same stack, same CS. */
    __asm__ volatile("pushfl\n orl $1, (%%esp)\n pushl $0xe019\n pushl $1f\n iret\n"
                     "1: setc %%al\n movzbl %%al, %0" : "=r"(r) :: "cc", "memory");
    check(r == 1, "iret within ring 1");

    /* lret and ljmp to the kernel code selector. */
    __asm__ volatile("pushl $0xe019\n pushl $1f\n lret\n 1: movl $7, %0" : "=r"(r) :: "memory");
    check(r == 7, "lret");
    __asm__ volatile("ljmp $0xe019, $1f\n 1: movl $9, %0" : "=r"(r) :: "memory");
    check(r == 9, "ljmp");

    /* iret to a ring-0 selector: #GP with the selector as error code. */
    __asm__ volatile("pushfl\n pushl $0xe008\n pushl $1f\n iret\n 1: addl $12, %%esp"
                     ::: "memory");
    check(gp_seen == 1 && gp_err == 0xe008, "iret to ring 0 is #GP(sel)");

    make_user(user_code);
    make_user((const void *)user_data);
    make_user(ustack);

    /* To ring 3 and back. */
    __asm__ volatile("movl %%esp, saved_esp\n"
                     "pushl $0xe033\n pushl %0\n pushfl\n pushl $0xe02b\n pushl $user_code\n"
                     "iret\n"
                     ".globl back_in_kernel\n back_in_kernel:\n"
                     "movl $0xe021, %%eax\n movl %%eax, %%ds\n movl %%eax, %%es\n"
                     :: "r"(ustack + sizeof ustack) : "eax", "memory");
    check(user_ran == 0x1234, "user code did not run");
    check(pf_seen == 1, "ring-3 read of a supervisor page did not fault");
    check_eq(pf_err, 0x5, "#PF error code: present | user, read");
    check((frame[1] & 0xffff) == RING3_CS, "frame CS is not ring 3");
    check(frame[3] == (uint32_t)(ustack + sizeof ustack), "frame ESP");
    check((frame[4] & 0xffff) == RING3_DS, "frame SS");
    check(kernel_esp == (uint32_t)(kstack + sizeof kstack) - 20, "kernel stack from stack_switch");
    __asm__ volatile("movl %%cs, %0" : "=r"(r));
    check((r & 3) == 1, "back in ring 1");
    pass();
}
