/* Processes: fork/wait, a pipe between parent and child, vfork + execve of ourselves, and
 * the exit statuses and signals wait reports. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc > 1) {
        /* Re-executed: report and exit with the status given. */
        printf("exec'd child: %s\n", argv[1]);
        return atoi(argv[1]);
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 0; i < 3; i++) {
        pid_t p = fork();
        if (p == 0) {
            printf("child %d\n", i);
            _exit(10 + i);
        }
        int st;
        if (waitpid(p, &st, 0) != p)
            return 1;
        printf("child %d exited=%d status=%d\n", i, WIFEXITED(st), WEXITSTATUS(st));
    }

    int fds[2];
    pipe(fds);
    pid_t p = fork();
    if (p == 0) {
        close(fds[0]);
        const char msg[] = "message from the child";
        write(fds[1], msg, sizeof msg);
        _exit(0);
    }
    close(fds[1]);
    char buf[64] = {0};
    read(fds[0], buf, sizeof buf);
    printf("parent read: %s\n", buf);
    wait(NULL);

    p = fork();
    if (p == 0) {
        raise(SIGTERM);
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    printf("signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));

    p = vfork();
    if (p == 0) {
        char *args[] = { argv[0], "7", NULL };
        execv("/proc/self/exe", args);
        _exit(127);
    }
    waitpid(p, &st, 0);
    printf("exec'd child status=%d\n", WEXITSTATUS(st));
    return 0;
}
