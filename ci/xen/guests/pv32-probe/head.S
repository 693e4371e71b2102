/*
 * pv32-probe: the smallest image the domain builder accepts as a 32-bit (PAE) PV kernel.
 * The boot test creates it only to report how far `xl create` of a 32-bit PV guest gets
 * (today: refused, since translated domains are not wired up; docs/XEN.md). Should it ever
 * run, it spins until destroyed.
 *
 * Notes: xen/include/public/elfnote.h.
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

ELFNOTE(XEN_ELFNOTE_GUEST_OS, .asciz "pv32-probe")
ELFNOTE(XEN_ELFNOTE_LOADER, .asciz "generic")
ELFNOTE(XEN_ELFNOTE_XEN_VERSION, .asciz "xen-3.0")
ELFNOTE(XEN_ELFNOTE_PAE_MODE, .asciz "yes")
ELFNOTE(XEN_ELFNOTE_VIRT_BASE, .long 0)
ELFNOTE(XEN_ELFNOTE_PADDR_OFFSET, .long 0)
ELFNOTE(XEN_ELFNOTE_ENTRY, .long _start)
ELFNOTE(XEN_ELFNOTE_HYPERCALL_PAGE, .long hypercall_page)

    .text
    .code32
    .globl _start
_start:
    jmp     _start

    .balign 4096
hypercall_page:
    .fill 4096, 1, 0xcc

    .section .note.GNU-stack, "", @progbits
