/*
 * physdev: PHYSDEVOP_set_iopl and PHYSDEVOP_set_iobitmap (xen/arch/x86/physdev.c
 * do_physdev_op) and how the I/O instructions and cli/sti of ring 1 and ring 3 then fare
 * (xen/arch/x86/pv/emul-priv-op.c iopl_ok: the kernel counts as CPL 1, user mode as 3;
 * guest_io_okay: the bitmap covers ports below nr_ports, a clear bit allows the port, a
 * multi-byte access needs all its bits clear; cli/sti only look at IOPL). Ports no domain
 * owns read as all ones (guest_io_read). The guest's real EFLAGS.IOPL stays 0 (Xen keeps
 * the virtual IOPL in v->arch.pv.iopl).
 */
#define TEST_NAME "iobitmap"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-iobitmap");

#define PHYSDEVOP_set_iobitmap 7
struct physdev_set_iopl { uint32_t iopl; };
struct physdev_set_iobitmap { uint8_t *bitmap; uint32_t nr_ports; };

static long set_iopl(uint32_t l)
{
    struct physdev_set_iopl a = { l };
    return xen_hypercall3(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, (long)&a, 0);
}

static long set_iobitmap(uint8_t *bm, uint32_t n)
{
    struct physdev_set_iobitmap a = { bm, n };
    return xen_hypercall3(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iobitmap, (long)&a, 0);
}

static uint8_t bitmap[8192];

/* in $0x80,%al (2 bytes); returns the value read or 0x12 if it faulted. */
static uint32_t in80(void)
{
    uint32_t v = 0x12;
    __asm__ volatile ("in $0x80, %%al" : "+a" (v));
    return v & 0xff;
}

static uint8_t ustack[4096] UDATA __attribute__((aligned(4096)));
#define USTACK_TOP ((uint32_t)(ustack + sizeof ustack))
void u_in80(void);
void u_cli(void);
__asm__(".section .utext,\"ax\"\n"
        "u_in80:\n movl $0xe033, %ecx\n movl %ecx, %ds\n movl %ecx, %es\n"
        " movl $0x12, %eax\n in $0x80, %al\n int $0x85\n"
        "u_cli:\n movl $0xe033, %ecx\n movl %ecx, %ds\n movl %ecx, %es\n"
        " cli\n sti\n int $0x85\n"
        ".previous\n");

static void expect(uint32_t faults, const char *what)
{
    if (fault_count != faults) {
        xen_puts(what);
        xen_puts(": ");
        check_eq(fault_count, faults, "fault count");
    }
    if (faults)
        check_eq(fault_vec, 13, what);
}

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();
    user_pages_setup();
    fault_count = 0;

    /* IOPL 0: in and cli are #GP(0). */
    fault_skip = 2;
    check_eq(in80(), 0x12, "in at IOPL 0 read nothing");
    expect(1, "in at IOPL 0");
    check_eq(fault_err, 0, "in at IOPL 0 error code");
    fault_skip = 1;
    __asm__ volatile ("cli");
    expect(2, "cli at IOPL 0");

    /* set_iopl errors. */
    check_eq(set_iopl(4), -XEN_EINVAL, "set_iopl(4)");
    check_eq(xen_hypercall3(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, 0x10000000, 0),
             -XEN_EFAULT, "set_iopl bad pointer");

    /* IOPL 1: the kernel may; ring 3 may not. */
    check_eq(set_iopl(1), 0, "set_iopl(1)");
    fault_count = 0;
    check_eq(in80(), 0xff, "in at IOPL 1 reads all ones");
    __asm__ volatile ("cli\n sti");
    expect(0, "kernel I/O and cli at IOPL 1");
    uint32_t fl;
    __asm__ volatile ("pushfl\n popl %0" : "=r" (fl));
    check_eq(fl & 0x3000, 0, "real EFLAGS.IOPL stays 0");
    fault_skip = 2;
    check_eq(run_user(u_in80, USTACK_TOP) & 0xff, 0x12, "ring-3 in at IOPL 1 read nothing");
    expect(1, "ring-3 in at IOPL 1");
    fault_skip = 1;
    run_user(u_cli, USTACK_TOP);
    expect(3, "ring-3 cli/sti at IOPL 1");

    /* IOPL 3: ring 3 too. */
    check_eq(set_iopl(3), 0, "set_iopl(3)");
    fault_count = 0;
    check_eq(run_user(u_in80, USTACK_TOP) & 0xff, 0xff, "ring-3 in at IOPL 3");
    run_user(u_cli, USTACK_TOP);
    expect(0, "ring-3 I/O and cli at IOPL 3");

    /* Back to IOPL 0; an I/O bitmap allowing port 0x80 only. */
    check_eq(set_iopl(0), 0, "set_iopl(0)");
    for (uint32_t i = 0; i < sizeof bitmap; i++)
        bitmap[i] = 0xff;
    bitmap[0x80 >> 3] &= ~(1u << (0x80 & 7));
    check_eq(set_iobitmap(bitmap, 0x100), 0, "set_iobitmap");
    fault_count = 0;
    check_eq(in80(), 0xff, "in from the allowed port");
    expect(0, "allowed port");
    fault_skip = 2;
    uint32_t v = 0x1234;
    __asm__ volatile ("in $0x81, %%al" : "+a" (v));
    expect(1, "port 0x81 not in the bitmap");
    /* A word access at 0x80 also needs 0x81. */
    fault_skip = 3;
    __asm__ volatile ("in $0x80, %%ax" : "+a" (v));
    expect(2, "word access over a refused port");
    /* cli only looks at IOPL. */
    fault_skip = 1;
    __asm__ volatile ("cli");
    expect(3, "cli with a bitmap but IOPL 0");
    /* The bitmap applies to ring 3 as well (read through the guest kernel's view). */
    fault_count = 0;
    check_eq(run_user(u_in80, USTACK_TOP) & 0xff, 0xff, "ring-3 in through the bitmap");
    expect(0, "ring-3 allowed port");
    /* Ports at or past nr_ports are refused. */
    check_eq(set_iobitmap(bitmap, 0x80), 0, "set_iobitmap nr_ports 0x80");
    fault_skip = 2;
    in80();
    expect(1, "port at nr_ports");
    check_eq(set_iobitmap(bitmap, 0x81), 0, "set_iobitmap nr_ports 0x81");
    check_eq(in80(), 0xff, "port below nr_ports");
    expect(1, "port below nr_ports allowed");
    /* Bitmap changes take effect without a new hypercall (read at each access). */
    bitmap[0x80 >> 3] |= 1u << (0x80 & 7);
    in80();
    expect(2, "bitmap bit set again");
    bitmap[0x80 >> 3] &= ~(1u << (0x80 & 7));

    /* Errors: more than 65536 ports; a bitmap reaching Xen's area (guest_handle_okay of
     * IOBMP_BYTES); an unreadable bitmap is accepted but allows nothing. */
    check_eq(set_iobitmap(bitmap, 65537), -XEN_EINVAL, "nr_ports 65537");
    check_eq(set_iobitmap((uint8_t *)(HYPERVISOR_VIRT_START - 4096), 0x100), -XEN_EINVAL,
             "bitmap overlapping Xen");
    check_eq(xen_hypercall3(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iobitmap, 0x10000000, 0),
             -XEN_EFAULT, "set_iobitmap bad pointer");
    check_eq(set_iobitmap((uint8_t *)0x10000000, 0x100), 0, "unmapped bitmap accepted");
    fault_count = 0;
    in80();
    expect(1, "unmapped bitmap allows nothing");
    check_eq(set_iobitmap(0, 0), 0, "no bitmap");
    in80();
    expect(2, "no bitmap");
    pass();
}
