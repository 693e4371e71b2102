/* hello: boots, checks start_info and xen_version, prints through console_io, powers off. */
#include "xen-pv32.h"

XEN_TEST_GUEST_NOTES("xdbt-hello");

void guest_main(struct start_info *si)
{
    static const char magic[] = "xen-3.0-x86_32p";
    unsigned i;
    long v;
    char caps[1024];

    for (i = 0; i < sizeof(magic) - 1; i++)
        if (si->magic[i] != magic[i]) {
            xen_puts("XDBT-GUEST hello: FAIL start_info magic\n");
            xen_shutdown(SHUTDOWN_crash);
        }
    v = xen_hypercall3(__HYPERVISOR_xen_version, XENVER_version, 0, 0);
    if (v >> 16 != 4) {
        xen_puts("XDBT-GUEST hello: FAIL xen_version\n");
        xen_shutdown(SHUTDOWN_crash);
    }
    xen_hypercall3(__HYPERVISOR_xen_version, XENVER_capabilities, (long)caps, 0);
    xen_puts("hello from a PV32 guest on ");
    xen_puts(caps);
    xen_puts("\nXDBT-GUEST hello: PASS\n");
    xen_shutdown(SHUTDOWN_poweroff);
}
