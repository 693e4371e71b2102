/*
 * misc_ops: small hypercalls as Xen 4.17 answers a PV32 domU: memory_op queries
 * (xen/common/memory.c, xen/arch/x86/x86_64/compat/mm.c), sched_op_compat, console_io read
 * with no input, set_segment_base (64-bit only), platform_op (-EPERM), unknown hypercall
 * numbers (-ENOSYS).
 */
#define TEST_NAME "misc_ops"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-misc_ops");

void guest_main(struct start_info *start)
{
    si = start;
    uint16_t self = DOMID_SELF;
    check_eq(HYPERVISOR_memory_op(XENMEM_current_reservation, &self), si->nr_pages,
             "current_reservation");
    long maxr = HYPERVISOR_memory_op(XENMEM_maximum_reservation, &self);
    check(maxr >= (long)si->nr_pages, "maximum_reservation >= current");
    uint16_t bad = 0x7FEF;
    check_eq(HYPERVISOR_memory_op(XENMEM_current_reservation, &bad), -XEN_ESRCH,
             "current_reservation of an unknown domain");
    long mrp = HYPERVISOR_memory_op(XENMEM_maximum_ram_page, 0);
    check(mrp >= (long)si->nr_pages, "maximum_ram_page covers our memory");
    struct xen_machphys_mapping mm = { 0, 0, 0 };
    check_eq(HYPERVISOR_memory_op(XENMEM_machphys_mapping, &mm), 0, "machphys_mapping");
    check_eq(mm.v_start, MACH2PHYS_VIRT_START, "M2P starts at 0xF5800000");
    check(mm.v_end > mm.v_start && mm.v_end <= 0xFFFFFFFFu, "M2P end");
    check(mm.max_mfn + 1 >= (mm.v_end - mm.v_start) / 4 - 1, "max_mfn matches the M2P size");
    static struct e820entry map[8];
    struct xen_memory_map mmap = { 8, map };
    check_eq(HYPERVISOR_memory_op(XENMEM_memory_map, &mmap), 0, "memory_map");
    check(mmap.nr_entries >= 1, "memory_map entries");
    check_eq(map[0].type, 1, "first entry is RAM");
    check((uint32_t)map[0].addr == 0, "RAM from 0");
    check(map[0].size >= (uint64_t)si->nr_pages * 4096, "RAM covers our pages");
    check_eq(HYPERVISOR_memory_op(99, 0), -XEN_ENOSYS, "memory_op 99");

    /* sched_op_compat: yield, and an unknown command. */
    check_eq(xen_hypercall3(__HYPERVISOR_sched_op_compat, SCHEDOP_yield, 0, 0), 0,
             "sched_op_compat yield");
    check_eq(xen_hypercall3(__HYPERVISOR_sched_op_compat, 99, 0, 0), -XEN_ENOSYS,
             "sched_op_compat 99");
    check_eq(HYPERVISOR_sched_op(SCHEDOP_yield, 0), 0, "sched_op yield");
    check_eq(HYPERVISOR_sched_op(99, 0), -XEN_ENOSYS, "sched_op 99");

    /* console_io read with no input pending: 0 characters. */
    static char in[16];
    check_eq(xen_hypercall3(__HYPERVISOR_console_io, CONSOLEIO_read, sizeof(in), (long)in), 0,
             "console_io read");
    check_eq(xen_hypercall3(__HYPERVISOR_console_io, 7, 0, 0), -XEN_ENOSYS, "console_io op 7");

    check_eq(xen_hypercall3(__HYPERVISOR_set_segment_base, 0, 0, 0), -XEN_ENOSYS,
             "set_segment_base");
    check_eq(xen_hypercall3(__HYPERVISOR_platform_op, 0, 0, 0), -XEN_EPERM, "platform_op");
    check_eq(xen_hypercall3(63, 0, 0, 0), -XEN_ENOSYS, "hypercall 63");
    check_eq(xen_hypercall3(11, 0, 0, 0), -XEN_ENOSYS, "hypercall 11");
    check_eq(xen_hypercall3(__HYPERVISOR_xsm_op, 0, 0, 0), -XEN_ENOSYS, "xsm_op");
    pass();
}
