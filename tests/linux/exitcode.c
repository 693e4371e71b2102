/* exit() with a status given on the command line; atexit handlers and stdio flushing. */
#include <stdio.h>
#include <stdlib.h>

static void bye(void)
{
    printf("atexit ran\n");
}

int main(int argc, char **argv)
{
    atexit(bye);
    printf("buffered, not flushed");
    exit(argc > 1 ? atoi(argv[1]) : 0);
}
