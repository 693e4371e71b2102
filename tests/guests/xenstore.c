/*
 * xenstore: a xenstore client on the store ring (guest-pv-headers/xen-xs.h). It checks the
 * tree libxl gives a domU (name, domid and its home path, no disks under device/), writes
 * and reads back under data/, is refused a write outside its home (EACCES), sees a watch
 * fire once at registration and again when control/shutdown changes, and reads an entry
 * the host added (`--xenstore`, tests/guests/xenstore.args; in Xen, xenstore-write).
 * The expected answers are xenstored's and libxl's: the same under `xdbt run` and in Xen.
 */
#define TEST_NAME "xenstore"
#include "xen-xs.h"

XEN_TEST_GUEST_NOTES("xdbt-xenstore");

void guest_main(struct start_info *si)
{
    xs_init(si);

    request(XS_READ, "name", 0);
    check(reply_type == XS_READ && streq(reply, "xenstore"), "name is the kernel's file name");
    /* domid is the domain's own (1 under `xdbt run`, whatever Xen gave it in Xen): its
     * home /local/domain/<domid> is where relative paths lead. */
    request(XS_READ, "domid", 0);
    check(reply_type == XS_READ && reply_len > 0 && reply_len < 6 && reply[0] >= '1' &&
              reply[0] <= '9', "domid is a domU's number");
    {
        char home[32] = "", name[40] = "";
        for (uint32_t i = 0; i < reply_len; i++)
            check(reply[i] >= '0' && reply[i] <= '9', "domid is decimal");
        str_cat(str_cat(home, "/local/domain/"), reply);
        request(XS_GET_DOMAIN_PATH, reply, 0);
        check(reply_type == XS_GET_DOMAIN_PATH && streq(reply, home),
              "XS_GET_DOMAIN_PATH of domid is /local/domain/<domid>");
        str_cat(str_cat(name, home), "/name");
        request(XS_READ, name, 0);
        check(reply_type == XS_READ && streq(reply, "xenstore"), "<home>/name");
    }
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
