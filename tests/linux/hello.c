/* Hello world: stdio through write(2), exit status from main. */
#include <stdio.h>

int main(void)
{
    printf("Hello, world!\n");
    return 0;
}
