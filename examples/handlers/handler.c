/* The smallest correct kea-hook-runscript handler ("persistent": true): it replies "exit 0" to
 * every record and does nothing else (the benchmark's C handler). Build: cc -O2 -o handler handler.c
 * A record is NUL-terminated fields ending with an empty one; no other field is empty, so a NUL
 * at the start of a field ends a record. read(2) may cut a record anywhere: the state carries on. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define REPLY "exit 0\n"
#define REPLY_LEN (sizeof REPLY - 1)
#define BATCH 1024

static int write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(void)
{
    static char in[65536], replies[BATCH * REPLY_LEN];
    int field_start = 1; /* the next byte begins a field */

    for (size_t i = 0; i < BATCH; i++)
        memcpy(replies + i * REPLY_LEN, REPLY, REPLY_LEN);
    for (;;) {
        ssize_t n = read(0, in, sizeof in);
        if (n == 0)
            return 0; /* stdin closed: Kea unloads */
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        size_t ended = 0; /* records this chunk completed: replied to before the next read */
        for (char *p = in, *end = in + n; p < end;) {
            char *nul = memchr(p, 0, (size_t)(end - p));
            if (nul == NULL) {
                field_start = 0;
                break;
            }
            if (nul == p && field_start)
                ended++; /* an empty field */
            field_start = 1;
            p = nul + 1;
        }
        while (ended > 0) {
            size_t k = ended < BATCH ? ended : BATCH;
            if (write_all(replies, k * REPLY_LEN) < 0)
                return 1;
            ended -= k;
        }
    }
}
