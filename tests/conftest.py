"""Settings of every test process: one torch thread. pytest-xdist runs two processes on two cores, and more
torch (OpenMP) threads than free cores spin against each other: a QR-SAC update ran ~100x slower."""

import torch

torch.set_num_threads(1)
