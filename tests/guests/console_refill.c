/*
 * console_in: typed input arrives on the PV console ring's `in` side (io/console.h
 * xencons_interface: the backend writes in[in_prod % 1024], advances in_prod and
 * notifies the console event channel; the guest consumes up to in_prod and publishes
 * in_cons). The input is tests/guests/console_in.input (console_in.args), 1500 bytes,
 * more than the 1024-byte ring holds, so the backend must refill it as we consume.
 * Byte i is '\n' when i % 64 == 63, else 'a' + (7 * i) % 26. Once it is all read through
 * the ring, CONSOLEIO_read has nothing more (0).
 */
#define TEST_NAME "console_refill"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-console_refill");

#define TOTAL 1500u

struct xencons_interface {
    char in[1024];
    char out[2048];
    uint32_t in_cons, in_prod;
    uint32_t out_cons, out_prod;
};

static uint8_t expected(uint32_t i)
{
    return i % 64 == 63 ? '\n' : 'a' + (7 * i) % 26;
}

void guest_main(struct start_info *start)
{
    si = start;
    map_shared_info();
    volatile struct xencons_interface *ring = mfn_to_va(si->console_mfn);
    uint32_t port = si->console_evtchn;
    uint32_t got = 0, max_avail = 0;
    uint64_t deadline = system_time_ns() + 5000000000ull;

    while (got < TOTAL) {
        uint32_t cons = ring->in_cons;
        uint32_t prod = ring->in_prod;
        __asm__ volatile ("" ::: "memory");
        uint32_t avail = prod - cons;
        check(avail <= 1024, "in_prod - in_cons within the ring size");
        if (avail > max_avail)
            max_avail = avail;
        while (cons != prod) {
            uint8_t c = ring->in[cons % 1024];
            if (c != expected(got)) {
                xen_puts("at byte ");
                put_dec(got);
                xen_puts(": ");
                check_eq(c, expected(got), "input byte");
            }
            cons++;
            got++;
        }
        __asm__ volatile ("" ::: "memory");
        ring->in_cons = cons;
        HYPERVISOR_event_channel_op(EVTCHNOP_send, &port);
        if (got >= TOTAL)
            break;
        check(system_time_ns() < deadline, "console input did not all arrive in 5 s");
        /* Wait for the backend's notification (events masked: poll). */
        uint32_t ports[1] = { port };
        struct sched_poll sp = { ports, 1, system_time_ns() + 50000000ull };
        HYPERVISOR_sched_op(SCHEDOP_poll, &sp);
        shinfo->evtchn_pending[port / 32] &= ~(1u << (port % 32));
    }
    check_eq(got, TOTAL, "bytes read through the ring");
    check(max_avail <= 1024, "ring never over-filled");
    check_eq(ring->in_prod, TOTAL, "in_prod at the end");

    char buf[16];
    check_eq(xen_hypercall3(__HYPERVISOR_console_io, CONSOLEIO_read, sizeof buf, (long)buf), 0,
             "CONSOLEIO_read after the ring took everything");
    pass();
}
