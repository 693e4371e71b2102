/*
 * timer: Xen's vCPU timers (xen/common/sched/core.c do_set_timer_op, do_poll;
 * xen/common/domain.c VCPUOP_*_timer; xen/arch/x86/pv/domain.c: periodic_period = 10 ms).
 * The default 10 ms periodic timer raises VIRQ_TIMER; stop_periodic_timer stops it;
 * periods under 1 ms are -EINVAL; set_timer_op + SCHEDOP_block wakes on the timer; a
 * singleshot timer in the past (even with VCPU_SSHOTTMR_future) fires at once and returns 0
 * in 4.17; stop_singleshot_timer cancels; SCHEDOP_poll returns after its timeout, at once
 * for a pending port, and refuses bad arguments.
 */
#define TEST_NAME "timer"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-timer");

#define MS 1000000ull

static uint32_t tp;

static void spin_until(uint64_t t)
{
    while (system_time_ns() < t)
        ;
}

void guest_main(struct start_info *start)
{
    si = start;
    setup_events();
    struct evtchn_bind_virq bv = { VIRQ_TIMER, 0, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &bv), 0, "bind VIRQ_TIMER");
    tp = bv.port;
    events_enable();

    /* The default periodic timer: about 10 ms. */
    port_hits[tp] = 0;
    uint64_t t0 = system_time_ns();
    spin_until(t0 + 55 * MS);
    uint32_t n = port_hits[tp];
    check(n >= 3 && n <= 7, "default periodic timer: 3..7 ticks in 55 ms");

    check_eq(HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, 0), 0, "stop_periodic_timer");
    port_hits[tp] = 0;
    spin_until(system_time_ns() + 30 * MS);
    check_eq(port_hits[tp], 0, "no ticks after stop_periodic_timer");

    uint64_t period = 500000;
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, &period), -XEN_EINVAL,
             "periodic timer under 1 ms");
    period = 2 * MS;
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 1, &period), -XEN_ENOENT,
             "periodic timer of a missing vCPU");
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, &period), 0, "2 ms periodic");
    port_hits[tp] = 0;
    spin_until(system_time_ns() + 21 * MS);
    n = port_hits[tp];
    check(n >= 6 && n <= 12, "2 ms periodic: 6..12 ticks in 21 ms");
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, 0), 0, "stop again");

    /* set_timer_op + block. */
    port_hits[tp] = 0;
    t0 = system_time_ns();
    check_eq(HYPERVISOR_set_timer_op(t0 + 5 * MS), 0, "set_timer_op");
    check_eq(HYPERVISOR_sched_op(SCHEDOP_block, 0), 0, "block");
    uint64_t t1 = system_time_ns();
    check_eq(port_hits[tp], 1, "woken by the timer");
    check(t1 - t0 >= 5 * MS, "block lasted until the timeout");
    check(t1 - t0 < 500 * MS, "block returned reasonably soon");
    /* set_timer_op(0) cancels. */
    check_eq(HYPERVISOR_set_timer_op(system_time_ns() + 3 * MS), 0, "set_timer_op again");
    check_eq(HYPERVISOR_set_timer_op(0), 0, "set_timer_op(0)");
    spin_until(system_time_ns() + 8 * MS);
    check_eq(port_hits[tp], 1, "cancelled timer did not fire");

    /* Singleshot in the past: fires at once, returns 0 (VCPU_SSHOTTMR_future is ignored). */
    struct vcpu_set_singleshot_timer ss = { system_time_ns() - MS, VCPU_SSHOTTMR_future };
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss), 0,
             "singleshot in the past");
    check_eq(port_hits[tp], 2, "past singleshot fired at once");
    ss.timeout_abs_ns = system_time_ns() + 3 * MS;
    ss.flags = 0;
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss), 0, "singleshot");
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_stop_singleshot_timer, 0, 0), 0, "stop singleshot");
    spin_until(system_time_ns() + 8 * MS);
    check_eq(port_hits[tp], 2, "stopped singleshot did not fire");
    ss.timeout_abs_ns = system_time_ns() + 2 * MS;
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss), 0, "singleshot 2 ms");
    spin_until(system_time_ns() + 10 * MS);
    check_eq(port_hits[tp], 3, "singleshot fired");
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 1, &ss), -XEN_ENOENT,
             "singleshot of a missing vCPU");

    /* SCHEDOP_poll, with upcalls masked as a guest does. */
    events_disable();
    uint32_t ports[1] = { tp };
    struct sched_poll sp = { ports, 1, 0 };
    t0 = system_time_ns();
    sp.timeout = t0 + 5 * MS;
    check_eq(HYPERVISOR_sched_op(SCHEDOP_poll, &sp), 0, "poll with timeout");
    t1 = system_time_ns();
    check(t1 - t0 >= 5 * MS, "poll waited for its timeout");
    check(t1 - t0 < 500 * MS, "poll returned after its timeout");
    /* A pending port: at once. */
    struct evtchn_bind_ipi ipi = { 0, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &ipi), 0, "bind_ipi");
    shinfo->evtchn_mask[0] |= 1u << ipi.port;
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, &ipi.port), 0, "send ipi");
    ports[0] = ipi.port;
    t0 = system_time_ns();
    sp.timeout = t0 + 2000 * MS;
    check_eq(HYPERVISOR_sched_op(SCHEDOP_poll, &sp), 0, "poll on a pending port");
    check(system_time_ns() - t0 < 200 * MS, "poll on a pending port returned at once");
    sp.nr_ports = 129;
    check_eq(HYPERVISOR_sched_op(SCHEDOP_poll, &sp), -XEN_EINVAL, "poll 129 ports");
    ports[0] = 5000;
    sp.nr_ports = 1;
    check_eq(HYPERVISOR_sched_op(SCHEDOP_poll, &sp), -XEN_EINVAL, "poll an invalid port");
    sp.ports = (uint32_t *)0x10000000u;
    check_eq(HYPERVISOR_sched_op(SCHEDOP_poll, &sp), -XEN_EFAULT, "poll with a bad list");
    pass();
}
