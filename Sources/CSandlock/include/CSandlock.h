/*
 * CSandlock: the C half of the engine.
 *
 * Why C: Swift cannot call variadic syscall()/prctl(), does not see macros such as
 * WIFEXITED or _IOWR ioctl numbers, its Glibc module lacks _GNU_SOURCE (O_PATH, pipe2,
 * memfd_create), and the code between fork and exec must be async-signal-safe — no
 * allocation, no locks, no Swift runtime. Everything here is a thin wrapper over one
 * syscall, except csl_spawn(), which runs the post-fork child (see spawn.c).
 *
 * Wrappers return -1 and leave errno set, like libc, unless documented otherwise.
 */
#ifndef CSANDLOCK_H
#define CSANDLOCK_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <linux/filter.h>

/* ---- Kernel constants Swift's Glibc module does not see ---- */

/* personality(2): disable ASLR (linux/personality.h). */
#define CSL_ADDR_NO_RANDOMIZE 0x0040000
/* openat2(2) resolve flags (linux/openat2.h, newer than some distro headers). */
#define CSL_RESOLVE_NO_MAGICLINKS 0x02
#define CSL_RESOLVE_NO_SYMLINKS   0x04
#define CSL_RESOLVE_BENEATH       0x08
/* clone(2) flag of a new thread (not a new process). */
#define CSL_CLONE_THREAD 0x00010000
/* Auxiliary vector entry: where the vDSO is mapped (elf.h). */
#define CSL_AT_SYSINFO_EHDR 33

/* ---- Landlock (definitions newer than Debian 12's linux-libc-dev 6.1) ---- */

#define CSL_LL_FS_EXECUTE      (1ULL << 0)
#define CSL_LL_FS_WRITE_FILE   (1ULL << 1)
#define CSL_LL_FS_READ_FILE    (1ULL << 2)
#define CSL_LL_FS_READ_DIR     (1ULL << 3)
#define CSL_LL_FS_REMOVE_DIR   (1ULL << 4)
#define CSL_LL_FS_REMOVE_FILE  (1ULL << 5)
#define CSL_LL_FS_MAKE_CHAR    (1ULL << 6)
#define CSL_LL_FS_MAKE_DIR     (1ULL << 7)
#define CSL_LL_FS_MAKE_REG     (1ULL << 8)
#define CSL_LL_FS_MAKE_SOCK    (1ULL << 9)
#define CSL_LL_FS_MAKE_FIFO    (1ULL << 10)
#define CSL_LL_FS_MAKE_BLOCK   (1ULL << 11)
#define CSL_LL_FS_MAKE_SYM     (1ULL << 12)
#define CSL_LL_FS_REFER        (1ULL << 13) /* ABI 2 */
#define CSL_LL_FS_TRUNCATE     (1ULL << 14) /* ABI 3 */
#define CSL_LL_FS_IOCTL_DEV    (1ULL << 15) /* ABI 5 */
/* The rights a rule on a non-directory may carry (others: EINVAL). */
#define CSL_LL_FS_FILE_RIGHTS  (CSL_LL_FS_EXECUTE | CSL_LL_FS_WRITE_FILE | CSL_LL_FS_READ_FILE | CSL_LL_FS_TRUNCATE | CSL_LL_FS_IOCTL_DEV)
extern const uint64_t CSL_LL_FILE_RIGHTS; /* = CSL_LL_FS_FILE_RIGHTS, for Swift */
#define CSL_LL_NET_BIND_TCP    (1ULL << 0)  /* ABI 4 */
#define CSL_LL_NET_CONNECT_TCP (1ULL << 1)  /* ABI 4 */
#define CSL_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define CSL_LL_SCOPE_SIGNAL               (1ULL << 1) /* ABI 6 */

/// Landlock ABI version of the running kernel: landlock_create_ruleset(NULL, 0, VERSION).
/// Returns -1 with errno ENOSYS/EOPNOTSUPP when Landlock is absent or disabled.
int csl_landlock_abi_version(void);
/// landlock_create_ruleset() with the 24-byte attr {fs, net, scoped}; size chosen by ABI.
int csl_landlock_create_ruleset(uint64_t handled_fs, uint64_t handled_net, uint64_t scoped, int abi);
/// landlock_add_rule(LANDLOCK_RULE_PATH_BENEATH) for an O_PATH descriptor.
int csl_landlock_add_path_rule(int ruleset_fd, int parent_fd, uint64_t allowed_access);
/// landlock_add_rule(LANDLOCK_RULE_NET_PORT).
int csl_landlock_add_port_rule(int ruleset_fd, uint64_t port, uint64_t allowed_access);
/// landlock_restrict_self(); used by confine() on the calling thread.
int csl_landlock_restrict_self(int ruleset_fd);
/// prctl(PR_SET_NO_NEW_PRIVS, 1).
int csl_set_no_new_privs(void);

/* ---- descriptors ---- */

extern const int CSL_O_PATH;
extern const int CSL_O_CLOEXEC;
extern const int CSL_O_DIRECTORY;
int csl_open(const char *path, int flags, mode_t mode);
/// pipe2(O_CLOEXEC); fds[0] is the read end.
int csl_pipe_cloexec(int fds[2]);
/// memfd_create(name, MFD_CLOEXEC).
int csl_memfd(const char *name);
int csl_set_nonblocking(int fd);
/// fcntl(F_SETPIPE_SZ): larger capture pipes mean fewer wake-ups.
int csl_set_pipe_size(int fd, int size);

/* ---- processes ---- */

/// pidfd_open(pid, 0), CLOEXEC by definition.
int csl_pidfd_open(pid_t pid);
/// pidfd_send_signal(pidfd, sig, NULL, 0).
int csl_pidfd_send_signal(int pidfd, int sig);
/// waitid(P_PIDFD, pidfd, WEXITED | extra) via the raw syscall; on success fills the
/// child's si_code/si_status.
int csl_pidfd_wait(int pidfd, int extra_options, int *code_out, int *status_out);
extern const int CSL_WNOHANG;
/// Decoding a wait(2) status word.
int csl_wifexited(int status);
int csl_wexitstatus(int status);
int csl_wifsignaled(int status);
int csl_wtermsig(int status);
/// epoll and eventfd (CLOEXEC).
int csl_epoll_create(void);
int csl_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
/// Waits for events; fills tokens[i] and events[i]. Returns the count.
int csl_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms);
int csl_eventfd(void);
extern const uint32_t CSL_EPOLLIN;
extern const uint32_t CSL_EPOLLOUT;
extern const uint32_t CSL_EPOLLONESHOT;
extern const int CSL_EPOLL_CTL_ADD;
extern const int CSL_EPOLL_CTL_DEL;
extern const int CSL_EPOLL_CTL_MOD;
extern const uint32_t CSL_EPOLLHUP;
extern const uint32_t CSL_EPOLLERR;
/// Monotonic clock in nanoseconds.
int64_t csl_monotonic_ns(void);
/// Capabilities of the calling thread: 1 if the effective set is non-empty.
int csl_has_effective_capabilities(void);
/// gettid(): the calling thread's id.
int32_t csl_gettid(void);
/// Names the calling thread (prctl(PR_SET_NAME)), as /proc/.../comm shows it.
int csl_set_thread_name(const char *name);
/// Is fd a terminal?
int csl_isatty(int fd);
/// Hands the terminal's foreground process group back to the caller (SIGTTOU blocked).
int csl_tty_reclaim_foreground(int tty_fd);

/* ---- seccomp ---- */

/// SECCOMP_RET_ERRNO | errno, which libseccomp only offers as a macro.
uint32_t csl_scmp_act_errno(int err);
uint32_t csl_scmp_act_kill_process(void);
uint32_t csl_scmp_act_allow(void);
/// seccomp(SECCOMP_GET_ACTION_AVAIL): 1 when the kernel supports the action.
int csl_seccomp_action_available(uint32_t action);
extern const uint32_t CSL_SECCOMP_RET_USER_NOTIF;
extern const uint32_t CSL_SECCOMP_RET_ERRNO;

/* ---- seccomp user notification (the supervisor side) ---- */

/// A trapped syscall (struct seccomp_notif, flattened).
struct csl_notification {
    uint64_t id;
    uint32_t pid;
    int32_t nr;
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t args[6];
};

/// SECCOMP_IOCTL_NOTIF_RECV into a zeroed buffer. Returns 0, or -1 with errno (ENOENT: the
/// target died before we could read it).
int csl_notif_receive(int listener, struct csl_notification *out);
/// SECCOMP_IOCTL_NOTIF_SEND: `error` (positive errno) fails the call, else `value` is returned;
/// `continue_syscall` lets the kernel run it as is (only for decisions on register arguments).
int csl_notif_respond(int listener, uint64_t id, int64_t value, int error, int continue_syscall);
/// SECCOMP_IOCTL_NOTIF_ID_VALID: 0 when the notification is still pending (the pid was not reused).
int csl_notif_id_valid(int listener, uint64_t id);
/// SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND: installs `fd` in the target and
/// answers the syscall with its number (atomically). Returns the new fd number or -1.
int csl_notif_add_fd_and_respond(int listener, uint64_t id, int fd, int cloexec);
/// pidfd_getfd(pidfd, targetfd, 0).
int csl_pidfd_getfd(int pidfd, int target_fd);
/// process_vm_readv / process_vm_writev of one range. Return bytes moved or -1.
ssize_t csl_read_child(pid_t pid, uint64_t address, void *buffer, size_t length);
ssize_t csl_write_child(pid_t pid, uint64_t address, const void *buffer, size_t length);
/// The vDSO of this process (getauxval(AT_SYSINFO_EHDR)), to find function offsets.
uint64_t csl_vdso_base(void);
/// Offset of a symbol (e.g. "__vdso_clock_gettime") in this process's vDSO image, found in
/// its SHT_DYNSYM section; -1 when absent. The image is the same in every process of the
/// running kernel, so the offset applies to the sandboxed process's vDSO too.
int64_t csl_vdso_symbol_offset(const char *name);
/// openat2(dirfd, path, {flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS}), CLOEXEC added.
int csl_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode);
/// openat2 with the caller's RESOLVE_* flags (O_CLOEXEC added); -1 with errno set.
int csl_openat2_resolve(int dirfd, const char *path, uint64_t flags, uint64_t resolve);
/// getdents64(fd, buffer, count).
long csl_getdents64(int fd, void *buffer, size_t count);
/// Raw clock_gettime via the syscall (not the vDSO).
int csl_clock_gettime(int clock, int64_t *seconds, int64_t *nanoseconds);

/* ---- copy-on-write workspaces (workspace.c) ---- */

/// lgetxattr/llistxattr/lremovexattr/lsetxattr (overlayfs opaque markers, stripping overlay.* xattrs).
ssize_t csl_lgetxattr(const char *path, const char *name, void *value, size_t size);
int csl_lsetxattr(const char *path, const char *name, const void *value, size_t size);
ssize_t csl_llistxattr(const char *path, char *list, size_t size);
int csl_lremovexattr(const char *path, const char *name);
/// setxattr/fsetxattr/removexattr/fremovexattr with their flags (the supervisor's metadata
/// calls on behalf, through /proc/self/fd/N or on a duplicated descriptor).
int csl_setxattr(const char *path, const char *name, const void *value, size_t size, int flags);
int csl_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags);
int csl_removexattr(const char *path, const char *name);
int csl_fremovexattr(int fd, const char *name);
/// syncfs(fd): a commit flushes the workdir's filesystem once before dropping its journal.
int csl_syncfs(int fd);
/// statfs(path)'s f_type, or -1 with errno (the Glibc module has no sys/vfs.h): a run on
/// Slurm refuses a run directory on tmpfs, which other nodes cannot see.
long csl_filesystem_type(const char *path);
/// openat2(dirfd, path, flags | O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS): a commit never follows a symlink of the real tree.
int csl_openat2_beneath(int dirfd, const char *path, int flags);

/* ---- spawn ---- */

/// Where the child was when it failed; reported with errno over the error pipe.
enum csl_step {
    CSL_STEP_NONE = 0,
    CSL_STEP_SIGNALS = 1,
    CSL_STEP_SESSION = 2,
    CSL_STEP_TERMINAL = 3,
    CSL_STEP_STDIO = 4,
    CSL_STEP_CWD = 5,
    CSL_STEP_SUBREAPER = 6,
    CSL_STEP_NO_NEW_PRIVS = 7,
    CSL_STEP_CAPABILITIES = 8,
    CSL_STEP_LANDLOCK = 9,
    CSL_STEP_SIGNALFD = 10,
    CSL_STEP_FORK_COMMAND = 11,
    CSL_STEP_PARENT_DEATH = 12,
    CSL_STEP_RLIMIT = 13,
    CSL_STEP_PERSONALITY = 14,
    CSL_STEP_SECCOMP = 15,
    CSL_STEP_EXEC = 16,
    CSL_STEP_AFFINITY = 17,
    CSL_STEP_HUGE_PAGES = 18,
    CSL_STEP_LISTENER = 19,
    CSL_STEP_USER_NAMESPACE = 20,
    CSL_STEP_MOUNT = 21,
    CSL_STEP_CGROUP = 22,
};

struct csl_rlimit {
    int resource;
    rlim_t soft;
    rlim_t hard;
};

#define CSL_MAX_RLIMITS 8

/// Everything the child needs, prepared by the parent before clone. The child only applies it.
struct csl_spawn_plan {
    const char *path;              /* resolved executable */
    char *const *argv;
    char *const *envp;
    int stdio[3];                  /* installed as 0, 1, 2; -1 leaves the inherited one */
    int cwd_fd;                    /* O_PATH directory or -1 */
    int ruleset_fd;                /* Landlock ruleset or -1 */
    const struct sock_filter *bpf; /* seccomp program or NULL */
    unsigned short bpf_len;
    const struct sock_filter *allowlist_bpf; /* second program (allowlist mode) or NULL */
    unsigned short allowlist_bpf_len;
    int status_fd;                 /* write end: init's struct csl_init_report */
    int control_fd;                /* read end: a byte or EOF kills the sandbox */
    int error_fd;                  /* write end: {step, errno} */
    int tty_fd;                    /* interactive: the terminal handed to the command, or -1 */
    int drop_capabilities;         /* clear every capability set and lock securebits */
    int scoped_tree_kill;          /* Landlock scopes signals: kill(-1) reaches exactly the sandbox */
    unsigned long personality_flags; /* OR'd into the persona (ADDR_NO_RANDOMIZE …); 0: none */
    int rlimit_count;
    struct csl_rlimit rlimits[CSL_MAX_RLIMITS];
    int disable_huge_pages;        /* prctl(PR_SET_THP_DISABLE) */
    int cpu_affinity_set;          /* sched_setaffinity(cpu_affinity) for the whole tree */
    uint64_t cpu_affinity[16];     /* bit i of word i/64: CPU i (1024 CPUs) */
    int cpu_percent;               /* 1..99: init stops and continues the tree (duty cycle); 0: off */
    const struct sock_filter *notify_bpf; /* USER_NOTIF program (supervised sandboxes) or NULL */
    unsigned short notify_bpf_len;
    int handoff_fd;                /* write end: struct csl_listener_handoff, then wait on go_fd */
    int go_fd;                     /* read end: one byte once the supervisor watches the listener */
    /* Copy-on-write workspaces: init mounts one overlay per workspace (disjoint workdirs) in
     * one private mount namespace before chdir and Landlock (Workspace+Mount.swift prepares
     * all of it). */
    int overlay_count;             /* overlays to mount; 0: no workspace */
    const char *const *overlay_targets; /* mount points: the workdirs themselves */
    const char *const *overlay_options; /* "lowerdir=…,upperdir=…,workdir=…[,userxattr]" each */
    int overlay_user_namespace;    /* unshare(CLONE_NEWUSER) too (caller without CAP_SYS_ADMIN) */
    const char *uid_map;           /* written to /proc/self/uid_map in the new user namespace */
    const char *gid_map;           /* written to /proc/self/gid_map (after setgroups "deny") */
    const char *cwd_path;          /* chdir() after the mounts, instead of cwd_fd; or NULL */
    int storage_count;             /* storage directories, each covered by an empty read-only */
    const char *const *storage_paths; /* tmpfs once every overlay is mounted: no sandbox can */
                                   /* reach any workspace's upper */
    int late_rule_count;           /* Landlock rules for paths inside the overlays, opened after */
    const char *const *late_rule_paths; /* the mounts (a rule on a covered directory would */
    const uint64_t *late_rule_access;   /* not apply to the overlay's inodes) */
    /* max_processes enforced by the kernel (Spawn/ProcessLimit.swift chooses the mechanism). */
    int cgroup_procs_fd;           /* the sandbox's pids cgroup's cgroup.procs (O_WRONLY): init */
                                   /* writes "0" to it before anything else; -1: no cgroup */
    int process_user_namespace;    /* unshare(CLONE_NEWUSER) with uid_map/gid_map so that the */
                                   /* command's RLIMIT_NPROC counts this sandbox's tasks only */
};

/// What the command tells the parent after installing its USER_NOTIF filter: its pid and the
/// listener's fd number in its table, for pidfd_getfd.
struct csl_listener_handoff {
    int32_t pid;
    int32_t listener_fd;
};

/// What init reports on status_fd just before it exits.
struct csl_init_report {
    int32_t command_status;   /* wait status of the command, if reaped */
    int32_t command_reaped;
    int32_t killed_on_request;
    int32_t processes_killed; /* other processes still alive when the command ended */
    int64_t user_usec;        /* CPU of the whole tree */
    int64_t system_usec;
    int64_t max_rss_kb;       /* largest resident set of any process of the tree */
};

struct csl_child_error {
    int32_t step;
    int32_t error;
};

/// Starts the sandbox: clone3(CLONE_PIDFD) (fallback fork + pidfd_open) of a small init that
/// becomes a child subreaper inside the Landlock domain, and that starts the command with
/// CLONE_VM|CLONE_VFORK. Returns the init pid and its pidfd, or -1 with errno.
pid_t csl_spawn(const struct csl_spawn_plan *plan, int *pidfd_out);

#endif
