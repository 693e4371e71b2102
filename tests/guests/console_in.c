/*
 * console_in: typed input reaches the guest through the input side of the PV console ring
 * (io/console.h: in[], in_cons, in_prod), as xenconsoled puts what the user types there.
 * Run with `--console-input tests/guests/console_in.input` (tests/guests/console_in.args);
 * the guest polls the ring, echoes the line back through the output side and checks it.
 */
#define TEST_NAME "console_in"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-console-in");

struct xencons_interface {
    char in[1024];
    char out[2048];
    uint32_t in_cons, in_prod;
    uint32_t out_cons, out_prod;
};

void guest_main(struct start_info *start)
{
    static const char want[] = "typed at the console";
    char line[64];
    unsigned n = 0, spins = 0;
    si = start;
    volatile struct xencons_interface *ring =
        (void *)(VIRT_BASE + (m2p()[si->console_mfn] << 12));
    for (;;) {
        uint32_t cons = ring->in_cons, prod = ring->in_prod;
        __asm__ volatile("" ::: "memory");
        if (cons == prod) {
            /* Nothing yet: give the host a chance (xenconsoled would send an event). */
            HYPERVISOR_sched_op(SCHEDOP_yield, 0);
            check(++spins < 1000000, "no input arrived");
            continue;
        }
        char c = ring->in[cons & 1023];
        ring->in_cons = cons + 1;
        if (c == '\n')
            break;
        check(n < sizeof line - 1, "line too long");
        line[n++] = c;
    }
    line[n] = 0;
    check(n == sizeof want - 1, "line length");
    for (unsigned i = 0; i < n; i++)
        check(line[i] == want[i], "line contents");
    xen_puts("read from the console: ");
    xen_puts(line);
    xen_puts("\n");
    pass();
}
