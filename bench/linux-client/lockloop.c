/*
 * lockloop FILE SECONDS: takes flock(LOCK_EX) on FILE, then for SECONDS appends a numbered line, fsyncs it and reads it
 * back, five times a second, reporting every failure. At the end a child process, with a descriptor of its own, checks
 * that the lock is still held (flock LOCK_EX|LOCK_NB must fail with EWOULDBLOCK). Prints "LOCKLOOP started" once the
 * lock is taken and one last line: "LOCKLOOP ok N writes" or "LOCKLOOP FAIL ...". Built static for the test guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: lockloop FILE SECONDS\n");
        return 2;
    }
    const char *path = argv[1];
    double seconds = atof(argv[2]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        printf("LOCKLOOP FAIL open/flock: %s\n", strerror(errno));
        return 1;
    }
    printf("LOCKLOOP started\n");
    fflush(stdout);
    int failures = 0;
    long writes = 0;
    off_t end = 0;
    double stop = now() + seconds, slowest = 0;
    while (now() < stop) {
        char line[64], back[64];
        int n = snprintf(line, sizeof line, "line %06ld\n", writes);
        double t0 = now();
        if (pwrite(fd, line, n, end) != n || fsync(fd) != 0) {
            printf("LOCKLOOP write %ld failed: %s\n", writes, strerror(errno));
            failures++;
        } else if (pread(fd, back, n, end) != n || memcmp(line, back, n) != 0) {
            printf("LOCKLOOP read-back %ld differs or failed: %s\n", writes, strerror(errno));
            failures++;
        } else {
            end += n;
            writes++;
        }
        double took = now() - t0;
        if (took > slowest)
            slowest = took;
        if (took > 1.0) {
            printf("LOCKLOOP write %ld took %.1f s (the server was away)\n", writes, took);
            fflush(stdout);
        }
        usleep(200000);
    }
    pid_t child = fork();
    if (child == 0) {
        int other = open(path, O_RDWR);
        if (other < 0)
            _exit(3);
        if (flock(other, LOCK_EX | LOCK_NB) == 0)
            _exit(1); /* got it: our lock was lost */
        _exit(errno == EWOULDBLOCK ? 0 : 4);
    }
    int status = 0;
    waitpid(child, &status, 0);
    int held = WIFEXITED(status) ? WEXITSTATUS(status) : 5;
    if (failures == 0 && held == 0)
        printf("LOCKLOOP ok %ld writes, slowest %.1f s, lock still held\n", writes, slowest);
    else
        printf("LOCKLOOP FAIL %d failed writes; lock check %s\n", failures,
               held == 0 ? "held" : held == 1 ? "LOST (another descriptor got it)" : "could not run");
    return failures == 0 && held == 0 ? 0 : 1;
}
