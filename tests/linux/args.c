/* argv, the environment and the auxiliary vector a static program starts with. */
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

extern char **environ;

int main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=\"%s\"\n", i, argv[i]);
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "XDBT_TEST_", 10) == 0)
            printf("env %s\n", *e);
    printf("AT_PAGESZ=%lu\n", getauxval(AT_PAGESZ));
    printf("AT_CLKTCK=%lu\n", getauxval(AT_CLKTCK));
    printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
    printf("AT_PHENT=%lu\n", getauxval(AT_PHENT));
    printf("AT_PLATFORM=%s\n", (const char *)getauxval(AT_PLATFORM));
    printf("AT_EXECFN=%s\n", (const char *)getauxval(AT_EXECFN));
    printf("AT_RANDOM set=%d\n", getauxval(AT_RANDOM) != 0);
    printf("stack aligned=%d\n", ((unsigned long)argv & 3) == 0);
    return argc;
}
