// Launch memory (launch_memory.h).

#include "launch_memory.h"
#include "launcher.h"

#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <vector>

namespace runscript {

namespace {

std::size_t kernel_page_size() {
    long size = sysconf(_SC_PAGESIZE);
    if (size <= 0) size = static_cast<long>(getauxval(AT_PAGESZ));
    return size > 0 ? static_cast<std::size_t>(size) : 4096;
}

const std::size_t PAGE = kernel_page_size();
std::size_t page_rounded(std::size_t bytes) {
    return (bytes + PAGE - 1) / PAGE * PAGE;
}
const std::size_t STACK_SIZE = page_rounded(64 * 1024);
const std::size_t CALL_AREA_SIZE = page_rounded(64 * 1024);
const std::size_t SCRIPT_STACK_AT = PAGE + CALL_AREA_SIZE + PAGE;
const std::size_t SUPERVISOR_STACK_AT = SCRIPT_STACK_AT + STACK_SIZE + PAGE;
const std::size_t MAPPING_SIZE = SUPERVISOR_STACK_AT + STACK_SIZE;
const LaunchLayout LAYOUT = {PAGE, PAGE, CALL_AREA_SIZE, SCRIPT_STACK_AT + STACK_SIZE,
                             SUPERVISOR_STACK_AT + STACK_SIZE, MAPPING_SIZE};
const std::size_t MAPPINGS_KEPT = 64;
std::mutex mappings_mutex;
std::vector<void*> free_mappings;

}  // namespace

const LaunchLayout& launch_layout() {
    return LAYOUT;
}

void* take_mapping() {
    {
        std::lock_guard<std::mutex> lock(mappings_mutex);
        if (!free_mappings.empty()) {
            void* mem = free_mappings.back();
            free_mappings.pop_back();
            return mem;
        }
    }
    void* mem = mmap(0, MAPPING_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED) return 0;
    char* base = static_cast<char*>(mem);
    if (mprotect(base + SCRIPT_STACK_AT - PAGE, PAGE, PROT_NONE) != 0 ||
        mprotect(base + SUPERVISOR_STACK_AT - PAGE, PAGE, PROT_NONE) != 0) {
        munmap(mem, MAPPING_SIZE);
        return 0;
    }
    return mem;
}

void give_mapping(void* mem) {
    {
        std::lock_guard<std::mutex> lock(mappings_mutex);
        if (free_mappings.size() < MAPPINGS_KEPT) {
            free_mappings.push_back(mem);
            return;
        }
    }
    munmap(mem, MAPPING_SIZE);
}

void drop_free_mappings() {
    std::vector<void*> kept;
    {
        std::lock_guard<std::mutex> lock(mappings_mutex);
        kept.swap(free_mappings);
    }
    for (void* mem : kept) munmap(mem, MAPPING_SIZE);
}

std::size_t kept_mappings() {
    std::lock_guard<std::mutex> lock(mappings_mutex);
    return free_mappings.size();
}

bool copy_call(char* area, std::size_t size, const char* path, char* const argv[],
               char* const envp[], const char** path_out, char*** argv_out, char*** envp_out) {
    std::size_t argc = 0, envc = 0, bytes = std::strlen(path) + 1;
    for (; argv[argc]; ++argc) bytes += std::strlen(argv[argc]) + 1;
    for (; envp[envc]; ++envc) bytes += std::strlen(envp[envc]) + 1;
    const std::size_t pointers = (argc + 1 + envc + 1) * sizeof(char*);
    if (pointers + bytes > size) return false;
    char** arrays = reinterpret_cast<char**>(area);
    char* text = area + pointers;
    auto put = [&text](const char* from) {
        const std::size_t n = std::strlen(from) + 1;
        std::memcpy(text, from, n);
        char* at = text;
        text += n;
        return at;
    };
    *path_out = put(path);
    *argv_out = arrays;
    for (std::size_t i = 0; i < argc; ++i) arrays[i] = put(argv[i]);
    arrays[argc] = 0;
    *envp_out = arrays + argc + 1;
    for (std::size_t i = 0; i < envc; ++i) (*envp_out)[i] = put(envp[i]);
    (*envp_out)[envc] = 0;
    return true;
}

}  // namespace runscript
