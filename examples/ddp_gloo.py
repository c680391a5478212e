"""DistributedDataParallel on two CPU processes (gloo), recorded by vgviz.watch on rank 0.

    torchrun --standalone --nproc_per_node=2 examples/ddp_gloo.py    # then: vgviz open runs/ddp.vgviz

vgviz.watch records on rank 0 only and does nothing on the other ranks; after backward the
DDP gradients are the average over both processes' batches, so the recorded numbers equal
one process training on the whole batch. The parameter names lose DDP's "module." prefix.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import vgviz
from _common import parse_args


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], steps=500)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)                     # the same initial weights on every rank
    model = DistributedDataParallel(nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                                                  nn.Linear(32, 2)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(args.seed + 1)   # one global batch, split between the ranks
    path = args.out / "ddp.vgviz"
    with vgviz.watch(model, out=path, window=args.window and rank == 0) as w:
        for step in range(args.steps):
            x = torch.randn(64 * world, 2, generator=generator)
            y = (x[:, 0] * x[:, 1] > 0).long()
            mine = slice(rank * 64, (rank + 1) * 64)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[mine]), y[mine])
            loss.backward()
            w.step(loss)
            opt.step()
    if rank == 0:
        print(f"rank 0 of {world}: {vgviz.diagnose(path).headline}")
    dist.barrier()                 # gloo aborts at exit now and then unless every rank gets here first
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
