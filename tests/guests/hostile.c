/*
 * hostile: wild pointers and counts in pointer-taking hypercalls give errors, never a
 * crash or a hang: NULL, an unmapped page and the hypervisor area (0xF6000000) as
 * argument pointers are -EFAULT (copy_from_guest failing, or guest_handle_okay for
 * arrays); huge counts are refused or stop at the first unreadable element.
 */
#define TEST_NAME "hostile"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-hostile");

static const uint32_t wild[] = { 0, 0x10000000u, 0xF6000000u };

void guest_main(struct start_info *start)
{
    si = start;
    for (unsigned i = 0; i < 3; i++) {
        long p = wild[i];
        check_eq(HYPERVISOR_mmu_update((struct mmu_update *)p, 1, 0, DOMID_SELF), -XEN_EFAULT,
                 "mmu_update list");
        check_eq(HYPERVISOR_mmuext_op((struct mmuext_op *)p, 1, 0, DOMID_SELF), -XEN_EFAULT,
                 "mmuext_op list");
        check_eq(HYPERVISOR_multicall((struct multicall_entry *)p, 1), -XEN_EFAULT,
                 "multicall list");
        /* do_set_trap_table: a NULL table clears the trap table (0). */
        check_eq(HYPERVISOR_set_trap_table((const struct trap_info *)p), p ? -XEN_EFAULT : 0,
                 "set_trap_table");
        check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, (void *)p), -XEN_EFAULT,
                 "evtchn alloc_unbound");
        check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, (void *)p), -XEN_EFAULT,
                 "evtchn send");
        check_eq(HYPERVISOR_sched_op(SCHEDOP_shutdown, (void *)p), -XEN_EFAULT,
                 "sched_op shutdown");
        check_eq(HYPERVISOR_sched_op(SCHEDOP_poll, (void *)p), -XEN_EFAULT, "sched_op poll");
        check_eq(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, (void *)p), -XEN_EFAULT,
                 "vcpu_op singleshot");
        check_eq(HYPERVISOR_vcpu_op(VCPUOP_get_runstate_info, 0, (void *)p), -XEN_EFAULT,
                 "vcpu_op runstate");
        check_eq(HYPERVISOR_memory_op(XENMEM_current_reservation, (void *)p), -XEN_EFAULT,
                 "memory_op current_reservation");
        check_eq(HYPERVISOR_memory_op(XENMEM_machphys_mapping, (void *)p), -XEN_EFAULT,
                 "memory_op machphys_mapping");
        check_eq(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, (void *)p, 1), -XEN_EFAULT,
                 "grant setup_table");
        check_eq(HYPERVISOR_grant_table_op(GNTTABOP_query_size, (void *)p, 1), -XEN_EFAULT,
                 "grant query_size");
        check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_extraversion, p, 0),
                 -XEN_EFAULT, "xen_version extraversion");
        check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_get_features, p, 0),
                 -XEN_EFAULT, "xen_version get_features");
        check_eq(xen_hypercall3(__HYPERVISOR_console_io, CONSOLEIO_write, 16, p), -XEN_EFAULT,
                 "console_io write");
        check_eq(xen_hypercall3(__HYPERVISOR_callback_op, CALLBACKOP_register, p, 0),
                 -XEN_EFAULT, "callback_op");
        check_eq(xen_hypercall3(__HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, p, 0),
                 -XEN_EFAULT, "physdev_op set_iopl");
    }
    /* Huge counts: an error, not a hang. */
    static struct mmu_update one[1];
    one[0].ptr = 0xFFFFFFFull << 12; /* not ours: stops at the first element */
    check(HYPERVISOR_mmu_update(one, 0x7fffffff, 0, DOMID_SELF) < 0, "mmu_update huge count");
    static struct mmuext_op eo[1] = { { 99, 0, 0 } };
    check(HYPERVISOR_mmuext_op(eo, 0x7fffffff, 0, DOMID_SELF) < 0, "mmuext_op huge count");
    pass();
}
