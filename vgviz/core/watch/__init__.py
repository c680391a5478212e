"""vgviz.watch: record any PyTorch training loop into a run file (docs/watch.md).

    with vgviz.watch(model, out="runs/mine.vgrun", window=True) as w:
        for x, y in loader:
            opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward()
            w.step(loss)          # after backward, before opt.step()
            opt.step()
"""
from .watcher import Watch, watch

__all__ = ["Watch", "watch"]
