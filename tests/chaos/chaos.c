/*
 * chaos: a hostile PV32 guest for tests/pv_chaos.rs. It makes thousands of hypercalls with
 * random numbers and arguments (seeded from the command line): zero, small integers, wild
 * and hypervisor-area pointers, and pointers into a scratch area full of random bytes, so
 * that every structure a hypercall reads is garbage. Random page-table updates may well
 * unmap the guest from under itself: a guest may crash itself, but the host must survive
 * (exit status 0 or 1, never a host crash or a hang). Hypercalls that only put the vCPU to
 * sleep or end the domain on purpose are left out.
 */
#include "xen-pv32.h"

XEN_TEST_GUEST_NOTES("xdbt-chaos");

static uint32_t state;

static uint32_t rnd(void)
{
    /* xorshift32 */
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

static uint8_t scratch[4 * 4096] __attribute__((aligned(4096)));

static long arg(void)
{
    switch (rnd() % 8) {
    case 0:
        return 0;
    case 1:
        return rnd() % 64;
    case 2:
        return 0xF5800000u + (rnd() % 0x800000u); /* M2P / hypervisor hole */
    case 3:
        return rnd(); /* anywhere */
    case 4:
        return 0x7ff0; /* DOMID_SELF */
    default:
        return (long)(scratch + rnd() % (sizeof scratch - 64));
    }
}

void guest_main(struct start_info *si)
{
    const char *p = si->cmd_line;
    unsigned calls = 0, i;
    state = 1;
    while (*p >= '0' && *p <= '9')
        state = state * 10 + (uint32_t)(*p++ - '0');
    if (!state)
        state = 1;
    for (i = 0; i < 3000; i++) {
        uint32_t nr = rnd() % 52;
        long a1 = arg(), a2 = arg(), a3 = arg(), a4 = arg(), a5 = arg();
        for (unsigned k = 0; k < 64; k++)
            scratch[rnd() % sizeof scratch] = (uint8_t)rnd();
        switch (nr) {
        case 6:  /* sched_op_compat: block / shutdown */
        case 23: /* iret: a random frame */
            continue;
        case 29: /* sched_op: only yield */
            a1 = 0;
            break;
        case 14: /* update_va_mapping(_otherdomain): aim at addresses the guest does not */
        case 22: /* live in, or it only ever unmaps its own scratch area */
            a1 = (rnd() & 1) ? 0x10000000 + (rnd() % 0x10000) * 4096 : 0xF5800000 + rnd() % 0x800000;
            break;
        case 15: /* set_timer_op: fine, but keep it from waking us constantly */
            a1 = 0;
            a2 = 0;
            break;
        default:
            break;
        }
        xen_hypercall5(nr, a1, a2, a3, a4, a5);
        calls++;
    }
    xen_puts("XDBT-GUEST chaos: PASS\n");
    xen_shutdown(SHUTDOWN_poweroff);
}
