/* The cost of a handler record, outside Kea (kea-runscript bench): what bounds the handler
 * rows of the capacity table.
 *
 *   handler_rtt COUNT RECORD_BYTES SPIN_US PROGRAM [ARG...]
 *
 * Starts PROGRAM with a record pipe on fd 0 and a reply pipe on fd 1, as the hook does, then
 *   roundtrip: write one record, read its reply line, COUNT times (a synchronous event's
 *              floor: two pipe transfers and two wake-ups);
 *   roundtrip_spin: the same, the reply read without sleeping for up to SPIN_US first, as
 *              the hook's synchronous call does (REPLY_SPIN_US): the floor of its way;
 *   stream:    a thread writes COUNT records back to back while this one reads the replies
 *              (the cost per record when nobody waits: asynchronous events);
 * three rounds each, interleaved; prints the medians: "roundtrip_us X roundtrip_spin_us Z
 * stream_us Y".
 * The record is a hook point and NAME=value fields of about RECORD_BYTES in all. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char *record;
static size_t record_len;
static int to_handler, from_handler;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(to_handler, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write to the handler");
        p += w;
        n -= (size_t)w;
    }
}

/* Reads until `lines` reply lines have arrived. */
static void read_lines(long lines)
{
    static char buf[65536];
    while (lines > 0) {
        ssize_t n = read(from_handler, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("read from the handler (did it exit?)");
        for (ssize_t i = 0; i < n; i++)
            lines -= buf[i] == '\n';
    }
}

/* One reply line, read without sleeping until `spin_us` have passed, then with poll(). */
static void read_line_spinning(double spin_us)
{
    static char buf[65536];
    double until = now_us() + spin_us;
    for (;;) {
        ssize_t n = read(from_handler, buf, sizeof buf);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] == '\n')
                    return;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            die("read from the handler (did it exit?)");
        if (now_us() < until)
            continue;
        struct pollfd p = {from_handler, POLLIN, 0};
        poll(&p, 1, -1);
    }
}

static void make_record(size_t bytes)
{
    record = malloc(bytes + 256);
    if (record == NULL)
        die("malloc");
    size_t n = (size_t)sprintf(record, "pkt4_receive") + 1;
    for (int i = 0; n < bytes; i++)
        n += (size_t)sprintf(record + n, "KEA_BENCH_VARIABLE_%02d=value-%02d-0123456789abcdef", i, i) + 1;
    record[n++] = '\0'; /* the empty field that ends the record */
    record_len = n;
}

static double roundtrips(long count)
{
    double t0 = now_us();
    for (long i = 0; i < count; i++) {
        write_all(record, record_len);
        read_lines(1);
    }
    return (now_us() - t0) / count;
}

static double roundtrips_spinning(long count, double spin_us)
{
    int flags = fcntl(from_handler, F_GETFL);
    fcntl(from_handler, F_SETFL, flags | O_NONBLOCK);
    double t0 = now_us();
    for (long i = 0; i < count; i++) {
        write_all(record, record_len);
        read_line_spinning(spin_us);
    }
    double per = (now_us() - t0) / count;
    fcntl(from_handler, F_SETFL, flags);
    return per;
}

static void *writer(void *arg)
{
    long count = *(long *)arg;
    for (long i = 0; i < count; i++)
        write_all(record, record_len);
    return NULL;
}

static double stream(long count)
{
    pthread_t t;
    double t0 = now_us();
    if (pthread_create(&t, NULL, writer, &count) != 0)
        die("pthread_create");
    read_lines(count);
    pthread_join(t, NULL);
    return (now_us() - t0) / count;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s COUNT RECORD_BYTES SPIN_US PROGRAM [ARG...]\n", argv[0]);
        return 2;
    }
    long count = atol(argv[1]);
    make_record((size_t)atol(argv[2]));
    double spin_us = atof(argv[3]);
    argv += 1; /* PROGRAM [ARG...] from argv[3] on */
    signal(SIGPIPE, SIG_IGN);

    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        die("pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    pid_t pid;
    int err = posix_spawn(&pid, argv[3], &fa, NULL, argv + 3, environ);
    if (err != 0) {
        errno = err;
        die(argv[3]);
    }
    close(in[0]);
    close(out[1]);
    to_handler = in[1];
    from_handler = out[0];

    roundtrips(count / 10 + 1); /* warm-up: the handler's start, page faults */
    double rt[3], rs[3], st[3];
    for (int r = 0; r < 3; r++) {
        rt[r] = roundtrips(count);
        rs[r] = roundtrips_spinning(count, spin_us);
        st[r] = stream(count);
    }
    qsort(rt, 3, sizeof rt[0], cmp);
    qsort(rs, 3, sizeof rs[0], cmp);
    qsort(st, 3, sizeof st[0], cmp);
    printf("roundtrip_us %.2f roundtrip_spin_us %.2f stream_us %.2f record_bytes %zu\n", rt[1], rs[1],
           st[1], record_len);

    close(to_handler); /* end of records: the handler exits */
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return 0;
}
