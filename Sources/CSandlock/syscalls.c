/* Thin wrappers over single syscalls and macros Swift cannot reach. */
#include "CSandlock.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <sys/auxv.h>
#include <elf.h>
#include <sys/ioctl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct csl_landlock_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

struct csl_landlock_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct csl_landlock_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

/* The layouts above copy the kernel's uapi (linux/landlock.h, newer than the distro's):
 * a wrong size or offset would be read by the kernel as another field. */
_Static_assert(sizeof(struct csl_landlock_ruleset_attr) == 24, "landlock_ruleset_attr is 24 bytes (ABI 6)");
_Static_assert(offsetof(struct csl_landlock_ruleset_attr, handled_access_net) == 8, "handled_access_net at 8");
_Static_assert(offsetof(struct csl_landlock_ruleset_attr, scoped) == 16, "scoped at 16");
_Static_assert(sizeof(struct csl_landlock_path_beneath_attr) == 12, "landlock_path_beneath_attr is packed, 12 bytes");
_Static_assert(offsetof(struct csl_landlock_path_beneath_attr, parent_fd) == 8, "parent_fd at 8");
_Static_assert(sizeof(struct csl_landlock_net_port_attr) == 16, "landlock_net_port_attr is 16 bytes");
_Static_assert(offsetof(struct csl_landlock_net_port_attr, port) == 8, "port at 8");

int csl_landlock_abi_version(void) {
    return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, 1U /* VERSION */);
}

int csl_landlock_create_ruleset(uint64_t handled_fs, uint64_t handled_net, uint64_t scoped, int abi) {
    struct csl_landlock_ruleset_attr attr = { handled_fs, handled_net, scoped };
    /* Older kernels reject a larger struct with non-zero tail bytes; pass only what they know. */
    size_t size = abi >= 6 ? sizeof attr : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
    return (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
}

int csl_landlock_add_path_rule(int ruleset_fd, int parent_fd, uint64_t allowed_access) {
    struct csl_landlock_path_beneath_attr attr = { allowed_access, parent_fd };
    return (int)syscall(SYS_landlock_add_rule, ruleset_fd, 1 /* PATH_BENEATH */, &attr, 0);
}

int csl_landlock_add_port_rule(int ruleset_fd, uint64_t port, uint64_t allowed_access) {
    struct csl_landlock_net_port_attr attr = { allowed_access, port };
    return (int)syscall(SYS_landlock_add_rule, ruleset_fd, 2 /* NET_PORT */, &attr, 0);
}

int csl_landlock_restrict_self(int ruleset_fd) {
    return (int)syscall(SYS_landlock_restrict_self, ruleset_fd, 0);
}

int csl_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }

const int CSL_O_PATH = O_PATH;
const uint64_t CSL_LL_FILE_RIGHTS = CSL_LL_FS_FILE_RIGHTS;
const int CSL_O_CLOEXEC = O_CLOEXEC;
const int CSL_O_DIRECTORY = O_DIRECTORY;

int csl_open(const char *path, int flags, mode_t mode) {
    int fd;
    do {
        fd = open(path, flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int csl_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int csl_memfd(const char *name) { return (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC); }

int csl_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int csl_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }

int csl_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int csl_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int csl_pidfd_wait(int pidfd, int extra_options, int *code_out, int *status_out) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do {
        rc = (int)syscall(SYS_waitid, P_PIDFD, pidfd, &info, WEXITED | extra_options, NULL);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return -1;
    *code_out = info.si_code;
    *status_out = info.si_status;
    return info.si_pid == 0 ? 0 : 1;
}

const int CSL_WNOHANG = WNOHANG;

int csl_wifexited(int status) { return WIFEXITED(status); }
int csl_wexitstatus(int status) { return WEXITSTATUS(status); }
int csl_wifsignaled(int status) { return WIFSIGNALED(status); }
int csl_wtermsig(int status) { return WTERMSIG(status); }

int csl_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int csl_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event = { .events = events, .data.u64 = token };
    return epoll_ctl(epfd, op, fd, &event);
}

int csl_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event buffer[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, buffer, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        tokens[i] = buffer[i].data.u64;
        events[i] = buffer[i].events;
    }
    return n;
}

int csl_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

const uint32_t CSL_EPOLLIN = EPOLLIN;
const uint32_t CSL_EPOLLOUT = EPOLLOUT;
const uint32_t CSL_EPOLLONESHOT = EPOLLONESHOT;
const int CSL_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
const int CSL_EPOLL_CTL_DEL = EPOLL_CTL_DEL;
const int CSL_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
const uint32_t CSL_EPOLLHUP = EPOLLHUP;
const uint32_t CSL_EPOLLERR = EPOLLERR;

int64_t csl_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

int csl_has_effective_capabilities(void) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0) return 0;
    return (data[0].effective | data[1].effective) != 0;
}

int32_t csl_gettid(void) { return (int32_t)syscall(SYS_gettid); }

int csl_set_thread_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

int csl_isatty(int fd) { return isatty(fd); }

int csl_tty_reclaim_foreground(int tty_fd) {
    sigset_t block, saved;
    sigemptyset(&block);
    sigaddset(&block, SIGTTOU);
    pthread_sigmask(SIG_BLOCK, &block, &saved);
    int rc = tcsetpgrp(tty_fd, getpgrp());
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    errno = err;
    return rc;
}

uint32_t csl_scmp_act_errno(int err) { return SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA); }
uint32_t csl_scmp_act_kill_process(void) { return SECCOMP_RET_KILL_PROCESS; }
uint32_t csl_scmp_act_allow(void) { return SECCOMP_RET_ALLOW; }

int csl_seccomp_action_available(uint32_t action) {
    return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}
const uint32_t CSL_SECCOMP_RET_USER_NOTIF = SECCOMP_RET_USER_NOTIF;
const uint32_t CSL_SECCOMP_RET_ERRNO = SECCOMP_RET_ERRNO;

/* The seccomp user-notification ABI (linux/seccomp.h) as the ioctls below use it. */
_Static_assert(sizeof(struct seccomp_data) == 64, "seccomp_data is 64 bytes");
_Static_assert(sizeof(struct seccomp_notif) == 80, "seccomp_notif is 80 bytes");
_Static_assert(offsetof(struct seccomp_notif, pid) == 8, "seccomp_notif.pid at 8");
_Static_assert(offsetof(struct seccomp_notif, data) == 16, "seccomp_notif.data at 16");
_Static_assert(offsetof(struct seccomp_data, args) == 16, "seccomp_data.args at 16");
_Static_assert(sizeof(struct seccomp_notif_resp) == 24, "seccomp_notif_resp is 24 bytes");
_Static_assert(offsetof(struct seccomp_notif_resp, error) == 16, "seccomp_notif_resp.error at 16");
_Static_assert(sizeof(struct seccomp_notif_addfd) == 24, "seccomp_notif_addfd is 24 bytes");
_Static_assert(offsetof(struct seccomp_notif_addfd, srcfd) == 12, "seccomp_notif_addfd.srcfd at 12");

int csl_notif_receive(int listener, struct csl_notification *out) {
    struct seccomp_notif request;
    memset(&request, 0, sizeof request); /* the kernel rejects a dirty buffer with EINVAL */
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) return -1;
    out->id = request.id;
    out->pid = request.pid;
    out->nr = request.data.nr;
    out->arch = request.data.arch;
    out->instruction_pointer = request.data.instruction_pointer;
    for (int i = 0; i < 6; i++) out->args[i] = request.data.args[i];
    return 0;
}

int csl_notif_respond(int listener, uint64_t id, int64_t value, int error, int continue_syscall) {
    struct seccomp_notif_resp response;
    memset(&response, 0, sizeof response);
    response.id = id;
    response.val = continue_syscall ? 0 : value;
    response.error = continue_syscall ? 0 : -error;
    response.flags = continue_syscall ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response);
}

int csl_notif_id_valid(int listener, uint64_t id) {
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
}

int csl_notif_add_fd_and_respond(int listener, uint64_t id, int fd, int cloexec) {
    struct seccomp_notif_addfd add;
    memset(&add, 0, sizeof add);
    add.id = id;
    add.flags = SECCOMP_ADDFD_FLAG_SEND;
    add.srcfd = (uint32_t)fd;
    add.newfd_flags = cloexec ? O_CLOEXEC : 0;
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
}

int csl_pidfd_getfd(int pidfd, int target_fd) {
    return (int)syscall(SYS_pidfd_getfd, pidfd, target_fd, 0);
}

ssize_t csl_read_child(pid_t pid, uint64_t address, void *buffer, size_t length) {
    struct iovec local = { buffer, length };
    struct iovec remote = { (void *)(uintptr_t)address, length };
    return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

ssize_t csl_write_child(pid_t pid, uint64_t address, const void *buffer, size_t length) {
    struct iovec local = { (void *)buffer, length };
    struct iovec remote = { (void *)(uintptr_t)address, length };
    return process_vm_writev(pid, &local, 1, &remote, 1, 0);
}

uint64_t csl_vdso_base(void) { return (uint64_t)getauxval(AT_SYSINFO_EHDR); }

int csl_clock_gettime(int clock, int64_t *seconds, int64_t *nanoseconds) {
    struct timespec now;
    if (syscall(SYS_clock_gettime, clock, &now) != 0) return -1;
    *seconds = now.tv_sec;
    *nanoseconds = now.tv_nsec;
    return 0;
}

int64_t csl_vdso_symbol_offset(const char *name) {
    const unsigned char *base = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    if (base == NULL) return -1;
    const Elf64_Ehdr *header = (const Elf64_Ehdr *)base;
    if (memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 || header->e_ident[EI_CLASS] != ELFCLASS64) return -1;
    const Elf64_Shdr *sections = (const Elf64_Shdr *)(base + header->e_shoff);
    /* The image is mapped at offset 0 with its load address 0 relative, so file offsets and
     * addresses line up; symbol values are image-relative. */
    uint64_t load_bias = 0;
    const Elf64_Phdr *segments = (const Elf64_Phdr *)(base + header->e_phoff);
    for (int i = 0; i < header->e_phnum; i++) {
        if (segments[i].p_type == PT_LOAD) { load_bias = segments[i].p_vaddr - segments[i].p_offset; break; }
    }
    for (int i = 0; i < header->e_shnum; i++) {
        if (sections[i].sh_type != SHT_DYNSYM) continue;
        const Elf64_Sym *symbols = (const Elf64_Sym *)(base + sections[i].sh_offset);
        const char *names = (const char *)(base + sections[sections[i].sh_link].sh_offset);
        size_t count = sections[i].sh_size / sizeof(Elf64_Sym);
        for (size_t j = 0; j < count; j++) {
            if (symbols[j].st_name != 0 && strcmp(names + symbols[j].st_name, name) == 0 && symbols[j].st_value != 0)
                return (int64_t)(symbols[j].st_value - load_bias);
        }
    }
    return -1;
}

long csl_getdents64(int fd, void *buffer, size_t count) {
    return syscall(SYS_getdents64, fd, buffer, count);
}

struct csl_open_how { uint64_t flags, mode, resolve; };
/* linux/openat2.h's struct open_how (OPEN_HOW_SIZE_VER0). */
_Static_assert(sizeof(struct csl_open_how) == 24, "open_how is 24 bytes");
_Static_assert(offsetof(struct csl_open_how, resolve) == 16, "open_how.resolve at 16");

int csl_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode) {
    struct csl_open_how how = { flags | O_CLOEXEC, mode, CSL_RESOLVE_BENEATH | CSL_RESOLVE_NO_MAGICLINKS };
    int fd;
    do {
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int csl_openat2_resolve(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
    struct csl_open_how how = { flags | O_CLOEXEC, 0, resolve };
    int fd;
    do {
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int csl_setxattr(const char *path, const char *name, const void *value, size_t size, int flags) {
    return setxattr(path, name, value, size, flags);
}

int csl_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags) {
    return fsetxattr(fd, name, value, size, flags);
}

int csl_removexattr(const char *path, const char *name) { return removexattr(path, name); }

int csl_fremovexattr(int fd, const char *name) { return fremovexattr(fd, name); }
