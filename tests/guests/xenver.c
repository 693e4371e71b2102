/*
 * xenver: xen_version sub-ops (xen/common/kernel.c do_xen_version) and vm_assist
 * (xen/common/domain.c do_vm_assist, PV32_VM_ASSIST_MASK in asm/domain.h).
 */
#define TEST_NAME "xenver"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-xenver");

static int has(const char *s, const char *w)
{
    for (; *s; s++) {
        const char *a = s, *b = w;
        while (*b && *a == *b)
            a++, b++;
        if (!*b)
            return 1;
    }
    return 0;
}

void guest_main(struct start_info *start)
{
    static char buf[1024];
    si = start;
    check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_version, 0, 0), (4 << 16) | 17,
             "XENVER_version is 4.17");
    check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_extraversion, (long)buf, 0), 0,
             "extraversion");
    check_eq(buf[0], '.', "extraversion starts with a dot");
    check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_capabilities, (long)buf, 0), 0,
             "capabilities");
    check(has(buf, "xen-3.0-x86_32p"), "capabilities list xen-3.0-x86_32p");
    check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_pagesize, 0, 0), 4096, "pagesize");
    uint32_t pp[1] = { 0 };
    check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_platform_parameters, (long)pp, 0),
             0, "platform_parameters");
    check_eq(pp[0], HYPERVISOR_VIRT_START, "virt_start is 0xF5800000");
    uint32_t fi[2] = { 0, 0 };
    check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_get_features, (long)fi, 0), 0,
             "get_features 0");
    /* PV domU with pae_extended_cr3: vnode(13), pae_pgdir_above_4gb(4), preserve_ad(5),
     * highmem_assist(6), gnttab_map_avail_bits(7), direct_mapped(17). */
    check_eq(fi[1], (1 << 13) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 17),
             "feature submap 0");
    fi[0] = 1;
    check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_get_features, (long)fi, 0),
             -XEN_EINVAL, "get_features 1");
    check_eq(xen_hypercall3(__HYPERVISOR_xen_version, 100, 0, 0), -XEN_ENOSYS, "sub-op 100");
    check_eq(xen_hypercall3(__HYPERVISOR_xen_version, XENVER_capabilities, 0x10000000, 0),
             -XEN_EFAULT, "capabilities to an unmapped buffer");

    check_eq(HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag), 0,
             "vm_assist runstate_update_flag");
    check_eq(HYPERVISOR_vm_assist(VMASST_CMD_disable, VMASST_TYPE_runstate_update_flag), 0,
             "vm_assist disable");
    check_eq(HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_m2p_strict), -XEN_EINVAL,
             "m2p_strict is not for 32-bit guests");
    check_eq(HYPERVISOR_vm_assist(VMASST_CMD_enable, 6), -XEN_EINVAL, "vm_assist type 6");
    check_eq(HYPERVISOR_vm_assist(VMASST_CMD_enable, 64), -XEN_EINVAL, "vm_assist type 64");
    check_eq(HYPERVISOR_vm_assist(5, VMASST_TYPE_4gb_segments), -XEN_ENOSYS, "vm_assist cmd 5");
    pass();
}
