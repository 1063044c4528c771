#ifndef CCORPUS_H
#define CCORPUS_H

#include <stddef.h>

/// The bytes of the built-in corpus, Sources/TrainerKit/Resources/shakespeare.txt, embedded in the
/// binary at build time; `count` receives their number.
const unsigned char *trainer_corpus_shakespeare(size_t *count);

#endif
