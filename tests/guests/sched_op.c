/*
 * sched_op: the commands a PV32 domU may use (xen/common/sched/core.c do_sched_op,
 * domain_watchdog; xen/arch/x86/compat.c do_sched_op_compat; xen/common/domain.c
 * domain_shutdown). yield returns 0; the watchdog hands out NR_DOMAIN_WATCHDOG_TIMERS (2)
 * ids, -ENOSPC after that, -EINVAL for ids not in use or out of range; remote_shutdown of
 * an unknown domain is -ESRCH (rcu_lock_domain_by_id does not take DOMID_SELF) and of a
 * real one -EPERM (XSM_DM_PRIV); pin_override -EPERM; unknown commands -ENOSYS; bad
 * pointers -EFAULT.
 * shutdown_code: the first code set wins (later ones are ignored) and domain_shutdown then
 * uses it instead of its own reason, so this guest ends with SCHEDOP_shutdown(crash) after
 * shutdown_code(poweroff) and must still power off (exit status 0).
 */
#define TEST_NAME "sched_op"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-sched_op");

#define SCHEDOP_remote_shutdown 4
#define SCHEDOP_watchdog        6
#define SCHEDOP_pin_override    7

struct sched_watchdog { uint32_t id, timeout; };
struct sched_remote_shutdown { uint16_t domain_id, pad; uint32_t reason; };

static long watchdog(uint32_t id, uint32_t timeout)
{
    struct sched_watchdog w = { id, timeout };
    return HYPERVISOR_sched_op(SCHEDOP_watchdog, &w);
}

void guest_main(struct start_info *start)
{
    si = start;
    install_fault_handlers();

    check_eq(HYPERVISOR_sched_op(SCHEDOP_yield, 0), 0, "yield");
    check_eq(xen_hypercall3(__HYPERVISOR_sched_op_compat, SCHEDOP_yield, 0, 0), 0,
             "compat yield");
    check_eq(xen_hypercall3(__HYPERVISOR_sched_op_compat, SCHEDOP_poll, 0, 0), -XEN_ENOSYS,
             "compat poll is not a compat command");
    check_eq(HYPERVISOR_sched_op(99, 0), -XEN_ENOSYS, "unknown sched_op");

    /* Watchdogs. */
    check_eq(watchdog(0, 100), 1, "first watchdog id");
    check_eq(watchdog(0, 100), 2, "second watchdog id");
    check_eq(watchdog(0, 100), -XEN_ENOSPC, "third watchdog");
    check_eq(watchdog(3, 100), -XEN_EINVAL, "watchdog id out of range");
    check_eq(watchdog(1, 200), 0, "re-arm watchdog 1");
    check_eq(watchdog(1, 0), 0, "disarm watchdog 1");
    check_eq(watchdog(1, 0), -XEN_EINVAL, "disarm a free watchdog");
    check_eq(watchdog(1, 50), -XEN_EINVAL, "arm a free watchdog id");
    check_eq(watchdog(0, 100), 1, "freed id handed out again");
    check_eq(watchdog(1, 0), 0, "disarm 1");
    check_eq(watchdog(2, 0), 0, "disarm 2");
    check_eq(HYPERVISOR_sched_op(SCHEDOP_watchdog, (void *)0x10000000), -XEN_EFAULT,
             "watchdog bad pointer");

    /* remote_shutdown. */
    struct sched_remote_shutdown rs = { DOMID_SELF, 0, SHUTDOWN_poweroff };
    check_eq(HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, &rs), -XEN_ESRCH,
             "remote_shutdown DOMID_SELF");
    rs.domain_id = 0x7000;
    check_eq(HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, &rs), -XEN_ESRCH,
             "remote_shutdown unknown domain");
    rs.domain_id = 0;
    check_eq(HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, &rs), -XEN_EPERM,
             "remote_shutdown dom0");
    check_eq(HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, (void *)0x10000000), -XEN_EFAULT,
             "remote_shutdown bad pointer");
    int32_t pcpu = 0;
    check_eq(HYPERVISOR_sched_op(SCHEDOP_pin_override, &pcpu), -XEN_EPERM, "pin_override");

    /* shutdown with a bad pointer: -EFAULT and the guest runs on. */
    check_eq(HYPERVISOR_sched_op(SCHEDOP_shutdown, (void *)0x10000000), -XEN_EFAULT,
             "shutdown bad pointer");
    check_eq(HYPERVISOR_sched_op(SCHEDOP_shutdown_code, (void *)0x10000000), -XEN_EFAULT,
             "shutdown_code bad pointer");

    /* shutdown_code: the first one sticks. */
    uint32_t code = SHUTDOWN_poweroff;
    check_eq(HYPERVISOR_sched_op(SCHEDOP_shutdown_code, &code), 0, "shutdown_code poweroff");
    code = SHUTDOWN_reboot;
    check_eq(HYPERVISOR_sched_op(SCHEDOP_shutdown_code, &code), 0, "shutdown_code reboot");

    xen_puts("XDBT-GUEST " TEST_NAME ": PASS\n");
    /* Legacy sched_op_compat shutdown with reason crash: domain_shutdown reports the code
     * set above, poweroff. */
    for (;;)
        xen_hypercall3(__HYPERVISOR_sched_op_compat, SCHEDOP_shutdown, SHUTDOWN_crash, 0);
}
