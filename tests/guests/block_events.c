/*
 * block: SCHEDOP_block and event delivery (xen/common/sched/core.c do_sched_op ->
 * vcpu_block_enable_events: upcalls are unmasked, then the vCPU sleeps only if no event is
 * pending (local_events_need_delivery); xen/arch/x86/x86_64/compat/entry.S
 * compat_test_all_events: a pending, unmasked upcall is delivered on every return to the
 * guest, with the upcall mask set (TBF_INTERRUPT) and the old mask saved in the frame's
 * CS bits 16+; xen/arch/x86/pv/iret.c compat_iret restores it from EFLAGS.IF).
 * Block with an event already pending returns at once; block wakes on set_timer_op; an
 * event arriving while ring 3 runs is delivered with the ring-3 frame.
 */
#define TEST_NAME "block_events"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-block_events");

#define MS 1000000ull

/* Our event entry: records the frame it interrupted, then the common handler. */
volatile uint32_t ev_eip, ev_cs, ev_eflags, ev_esp, ev_ss;
void block_event_entry(void);
__asm__(".text\n block_event_entry:\n"
        " pushl %eax\n"
        " movl 4(%esp), %eax\n movl %eax, ev_eip\n"
        " movl 8(%esp), %eax\n movl %eax, ev_cs\n"
        " movl 12(%esp), %eax\n movl %eax, ev_eflags\n"
        " testl $2, ev_cs\n jz 1f\n"
        " movl 16(%esp), %eax\n movl %eax, ev_esp\n"
        " movl 20(%esp), %eax\n movl %eax, ev_ss\n"
        "1: popl %eax\n"
        " jmp event_entry\n");

static uint8_t ustack[4096] UDATA __attribute__((aligned(4096)));
volatile uint32_t user_flag UDATA;
#define USTACK_TOP ((uint32_t)(ustack + sizeof ustack))
/* Ring 3 spins until the kernel's event handler sets user_flag (or a bound runs out). */
void u_spin(void);
__asm__(".section .utext,\"ax\"\n u_spin:\n"
        " movl $0xe033, %ecx\n movl %ecx, %ds\n movl %ecx, %es\n"
        " movl $0x7fffffff, %ecx\n"
        "1: cmpl $0, user_flag\n jne 2f\n loop 1b\n"
        "2: movl %ecx, %eax\n int $0x85\n .previous\n");

static uint32_t ipi_port, tp;

void guest_main(struct start_info *start)
{
    si = start;
    map_shared_info();
    install_fault_handlers();
    user_pages_setup();
    check_eq(HYPERVISOR_set_callbacks(block_event_entry, failsafe_entry), 0, "set_callbacks");
    struct evtchn_bind_ipi ipi = { 0, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &ipi), 0, "bind_ipi");
    ipi_port = ipi.port;
    struct evtchn_bind_virq bv = { VIRQ_TIMER, 0, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &bv), 0, "bind VIRQ_TIMER");
    tp = bv.port;
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, 0), 0, "stop periodic timer");

    /* Masked: the event stays pending, no upcall. */
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_mask, 1, "masked at boot");
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, &ipi_port), 0, "send ipi");
    check_eq(upcalls, 0, "no upcall while masked");
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_pending, 1, "upcall pending");

    /* Block with it pending: returns at once, having unmasked and delivered it. */
    uint64_t t0 = system_time_ns();
    check_eq(HYPERVISOR_sched_op(SCHEDOP_block, 0), 0, "block with an event pending");
    check(system_time_ns() - t0 < 100 * MS, "block with an event pending returned at once");
    check_eq(upcalls, 1, "upcall after block");
    check_eq(port_hits[ipi_port], 1, "ipi delivered");
    check_eq(upcall_mask_seen, 1, "callback runs masked");
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_mask, 0, "block left events unmasked");
    check_eq(ev_cs & 0xffff, FLAT_RING1_CS, "upcall frame CS");
    check_eq(ev_cs >> 16 & 0xff, 0, "saved upcall mask in the frame (unmasked by block)");
    check_eq(ev_eflags & 0x200, 0x200, "upcall frame EFLAGS.IF");

    /* Block woken by set_timer_op, with events masked before the call. */
    events_disable();
    t0 = system_time_ns();
    check_eq(HYPERVISOR_set_timer_op(t0 + 5 * MS), 0, "set_timer_op");
    check_eq(HYPERVISOR_sched_op(SCHEDOP_block, 0), 0, "block until the timer");
    uint64_t t1 = system_time_ns();
    check(t1 - t0 >= 5 * MS, "block lasted until the timer");
    check(t1 - t0 < 1000 * MS, "block woke");
    check_eq(port_hits[tp], 1, "timer event delivered");
    check_eq(upcalls, 2, "one upcall for the timer");
    /* The compat form blocks the same way. */
    t0 = system_time_ns();
    check_eq(HYPERVISOR_set_timer_op(t0 + 3 * MS), 0, "set_timer_op 2");
    check_eq(xen_hypercall3(__HYPERVISOR_sched_op_compat, SCHEDOP_block, 0, 0), 0,
             "compat block");
    check(system_time_ns() - t0 >= 3 * MS, "compat block lasted until the timer");
    check_eq(port_hits[tp], 2, "timer event after compat block");

    /* Masked: a send is held until unmasked and the next return to the guest. */
    check_eq(upcalls, 3, "upcalls so far");
    events_disable();
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, &ipi_port), 0, "send ipi 2");
    check_eq(upcalls, 3, "held while masked");
    events_enable();  /* unmask + a hypercall: delivered */
    check_eq(upcalls, 4, "delivered on the next hypercall after unmask");
    check_eq(port_hits[ipi_port], 2, "second ipi");
    check_eq(shinfo->vcpu_info[0].evtchn_upcall_mask, 0, "unmasked after the iret");

    /* An event while ring 3 runs: delivered with the ring-3 frame; back in ring 3, the
     * user loop sees the flag the handler set. */
    struct vcpu_set_singleshot_timer ss = { system_time_ns() + 2 * MS, 0 };
    check_eq(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss), 0, "singleshot");
    ev_cs = 0;
    while (!user_flag) {
        uint32_t left = run_user(u_spin, USTACK_TOP);
        if (port_hits[tp] >= 3)
            user_flag = 1;
        check(left != 0 || user_flag, "ring 3 spun out without the timer");
        if (!user_flag)
            check(system_time_ns() - ss.timeout_abs_ns < 2000 * MS, "timer never came");
        if (port_hits[tp] >= 3 && (ev_cs & 3) == 3)
            break;
    }
    check_eq(port_hits[tp], 3, "singleshot delivered");
    check_eq(ev_cs & 0xffff, FLAT_RING3_CS, "upcall frame from ring 3: CS");
    check_eq(ev_ss & 0xffff, FLAT_RING3_SS, "upcall frame from ring 3: SS");
    check(ev_esp == USTACK_TOP, "upcall frame from ring 3: ESP");
    check(ev_eip >= (uint32_t)u_spin && ev_eip < (uint32_t)u_spin + 64,
          "upcall frame from ring 3: EIP in the loop");
    pass();
}
