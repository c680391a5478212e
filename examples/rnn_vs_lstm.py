"""A vanilla RNN against an LSTM on a long-range task: name the first of 30 tokens.

The RNN's gradient through time vanishes (‖∂L/∂h_1‖ ≪ ‖∂L/∂h_30‖); the LSTM's, with its
forget gate biased open, survives.

    python examples/rnn_vs_lstm.py                    # then: vgviz open runs/rnn.vgviz
"""
from __future__ import annotations

import torch
from torch import nn

import vgviz
from _common import parse_args

TOKENS, SEQ_LEN = 8, 30


class Recall(nn.Module):
    def __init__(self, cell: str, hidden: int = 32):
        super().__init__()
        self.embed = nn.Embedding(TOKENS, 16)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM}[cell](16, hidden, batch_first=True)
        self.head = nn.Linear(hidden, TOKENS)
        if cell == "lstm":                                  # forget-gate bias 1 (Gers et al. 2000)
            with torch.no_grad():
                self.rnn.bias_hh_l0[hidden:2 * hidden].fill_(1.0)

    def forward(self, tokens):
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out[:, -1])


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], steps=1500)
    for cell in ("rnn", "lstm"):
        torch.manual_seed(args.seed)
        model = Recall(cell)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        path = args.out / f"{cell}.vgviz"
        with vgviz.watch(model, out=path, window=args.window) as w:
            for step in range(args.steps):
                tokens = torch.randint(0, TOKENS, (64, SEQ_LEN))
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(tokens), tokens[:, 0])
                loss.backward()
                w.step(loss)
                opt.step()
        print(f"{cell}: loss {loss.item():.3f}; {vgviz.diagnose(path).headline}")


if __name__ == "__main__":
    main()
