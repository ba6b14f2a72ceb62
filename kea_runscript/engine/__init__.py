"""The Docker engine: containers, the images of each cell, emulation of foreign architectures."""
