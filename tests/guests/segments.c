/*
 * segments: a guest GDT (set_gdt, pv_set_gdt in xen/arch/x86/pv/descriptor-tables.c):
 * the frame must not be writable (mapped read-only first, then typed as a descriptor page,
 * so a later writable mapping of it is refused); a data segment with a non-zero base loaded
 * into %fs reads through its base; a DPL-0 data descriptor is accepted with its DPL raised
 * to 1 (check_descriptor), so ring 1 can load it; update_descriptor changes a live entry;
 * a system descriptor other than a call gate is refused; ljmp to a code descriptor of the
 * new GDT runs on.
 */
#define TEST_NAME "segments"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-segments");

static uint64_t gdt[512] PAGE_ALIGNED;
static uint32_t target[4] = { 0x11111111, 0x22222222, 0x33333333, 0x44444444 };

/* A flat-limit data descriptor: base, read/write, present, DPL `dpl`, 32-bit, 4 KiB. */
static uint64_t data_desc(uint32_t base, unsigned dpl)
{
    uint64_t d = 0xffff;                                  /* limit 15:0 */
    d |= (uint64_t)(base & 0xffffff) << 16;
    d |= (uint64_t)(0x92 | (dpl << 5)) << 40;             /* P, S, type 2 (data RW) */
    d |= (uint64_t)0xcf << 48;                            /* G, D/B, limit 19:16 */
    d |= (uint64_t)(base >> 24) << 56;
    return d;
}

static long set_gdt(uint32_t *frames, unsigned entries)
{
    return xen_hypercall3(__HYPERVISOR_set_gdt, (long)frames, entries, 0);
}

static long update_descriptor(uint64_t maddr, uint64_t desc)
{
    return xen_hypercall4(__HYPERVISOR_update_descriptor, (uint32_t)maddr,
                          (uint32_t)(maddr >> 32), (uint32_t)desc, (uint32_t)(desc >> 32));
}

void guest_main(struct start_info *start)
{
    uint32_t frame, v, sel;
    si = start;
    gdt[1] = data_desc((uint32_t)&target[1], 1);          /* selector 0x09 */
    gdt[2] = data_desc((uint32_t)&target[2], 0);          /* DPL 0: fixed up to 1 */
    gdt[3] = 0x00cfbb000000ffffull;                       /* flat code, DPL 1: selector 0x19 */
    frame = va_to_mfn(gdt);

    /* Still mapped writable: the frame cannot become a descriptor page. */
    check(set_gdt(&frame, 4) != 0, "set_gdt of a writable frame is refused");
    check_eq(make_ro(gdt), 0, "map the GDT frame read-only");
    check_eq(set_gdt(&frame, 4), 0, "set_gdt");
    check(make_rw(gdt) != 0, "a descriptor page cannot be mapped writable again");

    __asm__ volatile("movl $0x09, %%eax\n movl %%eax, %%fs\n movl %%fs:0, %0"
                     : "=r"(v) :: "eax", "memory");
    check_eq(v, 0x22222222, "%fs base from the GDT");
    __asm__ volatile("movl $0x11, %%eax\n movl %%eax, %%gs\n movl %%gs:0, %0"
                     : "=r"(v) :: "eax", "memory");
    /* Loading it at CPL 1 would be #GP(0x10) had the DPL stayed 0. */
    check_eq(v, 0x33333333, "DPL-0 descriptor loaded at ring 1 (DPL raised)");
    check_eq((uint32_t)(gdt[2] >> 45) & 3, 1, "its DPL reads back as 1 in the frame");
    __asm__ volatile("lar %1, %0" : "=r"(v) : "r"(0x11u));
    check_eq((v >> 13) & 3, 1, "LAR sees DPL 1");

    /* update_descriptor on the live entry 1: the next load sees the new base. */
    check_eq(update_descriptor(((uint64_t)frame << 12) + 8, data_desc((uint32_t)&target[3], 1)),
             0, "update_descriptor");
    __asm__ volatile("movl $0x09, %%eax\n movl %%eax, %%fs\n movl %%fs:0, %0"
                     : "=r"(v) :: "eax", "memory");
    check_eq(v, 0x44444444, "%fs base after update_descriptor");
    /* A TSS (system type 9) is not for guests. */
    check(update_descriptor(((uint64_t)frame << 12) + 32, 0x0000890000000067ull) != 0,
          "TSS descriptor refused");

    __asm__ volatile("ljmp $0x19, $1f\n 1: movl %%cs, %0" : "=r"(sel));
    check_eq(sel, 0x19, "ljmp to the GDT's code segment");
    __asm__ volatile("ljmp $0xe019, $1f\n 1:" ::: "memory");
    pass();
}
