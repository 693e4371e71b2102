/*
 * xenstore: a xenstore client on the store ring (io/xs_wire.h), as Mini-OS's and Linux's
 * xenbus speak it: requests into `req`, notify the store event channel, wait for the reply
 * in `rsp`. It checks the tree libxl gives a domU (name, domid, no disks under device/), writes and reads back under data/, is refused a write outside its home
 * (EACCES), sees a watch fire once at registration and again when control/shutdown
 * changes, and reads an entry the host added with `--xenstore` (tests/guests/xenstore.args).
 */
#include "xen-pv32.h"

XEN_TEST_GUEST_NOTES("xdbt-xenstore");

#define __HYPERVISOR_event_channel_op 32
#define EVTCHNOP_send 4

enum { XS_DIRECTORY = 1, XS_READ = 2, XS_WATCH = 4, XS_WRITE = 11, XS_WATCH_EVENT = 15,
       XS_ERROR = 16 };

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
        xen_puts("XDBT-GUEST xenstore: FAIL ");
        xen_puts(what);
        xen_puts("\n");
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

/* Send a request of `nparts` NUL-separated strings (the last one without a NUL if
 * `raw_last`), then read messages until the reply with our id (watch events in between
 * are counted). */
static uint32_t events;
static char last_event[256];

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

/* Wait for a watch event (the store notifies; we poll the ring). */
static void wait_event(void)
{
    recv_msg();
    check(reply_type == XS_WATCH_EVENT, "expected a watch event");
    events++;
    for (uint32_t i = 0; i < sizeof last_event - 1 && i < reply_len; i++)
        last_event[i] = reply[i];
}

void guest_main(struct start_info *si)
{
    uint32_t pfn = ((uint32_t *)0xF5800000u)[si->store_mfn];
    ring = (void *)(0xC0000000u + (pfn << 12));
    port = si->store_evtchn;

    request(XS_READ, "name", 0);
    check(reply_type == XS_READ && streq(reply, "xenstore"), "name is the kernel's file name");
    request(XS_READ, "domid", 0);
    check(reply_type == XS_READ && streq(reply, "1"), "domid");
    /* libxl's device/ of a domU with no disks or NICs: only suspend/event-channel. */
    request(XS_DIRECTORY, "device", 0);
    check(reply_type == XS_DIRECTORY && reply_len == 8 && streq(reply, "suspend"),
          "device/ holds only suspend");
    request(XS_DIRECTORY, "device/vbd", 0);
    check(reply_type == XS_ERROR && streq(reply, "ENOENT"), "no device/vbd");
    request(XS_READ, "no/such/node", 0);
    check(reply_type == XS_ERROR && streq(reply, "ENOENT"), "missing node is ENOENT");

    request(XS_WRITE, "data/greeting", "hello");
    check(reply_type == XS_WRITE && streq(reply, "OK"), "write data/greeting");
    request(XS_READ, "data/greeting", 0);
    check(reply_type == XS_READ && reply_len == 5 && streq(reply, "hello"), "read back");
    request(XS_WRITE, "/local/domain/0/intruder", "x");
    check(reply_type == XS_ERROR && streq(reply, "EACCES"), "write outside home is EACCES");

    request(XS_READ, "data/host-flag", 0);
    check(reply_type == XS_READ && streq(reply, "from-host"), "--xenstore entry");

    /* A watch fires once when registered, and on every change below its path. */
    request(XS_WATCH, "control/shutdown", "tok");
    check(reply_type == XS_WATCH && streq(reply, "OK"), "watch");
    wait_event();
    check(events == 1 && streq(last_event, "control/shutdown"), "initial watch event");
    request(XS_WRITE, "control/shutdown", "poweroff");
    check(reply_type == XS_WRITE, "write control/shutdown");
    if (events < 2)
        wait_event();
    check(events == 2, "watch event on change");
    request(XS_READ, "control/shutdown", 0);
    check(streq(reply, "poweroff"), "control/shutdown value");

    xen_puts("XDBT-GUEST xenstore: PASS\n");
    xen_shutdown(SHUTDOWN_poweroff);
}
