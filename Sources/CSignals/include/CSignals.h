#ifndef TRAINER_CSIGNALS_H
#define TRAINER_CSIGNALS_H

/// Graceful stop on SIGTERM / SIGINT (preemption, Ctrl-C): the first signal is only recorded, and
/// the training loop stops at the next step boundary with a checkpoint; a second signal ends the
/// process at once with exit status 128 + signal.
void trainer_stop_signals_install(void);

/// The first stop signal received since installation (SIGTERM or SIGINT), or 0.
int trainer_stop_signal(void);

/// flock(LOCK_EX | LOCK_NB) on `path` (created if missing): the open descriptor, kept open for the
/// life of the process, or -1 with errno set (EWOULDBLOCK: another process holds it).
int trainer_lock_file(const char *path);

/// Releases and closes a descriptor from trainer_lock_file.
void trainer_unlock_file(int descriptor);

#endif
