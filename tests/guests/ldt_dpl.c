/*
 * ldt: MMUEXT_SET_LDT (xen/arch/x86/mm.c do_mmuext_op: ents > 8192 or a linear address
 * not page aligned -> -EINVAL; ents 0 drops the LDT) with an LDT page mapped read-only,
 * whose descriptors Xen validates and fixes up when the page becomes a segment-descriptor
 * page (xen/arch/x86/pv/descriptor-tables.c validate_segdesc_page, check_descriptor: a
 * DPL-0 code/data descriptor gets DPL 1, written back into the page). LDT selectors
 * (TI = 1) load into %fs and address memory through the descriptor's base; a selector
 * past the LDT's entries is #GP(selector & ~3).
 */
#define TEST_NAME "ldt_dpl"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-ldt-dpl");

static uint64_t ldt_page[512] PAGE_ALIGNED;
static volatile uint32_t databuf[1024] PAGE_ALIGNED;

/* A flat-style 32-bit read/write data descriptor (accessed), byte granular. */
static uint64_t data_desc(uint32_t base, uint32_t limit, uint32_t dpl)
{
    uint32_t lo = (base << 16) | (limit & 0xffff);
    uint32_t hi = (base & 0xff000000) | ((base >> 16) & 0xff) | (limit & 0xf0000) |
                  (1u << 22) /* D */ | (1u << 15) /* P */ | (dpl << 13) | (1u << 12) /* S */ |
                  (0x3u << 8) /* data, RW, accessed */;
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t load_fs(uint32_t sel)
{
    uint32_t v = 0xdeadbeef;
    __asm__ volatile ("movl %1, %%fs" :: "a" (v), "r" (0) );  /* clear first */
    __asm__ volatile (".byte 0x8e, 0xe0\n" /* mov %eax, %fs */ :: "a" (sel));
    return v;
}

static uint32_t read_fs(uint32_t off)
{
    uint32_t v;
    __asm__ volatile ("movl %%fs:(%1), %0" : "=r" (v) : "r" (off));
    return v;
}

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();
    for (uint32_t i = 0; i < 1024; i++)
        databuf[i] = 0xa0000000 + i;
    ldt_page[1] = data_desc((uint32_t)databuf, 0xfff, 1);
    ldt_page[2] = data_desc((uint32_t)databuf + 16, 0xfff, 0);
    check_eq(make_ro(ldt_page), 0, "LDT page read-only");

    /* Bad arguments. */
    check_eq(mmuext1(MMUEXT_SET_LDT, (uint32_t)ldt_page + 8, 3), -XEN_EINVAL,
             "SET_LDT unaligned");
    check_eq(mmuext1(MMUEXT_SET_LDT, (uint32_t)ldt_page, 8193), -XEN_EINVAL,
             "SET_LDT 8193 entries");
    check_eq(mmuext1(MMUEXT_SET_LDT, (uint32_t)ldt_page + 8, 0), 0,
             "SET_LDT with 0 entries ignores the address");

    check_eq(mmuext1(MMUEXT_SET_LDT, (uint32_t)ldt_page, 3), 0, "SET_LDT");
    fault_count = 0;
    fault_skip = 2;
    load_fs(0x0d); /* index 1, TI, RPL 1 */
    check_eq(fault_count, 0, "LDT selector 0x0d loads");
    check_eq(read_fs(0), 0xa0000000, "read through the LDT descriptor's base");
    check_eq(read_fs(0x40), 0xa0000010, "read through the LDT descriptor at +0x40");
    /* The DPL-0 descriptor was fixed to DPL 1: it loads from ring 1, lar shows DPL 1. */
    load_fs(0x15);
    check_eq(fault_count, 0, "DPL-0 LDT descriptor loads (fixed to DPL 1)");
    check_eq(read_fs(0), 0xa0000004, "read through the fixed-up descriptor");
    uint32_t ar = 0;
    uint8_t ok;
    __asm__ volatile ("lar %2, %0\n setz %1" : "=r" (ar), "=q" (ok) : "r" (0x15u) : "cc");
    check(ok, "lar of the fixed-up descriptor");
    check_eq((ar >> 13) & 3, 1, "lar DPL of the fixed-up descriptor");
    check_eq((uint32_t)(ldt_page[2] >> 45) & 3, 1, "DPL fixed up in the LDT page itself");
    /* Past the LDT's three entries. */
    load_fs(0x1d);
    check_eq(fault_count, 1, "selector past the LDT faults");
    check_eq(fault_vec, 13, "past the LDT: #GP");
    check_eq(fault_err, 0x1c, "past the LDT: error code");
    /* The LDT page cannot be made writable while in use. */
    check_eq(make_rw(ldt_page), -XEN_EBUSY, "LDT page writable while in use");

    /* ents 0: no LDT. */
    __asm__ volatile ("movl %0, %%fs" :: "r" (0));
    check_eq(mmuext1(MMUEXT_SET_LDT, 0, 0), 0, "SET_LDT none");
    load_fs(0x0d);
    check_eq(fault_count, 2, "no LDT: #GP");
    check_eq(fault_err, 0x0c, "no LDT: error code");
    pass();
}
