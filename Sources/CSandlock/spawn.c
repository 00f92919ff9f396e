/*
 * The post-fork side of a sandbox. Two processes run here, both without exec'ing our own
 * code and both restricted to raw, async-signal-safe syscalls (no malloc, no locks, no
 * stdio, no Swift):
 *
 *   init     cloned from the (multithreaded) Swift process. It becomes a child subreaper,
 *            enters the Landlock domain, starts the command, and when the command ends (or
 *            the parent asks, or the parent dies) kills every process of the domain with
 *            kill(-1) — which Landlock's signal scope limits to exactly this sandbox — reaps
 *            them all, reports the command's wait status and the tree's rusage, and exits.
 *   command  cloned from init with CLONE_VM|CLONE_VFORK (no page-table copy): joins its own
 *            process group, sets rlimits, installs the seccomp program, and execs.
 *
 * Failures travel to the parent as {step, errno} over the CLOEXEC error pipe, then _exit(127).
 */
#include "CSandlock.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/personality.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>

#ifndef _GNU_SOURCE
#error "CSandlock must be built with _GNU_SOURCE"
#endif

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#define CSL_SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* Fixed descriptor numbers inside init, after the shuffle. */
enum {
    FD_STATUS = 3, FD_CONTROL = 4, FD_ERROR = 5, FD_RULESET = 6, FD_CWD = 7, FD_TTY = 8,
    FD_HANDOFF = 9, FD_GO = 10, FD_FIRST_FREE = 11
};

/* Size of the stack the vfork'd command runs on (it lives in init's frame). */
#define COMMAND_STACK_SIZE (64 * 1024)

static void report_failure(int error_fd, int step) {
    struct csl_child_error message = { step, errno };
    ssize_t written;
    do {
        written = write(error_fd, &message, sizeof message);
    } while (written < 0 && errno == EINTR);
    _exit(127);
}

static void write_all(int fd, const void *buffer, size_t length) {
    const char *cursor = buffer;
    while (length > 0) {
        ssize_t written = write(fd, cursor, length);
        if (written < 0) {
            if (errno == EINTR) continue;
            return;
        }
        cursor += written;
        length -= (size_t)written;
    }
}

/* Moves `fd` to `target` without clobbering the descriptors still to be moved: every source
 * was first lifted above FD_FIRST_FREE + the highest source, so dup3 never lands on one. */
static int lift(int fd, int floor) {
    if (fd < 0) return -1;
    return fcntl(fd, F_DUPFD_CLOEXEC, floor);
}

static int place(int lifted, int target, int cloexec) {
    if (lifted < 0) return 0;
    return dup3(lifted, target, cloexec ? O_CLOEXEC : 0) < 0 ? -1 : 0;
}

static int drop_all_capabilities(void) {
    /* Lock securebits first (needs CAP_SETPCAP, which we still hold): uid 0 never regains
     * capabilities on exec, and nothing can raise ambient ones. */
    unsigned long bits = SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP |
                         SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED;
#ifdef SECBIT_NO_CAP_AMBIENT_RAISE
    bits |= SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
#endif
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) return -1;
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL) break; /* past the last capability of this kernel */
            return -1;
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    return (int)syscall(SYS_capset, &header, data);
}

/* Writes a whole string to a /proc file (uid_map, gid_map, setgroups) with raw syscalls. */
static int write_proc_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t length = strlen(text);
    ssize_t written;
    do { written = write(fd, text, length); } while (written < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return written == (ssize_t)length ? 0 : -1;
}

/* A new user namespace with identity maps of the caller's uid and gid (plus `also`, more
 * namespaces to unshare with it): files written belong to the caller, as its own writes
 * would, and RLIMIT_NPROC counts the tasks of this namespace alone (Linux 5.14+). */
static void enter_user_namespace(const struct csl_spawn_plan *plan, int also) {
    if (unshare(CLONE_NEWUSER | also) != 0) report_failure(FD_ERROR, CSL_STEP_USER_NAMESPACE);
    if (write_proc_file("/proc/self/setgroups", "deny") != 0 ||
        write_proc_file("/proc/self/uid_map", plan->uid_map) != 0 ||
        write_proc_file("/proc/self/gid_map", plan->gid_map) != 0)
        report_failure(FD_ERROR, CSL_STEP_USER_NAMESPACE);
}

/* Copy-on-write workspaces: one private mount namespace (inside a new user namespace when the
 * caller is unprivileged) with an overlay mounted on each workdir itself, so the command sees
 * the same paths while every write lands in that workspace's upper directory. The workdirs are
 * disjoint, so the mounts do not depend on their order. Runs before chdir and Landlock; the
 * command's seccomp filter later denies mount/unshare, init is not under it. */
static void mount_workspaces(const struct csl_spawn_plan *plan) {
    if (plan->overlay_user_namespace) {
        enter_user_namespace(plan, CLONE_NEWNS);
    } else {
        if (unshare(CLONE_NEWNS) != 0) report_failure(FD_ERROR, CSL_STEP_MOUNT);
    }
    /* Nothing mounted here may propagate back to the caller's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) report_failure(FD_ERROR, CSL_STEP_MOUNT);
    for (int i = 0; i < plan->overlay_count; i++) {
        if (mount("overlay", plan->overlay_targets[i], "overlay", 0, plan->overlay_options[i]) != 0)
            report_failure(FD_ERROR, CSL_STEP_MOUNT);
    }
    /* The overlays hold their layers; their paths are hidden from the command, so a sandbox
     * with a grant over a storage cannot edit its own or another (kept) workspace's upper.
     * Only after every mount: an overlay's upper and work directories are opened by path. */
    for (int i = 0; i < plan->storage_count; i++) {
        if (mount("tmpfs", plan->storage_paths[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=4k,mode=0500") != 0)
            report_failure(FD_ERROR, CSL_STEP_MOUNT);
    }
}

/* The command's own Landlock domain, nested in init's: it handles no filesystem or network
 * right and only scopes signals and abstract unix sockets. Scoping is per domain, so init
 * (in the parent domain) still reaches every process of the sandbox with kill(-1), while
 * nothing the command starts can signal init: killing init would leave the tree, re-parented
 * to the host's init, running past the sandbox's end. Raw syscalls on a stack attr only. */
static void enter_command_domain(void) {
    int ruleset = csl_landlock_create_ruleset(0, 0, CSL_LL_SCOPE_ABSTRACT_UNIX_SOCKET | CSL_LL_SCOPE_SIGNAL, 6);
    if (ruleset < 0) report_failure(FD_ERROR, CSL_STEP_LANDLOCK);
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) report_failure(FD_ERROR, CSL_STEP_LANDLOCK);
    close(ruleset);
}

/* The command: runs on init's memory (CLONE_VM) until execve, so it only reads. */
static int command_main(void *opaque) {
    const struct csl_spawn_plan *plan = opaque;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) report_failure(FD_ERROR, CSL_STEP_PARENT_DEATH);
    if (setpgid(0, 0) != 0) report_failure(FD_ERROR, CSL_STEP_SESSION);
    if (plan->tty_fd >= 0) {
        /* Signals are still blocked, so SIGTTOU cannot stop us here. */
        if (tcsetpgrp(FD_TTY, getpid()) != 0) report_failure(FD_ERROR, CSL_STEP_TERMINAL);
        close(FD_TTY);
    }
    for (int i = 0; i < plan->rlimit_count; i++) {
        struct rlimit limit = { plan->rlimits[i].soft, plan->rlimits[i].hard };
        if (setrlimit(plan->rlimits[i].resource, &limit) != 0) report_failure(FD_ERROR, CSL_STEP_RLIMIT);
    }
    if (plan->disable_huge_pages) {
        if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) report_failure(FD_ERROR, CSL_STEP_HUGE_PAGES);
    }
    if (plan->personality_flags != 0) {
        int current = personality(0xffffffff);
        if (current == -1 || personality((unsigned long)current | plan->personality_flags) == -1)
            report_failure(FD_ERROR, CSL_STEP_PERSONALITY);
    }
    /* init's own descriptors must not reach the command. */
    close(FD_STATUS);
    close(FD_CONTROL);
    /* An empty mask, not the spawning thread's: a caller that blocks SIGINT for sigwait()
     * must not hand an uninterruptible command to the user. */
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) report_failure(FD_ERROR, CSL_STEP_SIGNALS);
    /* Signal scoping in place means Landlock ABI 6+: one more layer, for the command alone. */
    if (plan->scoped_tree_kill) enter_command_domain();
    /* Our pid for the listener handoff, taken before a deny list can refuse getpid. */
    pid_t self = getpid();
    /* Two programs in allowlist mode: the kernel runs both and the stricter verdict wins. */
    if (plan->bpf != NULL) {
        struct sock_fprog program = { .len = plan->bpf_len, .filter = (struct sock_filter *)plan->bpf };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0)
            report_failure(FD_ERROR, CSL_STEP_SECCOMP);
    }
    if (plan->allowlist_bpf != NULL) {
        struct sock_fprog program = { .len = plan->allowlist_bpf_len,
                                      .filter = (struct sock_filter *)plan->allowlist_bpf };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0)
            report_failure(FD_ERROR, CSL_STEP_SECCOMP);
    }
    if (plan->notify_bpf != NULL) {
        /* Last, so the supervisor never sees our own setup. The listener goes to the parent
         * (which takes it with pidfd_getfd); exec waits until the parent watches it, so no
         * notification is missed. write/read/close are never trapped. */
        struct sock_fprog program = { .len = plan->notify_bpf_len, .filter = (struct sock_filter *)plan->notify_bpf };
        /* WAIT_KILLABLE_RECV (5.19+): once the supervisor has received a notification, only
         * a fatal signal ends the wait (a signal before that still interrupts it; see
         * docs/security.md). Older kernels refuse the flag: plain listener. */
        int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                    SECCOMP_FILTER_FLAG_NEW_LISTENER | CSL_SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &program);
        if (listener < 0 && errno == EINVAL)
            listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
        if (listener < 0) report_failure(FD_ERROR, CSL_STEP_SECCOMP);
        struct csl_listener_handoff handoff = { self, listener };
        if (write(FD_HANDOFF, &handoff, sizeof handoff) != (ssize_t)sizeof handoff) report_failure(FD_ERROR, CSL_STEP_LISTENER);
        char go;
        ssize_t got;
        do { got = read(FD_GO, &go, 1); } while (got < 0 && errno == EINTR);
        if (got != 1) report_failure(FD_ERROR, CSL_STEP_LISTENER);
        close(listener);
    }
    close(FD_HANDOFF);
    close(FD_GO);
    execve(plan->path, plan->argv, plan->envp);
    report_failure(FD_ERROR, CSL_STEP_EXEC);
    return 127;
}

static int64_t now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Sends a signal to every process of the sandbox but init (see kill_and_reap for why -1). */
static void signal_tree(pid_t command, int scoped, int sig) {
    if (scoped) kill(-1, sig);
    else kill(-command, sig);
}

/* Kills what is left of the tree and reaps it; returns how many processes other than the
 * command were still there (background jobs, daemons) and had to be killed. */
static int kill_and_reap(pid_t command, int scoped, int *command_status, int *command_reaped) {
    int others = 0;
    if (scoped) {
        /* Inside a domain that scopes signals, kill(-1) reaches this domain only; the loop
         * catches processes forked while the previous round was being delivered. */
        for (;;) {
            kill(-1, SIGKILL);
            int status;
            pid_t pid = wait4(-1, &status, 0, NULL);
            if (pid < 0) {
                if (errno == EINTR) continue;
                break; /* ECHILD: nothing left */
            }
            if (pid == command && !*command_reaped) {
                *command_status = status;
                *command_reaped = 1;
            } else if (pid != command) {
                others++;
            }
        }
    } else {
        /* Degraded (no signal scoping): only the command's process group can be reached
         * safely. Processes that left it are out of reach; the result says so. */
        kill(-command, SIGKILL);
        int status;
        pid_t pid;
        while ((pid = wait4(-1, &status, *command_reaped ? WNOHANG : 0, NULL)) > 0 ||
               (pid < 0 && errno == EINTR)) {
            if (pid == command) {
                *command_status = status;
                *command_reaped = 1;
            } else if (pid > 0) {
                others++;
            }
        }
    }
    return others;
}

static void init_main(const struct csl_spawn_plan *plan) {
    /* Into the sandbox's pids cgroup before anything else: every task of the sandbox is
     * created inside it and counted against its pids.max by the kernel. The descriptor was
     * opened by the parent (its credentials are the ones the kernel checks). */
    if (plan->cgroup_procs_fd >= 0) {
        ssize_t written;
        do { written = write(plan->cgroup_procs_fd, "0", 1); } while (written < 0 && errno == EINTR);
        if (written != 1) report_failure(plan->error_fd, CSL_STEP_CGROUP);
        close(plan->cgroup_procs_fd);
    }
    /* Reset every handler the Swift process installed (signals are blocked until now). */
    struct sigaction default_action;
    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &default_action, NULL); /* EINVAL for glibc-reserved signals: fine */
    }

    /* Shuffle descriptors to fixed numbers, then close everything else the Swift process
     * had open (other sandboxes' pipes above all: holding them would delay their EOF). */
    int highest = FD_FIRST_FREE;
    const int sources[] = { plan->stdio[0], plan->stdio[1], plan->stdio[2], plan->status_fd,
                            plan->control_fd, plan->error_fd, plan->ruleset_fd, plan->cwd_fd,
                            plan->tty_fd, plan->handoff_fd, plan->go_fd };
    const int count = (int)(sizeof sources / sizeof sources[0]);
    for (int i = 0; i < count; i++)
        if (sources[i] >= highest) highest = sources[i] + 1;
    int lifted[sizeof sources / sizeof sources[0]];
    for (int i = 0; i < count; i++) {
        lifted[i] = lift(sources[i], highest);
        if (sources[i] >= 0 && lifted[i] < 0) report_failure(plan->error_fd, CSL_STEP_STDIO);
    }
    if (place(lifted[5], FD_ERROR, 1) != 0) report_failure(plan->error_fd, CSL_STEP_STDIO);
    for (int i = 0; i < 3; i++)
        if (place(lifted[i], i, 0) != 0) report_failure(FD_ERROR, CSL_STEP_STDIO);
    if (place(lifted[3], FD_STATUS, 1) != 0 || place(lifted[4], FD_CONTROL, 1) != 0 ||
        place(lifted[6], FD_RULESET, 1) != 0 || place(lifted[7], FD_CWD, 1) != 0 ||
        place(lifted[8], FD_TTY, 1) != 0 || place(lifted[9], FD_HANDOFF, 1) != 0 ||
        place(lifted[10], FD_GO, 1) != 0)
        report_failure(FD_ERROR, CSL_STEP_STDIO);
    if (syscall(SYS_close_range, FD_FIRST_FREE, ~0U, 0) != 0) {
        for (int fd = FD_FIRST_FREE; fd < highest + count + 1; fd++) close(fd);
    }
    /* A fixed slot this sandbox does not use may still hold one of the Swift process's own
     * descriptors (say, the write end of this very sandbox's control pipe, whose EOF must
     * reach init when the parent dies): close it. */
    for (int i = 3; i < count; i++)
        if (sources[i] < 0) close(FD_STATUS + (i - 3));

    if (plan->tty_fd < 0) {
        if (setsid() < 0) report_failure(FD_ERROR, CSL_STEP_SESSION);
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) report_failure(FD_ERROR, CSL_STEP_SUBREAPER);
    /* max_processes by RLIMIT_NPROC (the command sets it): counted per user namespace, so
     * the sandbox gets one of its own unless its workspaces already made one. */
    if (plan->process_user_namespace && !(plan->overlay_count > 0 && plan->overlay_user_namespace))
        enter_user_namespace(plan, 0);
    if (plan->overlay_count > 0) mount_workspaces(plan);
    if (plan->cwd_path != NULL) {
        /* By path: a descriptor opened before the mount would point below the overlay. */
        if (chdir(plan->cwd_path) != 0) report_failure(FD_ERROR, CSL_STEP_CWD);
    }
    if (plan->cwd_fd >= 0) {
        if (plan->cwd_path == NULL && fchdir(FD_CWD) != 0) report_failure(FD_ERROR, CSL_STEP_CWD);
        close(FD_CWD);
    }
    if (plan->cpu_affinity_set) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        for (int cpu = 0; cpu < 1024 && cpu < CPU_SETSIZE; cpu++)
            if (plan->cpu_affinity[cpu / 64] & (1ULL << (cpu % 64))) CPU_SET(cpu, &cpus);
        if (sched_setaffinity(0, sizeof cpus, &cpus) != 0) report_failure(FD_ERROR, CSL_STEP_AFFINITY);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) report_failure(FD_ERROR, CSL_STEP_NO_NEW_PRIVS);
    if (plan->drop_capabilities) {
        if (drop_all_capabilities() != 0) report_failure(FD_ERROR, CSL_STEP_CAPABILITIES);
    }
    if (plan->ruleset_fd >= 0) {
        for (int i = 0; i < plan->late_rule_count; i++) {
            int target = open(plan->late_rule_paths[i], O_PATH | O_CLOEXEC);
            /* A path that exists only in the workspace may be a file (a dry run's upstream
             * output): the parent could not tell, so its directory rights go here. */
            uint64_t access = plan->late_rule_access[i];
            struct stat info;
            if (target >= 0 && fstat(target, &info) == 0 && !S_ISDIR(info.st_mode)) access &= CSL_LL_FS_FILE_RIGHTS;
            if (target < 0 || csl_landlock_add_path_rule(FD_RULESET, target, access) != 0)
                report_failure(FD_ERROR, CSL_STEP_LANDLOCK);
            close(target);
        }
        if (syscall(SYS_landlock_restrict_self, FD_RULESET, 0) != 0) report_failure(FD_ERROR, CSL_STEP_LANDLOCK);
        close(FD_RULESET);
    }

    sigset_t child_signals;
    sigemptyset(&child_signals);
    sigaddset(&child_signals, SIGCHLD);
    /* SIGTERM to init (`sandlock kill NAME`, from another process) ends the sandbox like the
     * control pipe does: the whole tree, not init alone. */
    sigaddset(&child_signals, SIGTERM);
    int signal_fd = signalfd(-1, &child_signals, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd < 0) report_failure(FD_ERROR, CSL_STEP_SIGNALFD);

    char command_stack[COMMAND_STACK_SIZE] __attribute__((aligned(16)));
    pid_t command = clone(command_main, command_stack + sizeof command_stack,
                          CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)plan);
    if (command < 0) report_failure(FD_ERROR, CSL_STEP_FORK_COMMAND);

    /* The command has exec'd (or failed and reported). Dropping our copy of the error pipe
     * lets the parent see EOF, which is its "spawned" signal. Our stdio is the command's
     * business now. */
    close(FD_ERROR);
    close(FD_HANDOFF);
    close(FD_GO);
    close(0);
    close(1);
    close(2);
    if (plan->tty_fd >= 0) close(FD_TTY);

    int command_status = 0, command_reaped = 0, killed_on_request = 0;
    struct pollfd watched[2] = {
        { .fd = signal_fd, .events = POLLIN },
        { .fd = FD_CONTROL, .events = POLLIN },
    };
    /* CPU share: in each 100 ms period the tree runs for cpu_percent ms, then is stopped. */
    const int64_t period_ms = 100;
    int stopped = 0;
    int64_t phase_end = plan->cpu_percent > 0 ? now_ms() + plan->cpu_percent * period_ms / 100 : 0;
    while (!command_reaped && !killed_on_request) {
        int timeout = -1;
        if (plan->cpu_percent > 0) {
            int64_t remaining = phase_end - now_ms();
            if (remaining <= 0) {
                stopped = !stopped;
                signal_tree(command, plan->scoped_tree_kill, stopped ? SIGSTOP : SIGCONT);
                int64_t share = plan->cpu_percent * period_ms / 100;
                phase_end = now_ms() + (stopped ? period_ms - share : share);
                remaining = phase_end - now_ms();
            }
            timeout = (int)remaining;
        }
        if (poll(watched, 2, timeout) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (watched[0].revents) {
            struct signalfd_siginfo info;
            while (read(signal_fd, &info, sizeof info) > 0) {
                if (info.ssi_signo == SIGTERM) killed_on_request = 1;
            }
            /* Reap orphans as they come so zombies never pile up under a long command. */
            int status;
            pid_t pid;
            while ((pid = wait4(-1, &status, WNOHANG, NULL)) > 0) {
                if (pid == command) {
                    command_status = status;
                    command_reaped = 1;
                }
            }
        }
        if (!command_reaped && watched[1].revents) killed_on_request = 1; /* byte or EOF */
    }
    int others = kill_and_reap(command, plan->scoped_tree_kill, &command_status, &command_reaped);

    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    getrusage(RUSAGE_CHILDREN, &usage);
    struct csl_init_report report = {
        .command_status = command_status,
        .command_reaped = command_reaped,
        .killed_on_request = killed_on_request,
        .processes_killed = others,
        .user_usec = (int64_t)usage.ru_utime.tv_sec * 1000000 + usage.ru_utime.tv_usec,
        .system_usec = (int64_t)usage.ru_stime.tv_sec * 1000000 + usage.ru_stime.tv_usec,
        .max_rss_kb = usage.ru_maxrss,
    };
    write_all(FD_STATUS, &report, sizeof report);
    _exit(0);
}

struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};
/* linux/sched.h's struct clone_args, first version. */
_Static_assert(sizeof(struct clone_args_v0) == 64, "clone_args v0 is 64 bytes (CLONE_ARGS_SIZE_VER0)");
_Static_assert(offsetof(struct clone_args_v0, pidfd) == 8, "clone_args.pidfd at 8");
_Static_assert(offsetof(struct clone_args_v0, exit_signal) == 32, "clone_args.exit_signal at 32");
#ifdef CLONE_ARGS_SIZE_VER0
_Static_assert(sizeof(struct clone_args_v0) == CLONE_ARGS_SIZE_VER0, "clone_args v0 matches the kernel header");
#endif

pid_t csl_spawn(const struct csl_spawn_plan *plan, int *pidfd_out) {
    /* Block every signal across the clone so no Swift-side handler runs in the child before
     * init resets the dispositions. */
    sigset_t all, original;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &original);

    int pidfd = -1;
    struct clone_args_v0 args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0 && (errno == ENOSYS || errno == EPERM)) {
        /* clone3 unavailable (old kernel, or a seccomp filter answering ENOSYS/EPERM, as ours
         * does inside a sandbox): fork, then pidfd_open. */
        pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
        if (pid > 0) {
            pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
            if (pidfd < 0) {
                /* Without a pidfd we cannot manage it safely; it is unreaped, so its pid is
                 * still ours to kill. */
                int saved = errno;
                kill((pid_t)pid, SIGKILL);
                waitpid((pid_t)pid, NULL, 0);
                errno = saved;
                pid = -1;
            }
        }
    }
    if (pid == 0) {
        init_main(plan);
        _exit(127);
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &original, NULL);
    if (pid < 0) {
        errno = saved;
        return -1;
    }
    if (pidfd >= 0) fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    *pidfd_out = pidfd;
    return (pid_t)pid;
}
