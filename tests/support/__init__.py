"""What only tests run: the drivers of the hook's C++, the arm64 VM, the run-time scenarios."""
