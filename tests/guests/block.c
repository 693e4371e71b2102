/*
 * block: SCHEDOP_block as Xen implements it (do_sched_op -> vcpu_block_enable_events in
 * xen/common/sched/core.c): it unmasks event delivery, and returns at once when an event
 * is already pending, so a guest that checks for work with events masked and then blocks
 * never loses a wake-up. The pending event is then delivered to the event callback. A
 * singleshot timer (set_timer_op) wakes a blocked vCPU with VIRQ_TIMER.
 */
#define TEST_NAME "block"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-block");

void guest_main(struct start_info *start)
{
    si = start;
    setup_events();

    struct evtchn_alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &au), 0, "alloc_unbound");
    struct evtchn_bind_interdomain bi = { DOMID_SELF, 0, au.port, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &bi), 0,
             "bind_interdomain");
    uint32_t a = au.port, b = bi.local_port;
    /* The 10 ms periodic timer would wake us too: stop it before binding VIRQ_TIMER, so
     * that only our timer counts. */
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, 0), 0, "stop periodic");
    struct evtchn_bind_virq bv = { VIRQ_TIMER, 0, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &bv), 0, "bind VIRQ_TIMER");

    /* Masked: the send leaves the event pending, no upcall. */
    events_disable();
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, &a), 0, "send");
    check_eq(port_hits[b], 0, "no upcall while masked");
    check(shinfo->vcpu_info[0].evtchn_upcall_pending, "upcall pending while masked");
    /* Blocking with an event pending returns at once and unmasks: the upcall follows. */
    check_eq(HYPERVISOR_sched_op(SCHEDOP_block, 0), 0, "block with an event pending");
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_mask, 0, "block unmasked events");
    check_eq(port_hits[b], 1, "the pending event was delivered");

    /* Nothing pending: a timer 20 ms ahead wakes the blocked vCPU. */
    uint64_t t0 = system_time_ns();
    check_eq(HYPERVISOR_set_timer_op(t0 + 20000000ull), 0, "set_timer_op");
    while (port_hits[bv.port] == 0)
        check_eq(HYPERVISOR_sched_op(SCHEDOP_block, 0), 0, "block");
    uint64_t slept = system_time_ns() - t0;
    check(slept >= 20000000ull, "woke before the timer");
    check(slept < 2000000000ull, "slept far too long");
    pass();
}
