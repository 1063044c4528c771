#!/usr/bin/env python3
"""Independent float64 reference for two pre-norm Transformer blocks.

What it computes
----------------
* ``causal_block`` -- pre-norm GPT block (B=2, T=5, C=8, NH=2, FF=32):
      h   = x + attention(norm1(x))                      # causal self-attention
      out = h + linear2(gelu_tanh(linear1(norm2(h))))
* ``cross_block`` -- pre-norm decoder cross-attention block
  (B=2, Tq=4, Tk=6, C=8, NH=2, FF=32):
      h   = x + attention(query=norm1(x), key/value=memory, key_mask, query_mask)
      out = h + linear2(relu(linear1(norm2(h))))

Conventions: Linear is PyTorch style (weight [out, in], y = x @ W.T + b);
LayerNorm over the last dim with biased variance, eps = 1e-5; head h uses
columns h*HS:(h+1)*HS, scores scaled by 1/sqrt(HS); masked scores are set to
-inf before the softmax; key_mask[b, j] == 0 hides key j; query_mask[b, i] == 0
zeroes the (pre output projection) attention output row i, done by
multiplication; causal means query i sees keys 0..i.

The scalar loss is L = sum(output * upstream_gradient), so every stored
gradient is dL/d(thing).  Gradients come from JAX autodiff (jax.vjp), never
hand-derived.  All inputs/parameters/upstream gradients are drawn in float64
with np.random.default_rng(1234) and rounded to float32 (then kept as float64)
so float32 code sees identical values; all math is float64 (jax_enable_x64).
The script also checks a few gradient entries by central finite differences
and asserts that nothing is NaN.

How to run
----------
    cd Tests/TrainerKitTests/Fixtures && python3 make_reference.py

It rewrites ``reference_blocks.h5`` next to this script.

Versions used to generate the committed fixture (also printed and stored in
the root attribute ``versions``):
    python 3.11.7, jax 0.10.2, jaxlib 0.10.2, numpy 2.4.6, h5py 3.16.0
    (h5py's bundled HDF5 2.0.0)

File format choices: written with libver=("v108", "v110") so HDF5 1.10
(the system libhdf5) reads it; every dataset uses COMPACT layout (keeps the
file small); string attributes are fixed-length ASCII (not variable-length);
integer attributes are int64 scalars, epsilon is a float64 scalar.
"""

import os
import platform
import sys

import h5py
import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")

EPS = 1e-5
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "reference_blocks.h5")

VERSIONS = (
    f"python {platform.python_version()}, jax {jax.__version__}, "
    f"jaxlib {jaxlib.__version__}, numpy {np.__version__}, "
    f"h5py {h5py.__version__}, hdf5 {h5py.version.hdf5_version}"
)

# Parameter names in a fixed order (this is also the order values are drawn in).
PARAM_NAMES = [
    "norm1/weight", "norm1/bias",
    "attention/query/weight", "attention/query/bias",
    "attention/key/weight", "attention/key/bias",
    "attention/value/weight", "attention/value/bias",
    "attention/output/weight", "attention/output/bias",
    "norm2/weight", "norm2/bias",
    "feed_forward/linear1/weight", "feed_forward/linear1/bias",
    "feed_forward/linear2/weight", "feed_forward/linear2/bias",
]


def f32(a):
    """Round float64 values to float32 and back to float64."""
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


def param_shape(name, C, FF):
    if name.startswith("norm"):
        return (C,)
    if name.startswith("attention/"):
        return (C, C) if name.endswith("weight") else (C,)
    if name == "feed_forward/linear1/weight":
        return (FF, C)
    if name == "feed_forward/linear1/bias":
        return (FF,)
    if name == "feed_forward/linear2/weight":
        return (C, FF)
    if name == "feed_forward/linear2/bias":
        return (C,)
    raise KeyError(name)


def make_params(rng, C, FF):
    params = {}
    for name in PARAM_NAMES:
        shape = param_shape(name, C, FF)
        if name.startswith("norm") and name.endswith("weight"):
            value = 1.0 + rng.normal(0.0, 0.1, size=shape)
        elif name.startswith("norm") and name.endswith("bias"):
            value = rng.normal(0.0, 0.1, size=shape)
        else:
            value = rng.normal(0.0, 0.3, size=shape)
        params[name] = f32(value)
    return params


# ---------------------------------------------------------------- model pieces

def linear(x, w, b):
    return x @ w.T + b


def layer_norm(x, w, b):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)  # biased
    return (x - mean) / jnp.sqrt(var + EPS) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + jnp.tanh(jnp.sqrt(2.0 / jnp.pi) * (x + 0.044715 * x ** 3)))


def relu(x):
    return jnp.maximum(x, 0.0)


def attention(p, xq, xkv, heads, causal, key_mask=None, query_mask=None):
    """Returns (output, probabilities[B, NH, Tq, Tk])."""
    B, Tq, C = xq.shape
    Tk = xkv.shape[1]
    HS = C // heads
    q = linear(xq, p["attention/query/weight"], p["attention/query/bias"])
    k = linear(xkv, p["attention/key/weight"], p["attention/key/bias"])
    v = linear(xkv, p["attention/value/weight"], p["attention/value/bias"])

    # visible[b, i, j]: may query i of sequence b attend to key j?
    visible = jnp.ones((B, Tq, Tk), dtype=bool)
    if causal:
        visible = visible & (jnp.arange(Tk)[None, :] <= jnp.arange(Tq)[:, None])[None]
    if key_mask is not None:
        visible = visible & (key_mask[:, None, :] != 0)

    head_outputs, head_probs = [], []
    for h in range(heads):
        cols = slice(h * HS, (h + 1) * HS)
        qh, kh, vh = q[..., cols], k[..., cols], v[..., cols]
        scores = jnp.einsum("bid,bjd->bij", qh, kh) / jnp.sqrt(float(HS))
        scores = jnp.where(visible, scores, -jnp.inf)
        probs = jax.nn.softmax(scores, axis=-1)
        out_h = jnp.einsum("bij,bjd->bid", probs, vh)
        if query_mask is not None:
            qm = query_mask.astype(out_h.dtype)
            out_h = out_h * qm[:, :, None]
            probs = probs * qm[:, :, None]  # only for the stored intermediate
        head_outputs.append(out_h)
        head_probs.append(probs)
    concat = jnp.concatenate(head_outputs, axis=-1)
    out = linear(concat, p["attention/output/weight"], p["attention/output/bias"])
    return out, jnp.stack(head_probs, axis=1)


def block(p, x, memory, heads, causal, activation, key_mask=None, query_mask=None):
    n1 = layer_norm(x, p["norm1/weight"], p["norm1/bias"])
    kv = n1 if memory is None else memory
    att, probs = attention(p, n1, kv, heads, causal, key_mask, query_mask)
    h = x + att
    n2 = layer_norm(h, p["norm2/weight"], p["norm2/bias"])
    act = gelu_tanh if activation == "gelu_tanh" else relu
    ff = linear(act(linear(n2, p["feed_forward/linear1/weight"], p["feed_forward/linear1/bias"])),
                p["feed_forward/linear2/weight"], p["feed_forward/linear2/bias"])
    return h + ff, probs


# ---------------------------------------------------------------- generation

def run_block(rng, name, B, Tq, Tk, C, NH, FF, causal, activation,
              with_memory, key_mask=None, query_mask=None):
    params = make_params(rng, C, FF)
    x = f32(rng.normal(0.0, 1.0, size=(B, Tq, C)))
    memory = f32(rng.normal(0.0, 1.0, size=(B, Tk, C))) if with_memory else None
    G = f32(rng.normal(0.0, 1.0, size=(B, Tq, C)))

    km = None if key_mask is None else jnp.asarray(key_mask)
    qm = None if query_mask is None else jnp.asarray(query_mask)

    def forward(p, x, mem):
        return block(p, x, mem, NH, causal, activation, km, qm)

    jp = {k: jnp.asarray(v) for k, v in params.items()}
    jx = jnp.asarray(x)
    jmem = None if memory is None else jnp.asarray(memory)

    if with_memory:
        (out, probs), vjp = jax.vjp(lambda p, x, m: forward(p, x, m), jp, jx, jmem)
        gp, gx, gmem = vjp((jnp.asarray(G), jnp.zeros_like(probs)))
    else:
        (out, probs), vjp = jax.vjp(lambda p, x: forward(p, x, None), jp, jx)
        gp, gx = vjp((jnp.asarray(G), jnp.zeros_like(probs)))
        gmem = None

    # Independent check that vjp with cotangent G == jax.grad of the scalar loss.
    def loss(p, x, mem):
        return jnp.sum(forward(p, x, mem)[0] * G)

    if with_memory:
        gp2, gx2, gmem2 = jax.grad(loss, argnums=(0, 1, 2))(jp, jx, jmem)
        assert np.allclose(gmem2, gmem, rtol=0, atol=1e-14)
    else:
        gp2, gx2 = jax.grad(lambda p, x: loss(p, x, None), argnums=(0, 1))(jp, jx)
    assert np.allclose(gx2, gx, rtol=0, atol=1e-14)
    for k in PARAM_NAMES:
        assert np.allclose(gp2[k], gp[k], rtol=0, atol=1e-14)

    # Finite-difference sanity checks (central differences, float64).
    h = 1e-6

    def fd(perturb):
        plus_p, plus_x, plus_m = perturb(+h)
        minus_p, minus_x, minus_m = perturb(-h)
        return (float(loss(plus_p, plus_x, plus_m)) - float(loss(minus_p, minus_x, minus_m))) / (2 * h)

    def bump_param(pname, idx):
        def f(d):
            q = dict(jp)
            q[pname] = jp[pname].at[idx].add(d)
            return q, jx, jmem
        return f

    def bump_x(idx):
        def f(d):
            return jp, jx.at[idx].add(d), jmem
        return f

    def bump_mem(idx):
        def f(d):
            return jp, jx, jmem.at[idx].add(d)
        return f

    checks = [
        ("grads/x[1,2,3]", bump_x((1, 2, 3)), float(gx[1, 2, 3])),
        ("grads/attention/query/weight[1,5]", bump_param("attention/query/weight", (1, 5)),
         float(gp["attention/query/weight"][1, 5])),
        ("grads/norm1/weight[2]", bump_param("norm1/weight", (2,)), float(gp["norm1/weight"][2])),
        ("grads/feed_forward/linear1/bias[7]", bump_param("feed_forward/linear1/bias", (7,)),
         float(gp["feed_forward/linear1/bias"][7])),
    ]
    if with_memory:
        checks.append(("grads/memory[1,2,4]", bump_mem((1, 2, 4)), float(gmem[1, 2, 4])))
        checks.append(("grads/memory[1,5,0] (masked key)", bump_mem((1, 5, 0)), float(gmem[1, 5, 0])))
    print(f"[{name}] finite-difference checks (h={h}):")
    for label, perturb, ad in checks:
        num = fd(perturb)
        err = abs(num - ad)
        print(f"    {label:40s} autodiff={ad:+.12e} fd={num:+.12e} abs_err={err:.2e}")
        assert err < 1e-7 * max(1.0, abs(ad)), (label, ad, num)

    result = {
        "params": params,
        "x": x,
        "memory": memory,
        "G": G,
        "output": np.asarray(out),
        "probs": np.asarray(probs),
        "grads": {k: np.asarray(v) for k, v in gp.items()},
        "grad_x": np.asarray(gx),
        "grad_memory": None if gmem is None else np.asarray(gmem),
    }

    # NaN / inf checks.
    arrays = [result["output"], result["probs"], result["grad_x"]] + list(result["grads"].values())
    if gmem is not None:
        arrays.append(result["grad_memory"])
    assert all(np.all(np.isfinite(a)) for a in arrays), "NaN/inf in outputs or gradients"
    print(f"[{name}] no NaN/inf in output, probabilities or gradients; "
          f"|output|max={np.abs(result['output']).max():.4f}")
    return result


def _create_compact(group, path, data):
    """Small dataset with COMPACT layout (data stored in the object header)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    return h5py.Group.create_dataset(group, path, data=data, dcpl=dcpl)


def fixed_string(s):
    """Fixed-length ASCII string attribute value (H5T_STRING, not variable-length)."""
    return np.bytes_(s.encode("ascii"))


def write_block(f, name, res, B, Tq, Tk, C, NH, FF, causal, activation,
                key_mask=None, query_mask=None):
    g = f.create_group(name)
    for attr, val in [("batch", B), ("query_length", Tq), ("key_length", Tk),
                      ("channels", C), ("heads", NH), ("feed_forward", FF)]:
        g.attrs.create(attr, np.int64(val), dtype=np.int64)
    g.attrs["activation"] = fixed_string(activation)
    g.attrs["causal"] = fixed_string("true" if causal else "false")
    g.attrs.create("epsilon", np.float64(EPS), dtype=np.float64)

    f64 = lambda a: np.asarray(a, dtype=np.float64)
    _create_compact(g, "inputs/x", data=f64(res["x"]))
    if res["memory"] is not None:
        _create_compact(g, "inputs/memory", data=f64(res["memory"]))
    if key_mask is not None:
        _create_compact(g, "inputs/key_mask", data=np.asarray(key_mask, dtype=np.uint8))
    if query_mask is not None:
        _create_compact(g, "inputs/query_mask", data=np.asarray(query_mask, dtype=np.uint8))
    _create_compact(g, "upstream_gradient", data=f64(res["G"]))
    _create_compact(g, "output", data=f64(res["output"]))
    _create_compact(g, "intermediate/attention_probabilities", data=f64(res["probs"]))
    for pname in PARAM_NAMES:
        _create_compact(g, f"params/{pname}", data=f64(res["params"][pname]))
        _create_compact(g, f"grads/{pname}", data=f64(res["grads"][pname]))
    _create_compact(g, "grads/x", data=f64(res["grad_x"]))
    if res["grad_memory"] is not None:
        _create_compact(g, "grads/memory", data=f64(res["grad_memory"]))


def main():
    print("versions:", VERSIONS)
    rng = np.random.default_rng(1234)

    causal_cfg = dict(B=2, Tq=5, Tk=5, C=8, NH=2, FF=32, causal=True, activation="gelu_tanh")
    causal_res = run_block(rng, "causal_block", with_memory=False, **causal_cfg)

    key_mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=np.uint8)
    query_mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=np.uint8)
    cross_cfg = dict(B=2, Tq=4, Tk=6, C=8, NH=2, FF=32, causal=False, activation="relu")
    cross_res = run_block(rng, "cross_block", with_memory=True,
                          key_mask=key_mask, query_mask=query_mask, **cross_cfg)

    # Structural sanity checks on the masked block.
    p = cross_res["probs"]
    assert np.all(p[1, :, :, 4:] == 0.0), "masked keys must get probability 0"
    assert np.all(p[1, :, 3, :] == 0.0), "padded query rows must be all 0"
    assert np.all(cross_res["grad_memory"][1, 4:] == 0.0), "masked memory rows get no gradient"
    assert np.all(causal_res["probs"][:, :, np.triu_indices(5, 1)[0], np.triu_indices(5, 1)[1]] == 0.0)

    if os.path.exists(OUT_PATH):
        os.remove(OUT_PATH)
    with h5py.File(OUT_PATH, "w", libver=("v108", "v110")) as f:
        f.attrs["generator"] = fixed_string("make_reference.py")
        f.attrs["versions"] = fixed_string(VERSIONS)
        write_block(f, "causal_block", causal_res, **causal_cfg)
        write_block(f, "cross_block", cross_res, key_mask=key_mask, query_mask=query_mask, **cross_cfg)
    print(f"wrote {OUT_PATH} ({os.path.getsize(OUT_PATH)} bytes)")


if __name__ == "__main__":
    sys.exit(main())
