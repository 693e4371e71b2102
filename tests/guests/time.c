/*
 * time: vcpu_time_info and the wallclock in shared_info (xen.h; Xen's
 * update_vcpu_system_time / update_domain_wallclock_time in xen/arch/x86/time.c). The
 * record is published before the guest runs (version even, tsc_to_system_mul non-zero);
 * system time from RDTSC is monotonic and agrees with Xen's timers (a 20 ms set_timer_op
 * wakes SCHEDOP_block no earlier than 20 ms of that time later, and within a second); the
 * wallclock is plausible (after 2020); VCPUOP_get_runstate_info says running.
 */
#define TEST_NAME "time"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-time");

#define MS 1000000ull

void guest_main(struct start_info *start)
{
    si = start;
    setup_events();
    volatile struct vcpu_time_info *t = &shinfo->vcpu_info[0].time;
    check((t->version & 1) == 0, "time version even");
    check(t->version != 0, "time record published");
    check(t->tsc_to_system_mul != 0, "tsc_to_system_mul non-zero");
    check(t->tsc_shift >= -31 && t->tsc_shift <= 31, "tsc_shift sane");

    /* Monotonic over many reads. */
    uint64_t prev = system_time_ns();
    for (int i = 0; i < 100000; i++) {
        uint64_t now = system_time_ns();
        if (now < prev)
            fail("system time went backwards");
        prev = now;
    }

    /* Agrees with the timers. */
    /* Stop the 10 ms periodic timer before binding VIRQ_TIMER, or a tick may already be
     * pending when events are enabled. */
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, 0), 0, "stop periodic");
    struct evtchn_bind_virq bv = { VIRQ_TIMER, 0, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &bv), 0, "bind VIRQ_TIMER");
    events_enable();
    uint64_t t0 = system_time_ns();
    check_eq(HYPERVISOR_set_timer_op(t0 + 20 * MS), 0, "set_timer_op");
    check_eq(HYPERVISOR_sched_op(SCHEDOP_block, 0), 0, "block");
    uint64_t t1 = system_time_ns();
    check_eq(port_hits[bv.port], 1, "timer event");
    check(t1 >= t0 + 20 * MS, "woke no earlier than the timeout");
    check(t1 < t0 + 1000 * MS, "woke within a second");
    check((t->version & 1) == 0, "time version even after block");

    /* Wallclock. */
    check((shinfo->wc_version & 1) == 0, "wc_version even");
    check(shinfo->wc_sec > 1577836800u, "wallclock after 2020");
    check(shinfo->wc_nsec < 1000000000u, "wc_nsec below a second");

    /* Runstate: running, entered in the past. */
    struct vcpu_runstate_info rs;
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_get_runstate_info, 0, &rs), 0, "get_runstate_info");
    check_eq(rs.state, 0, "RUNSTATE_running");
    check(rs.state_entry_time <= system_time_ns(), "runstate entry time in the past");
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_is_up, 0, 0), 1, "vCPU 0 is up");
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, 0), -XEN_ENOENT, "vCPU 1 does not exist");
    pass();
}
