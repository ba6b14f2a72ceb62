// The clone trampolines (runscript_clone, supervisor.h) of each architecture the supervisor
// is written for, and 32-bit ARM's system call: assembly, included by supervisor.cc alone,
// under its rules (no libc, no symbol referenced).

#ifndef RUNSCRIPT_SUPERVISOR_ASM_H
#define RUNSCRIPT_SUPERVISOR_ASM_H

#include "supervisor.h"

// 32-bit ARM: our assembly is in ARM state whatever the compiler's (Debian's armhf compiles
// Thumb): calls interwork. The compiler's state is restored after it.
#if defined(__arm__) && defined(__thumb__)
#define RUNSCRIPT_COMPILER_STATE ".thumb\n"
#else
#define RUNSCRIPT_COMPILER_STATE ".arm\n"
#endif

#if RUNSCRIPT_SUPERVISED
#if defined(__x86_64__)
// clone(flags, newsp, parent_tid, child_tid, tls): rdi, rsi, rdx, r10, r8.
__asm__(".pushsection .text\n"
        ".globl runscript_clone\n"
        ".hidden runscript_clone\n"
        ".type runscript_clone,@function\n"
        "runscript_clone:\n"
        "  and $-16, %rsi\n"
        "  sub $16, %rsi\n"
        "  mov %rcx, 8(%rsi)\n"      // fn, popped by the child
        "  mov %r8, (%rsi)\n"        // arg
        "  xor %r10d, %r10d\n"
        "  xor %r8d, %r8d\n"
        "  mov $56, %eax\n"          // SYS_clone
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jz 1f\n"
        "  ret\n"
        "1:\n"
        "  xor %ebp, %ebp\n"
        "  pop %rdi\n"
        "  pop %rax\n"               // the stack is 16-byte aligned again: call as the ABI wants
        "  call *%rax\n"
        "  mov %eax, %edi\n"
        "  mov $60, %eax\n"          // SYS_exit
        "  syscall\n"
        "  hlt\n"
        ".size runscript_clone, .-runscript_clone\n"
        ".popsection\n");
#elif defined(__aarch64__)
// clone(flags, newsp, parent_tid, tls, child_tid): x0..x4.
__asm__(".pushsection .text\n"
        ".globl runscript_clone\n"
        ".hidden runscript_clone\n"
        ".type runscript_clone,%function\n"
        "runscript_clone:\n"
        "  and x1, x1, #-16\n"
        "  stp x3, x4, [x1, #-16]!\n"  // fn, arg: loaded by the child from its new stack
        "  mov x3, xzr\n"
        "  mov x4, xzr\n"
        "  mov x8, #220\n"             // SYS_clone
        "  svc #0\n"
        "  cbz x0, 1f\n"
        "  ret\n"
        "1:\n"
        "  mov x29, xzr\n"
        "  mov x30, xzr\n"
        "  ldp x1, x0, [sp], #16\n"
        "  blr x1\n"
        "  mov x8, #93\n"              // SYS_exit
        "  svc #0\n"
        "  brk #0\n"
        ".size runscript_clone, .-runscript_clone\n"
        ".popsection\n");
#elif defined(__i386__)
// clone(flags, newsp, parent_tid, tls, child_tid): ebx, ecx, edx, esi, edi; the caller's
// arguments on the stack (cdecl), above the three registers saved here.
__asm__(".pushsection .text\n"
        ".globl runscript_clone\n"
        ".hidden runscript_clone\n"
        ".type runscript_clone,@function\n"
        "runscript_clone:\n"
        "  push %ebx\n"
        "  push %esi\n"
        "  push %edi\n"
        "  mov 20(%esp), %ecx\n"     // stack_top
        "  and $-16, %ecx\n"
        "  sub $16, %ecx\n"
        "  mov 32(%esp), %eax\n"     // arg: at the child's stack pointer, as fn's argument
        "  mov %eax, (%ecx)\n"
        "  mov 28(%esp), %eax\n"     // fn
        "  mov %eax, 4(%ecx)\n"
        "  mov 16(%esp), %ebx\n"     // flags
        "  mov 24(%esp), %edx\n"     // parent_tid
        "  xor %esi, %esi\n"
        "  xor %edi, %edi\n"
        "  mov $120, %eax\n"         // SYS_clone
        "  int $0x80\n"
        "  test %eax, %eax\n"
        "  jz 1f\n"
        "  pop %edi\n"
        "  pop %esi\n"
        "  pop %ebx\n"
        "  ret\n"
        "1:\n"
        "  xor %ebp, %ebp\n"
        "  mov 4(%esp), %eax\n"      // the stack is 16-byte aligned: call as the ABI wants
        "  call *%eax\n"
        "  mov %eax, %ebx\n"
        "  mov $1, %eax\n"           // SYS_exit
        "  int $0x80\n"
        "  hlt\n"
        ".size runscript_clone, .-runscript_clone\n"
        ".popsection\n");
#elif defined(__arm__)
// clone(flags, newsp, parent_tid, tls, child_tid): r0..r4; the system call number in r7.
// runscript_clone's fifth argument (arg) comes on the stack (AAPCS).
__asm__(".pushsection .text\n"
        ".syntax unified\n"
        ".arm\n"
        ".p2align 2\n"
        ".globl runscript_clone\n"
        ".hidden runscript_clone\n"
        ".type runscript_clone,%function\n"
        "runscript_clone:\n"
        "  push {r4, r7}\n"
        "  ldr ip, [sp, #8]\n"         // arg
        "  bic r1, r1, #15\n"
        "  sub r1, r1, #16\n"
        "  str r3, [r1]\n"             // fn, loaded by the child from its new stack
        "  str ip, [r1, #4]\n"
        "  mov r3, #0\n"
        "  mov r4, #0\n"
        "  mov r7, #120\n"             // SYS_clone
        "  svc #0\n"
        "  cmp r0, #0\n"
        "  beq 1f\n"
        "  pop {r4, r7}\n"
        "  bx lr\n"
        "1:\n"
        "  mov fp, #0\n"
        "  mov lr, #0\n"
        "  ldr r1, [sp]\n"
        "  ldr r0, [sp, #4]\n"
        "  blx r1\n"
        "  mov r7, #1\n"               // SYS_exit
        "  svc #0\n"
        "  udf #0\n"
        ".size runscript_clone, .-runscript_clone\n"
        RUNSCRIPT_COMPILER_STATE
        ".popsection\n");
#elif defined(__riscv)
// clone(flags, newsp, parent_tid, tls, child_tid): a0..a4; the system call number in a7.
__asm__(".pushsection .text\n"
        ".globl runscript_clone\n"
        ".hidden runscript_clone\n"
        ".type runscript_clone,@function\n"
        "runscript_clone:\n"
        "  andi a1, a1, -16\n"
        "  addi a1, a1, -16\n"
        "  sd a3, 0(a1)\n"             // fn, loaded by the child from its new stack
        "  sd a4, 8(a1)\n"             // arg
        "  li a3, 0\n"
        "  li a4, 0\n"
        "  li a7, 220\n"               // SYS_clone
        "  ecall\n"
        "  beqz a0, 1f\n"
        "  ret\n"
        "1:\n"
        "  li ra, 0\n"
        "  li s0, 0\n"
        "  ld a1, 0(sp)\n"
        "  ld a0, 8(sp)\n"
        "  jalr a1\n"
        "  li a7, 93\n"                // SYS_exit
        "  ecall\n"
        "  ebreak\n"
        ".size runscript_clone, .-runscript_clone\n"
        ".popsection\n");
#elif defined(__powerpc64__)
// clone(flags, newsp, parent_tid, tls, child_tid): r3..r7; the system call number in r0, an
// error flagged in cr0.SO with a positive errno in r3. The child's stack gets a minimal
// ELFv2 frame (back chain 0) holding fn and arg; fn is called through r12, as ELFv2 wants.
__asm__(".pushsection .text\n"
        ".globl runscript_clone\n"
        ".hidden runscript_clone\n"
        ".type runscript_clone,@function\n"
        "runscript_clone:\n"
        "  clrrdi 4, 4, 4\n"
        "  addi 4, 4, -64\n"
        "  li 0, 0\n"
        "  std 0, 0(4)\n"
        "  std 6, 48(4)\n"              // fn
        "  std 7, 56(4)\n"              // arg
        "  li 6, 0\n"
        "  li 7, 0\n"
        "  li 0, 120\n"                 // SYS_clone
        "  sc\n"
        "  bns+ 1f\n"
        "  neg 3, 3\n"
        "  blr\n"
        "1:\n"
        "  cmpdi 3, 0\n"
        "  beq 2f\n"
        "  blr\n"
        "2:\n"
        "  ld 12, 48(1)\n"
        "  ld 3, 56(1)\n"
        "  mtctr 12\n"
        "  bctrl\n"
        "  li 0, 1\n"                   // SYS_exit
        "  sc\n"
        "  trap\n"
        ".size runscript_clone, .-runscript_clone\n"
        ".popsection\n");
#endif
#endif  // RUNSCRIPT_SUPERVISED

#if RUNSCRIPT_RAW_SYSCALL_ASM && defined(__arm__)
// runscript_syscall(n, a, b, c, d, e): r7 is Thumb code's frame pointer, which an asm
// statement may not take: a function of its own, in ARM state. d and e come on the stack.
__asm__(".pushsection .text\n"
        ".syntax unified\n"
        ".arm\n"
        ".p2align 2\n"
        ".globl runscript_syscall\n"
        ".hidden runscript_syscall\n"
        ".type runscript_syscall,%function\n"
        "runscript_syscall:\n"
        "  push {r4, r5, r7, lr}\n"
        "  mov r7, r0\n"
        "  mov r0, r1\n"
        "  mov r1, r2\n"
        "  mov r2, r3\n"
        "  ldr r3, [sp, #16]\n"
        "  ldr r4, [sp, #20]\n"
        "  svc #0\n"
        "  pop {r4, r5, r7, pc}\n"
        ".size runscript_syscall, .-runscript_syscall\n"
        RUNSCRIPT_COMPILER_STATE
        ".popsection\n");
extern "C" long runscript_syscall(long n, long a, long b, long c, long d, long e)
    __attribute__((visibility("hidden")));
#endif

#endif  // RUNSCRIPT_SUPERVISOR_ASM_H
