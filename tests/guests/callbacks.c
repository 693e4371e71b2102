/*
 * callbacks: the registration calls a PV kernel makes at boot and their refusals, as Xen
 * answers them: callback_op register of the event, failsafe and NMI callbacks, unregister
 * of the event/failsafe ones (-EINVAL: they cannot be removed, arch/x86/pv/callback.c), an
 * unknown type (-ENOSYS), an unknown command (-EINVAL); nmi_op register/unregister
 * (xen/arch/x86/pv/callback.c do_nmi_op); set/get_debugreg (set_debugreg in
 * xen/arch/x86/pv/misc-hypercalls.c): DR0-3 take guest addresses, DR4 is DR6 while CR4.DE
 * is clear, DR8 does not exist, DR7 with reserved bits is refused, DR6 keeps its fixed ones.
 */
#define TEST_NAME "callbacks"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-callbacks");

#define CALLBACKTYPE_syscall32 7
#define XENNMI_register_callback 0
#define XENNMI_unregister_callback 1

static long callback_op(unsigned cmd, void *arg)
{
    return xen_hypercall3(__HYPERVISOR_callback_op, cmd, (long)arg, 0);
}

static void handler(void) {}

void guest_main(struct start_info *start)
{
    si = start;
    struct callback_register cb = { CALLBACKTYPE_event, 0, FLAT_RING1_CS, (uint32_t)handler };
    check_eq(callback_op(CALLBACKOP_register, &cb), 0, "register event callback");
    cb.type = CALLBACKTYPE_failsafe;
    check_eq(callback_op(CALLBACKOP_register, &cb), 0, "register failsafe callback");
    cb.type = CALLBACKTYPE_nmi;
    check_eq(callback_op(CALLBACKOP_register, &cb), 0, "register NMI callback");
    cb.type = 99;
    /* compat_register_guest_callback: an unknown type is -ENOSYS. */
    check_eq(callback_op(CALLBACKOP_register, &cb), -XEN_ENOSYS, "unknown callback type");

    struct { uint16_t type, pad; } un = { CALLBACKTYPE_event, 0 };
    check_eq(callback_op(CALLBACKOP_unregister, &un), -XEN_EINVAL, "event callback stays");
    un.type = CALLBACKTYPE_failsafe;
    check_eq(callback_op(CALLBACKOP_unregister, &un), -XEN_EINVAL, "failsafe callback stays");
    un.type = CALLBACKTYPE_nmi;
    check_eq(callback_op(CALLBACKOP_unregister, &un), 0, "NMI callback unregistered");
    /* compat_callback_op: an unknown command is -EINVAL. */
    check_eq(callback_op(7, &un), -XEN_EINVAL, "unknown callback_op");
    check_eq(callback_op(CALLBACKOP_register, (void *)0xF5900000), -XEN_EFAULT,
             "callback_op from the hypervisor hole");

    check_eq(xen_hypercall3(__HYPERVISOR_nmi_op, XENNMI_register_callback, (long)handler, 0),
             0, "nmi_op register");
    check_eq(xen_hypercall3(__HYPERVISOR_nmi_op, XENNMI_unregister_callback, 0, 0), 0,
             "nmi_op unregister");

    check_eq(xen_hypercall3(__HYPERVISOR_set_debugreg, 0, 0xc0001000, 0), 0, "DR0");
    check_eq(xen_hypercall3(__HYPERVISOR_get_debugreg, 0, 0, 0), (long)0xc0001000, "DR0 back");
    check_eq(xen_hypercall3(__HYPERVISOR_set_debugreg, 3, 0x12345678, 0), 0, "DR3");
    check_eq(xen_hypercall3(__HYPERVISOR_get_debugreg, 3, 0, 0), 0x12345678, "DR3 back");
    /* DR4 is DR6 while CR4.DE is clear (set_debugreg, pv/misc-hypercalls.c). */
    check_eq(xen_hypercall3(__HYPERVISOR_set_debugreg, 4, 0xffff0ff0, 0), 0,
             "DR4 aliases DR6");
    check(xen_hypercall3(__HYPERVISOR_set_debugreg, 8, 0, 0) < 0, "DR8 refused");
    check_eq((uint32_t)xen_hypercall3(__HYPERVISOR_get_debugreg, 6, 0, 0) & 0xffff0ff0u,
             0xffff0ff0u, "DR6 fixed ones");
    check(xen_hypercall3(__HYPERVISOR_set_debugreg, 7, 0xffffffff, 0) < 0,
          "DR7 with reserved bits refused");
    pass();
}
