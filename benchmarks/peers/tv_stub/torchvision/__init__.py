"""FAKE torchvision for the peers harness (checks/peers) -- NOT the real package.

torchquantum-ng 0.2.0 imports torchvision only in torchquantum/dataset/{mnist,cifar10,vowel}.py,
at module import time (datasets, transforms, InterpolationMode, VisionDataset, download_url).
The harness uses none of those datasets. The PyPI torchvision 0.28.0 wheel (the one pinned to
torch 2.13.0) is a CUDA build whose C ops fail to register against the local CPU torch
("operator torchvision::nms does not exist"), so this stub stands in, put on sys.path only by
checks/peers/tq_step.py. Anything actually used raises.
"""

__version__ = "0.0.0+peers-stub"
STUB = True

from . import datasets, transforms  # noqa: E402, F401
