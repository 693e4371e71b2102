/*
 * Minimal headers for writing Xen PV32 test guests (gcc -m32 -ffreestanding -nostdlib).
 * Layouts and numbers: xen/include/public/xen.h, elfnote.h, sched.h, version.h (Xen 4.17);
 * the Rust side checks the same values against the real headers (hypercall-abi/).
 */
#ifndef XEN_PV32_H
#define XEN_PV32_H

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef signed char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long long int64_t;

/* Hypercall numbers (xen.h). */
#define __HYPERVISOR_set_trap_table  0
#define __HYPERVISOR_mmu_update      1
#define __HYPERVISOR_set_gdt         2
#define __HYPERVISOR_stack_switch    3
#define __HYPERVISOR_set_callbacks   4
#define __HYPERVISOR_fpu_taskswitch  5
#define __HYPERVISOR_sched_op_compat 6
#define __HYPERVISOR_platform_op     7
#define __HYPERVISOR_set_debugreg    8
#define __HYPERVISOR_get_debugreg    9
#define __HYPERVISOR_update_descriptor 10
#define __HYPERVISOR_memory_op      12
#define __HYPERVISOR_multicall      13
#define __HYPERVISOR_update_va_mapping 14
#define __HYPERVISOR_set_timer_op   15
#define __HYPERVISOR_event_channel_op_compat 16
#define __HYPERVISOR_xen_version    17
#define __HYPERVISOR_console_io     18
#define __HYPERVISOR_physdev_op_compat 19
#define __HYPERVISOR_grant_table_op 20
#define __HYPERVISOR_vm_assist      21
#define __HYPERVISOR_update_va_mapping_otherdomain 22
#define __HYPERVISOR_iret           23
#define __HYPERVISOR_vcpu_op        24
#define __HYPERVISOR_set_segment_base 25
#define __HYPERVISOR_mmuext_op      26
#define __HYPERVISOR_xsm_op         27
#define __HYPERVISOR_nmi_op         28
#define __HYPERVISOR_sched_op       29
#define __HYPERVISOR_callback_op    30
#define __HYPERVISOR_event_channel_op 32
#define __HYPERVISOR_physdev_op     33

/* errno.h (Xen's values, returned negated). */
#define XEN_EPERM    1
#define XEN_ENOENT   2
#define XEN_ESRCH    3
#define XEN_EFAULT  14
#define XEN_EBUSY   16
#define XEN_EEXIST  17
#define XEN_EINVAL  22
#define XEN_ENOSPC  28
#define XEN_ENOSYS  38
#define XEN_ETIME   62
#define XEN_EOPNOTSUPP 95
#define XEN_EACCES  13
#define XEN_EAGAIN  11

#define DOMID_SELF  0x7FF0u
#define DOMID_IO    0x7FF1u
#define DOMID_XEN   0x7FF2u

#define CONSOLEIO_write 0
#define CONSOLEIO_read  1
#define SCHEDOP_yield    0
#define SCHEDOP_block    1
#define SCHEDOP_shutdown 2
#define SCHEDOP_poll     3
#define SCHEDOP_shutdown_code 5
#define SHUTDOWN_poweroff 0
#define SHUTDOWN_reboot   1
#define SHUTDOWN_crash    3
#define XENVER_version      0
#define XENVER_extraversion 1
#define XENVER_compile_info 2
#define XENVER_capabilities 3
#define XENVER_changeset    4
#define XENVER_platform_parameters 5
#define XENVER_get_features 6
#define XENVER_pagesize     7
#define XENVER_guest_handle 8

/* Virtual address space (arch-x86/xen-x86_32.h, PAE). */
#define HYPERVISOR_VIRT_START 0xF5800000u
#define MACH2PHYS_VIRT_START  0xF5800000u
#define FLAT_RING1_CS 0xe019
#define FLAT_RING1_DS 0xe021
#define FLAT_RING1_SS 0xe021
#define FLAT_RING3_CS 0xe02b
#define FLAT_RING3_DS 0xe033
#define FLAT_RING3_SS 0xe033

/* Page-table entry bits (PAE). */
#define _PAGE_PRESENT  0x001u
#define _PAGE_RW       0x002u
#define _PAGE_USER     0x004u
#define _PAGE_PWT      0x008u
#define _PAGE_PCD      0x010u
#define _PAGE_ACCESSED 0x020u
#define _PAGE_DIRTY    0x040u
#define _PAGE_PSE      0x080u
#define _PAGE_GLOBAL   0x100u

/* mmu_update (xen.h). */
#define MMU_NORMAL_PT_UPDATE       0
#define MMU_MACHPHYS_UPDATE        1
#define MMU_PT_UPDATE_PRESERVE_AD  2
#define MMU_PT_UPDATE_NO_TRANSLATE 3
struct mmu_update {
    uint64_t ptr;
    uint64_t val;
};

/* mmuext_op (xen.h): 12 bytes on x86_32. */
#define MMUEXT_PIN_L1_TABLE      0
#define MMUEXT_PIN_L2_TABLE      1
#define MMUEXT_PIN_L3_TABLE      2
#define MMUEXT_PIN_L4_TABLE      3
#define MMUEXT_UNPIN_TABLE       4
#define MMUEXT_NEW_BASEPTR       5
#define MMUEXT_TLB_FLUSH_LOCAL   6
#define MMUEXT_INVLPG_LOCAL      7
#define MMUEXT_TLB_FLUSH_MULTI   8
#define MMUEXT_INVLPG_MULTI      9
#define MMUEXT_TLB_FLUSH_ALL    10
#define MMUEXT_INVLPG_ALL       11
#define MMUEXT_FLUSH_CACHE      12
#define MMUEXT_SET_LDT          13
#define MMUEXT_NEW_USER_BASEPTR 15
#define MMUEXT_CLEAR_PAGE       16
#define MMUEXT_COPY_PAGE        17
#define MMUEXT_FLUSH_CACHE_GLOBAL 18
#define MMUEXT_MARK_SUPER       19
#define MMUEXT_UNMARK_SUPER     20
struct mmuext_op {
    uint32_t cmd;
    uint32_t arg1; /* mfn or linear_addr */
    uint32_t arg2; /* nr_ents, vcpumask or src_mfn */
};

#define UVMF_NONE      0u
#define UVMF_TLB_FLUSH 1u
#define UVMF_INVLPG    2u
#define UVMF_LOCAL     0u
#define UVMF_ALL       4u

#define VMASST_CMD_enable  0
#define VMASST_CMD_disable 1
#define VMASST_TYPE_4gb_segments        0
#define VMASST_TYPE_4gb_segments_notify 1
#define VMASST_TYPE_writable_pagetables 2
#define VMASST_TYPE_pae_extended_cr3    3
#define VMASST_TYPE_architectural_iopl  4
#define VMASST_TYPE_runstate_update_flag 5
#define VMASST_TYPE_m2p_strict          32

/* Traps (arch-x86/xen.h). */
struct trap_info {
    uint8_t vector;
    uint8_t flags;
    uint16_t cs;
    uint32_t address;
};

/* multicall_entry (xen.h, x86_32): 32 bytes. */
struct multicall_entry {
    uint32_t op;
    int32_t result;
    uint32_t args[6];
};

/* Shared info (xen.h, x86_32). */
struct vcpu_time_info {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags;
    uint8_t pad1[2];
};
struct vcpu_info {
    uint8_t evtchn_upcall_pending;
    uint8_t evtchn_upcall_mask;
    uint8_t pad0[2];
    uint32_t evtchn_pending_sel;
    uint32_t cr2;      /* arch_vcpu_info */
    uint32_t arch_pad[5];
    struct vcpu_time_info time;
};
struct shared_info {
    struct vcpu_info vcpu_info[32];
    uint32_t evtchn_pending[32];
    uint32_t evtchn_mask[32];
    uint32_t wc_version;
    uint32_t wc_sec;
    uint32_t wc_nsec;
    /* arch_shared_info */
    uint32_t max_pfn;
    uint32_t pfn_to_mfn_frame_list_list;
    uint32_t nmi_reason;
    uint32_t p2m_cr3;
    uint32_t p2m_vaddr;
    uint32_t p2m_generation;
    uint32_t wc_sec_hi;
};

/* Event channels (event_channel.h). */
#define EVTCHNOP_bind_interdomain 0
#define EVTCHNOP_bind_virq        1
#define EVTCHNOP_bind_pirq        2
#define EVTCHNOP_close            3
#define EVTCHNOP_send             4
#define EVTCHNOP_status           5
#define EVTCHNOP_alloc_unbound    6
#define EVTCHNOP_bind_ipi         7
#define EVTCHNOP_bind_vcpu        8
#define EVTCHNOP_unmask           9
#define EVTCHNOP_reset           10
#define EVTCHNOP_init_control    11
#define EVTCHNOP_expand_array    12
#define EVTCHNOP_set_priority    13
#define EVTCHNSTAT_closed       0
#define EVTCHNSTAT_unbound      1
#define EVTCHNSTAT_interdomain  2
#define EVTCHNSTAT_pirq         3
#define EVTCHNSTAT_virq         4
#define EVTCHNSTAT_ipi          5
#define VIRQ_TIMER   0
#define VIRQ_DEBUG   1
#define VIRQ_CONSOLE 2
struct evtchn_alloc_unbound { uint16_t dom, remote_dom; uint32_t port; };
struct evtchn_bind_interdomain { uint16_t remote_dom, pad; uint32_t remote_port, local_port; };
struct evtchn_bind_virq { uint32_t virq, vcpu, port; };
struct evtchn_bind_ipi { uint32_t vcpu, port; };
struct evtchn_status {
    uint16_t dom, pad;
    uint32_t port;
    uint32_t status;
    uint32_t vcpu;
    union {
        struct { uint16_t dom; } unbound;
        struct { uint16_t dom, pad; uint32_t port; } interdomain;
        uint32_t pirq;
        uint32_t virq;
    } u;
};
struct evtchn_init_control {
    uint64_t control_gfn;
    uint32_t offset;
    uint32_t vcpu;
    uint8_t link_bits;
    uint8_t pad[7];
};

/* sched_op (sched.h). */
struct sched_poll {
    uint32_t *ports;
    uint32_t nr_ports;
    uint64_t timeout;
};

/* vcpu_op (vcpu.h). */
#define VCPUOP_is_up                 3
#define VCPUOP_get_runstate_info     4
#define VCPUOP_set_periodic_timer    6
#define VCPUOP_stop_periodic_timer   7
#define VCPUOP_set_singleshot_timer  8
#define VCPUOP_stop_singleshot_timer 9
#define VCPU_SSHOTTMR_future 1
struct vcpu_set_singleshot_timer { uint64_t timeout_abs_ns; uint32_t flags; };
struct vcpu_runstate_info {
    int32_t state;
    uint64_t state_entry_time;
    uint64_t time[4];
} __attribute__((packed));

/* callback_op (callback.h). */
#define CALLBACKOP_register   0
#define CALLBACKOP_unregister 1
#define CALLBACKTYPE_event    0
#define CALLBACKTYPE_failsafe 1
#define CALLBACKTYPE_nmi      4
#define CALLBACKF_mask_events 1
struct callback_register { uint16_t type, flags; uint32_t cs, eip; };

/* memory_op (memory.h). */
#define XENMEM_increase_reservation 0
#define XENMEM_decrease_reservation 1
#define XENMEM_maximum_ram_page     2
#define XENMEM_current_reservation  3
#define XENMEM_maximum_reservation  4
#define XENMEM_populate_physmap     6
#define XENMEM_memory_map           9
#define XENMEM_machphys_mapping    12
#define XENMEM_maximum_gpfn        14
struct xen_machphys_mapping { uint32_t v_start, v_end, max_mfn; };
struct xen_memory_map { uint32_t nr_entries; void *buffer; };
struct e820entry { uint64_t addr, size; uint32_t type; } __attribute__((packed));

/* grant_table_op (grant_table.h). */
#define GNTTABOP_setup_table 2
#define GNTTABOP_query_size  6
#define GNTTABOP_set_version 8
#define GNTTABOP_get_version 10
struct gnttab_setup_table { uint16_t dom, pad; uint32_t nr_frames; int16_t status, pad2; uint32_t *frame_list; };
struct gnttab_query_size { uint16_t dom, pad; uint32_t nr_frames, max_nr_frames; int16_t status, pad2; };
struct gnttab_set_version { uint32_t version; };
struct gnttab_get_version { uint16_t dom, pad; uint32_t version; };

/* physdev_op (physdev.h), nmi_op (nmi.h). */
#define PHYSDEVOP_set_iopl 6
#define PHYSDEVOP_set_iobitmap 7
#define XENNMI_register_callback   0
#define XENNMI_unregister_callback 1

/* ELF notes (elfnote.h): type, then a descriptor in assembler syntax. */
#define XEN_ELFNOTE_ENTRY          1
#define XEN_ELFNOTE_HYPERCALL_PAGE 2
#define XEN_ELFNOTE_VIRT_BASE      3
#define XEN_ELFNOTE_PADDR_OFFSET   4
#define XEN_ELFNOTE_XEN_VERSION    5
#define XEN_ELFNOTE_GUEST_OS       6
#define XEN_ELFNOTE_LOADER         8
#define XEN_ELFNOTE_PAE_MODE       9
#define XEN_ELFNOTE_FEATURES      10

#define XEN_STR_(x) #x
#define XEN_STR(x) XEN_STR_(x)
#define XEN_ELFNOTE(type, desc)                                          \
    __asm__(".pushsection .note.Xen,\"a\",@note\n"                       \
            ".balign 4\n"                                               \
            ".long 2f - 1f\n"                                           \
            ".long 4f - 3f\n"                                           \
            ".long " XEN_STR(type) "\n"                                  \
            "1: .asciz \"Xen\"\n"                                       \
            "2: .balign 4\n"                                            \
            "3: " desc "\n"                                             \
            "4: .balign 4\n"                                            \
            ".popsection\n")

/* start_info (xen.h, x86_32 layout: 1112 bytes). */
struct start_info {
    char magic[32];
    uint32_t nr_pages;
    uint32_t shared_info;
    uint32_t flags;
    uint32_t store_mfn;
    uint32_t store_evtchn;
    uint32_t console_mfn;
    uint32_t console_evtchn;
    uint32_t pt_base;
    uint32_t nr_pt_frames;
    uint32_t mfn_list;
    uint32_t mod_start;
    uint32_t mod_len;
    char cmd_line[1024];
    uint32_t first_p2m_pfn;
    uint32_t nr_p2m_frames;
};

/* The hypercall page the loader fills: 32-byte stubs, one per hypercall number. */
extern char hypercall_page[4096];

static inline long xen_hypercall5(unsigned nr, long a1, long a2, long a3, long a4, long a5)
{
    long ret, d1, d2, d3, d4, d5;
    __asm__ volatile ("call *%%eax"
                      : "=a" (ret), "=b" (d1), "=c" (d2), "=d" (d3), "=S" (d4), "=D" (d5)
                      : "a" (hypercall_page + nr * 32), "b" (a1), "c" (a2), "d" (a3), "S" (a4), "D" (a5)
                      : "memory");
    return ret;
}

static inline long xen_hypercall3(unsigned nr, long a1, long a2, long a3)
{
    return xen_hypercall5(nr, a1, a2, a3, 0, 0);
}

static inline long xen_hypercall4(unsigned nr, long a1, long a2, long a3, long a4)
{
    return xen_hypercall5(nr, a1, a2, a3, a4, 0);
}

static inline long HYPERVISOR_mmu_update(struct mmu_update *req, unsigned count,
                                         unsigned *done, unsigned foreigndom)
{
    return xen_hypercall4(__HYPERVISOR_mmu_update, (long)req, count, (long)done, foreigndom);
}

static inline long HYPERVISOR_mmuext_op(struct mmuext_op *op, unsigned count, unsigned *done,
                                        unsigned foreigndom)
{
    return xen_hypercall4(__HYPERVISOR_mmuext_op, (long)op, count, (long)done, foreigndom);
}

static inline long HYPERVISOR_update_va_mapping(uint32_t va, uint64_t pte, uint32_t flags)
{
    return xen_hypercall4(__HYPERVISOR_update_va_mapping, va, (uint32_t)pte,
                          (uint32_t)(pte >> 32), flags);
}

static inline long HYPERVISOR_event_channel_op(unsigned cmd, void *arg)
{
    return xen_hypercall3(__HYPERVISOR_event_channel_op, cmd, (long)arg, 0);
}

static inline long HYPERVISOR_sched_op(unsigned cmd, void *arg)
{
    return xen_hypercall3(__HYPERVISOR_sched_op, cmd, (long)arg, 0);
}

static inline long HYPERVISOR_vcpu_op(unsigned cmd, unsigned vcpu, void *arg)
{
    return xen_hypercall3(__HYPERVISOR_vcpu_op, cmd, vcpu, (long)arg);
}

static inline long HYPERVISOR_memory_op(unsigned cmd, void *arg)
{
    return xen_hypercall3(__HYPERVISOR_memory_op, cmd, (long)arg, 0);
}

static inline long HYPERVISOR_grant_table_op(unsigned cmd, void *arg, unsigned count)
{
    return xen_hypercall3(__HYPERVISOR_grant_table_op, cmd, (long)arg, count);
}

static inline long HYPERVISOR_vm_assist(unsigned cmd, unsigned type)
{
    return xen_hypercall3(__HYPERVISOR_vm_assist, cmd, type, 0);
}

static inline long HYPERVISOR_multicall(struct multicall_entry *calls, unsigned n)
{
    return xen_hypercall3(__HYPERVISOR_multicall, (long)calls, n, 0);
}

static inline long HYPERVISOR_set_timer_op(uint64_t timeout)
{
    return xen_hypercall3(__HYPERVISOR_set_timer_op, (uint32_t)timeout,
                          (uint32_t)(timeout >> 32), 0);
}

static inline long HYPERVISOR_set_callbacks(void (*event)(void), void (*failsafe)(void))
{
    return xen_hypercall4(__HYPERVISOR_set_callbacks, FLAT_RING1_CS, (long)event,
                          FLAT_RING1_CS, (long)failsafe);
}

static inline long HYPERVISOR_set_trap_table(const struct trap_info *t)
{
    return xen_hypercall3(__HYPERVISOR_set_trap_table, (long)t, 0, 0);
}

static inline long xen_console_write(const char *s, unsigned len)
{
    return xen_hypercall3(__HYPERVISOR_console_io, CONSOLEIO_write, len, (long)s);
}

static inline void xen_shutdown(unsigned reason)
{
    xen_hypercall3(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (long)&reason, 0);
}

static inline unsigned xen_strlen(const char *s)
{
    unsigned n = 0;
    while (s[n])
        n++;
    return n;
}

static inline void xen_puts(const char *s)
{
    xen_console_write(s, xen_strlen(s));
}

/*
 * The standard notes of a test guest linked at 0xC0000000 (see tests/guests/guest.ld) with
 * `_start` as entry and a page-aligned `hypercall_page`.
 */
#define XEN_TEST_GUEST_NOTES(name)                                       \
    XEN_ELFNOTE(XEN_ELFNOTE_GUEST_OS, ".asciz \"" name "\"");            \
    XEN_ELFNOTE(XEN_ELFNOTE_XEN_VERSION, ".asciz \"xen-3.0\"");          \
    XEN_ELFNOTE(XEN_ELFNOTE_LOADER, ".asciz \"generic\"");               \
    XEN_ELFNOTE(XEN_ELFNOTE_VIRT_BASE, ".long 0xC0000000");              \
    XEN_ELFNOTE(XEN_ELFNOTE_PADDR_OFFSET, ".long 0xC0000000");           \
    XEN_ELFNOTE(XEN_ELFNOTE_ENTRY, ".long _start");                      \
    XEN_ELFNOTE(XEN_ELFNOTE_HYPERCALL_PAGE, ".long hypercall_page");     \
    XEN_ELFNOTE(XEN_ELFNOTE_PAE_MODE, ".asciz \"yes\"");                 \
    XEN_ELFNOTE(XEN_ELFNOTE_FEATURES, ".asciz \"!writable_page_tables|pae_pgdir_above_4gb\"")

#endif
