// Test shim (LD_PRELOAD) for tests/unit/test_launcher.py: the program's own calls see a kernel
// whose pages are $SHIM_PAGE_SIZE bytes (16 or 64 KiB, as arm64 kernels may have), on a 4 KiB
// machine. It answers the page-size questions (sysconf, getpagesize, getauxval) with that size
// and enforces it as such a kernel does: mprotect, munmap and MAP_FIXED mmap refuse an address
// that is not a multiple of it (EINVAL); lengths are rounded up to it; anonymous mappings start
// on a multiple of it. Calls made inside libc (malloc, thread stacks) are not seen: they do not
// go through the symbols interposed here.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page(void) {
    static size_t size;
    if (!size) {
        const char* s = getenv("SHIM_PAGE_SIZE");
        size = s ? strtoul(s, 0, 10) : 4096;
    }
    return size;
}

static size_t rounded(size_t len) {
    return (len + page() - 1) / page() * page();
}

static int aligned(const void* addr) {
    return (uintptr_t)addr % page() == 0;
}

long sysconf(int name) {
    static long (*real)(int);
    if (name == _SC_PAGESIZE) return (long)page();
    if (!real) real = (long (*)(int))dlsym(RTLD_NEXT, "sysconf");
    return real(name);
}

int getpagesize(void) {
    return (int)page();
}

unsigned long getauxval(unsigned long type) {
    static unsigned long (*real)(unsigned long);
    if (type == AT_PAGESZ) return page();
    if (!real) real = (unsigned long (*)(unsigned long))dlsym(RTLD_NEXT, "getauxval");
    return real(type);
}

void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    static void* (*real)(void*, size_t, int, int, int, off_t);
    if (!real) real = (void* (*)(void*, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
    if (((flags & MAP_FIXED) && !aligned(addr)) || (size_t)off % page() != 0) {
        errno = EINVAL;
        return MAP_FAILED;
    }
    if (addr || !(flags & MAP_ANONYMOUS)) return real(addr, len, prot, flags, fd, off);
    // One page more than asked, then the parts before the first aligned address and after
    // the rounded length are given back.
    static int (*real_munmap)(void*, size_t);
    if (!real_munmap) real_munmap = (int (*)(void*, size_t))dlsym(RTLD_NEXT, "munmap");
    const size_t want = rounded(len);
    char* mem = real(0, want + page(), prot, flags, fd, 0);
    if (mem == MAP_FAILED) return mem;
    char* start = (char*)(((uintptr_t)mem + page() - 1) / page() * page());
    if (start > mem) real_munmap(mem, (size_t)(start - mem));
    char* end = start + want;
    char* real_end = mem + want + page();
    if (real_end > end) real_munmap(end, (size_t)(real_end - end));
    return start;
}

int munmap(void* addr, size_t len) {
    static int (*real)(void*, size_t);
    if (!real) real = (int (*)(void*, size_t))dlsym(RTLD_NEXT, "munmap");
    if (!aligned(addr)) {
        errno = EINVAL;
        return -1;
    }
    return real(addr, rounded(len));
}

int mprotect(void* addr, size_t len, int prot) {
    static int (*real)(void*, size_t, int);
    if (!real) real = (int (*)(void*, size_t, int))dlsym(RTLD_NEXT, "mprotect");
    if (!aligned(addr)) {
        errno = EINVAL;
        return -1;
    }
    return real(addr, rounded(len), prot);
}
