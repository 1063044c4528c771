// Stop signals and run-directory locks: the few system calls the trainer makes that must be
// async-signal-safe or that Swift's Glibc module does not expose conveniently (flock).
#include "CSignals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static volatile sig_atomic_t received = 0;

static void on_stop_signal(int signal_number) {
    // mpirun forwards SIGUSR1/SIGUSR2 to every rank but turns SIGTERM/SIGINT into a kill after a
    // second: launch/mpirun.sh sends USR1 for a TERM and USR2 for an INT it receives.
    if (signal_number == SIGUSR1) signal_number = SIGTERM;
    if (signal_number == SIGUSR2) signal_number = SIGINT;
    if (received) {
        static const char message[] = "trainer: second stop signal, exiting at once without a checkpoint\n";
        ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
        (void)ignored;
        _exit(128 + signal_number);
    }
    received = signal_number;
}

void trainer_stop_signals_install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // system calls in progress (MPI, HDF5) continue
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGUSR1, &action, NULL);
    sigaction(SIGUSR2, &action, NULL);
}

int trainer_stop_signal(void) { return received; }

int trainer_lock_file(const char *path) {
    int descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (descriptor < 0) return -1;
    if (flock(descriptor, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        close(descriptor);
        errno = saved;
        return -1;
    }
    return descriptor;
}

void trainer_unlock_file(int descriptor) {
    if (descriptor < 0) return;
    flock(descriptor, LOCK_UN);
    close(descriptor);
}
