/*
 * Helpers shared by our PV32 test guests (tests/guests/): verdict lines, number printing,
 * frame-number conversions through the p2m and the M2P, page-table lookups, shared_info,
 * and trap/event handlers that record what they saw.
 *
 * Define TEST_NAME (a string) before including this file.
 */
#ifndef XEN_TEST_H
#define XEN_TEST_H

#include "xen-pv32.h"

#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"

#ifndef TEST_NAME
#error "define TEST_NAME before including xen-test.h"
#endif

static struct start_info *si;

static void put_hex(uint32_t v)
{
    char b[11] = "0x";
    int i;
    for (i = 0; i < 8; i++)
        b[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
    b[10] = 0;
    xen_puts(b);
}

static void put_dec(long v)
{
    char b[16];
    int i = 15;
    unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
    b[i] = 0;
    do {
        b[--i] = '0' + u % 10;
        u /= 10;
    } while (u);
    if (v < 0)
        b[--i] = '-';
    xen_puts(b + i);
}

static __attribute__((noreturn, used)) void fail(const char *what)
{
    xen_puts("XDBT-GUEST " TEST_NAME ": FAIL ");
    xen_puts(what);
    xen_puts("\n");
    for (;;)
        xen_shutdown(SHUTDOWN_crash);
}

static void check(int ok, const char *what)
{
    if (!ok)
        fail(what);
}

/* A result compared with the value Xen gives: on a mismatch, both are printed. */
static void check_eq(long got, long want, const char *what)
{
    if (got != want) {
        xen_puts("XDBT-GUEST " TEST_NAME ": FAIL ");
        xen_puts(what);
        xen_puts(": got ");
        put_dec(got);
        xen_puts(" (");
        put_hex(got);
        xen_puts("), want ");
        put_dec(want);
        xen_puts("\n");
        for (;;)
            xen_shutdown(SHUTDOWN_crash);
    }
}

static __attribute__((noreturn)) void pass(void)
{
    xen_puts("XDBT-GUEST " TEST_NAME ": PASS\n");
    for (;;)
        xen_shutdown(SHUTDOWN_poweroff);
}

/* ---- Frames and page tables (VIRT_BASE = PADDR_OFFSET = 0xC0000000). ---- */

#define VIRT_BASE 0xC0000000u
#define PAGE_SIZE 4096u
#define PAGE_ALIGNED __attribute__((aligned(4096)))
#define PTE_ADDR_MASK 0x000ffffffffff000ull

static inline uint32_t *m2p(void)
{
    return (uint32_t *)MACH2PHYS_VIRT_START;
}

static inline uint32_t pfn_to_mfn(uint32_t pfn)
{
    return ((uint32_t *)si->mfn_list)[pfn];
}

static inline uint32_t va_to_pfn(const void *va)
{
    return ((uint32_t)va - VIRT_BASE) >> 12;
}

static inline uint32_t va_to_mfn(const void *va)
{
    return pfn_to_mfn(va_to_pfn(va));
}

/* A frame of the initial mapping, by machine frame number. */
static inline void *mfn_to_va(uint32_t mfn)
{
    return (void *)(VIRT_BASE + (m2p()[mfn] << 12));
}

static inline uint64_t *cur_l3(void)
{
    return (uint64_t *)si->pt_base;
}

/* The L1 entry that maps `va` in the initial tables (read-only mapped there). */
static inline uint64_t *l1e_of(uint32_t va)
{
    uint64_t l3e = cur_l3()[va >> 30];
    uint64_t *l2 = mfn_to_va((uint32_t)((l3e & PTE_ADDR_MASK) >> 12));
    uint64_t l2e = l2[(va >> 21) & 511];
    uint64_t *l1 = mfn_to_va((uint32_t)((l2e & PTE_ADDR_MASK) >> 12));
    return &l1[(va >> 12) & 511];
}

/* Machine address of a page-table entry seen at `p` (in the initial mapping). */
static inline uint64_t entry_maddr(const void *p)
{
    return ((uint64_t)va_to_mfn(p) << 12) | ((uint32_t)p & 0xfff);
}

static inline uint64_t pte(uint32_t mfn, uint32_t flags)
{
    return ((uint64_t)mfn << 12) | flags;
}

#define PTE_RW (_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY)
#define PTE_RO (_PAGE_PRESENT | _PAGE_ACCESSED)

/* Map `va` (a page of ours) read-only, so its frame can become a page table. */
static inline long make_ro(void *va)
{
    return HYPERVISOR_update_va_mapping((uint32_t)va, pte(va_to_mfn(va), PTE_RO), UVMF_INVLPG);
}

static inline long make_rw(void *va)
{
    return HYPERVISOR_update_va_mapping((uint32_t)va, pte(va_to_mfn(va), PTE_RW), UVMF_INVLPG);
}

static inline long mmuext1(uint32_t cmd, uint32_t arg1, uint32_t arg2)
{
    struct mmuext_op op = { cmd, arg1, arg2 };
    return HYPERVISOR_mmuext_op(&op, 1, 0, DOMID_SELF);
}

static inline long mmu1(uint64_t ptr, uint64_t val)
{
    struct mmu_update u = { ptr, val };
    return HYPERVISOR_mmu_update(&u, 1, 0, DOMID_SELF);
}

/* ---- shared_info, mapped over a page of ours. ---- */

static char shinfo_page[4096] PAGE_ALIGNED;
volatile struct shared_info *shinfo __attribute__((used));

static void map_shared_info(void)
{
    long r = HYPERVISOR_update_va_mapping((uint32_t)shinfo_page,
                                          ((uint64_t)si->shared_info & ~0xfffull) | PTE_RW,
                                          UVMF_INVLPG);
    check_eq(r, 0, "mapping shared_info");
    shinfo = (volatile struct shared_info *)shinfo_page;
}

/* ---- Faults: a handler records vector, error code and EIP, then skips `fault_skip`
 * bytes and returns with HYPERVISOR_iret. ---- */

volatile uint32_t fault_count, fault_vec, fault_err, fault_eip, fault_skip = 2;
/* The rest of the frame: CS, EFLAGS, and from ring 3 also ESP and SS; the vcpu_info cr2
 * when shared_info is mapped. */
volatile uint32_t fault_cs, fault_eflags, fault_esp, fault_ss, fault_cr2;

#define FAULT_HANDLER(n, has_err)                                              \
    void fault_##n(void);                                                      \
    __asm__(".text\n fault_" #n ":\n"                                          \
            ".if " #has_err "\n popl fault_err\n .else\n movl $0, fault_err\n .endif\n" \
            " incl fault_count\n"                                              \
            " movl $" #n ", fault_vec\n"                                        \
            " pushl %eax\n"                                                    \
            " movl 4(%esp), %eax\n movl %eax, fault_eip\n"                     \
            " movl 8(%esp), %eax\n movl %eax, fault_cs\n"                      \
            " movl 12(%esp), %eax\n movl %eax, fault_eflags\n"                 \
            " testl $2, fault_cs\n jz 1f\n"                                    \
            " movl 16(%esp), %eax\n movl %eax, fault_esp\n"                    \
            " movl 20(%esp), %eax\n movl %eax, fault_ss\n"                     \
            "1: movl shinfo, %eax\n testl %eax, %eax\n jz 2f\n"               \
            " movl 8(%eax), %eax\n movl %eax, fault_cr2\n"                     \
            "2: movl fault_skip, %eax\n addl %eax, 4(%esp)\n"                  \
            " popl %eax\n"                                                     \
            " jmp hypercall_page + 23*32\n")

FAULT_HANDLER(6, 0);
FAULT_HANDLER(13, 1);
FAULT_HANDLER(14, 1);

/* ---- Ring 3: run_user(entry, esp) irets to `entry` in ring 3 (FLAT_RING3_CS/SS) on the
 * stack `esp`; the user code comes back with `int $USER_EXIT_VECTOR` (a DPL-3 gate; not
 * 0x82, the hypercall vector, whose gate in Xen's own IDT has DPL 1: pv_trap_init), and
 * run_user returns the user's %eax, with the exit frame in user_frame (EIP, CS, EFLAGS,
 * ESP, SS). Xen honours _PAGE_USER for a 32-bit guest (no adjust_guest_l1e for compat):
 * ring-3 code and data go in the .utext/.udata sections, which user_pages_setup maps
 * with _PAGE_USER. ---- */

#define USER_EXIT_VECTOR 0x85
#define UTEXT __attribute__((section(".utext")))
#define UDATA __attribute__((section(".udata")))
extern char user_text_start[], user_text_end[], user_data_start[], user_data_end[];
volatile uint32_t user_frame[5], user_saved_esp, user_eax, user_exit_esp;
static uint8_t user_kstack[8192] __attribute__((aligned(16)));
uint32_t run_user(void (*entry)(void), uint32_t esp);
void user_exit(void);
__asm__(".text\n run_user:\n"
        " movl 4(%esp), %ecx\n movl 8(%esp), %edx\n"
        " pushl %ebx\n pushl %esi\n pushl %edi\n pushl %ebp\n"
        " movl %esp, user_saved_esp\n"
        " pushl $0xe033\n pushl %edx\n pushfl\n pushl $0xe02b\n pushl %ecx\n"
        " iret\n"
        "user_exit:\n"
        " movl %eax, user_eax\n"
        " movl %esp, user_exit_esp\n"
        " movl 0(%esp), %eax\n movl %eax, user_frame\n"
        " movl 4(%esp), %eax\n movl %eax, user_frame+4\n"
        " movl 8(%esp), %eax\n movl %eax, user_frame+8\n"
        " movl 12(%esp), %eax\n movl %eax, user_frame+12\n"
        " movl 16(%esp), %eax\n movl %eax, user_frame+16\n"
        " movl $0xe021, %eax\n movl %eax, %ds\n movl %eax, %es\n"
        " movl user_saved_esp, %esp\n"
        " popl %ebp\n popl %edi\n popl %esi\n popl %ebx\n"
        " movl user_eax, %eax\n"
        " ret\n");

/* Set _PAGE_USER on the L1 entries of [start, end), keeping their other flags. */
static void make_user_range(char *start, char *end)
{
    for (char *p = start; p < end; p += PAGE_SIZE) {
        uint64_t e = *l1e_of((uint32_t)p);
        long r = HYPERVISOR_update_va_mapping((uint32_t)p, e | _PAGE_USER, UVMF_INVLPG);
        check_eq(r, 0, "mapping a page with _PAGE_USER");
    }
}

/* The kernel stack for entries from ring 3, and the user pages. */
static void user_pages_setup(void)
{
    check_eq(xen_hypercall3(__HYPERVISOR_stack_switch, FLAT_RING1_SS,
                            (long)(user_kstack + sizeof user_kstack), 0), 0, "stack_switch");
    make_user_range(user_text_start, user_text_end);
    make_user_range(user_data_start, user_data_end);
}

static void install_fault_handlers(void)
{
    static const struct trap_info table[] = {
        { 6, 1, FLAT_RING1_CS, (uint32_t)fault_6 },
        { 13, 1, FLAT_RING1_CS, (uint32_t)fault_13 },
        { 14, 1, FLAT_RING1_CS, (uint32_t)fault_14 },
        { USER_EXIT_VECTOR, 3, FLAT_RING1_CS, (uint32_t)user_exit },
        { 0, 0, 0, 0 },
    };
    check_eq(HYPERVISOR_set_trap_table(table), 0, "set_trap_table");
}

/* 2-byte accesses, so a fault handler with fault_skip = 2 steps over them. */
static inline uint32_t probe_read(uint32_t addr)
{
    uint32_t v = 0xdeadbeef;
    __asm__ volatile (".byte 0x8b, 0x01" /* mov (%ecx), %eax */
                      : "+a" (v) : "c" (addr) : "memory");
    return v;
}

static inline void probe_write(uint32_t addr, uint32_t v)
{
    __asm__ volatile (".byte 0x89, 0x01" /* mov %eax, (%ecx) */
                      :: "a" (v), "c" (addr) : "memory");
}

/* ---- Events: the upcall records the pending ports (2-level ABI) and clears them. ---- */

volatile uint32_t upcalls, port_hits[64], upcall_mask_seen;

void on_event(void)
{
    volatile struct vcpu_info *vi = &shinfo->vcpu_info[0];
    upcall_mask_seen = vi->evtchn_upcall_mask;
    upcalls++;
    vi->evtchn_upcall_pending = 0;
    uint32_t sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    while (sel) {
        uint32_t w = __builtin_ctz(sel);
        sel &= sel - 1;
        uint32_t bits = shinfo->evtchn_pending[w] & ~shinfo->evtchn_mask[w];
        while (bits) {
            uint32_t b = __builtin_ctz(bits);
            bits &= bits - 1;
            __atomic_and_fetch(&shinfo->evtchn_pending[w], ~(1u << b), __ATOMIC_SEQ_CST);
            if (w * 32 + b < 64)
                port_hits[w * 32 + b]++;
        }
    }
}

void event_entry(void);
void failsafe_entry(void);
__asm__(".text\n event_entry:\n"
        " pushl %eax\n pushl %ecx\n pushl %edx\n"
        " call on_event\n"
        " popl %edx\n popl %ecx\n popl %eax\n"
        " jmp hypercall_page + 23*32\n"
        "failsafe_entry:\n"
        " pushl $failsafe_msg\n call fail\n"
        ".section .rodata\n failsafe_msg: .asciz \"failsafe callback\"\n .text\n");

static void setup_events(void)
{
    map_shared_info();
    check_eq(HYPERVISOR_set_callbacks(event_entry, failsafe_entry), 0, "set_callbacks");
}

static inline void events_enable(void)
{
    shinfo->vcpu_info[0].evtchn_upcall_mask = 0;
    __asm__ volatile ("" ::: "memory");
    /* Xen delivers a pending upcall on the next exit to the guest: force one. */
    if (shinfo->vcpu_info[0].evtchn_upcall_pending)
        xen_hypercall3(__HYPERVISOR_xen_version, 0, 0, 0);
}

static inline void events_disable(void)
{
    shinfo->vcpu_info[0].evtchn_upcall_mask = 1;
    __asm__ volatile ("" ::: "memory");
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile ("rdtsc" : "=a" (lo), "=d" (hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Xen system time (ns) from vcpu_time_info and the TSC (xen.h's formula). */
static uint64_t system_time_ns(void)
{
    volatile struct vcpu_time_info *t = &shinfo->vcpu_info[0].time;
    uint32_t ver;
    uint64_t st, delta;
    uint32_t mul;
    int8_t shift;
    do {
        ver = t->version;
        __asm__ volatile ("" ::: "memory");
        st = t->system_time;
        delta = rdtsc() - t->tsc_timestamp;
        mul = t->tsc_to_system_mul;
        shift = t->tsc_shift;
        __asm__ volatile ("" ::: "memory");
    } while ((ver & 1) || ver != t->version);
    if (shift < 0)
        delta >>= -shift;
    else
        delta <<= shift;
    /* (delta * mul) >> 32 without 64x64 division helpers. */
    uint64_t lo = (uint64_t)(uint32_t)delta * mul;
    uint64_t hi = (delta >> 32) * mul;
    return st + hi + (lo >> 32);
}

#endif
