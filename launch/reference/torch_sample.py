#!/usr/bin/env python3
"""PyTorch's side of launch/bench-generation.sh: nanoGPT's sample.py generation loop, timed.

nanoGPT's `GPT.generate` has no key/value cache: for every new token it crops the sequence to the
last `block_size` tokens, runs the whole model over them, and samples from the last position's
logits (temperature, top-k). This script builds the same GPT as the trainer (learned token and
position embeddings, pre-norm blocks with a fused q|k|v Linear and scaled_dot_product_attention,
exact GELU, biases, tied LM head; random weights, which do not change the speed) and times that
loop under `torch.no_grad()` in fp32, as `python sample.py --device=cpu` runs it.

Prints one line: `torch <version> ... tokens=<n> seconds=<s> tokens_per_s=<number>`.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--layers", type=int, default=4)
parser.add_argument("--heads", type=int, default=4)
parser.add_argument("--channels", type=int, default=128)
parser.add_argument("--block", type=int, default=64)
parser.add_argument("--vocab", type=int, default=65)
parser.add_argument("--tokens", type=int, default=500)
parser.add_argument("--temperature", type=float, default=0.8)
parser.add_argument("--top-k", type=int, default=200)
parser.add_argument("--threads", type=int, default=1)
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(1337)


class Block(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.fc, self.out = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        c = args.channels
        self.wte, self.wpe = nn.Embedding(args.vocab, c), nn.Embedding(args.block, c)
        self.blocks = nn.ModuleList(Block(c, args.heads) for _ in range(args.layers))
        self.ln_f = nn.LayerNorm(c)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.blocks:
            x = block(x)
        return F.linear(self.ln_f(x[:, [-1], :]), self.wte.weight)  # nanoGPT: the last position only

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature, top_k):  # nanoGPT's, verbatim in substance
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= args.block else idx[:, -args.block:]
            logits = self(idx_cond)[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
        return idx


model = GPT().eval()
start = torch.zeros((1, 1), dtype=torch.long)
model.generate(start, 20, args.temperature, args.top_k)  # warm-up
began = time.perf_counter()
model.generate(start, args.tokens, args.temperature, args.top_k)
seconds = time.perf_counter() - began
print(f"torch {torch.__version__} nanoGPT generate layers={args.layers} channels={args.channels} block={args.block} "
      f"threads={args.threads} tokens={args.tokens} seconds={seconds:.3f} tokens_per_s={args.tokens / seconds:.0f}")
