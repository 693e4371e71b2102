/*
 * ldt: a local descriptor table (MMUEXT_SET_LDT; the LDT pages are read-only to the guest,
 * as Xen maps them through the per-vCPU LDT area and types them as descriptor pages): a
 * selector with TI set loads a data segment whose base is visible through %fs;
 * update_descriptor changes an LDT entry; bad SET_LDT arguments (an unaligned base, more
 * than 8192 entries) are -EINVAL; an LDT selector past the table's end is #GP.
 */
#define TEST_NAME "ldt"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-ldt");

static uint64_t ldt[512] PAGE_ALIGNED;
static uint32_t target[2] = { 0xaaaa5555, 0x12344321 };

static uint64_t data_desc(uint32_t base)
{
    return 0xffffull | (uint64_t)(base & 0xffffff) << 16 | (uint64_t)0xb2 << 40 /* P DPL1 data RW */
           | (uint64_t)0xcf << 48 | (uint64_t)(base >> 24) << 56;
}

void guest_main(struct start_info *start)
{
    uint32_t v;
    si = start;
    install_fault_handlers();
    ldt[0] = data_desc((uint32_t)&target[0]);
    check_eq(make_ro(ldt), 0, "LDT page read-only");
    check_eq(mmuext1(MMUEXT_SET_LDT, (uint32_t)ldt + 8, 1), -XEN_EINVAL, "unaligned LDT base");
    check_eq(mmuext1(MMUEXT_SET_LDT, (uint32_t)ldt, 8193), -XEN_EINVAL, "too many entries");
    check_eq(mmuext1(MMUEXT_SET_LDT, (uint32_t)ldt, 2), 0, "SET_LDT");

    /* Selector 0x05: index 0, TI=1 (LDT), RPL 1. */
    __asm__ volatile("movl $0x05, %%eax\n movl %%eax, %%fs\n movl %%fs:0, %0"
                     : "=r"(v) :: "eax", "memory");
    check_eq(v, 0xaaaa5555, "%fs through the LDT");

    check_eq(xen_hypercall4(__HYPERVISOR_update_descriptor,
                            (uint32_t)(((uint64_t)va_to_mfn(ldt) << 12)), 0,
                            (uint32_t)data_desc((uint32_t)&target[1]),
                            (uint32_t)(data_desc((uint32_t)&target[1]) >> 32)),
             0, "update_descriptor of the LDT entry");
    __asm__ volatile("movl $0x05, %%eax\n movl %%eax, %%fs\n movl %%fs:0, %0"
                     : "=r"(v) :: "eax", "memory");
    check_eq(v, 0x12344321, "%fs after update_descriptor");

    /* Index 2 is past the 2-entry table: #GP with the selector (mov %eax,%fs: 2 bytes). */
    uint32_t before = fault_count;
    fault_skip = 2;
    __asm__ volatile("movl $0x15, %%eax\n .byte 0x8e, 0xe0" ::: "eax"); /* mov %eax, %fs */
    check_eq(fault_count, before + 1, "LDT selector past the end faults");
    check_eq(fault_vec, 13, "#GP");
    check_eq(fault_err, 0x14, "#GP error code is the selector");
    __asm__ volatile("movl $0xe021, %%eax\n movl %%eax, %%fs" ::: "eax");
    pass();
}
