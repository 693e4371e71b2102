/*
 * usermode: ring-3 round trips of a PV32 kernel. Native `iret` to FLAT_RING3_CS and back
 * through a DPL-3 trap gate, many times; exceptions raised in ring 3 are bounced to the
 * kernel's handlers with the ring-3 CS/ESP/SS in the frame, on the stack_switch stack
 * (xen/arch/x86/x86_64/compat/entry.S compat_create_bounce_frame), #PF with the user bit
 * in the error code and cr2 in vcpu_info (pv_inject_page_fault / do_page_fault); privileged
 * instructions in ring 3 are #GP(0) (emul-priv-op.c: iopl_ok with CPL 3, no emulation of
 * cli/hlt/mov cr for user mode); `int $n` through a gate whose DPL is below 3 is
 * #GP((n << 3) | 2), as the CPU raises it (Xen installs the guest's DPL in its own IDT
 * view: pv_trap_init / compat_set_trap_table with TI_GET_DPL).
 */
#define TEST_NAME "usermode"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-usermode");

static uint8_t ustack[4096] UDATA __attribute__((aligned(4096)));
static uint32_t ucounter UDATA;
static uint32_t uro_page[1024] UDATA __attribute__((aligned(4096)));
static uint32_t uflags_seen UDATA;
#define USTACK_TOP ((uint32_t)(ustack + sizeof ustack))

/* Ring-3 entries: load the user data selectors, do one thing, come back. */
#define USER_ENTRY(name, body)                                                \
    void name(void);                                                          \
    __asm__(".section .utext,\"ax\"\n" #name ":\n"                             \
            " movl $0xe033, %ecx\n movl %ecx, %ds\n movl %ecx, %es\n"          \
            body "\n int $0x85\n .previous\n")

USER_ENTRY(u_inc, " movl ucounter, %eax\n incl %eax\n movl %eax, ucounter\n");
USER_ENTRY(u_pf_read, " movl $0x10000000, %ecx\n .byte 0x8b, 0x01\n");
USER_ENTRY(u_pf_write_ro, " movl $uro_page, %ecx\n .byte 0x89, 0x01\n");
USER_ENTRY(u_cli, " cli\n");
USER_ENTRY(u_sti, " sti\n");
USER_ENTRY(u_hlt, " hlt\n");
USER_ENTRY(u_in, " in $0x80, %al\n");
USER_ENTRY(u_out_dx, " movw $0x80, %dx\n out %al, %dx\n");
USER_ENTRY(u_movcr0, " mov %cr0, %eax\n");
USER_ENTRY(u_movcr3, " mov %eax, %cr3\n");
USER_ENTRY(u_lgdt, " lgdt uro_page\n");
USER_ENTRY(u_int80, " int $0x80\n");
USER_ENTRY(u_int81, " int $0x81\n");
USER_ENTRY(u_popf, " pushl $0x2\n popfl\n pushfl\n popl %eax\n movl %eax, uflags_seen\n");
USER_ENTRY(u_cs, " movl %cs, %eax\n");
USER_ENTRY(u_rdtsc, " rdtsc\n");

/* An int $0x80 gate with DPL 1 (the kernel may use it, ring 3 may not). */
volatile uint32_t int80_hits;
void trap_int80(void);
__asm__(".text\n trap_int80:\n incl int80_hits\n jmp hypercall_page + 23*32\n");

static void expect_gp(void (*entry)(void), uint32_t len, uint32_t err, const char *what)
{
    fault_count = 0;
    fault_vec = 0;
    fault_skip = len;
    run_user(entry, USTACK_TOP);
    if (fault_count != 1) {
        xen_puts(what);
        xen_puts(": ");
        check_eq(fault_count, 1, "ring-3 fault count");
    }
    if (fault_vec != 13 || fault_err != err || (fault_cs & 0xffff) != FLAT_RING3_CS) {
        xen_puts(what);
        xen_puts(": ");
        check_eq(fault_vec, 13, "ring-3 fault vector");
        check_eq(fault_err, err, "ring-3 #GP error code");
        check_eq(fault_cs & 0xffff, FLAT_RING3_CS, "ring-3 fault CS");
    }
    check_eq(fault_esp, USTACK_TOP, "ring-3 fault ESP");
    check_eq(fault_ss & 0xffff, FLAT_RING3_SS, "ring-3 fault SS");
}

void guest_main(struct start_info *start)
{
    si = start;
    map_shared_info();
    install_fault_handlers();
    static const struct trap_info extra[] = {
        { 0x80, 1, FLAT_RING1_CS, (uint32_t)trap_int80 },
        { 0, 0, 0, 0 },
    };
    check_eq(HYPERVISOR_set_trap_table(extra), 0, "set_trap_table (int $0x80, DPL 1)");
    user_pages_setup();
    /* A read-only user page. */
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)uro_page,
                                          pte(va_to_mfn(uro_page), PTE_RO | _PAGE_USER),
                                          UVMF_INVLPG), 0, "read-only user page");

    /* Many round trips. */
    for (uint32_t i = 1; i <= 500; i++) {
        uint32_t r = run_user(u_inc, USTACK_TOP);
        if (r != i)
            check_eq(r, i, "ring-3 counter");
    }
    check(user_frame[0] > (uint32_t)u_inc && user_frame[0] < (uint32_t)u_inc + 32,
          "exit frame EIP past the int in u_inc");
    check_eq(user_frame[1] & 0xffff, FLAT_RING3_CS, "exit frame CS");
    /* EFLAGS.IF in a bounce frame is !upcall_mask (compat_create_bounce_frame); the boot
     * vcpu_info has events masked (libxc shared_info_x86_32). */
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_mask, 1, "events masked at boot");
    check_eq(user_frame[2] & 0x200, 0, "exit frame EFLAGS.IF with events masked");
    check_eq(user_frame[2] & 0x3000, 0, "exit frame EFLAGS.IOPL");
    check_eq(user_frame[3], USTACK_TOP, "exit frame ESP");
    check_eq(user_frame[4] & 0xffff, FLAT_RING3_SS, "exit frame SS");
    check_eq(user_exit_esp, (uint32_t)(user_kstack + sizeof user_kstack) - 20,
             "kernel stack from stack_switch");
    uint32_t cs = run_user(u_cs, USTACK_TOP);
    check_eq(cs & 0xffff, FLAT_RING3_CS, "%cs in ring 3");

    /* #PF in ring 3: not present, read, user. */
    fault_count = 0;
    fault_skip = 2;
    run_user(u_pf_read, USTACK_TOP);
    check_eq(fault_count, 1, "ring-3 #PF delivered");
    check_eq(fault_vec, 14, "ring-3 #PF vector");
    check_eq(fault_err, 4, "ring-3 #PF error code (user, read, not present)");
    check_eq(fault_cr2, 0x10000000, "ring-3 #PF cr2");
    check_eq(fault_cs & 0xffff, FLAT_RING3_CS, "ring-3 #PF frame CS");
    check_eq(fault_esp, USTACK_TOP, "ring-3 #PF frame ESP");
    check_eq(fault_ss & 0xffff, FLAT_RING3_SS, "ring-3 #PF frame SS");
    /* Write to a read-only user page: present, write, user. */
    fault_count = 0;
    run_user(u_pf_write_ro, USTACK_TOP);
    check_eq(fault_count, 1, "ring-3 write #PF delivered");
    check_eq(fault_err, 7, "ring-3 #PF error code (user, write, present)");
    check_eq(fault_cr2, (uint32_t)uro_page, "ring-3 write #PF cr2");

    /* Privileged instructions in ring 3. */
    expect_gp(u_cli, 1, 0, "cli");
    expect_gp(u_sti, 1, 0, "sti");
    expect_gp(u_hlt, 1, 0, "hlt");
    expect_gp(u_in, 2, 0, "in");
    expect_gp(u_out_dx, 1, 0, "out");
    expect_gp(u_movcr0, 3, 0, "mov from cr0");
    expect_gp(u_movcr3, 3, 0, "mov to cr3");
    expect_gp(u_lgdt, 7, 0, "lgdt");
    /* int $0x80 through a DPL-1 gate, and with no gate at all. */
    expect_gp(u_int80, 2, (0x80 << 3) | 2, "int $0x80 (DPL 1)");
    expect_gp(u_int81, 2, (0x81 << 3) | 2, "int $0x81 (no gate)");
    check_eq(int80_hits, 0, "DPL-1 gate not entered from ring 3");
    __asm__ volatile ("int $0x80");
    check_eq(int80_hits, 1, "DPL-1 gate entered from ring 1");

    /* popf in ring 3 with IOPL 0 cannot clear IF (the CPU leaves it). */
    fault_count = 0;
    run_user(u_popf, USTACK_TOP);
    check_eq(fault_count, 0, "popf in ring 3 does not fault");
    check_eq(uflags_seen & 0x200, 0x200, "popf in ring 3 leaves IF set");
    /* rdtsc is allowed in ring 3 (CR4.TSD clear for PV guests). */
    run_user(u_rdtsc, USTACK_TOP);
    check_eq(fault_count, 0, "rdtsc in ring 3");

    /* With events unmasked, frames carry IF. */
    shinfo->vcpu_info[0].evtchn_upcall_mask = 0;
    run_user(u_inc, USTACK_TOP);
    check_eq(user_frame[2] & 0x200, 0x200, "exit frame EFLAGS.IF with events unmasked");
    shinfo->vcpu_info[0].evtchn_upcall_mask = 1;

    /* More round trips after the faults. */
    ucounter = 0;
    for (uint32_t i = 1; i <= 100; i++)
        run_user(u_inc, USTACK_TOP);
    check_eq(ucounter, 100, "round trips after faults");
    pass();
}
