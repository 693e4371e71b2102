/*
 * grant: the grant table of our own domain (xen/common/grant_table.c, compat/grant_table.c).
 * get_version is 1 at start; set_version(1) is a no-op; versions other than 1 and 2 are
 * -EINVAL; version 2 is either granted (Xen's default max_version 2) or -ENOSYS (booted
 * with gnttab=max-ver:1), never -EINVAL; query_size and setup_table answer for DOMID_SELF,
 * the frames setup_table gives can be mapped writable and hold grant entries; more frames
 * than the maximum is GNTST_general_error; an unknown domain is GNTST_bad_domain; count
 * must be 1 (setup_table: at most 1).
 */
#define TEST_NAME "grant"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-grant");

#define GNTST_okay          0
#define GNTST_general_error (-1)
#define GNTST_bad_domain    (-2)

static char gframe[4096] PAGE_ALIGNED;

void guest_main(struct start_info *start)
{
    si = start;
    struct gnttab_get_version gv = { DOMID_SELF, 0, 99 };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_get_version, &gv, 1), 0, "get_version");
    check_eq(gv.version, 1, "initial version 1");
    struct gnttab_set_version sv = { 1 };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_set_version, &sv, 1), 0, "set_version 1");
    check_eq(sv.version, 1, "set_version reports 1");
    sv.version = 3;
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_set_version, &sv, 1), -XEN_EINVAL, "set_version 3");
    sv.version = 0;
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_set_version, &sv, 1), -XEN_EINVAL, "set_version 0");
    sv.version = 2;
    long r = HYPERVISOR_grant_table_op(GNTTABOP_set_version, &sv, 1);
    check(r == 0 || r == -XEN_ENOSYS, "set_version 2: 0 (max_version 2) or -ENOSYS (max-ver:1)");
    if (r == 0) {
        gv.version = 0;
        check_eq(HYPERVISOR_grant_table_op(GNTTABOP_get_version, &gv, 1), 0, "get_version");
        check_eq(gv.version, 2, "version 2 after set_version 2");
        sv.version = 1;
        check_eq(HYPERVISOR_grant_table_op(GNTTABOP_set_version, &sv, 1), 0, "back to 1");
    }
    gv.dom = 0x7FEF;
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_get_version, &gv, 1), -XEN_ESRCH,
             "get_version of an unknown domain");

    struct gnttab_query_size qs = { DOMID_SELF, 0, 0, 0, 7, 0 };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_query_size, &qs, 1), 0, "query_size");
    check_eq(qs.status, GNTST_okay, "query_size status");
    check(qs.nr_frames >= 1 && qs.max_nr_frames >= qs.nr_frames, "query_size frame counts");
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_query_size, &qs, 2), -XEN_EINVAL,
             "query_size count 2");
    uint32_t max = qs.max_nr_frames;

    uint32_t frames[2] = { 0, 0 };
    struct gnttab_setup_table st = { DOMID_SELF, 0, 1, 7, 0, frames };
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &st, 1), 0, "setup_table");
    check_eq(st.status, GNTST_okay, "setup_table status");
    check(frames[0] != 0, "setup_table frame");
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)gframe, pte(frames[0], PTE_RW), UVMF_INVLPG),
             0, "map grant frame writable");
    /* A v1 grant entry: flags, domid, frame. */
    volatile uint32_t *ge = (volatile uint32_t *)gframe;
    ge[8 * 2] = 0;
    ge[8 * 2 + 1] = 0x1234;
    check_eq(ge[8 * 2 + 1], 0x1234, "grant entry written");

    st.nr_frames = max + 1;
    st.status = 7;
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &st, 1), 0, "setup_table too many");
    check_eq(st.status, GNTST_general_error, "too many frames");
    st.nr_frames = 1;
    st.dom = 0x7FEF;
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &st, 1), 0, "setup_table bad dom");
    check_eq(st.status, GNTST_bad_domain, "unknown domain");
    st.dom = DOMID_SELF;
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &st, 2), -XEN_EINVAL,
             "setup_table count 2");
    check_eq(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &st, 0), 0, "setup_table count 0");
    check_eq(HYPERVISOR_grant_table_op(99, &st, 1), -XEN_ENOSYS, "unknown grant op");
    pass();
}
