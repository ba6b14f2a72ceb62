// Launch memory: where a supervised launch keeps its Supervision block, the copy of the call
// and the two stacks. Layout: the Supervision block (one page), a copy of an asynchronous
// call's path, argv and envp, a guard page, the script's stack, a guard page, the supervisor's
// stack. The guard pages turn a stack overflow into a crash of that process instead of a
// silent write into the other stack or the call. Mappings are kept for reuse: an munmap in a
// multi-threaded Kea costs a TLB shootdown on every core, per script run.
//
// Pages are the kernel's, asked once when the library is loaded: arm64 kernels have 4, 16
// (Raspberry Pi 5) or 64 KiB pages (Ubuntu's and RHEL's -64k kernels), and mprotect refuses a
// guard page that does not start on a page boundary. Every part is a whole number of pages, so
// that every offset is a page boundary.

#ifndef RUNSCRIPT_LAUNCH_MEMORY_H
#define RUNSCRIPT_LAUNCH_MEMORY_H

#include <cstddef>

#pragma GCC visibility push(hidden)

namespace runscript {

// Offsets in a mapping (launch_memory.cc computes them).
struct LaunchLayout {
    std::size_t page;
    std::size_t call_area_at;      // the copy of the call
    std::size_t call_area_size;
    std::size_t script_stack_top;  // stacks grow down from these offsets
    std::size_t supervisor_stack_top;
    std::size_t size;
};

// The layout in this kernel's pages, computed when the library is loaded.
const LaunchLayout& launch_layout();

// A mapping of launch_layout().size bytes with its guard pages, kept or new; null when the
// kernel gives none.
void* take_mapping();
// Back to the kept ones (at most 64), or unmapped.
void give_mapping(void* mem);
// Unmaps the kept mappings: each Kea reconfiguration unloads the library, whose static
// memory goes, but mappings would stay behind.
void drop_free_mappings();

// Copies path, argv and envp into `area` (pointer arrays first, then the strings) so the
// caller's copies may go before the script has exec'd. False when they do not fit.
bool copy_call(char* area, std::size_t size, const char* path, char* const argv[],
               char* const envp[], const char** path_out, char*** argv_out, char*** envp_out);

}  // namespace runscript

#pragma GCC visibility pop

#endif  // RUNSCRIPT_LAUNCH_MEMORY_H
