/* Integer division by zero: #DE, killed by SIGFPE. */
#include <stdio.h>

int main(int argc, char **argv)
{
    volatile int zero = argc - 1;
    (void)argv;
    printf("before\n");
    fflush(stdout);
    printf("%d\n", 100 / zero);
    return 0;
}
