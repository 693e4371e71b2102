/*
 * multicall (xen/common/multicall.c do_multicall, xen/arch/x86/pv/hypercall.c
 * pv_do_multicall_call): each call's result lands in its entry; a failing call does not
 * stop the rest; a multicall inside a multicall is refused (-EINVAL, "reentry is
 * disallowed") while the outer one goes on; unknown numbers give -ENOSYS; an unreadable
 * list is -EFAULT; effects of the calls are visible afterwards.
 */
#define TEST_NAME "multicall"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-multicall");

static char scratch[4096] PAGE_ALIGNED;
static char two[2][4096] PAGE_ALIGNED;

void guest_main(struct start_info *start)
{
    si = start;
    long ver = xen_hypercall3(__HYPERVISOR_xen_version, XENVER_version, 0, 0);
    uint32_t hi = pfn_to_mfn(si->nr_pages - 4);
    uint32_t own = va_to_mfn(scratch);
    struct evtchn_alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
    static const char msg[] = "multicall console line\n";
    static struct multicall_entry inner[1];
    inner[0].op = __HYPERVISOR_xen_version;
    inner[0].args[0] = XENVER_version;
    inner[0].result = 12345;

    struct multicall_entry mc[8] = {
        { __HYPERVISOR_xen_version, -1, { XENVER_version } },
        { __HYPERVISOR_vm_assist, -1, { VMASST_CMD_enable, 31 } },
        { __HYPERVISOR_update_va_mapping, -1,
          { (uint32_t)scratch, (hi << 12) | PTE_RW, 0, UVMF_INVLPG } },
        { __HYPERVISOR_event_channel_op, -1, { EVTCHNOP_alloc_unbound, (uint32_t)&au } },
        { 63, -1, { 0 } },
        { __HYPERVISOR_multicall, -1, { (uint32_t)inner, 1 } },
        { __HYPERVISOR_console_io, -1, { CONSOLEIO_write, sizeof(msg) - 1, (uint32_t)msg } },
        { __HYPERVISOR_xen_version, -1, { XENVER_pagesize } },
    };
    check_eq(HYPERVISOR_multicall(mc, 8), 0, "multicall");
    check_eq(mc[0].result, ver, "xen_version result");
    check_eq(mc[1].result, -XEN_EINVAL, "vm_assist bad type result");
    check_eq(mc[2].result, 0, "update_va_mapping result");
    check_eq(mc[3].result, 0, "alloc_unbound result");
    check(au.port != 0, "alloc_unbound wrote its port");
    check_eq(mc[4].result, -XEN_ENOSYS, "unknown hypercall result");
    check_eq(mc[5].result, -XEN_EINVAL, "nested multicall result");
    check_eq(inner[0].result, 12345, "nested multicall did not run");
    check_eq(mc[6].result, 0, "console_io result (guest_console_write returns 0)");
    check_eq(mc[7].result, 4096, "last call ran");
    /* The update_va_mapping took effect: scratch now shows frame `hi`. */
    *(volatile uint32_t *)scratch = 0x4d43;
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)scratch, pte(own, PTE_RW), UVMF_INVLPG), 0,
             "map back");
    check(*(volatile uint32_t *)scratch != 0x4d43, "the multicall's mapping was in effect");

    check_eq(HYPERVISOR_multicall(mc, 0), 0, "empty multicall");
    check_eq(HYPERVISOR_multicall((struct multicall_entry *)0x10000000u, 2), -XEN_EFAULT,
             "unreadable multicall list");
    /* A list whose second entry is unreadable: the first runs, then -EFAULT. */
    struct multicall_entry *edge = (struct multicall_entry *)(two[0] + 4096 - 32);
    check_eq(HYPERVISOR_update_va_mapping((uint32_t)two[1], 0, UVMF_INVLPG), 0,
             "unmap the page after scratch");
    edge->op = __HYPERVISOR_xen_version;
    edge->result = -1;
    edge->args[0] = XENVER_pagesize;
    check_eq(HYPERVISOR_multicall(edge, 2), -XEN_EFAULT, "list running off the mapping");
    check_eq(edge->result, 4096, "entry before the hole ran");
    pass();
}
