#!/usr/bin/env python3
"""Independent reference for a whole training run: 10 AdamW steps of a tiny GPT, in JAX (float64).

What it computes
----------------
A nanoGPT-style GPT (token + learned position embeddings, 2 pre-norm blocks with causal
self-attention and an exact-GELU MLP, final layer norm, LM head tied to the token embedding, biases
everywhere) trained for 10 steps on fixed random batches. Each step has 2 micro-batches of 2
sequences; the step's gradient is the mean over all 4 x 8 target tokens. Then global gradient-norm
clipping (PyTorch clip_grad_norm_), then torch.optim.AdamW (decoupled weight decay on 2-D tensors
only, bias-corrected moments), with nanoGPT's learning-rate schedule (linear warm-up, cosine decay).
Gradients come from JAX autodiff. All inputs are rounded to float32; the math is float64.

It writes trajectory.h5 next to itself:
  attrs: vocabulary, positions, channels, heads, layers, feed_forward, micro_batches, sequences,
         steps, lr, min_lr, warmup, decay_steps, beta1, beta2, eps, weight_decay, grad_clip
  /init/<name>       initial parameters, the trainer's names (PyTorch paths with '/')
  /inputs, /targets  int32 [steps, micro_batches, sequences, positions]
  /losses            float64 [steps]  mean loss of each step (before its update)
  /grad_norms        float64 [steps]  global gradient norm before clipping
  /final/<name>      parameters after the last update

Run: python3 make_trajectory.py   (JAX CPU; versions are printed and stored in the attribute `versions`)
"""
import math, os
import numpy as np, h5py
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)

V, T, C, NH, L, FF = 13, 8, 16, 2, 2, 64
MICRO, SEQ, STEPS = 2, 2, 10
LR, MIN_LR, WARMUP, DECAY = 1e-2, 1e-3, 3, 10
B1, B2, EPS, WD, CLIP = 0.9, 0.99, 1e-8, 0.1, 1.0
rng = np.random.default_rng(2024)
f32 = lambda a: np.asarray(a, np.float32).astype(np.float64)

names = ["token_embedding/weight", "position_embedding/weight"]
shapes = {"token_embedding/weight": (V, C), "position_embedding/weight": (T, C)}
for l in range(L):
    p = f"blocks/{l}/"
    for n, s in [("norm1/weight", (C,)), ("norm1/bias", (C,))] + \
                [(f"attention/{k}/weight", (C, C)) for k in ("query", "key", "value", "output")] + \
                [(f"attention/{k}/bias", (C,)) for k in ("query", "key", "value", "output")] + \
                [("norm2/weight", (C,)), ("norm2/bias", (C,)), ("feed_forward/linear1/weight", (FF, C)),
                 ("feed_forward/linear1/bias", (FF,)), ("feed_forward/linear2/weight", (C, FF)),
                 ("feed_forward/linear2/bias", (C,))]:
        names.append(p + n); shapes[p + n] = s
names += ["final_norm/weight", "final_norm/bias"]
shapes["final_norm/weight"] = shapes["final_norm/bias"] = (C,)

init = {}
for n in names:
    if "norm" in n and n.endswith("weight"):
        init[n] = f32(1 + 0.1 * rng.standard_normal(shapes[n]))
    else:
        init[n] = f32(0.2 * rng.standard_normal(shapes[n]))

# Structured random data: mostly "next = previous + 1 mod V", sometimes a random token.
seqs = np.zeros((STEPS, MICRO, SEQ, T + 1), np.int32)
for idx in np.ndindex(STEPS, MICRO, SEQ):
    t = rng.integers(V)
    for j in range(T + 1):
        seqs[idx + (j,)] = t
        t = (t + 1) % V if rng.random() < 0.8 else rng.integers(V)
inputs, targets = seqs[..., :-1], seqs[..., 1:]

def layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True); var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + 1e-5) * w + b

def loss_sum(p, x, y):
    hs = C // NH
    h = p["token_embedding/weight"][x] + p["position_embedding/weight"][:T][None]
    mask = jnp.tril(jnp.ones((T, T), bool))
    for l in range(L):
        g = lambda n: p[f"blocks/{l}/" + n]
        a = layer_norm(h, g("norm1/weight"), g("norm1/bias"))
        q, k, v = [(a @ g(f"attention/{n}/weight").T + g(f"attention/{n}/bias")).reshape(x.shape[0], T, NH, hs).transpose(0, 2, 1, 3)
                   for n in ("query", "key", "value")]
        att = jnp.where(mask, q @ k.transpose(0, 1, 3, 2) / math.sqrt(hs), -jnp.inf)
        y_ = (jax.nn.softmax(att, -1) @ v).transpose(0, 2, 1, 3).reshape(x.shape[0], T, C)
        h = h + y_ @ g("attention/output/weight").T + g("attention/output/bias")
        a = layer_norm(h, g("norm2/weight"), g("norm2/bias"))
        m = jax.nn.gelu(a @ g("feed_forward/linear1/weight").T + g("feed_forward/linear1/bias"), approximate=False)
        h = h + m @ g("feed_forward/linear2/weight").T + g("feed_forward/linear2/bias")
    h = layer_norm(h, p["final_norm/weight"], p["final_norm/bias"])
    logp = jax.nn.log_softmax(h @ p["token_embedding/weight"].T, -1)
    return -jnp.take_along_axis(logp, y[..., None], -1).sum()

grad_fn = jax.jit(jax.value_and_grad(loss_sum))

def lr_at(it):
    if it < WARMUP: return LR * (it + 1) / (WARMUP + 1)
    if it > DECAY: return MIN_LR
    return MIN_LR + 0.5 * (1 + math.cos(math.pi * (it - WARMUP) / (DECAY - WARMUP))) * (LR - MIN_LR)

p = {n: jnp.asarray(init[n]) for n in names}
m = {n: jnp.zeros(shapes[n]) for n in names}; v = {n: jnp.zeros(shapes[n]) for n in names}
losses, norms = [], []
for it in range(STEPS):
    total, grads = 0.0, {n: jnp.zeros(shapes[n]) for n in names}
    for mb in range(MICRO):
        s, g = grad_fn(p, jnp.asarray(inputs[it, mb]), jnp.asarray(targets[it, mb]))
        total += float(s); grads = {n: grads[n] + g[n] for n in names}
    count = MICRO * SEQ * T
    grads = {n: grads[n] / count for n in names}
    norm = math.sqrt(sum(float((grads[n] ** 2).sum()) for n in names))
    losses.append(total / count); norms.append(norm)
    coef = min(CLIP / (norm + 1e-6), 1.0)
    lr, t = lr_at(it), it + 1
    for n in names:
        g = grads[n] * coef
        if len(shapes[n]) >= 2: p[n] = p[n] * (1 - lr * WD)
        m[n] = B1 * m[n] + (1 - B1) * g
        v[n] = B2 * v[n] + (1 - B2) * g * g
        p[n] = p[n] - (lr / (1 - B1 ** t)) * m[n] / (jnp.sqrt(v[n]) / math.sqrt(1 - B2 ** t) + EPS)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trajectory.h5")
with h5py.File(out, "w", libver=("v108", "v110")) as f:
    for k, val in dict(vocabulary=V, positions=T, channels=C, heads=NH, layers=L, feed_forward=FF,
                       micro_batches=MICRO, sequences=SEQ, steps=STEPS, warmup=WARMUP, decay_steps=DECAY).items():
        f.attrs[k] = np.int64(val)
    for k, val in dict(lr=LR, min_lr=MIN_LR, beta1=B1, beta2=B2, eps=EPS, weight_decay=WD, grad_clip=CLIP).items():
        f.attrs[k] = np.float64(val)
    versions = f"jax {jax.__version__}, numpy {np.__version__}, h5py {h5py.__version__}"
    f.attrs["versions"] = versions; f.attrs["generator"] = "make_trajectory.py"
    for n in names:
        f.create_dataset("init/" + n, data=init[n])
        f.create_dataset("final/" + n, data=np.asarray(p[n]))
    f.create_dataset("inputs", data=inputs); f.create_dataset("targets", data=targets)
    f.create_dataset("losses", data=np.array(losses)); f.create_dataset("grad_norms", data=np.array(norms))
print(versions)
print("losses", np.round(losses, 4))
print("grad norms", np.round(norms, 4), "(clipped when > 1)")
