/* abort(): raise(SIGABRT) through tgkill; killed by SIGABRT. */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    printf("before\n");
    fflush(stdout);
    abort();
}
