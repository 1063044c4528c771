#!/usr/bin/env python3
"""Independent JAX (CPU, float32) replica of nanoGPT's train.py + model.py for the
"I only have a macbook" configuration, on the project's corpus.

Equivalent nanoGPT command:
  python train.py config/train_shakespeare_char.py --device=cpu --compile=False \
      --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 \
      --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0
(eval_iters is 200 here by default, as asked; pass --eval_iters 20 for the README's noisier estimate.)

What is replicated (nanoGPT master):
  * data: char vocabulary = sorted(set(text)); train = first 90%, val = last 10%.
  * get_batch: ix = randint(len(data) - block_size, (batch_size,)); x = data[i:i+T], y = data[i+1:i+1+T].
    One RNG stream for training and evaluation batches, consumed in nanoGPT's order (first train batch
    fetched before the loop; at each iteration: eval if iter % eval_interval == 0, forward on the
    current batch, fetch the next batch, backward, clip, step).
  * model: GPT with learned wte/wpe, pre-norm blocks x += attn(ln_1(x)); x += mlp(ln_2(x)); ln_f;
    lm_head tied to wte; causal attention scale 1/sqrt(head_size); exact GELU; LayerNorm eps 1e-5;
    bias=False by default (no Linear / LayerNorm biases; lm_head never has one).
  * init: Linear and Embedding weights N(0, 0.02); every '*.c_proj.weight' N(0, 0.02/sqrt(2*n_layer));
    LayerNorm weight 1, biases 0.
  * optimizer: torch.optim.AdamW semantics (decoupled decay p *= 1 - lr*wd; exp_avg.lerp_(g, 1-b1);
    exp_avg_sq = b2*v + (1-b2)*g*g; bias corrections computed in float64 on the host;
    denom = sqrt(v)/sqrt(1-b2^t) + eps; p -= (lr/(1-b1^t)) * m/denom), weight decay 0.1 on params with
    ndim >= 2, 0 otherwise; grad clipping as torch.nn.utils.clip_grad_norm_
    (coef = max_norm/(total_norm + 1e-6), clamped to 1).
  * lr: get_lr(it) = lr*(it+1)/(warmup+1) for it < warmup; min_lr past lr_decay_iters; cosine between.
  * loop: iterations 0..max_iters, eval every eval_interval *before* that iteration's update, so the
    "step 2000" eval sees the parameters after 2000 updates. nanoGPT then performs one extra update
    (iter 2000) that no printed number depends on; it is skipped here.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", False)


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/work/shared/data/shakespeare.txt")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--batch_size", type=int, default=12)
    p.add_argument("--block_size", type=int, default=64)
    p.add_argument("--n_layer", type=int, default=4)
    p.add_argument("--n_head", type=int, default=4)
    p.add_argument("--n_embd", type=int, default=128)
    p.add_argument("--bias", action="store_true", help="Linear and LayerNorm biases (nanoGPT --bias=True)")
    p.add_argument("--learning_rate", type=float, default=1e-3)
    p.add_argument("--min_lr", type=float, default=1e-4)
    p.add_argument("--max_iters", type=int, default=2000)
    p.add_argument("--lr_decay_iters", type=int, default=2000)
    p.add_argument("--warmup_iters", type=int, default=100)
    p.add_argument("--weight_decay", type=float, default=0.1)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--grad_clip", type=float, default=1.0)
    p.add_argument("--eval_interval", type=int, default=250)
    p.add_argument("--eval_iters", type=int, default=200)
    p.add_argument("--grad_norm_steps", default="0,100,200,500,900,1000,1500,1999")
    p.add_argument("--json_out", default=None, help="optional path for a JSON record (all grad norms, evals)")
    return p.parse_args()


# ----------------------------------------------------------------------------- data

def load_data(path):
    with open(path, "r") as f:
        text = f.read()
    chars = sorted(list(set(text)))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.uint16)
    n = len(data)
    train = data[: int(n * 0.9)].astype(np.int32)
    val = data[int(n * 0.9):].astype(np.int32)
    return train, val, len(chars)


class Batcher:
    """Single RNG stream shared by training and evaluation, like torch's global generator."""

    def __init__(self, train, val, B, T, seed):
        self.data = {"train": train, "val": val}
        self.B, self.T = B, T
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.offs = np.arange(T)

    def get_batch(self, split, nbatches=None):
        d = self.data[split]
        shape = (self.B,) if nbatches is None else (nbatches, self.B)
        ix = self.rng.integers(0, len(d) - self.T, size=shape)
        x = d[ix[..., None] + self.offs]
        y = d[ix[..., None] + 1 + self.offs]
        return x, y


# ----------------------------------------------------------------------------- model

def init_params(key, V, T, L, C, bias):
    std = 0.02
    proj_std = 0.02 / math.sqrt(2 * L)
    keys = iter(jax.random.split(key, 2 + 4 * L))
    nrm = lambda k, shape, s: (s * jax.random.normal(k, shape, dtype=jnp.float32))
    p = {
        "wte": nrm(next(keys), (V, C), std),   # tied with lm_head
        "wpe": nrm(next(keys), (T, C), std),
        "ln_f_w": jnp.ones((C,), jnp.float32),
        "blocks": [],
    }
    if bias:
        p["ln_f_b"] = jnp.zeros((C,), jnp.float32)
    for _ in range(L):
        b = {
            "ln_1_w": jnp.ones((C,), jnp.float32),
            "c_attn_w": nrm(next(keys), (3 * C, C), std),
            "attn_c_proj_w": nrm(next(keys), (C, C), proj_std),
            "ln_2_w": jnp.ones((C,), jnp.float32),
            "c_fc_w": nrm(next(keys), (4 * C, C), std),
            "mlp_c_proj_w": nrm(next(keys), (C, 4 * C), proj_std),
        }
        if bias:
            b.update({
                "ln_1_b": jnp.zeros((C,), jnp.float32),
                "c_attn_b": jnp.zeros((3 * C,), jnp.float32),
                "attn_c_proj_b": jnp.zeros((C,), jnp.float32),
                "ln_2_b": jnp.zeros((C,), jnp.float32),
                "c_fc_b": jnp.zeros((4 * C,), jnp.float32),
                "mlp_c_proj_b": jnp.zeros((C,), jnp.float32),
            })
        p["blocks"].append(b)
    return p


def layer_norm(x, w, b, eps=1e-5):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), axis=-1, keepdims=True)  # biased, as torch
    y = (x - mu) * jax.lax.rsqrt(var + eps) * w
    return y + b if b is not None else y


def linear(x, w, b):
    y = x @ w.T
    return y + b if b is not None else y


def forward_logits(p, idx, n_head):
    B, T = idx.shape
    C = p["wte"].shape[1]
    hs = C // n_head
    x = p["wte"][idx] + p["wpe"][:T][None]
    mask = jnp.tril(jnp.ones((T, T), dtype=bool))
    for b in p["blocks"]:
        h = layer_norm(x, b["ln_1_w"], b.get("ln_1_b"))
        qkv = linear(h, b["c_attn_w"], b.get("c_attn_b"))
        q, k, v = jnp.split(qkv, 3, axis=-1)
        q = q.reshape(B, T, n_head, hs).transpose(0, 2, 1, 3)
        k = k.reshape(B, T, n_head, hs).transpose(0, 2, 1, 3)
        v = v.reshape(B, T, n_head, hs).transpose(0, 2, 1, 3)
        att = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(hs))
        att = jnp.where(mask, att, -jnp.inf)
        att = jax.nn.softmax(att, axis=-1)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        x = x + linear(y, b["attn_c_proj_w"], b.get("attn_c_proj_b"))
        h = layer_norm(x, b["ln_2_w"], b.get("ln_2_b"))
        h = jax.nn.gelu(linear(h, b["c_fc_w"], b.get("c_fc_b")), approximate=False)
        x = x + linear(h, b["mlp_c_proj_w"], b.get("mlp_c_proj_b"))
    x = layer_norm(x, p["ln_f_w"], p.get("ln_f_b"))
    return x @ p["wte"].T  # tied lm_head, no bias


def token_losses(p, x, y, n_head):
    logits = forward_logits(p, x, n_head)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, y[..., None], axis=-1)[..., 0]


def loss_fn(p, x, y, n_head):
    return jnp.mean(token_losses(p, x, y, n_head))


# ----------------------------------------------------------------------------- optimizer

def make_train_step(n_head, args, wd_mask):
    b1, b2, eps, wd, clip = args.beta1, args.beta2, args.eps, args.weight_decay, args.grad_clip

    @jax.jit
    def step(p, m, v, x, y, lr, step_size, bc2_sqrt):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y, n_head)
        leaves = jax.tree.leaves(g)
        total_norm = jnp.sqrt(sum(jnp.sum(jnp.square(l)) for l in leaves))
        if clip > 0:
            coef = jnp.minimum(clip / (total_norm + 1e-6), 1.0)
            g = jax.tree.map(lambda t: t * coef, g)

        def upd(pp, gg, mm, vv, decay):
            if decay:
                pp = pp * (1.0 - lr * wd)
            mm = mm + (gg - mm) * (1.0 - b1)           # lerp_
            vv = vv * b2 + (1.0 - b2) * gg * gg        # mul_ + addcmul_
            denom = jnp.sqrt(vv) / bc2_sqrt + eps
            pp = pp - step_size * (mm / denom)         # addcdiv_(value=-step_size)
            return pp, mm, vv

        out = jax.tree.map(upd, p, g, m, v, wd_mask)
        is_tuple = lambda t: isinstance(t, tuple)
        newp = jax.tree.map(lambda t: t[0], out, is_leaf=is_tuple)
        newm = jax.tree.map(lambda t: t[1], out, is_leaf=is_tuple)
        newv = jax.tree.map(lambda t: t[2], out, is_leaf=is_tuple)
        return newp, newm, newv, loss, total_norm

    return step


def get_lr(it, a):
    if it < a.warmup_iters:
        return a.learning_rate * (it + 1) / (a.warmup_iters + 1)
    if it > a.lr_decay_iters:
        return a.min_lr
    decay_ratio = (it - a.warmup_iters) / (a.lr_decay_iters - a.warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return a.min_lr + coeff * (a.learning_rate - a.min_lr)


# ----------------------------------------------------------------------------- main

def main():
    a = parse_args()
    train, val, V = load_data(a.data)
    print(f"jax {jax.__version__} devices {jax.devices()}  cpu_count {os.cpu_count()}")
    print(f"vocab {V}  train {len(train)} chars  val {len(val)} chars  seed {a.seed}  bias {a.bias}")

    params = init_params(jax.random.key(a.seed), V, a.block_size, a.n_layer, a.n_embd, a.bias)
    wd_mask = jax.tree.map(lambda t: t.ndim >= 2, params)
    n_all = sum(int(t.size) for t in jax.tree.leaves(params))
    n_decay = sum(int(t.size) for t, d in zip(jax.tree.leaves(params), jax.tree.leaves(wd_mask)) if d)
    print(f"params {n_all} (nanoGPT-style count without wpe: {(n_all - params['wpe'].size)/1e6:.2f}M); "
          f"decayed {n_decay}, not decayed {n_all - n_decay}")

    m = jax.tree.map(jnp.zeros_like, params)
    v = jax.tree.map(jnp.zeros_like, params)
    train_step = make_train_step(a.n_head, a, wd_mask)

    @jax.jit
    def eval_many(p, x, y):  # x: [N, B, T] -> per-batch mean losses [N]
        N, B, T = x.shape
        tl = token_losses(p, x.reshape(N * B, T), y.reshape(N * B, T), a.n_head)
        return jnp.mean(tl.reshape(N, B * T), axis=1)

    def estimate_loss(p):
        out = {}
        for split in ("train", "val"):
            x, y = bat.get_batch(split, nbatches=a.eval_iters)
            out[split] = float(np.mean(np.asarray(eval_many(p, jnp.asarray(x), jnp.asarray(y)))))
        return out

    def full_val_loss(p):
        T = a.block_size
        nw = (len(val) - 1) // T
        x = val[: nw * T].reshape(nw, T)
        y = val[1: nw * T + 1].reshape(nw, T)
        tot, cnt = 0.0, 0
        f = jax.jit(lambda p, x, y: jnp.sum(token_losses(p, x, y, a.n_head)))
        for s in range(0, nw, 256):
            xs, ys = x[s:s + 256], y[s:s + 256]
            tot += float(f(p, jnp.asarray(xs), jnp.asarray(ys)))
            cnt += xs.size
        return tot / cnt, cnt

    bat = Batcher(train, val, a.batch_size, a.block_size, a.seed)
    gn_steps = set(int(s) for s in a.grad_norm_steps.split(","))
    grad_norms, evals = [], []

    t_start = time.time()
    X, Y = bat.get_batch("train")
    it = 0
    t_eval = 0.0
    while True:
        lr = get_lr(it, a)
        if it % a.eval_interval == 0:
            te = time.time()
            losses = estimate_loss(params)
            t_eval += time.time() - te
            evals.append({"step": it, **losses})
            print(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}  "
                  f"(elapsed {time.time() - t_start:.1f}s)", flush=True)
        if it >= a.max_iters:
            break  # nanoGPT would do one more (unevaluated) update here
        t = it + 1
        step_size = lr / (1.0 - a.beta1 ** t)
        bc2_sqrt = math.sqrt(1.0 - a.beta2 ** t)
        xj, yj = jnp.asarray(X), jnp.asarray(Y)
        X, Y = bat.get_batch("train")  # prefetch, same order as nanoGPT
        params, m, v, loss, gn = train_step(params, m, v, xj, yj,
                                            jnp.float32(lr), jnp.float32(step_size), jnp.float32(bc2_sqrt))
        gn = float(gn)
        grad_norms.append(gn)
        if it in gn_steps:
            print(f"iter {it}: loss {float(loss):.4f}, grad norm (pre-clip) {gn:.3f}, lr {lr:.3e}", flush=True)
        it += 1
    t_train = time.time() - t_start

    final = evals[-1]
    fv, ntok = full_val_loss(params)
    t_total = time.time() - t_start

    g = np.array(grad_norms)
    print("grad-norm summary per window (pre-clip): [start,end) median  p10  p90  frac>clip")
    for s in range(0, len(g), 250):
        w = g[s:s + 250]
        print(f"  [{s:4d},{s + len(w):4d})  {np.median(w):6.3f} {np.percentile(w, 10):6.3f} "
              f"{np.percentile(w, 90):6.3f}  {np.mean(w > a.grad_clip):.2f}")
    print(f"FINAL seed={a.seed} bias={a.bias}: (a) estimate_loss[{a.eval_iters} batches] "
          f"train {final['train']:.4f} val {final['val']:.4f} | (b) full val split, {ntok} tokens in "
          f"non-overlapping windows of {a.block_size}: {fv:.4f} | wall {t_total:.1f}s "
          f"(train loop incl. evals {t_train:.1f}s, of which evals {t_eval:.1f}s)")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"args": vars(a), "evals": evals, "grad_norms": grad_norms,
                       "full_val": fv, "wall_s": t_total}, f)


if __name__ == "__main__":
    main()
