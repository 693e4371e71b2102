/*
 * nbody.c - double-precision n-body simulation (floating-point benchmark).
 *
 * The Computer Language Benchmarks Game's Jovian planets model: the Sun,
 * Jupiter, Saturn, Uranus and Neptune, integrated with a symplectic Euler
 * step (dt = 0.01). Every step visits the 10 pairs of bodies: 3 subtractions,
 * a dot product, one sqrt and a division per pair, then the velocity and
 * position updates. The energy is printed before and after, and every final
 * position and velocity is printed with 17 significant digits and folded,
 * bit pattern by bit pattern, into a checksum, so a difference in a single
 * bit of any result shows in the output.
 *
 * The benchmark builds this file twice:
 *   nbody-sse  gcc -m32 -O2 -static -msse2 -mfpmath=sse   (SSE2 double:
 *              sqrtsd/divsd/mulsd, with GCC pairing x/y into subpd/mulpd)
 *   nbody-x87  gcc -m32 -O2 -static                       (x87, 80-bit stack)
 * The two builds print different numbers (x87 keeps intermediates in
 * extended precision); each is compared with its own native run.
 *
 * Usage: nbody [steps]   (default 30 M steps for an SSE-math build, 12 M for
 *                         an x87 one: ~1-1.5 s natively either way)
 * No threads, no syscalls besides the final writes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The x87 build runs about 2.3x slower natively, so it does less work by
 * default, to stay near 1-1.5 s like the SSE2 one. */
#if defined(__SSE2_MATH__)
#define DEFAULT_STEPS 30000000L
#else
#define DEFAULT_STEPS 12000000L
#endif
#define NBODIES 5

#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24

struct body {
    double x, y, z;
    double vx, vy, vz;
    double mass;
};

static struct body bodies[NBODIES] = {
    /* Sun */
    {0, 0, 0, 0, 0, 0, SOLAR_MASS},
    /* Jupiter */
    {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
     1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
     -6.90460016972063023e-05 * DAYS_PER_YEAR, 9.54791938424326609e-04 * SOLAR_MASS},
    /* Saturn */
    {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
     -2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
     2.30417297573763929e-05 * DAYS_PER_YEAR, 2.85885980666130812e-04 * SOLAR_MASS},
    /* Uranus */
    {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
     2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
     -2.96589568540237556e-05 * DAYS_PER_YEAR, 4.36624404335156298e-05 * SOLAR_MASS},
    /* Neptune */
    {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
     2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
     -9.51592254519715870e-05 * DAYS_PER_YEAR, 5.15138902046611451e-05 * SOLAR_MASS},
};

static void offset_momentum(struct body *b)
{
    double px = 0, py = 0, pz = 0;
    for (int i = 0; i < NBODIES; i++) {
        px += b[i].vx * b[i].mass;
        py += b[i].vy * b[i].mass;
        pz += b[i].vz * b[i].mass;
    }
    b[0].vx = -px / SOLAR_MASS;
    b[0].vy = -py / SOLAR_MASS;
    b[0].vz = -pz / SOLAR_MASS;
}

static double energy(const struct body *b)
{
    double e = 0;
    for (int i = 0; i < NBODIES; i++) {
        e += 0.5 * b[i].mass * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
        for (int j = i + 1; j < NBODIES; j++) {
            double dx = b[i].x - b[j].x;
            double dy = b[i].y - b[j].y;
            double dz = b[i].z - b[j].z;
            e -= b[i].mass * b[j].mass / sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

/* The hot loop: one integration step. */
static void advance(struct body *b, double dt)
{
    for (int i = 0; i < NBODIES; i++) {
        struct body *bi = &b[i];
        for (int j = i + 1; j < NBODIES; j++) {
            struct body *bj = &b[j];
            double dx = bi->x - bj->x;
            double dy = bi->y - bj->y;
            double dz = bi->z - bj->z;
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * sqrt(d2));
            double mi = bi->mass * mag;
            double mj = bj->mass * mag;
            bi->vx -= dx * mj;
            bi->vy -= dy * mj;
            bi->vz -= dz * mj;
            bj->vx += dx * mi;
            bj->vy += dy * mi;
            bj->vz += dz * mi;
        }
    }
    for (int i = 0; i < NBODIES; i++) {
        b[i].x += dt * b[i].vx;
        b[i].y += dt * b[i].vy;
        b[i].z += dt * b[i].vz;
    }
}

static uint64_t fold(uint64_t h, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    for (int i = 0; i < 8; i++) {
        h ^= (bits >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull; /* FNV-1a 64 */
    }
    return h;
}

int main(int argc, char **argv)
{
    long steps = DEFAULT_STEPS;
    if (argc > 1)
        steps = strtol(argv[1], NULL, 10);

    offset_momentum(bodies);
    double e0 = energy(bodies);
    for (long s = 0; s < steps; s++)
        advance(bodies, 0.01);
    double e1 = energy(bodies);

    uint64_t h = 0xcbf29ce484222325ull;
    h = fold(h, e0);
    h = fold(h, e1);
    printf("nbody: steps=%ld\n", steps);
    printf("energy before: %.17g\n", e0);
    printf("energy after:  %.17g\n", e1);
    for (int i = 0; i < NBODIES; i++) {
        const struct body *b = &bodies[i];
        printf("body %d: pos %.17g %.17g %.17g vel %.17g %.17g %.17g\n", i, b->x, b->y, b->z,
               b->vx, b->vy, b->vz);
        h = fold(h, b->x);
        h = fold(h, b->y);
        h = fold(h, b->z);
        h = fold(h, b->vx);
        h = fold(h, b->vy);
        h = fold(h, b->vz);
    }
    printf("checksum=%016llx\n", (unsigned long long)h);
    return 0;
}
