/*
 * callbacks: CALLBACKOP_register/unregister, set_callbacks and nmi_op as Xen 4.17 answers a
 * PV32 guest (xen/arch/x86/pv/callback.c: compat_callback_op,
 * compat_register_guest_callback, compat_unregister_guest_callback, compat_set_callbacks,
 * compat_nmi_op). The event callback registered through CALLBACKOP_register is the one an
 * event is delivered to; registering it again moves it; set_callbacks moves it back.
 */
#define TEST_NAME "callback_op"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-callback_op");

#define CALLBACKTYPE_syscall   2
#define CALLBACKTYPE_sysenter_deprecated 3
#define CALLBACKTYPE_sysenter  5
#define CALLBACKTYPE_syscall32 7

static long cb_register(uint16_t type, uint16_t flags, void (*eip)(void))
{
    struct callback_register r = { type, flags, FLAT_RING1_CS, (uint32_t)eip };
    return xen_hypercall3(__HYPERVISOR_callback_op, CALLBACKOP_register, (long)&r, 0);
}

static long cb_unregister(uint16_t type)
{
    struct { uint16_t type, unused; } u = { type, 0 };
    return xen_hypercall3(__HYPERVISOR_callback_op, CALLBACKOP_unregister, (long)&u, 0);
}

/* A second event entry: counts, then runs the common handler. */
volatile uint32_t alt_hits;
void alt_event_entry(void);
__asm__(".text\n alt_event_entry:\n"
        " incl alt_hits\n"
        " jmp event_entry\n");

void dummy_entry(void);
__asm__(".text\n dummy_entry:\n jmp hypercall_page + 23*32\n");

static uint32_t ipi_port;

static void kick(void)
{
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, &ipi_port), 0, "send ipi");
}

void guest_main(struct start_info *start)
{
    si = start;
    map_shared_info();

    /* CALLBACKOP_register of the event callback: events go there. */
    check_eq(cb_register(CALLBACKTYPE_event, 0, alt_event_entry), 0, "register event");
    check_eq(cb_register(CALLBACKTYPE_failsafe, CALLBACKF_mask_events, failsafe_entry), 0,
             "register failsafe (mask_events)");
    check_eq(cb_register(CALLBACKTYPE_failsafe, 0, failsafe_entry), 0, "register failsafe");
    struct evtchn_bind_ipi ipi = { 0, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &ipi), 0, "bind_ipi");
    ipi_port = ipi.port;
    events_enable();
    kick();
    check_eq(upcalls, 1, "upcall through the registered callback");
    check_eq(alt_hits, 1, "registered entry ran");
    check_eq(port_hits[ipi_port], 1, "ipi seen");

    /* set_callbacks replaces it (compat_set_callbacks always returns 0). */
    check_eq(HYPERVISOR_set_callbacks(event_entry, failsafe_entry), 0, "set_callbacks");
    kick();
    check_eq(upcalls, 2, "upcall after set_callbacks");
    check_eq(alt_hits, 1, "old entry no longer used");
    /* A selector with RPL 0 is fixed up to RPL 1 (fixup_guest_code_selector), not refused. */
    check_eq(xen_hypercall4(__HYPERVISOR_set_callbacks, FLAT_RING1_CS & ~3,
                            (long)alt_event_entry, FLAT_RING1_CS, (long)failsafe_entry), 0,
             "set_callbacks with an RPL-0 selector");
    kick();
    check_eq(upcalls, 3, "upcall through the fixed-up selector");
    check_eq(alt_hits, 2, "RPL-0 registered entry ran");

    /* syscall32 and sysenter callbacks are accepted (with and without mask_events). */
    check_eq(cb_register(CALLBACKTYPE_syscall32, CALLBACKF_mask_events, dummy_entry), 0,
             "register syscall32");
    check_eq(cb_register(CALLBACKTYPE_sysenter, 0, dummy_entry), 0, "register sysenter");
    /* Types a compat guest may not use: default case, -ENOSYS. */
    check_eq(cb_register(CALLBACKTYPE_syscall, 0, dummy_entry), -XEN_ENOSYS,
             "register syscall (64-bit only)");
    check_eq(cb_register(CALLBACKTYPE_sysenter_deprecated, 0, dummy_entry), -XEN_ENOSYS,
             "register sysenter_deprecated");
    check_eq(cb_register(99, 0, dummy_entry), -XEN_ENOSYS, "register unknown type");

    /* Unregister: only the NMI callback can go; the others are -EINVAL. */
    check_eq(cb_unregister(CALLBACKTYPE_event), -XEN_EINVAL, "unregister event");
    check_eq(cb_unregister(CALLBACKTYPE_failsafe), -XEN_EINVAL, "unregister failsafe");
    check_eq(cb_unregister(CALLBACKTYPE_syscall32), -XEN_EINVAL, "unregister syscall32");
    check_eq(cb_unregister(CALLBACKTYPE_sysenter), -XEN_EINVAL, "unregister sysenter");
    check_eq(cb_unregister(99), -XEN_ENOSYS, "unregister unknown type");
    check_eq(cb_register(CALLBACKTYPE_nmi, 0, dummy_entry), 0, "register nmi");
    check_eq(cb_unregister(CALLBACKTYPE_nmi), 0, "unregister nmi");
    check_eq(cb_unregister(CALLBACKTYPE_nmi), 0, "unregister nmi twice");

    /* Unknown callback_op command: -EINVAL; a bad argument pointer: -EFAULT. */
    check_eq(xen_hypercall3(__HYPERVISOR_callback_op, 7, 0, 0), -XEN_EINVAL,
             "unknown callback_op");
    check_eq(xen_hypercall3(__HYPERVISOR_callback_op, CALLBACKOP_register, 0x10000000, 0),
             -XEN_EFAULT, "register from a bad pointer");
    check_eq(xen_hypercall3(__HYPERVISOR_callback_op, CALLBACKOP_unregister, 0x10000000, 0),
             -XEN_EFAULT, "unregister from a bad pointer");

    /* nmi_op: register/unregister, unknown command -ENOSYS, bad pointer -EFAULT. */
    uint32_t handler = (uint32_t)dummy_entry;
    check_eq(xen_hypercall3(__HYPERVISOR_nmi_op, XENNMI_register_callback, (long)&handler, 0), 0,
             "nmi_op register");
    check_eq(xen_hypercall3(__HYPERVISOR_nmi_op, XENNMI_unregister_callback, 0, 0), 0,
             "nmi_op unregister");
    check_eq(xen_hypercall3(__HYPERVISOR_nmi_op, XENNMI_register_callback, 0x10000000, 0),
             -XEN_EFAULT, "nmi_op register from a bad pointer");
    check_eq(xen_hypercall3(__HYPERVISOR_nmi_op, 5, 0, 0), -XEN_ENOSYS, "nmi_op unknown");

    /* Events still arrive through the current callback. */
    kick();
    check_eq(upcalls, 4, "upcall at the end");
    pass();
}
