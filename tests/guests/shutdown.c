/*
 * shutdown: waits for the toolstack's shutdown request the way a PV kernel's xenbus driver
 * does: a watch on control/shutdown (xenstore, guest-pv-headers/xen-xs.h), and on
 * "poweroff" it acknowledges by clearing the node (as Linux's shutdown_handler does) and
 * powers off with SCHEDOP_shutdown. `xl shutdown` writes the request in Xen; under
 * `xdbt run` it is there from the start (tests/guests/shutdown.args), or Ctrl-C writes it.
 * Until then the guest idles, yielding; `xl pause`/`unpause` stop and restart it.
 */
#define TEST_NAME "shutdown"
#include "xen-xs.h"

XEN_TEST_GUEST_NOTES("xdbt-shutdown");

void guest_main(struct start_info *si)
{
    unsigned waits = 0;

    xs_init(si);
    request(XS_WATCH, "control/shutdown", "sd");
    check(reply_type == XS_WATCH && streq(reply, "OK"), "watch control/shutdown");
    xen_puts("shutdown: waiting for control/shutdown\n");
    for (;;) {
        /* The watch fires once at registration, then on every change. */
        if (!events)
            wait_event();
        events = 0;
        check(streq(last_event, "control/shutdown"), "the watch's path");
        request(XS_READ, "control/shutdown", 0);
        if (reply_type == XS_READ && streq(reply, "poweroff"))
            break;
        waits++;
    }
    request(XS_WRITE, "control/shutdown", "");
    check(reply_type == XS_WRITE && streq(reply, "OK"), "acknowledge control/shutdown");
    xen_puts(waits ? "shutdown: poweroff requested while running\n"
                   : "shutdown: poweroff requested from the start\n");
    xen_puts("XDBT-GUEST shutdown: PASS\n");
    xen_shutdown(SHUTDOWN_poweroff);
}
