/*
 * sysenter: SYSENTER and SYSCALL from ring 3, as a 64-bit Xen 4.17 on an Intel host handles
 * them for a 32-bit PV guest (xen/arch/x86/x86_64/entry.S sysenter_entry, compat/entry.S
 * compat_sysenter and compat_create_bounce_frame). The CPU saves no EIP or ESP for
 * SYSENTER, so the frame Xen bounces holds EIP 0, CS 3, ESP 0, SS FLAT_COMPAT_USER_SS
 * (0xe033), and the registers are passed as they were. Without a CALLBACKTYPE_sysenter
 * callback it is #GP(0) to the trap table's handler (sysenter_gpf) from that frame; with
 * one, the callback runs, with upcalls masked if registered with CALLBACKF_mask_events.
 * syscall32 and sysenter callbacks cannot be unregistered (compat_unregister_guest_callback:
 * -EINVAL). SYSCALL in compatibility mode is #UD on Intel CPUs (and Xen hides it from
 * 32-bit PV guests on non-AMD hosts: cpu-policy.c), reflected to the guest at the SYSCALL.
 */
#define TEST_NAME "sysenter"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-sysenter");

#define RING1_CS 0xe019
#define RING1_DS 0xe021
#define RING3_CS 0xe02b
#define RING3_DS 0xe033

#define CALLBACKTYPE_syscall32 7
#define CALLBACKTYPE_sysenter  5
struct callback_unregister { uint16_t type, pad; };

volatile uint32_t frame[6], regs[2], saved_esp, gp_seen, se_seen, ud_seen, mask_seen;
static uint8_t kstack[4096] __attribute__((aligned(16)));
static uint8_t ustack[4096] PAGE_ALIGNED;

/* #GP: error code, EIP, CS, EFLAGS, ESP, SS. */
void trap_13(void);
__asm__(".text\n trap_13:\n"
        " movl %ecx, regs\n movl %edx, regs+4\n"
        " movl 0(%esp), %eax\n movl %eax, frame\n"
        " movl 4(%esp), %eax\n movl %eax, frame+4\n"
        " movl 8(%esp), %eax\n movl %eax, frame+8\n"
        " movl 12(%esp), %eax\n movl %eax, frame+12\n"
        " movl 16(%esp), %eax\n movl %eax, frame+16\n"
        " movl 20(%esp), %eax\n movl %eax, frame+20\n"
        " incl gp_seen\n"
        " movl saved_esp, %esp\n jmp back_in_kernel\n");

/* The sysenter callback: EIP, CS, EFLAGS, ESP, SS (no error code). */
void sysenter_cb(void);
__asm__(".text\n sysenter_cb:\n"
        " movl %ecx, regs\n movl %edx, regs+4\n"
        " movl 0(%esp), %eax\n movl %eax, frame\n"
        " movl 4(%esp), %eax\n movl %eax, frame+4\n"
        " movl 8(%esp), %eax\n movl %eax, frame+8\n"
        " movl 12(%esp), %eax\n movl %eax, frame+12\n"
        " movl 16(%esp), %eax\n movl %eax, frame+16\n"
        " incl se_seen\n"
        " movl saved_esp, %esp\n jmp back_in_kernel\n");

/* #UD: EIP, CS, EFLAGS, ESP, SS. */
void trap_6(void);
__asm__(".text\n trap_6:\n"
        " movl 0(%esp), %eax\n movl %eax, frame\n"
        " movl 4(%esp), %eax\n movl %eax, frame+4\n"
        " incl ud_seen\n"
        " movl saved_esp, %esp\n jmp back_in_kernel\n");

/* The user program, on a page of its own. Returning to ring 3 nulled the ring-1 data
 * selectors; the handlers need a usable DS, so it loads the user one. */
void user_sysenter(void);
void user_syscall(void);
void user_syscall_insn(void);
__asm__(".section .text.user, \"ax\"\n .balign 4096\n user_sysenter:\n"
        " movl $0xe033, %eax\n movl %eax, %ds\n movl %eax, %es\n"
        " movl $0x11111111, %ecx\n movl $0x22222222, %edx\n"
        " sysenter\n"
        "1: jmp 1b\n"
        " user_syscall:\n"
        " movl $0xe033, %eax\n movl %eax, %ds\n movl %eax, %es\n"
        " user_syscall_insn: syscall\n"
        "1: jmp 1b\n"
        " .balign 4096\n .text\n");

volatile uint32_t user_sp, user_ip;

/* Enter ring 3 at `entry`; the handlers come back to back_in_kernel on our stack. */
static __attribute__((noinline)) void to_user(void (*entry)(void))
{
    user_sp = (uint32_t)(ustack + sizeof ustack);
    user_ip = (uint32_t)entry;
    __asm__ volatile("movl %%esp, saved_esp\n"
                     "pushl $0xe033\n pushl user_sp\n pushfl\n pushl $0xe02b\n pushl user_ip\n"
                     "iret\n"
                     ".globl back_in_kernel\n back_in_kernel:\n"
                     "movl $0xe021, %%eax\n movl %%eax, %%ds\n movl %%eax, %%es\n"
                     ::: "eax", "ecx", "edx", "ebx", "esi", "edi", "memory");
}

static long callback_op(int cmd, void *arg)
{
    return xen_hypercall3(__HYPERVISOR_callback_op, cmd, (long)arg, 0);
}

void guest_main(struct start_info *start)
{
    static struct trap_info table[] = {
        { 6, 1, RING1_CS, (uint32_t)trap_6 },
        { 13, 1 | 4, RING1_CS, (uint32_t)trap_13 }, /* flag 4: upcalls masked */
        { 0, 0, 0, 0 },
    };
    si = start;
    map_shared_info();
    check_eq(HYPERVISOR_set_trap_table(table), 0, "set_trap_table");
    check_eq(xen_hypercall3(__HYPERVISOR_stack_switch, RING1_DS,
                            (long)(kstack + sizeof kstack), 0), 0, "stack_switch");
    uint64_t e = *l1e_of((uint32_t)user_sysenter);
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)user_sysenter, e | _PAGE_USER, UVMF_INVLPG),
             0, "user code page");
    /* Upcalls unmasked (no channel is bound, so none comes): the frame shows IF set. */
    shinfo->vcpu_info[0].evtchn_upcall_mask = 0;

    /* No sysenter callback: #GP(0) from the frame Xen has (EIP 0, CS 3, ESP 0). */
    to_user(user_sysenter);
    check_eq(gp_seen, 1, "sysenter without a callback is #GP");
    check_eq(frame[0], 0, "#GP error code 0");
    check_eq(frame[1], 0, "frame EIP 0");
    check_eq(frame[2], 3, "frame CS 3, saved upcall mask 0");
    check((frame[3] & 0x200) != 0, "frame EFLAGS.IF (upcalls were unmasked)");
    check_eq(frame[4], 0, "frame ESP 0");
    check_eq(frame[5], RING3_DS, "frame SS FLAT_COMPAT_USER_SS");
    check_eq(regs[0], 0x11111111, "ECX passed");
    check_eq(regs[1], 0x22222222, "EDX passed");
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_mask, 1, "#GP trap gate (flag 4) masks upcalls");
    shinfo->vcpu_info[0].evtchn_upcall_mask = 0;

    /* With a callback (mask_events): no error code, upcalls masked. */
    struct callback_register cb = { CALLBACKTYPE_sysenter, CALLBACKF_mask_events, RING1_CS,
                                    (uint32_t)sysenter_cb };
    check_eq(callback_op(CALLBACKOP_register, &cb), 0, "register sysenter callback");
    to_user(user_sysenter);
    check_eq(se_seen, 1, "sysenter callback ran");
    check_eq(gp_seen, 1, "no #GP with a callback");
    check_eq(frame[0], 0, "callback frame EIP 0");
    check_eq(frame[1], 3, "callback frame CS 3");
    check_eq(frame[3], 0, "callback frame ESP 0");
    check_eq(frame[4], RING3_DS, "callback frame SS");
    check_eq(regs[0], 0x11111111, "ECX passed to the callback");
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_mask, 1, "CALLBACKF_mask_events");
    shinfo->vcpu_info[0].evtchn_upcall_mask = 0;

    /* Without mask_events the mask stays clear. */
    cb.flags = 0;
    check_eq(callback_op(CALLBACKOP_register, &cb), 0, "register without mask_events");
    to_user(user_sysenter);
    check_eq(se_seen, 2, "sysenter callback ran again");
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_mask, 0, "upcalls left unmasked");
    shinfo->vcpu_info[0].evtchn_upcall_mask = 1;

    struct callback_unregister un = { CALLBACKTYPE_sysenter, 0 };
    check_eq(callback_op(CALLBACKOP_unregister, &un), -XEN_EINVAL, "sysenter callback stays");
    un.type = CALLBACKTYPE_syscall32;
    check_eq(callback_op(CALLBACKOP_unregister, &un), -XEN_EINVAL, "syscall32 callback stays");

    /* SYSCALL: #UD at the instruction (Intel). */
    to_user(user_syscall);
    check_eq(ud_seen, 1, "syscall is #UD");
    check_eq(frame[0], (uint32_t)user_syscall_insn, "#UD at the syscall");
    check_eq(frame[1] & 0xffff, RING3_CS, "#UD from ring 3");
    pass();
}
