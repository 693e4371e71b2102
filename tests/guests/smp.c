/*
 * smp: bring up three more vCPUs (run with --vcpus 4, tests/guests/smp.args) the way Linux's
 * cpu_initialize_context does: VCPUOP_initialise with a vcpu_guest_context (registers,
 * kernel stack, CR3), then VCPUOP_up. Checks Xen's answers (do_vcpu_op, common/domain.c):
 * is_up before and after, up before initialise (-EINVAL), initialise twice (-EEXIST), a
 * vCPU beyond the domain's (-ENOENT). Then all four vCPUs increment one counter with
 * `lock incl` (atomic across host threads), and each secondary sends an IPI to vCPU 0
 * (EVTCHNOP_bind_ipi), which sleeps in SCHEDOP_block until the upcalls arrive.
 */
#define TEST_NAME "smp"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-smp");

#define VCPUOP_initialise 0
#define VCPUOP_up 1
#define NR_SECONDARY 3
#define ROUNDS 200000

struct cpu_user_regs {
    uint32_t ebx, ecx, edx, esi, edi, ebp, eax;
    uint16_t error_code, entry_vector;
    uint32_t eip;
    uint16_t cs;
    uint8_t saved_upcall_mask, _pad0;
    uint32_t eflags, esp;
    uint16_t ss, _pad1, es, _pad2, ds, _pad3, fs, _pad4, gs, _pad5;
};

struct vcpu_guest_context {
    uint8_t fpu_ctxt[512];
    uint32_t flags;
    struct cpu_user_regs user_regs;
    struct trap_info trap_ctxt[256];
    uint32_t ldt_base, ldt_ents;
    uint32_t gdt_frames[16];
    uint32_t gdt_ents;
    uint32_t kernel_ss, kernel_sp;
    uint32_t ctrlreg[8];
    uint32_t debugreg[8];
    uint32_t event_callback_cs, event_callback_eip;
    uint32_t failsafe_callback_cs, failsafe_callback_eip;
    uint32_t vm_assist;
};

_Static_assert(sizeof(struct cpu_user_regs) == 68, "cpu_user_regs is 68 bytes on x86_32");

volatile uint32_t counter, finished, ipi_port;
static uint8_t stacks[NR_SECONDARY][8192] __attribute__((aligned(16)));
static struct vcpu_guest_context ctx;

void secondary_main(uint32_t id);
void secondary_entry(void);
__asm__(".text\n secondary_entry:\n pushl %eax\n call secondary_main\n 1: jmp 1b\n");

void secondary_main(uint32_t id)
{
    uint32_t port = ipi_port;
    for (int i = 0; i < ROUNDS; i++)
        __asm__ volatile("lock incl counter" ::: "memory");
    __atomic_add_fetch(&finished, 1, __ATOMIC_SEQ_CST);
    HYPERVISOR_event_channel_op(EVTCHNOP_send, &port);
    (void)id;
    for (;;)
        HYPERVISOR_sched_op(SCHEDOP_block, 0);
}

static long vcpu_op(unsigned cmd, unsigned vcpu, void *arg)
{
    return HYPERVISOR_vcpu_op(cmd, vcpu, arg);
}

void guest_main(struct start_info *start)
{
    uint32_t cr3;
    si = start;
    setup_events();

    struct evtchn_bind_ipi ipi = { 0, 0 };
    check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &ipi), 0, "bind_ipi");
    ipi_port = ipi.port;

    check_eq(vcpu_op(VCPUOP_is_up, 0, 0), 1, "vCPU 0 is up");
    check_eq(vcpu_op(VCPUOP_is_up, 1, 0), 0, "vCPU 1 starts down");
    check_eq(vcpu_op(VCPUOP_up, 1, 0), -XEN_EINVAL, "up before initialise");
    check_eq(vcpu_op(VCPUOP_is_up, NR_SECONDARY + 1, 0), -XEN_ENOENT, "no such vCPU");

    __asm__ volatile("movl %%cr3, %0" : "=r"(cr3));
    for (uint32_t id = 1; id <= NR_SECONDARY; id++) {
        for (unsigned k = 0; k < sizeof ctx; k++)
            ((volatile uint8_t *)&ctx)[k] = 0;
        ctx.flags = 1 << 2; /* VGCF_in_kernel */
        ctx.user_regs.eip = (uint32_t)secondary_entry;
        ctx.user_regs.esp = (uint32_t)(stacks[id - 1] + sizeof stacks[0]);
        ctx.user_regs.eax = id;
        ctx.user_regs.cs = FLAT_RING1_CS;
        ctx.user_regs.ss = ctx.user_regs.ds = ctx.user_regs.es = FLAT_RING1_DS;
        ctx.user_regs.fs = ctx.user_regs.gs = FLAT_RING1_DS;
        ctx.user_regs.eflags = 0x202;
        ctx.kernel_ss = FLAT_RING1_DS;
        ctx.kernel_sp = ctx.user_regs.esp;
        ctx.ctrlreg[3] = cr3;
        ctx.event_callback_cs = FLAT_RING1_CS;
        ctx.event_callback_eip = (uint32_t)event_entry;
        ctx.failsafe_callback_cs = FLAT_RING1_CS;
        ctx.failsafe_callback_eip = (uint32_t)failsafe_entry;
        check_eq(vcpu_op(VCPUOP_initialise, id, &ctx), 0, "initialise");
        check_eq(vcpu_op(VCPUOP_initialise, id, &ctx), -XEN_EEXIST, "initialise twice");
        check_eq(vcpu_op(VCPUOP_up, id, 0), 0, "up");
        check_eq(vcpu_op(VCPUOP_is_up, id, 0), 1, "is_up after up");
    }

    events_enable();
    for (int i = 0; i < ROUNDS; i++)
        __asm__ volatile("lock incl counter" ::: "memory");
    while (finished < NR_SECONDARY || port_hits[ipi_port] == 0)
        HYPERVISOR_sched_op(SCHEDOP_block, 0);
    check_eq(counter, ROUNDS * (NR_SECONDARY + 1), "lock incl from four vCPUs");
    check(port_hits[ipi_port] >= 1, "IPI upcall on vCPU 0");
    pass();
}
