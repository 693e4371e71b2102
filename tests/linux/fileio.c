/* File I/O in a scratch directory given as argv[1]: open/read/write/lseek, stat, rename,
 * directories, dup2, pipes, fcntl, readv/writev, and EFAULT for bad pointers. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHECK(x) do { if (!(x)) { printf("FAILED line %d: %s (errno %d)\n", __LINE__, #x, errno); } } while (0)

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) != 0) {
        printf("usage: fileio DIR\n");
        return 1;
    }
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    printf("cwd matches=%d\n", strcmp(cwd, argv[1]) == 0);

    /* write, lseek, read */
    int fd = open("data.txt", O_CREAT | O_TRUNC | O_RDWR, 0640);
    CHECK(fd >= 0);
    for (int i = 0; i < 1000; i++)
        dprintf(fd, "line %04d of the test file\n", i);
    off_t end = lseek(fd, 0, SEEK_CUR);
    printf("size after writes=%ld\n", (long)end);
    CHECK(lseek(fd, 27 * 500, SEEK_SET) == 27 * 500);
    char buf[64] = {0};
    CHECK(read(fd, buf, 26) == 26);
    printf("read back: %s\n", buf);
    CHECK(pread(fd, buf, 9, 27 * 999) == 9);
    buf[9] = 0;
    printf("pread: %s\n", buf);

    /* stat family */
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    printf("fstat size=%lld mode=%o regular=%d\n", (long long)st.st_size, st.st_mode & 07777, S_ISREG(st.st_mode));
    CHECK(stat("data.txt", &st) == 0);
    printf("stat size=%lld nlink=%d\n", (long long)st.st_size, (int)st.st_nlink);
    CHECK(stat("missing", &st) < 0);
    printf("stat missing errno=%d\n", errno);
    close(fd);

    /* readv / writev */
    fd = open("vec.txt", O_CREAT | O_TRUNC | O_RDWR, 0600);
    struct iovec iov[3] = { { "abc", 3 }, { "", 0 }, { "defgh\n", 6 } };
    printf("writev=%zd\n", writev(fd, iov, 3));
    lseek(fd, 0, SEEK_SET);
    char a[4] = {0}, b[8] = {0};
    struct iovec riov[2] = { { a, 3 }, { b, 7 } };
    printf("readv=%zd a=%s b=%s", readv(fd, riov, 2), a, b);
    close(fd);

    /* rename, link, symlink, readlink, unlink */
    CHECK(rename("vec.txt", "vec2.txt") == 0);
    CHECK(access("vec.txt", F_OK) < 0 && access("vec2.txt", R_OK | W_OK) == 0);
    CHECK(link("vec2.txt", "hard.txt") == 0);
    CHECK(symlink("vec2.txt", "soft.txt") == 0);
    char target[64] = {0};
    printf("readlink=%zd %s\n", readlink("soft.txt", target, sizeof target - 1), target);
    CHECK(lstat("soft.txt", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(unlink("hard.txt") == 0 && unlink("soft.txt") == 0);

    /* directories */
    CHECK(mkdir("sub", 0755) == 0);
    CHECK(mkdir("sub", 0755) < 0 && errno == EEXIST);
    close(open("sub/x", O_CREAT | O_WRONLY, 0600));
    close(open("sub/y", O_CREAT | O_WRONLY, 0600));
    DIR *d = opendir(".");
    CHECK(d != NULL);
    char *names[32];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 32)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("entries:");
    for (int i = 0; i < n; i++)
        printf(" %s", names[i]);
    printf("\n");
    CHECK(rmdir("sub") < 0 && errno == ENOTEMPTY);
    CHECK(unlink("sub/x") == 0 && unlink("sub/y") == 0 && rmdir("sub") == 0);

    /* dup2, pipes, fcntl */
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "through the pipe", 16) == 16);
    char pb[32] = {0};
    CHECK(read(p[0], pb, sizeof pb) == 16);
    printf("pipe: %s\n", pb);
    int flags = fcntl(p[0], F_GETFL);
    CHECK(fcntl(p[0], F_SETFL, flags | O_NONBLOCK) == 0);
    CHECK(read(p[0], pb, 1) < 0 && errno == EAGAIN);
    CHECK(fcntl(p[1], F_SETFD, FD_CLOEXEC) == 0 && fcntl(p[1], F_GETFD) == FD_CLOEXEC);
    fflush(stdout);
    int saved = dup(1);
    CHECK(dup2(p[1], 1) == 1);
    printf("via dup2\n");
    fflush(stdout);
    CHECK(dup2(saved, 1) == 1);
    close(saved);
    memset(pb, 0, sizeof pb);
    CHECK(read(p[0], pb, sizeof pb) == 9);
    printf("pipe got: %s", pb);
    close(p[0]);
    close(p[1]);

    /* bad pointers give EFAULT, not a crash */
    static void *volatile bad = (void *)16;
    long r = write(1, bad, 10);
    printf("write(bad)=%ld errno=%d\n", r, errno);
    fd = open("data.txt", O_RDONLY);
    r = read(fd, (void *)main, 10);
    printf("read(into text)=%ld errno=%d\n", r, errno);
    r = open((char *)bad, O_RDONLY);
    printf("open(bad path)=%ld errno=%d\n", r, errno);
    r = close(999);
    printf("close(bad fd)=%ld errno=%d\n", r, errno);
    close(fd);

    /* umask, truncate */
    mode_t old = umask(022);
    printf("umask restored=%d\n", umask(old) == 022);
    CHECK(truncate("data.txt", 100) == 0);
    CHECK(stat("data.txt", &st) == 0);
    printf("truncated size=%lld\n", (long long)st.st_size);
    CHECK(unlink("data.txt") == 0 && unlink("vec2.txt") == 0);
    printf("done\n");
    return 0;
}
