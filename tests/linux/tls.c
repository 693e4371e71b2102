/* Thread-local storage through %gs (set_thread_area) and errno, which lives there. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static __thread int counter = 41;
static __thread char buf[64] = "initialised tls";

int main(void)
{
    counter++;
    printf("counter=%d buf=%s\n", counter, buf);
    errno = 0;
    if (close(12345) < 0)
        printf("close(12345): errno=%d\n", errno);
    unsigned short gs;
    __asm__ volatile("mov %%gs, %0" : "=r"(gs));
    printf("gs rpl=%d ti=%d\n", gs & 3, (gs >> 2) & 1);
    return 0;
}
