#ifndef OCTO_GUARD_H
#define OCTO_GUARD_H
#include <sys/types.h>

/// A job started under a guard process (see guard.c for the why).
typedef struct {
    pid_t guard_pid;   ///< the guard: reap it with waitpid once its status record arrived
    int control_fd;    ///< write 'T' (SIGTERM the job's group), 'K' (SIGKILL it) or a deadline (octo_guard_set_deadline); closing it kills the group
    int status_fd;     ///< records from the guard: octo_guard_record
    int stdout_fd;     ///< the job's stdout (read end)
    int stderr_fd;     ///< the job's stderr (read end)
} octo_guarded_job;

/// One record on status_fd.
typedef struct {
    int kind;          ///< OCTO_GUARD_STARTED (value: the job's pid = its process group), OCTO_GUARD_EXITED (value: wait
                       ///< status), OCTO_GUARD_EXEC_FAILED (value: errno) or OCTO_GUARD_DEADLINE (the group was SIGKILLed at its deadline)
    int value;
} octo_guard_record;

enum { OCTO_GUARD_STARTED = 1, OCTO_GUARD_EXITED = 2, OCTO_GUARD_EXEC_FAILED = 3, OCTO_GUARD_DEADLINE = 4 };

/// Starts `path argv` with environment `envp` (all NULL-terminated) in its own
/// process group under a guard process. Returns 0, or an errno value. All
/// returned descriptors are close-on-exec. `grace_ms`: after the job's main
/// process exits, how long what it left in its group gets between SIGTERM and SIGKILL.
/// `title_area`/`title_area_len` (may be NULL/0): this process's command-line
/// memory, which the guard — a copy of octo that does not exec — overwrites
/// with `title`, so that `ps` names it and `pkill -f "octo consume"` does not
/// mistake it for its parent.
/// `deadline_ms` (CLOCK_MONOTONIC milliseconds, 0 for none): the guard
/// SIGKILLs the job's group when it passes, unless a later deadline arrived
/// first (octo_guard_set_deadline). A supervisor sets it from each lease
/// renewal, so a supervisor stuck in any call (a silent link, a stopped
/// server, SIGSTOP) still has its job killed before the lease can lapse.
int octo_spawn_guarded(const char *path, char *const argv[], char *const envp[], int grace_ms, long long deadline_ms,
                       char *title_area, size_t title_area_len, const char *title, octo_guarded_job *out);

/// Moves the guard's kill deadline to `deadline_ms` (CLOCK_MONOTONIC
/// milliseconds; 0: none). One write of 9 bytes ('D' and the value), atomic
/// on a pipe. Returns 0, or an errno value.
int octo_guard_set_deadline(int control_fd, long long deadline_ms);

/// CLOCK_MONOTONIC in milliseconds (the clock of guard deadlines).
long long octo_monotonic_ms(void);

/// `prctl(PR_SET_PDEATHSIG, sig)` (prctl is variadic, so Swift cannot call it).
int octo_set_parent_death_signal(int sig);

/// Catches SIGTERM, SIGINT and SIGHUP by remembering the signal, without
/// SA_RESTART (so a blocked poll or read returns EINTR), and unblocks them
/// (a mask inherited from the parent would keep them pending for ever). For
/// octo processes that must finish their work (store what they read) before exiting.
void octo_catch_stop_signals(void);

/// The last stop signal caught since octo_catch_stop_signals, or 0.
int octo_stop_signal(void);

#endif
