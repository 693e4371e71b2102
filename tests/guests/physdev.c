/*
 * physdev: I/O privilege of a PV kernel (PHYSDEVOP_set_iopl / set_iobitmap, and the port
 * checks of guest_io_okay in xen/arch/x86/pv/emul-priv-op.c). With the virtual IOPL at 0
 * an `in` or `cli` at ring 1 is #GP(0); at IOPL 1 both work (a port nobody backs reads as
 * all ones, cli is ignored); with IOPL 0 again and an I/O bitmap allowing port 0x70 only,
 * `in $0x70` works and `in $0x71` is #GP. set_iopl(4) is -EINVAL.
 */
#define TEST_NAME "physdev"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-physdev");

static long set_iopl(uint32_t iopl)
{
    return xen_hypercall3(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, (long)&iopl, 0);
}

static uint8_t bitmap[8192];

static uint32_t in80(void)
{
    uint32_t v = 0x5a;
    __asm__ volatile("inb $0x80, %%al" : "+a"(v)); /* e4 80: 2 bytes */
    return v & 0xff;
}

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();
    fault_skip = 2;

    check_eq(set_iopl(0), 0, "set_iopl(0)");
    uint32_t before = fault_count;
    in80();
    check_eq(fault_count, before + 1, "in at IOPL 0 is #GP");
    check_eq(fault_vec, 13, "#GP");
    fault_skip = 1;
    __asm__ volatile("cli");
    check_eq(fault_count, before + 2, "cli at IOPL 0 is #GP");

    check_eq(set_iopl(1), 0, "set_iopl(1)");
    before = fault_count;
    check_eq(in80(), 0xff, "unbacked port reads as all ones");
    __asm__ volatile("cli\n sti");
    check_eq(fault_count, before, "in and cli at IOPL 1");
    check_eq(set_iopl(4), -XEN_EINVAL, "set_iopl(4)");

    check_eq(set_iopl(0), 0, "set_iopl(0) again");
    for (unsigned i = 0; i < sizeof bitmap; i++)
        bitmap[i] = 0xff;
    bitmap[0x70 / 8] &= ~(1 << (0x70 % 8)); /* a clear bit allows the port */
    struct { uint32_t bitmap, nr_ports; } iob = { (uint32_t)bitmap, 65536 };
    check_eq(xen_hypercall3(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iobitmap, (long)&iob, 0), 0,
             "set_iobitmap");
    before = fault_count;
    fault_skip = 2;
    __asm__ volatile("inb $0x70, %%al" ::: "eax");
    check_eq(fault_count, before, "port 0x70 allowed by the bitmap");
    __asm__ volatile("inb $0x71, %%al" ::: "eax");
    check_eq(fault_count, before + 1, "port 0x71 refused");
    pass();
}
