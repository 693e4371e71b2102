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

/* Hypercall numbers (xen.h). */
#define __HYPERVISOR_set_trap_table  0
#define __HYPERVISOR_stack_switch    3
#define __HYPERVISOR_set_callbacks   4
#define __HYPERVISOR_fpu_taskswitch  5
#define __HYPERVISOR_xen_version    17
#define __HYPERVISOR_console_io     18
#define __HYPERVISOR_vm_assist      21
#define __HYPERVISOR_sched_op       29

#define CONSOLEIO_write 0
#define SCHEDOP_yield    0
#define SCHEDOP_shutdown 2
#define SHUTDOWN_poweroff 0
#define SHUTDOWN_reboot   1
#define SHUTDOWN_crash    3
#define XENVER_version      0
#define XENVER_capabilities 3

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

static inline long xen_hypercall3(unsigned nr, long a1, long a2, long a3)
{
    long ret, d1, d2, d3;
    __asm__ volatile ("call *%[fn]"
                      : "=a" (ret), "=b" (d1), "=c" (d2), "=d" (d3)
                      : [fn] "r" (hypercall_page + nr * 32),
                        "b" (a1), "c" (a2), "d" (a3)
                      : "memory");
    return ret;
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
