/*
 * privop: privileged instructions from the ring-1 kernel are emulated the way Xen 4.17
 * does for a PV32 domU (xen/arch/x86/pv/emul-priv-op.c, emul-inv-op.c): what Xen emulates
 * completes without a trap, what it refuses arrives at our #GP/#UD handler, which counts
 * it and skips the instruction.
 */
#include "xen-pv32.h"

XEN_TEST_GUEST_NOTES("xdbt-privop");

#define __HYPERVISOR_set_debugreg 8
#define __HYPERVISOR_get_debugreg 9
#define __HYPERVISOR_physdev_op  33
#define PHYSDEVOP_set_iopl      6
#define PHYSDEVOP_set_iobitmap  7

volatile uint32_t gp_count, gp_err, ud_count, db_count;
volatile uint32_t skip_len;

void trap_gp(void);
__asm__(".text\n trap_gp:\n"
        " popl gp_err\n"
        " incl gp_count\n"
        " pushl %eax\n"
        " movl skip_len, %eax\n addl %eax, 4(%esp)\n"
        " popl %eax\n"
        " jmp hypercall_page + 23*32\n");

void trap_ud(void);
__asm__(".text\n trap_ud:\n"
        " incl ud_count\n"
        " pushl %eax\n"
        " movl skip_len, %eax\n addl %eax, 4(%esp)\n"
        " popl %eax\n"
        " jmp hypercall_page + 23*32\n");

static void check(int ok, const char *what)
{
    if (!ok) {
        xen_puts("XDBT-GUEST privop: FAIL ");
        xen_puts(what);
        xen_puts("\n");
        xen_shutdown(SHUTDOWN_crash);
    }
}

static void xen_cpuid(uint32_t leaf, uint32_t r[4])
{
    __asm__ volatile ("ud2a; .ascii \"xen\"; cpuid"
                      : "=a" (r[0]), "=b" (r[1]), "=c" (r[2]), "=d" (r[3])
                      : "0" (leaf), "2" (0));
}

static uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo = 0, hi = 0;
    __asm__ volatile ("rdmsr" : "+a" (lo), "=d" (hi) : "c" (msr));
    return ((uint64_t)hi << 32) | lo;
}

void guest_main(struct start_info *si)
{
    static struct trap_info table[] = {
        { 6, 1, 0xe019, (uint32_t)trap_ud },
        { 13, 1, 0xe019, (uint32_t)trap_gp },
        { 0, 0, 0, 0 },
    };
    uint32_t r[4], v, n;
    uint64_t t0, t1;
    (void)si;

    check(xen_hypercall3(__HYPERVISOR_set_trap_table, (long)table, 0, 0) == 0, "set_trap_table");

    /* Forced-emulation CPUID: Xen's leaves and the hypervisor bit. */
    xen_cpuid(0x40000000, r);
    check(r[0] == 0x40000005 && r[1] == 0x566e6558 && r[2] == 0x65584d4d &&
          r[3] == 0x4d4d566e, "cpuid 0x40000000 signature");
    xen_cpuid(0x40000001, r);
    check(r[0] == ((4 << 16) | 17), "cpuid 0x40000001 version");
    xen_cpuid(1, r);
    check((r[2] & (1u << 31)) && (r[3] & 1), "cpuid 1 hypervisor bit");
    check(ud_count == 0, "forced cpuid raised #UD");
    /* A plain ud2 is still #UD. */
    skip_len = 2;
    __asm__ volatile ("ud2");
    check(ud_count == 1, "plain ud2 not delivered");

    /* Control registers. */
    __asm__ volatile ("mov %%cr0, %0" : "=r" (v));
    check((v & 0x80000001) == 0x80000001 && !(v & 8), "cr0 read");
    xen_hypercall3(__HYPERVISOR_fpu_taskswitch, 1, 0, 0);
    __asm__ volatile ("mov %%cr0, %0" : "=r" (v));
    check(v & 8, "cr0.TS after fpu_taskswitch(1)");
    __asm__ volatile ("clts");
    __asm__ volatile ("mov %%cr0, %0" : "=r" (v));
    check(!(v & 8), "clts");
    __asm__ volatile ("mov %%cr4, %0" : "=r" (v));
    check(v == 0x660, "cr4 read");
    __asm__ volatile ("mov %%cr3, %0\n mov %0, %%cr3" : "=r" (v));
    check(v != 0 && gp_count == 0, "cr3 reload");
    /* Changing anything but TS in CR0 is refused with #GP(0); mov cr0 is 3 bytes. */
    skip_len = 3;
    __asm__ volatile ("mov %%cr0, %%eax\n and $0xfffeffff, %%eax\n mov %%eax, %%cr0" ::: "eax");
    check(gp_count == 1 && gp_err == 0, "cr0.WP write not refused");

    /* MSRs: APIC_BASE and PAT read, a bogus one faults (rdmsr is 2 bytes). */
    check(rdmsr(0x1b) == 0xfee00900, "rdmsr APIC_BASE");
    check(rdmsr(0x277) == 0x050100070406ull, "rdmsr PAT");
    skip_len = 2;
    n = gp_count;
    rdmsr(0xdeadbeef);
    check(gp_count == n + 1, "rdmsr of a bogus MSR did not #GP");

    /* TSC, wbinvd (ignored), hlt (#GP: Xen does not emulate it). */
    __asm__ volatile ("rdtsc" : "=A" (t0));
    __asm__ volatile ("wbinvd");
    __asm__ volatile ("rdtsc" : "=A" (t1));
    check(t1 >= t0, "rdtsc monotonic");
    n = gp_count;
    skip_len = 1;
    __asm__ volatile ("hlt");
    check(gp_count == n + 1, "hlt not #GP");

    /* Ports: IOPL 0 -> #GP; IOPL 1 -> unbacked ports read as ~0, cli/sti are no-ops. */
    n = gp_count;
    skip_len = 2;
    __asm__ volatile ("mov $0x12, %%al\n in $0x80, %%al\n mov %%al, %b0" : "=q" (v) :: "eax");
    check(gp_count == n + 1, "in at IOPL 0 not #GP");
    skip_len = 1;
    __asm__ volatile ("cli");
    check(gp_count == n + 2, "cli at IOPL 0 not #GP");
    {
        uint32_t iopl = 1;
        check(xen_hypercall3(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, (long)&iopl, 0) == 0,
              "set_iopl");
        iopl = 4;
        check(xen_hypercall3(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, (long)&iopl, 0) == -22,
              "set_iopl(4) not -EINVAL");
    }
    __asm__ volatile ("in $0x80, %%al\n movzbl %%al, %0" : "=r" (v) :: "eax");
    check(v == 0xff && gp_count == n + 2, "in at IOPL 1");
    __asm__ volatile ("cli\n sti");
    __asm__ volatile ("mov $0xcf8, %%dx\n mov $0x80001234, %%eax\n out %%eax, %%dx\n"
                      " xor %%eax, %%eax\n in %%dx, %%eax\n mov %%eax, %0"
                      : "=r" (v) :: "eax", "edx");
    check(v == 0x80001234 && gp_count == n + 2, "0xcf8 latch");

    /* Debug registers: hypercalls and mov. */
    check(xen_hypercall3(__HYPERVISOR_get_debugreg, 6, 0, 0) == (long)0xffff0ff0, "get_debugreg(6)");
    check(xen_hypercall3(__HYPERVISOR_set_debugreg, 7, 0x2000, 0) == -1, "set_debugreg GD not -EPERM");
    check(xen_hypercall3(__HYPERVISOR_set_debugreg, 0, 0xc0001000, 0) == 0, "set_debugreg(0)");
    __asm__ volatile ("mov %%db0, %0" : "=r" (v));
    check(v == 0xc0001000, "mov from dr0");
    __asm__ volatile ("mov %%db7, %0" : "=r" (v));
    check(v == 0x400, "mov from dr7");

    check(ud_count == 1, "unexpected #UD");
    xen_puts("XDBT-GUEST privop: PASS\n");
    xen_shutdown(SHUTDOWN_poweroff);
}
