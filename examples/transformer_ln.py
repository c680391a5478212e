"""A deep tiny transformer, post-LN against pre-LN, trained without learning-rate warm-up.

Post-LN (the original Transformer) puts LayerNorm after each residual sum, so the gradient
of the early layers passes through every norm; without warm-up it trains badly. Pre-LN
keeps an identity path from the loss to every layer (Xiong et al. 2020).

    python examples/transformer_ln.py                 # then: vgviz open runs/transformer-post-ln.vgviz
"""
from __future__ import annotations

import torch
from torch import nn

import vgviz
from _common import parse_args

TOKENS, SEQ_LEN = 16, 12


class TinyTransformer(nn.Module):
    def __init__(self, pre_ln: bool, depth: int = 12, width: int = 32):
        super().__init__()
        self.embed = nn.Embedding(TOKENS, width)
        self.position = nn.Parameter(torch.randn(SEQ_LEN, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=2 * width, dropout=0.0,
                                           batch_first=True, norm_first=pre_ln)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(width, TOKENS)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens) + self.position))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], steps=800)
    for name, pre_ln in (("post-ln", False), ("pre-ln", True)):
        torch.manual_seed(args.seed)
        model = TinyTransformer(pre_ln)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)      # no warm-up
        path = args.out / f"transformer-{name}.vgviz"
        with vgviz.watch(model, out=path, window=args.window) as w:
            for step in range(args.steps):
                tokens = torch.randint(0, TOKENS, (32, SEQ_LEN))
                target = tokens.sort(dim=1).values                 # the task: sort the sequence
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(tokens).reshape(-1, TOKENS), target.reshape(-1))
                loss.backward()
                w.step(loss)
                opt.step()
        print(f"{name}: loss {loss.item():.3f}; {vgviz.diagnose(path).headline}")


if __name__ == "__main__":
    main()
