/*
 * debugreg: set_debugreg / get_debugreg and `mov` to and from %dr0-7 as Xen 4.17 handles
 * them for a PV32 guest (xen/arch/x86/pv/misc-hypercalls.c set_debugreg, do_get_debugreg;
 * xen/arch/x86/x86_emulate.c x86emul_read_dr, x86emul_write_dr: -ENODEV -> #UD, other
 * errors -> #GP(0)). The guest's CR4.DE is clear, so %dr4/%dr5 alias %dr6/%dr7. DR6 and DR7
 * have their reserved bits forced (DR_STATUS_RESERVED_*, DR_CONTROL_RESERVED_*), DR7.GD is
 * -EPERM, an enabled I/O breakpoint (R/W = 10b) without CR4.DE is -EPERM, registers past 7
 * are -ENODEV. No breakpoint set here is ever hit.
 */
#define TEST_NAME "debugreg"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-debugreg");

#define XEN_ENODEV 19

static long setdr(int reg, uint32_t v)
{
    return xen_hypercall3(__HYPERVISOR_set_debugreg, reg, v, 0);
}

static long getdr(int reg)
{
    return xen_hypercall3(__HYPERVISOR_get_debugreg, reg, 0, 0);
}

/* An address nothing here executes or touches. */
#define BP_ADDR 0x00001000u

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();

    /* Reset values. */
    check_eq(getdr(6), (long)0xffff0ff0, "initial dr6");
    check_eq(getdr(7), 0x400, "initial dr7");
    check_eq(getdr(4), (long)0xffff0ff0, "dr4 aliases dr6");
    check_eq(getdr(5), 0x400, "dr5 aliases dr7");

    /* DR0-3 take any 32-bit address. */
    check_eq(setdr(0, BP_ADDR), 0, "set dr0");
    check_eq(setdr(1, 0xfffff000u), 0, "set dr1 (a Xen address is fine for a 32-bit guest)");
    check_eq(setdr(2, 0x12345678), 0, "set dr2");
    check_eq(setdr(3, 0), 0, "set dr3");
    check_eq(getdr(0), BP_ADDR, "get dr0");
    check_eq(getdr(1), (long)0xfffff000u, "get dr1");
    check_eq(getdr(2), 0x12345678, "get dr2");

    /* DR6: bit 12 forced to 0, bits 4-11 and 16-31 forced to 1. */
    check_eq(setdr(6, 0), 0, "set dr6 0");
    check_eq(getdr(6), (long)0xffff0ff0, "dr6 reserved ones");
    check_eq(setdr(6, 0x0000100f | 0x4000), 0, "set dr6 B0-3, BS and bit 12");
    check_eq(getdr(6), (long)0xffff4fff, "dr6 keeps B0-3/BS, clears bit 12");
    check_eq(setdr(4, 0x1), 0, "set dr4 (alias)");
    check_eq(getdr(6), (long)0xffff0ff1, "dr4 wrote dr6");
    check_eq(setdr(6, 0), 0, "clear dr6");

    /* DR7: bit 10 forced on; 11, 12, 14, 15 forced off; GD refused. */
    check_eq(setdr(7, 0), 0, "set dr7 0");
    check_eq(getdr(7), 0x400, "dr7 reserved one");
    check_eq(setdr(7, 0xd800), 0, "set dr7 reserved-zero bits");
    check_eq(getdr(7), 0x400, "dr7 reserved bits cleared");
    check_eq(setdr(7, 0x2000), -XEN_EPERM, "dr7 GD");
    check_eq(getdr(7), 0x400, "dr7 unchanged after GD");
    /* An enabled exec breakpoint on dr0 (R/W 00, LEN 00), local and global exact. */
    check_eq(setdr(7, 0x303), 0, "dr7 L0|G0|LE|GE");
    check_eq(getdr(7), 0x703, "dr7 read back");
    /* An I/O breakpoint (R/W1 = 10b) while a breakpoint is enabled: needs CR4.DE. */
    check_eq(setdr(7, 0x00200004), -XEN_EPERM, "enabled I/O breakpoint without DE");
    check_eq(getdr(7), 0x703, "dr7 unchanged after refused I/O breakpoint");
    /* The same field with no enable bit at all is accepted (DR7 not active). */
    check_eq(setdr(7, 0x00200000), 0, "inactive I/O breakpoint field");
    check_eq(getdr(7), 0x00200400, "inactive I/O field read back");
    /* Data write breakpoint, 4 bytes, on dr2 (enabled, not I/O). */
    check_eq(setdr(7, 0x0d000010), 0, "dr7 write breakpoint on dr2");
    check_eq(getdr(7), 0x0d000410, "dr7 write breakpoint read back");
    check_eq(setdr(5, 0), 0, "set dr5 (alias of dr7)");
    check_eq(getdr(7), 0x400, "dr5 wrote dr7");

    /* Registers that do not exist. */
    check_eq(setdr(8, 0), -XEN_ENODEV, "set dr8");
    check_eq(setdr(-1, 0), -XEN_ENODEV, "set dr-1");
    check_eq(getdr(8), -XEN_ENODEV, "get dr8");
    check_eq(getdr(15), -XEN_ENODEV, "get dr15");

    /* mov to/from debug registers goes through the same checks (emul-priv-op.c). */
    uint32_t v;
    __asm__ volatile ("mov %0, %%db3" :: "r" (0xabcd000u));
    check_eq(getdr(3), 0xabcd000, "mov to dr3");
    __asm__ volatile ("mov %%db3, %0" : "=r" (v));
    check_eq(v, 0xabcd000, "mov from dr3");
    __asm__ volatile ("mov %0, %%db6" :: "r" (0u));
    __asm__ volatile ("mov %%db6, %0" : "=r" (v));
    check_eq(v, 0xffff0ff0, "mov dr6 reserved bits");
    __asm__ volatile ("mov %%db4, %0" : "=r" (v));
    check_eq(v, 0xffff0ff0, "mov from dr4 aliases dr6");
    __asm__ volatile ("mov %0, %%db7" :: "r" (0x1u));
    check_eq(getdr(7), 0x401, "mov to dr7");
    /* GD through mov: #GP(0); mov %eax,%dr7 is 3 bytes (0f 23 f8). */
    fault_count = 0;
    fault_skip = 3;
    __asm__ volatile ("mov %0, %%db7" :: "a" (0x2000u));
    check_eq(fault_count, 1, "mov dr7 GD faults");
    check_eq(fault_vec, 13, "mov dr7 GD is #GP");
    check_eq(fault_err, 0, "mov dr7 GD error code");
    check_eq(getdr(7), 0x401, "dr7 unchanged after faulting mov");
    /* Enabled I/O breakpoint through mov: #GP(0). */
    __asm__ volatile ("mov %0, %%db7" :: "a" (0x00020001u));
    check_eq(fault_count, 2, "mov dr7 I/O breakpoint faults");
    check_eq(fault_vec, 13, "mov dr7 I/O breakpoint is #GP");
    __asm__ volatile ("mov %0, %%db7" :: "r" (0u));
    check_eq(getdr(7), 0x400, "dr7 cleared");
    check_eq(fault_count, 2, "no stray faults");
    pass();
}
