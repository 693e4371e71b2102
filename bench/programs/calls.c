/*
 * calls.c - call/return heavy code.
 *
 *   - recursive Fibonacci;
 *   - Ackermann(2, n) and (3, n): deep, irregular recursion;
 *   - mutual recursion (is_even / is_odd) of bounded depth;
 *   - loops of tiny non-inlined leaf functions, called directly and through
 *     a table of function pointers (indirect calls);
 *   - struct return by value (the i386 SysV hidden-pointer ABI: `ret $4`);
 *   - a variadic function (va_arg walking the stack).
 * All functions that matter are __attribute__((noipa)) (noinline + noclone
 * + no interprocedural tricks), so GCC keeps real call/ret pairs and the
 * plain i386 stack-argument ABI. The checksum of every part is printed.
 *
 * Usage: calls [repeats]   (default sized for ~1-2 s natively)
 * No floating point, no threads, one write at the end.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_REPEATS 16
#define NOINLINE __attribute__((noipa))

static volatile int32_t sink_vol;

NOINLINE static uint32_t fib(uint32_t n)
{
    if (n < 2)
        return n;
    return fib(n - 1) + fib(n - 2);
}

NOINLINE static uint32_t ack(uint32_t m, uint32_t n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

NOINLINE static int is_odd(uint32_t n);

NOINLINE static int is_even(uint32_t n)
{
    if (n == 0)
        return 1;
    return is_odd(n - 1);
}

NOINLINE static int is_odd(uint32_t n)
{
    if (n == 0)
        return 0;
    return is_even(n - 1);
}

NOINLINE static uint32_t leaf_add(uint32_t a, uint32_t b) { return a + b; }
NOINLINE static uint32_t leaf_mix(uint32_t a, uint32_t b) { return (a ^ (b << 7)) + (b >> 3); }
NOINLINE static uint32_t leaf_rot(uint32_t a, uint32_t b) { return (a << (b & 31)) | (a >> ((32 - (b & 31)) & 31)); }
NOINLINE static uint32_t leaf_mul(uint32_t a, uint32_t b) { return a * (b | 1u); }
NOINLINE static uint32_t leaf_min(uint32_t a, uint32_t b) { return a < b ? a : b + 1; }

typedef uint32_t (*binop)(uint32_t, uint32_t);

static binop ops_table[8] = {
    leaf_add, leaf_mix, leaf_rot, leaf_mul, leaf_min, leaf_mix, leaf_add, leaf_rot,
};

struct triple {
    uint32_t a, b, c;
};

NOINLINE static struct triple triple_step(struct triple t, uint32_t k)
{
    struct triple r;
    r.a = t.b + k;
    r.b = t.c ^ (t.a << 1);
    r.c = t.a + t.b + t.c;
    return r;
}

NOINLINE static uint32_t sum_varargs(int count, ...)
{
    va_list ap;
    uint32_t s = 0;
    va_start(ap, count);
    for (int i = 0; i < count; i++)
        s = s * 3u + va_arg(ap, uint32_t);
    va_end(ap);
    return s;
}

NOINLINE static uint32_t chain3(uint32_t x);
NOINLINE static uint32_t chain1(uint32_t x) { return leaf_add(x, 1) ^ chain3(x >> 1); }
NOINLINE static uint32_t chain2(uint32_t x) { return leaf_mix(chain1(x), x); }
NOINLINE static uint32_t chain3(uint32_t x) { return x < 4 ? x : chain2(x >> 2) + 1; }

int main(int argc, char **argv)
{
    long repeats = DEFAULT_REPEATS;
    if (argc > 1)
        repeats = strtol(argv[1], NULL, 10);
    if (repeats <= 0)
        repeats = 1;

    uint32_t f = 0, a = 0, par = 0, leaves = 0, indirect = 0, chains = 0, va = 0;
    struct triple t = { 1, 2, 3 };

    for (long r = 0; r < repeats; r++) {
        f += fib(32 + (uint32_t)(r & 1));

        a += ack(2, 2000);
        a += ack(3, 7);

        for (uint32_t i = 0; i < 4000; i++)
            par += (uint32_t)is_even(1000 + (i & 255)) * (i | 1u);

        uint32_t x = 0x1234567u;
        for (uint32_t i = 0; i < 6000000; i++) {
            x = leaf_add(x, i);
            x = leaf_mix(x, i);
            x = leaf_rot(x, x >> 27);
        }
        leaves += x;

        uint32_t y = 0x89abcdefu;
        for (uint32_t i = 0; i < 6000000; i++)
            y = ops_table[(y ^ i) & 7](y, i);
        indirect += y;

        for (uint32_t i = 0; i < 400000; i++)
            chains += chain3(i * 2654435761u);

        for (uint32_t i = 0; i < 2000000; i++)
            t = triple_step(t, i);

        for (uint32_t i = 0; i < 1000000; i++)
            va += sum_varargs((int)(i & 7), i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7);
    }
    sink_vol = (int32_t)f;

    uint32_t csum = f;
    csum = csum * 0x01000193u ^ a;
    csum = csum * 0x01000193u ^ par;
    csum = csum * 0x01000193u ^ leaves;
    csum = csum * 0x01000193u ^ indirect;
    csum = csum * 0x01000193u ^ chains;
    csum = csum * 0x01000193u ^ t.a ^ t.b ^ t.c;
    csum = csum * 0x01000193u ^ va;
    printf("calls: repeats=%ld fib=%u ack=%u parity=%08x leaves=%08x indirect=%08x chains=%08x "
           "triple=%08x.%08x.%08x varargs=%08x\n",
           repeats, (unsigned)f, (unsigned)a, (unsigned)par, (unsigned)leaves, (unsigned)indirect,
           (unsigned)chains, (unsigned)t.a, (unsigned)t.b, (unsigned)t.c, (unsigned)va);
    printf("checksum=%08x\n", (unsigned)csum);
    return 0;
}
