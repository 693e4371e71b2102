/*
 * evtchn: event channels, 2-level ABI (xen/common/event_channel.c, event_2l.c).
 * A loopback channel (alloc_unbound + bind_interdomain with DOMID_SELF, which notifies the
 * new local port), EVTCHNOP_send
 * delivering an upcall to the event callback with the pending bit, pending_sel and
 * upcall_pending set, a masked port holding its event (pending set, selector untouched)
 * until EVTCHNOP_unmask, status of each kind, close turning the peer unbound, and sends
 * on closed, reserved and unbound ports.
 */
#define TEST_NAME "evtchn"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-evtchn");

static long evtchn_status(uint32_t port, struct evtchn_status *st)
{
    st->dom = DOMID_SELF;
    st->port = port;
    return HYPERVISOR_event_channel_op(EVTCHNOP_status, st);
}

static long send(uint32_t port)
{
    return HYPERVISOR_event_channel_op(EVTCHNOP_send, &port);
}

void guest_main(struct start_info *start)
{
    struct evtchn_status st;
    si = start;
    setup_events();
    events_enable();

    struct evtchn_alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &au), 0, "alloc_unbound");
    uint32_t a = au.port;
    check(a != 0 && a < 64, "alloc_unbound port in range");
    check(a != si->console_evtchn, "new port differs from the console's");
    check_eq(evtchn_status(a, &st), 0, "status of unbound");
    check_eq(st.status, EVTCHNSTAT_unbound, "unbound status");
    uint16_t self_id = st.u.unbound.dom;
    check(self_id < 0x7FF0, "unbound remote is our domain id");

    struct evtchn_bind_interdomain bi = { DOMID_SELF, 0, a, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &bi), 0, "bind_interdomain");
    uint32_t b = bi.local_port;
    check(b != a && b < 64, "bound port");
    /* Binding notifies the new local port, as Xen's evtchn_bind_interdomain does ("we may
     * have lost notifications on the remote unbound port"): one event on b. */
    check_eq(port_hits[b], 1, "bind_interdomain notifies the local port");
    port_hits[b] = 0;
    check_eq(evtchn_status(a, &st), 0, "status a");
    check_eq(st.status, EVTCHNSTAT_interdomain, "a interdomain");
    check_eq(st.u.interdomain.dom, self_id, "a's remote domain");
    check_eq(st.u.interdomain.port, b, "a's remote port");
    check_eq(st.vcpu, 0, "a's vcpu");
    check_eq(evtchn_status(b, &st), 0, "status b");
    check_eq(st.u.interdomain.port, a, "b's remote port");
    /* Binding the same remote port again: it is no longer unbound. */
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &bi), -XEN_EINVAL,
             "bind_interdomain to a bound port");

    /* Send on b: a's event arrives through the upcall. */
    upcalls = 0;
    check_eq(send(b), 0, "send b");
    check_eq(upcalls, 1, "upcall after send");
    check_eq(port_hits[a], 1, "event on a");
    check_eq(upcall_mask_seen, 1, "upcalls masked in the callback");
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_mask, 0, "mask restored by iret");
    check_eq(send(a), 0, "send a");
    check_eq(port_hits[b], 1, "event on b");

    /* Masked port: the pending bit is set, the selector and upcall are not. */
    shinfo->evtchn_mask[0] |= 1u << a;
    check_eq(send(b), 0, "send to masked a");
    check_eq(upcalls, 2, "no upcall for a masked port");
    check((shinfo->evtchn_pending[0] >> a) & 1, "masked port pending");
    check_eq(shinfo->vcpu_info[0].evtchn_pending_sel, 0, "selector untouched");
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_pending, 0, "upcall_pending untouched");
    /* Sending again changes nothing; unmask delivers it once. */
    check_eq(send(b), 0, "send to masked a again");
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &a), 0, "unmask");
    check_eq(upcalls, 3, "upcall after unmask");
    check_eq(port_hits[a], 2, "one more event on a");
    check_eq((shinfo->evtchn_mask[0] >> a) & 1, 0, "unmask cleared the mask bit");
    uint32_t bad = 5000;
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &bad), -XEN_EINVAL, "unmask bad port");

    /* Events masked in vcpu_info: pending survives, delivered on unmask + a hypercall. */
    events_disable();
    check_eq(send(b), 0, "send with upcalls masked");
    check_eq(upcalls, 3, "no upcall while masked");
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_pending, 1, "upcall_pending set");
    events_enable();
    check_eq(upcalls, 4, "upcall once unmasked");
    check_eq(port_hits[a], 3, "third event on a");

    /* Close b: a goes back to unbound; sends on a are dropped (0). */
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_close, &b), 0, "close b");
    check_eq(evtchn_status(b, &st), 0, "status b closed");
    check_eq(st.status, EVTCHNSTAT_closed, "b closed");
    check_eq(evtchn_status(a, &st), 0, "status a after peer close");
    check_eq(st.status, EVTCHNSTAT_unbound, "a unbound again");
    check_eq(send(a), 0, "send on unbound is dropped");
    check_eq(send(b), -XEN_EINVAL, "send on closed");
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_close, &b), -XEN_EINVAL, "close closed");
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_close, &a), 0, "close a");
    uint32_t zero = 0;
    check_eq(send(zero), -XEN_EINVAL, "send on reserved port 0");
    check_eq(evtchn_status(0, &st), 0, "status of port 0");
    check_eq(st.status, EVTCHNSTAT_closed, "port 0 reads closed");
    check_eq(evtchn_status(5000, &st), -XEN_EINVAL, "status of an invalid port");
    check_eq(send(5000), -XEN_EINVAL, "send on an invalid port");
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_close, &bad), -XEN_EINVAL, "close invalid port");
    /* The console channel is interdomain, to the console backend. */
    check_eq(evtchn_status(si->console_evtchn, &st), 0, "status console port");
    check_eq(st.status, EVTCHNSTAT_interdomain, "console port interdomain");
    check_eq(HYPERVISOR_event_channel_op(99, &bad), -XEN_ENOSYS, "unknown evtchn op");
    pass();
}
