/*
 * pv64-hello: a minimal native 64-bit PV guest for the boot test (ci/xen/boot-test.sh).
 *
 * It writes "pv64-hello: ok" to its PV console ring (read by xenconsoled), waits until
 * the line has been consumed, then either powers off (SCHEDOP_shutdown) or, with "hold"
 * on its command line, sleeps until it is destroyed, so that the test can pause, unpause
 * and destroy a live domain.
 *
 * ABI: xen/include/public/{xen.h,sched.h,event_channel.h,io/console.h}.
 */
#include <stddef.h>
#include <stdint.h>

#include <xen.h>
#include <sched.h>
#include <event_channel.h>
#include <io/console.h>

#define PAGE_SHIFT 12

extern char hypercall_page[];

/* 64-bit PV hypercall: stub n of the hypercall page, arguments in rdi, rsi. */
static long hypercall2(unsigned int nr, unsigned long a1, unsigned long a2)
{
    register unsigned long rdi asm("rdi") = a1;
    register unsigned long rsi asm("rsi") = a2;
    long ret;

    asm volatile ( "call *%[stub]"
                   : "=a" (ret), "+r" (rdi), "+r" (rsi)
                   : [stub] "r" (hypercall_page + nr * 32)
                   : "rcx", "rdx", "r8", "r10", "r11", "memory" );
    return ret;
}

static void sched_shutdown(unsigned int reason)
{
    struct sched_shutdown s = { .reason = reason };

    hypercall2(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (unsigned long)&s);
}

/*
 * Block until one of ports is pending (nr = 0: until any new event); event delivery
 * stays masked, so no upcall handler is needed.
 */
static void sched_poll(evtchn_port_t *ports, unsigned int nr)
{
    struct sched_poll p = { .nr_ports = nr, .timeout = 0 };

    set_xen_guest_handle(p.ports, ports);
    hypercall2(__HYPERVISOR_sched_op, SCHEDOP_poll, (unsigned long)&p);
}

static void notify(evtchn_port_t port)
{
    struct evtchn_send send = { .port = port };

    hypercall2(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (unsigned long)&send);
}

static int has_word(const int8_t *s, const char *w)
{
    for ( ; *s; s++ )
    {
        const int8_t *p = s;
        const char *q = w;

        while ( *q && *p == *q )
            p++, q++;
        if ( !*q )
            return 1;
    }
    return 0;
}

void hello_main(start_info_t *si);
void hello_main(start_info_t *si)
{
    static const char msg[] = "pv64-hello: ok\r\n";
    /*
     * The console page is one of the builder's pages after the image: mapped at
     * VIRT_BASE (0) + pfn * 4 KiB. Xen's read-only M2P gives its pfn.
     */
    const unsigned long *m2p = (const unsigned long *)MACH2PHYS_VIRT_START;
    struct xencons_interface *cons =
        (void *)(m2p[si->console.domU.mfn] << PAGE_SHIFT);
    evtchn_port_t port = si->console.domU.evtchn;
    XENCONS_RING_IDX prod = cons->out_prod;
    unsigned int i;

    for ( i = 0; i < sizeof(msg) - 1; i++ )
        cons->out[MASK_XENCONS_IDX(prod++, cons->out)] = msg[i];
    asm volatile ( "" ::: "memory" ); /* x86 keeps stores in order: a compiler barrier */
    cons->out_prod = prod;
    notify(port);

    /* xenconsoled notifies the port once it has consumed the output. */
    while ( *(volatile XENCONS_RING_IDX *)&cons->out_cons != prod )
        sched_poll(&port, 1);

    if ( has_word(si->cmd_line, "hold") )
        for ( ;; )
            sched_poll(NULL, 0);

    sched_shutdown(SHUTDOWN_poweroff);
    for ( ;; )
        ;
}
