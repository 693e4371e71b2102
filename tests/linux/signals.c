/* Signal delivery: handlers with and without SA_SIGINFO, fault recovery with siglongjmp,
 * blocking and unblocking, SA_RESETHAND, sigaltstack, SIGCHLD, timers, EINTR and
 * SA_RESTART, and FPU state kept across a handler. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t hits;
static volatile int last_code, last_pid_ok, last_status;
static volatile uintptr_t last_addr;
static sigjmp_buf env;
static char altstack[65536];
static volatile int on_alt;

static void info_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    hits++;
    last_code = si->si_code;
    last_pid_ok = si->si_pid == getpid();
    last_addr = (uintptr_t)si->si_addr;
    volatile double x = 0.1;
    for (int i = 0; i < 10; i++)
        x = x * 3.0 + sig; /* clobber the FPU in the handler */
}

static void plain_handler(int sig)
{
    hits += sig;
    char here;
    on_alt = &here >= altstack && &here < altstack + sizeof altstack;
}

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    last_code = si->si_code;
    last_addr = (uintptr_t)si->si_addr;
    siglongjmp(env, sig);
}

static void chld_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    last_code = si->si_code;
    last_status = si->si_status;
    hits++;
}

static void alarm_handler(int sig)
{
    (void)sig;
    hits++;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);

    /* SA_SIGINFO handler through raise (tgkill: SI_TKILL), FPU preserved. */
    sa.sa_sigaction = info_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    volatile double keep = 2.5;
    raise(SIGUSR1);
    printf("usr1 hits=%d code=%d pid_ok=%d keep=%.2f\n", hits, last_code, last_pid_ok, keep * 2);

    /* kill(getpid()) gives SI_USER. */
    kill(getpid(), SIGUSR1);
    printf("kill hits=%d code=%d\n", hits, last_code);

    /* Blocked: pending until unblocked. */
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR1);
    sigpending(&pend);
    printf("blocked hits=%d pending=%d\n", hits, sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("unblocked hits=%d\n", hits);

    /* Old-style handler (non-SA_SIGINFO frame, sigreturn), SA_RESETHAND, alternate stack. */
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    hits = 0;
    sa.sa_handler = plain_handler;
    sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    struct sigaction now;
    sigaction(SIGUSR2, NULL, &now);
    printf("usr2 hits=%d on_alt=%d reset=%d\n", hits, on_alt, now.sa_handler == SIG_DFL);

    /* Faults the program handles: SIGSEGV and SIGFPE, recovered with siglongjmp. */
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    static volatile int *volatile low = (int *)0x10;
    int s = sigsetjmp(env, 1);
    if (s == 0)
        *low = 1;
    printf("segv caught=%d code=%d addr=%#lx\n", s == SIGSEGV, last_code, (unsigned long)last_addr);
    s = sigsetjmp(env, 1);
    if (s == 0) {
        volatile int zero = 0;
        printf("%d\n", 7 / zero);
    }
    printf("fpe caught=%d code=%d\n", s == SIGFPE, last_code);
    s = sigsetjmp(env, 1);
    if (s == 0)
        *(volatile int *)(void *)main = 1; /* write to text: SEGV_ACCERR */
    printf("segv2 caught=%d code=%d\n", s == SIGSEGV, last_code);

    /* SIGCHLD with the child's status. */
    hits = 0;
    sa.sa_sigaction = chld_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t chld, none;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    pid_t p = fork();
    if (p == 0)
        _exit(9);
    while (hits == 0)
        sigsuspend(&none);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    waitpid(p, NULL, 0);
    printf("chld hits=%d code=%d status=%d\n", hits, last_code, last_status);

    /* A timer interrupting a blocking read: EINTR without SA_RESTART. */
    int fds[2];
    pipe(fds);
    hits = 0;
    sa.sa_handler = alarm_handler;
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 0 }, { 0, 100000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    char c;
    ssize_t r = read(fds[0], &c, 1);
    printf("read=%zd eintr=%d hits=%d\n", r, r < 0 && errno == EINTR, hits);

    /* With SA_RESTART the read goes on and gets what a child writes later. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGCHLD, &(struct sigaction){ .sa_handler = SIG_DFL }, NULL);
    p = fork();
    if (p == 0) {
        usleep(300000);
        write(fds[1], "z", 1);
        _exit(0);
    }
    setitimer(ITIMER_REAL, &it, NULL);
    r = read(fds[0], &c, 1);
    printf("restarted read=%zd c=%c hits=%d\n", r, r == 1 ? c : '?', hits);
    waitpid(p, NULL, 0);

    /* Finally a default action: SIGTERM ends us. */
    raise(SIGTERM);
    printf("not reached\n");
    return 0;
}
