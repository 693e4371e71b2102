/*
 * pv64-hello: entry point and Xen ELF notes of a minimal 64-bit PV guest.
 *
 * Notes: xen/include/public/elfnote.h (format as in XTF's arch/x86/boot/head_pv.S).
 * The domain builder enters _start in long mode, ring 3 (kernel mode), with
 * %rsi = the start_info page, the image and the pages after it mapped at
 * VIRT_BASE + pfn * 4 KiB, and no stack we can rely on.
 */
#include <elfnote.h>

#define ELFNOTE(type, desc)                     \
    .pushsection .note.Xen, "a", @note;         \
    .balign 4;                                  \
    .long 2f - 1f;      /* namesz */            \
    .long 4f - 3f;      /* descsz */            \
    .long type;                                 \
1:  .asciz "Xen";                               \
2:  .balign 4;                                  \
3:  desc;                                       \
4:  .balign 4;                                  \
    .popsection

ELFNOTE(XEN_ELFNOTE_GUEST_OS, .asciz "pv64-hello")
ELFNOTE(XEN_ELFNOTE_GUEST_VERSION, .asciz "1")
ELFNOTE(XEN_ELFNOTE_LOADER, .asciz "generic")
ELFNOTE(XEN_ELFNOTE_XEN_VERSION, .asciz "xen-3.0")
ELFNOTE(XEN_ELFNOTE_VIRT_BASE, .quad 0)
ELFNOTE(XEN_ELFNOTE_PADDR_OFFSET, .quad 0)
ELFNOTE(XEN_ELFNOTE_ENTRY, .quad _start)
ELFNOTE(XEN_ELFNOTE_HYPERCALL_PAGE, .quad hypercall_page)

    .text
    .code64
    .globl _start
_start:
    lea     boot_stack_top(%rip), %rsp
    mov     %rsi, %rdi              /* start_info_t * */
    call    hello_main
    ud2                             /* hello_main does not return */

    /* Filled with hypercall stubs by the domain builder: entry n at n * 32. */
    .balign 4096
    .globl hypercall_page
hypercall_page:
    .fill 4096, 1, 0xcc

    .bss
    .balign 16
boot_stack:
    .skip 16384
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
