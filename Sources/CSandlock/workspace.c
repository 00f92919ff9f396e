/*
 * Copy-on-write workspaces: the calls the parent needs to read overlayfs upper directories
 * and commit them, which Swift's Glibc module does not declare (sys/xattr.h, syncfs).
 */
#include "CSandlock.h"

#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/vfs.h>

ssize_t csl_lgetxattr(const char *path, const char *name, void *value, size_t size) {
    return lgetxattr(path, name, value, size);
}

ssize_t csl_llistxattr(const char *path, char *list, size_t size) {
    return llistxattr(path, list, size);
}

int csl_lsetxattr(const char *path, const char *name, const void *value, size_t size) {
    return lsetxattr(path, name, value, size, 0);
}

int csl_lremovexattr(const char *path, const char *name) {
    return lremovexattr(path, name);
}

int csl_syncfs(int fd) {
    return syncfs(fd);
}

long csl_filesystem_type(const char *path) {
    struct statfs info;
    return statfs(path, &info) == 0 ? (long)info.f_type : -1;
}

int csl_openat2_beneath(int dirfd, const char *path, int flags) {
    struct { uint64_t flags, mode, resolve; } how = {
        (uint64_t)(flags | O_CLOEXEC), 0,
        0x08 /* RESOLVE_BENEATH */ | 0x04 /* RESOLVE_NO_SYMLINKS */ | 0x02 /* RESOLVE_NO_MAGICLINKS */
    };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}
