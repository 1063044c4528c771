#!/usr/bin/env python3
"""PyTorch's side of launch/bench-vs-pytorch.sh: the trainer's GPT (configs/gpt-full.yaml) trained
with PyTorch on the CPU, printing tokens/s of whole optimizer steps.

The model is the trainer's, written the nanoGPT way: learned token and position embeddings,
dropout, pre-norm blocks (LayerNorm, causal self-attention with a fused q|k|v Linear and
scaled_dot_product_attention, output Linear, LayerNorm, Linear 4C, exact GELU, Linear C), biases
everywhere, dropout on the embeddings, the attention probabilities and both residual branches, a
final LayerNorm and an LM head tied to the token embedding. A step is what the trainer's is:
`batch` sequences in micro-batches of `micro_batch`, gradients accumulated, clipped to norm 1,
AdamW (decay 0.1 on matrices). Tokens are uniformly random (vocabulary 65), as in `trainer bench
step`. `--bf16` runs the forward under `torch.autocast("cpu", torch.bfloat16)`, the speed mode a
PyTorch user would pick. `--ranks N` runs N processes with DistributedDataParallel (gloo), each
doing its share of the micro-batches, like `mpirun -np N trainer`.

Prints one line: `torch <version> ... tokens_per_s=<number> steps_total_s=<number>` (tokens/s of the
best step; the seconds of all timed steps, e.g. `--steps 2000` for a whole nanoGPT CPU run).
"""
import argparse
import contextlib
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--layers", type=int, default=6)
parser.add_argument("--heads", type=int, default=6)
parser.add_argument("--channels", type=int, default=384)
parser.add_argument("--block", type=int, default=256)
parser.add_argument("--vocab", type=int, default=65)
parser.add_argument("--dropout", type=float, default=0.2)
parser.add_argument("--batch", type=int, default=64, help="sequences per optimizer step, over all ranks")
parser.add_argument("--micro-batch", type=int, default=8, help="sequences per forward/backward")
parser.add_argument("--steps", type=int, default=2, help="timed steps (the best is reported)")
parser.add_argument("--threads", type=int, default=1, help="threads per process")
parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
parser.add_argument("--ranks", type=int, default=1, help="processes (DistributedDataParallel over gloo)")
args = parser.parse_args()


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        C = args.channels
        self.norm1, self.norm2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc1, self.fc2 = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
        self.drop = nn.Dropout(args.dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, args.heads, C // args.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=args.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(y.transpose(1, 2).contiguous().view(B, T, C)))
        return x + self.drop(self.fc2(F.gelu(self.fc1(self.norm2(x)))))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(args.vocab, args.channels)
        self.positions = nn.Embedding(args.block, args.channels)
        self.drop = nn.Dropout(args.dropout)
        self.blocks = nn.Sequential(*[Block() for _ in range(args.layers)])
        self.norm = nn.LayerNorm(args.channels)
        self.head = nn.Linear(args.channels, args.vocab, bias=False)
        self.head.weight = self.tokens.weight  # tied, as the trainer's tie_embeddings

    def forward(self, idx, targets):
        x = self.drop(self.tokens(idx) + self.positions(torch.arange(idx.shape[1])))
        logits = self.head(self.norm(self.blocks(x)))
        return F.cross_entropy(logits.view(-1, args.vocab).float(), targets.view(-1))


def run(rank, world):
    torch.set_num_threads(args.threads)
    if world > 1:
        import torch.distributed as dist
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29517")
        dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(1337)
    model = GPT()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=1e-3, betas=(0.9, 0.99))
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    micro_batches = args.batch // args.micro_batch // world
    generator = torch.Generator().manual_seed(rank)

    def step():
        for i in range(micro_batches):
            idx = torch.randint(0, args.vocab, (args.micro_batch, args.block), generator=generator)
            targets = torch.randint(0, args.vocab, (args.micro_batch, args.block), generator=generator)
            last = i == micro_batches - 1
            sync = model.no_sync() if world > 1 and not last else contextlib.nullcontext()  # all-reduce once per step
            with sync:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                    loss = model(idx, targets) / micro_batches
                loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up
    best, total = float("inf"), 0.0
    for _ in range(args.steps):
        if world > 1:
            dist.barrier()
        start = time.perf_counter()
        step()
        if world > 1:
            dist.barrier()
        best = min(best, time.perf_counter() - start)
        total += time.perf_counter() - start
    if rank == 0:
        parameters = sum(p.numel() for p in model.parameters())
        print(f"torch {torch.__version__} parameters={parameters} ranks={world} threads={args.threads} "
              f"bf16={args.bf16} step_ms={best * 1e3:.1f} tokens_per_s={args.batch * args.block / best:.0f} "
              f"steps_total_s={total:.1f}", flush=True)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    if args.ranks > 1:
        import torch.multiprocessing as mp
        mp.spawn(run, args=(args.ranks,), nprocs=args.ranks)
    else:
        run(0, 1)
