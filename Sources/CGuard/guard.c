// The guard: a tiny process between octo and a job, so that a job never
// outlives the octo process supervising it.
//
// Linux's parent-death signal reaches one process, not its children, and a
// job is a whole process group (`sh -c` and everything it starts). So octo
// forks a guard; the guard forks the job into a new process group and then
// watches two things: its control pipe from octo and the job's exit.
//   - octo writes 'T' / 'K' on the pipe: the guard sends SIGTERM / SIGKILL to
//     the job's group (timeouts, fenced-out runs, `octo sh kill`);
//   - the deadline passes (set at spawn, moved by 'D' + 8 bytes on the pipe
//     after each lease renewal): the guard SIGKILLs the group and reports it.
//     This is the watchdog that keeps a run from outliving its lease whatever
//     the supervisor is stuck in — a read on a silent link, a reconnect loop,
//     a stopped server, a stopped octo — since the guard makes no call that
//     can block on anything but its pipes;
//   - the pipe reaches end-of-file: octo is gone (even by SIGKILL, the kernel
//     closes its descriptors), so the guard SIGKILLs the group at once;
//   - the job's main process exits: the guard reports the wait status, then
//     gives anything the job left behind in its group `grace_ms` after a
//     SIGTERM before a SIGKILL, so nothing of a run survives it.
// The guard ignores terminal and termination signals (a Ctrl-C reaching
// octo's process group must not leave the job unguarded) and is the only
// process that signals the group, before it reaps the group leader, so the
// group id can never belong to someone else.
//
// Only async-signal-safe calls happen after fork(): octo may have threads.
#define _GNU_SOURCE
#include "octo_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int octo_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

static volatile sig_atomic_t stop_signal = 0;
static void remember_stop(int sig) { stop_signal = sig; }

void octo_catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = remember_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    // a mask inherited from the parent (a thread pool's threads block them) would keep them pending for ever
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &stops, NULL);
}

int octo_stop_signal(void) { return stop_signal; }

static void put_record(int fd, int kind, int value) {
    octo_guard_record r = { kind, value };
    ssize_t n;
    do { n = write(fd, &r, sizeof r); } while (n < 0 && errno == EINTR);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000L;
}

long long octo_monotonic_ms(void) { return now_ms(); }

int octo_guard_set_deadline(int control_fd, long long deadline_ms) {
    unsigned char record[9];
    record[0] = 'D';
    for (int i = 0; i < 8; i++) record[1 + i] = (unsigned char)(((unsigned long long)deadline_ms >> (8 * i)) & 0xff);
    ssize_t n;
    do { n = write(control_fd, record, sizeof record); } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof record ? 0 : (n < 0 ? errno : EIO);
}

static void close_from(int lowest) {
    if (syscall(SYS_close_range, (unsigned)lowest, ~0U, 0) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = lowest; fd < (max > 0 ? max : 1024); fd++) close(fd);
}

static void default_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &sa, NULL);  // fails harmlessly for KILL/STOP and RT internals
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

// In the guard. Descriptors: 0 /dev/null, 1 job stdout, 2 job stderr, 3 control (read), 4 status (write).
static void guard_main(const char *path, char *const argv[], char *const envp[], int grace_ms, long long deadline) {
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU };
    for (unsigned i = 0; i < sizeof ignored / sizeof ignored[0]; i++) sigaction(ignored[i], &ign, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    // vfork: the guard is a copy of octo's address space, and copying it again for every job was
    // the largest cost of starting one (scripts/bench queue). The guard is single-threaded and
    // waits until the child execs; the child only calls async-signal-safe functions and touches
    // no memory of the guard's except the arguments it was given (as posix_spawn does).
    pid_t job = vfork();
    if (job < 0) { put_record(4, OCTO_GUARD_EXEC_FAILED, errno); _exit(1); }
    if (job == 0) {
        setpgid(0, 0);
        // a guard that dies (killed by hand, the OOM killer) takes the job's first process along; octo kills the
        // rest of the group when it sees the guard's status pipe close without the job's end
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        default_signals();
        close(3);
        fcntl(4, F_SETFD, FD_CLOEXEC);  // open only until exec succeeds: it reports a failed exec
        execve(path, argv, envp);
        int e = errno;
        put_record(4, OCTO_GUARD_EXEC_FAILED, e);
        _exit(127);
    }
    setpgid(job, job);  // both sides set it, so no signal can precede it
    // the job holds stdout/stderr now; octo sees end-of-file when the job's group closes them
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
    put_record(4, OCTO_GUARD_STARTED, job);

    int pidfd = (int)syscall(SYS_pidfd_open, job, 0);
    int status = 0, have_status = 0, control_open = 1, deadline_fired = 0;
    unsigned char pending[16];  // a 'D' record split across reads waits here for its rest
    int pending_len = 0;
    while (!have_status) {
        struct pollfd fds[2] = { { control_open ? 3 : -1, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
        int wait_ms = pidfd >= 0 ? -1 : 50;
        if (deadline > 0 && !deadline_fired) {
            long long left = deadline - now_ms();
            if (left < 0) left = 0;
            if (wait_ms < 0 || left < wait_ms) wait_ms = left > 60000 ? 60000 : (int)left;
        }
        int rc = poll(fds, 2, wait_ms);
        if (rc < 0 && errno != EINTR) break;
        if (control_open && rc > 0 && fds[0].revents) {
            unsigned char cmd[64];
            ssize_t n = read(3, cmd, sizeof cmd);
            if (n > 0) {
                for (ssize_t i = 0; i < n; i++) {
                    if (pending_len > 0) {
                        pending[pending_len++] = cmd[i];
                        if (pending_len == 9) {
                            unsigned long long v = 0;
                            for (int b = 0; b < 8; b++) v |= (unsigned long long)pending[1 + b] << (8 * b);
                            if (!deadline_fired) deadline = (long long)v;
                            pending_len = 0;
                        }
                        continue;
                    }
                    if (cmd[i] == 'D') { pending[0] = 'D'; pending_len = 1; }
                    if (cmd[i] == 'T') kill(-job, SIGTERM);
                    if (cmd[i] == 'K') kill(-job, SIGKILL);
                }
            } else if (n == 0 || errno != EINTR) {
                kill(-job, SIGKILL);  // octo is gone
                control_open = 0;
            }
        }
        // reaped first: a job that ended as the deadline passed ended by itself, it was not killed
        if (waitpid(job, &status, WNOHANG) == job) { have_status = 1; break; }
        if (deadline > 0 && !deadline_fired && now_ms() >= deadline) {
            kill(-job, SIGKILL);  // no renewal in time: the lease may lapse soon, the run must be gone first
            deadline_fired = 1;
            put_record(4, OCTO_GUARD_DEADLINE, 0);
        }
    }
    if (!have_status) { kill(-job, SIGKILL); while (waitpid(job, &status, 0) < 0 && errno == EINTR) {} }
    put_record(4, OCTO_GUARD_EXITED, status);

    // Leftovers in the group: SIGTERM, then SIGKILL after the grace period.
    if (kill(-job, 0) == 0) {
        kill(-job, control_open && !deadline_fired ? SIGTERM : SIGKILL);
        long long leftovers_until = now_ms() + grace_ms;
        while (kill(-job, 0) == 0 && now_ms() < leftovers_until) {
            struct timespec ts = { 0, 20 * 1000000L };
            nanosleep(&ts, NULL);
        }
        kill(-job, SIGKILL);
    }
    _exit(0);
}

int octo_spawn_guarded(const char *path, char *const argv[], char *const envp[], int grace_ms, long long deadline_ms,
                       char *title_area, size_t title_area_len, const char *title, octo_guarded_job *out) {
    int control[2], status[2], so[2], se[2];
    if (pipe2(control, O_CLOEXEC) < 0) return errno;
    if (pipe2(status, O_CLOEXEC) < 0) { int e = errno; close(control[0]); close(control[1]); return e; }
    if (pipe2(so, O_CLOEXEC) < 0) { int e = errno; close(control[0]); close(control[1]); close(status[0]); close(status[1]); return e; }
    if (pipe2(se, O_CLOEXEC) < 0) {
        int e = errno;
        close(control[0]); close(control[1]); close(status[0]); close(status[1]); close(so[0]); close(so[1]);
        return e;
    }
    pid_t guard = fork();
    if (guard < 0) {
        int e = errno;
        int all[] = { control[0], control[1], status[0], status[1], so[0], so[1], se[0], se[1] };
        for (int i = 0; i < 8; i++) close(all[i]);
        return e;
    }
    if (guard == 0) {
        // its own name in ps and /proc/PID/cmdline (this copy of octo's memory is the guard's alone now)
        if (title_area && title_area_len > 0) {
            size_t n = strlen(title);
            if (n >= title_area_len) n = title_area_len - 1;
            memcpy(title_area, title, n);
            memset(title_area + n, 0, title_area_len - n);
        }
        prctl(PR_SET_NAME, "octo-guard", 0, 0, 0);
        // Move the five descriptors above 10 first, so the dup2 calls below cannot clobber one another.
        int keep[4] = { so[1], se[1], control[0], status[1] };
        int moved[4];
        for (int i = 0; i < 4; i++) moved[i] = fcntl(keep[i], F_DUPFD, 10);
        int devnull = open("/dev/null", O_RDONLY);
        int high_null = fcntl(devnull, F_DUPFD, 10);
        dup2(high_null, 0);
        for (int i = 0; i < 4; i++) dup2(moved[i], i + 1);  // 1 stdout, 2 stderr, 3 control, 4 status
        close_from(5);  // octo's database socket, other runs' pipes, other guards' control pipes
        guard_main(path, argv, envp, grace_ms, deadline_ms);
        _exit(1);
    }
    close(control[0]); close(status[1]); close(so[1]); close(se[1]);
    out->guard_pid = guard;
    out->control_fd = control[1];
    out->status_fd = status[0];
    out->stdout_fd = so[0];
    out->stderr_fd = se[0];
    return 0;
}
