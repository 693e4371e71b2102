/*
 * console: output through the PV console ring (io/console.h), the way Mini-OS, GRUB and
 * Linux's hvc_xen write: copy into `out`, publish `out_prod`, notify the console event
 * channel (EVTCHNOP_send). The ring page is start_info.console.domU.mfn, mapped in the
 * initial 1:1 region above VIRT_BASE (the p2m is the identity here).
 */
#include "xen-pv32.h"

XEN_TEST_GUEST_NOTES("xdbt-console");

struct xencons_interface {
    char in[1024];
    char out[2048];
    uint32_t in_cons, in_prod;
    uint32_t out_cons, out_prod;
};

static struct xencons_interface *ring;
static uint32_t port;

static void ring_write(const char *s)
{
    uint32_t prod = ring->out_prod;
    while (*s) {
        while (prod - ring->out_cons >= sizeof(ring->out))
            ; /* full: the backend drains on notify */
        ring->out[prod++ & (sizeof(ring->out) - 1)] = *s++;
    }
    __asm__ volatile ("" ::: "memory"); /* data before the index (x86 keeps store order) */
    ring->out_prod = prod;
    xen_hypercall3(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (long)&port, 0);
}

void guest_main(struct start_info *si)
{
    unsigned i;

    ring = (struct xencons_interface *)(0xC0000000u + (si->console_mfn << 12));
    port = si->console_evtchn;
    /* More than one ring's worth, to go round it. */
    for (i = 0; i < 100; i++)
        ring_write("console ring line, going round the 2 KiB ring\n");
    ring_write("XDBT-GUEST console: PASS\n");
    xen_shutdown(SHUTDOWN_poweroff);
}
