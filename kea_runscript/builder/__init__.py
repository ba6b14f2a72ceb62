"""Builds: the hook for matrix cells, in the cells' builder images (hook.py); the launcher driver,
with a host compiler (launcher_driver.py)."""
