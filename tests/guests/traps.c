/*
 * traps: every exception a ring-1 kernel can take is bounced to its trap-table handler
 * with Xen's frame (EIP, CS with the saved upcall mask, EFLAGS, error code where the vector
 * has one), and HYPERVISOR_iret returns from it. Each handler records what it saw and
 * skips the faulting instruction.
 */
#include "xen-pv32.h"

XEN_TEST_GUEST_NOTES("xdbt-traps");

volatile uint32_t seen[256], seen_err[256], seen_cs[256];

/* Handlers: record the vector and error code, step over the faulting instruction (its
 * length is in skip_len), return with HYPERVISOR_iret. */
volatile uint32_t skip_len;
uint32_t bounds[2] = { 10, 20 };

#define POP_ERR_1(n) " popl seen_err + 4*" #n "\n"
#define POP_ERR_0(n) ""
#define HANDLER(n, has_err)                                                  \
    void trap_##n(void);                                                     \
    __asm__(".text\n trap_" #n ":\n"                                         \
            POP_ERR_##has_err(n)                                             \
            " incl seen + 4*" #n "\n"                                        \
            " pushl %eax\n"                                                  \
            " movl 8(%esp), %eax\n movl %eax, seen_cs + 4*" #n "\n"           \
            " movl skip_len, %eax\n addl %eax, 4(%esp)\n"                    \
            " popl %eax\n"                                                   \
            " jmp hypercall_page + 23*32\n")

HANDLER(0, 0);
HANDLER(3, 0);
HANDLER(6, 0);
HANDLER(13, 1);
HANDLER(14, 1);
HANDLER(4, 0);
HANDLER(5, 0);
HANDLER(128, 0);

static void check(int ok, const char *what)
{
    if (!ok) {
        xen_puts("XDBT-GUEST traps: FAIL ");
        xen_puts(what);
        xen_puts("\n");
        xen_shutdown(SHUTDOWN_crash);
    }
}

void guest_main(struct start_info *si)
{
    static struct trap_info table[] = {
        { 0, 1, 0xe019, (uint32_t)trap_0 },
        { 3, 3, 0xe019, (uint32_t)trap_3 },
        { 4, 3, 0xe019, (uint32_t)trap_4 },
        { 5, 1, 0xe019, (uint32_t)trap_5 },
        { 6, 1, 0xe019, (uint32_t)trap_6 },
        { 13, 1, 0xe019, (uint32_t)trap_13 },
        { 14, 1, 0xe019, (uint32_t)trap_14 },
        { 0x80, 3, 0xe019, (uint32_t)trap_128 },
        { 0, 0, 0, 0 },
    };
    (void)0;
    (void)si;

    check(xen_hypercall3(__HYPERVISOR_set_trap_table, (long)table, 0, 0) == 0, "set_trap_table");

    /* #DE: div ecx (f7 f1), 2 bytes. */
    skip_len = 2;
    __asm__ volatile ("xor %%edx, %%edx\n mov $1, %%eax\n xor %%ecx, %%ecx\n div %%ecx"
                      ::: "eax", "ecx", "edx");
    check(seen[0] == 1, "#DE not delivered");
    check((seen_cs[0] & 0xffff) == 0xe019, "#DE frame CS");

    /* #BP: int3 is a trap, EIP already past it. */
    skip_len = 0;
    __asm__ volatile ("int3");
    check(seen[3] == 1, "#BP");

    /* #OF: into with OF set (trap). */
    __asm__ volatile ("mov $0x7fffffff, %%eax\n add $1, %%eax\n into" ::: "eax", "cc");
    check(seen[4] == 1, "#OF");

    /* #BR: bound eax, [bounds] with eax out of range (6 bytes: 62 05 imm32). */
    skip_len = 6;
    __asm__ volatile ("mov $5, %%eax\n bound %%eax, bounds" ::: "eax");
    check(seen[5] == 1, "#BR");

    /* #UD: ud2 (2 bytes). */
    skip_len = 2;
    __asm__ volatile ("ud2");
    check(seen[6] == 1, "#UD");

    /* #GP: hlt at ring 1 (1 byte), error code 0. */
    skip_len = 1;
    __asm__ volatile ("hlt");
    check(seen[13] == 1 && seen_err[13] == 0, "#GP(0) for hlt");

    /* #GP from `int $0x21` with no gate: error code (0x21 << 3) | 2, EIP at the int. */
    skip_len = 2;
    __asm__ volatile ("int $0x21");
    check(seen[13] == 2 && seen_err[13] == ((0x21 << 3) | 2), "#GP for int $0x21");

    /* #PF: read from an unmapped page (mov eax, [0x10000000]: 5 bytes). */
    skip_len = 5;
    __asm__ volatile ("mov 0x10000000, %%eax" ::: "eax");
    check(seen[14] == 1 && (seen_err[14] & 1) == 0, "#PF not-present read");

    /* int $0x80 through its DPL-3 gate: a trap, EIP past the instruction. */
    skip_len = 0;
    __asm__ volatile ("int $0x80");
    check(seen[128] == 1, "int $0x80");

    xen_puts("XDBT-GUEST traps: PASS\n");
    xen_shutdown(SHUTDOWN_poweroff);
}
