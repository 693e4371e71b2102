/*
 * A xenstore client on the store ring (io/xs_wire.h), as Mini-OS's and Linux's xenbus speak
 * it: requests into `req`, notify the store event channel, poll `rsp` for the reply
 * (yielding while it is empty). For our PV32 test guests; define TEST_NAME (a string)
 * before including it, and call xs_init(si) first.
 */
#ifndef XEN_XS_H
#define XEN_XS_H

#include "xen-pv32.h"

#pragma GCC diagnostic ignored "-Wunused-function"

#ifndef TEST_NAME
#error "define TEST_NAME before including xen-xs.h"
#endif

#define __HYPERVISOR_event_channel_op 32
#define EVTCHNOP_send 4

enum { XS_DIRECTORY = 1, XS_READ = 2, XS_WATCH = 4, XS_GET_DOMAIN_PATH = 10, XS_WRITE = 11,
       XS_WATCH_EVENT = 15, XS_ERROR = 16 };

struct xsd_sockmsg {
    uint32_t type, req_id, tx_id, len;
};

struct xenstore_domain_interface {
    char req[1024];
    char rsp[1024];
    uint32_t req_cons, req_prod;
    uint32_t rsp_cons, rsp_prod;
    uint32_t server_features, connection, error;
};

static volatile struct xenstore_domain_interface *ring;
static uint32_t port;
static uint32_t next_id = 1;

static void check(int ok, const char *what)
{
    if (!ok) {
        xen_puts("XDBT-GUEST " TEST_NAME ": FAIL ");
        xen_puts(what);
        xen_puts("\n");
        for (;;)
            xen_shutdown(SHUTDOWN_crash);
    }
}

static void put(const void *p, uint32_t n)
{
    const char *s = p;
    uint32_t prod = ring->req_prod;
    while (n--) {
        while (prod - ring->req_cons >= sizeof(ring->req))
            xen_hypercall3(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
        ring->req[prod++ & 1023] = *s++;
    }
    __asm__ volatile("" ::: "memory");
    ring->req_prod = prod;
}

/* The store moves rsp_prod (and req_cons) behind the compiler's back: `ring` is volatile. */
static void get(void *p, uint32_t n)
{
    char *s = p;
    uint32_t cons = ring->rsp_cons;
    while (n--) {
        while (ring->rsp_prod == cons)
            xen_hypercall3(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
        *s++ = ring->rsp[cons++ & 1023];
    }
    __asm__ volatile("" ::: "memory");
    ring->rsp_cons = cons;
}

static char reply[4096];
static uint32_t reply_type, reply_len;

/* Read one message from the ring into reply/reply_type/reply_len. */
static void recv_msg(void)
{
    struct xsd_sockmsg h;
    get(&h, sizeof h);
    check(h.len < sizeof reply, "reply too long");
    get(reply, h.len);
    reply[h.len] = 0;
    reply_type = h.type;
    reply_len = h.len;
}

static uint32_t events;
static char last_event[256];

/* Send a request (`a`, then `b` if given), then read messages until the reply (watch
 * events in between are counted, the last one kept in last_event). */

static void request(uint32_t type, const char *a, const char *b)
{
    struct xsd_sockmsg h = { type, next_id++, 0, 0 };
    /* A written value has no terminating NUL; a watch token has one. */
    uint32_t la = xen_strlen(a) + 1, lb = b ? xen_strlen(b) + (type == XS_WATCH) : 0;
    h.len = la + lb;
    put(&h, sizeof h);
    put(a, la);
    if (b)
        put(b, lb);
    xen_hypercall3(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (long)&port, 0);
    for (;;) {
        recv_msg();
        if (reply_type != XS_WATCH_EVENT)
            break;
        events++;
        for (uint32_t i = 0; i < sizeof last_event - 1 && i < reply_len; i++)
            last_event[i] = reply[i];
    }
}

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Append `src` to the string at `dst`; returns its new end, so calls chain:
 * str_cat(str_cat(d, a), b). */
static char *str_cat(char *dst, const char *src)
{
    while (*dst)
        dst++;
    while ((*dst = *src++))
        dst++;
    return dst;
}

/* Wait for a watch event (the store notifies; we poll the ring). */
static void wait_event(void)
{
    recv_msg();
    check(reply_type == XS_WATCH_EVENT, "expected a watch event");
    events++;
    for (uint32_t i = 0; i < sizeof last_event - 1 && i < reply_len; i++)
        last_event[i] = reply[i];
}

/* The ring's frame is a machine frame: its virtual address comes through the M2P. */
static void xs_init(const struct start_info *si)
{
    uint32_t pfn = ((volatile uint32_t *)0xF5800000u)[si->store_mfn];
    ring = (void *)(0xC0000000u + (pfn << 12));
    port = si->store_evtchn;
}

#endif
