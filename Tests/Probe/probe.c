/*
 * sandlock-test-probe: performs one action inside (or outside) a sandbox and prints its
 * outcome as "ok" or the errno name, so tests can tell a Landlock/seccomp denial from a
 * broken command. Test fixture only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <pthread.h>
#include <time.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* Waits until the pipe whose read end it is given is closed. */
static void *gate_thread(void *gate) {
    char byte;
    while (read(*(int *)gate, &byte, 1) < 0 && errno == EINTR) {}
    return NULL;
}

static void *idle_thread(void *unused) {
    (void)unused;
    usleep(100000);
    return NULL;
}

/* A sockaddr for "ADDR" (IPv4 or IPv6) and PORT. */
static socklen_t make_address(const char *text, int port, struct sockaddr_storage *out) {
    memset(out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return sizeof *v4;
    }
    inet_pton(AF_INET6, text, &v6->sin6_addr);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return sizeof *v6;
}

static struct sockaddr_in race_address;
static volatile int race_running = 1;
static int race_ports[2];

/* Flips the shared sockaddr's port between the allowed and the denied one. */
static void *flip_port(void *unused) {
    (void)unused;
    for (unsigned long i = 0; race_running; i++) race_address.sin_port = htons(race_ports[i & 1]);
    return NULL;
}

static void print_hex(const unsigned char *bytes, size_t count) {
    for (size_t i = 0; i < count; i++) printf("%02x", bytes[i]);
    printf("\n");
}

static int outcome(long rc) {
    if (rc >= 0) { puts("ok"); return 0; }
    const char *name = strerrorname_np(errno);
    puts(name ? name : "unknown");
    return 1;
}

static long raw_syscall(const char *name) {
    if (!strcmp(name, "mount")) return mount(NULL, NULL, NULL, 0, NULL);
    if (!strcmp(name, "ptrace")) return syscall(SYS_ptrace, 0 /* TRACEME */, 0, 0, 0);
    if (!strcmp(name, "bpf")) return syscall(SYS_bpf, 9999, NULL, 0);
    if (!strcmp(name, "io_uring_setup")) return syscall(SYS_io_uring_setup, 0, NULL);
    if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 9999, 0, 0, 0, 0);
    if (!strcmp(name, "unshare")) return syscall(SYS_unshare, 0);
    if (!strcmp(name, "unshare-user")) return syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */);
    if (!strcmp(name, "clone-newns") || !strcmp(name, "clone-newuser-newns")) {
        /* CLONE_NEWNS needs CAP_SYS_ADMIN; with CLONE_NEWUSER an unprivileged user may make
         * it too (where user namespaces are enabled). */
        long flags = 0x00020000 /* CLONE_NEWNS */ | SIGCHLD;
        if (!strcmp(name, "clone-newuser-newns")) flags |= 0x10000000 /* CLONE_NEWUSER */;
        long pid = syscall(SYS_clone, flags, 0, 0, 0, 0);
        if (pid == 0) _exit(0);
        if (pid > 0) {
            int saved = errno;
            waitpid((pid_t)pid, NULL, 0);
            errno = saved;
        }
        return pid;
    }
    if (!strcmp(name, "personality-set")) return syscall(SYS_personality, 0x0040000);
    if (!strcmp(name, "personality-query")) return syscall(SYS_personality, 0xffffffff);
    if (!strcmp(name, "getpid")) return syscall(SYS_getpid);
    if (!strcmp(name, "socket-raw")) return socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
    if (!strcmp(name, "socket-udp")) return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (!strcmp(name, "socket-tcp")) return socket(AF_INET6, SOCK_STREAM, 0);
    if (!strcmp(name, "socket-packet")) return socket(17 /* AF_PACKET */, SOCK_RAW, 0);
    if (!strcmp(name, "socket-netlink-audit")) return socket(AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */);
    if (!strcmp(name, "socket-netlink-route")) return socket(AF_NETLINK, SOCK_RAW, 0);
    if (!strcmp(name, "shmget")) return syscall(SYS_shmget, 0 /* IPC_PRIVATE */, 4096, 0600);
    fprintf(stderr, "probe: unknown syscall %s\n", name);
    exit(2);
}

/* ---- network: named unix sockets, listen, port remap (sec-network) ---- */

/* A sockaddr_un for PATH (a path name, or "@name" for an abstract one). */
static socklen_t unix_address(const char *path, struct sockaddr_un *out) {
    memset(out, 0, sizeof *out);
    out->sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length >= sizeof out->sun_path) length = sizeof out->sun_path - 1;
    memcpy(out->sun_path, path, length);
    if (path[0] == '@') out->sun_path[0] = 0;
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length + (path[0] == '@' ? 0 : 1));
}

static struct sockaddr_un unix_race_address;
static char unix_race_paths[2][108];

/* Flips the shared sockaddr_un's path between the allowed and the denied one. */
static void *flip_unix_path(void *unused) {
    (void)unused;
    for (unsigned long i = 0; race_running; i++) memcpy(unix_race_address.sun_path, unix_race_paths[i & 1], 108);
    return NULL;
}

static int network_action(int argc, char **argv) {
    const char *action = argv[1];
    struct sockaddr_un address;
    if (!strcmp(action, "unix-connect") && argc == 3) {
        /* A stream connect to a path-named (or "@abstract") unix socket. */
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        socklen_t length = unix_address(argv[2], &address);
        return outcome(fd < 0 ? -1 : connect(fd, (struct sockaddr *)&address, length));
    }
    if (!strcmp(action, "unix-connect-in") && argc == 4) {
        /* The same from directory DIR, with NAME relative to it. */
        if (chdir(argv[2]) != 0) return outcome(-1);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        socklen_t length = unix_address(argv[3], &address);
        return outcome(fd < 0 ? -1 : connect(fd, (struct sockaddr *)&address, length));
    }
    if (!strcmp(action, "unix-sendto") && argc == 3) {
        /* A datagram to a path-named unix socket, from a fresh SOCK_DGRAM socket. */
        int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (fd < 0) return outcome(-1);
        socklen_t length = unix_address(argv[2], &address);
        return outcome(sendto(fd, "x", 1, 0, (struct sockaddr *)&address, length));
    }
    if (!strcmp(action, "unix-sendmsg") && argc == 3) {
        int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (fd < 0) return outcome(-1);
        socklen_t length = unix_address(argv[2], &address);
        struct iovec vector = { .iov_base = "x", .iov_len = 1 };
        struct msghdr header = { .msg_name = &address, .msg_namelen = length, .msg_iov = &vector, .msg_iovlen = 1 };
        return outcome(sendmsg(fd, &header, 0));
    }
    if (!strcmp(action, "unix-socketpair-dgram")) {
        int pair[2];
        return outcome(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair));
    }
    if (!strcmp(action, "unix-bind") && argc == 3) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        socklen_t length = unix_address(argv[2], &address);
        return outcome(fd < 0 ? -1 : bind(fd, (struct sockaddr *)&address, length));
    }
    if (!strcmp(action, "unix-connect-loop") && argc == 4) {
        /* N connects (each on a fresh socket); prints "ok NS" with the mean ns per connect. */
        int count = atoi(argv[3]);
        socklen_t length = unix_address(argv[2], &address);
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (int i = 0; i < count; i++) {
            int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || connect(fd, (struct sockaddr *)&address, length) != 0) return outcome(-1);
            close(fd);
        }
        clock_gettime(CLOCK_MONOTONIC, &end);
        long long total = (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
        printf("ok %lld\n", count > 0 ? total / count : 0);
        return 0;
    }
    if (!strcmp(action, "unix-connect-race") && argc == 5) {
        /* N connects through a sockaddr_un another thread keeps rewriting between ALLOWED
         * and DENIED; prints how many succeeded. */
        strncpy(unix_race_paths[0], argv[2], 107);
        strncpy(unix_race_paths[1], argv[3], 107);
        unix_address(argv[2], &unix_race_address);
        pthread_t flipper;
        pthread_create(&flipper, NULL, flip_unix_path, NULL);
        int connected = 0, attempts = atoi(argv[4]);
        for (int i = 0; i < attempts; i++) {
            int fd = socket(AF_UNIX, SOCK_STREAM, 0);
            if (connect(fd, (struct sockaddr *)&unix_race_address, sizeof unix_race_address) == 0) connected++;
            close(fd);
        }
        race_running = 0;
        pthread_join(flipper, NULL);
        printf("connected %d\n", connected);
        return 0;
    }
    if (!strcmp(action, "abstract-self") && argc == 3) {
        /* Listens on abstract "@NAME" and connects to it: a sandbox's own abstract socket. */
        int server = socket(AF_UNIX, SOCK_STREAM, 0), client = socket(AF_UNIX, SOCK_STREAM, 0);
        char name[108];
        snprintf(name, sizeof name, "@%s", argv[2]);
        socklen_t length = unix_address(name, &address);
        if (server < 0 || client < 0 || bind(server, (struct sockaddr *)&address, length) != 0 || listen(server, 4) != 0) return outcome(-1);
        return outcome(connect(client, (struct sockaddr *)&address, length));
    }
    if (!strcmp(action, "listen-unbound")) {
        /* listen() on a TCP socket never bound: the kernel picks an ephemeral port. */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        return outcome(fd < 0 ? -1 : listen(fd, 16));
    }
    if (!strcmp(action, "tcp-connect-loop") && argc == 4) {
        /* N loopback TCP connects to PORT; prints "ok NS" (mean ns per connect). */
        struct sockaddr_storage target;
        socklen_t length = make_address(argv[2], atoi(argv[3]), &target);
        int count = 1000;
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (int i = 0; i < count; i++) {
            int fd = socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || connect(fd, (struct sockaddr *)&target, length) != 0) return outcome(-1);
            close(fd);
        }
        clock_gettime(CLOCK_MONOTONIC, &end);
        printf("ok %lld\n", ((end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec)) / count);
        return 0;
    }
    if (!strcmp(action, "bind-listen") && argc == 5) {
        /* Binds 127.0.0.1:PORT with SO_REUSEADDR, writes a byte to READY, reads one from GO,
         * then listens; prints the verdict and the port getsockname shows. */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&in, sizeof in) != 0) return outcome(-1);
        int ready = open(argv[3], O_WRONLY), go = open(argv[4], O_RDONLY);
        char byte = 'b';
        if (ready < 0 || go < 0 || write(ready, &byte, 1) != 1 || read(go, &byte, 1) != 1) return outcome(-1);
        if (listen(fd, 16) != 0) return outcome(-1);
        socklen_t length = sizeof in;
        getsockname(fd, (struct sockaddr *)&in, &length);
        printf("ok %d\n", ntohs(in.sin_port));
        return 0;
    }
    if (!strcmp(action, "listen-port") && argc == 3) {
        /* bind 127.0.0.1:PORT (0 = any) then listen. */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof in) != 0) return outcome(-1);
        return outcome(listen(fd, 16));
    }
    if (!strcmp(action, "listen-loop") && argc == 4) {
        /* N times: a TCP socket bound to 127.0.0.1:PORT (SO_REUSEADDR) that listens, closed;
         * prints "ok NS" with the mean ns per listen() call. */
        int count = atoi(argv[3]);
        long long total = 0;
        for (int i = 0; i < count; i++) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
            in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof in) != 0) return outcome(-1);
            struct timespec start, end;
            clock_gettime(CLOCK_MONOTONIC, &start);
            if (listen(fd, 16) != 0) return outcome(-1);
            clock_gettime(CLOCK_MONOTONIC, &end);
            total += (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
            close(fd);
        }
        printf("ok %lld\n", count > 0 ? total / count : 0);
        return 0;
    }
    if (!strcmp(action, "stdin-send") && argc == 5) {
        /* A datagram to ADDR:PORT through the socket on descriptor 0 (made outside the
         * sandbox), by MODE: sendto, sendmsg, sendmmsg or connect (then send). */
        struct sockaddr_storage target;
        socklen_t length = make_address(argv[3], atoi(argv[4]), &target);
        struct iovec vector = { .iov_base = "x", .iov_len = 1 };
        struct msghdr header = { .msg_name = &target, .msg_namelen = length, .msg_iov = &vector, .msg_iovlen = 1 };
        const char *mode = argv[2];
        if (!strcmp(mode, "sendto")) return outcome(sendto(0, "x", 1, 0, (struct sockaddr *)&target, length));
        if (!strcmp(mode, "sendmsg")) return outcome(sendmsg(0, &header, 0));
        if (!strcmp(mode, "sendmmsg")) {
            struct mmsghdr message = { .msg_hdr = header };
            return outcome(sendmmsg(0, &message, 1, 0));
        }
        if (!strcmp(mode, "connect")) {
            if (connect(0, (struct sockaddr *)&target, length) != 0) return outcome(-1);
            return outcome(send(0, "x", 1, 0));
        }
        return 2;
    }
    if (!strcmp(action, "udp-sendmmsg") && argc == 4) {
        struct sockaddr_storage target;
        socklen_t length = make_address(argv[2], atoi(argv[3]), &target);
        int fd = socket(target.ss_family, SOCK_DGRAM, 0);
        if (fd < 0) return outcome(-1);
        struct iovec vector = { .iov_base = "x", .iov_len = 1 };
        struct mmsghdr message = { .msg_hdr = { .msg_name = &target, .msg_namelen = length, .msg_iov = &vector, .msg_iovlen = 1 } };
        return outcome(sendmmsg(fd, &message, 1, 0));
    }
    return -1;
}

/* File metadata calls (chmod, chown, times, extended attributes), each on `path`; "loop"
 * repeats chmod `count` times (for timing). Self-contained: raw syscalls where glibc has no
 * wrapper or would pick another syscall. */
#include <sys/stat.h>
#include <sys/xattr.h>
static long file_metadata(const char *op, const char *path, long count) {
    const struct timespec times[2] = {{1000000, 0}, {1000000, 0}};
    const struct timeval tv[2] = {{1000000, 0}, {1000000, 0}};
    const char *name = "user.sandlock", *value = "x";
    gid_t gid = getgid();
    if (!strcmp(op, "chmod")) return outcome(syscall(SYS_chmod, path, 0604));
    if (!strcmp(op, "chmod-suid")) return outcome(syscall(SYS_chmod, path, 04755));
    if (!strcmp(op, "chmod-loop")) {
        for (long i = 0; i < count; i++) if (syscall(SYS_chmod, path, (i & 1) ? 0644 : 0604) != 0) return outcome(-1);
        return outcome(0);
    }
    if (!strcmp(op, "fchmodat")) return outcome(syscall(SYS_fchmodat, AT_FDCWD, path, 0604));
    if (!strcmp(op, "fchmodat2")) return outcome(syscall(452 /* fchmodat2 */, AT_FDCWD, path, 0604, 0));
    if (!strcmp(op, "fchmodat2-nofollow")) return outcome(syscall(452, AT_FDCWD, path, 0604, AT_SYMLINK_NOFOLLOW));
    if (!strcmp(op, "procfd-chmod")) {
        int fd = open(path, O_PATH);
        if (fd < 0) return outcome(-1);
        char magic[64];
        snprintf(magic, sizeof magic, "/proc/self/fd/%d", fd);
        return outcome(syscall(SYS_chmod, magic, 0604));
    }
    if (!strcmp(op, "chmod-cwd") || !strcmp(op, "fchmodat-dirfd")) {
        /* path is DIR:NAME: NAME relative to the cwd DIR, or to a descriptor of DIR. */
        char directory[4096];
        const char *colon = strchr(path, ':');
        if (colon == NULL || (size_t)(colon - path) >= sizeof directory) return outcome(-1);
        memcpy(directory, path, colon - path);
        directory[colon - path] = 0;
        if (!strcmp(op, "chmod-cwd")) {
            if (chdir(directory) != 0) return outcome(-1);
            return outcome(syscall(SYS_chmod, colon + 1, 0604));
        }
        int dirfd = open(directory, O_PATH | O_DIRECTORY);
        if (dirfd < 0) return outcome(-1);
        return outcome(syscall(SYS_fchmodat, dirfd, colon + 1, 0604));
    }
    if (!strcmp(op, "utimensat")) return outcome(syscall(SYS_utimensat, AT_FDCWD, path, times, 0));
    if (!strcmp(op, "utimensat-now")) return outcome(syscall(SYS_utimensat, AT_FDCWD, path, NULL, 0));
    if (!strcmp(op, "utimensat-nofollow")) return outcome(syscall(SYS_utimensat, AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW));
    if (!strcmp(op, "utimes")) return outcome(syscall(SYS_utimes, path, tv));
    if (!strcmp(op, "utime")) { struct { long a, m; } t = {1000000, 1000000}; return outcome(syscall(SYS_utime, path, &t)); }
    if (!strcmp(op, "futimesat")) return outcome(syscall(SYS_futimesat, AT_FDCWD, path, tv));
    if (!strcmp(op, "setxattr")) return outcome(syscall(SYS_setxattr, path, name, value, 1, 0));
    if (!strcmp(op, "lsetxattr")) return outcome(syscall(SYS_lsetxattr, path, name, value, 1, 0));
    if (!strcmp(op, "removexattr")) return outcome(syscall(SYS_removexattr, path, name));
    if (!strcmp(op, "lremovexattr")) return outcome(syscall(SYS_lremovexattr, path, name));
    if (!strcmp(op, "setxattrat")) {
        struct { unsigned long long value; unsigned int size, flags; } args = {(unsigned long)value, 1, 0};
        return outcome(syscall(463 /* setxattrat */, AT_FDCWD, path, 0, name, &args, sizeof args));
    }
    if (!strcmp(op, "removexattrat")) return outcome(syscall(466 /* removexattrat */, AT_FDCWD, path, 0, name));
    if (!strcmp(op, "chown")) return outcome(syscall(SYS_chown, path, -1, gid));
    if (!strcmp(op, "lchown")) return outcome(syscall(SYS_lchown, path, -1, gid));
    if (!strcmp(op, "fchownat")) return outcome(syscall(SYS_fchownat, AT_FDCWD, path, -1, gid, 0));
    if (!strcmp(op, "chown-other")) return outcome(syscall(SYS_chown, path, 12345, -1));
    if (!strcmp(op, "opath-fchownat")) {
        int fd = open(path, O_PATH);
        if (fd < 0) return outcome(-1);
        return outcome(syscall(SYS_fchownat, fd, "", -1, gid, AT_EMPTY_PATH));
    }
    /* Descriptor-based: opened for reading (Landlock judges that open, not what follows). */
    int fd = open(path, O_RDONLY);
    if (fd < 0) return outcome(-1);
    if (!strcmp(op, "fchmod")) return outcome(syscall(SYS_fchmod, fd, 0604));
    if (!strcmp(op, "fchown")) return outcome(syscall(SYS_fchown, fd, -1, gid));
    if (!strcmp(op, "futimens")) return outcome(syscall(SYS_utimensat, fd, NULL, times, 0));
    if (!strcmp(op, "fsetxattr")) return outcome(syscall(SYS_fsetxattr, fd, name, value, 1, 0));
    if (!strcmp(op, "fremovexattr")) return outcome(syscall(SYS_fremovexattr, fd, name));
    fprintf(stderr, "probe: unknown metadata call %s\n", op);
    return 2;
}

/* Syscalls newer than libseccomp 2.5.4 (Linux 6.8-6.17), by number, and the ioctls that do
 * what file_setattr does (secrest). Each on PATH where it takes one. */
#include <linux/fs.h>
static int newer_syscall(const char *name, const char *path) {
    struct { unsigned long long xflags; unsigned int extsize, nextents, projid, cowextsize; } attr = {0};
    struct { unsigned int size, spare; unsigned long long mnt_id, param, mnt_ns_id; } request =
        { 32, 0, 0xffffffffffffffffULL /* LSMT_ROOT */, 0, 0 };
    unsigned long long ids[64];
    char buffer[65536];
    if (!strcmp(name, "file_setattr")) {
        attr.xflags = 0x00000080 /* FS_XFLAG_NODUMP */;
        return outcome(syscall(469, AT_FDCWD, path, &attr, sizeof attr, 0));
    }
    if (!strcmp(name, "file_getattr")) return outcome(syscall(468, AT_FDCWD, path, &attr, sizeof attr, 0));
    if (!strcmp(name, "getxattrat")) {
        struct { unsigned long long value; unsigned int size, flags; } args = {(unsigned long)buffer, sizeof buffer, 0};
        return outcome(syscall(464, AT_FDCWD, path, 0, "user.sandlock", &args, sizeof args));
    }
    if (!strcmp(name, "listxattrat")) return outcome(syscall(465, AT_FDCWD, path, 0, buffer, sizeof buffer));
    if (!strcmp(name, "listmount")) return outcome(syscall(458, &request, ids, 64, 0));
    if (!strcmp(name, "statmount")) {
        /* The first mount listmount names, then its mount point (STATMOUNT_MNT_POINT). */
        long count = syscall(458, &request, ids, 64, 0);
        if (count <= 0) return outcome(count < 0 ? -1 : (errno = ENOENT, -1));
        request.mnt_id = ids[0];
        request.param = 0x00000008 /* STATMOUNT_MNT_POINT */;
        return outcome(syscall(457, &request, buffer, sizeof buffer, 0));
    }
    if (!strcmp(name, "lsm_list_modules")) {
        unsigned int size = sizeof buffer;
        return outcome(syscall(461, buffer, &size, 0));
    }
    if (!strcmp(name, "lsm_get_self_attr")) {
        unsigned int size = sizeof buffer;
        return outcome(syscall(459, 100 /* LSM_ATTR_CURRENT */, buffer, &size, 0));
    }
    if (!strcmp(name, "lsm_set_self_attr")) {
        /* struct lsm_ctx for LSM_ATTR_FSCREATE, empty context: refused by every LSM here. */
        struct { unsigned long long id, flags, len, ctx_len; char ctx[8]; } context = {0, 0, sizeof context, 8, {0}};
        return outcome(syscall(460, 104 /* LSM_ATTR_FSCREATE */, &context, sizeof context, 0));
    }
    if (!strcmp(name, "mseal")) {
        void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return outcome(page == MAP_FAILED ? -1 : syscall(462, page, 4096, 0));
    }
    /* What file_setattr does, by ioctl on a descriptor opened for reading. */
    int fd = open(path, O_RDONLY);
    if (fd < 0) return outcome(-1);
    if (!strcmp(name, "ioctl-fssetxattr")) {
        struct fsxattr current;
        if (ioctl(fd, FS_IOC_FSGETXATTR, &current) != 0) return outcome(-1);
        current.fsx_xflags |= FS_XFLAG_NODUMP;
        return outcome(ioctl(fd, FS_IOC_FSSETXATTR, &current));
    }
    if (!strcmp(name, "ioctl-setflags")) {
        int flags = 0;
        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) return outcome(-1);
        flags |= FS_NODUMP_FL;
        return outcome(ioctl(fd, FS_IOC_SETFLAGS, &flags));
    }
    fprintf(stderr, "probe: unknown newer syscall %s\n", name);
    return 2;
}

/* TCP Fast Open to 127.0.0.1:PORT by VIA (sendto, sendmsg, sendmmsg): a connect made by the
 * send itself, which Landlock's connect hook does not see. */
static int fast_open(const char *via, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return outcome(-1);
    struct sockaddr_in target = { .sin_family = AF_INET, .sin_port = htons(port) };
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct iovec vector = { .iov_base = "x", .iov_len = 1 };
    struct msghdr header = { .msg_name = &target, .msg_namelen = sizeof target, .msg_iov = &vector, .msg_iovlen = 1 };
    if (!strcmp(via, "sendto")) return outcome(sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&target, sizeof target));
    if (!strcmp(via, "sendmsg")) return outcome(sendmsg(fd, &header, MSG_FASTOPEN));
    struct mmsghdr message = { .msg_hdr = header };
    return outcome(syscall(SYS_sendmmsg, fd, &message, 1, MSG_FASTOPEN));
}

/* Scheduling of another task: OP on PID ("self-child": a child of the probe, forked here).
 * OP: affinity (CPU 0 only), scheduler (SCHED_IDLE), nice (19), ioprio (idle class),
 * nice-user (setpriority(PRIO_USER, PID): every process of that uid). */
#include <sched.h>
static int other_process(const char *op, const char *who) {
    pid_t pid, child = 0;
    if (!strcmp(who, "self-child")) {
        child = fork();
        if (child == 0) { pause(); _exit(0); }
        pid = child;
    } else {
        pid = (pid_t)atol(who);
    }
    long rc;
    if (!strcmp(op, "affinity")) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(0, &set);
        rc = syscall(SYS_sched_setaffinity, pid, sizeof set, &set);
    } else if (!strcmp(op, "scheduler")) {
        struct sched_param param = { 0 };
        rc = syscall(SYS_sched_setscheduler, pid, 5 /* SCHED_IDLE */, &param);
    } else if (!strcmp(op, "nice")) {
        rc = syscall(SYS_setpriority, PRIO_PROCESS, pid, 19);
    } else if (!strcmp(op, "nice-user")) {
        rc = syscall(SYS_setpriority, PRIO_USER, pid, 0);
    } else if (!strcmp(op, "ioprio")) {
        rc = syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, pid, 3 << 13 /* IOPRIO_CLASS_IDLE */);
    } else {
        fprintf(stderr, "probe: unknown scheduling call %s\n", op);
        return 2;
    }
    int saved = errno;
    if (child > 0) { kill(child, SIGKILL); waitpid(child, NULL, 0); }
    errno = saved;
    return outcome(rc);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: probe ACTION [ARGS]\n"); return 2; }
    const char *action = argv[1];
    if (!strcmp(action, "syscall") && argc == 3) return outcome(raw_syscall(argv[2]));
    if (!strcmp(action, "read") && argc == 3) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return outcome(-1);
        char buffer[64];
        return outcome(read(fd, buffer, sizeof buffer));
    }
    if (!strcmp(action, "create") && argc == 3) return outcome(open(argv[2], O_WRONLY | O_CREAT | O_EXCL, 0644));
    if (!strcmp(action, "kill") && argc == 3) return outcome(kill(atoi(argv[2]), 0));
    if (!strcmp(action, "kill-self")) return outcome(kill(getpid(), 0));
    if (!strcmp(action, "bind") && argc == 3) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        return outcome(fd < 0 ? -1 : bind(fd, (struct sockaddr *)&address, sizeof address));
    }
    if (!strcmp(action, "connect") && argc == 3) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return outcome(fd < 0 ? -1 : connect(fd, (struct sockaddr *)&address, sizeof address));
    }
    if (!strcmp(action, "connect-to") && argc == 4) {
        struct sockaddr_storage address;
        socklen_t length = make_address(argv[2], atoi(argv[3]), &address);
        int fd = socket(address.ss_family, SOCK_STREAM, 0);
        return outcome(fd < 0 ? -1 : connect(fd, (struct sockaddr *)&address, length));
    }
    if (!strcmp(action, "udp-send") && argc == 4) {
        struct sockaddr_storage address;
        socklen_t length = make_address(argv[2], atoi(argv[3]), &address);
        int fd = socket(address.ss_family, SOCK_DGRAM, 0);
        return outcome(fd < 0 ? -1 : sendto(fd, "x", 1, 0, (struct sockaddr *)&address, length));
    }
    if (!strcmp(action, "connect-race") && argc == 5) {
        /* N connects to 127.0.0.1 through a sockaddr another thread keeps rewriting between
         * ALLOWED and DENIED ports; prints how many succeeded. */
        race_ports[0] = atoi(argv[2]);
        race_ports[1] = atoi(argv[3]);
        race_address.sin_family = AF_INET;
        race_address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        race_address.sin_port = htons(race_ports[0]);
        pthread_t flipper;
        pthread_create(&flipper, NULL, flip_port, NULL);
        int connected = 0, attempts = atoi(argv[4]);
        for (int i = 0; i < attempts; i++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(fd, (struct sockaddr *)&race_address, sizeof race_address) == 0) connected++;
            close(fd);
        }
        race_running = 0;
        pthread_join(flipper, NULL);
        printf("connected %d\n", connected);
        return 0;
    }
    if (!strcmp(action, "connect-abstract") && argc == 3) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un address = { .sun_family = AF_UNIX };
        size_t length = strlen(argv[2]);
        memcpy(address.sun_path + 1, argv[2], length);
        return outcome(fd < 0 ? -1 : connect(fd, (struct sockaddr *)&address,
                                             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + length)));
    }
    if (!strcmp(action, "tiocsti") || !strcmp(action, "tcgets")) {
        /* A fresh pty pair; the slave becomes our controlling terminal (in a session of our
         * own, inside a sandbox or out), so only seccomp can refuse TIOCSTI: the kernel lets
         * a process without CAP_SYS_ADMIN inject into its controlling terminal alone (and
         * answers EIO, not EPERM, where dev.tty.legacy_tiocsti is 0). */
        if (setsid() < 0) {
            /* We lead a process group already (spawned with setpgid): a child can. */
            pid_t child = fork();
            if (child < 0) return outcome(-1);
            if (child > 0) {
                int status;
                if (waitpid(child, &status, 0) < 0) return outcome(-1);
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            if (setsid() < 0) return outcome(-1);
        }
        int master = posix_openpt(O_RDWR | O_NOCTTY);
        if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return outcome(-1);
        int slave = open(ptsname(master), O_RDWR);
        if (slave < 0) return outcome(-1);
        ioctl(slave, TIOCSCTTY, 0);
        if (!strcmp(action, "tcgets")) {
            struct termios settings;
            return outcome(ioctl(slave, TCGETS, &settings));
        }
        char byte = 'x';
        return outcome(ioctl(slave, TIOCSTI, &byte));
    }
    if (!strcmp(action, "tiocsti-stdin")) {
        char byte = 'x';
        return outcome(ioctl(0, TIOCSTI, &byte));
    }
    if (!strcmp(action, "tcgets-stdin")) {
        struct termios settings;
        return outcome(ioctl(0, TCGETS, &settings));
    }
    if (!strcmp(action, "spew") && argc == 3) {
        /* N bytes on stdout and N on stderr, interleaved, each byte = position mod 251. */
        long total = atol(argv[2]);
        char chunk[4096];
        for (long offset = 0; offset < total; offset += sizeof chunk) {
            long length = total - offset < (long)sizeof chunk ? total - offset : (long)sizeof chunk;
            for (long i = 0; i < length; i++) chunk[i] = (char)((offset + i) % 251);
            if (write(1, chunk, length) != length || write(2, chunk, length) != length) return 3;
        }
        return 0;
    }
    if (!strcmp(action, "forkbomb") && argc == 3) {
        /* Forks up to N children that wait for their parent to go; prints how many forks
         * succeeded and the errno of the first failure. */
        int wanted = atoi(argv[2]), made = 0;
        const char *failure = "none";
        for (; made < wanted; made++) {
            pid_t pid = fork();
            if (pid == 0) { pause(); _exit(0); }
            if (pid < 0) { failure = strerrorname_np(errno); break; }
        }
        printf("forked %d %s\n", made, failure);
        fflush(stdout);
        kill(0, SIGKILL);
        return 0;
    }
    if (!strcmp(action, "threads") && argc == 3) {
        int count = atoi(argv[2]);
        pthread_t threads[256];
        for (int i = 0; i < count && i < 256; i++)
            if (pthread_create(&threads[i], NULL, idle_thread, NULL) != 0) return outcome(-1);
        for (int i = 0; i < count && i < 256; i++) pthread_join(threads[i], NULL);
        return outcome(0);
    }
    if (!strcmp(action, "clocks")) {
        /* The four ways to read the wall clock: vDSO clock_gettime, raw syscall, vDSO
         * gettimeofday, time(). */
        struct timespec vdso, raw;
        struct timeval tv;
        clock_gettime(CLOCK_REALTIME, &vdso);
        syscall(SYS_clock_gettime, CLOCK_REALTIME, &raw);
        gettimeofday(&tv, NULL);
        printf("%ld %ld %ld %ld\n", (long)vdso.tv_sec, (long)raw.tv_sec, (long)tv.tv_sec, (long)time(NULL));
        return 0;
    }
    if (!strcmp(action, "random")) {
        unsigned char bytes[32];
        if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) return outcome(-1);
        print_hex(bytes, sizeof bytes);
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, bytes, sizeof bytes) != (ssize_t)sizeof bytes) return outcome(-1);
        print_hex(bytes, sizeof bytes);
        return 0;
    }
    if (!strcmp(action, "alloc-small") && argc == 3) {
        /* N MiB in 32 KiB mmaps (below the supervisor's trap threshold), then a pause. */
        long chunks = atol(argv[2]) * 32;
        for (long i = 0; i < chunks; i++) {
            char *chunk = mmap(NULL, 32 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (chunk == MAP_FAILED) return outcome(-1);
            memset(chunk, 1, 32 << 10);
        }
        usleep(500000);
        return outcome(0);
    }
    if (!strcmp(action, "alloc") && argc == 3) {
        /* Allocates and touches N MiB, in a grandchild when N is negative. */
        long mebibytes = atol(argv[2]);
        if (mebibytes < 0) {
            pid_t child = fork();
            if (child == 0) {
                pid_t grandchild = fork();
                if (grandchild == 0) { mebibytes = -mebibytes; goto allocate; }
                int status;
                waitpid(grandchild, &status, 0);
                _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            }
            int status;
            waitpid(child, &status, 0);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
    allocate:;
        size_t size = (size_t)mebibytes << 20;
        char *memory = malloc(size);
        if (memory == NULL) return outcome(-1);
        memset(memory, 1, size);
        return outcome(0);
    }
    /* ---- kernel-layer hardening (KernelHardeningTests) ---- */
    if (!strcmp(action, "socket") && argc == 5) {
        /* socket(FAMILY, TYPE, PROTOCOL), numbers as given (decimal). */
        return outcome(syscall(SYS_socket, atol(argv[2]), atol(argv[3]), atol(argv[4])));
    }
    if (!strcmp(action, "socketpair") && argc == 5) {
        int pair[2];
        return outcome(syscall(SYS_socketpair, atol(argv[2]), atol(argv[3]), atol(argv[4]), pair));
    }
    if (!strcmp(action, "connect-mptcp") && argc == 3) {
        /* Multipath TCP (IPPROTO_MPTCP, 262) to 127.0.0.1:PORT: falls back to TCP with a plain
         * TCP listener, and Landlock's TCP rules do not see it. */
        int fd = socket(AF_INET, SOCK_STREAM, 262);
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return outcome(fd < 0 ? -1 : connect(fd, (struct sockaddr *)&address, sizeof address));
    }
    if (!strcmp(action, "prlimit") && argc == 3) {
        /* prlimit64(PID, RLIMIT_CPU, {1, 1}): a process at its CPU limit is killed. */
        struct rlimit limit = { 1, 1 };
        return outcome(syscall(SYS_prlimit64, atol(argv[2]), RLIMIT_CPU, &limit, NULL));
    }
    if (!strcmp(action, "prlimit-read") && argc == 3) {
        struct rlimit limit;
        return outcome(syscall(SYS_prlimit64, atol(argv[2]), RLIMIT_CPU, NULL, &limit));
    }
    if (!strcmp(action, "setrlimit-self")) {
        /* What glibc's setrlimit does: prlimit64(0, …). */
        struct rlimit limit;
        if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return outcome(-1);
        return outcome(setrlimit(RLIMIT_NOFILE, &limit));
    }
    if (!strcmp(action, "chmod") && argc == 5) {
        /* chmod VIA PATH MODE (octal); VIA: chmod, fchmod, fchmodat, fchmodat2. */
        const char *via = argv[2], *path = argv[3];
        long mode = strtol(argv[4], NULL, 8);
        if (!strcmp(via, "chmod")) return outcome(syscall(SYS_chmod, path, mode));
        if (!strcmp(via, "fchmodat")) return outcome(syscall(SYS_fchmodat, AT_FDCWD, path, mode));
        if (!strcmp(via, "fchmodat2")) return outcome(syscall(452 /* fchmodat2 */, AT_FDCWD, path, mode, 0));
        if (!strcmp(via, "fchmod")) {
            int fd = open(path, O_RDONLY);
            return outcome(fd < 0 ? -1 : syscall(SYS_fchmod, fd, mode));
        }
    }
    if (!strcmp(action, "create-mode") && argc == 5) {
        /* create-mode VIA PATH MODE (octal); VIA: open, openat, creat, mknod, mknodat, tmpfile
         * (O_TMPFILE in PATH, then linked as PATH/file). */
        const char *via = argv[2], *path = argv[3];
        long mode = strtol(argv[4], NULL, 8);
        if (!strcmp(via, "open")) return outcome(syscall(SYS_open, path, O_WRONLY | O_CREAT | O_EXCL, mode));
        if (!strcmp(via, "openat")) return outcome(syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL, mode));
        if (!strcmp(via, "creat")) return outcome(syscall(SYS_creat, path, mode));
        if (!strcmp(via, "mknod")) return outcome(syscall(SYS_mknod, path, S_IFREG | mode, 0));
        if (!strcmp(via, "mknodat")) return outcome(syscall(SYS_mknodat, AT_FDCWD, path, S_IFREG | mode, 0));
        if (!strcmp(via, "openat2")) {
            struct { unsigned long long flags, mode, resolve; } how = { O_WRONLY | O_CREAT | O_EXCL, (unsigned long long)mode, 0 };
            return outcome(syscall(437 /* openat2 */, AT_FDCWD, path, &how, sizeof how));
        }
        if (!strcmp(via, "tmpfile")) {
            int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_TMPFILE, mode);
            if (fd < 0) return outcome(-1);
            char target[4096], self[64];
            snprintf(target, sizeof target, "%s/file", path);
            snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
            return outcome(linkat(AT_FDCWD, self, AT_FDCWD, target, AT_SYMLINK_FOLLOW));
        }
    }
    if (!strcmp(action, "mknod-device") && argc == 4) {
        /* mknod-device char|block PATH: the device 1:3 (/dev/null's numbers). */
        mode_t type = !strcmp(argv[2], "block") ? S_IFBLK : S_IFCHR;
        return outcome(syscall(SYS_mknodat, AT_FDCWD, argv[3], type | 0666, makedev(1, 3)));
    }
    if (!strcmp(action, "open-write") && argc == 3) {
        /* Opens PATH for writing and writes nothing (a sysctl, a sysfs attribute). */
        return outcome(open(argv[2], O_WRONLY | O_CLOEXEC));
    }
    if (!strcmp(action, "memfd-exec") && argc >= 3) {
        /* memfd-exec execveat|proc ARGS…: copies an executable from stdin into a memfd and
         * runs it with ARGS, by execveat(AT_EMPTY_PATH) or by execve("/proc/self/fd/N"). */
        int fd = (int)syscall(SYS_memfd_create, "probe-exec", 0);
        if (fd < 0) return outcome(-1);
        char buffer[65536];
        ssize_t got;
        while ((got = read(0, buffer, sizeof buffer)) > 0)
            if (write(fd, buffer, (size_t)got) != got) return outcome(-1);
        extern char **environ;
        char **args = argv + 3;
        char *none[] = { "memfd", NULL };
        if (argc == 3) args = none;
        if (!strcmp(argv[2], "proc")) {
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            execve(path, args, environ);
        } else {
            syscall(SYS_execveat, fd, "", args, environ, AT_EMPTY_PATH);
        }
        return outcome(-1);
    }
    if (!strcmp(action, "kill-parent")) {
        /* SIGKILL to the parent (inside a sandbox: its init). */
        return outcome(kill(getppid(), SIGKILL));
    }
    if (!strcmp(action, "thread-bomb") && argc == 3) {
        /* Starts up to N threads (64 KiB stacks) that wait on a pipe; prints how many started
         * and the error of the first that did not, then lets them all go. */
        int wanted = atoi(argv[2]), made = 0, error = 0, gate[2];
        if (wanted > 4096 || pipe(gate) != 0) return outcome(-1);
        static pthread_t bomb[4096];
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setstacksize(&attributes, 64 << 10);
        for (; made < wanted; made++)
            if ((error = pthread_create(&bomb[made], &attributes, gate_thread, &gate[0])) != 0) break;
        printf("threads %d %s\n", made, error ? strerrorname_np(error) : "none");
        fflush(stdout);
        close(gate[1]);
        for (int i = 0; i < made; i++) pthread_join(bomb[i], NULL);
        return 0;
    }
    if (!strcmp(action, "memfd") && argc == 3) {
        /* Writes N MiB into a memfd (never mapped), then holds it until killed. */
        long mebibytes = atol(argv[2]);
        static char mebibyte[1 << 20];
        memset(mebibyte, 7, sizeof mebibyte);
        int fd = memfd_create("probe", MFD_CLOEXEC);
        if (fd < 0) return outcome(-1);
        for (long i = 0; i < mebibytes; i++)
            if (write(fd, mebibyte, sizeof mebibyte) != (ssize_t)sizeof mebibyte) return outcome(-1);
        printf("held\n");
        fflush(stdout);
        for (;;) pause();
    }
    if (!strcmp(action, "shared-small") && argc == 3) {
        /* N MiB in 32 KiB MAP_SHARED|MAP_ANONYMOUS maps, touched, then held until killed. */
        long chunks = atol(argv[2]) * 32;
        for (long i = 0; i < chunks; i++) {
            char *chunk = mmap(NULL, 32 << 10, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            if (chunk == MAP_FAILED) return outcome(-1);
            memset(chunk, 1, 32 << 10);
        }
        printf("held\n");
        fflush(stdout);
        for (;;) pause();
    }
    /* Issue 20 (supervisor as a deputy): self-contained actions. */
    if (!strcmp(action, "opath-reopen") && argc == 4) {
        /* An O_PATH descriptor of PATH (Landlock does not judge O_PATH opens), reopened
         * through /proc/self/fd for reading ("r") or writing ("w"), then used once. */
        int path_fd = open(argv[2], O_PATH | O_CLOEXEC);
        if (path_fd < 0) return outcome(-1);
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", path_fd);
        int writing = !strcmp(argv[3], "w");
        int fd = open(link, (writing ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
        if (fd < 0) return outcome(-1);
        char byte = 'x';
        return outcome(writing ? write(fd, &byte, 0) : read(fd, &byte, 1));
    }
    if (!strcmp(action, "fd-reopen") && argc == 4) {
        /* PATH opened for reading ("r") or writing ("w"), reopened through /proc/self/fd
         * with the same mode. */
        int writing = !strcmp(argv[3], "w");
        int own = open(argv[2], (writing ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
        if (own < 0) return outcome(-1);
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", own);
        int fd = open(link, (writing ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
        if (fd < 0) return outcome(-1);
        char byte = 'x';
        return outcome(writing ? write(fd, &byte, 0) : read(fd, &byte, 1));
    }
    if (!strcmp(action, "fifo-reopen") && argc == 3) {
        /* A FIFO with no writer: our own non-blocking reader, then a blocking reopen for
         * reading through /proc/self/fd (which, done by a thread, waits for a writer).
         * Prints the reopen's outcome, then waits to be killed. */
        int own = open(argv[2], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (own < 0) return outcome(-1);
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", own);
        int fd = open(link, O_RDONLY | O_CLOEXEC);
        int saved = errno;
        if (fd >= 0) {
            int flags = fcntl(fd, F_GETFL);
            printf("reopened %s\n", flags & O_NONBLOCK ? "nonblocking" : "blocking");
        } else {
            printf("reopen %s\n", strerrorname_np(saved));
        }
        fflush(stdout);
        for (;;) pause();
    }
    if (!strcmp(action, "hold-random") && argc == 4) {
        /* N opens of /dev/urandom kept open (the soft descriptor limit raised to the hard
         * one); "opened K FIRST-ERROR" is written to the FIFO SIGNAL, then waits. */
        struct rlimit limit;
        getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
        long count = atol(argv[2]), opened = 0;
        const char *first = "none";
        for (long i = 0; i < count; i++) {
            int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
            if (fd >= 0) { opened++; continue; }
            if (!strcmp(first, "none")) first = strerrorname_np(errno);
        }
        /* Bytes still flow through a kept feed. */
        int last = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        unsigned char sample[8] = {0};
        if (last >= 0) { if (read(last, sample, sizeof sample) != (ssize_t)sizeof sample) first = "short-read"; close(last); }
        int signal_fd = open(argv[3], O_WRONLY | O_CLOEXEC);
        if (signal_fd < 0) return outcome(-1);
        dprintf(signal_fd, "opened %ld %s\n", opened, first);
        close(signal_fd);
        for (;;) pause();
    }
    if (!strcmp(action, "reopen-loop") && argc == 4) {
        /* N reopens of PATH through /proc/self/fd: "ok NS-PER-REOPEN". */
        int own = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (own < 0) return outcome(-1);
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", own);
        long count = atol(argv[3]);
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (long i = 0; i < count; i++) {
            int fd = open(link, O_RDONLY | O_CLOEXEC);
            if (fd < 0) return outcome(-1);
            close(fd);
        }
        clock_gettime(CLOCK_MONOTONIC, &end);
        long long ns = (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
        printf("ok %lld\n", ns / (count > 0 ? count : 1));
        return 0;
    }
    if (!strcmp(action, "cycle-random") && argc == 3) {
        /* N times: open /dev/urandom, read from it, close it ("ok", or "ERRNO at I"). */
        long count = atol(argv[2]);
        for (long i = 0; i < count; i++) {
            unsigned char bytes[16];
            int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
            if (fd < 0 || read(fd, bytes, sizeof bytes) != (ssize_t)sizeof bytes) {
                printf("%s at %ld\n", strerrorname_np(errno), i);
                return 1;
            }
            close(fd);
        }
        return outcome(0);
    }
    if (!strcmp(action, "fifo-reopen-write") && argc == 4) {
        /* A writer of the FIFO PATH whose reader is kept ("keep") or closed ("drop"), then a
         * blocking reopen for writing through /proc/self/fd. */
        int reader = open(argv[2], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (reader < 0) return outcome(-1);
        int writer = open(argv[2], O_WRONLY | O_CLOEXEC);
        if (writer < 0) return outcome(-1);
        if (!strcmp(argv[3], "drop")) close(reader);
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", writer);
        int fd = open(link, O_WRONLY | O_CLOEXEC);
        if (fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK)) { puts("nonblocking"); return 1; }
        return outcome(fd);
    }
    /* sec-network actions (unix sockets, listen, port remap) */
    int network = network_action(argc, argv);
    if (network >= 0) return network;
    if (!strcmp(action, "meta") && argc >= 4) return file_metadata(argv[2], argv[3], argc > 4 ? atol(argv[4]) : 1);
    if (!strcmp(action, "newer") && argc >= 3) return newer_syscall(argv[2], argc > 3 ? argv[3] : "/");
    if (!strcmp(action, "fastopen") && argc == 4) return fast_open(argv[2], atoi(argv[3]));
    if (!strcmp(action, "other-process") && argc == 4) return other_process(argv[2], argv[3]);
    if (!strcmp(action, "udp-bind") && argc == 3) {
        /* Binds a UDP socket to 127.0.0.1:PORT (0: an ephemeral one). */
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return outcome(fd < 0 ? -1 : bind(fd, (struct sockaddr *)&address, sizeof address));
    }
    fprintf(stderr, "probe: unknown action %s\n", action);
    return 2;
}
