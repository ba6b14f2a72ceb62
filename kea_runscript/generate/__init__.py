"""Generated files: the hook's C++ per Kea version, golden copies, the variables page, the log
messages, the CI pipelines."""
