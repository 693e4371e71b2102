/*
 * interp.c - a small stack-based bytecode VM, heavy on indirect branches.
 *
 * Two bytecode programs (built at run time so nothing is constant-folded):
 *   - fib:  recursive Fibonacci, using the VM's own CALL/RET;
 *   - loop: a counted loop with arithmetic, bit ops and a data-dependent branch.
 * Each is run under three dispatch strategies:
 *   - switch:   one `switch` in a loop (a jump table: one hot indirect jmp);
 *   - threaded: GCC computed goto (an indirect jmp at the end of every handler);
 *   - table:    a table of handler functions (an indirect call + ret per op).
 * All strategies must agree; the results and a checksum are printed.
 *
 * Usage: interp [repeats]   (default sized for ~1-2 s natively)
 * No floating point, no threads, one write at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_REPEATS 1
#define FIB_N 30
#define LOOP_N 12000000

enum op {
    OP_HALT, OP_PUSH, OP_LOADL, OP_STOREL, OP_ENTER, OP_POP, OP_DUP,
    OP_ADD, OP_SUB, OP_MUL, OP_AND, OP_XOR, OP_SHL, OP_SHR, OP_LT,
    OP_JMP, OP_JZ, OP_JNZ, OP_CALL, OP_RET,
    OP_COUNT
};

#define STACK_WORDS (1 << 16)
#define FRAMES 1024

struct frame {
    int32_t ret_pc;
    int32_t fp;
};

struct vm {
    const int32_t *code;
    int32_t pc;
    int32_t sp; /* index of the next free slot */
    int32_t fp; /* index of local 0 */
    int32_t rp; /* return-stack depth */
    int halted;
    uint32_t ops; /* executed instructions (wraps) */
    int32_t stack[STACK_WORDS];
    struct frame frames[FRAMES];
};

/* ---------- tiny assembler ---------- */

static int32_t code_buf[256];
static int code_len;

static int emit(int32_t w)
{
    code_buf[code_len] = w;
    return code_len++;
}

static void patch(int at, int32_t target)
{
    code_buf[at] = target;
}

/* fib(n): if n < 2 return n; return fib(n-1) + fib(n-2) */
static int build_fib(int n, int *entry)
{
    int fib = code_len;
    emit(OP_LOADL); emit(0);
    emit(OP_PUSH); emit(2);
    emit(OP_LT);
    emit(OP_JZ); int j1 = emit(0);
    emit(OP_LOADL); emit(0);
    emit(OP_RET);
    patch(j1, code_len);
    emit(OP_LOADL); emit(0);
    emit(OP_PUSH); emit(1);
    emit(OP_SUB);
    emit(OP_CALL); emit(fib); emit(1);
    emit(OP_LOADL); emit(0);
    emit(OP_PUSH); emit(2);
    emit(OP_SUB);
    emit(OP_CALL); emit(fib); emit(1);
    emit(OP_ADD);
    emit(OP_RET);
    *entry = code_len;
    emit(OP_PUSH); emit(n);
    emit(OP_CALL); emit(fib); emit(1);
    emit(OP_HALT);
    return fib;
}

/*
 * locals: 0 = i, 1 = acc
 * for (i = 0; i < n; i++) {
 *     acc = (acc * 31 + i) ^ (i << 3);
 *     if ((acc & 7) == 0) acc = acc + (acc >> 5) + 1;
 * }
 * return acc
 */
static void build_loop(int n, int *entry)
{
    *entry = code_len;
    emit(OP_ENTER); emit(2);
    emit(OP_PUSH); emit(0); emit(OP_STOREL); emit(0);
    emit(OP_PUSH); emit(0); emit(OP_STOREL); emit(1);
    int top = code_len;
    emit(OP_LOADL); emit(0);
    emit(OP_PUSH); emit(n);
    emit(OP_LT);
    emit(OP_JZ); int jend = emit(0);
    emit(OP_LOADL); emit(1);
    emit(OP_PUSH); emit(31);
    emit(OP_MUL);
    emit(OP_LOADL); emit(0);
    emit(OP_ADD);
    emit(OP_LOADL); emit(0);
    emit(OP_PUSH); emit(3);
    emit(OP_SHL);
    emit(OP_XOR);
    emit(OP_DUP);
    emit(OP_STOREL); emit(1);
    emit(OP_PUSH); emit(7);
    emit(OP_AND);
    emit(OP_JNZ); int jskip = emit(0);
    emit(OP_LOADL); emit(1);
    emit(OP_DUP);
    emit(OP_PUSH); emit(5);
    emit(OP_SHR);
    emit(OP_ADD);
    emit(OP_PUSH); emit(1);
    emit(OP_ADD);
    emit(OP_STOREL); emit(1);
    patch(jskip, code_len);
    emit(OP_LOADL); emit(0);
    emit(OP_PUSH); emit(1);
    emit(OP_ADD);
    emit(OP_STOREL); emit(0);
    emit(OP_JMP); emit(top);
    patch(jend, code_len);
    emit(OP_LOADL); emit(1);
    emit(OP_HALT);
}

static void vm_reset(struct vm *vm, const int32_t *code, int32_t entry)
{
    vm->code = code;
    vm->pc = entry;
    vm->sp = 0;
    vm->fp = 0;
    vm->rp = 0;
    vm->halted = 0;
    vm->ops = 0;
}

static void vm_fail(const char *what)
{
    printf("vm error: %s\n", what);
    exit(1);
}

/* ---------- strategy 1: switch dispatch ---------- */

static __attribute__((noinline)) int32_t run_switch(struct vm *vm)
{
    const int32_t *code = vm->code;
    int32_t pc = vm->pc, sp = vm->sp, fp = vm->fp, rp = vm->rp;
    int32_t *st = vm->stack;
    uint32_t ops = 0;
    for (;;) {
        ops++;
        switch (code[pc]) {
        case OP_HALT:
            vm->ops += ops;
            return st[sp - 1];
        case OP_PUSH: st[sp++] = code[pc + 1]; pc += 2; break;
        case OP_LOADL: st[sp++] = st[fp + code[pc + 1]]; pc += 2; break;
        case OP_STOREL: st[fp + code[pc + 1]] = st[--sp]; pc += 2; break;
        case OP_ENTER:
            for (int32_t k = 0; k < code[pc + 1]; k++)
                st[sp++] = 0;
            pc += 2;
            break;
        case OP_POP: sp--; pc++; break;
        case OP_DUP: st[sp] = st[sp - 1]; sp++; pc++; break;
        case OP_ADD: sp--; st[sp - 1] = (int32_t)((uint32_t)st[sp - 1] + (uint32_t)st[sp]); pc++; break;
        case OP_SUB: sp--; st[sp - 1] = (int32_t)((uint32_t)st[sp - 1] - (uint32_t)st[sp]); pc++; break;
        case OP_MUL: sp--; st[sp - 1] = (int32_t)((uint32_t)st[sp - 1] * (uint32_t)st[sp]); pc++; break;
        case OP_AND: sp--; st[sp - 1] &= st[sp]; pc++; break;
        case OP_XOR: sp--; st[sp - 1] ^= st[sp]; pc++; break;
        case OP_SHL: sp--; st[sp - 1] = (int32_t)((uint32_t)st[sp - 1] << (st[sp] & 31)); pc++; break;
        case OP_SHR: sp--; st[sp - 1] = (int32_t)((uint32_t)st[sp - 1] >> (st[sp] & 31)); pc++; break;
        case OP_LT: sp--; st[sp - 1] = st[sp - 1] < st[sp]; pc++; break;
        case OP_JMP: pc = code[pc + 1]; break;
        case OP_JZ: pc = st[--sp] == 0 ? code[pc + 1] : pc + 2; break;
        case OP_JNZ: pc = st[--sp] != 0 ? code[pc + 1] : pc + 2; break;
        case OP_CALL:
            if (rp >= FRAMES)
                vm_fail("return stack overflow");
            vm->frames[rp].ret_pc = pc + 3;
            vm->frames[rp].fp = fp;
            rp++;
            fp = sp - code[pc + 2];
            pc = code[pc + 1];
            break;
        case OP_RET: {
            int32_t result = st[sp - 1];
            sp = fp;
            rp--;
            fp = vm->frames[rp].fp;
            pc = vm->frames[rp].ret_pc;
            st[sp++] = result;
            break;
        }
        default:
            vm_fail("bad opcode");
        }
    }
}

/* ---------- strategy 2: threaded code (computed goto) ---------- */

static __attribute__((noinline)) int32_t run_threaded(struct vm *vm)
{
    static void *const labels[OP_COUNT] = {
        &&l_halt, &&l_push, &&l_loadl, &&l_storel, &&l_enter, &&l_pop, &&l_dup,
        &&l_add, &&l_sub, &&l_mul, &&l_and, &&l_xor, &&l_shl, &&l_shr, &&l_lt,
        &&l_jmp, &&l_jz, &&l_jnz, &&l_call, &&l_ret,
    };
    const int32_t *code = vm->code;
    int32_t pc = vm->pc, sp = vm->sp, fp = vm->fp, rp = vm->rp;
    int32_t *st = vm->stack;
    uint32_t ops = 0;
#define NEXT do { ops++; goto *labels[code[pc]]; } while (0)
    NEXT;
l_halt:
    vm->ops += ops;
    return st[sp - 1];
l_push: st[sp++] = code[pc + 1]; pc += 2; NEXT;
l_loadl: st[sp++] = st[fp + code[pc + 1]]; pc += 2; NEXT;
l_storel: st[fp + code[pc + 1]] = st[--sp]; pc += 2; NEXT;
l_enter:
    for (int32_t k = 0; k < code[pc + 1]; k++)
        st[sp++] = 0;
    pc += 2;
    NEXT;
l_pop: sp--; pc++; NEXT;
l_dup: st[sp] = st[sp - 1]; sp++; pc++; NEXT;
l_add: sp--; st[sp - 1] = (int32_t)((uint32_t)st[sp - 1] + (uint32_t)st[sp]); pc++; NEXT;
l_sub: sp--; st[sp - 1] = (int32_t)((uint32_t)st[sp - 1] - (uint32_t)st[sp]); pc++; NEXT;
l_mul: sp--; st[sp - 1] = (int32_t)((uint32_t)st[sp - 1] * (uint32_t)st[sp]); pc++; NEXT;
l_and: sp--; st[sp - 1] &= st[sp]; pc++; NEXT;
l_xor: sp--; st[sp - 1] ^= st[sp]; pc++; NEXT;
l_shl: sp--; st[sp - 1] = (int32_t)((uint32_t)st[sp - 1] << (st[sp] & 31)); pc++; NEXT;
l_shr: sp--; st[sp - 1] = (int32_t)((uint32_t)st[sp - 1] >> (st[sp] & 31)); pc++; NEXT;
l_lt: sp--; st[sp - 1] = st[sp - 1] < st[sp]; pc++; NEXT;
l_jmp: pc = code[pc + 1]; NEXT;
l_jz: pc = st[--sp] == 0 ? code[pc + 1] : pc + 2; NEXT;
l_jnz: pc = st[--sp] != 0 ? code[pc + 1] : pc + 2; NEXT;
l_call:
    if (rp >= FRAMES)
        vm_fail("return stack overflow");
    vm->frames[rp].ret_pc = pc + 3;
    vm->frames[rp].fp = fp;
    rp++;
    fp = sp - code[pc + 2];
    pc = code[pc + 1];
    NEXT;
l_ret: {
    int32_t result = st[sp - 1];
    sp = fp;
    rp--;
    fp = vm->frames[rp].fp;
    pc = vm->frames[rp].ret_pc;
    st[sp++] = result;
    NEXT;
}
#undef NEXT
}

/* ---------- strategy 3: table of handler functions ---------- */

typedef void (*handler_fn)(struct vm *);

#define H(name) static __attribute__((noinline)) void name(struct vm *vm)
#define ST vm->stack
#define SP vm->sp
#define PC vm->pc
#define ARG(k) vm->code[vm->pc + (k)]

H(h_halt) { vm->halted = 1; }
H(h_push) { ST[SP++] = ARG(1); PC += 2; }
H(h_loadl) { ST[SP++] = ST[vm->fp + ARG(1)]; PC += 2; }
H(h_storel) { ST[vm->fp + ARG(1)] = ST[--SP]; PC += 2; }
H(h_enter)
{
    for (int32_t k = 0; k < ARG(1); k++)
        ST[SP++] = 0;
    PC += 2;
}
H(h_pop) { SP--; PC++; }
H(h_dup) { ST[SP] = ST[SP - 1]; SP++; PC++; }
H(h_add) { SP--; ST[SP - 1] = (int32_t)((uint32_t)ST[SP - 1] + (uint32_t)ST[SP]); PC++; }
H(h_sub) { SP--; ST[SP - 1] = (int32_t)((uint32_t)ST[SP - 1] - (uint32_t)ST[SP]); PC++; }
H(h_mul) { SP--; ST[SP - 1] = (int32_t)((uint32_t)ST[SP - 1] * (uint32_t)ST[SP]); PC++; }
H(h_and) { SP--; ST[SP - 1] &= ST[SP]; PC++; }
H(h_xor) { SP--; ST[SP - 1] ^= ST[SP]; PC++; }
H(h_shl) { SP--; ST[SP - 1] = (int32_t)((uint32_t)ST[SP - 1] << (ST[SP] & 31)); PC++; }
H(h_shr) { SP--; ST[SP - 1] = (int32_t)((uint32_t)ST[SP - 1] >> (ST[SP] & 31)); PC++; }
H(h_lt) { SP--; ST[SP - 1] = ST[SP - 1] < ST[SP]; PC++; }
H(h_jmp) { PC = ARG(1); }
H(h_jz) { PC = ST[--SP] == 0 ? ARG(1) : PC + 2; }
H(h_jnz) { PC = ST[--SP] != 0 ? ARG(1) : PC + 2; }
H(h_call)
{
    if (vm->rp >= FRAMES)
        vm_fail("return stack overflow");
    vm->frames[vm->rp].ret_pc = PC + 3;
    vm->frames[vm->rp].fp = vm->fp;
    vm->rp++;
    vm->fp = SP - ARG(2);
    PC = ARG(1);
}
H(h_ret)
{
    int32_t result = ST[SP - 1];
    SP = vm->fp;
    vm->rp--;
    vm->fp = vm->frames[vm->rp].fp;
    PC = vm->frames[vm->rp].ret_pc;
    ST[SP++] = result;
}

static const handler_fn handlers[OP_COUNT] = {
    h_halt, h_push, h_loadl, h_storel, h_enter, h_pop, h_dup,
    h_add, h_sub, h_mul, h_and, h_xor, h_shl, h_shr, h_lt,
    h_jmp, h_jz, h_jnz, h_call, h_ret,
};

static __attribute__((noinline)) int32_t run_table(struct vm *vm)
{
    uint32_t ops = 0;
    while (!vm->halted) {
        ops++;
        handlers[vm->code[vm->pc]](vm);
    }
    vm->ops += ops;
    return vm->stack[vm->sp - 1];
}

/* ---------- reference implementations in plain C ---------- */

static int32_t ref_fib(int32_t n)
{
    int32_t a = 0, b = 1;
    for (int32_t i = 0; i < n; i++) {
        int32_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

static int32_t ref_loop(int32_t n)
{
    uint32_t acc = 0;
    for (uint32_t i = 0; i < (uint32_t)n; i++) {
        acc = (acc * 31u + i) ^ (i << 3);
        if ((acc & 7) == 0)
            acc = acc + (acc >> 5) + 1;
    }
    return (int32_t)acc;
}

static struct vm the_vm;

int main(int argc, char **argv)
{
    long repeats = DEFAULT_REPEATS;
    if (argc > 1)
        repeats = strtol(argv[1], NULL, 10);
    if (repeats <= 0)
        repeats = 1;

    int fib_n = FIB_N;
    int loop_n = LOOP_N;
    int fib_entry, loop_entry;
    build_fib(fib_n, &fib_entry);
    build_loop(loop_n, &loop_entry);

    int32_t (*const strategies[3])(struct vm *) = { run_switch, run_threaded, run_table };
    static const char *const names[3] = { "switch", "threaded", "table" };
    int32_t fib_res[3] = { 0 }, loop_res[3] = { 0 };
    uint32_t ops[3] = { 0 };
    uint32_t csum = 0;

    for (long r = 0; r < repeats; r++) {
        for (int s = 0; s < 3; s++) {
            the_vm.ops = 0;
            vm_reset(&the_vm, code_buf, fib_entry);
            fib_res[s] = strategies[s](&the_vm);
            uint32_t o = the_vm.ops;
            vm_reset(&the_vm, code_buf, loop_entry);
            loop_res[s] = strategies[s](&the_vm);
            ops[s] = o + the_vm.ops;
            csum = csum * 0x01000193u ^ (uint32_t)fib_res[s];
            csum = csum * 0x01000193u ^ (uint32_t)loop_res[s];
            csum = csum * 0x01000193u ^ ops[s];
        }
    }

    int32_t want_fib = ref_fib(fib_n), want_loop = ref_loop(loop_n);
    int ok = 1;
    for (int s = 0; s < 3; s++) {
        printf("interp: %-8s fib(%d)=%d loop=%08x ops=%u\n", names[s], fib_n, (int)fib_res[s],
               (unsigned)loop_res[s], (unsigned)ops[s]);
        if (fib_res[s] != want_fib || loop_res[s] != want_loop || ops[s] != ops[0])
            ok = 0;
    }
    if (!ok) {
        printf("interp: MISMATCH (want fib=%d loop=%08x)\n", (int)want_fib, (unsigned)want_loop);
        return 1;
    }
    printf("checksum=%08x\n", (unsigned)csum);
    return 0;
}
