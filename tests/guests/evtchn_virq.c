/*
 * evtchn_virq: EVTCHNOP_bind_virq and bind_ipi (xen/common/event_channel.c): VIRQ_TIMER
 * bound twice (-EEXIST), to a vCPU that does not exist (-ENOENT), a VIRQ number out of range
 * (-EINVAL), a global VIRQ on vCPU 1 (-EINVAL); status of VIRQ and IPI ports; an IPI to
 * ourselves arrives as an upcall; sends on a VIRQ port are refused; bind_vcpu (refused for a
 * per-vCPU VIRQ, -ENOENT for a missing vCPU); closing a
 * VIRQ port lets it be bound again.
 */
#define TEST_NAME "evtchn_virq"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-evtchn_virq");

static long op(unsigned cmd, void *arg)
{
    return HYPERVISOR_event_channel_op(cmd, arg);
}

void guest_main(struct start_info *start)
{
    struct evtchn_status st;
    si = start;
    setup_events();
    events_enable();

    struct evtchn_bind_virq bv = { VIRQ_TIMER, 0, 0 };
    check_eq(op(EVTCHNOP_bind_virq, &bv), 0, "bind_virq TIMER");
    uint32_t tp = bv.port;
    check(tp > 0 && tp < 64, "timer port in range");
    check_eq(op(EVTCHNOP_bind_virq, &bv), -XEN_EEXIST, "bind_virq TIMER twice");
    struct evtchn_bind_virq bv1 = { VIRQ_TIMER, 1, 0 };
    check_eq(op(EVTCHNOP_bind_virq, &bv1), -XEN_ENOENT, "bind_virq on vCPU 1");
    struct evtchn_bind_virq bvbig = { 24, 0, 0 };
    check_eq(op(EVTCHNOP_bind_virq, &bvbig), -XEN_EINVAL, "bind_virq 24");
    struct evtchn_bind_virq bvcons = { VIRQ_CONSOLE, 1, 0 };
    check_eq(op(EVTCHNOP_bind_virq, &bvcons), -XEN_EINVAL, "global VIRQ on vCPU 1");
    st.dom = DOMID_SELF;
    st.port = tp;
    check_eq(op(EVTCHNOP_status, &st), 0, "status virq");
    check_eq(st.status, EVTCHNSTAT_virq, "virq status");
    check_eq(st.u.virq, VIRQ_TIMER, "virq number");
    check_eq(st.vcpu, 0, "virq vcpu");
    check_eq(op(EVTCHNOP_send, &tp), -XEN_EINVAL, "send on a VIRQ port");
    struct { uint32_t port, vcpu; } bvc = { tp, 0 };
    check_eq(op(EVTCHNOP_bind_vcpu, &bvc), -XEN_EINVAL, "bind_vcpu of a per-vCPU VIRQ");
    bvc.vcpu = 3;
    check_eq(op(EVTCHNOP_bind_vcpu, &bvc), -XEN_ENOENT, "bind_vcpu to a missing vCPU");

    /* IPI to ourselves. */
    struct evtchn_bind_ipi ipi = { 0, 0 };
    check_eq(op(EVTCHNOP_bind_ipi, &ipi), 0, "bind_ipi");
    uint32_t ip = ipi.port;
    check(ip != tp && ip < 64, "ipi port");
    struct evtchn_bind_ipi ipi1 = { 1, 0 };
    check_eq(op(EVTCHNOP_bind_ipi, &ipi1), -XEN_ENOENT, "bind_ipi to vCPU 1");
    st.port = ip;
    check_eq(op(EVTCHNOP_status, &st), 0, "status ipi");
    check_eq(st.status, EVTCHNSTAT_ipi, "ipi status");
    upcalls = 0;
    check_eq(op(EVTCHNOP_send, &ip), 0, "send ipi");
    check_eq(upcalls, 1, "ipi upcall");
    check_eq(port_hits[ip], 1, "ipi event");
    /* The event_channel_op_compat form (hypercall 16: a struct with the command first). */
    struct { uint32_t cmd; uint32_t port; } compat = { EVTCHNOP_send, ip };
    check_eq(xen_hypercall3(__HYPERVISOR_event_channel_op_compat, (long)&compat, 0, 0), 0,
             "event_channel_op_compat send");
    check_eq(port_hits[ip], 2, "ipi event via compat op");

    /* Close the VIRQ port: VIRQ_TIMER can be bound again. */
    check_eq(op(EVTCHNOP_close, &tp), 0, "close virq");
    bv.port = 0;
    check_eq(op(EVTCHNOP_bind_virq, &bv), 0, "bind_virq after close");
    check_eq(op(EVTCHNOP_close, &ip), 0, "close ipi");
    /* bind_pirq of a PIRQ we were not given is refused. */
    struct { uint32_t pirq, flags, port; } bp = { 1, 0, 0 };
    long r = op(EVTCHNOP_bind_pirq, &bp);
    check(r < 0, "bind_pirq refused");
    pass();
}
