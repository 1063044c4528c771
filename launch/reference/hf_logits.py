#!/usr/bin/env python3
"""The Hugging Face side of Tests/TrainerKitTests/Export/HuggingFaceExportTests.swift: loads what
`trainer export` wrote with the Hugging Face libraries themselves and reports what they compute, for
the test to compare with the trainer's own numbers.

    hf_logits.py REQUEST.json  ->  one JSON object on standard output

The request names:
- `gpt2_folder`: an export with `--names huggingface-gpt2`, and `tokens` (B lists of T ids). The
  folder is loaded with `transformers.GPT2LMHeadModel.from_pretrained` in float32 (eager attention,
  eval mode) and run on the tokens: `logits` (B, T, V) and the loading report (missing or
  unexpected keys) come back, with `model.safetensors`' metadata as `safetensors.safe_open` reads it.
- `trainer_file`: a `model.safetensors` with the trainer's names; every tensor comes back, read by
  `safetensors.numpy.load_file`, as `{name: {"shape": [...], "values": [...]}}` (float32 values,
  which JSON carries exactly).
- `tokenizers`: a list of `{"folder": ..., "texts": [...]}`; for each, the ids of every text from
  `tokenizers.Tokenizer.from_file(folder/tokenizer.json)` (`raw_ids`) and from
  `transformers.AutoTokenizer.from_pretrained(folder)` without added special tokens (`ids`), and
  that tokenizer's decoding of its ids with `skip_special_tokens=True` (`decoded`).
Any part may be left out. `versions` gives the libraries' versions.
"""
import json
import sys

import numpy as np
import safetensors
import safetensors.numpy
import tokenizers
import torch
import transformers

request = json.load(open(sys.argv[1]))
reply = {"versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                      "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                      "safetensors": safetensors.__version__, "numpy": np.__version__}}

if "gpt2_folder" in request:
    folder = request["gpt2_folder"]
    model, info = transformers.GPT2LMHeadModel.from_pretrained(
        folder, attn_implementation="eager", output_loading_info=True)
    model = model.float().eval()
    with torch.no_grad():
        logits = model(torch.tensor(request["tokens"], dtype=torch.long)).logits
    reply["logits"] = logits.tolist()
    reply["loading"] = {key: sorted(map(str, value)) for key, value in info.items()}
    reply["tied"] = model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    with safetensors.safe_open(folder + "/model.safetensors", framework="pt") as file:
        reply["gpt2_metadata"] = file.metadata()
        reply["gpt2_names"] = list(file.keys())

if "trainer_file" in request:
    tensors = safetensors.numpy.load_file(request["trainer_file"])
    reply["trainer_tensors"] = {name: {"shape": list(array.shape), "values": array.astype(np.float64).ravel().tolist()}
                                for name, array in tensors.items()}

reply["tokenizers"] = []
for entry in request.get("tokenizers", []):
    raw = tokenizers.Tokenizer.from_file(entry["folder"] + "/tokenizer.json")
    fast = transformers.AutoTokenizer.from_pretrained(entry["folder"])
    ids = [fast(text, add_special_tokens=False)["input_ids"] for text in entry["texts"]]
    reply["tokenizers"].append({
        "class": type(fast).__name__,
        "raw_ids": [raw.encode(text, add_special_tokens=False).ids for text in entry["texts"]],
        "ids": ids,
        "decoded": [fast.decode(each, skip_special_tokens=True) for each in ids],
    })

print(json.dumps(reply))
