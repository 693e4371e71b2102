/*
 * pv32-crash: a 32-bit PV guest that crashes on purpose. It registers no trap table and
 * writes to linear address 0, which its page tables leave unmapped: the page fault has no
 * handler, so Xen crashes the domain (natively, and as the translator does in Xen).
 */
#include "xen-pv32.h"

XEN_TEST_GUEST_NOTES("xdbt-pv32-crash");

void guest_main(struct start_info *si)
{
    (void)si;
    xen_puts("pv32-crash: writing to address 0\n");
    *(volatile unsigned *)0 = 0xdead;
    xen_puts("XDBT-GUEST pv32-crash: FAIL still running\n");
    xen_shutdown(SHUTDOWN_poweroff);
}
