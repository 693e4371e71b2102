/* Entry of our PV32 test guests: ESI = start_info (Xen's start-of-day ABI), a boot stack
 * of our own, then guest_main(start_info). */
    .text
    .globl _start
_start:
    cld
    lea stack_top, %esp
    push %esi
    call guest_main
    /* guest_main returned: report a crash. */
1:  push $3
    mov %esp, %ecx
    mov $2, %ebx
    mov $29, %eax
    call hypercall_page + 29 * 32
    jmp 1b

    .balign 4096
    .globl hypercall_page
hypercall_page:
    .fill 4096, 1, 0xcc

    .bss
    .balign 16
    .fill 16384, 1, 0
stack_top:
