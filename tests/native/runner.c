/*
 * xdbt native runner: the host CPU as the oracle for IA-32 instruction semantics.
 *
 * A static 32-bit Linux program (gcc -m32 -static -O2) that runs code snippets
 * ("cases", xdbt::hosted::snippet::SnippetCase) natively, in this very process,
 * and reports the state at the first exception.  One process serves any number
 * of cases over stdin/stdout; the client is src/hosted/oracle.rs.  Compare
 * QEMU's tests/tcg/i386/test-i386.c (output checked against a real CPU) and
 * Xen's tools/tests/x86_emulator harness (native vs emulated).
 *
 * Protocol (all integers u32, little endian; "XDBH" etc. are the four ASCII
 * bytes in memory order, i.e. the u32 0x48424458 for "XDBH"):
 *
 *   runner -> client, once at start (hello):
 *     "XDBH", version (= 2), case_lo, case_hi
 *       Regions of cases must lie in [case_lo, case_hi) (0x10000000 and
 *       0x80000000): nothing of the runner itself is there.
 *
 *   client -> runner, per case (request):
 *     "XDBC", nregions (<= 16), regs[8] (EAX ECX EDX EBX ESP EBP ESI EDI),
 *     eflags, entry, fx_len (0 or 512), fx_len bytes of an FXSAVE image,
 *     nregions x { addr, len, prot }     (prot bits: R=1 W=2 X=4)
 *     then the len bytes of data of every region, in the same order.
 *   The FXSAVE image (SDM Vol. 1, 10.5.1, 32-bit layout) is the case's initial
 *   x87/MMX/SSE state; without one (fx_len 0) the case starts from the FNINIT
 *   state with MXCSR 0x1f80 and all x87 and XMM registers zero.
 *   A client that has no more cases closes stdin; the runner exits 0.
 *
 *   runner -> client, per case, in request order (response):
 *     "XDBR", status,
 *     status 1 (REFUSED): msg_len, msg_len bytes of text.  Nothing else; the
 *       case did not run (bad region, overlap with the runner or with another
 *       region, mmap failure, an FXSAVE image whose MXCSR has bits set that
 *       this CPU's MXCSR_MASK does not allow).
 *     status 0 (STOPPED), 2 (TIMEOUT), 3 (SYSCALL):
 *       regs[8], eip, eflags, vector, error_code, cr2,
 *       512 bytes: the x87/MMX/SSE state at the stop as a 512-byte FXSAVE
 *       image (see "FP state at the stop" below),
 *       then the final len bytes of every region, in request order.
 *     STOPPED: the case raised exception `vector` (the x86 vector: REG_TRAPNO
 *       of the signal's ucontext); error_code is REG_ERR; cr2 is the faulting
 *       linear address for vector 14 and 0 otherwise.  eip/regs/eflags are
 *       the state Linux reports: after the instruction for traps (int3, into),
 *       at the faulting instruction for faults.
 *     TIMEOUT: the case ran for 1 to 2 s (an endless loop); the state is the
 *       one at the interruption, vector/error_code/cr2 are 0.
 *     SYSCALL: the case attempted a system call (int 0x80, sysenter, syscall);
 *       a seccomp filter refused it without executing it; eip is after the
 *       instruction.
 *
 * How a case runs: every region is mapped at its address
 * (MAP_FIXED_NOREPLACE, so a case can never replace the runner's own memory),
 * filled, and given its protection; EAX..EDI and EFLAGS (CF PF AF ZF SF OF DF
 * only, IF kept) are loaded (popfd from a runner-owned word: the case's stack
 * is not touched) and the runner jumps to entry with the Linux i386 user
 * segments it runs with itself (CS 0x23, DS/ES/SS 0x2b) and FS = GS = 0 (the
 * runner's own GS, its TLS, is restored after the case), and the case's
 * x87/MMX/SSE state loaded with FXRSTOR from its FXSAVE image or, without one,
 * from the FNINIT image with MXCSR 0x1f80 and zeroed registers (so no x87/SSE
 * state leaks from one case into the next).  The first synchronous signal
 * (SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGILL; SIGSYS from seccomp) is caught
 * on an alternate stack; the handler
 * records the state from the ucontext and rewrites the ucontext so that
 * sigreturn resumes the runner (its stack, its segment registers, EFLAGS
 * 0x202 so DF and AC are clear). A periodic ITIMER_REAL tick (1 s) ends a
 * case that has been running at two consecutive ticks. Mappings are kept for
 * the next case when it has a region with the same address and length
 * (contents are always rewritten), and unmapped otherwise.
 *
 * FP state at the stop: the kernel saves the interrupted state in the signal
 * frame (uc_mcontext.fpregs, struct _fpstate_32 of asm/sigcontext.h): a
 * 112-byte FNSAVE-format header the kernel converts, then, when its magic
 * (at offset 110) is 0x0000 (X86_FXSR_MAGIC), the 512-byte FXSAVE-format
 * area the kernel's XSAVE wrote.  The runner sends that area as it is.  A
 * 64-bit kernel saves with the 64-bit form (XSAVE64), so bytes 8-15 and 16-23
 * are 64-bit FIP and FDP: FCS (bytes 12-13) and FDS (20-21) read as 0 in the
 * 32-bit layout.  AMD CPUs store FOP/FIP/FDP only while an unmasked x87
 * exception is pending (FSW.ES = 1) and zeros otherwise; FNSTENV/FNSAVE store
 * them always.  Bytes 464-511 hold the kernel's software-reserved words.  The
 * handler then puts the FNINIT state and MXCSR 0x1f80 into the frame, so that
 * the runner resumes without the case's pending exceptions or modes.
 *
 * The signal handler may run with the case's FS and GS (the kernel resets only
 * DS/ES/CS/SS for the handler), so it must not touch thread-local storage; the
 * whole file is built without the stack protector (which reads %gs:0x14).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#if !defined(__i386__)
#error "the native runner must be built with -m32"
#endif
#if defined(__SSP__) || defined(__SSP_STRONG__) || defined(__SSP_ALL__) || defined(__SSP_EXPLICIT__)
#error "build with -fno-stack-protector: the signal handler runs with the case's GS"
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PROTOCOL_VERSION 2
#define MAGIC_HELLO 0x48424458u /* "XDBH" */
#define MAGIC_REQ 0x43424458u   /* "XDBC" */
#define MAGIC_RSP 0x52424458u   /* "XDBR" */

#define STATUS_STOPPED 0
#define STATUS_REFUSED 1
#define STATUS_TIMEOUT 2
#define STATUS_SYSCALL 3

#define CASE_LO 0x10000000u
#define CASE_HI 0x80000000u
#define MAX_REGIONS 16
#define PAGE 4096u
#define FX_LEN 512u
/* Offsets in struct _fpstate_32 (asm/sigcontext.h) and in an FXSAVE image. */
#define FPSTATE_MAGIC 110
#define FPSTATE_FXSR 112
#define FX_FCW 0
#define FX_FSW 2
#define FX_FTW 4
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28

/* EFLAGS bits a case may set: CF PF AF ZF SF DF OF. */
#define CASE_FLAGS 0x00000cd5u
#define FLAGS_IF 0x00000200u
#define FLAGS_FIXED1 0x00000002u

struct region {
    uint32_t addr, len, prot;
};

/* State shared with the assembly trampoline and the signal handler. */
uint32_t case_regs[8];
uint32_t case_flags;
uint32_t case_entry;
uint32_t saved_esp;
uint32_t mxcsr_init = 0x1f80;
volatile uint32_t in_case;
/* The case's initial FXSAVE image, loaded by enter_case. */
unsigned char case_fx[FX_LEN] __attribute__((aligned(64)));
/* The FNINIT state with MXCSR 0x1f80 and all registers zero (set up by main). */
static unsigned char default_fx[FX_LEN] __attribute__((aligned(64)));
/* MXCSR bits this CPU allows (FXSAVE's MXCSR_MASK; 0xffbf when it stores 0). */
static uint32_t mxcsr_mask;

static volatile uint32_t case_seq, tick_seq;
static uint16_t saved_cs, saved_ss, saved_ds, saved_es, saved_fs, saved_gs;

static struct {
    uint32_t status;
    uint32_t regs[8];
    uint32_t eip, eflags, vector, err, cr2;
    unsigned char fx[FX_LEN];
} out;

/* Mappings left from the previous case. */
static struct {
    uint32_t addr, len;
    int prot; /* current host protection */
} maps[MAX_REGIONS];
static int nmaps;

static unsigned char altstack[256 * 1024] __attribute__((aligned(64)));
static unsigned char inbuf[1 << 16];
static unsigned char outbuf[1 << 16];
static size_t in_pos, in_len, out_len;

extern char __executable_start[];
void enter_case(void);
void case_return(void);

/*
 * enter_case: save the callee-saved registers and ESP, load the case's
 * EFLAGS and registers, jump to its entry.  The signal handler ends the case
 * by making sigreturn resume at case_return with ESP = saved_esp.
 */
__asm__(".text\n"
        ".globl enter_case\n"
        ".type enter_case, @function\n"
        "enter_case:\n"
        "    pushl %ebp\n"
        "    pushl %ebx\n"
        "    pushl %esi\n"
        "    pushl %edi\n"
        "    movl %esp, saved_esp\n"
        /* Zero all eight physical x87 registers, then FNINIT: an FNSAVE of empty
         * registers shows their stale contents, and the translator starts every
         * case from a zeroed register file. */
        "    fninit\n"
        "    fldz\n    fldz\n    fldz\n    fldz\n"
        "    fldz\n    fldz\n    fldz\n    fldz\n"
        "    fninit\n"
        "    ldmxcsr mxcsr_init\n"
        /* The case's state (FXRSTOR also loads the contents of empty registers). */
        "    fxrstor case_fx\n"
        "    movl $1, in_case\n"
        "    xorl %eax, %eax\n"
        "    movw %ax, %fs\n"
        "    movw %ax, %gs\n"
        "    movl $case_flags, %esp\n"
        "    popfl\n"
        "    movl case_regs+0, %eax\n"
        "    movl case_regs+4, %ecx\n"
        "    movl case_regs+8, %edx\n"
        "    movl case_regs+12, %ebx\n"
        "    movl case_regs+20, %ebp\n"
        "    movl case_regs+24, %esi\n"
        "    movl case_regs+28, %edi\n"
        "    movl case_regs+16, %esp\n"
        "    jmp *case_entry\n"
        ".globl case_return\n"
        "case_return:\n"
        "    popl %edi\n"
        "    popl %esi\n"
        "    popl %ebx\n"
        "    popl %ebp\n"
        "    ret\n"
        ".size enter_case, . - enter_case\n");

static void raw_msg(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void wr16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void wr32(unsigned char *p, uint32_t v)
{
    wr16(p, (uint16_t)v);
    wr16(p + 2, (uint16_t)(v >> 16));
}

/*
 * Record the x87/MMX/SSE state of the signal frame as an FXSAVE image in out.fx
 * and leave the FNINIT state with MXCSR 0x1f80 in the frame for sigreturn.
 */
static void take_fp_state(ucontext_t *uc)
{
    unsigned char *fp = (unsigned char *)uc->uc_mcontext.fpregs;
    int i;

    if (!fp) {
        memcpy(out.fx, default_fx, FX_LEN);
        return;
    }
    if (rd16(fp + FPSTATE_MAGIC) == 0x0000) {
        memcpy(out.fx, fp + FPSTATE_FXSR, FX_LEN);
    } else {
        /* FNSAVE format only (a CPU without FXSR): rebuild the x87 part. */
        uint32_t tag = rd16(fp + 8);
        memset(out.fx, 0, FX_LEN);
        memcpy(out.fx + FX_FCW, fp, 2);
        memcpy(out.fx + FX_FSW, fp + 4, 2);
        for (i = 0; i < 8; i++)
            if (((tag >> (2 * i)) & 3) != 3)
                out.fx[FX_FTW] |= (unsigned char)(1u << i);
        memcpy(out.fx + 8, fp + 12, 4);  /* FIP */
        memcpy(out.fx + 12, fp + 16, 2); /* FCS */
        wr16(out.fx + 6, (uint16_t)(rd16(fp + 18) & 0x7ff)); /* FOP */
        memcpy(out.fx + 16, fp + 20, 4); /* FDP */
        memcpy(out.fx + 20, fp + 24, 2); /* FDS */
        for (i = 0; i < 8; i++)
            memcpy(out.fx + 32 + 16 * i, fp + 28 + 10 * i, 10);
        wr32(out.fx + FX_MXCSR, mxcsr_init);
    }

    /* The kernel restores an i386 frame's x87 part from the FNSAVE header and
     * MXCSR/XMM from the FXSAVE area: clean both. */
    wr32(fp + 0, 0xffff037fu); /* FCW */
    wr32(fp + 4, 0xffff0000u); /* FSW */
    wr32(fp + 8, 0xffffffffu); /* all registers empty */
    if (rd16(fp + FPSTATE_MAGIC) == 0x0000) {
        unsigned char *fx = fp + FPSTATE_FXSR;
        wr16(fx + FX_FCW, 0x037f);
        wr16(fx + FX_FSW, 0);
        fx[FX_FTW] = 0;
        wr32(fx + FX_MXCSR, mxcsr_init);
    }
}

static void on_signal(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    greg_t *g = uc->uc_mcontext.gregs;
    (void)si;

    if (!in_case) {
        if (sig == SIGALRM)
            return;
        /* A fault in the runner itself: die of it. */
        raw_msg("xdbt-native-runner: fault outside a case\n");
        signal(sig, SIG_DFL);
        return;
    }
    if (sig == SIGALRM) {
        if (case_seq != tick_seq) {
            tick_seq = case_seq;
            return;
        }
        out.status = STATUS_TIMEOUT;
    } else if (sig == SIGSYS) {
        out.status = STATUS_SYSCALL;
    } else {
        out.status = STATUS_STOPPED;
    }
    in_case = 0;

    out.regs[0] = g[REG_EAX];
    out.regs[1] = g[REG_ECX];
    out.regs[2] = g[REG_EDX];
    out.regs[3] = g[REG_EBX];
    out.regs[4] = g[REG_ESP];
    out.regs[5] = g[REG_EBP];
    out.regs[6] = g[REG_ESI];
    out.regs[7] = g[REG_EDI];
    out.eip = g[REG_EIP];
    out.eflags = g[REG_EFL];
    if (out.status == STATUS_STOPPED) {
        out.vector = g[REG_TRAPNO];
        out.err = g[REG_ERR];
        out.cr2 = out.vector == 14 ? uc->uc_mcontext.cr2 : 0;
    } else {
        out.vector = out.err = out.cr2 = 0;
    }
    take_fp_state(uc);

    /* Resume the runner at case_return, on its own stack and segments. */
    g[REG_EIP] = (greg_t)(uintptr_t)case_return;
    g[REG_ESP] = saved_esp;
    g[REG_UESP] = saved_esp;
    g[REG_EFL] = FLAGS_IF | FLAGS_FIXED1;
    g[REG_CS] = saved_cs;
    g[REG_SS] = saved_ss;
    g[REG_DS] = saved_ds;
    g[REG_ES] = saved_es;
    g[REG_FS] = saved_fs;
    g[REG_GS] = saved_gs;
}

/* ---- buffered I/O on fds 0 and 1 ---------------------------------------- */

static void die(const char *what)
{
    char buf[160];
    snprintf(buf, sizeof(buf), "xdbt-native-runner: %s: %s\n", what, strerror(errno));
    raw_msg(buf);
    _exit(2);
}

static void flush_out(void)
{
    size_t done = 0;
    while (done < out_len) {
        ssize_t w = write(1, outbuf + done, out_len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        done += (size_t)w;
    }
    out_len = 0;
}

static void put(const void *p, size_t n)
{
    const unsigned char *s = p;
    while (n) {
        size_t k;
        if (out_len == sizeof(outbuf))
            flush_out();
        k = sizeof(outbuf) - out_len;
        if (k > n)
            k = n;
        memcpy(outbuf + out_len, s, k);
        out_len += k;
        s += k;
        n -= k;
    }
}

static void put32(uint32_t v)
{
    put(&v, 4);
}

/* Fill the input buffer; returns 0 on end of input. Flushes output first so
 * that a client waiting for responses never waits on a runner waiting for it. */
static int fill_in(void)
{
    ssize_t r;
    flush_out();
    for (;;) {
        r = read(0, inbuf, sizeof(inbuf));
        if (r >= 0)
            break;
        if (errno != EINTR)
            die("read");
    }
    in_pos = 0;
    in_len = (size_t)r;
    return r > 0;
}

/* Read exactly n bytes into p (p may be NULL to discard). Returns 0 on EOF
 * before the first byte, exits on EOF in the middle. */
static int get(void *p, size_t n)
{
    unsigned char *d = p;
    int first = 1;
    while (n) {
        size_t k;
        if (in_pos == in_len && !fill_in()) {
            if (first)
                return 0;
            raw_msg("xdbt-native-runner: truncated request\n");
            _exit(2);
        }
        first = 0;
        k = in_len - in_pos;
        if (k > n)
            k = n;
        if (d) {
            memcpy(d, inbuf + in_pos, k);
            d += k;
        }
        in_pos += k;
        n -= k;
    }
    return 1;
}

static uint32_t get32(void)
{
    uint32_t v;
    get(&v, 4);
    return v;
}

/* ---- cases ---------------------------------------------------------------- */

static int host_prot(uint32_t prot)
{
    return ((prot & 1) ? PROT_READ : 0) | ((prot & 2) ? PROT_WRITE : 0) |
           ((prot & 4) ? PROT_EXEC : 0);
}

static void refuse(const char *msg)
{
    size_t n = strlen(msg);
    put32(MAGIC_RSP);
    put32(STATUS_REFUSED);
    put32((uint32_t)n);
    put(msg, n);
}

static void unmap_all(void)
{
    int i;
    for (i = 0; i < nmaps; i++)
        munmap((void *)(uintptr_t)maps[i].addr, maps[i].len);
    nmaps = 0;
}

/* Validate the regions and map them read-write. Returns NULL or a reason. */
static const char *map_regions(const struct region *r, uint32_t n, char *why, size_t whylen)
{
    uint32_t i, j;
    int keep[MAX_REGIONS] = { 0 }, newn = 0;
    static struct {
        uint32_t addr, len;
        int prot;
    } next[MAX_REGIONS];

    for (i = 0; i < n; i++) {
        if (r[i].addr % PAGE || r[i].len % PAGE || r[i].len == 0 || r[i].addr < CASE_LO ||
            r[i].addr >= CASE_HI || r[i].len > CASE_HI - r[i].addr) {
            snprintf(why, whylen, "region %#x+%#x is not page aligned inside [%#x, %#x)",
                     r[i].addr, r[i].len, CASE_LO, CASE_HI);
            return why;
        }
        if (r[i].prot & ~7u) {
            snprintf(why, whylen, "region %#x has bad prot %#x", r[i].addr, r[i].prot);
            return why;
        }
        for (j = 0; j < i; j++) {
            if (r[i].addr < r[j].addr + r[j].len && r[j].addr < r[i].addr + r[i].len) {
                snprintf(why, whylen, "regions %#x and %#x overlap", r[j].addr, r[i].addr);
                return why;
            }
        }
    }

    /* Drop the previous case's mappings that this case does not reuse. */
    for (j = 0; j < (uint32_t)nmaps; j++) {
        int used = 0;
        for (i = 0; i < n; i++)
            if (r[i].addr == maps[j].addr && r[i].len == maps[j].len)
                used = 1;
        if (used)
            keep[j] = 1;
        else
            munmap((void *)(uintptr_t)maps[j].addr, maps[j].len);
    }
    for (i = 0; i < n; i++) {
        int prot = -1;
        for (j = 0; j < (uint32_t)nmaps; j++)
            if (keep[j] && maps[j].addr == r[i].addr && maps[j].len == r[i].len)
                prot = maps[j].prot;
        if (prot < 0) {
            void *want = (void *)(uintptr_t)r[i].addr;
            void *p = mmap(want, r[i].len, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            if (p != want) {
                if (p != MAP_FAILED)
                    munmap(p, r[i].len); /* a kernel that ignores NOREPLACE */
                snprintf(why, whylen, "cannot map region %#x+%#x: %s", r[i].addr, r[i].len,
                         p == MAP_FAILED ? strerror(errno) : "address in use");
                /* Start afresh: drop everything mapped for this case. */
                for (j = 0; j < (uint32_t)newn; j++)
                    munmap((void *)(uintptr_t)next[j].addr, next[j].len);
                for (j = 0; j < (uint32_t)nmaps; j++)
                    if (keep[j])
                        munmap((void *)(uintptr_t)maps[j].addr, maps[j].len);
                nmaps = 0;
                return why;
            }
        } else if (prot != (PROT_READ | PROT_WRITE)) {
            if (mprotect((void *)(uintptr_t)r[i].addr, r[i].len, PROT_READ | PROT_WRITE))
                die("mprotect");
        }
        next[newn].addr = r[i].addr;
        next[newn].len = r[i].len;
        next[newn].prot = PROT_READ | PROT_WRITE;
        newn++;
    }
    for (j = 0; j < (uint32_t)newn; j++) {
        maps[j].addr = next[j].addr;
        maps[j].len = next[j].len;
        maps[j].prot = next[j].prot;
    }
    nmaps = newn;
    return NULL;
}

static void serve_case(void)
{
    static struct region r[MAX_REGIONS];
    static char why[200];
    uint32_t n, i, fx_len, mxcsr;
    const char *err;

    n = get32();
    for (i = 0; i < 8; i++)
        case_regs[i] = get32();
    case_flags = (get32() & CASE_FLAGS) | FLAGS_IF | FLAGS_FIXED1;
    case_entry = get32();
    fx_len = get32();
    if (n > MAX_REGIONS || (fx_len != 0 && fx_len != FX_LEN)) {
        /* Cannot even parse the rest: the stream is lost. */
        raw_msg("xdbt-native-runner: too many regions or a bad FXSAVE image length\n");
        _exit(2);
    }
    if (fx_len)
        get(case_fx, FX_LEN);
    else
        memcpy(case_fx, default_fx, FX_LEN);
    for (i = 0; i < n; i++) {
        r[i].addr = get32();
        r[i].len = get32();
        r[i].prot = get32();
    }

    mxcsr = case_fx[FX_MXCSR] | case_fx[FX_MXCSR + 1] << 8 | case_fx[FX_MXCSR + 2] << 16 |
            (uint32_t)case_fx[FX_MXCSR + 3] << 24;
    if (mxcsr & ~mxcsr_mask) {
        /* FXRSTOR would raise #GP in the runner itself. */
        snprintf(why, sizeof(why), "MXCSR %#x has bits outside MXCSR_MASK %#x", mxcsr,
                 mxcsr_mask);
        err = why;
    } else {
        err = map_regions(r, n, why, sizeof(why));
    }
    if (err) {
        for (i = 0; i < n; i++)
            get(NULL, r[i].len);
        refuse(err);
        return;
    }
    for (i = 0; i < n; i++) {
        int hp = host_prot(r[i].prot);
        get((void *)(uintptr_t)r[i].addr, r[i].len);
        if (hp != (PROT_READ | PROT_WRITE)) {
            if (mprotect((void *)(uintptr_t)r[i].addr, r[i].len, hp))
                die("mprotect");
            maps[i].prot = hp;
        }
    }

    case_seq++;
    enter_case();

    put32(MAGIC_RSP);
    put32(out.status);
    put(out.regs, sizeof(out.regs));
    put32(out.eip);
    put32(out.eflags);
    put32(out.vector);
    put32(out.err);
    put32(out.cr2);
    put(out.fx, FX_LEN);
    for (i = 0; i < n; i++) {
        if (!(maps[i].prot & PROT_READ)) {
            if (mprotect((void *)(uintptr_t)r[i].addr, r[i].len, PROT_READ))
                die("mprotect");
            maps[i].prot = PROT_READ;
        }
        put((void *)(uintptr_t)r[i].addr, r[i].len);
    }
}

/* ---- setup ---------------------------------------------------------------- */

static void install_seccomp(void)
{
    /* Refuse (SIGSYS) any system call made from case memory; the runner itself
     * never makes a 64-bit one. */
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS), /* 64-bit syscall */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, CASE_LO, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, CASE_HI, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0))
        raw_msg("xdbt-native-runner: warning: no seccomp filter; a case's system call "
                "would run\n");
}

/* Check that nothing of ours lies where cases go. */
static void check_layout(void)
{
    char buf[8192];
    ssize_t r;
    int fd = open("/proc/self/maps", O_RDONLY);
    char *line;

    if ((uintptr_t)__executable_start >= CASE_LO || (uintptr_t)sbrk(0) >= CASE_LO) {
        raw_msg("xdbt-native-runner: the runner image overlaps the case range\n");
        _exit(2);
    }
    if (fd < 0)
        return;
    r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r <= 0)
        return;
    buf[r] = 0;
    for (line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo < CASE_HI && hi > CASE_LO) {
            raw_msg("xdbt-native-runner: a runner mapping overlaps the case range\n");
            _exit(2);
        }
    }
}

int main(void)
{
    struct sigaction sa;
    stack_t ss;
    struct itimerval it;
    static const int sigs[] = { SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGSYS, SIGALRM };
    unsigned i;
    uint32_t magic;

    __asm__ volatile("movw %%cs, %0\n\t"
                     "movw %%ss, %1\n\t"
                     "movw %%ds, %2\n\t"
                     "movw %%es, %3\n\t"
                     "movw %%fs, %4\n\t"
                     "movw %%gs, %5"
                     : "=m"(saved_cs), "=m"(saved_ss), "=m"(saved_ds), "=m"(saved_es),
                       "=m"(saved_fs), "=m"(saved_gs));

    check_layout();

    /* The default FP image, and the MXCSR bits FXRSTOR accepts here. */
    {
        static unsigned char probe[FX_LEN] __attribute__((aligned(64)));
        __asm__ volatile("fxsave %0" : "=m"(probe));
        mxcsr_mask = probe[FX_MXCSR_MASK] | probe[FX_MXCSR_MASK + 1] << 8 |
                     probe[FX_MXCSR_MASK + 2] << 16 | (uint32_t)probe[FX_MXCSR_MASK + 3] << 24;
        if (!mxcsr_mask)
            mxcsr_mask = 0xffbf;
        wr16(default_fx + FX_FCW, 0x037f);
        wr32(default_fx + FX_MXCSR, mxcsr_init);
    }

    /* Bigger pipes, fewer system calls (best effort). */
    fcntl(0, F_SETPIPE_SZ, 1 << 20);
    fcntl(1, F_SETPIPE_SZ, 1 << 20);

    ss.ss_sp = altstack;
    ss.ss_size = sizeof(altstack);
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL))
        die("sigaltstack");

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (sigaction(sigs[i], &sa, NULL))
            die("sigaction");

    it.it_interval.tv_sec = 1;
    it.it_interval.tv_usec = 0;
    it.it_value = it.it_interval;
    if (setitimer(ITIMER_REAL, &it, NULL))
        die("setitimer");

    install_seccomp();

    put32(MAGIC_HELLO);
    put32(PROTOCOL_VERSION);
    put32(CASE_LO);
    put32(CASE_HI);
    flush_out();

    while (get(&magic, 4)) {
        if (magic != MAGIC_REQ) {
            raw_msg("xdbt-native-runner: bad request magic\n");
            _exit(2);
        }
        serve_case();
    }
    flush_out();
    unmap_all();
    return 0;
}
