/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fs_ops: exercises the WASI files of `vmrt run --dir` through plain
 * wasi-libc calls.  Commands (argv[1]):
 *
 *   ops          create, write, read back, list, rename, stat, unlink,
 *                mkdir, rmdir inside the root; prints "FAIL ..." for each
 *                check that fails and "ops ok" at the end; exit 0 if all
 *                passed
 *   open PATH    try to open PATH for reading; prints "EPERM", "ENOENT",
 *                "opened" or "errno N"
 *   mkdir PATH   the same for mkdir
 *   fill NAME    append 1000-byte blocks to NAME until a write fails;
 *                prints "wrote N errno ENOSPC" (or the errno number)
 *   cat NAME     print the file's contents
 *   slowlog N    open "log.txt" for appending and write N lines, sleeping
 *                1 ms between lines (a snapshot can land mid-way, with
 *                the file open); then read the file back and print it
 */

#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fails;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            printf("FAIL line %d: %s (errno %d)\n", __LINE__, #cond, errno);  \
            fails++;                                                           \
        }                                                                      \
    } while (0)

static int
in_listing(const char *dir, const char *name)
{
    struct dirent *de;
    DIR *d = opendir(dir);
    int found = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, name) == 0)
            found = 1;
    closedir(d);
    return found;
}

static int
cmd_ops(void)
{
    char buf[64];
    struct stat st;
    FILE *f;
    int fd;

    f = fopen("data.txt", "w");
    CHECK(f != NULL);
    if (f != NULL) {
        CHECK(fputs("hello, root\n", f) >= 0);
        CHECK(fclose(f) == 0);
    }
    f = fopen("data.txt", "r");
    CHECK(f != NULL);
    if (f != NULL) {
        memset(buf, 0, sizeof(buf));
        CHECK(fread(buf, 1, sizeof(buf) - 1, f) == 12);
        CHECK(strcmp(buf, "hello, root\n") == 0);
        CHECK(fclose(f) == 0);
    }
    /* Absolute paths name the same root. */
    CHECK(stat("/data.txt", &st) == 0 && st.st_size == 12);
    CHECK(S_ISREG(st.st_mode));

    CHECK(mkdir("sub", 0755) == 0);
    CHECK(mkdir("sub", 0755) == -1 && errno == EEXIST);
    f = fopen("sub/inner.txt", "w+");
    CHECK(f != NULL);
    if (f != NULL) {
        CHECK(fwrite("abcdef", 1, 6, f) == 6);
        CHECK(fseek(f, 2, SEEK_SET) == 0);
        CHECK(fread(buf, 1, 3, f) == 3 && memcmp(buf, "cde", 3) == 0);
        CHECK(ftell(f) == 5);
        CHECK(fclose(f) == 0);
    }
    CHECK(in_listing(".", "data.txt"));
    CHECK(in_listing("/", "sub"));
    CHECK(in_listing("sub", "inner.txt"));
    CHECK(stat("sub", &st) == 0 && S_ISDIR(st.st_mode));

    /* pread/pwrite and ftruncate through POSIX calls. */
    fd = open("sub/inner.txt", O_RDWR);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(pwrite(fd, "XY", 2, 1) == 2);
        CHECK(pread(fd, buf, 6, 0) == 6 && memcmp(buf, "aXYdef", 6) == 0);
        CHECK(ftruncate(fd, 3) == 0);
        CHECK(fstat(fd, &st) == 0 && st.st_size == 3);
        CHECK(close(fd) == 0);
    }
    /* Appending. */
    f = fopen("data.txt", "a");
    CHECK(f != NULL);
    if (f != NULL) {
        CHECK(fputs("more\n", f) >= 0);
        CHECK(fclose(f) == 0);
    }
    CHECK(stat("data.txt", &st) == 0 && st.st_size == 17);

    CHECK(rename("sub/inner.txt", "moved.txt") == 0);
    CHECK(!in_listing("sub", "inner.txt"));
    CHECK(in_listing(".", "moved.txt"));
    CHECK(rmdir("sub") == 0);
    CHECK(stat("sub", &st) == -1 && errno == ENOENT);
    CHECK(unlink("moved.txt") == 0);
    CHECK(unlink("moved.txt") == -1 && errno == ENOENT);
    CHECK(fopen("nothere/x", "r") == NULL && errno == ENOENT);
    printf("ops %s\n", fails == 0 ? "ok" : "FAILED");
    return fails == 0 ? 0 : 1;
}

static void
print_errno(int ok, const char *what)
{
    if (ok)
        printf("%s\n", what);
    else if (errno == EPERM)
        printf("EPERM\n");
    else if (errno == ENOENT)
        printf("ENOENT\n");
    else
        printf("errno %d\n", errno);
}

static int
cmd_fill(const char *name)
{
    static char block[1000];
    long total = 0;
    size_t n;
    FILE *f = fopen(name, "a");

    if (f == NULL) {
        printf("open failed errno %d\n", errno);
        return 1;
    }
    setvbuf(f, NULL, _IONBF, 0);
    memset(block, 'z', sizeof(block));
    for (;;) {
        errno = 0;
        n = fwrite(block, 1, sizeof(block), f);
        total += (long)n;
        if (n < sizeof(block))
            break;
    }
    if (errno == ENOSPC)
        printf("wrote %ld errno ENOSPC\n", total);
    else
        printf("wrote %ld errno %d\n", total, errno);
    fclose(f);
    return 0;
}

static int
cmd_cat(const char *name)
{
    char buf[256];
    size_t n;
    FILE *f = fopen(name, "r");

    if (f == NULL) {
        printf("open failed errno %d\n", errno);
        return 1;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
}

static int
cmd_slowlog(int lines)
{
    struct timespec ts = { 0, 1000000 };
    FILE *f = fopen("log.txt", "a");
    int i;

    if (f == NULL) {
        printf("open failed errno %d\n", errno);
        return 1;
    }
    setvbuf(f, NULL, _IONBF, 0);
    for (i = 0; i < lines; i++) {
        if (fprintf(f, "line %d\n", i) < 0) {
            printf("write failed errno %d\n", errno);
            return 1;
        }
        nanosleep(&ts, NULL);
    }
    fclose(f);
    return cmd_cat("log.txt");
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "ops") == 0)
        return cmd_ops();
    if (argc >= 3 && strcmp(argv[1], "open") == 0) {
        FILE *f = fopen(argv[2], "r");

        print_errno(f != NULL, "opened");
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "mkdir") == 0) {
        print_errno(mkdir(argv[2], 0755) == 0, "made");
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "fill") == 0)
        return cmd_fill(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "cat") == 0)
        return cmd_cat(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "slowlog") == 0)
        return cmd_slowlog(atoi(argv[2]));
    fprintf(stderr, "usage: fs_ops ops|open P|mkdir P|fill N|cat N|slowlog N\n");
    return 2;
}
