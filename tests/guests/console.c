/*
 * console: output through the PV console ring (io/console.h), the way Mini-OS, GRUB and
 * Linux's hvc_xen write: copy into `out`, publish `out_prod`, notify the console event
 * channel (EVTCHNOP_send). The ring page is start_info.console.domU.mfn, mapped in the
 * initial mapping above VIRT_BASE, at the pfn the M2P gives for it.
 */
#include "xen-pv32.h"

XEN_TEST_GUEST_NOTES("xdbt-console");

struct xencons_interface {
    char in[1024];
    char out[2048];
    uint32_t in_cons, in_prod;
    uint32_t out_cons, out_prod;
};

/* Volatile: the backend moves out_cons behind the compiler's back. */
static volatile struct xencons_interface *ring;
static uint32_t port;

static void ring_write(const char *s)
{
    uint32_t prod = ring->out_prod;
    while (*s) {
        while (prod - ring->out_cons >= sizeof(ring->out)) {
            /* Full: publish what is there, kick the backend, let it run. */
            ring->out_prod = prod;
            xen_hypercall3(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (long)&port, 0);
            xen_hypercall3(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
        }
        ring->out[prod++ & (sizeof(ring->out) - 1)] = *s++;
    }
    __asm__ volatile ("" ::: "memory"); /* data before the index (x86 keeps store order) */
    ring->out_prod = prod;
    xen_hypercall3(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (long)&port, 0);
}

void guest_main(struct start_info *si)
{
    unsigned i;

    /* The ring's frame is a machine frame: its virtual address comes through the M2P. */
    uint32_t pfn = ((volatile uint32_t *)0xF5800000u)[si->console_mfn];
    ring = (volatile struct xencons_interface *)(0xC0000000u + (pfn << 12));
    port = si->console_evtchn;
    /* More than one ring's worth, to go round it. */
    for (i = 0; i < 100; i++)
        ring_write("console ring line, going round the 2 KiB ring\n");
    ring_write("XDBT-GUEST console: PASS\n");
    xen_shutdown(SHUTDOWN_poweroff);
}
