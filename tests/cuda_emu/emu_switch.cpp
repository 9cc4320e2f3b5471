// The emulator's fiber switch (x86-64 System V): saves the callee-saved registers on the current
// stack, stores its pointer in *from, loads to as the stack pointer and restores. Written as a
// top-level asm block so the build needs no assembler language.
asm(".text\n"
    "  .globl emu_switch\n"
    "  .type emu_switch,@function\n"
    "emu_switch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n");
