/*
 * user_pages: Xen runs a 32-bit PV guest's ring 3 with the guest's own U/S bits (no
 * adjust_guest_l1e for compat guests, xen/arch/x86/include/asm/pv/mm.h; the CPU's paging
 * checks apply as for any CPL-3 access), so ring 3 touching a page mapped without
 * _PAGE_USER takes #PF with error code P|U (read) or P|W|U (write), cr2 the address,
 * delivered to the kernel's handler (do_page_fault -> pv_inject_page_fault), and a
 * _PAGE_USER page next to it works.
 */
#define TEST_NAME "user_pages"
#include "xen-test.h"

XEN_TEST_GUEST_NOTES("xdbt-user_pages");

static uint8_t ustack[4096] UDATA __attribute__((aligned(4096)));
volatile uint32_t udata_word UDATA;
volatile uint32_t kernel_word[1024] PAGE_ALIGNED = { 0x5a5a5a5a };
#define USTACK_TOP ((uint32_t)(ustack + sizeof ustack))

#define USER_ENTRY(name, body)                                                \
    void name(void);                                                          \
    __asm__(".section .utext,\"ax\"\n" #name ":\n"                             \
            " movl $0xe033, %ecx\n movl %ecx, %ds\n movl %ecx, %es\n"          \
            body "\n int $0x85\n .previous\n")

USER_ENTRY(u_read_kernel, " movl $kernel_word, %ecx\n movl $0, %eax\n .byte 0x8b, 0x01\n");
USER_ENTRY(u_write_kernel, " movl $kernel_word, %ecx\n movl $7, %eax\n .byte 0x89, 0x01\n");
USER_ENTRY(u_read_user, " movl udata_word, %eax\n");

void guest_main(struct start_info *start)
{
    si = start;
    map_shared_info();
    install_fault_handlers();
    user_pages_setup();
    udata_word = 1234;

    check_eq(run_user(u_read_user, USTACK_TOP), 1234, "ring 3 reads a _PAGE_USER page");

    fault_count = 0;
    fault_skip = 2;
    uint32_t r = run_user(u_read_kernel, USTACK_TOP);
    check_eq(fault_count, 1, "ring-3 read of a supervisor page faults");
    check_eq(fault_vec, 14, "read: vector");
    check_eq(fault_err, 5, "read: #PF error code (present, user)");
    check_eq(fault_cr2, (uint32_t)kernel_word, "read: cr2");
    check_eq(r, 0, "read: nothing read");

    run_user(u_write_kernel, USTACK_TOP);
    check_eq(fault_count, 2, "ring-3 write of a supervisor page faults");
    check_eq(fault_err, 7, "write: #PF error code (present, write, user)");
    check_eq(kernel_word[0], 0x5a5a5a5a, "write: supervisor page unchanged");
    pass();
}
