// The built-in corpus, embedded in the binary when it is built (the assembler's `.incbin`), so that
// the trainer reads no file of its own at run time: a copy of the binary on a node that never saw
// the build folder trains the default job. `.incbin` finds shakespeare.txt on the include path that
// Package.swift gives this target (Sources/TrainerKit/Resources). The build does not track the
// file: after editing it, touch this one.
#include "CCorpus.h"

#if defined(__APPLE__)
#define CORPUS_SYMBOL(name) "_" #name
#define CORPUS_SECTION ".section __TEXT,__const\n"
#define CORPUS_END_SECTION ".text\n"
#define CORPUS_VISIBILITY(name) ".private_extern " CORPUS_SYMBOL(name) "\n"
#else
#define CORPUS_SYMBOL(name) #name
#define CORPUS_SECTION ".pushsection .rodata.trainer_corpus, \"a\", @progbits\n"
#define CORPUS_END_SECTION ".popsection\n"
#define CORPUS_VISIBILITY(name) ".hidden " CORPUS_SYMBOL(name) "\n"
#endif

__asm__(CORPUS_SECTION
        ".globl " CORPUS_SYMBOL(trainer_shakespeare_start) "\n"
        CORPUS_VISIBILITY(trainer_shakespeare_start)
        ".globl " CORPUS_SYMBOL(trainer_shakespeare_end) "\n"
        CORPUS_VISIBILITY(trainer_shakespeare_end)
        ".balign 16\n"
        CORPUS_SYMBOL(trainer_shakespeare_start) ":\n"
        ".incbin \"shakespeare.txt\"\n"
        CORPUS_SYMBOL(trainer_shakespeare_end) ":\n"
        ".byte 0\n"
        CORPUS_END_SECTION);

extern const unsigned char trainer_shakespeare_start[];
extern const unsigned char trainer_shakespeare_end[];

const unsigned char *trainer_corpus_shakespeare(size_t *count) {
    *count = (size_t)(trainer_shakespeare_end - trainer_shakespeare_start);
    return trainer_shakespeare_start;
}
