/* A NULL dereference: killed by SIGSEGV. */
#include <stdio.h>

int main(void)
{
    volatile int *p = 0;
    printf("before\n");
    fflush(stdout);
    *p = 1;
    printf("after\n");
    return 0;
}
