/*
 * v42tool: the system calls a busybox guest lacks, for checking NFSv4.2 through the Linux client. Built static and
 * passed into the guest through SHARE_DIR by bench/linux-client/v42-check.sh.
 *
 *   v42tool allocate FILE OFFSET LENGTH       fallocate(mode 0)                       -> NFSv4.2 ALLOCATE
 *   v42tool punch FILE OFFSET LENGTH          fallocate(PUNCH_HOLE | KEEP_SIZE)       -> DEALLOCATE
 *   v42tool map FILE                          the data extents by lseek SEEK_DATA / SEEK_HOLE -> SEEK
 *   v42tool copy SRC DST                      copy_file_range of the whole file       -> COPY
 *   v42tool rwcopy SRC DST                    read(2) + write(2) in 1 MiB pieces      -> READ + WRITE
 *   v42tool setxattr FILE NAME VALUE          setxattr(2)                             -> SETXATTR
 *   v42tool getxattr FILE NAME                getxattr(2), prints the value           -> GETXATTR
 *   v42tool listxattr FILE                    listxattr(2), one name a line           -> LISTXATTRS
 *   v42tool removexattr FILE NAME             removexattr(2)                          -> REMOVEXATTR
 *   v42tool sum FILE                          reads the file and prints its size and a 64-bit FNV-1a of the bytes
 *
 * copy and rwcopy print the elapsed seconds. Exit status 0 on success, 1 with a message on stderr otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "v42tool: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int space(const char *path, int mode, const char *offset, const char *length)
{
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return fail("open", path);
    if (fallocate(fd, mode, strtoll(offset, NULL, 0), strtoll(length, NULL, 0)) != 0)
        return fail("fallocate", path);
    return close(fd) == 0 ? 0 : fail("close", path);
}

static int map(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail("open", path);
    off_t end = lseek(fd, 0, SEEK_END), at = 0;
    while (at < end) {
        off_t data = lseek(fd, at, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break;
            return fail("lseek SEEK_DATA", path);
        }
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0)
            return fail("lseek SEEK_HOLE", path);
        printf("data %lld %lld\n", (long long)data, (long long)(hole - data));
        at = hole;
    }
    printf("size %lld\n", (long long)end);
    return close(fd);
}

static int copy(const char *src, const char *dst, int kernel)
{
    int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0)
        return fail("open", src);
    if (out < 0)
        return fail("open", dst);
    struct stat st;
    if (fstat(in, &st) != 0)
        return fail("fstat", src);
    double start = now();
    long long total = 0;
    if (kernel) {
        while (total < st.st_size) {
            ssize_t n = copy_file_range(in, NULL, out, NULL, st.st_size - total, 0);
            if (n < 0)
                return fail("copy_file_range", dst);
            if (n == 0)
                break;
            total += n;
        }
    } else {
        static char buf[1 << 20];
        ssize_t n;
        while ((n = read(in, buf, sizeof buf)) > 0) {
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(out, buf + off, n - off);
                if (w < 0)
                    return fail("write", dst);
                off += w;
            }
            total += n;
        }
        if (n < 0)
            return fail("read", src);
    }
    if (fsync(out) != 0)
        return fail("fsync", dst);
    printf("%s %lld bytes in %.3f s\n", kernel ? "copy_file_range" : "read+write", total, now() - start);
    return close(in) | close(out);
}

static int sum(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail("open", path);
    static unsigned char buf[1 << 20];
    uint64_t h = 1469598103934665603ULL;
    long long total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 1099511628211ULL;
        total += n;
    }
    if (n < 0)
        return fail("read", path);
    printf("%lld %016llx\n", total, (unsigned long long)h);
    return close(fd);
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "allocate") && argc == 5)
        return space(argv[2], 0, argv[3], argv[4]);
    if (!strcmp(cmd, "punch") && argc == 5)
        return space(argv[2], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, argv[3], argv[4]);
    if (!strcmp(cmd, "map") && argc == 3)
        return map(argv[2]);
    if (!strcmp(cmd, "copy") && argc == 4)
        return copy(argv[2], argv[3], 1);
    if (!strcmp(cmd, "rwcopy") && argc == 4)
        return copy(argv[2], argv[3], 0);
    if (!strcmp(cmd, "sum") && argc == 3)
        return sum(argv[2]);
    if (!strcmp(cmd, "setxattr") && argc == 5)
        return setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0) == 0 ? 0 : fail("setxattr", argv[2]);
    if (!strcmp(cmd, "removexattr") && argc == 4)
        return removexattr(argv[2], argv[3]) == 0 ? 0 : fail("removexattr", argv[2]);
    if (!strcmp(cmd, "getxattr") && argc == 4) {
        char value[65536];
        ssize_t n = getxattr(argv[2], argv[3], value, sizeof value);
        if (n < 0)
            return fail("getxattr", argv[2]);
        printf("%.*s\n", (int)n, value);
        return 0;
    }
    if (!strcmp(cmd, "listxattr") && argc == 3) {
        char names[65536];
        ssize_t n = listxattr(argv[2], names, sizeof names);
        if (n < 0)
            return fail("listxattr", argv[2]);
        for (ssize_t i = 0; i < n; i += strlen(names + i) + 1)
            printf("%s\n", names + i);
        return 0;
    }
    fprintf(stderr, "usage: v42tool allocate|punch FILE OFFSET LENGTH | map FILE | copy|rwcopy SRC DST | sum FILE |"
                    " setxattr FILE NAME VALUE | getxattr FILE NAME | listxattr FILE | removexattr FILE NAME\n");
    return 2;
}
