/*
 * fpu: lazy FPU switching. With the virtual CR0.TS set (HYPERVISOR_fpu_taskswitch), the next
 * x87 and the next SSE instruction raise #NM; Xen clears TS when it bounces #NM, so the
 * handler just returns and the instruction runs again, with its result intact.
 */
#include "xen-pv32.h"

XEN_TEST_GUEST_NOTES("xdbt-fpu");

volatile uint32_t nm_count;

void trap_nm(void);
__asm__(".text\n trap_nm:\n"
        " incl nm_count\n"
        " jmp hypercall_page + 23*32\n");

static void check(int ok, const char *what)
{
    if (!ok) {
        xen_puts("XDBT-GUEST fpu: FAIL ");
        xen_puts(what);
        xen_puts("\n");
        xen_shutdown(SHUTDOWN_crash);
    }
}

void guest_main(struct start_info *si)
{
    static struct trap_info table[] = {
        { 7, 1, 0xe019, (uint32_t)trap_nm },
        { 0, 0, 0, 0 },
    };
    static float four[4] = { 1.5f, 2.5f, 3.5f, 4.5f };
    float out[4];
    uint32_t x;
    (void)si;

    check(xen_hypercall3(__HYPERVISOR_set_trap_table, (long)table, 0, 0) == 0, "set_trap_table");

    /* x87: fld1; fadd st(0), st(0); fistp -> 2, with one #NM on the way. */
    xen_hypercall3(__HYPERVISOR_fpu_taskswitch, 1, 0, 0);
    __asm__ volatile ("fld1\n fadd %%st(0), %%st(0)\n fistpl %0" : "=m" (x));
    check(nm_count == 1, "x87 instruction with TS set did not raise exactly one #NM");
    check(x == 2, "x87 result after #NM");

    /* Without TS: no #NM. */
    __asm__ volatile ("fld1\n fistpl %0" : "=m" (x));
    check(nm_count == 1 && x == 1, "x87 without TS");

    /* SSE: movups + addps with TS set. */
    xen_hypercall3(__HYPERVISOR_fpu_taskswitch, 1, 0, 0);
    __asm__ volatile ("movups %1, %%xmm0\n addps %%xmm0, %%xmm0\n movups %%xmm0, %0"
                      : "=m" (out) : "m" (four));
    check(nm_count == 2, "SSE instruction with TS set did not raise exactly one #NM");
    check(out[0] == 3.0f && out[3] == 9.0f, "SSE result after #NM");

    /* fpu_taskswitch(0) clears TS. */
    xen_hypercall3(__HYPERVISOR_fpu_taskswitch, 1, 0, 0);
    xen_hypercall3(__HYPERVISOR_fpu_taskswitch, 0, 0, 0);
    __asm__ volatile ("fld1\n fistpl %0" : "=m" (x));
    check(nm_count == 2, "fpu_taskswitch(0) did not clear TS");

    xen_puts("XDBT-GUEST fpu: PASS\n");
    xen_shutdown(SHUTDOWN_poweroff);
}
