"""A guard that makes any device mix-up fail, on any device, the way CUDA would.

PyTorch's shape-only ``meta`` device catches a CPU tensor meeting a meta one in elementwise operations,
but not everywhere: matrix products, ``F.linear``, convolutions, ``gather``, indexing, ``cdist`` and
``solve_triangular`` accept a CPU operand next to a meta one (measured on torch 2.13), and a CPU
generator happily draws "on" meta. CUDA rejects all of these. ``SingleDeviceMode`` sees every
operation PyTorch dispatches and refuses:

* an operation whose tensor arguments live on more than one device, except the explicit transfers
  ``.to()`` and ``copy_``; a 0-dim CPU tensor counts as a number, as CUDA allows in arithmetic, but not
  as an index (CUDA rejects a CPU index in ``index_select``, ``gather`` and the like);
* a random draw whose generator lives on another device than the one it draws on.
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

TRANSFERS = {torch.ops.aten._to_copy.default, torch.ops.aten.copy_.default}
INDEXING = {getattr(torch.ops.aten, name) for name in (
    "index", "index_select", "gather", "scatter", "scatter_add", "index_put", "index_put_", "index_copy",
    "index_copy_", "index_add", "index_add_", "take", "embedding", "searchsorted")}


class DeviceMismatch(RuntimeError):
    """An operation mixed devices (or drew with a generator of another device)."""


def _is_number(tensor: torch.Tensor) -> bool:
    return tensor.dim() == 0 and tensor.device.type == "cpu"


class SingleDeviceMode(TorchDispatchMode):
    """Within ``with SingleDeviceMode():`` every dispatched operation keeps to one device."""

    def __init__(self):
        super().__init__()
        self.operations = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.operations += 1
        if func not in TRANSFERS:
            leaves = tree_leaves((args, kwargs))
            indexing = func.overloadpacket in INDEXING
            devices = {leaf.device for leaf in leaves
                       if isinstance(leaf, torch.Tensor) and (indexing or not _is_number(leaf))}
            if len(devices) > 1:
                raise DeviceMismatch(f"{func} mixes devices {sorted(map(str, devices))}")
            target = kwargs.get("device") or (next(iter(devices)) if devices else None)
            for generator in (leaf for leaf in leaves if isinstance(leaf, torch.Generator)):
                if target is not None and torch.device(target).type != generator.device.type:
                    raise DeviceMismatch(f"{func} draws on {target} with a generator on {generator.device}")
        return func(*args, **kwargs)
